"""Exact minimal adversarial distances (issue 9): the digits MLP 64-32-32-10, formulations compared.

Setting: an :class:`isobound_torch.models.MLP` with hidden widths (32, 32) trained here
(seeded, a few seconds) on scikit-learn's digits (``isobound_torch.data.load_digits``),
pixels in [0, 1]; the first ``--n`` test inputs; box [0, 1]; one thread.

For L-infinity the script solves every input with the default formulation of
:func:`isobound_torch.exact_linf_distance` (symbolic bounds, one program over all
target classes) and, on the first ``--compare-n`` inputs, with the other formulations, in
the same run and on the same inputs:

* ``plain``: interval bounds, one big-M program per target class (each capped by the best
  distance found so far), no class-radius cuts: the formulation the issue calls plain;
* every combination of ``tightening`` in {interval, symbolic, lp} and ``formulation`` in
  {per_target, single} (symbolic and lp add the per-class certified radii as cuts).

Per formulation: the time per input (median, max), the total, unstable neurons (median,
max), branch-and-bound nodes, statuses, and the largest relative difference of the
distances from the default's (they must agree: each is exact).  For L1 the default and the
per-target formulation run on the first ``--l1-n`` inputs.  The script also reports how far
DeepFool (L-infinity, with and without refinement) is from the optimum, in AttackBench's
per-sample form d*/d_i.

Times are wall-clock on whatever machine runs this; the load average at the start and the
end is printed with them.  The comparisons also give the process's CPU time
(``time.process_time``), which other processes on a busy machine disturb less than the wall
time, and the ratios to the default formulation in the same table.  Rerun::

    python benchmarks/bench_exact.py [--n 50] [--compare-n 20] [--l1-n 20] [--sizes 16,32,64,128,256]
        [--out benchmarks/results/exact.md]

A last section scans the size limit: two-hidden-layer MLPs of growing width, a few
inputs each, with a time limit; where it runs out, the statuses say so.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import datetime as _dt
import platform
import subprocess
import sys
import time
from collections import Counter
from typing import Any

import numpy as np
import scipy
import torch
from torch import nn

from isobound_torch import DeepFool
from isobound_torch.data import load_digits
from isobound_torch.exact import ExactResult, exact_distance
from isobound_torch.models import MLP

BOX = (0.0, 1.0)
HIDDEN = (32, 32)
#: Issue 9: at least 50 inputs of the 64-32-32-10 MLP in at most 10 minutes.
TARGET_SECONDS = 600.0
DEFAULT = ("symbolic", "single")
VARIANTS = [
    ("interval", "per_target"),  # plain
    ("interval", "single"),
    ("symbolic", "per_target"),
    ("symbolic", "single"),
    ("lp", "per_target"),
    ("lp", "single"),
]


def train_mlp(
    seed: int = 0, epochs: int = 60, hidden: tuple[int, ...] = HIDDEN
) -> tuple[nn.Module, torch.Tensor, float]:
    """A digits MLP (default 64-32-32-10; Adam, batch 64); returns it, the test images and the test accuracy."""
    torch.manual_seed(seed)
    ds = load_digits()
    x, y = ds.to_float(ds.train_images), ds.train_labels
    model = MLP(64, 10, hidden)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        perm = torch.randperm(len(y), generator=gen)
        for i in range(0, len(y), 64):
            idx = perm[i : i + 64]
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    model.eval()
    for p in model.parameters():
        p.grad = None
    xt = ds.to_float(ds.test_images)
    with torch.no_grad():
        acc = float((model(xt).argmax(dim=1) == ds.test_labels).double().mean())
    return model, xt, acc


def name_of(tightening: str, formulation: str) -> str:
    tag = f"{tightening} + {formulation}"
    if (tightening, formulation) == ("interval", "per_target"):
        tag += " (plain)"
    if (tightening, formulation) == DEFAULT:
        tag += " (default)"
    return tag


def summary(res: ExactResult, wall: float, cpu: float) -> dict[str, Any]:
    t = res.time.numpy()
    return {
        "n": len(res),
        "median_s": float(np.median(t)),
        "max_s": float(t.max()),
        "total_s": wall,
        "cpu_s": cpu,
        "unstable_median": float(np.median(res.n_unstable.numpy())),
        "unstable_max": int(res.n_unstable.numpy().max()),
        "nodes": int(res.nodes.numpy().sum()),
        "bound_s": float(res.bound_time.numpy().mean()),
        "solve_s": float(res.solve_time.numpy().mean()),
        "status": dict(Counter(res.status)),
        "gap_max": float(np.max((res.upper_bound - res.lower_bound).numpy() / res.distance.numpy())),
    }


def run(model: nn.Module, x: torch.Tensor, norm: str, tightening: str, formulation: str, time_limit: float
        ) -> tuple[ExactResult, float, float]:
    """Solve; return the result, the wall time and the process's CPU time (seconds)."""
    t0, c0 = time.perf_counter(), time.process_time()
    res = exact_distance(model, x, norm=norm, bounds=BOX, tightening=tightening, formulation=formulation,
                         time_limit=time_limit)
    return res, time.perf_counter() - t0, time.process_time() - c0


