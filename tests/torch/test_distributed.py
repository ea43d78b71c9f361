"""torchrun with the gloo backend and 2 CPU processes gives the single-process report.

Both runs go through the command line in subprocesses with one thread per process
(torchrun's default), so the floating-point work is the same; rank 0 trains, the
measurement chunks are split between the ranks and gathered.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("isobound_torch.measure")
import torch.distributed as dist

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not dist.is_available() or not dist.is_gloo_available(), reason="needs torch.distributed with gloo"
    ),
]

ARGS = ["--smoke", "--device", "cpu", "--quiet", "--no-progress", "--classifiers", "mlp,cnn"]


def _env() -> dict[str, str]:
    dist_vars = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
    env = {k: v for k, v in os.environ.items() if k not in dist_vars}
    env["OMP_NUM_THREADS"] = "1"
    return env


def _report(run_dir: Path) -> dict:  # type: ignore[type-arg]
    return json.loads((run_dir / "report.json").read_text())


def test_torchrun_two_ranks_matches_single_process(tmp_path: Path) -> None:
    single = tmp_path / "single"
    out = subprocess.run(
        [sys.executable, "-m", "isobound_torch.cli", *ARGS, "--run-dir", str(single)],
        env=_env(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]

    multi = tmp_path / "multi"
    out = subprocess.run(
        [
            sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
            "-m", "isobound_torch.cli", *ARGS, "--run-dir", str(multi),
        ],
        env=_env(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]

    a, b = _report(single), _report(multi)
    assert a["world_size"] == 1 and b["world_size"] == 2
    assert list(a["classifiers"]) == list(b["classifiers"]) == ["mlp", "cnn"]
    for name in a["classifiers"]:
        ca, cb = a["classifiers"][name], b["classifiers"][name]
        assert ca["per_sample"] == cb["per_sample"], name
        assert ca["class_proportions"] == cb["class_proportions"]
        assert ca["empirical"] == cb["empirical"] and ca["bound"] == cb["bound"]
    assert a["table_markdown"] == b["table_markdown"]
    # the measurement really was split: each rank computed one of the two chunks
    stages = {s["name"]: s for s in b["stages"]}
    assert stages["measure-mlp"]["chunks_total"] == 2 and stages["measure-mlp"]["chunks_computed"] == 1
