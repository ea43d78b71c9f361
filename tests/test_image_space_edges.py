"""ImageSpaceBound at its edges: what the mutation run of ``ImageSpaceBound`` left open.

The end-to-end and step-by-step tests in ``test_image_space.py`` check the
roundings in the bulk; these check the places where a branch or a bound of a
range decides the answer: the constructor's type check, comparison by value,
quantile levels at exactly 0 and 1 and just outside [0, 1], the clip of ``sf``
at 1, the log of ``cdf`` with a failure probability (rounded down, and only
by a few ulps), the underflowed-radius path of ``logcdf`` for arrays, for the
degenerate latent and for counts beyond the float range, the ``diameter``
argument of ``mean``, an infinite mean, and the quadrature (its breakpoints,
and its fallback when the requested accuracy is out of reach).  Exact values
come from the 50-digit twin ``isobound.reference``.
"""

from __future__ import annotations

import math
from typing import Any

import mpmath
import numpy as np
import pytest
import scipy.special as sc

import isobound as ib
from isobound import reference as ref

mpmath.mp.dps = 50
P3 = [0.5, 0.3, 0.2]
FAIL = 0.03


def mp(x: float) -> Any:
    return mpmath.mpf(float(x))


# --- construction and comparison ----------------------------------------------------------


@pytest.mark.parametrize("bad", [0.5, None, [0.5, 0.5], ib.Lipschitz(2.0)])
def test_a_latent_of_the_wrong_type_is_refused_by_name(bad: Any) -> None:
    # a modulus in the latent's place is the likely slip (the arguments swapped)
    with pytest.raises(TypeError, match=r"^latent must be an IsoperimetricBound, got latent=") as info:
        ib.ImageSpaceBound(bad, ib.Lipschitz(1.0))
    assert isinstance(info.value, ValueError)  # the package's ArgumentTypeError is both


def test_equality_is_by_value_and_by_exact_type() -> None:
    a = ib.IsoperimetricBound(P3).through(ib.Lipschitz(2.0))
    b = ib.IsoperimetricBound(list(P3)).through(ib.Lipschitz(2.0))
    assert a is not b and a == b and not (a != b) and hash(a) == hash(b)
    # one part differs: not equal (each part on its own, so that both are compared)
    assert a != ib.IsoperimetricBound(P3).through(ib.Lipschitz(3.0))
    assert a != ib.IsoperimetricBound([0.6, 0.4]).through(ib.Lipschitz(2.0))
    assert a != ib.IsoperimetricBound([0.6, 0.4]).through(ib.Lipschitz(3.0))
    # other objects: the comparison is declined, not attempted
    assert a.__eq__(3.0) is NotImplemented and a != 3.0 and a != "a"
    assert a.__eq__(ib.IsoperimetricBound(P3)) is NotImplemented

    class Sub(ib.ImageSpaceBound):
        __slots__ = ()

    s = Sub(ib.IsoperimetricBound(P3), ib.Lipschitz(2.0))
    assert a.__eq__(s) is NotImplemented and a != s and s != a
    assert s == Sub(ib.IsoperimetricBound(P3), ib.Lipschitz(2.0))


# --- cdf, sf and their logs ---------------------------------------------------------------


def test_sf_with_a_failure_probability_is_clipped_at_one() -> None:
    # below omega(0) the latent sf is 1 and sf = min(1 + delta + ..., 1)
    for omega in (ib.Holder(2.0, 0.5, failure_prob=FAIL), ib.Affine(1.7, 0.3, failure_prob=FAIL)):
        img = ib.IsoperimetricBound(P3).through(omega)
        got = img.sf(np.array([-1.0, 0.0, 1e-300, omega.at_zero]))
        np.testing.assert_array_equal(got, 1.0)
        assert img.sf(1e-3) <= 1.0 and img.logsf(0.0) == 0.0
    degenerate = ib.IsoperimetricBound([1.0]).through(ib.Lipschitz(1.0, failure_prob=FAIL))
    assert degenerate.sf(5.0) == 1.0


def test_logcdf_with_a_failure_probability_is_the_log_of_cdf_rounded_down() -> None:
    # log(cdf) stepped down by a few ulps of itself: below the exact log, and not far below
    img = ib.IsoperimetricBound(P3).through(ib.Holder(2.0, 0.5, failure_prob=FAIL))
    eta = np.array([0.6, 1.0, 2.0, 4.0, 9.0])
    got = img.logcdf(eta)
    c = img.cdf(eta)
    assert np.all(c > 0)
    for g, ci in zip(got.tolist(), c.tolist(), strict=True):
        exact = mpmath.log(mp(ci))
        assert mp(g) <= exact
        assert mp(g) >= exact * (1 + mpmath.mpf(2.0**-48)), (g, exact)
    assert isinstance(img.logcdf(1.0), float) and img.logcdf(1.0) <= math.log(img.cdf(1.0))
    assert img.logcdf(0.0) == -math.inf  # cdf 0


