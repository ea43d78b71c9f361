"""The rounding contract of every public value of :class:`IsoperimetricBound`.

``tests/test_accuracy.py`` checks that each value is on its safe side of the
50-digit truth.  That alone cannot notice a margin that shrinks: the kernel's
error bounds are a factor of two (or more) above the errors actually made on
the sweep, so a value moved by *less* than its bound still lands on the safe
side of every input tried.  These tests pin the other half of the argument:
each returned value is the kernel's raw value moved by at least the kernel's
own error bound for it (plus the two ulps of the final rounding), on both the
vector and the scalar path, and in the value and log domains.  Together with
``test_error_factors_bound_the_raw_error`` (the error bound holds) they give
the safe side by construction, whatever inputs the sweep happens to contain.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from isobound import IsoperimetricBound

EPS = 2.0**-52
HALF_ULP1 = 2.0**-53

BOUNDS = {
    "three classes": IsoperimetricBound([0.5, 0.3, 0.2]),
    "ten Dirichlet": IsoperimetricBound(np.random.default_rng(3).dirichlet(np.ones(10))),
    "two equal": IsoperimetricBound([0.5, 0.5]),
    "majority 1 - 1e-6": IsoperimetricBound([1 - 1e-6, 0.6e-6, 0.4e-6]),
    "K = 1000": IsoperimetricBound.equiprobable(1000),
    "log p (0, -50)": IsoperimetricBound.from_log_probs([0.0, -50.0], normalize=True),
}
RADII = np.concatenate([np.geomspace(1e-12, 0.1, 25), np.linspace(0.15, 8.0, 60), [12.0, 20.0, 30.0]])


def _sides(b: IsoperimetricBound, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Masks of the radii the bound evaluates on the mass side (B <= 1/2) and on the tail side."""
    k = b._k
    s, _ = k.tail(x)
    mass_side = (x * math.exp(k.log_m) < 0.5) | (s >= 0.5)
    return mass_side, ~mass_side


@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_vector_values_are_moved_by_at_least_their_error_bound(name: str) -> None:
    b = BOUNDS[name]
    k = b._k
    ms, ts = _sides(b, RADII)
    assert ms.any() and ts.any(), "the grid must reach both sides"
    xm, xt = RADII[ms], RADII[ts]
    m, mrho = k.mass(xm)
    rm = k.error(mrho) + 2 * EPS
    s, rho = k.tail(xt)
    rt = k.error(rho) + 2 * EPS
    # cdf: B rounded down on the mass side, 1 - (S rounded up) - half an ulp on the tail side
    cdf_m, cdf_t = b.cdf(xm), b.cdf(xt)
    assert np.all(cdf_m <= m * (1 - rm) * (1 + EPS)), "cdf (mass side) not lowered by its error bound"
    s_up = s + s * rt
    assert np.all(1.0 - cdf_t >= s_up), "cdf (tail side) not lowered by S's bound"
    # sf: S rounded up on the tail side; 1 - (B rounded down) + half an ulp on the mass side
    sf_m, sf_t = b.sf(xm), b.sf(xt)
    assert np.all(sf_t >= s * (1 + rt) * (1 - EPS)), "sf (tail side) not raised by its error bound"
    lo_m = m - m * rm
    assert np.all(sf_m >= np.nextafter(1.0 - lo_m, 0.0)), "sf (mass side) not raised by B's bound"
    # logs: moved by the log-domain error bound plus two ulps of the log
    lv, lrho = k.log_mass(xm)
    logcdf_m = b.logcdf(xm)
    assert np.all(lv - logcdf_m >= k.error(lrho) + 1.5 * EPS * np.abs(lv)), "logcdf (mass side)"
    tv, trho = k.log_tail(xt, (s, rho))
    logsf_t = b.logsf(xt)
    assert np.all(logsf_t - tv >= k.error(trho) + 1.5 * EPS * np.abs(tv)), "logsf (tail side)"
    # the log of a complement: below log(1 - lower bound) (logsf, mass side), and
    # below log1p(-(S rounded up)) (logcdf, tail side), each by a relative 2 ulps
    assert np.all(b.logsf(xm) >= np.log1p(-lo_m) * (1 - 1.5 * EPS)), "logsf (mass side)"
    assert np.all(b.logcdf(xt) <= np.log1p(-s_up) * (1 + 1.5 * EPS)), "logcdf (tail side)"


