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
    # the paper prints 16e-3 (SVHN) and 0.016 (CIFAR-10); docs/theory.md, reference values
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
    # the closed form is 3-5x looser than the exact sum (docs/theory.md, closed forms)
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
        "input_sum",  # added keys go at the end: old readers keep working
        "rescaled",
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
    # Figure 2's medians (docs/theory.md, reference values)
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
    # the CLI evaluates ppf on an array: compare with the same (vector) path; the
    # scalar fast path may differ from it in the last bit (both are upper bounds)
    assert res["quantiles"][0]["latent_radius"] == ib.IsoperimetricBound.equiprobable(2).ppf([0.5])[0]


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


# ---------------------------------------------------------------------------
# failures that must not end in a traceback (run_command)
# ---------------------------------------------------------------------------


def test_classes_with_401_digits(capsys: pytest.CaptureFixture[str]) -> None:
    import mpmath

    from isobound import reference

    text = "9" * 401
    res = run_json(capsys, "bound", "--classes", text, "--quantile", "0.25")
    k = int(text)
    assert res["classes"]["n_classes"] == k and res["classes"]["counts"] == [k]
    want = reference.ppf(0.25, log_probs=[-mpmath.log(mpmath.mpf(k))], counts=[k])
    got = res["quantiles"][0]["latent_radius"]
    assert got >= want  # an upper bound on the quantile
    assert got == pytest.approx(float(want), rel=1e-10)


def test_classes_with_401_digits_is_parsed_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []
    ten = ib.IsoperimetricBound.equiprobable(10)

    def fake_equiprobable(k: Any) -> Any:
        seen.append(k)
        return ten

    monkeypatch.setattr(ib.IsoperimetricBound, "equiprobable", staticmethod(fake_equiprobable))
    assert main(["bound", "--classes", "9" * 401]) == 0
    assert main(["bound", "--classes", "1e400"]) == 0
    assert seen == [int("9" * 401), 10**400]
    assert all(type(k) is int for k in seen)


def test_an_overflow_in_the_core_is_a_message(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def overflow(k: Any) -> Any:
        raise OverflowError("int too large to convert to float")

    monkeypatch.setattr(ib.IsoperimetricBound, "equiprobable", staticmethod(overflow))
    rc, _, err = run(capsys, "bound", "--classes", "9" * 401)
    assert rc == 2 and "--classes" in err and "too large" in err and "Traceback" not in err
    assert "401 digits" in err


@pytest.mark.parametrize("text", ["1e4001", "2.5e-1", "inf", "1e-3"])
def test_classes_out_of_reach_or_not_integral(capsys: pytest.CaptureFixture[str], text: str) -> None:
    rc, _, err = run(capsys, "bound", "--classes", text)
    assert rc == 2 and "--classes" in err and repr(text) in err


def test_ctrl_c_is_status_130_without_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import isobound.cli as cli_mod

    def interrupted(args: Any, out: Any) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_mod, "_cmd_bound", interrupted)
    rc, _, err = run(capsys, "bound", "--classes", "3")
    assert rc == 130
    assert "interrupted" in err and "Traceback" not in err


def test_run_command_statuses(capsys: pytest.CaptureFixture[str]) -> None:
    from isobound.cli import UsageError, run_command

    def raising(exc: BaseException) -> Any:
        def body() -> int:
            raise exc

        return body

    assert run_command("p", lambda: None) == 0
    assert run_command("p", lambda: 3) == 3
    assert run_command("p", raising(UsageError("--x: bad 1"))) == 2
    assert capsys.readouterr().err == "p: error: --x: bad 1\n"
    assert run_command("p", raising(UsageError("--x: bad", prog="p sub"))) == 2
    assert capsys.readouterr().err == "p sub: error: --x: bad\n"
    perm = PermissionError(13, "Permission denied", "/some/dir/file.json")
    assert run_command("p", raising(perm)) == 2
    assert capsys.readouterr().err == "p: error: Permission denied: '/some/dir/file.json'\n"
    assert run_command("p", raising(ValueError("v: bad")), user_errors=(ValueError,)) == 2
    assert capsys.readouterr().err == "p: error: v: bad\n"
    assert run_command("p", raising(SystemExit(0))) == 0
    assert run_command("p", raising(SystemExit(None))) == 0
    assert run_command("p", raising(SystemExit("boom"))) == 2
    assert "boom" in capsys.readouterr().err
    assert run_command("p", raising(KeyboardInterrupt()), interrupted="stopped; again") == 130
    assert capsys.readouterr().err.strip() == "p: stopped; again"


