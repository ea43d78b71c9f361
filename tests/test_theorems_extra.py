"""Theorem functions: the premise-free transfer bound, Theorem 3's premise, the argument
order and its deprecation path, and the safe side of the closed forms near their zero."""

from __future__ import annotations

import inspect
import math
import warnings

import mpmath
import numpy as np
import pytest
from scipy import special as sc
from scipy import stats

import isobound as ib
from isobound import reference as ref

mpmath.mp.dps = 50
P3 = [0.5, 0.3, 0.2]


def mp(x: float) -> mpmath.mpf:
    return mpmath.mpf(float(x))


# --- transfer_bound against its twin ---------------------------------------------------

CLASSES = [
    P3,
    [0.1] * 10,
    [0.9, 0.07, 0.03],
    [1 - 1e-12, 1e-12],
    [0.25, 0.25, 0.25, 0.25],
    [0.6, 0.4],
    # a majority class beside repeated minority classes: 1 - p_i is the mass of the others,
    # counted with their multiplicities
    [0.7, 0.1, 0.1, 0.1],
    [1 - 3e-12, 1e-12, 1e-12, 1e-12],
]


@pytest.mark.parametrize("probs", CLASSES)
@pytest.mark.parametrize("delta", [0.0, 1e-9, 0.01, 0.2, 0.45, 0.7, 1.0])
def test_transfer_bound_against_the_twin(probs: list[float], delta: float) -> None:
    eta = np.array([1e-8, 0.01, 0.3, 1.0, 2.5, 6.0, 15.0])
    got = ib.transfer_bound(eta, probs, delta)
    for e, g in zip(eta.tolist(), got.tolist(), strict=True):
        exact = ref.transfer_bound(e, probs, delta)
        assert mp(g) <= exact, (e, g, exact)
        # the terms m_i - delta cancel for large delta: their errors count against each m_i
        slack = mpmath.mpf(1e-13) * (3 * exact + (1 + 10 * len(probs)) * delta)
        assert mp(g) >= exact - slack - mpmath.mpf(1e-300), (e, g, exact)
        assert mp(g) >= exact * (1 - mpmath.mpf(3e-13)) or delta > 0, (e, g, exact)


def test_transfer_bound_through_a_modulus_and_a_failure_probability() -> None:
    omega = ib.Holder(2.0, 0.5, failure_prob=0.02)
    exact_inv = ref.ExactModulus(omega).inverse
    for e in (0.1, 1.0, 3.0, 9.0):
        got = ib.transfer_bound(e, P3, 0.05, omega=omega)
        exact = ref.transfer_bound(e, P3, 0.05, omega_inverse=exact_inv, failure_prob=0.02)
        assert mp(got) <= exact and mp(got) >= exact - mpmath.mpf(1e-13)
    assert ib.transfer_bound(1e6, P3, 0.05, omega=omega) <= 1 - 0.05 - 0.02


def test_transfer_bound_with_no_disagreement_is_theorem1() -> None:
    eta = np.geomspace(1e-6, 20, 40)
    for probs in CLASSES:
        np.testing.assert_allclose(ib.transfer_bound(eta, probs, 0.0), ib.theorem1(eta, probs), rtol=3e-13, atol=1e-300)


def test_transfer_bound_uses_the_smaller_of_each_class_and_its_tail() -> None:
    # at a small radius the tail term exceeds p_i for every class: without min(p_i, .)
    # the bound would be 1 - delta - sum(p_i + delta)-ish < 0 everywhere; with it the
    # classes whose threshold moved little still contribute their tail
    probs = [0.5, 0.3, 0.2]
    for e in (0.0, 1e-3):
        want = ref.transfer_bound(e, probs, 0.1)
        assert want == 0 and ib.transfer_bound(e, probs, 0.1) == 0.0
    # empty classes drop out instead of each costing Phibar(Phi^-1(1 - delta) + eps)
    with_empty = ib.transfer_bound(2.0, [0.5, 0.5] + [0.0] * 20, 0.05)
    assert with_empty == ib.transfer_bound(2.0, [0.5, 0.5], 0.05)
    assert with_empty > 0.8


def test_transfer_bound_is_above_eq6_when_the_premise_holds() -> None:
    # not a theorem we rely on, a comparison we report: where Eq. (6) applies, the
    # premise-free bound is the larger (tighter) of the two in these settings
    for probs in ([0.25] * 4, [0.1] * 10, [0.4, 0.3, 0.3]):
        for d in (0.0, 0.01, 0.1):
            eta = np.array([0.8, 1.5, 3.0, 6.0])
            assert np.all(ib.transfer_bound(eta, probs, d) >= ib.theorem3(eta, d, class_probs=probs))


