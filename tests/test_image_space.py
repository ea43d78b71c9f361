"""ImageSpaceBound on the safe side, step by step (issue 10, mutation list).

Two kinds of test:

* end to end, against the mpmath twin: ``B(omega^{-1}(eta)) - delta`` and
  its relatives in 50 digits, with the exact inverse of the same modulus
  (``reference.ExactModulus``), for every kind of modulus;
* step by step, with a stub latent bound whose methods return given floats
  exactly (so its own margins cannot hide this class's roundings) and with
  stub moduli whose values are exact: each rounding that ImageSpaceBound
  adds (subtracting or adding delta, shifting a quantile level, the log of
  a shifted value, the quadrature error) is checked against exact rational
  or 50-digit arithmetic, at floats chosen so that the unrounded operation
  lands on the wrong side.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any, ClassVar

import mpmath
import numpy as np
import pytest

import isobound as ib
from isobound import reference as ref

mpmath.mp.dps = 50
P3 = [0.5, 0.3, 0.2]
STEP = ib.PiecewiseLinear([0.1234, 0.9, 1.777, 2.5], [0.2, 0.7, 1.3, 2.0], interpolation="step", extrapolate=True)
MODULI = {
    "lipschitz": ib.Lipschitz(2.5),
    "affine": ib.Affine(1.7, 0.3),
    "holder": ib.Holder(2.0, 0.5),
    "holder-flat": ib.Holder(1.1, 0.02),
    "linear": ib.PiecewiseLinear([0.2, 0.5, 1.0, 3.0], [0.1, 0.4, 1.3, 2.0]),
    "step": STEP,
    "uniform-prior-step": ib.UniformPrior(STEP),
    "composition": ib.Composition(ib.Holder(1.3, 0.5), ib.Affine(2.0, 0.1)),
}
CLASSES = {"p3": P3, "k10": [0.1] * 10, "majority": [0.9, 0.07, 0.03]}


def mp(x: float) -> Any:
    return mpmath.mpf(float(x))


CASES = [(name, "p3", 0.0) for name in MODULI] + [(name, "majority", 0.03) for name in MODULI] + [
    ("holder", "k10", 0.0), ("step", "k10", 0.03), ("uniform-prior-step", "k10", 0.0),
    ("holder-flat", "majority", 0.0), ("affine", "p3", 0.03),
]


@pytest.mark.parametrize(("name", "classes", "fail"), CASES)
def test_through_every_modulus_against_the_twin(name: str, classes: str, fail: float) -> None:
    omega = MODULI[name]
    if fail:
        omega = ib.Composition(omega, ib.Identity(failure_prob=fail))
    p = CLASSES[classes]
    img = ib.IsoperimetricBound(p).through(omega)
    exact = ref.ExactModulus(omega)
    d = mp(fail)
    eta = np.array([1e-6, 0.05, 0.5, 1.5, 8.0]) * max(1.0, float(omega.at_zero) + 0.3)
    # the certified latent radius is below the exact one by ~16 ulps / exponent, and
    # log sf moves by about eps^2 times that: the closeness allowed scales with both
    exponent = getattr(omega.outer, "exponent", 1.0) if fail else getattr(omega, "exponent", 1.0)
    slack = mpmath.mpf(1e-13) / min(1.0, exponent)
    for e, c, s, lc, ls in zip(
        eta.tolist(), img.cdf(eta).tolist(), img.sf(eta).tolist(),
        img.logcdf(eta).tolist(), img.logsf(eta).tolist(), strict=True,
    ):
        eps = exact.inverse(e)
        b = ref.cdf(e, p, omega_inverse=exact.inverse)
        log_tail = ref.logsf(e, p, omega_inverse=exact.inverse)
        want_c = max(b - d, mpmath.mpf(0))
        log_s = log_tail if not d else min(mpmath.log(mpmath.exp(log_tail) + d), mpmath.mpf(0))
        assert mp(c) <= want_c and mpmath.log(mp(s)) >= log_s - mpmath.mpf(1e-300), (e, c, s)
        assert mp(ls) >= log_s, (e, ls, log_s)
        assert mp(c) >= want_c - 10 * slack * (1 + eps) * (1 + want_c)
        assert mp(ls) <= log_s + slack * (1 + eps**2) * (1 + abs(log_s))
        if want_c > 0:
            log_c = ref.logcdf(e, p, omega_inverse=exact.inverse) if not d else mpmath.log(want_c)
            assert mp(lc) <= log_c
    for q in (1e-9, 0.25, 0.9):
        got = img.ppf(q)
        if q + fail >= 1:
            assert got == math.inf
            continue
        want = exact.value(ref.ppf(q + fail, p))
        assert mp(got) >= want
        assert mp(got) <= want * (1 + mpmath.mpf(1e-11)) + mpmath.mpf(1e-300)


def test_holder_modulus_at_an_underflowing_latent_radius() -> None:
    # a square-root modulus at eta = 1e-200: the latent radius 1e-400 is below the
    # float range, logcdf works with its log (the log is rounded down, and so is the sum)
    omega = ib.Holder(1.0, 0.5)
    img = ib.IsoperimetricBound(P3).through(omega)
    got = img.logcdf(1e-200)
    assert img.cdf(1e-200) == 0.0 and math.isfinite(got)
    exact = ref.logcdf(mpmath.mpf(10) ** -400, P3)
    assert mp(got) <= exact
    assert mp(got) >= exact * (1 + mpmath.mpf(1e-13))


# --- stubs: a latent bound and moduli with exactly known results ------------------------


class ExactLatent(ib.IsoperimetricBound):
    """A latent bound whose methods return given floats and record what they were asked."""

    __slots__ = ()
    value: ClassVar[float] = 0.5
    seen: ClassVar[list[np.ndarray]] = []

    def _give(self, x: Any) -> Any:
        type(self).seen.append(np.array(x, dtype=np.float64, copy=True))
        out = np.full(np.shape(x), type(self).value)
        return float(out) if np.ndim(x) == 0 else out

    cdf = sf = logsf = ppf = isf = _give  # type: ignore[assignment]

    def mean(self) -> float:
        return type(self).value


def stub(value: float, omega: ib.Modulus) -> ib.ImageSpaceBound:
    ExactLatent.value = value
    ExactLatent.seen = []
    return ExactLatent([0.5, 0.5]).through(omega)


def fractions_where(rng: np.random.Generator, wrong: Any, n: int = 200) -> list[tuple[float, float]]:
    """Pairs (v, d) in (0, 1) at which ``wrong(v, d)`` says the plain float operation errs."""
    found = []
    for _ in range(20000):
        v, d = float(rng.uniform(0.3, 1)), float(rng.uniform(0, 0.3))
        if wrong(v, d):
            found.append((v, d))
            if len(found) == n:
                break
    assert len(found) == n  # such floats exist: the test can fail
    return found


def test_cdf_subtracts_delta_rounded_down() -> None:
    rng = np.random.default_rng(1)
    pairs = fractions_where(rng, lambda v, d: Fraction(v - d) > Fraction(v) - Fraction(d))
    for v, d in pairs:
        got = stub(v, ib.Identity(failure_prob=d)).cdf(1.0)
        exact = Fraction(v) - Fraction(d)
        assert Fraction(got) <= exact
        assert got >= float(exact) * (1 - 1e-15)


def test_sf_adds_delta_rounded_up() -> None:
    rng = np.random.default_rng(2)
    pairs = fractions_where(
        rng, lambda v, d: v + d < 1 and Fraction(v + d) < Fraction(v) + Fraction(d), n=100
    )
    for v, d in [(v * 0.5, d) for v, d in pairs if v * 0.5 + d < 1][:60] + pairs[:60]:
        got = stub(v, ib.Identity(failure_prob=d)).sf(1.0)
        exact = min(Fraction(v) + Fraction(d), Fraction(1))
        assert Fraction(got) >= exact
        assert got <= float(exact) * (1 + 1e-15)


def test_logcdf_with_a_failure_probability_is_rounded_down() -> None:
    rng = np.random.default_rng(3)
    pairs = fractions_where(
        rng, lambda v, d: mpmath.mpf(math.log(float(np.maximum((v - d) - 2 * 2**-52 * v, 0.0))))
        > mpmath.log(mpmath.mpf(float(np.maximum((v - d) - 2 * 2**-52 * v, 0.0)))), n=50
    )
    for v, d in pairs:
        img = stub(v, ib.Identity(failure_prob=d))
        got = img.logcdf(1.0)
        assert mp(got) <= mpmath.log(mp(img.cdf(1.0)))
        assert mp(got) <= mpmath.log(mp(v) - mp(d))


def test_logsf_with_a_failure_probability_is_rounded_up() -> None:
    rng = np.random.default_rng(4)
    checked = 0
    for _ in range(3000):
        lv = -float(rng.uniform(1e-3, 40))
        d = float(10 ** rng.uniform(-12, -0.5))
        exact = mpmath.log(mpmath.exp(mp(lv)) + mp(d))
        if exact >= 0 or mp(np.logaddexp(lv, math.log(d))) >= exact:
            continue  # only where the plain computation falls below
        got = stub(lv, ib.Identity(failure_prob=d)).logsf(1.0)
        assert mp(got) >= exact
        assert mp(got) <= exact + mpmath.mpf(1e-13) * (1 + abs(exact))
        checked += 1
    assert checked > 50


def test_quantile_levels_are_shifted_to_the_safe_side() -> None:
    rng = np.random.default_rng(5)
    pairs = fractions_where(rng, lambda q, d: q + d < 1 and Fraction(q + d) < Fraction(q) + Fraction(d), n=60)
    for q, d in pairs:
        stub(1.0, ib.Identity(failure_prob=d)).ppf(q)
        (level,) = ExactLatent.seen
        # the latent quantile is taken at a level >= q + d: its ppf is then an upper bound
        assert Fraction(float(level)) >= Fraction(q) + Fraction(d)
        assert float(level) <= (q + d) * (1 + 1e-15)
    pairs = fractions_where(rng, lambda p, d: Fraction(p - d) > Fraction(p) - Fraction(d), n=60)
    for p, d in pairs:
        stub(1.0, ib.Identity(failure_prob=d)).isf(p)
        (level,) = ExactLatent.seen
        assert Fraction(float(level)) <= Fraction(p) - Fraction(d)
        assert float(level) >= (p - d) * (1 - 1e-15)


def test_interval_levels_are_stepped_up() -> None:
    rng = np.random.default_rng(6)
    for c in [*rng.uniform(0, 1, 50).tolist(), 0.0, 0.5, 0.95, 1.0]:
        stub(1.0, ib.Identity()).interval(c)
        lo, hi = (float(x) for x in ExactLatent.seen)
        assert Fraction(lo) >= (1 - Fraction(c)) / 2 and Fraction(hi) >= min((1 + Fraction(c)) / 2, Fraction(1))
        assert lo <= (1 - c) / 2 * (1 + 1e-15) + 1e-300 and hi <= 1.0


class ExactConstant(ib.Modulus):
    """omega(t) = c for t > 0, exactly (no rounding), 0 at 0."""

    __slots__ = ("_c",)

    def __init__(self, c: float, *, failure_prob: float = 0.0) -> None:
        super().__init__(failure_prob=failure_prob)
        self._set("_c", float(c))

    @property
    def is_concave(self) -> bool:
        return True

    def _value(self, t: np.ndarray) -> np.ndarray:
        return np.where(t > 0, self._c, 0.0)

    def _inverse(self, eta: np.ndarray) -> np.ndarray:
        return np.where(eta >= self._c, np.inf, 0.0)

    def _params(self) -> dict[str, Any]:
        return {"c": self._c}


class LogInverse(ib.Modulus):
    """A modulus whose inverse underflows to 0 and whose log-inverse is a given float."""

    __slots__ = ("_log",)

    def __init__(self, log_inverse: float) -> None:
        super().__init__()
        self._set("_log", float(log_inverse))

    @property
    def is_concave(self) -> bool:
        return True

    def _value(self, t: np.ndarray) -> np.ndarray:
        return np.where(t > 0, np.inf, 0.0)

    def _inverse(self, eta: np.ndarray) -> np.ndarray:
        return np.zeros_like(eta)

    def log_inverse(self, eta: Any) -> Any:
        return np.full(np.shape(eta), self._log)

    def _params(self) -> dict[str, Any]:
        return {"log": self._log}


@pytest.mark.parametrize("probs", [P3, [0.1] * 10, [0.9, 0.1], [0.5, 0.5]])
def test_logcdf_at_an_underflowed_radius_is_rounded_down(probs: list[float]) -> None:
    bound = ib.IsoperimetricBound(probs)
    # B'(0) = sum_i c_i phi(b_i), thresholds per distinct entry with its multiplicity
    counts = bound.counts
    b = ref.thresholds(list(bound.class_probs), list(counts), dps=40)
    pdf0 = mpmath.fsum(mp(c) * mpmath.npdf(bi) for c, bi in zip(counts.tolist(), b, strict=True))
    for log_eps in (-800.0, -1234.567, -5e4, -1e7):
        got = bound.through(LogInverse(log_eps)).logcdf(1.0)
        exact = mp(log_eps) + mpmath.log(pdf0)  # log B(eps) = this + O(eps)
        assert mp(got) <= exact
        assert mp(got) >= exact * (1 + mpmath.mpf(1e-13))


def test_mean_adds_its_roundings_to_the_safe_side() -> None:
    rng = np.random.default_rng(7)
    for _ in range(200):
        m, s, b = (float(x) for x in rng.uniform(0.1, 3, 3))
        got = stub(m, ib.Affine(s, b)).mean()
        assert Fraction(got) >= Fraction(s) * Fraction(m) + Fraction(b)
        assert got <= (s * m + b) * (1 + 1e-14)
        d, diam = float(rng.uniform(0, 0.5)), float(rng.uniform(0.1, 100))
        got = stub(m, ib.Identity(failure_prob=d)).mean(diameter=diam)
        assert Fraction(got) >= Fraction(m) + Fraction(d) * Fraction(diam)
        assert got <= (m + d * diam) * (1 + 1e-14)


class ExactSmooth(ib.Modulus):
    """omega(t) = expm1(2t), evaluated without a margin: exposes the quadrature error itself."""

    __slots__ = ()

    @property
    def is_concave(self) -> bool:
        return False

    def _value(self, t: np.ndarray) -> np.ndarray:
        return np.expm1(2.0 * t)

    def _inverse(self, eta: np.ndarray) -> np.ndarray:
        return 0.5 * np.log1p(eta)

    def _params(self) -> dict[str, Any]:
        return {}


@pytest.mark.parametrize("probs", [P3, [0.1] * 10, [0.9, 0.1], [0.99, 0.01]])
def test_mean_by_quadrature_is_an_upper_bound(probs: list[float]) -> None:
    got = ib.IsoperimetricBound(probs).through(ExactSmooth()).mean()
    exact = ref.mean(probs, omega=lambda t: mpmath.expm1(2 * t), dps=30)
    assert mp(got) >= exact
    assert mp(got) <= exact * (1 + mpmath.mpf(1e-12))


def test_mean_through_a_step_inside_a_composition() -> None:
    # the jumps of a step part inside UniformPrior sit at radii / sqrt(2/pi): unannounced,
    # they made the quadrature 1.9e-8 too small; the composition now reports them
    omega = ib.UniformPrior(STEP)
    got = ib.IsoperimetricBound(P3).through(omega).mean()
    exact = ref.mean(
        P3,
        omega=ref.ExactModulus(omega).value,
        points=[mp(r) / mpmath.sqrt(2 / mpmath.pi) for r in STEP.radii],
        dps=25,
    )
    assert mp(got) >= exact and mp(got) <= exact * (1 + mpmath.mpf(1e-12))


def test_theorem4_adds_delta_rounded_up() -> None:
    rng = np.random.default_rng(8)
    for _ in range(100):
        c, d = float(rng.uniform(0.1, 3)), float(rng.uniform(0, 1))
        got = ib.theorem4([0.5, 0.5], omega=ExactConstant(c), delta=d)
        assert Fraction(got) >= Fraction(c) + Fraction(d) and got <= (c + d) * (1 + 1e-15)
        k = int(rng.integers(5, 10**6))
        got = ib.theorem4_equiprobable(k, omega=ExactConstant(c), delta=d)
        assert Fraction(got) >= Fraction(c) + Fraction(d) and got <= (c + d) * (1 + 1e-15)


def test_aliases_and_interval() -> None:
    img = ib.IsoperimetricBound.equiprobable(10).through(ib.Holder(2.0, 0.5, failure_prob=0.01))
    x = np.array([0.1, 0.5, 1.3])
    q = np.array([0.05, 0.25, 0.8])
    np.testing.assert_array_equal(img.ccdf(x), img.sf(x))
    np.testing.assert_array_equal(img.logccdf(x), img.logsf(x))
    np.testing.assert_array_equal(img.icdf(q), img.ppf(q))
    np.testing.assert_array_equal(img.iccdf(q), img.isf(q))
    lo, hi = img.interval(0.9)
    assert isinstance(lo, float) and lo >= img.ppf(0.05) and hi >= img.ppf(0.95)
    assert lo <= img.ppf(0.05) * (1 + 1e-12) and hi <= img.ppf(0.95) * (1 + 1e-12)
    lo, hi = img.interval(np.array([0.0, 0.5, 1.0, 1.5, -0.1, np.nan]))
    assert lo.shape == (6,) and np.all(np.isnan(lo[3:])) and np.all(np.isnan(hi[3:]))
    assert hi[2] == math.inf and lo[0] == pytest.approx(img.median(), rel=1e-12)
