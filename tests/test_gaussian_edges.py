"""Edges of the Gaussian building blocks that the accuracy sweep does not reach.

Each test here pins a branch that a mutation run of ``isobound/_gaussian.py``
found unpinned (``benchmarks/results/mutation_gaussian*.md``): the choice of
quadrature rule by flatness, the two sides of ``log(1 - e^x)``, the number of
continued-fraction terms in a batch with mixed thresholds, and the argument
check of :func:`isobound.expected_gaussian_norm`.  The references are 50-digit
mpmath values.
"""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

import isobound as ib
from isobound import _gaussian as gauss
from isobound import reference as ref

mpf = mpmath.mpf


def _ulps(got: np.ndarray, exact: np.ndarray) -> np.ndarray:
    return np.abs(got - exact) / np.spacing(np.abs(exact))


def _exact_short_average(mid: float, half: float) -> float:
    """The mean of exp(-m u - u^2/2) over [-h, h], by 50-digit quadrature of its definition."""
    with mpmath.workdps(50):
        m, h = mpf(mid), mpf(half)
        total = mpmath.quad(lambda u: mpmath.exp(-m * u - u * u / 2), [-h, 0, h])
        return float(total / (2 * h))


@pytest.mark.parametrize("half", [1e-4, 1e-3, 0.05, 0.1, 0.25])
def test_short_average_keeps_its_five_ulps_over_the_documented_domain(half: float) -> None:
    # Documented: 5 ulps for h <= 1/4 and |m| h <= 1.  The rule is picked by
    # the flatness of the integrand (|m| h and h); a 5-node rule stretched to
    # |m| h = 0.4 at h = 0.1 is off by hundreds of ulps, so the grid of |m| h
    # runs through each switch point and beyond it.
    mh = np.array([0.0, 1e-4, 1e-3, 0.05, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.6, 1.0])
    mid = np.concatenate([mh, -mh]) / half
    exact = np.array([_exact_short_average(m, half) for m in mid])
    for m, e in zip(mid, exact, strict=True):
        # one point at a time: the rule depends on the batch's flattest-worst point
        got = gauss.short_average(np.array([m]), np.array([half]))
        assert _ulps(got, np.array([e]))[0] <= 5, (m, half)
    # and the whole row at once (the rule for the worst point serves all)
    assert np.max(_ulps(gauss.short_average(mid, np.full(mid.shape, half)), exact)) <= 5


def test_log1mexp_is_accurate_on_both_sides_of_minus_log_two() -> None:
    # log(-expm1(x)) near 0, log1p(-exp(x)) far from it: swapping the two
    # gives -inf for |x| below about 1e-17, and log1p(-exp(x)) alone loses
    # every digit as x -> 0.
    x = -np.geomspace(1e-300, 40.0, 600)
    with mpmath.workdps(50):
        exact = np.array([float(mpmath.log(-mpmath.expm1(mpf(v)))) for v in x])
    got = gauss._log1mexp(x)
    assert np.all(np.isfinite(got))
    assert np.max(_ulps(got, exact)) <= 2
    # the far side (x < -log 2) is where log1p(-exp(x)) is the accurate form
    assert np.any(x < -np.log(2.0)) and np.any(x > -np.log(2.0))


def test_normal_loss_in_a_batch_is_as_accurate_as_alone() -> None:
    # The continued fraction's length is chosen for the smallest threshold in
    # the batch; choosing it for the largest would leave a = 2 with a dozen
    # terms (relative error ~1e-4) whenever a = 12 shares its batch.
    a = np.array([30.0, 12.0, 2.0, 2.25, 3.0, 6.0])
    got = ib.normal_loss(a)
    for value, point in zip(got, a, strict=True):
        exact = ref.normal_loss(float(point))
        # the sweep's tolerances (tests/test_accuracy.py): scipy's ndtr loses digits beyond 10
        assert abs(mpf(float(value)) / exact - 1) <= (3e-14 if point <= 10 else 4e-13), point
    alone = np.array([ib.normal_loss(float(v)) for v in a])
    np.testing.assert_allclose(got, alone, rtol=3e-14, atol=0)


def test_partial_moments_in_a_batch_are_as_accurate_as_alone() -> None:
    # The same choice in log_normal_partial_moments: the ratio r_1 = c(a) at
    # a = 2 must not depend on a larger threshold beside it.
    a = np.array([25.0, 2.0])
    log_m, _ = gauss.log_normal_partial_moments(a, 3)
    exact_l = ref.normal_loss(2.0)
    assert abs(mpmath.exp(mpf(float(log_m[1, 1]))) / exact_l - 1) <= 3e-14
    alone, _ = gauss.log_normal_partial_moments(np.array([2.0]), 3)
    np.testing.assert_allclose(log_m[1], alone[0], rtol=1e-14, atol=0)


@pytest.mark.parametrize(
    "d",
    [0, 0.0, -1.0, np.inf, np.nan, [4.0, 0.0], [0.0, -2.0], [3.0, np.inf], [np.nan, 2.0]],
    ids=repr,
)
def test_expected_gaussian_norm_rejects_non_dimensions(d: object) -> None:
    # every element is checked, not only the first or all together; 0 is not a dimension
    with pytest.raises(ValueError, match=r"d must be a positive finite dimension, got d="):
        ib.expected_gaussian_norm(d)


def test_expected_gaussian_norm_accepts_tiny_and_huge_dimensions() -> None:
    d = np.array([1e-300, 0.5, 1.0, 340.0, 340.5, 1e15])
    got = ib.expected_gaussian_norm(d)
    for value, point in zip(got, d, strict=True):
        exact = ref.expected_gaussian_norm(float(point))
        assert abs(mpf(float(value)) / exact - 1) <= 1e-14, point
