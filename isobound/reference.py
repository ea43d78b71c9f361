r"""Arbitrary-precision twin of the isobound core, written with mpmath alone.

This module is the yardstick against which the fast float64 code is tested.
It is deliberately simple: every quantity is evaluated straight from its
definition, at a working precision raised far enough above the requested
``dps`` that the cancellations of the definition cannot reach the returned
digits.  It is slow (milliseconds per value) and scalar-only.

Definitions (docs/theory.md, "The bound as a distribution").  Class proportions :math:`p_i` with
multiplicities :math:`c_i` (one entry may stand for many equal classes) are
normalised by their exact sum :math:`\sum_i c_i p_i`.  With
:math:`\Phi, \varphi` the standard normal cdf and density,

.. math::

    b_i = \begin{cases} \Phi^{-1}(p_i) & p_i \le 1/2, \\
          -\Phi^{-1}\bigl(\sum_{j \ne i} c_j p_j + (c_i - 1) p_i\bigr)
          & \text{otherwise (a majority class),} \end{cases}

    B(\varepsilon) = \sum_i c_i\,[\Phi(b_i) - \Phi(b_i - \varepsilon)],
    \qquad 1 - B(\varepsilon) = \sum_i c_i\,\Phi(b_i - \varepsilon).

:math:`B` is the cdf of the worst-case robustness :math:`R^*` (Theorem 1,
Eq. (2) of Fawzi, Fawzi & Fawzi 2018): ``cdf`` is a **lower bound** on the
fraction of points with robustness at most ``eps``, ``sf`` an **upper
bound** on the fraction above it, ``ppf``/``isf`` **upper bounds** on the
quantiles of robustness and ``mean`` an **upper bound** on its mean.

Conventions.  Numbers are converted exactly: a float becomes the mpf with
the same binary value, an int or a decimal string is read exactly at the
working precision.  Malformed parameters raise ``ValueError`` naming the
argument; out-of-domain evaluation points follow scipy.stats (``cdf`` of a
negative radius is 0, ``sf`` is 1, ``ppf``/``isf`` outside [0, 1] give NaN).
Every function returns an :class:`mpmath.mpf` rounded to ``dps`` digits.

Examples
--------
>>> import mpmath
>>> from isobound import reference as ref
>>> print(mpmath.nstr(ref.ppf(0.25, [0.1] * 10), 10))
0.1579799054
>>> print(mpmath.nstr(ref.cdf(3.0, [0.5, 0.5]), 15))
0.997300203936740
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import mpmath
from mpmath import mp

__all__ = [
    "cdf",
    "expected_gaussian_norm",
    "isf",
    "logcdf",
    "logsf",
    "mean",
    "median",
    "moment",
    "ndtri",
    "ndtri_log",
    "normal_loss",
    "pdf",
    "ppf",
    "sf",
    "theorem1_balanced",
    "theorem1_equiprobable",
    "theorem3",
    "theorem4_equiprobable_closed",
    "thresholds",
    "var",
    "transfer_bound",
    "ExactModulus",
]

MpFunction = Callable[[Any], Any]

#: Brackets on which the Anderson solver gave up (bisection took over); for tests.
_FALLBACKS: list[tuple[Any, Any]] = []

#: Digits carried beyond the requested precision in every computation.
GUARD = 20


# --- conversion and validation -----------------------------------------------


def _to_mpf(name: str, value: Any) -> Any:
    """Exact conversion of a float, int, decimal string or mpf to an mpf."""
    if isinstance(value, mpmath.mpf):
        return mpmath.mpf(value)
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a number, got {name}={value!r}")
    if isinstance(value, numbers.Integral):
        return mpmath.mpf(int(value))
    if isinstance(value, numbers.Real):
        return mpmath.mpf(float(value))
    if isinstance(value, str):
        try:
            return mpmath.mpf(value)
        except (ValueError, TypeError):
            raise ValueError(f"{name} must be a number, got {name}={value!r}") from None
    try:
        return mpmath.mpf(float(value))
    except (ValueError, TypeError):
        raise ValueError(f"{name} must be a number, got {name}={value!r}") from None


def _to_list(name: str, values: Any) -> list[Any]:
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        try:
            values = list(values)
        except TypeError:
            raise ValueError(
                f"{name} must be a sequence of numbers, got {name}={values!r}"
            ) from None
    if hasattr(values, "tolist"):
        values = values.tolist()
    out = [_to_mpf(f"{name}[{i}]", v) for i, v in enumerate(values)]
    if not out:
        raise ValueError(f"{name} must be non-empty, got {name}={values!r}")
    return out


def _counts(counts: Any, n: int) -> list[Any]:
    if counts is None:
        return [mpmath.mpf(1)] * n
    if isinstance(counts, numbers.Real) and not isinstance(counts, bool):
        counts = [counts]
    c = _to_list("counts", counts)
    if len(c) != n:
        raise ValueError(
            f"counts must have one entry per class ({n}), got {len(c)}: counts={counts!r}"
        )
    for i, v in enumerate(c):
        if not mpmath.isfinite(v) or v <= 0 or v != mpmath.floor(v):
            raise ValueError(
                f"counts must be positive whole numbers, got counts[{i}]={counts[i]!r}"
            )
    return c


class _Classes:
    """Normalised log-probabilities, multiplicities and thresholds ``b_i``."""

    __slots__ = ("b", "c", "logp")

    def __init__(self, b: list[Any], c: list[Any], logp: list[Any]) -> None:
        self.b = b
        self.c = c
        self.logp = logp


def _classes(class_probs: Any, counts: Any, log_probs: Any) -> _Classes:
    """Validate the class description and compute b_i at the current precision."""
    if (class_probs is None) == (log_probs is None):
        raise ValueError(
            "give exactly one of class_probs and log_probs, got "
            f"class_probs={class_probs!r}, log_probs={log_probs!r}"
        )
    if log_probs is not None:
        logp = _to_list("log_probs", log_probs)
        for i, v in enumerate(logp):
            if mpmath.isnan(v) or v > 0 or v == mpmath.inf:
                raise ValueError(
                    f"log_probs must be <= 0 and not NaN, got log_probs[{i}]={log_probs[i]!r}"
                )
        raw = None
    else:
        raw = _to_list("class_probs", class_probs)
        for i, v in enumerate(raw):
            if mpmath.isnan(v) or v < 0 or v == mpmath.inf:
                raise ValueError(
                    f"class_probs must be finite and >= 0, got class_probs[{i}]={class_probs[i]!r}"
                )
        logp = [mpmath.log(v) if v > 0 else mpmath.ninf for v in raw]
    c = _counts(counts, len(logp))
    # Drop empty classes: they contribute nothing to B, 1 - B or the mean.
    keep = [i for i, v in enumerate(logp) if v != mpmath.ninf]
    if not keep:
        name, given = ("log_probs", log_probs) if raw is None else ("class_probs", class_probs)
        raise ValueError(f"{name} must have a positive total mass, got {name}={given!r}")
    logp = [logp[i] for i in keep]
    c = [c[i] for i in keep]
    if raw is not None:
        # divide by the exact sum, so that e.g. (5, 3, 2) gives exactly (1/2, 3/10, 1/5)
        raw = [raw[i] for i in keep]
        total = mpmath.fsum(ci * v for ci, v in zip(c, raw, strict=True))
        p = [v / total for v in raw]
        logp = [mpmath.log(v) for v in p]
    else:
        top = max(logp)
        total = mpmath.fsum(ci * mpmath.exp(li - top) for ci, li in zip(c, logp, strict=True))
        log_total = top + mpmath.log(total)
        logp = [li - log_total for li in logp]
        p = [mpmath.exp(li) for li in logp]
    b = []
    for i, (ci, li) in enumerate(zip(c, logp, strict=True)):
        if p[i] <= mpmath.mpf(1) / 2:
            b.append(_ndtri_log_raw(li))
        else:
            others = mpmath.fsum(cj * pj for j, (cj, pj) in enumerate(zip(c, p, strict=True)) if j != i)
            others += (ci - 1) * p[i]
            b.append(mpmath.inf if others <= 0 else -_ndtri_log_raw(mpmath.log(others)))
    return _Classes(b, c, logp)


def _work_dps(dps: int, *extra: float) -> int:
    if not isinstance(dps, int) or isinstance(dps, bool) or dps < 5:
        raise ValueError(f"dps must be an integer >= 5, got dps={dps!r}")
    return dps + GUARD + max([0, *[math.ceil(e) for e in extra]])


def _digits_lost_to_width(eps: Any) -> float:
    """Decimal digits that B(eps) loses to cancellation: about -log10(eps) for small eps."""
    if eps <= 0 or eps >= 1 or not mpmath.isfinite(eps):
        return 0.0
    return float(-mpmath.log10(eps)) + 2


def _finish(value: Any, dps: int) -> Any:
    with mpmath.workdps(dps):
        return +value


# --- Gaussian building blocks ------------------------------------------------


def _log_ncdf(x: Any) -> Any:
    return mpmath.log(mpmath.ncdf(x))


def _ndtri_log_raw(logp: Any) -> Any:
    r"""Solve :math:`\log\Phi(x) = \log p` for ``logp <= log(1/2)`` (so ``x <= 0``).

    The function :math:`\log\Phi` is increasing, so the root is bracketed
    by ``[lo, 0]`` with ``lo`` pushed left until :math:`\log\Phi(lo) < \log p`,
    then found by mpmath's bracketing Anderson-Bjorck solver.
    """
    if logp == mpmath.ninf:
        return mpmath.ninf
    half = mpmath.log(mpmath.mpf(1) / 2)
    if logp == half:
        return mpmath.mpf(0)
    if logp > half:  # reflect: Phi^{-1}(p) = -Phi^{-1}(1 - p)
        return -_ndtri_log_raw(mpmath.log(-mpmath.expm1(logp)))

    def h(x: Any) -> Any:
        return _log_ncdf(x) - logp

    hi = mpmath.mpf(0)
    lo = -mpmath.sqrt(-2 * logp) - 1
    while h(lo) > 0:
        lo *= 2
    return _bracketed_root(h, lo, hi, mp.dps - 5)


def _bracketed_root(h: MpFunction, lo: Any, hi: Any, digits: int) -> Any:
    """Root of a monotone ``h`` with a sign change on ``[lo, hi]``, to ``digits`` digits.

    mpmath's Anderson-Bjorck solver does the work; the answer is accepted
    only if ``h`` changes sign across ``root -+ scale * 10**-digits``
    (``scale = max(|lo|, |hi|, 1)``).  Otherwise bisection, always safe,
    finishes the job.  ``h`` need only be accurate to a little more than
    ``digits`` digits near the root.
    """
    hlo, hhi = h(lo), h(hi)
    if hlo == 0:
        return lo
    if hhi == 0:
        return hi
    if (hlo > 0) == (hhi > 0):
        raise ArithmeticError(f"no sign change on [{lo}, {hi}]")  # pragma: no cover
    increasing = hhi > 0
    scale = max(abs(lo), abs(hi), mpmath.mpf(1))
    width = scale * mpmath.mpf(10) ** (-digits)
    try:
        root = mpmath.findroot(
            h, (lo, hi), solver="anderson", tol=width / scale / 16, verify=False, maxsteps=200
        )
        if lo <= root <= hi:
            left, right = h(root - width), h(root + width)
            if (left <= 0 <= right) if increasing else (right <= 0 <= left):
                return root
    except (ZeroDivisionError, ValueError):  # pragma: no cover - fallback below
        pass
    _FALLBACKS.append((lo, hi))
    while hi - lo > width:  # pragma: no cover - rarely needed
        mid = (lo + hi) / 2
        hm = h(mid)
        if hm == 0:
            return mid
        if (hm > 0) == increasing:
            hi = mid
        else:
            lo = mid
    return (lo + hi) / 2  # pragma: no cover


def ndtri(p: Any, *, dps: int = 50) -> Any:
    r"""Inverse standard normal cdf :math:`\Phi^{-1}(p)`.

    Parameters
    ----------
    p : float, int, str or mpf
        Probability in [0, 1].
    dps : int, keyword-only
        Decimal digits of the result.

    Examples
    --------
    >>> import mpmath
    >>> print(mpmath.nstr(ndtri(0.975), 12))
    1.95996398454
    """
    x = _to_mpf("p", p)
    if not 0 <= x <= 1:
        raise ValueError(f"p must lie in [0, 1], got p={p!r}")
    with mpmath.workdps(_work_dps(dps)):
        if x == 0:
            return mpmath.ninf
        if x == 1:
            return mpmath.inf
        if x <= mpmath.mpf(1) / 2:
            r = _ndtri_log_raw(mpmath.log(x))
        else:
            r = -_ndtri_log_raw(mpmath.log(1 - x))
    return _finish(r, dps)


def ndtri_log(logp: Any, *, dps: int = 50) -> Any:
    r"""Inverse normal cdf of :math:`e^{\text{logp}}`, for probabilities far below 1e-308.

    Examples
    --------
    >>> import mpmath
    >>> print(mpmath.nstr(ndtri_log(-10000.0), 12))
    -141.379839873
    """
    x = _to_mpf("logp", logp)
    if mpmath.isnan(x) or x > 0:
        raise ValueError(f"logp must be <= 0, got logp={logp!r}")
    with mpmath.workdps(_work_dps(dps)):
        if x <= mpmath.log(mpmath.mpf(1) / 2):
            r = _ndtri_log_raw(x)
        else:
            r = -_ndtri_log_raw(mpmath.log(-mpmath.expm1(x)))
    return _finish(r, dps)


def normal_loss(a: Any, *, dps: int = 50) -> Any:
    r"""Normal loss function :math:`L(a) = \varphi(a) - a\,(1 - \Phi(a)) = E[(Z - a)_+]`.

    For large positive ``a`` the two terms agree to about
    :math:`2\log_{10} a` digits; the working precision is raised by that.

    Examples
    --------
    >>> import mpmath
    >>> print(mpmath.nstr(normal_loss(0), 15))
    0.398942280401433
    >>> print(mpmath.nstr(normal_loss(40.0), 10))
    5.610075601e-353
    """
    x = _to_mpf("a", a)
    if not mpmath.isfinite(x):
        raise ValueError(f"a must be finite, got a={a!r}")
    lost = 2 * float(mpmath.log10(abs(x))) + 2 if x > 1 else 0.0
    with mpmath.workdps(_work_dps(dps, lost)):
        v = mpmath.npdf(x) - x * mpmath.ncdf(-x)
    return _finish(v, dps)


def expected_gaussian_norm(d: Any, *, dps: int = 50) -> Any:
    r"""Mean Euclidean norm of a standard Gaussian vector in dimension ``d``.

    .. math::  E\|z\|_2 = \sqrt{2}\,\Gamma((d+1)/2) / \Gamma(d/2),

    through a difference of log-gammas, with the precision raised by
    :math:`\log_{10} d` digits to absorb the cancellation.

    Examples
    --------
    >>> import mpmath
    >>> print(mpmath.nstr(expected_gaussian_norm(100), 6))
    9.97503
    """
    x = _to_mpf("d", d)
    if not mpmath.isfinite(x) or x <= 0:
        raise ValueError(f"d must be positive and finite, got d={d!r}")
    lost = float(mpmath.log10(x)) + 2 if x > 1 else 0.0
    with mpmath.workdps(_work_dps(dps, lost)):
        v = mpmath.sqrt(2) * mpmath.exp(mpmath.loggamma((x + 1) / 2) - mpmath.loggamma(x / 2))
    return _finish(v, dps)


# --- the bound ---------------------------------------------------------------


def _interval_mass(b: Any, eps: Any) -> Any:
    r""":math:`\Phi(b) - \Phi(b - \varepsilon)`, taken on the side of 0 where both tails are small."""
    if b == mpmath.inf:
        return mpmath.mpf(0)
    if b - eps / 2 > 0:
        return mpmath.ncdf(eps - b) - mpmath.ncdf(-b)
    return mpmath.ncdf(b) - mpmath.ncdf(b - eps)


def _latent(eta: Any, omega_inverse: MpFunction | None) -> Any:
    x = _to_mpf("eta", eta)
    if mpmath.isnan(x):
        raise ValueError(f"eta must not be NaN, got eta={eta!r}")
    if omega_inverse is None or x < 0:
        return x
    e = mpmath.mpf(omega_inverse(x))
    if mpmath.isnan(e):
        raise ValueError(f"omega_inverse({eta!r}) returned NaN")
    return e


def _raw_cdf(k: _Classes, eps: Any) -> Any:
    if eps <= 0:
        return mpmath.mpf(0)
    return mpmath.fsum(c * _interval_mass(b, eps) for b, c in zip(k.b, k.c, strict=True))


def _raw_sf(k: _Classes, eps: Any) -> Any:
    if eps <= 0:
        return mpmath.mpf(1)
    return mpmath.fsum(
        c * (mpmath.mpf(1) if b == mpmath.inf else mpmath.ncdf(b - eps)) for b, c in zip(k.b, k.c, strict=True)
    )


def _raw_pdf(k: _Classes, eps: Any) -> Any:
    if eps < 0:
        return mpmath.mpf(0)
    return mpmath.fsum(c * mpmath.npdf(b - eps) for b, c in zip(k.b, k.c, strict=True) if b != mpmath.inf)


def thresholds(
    class_probs: Sequence[Any] | None = None,
    counts: Sequence[Any] | None = None,
    *,
    log_probs: Sequence[Any] | None = None,
    dps: int = 50,
) -> list[Any]:
    r"""The thresholds :math:`b_i` (:math:`= -a_{\ne i}` in the paper), one per distinct entry.

    Empty classes (probability 0) are dropped.

    Examples
    --------
    >>> import mpmath
    >>> [mpmath.nstr(b, 8) for b in thresholds([0.9, 0.1])]
    ['1.2815516', '-1.2815516']
    """
    with mpmath.workdps(_work_dps(dps)):
        k = _classes(class_probs, counts, log_probs)
    return [_finish(b, dps) for b in k.b]


def cdf(
    eta: Any,
    class_probs: Sequence[Any] | None = None,
    counts: Sequence[Any] | None = None,
    *,
    log_probs: Sequence[Any] | None = None,
    omega_inverse: MpFunction | None = None,
    dps: int = 50,
) -> Any:
    r"""Lower bound :math:`B(\omega^{-1}(\eta))` on :math:`P(r \le \eta)`: Theorem 1, Eq. (2).

    .. math::

        B(\varepsilon) = \sum_i c_i\,[\Phi(b_i) - \Phi(b_i - \varepsilon)],

    each interval mass taken on the side of 0 where both tail values are
    small, at a precision raised by :math:`-\log_{10}\varepsilon` digits so
    that radii down to 1e-300 keep all ``dps`` digits.

    Parameters
    ----------
    eta : float, int, str or mpf
        Radius; the latent radius is ``omega_inverse(eta)`` when given.
    class_probs : sequence, optional
        Class proportions (normalised by their exact sum with multiplicities).
    counts : sequence of int, optional
        Multiplicity of each entry.
    log_probs : sequence, keyword-only, optional
        Natural logs of the proportions, instead of ``class_probs``.
    omega_inverse : callable, keyword-only, optional
        Inverse modulus of continuity, mpf in and mpf out.
    dps : int, keyword-only
        Decimal digits of the result.

    Returns
    -------
    mpmath.mpf
        0 for a negative radius.

    Examples
    --------
    Two half-spaces of equal mass are the extreme case: :math:`B(\varepsilon) = 2\Phi(\varepsilon) - 1`.

    >>> import mpmath
    >>> print(mpmath.nstr(cdf(1e-300, [0.5, 0.5]), 15))
    7.97884560802865e-301
    """
    with mpmath.workdps(_work_dps(dps)):
        e = _latent(eta, omega_inverse)
    with mpmath.workdps(_work_dps(dps, _digits_lost_to_width(e))):
        k = _classes(class_probs, counts, log_probs)
        v = _raw_cdf(k, e)
    return _finish(v, dps)


def logcdf(
    eta: Any,
    class_probs: Sequence[Any] | None = None,
    counts: Sequence[Any] | None = None,
    *,
    log_probs: Sequence[Any] | None = None,
    omega_inverse: MpFunction | None = None,
    dps: int = 50,
) -> Any:
    r"""Natural log of :func:`cdf` (``-inf`` at radius 0 or below).

    Examples
    --------
    >>> import mpmath
    >>> print(mpmath.nstr(logcdf(1e-300, [0.5, 0.5]), 15))
    -691.001319250858
    """
    with mpmath.workdps(_work_dps(dps)):
        e = _latent(eta, omega_inverse)
    with mpmath.workdps(_work_dps(dps, _digits_lost_to_width(e))):
        k = _classes(class_probs, counts, log_probs)
        v = _raw_cdf(k, e)
        if v <= 0:
            v = mpmath.ninf
        elif v > mpmath.mpf(1) / 2:  # log(1 - sf): keep the digits of a tiny sf
            v = mpmath.log1p(-_raw_sf(k, e))
        else:
            v = mpmath.log(v)
    return _finish(v, dps)


def sf(
    eta: Any,
    class_probs: Sequence[Any] | None = None,
    counts: Sequence[Any] | None = None,
    *,
    log_probs: Sequence[Any] | None = None,
    omega_inverse: MpFunction | None = None,
    dps: int = 50,
) -> Any:
    r"""Upper bound :math:`1 - B(\varepsilon) = \sum_i c_i\,\Phi(b_i - \varepsilon)` on :math:`P(r > \eta)`.

    A sum of positive terms: no cancellation, accurate however small.

    Examples
    --------
    >>> import mpmath
    >>> print(mpmath.nstr(sf(40.0, [0.5, 0.3, 0.2]), 10))
    3.477961389e-350
    """
    with mpmath.workdps(_work_dps(dps)):
        e = _latent(eta, omega_inverse)
        k = _classes(class_probs, counts, log_probs)
        v = _raw_sf(k, e)
    return _finish(v, dps)


def logsf(
    eta: Any,
    class_probs: Sequence[Any] | None = None,
    counts: Sequence[Any] | None = None,
    *,
    log_probs: Sequence[Any] | None = None,
    omega_inverse: MpFunction | None = None,
    dps: int = 50,
) -> Any:
    r"""Natural log of :func:`sf`: log of an upper bound on :math:`P(r > \eta)`.

    Examples
    --------
    >>> import mpmath
    >>> print(mpmath.nstr(logsf(40.0, [0.5, 0.3, 0.2]), 12))
    -804.608442013
    """
    with mpmath.workdps(_work_dps(dps)):
        e = _latent(eta, omega_inverse)
    with mpmath.workdps(_work_dps(dps, _digits_lost_to_width(e))):
        k = _classes(class_probs, counts, log_probs)
        v = _raw_sf(k, e)
        # near 1, log(1 - B) keeps the digits of a tiny B
        v = mpmath.log1p(-_raw_cdf(k, e)) if v > mpmath.mpf(1) / 2 else mpmath.log(v)
    return _finish(v, dps)


def pdf(
    eps: Any,
    class_probs: Sequence[Any] | None = None,
    counts: Sequence[Any] | None = None,
    *,
    log_probs: Sequence[Any] | None = None,
    dps: int = 50,
) -> Any:
    r"""Density :math:`B'(\varepsilon) = \sum_i c_i\,\varphi(b_i - \varepsilon)` of :math:`R^*` (latent space).

    Examples
    --------
    >>> import mpmath
    >>> print(mpmath.nstr(pdf(0, [0.5, 0.5]), 15))
    0.797884560802865
    """
    with mpmath.workdps(_work_dps(dps)):
        e = _to_mpf("eps", eps)
        k = _classes(class_probs, counts, log_probs)
        v = _raw_pdf(k, e)
    return _finish(v, dps)


def _solve_cdf(k: _Classes, log_q: Any, digits: int) -> Any:
    r"""Root of :math:`\log B(e^u) = \log q` in :math:`u = \log\varepsilon`."""

    def h(u: Any) -> Any:
        v = _raw_cdf(k, mpmath.exp(u))
        return (mpmath.ninf if v <= 0 else mpmath.log(v)) - log_q

    # B(eps) ~ eps * pdf(0) for small eps: a first guess, then widen.  Beyond
    # max|b_i| + 50 the cdf is 1 to within 1e-500, so q <= 1/2 lies below it.
    u_max = mpmath.log(max(abs(b) for b in k.b if b != mpmath.inf) + 50)
    u0 = min(log_q - mpmath.log(_raw_pdf(k, mpmath.mpf(0))), u_max - 1)
    step = mpmath.mpf(1)
    lo, hi = u0 - step, u0 + step
    while h(lo) > 0:
        step *= 2
        lo -= step
    step = mpmath.mpf(1)
    while hi < u_max and h(hi) < 0:
        step *= 2
        hi = min(hi + step, u_max)
    return mpmath.exp(_bracketed_root(h, lo, hi, digits))


def _solve_sf(k: _Classes, log_p: Any, digits: int) -> Any:
    r"""Root of :math:`\log(1 - B(\varepsilon)) = \log p` in :math:`\varepsilon`."""

    def h(e: Any) -> Any:
        return mpmath.log(_raw_sf(k, e)) - log_p

    lo = mpmath.mpf(0)
    hi = mpmath.mpf(1)
    while h(hi) > 0:
        lo = hi
        hi *= 2
    return _bracketed_root(h, lo, hi, digits)


def _degenerate(k: _Classes) -> bool:
    """A single class: no classifier boundary, so R* is +inf with probability 1."""
    return all(b == mpmath.inf for b in k.b)


def _quantile(k: _Classes, q: Any, digits: int) -> Any:
    """The q-quantile of R*; q strictly inside (0, 1)."""
    if _degenerate(k):
        return mpmath.inf
    if q <= mpmath.mpf(1) / 2:
        return _solve_cdf(k, mpmath.log(q), digits)
    return _solve_sf(k, mpmath.log(1 - q), digits)


def ppf(
    q: Any,
    class_probs: Sequence[Any] | None = None,
    counts: Sequence[Any] | None = None,
    *,
    log_probs: Sequence[Any] | None = None,
    omega: MpFunction | None = None,
    dps: int = 50,
) -> Any:
    r"""Upper bound on the ``q``-quantile of robustness: :math:`\omega(B^{-1}(q))`.

    The root of :math:`B(\varepsilon) = q` is found by mpmath's bracketed
    Anderson-Bjorck solver on :math:`\log B(e^u) = \log q` (``q <= 1/2``,
    so a root near 1e-300 keeps its relative digits) or on
    :math:`\log(1 - B(\varepsilon)) = \log(1 - q)` (``q > 1/2``).

    Parameters
    ----------
    q : float, int, str or mpf
        Probability; NaN outside [0, 1], 0 at 0 and ``inf`` at 1.
    omega : callable, keyword-only, optional
        Modulus of continuity (mpf in, mpf out) applied to the latent quantile.

    Examples
    --------
    The Z-space upper bound of the paper's Tables 1-2:

    >>> import mpmath
    >>> print(mpmath.nstr(ppf(0.25, [1], counts=[10]) / expected_gaussian_norm(100), 5))
    0.015838
    """
    with mpmath.workdps(_work_dps(dps)):
        x = _to_mpf("q", q)
    if mpmath.isnan(x) or x < 0 or x > 1:
        return mpmath.nan
    # B(eps) = q needs B at radii about q / pdf(0): as many digits lost as in cdf.
    with mpmath.workdps(_work_dps(dps, _digits_lost_to_width(x))):
        k = _classes(class_probs, counts, log_probs)
        if x == 0:
            e = mpmath.mpf(0)
        elif x == 1:
            e = mpmath.inf
        else:
            e = _quantile(k, x, dps + GUARD // 2)
        v = e if omega is None else mpmath.mpf(omega(e))
    return _finish(v, dps)


def isf(
    p: Any,
    class_probs: Sequence[Any] | None = None,
    counts: Sequence[Any] | None = None,
    *,
    log_probs: Sequence[Any] | None = None,
    omega: MpFunction | None = None,
    dps: int = 50,
) -> Any:
    r"""Upper bound on the radius that robustness exceeds with probability ``p``.

    The root of :math:`1 - B(\varepsilon) = p` in the log domain for
    ``p <= 1/2`` (valid for ``p`` down to 1e-300 and far below), else
    ``ppf(1 - p)`` with ``1 - p`` formed exactly.

    Examples
    --------
    >>> import mpmath
    >>> print(mpmath.nstr(isf(1e-300, [0.5, 0.5]), 12))
    37.0657878808
    """
    with mpmath.workdps(_work_dps(dps)):
        x = _to_mpf("p", p)
    if mpmath.isnan(x) or x < 0 or x > 1:
        return mpmath.nan
    with mpmath.workdps(_work_dps(dps)):
        lost = _digits_lost_to_width(1 - x)
    with mpmath.workdps(_work_dps(dps, lost)):
        k = _classes(class_probs, counts, log_probs)
        if x == 0 or _degenerate(k):
            e = mpmath.inf
        elif x == 1:
            e = mpmath.mpf(0)
        elif x <= mpmath.mpf(1) / 2:
            e = _solve_sf(k, mpmath.log(x), dps + GUARD // 2)
        else:
            e = _solve_cdf(k, mpmath.log(1 - x), dps + GUARD // 2)
        v = e if omega is None else mpmath.mpf(omega(e))
    return _finish(v, dps)


def median(
    class_probs: Sequence[Any] | None = None,
    counts: Sequence[Any] | None = None,
    *,
    log_probs: Sequence[Any] | None = None,
    omega: MpFunction | None = None,
    dps: int = 50,
) -> Any:
    """Upper bound on the median robustness, ``ppf(1/2)`` (the paper's Figure 2).

    Examples
    --------
    >>> import mpmath
    >>> print(mpmath.nstr(median([1], counts=[1000]), 6))
    0.200294
    """
    return ppf("0.5", class_probs, counts, log_probs=log_probs, omega=omega, dps=dps)


def mean(
    class_probs: Sequence[Any] | None = None,
    counts: Sequence[Any] | None = None,
    *,
    log_probs: Sequence[Any] | None = None,
    omega: MpFunction | None = None,
    points: Sequence[Any] = (),
    dps: int = 50,
) -> Any:
    r"""Upper bound on the mean robustness: :math:`E\,\omega(R^*)`.

    Without ``omega`` this is the closed form inside Theorem 4,

    .. math::  E R^* = \sum_i c_i\,L(a_i), \qquad a_i = -b_i,\quad
               L(a) = \varphi(a) - a\,(1 - \Phi(a)).

    With ``omega`` it is :math:`\int_0^\infty \omega(t)\,B'(t)\,dt` by
    mpmath's tanh-sinh quadrature, split at the thresholds, at
    ``b_i +- 8`` and at the kinks listed in ``points`` (give them for a
    piecewise-linear modulus).  The quadrature is good to about ``dps``
    digits for smooth pieces, not guaranteed.

    Examples
    --------
    >>> import mpmath
    >>> print(mpmath.nstr(mean([1], counts=[10]), 3))
    0.473
    """
    with mpmath.workdps(_work_dps(dps)):
        k = _classes(class_probs, counts, log_probs)
        if any(b == mpmath.inf for b in k.b):
            return mpmath.inf
    if omega is None:
        terms = [c * normal_loss(-b, dps=dps + GUARD) for b, c in zip(k.b, k.c, strict=True)]
        with mpmath.workdps(_work_dps(dps)):
            v = mpmath.fsum(terms)
        return _finish(v, dps)
    with mpmath.workdps(dps + 10):
        knots = {mpmath.mpf(0)}
        for b in k.b:
            for t in (b - 8, b, b + 8):
                if t > 0:
                    knots.add(t)
        for t in points:
            t = _to_mpf("points", t)
            if t > 0:
                knots.add(t)
        edges = [*sorted(knots), mpmath.inf]

        def integrand(t: Any) -> Any:
            return mpmath.mpf(omega(t)) * _raw_pdf(k, t)

        v = mpmath.quad(integrand, edges)
    return _finish(v, dps)


# --- the paper's closed forms --------------------------------------------------


def _sqrt_half_pi() -> Any:
    return mpmath.sqrt(mpmath.pi / 2)


def theorem1_balanced(eta: Any, omega_inverse: MpFunction | None = None, *, dps: int = 50) -> Any:
    r"""Eq. (3): :math:`\max(0, 1 - \sqrt{\pi/2}\,e^{-\varepsilon^2/2})`, :math:`\varepsilon = \omega^{-1}(\eta)`.

    A lower bound on :math:`P(r \le \eta)`, valid only when every class has
    probability at most 1/2; clipped at 0, which says nothing.

    Examples
    --------
    >>> import mpmath
    >>> print(mpmath.nstr(theorem1_balanced(2.0), 10))
    0.8303823762
    """
    with mpmath.workdps(_work_dps(dps)):
        e = _latent(eta, omega_inverse)
        v = mpmath.mpf(0) if e < 0 else 1 - _sqrt_half_pi() * mpmath.exp(-e * e / 2)
        v = max(v, mpmath.mpf(0))
    return _finish(v, dps)


def _equiprobable_rate(n_classes: Any) -> Any:
    k = _to_mpf("n_classes", n_classes)
    if not mpmath.isfinite(k) or k < 5 or k != mpmath.floor(k):
        raise ValueError(f"n_classes must be a whole number >= 5, got n_classes={n_classes!r}")
    return mpmath.sqrt(mpmath.log(k * k / (4 * mpmath.pi * mpmath.log(k))))


def theorem1_equiprobable(
    eta: Any, n_classes: Any, omega_inverse: MpFunction | None = None, *, dps: int = 50
) -> Any:
    r"""Eq. (4), ``K >= 5`` equiprobable classes, clipped at 0.

    .. math::

        1 - \sqrt{\pi/2}\,e^{-\varepsilon^2/2}\,
        e^{-\varepsilon\sqrt{\log(K^2/(4\pi\log K))}},
        \qquad \varepsilon = \omega^{-1}(\eta).

    The paper prints :math:`\eta` in the second exponent; the latent radius
    :math:`\varepsilon` is used in both here (the two agree when
    :math:`\omega` is the identity).

    Examples
    --------
    >>> import mpmath
    >>> print(mpmath.nstr(theorem1_equiprobable(1.0, 10), 10))
    0.7503792415
    """
    with mpmath.workdps(_work_dps(dps)):
        rate = _equiprobable_rate(n_classes)
        e = _latent(eta, omega_inverse)
        if e < 0:
            v = mpmath.mpf(0)
        else:
            v = 1 - _sqrt_half_pi() * mpmath.exp(-e * e / 2 - e * rate)
        v = max(v, mpmath.mpf(0))
    return _finish(v, dps)


def theorem3(
    eta: Any, delta: Any, omega_inverse: MpFunction | None = None, *, dps: int = 50
) -> Any:
    r"""Eq. (6): :math:`\max(0, 1 - \sqrt{\pi/2}\,e^{-\varepsilon^2/2} - 2\delta)`.

    A lower bound on the probability that one perturbation of norm at most
    :math:`\eta` fools two classifiers that disagree with probability at
    most :math:`\delta`.

    Examples
    --------
    >>> import mpmath
    >>> print(mpmath.nstr(theorem3(3.0, 0.01), 10))
    0.9660769376
    """
    with mpmath.workdps(_work_dps(dps)):
        d = _to_mpf("delta", delta)
        if not 0 <= d <= 1:
            raise ValueError(f"delta must lie in [0, 1], got delta={delta!r}")
        e = _latent(eta, omega_inverse)
        v = mpmath.mpf(0) if e < 0 else 1 - _sqrt_half_pi() * mpmath.exp(-e * e / 2) - 2 * d
        v = max(v, mpmath.mpf(0))
    return _finish(v, dps)


def theorem4_equiprobable_closed(n_classes: Any, *, dps: int = 50) -> Any:
    r"""Theorem 4's closed form for ``K >= 5``: :math:`\log(4\pi\log K)/\sqrt{2\log K}`.

    An upper bound on :math:`E R^*` (apply a concave :math:`\omega` and add
    the Wasserstein :math:`\delta` for image space), 3-5 times looser than
    the exact :func:`mean`.

    Examples
    --------
    >>> import mpmath
    >>> print(mpmath.nstr(theorem4_equiprobable_closed(10), 4))
    1.568
    """
    with mpmath.workdps(_work_dps(dps)):
        _equiprobable_rate(n_classes)
        lk = mpmath.log(_to_mpf("n_classes", n_classes))
        v = mpmath.log(4 * mpmath.pi * lk) / mpmath.sqrt(2 * lk)
    return _finish(v, dps)


# --- moments ------------------------------------------------------------------------


def moment(
    order: Any,
    class_probs: Sequence[Any] | None = None,
    counts: Sequence[Any] | None = None,
    *,
    log_probs: Sequence[Any] | None = None,
    dps: int = 50,
) -> Any:
    r""":math:`E[R^{*n}] = \int_0^\infty t^n B'(t)\,dt`, an upper bound on :math:`E[r^n]`.

    By mpmath's tanh-sinh quadrature of the density, split at 0, at each
    threshold and 12 units either side of it (independent of the partial-moment
    recurrence the float code uses).

    Examples
    --------
    >>> import mpmath
    >>> print(mpmath.nstr(moment(2, [0.5, 0.5]), 15))  # R* = |Z| for two half-spaces
    1.0
    """
    n = _to_mpf("order", order)
    if not mpmath.isfinite(n) or n < 0 or n != mpmath.floor(n):
        raise ValueError(f"order must be a whole number >= 0, got order={order!r}")
    with mpmath.workdps(_work_dps(dps)):
        k = _classes(class_probs, counts, log_probs)
        if n == 0:
            return _finish(mpmath.mpf(1), dps)
        if _degenerate(k):
            return mpmath.inf
        knots = {mpmath.mpf(0)}
        for b in k.b:
            for t in (b - 12, b, b + 12):
                if t > 0:
                    knots.add(t)
        edges = [*sorted(knots), mpmath.inf]
        v = mpmath.quad(lambda t: t**n * _raw_pdf(k, t), edges)
    return _finish(v, dps)


def var(
    class_probs: Sequence[Any] | None = None,
    counts: Sequence[Any] | None = None,
    *,
    log_probs: Sequence[Any] | None = None,
    dps: int = 50,
) -> Any:
    r"""Variance of :math:`R^*`, :math:`E[R^{*2}] - (E R^*)^2` at raised precision.

    A property of the worst-case distribution, not a bound on any classifier.

    Examples
    --------
    >>> import mpmath
    >>> print(mpmath.nstr(var([0.5, 0.5]), 12))  # 1 - 2/pi
    0.363380227632
    """
    with mpmath.workdps(_work_dps(dps) + 20):
        m2 = moment(2, class_probs, counts, log_probs=log_probs, dps=dps + 30)
        m1 = mean(class_probs, counts, log_probs=log_probs, dps=dps + 30)
        v = m2 - m1 * m1
    return _finish(v, dps)


# --- the premise-free transfer bound and exact moduli ----------------------------


def transfer_bound(
    eta: Any,
    class_probs: Sequence[Any] | None,
    delta: Any,
    counts: Sequence[Any] | None = None,
    *,
    log_probs: Sequence[Any] | None = None,
    omega_inverse: MpFunction | None = None,
    failure_prob: Any = 0,
    dps: int = 50,
) -> Any:
    r"""Twin of :func:`isobound.transfer_bound`, straight from its definition.

    .. math::

        \max\Bigl(0,\ 1 - \delta - \delta_\omega - \sum_i c_i
        \min\bigl(p_i, \bar\Phi(\Phi^{-1}(1 - p_i - \delta) + \varepsilon)\bigr)\Bigr),

    a class with :math:`1 - p_i - \delta \le 0` contributing :math:`p_i`;
    :math:`1 - p_i` is formed as the mass of the other classes.

    Examples
    --------
    >>> import mpmath
    >>> print(mpmath.nstr(transfer_bound(1.0, [0.5, 0.3, 0.2], 0), 12))
    0.744875113559
    >>> print(mpmath.nstr(cdf(1.0, [0.5, 0.3, 0.2]), 12))
    0.744875113559
    """
    with mpmath.workdps(_work_dps(dps)):
        d = _to_mpf("delta", delta)
        if not 0 <= d <= 1:
            raise ValueError(f"delta must lie in [0, 1], got delta={delta!r}")
        fp = _to_mpf("failure_prob", failure_prob)
        if not 0 <= fp < 1:
            raise ValueError(f"failure_prob must lie in [0, 1), got failure_prob={failure_prob!r}")
        e = _latent(eta, omega_inverse)
        k = _classes(class_probs, counts, log_probs)
        if e < 0:
            e = mpmath.mpf(0)
        p = [mpmath.exp(li) for li in k.logp]
        total = mpmath.mpf(0)
        for i, (ci, pi) in enumerate(zip(k.c, p, strict=True)):
            rest = mpmath.fsum(cj * pj for j, (cj, pj) in enumerate(zip(k.c, p, strict=True)) if j != i)
            rest += (ci - 1) * pi
            s = rest - d
            if s <= 0:
                term = pi
            else:
                a = _ndtri_log_raw(mpmath.log(s))
                term = min(pi, mpmath.ncdf(-a - e))
            total += ci * term
        v = max(1 - d - fp - total, mpmath.mpf(0))
    return _finish(v, dps)


class ExactModulus:
    """The exact (real-arithmetic) modulus described by an isobound Modulus' parameters.

    ``value(t)`` and ``inverse(eta)`` take and return mpf values; the
    inverse is the generalised inverse ``sup{t >= 0 : omega(t) <= eta}``
    (0 below ``omega(0)``).  A UniformPrior uses the exact constant
    ``sqrt(2/pi)``, not its float.  For tests of the float moduli' rounding.
    """

    def __init__(self, omega: Any) -> None:
        from . import _moduli as m

        self.kind = type(omega).__name__
        self._omega = omega
        if isinstance(omega, m.UniformPrior):
            self._outer: ExactModulus | None = ExactModulus(omega.outer)
            self._inner: ExactModulus | None = None
        elif isinstance(omega, m.Composition):
            self._outer = ExactModulus(omega.outer)
            self._inner = ExactModulus(omega.inner)
        elif not isinstance(omega, (m.Identity, m.Affine, m.Holder, m.PiecewiseLinear)):
            raise ValueError(f"unknown modulus omega={omega!r}")

    def value(self, t: Any) -> Any:
        from . import _moduli as m

        o = self._omega
        t = mpmath.mpf(t)
        if isinstance(o, m.UniformPrior):
            assert self._outer is not None
            return self._outer.value(mpmath.sqrt(2 / mpmath.pi) * t)
        if isinstance(o, m.Composition):
            assert self._outer is not None and self._inner is not None
            return self._outer.value(self._inner.value(t))
        if isinstance(o, m.Identity):
            return t
        if isinstance(o, m.Affine):
            return mpmath.mpf(o.slope) * t + mpmath.mpf(o.intercept)
        if isinstance(o, m.Holder):
            return mpmath.mpf(o.constant) * t ** mpmath.mpf(o.exponent)
        r = [mpmath.mpf(float(x)) for x in o.radii]
        v = [mpmath.mpf(float(x)) for x in o.values]
        if t > r[-1]:
            if not o.extrapolate:
                return mpmath.inf
            return v[-1] + (v[-1] - v[-2]) / (r[-1] - r[-2]) * (t - r[-1])
        if t <= r[0]:
            return v[0]
        k = next(i for i in range(1, len(r)) if t <= r[i])
        if o.interpolation == "step":
            return v[k]
        return v[k - 1] + (v[k] - v[k - 1]) * (t - r[k - 1]) / (r[k] - r[k - 1])

    def inverse(self, eta: Any) -> Any:
        from . import _moduli as m

        o = self._omega
        eta = mpmath.mpf(eta)
        if eta < self.value(0):
            return mpmath.mpf(0)
        if isinstance(o, m.UniformPrior):
            assert self._outer is not None
            return self._outer.inverse(eta) / mpmath.sqrt(2 / mpmath.pi)
        if isinstance(o, m.Composition):
            assert self._outer is not None and self._inner is not None
            return self._inner.inverse(self._outer.inverse(eta))
        if isinstance(o, m.Identity):
            return eta
        if isinstance(o, m.Affine):
            return (eta - mpmath.mpf(o.intercept)) / mpmath.mpf(o.slope)
        if isinstance(o, m.Holder):
            return (eta / mpmath.mpf(o.constant)) ** (1 / mpmath.mpf(o.exponent))
        r = [mpmath.mpf(float(x)) for x in o.radii]
        v = [mpmath.mpf(float(x)) for x in o.values]
        k = max(i for i in range(len(v)) if v[i] <= eta)
        if k == len(v) - 1:
            if not o.extrapolate:
                return r[-1]
            slope = (v[-1] - v[-2]) / (r[-1] - r[-2])
            return mpmath.inf if slope == 0 else r[-1] + (eta - v[-1]) / slope
        if o.interpolation == "step":
            return r[k]
        return r[k] + (eta - v[k]) * (r[k + 1] - r[k]) / (v[k + 1] - v[k])

