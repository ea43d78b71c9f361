"""The stages of ``isobound experiment`` and the resumable pipeline that runs them.

1. ``generator``: train the VAE / DCGAN (or load ``generator_checkpoint``);
2. ``classifier-<name>``: train each classifier, measure its test error;
3. ``measure-<name>``: on N generated samples, r_Z, r_in and r_unc by DeepFool,
   in chunks (each chunk is its own checkpoint, and the unit of distributed work);
4. ``modulus``: estimate omega of the generator (with its failure probability delta)
   at a grid of radii that includes every radius the reported bounds need;
5. ``examples``: a few original / adversarial pairs and a grid of samples;
6. the report (always re-rendered; it is cheap).

Every stage output is stored under ``<run_dir>/stages`` with a key that hashes the
settings it depends on and the keys of the stages it consumes (see
:mod:`.store`). Training checkpoints the model, optimiser and RNG states after each
epoch (at most every ``CHECKPOINT_SECONDS``), so an interrupted training resumes at
the last finished epoch and ends with the same weights on the CPU.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..data import ImageDataset, dataset_fingerprint, load_dataset
from ..models import DCGANDiscriminator, build_classifier, build_generator, parse_classifier_name
from . import training
from .config import ExperimentConfig
from .distributed import DistContext, shard_indices
from .store import RunStore, derive_seed, stage_key

__all__ = ["StageRecord", "Pipeline", "resolve_device", "measure_chunk", "CHECKPOINT_SECONDS"]

log = logging.getLogger("isobound_torch.experiment")

#: Minimum seconds between two mid-training checkpoints (0: after every epoch).
CHECKPOINT_SECONDS = 60.0
#: Version tag of the measurement code; part of the measurement keys.
MEASURE_VERSION = 2


@dataclass
class StageRecord:
    """What happened to one stage in this invocation.

    Attributes
    ----------
    name : str
        E.g. ``"generator"``, ``"classifier-lenet"``, ``"measure-lenet"``.
    key : str
        The stage's cache key.
    status : {"computed", "loaded", "resumed"}
        ``resumed``: a partially done stage was continued.
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


def _attacks(cfg: ExperimentConfig) -> tuple[Any, Any]:
    """DeepFool for image space and for latent space (no box on z)."""
    from ..attacks import DeepFool

    max_iter = cfg.max_iter or 50
    image_attack = DeepFool(norm="l2", overshoot=cfg.overshoot, max_iter=max_iter, refine=cfg.refine)
    latent_attack = DeepFool(norm="l2", overshoot=cfg.overshoot, max_iter=max_iter, refine=cfg.refine)
    return image_attack, latent_attack


