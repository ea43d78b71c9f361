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
:func:`transfer_measurement` measures the fraction of samples on which a
single perturbation (DeepFool's on ``f``, on ``h``, or on their average
logits) fools both, next to that bound.
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
from .measure import class_proportions, in_distribution_robustness, unconstrained_robustness

__all__ = [
    "ProjectionClassifier",
    "project_to_latent",
    "Theorem2Check",
    "theorem2_check",
    "TransferResult",
    "transfer_measurement",
]

Model = Callable[[torch.Tensor], torch.Tensor]


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
    the restarts (the first start is ``z = 0``, the others Gaussian).
    """
    if isinstance(latent_dim, bool) or not isinstance(latent_dim, int) or latent_dim < 1:
        raise ValueError(f"latent_dim must be a positive integer, got latent_dim={latent_dim!r}")
    if isinstance(restarts, bool) or not isinstance(restarts, int) or restarts < 1:
        raise ValueError(f"restarts must be a positive integer, got restarts={restarts!r}")
    x = x.detach()
    n = x.shape[0]
    rng = torch.Generator().manual_seed(seed)
    best_z = torch.zeros(n, latent_dim, dtype=x.dtype, device=x.device)
    best_r = torch.full((n,), math.inf, dtype=x.dtype, device=x.device)
    for k in range(restarts):
        z0 = torch.zeros(n, latent_dim, dtype=x.dtype)
        if k > 0:
            z0 = torch.randn(n, latent_dim, generator=rng, dtype=x.dtype)
        z = z0.to(x.device).requires_grad_(True)
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
    """Measured transferability next to Theorem 3's bound.

    Attributes
    ----------
    etas : ndarray
        Perturbation norms.
    fooled_both : ndarray
        Fraction of samples on which one perturbation of norm ``<= eta``
        (among the candidates tried) changes both decisions: a lower
        estimate of the probability in Eq. (6).
    bound : ndarray
        Eq. (6) at ``delta = disagreement`` (clipped at 0).
    disagreement : float
        Measured ``P(f(g(z)) != h(g(z)))``.
    condition_holds : bool
        Whether ``max_i P(C_i(f)) + delta <= 1/2`` (Theorem 3's assumption).
    """

    etas: np.ndarray
    fooled_both: np.ndarray
    bound: np.ndarray
    disagreement: float
    condition_holds: bool


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
    attack: DeepFool | None = None,
    omega: isobound.Modulus | None = None,
) -> TransferResult:
    r"""Fraction of samples where one perturbation of norm <= eta fools both f and h.

    Candidate perturbations per sample: DeepFool's on ``f``, on ``h``, and on
    the sum of their log-probabilities; each candidate is also scaled up to
    norm ``eta`` along its direction (a longer step beyond the boundary).  A
    candidate counts when both predictions change, checked by forward
    passes.  Eq. (6) is evaluated with ``delta`` = the measured
    disagreement of ``f`` and ``h`` on ``g(z)`` and the modulus ``omega``
    (identity by default, i.e. image norms compared with latent radii, which
    is only right for an isometric generator: pass the generator's modulus).
    """
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
    props = class_proportions(lf, k)
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
    bound = np.asarray(isobound.theorem3(eta_arr, min(disagreement, 1.0), omega), dtype=np.float64)
    return TransferResult(
        etas=eta_arr,
        fooled_both=fooled,
        bound=bound,
        disagreement=disagreement,
        condition_holds=condition,
    )
