"""Tests for the ``isobound`` command line (isobound.cli, python -m isobound)."""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
import subprocess
import sys
import types
from typing import Any

import numpy as np
import pytest

import isobound as ib
from isobound.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    rc, out, err = run(capsys, *argv, "--json")
    assert rc == 0, err

    def no_constants(name: str) -> None:
        raise AssertionError(f"non-standard JSON constant {name}")

    result: dict[str, Any] = json.loads(out, parse_constant=no_constants)
    return result


# ---------------------------------------------------------------------------
# isobound bound: quantiles
# ---------------------------------------------------------------------------


def test_tables_z_space_bound(capsys: pytest.CaptureFixture[str]) -> None:
    res = run_json(capsys, "bound", "--classes", "10", "--latent-dim", "100", "--quantile", "0.25")
    (row,) = res["quantiles"]
    expected = ib.IsoperimetricBound.equiprobable(10).ppf(0.25)
    assert row["q"] == 0.25
    assert row["latent_radius"] == expected
    assert res["expected_latent_norm"] == ib.expected_gaussian_norm(100)
    assert row["latent_radius_normalized"] == pytest.approx(
        expected / ib.expected_gaussian_norm(100)
    )
    # the paper prints 16e-3 (SVHN) and 0.016 (CIFAR-10); DESIGN.md section 6
    assert round(row["latent_radius_normalized"], 6) == 0.015838
    assert row["image_radius"] is None


def test_several_quantiles_in_order(capsys: pytest.CaptureFixture[str]) -> None:
    res = run_json(capsys, "bound", "--classes", "100", "--quantile", "0.1, 0.25,0.5,0.9")
    qs = [r["q"] for r in res["quantiles"]]
    assert qs == [0.1, 0.25, 0.5, 0.9]
    radii = [r["latent_radius"] for r in res["quantiles"]]
    want = ib.IsoperimetricBound.equiprobable(100).ppf(np.array(qs))
    assert radii == want.tolist()
    assert radii == sorted(radii)


def test_default_is_the_quartile(capsys: pytest.CaptureFixture[str]) -> None:
    res = run_json(capsys, "bound", "--classes", "3")
    assert [r["q"] for r in res["quantiles"]] == [0.25]
    assert res["radii"] == [] and res["mean"] is None


def test_plain_table(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run(
        capsys, "bound", "--classes", "10", "--latent-dim", "100", "--quantile", "0.25,0.5"
    )
    assert rc == 0 and err == ""
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if "eps_q/E||z||_2" in line)
    assert set(lines[header + 1].replace(" ", "")) == {"-"}
    first = lines[header + 2].split()
    assert first[0] == "0.25"
    assert float(first[1]) == pytest.approx(
        ib.IsoperimetricBound.equiprobable(10).ppf(0.25), rel=1e-5
    )
    assert lines[header + 3].split()[0] == "0.5"


def test_huge_number_of_classes(capsys: pytest.CaptureFixture[str]) -> None:
    res = run_json(capsys, "bound", "--classes", "1e15", "--quantile", "1e-300,0.5")
    assert res["classes"]["n_classes"] == 10**15
    want = ib.IsoperimetricBound.equiprobable(10**15).ppf(np.array([1e-300, 0.5]))
    assert [r["latent_radius"] for r in res["quantiles"]] == want.tolist()
    assert 0 < res["quantiles"][0]["latent_radius"] < 1e-290


def test_quantile_one_is_null_in_json(capsys: pytest.CaptureFixture[str]) -> None:
    res = run_json(capsys, "bound", "--classes", "4", "--quantile", "0,1")
    assert res["quantiles"][0]["latent_radius"] == 0.0
    assert res["quantiles"][1]["latent_radius"] is None  # +inf


# ---------------------------------------------------------------------------
# isobound bound: radii and moduli
# ---------------------------------------------------------------------------


