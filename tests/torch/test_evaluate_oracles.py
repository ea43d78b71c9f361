"""Exact oracles for the evaluation: an affine generator and a linear classifier.

For g(z) = A z + b and a two-class linear classifier with decision function
m(x) = w.x - c, everything has a closed form:

* r_unc = |m(g(z))| / ||w||_2 in l2 and |m(g(z))| / ||w||_1 in l-infinity (the
  dual norm);
* r_Z = |m(g(z))| / ||A^T w||_2 (f o g is linear in z);
* r_in as measured, the image of the smallest latent move u = -m A^T w / ||A^T w||^2:
  ||A u|| = |m| ||A A^T w|| / ||A^T w||^2 in either image norm; in l2 it is at least
  the true in-distribution distance |m| / ||P w|| (P the projection on the range of
  A), with equality when A = s Q (orthonormal Q);
* omega(t) = t ||A||_2 in l2 and t max_i ||A_i||_2 in l-infinity.

With A = s Q and w in the range of A, Remark 4's equality case holds: the
fraction of points with r_unc > eps is exactly 2 Phi(-eps / s) for a boundary
through g(0), which is the equiprobable ceiling 1 - B(eps / s); the reported
ceilings must match it within Monte Carlo error and sit on its safe side.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from scipy import stats  # noqa: E402

import isobound_torch as it  # noqa: E402
from isobound_torch.experiment import report as rep  # noqa: E402
from isobound_torch.experiment.store import derive_seed  # noqa: E402

F64 = torch.float64


def _logits(w: torch.Tensor, c: float) -> Any:
    def f(x: torch.Tensor) -> torch.Tensor:
        m = x.flatten(1) @ w - c
        return torch.stack([torch.zeros_like(m), m], dim=1)

    return f


def _affine(A: torch.Tensor, b: torch.Tensor) -> Any:
    return lambda z: z @ A.T + b


def test_measured_distances_match_the_closed_forms_for_a_general_affine_generator() -> None:
    rng = torch.Generator().manual_seed(5)
    A = torch.randn(7, 3, generator=rng, dtype=F64)
    b = torch.randn(7, generator=rng, dtype=F64)
    w = torch.randn(7, generator=rng, dtype=F64)
    c = float(w @ b) + 0.3
    g, f = _affine(A, b), _logits(w, c)
    z = torch.randn(300, 3, generator=rng, dtype=F64)
    m = (g(z) @ w - c).abs()
    atw = A.T @ w
    aatw = A @ atw
    exact = {
        "z": m / atw.norm(),
        "unc_l2": m / w.norm(),
        "unc_linf": m / w.abs().sum(),
        "in_l2": m * aatw.norm() / atw.norm() ** 2,
        "in_linf": m * aatw.abs().max() / atw.norm() ** 2,
    }
    opts = {"overshoot": 0.02, "refine": True}
    lat = it.latent_robustness(f, g, z, it.DeepFool(norm="l2", **opts))
    got = {
        "z": lat.distances,
        "unc_l2": it.unconstrained_robustness(f, g, z, it.DeepFool(norm="l2", **opts)).distances,
        "unc_linf": it.unconstrained_robustness(f, g, z, it.DeepFool(norm="linf", **opts)).distances,
        "in_l2": it.in_distribution_robustness(f, g, z, latent=lat).distances,
        "in_linf": it.in_distribution_robustness(f, g, z, latent=lat, norm="linf").distances,
    }
    for key, value in exact.items():
        # DeepFool with refinement lands within 1e-7 of the boundary, never inside it
        torch.testing.assert_close(got[key], value, rtol=1e-7, atol=1e-12, msg=key)
        assert bool((got[key] >= value * (1 - 1e-12)).all()), key
    # the measured r_in is an upper estimate of the true in-distribution distance |m| / ||P w||
    q, _ = torch.linalg.qr(A)
    true_in = m / (q.T @ w).norm()
    assert bool((got["in_l2"] >= true_in * (1 - 1e-9)).all()) and float((got["in_l2"] / true_in).max()) > 1.01
    # and r_unc <= r_in in both norms
    assert bool((got["unc_l2"] <= got["in_l2"] * (1 + 1e-9)).all())
    assert bool((got["unc_linf"] <= got["in_linf"] * (1 + 1e-9)).all())


def test_estimated_moduli_match_the_closed_forms() -> None:
    rng = torch.Generator().manual_seed(2)
    A = torch.randn(6, 3, generator=rng, dtype=F64)
    A[2] *= 3.0  # one row clearly the longest
    g = _affine(A, torch.zeros(6, dtype=F64))
    radii = [0.2, 1.0]
    kw = {"radii": radii, "failure_prob": 0.1, "confidence": 0.9, "dtype": F64, "restarts": 2, "steps": 10}
    for norm, slope in (("l2", float(torch.linalg.matrix_norm(A, 2))), ("linf", float(A.norm(dim=1).max()))):
        omega = it.estimate_modulus(g, 3, norm=norm, **kw)
        for t in radii:
            value = float(omega(t))
            assert value <= slope * t * (1 + 1e-12), norm  # ascent never goes beyond the supremum
            assert value >= slope * t * (1 - 1e-4), norm  # and on a linear map it reaches it


@pytest.fixture(scope="module")
def tight() -> Any:
    """A = s Q (orthonormal columns), w in the range of A, boundary through g(0): Remark 4's equality case."""
    rng = torch.Generator().manual_seed(11)
    s = 2.0
    q, _ = torch.linalg.qr(torch.randn(6, 3, generator=rng, dtype=F64))
    A = s * q
    b = torch.full((6,), 0.5, dtype=F64)
    v = torch.tensor([1.0, -2.0, 0.5], dtype=F64)
    w = q @ v
    c = float(w @ b)
    eps = (0.3, 1.0)
    radii = (*(e / s * (1 - 1e-9) for e in eps), 0.05, 0.2, 0.4, 0.8, 1.5)
    res = it.evaluate(
        _affine(A, b), {"lin": _logits(w, c)}, latent_dim=3, n_samples=3000, norms="l2,linf", epsilons=eps,
        radii=tuple(sorted(radii)), chunk_size=1000, device="cpu", dtype=F64, failure_prob=0.01,
        modulus_confidence=0.99,
    )  # fmt: skip
    return {"res": res, "s": s, "q": q, "v": v, "w": w, "A": A, "b": b, "c": c, "eps": eps}


