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

    def mkstemp(*args: Any, dir: Any = None, **kwargs: Any) -> Any:  # noqa: A002 - tempfile's name
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


def test_unwritable_new_run_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
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
