"""Behaviour of IsoperimetricBound / ImageSpaceBound: conventions, validation, identities.

Accuracy against the mpmath twin lives in test_accuracy.py; these tests pin
the interface and the structural identities of the bound.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special as sc

import isobound as ib
from isobound import IsoperimetricBound

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
    b = IsoperimetricBound([0.05, 0.15, 0.3, 0.5])
    q = np.concatenate([np.geomspace(1e-300, 1e-3, 30), np.linspace(0.01, 0.99, 50)])
    e = b.ppf(q)
    # B(ppf(q)) >= q with the raw (un-nudged) cdf: the quantile is not understated
    assert np.all(b._raw_cdf(e) >= q)
    p = np.concatenate([np.geomspace(1e-300, 1e-3, 30), np.linspace(0.01, 0.99, 50)])
    # sf(isf(p)) <= p, up to the absolute rounding of a sum of K terms near 1
    assert np.all(b._raw_sf(b.isf(p)) <= p + 4e-16)


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
