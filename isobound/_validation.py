"""Argument checks shared by the public API.

Two tiers, as in scipy.stats: malformed *parameters* raise ``ValueError``
naming the argument and the offending value; out-of-domain *evaluation
points* (negative radii, quantiles outside [0, 1]) follow the documented
distribution conventions and never raise.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "ArgumentTypeError",
    "as_class_vector",
    "as_counts",
    "as_exact_counts",
    "check_n_classes",
    "check_nonnegative",
    "check_positive",
    "check_probability",
    "short_repr",
]

#: Probabilities may miss 1 by this much (relative) and are silently renormalised.
SUM_TOLERANCE = 1e-9


def short_repr(value: Any, limit: int = 80) -> str:
    """A repr that stays readable for long arrays."""
    text = repr(value)
    if isinstance(value, np.ndarray):
        text = np.array2string(value, threshold=8, precision=6)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type (a string where a number is needed, ...).

    A ``TypeError``, as Python's conventions ask; also a ``ValueError``, so
    that code written when every bad argument raised ``ValueError`` keeps
    catching it (numpy's ``AxisError`` subclasses two built-ins the same way).
    """


def _as_float(name: str, value: Any) -> float:
    if isinstance(value, (str, bytes)) or value is None:
        raise ArgumentTypeError(f"{name} must be a real number, got {name}={value!r}")
    try:
        result = float(value)
    except (TypeError, ValueError):
        raise ArgumentTypeError(f"{name} must be a real number, got {name}={value!r}") from None
    return result


def check_positive(name: str, value: Any, *, allow_inf: bool = False) -> float:
    """Return ``float(value)`` if it is > 0 (and finite unless allowed)."""
    x = _as_float(name, value)
    if math.isnan(x) or x <= 0 or (math.isinf(x) and not allow_inf):
        raise ValueError(f"{name} must be a positive finite number, got {name}={value!r}")
    return x


def check_nonnegative(name: str, value: Any) -> float:
    """Return ``float(value)`` if it is finite and >= 0."""
    x = _as_float(name, value)
    if not math.isfinite(x) or x < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {name}={value!r}")
    return x


def check_probability(name: str, value: Any, *, open_interval: bool = False) -> float:
    """Return ``float(value)`` if it lies in [0, 1) (or (0, 1) when ``open_interval``)."""
    x = _as_float(name, value)
    ok = (0.0 < x < 1.0) if open_interval else (0.0 <= x < 1.0)
    if not ok:
        interval = "(0, 1)" if open_interval else "[0, 1)"
        raise ValueError(f"{name} must lie in {interval}, got {name}={value!r}")
    return x


def _non_number(value: Any) -> bool:
    """Whether ``value`` holds something that numpy would turn into a float but
    that is not a number: a string (``"0.5"``), bytes, or a bool."""
    if isinstance(value, (str, bytes, bool, np.bool_)):
        return True
    if isinstance(value, np.ndarray):
        return value.dtype.kind in "bSUO" and (
            value.dtype.kind != "O" or any(_non_number(v) for v in value.ravel().tolist())
        )
    if isinstance(value, (list, tuple)):
        if set(map(type, value)) <= _PLAIN:  # the common case, without a Python-level loop
            return False
        return any(_non_number(v) for v in value)
    return False


_PLAIN = {float, int, np.float64, np.float32, np.int64}


def as_class_vector(name: str, value: Any) -> NDArray[np.float64]:
    """A 1-d float64 array with at least one entry and no NaN.

    Strings, bytes and bools are refused with :class:`ArgumentTypeError`
    (numpy would convert ``"0.5"`` and ``True`` silently), as is anything
    numpy cannot convert to floats.
    """
    if _non_number(value):
        raise ArgumentTypeError(
            f"{name} must be a 1-d sequence of numbers (not strings or bools), got "
            f"{name}={short_repr(value)}"
        )
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ArgumentTypeError(
            f"{name} must be a 1-d sequence of numbers, got {name}={short_repr(value)}"
        ) from None
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(
            f"{name} must be a non-empty 1-d sequence, got shape {arr.shape}: "
            f"{name}={short_repr(value)}"
        )
    if np.any(np.isnan(arr)):
        raise ValueError(f"{name} contains NaN: {name}={short_repr(value)}")
    return arr


def as_counts(counts: Any, size: int) -> NDArray[np.float64]:
    """Class multiplicities: positive, finite, one per distinct class."""
    if counts is None:
        return np.ones(size)
    arr = as_class_vector("counts", counts)
    if arr.shape != (size,):
        raise ValueError(
            f"counts must have one entry per class ({size}), got {arr.size}: "
            f"counts={short_repr(counts)}"
        )
    bad = ~np.isfinite(arr) | (arr <= 0)
    if np.any(bad):
        raise ValueError(
            f"counts must be positive and finite, got counts[{int(np.argmax(bad))}]="
            f"{float(arr[bad][0])!r} in counts={short_repr(counts)}"
        )
    if np.any(arr != np.round(arr)):
        raise ValueError(f"counts must be whole numbers, got counts={short_repr(counts)}")
    return arr



def as_exact_counts(
    counts: Any, size: int
) -> tuple[NDArray[np.float64], NDArray[np.float64], list[int] | None]:
    """Class multiplicities of any size: ``(as floats, their logs, exact ints or None)``.

    Counts within the float range go through :func:`as_counts`.  A sequence
    holding Python integers beyond it (``[10**400]``) is kept exactly: the
    floats are then ``inf`` where the count overflows, the logs stay exact to
    rounding (``math.log`` of an int of any size), and the exact integers are
    returned too so that the total number of classes stays exact.
    """
    items = counts if isinstance(counts, (list, tuple)) else None
    if items is not None and any(
        isinstance(c, int) and not isinstance(c, bool) and abs(c) >= 2**53 for c in items
    ):
        if len(items) != size:
            raise ValueError(
                f"counts must have one entry per class ({size}), got {len(items)}: "
                f"counts={short_repr(counts)}"
            )
        exact: list[int] = []
        for i, c in enumerate(items):
            if isinstance(c, (bool, np.bool_)) or not isinstance(c, (int, float, np.integer, np.floating)):
                raise ArgumentTypeError(
                    f"counts must be a 1-d sequence of whole numbers (not strings or bools), "
                    f"got counts[{i}]={c!r}"
                )
            if isinstance(c, (float, np.floating)) and (not math.isfinite(c) or c != math.floor(c)):
                raise ValueError(f"counts must be positive whole numbers, got counts[{i}]={c!r}")
            ci = int(c)
            if ci <= 0:
                raise ValueError(f"counts must be positive, got counts[{i}]={c!r}")
            exact.append(ci)
        floats = np.array([float(c) if c < 2**1023 else math.inf for c in exact])
        logs = np.array([math.log(c) for c in exact])
        return floats, logs, exact
    arr = as_counts(counts, size)
    return arr, np.log(arr), None

def check_n_classes(value: Any, minimum: int = 1, *, context: str = "") -> int:
    """Return ``int(value)`` if it is an integer ``>= minimum`` (any size: 10**15 is fine)."""
    try:
        k = int(value)
    except (TypeError, ValueError, OverflowError):
        k = minimum - 1
    if k != value or k < minimum:
        raise ValueError(f"n_classes must be an integer >= {minimum}{context}, got n_classes={value!r}")
    return k
