"""Certified radii of classifiers: lower bounds on the minimal adversarial perturbation.

Oracles: the closed form ``min_k (f_y - f_k)(x) / ||w_y - w_k||_*`` for affine classifiers
(dual norm: l2 for l2, l1 for l-inf), DeepFool's distances (an upper estimate of the
minimal one), and brute force (random points inside the certified ball keep the label).
"""

from __future__ import annotations

import math
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from isobound_torch import DeepFool, UnsupportedModuleError, certified_radius  # noqa: E402
from isobound_torch.models import LeNet, SmallCNN  # noqa: E402

F64 = torch.float64


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Any:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _affine_classifier(n_in: int, k: int, seed: int) -> nn.Module:
    gen = torch.Generator().manual_seed(seed)
    f = nn.Sequential(nn.Flatten(), nn.Linear(n_in, k)).to(F64).eval()
    with torch.no_grad():
        f[1].weight.copy_(torch.randn(k, n_in, generator=gen, dtype=F64))
        f[1].bias.copy_(torch.randn(k, generator=gen, dtype=F64))
    return f


def _closed_form(f: nn.Module, x: torch.Tensor, norm: str) -> torch.Tensor:
    w, b = f[1].weight.detach(), f[1].bias.detach()
    logits = x.flatten(1) @ w.T + b
    y = logits.argmax(1)
    dual = 2 if norm == "l2" else 1
    out = torch.full((x.shape[0],), math.inf, dtype=F64)
    for i in range(x.shape[0]):
        for k in range(w.shape[0]):
            if k != y[i]:
                d = (logits[i, y[i]] - logits[i, k]) / torch.linalg.vector_norm(w[y[i]] - w[k], ord=dual)
                out[i] = min(out[i], d)
    return out


@pytest.mark.parametrize("norm", ["l2", "linf"])
@pytest.mark.parametrize("method", ["best", "lipschitz", "mean-value", "interval"])
def test_affine_classifier_radius_is_below_the_exact_distance_and_close(norm: str, method: str) -> None:
    f = _affine_classifier(12, 5, seed=3)
    x = torch.randn(20, 1, 3, 4, generator=torch.Generator().manual_seed(4), dtype=F64)
    exact = _closed_form(f, x, norm)
    r = certified_radius(f, x, norm=norm, method=method, steps=14)
    assert r.dtype == F64 and r.shape == (20,)
    assert bool((r <= exact).all())
    if method in ("best", "lipschitz"):
        assert bool((r >= exact * (1 - 1e-12)).all())  # the margin over the row difference is exact
    elif method == "mean-value" or norm == "linf":
        assert bool((r >= exact * (1 - 2.0**-13)).all())  # up to the bisection
    else:  # plain intervals of the l2 ball's box: loose by the box, still below
        assert bool((r > 0).all())


