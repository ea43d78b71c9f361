r"""The paper's three robustness measurements on a classifier f and a generator g.

For latents ``z`` (rows of a batch):

* **unconstrained** :math:`r_{unc}(g(z))`: DeepFool on ``f`` at ``x = g(z)``,
  the usual adversarial perturbation in image space;
* **latent** :math:`r_Z(z)`: DeepFool on ``f o g`` at ``z``, the smallest
  latent move that changes the decision (Remark 5);
* **in-distribution** :math:`r_{in}(g(z)) \le \|g(z + r_Z) - g(z)\|`: the
  image-space length of that latent move, which stays on the data manifold.

Each returns per-sample distances (``inf`` where the attack failed: the
minimal distance is then unknown) and the classifier's class proportions on
``g(z)``, the input of :class:`isobound.IsoperimetricBound`.  Measured
distances are upper estimates of the true minimal ones (DeepFool finds *a*
flip, not necessarily the nearest), so they sit on the pessimistic side of
the comparison with the bound.

Image-space distances are measured in the attack's norm (``"l2"`` or
``"linf"``) for :math:`r_{unc}`, and in the ``norm=`` asked for
:math:`r_{in}`; the latent distance :math:`r_Z` is always Euclidean (the
Gaussian is isotropic, and Theorem 1's latent side is an l2 statement).

Any attack object with DeepFool's call contract works: ``attack(model, x)``
returning per-sample ``distances`` (``inf`` on failure), ``success``,
``label`` (the clean prediction) and ``adversarial``, with attributes
``norm`` and ``bounds``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from scipy import stats

import isobound

from ._validate import check_int, check_open_probability, model_mode_problem
from .attacks import DeepFool
from .smoothness import check_norm, image_norm

__all__ = [
    "Attack",
    "RobustnessResult",
    "BoundInputs",
    "unconstrained_robustness",
    "latent_robustness",
    "in_distribution_robustness",
    "class_proportions",
    "bound_inputs",
    "proportion_intervals",
    "conservative_proportions",
]

Model = Callable[[torch.Tensor], torch.Tensor]


class Attack(Protocol):
    """What the measurements need from an attack (DeepFool, or any attack with its contract).

    ``attack(model, x)`` returns a result with per-sample ``distances`` (float,
    ``inf`` where it failed), ``success``, ``label`` (the model's prediction on
    ``x``) and ``adversarial`` (the perturbed inputs); ``norm`` names the norm of
    the distances and ``bounds`` the input box (``None`` for none).
    """

    norm: str
    bounds: tuple[float, float] | None

    def __call__(self, model: Model, x: torch.Tensor) -> Any: ...  # pragma: no cover - protocol


@dataclass(frozen=True)
class RobustnessResult:
    """Per-sample robustness of a classifier on generated data.

    Attributes
    ----------
    distances : Tensor
        Measured robustness per sample (``inf`` where the attack failed).
    success : Tensor of bool
    labels : Tensor of int64
        ``f(g(z))``.
    class_proportions : ndarray of float64, shape (K,)
        Fraction of samples in each class.
    perturbed : Tensor
        The adversarial points: images (unconstrained) or latents
        (latent and in-distribution settings).
    setting : str
        ``"unconstrained"``, ``"latent"`` or ``"in_distribution"``.
    attack : attack result
        The raw attack result (a DeepFoolResult for DeepFool), in the space that was attacked.
    image_norms : Tensor or None
        ``||g(z)||`` per sample (float64) in the image norm ``norm``, the
        normaliser of image-space distances (their mean is the paper's
        ``E||g(z)||``).
    norm : str
        Norm of the image-space distances and of ``image_norms`` (``"l2"`` or
        ``"linf"``); latent distances are always l2.
    """

    distances: torch.Tensor
    success: torch.Tensor
    labels: torch.Tensor
    class_proportions: np.ndarray
    perturbed: torch.Tensor
    setting: str
    attack: Any = field(repr=False)
    image_norms: torch.Tensor | None = field(default=None, repr=False)
    norm: str = "l2"

    @property
    def n_classes(self) -> int:
        return int(self.class_proportions.shape[0])

    def quantile(self, q: float) -> float:
        """Empirical ``q``-quantile of the distances (failed samples count as ``inf``)."""
        d = np.sort(self.distances.detach().cpu().double().numpy())
        k = max(math.ceil(q * d.size) - 1, 0)
        return float(d[k])


def _check_latents(z: Any) -> torch.Tensor:
    if not isinstance(z, torch.Tensor) or z.dim() != 2 or not z.is_floating_point():
        shape = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
        raise ValueError(f"z must be a float tensor of latents, shape (batch, latent_dim), got {shape}")
    if z.shape[0] == 0:
        raise ValueError("z is an empty batch")
    if not bool(torch.isfinite(z).all()):
        raise ValueError("z contains NaN or inf")
    return z.detach()


def _check_modes(**models: Any) -> None:
    """Refuse modules whose batch-norm or dropout layers are in training mode."""
    for name, model in models.items():
        problem = model_mode_problem(name, model)
        if problem:
            raise ValueError(problem)


def _image_norms(x: torch.Tensor, norm: str = "l2") -> torch.Tensor:
    return image_norm(x.detach().double(), norm)


def _attack(attack: Attack | None) -> Attack:
    if attack is None:
        return DeepFool()
    if not callable(attack):
        raise ValueError(
            f"attack must be an attack object (callable as attack(model, x)) or None, got attack={attack!r}"
        )
    return attack


def _attack_norm(attack: Attack) -> str:
    return check_norm(getattr(attack, "norm", "l2"), "attack.norm")


def class_proportions(labels: torch.Tensor, n_classes: int) -> np.ndarray:
    """Fraction of ``labels`` in each of ``n_classes`` classes (float64)."""
    counts = torch.bincount(labels.detach().cpu().long(), minlength=n_classes).double()
    result: np.ndarray = (counts / counts.sum()).numpy()
    return result


def _chunks(n: int, batch_size: int | None) -> list[slice]:
    if batch_size is None:
        return [slice(0, n)]
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got batch_size={batch_size!r}")
    return [slice(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]


def _run(
    attack: Attack,
    model: Model,
    inputs: torch.Tensor,
    batch_size: int | None,
    progress: bool,
    desc: str,
) -> Any:
    parts = []
    slices = _chunks(inputs.shape[0], batch_size)
    iterator: Any = slices
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(slices, desc=desc, unit="batch")
    for sl in iterator:
        parts.append(attack(model, inputs[sl]))
    if len(parts) == 1:
        return parts[0]
    if not dataclasses.is_dataclass(parts[0]):
        raise ValueError(
            f"batch_size= needs an attack whose result is a dataclass (to merge the batches), "
            f"got {type(parts[0]).__name__}; call without batch_size"
        )
    merged: dict[str, Any] = {}
    for f in dataclasses.fields(parts[0]):
        first = getattr(parts[0], f.name)
        if isinstance(first, torch.Tensor):
            merged[f.name] = torch.cat([getattr(p, f.name) for p in parts])
        else:
            merged[f.name] = first
    return type(parts[0])(**merged)


def _n_classes(classifier: Model, sample: torch.Tensor) -> int:
    with torch.no_grad():
        out = classifier(sample)
    if not isinstance(out, torch.Tensor) or out.dim() != 2:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"classifier must return (batch, n_classes) logits, got {shape}")
    return int(out.shape[1])


def unconstrained_robustness(
    classifier: Model,
    generator: Model,
    z: torch.Tensor,
    attack: Attack | None = None,
    *,
    batch_size: int | None = None,
    progress: bool = False,
) -> RobustnessResult:
    r"""Unconstrained robustness :math:`r_{unc}` of ``classifier`` at ``g(z)``.

    Distances are in the attack's norm (``attack.norm``: DeepFool L2 or
    L-infinity), and so are the reported ``image_norms``.

    Parameters
    ----------
    classifier, generator : callable
        ``f``: images to logits; ``g``: latents to images.
    z : Tensor, shape (N, d)
        Latent samples.
    attack : attack object, optional
        The attack (default ``DeepFool()``, L2); give it ``bounds`` for images
        in a box.
    batch_size : int, optional
        Attack in chunks of this many samples (memory), with a progress bar
        if ``progress``.
    """
    zz = _check_latents(z)
    _check_modes(classifier=classifier, generator=generator)
    atk = _attack(attack)
    norm = _attack_norm(atk)
    with torch.no_grad():
        x = generator(zz)
    res = _run(atk, classifier, x, batch_size, progress, "r_unc")
    return _from_attack(res, _n_classes(classifier, x[:1]), "unconstrained", _image_norms(x, norm), norm)


def latent_robustness(
    classifier: Model,
    generator: Model,
    z: torch.Tensor,
    attack: Attack | None = None,
    *,
    batch_size: int | None = None,
    progress: bool = False,
) -> RobustnessResult:
    r"""Latent robustness :math:`r_Z`: DeepFool on ``f o g`` in latent space (L2).

    The bound it is compared with is ``IsoperimetricBound(p)`` itself (no
    modulus); normalise by ``isobound.expected_gaussian_norm(d)`` as the
    paper's tables do.  Give the attack no ``bounds``: latents are unbounded.
    """
    zz = _check_latents(z)
    _check_modes(classifier=classifier, generator=generator)
    atk = _attack(attack)
    if _attack_norm(atk) != "l2":
        raise ValueError(
            f"latent attacks must be l2 (Theorem 1 measures latent distances in l2), got attack.norm={atk.norm!r}"
        )
    if getattr(atk, "bounds", None) is not None:
        raise ValueError(f"latent attacks must not clip to a box (latents are Gaussian), got bounds={atk.bounds}")

    def composed(v: torch.Tensor) -> torch.Tensor:
        return classifier(generator(v))

    res = _run(atk, composed, zz, batch_size, progress, "r_Z")
    with torch.no_grad():
        norms = torch.cat([_image_norms(generator(zz[sl])) for sl in _chunks(zz.shape[0], batch_size)])
    return _from_attack(res, _n_classes(composed, zz[:1]), "latent", norms)


def _from_attack(
    res: Any, n_classes: int, setting: str, image_norms: torch.Tensor, norm: str = "l2"
) -> RobustnessResult:
    """The measurement record of an attack run in the space that ``setting`` names."""
    return RobustnessResult(
        distances=torch.as_tensor(res.distances),
        success=torch.as_tensor(res.success).bool(),
        labels=torch.as_tensor(res.label),
        class_proportions=class_proportions(torch.as_tensor(res.label), n_classes),
        perturbed=res.adversarial,
        setting=setting,
        attack=res,
        image_norms=image_norms,
        norm=norm,
    )


def in_distribution_robustness(
    classifier: Model,
    generator: Model,
    z: torch.Tensor,
    attack: Attack | None = None,
    *,
    batch_size: int | None = None,
    progress: bool = False,
    latent: RobustnessResult | None = None,
    norm: str = "l2",
) -> RobustnessResult:
    r"""In-distribution robustness: :math:`\|g(z + r_Z) - g(z)\|` for the latent move found.

    Any latent move that flips the decision gives an image on the data
    manifold at that distance, so the value is an upper estimate of
    :math:`r_{in}`, in any image norm.  Pass ``latent=`` (a
    :func:`latent_robustness` result on the same ``z``) to reuse its attack
    instead of running it again.  ``norm`` (``"l2"`` or ``"linf"``) is the
    image norm of the distance and of the reported ``image_norms``; the latent
    move itself is the l2-smallest one the latent attack found.
    """
    check_norm(norm)
    zz = _check_latents(z)
    _check_modes(classifier=classifier, generator=generator)
    if latent is None:
        latent = latent_robustness(classifier, generator, zz, attack, batch_size=batch_size, progress=progress)
    elif latent.setting != "latent" or latent.distances.shape[0] != zz.shape[0]:
        raise ValueError("latent= must be a latent_robustness result on the same z")
    moved = latent.perturbed
    with torch.no_grad():
        dist, norms = [], []
        for sl in _chunks(zz.shape[0], batch_size):
            base = generator(zz[sl])
            dist.append(_image_norms(generator(moved[sl]) - base, norm))
            norms.append(_image_norms(base, norm))
        d = torch.cat(dist)
    d = torch.where(latent.success, d, torch.full_like(d, math.inf))
    return RobustnessResult(
        distances=d,
        success=latent.success,
        labels=latent.labels,
        class_proportions=latent.class_proportions,
        perturbed=moved,
        setting="in_distribution",
        attack=latent.attack,
        image_norms=torch.cat(norms),
        norm=norm,
    )


@dataclass(frozen=True)
class BoundInputs:
    """What :class:`isobound.IsoperimetricBound` needs from a measurement.

    Attributes
    ----------
    class_proportions : ndarray
        Point estimate of ``p_i`` (the classifier's class frequencies on g(z)).
    lower, upper : ndarray
        Simultaneous Clopper-Pearson intervals on each ``p_i`` at the
        requested confidence (Bonferroni over classes).
    n : int
        Number of samples.
    latent_norm : float or None
        ``E||z||_2`` for the latent dimension (normaliser of r_Z).
    image_norm : float or None
        Mean ``||g(z)||_2`` over the samples (normaliser of r_in, r_unc).
    """

    class_proportions: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    n: int
    latent_norm: float | None
    image_norm: float | None

    @property
    def conservative_class_probs(self) -> np.ndarray:
        r"""Class probabilities whose bound is below that of every ``p`` in the intervals.

        Theorem 1's cdf is :math:`B(\varepsilon) = \sum_i h_\varepsilon(p_i)` with
        :math:`h_\varepsilon(p) = p - \Phi(\Phi^{-1}(p) - \varepsilon)` concave in
        ``p`` (its derivative :math:`1 - e^{b\varepsilon - \varepsilon^2/2}`,
        :math:`b = \Phi^{-1}(p)`, decreases), so ``B`` is Schur-concave: a vector
        that majorizes ``p`` has a smaller cdf at every radius.  With ``u`` and
        ``l`` the interval ends, no ``p`` in the box (summing to 1) has its ``k``
        largest entries summing to more than
        :math:`S_k = \min(\text{sum of the } k \text{ largest } u_i,\;
        1 - \text{sum of the } K - k \text{ smallest } l_i)`.  The returned
        vector ``q`` has ``q_k = S_k - S_{k-1}`` (sorted by class frequency,
        most frequent class first), so its partial sums are the ``S_k`` and it
        majorizes every such ``p``.  Hence ``IsoperimetricBound(q).cdf`` is
        below the true ``B`` at every radius whenever the intervals cover the
        true proportions (probability at least ``confidence``): the safe side
        for an upper bound on robustness.  ``q`` need not lie in the intervals.
        """
        n_classes = self.class_proportions.size
        top_u = np.cumsum(np.sort(self.upper)[::-1])  # [k-1]: sum of the k largest upper ends
        low_l = np.concatenate([[0.0], np.cumsum(np.sort(self.lower))])  # [j]: sum of the j smallest lower ends
        rest = low_l[n_classes - 1 :: -1]  # [k-1]: sum of the K - k smallest lower ends
        s = np.maximum.accumulate(np.clip(np.minimum(top_u, 1.0 - rest), 0.0, 1.0))
        s[-1] = 1.0
        q = np.diff(np.concatenate([[0.0], s]))
        out = np.zeros(n_classes)
        out[np.argsort(-self.class_proportions, kind="stable")] = q
        return out

    def bound(self, *, conservative: bool = False) -> isobound.IsoperimetricBound:
        """The latent bound (Theorem 1 with ``omega`` the identity).

        ``conservative=False``: at the point estimate of the proportions.
        ``conservative=True``: at :attr:`conservative_class_probs`, a cdf below
        the bound of every proportion vector in the confidence intervals
        (quantiles above), so it holds with probability ``confidence`` over the
        sampling of ``z``.
        """
        p = self.conservative_class_probs if conservative else self.class_proportions
        return isobound.IsoperimetricBound(p[p > 0], normalize=True)


def proportion_intervals(counts: Any, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Simultaneous Clopper-Pearson intervals on class proportions from class counts.

    Bonferroni over the ``K`` classes: all ``K`` intervals cover the true
    proportions with probability at least ``confidence``.

    Examples
    --------
    >>> lo, hi = proportion_intervals([50, 30, 20], 0.95)
    >>> bool(lo[0] < 0.5 < hi[0])
    True
    """
    confidence = check_open_probability("confidence", confidence)
    c = np.asarray(counts, dtype=np.int64).ravel()
    if c.size == 0 or np.any(c < 0) or c.sum() == 0:
        raise ValueError(f"counts must be non-negative with a positive sum, got counts={counts!r}")
    n = int(c.sum())
    alpha = (1 - confidence) / c.size
    with np.errstate(invalid="ignore"):
        lower = np.where(c > 0, stats.beta.ppf(alpha / 2, np.maximum(c, 1), n - c + 1), 0.0)
        upper = np.where(c < n, stats.beta.ppf(1 - alpha / 2, c + 1, np.maximum(n - c, 1)), 1.0)
    return np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64)


