"""Checks of the mpmath twin ``isobound.reference`` on its own.

Nothing here calls the fast core: these tests establish that the yardstick
is right (identities, the paper's numbers, independent formulas, agreement
between precisions) before test_accuracy.py measures the core against it.
"""

from __future__ import annotations

import itertools
import math

import mpmath
import pytest

from isobound import reference as ref

mpf = mpmath.mpf
P3 = [0.5, 0.3, 0.2]
MAJORITY = [1 - 2**-40, 2**-40]


@pytest.fixture(autouse=True)
def _high_precision():
    """Do the tests' own arithmetic at 100 digits (the reference sets its own)."""
    with mpmath.workdps(100):
        yield


def rel(a: object, b: object) -> mpmath.mpf:
    """|a - b| / |b| in mpmath, exact enough for 50-digit comparisons."""
    with mpmath.workdps(80):
        a, b = mpf(a), mpf(b)
        if b == 0:
            return abs(a)
        return abs(a - b) / abs(b)


# --- B is a distribution -----------------------------------------------------


@pytest.mark.parametrize("probs", [P3, MAJORITY, [0.1] * 10, [1e-300, 1.0]])
def test_cdf_is_zero_at_zero_and_one_far_out(probs):
    assert ref.cdf(0, probs) == 0
    assert ref.sf(0, probs) == 1
    assert ref.logcdf(0, probs) == mpmath.ninf
    # at eps = 200 the tail is below 1e-600 (b_i <= 37.5 here): cdf is 1 to all 50 digits
    assert rel(ref.cdf(200, probs), 1) < mpf(10) ** -49
    assert 0 < ref.sf(200, probs) < mpf(10) ** -600


@pytest.mark.parametrize("probs", [P3, MAJORITY, [0.1] * 10, [0.7, 0.2, 0.1]])
@pytest.mark.parametrize("eps", [1e-300, 1e-20, 1e-3, 0.4, 1.0, 3.0, 9.0])
def test_cdf_plus_sf_is_one_to_50_digits(probs, eps):
    # cdf comes from interval masses and sf from a sum of tails: two different formulas
    with mpmath.workdps(60):
        total = ref.cdf(eps, probs) + ref.sf(eps, probs)
    assert abs(total - 1) < mpf(10) ** -49


@pytest.mark.parametrize("probs", [P3, MAJORITY, [0.1] * 10])
def test_cdf_is_non_decreasing(probs):
    grid = [0, 1e-200, 1e-10, 0.01, 0.1, 0.5, 1, 2, 4, 8, 16]
    values = [ref.cdf(e, probs, dps=20) for e in grid]
    assert all(a < b for a, b in itertools.pairwise(values))


@pytest.mark.parametrize(
    ("probs", "counts", "log_probs"),
    [
        (P3, None, None),
        (MAJORITY, None, None),
        ([1.0], [10**15], None),
        (None, None, [0.0, -1e4, -5000.0]),
    ],
)
@pytest.mark.parametrize("q", ["1e-300", 1e-12, 0.25, 0.5, 0.75, 0.99])
def test_ppf_inverts_cdf(probs, counts, log_probs, q):
    e = ref.ppf(q, probs, counts, log_probs=log_probs, dps=50)
    back = ref.cdf(e, probs, counts, log_probs=log_probs, dps=60)
    assert rel(back, mpf(q)) < mpf(10) ** -45


@pytest.mark.parametrize(("probs", "counts"), [(P3, None), (MAJORITY, None), ([1.0], [10**15])])
@pytest.mark.parametrize("p", ["1e-300", 1e-12, 0.25, 0.5, 0.9])
def test_isf_inverts_sf(probs, counts, p):
    e = ref.isf(p, probs, counts)
    assert rel(ref.sf(e, probs, counts, dps=60), mpf(p)) < mpf(10) ** -45


@pytest.mark.parametrize("eps", [1e-250, 1e-20, 0.3, 2.0, 12.0])
def test_log_versions_are_logs(eps):
    # at 100 digits, where log(1 - tiny) keeps 50 digits for tiny > 1e-40
    assert rel(ref.logcdf(eps, P3), mpmath.log(ref.cdf(eps, P3, dps=100))) < mpf(10) ** -48
    if eps > 1e-40:
        assert rel(ref.logsf(eps, P3), mpmath.log(ref.sf(eps, P3, dps=100))) < mpf(10) ** -48


