"""Tests for isobound_torch.exact: exact minimal adversarial distances of ReLU networks by MILP.

The oracles are independent of the module's formulation:

* affine classifiers ``F(x) = W x + b``: without a box the L-inf distance to class k is
  ``(F_l - F_k) / ||w_k - w_l||_1`` and the L1 distance ``(F_l - F_k) / ||w_k - w_l||_inf``;
  inside a box the best L-inf move of size ``t`` gains ``sum_i |a_i| min(t, c_i)``
  (``c_i`` the room towards the box side that helps), a piecewise-linear function
  inverted here by sorting the breakpoints;
* ReLU networks on 2-d inputs: the input plane is cut into activation regions; every
  region met is found from the arrangement's vertices (one hidden layer: exact) or from a
  dense grid (two hidden layers), and on each region the network is affine, so the
  minimum there is one LP (``scipy.optimize.linprog``, written here on dense matrices);
* attacks: every distance an attack achieves is at least the exact optimum.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from scipy import optimize

pytest.importorskip("torch")

import torch
from torch import nn

from isobound_torch import DeepFool, make_attack
from isobound_torch.exact import (
    FORMULATIONS,
    TIGHTENINGS,
    ExactResult,
    exact_certified_radius,
    exact_distance,
    exact_l1_distance,
    exact_linf_distance,
)
from isobound_torch.models import MLP, Normalize

F64 = torch.float64


# ---------------------------------------------------------------- helpers
def linear(W: np.ndarray, b: np.ndarray) -> nn.Linear:
    layer = nn.Linear(W.shape[1], W.shape[0]).double()
    with torch.no_grad():
        layer.weight.copy_(torch.as_tensor(W))
        layer.bias.copy_(torch.as_tensor(b))
    return layer


def relu_net(sizes: list[int], seed: int) -> nn.Sequential:
    gen = torch.Generator().manual_seed(seed)
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        W = torch.randn(b, a, generator=gen, dtype=F64) / math.sqrt(a)
        c = 0.3 * torch.randn(b, generator=gen, dtype=F64)
        layers.append(linear(W.numpy(), c.numpy()))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def affine_distance(W: np.ndarray, b: np.ndarray, x: np.ndarray, norm: str) -> float:
    F = W @ x + b
    lab = int(np.argmax(F))
    dual = {"linf": 1, "l1": np.inf}[norm]
    return min(
        (F[lab] - F[k]) / np.linalg.norm(W[k] - W[lab], ord=dual) for k in range(len(F)) if k != lab
    )


def affine_linf_in_box(W: np.ndarray, b: np.ndarray, x: np.ndarray, lo: float, hi: float) -> float:
    """Minimal L-inf move inside [lo, hi]^n that makes another class tie (inf if none)."""
    F = W @ x + b
    lab = int(np.argmax(F))
    best = math.inf
    for k in range(len(F)):
        if k == lab:
            continue
        a = W[k] - W[lab]
        gap = F[lab] - F[k]
        room = np.where(a > 0, hi - x, x - lo)
        g, c = np.abs(a), room
        # gain(t) = sum g_i min(t, c_i): piecewise linear, breakpoints at the c_i
        order = np.argsort(c)
        g, c = g[order], c[order]
        t_prev, gain_prev = 0.0, 0.0
        slope = g.sum()
        for gi, ci in zip(g, c, strict=True):
            gain_at = gain_prev + slope * (ci - t_prev)
            if gain_at >= gap and slope > 0:
                best = min(best, t_prev + (gap - gain_prev) / slope)
                break
            t_prev, gain_prev, slope = ci, gain_at, slope - gi
    return best


def check_consistent(res: ExactResult, model: nn.Module, x: torch.Tensor, bounds: Any = None) -> None:
    """lower <= distance <= upper, and the perturbation flips the model (float64, here)."""
    ok = res.success.numpy()
    lo, d, up = res.lower_bound.numpy(), res.distance.numpy(), res.upper_bound.numpy()
    opt = np.array([s == "optimal" for s in res.status])
    assert np.all(lo[opt] <= d[opt]) and np.all(d[opt] <= up[opt])
    assert np.all(up[opt & ok] - lo[opt & ok] <= 1e-5 * (1 + d[opt & ok]))
    m64 = _double(model)
    with torch.no_grad():
        adv = res.adversarial.cpu()
        pred = m64(adv).argmax(dim=1).numpy()
        clean = model(x).argmax(dim=1).numpy()
    assert np.array_equal(res.label.numpy(), clean)
    assert np.all(pred[ok] != clean[ok])
    assert np.array_equal(res.adv_label.numpy()[ok], pred[ok])
    flat = (adv - x.cpu().double()).reshape(len(x), -1).abs()
    measured = flat.amax(dim=1) if res.norm == "linf" else flat.sum(dim=1)
    np.testing.assert_allclose(measured.numpy()[ok], up[ok], rtol=1e-12, atol=1e-15)
    if bounds is not None:
        assert float(adv.min()) >= bounds[0] and float(adv.max()) <= bounds[1]


def _double(model: nn.Module) -> nn.Module:
    import copy

    return copy.deepcopy(model).double()


# ---------------------------------------------------------------- affine classifiers
@pytest.mark.parametrize("norm", ["linf", "l1"])
@pytest.mark.parametrize("formulation", FORMULATIONS)
def test_affine_closed_form(norm: str, formulation: str) -> None:
    rng = np.random.default_rng(1)
    W, b = rng.normal(size=(4, 5)), rng.normal(size=4)
    x = rng.normal(size=(6, 5))
    model = linear(W, b)
    xt = torch.as_tensor(x)
    res = exact_distance(model, xt, norm=norm, formulation=formulation)
    want = np.array([affine_distance(W, b, xi, norm) for xi in x])
    assert res.status == ("optimal",) * 6
    np.testing.assert_allclose(res.distance.numpy(), want, rtol=1e-6, atol=1e-7)
    assert np.all(res.lower_bound.numpy() <= want) and np.all(res.upper_bound.numpy() >= want)
    check_consistent(res, model, xt)


def test_affine_in_box_matches_sorted_breakpoints() -> None:
    rng = np.random.default_rng(2)
    W, b = rng.normal(size=(3, 6)), rng.normal(size=3)
    x = rng.uniform(0, 1, size=(8, 6))
    model = linear(W, b)
    xt = torch.as_tensor(x)
    res = exact_linf_distance(model, xt, bounds=(0, 1))
    want = np.array([affine_linf_in_box(W, b, xi, 0.0, 1.0) for xi in x])
    fin = np.isfinite(want)
    np.testing.assert_allclose(res.distance.numpy()[fin], want[fin], rtol=1e-6, atol=1e-7)
    assert np.all(np.isinf(res.distance.numpy()[~fin]))
    # the box can only make the distance larger
    free = exact_linf_distance(model, xt).distance.numpy()
    assert np.all(res.distance.numpy() >= free * (1 - 1e-7))
    check_consistent(res, model, xt, (0, 1))


def test_normalize_in_front_is_the_folded_affine_map() -> None:
    rng = np.random.default_rng(3)
    W, b = rng.normal(size=(3, 8)), rng.normal(size=3)
    mean, std = [0.3, 0.6], [0.5, 2.0]
    model = nn.Sequential(Normalize(mean, std), nn.Flatten(), linear(W, b)).double()
    x = torch.as_tensor(rng.uniform(0, 1, size=(5, 2, 2, 2)))
    # the same classifier written out: W (x - m) / s + b
    scale = np.repeat(1 / np.array(std), 4)
    shift = np.repeat(np.array(mean), 4)
    Wf, bf = W * scale, b - (W * scale) @ shift
    want = np.array([affine_distance(Wf, bf, xi, "linf") for xi in x.reshape(5, -1).numpy()])
    res = exact_linf_distance(model, x)
    np.testing.assert_allclose(res.distance.numpy(), want, rtol=1e-6, atol=1e-7)
    check_consistent(res, model, x)


def test_no_adversarial_point_in_the_box_is_an_infinite_distance() -> None:
    W = np.array([[0.1, 0.1], [0.0, 0.0]])
    model = linear(W, np.array([5.0, 0.0]))  # class 0 wins everywhere in [0, 1]^2
    x = torch.tensor([[0.5, 0.5]], dtype=F64)
    res = exact_linf_distance(model, x, bounds=(0, 1))
    assert res.status == ("optimal",)
    assert math.isinf(float(res.distance)) and math.isinf(float(res.lower_bound))
    assert not bool(res.success) and math.isinf(float(res.upper_bound))
    assert torch.equal(res.perturbation, torch.zeros_like(res.perturbation))


# ---------------------------------------------------------------- ReLU nets: brute force
def _patterns_and_maps(model: nn.Sequential) -> list[tuple[np.ndarray, np.ndarray]]:
    return [
        (m.weight.detach().double().numpy(), m.bias.detach().double().numpy())
        for m in model
        if isinstance(m, nn.Linear)
    ]


def _pattern(layers: list[tuple[np.ndarray, np.ndarray]], p: np.ndarray) -> tuple[bool, ...]:
    h = p
    bits: list[bool] = []
    for W, b in layers[:-1]:
        h = W @ h + b
        bits += list(h > 0)
        h = np.maximum(h, 0)
    return tuple(bits)


def _region_lp(
    layers: list[tuple[np.ndarray, np.ndarray]], pattern: tuple[bool, ...], x: np.ndarray, lab: int,
    norm: str, box: tuple[float, float],
) -> float:
    """min ||x' - x|| over the closure of one activation region, for any class beating ``lab``."""
    n = x.size
    # the affine map x -> h of every layer under the fixed pattern: h = A x + c
    A, c = np.eye(n), np.zeros(n)
    rows_ub, rhs_ub = [], []
    pos = 0
    for W, b in layers[:-1]:
        hA, hc = W @ A, W @ c + b
        on = np.array(pattern[pos : pos + W.shape[0]])
        pos += W.shape[0]
        # on: h >= 0  ->  -hA x <= hc ; off: h <= 0  ->  hA x <= -hc
        rows_ub.append(np.where(on[:, None], -hA, hA))
        rhs_ub.append(np.where(on, hc, -hc))
        A, c = hA * on[:, None], hc * on
    W, b = layers[-1]
    FA, Fc = W @ A, W @ c + b
    best = math.inf
    for k in range(FA.shape[0]):
        if k == lab:
            continue
        # F_k - F_lab >= 0  ->  -(FA_k - FA_lab) x <= Fc_k - Fc_lab
        G = np.vstack([*rows_ub, -(FA[k] - FA[lab])[None]])
        h = np.concatenate([*rhs_ub, [Fc[k] - Fc[lab]]])
        if norm == "linf":  # variables (x', t)
            G2 = np.hstack([G, np.zeros((G.shape[0], 1))])
            I = np.eye(n)
            G2 = np.vstack([G2, np.hstack([I, -np.ones((n, 1))]), np.hstack([-I, -np.ones((n, 1))])])
            h2 = np.concatenate([h, x, -x])
            cost = np.r_[np.zeros(n), 1.0]
            bnds = [box] * n + [(0, None)]
        else:  # variables (x', e)
            I = np.eye(n)
            G2 = np.vstack([np.hstack([G, np.zeros((G.shape[0], n))]), np.hstack([I, -I]), np.hstack([-I, -I])])
            h2 = np.concatenate([h, x, -x])
            cost = np.r_[np.zeros(n), np.ones(n)]
            bnds = [box] * n + [(0, None)] * n
        res = optimize.linprog(cost, A_ub=G2, b_ub=h2, bounds=bnds, method="highs")
        if res.status == 0:
            best = min(best, float(res.fun))
    return best


