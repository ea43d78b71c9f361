"""Certified modulus of continuity on the digits VAE decoder: speed, tightness, and the ceiling under both omegas.

Usage::

    python benchmarks/bench_certify.py --out benchmarks/results/certify.md

It trains the digits VAE exactly as the default ``isobound experiment`` does (same
settings and seed, ``d = 8``), then on one thread:

* **speed**: :func:`isobound_torch.certified_local_sup` on ``N = 459`` latents at the
  experiment's default radii (17) plus the radius the 25% quantile needs; the full
  :func:`isobound_torch.certified_modulus` with the ``N`` its union bound over those radii
  asks for; and, as the peer on the same machine, the experiment's ascent estimate
  (:func:`isobound_torch.estimate_modulus`, its default steps and restarts) on the same grid;
* **exactness**: on ``--affine`` random affine generators, the relative excess of the
  certified bound over ``t ||A||`` computed in 50-digit mpmath (never negative);
* **tightness**: on ``--tight-latents`` latents, the certified bound over a strong ascent
  (30 steps, 4 restarts) per latent and radius, and at the quantile level (largest over
  the latents) beside the global product bound ``t * L`` of
  :func:`isobound_torch.lipschitz_upper_bound`; with ``--subdivide`` (a finer radial sum),
  ``--refine`` rounds (box splitting) and each radius alone (no radial sum) as well; the
  number of certified values below the ascent (violations, must be 0);
* **the ceiling**: the in-distribution "upper bound (10 equiprobable classes)" of the
  experiment's table, ``omega(R*_{0.25 + delta}) / E||g(z)||``, with the ascent omega
  (an estimate) and with the certified one (proven at the modulus confidence);
* a DCGAN (d = 100, 32x32, untrained weights, eval mode) for the cost per latent on a
  convolutional generator.

The machine is shared by several engineers, so absolute times are indicative; the ratios
against the ascent measured in the same run are the figures to compare.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def train_digits_vae() -> tuple[Any, float]:
    """The generator of the default digits experiment (settings and seed as there)."""
    import torch

    from isobound_torch.data import load_digits
    from isobound_torch.experiment import ExperimentConfig, training
    from isobound_torch.experiment.stages import seeded
    from isobound_torch.experiment.store import derive_seed
    from isobound_torch.models import build_generator

    cfg = ExperimentConfig().resolved()
    ds = load_digits()
    seed = derive_seed(cfg.seed, "generator")
    rng = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    device = torch.device("cpu")
    with seeded(seed, device):
        vae = build_generator(
            "vae", latent_dim=cfg.latent_dim, out_channels=1, image_size=8, width_scale=cfg.width_scale
        )
        training.train_vae(
            vae,
            ds,
            device,
            epochs=cfg.generator_epochs,
            batch_size=cfg.generator_batch_size,
            lr=cfg.generator_lr,
            gen=rng,
        )
    decoder = vae.decoder.eval()
    for p in decoder.parameters():
        p.requires_grad_(False)
    return decoder, time.perf_counter() - t0


def _affine_exactness(d: int, radii: list[float], n_mat: int) -> dict[str, tuple[float, float, int]]:
    """Relative excess of the certified bound over t ||A|| (50-digit mpmath) for random affine generators.

    Per image norm: (smallest excess, largest excess, number of values compared); the smallest
    must be >= 0 (never below).
    """
    import mpmath
    import torch

    from isobound_torch import certified_local_sup

    gen = torch.Generator().manual_seed(6)
    out: dict[str, list[Any]] = {"l2": [], "linf": []}
    for _ in range(n_mat):
        a = torch.randn(64, d, generator=gen, dtype=torch.float64) * torch.logspace(-2, 2, d, dtype=torch.float64)
        g = torch.nn.Linear(d, 64).to(torch.float64).eval()
        with torch.no_grad():
            g.weight.copy_(a)
        z = torch.randn(8, d, generator=gen, dtype=torch.float64) * 3
        with mpmath.workdps(50):
            m = mpmath.matrix(a.tolist())
            exact = {
                "l2": max(mpmath.svd_r(m, compute_uv=False)),
                "linf": max(mpmath.sqrt(mpmath.fsum(mpmath.mpf(x) ** 2 for x in row)) for row in a.tolist()),
            }
            for norm in ("l2", "linf"):
                got = certified_local_sup(g, z, radii, norm=norm)
                for j in range(z.shape[0]):
                    for k, t in enumerate(radii):
                        want = mpmath.mpf(t) * exact[norm]
                        out[norm].append((mpmath.mpf(float(got[j, k])) - want) / want)
    return {k: (float(min(v)), float(max(v)), len(v)) for k, v in out.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "certify.md"))
    parser.add_argument("--tight-latents", type=int, default=100, help="latents of the tightness comparison")
    parser.add_argument("--refine", type=int, default=4, help="refinement rounds of the refined comparison")
    parser.add_argument("--subdivide", type=int, default=4, help="radial subdivision of the finer comparison")
    parser.add_argument("--affine", type=int, default=5, help="random affine generators of the exactness check")
    parser.add_argument("--skip-dcgan", action="store_true")
    args = parser.parse_args(argv)

    import numpy as np
    import torch

    import isobound as ib
    from isobound_torch import (
        certified_local_sup,
        certified_modulus,
        estimate_modulus,
        lipschitz_upper_bound,
        local_sup,
        required_samples,
    )
    from isobound_torch.experiment import ExperimentConfig
    from isobound_torch.models import DCGANGenerator

    torch.set_num_threads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    cfg = ExperimentConfig().resolved()
    delta, conf, q = cfg.failure_prob, cfg.modulus_confidence, cfg.quantile
    decoder, train_s = train_digits_vae()
    d = cfg.latent_dim
    equi = ib.IsoperimetricBound.equiprobable(10)
    needed = float(equi.ppf(min((q + delta) * (1 + 8 * 2.0**-52), 1.0)))
    radii = sorted(set(cfg.radii) | {needed})
    m = len(radii)
    lines: list[str] = []
    out = lines.append

    # ------------------------------------------------------------------ speed
    z459 = torch.randn(459, d, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    t0 = time.perf_counter()
    certified_local_sup(decoder, z459, radii)
    t_459 = time.perf_counter() - t0
    n_union = required_samples(delta, conf, m)
    t0 = time.perf_counter()
    omega_cert = certified_modulus(decoder, d, radii=radii, failure_prob=delta, confidence=conf, seed=2)
    t_full = time.perf_counter() - t0
    t0 = time.perf_counter()
    omega_est = estimate_modulus(
        decoder,
        d,
        radii=radii,
        failure_prob=delta,
        confidence=conf,
        steps=cfg.modulus_steps,
        restarts=cfg.modulus_restarts,
        seed=2,
    )
    t_est = time.perf_counter() - t0

    # ------------------------------------------------------------------ tightness
    n_t = args.tight_latents
    zt = torch.randn(n_t, d, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    dec64 = decoder.to(torch.float64)
    t0 = time.perf_counter()
    cert = certified_local_sup(dec64, zt, radii).numpy()
    t_cert_t = time.perf_counter() - t0
    t0 = time.perf_counter()
    cert_ref = certified_local_sup(dec64, zt, radii, refine=args.refine).numpy()
    t_ref_t = time.perf_counter() - t0
    t0 = time.perf_counter()
    cert_sub = certified_local_sup(dec64, zt, radii, subdivide=args.subdivide).numpy()
    t_sub_t = time.perf_counter() - t0
    # each radius on its own (no radial sum): t L(t)
    cert_one = np.concatenate([certified_local_sup(dec64, zt, [t]).numpy() for t in radii], axis=1)
    rng = torch.Generator().manual_seed(4)
    t0 = time.perf_counter()
    asc = np.stack([local_sup(dec64, zt, t, steps=30, restarts=4, generator_rng=rng).numpy() for t in radii], axis=1)
    t_asc_t = time.perf_counter() - t0
    lip = lipschitz_upper_bound(dec64).L
    violations = sum(int(np.sum(c < asc * (1 - 1e-12))) for c in (cert, cert_ref, cert_sub, cert_one))

    # ------------------------------------------------------------------ ceiling
    with torch.no_grad():
        zimg = torch.randn(1000, d, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
        mean_norm = float(dec64(zimg).flatten(1).norm(dim=1).mean())
    ceil_est = float(equi.through(omega_est).ppf(q)) / mean_norm
    ceil_cert = float(equi.through(omega_cert).ppf(q)) / mean_norm
    ceil_lip = float(equi.through(ib.Lipschitz(lip)).ppf(q)) / mean_norm

    # ------------------------------------------------------------------ exactness
    excess = _affine_exactness(d, radii, args.affine)

    # ------------------------------------------------------------------ DCGAN
    dc_line = ""
    if not args.skip_dcgan:
        torch.manual_seed(0)
        dcgan = DCGANGenerator(100, 3, 32).eval()
        zd = torch.randn(6, 100, dtype=torch.float64)
        t0 = time.perf_counter()
        certified_local_sup(dcgan, zd, [0.05])
        t_dc = time.perf_counter() - t0
        dc_line = (
            f"DCGAN (d = 100, 3x32x32, ngf = 64, untrained, eval mode): {t_dc / 6:.2f} s per latent and radius "
            f"(6 latents, one batch within the default `max_memory` of 1 GiB)."
        )

    # ------------------------------------------------------------------ report
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    out("# Certified modulus of continuity on the digits VAE decoder")
    out("")
    out(
        f"Command: `python benchmarks/bench_certify.py` ({' '.join(sys.argv[1:]) or 'defaults'}). "
        f"Machine: {_cpu_model()}, "
        f"{os.cpu_count()} logical CPUs, torch {torch.__version__} (1 thread), Python {platform.python_version()}. "
        f"Date: {now}; load average at the end {load:.1f} (a shared machine: absolute times are indicative)."
    )
    out("")
    out(
        f"Generator: the default digits experiment's VAE decoder (d = {d}, 8-128-256-64, ELU, sigmoid), "
        f"trained here in "
        f"{train_s:.0f} s with the experiment's settings and seed. delta = {delta}, confidence = {conf}, "
        f"q = {q}; the 25% quantile reads omega at t = {needed:.4f} (equiprobable K = 10, q + delta)."
    )
    out("")
    out("## Speed")
    out("")
    out("| what | latents | radii | seconds | per latent and radius |")
    out("|---|---|---|---|---|")
    out(f"| `certified_local_sup` | 459 | {m} | {t_459:.1f} | {1e3 * t_459 / (459 * m):.2f} ms |")
    out(
        f"| `certified_modulus` (N from the union bound over {m} radii) | {n_union} | {m} | {t_full:.1f} | "
        f"{1e3 * t_full / (n_union * m):.2f} ms |"
    )
    out(
        f"| `estimate_modulus` (the experiment's ascent: {cfg.modulus_steps} steps, {cfg.modulus_restarts} restarts) | "
        f"{n_union} | {m} | {t_est:.1f} | {1e3 * t_est / (n_union * m):.2f} ms |"
    )
    out(
        f"| `certified_local_sup`, refine = {args.refine} | {n_t} | {m} | {t_ref_t:.1f} | "
        f"{1e3 * t_ref_t / (n_t * m):.2f} ms |"
    )
    out("")
    out(f"Certified over ascent, same radii and N: {t_full / t_est:.2f}x the time of the experiment's ascent.")
    if dc_line:
        out("")
        out(dc_line)
    out("")
    out("## Exactness")
    out("")
    out(
        f"{args.affine} random affine generators g(z) = A z + b (A: 64 x {d}, columns scaled over 1e-2..1e2), "
        f"8 latents, the {m} radii: relative excess of `certified_local_sup` over t ||A|| (l2: spectral norm; "
        f"l-inf: largest row norm), both computed in 50-digit mpmath. Negative would be a claim above the truth."
    )
    out("")
    out("| image norm | values | smallest excess | largest excess |")
    out("|---|---|---|---|")
    for norm, (lo_x, hi_x, cnt) in excess.items():
        out(f"| {norm} | {cnt} | {lo_x:.2e} | {hi_x:.2e} |")
    out("")
    out("## Tightness")
    out("")
    out(
        f"{n_t} latents; ascent: projected gradient ascent with 30 steps and 4 restarts (a lower estimate of "
        f"M_t(z)); certified: `certified_local_sup` (an upper bound) on the {m}-radius grid "
        f"(radial sum over the grid), "
        f"with `subdivide={args.subdivide}`, with `refine={args.refine}` (box splitting), and each radius on its own "
        f"(t L(t), no radial sum). Ratios certified / ascent: per latent (median, max over the latents) and at the "
        f"quantile level (largest over the latents of each, what omega uses). Global product bound L = {lip:.4g} "
        f"(`lipschitz_upper_bound`). Violations (any certified value below the ascent): {violations}."
    )
    out("")
    out(
        "| t | ascent max | certified max | per latent (median, max) | quantile level | subdivide | refine | "
        "radius alone | t L / ascent |"
    )
    out("|---|---|---|---|---|---|---|---|---|")
    for k, t in enumerate(radii):
        r = cert[:, k] / asc[:, k]
        amax = asc[:, k].max()
        mark = " (q)" if t == needed else ""
        out(
            f"| {t:.4g}{mark} | {amax:.4g} | {cert[:, k].max():.4g} | {np.median(r):.2f}, {r.max():.2f} | "
            f"{cert[:, k].max() / amax:.2f} | {cert_sub[:, k].max() / amax:.2f} | {cert_ref[:, k].max() / amax:.2f} | "
            f"{cert_one[:, k].max() / amax:.2f} | {t * lip / amax:.1f} |"
        )
    out("")
    out(
        f"Time on these {n_t} latents x {m} radii: certified {t_cert_t:.1f} s, subdivide={args.subdivide} "
        f"{t_sub_t:.1f} s, refine={args.refine} {t_ref_t:.1f} s, ascent (30 steps, 4 restarts) {t_asc_t:.1f} s."
    )
    out("")
    out("## The image-space ceiling of the digits table")
    out("")
    out(
        'In-distribution row, "upper bound (10 equiprobable classes)": omega(R*_{q+delta}) / E||g(z)||, '
        f"E||g(z)|| = {mean_norm:.4g} (1000 generated images)."
    )
    out("")
    out("| omega | value | status |")
    out("|---|---|---|")
    out(
        f"| ascent (`estimate_modulus`, the experiment's settings) | {ceil_est:.4g} | an estimate (ascent can only "
        f"under-estimate omega) |"
    )
    out(f"| certified (`certified_modulus`) | {ceil_cert:.4g} | proven at confidence {conf} over the latent draw |")
    out(f"| global Lipschitz (`lipschitz_upper_bound`) | {ceil_lip:.4g} | proven (no sampling) |")
    out("")
    out(
        f"omega at the quantile's radius t = {needed:.4f}: ascent {float(omega_est(needed)):.4g}, certified "
        f"{float(omega_cert(needed)):.4g} (ratio {float(omega_cert(needed)) / float(omega_est(needed)):.2f}); "
        f"t L = {needed * lip:.4g}."
    )
    text = "\n".join(lines) + "\n"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
