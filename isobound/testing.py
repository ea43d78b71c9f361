r"""Aids for property-based tests of code that uses isobound.

Two kinds of tools live here.

**Hypothesis strategies** (:func:`class_probabilities`,
:func:`log_probabilities`, :func:`moduli`, :func:`radii`) generate valid
inputs of the bounds, including the awkward ones (a majority class, classes
below ``1e-300``, radii spanning many magnitudes, moduli with a jump at 0).
``hypothesis`` is only a test dependency: it is imported when a strategy is
first built, never by ``import isobound``.

**Tightness oracles** (Remark 4 of the paper).  For a
classifier that is *linear in the latent space* the latent robustness of
every point is known in closed form, so the theory can be checked by Monte
Carlo without any attack:

* :class:`LinearLatentClassifier` (two half-spaces ``w.z >= c`` and
  ``w.z < c``): the isoperimetric bound is **an equality**,
  :math:`P(r_Z \le \varepsilon) = B(\varepsilon)` for every
  :math:`\varepsilon`.
* :class:`SlabLatentClassifier` (``K`` classes cut by parallel hyperplanes):
  the exact cdf of :math:`r_Z` is known too, but for ``K >= 3`` the bound is
  **strictly** below it at every :math:`\varepsilon > 0` (a middle slab is
  not a half-space, and half-spaces are the only equality cases of the
  Gaussian isoperimetric inequality).  It is a validity oracle, not a
  tightness one.

Examples
--------
>>> import numpy as np
>>> clf = LinearLatentClassifier([3.0, 4.0], 1.0)  # ||w|| = 5, offset 0.2
>>> z = np.random.default_rng(0).standard_normal((100_000, 2))
>>> r = clf.distance(z)
>>> eps = 0.3
>>> round(float(np.mean(r <= eps)), 2), round(clf.bound().cdf(eps), 2)
(0.23, 0.23)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special as sc

import isobound

if TYPE_CHECKING:  # pragma: no cover
    from hypothesis.strategies import SearchStrategy

__all__ = [
    "MODULUS_KINDS",
    "LinearLatentClassifier",
    "SlabLatentClassifier",
    "class_probabilities",
    "log_probabilities",
    "moduli",
    "radii",
]

FloatArray = NDArray[np.float64]

#: The kinds of moduli :func:`moduli` can draw.
MODULUS_KINDS = ("lipschitz", "affine", "holder", "piecewise", "uniform_prior", "composition")


def _strategies() -> Any:
    try:
        from hypothesis import strategies as st
    except ImportError as exc:  # pragma: no cover - hypothesis is installed in tests
        raise ImportError(
            "the isobound.testing strategies need hypothesis: pip install 'isobound[test]'"
        ) from exc
    return st


def _check_class_range(min_classes: Any, max_classes: Any) -> tuple[int, int]:
    for name, value in (("min_classes", min_classes), ("max_classes", max_classes)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 2:
            raise ValueError(f"{name} must be an integer >= 2, got {name}={value!r}")
    if max_classes < min_classes:
        raise ValueError(
            f"max_classes must be >= min_classes, got max_classes={max_classes!r} "
            f"< min_classes={min_classes!r}"
        )
    return int(min_classes), int(max_classes)


# ---------------------------------------------------------------------------
# class proportions
# ---------------------------------------------------------------------------


def _cap_majority(p: FloatArray) -> FloatArray:
    """Mix ``p`` with the uniform vector just enough that ``max(p) <= 1/2``."""
    k = p.size
    top = float(p.max())
    if top <= 0.5:
        return p
    lam = (0.5 - 1.0 / k) / (top - 1.0 / k)  # in [0, 1); 0 when k == 2
    out = lam * p + (1.0 - lam) / k
    out = out / math.fsum(out.tolist())
    # the largest entry is 1/2 up to rounding: pin it (the sum moves by an ulp)
    result: FloatArray = np.minimum(out, 0.5)
    return result


def class_probabilities(
    min_classes: int = 2,
    max_classes: int = 12,
    *,
    min_prob: float = 1e-12,
    allow_majority: bool = True,
) -> SearchStrategy[FloatArray]:
    r"""Hypothesis strategy for class-proportion vectors :math:`p`.

    Each draw is a float64 array of ``K`` entries, ``min_classes <= K <=
    max_classes``, summing to 1 (to rounding), every entry at least about
    ``min_prob``.  Weights are drawn log-uniformly over as many decades as
    ``min_prob`` allows, so draws range from equiprobable (what hypothesis
    shrinks to) to one dominant class with a tail of tiny ones.

    Parameters
    ----------
    min_classes, max_classes : int
        Range of ``K``, both ``>= 2``.
    min_prob : float, optional
        Smallest class probability, in ``(0, 1/max_classes)``.
    allow_majority : bool, optional
        If ``False``, every :math:`p_i \le 1/2` (the condition of the paper's
        Eq. (3) and Theorem 3); draws with a majority class are mixed with
        the uniform vector just enough to meet it.

    Returns
    -------
    hypothesis.strategies.SearchStrategy of ndarray

    Raises
    ------
    ValueError
        For class counts below 2 or inverted, or ``min_prob`` outside
        ``(0, 1/max_classes)``.

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> @settings(max_examples=25, database=None)
    ... @given(class_probabilities(max_classes=5, allow_majority=False))
    ... def check(p):
    ...     assert abs(p.sum() - 1) < 1e-12 and p.max() <= 0.5
    >>> check()
    """
    lo_k, hi_k = _check_class_range(min_classes, max_classes)
    mp = float(min_prob)
    if not (0.0 < mp < 1.0 / hi_k):
        raise ValueError(
            f"min_prob must be in (0, 1/max_classes) = (0, {1.0 / hi_k:.6g}), "
            f"got min_prob={min_prob!r}"
        )
    st = _strategies()
    decades = min(-math.log10(mp), 300.0)

    def build(exponents: list[float]) -> FloatArray:
        w = np.power(10.0, -np.asarray(exponents))
        k = w.size
        p = mp + (1.0 - k * mp) * (w / math.fsum(w.tolist()))
        p = p / math.fsum(p.tolist())
        if not allow_majority:
            p = _cap_majority(p)
        result: FloatArray = p
        return result

    exponent = st.floats(min_value=0.0, max_value=decades, allow_nan=False)
    return cast(
        "SearchStrategy[FloatArray]",
        st.integers(lo_k, hi_k).flatmap(
            lambda k: st.lists(exponent, min_size=k, max_size=k).map(build)
        ),
    )


def log_probabilities(
    min_classes: int = 2,
    max_classes: int = 12,
    *,
    min_log_prob: float = -1e4,
    allow_majority: bool = True,
) -> SearchStrategy[FloatArray]:
    r"""Hypothesis strategy for log class proportions :math:`\log p_i`.

    Each draw is a float64 array of ``K`` logs with
    ``logsumexp(log_p) == 0`` (to rounding) and entries down to about
    ``min_log_prob``, far below the float range of ``p`` itself: feed it to
    :meth:`isobound.IsoperimetricBound.from_log_probs`.

    Parameters
    ----------
    min_classes, max_classes : int
        Range of ``K``, both ``>= 2``.
    min_log_prob : float, optional
        Lower end of the log weights (``< 0``, finite).  Entries can fall
        below it by up to ``log(K)`` after normalization.
    allow_majority : bool, optional
        If ``False``, every :math:`p_i \le 1/2`.

    Returns
    -------
    hypothesis.strategies.SearchStrategy of ndarray

    Raises
    ------
    ValueError
        For class counts below 2 or inverted, or a ``min_log_prob`` that is
        not a finite negative number.

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> from scipy.special import logsumexp
    >>> @settings(max_examples=25, database=None)
    ... @given(log_probabilities(max_classes=4))
    ... def check(lp):
    ...     assert abs(logsumexp(lp)) < 1e-12 and lp.max() <= 0
    >>> check()
    """
    lo_k, hi_k = _check_class_range(min_classes, max_classes)
    mlp = float(min_log_prob)
    if not (math.isfinite(mlp) and mlp < 0):
        raise ValueError(
            f"min_log_prob must be a finite negative number, got min_log_prob={min_log_prob!r}"
        )
    st = _strategies()

    def build(logw: list[float]) -> FloatArray:
        lw = np.asarray(logw, dtype=np.float64)
        lp = lw - float(sc.logsumexp(lw))
        k = lp.size
        top = float(lp.max())
        if not allow_majority and top > -math.log(2.0):
            pmax = math.exp(top)
            lam = (0.5 - 1.0 / k) / (pmax - 1.0 / k)
            floor = math.log((1.0 - lam) / k)
            if lam > 0:
                lp = np.logaddexp(math.log(lam) + lp, floor)
            else:
                lp = np.full(k, floor)
            lp = lp - float(sc.logsumexp(lp))
            # the top entry is log(1/2) up to rounding: pin it
            lp = np.minimum(lp, -math.log(2.0))
        return np.minimum(lp, 0.0)

    logw = st.floats(min_value=mlp, max_value=0.0, allow_nan=False)
    return cast(
        "SearchStrategy[FloatArray]",
        st.integers(lo_k, hi_k).flatmap(
            lambda k: st.lists(logw, min_size=k, max_size=k).map(build)
        ),
    )


# ---------------------------------------------------------------------------
# moduli and radii
# ---------------------------------------------------------------------------


def moduli(
    *,
    kinds: Sequence[str] = MODULUS_KINDS,
    max_failure_prob: float = 0.0,
    concave: bool = False,
) -> SearchStrategy[isobound.Modulus]:
    r"""Hypothesis strategy for moduli of continuity :math:`\omega`.

    Draws :class:`~isobound.Lipschitz` (constant in ``[1e-3, 1e3]``),
    :class:`~isobound.Affine` (slope in ``[1e-3, 1e3]``, intercept
    :math:`\omega(0)` in ``[0, 10]``: the no-guarantee zone below it is
    exercised), :class:`~isobound.Holder` (exponent in ``[0.05, 2]``),
    :class:`~isobound.PiecewiseLinear` (2 to 8 measured pairs, the first at
    radius 0 or beyond it, values not necessarily monotone so the running
    maximum is exercised, linear or step interpolation, extrapolated or
    not), :class:`~isobound.UniformPrior` around any of those, and
    :class:`~isobound.Composition` of two of them (the jumps of a step part
    inside a composition are where generalised inverses go wrong).

    Parameters
    ----------
    kinds : sequence of str, optional
        Subset of :data:`MODULUS_KINDS`.
    max_failure_prob : float, optional
        Draw ``failure_prob`` in ``[0, max_failure_prob]`` (default: always 0),
        ``max_failure_prob`` in ``[0, 1)``; the two parts of a composition
        draw half each, so their sum stays in range.
    concave : bool, optional
        Only moduli concave on ``[0, inf)`` (as Theorem 4's closed form
        needs): Hölder exponents ``<= 1``, piecewise moduli extrapolated and
        replaced by their concave majorant, compositions of concave parts.

    Returns
    -------
    hypothesis.strategies.SearchStrategy of isobound.Modulus

    Raises
    ------
    ValueError
        For an unknown or empty ``kinds`` or ``max_failure_prob`` outside
        ``[0, 1)``.

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> @settings(max_examples=25, database=None)
    ... @given(moduli(concave=True))
    ... def check(omega):
    ...     assert omega.is_concave and omega(1.0) <= omega(2.0)
    >>> check()
    """
    kinds = tuple(kinds)
    unknown = [k for k in kinds if k not in MODULUS_KINDS]
    if not kinds or unknown:
        raise ValueError(
            f"kinds must be a non-empty subset of {MODULUS_KINDS}, got kinds={kinds!r}"
        )
    mfp = float(max_failure_prob)
    if not (0.0 <= mfp < 1.0):
        raise ValueError(
            f"max_failure_prob must be in [0, 1), got max_failure_prob={max_failure_prob!r}"
        )
    st = _strategies()

    def failure(top: float) -> Any:
        if top > 0:
            return st.floats(min_value=0.0, max_value=top, allow_nan=False)
        return st.just(0.0)

    scale = st.floats(min_value=-3.0, max_value=3.0, allow_nan=False).map(lambda e: 10.0**e)
    intercept = st.floats(min_value=0.0, max_value=10.0, allow_nan=False)
    exponent = st.floats(min_value=0.05, max_value=1.0 if concave else 2.0, allow_nan=False)

    def piecewise(
        steps: list[tuple[float, float]],
        start: float,
        v0: float,
        interpolation: str,
        extrapolate: bool,
        delta: float,
    ) -> isobound.Modulus:
        radii_ = np.concatenate([[start], start + np.cumsum([s for s, _ in steps])])
        values = np.concatenate([[v0], [v for _, v in steps]])
        if concave:
            omega = isobound.PiecewiseLinear(
                radii_, values, interpolation=interpolation, extrapolate=True, failure_prob=delta
            )
            return omega.concave_majorant()
        return isobound.PiecewiseLinear(
            radii_, values, interpolation=interpolation, extrapolate=extrapolate, failure_prob=delta
        )

    step = st.tuples(
        st.floats(min_value=1e-3, max_value=10.0, allow_nan=False),
        st.floats(min_value=0.0, max_value=100.0, allow_nan=False),
    )

    def base_options(delta_top: float) -> dict[str, Any]:
        fail = failure(delta_top)
        return {
            "lipschitz": st.builds(lambda L, d: isobound.Lipschitz(L, failure_prob=d), scale, fail),
            "affine": st.builds(
                lambda s, b, d: isobound.Affine(s, b, failure_prob=d), scale, intercept, fail
            ),
            "holder": st.builds(
                lambda c, a, d: isobound.Holder(c, a, failure_prob=d), scale, exponent, fail
            ),
            "piecewise": st.builds(
                piecewise,
                st.lists(step, min_size=1, max_size=7),
                st.one_of(st.just(0.0), st.floats(min_value=1e-3, max_value=2.0)),
                st.floats(min_value=0.0, max_value=1.0, allow_nan=False),
                st.sampled_from(["linear", "step"]),
                st.booleans(),
                fail,
            ),
        }

    base = base_options(mfp)
    half = base_options(0.5 * mfp)
    any_half = st.one_of(list(half.values()))
    options = dict(base)
    options["uniform_prior"] = st.one_of(list(base.values())).map(isobound.UniformPrior)
    options["composition"] = st.builds(isobound.Composition, any_half, any_half)
    return cast("SearchStrategy[isobound.Modulus]", st.one_of([options[k] for k in kinds]))


def radii(
    *,
    min_value: float = 0.0,
    max_value: float = 1e3,
    size: int | tuple[int, ...] | None = None,
) -> SearchStrategy[Any]:
    """Hypothesis strategy for radii ``eps`` (or ``eta``) at which to evaluate a bound.

    Finite, non-negative, not subnormal; hypothesis spreads draws over all
    magnitudes in the range (``1e-300`` as readily as ``5.0``).

    Parameters
    ----------
    min_value, max_value : float, optional
        Range, ``0 <= min_value <= max_value < inf``.
    size : int or tuple of int, optional
        Draw float64 arrays of this shape instead of floats.

    Returns
    -------
    hypothesis.strategies.SearchStrategy of float or ndarray

    Raises
    ------
    ValueError
        For a negative, non-finite or inverted range.

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> @settings(max_examples=25, database=None)
    ... @given(radii(max_value=10.0, size=3))
    ... def check(eps):
    ...     assert eps.shape == (3,) and ((0 <= eps) & (eps <= 10)).all()
    >>> check()
    """
    lo, hi = float(min_value), float(max_value)
    if not (math.isfinite(lo) and lo >= 0):
        raise ValueError(f"min_value must be finite and >= 0, got min_value={min_value!r}")
    if not (math.isfinite(hi) and hi >= lo):
        raise ValueError(f"max_value must be finite and >= min_value, got max_value={max_value!r}")
    st = _strategies()
    elements = st.floats(
        min_value=lo, max_value=hi, allow_nan=False, allow_infinity=False, allow_subnormal=False
    )
    if size is None:
        return cast("SearchStrategy[Any]", elements)
    from hypothesis.extra import numpy as hnp

    return hnp.arrays(np.float64, size, elements=elements)


# ---------------------------------------------------------------------------
# tightness oracles
# ---------------------------------------------------------------------------


def _as_direction(name: str, value: ArrayLike) -> tuple[FloatArray, float]:
    try:
        w = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a 1-d vector of numbers, got {name}={value!r}") from None
    if w.ndim != 1 or w.size == 0 or not np.all(np.isfinite(w)):
        raise ValueError(f"{name} must be a finite non-empty 1-d vector, got {name}={value!r}")
    norm = float(np.linalg.norm(w))
    if norm == 0.0:
        raise ValueError(f"{name} must be non-zero, got {name}={value!r}")
    w = w.copy()
    w.setflags(write=False)
    return w, norm


def _check_latents(z: ArrayLike, dim: int) -> FloatArray:
    x = np.asarray(z, dtype=np.float64)
    if x.ndim == 0 or x.shape[-1] != dim:
        raise ValueError(
            f"z must have shape (..., {dim}) (latent dimension {dim}), got shape {x.shape}"
        )
    return x


def _gauss_mass(lo: FloatArray, hi: FloatArray) -> FloatArray:
    """``Phi(hi) - Phi(lo)`` for ``lo <= hi``, subtracting on the short side."""
    lo, hi = np.broadcast_arrays(np.asarray(lo, float), np.asarray(hi, float))
    right = lo >= 0
    out: FloatArray = np.where(right, sc.ndtr(-lo) - sc.ndtr(-hi), sc.ndtr(hi) - sc.ndtr(lo))
    return np.maximum(out, 0.0)


class LinearLatentClassifier:
    r"""Two-class classifier linear in the latent space: class 1 iff ``w.z >= c``.

    This is the equality case of Theorem 1 (the paper's Remark 4).  With the
    unit normal :math:`u = w/\|w\|` and offset :math:`s = c/\|w\|`, the
    projection :math:`x = u \cdot z` of :math:`z \sim N(0, I_d)` is standard
    normal, the latent robustness of ``z`` is its distance to the hyperplane
    :math:`r_Z(z) = |x - s|`, and

    .. math::

        P(r_Z \le \varepsilon) = \Phi(s + \varepsilon) - \Phi(s - \varepsilon)
        = B(\varepsilon)

    where ``B`` is Eq. (2) for the class proportions
    :math:`(\Phi(s), \bar\Phi(s))`: the thresholds are :math:`b_0 = s` and
    :math:`b_1 = -s`, and
    :math:`[\Phi(s) - \Phi(s - \varepsilon)] + [\Phi(-s) - \Phi(-s - \varepsilon)]`
    is the right-hand side.  So the isoperimetric bound is attained exactly,
    and Monte Carlo on :meth:`distance` must match :meth:`bound` (and a
    mis-computed bound must not).  If the generator is
    ``g(z) = L * Q z`` with ``Q`` an isometry, the modulus ``Lipschitz(L)``
    is an equality too, and ``bound(Lipschitz(L))`` is attained in image
    space by the distances ``L * distance(z)``.

    Parameters
    ----------
    w : array_like
        Non-zero normal vector of the hyperplane (its length is the latent
        dimension ``d``).
    c : float, optional
        Offset; the hyperplane is ``w.z = c``.

    Raises
    ------
    ValueError
        For a zero, non-finite or non-vector ``w`` or a non-finite ``c``.

    Examples
    --------
    >>> clf = LinearLatentClassifier([0.0, 2.0], 0.0)
    >>> clf.predict([[5.0, 1.0], [5.0, -1.0]]).tolist()
    [1, 0]
    >>> clf.distance([[5.0, 1.0], [5.0, -3.0]]).tolist()
    [1.0, 3.0]
    >>> clf.class_probs.tolist()
    [0.5, 0.5]
    >>> round(clf.exact_cdf(1.0), 12) == round(clf.bound().cdf(1.0), 12)
    True
    """

    is_tight = True
    """Eq. (2) holds with equality for this classifier."""

    def __init__(self, w: ArrayLike, c: float = 0.0) -> None:
        self._w, self._norm = _as_direction("w", w)
        try:
            cf = float(c)
        except (TypeError, ValueError):
            raise ValueError(f"c must be a finite number, got c={c!r}") from None
        if not math.isfinite(cf):
            raise ValueError(f"c must be a finite number, got c={c!r}")
        self._c = cf
        self._s = cf / self._norm

    @classmethod
    def with_proportion(cls, p: float, *, dim: int = 2) -> LinearLatentClassifier:
        """The half-space classifier along the first axis whose class 0 has mass ``p``.

        Parameters
        ----------
        p : float
            ``P(class 0)``, in ``(0, 1)``.
        dim : int, optional
            Latent dimension ``d >= 1``.

        Examples
        --------
        >>> clf = LinearLatentClassifier.with_proportion(0.9, dim=3)
        >>> round(float(clf.class_probs[0]), 12)
        0.9
        """
        pf = float(p)
        if not (0.0 < pf < 1.0):
            raise ValueError(f"p must be in (0, 1), got p={p!r}")
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 1:
            raise ValueError(f"dim must be a positive integer, got dim={dim!r}")
        w = np.zeros(int(dim))
        w[0] = 1.0
        return cls(w, float(sc.ndtri(pf)))

    @property
    def w(self) -> FloatArray:
        """Normal vector (read-only)."""
        return self._w

    @property
    def c(self) -> float:
        """Offset of the hyperplane ``w.z = c``."""
        return self._c

    @property
    def dim(self) -> int:
        """Latent dimension ``d``."""
        return int(self._w.size)

    @property
    def n_classes(self) -> int:
        return 2

    @property
    def offset(self) -> float:
        r"""Signed distance :math:`s = c/\|w\|` of the hyperplane from the origin."""
        return self._s

    @property
    def log_probs(self) -> FloatArray:
        r"""Exact log class masses :math:`(\log\Phi(s), \log\bar\Phi(s))`."""
        return np.array([sc.log_ndtr(self._s), sc.log_ndtr(-self._s)])

    @property
    def class_probs(self) -> FloatArray:
        r"""Exact class masses :math:`(\Phi(s), \bar\Phi(s))` under :math:`N(0, I_d)`."""
        return np.array([sc.ndtr(self._s), sc.ndtr(-self._s)])

    def _project(self, z: ArrayLike) -> FloatArray:
        x = _check_latents(z, self.dim)
        result: FloatArray = (x @ self._w) / self._norm
        return result

    def predict(self, z: ArrayLike) -> Any:
        """Class labels (0 or 1) of latents ``z`` of shape ``(..., d)``."""
        return (self._project(z) >= self._s).astype(np.int64)

    def distance(self, z: ArrayLike) -> Any:
        r"""Exact latent robustness :math:`|w \cdot z - c| / \|w\|` of each latent."""
        return np.abs(self._project(z) - self._s)

    def exact_cdf(self, eps: ArrayLike) -> Any:
        r""":math:`P(r_Z \le \varepsilon) = \Phi(s + \varepsilon) - \Phi(s - \varepsilon)`.

        Computed directly (to about 1e-16 absolute), independently of
        isobound's bound code; ``eps < 0`` gives 0.
        """
        e = np.asarray(eps, dtype=np.float64)
        e_pos = np.maximum(e, 0.0)
        out = _gauss_mass(self._s - e_pos, self._s + e_pos)
        out = np.where(np.isnan(e), np.nan, out)
        return float(out) if np.ndim(eps) == 0 else out

    def bound(self, omega: isobound.Modulus | None = None) -> Any:
        """The bound of Theorem 1 for this classifier's class proportions.

        Latent (:class:`~isobound.IsoperimetricBound`) when ``omega`` is
        ``None``, else its push-forward ``.through(omega)``.  Built from the
        exact log masses, so it stays exact for far-off hyperplanes.
        """
        latent = isobound.IsoperimetricBound.from_log_probs(self.log_probs, normalize=True)
        return latent if omega is None else latent.through(omega)

    def __repr__(self) -> str:
        return f"LinearLatentClassifier(w={self._w.tolist()!r}, c={self._c!r})"


class SlabLatentClassifier:
    r"""``K`` classes cut by parallel hyperplanes ``u.z = t_1 < ... < t_{K-1}``.

    Class ``j`` is the slab :math:`t_j \le u \cdot z < t_{j+1}`
    (:math:`t_0 = -\infty`, :math:`t_K = \infty`), ``u`` a unit vector.  The
    latent robustness of ``z`` is the distance from :math:`x = u \cdot z` to
    the nearest threshold, :math:`r_Z = \min_j |x - t_j|`, so

    .. math::

        P(r_Z \le \varepsilon) = \gamma\Big(\bigcup_j [t_j - \varepsilon,
        t_j + \varepsilon]\Big),

    the one-dimensional Gaussian mass of a union of intervals
    (:meth:`exact_cdf`).  The two outer classes are half-spaces and
    contribute exactly their Eq. (2) terms, but each middle slab's
    contribution is strictly larger than that of a half-space of the same
    mass.  Hence, for ``K >= 3``, ``bound().cdf(eps) < exact_cdf(eps)`` for
    every ``eps > 0``: the bound is valid and **not** attained (``is_tight``
    is ``False``).  For ``K = 2`` this is :class:`LinearLatentClassifier`.

    Parameters
    ----------
    direction : array_like
        Non-zero normal vector (normalized internally; its length is ``d``).
    thresholds : array_like
        Strictly increasing finite thresholds along the unit normal, at
        least one.

    Raises
    ------
    ValueError
        For a zero or non-finite direction, or thresholds that are empty,
        not finite or not strictly increasing.

    Examples
    --------
    >>> clf = SlabLatentClassifier([1.0], [-0.5, 0.5])
    >>> clf.predict([[-1.0], [0.0], [2.0]]).tolist()
    [0, 1, 2]
    >>> clf.distance([[-1.0], [0.1], [2.0]]).tolist()
    [0.5, 0.4, 1.5]
    >>> bool(clf.bound().cdf(0.3) < clf.exact_cdf(0.3))
    True
    """

    def __init__(self, direction: ArrayLike, thresholds: ArrayLike) -> None:
        u, norm = _as_direction("direction", direction)
        self._u = u / norm
        self._u.setflags(write=False)
        try:
            t = np.asarray(thresholds, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise ValueError(f"thresholds must be numbers, got thresholds={thresholds!r}") from None
        if t.size == 0 or not np.all(np.isfinite(t)) or np.any(np.diff(t) <= 0):
            raise ValueError(
                "thresholds must be a non-empty, finite, strictly increasing sequence, "
                f"got thresholds={thresholds!r}"
            )
        t.setflags(write=False)
        self._t = t

    @property
    def direction(self) -> FloatArray:
        """Unit normal ``u`` (read-only)."""
        return self._u

    @property
    def thresholds(self) -> FloatArray:
        """The cut points along ``u`` (read-only)."""
        return self._t

    @property
    def dim(self) -> int:
        return int(self._u.size)

    @property
    def n_classes(self) -> int:
        return int(self._t.size + 1)

    @property
    def is_tight(self) -> bool:
        """``True`` only for ``K = 2``: Eq. (2) is an equality only for half-spaces."""
        return self.n_classes == 2

    @property
    def class_probs(self) -> FloatArray:
        r"""Exact slab masses :math:`\Phi(t_{j+1}) - \Phi(t_j)`."""
        edges = np.concatenate([[-np.inf], self._t, [np.inf]])
        return _gauss_mass(edges[:-1], edges[1:])

    def _project(self, z: ArrayLike) -> FloatArray:
        result: FloatArray = _check_latents(z, self.dim) @ self._u
        return result

    def predict(self, z: ArrayLike) -> Any:
        """Class labels ``0 .. K-1`` of latents ``z`` of shape ``(..., d)``."""
        return np.searchsorted(self._t, self._project(z), side="right").astype(np.int64)

    def distance(self, z: ArrayLike) -> Any:
        r"""Exact latent robustness :math:`\min_j |u \cdot z - t_j|`."""
        x = self._project(z)
        return np.min(np.abs(x[..., None] - self._t), axis=-1)

    def exact_cdf(self, eps: ArrayLike) -> Any:
        r"""Gaussian mass of :math:`\bigcup_j [t_j - \varepsilon, t_j + \varepsilon]`.

        Sorted equal-width intervals only overlap their neighbours' and
        :math:`I_j \cap I_{j+2} \subset I_{j+1}`, so the union's mass is
        :math:`\sum_j \gamma(I_j) - \sum_j \gamma(I_j \cap I_{j+1})`.
        """
        e = np.asarray(eps, dtype=np.float64)
        ep = np.maximum(e, 0.0)[..., None]
        t = self._t
        total = np.sum(_gauss_mass(t - ep, t + ep), axis=-1)
        if t.size > 1:
            lo = t[1:] - ep
            hi = t[:-1] + ep
            overlap = _gauss_mass(np.minimum(lo, hi), hi)
            total = total - np.sum(overlap, axis=-1)
        out = np.clip(total, 0.0, 1.0)
        out = np.where(np.isnan(e), np.nan, out)
        return float(out) if np.ndim(eps) == 0 else out

    def bound(self, omega: isobound.Modulus | None = None) -> Any:
        """The bound of Theorem 1 for the slab masses (latent, or through ``omega``)."""
        latent = isobound.IsoperimetricBound(self.class_probs, normalize=True)
        return latent if omega is None else latent.through(omega)

    def __repr__(self) -> str:
        return (
            f"SlabLatentClassifier(direction={self._u.tolist()!r}, thresholds={self._t.tolist()!r})"
        )
