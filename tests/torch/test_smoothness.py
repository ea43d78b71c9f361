"""Tests for isobound_torch.smoothness beyond the linear-generator oracle of test_measurement_oracles.py.

* the number of latent samples follows (1 - delta)^N <= (1 - confidence) / m;
* on g(z) = A tanh(z) the per-sample Jacobian is A diag(1 - tanh(z)^2), so the
  power iteration can be checked against an SVD at the very same latents, and the
  ascent's sup can never exceed the global Lipschitz bound ||A|| t;
* model hygiene (mode, gradients) and bad input.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

import isobound  # noqa: E402
from isobound_torch.smoothness import (  # noqa: E402
    JacobianNormEstimate,
    estimate_modulus,
    jacobian_norm_estimate,
    jacobian_spectral_modulus,
    local_sup,
    required_samples,
)

F64 = torch.float64
D, M = 4, 7


class TanhGenerator(nn.Module):
    """``g(z) = A tanh(z)``: Lipschitz constant at most ``||A||_2``, Jacobian known in closed form."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.A = nn.Parameter(torch.randn(M, D, generator=gen, dtype=F64))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(z) @ self.A.T


class RowCounter:
    """Wraps a generator and counts the latent rows it sees outside autograd (the base images)."""

    def __init__(self, g: Any) -> None:
        self.g, self.rows = g, 0

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        if not torch.is_grad_enabled():
            self.rows += z.shape[0]
        return self.g(z)


@pytest.mark.parametrize(("delta", "confidence", "m"), [(0.1, 0.9, 1), (0.2, 0.8, 3), (0.05, 0.5, 2)])
def test_default_sample_count_is_the_smallest_that_gives_the_confidence(
    delta: float, confidence: float, m: int
) -> None:
    n = required_samples(delta, confidence, m)
    beta = (1 - confidence) / m
    assert (1 - delta) ** n <= beta < (1 - delta) ** (n - 1)
    counter = RowCounter(TanhGenerator())
    radii = [0.1 * (i + 1) for i in range(m)]
    omega = estimate_modulus(
        counter, D, radii=radii, failure_prob=delta, confidence=confidence, steps=1, restarts=1, dtype=F64
    )
    assert counter.rows == m * n
    assert omega.failure_prob == delta and list(omega.radii) == radii


def test_more_samples_than_needed_are_used_and_fewer_raise() -> None:
    n = required_samples(0.2, 0.8, 1)
    counter = RowCounter(TanhGenerator())
    estimate_modulus(counter, D, radii=[0.3], n_samples=n + 5, failure_prob=0.2, confidence=0.8, steps=1, dtype=F64)
    assert counter.rows == n + 5
    with pytest.raises(ValueError, match=rf"n_samples={n - 1} is too few .* at least {n} are needed"):
        estimate_modulus(counter, D, radii=[0.3], n_samples=n - 1, failure_prob=0.2, confidence=0.8)


def test_ascent_stays_below_the_lipschitz_bound_and_is_monotone() -> None:
    g = TanhGenerator(1)
    lip = float(torch.linalg.matrix_norm(g.A.detach(), 2))  # tanh is 1-Lipschitz
    radii = np.array([0.05, 0.2, 0.8, 2.0])
    omega = estimate_modulus(g, D, radii=radii, failure_prob=0.2, confidence=0.8, steps=15, dtype=F64)
    assert isinstance(omega, isobound.PiecewiseLinear) and omega.interpolation == "step"
    assert np.all(omega.values <= lip * radii * (1 + 1e-12))
    assert np.all(np.diff(omega.values) >= 0)
    # near z = 0 the slope is close to ||A||: small radii get most of the way there
    assert omega.values[0] >= 0.5 * lip * radii[0]
    assert all(p.grad is None for p in g.parameters())


