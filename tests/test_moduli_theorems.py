"""Moduli of continuity and the paper's closed forms."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest

import isobound as ib
from isobound import (
    Affine,
    Composition,
    Holder,
    IsoperimetricBound,
    Lipschitz,
    PiecewiseLinear,
    UniformPrior,
)
from isobound import reference as ref

# --- moduli -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("factory", "match"),
    [
        (lambda: Lipschitz(-1.0), r"L must be a positive finite number, got L=-1\.0"),
        (lambda: Lipschitz(0.0), "L=0.0"),
        (lambda: Lipschitz(float("nan")), "L=nan"),
        (lambda: Lipschitz(float("inf")), "L=inf"),
        (lambda: Lipschitz("x"), "L='x'"),
        (lambda: Affine(0.0, 1.0), "slope=0.0"),
        (lambda: Affine(1.0, -0.5), r"intercept=-0\.5"),
        (lambda: Holder(-2.0, 0.5), "constant=-2.0"),
        (lambda: Holder(1.0, 0.0), "exponent=0.0"),
        (lambda: Lipschitz(1.0, failure_prob=1.0), "failure_prob=1.0"),
        (lambda: Lipschitz(1.0, failure_prob=-0.1), "failure_prob=-0.1"),
        (lambda: PiecewiseLinear([0, 1, 1], [0, 1, 2]), "strictly increasing"),
        (lambda: PiecewiseLinear([-1, 1], [0, 1]), "radii must be finite and >= 0"),
        (lambda: PiecewiseLinear([0, 1], [0, -1]), "values must be finite and >= 0"),
        (lambda: PiecewiseLinear([0, 1], [0]), "same length"),
        (lambda: PiecewiseLinear([0, 1], [0, 1], interpolation="cubic"), "interpolation='cubic'"),
        (lambda: PiecewiseLinear([1.0], [1.0], extrapolate=True), "at least two radii"),
        (lambda: UniformPrior(lambda t: t), "omega_uniform must be an isobound Modulus"),
        (lambda: Composition(Lipschitz(1), "x"), "inner must be an isobound Modulus"),
        (
            lambda: Composition(Lipschitz(1, failure_prob=0.6), Lipschitz(1, failure_prob=0.5)),
            "add up to",
        ),
    ],
)
def test_modulus_validation(factory, match):
    with pytest.raises(ValueError, match=match):
        factory()


@pytest.mark.parametrize(
    "omega",
    [
        Lipschitz(2.5),
        Affine(1.5, 0.3),
        Holder(2.0, 0.5),
        Holder(0.5, 2.0),
        PiecewiseLinear([0.0, 0.5, 1.0, 3.0], [0.1, 0.4, 1.3, 2.0]),
        PiecewiseLinear([0.2, 0.5, 1.0, 3.0], [0.1, 0.4, 1.3, 2.0], interpolation="step"),
        UniformPrior(Lipschitz(3.0)),
        Composition(Holder(1.0, 0.5), Affine(2.0, 0.1)),
    ],
)
def test_inverse_is_the_generalised_inverse(omega):
    t = np.linspace(0.0, 2.5, 200)
    w = np.asarray(omega(t))
    eta = np.linspace(0.0, 3.0, 301)
    inv = np.asarray(omega.inverse(eta))
    # omega(inverse(eta)) <= eta (up to rounding) wherever eta >= omega(0)
    ok = eta >= omega.at_zero
    assert np.all(np.asarray(omega(inv[ok])) <= eta[ok] * (1 + 1e-12) + 1e-15)
    # nothing beyond the inverse is allowed: omega(inverse + h) > eta
    beyond = np.asarray(omega(inv[ok] + 1e-6))
    assert np.all(beyond >= eta[ok] - 1e-12)
    assert np.all(np.diff(w[np.isfinite(w)]) >= 0)
    assert np.all(inv[~ok] == 0.0)
    # conventions: omega is NaN at a negative distance; every eta below omega(0),
    # negative ones included, has inverse 0; NaN stays NaN
    assert np.isnan(omega(-1.0)) and omega.inverse(-1.0) == 0.0
    assert np.isnan(omega(np.nan)) and np.isnan(omega.inverse(np.nan))


def test_piecewise_linear_running_max_and_domain():
    omega = PiecewiseLinear([0.0, 1.0, 2.0], [0.5, 0.2, 1.0])
    np.testing.assert_array_equal(omega.values, [0.5, 0.5, 1.0])
    assert omega(2.5) == np.inf
    assert omega.inverse(100.0) == 2.0
    ext = PiecewiseLinear([0.0, 1.0, 2.0], [0.0, 1.0, 1.5], extrapolate=True)
    assert ext(3.0) == pytest.approx(2.0)
    assert ext.inverse(2.0) == pytest.approx(3.0)


def test_step_interpolation_is_conservative():
    lin = PiecewiseLinear([0.0, 1.0, 2.0], [0.0, 1.0, 3.0])
    step = PiecewiseLinear([0.0, 1.0, 2.0], [0.0, 1.0, 3.0], interpolation="step")
    t = np.linspace(0, 2, 41)
    assert np.all(np.asarray(step(t)) >= np.asarray(lin(t)))
    assert step(1.5) == 3.0 and step.inverse(2.9) == 1.0


@pytest.mark.parametrize("interpolation", ["linear", "step"])
def test_concave_majorant(interpolation):
    omega = PiecewiseLinear(
        [0.1, 0.4, 0.8, 1.0, 2.0], [0.05, 0.1, 1.0, 1.1, 1.3], interpolation=interpolation
    )
    maj = omega.concave_majorant()
    t = np.linspace(0, 2.0, 401)
    assert np.all(np.asarray(maj(t)) >= np.asarray(omega(t)) - 1e-12)
    slopes = np.diff(maj.values) / np.diff(maj.radii)
    assert np.all(np.diff(slopes) <= 1e-12)
    assert maj.failure_prob == omega.failure_prob
    assert not omega.is_concave


def test_is_concave_flags():
    assert Lipschitz(1).is_concave and Affine(1, 2).is_concave
    assert Holder(1, 0.7).is_concave and not Holder(1, 1.5).is_concave
    assert PiecewiseLinear([0, 1, 2], [0, 2, 3], extrapolate=True).is_concave
    assert not PiecewiseLinear([0, 1, 2], [0, 1, 3], extrapolate=True).is_concave
    assert UniformPrior(Lipschitz(2)).is_concave


def test_uniform_prior_slope():
    omega = UniformPrior(Lipschitz(1.0))
    assert omega(1.0) == pytest.approx(math.sqrt(2 / math.pi))
    assert omega.inverse(math.sqrt(2 / math.pi)) == pytest.approx(1.0)


def test_moduli_are_immutable_with_readable_repr_and_equality():
    omega = Lipschitz(2.5, failure_prob=0.01)
    with pytest.raises(AttributeError):
        omega.x = 1  # type: ignore[attr-defined]
    assert repr(omega) == "Lipschitz(L=2.5, failure_prob=0.01)"
    assert omega == Lipschitz(2.5, failure_prob=0.01) and omega != Lipschitz(2.5)
    assert "PiecewiseLinear(radii=[0.0, 1.0]" in repr(PiecewiseLinear([0, 1], [0, 1]))
    assert hash(Lipschitz(1.0)) == hash(Lipschitz(1.0))


# --- theorems -----------------------------------------------------------------------


def test_theorem1_against_the_mpmath_twin():
    # independent expected values: Eq. (2) in 50 digits with the exact inverse eta / 2
    x = np.linspace(0.1, 3, 7)
    got = ib.theorem1(x, [0.5, 0.3, 0.2], omega=Lipschitz(2.0))
    for xi, gi in zip(x.tolist(), got.tolist(), strict=True):
        exact = ref.cdf(xi, [0.5, 0.3, 0.2], omega_inverse=lambda e: e / 2)
        assert mpmath.mpf(gi) <= exact
        assert mpmath.mpf(gi) >= exact * (1 - mpmath.mpf(1e-13))
    # and the closed form of two half-spaces of equal mass, B(eps) = 2 Phi(eps) - 1
    assert ib.theorem1(1.0, [0.5, 0.5]) == pytest.approx(math.erf(1 / math.sqrt(2)), rel=1e-13)


def test_eq3_needs_balanced_classes():
    # the counterexample to Eq. (3) without its condition: p = (0.9, 0.1), latent radius 3
    exact_tail = IsoperimetricBound([0.9, 0.1]).sf(3.0)
    eq3_tail = 1 - ib.theorem1_balanced(3.0)
    assert exact_tail == pytest.approx(0.0429, abs=5e-5)
    assert eq3_tail == pytest.approx(0.0139, abs=5e-5)
    with pytest.raises(ValueError, match=r"<= 1/2.*0\.9"):
        ib.theorem1_balanced(3.0, class_probs=[0.9, 0.1])


@pytest.mark.parametrize("probs", [[0.5, 0.5], [0.3, 0.3, 0.4], [0.1] * 10, [0.5, 0.25, 0.25]])
def test_eq3_is_looser_than_eq2_when_balanced(probs):
    x = np.linspace(0.0, 6.0, 61)
    assert np.all(ib.theorem1_balanced(x) <= IsoperimetricBound(probs).cdf(x) + 1e-15)


@pytest.mark.parametrize("k", [5, 10, 100, 10**6])
def test_eq4_is_looser_than_eq2(k):
    x = np.linspace(0.0, 6.0, 61)
    assert np.all(ib.theorem1_equiprobable(x, k) <= IsoperimetricBound.equiprobable(k).cdf(x) + 1e-15)
    assert np.all(ib.theorem1_equiprobable(x, k) >= ib.theorem1_balanced(x) - 1e-15)


def test_closed_forms_clip_at_zero_and_check_k():
    assert ib.theorem1_balanced(0.0) == 0.0
    assert ib.theorem3(0.1, 0.2) == 0.0
    with pytest.raises(ValueError, match="n_classes=4"):
        ib.theorem1_equiprobable(1.0, 4)
    with pytest.raises(ValueError, match="n_classes=4"):
        ib.theorem4_equiprobable(4)
    with pytest.raises(ValueError, match=r"delta=-0\.1"):
        ib.theorem3(1.0, -0.1)
    with pytest.raises(ValueError, match=r"delta=1\.5"):
        ib.theorem3(1.0, 1.5)


def test_theorem3_against_the_mpmath_twin():
    x = np.linspace(0.5, 5, 10)
    for d in (0.0, 0.01, 0.2, 0.5):
        got = ib.theorem3(x, d)
        for xi, gi in zip(x.tolist(), got.tolist(), strict=True):
            exact = ref.theorem3(xi, d)
            assert mpmath.mpf(gi) <= exact
            assert mpmath.mpf(gi) >= exact - mpmath.mpf(5e-14)


def test_theorem4_exact_vs_closed_form():
    assert ib.theorem4([0.1] * 10) == pytest.approx(0.473, abs=5e-4)
    assert ib.theorem4_equiprobable(10) == pytest.approx(1.568, abs=5e-4)
    for k in (5, 10, 100, 1000):
        assert ib.theorem4([1 / k] * k) < ib.theorem4_equiprobable(k)
    assert ib.theorem4([0.1] * 10, omega=Lipschitz(2.0), delta=0.1) == pytest.approx(
        2 * 0.47343 + 0.1, abs=1e-4
    )


def test_theorem4_needs_concave_deterministic_modulus():
    with pytest.raises(ValueError, match=r"exponent=1\.5"):
        ib.theorem4([0.5, 0.5], omega=Holder(1.0, 1.5))
    with pytest.raises(ValueError, match="concave_majorant"):
        ib.theorem4([0.5, 0.5], omega=PiecewiseLinear([0, 1, 2], [0, 1, 3]))
    with pytest.raises(ValueError, match="failure_prob"):
        ib.theorem4([0.5, 0.5], omega=Lipschitz(1.0, failure_prob=0.01))
    with pytest.raises(ValueError, match=r"delta=-1"):
        ib.theorem4([0.5, 0.5], delta=-1)


def test_mean_through_modulus_is_never_looser_than_theorem4():
    p = [0.5, 0.3, 0.2]
    omega = Holder(1.5, 0.5)
    assert IsoperimetricBound(p).through(omega).mean() <= ib.theorem4(p, omega=omega)


def test_expected_gaussian_norm():
    assert ib.expected_gaussian_norm(1) == pytest.approx(math.sqrt(2 / math.pi), rel=1e-15)
    assert ib.expected_gaussian_norm(2) == pytest.approx(math.sqrt(math.pi / 2), rel=1e-15)
    d = np.array([1, 10, 100, 340, 341, 1e4, 1e15])
    v = ib.expected_gaussian_norm(d)
    assert np.all(v <= np.sqrt(d)) and np.all(v >= np.sqrt(d - 1))
    for bad in (0, -1, np.nan, np.inf):
        with pytest.raises(ValueError, match="d must be a positive"):
            ib.expected_gaussian_norm(bad)


def test_closed_forms_give_up_the_failure_probability_of_an_estimated_modulus():
    # an estimated modulus may fail with probability delta: Theorem 1 then
    # holds only up to delta, and the closed forms must say no more than that
    x = np.linspace(0.5, 6.0, 12)
    sure, shaky = Lipschitz(1.5), Lipschitz(1.5, failure_prob=0.05)
    for form in (
        lambda o: ib.theorem1_balanced(x, omega=o),
        lambda o: ib.theorem1_equiprobable(x, 10, omega=o),
        lambda o: ib.theorem3(x, 0.01, omega=o),
    ):
        np.testing.assert_allclose(form(shaky), np.maximum(form(sure) - 0.05, 0.0), atol=1e-13)
        # (up to the rounding of the reference's own subtraction)
        assert np.all(form(shaky) <= np.maximum(form(sure) - 0.05, 0.0) + 1e-16)
    # and they stay below the exact bound through the same modulus
    exact = IsoperimetricBound([0.5, 0.5]).through(shaky).cdf(x)
    assert np.all(ib.theorem1_balanced(x, omega=shaky) <= exact + 1e-15)