def test_probs_lipschitz_eta(capsys: pytest.CaptureFixture[str]) -> None:
    res = run_json(
        capsys, "bound", "--probs", "0.5,0.3,0.2", "--lipschitz", "2.5", "--eta", "0.1,0.5"
    )
    image = ib.IsoperimetricBound([0.5, 0.3, 0.2]).through(ib.Lipschitz(2.5))
    eta = np.array([0.1, 0.5])
    rows = res["radii"]
    assert [r["eta"] for r in rows] == [0.1, 0.5]
    assert [r["cdf_lower_bound"] for r in rows] == image.cdf(eta).tolist()
    assert [r["sf_upper_bound"] for r in rows] == image.sf(eta).tolist()
    assert [r["logsf_upper_bound"] for r in rows] == image.logsf(eta).tolist()
    assert [r["latent_radius"] for r in rows] == pytest.approx([0.04, 0.2])
    assert res["modulus"] == {"repr": "Lipschitz(L=2.5)", "failure_prob": 0.0, "concave": True}


@pytest.mark.parametrize(
    ("flags", "omega"),
    [
        (["--affine", "2,0.3"], ib.Affine(2.0, 0.3)),
        (["--holder", "3,0.5"], ib.Holder(3.0, 0.5)),
        (["--lipschitz", "2", "--uniform-prior"], ib.UniformPrior(ib.Lipschitz(2.0))),
        (["--uniform-prior"], ib.UniformPrior(ib.Identity())),
        (["--lipschitz", "2", "--failure-prob", "0.01"], ib.Lipschitz(2.0, failure_prob=0.01)),
    ],
)
def test_moduli(capsys: pytest.CaptureFixture[str], flags: list[str], omega: ib.Modulus) -> None:
    res = run_json(
        capsys, "bound", "--probs", "0.6,0.4", *flags, "--eta", "0.2,1,4", "--quantile", "0.3"
    )
    image = ib.IsoperimetricBound([0.6, 0.4]).through(omega)
    assert res["modulus"]["repr"] == repr(omega)
    assert [r["cdf_lower_bound"] for r in res["radii"]] == image.cdf(np.array([0.2, 1, 4])).tolist()
    assert res["quantiles"][0]["image_radius"] == image.ppf(0.3)


def test_affine_below_intercept_gives_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    res = run_json(capsys, "bound", "--classes", "10", "--affine", "1,0.5", "--eta", "0.4")
    assert res["radii"][0]["cdf_lower_bound"] == 0.0
    assert res["radii"][0]["latent_radius"] == 0.0


def test_log_probs_and_counts_agree_with_probs(capsys: pytest.CaptureFixture[str]) -> None:
    a = run_json(capsys, "bound", "--probs", "0.25,0.25,0.5", "--eta", "0.3,2")
    b = run_json(
        capsys,
        "bound",
        "--log-probs",
        f"{math.log(0.25)},{math.log(0.5)}",
        "--counts",
        "2,1",
        "--eta",
        "0.3,2",
    )
    for ra, rb in zip(a["radii"], b["radii"], strict=True):
        assert rb["cdf_lower_bound"] == pytest.approx(ra["cdf_lower_bound"], rel=1e-13)
    assert b["classes"]["n_classes"] == 3


def test_counts_reproduce_equiprobable(capsys: pytest.CaptureFixture[str]) -> None:
    a = run_json(capsys, "bound", "--probs", "0.25", "--counts", "4", "--quantile", "0.5")
    b = run_json(capsys, "bound", "--classes", "4", "--quantile", "0.5")
    assert a["quantiles"] == b["quantiles"]


def test_negative_values_need_no_equals_sign(capsys: pytest.CaptureFixture[str]) -> None:
    a = run_json(capsys, "bound", "--log-probs", "-0.6931471805599453,-0.6931471805599453")
    b = run_json(capsys, "bound", "--log-probs=-0.6931471805599453,-0.6931471805599453")
    c = run_json(capsys, "bound", "--classes", "2")
    assert a["quantiles"] == b["quantiles"] == c["quantiles"]


