"""Run a command and print its CPU time (user + system, children included) beside its wall time.

On a shared machine wall times swing with the load of other work; the CPU time a
command consumes moves much less, so comparing two versions of the code by CPU
time (run back to back) is the fairer figure. Usage::

    python benchmarks/cpu_time.py -- python benchmarks/bench_experiment.py --out /tmp/new.md
    python benchmarks/cpu_time.py --label old -- \
        env PYTHONPATH=/tmp/old python benchmarks/bench_experiment.py --out /tmp/old.md
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--label", default="command")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command after --")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    rc = subprocess.run(command, stdout=subprocess.DEVNULL).returncode
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(f"{args.label}: exit {rc}, wall {wall:.1f} s, CPU {cpu:.1f} s, load average at start {load:.2f}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
