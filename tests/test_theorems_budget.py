"""The error budget of transfer_bound and theorem 4, each part on its own.

transfer_bound moves every interval mass down by SAFETY (64 ulps) on top of
its error budget, and in every end-to-end test that margin dominates: a part
of the budget that is dropped or made too small goes unnoticed there.  So
each propagation step is tested here against a 60-digit value, with an input
error large enough that the step, not SAFETY, decides the answer.

theorem4 and theorem4_equiprobable round their last sum up; the tests below
compare that sum with exact rationals.
"""

from __future__ import annotations

import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest
from scipy.special import ndtri

import isobound as ib
from isobound import reference as ref
from isobound._theorems import _interval_mass_down, _log_rest, _threshold_error

EPS = 2.0**-52


def exact(x: float) -> mpmath.mpf:
    """The float as an exact mpf (at the working precision, floats are exact)."""
    return mpmath.mpf(float(x))


# --- a_i = Phi^{-1}(s_i): the threshold's error -----------------------------------------

S_VALUES = [1e-300, 1e-100, 1e-30, 1e-12, 3e-7, 1e-3, 0.02, 0.17, 0.31, 0.4999]


@pytest.mark.parametrize("rel", [0.0, 1e-12, 1e-9])
@pytest.mark.parametrize("s", S_VALUES)
def test_threshold_error_covers_the_input_error_and_ndtri(s: float, rel: float) -> None:
    """|ndtri(s) - Phi^{-1}(s')| <= a_err for every s' within in_err of s (both ends)."""
    in_err = rel * s
    a = float(ndtri(s))
    a_err = float(_threshold_error(np.array([a]), np.array([in_err]))[0])
    with mpmath.workdps(60):
        for s_true in (exact(s) - exact(in_err), exact(s) + exact(in_err)):
            a_true = ref.ndtri(s_true, dps=60)
            gap = abs(exact(a) - a_true)
            assert gap <= exact(a_err), (s, rel, float(gap), a_err)
            if rel:
                # the input's error is the larger part: the budget is that step, not slack
                assert gap >= exact(a_err) / 8, (s, rel, float(gap), a_err)


@pytest.mark.parametrize("w", [1e-9, 0.02, 0.17, 0.31, 0.4999])
@pytest.mark.parametrize("rel", [0.0, 1e-12, 1e-9])
def test_threshold_error_on_the_majority_side(w: float, rel: float) -> None:
    """Where s = 1 - p_i - delta is above 1/2 the threshold is a = -ndtri(w) > 0 with
    w = p_i + delta below 1/2 (the side with more digits): the same budget holds."""
    in_err = rel * w
    a = -float(ndtri(w))
    a_err = float(_threshold_error(np.array([a]), np.array([in_err]))[0])
    with mpmath.workdps(60):
        for w_true in (exact(w) - exact(in_err), exact(w) + exact(in_err)):
            gap = abs(exact(a) + ref.ndtri(w_true, dps=60))
            assert gap <= exact(a_err), (w, rel, float(gap), a_err)


# --- m_i: the interval mass, moved down for the threshold's error --------------------------

A_VALUES = [-9.0, -3.0, -1.0, -0.2, 0.0, 0.4, 1.7, 3.0, 5.0, 8.0, 13.0]
E_VALUES = [1e-9, 1e-4, 0.01, 0.3, 1.0, 3.0, 12.0]


@pytest.mark.parametrize("a_rel", [0.0, 1e-11, 1e-8])
@pytest.mark.parametrize("a", A_VALUES)
def test_interval_mass_down_is_below_the_mass_at_every_nearby_threshold(a: float, a_rel: float) -> None:
    """m_down <= the mass of [-a' - e, -a'] for a' = a -/+ a_err (the mass is unimodal in a',
    so its minimum over the interval is at an end), and within 1e-12 + a few a_err of it."""
    a_err = a_rel * (1.0 + abs(a))
    e = np.array(E_VALUES)
    down = _interval_mass_down(np.array([a]), np.array([a_err]), e)[:, 0]
    with mpmath.workdps(80):
        for ei, di in zip(E_VALUES, down, strict=True):
            ends = [ref._interval_mass(-(exact(a) + s * exact(a_err)), exact(ei)) for s in (-1, 1)]
            low = min(ends)
            assert exact(di) <= low, (a, ei, a_err, float(di), float(low))
            centre = ref._interval_mass(-exact(a), exact(ei))
            # the relative sensitivity is at most |a| + e + 1 here (near) or the long bound
            slack = 1e-12 + 4.0 * (2.0 + abs(a) + ei) * a_err * math.exp(min(ei * (abs(a) + ei), 50.0))
            assert exact(di) >= centre * (1 - mpmath.mpf(slack)), (a, ei, a_err)


