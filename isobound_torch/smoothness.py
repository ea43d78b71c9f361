r"""Estimating a generator's modulus of continuity.

The bound in image space needs :math:`\omega` with
:math:`\|g(z+u) - g(z)\| \le \omega(\|u\|)`.  For a trained network only a
*probabilistic* modulus is within reach (``docs/theory.md``, "Probabilistic modulus"):

.. math::

    \omega_\delta(t) = \text{the } (1-\delta)\text{-quantile over } z \text{ of }
    S_z(t) = \sup_{\|u\| \le t} \|g(z+u) - g(z)\|,

and then :math:`P(r_{in} \le \omega_\delta(t)) \ge B(t) - \delta` for each
``t``.  :func:`estimate_modulus` evaluates :math:`S_z(t)` on a grid of radii
by projected gradient ascent with restarts, for ``N`` latent samples, and
takes the maximum over the samples.  The maximum of ``N`` draws exceeds the
:math:`(1-\delta)`-quantile unless all ``N`` fall below it, which has
probability :math:`(1-\delta)^N`; with ``m`` radii a union bound asks for
:math:`(1-\delta)^N \le \beta / m`, where :math:`1 - \beta` is the
confidence.  (:math:`\delta = \beta = 0.01` and one radius need ``N = 459``.)

**Caveat.** Gradient ascent can only *under*-estimate the supremum, which
makes the bound claim too much: :func:`estimate_modulus` is an estimate, not
a proof.  :func:`jacobian_norm_estimate` (largest Jacobian spectral norm at
sampled latents, by power iteration) is a lower estimate too, and returns a
record, not a modulus.  For a modulus that is proven, with every step either
certified or counted in :math:`\delta` and the confidence, use
:func:`isobound_torch.certified_modulus` (bound propagation: an upper bound on
:math:`S_z(t)` for each sampled latent) or the global
:func:`isobound_torch.lipschitz_upper_bound`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

import isobound

from ._validate import model_mode_problem

__all__ = [
    "required_samples",
    "estimate_modulus",
    "local_sup",
    "JacobianNormEstimate",
    "jacobian_norm_estimate",
    "jacobian_spectral_modulus",
    "NORMS",
    "check_norm",
    "image_norm",
]

Generator = Callable[[torch.Tensor], torch.Tensor]


def required_samples(failure_prob: float, confidence: float, n_radii: int = 1) -> int:
    r"""Smallest ``N`` with :math:`(1-\delta)^N \le (1-\text{confidence}) / m`.

    Examples
    --------
    >>> required_samples(0.01, 0.99)
    459
    """
    _check_unit("failure_prob", failure_prob)
    _check_unit("confidence", confidence)
    if isinstance(n_radii, bool) or not isinstance(n_radii, int) or n_radii < 1:
        raise ValueError(f"n_radii must be a positive integer, got n_radii={n_radii!r}")
    beta = (1.0 - confidence) / n_radii
    return math.ceil(math.log(beta) / math.log1p(-failure_prob))


def _check_unit(name: str, value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must lie in (0, 1), got {name}={value!r}") from None
    if not 0.0 < v < 1.0:
        raise ValueError(f"{name} must lie in (0, 1), got {name}={value!r}")
    return v


def _check_radii(radii: Any) -> np.ndarray:
    r = np.asarray(radii, dtype=np.float64)
    if r.ndim != 1 or r.size == 0 or not np.all(np.isfinite(r)) or np.any(r <= 0):
        raise ValueError(f"radii must be a non-empty 1-d array of positive numbers, got radii={radii!r}")
    if r.size > 1 and np.any(np.diff(r) <= 0):
        raise ValueError(f"radii must be strictly increasing, got radii={radii!r}")
    return r


#: Image norms in which a modulus can be measured (the latent side is always l2).
NORMS = ("l2", "linf")


def check_norm(norm: Any, name: str = "norm") -> str:
    """``norm`` if it is one of :data:`NORMS`, else a ``ValueError`` naming it."""
    if not isinstance(norm, str) or norm not in NORMS:
        raise ValueError(f"{name} must be one of {', '.join(repr(n) for n in NORMS)}, got {name}={norm!r}")
    return norm


def image_norm(x: torch.Tensor, norm: str) -> torch.Tensor:
    """Per-sample l2 or l-infinity norm of a batch (first dimension = samples)."""
    flat = x.flatten(1)
    if norm == "l2":
        return torch.linalg.vector_norm(flat, dim=1)
    return torch.linalg.vector_norm(flat, ord=math.inf, dim=1)


def local_sup(
    generator: Generator,
    z: torch.Tensor,
    radius: float,
    *,
    steps: int = 20,
    restarts: int = 2,
    generator_rng: torch.Generator | None = None,
    norm: str = "l2",
) -> torch.Tensor:
    r"""Projected gradient ascent estimate of :math:`\sup_{\|u\|_2\le t}\|g(z+u)-g(z)\|` per row of z.

    Each restart starts on the sphere of radius ``t`` in a random direction
    and takes normalised gradient steps of decreasing length, projecting
    back onto the ball.  The best value over restarts and steps is returned:
    a **lower** estimate of the true supremum (ascent can stop short of it,
    never beyond it).

    Parameters
    ----------
    generator : callable
        Latents ``(B, d)`` to images.
    z : Tensor, shape (B, d)
        Centres of the latent balls.
    radius : float
        ``t``, the radius of the latent l2 ball.
    steps, restarts : int
        Ascent budget.
    generator_rng : torch.Generator, optional
        Source of the random starting directions (on the CPU).
    norm : {"l2", "linf"}
        Image norm in which the displacement ``g(z + u) - g(z)`` is measured.
        The latent ball is always an l2 ball (the Gaussian is isotropic). For
        the l-infinity norm the objective is the largest pixel change, whose
        gradient is that of the pixel that currently changes most.
    """
    check_norm(norm)
    _check_mode(generator)
    z = z.detach()
    with torch.no_grad():
        base = generator(z)
    best = torch.zeros(z.shape[0], dtype=base.dtype, device=z.device)
    for _ in range(restarts):
        u = torch.randn(z.shape, generator=generator_rng, dtype=z.dtype, device="cpu").to(z.device)
        u = u * (radius / torch.linalg.vector_norm(u, dim=1, keepdim=True).clamp_min(1e-30))
        for step in range(steps + 1):
            u = u.detach().requires_grad_(True)
            with torch.enable_grad():
                gap = image_norm(generator(z + u) - base, norm)
                (grad,) = torch.autograd.grad(gap.sum(), u)
            best = torch.maximum(best, gap.detach())
            if step == steps:
                break
            lr = radius * 0.5 * (1.0 - step / steps) + radius * 0.02
            g_norm = torch.linalg.vector_norm(grad, dim=1, keepdim=True).clamp_min(1e-30)
            u = u.detach() + lr * grad / g_norm
            u_norm = torch.linalg.vector_norm(u, dim=1, keepdim=True)
            u = u * torch.clamp(radius / u_norm.clamp_min(1e-30), max=1.0)
    return best


def estimate_modulus(
    generator: Generator,
    latent_dim: int,
    *,
    radii: Any,
    n_samples: int | None = None,
    failure_prob: float = 0.01,
    confidence: float = 0.99,
    steps: int = 20,
    restarts: int = 2,
    batch_size: int = 128,
    seed: int = 0,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
    progress: bool = False,
    norm: str = "l2",
) -> isobound.PiecewiseLinear:
    r"""Probabilistic modulus of continuity :math:`\omega_\delta` of a generator.

    Parameters
    ----------
    generator : callable
        Maps latents ``(B, latent_dim)`` to images; use eval mode.
    latent_dim : int
        ``d``.
    radii : array_like
        Increasing latent radii at which omega is estimated.
    n_samples : int, optional
        Number of latent samples ``N``; by default the smallest that gives
        the requested confidence (:func:`required_samples`).  Fewer raise.
    failure_prob : float
        :math:`\delta` in (0, 1): the returned modulus may fail on this
        fraction of latents; the bound subtracts it.
    confidence : float
        Probability, over the sampling, that the estimate is above
        :math:`\omega_\delta` at every radius (up to the ascent's error).
    steps, restarts : int
        Projected gradient ascent budget per sample and radius.
    batch_size, seed, device, dtype, progress
        Execution details; ``seed`` makes the estimate repeatable.
    norm : {"l2", "linf"}
        Image norm of :math:`\omega` (the latent radius is always l2): for
        ``"linf"`` the modulus bounds the largest pixel change, and the image
        bound built on it concerns l-infinity robustness.

    Returns
    -------
    isobound.PiecewiseLinear
        Step interpolation (conservative between radii), ``+inf`` beyond the
        last radius, ``failure_prob`` set to :math:`\delta`.  It is an
        *estimate*: ascent under-estimates each supremum, so the modulus may
        be too small (the image-space bound then claims too much).

    Examples
    --------
    An affine generator ``g(z) = A z``: its l2 modulus is ``t ||A||_2`` and its
    l-infinity modulus ``t max_i ||A_i||_2`` (largest row norm); ascent finds both.

    >>> import torch
    >>> A = torch.tensor([[3.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=torch.float64)
    >>> g = lambda z: z @ A.T
    >>> w2 = estimate_modulus(g, 2, radii=[1.0], failure_prob=0.1, confidence=0.9, dtype=torch.float64)
    >>> winf = estimate_modulus(g, 2, radii=[1.0], failure_prob=0.1, confidence=0.9, dtype=torch.float64, norm="linf")
    >>> round(float(w2(1.0)), 4), round(float(winf(1.0)), 4)
    (3.1817, 3.0)
    """
    if isinstance(latent_dim, bool) or not isinstance(latent_dim, int) or latent_dim < 1:
        raise ValueError(f"latent_dim must be a positive integer, got latent_dim={latent_dim!r}")
    check_norm(norm)
    _check_mode(generator)
    r = _check_radii(radii)
    delta = _check_unit("failure_prob", failure_prob)
    conf = _check_unit("confidence", confidence)
    needed = required_samples(delta, conf, r.size)
    if n_samples is None:
        n = needed
    else:
        if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1:
            raise ValueError(f"n_samples must be a positive integer, got n_samples={n_samples!r}")
        if n_samples < needed:
            raise ValueError(
                f"n_samples={n_samples} is too few for failure_prob={delta} and "
                f"confidence={conf} over {r.size} radii: at least {needed} are needed"
            )
        n = n_samples
    dev = torch.device(device) if device is not None else _module_device(generator)
    rng = torch.Generator().manual_seed(seed)
    z_all = torch.randn(n, latent_dim, generator=rng, dtype=dtype).to(dev)
    values = np.zeros(r.size)
    total = r.size * math.ceil(n / batch_size)
    bar: Any = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc="omega", unit="batch")
    for i, t in enumerate(r):
        best = 0.0
        for start in range(0, n, batch_size):
            sup = local_sup(
                generator,
                z_all[start : start + batch_size],
                float(t),
                steps=steps,
                restarts=restarts,
                generator_rng=rng,
                norm=norm,
            )
            best = max(best, float(sup.max()))
            if bar is not None:
                bar.update(1)
        values[i] = best
    if bar is not None:
        bar.close()
    return isobound.PiecewiseLinear(r, values, interpolation="step", failure_prob=delta)


def _check_mode(generator: Any) -> None:
    """Batch-norm in training mode would couple the samples (and move its statistics)."""
    problem = model_mode_problem("generator", generator)
    if problem:
        raise ValueError(problem)


def _module_device(generator: Any) -> torch.device:
    try:
        return next(generator.parameters()).device  # type: ignore[no-any-return]
    except (AttributeError, StopIteration):
        return torch.device("cpu")


@dataclass(frozen=True, eq=False)
class JacobianNormEstimate:
    r"""Spectral norms of a generator's Jacobian at sampled latents: a *lower estimate*, not a modulus.

    ``norms[j]`` approaches :math:`\|J_g(z_j)\|_2` from below (power iteration), and
    :attr:`lower_estimate`, their maximum, is a lower estimate of
    :math:`\sup_z \|J_g(z)\|_2`: a steep region that no sample hits is missed
    entirely (a generator whose true Lipschitz constant is 10001 can show 1.0).  It is
    deliberately not an :class:`isobound.Modulus`, so no bound can treat it as proven;
    for a proven modulus use :func:`isobound_torch.certified_modulus` or
    :func:`isobound_torch.lipschitz_upper_bound`.

    Attributes
    ----------
    norms : torch.Tensor
        float64, ``(n_samples,)``: the estimate at each latent.
    latents : torch.Tensor
        The latents ``z_j``, ``(n_samples, latent_dim)``.
    iterations : int
        Power-iteration steps per latent.
    """

    norms: torch.Tensor
    latents: torch.Tensor
    iterations: int

    @property
    def lower_estimate(self) -> float:
        """The largest sampled norm: a lower estimate of the supremum of ``||J_g||_2``."""
        return float(self.norms.max())

    def __repr__(self) -> str:
        return (
            f"JacobianNormEstimate(lower_estimate={self.lower_estimate!r}, n_samples={self.norms.numel()}, "
            f"iterations={self.iterations}; a lower estimate, not a certificate)"
        )


def jacobian_norm_estimate(
    generator: Generator,
    latent_dim: int,
    *,
    n_samples: int = 256,
    iterations: int = 20,
    seed: int = 0,
    batch_size: int = 128,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> JacobianNormEstimate:
    r"""Lower estimates of the Jacobian spectral norm :math:`\|J_g(z)\|_2` at sampled latents.

    At each of ``n_samples`` latents ``z ~ N(0, I_d)``, power iteration on
    :math:`J^T J` (Jacobian-vector products by the double-vjp trick and
    vector-Jacobian products; no full Jacobian) approaches the top singular value
    from below.  Both the per-sample values and their maximum are therefore *lower*
    estimates: of :math:`\|J_g(z_j)\|_2`, and of the supremum over latent space, which
    a sample maximum can miss by any factor.  The result is a
    :class:`JacobianNormEstimate` record, not a modulus: the bound cannot consume it.
    A certified (upper) counterpart is :func:`isobound_torch.certified_modulus` (local,
    per latent) or :func:`isobound_torch.lipschitz_upper_bound` (global).
    """
    if isinstance(latent_dim, bool) or not isinstance(latent_dim, int) or latent_dim < 1:
        raise ValueError(f"latent_dim must be a positive integer, got latent_dim={latent_dim!r}")
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got n_samples={n_samples!r}")
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        raise ValueError(f"iterations must be a positive integer, got iterations={iterations!r}")
    _check_mode(generator)
    dev = torch.device(device) if device is not None else _module_device(generator)
    rng = torch.Generator().manual_seed(seed)
    z_all = torch.randn(n_samples, latent_dim, generator=rng, dtype=dtype).to(dev)
    norms = []
    for start in range(0, n_samples, batch_size):
        z = z_all[start : start + batch_size]
        v = torch.randn(z.shape, generator=rng, dtype=dtype).to(dev)
        v = v / torch.linalg.vector_norm(v, dim=1, keepdim=True)
        sigma = torch.zeros(z.shape[0], dtype=dtype, device=dev)
        zz = z.detach().requires_grad_(True)
        with torch.enable_grad():
            out = generator(zz)
        for _ in range(iterations):
            # J v by the double-vjp trick: J^T u is linear in u, and its vjp with v is J v
            with torch.enable_grad():
                u = torch.zeros_like(out, requires_grad=True)
                (jtu,) = torch.autograd.grad(out, zz, grad_outputs=u, create_graph=True)
                (jv,) = torch.autograd.grad(jtu, u, grad_outputs=v)
                (jtjv,) = torch.autograd.grad(out, zz, grad_outputs=jv.detach(), retain_graph=True)
            sigma = torch.linalg.vector_norm(jv.flatten(1), dim=1)
            v = jtjv / torch.linalg.vector_norm(jtjv, dim=1, keepdim=True).clamp_min(1e-30)
        norms.append(sigma.detach().to("cpu", torch.float64))
    return JacobianNormEstimate(torch.cat(norms), z_all.detach().cpu(), iterations)


def jacobian_spectral_modulus(generator: Generator, latent_dim: int, **kwargs: Any) -> JacobianNormEstimate:
    """Deprecated: renamed :func:`jacobian_norm_estimate`, which returns an estimate record, not a modulus.

    This name used to return ``isobound.Lipschitz(max ||J_g||)`` with failure
    probability 0, which the bound then treated as proven although it is a lower
    estimate from sampled points.  It now warns and returns the same
    :class:`JacobianNormEstimate` as :func:`jacobian_norm_estimate`.
    """
    warnings.warn(
        "jacobian_spectral_modulus is deprecated: its value is a lower estimate, not a modulus; it now returns "
        "a JacobianNormEstimate (use jacobian_norm_estimate, or certified_modulus / lipschitz_upper_bound for a "
        "proven modulus)",
        DeprecationWarning,
        stacklevel=2,
    )
    return jacobian_norm_estimate(generator, latent_dim, **kwargs)
