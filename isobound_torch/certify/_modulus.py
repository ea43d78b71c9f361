r"""Certified local moduli of continuity of a generator, and the probabilistic modulus built on them."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch

import isobound

from .._validate import check_int
from ..smoothness import _check_radii, _check_unit, required_samples
from ._bounds import (
    MEMORY_BUDGET,
    TINY,
    Propagation,
    Sets,
    U,
    endpoints,
    gamma,
    grow_,
    jacobian_norm_upper,
    propagate,
    sets_per_batch,
    up,
)
from ._lipschitz import program_lipschitz
from ._program import F64, Program, build_program

__all__ = ["certified_local_sup", "certified_modulus"]

NORMS = ("l2", "linf")
METHODS = ("mean-value", "interval")


def _check_norm(norm: Any) -> str:
    if norm not in NORMS:
        raise ValueError(f"norm must be 'l2' or 'linf', got norm={norm!r}")
    return str(norm)


def _check_method(method: Any) -> str:
    if method not in METHODS:
        raise ValueError(f"method must be 'mean-value' or 'interval', got method={method!r}")
    return str(method)


def _check_latents(z: Any, latent_dim: int | None = None) -> torch.Tensor:
    if not isinstance(z, torch.Tensor):
        raise TypeError(f"z must be a torch.Tensor of shape (batch, latent_dim), got z={type(z).__name__}")
    if z.dim() != 2 or z.shape[0] == 0 or z.shape[1] == 0:
        raise ValueError(
            f"z must have shape (batch, latent_dim) with batch, latent_dim >= 1, got shape {tuple(z.shape)}"
        )
    if not z.is_floating_point() or not bool(torch.isfinite(z).all()):
        raise ValueError("z must be a floating-point tensor of finite values")
    if latent_dim is not None and z.shape[1] != latent_dim:
        raise ValueError(f"z must have {latent_dim} columns, got shape {tuple(z.shape)}")
    return z.detach().to(F64)


class _Piece:
    """A batch of pieces: each covers part of the ball ``B(z, t)`` of its (latent, radius) pair."""

    def __init__(self, sets: Sets, pair: torch.Tensor, prop: Propagation, lip: torch.Tensor, rows: torch.Tensor):
        self.sets, self.pair, self.prop, self.lip, self.rows = sets, pair, prop, lip, rows


def _bound_pieces(
    program: Program, sets: Sets, norm: str, mean_value: bool, keep: bool
) -> tuple[Propagation, torch.Tensor, torch.Tensor]:
    prop = propagate(program, sets, jacobian=True, mean_value=mean_value, keep=keep)
    assert prop.jacobian is not None
    lip, rows = jacobian_norm_upper(prop.jacobian, norm)
    return prop, lip, rows


def _ball_bounds(
    program: Program,
    z: torch.Tensor,
    t: torch.Tensor,
    *,
    norm: str,
    mean_value: bool,
    refine: int,
    deadline: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For each row pair ``(z[b], t[b])``, over the ball ``B(z[b], t[b])``: ``(lip, rows, reach)``.

    ``lip[b]`` bounds ``||J_g||`` (l2 to the image norm) at every point of the ball,
    ``rows[b, i]`` the l2 norm of row ``i`` of every such Jacobian, ``reach[b, i]`` the
    largest ``|g_i(w) - g_i(z)|`` over the ball.
    """
    b, d = z.shape
    half = t[:, None].expand(b, d)
    root = Sets(center=z, half=half, point=z, radius=t)
    prop, lip, rows = _bound_pieces(program, root, norm, mean_value, keep=refine > 0)
    g_lo, g_hi = endpoints(*prop.point)
    g_lo, g_hi = g_lo.reshape(b, -1), g_hi.reshape(b, -1)
    v_lo, v_hi = endpoints(*prop.value)
    reach = up(torch.maximum(v_hi.reshape(b, -1) - g_lo, g_hi - v_lo.reshape(b, -1)))
    if refine > 0:
        return _refine(program, root, prop, lip, rows, reach, g_lo, g_hi, norm, mean_value, refine, deadline)
    return lip, rows, reach


