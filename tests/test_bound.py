"""Behaviour of IsoperimetricBound / ImageSpaceBound: conventions, validation, identities.

Accuracy against the mpmath twin lives in test_accuracy.py; these tests pin
the interface and the structural identities of the bound.
"""

from __future__ import annotations

import math
import tracemalloc

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special as sc

import isobound as ib
import isobound._bound as bound_module
from isobound import IsoperimetricBound
from isobound import reference as ref
from isobound.testing import log_probabilities, radii

P3 = [0.5, 0.3, 0.2]


# --- validation ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("probs", "match"),
    [
        ([0.5, -0.1, 0.6], r"class_probs\[1\]=-0\.1"),
        ([0.5, float("nan"), 0.5], "contains NaN"),
        ([0.5, float("inf")], r"class_probs\[1\]=inf"),
        ([0.5, 0.3], r"sum to 0\.8.*off by -0\.2.*normalize=True"),
        ([0.6, 0.6], r"sum to 1\.2.*off by \+0\.2"),
        ([], "non-empty"),
        ([[0.5, 0.5]], "1-d"),
        ("abc", "sequence of numbers"),
        ([0.0, 0.0], "positive sum"),
    ],
)
def test_bad_class_probs_name_argument_and_value(probs, match):
    with pytest.raises(ValueError, match=match):
        IsoperimetricBound(probs)


@pytest.mark.parametrize(
    ("counts", "match"),
    [
        ([1, 0, 1], r"counts\[1\]=0\.0"),
        ([1, -2, 1], r"counts\[1\]=-2\.0"),
        ([1, 1], "one entry per class"),
        ([1, 1.5, 1], "whole numbers"),
        ([1, float("inf"), 1], "positive and finite"),
    ],
)
def test_bad_counts(counts, match):
    with pytest.raises(ValueError, match=match):
        IsoperimetricBound([0.4, 0.2, 0.4], counts=counts)


def test_normalize_rescales_instead_of_raising():
    a = IsoperimetricBound([5.0, 3.0, 2.0], normalize=True)
    b = IsoperimetricBound(P3)
    np.testing.assert_allclose(a.cdf([0.1, 1.0]), b.cdf([0.1, 1.0]), rtol=1e-15)


def test_tiny_sum_error_is_tolerated_and_removed():
    p = [0.1] * 10
    assert sum(p) != 1.0  # float addition misses 1 by an ulp
    b = IsoperimetricBound(p)
    assert b.n_classes == 10
    x = np.linspace(0.01, 5, 30)
    np.testing.assert_allclose(b.cdf(x), IsoperimetricBound.equiprobable(10).cdf(x), rtol=1e-14)


@pytest.mark.parametrize(
    ("log_probs", "match"),
    [
        ([0.1, -1.0], r"log_probs\[0\]=0\.1"),
        ([-1.0, -1.0], "off by"),
        ([-np.inf, -np.inf], "all -inf"),
        ([np.nan, 0.0], "NaN"),
    ],
)
def test_bad_log_probs(log_probs, match):
    with pytest.raises(ValueError, match=match):
        IsoperimetricBound.from_log_probs(log_probs)


@pytest.mark.parametrize("k", [0, -3, 2.5, "ten", None])
def test_bad_n_classes(k):
    with pytest.raises(ValueError, match="n_classes"):
        IsoperimetricBound.equiprobable(k)


def test_immutable():
    b = IsoperimetricBound(P3)
    with pytest.raises(AttributeError):
        b._b = None  # type: ignore[misc]
    with pytest.raises(ValueError):
        b.thresholds[0] = 1.0
    with pytest.raises(AttributeError):
        b.through(None)._omega = None  # type: ignore[misc]


# --- conventions ----------------------------------------------------------------


def test_scalar_in_scalar_out_and_shapes():
    b = IsoperimetricBound(P3)
    assert isinstance(b.cdf(0.3), float)
    assert isinstance(b.ppf(0.3), float)
    x = np.linspace(0.1, 2, 6).reshape(2, 3)
    for f in (b.cdf, b.sf, b.logcdf, b.logsf, b.pdf, b.logpdf):
        assert f(x).shape == (2, 3)
    q = np.array([[0.1, 0.2], [0.3, 0.9]])
    assert b.ppf(q).shape == (2, 2)
    assert b.isf(q).shape == (2, 2)


def test_out_of_domain_conventions():
    b = IsoperimetricBound(P3)
    assert b.cdf(-1.0) == 0.0 and b.sf(-1.0) == 1.0
    assert b.logcdf(-1.0) == -np.inf and b.logsf(-1.0) == 0.0
    assert b.cdf(0.0) == 0.0 and b.sf(0.0) == 1.0
    assert b.cdf(np.inf) == 1.0 and b.sf(np.inf) == 0.0
    assert np.isnan(b.cdf(np.nan)) and np.isnan(b.sf(np.nan))
    assert np.isnan(b.ppf(-0.1)) and np.isnan(b.ppf(1.1)) and np.isnan(b.ppf(np.nan))
    assert b.ppf(0.0) == 0.0 and b.ppf(1.0) == np.inf
    assert b.isf(1.0) == 0.0 and b.isf(0.0) == np.inf
    assert np.isnan(b.isf(2.0))
    assert b.pdf(-1.0) == 0.0