def test_normalize(capsys: pytest.CaptureFixture[str]) -> None:
    a = run_json(capsys, "bound", "--probs", "5,3,2", "--normalize", "--eta", "1")
    b = run_json(capsys, "bound", "--probs", "0.5,0.3,0.2", "--eta", "1")
    assert a["radii"][0]["cdf_lower_bound"] == pytest.approx(
        b["radii"][0]["cdf_lower_bound"], rel=1e-15
    )


def test_image_norm_normalizes_image_quantiles(capsys: pytest.CaptureFixture[str]) -> None:
    res = run_json(capsys, "bound", "--classes", "10", "--lipschitz", "3", "--image-norm", "20")
    row = res["quantiles"][0]
    assert row["image_radius_normalized"] == pytest.approx(row["image_radius"] / 20)


def test_plain_eta_table_says_lower_and_upper(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(
        capsys, "bound", "--probs", "0.5,0.3,0.2", "--lipschitz", "2.5", "--eta", "0.1,0.5"
    )
    assert rc == 0
    assert "lower bound on P(r_in <= eta)" in out and "upper bound on P(r_in > eta)" in out
    row = next(line for line in out.splitlines() if line.split()[:1] == ["0.5"])
    cdf = float(row.split()[2])
    want = ib.IsoperimetricBound([0.5, 0.3, 0.2]).through(ib.Lipschitz(2.5)).cdf(0.5)
    assert cdf == pytest.approx(want, rel=1e-5)


# ---------------------------------------------------------------------------
# isobound bound --mean (Theorem 4)
# ---------------------------------------------------------------------------


def test_mean_exact_and_closed_form(capsys: pytest.CaptureFixture[str]) -> None:
    res = run_json(capsys, "bound", "--classes", "10", "--mean")
    mean = res["mean"]
    assert mean["latent_exact"] == ib.IsoperimetricBound.equiprobable(10).mean()
    assert mean["theorem4_closed_form"] == ib.theorem4_equiprobable(10)
    assert mean["theorem4"] == pytest.approx(mean["latent_exact"], rel=1e-13)
    assert mean["theorem4"] >= mean["latent_exact"]
    # DESIGN.md section 3: the closed form is 3-5x looser than the exact sum
    assert 3 < mean["theorem4_closed_form"] / mean["latent_exact"] < 5
    assert mean["image_exact"] is None  # no modulus


def test_mean_with_modulus_and_wasserstein(capsys: pytest.CaptureFixture[str]) -> None:
    res = run_json(
        capsys, "bound", "--classes", "10", "--mean", "--holder", "3,0.5", "--wasserstein", "0.1"
    )
    mean = res["mean"]
    omega = ib.Holder(3.0, 0.5)
    image = ib.IsoperimetricBound.equiprobable(10).through(omega)
    assert mean["image_exact"] == pytest.approx(image.mean() + 0.1, rel=1e-12)
    assert mean["theorem4"] == pytest.approx(ib.theorem4([0.1] * 10, omega=omega, delta=0.1), rel=1e-12)
    assert mean["theorem4_closed_form"] == ib.theorem4_equiprobable(10, omega=omega, delta=0.1)
    # Jensen: E omega(R*) <= omega(E R*) for concave omega
    assert mean["image_exact"] <= mean["theorem4"]


def test_mean_plain_output_says_which_is_which(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "bound", "--classes", "10", "--mean", "--lipschitz", "2")
    assert rc == 0
    exact = next(line for line in out.splitlines() if line.strip().startswith("E R*"))
    closed = next(line for line in out.splitlines() if "closed form" in line)
    assert "exact" in exact
    assert "looser" in closed
    assert float(exact.split()[5]) == pytest.approx(
        ib.IsoperimetricBound.equiprobable(10).mean(), rel=1e-5
    )


def test_mean_notes_when_a_form_does_not_apply(capsys: pytest.CaptureFixture[str]) -> None:
    res = run_json(capsys, "bound", "--classes", "3", "--mean", "--holder", "1,2")
    mean = res["mean"]
    assert mean["theorem4"] is None and mean["theorem4_closed_form"] is None
    assert mean["image_exact"] is not None  # valid for any monotone omega
    assert any("concave" in n for n in mean["notes"])
    assert any("K >= 5" in n for n in mean["notes"])


def test_mean_with_failure_prob_needs_diameter(capsys: pytest.CaptureFixture[str]) -> None:
    flags = ["bound", "--probs", "0.9,0.1", "--mean", "--lipschitz", "2", "--failure-prob", "0.01"]
    res = run_json(capsys, *flags)
    assert res["mean"]["image_exact"] is None
    assert any("--diameter" in n for n in res["mean"]["notes"])
    res = run_json(capsys, *flags, "--diameter", "50")
    image = ib.IsoperimetricBound([0.9, 0.1]).through(ib.Lipschitz(2.0, failure_prob=0.01))
    assert res["mean"]["image_exact"] == image.mean(diameter=50.0)


def test_json_keys_are_stable(capsys: pytest.CaptureFixture[str]) -> None:
    res = run_json(capsys, "bound", "--classes", "10", "--lipschitz", "2", "--eta", "1", "--mean")
    assert list(res) == [
        "command",
        "classes",
        "modulus",
        "latent_dim",
        "expected_latent_norm",
        "image_norm",
        "quantiles",
        "radii",
        "mean",
    ]
    assert list(res["classes"]) == [
        "n_classes",
        "equiprobable",
        "class_probs",
        "log_probs",
        "counts",
    ]
    assert list(res["radii"][0]) == [
        "eta",
        "latent_radius",
        "cdf_lower_bound",
        "sf_upper_bound",
        "logsf_upper_bound",
    ]
    assert list(res["mean"]) == [
        "latent_exact",
        "image_exact",
        "theorem4",
        "theorem4_closed_form",
        "wasserstein_delta",
        "notes",
    ]
    res = run_json(capsys, "bound", "--classes", "10", "--latent-dim", "5")
    assert list(res["quantiles"][0]) == [
        "q",
        "latent_radius",
        "latent_radius_normalized",
        "image_radius",
        "image_radius_normalized",
    ]


# ---------------------------------------------------------------------------
# bad input: exit 2, a message naming the argument and the value, no traceback
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        (["bound", "--probs", "0.5,0.3"], ["--probs", "0.8", "normalize"]),
        (["bound", "--probs", "0.5,x"], ["--probs", "'x'"]),
        (["bound", "--probs", "-0.5,1.5"], ["--probs", "-0.5"]),
        (["bound", "--probs", "nan,1"], ["--probs", "nan"]),
        (["bound", "--log-probs", "0.1,-1"], ["--log-probs", "0.1"]),
        (["bound", "--classes", "0"], ["--classes", "'0'"]),
        (["bound", "--classes", "2.5"], ["--classes", "'2.5'"]),
        (["bound", "--classes", "ten"], ["--classes", "'ten'"]),
        (["bound", "--classes", "3", "--lipschitz", "-1"], ["--lipschitz", "-1"]),
        (["bound", "--classes", "3", "--holder", "1"], ["--holder", "'1'"]),
        (["bound", "--classes", "3", "--holder", "1,0"], ["--holder", "exponent"]),
        (["bound", "--classes", "3", "--affine", "1,-1"], ["--affine", "-1"]),
        (["bound", "--classes", "3", "--quantile", "1.5"], ["--quantile", "1.5"]),
        (["bound", "--classes", "3", "--eta", "-1"], ["--eta", "-1"]),
        (["bound", "--classes", "3", "--eta", "1,,2"], ["--eta", "1,,2"]),
        (["bound", "--probs", "0.5,0.5", "--counts", "1"], ["--counts", "1"]),
        (["bound", "--probs", "0.5,0.5", "--counts", "1,0"], ["--probs", "count"]),
        (["bound", "--classes", "3", "--counts", "2"], ["--counts", "--classes"]),
        (["bound", "--classes", "3", "--failure-prob", "0.1"], ["--failure-prob", "0.1"]),
        (
            ["bound", "--classes", "3", "--lipschitz", "1", "--failure-prob", "1.5"],
            ["--failure-prob", "1.5"],
        ),
        (["bound", "--classes", "3", "--image-norm", "3"], ["--image-norm"]),
        (
            ["bound", "--classes", "3", "--lipschitz", "1", "--image-norm", "-3"],
            ["--image-norm", "-3"],
        ),
        (["bound", "--classes", "3", "--wasserstein", "-0.1"], ["--wasserstein", "-0.1"]),
        (["bound", "--classes", "3", "--diameter", "0"], ["--diameter", "0"]),
        (["bound", "--classes", "3", "--probs", "0.5,0.5"], ["--probs", "--classes"]),
        (["bound", "--classes", "3", "--lipschitz", "1", "--holder", "1,1"], ["--holder"]),
        (["bound"], ["--classes", "--probs"]),
        (["figure2", "--classes", "1,10"], ["--classes", "(1, 10)"]),
        (["figure2", "--d-min", "0"], ["--d-min", "0"]),
        (["figure2", "--d-min", "10", "--d-max", "5"], ["--d-max", "5"]),
        (["nonsense"], ["nonsense"]),
    ],
)
def test_bad_input(capsys: pytest.CaptureFixture[str], argv: list[str], needles: list[str]) -> None:
    rc, _, err = run(capsys, *argv)
    assert rc == 2
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, (needle, err)


