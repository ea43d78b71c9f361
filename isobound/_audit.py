"""Audit measured robustness against a bound.

A bound ``B`` (an :class:`~isobound.IsoperimetricBound` or its image-space
push-forward) claims that for every radius ``t``

.. math::

    P(r \\le t) \\ge B(t),

i.e. the true robustness ``r`` is stochastically smaller than the
worst-case robustness ``R*``.  Distances returned by an attack are upper
estimates of ``r`` (an attack finds *a* perturbation, not necessarily the
smallest one), so their empirical cdf ``F_n`` should sit above ``B`` up to
sampling noise.  Where ``F_n`` sits *significantly below* ``B``, the
measurements claim more robustness than the theory allows: the attack is
weak, or the modulus of continuity (or the class proportions) fed to the
bound is wrong.  :func:`audit_robustness` says where.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special as sc

from ._validation import ArgumentTypeError

__all__ = ["RobustnessAudit", "audit_robustness", "one_sided_band"]


# Above this sample size scipy's exact one-sided KS inverse becomes slow
# (about 0.04 s at n = 1e4, 5 s at 1e5, a minute at 1e6); DKW-Massart is
# then within 0.2% of it.
_EXACT_BAND_MAX_N = 10_000


class _HasCdf(Protocol):
    def cdf(self, eta: Any, /) -> Any: ...  # pragma: no cover - protocol


def one_sided_band(n: int, confidence: float) -> float:
    r"""Half-width of a simultaneous one-sided confidence band for a cdf.

    Returns the smallest ``e`` (rounded up) such that, for ``n`` independent
    draws from any distribution with cdf ``F``,

    .. math::

        P\Big(\sup_t \big(F(t) - F_n(t)\big) \ge e\Big) \le 1 - \text{confidence}.

    For ``n <= 10000`` this is the exact one-sided Kolmogorov--Smirnov
    quantile (``scipy.special.smirnovi``), computed for a continuous ``F``;
    for an ``F`` with atoms the same ``e`` is conservative.  For larger
    ``n`` (where the exact inverse costs seconds to minutes) it is the
    Dvoretzky--Kiefer--Wolfowitz--Massart value
    :math:`\sqrt{\log(1/\alpha) / (2n)}`, :math:`\alpha = 1 -`
    confidence, valid for :math:`\alpha \le 1/2` and within 0.2% of the
    exact value there (the two-sided :math:`\sqrt{\log(2/\alpha)/(2n)}`,
    valid for every :math:`\alpha`, is used when :math:`\alpha > 1/2`).
    Either way the band is never narrower than the exact one.

    Parameters
    ----------
    n : int
        Number of samples, ``n >= 1``.
    confidence : float
        Simultaneous coverage probability, in ``(0, 1)``.

    Returns
    -------
    float
        The band half-width ``e``: with probability at least
        ``confidence``, :math:`F(t) < F_n(t) + e` for all ``t`` at once.

    Raises
    ------
    ValueError
        If ``n < 1`` or ``confidence`` is not in ``(0, 1)``.
    TypeError
        If ``n`` is not an integer or ``confidence`` not a number.

    Examples
    --------
    >>> e = one_sided_band(1000, 0.99)
    >>> round(e, 4)
    0.0479
    >>> import math
    >>> e <= math.sqrt(math.log(1 / 0.01) / (2 * 1000))  # DKW is looser
    True
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise ArgumentTypeError(f"n must be a positive integer, got n={n!r}")
    if n < 1:
        raise ValueError(f"n must be a positive integer, got n={n!r}")
    conf = _check_confidence(confidence)
    alpha = 1.0 - conf
    if alpha > 0.5:
        dkw = math.sqrt(math.log(2.0 / alpha) / (2.0 * n))  # two-sided, always valid
    else:
        dkw = math.sqrt(math.log(1.0 / alpha) / (2.0 * n))  # one-sided (Massart)
    if n > _EXACT_BAND_MAX_N:
        return dkw
    exact = float(sc.smirnovi(int(n), alpha))
    if not math.isfinite(exact):  # pragma: no cover - smirnovi is total on this domain
        return dkw
    # smirnovi inverts to ~1e-15 relative: step up so that rounding cannot
    # make the band narrower than the exact quantile (false alarms stay
    # below 1 - confidence).
    e = min(exact * (1.0 + 1e-9), dkw)
    return e


