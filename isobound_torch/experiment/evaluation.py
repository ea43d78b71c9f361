r"""Measure, bound and report: the half of the pipeline that works on *any* models.

``isobound experiment`` trains a generator and classifiers and hands them here;
:func:`isobound_torch.evaluate` hands the user's own models here. Either way the
same stages run, each stored under ``<run_dir>/stages`` with a key that hashes
its settings, the keys of the models it uses and the versions of isobound and
torch (:mod:`.store`):

1. ``measure-<name>``: on N latents ``z ~ N(0, I_d)``, the latent attack on
   ``f o g`` gives :math:`r_Z` (always l2) and the latent move whose image
   length is :math:`r_{in}` (stored in l2 and in l-infinity), plus the labels
   ``f(g(z))`` and the image norms; chunk by chunk (each chunk is a checkpoint
   and a unit of distributed work);
2. ``unc-<name>-<norm>``: the image-space attack in each requested norm gives
   :math:`r_{unc}`, chunk by chunk;
3. ``modulus-<norm>``: the generator's modulus :math:`\omega` in that image
   norm by gradient ascent (a lower estimate), with its failure probability
   :math:`\delta` (or a modulus the caller gives); ``certified-<norm>``: an
   upper bound on the same :math:`\omega` by bound propagation, on the same
   latents, chunk by chunk (``modulus_method`` ``"both"``, the default, or
   ``"certified"``);
4. ``examples``: a few original / adversarial pairs and a grid of samples;
5. the report (always re-rendered): one table per norm, the robust-accuracy
   ceilings at each epsilon, audits corrected for multiplicity, the
   confidence of every bound, RobustBench-shaped records, plots.

With ``lower_bounds`` set, a stage ``lower-<name>-<norm>`` per classifier and
norm also computes proven *lower* bounds on r_unc for the first
``lower_bound_samples`` samples (certified radius or exact MILP oracle), shown
next to the attack's measured distances (upper estimates) in the report.

Models enter only through their stage keys: what the keys are made of is the
caller's business (training settings for the experiment; weights and
output fingerprints for :func:`isobound_torch.evaluate`).
"""

from __future__ import annotations

import datetime as _dt
import fractions
import json
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import report as rep
from .distributed import DistContext, shard_indices
from .store import RunStore, atomic_write, code_versions, derive_seed, remove_stale, stage_key

__all__ = [
    "DEFAULT_RADII",
    "IMAGE_NORMS",
    "EvaluationSettings",
    "EvaluationResult",
    "Evaluator",
    "StageRecord",
    "compute_bounds",
    "latent_chunk",
    "image_chunk",
    "parse_norms",
    "parse_epsilons",
]

log = logging.getLogger("isobound_torch.experiment")
_EPS = float(np.finfo(np.float64).eps)

#: Latent radii where omega is measured by default (the radii the bounds need are added).
DEFAULT_RADII = (0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5)
#: Image norms the evaluation supports (the latent side is always l2).
IMAGE_NORMS = ("l2", "linf")
#: Version tag of the measurement code; part of the measurement keys.
MEASURE_VERSION = 3
#: How omega can be obtained: ascent estimate, certified bound, both side by side, or given by the caller.
MODULUS_METHODS = ("estimate", "certified", "both", "given")
#: Latents per checkpoint of the certified stage.
CERTIFY_CHUNK = 64
#: Per-sample lower bounds on r_unc: none, the certified radius, the exact MILP oracle, or the best available.
LOWER_BOUND_METHODS = ("none", "certified", "exact", "auto")
#: Version tag of the lower-bound code; part of the lower-bound keys.
LOWER_VERSION = 1
#: Samples per lower-bound checkpoint (the exact oracle takes about a second per sample).
LOWER_CHUNK = 10
#: ``lower_bounds="auto"`` takes the exact oracle only up to this many hidden ReLUs (two layers of 64 take
#: about 3 s per input on the digits, two of 128 about a minute); ``"exact"`` has no such limit.
AUTO_EXACT_MAX_HIDDEN = 128


# ---------------------------------------------------------------------------------------
# settings
# ---------------------------------------------------------------------------------------


def parse_norms(value: Any, name: str = "norms") -> tuple[str, ...]:
    """Image norms from ``"l2,linf"`` or a sequence of names; order kept, repeats dropped.

    Examples
    --------
    >>> parse_norms("linf, l2"), parse_norms(["l2"])
    (('linf', 'l2'), ('l2',))
    """
    items: list[Any]
    if isinstance(value, str):
        items = [p.strip() for p in value.split(",") if p.strip()]
    elif isinstance(value, Sequence):
        items = list(value)
    else:
        raise TypeError(f"{name} must be a string such as 'l2,linf' or a sequence of norm names, got {name}={value!r}")
    out: list[str] = []
    for item in items:
        if not isinstance(item, str) or item.lower() not in IMAGE_NORMS:
            raise ValueError(
                f"{name} must name image norms among {', '.join(IMAGE_NORMS)}, got {name}={value!r} ({item!r})"
            )
        if item.lower() not in out:
            out.append(item.lower())
    if not out:
        raise ValueError(f"{name} must name at least one image norm, got {name}={value!r}")
    return tuple(out)


def _parse_number(item: Any, name: str, whole: Any) -> float:
    if isinstance(item, bool):
        raise TypeError(f"{name} must hold numbers, got {name}={whole!r} ({item!r})")
    if isinstance(item, str):
        text = item.strip()
        try:
            value = float(fractions.Fraction(text))
        except (ValueError, ZeroDivisionError):
            raise ValueError(
                f"{name} must hold numbers or fractions such as 8/255, got {name}={whole!r} ({item!r})"
            ) from None
    elif isinstance(item, (int, float, np.integer, np.floating)):
        value = float(item)
    else:
        raise TypeError(f"{name} must hold numbers or fractions such as '8/255', got {name}={whole!r} ({item!r})")
    return value


def parse_epsilons(value: Any, name: str = "epsilons") -> tuple[float, ...]:
    """Image-space radii from ``"8/255,0.5"`` or a sequence of numbers; sorted, each finite and > 0.

    Examples
    --------
    >>> parse_epsilons("0.5, 8/255")
    (0.03137254901960784, 0.5)
    >>> parse_epsilons(())
    ()
    """
    if isinstance(value, str):
        items: list[Any] = [p for p in value.split(",") if p.strip()]
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        items = [value]
    elif isinstance(value, Sequence):
        items = list(value)
    else:
        raise TypeError(f"{name} must be numbers or a string such as '8/255,0.5', got {name}={value!r}")
    out = set()
    for item in items:
        v = _parse_number(item, name, value)
        if not math.isfinite(v) or v <= 0:
            raise ValueError(f"{name} must be finite numbers > 0, got {name}={value!r} ({item!r})")
        out.add(v)
    return tuple(sorted(out))


def check_attack_choice(attack: Any, attack_steps: Any, norms: Sequence[str]) -> None:
    """Refuse an unknown ``attack`` name, bad ``attack_steps``, or DDN asked for l_inf."""
    from ..attacks import ATTACK_NAMES

    if not isinstance(attack, str) or attack not in ATTACK_NAMES:
        raise ValueError(f"attack must be one of {', '.join(ATTACK_NAMES)}, got attack={attack!r}")
    if attack_steps is not None:
        _check_int("attack_steps", attack_steps, 1)
    if attack == "ddn" and "linf" in norms:
        raise ValueError(
            "attack='ddn' measures l2 distances only, but norms include 'linf'; use attack='fmn' or "
            "attack='best' (FMN in l_inf), or norms=('l2',)"
        )


def check_lower_bound_choice(lower_bounds: Any, lower_bound_samples: Any) -> None:
    """Refuse an unknown ``lower_bounds`` method or a ``lower_bound_samples`` that is not an integer >= 1."""
    if not isinstance(lower_bounds, str):
        raise TypeError(
            f"lower_bounds must be a string, one of {', '.join(LOWER_BOUND_METHODS)}, got lower_bounds={lower_bounds!r}"
        )
    if lower_bounds not in LOWER_BOUND_METHODS:
        raise ValueError(
            f"lower_bounds must be one of {', '.join(LOWER_BOUND_METHODS)}, got lower_bounds={lower_bounds!r}"
        )
    if isinstance(lower_bound_samples, bool) or not isinstance(lower_bound_samples, (int, np.integer)):
        raise TypeError(f"lower_bound_samples must be an integer, got lower_bound_samples={lower_bound_samples!r}")
    if lower_bound_samples < 1:
        raise ValueError(
            f"lower_bound_samples must be an integer >= 1, got lower_bound_samples={lower_bound_samples!r}"
        )


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {name}={value!r}")
    return int(value)