def test_transfer_bound_validation_and_conventions() -> None:
    for bad in (-0.1, 1.5, math.nan, math.inf):
        with pytest.raises(ValueError, match="delta"):
            ib.transfer_bound(1.0, P3, bad)
    with pytest.raises(TypeError, match="delta"):
        ib.transfer_bound(1.0, P3, "0.1")
    with pytest.raises(ValueError, match="class_probs must sum to 1"):
        ib.transfer_bound(1.0, [0.5, 0.6], 0.1)
    with pytest.raises(TypeError, match="omega must be an isobound Modulus"):
        ib.transfer_bound(1.0, P3, 0.1, omega=lambda t: t)
    assert ib.transfer_bound(-1.0, P3, 0.1) == 0.0
    assert math.isnan(ib.transfer_bound(math.nan, P3, 0.1))
    assert ib.transfer_bound(math.inf, P3, 0.1) == pytest.approx(0.9, rel=1e-14)
    assert isinstance(ib.transfer_bound(1.0, P3, 0.1), float)
    assert ib.transfer_bound(np.ones((2, 3)), P3, 0.1).shape == (2, 3)
    with pytest.raises(TypeError):
        ib.transfer_bound(1.0, P3, 0.1, ib.Lipschitz(2.0))  # omega is keyword-only


# --- Monte-Carlo oracle: two half-space classifiers -------------------------------------


def transfer_distance(z: np.ndarray, u1: np.ndarray, s1: float, u2: np.ndarray, s2: float) -> np.ndarray:
    """Exact distance from each z to the set where both half-space classifiers change.

    That set is the intersection of two half-spaces; the nearest point is the
    projection on one boundary (if it lies in the other half-space) or on both.
    """
    a1, a2 = z @ u1 - s1, z @ u2 - s2
    g1, g2 = np.where(a1 >= 0, 1.0, -1.0), np.where(a2 >= 0, 1.0, -1.0)
    n1, n2 = g1[:, None] * u1, g2[:, None] * u2
    r1, r2 = np.abs(a1), np.abs(a2)
    best = np.full(z.shape[0], np.inf)
    for r, n, other_n, other_b in ((r1, n1, n2, g2 * s2), (r2, n2, n1, g1 * s1)):
        foot = z - r[:, None] * n
        ok = np.einsum("ij,ij->i", other_n, foot) <= other_b + 1e-12
        best = np.where(ok, np.minimum(best, r), best)
    c = np.einsum("ij,ij->i", n1, n2)
    det = 1 - c * c
    with np.errstate(divide="ignore", invalid="ignore"):
        l1, l2 = (r1 - c * r2) / det, (r2 - c * r1) / det
    ok = (l1 >= 0) & (l2 >= 0) & (det > 1e-12)
    both = np.sqrt(np.maximum(l1 * r1 + l2 * r2, 0.0))
    return np.where(ok, np.minimum(best, both), best)


def half_space_disagreement(u1: np.ndarray, s1: float, u2: np.ndarray, s2: float) -> float:
    """P(1[u1.z >= s1] != 1[u2.z >= s2]) for z ~ N(0, I), by the bivariate normal cdf."""
    rho = float(u1 @ u2)
    both = stats.multivariate_normal(mean=[0, 0], cov=[[1, rho], [rho, 1]]).cdf([-s1, -s2])
    return float(sc.ndtr(-s1) + sc.ndtr(-s2) - 2 * both)


def test_transfer_bound_holds_for_two_linear_classifiers_by_monte_carlo() -> None:
    rng = np.random.default_rng(2024)
    n, lip = 200_000, 3.0
    u1 = np.array([1.0, 0.0])
    u2 = np.array([math.cos(0.35), math.sin(0.35)])
    s1, s2 = 0.2, 0.3
    z = rng.standard_normal((n, 2))
    # the distance check: stepping 1e-9 short of it never changes both labels
    r = transfer_distance(z, u1, s1, u2, s2)
    f, h = z @ u1 >= s1, z @ u2 >= s2
    delta = half_space_disagreement(u1, s1, u2, s2) + 1e-4  # an upper bound on P(f != h)
    assert abs(np.mean(f != h) - delta) < 0.01
    # images g(z) = 3 z: image radius eta is latent radius eta / 3, omega = Lipschitz(3) exactly
    x = np.sort(lip * r)
    eta = np.linspace(0.0, 12.0, 400)
    frac = np.searchsorted(x, eta, side="right") / n
    band = math.sqrt(math.log(2 / 1e-6) / (2 * n))  # DKW: a false failure once in 1e6 seeds
    p = [float(sc.ndtr(s1)), float(sc.ndtr(-s1))]
    bound = ib.transfer_bound(eta, p, delta, omega=ib.Lipschitz(lip))
    assert np.max(bound - frac) <= band
    assert np.max(bound) > 0.8  # and it says something
    # the oracle has power: a bound that ignores the disagreement, or only subtracts it,
    # claims more than the measured probability
    assert np.max(ib.theorem1(eta, p, omega=ib.Lipschitz(lip)) - frac) > 10 * band
    assert np.max(ib.transfer_bound(eta, p, 0.0, omega=ib.Lipschitz(lip)) - delta - frac) > 5 * band


