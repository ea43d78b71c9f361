"""Per-sample proven lower bounds on r_unc in ``isobound evaluate`` (``lower_bounds=``), against the attack.

The models are written here: a tiny generator, a small ReLU MLP (the exact oracle
solves it in a fraction of a second per sample), a tanh MLP (certified radius only)
and a classifier with a LayerNorm (no lower bound of either kind).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import isobound_torch as it  # noqa: E402
from isobound_torch import evaluate_cli  # noqa: E402
from isobound_torch.experiment import ExperimentConfig  # noqa: E402
from isobound_torch.experiment.store import derive_seed  # noqa: E402

D, SIDE, K, N, M = 3, 4, 3, 24, 8  # latent dim, image side, classes, samples, samples with a lower bound
FAST = {"failure_prob": 0.1, "modulus_confidence": 0.9, "radii": (0.5, 1.0), "chunk_size": 12, "n_examples": 0}


class TinyGenerator(nn.Module):
    """Latents (B, 3) to 1 x 4 x 4 images in (0, 1)."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.lin = nn.Linear(D, SIDE * SIDE)
        with torch.no_grad():
            self.lin.weight.copy_(torch.randn(SIDE * SIDE, D, generator=g))
            self.lin.bias.zero_()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.lin(z)).view(-1, 1, SIDE, SIDE)


def _mlp(act: type[nn.Module], seed: int, tail: nn.Module | None = None) -> nn.Module:
    torch.manual_seed(seed)
    layers: list[nn.Module] = [nn.Flatten(), nn.Linear(SIDE * SIDE, 12), act(), nn.Linear(12, 8), act()]
    layers.append(nn.Linear(8, K))
    if tail is not None:
        layers.append(tail)
    net = nn.Sequential(*layers)
    with torch.no_grad():  # centre the first layer on the grey image, so that the labels vary
        first = net[1]
        assert isinstance(first, nn.Linear)
        first.bias.copy_(-0.5 * first.weight.sum(dim=1))
    return net.eval()


def relu_mlp() -> nn.Module:
    return _mlp(nn.ReLU, 1)


def tanh_mlp() -> nn.Module:
    return _mlp(nn.Tanh, 2)


def odd_classifier() -> nn.Module:
    return _mlp(nn.ReLU, 3, nn.LayerNorm(K))


def _eval(run_dir: Path | None, **kwargs: Any) -> Any:
    clfs = kwargs.pop("classifiers", {"relu": relu_mlp(), "tanh": tanh_mlp(), "odd": odd_classifier()})
    args = {"latent_dim": D, "n_samples": N, "device": "cpu", "norms": "l2,linf", "lower_bound_samples": M, **FAST}
    args.update(kwargs)
    return it.evaluate(TinyGenerator().eval(), clfs, run_dir=run_dir, **args)


def _images(n: int, start: int = 0) -> torch.Tensor:
    """Generated images ``start..n-1`` of the run: the latents the evaluator draws from seed 0, through the
    generator in the measurement's first chunk (the images the attack measured, to the bit)."""
    z = torch.randn(N, D, generator=torch.Generator().manual_seed(derive_seed(0, "latents")))
    with torch.no_grad():
        return TinyGenerator().eval()(z[: FAST["chunk_size"]])[start:n]


def _inf(values: list[Any]) -> np.ndarray:
    return np.array([np.inf if v is None else v for v in values], dtype=np.float64)