def _vertex_points(layers: list[tuple[np.ndarray, np.ndarray]], box: tuple[float, float]) -> np.ndarray:
    """One point in every cell around every vertex of the arrangement of the first layer's lines and the box."""
    W, b = layers[0]
    lines = [(W[j], -b[j]) for j in range(W.shape[0])]  # w . p = r
    lo, hi = box
    lines += [(np.array([1.0, 0.0]), lo), (np.array([1.0, 0.0]), hi), (np.array([0.0, 1.0]), lo),
              (np.array([0.0, 1.0]), hi)]
    pts = []
    eps = 1e-7
    for (w1, r1), (w2, r2) in itertools.combinations(lines, 2):
        M = np.vstack([w1, w2])
        if abs(np.linalg.det(M)) < 1e-12:
            continue
        for s1, s2 in itertools.product((-1, 1), repeat=2):
            pts.append(np.linalg.solve(M, [r1 + s1 * eps, r2 + s2 * eps]))
    P = np.array(pts)
    return P[(P >= lo).all(axis=1) & (P <= hi).all(axis=1)]


def brute_force(model: nn.Sequential, x: np.ndarray, norm: str, box: tuple[float, float], grid: int) -> float:
    layers = _patterns_and_maps(model)
    lab = int(np.argmax(model(torch.as_tensor(x[None])).detach().numpy()))
    g = np.linspace(box[0], box[1], grid)
    pts = np.stack(np.meshgrid(g, g), axis=-1).reshape(-1, 2)
    if len(layers) == 2:
        pts = np.vstack([pts, _vertex_points(layers, box)])
    patterns = {_pattern(layers, p) for p in pts}
    return min(_region_lp(layers, pat, x, lab, norm, box) for pat in patterns)


