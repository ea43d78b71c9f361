"""What every attack shares: the per-sample result record and the checks of models and inputs.

An *attack* is a callable object ``attack(model, x) -> AttackResult`` with
``norm`` (``"l2"`` or ``"linf"``) and ``bounds`` (``None`` or a pair ``(lo, hi)``)
attributes.  All attacks here follow the same conventions:

* robustness is relative to the model's own prediction on the clean input (no
  labels are taken);
* a sample the attack could not move to another class has ``success = False``
  and distance ``+inf``;
* the box is optional (latent spaces have none);
* gradients are taken with respect to the inputs only, so nothing is left in
  the parameters' ``.grad``, and the model's train/eval flags are not touched
  (a module with batch-norm or dropout in training mode is refused);
* everything follows the device and dtype of the input.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass
from typing import Any

import torch

from .._validate import ArgumentTypeError, check_callable, check_choice, check_tensor, model_mode_problem

Model = Callable[[torch.Tensor], torch.Tensor]

NORMS = ("l2", "linf")
NONFINITE = ("fail", "raise")

#: A point counts as adversarial in a line search only when another logit beats
#: the original one by this many ulps of the largest logit, so that it stays
#: adversarial when evaluated again in another batch.
MARGIN_ULPS = 64.0


@dataclass(frozen=True, eq=False)
class AttackResult:
    """Per-sample outcome of an attack on a batch of ``n`` inputs.

    Every tensor has the batch as its first dimension, so that results of
    consecutive batches concatenate field by field.

    Attributes
    ----------
    perturbation : torch.Tensor
        ``adversarial - x``, same shape, dtype and device as the input.
    adversarial : torch.Tensor
        The perturbed inputs returned (inside the box, if any).  For a failed
        sample, the last point tried or the clean input, depending on the attack.
    norm : torch.Tensor
        ``||perturbation||`` per sample (L2 or L-infinity, as attacked), in the
        input's dtype; finite also for failed samples: use :attr:`distances`
        for statistics.
    success : torch.Tensor
        ``bool``: the model's label at ``adversarial`` differs from ``label``.
    iterations : torch.Tensor
        ``int64``: steps of the attack run on the sample.
    label : torch.Tensor
        ``int64``: the model's prediction on the clean input (what robustness is
        measured against).
    adv_label : torch.Tensor
        ``int64``: the model's prediction at ``adversarial``.
    p : str
        ``"l2"`` or ``"linf"``.
    forwards : torch.Tensor
        ``int64``: forward evaluations of the model that included the sample.
    backwards : torch.Tensor
        ``int64``: gradients (vector-Jacobian products) computed for the sample;
        ``C - 1`` per DeepFool iteration, one per FMN or DDN step.
    """

    perturbation: torch.Tensor
    adversarial: torch.Tensor
    norm: torch.Tensor
    success: torch.Tensor
    iterations: torch.Tensor
    label: torch.Tensor
    adv_label: torch.Tensor
    p: str
    _: KW_ONLY
    forwards: torch.Tensor
    backwards: torch.Tensor

    def __len__(self) -> int:
        return int(self.label.shape[0])

    @property
    def distances(self) -> torch.Tensor:
        """``norm`` where the attack succeeded and ``+inf`` where it failed (float64).

        A failed attack proves nothing about the distance, so ``+inf`` is the only
        safe value for statistics such as quantiles or empirical CDFs.  Each
        finite value is an *upper* estimate of the sample's minimal distance.
        """
        d = self.norm.detach().to(torch.float64)
        return torch.where(self.success, d, torch.full_like(d, math.inf))

    @property
    def success_rate(self) -> float:
        """Fraction of successful samples (``nan`` for an empty batch)."""
        n = len(self)
        return float(self.success.sum()) / n if n else math.nan

    @property
    def queries(self) -> torch.Tensor:
        """``forwards + backwards`` per sample (``int64``): the attack's cost in model calls."""
        return self.forwards + self.backwards


def norms(v: torch.Tensor, p: str) -> torch.Tensor:
    """L2 or L-infinity norm of each sample of ``v`` (batch first)."""
    flat = v.flatten(1)
    if p == "l2":
        return flat.norm(dim=1)
    return flat.abs().amax(dim=1) if flat.shape[1] else flat.sum(dim=1)


def dual_norms(v: torch.Tensor, p: str) -> torch.Tensor:
    """The dual norm of each sample of ``v``: L2 for L2, L1 for L-infinity."""
    flat = v.flatten(1)
    return flat.norm(dim=1) if p == "l2" else flat.abs().sum(dim=1)