def test_repr():
    assert repr(IsoperimetricBound.equiprobable(7)) == "IsoperimetricBound.equiprobable(7)"
    assert repr(IsoperimetricBound([0.5, 0.3, 0.2])) == "IsoperimetricBound([0.2, 0.3, 0.5])"
    # an empty class is kept in n_classes and must not read as equiprobable
    assert "empty" in repr(IsoperimetricBound([0.5, 0.5, 0.0]))


def test_degenerate_single_class():
    b = IsoperimetricBound([1.0, 0.0])
    assert b.cdf(5.0) == 0.0 and b.sf(5.0) == 1.0
    assert b.ppf(0.5) == np.inf and b.mean() == np.inf
    assert b.n_classes == 2


def test_equal_classes_merge_and_counts_agree():
    explicit = IsoperimetricBound([0.1] * 10)
    counted = IsoperimetricBound([0.1], counts=[10])
    equi = IsoperimetricBound.equiprobable(10)
    assert explicit.counts.tolist() == [10.0]
    x = np.geomspace(1e-8, 20, 50)
    np.testing.assert_allclose(explicit.cdf(x), equi.cdf(x), rtol=1e-14)
    np.testing.assert_allclose(counted.logsf(x), equi.logsf(x), rtol=1e-14)
    assert equi.n_classes == explicit.n_classes == counted.n_classes == 10


def test_huge_k_is_constant_time_and_finite():
    b = IsoperimetricBound.equiprobable(10**15)
    q = b.ppf([1e-300, 0.25, 0.5, 0.99])
    assert np.all(np.isfinite(q)) and np.all(np.diff(q) > 0)
    # K L(a) < K (1 - Phi(a)) / a = 1 / a with a = Phi^-1(1 - 1/K)
    a = -b.thresholds[0]
    assert 0.9 / a < b.mean() < 1.0 / a


def test_from_log_probs_matches_probs():
    a = IsoperimetricBound.from_log_probs(np.log(P3))
    b = IsoperimetricBound(P3)
    x = np.geomspace(1e-6, 30, 40)
    np.testing.assert_allclose(a.logsf(x), b.logsf(x), rtol=1e-13)


def test_log_probs_below_float_range():
    # one class of probability e^-10000 next to a fair coin split
    b = IsoperimetricBound.from_log_probs([math.log(0.5), math.log(0.5), -1e4], normalize=True)
    coin = IsoperimetricBound([0.5, 0.5])
    np.testing.assert_allclose(b.cdf([0.1, 1.0]), coin.cdf([0.1, 1.0]), rtol=1e-14)
    assert b.thresholds.min() < -100


# --- structural identities ------------------------------------------------------


@pytest.mark.parametrize("probs", [P3, [0.9, 0.1], [0.25] * 4, [1 - 2**-40, 2**-40]])
def test_cdf_plus_sf_is_one_and_monotone(probs):
    b = IsoperimetricBound(probs)
    x = np.concatenate([np.geomspace(1e-300, 1e-3, 20), np.linspace(0.01, 10, 200)])
    c, s = b.cdf(x), b.sf(x)
    np.testing.assert_allclose(c + s, 1.0, atol=1e-13)
    assert np.all(np.diff(c) >= 0) and np.all(np.diff(s) <= 0)


def test_pdf_is_derivative_of_cdf():
    b = IsoperimetricBound(P3)
    x = np.linspace(0.05, 4, 30)
    h = 1e-5
    numeric = (b.cdf(x + h) - b.cdf(x - h)) / (2 * h)
    np.testing.assert_allclose(b.pdf(x), numeric, rtol=1e-7, atol=1e-10)
    assert b.pdf(0.0) == pytest.approx(sum(math.exp(-t * t / 2) / math.sqrt(2 * math.pi) for t in sc.ndtri(P3)))


def test_round_trips():
    b = IsoperimetricBound([0.05, 0.15, 0.3, 0.5])
    q = np.concatenate([np.geomspace(1e-300, 1e-3, 30), np.linspace(0.01, 0.99, 50)])
    np.testing.assert_allclose(b.cdf(b.ppf(q)), q, rtol=1e-12)
    p = np.geomspace(1e-300, 0.9, 60)
    np.testing.assert_allclose(b.sf(b.isf(p)), p, rtol=1e-10)
    # ppf and isf are the same function on complementary arguments
    np.testing.assert_allclose(b.ppf(0.3), b.isf(0.7), rtol=1e-14)


def test_quantiles_land_on_the_safe_side():
    # B(ppf(q)) >= q and 1 - B(isf(p)) <= p, with B from the 50-digit twin
    probs = [0.05, 0.15, 0.3, 0.5]
    b = IsoperimetricBound(probs)
    q = np.concatenate([np.geomspace(1e-300, 1e-3, 8), np.linspace(0.01, 0.99, 9)])
    for qi, e in zip(q.tolist(), b.ppf(q).tolist(), strict=True):
        assert ref.cdf(e, probs) >= mpmath.mpf(qi), (qi, e)
    for pi, e in zip(q.tolist(), b.isf(q).tolist(), strict=True):
        assert ref.sf(e, probs) <= mpmath.mpf(pi), (pi, e)


