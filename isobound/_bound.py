r"""The worst-case robustness distribution :math:`R^*` (Theorem 1).

For class proportions :math:`p_i` under the generator and
:math:`b_i = \Phi^{-1}(p_i)` (for a majority class,
:math:`b_i = -\Phi^{-1}(\sum_{j \ne i} p_j)`), the paper's Eq. (2) reads

.. math::

    P(r \le \eta) \;\ge\; B(\varepsilon)
    = \sum_i \bigl[\Phi(b_i) - \Phi(b_i - \varepsilon)\bigr],
    \qquad \varepsilon = \omega^{-1}(\eta),

and :math:`1 - B(\varepsilon) = \sum_i \Phi(b_i - \varepsilon)`.  ``B`` is the
cdf of a random variable :math:`R^*` on :math:`[0, \infty)`; the latent
robustness :math:`r_Z` is stochastically smaller than :math:`R^*` and the
in-distribution robustness is stochastically smaller than
:math:`\omega(R^*)`.  :class:`IsoperimetricBound` is :math:`R^*`;
:class:`ImageSpaceBound` is :math:`\omega(R^*)`.

The float64 numerics (interval masses, tails, logarithms, the quantile
solver, and a bound on the error of each value) live in
:mod:`isobound._kernel`; this module validates arguments, applies the
distribution conventions and rounds every value to its safe side.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import integrate
from scipy import special as sc

from ._frozen import restore, slot_state
from ._gaussian import (
    LOG_SQRT_2PI,
    log_normal_partial_moments,
    scalar_or_array,
    truncated_normal_variance,
)
from ._kernel import EPS as _EPS
from ._kernel import Kernel, ScalarKernel, logsumexp1
from ._moduli import Affine, Identity, Modulus, as_modulus
from ._validation import (
    SUM_TOLERANCE,
    ArgumentTypeError,
    as_class_vector,
    as_exact_counts,
    check_n_classes,
    check_positive,
    short_repr,
)

__all__ = ["ImageSpaceBound", "IsoperimetricBound"]

FloatArray = NDArray[np.float64]

#: Relative margin by which the image-space bound and the closed forms move a
#: value that passes through a modulus to its safe side.
SAFETY = 2.0**-46
#: Smallest positive float: the upper bound reported for a tail below the float range.
_TINIEST = float(np.nextafter(0.0, 1.0))
_TINY = float(np.finfo(np.float64).tiny)
_MAXF = float(np.finfo(np.float64).max)
#: Half an ulp of 1: a lower bound on B that is below 1 must be at most 1 - 2^-53.
_HALF_ULP1 = 2.0**-53
#: Radii beyond this are handled in closed form (their squares near the float limit).
_BIG = 1e150
#: Largest K for which the constructor checks its input in Python (cheaper than numpy calls there).
_SMALL_K = 256
_FAST_INPUTS = (list, tuple, np.ndarray)
_PLAIN_NUMBERS = {float, int, np.float64}
_UNIT: dict[int, tuple[FloatArray, FloatArray]] = {}


def _unit_counts(size: int) -> tuple[FloatArray, FloatArray]:
    """Read-only unit counts and their zero logs, shared by bounds of the same size."""
    pair = _UNIT.get(size)
    if pair is None:
        ones, zeros = np.ones(size), np.zeros(size)
        ones.setflags(write=False)
        zeros.setflags(write=False)
        pair = _UNIT[size] = (ones, zeros)
    return pair


#: Elements (radii x classes) per chunk of a bulk evaluation: bounds the memory.
_CHUNK = 1 << 16


def _threshold_sensitivity(b: FloatArray, order: int) -> FloatArray:
    r"""Bound on the relative change of :math:`M_n(a)`, ``a = -b``, from the rounding of ``b``, in ulps.

    The kernel's threshold carries 1.5 ulps of relative error plus half an ulp
    absolute near 0, :math:`|\Delta a| \le (1.5 |a| + 0.5)\,\epsilon`, and
    :math:`|d \log M_n / da| = n M_{n-1} / M_n`.  Their product is at most
    :math:`1.5 (a + n + 1)(a + 0.5)` in a tail (``a >= 0``) and at most
    :math:`1.5 n (1 + 0.5 / \max(|a|, 0.5))` for a majority class (``a < 0``,
    where :math:`M_n \sim |a|^n`).
    ``tests/test_error_budget.py`` checks both against the 50-digit derivative.
    """
    absb = np.abs(b)
    return np.where(
        b <= 0.0,
        1.5 * (absb + order + 1.0) * (absb + 0.5),
        1.5 * order * (1.0 + 0.5 / np.maximum(absb, 0.5)),
    )


def _moment_error_factor(b: FloatArray, logc: FloatArray, lm: FloatArray, order: int) -> FloatArray:
    r"""Per-class error factor of :math:`c_i M_n(a_i)` in ulps, before the kernel's safety factor.

    :math:`\rho_i = 8 + 4n + 2|\log c_i| + 3|\log M_n(a_i)| + t_i`: the moment's
    own relative error (``8 + 4n``: the ``n`` ratios of the recurrence or the
    continued fraction and their logs), the exponential of
    :math:`\log c_i + \log M_n(a_i)` (an ulp of each logarithm's magnitude
    per rounding), and the threshold's rounding :math:`t_i`
    (:func:`_threshold_sensitivity`).
    """
    return 8.0 + 4.0 * order + 2.0 * np.abs(logc) + 3.0 * np.abs(lm) + _threshold_sensitivity(b, order)


def _as_real(name: str, value: Any) -> FloatArray:
    """``value`` as a float64 array, or a TypeError naming the argument.

    Real numbers and arrays of them are accepted (bools and integers of any
    size too, as in numpy); ``None``, strings, complex numbers and other
    objects are rejected instead of silently becoming NaN.
    """
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError):  # ragged nested sequences and the like
        arr = np.asarray(value, dtype=object)
    kind = arr.dtype.kind
    if kind in "biuf":
        return np.asarray(arr, dtype=np.float64)
    if kind == "O":
        flat = arr.ravel().tolist()
        if all(
            isinstance(v, numbers.Real) or (hasattr(v, "__float__") and not isinstance(v, (str, bytes)))
            for v in flat
        ) and not any(v is None or isinstance(v, complex) for v in flat):
            try:
                return np.array([float(v) for v in flat], dtype=np.float64).reshape(arr.shape)
            except (TypeError, ValueError, OverflowError):
                pass
    raise TypeError(
        f"{name} must be a real number or an array of real numbers, got {name}={short_repr(value)}"
    )


def _lower(v: FloatArray, r: FloatArray) -> FloatArray:
    """``v (1 - r)`` rounded down; subnormal values step down by the smallest float."""
    w: FloatArray = v - v * r
    low = w < 2.0 * _TINY
    if np.any(low):
        w = np.where(low, np.maximum(w - _TINIEST, 0.0), w)
    return w


def _upper(v: FloatArray, r: FloatArray) -> FloatArray:
    """``v (1 + r)`` rounded up; below the normal range add the smallest float."""
    w: FloatArray = v + v * r
    low = w < 2.0 * _TINY
    if np.any(low):
        w = np.where(low, w + _TINIEST, w)
    return w


class IsoperimetricBound:
    r"""Worst-case robustness :math:`R^*` of any classifier, in latent space.

    ``cdf(eps)`` is :math:`B(\varepsilon)`, the paper's Eq. (2) with
    :math:`\omega` the identity: a **lower bound** on the fraction of points
    whose latent robustness :math:`r_Z` is at most ``eps``, valid for every
    classifier whose class proportions under the generator are
    ``class_probs``.  Everything the paper reports is a functional of this
    distribution: ``ppf(q)`` is an **upper bound** on the ``q``-quantile of
    robustness (Tables 1-2 use ``q = 0.25``, Figure 2 the median) and
    ``mean()`` is :math:`E R^* = \sum_i L(a_i)`, Theorem 4's quantity.

    The methods follow scipy.stats' frozen distributions (and the names of
    scipy's newer interface: ``ccdf``, ``logccdf``, ``icdf``, ``iccdf``,
    ``sample``) and are vectorised over their argument.  All computations stay
    in the log domain where it matters: interval masses are integrated
    directly (never ``1 - cdf``), tails use ``log_ndtr``, majority classes use
    the mass of the other classes, and equal classes are merged into one entry
    with a multiplicity, so ``equiprobable(10**400)`` costs the same as
    ``equiprobable(2)``.

    Every returned float lands on its safe side (lower bounds down, upper
    bounds up): each value carries a bound on its own rounding error,
    assembled term by term, and is moved by twice that bound (typically
    1e-15 to 1e-14 relative; about 1e-12 for classes near 1e-300 and for
    ``K = 10**400``, a few 1e-11 for ``K = 10**4000``).
    Bulk evaluation works in chunks, so memory stays within a few times the
    size of the output.

    Conventions: ``cdf`` of a negative radius is 0 and ``sf`` is 1 (scipy's
    convention below the support); ``ppf``/``isf`` outside [0, 1] and NaN
    give NaN; ``cdf(inf) = 1``; a finite radius has ``cdf < 1`` and
    ``sf >= 5e-324`` (the smallest float, an upper bound for tails below the
    float range).  Arguments that are not real numbers (``None``, strings)
    raise ``TypeError`` naming the argument.

    Parameters
    ----------
    class_probs : array_like
        Class proportions :math:`p_i = P(f(g(z)) = i)`, non-negative, summing
        to 1 (within 1e-9 relative; they are renormalised exactly).
    counts : array_like of int, optional
        Multiplicity of each entry: entry ``i`` stands for ``counts[i]``
        classes of probability ``class_probs[i]`` each.  Python integers of
        any size are accepted (``[10**400]``).
    normalize : bool, optional
        Rescale ``class_probs`` to sum to 1 instead of raising when they do not.

    Raises
    ------
    ValueError
        Negative, infinite or NaN probabilities; a sum that differs from 1
        (the message says by how much); non-positive or fractional counts.

    See Also
    --------
    ImageSpaceBound : the same bound pushed through a modulus of continuity.

    Examples
    --------
    The Z-space upper bound of the paper's Tables 1-2 (K = 10 equiprobable
    classes, d = 100, 25% quantile, normalised by E||z||):

    >>> from isobound import IsoperimetricBound, expected_gaussian_norm
    >>> bound = IsoperimetricBound.equiprobable(10)
    >>> round(bound.ppf(0.25), 6)
    0.15798
    >>> round(bound.ppf(0.25) / expected_gaussian_norm(100), 6)
    0.015838

    Deep in the tail the naive ``1 - sum(...)`` is 0 while ``logsf`` is not:

    >>> bound = IsoperimetricBound([0.5, 0.3, 0.2])
    >>> float(bound.logsf(40.0))
    -804.608442...
    """

    __slots__ = (
        "_counts",
        "_exact",
        "_kc",
        "_logc",
        "_logp",
        "_n_classes",
        "_p",
        "_py",
    )
    _p: FloatArray
    _logp: FloatArray
    _counts: FloatArray
    _logc: FloatArray
    _n_classes: int
    _exact: tuple[int, ...] | None
    _kc: Kernel | None
    _py: Any

    def __init__(
        self, class_probs: ArrayLike, counts: ArrayLike | None = None, *, normalize: bool = False
    ) -> None:
        if counts is None and type(class_probs) in _FAST_INPUTS and self._init_small(class_probs, normalize):
            return
        p = as_class_vector("class_probs", class_probs)
        bad = ~np.isfinite(p) | (p < 0)
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(
                f"class_probs must be finite and >= 0, got class_probs[{i}]={float(p[i])!r} "
                f"in class_probs={short_repr(class_probs)}"
            )
        if counts is None:  # the common case, without the general checks' cost
            c, logc, exact = np.ones(p.size), np.zeros(p.size), None
        else:
            c, logc, exact = as_exact_counts(counts, p.size)
        if (p > 0).all():
            logp = np.log(p)
        else:
            with np.errstate(divide="ignore"):
                logp = np.log(p)
        if exact is None:
            total = float(math.fsum((p * c).tolist())) if counts is not None else math.fsum(p.tolist())
            log_total = math.log(total) if total > 0 else -math.inf
        else:  # counts beyond the float range: the sum in logarithms
            log_total = logsumexp1(logp + logc)
            total = math.exp(log_total) if log_total < 709.0 else math.inf
        if not total > 0:
            raise ValueError(
                f"class_probs must have a positive sum, got class_probs={short_repr(class_probs)}"
            )
        if not normalize and abs(math.expm1(log_total)) > SUM_TOLERANCE:
            raise ValueError(
                f"class_probs must sum to 1, but they sum to {total!r} (off by "
                f"{total - 1.0:+.3g}): class_probs={short_repr(class_probs)}; "
                "pass normalize=True to rescale them"
            )
        logp = logp - log_total
        self._setup(logp, c, logc, exact, counts is None)

    def _init_small(self, class_probs: Any, normalize: bool) -> bool:
        """The constructor for a short vector of valid proportions and unit counts.

        It gives the same arrays as the general path (the same numpy ``log``
        and ``exp``, the same ``fsum``), with Python-level checks in place of
        a dozen numpy calls whose fixed cost dominates for small ``K``.  It
        returns False, having set nothing, for anything it does not accept;
        the general path then raises the right error or does the work.
        """
        if type(class_probs) is np.ndarray:
            if class_probs.dtype.kind not in "fiu":
                return False
        elif not set(map(type, class_probs)) <= _PLAIN_NUMBERS:  # bools, strings, nesting
            return False
        arr = np.asarray(class_probs, dtype=np.float64)
        if arr.ndim != 1 or not 0 < arr.size <= _SMALL_K:
            return False
        vals = arr.tolist()
        try:
            total = math.fsum(vals)
        except (ValueError, OverflowError):
            return False
        ordered = sorted(vals)
        if not (0.0 < total < math.inf) or not ordered[0] > 0.0:  # NaN, inf, negatives, zeros
            return False
        log_total = math.log(total)
        if not normalize and abs(math.expm1(log_total)) > SUM_TOLERANCE:
            return False
        if vals != ordered:  # log is monotone: sorting p sorts log p (ties are equal values)
            arr = arr[np.argsort(arr, kind="stable")]
        logp = np.log(arr)
        logp -= log_total
        if logp.size > 1 and not (logp[1:] > logp[:-1]).all():
            # classes of equal log-proportion: the general set-up merges them
            self._setup(logp, np.ones(arr.size), np.zeros(arr.size), None, True)
            return True
        ones, zeros = _unit_counts(arr.size)
        if ordered[0] > 1e-300:  # no exp can underflow
            p = np.exp(logp)
        else:
            with np.errstate(under="ignore"):
                p = np.exp(logp)
        self._store(p, logp, ones, zeros, arr.size, None)
        return True

    # -- construction -----------------------------------------------------

    @classmethod
    def from_log_probs(
        cls, log_probs: ArrayLike, counts: ArrayLike | None = None, *, normalize: bool = False
    ) -> IsoperimetricBound:
        r"""Build the bound from log class proportions.

        Use this for classes whose probability is below the float range
        (``log_probs`` down to -1e4 and beyond) or known only as logs.

        Parameters
        ----------
        log_probs : array_like
            :math:`\log p_i \le 0` (``-inf`` allowed for an empty class).
        counts : array_like of int, optional
            Multiplicities, as in the constructor.
        normalize : bool, optional
            Shift the logs so the probabilities sum to 1 instead of raising.

        Examples
        --------
        >>> b = IsoperimetricBound.from_log_probs([0.0, -1e4], normalize=True)
        >>> float(b.mean()) > 0
        True
        """
        lp = as_class_vector("log_probs", log_probs)
        bad = (lp > 0) | (lp == np.inf)
        if np.any(bad):
            i = int(np.argmax(bad))
            raise ValueError(
                f"log_probs must be <= 0, got log_probs[{i}]={float(lp[i])!r} "
                f"in log_probs={short_repr(log_probs)}"
            )
        c, logc, exact = as_exact_counts(counts, lp.size)
        if np.all(lp == -np.inf):
            raise ValueError(f"log_probs are all -inf: log_probs={short_repr(log_probs)}")
        total = logsumexp1(lp + logc)
        if not normalize and abs(total) > SUM_TOLERANCE:
            raise ValueError(
                f"exp(log_probs) must sum to 1, but log(sum) = {total!r} (sum off by "
                f"{math.expm1(total):+.3g}): log_probs={short_repr(log_probs)}; "
                "pass normalize=True to rescale them"
            )
        obj = cls.__new__(cls)
        obj._setup(lp - total if total else lp, c, logc, exact, counts is None)
        return obj

    @classmethod
    def equiprobable(cls, n_classes: int) -> IsoperimetricBound:
        """``K`` classes of probability ``1/K`` each, in O(1) for any ``K``.

        Parameters
        ----------
        n_classes : int
            ``K >= 1`` (1 gives the degenerate bound of a constant
            classifier).  Any Python integer: ``10**400`` works, and
            ``n_classes`` stays exact.

        Examples
        --------
        >>> round(IsoperimetricBound.equiprobable(1000).median(), 6)
        0.200294
        >>> IsoperimetricBound.equiprobable(10**15).n_classes
        1000000000000000
        >>> round(IsoperimetricBound.equiprobable(10**400).median(), 6)
        0.016179
        """
        k = check_n_classes(n_classes)
        lk = math.log(k)
        obj = cls.__new__(cls)
        exact = [k] if k >= 2**53 else None
        obj._setup(
            np.array([-lk]), np.array([float(k) if k < 2**1023 else math.inf]), np.array([lk]), exact, False
        )
        return obj

    def _setup(
        self,
        logp: FloatArray,
        counts: FloatArray,
        logc: FloatArray,
        exact: list[int] | None,
        unit_counts: bool,
    ) -> None:
        if exact is not None:
            n_total = sum(exact)
        elif unit_counts:
            n_total = logp.size
        else:
            n_total = sum(int(v) for v in counts.tolist())
        keep = logp > -np.inf
        if not keep.all():
            logp, counts, logc = logp[keep], counts[keep], logc[keep]
            if exact is not None:
                exact = [e for e, kk in zip(exact, keep.tolist(), strict=True) if kk]
        if logp.size > 1 and not (logp[1:] >= logp[:-1]).all():
            order = np.argsort(logp, kind="stable")
            logp = logp[order]
            counts, logc = counts[order], logc[order]
            if exact is not None:
                exact = [exact[i] for i in order.tolist()]
        if logp.size > 1 and (logp[1:] == logp[:-1]).any():
            # merge equal classes into one entry with a multiplicity
            uniq, inverse = np.unique(logp, return_inverse=True)
            if exact is None:
                counts = np.bincount(inverse, weights=counts).astype(np.float64)
                logc = np.log(counts)
            else:
                merged = [0] * uniq.size
                for i, e in zip(inverse.tolist(), exact, strict=True):
                    merged[i] += e
                exact = merged
                counts = np.array([float(e) if e < 2**1023 else math.inf for e in exact])
                logc = np.array([math.log(e) for e in exact])
            logp = uniq
        if logp.size and logp[0] > -700.0:  # sorted: no value can underflow
            p = np.exp(logp)
        else:
            with np.errstate(under="ignore"):
                p = np.exp(logp)
        self._store(p, logp, counts, logc, int(n_total), None if exact is None else tuple(exact))

    def _store(
        self,
        p: FloatArray,
        logp: FloatArray,
        counts: FloatArray,
        logc: FloatArray,
        n_classes: int,
        exact: tuple[int, ...] | None,
    ) -> None:
        """Set the bound's value (arrays made read-only) and empty caches."""
        for name, value in (("_p", p), ("_logp", logp), ("_counts", counts), ("_logc", logc)):
            value.setflags(write=False)
            object.__setattr__(self, name, value)
        object.__setattr__(self, "_kc", None)
        object.__setattr__(self, "_n_classes", n_classes)
        object.__setattr__(self, "_exact", exact)
        object.__setattr__(self, "_py", None)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("IsoperimetricBound is immutable")

    @property
    def _k(self) -> Kernel:
        """The float64 numerics (thresholds, error factors, the quantile table),
        built on first use: construction stays cheap, and a bound that is never
        evaluated never pays for it.  A cache, not part of the bound's value."""
        kern = self._kc
        if kern is None:
            with np.errstate(all="ignore"):
                kern = Kernel(self._logp, self._counts, self._logc)
            kern.b.setflags(write=False)
            object.__setattr__(self, "_kc", kern)
        return kern

    def __delattr__(self, name: str) -> None:
        raise AttributeError("IsoperimetricBound is immutable")

    # -- pickling, copying, value semantics -----------------------------------
    # Pickle and copy restore the stored fields as they are (bit-exact, no
    # recomputation), except caches built on first use (the slots named in
    # _CACHE_SLOTS), which travel empty and are rebuilt where they are needed;
    # equality and the hash are by value: the distinct class log-probabilities,
    # their multiplicities and the total number of classes.

    _CACHE_SLOTS = ("_kc", "_py")

    def __reduce__(self) -> tuple[Any, ...]:
        state = slot_state(self)
        for name in self._CACHE_SLOTS:
            if name in state:
                state[name] = None
        return (restore, (type(self), state))

    def _key(self) -> tuple[Any, ...]:
        return (
            tuple(np.asarray(self.log_probs, dtype=np.float64).tolist()),
            tuple(np.asarray(self.counts, dtype=np.float64).tolist()),
            self.n_classes,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, IsoperimetricBound) or type(other) is not type(self):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    # -- attributes ---------------------------------------------------------

    @property
    def n_classes(self) -> int:
        """Total number of classes, multiplicities (and empty classes) included; exact."""
        return self._n_classes

    @property
    def class_probs(self) -> FloatArray:
        """Distinct class probabilities (may underflow to 0 for log-prob input)."""
        return self._p

    @property
    def log_probs(self) -> FloatArray:
        """Logs of the distinct class probabilities."""
        return self._logp

    @property
    def counts(self) -> FloatArray:
        """Multiplicity of each distinct class probability (``inf`` beyond the float range)."""
        return self._counts

    @property
    def log_counts(self) -> FloatArray:
        """Logs of the multiplicities, exact to rounding for counts of any size."""
        return self._logc

    @property
    def thresholds(self) -> FloatArray:
        r""":math:`b_i = -a_{\ne i}`, the half-space thresholds of each class."""
        return self._k.b

    @property
    def _degenerate(self) -> bool:
        """A single class of probability 1: no classifier change, ``R* = inf``."""
        return self._k.degenerate

    def __repr__(self) -> str:
        present = sum(self._exact) if self._exact is not None else round(float(self._counts.sum()))
        empty = self._n_classes - present
        if self._p.size == 1 and empty == 0:
            return f"IsoperimetricBound.equiprobable({self.n_classes})"
        if empty:
            return (
                f"IsoperimetricBound(class_probs={short_repr(self._p)}, "
                f"counts={short_repr(self._counts)})  # and {empty:g} empty classes"
            )
        if np.all(self._counts == 1) and self._p.size <= 12:
            return f"IsoperimetricBound({self._p.tolist()!r})"
        return (
            f"IsoperimetricBound(class_probs={short_repr(self._p)}, "
            f"counts={short_repr(self._counts)})"
        )

    # -- scalar fast path ---------------------------------------------------------

    def _scalar_kernel(self) -> ScalarKernel | None:
        """The plain-Python twin of the kernel (built on first use), or None."""
        py = self._py
        if py is None:
            py = ScalarKernel(self._k) if ScalarKernel.usable(self._k) else False
            object.__setattr__(self, "_py", py)
        return py or None

    def _scalar(self, kind: str, x: float) -> float | None:
        """One radius in plain Python, rounded exactly as the vector path rounds;
        None where the vector path must take over (special points, logarithms)."""
        if not 0.0 < x < _BIG:
            return None
        py = self._scalar_kernel()
        if py is None:
            return None
        use_mass = x * py.m_bound < 0.5
        s = 0.0
        if not use_mass:
            rt = py.tail(x)
            if rt is None:
                return None
            s, rho = rt
            use_mass = s >= 0.5
        if use_mass:
            rm = py.mass(x)
            if rm is None:
                return None
            m, mrho = rm
            r = py.error(mrho) + 2 * _EPS
            lo = m - m * r
            if lo < 2 * _TINY:
                lo = max(lo - _TINIEST, 0.0)
            if kind == "cdf":
                return min(lo, 1.0 - _HALF_ULP1)
            if kind == "sf":
                return min((1.0 - lo) + _HALF_ULP1, 1.0)
            if kind == "logsf":
                return min(math.log1p(-lo) * (1.0 - 2 * _EPS), 0.0)
            if m < 1e-300:  # logcdf of a (sub)normal-range B: the vector path's logs
                return None
            lv = math.log(m)
            return lv - (py.error(mrho) + 2 * _EPS * abs(lv))
        r = py.error(rho) + 2 * _EPS
        up = s + s * r
        if kind == "cdf":
            return min(max((1.0 - up) - _HALF_ULP1, 0.0), 1.0 - _HALF_ULP1)
        if kind == "sf":
            return up
        if kind == "logcdf":
            return math.log1p(-up) * (1.0 + 2 * _EPS)
        lv = math.log(s)
        return min(lv + (py.error(rho) + 2 * _EPS * abs(lv)), 0.0)

    def _scalar_quantile(self, q: float, upper_tail: bool) -> float | None:
        if not 0.0 < q < 1.0:
            return None
        py = self._scalar_kernel()
        if py is None:
            return None
        small = q <= 0.5
        return py.solve(q if small else 1.0 - q, small != upper_tail)

    # -- evaluation plumbing --------------------------------------------------

    def _rows(self) -> int:
        """Radii per chunk, so that a chunk holds about _CHUNK (radius, class) pairs."""
        return max(256, _CHUNK // max(self._k.ncols, 1))

    def _evaluate(self, x: ArrayLike, name: str, kind: str) -> Any:
        arr = _as_real(name, x)
        flat = arr.reshape(-1)
        out = np.empty(flat.shape)
        step = self._rows()
        with np.errstate(all="ignore"):
            for s in range(0, flat.size, step):
                self._fill(kind, flat[s : s + step], out[s : s + step])
        return scalar_or_array(out.reshape(arr.shape), x)

    def _fill(self, kind: str, x: FloatArray, out: FloatArray) -> None:
        """Evaluate one chunk: the conventions at the special points, the kernel elsewhere."""
        # values at: below 0, 0, beyond _BIG (finite), +inf
        table = {
            "cdf": (0.0, 0.0, 1.0 - _HALF_ULP1, 1.0),
            "sf": (1.0, 1.0, _TINIEST, 0.0),
            "logcdf": (-np.inf, -np.inf, -2.0 * _HALF_ULP1, 0.0),
            "logsf": (0.0, 0.0, np.nan, -np.inf),
            "pdf": (0.0, np.nan, 0.0, 0.0),
        }
        below, zero, big, inf = table[kind]
        out[:] = np.nan
        if self._degenerate:
            # R* = inf almost surely: B = 0 at every radius
            deg = {"cdf": 0.0, "sf": 1.0, "logcdf": -np.inf, "logsf": 0.0, "pdf": 0.0}[kind]
            out[x >= 0] = deg
            out[x < 0] = below
            return
        out[x < 0] = below
        out[x == 0] = zero if kind != "pdf" else math.exp(self._k.log_pdf0)
        out[x == np.inf] = inf
        huge = (x >= _BIG) & (x < np.inf)
        if np.any(huge):
            if kind == "logsf":
                out[huge] = self._logsf_far(x[huge])
            else:
                out[huge] = big
        sel = (x > 0) & (x < _BIG)
        if not np.any(sel):
            return
        xs = x[sel]
        out[sel] = getattr(self, "_" + kind)(xs)

    def _logsf_far(self, x: FloatArray) -> FloatArray:
        """Upper bound on log S for radii beyond 1e150: S <= K Phi(b_max - x)
        <= K phi(y) / y with y = x - b_max (so log S is below -5e299)."""
        k = self._k
        y = (x - k.b_max) * (1.0 - 4 * _EPS)
        with np.errstate(over="ignore"):
            v = k.log_k - 0.5 * y * y * (1.0 - 4 * _EPS) - np.log(y) - LOG_SQRT_2PI
        return np.maximum(v, -_MAXF)

    def _split_rows(self, x: FloatArray) -> tuple[NDArray[np.intp], NDArray[np.intp], FloatArray, FloatArray]:
        """Rows where B <= 1/2 (mass side) and rows where S < 1/2 (tail side), with S there.

        ``x B'max < 1/2`` already proves ``B < 1/2``; elsewhere the tail is
        computed and decides."""
        k = self._k
        m_side = x * math.exp(k.log_m) < 0.5
        idx_m = np.flatnonzero(m_side)
        idx_t = np.flatnonzero(~m_side)
        s = rho = np.empty(0)
        if idx_t.size:
            s, rho = k.tail(x[idx_t])
            small = s < 0.5
            if not np.all(small):
                idx_m = np.concatenate([idx_m, idx_t[~small]])
                idx_t, s, rho = idx_t[small], s[small], rho[small]
        return idx_m, idx_t, s, rho

    def _cdf(self, x: FloatArray) -> FloatArray:
        k = self._k
        out = np.empty(x.size)
        idx_m, idx_t, s, rho = self._split_rows(x)
        if idx_t.size:
            # B = 1 - S: 1 - (S rounded up), then half an ulp of 1 down
            s_up = s + s * (k.error(rho) + 2 * _EPS)
            out[idx_t] = (1.0 - s_up) - _HALF_ULP1
        if idx_m.size:
            m, mrho = k.mass(x[idx_m])
            out[idx_m] = _lower(m, k.error(mrho) + 2 * _EPS)
        return np.clip(out, 0.0, 1.0 - _HALF_ULP1)

    def _sf(self, x: FloatArray) -> FloatArray:
        k = self._k
        out = np.empty(x.size)
        idx_m, idx_t, s, rho = self._split_rows(x)
        if idx_t.size:
            out[idx_t] = _upper(s, k.error(rho) + 2 * _EPS)
        if idx_m.size:
            # S = 1 - B with B <= 1/2: 1 - (B rounded down), then half an ulp up
            m, mrho = k.mass(x[idx_m])
            out[idx_m] = np.minimum((1.0 - _lower(m, k.error(mrho) + 2 * _EPS)) + _HALF_ULP1, 1.0)
        return out

    def _logcdf(self, x: FloatArray) -> FloatArray:
        k = self._k
        out = np.empty(x.size)
        idx_m, idx_t, s, rho = self._split_rows(x)
        if idx_t.size:
            s_up = _upper(s, k.error(rho) + 2 * _EPS)
            w = np.log1p(-s_up)
            out[idx_t] = np.where(s_up < 2 * _TINY, -(s_up + _TINIEST), w * (1.0 + 2 * _EPS))
        if idx_m.size:
            lv, lrho = k.log_mass(x[idx_m])
            out[idx_m] = lv - (k.error(lrho) + 2 * _EPS * np.abs(lv))
        return out

    def _logsf(self, x: FloatArray) -> FloatArray:
        k = self._k
        out = np.empty(x.size)
        idx_m, idx_t, s, rho = self._split_rows(x)
        if idx_t.size:
            lv, lrho = k.log_tail(x[idx_t], (s, rho))
            out[idx_t] = lv + (k.error(lrho) + 2 * _EPS * np.abs(lv))
        if idx_m.size:
            m, mrho = k.mass(x[idx_m])
            w = np.log1p(-_lower(m, k.error(mrho) + 2 * _EPS))
            out[idx_m] = w * (1.0 - 2 * _EPS)
        return np.minimum(out, 0.0)

    def _pdf(self, x: FloatArray) -> FloatArray:
        pdf, _ = self._k.density(x)
        return pdf

    def _raw_logpdf(self, eps: FloatArray) -> FloatArray:
        """log B'(eps) (no rounding; for the image-space bound)."""
        with np.errstate(all="ignore"):
            return self._k.log_density(np.asarray(eps, dtype=np.float64))

    # -- public distribution methods -----------------------------------------

    def cdf(self, eps: ArrayLike) -> Any:
        r"""Lower bound :math:`B(\varepsilon)` on :math:`P(r_Z \le \varepsilon)`, Eq. (2).

        Computed as a sum of interval masses
        :math:`\sum_i [\Phi(b_i) - \Phi(b_i - \varepsilon)]`, each short or
        tail interval integrated directly, where :math:`B \le 1/2`, and as
        :math:`1 - \sum_i \Phi(b_i - \varepsilon)` above, so it keeps its
        relative accuracy for radii down to the smallest float.  Rounded down.

        Examples
        --------
        >>> from scipy.special import ndtr, ndtri
        >>> eps = 1e-9
        >>> naive = float(2 * (ndtr(ndtri(0.5) + eps) - ndtr(ndtri(0.5))))
        >>> exact = IsoperimetricBound([0.5, 0.5]).cdf(eps)
        >>> naive, round(exact / 7.978845608e-10, 9)
        (0.0, 1.0)
        """
        if isinstance(eps, float):
            v = self._scalar("cdf", eps)
            if v is not None:
                return v
        return self._evaluate(eps, "eps", "cdf")

    def logcdf(self, eps: ArrayLike) -> Any:
        """Log of :meth:`cdf`, finite for every radius > 0 (rounded down)."""
        if isinstance(eps, float):
            v = self._scalar("logcdf", eps)
            if v is not None:
                return v
        return self._evaluate(eps, "eps", "logcdf")

    def sf(self, eps: ArrayLike) -> Any:
        r"""Upper bound :math:`\sum_i \Phi(b_i - \varepsilon)` on :math:`P(r_Z > \varepsilon)`.

        Exact in the deep tail (no ``1 - cdf``); rounded up, and at least the
        smallest positive float for a finite radius.
        """
        if isinstance(eps, float):
            v = self._scalar("sf", eps)
            if v is not None:
                return v
        return self._evaluate(eps, "eps", "sf")

    def logsf(self, eps: ArrayLike) -> Any:
        r"""Log of :meth:`sf`, finite for every finite radius (rounded up).

        :math:`\log \sum_i \Phi(b_i - \varepsilon)` by ``log_ndtr`` and
        ``logsumexp``; near 0 it is ``log1p(-cdf)`` so that its relative
        accuracy holds for tiny radii too.  Beyond the float range of the
        log itself (radii above 1e154) it is ``-1.8e308``, still an upper bound.
        """
        if isinstance(eps, float):
            v = self._scalar("logsf", eps)
            if v is not None:
                return v
        return self._evaluate(eps, "eps", "logsf")

    def pdf(self, eps: ArrayLike) -> Any:
        r"""Density :math:`B'(\varepsilon) = \sum_i \varphi(b_i - \varepsilon)` of :math:`R^*`.

        A plain value (not a bound on any classifier's density), accurate to
        a few ulps; the right limit at 0.
        """
        return self._evaluate(eps, "eps", "pdf")

    def logpdf(self, eps: ArrayLike) -> Any:
        """Log of :meth:`pdf` (a plain value)."""
        arr = _as_real("eps", eps)
        flat = arr.reshape(-1)
        out = np.full(flat.shape, -np.inf)
        if not self._degenerate:
            sel = flat >= 0
            with np.errstate(all="ignore"):
                out[sel] = self._k.log_density(np.where(flat[sel] == np.inf, 1e300, flat[sel]))
            out[flat == np.inf] = -np.inf
        out[np.isnan(flat)] = np.nan
        return scalar_or_array(out.reshape(arr.shape), eps)

    # scipy's newer distribution interface calls these ccdf, logccdf, icdf, iccdf
    def ccdf(self, eps: ArrayLike) -> Any:
        """Alias of :meth:`sf` (scipy's new interface): an upper bound, rounded up."""
        return self.sf(eps)

    def logccdf(self, eps: ArrayLike) -> Any:
        """Alias of :meth:`logsf` (scipy's new interface): an upper bound, rounded up."""
        return self.logsf(eps)

    def icdf(self, q: ArrayLike) -> Any:
        """Alias of :meth:`ppf` (scipy's new interface): an upper bound on the quantile."""
        return self.ppf(q)

    def iccdf(self, p: ArrayLike) -> Any:
        """Alias of :meth:`isf` (scipy's new interface): an upper bound on the radius."""
        return self.isf(p)

    def ppf(self, q: ArrayLike) -> Any:
        r"""Upper bound on the ``q``-quantile of robustness: the root of :math:`B(\varepsilon) = q`.

        At least a fraction ``q`` of points have latent robustness at most
        ``ppf(q)``, whatever the classifier: the exact :math:`B(\text{ppf}(q))
        \ge q`.  Solved for all ``q`` at once by a bracketed Newton--Halley
        iteration on ``B`` (``q <= 1/2``) or on ``1 - B`` (``q > 1/2``), on
        their logarithms for ``q`` below 1e-270, down to the smallest float;
        the root is then moved up by its own error bound.

        Examples
        --------
        >>> b = IsoperimetricBound.equiprobable(2)
        >>> round(b.ppf(0.5), 6)  # the median for two half-spaces: Phi^-1(3/4)
        0.67449
        >>> float(b.ppf(1e-300))  # B(eps) ~ 2 phi(0) eps
        1.25331413731...e-300
        """
        if isinstance(q, float):
            v = self._scalar_quantile(q, False)
            if v is not None:
                return v
        return self._quantile(q, "q", upper_tail=False)

    def isf(self, p: ArrayLike) -> Any:
        r"""Upper bound on the radius exceeded with probability ``p``: root of :math:`1 - B = p`.

        At most a fraction ``p`` of points can have robustness above
        ``isf(p)``: the exact :math:`1 - B(\text{isf}(p)) \le p`.  Works for
        ``p`` down to the smallest float (solved on ``logsf``).  Rounded up.

        Examples
        --------
        >>> round(IsoperimetricBound.equiprobable(10).isf(1e-300), 4)
        35.8276
        """
        if isinstance(p, float):
            v = self._scalar_quantile(p, True)
            if v is not None:
                return v
        return self._quantile(p, "p", upper_tail=True)

    def _quantile(self, prob: ArrayLike, name: str, *, upper_tail: bool) -> Any:
        """ppf (``upper_tail=False``) or isf of ``prob``, elementwise, in chunks.

        Each probability is solved on the side where it is at most 1/2, so
        the target is either the probability itself or its complement,
        which is exact there (1 - x for x >= 1/2 has no rounding).
        """
        arr = _as_real(name, prob)
        flat = arr.reshape(-1)
        out = np.empty(flat.shape)
        step = self._rows()
        with np.errstate(all="ignore"):
            for s in range(0, flat.size, step):
                self._quantile_chunk(flat[s : s + step], out[s : s + step], upper_tail)
        return scalar_or_array(out.reshape(arr.shape), prob)

    def _quantile_chunk(self, x: FloatArray, out: FloatArray, upper_tail: bool) -> None:
        out[:] = np.nan
        out[x == 0] = np.inf if upper_tail else 0.0
        out[x == 1] = 0.0 if upper_tail else np.inf
        inside = (x > 0) & (x < 1)
        if self._degenerate:
            out[inside] = np.inf
            return
        if not np.any(inside):
            return
        xi = x[inside]
        small = xi <= 0.5
        # small ppf probabilities are cdf targets, small isf ones sf targets;
        # the others are solved on the other side, where 1 - x is exact
        target = np.where(small, xi, 1.0 - xi)
        out[inside] = self._k.solve(target, cdf_side=small != upper_tail)

    def median(self) -> float:
        """Upper bound on the median robustness, ``ppf(0.5)`` (Figure 2)."""
        return float(self.ppf(0.5))

    def interval(self, confidence: ArrayLike) -> tuple[Any, Any]:
        r"""``(ppf(a), isf(a))`` with ``a = (1 - confidence) / 2``.

        Each end is an **upper bound** on the corresponding quantile of any
        classifier's robustness (both ends are pushed up, so this is not an
        interval that contains the robustness with the given probability for
        a particular classifier: it is the central interval of :math:`R^*`,
        rounded up).  NaN outside [0, 1].

        Examples
        --------
        >>> lo, hi = IsoperimetricBound.equiprobable(2).interval(0.5)
        >>> round(lo, 6), round(hi, 6)  # quantiles 1/4 and 3/4 of |Z|
        (0.318639, 1.150349)
        """
        c = _as_real("confidence", confidence)
        with np.errstate(invalid="ignore"):
            a = np.where((c >= 0) & (c <= 1), (1.0 - c) * 0.5, np.nan)
        # a slightly larger target for ppf, slightly smaller for isf: both ends move up
        lo = self.ppf(np.minimum(a * (1.0 + 2 * _EPS), 0.5))
        hi = self.isf(a * (1.0 - 2 * _EPS))
        return scalar_or_array(np.asarray(lo), confidence), scalar_or_array(np.asarray(hi), confidence)

    # -- moments ----------------------------------------------------------------

    def _moment_terms(self, order: int) -> tuple[float, float]:
        """``sum_i c_i E[(Z - a_i)_+^order]`` and its relative error bound."""
        k = self._k
        a = -k.b
        with np.errstate(all="ignore"):
            log_m, _ = log_normal_partial_moments(a, order)
        lm = log_m[:, order]
        y = lm + k.logc
        top = float(np.max(y))
        w = np.exp(y - top)
        rho = _moment_error_factor(k.b, k.logc, lm, order)
        total = math.fsum(w.tolist())
        err = float(np.dot(w, rho)) / total
        return math.exp(top) * total, k.error(np.asarray(err)).item() + 4 * _EPS

    def mean(self) -> float:
        r"""Upper bound :math:`E R^* = \sum_i L(a_i)` on the mean latent robustness.

        :math:`L(a) = \varphi(a) - a\bar\Phi(a)` is the normal loss function
        and :math:`a_i = -b_i`.  This is the exact sum inside Theorem 4
        (:func:`isobound.theorem4`), not its looser K >= 5 closed form.
        Rounded up.

        Examples
        --------
        >>> round(IsoperimetricBound.equiprobable(10).mean(), 3)
        0.473
        """
        if self._degenerate:
            return math.inf
        v, r = self._moment_terms(1)
        return float(_upper(np.array([v]), np.array([r]))[0])

    def moment(self, order: int) -> float:
        r"""Upper bound :math:`E[R^{*n}]` on the ``n``-th moment of any classifier's robustness.

        :math:`t \mapsto t^n` is non-decreasing on :math:`[0, \infty)` and
        robustness is stochastically smaller than :math:`R^*`, so
        :math:`E[r^n] \le E[R^{*n}] = \sum_i c_i E[(Z - a_i)_+^n]`, a sum of
        normal partial moments (recurrence
        :math:`M_n = (n - 1) M_{n-2} - a M_{n-1}`, and its continued-fraction
        form in the tails, where the recurrence cancels).  Rounded up.

        Parameters
        ----------
        order : int
            ``n >= 0`` (``moment(1)`` is :meth:`mean`).

        Examples
        --------
        >>> b = IsoperimetricBound.equiprobable(2)  # R* = |Z|: E|Z|^2 = 1
        >>> round(b.moment(2), 12)
        1.0
        """
        if isinstance(order, bool) or not isinstance(order, (int, np.integer)):
            raise TypeError(f"order must be an integer, got order={order!r}")
        if order < 0:
            raise ValueError(f"order must be >= 0, got order={order!r}")
        if order == 0:
            return 1.0
        if self._degenerate:
            return math.inf
        v, r = self._moment_terms(int(order))
        return float(_upper(np.array([v]), np.array([r]))[0])

    def var(self) -> float:
        r"""Variance of :math:`R^*` itself: a plain value, **not** a bound.

        Stochastic order does not order variances, so this says nothing about
        the variance of a classifier's robustness; it describes the
        worst-case distribution.  Computed without cancellation as the
        variance of a mixture: :math:`\sum_i w_i [v_i + (m_i - \mu)^2]` with
        the weight :math:`w_i = c_i \Phi(b_i)`, mean :math:`m_i` and variance
        :math:`v_i` of :math:`(Z - a_i)` given :math:`Z > a_i`.  Accurate to
        about 1e-13 relative.

        Examples
        --------
        >>> round(IsoperimetricBound.equiprobable(2).var(), 12)  # 1 - 2/pi
        0.363380227632
        """
        if self._degenerate:
            return math.nan
        k = self._k
        a = -k.b
        with np.errstate(all="ignore"):
            log_m, _ = log_normal_partial_moments(a, 2)
        logw = k.logc + log_m[:, 0]
        w = np.exp(logw - logsumexp1(logw))
        m1 = np.exp(log_m[:, 1] - log_m[:, 0])
        cond_var = truncated_normal_variance(a)
        mu = float(np.dot(w, m1))
        return float(np.dot(w, cond_var + (m1 - mu) ** 2))

    def std(self) -> float:
        """Standard deviation of :math:`R^*`, ``sqrt(var())``: a plain value, not a bound."""
        return math.sqrt(self.var())

    def expect(
        self,
        func: Callable[[float], float] | None = None,
        *,
        lb: float | None = None,
        ub: float | None = None,
        conditional: bool = False,
    ) -> float:
        r""":math:`E[f(R^*)]` (over ``[lb, ub]``) by adaptive quadrature: a plain estimate.

        For a non-decreasing ``f`` it bounds :math:`E f(r)` from above for
        every classifier (stochastic order), up to the quadrature error of
        about 1e-12; it is not rounded to a side.  Use :meth:`mean` and
        :meth:`moment` for powers, which are rounded up.

        Parameters
        ----------
        func : callable, optional
            Scalar function of the radius; the identity by default.
        lb, ub : float, optional
            Integrate over ``[lb, ub]`` only (default ``[0, inf)``).
        conditional : bool, optional
            Divide by the probability of ``[lb, ub]`` (scipy's convention).

        Examples
        --------
        >>> b = IsoperimetricBound.equiprobable(2)  # R* = |Z|
        >>> round(b.expect(lambda t: t * t), 10)
        1.0
        """
        f = (lambda t: t) if func is None else func
        if not callable(f):
            raise TypeError(f"func must be callable, got func={func!r}")
        lo = 0.0 if lb is None else max(float(lb), 0.0)
        hi = math.inf if ub is None else float(ub)
        if math.isnan(lo) or math.isnan(hi):
            raise ValueError(f"lb and ub must not be NaN, got lb={lb!r}, ub={ub!r}")
        if self._degenerate or hi <= lo:
            return 0.0 if hi <= lo else float(f(math.inf))
        top = min(hi, float(self.isf(1e-300)))
        k = self._k
        knots = np.concatenate([k.b, k.b - 8.0, k.b + 8.0])
        knots = np.unique(knots[(knots > lo) & (knots < top)]).tolist()

        def integrand(t: float) -> float:
            return float(f(t)) * float(self.pdf(t))

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", integrate.IntegrationWarning)
            value, _ = integrate.quad(
                integrand, lo, top, points=knots or None, limit=500, epsabs=0.0, epsrel=1e-12
            )
        if conditional:
            value /= float(self.cdf(hi)) - float(self.cdf(lo)) if hi < math.inf else float(self.sf(lo))
        return float(value)

    def rvs(self, size: Any = None, random_state: Any = None) -> Any:
        """Draw samples of :math:`R^*` by inverse transform (each an upper bound of its quantile).

        Parameters
        ----------
        size : int or tuple of ints, optional
        random_state : None, int or numpy.random.Generator
            Seed or generator (``numpy.random.default_rng`` semantics).
        """
        rng = np.random.default_rng(random_state)
        u = rng.random(size)
        return self.ppf(u)

    def sample(self, shape: Any = (), *, rng: Any = None) -> Any:
        """Samples of :math:`R^*` of the given ``shape`` (scipy's new interface; see :meth:`rvs`)."""
        return self.rvs(size=shape if shape != () else None, random_state=rng)

    def support(self) -> tuple[float, float]:
        """``(0, inf)``."""
        return (0.0, math.inf)

    def through(self, omega: Modulus | None) -> ImageSpaceBound:
        r"""The bound in image space, :math:`\omega(R^*)` (Theorem 1 with a modulus).

        Examples
        --------
        >>> from isobound import Lipschitz
        >>> b = IsoperimetricBound([0.5, 0.3, 0.2]).through(Lipschitz(2.5))
        >>> round(b.cdf(0.5), 6)
        0.196056
        """
        return ImageSpaceBound(self, omega)


class ImageSpaceBound:
    r"""The worst-case robustness :math:`\omega(R^*)` in image space.

    ``cdf(eta) = max(B(omega.inverse(eta)) - delta, 0)`` is a **lower
    bound** on :math:`P(r_{in} \le \eta)` (Theorem 1), and so on
    :math:`P(r_{unc} \le \eta)` too since :math:`r_{unc} \le r_{in}`;
    ``ppf(q) = omega(latent.ppf(q + delta))`` is an **upper bound** on the
    q-quantile.  ``delta = omega.failure_prob`` is the probability that an
    estimated modulus fails (0 for a deterministic one).

    Rounding: the modulus certifies its inverse from below and rounds its
    values up (see :mod:`isobound`'s moduli), the latent bound rounds its
    own results to their safe sides, and this class moves what it adds (the
    subtraction or addition of ``delta``, the shifted quantile level, the
    log of a shifted value) to the safe side by the error bound of that
    step.  Out-of-domain arguments follow the package's conventions:
    ``cdf`` of a negative radius is 0 and ``sf`` is 1 (the inverse of every
    radius below ``omega(0)`` is 0), ``ppf``/``isf`` outside [0, 1] give
    NaN, NaN gives NaN.

    Build it with :meth:`IsoperimetricBound.through`.  Immutable; pickles,
    copies, and compares (and hashes) by value: equal latent bounds and
    equal moduli.
    """

    __slots__ = ("_latent", "_omega")
    _latent: IsoperimetricBound
    _omega: Modulus

    def __init__(self, latent: IsoperimetricBound, omega: Modulus | None) -> None:
        if not isinstance(latent, IsoperimetricBound):
            raise ArgumentTypeError(
                f"latent must be an IsoperimetricBound, got latent={latent!r}"
            )
        object.__setattr__(self, "_latent", latent)
        object.__setattr__(self, "_omega", as_modulus(omega))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("ImageSpaceBound is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("ImageSpaceBound is immutable")

    def __reduce__(self) -> tuple[Any, ...]:
        return (restore, (type(self), slot_state(self)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ImageSpaceBound) or type(other) is not type(self):
            return NotImplemented
        return bool(self.latent == other.latent and self.omega == other.omega)

    def __hash__(self) -> int:
        return hash((self.latent, self.omega))

    @property
    def latent(self) -> IsoperimetricBound:
        return self._latent

    @property
    def omega(self) -> Modulus:
        return self._omega

    @property
    def failure_prob(self) -> float:
        return self.omega.failure_prob

    @property
    def n_classes(self) -> int:
        return self.latent.n_classes

    def __repr__(self) -> str:
        return f"{self.latent!r}.through({self.omega!r})"

    def _eps(self, eta: ArrayLike) -> FloatArray:
        """The latent radius: the modulus' certified inverse (a lower bound)."""
        return np.asarray(self.omega.inverse(eta), dtype=np.float64)

    def _log_pdf_at_zero(self) -> float:
        r""":math:`\log B'(0) = \log \sum_i c_i \varphi(b_i)`, from the public thresholds."""
        b = np.asarray(self.latent.thresholds, dtype=np.float64)
        # log_counts, not log(counts): counts beyond the float range are inf
        logc = np.asarray(self.latent.log_counts, dtype=np.float64)
        with np.errstate(invalid="ignore"):
            terms = np.where(np.isfinite(b), -0.5 * b * b, -np.inf) + logc
        if not np.any(np.isfinite(terms)):
            return -math.inf
        return float(sc.logsumexp(terms)) - LOG_SQRT_2PI

    def cdf(self, eta: ArrayLike) -> Any:
        r"""Lower bound :math:`\max(B(\omega^{-1}(\eta)) - \delta, 0)` on :math:`P(r \le \eta)`."""
        x = np.asarray(eta, dtype=np.float64)
        v = np.asarray(self.latent.cdf(self._eps(x)), dtype=np.float64)
        d = self.failure_prob
        if d:
            # v - d is rounded to nearest: take off a bound on that rounding
            v = np.maximum((v - d) - 2 * _EPS * v, 0.0)
        return scalar_or_array(v, eta)

    def logcdf(self, eta: ArrayLike) -> Any:
        """Log of :meth:`cdf` (rounded down), finite where the latent radius underflows."""
        x = np.atleast_1d(np.asarray(eta, dtype=np.float64))
        if self.failure_prob:
            c = np.asarray(self.cdf(x), dtype=np.float64)
            with np.errstate(divide="ignore", invalid="ignore"):
                lg = np.log(c)
                lg = np.where(np.isfinite(lg), lg - 2 * _EPS * np.abs(lg), lg)
            return scalar_or_array(lg.reshape(np.shape(eta)), eta)
        eps = np.atleast_1d(self._eps(x))
        v = np.atleast_1d(np.asarray(self.latent.logcdf(eps), dtype=np.float64))
        # the latent radius can underflow (a square-root modulus at eta=1e-200);
        # there B(e) >= e * B'(0) * (1 - max|b| e - e^2/2), so work with log e
        under = (eps == 0) & (x > self.omega.at_zero)
        if np.any(under):
            log_eps = np.asarray(self.omega.log_inverse(x[under]), dtype=np.float64)
            w = log_eps + self._log_pdf_at_zero()
            with np.errstate(divide="ignore", invalid="ignore"):
                margin = SAFETY + 4.0 * _EPS * np.log(np.abs(w))
                w = np.where(np.isfinite(w), w * (1.0 + margin) - 1e-300, w)
            v = v.copy()
            v[under] = np.maximum(v[under], w)
        return scalar_or_array(v.reshape(np.shape(eta)), eta)

    def sf(self, eta: ArrayLike) -> Any:
        r"""Upper bound :math:`\min(1 - B(\omega^{-1}(\eta)) + \delta, 1)` on :math:`P(r > \eta)`."""
        x = np.asarray(eta, dtype=np.float64)
        v = np.asarray(self.latent.sf(self._eps(x)), dtype=np.float64)
        d = self.failure_prob
        if d:
            v = np.minimum(v + d + 2 * _EPS * (v + d), 1.0)
        return scalar_or_array(v, eta)

    def logsf(self, eta: ArrayLike) -> Any:
        r"""Log of :meth:`sf` (rounded up), finite deep into the tail when ``delta == 0``.

        With ``delta > 0`` it is :math:`\log(e^{\text{latent logsf}} + \delta)`,
        raised by a bound on the absolute error of that sum of logs.
        """
        x = np.asarray(eta, dtype=np.float64)
        v = np.asarray(self.latent.logsf(self._eps(x)), dtype=np.float64)
        d = self.failure_prob
        if d:
            ld = math.log(d)
            with np.errstate(invalid="ignore"):
                lse = np.logaddexp(v, ld)
                # logaddexp rounds v - ld, whose error (at most eps (|v| + |ld|))
                # reaches the sum damped by the smaller term's share exp(min - lse)
                # (<= 1/2); without the damping a deep tail v ~ -1e16 would swamp
                # the bound and give log sf = 0 where sf = delta.
                share = np.exp(np.minimum(v, ld) - lse)
                spread = np.where(np.isfinite(v), (np.abs(v) + abs(ld)) * share, 0.0)
                err = 4.0 * _EPS * spread + SAFETY * np.abs(lse)
                v = np.minimum(lse + err, 0.0)
        return scalar_or_array(v, eta)

    def ppf(self, q: ArrayLike) -> Any:
        r"""Upper bound :math:`\omega(\text{latent.ppf}(q + \delta))` on the q-quantile of r."""
        x = np.asarray(q, dtype=np.float64)
        d = self.failure_prob
        shifted = x
        if d:
            # q + d is rounded to nearest: step the level up past that rounding
            shifted = np.where((x >= 0) & (x <= 1), np.minimum((x + d) * (1 + 2 * _EPS), 1.0), x)
        t = np.asarray(self.latent.ppf(shifted), dtype=np.float64)
        return scalar_or_array(self._image_of_latent(t), q)

    def isf(self, p: ArrayLike) -> Any:
        r"""Upper bound :math:`\omega(\text{latent.isf}(p - \delta))`; ``inf`` when ``p <= delta``."""
        x = np.asarray(p, dtype=np.float64)
        d = self.failure_prob
        shifted = x
        if d:
            shifted = np.where(
                (x >= 0) & (x <= 1), np.maximum((x - d) * (1 - 2 * _EPS), 0.0), np.nan
            )
        t = np.asarray(self.latent.isf(shifted), dtype=np.float64)
        return scalar_or_array(self._image_of_latent(t), p)

    def _image_of_latent(self, t: FloatArray) -> FloatArray:
        """omega(t) for a latent quantile t; inf where R* itself is inf.

        r <= omega(R*) holds because some differently classified latent point
        lies at distance R*.  For the degenerate latent (one class) there is
        none, r is inf, and a bounded omega's omega(inf) would claim too much.
        """
        out = np.asarray(self.omega(t), dtype=np.float64)
        if self.latent._degenerate:
            out = np.where(np.isinf(t), np.inf, out)
        return out

    # scipy's newer distribution interface (scipy.stats.ContinuousDistribution)

    def ccdf(self, eta: ArrayLike) -> Any:
        """Alias of :meth:`sf` (scipy's newer name): an upper bound on ``P(r > eta)``."""
        return self.sf(eta)

    def logccdf(self, eta: ArrayLike) -> Any:
        """Alias of :meth:`logsf` (rounded up)."""
        return self.logsf(eta)

    def icdf(self, q: ArrayLike) -> Any:
        """Alias of :meth:`ppf`: an upper bound on the ``q``-quantile of r."""
        return self.ppf(q)

    def iccdf(self, p: ArrayLike) -> Any:
        """Alias of :meth:`isf`: an upper bound on the radius exceeded with probability ``p``."""
        return self.isf(p)

    def interval(self, confidence: ArrayLike) -> tuple[Any, Any]:
        r"""``(ppf((1 - c)/2), ppf((1 + c)/2))``, as scipy's ``interval``.

        Both ends are **upper bounds** on the corresponding quantiles of
        robustness (each level is stepped up past its rounding first); this
        is not a confidence interval, and the lower end is not a lower bound
        on anything.  NaN for ``confidence`` outside [0, 1].

        Examples
        --------
        >>> from isobound import IsoperimetricBound, Lipschitz
        >>> lo, hi = IsoperimetricBound.equiprobable(10).through(Lipschitz(2.0)).interval(0.5)
        >>> bool(0 < lo < hi)
        True
        """
        c = np.asarray(confidence, dtype=np.float64)
        ok = (c >= 0) & (c <= 1)
        with np.errstate(invalid="ignore"):
            lo = np.nextafter((1.0 - c) / 2.0, np.inf)
            hi = np.minimum(np.nextafter((1.0 + c) / 2.0, np.inf), 1.0)
        lo = np.where(ok, lo, np.nan)
        hi = np.where(ok, hi, np.nan)
        return (
            scalar_or_array(np.asarray(self.ppf(lo), dtype=np.float64), confidence),
            scalar_or_array(np.asarray(self.ppf(hi), dtype=np.float64), confidence),
        )

    def median(self) -> float:
        """Upper bound on the median of r, ``ppf(0.5)``."""
        return float(self.ppf(0.5))

    def mean(self, *, diameter: float | None = None) -> float:
        r"""Upper bound :math:`E\,\omega(R^*)` on the mean robustness.

        Valid for any non-decreasing :math:`\omega` (concave or not) because
        :math:`r \le_{st} \omega(R^*)`; it is never larger than the paper's
        :math:`\omega(E R^*)` when :math:`\omega` is concave (Jensen).  With
        an estimated modulus (``failure_prob = delta > 0``) robustness is
        unknown on the failure event, so a bound ``diameter`` on robustness
        there is needed, and :math:`\delta \cdot \text{diameter}` is added.
        Add Theorem 4's Wasserstein :math:`\delta` yourself for the
        approximate-generator setting (:func:`isobound.theorem4` does).
        For a modulus that is neither affine nor the identity the integral
        :math:`\int \omega(t)\,B'(t)\,dt` is computed by adaptive
        quadrature and its error estimate is added.

        Raises
        ------
        ValueError
            If ``failure_prob > 0`` and no ``diameter`` is given.
        """
        d = self.failure_prob
        extra = 0.0
        if d:
            if diameter is None:
                raise ValueError(
                    f"the modulus may fail with probability {d}; pass diameter= (a bound on "
                    "robustness where it fails, e.g. the diameter of the data) to bound the mean"
                )
            extra = d * check_positive("diameter", diameter, allow_inf=True)
        omega = self.omega
        latent = self.latent
        if isinstance(omega, Affine):
            # E[s R* + b] = s E R* + b, the latent mean rounded up: two roundings
            value = (omega.slope * float(latent.mean()) + omega.intercept) * (1.0 + 4 * _EPS)
        elif isinstance(omega, Identity):
            value = float(latent.mean())
        else:
            value = self._mean_by_quadrature()
        if extra:
            # d * diameter and the sum: two roundings
            value = (value + extra) * (1.0 + 4 * _EPS)
        return value

    def _mean_by_quadrature(self) -> float:
        latent = self.latent
        omega = self.omega
        top = float(latent.isf(1e-300))
        if not (math.isfinite(top) and np.isfinite(omega(top))):
            return math.inf
        b = np.asarray(latent.thresholds, dtype=np.float64)
        knots = np.unique(np.clip(np.concatenate([b, b - 8, b + 8, [top]]), 0.0, top))
        knots = knots[(knots > 0) & (knots < top)]
        logc = np.asarray(latent.log_counts, dtype=np.float64)

        def integrand(s: float) -> float:
            # t = s^2 smooths moduli like t^alpha at 0 (dt = 2 s ds)
            t = s * s
            dens = math.exp(float(sc.logsumexp(logc - 0.5 * (b - t) ** 2)) - LOG_SQRT_2PI)
            return float(omega(t)) * dens * 2.0 * s

        # where omega jumps or kinks (a step modulus, also inside a composition):
        # quadrature error estimates cannot be trusted across an unannounced jump
        kinks = omega._breakpoints()
        knots = np.unique(np.concatenate([knots, kinks[(kinks > 0) & (kinks < top)]]))
        # quad needs more subintervals than break points (a modulus may have thousands)
        points = np.sqrt(knots).tolist()
        limit = max(2000, 2 * knots.size + 16)

        def integrate_to(epsrel: float) -> tuple[float, float]:
            value, err = integrate.quad(
                integrand, 0.0, math.sqrt(top), points=points,
                limit=limit, epsabs=0.0, epsrel=epsrel,
            )
            return value, err

        with warnings.catch_warnings():
            warnings.simplefilter("error", integrate.IntegrationWarning)
            try:
                value, err = integrate_to(1e-13)
            except integrate.IntegrationWarning:
                # the requested accuracy was out of reach: settle for less, and
                # widen the (then less reliable) error estimate tenfold
                warnings.simplefilter("ignore", integrate.IntegrationWarning)
                value, err = integrate_to(1e-10)
                err *= 10.0
        # the tail beyond `top` carries probability below 1e-300; the integrand
        # uses omega rounded up, and the quadrature error estimate is added
        return float(value + abs(err)) * (1.0 + 2 * _EPS)