@pytest.fixture(scope="module")
def auto(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return _eval(tmp_path_factory.mktemp("lb") / "run", lower_bounds="auto")


def test_auto_picks_exact_certified_or_says_why_not(auto: Any) -> None:
    lb = auto.report["lower_bounds"]
    assert lb["relu"]["linf"]["method"] == "exact"
    assert lb["relu"]["l2"]["method"] == "certified"  # the exact oracle has no l2
    assert lb["tanh"]["linf"]["method"] == "certified" and lb["tanh"]["l2"]["method"] == "certified"
    for norm in ("l2", "linf"):
        odd = lb["odd"][norm]
        assert not odd["available"] and odd["method"].startswith("not available: ")
        assert "LayerNorm" in odd["method"] and "certified:" in odd["method"]
        assert "proven_lower_bound" not in odd
    stages = auto.statuses()
    assert {k for k in stages if k.startswith("lower-")} == {
        f"lower-{c}-{n}" for c in ("relu", "tanh") for n in ("l2", "linf")
    }
    assert all(stages[k] == "computed" for k in stages if k.startswith("lower-"))


def test_lower_never_exceeds_measured_and_summary_recomputes(auto: Any) -> None:
    n_positive = 0
    for name in ("relu", "tanh"):
        for norm in ("l2", "linf"):
            b = auto.report["lower_bounds"][name][norm]
            lower, measured = _inf(b["proven_lower_bound"]), _inf(b["measured_attack_upper_estimate"])
            key = "r_unc" if norm == "l2" else "r_unc_linf"
            np.testing.assert_array_equal(measured, _inf(auto.per_sample[name][key])[:M])  # the same samples
            assert lower.shape == (M,) and np.all(lower >= 0)
            assert np.all(lower <= measured), (name, norm)
            assert b["consistent"] and b["violations"] == []
            n_positive += int(np.sum(lower > 0))
            sm = b["summary"]
            assert sm["median_proven_lower_bound"] == pytest.approx(float(np.median(lower)))
            assert sm["median_measured"] == pytest.approx(float(np.median(measured)))
            assert sm["fraction_lower_positive"] == pytest.approx(float(np.mean(lower > 0)))
            ok = np.isfinite(measured)
            assert sm["median_ratio_lower_over_measured"] == pytest.approx(float(np.median(lower[ok] / measured[ok])))
            assert 0 <= sm["median_ratio_lower_over_measured"] <= 1
    assert n_positive >= 3 * M  # the bounds prove something on most samples


def test_exact_lower_bound_is_exact_distance_lower_bound(auto: Any) -> None:
    b = auto.report["lower_bounds"]["relu"]["linf"]
    x = _images(M)
    res = it.exact_distance(relu_mlp(), x, norm="linf")
    np.testing.assert_allclose(_inf(b["proven_lower_bound"]), res.lower_bound.numpy(), rtol=1e-9, atol=0)
    np.testing.assert_allclose(_inf(b["exact_upper_bound"]), res.upper_bound.numpy(), rtol=1e-9, atol=0)
    assert b["exact_status"] == list(res.status)
    # lower <= exact optimum <= measured: the attack never beats the optimum
    measured = _inf(b["measured_attack_upper_estimate"])
    optimal = np.array([s == "optimal" for s in res.status])
    assert optimal.sum() >= M - 1
    assert np.all(res.distance.numpy()[optimal] <= measured[optimal] * (1 + 1e-6))
    # and the certified radius of the same network is a (weaker or equal) lower bound of the same distance
    cert = it.certified_radius(relu_mlp(), x, norm="linf").numpy()
    assert np.all(cert <= res.upper_bound.numpy())
    c2 = auto.report["lower_bounds"]["tanh"]["l2"]
    np.testing.assert_array_equal(_inf(c2["proven_lower_bound"]), it.certified_radius(tanh_mlp(), x, norm="l2").numpy())


def test_report_files_show_the_section(auto: Any) -> None:
    md = (auto.run_dir / "report.md").read_text()
    assert "## Per-sample lower bounds on r_unc" in md
    assert "**proven lower bound**" in md and "measured (attack, upper estimate)" in md
    assert "| `relu` | Linf | exact | 8 |" in md and "| `relu` | L2 | certified | 8 |" in md
    assert "| `odd` | L2 | not available |" in md
    assert "not available" in md and "INCONSISTENT" not in md
    on_disk = json.loads((auto.run_dir / "report.json").read_text())
    assert on_disk["lower_bounds"]["relu"]["linf"]["method"] == "exact"
    json.loads(auto.to_json())  # strict JSON


def test_resume_reuses_the_stage_and_the_attack_does_not_enter_its_key(auto: Any) -> None:
    again = _eval(auto.run_dir, lower_bounds="auto")
    st = again.statuses()
    assert all(st[k] == "loaded" for k in st if k.startswith("lower-") or k.startswith("unc-"))
    assert (
        again.report["lower_bounds"]["relu"]["linf"]["proven_lower_bound"]
        == (auto.report["lower_bounds"]["relu"]["linf"]["proven_lower_bound"])
    )
    # another attack measures again, the lower bounds stay (they do not depend on it)
    raw = _eval(auto.run_dir, lower_bounds="auto", refine=False)
    st = raw.statuses()
    assert st["unc-relu-linf"] == "computed" and st["lower-relu-linf"] == "loaded"
    # an explicit method that auto resolved to is the same stage
    exact = _eval(auto.run_dir, lower_bounds="exact", classifiers={"relu": relu_mlp()})
    assert exact.statuses()["lower-relu-linf"] == "loaded"
    assert exact.report["lower_bounds"]["relu"]["l2"]["method"].startswith("not available: exact: ")
    assert "lower-relu-l2" not in exact.statuses()
    # more samples: a new stage
    more = _eval(auto.run_dir, lower_bounds="certified", lower_bound_samples=M + 2, classifiers={"tanh": tanh_mlp()})
    assert more.statuses()["lower-tanh-l2"] == "computed"
    assert len(more.report["lower_bounds"]["tanh"]["l2"]["proven_lower_bound"]) == M + 2


def test_a_resumed_stage_continues_from_its_checkpoints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from isobound_torch.experiment import evaluation

    calls: list[int] = []
    real = evaluation.lower_bound_chunk

    def flaky(classifier: Any, x: Any, norm: str, method: str, bounds: Any) -> Any:
        calls.append(int(x.shape[0]))
        if len(calls) == 2:
            raise KeyboardInterrupt  # interrupted after the first checkpoint
        return real(classifier, x, norm, method, bounds)

    monkeypatch.setattr(evaluation, "LOWER_CHUNK", 5)
    monkeypatch.setattr(evaluation, "lower_bound_chunk", flaky)
    kw = {"lower_bounds": "certified", "norms": "l2", "classifiers": {"tanh": tanh_mlp()}}
    with pytest.raises(KeyboardInterrupt):
        _eval(tmp_path / "run", **kw)
    res = _eval(tmp_path / "run", **kw)
    rec = res.stage("lower-tanh-l2")
    assert rec.status == "resumed" and rec.detail["chunks_loaded"] == 1 and rec.detail["chunks_computed"] == 1
    assert calls == [5, 3, 3]
    # the certified search runs per checkpoint (a batch of 5, then 3)
    direct = torch.cat([it.certified_radius(tanh_mlp(), _images(hi, lo), norm="l2") for lo, hi in ((0, 5), (5, M))])
    np.testing.assert_array_equal(_inf(res.report["lower_bounds"]["tanh"]["l2"]["proven_lower_bound"]), direct.numpy())


@dataclasses.dataclass
class TooShort:
    """A broken attack: DeepFool's points, but reported 100 times closer than they are."""

    norm: str = "linf"
    bounds: Any = None

    def __call__(self, model: Any, x: Any) -> Any:
        res = it.DeepFool(norm=self.norm)(model, x)
        return dataclasses.replace(res, norm=res.norm * 0.01)


def test_auto_leaves_large_mlps_to_the_certified_radius(monkeypatch: pytest.MonkeyPatch) -> None:
    from isobound_torch.experiment import evaluation

    monkeypatch.setattr(evaluation, "AUTO_EXACT_MAX_HIDDEN", 19)  # the ReLU MLP has 12 + 8 = 20
    res = _eval(None, lower_bounds="auto", norms="linf", classifiers={"relu": relu_mlp()}, lower_bound_samples=3)
    b = res.report["lower_bounds"]["relu"]["linf"]
    assert b["method"] == "certified"
    forced = _eval(None, lower_bounds="exact", norms="linf", classifiers={"relu": relu_mlp()}, lower_bound_samples=3)
    assert forced.report["lower_bounds"]["relu"]["linf"]["method"] == "exact"
    monkeypatch.setattr(evaluation, "AUTO_EXACT_MAX_HIDDEN", 20)
    from isobound_torch.experiment.distributed import DistContext
    from isobound_torch.experiment.store import MemoryStore

    settings = evaluation.EvaluationSettings(latent_dim=D, lower_bounds="auto")
    ev = evaluation.Evaluator(settings, store=MemoryStore(), dist=DistContext(), device=torch.device("cpu"))
    assert ev.lower_method(relu_mlp(), "linf", (1, SIDE, SIDE)) == ("exact", "")  # at the limit: exact
    assert ev.lower_method(relu_mlp(), "l2", (1, SIDE, SIDE)) == ("certified", "")


def test_a_lower_bound_above_the_measured_distance_is_flagged(tmp_path: Path) -> None:
    res = _eval(
        tmp_path / "run",
        lower_bounds="exact",
        norms="linf",
        attacks={"linf": TooShort()},
        classifiers={"relu": relu_mlp()},
    )
    b = res.report["lower_bounds"]["relu"]["linf"]
    assert not b["consistent"] and len(b["violations"]) >= M - 1
    v = b["violations"][0]
    assert v["proven_lower_bound"] > v["measured"] and v["relative_excess"] > 10
    md = (res.run_dir / "report.md").read_text()
    assert "**INCONSISTENT: `relu`" in md and "| **NO** |" in md


def test_default_none_leaves_the_report_as_before(tmp_path: Path) -> None:
    plain = _eval(tmp_path / "run", classifiers={"relu": relu_mlp()})
    assert "lower_bounds" not in plain.report
    assert not [k for k in plain.statuses() if k.startswith("lower-")]
    assert "lower bound" not in (plain.run_dir / "report.md").read_text().lower()
    assert plain.report["evaluation_settings"]["lower_bounds"] == "none"
    # asking for lower bounds afterwards measures nothing again
    later = _eval(tmp_path / "run", classifiers={"relu": relu_mlp()}, lower_bounds="auto")
    st = later.statuses()
    assert st["measure-relu"] == "loaded" and st["unc-relu-l2"] == "loaded" and st["unc-relu-linf"] == "loaded"
    assert later.report["classifiers"] == plain.report["classifiers"]


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        (
            {"lower_bounds": "milp"},
            ValueError,
            r"lower_bounds must be one of none, certified, exact, auto, got lower_bounds='milp'",
        ),
        ({"lower_bounds": True}, TypeError, r"lower_bounds must be a string.*got lower_bounds=True"),
        (
            {"lower_bound_samples": 0},
            ValueError,
            r"lower_bound_samples must be an integer >= 1, got lower_bound_samples=0",
        ),
        (
            {"lower_bound_samples": 2.5},
            TypeError,
            r"lower_bound_samples must be an integer, got lower_bound_samples=2.5",
        ),
    ],
)
def test_bad_options_are_named(options: dict[str, Any], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        _eval(None, **options)
    with pytest.raises(error, match=match):
        ExperimentConfig(**options)


def test_cli_options(capsys: pytest.CaptureFixture[str]) -> None:
    parser = evaluate_cli.build_parser()
    args = ["--generator", "m:g", "--classifier", "a=m:f", "--latent-dim", "3"]
    ns = parser.parse_args([*args, "--lower-bounds", "auto", "--lower-bound-samples", "7"])
    assert (ns.lower_bounds, ns.lower_bound_samples) == ("auto", 7)
    ns = parser.parse_args(args)
    assert (ns.lower_bounds, ns.lower_bound_samples) == ("none", 50)
    with pytest.raises(SystemExit):
        parser.parse_args([*args, "--lower-bounds", "milp"])
    assert "--lower-bounds: invalid choice: 'milp'" in capsys.readouterr().err
    from isobound_torch import cli

    ns = cli.build_parser().parse_args(["--lower-bounds", "exact", "--lower-bound-samples", "9"])
    cfg = cli.config_from_args(ns)
    assert (cfg.lower_bounds, cfg.lower_bound_samples) == ("exact", 9)
    assert (cfg.evaluation_settings().lower_bounds, cfg.evaluation_settings().lower_bound_samples) == ("exact", 9)