def test_naive_formula_fails_where_bound_does_not():
    b = IsoperimetricBound.equiprobable(10)
    a = sc.ndtri(1 - np.full(10, 0.1))
    eps = 1e-12
    naive = float(np.sum(sc.ndtr(a + eps) - sc.ndtr(a)))
    exact = 10 * eps * math.exp(-sc.ndtri(0.1) ** 2 / 2) / math.sqrt(2 * math.pi)
    assert abs(naive - exact) / exact > 1e-5  # the naive sum has lost most digits
    assert b.cdf(eps) == pytest.approx(exact, rel=1e-12)


def test_rvs_reproducible_and_distributed_like_cdf():
    b = IsoperimetricBound(P3)
    s1 = b.rvs(size=4000, random_state=3)
    s2 = b.rvs(size=4000, random_state=np.random.default_rng(3))
    np.testing.assert_array_equal(s1, s2)
    grid = np.linspace(0.05, 3, 40)
    ecdf = np.searchsorted(np.sort(s1), grid, side="right") / s1.size
    # DKW band at 99.9%
    band = math.sqrt(math.log(2 / 1e-3) / (2 * s1.size))
    assert np.max(np.abs(ecdf - b.cdf(grid))) < band


def test_median_and_figure2_numbers():
    medians = {k: IsoperimetricBound.equiprobable(k).median() for k in (2, 10, 100, 1000)}
    assert medians[2] == pytest.approx(sc.ndtri(0.75), rel=1e-13)
    # decreasing in K (Remark 2)
    assert medians[2] > medians[10] > medians[100] > medians[1000]


# --- image space ----------------------------------------------------------------


def test_through_identity_is_eq2_in_latent_space():
    # independent expected values: the 50-digit twin of Eq. (2) at the latent radius itself
    import mpmath

    from isobound import reference as ref

    b = IsoperimetricBound(P3)
    x = np.linspace(0.1, 3, 9)
    got = b.through(None).cdf(x)
    for xi, gi in zip(x.tolist(), got.tolist(), strict=True):
        exact = ref.cdf(xi, P3)
        assert mpmath.mpf(gi) <= exact and mpmath.mpf(gi) >= exact * (1 - mpmath.mpf(1e-13))
    # identity adds no rounding of its own: the same floats as the latent bound
    np.testing.assert_array_equal(got, b.cdf(x))


def test_through_lipschitz_rescales_and_is_conservative():
    b = IsoperimetricBound(P3)
    img = b.through(ib.Lipschitz(2.0))
    x = np.linspace(0.1, 3, 9)
    np.testing.assert_allclose(img.cdf(x), b.cdf(x / 2), rtol=1e-13)
    assert np.all(img.cdf(x) <= b.cdf(x / 2))
    assert img.ppf(0.25) >= 2 * b.ppf(0.25)
    assert img.ppf(0.25) == pytest.approx(2 * b.ppf(0.25), rel=1e-13)


def test_affine_intercept_gives_no_guarantee_below_it():
    img = IsoperimetricBound(P3).through(ib.Affine(1.0, 0.5))
    assert img.cdf(0.4) == 0.0
    assert img.cdf(0.6) > 0.0
    assert img.ppf(0.01) > 0.5


def test_failure_probability_is_subtracted():
    b = IsoperimetricBound(P3)
    omega = ib.Lipschitz(1.0, failure_prob=0.01)
    img = b.through(omega)
    x = np.linspace(0.0, 4, 20)
    np.testing.assert_allclose(img.cdf(x), np.maximum(b.cdf(x) - 0.01, 0), atol=1e-15)
    assert np.all(img.cdf(x) <= np.maximum(b.cdf(x) - 0.01, 0))
    assert img.ppf(0.25) >= b.ppf(0.26)
    assert img.ppf(0.995) == np.inf
    assert img.isf(0.005) == np.inf
    assert img.sf(1.0) == pytest.approx(b.sf(1.0) + 0.01)
    with pytest.raises(ValueError, match="diameter"):
        img.mean()
    assert img.mean(diameter=10.0) >= b.mean() + 0.1


def test_image_mean_for_nonlinear_modulus():
    b = IsoperimetricBound(P3)
    omega = ib.Holder(2.0, 0.5)
    # E[2 sqrt(R*)] by Monte Carlo, loosely, and Jensen: <= 2 sqrt(E R*)
    mean = b.through(omega).mean()
    samples = b.rvs(size=200_000, random_state=0)
    assert mean == pytest.approx(float(np.mean(2 * np.sqrt(samples))), rel=1e-2)
    assert mean <= 2 * math.sqrt(b.mean())
    assert b.through(ib.Affine(3.0, 0.2)).mean() == pytest.approx(3 * b.mean() + 0.2, rel=1e-13)


def test_piecewise_modulus_without_extrapolation_has_infinite_mean():
    b = IsoperimetricBound(P3)
    omega = ib.PiecewiseLinear([0.0, 1.0], [0.0, 2.0])
    assert b.through(omega).mean() == np.inf
    assert np.isfinite(b.through(omega).cdf(1.5))
    assert b.through(omega).cdf(10.0) == pytest.approx(b.cdf(1.0), rel=1e-13)


def test_through_rejects_non_modulus():
    with pytest.raises(ValueError, match="omega must be an isobound Modulus"):
        IsoperimetricBound(P3).through(lambda t: t)  # type: ignore[arg-type]