def test_logcdf_at_an_underflowed_radius_in_an_array() -> None:
    # a square-root modulus: eta = 1e-200 has a latent radius 1e-400 (0 in floats), eta = 0.5
    # does not; each entry is taken in its own way, the underflowed one through log eps
    omega = ib.Holder(1.0, 0.5)
    img = ib.IsoperimetricBound(P3).through(omega)
    exact_omega = ref.ExactModulus(omega)
    eta = [1e-200, 1e-120, 0.5, 0.0]
    got = img.logcdf(np.array(eta))
    assert got.shape == (4,) and got[3] == -math.inf
    for e, g in zip(eta[:3], got[:3].tolist(), strict=True):
        exact = ref.logcdf(e, P3, omega_inverse=exact_omega.inverse)
        assert mp(g) <= exact
        assert mp(g) >= exact * (1 + mpmath.mpf(1e-13)), (e, g, exact)


def test_logcdf_of_the_degenerate_latent_is_minus_inf_everywhere() -> None:
    # one class of probability 1: R* = inf, B = 0, so every log cdf is -inf, also where
    # the latent radius underflows (B'(0) = 0 there: log B'(0) = -inf, not +inf)
    img = ib.IsoperimetricBound([1.0]).through(ib.Holder(1.0, 0.5))
    eta = np.array([1e-200, 1e-3, 1.0, 1e300])
    np.testing.assert_array_equal(img.cdf(eta), 0.0)
    np.testing.assert_array_equal(img.logcdf(eta), -math.inf)
    assert img.logcdf(1e-200) == -math.inf


def test_logcdf_at_an_underflowed_radius_with_counts_beyond_the_float_range() -> None:
    # K = 10**400 equiprobable classes: the count is inf as a float; whatever the bound
    # makes of B'(0) then, log cdf must stay at or below the exact log B(1e-400)
    img = ib.IsoperimetricBound.equiprobable(10**400).through(ib.Holder(1.0, 0.5))
    got = img.logcdf(1e-200)
    tiny = mpmath.mpf(10) ** -400
    exact = ref.logcdf(tiny, [tiny], counts=[10**400], dps=20)
    assert -1000 < exact < -900
    assert mp(got) <= exact
    # and it is finite and close: B'(0) is taken from the log counts, not log(inf)
    assert math.isfinite(got) and abs(mp(got) / exact - 1) < 1e-10


# --- quantiles at the ends of [0, 1] --------------------------------------------------------


@pytest.fixture(scope="module")
def estimated() -> tuple[ib.ImageSpaceBound, ref.ExactModulus]:
    omega = ib.Holder(2.0, 0.5, failure_prob=FAIL)
    return ib.IsoperimetricBound(P3).through(omega), ref.ExactModulus(omega)


def test_ppf_at_level_zero_takes_the_failure_probability(estimated: Any) -> None:
    # the 0-quantile is bounded by omega(B^-1(delta)), not by omega(0)
    img, exact = estimated
    want = exact.value(ref.ppf(FAIL, P3))
    for got in (img.ppf(0.0), img.ppf(np.array([0.0, 0.5]))[0]):
        assert mp(got) >= want
        assert mp(got) <= want * (1 + mpmath.mpf(1e-11))
    assert img.ppf(1.0) == math.inf and img.ppf(1.0 - FAIL) == math.inf


def test_isf_at_level_one_takes_the_failure_probability(estimated: Any) -> None:
    # P(r > t) <= 1 holds for every t >= 0; the bound is omega(B^-1 at 1 - delta)
    img, exact = estimated
    want = exact.value(ref.isf(1 - mp(FAIL), P3))
    for got in (img.isf(1.0), img.isf(np.array([1.0, 0.5]))[0]):
        assert mp(got) >= want
        assert mp(got) <= want * (1 + mpmath.mpf(1e-11))
    # at or below delta no radius is exceeded that rarely: inf
    np.testing.assert_array_equal(img.isf(np.array([0.0, FAIL / 2, FAIL])), math.inf)
    assert img.isf(0.0) == math.inf