def test_unwritable_output(capsys: pytest.CaptureFixture[str], tmp_path: Any) -> None:
    target = tmp_path / "missing-dir" / "fig.png"
    rc, _, err = run(capsys, "figure2", "--out", str(target))
    assert rc == 2
    assert "--out" in err and str(target) in err


def test_help_lists_commands_and_examples(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "--help")
    assert rc == 0
    for word in ("bound", "figure2", "experiment", "examples:", "--latent-dim 100"):
        assert word in out
    rc, out, _ = run(capsys, "bound", "--help")
    assert rc == 0
    for flag in (
        "--classes",
        "--probs",
        "--log-probs",
        "--lipschitz",
        "--affine",
        "--holder",
        "--uniform-prior",
        "--mean",
        "--json",
        "--quantile",
        "--eta",
    ):
        assert flag in out
    rc, out, _ = run(capsys, "figure2", "--help")
    assert rc == 0 and "--out" in out


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = run(capsys)
    assert rc == 2
    assert "bound" in err


# ---------------------------------------------------------------------------
# isobound figure2
# ---------------------------------------------------------------------------


def test_figure2_writes_an_image(capsys: pytest.CaptureFixture[str], tmp_path: Any) -> None:
    pytest.importorskip("matplotlib")
    target = tmp_path / "fig2.png"
    res = run_json(capsys, "figure2", "--out", str(target), "--points", "20", "--dpi", "40")
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert res["classes"] == [2, 10, 100, 1000]
    for k in (2, 10, 100, 1000):
        median = ib.IsoperimetricBound.equiprobable(k).median()
        assert res["medians"][str(k)] == median
        assert res["curves"][str(k)] == pytest.approx((median / np.sqrt(res["dims"])).tolist())
    # Figure 2's medians (DESIGN.md section 6)
    want = {"2": 0.674490, "10": 0.363302, "100": 0.249481, "1000": 0.200294}
    assert {k: round(v, 6) for k, v in res["medians"].items()} == want
    assert res["dims"][0] == pytest.approx(1.0) and res["dims"][-1] == pytest.approx(1000.0)
    assert len(res["dims"]) == 20