def _check_prob(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < float(value) < 1.0:
        raise ValueError(f"{name} must lie strictly between 0 and 1, got {name}={value!r}")
    return float(value)


@dataclass(frozen=True)
class EvaluationSettings:
    """Settings of the measure / bound / report stages (validated on construction).

    Parameters
    ----------
    latent_dim : int
        d, the dimension of the Gaussian latents.
    n_samples : int
        N, the number of generated samples whose robustness is measured.
    norms : tuple of str
        Image norms (``"l2"``, ``"linf"``); one table, one omega and one
        image-space attack each. The first is the report's primary norm.
    epsilons : tuple of float
        Image-space radii of the robust-accuracy ceiling rows.
    latent_prior : {"normal", "uniform"}
        Recorded in the report; the caller has already turned a uniform-latent
        generator into one on Gaussian latents.
    seed : int
        Run seed; every stage derives its own.
    chunk_size : int
        Samples per measurement checkpoint.
    overshoot, max_iter, refine
        DeepFool settings (when no attack objects are given and ``attack`` is
        ``"deepfool"``).
    attack : {"deepfool", "fmn", "ddn", "best"}
        The attack that measures r_Z, r_in and r_unc when no attack objects are
        given (:func:`isobound_torch.attacks.make_attack`).  ``"deepfool"`` (the
        default) is the paper's attack and the fastest; ``"best"`` keeps per
        sample the smallest verified perturbation of refined DeepFool, FMN and
        (for l2) DDN: about 10% smaller median distances on the digits CNN at
        about 19 times DeepFool's time (``benchmarks/results/minnorm.md``).
        ``"ddn"`` measures l2 only.  Every attack's distance is an upper
        estimate of the minimal one.
    attack_steps : int or None
        Iterations of FMN and DDN (``None``: their default, 100).
    lower_bounds : {"none", "certified", "exact", "auto"}
        Per-sample *proven lower* bounds on r_unc next to the attack's measured
        distance (an upper estimate), on the first ``lower_bound_samples``
        generated samples, per classifier and image norm (stage
        ``lower-<name>-<norm>``).  ``"certified"``:
        :func:`isobound_torch.certified_radius` (margin over a certified
        Lipschitz bound, or bound propagation); ``"exact"``: the lower bound of
        the MILP oracle :func:`isobound_torch.exact_distance` (small ReLU MLPs,
        l-infinity only; about a second per sample on a 64-32-32-10 MLP);
        ``"auto"``: exact where it applies (l-infinity, a ReLU MLP of at most
        ``AUTO_EXACT_MAX_HIDDEN`` = 128 hidden units), else certified, else "not
        available" with the reason.  ``"none"`` (the default) computes nothing.
    lower_bound_samples : int
        How many of the generated samples (the first ones) get a lower bound
        (default 50).
    quantile : float
        The reported quantile (0.25 in the paper).
    failure_prob, modulus_confidence : float
        delta of the estimated modulus and the confidence of the estimate.
    modulus_samples, modulus_restarts, modulus_steps
        Budget of the omega estimate.
    modulus_method : {"both", "estimate", "certified", "given"}
        ``"estimate"``: projected gradient ascent (a lower estimate of omega);
        ``"certified"``: bound propagation (an upper bound, so the image-space
        numbers are proven; an unsupported generator is an error);
        ``"both"`` (the default): the two side by side, the certified one only
        where the generator is supported and its cost estimate fits
        ``certify_budget`` (else the report says why it is not available);
        ``"given"``: a modulus passed in by the caller.
    certify_budget : float
        Seconds the certified stage may take under ``modulus_method="both"``:
        one latent is certified first and the whole stage is extrapolated from
        it; over the budget, the report gives the estimate alone and says so.
        Ignored by ``"certified"`` (asked for explicitly).
    radii : tuple of float
        Latent radii where omega is estimated (plus those the bounds need).
    audit_confidence : float
        Family-wise confidence of all the report's audits together (Bonferroni).
    ci_level : float
        Level of the quantile intervals and of the proportion box.
    n_examples : int
        Pairs kept for the pictures.
    progress : bool
        Progress bars.
    """

    latent_dim: int
    n_samples: int = 1000
    norms: tuple[str, ...] = ("l2",)
    epsilons: tuple[float, ...] = ()
    latent_prior: str = "normal"
    seed: int = 0
    chunk_size: int = 250
    overshoot: float = 0.02
    max_iter: int = 50
    refine: bool = True
    attack: str = "deepfool"
    attack_steps: int | None = None
    lower_bounds: str = "none"
    lower_bound_samples: int = 50
    quantile: float = 0.25
    failure_prob: float = 0.01
    modulus_confidence: float = 0.99
    modulus_samples: int | None = None
    modulus_restarts: int = 2
    modulus_steps: int = 10
    modulus_method: str = "both"
    certify_budget: float = 300.0
    radii: tuple[float, ...] = DEFAULT_RADII
    audit_confidence: float = 0.99
    ci_level: float = 0.95
    n_examples: int = 4
    progress: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "norms", parse_norms(self.norms))
        object.__setattr__(self, "epsilons", parse_epsilons(self.epsilons))
        for name, minimum in (
            ("latent_dim", 1),
            ("n_samples", 1),
            ("chunk_size", 1),
            ("max_iter", 1),
            ("modulus_restarts", 1),
            ("modulus_steps", 1),
            ("n_examples", 0),
            ("seed", 0),
        ):
            _check_int(name, getattr(self, name), minimum)
        if self.modulus_samples is not None:
            _check_int("modulus_samples", self.modulus_samples, 1)
        check_attack_choice(self.attack, self.attack_steps, self.norms)
        check_lower_bound_choice(self.lower_bounds, self.lower_bound_samples)
        for name in ("quantile", "failure_prob", "modulus_confidence", "audit_confidence", "ci_level"):
            _check_prob(name, getattr(self, name))
        if self.quantile + self.failure_prob >= 1:
            raise ValueError(
                f"quantile + failure_prob must be below 1 (the image-space bound needs the latent quantile "
                f"at quantile + failure_prob), got {self.quantile} + {self.failure_prob}"
            )
        if self.latent_prior not in ("normal", "uniform"):
            raise ValueError(f"latent_prior must be 'normal' or 'uniform', got latent_prior={self.latent_prior!r}")
        if self.modulus_method not in MODULUS_METHODS:
            raise ValueError(
                f"modulus_method must be one of {', '.join(MODULUS_METHODS)}, "
                f"got modulus_method={self.modulus_method!r}"
            )
        radii = tuple(float(r) for r in self.radii)
        if not radii or any(not math.isfinite(r) or r <= 0 for r in radii):
            raise ValueError(f"radii must be finite positive numbers, got radii={self.radii!r}")
        object.__setattr__(self, "radii", radii)
        if (
            not isinstance(self.overshoot, (int, float))
            or isinstance(self.overshoot, bool)
            or not (math.isfinite(self.overshoot) and self.overshoot >= 0)
        ):
            raise ValueError(f"overshoot must be a finite number >= 0, got overshoot={self.overshoot!r}")
        if (
            not isinstance(self.certify_budget, (int, float))
            or isinstance(self.certify_budget, bool)
            or not (math.isfinite(self.certify_budget) and self.certify_budget >= 0)
        ):
            raise ValueError(
                f"certify_budget must be a finite number of seconds >= 0, got certify_budget={self.certify_budget!r}"
            )
        for name in ("refine", "progress"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be True or False, got {name}={getattr(self, name)!r}")

    def as_dict(self) -> dict[str, Any]:
        return {f: (list(v) if isinstance(v, tuple) else v) for f, v in self.__dict__.items()}


# ---------------------------------------------------------------------------------------
# records and results
# ---------------------------------------------------------------------------------------


@dataclass
class StageRecord:
    """What happened to one stage in this invocation.

    Attributes
    ----------
    name : str
        E.g. ``"generator"``, ``"classifier-lenet"``, ``"measure-lenet"``, ``"unc-lenet-l2"``.
    key : str
        The stage's cache key.
    status : {"computed", "loaded", "resumed", "given", "skipped"}
        ``loaded``: reused from the run directory (same settings and code
        versions); ``resumed``: a partially done stage was continued;
        ``given``: supplied by the caller (a modulus passed in); ``skipped``:
        not run, with the reason in ``detail`` (a certified stage for a
        generator the certifier does not support, or over its budget).
    seconds : float
        Wall time spent in this invocation.
    detail : dict
        Stage-specific counters (chunks computed and loaded, resumed epoch, ...).
    """

    name: str
    key: str
    status: str
    seconds: float
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "key": self.key, "status": self.status, "seconds": self.seconds, **self.detail}


@dataclass
class EvaluationResult:
    """What an evaluation returns (also the base of the experiment's result).

    Attributes
    ----------
    run_dir : Path or None
        The run directory (``None`` when nothing was written).
    report : dict
        The JSON report (empty on ranks other than 0): settings, versions,
        per-classifier values for every norm, ceilings, audits, confidence
        accounting, RobustBench-shaped records, per-sample values.
    table : str
        The Markdown tables (one per norm, then the ceiling tables).
    tables : dict
        ``{norm: the paper-layout Markdown table}``.
    stages : list of StageRecord
        What each stage did in this invocation.
    files : dict
        Report files by role (``report_md``, ``report_json``, ``cdf_<name>``, ...).
    rank : int
        This process's rank (0 for a plain run).
    """

    run_dir: Path | None = None
    report: dict[str, Any] = field(default_factory=dict)
    table: str = ""
    tables: dict[str, str] = field(default_factory=dict)
    stages: list[StageRecord] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)
    rank: int = 0
    _plotters: dict[str, Callable[[Path | None], Any]] = field(default_factory=dict, repr=False)

    def stage(self, name: str) -> StageRecord:
        """The record of stage ``name`` (e.g. ``"generator"``, ``"measure-lenet"``)."""
        for rec in self.stages:
            if rec.name == name:
                return rec
        raise KeyError(f"no stage named {name!r}; stages: {[r.name for r in self.stages]}")

    def statuses(self) -> dict[str, str]:
        """``{stage name: status}``."""
        return {r.name: r.status for r in self.stages}

    @property
    def ceilings(self) -> dict[str, list[dict[str, Any]]]:
        """``{norm: [one row per epsilon]}`` (see :func:`.report.ceiling_table`)."""
        return dict(self.report.get("ceilings", {}))

    @property
    def audits(self) -> dict[str, dict[str, dict[str, Any]]]:
        """``{classifier: {"z": audit, "<norm>/in": audit, "<norm>/unc": audit}}``."""
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for name, c in self.report.get("classifiers", {}).items():
            out[name] = {"z": c["audit"]["z"]}
            for norm, per in c["norms"].items():
                out[name][f"{norm}/in"] = per["audit"]["in"]
                out[name][f"{norm}/unc"] = per["audit"]["unc"]
        return out

    @property
    def per_sample(self) -> dict[str, dict[str, Any]]:
        """``{classifier: per-sample labels and distances}`` (``None`` for a failed attack)."""
        return {n: c["per_sample"] for n, c in self.report.get("classifiers", {}).items()}

    @property
    def robustbench(self) -> list[dict[str, Any]]:
        """The RobustBench-shaped records (:func:`.report.robustbench_records`)."""
        return list(self.report.get("robustbench", []))

    def figures(self) -> dict[str, Any]:
        """The report's plots as matplotlib Figures, by role (drawn on demand)."""
        return {role: draw(None) for role, draw in self._plotters.items()}

    def to_json(self) -> str:
        """The report as strict JSON text."""
        return json.dumps(rep.json_ready(self.report), indent=1, allow_nan=False)


# ---------------------------------------------------------------------------------------
# bounds
# ---------------------------------------------------------------------------------------


def compute_bounds(
    class_props: dict[str, np.ndarray],
    n_classes: int,
    latent_dim: int,
    quantile: float,
    failure_prob: float,
    *,
    n_samples: int | None = None,
    confidence: float | None = None,
    also: Sequence[float] = (),
) -> tuple[dict[str, Any], Any, list[float]]:
    """Latent bounds per classifier and for K equiprobable classes, and the omega radii they need.

    Returns ``(latent_bounds, equiprobable_bound, needed_radii)`` where ``needed_radii``
    are the latent quantiles at ``quantile + failure_prob`` (rounded up a little, so the
    image-space quantile ``omega(latent.ppf(q + delta))`` reads omega at or below a
    measured radius). ``also``: further quantiles whose radii are needed too
    (the evaluation always reports the 25% quantile, RobustBench records'
    ``ceiling_q25``).

    With ``n_samples`` and ``confidence``, each classifier's proportions (estimated
    from ``n_samples`` generated points) are replaced by the conservative vector of
    :func:`isobound_torch.measure.conservative_proportions`: its bound holds with
    probability ``confidence`` over the sampling, where the point estimate's bound
    could claim more than the data prove.
    """
    import isobound as ib

    from ..measure import conservative_proportions

    if (n_samples is None) != (confidence is None):
        raise ValueError("give both n_samples and confidence, or neither")
    if n_samples is not None and confidence is not None:
        class_props = {
            name: conservative_proportions(np.rint(p * n_samples).astype(np.int64), confidence)
            for name, p in class_props.items()
        }
    bounds = {name: ib.IsoperimetricBound(p[p > 0] / p[p > 0].sum(), normalize=True) for name, p in class_props.items()}
    equi = ib.IsoperimetricBound.equiprobable(n_classes)
    needed = []
    for q in sorted({quantile, *also}):
        target = min((q + failure_prob) * (1 + 8 * _EPS), 1.0)
        for b in [*bounds.values(), equi]:
            t = float(b.ppf(target))
            if math.isfinite(t) and t > 0:
                needed.append(t)
    return bounds, equi, needed


def _merge_radii(base: Sequence[float], needed: list[float]) -> list[float]:
    out = sorted({float(r) for r in base} | set(needed))
    merged: list[float] = []
    for r in out:  # drop near-duplicates (a needed radius wins over a grid radius)
        if merged and r - merged[-1] <= 1e-9 * r:
            merged[-1] = max(merged[-1], r)
        else:
            merged.append(r)
    return merged


def _safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


# ---------------------------------------------------------------------------------------
# one chunk of measurements
# ---------------------------------------------------------------------------------------


