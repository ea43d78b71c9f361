"""Unit tests of the experiment's parts: config, store, quantile CIs, report table, CLI parsing, devices."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from isobound_torch import cli  # noqa: E402
from isobound_torch.experiment import ExperimentConfig  # noqa: E402
from isobound_torch.experiment import report as rep  # noqa: E402
from isobound_torch.experiment.distributed import DistContext, setup_distributed, shard_indices  # noqa: E402
from isobound_torch.experiment.evaluation import _merge_radii, compute_bounds  # noqa: E402
from isobound_torch.experiment.stages import resolve_device  # noqa: E402
from isobound_torch.experiment.store import RunStore, atomic_write, derive_seed, stage_key  # noqa: E402
from isobound_torch.experiment.training import PGDSettings, _augment, pgd_linf  # noqa: E402

# ------------------------------------------------------------------------------ config


def test_resolved_defaults_per_dataset() -> None:
    d = ExperimentConfig().resolved()
    assert d.classifiers == ("lenet", "cnn", "mlp") and d.generator == "vae" and d.run_dir == "runs/digits"
    s = ExperimentConfig(dataset="svhn", data_dir="x").resolved()
    assert s.classifiers == ("lenet", "resnet18", "resnet101") and s.generator == "dcgan" and s.latent_dim == 100
    c = ExperimentConfig(dataset="cifar10", data_dir="x").resolved()
    assert c.classifiers == ("vgg16", "wrn-28-10", "wrn-28-10+adv")
    smoke = ExperimentConfig(smoke=True, n_samples=12).resolved()
    assert smoke.n_samples == 12  # explicit values beat smoke defaults
    assert smoke.classifier_epochs == 2 and smoke.width_scale is not None and smoke.width_scale < 1


def test_config_json_round_trip() -> None:
    cfg = ExperimentConfig(dataset="svhn", data_dir="/d", classifiers=["lenet"], radii=[0.1, 0.2]).resolved()
    assert cfg.classifiers == ("lenet",) and cfg.radii == (0.1, 0.2)
    again = ExperimentConfig.from_dict(json.loads(cfg.to_json()))
    assert again == cfg
    best = ExperimentConfig(attack="best", attack_steps=20)
    assert ExperimentConfig.from_dict(json.loads(best.to_json())) == best
    assert (best.evaluation_settings().attack, best.evaluation_settings().attack_steps) == ("best", 20)
    lower = ExperimentConfig(lower_bounds="auto", lower_bound_samples=7)
    assert ExperimentConfig.from_dict(json.loads(lower.to_json())) == lower
    assert (lower.evaluation_settings().lower_bounds, lower.evaluation_settings().lower_bound_samples) == ("auto", 7)
    assert ExperimentConfig().evaluation_settings().lower_bounds == "none"
    with pytest.raises(ValueError, match=r"unknown configuration keys.*'epochs'"):
        ExperimentConfig.from_dict({"epochs": 3})
    with pytest.raises(ValueError, match="data must be a dict"):
        ExperimentConfig.from_dict([])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dataset": "mnist"}, "dataset must be one of"),
        ({"dataset": "svhn"}, "data_dir is required"),
        ({"device": "gpu"}, "device must be"),
        ({"attack": "cw"}, "attack must be one of deepfool, fmn, ddn, best, got attack='cw'"),
        ({"attack": "ddn", "norms": ("l2", "linf")}, "attack='ddn' measures l2 distances only"),
        ({"attack_steps": -3}, r"attack_steps must be an integer >= 1, got attack_steps=-3"),
        ({"lower_bounds": "milp"}, "lower_bounds must be one of none, certified, exact, auto, got lower_bounds='milp'"),
        ({"lower_bound_samples": 0}, r"lower_bound_samples must be an integer >= 1, got lower_bound_samples=0"),
        ({"device": "cuda:x"}, "device must be"),
        ({"seed": -1}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"classifiers": ()}, "at least one classifier"),
        ({"classifiers": "lenet"}, "sequence of names"),
        ({"classifiers": ("lenet", "lenet")}, "must not repeat"),
        ({"classifiers": ("resnet",)}, "classifier name"),
        ({"generator": "gan"}, "generator must be one of"),
        ({"latent_dim": 0}, "latent_dim"),
        ({"n_samples": 0}, "n_samples"),
        ({"chunk_size": 2.5}, "chunk_size"),
        ({"generator_epochs": True}, "generator_epochs"),
        ({"width_scale": 0.0}, "width_scale"),
        ({"classifier_lr": float("nan")}, "classifier_lr"),
        ({"overshoot": -0.1}, "overshoot"),
        ({"quantile": 0.0}, "quantile"),
        ({"quantile": 1.0}, "quantile"),
        ({"failure_prob": 1.5}, "failure_prob"),
        ({"quantile": 0.6, "failure_prob": 0.5}, r"quantile \+ failure_prob"),
        ({"modulus_confidence": 1.0}, "modulus_confidence"),
        ({"audit_confidence": 0.0}, "audit_confidence"),
        ({"ci_level": 2.0}, "ci_level"),
        ({"optimizer": "rmsprop"}, "optimizer"),
        ({"radii": (0.1, -1.0)}, "radii"),
        ({"radii": ()}, "radii"),
        ({"adv_steps": 0}, "adv_steps"),
        ({"dist_timeout_minutes": 0}, "dist_timeout_minutes"),
        ({"smoke": 1}, "smoke"),
        ({"refine": "yes"}, "refine"),
        ({"augment": 1}, "augment"),
        ({"num_threads": -1}, "num_threads"),
        ({"generator_batch_size": 0}, "generator_batch_size"),
        ({"norms": ("l3",)}, "norms must name image norms among l2, linf"),
        ({"norms": ()}, "at least one image norm"),
        ({"epsilons": (0.0,)}, "epsilons must be finite numbers > 0"),
        ({"epsilons": "8/255,x"}, "numbers or fractions such as 8/255"),
    ],
)
def test_bad_config_raises(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ExperimentConfig(**kwargs)


def test_norms_and_epsilons_parse_and_reach_the_evaluation_settings() -> None:
    from isobound_torch.experiment.evaluation import EvaluationSettings, parse_epsilons, parse_norms

    cfg = ExperimentConfig(norms="linf,l2", epsilons="0.5, 8/255, 0.5")
    assert cfg.norms == ("linf", "l2") and cfg.epsilons == (8 / 255, 0.5)
    assert ExperimentConfig.from_dict(json.loads(cfg.to_json())) == cfg
    ev = cfg.evaluation_settings()
    assert ev.norms == ("linf", "l2") and ev.epsilons == (8 / 255, 0.5) and ev.latent_dim == 8
    assert parse_norms(["L2", "l2", "LINF"]) == ("l2", "linf")
    assert parse_epsilons(0.25) == (0.25,) and parse_epsilons(["1/4", 0.25, np.float32(0.5)]) == (0.25, 0.5)
    for bad, err in (({"a": 1}, TypeError), ([True], TypeError), ("inf", ValueError), ([math.nan], ValueError)):
        with pytest.raises(err, match="epsilons"):
            parse_epsilons(bad)
    with pytest.raises(TypeError, match="norms must be a string"):
        parse_norms(2)
    with pytest.raises(ValueError, match="modulus_method must be one of estimate, certified, both, given"):
        EvaluationSettings(latent_dim=2, modulus_method="proven")
    with pytest.raises(ValueError, match="certify_budget must be a finite number"):
        EvaluationSettings(latent_dim=2, certify_budget=-1.0)
    with pytest.raises(ValueError, match="latent_prior must be 'normal' or 'uniform'"):
        EvaluationSettings(latent_dim=2, latent_prior="laplace")


def test_report_helpers() -> None:
    assert (
        rep.format_epsilon(8 / 255) == "8/255" and rep.format_epsilon(1.0) == "1" and rep.format_epsilon(0.3) == "0.3"
    )
    assert rep.threat_model("l2") == "L2" and rep.threat_model("linf") == "Linf"
    with pytest.raises(ValueError, match="norm must be 'l2' or 'linf'"):
        rep.threat_model("l1")
    assert rep.bonferroni_confidence(0.95, 5) == pytest.approx(0.99)
    with pytest.raises(ValueError, match="n_tests must be a positive integer"):
        rep.bonferroni_confidence(0.95, 0)
    with pytest.raises(ValueError, match="confidence must lie strictly between 0 and 1"):
        rep.bonferroni_confidence(1.0, 3)


# ------------------------------------------------------------------------------ store


def test_memory_store_and_stale_outputs(tmp_path: Path) -> None:
    from isobound_torch.experiment.store import MemoryStore, code_versions, remove_stale

    mem = MemoryStore()
    mem.save("s", "k", {"x": 1})
    assert mem.load("s", "k") == {"x": 1} and mem.load("s", "other") is None
    mem.discard("s", "k")
    assert mem.load("s", "k") is None and not list(tmp_path.iterdir())
    import isobound

    assert code_versions() == {"isobound": isobound.__version__, "torch": torch.__version__}
    for name in ("cdf_a.png", "cdf_b.png", "samples.png"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "cdf_dir.png").mkdir()
    assert remove_stale(tmp_path, {"cdf_a.png"}, ("cdf_*.png",)) == ["cdf_b.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cdf_a.png", "cdf_dir.png", "samples.png"]


def test_stage_key_and_seed_depend_on_every_part() -> None:
    assert stage_key("a", {"x": 1}) == stage_key("a", {"x": 1})
    assert stage_key("a", {"x": 1}) != stage_key("a", {"x": 2})
    assert derive_seed(0, "a") != derive_seed(0, "b")
    assert 0 <= derive_seed(123, "x") < 2**63


def test_store_round_trip_and_atomicity(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    store.save("s", "k", {"a": torch.arange(4), "b": [1.5, "x"]})
    loaded = store.load("s", "k")
    assert loaded["a"].tolist() == [0, 1, 2, 3] and loaded["b"] == [1.5, "x"]
    # A writer that dies half way leaves the old file intact and no temporary file behind.
    target = tmp_path / "report.md"
    target.write_text("old")

    def dies(p: Path) -> None:
        p.write_text("half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        atomic_write(target, dies)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    # A damaged checkpoint is treated as missing (recomputed), not trusted.
    store.path("s", "bad").write_bytes(b"garbage")
    assert store.load("s", "bad") is None
    store.discard("s", "k")
    assert store.load("s", "k") is None


# ------------------------------------------------------------------------------ report maths


def test_empirical_quantile_coverage_by_simulation() -> None:
    """The order-statistic interval covers the true quantile at least at its level."""
    rng = np.random.default_rng(0)
    true_q = -math.log(1 - 0.25)  # 25% quantile of Exp(1)
    trials, covered = 400, 0
    for _ in range(trials):
        est = rep.empirical_quantile(rng.exponential(size=60), 0.25, level=0.9)
        covered += est.low <= true_q <= est.high
    # Binomial(400, >=0.9): below 0.86 has probability < 1e-3.
    assert covered / trials >= 0.86


def test_empirical_quantile_values_and_failures() -> None:
    x = np.arange(1.0, 101.0)
    est = rep.empirical_quantile(x, 0.25)
    assert est.value == 25.0 and est.n == 100
    assert est.low < 25.0 < est.high
    # Failed measurements (NaN) count as +inf and can only push quantiles up.
    with_nan = np.concatenate([x[:20], [np.nan] * 80])
    assert rep.empirical_quantile(with_nan, 0.25).value == math.inf
    assert rep.empirical_quantile([2.0], 0.25).high == math.inf
    assert rep.empirical_quantile(x, 0.25).scaled(0.5).value == 12.5
    for bad, match in [((x, 0.0), "q must"), ((x, 0.5, 1.0), "level"), (([], 0.5), "empty")]:
        with pytest.raises(ValueError, match=match):
            rep.empirical_quantile(bad[0], bad[1], level=bad[2] if len(bad) > 2 else 0.95)


def test_class_proportions() -> None:
    np.testing.assert_allclose(rep.class_proportions([1, 1, 3, 0], 4), [0.25, 0.5, 0.0, 0.25])
    with pytest.raises(ValueError, match=r"labels must lie in 0\.\.3"):
        rep.class_proportions([4], 4)
    with pytest.raises(ValueError, match="must not be empty"):
        rep.class_proportions([], 4)


def test_compute_bounds_reproduces_the_paper_column() -> None:
    """K = 10 equiprobable, d = 100, q = 0.25: the Tables' Z-space bound 0.015838."""
    import isobound as ib

    props = {"f": np.full(10, 0.1), "g": np.array([0.5, 0.5, 0, 0, 0, 0, 0, 0, 0, 0])}
    bounds, equi, needed = compute_bounds(props, 10, 100, 0.25, 0.01)
    assert float(equi.ppf(0.25)) / ib.expected_gaussian_norm(100) == pytest.approx(0.015838, abs=5e-7)
    assert float(bounds["f"].ppf(0.25)) == pytest.approx(float(equi.ppf(0.25)), rel=1e-9)
    # Zero-share classes are dropped: two halves give the half-space median bound.
    assert float(bounds["g"].ppf(0.5)) == pytest.approx(0.6744897501960817, rel=1e-9)
    # The radii needed for omega are the latent quantiles at q + delta, rounded up.
    for t, b in zip(needed, [bounds["f"], bounds["g"], equi], strict=True):
        assert t >= float(b.ppf(0.26)) and t == pytest.approx(float(b.ppf(0.26)), rel=1e-12)
    merged = _merge_radii((0.1, 0.5), needed)
    assert merged == sorted(merged) and 0.1 in merged and 0.5 in merged
    # every needed radius has a measured radius at or just above it (never below)
    for t in needed:
        assert any(t <= r <= t * (1 + 1e-9) for r in merged)


