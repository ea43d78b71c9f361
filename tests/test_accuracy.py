"""Accuracy sweep of the fast float64 core against the 50-digit ``isobound.reference``.

Region by region (radii, quantiles, class counts, tiny and majority classes,
moduli, theorems, building blocks), each region with its own tolerances:

* ``max_rel``: no point may have a larger relative error (the issue: never
  above 1e-11);
* ``typical_rel``: the median over the region (the issue: 1e-13 typical);
* the safe side: lower bounds (cdf, logcdf, the Theorem 1/3 forms) must not
  exceed the exact value, upper bounds (sf, logsf, ppf, isf, mean, the
  Theorem 4 forms) must not fall below it.

Where a value is below the float range (the reference is under 1e-300) the
relative error of the float is meaningless; the log version is compared in
its own region and only the safe side is checked here.

``benchmarks/accuracy.py`` imports :data:`REGIONS` from this file and prints
the same sweep as tables, next to the naive scipy formula.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import mpmath
import numpy as np
import pytest

import isobound as ib
from isobound import reference as ref

mpf = mpmath.mpf

#: Bound on robustness where an estimated modulus fails (ImageSpaceBound.mean(diameter=...)).
DIAMETER = 50.0

#: Below this the reference value is not a normal float64: relative errors are not compared.
FLOAT_FLOOR = mpf(2.0) ** -1000


# --- the bounds of the sweep --------------------------------------------------------


def _dirichlet10() -> tuple[float, ...]:
    p = np.random.default_rng(0).dirichlet(np.ones(10))
    return tuple(float(v) for v in p / math.fsum(p.tolist()))


@dataclass(frozen=True)
class Case:
    """One class description, for the core and for the reference (same floats)."""

    name: str
    fast: Callable[[], ib.IsoperimetricBound]
    ref_args: tuple[tuple[str, Any], ...]

    def bound(self) -> ib.IsoperimetricBound:
        return _bound(self.name)

    @property
    def kwargs(self) -> dict[str, Any]:
        return dict(self.ref_args)


def _case(name: str, fast: Callable[[], ib.IsoperimetricBound], **ref_kwargs: Any) -> Case:
    return Case(name, fast, tuple(sorted((k, tuple(v)) for k, v in ref_kwargs.items())))


P3 = (0.5, 0.3, 0.2)
DIR10 = _dirichlet10()
MAJ40 = (1 - 2**-40, 2**-40)
MAJ20 = (1 - 2**-20, 2**-21, 2**-21)
TINY = (1e-300, 1e-200, 0.25, 0.25, 0.5)
LOGP = (-1e4, -5000.0, math.log(0.5), math.log(0.5))
LOGP_MAJ = (math.log1p(-(2**-40)), -40 * math.log(2))


def _equi(k: int) -> Case:
    return _case(
        f"K={k:.0e}" if k >= 1000 else f"K={k}",
        lambda: ib.IsoperimetricBound.equiprobable(k),
        class_probs=(1,),
        counts=(k,),
    )


CASES: dict[str, Case] = {
    c.name: c
    for c in [
        _case("p=(.5,.3,.2)", lambda: ib.IsoperimetricBound(P3), class_probs=P3),
        _case("Dirichlet K=10", lambda: ib.IsoperimetricBound(DIR10), class_probs=DIR10),
        _case("p=(.9,.1)", lambda: ib.IsoperimetricBound([0.9, 0.1]), class_probs=(0.9, 0.1)),
        _case(
            "counts (2,6,10)",
            lambda: ib.IsoperimetricBound([0.3, 0.05, 0.01], counts=[2, 6, 10]),
            class_probs=(0.3, 0.05, 0.01),
            counts=(2, 6, 10),
        ),
        _case("majority 1-2^-40", lambda: ib.IsoperimetricBound(MAJ40), class_probs=MAJ40),
        _case("majority 1-2^-20", lambda: ib.IsoperimetricBound(MAJ20), class_probs=MAJ20),
        _case("p down to 1e-300", lambda: ib.IsoperimetricBound(TINY), class_probs=TINY),
        _case(
            "log p down to -1e4", lambda: ib.IsoperimetricBound.from_log_probs(LOGP), log_probs=LOGP
        ),
        _case(
            "log p, majority",
            lambda: ib.IsoperimetricBound.from_log_probs(LOGP_MAJ),
            log_probs=LOGP_MAJ,
        ),
        _case(
            "p=1e-15 x 1e15",
            lambda: ib.IsoperimetricBound([1e-15], counts=[10**15]),
            class_probs=(1e-15,),
            counts=(10**15,),
        ),
        *[_equi(k) for k in (2, 3, 5, 10, 100, 10**4, 10**6, 10**9, 10**12, 10**15)],
    ]
}


@functools.cache
def _bound(name: str) -> ib.IsoperimetricBound:
    return CASES[name].fast()


# --- moduli, in float (core) and in mp (reference) -----------------------------------


@dataclass(frozen=True)
class Omega:
    name: str
    fast: Callable[[], ib.Modulus]
    value: Callable[[Any], Any]  # mp in, mp out
    inverse: Callable[[Any], Any]
    delta: float = 0.0
    kinks: tuple[float, ...] = ()
    concave: bool = True


_SQ = lambda: mpmath.sqrt(2 / mpmath.pi)
_PL_R = (0.0, 0.5, 1.0, 2.0, 4.0)
_PL_V = (0.05, 0.6, 1.0, 1.5, 2.0)


def _pl_value(t: Any, extrapolate: bool) -> Any:
    r = [mpf(x) for x in _PL_R]
    v = [mpf(x) for x in _PL_V]
    if t > r[-1]:
        if not extrapolate:
            return mpmath.inf
        return v[-1] + (t - r[-1]) * (v[-1] - v[-2]) / (r[-1] - r[-2])
    for i in range(len(r) - 1):
        if t <= r[i + 1]:
            return v[i] + (t - r[i]) * (v[i + 1] - v[i]) / (r[i + 1] - r[i])
    return v[-1]  # pragma: no cover


def _pl_inverse(eta: Any, extrapolate: bool) -> Any:
    r = [mpf(x) for x in _PL_R]
    v = [mpf(x) for x in _PL_V]
    if eta < v[0]:
        return mpf(0)
    if eta >= v[-1]:
        if not extrapolate:
            return r[-1]
        return r[-1] + (eta - v[-1]) * (r[-1] - r[-2]) / (v[-1] - v[-2])
    for i in range(len(r) - 1):
        if eta < v[i + 1]:
            return r[i] + (eta - v[i]) * (r[i + 1] - r[i]) / (v[i + 1] - v[i])
    return r[-1]  # pragma: no cover


OMEGAS: dict[str, Omega] = {
    o.name: o
    for o in [
        Omega(
            "Lipschitz(2.5)",
            lambda: ib.Lipschitz(2.5),
            lambda t: mpf(2.5) * t,
            lambda e: e / mpf(2.5),
        ),
        Omega(
            "Affine(2, 0.1)",
            lambda: ib.Affine(2.0, 0.1),
            lambda t: 2 * t + mpf(0.1),
            lambda e: max((e - mpf(0.1)) / 2, mpf(0)),
        ),
        Omega(
            "Holder(1.5, 0.5)",
            lambda: ib.Holder(1.5, 0.5),
            lambda t: mpf(1.5) * mpmath.sqrt(t),
            lambda e: (e / mpf(1.5)) ** 2,
        ),
        Omega(
            "Holder(0.7, 2)",
            lambda: ib.Holder(0.7, 2.0),
            lambda t: mpf(0.7) * t**2,
            lambda e: mpmath.sqrt(e / mpf(0.7)),
            concave=False,
        ),
        Omega(
            "PiecewiseLinear",
            lambda: ib.PiecewiseLinear(_PL_R, _PL_V),
            lambda t: _pl_value(t, False),
            lambda e: _pl_inverse(e, False),
            kinks=_PL_R,
            concave=False,
        ),
        Omega(
            "PiecewiseLinear, extrapolated",
            lambda: ib.PiecewiseLinear(_PL_R, _PL_V, extrapolate=True),
            lambda t: _pl_value(t, True),
            lambda e: _pl_inverse(e, True),
            kinks=_PL_R,
            concave=False,
        ),
        Omega(
            "UniformPrior(Lipschitz(3))",
            lambda: ib.UniformPrior(ib.Lipschitz(3.0)),
            lambda t: 3 * _SQ() * t,
            lambda e: e / (3 * _SQ()),
        ),
        Omega(
            "Lipschitz(2.5), delta=0.01",
            lambda: ib.Lipschitz(2.5, failure_prob=0.01),
            lambda t: mpf(2.5) * t,
            lambda e: e / mpf(2.5),
            delta=0.01,
        ),
    ]
}


@functools.cache
def _omega(name: str) -> ib.Modulus:
    return OMEGAS[name].fast()


# --- reference values, cached for the session -------------------------------------


@functools.cache
def _ref(func: str, arg: Any, case: str | None, omega: str | None = None, extra: Any = None) -> Any:
    """One reference value; every argument hashable so that the sweep can share them."""
    kw = dict(CASES[case].kwargs) if case is not None else {}
    o = OMEGAS[omega] if omega is not None else None
    if func in ("cdf", "logcdf", "sf", "logsf"):
        if o is None:
            return getattr(ref, func)(arg, **kw)
        return _image_tail(func, arg, kw, o)
    if func == "pdf":
        return ref.pdf(arg, **kw)
    if func in ("ppf", "isf"):
        if o is None:
            return getattr(ref, func)(arg, **kw)
        with mpmath.workdps(60):
            shifted = mpf(arg) + o.delta if func == "ppf" else mpf(arg) - o.delta
        if func == "isf" and shifted <= 0:
            return mpmath.inf
        return getattr(ref, func)(min(shifted, mpf(1)), omega=o.value, **kw)
    if func == "mean":
        if o is None:
            return ref.mean(**kw)
        if o.value(mpf(10) ** 6) == mpmath.inf:
            return mpmath.inf
        v = ref.mean(omega=o.value, points=o.kinks, **kw)
        # a modulus that fails with probability delta: robustness up to DIAMETER there
        return v + mpf(o.delta) * DIAMETER if o.delta else v
    if func == "median":
        return ref.median(**kw) if o is None else _ref("ppf", 0.5, case, omega)
    if func == "normal_loss":
        return ref.normal_loss(arg)
    if func == "expected_gaussian_norm":
        return ref.expected_gaussian_norm(arg)
    if func == "theorem1_balanced":
        return ref.theorem1_balanced(arg, o.inverse if o else None)
    if func == "theorem1_equiprobable":
        return ref.theorem1_equiprobable(arg, extra, o.inverse if o else None)
    if func == "theorem3":
        return ref.theorem3(arg, extra, o.inverse if o else None)
    if func == "theorem4":
        inner = ref.mean(**kw)
        with mpmath.workdps(60):
            return (o.value(inner) if o else inner) + mpf(extra)
    if func == "theorem4_equiprobable":
        inner = ref.theorem4_equiprobable_closed(arg)
        with mpmath.workdps(60):
            return (o.value(inner) if o else inner) + mpf(extra)
    raise KeyError(func)  # pragma: no cover


def _image_tail(func: str, eta: Any, kw: dict[str, Any], o: Omega) -> Any:
    """cdf/sf (and logs) of omega(R*), with the failure probability delta of the modulus."""
    with mpmath.workdps(60):
        eps = mpf(0) if eta < 0 else o.inverse(mpf(eta))
    d = mpf(o.delta)
    if func == "cdf":
        return max(ref.cdf(eps, **kw) - d, mpf(0))
    if func == "sf":
        return min(ref.sf(eps, **kw) + d, mpf(1))
    if func == "logcdf":
        v = max(ref.cdf(eps, **kw, dps=60) - d, mpf(0))
        return ref.logcdf(eps, **kw) if not d else (mpmath.ninf if v == 0 else mpmath.log(v))
    if not d:
        return ref.logsf(eps, **kw)
    with mpmath.workdps(60):
        return mpmath.log(min(ref.sf(eps, **kw, dps=60) + d, mpf(1)))


# --- points and regions -----------------------------------------------------------


@dataclass(frozen=True)
class Point:
    """One comparison: the core's float against the reference's mpf."""

    label: str
    fast: Callable[[], Any]
    exact: Callable[[], Any]
    side: str | None  # "lower": fast <= exact; "upper": fast >= exact; None: either
    naive: Callable[[], Any] | None = None


@dataclass(frozen=True)
class Region:
    name: str
    points: Callable[[], list[Point]]
    max_rel: float = 1e-11
    typical_rel: float = 1e-13


SIDE = {
    "cdf": "lower",
    "logcdf": "lower",
    "sf": "upper",
    "logsf": "upper",
    "ppf": "upper",
    "isf": "upper",
    "mean": "upper",
    "median": "upper",
    "pdf": None,
}


def _method(func: str, case: str, arg: Any = None, omega: str | None = None) -> Point:
    """A method of IsoperimetricBound (or ImageSpaceBound when omega is given) at arg."""
    obj_label = case if omega is None else f"{case} through {omega}"
    label = f"{func}({arg!r}) [{obj_label}]" if arg is not None else f"{func}() [{obj_label}]"

    def fast() -> Any:
        b: Any = _bound(case)
        if omega is not None:
            b = b.through(_omega(omega))
        m = getattr(b, func)
        if func == "mean" and omega is not None and OMEGAS[omega].delta:
            return m(diameter=DIAMETER)
        return m() if arg is None else m(arg)

    naive = None
    if omega is None:
        naive = functools.partial(_naive, func, case, arg)
    return Point(label, fast, lambda: _ref(func, arg, case, omega), SIDE[func], naive)


# The naive formula people write by hand: a_i = ndtri(1 - p_i), cdf = sum ndtr(a_i + eps) - ndtr(a_i).


def _naive_terms(case: str) -> tuple[np.ndarray, np.ndarray]:
    kw = CASES[case].kwargs
    if "log_probs" in kw:
        p = np.exp(np.array(kw["log_probs"], dtype=float))
    else:
        p = np.array(kw["class_probs"], dtype=float)
    c = np.array(kw.get("counts", [1] * p.size), dtype=float)
    p = p / float(np.sum(p * c))
    from scipy import special as sc

    with np.errstate(all="ignore"):
        return sc.ndtri(1 - p), c


def _naive(func: str, case: str, arg: Any) -> Any:
    from scipy import optimize
    from scipy import special as sc

    a, c = _naive_terms(case)

    def cdf(e: float) -> float:
        return float(np.sum(c * (sc.ndtr(a + e) - sc.ndtr(a))))

    with np.errstate(all="ignore"):
        if func == "cdf":
            return cdf(arg)
        if func == "logcdf":
            return math.log(cdf(arg)) if cdf(arg) > 0 else -math.inf
        if func == "sf":
            return 1 - cdf(arg)
        if func == "logsf":
            v = 1 - cdf(arg)
            return math.log(v) if v > 0 else -math.inf
        if func == "pdf":
            return float(np.sum(c * np.exp(-0.5 * (a + arg) ** 2)) / math.sqrt(2 * math.pi))
        if func == "mean":
            return float(
                np.sum(c * (np.exp(-0.5 * a * a) / math.sqrt(2 * math.pi) - a * sc.ndtr(-a)))
            )
        target = {"ppf": arg, "isf": None if arg is None else 1 - arg, "median": 0.5}[func]
        if target is None or not np.all(np.isfinite(a)):
            return math.nan
        f = lambda e: cdf(e) - target
        try:
            return optimize.brentq(f, 0.0, 100.0, xtol=1e-300, rtol=4 * 2.0**-52)
        except (ValueError, RuntimeError):  # no sign change, or no convergence
            return math.nan


def _points_methods(funcs: list[str], cases: list[str], args: list[Any]) -> list[Point]:
    return [_method(f, c, a) for f in funcs for c in cases for a in args]


EQUI = [n for n in CASES if n.startswith("K=")]
EVERYDAY = ["p=(.5,.3,.2)", "Dirichlet K=10", "p=(.9,.1)", "counts (2,6,10)", "K=10"]
EXTREME = [
    "majority 1-2^-40",
    "p down to 1e-300",
    "log p down to -1e4",
    "K=1e+15",
    "p=1e-15 x 1e15",
]
MAJORITY = ["majority 1-2^-40", "majority 1-2^-20", "log p, majority", "p=(.9,.1)"]
TINY_CLASSES = ["p down to 1e-300", "log p down to -1e4", "log p, majority", "p=1e-15 x 1e15"]

RADII_MID = [1e-3, 0.01, 0.05, 0.1, 0.3, 0.7, 1.0, 1.5, 2.5, 4.0, 7.0, 12.0]
RADII_TINY = [1e-300, 1e-250, 1e-200, 1e-150, 1e-100, 1e-50, 1e-20, 1e-10, 1e-6, 1e-4]
RADII_TAIL = [1e-300, 1e-20, 0.5, 2.0, 5.0, 10.0, 40.0, 100.0, 300.0, 1000.0]
Q_SMALL = [1e-300, 1e-200, 1e-100, 1e-50, 1e-20, 1e-10, 1e-5, 1e-3]
Q_MID = [1e-3, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99]
P_TAIL = [1e-300, 1e-200, 1e-100, 1e-30, 1e-10, 1e-3, 0.1, 0.5, 0.9, 0.99]


def _k_sweep() -> list[Point]:
    out = []
    for c in EQUI:
        for f, a in [
            ("cdf", 1e-100),
            ("cdf", 0.1),
            ("cdf", 1.0),
            ("sf", 3.0),
            ("logsf", 20.0),
            ("logsf", 300.0),
            ("ppf", 1e-200),
            ("ppf", 0.25),
            ("ppf", 0.99),
            ("isf", 1e-300),
            ("isf", 0.3),
            ("pdf", 0.5),
            ("mean", None),
        ]:
            out.append(_method(f, c, a))
    return out


def _classes_sweep(cases: list[str]) -> list[Point]:
    out = []
    for c in cases:
        for f, a in [
            ("cdf", 1e-300),
            ("cdf", 1e-8),
            ("cdf", 0.2),
            ("cdf", 2.0),
            ("logcdf", 1e-300),
            ("logcdf", 0.2),
            ("sf", 1e-300),
            ("sf", 0.5),
            ("sf", 8.0),
            ("logsf", 1e-300),
            ("logsf", 30.0),
            ("logsf", 1000.0),
            ("pdf", 0.0),
            ("pdf", 3.0),
            ("ppf", 1e-300),
            ("ppf", 1e-9),
            ("ppf", 0.3),
            ("ppf", 0.99),
            ("isf", 1e-300),
            ("isf", 1e-5),
            ("isf", 0.6),
            ("mean", None),
            ("median", None),
        ]:
            out.append(_method(f, c, a))
    return out


def _moduli_sweep() -> list[Point]:
    out = []
    for o in OMEGAS:
        for c in ["p=(.5,.3,.2)", "K=10"]:
            for f, a in [
                ("cdf", 1e-200),
                ("cdf", 0.05),
                ("cdf", 0.5),
                ("cdf", 2.0),
                ("cdf", 10.0),
                ("logcdf", 1e-200),
                ("logcdf", 0.5),
                ("sf", 0.5),
                ("sf", 2.0),
                ("logsf", 0.5),
                ("logsf", 10.0),
                ("ppf", 1e-100),
                ("ppf", 0.25),
                ("ppf", 0.5),
                ("ppf", 0.9),
                ("isf", 1e-100),
                ("isf", 0.1),
                ("mean", None),
            ]:
                out.append(_method(f, c, a, o))
    return out


def _theorem_sweep() -> list[Point]:
    out = []
    etas = [1e-3, 0.3, 0.7, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0]
    for o in [None, "Lipschitz(2.5)", "Holder(1.5, 0.5)", "Affine(2, 0.1)"]:
        m = (lambda o=o: _omega(o)) if o else (lambda: None)
        for c, probs in [
            ("p=(.5,.3,.2)", P3),
            ("Dirichlet K=10", DIR10),
            ("p=(.9,.1)", (0.9, 0.1)),
        ]:
            for e in etas:
                out.append(
                    Point(
                        f"theorem1({e}, {c}, {o})",
                        lambda e=e, probs=probs, m=m: ib.theorem1(e, probs, omega=m()),
                        lambda e=e, c=c, o=o: _ref("cdf", e, c, o),
                        "lower",
                    )
                )
        for e in etas:
            out.append(
                Point(
                    f"theorem1_balanced({e}, {o})",
                    lambda e=e, m=m: ib.theorem1_balanced(e, omega=m()),
                    lambda e=e, o=o: _ref("theorem1_balanced", e, None, o),
                    "lower",
                )
            )
            for d in (0.0, 0.01):
                out.append(
                    Point(
                        f"theorem3({e}, {d}, {o})",
                        lambda e=e, d=d, m=m: ib.theorem3(e, d, omega=m()),
                        lambda e=e, d=d, o=o: _ref("theorem3", e, None, o, d),
                        "lower",
                    )
                )
            for k in (5, 10, 1000, 10**15):
                out.append(
                    Point(
                        f"theorem1_equiprobable({e}, {k}, {o})",
                        lambda e=e, k=k, m=m: ib.theorem1_equiprobable(e, k, omega=m()),
                        lambda e=e, k=k, o=o: _ref("theorem1_equiprobable", e, None, o, k),
                        "lower",
                    )
                )
        if o == "Affine(2, 0.1)":
            continue
        for d in (0.0, 0.05):
            for c, probs in [
                ("p=(.5,.3,.2)", P3),
                ("Dirichlet K=10", DIR10),
                ("majority 1-2^-40", MAJ40),
            ]:
                out.append(
                    Point(
                        f"theorem4({c}, {o}, {d})",
                        lambda probs=probs, d=d, m=m: ib.theorem4(probs, omega=m(), delta=d),
                        lambda c=c, d=d, o=o: _ref("theorem4", None, c, o, d),
                        "upper",
                    )
                )
            for k in (5, 10, 1000, 10**15):
                out.append(
                    Point(
                        f"theorem4_equiprobable({k}, {o}, {d})",
                        lambda k=k, d=d, m=m: ib.theorem4_equiprobable(k, omega=m(), delta=d),
                        lambda k=k, d=d, o=o: _ref("theorem4_equiprobable", k, None, o, d),
                        "upper",
                    )
                )
    return out


def _norm_sweep() -> list[Point]:
    ds = [1, 2, 3, 5, 10, 100, 1000, 10**4, 10**6, 10**9, 10**12, 2**50, 10**15]
    return [
        Point(
            f"expected_gaussian_norm({d})",
            lambda d=d: ib.expected_gaussian_norm(d),
            lambda d=d: _ref("expected_gaussian_norm", d, None),
            None,
        )
        for d in ds
    ]


def _loss_sweep() -> list[Point]:
    a_grid = [
        -40.0,
        -10.0,
        -3.0,
        -1.0,
        -0.1,
        0.0,
        0.1,
        0.5,
        1.0,
        2.0,
        3.0,
        5.0,
        8.0,
        10.0,
        20.0,
        30.0,
        37.0,
        38.5,
        40.0,
        100.0,
        1e3,
        1e4,
    ]
    return [
        Point(
            f"normal_loss({a})",
            lambda a=a: ib.normal_loss(a),
            lambda a=a: _ref("normal_loss", a, None),
            None,
        )
        for a in a_grid
    ]


REGIONS: list[Region] = [
    Region("cdf, radii 1e-3..12", lambda: _points_methods(["cdf"], EVERYDAY, RADII_MID)),
    Region(
        "cdf, radii 1e-300..1e-4", lambda: _points_methods(["cdf"], EVERYDAY + EXTREME, RADII_TINY)
    ),
    Region(
        "logcdf, radii 1e-300..12",
        lambda: _points_methods(
            ["logcdf"], EVERYDAY[:2] + EXTREME, RADII_TINY[::3] + RADII_MID[::3]
        ),
    ),
    Region(
        "sf, radii 1e-300..40", lambda: _points_methods(["sf"], EVERYDAY + EXTREME, RADII_TAIL[:7])
    ),
    Region(
        "logsf, radii 1e-300..1e3",
        lambda: _points_methods(["logsf"], EVERYDAY + EXTREME, RADII_TAIL),
    ),
    Region(
        "pdf, radii 0..40",
        lambda: _points_methods(
            ["pdf"], EVERYDAY[:3] + EXTREME[:3], [0.0, 1e-100, 0.5, 2.0, 8.0, 40.0]
        ),
    ),
    Region("ppf, q 1e-300..1e-3", lambda: _points_methods(["ppf"], EVERYDAY + EXTREME, Q_SMALL)),
    Region("ppf, q 1e-3..0.99", lambda: _points_methods(["ppf"], EVERYDAY + EXTREME, Q_MID)),
    Region("isf, p 1e-300..0.99", lambda: _points_methods(["isf"], EVERYDAY + EXTREME, P_TAIL)),
    Region("mean and median", lambda: _points_methods(["mean", "median"], list(CASES), [None])),
    Region("K from 2 to 1e15 (equiprobable)", _k_sweep),
    Region(
        "tiny classes (p 1e-300, log p -1e4, K 1e15 by counts)",
        lambda: _classes_sweep(TINY_CLASSES),
    ),
    Region("majority class up to 1 - 2^-40", lambda: _classes_sweep(MAJORITY)),
    Region("moduli through .through(omega)", _moduli_sweep),
    Region("theorem functions", _theorem_sweep),
    Region("expected_gaussian_norm, d 1..1e15", _norm_sweep),
    Region("normal_loss, a -40..1e4", _loss_sweep),
]


# --- evaluation ---------------------------------------------------------------------


@dataclass
class Outcome:
    point: Point
    fast: float
    exact: Any
    rel: float | None  # None where the comparison is not made (value below float range)
    safe: bool


def relative_error(fast: float, exact: Any) -> float | None:
    """|fast - exact| / |exact| in 60-digit arithmetic; None when exact is below float range."""
    with mpmath.workdps(60):
        if mpmath.isnan(exact):
            return 0.0 if math.isnan(fast) else math.inf
        if math.isnan(fast):
            return math.inf
        if mpmath.isinf(exact) or math.isinf(fast):
            return 0.0 if mpf(fast) == exact else math.inf
        if exact == 0:
            return 0.0 if fast == 0 else math.inf
        if abs(exact) < FLOAT_FLOOR:
            return None
        return float(abs(mpf(fast) - exact) / abs(exact))


def on_safe_side(fast: float, exact: Any, side: str | None) -> bool:
    if side is None or math.isnan(fast):
        return True
    with mpmath.workdps(60):
        if side == "lower":
            return bool(mpf(fast) <= exact)
        return bool(mpf(fast) >= exact)


def evaluate(point: Point) -> Outcome:
    fast = float(point.fast())
    exact = point.exact()
    return Outcome(
        point, fast, exact, relative_error(fast, exact), on_safe_side(fast, exact, point.side)
    )


def describe(o: Outcome) -> str:
    rel = "n/a" if o.rel is None else f"{o.rel:.2e}"
    side = "" if o.safe else f"  UNSAFE (should be {o.point.side} bound)"
    return f"{o.point.label}: core {o.fast!r}, exact {mpmath.nstr(o.exact, 17)}, rel {rel}{side}"


@pytest.mark.parametrize("region", REGIONS, ids=[r.name for r in REGIONS])
def test_region(region: Region) -> None:
    outcomes = [evaluate(p) for p in region.points()]
    rels = [o.rel for o in outcomes if o.rel is not None]
    assert rels, "the region compared nothing"
    bad = [o for o in outcomes if (o.rel is not None and o.rel > region.max_rel) or not o.safe]
    typical = float(np.median(rels))
    lines = [describe(o) for o in bad]
    if typical > region.typical_rel:
        lines.append(f"median relative error {typical:.2e} > {region.typical_rel:.0e}")
    assert not lines, (
        f"{region.name}: {len(bad)} of {len(outcomes)} points off (max_rel {region.max_rel:.0e}):\n"
        + "\n".join(lines)
    )


def test_the_sweep_can_fail() -> None:
    # meta-test: a value nudged by 1e-10 (relative) is caught, and so is the wrong side
    p = _method("cdf", "p=(.5,.3,.2)", 0.5)
    exact = p.exact()
    nudged = float(exact) * (1 + 1e-10)
    assert relative_error(nudged, exact) > 1e-11
    assert not on_safe_side(nudged, exact, "lower")
    assert on_safe_side(nudged, exact, "upper")
    assert relative_error(float(exact), exact) < 1e-16
