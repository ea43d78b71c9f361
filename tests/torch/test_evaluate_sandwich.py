"""The certified / estimated omega "sandwich" in the evaluation report (``modulus_method``).

A small generator and classifier are written here; every run takes a few seconds.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

import isobound as ib  # noqa: E402
import isobound_torch as it  # noqa: E402
from isobound_torch.experiment import ExperimentConfig, evaluation  # noqa: E402

D, SIDE, K = 3, 4, 3
FAST = {
    "failure_prob": 0.1, "modulus_confidence": 0.9, "ci_level": 0.95, "radii": (0.1, 0.25, 0.5, 1.0),
    "chunk_size": 30, "n_examples": 1, "n_samples": 30, "device": "cpu", "dtype": torch.float64, "latent_dim": D,
}  # fmt: skip
EPS = "0.1,0.3"


class SmallGenerator(nn.Module):
    """Latents (B, 3) to 1 x 4 x 4 images in (0, 1): Linear, Tanh, Linear, Sigmoid (all certifiable)."""

    def __init__(self, seed: int = 0, act: type[nn.Module] = nn.Tanh) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.net = nn.Sequential(nn.Linear(D, 8), act(), nn.Linear(8, SIDE * SIDE), nn.Sigmoid())
        with torch.no_grad():
            for layer in (self.net[0], self.net[2]):
                layer.weight.copy_(0.5 * torch.randn(layer.weight.shape, generator=g))
                layer.bias.zero_()
        self.double().eval()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).reshape(-1, 1, SIDE, SIDE)


class SmallClassifier(nn.Module):
    """Images (B, 1, 4, 4) to 3 logits, centred on the grey image."""

    def __init__(self, seed: int = 1) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.lin = nn.Linear(SIDE * SIDE, K)
        with torch.no_grad():
            self.lin.weight.copy_(torch.randn(K, SIDE * SIDE, generator=g))
            self.lin.bias.copy_(-self.lin.weight.sum(dim=1) * 0.5)
        self.double().eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x.flatten(1))


def _run(generator: Any = None, run_dir: Path | None = None, **kwargs: Any) -> Any:
    args = {**FAST, "norms": "l2,linf", "epsilons": EPS, **kwargs}
    return it.evaluate(generator or SmallGenerator(), {"c": SmallClassifier()}, run_dir=run_dir, **args)


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return _run(run_dir=tmp_path_factory.mktemp("sandwich") / "run")


def _certified_omega(report: dict[str, Any], norm: str) -> ib.PiecewiseLinear:
    w = report["sandwich"][norm]
    return ib.PiecewiseLinear(w["radii"], w["certified"], interpolation="step", failure_prob=FAST["failure_prob"])


def _own_bound(report: dict[str, Any], name: str) -> ib.IsoperimetricBound:
    p = np.asarray(report["classifiers"][name]["bound_class_proportions"]["values"], dtype=np.float64)
    return ib.IsoperimetricBound(p[p > 0] / p[p > 0].sum(), normalize=True)


def test_both_reports_the_sandwich_with_certified_above_the_estimate(both: Any) -> None:
    stored = json.loads((both.run_dir / "report.json").read_text())
    assert stored["settings"]["modulus_method"] == "both"
    for norm in ("l2", "linf"):
        w = stored["sandwich"][norm]
        assert w["available"] and w["reason"] is None
        est, cert = np.array(w["estimate"]), np.array(w["certified"])
        assert len(w["radii"]) == len(est) == len(cert) >= 3
        assert np.all(cert >= est) and np.all(est > 0)  # upper bound over the estimate's own latents
        np.testing.assert_allclose(w["ratio"], cert / est, rtol=1e-12)
        # what local certification buys: never above the global t L, which is itself >= the estimate
        glob = np.array(w["global_bound"])
        assert np.all(cert <= glob * (1 + 1e-12)) and np.all(glob >= est)
        assert stored["moduli"][norm]["estimate"]["method"] == "estimate"
        assert stored["moduli"][norm]["certified"]["available"]
        assert stored["modulus_used"][norm] == "estimate"  # the single-omega fields stay the audited estimate
    st = both.statuses()
    assert st["certified-l2"] == st["certified-linf"] == st["modulus-l2"] == "computed"
    md = (both.run_dir / "report.md").read_text()
    assert "certified omega (upper bound)" in md and "ascent omega (lower estimate)" in md
    assert "certified / ascent" in md and "Upper bound, certified omega (proven at 90%)" in md
    # the plot of the two omega curves and the band between them, one per norm
    assert {"omega_l2", "omega_linf"} <= set(both.files) and (both.run_dir / "omega_l2.png").stat().st_size > 0
    ax = both.figures()["omega_linf"].axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(lab.startswith("certified omega (upper bound") for lab in labels)
    assert "ascent omega (lower estimate)" in labels and any(
        lab.startswith("band holding the sampled omega") for lab in labels
    )


def test_proven_labels_and_their_confidence(both: Any) -> None:
    rep = both.report
    own = 1.0 - (1.0 - FAST["ci_level"]) - (1.0 - FAST["modulus_confidence"])  # union bound: box + modulus
    equi = FAST["modulus_confidence"]
    by = rep["confidence"]["by_modulus"]
    assert by["certified"]["status"] == "proven" and by["estimate"]["status"] == "estimate"
    assert by["certified"]["own_confidence"] == pytest.approx(own, abs=1e-12)
    assert by["certified"]["equiprobable_confidence"] == pytest.approx(equi, abs=1e-12)
    assert "proven at confidence 1 - alpha = 0.85" in by["certified"]["label"]
    for norm in ("l2", "linf"):
        for row in rep["ceilings"][norm]:
            cert, est = row["by_modulus"]["certified"], row["by_modulus"]["estimate"]
            assert cert["status"] == "proven" and est["status"] == "estimate"
            assert cert["confidence"] == pytest.approx(own, abs=1e-12)
            assert cert["confidence_equiprobable"] == pytest.approx(equi, abs=1e-12)
            # a larger omega can only raise a ceiling
            assert cert["equiprobable"] >= est["equiprobable"] and cert["any_classifier"] >= est["any_classifier"]
            assert cert["classifiers"]["c"] >= est["classifiers"]["c"]
            assert row["modulus"] == "estimate" and row["equiprobable"] == est["equiprobable"]
        b = rep["classifiers"]["c"]["norms"][norm]["bounds"]
        assert b["certified"]["status"] == "proven" and b["estimate"]["status"] == "estimate"
        assert b["certified"]["image_raw"] >= b["estimate"]["image_raw"]
        up = rep["upper_bound"]["norms"][norm]["bounds"]["certified"]
        assert up["status"] == "proven" and up["confidence"] == pytest.approx(equi, abs=1e-12)
        # the audits check the estimate, and say so
        assert rep["confidence"]["audits"]["against"][norm] == {"modulus": "estimate", "status": "estimate"}
        assert rep["classifiers"]["c"]["norms"][norm]["audit_bound"]["modulus"] == "estimate"
    rec = both.robustbench[0]
    assert rec["status"] == "estimate" and rec["proven_confidence"] == pytest.approx(own, abs=1e-12)
    assert rec["ceiling_robust_acc_proven"] >= rec["ceiling_robust_acc"]
    assert "Under the certified omega (proven at confidence" in both.table


def test_proven_numbers_follow_from_the_certified_omega_alone(both: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A deliberately poor ascent (a tenth of the estimate) moves the estimates, never the proven numbers."""
    original = evaluation.Evaluator.modulus_function

    def poor(self: Any, method: str) -> Any:
        function, options = original(self, method)

        def tenth(*args: Any, **kwargs: Any) -> Any:
            omega = function(*args, **kwargs)
            return ib.PiecewiseLinear(
                omega.radii, np.asarray(omega.values) / 10, interpolation="step", failure_prob=omega.failure_prob
            )

        return tenth, options

    monkeypatch.setattr(evaluation.Evaluator, "modulus_function", poor)
    bad = _run()
    good = both.report
    eps_values = [float(e) for e in EPS.split(",")]
    for norm in ("l2", "linf"):
        assert bad.report["sandwich"][norm]["certified"] == good["sandwich"][norm]["certified"]
        est_bad = np.array(bad.report["sandwich"][norm]["estimate"])
        np.testing.assert_allclose(est_bad, np.array(good["sandwich"][norm]["estimate"]) / 10, rtol=1e-12)
        omega = _certified_omega(bad.report, norm)
        latent = _own_bound(bad.report, "c")
        mean = bad.report["settings"]["mean_image_norms"][norm]
        for row, eps in zip(bad.report["ceilings"][norm], eps_values, strict=True):
            cert, est = row["by_modulus"]["certified"], row["by_modulus"]["estimate"]
            # the proven ceiling, recomputed here from the certified omega, and unchanged by the poor ascent
            assert cert["classifiers"]["c"] == pytest.approx(float(latent.through(omega).sf(eps)), rel=1e-12)
            good_row = next(r for r in good["ceilings"][norm] if r["eps"] == row["eps"])
            assert cert == good_row["by_modulus"]["certified"]
            assert est["equiprobable"] <= cert["equiprobable"]
        # the two ceilings differ (the poor ascent claims more), the proven one does not move
        assert any(
            r["by_modulus"]["estimate"]["equiprobable"] < r["by_modulus"]["certified"]["equiprobable"]
            for r in bad.report["ceilings"][norm]
        )
        proven = bad.report["classifiers"]["c"]["norms"][norm]["bounds"]["certified"]
        assert proven["image"] == pytest.approx(float(latent.through(omega).ppf(0.25)) / mean, rel=1e-12)
        assert proven == good["classifiers"]["c"]["norms"][norm]["bounds"]["certified"]
        assert bad.report["classifiers"]["c"]["norms"][norm]["bounds"]["estimate"]["image"] < proven["image"]