def _per_sample(result: Any, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Distances (float64, ``inf`` where the attack failed) and success flags of a measurement."""
    distances = torch.as_tensor(result.distances).detach().to("cpu", torch.float64).reshape(-1)
    success = torch.as_tensor(result.success).detach().to("cpu").reshape(-1).bool()
    if distances.numel() != n or success.numel() != n:
        raise RuntimeError(f"measurement returned {distances.numel()} distances for {n} samples")
    return torch.where(success, distances, torch.full_like(distances, math.inf)), success


def measure_chunk(
    classifier: nn.Module, generator: nn.Module, z: torch.Tensor, attacks: tuple[Any, Any], *, keep: int = 0
) -> dict[str, torch.Tensor]:
    """r_Z, r_in and r_unc (DeepFool) plus labels and image norms for one chunk of latents.

    Returns CPU tensors: ``labels`` (f(g(z))), ``image_norms`` (``||g(z)||_2``),
    ``r_z``, ``r_in``, ``r_unc`` (float64; ``inf`` where the attack failed), the
    success flags ``ok_z``, ``ok_in``, ``ok_unc``, and for the first ``keep`` samples
    the adversarial points found (``adv_x``: images of the unconstrained attack;
    ``adv_z``: latents of the latent attack) for the report's pictures.
    """
    from ..measure import in_distribution_robustness, latent_robustness, unconstrained_robustness

    image_attack, latent_attack = attacks
    n = z.shape[0]
    with torch.no_grad():
        x = generator(z)
        labels = classifier(x).argmax(dim=1)
        norms = x.flatten(1).norm(dim=1)
    unc = unconstrained_robustness(classifier, generator, z, attack=image_attack)
    lat = latent_robustness(classifier, generator, z, attack=latent_attack)
    ind = in_distribution_robustness(classifier, generator, z, attack=latent_attack, latent=lat)
    r_unc, ok_unc = _per_sample(unc, n)
    r_z, ok_z = _per_sample(lat, n)
    r_in, ok_in = _per_sample(ind, n)
    return {
        "labels": labels.cpu(),
        "image_norms": norms.to("cpu", torch.float64),
        "r_z": r_z,
        "r_in": r_in,
        "r_unc": r_unc,
        "ok_z": ok_z,
        "ok_in": ok_in,
        "ok_unc": ok_unc,
        "adv_x": unc.perturbed[:keep].detach().cpu(),
        "adv_z": lat.perturbed[:keep].detach().cpu(),
    }


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
            log.info("data: %s loaded in %.1fs from %s", self.cfg.dataset, time.perf_counter() - t0, self._dataset.source)
        return self._dataset

    def fingerprint(self) -> dict[str, Any]:
        if self._fingerprint is None:
            self._fingerprint = dataset_fingerprint(
                self.cfg.dataset, self.cfg.data_dir, test_fraction=self.cfg.test_fraction, split_seed=self.cfg.split_seed
            )
        return self._fingerprint

    def data_shape(self) -> dict[str, Any]:
        """Image shape and classes without loading the data (stored once per run directory)."""
        if self._shape is None:
            key = stage_key("shape", self.fingerprint(), self.cfg.max_train, self.cfg.max_test)
            stored = self.store.load("data", key)
            if stored is None:
                ds = self.dataset()
                stored = {"image_shape": list(ds.image_shape), "classes": list(ds.classes), "n_train": len(ds.train_labels), "n_test": len(ds.test_labels), "source": ds.source}
                if self.dist.is_main:
                    self.store.save("data", key, stored)
            self._shape = stored
        return self._shape

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
        return stage_key("generator", cfg.generator, cfg.latent_dim, cfg.width_scale, self.data_shape()["image_shape"], source)

    def build_generator(self) -> nn.Module:
        """An untrained sampling generator ``z -> image`` (the VAE's decoder for ``vae``)."""
        c, h, _ = self.data_shape()["image_shape"]
        cfg = self.cfg
        assert cfg.generator is not None and cfg.latent_dim is not None and cfg.width_scale is not None
        model = build_generator(cfg.generator, latent_dim=cfg.latent_dim, out_channels=c, image_size=h, width_scale=cfg.width_scale)
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
            assert cfg.generator_epochs is not None and cfg.generator_batch_size is not None and cfg.generator_lr is not None
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
                    disc = DCGANDiscriminator(ds.image_shape[0], ds.image_shape[1], ndf=max(1, round(64 * (cfg.width_scale or 1.0))))
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
                    training.recalibrate_batchnorm(full, cfg.latent_dim or 1, self.device, gen=rng, batches=2 if cfg.smoke else 50)
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
        return stage_key(
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

    # ------------------------------------------------------------------ measurement
    def latents(self) -> torch.Tensor:
        """The N measured latent vectors, drawn on the CPU from the run seed (same on every rank/device)."""
        assert self.cfg.n_samples is not None and self.cfg.latent_dim is not None
        g = torch.Generator().manual_seed(derive_seed(self.cfg.seed, "latents"))
        return torch.randn(self.cfg.n_samples, self.cfg.latent_dim, generator=g)

    def measure_key(self, name: str, generator_key: str) -> str:
        cfg = self.cfg
        return stage_key(
            "measure",
            MEASURE_VERSION,
            generator_key,
            self.classifier_key(name),
            cfg.seed,
            cfg.n_samples,
            cfg.latent_dim,
            cfg.chunk_size,
            cfg.overshoot,
            cfg.max_iter,
            cfg.refine,
        )

    def run_measure(self, name: str, classifier: nn.Module, generator: nn.Module, generator_key: str) -> dict[str, Any]:
        """Stage 3: per-sample r_Z, r_in, r_unc on the generated samples, chunk by chunk.

        Each rank measures its share of the chunks; the chunks are gathered so that
        every rank returns the full, ordered per-sample arrays.
        """
        cfg = self.cfg
        key = self.measure_key(name, generator_key)
        stage = f"measure-{name}"
        t0 = time.perf_counter()
        stored = self.store.load(stage, key)
        if stored is not None:
            self._record(stage, key, "loaded", t0)
            return stored
        z = self.latents()
        assert cfg.chunk_size is not None
        n_chunks = math.ceil(len(z) / cfg.chunk_size)
        mine = shard_indices(n_chunks, self.dist.rank, self.dist.world_size)
        attacks = _attacks(cfg)
        computed = loaded = 0
        results: dict[int, dict[str, torch.Tensor]] = {}
        bar: Any = None
        if self.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(mine), desc=f"measure {name}", leave=False, dynamic_ncols=True)
        for idx in mine:
            ckey = f"{key}-chunk{idx:05d}"
            chunk = self.store.load(stage, ckey)
            if chunk is None:
                zc = z[idx * cfg.chunk_size : (idx + 1) * cfg.chunk_size].to(self.device)
                chunk = measure_chunk(classifier, generator, zc, attacks, keep=(cfg.n_examples or 0) if idx == 0 else 0)
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

    # ------------------------------------------------------------------ modulus
    def modulus_key(self, generator_key: str, radii: list[float]) -> str:
        cfg = self.cfg
        return stage_key(
            "modulus",
            generator_key,
            [float(r).hex() for r in radii],
            cfg.modulus_samples,
            cfg.failure_prob,
            cfg.modulus_confidence,
            cfg.modulus_restarts,
            cfg.modulus_steps,
            cfg.seed,
        )

    def run_modulus(self, generator: nn.Module, generator_key: str, radii: list[float]) -> dict[str, Any]:
        """Stage 4: omega of the generator at ``radii`` (with failure probability delta)."""
        cfg = self.cfg
        key = self.modulus_key(generator_key, radii)
        t0 = time.perf_counter()
        stored = self.store.load("modulus", key)
        if stored is not None:
            self._record("modulus", key, "loaded", t0)
            return stored
        from ..smoothness import estimate_modulus, required_samples

        kwargs: dict[str, Any] = {
            "radii": radii,
            "n_samples": cfg.modulus_samples,
            "failure_prob": cfg.failure_prob,
            "confidence": cfg.modulus_confidence,
            "restarts": cfg.modulus_restarts,
            "steps": cfg.modulus_steps,
            "seed": derive_seed(cfg.seed, "modulus"),
        }
        assert cfg.latent_dim is not None and cfg.failure_prob is not None and cfg.modulus_confidence is not None
        omega = estimate_modulus(generator, cfg.latent_dim, progress=self.progress, **kwargs)
        out = {
            "radii": [float(r) for r in np.asarray(omega.radii, dtype=np.float64)],
            "values": [float(v) for v in np.asarray(omega.values, dtype=np.float64)],
            "failure_prob": float(omega.failure_prob),
            "requested_radii": [float(r) for r in radii],
            "settings": {
                **{k: v for k, v in kwargs.items() if k != "radii"},
                "n_samples": cfg.modulus_samples or required_samples(cfg.failure_prob, cfg.modulus_confidence, len(radii)),
            },
            "repr": repr(omega),
            "seconds": time.perf_counter() - t0,
        }
        self.store.save("modulus", key, out)
        self._record("modulus", key, "computed", t0)
        return out

    # ------------------------------------------------------------------ examples
    def run_examples(
        self,
        classifiers: dict[str, nn.Module],
        generator: nn.Module,
        generator_key: str,
        measures: dict[str, dict[str, Any]],
    ) -> dict[str, Any]:
        """Stage 5: sample grid plus original / adversarial triples for the report's pictures.

        The adversarial points come from the measurement (its first chunk keeps them),
        so no attack runs here.
        """
        cfg = self.cfg
        key = stage_key("examples", generator_key, [self.measure_key(n, generator_key) for n in classifiers], cfg.n_examples)
        t0 = time.perf_counter()
        stored = self.store.load("examples", key)
        if stored is not None:
            self._record("examples", key, "loaded", t0)
            return stored
        z = self.latents()
        with torch.no_grad():
            samples = generator(z[:64].to(self.device)).cpu()
        per: dict[str, Any] = {}
        for name, clf in classifiers.items():
            adv_x = measures[name]["adv_x"].to(self.device)
            adv_z = measures[name]["adv_z"].to(self.device)
            n = min(len(adv_x), len(adv_z))
            with torch.no_grad():
                x = generator(z[:n].to(self.device))
                x_in = generator(adv_z[:n])
                per[name] = {
                    "x": x.cpu(),
                    "x_unc": adv_x[:n].clamp(0, 1).cpu(),
                    "x_in": x_in.cpu(),
                    "label": clf(x).argmax(1).cpu(),
                    "label_unc": clf(adv_x[:n]).argmax(1).cpu(),
                    "label_in": clf(x_in).argmax(1).cpu(),
                }
        out = {"samples": samples, "pairs": per}
        self.store.save("examples", key, out)
        self._record("examples", key, "computed", t0)
        return out