@pytest.mark.parametrize("norm", ["linf", "l1"])
@pytest.mark.parametrize(("sizes", "seed"), [([2, 10, 3], 0), ([2, 10, 3], 1), ([2, 6, 6, 3], 2)])
def test_relu_net_matches_region_brute_force(sizes: list[int], seed: int, norm: str) -> None:
    model = relu_net(sizes, seed)
    rng = np.random.default_rng(seed)
    box = (-2.0, 2.0)
    x = rng.uniform(-1, 1, size=(3, 2))
    grid = 60 if len(sizes) == 3 else 300
    want = np.array([brute_force(model, xi, norm, box, grid) for xi in x])
    xt = torch.as_tensor(x)
    res = exact_distance(model, xt, norm=norm, bounds=box)
    assert set(res.status) == {"optimal"}
    np.testing.assert_allclose(res.distance.numpy(), want, rtol=1e-6, atol=1e-7)
    check_consistent(res, model, xt, box)


def test_brute_force_catches_unsound_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison can fail: pre-activation bounds shrunk below the truth cut the optimum off."""
    import isobound_torch.exact as ex

    model = relu_net([2, 10, 3], 0)
    x = np.random.default_rng(0).uniform(-1, 1, size=(3, 2))
    want = np.array([brute_force(model, xi, "linf", (-2.0, 2.0), 60) for xi in x])
    good = exact_linf_distance(model, torch.as_tensor(x), bounds=(-2.0, 2.0)).distance.numpy()
    np.testing.assert_allclose(good, want, rtol=1e-6)
    monkeypatch.setattr(ex, "_widen", lambda lo, hi: (0.5 * lo, 0.5 * hi))
    bad = exact_linf_distance(model, torch.as_tensor(x), bounds=(-2.0, 2.0), tightening="interval")
    assert not np.allclose(bad.distance.numpy(), want, rtol=1e-6, equal_nan=False)


# ---------------------------------------------------------------- the digits MLP
@pytest.fixture(scope="module")
def digits_mlp() -> tuple[nn.Module, torch.Tensor]:
    from isobound_torch.data import load_digits

    torch.manual_seed(0)
    ds = load_digits()
    x, y = ds.to_float(ds.train_images), ds.train_labels
    model = MLP(64, 10, (16, 16))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(25):
        for i in range(0, len(y), 128):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[i : i + 128]), y[i : i + 128]).backward()
            opt.step()
    model.eval()
    for p in model.parameters():
        p.grad = None
    return model, ds.to_float(ds.test_images[:6])


@pytest.fixture(scope="module")
def digits_exact(digits_mlp: tuple[nn.Module, torch.Tensor]) -> ExactResult:
    model, x = digits_mlp
    return exact_linf_distance(model, x, bounds=(0, 1))


#: Attacks whose distances must never beat the exact optimum (one line per attack).
ATTACKS: list[tuple[str, Callable[[], Any]]] = [
    ("deepfool-linf", lambda: DeepFool(norm="linf", bounds=(0, 1))),
    ("deepfool-linf-refined", lambda: DeepFool(norm="linf", bounds=(0, 1), refine=True)),
    ("deepfool-linf-no-overshoot", lambda: DeepFool(norm="linf", overshoot=0.0, bounds=(0, 1), refine=True)),
]


@pytest.mark.parametrize(("name", "make"), ATTACKS, ids=[a[0] for a in ATTACKS])
def test_no_attack_beats_the_exact_optimum(
    digits_mlp: tuple[nn.Module, torch.Tensor], digits_exact: ExactResult, name: str, make: Callable[[], Any]
) -> None:
    model, x = digits_mlp
    res = make()(model, x)
    d = res.distances.numpy()
    assert np.all(d >= digits_exact.lower_bound.numpy()), name
    assert np.all(digits_exact.upper_bound.numpy() <= d * (1 + 1e-9))


#: Minimal-norm attacks: these get so close to the optimum that they may land inside the exact
#: oracle's own margin (its returned point is pushed across the boundary by up to 1e-4 of the
#: distance), so only the proven lower bound is a hard floor for them.
MINNORM_ATTACKS: list[tuple[str, Callable[[], Any]]] = [
    ("fmn-linf", lambda: make_attack("fmn", norm="linf", bounds=(0, 1), steps=100)),
    ("best-linf", lambda: make_attack("best", norm="linf", bounds=(0, 1), steps=100)),
]


@pytest.mark.parametrize(("name", "make"), MINNORM_ATTACKS, ids=[a[0] for a in MINNORM_ATTACKS])
def test_minimal_norm_attacks_never_beat_the_optimum_and_come_close(
    digits_mlp: tuple[nn.Module, torch.Tensor], digits_exact: ExactResult, name: str, make: Callable[[], Any]
) -> None:
    model, x = digits_mlp
    res = make()(model, x)
    d = res.distances.numpy()
    lower = digits_exact.lower_bound.numpy()
    assert np.all(np.isfinite(d)), name
    assert np.all(d >= lower), name
    # AttackBench's per-sample optimality d*/d_i, with the proven lower bound standing in for d*
    optimality = lower / d
    assert optimality.mean() >= (0.98 if name.startswith("best") else 0.9), (name, optimality)


def test_digits_mlp_linf(digits_mlp: tuple[nn.Module, torch.Tensor], digits_exact: ExactResult) -> None:
    model, x = digits_mlp
    res = digits_exact
    assert set(res.status) == {"optimal"} and bool(res.success.all())
    assert res.n_hidden == 32 and res.norm == "linf" and len(res) == 6
    assert res.distance.dtype == F64 and res.perturbation.shape == x.shape
    check_consistent(res, model, x, (0, 1))
    # the solver had to branch on unstable neurons: this is not an affine problem
    assert int(res.n_unstable.max()) > 0
    assert np.all(res.radius.numpy() >= res.distance.numpy())


def test_formulations_and_tightenings_agree(
    digits_mlp: tuple[nn.Module, torch.Tensor], digits_exact: ExactResult
) -> None:
    model, x = digits_mlp
    ref = digits_exact.distance.numpy()[:3]
    unstable = {}
    for tightening, formulation in [("interval", "per_target"), ("symbolic", "per_target"), ("lp", "single")]:
        res = exact_linf_distance(model, x[:3], bounds=(0, 1), tightening=tightening, formulation=formulation)
        np.testing.assert_allclose(res.distance.numpy(), ref, rtol=2e-6)
        unstable[tightening] = res.n_unstable.numpy()
    # symbolic bounds are intersected with the interval ones: never more unstable neurons
    # (LP bounds feed the next layer's symbolic pass, whose adaptive ReLU lines are not
    # monotone in the bounds, so no such order is claimed between "lp" and "symbolic")
    assert np.all(unstable["symbolic"] <= unstable["interval"])
    assert np.any(unstable["symbolic"] < unstable["interval"])


def test_digits_mlp_l1_against_attack_points(digits_mlp: tuple[nn.Module, torch.Tensor]) -> None:
    model, x = digits_mlp
    res = exact_l1_distance(model, x[:3], bounds=(0, 1))
    assert set(res.status) == {"optimal"}
    check_consistent(res, model, x[:3], (0, 1))
    for norm in ("linf", "l2"):
        att = DeepFool(norm=norm, bounds=(0, 1), refine=True)(model, x[:3])
        l1 = att.perturbation.reshape(3, -1).abs().sum(dim=1).double().numpy()
        assert np.all(l1[att.success.numpy()] >= res.lower_bound.numpy()[att.success.numpy()])
    # an L1 ball is inside the L-inf ball of the same radius: the L1 distance is the larger
    linf = exact_linf_distance(model, x[:3], bounds=(0, 1)).distance.numpy()
    assert np.all(res.distance.numpy() >= linf)


def test_time_limit_gives_proven_bounds(digits_mlp: tuple[nn.Module, torch.Tensor], digits_exact: ExactResult) -> None:
    model, x = digits_mlp
    res = exact_linf_distance(model, x, bounds=(0, 1), time_limit=1e-3)
    exact = digits_exact.distance.numpy()
    assert set(res.status) <= {"time_limit", "optimal"} and "time_limit" in res.status
    limited = np.array([s == "time_limit" for s in res.status])
    assert np.all(np.isnan(res.distance.numpy()[limited]))
    assert np.all(res.lower_bound.numpy() <= exact)
    assert np.all(res.upper_bound.numpy() >= exact * (1 - 1e-9))
    check_consistent(res, model, x, (0, 1))


def test_max_radius_below_the_distance(digits_mlp: tuple[nn.Module, torch.Tensor], digits_exact: ExactResult) -> None:
    model, x = digits_mlp
    exact = digits_exact.distance.numpy()
    cap = 0.5 * float(exact.min())
    res = exact_linf_distance(model, x, bounds=(0, 1), max_radius=cap)
    assert res.status == ("infeasible",) * len(x)
    np.testing.assert_array_equal(res.lower_bound.numpy(), cap)
    assert np.all(np.isnan(res.distance.numpy()))
    # the attack's point, verified, is still reported as an upper bound
    assert np.all(res.upper_bound.numpy()[res.success.numpy()] >= exact[res.success.numpy()])
    # a max_radius above the distance changes nothing
    big = exact_linf_distance(model, x[:2], bounds=(0, 1), max_radius=float(exact.max()) * 2, attack=False)
    np.testing.assert_allclose(big.distance.numpy(), exact[:2], rtol=2e-6)


def test_model_is_left_alone(digits_mlp: tuple[nn.Module, torch.Tensor]) -> None:
    model, x = digits_mlp
    before = {k: v.clone() for k, v in model.state_dict().items()}
    exact_linf_distance(model, x[:1], bounds=(0, 1))
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) and after[k].dtype == torch.float32 for k in before)
    assert all(p.grad is None for p in model.parameters())
    assert not model.training


def test_certified_radius_is_the_proven_lower_bound(
    digits_mlp: tuple[nn.Module, torch.Tensor], digits_exact: ExactResult
) -> None:
    """The certified-radius interface: float64 (B,) lower bounds, exact where solved, sound at a time limit."""
    model, x = digits_mlp
    r = exact_certified_radius(model, x[:3], bounds=(0, 1))
    assert r.dtype == F64 and r.shape == (3,) and r.device == x.device
    exact = digits_exact.distance.numpy()[:3]
    # solved to optimality: the exact value, to the solver's gap, and never above it
    assert np.all(r.numpy() <= exact) and np.all(r.numpy() >= exact * (1 - 1e-5))
    # the ball of that radius keeps the label, on the segment towards the nearest adversarial
    # point, which crosses the boundary just past it (a radius 1e-4 too large fails here)
    t = torch.linspace(0, 1, 101, dtype=F64)[:, None]
    with torch.no_grad():
        m64 = _double(model)
        for i in range(3):
            step = digits_exact.perturbation[i].reshape(1, -1) * float(r[i]) / float(digits_exact.upper_bound[i])
            pts = x[i].double().reshape(1, -1) + (1 - 1e-9) * t * step
            assert bool((m64(pts).argmax(dim=1) == int(digits_exact.label[i])).all())
    # a time limit hit: the proven part only, still below the exact value, 0 at worst
    quick = exact_certified_radius(model, x, bounds=(0, 1), time_limit=1e-3)
    assert np.all(quick.numpy() >= 0) and np.all(quick.numpy() <= digits_exact.distance.numpy())
    with pytest.raises(ValueError, match=r"norm must be one of 'linf', 'l1', got norm='l2'"):
        exact_certified_radius(model, x[:1], norm="l2")


# ---------------------------------------------------------------- layers accepted
def test_layer_chains_are_read_correctly() -> None:
    rng = np.random.default_rng(4)
    W1, b1 = rng.normal(size=(5, 3)), rng.normal(size=5)
    W2, b2 = rng.normal(size=(4, 5)), rng.normal(size=4)
    W3, b3 = rng.normal(size=(3, 4)), rng.normal(size=3)
    x = torch.as_tensor(rng.normal(size=(3, 3)))
    ref = nn.Sequential(linear(W1, b1), nn.ReLU(), linear(W3 @ W2, W3 @ b2 + b3))
    # nested Sequential, an Identity, two Linear layers in a row, a repeated ReLU, eval dropout
    chain = nn.Sequential(
        nn.Sequential(linear(W1, b1), nn.ReLU(), nn.ReLU()),
        nn.Identity(),
        nn.Dropout(0.5),
        linear(W2, b2),
        linear(W3, b3),
    ).eval()
    a, b = exact_linf_distance(ref, x), exact_linf_distance(chain, x)
    np.testing.assert_allclose(a.distance.numpy(), b.distance.numpy(), rtol=1e-7)
    # a ReLU on the input itself
    first = nn.Sequential(nn.ReLU(), linear(W1, b1)).double()
    check_consistent(exact_linf_distance(first, x), first, x)


def test_float32_input_and_empty_batch() -> None:
    model = relu_net([4, 8, 3], 5).float()
    x = torch.rand(2, 4)
    res = exact_linf_distance(model, x, bounds=(0, 1))
    assert res.distance.dtype == F64 and res.adversarial.dtype == F64
    check_consistent(res, model, x, (0, 1))
    empty = exact_linf_distance(model, torch.zeros(0, 4))
    assert len(empty) == 0 and empty.distance.shape == (0,) and empty.perturbation.shape == (0, 4)


# ---------------------------------------------------------------- bad input
class Doubled(nn.Sequential):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 2 * super().forward(x) + torch.arange(3.0, dtype=x.dtype)


@pytest.mark.parametrize(
    ("model", "x", "options", "error", "match"),
    [
        (nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 2)), torch.zeros(1, 2), {}, ValueError,
         r"layer '1' is a Tanh"),
        (nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2, 2)), torch.zeros(1, 1, 3, 3), {}, ValueError,
         r"layer '0' is a Conv2d"),
        (nn.Sequential(nn.Linear(2, 3)), torch.zeros(1, 4, 2), {}, ValueError, r"logits of shape \(batch, K\)"),
        (nn.Sequential(nn.Linear(2, 1)), torch.zeros(1, 2), {}, ValueError, r"K >= 2"),
        (nn.Sequential(nn.Linear(3, 2)), torch.zeros(1, 2), {}, ValueError, r"cannot be evaluated on x of shape"),
        (nn.Sequential(nn.Linear(2, 2)), torch.tensor([[0.0, math.nan]]), {}, ValueError, r"NaN"),
        (nn.Sequential(nn.Linear(2, 2)), torch.zeros(2), {}, ValueError, r"shape \(batch, features"),
        (nn.Sequential(nn.Linear(2, 2)), [[0.0, 0.0]], {}, TypeError, r"x must be a torch.Tensor"),
        (nn.Sequential(nn.Linear(2, 2)), torch.zeros(1, 2, dtype=torch.int64), {}, TypeError, r"floating-point"),
        (lambda x: x, torch.zeros(1, 2), {}, TypeError, r"torch.nn.Module"),
        (nn.Sequential(nn.Linear(2, 2)), torch.zeros(1, 2), {"time_limit": 0}, ValueError, r"time_limit"),
        (nn.Sequential(nn.Linear(2, 2)), torch.zeros(1, 2), {"time_limit": -1.0}, ValueError, r"time_limit"),
        (nn.Sequential(nn.Linear(2, 2)), torch.zeros(1, 2), {"time_limit": math.nan}, ValueError, r"time_limit"),
        (nn.Sequential(nn.Linear(2, 2)), torch.zeros(1, 2), {"time_limit": "5"}, TypeError, r"time_limit"),
        (nn.Sequential(nn.Linear(2, 2)), torch.zeros(1, 2), {"rel_gap": -1e-3}, ValueError, r"rel_gap"),
        (nn.Sequential(nn.Linear(2, 2)), torch.zeros(1, 2), {"max_radius": 0.0}, ValueError, r"max_radius"),
        (nn.Sequential(nn.Linear(2, 2)), torch.zeros(1, 2), {"bounds": (1, 0)}, ValueError, r"bounds"),
        (nn.Sequential(nn.Linear(2, 2)), torch.zeros(1, 2), {"bounds": 1.0}, TypeError, r"bounds"),
        (nn.Sequential(nn.Linear(2, 2)), torch.full((1, 2), 2.0), {"bounds": (0, 1)}, ValueError,
         r"outside bounds"),
        (nn.Sequential(nn.Linear(2, 2)), torch.zeros(1, 2), {"tightening": "milp"}, ValueError, r"tightening"),
        (nn.Sequential(nn.Linear(2, 2)), torch.zeros(1, 2), {"formulation": "many"}, ValueError, r"formulation"),
        (nn.Sequential(nn.Linear(2, 2)), torch.zeros(1, 2), {"attack": 1}, TypeError, r"attack"),
        (nn.Sequential(nn.Linear(2, 2), nn.Dropout()), torch.zeros(1, 2), {}, ValueError, r"training mode"),
        (Doubled(nn.Linear(2, 3)), torch.zeros(1, 2), {}, ValueError, r"differs from the composition"),
        (nn.Sequential(nn.Flatten(0), nn.Linear(2, 2)), torch.zeros(1, 2), {}, ValueError,
         r"logits of shape|Flatten\(start_dim=1"),
    ],
)
def test_bad_input(model: Any, x: Any, options: dict[str, Any], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        exact_linf_distance(model, x, **options)


def test_exact_unsupported_says_why() -> None:
    from isobound_torch.exact import exact_unsupported

    assert exact_unsupported(MLP(4, 3, (5,)), (1, 2, 2)) is None
    assert exact_unsupported(MLP(4, 3, (5,)), (5,)) is not None  # wrong input size
    conv = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2, 2))
    assert "layer '0' is a Conv2d" in str(exact_unsupported(conv, (1, 3, 3)))
    assert "training mode" in str(exact_unsupported(nn.Sequential(nn.Linear(2, 2), nn.Dropout()), (2,)))
    assert "torch.nn.Module" in str(exact_unsupported(lambda x: x, (2,)))


def test_unknown_norm_is_refused() -> None:
    with pytest.raises(ValueError, match=r"norm must be one of 'linf', 'l1', got norm='l2'"):
        exact_distance(nn.Linear(2, 2), torch.zeros(1, 2), norm="l2")


def test_options_are_listed() -> None:
    assert TIGHTENINGS == ("interval", "symbolic", "lp") and FORMULATIONS == ("single", "per_target")