def _mlp(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    layers = [nn.Flatten(), nn.Linear(16, 24), nn.ReLU(), nn.Linear(24, 24), nn.Tanh(), nn.Linear(24, 4)]
    return nn.Sequential(*layers).eval()


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_radius_is_below_deepfool_and_brute_force_finds_no_adversarial_inside(norm: str) -> None:
    f = _mlp(0)
    x = torch.rand(24, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    r = certified_radius(f, x, norm=norm)
    found = DeepFool(norm=norm)(f, x)
    assert bool((r.float() <= found.norm).all())
    assert bool((r > 0).any())
    # brute force: random points strictly inside the certified ball keep the prediction
    y = f(x).argmax(1)
    gen = torch.Generator().manual_seed(2)
    f64 = f.to(F64)
    with torch.no_grad():
        for _ in range(20):
            u = torch.randn(x.shape, generator=gen, dtype=F64)
            if norm == "l2":
                u = u / u.flatten(1).norm(dim=1)[:, None, None, None]
            else:
                u = u.sign()
            x_adv = x.to(F64) + 0.999 * r[:, None, None, None] * u
            assert bool((f64(x_adv).argmax(1) == y).all())


def test_the_local_method_beats_the_global_one_on_a_deep_net() -> None:
    f = _mlp(5)
    x = torch.rand(16, 1, 4, 4, generator=torch.Generator().manual_seed(6))
    glob = certified_radius(f, x, method="lipschitz")
    best = certified_radius(f, x, method="best")
    assert bool((best >= glob).all()) and bool((best > glob).any())


def test_convolutional_classifiers_with_pooling_and_batch_norm() -> None:
    torch.manual_seed(7)
    for f in (LeNet(1, 8, 10, width_scale=0.5), SmallCNN(1, 8, 10, width_scale=0.125)):
        for m in f.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
        f.eval()
        x = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(8))
        r = certified_radius(f, x, bounds=(0.0, 1.0))
        found = DeepFool(bounds=(0.0, 1.0))(f, x)
        assert bool((r.float() <= found.norm).all())
        assert bool((r >= 0).all())


def test_the_input_box_can_only_help() -> None:
    f = _mlp(9)
    x = torch.rand(10, 1, 4, 4, generator=torch.Generator().manual_seed(10))
    free = certified_radius(f, x, method="mean-value")
    boxed = certified_radius(f, x, method="mean-value", bounds=(0.0, 1.0))
    assert bool((boxed >= free * (1 - 2.0**-11)).all())


def test_a_tie_at_the_input_certifies_nothing() -> None:
    f = nn.Linear(2, 2, bias=False).to(F64).eval()
    with torch.no_grad():
        f.weight.copy_(torch.tensor([[1.0, 0.0], [-1.0, 0.0]], dtype=F64))
    x = torch.tensor([[0.0, 1.0], [1e-300, 1.0], [0.25, 3.0]], dtype=F64)
    r = certified_radius(f, x)
    assert r[0] == 0.0 and r[1] <= 1e-300 and r[2] == pytest.approx(0.25, rel=1e-12) and r[2] <= 0.25


def test_a_jacobian_beyond_the_memory_budget_falls_back_to_intervals_or_is_refused() -> None:
    f = _affine_classifier(12, 5, seed=3)
    x = torch.randn(8, 1, 3, 4, generator=torch.Generator().manual_seed(4), dtype=F64)
    exact = _closed_form(f, x, "l2")
    # "best" still has the (exact, for an affine classifier) Lipschitz radius and the interval search
    r = certified_radius(f, x, max_memory=1)
    assert bool((r <= exact).all()) and bool((r >= exact * (1 - 1e-12)).all())
    both = torch.maximum(certified_radius(f, x, method="lipschitz"), certified_radius(f, x, method="interval"))
    assert torch.equal(r, both)
    with pytest.raises(ValueError, match=r"method='mean-value' needs about .* GiB per input .* above max_memory=1"):
        certified_radius(f, x, method="mean-value", max_memory=1)
    # within a small budget the batches shrink and the radii do not change
    x = torch.rand(6, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    small = certified_radius(_mlp(0), x, max_memory=80_000)  # 2 inputs per propagation
    big = certified_radius(_mlp(0), x)
    torch.testing.assert_close(small, big, rtol=1e-9, atol=0.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"norm": "l1"}, r"norm must be 'l2' or 'linf', got norm='l1'"),
        ({"method": "crown"}, r"method must be one of best, lipschitz, mean-value, interval, got method='crown'"),
        ({"steps": 0}, r"steps must be an integer >= 1, got steps=0"),
        ({"batch_size": 0}, r"batch_size must be an integer >= 1, got batch_size=0"),
        ({"max_memory": 0}, r"max_memory must be an integer >= 1, got max_memory=0"),
        ({"bounds": (1.0, 0.0)}, r"bounds must be finite with low < high"),
        ({"bounds": "01"}, r"bounds must be a pair \(low, high\) of numbers, got bounds='01'"),
        ({"bounds": (0.0, 1.0, 2.0)}, r"bounds must be a pair"),
        ({"bounds": (0.0, 0.5)}, r"x must lie within bounds=\(0.0, 0.5\)"),
    ],
)
def test_certified_radius_validates_options(kwargs: dict[str, Any], match: str) -> None:
    f = _mlp(0)
    with pytest.raises(ValueError, match=match):
        certified_radius(f, torch.linspace(0.05, 0.95, 32).reshape(2, 1, 4, 4), **kwargs)


def test_certified_radius_validates_inputs_and_models() -> None:
    f = _mlp(0)
    with pytest.raises(ValueError, match=r"x contains 1 NaN or infinite entry"):
        x = torch.rand(2, 1, 4, 4)
        x[0, 0, 0, 0] = math.nan
        certified_radius(f, x)
    with pytest.raises(ValueError, match=r"x must be a torch.Tensor"):
        certified_radius(f, [[0.0] * 16])
    with pytest.raises(ValueError, match=r"logits of shape \(batch, K\) with K >= 2"):
        certified_radius(nn.Sequential(nn.Flatten(), nn.Linear(16, 1)).eval(), torch.rand(2, 1, 4, 4))
    with pytest.raises(ValueError, match=r"classifier does not accept inputs of shape"):
        certified_radius(f, torch.rand(2, 1, 5, 5))
    with pytest.raises(ValueError, match=r"training mode"):
        training = nn.Sequential(nn.Flatten(), nn.Linear(16, 3), nn.BatchNorm1d(3)).train()
        certified_radius(training, torch.rand(2, 1, 4, 4))
    with pytest.raises(UnsupportedModuleError, match=r"Softplus"):
        certified_radius(nn.Sequential(nn.Flatten(), nn.Linear(16, 3), nn.Softplus()).eval(), torch.rand(2, 1, 4, 4))
