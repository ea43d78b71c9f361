"""The training stages of ``isobound experiment`` and the resumable pipeline that runs them.

1. ``generator``: train the VAE / DCGAN (or load ``generator_checkpoint``);
2. ``classifier-<name>``: train each classifier, measure its test error.

Then the experiment hands the trained models to the evaluation stages of
:mod:`.evaluation` (measure, modulus, examples, report), the same ones
:func:`isobound_torch.evaluate` runs on a user's own models: the experiment is
"train, then evaluate".

Every stage output is stored under ``<run_dir>/stages`` with a key that hashes the
settings it depends on, the keys of the stages it consumes and the versions of
isobound and torch (see :mod:`.store`). Training checkpoints the model, optimiser and RNG states after each
epoch (at most every ``CHECKPOINT_SECONDS``), so an interrupted training resumes at
the last finished epoch and ends with the same weights on the CPU.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..data import ImageDataset, dataset_fingerprint, load_dataset
from ..models import DCGANDiscriminator, build_classifier, build_generator, parse_classifier_name
from . import training
from .config import ExperimentConfig
from .distributed import DistContext
from .evaluation import StageRecord
from .store import RunStore, code_versions, derive_seed, stage_key

__all__ = ["StageRecord", "Pipeline", "resolve_device", "CHECKPOINT_SECONDS"]

log = logging.getLogger("isobound_torch.experiment")

#: Minimum seconds between two mid-training checkpoints (0: after every epoch).
CHECKPOINT_SECONDS = 60.0


def resolve_device(spec: str, local_rank: int = 0) -> torch.device:
    """The torch device for ``spec`` (``auto``, ``cpu``, ``cuda``, ``cuda:<n>``).

    Raises
    ------
    ValueError
        If CUDA is requested but not available, naming the torch build.

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(
                f"device {spec!r} was requested but CUDA is not available (torch {torch.__version__}, "
                f"built for CUDA {torch.version.cuda}); use --device cpu or install a CUDA build of torch"
            )
        if spec == "cuda":
            return torch.device(f"cuda:{local_rank}")
        index = int(spec.split(":", 1)[1])
        if index >= torch.cuda.device_count():
            raise ValueError(f"device {spec!r} does not exist: {torch.cuda.device_count()} CUDA device(s) visible")
        return torch.device(spec)
    raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:<n>', got {spec!r}")


@contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Run a block with the global torch RNG seeded, restoring the previous state afterwards."""
    devices = [device.index if device.index is not None else 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def _cpu_state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


def _freeze(module: nn.Module) -> nn.Module:
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module


class Pipeline:
    """Runs the stages for one resolved configuration, reusing stored outputs.

    Parameters
    ----------
    config : ExperimentConfig
        A resolved configuration (:meth:`ExperimentConfig.resolved`).
    dist : DistContext
        Distributed context (a one-process context for plain runs).
    device : torch.device
        Where models run.
    """

    def __init__(self, config: ExperimentConfig, dist: DistContext, device: torch.device) -> None:
        self.cfg = config
        self.dist = dist
        self.device = device
        assert config.run_dir is not None  # resolved() sets it
        self.store = RunStore(config.run_dir)
        self.records: list[StageRecord] = []
        self._dataset: ImageDataset | None = None
        self._fingerprint: dict[str, Any] | None = None
        self._shape: dict[str, Any] | None = None

    # ------------------------------------------------------------------ helpers
    @property
    def progress(self) -> bool:
        return self.cfg.progress and self.dist.is_main

    def dataset(self) -> ImageDataset:
        """The dataset, loaded on first use (a finished run never loads it)."""
        if self._dataset is None:
            t0 = time.perf_counter()
            self._dataset = load_dataset(
                self.cfg.dataset,
                self.cfg.data_dir,
                max_train=self.cfg.max_train,
                max_test=self.cfg.max_test,
                test_fraction=self.cfg.test_fraction,
                split_seed=self.cfg.split_seed,
            )
            log.info(
                "data: %s loaded in %.1fs from %s", self.cfg.dataset, time.perf_counter() - t0, self._dataset.source
            )
        return self._dataset

    def fingerprint(self) -> dict[str, Any]:
        if self._fingerprint is None:
            self._fingerprint = dataset_fingerprint(
                self.cfg.dataset,
                self.cfg.data_dir,
                test_fraction=self.cfg.test_fraction,
                split_seed=self.cfg.split_seed,
            )
        return self._fingerprint

    def data_shape(self) -> dict[str, Any]:
        """Image shape and classes without loading the data (stored once per run directory)."""
        if self._shape is None:
            key = self._key("shape", self.fingerprint(), self.cfg.max_train, self.cfg.max_test)
            stored = self.store.load("data", key)
            if stored is None:
                ds = self.dataset()
                stored = {
                    "image_shape": list(ds.image_shape),
                    "classes": list(ds.classes),
                    "n_train": len(ds.train_labels),
                    "n_test": len(ds.test_labels),
                    "source": ds.source,
                }
                if self.dist.is_main:
                    self.store.save("data", key, stored)
            self._shape = stored
        return self._shape

    def _key(self, *parts: Any) -> str:
        """A stage key: the parts and the versions of isobound and torch."""
        return stage_key(code_versions(), *parts)

    def _data_key(self) -> dict[str, Any]:
        return {"fp": self.fingerprint(), "max_train": self.cfg.max_train, "max_test": self.cfg.max_test}

    def _record(self, name: str, key: str, status: str, t0: float, **detail: Any) -> StageRecord:
        rec = StageRecord(name, key, status, time.perf_counter() - t0, detail)
        self.records.append(rec)
        log.info("stage %-24s %-8s %6.1fs  [%s]", name, status, rec.seconds, key)
        return rec

    def _epoch_saver(self, stage: str, key: str) -> Callable[[int, dict[str, Any]], None]:
        last = [time.perf_counter()]

        def save(epoch: int, state: dict[str, Any]) -> None:
            now = time.perf_counter()
            if now - last[0] >= CHECKPOINT_SECONDS:
                self.store.save(stage, key + "-partial", state)
                last[0] = now

        return save

    # ------------------------------------------------------------------ generator
    def generator_key(self) -> str:
        cfg = self.cfg
        if cfg.generator_checkpoint is not None:
            import hashlib

            digest = hashlib.sha256(Path(cfg.generator_checkpoint).read_bytes()).hexdigest()
            source: Any = {"checkpoint_sha256": digest}
        else:
            source = {
                "data": self._data_key(),
                "epochs": cfg.generator_epochs,
                "batch_size": cfg.generator_batch_size,
                "lr": cfg.generator_lr,
                "seed": cfg.seed,
            }
        return self._key(
            "generator", cfg.generator, cfg.latent_dim, cfg.width_scale, self.data_shape()["image_shape"], source
        )

    def build_generator(self) -> nn.Module:
        """An untrained sampling generator ``z -> image`` (the VAE's decoder for ``vae``)."""
        c, h, _ = self.data_shape()["image_shape"]
        cfg = self.cfg
        assert cfg.generator is not None and cfg.latent_dim is not None and cfg.width_scale is not None
        model = build_generator(
            cfg.generator, latent_dim=cfg.latent_dim, out_channels=c, image_size=h, width_scale=cfg.width_scale
        )
        return model.decoder if cfg.generator == "vae" else model  # type: ignore[return-value]

    def _load_generator_checkpoint(self, gen: nn.Module) -> None:
        path = self.cfg.generator_checkpoint
        assert path is not None
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ValueError(f"generator_checkpoint {path!r} could not be loaded with torch.load: {exc}") from exc
        if isinstance(obj, dict) and "generator" in obj and isinstance(obj["generator"], dict):
            obj = obj["generator"]  # a stage file of a previous run
        if not isinstance(obj, dict):
            raise ValueError(f"generator_checkpoint {path!r} must hold a state_dict, got {type(obj).__name__}")
        if any(str(k).startswith("decoder.") for k in obj):  # a whole VAE: keep its decoder
            obj = {k[len("decoder.") :]: v for k, v in obj.items() if k.startswith("decoder.")}
        try:
            gen.load_state_dict(obj)
        except RuntimeError as exc:
            raise ValueError(
                f"generator_checkpoint {path!r} does not fit generator={self.cfg.generator!r} with "
                f"latent_dim={self.cfg.latent_dim}, width_scale={self.cfg.width_scale}: {exc}"
            ) from exc

    def run_generator(self) -> tuple[nn.Module, dict[str, Any]]:
        """Stage 1: the trained generator (eval mode, frozen, on the device)."""
        cfg = self.cfg
        key = self.generator_key()
        t0 = time.perf_counter()
        stored = self.store.load("generator", key)
        gen = self.build_generator()
        if stored is not None:
            gen.load_state_dict(stored["generator"])
            self._record("generator", key, "loaded", t0)
            return _freeze(gen.to(self.device)), stored
        seed = derive_seed(cfg.seed, "generator")
        status, detail = "computed", dict[str, Any]()
        if cfg.generator_checkpoint is not None:
            self._load_generator_checkpoint(gen)
            history: list[Any] = []
            detail["source"] = str(cfg.generator_checkpoint)
        else:
            ds = self.dataset()
            partial = self.store.load("generator", key + "-partial")
            if partial is not None:
                status, detail["resumed_from_epoch"] = "resumed", int(partial["epoch"])
            rng = torch.Generator().manual_seed(seed)
            hook = self._epoch_saver("generator", key)
            assert (
                cfg.generator_epochs is not None
                and cfg.generator_batch_size is not None
                and cfg.generator_lr is not None
            )
            with seeded(seed, self.device):
                full = build_generator(
                    cfg.generator or "vae",
                    latent_dim=cfg.latent_dim or 1,
                    out_channels=ds.image_shape[0],
                    image_size=ds.image_shape[1],
                    width_scale=cfg.width_scale or 1.0,
                )
                if cfg.generator == "vae":
                    history = training.train_vae(
                        full,  # type: ignore[arg-type]
                        ds,
                        self.device,
                        epochs=cfg.generator_epochs,
                        batch_size=cfg.generator_batch_size,
                        lr=cfg.generator_lr,
                        gen=rng,
                        progress=self.progress,
                        resume=partial,
                        on_epoch_end=hook,
                    )
                    gen = full.decoder  # type: ignore[assignment]
                else:
                    training.dcgan_init(full)
                    disc = DCGANDiscriminator(
                        ds.image_shape[0], ds.image_shape[1], ndf=max(1, round(64 * (cfg.width_scale or 1.0)))
                    )
                    training.dcgan_init(disc)
                    history = training.train_dcgan(
                        full,
                        disc,
                        ds,
                        self.device,
                        latent_dim=cfg.latent_dim or 1,
                        epochs=cfg.generator_epochs,
                        batch_size=cfg.generator_batch_size,
                        lr=cfg.generator_lr,
                        gen=rng,
                        progress=self.progress,
                        resume=partial,
                        on_epoch_end=hook,
                    )
                    training.recalibrate_batchnorm(
                        full, cfg.latent_dim or 1, self.device, gen=rng, batches=2 if cfg.smoke else 50
                    )
                    gen = full
        out = {"generator": _cpu_state(gen), "history": history, "seconds": time.perf_counter() - t0, **detail}
        self.store.save("generator", key, out)
        self.store.discard("generator", key + "-partial")
        self._record("generator", key, status, t0, **detail)
        return _freeze(gen.to(self.device)), out

    # ------------------------------------------------------------------ classifiers
    def classifier_key(self, name: str) -> str:
        cfg = self.cfg
        _, adversarial = parse_classifier_name(name)
        adv = {"eps": cfg.adv_epsilon, "step": cfg.adv_step, "steps": cfg.adv_steps} if adversarial else None
        return self._key(
            "classifier",
            name,
            self._data_key(),
            cfg.width_scale,
            cfg.classifier_epochs,
            cfg.batch_size,
            cfg.classifier_lr,
            cfg.optimizer,
            cfg.augment,
            cfg.normalize_inputs,
            adv,
            cfg.seed,
        )

    def build_classifier(self, name: str, mean: list[float] | None, std: list[float] | None) -> nn.Module:
        c, h, _ = self.data_shape()["image_shape"]
        return build_classifier(
            name,
            in_channels=c,
            image_size=h,
            n_classes=len(self.data_shape()["classes"]),
            width_scale=self.cfg.width_scale or 1.0,
            mean=mean,
            std=std,
        )

    def run_classifier(self, name: str) -> tuple[nn.Module, dict[str, Any]]:
        """Stage 2: one trained classifier (eval mode, frozen) and its test error."""
        cfg = self.cfg
        key = self.classifier_key(name)
        stage = f"classifier-{name}"
        t0 = time.perf_counter()
        stored = self.store.load(stage, key)
        if stored is not None:
            model = self.build_classifier(name, stored["mean"], stored["std"])
            model.load_state_dict(stored["state_dict"])
            self._record(stage, key, "loaded", t0, test_error=float(stored["test_error"]))
            return _freeze(model.to(self.device)), stored
        ds = self.dataset()
        mean, std = ds.channel_stats() if cfg.normalize_inputs else (None, None)
        _, adversarial = parse_classifier_name(name)
        seed = derive_seed(cfg.seed, "classifier", name)
        partial = self.store.load(stage, key + "-partial")
        status, detail = "computed", dict[str, Any]()
        if partial is not None:
            status, detail["resumed_from_epoch"] = "resumed", int(partial["epoch"])
        assert cfg.classifier_epochs is not None and cfg.batch_size is not None and cfg.classifier_lr is not None
        with seeded(seed, self.device):
            model = self.build_classifier(name, mean, std)
            history = training.train_classifier(
                model,
                ds,
                self.device,
                epochs=cfg.classifier_epochs,
                batch_size=cfg.batch_size,
                lr=cfg.classifier_lr,
                optimizer=cfg.optimizer or "adam",
                gen=torch.Generator().manual_seed(seed),
                augment=bool(cfg.augment),
                adversarial=training.PGDSettings(cfg.adv_epsilon, cfg.adv_step, cfg.adv_steps) if adversarial else None,
                progress=self.progress,
                desc=f"classifier {name}",
                resume=partial,
                on_epoch_end=self._epoch_saver(stage, key),
            )
        error = training.evaluate_error(model, ds, self.device)
        out = {
            "state_dict": _cpu_state(model),
            "mean": mean,
            "std": std,
            "test_error": error,
            "history": history,
            "n_params": sum(p.numel() for p in model.parameters()),
            "seconds": time.perf_counter() - t0,
            **detail,
        }
        self.store.save(stage, key, out)
        self.store.discard(stage, key + "-partial")
        self._record(stage, key, status, t0, test_error=error, **detail)
        return _freeze(model), out
