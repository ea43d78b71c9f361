"""DeepFool: isobound_torch against torchattacks, foolbox and ART, same model, same inputs, one run.

Setting (issue 4): a LeNet (``isobound_torch.models.LeNet``) trained here on
scikit-learn's digits (``isobound_torch.data.load_digits``) upsampled to 3x32x32,
pixels in [0, 1]; the first 256 test inputs; overshoot 0.02, 50 iterations, all 10
classes, box [0, 1]; one CPU thread; model in eval mode.  Every implementation
attacks the model's own predictions (robustness relative to f(x)).  Success and
norms are recomputed here the same way for all of them from the inputs they
return: success = the model's label there differs from its label at the clean
input; ||r||_2 = norm of returned minus clean input, failures counted as +inf in
the quantiles.  Throughput is images per second, best of ``--repeats`` timed runs
after one untimed warm-up run on a slice of the inputs.

Besides speed and norms the script records, for every implementation:

* whether gradients were left on the model's parameters (``p.grad`` not ``None``),
  and whether the model's training flag changed;
* what it does with inputs the model already gets wrong, probed on the
  misclassified test images with their *true* labels (for the peers that take
  labels): the share returned with a zero perturbation (counted as "already
  adversarial") and the share whose returned point still has the model's
  original prediction.

Install the peers without letting pip pull torch or torchvision::

    pip install --no-deps torchattacks foolbox adversarial-robustness-toolbox eagerpy GitPython gitdb smmap

A peer that does not import (or fails) is reported with its error and skipped.

Usage::

    python benchmarks/bench_deepfool.py [--n 256] [--repeats 3] [--out benchmarks/results/deepfool.md]
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as _dt
import importlib
import io
import math
import os
import platform
import pstats
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from isobound_torch.attacks import DeepFool
from isobound_torch.data import load_digits
from isobound_torch.models import LeNet

N_CLASSES = 10
OVERSHOOT = 0.02
STEPS = 50
BOX = (0.0, 1.0)
#: Targets of issue 4: throughput ratios against the peers.
SPEED_TARGETS = {"foolbox": 3.0, "torchattacks": 10.0}
#: Median ||r||_2 of the unrefined attack within this relative distance of foolbox's.
MEDIAN_TOL = 0.005

Attack = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


# ---------------------------------------------------------------- data and model
def digits_32(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The digits as 3x32x32 float32 images in [0, 1] (bilinear upsampling, grey repeated)."""
    ds = load_digits()
    images = ds.train_images if split == "train" else ds.test_images
    labels = ds.train_labels if split == "train" else ds.test_labels
    x = F.interpolate(ds.to_float(images), size=(32, 32), mode="bilinear", align_corners=False)
    return x.clamp(*BOX).repeat(1, 3, 1, 1).contiguous(), labels


def train_lenet(seed: int = 0, epochs: int = 8) -> tuple[nn.Module, float]:
    """A LeNet trained on the upsampled digits; returned in eval mode, no ``.grad`` left, with its test accuracy."""
    torch.manual_seed(seed)
    x, y = digits_32("train")
    model = LeNet(3, 32, N_CLASSES)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), 64):
            b = perm[i : i + 64]
            opt.zero_grad()
            F.cross_entropy(model(x[b]), y[b]).backward()
            opt.step()
    model.eval()
    clear_grads(model)
    xt, yt = digits_32("test")
    with torch.no_grad():
        acc = float((model(xt).argmax(1) == yt).float().mean())
    return model, acc


def clear_grads(model: nn.Module) -> None:
    for p in model.parameters():
        p.grad = None


def grads_state(model: nn.Module) -> str:
    """'no' if every ``p.grad`` is None, else whether what was left is zero or not."""
    left = [p.grad for p in model.parameters() if p.grad is not None]
    if not left:
        return "no"
    return "yes (non-zero)" if any(bool(g.abs().sum() > 0) for g in left) else "yes (zeros)"