# --- issue 10/11 reproducers and the conventions they exposed ----------------------

FAST = settings(max_examples=40, deadline=None, database=None)
mpf = mpmath.mpf
FMAX = float(np.finfo(np.float64).max)


def test_r6_vector_isf_beside_a_majority_class():
    # a class of e^-1000 next to a majority class crashed the initial-guess interpolant
    b = IsoperimetricBound.from_log_probs([0.0, -1000.0], normalize=True)
    v = b.isf(np.full(17, 0.25))
    assert (np.all(v == v[0]) and v[0] == b.isf(0.25)) or abs(v[0] / b.isf(0.25) - 1) < 1e-14
    e = ref.isf(0.25, log_probs=[0.0, -1000.0])
    assert mpf(float(v[0])) >= e and float(abs(mpf(float(v[0])) - e) / e) < 1e-13


@pytest.mark.parametrize("log_small", [-1890.0, -1000.0, -3000.0, -700.0])
@pytest.mark.parametrize("q", [0.1, 0.461, 0.5390625, 0.9])
def test_quantile_solver_does_not_stall_where_the_start_underflows(log_small: float, q: float) -> None:
    # found by hypothesis in CI: for log-probabilities (0, -1890) the first guess of ppf(0.461) sat where
    # B underflows to 0, the log-domain step was 0 * inf = 0, the solver stood still for 100 steps and
    # returned its bracket's upper end (62.01 against 61.30: safe, but 1% off)
    b = IsoperimetricBound.from_log_probs([0.0, log_small], normalize=True)
    for got, want in (
        (b.ppf(np.array([q]))[0], ref.ppf(q, log_probs=[0.0, log_small])),
        (b.isf(np.array([q]))[0], ref.isf(q, log_probs=[0.0, log_small])),
        (b.ppf(q), ref.ppf(q, log_probs=[0.0, log_small])),
    ):
        assert float(want) <= got <= float(want) * (1 + 1e-13)


@FAST
@given(log_probabilities(max_classes=8), st.lists(st.floats(1e-300, 0.999999), min_size=17, max_size=40))
def test_vector_quantiles_of_any_bound(lp, qs):
    b = IsoperimetricBound.from_log_probs(lp, normalize=True)
    q = np.array(qs)
    for f in (b.ppf, b.isf):
        v = f(q)
        assert v.shape == q.shape and np.all(np.isfinite(v))
        # the vector result agrees with the scalar one to within both error bounds
        one = np.array([f(float(x)) for x in q[:3]])
        np.testing.assert_allclose(v[:3], one, rtol=1e-12)
    order = np.argsort(q)
    assert np.all(np.diff(b.ppf(q)[order]) >= 0) and np.all(np.diff(b.isf(q)[order]) <= 0)


@pytest.mark.parametrize(("lp", "root"), [([0.0, -1e4], "104.33274357"), ([0.0, -4835.8], "61.2411843")])
def test_r7_tiny_quantile_beside_an_extreme_majority(lp, root):
    b = IsoperimetricBound.from_log_probs(lp, normalize=True)
    exact = ref.ppf(1e-300, log_probs=lp)
    assert mpmath.nstr(exact, 11).startswith(root)
    scalar = b.ppf(1e-300)
    vector = b.ppf(np.array([0.3, 1e-300, 1e-300]))[1]
    for v in (scalar, vector):
        assert mpf(v) >= exact
        assert float((mpf(v) - exact) / exact) < 1e-13


@pytest.mark.parametrize("probs", [[0.5, 0.5], [0.9, 0.1], [0.2] * 5])
@pytest.mark.parametrize("q", [5e-324, 1e-323, 3e-320, 1e-315, 1e-310, 2.2e-308, 3e-308])
def test_subnormal_targets(probs, q):
    # ppf of a subnormal target is at or above the exact quantile (which may itself be
    # subnormal: then only a few ulps of 5e-324 apart), and B there reaches q
    b = IsoperimetricBound(probs)
    exact = ref.ppf(q, probs)
    for v in (b.ppf(q), float(b.ppf(np.array([q]))[0])):
        assert mpf(v) >= exact
        assert ref.cdf(v, probs) >= mpf(q)
        assert mpf(v) - exact <= 4 * mpf(5e-324) + exact * mpf(1e-13)


def test_subnormal_radii():
    b = IsoperimetricBound([0.5, 0.3, 0.2])
    for e in (5e-324, 1e-320, 1e-310):
        c = b.cdf(e)
        exact = ref.cdf(e, [0.5, 0.3, 0.2])
        assert mpf(c) <= exact and exact - mpf(c) <= 2 * mpf(5e-324) + exact * mpf(1e-13)
        assert ref.logcdf(e, [0.5, 0.3, 0.2]) >= mpf(b.logcdf(e))
        assert float(abs(mpf(b.logcdf(e)) / ref.logcdf(e, [0.5, 0.3, 0.2]) - 1)) < 1e-14


