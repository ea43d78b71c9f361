"""Command line of ``isobound evaluate`` (also ``python -m isobound_torch.evaluate_cli``).

The core CLI (``isobound``) hands ``isobound evaluate <args>`` to :func:`main`.
Nothing is parsed at import time.

Examples
--------
>>> ns = build_parser().parse_args(["--generator", "dcgan:g.pt", "--classifier", "a=a.ts",
...                                 "--classifier", "b=pkg.mod:make,width=2", "--latent-dim", "100",
...                                 "--norm", "l2,linf", "--epsilon", "8/255,0.5"])
>>> ns.classifier, ns.norm, ns.epsilon
(['a=a.ts', 'b=pkg.mod:make,width=2'], 'l2,linf', '8/255,0.5')
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["main", "build_parser", "load_test_data"]

_DESCRIPTION = """\
Measure the robustness of your own classifiers on data from your own generator
(latent r_Z, in-distribution r_in and unconstrained r_unc, by DeepFool, in the
l2 and/or l-infinity image norm), estimate the generator's modulus of
continuity, and compare with the bound that no classifier can beat (Fawzi et
al. 2018, Theorem 1), including the ceiling on robust accuracy at each --epsilon.
Writes report.md, report.json and PNG plots into the run directory; re-running
the same command resumes.
"""

_EPILOG = """\
SPEC (for --generator and each --classifier NAME=SPEC) is TARGET[,key=value,...]:
  package.module:factory   import package.module (current directory first, then
                           sys.path) and call factory(**kwargs); it must return the
                           model. IMPORTING A MODULE RUNS ITS CODE, as any Python
                           import does: name only code you trust.
  model.ts / model.pt2     a TorchScript file (torch.jit.save) or a torch.export
                           program (torch.export.save, with a dynamic batch dim)
  ARCH:weights.pt          a built-in architecture (generators: dcgan, vae;
                           classifiers: lenet, cnn, mlp, resnet18, resnet101,
                           vgg11..vgg19, wrn-D-W) with a state_dict read by
                           torch.load(weights_only=True); sizes are read off the
                           weights, or given as key=value (e.g. image_shape=1x8x8)
Whole pickled models (torch.save(model)) are never loaded.