def test_certified_omega_of_an_affine_generator_is_t_times_its_norm() -> None:
    a = torch.tensor([[2.0, 0.0, 1.0], [0.0, -1.0, 0.0], [1.0, 1.0, 1.0], [0.5, 0.0, -3.0]], dtype=torch.float64)
    gen = nn.Sequential(nn.Linear(D, 4), nn.Unflatten(1, (1, 2, 2))).double().eval()
    with torch.no_grad():
        gen[0].weight.copy_(a)
        gen[0].bias.fill_(0.5)
    res = it.evaluate(gen, {"c": nn.Sequential(nn.Flatten(), nn.Linear(4, K)).double().eval()},
                      **{**FAST, "norms": "l2,linf", "modulus": "certified"})  # fmt: skip
    exact = {"l2": float(np.linalg.norm(a.numpy(), 2)), "linf": float(np.linalg.norm(a.numpy(), axis=1).max())}
    for norm, value in exact.items():
        w = res.report["sandwich"][norm]
        t = np.array(w["radii"])
        cert = np.array(w["certified"])
        assert np.all(cert >= t * value) and np.all(cert <= t * value * (1 + 1e-9))
        assert "estimate" not in w and "modulus-" + norm not in res.statuses()
        # under "certified" alone the single-omega fields and the audits use the proven bound
        assert res.report["modulus_used"][norm] == "certified"
        assert res.report["confidence"]["audits"]["against"][norm]["status"] == "proven"
    conf = res.report["confidence"]
    assert conf["image_status"] == "proven" and conf["image_own_confidence"] == pytest.approx(0.85, abs=1e-12)
    assert res.robustbench == [] or res.robustbench[0]["status"] == "proven"


