"""Time ``isobound evaluate`` on the digits with user-supplied model files, both image norms.

Usage::

    python benchmarks/bench_evaluate.py                      # writes benchmarks/results/evaluate.md
    python benchmarks/bench_evaluate.py --device cuda        # on a GPU machine

Steps (only the last two are timed):

1. train the digits models with ``isobound experiment --train-only`` (VAE decoder
   with d = 8, classifiers lenet, cnn, mlp) in a temporary directory;
2. save them the way a user would hand them over: the generator and ``lenet`` as
   ``torch.export`` programs (``.pt2``, dynamic batch), ``cnn`` as a factory in a
   small Python module of the user's (``user_models:make_cnn``) and ``mlp`` as a
   built-in architecture with a ``state_dict`` (``mlp:mlp.pt``);
3. run ``isobound evaluate ... --norm l2,linf --epsilon 8/255,0.1 --test-data
   digits`` as a subprocess (interpreter start and imports included), from scratch;
4. run the same command again on the finished run directory (every stage reused).

The goal (issue 7) is at most 60 s for step 3 on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

USER_MODULE = '''"""A user's own module: builds the classifier and loads its weights (what a factory SPEC runs)."""
import torch
from isobound_torch.models import build_classifier


def make_cnn(weights):
    model = build_classifier("cnn", in_channels=1, image_size=8, n_classes=10)
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return model.eval()
'''


def _export(model, example, path: Path) -> None:  # type: ignore[no-untyped-def]
    import torch

    program = torch.export.export(model, (example,), dynamic_shapes=({0: torch.export.Dim("batch")},))
    torch.export.save(program, str(path))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "evaluate.md"))
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads of the evaluate run (default 1, as the digits experiment)"
    )
    parser.add_argument("--keep", help="keep the model files and run directory in this directory (for profiling)")
    args = parser.parse_args(argv)

    import torch
    from bench_experiment import _cpu_model  # this folder is on sys.path when the script runs

    from isobound_torch.experiment import ExperimentConfig, run

    tmp = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="isobound-bench-evaluate-"))
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.perf_counter()
        trained = run(ExperimentConfig(run_dir=str(tmp / "train"), device="cpu", progress=False, train_only=True))
        train_seconds = time.perf_counter() - t0
        pipe_cfg = trained.config
        from isobound_torch.experiment.distributed import DistContext
        from isobound_torch.experiment.stages import Pipeline

        pipe = Pipeline(pipe_cfg, DistContext(), torch.device("cpu"))
        generator, _ = pipe.run_generator()
        models = {name: pipe.run_classifier(name)[0] for name in ("lenet", "cnn", "mlp")}
        user = tmp / "user"
        user.mkdir()
        _export(generator, torch.randn(4, 8), user / "generator.pt2")
        _export(models["lenet"], torch.rand(4, 1, 8, 8), user / "lenet.pt2")
        torch.save(models["cnn"].state_dict(), user / "cnn_weights.pt")
        (user / "user_models.py").write_text(USER_MODULE)
        torch.save(models["mlp"].state_dict(), user / "mlp.pt")
        command = [
            sys.executable, "-m", "isobound", "evaluate",
            "--generator", "generator.pt2",
            "--classifier", "lenet=lenet.pt2",
            "--classifier", "cnn=user_models:make_cnn,weights='cnn_weights.pt'",
            "--classifier", "mlp=mlp:mlp.pt",
            "--latent-dim", "8", "--norm", "l2,linf", "--epsilon", "8/255,0.1", "--test-data", "digits",
            "--device", args.device, "--threads", str(args.threads), "--run-dir", str(tmp / "run"),
            "--quiet", "--json",
        ]  # fmt: skip
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}

        def cpu() -> float:
            use = resource.getrusage(resource.RUSAGE_CHILDREN)
            return use.ru_utime + use.ru_stime

        load = os.getloadavg()[0]
        t0, c0 = time.perf_counter(), cpu()
        first = subprocess.run(command, cwd=user, env=env, capture_output=True, text=True)
        fresh, fresh_cpu = time.perf_counter() - t0, cpu() - c0
        if first.returncode != 0:
            print(first.stderr, file=sys.stderr)
            return 1
        report = json.loads((tmp / "run" / "report.json").read_text())  # the fresh run's stages
        t0, c0 = time.perf_counter(), cpu()
        second = subprocess.run(command, cwd=user, env=env, capture_output=True, text=True)
        rerun, rerun_cpu = time.perf_counter() - t0, cpu() - c0
        if second.returncode != 0:
            print(second.stderr, file=sys.stderr)
            return 1
        md_table = report["table_markdown"]
        summary = json.loads(second.stdout)
    finally:
        saved = Path(args.out).parent / "evaluate_run"
        if (tmp / "run" / "report.md").exists():
            if saved.exists():
                shutil.rmtree(saved)
            saved.mkdir(parents=True)
            for f in [*(tmp / "run").glob("*.png"), tmp / "run" / "report.md"]:
                shutil.copy2(f, saved / f.name)
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)

    stages = report["stages"]
    lines = [
        "# `isobound evaluate` on the digits with user-supplied model files, l2 and linf",
        "",
        f"Command: `python benchmarks/bench_evaluate.py --device {args.device} --threads {args.threads}`. The models "
        f"(VAE decoder d = 8; lenet, cnn, mlp) were trained first by `isobound experiment --train-only` "
        f"({train_seconds:.0f} s, not timed) and handed over as a torch.export program (generator, lenet), a factory "
        "in the user's own module (cnn) and a built-in architecture with a state_dict (mlp). Timed: the command",
        "",
        "```",
        "isobound evaluate --generator generator.pt2 --classifier lenet=lenet.pt2 \\",
        "    --classifier cnn=user_models:make_cnn,weights='cnn_weights.pt' --classifier mlp=mlp:mlp.pt \\",
        "    --latent-dim 8 --norm l2,linf --epsilon 8/255,0.1 --test-data digits "
        f"--threads {args.threads} --quiet --json",
        "```",
        "",
        "as a subprocess (interpreter start and imports included), N = 1000 generated samples.",
        "",
        f"Machine: {_cpu_model()}, {os.cpu_count()} logical CPUs, torch {torch.__version__}, Python "
        f"{platform.python_version()}, {platform.system()}. "
        f"Date: {dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}. "
        f"The machine was shared with other work while this ran (load average {load:.1f} on "
        f"{os.cpu_count()} CPUs at the start), so wall times are inflated; the CPU time of the "
        f"{args.threads}-thread process is what it would take on an idle machine, roughly.",
        "",
        "| run | wall seconds | CPU seconds | goal |",
        "|---|---|---|---|",
        f"| from scratch, both norms | {fresh:.1f} | **{fresh_cpu:.1f}** | <= 60 |",
        f"| re-run on the finished run directory | {rerun:.1f} | {rerun_cpu:.1f} | |",
        "",
        "| stage (fresh run) | status | wall seconds |",
        "|---|---|---|",
        *[f"| {s['name']} | {s['status']} | {s['seconds']:.1f} |" for s in stages],
        "",
        f"Re-run statuses: {', '.join(s['name'] + '=' + s['status'] for s in summary['stages'])}.",
        "",
        "Clean accuracy on the digits test set: "
        + ", ".join(f"`{n}` {100 * c['clean_acc']:.1f}%" for n, c in report["classifiers"].items())
        + ".",
        "",
        "## The report's tables",
        "",
        md_table,
        "",
    ]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