@pytest.mark.parametrize("k", [10**100, 10**400, 10**4000])
def test_huge_number_of_classes(k):
    b = IsoperimetricBound.equiprobable(k)
    assert b.n_classes == k and isinstance(b.n_classes, int)
    assert repr(b) == f"IsoperimetricBound.equiprobable({k})"
    for e in (1e-300, 1e-3, 0.01, 0.05):
        assert mpf(b.cdf(e)) <= ref.cdf(e, [1], counts=[k])
        assert mpf(b.sf(e)) >= ref.sf(e, [1], counts=[k])
        # thresholds near -136 and log(K) = 9210 carry ~1e-11 of B at K = 10^4000
        tol = 1e-11 if k < 10**1000 else 1e-10
        assert float(abs(mpf(b.cdf(e)) / ref.cdf(e, [1], counts=[k]) - 1)) < tol
    for q in (1e-200, 0.25, 0.5, 0.9):
        assert ref.cdf(b.ppf(q), [1], counts=[k]) >= mpf(q)
    assert mpf(b.mean()) >= ref.mean([1], counts=[k])
    # the same bound from counts, and from log-probabilities
    same = IsoperimetricBound([1.0], counts=[k], normalize=True)
    assert same.n_classes == k and same.cdf(0.01) == b.cdf(0.01)
    logs = IsoperimetricBound.from_log_probs([-math.log(k)], counts=[k], normalize=True)
    assert logs.n_classes == k
    assert abs(logs.cdf(0.01) / b.cdf(0.01) - 1) < 1e-11


def test_r8_directed_rounding_at_huge_k():
    k = 10**100
    b = IsoperimetricBound.equiprobable(k)
    assert mpf(b.cdf(0.03)) <= ref.cdf(0.03, [1], counts=[k])
    assert mpf(b.sf(0.03)) >= ref.sf(0.03, [1], counts=[k])
    assert ref.cdf(b.median(), [1], counts=[k]) >= mpf(0.5)


@FAST
@given(
    log_probabilities(max_classes=10),
    radii(max_value=FMAX, size=6),
    st.lists(st.floats(0.0, 1.0), min_size=1, max_size=6),
)
def test_no_warning_and_sane_values_anywhere(lp, eps, qs):
    # pytest runs with warnings as errors: any overflow or invalid warning fails here
    b = IsoperimetricBound.from_log_probs(lp, normalize=True)
    c, s = b.cdf(eps), b.sf(eps)
    assert np.all((0 <= c) & (c < 1)) and np.all((0 < s) & (s <= 1))
    lc, ls = b.logcdf(eps), b.logsf(eps)
    assert np.all(np.isfinite(ls)) and np.all(ls <= 0) and np.all(lc <= 0)
    assert np.all(np.isfinite(b.pdf(eps))) and np.all(b.pdf(eps) >= 0)
    b.logpdf(eps)
    q = np.array(qs)
    assert np.all(b.ppf(q) >= 0) and np.all(b.isf(q) >= 0)
    for x in eps[:2].tolist():
        assert 0 <= b.cdf(x) < 1 and b.sf(x) > 0 and math.isfinite(b.logsf(x))


def test_issue_11_warnings_on_valid_input():
    b = IsoperimetricBound([0.5, 0.3, 0.2])
    assert b.cdf(1e160) == b.cdf(1e300) == 1 - 2.0**-53
    assert b.sf(1e300) == 5e-324 and b.logsf(1e300) == -FMAX
    v = IsoperimetricBound.from_log_probs([0.0, -716.0], normalize=True).ppf(0.25)
    assert ref.cdf(v, log_probs=[0.0, -716.0]) >= mpf(0.25)


METHODS = ["cdf", "sf", "logcdf", "logsf", "pdf", "logpdf", "ppf", "isf", "ccdf", "logccdf", "icdf", "iccdf"]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("bad", [None, "0.5", "abc", 1 + 2j, object(), [0.1, None], {"a": 1}])
def test_non_numeric_arguments_raise_type_error(method, bad):
    b = IsoperimetricBound([0.5, 0.3, 0.2])
    name = {"ppf": "q", "icdf": "q", "isf": "p", "iccdf": "p"}.get(method, "eps")
    with pytest.raises(TypeError, match=rf"{name} must be a real number.*{name}="):
        getattr(b, method)(bad)


@pytest.mark.parametrize("method", METHODS)
def test_numeric_types_are_accepted(method):
    b = IsoperimetricBound([0.5, 0.3, 0.2])
    f = getattr(b, method)
    ref_value = f(0.25)
    for v in (np.float32(0.25), np.float64(0.25), [0.25], (0.25,), np.array(0.25), mpf("0.25")):
        assert float(np.asarray(f(v)).reshape(-1)[0]) == pytest.approx(ref_value, rel=1e-6)
    # bools and ints go through the array path, floats through the scalar one
    assert f(True) == pytest.approx(f(1.0), rel=1e-15) and f(0) == pytest.approx(f(0.0), rel=1e-15)


def test_interval_confidence_argument():
    b = IsoperimetricBound([0.5, 0.3, 0.2])
    with pytest.raises(TypeError, match="confidence must be a real number"):
        b.interval(None)
    assert all(np.isnan(v) for v in b.interval(1.5))