def _integrate(
    lip: torch.Tensor, rows: torch.Tensor, reach: torch.Tensor, grid: torch.Tensor, norm: str
) -> torch.Tensor:
    r"""Upper bounds on ``M_{s_j}(z)`` from the ball bounds at the radii ``0 < s_1 < ... < s_M`` of ``grid``.

    ``lip``: ``(n, M)``; ``rows``, ``reach``: ``(n, M, outputs)``.  Along the segment from
    ``z`` to ``z + u`` (``||u|| <= s_j``) the point at distance ``r`` from ``z`` lies in
    ``B(z, s_k)`` for every ``s_k >= r``, so (radial integration of the mean value inequality)

    .. math::

        \|g(z+u) - g(z)\| \le \int_0^{\|u\|} L(r)\,dr \le \sum_{k \le j} (s_k - s_{k-1}) L(s_k),

    with ``L(s)`` the Jacobian bound over ``B(z, s)`` and ``s_0 = 0``; the same holds per
    pixel with the row norms.  Where ``L`` grows with the radius this is well below
    ``s_j L(s_j)``.
    """
    m = grid.numel()
    steps = up(torch.diff(grid, prepend=grid.new_zeros(1)))  # (M,)
    cum_lip = grow_(torch.cumsum(lip * steps, dim=1), m + 1)
    cum_lip = torch.minimum(cum_lip, up(lip * grid))
    cum_rows = grow_(torch.cumsum(rows * steps[None, :, None], dim=1), m + 1)
    coord = torch.minimum(reach, cum_rows)
    if norm == "linf":
        return torch.minimum(coord.amax(dim=2), cum_lip)
    n_out = coord.shape[2]
    coord_l2 = grow_(torch.sqrt(grow_((coord * coord).sum(dim=2), n_out + 1)), 2)
    return torch.minimum(cum_lip, coord_l2)