def test_interval_mass_down_sensitivity_is_not_just_one() -> None:
    """Where the mass moves fast with its position (a far tail), the budget must scale the
    threshold's error by that rate: 1e-8 of a at a = 8 moves the mass by ~8e-8 relative."""
    a, a_err, e = 8.0, 1e-8, 0.5
    down = float(_interval_mass_down(np.array([a]), np.array([a_err]), np.array([e]))[0, 0])
    with mpmath.workdps(60):
        moved = ref._interval_mass(-(exact(a) + exact(a_err)), exact(e))
        centre = ref._interval_mass(-exact(a), exact(e))
        assert 1 - moved / centre > 5e-8  # the true relative move
        assert exact(down) <= moved


def test_interval_mass_down_keeps_nan_and_clips_at_zero() -> None:
    got = _interval_mass_down(np.array([0.5, 1.0]), np.array([0.0, 10.0]), np.array([np.nan, 1.0]))
    assert np.isnan(got[0]).all()
    assert got[1, 1] == 0.0  # an error of 10 in the threshold leaves nothing certain
    assert got[1, 0] > 0.0


# --- 1 - p_i, the mass of the other classes ----------------------------------------------------


def test_log_rest_counts_the_other_copies_of_a_majority_class() -> None:
    """A repeated class above 1/2 cannot come from normalised proportions, but the
    helper's contract is log(1 - p_i) = log(sum over the others, copies included)."""
    logp = np.log(np.array([0.6, 0.1]))
    logc = np.log(np.array([1.0, 4.0]))
    got = _log_rest(logp, logc)
    assert got[0] == pytest.approx(math.log(4 * 0.1), rel=1e-15)
    assert got[1] == pytest.approx(math.log1p(-0.1), rel=1e-15)
    three = _log_rest(np.log(np.array([0.6, 0.2])), np.log(np.array([3.0, 1.0])))
    # the two other copies of class 0 (2 x 0.6) and class 1 (0.2): 1.4
    assert three[0] == pytest.approx(math.log(1.4), rel=1e-15)
    two = _log_rest(np.log(np.array([0.6, 0.2])), np.log(np.array([2.0, 1.0])))
    assert two[0] == pytest.approx(math.log(0.8), rel=1e-15)  # one other copy counts too
    alone = _log_rest(np.array([0.0]), np.array([0.0]))
    assert alone[0] == -math.inf


@pytest.mark.parametrize(
    "probs",
    [[1 - 3e-12, 1e-12, 1e-12, 1e-12], [0.5, 0.5], [0.7, 0.1, 0.1, 0.1], [0.5000000001, 0.4999999999]],
)
def test_log_rest_against_exact_rationals(probs: list[float]) -> None:
    bound = ib.IsoperimetricBound(probs)
    got = _log_rest(np.asarray(bound.log_probs), np.log(np.asarray(bound.counts)))
    p = [Fraction(float(v)) for v in bound.class_probs]
    c = [int(v) for v in bound.counts]
    total = sum(ci * pi for ci, pi in zip(c, p, strict=True))
    with mpmath.workdps(60):
        for i, pi in enumerate(p):
            rest = (total - pi) / total  # the proportions, renormalised exactly
            want = mpmath.log(mpmath.mpf(rest.numerator) / rest.denominator)
            assert abs(exact(got[i]) - want) <= 8 * EPS * (1 + abs(want)), (probs, i)


# --- Theorem 4: the final sum rounds up ------------------------------------------------------------

DELTAS = [1e-17, 3e-17, 0.1, 1 / 3, 0.7, 1e-3 / 7, 2.0 / 3.0, 1.234567, 5e-16]


@pytest.mark.parametrize("probs", [[0.1] * 10, [0.5, 0.3, 0.2], [0.9, 0.1]])
def test_theorem4_rounds_its_last_sum_up(probs: list[float]) -> None:
    """theorem4 >= omega(inner) + delta exactly, and within 3 ulps of it."""
    omega = ib.Lipschitz(3.0)
    inner = ib.IsoperimetricBound(probs).mean()
    base = Fraction(float(omega(inner)))
    rounded_down = 0
    for d in DELTAS:
        got = Fraction(ib.theorem4(probs, omega=omega, delta=d))
        want = base + Fraction(d)
        assert got >= want, (probs, d)
        assert got <= want * (1 + Fraction(3 * EPS) + Fraction(3 * EPS * EPS)), (probs, d)
        rounded_down += Fraction(float(base) + d) < want
    assert rounded_down >= 2  # the plain float sum would have been below the truth


