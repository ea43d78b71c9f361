"""``run(config)``: the whole experiment, from data to report, resumable and torchrun-aware."""

from __future__ import annotations

import datetime as _dt
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from . import report as rep
from .config import ExperimentConfig
from .distributed import DistContext, setup_distributed
from .stages import Pipeline, StageRecord, _cpu_state, _freeze, resolve_device

__all__ = ["ExperimentResult", "run", "compute_bounds"]

log = logging.getLogger("isobound_torch.experiment")
_EPS = float(np.finfo(np.float64).eps)


@dataclass
class ExperimentResult:
    """What :func:`run` returns.

    Attributes
    ----------
    config : ExperimentConfig
        The resolved configuration.
    run_dir : Path
        The run directory.
    report : dict
        The JSON report (empty on ranks other than 0).
    table : str
        The Markdown table (empty on ranks other than 0).
    stages : list of StageRecord
        What each stage did in this invocation (computed, loaded, resumed; timings).
    files : dict
        Report files by role (``report_md``, ``report_json``, ``samples_png``, ...).
    rank : int
        This process's rank (0 for a plain run).
    """

    config: ExperimentConfig
    run_dir: Path
    report: dict[str, Any] = field(default_factory=dict)
    table: str = ""
    stages: list[StageRecord] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)
    rank: int = 0

    def stage(self, name: str) -> StageRecord:
        """The record of stage ``name`` (e.g. ``"generator"``, ``"measure-lenet"``)."""
        for rec in self.stages:
            if rec.name == name:
                return rec
        raise KeyError(f"no stage named {name!r}; stages: {[r.name for r in self.stages]}")

    def statuses(self) -> dict[str, str]:
        """``{stage name: status}``."""
        return {r.name: r.status for r in self.stages}


