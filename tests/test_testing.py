"""Tests for isobound.testing: hypothesis strategies and the tightness oracles."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st
from scipy import special as sc

import isobound as ib
from isobound.testing import (
    MODULUS_KINDS,
    LinearLatentClassifier,
    SlabLatentClassifier,
    class_probabilities,
    log_probabilities,
    moduli,
    radii,
)

FAST = settings(max_examples=60, deadline=None, database=None)
FIND = settings(max_examples=2000, database=None, suppress_health_check=list(HealthCheck))
# the first example found, not shrunk (shrinking moduli is slow and not needed here)
FIRST = settings(FIND, phases=[Phase.generate])


def ks_distance(samples: np.ndarray, cdf: Any) -> float:
    """Two-sided Kolmogorov-Smirnov statistic sup_t |F_n(t) - F(t)|."""
    x = np.sort(samples)
    n = x.size
    f = np.asarray(cdf(x), dtype=np.float64)
    i = np.arange(1, n + 1)
    return float(max(np.max(i / n - f), np.max(f - (i - 1) / n)))


def dkw_band(n: int, alpha: float) -> float:
    """Two-sided DKW-Massart half-width: P(KS > band) <= alpha."""
    return math.sqrt(math.log(2 / alpha) / (2 * n))


# ===========================================================================
# strategies
# ===========================================================================


@FAST
@given(class_probabilities(min_classes=3, max_classes=7, min_prob=1e-6))
def test_class_probabilities_are_valid(p: np.ndarray) -> None:
    assert p.dtype == np.float64
    assert 3 <= p.size <= 7
    assert abs(math.fsum(p.tolist()) - 1) < 1e-12
    assert p.min() >= 1e-6 * (1 - 1e-9)
    bound = ib.IsoperimetricBound(p)
    c = bound.cdf(np.array([0.0, 0.1, 1.0, 5.0]))
    assert np.all(np.diff(c) >= 0) and c[0] == 0 and c[-1] <= 1


@FAST
@given(class_probabilities(max_classes=9, allow_majority=False))
def test_class_probabilities_without_majority(p: np.ndarray) -> None:
    assert p.max() <= 0.5
    assert abs(math.fsum(p.tolist()) - 1) < 1e-12
    # the precondition of Eq. (3) holds, so the closed form is accepted
    ib.theorem1_balanced(1.0)


def test_class_probabilities_reach_the_awkward_cases() -> None:
    majority = find(class_probabilities(), lambda p: p.max() > 0.99, settings=FIND)
    assert majority.max() > 0.99
    tiny = find(class_probabilities(min_prob=1e-300), lambda p: p.min() < 1e-200, settings=FIND)
    assert tiny.min() < 1e-200
    many = find(class_probabilities(max_classes=30), lambda p: p.size == 30, settings=FIND)
    assert many.size == 30


@FAST
@given(log_probabilities(max_classes=6))
def test_log_probabilities_are_normalized(lp: np.ndarray) -> None:
    assert abs(float(sc.logsumexp(lp))) < 1e-12
    assert np.all(lp <= 0)
    bound = ib.IsoperimetricBound.from_log_probs(lp)
    assert 0 <= bound.cdf(0.5) <= 1


@FAST
@given(log_probabilities(max_classes=6, allow_majority=False))
def test_log_probabilities_without_majority(lp: np.ndarray) -> None:
    assert lp.max() <= -math.log(2)
    assert abs(float(sc.logsumexp(lp))) < 1e-12


def test_log_probabilities_go_below_float_range() -> None:
    lp = find(log_probabilities(), lambda lp: lp.min() < -5000, settings=FIND)
    assert lp.min() < -5000  # p would underflow to 0.0
    assert ib.IsoperimetricBound.from_log_probs(lp).n_classes == lp.size


@FAST
@given(moduli(), radii(max_value=50.0), radii(max_value=50.0))
def test_moduli_are_monotone(omega: ib.Modulus, t1: float, t2: float) -> None:
    lo, hi = sorted((t1, t2))
    assert omega(lo) <= omega(hi)
    assert omega.failure_prob == 0.0


@FAST
@given(moduli(), radii(max_value=100.0))
def test_moduli_inverse_is_generalised_inverse(omega: ib.Modulus, eta: float) -> None:
    t = omega.inverse(eta)
    assert t >= 0
    if eta < omega(0.0):
        assert t == 0.0
    elif math.isfinite(t):
        # omega(inverse(eta)) <= eta, up to rounding
        assert omega(t) <= eta * (1 + 1e-9) + 1e-12


@FAST
@given(moduli(concave=True, max_failure_prob=0.05))
def test_concave_moduli(omega: ib.Modulus) -> None:
    assert omega.is_concave
    assert 0 <= omega.failure_prob <= 0.05


@pytest.mark.parametrize("kind", MODULUS_KINDS)
def test_each_kind_is_drawn(kind: str) -> None:
    expected = {
        "lipschitz": ib.Lipschitz,
        "affine": ib.Affine,
        "holder": ib.Holder,
        "piecewise": ib.PiecewiseLinear,
        "uniform_prior": ib.UniformPrior,
        "composition": ib.Composition,
    }[kind]
    omega = find(moduli(kinds=[kind]), lambda m: True, settings=FIND)
    assert isinstance(omega, expected)
    # and the mixture reaches it too
    found = find(moduli(), lambda m: type(m) is expected, settings=FIND)
    assert type(found) is expected


def test_moduli_reach_a_jump_at_zero_and_failure() -> None:
    jump = find(moduli(kinds=["affine"]), lambda m: m(0.0) > 1.0, settings=FIND)
    assert jump.inverse(0.5 * jump(0.0)) == 0.0
    failing = find(moduli(max_failure_prob=0.1), lambda m: m.failure_prob > 0.05, settings=FIND)
    assert 0.05 < failing.failure_prob <= 0.1


def test_piecewise_moduli_reach_steps_offsets_and_extrapolation() -> None:
    step0 = find(
        moduli(kinds=["piecewise"]),
        lambda m: m.interpolation == "step" and m.radii[0] == 0 and m.values[1] > m.values[0],
        settings=FIRST,
    )
    assert step0(0.0) < step0(1e-12)  # a jump right after 0
    offset = find(moduli(kinds=["piecewise"]), lambda m: m.radii[0] > 0, settings=FIRST)
    assert offset(0.0) == offset.values[0]
    ext = find(moduli(kinds=["piecewise"]), lambda m: m.extrapolate, settings=FIRST)
    assert np.isfinite(ext(1e6))


def test_compositions_reach_step_parts_and_failure() -> None:
    comp = find(
        moduli(kinds=["composition"], max_failure_prob=0.4),
        lambda m: isinstance(m.outer, ib.PiecewiseLinear)
        and m.outer.interpolation == "step"
        and m.failure_prob > 0.2,
        settings=FIRST,
    )
    assert comp.failure_prob < 1 and comp.failure_prob == comp.outer.failure_prob + comp.inner.failure_prob
    prior = find(moduli(kinds=["uniform_prior"]), lambda m: isinstance(m.outer, ib.Holder), settings=FIRST)
    assert isinstance(prior, ib.UniformPrior)


def test_piecewise_moduli_exercise_the_running_max() -> None:
    def non_monotone_input(m: ib.Modulus) -> bool:
        return (
            isinstance(m, ib.PiecewiseLinear)
            and m.values.size >= 3
            and (np.any(np.diff(m.values) == 0))
        )

    omega = find(moduli(kinds=["piecewise"]), non_monotone_input, settings=FIND)
    assert np.all(np.diff(omega.values) >= 0)


@FAST
@given(radii(min_value=1e-3, max_value=2.0))
def test_radii_in_range(eps: float) -> None:
    assert 1e-3 <= eps <= 2.0


def test_radii_reach_tiny_values() -> None:
    assert find(radii(), lambda e: 0 < e < 1e-200, settings=FIND) < 1e-200


@FAST
@given(radii(size=(2, 3)))
def test_radii_arrays(eps: np.ndarray) -> None:
    assert eps.shape == (2, 3) and eps.dtype == np.float64
    assert np.all((eps >= 0) & (eps <= 1e3))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"min_classes": 1}, "min_classes"),
        ({"min_classes": 2.5}, "min_classes"),
        ({"max_classes": 1}, "max_classes"),
        ({"min_classes": 5, "max_classes": 3}, "max_classes"),
        ({"min_prob": 0.0}, "min_prob"),
        ({"min_prob": 0.2, "max_classes": 10}, "min_prob"),
        ({"min_prob": float("nan")}, "min_prob"),
    ],
)
def test_class_probabilities_validation(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        class_probabilities(**kwargs)


@pytest.mark.parametrize("bad", [0.0, 1.0, float("inf"), float("-inf"), float("nan")])
def test_log_probabilities_validation(bad: float) -> None:
    with pytest.raises(ValueError, match="min_log_prob"):
        log_probabilities(min_log_prob=bad)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kinds": ()}, "kinds"),
        ({"kinds": ("lipschitz", "spline")}, "kinds"),
        ({"max_failure_prob": 1.0}, "max_failure_prob"),
        ({"max_failure_prob": -0.1}, "max_failure_prob"),
    ],
)
def test_moduli_validation(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        moduli(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"min_value": -1.0}, "min_value"),
        ({"min_value": float("nan")}, "min_value"),
        ({"max_value": float("inf")}, "max_value"),
        ({"min_value": 2.0, "max_value": 1.0}, "max_value"),
    ],
)
def test_radii_validation(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        radii(**kwargs)


# ===========================================================================
# LinearLatentClassifier: the equality case (Remark 4)
# ===========================================================================


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (([0.0, 0.0], 0.0), "w must be non-zero"),
        (([[1.0, 0.0]], 0.0), "w must be"),
        (([], 0.0), "w must be"),
        (([1.0, float("nan")], 0.0), "w must be"),
        (([1.0, 2.0], float("inf")), "c must be"),
        (([1.0, 2.0], "x"), "c must be"),
    ],
)
def test_linear_validation(args: tuple[Any, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        LinearLatentClassifier(*args)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"p": 0.0}, "p must"), ({"p": 1.0}, "p must"), ({"p": 0.5, "dim": 0}, "dim must")],
)
def test_with_proportion_validation(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        LinearLatentClassifier.with_proportion(**kwargs)


def test_latents_of_the_wrong_dimension_rejected() -> None:
    clf = LinearLatentClassifier([1.0, 2.0, 3.0], 0.5)
    with pytest.raises(ValueError, match=r"z must have shape \(\.\.\., 3\)"):
        clf.distance(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="z must have shape"):
        clf.predict(1.0)


def test_distance_is_the_distance_to_the_decision_boundary() -> None:
    rng = np.random.default_rng(0)
    w = rng.standard_normal(6)
    clf = LinearLatentClassifier(w, 0.7)
    z = rng.standard_normal((500, 6))
    r = clf.distance(z)
    label = clf.predict(z)
    # move each z towards the hyperplane by (1 -+ 1e-9) of its distance
    unit = w / np.linalg.norm(w)
    towards = np.where(label == 1, -1.0, 1.0)[:, None] * unit
    assert np.all(clf.predict(z + (1 - 1e-9) * r[:, None] * towards) == label)
    assert np.all(clf.predict(z + (1 + 1e-9) * r[:, None] * towards) != label)


def test_class_probs_are_the_gaussian_masses() -> None:
    rng = np.random.default_rng(1)
    clf = LinearLatentClassifier([1.0, -1.0, 0.5], 0.9)
    z = rng.standard_normal((400_000, 3))
    freq = np.mean(clf.predict(z) == 0)
    assert abs(freq - clf.class_probs[0]) < 5 * math.sqrt(0.25 / 400_000)
    assert clf.class_probs.sum() == pytest.approx(1.0, abs=1e-15)
    assert np.allclose(np.exp(clf.log_probs), clf.class_probs, rtol=1e-14)


@pytest.mark.parametrize("s", [-6.0, -1.3, 0.0, 0.4, 2.5, 8.0])
def test_bound_equals_exact_cdf(s: float) -> None:
    """Remark 4 as an identity between two independent computations."""
    clf = LinearLatentClassifier([0.0, 2.0], 2.0 * s)
    eps = np.concatenate([[0.0, 1e-8, 1e-3], np.linspace(0.01, 12.0, 300)])
    bound = clf.bound().cdf(eps)
    exact = clf.exact_cdf(eps)
    assert np.allclose(bound, exact, rtol=1e-10, atol=1e-15)


@FAST
@given(st.floats(min_value=-5.0, max_value=5.0), radii(max_value=20.0))
def test_bound_equals_exact_cdf_property(s: float, eps: float) -> None:
    clf = LinearLatentClassifier([1.0], s)
    assert clf.bound().cdf(eps) == pytest.approx(clf.exact_cdf(eps), rel=1e-9, abs=1e-15)


def test_monte_carlo_matches_the_bound_and_rejects_a_wrong_one() -> None:
    rng = np.random.default_rng(2024)
    d, n = 5, 200_000
    w = rng.standard_normal(d)
    clf = LinearLatentClassifier(w, 1.0 * np.linalg.norm(w))  # offset s = 1
    r = clf.distance(rng.standard_normal((n, d)))
    band = dkw_band(n, alpha=1e-6)  # a false failure once in a million seeds
    assert ks_distance(r, clf.bound().cdf) < band
    # A bound that is wrong by a little is rejected by the same band:
    p0 = float(clf.class_probs[0])
    wrong_probs = ib.IsoperimetricBound([p0 + 0.03, 1 - p0 - 0.03])
    assert ks_distance(r, wrong_probs.cdf) > 2 * band
    stretched = clf.bound(ib.Lipschitz(1.05))  # claims 5% more robustness
    assert ks_distance(r, stretched.cdf) > 2 * band


def test_monte_carlo_in_image_space_with_an_exact_modulus() -> None:
    # g(z) = L Q z with Q orthogonal: omega = Lipschitz(L) is an equality.
    rng = np.random.default_rng(7)
    d, n, lip = 4, 100_000, 3.0
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    clf = LinearLatentClassifier(rng.standard_normal(d), -0.8)
    z = rng.standard_normal((n, d))
    x = lip * z @ q.T  # images
    # the image-space classifier is linear too: class 1 iff w.(Q^T x / L) >= c
    w_img = q @ clf.w / lip
    r_in = np.abs(x @ w_img - clf.c) / np.linalg.norm(w_img)
    assert np.allclose(r_in, lip * clf.distance(z))
    assert ks_distance(r_in, clf.bound(ib.Lipschitz(lip)).cdf) < dkw_band(n, 1e-6)


def test_audit_agrees_with_the_oracle() -> None:
    rng = np.random.default_rng(11)
    clf = LinearLatentClassifier.with_proportion(0.3, dim=8)
    r = clf.distance(rng.standard_normal((5000, 8)))
    # at 99.99% a false alarm has probability <= 1e-4 (at 99% this seed is
    # one of the 1% that alarm: the exact case sits on the boundary of H0)
    assert ib.audit_robustness(r, clf.bound(), confidence=0.9999).ok
    assert not ib.audit_robustness(1.15 * r, clf.bound(), confidence=0.9999).ok


# ===========================================================================
# SlabLatentClassifier: valid, and strictly not tight for K >= 3
# ===========================================================================


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (([0.0, 0.0], [0.0]), "direction"),
        (([1.0], []), "thresholds"),
        (([1.0], [0.5, 0.5]), "thresholds"),
        (([1.0], [0.5, -0.5]), "thresholds"),
        (([1.0], [0.0, float("inf")]), "thresholds"),
        (([1.0], ["a"]), "thresholds"),
    ],
)
def test_slab_validation(args: tuple[Any, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        SlabLatentClassifier(*args)


SLABS = [-1.1, 0.2, 0.5, 1.9]


def test_slab_exact_cdf_against_quadrature() -> None:
    clf = SlabLatentClassifier([1.0], SLABS)
    x = np.linspace(-12, 12, 2_400_001)
    dens = np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
    dist = clf.distance(x[:, None])
    for eps in [0.01, 0.1, 0.15, 0.3, 0.7, 2.0]:
        quad = float(np.sum(dens * (dist <= eps)) * (x[1] - x[0]))
        assert clf.exact_cdf(eps) == pytest.approx(quad, abs=1e-4)


def test_slab_monte_carlo_matches_exact_cdf() -> None:
    rng = np.random.default_rng(5)
    d, n = 3, 200_000
    clf = SlabLatentClassifier(rng.standard_normal(d), SLABS)
    z = rng.standard_normal((n, d))
    r = clf.distance(z)
    assert ks_distance(r, clf.exact_cdf) < dkw_band(n, 1e-6)
    freq = np.bincount(clf.predict(z), minlength=clf.n_classes) / n
    assert np.allclose(freq, clf.class_probs, atol=5 * math.sqrt(0.25 / n))
    # the bound is *not* the law of r here: Monte Carlo rejects equality
    assert ks_distance(r, clf.bound().cdf) > 2 * dkw_band(n, 1e-6)


def test_slab_bound_is_valid_and_strictly_below_for_middle_slabs() -> None:
    clf = SlabLatentClassifier([0.0, 1.0], SLABS)
    assert clf.n_classes == 5 and not clf.is_tight
    eps = np.geomspace(1e-6, 10.0, 400)
    bound = clf.bound().cdf(eps)
    exact = clf.exact_cdf(eps)
    assert np.all(bound < exact)  # strict at every eps > 0
    assert np.max(exact - bound) > 0.05  # and materially so


def test_two_class_slab_is_the_linear_classifier() -> None:
    slab = SlabLatentClassifier([3.0, 4.0], [0.35])
    lin = LinearLatentClassifier([3.0, 4.0], 0.35 * 5.0)
    assert slab.is_tight
    eps = np.linspace(0, 5, 51)
    assert np.allclose(slab.exact_cdf(eps), lin.exact_cdf(eps), rtol=1e-14, atol=1e-16)
    assert np.allclose(slab.bound().cdf(eps), slab.exact_cdf(eps), rtol=1e-10, atol=1e-15)
    z = np.random.default_rng(0).standard_normal((100, 2))
    assert np.array_equal(slab.predict(z), lin.predict(z))
    assert np.allclose(slab.distance(z), lin.distance(z))