def test_chunked_evaluation_matches_one_chunk(monkeypatch):
    b = IsoperimetricBound(np.random.default_rng(1).dirichlet(np.ones(12)))
    eps = np.concatenate([np.geomspace(1e-300, 1e-3, 300), np.linspace(0.01, 40, 700)])
    q = np.concatenate([np.geomspace(1e-300, 0.5, 300), np.linspace(0.01, 0.999, 700)])
    whole = {f: getattr(b, f)(eps) for f in ("cdf", "sf", "logcdf", "logsf", "pdf")}
    quant = {f: getattr(b, f)(q) for f in ("ppf", "isf")}
    monkeypatch.setattr(bound_module, "_CHUNK", 1)  # 256 radii per chunk: four chunks
    assert b._rows() == 256
    for f, v in whole.items():
        np.testing.assert_array_equal(getattr(b, f)(eps), v)
    for f, v in quant.items():
        np.testing.assert_allclose(getattr(b, f)(q), v, rtol=1e-15)


def test_bulk_memory_stays_within_a_few_outputs():
    # numpy allocations (tracemalloc sees them) during cdf over 2e5 radii with K = 60:
    # without chunks the (radius, class) temporaries alone would be 2e5 x 60 x 8 B = 96 MB
    b = IsoperimetricBound(np.random.default_rng(2).dirichlet(np.ones(60)))
    eps = np.random.default_rng(3).uniform(0, 5, 200_000)
    b.cdf(eps[:10])
    tracemalloc.start()
    try:
        for f in (b.cdf, b.logsf, b.ppf):
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            out = f(eps if f is not b.ppf else eps / 5.0)
            peak = tracemalloc.get_traced_memory()[1] - base
            assert peak <= 4 * out.nbytes + 24 * 2**20, (f.__name__, peak / 2**20)
    finally:
        tracemalloc.stop()


@FAST
@given(log_probabilities(max_classes=12, min_log_prob=-700.0), radii(max_value=60.0))
def test_scalar_path_agrees_with_vector_path(lp, eps):
    b = IsoperimetricBound.from_log_probs(lp, normalize=True)
    for f in ("cdf", "sf", "logcdf", "logsf"):
        s = getattr(b, f)(eps)
        v = float(getattr(b, f)(np.array([eps]))[0])
        assert s == pytest.approx(v, rel=2e-12, abs=1e-300), f
    q = min(max(eps / 60.0, 1e-12), 0.999)
    for f in ("ppf", "isf"):
        s = getattr(b, f)(q)
        v = float(getattr(b, f)(np.array([q]))[0])
        assert s == pytest.approx(v, rel=2e-12), f


# --- scipy.stats-style methods ---------------------------------------------------


def test_aliases_of_the_new_scipy_interface():
    b = IsoperimetricBound([0.5, 0.3, 0.2])
    x = np.array([0.1, 1.0, 3.0])
    np.testing.assert_array_equal(b.ccdf(x), b.sf(x))
    np.testing.assert_array_equal(b.logccdf(x), b.logsf(x))
    np.testing.assert_array_equal(b.icdf(x / 4), b.ppf(x / 4))
    np.testing.assert_array_equal(b.iccdf(x / 4), b.isf(x / 4))
    np.testing.assert_array_equal(b.sample((3, 2), rng=5), b.rvs(size=(3, 2), random_state=5))
    assert isinstance(b.sample(rng=1), float)


@pytest.mark.parametrize("probs", [[0.5, 0.3, 0.2], [0.9, 0.1], [1 - 2**-40, 2**-40]])
def test_moments_variance_interval_against_the_twin(probs):
    b = IsoperimetricBound(probs)
    for n in (1, 2, 3, 6):
        exact = ref.moment(n, probs)
        assert mpf(b.moment(n)) >= exact  # an upper bound on E r^n
        assert float(mpf(b.moment(n)) / exact - 1) < 1e-12
    assert b.moment(0) == 1.0 and b.moment(1) == b.mean()
    assert b.var() == pytest.approx(float(ref.var(probs)), rel=1e-13)
    assert b.std() == pytest.approx(math.sqrt(float(ref.var(probs))), rel=1e-13)
    lo, hi = b.interval(0.8)
    assert mpf(lo) >= ref.ppf(0.1, probs) and mpf(hi) >= ref.isf(0.1, probs)
    assert lo == pytest.approx(float(ref.ppf(0.1, probs)), rel=1e-12)
    assert hi == pytest.approx(float(ref.isf(0.1, probs)), rel=1e-12)
    assert b.expect(lambda t: t**3) == pytest.approx(float(ref.moment(3, probs)), rel=1e-10)
    assert b.expect() == pytest.approx(b.mean(), rel=1e-10)
    # conditional expectation over an interval, by its definition
    part = b.expect(lambda t: t, lb=0.2, ub=1.0, conditional=True)
    whole = b.expect(lambda t: t, lb=0.2, ub=1.0)
    assert part == pytest.approx(whole / (b.cdf(1.0) - b.cdf(0.2)), rel=1e-12)


def test_moment_and_expect_arguments():
    b = IsoperimetricBound([0.5, 0.5])
    for bad in (1.5, "2", None):
        with pytest.raises(TypeError, match="order must be an integer"):
            b.moment(bad)
    with pytest.raises(ValueError, match="order must be >= 0"):
        b.moment(-1)
    with pytest.raises(TypeError, match="func must be callable"):
        b.expect(3.0)
    with pytest.raises(ValueError, match="lb and ub"):
        b.expect(lb=float("nan"))
    deg = IsoperimetricBound([1.0, 0.0])
    assert deg.moment(2) == math.inf and math.isnan(deg.var())