def test_figure2_options(capsys: pytest.CaptureFixture[str], tmp_path: Any) -> None:
    pytest.importorskip("matplotlib")
    target = tmp_path / "fig.svg"
    rc, out, err = run(
        capsys,
        "figure2",
        "--out",
        str(target),
        "--classes",
        "3,7",
        "--d-min",
        "10",
        "--d-max",
        "20",
        "--points",
        "5",
        "--linear-x",
        "--log-y",
    )
    assert rc == 0, err
    assert target.read_text().lstrip().startswith("<?xml")
    assert out.startswith("wrote")
    rows = [line.split() for line in out.splitlines()[3:]]
    assert [r[0] for r in rows] == ["3", "7"]
    assert float(rows[0][1]) == pytest.approx(
        ib.IsoperimetricBound.equiprobable(3).median(), rel=1e-5
    )


def test_figure2_without_matplotlib(
    capsys: pytest.CaptureFixture[str], tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(sys.modules):
        if name == "matplotlib" or name.startswith("matplotlib."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    rc, _, err = run(capsys, "figure2", "--out", str(tmp_path / "x.png"))
    assert rc == 2
    assert "pip install 'isobound[plot]'" in err
    assert "Traceback" not in err


# ---------------------------------------------------------------------------
# isobound experiment: dispatch to isobound_torch.cli
# ---------------------------------------------------------------------------


def _fake_torch_cli(monkeypatch: pytest.MonkeyPatch, fn: Any) -> None:
    cli_mod = types.ModuleType("isobound_torch.cli")
    cli_mod.main = fn  # type: ignore[attr-defined]
    pkg = types.ModuleType("isobound_torch")
    pkg.cli = cli_mod  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "isobound_torch", pkg)
    monkeypatch.setitem(sys.modules, "isobound_torch.cli", cli_mod)


def test_experiment_dispatches_the_rest_of_argv(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []

    def fake_main(argv: list[str]) -> int:
        seen.append(argv)
        return 3

    _fake_torch_cli(monkeypatch, fake_main)
    assert main(["experiment", "--dataset", "digits", "--smoke", "--json"]) == 3
    assert seen == [["--dataset", "digits", "--smoke", "--json"]]


def test_experiment_system_exit_becomes_a_status(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_main(argv: list[str]) -> int:
        raise SystemExit(0 if argv == ["--help"] else 2)

    _fake_torch_cli(monkeypatch, fake_main)
    assert main(["experiment", "--help"]) == 0
    assert main(["experiment", "--bogus"]) == 2


def test_experiment_without_torch(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "isobound_torch", None)
    monkeypatch.delitem(sys.modules, "isobound_torch.cli", raising=False)
    rc, _, err = run(capsys, "experiment", "--smoke")
    assert rc == 2
    assert "pip install 'isobound[torch]'" in err
    assert "Traceback" not in err


# ---------------------------------------------------------------------------
# entry points
# ---------------------------------------------------------------------------


def test_python_dash_m() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "isobound",
            "bound",
            "--classes",
            "2",
            "--quantile",
            "0.5",
            "--json",
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert res["quantiles"][0]["latent_radius"] == ib.IsoperimetricBound.equiprobable(2).median()


def test_python_dash_m_bad_input_exit_status() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "isobound", "bound", "--probs", "0.2,0.2"],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2
    assert "--probs" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.skipif(shutil.which("isobound") is None, reason="console script not installed")
def test_console_script() -> None:
    out = subprocess.run(
        ["isobound", "bound", "--classes", "10", "--latent-dim", "100"],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "eps_q/E||z||_2" in out.stdout


@pytest.mark.skipif(
    importlib.util.find_spec("torch") is None or importlib.util.find_spec("isobound_torch") is None,
    reason="the torch extra is not installed",
)
def test_experiment_help_reaches_the_real_plugin(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "experiment", "--help")
    assert rc == 0
    assert "usage:" in out and "experiment" in out