def test_transfer_distance_of_identical_classifiers_is_theorem1() -> None:
    # f = h: the transfer event is f's own robustness, where Eq. (2) is an equality
    rng = np.random.default_rng(5)
    n = 100_000
    u = np.array([0.6, 0.8])
    z = rng.standard_normal((n, 2))
    r = np.sort(transfer_distance(z, u, 0.4, u, 0.4))
    np.testing.assert_allclose(r, np.sort(np.abs(z @ u - 0.4)), rtol=1e-12)
    eps = np.linspace(0, 4, 200)
    frac = np.searchsorted(r, eps, side="right") / n
    p = [float(sc.ndtr(0.4)), float(sc.ndtr(-0.4))]
    band = math.sqrt(math.log(2 / 1e-6) / (2 * n))
    assert np.max(np.abs(ib.transfer_bound(eps, p, 0.0) - frac)) < band


# --- Theorem 3's premise ----------------------------------------------------------------


def test_theorem3_rejects_what_its_premise_rules_out() -> None:
    with pytest.raises(ValueError, match=r"delta <= 1/2.*transfer_bound"):
        ib.theorem3(3.0, 0.6)
    assert ib.theorem3(3.0, 0.5) == 0.0  # the boundary is allowed (and says nothing)
    with pytest.raises(ValueError, match=r"largest class has 0\.5 and delta=0\.01.*transfer_bound"):
        ib.theorem3(3.0, 0.01, class_probs=P3)
    # the boundary case P(C_i) + delta = 1/2 exactly is allowed
    assert ib.theorem3(3.0, 0.25, class_probs=[0.25] * 4) == pytest.approx(
        float(ref.theorem3(3.0, 0.25)), abs=5e-14
    )
    with pytest.raises(ValueError, match="class_probs must sum to 1"):
        ib.theorem3(3.0, 0.01, class_probs=[0.2, 0.2])


def test_eq3_boundary_probability_exactly_one_half() -> None:
    # Eq. (3) needs p_i <= 1/2: exactly 1/2 is allowed, one ulp above is not
    assert ib.theorem1_balanced(2.0, class_probs=[0.5, 0.5]) == ib.theorem1_balanced(2.0)
    assert ib.theorem1_balanced(2.0, class_probs=[0.5, 0.25, 0.25]) > 0
    above = float(np.nextafter(0.5, 1.0))
    with pytest.raises(ValueError, match=r"<= 1/2"):
        ib.theorem1_balanced(2.0, class_probs=[above, 1 - above])


def test_holder_exponent_exactly_one_is_concave() -> None:
    assert ib.Holder(2.0, 1.0).is_concave
    assert not ib.Holder(2.0, float(np.nextafter(1.0, 2.0))).is_concave
    assert ib.theorem4(P3, omega=ib.Holder(2.0, 1.0)) == pytest.approx(
        ib.theorem4(P3, omega=ib.Lipschitz(2.0)), rel=1e-13
    )
    with pytest.raises(ValueError, match=r"exponent=1\.0000000000000002"):
        ib.theorem4(P3, omega=ib.Holder(2.0, float(np.nextafter(1.0, 2.0))))


# --- the closed forms stay below their exact values near zero --------------------------


def test_eq3_eq4_eq6_stay_below_the_twin_near_their_zero_crossing() -> None:
    # Eq. (3) crosses 0 at eps0 = sqrt(log(pi/2)); there the two terms of its exponent
    # cancel, and a relative margin alone left it up to 6.5e-8 (relative) too high
    eps0 = float(mpmath.sqrt(mpmath.log(mpmath.pi / 2)))
    eps = eps0 * (1 + np.geomspace(1e-12, 1e-2, 60))
    for got, exact in (
        (ib.theorem1_balanced(eps), lambda e: ref.theorem1_balanced(e)),
        (ib.theorem3(eps, 0.0), lambda e: ref.theorem3(e, 0)),
    ):
        for e, g in zip(eps.tolist(), got.tolist(), strict=True):
            assert mp(g) <= exact(e), e
    # Eq. (4) crosses 0 where eps^2/2 + eps * rate = log(sqrt(pi/2))
    for k in (5, 10, 1000, 10**9):
        rate = float(mpmath.sqrt(mpmath.log(mpmath.mpf(k) ** 2 / (4 * mpmath.pi * mpmath.log(k)))))
        c = float(mpmath.log(mpmath.sqrt(mpmath.pi / 2)))
        root = -rate + math.sqrt(rate * rate + 2 * c)
        eps = root * (1 + np.geomspace(1e-12, 1e-2, 30))
        for e, g in zip(eps.tolist(), ib.theorem1_equiprobable(eps, k).tolist(), strict=True):
            assert mp(g) <= ref.theorem1_equiprobable(e, k), (k, e)