# --- the small-K constructor path ------------------------------------------------


def _fields(b):
    return (b._p.tobytes(), b._logp.tobytes(), b._counts.tobytes(), b._logc.tobytes(), b.n_classes)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.floats(0.0, 1.0),
            st.sampled_from([0.0, 1e-320, 5e-324, 1e-300, 0.25, 0.5]),  # zeros, subnormals, ties
        ),
        min_size=1,
        max_size=300,  # across the small-K limit of 256
    ),
    st.sampled_from(["list", "tuple", "array", "float32"]),
)
def test_small_path_builds_the_same_bound_as_the_general_path(raw, kind):
    """The constructor's fast path (unit counts, K <= 256) must give bit for bit
    the arrays of the general path, which ``counts=[1, ...]`` forces."""
    x = {"list": raw, "tuple": tuple(raw), "array": np.array(raw), "float32": np.array(raw, dtype=np.float32)}[kind]
    if not math.fsum(np.asarray(x, dtype=np.float64).tolist()) > 0:
        return
    general = IsoperimetricBound(x, counts=np.ones(len(raw)), normalize=True)
    fast = IsoperimetricBound(x, normalize=True)
    assert _fields(fast) == _fields(general)
    assert fast == general and hash(fast) == hash(general)
    assert not fast._counts.flags.writeable and not fast._p.flags.writeable
    eps = np.array([0.0, 1e-3, 0.5, 3.0])
    np.testing.assert_array_equal(fast.cdf(eps), general.cdf(eps))


def test_small_path_sorts_and_does_not_share_writeable_state():
    b = IsoperimetricBound([0.3, 0.5, 0.2])
    np.testing.assert_allclose(b.class_probs, [0.2, 0.3, 0.5], rtol=1e-15)
    c = IsoperimetricBound([0.1, 0.6, 0.3])
    assert b.counts is c.counts  # shared, so it must be read-only
    with pytest.raises(ValueError, match="read-only"):
        b.counts[0] = 2.0
    np.testing.assert_array_equal(c.counts, [1.0, 1.0, 1.0])


@pytest.mark.parametrize(
    "probs",
    [["0.5", "0.5"], [True, False], np.array([True, False]), [0.5, "0.5"], "ab", np.array(["0.5", "0.5"])],
)
def test_strings_and_bools_are_a_type_error_everywhere(probs):
    """numpy would turn "0.5" and True into floats; every vector argument refuses
    them with the same error, a TypeError that is also a ValueError."""
    for build in (
        lambda: IsoperimetricBound(probs),
        lambda: IsoperimetricBound.from_log_probs(probs),
        lambda: IsoperimetricBound([0.5, 0.5], counts=probs),
        lambda: ib.theorem1(0.5, probs),
    ):
        with pytest.raises(TypeError, match="numbers") as info:
            build()
        assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("counts", [[10**400, True], [10**400, "1"], [True, 10**400]])
def test_huge_counts_refuse_bools_and_strings_like_small_ones(counts):
    with pytest.raises(TypeError, match="counts") as info:
        IsoperimetricBound([0.5, 0.5], counts=counts, normalize=True)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("counts", [None, [1, 1, 1, 1]])
def test_order_of_the_classes_does_not_matter(counts):
    """Smallest class first and the rest out of order, on both constructor paths."""
    a = IsoperimetricBound([0.1, 0.5, 0.15, 0.25], counts=counts)
    b = IsoperimetricBound([0.1, 0.15, 0.25, 0.5], counts=counts)
    assert a == b
    np.testing.assert_array_equal(a.class_probs, np.sort(a.class_probs))
    np.testing.assert_array_equal(a.log_probs, b.log_probs)


def test_expect_over_an_empty_or_point_interval_is_zero():
    """lb >= ub: nothing to integrate, and no 0/0 with conditional=True."""
    b = IsoperimetricBound([0.5, 0.3, 0.2])
    for lb, ub in ((1.0, 1.0), (2.0, 1.0)):
        assert b.expect(lb=lb, ub=ub) == 0.0
        assert b.expect(lb=lb, ub=ub, conditional=True) == 0.0
    deg = IsoperimetricBound([1.0, 0.0])
    assert deg.expect(lb=1.0, ub=1.0, conditional=True) == 0.0
    assert deg.expect(lambda t: 1.0 / (1.0 + t)) == 0.0  # R* = inf: f(inf)


def test_radii_as_number_objects_that_are_not_floats():
    """Object arrays of Decimal (has __float__ but is not numbers.Real), Fraction and big ints."""
    from decimal import Decimal
    from fractions import Fraction

    b = IsoperimetricBound([0.5, 0.3, 0.2])
    want = b.cdf(np.array([0.5, 0.25, 3.0]))
    np.testing.assert_array_equal(b.cdf([Decimal("0.5"), Fraction(1, 4), 3]), want)
    np.testing.assert_array_equal(b.cdf(np.array([Decimal("0.5"), 0.25, 3], dtype=object)), want)
    with pytest.raises(TypeError, match="eps"):
        b.cdf([Decimal("0.5"), "0.25"])


