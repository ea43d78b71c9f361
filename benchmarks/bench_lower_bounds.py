"""Per-sample proven lower bounds against measured distances in ``isobound evaluate`` (issue 9), on the digits.

Setting: the digits models of ``isobound experiment --train-only`` (VAE decoder with
d = 8; classifiers lenet, cnn and mlp, the last with two hidden layers of 256) plus the
64-32-32-10 MLP of ``benchmarks/bench_exact.py`` (``mlp32``), evaluated on ``--n``
generated samples in l2 and l-infinity with DeepFool (the default attack), one thread.
The run is done twice in the same run directory: with ``lower_bounds="none"`` (the
default), then with ``lower_bounds="auto"`` on the first ``--lower-n`` samples, where
every measurement is reused and only the lower-bound stages run; their times are the
cost of the lower bounds.  ``auto`` picks the exact MILP oracle for ``mlp32`` in
l-infinity and the certified radius everywhere else.

Per classifier and norm: the method, the stage's time, the median proven lower bound,
the median measured distance on the same samples, the fraction of samples with a
positive lower bound, the median ratio lower / measured, and whether every lower bound
stays below its measured distance.  Rerun::

    python benchmarks/bench_lower_bounds.py [--n 200] [--lower-n 50] [--out benchmarks/results/lower_bounds.md]

Times are wall-clock on whatever machine runs this (the load average is printed with
them).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import datetime as dt
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200, help="generated samples measured (default 200)")
    parser.add_argument("--lower-n", type=int, default=50, help="samples with a lower bound (default 50)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "lower_bounds.md"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    from bench_exact import train_mlp  # this folder is on sys.path when the script runs
    from bench_experiment import _cpu_model

    import isobound_torch as it
    from isobound_torch.experiment import ExperimentConfig, run
    from isobound_torch.experiment.distributed import DistContext
    from isobound_torch.experiment.stages import Pipeline

    tmp = Path(tempfile.mkdtemp(prefix="isobound-bench-lower-"))
    try:
        t0 = time.perf_counter()
        trained = run(ExperimentConfig(run_dir=str(tmp / "train"), device="cpu", progress=False, train_only=True))
        pipe = Pipeline(trained.config, DistContext(), torch.device("cpu"))
        generator, _ = pipe.run_generator()
        classifiers = {name: pipe.run_classifier(name)[0] for name in ("lenet", "cnn", "mlp")}
        classifiers["mlp32"], _, acc32 = train_mlp()
        train_seconds = time.perf_counter() - t0
        common = {
            "latent_dim": 8, "n_samples": args.n, "norms": "l2,linf", "device": "cpu", "run_dir": tmp / "run",
            "chunk_size": 100, "lower_bound_samples": args.lower_n,
        }  # fmt: skip
        load0 = os.getloadavg()[0]
        t0 = time.perf_counter()
        it.evaluate(generator, classifiers, **common)
        plain_seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        res = it.evaluate(generator, classifiers, lower_bounds="auto", **common)
        lower_seconds = time.perf_counter() - t0
        load1 = os.getloadavg()[0]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    stages = res.statuses()
    remeasured = [k for k, v in stages.items() if v != "loaded" and not k.startswith("lower-") and k != "report"]
    lines = [
        "# Proven lower bounds against measured distances, digits (`isobound evaluate --lower-bounds auto`)",
        "",
        f"Command: `python benchmarks/bench_lower_bounds.py --n {args.n} --lower-n {args.lower_n}`; "
        f"{dt.datetime.now(dt.timezone.utc).isoformat(timespec='minutes')}; {_cpu_model()}, one torch thread; "
        f"load average {load0:.1f} at the start, {load1:.1f} at the end (a shared machine: the times are "
        f"indicative); Python {platform.python_version()}, torch {torch.__version__}.",
        "",
        f"Models: the digits models of `isobound experiment --train-only` (VAE decoder d = 8; lenet, cnn, mlp "
        f"64-256-256-10) and the 64-32-32-10 MLP of `bench_exact.py` (`mlp32`, test accuracy {acc32:.3f}); "
        f"training {train_seconds:.0f} s, not part of the figures. N = {args.n} generated samples, DeepFool "
        f"(refined), l2 and linf; the lower bounds on the first {args.lower_n}.",
        "",
        f"Evaluation without lower bounds: {plain_seconds:.1f} s. The same with `lower_bounds='auto'` in the same "
        f"run directory: {lower_seconds:.1f} s, every measurement reused "
        f"({'none measured again' if not remeasured else 'measured again: ' + ', '.join(remeasured)}), so "
        "the lower-bound stages below are the whole extra cost.",
        "",
        "| classifier | norm | method | stage s | median proven lower | median measured (DeepFool, upper estimate) "
        "| lower > 0 | median lower / measured | consistent |",
        "|---|---|---|---|---|---|---|---|---|",
    ]

    def fmt(v: float | None) -> str:
        return "-" if v is None else f"{v:.4g}"

    for name, per in res.report["lower_bounds"].items():
        for norm, b in per.items():
            if not b["available"]:
                lines.append(f"| {name} | {norm} | {b['method']} | - | - | - | - | - | - |")
                continue
            sm = b["summary"]
            extra = f" ({100 * sm['fraction_optimal']:.0f}% optimal)" if b["method"] == "exact" else ""
            lines.append(
                f"| {name} | {norm} | {b['method']}{extra} | {res.stage(f'lower-{name}-{norm}').seconds:.1f} | "
                f"{fmt(sm['median_proven_lower_bound'])} | {fmt(sm['median_measured'])} | "
                f"{100 * sm['fraction_lower_positive']:.0f}% | {fmt(sm['median_ratio_lower_over_measured'])} | "
                f"{'yes' if b['consistent'] else 'NO'} |"
            )
    lines += [
        "",
        "Per sample, proven lower <= true minimal distance <= measured. For `mlp32` in linf the lower bound is "
        "the exact optimum (to the solver's gap), so lower / measured is DeepFool's optimality d*/d there; "
        "elsewhere the ratio mixes the certificate's looseness and the attack's.",
        "",
    ]
    text = "\n".join(lines)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