def test_markdown_table_layout() -> None:
    report = _fake_report()
    table = rep.markdown_table(report)
    lines = table.splitlines()
    assert lines[0].startswith("| 25% quantile") and "Upper bound (10 equiprobable classes) | a | b |" in lines[0]
    assert lines[2] == "| Error rate | - | 5.0% | 1.0% |"
    assert lines[3].startswith("| Robustness in the Z-space | 1.6e-02 | 6.1e-03 [5.0e-03, 7.0e-03] | inf [")
    assert "In-distribution robustness | 3.6e-01" in table and "Unconstrained robustness | 3.6e-01" in table
    assert "| Audit, in-distribution | ok | **VIOLATION** |" in table


def _fake_report() -> dict[str, Any]:
    def clf(err: float, z: float | None, ok_in: bool) -> dict[str, Any]:
        emp = {"value": z, "ci_low": 0.005, "ci_high": 0.007}
        audit = {"ok": True}
        return {
            "test_error": err,
            "class_proportions": [0.1] * 10,
            "bound": {"z": 0.016, "image": 0.36},
            "empirical": {"z": emp, "in": emp, "unc": emp},
            "audit": {"z": audit, "in": {"ok": ok_in}, "unc": audit},
            "success_rate": {"z": 1.0, "in": 1.0, "unc": 0.5},
        }

    return {
        "settings": {"quantile": 0.25},
        "upper_bound": {"n_classes": 10, "z": 0.015838, "image": 0.36},
        "classifiers": {"a": clf(0.05, 0.0061, True), "b": clf(0.01, None, False)},
    }