def test_local_sup_is_at_least_any_point_of_the_ball_it_was_started_from() -> None:
    g = TanhGenerator(2)
    z = torch.randn(6, D, dtype=F64, generator=torch.Generator().manual_seed(3))
    t = 0.4
    sup = local_sup(g, z, t, steps=20, restarts=2, generator_rng=torch.Generator().manual_seed(4))
    # random points of the sphere are never better than the ascent's best
    u = torch.randn(200, 6, D, dtype=F64, generator=torch.Generator().manual_seed(5))
    u = t * u / u.norm(dim=2, keepdim=True)
    with torch.no_grad():
        gaps = (g(z[None] + u) - g(z)[None]).norm(dim=2)
    assert (sup >= gaps.max(dim=0).values * (1 - 1e-9)).all()
    lip = float(torch.linalg.matrix_norm(g.A.detach(), 2))
    assert (sup <= lip * t * (1 + 1e-12)).all()


def test_jacobian_power_iteration_matches_the_svd_at_the_same_latents() -> None:
    g = TanhGenerator(3)
    n, seed = 16, 7
    est = jacobian_norm_estimate(g, D, n_samples=n, iterations=60, seed=seed, dtype=F64)
    assert isinstance(est, JacobianNormEstimate) and not isinstance(est, isobound.Modulus)
    # the same latents the function draws: seed -> torch.Generator -> randn(n, D)
    z = torch.randn(n, D, generator=torch.Generator().manual_seed(seed), dtype=F64)
    assert torch.equal(est.latents, z)
    jac = g.A.detach()[None] * (1 - torch.tanh(z) ** 2)[:, None, :]
    exact = torch.linalg.matrix_norm(jac, 2)
    # power iteration approaches each norm from below (one latent with close singular values
    # has not converged after 60 steps: the per-sample value is a lower estimate)
    assert bool((est.norms <= exact * (1 + 1e-12)).all())
    assert bool((est.norms >= 0.99 * exact).all())
    assert est.lower_estimate == pytest.approx(exact.max().item(), rel=1e-8)
    assert est.lower_estimate <= float(torch.linalg.matrix_norm(g.A.detach(), 2)) * (1 + 1e-12)
    assert "lower estimate" in repr(est)
    assert all(p.grad is None for p in g.parameters())


class SteepSlab(nn.Module):
    """``g(z) = z + A clamp(z_1, -W, W) e_1`` (the issue's reproducer r2): Lipschitz constant 1 + A."""

    def __init__(self, d: int, a: float = 1e4, w: float = 1e-4) -> None:
        super().__init__()
        self.a, self.w = a, w
        e1 = torch.zeros(d, dtype=F64)
        e1[0] = 1.0
        self.register_buffer("e1", e1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z + self.a * torch.clamp(z[:, :1], -self.w, self.w) * self.e1


def test_a_sampled_jacobian_norm_is_no_modulus_and_the_bound_refuses_it() -> None:
    d = 10
    g = SteepSlab(d).eval()
    est = jacobian_norm_estimate(g, d, n_samples=64, dtype=F64)
    # the slab |z_1| < 1e-4 is never sampled: the estimate sees slope 1 where the truth is 10001
    assert est.lower_estimate == pytest.approx(1.0, rel=1e-6)
    with pytest.raises(ValueError, match="omega must be an isobound Modulus"):
        isobound.IsoperimetricBound([0.5, 0.5]).through(est)  # type: ignore[arg-type]


def test_the_old_name_warns_and_returns_the_estimate_record() -> None:
    with pytest.warns(DeprecationWarning, match="jacobian_spectral_modulus is deprecated"):
        est = jacobian_spectral_modulus(TanhGenerator(), D, n_samples=3, dtype=F64)
    assert isinstance(est, JacobianNormEstimate)


@pytest.mark.parametrize(
    "call",
    [
        lambda g: estimate_modulus(g, D, radii=[0.5], failure_prob=0.3, confidence=0.5, steps=1),
        lambda g: jacobian_norm_estimate(g, D, n_samples=4),
        lambda g: local_sup(g, torch.zeros(3, D), 0.5, steps=1),
    ],
)
def test_training_mode_batch_norm_is_refused(call: Any) -> None:
    g = nn.Sequential(nn.Linear(D, M), nn.BatchNorm1d(M)).train()
    before = g[1].running_mean.clone()
    with pytest.raises(ValueError, match=r"generator has BatchNorm1d layer '1' in training mode"):
        call(g)
    assert torch.equal(g[1].running_mean, before) and g.training


def test_progress_bar(capsys: pytest.CaptureFixture[str]) -> None:
    estimate_modulus(
        TanhGenerator(), D, radii=[0.2, 0.4], failure_prob=0.3, confidence=0.5, steps=1, progress=True, dtype=F64
    )
    assert "omega" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"radii": []}, r"radii must be a non-empty 1-d array of positive numbers"),
        ({"radii": [0.0, 1.0]}, r"radii must be a non-empty 1-d array of positive numbers"),
        ({"radii": [math.nan]}, r"radii must be a non-empty 1-d array of positive numbers"),
        ({"radii": [[0.1, 0.2]]}, r"radii must be a non-empty 1-d array of positive numbers"),
        ({"radii": [0.2, 0.2]}, r"radii must be strictly increasing"),
        ({"failure_prob": 0.0}, r"failure_prob must lie in \(0, 1\), got failure_prob=0.0"),
        ({"failure_prob": 1.0}, r"failure_prob must lie in \(0, 1\), got failure_prob=1.0"),
        ({"confidence": 1.0}, r"confidence must lie in \(0, 1\), got confidence=1.0"),
        ({"confidence": -0.5}, r"confidence must lie in \(0, 1\), got confidence=-0.5"),
        ({"n_samples": 0}, r"n_samples must be a positive integer, got n_samples=0"),
        ({"n_samples": True}, r"n_samples must be a positive integer, got n_samples=True"),
        ({"n_samples": 30.0}, r"n_samples must be a positive integer, got n_samples=30.0"),
    ],
)
def test_estimate_modulus_validates(kwargs: dict[str, Any], match: str) -> None:
    args: dict[str, Any] = {"radii": [0.5], "failure_prob": 0.3, "confidence": 0.5, **kwargs}
    with pytest.raises(ValueError, match=match):
        estimate_modulus(TanhGenerator(), D, **args)


