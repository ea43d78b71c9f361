"""Command line of ``isobound experiment`` (also ``python -m isobound_torch.cli``).

The core CLI (``isobound``) hands ``isobound experiment <args>`` to :func:`main`
with ``<args>``. Nothing is parsed at import time.

Examples
--------
>>> parser = build_parser()
>>> ns = parser.parse_args(["--dataset", "svhn", "--data-dir", "d", "--classifiers", "lenet,resnet18"])
>>> config_from_args(ns).classifiers
('lenet', 'resnet18')
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from .evaluate_cli import add_method_arguments

__all__ = ["main", "build_parser", "config_from_args"]

_EPILOG = """\
examples:
  isobound experiment                                   # digits, end to end, a few minutes on a CPU
  isobound experiment --smoke --run-dir /tmp/smoke      # tiny run of every stage (seconds)
  isobound experiment --smoke --dataset svhn            # the same on fake SVHN files it writes itself
  isobound experiment --dataset folder:~/pets           # your own images, one sub-folder per class
  isobound experiment --dataset npz:data.npz --test-fraction 0.1
  isobound experiment --dataset svhn --data-dir ~/data/svhn --device cuda
  isobound experiment --dataset cifar10 --data-dir ~/data --device cuda
  torchrun --nproc_per_node 4 -m isobound_torch.cli --dataset svhn --data-dir ~/data/svhn --device cuda

