"""The certified local modulus and the certified probabilistic modulus of a generator.

Oracles, all independent of the code under test:

* affine generators ``g(z) = A z + b``: ``M_t(z) = t ||A||_2`` (l2) and ``t max_i ||A_i||_2``
  (l-inf), with the norms computed in 50-digit mpmath;
* any generator: every point of the ball gives a lower bound on ``M_t(z)`` (random points,
  projected gradient ascent with restarts, a dense grid of a 2-d ball), so the certified
  value must never be below the best of them;
* float rounding: enclosures must contain the network's values and Jacobians computed in
  50-digit mpmath from the same float weights.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import mpmath
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from scipy.special import ndtr  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

import isobound  # noqa: E402
from isobound_torch import (  # noqa: E402
    UnsupportedModuleError,
    certified_local_sup,
    certified_modulus,
    local_sup,
    required_samples,
)
from isobound_torch.certify._bounds import Sets, propagate, spectral_norm_upper  # noqa: E402
from isobound_torch.certify._program import build_program  # noqa: E402
from isobound_torch.models import DCGANGenerator, VAEDecoder  # noqa: E402

F64 = torch.float64


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Any:
    """Tiny networks: threads only contend (10x slower on a busy 2-core machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _mp_spectral_norm(a: torch.Tensor) -> mpmath.mpf:
    with mpmath.workdps(50):
        m = mpmath.matrix(a.tolist())
        return max(mpmath.svd_r(m, compute_uv=False))


def _mp_row_norm(a: torch.Tensor) -> mpmath.mpf:
    with mpmath.workdps(50):
        return max(mpmath.sqrt(mpmath.fsum(mpmath.mpf(x) ** 2 for x in row)) for row in a.tolist())


def _affine(a: torch.Tensor) -> nn.Module:
    g = nn.Linear(a.shape[1], a.shape[0]).to(F64).eval()
    with torch.no_grad():
        g.weight.copy_(a)
        g.bias.uniform_(-1, 1)
    return g


#: the empirical gaps ||g(z + u) - g(z)|| are themselves computed in float64, so they can exceed the
#: true ones by their own rounding (a few ulps of the image values); they are compared with this slack
SLACK_REL, SLACK_ABS = 1e-12, 1e-13


def _below(cert: torch.Tensor, low: torch.Tensor) -> bool:
    """``cert >= low`` up to the float64 rounding of the empirical ``low``."""
    return bool((cert >= low * (1 - SLACK_REL) - SLACK_ABS).all())


def _lower_estimate(g: Any, z: torch.Tensor, t: float, *, seed: int = 0, points: int = 200) -> torch.Tensor:
    """Best of projected ascent with restarts and random points of the ball (and its sphere): a lower bound."""
    rng = torch.Generator().manual_seed(seed)
    best = local_sup(g, z, t, steps=25, restarts=3, generator_rng=rng)
    u = torch.randn(points, *z.shape, generator=rng, dtype=F64)
    u = u / u.norm(dim=2, keepdim=True)
    scale = torch.rand(points, z.shape[0], 1, generator=rng, dtype=F64) ** (1.0 / z.shape[1])
    scale[: points // 2] = 1.0  # half on the sphere
    u = t * u * scale
    with torch.no_grad():
        base = g(z)
        gaps = (g((z[None] + u).flatten(0, 1)).reshape(points, z.shape[0], -1) - base.flatten(1)[None]).norm(dim=2)
    return torch.maximum(best, gaps.max(dim=0).values)


# ---------------------------------------------------------------------------------------------- exact


@pytest.mark.parametrize(("rows", "cols"), [(12, 3), (3, 7), (40, 10), (1, 5), (5, 1)])
def test_affine_generator_gives_t_times_the_norm_within_1e9_never_below(rows: int, cols: int) -> None:
    gen = torch.Generator().manual_seed(rows * 31 + cols)
    a = torch.randn(rows, cols, generator=gen, dtype=F64) * torch.logspace(-2, 2, cols, dtype=F64)
    g = _affine(a)
    z = torch.randn(4, cols, generator=gen, dtype=F64) * 3
    radii = [1e-3, 0.3, 2.0, 50.0]
    t = torch.tensor(radii, dtype=F64)
    for norm, exact in (("l2", _mp_spectral_norm(a)), ("linf", _mp_row_norm(a))):
        got = certified_local_sup(g, z, radii, norm=norm)
        for value, tt in zip(got.flatten().tolist(), t.repeat(4).tolist(), strict=True):
            want = mpmath.mpf(tt) * exact
            assert value >= want, (norm, value, want)  # compared in exact arithmetic
            assert (mpmath.mpf(value) - want) / want <= 1e-9


def test_the_spectral_bound_is_above_the_exact_norm_where_plain_float64_is_below() -> None:
    """Rounding matters: LAPACK's float64 norm falls below the 50-digit value on some matrices."""
    gen = torch.Generator().manual_seed(5)
    below = 0
    for _ in range(30):
        a = torch.randn(16, 4, generator=gen, dtype=F64) * torch.logspace(-3, 3, 4, dtype=F64)
        exact = _mp_spectral_norm(a)
        plain = float(torch.linalg.matrix_norm(a, 2))
        below += plain < exact
        bound = float(spectral_norm_upper(a))
        assert bound >= exact
        assert (bound - exact) / exact < 1e-11
    assert below > 0  # the test can fail: without the margin some of these would be too small


def test_a_bound_without_rounding_margins_would_fail_the_enclosure_check() -> None:
    """Cancellation: sum of large terms that nearly cancel; the enclosure must contain the exact sum."""
    n = 64
    gen = torch.Generator().manual_seed(1)
    w = torch.randn(1, n, generator=gen, dtype=F64) * 1e8
    w[0, -1] = -(w[0, :-1].sum())  # the float sum is nearly zero, rounding errors are not
    g = _affine(w)
    with torch.no_grad():
        g.bias.zero_()
    z = torch.rand(50, n, generator=gen, dtype=F64) + 0.5
    program = build_program(g, (n,))
    zeros = torch.zeros(50, dtype=F64)
    prop = propagate(program, Sets(z, torch.zeros_like(z), z, zeros))
    c, r = prop.point
    misses = 0
    with mpmath.workdps(60):
        for i in range(50):
            pairs = zip(w[0].tolist(), z[i].tolist(), strict=True)
            exact = mpmath.fsum(mpmath.mpf(a) * mpmath.mpf(b) for a, b in pairs)
            lo = mpmath.mpf(float(c[i, 0])) - mpmath.mpf(float(r[i, 0]))
            hi = mpmath.mpf(float(c[i, 0])) + mpmath.mpf(float(r[i, 0]))
            assert lo <= exact <= hi
            misses += exact != mpmath.mpf(float(c[i, 0]))
    assert misses > 0  # the plain float value alone (radius 0) would miss the exact one


# ---------------------------------------------------------------------------------------------- float soundness


def _mp_mlp(layers: list[tuple[torch.Tensor, torch.Tensor, str]], z: list[float]) -> tuple[list[Any], Any]:
    """Values and Jacobian of an MLP in 50-digit arithmetic (activations: tanh, sigmoid, elu, leaky)."""
    with mpmath.workdps(50):
        x = [mpmath.mpf(v) for v in z]
        jac = mpmath.eye(len(z))
        for w, b, act in layers:
            wm = mpmath.matrix(w.tolist())
            pre = wm * mpmath.matrix(x) + mpmath.matrix(b.tolist())
            jac = wm * jac
            vals, slopes = [], []
            for p in pre:
                if act == "tanh":
                    vals.append(mpmath.tanh(p))
                    slopes.append(1 / mpmath.cosh(p) ** 2)
                elif act == "sigmoid":
                    s = 1 / (1 + mpmath.exp(-p))
                    vals.append(s)
                    slopes.append(s * (1 - s))
                elif act == "elu":
                    vals.append(p if p > 0 else mpmath.expm1(p))
                    slopes.append(mpmath.mpf(1) if p > 0 else mpmath.exp(p))
                elif act == "leaky":
                    vals.append(p if p > 0 else p / 10)
                    slopes.append(mpmath.mpf(1) if p > 0 else mpmath.mpf(1) / 10)
                else:
                    vals.append(p)
                    slopes.append(mpmath.mpf(1))
            x = vals
            jac = mpmath.diag(slopes) * jac
        return x, jac


def test_enclosures_contain_the_50_digit_values_and_jacobians_over_the_ball() -> None:
    gen = torch.Generator().manual_seed(11)
    d = 3
    acts = ["elu", "tanh", "leaky", "sigmoid"]
    modules: list[nn.Module] = []
    layers = []
    width = d
    for act, out in zip(acts, (6, 5, 7, 4), strict=True):
        lin = nn.Linear(width, out).to(F64)
        with torch.no_grad():
            lin.weight.copy_(torch.randn(out, width, generator=gen, dtype=F64) * 1.5)
            lin.bias.copy_(torch.randn(out, generator=gen, dtype=F64))
        layers.append((lin.weight.detach(), lin.bias.detach(), act))
        modules += [lin, {"elu": nn.ELU(), "tanh": nn.Tanh(), "leaky": nn.LeakyReLU(0.1), "sigmoid": nn.Sigmoid()}[act]]
        width = out
    g = nn.Sequential(*modules).eval()
    program = build_program(g, (d,))
    z = torch.randn(3, d, generator=gen, dtype=F64)
    t = torch.tensor([0.05, 0.5, 2.0], dtype=F64)
    prop = propagate(program, Sets(z, t[:, None].expand(3, d), z, t))
    (vc, vr), (jc, jr, eps) = prop.value, prop.jacobian  # type: ignore[misc]
    for i in range(3):
        for _ in range(15):
            u = torch.randn(d, generator=gen, dtype=F64)
            u = u / u.norm() * t[i] * torch.rand(1, generator=gen, dtype=F64) ** (1 / d)
            vals, jac = _mp_mlp(layers, (z[i] + u).tolist())
            with mpmath.workdps(50):
                for k, v in enumerate(vals):
                    assert mpmath.mpf(float(vc[i, k] - vr[i, k])) <= v <= mpmath.mpf(float(vc[i, k] + vr[i, k]))
                diff = mpmath.matrix(jac.rows, jac.cols)
                for k in range(jac.rows):
                    for j in range(jac.cols):
                        c, r = float(jc[i, j, k]), float(jr[i, j, k])
                        assert c - r <= jac[k, j] <= c + r
                        diff[k, j] = jac[k, j] - c
                assert max(mpmath.svd_r(diff, compute_uv=False)) <= float(eps[i])


def test_activation_margins_cover_the_math_library_against_mpmath() -> None:
    """The relative margin on exp/tanh/sigmoid results covers their error at every magnitude."""
    from isobound_torch.certify._bounds import activation_slopes, activation_values
    from isobound_torch.certify._program import ActOp

    x = torch.cat([-torch.logspace(-300, 2.8, 400, dtype=F64), torch.logspace(-300, 2.8, 400, dtype=F64)])
    with mpmath.workdps(40):
        for kind, fn, dfn in (
            ("tanh", mpmath.tanh, lambda v: 1 / mpmath.cosh(v) ** 2),
            (
                "sigmoid",
                lambda v: 1 / (1 + mpmath.exp(-v)),
                lambda v: mpmath.exp(-abs(v)) / (1 + mpmath.exp(-abs(v))) ** 2,
            ),
            ("elu", lambda v: v if v > 0 else mpmath.expm1(v), lambda v: mpmath.mpf(1) if v > 0 else mpmath.exp(v)),
        ):
            op = ActOp(kind, 1.0)
            lo, hi = activation_values(op, x, x)
            d_lo, d_hi = activation_slopes(op, x, x)
            for k in range(0, x.numel(), 7):
                v = mpmath.mpf(float(x[k]))
                assert float(lo[k]) <= fn(v) <= float(hi[k]), (kind, float(x[k]))
                assert float(d_lo[k]) <= dfn(v) <= float(d_hi[k]), (kind, float(x[k]))


# ---------------------------------------------------------------------------------------------- soundness


_ACTS = {
    "relu": nn.ReLU,
    "leaky": lambda: nn.LeakyReLU(0.2),
    "elu": nn.ELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
}


@st.composite
def small_generators(draw: Any) -> tuple[nn.Module, int, int]:
    d = draw(st.integers(1, 4))
    depth = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**31 - 1))
    gen = torch.Generator().manual_seed(seed)
    layers: list[nn.Module] = []
    width = d
    for _ in range(depth):
        out = draw(st.integers(1, 8))
        lin = nn.Linear(width, out).to(F64)
        with torch.no_grad():
            lin.weight.copy_(torch.randn(out, width, generator=gen, dtype=F64) * draw(st.sampled_from([0.5, 1.0, 2.0])))
            lin.bias.copy_(torch.randn(out, generator=gen, dtype=F64))
        layers.append(lin)
        if draw(st.booleans()):
            bn = nn.BatchNorm1d(out).to(F64)
            with torch.no_grad():
                bn.running_mean.copy_(torch.randn(out, generator=gen, dtype=F64))
                bn.running_var.copy_(torch.rand(out, generator=gen, dtype=F64) + 0.3)
                bn.weight.copy_(torch.randn(out, generator=gen, dtype=F64))
                bn.bias.copy_(torch.randn(out, generator=gen, dtype=F64))
            layers.append(bn)
        layers.append(_ACTS[draw(st.sampled_from(sorted(_ACTS)))]())
        width = out
    if draw(st.booleans()):
        lin = nn.Linear(width, 5).to(F64)
        layers.append(lin)
    return nn.Sequential(*layers).eval(), d, seed


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_generators(), st.sampled_from(["l2", "linf"]), st.integers(0, 1), st.sampled_from([1, 3]))
def test_certified_value_is_never_below_any_point_of_the_ball(
    case: Any, norm: str, refine: int, subdivide: int
) -> None:
    g, d, seed = case
    z = torch.randn(3, d, generator=torch.Generator().manual_seed(seed + 1), dtype=F64)
    radii = [0.05, 0.4, 1.5]
    cert = certified_local_sup(g, z, radii, norm=norm, refine=refine, subdivide=subdivide)
    for k, t in enumerate(radii):
        if norm == "l2":
            low = _lower_estimate(g, z, t, seed=seed)
        else:
            low = _linf_lower_estimate(g, z, t, seed)
        assert _below(cert[:, k], low), (k, cert[:, k], low)