@pytest.mark.parametrize("eps", [1e-300, 1e-100, 50.0])
def test_log_versions_keep_digits_next_to_one(eps):
    # log(1 - x) = -x (1 + x/2 + ...): with x below 1e-60 the first term is all 50 digits
    if eps < 1:
        assert rel(ref.logsf(eps, P3), -ref.cdf(eps, P3)) < mpf(10) ** -49
    else:
        assert rel(ref.logcdf(eps, P3), -ref.sf(eps, P3)) < mpf(10) ** -49


@pytest.mark.parametrize("probs", [P3, MAJORITY, [1.0], [0.1] * 10])
@pytest.mark.parametrize("eps", [1e-3, 0.3, 2.5, 8.0])
def test_pdf_is_the_derivative_of_cdf(probs, eps):
    # central difference at 80 digits with h = 1e-25: truncation ~1e-50, rounding ~1e-55
    h = mpf("1e-25")
    with mpmath.workdps(80):
        e = mpf(eps)
        if eps < 1:
            diff = (ref.cdf(e + h, probs, dps=80) - ref.cdf(e - h, probs, dps=80)) / (2 * h)
        else:  # cdf is close to 1 there: difference the small tail instead
            diff = (ref.sf(e - h, probs, dps=80) - ref.sf(e + h, probs, dps=80)) / (2 * h)
    assert abs(diff - ref.pdf(eps, probs)) <= mpf(10) ** -40 * max(abs(diff), mpf(1e-300))


# --- the exactly solvable case and symmetries ---------------------------------


@pytest.mark.parametrize("eps", [1e-300, 1e-17, 0.1, 1.0, 5.0, 30.0])
def test_two_half_spaces_are_exact(eps):
    # K = 2, p = (1/2, 1/2): b = 0 for both and B(eps) = 2 (Phi(eps) - 1/2) = erf(eps / sqrt 2)
    with mpmath.workdps(400):
        expected = mpmath.erf(mpf(eps) / mpmath.sqrt(2))
        tail = mpmath.erfc(mpf(eps) / mpmath.sqrt(2))
    assert rel(ref.cdf(eps, [0.5, 0.5]), expected) < mpf(10) ** -49
    assert rel(ref.sf(eps, [0.5, 0.5]), tail) < mpf(10) ** -49


def test_counts_equal_repeated_entries():
    for eps in [1e-30, 0.2, 1.5, 7.0]:
        a = ref.cdf(eps, [0.2, 0.1], counts=[3, 4])
        b = ref.cdf(eps, [0.2] * 3 + [0.1] * 4)
        assert rel(a, b) < mpf(10) ** -48
    assert rel(ref.mean([1], counts=[7]), ref.mean([1.0 / 7] * 7)) < mpf(10) ** -48


def test_order_of_classes_does_not_matter():
    for eps in [1e-8, 0.7, 4.0]:
        assert rel(ref.cdf(eps, [0.2, 0.5, 0.3]), ref.cdf(eps, P3)) < mpf(10) ** -48
    assert rel(ref.ppf(0.3, [0.2, 0.5, 0.3]), ref.ppf(0.3, P3)) < mpf(10) ** -48


def test_equiprobable_thresholds_are_the_normal_quantile():
    for k in [2, 10, 10**6, 10**15]:
        (b,) = ref.thresholds([1], counts=[k])
        with mpmath.workdps(70):
            assert rel(mpmath.ncdf(b), mpf(1) / k) < mpf(10) ** -48


def test_majority_class_threshold_mirrors_the_rest():
    # p = (1 - 2^-40, 2^-40): b_major = -Phi^{-1}(2^-40) = -b_minor, to every digit
    b_major, b_minor = ref.thresholds(MAJORITY)
    assert b_major > 7
    assert rel(b_major, -b_minor) < mpf(10) ** -49


def test_normalisation_is_exact():
    a = ref.cdf(0.5, [5, 3, 2])
    b = ref.cdf(0.5, ["0.5", "0.3", "0.2"])
    assert rel(a, b) < mpf(10) ** -49


def test_log_probs_agree_with_probs():
    lp = [math.log(0.5), math.log(0.3), math.log(0.2)]
    for eps in [1e-40, 0.5, 3.0]:
        a = ref.cdf(eps, log_probs=lp)
        b = ref.cdf(eps, ["0.5", "0.3", "0.2"])
        # the float logs carry ~1e-16 relative error: the values agree to that
        assert rel(a, b) < 1e-15