@pytest.mark.parametrize("k", [5, 7, 10, 100, 1000, 10**6, 10**12, 10**30, 10**100, 10**300])
def test_theorem4_equiprobable_is_above_the_exact_closed_form(k: int) -> None:
    """Against the 60-digit closed form, through the identity and a Lipschitz modulus,
    with delta = 0 and a delta that makes the float sum inexact."""
    rounded_down = 0
    with mpmath.workdps(60):
        inner = ref.theorem4_equiprobable_closed(k, dps=60)
        for omega, scale in ((None, 1), (ib.Lipschitz(3.0), 3)):
            # large deltas make the sum's rounding, not the inner margin, the larger error
            for d in (0.0, 1e-17, 0.1, 1 / 3, 1e3 / 3, 777.7, 1e4 / 7, 31415.9, 2.0**40 / 3):
                got = ib.theorem4_equiprobable(k, omega=omega, delta=d)
                want = scale * inner + exact(d)
                assert exact(got) >= want, (k, omega, d)
                assert exact(got) <= want * (1 + mpmath.mpf(2.0**-40)), (k, omega, d)
                rounded_down += exact(float(scale * inner) + d) < want
    assert rounded_down >= 1  # some sum rounds down: the final factor is needed


def test_theorem4_equiprobable_margin_is_needed_somewhere() -> None:
    """The float closed form is below the exact one for some K by more than the final
    2-ulp factor can cover alone: the SAFETY factor on the inner value is not decoration.
    (If this ever fails, the margin has become redundant; it is kept as a guard.)"""
    worst = mpmath.mpf(0)
    with mpmath.workdps(60):
        for k in [5 + i for i in range(200)] + [10**j for j in range(2, 300, 7)]:
            lk = math.log(k)
            fl = math.log(4.0 * math.pi * lk) / math.sqrt(2.0 * lk)
            want = ref.theorem4_equiprobable_closed(k, dps=60)
            worst = max(worst, (want - exact(fl)) / want)
    assert worst > 0  # the plain float value is below the truth somewhere
    assert worst < 2.0**-46  # and SAFETY (2^-46) covers it everywhere in the sweep


# --- _concave's hints ----------------------------------------------------------------------------------


def test_concave_hint_for_an_extrapolated_piecewise_modulus() -> None:
    steep = ib.PiecewiseLinear([0.0, 1.0, 2.0], [0.0, 0.5, 3.0], extrapolate=True)
    with pytest.raises(ValueError, match=r"concave_majorant\(\), which is concave"):
        ib.theorem4([0.5, 0.5], omega=steep)
    ib.theorem4([0.5, 0.5], omega=steep.concave_majorant())  # the hint's remedy is accepted


def test_concave_hint_for_a_composition() -> None:
    inner = ib.Holder(1.0, 2.0)
    comp = ib.Composition(ib.Lipschitz(2.0), inner)
    with pytest.raises(ValueError, match="both parts of a composition must be concave"):
        ib.theorem4([0.5, 0.5], omega=comp)


def test_concave_hint_for_a_piecewise_modulus_without_extrapolation() -> None:
    bounded = ib.PiecewiseLinear([0.0, 1.0], [0.0, 0.5])
    with pytest.raises(ValueError, match="extrapolate=True"):
        ib.theorem4([0.5, 0.5], omega=bounded)


# --- Eq. (3)'s tail exponent -------------------------------------------------------------------------


def test_eq3_tail_error_bound_covers_the_rounding() -> None:
    """|lt - (log sqrt(pi/2) - eps^2/2)| <= err against 60 digits, from the zero crossing
    (eps ~ 0.67, where the two terms cancel) to eps = 40 (where eps^2/2 has ulps of 2^-43)."""
    from isobound._theorems import _eq3_tail

    eps = np.concatenate([np.linspace(0.0, 3.0, 301), np.geomspace(3.0, 40.0, 200), [0.6720, 0.67200714]])
    lt, err = _eq3_tail(eps)
    worst = 0.0
    with mpmath.workdps(60):
        c = mpmath.log(mpmath.sqrt(mpmath.pi / 2))
        for e, v, r in zip(eps, lt, err, strict=True):
            gap = abs(exact(v) - (c - exact(e) ** 2 / 2))
            assert gap <= exact(r), (e, float(gap), r)
            worst = max(worst, float(gap / exact(r)))
    assert worst > 1 / 16  # the sweep reaches errors of the budget's own size