def compute_bounds(
    class_props: dict[str, np.ndarray],
    n_classes: int,
    latent_dim: int,
    quantile: float,
    failure_prob: float,
    *,
    n_samples: int | None = None,
    confidence: float | None = None,
) -> tuple[dict[str, Any], Any, list[float]]:
    """Latent bounds per classifier and for K equiprobable classes, and the omega radii they need.

    Returns ``(latent_bounds, equiprobable_bound, needed_radii)`` where ``needed_radii``
    are the latent quantiles at ``quantile + failure_prob`` (rounded up a little, so the
    image-space quantile ``omega(latent.ppf(q + delta))`` reads omega at or below a
    measured radius).

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
    target = min((quantile + failure_prob) * (1 + 8 * _EPS), 1.0)
    needed = []
    for b in [*bounds.values(), equi]:
        t = float(b.ppf(target))
        if math.isfinite(t) and t > 0:
            needed.append(t)
    return bounds, equi, needed


def _merge_radii(base: tuple[float, ...], needed: list[float]) -> list[float]:
    out = sorted(set(float(r) for r in base) | set(needed))
    merged: list[float] = []
    for r in out:  # drop near-duplicates (a needed radius wins over a grid radius)
        if merged and r - merged[-1] <= 1e-9 * r:
            merged[-1] = max(merged[-1], r)
        else:
            merged.append(r)
    return merged


def _safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def run(config: ExperimentConfig) -> ExperimentResult:
    """Run (or resume) the experiment described by ``config``.

    Train the generator and the classifiers, measure r_Z, r_in and r_unc with
    DeepFool on N generated samples, estimate omega, compute the bounds of Theorem 1
    from each classifier's class proportions on generated data (and for K
    equiprobable classes), audit the measurements against them, and write the
    report (Markdown, JSON, PNG) into the run directory.

    Stages already stored in the run directory with the same settings are reused;
    a re-run of a finished run only re-renders the report. Under ``torchrun`` the
    measurement is sharded over the ranks (see :mod:`.distributed`).

    Parameters
    ----------
    config : ExperimentConfig

    Returns
    -------
    ExperimentResult
    """
    import isobound as ib

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
        assert cfg.classifiers is not None and cfg.latent_dim is not None
        if dist.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
            pipe.store.write_text("config.json", cfg.to_json() + "\n")
            log.info("run directory %s, device %s, world size %d", run_dir, device, dist.world_size)

        # ---- stages 1-2: train on rank 0, share the weights
        classifiers: dict[str, nn.Module] = {}
        clf_info: dict[str, dict[str, Any]] = {}
        generator: nn.Module
        if dist.is_main:
            generator, gen_info = pipe.run_generator()
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
                        n: {"state_dict": i["state_dict"], "mean": i["mean"], "std": i["std"]} for n, i in clf_info.items()
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

        # ---- stage 3: measurements (sharded under torchrun)
        measures = {name: pipe.run_measure(name, classifiers[name], generator, gen_key) for name in cfg.classifiers}
        if not dist.is_main:
            return ExperimentResult(config=cfg, run_dir=run_dir, stages=pipe.records, rank=dist.rank)

        # ---- stages 4-5: omega and pictures (rank 0)
        shape = pipe.data_shape()
        n_classes = len(shape["classes"])
        props = {n: rep.class_proportions(measures[n]["labels"].numpy(), n_classes) for n in cfg.classifiers}
        assert cfg.failure_prob is not None
        n_measured = int(next(iter(measures.values()))["labels"].numel())
        latent_bounds, equi, needed = compute_bounds(
            props, n_classes, cfg.latent_dim, cfg.quantile, cfg.failure_prob,
            n_samples=n_measured, confidence=cfg.ci_level,
        )
        assert cfg.radii is not None
        radii = _merge_radii(cfg.radii, needed)
        modulus = pipe.run_modulus(generator, gen_key, radii)
        omega = ib.PiecewiseLinear(
            modulus["radii"], modulus["values"], interpolation="step", failure_prob=modulus["failure_prob"]
        )
        examples = pipe.run_examples(classifiers, generator, gen_key, measures)

        # ---- stage 6: bounds, audits, report
        t_report = time.perf_counter()
        report = _assemble(cfg, pipe, device, dist, measures, clf_info_or_loaded(pipe, clf_info), props, latent_bounds, equi, omega, modulus)
        files = _write_report(cfg, run_dir, pipe, report, measures, latent_bounds, omega, examples, shape)
        pipe.records.append(StageRecord("report", "-", "computed", time.perf_counter() - t_report, {}))
        report["stages"] = [r.as_dict() for r in pipe.records]
        report["total_seconds"] = time.perf_counter() - t_start
        report["files"] = {k: str(v.name) for k, v in files.items()}
        pipe.store.write_text("report.json", rep.write_json(run_dir / "report.json", report) + "\n")
        files["report_json"] = run_dir / "report.json"
        md = _markdown(report)
        pipe.store.write_text("report.md", md)
        files["report_md"] = run_dir / "report.md"
        return ExperimentResult(
            config=cfg, run_dir=run_dir, report=report, table=report["table_markdown"], stages=pipe.records, files=files
        )
    finally:
        if torch.get_num_threads() != threads_before:
            torch.set_num_threads(threads_before)
        dist.close()


def clf_info_or_loaded(pipe: Pipeline, info: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Classifier facts for the report (test error, parameter count, training history)."""
    return {
        n: {"test_error": float(i["test_error"]), "n_params": int(i.get("n_params", 0)), "history": i.get("history", [])}
        for n, i in info.items()
    }