def fmt_status(status: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(status.items()))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=50, help="test inputs solved with the default formulation (L-inf)")
    ap.add_argument("--compare-n", type=int, default=20, help="inputs on which every formulation runs")
    ap.add_argument("--l1-n", type=int, default=20, help="inputs solved in L1")
    ap.add_argument("--time-limit", type=float, default=120.0, help="seconds per input")
    ap.add_argument("--sizes", default="16,32,64,128,256",
                    help="hidden widths (two layers each) of the size-limit scan; empty to skip")
    ap.add_argument("--size-n", type=int, default=5, help="inputs per network of the size-limit scan")
    ap.add_argument("--size-time-limit", type=float, default=60.0, help="seconds per input in the size scan")
    ap.add_argument("--skip-plain", action="store_true", help="leave the slow plain formulation out")
    ap.add_argument("--out", default=None, help="write the markdown report here")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    load_start = os.getloadavg()
    started = _dt.datetime.now(_dt.timezone.utc)

    model, xt, acc = train_mlp()
    x = xt[: args.n]
    lines: list[str] = []
    out = lines.append
    out("# Exact minimal adversarial distances: digits MLP 64-32-32-10\n")
    out(f"Command: `python benchmarks/bench_exact.py --n {args.n} --compare-n {args.compare_n} "
        f"--l1-n {args.l1_n} --time-limit {args.time_limit:g} --sizes {args.sizes} --size-n {args.size_n}"
        f"{' --skip-plain' if args.skip_plain else ''}`  ")
    out(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical cores, "
        f"Python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
        f"torch {torch.__version__}; one thread (OMP_NUM_THREADS=1, torch.set_num_threads(1)).  ")
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                check=False, cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()
    except OSError:
        commit = ""
    out(f"Code: commit {commit or 'unknown'} (plus any uncommitted changes).  ")
    out(f"Started {started:%Y-%m-%d %H:%M} UTC; load average at start {load_start[0]:.2f} / {load_start[1]:.2f} / "
        f"{load_start[2]:.2f} (1 / 5 / 15 min).  ")
    out(f"Model: MLP 64-32-32-10 (64 hidden ReLUs), test accuracy {acc:.3f}; inputs: the first {args.n} test "
        f"images, box [0, 1], time limit {args.time_limit:g} s per input.\n")

    # ------------------------------------------------------------------ L-inf, default, all inputs
    print(f"L-inf, default formulation, {args.n} inputs ...", file=sys.stderr)
    default, wall, cpu = run(model, x, "linf", *DEFAULT, args.time_limit)
    s = summary(default, wall, cpu)
    d_star = default.distance.numpy()
    out("## L-infinity, all inputs, default formulation (`tightening=\"symbolic\"`, `formulation=\"single\"`)\n")
    out("| inputs | total | CPU | per input, median | per input, max | unstable neurons, median (max) | nodes | "
        "statuses | max (upper - lower) / d | target: <= 600 s for >= 50 inputs |")
    out("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- |")
    met = "met" if (wall <= TARGET_SECONDS and args.n >= 50 and s["status"] == {"optimal": args.n}) else "not met"
    out(f"| {args.n} | {wall:.1f} s | {cpu:.1f} s | {s['median_s']:.2f} s | {s['max_s']:.2f} s | "
        f"{s['unstable_median']:.0f} ({s['unstable_max']}) | {s['nodes']} | {fmt_status(s['status'])} | "
        f"{s['gap_max']:.1e} | {met} |\n")
    out(f"Mean time in bound tightening {s['bound_s']:.3f} s, in the MILP {s['solve_s']:.3f} s per input "
        f"(the rest: DeepFool for the radius, the polishing LP, witness checks).  Distances: median "
        f"{np.median(d_star):.4f}, min {d_star.min():.4f}, max {d_star.max():.4f}.\n")

    # ------------------------------------------------------------------ DeepFool against the optimum
    out("## DeepFool against the exact L-infinity optimum (same inputs)\n")
    out("| attack | success | mean d*/d_i | min d*/d_i | median d_i / d* | any d_i < lower bound |")
    out("| --- | ---: | ---: | ---: | ---: | --- |")
    for label, attack in [("DeepFool linf", DeepFool(norm="linf", bounds=BOX)),
                          ("DeepFool linf, refine=True", DeepFool(norm="linf", bounds=BOX, refine=True))]:
        r = attack(model, x)
        d = r.distances.numpy()
        ratio = np.where(np.isfinite(d), d_star / d, 0.0)
        below = bool(np.any(d < default.lower_bound.numpy()))
        out(f"| {label} | {r.success_rate:.0%} | {ratio.mean():.3f} | {ratio.min():.3f} | "
            f"{np.median(d / d_star):.3f} | {'**yes**' if below else 'no'} |")
    out("")

    # ------------------------------------------------------------------ formulations compared
    m = min(args.compare_n, args.n)
    xc = x[:m]
    out(f"## L-infinity, formulations compared on the first {m} inputs (same run)\n")
    out("| formulation | total | CPU | per input, median | per input, max | unstable, median (max) | nodes | "
        "statuses | max rel. diff. of d from the first table | total / default's | CPU / default's |")
    out("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |")
    ref = d_star[:m]
    rows = []
    for tightening, formulation in VARIANTS:
        if args.skip_plain and (tightening, formulation) == ("interval", "per_target"):
            continue
        print(f"L-inf, {tightening} + {formulation}, {m} inputs ...", file=sys.stderr)
        res, wall, cpu = run(model, xc, "linf", tightening, formulation, args.time_limit)
        diff = float(np.nanmax(np.abs(res.distance.numpy() - ref) / ref))
        rows.append((tightening, formulation, summary(res, wall, cpu), diff))
    base = next(r[2] for r in rows if (r[0], r[1]) == DEFAULT)
    for tightening, formulation, s, diff in rows:
        out(f"| {name_of(tightening, formulation)} | {s['total_s']:.1f} s | {s['cpu_s']:.1f} s | "
            f"{s['median_s']:.2f} s | {s['max_s']:.2f} s | {s['unstable_median']:.0f} ({s['unstable_max']}) | "
            f"{s['nodes']} | {fmt_status(s['status'])} | {diff:.1e} | {s['total_s'] / base['total_s']:.2f} | "
            f"{s['cpu_s'] / base['cpu_s']:.2f} |")
    out("")
    out("The last two columns divide each formulation's wall and CPU totals by the default formulation's in "
        "this table.\n")

    # ------------------------------------------------------------------ L1
    k = min(args.l1_n, args.n)
    if k:
        out(f"## L1, first {k} inputs\n")
        out("| formulation | total | CPU | per input, median | per input, max | unstable, median (max) | nodes | "
            "statuses | max rel. diff. of d | total / default's | CPU / default's |")
        out("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |")
        l1_ref = None
        l1_base = (0.0, 0.0)
        for tightening, formulation in [DEFAULT, ("symbolic", "per_target"), ("lp", "single")]:
            print(f"L1, {tightening} + {formulation}, {k} inputs ...", file=sys.stderr)
            res, wall, cpu = run(model, x[:k], "l1", tightening, formulation, args.time_limit)
            s = summary(res, wall, cpu)
            d = res.distance.numpy()
            if l1_ref is None:
                l1_ref, l1_base = d, (wall, cpu)
            diff = float(np.nanmax(np.abs(d - l1_ref) / l1_ref))
            out(f"| {name_of(tightening, formulation)} | {wall:.1f} s | {cpu:.1f} s | {s['median_s']:.2f} s | "
                f"{s['max_s']:.2f} s | {s['unstable_median']:.0f} ({s['unstable_max']}) | {s['nodes']} | "
                f"{fmt_status(s['status'])} | {diff:.1e} | {wall / l1_base[0]:.2f} | {cpu / l1_base[1]:.2f} |")
        assert l1_ref is not None
        out(f"\nL1 distances: median {np.median(l1_ref):.4f}, min {l1_ref.min():.4f}, max {l1_ref.max():.4f}.\n")

    # ------------------------------------------------------------------ size limit
    widths = [int(w) for w in args.sizes.split(",") if w.strip()]
    if widths and args.size_n:
        out(f"## Size limit: MLP 64-w-w-10, first {args.size_n} test inputs, L-infinity, default formulation, "
            f"time limit {args.size_time_limit:g} s per input\n")
        out("| hidden widths | hidden ReLUs | test accuracy | unstable, median (max) | per input, median | "
            "per input, max | statuses | median (upper - lower) / upper |")
        out("| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |")
        for w in widths:
            print(f"size scan, hidden ({w}, {w}) ...", file=sys.stderr)
            net, xs, acc_w = train_mlp(hidden=(w, w))
            res, _, _ = run(net, xs[: args.size_n], "linf", *DEFAULT, args.size_time_limit)
            t = res.time.numpy()
            up, lo = res.upper_bound.numpy(), res.lower_bound.numpy()
            rel = np.median((up - lo) / up)
            out(f"| ({w}, {w}) | {2 * w} | {acc_w:.3f} | {np.median(res.n_unstable.numpy()):.0f} "
                f"({int(res.n_unstable.numpy().max())}) | {np.median(t):.2f} s | {t.max():.2f} s | "
                f"{fmt_status(dict(Counter(res.status)))} | {rel:.1e} |")
        out("")

    load_end = os.getloadavg()
    out(f"Load average at the end: {load_end[0]:.2f} / {load_end[1]:.2f} / {load_end[2]:.2f}; finished "
        f"{_dt.datetime.now(_dt.timezone.utc):%H:%M} UTC.")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