def test_json_ready_is_strict_json() -> None:
    obj = {"a": np.float64(np.inf), "b": torch.tensor([1.0, float("nan")]), "c": (np.int64(3), Path("x"))}
    text = json.dumps(rep.json_ready(obj), allow_nan=False)
    assert json.loads(text) == {"a": None, "b": [1.0, None], "c": [3, "x"]}


def test_plots_write_png(tmp_path: Path) -> None:
    import isobound as ib

    b = ib.IsoperimetricBound.equiprobable(10)
    omega = ib.PiecewiseLinear([0.1, 0.5, 2.0], [0.2, 0.6, 1.5], interpolation="step", failure_prob=0.01)
    rng = np.random.default_rng(0)
    d = {
        "z": rng.exponential(0.2, 50),
        "in": rng.exponential(0.3, 50),
        "unc": np.append(rng.exponential(0.1, 49), np.inf),
    }
    p = rep.plot_cdfs(
        tmp_path / "c.png",
        "x",
        d,
        {"z": b, "image": b.through(omega)},
        {"z": 3.0, "in": 2.0, "unc": 2.0},
        quantile=0.25,
    )
    imgs = rng.random((5, 1, 8, 8))
    q = rep.plot_images(tmp_path / "s.png", imgs, "samples")
    ex = {"f": {"x": imgs, "x_unc": imgs, "x_in": imgs, "label": [1] * 5, "label_unc": [2] * 5, "label_in": [3] * 5}}
    r = rep.plot_pairs(tmp_path / "p.png", ex, [str(k) for k in range(10)])
    for path in (p, q, r):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------------------------ training helpers


