r"""The paper's closed forms, named after it, and a premise-free transfer bound.

Each function returns what the paper states, clipped at 0 where the
formula goes negative (a negative lower bound on a probability says
nothing).  The exact, tighter quantities are methods of
:class:`isobound.IsoperimetricBound`; these closed forms are there to
reproduce and check the paper, and each docstring says how it relates to
the exact bound.

Signatures follow one rule: the mathematical arguments a statement is
about are positional, in the order evaluation point (``eta``), class
description (``class_probs`` or ``n_classes``), the theorem's own parameter
(Theorem 3's disagreement ``delta``); everything that has a default is
keyword-only (``omega``, Theorem 4's Wasserstein ``delta``, the
``class_probs`` a premise is checked against).  The positional forms of
earlier releases (``theorem1(eta, p, omega)``, ``theorem4(p, omega, delta)``
and so on) still work and emit a ``DeprecationWarning``.

Rounding: probabilities (lower bounds) are rounded down and robustness
values (upper bounds) up.  The latent radius is the modulus' certified
inverse (a lower bound), each exponent is raised by a bound on its
absolute rounding error before it is exponentiated, and every term is
moved down by a relative margin (``SAFETY``, 64 ulps) before the final
subtraction of the probabilities given up, large enough to cover that
subtraction's own rounding.

Out-of-domain radii follow the package's conventions: a negative ``eta`` is
below every ``omega(0)``, so its latent radius is 0 and every lower bound
here is 0 there; NaN gives NaN.
"""

from __future__ import annotations

import functools
import inspect
import math
import warnings
from collections.abc import Callable
from typing import Any, TypeVar, cast

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special as sc

from ._bound import SAFETY, IsoperimetricBound
from ._gaussian import log_interval_mass, log_phi, scalar_or_array
from ._moduli import Composition, Holder, Modulus, PiecewiseLinear, as_modulus
from ._validation import as_class_vector, check_n_classes, check_nonnegative, short_repr

__all__ = [
    "theorem1",
    "theorem1_balanced",
    "theorem1_equiprobable",
    "theorem3",
    "theorem4",
    "theorem4_equiprobable",
    "transfer_bound",
]

FloatArray = NDArray[np.float64]
F = TypeVar("F", bound=Callable[..., Any])

_EPS = 2.0**-52
_LOG_SQRT_PI_2 = 0.5 * math.log(math.pi / 2.0)


def _options_by_keyword(*legacy: str) -> Callable[[F], F]:
    """Let the options ``legacy`` still be passed by position, with a DeprecationWarning.

    The decorated function keeps its keyword-only signature (``help`` and
    ``inspect.signature`` show it); extra positional arguments are mapped
    to ``legacy`` in the order of the earlier release.
    """

    def decorate(fn: F) -> F:
        sig = inspect.signature(fn)
        n_pos = sum(
            p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in sig.parameters.values()
        )

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if len(args) > n_pos:
                extra = args[n_pos:]
                if len(extra) > len(legacy):
                    raise TypeError(
                        f"{fn.__name__}() takes {n_pos} positional arguments (and at most "
                        f"{len(legacy)} deprecated positional options) but {len(args)} were given"
                    )
                names = legacy[: len(extra)]
                for name, value in zip(names, extra, strict=True):
                    if name in kwargs:
                        raise TypeError(f"{fn.__name__}() got multiple values for argument {name!r}")
                    kwargs[name] = value
                warnings.warn(
                    f"passing {', '.join(names)} to {fn.__name__}() by position is deprecated "
                    f"and will stop working: write {', '.join(f'{n}=...' for n in names)} "
                    "(options are keyword-only)",
                    DeprecationWarning,
                    stacklevel=2,
                )
                args = args[:n_pos]
            return fn(*args, **kwargs)

        wrapper.__signature__ = sig  # type: ignore[attr-defined]
        return cast(F, wrapper)

    return decorate