def _refine(
    program: Program,
    root: Sets,
    prop: Propagation,
    lip: torch.Tensor,
    rows: torch.Tensor,
    reach: torch.Tensor,
    g_lo: torch.Tensor,
    g_hi: torch.Tensor,
    norm: str,
    mean_value: bool,
    rounds: int,
    deadline: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Bisect the worst piece of each ball ``rounds`` times, or until ``deadline`` (``time.perf_counter``).

    Every round keeps a cover of each ball by pieces, each enclosed soundly, so stopping
    after any round leaves valid bounds (see :func:`certified_local_sup`).
    """
    b = root.center.shape[0]
    z, t = root.center, root.radius
    # live pieces: their sets, owner pair, bound, row norms, value ranges, and enclosures
    sets = root
    owner = torch.arange(b, device=z.device)
    enc = prop.enclosures
    assert enc is not None and prop.jacobian is not None
    piece_lip, piece_rows = lip, rows
    piece_reach = reach
    inner = t * (1.0 - 1e-9)  # children's base points stay strictly inside the ball
    for _ in range(rounds):
        if deadline is not None and time.perf_counter() >= deadline:
            break
        # the worst piece of each pair
        worst_val = torch.full((b,), -1.0, dtype=F64, device=z.device).scatter_reduce(0, owner, piece_lip, "amax")
        is_worst = piece_lip >= worst_val[owner]
        # one worst piece per pair (the first)
        first = torch.zeros(b, dtype=torch.long, device=z.device).fill_(len(owner))
        idx = torch.arange(len(owner), device=z.device)
        first = first.scatter_reduce(0, owner, torch.where(is_worst, idx, torch.full_like(idx, len(owner))), "amin")
        split = torch.zeros(len(owner), dtype=torch.bool, device=z.device)
        split[first[first < len(owner)]] = True
        parents = split.nonzero().squeeze(1)
        cc, ch = _split_boxes(sets.center[parents], sets.half[parents])
        co = torch.cat([owner[parents], owner[parents]])
        cp = torch.cat([parents, parents])
        # keep the children that meet the ball
        gap = torch.clamp((cc - z[co]).abs() - ch, min=0.0)
        meets = torch.linalg.vector_norm(gap, dim=1) <= t[co] * (1.0 + 1e-9)
        cc, ch, co, cp = cc[meets], ch[meets], co[meets], cp[meets]
        point, radius, in_ball = _piece_point(cc, ch, z[co], t[co], inner[co])
        parent_enc = [(lo[cp], hi[cp]) for lo, hi in enc]
        if not bool(in_ball.all()):
            # a piece that meets the ball only within its last 1e-9 (relative) has its base point
            # outside the ball: it is then enclosed over its whole box (convex, holds the base
            # point), without the parent's enclosures, which hold on the ball only
            out = ~in_ball
            parent_enc = [
                (torch.where(_rows(out, lo), -math.inf, lo), torch.where(_rows(out, hi), math.inf, hi))
                for lo, hi in parent_enc
            ]
        child_sets = Sets(center=cc, half=ch, point=point, radius=radius, parent=parent_enc)
        cprop, clip, crows = _bound_pieces(program, child_sets, norm, mean_value, keep=True)
        v_lo, v_hi = endpoints(*cprop.value)
        creach = up(torch.maximum(v_hi.reshape(len(co), -1) - g_lo[co], g_hi[co] - v_lo.reshape(len(co), -1)))
        keep = ~split
        sets = Sets(
            center=torch.cat([sets.center[keep], cc]),
            half=torch.cat([sets.half[keep], ch]),
            point=torch.cat([sets.point[keep], point]),
            radius=torch.cat([sets.radius[keep], radius]),
        )
        assert cprop.enclosures is not None
        enc = [
            (torch.cat([lo[keep], clo]), torch.cat([hi[keep], chi]))
            for (lo, hi), (clo, chi) in zip(enc, cprop.enclosures, strict=True)
        ]
        owner = torch.cat([owner[keep], co])
        piece_lip = torch.cat([piece_lip[keep], clip])
        piece_rows = torch.cat([piece_rows[keep], crows])
        piece_reach = torch.cat([piece_reach[keep], creach])
    n_out = piece_rows.shape[1]
    lip_max = torch.zeros(b, dtype=F64, device=z.device).scatter_reduce(0, owner, piece_lip, "amax")
    rows_max = torch.zeros((b, n_out), dtype=F64, device=z.device).scatter_reduce(
        0, owner[:, None].expand(-1, n_out), piece_rows, "amax"
    )
    reach_max = torch.zeros((b, n_out), dtype=F64, device=z.device).scatter_reduce(
        0, owner[:, None].expand(-1, n_out), piece_reach, "amax"
    )
    return lip_max, rows_max, reach_max


def _split_boxes(center: torch.Tensor, half: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Bisect each box ``center +- half`` (rows) along its widest side (ties: the first).

    Returns the centers and half-widths of the lower children, then of the upper ones.
    The rounding of a child's center (at most ``2u |c|``) is added to its half-width along
    the split axis, so that the two children cover their parent box in real arithmetic.
    """
    axis = half.argmax(dim=1)
    rows = torch.arange(center.shape[0], device=center.device)
    out_c, out_h = [], []
    for side in (-1.0, 1.0):
        c = center.clone()
        h = half.clone()
        h[rows, axis] = 0.5 * half[rows, axis]
        c[rows, axis] = c[rows, axis] + side * h[rows, axis]
        h[rows, axis] = h[rows, axis] + (2.0 * U) * c[rows, axis].abs()
        out_c.append(c)
        out_h.append(up(h))
    return torch.cat(out_c), torch.cat(out_h)


def _rows(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A per-row mask broadcast to the shape of ``like`` (rows first)."""
    return mask.reshape(-1, *([1] * (like.dim() - 1)))


def _piece_point(
    center: torch.Tensor, half: torch.Tensor, z: torch.Tensor, t: torch.Tensor, inner: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A point ``p`` of ``box intersected with B(z, t)`` near the box center, a radius about ``p``, and
    whether ``p`` is proven to lie in the ball.

    ``p`` is the box center when it lies inside the ball (of radius ``inner < t``, for
    rounding room); otherwise the point where the segment from the box's point nearest to
    ``z`` towards its center leaves that ball.  Every point of the piece lies within
    ``min(||half||_2 + ||p - center||_2, t + ||p - z||_2)`` of ``p``.  Where the box meets
    the ball only outside the inner ball, ``p`` is the box's point nearest to ``z``, perhaps
    outside ``B(z, t)``: the third result is then false and the radius covers the whole box
    (``||half||_2 + ||p - center||_2``).
    """
    lo, hi = center - half, center + half
    a = torch.minimum(torch.maximum(z, lo), hi)  # nearest point of the box to z
    v = center - a
    w = a - z
    # largest s in [0, 1] with ||w + s v|| <= inner
    qa = (v * v).sum(dim=1)
    qb = 2.0 * (w * v).sum(dim=1)
    qc = (w * w).sum(dim=1) - inner * inner
    disc = torch.clamp(qb * qb - 4.0 * qa * qc, min=0.0)
    s = torch.where(qa > 0, (-qb + torch.sqrt(disc)) / (2.0 * qa).clamp_min(TINY), torch.zeros_like(qa))
    s = torch.clamp(s * (1.0 - 1e-12), 0.0, 1.0)
    p = a + s[:, None] * v
    p = torch.minimum(torch.maximum(p, lo), hi)
    d = z.shape[1]
    extra = 1.0 + 2.0 * gamma(d)
    r1 = up(torch.linalg.vector_norm(half, dim=1) * extra + torch.linalg.vector_norm(p - center, dim=1) * extra)
    dist = torch.linalg.vector_norm(p - z, dim=1) * extra
    r2 = up(t + dist)
    # the computed distance errs by far less than the 1e-9 between inner and t
    in_ball = dist <= inner
    radius = torch.where(in_ball, torch.minimum(r1, r2), r1)
    return p, radius * (1.0 + 4.0 * U) + TINY, in_ball


def certified_local_sup(
    generator: Any,
    z: torch.Tensor,
    radii: Any,
    *,
    norm: str = "l2",
    method: str = "mean-value",
    refine: int = 0,
    time_budget: float | None = None,
    subdivide: int = 1,
    batch_size: int = 512,
    max_memory: int = MEMORY_BUDGET,
    program: Program | None = None,
) -> torch.Tensor:
    r"""Sound upper bounds on :math:`M_t(z) = \sup_{\|u\|_2 \le t} \|g(z+u) - g(z)\|` per latent and radius.

    The counterpart, from above, of :func:`~isobound_torch.local_sup` (a lower estimate
    by gradient ascent).  For each row ``z_j`` and radius ``s``, the values and the
    Jacobian of ``g`` are enclosed over the ball ``B(z_j, s)`` by bound propagation
    (interval arithmetic intersected with the mean-value form at every pre-activation, so
    that the first linear layer maps the ball exactly, ``W z +- s ||W_i||_2`` per row; the
    Jacobian as a center ``C`` with an entrywise remainder ``R`` and a spectral-norm
    remainder ``eps``).  Every Jacobian of the ball then has

    .. math::

        \|J\| \le L(s) = \min(\|C\|_2 + \min(\|R\|_2, \epsilon),\ \| |C| + R \|_2)

    (l2 image norm; for l-infinity the largest row norm of ``|C| + R``).  By the mean value
    inequality along the segment from ``z`` to ``z + u`` (in Clarke's form, so ReLU kinks
    are covered), whose point at distance ``r`` from ``z`` lies in ``B(z, s)`` for every
    ``s >= r``,

    .. math::

        M_t(z) \le \int_0^t L(r)\,dr \le \sum_{k: s_k \le t} (s_k - s_{k-1})\, L(s_k)
        \le t\, L(t)

    over the grid ``0 = s_0 < s_1 < ... `` of the requested radii (finer with
    ``subdivide``).  Per pixel, ``|g_i(z+u) - g_i(z)|`` is also at most the range of the
    enclosure of ``g_i`` over the ball, or the same sum over its row norms; the smaller
    bound is returned, and never more than ``t`` times the global product bound of
    :func:`~isobound_torch.lipschitz_upper_bound` (which holds on every ball; it binds only
    where the local enclosures are wide, at large radii).  For an affine generator
    ``g(z) = A z + b`` this is ``t ||A||`` within a relative ``1e-11``, from above.

    Parameters
    ----------
    generator : torch.nn.Module
        In eval mode, built from supported layers (see :func:`certified_modulus`).
    z : torch.Tensor
        Latents, shape ``(n, d)``.
    radii : array_like
        Strictly increasing positive latent radii ``t_1 < ... < t_m``.
    norm : {"l2", "linf"}
        Image norm.
    method : {"mean-value", "interval"}
        ``"interval"`` uses plain interval propagation for the pre-activation ranges
        (looser; for comparison).
    refine : int
        Rounds of refinement per ball: the box around the ball is cut in pieces, and each
        round bisects, along its widest side, the piece with the largest Jacobian bound.
        Pieces that miss the ball are dropped.  Each piece is enclosed on its own (and
        within its parent's enclosures), with the mean-value form around a point inside
        it.  Since the pieces cover the ball, every point of the segment from ``z`` to
        ``z + u`` lies in one of them, so ``M_t(z) <= t max_k L_k`` with ``L_k`` the
        Jacobian bound of piece ``k``; per pixel, the range over the ball is the largest
        over the pieces.  0 (the default) certifies the whole ball at once.  It pays in
        low dimension (d = 2: a 44x bound came down to 5x in a test) and costs a propagation
        per round; at d = 8 (the digits VAE) it buys nothing measurable, the radial sum does.
    time_budget : float, optional
        Seconds for the whole call, refinement included: the first pass is always done,
        and each batch of pairs stops refining once its share of the budget (proportional
        to the pairs done so far) is spent.  Stopping after any round leaves sound bounds.
        ``None`` (the default): all ``refine`` rounds.
    subdivide : int
        Each interval ``[t_{k-1}, t_k]`` of the radii (``t_0 = 0``) is cut in this many equal
        parts for the radial sum (cost: that many times the radii).  1 (the default) uses
        the requested radii alone.
    batch_size : int
        Largest number of (latent, radius) pairs per propagation; memory grows with it times
        the network's widest layer times ``d``.
    max_memory : int
        Memory budget of one propagation in bytes (default 1 GiB): ``batch_size`` is reduced
        so that the estimated peak (about 12 float64 numbers per pair, input coordinate and
        feature of the widest layer, twice that with ``refine``) stays within it, down to
        one pair.
    program : optional
        A program already built from ``generator`` (internal reuse).

    Returns
    -------
    torch.Tensor
        float64, shape ``(n, m)``: upper bounds on ``M_{t_k}(z_j)``, non-decreasing in ``t``
        (a bound at a larger radius also bounds every smaller one).

    Examples
    --------
    >>> import torch
    >>> a = torch.tensor([[3.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    >>> g = torch.nn.Linear(2, 3).eval()
    >>> with torch.no_grad():
    ...     _ = g.weight.copy_(a)
    >>> certified_local_sup(g, torch.zeros(1, 2), [0.5, 1.0])  # t * ||A||_2 = 3 t
    tensor([[1.5000, 3.0000]], dtype=torch.float64)
    """
    norm = _check_norm(norm)
    method = _check_method(method)
    refine = check_int("refine", refine, minimum=0)
    budget = _check_budget(time_budget)
    subdivide = check_int("subdivide", subdivide, minimum=1)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    max_memory = check_int("max_memory", max_memory, minimum=1)
    started = time.perf_counter()
    r = _check_radii(radii)
    z = _check_latents(z)
    n, d = z.shape
    if program is None:
        program = build_program(generator, (d,))
    elif program.in_shape != (d,):
        raise ValueError(f"program takes inputs of shape {program.in_shape}, z has {d} columns")
    batch_size = sets_per_batch(program, d, batch_size, max_memory, factor=2 if refine else 1)
    device = _device_of(program, z)
    z = z.to(device)
    grid, picks = _fine_grid(r, subdivide)
    t_all = torch.as_tensor(grid, dtype=F64, device=device)
    m = t_all.numel()
    zz = z.repeat_interleave(m, dim=0)
    tt = t_all.repeat(n)
    lips, rows, reaches = [], [], []
    with torch.no_grad():
        for start in range(0, n * m, batch_size):
            sl = slice(start, start + batch_size)
            done = min(start + batch_size, n * m)
            deadline = None if budget is None else started + budget * done / (n * m)
            lip, row, reach = _ball_bounds(
                program, zz[sl], tt[sl], norm=norm, mean_value=method == "mean-value", refine=refine,
                deadline=deadline,
            )
            lips.append(lip)
            rows.append(row)
            reaches.append(reach)
        lip_all = torch.cat(lips).reshape(n, m)
        rows_all = torch.cat(rows).reshape(n, m, -1)
        reach_all = torch.cat(reaches).reshape(n, m, -1)
        out = _integrate(lip_all, rows_all, reach_all, t_all, norm)[:, picks]
        # the global product bound holds on every ball: never more than t L
        l2, linf = program_lipschitz(program, "l2")[-1]
        glob = l2 if norm == "l2" else min(linf, l2)
        out = torch.minimum(out, up(torch.as_tensor(r, dtype=F64, device=device) * glob)[None, :])
    # M_t is non-decreasing in t: a bound at a larger radius bounds every smaller one
    out = torch.flip(torch.cummin(torch.flip(out, dims=[1]), dim=1).values, dims=[1])
    return out.cpu()


def _check_budget(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value >= 0):
        raise ValueError(f"time_budget must be None or a finite number of seconds >= 0, got time_budget={value!r}")
    return float(value)


def _fine_grid(radii: np.ndarray, subdivide: int) -> tuple[np.ndarray, list[int]]:
    """The radii with each interval ``[t_{k-1}, t_k]`` (``t_0 = 0``) cut in ``subdivide`` equal parts.

    Returns the fine grid and the positions of the requested radii in it.
    """
    if subdivide == 1:
        return radii, list(range(radii.size))
    pts: list[float] = []
    picks: list[int] = []
    prev = 0.0
    for t in radii:
        for j in range(1, subdivide):
            pts.append(prev + (t - prev) * j / subdivide)
        pts.append(float(t))
        picks.append(len(pts) - 1)
        prev = float(t)
    return np.asarray(pts, dtype=np.float64), picks


def _device_of(program: Program, z: torch.Tensor) -> torch.device:
    from ._program import ConvOp, DenseOp, DiagOp

    for node in program.nodes:
        op = node.op
        if isinstance(op, (DenseOp, ConvOp)):
            return op.weight.device
        if isinstance(op, DiagOp):
            return op.scale.device
    return z.device


def certified_modulus(
    generator: Any,
    latent_dim: int,
    *,
    radii: Any,
    n_samples: int | None = None,
    failure_prob: float,
    confidence: float,
    norm: str = "l2",
    method: str = "mean-value",
    refine: int = 0,
    time_budget: float | None = None,
    subdivide: int = 1,
    batch_size: int = 512,
    max_memory: int = MEMORY_BUDGET,
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: bool = False,
) -> isobound.PiecewiseLinear:
    r"""A proven probabilistic modulus of continuity :math:`\omega_\delta` of a generator.

    As :func:`~isobound_torch.estimate_modulus`, but each sampled latent's local modulus
    :math:`M_t(z_j) = \sup_{\|u\|_2\le t}\|g(z_j+u)-g(z_j)\|` is bounded from *above* by
    bound propagation (:func:`certified_local_sup`) instead of estimated from below by
    gradient ascent.  With ``N`` latents drawn from ``N(0, I_d)``, the largest of the ``N``
    bounds at radius ``t`` is at least the :math:`(1-\delta)`-quantile of :math:`M_t(Z)`
    unless all ``N`` fall below it, which has probability at most :math:`(1-\delta)^N`;
    over ``m`` radii a union bound asks :math:`(1-\delta)^N \le (1 - \text{confidence})/m`.
    So, with probability at least ``confidence`` over the draw of the latents, the returned
    modulus satisfies :math:`P_z(M_t(z) > \omega(t)) \le \delta` at every radius, and the
    image-space bound :math:`P(r_{in} \le \omega(t)) \ge B(t) - \delta` holds.  Nothing in
    it is estimated: the statement is proven at confidence ``confidence`` (combine it with
    the confidence of the class proportions by a union bound).

    Parameters
    ----------
    generator : torch.nn.Module
        Maps latents ``(B, latent_dim)`` to images; in eval mode; built from ``Linear``,
        ``Conv2d``, ``ConvTranspose2d``, ``BatchNorm1d/2d``, ``ReLU``, ``LeakyReLU``, ``ELU``,
        ``Tanh``, ``Sigmoid``, ``Upsample`` (nearest), pooling, ``Flatten``/``Unflatten``/
        reshapes, ``Sequential`` and residual sums (traced with ``torch.fx``), or one of the
        built-in :class:`~isobound_torch.models.DCGANGenerator` and
        :class:`~isobound_torch.models.VAEDecoder`.  Other modules raise a ``ValueError``
        naming them; use :func:`~isobound_torch.estimate_modulus` there.
    latent_dim : int
        ``d``.
    radii : array_like
        Strictly increasing positive latent radii.
    n_samples : int, optional
        ``N``; by default the smallest that gives ``confidence`` over ``len(radii)`` radii
        (:func:`~isobound_torch.required_samples`).  Fewer raise.
    failure_prob : float
        :math:`\delta` in (0, 1).
    confidence : float
        :math:`1 - \beta` in (0, 1).
    norm : {"l2", "linf"}
        Image norm (the latent ball is l2).
    method, refine, time_budget, subdivide, batch_size, max_memory
        See :func:`certified_local_sup`.  A denser grid of ``radii`` tightens the bound at
        every radius (radial sum), at the price of more samples for the union bound.
    seed, device, progress
        The latents are ``torch.randn(N, d)`` from a ``torch.Generator`` seeded with ``seed``
        (float64); ``device`` defaults to the generator's.

    Returns
    -------
    isobound.PiecewiseLinear
        Step interpolation (at a radius between two grid radii it takes the value of the
        larger one, an upper bound by monotonicity), ``+inf`` beyond the last radius,
        ``failure_prob = delta``.

    Examples
    --------
    >>> import torch
    >>> g = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Tanh()).eval()
    >>> omega = certified_modulus(g, 2, radii=[0.1, 0.5], failure_prob=0.1, confidence=0.9)
    >>> omega.failure_prob, omega.interpolation
    (0.1, 'step')
    """
    latent_dim = check_int("latent_dim", latent_dim, minimum=1)
    r = _check_radii(radii)
    delta = _check_unit("failure_prob", failure_prob)
    conf = _check_unit("confidence", confidence)
    norm = _check_norm(norm)
    method = _check_method(method)
    check_int("refine", refine, minimum=0)
    budget = _check_budget(time_budget)
    check_int("subdivide", subdivide, minimum=1)
    check_int("max_memory", max_memory, minimum=1)
    needed = required_samples(delta, conf, r.size)
    if n_samples is None:
        n = needed
    else:
        n = check_int("n_samples", n_samples, minimum=1)
        if n < needed:
            raise ValueError(
                f"n_samples={n} is too few for failure_prob={delta} and confidence={conf} over "
                f"{r.size} radii: at least {needed} are needed"
            )
    program = build_program(generator, (latent_dim,))
    rng = torch.Generator().manual_seed(seed)
    z = torch.randn(n, latent_dim, generator=rng, dtype=F64)
    if device is not None:
        z = z.to(torch.device(device))
    chunk = max(1, batch_size // max(1, r.size * subdivide))
    values = torch.zeros(r.size, dtype=F64)
    bar: Any = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n, desc="certified omega", unit="latent")
    started = time.perf_counter()
    for start in range(0, n, chunk):
        share = None
        if budget is not None:  # this chunk's share of what is left
            left = max(0.0, started + budget - time.perf_counter())
            share = left * min(chunk, n - start) / (n - start)
        part = certified_local_sup(
            generator, z[start : start + chunk], r, norm=norm, method=method, refine=refine,
            time_budget=share, subdivide=subdivide, batch_size=batch_size, max_memory=max_memory,
            program=program,
        )
        values = torch.maximum(values, part.max(dim=0).values)
        if bar is not None:
            bar.update(min(chunk, n - start))
    if bar is not None:
        bar.close()
    v = values.numpy()
    if not np.all(np.isfinite(v)):
        bad = float(r[~np.isfinite(v)][0])
        raise ValueError(
            f"the certified bound overflowed at radius {bad} (the generator's enclosures are not finite); "
            f"use smaller radii"
        )
    return isobound.PiecewiseLinear(r, v, interpolation="step", failure_prob=delta)