def _per_sample(result: Any, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Distances (float64, ``inf`` where the attack failed) and success flags of a measurement."""
    distances = torch.as_tensor(result.distances).detach().to("cpu", torch.float64).reshape(-1)
    success = torch.as_tensor(result.success).detach().to("cpu").reshape(-1).bool()
    if distances.numel() != n or success.numel() != n:
        raise RuntimeError(f"measurement returned {distances.numel()} distances for {n} samples")
    return torch.where(success, distances, torch.full_like(distances, math.inf)), success


def check_images(x: Any, n: int, where: str) -> torch.Tensor:
    """Generator output: a floating tensor ``(n, ...)`` with no NaN or inf, else a ``ValueError``."""
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        kind = f"a {x.dtype} tensor" if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"the generator must return a floating-point tensor of images, got {kind} ({where})")
    if x.dim() < 2 or x.shape[0] != n:
        raise ValueError(
            f"the generator must return a batch of {n} images, shape ({n}, ...), got shape {tuple(x.shape)} ({where})"
        )
    bad = ~torch.isfinite(x)
    if bool(bad.any()):
        rows = bad.flatten(1).any(dim=1).nonzero().flatten()[:5].tolist()
        raise ValueError(
            f"the generator returned NaN or inf for {int(bad.flatten(1).any(dim=1).sum())} of {n} latents "
            f"({where}; first rows {rows})"
        )
    return x


def latent_chunk(
    classifier: Any, generator: Any, z: torch.Tensor, attack: Any, *, keep: int = 0, where: str = "chunk"
) -> dict[str, torch.Tensor]:
    """The latent side of one chunk: labels, r_Z, r_in (l2 and l-infinity), image norms.

    Returns CPU tensors ``labels`` (f(g(z))), ``r_z``, ``ok_z``, ``r_in`` and
    ``r_in_linf`` (the image length of the latent move, float64, ``inf`` where
    the attack failed), ``ok_in``, ``image_norms`` and ``image_norms_linf``
    (``||g(z)||``), and the first ``keep`` adversarial latents ``adv_z``.
    """
    from ..measure import in_distribution_robustness, latent_robustness

    n = z.shape[0]
    with torch.no_grad():
        check_images(generator(z), n, where)
    lat = latent_robustness(classifier, generator, z, attack=attack)
    r_z, ok_z = _per_sample(lat, n)
    out: dict[str, torch.Tensor] = {"labels": lat.labels.detach().cpu(), "r_z": r_z, "ok_z": ok_z}
    for norm in IMAGE_NORMS:
        ind = in_distribution_robustness(classifier, generator, z, latent=lat, norm=norm)
        suffix = "" if norm == "l2" else f"_{norm}"
        out[f"r_in{suffix}"], ok_in = _per_sample(ind, n)
        out[f"image_norms{suffix}"] = torch.as_tensor(ind.image_norms).to("cpu", torch.float64)
    out["ok_in"] = ok_in
    out["adv_z"] = lat.perturbed[:keep].detach().cpu()
    return out


def image_chunk(
    classifier: Any, generator: Any, z: torch.Tensor, attack: Any, *, keep: int = 0, where: str = "chunk"
) -> dict[str, torch.Tensor]:
    """The image side of one chunk: r_unc in the attack's norm, success flags, first ``keep`` adversarial images."""
    from ..measure import unconstrained_robustness

    n = z.shape[0]
    with torch.no_grad():
        check_images(generator(z), n, where)
    unc = unconstrained_robustness(classifier, generator, z, attack=attack)
    r_unc, ok_unc = _per_sample(unc, n)
    return {
        "r_unc": r_unc,
        "ok_unc": ok_unc,
        "labels": unc.labels.detach().cpu(),
        "adv_x": unc.perturbed[:keep].detach().cpu(),
    }


def lower_bound_chunk(
    classifier: Any, x: torch.Tensor, norm: str, method: str, bounds: tuple[float, float] | None
) -> dict[str, Any]:
    """Proven lower bounds on the minimal perturbation of each image ``x`` (float64, CPU), by ``method``.

    ``"certified"``: :func:`isobound_torch.certified_radius`; ``"exact"``: the
    ``lower_bound`` of :func:`isobound_torch.exact_distance` (its ``upper_bound``, the
    norm of a verified adversarial point, and its per-sample ``status`` come along).
    ``bounds`` is the attack's box, so that both sides bound the same distance.
    """
    if method == "exact":
        from ..exact import exact_distance

        res = exact_distance(classifier, x, norm=norm, bounds=bounds)
        return {
            "lower": res.lower_bound.detach().to("cpu", torch.float64).clamp_min(0.0),
            "upper": res.upper_bound.detach().to("cpu", torch.float64),
            "status": list(res.status),
        }
    if method == "certified":
        from ..certify import certified_radius

        return {"lower": certified_radius(classifier, x, norm=norm, bounds=bounds).detach().to("cpu", torch.float64)}
    raise ValueError(f"no lower-bound method {method!r}")  # pragma: no cover - resolved by Evaluator.lower_method


# ---------------------------------------------------------------------------------------
# the stages
# ---------------------------------------------------------------------------------------


def _attack_key(attack: Any) -> str:
    return f"{type(attack).__module__}.{type(attack).__qualname__}:{attack!r}"


class Evaluator:
    """Runs the measure / modulus / examples / report stages, reusing stored outputs.

    Parameters
    ----------
    settings : EvaluationSettings
    store : RunStore
        Where stage outputs live (a :class:`.store.MemoryStore` writes nothing).
    dist : DistContext
        Distributed context (a one-process context for plain runs).
    device : torch.device
        Where the latents go (the models must already be there).
    dtype : torch.dtype
        dtype of the latents (that of the generator).
    records : list of StageRecord, optional
        Where to append stage records (the experiment shares its list).
    attacks : mapping, optional
        ``{norm: attack}`` for the image-space attacks and ``"latent"`` for the
        latent one; DeepFool with the settings' options by default. Any attack
        with DeepFool's call contract works; its ``repr`` is part of the keys.
    moduli : mapping, optional
        ``{norm: isobound modulus}`` given by the caller (``modulus_method="given"``).
    """

    def __init__(
        self,
        settings: EvaluationSettings,
        *,
        store: RunStore,
        dist: DistContext,
        device: torch.device,
        dtype: torch.dtype = torch.float32,
        records: list[StageRecord] | None = None,
        attacks: Mapping[str, Any] | None = None,
        moduli: Mapping[str, Any] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.dist = dist
        self.device = device
        self.dtype = dtype
        self.records: list[StageRecord] = records if records is not None else []
        self.attacks = self._default_attacks()
        if attacks:
            self.attacks.update(attacks)
        self.moduli = dict(moduli or {})
        if settings.modulus_method == "given":
            missing = [n for n in settings.norms if n not in self.moduli]
            if missing:
                raise ValueError(f"modulus_method='given' needs a modulus for every norm; missing {missing}")

    def _default_attacks(self) -> dict[str, Any]:
        from ..attacks import DeepFool, make_attack

        s = self.settings
        if s.attack == "deepfool":
            opts = {"overshoot": s.overshoot, "max_iter": s.max_iter, "refine": s.refine}
            out: dict[str, Any] = {norm: DeepFool(norm=norm, **opts) for norm in IMAGE_NORMS}
            out["latent"] = DeepFool(norm="l2", **opts)
            return out
        out = {norm: make_attack(s.attack, norm=norm, steps=s.attack_steps) for norm in s.norms}
        out["latent"] = make_attack(s.attack, norm="l2", steps=s.attack_steps)
        return out

    # ------------------------------------------------------------------ helpers
    @property
    def progress(self) -> bool:
        return self.settings.progress and self.dist.is_main

    def _key(self, *parts: Any) -> str:
        return stage_key(code_versions(), *parts)

    def _record(self, name: str, key: str, status: str, t0: float, **detail: Any) -> StageRecord:
        rec = StageRecord(name, key, status, time.perf_counter() - t0, detail)
        self.records.append(rec)
        log.info("stage %-24s %-8s %6.1fs  [%s]", name, status, rec.seconds, key)
        return rec

    def latents(self) -> torch.Tensor:
        """The N measured latents, drawn on the CPU from the run seed (same on every rank and device)."""
        s = self.settings
        g = torch.Generator().manual_seed(derive_seed(s.seed, "latents"))
        return torch.randn(s.n_samples, s.latent_dim, generator=g).to(self.dtype)

    def _sample_key(self) -> dict[str, Any]:
        s = self.settings
        return {"seed": s.seed, "n": s.n_samples, "d": s.latent_dim, "chunk": s.chunk_size, "dtype": str(self.dtype)}

    def _chunked(
        self,
        stage: str,
        key: str,
        compute: Callable[[torch.Tensor, int, str], dict[str, torch.Tensor]],
    ) -> dict[str, Any]:
        """A per-sample stage in chunks: each chunk is stored at once; under torchrun ranks share them."""
        s = self.settings
        t0 = time.perf_counter()
        stored = self.store.load(stage, key)
        if stored is not None:
            self._record(stage, key, "loaded", t0)
            return stored  # type: ignore[no-any-return]
        z = self.latents()
        n_chunks = math.ceil(len(z) / s.chunk_size)
        mine = shard_indices(n_chunks, self.dist.rank, self.dist.world_size)
        computed = loaded = 0
        results: dict[int, dict[str, torch.Tensor]] = {}
        bar: Any = None
        if self.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(mine), desc=stage, leave=False, dynamic_ncols=True)
        for idx in mine:
            ckey = f"{key}-chunk{idx:05d}"
            chunk = self.store.load(stage, ckey)
            if chunk is None:
                lo = idx * s.chunk_size
                zc = z[lo : lo + s.chunk_size].to(self.device)
                where = f"latents {lo}..{lo + zc.shape[0] - 1} of {stage}"
                chunk = compute(zc, s.n_examples if idx == 0 else 0, where)
                self.store.save(stage, ckey, chunk)
                computed += 1
            else:
                loaded += 1
            results[idx] = chunk
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        if self.dist.active:
            for part in self.dist.all_gather(results):
                results.update(part)
        merged: dict[str, Any] = {
            k: results[0][k] if k.startswith("adv_") else torch.cat([results[i][k] for i in range(n_chunks)])
            for k in results[0]
        }
        merged["seconds"] = time.perf_counter() - t0
        if self.dist.is_main:
            self.store.save(stage, key, merged)
            for i in range(n_chunks):
                self.store.discard(stage, f"{key}-chunk{i:05d}")
        self.dist.barrier()
        status = "computed" if loaded == 0 else "resumed"
        self._record(stage, key, status, t0, chunks_computed=computed, chunks_loaded=loaded, chunks_total=n_chunks)
        return merged

    # ------------------------------------------------------------------ measurements
    def measure_key(self, name: str, generator_key: str, classifier_key: str) -> str:
        return self._key(
            "measure",
            MEASURE_VERSION,
            generator_key,
            classifier_key,
            self._sample_key(),
            _attack_key(self.attacks["latent"]),
        )

    def run_measure(
        self, name: str, classifier: Any, generator: Any, generator_key: str, classifier_key: str
    ) -> dict[str, Any]:
        """Stage ``measure-<name>``: labels, r_Z, r_in (l2, l-infinity) and image norms per sample."""
        attack = self.attacks["latent"]

        def compute(z: torch.Tensor, keep: int, where: str) -> dict[str, torch.Tensor]:
            return latent_chunk(classifier, generator, z, attack, keep=keep, where=where)

        return self._chunked(f"measure-{name}", self.measure_key(name, generator_key, classifier_key), compute)

    def unc_key(self, name: str, norm: str, generator_key: str, classifier_key: str) -> str:
        return self._key(
            "unc",
            MEASURE_VERSION,
            norm,
            generator_key,
            classifier_key,
            self._sample_key(),
            _attack_key(self.attacks[norm]),
        )

    def run_unc(
        self, name: str, norm: str, classifier: Any, generator: Any, generator_key: str, classifier_key: str
    ) -> dict[str, Any]:
        """Stage ``unc-<name>-<norm>``: r_unc per sample by the image-space attack in ``norm``."""
        attack = self.attacks[norm]
        if getattr(attack, "norm", norm) != norm:
            raise ValueError(f"the attack for norm {norm!r} measures in {attack.norm!r}: {attack!r}")

        def compute(z: torch.Tensor, keep: int, where: str) -> dict[str, torch.Tensor]:
            return image_chunk(classifier, generator, z, attack, keep=keep, where=where)

        return self._chunked(f"unc-{name}-{norm}", self.unc_key(name, norm, generator_key, classifier_key), compute)

    # ------------------------------------------------------------------ modulus
    def modulus_key(self, norm: str, generator_key: str, radii: list[float]) -> str:
        s = self.settings
        return self._key(
            "modulus",
            generator_key,
            norm,
            "estimate",
            [float(r).hex() for r in radii],
            s.modulus_samples,
            s.failure_prob,
            s.modulus_confidence,
            s.modulus_restarts,
            s.modulus_steps,
            s.seed,
            str(self.dtype),
        )

    def run_modulus(self, norm: str, generator: Any, generator_key: str, radii: list[float]) -> dict[str, Any]:
        """Stage ``modulus-<norm>``: omega of the generator in that image norm, with its delta.

        ``modulus_method="estimate"``: :func:`isobound_torch.estimate_modulus`
        (projected gradient ascent, a lower estimate of each supremum);
        ``"given"``: the caller's modulus, recorded as such. Any other method is
        one more entry in :meth:`modulus_function` (and in ``MODULUS_METHODS``):
        a function with ``estimate_modulus``'s common arguments, returning a
        step ``PiecewiseLinear`` with its ``failure_prob``.
        """
        s = self.settings
        t0 = time.perf_counter()
        if s.modulus_method == "given":
            omega = self.moduli[norm]
            self._record(f"modulus-{norm}", "-", "given", t0)
            return {"method": "given", "repr": repr(omega), "failure_prob": float(omega.failure_prob), "object": omega}
        key = self.modulus_key(norm, generator_key, radii)
        stage = f"modulus-{norm}"
        stored = self.store.load(stage, key)
        if stored is not None:
            self._record(stage, key, "loaded", t0)
            return stored  # type: ignore[no-any-return]
        from ..smoothness import required_samples

        function, options = self.modulus_function("estimate")
        kwargs: dict[str, Any] = {
            "radii": radii,
            "n_samples": s.modulus_samples,
            "failure_prob": s.failure_prob,
            "confidence": s.modulus_confidence,
            "seed": derive_seed(s.seed, "modulus"),
            **options,
        }
        omega = function(generator, s.latent_dim, progress=self.progress, norm=norm, device=self.device, **kwargs)
        kwargs.pop("dtype", None)
        out = {
            "method": "estimate",
            "norm": norm,
            "radii": [float(r) for r in np.asarray(omega.radii, dtype=np.float64)],
            "values": [float(v) for v in np.asarray(omega.values, dtype=np.float64)],
            "failure_prob": float(omega.failure_prob),
            "requested_radii": [float(r) for r in radii],
            "settings": {
                **{k: v for k, v in kwargs.items() if k != "radii"},
                "n_samples": s.modulus_samples or required_samples(s.failure_prob, s.modulus_confidence, len(radii)),
            },
            "repr": repr(omega),
            "seconds": time.perf_counter() - t0,
        }
        self.store.save(stage, key, out)
        self._record(stage, key, "computed", t0)
        return out

    def certified_key(self, norm: str, generator_key: str, radii: list[float]) -> str:
        s = self.settings
        return self._key(
            "certified",
            generator_key,
            norm,
            [float(r).hex() for r in radii],
            self._modulus_samples(radii),
            s.failure_prob,
            s.modulus_confidence,
            s.seed,
            str(self.dtype),
            CERTIFY_CHUNK,
        )

    def _modulus_samples(self, radii: Sequence[float]) -> int:
        from ..smoothness import required_samples

        s = self.settings
        return s.modulus_samples or required_samples(s.failure_prob, s.modulus_confidence, len(radii))

    def run_certified(self, norm: str, generator: Any, generator_key: str, radii: list[float]) -> dict[str, Any]:
        """Stage ``certified-<norm>``: a proven upper bound on omega, by bound propagation.

        On the same N latents as the ascent estimate (same seed, same dtype),
        each latent's local modulus is bounded from above at every radius by
        :func:`isobound_torch.certify.certified_local_sup`; omega is the largest
        of the N bounds (the order-statistic argument of
        :func:`isobound_torch.certified_modulus`), so at every radius it is at
        least the estimate. The latents are certified in chunks of
        ``CERTIFY_CHUNK``, each stored at once (an interrupted stage resumes).

        Returns ``{"available": True, "radii", "values", "failure_prob",
        "lipschitz", ...}``, or ``{"available": False, "reason": ...}`` under
        ``modulus_method="both"`` when the generator has a layer the certifier
        does not support or the cost estimate exceeds ``certify_budget``; under
        ``"certified"`` these raise a ``ValueError`` naming the cause.
        """
        from ..certify import UnsupportedModuleError, certified_local_sup, lipschitz_upper_bound
        from ..certify._program import build_program

        s = self.settings
        stage = f"certified-{norm}"
        strict = s.modulus_method == "certified"
        t0 = time.perf_counter()
        key = self.certified_key(norm, generator_key, radii)
        stored = self.store.load(stage, key)
        if stored is not None:
            self._record(stage, key, "loaded", t0)
            return stored  # type: ignore[no-any-return]

        def unavailable(reason: str) -> dict[str, Any]:
            if strict:
                raise ValueError(
                    f"modulus_method='certified' (--modulus certified) cannot certify this generator: {reason}; "
                    "use --modulus estimate (modulus_method='estimate') or --modulus both"
                )
            self._record(stage, key, "skipped", t0, reason=reason)
            log.info("certified omega (%s) not available: %s", norm, reason)
            return {"method": "certified", "norm": norm, "available": False, "reason": reason}

        n = self._modulus_samples(radii)
        m = len(radii)
        if isinstance(generator, torch.jit.ScriptModule):
            return unavailable(
                "a TorchScript generator cannot be traced by the certifier (load it as an nn.Module, "
                "e.g. a package.module:factory SPEC with the state_dict)"
            )
        try:
            program = build_program(generator, (s.latent_dim,))
        except UnsupportedModuleError as exc:
            return unavailable(str(exc))
        except Exception as exc:  # not traceable: a model the certifier cannot read is not certified
            return unavailable(f"{type(exc).__name__}: {exc}")
        rng = torch.Generator().manual_seed(derive_seed(s.seed, "modulus"))
        z = torch.randn(n, s.latent_dim, generator=rng, dtype=self.dtype)  # the estimate's latents
        n_chunks = math.ceil(n / CERTIFY_CHUNK)
        chunk_keys = [f"{key}-chunk{i:05d}" for i in range(n_chunks)]
        done = {i: c for i, ck in enumerate(chunk_keys) if (c := self.store.load(stage, ck)) is not None}
        estimate_s: float | None = None
        if not strict and not done:
            # cost estimate: one latent at the largest radius, then (if that is not already far over
            # the budget) one latent at every radius, extrapolated to N latents
            tp = time.perf_counter()
            certified_local_sup(generator, z[:1], radii[-1:], norm=norm, program=program)
            estimate_s = (time.perf_counter() - tp) * n * m
            if estimate_s <= 10 * s.certify_budget:
                tp = time.perf_counter()
                certified_local_sup(generator, z[:1], radii, norm=norm, program=program)
                estimate_s = (time.perf_counter() - tp) * n
            if estimate_s > s.certify_budget:
                return unavailable(
                    f"its cost is estimated at {estimate_s:.3g} s for {n} latents x {m} radii, over "
                    f"certify_budget={s.certify_budget:g} s (raise --certify-budget, or ask for "
                    "--modulus certified)"
                )
        bar: Any = None
        if self.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=n_chunks, desc=stage, leave=False, dynamic_ncols=True)
        computed = 0
        for i in range(n_chunks):
            if i not in done:
                lo = i * CERTIFY_CHUNK
                bounds = certified_local_sup(generator, z[lo : lo + CERTIFY_CHUNK], radii, norm=norm, program=program)
                done[i] = {"bounds": bounds}
                self.store.save(stage, chunk_keys[i], done[i])
                computed += 1
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        values = torch.cat([done[i]["bounds"] for i in range(n_chunks)]).amax(dim=0).numpy().astype(np.float64)
        if not np.all(np.isfinite(values)):
            bad = float(np.asarray(radii)[~np.isfinite(values)][0])
            return unavailable(f"the certified bound overflowed at latent radius {bad:g}")
        try:
            lip: float | None = float(lipschitz_upper_bound(generator, output_norm=norm, input_shape=(s.latent_dim,)).L)
        except (UnsupportedModuleError, ValueError):  # pragma: no cover - the program above was built
            lip = None
        out = {
            "method": "certified",
            "norm": norm,
            "available": True,
            "radii": [float(r) for r in radii],
            "values": [float(v) for v in values],
            "failure_prob": float(s.failure_prob),
            "confidence": float(s.modulus_confidence),
            "n_samples": n,
            "lipschitz": lip,
            "cost_estimate_seconds": estimate_s,
            "seconds": time.perf_counter() - t0,
        }
        self.store.save(stage, key, out)
        for ck in chunk_keys:
            self.store.discard(stage, ck)
        status = "computed" if len(done) == computed else "resumed"
        self._record(
            stage, key, status, t0, chunks_computed=computed, chunks_loaded=n_chunks - computed, chunks_total=n_chunks
        )
        return out

    def modulus_function(self, method: str) -> tuple[Callable[..., Any], dict[str, Any]]:
        """The function that computes omega by ``method``, and the options only it takes.

        Every such function is called as ``function(generator, latent_dim, *, radii,
        n_samples, failure_prob, confidence, seed, norm, device, progress, **options)``.
        """
        s = self.settings
        if method == "estimate":
            from ..smoothness import estimate_modulus

            return estimate_modulus, {"restarts": s.modulus_restarts, "steps": s.modulus_steps, "dtype": self.dtype}
        raise ValueError(f"no modulus function for modulus_method={method!r}")

    @staticmethod
    def modulus_object(info: Mapping[str, Any]) -> Any:
        """The isobound modulus described by a modulus stage's output."""
        import isobound as ib

        if "object" in info:
            return info["object"]
        return ib.PiecewiseLinear(
            info["radii"], info["values"], interpolation="step", failure_prob=info["failure_prob"]
        )

    # ------------------------------------------------------------------ examples
    def run_examples(
        self,
        classifiers: Mapping[str, Any],
        generator: Any,
        generator_key: str,
        keys: Mapping[str, str],
        measures: Mapping[str, Mapping[str, Any]],
        uncs: Mapping[str, Mapping[str, Mapping[str, Any]]],
    ) -> dict[str, Any]:
        """Stage ``examples``: sample grid plus original / adversarial triples for the pictures.

        The adversarial points come from the measurements (their first chunk keeps
        them), so no attack runs here.
        """
        s = self.settings
        norm = s.norms[0]
        upstream = [
            [self.measure_key(n, generator_key, k), self.unc_key(n, norm, generator_key, k)]
            for n, k in sorted(keys.items())
        ]
        key = self._key("examples", generator_key, upstream, s.n_examples)
        t0 = time.perf_counter()
        stored = self.store.load("examples", key)
        if stored is not None:
            self._record("examples", key, "loaded", t0)
            return stored  # type: ignore[no-any-return]
        z = self.latents()
        with torch.no_grad():
            samples = generator(z[:64].to(self.device)).detach().cpu()
        per: dict[str, Any] = {}
        for name, clf in classifiers.items():
            adv_x = uncs[name][norm]["adv_x"].to(self.device)
            adv_z = measures[name]["adv_z"].to(self.device)
            n = min(len(adv_x), len(adv_z))
            with torch.no_grad():
                x = generator(z[:n].to(self.device))
                x_in = generator(adv_z[:n])
                per[name] = {
                    "x": x.cpu(),
                    "x_unc": adv_x[:n].cpu(),
                    "x_in": x_in.cpu(),
                    "label": clf(x).argmax(1).cpu(),
                    "label_unc": clf(adv_x[:n]).argmax(1).cpu(),
                    "label_in": clf(x_in).argmax(1).cpu(),
                }
        out = {"samples": samples, "pairs": per}
        self.store.save("examples", key, out)
        self._record("examples", key, "computed", t0)
        return out

    # ------------------------------------------------------------------ lower bounds
    def lower_method(self, classifier: Any, norm: str, image_shape: Sequence[int]) -> tuple[str | None, str]:
        """The method ``lower_bounds`` resolves to for this classifier and norm, or ``(None, why not)``.

        Looks at the layers only (no bound is computed): ``"exact"`` needs ``norm="linf"``
        and a network that :func:`isobound_torch.exact_unsupported` accepts;
        ``"certified"`` one whose layers the certified bounds support; ``"auto"`` tries
        them in that order, the exact oracle only up to ``AUTO_EXACT_MAX_HIDDEN`` hidden
        ReLUs (its cost grows exponentially with the unstable ones).
        """
        requested = self.settings.lower_bounds
        reasons: list[str] = []
        shape = tuple(int(v) for v in image_shape)
        if requested in ("exact", "auto"):
            from ..exact import exact_unsupported

            why = (
                exact_unsupported(classifier, shape)
                if norm == "linf"
                else f"the exact oracle computes l_inf (and l_1) distances only, not {norm}"
            )
            if why is None and requested == "auto":
                from ..exact import _extract

                hidden = _extract(classifier, shape).n_hidden
                if hidden > AUTO_EXACT_MAX_HIDDEN:
                    why = (
                        f"{hidden} hidden ReLUs, above the {AUTO_EXACT_MAX_HIDDEN} that lower_bounds='auto' solves "
                        "exactly (too slow beyond; lower_bounds='exact' forces it)"
                    )
            if why is None:
                return "exact", ""
            reasons.append(f"exact: {why}")
        if requested in ("certified", "auto"):
            from ..certify import UnsupportedModuleError
            from ..certify._program import build_program

            try:
                build_program(classifier, shape, name="classifier")
            except UnsupportedModuleError as err:
                reasons.append(f"certified: {err}")
            else:
                return "certified", ""
        return None, "; ".join(reasons)

    def _lower_box(self, norm: str) -> tuple[float, float] | None:
        """The box of the image-space attack in ``norm`` (the lower bound must bound the same distance)."""
        box = getattr(self.attacks[norm], "bounds", None)
        return None if box is None else (float(box[0]), float(box[1]))

    def lower_key(self, name: str, norm: str, method: str, generator_key: str, classifier_key: str) -> str:
        s = self.settings
        return self._key(
            "lower",
            LOWER_VERSION,
            norm,
            method,
            generator_key,
            classifier_key,
            self._sample_key(),
            min(s.lower_bound_samples, s.n_samples),
            LOWER_CHUNK,
            repr(self._lower_box(norm)),
        )

    def run_lower(
        self, name: str, norm: str, classifier: Any, generator: Any, generator_key: str, classifier_key: str
    ) -> dict[str, Any]:
        """Stage ``lower-<name>-<norm>``: proven lower bounds on r_unc of the first ``lower_bound_samples`` samples.

        Returns ``{"method", "n", "lower", ...}`` (``"upper"`` and ``"status"`` too for the
        exact oracle), or ``{"method": None, "reason": ..., "n": ...}`` where no method
        applies (nothing is stored then). Runs on one process, in checkpoints of
        ``LOWER_CHUNK`` samples.
        """
        s = self.settings
        t0 = time.perf_counter()
        n = min(s.lower_bound_samples, s.n_samples)
        z = self.latents()
        stage = f"lower-{name}-{norm}"
        # the very images the attack measured: generated in the measurement's chunks (a generator's
        # float32 output can depend on the batch it is computed in, by rounding)
        parts = []
        with torch.no_grad():
            for lo in range(0, n, s.chunk_size):
                zc = z[lo : lo + s.chunk_size].to(self.device)
                where = f"latents {lo}..{lo + zc.shape[0] - 1} of {stage}"
                parts.append(check_images(generator(zc), zc.shape[0], where)[: n - lo])
        images = torch.cat(parts)
        method, why = self.lower_method(classifier, norm, images.shape[1:])
        if method is None:
            log.info("stage %-24s not available: %s", stage, why)
            return {"method": None, "reason": why, "n": n}
        key = self.lower_key(name, norm, method, generator_key, classifier_key)
        stored = self.store.load(stage, key)
        if stored is not None:
            self._record(stage, key, "loaded", t0, method=method)
            return stored  # type: ignore[no-any-return]
        box = self._lower_box(norm)
        n_chunks = math.ceil(n / LOWER_CHUNK)
        chunks: list[dict[str, Any]] = []
        computed = loaded = 0
        for idx in range(n_chunks):
            ckey = f"{key}-chunk{idx:05d}"
            chunk = self.store.load(stage, ckey)
            if chunk is None:
                lo = idx * LOWER_CHUNK
                chunk = lower_bound_chunk(classifier, images[lo : lo + LOWER_CHUNK], norm, method, box)
                self.store.save(stage, ckey, chunk)
                computed += 1
            else:
                loaded += 1
            chunks.append(chunk)
        out: dict[str, Any] = {
            "method": method,
            "norm": norm,
            "n": n,
            "bounds": box,
            "lower": torch.cat([c["lower"] for c in chunks]),
        }
        if method == "exact":
            out["upper"] = torch.cat([c["upper"] for c in chunks])
            out["status"] = [v for c in chunks for v in c["status"]]
        out["seconds"] = time.perf_counter() - t0
        self.store.save(stage, key, out)
        for i in range(n_chunks):
            self.store.discard(stage, f"{key}-chunk{i:05d}")
        status = "computed" if loaded == 0 else "resumed"
        self._record(
            stage, key, status, t0, method=method, chunks_computed=computed, chunks_loaded=loaded, chunks_total=n_chunks
        )
        return out

    # ------------------------------------------------------------------ everything
    def evaluate(
        self,
        generator: Any,
        generator_key: str,
        classifiers: Mapping[str, Any],
        classifier_keys: Mapping[str, str],
        *,
        n_classes: int,
        classifier_info: Mapping[str, Mapping[str, Any]] | None = None,
        meta: Mapping[str, Any] | None = None,
        run_dir: Path | None = None,
        t_start: float | None = None,
    ) -> EvaluationResult:
        """Measure every classifier on the generator, bound, audit and report.

        Parameters
        ----------
        generator : callable
            ``g``: Gaussian latents ``(B, d)`` to images, on the device.
        generator_key : str
            The generator's stage key (what identifies its weights / behaviour).
        classifiers : mapping
            ``{name: f}``; each maps images to ``(B, n_classes)`` logits.
        classifier_keys : mapping
            ``{name: stage key}``.
        n_classes : int
            K, the number of logits (the equiprobable column's K).
        classifier_info : mapping, optional
            ``{name: {"test_error": ..., "clean_acc": ..., ...}}`` shown in the report.
        meta : mapping, optional
            Report fields: ``title``, ``dataset`` (``name``, ``classes``, ...),
            ``models``, ``config``, ``generator_name``.
        run_dir : Path, optional
            Where the report files go (``None``: nothing is written).
        t_start : float, optional
            ``time.perf_counter()`` at the start of the whole run (for the total).
        """
        s = self.settings
        t_start = time.perf_counter() if t_start is None else t_start
        names = list(classifiers)
        measures = {n: self.run_measure(n, classifiers[n], generator, generator_key, classifier_keys[n]) for n in names}
        uncs = {
            n: {
                norm: self.run_unc(n, norm, classifiers[n], generator, generator_key, classifier_keys[n])
                for norm in s.norms
            }
            for n in names
        }
        if not self.dist.is_main:
            return EvaluationResult(run_dir=run_dir, stages=self.records, rank=self.dist.rank)
        props = {n: rep.class_proportions(measures[n]["labels"].numpy(), n_classes) for n in names}
        delta = (
            s.failure_prob if s.modulus_method != "given" else max(float(m.failure_prob) for m in self.moduli.values())
        )
        latent_bounds, equi, needed = compute_bounds(
            props,
            n_classes,
            s.latent_dim,
            s.quantile,
            delta,
            n_samples=s.n_samples,
            confidence=s.ci_level,
            also=(0.25,),
        )
        radii = _merge_radii(s.radii, needed)
        method = s.modulus_method
        modulus_info: dict[str, dict[str, Any]] = {}
        certified_info: dict[str, dict[str, Any]] = {}
        for norm in s.norms:
            if method in ("estimate", "both", "given"):
                modulus_info[norm] = self.run_modulus(norm, generator, generator_key, radii)
            if method in ("certified", "both"):
                certified_info[norm] = self.run_certified(norm, generator, generator_key, radii)
        # omegas[norm] = {"estimate" | "certified" | "given": isobound modulus}, the ones available
        omegas: dict[str, dict[str, Any]] = {norm: {} for norm in s.norms}
        for norm in s.norms:
            if norm in modulus_info:
                omegas[norm][modulus_info[norm]["method"]] = self.modulus_object(modulus_info[norm])
            if certified_info.get(norm, {}).get("available"):
                omegas[norm]["certified"] = self.modulus_object(certified_info[norm])
        examples = self.run_examples(classifiers, generator, generator_key, classifier_keys, measures, uncs)
        lowers = (
            {
                n: {
                    norm: self.run_lower(n, norm, classifiers[n], generator, generator_key, classifier_keys[n])
                    for norm in s.norms
                }
                for n in names
            }
            if s.lower_bounds != "none"
            else {}
        )
        t_report = time.perf_counter()
        report = _assemble(
            s,
            meta or {},
            self.device,
            self.dist,
            measures,
            uncs,
            dict(classifier_info or {}),
            props,
            latent_bounds,
            equi,
            omegas,
            modulus_info,
            certified_info,
            {k: _attack_key(v) for k, v in self.attacks.items()},
            n_classes,
        )
        if lowers:
            report["lower_bounds"] = rep.json_ready(lower_bound_report(s, report, lowers, uncs))
        primary = {norm: omegas[norm][report["modulus_used"][norm]] for norm in s.norms}
        plotters = _plotters(s, report, measures, uncs, latent_bounds, equi, primary, examples, meta or {})
        files: dict[str, Path] = {}
        removed: list[str] = []
        redrawn: list[str] = []
        if run_dir is not None:
            keys_file = run_dir / "stages" / "plots.json"
            try:
                drawn = json.loads(keys_file.read_text())
            except (OSError, ValueError):
                drawn = {}
            for role, (key, draw) in plotters.items():
                path = run_dir / f"{role}.png"
                if not (drawn.get(role) == key and path.is_file()):  # an unchanged picture is kept as it is
                    atomic_write(path, draw)
                    redrawn.append(role)
                files[role] = path
            atomic_write(
                keys_file,
                lambda p: p.write_text(json.dumps({r: k for r, (k, _) in plotters.items()}), encoding="utf-8"),
            )
            removed = remove_stale(run_dir, {p.name for p in files.values()}, ("cdf_*.png", "omega_*.png"))
            for name in removed:
                log.info("removed %s: a plot of an earlier run that this report does not own", name)
        self.records.append(StageRecord("report", "-", "computed", time.perf_counter() - t_report, {}))
        report["stages"] = [r.as_dict() for r in self.records]
        report["total_seconds"] = time.perf_counter() - t_start
        report["files"] = {k: str(v.name) for k, v in files.items()}
        report["removed_files"] = removed
        report["redrawn_plots"] = redrawn
        if run_dir is not None:
            atomic_write(
                run_dir / "report.json", lambda p: p.write_text(rep.write_json(p, report) + "\n", encoding="utf-8")
            )
            files["report_json"] = run_dir / "report.json"
            md = _markdown(report)
            atomic_write(run_dir / "report.md", lambda p: p.write_text(md, encoding="utf-8"))
            files["report_md"] = run_dir / "report.md"
        clean = rep.json_ready(report)
        return EvaluationResult(
            run_dir=run_dir,
            report=clean,
            table=clean["table_markdown"],
            tables=dict(clean["tables"]),
            stages=self.records,
            files=files,
            _plotters={role: draw for role, (_, draw) in plotters.items()},
        )


