"""Time each stage of the default digits run of ``isobound experiment`` and record the report table.

Usage::

    python benchmarks/bench_experiment.py                 # fresh run in a temporary directory
    python benchmarks/bench_experiment.py --out benchmarks/results/experiment.md

It runs the default configuration (what ``isobound experiment`` does with no
arguments) from scratch, then runs it again on the finished run directory (the
resume path), and writes the per-stage times, both totals, the best classifier's
test accuracy, the audit verdicts and the report's table, with the command, the
machine and the date, to ``--out``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "experiment.md"))
    parser.add_argument("--run-dir", help="run directory (default: a fresh temporary one, removed afterwards)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)

    import torch

    from isobound_torch.experiment import ExperimentConfig, run

    tmp = None
    if args.run_dir is None:
        tmp = tempfile.mkdtemp(prefix="isobound-bench-")
        run_dir = Path(tmp) / "digits"
    else:
        run_dir = Path(args.run_dir)
        if run_dir.exists():
            shutil.rmtree(run_dir)
    try:
        cfg = ExperimentConfig(run_dir=str(run_dir), device=args.device, progress=False)
        t0 = time.perf_counter()
        first = run(cfg)
        fresh_total = time.perf_counter() - t0
        t0 = time.perf_counter()
        second = run(cfg)
        rerun_total = time.perf_counter() - t0
    finally:
        if tmp is not None:
            saved = Path(args.out).parent / "experiment_run"
            if "first" in locals():
                if saved.exists():
                    shutil.rmtree(saved)
                saved.mkdir(parents=True)
                for f in [*run_dir.glob("*.png"), run_dir / "report.md"]:
                    if f.exists():
                        shutil.copy2(f, saved / f.name)
            shutil.rmtree(tmp, ignore_errors=True)

    report = first.report
    clfs = report["classifiers"]
    best = min(clfs, key=lambda n: clfs[n]["test_error"])
    verdicts = {
        n: {s: ("ok" if c["audit"][s]["ok"] else "VIOLATION") for s in ("z", "in", "unc")} for n, c in clfs.items()
    }
    lines = [
        "# `isobound experiment` on the bundled digits: stage times",
        "",
        f"Command: `python benchmarks/bench_experiment.py` (the default configuration of `isobound experiment`, "
        f"device `{args.device}`, run from scratch, then re-run on the finished run directory).",
        "",
        f"Machine: {_cpu_model()}, {os.cpu_count()} logical CPUs, torch {torch.__version__} "
        f"(the run used {first.config.num_threads or torch.get_num_threads()} thread(s)), "
        f"Python {platform.python_version()}, {platform.system()}. "
        f"Date: {dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}. The machine was shared "
        "with other work while this ran, so times are indicative.",
        "",
        "| stage | status | seconds |",
        "|---|---|---|",
        *[f"| {r.name} | {r.status} | {r.seconds:.1f} |" for r in first.stages],
        f"| **total, fresh run** | | **{fresh_total:.1f}** |",
        f"| **total, re-run of the finished run** | all reused | **{rerun_total:.1f}** |",
        "",
        f"Best classifier: `{best}`, test accuracy {100 * (1 - clfs[best]['test_error']):.1f}% "
        f"({len(report['classifiers'])} classifiers, N = {report['settings']['n_samples']} generated samples, "
        f"d = {report['settings']['latent_dim']}).",
        "",
        "Audit verdicts (Z-space / in-distribution / unconstrained): "
        + "; ".join(f"`{n}` {v['z']}/{v['in']}/{v['unc']}" for n, v in verdicts.items())
        + ".",
        "",
        "## The report's table",
        "",
        first.table,
        "",
        "Re-run statuses: " + ", ".join(f"{k}={v}" for k, v in second.statuses().items()) + ".",
        "",
    ]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
