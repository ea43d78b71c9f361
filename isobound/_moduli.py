r"""Moduli of continuity of a generator.

A modulus :math:`\omega` bounds how far images move when latents move:
:math:`\|g(z) - g(z')\| \le \omega(\|z - z'\|_2)`.  Theorem 1 uses it through
its generalised inverse: a latent perturbation of norm at most
:math:`\varepsilon = \omega^{-1}(\eta) = \sup\{t \ge 0 : \omega(t) \le \eta\}`
moves the image by at most :math:`\eta`.  Where :math:`\eta < \omega(0)` (a
modulus with a jump at 0, for generators with disconnected support) the
inverse is 0 and the bound says nothing.

Every modulus is an immutable, validated object with ``__call__`` (vectorised
over ``t``), ``inverse``, ``is_concave`` and ``failure_prob``.  The last is
the probability :math:`\delta` with which an *estimated* (probabilistic)
modulus may fail; the bound subtracts it (DESIGN.md section 4).  It is not
the Wasserstein :math:`\delta` of Theorem 4.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._gaussian import scalar_or_array
from ._validation import (
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

#: Lipschitz constant of T(z) = 2 Phi(z) - 1, which pushes N(0, 1) onto U[-1, 1].
UNIFORM_PRIOR_SLOPE = math.sqrt(2.0 / math.pi)


class Modulus(ABC):
    """Base class of moduli of continuity.

    Subclasses implement ``_value`` (on a float64 array of radii ``t >= 0``)
    and ``_inverse`` (on an array of image-space radii ``eta >= 0``).  The
    public ``__call__`` and ``inverse`` handle broadcasting, scalars, and the
    out-of-domain conventions: negative arguments give NaN, NaN stays NaN.
    """

    __slots__ = ("_failure_prob",)
    _failure_prob: float

    def __init__(self, *, failure_prob: float = 0.0) -> None:
        object.__setattr__(
            self, "_failure_prob", check_probability("failure_prob", failure_prob)
        )

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

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
        """omega(t), an upper bound on the image distance for latent distance t."""
        x = np.asarray(t, dtype=np.float64)
        out = np.full(x.shape, np.nan)
        ok = x >= 0
        out[ok] = self._value(x[ok])
        return scalar_or_array(out, t)

    def inverse(self, eta: ArrayLike) -> Any:
        """Generalised inverse ``sup{t >= 0 : omega(t) <= eta}`` (0 below omega(0))."""
        x = np.asarray(eta, dtype=np.float64)
        out = np.full(x.shape, np.nan)
        ok = x >= 0
        out[ok] = np.maximum(self._inverse(x[ok]), 0.0)
        return scalar_or_array(out, eta)

    def log_inverse(self, eta: ArrayLike) -> Any:
        """``log(inverse(eta))``, finite where the inverse itself underflows.

        Subclasses with a closed form (Holder, Affine) compute it in the log
        domain, so an image radius of 1e-200 under a square-root modulus
        still has a usable latent radius (1e-400 does not fit in a float).
        """
        with np.errstate(divide="ignore"):
            return scalar_or_array(np.log(np.asarray(self.inverse(eta), dtype=np.float64)), eta)

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

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Modulus) or type(other) is not type(self):
            return NotImplemented
        return repr(self) == repr(other)

    def __hash__(self) -> int:
        return hash(repr(self))


class Identity(Modulus):
    """omega(t) = t: latent-space robustness (Remark 5), no smoothness needed."""

    __slots__ = ()

    @property
    def is_concave(self) -> bool:
        return True

    def _value(self, t: FloatArray) -> FloatArray:
        return t

    def _inverse(self, eta: FloatArray) -> FloatArray:
        return eta

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
    >>> omega(1.0), omega.inverse(2.5), omega.inverse(0.1)
    (2.5, 1.0, 0.0)
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
        result: FloatArray = self._slope * t + self._intercept
        return result

    def _inverse(self, eta: FloatArray) -> FloatArray:
        result: FloatArray = (eta - self._intercept) / self._slope
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
    >>> Lipschitz(2.5).inverse(0.5)
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

    Concave (so usable in Theorem 4's closed form) iff ``exponent <= 1``.

    Examples
    --------
    >>> omega = Holder(3.0, 0.5)
    >>> omega(4.0), omega.inverse(6.0), omega.is_concave
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
        result: FloatArray = self._constant * np.power(t, self._exponent)
        return result

    def _inverse(self, eta: FloatArray) -> FloatArray:
        result: FloatArray = np.power(eta / self._constant, 1.0 / self._exponent)
        return result

    def log_inverse(self, eta: ArrayLike) -> Any:
        x = np.asarray(eta, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = (np.log(x) - math.log(self._constant)) / self._exponent
        out = np.where(x >= 0, out, np.nan)
        return scalar_or_array(out, eta)

    def _params(self) -> dict[str, Any]:
        return {"constant": self.constant, "exponent": self.exponent}


class PiecewiseLinear(Modulus):
    r"""A modulus from measured pairs ``(radii[k], values[k])``.

    The values are made non-decreasing by a running maximum.  Between two
    radii the modulus is interpolated linearly (``interpolation="linear"``)
    or, conservatively, by the value at the right end
    (``interpolation="step"``: only this choice is implied by monotonicity
    alone, so it is the safe one for measured values).  On ``[0, radii[0]]``
    it is ``values[0]`` (monotonicity again); beyond the last radius nothing
    was measured, so omega is ``+inf`` there and the inverse never exceeds
    ``radii[-1]`` (use ``extrapolate=True`` to continue the last segment's
    slope instead, an assumption you then make).

    Parameters
    ----------
    radii : array_like
        Strictly increasing latent radii ``>= 0``.
    values : array_like
        omega at those radii, finite and ``>= 0``.
    interpolation : {"linear", "step"}
    extrapolate : bool
    failure_prob : float
        Probability that the measured modulus fails (DESIGN.md section 4).

    Examples
    --------
    >>> omega = PiecewiseLinear([0.0, 1.0, 2.0], [0.1, 1.1, 1.6])
    >>> omega(0.5), omega.inverse(1.1), omega(3.0)
    (0.6, 1.0, inf)
    >>> omega.concave_majorant()(0.5)
    0.6
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
        if interpolation not in ("linear", "step"):
            raise ValueError(
                f"interpolation must be 'linear' or 'step', got interpolation={interpolation!r}"
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
    def is_concave(self) -> bool:
        if self._interpolation == "step" or self._extrapolate is False:
            # +inf beyond the last radius is not concave on [0, inf), and a
            # step function is concave only when it is constant.
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

    def _value(self, t: FloatArray) -> FloatArray:
        radii, values = self._radii, self._values
        last = radii[-1]
        if self._interpolation == "step":
            idx = np.searchsorted(radii, t, side="left")
            out = values[np.minimum(idx, radii.size - 1)]
        else:
            kt, kv = self._knots()
            out = np.interp(t, kt, kv)
        out = np.asarray(out, dtype=np.float64).copy()
        beyond = t > last
        if self._extrapolate:
            slope = (values[-1] - values[-2]) / (radii[-1] - radii[-2])
            out[beyond] = values[-1] + slope * (t[beyond] - last)
        else:
            out[beyond] = np.inf
        return out

    def _inverse(self, eta: FloatArray) -> FloatArray:
        radii, values = self._radii, self._values
        # largest knot index whose value is <= eta
        idx = np.searchsorted(values, eta, side="right") - 1
        out = np.zeros(eta.shape)
        below = idx < 0  # eta < values[0] = omega(0): no guarantee
        out[below] = 0.0
        ok = ~below
        k = idx[ok]
        e = eta[ok]
        if self._interpolation == "step":
            out[ok] = radii[k]
        else:
            res = radii[k].copy()
            inner = k < radii.size - 1
            k_in = k[inner]
            t0, t1 = radii[k_in], radii[k_in + 1]
            v0, v1 = values[k_in], values[k_in + 1]
            # v1 > eta >= v0 here, so the segment is not flat
            res[inner] = t0 + (e[inner] - v0) * (t1 - t0) / (v1 - v0)
            last = ~inner
            if self._extrapolate and np.any(last):
                slope = (values[-1] - values[-2]) / (radii[-1] - radii[-2])
                if slope > 0:
                    res[last] = radii[-1] + (e[last] - values[-1]) / slope
                else:
                    res[last] = np.inf
            out[ok] = res
        return out

    def concave_majorant(self) -> PiecewiseLinear:
        """The least concave function above this modulus on ``[0, radii[-1]]``.

        Theorem 4's closed form needs a concave modulus; the majorant keeps
        every guarantee (it is pointwise larger) and is concave on its range.
        The result interpolates linearly, keeps ``failure_prob`` and is
        ``+inf`` beyond the last radius unless ``extrapolate`` was set.
        """
        radii, values = self._radii, self._values
        if self._interpolation == "step":
            # the step function's upper corners: (0, v0) and (t_{k-1}, v_k)
            pts_t = np.concatenate([[0.0], radii[:-1], radii[-1:]])
            pts_v = np.concatenate([[values[0]], values[1:], values[-1:]])
            keep = np.concatenate([[True], np.diff(pts_t) > 0])
            pts_t, pts_v = pts_t[keep], np.maximum.accumulate(pts_v)[keep]
        else:
            pts_t, pts_v = self._knots()
        hull: list[int] = []
        for i in range(pts_t.size):
            while len(hull) >= 2:
                a, b = hull[-2], hull[-1]
                # drop b if it lies on or below the chord from a to i
                cross = (pts_t[b] - pts_t[a]) * (pts_v[i] - pts_v[a]) - (
                    pts_v[b] - pts_v[a]
                ) * (pts_t[i] - pts_t[a])
                if cross >= 0:
                    hull.pop()
                else:
                    break
            hull.append(i)
        idx = np.asarray(hull)
        ht, hv = pts_t[idx], pts_v[idx]
        if ht.size == 1:  # a single point: constant
            ht = np.array([ht[0], ht[0] + 1.0]) if ht[0] == 0 else np.array([0.0, ht[0]])
            hv = np.array([hv[0], hv[0]])
        return PiecewiseLinear(
            ht,
            hv,
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

    The failure probabilities add (a union bound).
    """

    __slots__ = ("_inner", "_outer")
    _outer: Modulus
    _inner: Modulus

    def __init__(self, outer: Modulus, inner: Modulus) -> None:
        for name, m in (("outer", outer), ("inner", inner)):
            if not isinstance(m, Modulus):
                raise ValueError(f"{name} must be an isobound Modulus, got {name}={m!r}")
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
    latents, and every bound of the paper applies to it.

    Examples
    --------
    >>> omega = UniformPrior(Lipschitz(1.0))
    >>> round(omega(1.0), 6)
    0.797885
    """

    __slots__ = ()

    def __init__(self, omega_uniform: Modulus) -> None:
        if not isinstance(omega_uniform, Modulus):
            raise ValueError(
                f"omega_uniform must be an isobound Modulus, got omega_uniform={omega_uniform!r}"
            )
        super().__init__(omega_uniform, Lipschitz(UNIFORM_PRIOR_SLOPE))

    def __repr__(self) -> str:
        return f"UniformPrior({self.outer!r})"


def as_modulus(omega: Any) -> Modulus:
    """``None`` means the identity; a Modulus passes through; anything else is an error."""
    if omega is None:
        return Identity()
    if isinstance(omega, Modulus):
        return omega
    raise ValueError(
        "omega must be an isobound Modulus (Lipschitz, Affine, Holder, PiecewiseLinear, "
        f"UniformPrior, ...) or None for the identity, got omega={omega!r}"
    )