def test_unsupported_layer_falls_back_under_both_and_fails_under_certified() -> None:
    gen = SmallGenerator(act=nn.Softplus)
    res = _run(gen, norms="l2")
    w = res.report["sandwich"]["l2"]
    assert not w["available"] and "Softplus" in w["reason"] and "estimate" in w["reason"]
    assert res.statuses()["certified-l2"] == "skipped" and res.statuses()["modulus-l2"] == "computed"
    assert list(res.report["confidence"]["by_modulus"]) == ["estimate"]
    assert all(list(row["by_modulus"]) == ["estimate"] for row in res.report["ceilings"]["l2"])
    assert "certified omega not available" in evaluation._markdown({**res.report, "files": {}})
    assert "Upper bound, certified" not in res.table
    with pytest.raises(ValueError, match=r"Softplus.*use --modulus estimate"):
        _run(gen, norms="l2", modulus="certified")


def test_cost_over_the_budget_falls_back_with_a_note() -> None:
    res = _run(norms="linf", epsilons=(), certify_budget=0.0)
    w = res.report["sandwich"]["linf"]
    assert not w["available"] and "certify_budget=0 s" in w["reason"] and "--modulus certified" in w["reason"]
    assert res.report["modulus_used"]["linf"] == "estimate"


def test_certified_stage_resumes_after_an_interruption(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import isobound_torch.certify as certify

    monkeypatch.setattr(evaluation, "CERTIFY_CHUNK", 10)  # 38 latents: 4 chunks
    real = certify.certified_local_sup
    calls: list[int] = []

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 5:  # two cost probes, two chunks, then the interruption
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(certify, "certified_local_sup", interrupted)
    run_dir = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        _run(run_dir=run_dir, norms="l2", epsilons=())
    monkeypatch.setattr(certify, "certified_local_sup", real)
    resumed = _run(run_dir=run_dir, norms="l2", epsilons=())
    rec = resumed.stage("certified-l2")
    assert rec.status == "resumed" and rec.detail["chunks_loaded"] == 2 and rec.detail["chunks_total"] == 4
    fresh = _run(norms="l2", epsilons=())
    assert resumed.report["sandwich"]["l2"]["certified"] == fresh.report["sandwich"]["l2"]["certified"]
    again = _run(run_dir=run_dir, norms="l2", epsilons=())
    assert again.statuses()["certified-l2"] == "loaded"
    assert again.report["sandwich"]["l2"]["certified"] == fresh.report["sandwich"]["l2"]["certified"]


def test_option_plumbing_and_bad_values() -> None:
    assert ExperimentConfig(modulus="estimate").evaluation_settings().modulus_method == "estimate"
    cfg = ExperimentConfig(certify_budget=5.0).evaluation_settings()
    assert cfg.modulus_method == "both" and cfg.certify_budget == 5.0
    with pytest.raises(ValueError, match="modulus must be 'both', 'estimate' or 'certified'"):
        ExperimentConfig(modulus="proven")
    with pytest.raises(ValueError, match="certify_budget must be a finite number"):
        ExperimentConfig(certify_budget=math.inf)
    with pytest.raises(ValueError, match="modulus must be 'both', 'estimate', 'certified' or an isobound modulus"):
        _run(modulus="exact")
    from isobound_torch import cli, evaluate_cli

    for parser in (cli.build_parser(), evaluate_cli.build_parser()):
        with pytest.raises(SystemExit):
            parser.parse_args(["--modulus", "exact"])
