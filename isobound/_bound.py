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
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import integrate
from scipy import special as sc

from ._frozen import restore, slot_state
from ._gaussian import (
    LOG_SQRT_2PI,
    interval_mass,
    log_interval_mass,
    log_phi,
    normal_loss,
    scalar_or_array,
)
from ._moduli import Affine, Identity, Modulus, as_modulus
from ._validation import (
    SUM_TOLERANCE,
    ArgumentTypeError,
    as_class_vector,
    as_counts,
    check_n_classes,
    check_positive,
    short_repr,
)

__all__ = ["ImageSpaceBound", "IsoperimetricBound"]

FloatArray = NDArray[np.float64]

_EPS = float(np.finfo(np.float64).eps)
#: Base relative margin by which every returned value is moved to its safe side.
SAFETY = 2.0**-46
#: Smallest positive float: the upper bound reported for a tail below the float range.
_TINIEST = float(np.nextafter(0.0, 1.0))


def _margin(log_value: FloatArray) -> FloatArray:
    """Relative safety margin for a value whose log is ``log_value``.

    Values that pass through ``exp`` of a large log inherit an error of
    about ``|log| * eps``; the margin covers it.
    """
    with np.errstate(invalid="ignore"):
        mag = np.where(np.isfinite(log_value), np.abs(log_value), 0.0)
    result: FloatArray = SAFETY + 4.0 * _EPS * mag
    return result


