"""``isobound evaluate``: user models through every SPEC form, the Python API, the CLI, and bad input.

The generator and classifiers are defined here (not the package's built-ins),
except where the built-in ``ARCH:weights.pt`` form itself is under test.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import isobound as ib  # noqa: E402
import isobound_torch as it  # noqa: E402
from isobound import cli as core_cli  # noqa: E402
from isobound_torch import evaluate_cli  # noqa: E402
from isobound_torch.experiment import evaluation  # noqa: E402
from isobound_torch.experiment import store as store_mod  # noqa: E402
from isobound_torch.specs import load_model, parse_spec, split_classifier_spec  # noqa: E402

D, SIDE, K = 4, 6, 3
FAST = {"failure_prob": 0.1, "modulus_confidence": 0.9, "radii": (0.25, 0.5, 1.0), "chunk_size": 20, "n_examples": 2}


class TinyGenerator(nn.Module):
    """Latents (B, 4) to 1 x 6 x 6 images in (0, 1)."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.lin = nn.Linear(D, SIDE * SIDE)
        with torch.no_grad():
            self.lin.weight.copy_(torch.randn(SIDE * SIDE, D, generator=g) * 0.7)
            self.lin.bias.zero_()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.lin(z)).view(-1, 1, 6, 6)


class TinyClassifier(nn.Module):
    """Images (B, 1, 6, 6) to 3 logits."""

    def __init__(self, seed: int = 1) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.lin = nn.Linear(SIDE * SIDE, K)
        with torch.no_grad():
            self.lin.weight.copy_(torch.randn(K, SIDE * SIDE, generator=g))
            self.lin.bias.copy_(-self.lin.weight.sum(dim=1) * 0.5)  # centred on the grey image

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x.flatten(1))


