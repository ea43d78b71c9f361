"""The experiment's configuration: one JSON-serialisable dataclass.

Every field left at ``None`` takes a default that depends on the dataset (and on
``smoke``); :meth:`ExperimentConfig.resolved` fills them in, and the resolved
configuration is what the run records and hashes. Defaults per dataset:

========================  ==================  ==========================  ===============================
field                     digits              svhn                        cifar10
========================  ==================  ==========================  ===============================
generator                 ``vae``             ``dcgan``                   ``dcgan``
latent_dim                8                   100                         100
classifiers               lenet, cnn, mlp     lenet, resnet18, resnet101  vgg16, wrn-28-10, wrn-28-10+adv
generator_epochs          300                 25                          50
classifier_epochs         40                  30                          60
n_samples (measured z)    1000                1000                        1000
========================  ==================  ==========================  ===============================

Your own data (``dataset="folder:PATH"`` or ``"npz:PATH"``, see
:func:`isobound_torch.data.load_folder` and :func:`~isobound_torch.data.load_npz`)
take defaults from the image side H and the number N of training images, read
without loading the pixels (:func:`custom_dataset_defaults`):

* H = 16, 32 or 64 (sizes the DCGAN can produce): the SVHN settings, with a DCGAN
  of d = 100 and classifiers lenet, cnn, resnet18;
* any other H: the digits settings, with a VAE of d = 8 (H <= 12) or d = 16, and
  classifiers lenet, cnn, mlp;
* epochs chosen so that training takes about as many optimisation steps as the
  digits (VAE) or SVHN (DCGAN) defaults, within bounds: few images get more
  epochs, many images fewer;
* 20% of each class held out for testing, unless the data carry a test split.

``smoke=True`` shrinks everything (a handful of images, 1-2 epochs, narrow
networks, 8 latent samples) so that every code path runs in seconds; its numbers
mean nothing.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..data import CUSTOM_KINDS, parse_dataset_spec, peek_dataset
from ..models import GENERATOR_NAMES, parse_classifier_name
from .evaluation import DEFAULT_RADII

__all__ = ["ExperimentConfig", "DATASET_DEFAULTS", "SMOKE_OVERRIDES"]

#: Dataset-dependent defaults for the fields left at ``None``.
DATASET_DEFAULTS: dict[str, dict[str, Any]] = {
    "digits": {
        "generator": "vae",
        "latent_dim": 8,
        "classifiers": ("lenet", "cnn", "mlp"),
        "generator_epochs": 300,
        "classifier_epochs": 40,
        "batch_size": 64,
        "generator_batch_size": 128,
        "generator_lr": 1e-3,
        "classifier_lr": 1e-3,
        "optimizer": "adam",
        "augment": False,
        "n_samples": 1000,
        "chunk_size": 250,
        "normalize_inputs": False,
        "num_threads": 1,
    },
    "svhn": {
        "generator": "dcgan",
        "latent_dim": 100,
        "classifiers": ("lenet", "resnet18", "resnet101"),
        "generator_epochs": 25,
        "classifier_epochs": 30,
        "batch_size": 128,
        "generator_batch_size": 128,
        "generator_lr": 2e-4,
        "classifier_lr": 0.05,
        "optimizer": "sgd",
        "augment": False,
        "n_samples": 1000,
        "chunk_size": 100,
        "normalize_inputs": True,
        "num_threads": 0,
    },
    "cifar10": {
        "generator": "dcgan",
        "latent_dim": 100,
        "classifiers": ("vgg16", "wrn-28-10", "wrn-28-10+adv"),
        "generator_epochs": 50,
        "classifier_epochs": 60,
        "batch_size": 128,
        "generator_batch_size": 128,
        "generator_lr": 2e-4,
        "classifier_lr": 0.1,
        "optimizer": "sgd",
        "augment": True,
        "n_samples": 1000,
        "chunk_size": 100,
        "normalize_inputs": True,
        "num_threads": 0,
    },
}

#: What ``smoke=True`` changes (on top of the dataset defaults, below explicit values).
SMOKE_OVERRIDES: dict[str, Any] = {
    "generator_epochs": 2,
    "classifier_epochs": 2,
    "n_samples": 6,
    "chunk_size": 3,
    "max_iter": 10,
    "max_train": 160,
    "max_test": 64,
    "failure_prob": 0.1,
    "modulus_confidence": 0.9,
    "modulus_restarts": 1,
    "modulus_steps": 3,
    "radii": (0.1, 0.3, 1.0),
    "n_examples": 2,
    "num_threads": 1,
}
_SMOKE_WIDTH = {"digits": 0.25, "svhn": 0.0625, "cifar10": 0.0625}


def _epochs(samples: float, n_train: int, lo: int, hi: int) -> int:
    """Epochs that show about ``samples`` training images in all, within ``[lo, hi]``."""
    return int(min(max(round(samples / max(n_train, 1)), lo), hi))


def custom_dataset_defaults(spec: str) -> dict[str, Any]:
    """The defaults for your own data (``folder:PATH`` or ``npz:PATH``), from their image side and size.

    See the module docstring for the rules.

    Examples
    --------
    >>> import tempfile, os, numpy as np
    >>> with tempfile.TemporaryDirectory() as d:
    ...     f = os.path.join(d, "small.npz")
    ...     np.savez(f, x=np.zeros((500, 28, 28), np.uint8), y=np.arange(500) % 10)
    ...     small = custom_dataset_defaults("npz:" + f)
    ...     np.savez(f, x=np.zeros((500, 3, 32, 32), np.uint8), y=np.arange(500) % 10)
    ...     rgb32 = custom_dataset_defaults("npz:" + f)
    >>> small["generator"], small["latent_dim"], small["classifiers"]
    ('vae', 16, ('lenet', 'cnn', 'mlp'))
    >>> rgb32["generator"], rgb32["latent_dim"], rgb32["classifiers"]
    ('dcgan', 100, ('lenet', 'cnn', 'resnet18'))
    """
    info = peek_dataset(spec)
    side, n = info["image_size"], info["n_train"]
    if side in (16, 32, 64):
        out = dict(DATASET_DEFAULTS["svhn"])
        out.update(
            classifiers=("lenet", "cnn", "resnet18"),
            generator_epochs=_epochs(25 * 73257, n, 5, 200),
            classifier_epochs=_epochs(30 * 73257, n, 5, 100),
        )
    else:
        out = dict(DATASET_DEFAULTS["digits"])
        out.update(
            latent_dim=8 if side <= 12 else 16,
            generator_epochs=_epochs(300 * 1347, n, 5, 300),
            classifier_epochs=_epochs(40 * 1347, n, 2, 40),
            num_threads=1 if side <= 16 else 0,
        )
    return out


def _dataset_key(dataset: str) -> str:
    """``digits``/``svhn``/``cifar10``, or ``folder``/``npz``."""
    return parse_dataset_spec(dataset)[0]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class ExperimentConfig:
    """Settings of one ``isobound experiment`` run (train, measure, bound, report).

    Fields left at ``None`` take the dataset's default (module docstring); call
    :meth:`resolved` to see them. The object is immutable, validated on
    construction, and round-trips through JSON (:meth:`to_dict`, :meth:`from_dict`).

    Parameters
    ----------
    dataset : str
        ``"digits"`` is scikit-learn's bundled set (no files needed); ``"svhn"`` and
        ``"cifar10"`` are read from ``data_dir``; ``"folder:PATH"`` (one sub-folder
        of PNG/JPEG images per class) and ``"npz:PATH"`` (arrays ``x`` and ``y``)
        are your own data.
    data_dir : str, optional
        Directory with the SVHN ``.mat`` files or the CIFAR-10 python batches.
    run_dir : str, optional
        Where checkpoints and the report go (default ``runs/<dataset>``).
    device : str
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` or ``"cuda:<n>"``.
    seed : int
        Seeds every stage (each stage derives its own seed from it).
    classifiers : tuple of str, optional
        Architectures to train and measure, e.g. ``("lenet", "resnet18")``; a
        ``+adv`` suffix trains with PGD (Madry et al.).
    generator : {"vae", "dcgan"}, optional
        Generative model g.
    latent_dim : int, optional
        d, the dimension of ``z ~ N(0, I_d)``.
    generator_checkpoint : str, optional
        A ``state_dict`` file (``torch.save``) for the generator: skips its training.
    width_scale : float
        Multiplies every network's channel counts (``< 1`` for quick runs).
    generator_epochs, classifier_epochs : int, optional
        Training lengths (epochs).
    batch_size, generator_batch_size : int, optional
        Batch sizes of classifier and generator training.
    generator_lr, classifier_lr : float, optional
        Learning rates (Adam for the generator; ``optimizer`` for classifiers).
    optimizer : {"adam", "sgd"}, optional
        Classifier optimiser (SGD uses momentum 0.9, weight decay 5e-4 and a cosine
        schedule).
    augment : bool, optional
        Random crops (and flips for CIFAR-10) during classifier training.
    normalize_inputs : bool, optional
        Put a per-channel standardisation layer in front of each classifier.
    max_train, max_test : int, optional
        Use only the first so many images of each split.
    test_fraction : float, optional
        Share of each class held out for testing, for the digits (default 0.25) and
        for your own data without a test split (default 0.2). Not for SVHN and
        CIFAR-10, whose official test sets are used.
    split_seed : int, optional
        Seed of that split (default 0).
    n_samples : int, optional
        N, the number of generated samples on which robustness is measured.
    chunk_size : int, optional
        Samples per measurement checkpoint (and per distributed work item).
    overshoot, max_iter : float, int
        DeepFool settings (the paper's attack).
    refine : bool
        Shrink each DeepFool perturbation along its direction to the smallest
        multiple that still flips the label (tighter, still valid upper estimates of
        the minimal distance).
    attack : {"deepfool", "fmn", "ddn", "best"}
        The attack that measures the distances (default ``"deepfool"``, the
        paper's; ``"best"``: the per-sample best of DeepFool, FMN and, for l2,
        DDN, smaller distances at many times the cost).
    attack_steps : int, optional
        Iterations of FMN and DDN (default 100).
    lower_bounds : {"none", "certified", "exact", "auto"}
        Per-sample proven lower bounds on r_unc next to the measured distances
        (default ``"none"``; see
        :class:`~isobound_torch.experiment.evaluation.EvaluationSettings`).
    lower_bound_samples : int
        How many generated samples (the first ones) get a lower bound (default 50).
    quantile : float
        Which quantile the tables report (0.25 in the paper).
    failure_prob : float, optional
        delta (default 0.01; 0.1 for smoke runs), the probability with which the estimated modulus omega may fail; it is
        subtracted from the image-space bound's cdf.
    modulus_confidence : float, optional
        Confidence (default 0.99; 0.9 for smoke runs) with which the sampled maximum
        bounds omega's (1 - delta)-quantile.
    modulus_samples : int, optional
        Latent samples for the omega estimate (``None``: the smallest number that
        makes ``failure_prob`` and ``modulus_confidence`` hold).
    modulus_restarts, modulus_steps : int, optional
        Projected-gradient-ascent restarts and steps per radius.
    modulus : {"both", "estimate", "certified"}
        How omega is obtained: the ascent estimate (a lower estimate), the
        certified bound (an upper bound: the image-space numbers are proven), or
        both side by side (the default; the certified one where the generator is
        supported and its cost estimate fits ``certify_budget``, else the report
        says why it is missing). The digits VAE decoder is certified in about
        15 s; a DCGAN with d = 100 costs about 7 s per latent and radius, far over
        the default budget, so its report gives the estimate and a note.
    certify_budget : float
        Seconds the certified stage may take under ``modulus="both"`` (default 300).
    radii : tuple of float, optional
        Latent radii where omega is measured; the radii that the reported bounds
        need are always added.
    adv_epsilon, adv_step, adv_steps : float, float, int
        PGD (L-infinity) adversarial training for ``+adv`` classifiers (Madry et al.
        CIFAR-10 values: 8/255, 2/255, 7 steps).
    norms : tuple of str
        Image norms of the measurements, bounds and tables (``"l2"``,
        ``"linf"``); the first is the primary one (the README's table).
    epsilons : tuple of float
        Image-space radii of the robust-accuracy ceiling rows (none by default).
    audit_confidence : float
        Family-wise confidence of all the report's audits together (each audit
        runs at the Bonferroni-corrected level).
    ci_level : float
        Level of the order-statistic confidence intervals on empirical quantiles,
        and of the simultaneous intervals on the class proportions behind each
        classifier's own (conservative) bound.
    n_examples : int, optional
        Original/perturbed pairs shown in the report.
    smoke : bool
        Tiny configuration for CI (see :data:`SMOKE_OVERRIDES`).
    train_only : bool
        Stop after training the generator and the classifiers (e.g. before a
        ``torchrun`` launch that shards the measurement over several GPUs).
    progress : bool
        Show progress bars.
    num_threads : int, optional
        CPU threads torch may use during the run (restored afterwards); ``0`` leaves
        torch's setting alone. Default 1 for the digits and for smoke runs: their
        networks are so small that a second thread costs more than it gives, and on
        a busy machine spinning threads slow such runs down many times over.
    dist_timeout_minutes : float
        Timeout of torch.distributed collectives (ranks wait while rank 0 trains).

    Examples
    --------
    >>> cfg = ExperimentConfig(seed=3).resolved()
    >>> cfg.classifiers, cfg.generator, cfg.latent_dim, cfg.run_dir
    (('lenet', 'cnn', 'mlp'), 'vae', 8, 'runs/digits')
    >>> ExperimentConfig.from_dict(cfg.to_dict()) == cfg
    True
    """

    dataset: str = "digits"
    data_dir: str | None = None
    run_dir: str | None = None
    device: str = "auto"
    seed: int = 0
    classifiers: tuple[str, ...] | None = None
    generator: str | None = None
    latent_dim: int | None = None
    generator_checkpoint: str | None = None
    width_scale: float | None = None
    generator_epochs: int | None = None
    classifier_epochs: int | None = None
    batch_size: int | None = None
    generator_batch_size: int | None = None
    generator_lr: float | None = None
    classifier_lr: float | None = None
    optimizer: str | None = None
    augment: bool | None = None
    normalize_inputs: bool | None = None
    max_train: int | None = None
    max_test: int | None = None
    test_fraction: float | None = None
    split_seed: int | None = None
    n_samples: int | None = None
    chunk_size: int | None = None
    overshoot: float = 0.02
    max_iter: int | None = None
    refine: bool = True
    attack: str = "deepfool"
    attack_steps: int | None = None
    lower_bounds: str = "none"
    lower_bound_samples: int = 50
    quantile: float = 0.25
    failure_prob: float | None = None
    modulus_confidence: float | None = None
    modulus_samples: int | None = None
    modulus_restarts: int | None = None
    modulus_steps: int | None = None
    modulus: str = "both"
    certify_budget: float = 300.0
    radii: tuple[float, ...] | None = None
    adv_epsilon: float = 8 / 255
    adv_step: float = 2 / 255
    adv_steps: int = 7
    norms: tuple[str, ...] = ("l2",)
    epsilons: tuple[float, ...] = ()
    audit_confidence: float = 0.99
    ci_level: float = 0.95
    n_examples: int | None = None
    smoke: bool = False
    train_only: bool = False
    progress: bool = True
    num_threads: int | None = None
    dist_timeout_minutes: float = 24 * 60.0

    def __post_init__(self) -> None:
        if self.classifiers is not None and not isinstance(self.classifiers, tuple):
            if isinstance(self.classifiers, str):
                raise ValueError(f"classifiers must be a sequence of names, got {self.classifiers!r}")
            object.__setattr__(self, "classifiers", tuple(self.classifiers))
        if self.radii is not None and not isinstance(self.radii, tuple):
            object.__setattr__(self, "radii", tuple(self.radii))
        from .evaluation import parse_epsilons, parse_norms

        object.__setattr__(self, "norms", parse_norms(self.norms))
        object.__setattr__(self, "epsilons", parse_epsilons(self.epsilons))
        self._validate()

    # ------------------------------------------------------------------ validation
    def _validate(self) -> None:
        kind = parse_dataset_spec(self.dataset)[0]
        if kind in ("svhn", "cifar10") and self.data_dir is None:
            raise ValueError(
                f"data_dir is required for dataset {self.dataset!r} (the directory with its files), got None"
            )
        if not isinstance(self.device, str) or not (
            self.device in ("auto", "cpu", "cuda") or (self.device.startswith("cuda:") and self.device[5:].isdigit())
        ):
            raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:<n>', got {self.device!r}")
        if not _is_int(self.seed) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        if self.split_seed is not None and (not _is_int(self.split_seed) or self.split_seed < 0):
            raise ValueError(f"split_seed must be a non-negative integer or None, got {self.split_seed!r}")
        if self.test_fraction is not None and (not _is_number(self.test_fraction) or not 0 < self.test_fraction < 1):
            raise ValueError(f"test_fraction must lie strictly between 0 and 1, got {self.test_fraction!r}")
        if kind in ("svhn", "cifar10") and (self.test_fraction is not None or self.split_seed is not None):
            raise ValueError(
                f"test_fraction and split_seed do not apply to dataset {self.dataset!r} (its official test set "
                f"is used), got test_fraction={self.test_fraction!r}, split_seed={self.split_seed!r}"
            )
        if self.classifiers is not None:
            if len(self.classifiers) == 0:
                raise ValueError("classifiers must name at least one classifier, got ()")
            for name in self.classifiers:
                parse_classifier_name(name)
            if len(set(self.classifiers)) != len(self.classifiers):
                raise ValueError(f"classifiers must not repeat a name, got {self.classifiers!r}")
        if self.generator is not None and self.generator not in GENERATOR_NAMES:
            raise ValueError(f"generator must be one of {', '.join(GENERATOR_NAMES)}, got {self.generator!r}")
        for name in (
            "latent_dim",
            "generator_epochs",
            "classifier_epochs",
            "batch_size",
            "generator_batch_size",
            "max_train",
            "max_test",
            "n_samples",
            "chunk_size",
            "max_iter",
            "modulus_samples",
            "modulus_restarts",
            "modulus_steps",
            "n_examples",
        ):
            value = getattr(self, name)
            if value is not None and (not _is_int(value) or value < 1):
                raise ValueError(f"{name} must be a positive integer or None, got {value!r}")
        if self.num_threads is not None and (not _is_int(self.num_threads) or self.num_threads < 0):
            raise ValueError(f"num_threads must be a non-negative integer or None, got {self.num_threads!r}")
        if not _is_int(self.adv_steps) or self.adv_steps < 1:
            raise ValueError(f"adv_steps must be a positive integer, got {self.adv_steps!r}")
        for name in ("width_scale", "generator_lr", "classifier_lr"):
            value = getattr(self, name)
            if value is not None and (not _is_number(value) or value <= 0):
                raise ValueError(f"{name} must be a finite positive number or None, got {value!r}")
        for name in ("overshoot", "adv_epsilon", "adv_step"):
            value = getattr(self, name)
            if not _is_number(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        for name in ("quantile", "failure_prob", "modulus_confidence", "audit_confidence", "ci_level"):
            value = getattr(self, name)
            if value is None and name in ("failure_prob", "modulus_confidence"):
                continue
            if not _is_number(value) or not 0 < value < 1:
                raise ValueError(f"{name} must lie strictly between 0 and 1, got {value!r}")
        if self.failure_prob is not None and self.quantile + self.failure_prob >= 1:
            raise ValueError(
                f"quantile + failure_prob must be below 1 (the image-space bound needs the "
                f"latent quantile at quantile + failure_prob), got {self.quantile} + {self.failure_prob}"
            )
        from .evaluation import check_attack_choice

        check_attack_choice(self.attack, self.attack_steps, self.norms)
        if self.modulus not in ("both", "estimate", "certified"):
            raise ValueError(f"modulus must be 'both', 'estimate' or 'certified', got modulus={self.modulus!r}")
        if not _is_number(self.certify_budget) or self.certify_budget < 0:
            raise ValueError(f"certify_budget must be a finite number >= 0, got certify_budget={self.certify_budget!r}")
        from .evaluation import check_lower_bound_choice

        check_lower_bound_choice(self.lower_bounds, self.lower_bound_samples)
        if self.optimizer is not None and self.optimizer not in ("adam", "sgd"):
            raise ValueError(f"optimizer must be 'adam' or 'sgd', got {self.optimizer!r}")
        if self.radii is not None:
            if len(self.radii) == 0 or any(not _is_number(r) or r <= 0 for r in self.radii):
                raise ValueError(f"radii must be finite positive numbers, got {self.radii!r}")
        if not _is_number(self.dist_timeout_minutes) or self.dist_timeout_minutes <= 0:
            raise ValueError(f"dist_timeout_minutes must be positive, got {self.dist_timeout_minutes!r}")
        for name in ("smoke", "progress", "refine", "train_only"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        for name in ("augment", "normalize_inputs"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, bool):
                raise ValueError(f"{name} must be True, False or None, got {value!r}")

    # ------------------------------------------------------------------ defaults
    def resolved(self) -> ExperimentConfig:
        """A copy with every ``None`` replaced by its dataset (and smoke) default."""
        kind = _dataset_key(self.dataset)
        custom = kind in CUSTOM_KINDS
        defaults: dict[str, Any] = custom_dataset_defaults(self.dataset) if custom else dict(DATASET_DEFAULTS[kind])
        defaults.update(
            {
                "max_iter": 50,
                "modulus_restarts": 2,
                "modulus_steps": 10,
                "radii": DEFAULT_RADII,
                "n_examples": 4,
                "width_scale": 1.0,
                "failure_prob": 0.01,
                "modulus_confidence": 0.99,
            }
        )
        if self.smoke:
            defaults.update(SMOKE_OVERRIDES)
            defaults["width_scale"] = _SMOKE_WIDTH.get(kind, 0.25 if defaults["generator"] == "vae" else 0.0625)
        changes: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if getattr(self, f.name) is None and f.name in defaults:
                changes[f.name] = defaults[f.name]
        if self.run_dir is None:
            name = Path(parse_dataset_spec(self.dataset)[1] or "").stem if custom else self.dataset
            safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or kind
            changes["run_dir"] = str(Path("runs") / safe)
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------------ JSON
    def evaluation_settings(self) -> Any:
        """The :class:`~.evaluation.EvaluationSettings` of the measure / bound / report stages."""
        from .evaluation import EvaluationSettings

        cfg = self.resolved()
        return EvaluationSettings(
            latent_dim=cfg.latent_dim,
            n_samples=cfg.n_samples,
            norms=cfg.norms,
            epsilons=cfg.epsilons,
            seed=cfg.seed,
            chunk_size=cfg.chunk_size,
            overshoot=cfg.overshoot,
            max_iter=cfg.max_iter,
            refine=cfg.refine,
            attack=cfg.attack,
            attack_steps=cfg.attack_steps,
            lower_bounds=cfg.lower_bounds,
            lower_bound_samples=cfg.lower_bound_samples,
            quantile=cfg.quantile,
            failure_prob=cfg.failure_prob,
            modulus_confidence=cfg.modulus_confidence,
            modulus_samples=cfg.modulus_samples,
            modulus_restarts=cfg.modulus_restarts,
            modulus_steps=cfg.modulus_steps,
            modulus_method=cfg.modulus,
            certify_budget=cfg.certify_budget,
            radii=cfg.radii,
            audit_confidence=cfg.audit_confidence,
            ci_level=cfg.ci_level,
            n_examples=cfg.n_examples,
            progress=cfg.progress,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dictionary (tuples become lists)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExperimentConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError``."""
        if not isinstance(data, dict):
            raise ValueError(f"data must be a dict, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown configuration keys {unknown!r}; known keys are {sorted(names)!r}")
        kwargs: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**kwargs)

    def to_json(self) -> str:
        """:meth:`to_dict` as indented JSON."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)