def _latent_radius(eta: ArrayLike, omega: Modulus | None) -> tuple[FloatArray, Modulus]:
    """``omega.inverse(eta)``, certified from below by the modulus; 0 for ``eta < omega(0)``."""
    m = as_modulus(omega)
    return np.asarray(m.inverse(eta), dtype=np.float64), m


def _one_minus_tail(log_tail: FloatArray, log_err: Any, subtract: float) -> FloatArray:
    """``max(1 - exp(log_tail) - subtract, 0)`` rounded down.

    ``log_err`` bounds the absolute error of ``log_tail``: the exponent is
    raised by it first, so the tail can only be over-estimated.
    ``subtract`` collects the probabilities the bound gives up: the failure
    probability of an estimated modulus, Theorem 3's ``2 delta``.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        # a tail above 1 (log_tail > 0) makes v negative, clipped to 0 below
        v = -np.expm1(log_tail + log_err)
    v = v * (1.0 - SAFETY) - SAFETY * 1e-300
    if subtract:
        # this subtraction's rounding (half an ulp of a result that is at most v)
        # is covered by the 64-ulp SAFETY factor just applied to v
        v = v - subtract
    result: FloatArray = np.maximum(v, 0.0)
    return result


def _eq3_tail(eps: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``log(sqrt(pi/2) exp(-eps^2/2))`` and a bound on its absolute rounding error."""
    half_sq = 0.5 * eps * eps
    lt = _LOG_SQRT_PI_2 - half_sq
    # near the zero crossing the two terms cancel: the error is relative to them, not to lt
    err = 4.0 * _EPS * (abs(_LOG_SQRT_PI_2) + half_sq + np.abs(lt))
    return lt, err


@_options_by_keyword("omega")
def theorem1(eta: ArrayLike, class_probs: ArrayLike, *, omega: Modulus | None = None) -> Any:
    r"""Theorem 1, Eq. (2): lower bound on :math:`P(r_{in} \le \eta)`.

    .. math::

        P(r_{in}(x) \le \eta) \ge \sum_{i=1}^K
        \bigl[\Phi(a_{\ne i} + \omega^{-1}(\eta)) - \Phi(a_{\ne i})\bigr],
        \qquad a_{\ne i} = \Phi^{-1}(1 - p_i).

    The exact form, for any class proportions; the same as
    ``IsoperimetricBound(class_probs).through(omega).cdf(eta)``.  With
    ``omega=None`` it bounds the latent robustness :math:`r_Z`.  0 for
    ``eta < 0``.

    Examples
    --------
    >>> from isobound import Lipschitz
    >>> round(theorem1(0.5, [0.5, 0.3, 0.2], omega=Lipschitz(2.5)), 6)
    0.196056
    """
    return IsoperimetricBound(class_probs).through(omega).cdf(eta)


@_options_by_keyword("omega")
def theorem1_balanced(
    eta: ArrayLike, *, omega: Modulus | None = None, class_probs: ArrayLike | None = None
) -> Any:
    r"""Theorem 1, Eq. (3): :math:`P(r \le \eta) \ge 1 - \sqrt{\pi/2}\,e^{-\omega^{-1}(\eta)^2/2}`.

    **Condition: every class has probability at most 1/2** (exactly 1/2 is
    allowed).  It is false otherwise: for ``p = (0.9, 0.1)`` and a latent
    radius 3 the exact tail is 0.0429 while Eq. (3) would claim 0.0139.
    Pass ``class_probs`` to have the condition checked.  Looser than
    :func:`theorem1`; clipped at 0 (it is negative for latent radii below
    :math:`\sqrt{\log(\pi/2)} = 0.672`).

    Raises
    ------
    ValueError
        If ``class_probs`` is given and some class exceeds 1/2.

    Examples
    --------
    >>> round(theorem1_balanced(2.0), 6)
    0.830382
    >>> theorem1_balanced(0.1)
    0.0
    """
    if class_probs is not None:
        p = as_class_vector("class_probs", class_probs)
        if np.any(p > 0.5):
            raise ValueError(
                "Eq. (3) needs every class probability <= 1/2, got max "
                f"{float(p.max())!r} in class_probs={short_repr(class_probs)}; use theorem1"
            )
    eps, m = _latent_radius(eta, omega)
    lt, err = _eq3_tail(eps)
    v = _one_minus_tail(lt, err, m.failure_prob)
    return scalar_or_array(v, eta)