def _linf_lower_estimate(g: Any, z: torch.Tensor, t: float, seed: int) -> torch.Tensor:
    rng = torch.Generator().manual_seed(seed)
    u = torch.randn(400, *z.shape, generator=rng, dtype=F64)
    u = t * u / u.norm(dim=2, keepdim=True)
    with torch.no_grad():
        base = g(z)
        out = g((z[None] + u).flatten(0, 1)).reshape(400, z.shape[0], -1)
    return (out - base.flatten(1)[None]).abs().amax(dim=(0, 2))


def test_dense_grid_of_a_2d_ball_stays_below_and_close() -> None:
    gen = torch.Generator().manual_seed(3)
    g = (
        nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 16), nn.ELU(), nn.Linear(16, 10), nn.Sigmoid())
        .to(F64)
        .eval()
    )
    with torch.no_grad():
        for p in g.parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=gen, dtype=F64))
    z = torch.randn(4, 2, generator=gen, dtype=F64)
    radii = [0.02, 0.1, 0.3]
    cert = certified_local_sup(g, z, radii)
    refined = certified_local_sup(g, z, radii, refine=6)
    assert bool((refined <= cert).all())
    # a polar grid: 200 radii x 720 angles (the sup of a smooth map on the disk is on its boundary or
    # inside; both are covered)
    rho = torch.linspace(0, 1, 200, dtype=F64)
    ang = torch.linspace(0, 2 * math.pi, 720, dtype=F64)
    unit = torch.stack([torch.cos(ang), torch.sin(ang)], dim=1)
    pts = (rho[:, None, None] * unit[None]).reshape(-1, 2)
    with torch.no_grad():
        for k, t in enumerate(radii):
            for i in range(4):
                grid = (g(z[i] + t * pts) - g(z[i : i + 1])).norm(dim=1).max()
                assert _below(refined[i, k], grid)
                assert refined[i, k] <= 2.5 * grid  # and not absurdly loose on a smooth net


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_a_relu_network_whose_units_are_all_stable_on_the_ball_is_exact(norm: str) -> None:
    """On a ball where no ReLU changes sign, g is affine: M_t(z) = t ||J(z)|| (50-digit), within 1e-9."""
    gen = torch.Generator().manual_seed(21)
    widths = [3, 10, 10, 6]
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(widths):
        lin = nn.Linear(a, b).to(F64)
        with torch.no_grad():
            lin.weight.copy_(torch.randn(b, a, generator=gen, dtype=F64))
            lin.bias.copy_(torch.randn(b, generator=gen, dtype=F64))
        layers += [lin, nn.ReLU()]
    g = nn.Sequential(*layers[:-1]).eval()  # no ReLU after the last layer
    z = torch.randn(4, 3, generator=gen, dtype=F64)
    t = 1e-7
    got = certified_local_sup(g, z, [t], norm=norm)[:, 0]
    for i in range(4):
        with mpmath.workdps(50):
            x = mpmath.matrix(z[i].tolist())
            jac = mpmath.eye(3)
            for k, lin in enumerate(layers[::2]):
                w = mpmath.matrix(lin.weight.tolist())
                pre = w * x + mpmath.matrix(lin.bias.tolist())
                jac = w * jac
                if k < len(widths) - 2:
                    # the ball keeps every unit on one side (t ||J|| is far below the margin)
                    assert min(abs(p) for p in pre) > 1e-3
                    slopes = [mpmath.mpf(1) if p > 0 else mpmath.mpf(0) for p in pre]
                    x = mpmath.matrix([p * s for p, s in zip(pre, slopes, strict=True)])
                    jac = mpmath.diag(slopes) * jac
            if norm == "l2":
                exact = max(mpmath.svd_r(jac, compute_uv=False))
            else:
                exact = max(mpmath.sqrt(mpmath.fsum(jac[r, c] ** 2 for c in range(3))) for r in range(jac.rows))
            want = mpmath.mpf(t) * exact
            assert mpmath.mpf(float(got[i])) >= want
            assert (mpmath.mpf(float(got[i])) - want) / want <= 1e-9


