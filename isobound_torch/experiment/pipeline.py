"""``run(config)``: the whole experiment, from data to report, resumable and torchrun-aware.

The experiment is "train, then evaluate": the training stages of :mod:`.stages`
produce a generator and classifiers, and the evaluation stages of
:mod:`.evaluation` (the ones :func:`isobound_torch.evaluate` runs on a user's own
models) measure, bound and report.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .config import ExperimentConfig
from .distributed import setup_distributed
from .evaluation import EvaluationResult, Evaluator, compute_bounds
from .stages import Pipeline, _cpu_state, _freeze, resolve_device

__all__ = ["ExperimentResult", "run", "compute_bounds"]

log = logging.getLogger("isobound_torch.experiment")


@dataclass
class ExperimentResult(EvaluationResult):
    """What :func:`run` returns: an :class:`~.evaluation.EvaluationResult` plus the configuration.

    Attributes
    ----------
    config : ExperimentConfig
        The resolved configuration.
    run_dir : Path
        The run directory.
    report : dict
        The JSON report (empty on ranks other than 0).
    table : str
        The Markdown tables (empty on ranks other than 0).
    stages : list of StageRecord
        What each stage did in this invocation (computed, loaded, resumed; timings).
    files : dict
        Report files by role (``report_md``, ``report_json``, ``samples``, ...).
    rank : int
        This process's rank (0 for a plain run).
    """

    config: ExperimentConfig | None = None


def run(config: ExperimentConfig) -> ExperimentResult:
    """Run (or resume) the experiment described by ``config``.

    Train the generator and the classifiers, then evaluate them: measure r_Z, r_in
    and r_unc with DeepFool on N generated samples in every image norm of
    ``config.norms``, estimate omega, compute the bounds of Theorem 1 from each
    classifier's class proportions on generated data (and for K equiprobable
    classes), the robust-accuracy ceilings at ``config.epsilons``, audit the
    measurements against the bounds, and write the report (Markdown, JSON, PNG)
    into the run directory.

    Stages already stored in the run directory with the same settings and code
    versions are reused; a re-run of a finished run only re-renders the report.
    Under ``torchrun`` the measurement is sharded over the ranks (see
    :mod:`.distributed`).

    Parameters
    ----------
    config : ExperimentConfig

    Returns
    -------
    ExperimentResult
    """
    cfg = config.resolved()
    if cfg.device.startswith("cuda"):
        resolve_device(cfg.device)  # fail before joining a process group
    use_cuda = cfg.device.startswith("cuda") or (cfg.device == "auto" and torch.cuda.is_available())
    dist = setup_distributed(use_cuda=use_cuda, timeout_minutes=cfg.dist_timeout_minutes)
    t_start = time.perf_counter()
    threads_before = torch.get_num_threads()
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    try:
        device = resolve_device(cfg.device, dist.local_rank)
        pipe = Pipeline(cfg, dist, device)
        run_dir = Path(cfg.run_dir or ".")
        if cfg.classifiers is None or cfg.latent_dim is None:  # pragma: no cover - resolved() sets them
            raise RuntimeError("unresolved configuration")
        if dist.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
            pipe.store.write_text("config.json", cfg.to_json() + "\n")
            log.info("run directory %s, device %s, world size %d", run_dir, device, dist.world_size)

        # ---- training: on rank 0, weights shared with the other ranks
        classifiers: dict[str, nn.Module] = {}
        clf_info: dict[str, dict[str, Any]] = {}
        generator: nn.Module
        if dist.is_main:
            generator, _gen_info = pipe.run_generator()
            gen_key = pipe.generator_key()
            for name in cfg.classifiers:
                classifiers[name], clf_info[name] = pipe.run_classifier(name)
        if cfg.train_only:
            dist.barrier()
            return ExperimentResult(config=cfg, run_dir=run_dir, stages=pipe.records, rank=dist.rank)
        payload = None
        if dist.active:
            if dist.is_main:
                payload = {
                    "fingerprint": pipe.fingerprint(),
                    "shape": pipe.data_shape(),
                    "generator_key": gen_key,
                    "generator": _cpu_state(generator),
                    "classifiers": {
                        n: {"state_dict": i["state_dict"], "mean": i["mean"], "std": i["std"]}
                        for n, i in clf_info.items()
                    },
                }
            payload = dist.broadcast(payload)
            if not dist.is_main:
                assert payload is not None
                pipe._fingerprint, pipe._shape = payload["fingerprint"], payload["shape"]
                gen_key = payload["generator_key"]
                generator = pipe.build_generator()
                generator.load_state_dict(payload["generator"])
                generator = _freeze(generator.to(device))
                for n, info in payload["classifiers"].items():
                    model = pipe.build_classifier(n, info["mean"], info["std"])
                    model.load_state_dict(info["state_dict"])
                    classifiers[n] = _freeze(model.to(device))
            del payload

        # ---- evaluation: the same stages as `isobound evaluate`
        shape = pipe.data_shape()
        evaluator = Evaluator(
            cfg.evaluation_settings(), store=pipe.store, dist=dist, device=device, records=pipe.records
        )
        keys = {name: pipe.classifier_key(name) for name in cfg.classifiers}
        meta = {
            "title": f"isobound experiment: {cfg.dataset}",
            "dataset": {**shape, "name": cfg.dataset, "fingerprint": pipe.fingerprint()},
            "config": cfg.to_dict(),
            "generator_name": cfg.generator,
            "models": {
                "generator": {"description": f"`{cfg.generator}` (trained by this run)", "key": gen_key},
                "classifiers": {n: {"description": f"`{n}` (trained by this run)", "key": k} for n, k in keys.items()},
            },
        }
        result = evaluator.evaluate(
            generator,
            gen_key,
            classifiers,
            keys,
            n_classes=len(shape["classes"]),
            classifier_info=_classifier_facts(clf_info),
            meta=meta,
            run_dir=run_dir if dist.is_main else None,
            t_start=t_start,
        )
        return ExperimentResult(
            config=cfg,
            run_dir=run_dir,
            report=result.report,
            table=result.table,
            tables=result.tables,
            stages=pipe.records,
            files=result.files,
            rank=dist.rank,
            _plotters=result._plotters,
        )
    finally:
        if torch.get_num_threads() != threads_before:
            torch.set_num_threads(threads_before)
        dist.close()


def _classifier_facts(info: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Classifier facts for the report (test error, parameter count, training history)."""
    return {
        n: {
            "test_error": float(i["test_error"]),
            "n_params": int(i.get("n_params", 0)),
            "history": i.get("history", []),
        }
        for n, i in info.items()
    }