# ---------------------------------------------------------------- the implementations
def ours(refine: bool, grads: str = "auto") -> Attack:
    attack = DeepFool(
        norm="l2", overshoot=OVERSHOOT, max_iter=STEPS, candidates=None, bounds=BOX, refine=refine, grads=grads
    )

    def run(model: nn.Module, x: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        del label  # DeepFool attacks the model's own prediction
        return attack(model, x).adversarial

    return run


def foolbox_attack() -> Attack:
    import foolbox as fb

    attack = fb.attacks.L2DeepFoolAttack(steps=STEPS, candidates=N_CLASSES, overshoot=OVERSHOOT, loss="logits")

    def run(model: nn.Module, x: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        fmodel = fb.PyTorchModel(model, bounds=BOX)
        _, clipped, _ = attack(fmodel, x, label, epsilons=None)
        return clipped.detach()

    return run


def torchattacks_attack() -> Attack:
    import torchattacks

    def run(model: nn.Module, x: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        attack = torchattacks.DeepFool(model, steps=STEPS, overshoot=OVERSHOOT)
        return attack(x, label).detach()

    return run


def art_attack() -> Attack:
    from art.attacks.evasion import DeepFool as ArtDeepFool
    from art.estimators.classification import PyTorchClassifier

    def run(model: nn.Module, x: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        del label  # ART's DeepFool attacks the estimator's predictions
        clf = PyTorchClassifier(
            model=model,
            loss=nn.CrossEntropyLoss(),
            input_shape=tuple(x.shape[1:]),
            nb_classes=N_CLASSES,
            clip_values=BOX,
            device_type="cpu",
        )
        attack = ArtDeepFool(
            clf, max_iter=STEPS, epsilon=OVERSHOOT, nb_grads=N_CLASSES, batch_size=len(x), verbose=False
        )
        return torch.from_numpy(attack.generate(x.numpy())).to(x.dtype)

    return run


#: name -> (module whose import decides availability, builder)
PEERS: dict[str, tuple[str, Callable[[], Attack]]] = {
    "foolbox": ("foolbox", foolbox_attack),
    "torchattacks": ("torchattacks", torchattacks_attack),
    "ART": ("art", art_attack),
}

#: What each implementation does, read from its source (the versions in the report); the
#: measured columns and the misclassified-input probe check the parts that can be observed.
PEER_NOTES = {
    "isobound_torch": "batched; one forward and C - 1 input-only vector-Jacobian products per iteration on the "
    "samples not yet flipped (finished rows leave the batch): one backward pass per class for a convolutional "
    "network (grads='auto'), all of them in one batched backward otherwise; overshoot on the accumulated step "
    "every iteration; "
    "attacks the model's own prediction (no labels taken); optional line-search refinement",
    "foolbox": "batched, but every iteration runs C - 1 forward+backward passes on the whole batch until the "
    "slowest sample flips; samples whose given label is already wrong count as adversarial and are returned "
    "unperturbed; gradients flow into the parameters' .grad",
    "torchattacks": "a Python loop over samples and iterations, a full Jacobian per sample "
    "(torch.autograd.functional.jacobian), clamping to [0, 1] at every step and no minimum step, so samples "
    "can stall on the boundary; a sample whose given label is already wrong is returned unperturbed",
    "ART": "numpy around the torch model; ignores labels and attacks the predictions; all-class gradients for "
    "the whole batch every iteration; overshoot applied once at the end, steps scaled by the box width",
}


# ---------------------------------------------------------------- measuring
@dataclass
class Row:
    name: str
    version: str = ""
    n: int = 0
    seconds: float = math.nan
    success: float = math.nan
    median: float = math.nan
    q25: float = math.nan
    grads: str = ""
    mode_kept: bool | None = None
    misclassified: str = ""
    error: str = ""
    times: list[float] = field(default_factory=list)
    dist: torch.Tensor | None = None  # per-sample ||r||_2, +inf where failed

    @property
    def rate(self) -> float:
        return self.n / self.seconds if self.seconds > 0 else math.nan

    @property
    def ours(self) -> bool:
        return self.name.startswith("isobound_torch")


def evaluate(model: nn.Module, x: torch.Tensor, label: torch.Tensor, adv: torch.Tensor, row: Row) -> None:
    """Success and ||r||_2 quantiles from the returned inputs, the same way for everyone."""
    if adv.shape != x.shape:
        raise RuntimeError(f"returned shape {tuple(adv.shape)} != input shape {tuple(x.shape)}")
    inside = bool(((adv >= BOX[0]) & (adv <= BOX[1])).all())
    with torch.no_grad():
        pred = model(adv).argmax(1)
    ok = (pred != label) & inside
    d = (adv - x).flatten(1).double().norm(dim=1)
    d = torch.where(ok, d, torch.full_like(d, math.inf))
    row.dist = d
    row.success = float(ok.double().mean())
    row.median = float(torch.quantile(d, 0.5)) if row.success >= 0.5 else math.inf
    row.q25 = float(torch.quantile(d, 0.25)) if row.success >= 0.25 else math.inf


def run_once(row: Row, attack: Attack, model: nn.Module, x: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """One timed run; records its time, whether gradients were left and whether the mode changed."""
    clear_grads(model)
    was_training = [m.training for m in model.modules()]
    t0 = time.perf_counter()
    out = attack(model, x, label)
    row.times.append(time.perf_counter() - t0)
    grads = grads_state(model)
    row.grads = grads if row.grads in ("", "no") else row.grads
    row.mode_kept = (row.mode_kept is not False) and was_training == [m.training for m in model.modules()]
    clear_grads(model)
    model.eval()  # a peer may have switched modes; the next one gets the same model
    return out


def fail(row: Row, what: str, exc: Exception, model: nn.Module) -> None:
    row.error = f"{what}: {type(exc).__name__}: {exc}"[:200].replace("|", "/").replace("\n", " ")
    print(f"note: {row.name}: {row.error}", flush=True)
    clear_grads(model)
    model.eval()


def probe_misclassified(
    attack: Attack, model: nn.Module, x_wrong: torch.Tensor, y_true: torch.Tensor, takes_labels: bool
) -> str:
    """What the attack does with inputs the model gets wrong, given their true labels."""
    if not len(x_wrong):
        return "no misclassified test input to probe"
    with torch.no_grad():
        pred = model(x_wrong).argmax(1)
    adv = attack(model, x_wrong, y_true)
    clear_grads(model)
    model.eval()
    with torch.no_grad():
        still = model(adv).argmax(1) == pred
    zero = (adv - x_wrong).flatten(1).norm(dim=1) == 0
    n = len(x_wrong)
    how = "true labels passed" if takes_labels else "labels not used"
    return f"{how}: {int(zero.sum())}/{n} returned unperturbed, {int(still.sum())}/{n} still predicted as before"


def profile_ours(model: nn.Module, x: torch.Tensor, label: torch.Tensor, top: int = 8) -> list[str]:
    """One run of the unrefined attack under cProfile: own time per function, largest first."""
    attack = ours(refine=False)
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    attack(model, x, label)
    prof.disable()
    total = time.perf_counter() - t0
    stats = pstats.Stats(prof, stream=io.StringIO())
    entries = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:top]  # type: ignore[attr-defined]
    lines = [f"One unrefined run under cProfile: {total:.2f} s; own time per function:", ""]
    for (filename, lineno, func), (_, ncalls, tottime, _, _) in entries:
        where = f"{os.path.basename(filename)}:{lineno}({func})" if filename != "~" else func
        lines.append(f"- `{where}`: {tottime:.3f} s in {ncalls} calls ({100 * tottime / total:.0f}%)")
    return lines


# ---------------------------------------------------------------- reporting
def fmt(v: float, spec: str) -> str:
    if isinstance(v, float) and math.isnan(v):
        return "n/a"
    if isinstance(v, float) and math.isinf(v):
        return "inf"
    return format(v, spec)


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True, timeout=10).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return platform.processor() or platform.machine()


def render(rows: list[Row]) -> str:
    peers = [r for r in rows if not r.ours and not r.error]
    head = "| implementation | img/s | success | median ‖r‖₂ | 25% ‖r‖₂ | grads left on parameters | mode kept |"
    sep = "| --- | ---: | ---: | ---: | ---: | --- | --- |"
    for p in peers:
        head += f" speed vs {p.name} | median vs {p.name} |"
        sep += " ---: | ---: |"
    lines = [head, sep]
    for r in rows:
        label = r.name if r.ours or not r.version else f"{r.name} {r.version}"
        if r.error:
            lines.append(f"| {label} | {r.error} |" + " |" * (5 + 2 * len(peers)))
            continue
        cells = [
            label,
            fmt(r.rate, ".1f"),
            fmt(100 * r.success, ".1f") + "%",
            fmt(r.median, ".4f"),
            fmt(r.q25, ".4f"),
            r.grads,
            "yes" if r.mode_kept else "no",
        ]
        for p in peers:
            if r.ours:
                cells += [fmt(r.rate / p.rate, ".1f") + "x", fmt(100 * (r.median / p.median - 1), "+.3f") + "%"]
            else:
                cells += ["", ""]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def targets(rows: list[Row]) -> list[str]:
    by = {r.name: r for r in rows if not r.error}
    raw, ref = by.get("isobound_torch"), by.get("isobound_torch (refine=True)")
    out: list[str] = []

    def line(what: str, met: bool, detail: str) -> None:
        out.append(f"- {what}: {'met' if met else '**missed**'} ({detail})")

    if raw is None:
        return ["- isobound_torch did not run"]
    for peer, factor in SPEED_TARGETS.items():
        if peer in by:
            ratio = raw.rate / by[peer].rate
            typical = float(np.median(by[peer].times) / np.median(raw.times))
            line(
                f">= {factor:g}x {peer}'s throughput",
                ratio >= factor,
                f"{ratio:.1f}x best against best; {typical:.1f}x median run against median run",
            )
        else:
            out.append(f"- >= {factor:g}x {peer}'s throughput: not measured ({peer} unavailable)")
    if "foolbox" in by:
        fb = by["foolbox"]
        if fb.success == 1.0:
            line("100% success where foolbox has it", raw.success == 1.0, f"{100 * raw.success:.1f}%")
        rel = raw.median / fb.median - 1
        line(f"median ‖r‖₂ within {100 * MEDIAN_TOL:g}% of foolbox's", abs(rel) <= MEDIAN_TOL, f"{100 * rel:+.3f}%")
        if ref is not None:
            rel_r = ref.median / fb.median - 1
            line("smaller median with refine", ref.median < fb.median, f"{100 * rel_r:+.3f}%")
        for r in (raw, ref):
            if r is not None and r.dist is not None and fb.dist is not None:
                both = torch.isfinite(r.dist) & torch.isfinite(fb.dist)
                rel = (r.dist[both] / fb.dist[both] - 1).abs()
                close = int((rel <= 1e-3).sum())
                out.append(
                    f"- per sample, {r.name} vs foolbox: {close}/{len(rel)} norms within 0.1%, "
                    f"largest relative difference {fmt(float(rel.max()) if len(rel) else math.nan, '.2e')}"
                )
    line("no gradients left on parameters", raw.grads == "no" and (ref is None or ref.grads == "no"), raw.grads)
    bat = by.get("isobound_torch (grads='batched')")
    if bat is not None and raw.dist is not None and bat.dist is not None:
        fin = torch.isfinite(raw.dist) & torch.isfinite(bat.dist)
        rel = (raw.dist[fin] / bat.dist[fin] - 1).abs()
        out.append(
            f"- gradient paths: the default (grads='auto', here the loop over classes) runs at "
            f"{raw.rate / bat.rate:.2f}x the batched backward's throughput; per-sample norms agree to "
            f"{fmt(float(rel.max()) if len(rel) else math.nan, '.1e')}"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--n", type=int, default=256, help="number of test inputs (default 256)")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per implementation, best kept (default 3)")
    ap.add_argument("--warmup", type=int, default=16, help="inputs in the untimed warm-up run (default 16)")
    ap.add_argument("--skip", nargs="*", default=[], choices=sorted(PEERS), help="peers to skip")
    ap.add_argument("--out", help="write the Markdown report here")
    args = ap.parse_args(argv)
    if args.n < 1 or args.repeats < 1 or args.warmup < 1:
        ap.error("--n, --repeats and --warmup must be >= 1")

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")  # the peers' deprecation chatter is not the subject here
    load = os.getloadavg()
    t0 = time.perf_counter()
    model, acc = train_lenet()
    train_s = time.perf_counter() - t0
    xt, yt = digits_32("test")
    x = xt[: args.n].contiguous()
    with torch.no_grad():
        label = model(x).argmax(1)
        wrong = model(xt).argmax(1) != yt
    x_wrong, y_wrong = xt[wrong].contiguous(), yt[wrong].contiguous()
    n = len(x)
    print(f"LeNet trained in {train_s:.1f} s, test accuracy {acc:.3f}; attacking {n} test inputs", flush=True)

    import isobound

    rows: list[Row] = []
    attacks: dict[str, Attack] = {}
    for refine in (False, True):
        row = Row("isobound_torch" + (" (refine=True)" if refine else ""), isobound.__version__, n)
        rows.append(row)
        attacks[row.name] = ours(refine)
    # the path grads="auto" does not take on a convolutional network: all C - 1 normals in one batched backward
    row = Row("isobound_torch (grads='batched')", isobound.__version__, n)
    rows.append(row)
    attacks[row.name] = ours(False, "batched")
    for name, (module, build) in PEERS.items():
        if name in args.skip:
            continue
        row = Row(name, "", n)
        rows.append(row)
        try:
            row.version = str(getattr(importlib.import_module(module), "__version__", "?"))
            attacks[name] = build()
        except Exception as exc:  # a peer that does not import is a result, not a crash
            fail(row, "not available", exc, model)

    # Warm-up, then the timed runs round-robin, so that the load of the shared machine
    # falls on every implementation alike; the best run of each counts.
    outputs: dict[str, torch.Tensor] = {}
    for rep in range(-1, args.repeats):
        for row in rows:
            if row.error:
                continue
            try:
                if rep < 0:  # untimed warm-up: allocator, lazy imports, first-call paths
                    attacks[row.name](model, x[: args.warmup], label[: args.warmup])
                    clear_grads(model)
                    model.eval()
                else:
                    outputs[row.name] = run_once(row, attacks[row.name], model, x, label)
            except Exception as exc:  # a peer's failure is a result, not a crash
                fail(row, "run failed", exc, model)
        print(f"{'warm-up' if rep < 0 else f'repeat {rep + 1}/{args.repeats}'} done", flush=True)
    for row in rows:
        if row.error:
            continue
        row.seconds = min(row.times)
        evaluate(model, x, label, outputs[row.name], row)
        try:
            takes_labels = row.name in ("foolbox", "torchattacks")
            row.misclassified = probe_misclassified(attacks[row.name], model, x_wrong, y_wrong, takes_labels)
        except Exception as exc:
            row.misclassified = f"probe failed: {type(exc).__name__}: {exc}"[:200]
        print(f"{row.name}: {row.rate:.1f} img/s, success {row.success:.3f}, median {row.median:.4f}", flush=True)

    table = render(rows)
    goals = targets(rows)
    profile = profile_ours(model, x, label)
    notes = [f"- {r.name}: {r.misclassified}" for r in rows if r.misclassified]
    timings = [f"- {r.name}: " + ", ".join(f"{t:.2f}" for t in r.times) + " s" for r in rows if r.times]
    print("\n" + table + "\n\nTargets (issue 4):\n" + "\n".join(goals))
    print("\nMisclassified inputs:\n" + "\n".join(notes) + "\n\n" + "\n".join(profile))

    if args.out:
        versions = [f"Python {platform.python_version()}", f"torch {torch.__version__}", f"numpy {np.__version__}"]
        versions += [f"{r.name} {r.version}" for r in rows if r.version and "refine" not in r.name]
        cmd = "python benchmarks/bench_deepfool.py " + " ".join(argv if argv is not None else sys.argv[1:])
        text = [
            "# DeepFool: isobound_torch against torchattacks, foolbox and ART",
            "",
            f"- command: `{cmd.strip()}`",
            f"- machine: {cpu_model()}, {os.cpu_count()} logical cores, {platform.system()} {platform.machine()} "
            "(shared); one torch thread (`torch.set_num_threads(1)`)",
            f"- load average before the run (1/5/15 min): {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}",
            f"- date: {_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M} UTC",
            f"- versions: {', '.join(versions)}",
            f"- model: LeNet (`isobound_torch.models.LeNet`) trained here in {train_s:.0f} s on the digits "
            f"(`isobound_torch.data.load_digits`) upsampled to 3x32x32, test accuracy {acc:.3f}; eval mode, float32",
            f"- inputs: the first {n} test images; every attack targets the model's own prediction; "
            f"overshoot {OVERSHOOT}, {STEPS} iterations, all {N_CLASSES} classes, box [0, 1]",
            f"- timing: best of {args.repeats} runs after an untimed warm-up on {args.warmup} inputs, the "
            "implementations taking turns (round-robin) so that the shared machine's load falls on all alike; "
            "success and ‖r‖₂ recomputed here from the returned inputs (a point outside the box counts as a "
            "failure); failures count as +inf in the quantiles",
            "",
            table,
            "",
            "## Targets (issue 4)",
            "",
            *goals,
            "",
            f"## Already-misclassified inputs ({len(x_wrong)} test images the model gets wrong)",
            "",
            "Each implementation was run once more on these images with their true labels (where it takes labels).",
            "",
            *notes,
            "",
            "## How the implementations work (from their source)",
            "",
            *[f"- {k}: {v}" for k, v in PEER_NOTES.items()],
            "",
            "## Where isobound_torch's time goes",
            "",
            *profile,
            "",
            "## All timed runs",
            "",
            *timings,
            "",
        ]
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write("\n".join(text))
        print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