examples:
  isobound evaluate --generator dcgan:gen.pt --classifier resnet=resnet.ts \\
      --latent-dim 100 --norm l2,linf --epsilon 8/255,0.5 --run-dir runs/mine
  isobound evaluate --generator mymodels:make_generator,size=32 \\
      --classifier a=mymodels:make_classifier,which=a --latent-dim 64 --latent-prior uniform
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``isobound evaluate``."""
    from .cli import _version

    p = argparse.ArgumentParser(
        prog="isobound evaluate",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=_version())
    m = p.add_argument_group("models")
    m.add_argument("--generator", required=True, metavar="SPEC", help="the generator g: latents (B, d) to images")
    m.add_argument(
        "--classifier", action="append", required=True, metavar="NAME=SPEC",
        help="a classifier returning (B, K) logits for g's images; repeat for several",
    )  # fmt: skip
    m.add_argument("--latent-dim", type=int, required=True, metavar="D", help="d, the latent dimension of g")
    m.add_argument(
        "--latent-prior", choices=("normal", "uniform"), default="normal",
        help="normal: z ~ N(0, I_d) (default); uniform: g samples [-1, 1]^d, measured through 2 Phi(z) - 1",
    )  # fmt: skip
    m.add_argument(
        "--test-data",
        metavar="SOURCE",
        help="labelled real images for the clean accuracy: 'digits' or an .npz with x, y",
    )
    b = p.add_argument_group("measurement and bounds")
    b.add_argument("--norm", default="l2", help="image norms: l2, linf or l2,linf (default l2)")
    b.add_argument("--epsilon", default="", help="radii of the robust-accuracy ceilings, e.g. 8/255,0.5")
    b.add_argument("--n-samples", type=int, default=1000, help="N generated samples to measure (default 1000)")
    b.add_argument("--chunk-size", type=int, default=250, help="samples per measurement checkpoint (default 250)")
    b.add_argument("--overshoot", type=float, default=0.02, help="DeepFool overshoot (default 0.02)")
    b.add_argument("--max-iter", type=int, default=50, help="DeepFool iterations (default 50)")
    b.add_argument("--no-refine", action="store_true", help="keep DeepFool's raw perturbations")
    b.add_argument("--quantile", type=float, default=0.25, help="reported quantile (default 0.25)")
    b.add_argument("--failure-prob", type=float, default=0.01, help="delta of the estimated modulus (default 0.01)")
    b.add_argument(
        "--modulus-confidence", type=float, default=0.99, help="confidence of the modulus estimate (default 0.99)"
    )
    b.add_argument(
        "--modulus-samples", type=int, help="latent samples for omega (default: the minimum for delta and confidence)"
    )
    add_method_arguments(b)
    b.add_argument("--modulus-restarts", type=int, default=2)
    b.add_argument("--modulus-steps", type=int, default=10)
    b.add_argument("--radii", type=float, nargs="+", help="latent radii where omega is measured")
    b.add_argument(
        "--audit-confidence", type=float, default=0.99, help="family-wise confidence of all audits (default 0.99)"
    )
    b.add_argument(
        "--ci-level", type=float, default=0.95, help="level of the quantile intervals and proportion box (default 0.95)"
    )
    r = p.add_argument_group("run")
    r.add_argument("--run-dir", default="runs/evaluate", help="stages and report (default runs/evaluate)")
    r.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:<n>")
    r.add_argument("--seed", type=int, default=0, help="run seed (default 0)")
    r.add_argument("--threads", type=int, dest="num_threads", help="CPU threads for torch (default: torch's)")
    r.add_argument("--no-progress", action="store_true", help="no progress bars")
    r.add_argument("--quiet", action="store_true", help="no log lines and no progress bars, only the result")
    r.add_argument("--json", action="store_true", help="print the RobustBench-shaped records and summary as JSON")
    return p


def load_test_data(source: str) -> tuple[Any, Any, list[str] | None]:
    """``(images, labels, class names)`` from ``digits`` or an ``.npz`` file with arrays ``x``, ``y``.

    ``x`` may be N x C x H x W or N x H x W x C (C = 1 or 3), integers (0..255)
    or floats in [0, 1]; ``x_test``/``y_test`` are used when present.
    """
    import numpy as np
    import torch

    if source == "digits":
        from .data import load_digits

        ds = load_digits()
        return ds.to_float(ds.test_images), ds.test_labels, list(ds.classes)
    path = Path(source).expanduser()
    if not path.is_file():
        raise ValueError(f"--test-data must be 'digits' or an existing .npz file, got --test-data {source!r}")
    try:
        with np.load(path, allow_pickle=False) as arrays:
            kx, ky = ("x_test", "y_test") if "x_test" in arrays else ("x", "y")
            if kx not in arrays or ky not in arrays:
                raise ValueError(
                    f"--test-data {source!r} must hold arrays x and y (or x_test and y_test), got {sorted(arrays)}"
                )
            x, y = arrays[kx], arrays[ky]
    except (OSError, ValueError) as exc:
        if "must hold arrays" in str(exc):
            raise
        raise ValueError(f"--test-data {source!r} is not a readable .npz file: {exc}") from exc
    if x.ndim == 4 and x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
        x = x.transpose(0, 3, 1, 2)
    if x.ndim != 4 or y.ndim != 1 or x.shape[0] != y.shape[0]:
        raise ValueError(
            f"--test-data {source!r}: x must be N x C x H x W and y of length N, got {x.shape} and {y.shape}"
        )
    images = torch.as_tensor(np.ascontiguousarray(x))
    images = images.float() / 255.0 if not images.is_floating_point() else images.float()
    return images, torch.as_tensor(y).long(), None


def _summary(result: Any) -> dict[str, Any]:
    rep = result.report
    return {
        "run_dir": str(result.run_dir),
        "files": {k: str(v) for k, v in result.files.items()},
        "upper_bound": rep["upper_bound"],
        "robustbench": rep["robustbench"],
        "confidence": rep["confidence"],
        "classifiers": {
            n: {k: c[k] for k in ("clean_acc", "class_proportions", "bound", "empirical", "audit", "success_rate")}
            for n, c in rep["classifiers"].items()
        },
        "stages": rep["stages"],
    }


def run_cli(ns: argparse.Namespace) -> Any:
    """Run the evaluation that parsed arguments describe; returns the result."""
    from ._evaluate import evaluate
    from .specs import split_classifier_spec

    classifiers: dict[str, str] = {}
    for text in ns.classifier:
        name, spec = split_classifier_spec(text)
        if name in classifiers:
            raise ValueError(f"--classifier names {name!r} twice")
        classifiers[name] = spec
    test_data = class_names = None
    if ns.test_data:
        x, y, class_names = load_test_data(ns.test_data)
        test_data = (x, y)
    options: dict[str, Any] = {
        "chunk_size": ns.chunk_size,
        "overshoot": ns.overshoot,
        "max_iter": ns.max_iter,
        "refine": not ns.no_refine,
        "attack": ns.attack,
        "attack_steps": ns.attack_steps,
        "lower_bounds": ns.lower_bounds,
        "lower_bound_samples": ns.lower_bound_samples,
        "quantile": ns.quantile,
        "failure_prob": ns.failure_prob,
        "modulus_confidence": ns.modulus_confidence,
        "modulus_samples": ns.modulus_samples,
        "modulus_restarts": ns.modulus_restarts,
        "modulus_steps": ns.modulus_steps,
        "certify_budget": ns.certify_budget,
        "audit_confidence": ns.audit_confidence,
        "ci_level": ns.ci_level,
    }
    if ns.radii:
        options["radii"] = tuple(ns.radii)
    return evaluate(
        ns.generator,
        classifiers,
        latent_dim=ns.latent_dim,
        n_samples=ns.n_samples,
        norms=ns.norm,
        epsilons=ns.epsilon,
        latent_prior=ns.latent_prior,
        run_dir=ns.run_dir,
        device=ns.device,
        seed=ns.seed,
        test_data=test_data,
        class_names=class_names,
        modulus=ns.modulus,
        progress=not (ns.no_progress or ns.quiet),
        num_threads=ns.num_threads,
        **options,
    )


#: What ``isobound evaluate`` prints after Ctrl-C (exit status 130).
INTERRUPTED = "interrupted; run the same command again to resume"


def main(argv: list[str] | None = None) -> int:
    """Run ``isobound evaluate`` with ``argv`` (default ``sys.argv[1:]``); returns the exit code.

    Exit codes (see :func:`isobound.cli.run_command`, which handles them): 0 success;
    2 bad arguments or models, or a run directory that cannot be written (message on
    stderr naming the argument and the value, no traceback); 130 interrupted (Ctrl-C:
    the finished stages and chunks are kept, and the same command resumes); 141
    stdout closed early.
    """
    from isobound.cli import run_command

    return run_command("isobound evaluate", lambda: _main(argv), interrupted=INTERRUPTED, user_errors=(ValueError,))


def _main(argv: list[str] | None) -> int:

    from .cli import log_to_stderr

    parser = build_parser()
    ns = parser.parse_args(argv)
    with log_to_stderr(not ns.quiet):
        return _run_parsed(ns)


def _run_parsed(ns: argparse.Namespace) -> int:
    from isobound.cli import UsageError

    from .cli import _check_run_dir, _write_problem

    run_dir = Path(ns.run_dir)
    _check_run_dir(run_dir)
    try:
        result = run_cli(ns)
    except OSError as exc:
        if exc.filename is None:
            raise
        raise UsageError(_write_problem(exc, run_dir)) from None
    if result.rank != 0:
        return 0
    if ns.json:
        print(json.dumps(_summary(result), indent=1))
    else:
        print(result.table)
        print()
        print(f"report: {result.files['report_md']}")
        print(f"json:   {result.files['report_json']}")
        print(f"plots:  {', '.join(str(v) for v in result.files.values() if str(v).endswith('.png'))}")
    return 0



def add_method_arguments(group: Any) -> None:
    """The options that pick how distances, omega and lower bounds are obtained (shared by
    ``isobound evaluate`` and ``isobound experiment``)."""
    group.add_argument(
        "--attack",
        choices=("deepfool", "fmn", "ddn", "best"),
        default="deepfool",
        help="the attack that measures distances: deepfool (the paper's, fastest), fmn, ddn (l2 only) or best "
        "(per sample the smallest verified of deepfool, fmn and ddn; about 10%% smaller distances at ~20x the time)",
    )
    group.add_argument("--attack-steps", type=int, help="iterations of FMN and DDN (default 100)")
    group.add_argument(
        "--lower-bounds",
        choices=("none", "certified", "exact", "auto"),
        default="none",
        help="per-sample proven lower bounds on r_unc next to the measured (attack, upper estimate) distances: "
        "certified (certified radius), exact (MILP oracle, small ReLU MLPs, linf only, ~1 s per sample), auto (exact "
        "where it applies, else certified, else 'not available' with the reason) or none (default)",
    )
    group.add_argument(
        "--lower-bound-samples",
        type=int,
        default=50,
        help="how many generated samples (the first ones) get a lower bound (default 50)",
    )
    group.add_argument(
        "--modulus",
        choices=("both", "estimate", "certified"),
        default="both",
        help="omega by ascent (a lower estimate), certified (an upper bound, proven), or both side by side "
        "(default; the certified one where the generator is supported and --certify-budget allows)",
    )
    group.add_argument(
        "--certify-budget",
        type=float,
        default=300.0,
        help="seconds the certified omega may take under --modulus both, from a cost estimate (default 300)",
    )


if __name__ == "__main__":  # pragma: no cover - exercised through subprocess tests
    sys.exit(main())