Re-running the same command resumes: finished stages are reused from the run
directory and an interrupted stage continues where it stopped.
"""


def _names(values: Sequence[str] | None) -> tuple[str, ...] | None:
    if values is None:
        return None
    out: list[str] = []
    for v in values:
        out += [p.strip() for p in v.split(",") if p.strip()]
    return tuple(out)


def _version() -> str:
    import torch

    import isobound

    return f"isobound {isobound.__version__} (torch {torch.__version__})"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``isobound experiment``."""
    p = argparse.ArgumentParser(
        prog="isobound experiment",
        description=(
            "Train a generator and classifiers, measure their robustness with DeepFool on generated "
            "samples (latent r_Z, in-distribution r_in, unconstrained r_unc), estimate the generator's "
            "modulus of continuity, and compare with the isoperimetric upper bound of Fawzi et al. "
            "(2018), Theorem 1. Writes report.md, report.json and PNG plots into the run directory."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=_version())
    g = p.add_argument_group("data and run")
    g.add_argument(
        "--dataset",
        default="digits",
        metavar="SPEC",
        help="digits (default; bundled with scikit-learn), svhn, cifar10, or your own data: "
        "folder:PATH (one sub-folder of PNG/JPEG images per class, or PATH/train/<class> and "
        "PATH/test/<class>) or npz:PATH (arrays x: N x C x H x W or N x H x W x C, uint8 or float "
        "in [0, 1]; y: labels; optional x_test, y_test, classes)",
    )
    g.add_argument(
        "--data-dir",
        help="directory with train_32x32.mat/test_32x32.mat (SVHN) or cifar-10-batches-py (CIFAR-10); "
        "with --smoke and no --data-dir, small fake files in those formats are written into the run directory",
    )
    g.add_argument(
        "--test-fraction",
        type=float,
        help="share of each class held out for testing (digits: default 0.25; your own data without "
        "a test split: default 0.2)",
    )
    g.add_argument("--split-seed", type=int, help="seed of the train/test split (default 0)")
    g.add_argument("--run-dir", help="checkpoints and report (default: runs/<dataset>)")
    g.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:<n>")
    g.add_argument("--seed", type=int, default=0, help="run seed (default 0)")
    g.add_argument(
        "--threads",
        type=int,
        dest="num_threads",
        help="CPU threads for torch (0: torch's default; default 1 for digits)",
    )
    g.add_argument("--smoke", action="store_true", help="tiny configuration that runs every stage in seconds (CI)")
    g.add_argument("--train-only", action="store_true", help="stop after training the generator and the classifiers")
    g.add_argument("--max-train", type=int, help="use only the first N training images")
    g.add_argument("--max-test", type=int, help="use only the first N test images")
    m = p.add_argument_group("models and training")
    m.add_argument(
        "--classifiers",
        nargs="+",
        metavar="NAME",
        help="e.g. lenet,resnet18,resnet101 or vgg16 wrn-28-10 wrn-28-10+adv",
    )
    m.add_argument(
        "--generator",
        choices=("vae", "dcgan"),
        help="generative model (default: vae for digits, dcgan otherwise; for your own data, see the README)",
    )
    m.add_argument("--latent-dim", type=int, help="d (default 8 for digits, 100 for svhn and cifar10)")
    m.add_argument("--generator-checkpoint", help="state_dict file for the generator: skip its training")
    m.add_argument("--generator-epochs", type=int)
    m.add_argument("--classifier-epochs", type=int)
    m.add_argument("--batch-size", type=int, help="classifier batch size")
    m.add_argument("--generator-batch-size", type=int)
    m.add_argument("--generator-lr", type=float)
    m.add_argument("--classifier-lr", type=float)
    m.add_argument("--optimizer", choices=("adam", "sgd"))
    m.add_argument("--width-scale", type=float, help="multiply every network's channel counts")
    m.add_argument(
        "--adv-epsilon", type=float, default=8 / 255, help="PGD radius (L-inf) for +adv classifiers (default 8/255)"
    )
    m.add_argument("--adv-step", type=float, default=2 / 255, help="PGD step (default 2/255)")
    m.add_argument("--adv-steps", type=int, default=7, help="PGD steps (default 7)")
    r = p.add_argument_group("measurement and bounds")
    r.add_argument("--n-samples", type=int, help="N generated samples to measure (default 1000)")
    r.add_argument("--chunk-size", type=int, help="samples per measurement checkpoint")
    r.add_argument("--overshoot", type=float, default=0.02, help="DeepFool overshoot (default 0.02)")
    r.add_argument("--max-iter", type=int, help="DeepFool iterations (default 50)")
    r.add_argument(
        "--no-refine", action="store_true", help="keep DeepFool's raw perturbations (no line search shrinking them)"
    )
    r.add_argument("--quantile", type=float, default=0.25, help="reported quantile (default 0.25, as in the paper)")
    r.add_argument("--failure-prob", type=float, help="delta of the estimated modulus (default 0.01; 0.1 with --smoke)")
    r.add_argument(
        "--modulus-confidence", type=float, help="confidence of the modulus estimate (default 0.99; 0.9 with --smoke)"
    )
    r.add_argument(
        "--modulus-samples", type=int, help="latent samples for omega (default: the minimum for delta and confidence)"
    )
    add_method_arguments(r)
    r.add_argument("--radii", type=float, nargs="+", help="latent radii where omega is measured")
    r.add_argument("--audit-confidence", type=float, default=0.99)
    r.add_argument(
        "--ci-level",
        type=float,
        default=0.95,
        help="level of the confidence intervals on empirical quantiles and on the class "
        "proportions behind each classifier's own bound (default 0.95)",
    )
    o = p.add_argument_group("output")
    o.add_argument("--no-progress", action="store_true", help="no progress bars")
    o.add_argument("--quiet", action="store_true", help="no log lines and no progress bars, only the result")
    o.add_argument("--json", action="store_true", help="print the JSON summary instead of the table")
    return p


def config_from_args(ns: argparse.Namespace) -> Any:
    """An :class:`~isobound_torch.experiment.ExperimentConfig` from parsed arguments."""
    from .experiment import ExperimentConfig

    return ExperimentConfig(
        dataset=ns.dataset,
        data_dir=ns.data_dir,
        run_dir=ns.run_dir,
        device=ns.device,
        seed=ns.seed,
        classifiers=_names(ns.classifiers),
        generator=ns.generator,
        latent_dim=ns.latent_dim,
        generator_checkpoint=ns.generator_checkpoint,
        width_scale=ns.width_scale,
        generator_epochs=ns.generator_epochs,
        classifier_epochs=ns.classifier_epochs,
        batch_size=ns.batch_size,
        generator_batch_size=ns.generator_batch_size,
        generator_lr=ns.generator_lr,
        classifier_lr=ns.classifier_lr,
        optimizer=ns.optimizer,
        max_train=ns.max_train,
        max_test=ns.max_test,
        test_fraction=ns.test_fraction,
        split_seed=ns.split_seed,
        n_samples=ns.n_samples,
        chunk_size=ns.chunk_size,
        overshoot=ns.overshoot,
        max_iter=ns.max_iter,
        refine=not ns.no_refine,
        attack=ns.attack,
        attack_steps=ns.attack_steps,
        lower_bounds=ns.lower_bounds,
        lower_bound_samples=ns.lower_bound_samples,
        quantile=ns.quantile,
        failure_prob=ns.failure_prob,
        modulus_confidence=ns.modulus_confidence,
        modulus_samples=ns.modulus_samples,
        modulus=ns.modulus,
        certify_budget=ns.certify_budget,
        radii=tuple(ns.radii) if ns.radii else None,
        adv_epsilon=ns.adv_epsilon,
        adv_step=ns.adv_step,
        adv_steps=ns.adv_steps,
        audit_confidence=ns.audit_confidence,
        ci_level=ns.ci_level,
        smoke=ns.smoke,
        train_only=ns.train_only,
        progress=not (ns.no_progress or ns.quiet),
        num_threads=ns.num_threads,
    )


def _summary(result: Any) -> dict[str, Any]:
    rep = result.report
    return {
        "run_dir": str(result.run_dir),
        "files": {k: str(v) for k, v in result.files.items()},
        "upper_bound": rep["upper_bound"],
        "classifiers": {
            n: {k: c[k] for k in ("test_error", "class_proportions", "bound", "empirical", "audit", "success_rate")}
            for n, c in rep["classifiers"].items()
        },
        "stages": rep["stages"],
    }


#: What ``isobound experiment`` prints after Ctrl-C (exit status 130).
INTERRUPTED = "interrupted; run the same command again to resume"


def main(argv: list[str] | None = None) -> int:
    """Run ``isobound experiment`` with ``argv`` (default ``sys.argv[1:]``); returns the exit code.

    Exit codes (see :func:`isobound.cli.run_command`, which handles them): 0 success;
    2 bad arguments, missing data or a run directory that cannot be written (message
    on stderr, no traceback); 130 interrupted (Ctrl-C: the finished stages, chunks
    and epochs are kept, and the same command resumes); 141 stdout closed early.
    """
    from isobound.cli import run_command

    return run_command(
        "isobound experiment",
        lambda: _main(argv),
        interrupted=INTERRUPTED,
        user_errors=(ValueError,),
    )


def _check_run_dir(run_dir: Path) -> None:
    from isobound.cli import UsageError

    if run_dir.exists() and not run_dir.is_dir():
        raise UsageError(f"--run-dir: {str(run_dir)!r} exists and is not a directory")
    for parent in run_dir.parents:
        if parent.exists():
            if not parent.is_dir():
                raise UsageError(
                    f"--run-dir: {str(run_dir)!r} cannot be created: {str(parent)!r} is a file"
                )
            break


def _fake_data_for_smoke(ns: argparse.Namespace) -> str:
    """``--smoke --dataset svhn|cifar10`` without ``--data-dir``: small fake files in the official format.

    They go to ``<run-dir>/fake-data/<dataset>`` and are written once (a re-run
    finds them, so it resumes like any other run). The pictures are synthetic: a
    smoke run checks that every stage works, its numbers mean nothing.
    """
    from .data import write_fake_cifar10, write_fake_svhn

    run_dir = Path(ns.run_dir or Path("runs") / ns.dataset)
    _check_run_dir(run_dir)
    folder = run_dir / "fake-data" / ns.dataset
    if ns.dataset == "svhn":
        present = all((folder / n).is_file() for n in ("train_32x32.mat", "test_32x32.mat"))
        what = "SVHN files (train_32x32.mat, test_32x32.mat)"
    else:
        present = (folder / "cifar-10-batches-py" / "test_batch").is_file()
        what = "CIFAR-10 python batches (cifar-10-batches-py/)"
    if present:
        note = f"--smoke without --data-dir: using the fake {what} in {str(folder)!r}"
    else:
        # written beside, then renamed into place: under torchrun every rank gets here,
        # and no rank may read half a file (the content is seeded, so any copy will do)
        import shutil
        import tempfile

        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{ns.dataset}-", dir=folder.parent))
        try:
            if ns.dataset == "svhn":
                write_fake_svhn(tmp, n_train=192, n_test=64)
            else:
                write_fake_cifar10(tmp, n_per_batch=40, n_test=64)
            try:
                tmp.rename(folder)
            except OSError:
                if not folder.is_dir():  # not another rank's copy: a real problem
                    raise
        finally:
            if tmp.exists():
                shutil.rmtree(tmp)
        note = (
            f"--smoke without --data-dir: wrote fake {what} in the official format to {str(folder)!r} "
            "(synthetic pictures, not the real dataset; pass --data-dir for the real files)"
        )
    print(f"isobound experiment: {note}", file=sys.stderr)
    return str(folder)


def _write_problem(exc: OSError, run_dir: Path) -> str:
    """A message for an OSError that names the path, and what to do when it is the run directory."""
    from isobound.cli import _describe_os_error

    text = _describe_os_error(exc)
    if exc.filename is None:
        return text
    try:
        inside = Path(os.fsdecode(exc.filename)).resolve().is_relative_to(run_dir.resolve())
    except (OSError, ValueError):
        inside = False
    if not inside:
        return text
    hint = f"; the run directory {str(run_dir)!r} must be writable (pass another --run-dir)"
    report = run_dir / "report.md"
    if report.is_file():
        hint += (
            f". Its last report is still there, unchanged: {str(report)!r}; to re-render it, "
            "copy the run directory somewhere writable and pass that as --run-dir"
        )
    return f"cannot write the run's files: {text}{hint}"


@contextlib.contextmanager
def log_to_stderr(enabled: bool = True) -> Iterator[None]:
    """Send the pipeline's log lines (stage by stage) to the current stderr while
    the block runs, then take the handler and the level away again, so that code
    calling ``main()`` repeatedly (or with stderr redirected) gets each run's lines
    once and on its own stream."""
    if not enabled:
        yield
        return
    logger = logging.getLogger("isobound_torch.experiment")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _main(argv: list[str] | None) -> int:

    parser = build_parser()
    ns = parser.parse_args(argv)
    with log_to_stderr(not ns.quiet):
        return _run_parsed(ns)


def _run_parsed(ns: argparse.Namespace) -> int:
    from isobound.cli import UsageError

    if ns.smoke and ns.dataset in ("svhn", "cifar10") and ns.data_dir is None:
        ns.data_dir = _fake_data_for_smoke(ns)
    config = config_from_args(ns)
    run_dir = Path(config.resolved().run_dir)
    _check_run_dir(run_dir)
    from .experiment import run

    try:
        result = run(config)
    except OSError as exc:
        if isinstance(exc, FileNotFoundError) and exc.filename is None:
            raise  # a missing dataset: the reader's message says what and where
        raise UsageError(_write_problem(exc, run_dir)) from None
    if result.rank != 0:
        return 0
    if not result.table:  # --train-only
        for rec in result.stages:
            print(f"{rec.name}: {rec.status} ({rec.seconds:.1f} s)")
        print(f"trained models are in {result.run_dir / 'stages'}; run again without --train-only to measure")
        return 0
    if ns.json:
        print(json.dumps(_summary(result), indent=1))
    else:
        print(result.table)
        print()
        print(f"report: {result.files['report_md']}")
        print(f"json:   {result.files['report_json']}")
        print(f"plots:  {', '.join(str(v) for k, v in result.files.items() if str(v).endswith('.png'))}")
    return 0


if __name__ == "__main__":  # pragma: no cover - exercised through subprocess tests
    sys.exit(main())
