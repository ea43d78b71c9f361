"""``isobound experiment`` on the command line: failures end in a message and a status, never a traceback.

Covers the run directory (a file, under a file, unwritable, a finished run that
is read-only), Ctrl-C (status 130, and the same command resumes), ``--quiet``
(no progress bars) and ``--version``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import isobound  # noqa: E402
from isobound import cli as core_cli  # noqa: E402
from isobound_torch import cli  # noqa: E402
from isobound_torch.experiment import store  # noqa: E402

pytestmark = pytest.mark.slow

_FAST = ["--smoke", "--device", "cpu", "--classifiers", "mlp"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("cli") / "run"
    assert cli.main([*_FAST, "--run-dir", str(run_dir), "--quiet"]) == 0
    return run_dir


def _copy(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest)
    return dest


def test_quiet_shows_no_progress_bars_and_no_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main([*_FAST, "--run-dir", str(tmp_path / "q"), "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0
    assert err == ""  # tqdm writes its bars to stderr; the log lines go there too
    assert "report:" in out


def test_without_quiet_there_are_log_lines(finished: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the counterpart of the test above: the same capture does see stderr output
    code = cli.main([*_FAST, "--run-dir", str(_copy(finished, tmp_path / "r"))])
    assert code == 0
    assert "stage" in capsys.readouterr().err


def test_each_run_logs_once_to_its_own_stderr_and_leaves_no_handler(
    finished: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Code that calls main() repeatedly (a notebook, a test suite) must not pile up
    handlers, nor keep writing to the stderr of an earlier call."""
    import logging

    logger = logging.getLogger("isobound_torch.experiment")
    before = (list(logger.handlers), logger.level)
    counts = []
    for i in range(2):
        assert cli.main([*_FAST, "--run-dir", str(_copy(finished, tmp_path / f"r{i}"))]) == 0
        err = capsys.readouterr().err
        counts.append(err.count("stage"))
        assert (list(logger.handlers), logger.level) == before
    assert counts[0] > 0 and counts[0] == counts[1]
    # and a quiet run after them stays silent
    assert cli.main([*_FAST, "--run-dir", str(_copy(finished, tmp_path / "q")), "--quiet"]) == 0
    assert capsys.readouterr().err == ""


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"isobound {isobound.__version__} (torch {torch.__version__})"


def test_run_dir_is_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "a-file"
    target.write_text("not a directory")
    assert core_cli.main(["experiment", *_FAST, "--run-dir", str(target)]) == 2
    err = capsys.readouterr().err
    assert "--run-dir" in err and str(target) in err and "not a directory" in err
    assert "Traceback" not in err
    assert target.read_text() == "not a directory"


def test_run_dir_under_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "a-file"
    target.write_text("x")
    assert cli.main([*_FAST, "--run-dir", str(target / "sub" / "run")]) == 2
    err = capsys.readouterr().err
    assert "--run-dir" in err and str(target) in err and "is a file" in err