def test_log_probs_far_below_float_range():
    # a class of probability e^-10000: b ~ -141.38 and its own interval
    (b,) = [t for t in ref.thresholds(log_probs=[0.0, -1e4]) if t < 0]
    with mpmath.workdps(80):
        assert rel(mpmath.log(mpmath.ncdf(b)), -10000) < mpf(10) ** -48
    assert rel(b, ref.ndtri_log(-1e4)) < mpf(10) ** -48


def test_single_class_is_degenerate():
    assert ref.cdf(5.0, [1.0]) == 0
    assert ref.sf(5.0, [1.0]) == 1
    assert ref.ppf(0.5, [1.0]) == mpmath.inf
    assert ref.isf(0.5, [1.0]) == mpmath.inf
    assert ref.mean([1.0]) == mpmath.inf


def test_empty_classes_are_ignored():
    assert rel(ref.cdf(0.8, [0.5, 0.0, 0.5]), ref.cdf(0.8, [0.5, 0.5])) < mpf(10) ** -49


# --- precision: the result does not depend on dps beyond its own digits --------


@pytest.mark.parametrize(
    ("func", "arg", "kwargs"),
    [
        (ref.cdf, 1e-300, {"class_probs": P3}),
        (ref.cdf, 1e-300, {"class_probs": MAJORITY}),
        (ref.cdf, 0.01, {"log_probs": [0.0, -1e4]}),
        (ref.cdf, 2.0, {"class_probs": [1.0], "counts": [10**15]}),
        (ref.logsf, 1e3, {"class_probs": P3}),
        (ref.ppf, 1e-300, {"class_probs": MAJORITY}),
        (ref.ppf, 0.99, {"class_probs": [1.0], "counts": [10**15]}),
        (ref.isf, 1e-300, {"class_probs": P3}),
        (ref.isf, 0.999, {"class_probs": P3}),
        (ref.normal_loss, 1e4, {}),
        (ref.expected_gaussian_norm, 1e15, {}),
    ],
)
def test_50_digits_agree_with_90_digits(func, arg, kwargs):
    assert rel(func(arg, dps=50, **kwargs), func(arg, dps=90, **kwargs)) < mpf(10) ** -49


@pytest.fixture(scope="module", autouse=True)
def _fallbacks_before_this_module():
    """How many bisection fallbacks other test files had caused before this one ran."""
    return len(ref._FALLBACKS)


def test_root_finder_never_fell_back_to_bisection(_fallbacks_before_this_module):
    # run after the round trips above; the fallback is a safety net, not the method.
    # Only this file's calls are checked: tests in other files reach farther regions,
    # where the safety net (bisection, slower but exact) may be used.
    ref.ppf(1e-300, P3)
    ref.isf(1e-300, [1.0], counts=[10**15])
    assert ref._FALLBACKS[_fallbacks_before_this_module:] == []


# --- the paper's numbers --------------------------------------------------------


def test_tables_z_space_upper_bound():
    eps = ref.ppf(0.25, [1], counts=[10])
    assert round(float(eps), 6) == 0.15798
    assert abs(eps - mpf("0.157980")) < 5e-7
    norm = ref.expected_gaussian_norm(100)
    # a value often quoted as 9.97497 is off in the fifth digit: sqrt(2) Gamma(50.5) / Gamma(50) is 9.975031...
    assert abs(norm - mpf("9.97503")) < 5e-6
    assert abs(eps / norm - mpf("0.015838")) < 5e-7


@pytest.mark.parametrize(
    ("k", "median"), [(2, "0.674490"), (10, "0.363302"), (100, "0.249481"), (1000, "0.200294")]
)
def test_figure2_medians(k, median):
    assert abs(ref.median([1], counts=[k]) - mpf(median)) < 5e-7


def test_figure2_two_classes_is_the_normal_quartile():
    # K = 2 halves: B(eps) = 2 Phi(eps) - 1 = 1/2 at eps = Phi^{-1}(3/4)
    assert rel(ref.median([0.5, 0.5]), ref.ndtri(0.75)) < mpf(10) ** -48


@pytest.mark.parametrize(("k", "value"), [(5, "0.558"), (10, "0.473"), (100, "0.339")])
def test_theorem4_exact_sums(k, value):
    assert abs(ref.mean([1], counts=[k]) - mpf(value)) < 5e-4


