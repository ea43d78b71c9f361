"""One convention for out-of-domain arguments, for every public function (issue 10.12).

The rules are written once, in the package docstring ("Conventions"); this
file checks each public function against them.  pytest runs with warnings
as errors, so "never warns" is checked too.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import isobound as ib

P3 = [0.5, 0.3, 0.2]
LATENT = ib.IsoperimetricBound(P3)
MODULI = [
    ib.Identity(),
    ib.Lipschitz(2.0),
    ib.Affine(1.5, 0.3),
    ib.Holder(2.0, 0.5),
    ib.PiecewiseLinear([0.0, 1.0, 2.0], [0.1, 1.1, 1.6]),
    ib.PiecewiseLinear([0.5, 1.0], [0.2, 0.9], interpolation="step", extrapolate=True),
    ib.UniformPrior(ib.Lipschitz(3.0)),
    ib.Composition(ib.Holder(1.0, 0.5), ib.Affine(2.0, 0.1)),
]
BOUNDS = [LATENT, LATENT.through(ib.Lipschitz(2.0)), LATENT.through(ib.Affine(1.5, 0.3, failure_prob=0.05))]

#: (name, function of a radius, value below the support)
CDF_LIKE = [
    ("theorem1", lambda x: ib.theorem1(x, P3), 0.0),
    ("theorem1 through omega", lambda x: ib.theorem1(x, P3, omega=ib.Affine(2.0, 0.5)), 0.0),
    ("theorem1_balanced", lambda x: ib.theorem1_balanced(x), 0.0),
    ("theorem1_equiprobable", lambda x: ib.theorem1_equiprobable(x, 10), 0.0),
    ("theorem3", lambda x: ib.theorem3(x, 0.01), 0.0),
    ("transfer_bound", lambda x: ib.transfer_bound(x, P3, 0.01), 0.0),
] + [
    (f"{name} of {b!r}", getattr(b, name), below)
    for b in BOUNDS
    for name, below in (("cdf", 0.0), ("sf", 1.0), ("logcdf", -math.inf), ("logsf", 0.0))
] + [
    (f"{name} of {b!r}", getattr(b, name), below)
    for b in BOUNDS[1:]
    for name, below in (("ccdf", 1.0), ("logccdf", 0.0))
]
QUANTILES = [(f"{name} of {b!r}", getattr(b, name)) for b in BOUNDS for name in ("ppf", "isf")] + [
    (f"{name} of {b!r}", getattr(b, name)) for b in BOUNDS[1:] for name in ("icdf", "iccdf")
]


@pytest.mark.parametrize(("name", "fn", "below"), CDF_LIKE, ids=[c[0] for c in CDF_LIKE])
def test_cdf_like_functions_below_the_support_and_at_nan(name, fn, below) -> None:
    for x in (-1.0, -1e-300, -math.inf):
        assert fn(x) == below, (name, x)
    assert math.isnan(fn(math.nan))
    out = fn(np.array([-2.0, math.nan, 0.5]))
    assert out.shape == (3,) and out[0] == below and math.isnan(out[1]) and not math.isnan(out[2])
    assert isinstance(fn(0.5), float)
    assert fn(np.zeros((2, 3))).shape == (2, 3)


@pytest.mark.parametrize(("name", "fn"), QUANTILES, ids=[c[0] for c in QUANTILES])
def test_quantiles_outside_the_unit_interval_are_nan(name, fn) -> None:
    for q in (-0.1, 1.5, math.inf, -math.inf, math.nan):
        assert math.isnan(fn(q)), (name, q)
    assert isinstance(fn(0.3), float)


@pytest.mark.parametrize("omega", MODULI, ids=repr)
def test_moduli_conventions(omega: ib.Modulus) -> None:
    for t in (-1.0, -1e-300, -math.inf, math.nan):
        assert math.isnan(omega(t))  # not a distance
    for eta in (-1.0, -math.inf):
        assert omega.inverse(eta) == 0.0  # below omega(0): no radius qualifies
        assert omega.log_inverse(eta) == -math.inf
    assert math.isnan(omega.inverse(math.nan)) and math.isnan(omega.log_inverse(math.nan))
    below = omega.at_zero * 0.5 if omega.at_zero > 0 else -0.5
    assert omega.inverse(below) == 0.0
    assert isinstance(omega(0.5), float) and isinstance(omega.inverse(0.5), float)
    out = omega.inverse(np.array([[math.nan, -1.0], [0.5, 3.0]]))
    assert out.shape == (2, 2) and math.isnan(out[0, 0]) and out[0, 1] == 0.0


def test_interval_outside_the_unit_interval_is_nan() -> None:
    img = BOUNDS[1]
    for c in (-0.1, 1.5, math.nan):
        lo, hi = img.interval(c)
        assert math.isnan(lo) and math.isnan(hi)


def test_audit_takes_distances_as_data() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        ib.audit_robustness([-1.0, 0.5], LATENT)
    with pytest.raises(ValueError, match="NaN"):
        ib.audit_robustness([math.nan, 0.5], LATENT)
    # inf = not measured: it counts, beyond every radius, without a warning
    audit = ib.audit_robustness([math.inf, 0.5, 0.2], LATENT)
    assert audit.n == 3 and audit.n_unresolved == 1


@pytest.mark.parametrize(
    "call",
    [
        lambda: ib.Lipschitz("2"),
        lambda: ib.Holder(None, 0.5),
        lambda: ib.PiecewiseLinear([0, 1], [0, 1], interpolation=3),
        lambda: ib.PiecewiseLinear([0, 1], [0, 1], extrapolate="yes"),
        lambda: ib.Composition(ib.Lipschitz(1.0), "x"),
        lambda: ib.UniformPrior(2.0),
        lambda: LATENT.through(lambda t: t),
        lambda: ib.ImageSpaceBound([0.5, 0.5], None),
        lambda: ib.theorem3(1.0, "0.1"),
        lambda: ib.audit_robustness([0.1], "bound"),
        lambda: ib.one_sided_band(10.5, 0.9),
    ],
)
def test_wrong_types_raise_type_errors_that_are_also_value_errors(call) -> None:
    with pytest.raises(TypeError) as info:
        call()
    assert isinstance(info.value, ValueError)  # older except-ValueError code still works
    assert "=" in str(info.value)  # names the argument and the value


def test_conventions_are_documented_in_one_place() -> None:
    doc = " ".join((ib.__doc__ or "").split())
    assert "Conventions" in doc
    for phrase in ("NaN gives NaN", "negative radius", "below ``omega(0)``", "``inf`` means"):
        assert phrase in doc, phrase
