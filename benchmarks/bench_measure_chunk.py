"""CPU time of one measurement chunk (r_Z, r_in, r_unc by DeepFool; 250 latents; the digits cnn).

Compares code versions on a shared machine, where wall times swing with other work: run it with
this checkout, then with ``PYTHONPATH`` on an export of another commit, back to back::

    python benchmarks/bench_measure_chunk.py --run-dir runs/digits          # needs trained digits models
    git archive a950b2a | tar -x -C /tmp/main
    (cd /tmp/main && PYTHONPATH=/tmp/main python /path/to/benchmarks/bench_measure_chunk.py --run-dir ...)

The models are read from the stage files of a digits run (``isobound experiment --train-only``).
Prints the process CPU time of each of ``--repeats`` chunks.
"""

from __future__ import annotations

import argparse
import glob
import sys
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-dir", required=True, help="a digits run directory with trained models")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    import torch

    from isobound_torch.attacks import DeepFool
    from isobound_torch.models import VAEDecoder, build_classifier

    torch.set_num_threads(1)
    sd = torch.load(glob.glob(f"{args.run_dir}/stages/generator-*.pt")[0], weights_only=True)["generator"]
    g = VAEDecoder(8, (1, 8, 8), hidden=(128, 256))
    g.load_state_dict(sd)
    path = next(f for f in glob.glob(f"{args.run_dir}/stages/classifier-cnn-*.pt") if "partial" not in f)
    f = build_classifier("cnn", in_channels=1, image_size=8, n_classes=10)
    f.load_state_dict(torch.load(path, weights_only=True)["state_dict"])
    for m in (g, f):
        m.eval()
        for p in m.parameters():
            p.requires_grad_(False)
    z = torch.randn(250, 8, generator=torch.Generator().manual_seed(0))
    attack = DeepFool(norm="l2", overshoot=0.02, max_iter=50, refine=True)
    try:  # this code: the latent and the image side are separate stages
        from isobound_torch.experiment.evaluation import image_chunk, latent_chunk

        def chunk() -> None:
            latent_chunk(f, g, z, attack, keep=4)
            image_chunk(f, g, z, attack, keep=4)

        which = "latent_chunk + image_chunk"
    except ImportError:  # before the split: one measure_chunk
        from isobound_torch.experiment.stages import measure_chunk  # type: ignore[attr-defined]

        def chunk() -> None:
            measure_chunk(f, g, z, (attack, attack), keep=4)

        which = "measure_chunk"
    times = []
    for _ in range(args.repeats):
        t0 = time.process_time()
        chunk()
        times.append(time.process_time() - t0)
    print(f"{which}: CPU seconds per chunk of 250 latents: {', '.join(f'{t:.2f}' for t in times)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