def _assemble(
    cfg: ExperimentConfig,
    pipe: Pipeline,
    device: torch.device,
    dist: DistContext,
    measures: dict[str, dict[str, Any]],
    clf_info: dict[str, dict[str, Any]],
    props: dict[str, np.ndarray],
    latent_bounds: dict[str, Any],
    equi: Any,
    omega: Any,
    modulus: dict[str, Any],
) -> dict[str, Any]:
    import isobound as ib

    assert cfg.latent_dim is not None and cfg.classifiers is not None
    q = cfg.quantile
    ez = float(ib.expected_gaussian_norm(cfg.latent_dim))
    first = measures[cfg.classifiers[0]]
    norms = first["image_norms"].numpy()
    mean_norm = float(norms.mean())
    normalisers = {"z": ez, "in": mean_norm, "unc": mean_norm}
    equi_image = equi.through(omega)
    classifiers: dict[str, Any] = {}
    for name in cfg.classifiers:
        m = measures[name]
        latent = latent_bounds[name]
        image = latent.through(omega)
        dist_raw = {"z": m["r_z"].numpy(), "in": m["r_in"].numpy(), "unc": m["r_unc"].numpy()}
        empirical = {
            s: rep.empirical_quantile(dist_raw[s], q, level=cfg.ci_level).scaled(1.0 / normalisers[s]).as_dict()
            for s in rep.SETTINGS
        }
        audits = {
            s: ib.audit_robustness(dist_raw[s], latent if s == "z" else image, confidence=cfg.audit_confidence).as_dict()
            for s in rep.SETTINGS
        }
        z_raw = float(latent.ppf(q))
        image_raw = float(image.ppf(q))
        classifiers[name] = {
            **clf_info[name],
            "class_proportions": props[name].tolist(),
            # the proportions the bound uses: majorizing every vector in the
            # simultaneous ci_level intervals around the estimate
            "bound_class_proportions": {
                "confidence": cfg.ci_level,
                "values": [float(v) for v in np.sort(latent.class_probs)[::-1]],
            },
            "bound": {"z": z_raw / ez, "image": image_raw / mean_norm, "z_raw": z_raw, "image_raw": image_raw},
            "empirical": empirical,
            "audit": audits,
            "success_rate": {s: float(m[f"ok_{s}"].float().mean()) for s in rep.SETTINGS},
            "per_sample": {
                "label": m["labels"].tolist(),
                "r_z": dist_raw["z"],
                "r_in": dist_raw["in"],
                "r_unc": dist_raw["unc"],
            },
        }
    shape = pipe.data_shape()
    z_eq, img_eq = float(equi.ppf(q)), float(equi_image.ppf(q))
    report: dict[str, Any] = {
        "title": f"isobound experiment: {cfg.dataset}",
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "config": cfg.to_dict(),
        "versions": rep.versions(),
        "device": str(device),
        "world_size": dist.world_size,
        "dataset": {**shape, "fingerprint": pipe.fingerprint()},
        "settings": {
            "quantile": q,
            "failure_prob": omega.failure_prob,
            "n_samples": cfg.n_samples,
            "latent_dim": cfg.latent_dim,
            "expected_latent_norm": ez,
            "mean_image_norm": mean_norm,
            "audit_confidence": cfg.audit_confidence,
            "ci_level": cfg.ci_level,
            "seed": cfg.seed,
        },
        "modulus": {**modulus, "interpolation": "step"},
        "upper_bound": {
            "n_classes": len(shape["classes"]),
            "z": z_eq / ez,
            "image": img_eq / mean_norm,
            "z_raw": z_eq,
            "image_raw": img_eq,
        },
        "classifiers": classifiers,
        "image_norms": norms,
    }
    report["table_markdown"] = rep.markdown_table(report)
    return rep.json_ready(report)  # type: ignore[no-any-return]


def _write_report(
    cfg: ExperimentConfig,
    run_dir: Path,
    pipe: Pipeline,
    report: dict[str, Any],
    measures: dict[str, dict[str, Any]],
    latent_bounds: dict[str, Any],
    omega: Any,
    examples: dict[str, Any],
    shape: dict[str, Any],
) -> dict[str, Path]:
    from .store import atomic_write

    files: dict[str, Path] = {}
    s = report["settings"]
    normalisers = {"z": s["expected_latent_norm"], "in": s["mean_image_norm"], "unc": s["mean_image_norm"]}
    assert cfg.classifiers is not None
    for name in cfg.classifiers:
        m = measures[name]
        path = run_dir / f"cdf_{_safe_name(name)}.png"
        dists = {"z": m["r_z"].numpy(), "in": m["r_in"].numpy(), "unc": m["r_unc"].numpy()}
        bounds = {"z": latent_bounds[name], "image": latent_bounds[name].through(omega)}
        def draw(p: Path, n: str = name, d: dict[str, Any] = dists, b: dict[str, Any] = bounds) -> Path:
            return rep.plot_cdfs(p, n, d, b, normalisers, quantile=cfg.quantile)

        atomic_write(path, draw)
        files[f"cdf_{name}"] = path
    samples = examples["samples"].numpy()
    path = run_dir / "samples.png"
    atomic_write(path, lambda p: rep.plot_images(p, samples, f"generator samples g(z), {cfg.generator}, d = {cfg.latent_dim}"))
    files["samples_png"] = path
    pairs = {n: {k: v.numpy() for k, v in ex.items()} for n, ex in examples["pairs"].items()}
    path = run_dir / "pairs.png"
    atomic_write(path, lambda p: rep.plot_pairs(p, pairs, shape["classes"]))
    files["pairs_png"] = path
    return files