@_options_by_keyword("omega")
def theorem1_equiprobable(
    eta: ArrayLike, n_classes: int, *, omega: Modulus | None = None
) -> Any:
    r"""Theorem 1, Eq. (4): ``K >= 5`` equiprobable classes.

    .. math::

        P(r \le \eta) \ge 1 - \sqrt{\pi/2}\; e^{-\varepsilon^2/2}\;
        e^{-\varepsilon\sqrt{\log(K^2 / (4\pi\log K))}},
        \qquad \varepsilon = \omega^{-1}(\eta).

    The paper prints :math:`\eta` in the second exponent; with a modulus
    the latent radius :math:`\varepsilon` is what the derivation uses (the
    two agree for :math:`\omega` the identity).  ``K >= 5`` is where the
    square root is real.  Looser than the exact
    ``IsoperimetricBound.equiprobable(K).through(omega).cdf(eta)``.

    Examples
    --------
    >>> round(theorem1_equiprobable(1.0, 10), 6)
    0.750379
    """
    k = check_n_classes(n_classes, 5, context=" for this closed form")
    eps, m = _latent_radius(eta, omega)
    lk = math.log(k)
    # log(K^2 / (4 pi log K)) written so that K^2 cannot overflow for huge K
    rate = math.sqrt(2.0 * lk - math.log(4.0 * math.pi * lk))
    lt, err = _eq3_tail(eps)
    with np.errstate(invalid="ignore"):
        linear = eps * rate
        lt = lt - linear
        # rate carries a few roundings of its own (log, log, sqrt)
        err = err + 8.0 * _EPS * linear
    v = _one_minus_tail(lt, err, m.failure_prob)
    return scalar_or_array(v, eta)


def _check_disagreement(delta: Any) -> float:
    d = check_nonnegative("delta", delta)
    if d > 1:
        raise ValueError(f"delta must lie in [0, 1], got delta={delta!r}")
    return d


@_options_by_keyword("omega")
def theorem3(
    eta: ArrayLike,
    delta: float,
    *,
    omega: Modulus | None = None,
    class_probs: ArrayLike | None = None,
) -> Any:
    r"""Theorem 3, Eq. (6): transferable perturbations.

    If two classifiers f, h disagree on generated data with probability at
    most ``delta``, and every class satisfies :math:`P(C_i(f)) + \delta \le 1/2`,
    then one perturbation of norm at most :math:`\eta` fools both with
    probability at least

    .. math::  1 - \sqrt{\pi/2}\,e^{-\omega^{-1}(\eta)^2/2} - 2\delta,

    clipped at 0.  The premise needs ``delta <= 1/2`` whatever the classes,
    so a larger ``delta`` is rejected; pass ``class_probs`` (f's class
    proportions) to have the whole premise checked.  :func:`transfer_bound`
    needs no premise.

    Parameters
    ----------
    eta : array_like
        Perturbation norm(s).
    delta : float
        Disagreement probability, in [0, 1/2].
    omega : Modulus, optional, keyword-only
        The generator's modulus (identity: latent radii).
    class_probs : array_like, optional, keyword-only
        Class proportions of f, to check :math:`\max_i p_i + \delta \le 1/2`.

    Raises
    ------
    ValueError
        ``delta`` outside [0, 1/2], or ``class_probs`` given and the premise
        fails for some class.

    Examples
    --------
    >>> round(theorem3(3.0, 0.01), 6)
    0.966077
    """
    d = _check_disagreement(delta)
    if d > 0.5:
        raise ValueError(
            "Theorem 3 assumes P(C_i) + delta <= 1/2 for every class, which needs "
            f"delta <= 1/2, got delta={delta!r}; transfer_bound(eta, class_probs, delta) "
            "needs no premise"
        )
    if class_probs is not None:
        p = IsoperimetricBound(class_probs).class_probs
        top = float(np.max(p))
        if top + d > 0.5:
            raise ValueError(
                f"Theorem 3 assumes P(C_i) + delta <= 1/2 for every class, but the largest "
                f"class has {top!r} and delta={delta!r} (sum {top + d!r}): "
                "use transfer_bound(eta, class_probs, delta), which needs no premise"
            )
    eps, m = _latent_radius(eta, omega)
    lt, err = _eq3_tail(eps)
    v = _one_minus_tail(lt, err, 2.0 * d + m.failure_prob)
    return scalar_or_array(v, eta)


