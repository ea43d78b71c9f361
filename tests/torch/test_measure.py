"""Tests for isobound_torch.measure beyond the exactness oracles of test_measurement_oracles.py.

Model hygiene (modes, gradients), the extra per-sample fields, the conservative
class proportions (checked against random proportion vectors inside the
intervals), and bad input.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

import isobound  # noqa: E402
from isobound_torch.measure import (  # noqa: E402
    BoundInputs,
    bound_inputs,
    in_distribution_robustness,
    latent_robustness,
    unconstrained_robustness,
)

F64 = torch.float64
MEASUREMENTS = [unconstrained_robustness, latent_robustness, in_distribution_robustness]


def small_pair(seed: int = 0) -> tuple[nn.Module, nn.Module]:
    """Generator R^3 -> R^8 with batch norm, 4-class classifier with dropout; eval mode, float64."""
    torch.manual_seed(seed)
    g = nn.Sequential(nn.Linear(3, 8), nn.BatchNorm1d(8), nn.Tanh()).to(F64).eval()
    f = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 4)).to(F64).eval()
    return g, f


def latents(n: int = 24, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, 3, dtype=F64, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("measure", MEASUREMENTS)
@pytest.mark.parametrize("which", ["generator", "classifier"])
def test_training_mode_layers_are_refused_and_nothing_changes(measure: Any, which: str) -> None:
    g, f = small_pair()
    module = g if which == "generator" else f
    module.train()
    before = {k: v.clone() for k, v in g.state_dict().items()}
    layer = "BatchNorm1d" if which == "generator" else "Dropout"
    with pytest.raises(ValueError, match=rf"{which} has {layer} layer .* in training mode.*{which}\.eval\(\)"):
        measure(f, g, latents())
    assert all(torch.equal(before[k], v) for k, v in g.state_dict().items()), "running statistics moved"
    assert module.training, "the measurement must not switch modes for the caller"


@pytest.mark.parametrize("measure", MEASUREMENTS)
def test_measurements_leave_no_gradients_and_report_image_norms(measure: Any) -> None:
    g, f = small_pair()
    z = latents()
    res = measure(f, g, z)
    assert all(p.grad is None for m in (g, f) for p in m.parameters())
    assert all(p.requires_grad for m in (g, f) for p in m.parameters())
    with torch.no_grad():
        x = g(z)
    assert res.image_norms is not None and res.image_norms.dtype == F64
    torch.testing.assert_close(res.image_norms, x.flatten(1).norm(dim=1))
    assert res.distances.dtype == F64 and res.distances.shape == (len(z),)
    assert res.class_proportions.dtype == np.float64 and res.class_proportions.shape == (4,)
    assert res.class_proportions.sum() == pytest.approx(1.0)
    with torch.no_grad():
        np.testing.assert_array_equal(res.labels.numpy(), f(x).argmax(1).numpy())


def test_in_distribution_distance_is_the_image_of_the_latent_move() -> None:
    g, f = small_pair(2)
    z = latents(30, 3)
    lat = latent_robustness(f, g, z)
    ind = in_distribution_robustness(f, g, z, latent=lat)
    assert lat.success.any()
    with torch.no_grad():
        moved = (g(lat.perturbed) - g(z)).flatten(1).norm(dim=1)
    ok = lat.success
    torch.testing.assert_close(ind.distances[ok], moved[ok])
    assert torch.isinf(ind.distances[~ok]).all()
    # the latent move really flips f o g
    with torch.no_grad():
        assert (f(g(lat.perturbed[ok])).argmax(1) != lat.labels[ok]).all()


def test_chunked_measurement_with_a_progress_bar_matches_one_batch(capsys: pytest.CaptureFixture[str]) -> None:
    g, f = small_pair(4)
    z = latents(20, 5)
    one = unconstrained_robustness(f, g, z)
    parts = unconstrained_robustness(f, g, z, batch_size=6, progress=True)
    torch.testing.assert_close(parts.distances, one.distances, rtol=1e-12, atol=0)
    assert torch.equal(parts.labels, one.labels)
    np.testing.assert_array_equal(parts.class_proportions, one.class_proportions)
    assert "r_unc" in capsys.readouterr().err


# ---------------------------------------------------------------- conservative proportions
def inputs_from_counts(counts: list[int], confidence: float = 0.9) -> BoundInputs:
    labels = torch.cat([torch.full((c,), i, dtype=torch.int64) for i, c in enumerate(counts)])
    fake = type("Fake", (), {})()
    fake.labels, fake.n_classes, fake.image_norms = labels, len(counts), None
    return bound_inputs(fake, confidence=confidence)  # type: ignore[arg-type]


def feasible_vectors(lower: np.ndarray, upper: np.ndarray, rng: np.random.Generator, n: int) -> list[np.ndarray]:
    """Probability vectors inside the box ``[lower, upper]``: random vertices and interior points.

    A vertex fills the classes in a random order up to their upper ends (the
    concave ``B`` is smallest at vertices); an interior point scales random
    fractions of every interval to the right total.
    """
    slack = 1.0 - lower.sum()
    room = upper - lower
    assert slack >= 0 and room.sum() >= slack
    out = []
    for i in range(n):
        if i % 2 == 0:  # vertex
            p = lower.copy()
            left = slack
            for k in rng.permutation(lower.size):
                add = min(room[k], left)
                p[k] += add
                left -= add
        else:  # interior: p = lower + clip(s * u) * room with s set by bisection
            u = rng.uniform(0.05, 1.0, lower.size)
            lo, hi = 0.0, 1.0 / u.min()
            for _ in range(200):
                s = 0.5 * (lo + hi)
                lo, hi = (s, hi) if (np.minimum(s * u, 1.0) * room).sum() < slack else (lo, s)
            p = lower + np.minimum(hi * u, 1.0) * room
        out.append(p / p.sum())
    return out


@pytest.mark.parametrize("counts", [[50, 30, 15, 5], [120, 3, 3, 0, 74], [10, 10, 10, 10, 10, 10], [400, 1], [7, 0, 0]])
def test_conservative_bound_is_below_every_bound_in_the_intervals(counts: list[int]) -> None:
    inp = inputs_from_counts(counts)
    q = inp.conservative_class_probs
    assert q.shape == (len(counts),) and np.all(q >= 0) and q.sum() == pytest.approx(1.0, abs=1e-12)
    safe = inp.bound(conservative=True)
    eps = np.array([0.01, 0.1, 0.3, 0.7, 1.5, 3.0])
    floor = safe.cdf(eps)
    rng = np.random.default_rng(sum(counts))
    candidates = [*feasible_vectors(inp.lower, inp.upper, rng, 40), inp.class_proportions]
    for p in candidates:
        other = isobound.IsoperimetricBound(p[p > 0], normalize=True).cdf(eps)
        assert np.all(floor <= other * (1 + 1e-12)), (p, floor, other)
    # quantiles of the conservative R* are larger: the safe side for an upper bound on robustness
    assert safe.ppf(0.25) >= inp.bound().ppf(0.25)


def test_conservative_probs_majorize_the_point_estimate() -> None:
    inp = inputs_from_counts([60, 25, 10, 5])
    q = np.sort(inp.conservative_class_probs)[::-1]
    p = np.sort(inp.class_proportions)[::-1]
    assert np.all(np.cumsum(q) >= np.cumsum(p) - 1e-15)
    assert q[0] > p[0]  # strictly more unequal: the intervals have width
    # the most frequent class gets the largest conservative probability
    assert int(np.argmax(inp.conservative_class_probs)) == 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"confidence": 0.0}, r"confidence must lie in \(0, 1\), got confidence=0.0"),
        ({"confidence": "high"}, r"confidence must be a real number, got confidence='high'"),
        ({"latent_dim": 0}, r"latent_dim must be an integer >= 1, got latent_dim=0"),
        ({"latent_dim": 2.5}, r"latent_dim must be an integer >= 1, got latent_dim=2.5"),
    ],
)
def test_bound_inputs_validates(kwargs: dict[str, Any], match: str) -> None:
    g, f = small_pair()
    res = latent_robustness(f, g, latents(8))
    with pytest.raises(ValueError, match=match):
        bound_inputs(res, **kwargs)


def test_bound_inputs_uses_the_measured_image_norms() -> None:
    g, f = small_pair()
    z = latents(16)
    res = unconstrained_robustness(f, g, z)
    inp = bound_inputs(res, latent_dim=3)
    with torch.no_grad():
        expected = float(g(z).flatten(1).norm(dim=1).mean())
    assert inp.image_norm == pytest.approx(expected, rel=1e-12)
    assert inp.latent_norm == pytest.approx(isobound.expected_gaussian_norm(3))


class _PlainAttack:
    """An attack with DeepFool's call contract whose result is not a dataclass (as another library's might be)."""

    norm = "l2"
    bounds = None

    def __call__(self, model: Any, x: torch.Tensor) -> Any:
        from isobound_torch import DeepFool

        res = DeepFool(refine=True)(model, x)

        class Result:
            distances, success, label, adversarial = res.distances, res.success, res.label, res.adversarial

        return Result()


def test_any_attack_with_the_contract_is_accepted_and_norms_are_checked() -> None:
    g, f = small_pair()
    z = latents()
    from isobound_torch import DeepFool

    mine = unconstrained_robustness(f, g, z, _PlainAttack())
    ref = unconstrained_robustness(f, g, z, DeepFool(refine=True))
    torch.testing.assert_close(mine.distances, ref.distances)
    with pytest.raises(ValueError, match="batch_size= needs an attack whose result is a dataclass"):
        unconstrained_robustness(f, g, z, _PlainAttack(), batch_size=5)
    linf = unconstrained_robustness(f, g, z, DeepFool(norm="linf"))
    assert linf.norm == "linf"
    torch.testing.assert_close(linf.image_norms, g(z).abs().amax(dim=1).double())
    with pytest.raises(ValueError, match="latent attacks must be l2"):
        latent_robustness(f, g, z, DeepFool(norm="linf"))
    lat = latent_robustness(f, g, z)
    r_inf = in_distribution_robustness(f, g, z, latent=lat, norm="linf")
    r_2 = in_distribution_robustness(f, g, z, latent=lat)
    assert r_inf.norm == "linf" and bool((r_inf.distances <= r_2.distances).all())
    with pytest.raises(ValueError, match=r"norm must be one of 'l2', 'linf', got norm='l1'"):
        in_distribution_robustness(f, g, z, latent=lat, norm="l1")
