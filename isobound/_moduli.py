r"""Moduli of continuity of a generator.

A modulus :math:`\omega` bounds how far images move when latents move:
:math:`\|g(z) - g(z')\| \le \omega(\|z - z'\|_2)`.  Theorem 1 uses it through
its generalised inverse: a latent perturbation of norm at most
:math:`\varepsilon = \omega^{-1}(\eta) = \sup\{t \ge 0 : \omega(t) \le \eta\}`
moves the image by at most :math:`\eta`.  Where :math:`\eta < \omega(0)` (a
modulus with a jump at 0, for generators with disconnected support) no
radius qualifies; the inverse is then 0, and the bound says nothing.

Every modulus is an immutable, validated object with ``__call__`` (vectorised
over ``t``), ``inverse``, ``is_concave`` and ``failure_prob``.  The last is
the probability :math:`\delta` with which an *estimated* (probabilistic)
modulus may fail: Theorem 1 then holds only up to :math:`\delta`, and the
bounds subtract it (``docs/theory.md``, "Probabilistic modulus").  It is not
the Wasserstein :math:`\delta` of Theorem 4.

Rounding
--------
Both directions are rounded to the safe side, so that the bounds built on a
modulus never claim more than it proves:

* ``omega(t)`` is rounded **up** (it is an upper bound on image distances):
  each formula adds its own floating-point error bound wherever the
  computation is inexact, and is exact where it is (``omega(0)``, the knots
  and steps of a piecewise modulus);
* ``omega.inverse(eta)`` is **certified**: a candidate from the closed form
  is accepted only if the rounded-up ``omega`` at it is at most ``eta``, and
  shrunk until it is.  Since the rounded-up value is at least the exact one,
  a certified radius lies in :math:`\{t : \omega(t) \le \eta\}` and so is a
  lower bound on the exact generalised inverse, for every kind of modulus
  and every composition, jumps included.  In particular
  ``omega(omega.inverse(eta)) <= eta`` holds in floating point for every
  ``eta >= omega(0)``.

Out-of-domain arguments (see the package docstring, "Conventions"):
``omega(t)`` is NaN for ``t < 0`` (not a distance); ``omega.inverse(eta)``
is 0 for every ``eta`` below ``omega(0)``, negative ones included (no radius
qualifies); NaN gives NaN.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from fractions import Fraction
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._frozen import restore, slot_state
from ._gaussian import scalar_or_array
from ._validation import (
    ArgumentTypeError,
    as_class_vector,
    check_nonnegative,
    check_positive,
    check_probability,
    short_repr,
)

__all__ = [
    "Affine",
    "Composition",
    "Holder",
    "Identity",
    "Lipschitz",
    "Modulus",
    "PiecewiseLinear",
    "UniformPrior",
    "as_modulus",
]

FloatArray = NDArray[np.float64]

_EPS = 2.0**-52
#: Smallest positive float: absolute error allowance for results that underflow.
_TINIEST = 5e-324

#: Lipschitz constant of T(z) = 2 Phi(z) - 1, which pushes N(0, 1) onto U[-1, 1]:
#: sqrt(2/pi) = 0.79788456080286535587989..., stored as the float just above it.
UNIFORM_PRIOR_SLOPE = float.fromhex("0x1.9884533d43651p-1")


def _up(value: FloatArray, inexact: NDArray[np.bool_], rel: float, absolute: float) -> FloatArray:
    """``value`` raised by ``rel`` (relative) plus ``absolute`` where ``inexact``.

    ``rel`` must exceed the relative error of the computation by at least one
    rounding (the raise itself is rounded to nearest); ``absolute`` covers
    results that fell into the subnormal range.
    """
    with np.errstate(over="ignore"):
        raised = value + value * rel + absolute
    result: FloatArray = np.where(inexact, raised, value)
    return result


def _float_up(x: Fraction) -> float:
    """The smallest float >= the exact rational ``x``."""
    f = float(x)
    if Fraction(f) < x:
        f = float(np.nextafter(f, math.inf))
    return f


class Modulus(ABC):
    """Base class of moduli of continuity.

    Subclasses implement ``_value`` (on a float64 array of radii ``t >= 0``,
    rounded up, exact at ``t = 0``) and ``_inverse`` (a candidate for the
    generalised inverse on an array of image-space radii ``eta >= omega(0)``;
    the base class certifies it).  The public ``__call__`` and ``inverse``
    handle broadcasting, scalars and the out-of-domain conventions.

    Moduli are immutable; they pickle and copy, and compare (and hash) by
    value: two moduli are equal when they are of the same kind with the same
    parameters and failure probability.
    """

    __slots__ = ("_failure_prob",)
    _failure_prob: float

    def __init__(self, *, failure_prob: float = 0.0) -> None:
        object.__setattr__(
            self, "_failure_prob", check_probability("failure_prob", failure_prob)
        )

    # -- immutability, pickling, value semantics ---------------------------------

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __reduce__(self) -> tuple[Any, ...]:
        return (restore, (type(self), slot_state(self)))

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    def _key(self) -> tuple[Any, ...]:
        items = []
        for name, value in sorted(slot_state(self).items()):
            if isinstance(value, np.ndarray):
                value = tuple(value.tolist())
            items.append((name, value))
        return (type(self), tuple(items))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Modulus) or type(other) is not type(self):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    # -- the modulus ---------------------------------------------------------------

    @property
    def failure_prob(self) -> float:
        """Probability that the modulus fails (0 for a deterministic modulus)."""
        return float(self._failure_prob)

    @property
    @abstractmethod
    def is_concave(self) -> bool:
        """Whether omega is concave on [0, inf) (needed by Theorem 4's form)."""

    @abstractmethod
    def _value(self, t: FloatArray) -> FloatArray: ...

    @abstractmethod
    def _inverse(self, eta: FloatArray) -> FloatArray: ...

    @abstractmethod
    def _params(self) -> dict[str, Any]: ...

    def __call__(self, t: ArrayLike) -> Any:
        """omega(t), an upper bound on the image distance for latent distance t (rounded up).

        NaN for ``t < 0`` and for NaN.
        """
        x = np.asarray(t, dtype=np.float64)
        out = np.full(x.shape, np.nan)
        ok = x >= 0
        out[ok] = self._value(x[ok])
        return scalar_or_array(out, t)

    def inverse(self, eta: ArrayLike) -> Any:
        """Generalised inverse ``sup{t >= 0 : omega(t) <= eta}``, certified from below.

        The returned radius ``t`` satisfies ``omega(t) <= eta`` with the
        rounded-up ``omega``, so it never exceeds the exact inverse.  0 for
        every ``eta`` below ``omega(0)`` (negative ones included); inf for inf;
        NaN for NaN.
        """
        x = np.asarray(eta, dtype=np.float64)
        flat = x.reshape(-1)
        out = np.full(flat.shape, np.nan)
        ok = ~np.isnan(flat)
        e = flat[ok]
        res = np.zeros(e.shape)
        above = e >= self.at_zero
        if np.any(above):
            ea = e[above]
            with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
                cand = np.asarray(self._inverse(ea), dtype=np.float64)
            cand = np.where(np.isnan(cand), 0.0, np.maximum(cand, 0.0))
            # omega(t) <= inf for every t, so the exact inverse of inf is inf; a
            # candidate formula such as inf - c * inf would otherwise give NaN, then 0
            cand = np.where(ea == np.inf, np.inf, cand)
            res[above] = self._certify(cand, ea)
        out[ok] = res
        return scalar_or_array(out.reshape(x.shape), eta)

    def _certify(self, t: FloatArray, eta: FloatArray) -> FloatArray:
        """Shrink each candidate ``t`` until the rounded-up ``omega(t) <= eta``.

        Geometric steps first (a few ulps, then more), then bisection towards
        0, where ``omega(0) <= eta`` holds by the caller's selection.
        """
        t = t.copy()
        bad = self._value(t) > eta
        shrink = 16.0 * _EPS
        while np.any(bad) and shrink < 0.25:
            idx = np.flatnonzero(bad)
            t[idx] = np.where(np.isinf(t[idx]), np.finfo(np.float64).max, t[idx] * (1.0 - shrink))
            bad[idx] = self._value(t[idx]) > eta[idx]
            shrink *= 4.0
        if np.any(bad):
            idx = np.flatnonzero(bad)
            lo = np.zeros(idx.size)
            hi = t[idx]
            for _ in range(1100):  # enough to resolve any float in [0, max]
                mid = 0.5 * lo + 0.5 * hi
                if np.all((mid == lo) | (mid == hi)):
                    break
                good = self._value(mid) <= eta[idx]
                lo = np.where(good, mid, lo)
                hi = np.where(good, hi, mid)
            t[idx] = lo
        return t

    def log_inverse(self, eta: ArrayLike) -> Any:
        """``log(inverse(eta))`` rounded down, finite where the inverse itself underflows.

        Holder moduli compute it in the log domain, so an image radius of
        1e-200 under a square-root modulus still has a usable latent radius
        (1e-400 does not fit in a float).  ``-inf`` where the inverse is 0.
        """
        t = np.asarray(self.inverse(eta), dtype=np.float64)
        with np.errstate(divide="ignore"):
            lg = np.log(t)
        with np.errstate(invalid="ignore"):
            out = np.where(np.isfinite(lg), lg - 2.0 * _EPS * np.abs(lg) - 1e-300, lg)
        return scalar_or_array(out, eta)

    def _breakpoints(self) -> FloatArray:
        """Latent radii where omega may jump or kink (for quadrature); none by default."""
        return np.zeros(0)

    @property
    def at_zero(self) -> float:
        """omega(0): image radii below it carry no guarantee."""
        return float(self._value(np.zeros(1))[0])

    def __repr__(self) -> str:
        params = dict(self._params())
        if self.failure_prob:
            params["failure_prob"] = self.failure_prob
        inner = ", ".join(f"{k}={v!r}" for k, v in params.items())
        return f"{type(self).__name__}({inner})"


class Identity(Modulus):
    """omega(t) = t: latent-space robustness (Remark 5), no smoothness needed.

    Exact in both directions (no rounding).
    """

    __slots__ = ()

    @property
    def is_concave(self) -> bool:
        return True

    def _value(self, t: FloatArray) -> FloatArray:
        return np.array(t, dtype=np.float64)

    def _inverse(self, eta: FloatArray) -> FloatArray:
        return np.array(eta, dtype=np.float64)

    def _params(self) -> dict[str, Any]:
        return {}


class Affine(Modulus):
    r"""omega(t) = slope * t + intercept.

    ``intercept = omega(0) >= 0`` allows disconnected supports: image radii
    below it carry no guarantee (the inverse is 0 there).

    Parameters
    ----------
    slope : float
        Positive finite slope.
    intercept : float
        omega(0), finite and >= 0.
    failure_prob : float, optional
        Probability that this (estimated) modulus fails, in [0, 1).

    Examples
    --------
    >>> omega = Affine(2.0, 0.5)
    >>> float(omega(1.0)) >= 2.5, round(omega.inverse(2.5), 12), omega.inverse(0.1)
    (True, 1.0, 0.0)
    """

    __slots__ = ("_intercept", "_slope")
    _slope: float
    _intercept: float

    def __init__(self, slope: float, intercept: float, *, failure_prob: float = 0.0) -> None:
        super().__init__(failure_prob=failure_prob)
        self._set("_slope", check_positive("slope", slope))
        self._set("_intercept", check_nonnegative("intercept", intercept))

    @property
    def slope(self) -> float:
        return float(self._slope)

    @property
    def intercept(self) -> float:
        return float(self._intercept)

    @property
    def is_concave(self) -> bool:
        return True

    def _value(self, t: FloatArray) -> FloatArray:
        # two roundings (product, sum), both of non-negative terms: <= 2u relative
        with np.errstate(over="ignore"):
            v = self._slope * t + self._intercept
        return _up(v, t > 0, 4.0 * _EPS, 2.0 * _TINIEST)

    def _inverse(self, eta: FloatArray) -> FloatArray:
        # stepped back by the value's rounding margin (4 ulps of omega = eta, seen
        # through the slope), so that the certificate usually holds at once
        result: FloatArray = (eta - self._intercept) / self._slope - 8.0 * _EPS * eta / self._slope
        return result

    def _params(self) -> dict[str, Any]:
        return {"slope": self.slope, "intercept": self.intercept}


class Lipschitz(Affine):
    """omega(t) = L t, the modulus of an L-Lipschitz generator.

    Parameters
    ----------
    L : float
        Positive finite Lipschitz constant.
    failure_prob : float, optional
        Probability that this (estimated) constant fails, in [0, 1).

    Examples
    --------
    >>> round(Lipschitz(2.5).inverse(0.5), 12)
    0.2
    >>> Lipschitz(-1.0)
    Traceback (most recent call last):
    ...
    ValueError: L must be a positive finite number, got L=-1.0
    """

    __slots__ = ()

    def __init__(self, L: float, *, failure_prob: float = 0.0) -> None:
        Modulus.__init__(self, failure_prob=failure_prob)
        self._set("_slope", check_positive("L", L))
        self._set("_intercept", 0.0)

    @property
    def L(self) -> float:
        return self.slope

    def _params(self) -> dict[str, Any]:
        return {"L": self.L}


class Holder(Modulus):
    r"""omega(t) = constant * t**exponent.

    Concave (so usable in Theorem 4's closed form) iff ``exponent <= 1``
    (``exponent = 1`` is Lipschitz, concave too).

    Examples
    --------
    >>> omega = Holder(3.0, 0.5)
    >>> round(omega(4.0), 12), round(omega.inverse(6.0), 12), omega.is_concave
    (6.0, 4.0, True)
    """

    __slots__ = ("_constant", "_exponent")
    _constant: float
    _exponent: float

    def __init__(self, constant: float, exponent: float, *, failure_prob: float = 0.0) -> None:
        super().__init__(failure_prob=failure_prob)
        self._set("_constant", check_positive("constant", constant))
        self._set("_exponent", check_positive("exponent", exponent))

    @property
    def constant(self) -> float:
        return float(self._constant)

    @property
    def exponent(self) -> float:
        return float(self._exponent)

    @property
    def is_concave(self) -> bool:
        return self._exponent <= 1.0

    def _value(self, t: FloatArray) -> FloatArray:
        # pow within 4 ulps (libm and SIMD builds), then one product
        with np.errstate(over="ignore", under="ignore"):
            v = self._constant * np.power(t, self._exponent)
        return _up(v, t > 0, 12.0 * _EPS, 8.0 * _TINIEST * (self._constant + 1.0))

    def _inverse(self, eta: FloatArray) -> FloatArray:
        # stepped back so that the certificate usually holds at once: the value's
        # 12-ulp margin costs about 12 / exponent ulps of the radius, and the
        # rounding of 1 / exponent is amplified by |log x| / exponent
        x = eta / self._constant
        result: FloatArray = np.power(x, 1.0 / self._exponent)
        with np.errstate(divide="ignore"):
            back = _EPS * (2.0 * np.abs(np.log(x)) + 32.0) / min(self._exponent, 1.0)
        return result * (1.0 - np.minimum(back, 0.5))

    def log_inverse(self, eta: ArrayLike) -> Any:
        x = np.asarray(eta, dtype=np.float64)
        lc = math.log(self._constant)
        with np.errstate(divide="ignore", invalid="ignore"):
            lx = np.log(x)
            out = (lx - lc) / self._exponent
            # each log is within an ulp or two of its magnitude, the difference
            # and the division add one rounding each: a bound with room to spare
            err = 8.0 * _EPS * ((np.abs(lx) + abs(lc)) / self._exponent + np.abs(out)) + 1e-300
            out = np.where(np.isfinite(out), out - err, out)
        out = np.where(x > 0, out, np.where(np.isnan(x), np.nan, -np.inf))
        return scalar_or_array(out, eta)

    def _params(self) -> dict[str, Any]:
        return {"constant": self.constant, "exponent": self.exponent}


def _interp(x: FloatArray, x0: FloatArray, x1: FloatArray, y0: FloatArray, y1: FloatArray) -> FloatArray:
    """``y0 + (y1 - y0) * ((x - x0) / (x1 - x0))``: never overflows (the ratio is in [0, 1])."""
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.clip((x - x0) / (x1 - x0), 0.0, 1.0)
        result: FloatArray = y0 + (y1 - y0) * frac
    return result


class PiecewiseLinear(Modulus):
    r"""A modulus from measured pairs ``(radii[k], values[k])``.

    The values are made non-decreasing by a running maximum.  Between two
    radii the modulus is interpolated linearly (``interpolation="linear"``)
    or, conservatively, by the value at the right end
    (``interpolation="step"``: only this choice is implied by monotonicity
    alone, so it is the safe one for measured values).  On ``[0, radii[0]]``
    it is ``values[0]`` (monotonicity again); beyond the last radius nothing
    was measured, so omega is ``+inf`` there and the inverse never exceeds
    ``radii[-1]`` (use ``extrapolate=True`` to continue the line through the
    last two measured pairs instead, an assumption you then make).

    Parameters
    ----------
    radii : array_like
        Strictly increasing latent radii ``>= 0``.
    values : array_like
        omega at those radii, finite and ``>= 0``.
    interpolation : {"linear", "step"}
    extrapolate : bool
    failure_prob : float
        Probability that the measured modulus fails (``docs/theory.md``,
        "Probabilistic modulus").

    Examples
    --------
    >>> omega = PiecewiseLinear([0.0, 1.0, 2.0], [0.1, 1.1, 1.6])
    >>> round(omega(0.5), 12), omega.inverse(1.1), omega(3.0)
    (0.6, 1.0, inf)
    >>> step = PiecewiseLinear([0.0, 1.0, 2.0], [0.0, 1.0, 1.5], interpolation="step")
    >>> step(0.5), round(step.concave_majorant()(0.5), 12)
    (1.0, 1.25)
    """

    __slots__ = ("_extrapolate", "_interpolation", "_radii", "_values")
    _radii: FloatArray
    _values: FloatArray
    _interpolation: str
    _extrapolate: bool

    def __init__(
        self,
        radii: ArrayLike,
        values: ArrayLike,
        *,
        interpolation: str = "linear",
        extrapolate: bool = False,
        failure_prob: float = 0.0,
    ) -> None:
        super().__init__(failure_prob=failure_prob)
        t = as_class_vector("radii", radii)
        v = as_class_vector("values", values)
        if t.shape != v.shape:
            raise ValueError(
                f"radii and values must have the same length, got {t.size} and {v.size}"
            )
        if np.any(~np.isfinite(t)) or np.any(t < 0):
            raise ValueError(f"radii must be finite and >= 0, got radii={short_repr(t)}")
        if t.size > 1 and np.any(np.diff(t) <= 0):
            raise ValueError(f"radii must be strictly increasing, got radii={short_repr(t)}")
        if np.any(~np.isfinite(v)) or np.any(v < 0):
            raise ValueError(f"values must be finite and >= 0, got values={short_repr(v)}")
        if not isinstance(interpolation, str):
            raise ArgumentTypeError(
                f"interpolation must be 'linear' or 'step', got interpolation={interpolation!r}"
            )
        if interpolation not in ("linear", "step"):
            raise ValueError(
                f"interpolation must be 'linear' or 'step', got interpolation={interpolation!r}"
            )
        if not isinstance(extrapolate, (bool, np.bool_)):
            raise ArgumentTypeError(
                f"extrapolate must be True or False, got extrapolate={extrapolate!r}"
            )
        if extrapolate and t.size < 2:
            raise ValueError("extrapolate=True needs at least two radii")
        v = np.maximum.accumulate(v)
        t.setflags(write=False)
        v.setflags(write=False)
        self._set("_radii", t)
        self._set("_values", v)
        self._set("_interpolation", interpolation)
        self._set("_extrapolate", bool(extrapolate))

    @property
    def radii(self) -> FloatArray:
        return self._radii

    @property
    def values(self) -> FloatArray:
        """The measured values after the running maximum."""
        return self._values

    @property
    def interpolation(self) -> str:
        return str(self._interpolation)

    @property
    def extrapolate(self) -> bool:
        return bool(self._extrapolate)

    @property
    def is_concave(self) -> bool:
        """Concave on all of ``[0, inf)``.

        False without ``extrapolate`` (omega is ``+inf`` beyond the last
        radius) and for step interpolation (a step function is concave only
        when it is constant); otherwise the slopes must not increase.
        """
        if self._interpolation == "step" or not self._extrapolate:
            return False
        t, v = self._knots()
        slopes = np.diff(v) / np.diff(t)
        return bool(np.all(np.diff(slopes) <= 1e-15 * (1.0 + np.abs(slopes[:-1]))))

    def _knots(self) -> tuple[FloatArray, FloatArray]:
        """Knots of the (linear) interpolant including the flat piece from 0."""
        t, v = self._radii, self._values
        if t[0] > 0:
            t = np.concatenate([[0.0], t])
            v = np.concatenate([[v[0]], v])
        return t, v

    def _tail_slope(self) -> float:
        """Slope of the extrapolated line beyond the last radius (>= 0)."""
        r, v = self._radii, self._values
        with np.errstate(over="ignore"):
            return float((v[-1] - v[-2]) / (r[-1] - r[-2]))

    def _value(self, t: FloatArray) -> FloatArray:
        radii, values = self._radii, self._values
        last = radii[-1]
        out = np.empty(t.shape)
        inside = t <= last
        ti = t[inside]
        if self._interpolation == "step":
            idx = np.searchsorted(radii, ti, side="left")
            out[inside] = values[np.minimum(idx, radii.size - 1)]
        else:
            kt, kv = self._knots()
            if kt.size == 1:  # a single knot at 0: t == 0 here
                out[inside] = kv[0]
            else:
                j = np.clip(np.searchsorted(kt, ti, side="right") - 1, 0, kt.size - 2)
                at_right = ti == kt[j + 1]
                v = np.where(at_right, kv[j + 1], _interp(ti, kt[j], kt[j + 1], kv[j], kv[j + 1]))
                # five roundings on non-negative terms, exact at a knot or on a flat piece
                inexact = (ti > kt[j]) & ~at_right & (kv[j + 1] > kv[j])
                out[inside] = _up(v, inexact, 8.0 * _EPS, 4.0 * _TINIEST)
        beyond = ~inside
        if np.any(beyond):
            tb = t[beyond]
            if not self._extrapolate:
                out[beyond] = np.inf
            else:
                slope = self._tail_slope()
                if slope > 0:
                    with np.errstate(over="ignore", invalid="ignore"):
                        v = values[-1] + slope * (tb - last)
                    out[beyond] = _up(v, np.ones(tb.shape, dtype=bool), 8.0 * _EPS, 4.0 * _TINIEST)
                else:
                    out[beyond] = values[-1]
        return out

    def _inverse(self, eta: FloatArray) -> FloatArray:
        radii, values = self._radii, self._values
        # largest knot index whose value is <= eta (eta >= values[0] here)
        k = np.maximum(np.searchsorted(values, eta, side="right") - 1, 0)
        out = radii[k].astype(np.float64)
        inner = k < radii.size - 1
        if self._interpolation == "linear" and np.any(inner):
            ki = k[inner]
            # values[ki + 1] > eta >= values[ki]: the segment is not flat; step back by
            # the value's 8-ulp margin seen through the segment's slope
            t0, t1, v0, v1 = radii[ki], radii[ki + 1], values[ki], values[ki + 1]
            cand = _interp(eta[inner], v0, v1, t0, t1)
            out[inner] = np.maximum(cand - 12.0 * _EPS * eta[inner] * ((t1 - t0) / (v1 - v0)), t0)
        last = ~inner
        if self._extrapolate and np.any(last):
            slope = self._tail_slope()
            if slope > 0:
                with np.errstate(over="ignore"):
                    el = eta[last]
                    out[last] = np.maximum(
                        radii[-1] + (el - values[-1]) / slope - 12.0 * _EPS * el / slope, radii[-1]
                    )
            else:
                out[last] = np.inf
        return out

    def _breakpoints(self) -> FloatArray:
        return np.asarray(self._radii, dtype=np.float64)

    def concave_majorant(self) -> PiecewiseLinear:
        r"""The least concave function above this modulus, raised by 16 ulps.

        Theorem 4's closed form needs a concave modulus; the majorant keeps
        every guarantee (it is pointwise at least omega) and is concave.
        Its knots are the upper corners of omega (the measured pairs for
        linear interpolation; for step interpolation the left end of each
        step at that step's value, so a step at radius 0 is taken at its
        right limit) that lie on the upper hull, decided in exact rational
        arithmetic.  With ``extrapolate=True`` the hull includes the ray
        beyond the last radius, so the majorant's last slope is never below
        omega's and it stays above omega on all of ``[0, inf)``; without it
        the majorant is concave on ``[0, radii[-1]]`` and ``+inf`` beyond
        (which :func:`isobound.theorem4` rightly refuses).  Every knot value
        is finally multiplied by ``1 + 16 * 2**-52`` so that the majorant's
        rounded evaluation is never below omega's.  Interpolates linearly and
        keeps ``failure_prob``.

        Examples
        --------
        >>> omega = PiecewiseLinear([0.0, 1.0, 2.0], [0.0, 1.0, 3.0], extrapolate=True)
        >>> maj = omega.concave_majorant()
        >>> maj.is_concave, bool(maj(1.0) >= 1.5), bool(maj(10.0) >= omega(10.0))
        (True, True, True)
        """
        radii, values = self._radii, self._values
        if self._interpolation == "step":
            # upper corners of the step function: (0, v0) and (t_{k-1}, v_k)
            pts_t = np.concatenate([[0.0], radii[:-1], radii[-1:]])
            pts_v = np.concatenate([[values[0]], values[1:], values[-1:]])
        else:
            pts_t, pts_v = self._knots()
        # where a radius repeats (a step at t = 0, the last radius), the larger
        # value is the one omega approaches: keep the last of each run
        keep = np.concatenate([np.diff(pts_t) > 0, [True]])
        pts_t, pts_v = pts_t[keep], pts_v[keep]
        ft = [Fraction(float(x)) for x in pts_t]
        fv = [Fraction(float(x)) for x in pts_v]
        hull: list[int] = []
        for i in range(len(ft)):
            while len(hull) >= 2:
                a, b = hull[-2], hull[-1]
                # drop b if it lies strictly below the chord from a to i
                cross = (ft[b] - ft[a]) * (fv[i] - fv[a]) - (fv[b] - fv[a]) * (ft[i] - ft[a])
                if cross > 0:
                    hull.pop()
                else:
                    break
            hull.append(i)
        ht = [pts_t[i] for i in hull]
        hv: list[float] = [float(pts_v[i]) for i in hull]
        if self._extrapolate:
            # omega continues beyond the last radius with slope s: the hull of
            # the points and that ray keeps only segments of slope >= s
            r, v = radii, values
            s = (Fraction(float(v[-1])) - Fraction(float(v[-2]))) / (
                Fraction(float(r[-1])) - Fraction(float(r[-2]))
            )
            hf = [(Fraction(float(x)), Fraction(y)) for x, y in zip(ht, hv, strict=True)]
            def slope(i: int) -> Fraction:  # of the hull segment from vertex i to i + 1
                return (hf[i + 1][1] - hf[i][1]) / (hf[i + 1][0] - hf[i][0])

            j = 0
            while j < len(hf) - 1 and slope(j) >= s:
                j += 1
            # a segment as steep as the ray is part of it: start the ray there
            # (so no knot is added where the hull already has the ray's slope)
            while j > 0 and slope(j - 1) == s:
                j -= 1
            tj, vj = hf[j]
            if j < len(hf) - 1:
                # replace the shallower segments by the ray's slope from vertex j
                end = hf[-1][0]
                ht = [*ht[: j + 1], float(end)]
                hv = [*hv[: j + 1], _float_up(vj + s * (end - tj))]
            else:
                # every hull slope is >= s: add a knot on the ray past the end
                step = float(r[-1] - r[-2])
                end_t = float(r[-1]) + step
                ht = [*ht, end_t]
                hv = [*hv, _float_up(vj + s * (Fraction(end_t) - tj))]
        ht_arr = np.asarray(ht, dtype=np.float64)
        hv_arr = np.asarray(hv, dtype=np.float64) * (1.0 + 16.0 * _EPS)
        return PiecewiseLinear(
            ht_arr,
            hv_arr,
            interpolation="linear",
            extrapolate=self._extrapolate,
            failure_prob=self.failure_prob,
        )

    def _params(self) -> dict[str, Any]:
        params: dict[str, Any] = {
            "radii": self._radii.tolist(),
            "values": self._values.tolist(),
        }
        if self._interpolation != "linear":
            params["interpolation"] = self.interpolation
        if self._extrapolate:
            params["extrapolate"] = True
        return params


class Composition(Modulus):
    """omega(t) = outer(inner(t)): chain two moduli (both non-decreasing).

    The failure probabilities add (a union bound).  The value rounds up
    through both parts; the inverse ``inner.inverse(outer.inverse(eta))`` is
    certified on the composition itself, so it stays a lower bound on the
    generalised inverse at the jumps of a step modulus too.
    """

    __slots__ = ("_inner", "_outer")
    _outer: Modulus
    _inner: Modulus

    def __init__(self, outer: Modulus, inner: Modulus) -> None:
        for name, m in (("outer", outer), ("inner", inner)):
            if not isinstance(m, Modulus):
                raise ArgumentTypeError(f"{name} must be an isobound Modulus, got {name}={m!r}")
        total = outer.failure_prob + inner.failure_prob
        if total >= 1.0:
            raise ValueError(
                f"the failure probabilities add up to {total} >= 1: "
                f"outer={outer!r}, inner={inner!r}"
            )
        super().__init__(failure_prob=total)
        self._set("_outer", outer)
        self._set("_inner", inner)

    @property
    def outer(self) -> Modulus:
        return self._outer

    @property
    def inner(self) -> Modulus:
        return self._inner

    @property
    def is_concave(self) -> bool:
        # concave non-decreasing after concave is concave
        return self.outer.is_concave and self.inner.is_concave

    def _value(self, t: FloatArray) -> FloatArray:
        return np.asarray(self.outer(self.inner(t)), dtype=np.float64)

    def _inverse(self, eta: FloatArray) -> FloatArray:
        return np.asarray(self.inner.inverse(self.outer.inverse(eta)), dtype=np.float64)

    def _breakpoints(self) -> FloatArray:
        # the inner part's own, and where the inner part reaches the outer's
        # (a jump of a step outer part at s is a jump at inner^-1(s))
        mapped = np.asarray(self.inner.inverse(self.outer._breakpoints()), dtype=np.float64)
        pts = np.concatenate([self.inner._breakpoints(), mapped])
        return np.unique(pts[np.isfinite(pts) & (pts > 0)])

    def _params(self) -> dict[str, Any]:
        return {"outer": self.outer, "inner": self.inner}

    def __repr__(self) -> str:
        return f"Composition(outer={self.outer!r}, inner={self.inner!r})"


class UniformPrior(Composition):
    r"""Modulus on Gaussian latents of a generator sampled with uniform latents.

    Many DCGANs draw :math:`u \sim U[-1, 1]^d`.  The map
    :math:`T(z) = 2\Phi(z) - 1` (coordinate-wise) pushes :math:`N(0, I_d)`
    onto that cube and is :math:`\sqrt{2/\pi}`-Lipschitz, so a generator with
    modulus :math:`\omega_u` on uniform latents has modulus
    :math:`\omega(t) = \omega_u(\sqrt{2/\pi}\,t)` as a function of Gaussian
    latents, and every bound of the paper applies to it.  The constant is
    stored rounded up.

    Examples
    --------
    >>> omega = UniformPrior(Lipschitz(1.0))
    >>> round(omega(1.0), 6)
    0.797885
    """

    __slots__ = ()

    def __init__(self, omega_uniform: Modulus) -> None:
        if not isinstance(omega_uniform, Modulus):
            raise ArgumentTypeError(
                f"omega_uniform must be an isobound Modulus, got omega_uniform={omega_uniform!r}"
            )
        super().__init__(omega_uniform, Lipschitz(UNIFORM_PRIOR_SLOPE))

    def __repr__(self) -> str:
        return f"UniformPrior({self.outer!r})"


def as_modulus(omega: Any) -> Modulus:
    """``None`` means the identity; a Modulus passes through; anything else is a TypeError."""
    if omega is None:
        return Identity()
    if isinstance(omega, Modulus):
        return omega
    raise ArgumentTypeError(
        "omega must be an isobound Modulus (Lipschitz, Affine, Holder, PiecewiseLinear, "
        f"UniformPrior, ...) or None for the identity, got omega={omega!r}"
    )