@pytest.mark.parametrize("fail", [0.0, FAIL])
def test_quantile_levels_outside_the_unit_interval_give_nan(fail: float) -> None:
    # just above 1 (within delta of it, so that a shifted level would still be a level)
    img = ib.IsoperimetricBound(P3).through(ib.Holder(2.0, 0.5, failure_prob=fail))
    bad = np.array([-0.5, -1e-300, np.nextafter(1.0, 2.0), 1.01, 1.5, np.nan])
    assert np.all(np.isnan(img.ppf(bad))) and np.all(np.isnan(img.isf(bad)))
    assert math.isnan(img.ppf(1.5)) and math.isnan(img.isf(1.01)) and math.isnan(img.isf(-0.1))


# --- the mean -------------------------------------------------------------------------------


def test_mean_with_a_failure_probability_needs_a_diameter() -> None:
    img = ib.IsoperimetricBound(P3).through(ib.Holder(2.0, 0.5, failure_prob=FAIL))
    with pytest.raises(ValueError, match=r"may fail with probability 0\.03; pass diameter="):
        img.mean()
    with pytest.raises(ValueError, match="diameter"):
        img.mean(diameter=-1.0)
    # an unbounded data space: a valid (infinite) answer, not an error
    assert img.mean(diameter=math.inf) == math.inf
    exact = ref.mean(P3, omega=ref.ExactModulus(img.omega).value, dps=25) + mp(FAIL) * 10
    got = img.mean(diameter=10.0)
    assert mp(got) >= exact and mp(got) <= exact * (1 + mpmath.mpf(1e-12))


def test_mean_through_a_bounded_range_modulus_is_infinite() -> None:
    # without extrapolation omega is inf beyond its last radius, which R* passes with
    # positive probability: E omega(R*) = inf, and the quadrature must not be tried
    omega = ib.PiecewiseLinear([0.2, 0.5, 1.0], [0.1, 0.4, 1.3])
    assert ib.IsoperimetricBound(P3).through(omega).mean() == math.inf
    step = ib.PiecewiseLinear([0.3, 2.0], [0.5, 1.0], interpolation="step")
    assert ib.IsoperimetricBound([0.9, 0.1]).through(step).mean() == math.inf


def test_mean_by_quadrature_of_a_linear_modulus_has_the_closed_form() -> None:
    # omega(t) = 2t, but as a piecewise-linear modulus (so by quadrature): 2 E R*
    omega = ib.PiecewiseLinear([0.0, 1.0], [0.0, 2.0], extrapolate=True)
    for probs in (P3, [0.9, 0.1]):
        got = ib.IsoperimetricBound(probs).through(omega).mean()
        exact = 2 * ref.mean(probs)
        assert mp(got) >= exact
        assert mp(got) <= exact * (1 + mpmath.mpf(1e-12))


@pytest.mark.parametrize(
    ("radii", "values"),
    [([0.3, 0.7, 1.5], [0.2, 0.9, 2.0]), ([0.05, 0.45, 0.8, 0.95], [0.1, 0.3, 1.5, 3.0])],
)
def test_mean_through_jumps_below_one(radii: list[float], values: list[float]) -> None:
    # a step modulus whose jumps lie in (0, 1]: the quadrature is split at each of them
    omega = ib.PiecewiseLinear(radii, values, interpolation="step", extrapolate=True)
    got = ib.IsoperimetricBound(P3).through(omega).mean()
    exact = ref.mean(P3, omega=ref.ExactModulus(omega).value, points=radii, dps=25)
    assert mp(got) >= exact
    assert mp(got) <= exact * (1 + mpmath.mpf(1e-12))


class Stairs(ib.Modulus):
    """omega(t) = ceil(n t) / n: a staircase of jumps it does not announce.

    The quadrature at the requested 1e-13 fails on it, so ``mean`` takes its
    fallback (a looser tolerance, the error estimate widened tenfold).
    """

    __slots__ = ("_n",)
    _n: float

    def __init__(self, n: int) -> None:
        super().__init__()
        self._set("_n", float(n))

    @property
    def is_concave(self) -> bool:
        return False

    def _value(self, t: np.ndarray) -> np.ndarray:
        out: np.ndarray = np.ceil(t * self._n) / self._n
        return out

    def _inverse(self, eta: np.ndarray) -> np.ndarray:
        out: np.ndarray = np.floor(eta * self._n) / self._n
        return out

    def _params(self) -> dict[str, Any]:
        return {"n": self._n}


