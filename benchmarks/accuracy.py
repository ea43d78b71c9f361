"""Accuracy of the isobound core against the 50-digit mpmath reference, region by region.

Runs the sweep of ``tests/test_accuracy.py`` (the same regions, points and
reference values) and prints Markdown tables: per region and per method,
the number of points, the largest and median relative error, and whether
the safe side held (lower bounds not above the exact value, upper bounds
not below it).  Next to it, the same numbers for the formula people write
by hand, ``sum(ndtr(a_i + eps) - ndtr(a_i))`` with ``a_i = ndtri(1 - p_i)``
(``1 - cdf`` for the tail, a brentq root for the quantiles), to show where
that formula fails.

Usage::

    python benchmarks/accuracy.py                      # print to stdout
    python benchmarks/accuracy.py --out benchmarks/results/accuracy.md
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib.util
import math
import os
import platform
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _load_sweep() -> Any:
    """Import tests/test_accuracy.py as a module (it is not part of a package)."""
    path = ROOT / "tests" / "test_accuracy.py"
    spec = importlib.util.spec_from_file_location("isobound_accuracy_sweep", path)
    if spec is None or spec.loader is None:  # pragma: no cover
        raise RuntimeError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _fmt(x: float | None) -> str:
    if x is None:
        return "n/a"
    if math.isinf(x):
        return "inf"
    if x == 0:
        return "0"
    return f"{x:.1e}"


def _stats(rels: list[float]) -> tuple[float | None, float | None]:
    if not rels:
        return None, None
    s = sorted(rels)
    n = len(s)
    median = s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])
    return s[-1], median


def _method_of(label: str) -> str:
    return label.split("(", 1)[0]


def _naive_outcome(sweep: Any, point: Any, exact: Any) -> tuple[float | None, bool] | None:
    if point.naive is None:
        return None
    try:
        value = float(point.naive())
    except (ValueError, ZeroDivisionError, OverflowError):
        value = math.nan
    rel = sweep.relative_error(value, exact)
    safe = sweep.on_safe_side(value, exact, point.side) and not math.isnan(value)
    return rel, safe


def run(sweep: Any, out: list[str]) -> int:
    """Run the sweep, append Markdown lines to ``out``; return the number of failing regions."""
    summary = []
    details = []
    failures = []
    failing_regions = 0
    for region in sweep.REGIONS:
        t0 = time.perf_counter()
        groups: dict[str, dict[str, Any]] = defaultdict(
            lambda: {"n": 0, "rels": [], "unsafe": 0, "nrels": [], "nunsafe": 0, "nn": 0}
        )
        all_rels: list[float] = []
        bad_here = 0
        for point in region.points():
            o = sweep.evaluate(point)
            g = groups[_method_of(point.label)]
            g["n"] += 1
            if o.rel is not None:
                g["rels"].append(o.rel)
                all_rels.append(o.rel)
            if not o.safe:
                g["unsafe"] += 1
            if (o.rel is not None and o.rel > region.max_rel) or not o.safe:
                bad_here += 1
                failures.append(f"- {region.name}: {sweep.describe(o)}")
            naive = _naive_outcome(sweep, point, o.exact)
            if naive is not None:
                g["nn"] += 1
                if naive[0] is not None:
                    g["nrels"].append(naive[0])
                if not naive[1]:
                    g["nunsafe"] += 1
        mx, med = _stats(all_rels)
        typical_ok = med is not None and med <= region.typical_rel
        ok = bad_here == 0 and typical_ok
        failing_regions += not ok
        unsafe = sum(g["unsafe"] for g in groups.values())
        n = sum(g["n"] for g in groups.values())
        summary.append(
            f"| {region.name} | {n} | {_fmt(mx)} | {_fmt(med)} | "
            f"{'yes' if unsafe == 0 else f'**no** ({unsafe})'} | "
            f"{region.max_rel:.0e} / {region.typical_rel:.0e} | {'pass' if ok else '**FAIL**'} | "
            f"{time.perf_counter() - t0:.1f} s |"
        )
        details.append(f"### {region.name}")
        details.append("")
        details.append(
            "| method | n | max rel. err | median rel. err | safe side held | "
            "naive: n | naive max rel. err | naive median | naive safe side |"
        )
        details.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for name, g in groups.items():
            gmx, gmed = _stats(g["rels"])
            nmx, nmed = _stats(g["nrels"])
            safe = "yes" if g["unsafe"] == 0 else f"**no** ({g['unsafe']})"
            if g["nn"]:
                nsafe = "yes" if g["nunsafe"] == 0 else f"no ({g['nunsafe']})"
                naive_cols = f"{g['nn']} | {_fmt(nmx)} | {_fmt(nmed)} | {nsafe}"
            else:
                naive_cols = "- | - | - | -"
            details.append(
                f"| {name} | {g['n']} | {_fmt(gmx)} | {_fmt(gmed)} | {safe} | {naive_cols} |"
            )
        details.append("")
    out.append("## Summary")
    out.append("")
    out.append(
        "| region | n | max rel. err | median rel. err | safe side held | "
        "tolerance (max / median) | result | time |"
    )
    out.append("| --- | --- | --- | --- | --- | --- | --- | --- |")
    out.extend(summary)
    out.append("")
    out.append(
        f"## Points off (relative error above the region's max, or on the unsafe side): {len(failures)}"
    )
    out.append("")
    out.extend(failures or ["- none"])
    out.append("")
    out.append("## Per region, with the naive formula")
    out.append("")
    out.append(
        "'n/a' relative errors: every exact value was below float range (then only the side is "
        "checked). The naive formula is only defined for the latent-space methods; 'inf' means it "
        "returned 0, inf or NaN where the exact value is a normal float."
    )
    out.append("")
    out.extend(details)
    return failing_regions


def _machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in text.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:  # pragma: no cover
        pass
    return f"{model}, {os.cpu_count()} logical cores, {platform.system()} {platform.machine()}"


def _versions() -> str:
    import mpmath
    import numpy
    import scipy

    import isobound

    return (
        f"Python {platform.python_version()}, numpy {numpy.__version__}, scipy {scipy.__version__}, "
        f"mpmath {mpmath.__version__}, isobound {isobound.__version__}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="also write the report to this Markdown file")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    body: list[str] = []
    sweep = _load_sweep()
    failing = run(sweep, body)
    head = [
        "# isobound core accuracy against the 50-digit mpmath reference",
        "",
        f"- command: `python benchmarks/accuracy.py{' --out ' + str(args.out) if args.out else ''}`",
        f"- machine: {_machine()}",
        f"- date: {_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- versions: {_versions()}",
        "- reference: `isobound.reference` (mpmath, 50 digits, independent code); the sweep is "
        "`tests/test_accuracy.py::REGIONS`",
        "- relative error = |core - exact| / |exact|; safe side: cdf, logcdf and Theorem 1/3 forms "
        "must not exceed the exact value, sf, logsf, ppf, isf, mean, median and Theorem 4 forms "
        "must not fall below it",
        f"- regions failing: {failing} of {len(sweep.REGIONS)}; "
        f"total time {time.perf_counter() - t0:.0f} s (mostly the reference)",
        "",
    ]
    text = "\n".join(head + body) + "\n"
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
