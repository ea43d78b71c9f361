"""Accuracy sweep of the fast float64 core against the 50-digit ``isobound.reference``.

Region by region (radii, quantiles, class counts, tiny and majority classes,
moduli, theorems, building blocks), each region with its own tolerances:

* ``max_rel``: no point may have a larger relative error (never above about
  1e-11; each region's bound is about three times what the core achieves);
* ``typical_rel``: the median over the region (likewise three times the
  achieved median, 1e-14 or below in most regions);
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
        *[
            _case(
                f"log p (0, {lp:g})",
                lambda lp=lp: ib.IsoperimetricBound.from_log_probs([0.0, lp], normalize=True),
                log_probs=(0.0, lp),
            )
            for lp in (-1000.0, -4835.8, -1e4)
        ],
        *[
            _case(
                f"K=1e{e}",
                lambda e=e: ib.IsoperimetricBound.equiprobable(10**e),
                class_probs=(1,),
                counts=(10**e,),
            )
            for e in (100, 400)
        ],
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
    max_rel: float
    typical_rel: float


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


def _method(
    func: str, case: str, arg: Any = None, omega: str | None = None, *, array: bool = False
) -> Point:
    """A method of IsoperimetricBound (or ImageSpaceBound when omega is given) at arg.

    ``array=True`` evaluates it on a one-element array (the vectorised path)
    instead of a float (the scalar fast path, where the bound has one)."""
    obj_label = case if omega is None else f"{case} through {omega}"
    label = f"{func}({arg!r}) [{obj_label}]" if arg is not None else f"{func}() [{obj_label}]"
    if array:
        label += " (array)"

    def fast() -> Any:
        b: Any = _bound(case)
        if omega is not None:
            b = b.through(_omega(omega))
        m = getattr(b, func)
        if func == "mean" and omega is not None and OMEGAS[omega].delta:
            return m(diameter=DIAMETER)
        if arg is None:
            return m()
        return float(np.asarray(m(np.array([arg])))[0]) if array else m(arg)

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
    """Each method at each argument, through the scalar and the array path."""
    return [
        _method(f, c, a, array=arr)
        for f in funcs
        for c in cases
        for a in args
        for arr in ((False, True) if a is not None else (False,))
    ]


EQUI = [n for n in CASES if n.startswith("K=")]
EVERYDAY = ["p=(.5,.3,.2)", "Dirichlet K=10", "p=(.9,.1)", "counts (2,6,10)", "K=10"]
EXTREME = [
    "majority 1-2^-40",
    "p down to 1e-300",
    "log p down to -1e4",
    "K=1e+15",
    "p=1e-15 x 1e15",
]
EXTREME_MAJORITY = ["log p (0, -1000)", "log p (0, -4835.8)", "log p (0, -10000)"]
HUGE_K = ["K=1e100", "K=1e400"]
MAJORITY = ["majority 1-2^-40", "majority 1-2^-20", "log p, majority", "p=(.9,.1)"]
TINY_CLASSES = ["p down to 1e-300", "log p down to -1e4", "log p, majority", "p=1e-15 x 1e15"]

RADII_MID = [1e-3, 0.01, 0.05, 0.1, 0.3, 0.7, 1.0, 1.5, 2.5, 4.0, 7.0, 12.0]
RADII_TINY = [1e-300, 1e-250, 1e-200, 1e-150, 1e-100, 1e-50, 1e-20, 1e-10, 1e-6, 1e-4]
RADII_TAIL = [1e-300, 1e-20, 0.5, 2.0, 5.0, 10.0, 40.0, 100.0, 300.0, 1000.0]
Q_SMALL = [1e-300, 1e-200, 1e-100, 1e-50, 1e-20, 1e-10, 1e-5, 1e-3]
Q_MID = [1e-3, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99]
P_TAIL = [1e-300, 1e-200, 1e-100, 1e-30, 1e-10, 1e-3, 0.1, 0.5, 0.9, 0.99]
#: Subnormal targets down to the smallest float (issue 10.10).
Q_SUBNORMAL = [5e-324, 1e-322, 1e-320, 1e-315, 1e-310, 2.2e-308]


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
            if a is not None:
                out.append(_method(f, c, a, array=True))
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
            if a is not None:
                out.append(_method(f, c, a, array=True))
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
    ds = [1, 2, 3, 5, 10, 100, 200, 339, 340, 341, 345, 360, 400, 500, 700, 1000, 2000, 5000,
          10**4, 10**6, 10**9, 10**12, 2**50, 10**15]
    return [
        Point(
            f"expected_gaussian_norm({d})",
            lambda d=d: ib.expected_gaussian_norm(d),
            lambda d=d: _ref("expected_gaussian_norm", d, None),
            None,
        )
        for d in ds
    ]


def _loss_sweep(lo: float = -math.inf, hi: float = math.inf) -> list[Point]:
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
        1.5,
        1.99,
        2.0,
        2.01,
        2.5,
        3.0,
        3.7,
        4.5,
        5.0,
        5.5,
        5.99,
        6.5,
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
        if lo <= a <= hi
    ]


def _extreme_majority_sweep() -> list[Point]:
    """A majority class beside one of e^-1000 .. e^-10000 (issue 10.8): roots near 104."""
    radii_ = [1e-300, 1e-3, 1.0, 10.0, 30.0, 50.0, 61.0, 80.0, 100.0, 104.0, 130.0, 141.0, 150.0, 180.0]
    qs = [1e-300, 1e-200, 1e-100, 1e-30, 1e-10, 0.01, 0.25, 0.5, 0.9, 0.99]
    return (
        _points_methods(["cdf", "sf", "logcdf", "logsf"], EXTREME_MAJORITY, radii_)
        + _points_methods(["ppf", "isf"], EXTREME_MAJORITY, qs)
        + _points_methods(["mean", "median"], EXTREME_MAJORITY, [None])
    )


def _huge_k_sweep() -> list[Point]:
    """K = 10^100 and 10^400 equiprobable classes (issue 11.3, r8): counts beyond floats."""
    return (
        _points_methods(["cdf", "sf", "logcdf", "logsf"], HUGE_K, [1e-300, 1e-5, 0.003, 0.01, 0.03, 0.1, 0.5])
        + _points_methods(["ppf", "isf"], HUGE_K, [1e-300, 1e-20, 0.1, 0.25, 0.5, 0.75, 0.99])
        + _points_methods(["mean", "median"], HUGE_K, [None])
    )


# Radii where the intervals of these bounds sit at the edges of the short-interval
# region (half-width near 1/4, |midpoint| * half-width near 1) while B <= 1/2, so that
# the interval masses (and not 1 - S) carry the value.
EDGE_CASES = ["p=(.9,.1)", "majority 1-2^-40", "majority 1-2^-20", "K=3"]
EDGE_RADII = [0.12, 0.2, 0.26, 0.3, 0.4, 0.46, 0.5, 0.54, 0.6, 0.8, 0.98, 1.1]


def _edge_sweep() -> list[Point]:
    return _points_methods(["cdf", "logcdf", "sf", "logsf"], EDGE_CASES, EDGE_RADII) + _points_methods(
        ["ppf", "isf"], EDGE_CASES, [1e-3, 0.01, 0.05, 0.1, 0.2, 0.3, 0.45]
    )


def _log_mass_exact(u: float, w: float) -> Any:
    """log(Phi(u) - Phi(u - w)) at a precision that covers the cancellation."""
    lost = max(0.0, -math.log10(w)) + 30 if w < 1 else 30
    with mpmath.workdps(60 + int(lost)):
        uu, ww = mpf(u), mpf(w)
        lo = uu - ww
        if lo > 0:  # both ends in the right tail: mirror
            v = mpmath.ncdf(-lo) - mpmath.ncdf(-uu)
        else:
            v = mpmath.ncdf(uu) - mpmath.ncdf(lo)
        return +mpmath.log(v)


def _log_interval_mass_sweep() -> list[Point]:
    """The building block in the tails, where only log_ndtr keeps digits (arguments
    below -38 underflow ndtr), and near the short-interval boundary."""
    pairs = [
        (-40.0, 1.0), (-39.0, 0.5), (-60.0, 0.05), (-100.0, 0.02), (-300.0, 1.0), (-1000.0, 0.01),
        (-38.0, 0.1), (-20.0, 3.0), (40.0, 1.0), (100.0, 0.02), (60.0, 50.0), (-5.0, 30.0),
        (-100.0, 0.0201), (-0.1, 0.6), (-0.2, 0.7), (0.3, 0.9), (-4.0, 0.5), (-2.0, 0.51),
        (-4.0, 0.49), (-8.0, 0.24), (-8.0, 0.26), (7.9, 0.25), (-16.0, 0.126),
    ]
    return [
        Point(
            f"log_interval_mass({u}, {w})",
            lambda u=u, w=w: ib.log_interval_mass(u, w),
            lambda u=u, w=w: _log_mass_exact(u, w),
            None,
        )
        for u, w in pairs
    ]


def _moment_sweep() -> list[Point]:
    out = []
    for c in ["p=(.5,.3,.2)", "majority 1-2^-40", "K=1e+15", "log p (0, -10000)"]:
        kw = CASES[c].kwargs
        for n in (2, 5):
            out.append(
                Point(
                    f"moment({n}) [{c}]",
                    lambda c=c, n=n: _bound(c).moment(n),
                    lambda kw=kw, n=n: _cached_ref("moment", n, tuple(sorted(kw.items()))),
                    "upper",
                )
            )
        out.append(
            Point(
                f"var() [{c}]",
                lambda c=c: _bound(c).var(),
                lambda kw=kw: _cached_ref("var", None, tuple(sorted(kw.items()))),
                None,
            )
        )
        for conf in (0.5, 0.9):
            for end in (0, 1):
                out.append(
                    Point(
                        f"interval({conf})[{end}] [{c}]",
                        lambda c=c, conf=conf, end=end: _bound(c).interval(conf)[end],
                        lambda c=c, conf=conf, end=end: _ref(
                            "ppf" if end == 0 else "isf", (1 - conf) / 2, c
                        ),
                        "upper",
                    )
                )
    return out


@functools.cache
def _cached_ref(func: str, arg: Any, kw: tuple[tuple[str, Any], ...]) -> Any:
    d = dict(kw)
    return ref.moment(arg, **d) if func == "moment" else ref.var(**d)


# Tolerances: about three times the largest and the median error achieved (see
# benchmarks/RESULTS.md), so that a loss of a few ulps anywhere fails the region.
REGIONS: list[Region] = [
    Region("cdf, radii 1e-3..12", lambda: _points_methods(["cdf"], EVERYDAY, RADII_MID), 5e-14, 1e-14),
    Region(
        "cdf, radii 1e-300..1e-4",
        lambda: _points_methods(["cdf"], EVERYDAY + EXTREME, RADII_TINY),
        4e-13,
        3e-14,
    ),
    Region(
        "logcdf, radii 1e-300..12",
        lambda: _points_methods(
            ["logcdf"], EVERYDAY[:2] + EXTREME, RADII_TINY[::3] + RADII_MID[::3]
        ),
        5e-13,
        8e-15,
    ),
    Region(
        "sf, radii 1e-300..40",
        lambda: _points_methods(["sf"], EVERYDAY + EXTREME, RADII_TAIL[:7]),
        2e-12,
        3e-14,
    ),
    Region(
        "logsf, radii 1e-300..1e3",
        lambda: _points_methods(["logsf"], EVERYDAY + EXTREME, RADII_TAIL),
        4e-13,
        9e-15,
    ),
    Region(
        "pdf, radii 0..40",
        lambda: _points_methods(
            ["pdf"], EVERYDAY[:3] + EXTREME[:3], [0.0, 1e-100, 0.5, 2.0, 8.0, 40.0]
        ),
        4e-13,
        6e-16,
    ),
    Region(
        "ppf, q 1e-300..1e-3",
        lambda: _points_methods(["ppf"], EVERYDAY + EXTREME, Q_SMALL),
        4e-13,
        3e-14,
    ),
    Region(
        "ppf, q 1e-3..0.99",
        lambda: _points_methods(["ppf"], EVERYDAY + EXTREME, Q_MID),
        5e-13,
        3e-14,
    ),
    Region(
        "isf, p 1e-300..0.99",
        lambda: _points_methods(["isf"], EVERYDAY + EXTREME, P_TAIL),
        4e-13,
        1e-14,
    ),
    Region(
        "mean and median",
        lambda: _points_methods(["mean", "median"], list(CASES), [None]),
        1e-11,
        5e-14,
    ),
    Region("K from 2 to 1e15 (equiprobable)", _k_sweep, 1e-11, 3e-14),
    Region(
        "tiny classes (p 1e-300, log p -1e4, K 1e15 by counts)",
        lambda: _classes_sweep(TINY_CLASSES),
        8e-13,
        2e-14,
    ),
    Region("majority class up to 1 - 2^-40", lambda: _classes_sweep(MAJORITY), 3e-13, 1e-14),
    Region("moduli through .through(omega)", _moduli_sweep, 1e-12, 6e-14),
    Region("theorem functions", _theorem_sweep, 5e-13, 5e-14),
    Region("expected_gaussian_norm, d 1..1e15", _norm_sweep, 1.5e-15, 4e-16),
    Region("normal_loss, a -40..10", lambda: _loss_sweep(hi=10.0), 3e-14, 2e-15),
    Region("normal_loss, a 10..1e4", lambda: _loss_sweep(lo=10.5), 4e-13, 2e-13),
    Region("extreme majority: log p (0, -1e3 .. -1e4)", _extreme_majority_sweep, 8e-12, 7e-15),
    Region("K = 1e100 and 1e400 (counts beyond floats)", _huge_k_sweep, 1.2e-11, 2e-12),
    Region("edges of the short-interval region", _edge_sweep, 4e-13, 2e-14),
    Region("log_interval_mass, tails beyond +-38", _log_interval_mass_sweep, 1.5e-15, 3e-16),
    Region("moments, variance, interval", _moment_sweep, 1e-12, 3e-14),
    Region(
        "subnormal targets, q 5e-324..2.2e-308",
        lambda: _points_methods(["ppf", "isf"], ["p=(.5,.3,.2)", "K=10", "p=(.9,.1)"], Q_SUBNORMAL),
        1e-14,
        1e-14,
    ),
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


ERROR_MODEL_CASES = [
    "p=(.5,.3,.2)",
    "Dirichlet K=10",
    "majority 1-2^-40",
    "p down to 1e-300",
    "log p (0, -10000)",
    "K=1e+15",
    "K=1e400",
]
ERROR_MODEL_RADII = [1e-300, 1e-8, 0.01, 0.1, 0.3, 0.7, 1.0, 3.0, 8.0, 20.0, 40.0, 104.0]


@pytest.mark.parametrize("case", ERROR_MODEL_CASES)
def test_error_factors_bound_the_raw_error(case):
    """The kernel's own error bound (before the factor 2 the public methods add)
    covers its raw error, for the vector kernel and its scalar twin alike."""
    from isobound._kernel import EPS, ScalarKernel

    b = _bound(case)
    k = b._k
    x = np.array(ERROR_MODEL_RADII)
    twin = ScalarKernel(k) if ScalarKernel.usable(k) else None
    checked = 0
    with np.errstate(all="ignore"):
        results = {
            "cdf": k.mass(x),
            "sf": k.tail(x),
            "logcdf": k.log_mass(x),
            "logsf": k.log_tail(x),
        }
    for func, (values, rho) in results.items():
        log = func.startswith("log")
        for i, r in enumerate(ERROR_MODEL_RADII):
            exact = _ref(func, r, case)
            if exact == 0 or not mpmath.isfinite(exact) or (not log and abs(exact) < FLOAT_FLOOR):
                continue
            v = float(values[i])
            err = abs(mpf(v) - exact) if log else abs(mpf(v) - exact) / abs(exact)
            bound = EPS * (float(rho[i]) + k.sigma + (abs(v) if log else 0.0))
            assert err <= bound, (func, r, float(err), bound)
            checked += 1
            if twin is not None and not log:
                got = twin.mass(r) if func == "cdf" else twin.tail(r)
                if got is not None:
                    e2 = abs(mpf(got[0]) - exact) / abs(exact)
                    assert e2 <= EPS * (got[1] + k.sigma), (func, r, "scalar", float(e2))
    assert checked > 20


def test_the_error_model_test_can_fail():
    # meta-test: a raw value off by twice its error bound is caught
    from isobound._kernel import EPS

    k = _bound("p=(.5,.3,.2)")._k
    v, rho = k.mass(np.array([0.3]))
    exact = _ref("cdf", 0.3, "p=(.5,.3,.2)")
    nudged = float(v[0]) * (1 + 2 * EPS * (float(rho[0]) + k.sigma)) + 4 * EPS * float(exact)
    assert abs(mpf(nudged) - exact) / exact > EPS * (float(rho[0]) + k.sigma)


# --- building blocks at their switch points ------------------------------------------
#
# Each function below switches between formulas (quadrature rules, a direct difference
# and a continued fraction, two forms of log(1 - e^x)); both sides of every switch are
# compared with mpmath at the accuracy the function achieves there, so that a moved
# switch or a rule used outside its region fails.

ULP = 2.0**-52


def _short_average_exact(m: float, h: float) -> Any:
    """Mean of exp(-m u - u^2/2) over [-h, h], by mpmath quadrature at 40 digits."""
    with mpmath.workdps(40):
        mm, hh = mpf(m), mpf(h)
        return mpmath.quad(lambda u: mpmath.exp(-mm * u - u * u / 2), [-hh, 0, hh]) / (2 * hh)


# (half-width, |mid| * half-width) on both sides of each rule's region: 3 nodes for
# h, |m|h <= 1e-3, 5 nodes for h <= 0.1 and |m|h <= 0.2, 7 nodes up to h = 1/4, |m|h = 1
SHORT_GRID = [
    (h, mh)
    for h in (1e-9, 1e-4, 9e-4, 1e-3, 1.1e-3, 0.01, 0.09, 0.1, 0.11, 0.2, 0.25)
    for mh in (0.0, 1e-4, 9e-4, 1e-3, 1.1e-3, 0.05, 0.19, 0.2, 0.21, 0.5, 0.9, 1.0)
]


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_short_average_is_good_to_5_ulps_in_the_short_region(sign):
    from isobound._gaussian import short_average

    worst = 0.0
    for h, mh in SHORT_GRID:
        m = sign * mh / h
        got = float(short_average(np.array([m]), np.array([h]))[0])
        err = float(abs(mpf(got) / _short_average_exact(m, h) - 1))
        worst = max(worst, err)
        assert err <= 5 * ULP, (m, h, err / ULP)
    assert worst > 0.1 * ULP  # the comparison is not vacuous


def test_short_average_picks_the_rule_for_the_whole_block():
    # one block (as the kernel calls it): the widest entry decides the rule, and the
    # narrow entries stay within 5 ulps under the wider rule too
    from isobound._gaussian import short_average

    h = np.array([1e-6, 1e-3, 0.05, 0.25])
    m = np.array([3.0, -400.0, 2.0, -4.0])
    got = short_average(m, h)
    for mi, hi, g in zip(m.tolist(), h.tolist(), got.tolist(), strict=True):
        assert float(abs(mpf(g) / _short_average_exact(mi, hi) - 1)) <= 5 * ULP, (mi, hi)


def _partial_moment_exact(a: float, k: int) -> Any:
    """E[(Z - a)_+^k] = phi(a) * int_0^inf t^k exp(-a t - t^2/2) dt, at 40 digits."""
    with mpmath.workdps(40):
        aa = mpf(a)
        integral = mpmath.quad(lambda t: t**k * mpmath.exp(-aa * t - t * t / 2), [0, 1, 10, mpmath.inf])
        return mpmath.npdf(aa) * integral


# thresholds on both sides of the switch at a = 2 (recurrence below, continued fraction
# from 2 on), and far into the tail
SWITCH_A = [-3.0, 0.0, 1.5, 1.99, 2.0, 2.01, 2.5, 3.0, 3.9, 4.5, 5.9, 8.0, 30.0]


def test_normal_loss_around_its_switch():
    # the direct formula phi(a) - a Phibar(a) loses about a^2 ulps (3.3e-15 at a = 2,
    # 4e-14 at 3.9, 9e-14 at 5.9), the continued fraction stays within 4e-15 from 2 to 6;
    # beyond that ndtr(-a) itself loses about a^2 / 4 ulps (1e-14 at 8, 6e-14 at 30)
    worst_cf = 0.0
    for a in SWITCH_A:
        exact = ref.normal_loss(a)
        err = float(abs(mpf(float(ib.normal_loss(a))) / exact - 1))
        if abs(a - 2.0) < 0.05:
            tol = 2e-15
        elif a < 2:
            tol = 3e-15
        else:
            tol = 6e-15 if a < 6 else a * a * ULP
        assert err <= tol, (a, err)
        if a >= 2:
            worst_cf = max(worst_cf, err)
    assert worst_cf > 0


@pytest.mark.parametrize("order", [0, 1, 2, 5])
def test_log_normal_partial_moments_around_the_switch(order):
    from isobound._gaussian import log_normal_partial_moments

    a = np.array(SWITCH_A)
    log_m, ratios = log_normal_partial_moments(a, order)
    assert log_m.shape == (a.size, order + 1) and ratios.shape == (a.size, order)
    for i, ai in enumerate(SWITCH_A):
        for k in range(order + 1):
            exact = _partial_moment_exact(ai, k)
            with mpmath.workdps(40):
                err = abs(mpf(float(log_m[i, k])) - mpmath.log(exact))
            # error of the log relative to max(1, |log M_k|): the recurrence loses
            # about 3 a^k ulps just below the switch (98 at a = 1.99, k = 5), the
            # continued fraction and log_ndtr from 2 on under 2 ulps
            tol = 8 + 2 * k + (4 * max(ai, 1.0) ** k if ai < 2 else 0.0)
            assert err <= tol * ULP * max(1.0, abs(float(log_m[i, k]))), (ai, k, float(err))


def test_truncated_normal_variance_around_the_switch():
    from isobound._gaussian import truncated_normal_variance

    got = truncated_normal_variance(np.array(SWITCH_A))
    for ai, g in zip(SWITCH_A, got.tolist(), strict=True):
        with mpmath.workdps(40):
            m0, m1, m2 = (_partial_moment_exact(ai, k) for k in range(3))
            # Var[Z | Z > a] = Var[Z - a | Z > a]
            exact = m2 / m0 - (m1 / m0) ** 2
            err = float(abs(mpf(g) / exact - 1))
        # 1 + a lam - lam^2 cancels like a^2 below the switch
        assert err <= (16 + (4 * ai * ai if ai < 2 else 0.0)) * ULP, (ai, err)


def test_log_interval_mass_of_an_empty_interval_is_minus_infinity():
    v = ib.log_interval_mass(np.array([1.0, -40.0, 0.0]), np.array([0.0, 0.0, 0.0]))
    assert np.all(v == -np.inf)
    assert ib.log_interval_mass(0.5, 0.25) > -np.inf


# (upper end, width, log weight): short intervals (quadrature), long ones (through
# log_interval_mass), weights that lift a tiny mass or scale a large one
INTERVAL_CASES = [
    (0.5, 1e-9, None),
    (3.0, 1e-4, 2.0),
    (-2.0, 0.1, None),
    (1.0, 0.3, -1.0),
    (10.0, 2.0, None),
    (-30.0, 1.0, 5.0),
    (0.0, 0.0015, 34.5),
    (-1.0, 5.0, None),
]


def test_interval_mass_linear_domain_against_mpmath():
    from isobound._gaussian import interval_mass

    for u, w, lw in INTERVAL_CASES:
        got = float(interval_mass(u, w) if lw is None else interval_mass(u, w, lw))
        with mpmath.workdps(40):
            exact = mpmath.exp(mpf(lw or 0.0)) * (mpmath.ncdf(mpf(u)) - mpmath.ncdf(mpf(u) - mpf(w)))
            err = float(abs(mpf(got) / exact - 1))
            log_size = float(abs(mpmath.log(exact)))
        # exp of a logarithm of size s carries s ulps of that logarithm's rounding
        assert err <= (8 + 2 * log_size) * ULP, (u, w, lw, err / ULP)
    v = interval_mass(np.array([0.5, 10.0]), np.array([1e-9, 2.0]), np.array([0.0, 1.0]))
    assert v.shape == (2,) and v[1] > float(interval_mass(10.0, 2.0))


# --- the scalar twin of the kernel: same values *and* same error factors -------------
#
# The scalar path moves each value by its own error factor, so a factor computed
# differently there (a dropped term, a smaller weight) would shift results by a few
# ulps without failing the accuracy sweep; both outputs are compared here.

TWIN_BOUNDS = [
    ([0.0, -math.log(2.0)], True),  # (0.5, 0.25), normalised
    ([math.log(0.5), math.log(0.3), math.log(0.2)], False),
    ([math.log(0.9), math.log(0.09), math.log(0.01)], False),
    ([0.0, -50.0, -700.0], True),  # short and long intervals in the same block
    ([0.0, -1e-3, -3.0, -40.0], True),
]
TWIN_RADII = [1e-300, 1e-12, 1e-6, 1e-3, 0.01, 0.05, 0.2, 0.45, 0.5, 0.51, 1.0, 3.0, 10.0, 37.0, 60.0]


@pytest.mark.parametrize(("logp", "normalize"), TWIN_BOUNDS)
def test_scalar_kernel_matches_the_vector_kernel_value_and_error(logp, normalize):
    from isobound._kernel import ScalarKernel

    kern = ib.IsoperimetricBound.from_log_probs(logp, normalize=normalize)._k
    twin = ScalarKernel(kern)
    compared = 0
    for x in TWIN_RADII:
        for name in ("mass", "tail"):
            with np.errstate(all="ignore"):  # as the kernel's caller runs it
                s = getattr(twin, name)(x)
                v, r = getattr(kern, name)(np.array([x]))
            if s is None:
                # the scalar path hands a value below its floor to the vector kernel
                assert float(v[0]) < 1e-269, (name, x, float(v[0]))
                continue
            assert s[0] == pytest.approx(float(v[0]), rel=1e-13, abs=0.0), (name, x)
            assert s[1] == pytest.approx(float(r[0]), rel=1e-9, abs=1e-9), (name, x, s[1], float(r[0]))
            compared += 1
    assert compared >= 2 * len(TWIN_RADII) - 4
