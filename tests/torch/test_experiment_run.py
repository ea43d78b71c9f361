"""End-to-end tests of ``isobound experiment`` on the smoke configuration.

Every dataset path runs (digits; SVHN and CIFAR-10 from small fake files in their
official formats), and the resume machinery is tested honestly: a finished run is
reused, a deleted stage is recomputed alone, an exception injected mid-stage loses
no finished chunk or epoch, and seeds make runs repeatable.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("isobound_torch.measure")
pytest.importorskip("isobound_torch.smoothness")

from isobound_torch import cli  # noqa: E402
from isobound_torch.data import write_fake_cifar10, write_fake_svhn  # noqa: E402
from isobound_torch.experiment import ExperimentConfig, evaluation, run, stages  # noqa: E402
from isobound_torch.experiment.distributed import DistContext  # noqa: E402

pytestmark = pytest.mark.slow


def _smoke(run_dir: Path, **kwargs: Any) -> ExperimentConfig:
    return ExperimentConfig(smoke=True, run_dir=str(run_dir), device="cpu", progress=False, **kwargs)


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> Any:
    run_dir = tmp_path_factory.mktemp("digits") / "run"
    return run(_smoke(run_dir))


def _per_sample(result: Any) -> dict[str, Any]:
    return {n: c["per_sample"] for n, c in result.report["classifiers"].items()}


def _copy(result: Any, dest: Path) -> Path:
    shutil.copytree(result.run_dir, dest)
    return dest


# ------------------------------------------------------------------------------ the report


def test_digits_smoke_writes_the_full_report(digits_run: Any) -> None:
    res = digits_run
    assert set(res.statuses().values()) == {"computed"}
    names = list(res.config.classifiers)
    for f in ["report.md", "report.json", "samples.png", "pairs.png", "config.json"] + [f"cdf_{n}.png" for n in names]:
        assert (res.run_dir / f).is_file(), f
    for png in res.run_dir.glob("*.png"):
        assert png.read_bytes()[:4] == b"\x89PNG"
    data = json.loads((res.run_dir / "report.json").read_text())
    assert data["config"]["seed"] == 0 and data["config"]["smoke"] is True
    assert {"torch", "numpy", "isobound", "python"} <= set(data["versions"])
    n = res.config.n_samples
    for name in names:
        c = data["classifiers"][name]
        assert len(c["per_sample"]["r_z"]) == n and len(c["per_sample"]["label"]) == n
        assert sum(c["class_proportions"]) == pytest.approx(1.0)
        assert set(c["audit"]) == {"z", "in", "unc"} and all("message" in a for a in c["audit"].values())
        assert 0.0 <= c["test_error"] <= 1.0
        for s in ("z", "in", "unc"):
            e = c["empirical"][s]
            assert e["ci_low"] is None or e["value"] is None or e["ci_low"] <= e["value"]
    md = (res.run_dir / "report.md").read_text()
    assert res.table in md
    for row in ("Error rate", "Robustness in the Z-space", "In-distribution robustness", "Unconstrained robustness"):
        assert f"| {row} |" in res.table
    assert res.table.splitlines()[0].endswith("| " + " | ".join(names) + " |")
    assert data["table_markdown"] == res.table


def test_report_numbers_follow_from_the_per_sample_values(digits_run: Any) -> None:
    """The table's cells are recomputed here from the JSON's raw per-sample values."""
    import numpy as np

    import isobound as ib

    data = json.loads((digits_run.run_dir / "report.json").read_text())
    s = data["settings"]
    ez = ib.expected_gaussian_norm(s["latent_dim"])
    assert s["expected_latent_norm"] == pytest.approx(ez)
    assert s["mean_image_norm"] == pytest.approx(float(np.mean(data["image_norms"])))
    for c in data["classifiers"].values():
        r_z = np.array([np.inf if v is None else v for v in c["per_sample"]["r_z"]])
        k = int(np.ceil(0.25 * len(r_z)))
        expected = np.sort(r_z)[k - 1] / ez
        got = c["empirical"]["z"]["value"]
        assert (got is None and not np.isfinite(expected)) or got == pytest.approx(expected)
        props = np.bincount(c["per_sample"]["label"], minlength=10) / len(r_z)
        np.testing.assert_allclose(c["class_proportions"], props)
        # the bound uses proportions that majorize the whole confidence box
        # around the estimate: never below the point estimate's bound
        from isobound_torch.measure import conservative_proportions

        safe = conservative_proportions(np.bincount(c["per_sample"]["label"], minlength=10), s["ci_level"])
        point_bound = float(ib.IsoperimetricBound(props[props > 0]).ppf(0.25)) / ez
        expected_bound = float(ib.IsoperimetricBound(safe[safe > 0]).ppf(0.25)) / ez
        assert expected_bound >= point_bound or not np.isfinite(point_bound)
        if c["bound"]["z"] is None:  # one class only: no finite bound
            assert expected_bound == np.inf
        else:
            assert c["bound"]["z"] == pytest.approx(expected_bound, rel=1e-9)


# ------------------------------------------------------------------------------ resume


def test_rerun_of_a_finished_run_reuses_every_stage(digits_run: Any, tmp_path: Path) -> None:
    run_dir = _copy(digits_run, tmp_path / "again")
    t0 = time.perf_counter()
    again = run(_smoke(run_dir))
    elapsed = time.perf_counter() - t0
    statuses = again.statuses()
    assert statuses.pop("report") == "computed"
    assert set(statuses.values()) == {"loaded"}, statuses
    assert _per_sample(again) == _per_sample(digits_run)
    assert again.table == digits_run.table
    assert elapsed < 30  # seconds, loaded checkpoints only (generous for a busy CI machine)


def test_deleting_one_stage_recomputes_only_that_stage(digits_run: Any, tmp_path: Path) -> None:
    run_dir = _copy(digits_run, tmp_path / "partial")
    victim = digits_run.stage("measure-cnn")
    (run_dir / "stages" / f"measure-cnn-{victim.key}.pt").unlink()
    again = run(_smoke(run_dir))
    statuses = again.statuses()
    assert statuses["measure-cnn"] == "computed"
    others = {k: v for k, v in statuses.items() if k not in ("measure-cnn", "report")}
    assert set(others.values()) == {"loaded"}, statuses
    assert _per_sample(again) == _per_sample(digits_run)  # same seed, same numbers


def test_changing_a_setting_recomputes_only_downstream(digits_run: Any, tmp_path: Path) -> None:
    run_dir = _copy(digits_run, tmp_path / "changed")
    again = run(_smoke(run_dir, overshoot=0.05))
    statuses = again.statuses()
    assert statuses["generator"] == "loaded" and statuses["classifier-lenet"] == "loaded"
    assert statuses["measure-lenet"] == "computed"


def test_interrupted_measurement_loses_no_finished_chunk(
    digits_run: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = _copy(digits_run, tmp_path / "interrupted")
    for rec in digits_run.stages:
        if rec.name.startswith("measure-"):
            (run_dir / "stages" / f"{rec.name}-{rec.key}.pt").unlink()
    real = evaluation.latent_chunk
    calls = {"n": 0}

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 4:  # lenet's two chunks and cnn's first chunk are done
            raise KeyboardInterrupt("simulated kill")
        return real(*args, **kwargs)

    monkeypatch.setattr(evaluation, "latent_chunk", flaky)
    with pytest.raises(KeyboardInterrupt):
        run(_smoke(run_dir))
    monkeypatch.setattr(evaluation, "latent_chunk", real)
    resumed = run(_smoke(run_dir))
    assert resumed.statuses()["measure-lenet"] == "loaded"
    cnn = resumed.stage("measure-cnn")
    assert cnn.status == "resumed"
    assert (cnn.detail["chunks_loaded"], cnn.detail["chunks_computed"]) == (1, 1)
    assert resumed.stage("measure-mlp").detail["chunks_computed"] == 2
    assert _per_sample(resumed) == _per_sample(digits_run)
    assert not list((run_dir / "stages").glob("*chunk*"))  # merged chunks are cleaned up


def test_interrupted_training_resumes_at_the_last_epoch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stages, "CHECKPOINT_SECONDS", 0.0)
    cfg = _smoke(tmp_path / "a", classifiers=("mlp",), classifier_epochs=3).resolved()
    whole = stages.Pipeline(cfg, DistContext(), torch.device("cpu")).run_classifier("mlp")[1]

    cfg_b = _smoke(tmp_path / "b", classifiers=("mlp",), classifier_epochs=3).resolved()
    pipe = stages.Pipeline(cfg_b, DistContext(), torch.device("cpu"))
    real_saver = pipe._epoch_saver

    def saver_then_die(stage: str, key: str) -> Any:
        save = real_saver(stage, key)

        def hook(epoch: int, state: dict[str, Any]) -> None:
            save(epoch, state)
            if epoch == 2:
                raise KeyboardInterrupt("simulated kill after epoch 2")

        return hook

    monkeypatch.setattr(pipe, "_epoch_saver", saver_then_die)
    with pytest.raises(KeyboardInterrupt):
        pipe.run_classifier("mlp")
    fresh = stages.Pipeline(cfg_b, DistContext(), torch.device("cpu"))
    _, info = fresh.run_classifier("mlp")
    rec = fresh.records[-1]
    assert rec.status == "resumed" and rec.detail["resumed_from_epoch"] == 2
    assert len(info["history"]) == 3
    for k, v in whole["state_dict"].items():
        assert torch.equal(v, info["state_dict"][k]), k
    assert info["test_error"] == whole["test_error"]
    assert not list((tmp_path / "b" / "stages").glob("*partial*"))


# ------------------------------------------------------------------------------ seeds, options


def test_seeds_make_cpu_runs_repeatable(digits_run: Any, tmp_path: Path) -> None:
    same = run(_smoke(tmp_path / "same"))
    assert _per_sample(same) == _per_sample(digits_run)
    assert same.table == digits_run.table
    other = run(_smoke(tmp_path / "other", seed=1, classifiers=("mlp",)))
    assert other.report["classifiers"]["mlp"]["per_sample"] != digits_run.report["classifiers"]["mlp"]["per_sample"]


def test_generator_checkpoint_skips_training(digits_run: Any, tmp_path: Path) -> None:
    ckpt = digits_run.run_dir / "stages" / f"generator-{digits_run.stage('generator').key}.pt"
    res = run(_smoke(tmp_path / "ckpt", generator_checkpoint=str(ckpt), classifiers=("mlp",)))
    rec = res.stage("generator")
    assert rec.status == "computed" and rec.detail["source"] == str(ckpt)
    assert res.report["classifiers"]["mlp"]["per_sample"] == digits_run.report["classifiers"]["mlp"]["per_sample"]
    bad = tmp_path / "bad.pt"
    torch.save({"weight": torch.zeros(3)}, bad)
    with pytest.raises(ValueError, match="does not fit generator='vae'"):
        run(_smoke(tmp_path / "bad", generator_checkpoint=str(bad), classifiers=("mlp",)))


def test_train_only_then_full_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = tmp_path / "two-step"
    code = cli.main(
        [
            "--smoke",
            "--device",
            "cpu",
            "--run-dir",
            str(run_dir),
            "--quiet",
            "--no-progress",
            "--train-only",
            "--classifiers",
            "mlp",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "classifier-mlp: computed" in out and not (run_dir / "report.md").exists()
    full = run(_smoke(run_dir, classifiers=("mlp",)))
    assert full.statuses()["generator"] == "loaded" and full.statuses()["classifier-mlp"] == "loaded"
    assert full.statuses()["measure-mlp"] == "computed"


def test_cli_on_a_finished_run_prints_json(digits_run: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = _copy(digits_run, tmp_path / "cli")
    code = cli.main(["--smoke", "--device", "cpu", "--run-dir", str(run_dir), "--json", "--quiet", "--no-progress"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["classifiers"]) == set(digits_run.config.classifiers)
    assert out["upper_bound"]["n_classes"] == 10
    code = cli.main(["--smoke", "--device", "cpu", "--run-dir", str(run_dir), "--quiet", "--no-progress"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "| Robustness in the Z-space |" in printed and "report.md" in printed


def test_both_norms_and_ceilings_in_the_experiment(digits_run: Any, tmp_path: Path) -> None:
    """Adding a norm and epsilons reuses the training and the latent measurement; only the new parts run."""
    run_dir = _copy(digits_run, tmp_path / "norms")
    res = run(_smoke(run_dir, norms=("l2", "linf"), epsilons=(8 / 255, 0.5)))
    st = res.statuses()
    assert st["generator"] == st["measure-lenet"] == st["unc-lenet-l2"] == st["modulus-l2"] == "loaded"
    assert st["unc-lenet-linf"] == st["modulus-linf"] == "computed"
    assert set(res.tables) == {"l2", "linf"} and res.tables["l2"] == digits_run.tables["l2"]
    assert [r["eps_text"] for r in res.ceilings["linf"]] == ["8/255", "0.5"]
    assert len(res.robustbench) == 3 * 2 * 2 and (run_dir / "cdf_cnn_linf.png").is_file()
    assert res.robustbench[0]["clean_acc"] == pytest.approx(
        100 * (1 - res.report["classifiers"]["lenet"]["test_error"])
    )


# ------------------------------------------------------------------------------ other datasets


def test_svhn_smoke_from_fake_files(tmp_path: Path) -> None:
    write_fake_svhn(tmp_path / "svhn", n_train=64, n_test=32)
    res = run(_smoke(tmp_path / "run", dataset="svhn", data_dir=str(tmp_path / "svhn")))
    assert list(res.report["classifiers"]) == ["lenet", "resnet18", "resnet101"]
    assert res.report["dataset"]["image_shape"] == [3, 32, 32]
    assert res.config.generator == "dcgan" and res.config.latent_dim == 100
    assert (res.run_dir / "report.md").is_file()


def test_cifar10_smoke_from_fake_files(tmp_path: Path) -> None:
    write_fake_cifar10(tmp_path / "cifar", n_per_batch=16, n_test=32)
    res = run(_smoke(tmp_path / "run", dataset="cifar10", data_dir=str(tmp_path / "cifar")))
    names = list(res.report["classifiers"])
    assert any(n.endswith("+adv") for n in names) and names[0].startswith("vgg")
    assert res.report["dataset"]["classes"][0] == "airplane"
    assert (res.run_dir / "pairs.png").is_file()
