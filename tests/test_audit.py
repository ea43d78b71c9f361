"""Tests for isobound._audit: the check of measured robustness against a bound."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from scipy import special as sc

from isobound._audit import RobustnessAudit, audit_robustness, one_sided_band


class ExpBound:
    """Toy bound B(t) = 1 - exp(-t): the cdf of Exp(1)."""

    def cdf(self, t: Any) -> Any:
        return -np.expm1(-np.asarray(t, dtype=np.float64))


class StepBound:
    """Toy bound with a jump: B(t) = 0.5 on [0, 1), 1 from 1 on."""

    def cdf(self, t: Any) -> Any:
        t = np.asarray(t, dtype=np.float64)
        return np.where(t < 1.0, 0.5 * (t >= 0), 1.0)


class ScalarOnlyBound:
    def cdf(self, t: Any) -> float:
        return 0.5


# --------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [[], np.zeros((0, 3))])
def test_empty_distances_rejected(bad: Any) -> None:
    with pytest.raises(ValueError, match="distances"):
        audit_robustness(bad, ExpBound())


def test_negative_distance_rejected() -> None:
    with pytest.raises(ValueError, match=r"distances.*-0\.5"):
        audit_robustness([0.1, -0.5, 2.0], ExpBound())


@pytest.mark.parametrize("bad", [["a", "b"], "1.0", [[1.0], [2.0, 3.0]], None])
def test_non_numeric_distances_rejected(bad: Any) -> None:
    with pytest.raises(TypeError, match="distances must be an array"):
        audit_robustness(bad, ExpBound())


@pytest.mark.parametrize("bad", ["bound", None, 3.0, lambda t: t])
def test_bound_without_cdf_is_a_type_error(bad: Any) -> None:
    # issue 11.3: a string used to raise AttributeError from deep inside
    with pytest.raises(TypeError, match=r"bound must have a vectorized cdf method.*bound="):
        audit_robustness([0.1, 0.2], bad)


def test_nan_distance_rejected() -> None:
    with pytest.raises(ValueError, match=r"NaN.*first at flat index 1.*inf"):
        audit_robustness([0.1, float("nan"), 2.0, float("nan")], ExpBound())


def test_nan_from_the_bound_rejected() -> None:
    class NanBound:
        def cdf(self, t: Any) -> Any:
            return np.full(np.shape(t), np.nan)

    with pytest.raises(ValueError, match=r"bound\.cdf returned NaN"):
        audit_robustness([0.1, 0.2], NanBound())


@pytest.mark.parametrize("conf", [0.0, 1.0, 1.5, -0.1, float("nan")])
def test_confidence_out_of_range(conf: float) -> None:
    with pytest.raises(ValueError, match="confidence"):
        audit_robustness([0.1, 0.2], ExpBound(), confidence=conf)
    with pytest.raises(ValueError, match="confidence"):
        one_sided_band(10, conf)


@pytest.mark.parametrize("conf", ["0.99", None, True, [0.9]])
def test_confidence_of_the_wrong_type(conf: Any) -> None:
    with pytest.raises(TypeError, match=r"confidence must be a number in \(0, 1\)"):
        audit_robustness([0.1, 0.2], ExpBound(), confidence=conf)


@pytest.mark.parametrize("n", [0, -3])
def test_band_rejects_bad_n(n: Any) -> None:
    with pytest.raises(ValueError, match="n must be a positive integer"):
        one_sided_band(n, 0.99)


@pytest.mark.parametrize("n", [2.5, True, "10", None])
def test_band_rejects_non_integer_n(n: Any) -> None:
    with pytest.raises(TypeError, match="n must be a positive integer"):
        one_sided_band(n, 0.99)


def test_non_vectorized_cdf_rejected() -> None:
    with pytest.raises(ValueError, match="vectorized"):
        audit_robustness([0.1, 0.2, 0.3], ScalarOnlyBound())


# --------------------------------------------------------------------------
# the band
# --------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 7, 100, 10_000])
@pytest.mark.parametrize("conf", [0.3, 0.9, 0.99, 1 - 1e-9])
def test_band_has_requested_coverage_and_beats_dkw(n: int, conf: float) -> None:
    e = one_sided_band(n, conf)
    alpha = 1 - conf
    # exact one-sided KS tail at e is at most alpha (never narrower) ...
    assert sc.smirnov(n, e) <= alpha
    # ... and the band is not wastefully wide: slightly narrower fails.
    assert sc.smirnov(n, e * (1 - 1e-6)) > alpha
    if alpha <= 0.5:
        assert e <= math.sqrt(math.log(1 / alpha) / (2 * n))


@pytest.mark.parametrize("n", [10_001, 10**6, 10**12])
@pytest.mark.parametrize("conf", [0.3, 0.99])
def test_band_for_large_n_is_dkw_massart(n: int, conf: float) -> None:
    alpha = 1 - conf
    expected = math.log((2 if alpha > 0.5 else 1) / alpha) / (2 * n)
    assert one_sided_band(n, conf) == pytest.approx(math.sqrt(expected), rel=1e-15)
    # DKW is close to, and never below, the exact quantile near the switch
    if n == 10_001 and alpha <= 0.5:
        exact = sc.smirnovi(n, alpha)
        assert exact <= one_sided_band(n, conf) <= exact * 1.002


# --------------------------------------------------------------------------
# the statistic
# --------------------------------------------------------------------------


def test_gap_matches_brute_force_on_a_grid() -> None:
    rng = np.random.default_rng(1)
    x = rng.exponential(1.3, size=300)
    audit = audit_robustness(x, ExpBound(), confidence=0.95)
    grid = np.sort(np.concatenate([np.linspace(0, 12, 200_001), x, x - 1e-12]))
    ecdf = np.searchsorted(np.sort(x), grid, side="right") / x.size
    brute = np.max(ExpBound().cdf(grid) - ecdf) - audit.band
    assert brute <= audit.worst_gap + 1e-12
    assert brute >= audit.worst_gap - 1e-9
    assert not audit.ok
    # the worst radius is one of the measured distances
    assert audit.worst_radius in set(x.tolist())


def test_left_limit_is_used_where_the_bound_jumps() -> None:
    # every distance equals 1: F_n(1-) = 0 while B(1-) = 0.5, B(1) = 1.
    audit = audit_robustness(np.ones(50), StepBound(), confidence=0.9)
    assert audit.worst_gap == pytest.approx(0.5 - audit.band, abs=1e-15)
    assert audit.worst_radius == 1.0


def test_zero_distances_never_violate() -> None:
    audit = audit_robustness(np.zeros(10), ExpBound())
    assert audit.ok
    assert audit.violations == ()


def test_an_atom_at_zero_counts_with_no_mass_below_zero() -> None:
    # boundary case: points on the decision boundary (distance exactly 0).  The
    # bound has no mass below 0, B(0-) = 0, so the gap at an atom at 0 is -e
    # exactly, even for a bound that (wrongly) claims mass at 0 itself
    class ClaimsAtZero:
        def cdf(self, t: Any) -> Any:
            return np.where(np.asarray(t) >= 0, 0.9, 0.0)

    x = np.concatenate([np.zeros(30), np.full(70, 5.0)])
    audit = audit_robustness(x, ClaimsAtZero(), confidence=0.9)
    e = one_sided_band(100, 0.9)
    # at 0: B(0-) - 0 - e = -e; just below 5: 0.9 - 0.3 - e > 0, a violation at 5 only
    assert audit.violations == (5.0,)
    assert audit.worst_gap == pytest.approx(0.9 - 0.3 - e, abs=1e-15)
    only_zeros = audit_robustness(np.zeros(100), ClaimsAtZero(), confidence=0.9)
    assert only_zeros.ok and only_zeros.worst_gap == pytest.approx(-e, abs=1e-15)


# --------------------------------------------------------------------------
# statistical behaviour: false alarms controlled, violations caught
# --------------------------------------------------------------------------


def test_false_alarm_rate_is_controlled() -> None:
    # Boundary case of the null hypothesis: the distances follow exactly the
    # bound's law, so F = B and the rate should be (nearly) 1 - confidence.
    rng = np.random.default_rng(12345)
    trials, n, conf = 2000, 200, 0.9
    alarms = sum(
        not audit_robustness(rng.exponential(size=n), ExpBound(), confidence=conf).ok
        for _ in range(trials)
    )
    rate = alarms / trials
    sd = math.sqrt(0.1 * 0.9 / trials)
    assert rate <= 0.1 + 3 * sd
    # not absurdly conservative either (a band twice too wide would give ~0)
    assert rate >= 0.1 - 4 * sd


def test_false_alarms_vanish_when_measurements_are_less_robust() -> None:
    # A strong attack on a classifier well inside the bound: F >> B.
    rng = np.random.default_rng(7)
    alarms = sum(
        not audit_robustness(0.5 * rng.exponential(size=100), ExpBound()).ok for _ in range(300)
    )
    assert alarms == 0


def test_real_violation_is_caught() -> None:
    rng = np.random.default_rng(3)
    x = 1.25 * rng.exponential(size=3000)  # 25% too large: a weak attack
    audit = audit_robustness(x, ExpBound(), confidence=0.99)
    assert not audit.ok
    assert audit.worst_gap > 0
    assert len(audit.violations) > 0
    assert all(v > 0 for v in audit.violations)
    assert list(audit.violations) == sorted(audit.violations)
    assert "VIOLATION" in audit.message
    assert "attack" in audit.message and "omega" in audit.message
    # the true sup of B - F = e^{-t/1.25} - e^{-t} is at t = 5 log(1.25)
    # ~ 1.12 (a flat maximum); the empirical worst radius is near it
    assert 0.5 < audit.worst_radius < 3.0


def test_ok_message_and_margin() -> None:
    rng = np.random.default_rng(4)
    audit = audit_robustness(rng.exponential(size=1000), ExpBound())
    assert audit.ok
    assert audit.worst_gap <= 0
    assert "consistent" in audit.message


# --------------------------------------------------------------------------
# failed attacks
# --------------------------------------------------------------------------


def test_failures_count_as_infinite_and_only_add_violations() -> None:
    rng = np.random.default_rng(5)
    true = rng.exponential(size=400)
    failed = true.copy()
    failed[:40] = np.inf
    as_nan = true.copy()
    as_nan[:40] = np.nan
    a_true = audit_robustness(true, ExpBound())
    a_inf = audit_robustness(failed, ExpBound())
    assert a_inf.n == 400
    assert a_inf.n_unresolved == 40
    assert a_true.n_unresolved == 0
    assert a_inf.worst_gap >= a_true.worst_gap
    with pytest.raises(ValueError, match="NaN"):
        audit_robustness(as_nan, ExpBound())


def test_infinite_distances_on_real_bounds_raise_no_warning() -> None:
    # issue 11.4: inf (a failed attack) used to put the bound's cdf at the
    # largest float and emit overflow warnings; pytest runs with -W error
    import isobound as ib

    latent = ib.IsoperimetricBound.equiprobable(10)
    for bound in (latent, latent.through(ib.Lipschitz(2.0, failure_prob=0.01)),
                  latent.through(ib.PiecewiseLinear([0.0, 1.0], [0.0, 2.0]))):
        audit = audit_robustness([np.inf, 1.0, 0.3, np.inf], bound)
        assert audit.n_unresolved == 2
        # the gap at the failures uses the bound's whole mass B(inf)
        expected = float(bound.cdf(np.inf)) - 0.5 - audit.band
        assert audit.worst_gap >= expected - 1e-15


def test_infinite_distance_gap_is_taken_at_cdf_of_inf() -> None:
    class Saturating:
        """B(t) = min(t, 0.6): all the mass it guarantees is 0.6."""

        def cdf(self, t: Any) -> Any:
            return np.minimum(np.asarray(t, dtype=np.float64), 0.6)

    audit = audit_robustness(np.concatenate([np.full(50, 1e-3), np.full(50, np.inf)]), Saturating())
    assert audit.worst_radius == math.inf
    assert audit.worst_gap == pytest.approx(0.6 - 0.5 - audit.band, abs=1e-15)


def test_all_failures_is_a_violation_at_infinity() -> None:
    audit = audit_robustness(np.full(100, np.inf), ExpBound())
    assert not audit.ok
    assert audit.worst_radius == math.inf
    assert "100 attacks failed" in audit.message


# --------------------------------------------------------------------------
# output
# --------------------------------------------------------------------------


def test_as_dict_is_strict_json_with_stable_keys() -> None:
    audit = audit_robustness(np.full(10, np.inf), ExpBound())
    d = audit.as_dict()
    text = json.dumps(d, allow_nan=False)
    back = json.loads(text)
    assert set(back) == {
        "ok",
        "n",
        "n_unresolved",
        "confidence",
        "band",
        "worst_gap",
        "worst_radius",
        "violations",
        "message",
    }
    assert back["worst_radius"] is None
    assert back["ok"] is False


def test_audit_is_frozen() -> None:
    audit = audit_robustness([0.5, 1.0], ExpBound())
    assert isinstance(audit, RobustnessAudit)
    with pytest.raises(AttributeError):
        audit.ok = False  # type: ignore[misc]


def test_accepts_any_shape() -> None:
    rng = np.random.default_rng(6)
    x = rng.exponential(size=(20, 5))
    assert audit_robustness(x, ExpBound()) == audit_robustness(x.ravel(), ExpBound())
