"""Tests for isobound_torch.constructions: hygiene and validation of the Theorem 2 and 3 tools.

The exactness oracles (projection of an isometric generator, Theorem 2 on a
linear setup, Eq. (6) below the measured transfer) are in
``test_measurement_oracles.py``; this file checks side effects, the
straight-through gradient and bad input.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from isobound_torch import DeepFool  # noqa: E402
from isobound_torch.constructions import (  # noqa: E402
    ProjectionClassifier,
    project_to_latent,
    transfer_measurement,
)

F64 = torch.float64


def linear_pair(seed: int = 0) -> tuple[nn.Module, nn.Module]:
    """A generator R^3 -> R^5 and a 4-class classifier on R^5, float64, eval mode, trainable."""
    torch.manual_seed(seed)
    return nn.Linear(3, 5).to(F64).eval(), nn.Linear(5, 4).to(F64).eval()


def no_grads(*modules: nn.Module) -> bool:
    return all(p.grad is None for m in modules for p in m.parameters())


def test_projection_leaves_no_gradients_on_the_models() -> None:
    g, f = linear_pair()
    x = g(torch.randn(4, 3, dtype=F64)).detach()
    project_to_latent(g, x, 3, steps=5, restarts=2)
    assert no_grads(g), "the latent projection must not fill the generator's .grad"
    clf = ProjectionClassifier(f, g, 3, steps=5, restarts=1)
    DeepFool(max_iter=3)(clf, x)
    assert no_grads(g, f)
    assert all(p.requires_grad for p in list(g.parameters()) + list(f.parameters()))


def test_projection_classifier_value_and_straight_through_gradient() -> None:
    g, f = linear_pair(2)
    clf = ProjectionClassifier(f, g, 3, steps=300, restarts=1)
    x = torch.randn(3, 5, dtype=F64, requires_grad=True)  # off the range of g
    out = clf(x)
    proj = clf.project(x.detach())
    torch.testing.assert_close(out.detach(), f(proj).detach())
    # the backward pass treats the projection as the identity: d out_k / dx = W_k of f
    (grad,) = torch.autograd.grad(out[:, 1].sum(), x)
    torch.testing.assert_close(grad, f.weight[1].detach().expand(3, 5))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"latent_dim": 0}, r"latent_dim must be a positive integer, got latent_dim=0"),
        ({"latent_dim": True}, r"latent_dim must be a positive integer, got latent_dim=True"),
        ({"restarts": 0}, r"restarts must be a positive integer, got restarts=0"),
    ],
)
def test_project_to_latent_validates(kwargs: dict[str, Any], match: str) -> None:
    g, _ = linear_pair()
    args: dict[str, Any] = {"latent_dim": 3, **kwargs}
    latent_dim = args.pop("latent_dim")
    with pytest.raises(ValueError, match=match):
        project_to_latent(g, torch.zeros(2, 5, dtype=F64), latent_dim, **args)


@pytest.mark.parametrize("etas", [[], [[0.1]], [-0.1], [float("nan")], [float("inf")]])
def test_transfer_measurement_validates_etas(etas: Any) -> None:
    g, f = linear_pair()
    with pytest.raises(ValueError, match=r"etas must be a non-empty 1-d array of finite norms >= 0"):
        transfer_measurement(f, f, g, torch.zeros(2, 3, dtype=F64), etas)


def test_transfer_of_a_classifier_with_itself_is_its_own_robustness() -> None:
    # f and h identical: disagreement 0, and one perturbation fools both exactly
    # when it fools f, so the fraction at eta is the empirical cdf of r_unc(f)
    g, f = linear_pair(3)
    z = torch.randn(40, 3, dtype=F64, generator=torch.Generator().manual_seed(0))
    etas = np.array([0.05, 0.2, 1.0, 5.0])
    res = transfer_measurement(f, f, g, z, etas, attack=DeepFool(overshoot=0.0))
    assert res.disagreement == 0.0
    x = g(z).detach()
    r = DeepFool(overshoot=0.0)(f, x).norm.numpy()
    expected = (r[None, :] <= etas[:, None] * (1 + 1e-6)).mean(axis=1)
    np.testing.assert_array_equal(res.fooled_both, expected)
    assert np.all(np.diff(res.fooled_both) >= 0)