def test_bisected_boxes_cover_their_parent_in_exact_arithmetic() -> None:
    """Refinement is sound only if the children cover the parent box, rounding of the centers included."""
    from fractions import Fraction

    from isobound_torch.certify._bounds import up
    from isobound_torch.certify._modulus import _split_boxes

    gen = torch.Generator().manual_seed(2)
    n, d = 400, 3
    center = torch.randn(n, d, generator=gen, dtype=F64) * torch.logspace(-3, 8, n, dtype=F64)[:, None]
    half = torch.rand(n, d, generator=gen, dtype=F64) * torch.logspace(-12, 0, n, dtype=F64).flip(0)[:, None]
    cc, ch = _split_boxes(center, half)

    def covers(lo_c: torch.Tensor, lo_h: torch.Tensor, hi_c: torch.Tensor, hi_h: torch.Tensor) -> int:
        """Rows whose two children fail to cover the parent (0 if all cover)."""
        bad = 0
        for i in range(n):
            for j in range(d):
                c, h = Fraction(float(center[i, j])), Fraction(float(half[i, j]))
                a_lo = Fraction(float(lo_c[i, j])) - Fraction(float(lo_h[i, j]))
                a_hi = Fraction(float(lo_c[i, j])) + Fraction(float(lo_h[i, j]))
                b_lo = Fraction(float(hi_c[i, j])) - Fraction(float(hi_h[i, j]))
                b_hi = Fraction(float(hi_c[i, j])) + Fraction(float(hi_h[i, j]))
                ok = min(a_lo, b_lo) <= c - h and max(a_hi, b_hi) >= c + h and a_hi >= b_lo and b_hi >= a_lo
                bad += not ok
        return bad

    assert covers(cc[:n], ch[:n], cc[n:], ch[n:]) == 0
    # the variant without the centers' rounding leaves gaps where |c| >> h: the test can fail
    axis = half.argmax(dim=1)
    rows = torch.arange(n)
    naive_c, naive_h = [], []
    for side in (-1.0, 1.0):
        c, h = center.clone(), half.clone()
        h[rows, axis] = 0.5 * half[rows, axis]
        c[rows, axis] = c[rows, axis] + side * h[rows, axis]
        naive_c.append(c)
        naive_h.append(up(h))
    assert covers(naive_c[0], naive_h[0], naive_c[1], naive_h[1]) > 0