def test_theorem4_closed_form_is_looser_than_the_exact_sum():
    assert abs(ref.theorem4_equiprobable_closed(10) - mpf("1.568")) < 5e-4
    for k in [5, 10, 100, 10**4, 10**15]:
        assert ref.theorem4_equiprobable_closed(k) > ref.mean([1], counts=[k])


def test_eq3_fails_with_a_majority_class():
    # p = (0.9, 0.1), eps = 3: the exact tail 1 - B is 0.0429; Eq. (3) would claim 0.0139
    tail = ref.sf(3.0, [0.9, 0.1])
    claimed = 1 - ref.theorem1_balanced(3.0)
    assert abs(tail - mpf("0.0429")) < 5e-5
    assert abs(claimed - mpf("0.0139")) < 5e-5
    assert tail > claimed


@pytest.mark.parametrize("probs", [[0.5, 0.5], P3, [0.45, 0.45, 0.1], [0.1] * 10])
def test_eq3_holds_without_a_majority_class(probs):
    for eps in [0.001, 0.1, 0.5, 1.0, 2.0, 3.0, 6.0]:
        exact = ref.cdf(eps, probs, dps=20)
        assert ref.theorem1_balanced(eps, dps=20) <= exact
        # the sharper lemma: the constant sqrt(pi/2) can be 1 when every p_i <= 1/2
        assert ref.sf(eps, probs, dps=20) <= mpmath.exp(-(mpf(eps) ** 2) / 2)


@pytest.mark.parametrize("k", [5, 6, 10, 100, 10**6, 10**15])
def test_eq4_is_below_the_exact_bound(k):
    for eps in [0.01, 0.1, 0.3, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0]:
        assert ref.theorem1_equiprobable(eps, k, dps=30) <= ref.cdf(eps, [1], counts=[k], dps=30)


def test_closed_forms_by_hand():
    with mpmath.workdps(60):
        s = mpmath.sqrt(mpmath.pi / 2)
        e = mpf(2)
        assert rel(ref.theorem1_balanced(2.0), 1 - s * mpmath.exp(-2)) < mpf(10) ** -49
        assert rel(ref.theorem3(2.0, 0.01), 1 - s * mpmath.exp(-2) - mpf(0.01) * 2) < mpf(10) ** -49
        r = mpmath.sqrt(mpmath.log(100 / (4 * mpmath.pi * mpmath.log(10))))
        expected = 1 - s * mpmath.exp(-e * e / 2) * mpmath.exp(-e * r)
        assert rel(ref.theorem1_equiprobable(2.0, 10), expected) < mpf(10) ** -49
    # negative values are clipped to 0: the bound then says nothing
    assert ref.theorem1_balanced(0.1) == 0
    assert ref.theorem3(3.0, 0.5) == 0
    assert ref.theorem1_equiprobable(1e-3, 5) == 0


# --- building blocks against independent formulas ------------------------------


@pytest.mark.parametrize("a", [-40.0, -3.0, 0.0, 0.5, 2.0, 8.0])
def test_normal_loss_is_the_integral_of_the_tail(a):
    # L(a) = E[(Z - a)_+] = integral_a^inf (1 - Phi(t)) dt
    with mpmath.workdps(60):
        integral = mpmath.quad(
            lambda t: mpmath.ncdf(-t),
            [*sorted({a, a + 1, 0.0, 5.0, 10.0} - {x for x in (0.0, 5.0) if x < a}), mpmath.inf],
        )
    assert rel(ref.normal_loss(a), integral) < mpf(10) ** -45


@pytest.mark.parametrize("a", [0.3, 5.0, 40.0, 1e4])
def test_normal_loss_reflection(a):
    # L(-a) - L(a) = a for every a
    with mpmath.workdps(70):
        assert rel(ref.normal_loss(-a, dps=70) - ref.normal_loss(a, dps=70), a) < mpf(10) ** -60


def test_normal_loss_asymptotics():
    # L(a) = phi(a)/a^2 (1 - 3/a^2 + 15/a^4 - 105/a^6 + ...)
    with mpmath.workdps(70):
        a = mpf(10) ** 4
        series = mpmath.npdf(a) / a**2 * (1 - 3 / a**2 + 15 / a**4 - 105 / a**6 + 945 / a**8)
    assert rel(ref.normal_loss(1e4), series) < mpf(10) ** -35


