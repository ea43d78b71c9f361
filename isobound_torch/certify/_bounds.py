r"""Sound enclosures of a :class:`~._program.Program` over a set of inputs, in float64.

Three things are propagated through the program for each input set ``S``
(a box, intersected with a ball):

* the value at one point ``p`` of ``S`` (an interval of float width, to absorb rounding);
* the values over ``S`` (an interval per feature);
* the Jacobian with respect to the input over ``S`` (an interval per entry, forward mode:
  the columns are the input coordinates), built from bounds on each activation's derivative
  over its pre-activation interval.

Each value interval is the intersection of plain interval propagation with the
*mean-value form* around ``p``: for ``w`` in ``S``,
``x(w) - x(p) = (integral of J over the segment [p, w]) (w - p)``, and the segment lies in
``S`` (convex), so ``|x_i(w) - x_i(p)| <= min(rho * || |J|_i ||_2, sum_j |J|_ij h_j)`` with
``|J|`` the entrywise bound on the Jacobian over ``S``, ``rho`` the largest distance from
``p`` to a point of ``S`` and ``h_j`` the largest ``|w_j - p_j|``.  For small sets it is much
tighter than interval propagation, which compounds the width layer after layer.

Non-differentiable points (ReLU at 0, ELU's kink) are covered in Clarke's sense: each
activation's derivative interval contains its generalised derivative, so the interval
Jacobian contains the generalised Jacobian (Clarke, *Optimization and Nonsmooth
Analysis*, Thm 2.6.6), and Clarke's mean value theorem (Prop. 2.6.5) plays the part of
the smooth one.

Floating point
--------------
Intervals are kept as ``(center, radius)`` with the radius inflated to cover rounding:

* a linear map with ``n`` products per output: ``|fl(a.x) - a.x| <= gamma_n sum |a_i x_i|``
  with ``gamma_n = n u / (1 - n u)`` and ``u = 2**-53`` (Higham, *Accuracy and Stability of
  Numerical Algorithms*, Thm 3.1; any summation order, with or without fused multiply-add);
  the radius becomes ``|A| (r (1 + 4 gamma) + 2 gamma |c|) (1 + 2 gamma)`` plus the rounding
  of the bias addition;
* interval end points and single operations are rounded outward with ``nextafter``;
* ``exp``, ``tanh``, ``sigmoid`` and friends come from the math library, whose error is a
  few units in the last place; their results are widened by a relative margin of ``1e-12``
  (thousands of ulps) and an absolute ``1e-300`` (below that, underflow).

The one assumption beyond these is the symmetric eigensolver used for spectral norms
(:func:`spectral_norm_upper`), taken to be backward stable with a constant of ``8 k`` for
a ``k x k`` matrix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ._program import ActOp, AddOp, LinearOp, MaxPoolOp, Program, ReshapeOp

__all__ = ["U", "Sets", "Propagation", "propagate", "spectral_norm_upper", "up", "down", "sets_per_batch"]

U = 2.0**-53
TINY = 1e-300
#: relative margin on math-library results (exp, expm1, tanh, cosh, sigmoid)
LIBM = 1e-12
_INF = float("inf")

#: a Jacobian enclosure ``(C, R, eps)``: every Jacobian ``J`` of the set has ``|J - C| <= R``
#: entrywise and ``||J - C||_2 <= eps`` (per batch row; ``C`` and ``R`` of shape ``(B, n, *features)``)
Jac = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


#: default memory budget of one propagation with the Jacobian, in bytes
MEMORY_BUDGET = 2**30
#: measured peak of a propagation with the Jacobian, in float64 numbers per input set and per entry of
#: the Jacobian of the widest value (about 9.5 on a DCGAN; centers, remainders and temporaries)
_PEAK_NUMBERS = 12


def jacobian_bytes(program: Program, n_in: int) -> int:
    """Estimated peak memory, in bytes, of propagating one input set of ``n_in`` coordinates with the Jacobian."""
    widest = max(math.prod(s) for s in program.shapes)
    return _PEAK_NUMBERS * 8 * n_in * widest


def sets_per_batch(program: Program, n_in: int, batch_size: int, max_memory: int, *, factor: int = 1) -> int:
    """``batch_size`` reduced so that one propagation stays within about ``max_memory`` bytes (at least 1)."""
    per_set = factor * jacobian_bytes(program, n_in)
    return max(1, min(batch_size, max_memory // per_set))


def gamma(n: int) -> float:
    """``gamma_{n+2}``: the relative error bound of an ``n``-term dot product, with two roundings to spare."""
    k = (n + 2) * U
    return k / (1.0 - k)


def up(x: torch.Tensor) -> torch.Tensor:
    """A float above ``x`` by at least one unit in the last place (so above a value that rounded to ``x``).

    ``x + |x| 2**-52`` moves ``x`` by at least one ulp (the scaling by a power of two is
    exact), and ``TINY`` covers underflow; cheaper than ``torch.nextafter``.
    """
    return (x + x.abs() * 2.0**-52) + TINY


def down(x: torch.Tensor) -> torch.Tensor:
    """A float below ``x`` by at least one unit in the last place."""
    return (x - x.abs() * 2.0**-52) - TINY


def grow_(x: torch.Tensor, k: int) -> torch.Tensor:
    """In place, ``x (1 + (2k + 2) u) + TINY`` for a non-negative ``x`` computed with at most ``k`` roundings.

    Each rounding of a non-negative sum or product loses at most a relative ``u``, so the
    computed value is at least ``(1 - u)^k`` times the exact one; the factor (itself
    rounded once more) restores it, and ``TINY`` covers underflow.
    """
    return x.mul_(1.0 + (2 * k + 2) * U).add_(TINY)


def endpoints(c: torch.Tensor, r: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Outward-rounded ``[c - r, c + r]``."""
    return down(c - r), up(c + r)