def test_a_piece_that_meets_the_ball_only_in_its_last_shell_is_enclosed_over_its_box() -> None:
    from isobound_torch.certify._modulus import _piece_point

    z = torch.zeros(2, 2, dtype=F64)
    t = torch.ones(2, dtype=F64)
    inner = t * (1 - 1e-9)
    # box 0 lies well inside the ball; box 1 starts at x = 1 - 3e-10, inside B(0, 1) but outside the inner ball
    center = torch.tensor([[0.3, 0.1], [1.1 - 3e-10, 0.0]], dtype=F64)
    half = torch.tensor([[0.1, 0.1], [0.1, 0.1]], dtype=F64)
    p, radius, in_ball = _piece_point(center, half, z, t, inner)
    assert in_ball.tolist() == [True, False]
    assert float(p[0].norm()) <= 1.0
    # for the second, the radius must reach every corner of the box from p (the ball no longer helps)
    corners = torch.tensor([[sx, sy] for sx in (-1, 1) for sy in (-1, 1)], dtype=F64)
    for i in range(2):
        far = ((center[i] + corners * half[i]) - p[i]).norm(dim=1).max()
        if i == 1:
            assert float(radius[i]) >= float(far)
        assert bool(((p[i] >= center[i] - half[i]) & (p[i] <= center[i] + half[i])).all())


