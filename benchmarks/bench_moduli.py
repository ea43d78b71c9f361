"""Cost of the certified inverse of each modulus against its bare closed form.

``omega.inverse(eta)`` is certified: the closed-form candidate is accepted
only where the rounded-up ``omega`` at it is at most ``eta``, and shrunk
until it is.  The peer is the same closed form without the certificate
(``omega._inverse``, a candidate that may lie above the exact inverse), run in
the same process on the same radii, so every figure is a ratio.  The table
also gives the fraction of candidates that failed their first check and had
to be shrunk (each costs further evaluations of omega).

Run from the repository root::

    OMP_NUM_THREADS=1 python benchmarks/bench_moduli.py [--n 1000000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

import isobound as ib


def best_of(fn: Callable[[], Any], repeats: int) -> float:
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return float(best)


MODULI: dict[str, ib.Modulus] = {
    "Lipschitz(2)": ib.Lipschitz(2.0),
    "Affine(1.7, 0.3)": ib.Affine(1.7, 0.3),
    "Holder(2, 0.5)": ib.Holder(2.0, 0.5),
    "Holder(0.3, 1.9)": ib.Holder(0.3, 1.9),
    "PiecewiseLinear, 17 knots, linear": ib.PiecewiseLinear(
        np.linspace(0, 5, 17), np.linspace(0, 5, 17) ** 1.2, extrapolate=True
    ),
    "PiecewiseLinear, 17 knots, step": ib.PiecewiseLinear(
        np.linspace(0, 5, 17), np.linspace(0, 5, 17) ** 1.2, interpolation="step"
    ),
    "UniformPrior(Lipschitz(3))": ib.UniformPrior(ib.Lipschitz(3.0)),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="radii per call")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    eta = np.concatenate([rng.uniform(0, 5, args.n // 2), 10.0 ** rng.uniform(-100, 100, args.n - args.n // 2)])
    print(f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, n={args.n}, best of {args.repeats}\n")
    print("| modulus | closed form | certified inverse | ratio | first check failed |")
    print("| --- | --- | --- | --- | --- |")
    for name, omega in MODULI.items():
        e = eta[eta >= omega.at_zero]
        with np.errstate(all="ignore"):
            bare = best_of(partial(omega._inverse, e), args.repeats)
            cand = np.maximum(np.nan_to_num(omega._inverse(e), nan=0.0), 0.0)
            failed = float(np.mean(np.asarray(omega(cand)) > e))
        cert = best_of(partial(omega.inverse, e), args.repeats)
        print(f"| {name} | {bare * 1e3:.1f} ms | {cert * 1e3:.1f} ms | {cert / bare:.1f} | {failed:.2%} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