def test_tight_case_distances_and_moduli(tight: Any) -> None:
    res, s, q, v, w = tight["res"], tight["s"], tight["q"], tight["v"], tight["w"]
    z = torch.randn(3000, 3, generator=torch.Generator().manual_seed(derive_seed(0, "latents"))).to(F64)
    m = (z @ v).abs() * s  # |w.g(z) - c| = s |v.z|
    ps = res.per_sample["lin"]
    arr = {k: torch.tensor([math.inf if x is None else x for x in ps[k]], dtype=F64) for k in ps if k != "label"}
    exact = {
        "r_z": m / (s * v.norm()),
        "r_unc": m / w.norm(),
        "r_in": m / w.norm(),  # = s r_Z: the bound is tight
        "r_unc_linf": m / w.abs().sum(),
        "r_in_linf": m * w.abs().max() / w.norm() ** 2,
    }
    for key, value in exact.items():
        torch.testing.assert_close(arr[key], value, rtol=1e-7, atol=1e-12, msg=key)
        assert bool((arr[key] >= value * (1 - 1e-12)).all()), key
    mod = res.report["modulus"]
    for t, value in zip(mod["l2"]["radii"], mod["l2"]["values"], strict=True):
        assert s * t * (1 - 1e-9) <= value <= s * t * (1 + 1e-12)
    row = float((s * q).norm(dim=1).max())
    for t, value in zip(mod["linf"]["radii"], mod["linf"]["values"], strict=True):
        assert row * t * (1 - 1e-3) <= value <= row * t * (1 + 1e-12)