def test_the_memory_budget_bounds_the_batch_and_leaves_the_values_alone() -> None:
    from isobound_torch.certify._bounds import jacobian_bytes, sets_per_batch

    torch.manual_seed(12)
    g = nn.Sequential(nn.Linear(3, 16), nn.ELU(), nn.Linear(16, 40), nn.Sigmoid()).to(F64).eval()
    program = build_program(g, (3,))
    assert jacobian_bytes(program, 3) == 12 * 8 * 3 * 40
    assert sets_per_batch(program, 3, 512, 2**30) == 512
    assert sets_per_batch(program, 3, 512, 10 * jacobian_bytes(program, 3)) == 10
    assert sets_per_batch(program, 3, 512, 1) == 1
    z = torch.randn(5, 3, dtype=F64)
    for refine in (0, 2):
        big = certified_local_sup(g, z, [0.1, 0.4], refine=refine)
        small = certified_local_sup(g, z, [0.1, 0.4], refine=refine, max_memory=1)
        torch.testing.assert_close(small, big, rtol=1e-12, atol=0.0)
    # a DCGAN with d = 100 (widest layer 64 x 16 x 16): about 157 MB per pair, 6 pairs in the default 1 GiB
    dcgan = DCGANGenerator(100, 3, 32).eval()
    assert sets_per_batch(build_program(dcgan, (100,)), 100, 512, 2**30) == 2**30 // (12 * 8 * 100 * 64 * 16 * 16) == 6