def conservative_proportions(counts: Any, confidence: float) -> np.ndarray:
    """Class probabilities whose Theorem 1 bound holds with ``confidence``.

    The vector majorizes every proportion vector in the simultaneous
    intervals (see :attr:`BoundInputs.conservative_class_probs`), so its cdf
    is below the true one at every radius whenever the intervals cover.
    """
    c = np.asarray(counts, dtype=np.int64).ravel()
    lower, upper = proportion_intervals(c, confidence)
    n = int(c.sum())
    return BoundInputs(
        class_proportions=c / n, lower=lower, upper=upper, n=n, latent_norm=None, image_norm=None
    ).conservative_class_probs


def bound_inputs(
    result: RobustnessResult,
    *,
    latent_dim: int | None = None,
    images: torch.Tensor | None = None,
    confidence: float = 0.95,
) -> BoundInputs:
    """Turn a measurement into the inputs of the bound, with their uncertainty.

    Parameters
    ----------
    result : RobustnessResult
        Any of the three measurements (they share the labels).
    latent_dim : int, optional
        ``d``: adds ``E||z||_2`` for normalising latent robustness.
    images : Tensor, optional
        ``g(z)`` for the same samples: the mean image norm; by default the
        result's ``image_norms`` are used.
    confidence : float
        Joint confidence of the per-class intervals, in (0, 1).

    Examples
    --------
    >>> import numpy as np, torch
    >>> from isobound_torch import DeepFool
    >>> g = torch.nn.Linear(2, 3).double().eval()
    >>> f = torch.nn.Linear(3, 4).double().eval()
    >>> z = torch.randn(200, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    >>> inputs = bound_inputs(latent_robustness(f, g, z), latent_dim=2, confidence=0.9)
    >>> bool(np.all(inputs.lower <= inputs.class_proportions) and np.all(inputs.class_proportions <= inputs.upper))
    True
    >>> safe, point = inputs.bound(conservative=True), inputs.bound()
    >>> bool(safe.ppf(0.25) >= point.ppf(0.25))
    True
    """
    confidence = check_open_probability("confidence", confidence)
    if latent_dim is not None:
        latent_dim = check_int("latent_dim", latent_dim, minimum=1)
    labels = result.labels.detach().cpu().long().numpy()
    k = result.n_classes
    n = int(labels.size)
    counts = np.bincount(labels, minlength=k)
    lower, upper = proportion_intervals(counts, confidence)
    latent_norm = None
    if latent_dim is not None:
        latent_norm = float(isobound.expected_gaussian_norm(latent_dim))
    image_norm = None
    if images is not None:
        image_norm = float(_image_norms(images).mean())
    elif result.image_norms is not None:
        image_norm = float(result.image_norms.mean())
    return BoundInputs(
        class_proportions=counts / n,
        lower=np.asarray(lower, dtype=np.float64),
        upper=np.asarray(upper, dtype=np.float64),
        n=n,
        latent_norm=latent_norm,
        image_norm=image_norm,
    )
