r"""Exact minimal adversarial perturbations of small ReLU networks, by mixed-integer programming.

For a classifier :math:`F: \mathbb{R}^n \to \mathbb{R}^K` built from affine maps and
ReLUs, an input :math:`x` with the model's own prediction
:math:`\ell = \arg\max_k F_k(x)`, and a norm :math:`p \in \{1, \infty\}`, the functions
here compute

.. math::

    d^*_p(x) = \inf \{\, \|x' - x\|_p : x' \in [lo, hi]^n,\ \max_{k \ne \ell} F_k(x') > F_\ell(x') \,\},

the distance from :math:`x` to the nearest point that the classifier puts in another
class (the true value that every attack estimates from above).  Since :math:`F` is
continuous, the infimum equals the minimum of :math:`\|x' - x\|_p` over the closed set
:math:`\max_{k \ne \ell} F_k(x') \ge F_\ell(x')`: a point of the decision boundary.  That
minimum is the optimum of a mixed-integer linear program (MILP):

* the input :math:`x'` is continuous, in the box and in the ball
  :math:`\|x' - x\|_p \le R` of a radius :math:`R` known to contain the optimum (the
  distance found by a quick DeepFool attack, or ``max_radius``);
* every hidden pre-activation :math:`h_j = w_j^\top a + b_j` gets bounds
  :math:`l_j \le h_j \le u_j` valid over that ball.  A neuron with :math:`u_j \le 0` is
  zero, one with :math:`l_j \ge 0` is linear, and only the *unstable* ones
  (:math:`l_j < 0 < u_j`) need a binary :math:`z_j` and the big-M encoding

  .. math::

      a_j \ge 0,\quad a_j \ge h_j,\quad a_j \le u_j z_j,\quad a_j \le h_j - l_j (1 - z_j);

* one program covers all target classes: a binary selector :math:`s_k` per class
  that can be reached inside the ball, :math:`\sum_k s_k = 1` and
  :math:`F_k - F_\ell \ge L_k (1 - s_k)` with :math:`L_k` a lower bound of
  :math:`F_k - F_\ell` (``formulation="per_target"`` solves one program per class
  instead, each with the best distance so far as a cut-off).

The bounds come from interval arithmetic, then symbolic (CROWN-style) linear bounds
(``tightening="symbolic"``, the default), and optionally, for every neuron still
unstable, two linear programs over the LP relaxation of the layers below
(``tightening="lp"``).  The tighter the bounds, the fewer
unstable neurons, the smaller the big-M constants and the faster the MILP.  With
symbolic or LP tightening, a bisection on the radius of the symbolic bounds also gives,
per target class, a radius :math:`\rho_k` within which class :math:`k` cannot be
reached; the program gets :math:`\|x' - x\| \ge \sum_k \rho_k s_k` as a cut (and a
per-class program is skipped when :math:`\rho_k` exceeds the best distance so far).
Once solved, one more LP, on the activation region of the MILP's point (where the
network is affine, so no big-M constant is involved), gives the optimum to about
``1e-9``, where the big-M program is accurate to the solver's tolerances.

The radius :math:`R` matters: the ball sets the bounds.  In L-infinity it is the
distance of DeepFool's refined point; in L1 the smallest L1 norm among DeepFool's
L-infinity and L2 points and a box-aware L1 variant of DeepFool run here (which moves
the coordinates with the largest gradient first: L1-minimal perturbations are sparse).

Soundness
---------
* Interval and symbolic bounds are widened by a relative ``1e-9`` against float64
  rounding.  LP bounds are not taken from the solver's objective: they are recomputed
  from its dual multipliers by weak duality (for *any* multipliers of the right sign,
  :math:`\min c^\top x \ge \sum_j \min(r_j l_j, r_j u_j) - \lambda^\top b` with
  :math:`r = c + A^\top \lambda`), so they hold whatever the solver's tolerances.
  A test shows that bounds shrunk below the truth make the answers wrong.
* The MILP is solved by HiGHS (``scipy.optimize.milp``) in floating point.  HiGHS
  prunes nodes within its stopping gap of the incumbent (``rel_gap``, and an absolute
  ``1e-6`` that scipy does not expose; the objective is scaled so that this absolute gap
  is ``1e-10`` of the radius), so its reported dual bound can exceed the optimum by up to
  that gap.  :attr:`ExactResult.lower_bound` is therefore
  :math:`\min(\text{dual}, \text{primal} (1 - \text{rel\_gap}))` less a slack of
  ``1e-7`` of the radius for the solver's feasibility tolerances.  It relies on the
  solver's floating-point arithmetic, as for every MILP-based verifier; it is not a
  certificate in exact arithmetic.  It involves no estimate and no probability: its
  confidence is 1 in that sense.  Tolerances that *relax* a constraint (a binary at
  ``1e-6`` instead of 0) only lower the optimum, the safe side for a lower bound.
* The optimum is a boundary point, where the classes tie: the minimum over the closed
  set equals the infimum over the adversarial (open) set, and is attained by no
  adversarial point.  The returned perturbation is never taken on trust: a forward pass
  of the model itself, in float64, must show another class strictly ahead (by 64 ulps
  of the largest logit).  When the optimum's point is not (it sits on the tie), it is
  pushed across the boundary, along the gradient of :math:`F_k - F_\ell` or outwards
  along itself, by the smallest of a doubling sequence of steps that works (at most
  ``1e-4`` of the distance); :attr:`ExactResult.upper_bound` is the norm of that
  verified point.  So ``lower_bound <= d* <= upper_bound``, and where the status is
  ``"optimal"``, ``lower_bound <= distance <= upper_bound`` with
  ``upper_bound - lower_bound`` about ``rel_gap * distance``.

Size limit
----------
The cost grows exponentially with the number of unstable neurons in the worst case.
Measured on the digits, L-infinity, one thread on a shared 2-core machine
(``benchmarks/bench_exact.py``, which has the figures; two hidden layers of width w,
time limit 60 s): w = 32 (64 hidden ReLUs, 12-28 unstable at the attack's radius) takes
0.7 s per input (median; 3 s at most over 50 inputs); w = 64 (128 ReLUs, up to about 50
unstable) 3 s (7 s at most); w = 128 (256 ReLUs, 80-100 unstable) about a minute, some
inputs past it; w = 256 (512 ReLUs, about 190 unstable) finishes none within a minute.
About 100 unstable neurons is the practical limit.
Beyond that use ``time_limit``: the result then carries the proven lower and upper
bounds (status ``"time_limit"``).

Only sequential networks of :class:`torch.nn.Linear`, :class:`torch.nn.ReLU` and
:class:`torch.nn.Flatten` layers, optionally behind an affine input normalisation
(:class:`isobound_torch.models.Normalize`), are accepted (nested
:class:`torch.nn.Sequential`, :class:`isobound_torch.models.MLP`, identities and
dropout in eval mode included).  The L2 distance is not a MILP and is not offered.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy import optimize, sparse
from torch import nn

from ._validate import model_mode_problem

__all__ = [
    "ExactResult",
    "exact_certified_radius",
    "exact_distance",
    "exact_l1_distance",
    "exact_linf_distance",
    "exact_unsupported",
]

#: Norms offered (L2 is not a linear objective).
NORMS = ("linf", "l1")
#: Ways to bound the pre-activations, weakest first.
TIGHTENINGS = ("interval", "symbolic", "lp")
#: One program over all target classes, or one per class.
FORMULATIONS = ("single", "per_target")
#: Sample statuses.
STATUSES = ("optimal", "time_limit", "infeasible", "failed")

#: Relative widening of interval and symbolic bounds (float64 rounding).
_WIDEN = 1e-9
#: Slack taken off the solver's MILP lower bound (its tolerances), relative to the scaled objective.
_DUAL_SLACK = 1e-7
#: The objective is scaled so that the radius of the ball is worth this much.
_OBJECTIVE_SCALE = 1e4
#: A point is adversarial when another logit leads by this many ulps of the largest logit.
_MARGIN_ULPS = 64.0
#: Largest push across the boundary, relative to the distance (plus this much absolute).
_MAX_PUSH = 1e-4


# ---------------------------------------------------------------------------------------
# Result
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ExactResult:
    r"""Per-sample outcome of :func:`exact_linf_distance` / :func:`exact_l1_distance`.

    For each of ``n`` inputs, ``lower_bound <= d* <= upper_bound`` where ``d*`` is the
    true minimal adversarial distance; when the status is ``"optimal"`` both are within
    the solver's gap of :attr:`distance`.

    Attributes
    ----------
    distance : torch.Tensor
        float64 ``(n,)``: the MILP optimum, the exact minimal distance (to the solver's
        gap, ``max(rel_gap * d, 1e-6)``) where the status is ``"optimal"``; ``inf``
        where no point of the box is adversarial; ``nan`` where it is not known
        (time limit, no adversarial point within ``max_radius``, solver failure).
    lower_bound : torch.Tensor
        float64 ``(n,)``: proven lower bound on the minimal distance (the solver's dual
        bound less its tolerance slack; ``radius`` where the ball of that radius holds
        no adversarial point; 0 where nothing is proven).
    upper_bound : torch.Tensor
        float64 ``(n,)``: norm of :attr:`perturbation`, verified adversarial by a
        float64 forward pass of the model; ``inf`` where none was found.
    perturbation : torch.Tensor
        float64, the input's shape, on the input's device: ``adversarial - x`` (zeros
        where :attr:`success` is false).  Kept in float64: the point lies within a
        hair of the decision boundary, and rounding it to float32 may undo the flip.
    adversarial : torch.Tensor
        float64 ``x + perturbation``, inside ``bounds``.
    success : torch.Tensor
        bool ``(n,)``: a verified adversarial point was found.
    label, adv_label : torch.Tensor
        int64 ``(n,)``: the model's prediction at ``x`` (what robustness is measured
        against) and, float64, at :attr:`adversarial` (``label`` where no success).
    status : tuple of str
        Per sample: ``"optimal"``, ``"time_limit"`` (bounds as proven when time ran
        out), ``"infeasible"`` (no adversarial point within :attr:`radius`, which is
        then the lower bound) or ``"failed"`` (solver error; see :attr:`message`).
    radius : torch.Tensor
        float64 ``(n,)``: the radius ``R`` of the ball the program was built on.
    n_unstable : torch.Tensor
        int64 ``(n,)``: unstable hidden neurons (binaries of the ReLU encoding), summed
        over radii tried.
    n_binaries : torch.Tensor
        int64 ``(n,)``: all binaries of the (last) program, target selectors included.
    nodes : torch.Tensor
        int64 ``(n,)``: branch-and-bound nodes, summed over the programs solved.
    bound_time, solve_time, time : torch.Tensor
        float64 ``(n,)`` seconds: bound tightening, MILP solves, and the whole sample
        (the shared attack's time split evenly, witness verification included).
    norm : str
        ``"linf"`` or ``"l1"``.
    n_hidden : int
        Hidden ReLUs of the network.
    message : tuple of str
        The solver's last message per sample.
    """

    distance: torch.Tensor
    lower_bound: torch.Tensor
    upper_bound: torch.Tensor
    perturbation: torch.Tensor
    adversarial: torch.Tensor
    success: torch.Tensor
    label: torch.Tensor
    adv_label: torch.Tensor
    status: tuple[str, ...]
    radius: torch.Tensor
    n_unstable: torch.Tensor
    n_binaries: torch.Tensor
    nodes: torch.Tensor
    bound_time: torch.Tensor
    solve_time: torch.Tensor
    time: torch.Tensor
    norm: str
    n_hidden: int
    message: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.label.shape[0])

    @property
    def optimal(self) -> torch.Tensor:
        """bool ``(n,)``: the status is ``"optimal"`` (the distance is exact)."""
        return torch.tensor([s == "optimal" for s in self.status], dtype=torch.bool)

    @property
    def distances(self) -> torch.Tensor:
        """:attr:`upper_bound`: the measured distance of a verified adversarial point (``inf`` if none).

        The same convention as the attacks' ``distances``: a value a point achieves.
        """
        return self.upper_bound


# ---------------------------------------------------------------------------------------
# The network as affine maps and ReLUs (float64)
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Net:
    """``F(x) = W_L relu(... relu(W_1 x + b_1) ...) + b_L`` on flattened inputs, float64."""

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]

    @property
    def n_layers(self) -> int:
        return len(self.weights)

    @property
    def n_in(self) -> int:
        return int(self.weights[0].shape[1])

    @property
    def n_hidden(self) -> int:
        return int(sum(W.shape[0] for W in self.weights[:-1]))

    def forward(self, x: np.ndarray) -> np.ndarray:
        h = x
        for i, (W, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = h @ W.T + b
            if i < self.n_layers - 1:
                h = np.maximum(h, 0.0)
        return h


def _leaves(module: nn.Module, prefix: str) -> Iterator[tuple[str, nn.Module]]:
    """The layers of ``module`` in call order (Sequential and MLP containers opened)."""
    from .models import MLP

    if isinstance(module, nn.Sequential):
        for name, child in module.named_children():
            yield from _leaves(child, f"{prefix}.{name}" if prefix else name)
    elif isinstance(module, MLP):
        yield from _leaves(module.net, f"{prefix}.net" if prefix else "net")
    else:
        yield (prefix or "the model itself"), module


def _extract(model: nn.Module, in_shape: tuple[int, ...]) -> _Net:
    """The affine/ReLU chain computed by ``model`` on inputs of shape ``(batch, *in_shape)``."""
    from .models import Normalize

    shape = in_shape
    ops: list[tuple[np.ndarray, np.ndarray] | None] = []  # (W, b) or None for a ReLU
    supported = "Flatten, Linear, ReLU and (in front) Normalize layers"
    for name, layer in _leaves(model, ""):
        kind = type(layer).__name__
        if isinstance(layer, nn.Identity) or (isinstance(layer, nn.Dropout) and not layer.training):
            continue
        if isinstance(layer, nn.ReLU):
            if not ops or ops[-1] is not None:
                ops.append(None)
            continue
        if isinstance(layer, nn.Flatten):
            if layer.start_dim not in (1, -len(shape) - 1) or layer.end_dim != -1:
                raise ValueError(
                    f"layer {name!r} is Flatten(start_dim={layer.start_dim}, end_dim={layer.end_dim}); "
                    f"exact distances need Flatten(start_dim=1, end_dim=-1)"
                )
            shape = (math.prod(shape),)
            continue
        if isinstance(layer, Normalize):
            channels = int(layer.mean.numel())
            if len(shape) != 3 or shape[0] != channels:
                raise ValueError(
                    f"Normalize layer {name!r} with {channels} channel(s) gets inputs of shape {shape}; "
                    f"it must come first, on (C, H, W) images with C = {channels}"
                )
            per = shape[1] * shape[2]
            mean = layer.mean.detach().cpu().double().flatten().numpy()
            std = layer.std.detach().cpu().double().flatten().numpy()
            scale = np.repeat(1.0 / std, per)
            ops.append((np.diag(scale), np.repeat(-mean / std, per)))
            continue
        if isinstance(layer, nn.Linear):
            if len(shape) != 1 or shape[0] != layer.in_features:
                hint = " (a Flatten is needed in front)" if len(shape) != 1 else ""
                raise ValueError(
                    f"Linear layer {name!r} expects {layer.in_features} features but gets inputs of shape "
                    f"{shape}{hint}"
                )
            W = layer.weight.detach().cpu().double().numpy().copy()
            b = (
                layer.bias.detach().cpu().double().numpy().copy()
                if layer.bias is not None
                else np.zeros(layer.out_features)
            )
            ops.append((W, b))
            shape = (layer.out_features,)
            continue
        raise ValueError(f"exact distances support {supported} only; layer {name!r} is a {kind}")
    if len(shape) != 1:
        raise ValueError(f"the model's layers end on shape {shape}, not a vector of logits")
    n_in = math.prod(in_shape)
    if not ops or ops[0] is None:
        ops.insert(0, (np.eye(n_in), np.zeros(n_in)))
    if ops[-1] is None:
        ops.append((np.eye(shape[0]), np.zeros(shape[0])))
    weights: list[np.ndarray] = []
    biases: list[np.ndarray] = []
    pending: tuple[np.ndarray, np.ndarray] | None = None
    for op in ops:
        if op is None:
            assert pending is not None  # ops alternate and start with an affine map
            weights.append(pending[0])
            biases.append(pending[1])
            pending = None
        elif pending is None:
            pending = op
        else:  # two affine maps in a row compose
            pending = (op[0] @ pending[0], op[0] @ pending[1] + op[1])
    assert pending is not None
    weights.append(pending[0])
    biases.append(pending[1])
    if weights[0].shape[1] != n_in:  # a model without Flatten on 1-d features
        raise ValueError(f"the model's first layer expects {weights[0].shape[1]} features, x has {n_in}")
    return _Net(tuple(weights), tuple(biases))


# ---------------------------------------------------------------------------------------
# The input set and bounds on the pre-activations
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Domain:
    """``{x' : lo <= x' <= hi, ||x' - x0||_p <= radius}`` (``lo``, ``hi`` already within the radius)."""

    x0: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    radius: float
    norm: str

    @classmethod
    def build(cls, x0: np.ndarray, radius: float, norm: str, box: tuple[float, float] | None) -> _Domain:
        lo, hi = x0 - radius, x0 + radius
        if box is not None:
            lo, hi = np.maximum(lo, box[0]), np.minimum(hi, box[1])
        return cls(x0, np.minimum(lo, x0), np.maximum(hi, x0), float(radius), norm)

    def maximum(self, A: np.ndarray, c: np.ndarray) -> np.ndarray:
        """``max A x' + c`` over the domain, row by row (exact)."""
        if self.norm == "linf":
            box_max: np.ndarray = np.maximum(A, 0) @ self.hi + np.minimum(A, 0) @ self.lo + c
            return box_max
        up, down = self.hi - self.x0, self.x0 - self.lo
        cap = np.where(A > 0, up, down)
        ball_max: np.ndarray = A @ self.x0 + c + _knapsack(np.abs(A), cap, self.radius)
        return ball_max

    def minimum(self, A: np.ndarray, c: np.ndarray) -> np.ndarray:
        return -self.maximum(-A, -c)


def _knapsack(gain: np.ndarray, cap: np.ndarray, budget: float) -> np.ndarray:
    """Row-wise ``max sum_i gain_i t_i`` over ``0 <= t_i <= cap_i``, ``sum_i t_i <= budget`` (greedy)."""
    order = np.argsort(-gain, axis=1, kind="stable")
    g = np.take_along_axis(gain, order, axis=1)
    c = np.take_along_axis(cap, order, axis=1)
    before = np.cumsum(c, axis=1) - c
    take = np.clip(budget - before, 0.0, c)
    result: np.ndarray = (g * take).sum(axis=1)
    return result


def _widen(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pad = _WIDEN * (1.0 + np.maximum(np.abs(lo), np.abs(hi)))
    return lo - pad, hi + pad


def _interval(W: np.ndarray, b: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of ``W a + b`` for ``a`` in the box ``[lo, hi]``."""
    Wp, Wn = np.maximum(W, 0), np.minimum(W, 0)
    return Wp @ lo + Wn @ hi + b, Wp @ hi + Wn @ lo + b


def _relu_lines(lo: np.ndarray, up: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Linear bounds ``s_lo h <= relu(h) <= s_up h + t_up`` for ``lo <= h <= up`` (CROWN's choice below)."""
    l, u = lo, up
    active, dead = l >= 0, u <= 0
    unstable = ~(active | dead)
    denom = np.where(unstable, u - l, 1.0)
    s_up = np.where(active, 1.0, np.where(unstable, u / denom, 0.0))
    t_up = np.where(unstable, -l * u / denom, 0.0)
    s_lo = np.where(active, 1.0, np.where(unstable & (u >= -l), 1.0, 0.0))
    return s_lo, s_up, t_up


def _symbolic(
    net: _Net, W: np.ndarray, b: np.ndarray, layer: int, pre: list[tuple[np.ndarray, np.ndarray]], dom: _Domain
) -> tuple[np.ndarray, np.ndarray]:
    """CROWN bounds of ``W a_{layer-1} + b``, given bounds ``pre`` of the earlier pre-activations."""
    out = []
    for sign in (-1.0, 1.0):  # -1: lower bound (as minus the upper bound of the negation)
        lam, c = sign * W, sign * b
        for j in range(layer - 1, -1, -1):
            s_lo, s_up, t_up = _relu_lines(*pre[j])
            lp, ln = np.maximum(lam, 0), np.minimum(lam, 0)
            c = c + lp @ t_up
            lam = lp * s_up + ln * s_lo
            c = c + lam @ net.biases[j]
            lam = lam @ net.weights[j]
        out.append(sign * dom.maximum(lam, c))
    return out[0], out[1]


# ---------------------------------------------------------------------------------------
# Linear constraints
# ---------------------------------------------------------------------------------------


class _Program:
    """Variables (bounds, integrality) and rows ``rl <= A x <= ru``, assembled as COO blocks."""

    def __init__(self) -> None:
        self.lb: list[np.ndarray] = []
        self.ub: list[np.ndarray] = []
        self.integer: list[np.ndarray] = []
        self.n_vars = 0
        self.rows: list[np.ndarray] = []
        self.cols: list[np.ndarray] = []
        self.vals: list[np.ndarray] = []
        self.rl: list[np.ndarray] = []
        self.ru: list[np.ndarray] = []
        self.n_rows = 0

    def variables(self, lb: np.ndarray, ub: np.ndarray, integer: bool = False) -> np.ndarray:
        lb, ub = np.asarray(lb, dtype=np.float64), np.asarray(ub, dtype=np.float64)
        idx = np.arange(self.n_vars, self.n_vars + lb.size)
        self.lb.append(lb)
        self.ub.append(ub)
        self.integer.append(np.full(lb.size, 1 if integer else 0, dtype=np.int64))
        self.n_vars += lb.size
        return idx

    def constraints(
        self,
        lo: np.ndarray,
        hi: np.ndarray,
        dense: tuple[np.ndarray, np.ndarray] | None = None,
        *diagonals: tuple[np.ndarray, np.ndarray | float],
    ) -> np.ndarray:
        """Rows ``lo <= D x[cols] + sum_d v_d x[idx_d] <= hi``: ``dense = (cols, D)``, ``diagonals = (idx_d, v_d)``."""
        lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
        m = lo.size
        rows = np.arange(self.n_rows, self.n_rows + m)
        if dense is not None:
            cols, D = dense
            if cols.size:
                self.rows.append(np.repeat(rows, cols.size))
                self.cols.append(np.tile(cols, m))
                self.vals.append(D.reshape(-1))
        for idx, v in diagonals:
            self.rows.append(rows)
            self.cols.append(np.asarray(idx))
            self.vals.append(np.broadcast_to(np.asarray(v, dtype=np.float64), (m,)).copy())
        self.rl.append(lo)
        self.ru.append(hi)
        self.n_rows += m
        return rows

    def matrix(self) -> sparse.csr_array:
        if not self.rows:
            return sparse.csr_array((self.n_rows, self.n_vars))
        return sparse.coo_array(
            (np.concatenate(self.vals), (np.concatenate(self.rows), np.concatenate(self.cols))),
            shape=(self.n_rows, self.n_vars),
        ).tocsr()

    def arrays(self) -> tuple[np.ndarray, ...]:
        cat = np.concatenate
        return cat(self.lb), cat(self.ub), cat(self.integer), cat(self.rl), cat(self.ru)


def _encode_input(prog: _Program, dom: _Domain, objective: bool) -> tuple[np.ndarray, np.ndarray]:
    """The input variables and, when ``objective``, the norm variables (``t`` or ``e``) whose sum is ``||x'-x||``."""
    xv = prog.variables(dom.lo, dom.hi)
    n = xv.size
    if dom.norm == "linf":
        if not objective:
            return xv, np.zeros(0, dtype=np.int64)
        t = prog.variables(np.zeros(1), np.full(1, dom.radius))
        tt = np.repeat(t, n)
        prog.constraints(np.full(n, -np.inf), dom.x0, None, (xv, 1.0), (tt, -1.0))  # x' - t <= x
        prog.constraints(dom.x0, np.full(n, np.inf), None, (xv, 1.0), (tt, 1.0))  # x' + t >= x
        return xv, t
    e = prog.variables(np.zeros(n), np.maximum(dom.hi - dom.x0, dom.x0 - dom.lo))
    prog.constraints(np.full(n, -np.inf), dom.x0, None, (xv, 1.0), (e, -1.0))
    prog.constraints(dom.x0, np.full(n, np.inf), None, (xv, 1.0), (e, 1.0))
    prog.constraints(np.full(1, -np.inf), np.full(1, dom.radius), (e, np.ones((1, n))))
    return xv, e


def _encode_layers(
    prog: _Program,
    net: _Net,
    xv: np.ndarray,
    pre: list[tuple[np.ndarray, np.ndarray]],
    n_layers: int,
    *,
    relaxed: bool,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Encode the first ``n_layers`` hidden layers; return the last layer's live columns and
    variables (``cols``, ``vars``: ``a[cols] = x[vars]``, the other units are 0) and the
    number of binaries (unstable neurons).  ``relaxed``: the triangle LP relaxation, no binaries."""
    cols, var = np.arange(xv.size), xv
    n_bin = 0
    for i in range(n_layers):
        W = net.weights[i][:, cols]
        b = net.biases[i]
        l, u = pre[i]
        active = np.flatnonzero(l >= 0)
        unstable = np.flatnonzero((l < 0) & (u > 0))
        a_act = prog.variables(np.maximum(l[active], 0), u[active])
        if active.size:  # a = W a_prev + b
            prog.constraints(b[active], b[active], (var, -W[active]), (a_act, 1.0))
        a_uns = prog.variables(np.zeros(unstable.size), u[unstable])
        if unstable.size:
            lu, uu, bu, Wu = l[unstable], u[unstable], b[unstable], W[unstable]
            inf = np.full(unstable.size, np.inf)
            prog.constraints(bu, inf, (var, -Wu), (a_uns, 1.0))  # a >= h
            if relaxed:  # a <= s (h - l), s = u / (u - l)
                s = uu / (uu - lu)
                prog.constraints(-inf, s * (bu - lu), (var, -s[:, None] * Wu), (a_uns, 1.0))
            else:
                z = prog.variables(np.zeros(unstable.size), np.ones(unstable.size), integer=True)
                prog.constraints(-inf, bu - lu, (var, -Wu), (a_uns, 1.0), (z, -lu))  # a <= h - l (1 - z)
                prog.constraints(-inf, np.zeros(unstable.size), None, (a_uns, 1.0), (z, -uu))  # a <= u z
                n_bin += unstable.size
        order = np.concatenate([active, unstable])
        sort = np.argsort(order, kind="stable")
        cols, var = order[sort], np.concatenate([a_act, a_uns])[sort]
    return cols, var, n_bin


def _safe_lp_minimum(res: Any, c: np.ndarray, A_ub: Any, b_ub: np.ndarray, A_eq: Any, b_eq: np.ndarray,
                     lb: np.ndarray, ub: np.ndarray) -> float:
    """A rigorous lower bound of ``min c x`` from any dual multipliers (weak duality)."""
    lam = np.maximum(-np.asarray(res.ineqlin.marginals, dtype=np.float64), 0.0)
    mu = -np.asarray(res.eqlin.marginals, dtype=np.float64) if b_eq.size else np.zeros(0)
    r = c + A_ub.T @ lam + (A_eq.T @ mu if b_eq.size else 0.0)
    terms = np.minimum(r * lb, r * ub)
    value = float(terms.sum() - lam @ b_ub - (mu @ b_eq if b_eq.size else 0.0))
    scale = float(np.abs(terms).sum() + np.abs(lam * b_ub).sum() + (np.abs(mu * b_eq).sum() if b_eq.size else 0.0))
    return value - 1e-12 * (1.0 + scale)


def _lp_tighten(
    net: _Net, dom: _Domain, pre: list[tuple[np.ndarray, np.ndarray]], layer: int, W: np.ndarray, b: np.ndarray,
    lo: np.ndarray, hi: np.ndarray, which: np.ndarray, deadline: float, output: bool,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Tighten ``lo <= W a_{layer-1} + b <= hi`` on rows ``which`` by LPs over the relaxation below."""
    prog = _Program()
    xv, _ = _encode_input(prog, dom, objective=dom.norm == "l1")
    cols, var, _ = _encode_layers(prog, net, xv, pre, layer, relaxed=True)
    A = prog.matrix()
    lb, ub, _, rl, ru = prog.arrays()
    eq = rl == ru
    up, dn = ~eq & np.isfinite(ru), ~eq & np.isfinite(rl)
    A_ub = sparse.vstack([A[up], -A[dn]]).tocsr()
    b_ub = np.concatenate([ru[up], -rl[dn]])
    A_eq, b_eq = A[eq], ru[eq]
    lo, hi = lo.copy(), hi.copy()
    n_lp = 0
    # hidden neurons: the lower bound first (a neuron proven active needs no upper one);
    # logit differences: the upper bound first (a class that cannot reach 0 needs no lower one)
    senses = (-1.0, 1.0) if output else (1.0, -1.0)
    for j in which:
        for sign in senses:  # +1: minimise (lower bound); -1: maximise (upper bound)
            if time.perf_counter() > deadline:
                return lo, hi, n_lp
            c = np.zeros(prog.n_vars)
            c[var] = sign * W[j, cols]
            res = optimize.linprog(
                c, A_ub=A_ub, b_ub=b_ub, A_eq=A_eq if b_eq.size else None, b_eq=b_eq if b_eq.size else None,
                bounds=np.column_stack([lb, ub]), method="highs",
            )
            n_lp += 1
            if res.status != 0:
                continue
            bound = sign * (_safe_lp_minimum(res, c, A_ub, b_ub, A_eq, b_eq, lb, ub) + sign * b[j])
            if sign > 0:
                lo[j] = max(lo[j], bound)
                if not output and lo[j] >= 0:
                    break
            else:
                hi[j] = min(hi[j], bound)
                if output and hi[j] < 0:
                    break
    return lo, hi, n_lp


def _bounds(
    net: _Net, dom: _Domain, C: np.ndarray, tightening: str, deadline: float
) -> tuple[list[tuple[np.ndarray, np.ndarray]], tuple[np.ndarray, np.ndarray]]:
    """Bounds of every hidden pre-activation and of ``C F(x')`` (the logit differences) over ``dom``."""
    pre: list[tuple[np.ndarray, np.ndarray]] = []
    L = net.n_layers
    for i in range(L):
        if i < L - 1:
            W, b = net.weights[i], net.biases[i]
        else:
            W, b = C @ net.weights[i], C @ net.biases[i]
        if i == 0:
            lo, hi = dom.minimum(W, b), dom.maximum(W, b)
        else:
            l_prev, u_prev = pre[i - 1]
            lo, hi = _interval(W, b, np.maximum(l_prev, 0), np.maximum(u_prev, 0))
            if tightening in ("symbolic", "lp"):
                slo, shi = _symbolic(net, W, b, i, pre, dom)
                lo, hi = np.maximum(lo, slo), np.minimum(hi, shi)
        lo, hi = _widen(lo, hi)
        if tightening == "lp" and i > 0:
            # hidden layers: the unstable neurons; output: the differences that may reach 0
            which = np.flatnonzero((lo < 0) & (hi > 0)) if i < L - 1 else np.flatnonzero(hi >= 0)
            if which.size:
                lo, hi, _ = _lp_tighten(net, dom, pre, i, W, b, lo, hi, which, deadline, i == L - 1)
        pre.append((lo, np.maximum(hi, lo)))
    return pre[:-1], pre[-1]



def _class_radii(
    net: _Net, x0: np.ndarray, radius: float, norm: str, box: tuple[float, float] | None, C: np.ndarray,
    dhi: np.ndarray, steps: int,
) -> np.ndarray:
    """Per target class, a radius within which symbolic bounds prove the class unreachable (bisection).

    ``rho_k`` is a lower bound on the distance to the region ``F_k >= F_label``; ``radius``
    where the bounds at ``radius`` (upper bounds ``dhi``) already exclude the class.
    """
    lo = np.where(dhi < 0, radius, 0.0)
    hi = np.full_like(lo, radius)
    for _ in range(steps):
        todo = np.flatnonzero(hi - lo > 1e-3 * hi)
        if not todo.size:
            break
        for k in todo:
            eps = 0.5 * (lo[k] + hi[k])
            _, (_, up) = _bounds(net, _Domain.build(x0, eps, norm, box), C[k : k + 1], "symbolic", math.inf)
            if up[0] < 0:
                lo[k] = eps
            else:
                hi[k] = eps
    return lo

# ---------------------------------------------------------------------------------------
# The MILP of one sample
# ---------------------------------------------------------------------------------------


@dataclass
class _Outcome:
    status: str
    value: float  # the incumbent's objective (nan if none)
    lower: float  # proven lower bound on the distance
    point: np.ndarray | None  # the incumbent's x'
    n_unstable: int = 0
    n_binaries: int = 0
    nodes: int = 0
    bound_time: float = 0.0
    solve_time: float = 0.0
    message: str = ""


def _difference_matrix(n_classes: int, label: int) -> tuple[np.ndarray, np.ndarray]:
    """``C`` with rows ``e_k - e_label`` for ``k != label``, and those ``k``."""
    others = np.array([k for k in range(n_classes) if k != label], dtype=np.int64)
    C = np.zeros((n_classes - 1, n_classes))
    C[np.arange(n_classes - 1), others] = 1.0
    C[:, label] -= 1.0
    return C, others


def _milp(
    net: _Net,
    dom: _Domain,
    pre: list[tuple[np.ndarray, np.ndarray]],
    C: np.ndarray,
    dlo: np.ndarray,
    targets: np.ndarray,
    rho: np.ndarray,
    cap: float,
    rel_gap: float,
    deadline: float,
) -> _Outcome:
    """Minimise ``||x' - x||`` subject to ``(C F(x'))_r >= 0`` for one ``r`` in ``targets`` and
    ``rho_r <= ||x' - x|| <= cap`` (``rho``: lower bounds of the distance to each class)."""
    prog = _Program()
    xv, nv = _encode_input(prog, dom, objective=True)
    floor = float(rho[targets].min())
    ones = (nv, np.ones((1, nv.size)))
    if dom.norm == "linf":
        prog.lb[-1] = np.full(1, floor)
        prog.ub[-1] = np.full(1, min(cap, dom.radius))
    else:
        prog.constraints(np.full(1, floor), np.full(1, cap), ones)
    cols, var, n_bin = _encode_layers(prog, net, xv, pre, net.n_layers - 1, relaxed=False)
    D = (C @ net.weights[-1])[:, cols]
    e = C @ net.biases[-1]
    n_sel = 0
    if targets.size == 1:
        r = targets
        prog.constraints(-e[r], np.full(1, np.inf), (var, D[r]))
    else:
        big = np.minimum(dlo[targets], 0.0)
        s = prog.variables(np.zeros(targets.size), np.ones(targets.size), integer=True)
        n_sel = targets.size
        prog.constraints(np.ones(1), np.ones(1), (s, np.ones((1, s.size))))
        # d_r >= L_r (1 - s_r)
        prog.constraints(big - e[targets], np.full(targets.size, np.inf), (var, D[targets]), (s, big))
        if (rho[targets] > floor).any():  # ||x' - x|| >= sum_r rho_r s_r
            coef = np.concatenate([np.ones(nv.size), -rho[targets]])[None, :]
            prog.constraints(np.zeros(1), np.full(1, np.inf), (np.concatenate([nv, s]), coef))
    lb, ub, integer, rl, ru = prog.arrays()
    # HiGHS also stops at an absolute gap of 1e-6, which scipy does not expose: scale the
    # objective so that the radius is worth 1e4 and that gap falls to 1e-10 of the radius
    scale = _OBJECTIVE_SCALE / max(dom.radius, 1e-300)
    c = np.zeros(prog.n_vars)
    c[nv] = scale
    remaining = deadline - time.perf_counter()
    if remaining <= 0:
        return _Outcome("time_limit", math.nan, 0.0, None, n_binaries=n_bin + n_sel, message="no time left")
    t0 = time.perf_counter()
    res = optimize.milp(
        c,
        integrality=integer,
        bounds=optimize.Bounds(lb, ub),
        constraints=optimize.LinearConstraint(prog.matrix(), rl, ru),
        options={"time_limit": remaining, "mip_rel_gap": rel_gap},
    )
    elapsed = time.perf_counter() - t0
    nodes = int(getattr(res, "mip_node_count", 0) or 0)
    message = str(res.message)
    dual = getattr(res, "mip_dual_bound", None)
    dual = math.nan if dual is None else float(dual)
    point = None if res.x is None else np.clip(np.asarray(res.x)[xv], dom.lo, dom.hi)
    primal = math.nan if res.x is None else float(res.fun)
    common: dict[str, Any] = {"n_binaries": n_bin + n_sel, "nodes": nodes, "solve_time": elapsed, "message": message}
    if res.status == 2:
        return _Outcome("infeasible", math.nan, min(cap, dom.radius), None, **common)
    status = {0: "optimal", 1: "time_limit"}.get(int(res.status), "failed")
    if status == "failed":
        return _Outcome("failed", primal / scale, 0.0, point, **common)
    if status == "optimal" and not math.isfinite(dual) and not integer.any():
        dual = primal  # no binaries (every neuron stable): an LP, solved to optimality
    # the class radii prove the floor by themselves (the solver may report no bound at a time limit)
    lower = max(floor, _proven_lower(dual, primal, rel_gap) / scale)
    return _Outcome(status, primal / scale, lower, point, **common)


def _proven_lower(dual: float, primal: float, rel_gap: float) -> float:
    """A lower bound on the optimum from the solver's dual bound and its stopping gap.

    HiGHS prunes nodes whose bound is within its gap (``rel_gap`` relative, ``1e-6``
    absolute) of the incumbent, and its reported dual bound then comes from the nodes
    left: it can sit above the optimum by up to that gap.  What the solver does prove
    is ``optimum >= min(dual, primal - max(1e-6, rel_gap |primal|))``; that, less a
    slack for its floating-point tolerances, is returned (never below 0).
    """
    if not math.isfinite(dual):
        return 0.0
    bound = dual
    if math.isfinite(primal):
        bound = min(dual, primal - max(1e-6, rel_gap * abs(primal)))
    return max(0.0, bound - _DUAL_SLACK * (1.0 + abs(bound)))


def _solve(
    net: _Net,
    x0: np.ndarray,
    label: int,
    radius: float,
    norm: str,
    box: tuple[float, float] | None,
    tightening: str,
    formulation: str,
    rel_gap: float,
    deadline: float,
) -> _Outcome:
    """The minimal distance within ``radius`` for one sample (bounds, then one or several MILPs)."""
    t0 = time.perf_counter()
    dom = _Domain.build(x0, radius, norm, box)
    C, _ = _difference_matrix(net.weights[-1].shape[0], label)
    pre, (dlo, dhi) = _bounds(net, dom, C, tightening, deadline)
    n_unstable = int(sum(int(((lo < 0) & (up > 0)).sum()) for lo, up in pre))
    reach = np.flatnonzero(dhi >= 0)
    rho = np.zeros(C.shape[0])
    if tightening != "interval" and reach.size:
        rho = _class_radii(net, x0, radius, norm, box, C, dhi, steps=10)
        reach = reach[rho[reach] < radius]
    bound_time = time.perf_counter() - t0
    if time.perf_counter() > deadline:
        return _Outcome("time_limit", math.nan, 0.0, None, n_unstable, bound_time=bound_time,
                        message="time limit reached while bounding")
    if reach.size == 0:
        return _Outcome("infeasible", math.nan, radius, None, n_unstable, bound_time=bound_time,
                        message="no other class can be reached within the radius (bounds alone)")
    if formulation == "single":
        out = _milp(net, dom, pre, C, dlo, reach, rho, radius, rel_gap, deadline)
    else:
        out = _per_target(net, dom, pre, C, dlo, rho, reach, radius, rel_gap, deadline)
    out.n_unstable = n_unstable
    out.bound_time = bound_time
    return out


def _per_target(
    net: _Net, dom: _Domain, pre: list[tuple[np.ndarray, np.ndarray]], C: np.ndarray, dlo: np.ndarray,
    rho: np.ndarray, reach: np.ndarray, radius: float, rel_gap: float, deadline: float,
) -> _Outcome:
    """One MILP per reachable class (smallest lower bound first), each capped by the best distance so far;
    a class whose lower bound ``rho`` is already above the cap is skipped."""
    best = _Outcome("infeasible", math.nan, radius, None)
    lowers: list[float] = []
    timed_out = failed = False
    nodes = n_bin = 0
    solve_time = 0.0
    for r in reach[np.argsort(rho[reach], kind="stable")]:
        cap = radius if best.point is None else min(radius, best.value)
        if rho[r] >= cap:
            lowers.append(float(rho[r]))
            continue
        out = _milp(net, dom, pre, C, dlo, np.array([r]), rho, cap, rel_gap, deadline)
        nodes += out.nodes
        n_bin = max(n_bin, out.n_binaries)
        solve_time += out.solve_time
        lowers.append(out.lower)
        timed_out |= out.status == "time_limit"
        failed |= out.status == "failed"
        if out.point is not None and (best.point is None or out.value < best.value):
            best = out
    lower = min(lowers) if lowers else radius
    if best.point is not None:
        lower = min(lower, best.value)
    if failed or timed_out:
        status = "failed" if failed else "time_limit"
    else:
        status = "optimal" if best.point is not None else "infeasible"
    return _Outcome(status, best.value, lower, best.point, n_binaries=n_bin, nodes=nodes, solve_time=solve_time,
                    message=best.message)


def _polish(net: _Net, dom: _Domain, label: int, point: np.ndarray) -> tuple[float, np.ndarray] | None:
    """The minimum over the closure of the activation region of ``point``, by one LP.

    On a fixed activation pattern the network is affine, so the program has no big-M
    constants and the LP solver's tolerances act on well-scaled rows: its optimum is
    the distance to the boundary within that region, accurate to about ``1e-9``
    where the big-M program is accurate to about ``1e-6``.  ``None`` if the LP fails.
    """
    n = point.size
    A, c = np.eye(n), np.zeros(n)
    h = point
    G_rows, g_rhs = [], []
    for i in range(net.n_layers - 1):
        W, b = net.weights[i], net.biases[i]
        hA, hc = W @ A, W @ c + b
        h = W @ h + b
        on = h > 0
        G_rows.append(np.where(on[:, None], -hA, hA))  # on: h >= 0; off: h <= 0
        g_rhs.append(np.where(on, hc, -hc))
        A, c = hA * on[:, None], hc * on
        h = np.where(on, h, 0.0)
    FA, Fc = net.weights[-1] @ A, net.weights[-1] @ c + net.biases[-1]
    F = net.weights[-1] @ h + net.biases[-1]
    k = int(np.argmax(np.where(np.arange(F.size) == label, -np.inf, F)))
    G_rows.append(-(FA[k] - FA[label])[None])  # F_k >= F_label
    g_rhs.append(np.array([Fc[k] - Fc[label]]))
    G = np.vstack(G_rows)
    eye = np.eye(n)
    extra_bounds: list[tuple[float, float | None]]
    if dom.norm == "linf":
        m = 1
        obj = np.r_[np.zeros(n), 1.0]
        norm_rows = np.vstack([np.hstack([eye, -np.ones((n, 1))]), np.hstack([-eye, -np.ones((n, 1))])])
        extra_bounds = [(0.0, dom.radius)]
    else:
        m = n
        obj = np.r_[np.zeros(n), np.ones(n)]
        norm_rows = np.vstack([np.hstack([eye, -eye]), np.hstack([-eye, -eye])])
        extra_bounds = [(0.0, None)] * n
    A_ub = np.vstack([np.hstack([G, np.zeros((G.shape[0], m))]), norm_rows])
    b_ub = np.concatenate([*g_rhs, dom.x0, -dom.x0])
    res = optimize.linprog(
        obj, A_ub=A_ub, b_ub=b_ub, bounds=list(zip(dom.lo, dom.hi, strict=True)) + extra_bounds, method="highs"
    )
    if res.status != 0:
        return None
    x = np.clip(np.asarray(res.x[:n]), dom.lo, dom.hi)
    return _norm(x - dom.x0, dom.norm), x


# ---------------------------------------------------------------------------------------
# Verified witnesses
# ---------------------------------------------------------------------------------------


class _Checker:
    """Forward passes of the model itself in float64, on the CPU."""

    def __init__(self, model: nn.Module, in_shape: tuple[int, ...], label: np.ndarray) -> None:
        self.model = copy.deepcopy(model).to(device="cpu", dtype=torch.float64)
        self.model.requires_grad_(False)
        self.in_shape = in_shape
        self.label = label

    def logits(self, points: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            x = torch.as_tensor(points, dtype=torch.float64).reshape((-1, *self.in_shape))
            out: np.ndarray = self.model(x).reshape(x.shape[0], -1).numpy()
        return out

    def margin(self, i: int, logits: np.ndarray) -> np.ndarray:
        """Best other logit minus the label's, less 64 ulps of the largest logit (``> 0``: adversarial)."""
        lab = int(self.label[i])
        own = logits[:, lab]
        other = np.delete(logits, lab, axis=1).max(axis=1)
        noise = _MARGIN_ULPS * np.finfo(np.float64).eps * np.maximum(np.abs(logits).max(axis=1), 1.0)
        result: np.ndarray = other - own - noise
        return result

    def gradient(self, i: int, point: np.ndarray) -> np.ndarray:
        """Gradient of ``F_k - F_label`` at ``point``, ``k`` the best other class there."""
        lab = int(self.label[i])
        x = torch.as_tensor(point, dtype=torch.float64).reshape((1, *self.in_shape)).requires_grad_(True)
        with torch.enable_grad():
            out = self.model(x).reshape(-1)
            others = out.detach().clone()
            others[lab] = -math.inf
            k = int(others.argmax())
            (g,) = torch.autograd.grad(out[k] - out[lab], x)
        return g.reshape(-1).numpy()


def _norm(v: np.ndarray, norm: str) -> float:
    return float(np.abs(v).max()) if norm == "linf" else float(np.abs(v).sum())


def _witness(
    checker: _Checker, i: int, x0: np.ndarray, point: np.ndarray, norm: str, box: tuple[float, float] | None,
    max_push: float,
) -> np.ndarray | None:
    """``point`` if it is adversarial in float64, else the nearest of small pushes across the boundary.

    The MILP's point lies on the tie ``F_k = F_label`` (up to the solver's tolerances).  It
    is pushed along the gradient of ``F_k - F_label`` (every free coordinate by the sign, and,
    for L1, the steepest coordinate alone) and outwards along its own perturbation, by
    steps doubling from the one the linearisation asks for, at most ``max_push`` in norm.
    """
    logits = checker.logits(point[None])
    if checker.margin(i, logits)[0] > 0:
        return point
    gap = -float(checker.margin(i, logits)[0])
    g = checker.gradient(i, point)
    lo = np.full_like(point, -np.inf) if box is None else np.full_like(point, box[0])
    hi = np.full_like(point, np.inf) if box is None else np.full_like(point, box[1])
    free = ((g > 0) & (point < hi)) | ((g < 0) & (point > lo))
    directions = []
    if free.any():
        d = np.where(free, np.sign(g), 0.0)
        directions.append(d / _norm(d, norm))
        j = int(np.argmax(np.where(free, np.abs(g), -1.0)))
        d = np.zeros_like(point)
        d[j] = np.sign(g[j])
        directions.append(d)
    delta = point - x0
    if _norm(delta, norm) > 0:
        directions.append(delta / _norm(delta, norm))
    floor = 1e-15 * (1.0 + float(np.abs(point).max()))
    cands = []
    for d in directions:
        rate = float(g @ d)
        first = gap / rate if rate > 0 else floor
        steps = max(first, floor) * 2.0 ** np.arange(0, 48)
        steps = steps[steps <= max_push]
        if steps.size:
            cands.append(np.clip(point[None] + steps[:, None] * d[None], lo, hi))
    if not cands:
        return None
    pts = np.concatenate(cands)
    ok = np.flatnonzero(checker.margin(i, checker.logits(pts)) > 0)
    if not ok.size:
        return None
    dist = np.abs(pts[ok] - x0).max(axis=1) if norm == "linf" else np.abs(pts[ok] - x0).sum(axis=1)
    nearest: np.ndarray = pts[ok[int(np.argmin(dist))]]
    return nearest


# ---------------------------------------------------------------------------------------
# Public functions
# ---------------------------------------------------------------------------------------


def _check_real(name: str, value: Any, *, positive: bool, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {name}={value!r}")
    v = float(value)
    if not math.isfinite(v) or (v <= 0 if positive else v < 0):
        raise ValueError(f"{name} must be a finite number {'> 0' if positive else '>= 0'}, got {name}={value!r}")
    return v


def _check_box(bounds: Any) -> tuple[float, float] | None:
    if bounds is None:
        return None
    try:
        lo, hi = bounds
    except (TypeError, ValueError):
        raise TypeError(f"bounds must be None or a pair (lo, hi) of numbers, got bounds={bounds!r}") from None
    if any(isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) for v in (lo, hi)):
        raise TypeError(f"bounds must be None or a pair (lo, hi) of numbers, got bounds={bounds!r}")
    lo_f, hi_f = float(lo), float(hi)
    if not (math.isfinite(lo_f) and math.isfinite(hi_f) and lo_f < hi_f):
        raise ValueError(f"bounds must be finite with lo < hi, got bounds={bounds!r}")
    return lo_f, hi_f


def _choice(name: str, value: Any, options: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, options))}, got {name}={value!r}")
    return value


def _cover_radius(x0: np.ndarray, norm: str, box: tuple[float, float] | None) -> float:
    """The radius beyond which the ball contains the whole box (``inf`` without a box)."""
    if box is None:
        return math.inf
    reach = np.maximum(x0 - box[0], box[1] - x0)
    return _norm(reach, norm)


def _attack_points(
    model: nn.Module, x: torch.Tensor, norm: str, box: tuple[float, float] | None
) -> list[np.ndarray]:
    """Adversarial candidates from DeepFool (L-infinity; L2 too for the L1 distance), flattened float64."""
    from .attacks import DeepFool

    norms = ("linf",) if norm == "linf" else ("linf", "l2")
    points = []
    for p in norms:
        res = DeepFool(norm=p, bounds=box, refine=True)(model, x)
        adv = res.adversarial.detach().to("cpu", torch.float64).reshape(x.shape[0], -1).numpy()
        points.append(np.where(res.success.cpu().numpy()[:, None], adv, np.nan))
    return points


def _jacobian(net: _Net, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Logits ``(m, K)`` and their Jacobians ``(m, K, n)`` at ``points`` (the local affine piece)."""
    h = points
    G = np.broadcast_to(np.eye(points.shape[1]), (points.shape[0],) + (points.shape[1],) * 2)
    for i, (W, b) in enumerate(zip(net.weights, net.biases, strict=True)):
        h = h @ W.T + b
        G = np.einsum("ij,mjk->mik", W, G)
        if i < net.n_layers - 1:
            mask = h > 0
            h = np.where(mask, h, 0.0)
            G = G * mask[:, :, None]
    return h, G


def _l1_attack(
    net: _Net, x0: np.ndarray, label: np.ndarray, box: tuple[float, float] | None, *, max_iter: int = 50,
    overshoot: float = 0.02, refine_steps: int = 40,
) -> np.ndarray:
    """A box-aware L1 DeepFool: the L1-cheapest step to the linearised boundary, then a line search.

    For ``g = grad(F_k - F_label)`` and the gap ``F_label - F_k``, the cheapest L1 step moves the
    coordinates with the largest ``|g_i|`` first, each up to its box limit, until the linear gain
    covers the gap.  Rows that never flip are ``nan``.  The distances are upper estimates only
    (used for the radius of the program).
    """
    m, n = x0.shape
    lo = -np.inf if box is None else box[0]
    hi = np.inf if box is None else box[1]
    cur = x0.copy()
    done = np.zeros(m, dtype=bool)
    for _ in range(max_iter):
        active = np.flatnonzero(~done)
        if not active.size:
            break
        logits, G = _jacobian(net, cur[active])
        lab = label[active]
        flipped = logits.argmax(axis=1) != lab
        done[active[flipped]] = True
        keep = ~flipped
        active, logits, G, lab = active[keep], logits[keep], G[keep], lab[keep]
        if not active.size:
            break
        ar = np.arange(active.size)
        g = G - G[ar, lab][:, None, :]  # (a, K, n)
        gap = (logits[ar, lab][:, None] - logits) * (1 + overshoot) + 1e-12
        pos = g > 0
        room = np.where(pos, hi - cur[active][:, None, :], cur[active][:, None, :] - lo)
        room = np.where(g == 0, 0.0, room)
        order = np.argsort(-np.abs(g), axis=2, kind="stable")
        ga = np.take_along_axis(np.abs(g), order, axis=2)
        ca = np.take_along_axis(room, order, axis=2)
        gain = np.cumsum(ga * np.minimum(ca, 1e300), axis=2)
        before = gain - ga * ca
        need = gap[:, :, None]
        amount = np.where(gain <= need, ca, np.where(before < need, (need - before) / np.where(ga > 0, ga, 1.0), 0.0))
        amount = np.where(ga > 0, amount, 0.0)
        reachable = gain[:, :, -1] >= gap
        cost = np.where(reachable, amount.sum(axis=2), np.inf)
        cost[ar, lab] = np.inf
        best = cost.argmin(axis=1)
        ok = np.isfinite(cost[ar, best])
        step = np.zeros((active.size, n))
        src = order[ar, best]
        signs = np.sign(np.take_along_axis(g[ar, best], src, axis=1))
        np.put_along_axis(step, src, amount[ar, best] * signs, axis=1)
        cur[active[ok]] = np.clip(cur[active[ok]] + step[ok], lo, hi)
        done[active[~ok]] = True  # no class reachable on the linearisation: give up
    logits = net.forward(cur)
    success = logits.argmax(axis=1) != label
    out = np.full_like(x0, np.nan)
    if not success.any():
        return out
    idx = np.flatnonzero(success)
    d = cur[idx] - x0[idx]
    s_lo, s_hi = np.zeros(idx.size), np.ones(idx.size)
    for _ in range(refine_steps):  # bisection on the scale of the perturbation
        mid = 0.5 * (s_lo + s_hi)
        adv = net.forward(x0[idx] + mid[:, None] * d).argmax(axis=1) != label[idx]
        s_hi, s_lo = np.where(adv, mid, s_hi), np.where(adv, s_lo, mid)
    out[idx] = np.clip(x0[idx] + s_hi[:, None] * d, lo, hi)
    return out


def exact_unsupported(model: Any, input_shape: Sequence[int]) -> str | None:
    """Why :func:`exact_distance` cannot take ``model`` on inputs of shape ``(batch, *input_shape)``, or ``None``.

    Checks the layers only (no forward pass, no solve): a caller can pick the exact
    oracle where it applies and another lower bound (or none) elsewhere.

    >>> from torch import nn
    >>> exact_unsupported(nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)), (1, 2, 2)) is None
    True
    >>> exact_unsupported(nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2)), (4,))
    "exact distances support Flatten, Linear, ReLU and (in front) Normalize layers only; layer '1' is a Tanh"
    """
    if not isinstance(model, nn.Module):
        return f"model must be a torch.nn.Module of Linear/ReLU layers, got {type(model).__name__}"
    problem: str | None = model_mode_problem("model", model)
    if problem:
        return problem
    try:
        _extract(model, tuple(int(s) for s in input_shape))
    except (TypeError, ValueError) as err:
        return str(err)
    return None


def exact_distance(
    model: nn.Module,
    x: torch.Tensor,
    *,
    norm: str,
    bounds: tuple[float, float] | None = None,
    max_radius: float | None = None,
    time_limit: float = 60.0,
    rel_gap: float = 1e-6,
    tightening: str = "symbolic",
    formulation: str = "single",
    attack: bool = True,
) -> ExactResult:
    r"""Exact minimal adversarial distance of a small ReLU network, in L-infinity or L1, per sample.

    Solves :math:`d^*(x) = \min \{\|x' - x\|_p : x' \in \text{box},\ \max_{k \ne \ell} F_k(x')
    \ge F_\ell(x')\}` for every row of ``x`` as a mixed-integer linear program
    (``scipy.optimize.milp``, HiGHS), :math:`\ell` being the model's own prediction.
    See the module docstring for the formulation, its soundness and its size limit.

    Parameters
    ----------
    model : torch.nn.Module
        A ReLU network made of ``Flatten``, ``Linear`` and ``ReLU`` layers, optionally
        behind a ``Normalize``: an ``nn.Sequential`` (nested ones too) or an
        :class:`isobound_torch.models.MLP`.  Any other layer is refused, naming it.
        Not modified (the solver works on a float64 copy of its weights).
    x : torch.Tensor
        Floating-point inputs, batch first, finite (and inside ``bounds``).
    norm : {"linf", "l1"}
        The distance.
    bounds : (float, float), optional
        Box every coordinate of ``x'`` must stay in, e.g. ``(0, 1)`` for pixels.
    max_radius : float, optional
        Search only within this distance: beyond it the status is ``"infeasible"`` and
        ``max_radius`` is the proven lower bound.  Without it the radius is the
        distance of a DeepFool adversarial point (enlarged if that point does not hold
        up in float64), or, where DeepFool fails, the whole box.
    time_limit : float
        Seconds per sample (bounds and MILP together), ``> 0``.  When it runs out the
        status is ``"time_limit"`` with the bounds proven so far.
    rel_gap : float
        HiGHS's relative optimality gap, ``>= 0`` (HiGHS also stops at an absolute
        gap of ``1e-6``).
    tightening : {"symbolic", "lp", "interval"}
        Bounds on the pre-activations: interval arithmetic; plus symbolic
        (CROWN-style) linear bounds and the per-class radius cuts (the default); plus
        two LPs per neuron still unstable.  On the digits MLPs the LPs cost more than
        the one or two neurons they make stable save (``benchmarks/bench_exact.py``).
    formulation : {"single", "per_target"}
        One program with a binary selector of the target class, or one program per
        reachable class.
    attack : bool
        Run DeepFool first to get the radius (default).  With ``attack=False`` the
        radius is ``max_radius``, or the whole box.

    Returns
    -------
    ExactResult
        Per sample: :attr:`~ExactResult.distance` (exact where the status is
        ``"optimal"``), the proven :attr:`~ExactResult.lower_bound`, the
        :attr:`~ExactResult.upper_bound` of a verified adversarial point, the point,
        status and timings.

    Raises
    ------
    TypeError
        If ``model`` is not a ``torch.nn.Module``, ``x`` is not a floating-point
        tensor, or an option has the wrong type.
    ValueError
        For an unsupported layer (named), a model whose output is not
        ``(batch, K)`` logits with ``K >= 2``, NaN or infinite ``x``, ``x`` outside
        ``bounds`` or of a shape the model does not take, a training-mode model with
        dropout, ``time_limit <= 0``, ``max_radius <= 0``, a negative ``rel_gap`` or an
        unknown ``norm``, ``tightening`` or ``formulation``.

    Notes
    -----
    The lower bound is exactly the quantity a per-sample certified radius reports:
    no perturbation of norm below it changes the decision.  ``lower_bound`` is 0 only
    where nothing was proven.
    """
    norm = _choice("norm", norm, NORMS)
    tightening = _choice("tightening", tightening, TIGHTENINGS)
    formulation = _choice("formulation", formulation, FORMULATIONS)
    time_limit_f = _check_real("time_limit", time_limit, positive=True)
    rel_gap_f = _check_real("rel_gap", rel_gap, positive=False)
    assert time_limit_f is not None and rel_gap_f is not None
    radius_cap = _check_real("max_radius", max_radius, positive=True, allow_none=True)
    box = _check_box(bounds)
    if not isinstance(attack, bool):
        raise TypeError(f"attack must be True or False, got attack={attack!r}")
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module of Linear/ReLU layers, got {type(model).__name__}")
    problem = model_mode_problem("model", model)
    if problem:
        raise ValueError(problem)
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor, got dtype {x.dtype}")
    if x.dim() < 2 or 0 in tuple(x.shape[1:]):
        raise ValueError(f"x must have shape (batch, features...) with at least one feature, got {tuple(x.shape)}")
    x = x.detach()
    if x.numel() and not bool(torch.isfinite(x).all()):
        raise ValueError(f"x contains {int((~torch.isfinite(x)).sum())} NaN or infinite entries")
    if box is not None and x.numel() and bool((x < box[0]).any() or (x > box[1]).any()):
        raise ValueError(f"x lies outside bounds={box!r}: min {float(x.min())!r}, max {float(x.max())!r}")
    in_shape = tuple(int(s) for s in x.shape[1:])
    n = int(x.shape[0])
    with torch.no_grad():
        try:
            logits = model(x)
        except RuntimeError as err:
            raise ValueError(f"model cannot be evaluated on x of shape {tuple(x.shape)}: {err}") from None
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2 or logits.shape[0] != n or logits.shape[1] < 2:
        got = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(f"model must return logits of shape (batch, K) with K >= 2 for a batch of {n}, got {got}")
    net = _extract(model, in_shape)
    x64 = x.to("cpu", torch.float64).reshape(n, math.prod(in_shape)).numpy()
    label = logits.argmax(dim=1).cpu().numpy().astype(np.int64)
    checker = _Checker(model, in_shape, label)
    if n:
        ours, theirs = net.forward(x64), checker.logits(x64)
        if not np.allclose(ours, theirs, rtol=1e-9, atol=1e-9 * (1.0 + float(np.abs(theirs).max()))):
            raise ValueError(
                "the model's output differs from the composition of its layers; exact distances need a "
                "plain chain of layers (nn.Sequential or isobound_torch.models.MLP)"
            )

    t_attack = time.perf_counter()
    attack_points = _attack_points(model, x, norm, box) if attack and n else []
    if attack and n and norm == "l1":
        attack_points.append(_l1_attack(net, x64, label, box))
    attack_share = (time.perf_counter() - t_attack) / max(n, 1)

    fields: dict[str, list[Any]] = {k: [] for k in (
        "distance", "lower", "upper", "point", "success", "adv_label", "status", "radius", "n_unstable",
        "n_binaries", "nodes", "bound_time", "solve_time", "time", "message")}
    for i in range(n):
        t0 = time.perf_counter()
        deadline = t0 + time_limit_f
        x0 = x64[i]
        cover = _cover_radius(x0, norm, box)
        found = [p for p in (a[i] for a in attack_points) if np.isfinite(p).all()]
        verified = [p for p in found if checker.margin(i, checker.logits(p[None]))[0] > 0]
        r_attack = min((_norm(p - x0, norm) for p in found), default=math.inf)
        # the radius: the attack's distance (a little more), at most max_radius and the box
        radius = min(r_attack * (1 + 1e-6) + 1e-12, radius_cap or math.inf, cover)
        user_limited = radius_cap is not None and radius >= radius_cap
        if not math.isfinite(radius):  # no box, no attack success, no max_radius
            radius = max(1.0, float(np.abs(x0).max()))
        n_unstable = nodes = 0
        bound_time = solve_time = 0.0
        for _attempt in range(12):
            out = _solve(net, x0, int(label[i]), radius, norm, box, tightening, formulation, rel_gap_f, deadline)
            n_unstable += out.n_unstable
            nodes += out.nodes
            bound_time += out.bound_time
            solve_time += out.solve_time
            if out.status != "infeasible" or user_limited or radius >= cover:
                break
            # nothing within the radius: try a larger one (up to max_radius and the box)
            radius = min(2.0 * radius, radius_cap or math.inf, cover)
            user_limited = radius_cap is not None and radius >= radius_cap
        status, distance, lower = out.status, out.value, out.lower
        if status == "infeasible":
            distance = math.nan
            if radius >= cover:  # no adversarial point anywhere in the box
                status, distance, lower = "optimal", math.inf, math.inf
        elif status != "optimal":
            distance = math.nan
        # a verified adversarial point: the MILP's, pushed across the tie if need be, else the attack's
        witness = None
        if out.point is not None:
            # the optimum of the MILP's activation region, without big-M rounding
            point, ref = out.point, out.value if math.isfinite(out.value) else radius
            polished = _polish(net, _Domain.build(x0, radius, norm, box), int(label[i]), out.point)
            if polished is not None and abs(polished[0] - ref) <= 1e-5 * (1.0 + ref):
                ref, point = polished
                if status == "optimal":
                    distance = ref
            witness = _witness(checker, i, x0, point, norm, box, _MAX_PUSH * (ref + 1e-6))
        if witness is None and verified:
            witness = min(verified, key=lambda p: _norm(p - x0, norm))
        upper = math.inf if witness is None else _norm(witness - x0, norm)
        # d* <= upper (a verified point) and d* <= the polished optimum (a point of the closed
        # set, to the LP's tolerances): a lower bound above either is the solvers' rounding, and
        # is lowered to it (the safe side)
        lower = min(lower, upper)
        if status == "optimal" and math.isfinite(distance):
            lower = min(lower, distance)
        adv_label = int(label[i])
        if witness is not None:
            adv_label = int(checker.logits(witness[None])[0].argmax())
        fields["distance"].append(distance)
        fields["lower"].append(lower)
        fields["upper"].append(upper)
        fields["point"].append(x0 if witness is None else witness)
        fields["success"].append(witness is not None)
        fields["adv_label"].append(adv_label)
        fields["status"].append(status)
        fields["radius"].append(radius)
        fields["n_unstable"].append(n_unstable)
        fields["n_binaries"].append(out.n_binaries)
        fields["nodes"].append(nodes)
        fields["bound_time"].append(bound_time)
        fields["solve_time"].append(solve_time)
        fields["time"].append(time.perf_counter() - t0 + attack_share)
        fields["message"].append(out.message)

    def f64(key: str) -> torch.Tensor:
        return torch.tensor(fields[key], dtype=torch.float64).reshape(n)

    def i64(key: str) -> torch.Tensor:
        return torch.tensor(fields[key], dtype=torch.int64).reshape(n)

    points = np.array(fields["point"], dtype=np.float64).reshape((n, *in_shape))
    adversarial = torch.from_numpy(points).to(x.device)
    return ExactResult(
        distance=f64("distance"),
        lower_bound=f64("lower"),
        upper_bound=f64("upper"),
        perturbation=adversarial - x.to(torch.float64),
        adversarial=adversarial,
        success=torch.tensor(fields["success"], dtype=torch.bool).reshape(n),
        label=torch.from_numpy(label.copy()),
        adv_label=i64("adv_label"),
        status=tuple(fields["status"]),
        radius=f64("radius"),
        n_unstable=i64("n_unstable"),
        n_binaries=i64("n_binaries"),
        nodes=i64("nodes"),
        bound_time=f64("bound_time"),
        solve_time=f64("solve_time"),
        time=f64("time"),
        norm=norm,
        n_hidden=net.n_hidden,
        message=tuple(fields["message"]),
    )


def exact_linf_distance(
    model: nn.Module,
    x: torch.Tensor,
    *,
    bounds: tuple[float, float] | None = None,
    max_radius: float | None = None,
    time_limit: float = 60.0,
    rel_gap: float = 1e-6,
    tightening: str = "symbolic",
    formulation: str = "single",
    attack: bool = True,
) -> ExactResult:
    r"""The minimal L-infinity adversarial perturbation of a small ReLU network, per sample.

    :func:`exact_distance` with ``norm="linf"``: :math:`\min \|x' - x\|_\infty` over the
    points of the box that the model does not put in its class at ``x``.

    Examples
    --------
    An affine classifier, where the distance is known in closed form:
    :math:`|F_0 - F_1| / \|w_0 - w_1\|_1`.

    >>> import torch
    >>> from torch import nn
    >>> f = nn.Linear(2, 2).double()
    >>> with torch.no_grad():
    ...     _ = f.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0]]))
    ...     _ = f.bias.zero_()
    >>> x = torch.tensor([[1.0, 0.2]], dtype=torch.float64)
    >>> res = exact_linf_distance(f, x)
    >>> res.status, round(float(res.distance), 6), round((1.0 - 0.4) / 3.0, 6)
    (('optimal',), 0.2, 0.2)
    >>> bool(res.lower_bound <= res.distance <= res.upper_bound), int(res.adv_label)
    (True, 1)
    """
    return exact_distance(
        model, x, norm="linf", bounds=bounds, max_radius=max_radius, time_limit=time_limit, rel_gap=rel_gap,
        tightening=tightening, formulation=formulation, attack=attack,
    )


def exact_l1_distance(
    model: nn.Module,
    x: torch.Tensor,
    *,
    bounds: tuple[float, float] | None = None,
    max_radius: float | None = None,
    time_limit: float = 60.0,
    rel_gap: float = 1e-6,
    tightening: str = "symbolic",
    formulation: str = "single",
    attack: bool = True,
) -> ExactResult:
    r"""The minimal L1 adversarial perturbation of a small ReLU network, per sample.

    :func:`exact_distance` with ``norm="l1"``.  On an affine classifier the distance is
    :math:`|F_0 - F_1| / \|w_0 - w_1\|_\infty` (all the change on the steepest coordinate).

    >>> import torch
    >>> from torch import nn
    >>> f = nn.Linear(2, 2).double()
    >>> with torch.no_grad():
    ...     _ = f.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0]]))
    ...     _ = f.bias.zero_()
    >>> res = exact_l1_distance(f, torch.tensor([[1.0, 0.2]], dtype=torch.float64))
    >>> round(float(res.distance), 6), round((1.0 - 0.4) / 2.0, 6)
    (0.3, 0.3)
    """
    return exact_distance(
        model, x, norm="l1", bounds=bounds, max_radius=max_radius, time_limit=time_limit, rel_gap=rel_gap,
        tightening=tightening, formulation=formulation, attack=attack,
    )


def exact_certified_radius(
    classifier: nn.Module,
    x: torch.Tensor,
    *,
    norm: str = "linf",
    bounds: tuple[float, float] | None = None,
    time_limit: float = 60.0,
    max_radius: float | None = None,
) -> torch.Tensor:
    r"""Per-sample proven *lower* bounds on the minimal adversarial perturbation, from the exact oracle.

    The same contract as the general certified radius
    (``isobound_torch.certify.certified_radius(classifier, x, *, norm, bounds)``), so that a
    report can take either per sample: for every row ``x_b`` with the model's own
    prediction ``y_b``, every ``x'`` in ``bounds`` with ``||x' - x_b|| < r_b`` has
    :math:`F_{y_b}(x') > F_k(x')` for all :math:`k \ne y_b`.  Here ``r_b`` is
    :attr:`ExactResult.lower_bound` of :func:`exact_distance`: the exact minimal distance
    (to the solver's gap, ``1e-6`` relative by default) where the program was solved to
    optimality, the solver's proven bound where ``time_limit`` ran out, ``max_radius``
    where nothing lies within it, 0 where nothing was proven, and ``inf`` where no point
    of the box is adversarial.  Like the certified radius it is a property of the
    network's real-valued function with its stored weights (evaluated in float64), and
    it rests on the floating-point LP/MILP solver's tolerances (see the module
    docstring).

    Where the upper side is wanted too (lower <= true <= measured), call
    :func:`exact_distance` once and read ``lower_bound`` and ``upper_bound`` (the norm of
    a verified adversarial point) from the same result instead.

    Parameters
    ----------
    classifier : torch.nn.Module
        A ReLU network accepted by :func:`exact_distance` (check with
        :func:`exact_unsupported`).
    x : torch.Tensor
        Inputs ``(B, ...)``.
    norm : {"linf", "l1"}
        L2 is not offered by the exact oracle (not a linear program).
    bounds, time_limit, max_radius
        As for :func:`exact_distance` (``time_limit`` in seconds per input).

    Returns
    -------
    torch.Tensor
        float64, shape ``(B,)``, on ``x``'s device: lower bounds, ``>= 0``.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> f = nn.Linear(2, 2).double()
    >>> with torch.no_grad():
    ...     _ = f.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0]]))
    ...     _ = f.bias.zero_()
    >>> r = exact_certified_radius(f, torch.tensor([[1.0, 0.2], [0.0, 1.0]], dtype=torch.float64))
    >>> closed_form = torch.tensor([0.6 / 3, 2.0 / 3], dtype=torch.float64)  # |F_0 - F_1| / ||w_0 - w_1||_1
    >>> bool((r <= closed_form).all()), bool(torch.allclose(r, closed_form, rtol=1e-5))
    (True, True)
    """
    res = exact_distance(classifier, x, norm=norm, bounds=bounds, time_limit=time_limit, max_radius=max_radius)
    return res.lower_bound.clamp_min(0.0).to(x.device)