def test_the_global_product_bound_caps_the_local_one_where_the_enclosures_are_wide() -> None:
    """At large radii every ReLU is undecided and the local enclosure is looser than t L: t L is returned."""
    from isobound_torch import lipschitz_upper_bound

    torch.manual_seed(3)
    d = 32
    layers = [nn.Linear(d, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU()]
    g = nn.Sequential(*layers, nn.Linear(64, 16)).to(F64).eval()
    z = torch.randn(4, d, dtype=F64)
    lip = lipschitz_upper_bound(g).L
    radii = [0.1, 1.0, 10.0]
    cert = certified_local_sup(g, z, radii)
    t = torch.tensor(radii, dtype=F64)
    assert bool((cert <= t * lip * (1 + 1e-15)).all())
    assert bool((cert[:, -1] >= t[-1] * lip).all())  # binding there (the enclosure alone gives about 2 t L)
    assert _below(cert[:, 1], _lower_estimate(g, z, 1.0))


def test_refinement_is_sound_and_tightens_a_relu_network() -> None:
    gen = torch.Generator().manual_seed(8)
    g = nn.Sequential(nn.Linear(2, 24), nn.ReLU(), nn.Linear(24, 24), nn.ReLU(), nn.Linear(24, 6)).to(F64).eval()
    with torch.no_grad():
        for p in g.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=F64))
    z = torch.randn(6, 2, generator=gen, dtype=F64)
    plain = certified_local_sup(g, z, [0.5])
    refined = certified_local_sup(g, z, [0.5], refine=12)
    low = _lower_estimate(g, z, 0.5)
    assert _below(refined[:, 0], low)
    assert bool((refined <= plain).all()) and bool((refined < plain).any())
    # a spent time budget stops the refinement after the first pass; any budget stays between the two
    none = certified_local_sup(g, z, [0.5], refine=12, time_budget=0.0)
    torch.testing.assert_close(none, plain, rtol=0.0, atol=0.0)
    some = certified_local_sup(g, z, [0.5], refine=12, time_budget=0.05)
    assert bool((some <= plain).all()) and bool((some >= refined).all())
    omega = certified_modulus(g, 2, radii=[0.5], failure_prob=0.3, confidence=0.7, refine=12, time_budget=0.0)
    n = required_samples(0.3, 0.7, 1)
    z_omega = torch.randn(n, 2, generator=torch.Generator().manual_seed(0), dtype=F64)
    assert omega.values[0] == float(certified_local_sup(g, z_omega, [0.5]).max())


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_the_radial_sum_over_a_grid_tightens_and_stays_sound(norm: str) -> None:
    """M_t <= sum_k (s_k - s_{k-1}) L(s_k): a grid below t helps where L grows with the radius."""
    torch.manual_seed(9)
    g = (
        nn.Sequential(nn.Linear(4, 32), nn.ELU(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 20), nn.Sigmoid())
        .to(F64)
        .eval()
    )
    z = torch.randn(8, 4, dtype=F64)
    t = 0.4
    alone = certified_local_sup(g, z, [t], norm=norm)[:, 0]
    grid = certified_local_sup(g, z, [0.1, 0.2, 0.3, t], norm=norm)[:, -1]
    fine = certified_local_sup(g, z, [t], norm=norm, subdivide=8)[:, 0]
    assert bool((grid <= alone).all()) and bool((grid < alone).any())
    assert bool((fine <= alone).all()) and bool((fine < alone).any())
    low = _lower_estimate(g, z, t) if norm == "l2" else _linf_lower_estimate(g, z, t, 0)
    assert _below(fine, low) and _below(grid, low)