def test_repr_keeps_the_counts_when_some_are_not_one():
    b = IsoperimetricBound([0.25, 0.5], counts=[2, 1])
    assert "counts" in repr(b)
    assert "counts" not in repr(IsoperimetricBound([0.25, 0.25, 0.5]).equiprobable(3))


def test_huge_counts_with_a_total_below_one_are_normalized_not_refused():
    """Exact counts (>= 2**53) whose weighted sum is below 1: normalize=True must rescale them."""
    b = IsoperimetricBound([1e-20, 1e-20], counts=[2**60, 2**60], normalize=True)
    assert b.n_classes == 2**61
    ref_b = IsoperimetricBound.equiprobable(2**61)
    np.testing.assert_allclose(b.cdf([0.01, 0.1, 1.0]), ref_b.cdf([0.01, 0.1, 1.0]), rtol=1e-13)
    with pytest.raises(ValueError, match="normalize=True"):
        IsoperimetricBound([1e-20, 1e-20], counts=[2**60, 2**60])


@pytest.mark.parametrize(
    ("probs", "match"),
    [
        (np.array([[0.5, 0.5]]), "1-d"),
        (np.array([]), "non-empty"),
        (np.array([0.5, np.nan, 0.5]), "NaN"),
        (np.array([0.5, -0.5, 1.0]), r"class_probs\[1\]=-0\.5"),
        (np.array([0.5, np.inf]), r"class_probs\[1\]=inf"),
        (np.array([0.0, 0.0]), "positive sum"),
        (np.array([0.5, 0.25]), "sum to 0.75"),
    ],
)
def test_bad_arrays_get_the_same_errors_as_bad_lists(probs, match):
    """float64 arrays take the constructor's small-K path first; it must hand every
    bad input to the general checks rather than fail in its own way."""
    with pytest.raises(ValueError, match=match):
        IsoperimetricBound(probs)


# --- more mutants of _bound.py that the suite let through (benchmarks/mutation.py) ----


def test_support_is_the_half_line():
    assert IsoperimetricBound([0.5, 0.3, 0.2]).support() == (0.0, math.inf)


def test_expect_defaults_integrate_over_the_whole_support():
    """expect() is the mean, expect(1) is 1 and expect(t**2) the second moment,
    each to quad's relative tolerance (an absolute tolerance would stop it early)."""
    b = IsoperimetricBound([0.5, 0.3, 0.2])
    assert b.expect() == pytest.approx(b.mean(), rel=1e-11)
    assert b.expect(lambda t: 1.0) == pytest.approx(1.0, rel=1e-11)
    assert b.expect(lambda t: t * t) == pytest.approx(b.moment(2), rel=1e-11)
    small = IsoperimetricBound.from_log_probs([0.0, -40.0], normalize=True)
    # a tiny expectation: any absolute tolerance above 1e-20 would return garbage
    v = small.expect(lambda t: math.exp(-50.0 * t))
    ref_v = mpmath.quad(lambda t: mpmath.exp(-50 * t) * ref.pdf(t, log_probs=[0, -40]), [0, 1, mpmath.inf])
    assert v == pytest.approx(float(ref_v), rel=1e-9)


def test_equiprobable_counts_stay_exact_just_above_two_to_the_53():
    for k in (2**53 - 1, 2**53, 2**53 + 1, 2**60 + 3):
        assert IsoperimetricBound.equiprobable(k).n_classes == k


def test_exact_counts_are_merged_sorted_and_filtered_exactly():
    big = 10**400
    b = IsoperimetricBound(
        [0.25, 0.0, 0.5, 0.25], counts=[big, 7, 1, big], normalize=True
    )  # equal classes merge, the empty one is dropped, all while counts stay exact
    assert b.n_classes == 2 * big + 8
    assert b._exact == (2 * big, 1)
    assert b.counts[1] == 1.0 and b.counts[0] == math.inf
    np.testing.assert_allclose(b.log_counts[0], math.log(2) + 400 * math.log(10), rtol=1e-15)


def test_from_log_probs_allows_empty_classes():
    b = IsoperimetricBound.from_log_probs([0.0, -np.inf])
    assert b.n_classes == 2 and b.class_probs.tolist() == [1.0]
    with pytest.raises(ValueError, match="all -inf"):
        IsoperimetricBound.from_log_probs([-np.inf, -np.inf])


def test_opposite_infinities_are_a_clear_error():
    with pytest.raises(ValueError, match=r"class_probs\[0\]=inf"):
        IsoperimetricBound(np.array([np.inf, -np.inf]))


def test_every_stored_array_is_read_only():
    for b in (IsoperimetricBound([0.2, 0.8]), IsoperimetricBound([0.2, 0.8], counts=[1, 1])):
        for arr in (b._p, b._logp, b._counts, b._logc):
            assert not arr.flags.writeable


def test_subnormal_values_step_down_inside_a_mixed_array():
    """The subnormal step must apply to the subnormal entries of an array that also
    holds ordinary values (not only to arrays that are all subnormal)."""
    b = IsoperimetricBound([0.5, 0.3, 0.2])
    radii = np.array([3e-320, 0.5, 1e-322])
    got = b.cdf(radii)
    for x, v in zip(radii.tolist(), got.tolist(), strict=True):
        assert v <= ref.cdf(x, [0.5, 0.3, 0.2]), x