def _deny_writes(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    """What a read-only run directory does: creating a file in it fails with EACCES."""
    real = store.tempfile.mkstemp

    def mkstemp(*args: Any, dir: Any = None, **kwargs: Any) -> Any:
        if dir is not None and Path(dir).resolve().is_relative_to(root.resolve()):
            raise PermissionError(13, "Permission denied", str(Path(dir) / kwargs.get("prefix", "")))
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(store.tempfile, "mkstemp", mkstemp)


def test_read_only_finished_run_reports_what_it_cannot_write(
    finished: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = _copy(finished, tmp_path / "ro")
    before = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}
    _deny_writes(monkeypatch, run_dir)
    assert cli.main([*_FAST, "--run-dir", str(run_dir), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "Permission denied" in err and str(run_dir) in err
    assert "--run-dir" in err  # what to do about it
    assert str(run_dir / "report.md") in err  # where the last report still is
    assert {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()} == before


def test_unwritable_new_run_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = tmp_path / "new"
    _deny_writes(monkeypatch, run_dir)
    assert cli.main([*_FAST, "--run-dir", str(run_dir), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "Permission denied" in err and str(run_dir) in err and "Traceback" not in err
    assert "last report" not in err  # there is none


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0,
    reason="root ignores directory permissions; the monkeypatched tests above cover this path",
)
def test_read_only_run_dir_for_real(finished: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = _copy(finished, tmp_path / "chmod")
    for p in [run_dir, *run_dir.rglob("*")]:
        p.chmod(0o555 if p.is_dir() else 0o444)
    try:
        assert cli.main([*_FAST, "--run-dir", str(run_dir), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert "Permission denied" in err and str(run_dir / "report.md") in err
    finally:
        for p in [run_dir, *run_dir.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)


def test_ctrl_c_in_process(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import isobound_torch.experiment as experiment

    def interrupted(config: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(experiment, "run", interrupted)
    assert core_cli.main(["experiment", *_FAST, "--run-dir", str(tmp_path / "i")]) == 130
    err = capsys.readouterr().err
    assert "interrupted; run the same command again to resume" in err and "Traceback" not in err


def test_ctrl_c_for_real_then_resume(tmp_path: Path) -> None:
    """SIGINT in the middle of a run: status 130, the message, no traceback; the same command resumes."""
    run_dir = tmp_path / "sigint"
    argv = [sys.executable, "-m", "isobound", "experiment", *_FAST, "--run-dir", str(run_dir), "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stderr is not None and proc.stdout is not None
    lines = []
    deadline = time.monotonic() + 120
    for line in proc.stderr:  # the log: interrupt once the generator stage is done
        lines.append(line)
        if line.startswith("stage generator") or time.monotonic() > deadline:
            break
    proc.send_signal(signal.SIGINT)
    rest = proc.stderr.read()
    proc.stderr.close()
    proc.stdout.close()
    rc = proc.wait(timeout=120)
    err = "".join(lines) + rest
    assert any(line.startswith("stage generator") for line in lines), err
    assert rc == 130, err
    assert "interrupted; run the same command again to resume" in err
    assert "Traceback" not in err
    again = subprocess.run([*argv, "--json", "--quiet"], capture_output=True, text=True, env=env, timeout=300)
    assert again.returncode == 0, again.stderr
    stages = {s["name"]: s["status"] for s in json.loads(again.stdout)["stages"]}
    assert stages["generator"] == "loaded"  # kept from the interrupted run


# ------------------------------------------------------------------ the README's smoke command, as written


def test_smoke_svhn_as_the_readme_writes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert core_cli.main(["experiment", "--smoke", "--dataset", "svhn"]) == 0
    out, err = capsys.readouterr()
    fake = Path("runs") / "svhn" / "fake-data" / "svhn"
    assert "wrote fake SVHN files" in err and str(fake) in err
    from isobound_torch.data import load_svhn

    assert load_svhn(fake).train_images.shape[1:] == (3, 32, 32)  # the official layout, read back
    assert (Path("runs") / "svhn" / "report.md").is_file() and "report:" in out


def test_smoke_fake_cifar10_is_written_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from isobound_torch.data import load_cifar10

    ns = argparse.Namespace(run_dir=str(tmp_path / "run"), dataset="cifar10")
    folder = Path(cli._fake_data_for_smoke(ns))
    assert "wrote fake CIFAR-10" in capsys.readouterr().err
    ds = load_cifar10(folder)
    assert ds.train_images.shape[1:] == (3, 32, 32) and len(ds.train_labels) == 200
    stamp = (folder / "cifar-10-batches-py" / "test_batch").stat().st_mtime_ns
    assert Path(cli._fake_data_for_smoke(ns)) == folder
    assert "using the fake" in capsys.readouterr().err
    assert (folder / "cifar-10-batches-py" / "test_batch").stat().st_mtime_ns == stamp


def test_real_data_dir_is_still_required_without_smoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--dataset", "svhn", "--run-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "data_dir is required" in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


# ------------------------------------------------------------------ your own data, end to end


def _png_folder(root: Path, n_per_class: int = 24, side: int = 8) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for k, name in enumerate(["circle", "square", "stripe"]):
        (root / name).mkdir(parents=True)
        for i in range(n_per_class):
            arr = rng.integers(0, 60, size=(side, side)).astype(np.uint8)
            arr[:, 2 * k : 2 * k + 2] += 180  # a bright column band per class: learnable
            Image.fromarray(arr).save(root / name / f"{i}.png")


def _stages(out: str) -> dict[str, str]:
    """Status of every stage but the report (which is always re-rendered)."""
    return {s["name"]: s["status"] for s in json.loads(out)["stages"] if s["name"] != "report"}


def test_folder_dataset_end_to_end_and_resume(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from PIL import Image

    data = tmp_path / "shapes"
    _png_folder(data)
    run_dir = tmp_path / "run"
    argv = ["--smoke", "--device", "cpu", "--dataset", f"folder:{data}", "--run-dir", str(run_dir),
            "--classifiers", "mlp", "--json", "--quiet"]
    assert cli.main(argv) == 0
    first = _stages(capsys.readouterr().out)
    assert set(first.values()) == {"computed"}
    report = json.loads((run_dir / "report.json").read_text())
    assert report["dataset"]["classes"] == ["circle", "square", "stripe"]
    assert report["dataset"]["image_shape"] == [1, 8, 8]
    assert report["config"]["generator"] == "vae" and report["config"]["latent_dim"] == 8
    assert cli.main(argv) == 0
    assert set(_stages(capsys.readouterr().out).values()) == {"loaded"}
    # one pixel of one image changes: everything trained on the data is redone
    target = data / "square" / "3.png"
    arr = np.asarray(Image.open(target)).copy()
    arr[0, 0] ^= 1
    Image.fromarray(arr).save(target)
    assert cli.main(argv) == 0
    again = _stages(capsys.readouterr().out)
    assert again["generator"] == "computed" and again["classifier-mlp"] == "computed"


def test_npz_dataset_of_16_pixels_takes_the_dcgan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(1)
    y = np.arange(96) % 2
    x = rng.random((96, 16, 16, 3)) * 0.3
    x[y == 1, :8] += 0.6  # class 1: bright top half
    np.savez(tmp_path / "halves.npz", x=x, y=y, classes=np.array(["bottom", "top"]))
    run_dir = tmp_path / "run"
    argv = ["--smoke", "--device", "cpu", "--dataset", f"npz:{tmp_path / 'halves.npz'}", "--run-dir", str(run_dir),
            "--classifiers", "lenet", "--test-fraction", "0.25", "--quiet"]
    assert cli.main(argv) == 0
    report = json.loads((run_dir / "report.json").read_text())
    assert report["config"]["generator"] == "dcgan" and report["config"]["latent_dim"] == 100
    assert report["dataset"]["classes"] == ["bottom", "top"] and report["dataset"]["image_shape"] == [3, 16, 16]
    assert report["dataset"]["n_test"] == 24
    assert (run_dir / "pairs.png").is_file()


@pytest.mark.parametrize(
    ("spec", "needles"),
    [
        ("folder:{tmp}/missing", ["does not exist", "one sub-folder per class"]),
        ("npz:{tmp}/missing.npz", ["does not exist", "'x'"]),
        ("mnist", ["dataset must be one of", "'mnist'", "folder:PATH"]),
    ],
)
def test_bad_dataset_specs_are_messages(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], spec: str, needles: list[str]
) -> None:
    assert cli.main(["--smoke", "--dataset", spec.format(tmp=tmp_path), "--run-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, (needle, err)


def test_one_class_folder_is_a_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _png_folder(tmp_path / "d", n_per_class=2)
    shutil.rmtree(tmp_path / "d" / "square")
    shutil.rmtree(tmp_path / "d" / "stripe")
    assert cli.main(["--smoke", "--dataset", f"folder:{tmp_path / 'd'}", "--run-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "1 class" in err and "'circle'" in err and str(tmp_path / "d") in err