def test_pgd_stays_in_the_ball_and_increases_the_loss() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3))
    x = torch.rand(32, 1, 4, 4)
    y = model(x).argmax(1)
    settings = PGDSettings(0.1, 0.03, 10)
    adv = pgd_linf(model, x, y, settings, torch.Generator().manual_seed(1))
    assert float((adv - x).abs().max()) <= 0.1 + 1e-6 and float(adv.min()) >= 0 and float(adv.max()) <= 1
    ce = torch.nn.functional.cross_entropy
    with torch.no_grad():
        assert float(ce(model(adv), y)) > float(ce(model(x), y))
    assert all(p.grad is None for p in model.parameters()) and all(p.requires_grad for p in model.parameters())
    for kwargs, match in [({"epsilon": -1.0}, "epsilon"), ({"step": 0.0}, "step"), ({"steps": 0}, "steps")]:
        with pytest.raises(ValueError, match=match):
            PGDSettings(**kwargs)


def test_augment_translates_whole_images() -> None:
    x = torch.zeros(6, 1, 8, 8)
    x[:, :, 3:5, 3:5] = 1.0
    out = _augment(x, torch.Generator().manual_seed(0), pad=1, flip=False)
    assert out.shape == x.shape
    assert torch.all(out.sum(dim=(1, 2, 3)) == 4)  # the block moved by at most one pixel, never cut