@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_scalar_values_are_moved_by_at_least_their_error_bound(name: str) -> None:
    b = BOUNDS[name]
    py = b._scalar_kernel()
    if py is None:
        pytest.skip("no scalar twin for this bound (the vector path serves scalars; covered above)")
    checked = 0
    for x in RADII.tolist():
        use_mass = x * py.m_bound < 0.5
        tail = None if use_mass else py.tail(x)
        if tail is not None and tail[0] >= 0.5:
            use_mass = True
        if use_mass:
            got = py.mass(x)
            if got is None:
                continue
            m, mrho = got
            r = py.error(mrho) + 2 * EPS
            lo = m - m * r
            assert b.cdf(x) <= lo * (1 + EPS), (x, "cdf")
            assert b.sf(x) >= np.nextafter(1.0 - lo, 0.0), (x, "sf")
            assert b.logsf(x) >= math.log1p(-lo) * (1 - 1.5 * EPS), (x, "logsf")
            if m >= 1e-300:
                lv = math.log(m)
                assert lv - b.logcdf(x) >= py.error(mrho) + 1.5 * EPS * abs(lv), (x, "logcdf")
        elif tail is not None:
            s, rho = tail
            r = py.error(rho) + 2 * EPS
            up = s + s * r
            assert b.sf(x) >= up * (1 - EPS), (x, "sf")
            assert 1.0 - b.cdf(x) >= up or b.cdf(x) == 0.0, (x, "cdf")
            assert b.logcdf(x) <= math.log1p(-up) * (1 + 1.5 * EPS), (x, "logcdf")
            lv = math.log(s)
            assert b.logsf(x) - lv >= py.error(rho) + 1.5 * EPS * abs(lv) or b.logsf(x) == 0.0, (x, "logsf")
        else:
            continue
        checked += 1
    assert checked >= 40


@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_scalar_and_vector_paths_agree_to_their_error_bounds(name: str) -> None:
    """The scalar twin computes its own error factors, so a scalar call and the
    same radius inside an array may differ by a few ulps, both on the safe side;
    never by more than the error bounds allow."""
    b = BOUNDS[name]
    for kind in ("cdf", "sf", "logcdf", "logsf"):
        f = getattr(b, kind)
        vec = f(RADII)
        for i, x in enumerate(RADII.tolist()):
            one = f(x)
            assert isinstance(one, float)
            # the error factors of deep tails grow like x**2 (the rounding of (b - x)**2 / 2)
            tol = 64 * EPS * (1.0 + x * x) * abs(vec[i]) + 1e-300
            assert abs(one - vec[i]) <= tol, (kind, x, one, vec[i])


def test_degenerate_bound_conventions_for_every_method() -> None:
    """A single class of probability 1: R* = inf almost surely, so B = 0 at every radius."""
    b = IsoperimetricBound([1.0, 0.0])
    x = np.array([-1.0, 0.0, 0.5, 1e200, np.inf])
    expected = {
        "cdf": 0.0, "sf": 1.0, "logcdf": -np.inf, "logsf": 0.0, "pdf": 0.0, "logpdf": -np.inf,
    }
    for kind, want in expected.items():
        f = getattr(b, kind)
        np.testing.assert_array_equal(f(x), np.full(x.shape, want), err_msg=kind)
        assert f(0.5) == want, kind


def test_special_points_of_every_method() -> None:
    b = IsoperimetricBound([0.5, 0.3, 0.2])
    x = np.array([-1.0, 0.0, np.inf])
    pdf0 = sum(math.exp(-0.5 * v * v) / math.sqrt(2 * math.pi) for v in b.thresholds.tolist())
    expected = {
        "cdf": [0.0, 0.0, 1.0],
        "sf": [1.0, 1.0, 0.0],
        "logcdf": [-np.inf, -np.inf, 0.0],
        "logsf": [0.0, 0.0, -np.inf],
        "pdf": [0.0, pdf0, 0.0],
        "logpdf": [-np.inf, math.log(pdf0), -np.inf],
    }
    for kind, want in expected.items():
        np.testing.assert_allclose(getattr(b, kind)(x), want, rtol=1e-14, err_msg=kind)


def test_subnormal_cdf_values_step_below_the_truth() -> None:
    """Radii so small that B is subnormal: a relative margin means nothing there
    (the spacing is absolute), so the value must step down by one subnormal."""
    from isobound import reference as ref

    b = IsoperimetricBound([0.5, 0.3, 0.2])
    radii = np.array([1e-310, 3e-315, 7e-320, 1e-322, 2e-323])
    got = b.cdf(radii)
    for x, v in zip(radii.tolist(), got.tolist(), strict=True):
        exact = ref.cdf(x, [0.5, 0.3, 0.2])
        assert v <= exact, (x, v, float(exact))
        assert v >= float(exact) - 4 * 5e-324 - 1e-15 * float(exact), (x, v, float(exact))
    up = b.sf(radii)
    assert np.all(up == 1.0)


