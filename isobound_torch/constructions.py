r"""The constructions behind Theorems 2 and 3.

**Theorem 2.**  Given a classifier ``f`` and a generator ``g``, the
classifier :math:`\tilde f(x) = f(g(z^*))`, :math:`z^* = \arg\min_z
\|g(z) - x\|`, agrees with ``f`` on the data (the range of ``g``) and has
unconstrained robustness at least half of ``f``'s in-distribution
robustness.  :class:`ProjectionClassifier` builds it, with the latent
projection solved by batched gradient descent from several starts;
:func:`theorem2_check` measures both sides.

**Theorem 3.**  If ``f`` and ``h`` disagree on generated data with
probability at most :math:`\delta` (and every class of ``f`` has
probability at most :math:`1/2 - \delta`), then one perturbation of norm at
most :math:`\eta` fools both with probability at least
:math:`1 - \sqrt{\pi/2}\,e^{-\omega^{-1}(\eta)^2/2} - 2\delta`.
:func:`isobound.transfer_bound` gives a bound of the same kind that needs
no premise on the class sizes.  :func:`transfer_measurement` measures the
fraction of samples on which a single perturbation (DeepFool's on ``f``, on
``h``, or on their average logits) fools both, next to both bounds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

import isobound

from .attacks import DeepFool
from .measure import (
    class_proportions,
    in_distribution_robustness,
    unconstrained_robustness,
)

__all__ = [
    "ProjectionClassifier",
    "Theorem2Check",
    "TransferResult",
    "project_to_latent",
    "theorem2_check",
    "transfer_measurement",
]

Model = Callable[[torch.Tensor], torch.Tensor]


def _restart_latents(restarts: int, latent_dim: int, seed: int, dtype: torch.dtype) -> torch.Tensor:
    """The fixed starting latents: ``z = 0``, then ``restarts - 1`` Gaussian draws from ``seed``.

    They do not depend on the batch: every input starts from the same set.
    """
    starts = torch.zeros(restarts, latent_dim, dtype=dtype)
    if restarts > 1:
        rng = torch.Generator().manual_seed(seed)
        starts[1:] = torch.randn(restarts - 1, latent_dim, generator=rng, dtype=dtype)
    return starts


def project_to_latent(
    generator: Model,
    x: torch.Tensor,
    latent_dim: int,
    *,
    steps: int = 200,
    restarts: int = 4,
    lr: float = 0.05,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Batched :math:`\arg\min_z \|g(z) - x\|_2` by Adam from ``restarts`` starts.

    Returns the best latent per row and its residual :math:`\|g(z^*) - x\|`.
    The problem is non-convex: the result is a local minimum, the best of
    the restarts.  Every row starts from the same fixed set of latents
    (``z = 0``, then Gaussian draws from ``seed``, shared by all rows) and
    is optimised independently (Adam acts elementwise, and the gradient of
    the summed loss with respect to a row depends on that row alone), so
    the result for a row is a function of that row: it does not change with
    the batch size or the row's position, up to the floating-point
    differences a generator's batched kernels may have between batch sizes.
    """
    for name, value in (("latent_dim", latent_dim), ("restarts", restarts), ("steps", steps)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be a positive integer, got {name}={value!r}")
        if value < (0 if name == "steps" else 1):
            raise ValueError(f"{name} must be a positive integer, got {name}={value!r}")
    x = x.detach()
    n = x.shape[0]
    starts = _restart_latents(restarts, latent_dim, seed, x.dtype).to(x.device)
    best_z = torch.zeros(n, latent_dim, dtype=x.dtype, device=x.device)
    best_r = torch.full((n,), math.inf, dtype=x.dtype, device=x.device)
    for k in range(restarts):
        z = starts[k].expand(n, latent_dim).clone().requires_grad_(True)
        opt = torch.optim.Adam([z], lr=lr)
        for _ in range(steps):
            with torch.enable_grad():
                loss = ((generator(z) - x).flatten(1) ** 2).sum()
                # gradient for z only: .backward() would also fill the generator's .grad
                (z.grad,) = torch.autograd.grad(loss, z)
            opt.step()
        with torch.no_grad():
            res = torch.linalg.vector_norm((generator(z) - x).flatten(1), dim=1)
            better = res < best_r
            best_r = torch.where(better, res, best_r)
            best_z[better] = z.detach()[better]
    return best_z, best_r


class ProjectionClassifier(nn.Module):
    r"""Theorem 2's classifier :math:`\tilde f(x) = f(g(z^*(x)))`.

    Its logits are ``f``'s logits at the projection :math:`g(z^*)`.  For
    attacks, gradients pass straight through the projection (the
    backward-pass approximation of the projection by the identity), so
    DeepFool can search for flips; every flip it reports is verified by a
    forward pass through the real projection, so measured distances are
    valid upper estimates of :math:`r_{unc}(\tilde f)`.

    :math:`\tilde f(x)` is a function of ``x``: the projection starts every
    input from the same fixed latents and optimises each row on its own,
    so evaluating ``x`` alone or inside any batch gives the same label.

    Parameters
    ----------
    classifier, generator : callable
    latent_dim : int
    steps, restarts, lr, seed
        Budget of the latent projection (:func:`project_to_latent`).
    """

    def __init__(
        self,
        classifier: Model,
        generator: Model,
        latent_dim: int,
        *,
        steps: int = 200,
        restarts: int = 4,
        lr: float = 0.05,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.classifier = classifier
        self.generator = generator
        self.latent_dim = latent_dim
        self.steps = steps
        self.restarts = restarts
        self.lr = lr
        self.seed = seed

    def project(self, x: torch.Tensor) -> torch.Tensor:
        """``g(z*(x))``, the nearest generated image found."""
        z, _ = project_to_latent(
            self.generator,
            x,
            self.latent_dim,
            steps=self.steps,
            restarts=self.restarts,
            lr=self.lr,
            seed=self.seed,
        )
        with torch.no_grad():
            return self.generator(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        proj = self.project(x)
        # value at the projection, gradient as if the projection were the identity
        return self.classifier(x + (proj - x).detach())


@dataclass(frozen=True)
class Theorem2Check:
    """``r_unc`` of the projection classifier next to ``r_in(f) / 2``.

    Attributes
    ----------
    r_unc_projected : Tensor
        Measured unconstrained robustness of :math:`\\tilde f` (upper estimates).
    half_r_in : Tensor
        Half the measured in-distribution robustness of ``f``.
    agreement : float
        Fraction of samples where :math:`\\tilde f(g(z)) = f(g(z))` (1 up to
        projection error: the two agree on the data).
    holds_fraction : float
        Fraction of samples where ``r_unc_projected >= half_r_in``.  The
        measured sides are estimates (both upper estimates), so this is
        evidence, not a proof.
    """

    r_unc_projected: torch.Tensor
    half_r_in: torch.Tensor
    agreement: float
    holds_fraction: float


def theorem2_check(
    classifier: Model,
    generator: Model,
    z: torch.Tensor,
    latent_dim: int,
    *,
    attack: DeepFool | None = None,
    projection: dict[str, Any] | None = None,
) -> Theorem2Check:
    """Measure Theorem 2 on latents ``z``: r_unc of the projection classifier vs r_in(f)/2."""
    proj = ProjectionClassifier(classifier, generator, latent_dim, **(projection or {}))
    with torch.no_grad():
        x = generator(z)
        agree = (proj(x).argmax(1) == classifier(x).argmax(1)).double().mean()
    r_unc = unconstrained_robustness(proj, generator, z, attack=attack).distances
    r_in = in_distribution_robustness(classifier, generator, z, attack=attack).distances
    half = r_in / 2
    holds = (r_unc >= half).double().mean()
    return Theorem2Check(
        r_unc_projected=r_unc,
        half_r_in=half,
        agreement=float(agree),
        holds_fraction=float(holds),
    )


@dataclass(frozen=True)
class TransferResult:
    """Measured transferability next to Theorem 3's bound and the premise-free one.

    Both bounds are evaluated at the *measured* disagreement and class
    proportions (plug-in values from the samples, not confidence bounds),
    and at the modulus passed in: they are estimates of the bounds, not
    proven numbers.

    Attributes
    ----------
    etas : ndarray
        Perturbation norms.
    fooled_both : ndarray
        Fraction of samples on which one perturbation of norm ``<= eta``
        (among the candidates tried) changes both decisions: a lower
        estimate of the probability in Eq. (6).
    bound : ndarray
        Eq. (6) (:func:`isobound.theorem3`) at ``delta = disagreement``,
        clipped at 0; NaN where its premise does not hold.
    premise_free_bound : ndarray
        :func:`isobound.transfer_bound` at the measured proportions and
        disagreement: valid whether or not the premise holds.
    disagreement : float
        Measured ``P(f(g(z)) != h(g(z)))``.
    class_proportions : ndarray
        Measured proportions of f's classes on ``g(z)``.
    condition_holds : bool
        Whether Theorem 3's premise ``max_i P(C_i(f)) + delta <= 1/2``
        holds for the measured proportions and disagreement.
    omega : isobound.Modulus
        The modulus both bounds used.
    """

    etas: np.ndarray
    fooled_both: np.ndarray
    bound: np.ndarray
    premise_free_bound: np.ndarray
    disagreement: float
    class_proportions: np.ndarray
    condition_holds: bool
    omega: isobound.Modulus


class _AverageLogits(nn.Module):
    def __init__(self, f: Model, h: Model) -> None:
        super().__init__()
        self.f = f
        self.h = h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.f(x), 1) + torch.log_softmax(self.h(x), 1)


def transfer_measurement(
    f: Model,
    h: Model,
    generator: Model,
    z: torch.Tensor,
    etas: Sequence[float] | np.ndarray,
    *,
    omega: isobound.Modulus,
    attack: DeepFool | None = None,
) -> TransferResult:
    r"""Fraction of samples where one perturbation of norm <= eta fools both f and h.

    Candidate perturbations per sample: DeepFool's on ``f``, on ``h``, and on
    the sum of their log-probabilities; each candidate is also scaled up to
    norm ``eta`` along its direction (a longer step beyond the boundary).  A
    candidate counts when both predictions change, checked by forward
    passes.

    Next to the measurement: Eq. (6) where its premise holds for the
    measured proportions, and :func:`isobound.transfer_bound`, which needs
    no premise, both at ``delta`` = the measured disagreement of ``f`` and
    ``h`` on ``g(z)`` and at the generator's modulus ``omega``.

    Parameters
    ----------
    f, h : callable
        The two classifiers (logits).
    generator : callable
        g, latents to images.
    z : Tensor
        Latents, shape ``(n, d)``.
    etas : sequence of float
        Image-space perturbation norms.
    omega : isobound.Modulus, keyword-only, required
        The generator's modulus of continuity: a known constant
        (``isobound.Lipschitz(L)``), a measured one
        (``isobound_torch.estimate_modulus``), or ``isobound.Identity()``
        for an isometric generator.  There is no default: comparing image
        norms with latent radii is only right for an isometry, and for
        ``g(z) = 5 z`` it would claim a bound twice the truth.
    attack : DeepFool, optional
    """
    if not isinstance(omega, isobound.Modulus):
        raise TypeError(
            "omega must be an isobound Modulus (the generator's modulus: Lipschitz(L), the "
            "result of estimate_modulus, or Identity() for an isometric generator), "
            f"got omega={omega!r}"
        )
    atk = attack if attack is not None else DeepFool()
    eta_arr = np.asarray(etas, dtype=np.float64)
    if eta_arr.ndim != 1 or eta_arr.size == 0 or np.any(~np.isfinite(eta_arr)) or np.any(eta_arr < 0):
        raise ValueError(f"etas must be a non-empty 1-d array of finite norms >= 0, got etas={etas!r}")
    with torch.no_grad():
        x = generator(z.detach())
        lf = f(x).argmax(1)
        lh = h(x).argmax(1)
    k = int(f(x[:1]).shape[1])
    disagreement = float((lf != lh).double().mean())
    props = np.asarray(class_proportions(lf, k), dtype=np.float64)
    condition = bool(props.max() + disagreement <= 0.5)
    directions = [atk(model, x).perturbation for model in (f, h, _AverageLogits(f, h))]
    fooled = np.zeros(eta_arr.size)
    with torch.no_grad():
        for j, eta in enumerate(eta_arr):
            ok = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
            for v in directions:
                norm = torch.linalg.vector_norm(v.flatten(1), dim=1)
                for cand in (v, v * (eta / norm.clamp_min(1e-30)).view(-1, *[1] * (v.dim() - 1))):
                    cn = torch.linalg.vector_norm(cand.flatten(1), dim=1)
                    xa = x + cand
                    both = (f(xa).argmax(1) != lf) & (h(xa).argmax(1) != lh)
                    ok |= both & (cn <= eta * (1 + 1e-6))
            fooled[j] = float(ok.double().mean())
    d = min(disagreement, 1.0)
    if condition:
        eq6 = np.asarray(isobound.theorem3(eta_arr, d, omega=omega), dtype=np.float64)
    else:
        eq6 = np.full(eta_arr.shape, np.nan)
    free = np.asarray(
        isobound.transfer_bound(eta_arr, props, d, omega=omega), dtype=np.float64
    )
    return TransferResult(
        etas=eta_arr,
        fooled_both=fooled,
        bound=eq6,
        premise_free_bound=free,
        disagreement=disagreement,
        class_proportions=props,
        condition_holds=condition,
        omega=omega,
    )