def expand(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``(n,)`` -> ``(n, 1, 1, ...)`` broadcastable against ``like``."""
    return v.reshape((-1,) + (1,) * (like.dim() - 1))


def check_norm(norm: Any, allowed: tuple[str, ...] = NORMS) -> str:
    return check_choice("norm", norm, allowed)


def bounds_pair(bounds: Any) -> tuple[float, float] | None:
    """``None`` or ``(lo, hi)`` as floats with ``lo < hi``, both finite."""
    if bounds is None:
        return None
    try:
        lo, hi = bounds
        lo_f, hi_f = float(lo), float(hi)
    except (TypeError, ValueError):
        raise ValueError(f"bounds must be None or a pair (lo, hi) of numbers, got bounds={bounds!r}") from None
    if not (math.isfinite(lo_f) and math.isfinite(hi_f) and lo_f < hi_f):
        raise ValueError(f"bounds must be finite with lo < hi, got bounds={bounds!r}")
    return lo_f, hi_f


def clip(v: torch.Tensor, bounds: tuple[float, float] | None) -> torch.Tensor:
    return v if bounds is None else v.clamp(bounds[0], bounds[1])


def prepare(model: Any, x: Any, bounds: tuple[float, float] | None) -> torch.Tensor:
    """Check the model and the inputs of an attack; ``x`` detached.

    Raises
    ------
    TypeError
        (:class:`ArgumentTypeError`, also a ValueError) for a model that is not
        callable, or an ``x`` that is not a floating-point tensor.
    ValueError
        For a module with training-mode batch-norm or dropout, or an ``x`` with
        fewer than two dimensions, no features, NaN/inf entries, or entries
        outside ``bounds``.
    """
    check_callable("model", model)
    problem = model_mode_problem("model", model)
    if problem:
        raise ValueError(problem)
    x0 = check_tensor("x", x, min_dim=2).detach()
    if bounds is not None and x0.numel():
        lo, hi = bounds
        if bool((x0 < lo).any() or (x0 > hi).any()):
            raise ValueError(f"x lies outside bounds={bounds!r}: min {float(x0.min())!r}, max {float(x0.max())!r}")
    return x0


def check_logits(logits: Any, n: int) -> torch.Tensor:
    """The model's output on the clean batch: finite floating ``(n, K)`` logits, ``K >= 2``."""
    if not isinstance(logits, torch.Tensor):
        raise ArgumentTypeError(f"model must return a tensor of logits, got {type(logits).__name__}")
    if logits.dim() != 2 or logits.shape[0] != n or logits.shape[1] < 2:
        raise ValueError(
            f"model must return logits of shape (batch, K) with K >= 2 for a batch of {n}, "
            f"got shape {tuple(logits.shape)}"
        )
    if not logits.is_floating_point():
        raise ArgumentTypeError(f"model must return floating-point logits, got dtype {logits.dtype}")
    if not bool(torch.isfinite(logits).all()):
        raise ValueError("model returned NaN or infinite logits on the clean inputs")
    return logits


def check_later_logits(logits: Any, m: int, n_classes: int) -> torch.Tensor:
    """The model keeps returning ``(batch, K)`` logits with the ``K`` it had on the clean inputs."""
    want = (
        f"model must return floating-point logits of shape (batch, K) with K = {n_classes} (as on the clean "
        f"inputs) for a batch of {m}"
    )
    if not isinstance(logits, torch.Tensor):
        raise ArgumentTypeError(f"{want}, got {type(logits).__name__}")
    if tuple(logits.shape) != (m, n_classes):
        raise ValueError(f"{want}, got shape {tuple(logits.shape)}")
    if not logits.is_floating_point():
        raise ArgumentTypeError(f"{want}, got dtype {logits.dtype}")
    return logits


def nonfinite_error(attack: str, rows: torch.Tensor, iteration: int) -> ValueError:
    """The error of ``on_nonfinite="raise"``: which samples, at which step."""
    shown = rows[:8].tolist()
    more = "" if rows.numel() <= 8 else f" and {rows.numel() - 8} more"
    return ValueError(
        f"{attack}: the model returned NaN or infinite logits or gradients at step {iteration} for "
        f"sample(s) {shown}{more} (on_nonfinite='raise'); with on_nonfinite='fail' such samples stop "
        "and keep what was verified before"
    )


def excess(logits: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """Best other logit minus the ``label`` logit, minus rounding noise; ``-inf`` on non-finite rows.

    Positive means adversarial with a margin that survives re-evaluation in
    another batch (kernels may round differently for another batch size).
    """
    own = logits.gather(1, label[:, None])[:, 0]
    other = logits.scatter(1, label[:, None], -math.inf).amax(dim=1)
    eps = torch.finfo(logits.dtype).eps
    noise = MARGIN_ULPS * eps * logits.abs().amax(dim=1).clamp_min(1.0)
    g = other - own - noise
    return torch.where(torch.isfinite(logits).all(dim=1), g, torch.full_like(g, -math.inf))


def margin(logits: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """``F_label - max_{k != label} F_k`` per row: positive while the label holds."""
    own = logits.gather(1, label[:, None])[:, 0]
    return own - logits.scatter(1, label[:, None], -math.inf).amax(dim=1)


def counts(n: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Zeroed per-sample ``forwards`` and ``backwards`` counters."""
    z = torch.zeros(n, dtype=torch.int64, device=device)
    return z, z.clone()