def test_tight_case_ceilings_match_the_exact_curve(tight: Any) -> None:
    res, s = tight["res"], tight["s"]
    n = 3000
    delta = 0.01
    for row in res.ceilings["l2"]:
        eps = row["eps"]
        exact = 2 * stats.norm.cdf(-eps / s)  # P(r_unc > eps) = P(r_in > eps) = 1 - B(eps / s), K = 2 equiprobable
        measured = row["classifiers"]["lin"]["measured_robust_acc"]
        sigma = math.sqrt(exact * (1 - exact) / n)
        assert abs(measured - exact) <= 4 * sigma, (eps, measured, exact)
        # the equiprobable row is the exact curve plus delta
        # (omega is exact here, read at a grid radius just below eps / s)
        assert row["equiprobable"] == pytest.approx(exact + delta, abs=1e-6)
        # the classifier's own ceiling: safe side of the exact curve, and only the proportion box and delta above it
        own = row["classifiers"]["lin"]["ceiling"]
        assert exact + delta - 1e-9 <= own <= exact + delta + 0.05
        # any classifier (here the labelling itself, accuracy 1): never below what this one achieves
        assert row["any_classifier"] >= measured - 4 * sigma
        assert row["any_classifier"] >= row["equiprobable"] - 1e-12
    for row in res.ceilings["linf"]:
        eps = row["eps"]
        w = tight["w"]
        exact = 2 * stats.norm.cdf(-eps * float(w.abs().sum()) / (s * float(tight["v"].norm())))
        measured = row["classifiers"]["lin"]["measured_robust_acc"]
        sigma = max(math.sqrt(exact * (1 - exact) / n), 1 / n)
        assert abs(measured - exact) <= 4 * sigma + 1 / n
        assert row["classifiers"]["lin"]["ceiling"] >= measured - 4 * sigma  # the ceiling holds


def test_any_classifier_ceiling_against_brute_force() -> None:
    rng = np.random.default_rng(0)
    grid = np.linspace(0.0, 1.0, 401)
    for _ in range(12):
        p = rng.dirichlet(np.ones(2))
        eps = float(rng.uniform(0.0, 2.5))
        psi = stats.norm.cdf(stats.norm.ppf(np.outer(grid, p)) + eps)  # psi(a_i) on a_i = grid * p_i
        a1, a2 = np.meshgrid(grid * p[0], grid * p[1], indexing="ij")
        feasible = psi[:, 0][:, None] + psi[:, 1][None, :] <= 1.0
        best = float((a1 + a2)[feasible].max())
        bound = float(rep.any_classifier_ceiling(p, eps))
        assert bound >= best - 1e-12  # an upper bound on the true maximum
        assert bound <= best + p.min() + 1e-3  # the relaxation only loosens the one partly filled class
    # three classes: random feasible points never beat it
    p = np.array([0.5, 0.3, 0.2])
    for eps in (0.1, 0.7, 2.0):
        a = rng.uniform(size=(20000, 3)) * p
        ok = stats.norm.cdf(stats.norm.ppf(a) + eps).sum(axis=1) <= 1.0
        assert float(rep.any_classifier_ceiling(p, eps)) >= a[ok].sum(axis=1).max()
    # limits: everything at eps = 0, the largest class for huge eps; never below the equiprobable-predictions bound
    assert rep.any_classifier_ceiling([0.7, 0.3], 0.0) == pytest.approx(1.0)
    assert rep.any_classifier_ceiling([0.7, 0.3], 40.0) == pytest.approx(0.7, abs=1e-9)
    import isobound as ib

    for eps in (0.2, 0.5, 1.0, 2.0):
        assert rep.any_classifier_ceiling(np.full(10, 0.1), eps) >= float(
            ib.IsoperimetricBound.equiprobable(10).sf(eps)
        )
    values = rep.any_classifier_ceiling(np.full(10, 0.1), np.linspace(0, 3, 31))
    assert np.all(np.diff(values) <= 1e-12)  # non-increasing in eps
    with pytest.raises(ValueError, match="sum to 1"):
        rep.any_classifier_ceiling([0.5, 0.6], 1.0)
    with pytest.raises(ValueError, match="eps must be >= 0"):
        rep.any_classifier_ceiling([0.5, 0.5], -1.0)
    with pytest.raises(ValueError, match="failure_prob"):
        rep.any_classifier_ceiling([0.5, 0.5], 1.0, 1.5)