def _check_confidence(confidence: Any) -> float:
    if isinstance(confidence, (bool, np.bool_)) or not isinstance(
        confidence, (int, float, np.integer, np.floating)
    ):
        raise ArgumentTypeError(
            f"confidence must be a number in (0, 1), got confidence={confidence!r}"
        )
    conf = float(confidence)
    if not (0.0 < conf < 1.0):
        raise ValueError(f"confidence must be in (0, 1), got confidence={confidence!r}")
    return conf


def _json_float(x: float) -> float | None:
    """A float that strict JSON can carry: non-finite values become ``None``."""
    return float(x) if math.isfinite(x) else None


@dataclass(frozen=True)
class RobustnessAudit:
    """Verdict of :func:`audit_robustness`.

    Attributes
    ----------
    ok : bool
        ``True`` when the measured distances are consistent with the bound
        at the requested confidence (no significant violation).
    n : int
        Number of measured distances (failed attacks included).
    n_unresolved : int
        How many of them were ``inf`` (attack failures: not measured),
        counted as larger than every radius.
    confidence : float
        Simultaneous confidence of the band.
    band : float
        Half-width ``e`` of the one-sided band: the audit compares the
        bound ``B(t)`` with ``min(F_n(t) + e, 1)``.
    worst_gap : float
        :math:`\\sup_t [B(t) - F_n(t) - e]`.  Positive means a violation: by
        that much, the bound's guaranteed fraction of points with
        robustness ``<= t`` exceeds even the upper confidence band of the
        measured fraction.  Negative values are the margin.
    worst_radius : float
        The radius at which ``worst_gap`` is reached (approached from the
        left: the empirical cdf jumps there).  ``inf`` when it is reached
        beyond every finite measurement.
    violations : tuple of float
        The measured radii (left-limit points, in increasing order) at
        which the gap is positive; empty when ``ok``.
    message : str
        A plain-language verdict.
    """

    ok: bool
    n: int
    n_unresolved: int
    confidence: float
    band: float
    worst_gap: float
    worst_radius: float
    violations: tuple[float, ...] = field(default=())
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly dictionary with stable keys.

        Non-finite floats (an infinite ``worst_radius``) become ``None`` so
        that the result is valid strict JSON.

        Examples
        --------
        >>> import json
        >>> audit = RobustnessAudit(ok=True, n=3, n_unresolved=0, confidence=0.99,
        ...                         band=0.5, worst_gap=-0.2, worst_radius=1.0,
        ...                         message="fine")
        >>> json.dumps(audit.as_dict(), sort_keys=True)[:40]
        '{"band": 0.5, "confidence": 0.99, "messa'
        """
        return {
            "ok": bool(self.ok),
            "n": int(self.n),
            "n_unresolved": int(self.n_unresolved),
            "confidence": float(self.confidence),
            "band": float(self.band),
            "worst_gap": _json_float(self.worst_gap),
            "worst_radius": _json_float(self.worst_radius),
            "violations": [_json_float(v) for v in self.violations],
            "message": self.message,
        }


def _validated_distances(distances: ArrayLike) -> tuple[NDArray[np.float64], int]:
    """Sorted distances (``inf`` last) and the number of ``inf`` entries."""
    if distances is None or isinstance(distances, (str, bytes)):
        raise ArgumentTypeError(
            f"distances must be an array of non-negative numbers, got distances={distances!r}"
        )
    try:
        x = np.asarray(distances, dtype=np.float64)
    except (TypeError, ValueError):
        raise ArgumentTypeError(
            f"distances must be an array of non-negative numbers, got distances={distances!r}"
        ) from None
    x = x.reshape(-1)
    if x.size == 0:
        raise ValueError("distances must contain at least one value, got an empty array")
    nan = np.isnan(x)
    if np.any(nan):
        idx = np.flatnonzero(nan)
        raise ValueError(
            f"distances must not contain NaN, got {idx.size} NaN value(s), first at flat "
            f"index {int(idx[0])}; report a failed attack as inf (robustness not measured)"
        )
    negative = x < 0
    if np.any(negative):
        bad = x[negative][:5]
        raise ValueError(
            "distances must be non-negative (a robustness is a norm), got "
            f"{int(negative.sum())} negative value(s), e.g. distances[...]={bad.tolist()}"
        )
    return np.sort(x), int(np.isinf(x).sum())


def audit_robustness(
    distances: ArrayLike, bound: _HasCdf, *, confidence: float = 0.99
) -> RobustnessAudit:
    r"""Check measured per-sample robustness against a robustness bound.

    The bound claims :math:`P(r \le t) \ge B(t)` for all ``t`` (Theorem 1,
    Eq. (2): ``B = bound.cdf`` is a *lower* bound on the cdf of the
    robustness, equivalently an upper bound on robustness).  With the
    empirical cdf :math:`F_n` of the ``n`` measured distances and the
    one-sided Kolmogorov--Smirnov half-width ``e`` (:func:`one_sided_band`),
    the audit reports

    .. math::

        \text{gap} = \sup_t \big[B(t) - F_n(t) - e\big]
                   = \max_k \big[B(x_{(k)}^-) - (k - 1)/n\big] - e,

    where :math:`x_{(1)} \le \dots \le x_{(n)}` are the sorted distances
    (:math:`B` is non-decreasing and :math:`F_n` is constant between order
    statistics, so the supremum is approached just left of a jump).  A
    positive gap is a violation.  If the distances are independent draws of
    a variable whose cdf ``F`` satisfies ``F >= B`` (the bound holds for
    what was measured), then ``gap > 0`` requires
    :math:`\sup_t (F - F_n) > e`, which has probability at most
    ``1 - confidence``: false alarms are controlled, simultaneously over
    all radii.

    **Failed attacks.** An ``inf`` distance (what a DeepFool run returns
    when it did not flip the label within its iteration budget) means the
    robustness of that point was not measured; it counts as larger than
    every radius, and the gap beyond the last finite distance is taken at
    ``bound.cdf(inf)``.  The true distance of such a point is unknown but finite, so
    this makes :math:`F_n` *smaller* than with any finite guess: failures
    can only add violations, never hide one.  That is the conservative
    direction for an audit whose job is to catch overstated robustness: a
    violation caused by failures is reported as what it is, an attack too
    weak to support the measured robustness, and the count is in
    ``n_unresolved``.  (The same reasoning holds for every attack: its
    distances are upper estimates of the minimal ones.)  ``NaN`` is not a
    distance and is rejected: report a failure as ``inf``.  An atom at 0
    (points on the decision boundary) never violates, since ``B(0-) = 0``.

    Parameters
    ----------
    distances : array_like
        Measured per-sample robustness values (any shape; flattened), each
        ``>= 0`` or ``inf`` (not measured).
    bound : object with a vectorized ``cdf``
        An :class:`~isobound.IsoperimetricBound`, an
        :class:`~isobound.ImageSpaceBound`, or anything whose ``cdf(t)``
        is a non-decreasing lower bound on ``P(r <= t)``.  Latent distances
        go with the latent bound, image-space distances with
        ``bound.through(omega)``.
    confidence : float, optional
        Simultaneous confidence of the band, in ``(0, 1)`` (default 0.99):
        when the bound holds, ``ok`` is ``False`` with probability at most
        ``1 - confidence``.

    Returns
    -------
    RobustnessAudit
        ``ok``, ``worst_gap``, ``worst_radius``, ``violations`` and a
        plain-language ``message``; ``as_dict()`` for JSON.

    Raises
    ------
    ValueError
        If ``distances`` is empty or contains a negative value or NaN, if
        ``confidence`` is not in ``(0, 1)``, or if ``bound.cdf`` is not
        vectorized or returns NaN.
    TypeError
        If ``distances`` is not numeric, ``confidence`` is not a number or
        ``bound`` has no ``cdf`` method.

    Notes
    -----
    The test only looks for measured distances that are too *large*.
    Distances far *smaller* than the bound are expected (the bound is the
    best any classifier could do) and are not flagged.

    Examples
    --------
    A toy bound that claims ``P(r <= t) >= min(t, 1)``, checked against
    distances drawn from exactly that law, then against distances that are
    30% too large (as a weak attack would return):

    >>> import numpy as np
    >>> class Uniform01:
    ...     def cdf(self, t):
    ...         return np.clip(t, 0.0, 1.0)
    >>> rng = np.random.default_rng(0)
    >>> fine = audit_robustness(rng.uniform(size=500), Uniform01())
    >>> fine.ok
    True
    >>> weak = audit_robustness(1.3 * rng.uniform(size=500), Uniform01())
    >>> weak.ok, round(weak.worst_gap, 2)
    (False, 0.16)
    """
    cdf = getattr(bound, "cdf", None)
    if not callable(cdf):
        raise ArgumentTypeError(
            "bound must have a vectorized cdf method (an IsoperimetricBound, an "
            f"ImageSpaceBound, ...), got bound={bound!r}"
        )
    conf = _check_confidence(confidence)
    x, n_unresolved = _validated_distances(distances)
    n = x.size
    e = one_sided_band(n, conf)
    # B just left of each finite order statistic (nextafter towards -inf is
    # the largest float below x; the cdf of a modulus-driven bound may jump
    # at x).  No mass below 0: B(0-) = 0, so an atom at 0 never violates.
    # An unmeasured distance (inf) lies beyond every radius: the gap there
    # is taken at B(inf), the bound's whole guaranteed mass.
    finite = np.isfinite(x)
    positive = finite & (x > 0)
    radii = np.concatenate([np.nextafter(x[positive], -np.inf), [np.inf]])
    values = np.asarray(cdf(radii), dtype=np.float64).reshape(-1)
    if values.shape != radii.shape:
        raise ValueError(
            f"bound.cdf must be vectorized (return one value per radius), got shape "
            f"{values.shape} for {radii.size} radii from bound={bound!r}"
        )
    if np.any(np.isnan(values)):
        bad_r = float(radii[np.flatnonzero(np.isnan(values))[0]])
        raise ValueError(f"bound.cdf returned NaN at radius {bad_r!r}: bound={bound!r}")
    b_left = np.zeros(n)
    b_left[positive] = values[:-1]
    b_left[~finite] = values[-1]
    below = np.arange(n, dtype=np.float64) / n  # F_n just left of x_(k) (ties: first)
    gaps = b_left - below - e
    k = int(np.argmax(gaps))
    worst_gap = float(gaps[k])
    worst_radius = float(x[k])
    bad = gaps > 0
    violations = tuple(float(v) for v in np.unique(x[bad]))
    ok = not violations
    pct = f"{100 * conf:g}%"
    if ok:
        message = (
            f"consistent: no radius where the measured distances claim significantly "
            f"more robustness than the bound allows (n = {n}, {pct} simultaneous band "
            f"+-{e:.3g}; smallest margin {-worst_gap:.3g} at radius {worst_radius:.4g})."
        )
    else:
        frac = float(below[k])
        message = (
            f"VIOLATION: just below radius {worst_radius:.4g} the bound guarantees that a "
            f"fraction >= {float(b_left[k]):.4g} of the points have robustness <= that "
            f"radius, but only {frac:.4g} of the {n} measured distances are (upper {pct} "
            f"band {min(frac + e, 1.0):.4g}); {len(violations)} radii are in violation. "
            "The measurements claim more robustness than the theory allows: most likely "
            "the attack is weak (its distances overestimate the minimal ones"
            + (f"; {n_unresolved} attacks failed and count as +inf" if n_unresolved else "")
            + "), or the modulus of continuity omega (or the class proportions) given to "
            "the bound is wrong, typically an under-estimated omega."
        )
    return RobustnessAudit(
        ok=ok,
        n=n,
        n_unresolved=n_unresolved,
        confidence=conf,
        band=e,
        worst_gap=worst_gap,
        worst_radius=worst_radius,
        violations=violations,
        message=message,
    )