def test_builtin_generators_are_supported_and_sound() -> None:
    torch.manual_seed(0)
    dcgan = DCGANGenerator(6, 1, 8, ngf=4).to(F64).eval()
    for m in dcgan.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
    vae = VAEDecoder(4, (1, 4, 4), hidden=(8, 12)).to(F64).eval()
    for g, d in ((dcgan, 6), (vae, 4)):
        z = torch.randn(3, d, dtype=F64)
        cert = certified_local_sup(g, z, [0.05, 0.5])
        for k, t in enumerate([0.05, 0.5]):
            assert _below(cert[:, k], _lower_estimate(g, z, t))
        assert bool((cert[:, 0] <= 3.0 * _lower_estimate(g, z, 0.05)).all())


class _Residual(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.inner = nn.Linear(width, width)
        self.up = nn.Upsample(scale_factor=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.inner(torch.tanh(x)) + x) * 0.5 - 0.1
        return self.up(y.view(y.shape[0], 1, 2, -1)).flatten(1)


def test_a_traced_residual_generator_is_sound() -> None:
    torch.manual_seed(2)
    g = nn.Sequential(nn.Linear(3, 8), _Residual(8), nn.Linear(32, 5), nn.Sigmoid()).to(F64).eval()
    z = torch.randn(4, 3, dtype=F64)
    cert = certified_local_sup(g, z, [0.1, 1.0])
    for k, t in enumerate([0.1, 1.0]):
        assert _below(cert[:, k], _lower_estimate(g, z, t))


def test_a_float32_generator_is_certified_in_float64_and_on_its_device() -> None:
    torch.manual_seed(4)
    g = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 4)).eval()  # float32 weights
    z = torch.randn(2, 3)
    cert = certified_local_sup(g, z, [0.2])
    assert cert.dtype == F64 and cert.shape == (2, 1)
    low = _lower_estimate(g.to(F64), z.to(F64), 0.2)
    assert _below(cert[:, 0], low)


# ---------------------------------------------------------------------------------------------- the modulus


def test_certified_modulus_is_the_largest_per_latent_bound_of_its_latents() -> None:
    torch.manual_seed(6)
    g = nn.Sequential(nn.Linear(2, 6), nn.Tanh(), nn.Linear(6, 3)).to(F64).eval()
    radii = [0.1, 0.3]
    omega = certified_modulus(g, 2, radii=radii, failure_prob=0.2, confidence=0.8, seed=3)
    n = required_samples(0.2, 0.8, 2)
    z = torch.randn(n, 2, generator=torch.Generator().manual_seed(3), dtype=F64)
    per_latent = certified_local_sup(g, z, radii)
    assert isinstance(omega, isobound.PiecewiseLinear)
    assert omega.failure_prob == 0.2 and omega.interpolation == "step"
    np.testing.assert_array_equal(omega.values, per_latent.max(dim=0).values.numpy())
    assert omega(1.0) == math.inf  # nothing is claimed beyond the last radius
    more = certified_modulus(g, 2, radii=radii, n_samples=n + 7, failure_prob=0.2, confidence=0.8, seed=3)
    assert bool(np.all(more.values >= omega.values))  # a superset of the same latents
    with pytest.raises(ValueError, match=rf"n_samples={n - 1} is too few .* at least {n} are needed"):
        certified_modulus(g, 2, radii=radii, n_samples=n - 1, failure_prob=0.2, confidence=0.8)