# ------------------------------------------------------------------------------ devices, distribution


def test_cuda_requested_without_cuda_fails_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda")
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ValueError, match="device must be"):
        resolve_device("tpu")


def test_single_process_context_is_inert(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    ctx = setup_distributed(use_cuda=False, timeout_minutes=1.0)
    assert ctx == DistContext() and ctx.is_main and not ctx.active
    assert ctx.broadcast({"a": 1}) == {"a": 1} and ctx.all_gather(3) == [3]
    ctx.barrier()
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(ValueError, match="WORLD_SIZE must be an integer"):
        setup_distributed(use_cuda=False, timeout_minutes=1.0)


def test_shard_indices_partition() -> None:
    parts = [shard_indices(11, r, 3) for r in range(3)]
    assert sorted(i for part in parts for i in part) == list(range(11))
    with pytest.raises(ValueError, match="rank must lie"):
        shard_indices(3, 2, 2)


# ------------------------------------------------------------------------------ CLI parsing


def test_cli_parses_every_option() -> None:
    ns = cli.build_parser().parse_args(
        [
            "--dataset", "cifar10", "--data-dir", "/d", "--run-dir", "/r", "--device", "cpu", "--seed", "3",
            "--classifiers", "vgg16,wrn-16-4", "wrn-16-4+adv", "--n-samples", "50", "--generator-epochs", "2",
            "--classifier-epochs", "3", "--generator-checkpoint", "g.pt", "--smoke", "--no-progress",
            "--radii", "0.1", "0.2", "--no-refine", "--width-scale", "0.5", "--threads", "3",
            "--generator-batch-size", "32", "--failure-prob", "0.05", "--ci-level", "0.9",
        ]
    )  # fmt: skip
    cfg = cli.config_from_args(ns)
    assert cfg.classifiers == ("vgg16", "wrn-16-4", "wrn-16-4+adv")
    assert (cfg.dataset, cfg.data_dir, cfg.run_dir, cfg.device, cfg.seed) == ("cifar10", "/d", "/r", "cpu", 3)
    assert (cfg.n_samples, cfg.generator_epochs, cfg.classifier_epochs) == (50, 2, 3)
    assert cfg.generator_checkpoint == "g.pt" and cfg.smoke and not cfg.progress and not cfg.refine
    assert cfg.radii == (0.1, 0.2) and cfg.width_scale == 0.5 and cfg.num_threads == 3
    assert cfg.generator_batch_size == 32 and cfg.failure_prob == 0.05 and cfg.ci_level == 0.9
    assert cli.config_from_args(cli.build_parser().parse_args([])).ci_level == 0.95


def test_cli_reports_bad_input_with_exit_code_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert cli.main(["--dataset", "svhn", "--quiet"]) == 2
    assert "data_dir is required" in capsys.readouterr().err
    code = cli.main(
        [
            "--dataset",
            "svhn",
            "--data-dir",
            str(tmp_path),
            "--run-dir",
            str(tmp_path / "r"),
            "--quiet",
            "--device",
            "cpu",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "train_32x32.mat" in err and "http://ufldl.stanford.edu/housenumbers/" in err
    # main returns a status for argparse errors too (isobound.cli.run_command), never raises SystemExit
    # --quiet: without it main() attaches a log handler to this test's captured stderr, which
    # outlives the capture and breaks later tests that log (test_quiet_shows_no_progress_bars_and_no_log)
    assert cli.main(["--dataset", "imagenet", "--quiet"]) == 2
    assert "'imagenet'" in capsys.readouterr().err
    assert cli.main(["--ci-level", "1.5", "--quiet"]) == 2
    assert "ci_level" in capsys.readouterr().err


def test_cli_module_has_no_import_time_parsing() -> None:
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "isobound_torch.cli", "--help"], capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )  # fmt: skip
    assert out.returncode == 0 and "isobound experiment" in out.stdout and "--smoke" in out.stdout


def test_batchnorm_recalibration_makes_eval_match_batch_statistics() -> None:
    from isobound_torch.experiment.training import recalibrate_batchnorm
    from isobound_torch.models import DCGANGenerator

    torch.manual_seed(0)
    g = DCGANGenerator(8, 1, 8, ngf=8)
    for m in g.modules():  # stale statistics, as after training
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.fill_(3.0)
            m.running_var.fill_(0.01)
    z = torch.randn(2048, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        g.train()
        batch_stats = g(z)
        g.eval()
        stale = g(z)
    recalibrate_batchnorm(g, 8, torch.device("cpu"), gen=torch.Generator().manual_seed(2), batches=20, batch_size=512)
    assert not g.training
    with torch.no_grad():
        fresh = g(z)
    assert float((stale - batch_stats).abs().mean()) > 0.05
    assert float((fresh - batch_stats).abs().mean()) < 0.01


def test_thread_defaults() -> None:
    assert ExperimentConfig().resolved().num_threads == 1
    assert ExperimentConfig(dataset="svhn", data_dir="x").resolved().num_threads == 0
    assert ExperimentConfig(dataset="svhn", data_dir="x", smoke=True).resolved().num_threads == 1
    assert ExperimentConfig(num_threads=4).resolved().num_threads == 4


def test_training_helpers_validate() -> None:
    from isobound_torch.data import load_digits
    from isobound_torch.experiment.training import evaluate_error, train_classifier

    ds = load_digits()
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    with pytest.raises(ValueError, match="split must be 'test' or 'train'"):
        evaluate_error(model, ds, torch.device("cpu"), split="valid")
    with pytest.raises(ValueError, match="optimizer must be 'sgd' or 'adam'"):
        train_classifier(
            model, ds, torch.device("cpu"), epochs=1, batch_size=8, lr=0.1, optimizer="lbfgs", gen=torch.Generator()
        )
    # the error of an untrained linear model is what argmax disagreement says it is
    with torch.no_grad():
        pred = model(ds.to_float(ds.test_images)).argmax(1)
    assert evaluate_error(model, ds, torch.device("cpu")) == pytest.approx(
        float((pred != ds.test_labels).float().mean())
    )


def test_generator_checkpoint_errors(tmp_path: Path) -> None:
    from isobound_torch.experiment.stages import Pipeline

    not_torch = tmp_path / "x.pt"
    not_torch.write_text("hello")
    a_list = tmp_path / "list.pt"
    torch.save([1, 2], a_list)
    for path, match in [(not_torch, "could not be loaded"), (a_list, "must hold a state_dict")]:
        cfg = ExperimentConfig(smoke=True, run_dir=str(tmp_path / "r"), generator_checkpoint=str(path)).resolved()
        pipe = Pipeline(cfg, DistContext(), torch.device("cpu"))
        with pytest.raises(ValueError, match=match):
            pipe.run_generator()


def test_compute_bounds_with_sampled_proportions_is_conservative() -> None:
    """Proportions estimated from N samples: the bound must not rest on the point estimate."""
    props = {"f": np.array([0.3, 0.25, 0.2, 0.15, 0.1])}
    point, _, _ = compute_bounds(props, 5, 8, 0.25, 0.01)
    safe, _, _ = compute_bounds(props, 5, 8, 0.25, 0.01, n_samples=200, confidence=0.95)
    more, _, _ = compute_bounds(props, 5, 8, 0.25, 0.01, n_samples=20000, confidence=0.95)
    grid = np.linspace(0.01, 3, 50)
    # a cdf below the point estimate's everywhere, closer to it with more samples
    assert np.all(safe["f"].cdf(grid) <= point["f"].cdf(grid) + 1e-15)
    assert float(safe["f"].ppf(0.25)) > float(more["f"].ppf(0.25)) > float(point["f"].ppf(0.25))
    with pytest.raises(ValueError, match="both n_samples and confidence"):
        compute_bounds(props, 5, 8, 0.25, 0.01, n_samples=200)