# --- one argument order, the old one deprecated ----------------------------------------


NEW_AND_OLD = [
    (lambda: ib.theorem1(0.5, P3, omega=ib.Lipschitz(2.0)), lambda: ib.theorem1(0.5, P3, ib.Lipschitz(2.0))),
    (lambda: ib.theorem1_balanced(2.0, omega=ib.Lipschitz(0.5)), lambda: ib.theorem1_balanced(2.0, ib.Lipschitz(0.5))),
    (
        lambda: ib.theorem1_equiprobable(2.0, 10, omega=ib.Lipschitz(0.5)),
        lambda: ib.theorem1_equiprobable(2.0, 10, ib.Lipschitz(0.5)),
    ),
    (lambda: ib.theorem3(2.0, 0.01, omega=ib.Lipschitz(0.5)), lambda: ib.theorem3(2.0, 0.01, ib.Lipschitz(0.5))),
    (lambda: ib.theorem4(P3, omega=ib.Lipschitz(2.0)), lambda: ib.theorem4(P3, ib.Lipschitz(2.0))),
    (
        lambda: ib.theorem4(P3, omega=ib.Lipschitz(2.0), delta=0.1),
        lambda: ib.theorem4(P3, ib.Lipschitz(2.0), 0.1),
    ),
    (
        lambda: ib.theorem4_equiprobable(10, omega=ib.Lipschitz(2.0), delta=0.1),
        lambda: ib.theorem4_equiprobable(10, ib.Lipschitz(2.0), 0.1),
    ),
    (lambda: ib.theorem4_equiprobable(10, omega=None), lambda: ib.theorem4_equiprobable(10, None)),
]


@pytest.mark.parametrize(("new", "old"), NEW_AND_OLD)
def test_old_positional_order_still_works_with_a_deprecation_warning(new, old) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        expected = new()  # the keyword form warns about nothing
    with pytest.warns(DeprecationWarning, match=r"by position is deprecated.*omega=\.\.\."):
        assert old() == expected


def test_signatures_follow_one_rule() -> None:
    # math arguments positional, in the order eta, class description, theorem parameter;
    # everything with a default keyword-only
    expected = {
        ib.theorem1: ["eta", "class_probs"],
        ib.theorem1_balanced: ["eta"],
        ib.theorem1_equiprobable: ["eta", "n_classes"],
        ib.theorem3: ["eta", "delta"],
        ib.transfer_bound: ["eta", "class_probs", "delta"],
        ib.theorem4: ["class_probs"],
        ib.theorem4_equiprobable: ["n_classes"],
    }
    for fn, positional in expected.items():
        params = inspect.signature(fn).parameters.values()
        pos = [p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD]
        assert pos == positional, fn.__name__
        for p in params:
            assert (p.default is p.empty) == (p.kind is p.POSITIONAL_OR_KEYWORD), (fn.__name__, p.name)
        assert "omega" in [p.name for p in params if p.kind is p.KEYWORD_ONLY]


def test_deprecation_warning_points_at_the_callers_line() -> None:
    # stacklevel: the warning names the line that passed omega by position, not the wrapper
    with pytest.warns(DeprecationWarning) as record:
        ib.theorem1(0.5, P3, ib.Lipschitz(2.0))
    assert record[0].filename == __file__


def test_deprecated_positional_options_are_checked() -> None:
    with pytest.raises(TypeError, match="multiple values for argument 'omega'"):
        ib.theorem1(0.5, P3, ib.Lipschitz(2.0), omega=ib.Lipschitz(2.0))
    with pytest.raises(TypeError, match="takes 2 positional arguments"):
        ib.theorem1(0.5, P3, ib.Lipschitz(2.0), 4.0)


def test_transfer_bound_for_a_single_class_is_zero() -> None:
    # one class: no perturbation changes f, so nothing can fool both classifiers
    assert ib.transfer_bound(np.array([0.5, 3.0, math.inf]), [1.0], 0.0).tolist() == [0.0, 0.0, 0.0]
