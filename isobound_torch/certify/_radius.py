r"""Per-sample certified radii of classifiers: sound lower bounds on the minimal adversarial perturbation."""

from __future__ import annotations

import math
from typing import Any

import torch

from .._validate import check_int, check_tensor
from ._bounds import (
    MEMORY_BUDGET,
    TINY,
    Jac,
    Sets,
    U,
    down,
    endpoints,
    gamma,
    jacobian_bytes,
    propagate,
    sets_per_batch,
    up,
)
from ._lipschitz import program_lipschitz
from ._program import F64, DenseOp, Program, build_program

__all__ = ["certified_radius"]

METHODS = ("best", "lipschitz", "mean-value", "interval")


def _margin_vectors(op: DenseOp, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``V[b, k] = a_y - a_k`` and ``c[b, k] = b_y - b_k`` for every class (the row ``k = y`` is zero)."""
    w = op.weight
    v = w[y][:, None, :] - w[None, :, :]  # (B, K, n)
    bias = op.bias if op.bias is not None else torch.zeros(w.shape[0], dtype=F64, device=w.device)
    c = bias[y][:, None] - bias[None, :]
    return v, c


def _margin_lower(v: torch.Tensor, c: torch.Tensor, h_c: torch.Tensor, h_r: torch.Tensor) -> torch.Tensor:
    """Lower bounds on ``v_k . h + c_k`` over ``h in [h_c - h_r, h_c + h_r]`` (``v``: ``(B, K, n)``).

    The differences ``v`` and ``c`` carry one rounding each (relative ``u``), covered by
    counting one more term in the dot product's error bound.
    """
    n = v.shape[-1]
    g = gamma(n + 2)
    center = torch.einsum("bkn,bn->bk", v, h_c) + c
    rad = torch.einsum("bkn,bn->bk", v.abs(), h_r * (1.0 + 4.0 * g) + (2.0 * g) * h_c.abs()) * (1.0 + 2.0 * g)
    rad = rad + (2.0 * U) * (center.abs() + c.abs()) + TINY
    return down(center - rad)


def _margin_gradient_bound(v: torch.Tensor, jac: Jac, sets: Sets, norm: str) -> torch.Tensor:
    """``sup |grad m_k . (w - p)|`` over the set, with ``grad m_k = v_k^T J`` and ``J`` in the enclosure."""
    jc, jr, eps = jac  # (B, n_in, n_h)
    b, n_in = jc.shape[:2]
    c = jc.reshape(b, n_in, -1)
    r = jr.reshape(b, n_in, -1)
    n_h = c.shape[2]
    g = gamma(n_h + 1)
    gc = torch.einsum("bkh,bih->bki", v, c)  # center of the gradient
    gr = torch.einsum("bkh,bih->bki", v.abs(), r * (1.0 + 4.0 * g) + (2.0 * g) * c.abs()) * (1.0 + 2.0 * g) + TINY
    mag = up(gc.abs() + gr)  # entrywise bound on |grad|
    reach = up(sets.half + (sets.point - sets.center).abs())  # (B, n_in)
    box = torch.einsum("bki,bi->bk", mag, reach) * (1.0 + 2.0 * gamma(n_in))
    if norm == "linf":
        return up(box)
    extra = 1.0 + 2.0 * gamma(n_in)
    l2 = torch.sqrt(up((mag * mag).sum(dim=2)) * extra) * extra
    if bool(torch.isfinite(eps).any()):
        l2_c = torch.sqrt(up((gc * gc).sum(dim=2)) * extra) * extra
        vn = torch.linalg.vector_norm(v, dim=2) * (1.0 + 2.0 * gamma(n_h))
        l2 = torch.minimum(l2, up(l2_c + vn * eps[:, None]))
    return up(torch.minimum(box, up(l2 * sets.radius[:, None])))


def _sets_at(x: torch.Tensor, r: torch.Tensor, norm: str, box: tuple[float, float] | None) -> Sets:
    """The perturbation set around each ``x`` (flat) at radius ``r``: the box ``x +- r`` (within the bounds)."""
    lo, hi = down(x - r[:, None]), up(x + r[:, None])
    if box is not None:
        lo = torch.clamp(lo, min=box[0])
        hi = torch.clamp(hi, max=box[1])
    center = 0.5 * lo + 0.5 * hi
    half = up(torch.maximum(hi - center, center - lo))
    n = x.shape[1]
    if norm == "l2":
        radius = r
    else:
        radius = up(r * math.sqrt(n) * (1.0 + 4.0 * U))
    return Sets(center=center, half=half, point=x, radius=radius)


def _certified_at(
    program: Program,
    head: DenseOp | None,
    x: torch.Tensor,
    y: torch.Tensor,
    r: torch.Tensor,
    norm: str,
    box: tuple[float, float] | None,
    mean_value: bool,
) -> torch.Tensor:
    """Whether every point of the set at radius ``r[b]`` around ``x[b]`` keeps the label ``y[b]``."""
    sets = _sets_at(x, r, norm, box)
    upto = len(program.nodes) - 1 if head is not None else None
    prop = propagate(program, sets, jacobian=mean_value, mean_value=mean_value, upto=upto)
    b = x.shape[0]
    if head is not None:
        v, c = _margin_vectors(head, y)
        h_c, h_r = prop.value
        worst = _margin_lower(v, c, h_c.reshape(b, -1), h_r.reshape(b, -1))
        if mean_value:
            assert prop.jacobian is not None
            p_c, p_r = prop.point
            at_p = _margin_lower(v, c, p_c.reshape(b, -1), p_r.reshape(b, -1))
            worst = torch.maximum(worst, down(at_p - _margin_gradient_bound(v, prop.jacobian, sets, norm)))
    else:
        lo, hi = endpoints(*prop.value)
        lo, hi = lo.reshape(b, -1), hi.reshape(b, -1)
        worst = down(lo.gather(1, y[:, None]) - hi)
    others = torch.ones_like(worst, dtype=torch.bool)
    others[torch.arange(b), y] = False
    worst = torch.where(others, worst, torch.full_like(worst, math.inf))
    return worst.min(dim=1).values > 0


def _lipschitz_radius(
    program: Program, head: DenseOp | None, x: torch.Tensor, y: torch.Tensor, norm: str
) -> torch.Tensor:
    """``min_k m_k(x) / L_k`` with ``L_k`` a global Lipschitz constant of the margin ``f_y - f_k``."""
    b = x.shape[0]
    zero = torch.zeros_like(x)
    sets = Sets(center=x, half=zero, point=x, radius=torch.zeros(b, dtype=F64, device=x.device))
    if head is not None:
        upto = len(program.nodes) - 1
        l2, linf = program_lipschitz(program, norm, upto=upto)[-1]
        prop = propagate(program, sets, jacobian=False, mean_value=False, upto=upto)
        v, c = _margin_vectors(head, y)
        h_c, h_r = prop.value
        margin = _margin_lower(v, c, h_c.reshape(b, -1), h_r.reshape(b, -1))
        n = v.shape[-1]
        extra = 1.0 + 2.0 * gamma(n)
        lip = torch.minimum(
            torch.linalg.vector_norm(v, dim=2) * extra * l2, v.abs().sum(dim=2) * extra * linf
        ) * (1.0 + 4.0 * U)
    else:
        l2, linf = program_lipschitz(program, norm)[-1]
        prop = propagate(program, sets, jacobian=False, mean_value=False)
        lo, hi = endpoints(*prop.value)
        lo, hi = lo.reshape(b, -1), hi.reshape(b, -1)
        margin = down(lo.gather(1, y[:, None]) - hi)
        lip = torch.full_like(margin, min(math.sqrt(2.0) * l2, 2.0 * linf) * (1.0 + 4.0 * U))
    radius = down(margin / up(lip))
    radius = torch.where(lip > 0, radius, torch.full_like(radius, math.inf))
    others = torch.ones_like(radius, dtype=torch.bool)
    others[torch.arange(b), y] = False
    radius = torch.where(others, radius, torch.full_like(radius, math.inf))
    return radius.min(dim=1).values.clamp_min(0.0)


def certified_radius(
    classifier: Any,
    x: torch.Tensor,
    *,
    norm: str = "l2",
    method: str = "best",
    bounds: tuple[float, float] | None = None,
    steps: int = 12,
    batch_size: int = 128,
    max_memory: int = MEMORY_BUDGET,
) -> torch.Tensor:
    r"""Per-sample certified radii: sound *lower* bounds on the distance to the nearest adversarial example.

    For each input ``x_b`` with the model's own prediction ``y_b = argmax f(x_b)`` (no
    labels), the returned ``r_b`` is proven to satisfy: every ``x'`` with
    ``||x' - x_b|| < r_b`` (and within ``bounds``, if given) has
    ``f_{y_b}(x') > f_k(x')`` for all ``k != y_b``.  So ``r_b`` is at most the minimal
    adversarial perturbation, and at most the distance any attack finds (e.g.
    :class:`~isobound_torch.DeepFool`'s, an upper estimate).  It is 0 where nothing can
    be certified (a tie or a float64 disagreement at ``x_b`` itself included).

    Two certificates, the larger kept (``method="best"``):

    * ``"lipschitz"``: ``min_k m_k(x) / L_k``, with the margin ``m_k = f_y - f_k`` and
      ``L_k`` a global Lipschitz constant of that margin: the last linear layer's row
      difference ``a_y - a_k`` times the bound of :func:`lipschitz_upper_bound` on the
      layers before it (tighter than a bound on the whole logit vector);
    * ``"mean-value"``: bound propagation over the perturbation set (the box ``x +- r``,
      within the l2 ball for ``norm="l2"``), the margins bounded below both by interval
      propagation and by the mean-value form ``m_k(x) - sup |grad m_k . (x' - x)|`` with
      the gradient enclosed over the set; the largest certified ``r`` is found by
      doubling from the Lipschitz radius, then ``steps`` bisection steps.  The Jacobian
      has one column per input coordinate, so the cost grows with the input size;
      ``"interval"`` does the same with plain interval propagation only (cheap, looser).
      Where that Jacobian of a single input would not fit in ``max_memory``,
      ``"best"`` uses ``"interval"`` for the local search, and ``"mean-value"`` raises.

    Everything is computed in float64 with rounding accounted for, on the network's
    real-valued function with its stored weights (the model's own float32 forward pass
    differs from it by rounding; a margin within that rounding is not certified).

    Parameters
    ----------
    classifier : torch.nn.Module
        Maps ``x`` to logits ``(B, K)``; in eval mode; built from the layers listed in
        :func:`certified_modulus` (``MaxPool2d`` with kernel = stride is also supported).
    x : torch.Tensor
        Inputs ``(B, ...)``.
    norm : {"l2", "linf"}
    method : {"best", "lipschitz", "mean-value", "interval"}
    bounds : (float, float), optional
        The input box (e.g. ``(0, 1)`` for images): perturbations are confined to it.
    steps : int
        Bisection steps of the local methods (relative precision about ``2**-steps``).
    batch_size : int
        Largest number of inputs per propagation.
    max_memory : int
        Memory budget of one propagation in bytes (default 1 GiB): with the mean-value
        method, ``batch_size`` is reduced so that the estimated peak (about 12 float64
        numbers per input, input coordinate and feature of the widest layer) stays within it.

    Returns
    -------
    torch.Tensor
        float64, shape ``(B,)``, on ``x``'s device: lower bounds, ``>= 0``.

    Examples
    --------
    >>> import torch
    >>> f = torch.nn.Linear(2, 2).eval()
    >>> with torch.no_grad():
    ...     _ = f.weight.copy_(torch.tensor([[1.0, 0.0], [-1.0, 0.0]])); _ = f.bias.zero_()
    >>> certified_radius(f, torch.tensor([[0.5, 3.0]]))  # distance to the line x_1 = 0
    tensor([0.5000], dtype=torch.float64)
    """
    if norm not in ("l2", "linf"):
        raise ValueError(f"norm must be 'l2' or 'linf', got norm={norm!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got method={method!r}")
    steps = check_int("steps", steps, minimum=1)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    max_memory = check_int("max_memory", max_memory, minimum=1)
    x = check_tensor("x", x, min_dim=2)
    box = _check_bounds(bounds, x)
    program = build_program(classifier, tuple(x.shape[1:]), name="classifier")
    if len(program.out_shape) != 1 or program.out_shape[0] < 2:
        raise ValueError(
            f"classifier must return logits of shape (batch, K) with K >= 2, got shape "
            f"(batch, {', '.join(map(str, program.out_shape))})"
        )
    last = program.nodes[-1].op if program.nodes else None
    head = last if isinstance(last, DenseOp) and program.nodes[-1].inputs == (len(program.nodes) - 1,) else None
    n_in = math.prod(x.shape[1:])
    local_mean_value = method in ("best", "mean-value")
    if local_mean_value and jacobian_bytes(program, n_in) > max_memory:
        if method == "mean-value":
            raise ValueError(
                f"method='mean-value' needs about {jacobian_bytes(program, n_in) / 2**30:.3g} GiB per input for this "
                f"classifier ({n_in} input coordinates times its widest layer), above max_memory={max_memory}; "
                f"use method='interval' or 'lipschitz', or raise max_memory"
            )
        local_mean_value = False
    if local_mean_value:
        batch_size = sets_per_batch(program, n_in, batch_size, max_memory)
    device = x.device
    with torch.no_grad():
        y_all = classifier(x).argmax(dim=1)
    flat = x.detach().to(F64).reshape(x.shape[0], -1)
    out = torch.zeros(x.shape[0], dtype=F64, device=device)
    for start in range(0, x.shape[0], batch_size):
        xs = flat[start : start + batch_size]
        ys = y_all[start : start + batch_size]
        with torch.no_grad():
            r = torch.zeros(xs.shape[0], dtype=F64, device=device)
            if method in ("best", "lipschitz"):
                r = _lipschitz_radius(program, head, xs, ys, norm)
            if method != "lipschitz":
                local = _search(program, head, xs, ys, norm, box, local_mean_value, steps, r)
                r = torch.maximum(r, local)
        out[start : start + xs.shape[0]] = r
    return out


def _search(
    program: Program,
    head: DenseOp | None,
    x: torch.Tensor,
    y: torch.Tensor,
    norm: str,
    box: tuple[float, float] | None,
    mean_value: bool,
    steps: int,
    start: torch.Tensor,
) -> torch.Tensor:
    """The largest radius certified by the local method: doubling, then bisection (per sample)."""
    b = x.shape[0]
    best = torch.zeros(b, dtype=F64, device=x.device)
    # a first trial radius: the given one, or a small fraction of the input's scale
    scale = x.abs().amax(dim=1).clamp_min(1.0)
    trial = torch.where(start > 0, start * 1.25, 1e-3 * scale)
    failed = torch.full((b,), math.inf, dtype=F64, device=x.device)
    active = torch.ones(b, dtype=torch.bool, device=x.device)
    for _ in range(40):  # doubling until the certificate fails
        idx = active.nonzero().squeeze(1)
        if idx.numel() == 0:
            break
        ok = _certified_at(program, head, x[idx], y[idx], trial[idx], norm, box, mean_value)
        best[idx[ok]] = trial[idx[ok]]
        failed[idx[~ok]] = trial[idx[~ok]]
        active[idx[~ok]] = False
        trial[idx[ok]] = trial[idx[ok]] * 2.0
    lo = torch.maximum(best, start)  # both certified (by this method or the caller's)
    hi = failed
    finite = torch.isfinite(hi)
    for _ in range(steps):
        idx = finite.nonzero().squeeze(1)
        if idx.numel() == 0:
            break
        mid = 0.5 * (lo[idx] + hi[idx])
        ok = _certified_at(program, head, x[idx], y[idx], mid, norm, box, mean_value)
        lo[idx[ok]] = mid[ok]
        hi[idx[~ok]] = mid[~ok]
    return torch.where(torch.isfinite(failed), lo, best)


def _check_bounds(bounds: Any, x: torch.Tensor) -> tuple[float, float] | None:
    if bounds is None:
        return None
    if isinstance(bounds, (str, bytes)):
        raise ValueError(f"bounds must be a pair (low, high) of numbers, got bounds={bounds!r}")
    try:
        lo, hi = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise ValueError(f"bounds must be a pair (low, high) of numbers, got bounds={bounds!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"bounds must be finite with low < high, got bounds={bounds!r}")
    if bool((x < lo).any()) or bool((x > hi).any()):
        raise ValueError(f"x must lie within bounds={bounds!r}")
    return lo, hi