def _logsumexp_rows(x: FloatArray, log_weights: FloatArray) -> FloatArray:
    """``log(sum_j exp(x[..., j] + log_weights[j]))`` along the last axis.

    A lean version of ``scipy.special.logsumexp`` for the hot loops (no
    argument checks; rows that are all ``-inf`` give ``-inf``).
    """
    y = x + log_weights
    if y.shape[-1] == 1:
        return y[..., 0]
    m = np.max(y, axis=-1)
    shift = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore", under="ignore"):
        result: FloatArray = shift + np.log(np.exp(y - shift[..., None]).sum(axis=-1))
    return result


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

    The methods follow scipy.stats' frozen distributions and are vectorised
    over their argument.  All computations stay in the log domain where it
    matters: interval masses are integrated directly (never ``1 - cdf``),
    tails use ``log_ndtr``, majority classes use the mass of the other
    classes, and equal classes are merged into one entry with a multiplicity,
    so ``equiprobable(10**15)`` costs the same as ``equiprobable(2)``.
    Every returned float is rounded towards its safe side (lower bounds down,
    upper bounds up) by a relative margin of about 1e-14.

    Out-of-domain arguments follow scipy: ``cdf`` of a negative radius is 0,
    ``sf`` is 1; ``ppf``/``isf`` outside [0, 1] and NaN give NaN.

    Parameters
    ----------
    class_probs : array_like
        Class proportions :math:`p_i = P(f(g(z)) = i)`, non-negative, summing
        to 1 (within 1e-9 relative; they are renormalised exactly).
    counts : array_like of int, optional
        Multiplicity of each entry: entry ``i`` stands for ``counts[i]``
        classes of probability ``class_probs[i]`` each.
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
        "_b",
        "_counts",
        "_degenerate",
        "_logc",
        "_logp",
        "_logq",
        "_minority",
        "_n_classes",
        "_p",
    )
    _p: FloatArray
    _logp: FloatArray
    _logq: FloatArray
    _b: FloatArray
    _counts: FloatArray
    _logc: FloatArray
    _minority: NDArray[np.bool_]
    _n_classes: float
    _degenerate: bool

    def __init__(
        self, class_probs: ArrayLike, counts: ArrayLike | None = None, *, normalize: bool = False
    ) -> None:
        p = as_class_vector("class_probs", class_probs)
        bad = ~np.isfinite(p) | (p < 0)
        if np.any(bad):
            i = int(np.argmax(bad))
            raise ValueError(
                f"class_probs must be finite and >= 0, got class_probs[{i}]={float(p[i])!r} "
                f"in class_probs={short_repr(class_probs)}"
            )
        c = as_counts(counts, p.size)
        total = float(math.fsum((p * c).tolist()))
        if total <= 0:
            raise ValueError(
                f"class_probs must have a positive sum, got class_probs={short_repr(class_probs)}"
            )
        if not normalize and abs(total - 1.0) > SUM_TOLERANCE:
            raise ValueError(
                f"class_probs must sum to 1, but they sum to {total!r} (off by "
                f"{total - 1.0:+.3g}): class_probs={short_repr(class_probs)}; "
                "pass normalize=True to rescale them"
            )
        with np.errstate(divide="ignore"):
            logp = np.log(p) - math.log(total)
        self._setup(logp, c)

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
        c = as_counts(counts, lp.size)
        if np.all(lp == -np.inf):
            raise ValueError(f"log_probs are all -inf: log_probs={short_repr(log_probs)}")
        total = float(sc.logsumexp(lp + np.log(c)))
        if not normalize and abs(total) > SUM_TOLERANCE:
            raise ValueError(
                f"exp(log_probs) must sum to 1, but log(sum) = {total!r} (sum off by "
                f"{math.expm1(total):+.3g}): log_probs={short_repr(log_probs)}; "
                "pass normalize=True to rescale them"
            )
        obj = cls.__new__(cls)
        obj._setup(lp - total, c)
        return obj

    @classmethod
    def equiprobable(cls, n_classes: int) -> IsoperimetricBound:
        """``K`` classes of probability ``1/K`` each, in O(1) for any ``K``.

        Parameters
        ----------
        n_classes : int
            ``K >= 1`` (1 gives the degenerate bound of a constant classifier).

        Examples
        --------
        >>> round(IsoperimetricBound.equiprobable(1000).median(), 6)
        0.200294
        >>> IsoperimetricBound.equiprobable(10**15).n_classes
        1000000000000000
        """
        k = check_n_classes(n_classes)
        obj = cls.__new__(cls)
        obj._setup(np.array([-math.log(k)]), np.array([float(k)]))
        return obj

    def _setup(self, logp: FloatArray, counts: FloatArray) -> None:
        n_total = float(counts.sum())
        keep = logp > -np.inf
        logp, counts = logp[keep], counts[keep]
        # merge equal classes into one entry with a multiplicity
        uniq, inverse = np.unique(logp, return_inverse=True)
        merged = np.zeros(uniq.size)
        np.add.at(merged, inverse, counts)
        logp, counts = uniq, merged
        logc = np.log(counts)
        p = np.exp(logp)
        minority = p <= 0.5
        logq = np.empty_like(logp)
        with np.errstate(divide="ignore"):
            logq[minority] = np.log1p(-p[minority])
        for i in np.flatnonzero(~minority):
            # the majority class (count 1): 1 - p_i is the mass of the others
            others_logp = np.delete(logp, i)
            others_logc = np.delete(logc, i)
            extra = counts[i] - 1.0
            terms = list(others_logp + others_logc)
            if extra > 0:
                terms.append(logp[i] + math.log(extra))
            logq[i] = float(sc.logsumexp(terms)) if terms else -np.inf
        b = np.empty_like(logp)
        b[minority] = sc.ndtri_exp(logp[minority])
        with np.errstate(divide="ignore"):
            b[~minority] = -sc.ndtri_exp(logq[~minority])
        for name, value in (
            ("_p", p),
            ("_logp", logp),
            ("_logq", logq),
            ("_b", b),
            ("_counts", counts),
            ("_logc", logc),
            ("_minority", minority),
        ):
            value.setflags(write=False)
            object.__setattr__(self, name, value)
        object.__setattr__(self, "_n_classes", n_total)
        # a single class of probability 1: no classifier change, R* = +inf
        object.__setattr__(self, "_degenerate", bool(np.all(logq == -np.inf)))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("IsoperimetricBound is immutable")

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
        """Total number of classes, multiplicities (and empty classes) included."""
        return int(self._n_classes)

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
        """Multiplicity of each distinct class probability."""
        return self._counts

    @property
    def thresholds(self) -> FloatArray:
        r""":math:`b_i = -a_{\ne i}`, the half-space thresholds of each class."""
        return self._b

    def __repr__(self) -> str:
        empty = self._n_classes - float(self._counts.sum())
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

    # -- core evaluations (no safety margin) ---------------------------------

    def _cdf_log_scale(self) -> float:
        """Largest ``b_i**2 / 2`` among classes that carry mass: the size of
        the logs that B's terms pass through ``exp`` (for the safety margin)."""
        weight = self._logp + self._logc
        relevant = weight >= float(weight.max()) - 745.0
        return 1.0 + float(np.max(0.5 * self._b[relevant] ** 2))

    def _raw_cdf(self, eps: FloatArray) -> FloatArray:
        """B(eps) for finite eps > 0 (1-d array), accurate to a few ulp."""
        b, p, minority = self._b, self._p, self._minority
        q = np.exp(self._logq)
        # sign flip so that both kinds of class use an accurate tail:
        # minority: p - Phi(b - eps);  majority: Phibar(b - eps) - q
        sign = np.where(minority, 1.0, -1.0)
        base = np.where(minority, p, q)
        arg = b - eps[:, None]
        arg *= sign
        y = sc.ndtr(arg)
        diff = base - y
        # fall back to direct integration where the subtraction would amplify
        # rounding beyond ~16 ulps: the error is about eps*base plus the
        # (1 + x^2) ulps that ndtr(x) carries from the rounding of x
        arg *= arg
        arg += 1.0
        arg *= y
        arg += base
        good = np.abs(diff) * 16.0 >= arg
        mass = diff
        mass *= sign
        np.maximum(mass, 0.0, out=mass)
        bad = ~good
        if not np.any(bad):
            total: FloatArray = mass @ self._counts
            return total
        mass[bad] = 0.0
        total = mass @ self._counts
        rows, cols = np.nonzero(bad)
        # weighted before exponentiation: many tiny classes must not underflow
        direct = interval_mass(b[cols], eps[rows], self._logc[cols])
        total += np.bincount(rows, weights=direct, minlength=eps.size)
        return total

    def _raw_logcdf(self, eps: FloatArray) -> FloatArray:
        """log B(eps) for finite eps > 0, full range (no underflow)."""
        out = np.empty(eps.shape)
        cdf = self._raw_cdf(eps)
        tiny = cdf < 1e-290
        big = cdf > 0.5
        mid = ~tiny & ~big
        out[mid] = np.log(cdf[mid])
        if np.any(big):
            out[big] = np.log1p(-self._raw_sf(eps[big]))
        if np.any(tiny):
            lm = log_interval_mass(self._b[None, :], eps[tiny][:, None])
            out[tiny] = _logsumexp_rows(lm, self._logc)
        return out

    def _raw_sf(self, eps: FloatArray) -> FloatArray:
        total: FloatArray = sc.ndtr(self._b - eps[:, None]) @ self._counts
        # ndtr flushes terms below ~1e-308 to 0 instead of returning subnormals;
        # near that range the dropped terms matter, so sum the logs instead
        deep = total < 1e-280
        if np.any(deep):
            logs = _logsumexp_rows(sc.log_ndtr(self._b - eps[deep][:, None]), self._logc)
            with np.errstate(under="ignore"):
                total[deep] = np.exp(logs)
        return total

    def _raw_logsf(self, eps: FloatArray) -> FloatArray:
        out = np.empty(eps.shape)
        cdf = self._raw_cdf(eps)
        small = cdf < 0.5
        out[small] = np.log1p(-cdf[small])
        if np.any(~small):
            out[~small] = _logsumexp_rows(
                sc.log_ndtr(self._b - eps[~small][:, None]), self._logc
            )
        return out

    def _raw_logpdf(self, eps: FloatArray) -> FloatArray:
        return _logsumexp_rows(log_phi(self._b - eps[:, None]), self._logc)

    # -- evaluation plumbing --------------------------------------------------

    def _eval(
        self,
        x: ArrayLike,
        inner: Any,
        *,
        at_zero: float,
        at_inf: float,
        below: float,
    ) -> Any:
        arr = np.asarray(x, dtype=np.float64)
        flat = arr.ravel()
        out = np.full(flat.shape, np.nan)
        if self._degenerate:
            out[flat >= 0] = at_zero
            out[flat < 0] = below
            return scalar_or_array(out.reshape(arr.shape), x)
        out[flat < 0] = below
        out[flat == 0] = at_zero
        out[flat == np.inf] = at_inf
        sel = (flat > 0) & np.isfinite(flat)
        if np.any(sel):
            out[sel] = inner(flat[sel])
        return scalar_or_array(out.reshape(arr.shape), x)

    # -- public distribution methods -----------------------------------------

    def cdf(self, eps: ArrayLike) -> Any:
        r"""Lower bound :math:`B(\varepsilon)` on :math:`P(r_Z \le \varepsilon)`, Eq. (2).

        Computed as a sum of interval masses
        :math:`\sum_i [\Phi(b_i) - \Phi(b_i - \varepsilon)]`, each short or
        tail interval integrated directly, so it keeps its relative accuracy
        for radii down to 1e-300.  Rounded down.

        Examples
        --------
        >>> from scipy.special import ndtr, ndtri
        >>> eps = 1e-9
        >>> naive = float(2 * (ndtr(ndtri(0.5) + eps) - ndtr(ndtri(0.5))))
        >>> exact = IsoperimetricBound([0.5, 0.5]).cdf(eps)
        >>> naive, round(exact / 7.978845608e-10, 9)
        (0.0, 1.0)
        """

        def inner(e: FloatArray) -> FloatArray:
            v = self._raw_cdf(e)
            with np.errstate(divide="ignore"):
                m = _margin(np.minimum(np.abs(np.log(v)), self._cdf_log_scale()))
            return np.clip(v * (1.0 - m), 0.0, 1.0)

        return self._eval(eps, inner, at_zero=0.0, at_inf=1.0, below=0.0)

    def logcdf(self, eps: ArrayLike) -> Any:
        """Log of :meth:`cdf`, finite for radii as small as 1e-300 (rounded down)."""

        def inner(e: FloatArray) -> FloatArray:
            v = self._raw_logcdf(e)
            # a relative margin; near 0, logcdf = log1p(-sf) inherits the relative
            # error of sf, about |log sf| ulps, which _margin(log|v|) covers
            with np.errstate(divide="ignore"):
                m = _margin(np.log(np.abs(v)))
            return np.minimum(v * (1.0 + m) - SAFETY * 1e-300, 0.0)

        return self._eval(eps, inner, at_zero=-np.inf, at_inf=0.0, below=-np.inf)

    def sf(self, eps: ArrayLike) -> Any:
        r"""Upper bound :math:`\sum_i \Phi(b_i - \varepsilon)` on :math:`P(r_Z > \varepsilon)`.

        Exact in the deep tail (no ``1 - cdf``); rounded up.
        """

        def inner(e: FloatArray) -> FloatArray:
            v = self._raw_sf(e)
            # where B < 1/2, 1 - B is exact to an ulp; the ndtr sum carries the
            # tail errors of each term (1e15 classes of 1e-15 lose 5e-15).  B is
            # only computed there: elsewhere the cheap sum is the accurate one
            small = v > 0.5
            if np.any(small):
                v[small] = 1.0 - self._raw_cdf(e[small])
            with np.errstate(divide="ignore"):
                m = _margin(np.log(v))
            up = np.clip(v * (1.0 + m) + 2 * _EPS * v, 0.0, 1.0)
            # below the float range an upper bound is the smallest positive float
            return np.where(up > 0, up, _TINIEST)

        return self._eval(eps, inner, at_zero=1.0, at_inf=0.0, below=1.0)

    def logsf(self, eps: ArrayLike) -> Any:
        r"""Log of :meth:`sf`, finite far into the tail (rounded up).

        :math:`\log \sum_i \Phi(b_i - \varepsilon)` by ``log_ndtr`` and
        ``logsumexp``; near 0 it is ``log1p(-cdf)`` so that its relative
        accuracy holds for tiny radii too.
        """

        def inner(e: FloatArray) -> FloatArray:
            v = self._raw_logsf(e)
            with np.errstate(divide="ignore"):
                m = _margin(np.log(np.abs(v)))
            return np.minimum(v * (1.0 - m), 0.0)

        return self._eval(eps, inner, at_zero=0.0, at_inf=-np.inf, below=0.0)

    def pdf(self, eps: ArrayLike) -> Any:
        r"""Density :math:`B'(\varepsilon) = \sum_i \varphi(b_i - \varepsilon)` of :math:`R^*`."""

        def inner(e: FloatArray) -> FloatArray:
            with np.errstate(under="ignore"):
                return np.exp(self._raw_logpdf(e))

        value = self._eval(eps, inner, at_zero=np.nan, at_inf=0.0, below=0.0)
        # the density at 0 (right limit) is finite; fill it in
        arr = np.asarray(value, dtype=np.float64)
        zero = np.asarray(eps, dtype=np.float64) == 0
        if np.any(zero) and not self._degenerate:
            arr = np.where(zero, math.exp(self._raw_logpdf(np.zeros(1))[0]), arr)
        elif np.any(zero):
            arr = np.where(zero, 0.0, arr)
        return scalar_or_array(np.asarray(arr), eps)

    def logpdf(self, eps: ArrayLike) -> Any:
        """Log of :meth:`pdf`."""
        with np.errstate(divide="ignore"):
            return scalar_or_array(np.log(np.asarray(self.pdf(eps), dtype=np.float64)), eps)

    def ppf(self, q: ArrayLike) -> Any:
        r"""Upper bound on the ``q``-quantile of robustness: the root of :math:`B(\varepsilon) = q`.

        At least a fraction ``q`` of points have latent robustness at most
        ``ppf(q)``, whatever the classifier.  Solved for all ``q`` at once by
        a bracketed Newton iteration on ``log B`` (``q <= 1/2``) or on
        ``log(1 - B)`` (``q > 1/2``), so ``q`` as small as 1e-300 keeps its
        digits.  Rounded up.

        Examples
        --------
        >>> b = IsoperimetricBound.equiprobable(2)
        >>> round(b.ppf(0.5), 6)  # the median for two half-spaces: Phi^-1(3/4)
        0.67449
        >>> float(b.ppf(1e-300))  # B(eps) ~ 2 phi(0) eps
        1.25331413731...e-300
        """
        return self._quantile(q, upper_tail=False)

    def isf(self, p: ArrayLike) -> Any:
        r"""Upper bound on the radius exceeded with probability ``p``: root of :math:`1 - B = p`.

        At most a fraction ``p`` of points can have robustness above
        ``isf(p)``.  Works for ``p`` down to 1e-300 (solved on ``logsf``).
        Rounded up.

        Examples
        --------
        >>> round(IsoperimetricBound.equiprobable(10).isf(1e-300), 4)
        35.8276
        """
        return self._quantile(p, upper_tail=True)

    def _quantile(self, prob: ArrayLike, *, upper_tail: bool) -> Any:
        """ppf (``upper_tail=False``) or isf of ``prob``, elementwise.

        Each probability is solved on the side where it is at most 1/2, so
        the target is either the probability itself or its complement,
        which is exact there (1 - x for x >= 1/2 has no rounding).
        """
        arr = np.asarray(prob, dtype=np.float64)
        flat = arr.ravel()
        out = np.full(flat.shape, np.nan)
        out[flat == 0] = np.inf if upper_tail else 0.0
        out[flat == 1] = 0.0 if upper_tail else np.inf
        inside = (flat > 0) & (flat < 1)
        if self._degenerate:
            out[inside] = np.inf
        elif np.any(inside):
            x = flat[inside]
            res = np.empty(x.shape)
            small = x <= 0.5
            # small ppf probabilities are cdf targets, small isf ones sf targets
            if np.any(small):
                res[small] = self._solve(x[small], cdf_side=not upper_tail)
            if np.any(~small):
                res[~small] = self._solve(1.0 - x[~small], cdf_side=upper_tail)
            out[inside] = res
        return scalar_or_array(out.reshape(arr.shape), prob)

    def median(self) -> float:
        """Upper bound on the median robustness, ``ppf(0.5)`` (Figure 2)."""
        return float(self.ppf(0.5))

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
        terms = np.asarray(normal_loss(-self._b), dtype=np.float64) * self._counts
        value = math.fsum(terms.tolist())
        # each term carries about (1 + a^2) ulps from the tail function it uses
        margin = SAFETY + 4.0 * _EPS * 2.0 * self._cdf_log_scale()
        return value * (1.0 + margin)

    def rvs(self, size: Any = None, random_state: Any = None) -> Any:
        """Draw samples of :math:`R^*` by inverse transform.

        Parameters
        ----------
        size : int or tuple of ints, optional
        random_state : None, int or numpy.random.Generator
            Seed or generator (``numpy.random.default_rng`` semantics).
        """
        rng = np.random.default_rng(random_state)
        u = rng.random(size)
        return self.ppf(u)

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

    # -- root finding -------------------------------------------------------

    def _linear_pdf(self, eps: FloatArray) -> tuple[FloatArray, FloatArray]:
        """The density ``sum_i c_i phi(b_i - e)`` and its derivative in ``e``."""
        d = self._b - eps[:, None]
        with np.errstate(under="ignore"):
            dens = np.exp(-0.5 * d * d) * math.exp(-LOG_SQRT_2PI)
        pdf: FloatArray = dens @ self._counts
        dpdf: FloatArray = (dens * d) @ self._counts
        return pdf, dpdf

    def _solve(self, target: FloatArray, *, cdf_side: bool) -> FloatArray:
        """Solve ``cdf(e) = target`` (cdf side) or ``sf(e) = target`` elementwise.

        Bracketed, safeguarded Newton iteration, vectorised over all targets:

        * the bracket comes from one-class bounds on ``B`` and ``1 - B``;
        * the starting point interpolates the inverse (PCHIP in log-log
          coordinates) on a 512-point grid, so typically one Halley step
          (Newton with the second derivative, cubic convergence) suffices,
          accepted without a further evaluation once the step is so small
          that its cubic error is below an ulp;
        * targets are solved on the function itself (so 1e-300 keeps its
          digits), subnormal ones on its logarithm;
        * a step that leaves the bracket is replaced by (geometric) bisection.

        The root is rounded up (it is an upper bound on a quantile).
        """
        # 1 - q is exact for q in [1/2, 1] (Sterbenz), so targets carry no error;
        # the log target is only used for the tiniest ones
        target = np.asarray(target, dtype=np.float64)
        t = np.log(target)
        b, logc = self._b, self._logc
        log_k = float(_logsumexp_rows(logc[None, :], np.zeros(1))[0])
        b_max = float(b.max())
        curv = 1.0 + float(np.max(np.abs(b)))
        if cdf_side:
            # B(e) <= e * sum_i c_i phi(min(b_i, 0))  ->  root >= q / M
            log_m = float(_logsumexp_rows(log_phi(np.minimum(b, 0.0))[None, :], logc)[0])
            lo = np.exp(t - log_m)
            # sf(hi) <= K Phi(b_max - hi) = 1 - q  ->  B(hi) >= q
            hi = b_max - sc.ndtri_exp(np.log1p(-target) - log_k)
            log_pdf0 = float(self._raw_logpdf(np.zeros(1))[0])
            x = np.exp(t - log_pdf0)
        else:
            # sf(e) >= c_i Phi(b_i - e) for every i; the class with the largest
            # threshold gives a valid lower end in O(1) per target
            i_max = int(np.argmax(b))
            lo = np.maximum(b[i_max] - sc.ndtri_exp(t - logc[i_max]), 0.0)
            hi = b_max - sc.ndtri_exp(t - log_k)
            x = lo.copy()
        # the one-class ends are differences like b - ndtri(..): widen them by
        # their absolute rounding error so the root stays inside the bracket
        slack = 8 * _EPS * (1.0 + abs(b_max) + np.abs(hi))
        hi = np.maximum(hi * (1.0 + 4 * _EPS) + slack, lo)
        if cdf_side:
            lo = lo * (1.0 - 4 * _EPS)
        else:
            lo = np.maximum(lo * (1.0 - 4 * _EPS) - slack, 0.0)
        if t.size > 16:
            x = self._initial_guess(t, lo, hi, x, cdf_side=cdf_side)
        x = np.clip(x, lo, hi)
        x = np.where(x > 0, x, 0.5 * (lo + hi))
        # linear targets keep every digit down to the smallest normal float;
        # below it only the log carries information
        log_mode = target < np.finfo(np.float64).tiny
        active = np.ones(t.shape, dtype=bool)
        for _ in range(200):
            idx = np.flatnonzero(active)
            if idx.size == 0:
                break
            xi = x[idx]
            f = np.empty(idx.shape)
            slope = np.empty(idx.shape)
            halley = np.zeros(idx.shape, dtype=bool)
            lm = log_mode[idx]
            li = idx[~lm]
            if li.size:
                xl = xi[~lm]
                val = self._raw_cdf(xl) if cdf_side else self._raw_sf(xl)
                pdf, dpdf = self._linear_pdf(xl)
                fl = val - target[li]
                d1 = pdf if cdf_side else -pdf
                d2 = dpdf if cdf_side else -dpdf
                f[~lm] = fl
                # Halley's correction folded into an effective slope
                with np.errstate(divide="ignore", invalid="ignore"):
                    # written as ratios: the product f * f'' underflows in deep tails
                    eff = d1 * (1.0 - 0.5 * (fl / d1) * (d2 / d1))
                slope[~lm] = np.where(np.sign(eff) == np.sign(d1), eff, d1)
                halley[~lm] = True
            gi = idx[lm]
            if gi.size:
                xg = xi[lm]
                lval = self._raw_logcdf(xg) if cdf_side else self._raw_logsf(xg)
                dlog = np.exp(self._raw_logpdf(xg) - lval)
                f[lm] = lval - t[gi]
                slope[lm] = dlog if cdf_side else -dlog
            # f is increasing (cdf side) or decreasing (sf side) in x
            root_above = (f < 0) if cdf_side else (f > 0)
            lo_i = np.where(root_above, xi, lo[idx])
            hi_i = np.where(root_above, hi[idx], xi)
            exact = f == 0
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                step = f / slope
            newton = xi - step
            ok = np.isfinite(newton) & (newton > lo_i) & (newton < hi_i)
            geometric = (lo_i > 0) & (hi_i > 4.0 * lo_i)
            bisect = np.where(geometric, np.sqrt(lo_i * hi_i), 0.5 * (lo_i + hi_i))
            # a step at rounding level: xi is already the root to an ulp or two
            at_root = exact | (np.abs(step) <= 16 * _EPS * np.abs(xi))
            x_new = np.where(at_root, xi, np.where(ok, newton, bisect))
            # after a Newton step of size s the error is about s^2 |f''/2f'|,
            # and |f''/f'| <= 1 + max|b| + x for these Gaussian sums
            # and after a Halley step about |s|^3 (f''/f')^2
            scale = curv + xi
            err = np.where(halley, np.abs(step) ** 3 * scale * scale, step * step * scale)
            tiny_step = ok & (err <= _EPS * 0.25 * np.abs(xi))
            converged = at_root | tiny_step | (hi_i - lo_i <= 2 * _EPS * hi_i)
            lo[idx], hi[idx] = lo_i, hi_i
            x[idx] = x_new
            active[idx[converged]] = False
        # log-mode roots inherit the error of exp(large log): widen by |t| ulps
        widen = SAFETY + 8 * _EPS + np.where(log_mode, 4 * _EPS * np.abs(t), 0.0)
        result: FloatArray = x * (1.0 + widen)
        return result

    def _initial_guess(
        self, t: FloatArray, lo: FloatArray, hi: FloatArray, fallback: FloatArray, *, cdf_side: bool
    ) -> FloatArray:
        """Interpolate ``log e`` against the log target on a 512-point grid."""
        from scipy.interpolate import PchipInterpolator

        top = float(np.max(hi))
        pos = lo[lo > 0]
        bottom = float(np.min(pos)) if pos.size else top * 1e-3
        bottom = min(max(bottom, 1e-300), top * 1e-3)
        grid = np.geomspace(bottom, top, 512)
        g_val = self._raw_logcdf(grid) if cdf_side else self._raw_logsf(grid)
        if not np.all(np.isfinite(g_val)):
            return fallback
        if not cdf_side:
            g_val, grid = g_val[::-1], grid[::-1]
        keep = np.concatenate([[True], np.diff(g_val) > 0])
        g_val, g_x = g_val[keep], np.log(grid[keep])
        if g_val.size < 4:
            return fallback
        inside = (t >= g_val[0]) & (t <= g_val[-1])
        interp = PchipInterpolator(g_val, g_x, extrapolate=False)
        with np.errstate(invalid="ignore"):
            guess = np.exp(interp(np.where(inside, t, g_val[0])))
        return np.where(inside & np.isfinite(guess), guess, fallback)


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
        logc = np.log(np.asarray(self.latent.counts, dtype=np.float64))
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
                err = 4.0 * _EPS * (np.abs(v) + abs(ld)) + SAFETY * np.abs(lse)
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
        return scalar_or_array(np.asarray(self.omega(t), dtype=np.float64), q)

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
        return scalar_or_array(np.asarray(self.omega(t), dtype=np.float64), p)

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
        logc = np.log(np.asarray(latent.counts, dtype=np.float64))

        def integrand(s: float) -> float:
            # t = s^2 smooths moduli like t^alpha at 0 (dt = 2 s ds)
            t = s * s
            dens = math.exp(float(sc.logsumexp(logc - 0.5 * (b - t) ** 2)) - LOG_SQRT_2PI)
            return float(omega(t)) * dens * 2.0 * s

        # where omega jumps or kinks (a step modulus, also inside a composition):
        # quadrature error estimates cannot be trusted across an unannounced jump
        kinks = omega._breakpoints()
        knots = np.unique(np.concatenate([knots, kinks[(kinks > 0) & (kinks < top)]]))
        with warnings.catch_warnings():
            warnings.simplefilter("error", integrate.IntegrationWarning)
            try:
                value, err = integrate.quad(
                    integrand, 0.0, math.sqrt(top), points=np.sqrt(knots).tolist(),
                    limit=2000, epsabs=0.0, epsrel=1e-13,
                )
            except integrate.IntegrationWarning:
                # the requested accuracy was out of reach: settle for less, and
                # widen the (then less reliable) error estimate tenfold
                warnings.simplefilter("ignore", integrate.IntegrationWarning)
                value, err = integrate.quad(
                    integrand, 0.0, math.sqrt(top), points=np.sqrt(knots).tolist(),
                    limit=2000, epsabs=0.0, epsrel=1e-10,
                )
                err *= 10.0
        # the tail beyond `top` carries probability below 1e-300; the integrand
        # uses omega rounded up, and the quadrature error estimate is added
        return float(value + abs(err)) * (1.0 + 2 * _EPS)