@pytest.mark.parametrize("latent_dim", [0, -1, True, 2.0])
def test_latent_dim_is_validated(latent_dim: Any) -> None:
    with pytest.raises(ValueError, match=r"latent_dim must be a positive integer"):
        estimate_modulus(TanhGenerator(), latent_dim, radii=[0.5], failure_prob=0.3, confidence=0.5)
    with pytest.raises(ValueError, match=r"latent_dim must be a positive integer"):
        jacobian_norm_estimate(TanhGenerator(), latent_dim)


def test_constant_generator_has_zero_jacobian_norms() -> None:
    def constant(z: torch.Tensor) -> torch.Tensor:
        return 0.0 * z + 1.0

    est = jacobian_norm_estimate(constant, D, n_samples=3, dtype=F64)
    assert torch.equal(est.norms, torch.zeros(3, dtype=F64))


@pytest.mark.parametrize(("kwargs", "match"), [({"n_samples": 0}, "n_samples"), ({"iterations": 0}, "iterations")])
def test_jacobian_norm_estimate_validates(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        jacobian_norm_estimate(TanhGenerator(), D, **kwargs)


def test_linf_ascent_stays_below_the_largest_row_norm_bound_and_norms_are_validated() -> None:
    # g(z) = A tanh(z): every pixel i moves by at most ||A_i||_2 t, so the l-infinity sup is <= t max_i ||A_i||_2
    g = TanhGenerator(3).eval()
    bound = float(g.A.detach().norm(dim=1).max())
    z = torch.randn(16, D, dtype=F64, generator=torch.Generator().manual_seed(0))
    for t in (0.1, 1.0):
        sup_inf = local_sup(g, z, t, norm="linf", generator_rng=torch.Generator().manual_seed(1))
        sup_2 = local_sup(g, z, t, norm="l2", generator_rng=torch.Generator().manual_seed(1))
        assert bool((sup_inf <= bound * t * (1 + 1e-12)).all())
        # ||.||_inf <= ||.||_2 at the same point, and ascent keeps the best
        assert bool((sup_inf <= sup_2 * (1 + 1e-9)).all())
    for bad in ("l1", "L2", None):
        with pytest.raises(ValueError, match=r"norm must be one of 'l2', 'linf'"):
            local_sup(g, z, 0.5, norm=bad)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=r"norm must be one of 'l2', 'linf'"):
            estimate_modulus(g, D, radii=[0.5], failure_prob=0.3, confidence=0.5, norm=bad)  # type: ignore[arg-type]