def test_mean_by_the_fallback_quadrature_is_still_an_upper_bound() -> None:
    # E ceil(n R*)/n = (1/n) sum_{k >= 0} P(R* > k/n), P(R* > e) = sum_i c_i Phi(b_i - e).
    # At n = 300 the fallback's own error estimate is too small (value + err is below the
    # exact mean by about 5e-5): only its tenfold widening keeps the bound safe.  The sum
    # in floats (to ~1e-15, far below what matters here; each class of P3 has count 1) stops at k = 9n, past which the
    # terms add less than 1e-17.
    n = 300
    b = np.array([float(x) for x in ref.thresholds(P3, dps=20)])
    k = np.arange(9 * n, dtype=np.float64)[:, None] / n
    exact = mp(math.fsum(sc.ndtr(b - k).ravel().tolist())) / n
    got = ib.IsoperimetricBound(P3).through(Stairs(n)).mean()  # no warning escapes
    assert mp(got) >= exact
    assert mp(got) <= exact * (1 + mpmath.mpf(1e-2))


FLAT = ib.PiecewiseLinear([0.5, 1.0, 2.0], [0.5, 1.0, 1.0], extrapolate=True)


@pytest.mark.parametrize("omega", [ib.Holder(1.0, 0.5), FLAT, Stairs(10)], ids=repr)
def test_mean_of_the_degenerate_latent_is_infinite(omega: ib.Modulus) -> None:
    # one class of probability 1: no latent perturbation changes the class (R* = inf a.s.),
    # so nothing bounds robustness, not even a bounded modulus' omega(inf) = 1
    assert ib.IsoperimetricBound([1.0]).through(omega).mean() == math.inf


@pytest.mark.parametrize("omega", [ib.Holder(1.0, 0.5), FLAT, Stairs(10)], ids=repr)
def test_quantiles_of_the_degenerate_latent_are_infinite(omega: ib.Modulus) -> None:
    # r <= omega(R*) needs a differently classified latent point at distance R*; with one
    # class there is none, so a bounded modulus' omega(inf) = 1 is no bound on r at all
    img = ib.IsoperimetricBound([1.0]).through(omega)
    # (level 0 is left out: any number bounds a 0-quantile from above)
    q = np.array([1e-300, 0.1, 0.5, 1.0])
    np.testing.assert_array_equal(img.ppf(q), math.inf)
    np.testing.assert_array_equal(img.isf(1.0 - q[1:-1]), math.inf)
    assert img.isf(0.0) == math.inf
    assert img.median() == math.inf


def test_bounded_modulus_top_quantile_of_a_real_latent_is_omega_at_infinity() -> None:
    # with two or more classes R* is finite almost surely, so omega(inf) does bound r
    img = ib.IsoperimetricBound(P3).through(FLAT)
    assert img.ppf(1.0) == 1.0 and img.isf(0.0) == 1.0


@pytest.mark.parametrize("eta", [1e6, 1e8, 1e150, math.inf])
def test_logsf_with_a_failure_probability_keeps_its_floor_deep_in_the_tail(eta: float) -> None:
    # sf -> delta as eta grows: log sf must tend to log delta, not jump to 0 once the
    # latent log sf is large (the rounding of v - log delta is damped by e^(v - lse))
    img = ib.IsoperimetricBound(P3).through(ib.Identity(failure_prob=FAIL))
    got = img.logsf(eta)
    assert math.log(FAIL) <= got <= math.log(FAIL) * (1 - 1e-12)
    assert got >= math.log(img.sf(eta)) - 1e-15


def test_logsf_with_a_failure_probability_against_the_exact_sum() -> None:
    img = ib.IsoperimetricBound(P3).through(ib.Identity(failure_prob=FAIL))
    for eta in [0.01, 0.5, 2.0, 6.0, 30.0]:
        # sf is clipped at 1, its log at 0
        exact = min(mpmath.log(mpmath.exp(ref.logsf(eta, P3)) + mp(FAIL)), 0)
        got = mp(img.logsf(eta))
        assert exact <= got <= exact + abs(exact) * mpmath.mpf(2.0**-40), eta


def test_mean_through_a_modulus_with_thousands_of_breakpoints() -> None:
    # quad's subinterval limit must exceed the number of break points it is given
    radii = np.linspace(0.001, 6.0, 3000)
    omega = ib.PiecewiseLinear(radii, 2.0 * radii, extrapolate=True)
    got = ib.IsoperimetricBound(P3).through(omega).mean()
    exact = 2 * ref.mean(P3)
    # (it used to raise scipy's "The input is invalid"; the fallback quadrature is looser)
    assert exact <= mp(got) <= exact * (1 + mpmath.mpf(1e-5))