def _log_rest(logp: FloatArray, logc: FloatArray) -> FloatArray:
    r"""``log(1 - p_i)`` for each distinct class, from the mass of the others."""
    out = np.empty(logp.shape)
    p = np.exp(logp)
    small = p <= 0.5
    with np.errstate(divide="ignore"):
        out[small] = np.log1p(-p[small])
    for i in np.flatnonzero(~small):
        terms: list[float] = np.delete(logp + logc, i).tolist()
        extra = math.exp(float(logc[i])) - 1.0
        if extra > 0:
            terms.append(float(logp[i]) + math.log(extra))
        out[i] = float(sc.logsumexp(terms)) if terms else -math.inf
    return out


def _threshold_error(a: FloatArray, in_err: FloatArray) -> FloatArray:
    r"""Bound on :math:`|\tilde a - a|` for :math:`\tilde a = \Phi^{-1}(\tilde s)`
    computed by ``ndtri`` from an input within ``in_err`` of the exact :math:`s`.

    The input's error passes through :math:`da/ds = 1/\varphi(a)` (first
    order: ``in_err`` is a few ulps of :math:`s`), and ``ndtri`` adds a few
    ulps of its own.  The same holds for :math:`a = -\Phi^{-1}(w)`.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        slope = np.exp(0.5 * a * a + 0.5 * math.log(2.0 * math.pi))
        result: FloatArray = in_err * slope + 4.0 * _EPS * (1.0 + np.abs(a))
    return result


def _interval_mass_down(a: FloatArray, a_err: FloatArray, e: FloatArray) -> FloatArray:
    r"""Lower bound on the standard normal mass of :math:`[-a' - e, -a']` over
    every :math:`|a' - a| \le` ``a_err``; rows ``e``, columns ``a``.

    The relative sensitivity :math:`|dm/da| / m` of the mass to its position
    is at most :math:`\max|\varphi'| / \min\varphi` on the interval (short
    intervals) and at most :math:`(\varphi(a) + \varphi(a + e)) / m` (long
    ones); the smaller of the two, plus one for the second order, times
    ``a_err`` moves the mass down, with SAFETY and the logarithm's own
    rounding on top.  NaN where the mass is NaN.
    """
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_m = log_interval_mass(-a[None, :], e[:, None])
        aa, ee = a[None, :], e[:, None]
        reach = np.abs(aa) + ee
        near = reach * np.exp(np.minimum(ee * reach, 700.0))
        far = np.exp(log_phi(aa) - log_m) + np.exp(log_phi(aa + ee) - log_m)
        sens = 1.0 + np.minimum(near, far)
        rel = SAFETY + sens * a_err[None, :]
        m_down = np.exp(log_m - 4.0 * _EPS * (1.0 + np.abs(log_m))) * (1.0 - rel)
        result: FloatArray = np.where(np.isnan(log_m), np.nan, np.maximum(m_down, 0.0))
    return result


def transfer_bound(
    eta: ArrayLike, class_probs: ArrayLike, delta: float, *, omega: Modulus | None = None
) -> Any:
    r"""Lower bound on the probability that one perturbation fools two classifiers, no premise.

    Let f, h be classifiers with :math:`P(f \circ g \ne h \circ g) \le \delta`
    and class proportions :math:`p_i = P(f \circ g = i)`.  For any
    :math:`\eta`, with :math:`\varepsilon = \omega^{-1}(\eta)`,

    .. math::

        P\{\exists v,\ \|v\| \le \eta,\ f(g(z) + v) \ne f(g(z)),\
        h(g(z) + v) \ne h(g(z))\}
        \;\ge\; 1 - \delta - \delta_\omega
        - \sum_i \min\bigl(p_i,\ \bar\Phi(\Phi^{-1}(1 - p_i - \delta) + \varepsilon)\bigr),

    where a class with :math:`1 - p_i - \delta \le 0` contributes
    :math:`p_i` and :math:`\delta_\omega` is the modulus' failure
    probability.  The result is clipped at 0.

    **Proof.**  Let :math:`A_i = \{z : f(g(z)) = h(g(z)) = i\}`, let
    :math:`D` be the disagreement set, :math:`P(D) \le \delta`, and
    :math:`S_i = \bigcup_{j \ne i} A_j`.  The :math:`A_i` are disjoint,
    :math:`A_i \subseteq \{f \circ g = i\}`, so :math:`P(A_i) \le p_i` and
    :math:`P(S_i) = 1 - P(D) - P(A_i) \ge 1 - p_i - \delta`.  Let
    :math:`S_i^{\varepsilon} = \{z : d(z, S_i) < \varepsilon\}` (open).  If
    :math:`z \in A_i \cap S_i^{\varepsilon}`, there is :math:`z' \in S_i`
    with :math:`t = \|z' - z\| < \varepsilon`; since :math:`\varepsilon` is
    at most the generalised inverse and :math:`\omega` is non-decreasing,
    :math:`\omega(t) \le \eta`, so :math:`v = g(z') - g(z)` has
    :math:`\|v\| \le \eta` (outside the modulus' failure event) and moves
    both classifiers from i to the same :math:`j \ne i`.  So the event
    fails only on :math:`D`, on the modulus' failure event, or on
    :math:`A_i \setminus S_i^{\varepsilon}` for some i.  By Gaussian
    isoperimetry (which holds for the open neighbourhood too, the union of
    the closed ones of radii below :math:`\varepsilon`)
    :math:`P(S_i^{\varepsilon}) \ge \Phi(\Phi^{-1}(P(S_i)) + \varepsilon)`,
    hence :math:`P(A_i \setminus S_i^{\varepsilon}) \le
    \min(p_i, \bar\Phi(\Phi^{-1}(1 - p_i - \delta) + \varepsilon))`
    (the right side decreases in :math:`P(S_i)`), and a union bound gives
    the claim.  :math:`\square`

    With :math:`\delta = 0` it is Theorem 1's :math:`B(\varepsilon)`
    exactly.  Unlike Eq. (6) (:func:`theorem3`) it needs no premise on the
    class sizes, and the price of the disagreement is :math:`\delta` plus
    its effect on each threshold rather than a flat :math:`2\delta`.
    Computed as :math:`\sum_i \max(0, m_i - \delta) - \delta - \delta_\omega`
    with the interval masses :math:`m_i = \Phi(a_i + \varepsilon) - \Phi(a_i)`
    (equal to the above since :math:`\bar\Phi(a_i) = p_i + \delta` and
    :math:`\sum_i p_i = 1`) integrated in the log domain without cancellation,
    :math:`1 - p_i` taken from the mass of the other classes for a majority
    class, so small values keep their relative accuracy; rounded down.

    Parameters
    ----------
    eta : array_like
        Perturbation norm(s) in image space (latent radii when ``omega`` is
        the identity).
    class_probs : array_like
        Class proportions of f on generated data (validated as by
        :class:`IsoperimetricBound`).
    delta : float
        Upper bound on the disagreement probability, in [0, 1].
    omega : Modulus, optional, keyword-only
        The generator's modulus of continuity (identity by default).

    Returns
    -------
    float or ndarray
        A lower bound on the probability, 0 for ``eta < 0``, NaN for NaN.

    Examples
    --------
    >>> from isobound import Lipschitz
    >>> round(transfer_bound(1.0, [0.5, 0.3, 0.2], 0.0), 6) == round(theorem1(1.0, [0.5, 0.3, 0.2]), 6)
    True
    >>> round(transfer_bound(5.0, [1 / 3] * 3, 0.02, omega=Lipschitz(5.0)), 4)
    0.7269
    """
    d = _check_disagreement(delta)
    bound = IsoperimetricBound(class_probs)
    logp = np.asarray(bound.log_probs, dtype=np.float64)
    counts = np.asarray(bound.counts, dtype=np.float64)
    logc = np.log(counts)
    eps, m = _latent_radius(eta, omega)
    shape = eps.shape
    e = eps.reshape(-1)
    # Since sum_i p_i = 1, the bound is sum_i c_i max(0, p_i - Phibar(a_i + eps)) - delta
    # - delta_omega, and where 1 - p_i - delta > 0, Phibar(a_i) = p_i + delta, so
    # p_i - Phibar(a_i + eps) = m_i - delta with m_i = Phi(a_i + eps) - Phi(a_i), an
    # interval mass computed without cancellation (a class with 1 - p_i - delta <= 0
    # contributes 0).  So the result keeps its relative accuracy when it is small.
    p = np.exp(logp)
    with np.errstate(divide="ignore", invalid="ignore"):
        # s_i = 1 - p_i - delta from the mass of the other classes, and its error bound
        log_rest = _log_rest(logp, logc)
        rest = np.exp(log_rest)
        rest_err = 4.0 * _EPS * (1.0 + np.abs(log_rest)) * rest
        s = rest - d
        s_err = rest_err + 2.0 * _EPS * (np.abs(s) + d)
        w = p + d  # = 1 - s, the side with more digits when s > 1/2
        w_err = 4.0 * _EPS * (1.0 + np.abs(logp)) * p + 2.0 * _EPS * w
    live = s > s_err  # certainly 1 - p_i - delta > 0
    a = np.zeros(logp.shape)
    in_err = np.zeros(logp.shape)
    low = live & (s <= 0.5)
    a[low] = sc.ndtri(s[low])
    in_err[low] = s_err[low]
    high = live & ~low
    a[high] = -sc.ndtri(w[high])
    in_err[high] = w_err[high]
    a_err = _threshold_error(a, in_err)
    m_down = _interval_mass_down(a, a_err, e)
    # m_down is below m_i by at least SAFETY (64 ulps of m_i), which covers the
    # rounding of m_down - delta (half an ulp of a result below m_i)
    with np.errstate(invalid="ignore"):
        term = np.maximum(m_down - d, 0.0)
    term = np.where(live[None, :], term, 0.0)
    total = (term @ counts) * (1.0 - 2.0 * _EPS * logp.size)
    # each positive term is below its exact value by 63 ulps of m_i, so total is below
    # its exact value by 63 ulps of it; where the result is >= 0, total >= delta +
    # delta_omega, so that margin covers the two roundings below (each at most an ulp
    # of total); where the exact result is < 0, total < delta + delta_omega and the
    # rounded difference is <= 0 too
    v = total - (d + m.failure_prob)
    v = np.maximum(v, 0.0)
    v = np.where(np.isnan(e), np.nan, v)
    return scalar_or_array(v.reshape(shape), eta)


def _concave(omega: Modulus | None, name: str) -> Modulus:
    m = as_modulus(omega)
    if not m.is_concave:
        hint = ""
        if isinstance(m, Holder):
            hint = f" (Holder exponent={m.exponent!r} must lie in (0, 1])"
        elif isinstance(m, PiecewiseLinear) and not m.extrapolate:
            hint = (
                " (a PiecewiseLinear modulus is +inf beyond its last radius, so no concave "
                "function lies above it on [0, inf): build it with extrapolate=True, an "
                "assumption about larger radii, and pass its .concave_majorant())"
            )
        elif isinstance(m, PiecewiseLinear):
            hint = " (use omega.concave_majorant(), which is concave and lies above omega)"
        elif isinstance(m, Composition):
            hint = " (both parts of a composition must be concave)"
        raise ValueError(
            f"{name} needs a concave modulus, got omega={m!r}{hint}; "
            "IsoperimetricBound(...).through(omega).mean() holds for any monotone omega"
        )
    if m.failure_prob:
        raise ValueError(
            f"{name} needs a deterministic modulus, got failure_prob={m.failure_prob!r}; "
            "use IsoperimetricBound(...).through(omega).mean(diameter=...)"
        )
    return m


def _wasserstein(delta: Any) -> float:
    return check_nonnegative("delta", delta)


@_options_by_keyword("omega", "delta")
def theorem4(
    class_probs: ArrayLike, *, omega: Modulus | None = None, delta: float = 0.0
) -> float:
    r"""Theorem 4: upper bound on the mean unconstrained robustness.

    .. math::

        E_{x\sim\mu}\, r_{unc}(x) \le
        \omega\Bigl(\sum_i \varphi(a_{\ne i}) - a_{\ne i}\,\Phi(-a_{\ne i})\Bigr) + \delta

    for a modulus concave on all of :math:`[0, \infty)`, when the generated
    distribution is within 1-Wasserstein distance ``delta`` of the data.
    The sum is computed exactly (``IsoperimetricBound(class_probs).mean()``).
    For a non-concave modulus use
    ``IsoperimetricBound(p).through(omega).mean()``, which is valid for any
    monotone modulus and never looser.  For measured values use
    ``PiecewiseLinear(radii, values, extrapolate=True).concave_majorant()``.

    Raises
    ------
    ValueError
        If ``omega`` is not concave (a Holder exponent above 1, a piecewise
        modulus without ``extrapolate=True`` or not concave) or is
        probabilistic, or ``delta < 0``.

    Examples
    --------
    >>> round(theorem4([0.1] * 10), 3)
    0.473
    """
    m = _concave(omega, "theorem4")
    d = _wasserstein(delta)
    inner = IsoperimetricBound(class_probs).mean()  # rounded up; omega rounds up too
    return (float(m(inner)) + d) * (1.0 + 2.0 * _EPS)


@_options_by_keyword("omega", "delta")
def theorem4_equiprobable(
    n_classes: int, *, omega: Modulus | None = None, delta: float = 0.0
) -> float:
    r"""Theorem 4's closed form for ``K >= 5`` equiprobable classes.

    .. math::

        E\, r_{unc} \le \omega\Bigl(\frac{\log(4\pi\log K)}{\sqrt{2\log K}}\Bigr) + \delta .

    This is 3-5 times looser than the exact sum: for K = 10 it gives 1.568
    where :func:`theorem4` gives 0.473.

    Examples
    --------
    >>> round(theorem4_equiprobable(10), 3)
    1.568
    """
    k = check_n_classes(n_classes, 5, context=" for this closed form")
    m = _concave(omega, "theorem4_equiprobable")
    d = _wasserstein(delta)
    lk = math.log(k)
    inner = math.log(4.0 * math.pi * lk) / math.sqrt(2.0 * lk)
    return (float(m(inner * (1.0 + SAFETY))) + d) * (1.0 + 2.0 * _EPS)
