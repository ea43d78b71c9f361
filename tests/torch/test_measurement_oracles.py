"""Measurements against exact oracles: latent-linear classifiers and linear generators."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import isobound  # noqa: E402
from isobound_torch.attacks import DeepFool  # noqa: E402
from isobound_torch.constructions import (  # noqa: E402
    ProjectionClassifier,
    project_to_latent,
    theorem2_check,
    transfer_measurement,
)
from isobound_torch.measure import (  # noqa: E402
    bound_inputs,
    class_proportions,
    in_distribution_robustness,
    latent_robustness,
    unconstrained_robustness,
)
from isobound_torch.smoothness import (  # noqa: E402
    estimate_modulus,
    jacobian_norm_estimate,
    required_samples,
)

D, M = 6, 15


@pytest.fixture(scope="module")
def linear_setup():
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(M, D, generator=gen, dtype=torch.float64)
    a_pinv = torch.linalg.pinv(a)
    w = torch.randn(D, generator=gen, dtype=torch.float64)
    c = 0.4

    def g(z):
        return z @ a.T

    def f(x):  # f o g is the half-space split w.z >= c in latent space
        s = (x @ a_pinv.T) @ w - c
        return torch.stack([s, -s], dim=1)

    return a, w, c, g, f


def test_latent_robustness_is_the_exact_hyperplane_distance(linear_setup):
    _, w, c, g, f = linear_setup
    z = torch.randn(400, D, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    res = latent_robustness(f, g, z, DeepFool(overshoot=0.0, refine=True))
    exact = (z @ w - c).abs() / w.norm()
    assert bool(res.success.all())
    # DeepFool adds its 1e-4 minimum step; refinement bisects it back to ~0
    np.testing.assert_allclose(res.distances.numpy(), exact.numpy(), atol=2e-4)
    assert res.class_proportions.shape == (2,)


def test_latent_ecdf_matches_the_bound_when_eq2_is_an_equality(linear_setup):
    _, _, _, g, f = linear_setup
    n = 4000
    z = torch.randn(n, D, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    res = latent_robustness(f, g, z, DeepFool(overshoot=0.0, refine=True), batch_size=1000)
    bound = isobound.IsoperimetricBound(res.class_proportions)
    grid = np.linspace(0.02, 2.5, 60)
    d = np.sort(res.distances.numpy())
    ecdf = np.searchsorted(d, grid, side="right") / n
    band = math.sqrt(math.log(2 / 1e-4) / (2 * n))
    assert np.max(np.abs(ecdf - bound.cdf(grid))) < band
    # and the band is tight enough to reject a wrong bound
    wrong = isobound.IsoperimetricBound.equiprobable(4)
    assert np.max(np.abs(ecdf - wrong.cdf(grid))) > band


def test_in_distribution_and_unconstrained_order(linear_setup):
    _, _, _, g, f = linear_setup
    z = torch.randn(200, D, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    attack = DeepFool(refine=True)
    lat = latent_robustness(f, g, z, attack)
    r_in = in_distribution_robustness(f, g, z, latent=lat)
    r_in_again = in_distribution_robustness(f, g, z, attack)
    np.testing.assert_allclose(r_in.distances.numpy(), r_in_again.distances.numpy(), rtol=1e-12)
    r_unc = unconstrained_robustness(f, g, z, attack)
    # unconstrained is a larger search space: never (much) longer than in-distribution
    assert np.all(r_unc.distances.numpy() <= r_in.distances.numpy() * 1.001 + 1e-6)
    np.testing.assert_array_equal(r_unc.class_proportions, lat.class_proportions)


def test_failed_attacks_are_infinite_and_chunking_is_invisible(linear_setup):
    _, _, _, g, f = linear_setup
    z = torch.randn(50, D, dtype=torch.float64, generator=torch.Generator().manual_seed(4))

    def constant(x):  # depends on x only through a zero gradient
        return 0.0 * x.sum(dim=1, keepdim=True) + torch.tensor([1.0, 0.0, 0.0], dtype=x.dtype)

    res = unconstrained_robustness(constant, g, z)
    assert bool(torch.isinf(res.distances).all()) and not bool(res.success.any())
    one = latent_robustness(f, g, z)
    chunked = latent_robustness(f, g, z, batch_size=7)
    np.testing.assert_allclose(one.distances.numpy(), chunked.distances.numpy(), rtol=1e-12)


def test_bound_inputs_intervals_cover_the_estimate(linear_setup):
    _, _, _, g, f = linear_setup
    z = torch.randn(300, D, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    lat = latent_robustness(f, g, z)
    bi = bound_inputs(lat, latent_dim=D, images=g(z), confidence=0.9)
    assert np.all(bi.lower <= bi.class_proportions) and np.all(bi.class_proportions <= bi.upper)
    assert bi.latent_norm == pytest.approx(isobound.expected_gaussian_norm(D))
    assert bi.image_norm > 0 and bi.n == 300
    assert isinstance(bi.bound(), isobound.IsoperimetricBound)
    with pytest.raises(ValueError, match=r"confidence=1\.5"):
        bound_inputs(lat, confidence=1.5)


def test_class_proportions_counts_empty_classes():
    p = class_proportions(torch.tensor([0, 0, 2]), 4)
    np.testing.assert_allclose(p, [2 / 3, 0, 1 / 3, 0])


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda f, g: latent_robustness(f, g, torch.randn(5)), "shape \\(batch, latent_dim\\)"),
        (lambda f, g: latent_robustness(f, g, torch.full((2, D), math.nan)), "NaN"),
        (lambda f, g: latent_robustness(f, g, torch.zeros(0, D)), "empty"),
        (lambda f, g: latent_robustness(f, g, torch.randn(3, D), batch_size=0), "batch_size=0"),
        (
            lambda f, g: latent_robustness(f, g, torch.randn(3, D), DeepFool(bounds=(0, 1))),
            "must not clip",
        ),
    ],
)
def test_measurement_validation(linear_setup, call, match):
    _, _, _, g, f = linear_setup

    def f32(x):
        return f(x.double())

    def g32(z):
        return g(z.double())

    with pytest.raises(ValueError, match=match):
        call(f32, g32)


# --- smoothness -------------------------------------------------------------------


def test_required_samples():
    assert required_samples(0.01, 0.99) == 459
    assert required_samples(0.01, 0.99, 10) > 459
    for bad in (0.0, 1.0, -0.1, 2, "x"):
        with pytest.raises(ValueError, match="failure_prob"):
            required_samples(bad, 0.9)
        with pytest.raises(ValueError, match="confidence"):
            required_samples(0.1, bad)


def test_modulus_of_a_linear_generator(linear_setup):
    a, _, _, g, _ = linear_setup
    sigma = float(torch.linalg.matrix_norm(a, 2))
    radii = [0.5, 1.0]
    omega = estimate_modulus(g, D, radii=radii, failure_prob=0.2, confidence=0.8, steps=30, dtype=torch.float64)
    assert isinstance(omega, isobound.PiecewiseLinear)
    assert omega.failure_prob == 0.2 and omega.interpolation == "step"
    # ascent finds the top singular direction (from below: it never exceeds it)
    np.testing.assert_allclose(omega.values, sigma * np.array(radii), rtol=2e-3)
    assert np.all(omega.values <= sigma * np.array(radii) * (1 + 1e-9))
    # the Jacobian of a linear map is A everywhere: the power-iteration estimate reaches ||A||
    est = jacobian_norm_estimate(g, D, n_samples=8, dtype=torch.float64)
    assert est.lower_estimate == pytest.approx(sigma, rel=1e-6)


def test_modulus_validation(linear_setup):
    _, _, _, g, _ = linear_setup
    with pytest.raises(ValueError, match="n_samples=3 is too few"):
        estimate_modulus(g, D, radii=[1.0], n_samples=3, failure_prob=0.01, confidence=0.99)
    with pytest.raises(ValueError, match="radii"):
        estimate_modulus(g, D, radii=[1.0, 0.5], failure_prob=0.1, confidence=0.9)
    with pytest.raises(ValueError, match="failure_prob"):
        estimate_modulus(g, D, radii=[1.0], failure_prob=1.5, confidence=0.9)
    with pytest.raises(ValueError, match="latent_dim"):
        estimate_modulus(g, 0, radii=[1.0], failure_prob=0.1, confidence=0.9)


# --- Theorems 2 and 3 -------------------------------------------------------------


def test_projection_recovers_latents_of_an_isometric_generator():
    q, _ = torch.linalg.qr(torch.randn(M, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(6)))

    def g(z):
        return z @ q.T

    z = torch.randn(20, 3, dtype=torch.float64)
    z_hat, residual = project_to_latent(g, g(z), 3, steps=300, restarts=2, lr=0.1)
    np.testing.assert_allclose(z_hat.numpy(), z.numpy(), atol=1e-3)
    assert float(residual.max()) < 1e-2


def test_theorem2_projection_classifier_agrees_on_data_and_is_robust():
    gen = torch.Generator().manual_seed(7)
    q, _ = torch.linalg.qr(torch.randn(M, 3, dtype=torch.float64, generator=gen))
    w = torch.randn(4, M, dtype=torch.float64, generator=gen)

    def g(z):
        return z @ q.T

    def f(x):
        return x @ w.T

    z = torch.randn(10, 3, dtype=torch.float64, generator=gen)
    proj = ProjectionClassifier(f, g, 3, steps=150, restarts=2, lr=0.1)
    x = g(z)
    assert bool((proj(x).argmax(1) == f(x).argmax(1)).all())
    check = theorem2_check(
        f, g, z, 3, attack=DeepFool(refine=True, max_iter=20), projection={"steps": 100, "restarts": 1, "lr": 0.1}
    )
    assert check.agreement == 1.0
    assert check.holds_fraction == 1.0


def test_transfer_measurement_sits_above_eq6():
    gen = torch.Generator().manual_seed(8)
    q, _ = torch.linalg.qr(torch.randn(M, 4, dtype=torch.float64, generator=gen))
    w = torch.randn(3, M, dtype=torch.float64, generator=gen)
    w2 = w + 0.05 * torch.randn(3, M, dtype=torch.float64, generator=gen)

    def g(z):
        return z @ q.T

    z = torch.randn(300, 4, dtype=torch.float64, generator=gen)
    # g has orthonormal columns: an isometry, so the identity is its exact modulus
    res = transfer_measurement(
        lambda x: x @ w.T, lambda x: x @ w2.T, g, z, [0.5, 1.0, 2.0, 3.0], omega=isobound.Identity()
    )
    assert 0 <= res.disagreement < 0.2
    assert np.all(np.diff(res.fooled_both) >= 0)
    # Theorem 3 is a lower bound on the probability; the measurement is a
    # lower estimate of it, and with an isometric g it sits above the bound
    if res.condition_holds:
        assert np.all(res.fooled_both >= res.bound - 0.05)
    assert np.all(res.fooled_both >= res.premise_free_bound - 0.05)
    with pytest.raises(ValueError, match="etas"):
        transfer_measurement(lambda x: x @ w.T, lambda x: x @ w2.T, g, z, [-1.0], omega=isobound.Identity())
