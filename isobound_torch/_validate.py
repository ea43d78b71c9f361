"""Argument checks shared by the attacks and the measurements.

Malformed arguments raise :class:`ValueError` naming the argument and its
value, as in the core package; an argument of the wrong type raises
:class:`ArgumentTypeError`, a :class:`TypeError` that is also a
:class:`ValueError` (these checks raised ``ValueError`` for every problem
before, and callers that catch it keep working).  Nothing here uses
``assert``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

__all__ = [
    "ArgumentTypeError",
    "check_bool",
    "check_callable",
    "check_choice",
    "check_int",
    "check_nonnegative",
    "check_open_probability",
    "check_positive",
    "check_tensor",
    "model_mode_problem",
]


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type (a tensor expected, an integer, a callable...).

    A :class:`TypeError`, and a :class:`ValueError` too, so that ``except
    ValueError`` written for the earlier checks still catches it.
    """


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    if isinstance(value, torch.Tensor):
        text = f"tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _real(name: str, value: Any) -> float:
    if isinstance(value, (bool, str, bytes)):
        raise ArgumentTypeError(f"{name} must be a real number, got {name}={value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ArgumentTypeError(f"{name} must be a real number, got {name}={_short(value)}") from None


def check_bool(name: str, value: Any) -> bool:
    """``value`` if it is ``True`` or ``False``."""
    if not isinstance(value, bool):
        raise ArgumentTypeError(f"{name} must be True or False, got {name}={value!r}")
    return value


def check_callable(name: str, value: Any) -> Any:
    """``value`` if it can be called."""
    if not callable(value):
        raise ArgumentTypeError(f"{name} must be callable, got {name}={_short(value)}")
    return value


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    """``value`` if it is one of the strings ``choices`` (compared exactly)."""
    if not isinstance(value, str) or value not in choices:
        listed = " or ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be {listed}, got {name}={value!r}")
    return value


def check_int(name: str, value: Any, *, minimum: int) -> int:
    """``value`` if it is an integer (not a bool) ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ArgumentTypeError(f"{name} must be an integer >= {minimum}, got {name}={value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {name}={value!r}")
    return int(value)


def check_nonnegative(name: str, value: Any) -> float:
    """``float(value)`` if it is finite and ``>= 0``."""
    x = _real(name, value)
    if not math.isfinite(x) or x < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {name}={value!r}")
    return x


def check_positive(name: str, value: Any) -> float:
    """``float(value)`` if it is finite and ``> 0``."""
    x = _real(name, value)
    if not math.isfinite(x) or x <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {name}={value!r}")
    return x


def check_open_probability(name: str, value: Any) -> float:
    """``float(value)`` if it lies strictly between 0 and 1."""
    x = _real(name, value)
    if not (0.0 < x < 1.0):
        raise ValueError(f"{name} must lie in (0, 1), got {name}={value!r}")
    return x


def check_tensor(name: str, value: Any, *, min_dim: int = 1) -> torch.Tensor:
    """A floating-point tensor with at least ``min_dim`` dimensions and no NaN or infinity."""
    if not isinstance(value, torch.Tensor):
        raise ArgumentTypeError(f"{name} must be a torch.Tensor, got {name}={_short(value)}")
    if not value.is_floating_point():
        raise ArgumentTypeError(f"{name} must be a floating-point tensor, got dtype {value.dtype}")
    if value.dim() < min_dim:
        raise ValueError(
            f"{name} must have at least {min_dim} dimension(s) (batch first), got shape {tuple(value.shape)}"
        )
    if value.dim() >= 2 and 0 in tuple(value.shape[1:]):
        raise ValueError(f"{name} must have at least one feature per sample, got shape {tuple(value.shape)}")
    if value.numel() and not bool(torch.isfinite(value).all()):
        bad = int((~torch.isfinite(value)).sum())
        raise ValueError(f"{name} contains {bad} NaN or infinite entr{'y' if bad == 1 else 'ies'}")
    return value


_MODE_DEPENDENT = (nn.modules.batchnorm._BatchNorm, nn.modules.dropout._DropoutNd, nn.AlphaDropout)


def model_mode_problem(name: str, model: Callable[..., Any]) -> str | None:
    """Why ``model`` cannot be attacked as it is, or ``None``.

    A module whose batch-norm or dropout layers are in training mode couples the
    samples of a batch (batch statistics), changes its own state (running
    statistics) or is random (dropout); per-sample gradients are then wrong.
    The attacks do not switch modes for the caller; they refuse instead.
    """
    if not isinstance(model, nn.Module):
        return None
    for sub_name, sub in model.named_modules():
        if sub.training and isinstance(sub, _MODE_DEPENDENT):
            where = sub_name or "the model itself"
            return (
                f"{name} has {type(sub).__name__} layer {where!r} in training mode, which couples "
                f"the samples of a batch or is random; call {name}.eval() first"
            )
    return None