def test_the_issue_reproducer_a_steep_slab_gets_an_honest_bound() -> None:
    """r2: a slab |z_1| < 1e-4 of slope 1e4; an ascent-free sampled slope says 1.0 and the bound 0.68."""
    d, a, w = 10, 1e4, 1e-4

    class Slab(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            e1 = torch.zeros(d, dtype=F64)
            e1[0] = 1.0
            self.register_buffer("e1", e1)

        def forward(self, z: torch.Tensor) -> torch.Tensor:
            return z + a * torch.clamp(z[:, :1], -w, w) * self.e1

    omega = certified_modulus(Slab().eval(), d, radii=[0.5, 1.0], failure_prob=0.01, confidence=0.99)
    # a ball of radius t around z crosses the slab whenever |z_1| < t (probability >> delta), and then
    # g moves by up to t + 2 a w = t + 2: omega must be at least that
    assert omega.values[0] >= 0.5 + 2.0 and omega.values[1] >= 1.0 + 2.0
    bound = isobound.IsoperimetricBound([0.5, 0.5]).through(omega)
    truth = 2 * (ndtr(w) - 0.5)  # classifier 1{x_1 > 0}: r_in = |z_1| + a min(|z_1|, w), P(r_in <= 1)
    assert bound.cdf(1.0) <= truth


# ---------------------------------------------------------------------------------------------- bad input


def test_unsupported_layers_are_named_and_point_at_the_estimate() -> None:
    g = nn.Sequential(nn.Linear(2, 3), nn.GELU()).eval()
    with pytest.raises(UnsupportedModuleError, match=r"layer '1' \(GELU\) is not supported.*estimate_modulus"):
        certified_local_sup(g, torch.zeros(1, 2), [0.1])

    class Sine(nn.Module):
        def forward(self, z: torch.Tensor) -> torch.Tensor:
            return torch.sin(z)

    with pytest.raises(UnsupportedModuleError, match=r"sin is not supported.*estimate_modulus"):
        certified_modulus(Sine().eval(), 2, radii=[0.1], failure_prob=0.1, confidence=0.9)

    class Branchy(nn.Module):
        def forward(self, z: torch.Tensor) -> torch.Tensor:
            return z if z.sum() > 0 else -z

    with pytest.raises(UnsupportedModuleError, match=r"Branchy.*could not be traced"):
        certified_local_sup(Branchy().eval(), torch.zeros(1, 2), [0.1])
    with pytest.raises(UnsupportedModuleError, match=r"must be a torch.nn.Module.*function"):
        certified_local_sup(lambda z: z, torch.zeros(1, 2), [0.1])


def test_training_mode_is_refused() -> None:
    g = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3)).train()
    with pytest.raises(ValueError, match=r"BatchNorm1d layer '1' in training mode"):
        certified_modulus(g, 2, radii=[0.1], failure_prob=0.1, confidence=0.9)
    with pytest.raises(ValueError, match=r"training mode"):
        certified_local_sup(g, torch.zeros(1, 2), [0.1])


_G = nn.Sequential(nn.Linear(2, 3), nn.Tanh()).eval()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"radii": [0.0, 1.0]}, ValueError, r"radii must be a non-empty 1-d array of positive numbers"),
        ({"radii": [-1.0]}, ValueError, r"radii must be a non-empty 1-d array of positive numbers"),
        ({"radii": []}, ValueError, r"radii must be a non-empty"),
        ({"radii": [0.3, 0.2]}, ValueError, r"radii must be strictly increasing"),
        ({"failure_prob": 0.0}, ValueError, r"failure_prob must lie in \(0, 1\), got failure_prob=0.0"),
        ({"failure_prob": 1.0}, ValueError, r"failure_prob must lie in \(0, 1\), got failure_prob=1.0"),
        ({"confidence": 1.0}, ValueError, r"confidence must lie in \(0, 1\), got confidence=1.0"),
        ({"confidence": 0.0}, ValueError, r"confidence must lie in \(0, 1\), got confidence=0.0"),
        ({"norm": "l1"}, ValueError, r"norm must be 'l2' or 'linf', got norm='l1'"),
        ({"method": "crown"}, ValueError, r"method must be 'mean-value' or 'interval', got method='crown'"),
        ({"refine": -1}, ValueError, r"refine must be an integer >= 0, got refine=-1"),
        ({"subdivide": 0}, ValueError, r"subdivide must be an integer >= 1, got subdivide=0"),
        ({"max_memory": 0}, ValueError, r"max_memory must be an integer >= 1, got max_memory=0"),
        ({"time_budget": -1.0}, ValueError, r"time_budget must be None or a finite number of seconds >= 0"),
        ({"time_budget": "1"}, ValueError, r"time_budget must be None or a finite number of seconds"),
        ({"n_samples": 0}, ValueError, r"n_samples must be an integer >= 1, got n_samples=0"),
        ({"latent_dim": 0}, ValueError, r"latent_dim must be an integer >= 1, got latent_dim=0"),
        ({"latent_dim": 3}, ValueError, r"generator does not accept inputs of shape \(2, 3\)"),
    ],
)
def test_certified_modulus_validates(kwargs: dict[str, Any], error: type, match: str) -> None:
    args: dict[str, Any] = {"radii": [0.1], "failure_prob": 0.1, "confidence": 0.9, **kwargs}
    latent_dim = args.pop("latent_dim", 2)
    with pytest.raises(error, match=match):
        certified_modulus(_G, latent_dim, **args)


@pytest.mark.parametrize(
    ("z", "error", "match"),
    [
        (torch.zeros(3), ValueError, r"z must have shape \(batch, latent_dim\)"),
        (np.zeros((1, 2)), TypeError, r"z must be a torch.Tensor"),
        (torch.full((1, 2), math.nan), ValueError, r"z must be a floating-point tensor of finite values"),
        (torch.zeros(1, 2, dtype=torch.long), ValueError, r"floating-point"),
    ],
)
def test_certified_local_sup_validates_latents(z: Any, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        certified_local_sup(_G, z, [0.1])