@pytest.mark.parametrize("d", [1, 2, 3, 100, 12345])
def test_expected_norm_against_gamma_and_chi_integral(d):
    with mpmath.workdps(60):
        direct = mpmath.sqrt(2) * mpmath.gamma(mpf(d + 1) / 2) / mpmath.gamma(mpf(d) / 2)
    assert rel(ref.expected_gaussian_norm(d), direct) < mpf(10) ** -48
    if d <= 100:  # the chi density integrated numerically
        with mpmath.workdps(40):
            c = mpf(2) ** (1 - mpf(d) / 2) / mpmath.gamma(mpf(d) / 2)
            chi = mpmath.quad(
                lambda r: r * c * r ** (d - 1) * mpmath.exp(-r * r / 2), [0, 10, 20, mpmath.inf]
            )
        assert rel(ref.expected_gaussian_norm(d), chi) < mpf(10) ** -30


def test_expected_norm_for_huge_dimension():
    # sqrt(d) (1 - 1/(4d) + 1/(32 d^2) + 5/(128 d^3) - ...)
    with mpmath.workdps(80):
        d = mpf(10) ** 15
        series = mpmath.sqrt(d) * (1 - 1 / (4 * d) + 1 / (32 * d**2) + 5 / (128 * d**3))
    assert rel(ref.expected_gaussian_norm(10**15), series) < mpf(10) ** -49


def test_ndtri_round_trips():
    for p in ["1e-300", 1e-10, 0.3, 0.5, 0.8, 1 - 2**-40]:
        x = ref.ndtri(p, dps=50)
        with mpmath.workdps(70):
            back = mpmath.ncdf(x) if mpf(p) <= 0.5 else 1 - mpmath.ncdf(-x)
        assert rel(back, mpf(p)) < mpf(10) ** -45
    assert ref.ndtri(0) == mpmath.ninf
    assert ref.ndtri(1) == mpmath.inf
    assert rel(ref.ndtri_log(math.log(0.8)), ref.ndtri(0.8)) < 1e-15


# --- image space and means -------------------------------------------------------


def test_omega_inverse_is_applied_to_the_radius():
    inv = lambda eta: eta / 2  # Lipschitz(2)
    for eta in [1e-100, 0.3, 4.0]:
        assert ref.cdf(eta, P3, omega_inverse=inv) == ref.cdf(mpf(eta) / 2, P3)
        assert ref.sf(eta, P3, omega_inverse=inv) == ref.sf(mpf(eta) / 2, P3)
    assert rel(ref.ppf(0.3, P3, omega=lambda t: 2 * t), 2 * ref.ppf(0.3, P3)) < mpf(10) ** -49
    assert rel(ref.isf(0.3, P3, omega=lambda t: 2 * t), 2 * ref.isf(0.3, P3)) < mpf(10) ** -49


@pytest.mark.parametrize("probs", [P3, [0.1] * 10, MAJORITY])
def test_mean_by_quadrature_matches_the_closed_form(probs):
    closed = ref.mean(probs)
    assert rel(ref.mean(probs, omega=lambda t: t), closed) < mpf(10) ** -40
    assert rel(ref.mean(probs, omega=lambda t: 3 * t + 1), 3 * closed + 1) < mpf(10) ** -40


def test_mean_of_concave_modulus_obeys_jensen():
    closed = ref.mean(P3)
    root = ref.mean(P3, omega=mpmath.sqrt)
    assert root < mpmath.sqrt(closed)


