r"""The paper's closed forms, named after it.

Each function returns what the paper states, clipped at 0 where the
formula goes negative (a negative lower bound on a probability says
nothing).  The exact, tighter quantities are methods of
:class:`isobound.IsoperimetricBound`; these closed forms are there to
reproduce and check the paper, and each docstring says how it relates to
the exact bound.  Lower bounds on probabilities are rounded down, upper
bounds on robustness up.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ._bound import SAFETY, IsoperimetricBound
from ._gaussian import scalar_or_array
from ._moduli import Identity, Modulus, as_modulus
from ._validation import as_class_vector, check_n_classes, check_nonnegative, short_repr

__all__ = [
    "theorem1",
    "theorem1_balanced",
    "theorem1_equiprobable",
    "theorem3",
    "theorem4",
    "theorem4_equiprobable",
]

_LOG_SQRT_PI_2 = 0.5 * math.log(math.pi / 2.0)


def _latent_radius(eta: ArrayLike, omega: Modulus | None) -> tuple[np.ndarray, Modulus]:
    m = as_modulus(omega)
    eps = np.asarray(m.inverse(eta), dtype=np.float64)
    if not isinstance(m, Identity):
        eps = eps * (1.0 - SAFETY)
    return eps, m


def _one_minus_gaussian_tail(log_tail: np.ndarray, subtract: float = 0.0) -> np.ndarray:
    """``max(1 - exp(log_tail) - subtract, 0)`` rounded down.

    ``subtract`` collects the probabilities the bound gives up: the failure
    probability of an estimated modulus and Theorem 3's ``2 delta``.
    """
    with np.errstate(over="ignore"):
        v = -np.expm1(np.minimum(log_tail, 0.0))
    v = v * (1.0 - SAFETY) - SAFETY * 1e-300
    if subtract:
        v = v - subtract - 4e-16 * np.abs(v)
    result: np.ndarray = np.maximum(v, 0.0)
    return result


def theorem1(eta: ArrayLike, class_probs: ArrayLike, omega: Modulus | None = None) -> Any:
    r"""Theorem 1, Eq. (2): lower bound on :math:`P(r_{in} \le \eta)`.

    .. math::

        P(r_{in}(x) \le \eta) \ge \sum_{i=1}^K
        \bigl[\Phi(a_{\ne i} + \omega^{-1}(\eta)) - \Phi(a_{\ne i})\bigr],
        \qquad a_{\ne i} = \Phi^{-1}(1 - p_i).

    The exact form, for any class proportions; the same as
    ``IsoperimetricBound(class_probs).through(omega).cdf(eta)``.  With
    ``omega=None`` it bounds the latent robustness :math:`r_Z`.

    Examples
    --------
    >>> from isobound import Lipschitz
    >>> round(theorem1(0.5, [0.5, 0.3, 0.2], Lipschitz(2.5)), 6)
    0.196056
    """
    return IsoperimetricBound(class_probs).through(omega).cdf(eta)


def theorem1_balanced(
    eta: ArrayLike, omega: Modulus | None = None, *, class_probs: ArrayLike | None = None
) -> Any:
    r"""Theorem 1, Eq. (3): :math:`P(r \le \eta) \ge 1 - \sqrt{\pi/2}\,e^{-\omega^{-1}(\eta)^2/2}`.

    **Condition: every class has probability at most 1/2.**  It is false
    otherwise: for ``p = (0.9, 0.1)`` and a latent radius 3 the exact tail
    is 0.0429 while Eq. (3) would claim 0.0139.  Pass ``class_probs`` to
    have the condition checked.  Looser than :func:`theorem1`; clipped at 0
    (it is negative for small radii).

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
    v = _one_minus_gaussian_tail(_LOG_SQRT_PI_2 - 0.5 * eps * eps, m.failure_prob)
    v = np.where(np.isnan(eps), np.nan, v)
    return scalar_or_array(v, eta)


def theorem1_equiprobable(eta: ArrayLike, n_classes: int, omega: Modulus | None = None) -> Any:
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
    v = _one_minus_gaussian_tail(_LOG_SQRT_PI_2 - 0.5 * eps * eps - eps * rate, m.failure_prob)
    v = np.where(np.isnan(eps), np.nan, v)
    return scalar_or_array(v, eta)


def theorem3(eta: ArrayLike, delta: float, omega: Modulus | None = None) -> Any:
    r"""Theorem 3, Eq. (6): transferable perturbations.

    If two classifiers f, h disagree on generated data with probability at
    most ``delta``, and every class satisfies :math:`P(C_i(f)) + \delta \le 1/2`,
    then one perturbation of norm at most :math:`\eta` fools both with
    probability at least

    .. math::  1 - \sqrt{\pi/2}\,e^{-\omega^{-1}(\eta)^2/2} - 2\delta,

    clipped at 0.

    Parameters
    ----------
    eta : array_like
        Perturbation norm(s).
    delta : float
        Disagreement probability, in [0, 1].

    Examples
    --------
    >>> round(theorem3(3.0, 0.01), 6)
    0.966077
    """
    d = check_nonnegative("delta", delta)
    if d > 1:
        raise ValueError(f"delta must lie in [0, 1], got delta={delta!r}")
    eps, m = _latent_radius(eta, omega)
    v = _one_minus_gaussian_tail(_LOG_SQRT_PI_2 - 0.5 * eps * eps, 2.0 * d + m.failure_prob)
    v = np.where(np.isnan(eps), np.nan, v)
    return scalar_or_array(v, eta)


def _concave(omega: Modulus | None, name: str) -> Modulus:
    m = as_modulus(omega)
    if not m.is_concave:
        hint = ""
        if hasattr(m, "exponent"):
            hint = f" (Holder exponent={m.exponent!r} must lie in (0, 1])"
        elif hasattr(m, "concave_majorant"):
            hint = " (use omega.concave_majorant())"
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


def theorem4(class_probs: ArrayLike, omega: Modulus | None = None, delta: float = 0.0) -> float:
    r"""Theorem 4: upper bound on the mean unconstrained robustness.

    .. math::

        E_{x\sim\mu}\, r_{unc}(x) \le
        \omega\Bigl(\sum_i \varphi(a_{\ne i}) - a_{\ne i}\,\Phi(-a_{\ne i})\Bigr) + \delta

    for a concave modulus, when the generated distribution is within
    1-Wasserstein distance ``delta`` of the data.  The sum is computed
    exactly (``IsoperimetricBound(class_probs).mean()``).  For a
    non-concave modulus use ``IsoperimetricBound(p).through(omega).mean()``,
    which is valid for any monotone modulus and never looser.

    Raises
    ------
    ValueError
        If ``omega`` is not concave (e.g. a Holder exponent above 1) or is
        probabilistic, or ``delta < 0``.

    Examples
    --------
    >>> round(theorem4([0.1] * 10), 3)
    0.473
    """
    m = _concave(omega, "theorem4")
    d = _wasserstein(delta)
    inner = IsoperimetricBound(class_probs).mean()
    return float(m(inner)) * (1.0 + SAFETY) + d


def theorem4_equiprobable(
    n_classes: int, omega: Modulus | None = None, delta: float = 0.0
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
    return float(m(inner * (1.0 + SAFETY))) * (1.0 + SAFETY) + d
