"""Moduli on the safe side: values rounded up, inverses certified, majorants above.

Every float result is compared with the exact (real-arithmetic) modulus of
the same float parameters, ``isobound.reference.ExactModulus``, evaluated in
mpmath: ``omega(t)`` must be at least the exact value and ``omega.inverse``
at most the exact generalised inverse, each within a small relative
distance (so that a margin grown a hundredfold or an inverse collapsed to 0
fails too).
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import isobound as ib
from isobound import reference as ref
from isobound._moduli import UNIFORM_PRIOR_SLOPE
from isobound.testing import moduli, radii

mpmath.mp.dps = 40
EPS = 2.0**-52

STEP = ib.PiecewiseLinear([0.0, 0.5, 1.0, 3.0], [0.1, 0.4, 1.3, 2.0], interpolation="step")
MODULI = {
    "identity": ib.Identity(),
    "lipschitz": ib.Lipschitz(2.5),
    "lipschitz-odd": ib.Lipschitz(0.1),
    "affine": ib.Affine(1.7, 0.3),
    "holder": ib.Holder(2.0, 0.5),
    "holder-steep": ib.Holder(0.3, 1.9),
    "holder-flat": ib.Holder(1.1, 0.02),
    "linear": ib.PiecewiseLinear([0.2, 0.5, 1.0, 3.0], [0.1, 0.4, 1.3, 2.0]),
    "linear-extrapolated": ib.PiecewiseLinear([0.0, 0.7, 1.9], [0.0, 0.3, 1.1], extrapolate=True),
    "step": STEP,
    "step-extrapolated": ib.PiecewiseLinear(
        [0.3, 0.9, 2.0], [0.2, 0.7, 1.1], interpolation="step", extrapolate=True
    ),
    "uniform-prior": ib.UniformPrior(ib.Lipschitz(3.0)),
    "composition": ib.Composition(ib.Holder(1.3, 0.5), ib.Affine(2.0, 0.1)),
    "composition-step": ib.Composition(STEP, ib.Lipschitz(0.7)),
}


def sample_points(omega: ib.Modulus, n: int, seed: int) -> np.ndarray:
    """Radii spread over magnitudes, plus the knots of a piecewise modulus and their neighbours."""
    rng = np.random.default_rng(seed)
    t = np.concatenate([10.0 ** rng.uniform(-6, 1.5, n), rng.uniform(0, 4, n)])
    knots = getattr(omega, "radii", None)
    if knots is not None:
        t = np.concatenate([t, knots, np.nextafter(knots, 0), np.nextafter(knots, 10)])
    return t[t >= 0]


@pytest.mark.parametrize("name", sorted(MODULI))
def test_value_is_rounded_up_and_tight(name: str) -> None:
    omega = MODULI[name]
    exact = ref.ExactModulus(omega)
    t = sample_points(omega, 150, 1)
    v = np.asarray(omega(t))
    for ti, vi in zip(t.tolist(), v.tolist(), strict=True):
        e = exact.value(ti)
        assert mpmath.mpf(vi) >= e, (name, ti, vi, e)
        if mpmath.isfinite(e) and e > 1e-300:  # (subnormal results carry an absolute margin)
            assert mpmath.mpf(vi) <= e * (1 + mpmath.mpf(1e-13)), (name, ti)
    if not isinstance(omega, ib.Composition):
        # exact where the computation is: at 0, and at the knots of a piecewise modulus
        assert omega(0.0) == float(exact.value(0))
        knots = getattr(omega, "radii", np.zeros(0))
        np.testing.assert_array_equal(omega(knots), [float(exact.value(k)) for k in knots])


@pytest.mark.parametrize("name", sorted(MODULI))
def test_inverse_is_certified_and_tight(name: str) -> None:
    omega = MODULI[name]
    exact = ref.ExactModulus(omega)
    t = sample_points(omega, 150, 2)
    eta = np.concatenate([np.asarray(omega(t)), 10.0 ** np.random.default_rng(3).uniform(-5, 1, 200)])
    eta = eta[np.isfinite(eta)]
    inv = np.asarray(omega.inverse(eta))
    # the certificate itself: omega(inverse(eta)) <= eta in floating point
    ok = eta >= omega.at_zero
    assert np.all(np.asarray(omega(inv[ok])) <= eta[ok])
    # a tiny exponent amplifies the rounding of the inverse by 1/exponent
    rel = 1e-13 / min(1.0, getattr(omega, "exponent", 1.0))
    for ei, ti in zip(eta.tolist(), inv.tolist(), strict=True):
        e = exact.inverse(ei)
        assert mpmath.mpf(ti) <= e, (name, ei, ti, e)
        if not mpmath.isfinite(e):
            assert ti == math.inf
        elif ei > 1e-300:
            # close to the exact inverse, or (near a jump or an intercept, where
            # the inverse is ill-conditioned) reaching an image radius close to eta
            close = mpmath.mpf(ti) >= e * (1 - mpmath.mpf(rel))
            reaches = exact.value(ti) >= mpmath.mpf(ei) * (1 - mpmath.mpf(1e-13))
            assert close or reaches, (name, ei, ti, e)


def test_uniform_prior_slope_is_rounded_up() -> None:
    exact = mpmath.sqrt(2 / mpmath.pi)
    assert mpmath.mpf(UNIFORM_PRIOR_SLOPE) >= exact
    assert mpmath.mpf(float(np.nextafter(UNIFORM_PRIOR_SLOPE, 0))) < exact
    # so the modulus on Gaussian latents is never below omega_u(sqrt(2/pi) t)
    omega = ib.UniformPrior(ib.Lipschitz(1.0))
    for t in (0.3, 1.0, 7.0):
        assert mpmath.mpf(omega(t)) >= exact * mpmath.mpf(t)


def test_holder_log_inverse_is_rounded_down_where_the_inverse_underflows() -> None:
    omega = ib.Holder(3.0, 0.25)
    eta = np.array([1e-200, 1e-100, 1e-10, 0.5, 3.0, 40.0])
    got = np.asarray(omega.log_inverse(eta))
    for ei, gi in zip(eta.tolist(), got.tolist(), strict=True):
        exact = (mpmath.log(ei) - mpmath.log(3.0)) / mpmath.mpf(0.25)
        assert mpmath.mpf(gi) <= exact
        assert mpmath.mpf(gi) >= exact - (1 + abs(exact)) * mpmath.mpf(1e-13)
    assert omega.inverse(1e-200) == 0.0  # 1e-800 underflows; the log does not
    assert omega.log_inverse(0.0) == -math.inf and omega.log_inverse(-1.0) == -math.inf
    assert math.isnan(omega.log_inverse(math.nan))
    # the generic log of a certified inverse is rounded down too
    lip = ib.Lipschitz(3.0)
    for ei in (1e-300, 0.3, 7.0):
        assert mpmath.mpf(lip.log_inverse(ei)) <= mpmath.log(mpmath.mpf(ei) / 3)


def test_generic_log_inverse_is_rounded_down_even_where_the_inverse_is_exact() -> None:
    # the identity's inverse is exact, so only the downward step of log_inverse keeps
    # log(t) (rounded to nearest, above the exact log about half the time) below
    eta = np.geomspace(1e-300, 1e300, 997)
    got = np.asarray(ib.Identity().log_inverse(eta))
    for ei, gi in zip(eta.tolist(), got.tolist(), strict=True):
        exact = mpmath.log(mpmath.mpf(ei))
        assert mpmath.mpf(gi) <= exact, ei
        assert mpmath.mpf(gi) >= exact - (1 + abs(exact)) * mpmath.mpf(1e-15), ei


# --- the generalised inverse over every modulus and composition (issue 10.9) ---------


@settings(max_examples=300, deadline=None, database=None)
@given(moduli(), radii(max_value=200.0))
def test_omega_of_inverse_never_exceeds_eta(omega: ib.Modulus, eta: float) -> None:
    t = omega.inverse(eta)
    assert t >= 0
    if eta < omega.at_zero:
        assert t == 0.0
    else:
        assert omega(t) <= eta


@settings(max_examples=60, deadline=None, database=None)
@given(moduli(), radii(min_value=1e-6, max_value=50.0))
def test_inverse_never_exceeds_the_exact_generalised_inverse(omega: ib.Modulus, eta: float) -> None:
    assert mpmath.mpf(omega.inverse(eta)) <= ref.ExactModulus(omega).inverse(eta)


def random_piecewise(rng: np.random.Generator) -> ib.PiecewiseLinear:
    n = int(rng.integers(1, 6))
    r = np.cumsum(rng.uniform(0.01, 2.0, n))
    if rng.random() < 0.5:
        r = r - r[0]
    return ib.PiecewiseLinear(
        r,
        rng.uniform(0.0, 3.0, n),
        interpolation=str(rng.choice(["linear", "step"])),
        extrapolate=bool(n >= 2 and rng.random() < 0.5),
    )


def test_composition_inverse_at_the_jumps_of_step_parts() -> None:
    # the reviewer's setting: random piecewise parts, one case in six failed
    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(600):
        c = ib.Composition(random_piecewise(rng), random_piecewise(rng))
        eta = np.concatenate([rng.uniform(0, 4, 5), np.asarray(c.outer.values)])
        eta = eta[eta >= c.at_zero]
        t = np.asarray(c.inverse(eta))
        assert np.all(np.asarray(c(t)) <= eta)
        checked += eta.size
    assert checked > 1000


def test_composition_inverse_reproducer() -> None:
    outer = ib.PiecewiseLinear(
        [0.7085861843831675, 1.8640419828115227, 3.413654242544429],
        [0.43934476402556455, 2.577050376016059, 2.577050376016059],
        interpolation="step",
    )
    inner = ib.PiecewiseLinear(
        [1.1287481660321625, 2.548792792058747, 3.6408099178777196],
        [0.4138964557369673, 1.237980432444555, 1.237980432444555],
    )
    c = ib.Composition(outer, inner)
    eta = 0.5493575964924848
    t = c.inverse(eta)
    assert c(t) <= eta
    exact = ref.ExactModulus(c).inverse(eta)
    assert mpmath.mpf(t) <= exact and mpmath.mpf(t) >= exact * (1 - mpmath.mpf(1e-13))


def test_certification_falls_back_to_bisection() -> None:
    class Stubborn(ib.Modulus):
        """omega(t) = t, but the closed-form candidate is 1000 times too large."""

        __slots__ = ()

        @property
        def is_concave(self) -> bool:
            return True

        def _value(self, t: np.ndarray) -> np.ndarray:
            return np.array(t, dtype=np.float64)

        def _inverse(self, eta: np.ndarray) -> np.ndarray:
            return 1000.0 * eta

        def _params(self) -> dict:
            return {}

    omega = Stubborn()
    eta = np.array([1e-3, 0.5, 2.0, 1e200])
    t = np.asarray(omega.inverse(eta))
    assert np.all(t <= eta) and np.all(t >= eta * (1 - 1e-15))
    assert omega.inverse(math.inf) == math.inf


# --- concave majorant (issues 10.2 and 10.11) -----------------------------------------


def test_majorant_of_a_step_at_zero_reproducer() -> None:
    # r1: omega(0.5) = 1 but the old majorant gave 0.75 and a cdf bound of 0.468
    w = ib.PiecewiseLinear([0.0, 1.0, 2.0], [0.0, 1.0, 1.5], interpolation="step")
    m = w.concave_majorant()
    assert w(0.5) == 1.0
    assert m(0.5) >= 1.25
    b = ib.IsoperimetricBound.equiprobable(10)
    assert b.through(w).cdf(0.5) == 0.0
    assert b.through(m).cdf(0.5) == 0.0


def draw_piecewise(draw: st.DrawFn, interpolation: str) -> ib.PiecewiseLinear:
    n = draw(st.integers(1, 7))
    start = draw(st.one_of(st.just(0.0), st.floats(1e-3, 2.0)))
    steps = draw(st.lists(st.floats(1e-3, 5.0), min_size=n - 1, max_size=n - 1))
    values = draw(st.lists(st.floats(0.0, 50.0), min_size=n, max_size=n))
    extrapolate = n >= 2 and draw(st.booleans())
    fail = draw(st.sampled_from([0.0, 0.05]))
    return ib.PiecewiseLinear(
        np.concatenate([[start], start + np.cumsum(steps)]),
        values,
        interpolation=interpolation,
        extrapolate=extrapolate,
        failure_prob=fail,
    )


@st.composite
def piecewise_moduli(draw: st.DrawFn) -> ib.PiecewiseLinear:
    return draw_piecewise(draw, draw(st.sampled_from(["linear", "step"])))


@settings(max_examples=200, deadline=None, database=None)
@given(piecewise_moduli(), st.lists(st.floats(0.0, 1e6), min_size=1, max_size=20))
def test_majorant_is_above_and_concave(omega: ib.PiecewiseLinear, extra: list[float]) -> None:
    maj = omega.concave_majorant()
    knots = omega.radii
    t = np.concatenate(
        [np.linspace(0, knots[-1], 97), knots, np.nextafter(knots, 0), np.nextafter(knots, 1e9), extra]
    )
    t = t[t >= 0]
    w, m = np.asarray(omega(t)), np.asarray(maj(t))
    finite = np.isfinite(w)
    assert np.all(m[finite] >= w[finite])
    assert np.all(np.isinf(m[~finite]))
    assert maj.failure_prob == omega.failure_prob
    assert maj.interpolation == "linear" and maj.extrapolate == omega.extrapolate
    slopes = np.diff(maj.values) / np.diff(maj.radii)
    assert np.all(np.diff(slopes) <= 1e-12 * (1 + np.abs(slopes[:-1])))
    assert maj.is_concave == omega.extrapolate
    # not far above at the knots: within the 16-ulp raise of the hull
    assert maj.radii[0] == 0.0 and maj.radii[-1] >= knots[-1]


def test_majorant_is_least_on_known_cases() -> None:
    lin = ib.PiecewiseLinear([0.0, 1.0, 2.0, 3.0], [0.0, 2.0, 2.5, 5.0], extrapolate=True)
    m = lin.concave_majorant()
    # hull of (0,0), (1,2), (3,5) then the ray of slope 2.5 from (3, 5)... which is
    # steeper than the chord (1,2)-(3,5) of slope 1.5: the least concave majorant on
    # [0, inf) above a line of slope 2.5 has slope 2.5 everywhere beyond the origin
    np.testing.assert_allclose(m(np.array([0.0, 1.0, 3.0, 10.0])), [0.0, 2.5, 7.5, 25.0], rtol=1e-14)
    assert m(10.0) >= lin(10.0)
    flat_end = ib.PiecewiseLinear([0.0, 1.0, 2.0], [0.0, 3.0, 3.0], extrapolate=True)
    np.testing.assert_allclose(flat_end.concave_majorant()(np.array([0.5, 1.0, 50.0])), [1.5, 3.0, 3.0], rtol=1e-14)
    step = ib.PiecewiseLinear([0.5, 1.0], [1.0, 2.0], interpolation="step")
    # corners (0, 1), (0.5, 2), (1, 2)
    np.testing.assert_allclose(step.concave_majorant()(np.array([0.0, 0.25, 0.5, 1.0])), [1, 1.5, 2, 2], rtol=1e-14)
    single = ib.PiecewiseLinear([0.0], [0.7])
    ms = single.concave_majorant()
    assert ms.radii.tolist() == [0.0] and ms(0.0) >= 0.7 and ms(1e-9) == math.inf


def test_majorant_evaluates_above_omega_where_the_hull_runs_along_it() -> None:
    # collinear knots (exactly, or up to the rounding of measured values): the hull
    # replaces several of omega's segments by one chord along them, whose rounded
    # evaluation differs from omega's in the last bit; the 16-ulp raise of the knots
    # keeps it above (without the raise it falls 1 ulp below, e.g. at t = 0.7557...)
    cases = [
        ib.PiecewiseLinear([0.0, 0.5192134684567834, 1.4469163441308313],
                           [0.0, 0.5192134684567834, 1.4469163441308313], extrapolate=True),
        ib.PiecewiseLinear([0.0, 0.6105621926485947, 1.054639449311904, 3.246384891773893, 4.4608898201536125],
                           [0.0, 0.30528109632429734, 0.45330684854540043, 1.1838886626993967, 1.3053391555373688]),
        ib.PiecewiseLinear([0.0, 0.3, 0.7, 1.9], [0.0, 0.3, 0.7, 1.9], interpolation="step", extrapolate=True),
    ]
    for omega in cases:
        maj = omega.concave_majorant()
        t = np.concatenate([np.linspace(0.0, 2.0 * omega.radii[-1], 40001), [0.7557041212415847, 3.0542876898873055]])
        w, m = np.asarray(omega(t)), np.asarray(maj(t))
        finite = np.isfinite(w)
        assert np.all(m[finite] >= w[finite]), t[finite][m[finite] < w[finite]][:3]


def test_a_concave_modulus_is_its_own_majorant_knot_for_knot() -> None:
    # the hull keeps every measured knot on it, collinear ones included, and raises
    # each value by exactly 16 ulps (nothing else changes)
    for omega in (
        ib.PiecewiseLinear([0.0, 1.0, 2.0, 3.0], [0.0, 1.0, 2.0, 2.5]),
        ib.PiecewiseLinear([0.0, 0.5, 1.0, 4.0], [0.25, 0.75, 1.25, 2.75], extrapolate=True),
    ):
        maj = omega.concave_majorant()
        np.testing.assert_array_equal(maj.radii, omega.radii)
        np.testing.assert_array_equal(maj.values, omega.values * (1.0 + 16.0 * EPS))


def test_majorant_keeps_the_failure_probability() -> None:
    omega = ib.PiecewiseLinear(
        [0.0, 1.0, 2.0], [0.0, 1.0, 3.0], extrapolate=True, failure_prob=0.2
    )
    maj = omega.concave_majorant()
    assert maj.failure_prob == 0.2
    # it matters: the bound through the majorant gives up the same 0.2
    b = ib.IsoperimetricBound.equiprobable(10).through(maj)
    assert b.cdf(1e6) <= 0.8
    assert ib.IsoperimetricBound.equiprobable(10).through(
        ib.PiecewiseLinear(maj.radii, maj.values, extrapolate=True)
    ).cdf(1e6) > 0.99


def test_is_concave_of_piecewise_moduli() -> None:
    kw = {"radii": [0.0, 1.0, 2.0], "values": [0.0, 2.0, 3.0]}
    assert ib.PiecewiseLinear(**kw, extrapolate=True).is_concave
    assert not ib.PiecewiseLinear(**kw).is_concave  # +inf beyond the last radius
    assert not ib.PiecewiseLinear(**kw, interpolation="step", extrapolate=True).is_concave
    assert not ib.PiecewiseLinear([0, 1, 2], [0, 1, 3], extrapolate=True).is_concave
    # a first radius beyond 0 adds a flat piece from 0: concave only if all flat
    assert not ib.PiecewiseLinear([0.5, 1.0], [1.0, 2.0], extrapolate=True).is_concave
    assert ib.PiecewiseLinear([0.5, 1.0], [1.0, 1.0], extrapolate=True).is_concave


def test_theorem4_agrees_with_its_own_advice() -> None:
    p = [0.1] * 10
    measured = {"radii": [0.0, 0.3, 0.7, 1.5], "values": [0.0, 0.5, 0.7, 1.9]}
    for interpolation in ("linear", "step"):
        ext = ib.PiecewiseLinear(**measured, interpolation=interpolation, extrapolate=True)
        maj = ext.concave_majorant()
        value = ib.theorem4(p, omega=maj)
        assert math.isfinite(value)
        # omega(E R*) through the majorant is at least E omega(R*) through omega (Jensen)
        assert value >= ib.IsoperimetricBound(p).through(ext).mean()
        if not ext.is_concave:
            with pytest.raises(ValueError, match=r"concave_majorant\(\)"):
                ib.theorem4(p, omega=ext)
    plain = ib.PiecewiseLinear(**measured)
    # without extrapolation no concave majorant exists on [0, inf): the message
    # must not send the user to one that theorem4 then rejects
    with pytest.raises(ValueError, match="extrapolate=True") as info:
        ib.theorem4(p, omega=plain)
    with pytest.raises(ValueError, match="concave"):
        ib.theorem4(p, omega=plain.concave_majorant())
    assert "+inf beyond its last radius" in str(info.value)
    assert not plain.concave_majorant().is_concave


@settings(max_examples=40, deadline=None, database=None)
@given(moduli(concave=True))
def test_concave_strategy_moduli_are_accepted_by_theorem4(omega: ib.Modulus) -> None:
    assert omega.is_concave
    assert math.isfinite(ib.theorem4([0.5, 0.3, 0.2], omega=omega))


def test_piecewise_extrapolation_with_a_flat_end() -> None:
    omega = ib.PiecewiseLinear([0.0, 1.0, 2.0], [0.0, 1.0, 1.0], extrapolate=True)
    assert omega(1e300) == 1.0 and omega(math.inf) == 1.0
    assert omega.inverse(1.0) == math.inf and omega.inverse(0.5) <= 0.5
    step = ib.PiecewiseLinear([0.0, 1.0, 2.0], [0.0, 1.0, 2.0], interpolation="step", extrapolate=True)
    # beyond the last radius the step modulus continues the line through the last two pairs
    assert step(3.0) >= 3.0 and step.inverse(3.0) <= 3.0 and step.inverse(3.0) >= 3.0 * (1 - 1e-14)


@pytest.mark.parametrize(
    "name", ["lipschitz", "lipschitz-odd", "affine", "holder", "holder-steep", "holder-flat",
             "linear", "linear-extrapolated", "step-extrapolated"]
)
def test_closed_form_candidates_usually_need_no_shrinking(name: str) -> None:
    # the candidates are stepped back by the value's rounding margin, so that the
    # certificate costs one evaluation of omega for almost every radius (the
    # shrinking loop is for the rest); the tightness test above bounds the step
    omega = MODULI[name]
    rng = np.random.default_rng(4)
    eta = np.concatenate([rng.uniform(0, 5, 4000), 10.0 ** rng.uniform(-150, 150, 4000)])
    eta = eta[eta >= omega.at_zero]
    with np.errstate(all="ignore"):
        cand = np.maximum(np.nan_to_num(omega._inverse(eta), nan=0.0), 0.0)
    finite = np.isfinite(cand) & (cand > 1e-300)
    assert finite.mean() > 0.7  # (a flat Holder modulus overflows for large eta)
    failed = np.asarray(omega(cand[finite])) > eta[finite]
    assert failed.mean() < 0.01, (name, failed.mean())


def test_inverse_at_exactly_omega_of_zero_is_the_end_of_the_flat_start() -> None:
    # eta = omega(0) is in the inverse's domain: sup{t : omega(t) <= omega(0)} is where
    # omega first rises, not 0 (a strict comparison with omega(0) would return 0)
    step = ib.PiecewiseLinear([1.0, 2.0], [1.0, 2.0], interpolation="step")
    flat = ib.PiecewiseLinear([0.0, 1.0, 2.0], [0.5, 0.5, 1.0])
    assert step.at_zero == 1.0 and step.inverse(1.0) == 1.0
    assert flat.at_zero == 0.5 and flat.inverse(0.5) == 1.0
    assert ib.Composition(flat, ib.Identity()).inverse(0.5) == 1.0
    # UniformPrior(flat)(t) = flat(sqrt(2/pi) t): flat up to t = sqrt(pi/2), certified from below
    got = ib.UniformPrior(flat).inverse(0.5)
    exact = mpmath.sqrt(mpmath.pi / 2)
    assert got <= exact and got >= exact * (1 - 1e-14)
    # just below omega(0) nothing qualifies
    assert step.inverse(np.nextafter(1.0, 0.0)) == 0.0 and flat.inverse(np.nextafter(0.5, 0.0)) == 0.0
