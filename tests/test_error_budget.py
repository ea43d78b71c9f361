"""The error budgets behind the safe side, term by term.

Every rounded value of the core is moved by an error bound built from a
first-order analysis (an error factor in ulps, one term per source of
error) times a safety factor of two.  The accuracy sweep cannot tell a
correct budget from one with a term shrunk or dropped: the safety factor
and the other terms cover it on every input tried.  So each analytic term
is checked here against the quantity it claims to bound, computed
independently at 50+ digits, both ways: the term is never below that
quantity (the budget is sufficient), and where the term is meant to be
asymptotically exact it is within a few percent of it (the budget is not
inflated).  The rounding-count terms (an ulp per operation) cannot be
measured from outside; their sum is pinned to the documented formula
evaluated on independently computed inputs.
"""

from __future__ import annotations

import functools
import math

import mpmath
import numpy as np
import pytest

from isobound import IsoperimetricBound
from isobound._bound import _moment_error_factor, _threshold_sensitivity

EPS = 2.0**-52

# thresholds b = -a on both sides of 0, from the deepest tails to deep majority classes
B_GRID = np.concatenate([-np.geomspace(1e-3, 40.0, 24), [0.0], np.geomspace(1e-3, 40.0, 24)])


def _partial_moments(a: float, order: int) -> list[mpmath.mpf]:
    """``M_0 .. M_order`` of ``E[(Z - a)_+^k]`` at 40 digits, from the parabolic cylinder function.

    ``M_k(a) = k! exp(-a^2/4) D_{-k-1}(a) / sqrt(2 pi)`` (substitute ``u = t + a`` in
    the integral form of ``D``); no recurrence, so nothing cancels in the tails.
    """
    return list(_moments_upto_6(float(a))[: order + 1])


@functools.cache
def _moments_upto_6(a: float) -> tuple[mpmath.mpf, ...]:
    with mpmath.workdps(40):
        x = mpmath.mpf(a)
        scale = mpmath.exp(-x * x / 4) / mpmath.sqrt(2 * mpmath.pi)
        return tuple(mpmath.factorial(k) * scale * mpmath.pcfd(-k - 1, x) for k in range(7))


def _needed_threshold_term(b: float, order: int) -> float:
    """``(1.5 |a| + 0.5) |d log M_n / da|`` in ulps, ``a = -b``: the threshold's rounding through M_n."""
    m = _partial_moments(-b, order)
    return float((1.5 * abs(b) + 0.5) * order * m[order - 1] / m[order])


@pytest.mark.parametrize("order", [1, 2, 3, 6])
def test_threshold_term_covers_the_sensitivity_and_is_exact_in_both_far_regions(order: int) -> None:
    got = _threshold_sensitivity(B_GRID, order)
    need = np.array([_needed_threshold_term(float(b), order) for b in B_GRID])
    ratio = got / need
    assert np.all(ratio >= 1.0), (B_GRID[ratio < 1.0], ratio[ratio < 1.0])
    # a far tail (b = -40) and a far majority class (b = 40): the term is asymptotically exact
    far_tail, far_major = ratio[np.argmin(B_GRID)], ratio[np.argmax(B_GRID)]
    assert far_tail <= 1.2, far_tail  # (a + n + 1) / (a + (n + 1) / a) at a = 40
    assert far_major <= 1.2, far_major
    # loosest near a = 0, where n M_{n-1} / M_n grows only like sqrt(n) but the term like n
    assert np.max(ratio) <= 3.0 * (order + 1), (B_GRID[np.argmax(ratio)], np.max(ratio))


def test_threshold_term_switches_branch_at_zero() -> None:
    # b <= 0 is the tail branch: at b = 0 the term is 1.5 (n + 1) / 2
    assert _threshold_sensitivity(np.array([0.0]), 2)[0] == pytest.approx(1.5 * 3 * 0.5)
    assert _threshold_sensitivity(np.array([1e-300]), 2)[0] == pytest.approx(1.5 * 2 * 2.0)


BOUNDS = {
    "three classes": [0.5, 0.3, 0.2],
    "ten Dirichlet": list(np.random.default_rng(3).dirichlet(np.ones(10))),
    "two equal": [0.5, 0.5],
    "majority 1 - 1e-6": [1 - 1e-6, 0.6e-6, 0.4e-6],
}


@pytest.mark.parametrize("name", sorted(BOUNDS))
@pytest.mark.parametrize("order", [1, 2, 4])
def test_moment_error_bound_is_the_documented_budget(name: str, order: int) -> None:
    """``r = 2 eps (sum_i w_i rho_i + sigma) + 4 eps`` with ``w_i`` the share of
    ``c_i M_n(a_i)`` in the sum and ``rho_i = 8 + 4n + 2|log c_i| + 3|log M_n(a_i)| + t_i``;
    the moments and shares here come from mpmath, not from the core."""
    b = IsoperimetricBound(BOUNDS[name])
    k = b._k
    lm = np.array([float(mpmath.log(_partial_moments(-float(t), order)[order])) for t in k.b])
    terms = np.exp(k.logc + lm)
    w = terms / terms.sum()
    rho = 8.0 + 4.0 * order + 2.0 * np.abs(k.logc) + 3.0 * np.abs(lm) + _threshold_sensitivity(k.b, order)
    expected = 2.0 * EPS * (float(np.dot(w, rho)) + 3.0 + 0.25 * k.b.size) + 4.0 * EPS
    value, r = b._moment_terms(order)
    assert r == pytest.approx(expected, rel=1e-9, abs=0.0)
    assert value == pytest.approx(float(terms.sum()), rel=1e-12)
    # and the per-class factor the core uses is that rho
    np.testing.assert_allclose(_moment_error_factor(k.b, k.logc, lm, order), rho, rtol=1e-12)


def test_moment_budget_terms_each_count() -> None:
    """Each documented term moves the factor by its own amount (no term is silently dropped)."""
    b = np.array([-2.0, 1.0])
    logc = np.array([-3.0, 0.0])
    lm = np.array([-5.0, 0.5])
    base = _moment_error_factor(b, logc, lm, 2)
    t = _threshold_sensitivity(b, 2)
    np.testing.assert_allclose(base, 8.0 + 8.0 + 2.0 * np.abs(logc) + 3.0 * np.abs(lm) + t)
    assert math.isclose(t[0], 1.5 * (2.0 + 3.0) * 2.5) and math.isclose(t[1], 1.5 * 2 * 1.5)


def test_moments_with_terms_spread_beyond_the_exponent_range() -> None:
    """A class of log-probability -2000 beside a majority class: the terms ``c_i M_n(a_i)``
    span more than 10**800, so the sum must be scaled by its largest term."""
    from isobound import reference as ref

    b = IsoperimetricBound.from_log_probs([0.0, -2000.0], normalize=True)
    for order in (1, 2):
        got = b.moment(order)
        exact = ref.moment(order, log_probs=[0.0, -2000.0])
        assert math.isfinite(got) and got >= exact and float(got / exact - 1) < 1e-12, (order, got)