@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_moments_are_rounded_up_by_their_error_bound_and_that_bound_is_small(name: str) -> None:
    b = BOUNDS[name]
    for order in (1, 2, 3):
        v, r = b._moment_terms(order)
        got = b.mean() if order == 1 else b.moment(order)
        assert got >= v * (1 + r) * (1 - EPS), (order, got, v, r)
        # the bound is a weighted mean of per-class factors: a few hundred ulps, whatever K
        assert r <= 1e-13, (order, r)


def test_interval_ends_at_confidence_one_and_zero() -> None:
    from isobound import reference as ref

    b = IsoperimetricBound([0.5, 0.3, 0.2])
    assert b.interval(1.0) == (0.0, math.inf)
    lo, hi = b.interval(0.0)  # two upper bounds on the median, each within its accuracy
    exact = float(ref.ppf(0.5, [0.5, 0.3, 0.2]))
    assert exact <= lo <= exact * (1 + 1e-13) and exact <= hi <= exact * (1 + 1e-13)
    lo, hi = b.interval(np.array([0.0, 0.5, 1.0]))
    assert lo[-1] == 0.0 and hi[-1] == math.inf
    for bad in (-0.1, 1.1):
        lo, hi = b.interval(bad)
        assert math.isnan(lo) and math.isnan(hi)


def test_scalar_calls_are_served_by_the_scalar_twin(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast path is the promise behind the single-call timings: a float
    argument never reaches the vector kernel (whose methods are made to raise
    here) for ordinary radii and probabilities."""
    from isobound import _kernel

    b = IsoperimetricBound(np.random.default_rng(1).dirichlet(np.ones(10)))
    assert b._scalar_kernel() is not None
    b.ppf(0.3)  # the first quantile builds the (shared) inverse table from the vector kernel
    for meth in ("mass", "tail", "log_mass", "log_tail", "solve"):
        monkeypatch.setattr(_kernel.Kernel, meth, lambda *a, _m=meth, **k: pytest.fail(f"vector {_m} used"))
    for x in (1e-6, 0.05, 0.4, 1.5, 4.0):
        for kind in ("cdf", "sf", "logsf"):
            assert isinstance(getattr(b, kind)(x), float)
    for x in (0.4, 1.5, 4.0):  # logcdf of a normal-range B
        assert isinstance(b.logcdf(x), float)
    for q in (1e-3, 0.2, 0.5, 0.7, 0.99):
        assert isinstance(b.ppf(q), float) and isinstance(b.isf(q), float)


def test_radii_at_and_beyond_the_closed_form_limit() -> None:
    """From 1e150 on, the values are the closed-form limits; at exactly 1e150 the
    scalar and the vector path must agree, and sf stays a positive upper bound."""
    from isobound import reference as ref

    b = IsoperimetricBound([0.5, 0.3, 0.2])
    for x in (1e150, 1e200):
        assert b.sf(x) == b.sf(np.array([x]))[0] == 5e-324
        assert b.cdf(x) == b.cdf(np.array([x]))[0] == 1.0 - HALF_ULP1
        assert b.logcdf(x) == -2.0 * HALF_ULP1
    for x in (1e150, 3e151, 1e154):
        got = b.logsf(x)
        exact = ref.logsf(x, [0.5, 0.3, 0.2])
        assert got >= exact, (x, got, float(exact))  # an upper bound on log S
        assert got - exact <= 16 * EPS * abs(exact), (x, got, float(exact))


def test_logpdf_is_the_log_of_pdf_on_the_whole_support() -> None:
    b = IsoperimetricBound([0.5, 0.3, 0.2])
    x = np.array([0.0, 1e-300, 1e-3, 0.5, 0.999, 2.0, 10.0])
    pdf = np.array(
        [sum(math.exp(-0.5 * (v - t) ** 2) / math.sqrt(2 * math.pi) for v in b.thresholds.tolist()) for t in x]
    )
    np.testing.assert_allclose(b.logpdf(x), np.log(pdf), rtol=1e-14)
    np.testing.assert_allclose(b.pdf(x), pdf, rtol=1e-14)