def test_run_command_lets_programming_errors_through() -> None:
    from isobound.cli import run_command

    def bug() -> int:
        raise TypeError("a bug, not bad input")

    with pytest.raises(TypeError, match="a bug"):
        run_command("p", bug)

    def value_bug() -> int:
        raise ValueError("not declared as user input")

    with pytest.raises(ValueError, match="not declared"):
        run_command("p", value_bug)


def test_broken_pipe_in_process(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from isobound.cli import run_command

    def body() -> int:
        raise BrokenPipeError(32, "Broken pipe")

    assert run_command("p", body) == 141
    out, err = capsys.readouterr()
    assert err == "" and out == ""


def test_figure2_json_into_a_closed_pipe(tmp_path: Any) -> None:
    """``isobound figure2 --json ... | head -1``: stops quietly with the SIGPIPE status."""
    pytest.importorskip("matplotlib")
    proc = subprocess.Popen(
        [sys.executable, "-m", "isobound", "figure2", "--json", "--points", "3000", "--dpi", "20",
         "--out", str(tmp_path / "f.png")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()  # the reader goes away; the JSON (> 64 KiB) is far from written
    err = proc.stderr.read().decode()
    proc.stderr.close()
    rc = proc.wait(timeout=120)
    assert first.strip() == b"{"
    assert rc == 141, err
    assert err == "", err  # no traceback, no "Exception ignored" at exit


def test_version_is_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    import importlib.metadata

    rc, out, _ = run(capsys, "--version")
    assert rc == 0
    assert out.strip() == f"isobound {ib.__version__}"
    assert importlib.metadata.version("isobound") == ib.__version__


# ---------------------------------------------------------------------------
# --probs printed to a few decimals, --probs-file
# ---------------------------------------------------------------------------


def test_probs_printed_to_six_decimals_are_accepted_with_a_note(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rc, out, err = run(capsys, "bound", "--probs", "0.333333,0.333333,0.333333", "--json")
    assert rc == 0, err
    res = json.loads(out)
    assert "rescaled to sum to 1" in err and "6 decimals" in err and "0.999999" in err
    assert res["classes"]["input_sum"] == pytest.approx(0.999999, abs=1e-15)
    assert res["classes"]["rescaled"] is True
    # the rescaled vector is (1/3, 1/3, 1/3): the equiprobable bound, independently computed
    want = ib.IsoperimetricBound.equiprobable(3).ppf(0.25)
    assert res["quantiles"][0]["latent_radius"] == pytest.approx(want, rel=1e-12)


def test_probs_within_rounding_with_counts(capsys: pytest.CaptureFixture[str]) -> None:
    # 7 classes of 0.142857 (1/7 to 6 decimals): the sum is 0.999999
    rc, out, err = run(capsys, "bound", "--probs", "0.142857", "--counts", "7", "--json")
    assert rc == 0, err
    want = ib.IsoperimetricBound.equiprobable(7).ppf(0.25)
    assert json.loads(out)["quantiles"][0]["latent_radius"] == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize(
    "probs",
    [
        "0.333333,0.333333,0.333",  # off by 3.3e-4 while 6 decimals allow 1.5e-6
        "0.5,0.4",  # 1 decimal would allow 0.1, but that is a typo more than a rounding
        "0.33,0.33,0.33",  # off by 0.01: more than the 1e-3 cap
    ],
)
def test_probs_beyond_their_rounding_point_at_normalize(
    capsys: pytest.CaptureFixture[str], probs: str
) -> None:
    rc, _, err = run(capsys, "bound", "--probs", probs)
    assert rc == 2
    assert "--normalize" in err and "normalize=True" not in err
    rc, _, err = run(capsys, "bound", "--probs", probs, "--normalize")
    assert rc == 0 and err == ""


def test_exact_probs_need_no_note(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run(capsys, "bound", "--probs", "0.5,0.3,0.2", "--json")
    assert rc == 0 and err == ""
    assert json.loads(out)["classes"]["rescaled"] is False


def test_log_probs_hint_names_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = run(capsys, "bound", "--log-probs", "-1,-2")
    assert rc == 2 and "--normalize" in err and "normalize=True" not in err


@pytest.mark.parametrize(
    "content",
    [
        "0.5\n0.3\n0.2\n",
        "0.5,0.3,0.2\n",
        "# class proportions\n0.5, 0.3\n\n0.2\n",
        "0.5;0.3;0.2",
        "0.5\t0.3 0.2\r\n",
    ],
)
def test_probs_file_layouts(capsys: pytest.CaptureFixture[str], tmp_path: Any, content: str) -> None:
    path = tmp_path / "p.csv"
    path.write_bytes(content.encode())
    res = run_json(capsys, "bound", "--probs-file", str(path), "--eta", "0.3")
    want = ib.IsoperimetricBound([0.5, 0.3, 0.2])
    assert res["classes"]["class_probs"] == sorted([0.2, 0.3, 0.5])
    assert res["radii"][0]["cdf_lower_bound"] == want.cdf(0.3)


def test_probs_file_from_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO("0.25\n0.75\n"))
    res = run_json(capsys, "bound", "--probs-file", "-")
    # the CLI evaluates its quantiles as an array (the scalar fast path may differ in the last bit;
    # both are upper bounds on the quantile)
    assert res["quantiles"][0]["latent_radius"] == ib.IsoperimetricBound([0.25, 0.75]).ppf(np.array([0.25]))[0]


def test_probs_file_printed_precision_and_counts(capsys: pytest.CaptureFixture[str], tmp_path: Any) -> None:
    path = tmp_path / "p.txt"
    path.write_text("0.166667\n0.833333\n")  # a tool printing 6 decimals: sums to 1.0
    res = run_json(capsys, "bound", "--probs-file", str(path))
    assert res["classes"]["n_classes"] == 2
    path.write_text("0.1\n")
    res = run_json(capsys, "bound", "--probs-file", str(path), "--counts", "10")
    assert res["quantiles"][0]["latent_radius"] == pytest.approx(
        ib.IsoperimetricBound.equiprobable(10).ppf(0.25), rel=1e-12
    )


@pytest.mark.parametrize(
    ("content", "needles"),
    [
        (b"0.5\n0.3\nabc\n", ["line 3", "'abc'"]),
        (b"0.5,x\n", ["line 1", "'x'"]),
        (b"# only a comment\n\n", ["no numbers"]),
        (b"\xff\xfe0.5\n", ["UTF-8"]),
        (b"0.5\n0.3\n", ["sum to 0.8", "--normalize"]),
        (b"0.5\n-0.1\n0.6\n", ["-0.1"]),
    ],
)
def test_probs_file_errors_name_file_and_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Any, content: bytes, needles: list[str]
) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    rc, _, err = run(capsys, "bound", "--probs-file", str(path))
    assert rc == 2 and "Traceback" not in err
    assert "--probs-file" in err
    for needle in needles:
        assert needle in err, (needle, err)
    if "line" in needles[0]:
        assert str(path) in err


def test_probs_file_missing_and_exclusive(capsys: pytest.CaptureFixture[str], tmp_path: Any) -> None:
    missing = tmp_path / "nope.txt"
    rc, _, err = run(capsys, "bound", "--probs-file", str(missing))
    assert rc == 2 and str(missing) in err and "No such file" in err
    rc, _, err = run(capsys, "bound", "--probs-file", str(missing), "--probs", "1")
    assert rc == 2 and "--probs-file" in err and "not allowed" in err