def _markdown(report: dict[str, Any]) -> str:
    s = report["settings"]
    cfg = report["config"]
    mod = report["modulus"]
    lines = [
        f"# {report['title']}",
        "",
        f"Created {report['created']} on {report['device']} (world size {report['world_size']}); "
        f"seed {cfg['seed']}; generator `{cfg['generator']}` with d = {s['latent_dim']}; "
        f"N = {s['n_samples']} generated samples; classifiers {', '.join('`' + c + '`' for c in cfg['classifiers'])}.",
        "",
        f"Each cell is the {int(round(100 * s['quantile']))}% quantile of the normalised robustness, "
        f"with a {int(round(100 * s['ci_level']))}% order-statistic confidence interval in brackets. "
        f"Z-space values are divided by E||z||_2 = {s['expected_latent_norm']:.5g}; image-space values by the "
        f"mean image norm {s['mean_image_norm']:.5g}. The upper-bound column is Theorem 1 for "
        f"{report['upper_bound']['n_classes']} equiprobable classes (the paper's column); the second table "
        "gives each classifier's own bound, from its class proportions on generated data, and the audit "
        f"of the measurements against it ({int(round(100 * s['audit_confidence']))}% confidence).",
        "",
        report["table_markdown"],
        "",
        "## Smoothness of the generator",
        "",
        f"omega estimated at {len(mod['radii'])} latent radii with failure probability delta = {s['failure_prob']:g} "
        f"(the image-space bound's cdf is lowered by delta); between radii it is read at the next measured radius "
        f"(step interpolation, the conservative choice); beyond the last radius it is +inf.",
        "",
        "| t | " + " | ".join(f"{r:.3g}" for r in mod["radii"]) + " |",
        "|---|" + "---|" * len(mod["radii"]),
        "| omega(t) | " + " | ".join(f"{v:.3g}" for v in mod["values"]) + " |",
        "",
        "omega is estimated by maximisation (gradient ascent), which can only under-estimate the true "
        "supremum: an image-space bound built on it may claim too much, and the audit is the check.",
        "",
        "## Audit",
        "",
    ]
    for name, c in report["classifiers"].items():
        for key, label in (("z", "Z-space"), ("in", "in-distribution"), ("unc", "unconstrained")):
            lines.append(f"- `{name}`, {label}: {c['audit'][key]['message']}")
    lines += [
        "",
        "## Plots",
        "",
        *[f"![{n}]({report['files'].get('cdf_' + n, '')})" for n in report["classifiers"]],
        "",
        f"![samples]({report['files'].get('samples_png', 'samples.png')})",
        "",
        f"![pairs]({report['files'].get('pairs_png', 'pairs.png')})",
        "",
        "## Stages",
        "",
        "| stage | status | seconds | key |",
        "|---|---|---|---|",
        *[f"| {r['name']} | {r['status']} | {r['seconds']:.1f} | `{r['key']}` |" for r in report["stages"]],
        "",
        f"Total {report['total_seconds']:.1f} s. Versions: "
        + ", ".join(f"{k} {v}" for k, v in report["versions"].items() if k != "platform")
        + ".",
        "",
    ]
    return "\n".join(lines)
