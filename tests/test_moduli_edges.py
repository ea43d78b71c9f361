"""Edge cases of the moduli: value semantics, validation, certification, safe-side margins.

Written against the survivors of a mutation run of ``isobound/_moduli.py``:
each test pins a behaviour a user can observe (an equality, an error
message, the side a rounded result falls on, a majorant that is the least
one, the cost of certifying a candidate that is slightly too large).
Exact values come from mpmath at 50 digits or from rational arithmetic.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any, ClassVar

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import isobound as ib
from isobound._moduli import _float_up

EPS = 2.0**-52
TINIEST = 5e-324

# the names a modulus' repr uses, for eval round trips
NAMESPACE = {
    name: getattr(ib, name)
    for name in ("Affine", "Composition", "Holder", "Identity", "Lipschitz", "PiecewiseLinear", "UniformPrior")
}


def exact(x: float) -> Any:
    return mpmath.mpf(x)


@pytest.fixture(autouse=True)
def _fifty_digits():
    with mpmath.workdps(50):
        yield


# --- value semantics --------------------------------------------------------------


def test_equality_and_hash_of_moduli_with_array_parameters() -> None:
    a = ib.PiecewiseLinear([0, 1, 2], [0, 1, 3], extrapolate=True)
    b = ib.PiecewiseLinear(np.array([0.0, 1.0, 2.0]), [0.0, 1.0, 3.0], extrapolate=True)
    assert a == b and not (a != b)
    assert hash(a) == hash(b)
    assert len({a, b, ib.PiecewiseLinear([0, 1, 2], [0, 1, 3], extrapolate=True)}) == 1
    assert a != ib.PiecewiseLinear([0, 1, 2], [0, 1, 3.5], extrapolate=True)
    assert a != ib.PiecewiseLinear([0, 1, 2], [0, 1, 3], interpolation="step", extrapolate=True)
    assert a != ib.PiecewiseLinear([0, 1, 2], [0, 1, 3], extrapolate=True, failure_prob=0.1)
    # moduli holding piecewise parts hash and compare by value too
    c1 = ib.Composition(a, ib.Lipschitz(2.0))
    c2 = ib.Composition(b, ib.Lipschitz(2.0))
    assert c1 == c2 and hash(c1) == hash(c2)
    assert {ib.UniformPrior(a): 1}[ib.UniformPrior(b)] == 1


def test_equality_with_other_kinds_and_other_types() -> None:
    lip = ib.Lipschitz(1.0)
    # the same function, another kind: not equal, and the comparison is left to the other side
    assert lip != ib.Affine(1.0, 0.0) and ib.Affine(1.0, 0.0) != lip
    assert lip.__eq__(ib.Affine(1.0, 0.0)) is NotImplemented
    assert ib.Identity().__eq__(lip) is NotImplemented
    for other in ("x", 1.0, None, object(), np.float64(1.0)):
        assert lip != other and not (lip == other)
        assert lip.__eq__(other) is NotImplemented
    assert lip == ib.Lipschitz(1.0) and lip != ib.Lipschitz(1.0, failure_prob=0.01)


@pytest.mark.parametrize(
    "omega",
    [
        ib.Identity(),
        ib.Lipschitz(2.5, failure_prob=0.01),
        ib.Affine(1.5, 0.25),
        ib.Holder(0.3, 0.7),
        ib.PiecewiseLinear([0.0, 1.0, 2.0], [0.0, 1.0, 1.5]),
        ib.PiecewiseLinear([0.0, 1.0, 2.0], [0.0, 1.0, 1.5], interpolation="step"),
        ib.PiecewiseLinear([0.0, 1.0, 2.0], [0.0, 1.0, 1.5], extrapolate=True),
        ib.PiecewiseLinear(
            [0.5, 1.0, 2.0], [0.25, 1.0, 1.5], interpolation="step", extrapolate=True, failure_prob=0.05
        ),
        ib.UniformPrior(ib.PiecewiseLinear([0.0, 1.0], [0.0, 2.0], interpolation="step")),
        ib.Composition(
            ib.PiecewiseLinear([0.0, 1.0, 2.0], [0.1, 1.0, 1.5], extrapolate=True), ib.Holder(2.0, 0.5)
        ),
    ],
    ids=repr,
)
def test_repr_round_trips(omega: ib.Modulus) -> None:
    again = eval(repr(omega), dict(NAMESPACE))
    assert type(again) is type(omega)
    assert again == omega and hash(again) == hash(omega)
    if isinstance(omega, ib.PiecewiseLinear):
        assert again.interpolation == omega.interpolation
        assert again.extrapolate is omega.extrapolate


def test_piecewise_repr_names_only_non_default_options() -> None:
    base = {"radii": [0.0, 1.0], "values": [0.0, 1.0]}
    assert repr(ib.PiecewiseLinear(**base)) == "PiecewiseLinear(radii=[0.0, 1.0], values=[0.0, 1.0])"
    assert "interpolation='step'" in repr(ib.PiecewiseLinear(**base, interpolation="step"))
    assert "extrapolate=True" in repr(ib.PiecewiseLinear(**base, extrapolate=True))


def test_piecewise_arrays_are_read_only() -> None:
    omega = ib.PiecewiseLinear([0.0, 1.0, 2.0], [0.0, 1.0, 1.5])
    with pytest.raises(ValueError, match="read-only"):
        omega.radii[0] = 0.5
    with pytest.raises(ValueError, match="read-only"):
        omega.values[1] = 0.0
    assert omega(1.0) == 1.0


# --- validation -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"radii": [0.0, math.inf], "values": [0.0, 1.0]}, r"radii must be finite and >= 0, got radii=.*inf"),
        ({"radii": [0.0, math.nan], "values": [0.0, 1.0]}, r"radii contains NaN: radii=\[0\.0, nan\]"),
        ({"radii": [0.0, 1.0], "values": [0.0, math.inf]}, r"values must be finite and >= 0, got values=.*inf"),
        ({"radii": [0.0, 1.0], "values": [math.nan, 1.0]}, r"values contains NaN: values=\[nan, 1\.0\]"),
        ({"radii": [0.0, -math.inf], "values": [0.0, 1.0]}, r"radii must be finite and >= 0, got radii=.*-inf"),
        ({"radii": [1.0, 1.0], "values": [0.0, 1.0]}, r"radii must be strictly increasing, got radii=\[1\. 1\.\]"),
        ({"radii": [2.0, 1.0], "values": [0.0, 1.0]}, r"strictly increasing"),
    ],
)
def test_piecewise_rejects_bad_numbers(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ib.PiecewiseLinear(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"interpolation": 1}, r"interpolation must be 'linear' or 'step', got interpolation=1"),
        ({"interpolation": None}, r"got interpolation=None"),
        ({"interpolation": ["linear"]}, r"got interpolation=\['linear'\]"),
        ({"extrapolate": "yes"}, r"extrapolate must be True or False, got extrapolate='yes'"),
        ({"extrapolate": 1}, r"got extrapolate=1"),
        ({"extrapolate": None}, r"got extrapolate=None"),
    ],
)
def test_piecewise_rejects_options_of_the_wrong_type(kwargs: dict, match: str) -> None:
    with pytest.raises(TypeError, match=match):
        ib.PiecewiseLinear([0.0, 1.0], [0.0, 1.0], **kwargs)


def test_piecewise_accepts_numpy_bools() -> None:
    omega = ib.PiecewiseLinear([0.0, 1.0], [0.0, 1.0], extrapolate=np.bool_(True))
    assert omega.extrapolate is True and omega(2.0) >= 2.0


def test_composition_failure_probabilities_must_stay_below_one() -> None:
    half = ib.Lipschitz(1.0, failure_prob=0.5)
    with pytest.raises(ValueError, match=r"add up to 1\.0 >= 1"):
        ib.Composition(half, half)
    ok = ib.Composition(ib.Lipschitz(1.0, failure_prob=0.25), half)
    assert ok.failure_prob == 0.75


def test_composition_is_concave_only_when_both_parts_are() -> None:
    concave, convex = ib.Holder(1.0, 0.5), ib.Holder(1.0, 2.0)
    assert ib.Composition(concave, ib.Lipschitz(2.0)).is_concave
    assert not ib.Composition(convex, ib.Lipschitz(2.0)).is_concave
    assert not ib.Composition(ib.Lipschitz(2.0), convex).is_concave
    assert not ib.Composition(convex, convex).is_concave


def test_composition_breakpoints_map_the_jumps_of_a_step_outer_part() -> None:
    # the jumps of a step outer part at s are jumps of the composition at inner^-1(s);
    # the quadrature of the bound's mean is told about them
    step = ib.PiecewiseLinear([0.0, 0.2, 0.6, 3.0], [0.0, 0.1, 0.5, 2.0], interpolation="step")
    c = ib.Composition(step, ib.Lipschitz(2.0))
    np.testing.assert_allclose(c._breakpoints(), [0.1, 0.3, 1.5], rtol=1e-14)
    assert np.all(c._breakpoints() > 0)


# --- _float_up ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "x",
    [
        Fraction(1, 3),
        Fraction(2, 3),
        Fraction(1, 10),
        Fraction(7, 10),
        Fraction(10**30 + 1, 10**30),
        Fraction(1, 3 * 2**1070),  # subnormal
        Fraction(0.5),
        Fraction(0.1),
        Fraction(0),
    ],
    ids=str,
)
def test_float_up_is_the_smallest_float_not_below(x: Fraction) -> None:
    f = _float_up(x)
    assert Fraction(f) >= x
    below = float(np.nextafter(f, -math.inf))
    assert Fraction(below) < x
    if Fraction(float(x)) == x:  # a float already: itself
        assert f == float(x)


def test_float_up_rounds_up_where_nearest_rounds_down() -> None:
    # 1/3 rounds to nearest below itself: the result is the next float up
    assert Fraction(float(Fraction(1, 3))) < Fraction(1, 3)
    assert _float_up(Fraction(1, 3)) == float(np.nextafter(1 / 3, 1.0))
    # 1/10 rounds to nearest above itself: nothing to add
    assert Fraction(float(Fraction(1, 10))) > Fraction(1, 10)
    assert _float_up(Fraction(1, 10)) == 0.1


# --- certification of a candidate inverse (Modulus._certify) --------------------------


class _Stub(ib.Modulus):
    """A user-defined modulus: ``_value`` and a candidate ``_inverse`` that may be too large.

    Counts the evaluations of ``_value`` (the cost of certifying).
    """

    __slots__ = ()
    calls: ClassVar[list[int]] = []
    factor: ClassVar[float] = 1.0

    @property
    def is_concave(self) -> bool:
        return True

    def _value(self, t: np.ndarray) -> np.ndarray:
        type(self).calls.append(t.size)
        return np.array(t, dtype=np.float64)

    def _inverse(self, eta: np.ndarray) -> np.ndarray:
        return eta * type(self).factor

    def _params(self) -> dict:
        return {}


class _SlightlyHigh(_Stub):
    """omega(t) = t; the candidate is 4 ulps too large (a rounding the closed form missed)."""

    __slots__ = ()
    calls: ClassVar[list[int]] = []
    factor = 1.0 + 4 * EPS


class _FarTooHigh(_Stub):
    """omega(t) = t; the candidate is 1000 times too large."""

    __slots__ = ()
    calls: ClassVar[list[int]] = []
    factor = 1000.0


class _Jump(_Stub):
    """omega = 1 on [0, 1], 2 beyond: a jump at t = 1 (like a step modulus)."""

    __slots__ = ()
    calls: ClassVar[list[int]] = []

    def _value(self, t: np.ndarray) -> np.ndarray:
        type(self).calls.append(t.size)
        return np.where(np.asarray(t) <= 1.0, 1.0, 2.0)


def test_a_candidate_a_few_ulps_too_large_is_fixed_in_one_step() -> None:
    omega = _SlightlyHigh()
    # some candidates are too large (a few ulps), the others are exact
    eta = np.array([0.3, 0.75, 1.0, 2.5, 1e-200, 1e200])
    _SlightlyHigh.calls.clear()
    t = np.asarray(omega.inverse(eta))
    assert np.all(t <= eta)
    assert np.all(t >= eta * (1.0 - 64 * EPS))
    # omega(0), every candidate, the shrunk ones once: no bisection
    assert len(_SlightlyHigh.calls) <= 3, _SlightlyHigh.calls



class _PartlyHigh(_Stub):
    """omega(t) = t; the candidate is a few ulps too large for eta >= 1 only."""

    __slots__ = ()
    calls: ClassVar[list[int]] = []

    def _inverse(self, eta: np.ndarray) -> np.ndarray:
        return np.where(eta >= 1.0, eta * (1.0 + 4 * EPS), eta)


def test_only_the_failed_candidates_are_shrunk_geometrically() -> None:
    omega = _PartlyHigh()
    eta = np.array([0.1, 0.3, 0.7, 1.0, 2.0, 4.0])
    _PartlyHigh.calls.clear()
    t = np.asarray(omega.inverse(eta))
    np.testing.assert_array_equal(t[:3], eta[:3])
    assert np.all(t[3:] < eta[3:]) and np.all(t[3:] >= eta[3:] * (1.0 - 64 * EPS))
    # omega(0) (the domain check), every candidate, then only the three failed ones
    assert _PartlyHigh.calls == [1, 6, 3], _PartlyHigh.calls


def test_bisection_finds_the_largest_certified_radius_at_every_magnitude() -> None:
    omega = _FarTooHigh()
    # subnormal radii resolve in fewer halvings than normal ones: every entry must
    # still be resolved to the float (omega(t) = t is exact, so t = eta exactly)
    eta = np.array([1e-320, 3e-310, 1e-300, 1e-3, 0.5, 2.0, 1e200])
    _FarTooHigh.calls.clear()
    t = np.asarray(omega.inverse(eta))
    np.testing.assert_array_equal(t, eta)
    # 24 geometric steps and some 60 halvings, not a fixed 1100
    assert len(_FarTooHigh.calls) < 200, len(_FarTooHigh.calls)


def test_certification_at_a_jump_accepts_equality() -> None:
    # omega(t) = 1 on [0, 1]: sup{t : omega(t) <= 1} = 1, reached with omega(t) == eta
    omega = _Jump()
    assert omega.at_zero == 1.0
    for factor in (1.0 + 4 * EPS, 1000.0):
        _Jump.factor = factor
        try:
            t = omega.inverse(1.0)
            assert omega(t) == 1.0
            assert 1.0 - 1e-14 <= t <= 1.0, (factor, t)
            t2 = np.asarray(omega.inverse(np.array([1.0, 1.5, 1.0])))
            assert np.all(t2 <= 1.0) and np.all(t2 >= 1.0 - 1e-14), (factor, t2)
        finally:
            _Jump.factor = 1.0
    # eta = 2 is reached everywhere: the candidate stands
    _Jump.factor = 1000.0
    try:
        assert omega.inverse(2.0) == 2000.0
    finally:
        _Jump.factor = 1.0


# --- Holder: safe-side margins where the result underflows or cancels -----------------


@pytest.mark.parametrize(
    ("constant", "exponent", "lo", "hi"),
    [
        # t ** 1.55 is subnormal (few significant bits), then scaled up by 1e300
        (1e300, 1.55, 1e-206, 1e-199),
        # the product c * t ** 2 is subnormal or underflows to 0
        (1e-10, 2.0, 1e-162, 1e-146),
        (0.5, 2.0, 1e-163, 1e-160),
        # t ** 0.3 fine, the product with a tiny constant subnormal
        (1e-300, 0.3, 1e-100, 1e-70),
    ],
)
def test_holder_value_is_rounded_up_where_it_loses_precision(
    constant: float, exponent: float, lo: float, hi: float
) -> None:
    omega = ib.Holder(constant, exponent)
    t = np.geomspace(lo, hi, 301)
    v = np.asarray(omega(t))
    c, a = exact(constant), exact(exponent)
    for ti, vi in zip(t.tolist(), v.tolist(), strict=True):
        e = c * exact(ti) ** a
        assert exact(vi) >= e, (constant, exponent, ti, vi, e)
        # and not absurdly far above: an absolute allowance of a few subnormals, scaled by c
        assert exact(vi) <= e * (1 + mpmath.mpf(1e-13)) + 64 * exact(TINIEST) * (c + 1), (ti, vi, e)


def test_holder_log_inverse_is_rounded_down_at_the_unit_radius() -> None:
    # constant 1 and eta 1: both logs are exactly 0, and so is the exact answer
    for exponent in (0.5, 0.3, 2.0):
        got = ib.Holder(1.0, exponent).log_inverse(1.0)
        assert got <= 0.0 and got >= -1e-290


def test_holder_log_inverse_is_rounded_down_for_extreme_constants() -> None:
    # eta = 1: log(eta) = 0 and the answer is -log(c) / exponent, rounded down
    for exponent in (0.3, 0.7, 3.0):
        cs = np.geomspace(1e-300, 1e300, 121)
        omega_logs = [ib.Holder(float(c), exponent).log_inverse(1.0) for c in cs]
        for c, got in zip(cs.tolist(), omega_logs, strict=True):
            want = -mpmath.log(exact(c)) / exact(exponent)
            assert exact(got) <= want, (c, exponent, got)
            assert exact(got) >= want - (1 + abs(want)) * mpmath.mpf(1e-12), (c, exponent, got)


@pytest.mark.parametrize("constant", [1e300, 1e-300, 3e150])
def test_holder_log_inverse_is_rounded_down_where_the_logs_cancel(constant: float) -> None:
    # eta close to the constant: log(eta) - log(c) cancels, and the rounding of each
    # log (an ulp of ~690) divided by a tiny exponent dominates the small answer
    exponent = 1e-3
    omega = ib.Holder(constant, exponent)
    eta = constant * (1.0 + np.arange(1, 61) * 1e-7)
    got = np.asarray(omega.log_inverse(eta))
    for ei, gi in zip(eta.tolist(), got.tolist(), strict=True):
        want = (mpmath.log(exact(ei)) - mpmath.log(exact(constant))) / exact(exponent)
        assert exact(gi) <= want, (ei, gi, want)
        # within the error of the logs, magnified by 1 / exponent
        assert exact(gi) >= want - mpmath.mpf(1e-8), (ei, gi, want)


@pytest.mark.parametrize("exponent", [1e300, 3e299])
def test_holder_log_inverse_is_rounded_down_where_the_answer_is_subnormal(exponent: float) -> None:
    # log(eta) / exponent ~ 1e-316: the relative margin underflows, an absolute one must remain
    omega = ib.Holder(1.0, exponent)
    eta = 1.0 + np.arange(1, 41) * EPS
    got = np.asarray(omega.log_inverse(eta))
    for ei, gi in zip(eta.tolist(), got.tolist(), strict=True):
        want = mpmath.log(exact(ei)) / exact(exponent)
        assert exact(gi) <= want, (ei, gi, want)
        assert exact(gi) >= want - mpmath.mpf(1e-299)


def test_holder_inverse_with_a_tiny_exponent_stays_usable() -> None:
    # omega(t) = t ** 1e-15 is flat near 1: the inverse is hugely ill-conditioned, but a
    # positive certified radius exists and must not collapse to 0
    for exponent, k in ((1e-15, 5), (1e-15, 64), (3e-15, 64), (1e-14, 1000)):
        omega = ib.Holder(1.0, exponent)
        eta = 1.0 + k * EPS
        t = omega.inverse(eta)
        want = exact(eta) ** (1 / exact(exponent))
        assert omega(t) <= eta
        assert exact(t) <= want
        assert exact(t) >= want / 100, (exponent, k, t, want)


# --- piecewise: concavity up to rounding, extrapolation, tight inverses ---------------


def test_is_concave_tolerates_rounding_of_a_steep_straight_line() -> None:
    # 3 * r in floats: the computed slopes differ in the last bits (one of them is
    # 1000.0000000000002), which is rounding, not convexity
    r = np.array([0.0, 0.1, 0.2, 0.3])
    steep = ib.PiecewiseLinear(r, 1000.0 * r, extrapolate=True)
    slopes = np.diff(steep.values) / np.diff(steep.radii)
    assert np.diff(slopes).max() > 0  # (the rounding this test is about)
    assert steep.is_concave
    assert ib.PiecewiseLinear([0, 1, 2, 3], [0, 2, 4, 6], extrapolate=True).is_concave
    assert ib.PiecewiseLinear([0, 1, 2, 3], [0, 5, 6, 7], extrapolate=True).is_concave


def test_is_concave_rejects_a_slight_convexity_after_a_steep_start() -> None:
    # slopes 1e6, 1, 1 + 1e-10: the last kink bends up by 1e-10, far beyond rounding of
    # slopes near 1 (the steep first piece must not widen the tolerance there)
    omega = ib.PiecewiseLinear(
        [0.0, 1e-6, 1.0 + 1e-6, 2.0 + 1e-6], [0.0, 1.0, 2.0, 3.0 + 1e-10], extrapolate=True
    )
    assert not omega.is_concave
    slightly = ib.PiecewiseLinear([0.0, 1.0, 2.0], [0.0, 1.0, 2.0 + 1e-12], extrapolate=True)
    assert not slightly.is_concave


def test_flat_extrapolation_keeps_the_last_value() -> None:
    omega = ib.PiecewiseLinear([0.0, 1.0, 2.0, 3.0], [0.0, 1.0, 2.0, 2.0], extrapolate=True)
    np.testing.assert_array_equal(omega(np.array([3.0, 3.5, 10.0, 1e300, math.inf])), [2.0] * 5)
    assert omega.inverse(2.0) == math.inf
    step = ib.PiecewiseLinear(
        [0.0, 1.0, 2.0, 3.0], [0.0, 1.0, 2.0, 2.0], interpolation="step", extrapolate=True
    )
    assert step(7.0) == 2.0 and step(2.5) == 2.0 and step(1.5) == 2.0


def test_piecewise_inverse_is_tight_on_a_segment_far_from_zero() -> None:
    # a short segment at large radii: the inverse's step back is relative to the
    # segment's length, not to the radius
    omega = ib.PiecewiseLinear([0.0, 1000.0, 1001.0], [0.0, 100.0, 101.0])
    for eta, want in ((100.5, 1000.5), (100.25, 1000.25), (100.999, 1000.999)):
        t = omega.inverse(eta)
        assert omega(t) <= eta
        w = exact(1000) + (exact(eta) - 100)
        assert exact(t) <= w
        assert exact(t) >= w * (1 - mpmath.mpf(1e-14)), (eta, t, want)


@pytest.mark.parametrize("interpolation", ["linear", "step"])
def test_extrapolated_inverse_is_tight_beyond_the_last_radius(interpolation: str) -> None:
    r = [0.0, 0.5, 1.25, 2.0]
    v = [0.0, 1.0, 4.0, 7.0]
    omega = ib.PiecewiseLinear(r, v, interpolation=interpolation, extrapolate=True)
    slope = (exact(7.0) - exact(4.0)) / (exact(2.0) - exact(1.25))
    # exact at the last knot
    assert omega.inverse(7.0) == 2.0
    for eta in (7.0, 7.5, 10.0, 1e3, 1e10):
        t = omega.inverse(eta)
        want = exact(2.0) + (exact(eta) - 7) / slope
        assert omega(t) <= eta
        assert want * (1 - mpmath.mpf(1e-13)) <= exact(t) <= want, (eta, t, want)
    # a large value offset with a shallow tail: the step back is in units of eta / slope
    big = ib.PiecewiseLinear([0.0, 1.0, 2.0], [0.0, 1e6, 1e6 + 1], extrapolate=True)
    assert big.inverse(1e6 + 1) == 2.0


# --- concave majorant: above, concave, and least on the knots ---------------------------


def _corners(omega: ib.PiecewiseLinear) -> list[tuple[Fraction, Fraction]]:
    """The upper corners of omega on [0, radii[-1]], exactly."""
    r = [Fraction(float(x)) for x in omega.radii]
    v = [Fraction(float(x)) for x in omega.values]
    if omega.interpolation == "step":
        pts = [(Fraction(0), v[0]), *zip(r[:-1], v[1:], strict=True), (r[-1], v[-1])]
    else:
        pts = ([(Fraction(0), v[0])] if r[0] > 0 else []) + list(zip(r, v, strict=True))
    return pts


def _least_concave_majorant(omega: ib.PiecewiseLinear, t: Fraction) -> Fraction:
    """The least concave function above omega (and its ray, if extrapolated) at t, exactly."""
    pts = _corners(omega)
    best = max(vi for ti, vi in pts if ti == t) if any(ti == t for ti, _ in pts) else Fraction(-1)
    for ti, vi in pts:
        for tj, vj in pts:
            if ti < t < tj:
                best = max(best, vi + (vj - vi) * (t - ti) / (tj - ti))
    if omega.extrapolate:
        r = [Fraction(float(x)) for x in omega.radii]
        v = [Fraction(float(x)) for x in omega.values]
        s = (v[-1] - v[-2]) / (r[-1] - r[-2])
        for ti, vi in pts:
            if ti <= t:
                best = max(best, vi + s * (t - ti))
    return best


def _check_least_majorant(omega: ib.PiecewiseLinear) -> None:
    maj = omega.concave_majorant()
    assert maj.interpolation == "linear" and maj.extrapolate == omega.extrapolate
    assert maj.failure_prob == omega.failure_prob
    # concave: slopes do not increase (up to the 16-ulp raise of the knots)
    slopes = np.diff(maj.values) / np.diff(maj.radii)
    assert np.all(np.diff(slopes) <= 1e-12 * (1 + np.abs(slopes[:-1])))
    # every knot of the majorant, and every corner of omega: above omega, and no
    # more than the raise above the least concave majorant
    ts = sorted({Fraction(float(x)) for x in maj.radii} | {ti for ti, _ in _corners(omega)})
    if omega.extrapolate:
        ts += [Fraction(float(omega.radii[-1])) * 3 + 1]
    for t in ts:
        lcm = _least_concave_majorant(omega, t)
        m = Fraction(float(maj(float(t))))
        w = float(omega(float(t)))
        assert m >= Fraction(w), (omega, t)
        raised = lcm * (1 + Fraction(64) * Fraction(EPS)) + Fraction(TINIEST)
        assert m <= raised, (omega, float(t), float(m), float(lcm))


@pytest.mark.parametrize(
    "omega",
    [
        ib.PiecewiseLinear([0.0, 1.0, 2.0, 3.0, 4.0], [0.0, 2.0, 2.5, 2.6, 4.0], extrapolate=True),
        ib.PiecewiseLinear([0.0, 1.0, 2.0, 3.0, 4.0], [0.0, 2.0, 2.5, 2.6, 4.0]),
        ib.PiecewiseLinear([0.5, 1.0, 1.5, 3.0], [0.5, 0.6, 1.5, 1.7], extrapolate=True),
        ib.PiecewiseLinear([0.0, 1.0, 2.0, 3.0, 5.0], [0.0, 3.0, 4.0, 4.5, 4.6], extrapolate=True),
        ib.PiecewiseLinear([0.0, 1.0, 2.0, 4.0], [1.0, 1.5, 3.5, 4.0], interpolation="step"),
        ib.PiecewiseLinear(
            [0.25, 1.0, 2.0, 4.0], [1.0, 1.5, 3.5, 4.0], interpolation="step", extrapolate=True
        ),
        ib.PiecewiseLinear([0.0, 1.0, 2.0], [0.0, 1.0, 2.0], extrapolate=True),
        ib.PiecewiseLinear([0.0, 2.0], [0.5, 1.0], interpolation="step", extrapolate=True),
    ],
    ids=repr,
)
def test_majorant_is_the_least_on_known_cases(omega: ib.PiecewiseLinear) -> None:
    _check_least_majorant(omega)


@st.composite
def _piecewise(draw: st.DrawFn) -> ib.PiecewiseLinear:
    n = draw(st.integers(1, 6))
    start = draw(st.sampled_from([0.0, 0.25, 1.0]))
    steps = draw(st.lists(st.sampled_from([0.25, 0.5, 1.0, 1.5, 3.0]), min_size=n - 1, max_size=n - 1))
    values = draw(st.lists(st.sampled_from([0.0, 0.5, 1.0, 1.25, 2.0, 3.0, 7.0]), min_size=n, max_size=n))
    return ib.PiecewiseLinear(
        np.concatenate([[start], start + np.cumsum(steps)]),
        values,
        interpolation=draw(st.sampled_from(["linear", "step"])),
        extrapolate=n >= 2 and draw(st.booleans()),
    )


@settings(max_examples=120, deadline=None, database=None)
@given(_piecewise())
def test_majorant_is_the_least(omega: ib.PiecewiseLinear) -> None:
    _check_least_majorant(omega)


@pytest.mark.parametrize(
    "omega",
    [
        ib.Identity(),
        ib.Affine(2.0, 0.5),
        ib.Lipschitz(2.0),
        ib.Holder(3.0, 0.5),
        ib.PiecewiseLinear([0.0, 1.0, 2.0], [0.0, 1.0, 5.0]),
        ib.PiecewiseLinear([0.0, 1.0], [0.0, 3.0], extrapolate=True),
        ib.Composition(ib.Lipschitz(3.0), ib.Holder(1.0, 0.5)),
    ],
    ids=repr,
)
def test_the_inverse_of_infinity_is_infinity(omega: ib.Modulus) -> None:
    # omega(t) <= inf for every radius, so sup{t : omega(t) <= inf} = inf; Affine's
    # candidate (inf - a) / s - c * inf / s is NaN and was certified to 0
    assert omega.inverse(math.inf) == math.inf
    assert np.all(omega.inverse(np.array([1.0, math.inf]))[1:] == math.inf)


def test_an_image_bound_through_a_lipschitz_modulus_reaches_one_at_infinity() -> None:
    image = ib.IsoperimetricBound([0.5, 0.5]).through(ib.Lipschitz(2.0))
    assert image.cdf(math.inf) == 1.0
    assert image.sf(math.inf) == 0.0
    assert image.logsf(math.inf) == -math.inf