# --- validation and conventions ------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"class_probs": [0.5, -0.1, 0.6]}, r"class_probs\[1\]=-0\.1"),
        ({"class_probs": [0.5, float("nan")]}, r"class_probs\[1\]=nan"),
        ({"class_probs": [0.5, float("inf")]}, r"class_probs\[1\]=inf"),
        ({"class_probs": [0.0, 0.0]}, "positive total"),
        ({"class_probs": []}, "non-empty"),
        ({"class_probs": ["x", 0.5]}, r"class_probs\[0\]='x'"),
        ({"class_probs": 0.5}, "sequence"),
        ({"log_probs": [0.5, -1.0]}, r"log_probs\[0\]=0\.5"),
        ({"log_probs": [float("nan")]}, r"log_probs\[0\]=nan"),
        ({}, "exactly one of class_probs and log_probs"),
        ({"class_probs": [1.0], "log_probs": [0.0]}, "exactly one"),
        ({"class_probs": [0.5, 0.5], "counts": [1, 0]}, r"counts\[1\]=0"),
        ({"class_probs": [0.5, 0.5], "counts": [1, -3]}, r"counts\[1\]=-3"),
        ({"class_probs": [0.5, 0.5], "counts": [1, 1.5]}, r"counts\[1\]=1\.5"),
        ({"class_probs": [0.5, 0.5], "counts": [1]}, "one entry per class"),
        ({"class_probs": [0.5, 0.5], "dps": 2}, "dps=2"),
        ({"class_probs": [0.5, 0.5], "dps": 50.0}, "dps=50.0"),
    ],
)
def test_bad_parameters_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ref.cdf(0.5, **kwargs)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: ref.cdf(float("nan"), P3), "eta=nan"),
        (lambda: ref.cdf(1.0, P3, omega_inverse=lambda e: mpmath.nan), "returned NaN"),
        (lambda: ref.normal_loss(float("inf")), "a=inf"),
        (lambda: ref.expected_gaussian_norm(0), "d=0"),
        (lambda: ref.expected_gaussian_norm(-3.0), "d=-3.0"),
        (lambda: ref.theorem1_equiprobable(1.0, 4), "n_classes=4"),
        (lambda: ref.theorem1_equiprobable(1.0, 7.5), "n_classes=7.5"),
        (lambda: ref.theorem4_equiprobable_closed(2), "n_classes=2"),
        (lambda: ref.theorem3(1.0, 1.5), "delta=1.5"),
        (lambda: ref.theorem3(1.0, -0.1), "delta=-0.1"),
        (lambda: ref.ndtri(1.5), "p=1.5"),
        (lambda: ref.ndtri_log(0.1), "logp=0.1"),
        (lambda: ref.mean(P3, omega=lambda t: t, points=["q"]), "points='q'"),
    ],
)
def test_bad_arguments_raise(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_a_bool_is_not_a_number():
    with pytest.raises(TypeError, match="eps=True"):
        ref.pdf(True, P3)


def test_out_of_domain_points_follow_scipy():
    assert ref.cdf(-1.0, P3) == 0
    assert ref.logcdf(-1.0, P3) == mpmath.ninf
    assert ref.sf(-1.0, P3) == 1
    assert ref.logsf(-1.0, P3) == 0
    assert ref.pdf(-1.0, P3) == 0
    assert mpmath.isnan(ref.ppf(1.5, P3))
    assert mpmath.isnan(ref.ppf(-0.1, P3))
    assert mpmath.isnan(ref.isf(2.0, P3))
    assert ref.ppf(0, P3) == 0
    assert ref.ppf(1, P3) == mpmath.inf
    assert ref.isf(0, P3) == mpmath.inf
    assert ref.isf(1, P3) == 0
    assert ref.theorem1_balanced(-1.0) == 0


# --- moments -------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7])
def test_moments_of_two_half_spaces_are_those_of_abs_z(n):
    # B(eps) = 2 Phi(eps) - 1: R* is |Z|, with E|Z|^n = 2^(n/2) Gamma((n+1)/2) / sqrt(pi)
    exact = mpf(2) ** (mpf(n) / 2) * mpmath.gamma(mpf(n + 1) / 2) / mpmath.sqrt(mpmath.pi)
    assert rel(ref.moment(n, [0.5, 0.5]), exact) < mpf(10) ** -45


@pytest.mark.parametrize(("probs", "counts"), [(P3, None), (MAJORITY, None), ([1], [10])])
def test_first_moment_is_the_mean_and_variance_is_nonnegative(probs, counts):
    # the quadrature of t B'(t) against the closed-form sum of normal losses
    assert rel(ref.moment(1, probs, counts, dps=30), ref.mean(probs, counts, dps=30)) < mpf(10) ** -28
    assert ref.moment(0, probs, counts) == 1
    assert ref.var(probs, counts, dps=20) > 0


def test_variance_by_hand():
    assert rel(ref.var([0.5, 0.5]), 1 - 2 / mpmath.pi) < mpf(10) ** -45
    # a majority class far from the others: R* is nearly b + N(0, 1), variance near 1
    assert abs(ref.var(log_probs=[0.0, -1e4], dps=30) - 1) < mpf(10) ** -6


@pytest.mark.parametrize("order", [-1, 1.5, "x", float("inf")])
def test_moment_rejects_bad_orders(order):
    with pytest.raises(ValueError, match="order"):
        ref.moment(order, P3)