def _script(model: nn.Module) -> Any:
    """torch.jit.script without torch's deprecation notice (TorchScript files are a supported input)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.script(model)


def make_generator(seed: int = 0) -> nn.Module:
    return TinyGenerator(seed).eval()


def make_classifier(seed: int = 1) -> nn.Module:
    return TinyClassifier(seed).eval()


def not_a_model() -> int:
    return 3


MODULE = __name__  # the factory SPECs import this very test module


def _eval(run_dir: Path | None = None, **kwargs: Any) -> Any:
    args: dict[str, Any] = {
        "latent_dim": D, "n_samples": 40, "device": "cpu", "norms": "l2,linf", "epsilons": "8/255,0.3", **FAST,
    }  # fmt: skip
    args.update(kwargs)
    gen = args.pop("generator", make_generator())
    clfs = args.pop("classifiers", {"a": make_classifier(1), "b": make_classifier(2)})
    return it.evaluate(gen, clfs, run_dir=run_dir, **args)


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return _eval(tmp_path_factory.mktemp("ev") / "run")


def _snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


# ------------------------------------------------------------------------------ SPEC forms


def test_spec_parsing() -> None:
    assert parse_spec("a.b:c,x=1,y=[1, 2],z=text") == ("a.b:c", {"x": 1, "y": [1, 2], "z": "text"})
    assert split_classifier_spec("cnn=m:f,k=2") == ("cnn", "m:f,k=2")
    for bad in ("noequals", "=spec", "a/b=spec"):
        with pytest.raises(ValueError, match="NAME=SPEC"):
            split_classifier_spec(bad)
    with pytest.raises(ValueError, match="key=value"):
        parse_spec("a.b:c,oops")


def test_factory_spec_calls_the_factory_with_its_keywords() -> None:
    m = load_model(f"{MODULE}:make_classifier,seed=5", role="classifier")
    assert m.kind == "factory" and isinstance(m.model, TinyClassifier) and not m.model.training
    torch.testing.assert_close(m.model.lin.weight, make_classifier(5).lin.weight)


def test_torchscript_round_trip(tmp_path: Path) -> None:
    g = make_generator()
    path = tmp_path / "g.ts"
    _script(g).save(str(path))
    m = load_model(str(path))
    assert m.kind == "torchscript" and m.file_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    z = torch.randn(7, D)
    torch.testing.assert_close(m.model(z), g(z), rtol=0, atol=0)


def test_export_round_trip_keeps_gradients_and_dynamic_batch(tmp_path: Path) -> None:
    f = make_classifier()
    x = torch.rand(5, 1, SIDE, SIDE)
    program = torch.export.export(f, (x,), dynamic_shapes=({0: torch.export.Dim("batch")},))
    path = tmp_path / "f.pt2"
    torch.export.save(program, str(path))
    m = load_model(f"{path}", role="classifier")
    assert m.kind == "export"
    x2 = torch.rand(9, 1, SIDE, SIDE, requires_grad=True)
    out = m.model(x2)
    torch.testing.assert_close(out, f(x2))
    (grad,) = torch.autograd.grad(out[:, 0].sum(), x2)
    torch.testing.assert_close(grad[0, 0], f.lin.weight[0].view(SIDE, SIDE))


def test_builtin_architectures_read_their_sizes_off_the_weights(tmp_path: Path) -> None:
    from isobound_torch.models import DCGANGenerator, VAEDecoder, build_classifier

    dc = DCGANGenerator(5, 1, 16, ngf=4).eval()
    torch.save(dc.state_dict(), tmp_path / "dc.pt")
    m = load_model(f"dcgan:{tmp_path / 'dc.pt'}")
    assert m.extra == {"latent_dim": 5, "ngf": 4, "out_channels": 1, "image_size": 16}
    z = torch.randn(3, 5)
    torch.testing.assert_close(m.model(z), dc(z))
    vae = VAEDecoder(3, (1, 8, 8), hidden=(10, 12)).eval()
    torch.save(vae.state_dict(), tmp_path / "vae.pt")
    m = load_model(f"vae:{tmp_path / 'vae.pt'}")
    assert m.extra["image_shape"] == [1, 8, 8] and m.extra["hidden"] == [10, 12]
    torch.testing.assert_close(m.model(torch.ones(2, 3)), vae(torch.ones(2, 3)))
    lenet = build_classifier(
        "lenet", in_channels=1, image_size=16, n_classes=4, width_scale=0.25, mean=[0.5], std=[0.2]
    ).eval()
    torch.save(lenet.state_dict(), tmp_path / "lenet.pt")
    m = load_model(f"lenet:{tmp_path / 'lenet.pt'}", role="classifier", image_shape=(1, 16, 16))
    assert m.extra == {"in_channels": 1, "image_size": 16, "n_classes": 4, "width_scale": 0.25}
    x = torch.rand(2, 1, 16, 16)
    torch.testing.assert_close(m.model(x), lenet(x))


def test_whole_pickled_models_are_never_unpickled(tmp_path: Path) -> None:
    path = tmp_path / "whole.pt"
    torch.save(make_generator(), path)  # a pickled object, not weights
    with pytest.raises(ValueError, match="never unpickles"):
        load_model(str(path))
    with pytest.raises(ValueError, match="weights_only"):
        load_model(f"vae:{path}")


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("no_such_module_xyz:make", "does not resolve: cannot import 'no_such_module_xyz'"),
        (f"{MODULE}:missing_factory", "has no attribute 'missing_factory'"),
        (f"{MODULE}:not_a_model", "must return a model"),
        (f"{MODULE}:make_generator,colour=3", "calling make_generator"),
        ("just some words", "does not resolve"),
        ("dcgan:/no/such/file.pt", "no such weights file"),
        ("lenet:/x.pt", "'lenet' is a classifier"),
    ],
)
def test_specs_that_do_not_resolve(spec: str, match: str) -> None:
    with pytest.raises(ValueError, match=match) as info:
        load_model(spec, arg="--generator")
    assert "--generator" in str(info.value)


def test_files_that_are_not_models(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ValueError, match=r"not a model file.*not a zip archive"):
        load_model(str(text))
    weights = tmp_path / "w.pt"
    torch.save(make_generator().state_dict(), weights)
    with pytest.raises(ValueError, match=r"torch\.save file"):
        load_model(str(weights))


# ------------------------------------------------------------------------------ the Python API


def test_evaluate_returns_tables_ceilings_audits_and_json(finished: Any) -> None:
    res = finished
    rep = res.report
    assert set(res.tables) == {"l2", "linf"} and all("| Robustness in the Z-space |" in t for t in res.tables.values())
    assert "Image norm Linf:" in res.table and "eps (Linf)" in res.table
    assert [r["eps_text"] for r in res.ceilings["l2"]] == ["8/255", "0.3"]
    assert set(res.audits["a"]) == {"z", "l2/in", "l2/unc", "linf/in", "linf/unc"}
    assert len(res.per_sample["a"]["r_unc_linf"]) == 40
    data = json.loads(res.to_json())
    assert data["settings"]["norms"] == ["l2", "linf"] and data["settings"]["latent_prior"] == "normal"
    for name in (
        "report.md",
        "report.json",
        "cdf_a.png",
        "cdf_a_linf.png",
        "cdf_b.png",
        "samples.png",
        "pairs.png",
        "evaluate.json",
    ):
        assert (res.run_dir / name).is_file(), name
    # per-sample l-infinity distances never exceed the l2 ones of the same latent move
    r_in, r_in_inf = (
        np.array([np.inf if v is None else v for v in res.per_sample["a"][k]]) for k in ("r_in", "r_in_linf")
    )
    assert np.all(r_in_inf <= r_in * (1 + 1e-6))
    # the generator's images are not 64 x 64, the report still shows them; the classifiers have no test set
    assert rep["classifiers"]["a"]["clean_acc"] is None and "| Error rate | - | - | - |" in res.tables["l2"]


def test_ceiling_rows_follow_from_the_bounds_and_the_per_sample_values(finished: Any) -> None:
    rep = finished.report
    from isobound_torch.measure import conservative_proportions

    for norm in ("l2", "linf"):
        mod = rep["modulus"][norm]
        omega = ib.PiecewiseLinear(mod["radii"], mod["values"], interpolation="step", failure_prob=mod["failure_prob"])
        for row in rep["ceilings"][norm]:
            eps = row["eps"]
            equi = ib.IsoperimetricBound.equiprobable(K).through(omega)
            assert row["equiprobable"] == pytest.approx(float(equi.sf(eps)), rel=1e-12)
            for name, cell in row["classifiers"].items():
                labels = np.asarray(rep["classifiers"][name]["per_sample"]["label"])
                p = conservative_proportions(np.bincount(labels, minlength=K), rep["settings"]["ci_level"])
                own = ib.IsoperimetricBound(p[p > 0], normalize=True).through(omega)
                assert cell["ceiling"] == pytest.approx(min(1.0, float(own.sf(eps))), rel=1e-12)
                key = "r_unc" if norm == "l2" else "r_unc_linf"
                d = np.array([np.inf if v is None else v for v in rep["classifiers"][name]["per_sample"][key]])
                assert cell["measured_robust_acc"] == pytest.approx(float(np.mean(d > eps)))
            # the bound for any classifier is never below the equiprobable-predictions one
            assert row["any_classifier"] >= row["equiprobable"] - 1e-12


def test_robustbench_records_and_confidence_accounting(finished: Any) -> None:
    rep = finished.report
    recs = finished.robustbench
    assert len(recs) == 2 * 2 * 2  # classifiers x norms x epsilons
    r = recs[0]
    for key in ("name", "dataset", "threat_model", "eps", "clean_acc", "robust_acc", "ceiling_robust_acc",
                "ceiling_q25", "audit", "status", "confidence"):  # fmt: skip
        assert key in r
    assert {x["threat_model"] for x in recs} == {"L2", "Linf"} and {x["eps"] for x in recs} == {"8/255", "0.3"}
    assert r["status"] == "estimate"
    conf = rep["confidence"]
    assert conf["image_own_confidence"] == pytest.approx(1 - (1 - 0.95) - (1 - 0.9))
    assert conf["image_equiprobable_confidence"] == pytest.approx(0.9)
    assert conf["latent_own_status"] == "proven" and conf["image_status"] == "estimate"
    m = 2 * (1 + 2 * 2)  # classifiers x (Z audit + in/unc per norm)
    assert conf["audits"]["n"] == m
    per = 1 - 0.01 / m
    for c in rep["classifiers"].values():
        assert c["audit"]["z"]["confidence"] == pytest.approx(per)
        for per_norm in c["norms"].values():
            assert all(a["confidence"] == pytest.approx(per) for a in per_norm["audit"].values())
    # the corrected band is wider than an uncorrected 99% one: fewer false alarms overall
    assert c["audit"]["z"]["band"] > ib.one_sided_band(40, 0.99)
    md = (finished.run_dir / "report.md").read_text()
    assert "What is proven and what is estimated" in md and "Bonferroni" in md and "85%" in md


def test_ceiling_q25_is_the_25_percent_quantile_whatever_the_report_quantile() -> None:
    from isobound_torch.measure import conservative_proportions

    res = _eval(None, classifiers={"a": make_classifier()}, norms="linf", epsilons=[0.1], quantile=0.5)
    rep = res.report
    mod = rep["modulus"]["linf"]
    omega = ib.PiecewiseLinear(mod["radii"], mod["values"], interpolation="step", failure_prob=mod["failure_prob"])
    labels = np.asarray(rep["classifiers"]["a"]["per_sample"]["label"])
    p = conservative_proportions(np.bincount(labels, minlength=K), rep["settings"]["ci_level"])
    own = ib.IsoperimetricBound(p[p > 0], normalize=True).through(omega)
    (record,) = res.robustbench
    q25 = float(own.ppf(0.25))
    assert math.isfinite(q25) and record["ceiling_q25"] == pytest.approx(q25, rel=1e-12)
    assert rep["classifiers"]["a"]["bound"]["image_raw"] == pytest.approx(float(own.ppf(0.5)), rel=1e-12)
    assert float(own.ppf(0.5)) > q25 * 1.01  # the two quantiles differ, so the check above can tell them apart


def test_plot_legend_names_the_bound_and_its_omega(finished: Any) -> None:
    figs = finished.figures()
    assert {"cdf_a", "cdf_a_linf", "samples", "pairs"} <= set(figs)
    texts = [t.get_text() for leg in figs["cdf_a_linf"].legends for t in leg.get_texts()]
    assert any("a's own proportions (95% box)" in t and "omega estimated by ascent, delta = 0.1" in t for t in texts)
    assert any("3 equiprobable classes" in t for t in texts)


def test_in_memory_evaluation_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    res = _eval(None, norms="l2", epsilons=())
    assert res.run_dir is None and res.files == {} and list(tmp_path.iterdir()) == []
    assert res.ceilings == {"l2": []} and res.robustbench == []


def test_rerun_reuses_every_stage_and_keys_follow_the_weights(finished: Any, tmp_path: Path) -> None:
    import shutil

    run_dir = tmp_path / "again"
    shutil.copytree(finished.run_dir, run_dir)
    again = _eval(run_dir)
    st = again.statuses()
    assert st.pop("report") == "computed" and set(st.values()) == {"loaded"}, st
    assert again.per_sample == finished.per_sample
    assert "Reused from the run directory" in (run_dir / "report.md").read_text()
    assert again.report["redrawn_plots"] == []  # unchanged pictures are not drawn again
    other = make_classifier(2)
    with torch.no_grad():
        other.lin.bias.add_(1e-3)  # a changed weight: its stages are recomputed, the others are not
    changed = _eval(run_dir, classifiers={"a": make_classifier(1), "b": other})
    assert changed.statuses()["measure-b"] == "computed" and changed.statuses()["measure-a"] == "loaded"
    assert changed.statuses()["modulus-l2"] == "loaded"
    assert {"cdf_b", "cdf_b_linf"} <= set(changed.report["redrawn_plots"])


def test_plain_callables_get_keys_from_their_outputs() -> None:
    g = make_generator()

    def fn(z: torch.Tensor) -> torch.Tensor:
        return g(z)

    from isobound_torch._evaluate import model_key, probe_latents

    out = fn(probe_latents(D, torch.float32, torch.device("cpu")))
    assert model_key(fn, out) == model_key(fn, out.clone())
    assert model_key(fn, out) != model_key(fn, out + 1e-6)
    res = it.evaluate(fn, {"a": make_classifier().forward}, latent_dim=D, n_samples=20, device="cpu", **FAST)
    assert res.report["models"]["generator"]["kind"] == "object"


def test_upgrade_recomputes_and_fewer_classifiers_remove_stale_plots(
    finished: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    run_dir = tmp_path / "upgrade"
    shutil.copytree(finished.run_dir, run_dir)
    real = store_mod.code_versions
    monkeypatch.setattr(evaluation, "code_versions", lambda: {**real(), "isobound": "99.0"})
    upgraded = _eval(run_dir, classifiers={"a": make_classifier(1)})
    st = upgraded.statuses()
    assert st.pop("report") == "computed" and set(st.values()) == {"computed"}, st
    assert not (run_dir / "cdf_b.png").exists() and not (run_dir / "cdf_b_linf.png").exists()
    assert (run_dir / "cdf_a.png").exists()
    assert sorted(upgraded.report["removed_files"]) == ["cdf_b.png", "cdf_b_linf.png"]
    assert "cdf_b.png" in (run_dir / "report.md").read_text()


def test_uniform_latents_measure_the_generator_through_t(tmp_path: Path) -> None:
    from scipy import stats

    z = torch.randn(4000, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    u = it.UniformLatents(lambda v: v)(z)
    assert stats.kstest(u[:, 0].numpy(), "uniform", args=(-1, 2)).pvalue > 1e-3
    A = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.5], [1.0, 1.0, 1.0]], dtype=torch.float64)

    def cube_generator(v: torch.Tensor) -> torch.Tensor:
        if bool((v.abs() > 1).any()):
            raise ValueError("latents must lie in [-1, 1]^3")
        return v @ A.T

    w = torch.tensor([[1.0, -1.0, 0.5, 0.0], [-1.0, 1.0, -0.5, 0.0]], dtype=torch.float64)
    res = it.evaluate(
        cube_generator, {"lin": lambda x: x @ w.T}, latent_dim=3, n_samples=30, latent_prior="uniform", device="cpu",
        dtype=torch.float64, **FAST,
    )  # fmt: skip
    # omega of g o T: never above the Lipschitz bound sqrt(2/pi) ||A||_2 t (T is sqrt(2/pi)-Lipschitz)
    mod = res.report["modulus"]["l2"]
    slope = math.sqrt(2 / math.pi) * float(torch.linalg.matrix_norm(A, 2))
    for t, v in zip(mod["radii"], mod["values"], strict=True):
        assert v <= slope * t * (1 + 1e-9)
    assert res.report["settings"]["latent_prior"] == "uniform"
    # a given modulus of g on the cube is wrapped into UniformPrior
    given = it.evaluate(
        cube_generator, {"lin": lambda x: x @ w.T}, latent_dim=3, n_samples=30, latent_prior="uniform", device="cpu",
        dtype=torch.float64, modulus=ib.Lipschitz(float(torch.linalg.matrix_norm(A, 2))), **FAST,
    )  # fmt: skip
    assert given.report["modulus"]["l2"]["repr"].startswith("UniformPrior(")
    assert given.statuses()["modulus-l2"] == "given" and given.report["confidence"]["image_status"] == "assumed"


# ------------------------------------------------------------------------------ bad input


class Rejecting(nn.Module):
    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(z, torch.ones(5, 7))  # wants latent_dim 7


class NaNGenerator(nn.Module):
    def __init__(self, rows_over: float = -math.inf, value: float = math.nan) -> None:
        super().__init__()
        self.rows_over = rows_over
        self.value = value
        self.inner = make_generator()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.inner(z)
        bad = z[:, 0] > self.rows_over
        return torch.where(bad[:, None, None, None], torch.full_like(x, self.value), x)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"generator": f"{MODULE}:nope"}, ValueError, "generator .* does not resolve"),
        ({"classifiers": {"a": "/no/such/model.ts"}}, ValueError, "classifier 'a' .*does not resolve"),
        ({"generator": Rejecting()}, ValueError, r"does not accept latents of shape \(4, 4\) \(latent_dim=4"),
        ({"latent_dim": 0}, ValueError, "latent_dim must be a positive integer, got latent_dim=0"),
        (
            {"classifiers": {"a": nn.Sequential(nn.Flatten(), nn.Linear(20, 3)).eval()}},
            ValueError,
            r"classifier 'a' does not accept the generator's images of shape \(4, 1, 6, 6\); "
            r"its first layer is Linear\(in_features=20\)",
        ),
        (
            {"classifiers": {"a": lambda x: x.flatten(1).sum(1)}},
            ValueError,
            r"logits of shape \(batch, K\).* got shape \(4,\)",
        ),
        ({"classifiers": {"a": lambda x: x.flatten(1)[:, :1]}}, ValueError, r"K >= 2.*got shape \(4, 1\)"),
        ({"classifiers": {"a": lambda x: x.flatten(1)[:2, :3]}}, ValueError, r"\(4, K\).*got shape \(2, 3\)"),
        (
            {"classifiers": {"a": make_classifier(), "b": lambda x: torch.zeros(x.shape[0], 5)}},
            ValueError,
            "same number of classes",
        ),
        ({"generator": NaNGenerator()}, ValueError, "generator returned NaN or inf for 4 of 4 latents"),
        (
            {"generator": NaNGenerator(rows_over=0.0, value=-math.inf)},
            ValueError,
            r"NaN or inf for 2 of 4 latents .*first rows \[0, 1\]",
        ),
        ({"norms": "l2,l1"}, ValueError, r"norms must name image norms among l2, linf, got norms='l2,l1' \('l1'\)"),
        ({"epsilons": "8/255,0"}, ValueError, r"epsilons must be finite numbers > 0, got epsilons='8/255,0' \('0'\)"),
        ({"epsilons": [-0.5]}, ValueError, r"epsilons must be finite numbers > 0, got epsilons=\[-0.5\]"),
        (
            {"epsilons": "eight"},
            ValueError,
            r"epsilons must hold numbers or fractions such as 8/255, got epsilons='eight'",
        ),
        ({"epsilons": "1/0"}, ValueError, "numbers or fractions"),
        ({"epsilons": [None]}, TypeError, "epsilons must hold numbers"),
        ({"latent_prior": "cauchy"}, ValueError, "latent_prior must be 'normal' or 'uniform'"),
        ({"bogus_option": 1}, TypeError, "unknown options"),
        ({"attack": "pgd"}, ValueError, r"attack must be one of deepfool, fmn, ddn, best, got attack='pgd'"),
        ({"attack": "ddn"}, ValueError, r"attack='ddn' measures l2 distances only, but norms include 'linf'"),
        ({"attack": "fmn", "attack_steps": 0}, ValueError, r"attack_steps must be an integer >= 1, got attack_steps=0"),
        ({"classifiers": {}}, TypeError, "non-empty mapping"),
        (
            {"generator": nn.Sequential(make_generator(), nn.Dropout(0.5)).train()},
            ValueError,
            "Dropout layer '1' in training mode",
        ),
    ],
)
def test_bad_input_is_reported_and_loses_nothing(
    finished: Any, kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    before = _snapshot(finished.run_dir)
    with pytest.raises(error, match=match):
        _eval(finished.run_dir, **kwargs)
    assert _snapshot(finished.run_dir) == before


def test_nan_mid_run_keeps_the_finished_chunks(tmp_path: Path) -> None:
    from isobound_torch._evaluate import probe_latents

    z = torch.randn(200, D, generator=torch.Generator().manual_seed(store_mod.derive_seed(0, "latents")))
    probe = probe_latents(D, torch.float32, torch.device("cpu"))
    # NaN above a threshold that the probe latents and the first chunk stay below, and some later latent exceeds
    threshold = max(float(z[:20, 0].max()), float(probe[:, 0].max()))
    later = (z[20:, 0] > threshold).nonzero().flatten()
    assert later.numel() > 0
    first_bad_chunk = int(later[0] + 20) // 20
    n_bad = int((z[first_bad_chunk * 20 : first_bad_chunk * 20 + 20, 0] > threshold).sum())
    run_dir = tmp_path / "nan"
    lo = first_bad_chunk * 20
    with pytest.raises(
        ValueError, match=rf"NaN or inf for {n_bad} of 20 latents \(latents {lo}\.\.{lo + 19} of measure-a"
    ):
        _eval(run_dir, generator=NaNGenerator(rows_over=threshold), n_samples=200, classifiers={"a": make_classifier()})
    chunks = sorted(p.name for p in (run_dir / "stages").glob("measure-a-*chunk*"))
    assert len(chunks) == first_bad_chunk  # every chunk finished before the bad latents is kept


def test_test_data_gives_clean_accuracy_and_checks_its_shape() -> None:
    x = torch.rand(30, 1, SIDE, SIDE)
    f = make_classifier()
    y = f(x).argmax(1)
    y[:6] = (y[:6] + 1) % K  # 6 of 30 wrong
    res = _eval(None, classifiers={"a": f}, test_data=(x, y), norms="l2", epsilons=[0.1])
    assert res.report["classifiers"]["a"]["clean_acc"] == pytest.approx(0.8)
    assert res.robustbench[0]["clean_acc"] == pytest.approx(80.0)
    with pytest.raises(ValueError, match=r"test_data must be \(images, labels\) with images of shape \(N, 1, 6, 6\)"):
        _eval(None, classifiers={"a": f}, test_data=(torch.rand(3, 36), torch.zeros(3)))


# ------------------------------------------------------------------------------ the command line


def test_cli_runs_every_spec_form(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    g, f = make_generator(), make_classifier(3)
    _script(g).save(str(tmp_path / "g.ts"))
    program = torch.export.export(f, (torch.rand(2, 1, SIDE, SIDE),), dynamic_shapes=({0: torch.export.Dim("batch")},))
    torch.export.save(program, str(tmp_path / "f.pt2"))
    common = ["--latent-dim", str(D), "--n-samples", "20", "--chunk-size", "20", "--device", "cpu", "--quiet",
              "--failure-prob", "0.1", "--modulus-confidence", "0.9", "--radii", "0.5", "1.0"]  # fmt: skip
    code = core_cli.main(
        ["evaluate", "--generator", str(tmp_path / "g.ts"),
         "--classifier", f"exp={tmp_path / 'f.pt2'}", "--classifier", f"fac={MODULE}:make_classifier,seed=4",
         "--norm", "l2,linf", "--epsilon", "8/255", "--run-dir", str(tmp_path / "run"), "--json", *common]
    )  # fmt: skip
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert {r["name"] for r in out["robustbench"]} == {"exp", "fac"} and out["confidence"]["image_status"] == "estimate"
    # the factory-made and exported classifiers give the numbers the Python API gives
    direct = it.evaluate(
        g, {"exp": f, "fac": make_classifier(4)}, latent_dim=D, n_samples=20, device="cpu", norms="l2,linf",
        epsilons=[8 / 255], failure_prob=0.1, modulus_confidence=0.9, radii=(0.5, 1.0), chunk_size=20,
    )  # fmt: skip
    cli_report = json.loads((tmp_path / "run" / "report.json").read_text())
    for name in ("exp", "fac"):
        np.testing.assert_allclose(
            [np.inf if v is None else v for v in cli_report["classifiers"][name]["per_sample"]["r_z"]],
            [np.inf if v is None else v for v in direct.per_sample[name]["r_z"]], rtol=1e-5,
        )  # fmt: skip
    code = evaluate_cli.main(["--generator", str(tmp_path / "g.ts"), "--classifier", f"fac={MODULE}:make_classifier",
                              "--run-dir", str(tmp_path / "run2"), *common])  # fmt: skip
    assert code == 0 and "| Robustness in the Z-space |" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--generator", "nowhere.mod:g", "--classifier", "a=x.ts"], "generator 'nowhere.mod:g' does not resolve"),
        (["--generator", f"{MODULE}:make_generator", "--classifier", "justaname"], "--classifier must read NAME=SPEC"),
        (
            ["--generator", f"{MODULE}:make_generator", "--classifier", f"a={MODULE}:make_classifier", "--norm", "l3"],
            "norms must name",
        ),
        (
            [
                "--generator",
                f"{MODULE}:make_generator",
                "--classifier",
                f"a={MODULE}:make_classifier",
                "--epsilon",
                "-1",
            ],
            "epsilons must be finite numbers > 0",
        ),
        (
            [
                "--generator",
                f"{MODULE}:make_generator",
                "--classifier",
                f"a={MODULE}:make_classifier",
                "--test-data",
                "/no/file.npz",
            ],
            "--test-data must be",
        ),
    ],
)
def test_cli_bad_input_exits_2_with_a_message(
    args: list[str], match: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = core_cli.main(
        ["evaluate", *args, "--latent-dim", str(D), "--run-dir", str(tmp_path / "r"), "--quiet", "--device", "cpu"]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("isobound evaluate: error: ") and match in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


_CLI_TINY = ["--generator", f"{MODULE}:make_generator", "--classifier", f"a={MODULE}:make_classifier",
             "--latent-dim", str(D), "--n-samples", "40", "--chunk-size", "20", "--failure-prob", "0.1",
             "--modulus-confidence", "0.9", "--radii", "0.25", "0.5", "1.0", "--quiet", "--device", "cpu"]  # fmt: skip


def test_cli_interrupt_exits_130_and_the_same_command_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = evaluation.latent_chunk
    calls = {"n": 0}

    def second_chunk_interrupted(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    args = [*_CLI_TINY, "--run-dir", str(tmp_path / "r")]
    monkeypatch.setattr(evaluation, "latent_chunk", second_chunk_interrupted)
    code = core_cli.main(["evaluate", *args])
    err = capsys.readouterr().err
    assert code == 130 and "isobound evaluate: interrupted; run the same command again to resume" in err
    assert "Traceback" not in err
    assert len(list((tmp_path / "r" / "stages").glob("measure-a-*chunk00000*"))) == 1  # the first chunk is kept
    monkeypatch.setattr(evaluation, "latent_chunk", real)
    assert core_cli.main(["evaluate", *args, "--json"]) == 0
    stages = {r["name"]: r for r in json.loads(capsys.readouterr().out)["stages"]}
    assert stages["measure-a"]["status"] == "resumed"
    assert (stages["measure-a"]["chunks_loaded"], stages["measure-a"]["chunks_computed"]) == (1, 1)


def test_cli_run_dir_that_cannot_be_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory")
    for run_dir, match in ((a_file, "exists and is not a directory"), (a_file / "run", "is a file")):
        assert core_cli.main(["evaluate", *_CLI_TINY, "--run-dir", str(run_dir)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("isobound evaluate: error: --run-dir: ") and match in err and "Traceback" not in err
    assert a_file.read_text() == "not a directory"

    def refuse(path: Path, write: Any) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(store_mod, "atomic_write", refuse)
    monkeypatch.setattr(it._evaluate, "atomic_write", refuse)
    code = core_cli.main(["evaluate", *_CLI_TINY, "--run-dir", str(tmp_path / "ro")])
    err = capsys.readouterr().err
    assert code == 2 and "cannot write the run's files" in err and "must be writable" in err and "Traceback" not in err


def test_cli_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert core_cli.main(["evaluate", "--version"]) == 0
    assert capsys.readouterr().out.strip() == f"isobound {ib.__version__} (torch {torch.__version__})"
    assert core_cli.main(["evaluate", "--help"]) == 0
    text = capsys.readouterr().out
    assert "IMPORTING A MODULE RUNS ITS CODE" in text and "weights_only" in text and "never loaded" in text


def test_npz_test_data(tmp_path: Path) -> None:
    x = (np.random.default_rng(0).random((5, SIDE, SIDE, 1)) * 255).astype(np.uint8)
    np.savez(tmp_path / "t.npz", x=x, y=np.arange(5) % K)
    images, labels, _ = evaluate_cli.load_test_data(str(tmp_path / "t.npz"))
    assert (
        tuple(images.shape) == (5, 1, SIDE, SIDE) and float(images.max()) <= 1.0 and labels.tolist() == [0, 1, 2, 0, 1]
    )
    np.savez(tmp_path / "bad.npz", images=x)
    with pytest.raises(ValueError, match="must hold arrays x and y"):
        evaluate_cli.load_test_data(str(tmp_path / "bad.npz"))


def test_attack_option_measures_with_the_best_of_several_attacks(finished: Any, tmp_path: Path) -> None:
    """``attack="best"`` runs refined DeepFool among its members, so per sample it is never farther than it."""
    best = _eval(tmp_path / "best", attack="best", attack_steps=30)
    assert best.report["evaluation_settings"]["attack"] == "best"
    keys = best.report["settings"]["attacks"].values()
    assert all(k.startswith("isobound_torch.attacks._bestof.BestOf:") for k in keys)
    assert "distances measured by the per-sample best of DeepFool, FMN" in (best.run_dir / "report.md").read_text()
    assert "distances measured by DeepFool" in (finished.run_dir / "report.md").read_text()
    n_smaller = 0
    for name in ("a", "b"):
        for key in ("r_unc", "r_unc_linf", "r_z"):  # r_in is a by-product of the latent move, not minimised
            df = np.array([np.inf if v is None else v for v in finished.per_sample[name][key]])
            bo = np.array([np.inf if v is None else v for v in best.per_sample[name][key]])
            assert np.all(bo <= df * (1 + 1e-9)), (name, key)
            n_smaller += int(np.sum(bo < df * (1 - 1e-3)))
    assert n_smaller > 0  # the minimal-norm members do find shorter perturbations somewhere
    # the ceilings at eps do not depend on the attack; the measured robust accuracy can only go down
    for norm in ("l2", "linf"):
        for rb, rd in zip(best.ceilings[norm], finished.ceilings[norm], strict=True):
            assert rb["any_classifier"] == rd["any_classifier"] and rb["equiprobable"] == rd["equiprobable"]
            for name in ("a", "b"):
                cb, cd = rb["classifiers"][name], rd["classifiers"][name]
                assert cb["ceiling"] == cd["ceiling"]
                assert cb["measured_robust_acc"] <= cd["measured_robust_acc"]