# ---------------------------------------------------------------------------------------
# the report
# ---------------------------------------------------------------------------------------


def _omega_text(method: str, delta: float) -> str:
    if method == "estimate":
        return f"omega estimated by ascent, delta = {delta:g}"
    if method == "given":
        return f"omega given, delta = {delta:g}"
    return f"omega certified, delta = {delta:g}"


def _confidence(
    s: EvaluationSettings,
    n_classifiers: int,
    n_audits: int,
    per_audit: float,
    used: Mapping[str, str],
    status: Mapping[str, Mapping[str, Any]],
    omegas: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    """One overall confidence for each bound in the report, and which numbers are estimates.

    The top-level ``image_*`` fields describe the primary omega (``modulus_used``);
    ``by_modulus`` gives the status and confidence of the numbers under each omega.
    """
    a1 = 1.0 - s.ci_level
    primaries = set(used.values())
    primary = "given" if "given" in primaries else ("estimate" if "estimate" in primaries else "certified")
    st = status[primary]
    reasons = {
        "estimate": (
            "omega is estimated by projected gradient ascent, which can only under-estimate each supremum; "
            "the image-space bounds and ceilings hold at the stated confidence only if the ascent reached "
            "the supremum, so they are estimates, not proofs"
        ),
        "certified": (
            "omega is certified (an upper bound proven by bound propagation at every sampled latent), so "
            "the image-space numbers are proven at the stated confidence"
        ),
        "given": "omega was given by the caller; the image-space numbers hold if that modulus does",
    }
    a2 = 1.0 - st["equiprobable_confidence"]
    methods = sorted({m for per in omegas.values() for m in per})
    return {
        "proportion_box_level": s.ci_level,
        "modulus_method": s.modulus_method,
        "modulus_confidence": s.modulus_confidence if s.modulus_method != "given" else None,
        "failure_prob": s.failure_prob if s.modulus_method != "given" else None,
        "latent_own_status": "proven",
        "latent_own_confidence": s.ci_level,
        "latent_equiprobable_status": "exact for a classifier whose predictions are K equiprobable classes",
        "latent_equiprobable_confidence": 1.0,
        "image_status": st["status"],
        "image_modulus": primary,
        "image_own_confidence": st["own_confidence"],
        "image_equiprobable_confidence": st["equiprobable_confidence"],
        "simultaneous_own_confidence": max(0.0, 1.0 - n_classifiers * a1 - a2),
        "image_status_reason": reasons[primary],
        "by_modulus": {
            m: {
                **status[m],
                "simultaneous_own_confidence": max(0.0, 1.0 - n_classifiers * a1 - status[m]["alpha_equiprobable"]),
                "reason": reasons[m],
                "norms": [norm for norm in s.norms if m in omegas[norm]],
            }
            for m in methods
        },
        "audits": {
            "n": n_audits,
            "family_confidence": s.audit_confidence,
            "per_audit_confidence": per_audit,
            "correction": "Bonferroni",
            "against": {norm: {"modulus": used[norm], "status": status[used[norm]]["status"]} for norm in s.norms},
        },
        "estimates": [
            "empirical quantiles of measured distances (order statistics; each interval at ci_level on its own)",
            "measured distances and measured robust accuracy (an attack over-estimates each minimal distance, "
            "so measured robust accuracy is an upper estimate)",
        ]
        + (
            ["the ascent omega (a lower estimate of omega) and every number built on it"]
            if "estimate" in methods
            else []
        ),
    }


def _primary(available: Mapping[str, Any]) -> str:
    """The omega behind a norm's single-omega fields and audits: given, else the estimate, else certified."""
    for meth in ("given", "estimate", "certified"):
        if meth in available:
            return meth
    raise RuntimeError("no modulus available")  # pragma: no cover - evaluate always has one


def _modulus_status(s: EvaluationSettings, method: str) -> dict[str, Any]:
    """Status and overall confidence of the image-space numbers built on omega obtained by ``method``.

    The union bound over their inputs: alpha = (1 - ci_level) for the proportion box (own
    proportions only) + (1 - modulus_confidence) for omega (0 for a given omega).
    """
    a_box = 1.0 - s.ci_level
    a_mod = 0.0 if method == "given" else 1.0 - s.modulus_confidence
    own, equi = max(0.0, 1.0 - a_box - a_mod), 1.0 - a_mod
    if method == "certified":
        st, label = "proven", f"proven at confidence 1 - alpha = {own:.4g} (own), {equi:.4g} (equiprobable)"
    elif method == "estimate":
        st, label = "estimate", "estimate (ascent omega: a lower estimate of omega)"
    else:
        st, label = "assumed", "assumed (omega given by the caller)"
    return {
        "status": st,
        "label": label,
        "alpha_own": a_box + a_mod,
        "alpha_equiprobable": a_mod,
        "own_confidence": own,
        "equiprobable_confidence": equi,
    }


def _image_bound(
    bound: Any, q: float, mean_norm: float, status: Mapping[str, Any], *, equiprobable: bool = False
) -> dict[str, Any]:
    raw = float(bound.ppf(q))
    return {
        "image": raw / mean_norm,
        "image_raw": raw,
        "image_raw_q25": raw if q == 0.25 else float(bound.ppf(0.25)),
        "status": status["status"],
        "confidence": status["equiprobable_confidence" if equiprobable else "own_confidence"],
    }


def _ceilings_at(
    eps: float, omega: Any, equi: Any, latent_bounds: Mapping[str, Any], equal: np.ndarray
) -> dict[str, Any]:
    """The robust-accuracy ceilings at ``eps`` under one omega (see :func:`.report.ceiling_table`)."""
    # omega^{-1}(eps) rounded down: a smaller latent radius can only raise a ceiling
    latent_radius = float(omega.inverse(eps)) * (1.0 - 1e-12)
    delta = float(omega.failure_prob)
    return {
        "latent_radius": latent_radius,
        "any_classifier": float(rep.any_classifier_ceiling(equal, latent_radius, delta)),
        "equiprobable": float(equi.through(omega).sf(eps)),
        "classifiers": {name: float(b.through(omega).sf(eps)) for name, b in latent_bounds.items()},
    }


def _sandwich(available: Mapping[str, Any], certified: Mapping[str, Any] | None) -> dict[str, Any]:
    """Per radius: ascent estimate (lower), certified bound (upper), their ratio, and t L of the global bound."""
    out: dict[str, Any] = {
        "available": "certified" in available,
        "reason": None if certified is None else certified.get("reason"),
        "estimate_is": "lower estimate of omega (projected gradient ascent)",
        "certified_is": "upper bound on omega (bound propagation), proven at modulus_confidence",
    }
    if certified is None:
        out["reason"] = "not requested (modulus_method)"
    if "certified" not in available:
        return out
    radii = np.asarray(certified["radii"], dtype=np.float64)
    cert = np.asarray(certified["values"], dtype=np.float64)
    out["radii"] = radii.tolist()
    out["certified"] = cert.tolist()
    est = None
    if "estimate" in available:
        est = np.array([float(available["estimate"](r)) for r in radii])
        out["estimate"] = est.tolist()
        with np.errstate(divide="ignore", invalid="ignore"):
            out["ratio"] = [float(c / e) if e > 0 else None for c, e in zip(cert, est, strict=True)]
    lip = certified.get("lipschitz")
    out["global_lipschitz"] = lip
    out["global_bound"] = None if lip is None else (radii * lip).tolist()
    return out


def _assemble(
    s: EvaluationSettings,
    meta: Mapping[str, Any],
    device: torch.device,
    dist: DistContext,
    measures: Mapping[str, Mapping[str, Any]],
    uncs: Mapping[str, Mapping[str, Mapping[str, Any]]],
    clf_info: Mapping[str, Mapping[str, Any]],
    props: Mapping[str, np.ndarray],
    latent_bounds: Mapping[str, Any],
    equi: Any,
    omegas: Mapping[str, Mapping[str, Any]],
    modulus_info: Mapping[str, Mapping[str, Any]],
    certified_info: Mapping[str, Mapping[str, Any]],
    attack_keys: Mapping[str, str],
    n_classes: int,
) -> dict[str, Any]:
    """The JSON report. ``omegas[norm]`` holds the moduli available (``estimate``, ``certified``, ``given``).

    The legacy single-omega fields (``bound``, each ceiling row's ``ceiling`` /
    ``equiprobable`` / ``any_classifier``, the RobustBench ``status``) and the
    audits use the *primary* omega of each norm, ``modulus_used[norm]``: the
    estimate when there is one (it is the number the audit is meant to check),
    else the certified or the given one. Every omega's numbers are under
    ``bounds[method]`` / ``by_modulus[method]`` with their status and confidence.
    """
    import isobound as ib

    q = s.quantile
    used = {norm: _primary(omegas[norm]) for norm in s.norms}
    status = {meth: _modulus_status(s, meth) for meth in ("estimate", "certified", "given")}
    names = list(measures)
    primary = s.norms[0]
    ez = float(ib.expected_gaussian_norm(s.latent_dim))
    first = measures[names[0]]
    image_norms = {"l2": first["image_norms"].numpy(), "linf": first["image_norms_linf"].numpy()}
    mean_norm = {norm: float(image_norms[norm].mean()) for norm in IMAGE_NORMS}
    n_audits = len(names) * (1 + 2 * len(s.norms))
    per_audit = rep.bonferroni_confidence(s.audit_confidence, n_audits)
    equal = np.full(n_classes, 1.0 / n_classes)
    classifiers: dict[str, Any] = {}
    ceilings: dict[str, list[dict[str, Any]]] = {norm: [] for norm in s.norms}
    equi_images = {norm: equi.through(omegas[norm][used[norm]]) for norm in s.norms}
    for name in names:
        m = measures[name]
        latent = latent_bounds[name]
        info = dict(clf_info.get(name, {}))
        test_error = info.get("test_error")
        r_z = m["r_z"].numpy()
        z_raw = float(latent.ppf(q))
        z_emp = rep.empirical_quantile(r_z, q, level=s.ci_level).scaled(1.0 / ez).as_dict()
        z_audit = ib.audit_robustness(r_z, latent, confidence=per_audit).as_dict()
        per_norm: dict[str, Any] = {}
        per_sample: dict[str, Any] = {"label": m["labels"].tolist(), "r_z": r_z}
        for norm in s.norms:
            image = latent.through(omegas[norm][used[norm]])
            r_in = (m["r_in"] if norm == "l2" else m[f"r_in_{norm}"]).numpy()
            r_unc = uncs[name][norm]["r_unc"].numpy()
            suffix = "" if norm == "l2" else f"_{norm}"
            per_sample[f"r_in{suffix}"] = r_in
            per_sample[f"r_unc{suffix}"] = r_unc
            dists = {"in": r_in, "unc": r_unc}
            image_raw = float(image.ppf(q))
            per_norm[norm] = {
                "attack": attack_keys[norm],
                "bound": {
                    "image": image_raw / mean_norm[norm],
                    "image_raw": image_raw,
                    "image_raw_q25": image_raw if q == 0.25 else float(image.ppf(0.25)),
                    "modulus": used[norm],
                },
                "bounds": {
                    meth: _image_bound(latent.through(o), q, mean_norm[norm], status[meth])
                    for meth, o in omegas[norm].items()
                },
                "audit_bound": {"modulus": used[norm], "status": status[used[norm]]["status"]},
                "empirical": {
                    k: rep.empirical_quantile(v, q, level=s.ci_level).scaled(1.0 / mean_norm[norm]).as_dict()
                    for k, v in dists.items()
                },
                "audit": {k: ib.audit_robustness(v, image, confidence=per_audit).as_dict() for k, v in dists.items()},
                "success_rate": {"unc": float(uncs[name][norm]["ok_unc"].float().mean())},
            }
        classifiers[name] = {
            **info,
            "test_error": None if test_error is None else float(test_error),
            "clean_acc": None if test_error is None else 1.0 - float(test_error),
            "class_proportions": props[name].tolist(),
            # the proportions the bound uses: majorizing every vector in the
            # simultaneous ci_level intervals around the estimate
            "bound_class_proportions": {
                "confidence": s.ci_level,
                "values": [float(v) for v in np.sort(latent.class_probs)[::-1]],
            },
            "bound": {
                "z": z_raw / ez,
                "z_raw": z_raw,
                "image": per_norm[primary]["bound"]["image"],
                "image_raw": per_norm[primary]["bound"]["image_raw"],
            },
            "empirical": {"z": z_emp, **per_norm[primary]["empirical"]},
            "audit": {"z": z_audit, **per_norm[primary]["audit"]},
            "success_rate": {
                "z": float(m["ok_z"].float().mean()),
                "in": float(m["ok_in"].float().mean()),
                "unc": per_norm[primary]["success_rate"]["unc"],
            },
            "norms": per_norm,
            "per_sample": per_sample,
        }
    for norm in s.norms:
        for eps in s.epsilons:
            by_modulus = {
                meth: {
                    **_ceilings_at(eps, omega, equi, latent_bounds, equal),
                    "status": status[meth]["status"],
                    "confidence": status[meth]["own_confidence"],
                    "confidence_equiprobable": status[meth]["equiprobable_confidence"],
                    "label": status[meth]["label"],
                }
                for meth, omega in omegas[norm].items()
            }
            main = by_modulus[used[norm]]
            row: dict[str, Any] = {
                "eps": eps,
                "eps_text": rep.format_epsilon(eps),
                "latent_radius": main["latent_radius"],
                "any_classifier": main["any_classifier"],
                "equiprobable": main["equiprobable"],
                "modulus": used[norm],
                "classifiers": {},
                "by_modulus": by_modulus,
            }
            for name in names:
                c = classifiers[name]
                r_unc = np.asarray(c["per_sample"]["r_unc" if norm == "l2" else f"r_unc_{norm}"], dtype=np.float64)
                r_in = np.asarray(c["per_sample"]["r_in" if norm == "l2" else f"r_in_{norm}"], dtype=np.float64)
                row["classifiers"][name] = {
                    "ceiling": main["classifiers"][name],
                    "measured_robust_acc": float(np.mean(r_unc > eps)),
                    "measured_in_distribution_robust_acc": float(np.mean(r_in > eps)),
                }
            ceilings[norm].append(row)
    dataset = dict(meta.get("dataset", {}))
    dataset.setdefault("name", "generated")
    dataset.setdefault("n_classes", n_classes)
    dataset.setdefault("classes", [str(k) for k in range(n_classes)])
    upper: dict[str, Any] = {
        "n_classes": n_classes,
        "z_raw": float(equi.ppf(q)),
        "norms": {
            norm: {
                "image_raw": float(equi_images[norm].ppf(q)),
                "image": float(equi_images[norm].ppf(q)) / mean_norm[norm],
                "modulus": used[norm],
                "bounds": {
                    meth: _image_bound(equi.through(o), q, mean_norm[norm], status[meth], equiprobable=True)
                    for meth, o in omegas[norm].items()
                },
            }
            for norm in s.norms
        },
    }
    upper["z"] = upper["z_raw"] / ez
    upper["image"] = upper["norms"][primary]["image"]
    upper["image_raw"] = upper["norms"][primary]["image_raw"]
    modulus_report = {
        norm: {k: v for k, v in (modulus_info.get(norm) or certified_info[norm]).items() if k != "object"}
        for norm in s.norms
    }
    for norm, info in modulus_report.items():
        info.setdefault("interpolation", "step")
        info["norm"] = norm
    moduli_report = {
        norm: {
            **({modulus_info[norm]["method"]: modulus_report[norm]} if norm in modulus_info else {}),
            **({"certified": dict(certified_info[norm])} if norm in certified_info else {}),
        }
        for norm in s.norms
    }
    sandwich = {norm: _sandwich(omegas[norm], certified_info.get(norm)) for norm in s.norms}
    report: dict[str, Any] = {
        "title": meta.get("title", "isobound evaluate"),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": rep.versions(),
        "device": str(device),
        "world_size": dist.world_size,
        "dataset": dataset,
        "models": dict(meta.get("models", {})),
        "settings": {
            "quantile": q,
            "failure_prob": max(float(o.failure_prob) for per in omegas.values() for o in per.values()),
            "n_samples": s.n_samples,
            "latent_dim": s.latent_dim,
            "latent_prior": s.latent_prior,
            "norms": list(s.norms),
            "epsilons": list(s.epsilons),
            "expected_latent_norm": ez,
            "mean_image_norm": mean_norm[primary],
            "mean_image_norms": {norm: mean_norm[norm] for norm in s.norms},
            "audit_confidence": s.audit_confidence,
            "audit_confidence_per_test": per_audit,
            "n_audits": n_audits,
            "ci_level": s.ci_level,
            "modulus_confidence": s.modulus_confidence,
            "modulus_method": s.modulus_method,
            "seed": s.seed,
            "attacks": dict(attack_keys),
        },
        "evaluation_settings": s.as_dict(),
        "modulus": modulus_report,
        "moduli": moduli_report,
        "modulus_used": used,
        "sandwich": sandwich,
        "upper_bound": upper,
        "classifiers": classifiers,
        "ceilings": ceilings,
        "confidence": _confidence(s, len(names), n_audits, per_audit, used, status, omegas),
        "image_norms": image_norms[primary],
    }
    if "config" in meta:
        report["config"] = meta["config"]
    report = rep.json_ready(report)
    report["tables"] = {norm: rep.markdown_table(report, norm=norm) for norm in s.norms}
    report["ceiling_tables"] = {norm: rep.ceiling_table(report, norm) for norm in s.norms} if s.epsilons else {}
    # one table per omega: {norm: {"estimate": table, "certified": table}}
    report["ceiling_tables_by_modulus"] = (
        {norm: {meth: rep.ceiling_table(report, norm, modulus=meth) for meth in omegas[norm]} for norm in s.norms}
        if s.epsilons
        else {}
    )
    report["robustbench"] = rep.robustbench_records(report)
    parts: list[str] = []
    for norm in s.norms:
        if len(s.norms) > 1:
            parts.append(f"Image norm {rep.threat_model(norm)}:")
        parts.append(report["tables"][norm])
        if s.epsilons:
            if len(omegas[norm]) > 1:
                parts.append(f"Under the {used[norm]} omega ({status[used[norm]]['label']}):")
            parts.append(report["ceiling_tables"][norm])
            for meth, table in report["ceiling_tables_by_modulus"][norm].items():
                if meth != used[norm]:
                    parts.append(f"Under the {meth} omega ({status[meth]['label']}):\n\n{table}")
    report["table_markdown"] = "\n\n".join(parts)
    return report


_LOWER_DESCRIPTIONS = {
    "certified": (
        "certified radius (isobound_torch.certified_radius: the margin over a certified Lipschitz bound, or bound "
        "propagation over the perturbation set, the larger kept), in float64 with rounding accounted for"
    ),
    "exact": (
        "exact oracle (isobound_torch.exact_distance: mixed-integer program solved by HiGHS; the solver's dual "
        "bound less a slack for its tolerances)"
    ),
}
_LOWER_STATUS = {
    "certified": "proven (deterministic, confidence 1), for the network's float64 function with its stored weights",
    "exact": (
        "proven to the MILP solver's floating-point tolerances (deterministic, confidence 1), for the network's "
        "float64 function with its stored weights"
    ),
}


def _median(v: np.ndarray) -> float | None:
    return float(np.median(v)) if v.size else None


def lower_bound_report(
    s: EvaluationSettings,
    report: Mapping[str, Any],
    lowers: Mapping[str, Mapping[str, Mapping[str, Any]]],
    uncs: Mapping[str, Mapping[str, Mapping[str, Any]]],
) -> dict[str, dict[str, dict[str, Any]]]:
    """The report's ``lower_bounds`` block: ``{classifier: {norm: proven lower vs measured, per sample}}``.

    Per sample ``i`` of the first ``n``: ``proven_lower_bound[i] <= d*_i <=
    measured_attack_upper_estimate[i]``, ``d*_i`` the minimal perturbation of
    generated image ``i`` in that norm (inside the attack's box, if it has one).
    A lower bound above the measured distance contradicts one of the two (a bug in the
    attack or in the certificate, or the float32 forward pass of the model against the
    float64 function the bound is about): every such sample is listed under
    ``violations``, ``consistent`` is false, and the report says so in bold; nothing is
    adjusted. ``inf`` (``None`` in JSON): the attack failed, or no point of the box is
    adversarial.
    """
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for name, per_norm in lowers.items():
        out[name] = {}
        for norm, info in per_norm.items():
            n = int(info["n"])
            measured = uncs[name][norm]["r_unc"].numpy()[:n].astype(np.float64)
            block: dict[str, Any] = {"requested": s.lower_bounds, "n_samples": n}
            if info["method"] is None:
                block.update({"method": f"not available: {info['reason']}", "available": False})
                out[name][norm] = block
                continue
            method = str(info["method"])
            lower = info["lower"].numpy().astype(np.float64)
            ratio_ok = np.isfinite(measured) & (measured > 0) & np.isfinite(lower)
            bad = np.nonzero(lower > measured)[0]
            violations = [
                {
                    "index": int(i),
                    "proven_lower_bound": float(lower[i]),
                    "measured": float(measured[i]),
                    "relative_excess": float(lower[i] / measured[i] - 1.0) if measured[i] > 0 else math.inf,
                }
                for i in bad
            ]
            if violations:
                log.error(
                    "lower bounds of %s (%s) exceed the measured distance on %d of %d samples (first: %s): a bug in "
                    "the attack or in the certificate",
                    name,
                    norm,
                    len(violations),
                    n,
                    violations[0],
                )
            q = s.quantile
            summary: dict[str, Any] = {
                "median_proven_lower_bound": _median(lower),
                "median_measured": _median(measured),
                "fraction_lower_positive": float(np.mean(lower > 0)),
                "median_ratio_lower_over_measured": _median(lower[ratio_ok] / measured[ratio_ok]),
                "n_ratio": int(ratio_ok.sum()),
                "quantile": q,
                "quantile_proven_lower_bound": float(np.quantile(lower, q, method="inverted_cdf")),
                "quantile_measured": float(np.quantile(measured, q, method="inverted_cdf")),
                "bound_image_raw": report["classifiers"][name]["norms"][norm]["bound"]["image_raw"],
            }
            block.update(
                {
                    "method": method,
                    "available": True,
                    "description": _LOWER_DESCRIPTIONS[method],
                    "status": _LOWER_STATUS[method],
                    "bounds": None if info.get("bounds") is None else list(info["bounds"]),
                    "sample_indices": f"the first {n} generated samples (0..{n - 1})",
                    "proven_lower_bound": lower,
                    "measured_attack_upper_estimate": measured,
                    "summary": summary,
                    "consistent": not violations,
                    "violations": violations,
                    "seconds": float(info.get("seconds", 0.0)),
                }
            )
            if method == "exact":
                upper = info["upper"].numpy().astype(np.float64)
                status = list(info["status"])
                block["exact_upper_bound"] = upper  # the norm of a verified adversarial point: d* <= this
                block["exact_status"] = status
                summary["fraction_optimal"] = float(np.mean([v == "optimal" for v in status]))
                summary["median_exact_upper_bound"] = _median(upper)
            out[name][norm] = block
    return out


def _lower_bound_markdown(report: Mapping[str, Any]) -> list[str]:
    """The report's section on per-sample lower bounds (empty without ``lower_bounds``)."""
    blocks = report.get("lower_bounds")
    if not blocks:
        return []
    def fmt(v: float | None) -> str:
        return "-" if v is None else f"{v:.4g}"

    q = round(100 * report["settings"]["quantile"])
    lines = [
        "## Per-sample lower bounds on r_unc",
        "",
        "For the first generated samples, a **proven lower bound** on each sample's minimal image-space "
        "perturbation that changes the classifier's decision, next to the **measured** distance (attack, "
        "upper estimate) on the same samples: per sample, proven lower <= true minimal distance <= measured. "
        "Raw distances (not normalised). The bound column is the classifier's image-space bound on the "
        f"{q}% quantile of the true distance over all generated data (Theorem 1, as in the tables above), "
        "not a per-sample value.",
        "",
        f"| classifier | norm | method | n | median proven lower | median measured (attack, upper estimate) "
        f"| lower > 0 | median lower / measured | {q}% quantile: proven lower / measured / bound | consistent |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    notes: list[str] = []
    for name, per_norm in blocks.items():
        for norm, b in per_norm.items():
            tm = rep.threat_model(norm)
            if not b["available"]:
                lines.append(f"| `{name}` | {tm} | not available | {b['n_samples']} | - | - | - | - | - | - |")
                notes.append(f"- `{name}`, {tm}: {b['method']}.")
                continue
            sm = b["summary"]
            lines.append(
                f"| `{name}` | {tm} | {b['method']} | {b['n_samples']} | {fmt(sm['median_proven_lower_bound'])} | "
                f"{fmt(sm['median_measured'])} | {100 * sm['fraction_lower_positive']:.3g}% | "
                f"{fmt(sm['median_ratio_lower_over_measured'])} | {fmt(sm['quantile_proven_lower_bound'])} / "
                f"{fmt(sm['quantile_measured'])} / {fmt(sm['bound_image_raw'])} | "
                f"{'yes' if b['consistent'] else '**NO**'} |"
            )
            if not b["consistent"]:
                v = b["violations"]
                notes.append(
                    f"- **INCONSISTENT: `{name}`, {tm}: the proven lower bound exceeds the measured distance on "
                    f"{len(v)} of {b['n_samples']} samples** (first: sample {v[0]['index']}, lower "
                    f"{fmt(v[0]['proven_lower_bound'])} > measured {fmt(v[0]['measured'])}). One of the two is wrong: "
                    "a bug in the attack or in the certificate (or the model's float32 arithmetic against the "
                    "float64 function the bound is about, if the excess is at rounding level)."
                )
            if b["method"] == "exact":
                notes.append(
                    f"- `{name}`, {tm}: exact oracle solved {100 * sm['fraction_optimal']:.3g}% of the samples to "
                    f"optimality; median verified adversarial distance {fmt(sm['median_exact_upper_bound'])}."
                )
    methods = {b["method"] for per in blocks.values() for b in per.values() if b["available"]}
    lines += ["", *notes, *([""] if notes else [])]
    for m in sorted(methods):
        lines += [f"- {m}: {_LOWER_DESCRIPTIONS[m]}; {_LOWER_STATUS[m]}."]
    if methods:
        lines.append("")
    return lines


def _displayable(images: Any) -> bool:
    shape = tuple(getattr(images, "shape", ()))
    return len(shape) == 4 and shape[1] in (1, 3) and shape[2] >= 2 and shape[3] >= 2


def _to_unit(images: np.ndarray, lo: float, hi: float) -> np.ndarray:
    if lo >= 0.0 and hi <= 1.0:
        return images
    return (images - lo) / max(hi - lo, 1e-12)


def _digest(*parts: Any) -> str:
    """A key for a plot: the SHA-256 of its inputs (arrays by their bytes, the rest by repr)."""
    import hashlib

    import matplotlib

    h = hashlib.sha256(f"matplotlib {matplotlib.__version__}".encode())
    for part in parts:
        if isinstance(part, np.ndarray):
            h.update(np.ascontiguousarray(part).tobytes())
        elif isinstance(part, torch.Tensor):
            h.update(part.detach().cpu().contiguous().numpy().tobytes())
        elif isinstance(part, Mapping):
            h.update(json.dumps(sorted((str(k), repr(v)) for k, v in part.items())).encode())
            for v in part.values():
                if isinstance(v, (np.ndarray, torch.Tensor)):
                    h.update(_digest(v).encode())
        else:
            h.update(repr(part).encode())
    return h.hexdigest()[:16]


def _plotters(
    s: EvaluationSettings,
    report: Mapping[str, Any],
    measures: Mapping[str, Mapping[str, Any]],
    uncs: Mapping[str, Mapping[str, Mapping[str, Any]]],
    latent_bounds: Mapping[str, Any],
    equi: Any,
    omegas: Mapping[str, Any],
    examples: Mapping[str, Any],
    meta: Mapping[str, Any],
) -> dict[str, tuple[str, Callable[[Path | None], Any]]]:
    """``(key, drawing function)`` by file role (``cdf_<name>[_<norm>]``, ``samples``, ``pairs``).

    The key digests everything the picture shows, so an unchanged picture need
    not be drawn again.
    """
    out: dict[str, tuple[str, Callable[[Path | None], Any]]] = {}
    settings = report["settings"]
    conf = report["confidence"]
    k = report["upper_bound"]["n_classes"]
    box = f"{round(100 * s.ci_level)}% box"
    for name in measures:
        m = measures[name]
        for norm in s.norms:
            suffix = "" if norm == "l2" else f"_{norm}"
            dists = {
                "z": m["r_z"].numpy(),
                "in": (m["r_in"] if norm == "l2" else m[f"r_in_{norm}"]).numpy(),
                "unc": uncs[name][norm]["r_unc"].numpy(),
            }
            omega = omegas[norm]
            otext = _omega_text(report["modulus_used"][norm], float(omega.failure_prob))
            bounds = {"z": latent_bounds[name], "image": latent_bounds[name].through(omega)}
            ref = {"z": equi, "image": equi.through(omega)}
            labels = {
                "z": f"Z-space bound: {name}'s own proportions ({box})",
                "image": f"image-space bound: {name}'s own proportions ({box}), {otext} [{conf['image_status']}]",
            }
            ref_labels = {
                "z": f"Z-space bound: {k} equiprobable classes",
                "image": f"image-space bound: {k} equiprobable classes, same omega",
            }
            mean = settings["mean_image_norms"][norm]
            normalisers = {"z": settings["expected_latent_norm"], "in": mean, "unc": mean}

            def draw(
                p: Path | None,
                n: str = name,
                d: dict[str, Any] = dists,
                b: dict[str, Any] = bounds,
                r: dict[str, Any] = ref,
                lab: dict[str, str] = labels,
                rl: dict[str, str] = ref_labels,
                nz: dict[str, float] = normalisers,
                nm: str = norm,
            ) -> Any:
                return rep.plot_cdfs(
                    p,
                    n,
                    d,
                    b,
                    nz,
                    quantile=s.quantile,
                    bound_label=lab,
                    reference=r,
                    reference_label=rl,
                    measured_label="measured (attack)",
                    norm=nm,
                )

            key = _digest(
                "cdf",
                name,
                norm,
                dists,
                repr(bounds["z"]),
                repr(omega),
                repr(equi),
                labels,
                ref_labels,
                normalisers,
                s.quantile,
            )
            out[f"cdf_{_safe_name(name)}{suffix}"] = (key, draw)
    for norm in s.norms:
        w = report.get("sandwich", {}).get(norm, {})
        if w.get("available"):
            c_level = float(report["confidence"]["by_modulus"]["certified"]["equiprobable_confidence"])

            def draw_omega(p: Path | None, w: Mapping[str, Any] = w, nm: str = norm, c: float = c_level) -> Any:
                return rep.plot_sandwich(p, w, nm, confidence=c)

            out[f"omega_{norm}"] = (_digest("omega", norm, w, c_level), draw_omega)
    samples = examples["samples"].numpy()
    if _displayable(samples):
        lo, hi = float(samples.min()), float(samples.max())
        title = f"generator samples g(z), {meta.get('generator_name', 'generator')}, d = {s.latent_dim}"
        out["samples"] = (
            _digest("samples", samples, title),
            lambda p: rep.plot_images(p, _to_unit(samples, lo, hi), title),
        )
        pairs = {
            n: {
                kk: (_to_unit(v.numpy(), lo, hi).clip(0, 1) if kk.startswith("x") else v.numpy())
                for kk, v in ex.items()
            }
            for n, ex in examples["pairs"].items()
        }
        classes = list(report["dataset"]["classes"])
        if pairs and all(len(ex["x"]) for ex in pairs.values()):
            key = _digest("pairs", classes, *[_digest(n, ex) for n, ex in pairs.items()])
            out["pairs"] = (key, lambda p: rep.plot_pairs(p, pairs, classes))
    return out


def _attack_description(report: Mapping[str, Any]) -> str:
    name = report.get("evaluation_settings", {}).get("attack", "deepfool")
    return {
        "deepfool": "DeepFool",
        "fmn": "FMN (fast minimum-norm)",
        "ddn": "DDN (decoupled direction and norm)",
        "best": "the per-sample best of DeepFool, FMN and (l2) DDN, each verified",
    }.get(name, str(name))


def _markdown(report: Mapping[str, Any]) -> str:
    s = report["settings"]
    conf = report["confidence"]
    norms = s["norms"]
    models = report.get("models", {})
    gen = models.get("generator", {}).get("description", report.get("config", {}).get("generator", "generator"))
    names = list(report["classifiers"])
    pct = lambda x: f"{100 * x:.3g}%"
    lines = [
        f"# {report['title']}",
        "",
        f"Created {report['created']} on {report['device']} (world size {report['world_size']}); "
        f"seed {s['seed']}; generator {gen} with d = {s['latent_dim']} ({s['latent_prior']} latents"
        + (", measured through T(z) = 2 Phi(z) - 1 on Gaussian latents" if s["latent_prior"] == "uniform" else "")
        + f"); N = {s['n_samples']} generated samples; classifiers {', '.join('`' + c + '`' for c in names)}; "
        f"image norms {', '.join(rep.threat_model(n) for n in norms)}; distances measured by "
        f"{_attack_description(report)} (an upper estimate of each minimal distance).",
        "",
        f"Each cell is the {round(100 * s['quantile'])}% quantile of the normalised robustness, "
        f"with a {round(100 * s['ci_level'])}% order-statistic confidence interval in brackets. "
        f"Z-space values (always l2) are divided by E||z||_2 = {s['expected_latent_norm']:.5g}; "
        "image-space values by the mean image norm in the table's norm. The upper-bound column is Theorem 1 for "
        f"{report['upper_bound']['n_classes']} equiprobable classes (the paper's column); the second table "
        "gives each classifier's own bound, from its class proportions on generated data, and the audits "
        "of the measurements against it. The error rate is on the real test set (`-`: none was given).",
        "",
    ]
    for norm in norms:
        lines += [f"## Image norm {rep.threat_model(norm)}", "", report["tables"][norm], ""]
        if s["epsilons"]:
            lines += [
                f"### Robust-accuracy ceilings ({rep.threat_model(norm)})",
                "",
                report["ceiling_tables"][norm],
                "",
                *[
                    f"Under the {meth} omega ({conf['by_modulus'][meth]['label']}):\n\n{table}\n"
                    for meth, table in report.get("ceiling_tables_by_modulus", {}).get(norm, {}).items()
                    if meth != report.get("modulus_used", {}).get(norm) and meth in conf.get("by_modulus", {})
                ],
                "Each ceiling is an upper bound on the fraction of generated points whose label survives every "
                "perturbation of norm eps: 1 - B(omega^-1(eps)) + delta for the classifier's own (conservative) "
                "proportions, or for K equiprobable predicted classes; the first column holds for *any* classifier "
                "whose accuracy is counted against K equiprobable true classes (a classifier that merges classes can "
                'be more robust than the equiprobable column allows, never more than the first). "measured" is the '
                "fraction of generated points whose measured distance exceeds eps (generated points have no labels, so "
                "this counts surviving predictions, right or wrong: an inaccurate classifier can exceed the first "
                "column, never its own ceiling unless the audit fails); an attack can only over-estimate distances, so "
                "it is itself an *upper* estimate of the classifier's robust accuracy.",
                "",
            ]
    lines += _lower_bound_markdown(report)
    a = conf["audits"]
    lines += [
        "## What is proven and what is estimated",
        "",
        f"- **Latent bounds from each classifier's own proportions: proven**, at confidence "
        f"{pct(conf['latent_own_confidence'])} each (a simultaneous Clopper-Pearson box on the proportions; "
        f"all {len(names)} together at {pct(max(0.0, 1 - len(names) * (1 - conf['latent_own_confidence'])))}).",
        f"- **Latent bound for {report['upper_bound']['n_classes']} equiprobable classes: exact** for a classifier "
        "whose predictions are equiprobable (no sampling).",
        "- **Image-space bounds and ceilings"
        + (
            f" under the {conf['image_modulus']} omega (the first upper-bound column and ceiling table)"
            if len(conf.get("by_modulus", {})) > 1
            else ""
        )
        + f": {conf['image_status']}.** "
        "With the classifier's own proportions they rest "
        f"on the proportion box and on omega: {pct(conf['image_own_confidence'])} overall (union bound); with "
        f"equiprobable classes on omega alone: {pct(conf['image_equiprobable_confidence'])}. "
        + conf["image_status_reason"][0].upper()
        + conf["image_status_reason"][1:]
        + ".",
        *[
            f"- **Under the {m} omega** ({', '.join(rep.threat_model(n) for n in b['norms'])}): {b['label']}."
            for m, b in conf.get("by_modulus", {}).items()
        ],
        *[
            f"- **Certified omega, {rep.threat_model(n)}: not available** ({w['reason']}); the estimate alone."
            for n, w in report.get("sandwich", {}).items()
            if not w["available"] and s["modulus_method"] in ("both", "certified")
        ],
        "- **Estimates:** " + "; ".join(conf["estimates"]) + ".",
        f"- **Audits:** {a['n']} audits, each at {a['per_audit_confidence']:.5g} ({a['correction']}), so that all "
        f"together raise a false alarm with probability at most {1 - a['family_confidence']:.3g}; they check the "
        "image-space bound under "
        + ", ".join(
            f"the {v['modulus']} omega ({v['status']}) in {rep.threat_model(n)}"
            for n, v in a.get("against", {}).items()
        )
        + ".",
        "",
        "## Smoothness of the generator",
        "",
    ]
    for norm in norms:
        mod = report["modulus"][norm]
        if mod.get("method") == "given":
            lines += [f"{rep.threat_model(norm)}: omega given by the caller, {mod['repr']}.", ""]
            continue
        what = "estimated" if mod.get("method") == "estimate" else "certified"
        lines += [
            f"{rep.threat_model(norm)}: omega {what} at {len(mod['radii'])} latent radii with failure probability "
            f"delta = {mod['failure_prob']:g} (the image-space bound's cdf is lowered by delta); between radii it is "
            "read at the next measured radius (step interpolation, the conservative choice); beyond the last radius "
            "it is +inf.",
            "",
            "| t | " + " | ".join(f"{r:.3g}" for r in mod["radii"]) + " |",
            "|---|" + "---|" * len(mod["radii"]),
            "| omega(t) | " + " | ".join(f"{v:.3g}" for v in mod["values"]) + " |",
            "",
        ]
        w = report.get("sandwich", {}).get(norm, {})
        if w.get("available"):
            est = w.get("estimate")
            lip = w.get("global_lipschitz")
            lines += [
                f"Certified omega ({rep.threat_model(norm)}), an upper bound proven at confidence "
                f"{s['modulus_confidence']:g} over the latent draw, beside the ascent estimate (a lower estimate) "
                "and the global Lipschitz bound t L (what local certification buys):",
                "",
                "| t | " + " | ".join(f"{r:.3g}" for r in w["radii"]) + " |",
                "|---|" + "---|" * len(w["radii"]),
                *(
                    ["| ascent omega (lower estimate) | " + " | ".join(f"{v:.3g}" for v in est) + " |"]
                    if est is not None
                    else []
                ),
                "| certified omega (upper bound) | " + " | ".join(f"{v:.3g}" for v in w["certified"]) + " |",
                *(
                    [
                        "| certified / ascent | "
                        + " | ".join("-" if v is None else f"{v:.3g}" for v in w["ratio"])
                        + " |"
                    ]
                    if est is not None
                    else []
                ),
                *(
                    [f"| global t L (L = {lip:.4g}) | " + " | ".join(f"{v:.3g}" for v in w["global_bound"]) + " |"]
                    if lip is not None
                    else []
                ),
                "",
            ]
        elif s["modulus_method"] in ("both", "certified"):
            lines += [f"{rep.threat_model(norm)}: certified omega not available ({w.get('reason')}).", ""]
    if "estimate" in report.get("modulus_used", {}).values() or s["modulus_method"] == "estimate":
        lines += [
            "omega is estimated by maximisation (gradient ascent), which can only under-estimate the true "
            "supremum: an image-space bound built on it may claim too much, and the audit is the check.",
            "",
        ]
    lines += ["## Audit", ""]
    for name, c in report["classifiers"].items():
        lines.append(f"- `{name}`, Z-space: {c['audit']['z']['message']}")
        for norm in norms:
            for key, label in (("in", "in-distribution"), ("unc", "unconstrained")):
                lines.append(
                    f"- `{name}`, {label} ({rep.threat_model(norm)}): {c['norms'][norm]['audit'][key]['message']}"
                )
    files = report.get("files", {})
    lines += ["", "## Plots", ""]
    lines += [f"![{role}]({fname})" for role, fname in files.items() if fname.endswith(".png")]
    if report.get("removed_files"):
        lines += [
            "",
            "Removed plots of an earlier run that this report does not own: "
            + ", ".join(report["removed_files"])
            + ".",
        ]
    reused = [r["name"] for r in report["stages"] if r["status"] == "loaded"]
    lines += [
        "",
        "## Stages",
        "",
        "| stage | status | seconds | key |",
        "|---|---|---|---|",
        *[f"| {r['name']} | {r['status']} | {r['seconds']:.1f} | `{r['key']}` |" for r in report["stages"]],
        "",
        (
            "Reused from the run directory (same settings, same isobound and torch versions): "
            + ", ".join(reused)
            + "."
            if reused
            else "No stage was reused from the run directory."
        ),
        "",
        f"Total {report['total_seconds']:.1f} s. Versions: "
        + ", ".join(f"{k} {v}" for k, v in report["versions"].items() if k != "platform")
        + ".",
        "",
    ]
    return "\n".join(lines)