def midrad(lo: torch.Tensor, hi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A ``(center, radius)`` pair whose interval contains ``[lo, hi]``."""
    c = 0.5 * lo + 0.5 * hi  # no overflow; each half is exact (barring underflow, covered by TINY)
    r = up(torch.maximum(hi - c, c - lo)) + TINY
    return c, r


def _libm_lo(x: torch.Tensor) -> torch.Tensor:
    return x - LIBM * x.abs() - TINY


def _libm_hi(x: torch.Tensor) -> torch.Tensor:
    return x + LIBM * x.abs() + TINY


# ---------------------------------------------------------------------------------------------
# Primitive enclosures
# ---------------------------------------------------------------------------------------------


def linear_enclosure(
    op: LinearOp, c: torch.Tensor, r: torch.Tensor, *, with_bias: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """``{A x + b : x in [c - r, c + r]}`` enclosed, rounding included."""
    g = gamma(op.fan_in)
    out_c = op.lin(c)
    r_in = c.abs().mul_(2.0 * g).add_(r, alpha=1.0 + 4.0 * g)
    out_r = op.abs_lin(r_in).mul_(1.0 + 2.0 * g).add_(TINY)
    if with_bias and op.bias is not None:
        out_c = out_c + op.bias
        out_r = out_r + (2.0 * U) * out_c.abs()
        if op.bias_err is not None:
            out_r = out_r + op.bias_err
    return out_c, out_r


def activation_values(op: ActOp, lo: torch.Tensor, hi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Enclosure of ``sigma([lo, hi])`` for a non-decreasing activation."""
    k = op.kind
    if k == "relu":
        return torch.relu(lo), torch.relu(hi)
    if k == "leaky_relu":
        a = op.param
        return down(torch.where(lo < 0, a * lo, lo)), up(torch.where(hi < 0, a * hi, hi))
    if k == "elu":
        a = op.param
        f_lo = torch.where(lo < 0, _libm_lo(a * torch.expm1(lo)), lo)
        f_hi = torch.where(hi < 0, _libm_hi(a * torch.expm1(hi)), hi)
        return f_lo, f_hi
    if k == "clamp":
        return torch.clamp(lo, op.param, op.param2), torch.clamp(hi, op.param, op.param2)
    fn = torch.tanh if k == "tanh" else torch.sigmoid
    return _libm_lo(fn(lo)), _libm_hi(fn(hi))


def activation_slopes(op: ActOp, lo: torch.Tensor, hi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Bounds ``[d_lo, d_hi]`` on the (generalised) derivative of ``sigma`` over ``[lo, hi]``, ``d_lo >= 0``."""
    k = op.kind
    one, zero = torch.ones_like(lo), torch.zeros_like(lo)
    if k in ("relu", "leaky_relu"):
        a = op.param if k == "leaky_relu" else 0.0
        neg = lo <= 0  # the slope a is reached
        pos = hi >= 0  # the slope 1 is reached
        sa = torch.full_like(lo, a)
        d_lo = torch.where(neg & pos, min(a, 1.0) * one, torch.where(neg, sa, one))
        d_hi = torch.where(neg & pos, max(a, 1.0) * one, torch.where(neg, sa, one))
        return d_lo, d_hi
    if k == "clamp":  # slope 1 inside (param, param2), 0 outside, both at the ends
        inside = (hi >= op.param) & (lo <= op.param2)
        outside = (lo <= op.param) | (hi >= op.param2)
        d_lo = torch.where(outside, zero, one)
        d_hi = torch.where(inside, one, zero)
        return d_lo, d_hi
    if k == "elu":
        a = op.param
        neg, pos = lo <= 0, hi >= 0
        e_lo = _libm_lo(a * torch.exp(torch.clamp(lo, max=0.0))).clamp_min(0.0)
        e_hi = _libm_hi(a * torch.exp(torch.clamp(hi, max=0.0)))
        d_lo = torch.where(neg, torch.where(pos, torch.minimum(e_lo, one), e_lo), one)
        d_hi = torch.where(neg, torch.where(pos, torch.maximum(e_hi, one), e_hi), one)
        return d_lo, d_hi
    # tanh' = sech^2 and sigmoid' = sigmoid(x) sigmoid(-x): even, largest at 0, decreasing in |x|
    near = torch.where(lo > 0, lo, torch.where(hi < 0, -hi, zero))  # |x| closest to 0
    far = torch.maximum(lo.abs(), hi.abs())
    if k == "tanh":
        f = lambda x: 1.0 / torch.cosh(x) ** 2
    else:
        f = lambda x: torch.sigmoid(x) * torch.sigmoid(-x)
    return _libm_lo(f(far)).clamp_min(0.0), _libm_hi(f(near))


def scale_jacobian(
    d_lo: torch.Tensor, d_hi: torch.Tensor, jac: Jac
) -> Jac:
    """``{D J : D in [d_lo, d_hi] (diagonal, >= 0), J in jac}`` enclosed.

    With ``D = D_c + E`` (``|E| <= D_r``) and ``J = C + Delta``:
    ``D J = D_c C + (D_c Delta + E C + E Delta)``.  The new center is ``D_c C``; the
    remainder is at most ``D_c R + D_r (|C| + R)`` entrywise and at most
    ``max(D_c) eps + || D_r |C| ||_2 + max(D_r) eps`` in spectral norm.
    """
    jc, jr, eps = jac
    b = jc.shape[0]
    if bool((d_lo == d_hi).all()):  # every slope known exactly (stable ReLUs, linear pieces): D = diag(d_lo)
        c = jc * d_lo
        fro_c = torch.linalg.vector_norm(c.reshape(b, -1), dim=1)
        r = grow_(jr * d_lo, 1).add_(c.abs(), alpha=2.0 * U)
        scale_max = d_lo.reshape(b, -1).max(dim=1).values
        return c, r, up(scale_max * eps * (1.0 + 4.0 * U)) + (4.0 * U) * fro_c + TINY
    d_c, d_r = midrad(d_lo, d_hi)
    c = jc * d_c
    fro_c = torch.linalg.vector_norm(c.reshape(b, -1), dim=1)
    ja = jc.abs()
    ec = ja * d_r  # |E C| <= D_r |C|
    r = grow_((ja.add_(jr)).mul_(d_r).addcmul_(jr, d_c), 4).add_(c.abs(), alpha=2.0 * U)
    if not bool(torch.isfinite(eps).any()):
        return c, r, eps
    top = (d_c + d_r).reshape(b, -1).max(dim=1).values
    n = jc.shape[1]
    new_eps = up(top * eps * (1.0 + 4.0 * U) + spectral_norm_upper(ec.reshape(b, n, -1).transpose(1, 2)))
    return c, r, new_eps + (4.0 * U) * fro_c + TINY


def _maxpool_windows(x: torch.Tensor, k: int) -> torch.Tensor:
    """``(N, C, H, W) -> (N, C, H // k, W // k, k * k)``: the pooling windows."""
    n, ch, h, w = x.shape
    x = x[:, :, : (h // k) * k, : (w // k) * k]
    x = x.reshape(n, ch, h // k, k, w // k, k).permute(0, 1, 2, 4, 3, 5)
    return x.reshape(n, ch, h // k, w // k, k * k)


# ---------------------------------------------------------------------------------------------
# Propagation
# ---------------------------------------------------------------------------------------------


@dataclass
class Sets:
    """A batch of input sets ``S_b = box_b (intersected with a superset known from ``parent``)``.

    ``center``, ``half`` (``(B, n)``, flat input coordinates): the box ``center +- half``;
    ``point`` (``(B, n)``): a point of ``S_b``, the base of the mean-value form;
    ``radius`` (``(B,)``): every point of ``S_b`` lies within this l2 distance of ``point``;
    ``parent``: per value of the program, ``(lo, hi)`` enclosures known to hold on a
    superset of ``S_b`` (they are intersected in), or ``None``.
    """

    center: torch.Tensor
    half: torch.Tensor
    point: torch.Tensor
    radius: torch.Tensor
    parent: list[tuple[torch.Tensor, torch.Tensor]] | None = None


@dataclass
class Propagation:
    """Enclosures at the last value: ``point`` and ``value`` as ``(center, radius)`` of shape
    ``(B, *features)``, ``jacobian`` as ``(C, R, eps)`` (see :data:`Jac`; ``C``, ``R`` of shape
    ``(B, n, *features)`` for ``n`` input coordinates), and, with ``keep=True``, every value's
    ``(lo, hi)``."""

    point: tuple[torch.Tensor, torch.Tensor]
    value: tuple[torch.Tensor, torch.Tensor]
    jacobian: Jac | None
    enclosures: list[tuple[torch.Tensor, torch.Tensor]] | None


def _row_norms(jac: Jac, mag: torch.Tensor) -> torch.Tensor:
    """Per feature (flattened), an upper bound on the l2 norm over the inputs of that row of every Jacobian.

    ``mag`` is ``|C| + R`` rounded up, as ``(B, n, features)``: a row is at most
    ``min(|| |C_i| + R_i ||_2, ||C_i||_2 + eps)``.
    """
    jc, _, eps = jac
    b, n = mag.shape[:2]
    extra = 1.0 + 2.0 * gamma(n)
    rows = torch.sqrt((mag * mag).sum(dim=1).mul_(extra)).mul_(extra)
    if bool(torch.isfinite(eps).any()):
        c = jc.reshape(b, n, -1)
        rows_c = torch.sqrt((c * c).sum(dim=1).mul_(extra)).mul_(extra)
        rows = torch.minimum(rows, rows_c.add_(eps[:, None]).mul_(1.0 + 2.0 * U))
    return rows.add_(TINY)


def _magnitude(jac: Jac) -> torch.Tensor:
    """``|C| + R`` rounded up, as ``(B, n, features)``."""
    jc, jr, _ = jac
    b, n = jc.shape[:2]
    return grow_(jc.abs().add_(jr), 1).reshape(b, n, -1)


def _mean_value_radius(jac: Jac, sets: Sets, reach: torch.Tensor) -> torch.Tensor:
    """``min(rho * row norm, sum_j |J|_ij reach_j)`` per feature, rounded up."""
    jc = jac[0]
    b, n = jc.shape[:2]
    mag = _magnitude(jac)
    l2 = _row_norms(jac, mag).mul_(sets.radius[:, None])
    l1 = torch.einsum("bnf,bn->bf", mag, reach)
    return grow_(torch.minimum(l2, l1.mul_(1.0 + 2.0 * gamma(n))), 1).reshape(b, *jc.shape[2:])


def _linear_jacobian(op: LinearOp, jac: Jac) -> Jac:
    """``A J``: center ``A C``, entrywise remainder ``|A| R``, spectral ``||A|| eps`` (each plus rounding)."""
    from ._lipschitz import frobenius_norm, operator_norm_upper

    jc, jr, eps = jac
    b, n = jc.shape[:2]
    c, r = linear_enclosure(op, jc.flatten(0, 1), jr.flatten(0, 1), with_bias=False)
    c = c.reshape(b, n, *c.shape[1:])
    r = r.reshape(b, n, *r.shape[1:])
    if bool(torch.isfinite(eps).any()):
        # rounding of A C: entrywise <= gamma |A| |C|, so in Frobenius norm <= gamma ||A||_F ||C||_F
        fro_c = torch.linalg.vector_norm(jc.reshape(b, -1), dim=1)
        g = gamma(op.fan_in)
        eps = up(operator_norm_upper(op) * eps * (1.0 + 4.0 * U) + (2.0 * g) * frobenius_norm(op) * fro_c) + TINY
    return c, r, eps


def propagate(
    program: Program,
    sets: Sets,
    *,
    jacobian: bool = True,
    mean_value: bool = True,
    keep: bool = False,
    upto: int | None = None,
) -> Propagation:
    """Enclose the program's values (and Jacobian) over each set of ``sets``.

    ``upto`` stops after that many nodes (the value ``upto`` is returned).
    """
    nodes = program.nodes if upto is None else program.nodes[:upto]
    last = program.last_use()
    b, n = sets.center.shape
    in_shape = program.in_shape
    shape_of = lambda t: t.reshape(b, *in_shape)
    mean_value = mean_value and jacobian
    reach = up(sets.half + (sets.point - sets.center).abs()) if mean_value else None

    pts: list[tuple[torch.Tensor, torch.Tensor] | None] = []
    vals: list[tuple[torch.Tensor, torch.Tensor] | None] = []
    jacs: list[Jac | None] = []
    encl: list[tuple[torch.Tensor, torch.Tensor]] = []

    pc = shape_of(sets.point)
    pts.append((pc, torch.zeros_like(pc)))
    v_c, v_r = shape_of(sets.center), shape_of(sets.half)
    if sets.parent is not None:
        v_c, v_r = _intersect(v_c, v_r, sets.parent[0])
    vals.append((v_c, v_r))
    if keep:
        encl.append(endpoints(v_c, v_r))
    if jacobian:
        eye = torch.eye(n, dtype=pc.dtype, device=pc.device).expand(b, n, n)
        zeros = torch.zeros((b, n, *in_shape), dtype=pc.dtype, device=pc.device)
        jacs.append((eye.reshape(b, n, *in_shape), zeros, torch.zeros(b, dtype=pc.dtype, device=pc.device)))
    else:
        jacs.append(None)

    for i, node in enumerate(nodes):
        op = node.op
        ins = node.inputs
        p_in = [pts[j] for j in ins]
        v_in = [vals[j] for j in ins]
        j_in = [jacs[j] for j in ins]
        jac: Jac | None = None
        if isinstance(op, LinearOp):
            pt = linear_enclosure(op, *p_in[0])  # type: ignore[misc]
            val = linear_enclosure(op, *v_in[0])  # type: ignore[misc]
            if jacobian:
                jac = _linear_jacobian(op, j_in[0])  # type: ignore[arg-type]
        elif isinstance(op, ActOp):
            lo, hi = endpoints(*p_in[0])  # type: ignore[misc]
            pt = midrad(*activation_values(op, lo, hi))
            lo, hi = endpoints(*v_in[0])  # type: ignore[misc]
            val = midrad(*activation_values(op, lo, hi))
            if jacobian:
                d_lo, d_hi = activation_slopes(op, lo, hi)
                jac = scale_jacobian(d_lo[:, None], d_hi[:, None], j_in[0])  # type: ignore[arg-type]
        elif isinstance(op, ReshapeOp):
            pt = _reshape(p_in[0], (b,), op.out_shape)  # type: ignore[arg-type]
            val = _reshape(v_in[0], (b,), op.out_shape)  # type: ignore[arg-type]
            if jacobian:
                jc, jr, eps = j_in[0]  # type: ignore[misc]
                jac = (jc.reshape(b, n, *op.out_shape), jr.reshape(b, n, *op.out_shape), eps)
        elif isinstance(op, AddOp):
            pt = _add(p_in[0], p_in[1], op.sign)  # type: ignore[arg-type]
            val = _add(v_in[0], v_in[1], op.sign)  # type: ignore[arg-type]
            if jacobian:
                (c1, r1, e1), (c2, r2, e2) = j_in  # type: ignore[misc]
                c, r = _add((c1, r1), (c2, r2), op.sign)
                fro = torch.linalg.vector_norm(c.reshape(b, -1), dim=1)
                jac = (c, r, up(e1 + e2) + (4.0 * U) * fro + TINY)
        elif isinstance(op, MaxPoolOp):
            pt = _maxpool_values(*p_in[0], op.kernel)  # type: ignore[misc]
            val = _maxpool_values(*v_in[0], op.kernel)  # type: ignore[misc]
            if jacobian:
                jac = _maxpool_jacobian(v_in[0], j_in[0], op.kernel)  # type: ignore[arg-type]
        else:  # pragma: no cover - the program builder emits only the kinds above
            raise TypeError(f"unknown operation {op!r}")
        # the mean-value form where it tightens what follows: pre-activations (outputs of linear
        # maps and sums) and the last value
        if mean_value and (isinstance(op, (LinearOp, AddOp)) or i == len(nodes) - 1):
            assert jac is not None and reach is not None
            mv = _mean_value_radius(jac, sets, reach)
            val = _intersect(*val, endpoints(pt[0], up(pt[1] + mv)))
        if sets.parent is not None and not isinstance(op, ReshapeOp):
            val = _intersect(*val, sets.parent[i + 1])
        pts.append(pt)
        vals.append(val)
        jacs.append(jac)
        if keep:
            encl.append(endpoints(*val))
        for j in set(ins):  # free what no later node reads
            if last[j] == i and j != 0:
                pts[j] = vals[j] = jacs[j] = None
    return Propagation(pts[-1], vals[-1], jacs[-1], encl if keep else None)  # type: ignore[arg-type]


def _intersect(
    c: torch.Tensor, r: torch.Tensor, other: tuple[torch.Tensor, torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor]:
    lo, hi = endpoints(c, r)
    lo2, hi2 = other
    lo, hi = torch.maximum(lo, lo2), torch.minimum(hi, hi2)
    # both contain the true range, so they meet; guard against a float-width miss anyway
    hi = torch.maximum(hi, lo)
    return midrad(lo, hi)


def _reshape(
    x: tuple[torch.Tensor, torch.Tensor], lead: tuple[int, ...], shape: tuple[int, ...]
) -> tuple[torch.Tensor, torch.Tensor]:
    return x[0].reshape(*lead, *shape), x[1].reshape(*lead, *shape)


def _add(
    a: tuple[torch.Tensor, torch.Tensor], b: tuple[torch.Tensor, torch.Tensor], sign: float
) -> tuple[torch.Tensor, torch.Tensor]:
    c = a[0] + sign * b[0]
    return c, up(a[1] + b[1]) + (2.0 * U) * c.abs() + TINY


def _maxpool_values(c: torch.Tensor, r: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    lo, hi = endpoints(c, r)
    return midrad(torch.nn.functional.max_pool2d(lo, k), torch.nn.functional.max_pool2d(hi, k))


def _maxpool_jacobian(val: tuple[torch.Tensor, torch.Tensor], jac: Jac, k: int) -> Jac:
    """The output's Jacobian lies in the hull of the Jacobians of the inputs that can be the maximum.

    (No spectral remainder is tracked through a max-pool: ``eps`` becomes ``inf``.)
    """
    lo, hi = endpoints(*val)
    win_lo, win_hi = _maxpool_windows(lo, k), _maxpool_windows(hi, k)
    can_win = win_hi >= win_lo.max(dim=-1, keepdim=True).values  # (B, C, h, w, k*k)
    jc, jr, _ = jac
    b, n = jc.shape[:2]
    j_lo, j_hi = endpoints(jc.flatten(0, 1), jr.flatten(0, 1))
    w_lo = _maxpool_windows(j_lo, k).reshape(b, n, *can_win.shape[1:])
    w_hi = _maxpool_windows(j_hi, k).reshape(b, n, *can_win.shape[1:])
    mask = can_win[:, None]
    out_lo = torch.where(mask, w_lo, torch.full_like(w_lo, _INF)).min(dim=-1).values
    out_hi = torch.where(mask, w_hi, torch.full_like(w_hi, -_INF)).max(dim=-1).values
    c, r = midrad(out_lo, out_hi)
    return c, r, torch.full((b,), _INF, dtype=c.dtype, device=c.device)


# ---------------------------------------------------------------------------------------------
# Norms
# ---------------------------------------------------------------------------------------------


def spectral_norm_upper(m: torch.Tensor) -> torch.Tensor:
    r"""Upper bounds on the spectral norms of a batch of real matrices ``(..., rows, cols)``.

    ``||M||_2^2`` is the largest eigenvalue of the Gram matrix ``G`` (``M^T M`` or ``M M^T``,
    whichever is smaller, ``k x k``).  Forming ``G`` in float64 errs by at most
    ``gamma_n ||M||_F^2`` in spectral norm (``n`` the inner dimension); the eigensolver is
    backward stable, its eigenvalues exact for ``G + F`` with ``||F||_2 <= 8 k u ||G||_F``
    (the one assumption).  Both are added before the square root, which is rounded up.
    For an exactly represented matrix the result exceeds the true norm by a relative
    ``~ u (n ||M||_F^2 / ||M||_2^2 + 8 k^1.5) / 2``, about ``1e-11`` at ``n = 3072``, ``k = 100``.
    """
    rows, cols = m.shape[-2:]
    if cols <= rows:
        gram = m.transpose(-1, -2) @ m
        inner, k = rows, cols
    else:
        gram = m @ m.transpose(-1, -2)
        inner, k = cols, rows
    fro2 = (m * m).sum(dim=(-2, -1)) * (1.0 + 2.0 * gamma(rows * cols))
    lam = torch.linalg.eigvalsh(gram)[..., -1].clamp_min(0.0)
    gfro = torch.linalg.matrix_norm(gram, "fro") * (1.0 + 2.0 * gamma(k * k))
    err = gamma(inner) * fro2 + (8.0 * k * U) * gfro
    return up(torch.sqrt(up(up(lam + err) * (1.0 + 4.0 * U)))) + TINY


def row_norms_upper(m: torch.Tensor) -> torch.Tensor:
    """Upper bounds on the l2 norms of the rows of non-negative ``(..., rows, cols)`` matrices."""
    cols = m.shape[-1]
    extra = 1.0 + 2.0 * gamma(cols)
    return up(torch.sqrt(up((m * m).sum(dim=-1) * extra)) * (1.0 + 4.0 * U)) + TINY


def jacobian_norm_upper(jac: Jac, norm: str) -> tuple[torch.Tensor, torch.Tensor]:
    r"""``sup ||J||`` over a Jacobian enclosure, and per-output row norms.

    Returns ``(L, rows)``: ``L`` bounds the operator norm from l2 (inputs) to ``norm``
    (outputs) of every Jacobian of the enclosure, ``rows[b, i]`` the l2 norm of its row
    ``i``.  For the l2 norm ``L = min(||C||_2 + min(||R||_2, eps), || |C| + R ||_2)`` (the
    spectral norm is monotone on non-negative matrices and ``|J| <= |C| + R``); for
    l-infinity, the largest row norm, each row at most ``min(|| |C_i| + R_i ||_2,
    ||C_i||_2 + eps)``.  Exact when ``R = 0`` and ``eps = 0`` (up to rounding).
    """
    jc, jr, eps = jac
    b, n = jc.shape[:2]
    mag = _magnitude(jac)
    rows = _row_norms(jac, mag)
    if norm == "linf":
        return rows.max(dim=1).values, rows
    c = jc.reshape(b, n, -1).transpose(1, 2)  # (B, outputs, inputs)
    r = jr.reshape(b, n, -1).transpose(1, 2)
    rem = torch.minimum(spectral_norm_upper(r), eps)
    lip = torch.minimum(up(spectral_norm_upper(c) + rem), spectral_norm_upper(mag.transpose(1, 2)))
    return lip, rows
