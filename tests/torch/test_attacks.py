"""Tests for isobound_torch.attacks: DeepFool against closed forms, batching, hygiene, validation.

The oracles are computed here independently of the attack (numpy, float64):

* on an affine classifier ``F(x) = W x + b`` the cell of the predicted class
  ``l`` is an intersection of half-spaces, so the minimal L2 perturbation that
  leaves it is ``min_k |F_k - F_l| / ||W_k - W_l||_2`` (and ``||.||_1`` in the
  denominator for L-infinity); DeepFool's first step reaches that boundary
  plus its ``1e-4`` minimum step;
* on ``F = (c, tanh(sum(x)))`` the boundary is the hyperplane
  ``sum(x) = atanh(c)``, whose distance is known, while one linearised step
  falls short of it (tanh is concave on the way there).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from isobound_torch.attacks import MIN_STEP, DeepFool, DeepFoolResult, refine_perturbations  # noqa: E402

F64 = torch.float64
Model = Callable[[torch.Tensor], torch.Tensor]


# ---------------------------------------------------------------- helpers
def affine(W: np.ndarray, b: np.ndarray) -> Model:
    """``x -> x.flatten(1) @ W.T + b`` in the input's dtype."""

    def model(x: torch.Tensor) -> torch.Tensor:
        Wt = torch.as_tensor(W, dtype=x.dtype, device=x.device)
        bt = torch.as_tensor(b, dtype=x.dtype, device=x.device)
        return x.flatten(1) @ Wt.T + bt

    return model


def closed_form(
    W: np.ndarray, b: np.ndarray, x: np.ndarray, p: str, candidates: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """DeepFool's first step on an affine model, from the formula (numpy, one sample at a time).

    Returns the step (with the minimum step added), the exact minimal distance over the
    considered classes, and the class whose boundary is closest.
    """
    steps, dists, best = [], [], []
    for xi in x.reshape(len(x), -1):
        F = W @ xi + b
        lab = int(np.argmax(F))
        order = [k for k in np.argsort(-F, kind="stable") if k != lab]
        if candidates is not None:
            order = order[: candidates - 1]
        ks = np.array(sorted(order))
        w = W[ks] - W[lab]
        f = np.abs(F[ks] - F[lab])
        dual = np.linalg.norm(w, axis=1) if p == "l2" else np.abs(w).sum(axis=1)
        d = f / dual
        j = int(np.argmin(d))
        if p == "l2":
            r = (d[j] + MIN_STEP) * w[j] / np.linalg.norm(w[j])
        else:
            r = (d[j] + MIN_STEP) * np.sign(w[j])
        steps.append(r)
        dists.append(d[j])
        best.append(ks[j])
    return np.array(steps).reshape(x.shape), np.array(dists), np.array(best)


def random_affine(seed: int, n: int, d: int, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((k, d)), rng.standard_normal(k), rng.standard_normal((n, d))


class TanhBoundary(nn.Module):
    """Two classes, logits ``(c, tanh(sum x))``: boundary at ``sum x = atanh(c)``."""

    def __init__(self, c: float = 0.9) -> None:
        super().__init__()
        self.c = c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.flatten(1).sum(dim=1)
        return torch.stack([torch.full_like(s, self.c), torch.tanh(s)], dim=1)


def mlp(seed: int = 0, d: int = 12, k: int = 5, dtype: torch.dtype = F64) -> nn.Module:
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(d, 16), nn.Tanh(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, k))
    return net.to(dtype).eval()


def tiny_cnn(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 4)
    ).to(F64).eval()


def predict(model: Model, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x).argmax(dim=1)


# ---------------------------------------------------------------- exactness on affine classifiers
@pytest.mark.parametrize("p", ["l2", "linf"])
def test_first_step_is_the_closed_form_on_an_affine_classifier(p: str) -> None:
    W, b, x = random_affine(1, n=40, d=9, k=7)
    step, dist, best = closed_form(W, b, x, p)
    res = DeepFool(norm=p, overshoot=0.0, max_iter=1)(affine(W, b), torch.from_numpy(x))
    assert isinstance(res, DeepFoolResult) and len(res) == 40 and res.p == p and not res.refined
    np.testing.assert_allclose(res.perturbation.numpy(), step, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(res.norm.numpy(), dist + MIN_STEP, rtol=1e-11)
    assert res.success.all() and (res.iterations == 1).all()
    np.testing.assert_array_equal(res.label.numpy(), np.argmax(x @ W.T + b, axis=1))
    # the step crosses the nearest boundary by MIN_STEP, so at least that class beats the old label
    adv_logits = (x + step) @ W.T + b
    assert (adv_logits[np.arange(40), best] > adv_logits[np.arange(40), res.label.numpy()]).all()
    np.testing.assert_array_equal(res.adv_label.numpy(), np.argmax(adv_logits, axis=1))


@pytest.mark.parametrize("overshoot", [0.02, 0.5])
def test_overshoot_scales_the_accumulated_step(overshoot: float) -> None:
    W, b, x = random_affine(2, n=10, d=5, k=4)
    step, _, _ = closed_form(W, b, x, "l2")
    res = DeepFool(overshoot=overshoot)(affine(W, b), torch.from_numpy(x))
    np.testing.assert_allclose(res.perturbation.numpy(), (1 + overshoot) * step, rtol=1e-10, atol=1e-13)
    assert (res.iterations == 1).all()


def test_refine_recovers_the_exact_minimal_distance_from_above() -> None:
    W, b, x = random_affine(3, n=30, d=6, k=5)
    _, dist, _ = closed_form(W, b, x, "l2")
    model = affine(W, b)
    res = DeepFool(refine=True)(model, torch.from_numpy(x))
    assert res.refined and res.success.all()
    got = res.norm.numpy()
    assert (got >= dist).all(), "a refined norm below the exact minimum would be an invalid upper estimate"
    assert (got <= dist * (1 + 1e-6)).all()


# ---------------------------------------------------------------- a nonlinear oracle
def test_nonlinear_boundary_needs_several_steps_and_refine_reaches_it() -> None:
    c, d = 0.9, 4
    model = TanhBoundary(c)
    x = torch.tensor([[0.0] * d, [0.1] * d, [0.2] * d, [0.05, -0.1, 0.0, 0.2]], dtype=F64)  # sum >= 0: tanh concave
    exact = (math.atanh(c) - x.sum(dim=1)) / math.sqrt(d)

    one = DeepFool(max_iter=1)(model, x)
    assert not one.success.any()
    assert torch.isinf(one.distances).all() and torch.isfinite(one.norm).all()
    assert (one.norm > 0).all() and (one.norm < exact).all()  # the linearised step falls short

    full = DeepFool()(model, x)
    assert full.success.all() and (full.iterations > 1).all()
    assert torch.equal(full.distances, full.norm)
    # the overshoot scales the accumulated step, so the first crossing lies between 1 and 1.02 times it
    assert (full.norm >= exact).all() and (full.norm <= 1.02 * exact).all()

    ref = DeepFool(refine=True)(model, x)
    assert (ref.norm >= exact).all() and (ref.norm <= exact * (1 + 1e-6)).all()
    assert (predict(model, ref.adversarial) == 1).all()


# ---------------------------------------------------------------- batching and determinism
@pytest.mark.parametrize("refine", [False, True])
@pytest.mark.parametrize("p", ["l2", "linf"])
def test_batch_gives_the_same_results_as_one_sample_at_a_time(refine: bool, p: str) -> None:
    model = mlp()
    x = torch.randn(10, 12, dtype=F64, generator=torch.Generator().manual_seed(5))
    attack = DeepFool(norm=p, refine=refine)
    batch = attack(model, x)
    singles = [attack(model, x[i : i + 1]) for i in range(len(x))]
    for field in ("success", "iterations", "label", "adv_label"):
        assert torch.equal(getattr(batch, field), torch.cat([getattr(s, field) for s in singles])), field
    single_norm = torch.cat([s.norm for s in singles])
    if refine:
        # bisection may land one step apart when rounding differs between batch sizes
        torch.testing.assert_close(batch.norm, single_norm, rtol=4 * 2.0**-24, atol=0)
    else:
        pert = torch.cat([s.perturbation for s in singles])
        torch.testing.assert_close(batch.perturbation, pert, rtol=1e-10, atol=1e-12)
    assert (batch.iterations > 1).any(), "the test needs samples that take several steps"


def test_samples_stop_independently() -> None:
    # a far sample keeps iterating; the near one stops early with the same result as alone
    model = TanhBoundary()
    x = torch.tensor([[0.0, 0.0], [0.6, 0.6]], dtype=F64)
    res = DeepFool()(model, x)
    assert res.iterations[0] > res.iterations[1] >= 1
    alone = DeepFool()(model, x[1:])
    torch.testing.assert_close(res.perturbation[1:], alone.perturbation, rtol=1e-12, atol=1e-15)
    assert res.iterations[1] == alone.iterations[0]


def test_two_runs_are_identical() -> None:
    model = tiny_cnn()
    x = torch.rand(8, 1, 6, 6, dtype=F64, generator=torch.Generator().manual_seed(0))
    a = DeepFool(bounds=(0, 1), refine=True)(model, x)
    b = DeepFool(bounds=(0, 1), refine=True)(model, x)
    for field in ("perturbation", "adversarial", "norm", "success", "iterations", "label", "adv_label"):
        assert torch.equal(getattr(a, field), getattr(b, field)), field


def test_inputs_of_any_rank_and_empty_batch() -> None:
    model = tiny_cnn()
    x = torch.rand(3, 1, 6, 6, dtype=F64, generator=torch.Generator().manual_seed(1))
    res = DeepFool(bounds=(0.0, 1.0))(model, x)
    assert res.perturbation.shape == x.shape and res.norm.shape == (3,)
    torch.testing.assert_close(res.norm, res.perturbation.flatten(1).norm(dim=1))

    def never(_: torch.Tensor) -> torch.Tensor:
        raise AssertionError("the model must not be called on an empty batch")

    empty = DeepFool()(never, torch.zeros(0, 1, 6, 6))
    assert len(empty) == 0 and empty.perturbation.shape == (0, 1, 6, 6) and math.isnan(empty.success_rate)


# ---------------------------------------------------------------- candidates
def test_top_k_candidates_follow_the_formula_per_sample() -> None:
    W, b, x = random_affine(7, n=30, d=8, k=8)
    model = affine(W, b)
    for c in (2, 3, 5):
        step, _, _ = closed_form(W, b, x, "l2", candidates=c)
        res = DeepFool(overshoot=0.0, max_iter=1, candidates=c)(model, torch.from_numpy(x))
        np.testing.assert_allclose(res.perturbation.numpy(), step, rtol=1e-10, atol=1e-13)
    all_classes = DeepFool(overshoot=0.0, max_iter=1)(model, torch.from_numpy(x))
    two = DeepFool(overshoot=0.0, max_iter=1, candidates=2)(model, torch.from_numpy(x))
    assert (two.norm >= all_classes.norm - 1e-12).all() and (two.norm > all_classes.norm + 1e-6).any()


def test_top_logit_class_is_not_always_the_nearest() -> None:
    # label 0; class 1 has the second-largest logit but a far boundary (tiny normal), class 2 a near one
    W = np.array([[0.0, 0.0], [0.01, 0.0], [1.0, 0.0]])
    b = np.array([1.0, 0.9, 0.0])
    x = torch.zeros(1, 2, dtype=F64)
    model = affine(W, b)
    near = DeepFool(overshoot=0.0)(model, x)
    top2 = DeepFool(overshoot=0.0, candidates=2)(model, x)
    torch.testing.assert_close(near.norm, torch.tensor([1.0 + MIN_STEP], dtype=F64))
    torch.testing.assert_close(top2.norm, torch.tensor([10.0 + MIN_STEP], dtype=F64))
    assert near.adv_label.item() == 2


def test_candidates_at_or_above_k_mean_all_classes() -> None:
    model = mlp(k=5)
    x = torch.randn(6, 12, dtype=F64, generator=torch.Generator().manual_seed(2))
    ref = DeepFool()(model, x)
    for c in (5, 6, 100):
        res = DeepFool(candidates=c)(model, x)
        assert torch.equal(res.perturbation, ref.perturbation), c


# ---------------------------------------------------------------- box constraint
def test_bounds_keep_every_iterate_in_the_box() -> None:
    # boundary at sum(x) = 3.5 in 4 dims from x near the top of [0, 1]: the plain step leaves the box
    W = np.array([[0.0] * 4, [1.0] * 4])
    b = np.array([3.5, 0.0])
    x = torch.tensor([[0.8, 0.8, 0.8, 0.3], [0.5, 0.9, 0.95, 0.9], [0.7, 0.7, 0.7, 0.7]], dtype=F64)
    model = affine(W, b)
    free = DeepFool()(model, x)
    assert (free.adversarial > 1).any(), "the test needs a case where the unconstrained step leaves the box"
    boxed = DeepFool(bounds=(0.0, 1.0))(model, x)
    assert boxed.success.all()
    assert (boxed.adversarial >= 0).all() and (boxed.adversarial <= 1).all()
    assert torch.equal(boxed.perturbation, boxed.adversarial - x)
    assert torch.equal(predict(model, boxed.adversarial) != boxed.label, boxed.success)
    # sum(x) can only grow by 1 - x_i per coordinate: the box costs distance, never helps
    assert (boxed.norm >= free.norm / 1.02 - 1e-12).all()


@pytest.mark.parametrize("refine", [False, True])
def test_bounds_on_a_network(refine: bool) -> None:
    model = tiny_cnn(3)
    x = torch.rand(12, 1, 6, 6, dtype=F64, generator=torch.Generator().manual_seed(3))
    res = DeepFool(bounds=(0.0, 1.0), refine=refine)(model, x)
    assert (res.adversarial >= 0).all() and (res.adversarial <= 1).all()
    assert res.success.any()
    assert torch.equal(predict(model, res.adversarial) != res.label, res.success)


# ---------------------------------------------------------------- refinement
@pytest.mark.parametrize("p", ["l2", "linf"])
def test_refine_shrinks_and_stays_adversarial(p: str) -> None:
    model = mlp(4)
    x = torch.randn(16, 12, dtype=F64, generator=torch.Generator().manual_seed(4))
    raw = DeepFool(norm=p)(model, x)
    ref = DeepFool(norm=p, refine=True)(model, x)
    assert raw.success.all()
    assert torch.equal(ref.success, raw.success) and torch.equal(ref.iterations, raw.iterations)
    assert (ref.norm <= raw.norm).all() and (ref.norm < raw.norm * 0.995).any()
    # still adversarial, checked in a fresh batch and one sample at a time
    assert (predict(model, ref.adversarial) != ref.label).all()
    for i in range(len(x)):
        assert predict(model, ref.adversarial[i : i + 1]).item() != ref.label[i].item()
    assert torch.equal(predict(model, ref.adversarial), ref.adv_label)
    assert torch.equal(ref.perturbation, ref.adversarial - x)


def test_refine_leaves_failed_samples_alone() -> None:
    x = torch.tensor([[0.0, 0.0], [0.3, 0.3]], dtype=F64)
    model = TanhBoundary()
    raw = DeepFool(max_iter=1)(model, x)
    assert not raw.success.any()
    ref = refine_perturbations(model, x, raw)
    assert ref.refined and torch.equal(ref.perturbation, raw.perturbation) and not ref.success.any()


def test_refine_perturbations_as_a_function_matches_the_option() -> None:
    model = mlp(5)
    x = torch.randn(5, 12, dtype=F64, generator=torch.Generator().manual_seed(6))
    raw = DeepFool()(model, x)
    # the option reuses the attack's margins (computed in sub-batches): equal up to rounding
    torch.testing.assert_close(
        refine_perturbations(model, x, raw).norm, DeepFool(refine=True)(model, x).norm, rtol=1e-9, atol=0
    )
    fewer = refine_perturbations(model, x, raw, steps=2)
    full = refine_perturbations(model, x, raw, steps=30)
    assert (full.norm <= fewer.norm).all() and (fewer.norm <= raw.norm).all()


# ---------------------------------------------------------------- already misclassified inputs
def test_robustness_is_relative_to_the_prediction_not_the_truth() -> None:
    # the sample's true class is 1, the model says 0; leaving class 0 first enters class 2
    W = np.array([[0.0, 0.0], [-1.0, 0.0], [0.0, 1.0]])
    b = np.array([0.0, -2.0, -0.5])
    x = torch.zeros(1, 2, dtype=F64)
    model = affine(W, b)
    res = DeepFool(overshoot=0.0)(model, x)
    assert res.label.item() == 0  # the prediction, although the "truth" is 1
    assert res.success.item() and res.adv_label.item() == 2
    assert res.iterations.item() == 1
    torch.testing.assert_close(res.norm, torch.tensor([0.5 + MIN_STEP], dtype=F64))  # not 0, not the way to class 1


def test_labels_are_the_models_predictions() -> None:
    model = mlp(7)
    x = torch.randn(20, 12, dtype=F64, generator=torch.Generator().manual_seed(7))
    res = DeepFool()(model, x)
    assert torch.equal(res.label, predict(model, x))
    assert (res.norm[res.success] > 0).all()


# ---------------------------------------------------------------- side effects on the model and inputs
def test_no_gradients_left_and_flags_unchanged() -> None:
    model = tiny_cnn(8)
    params = list(model.parameters())
    params[1].requires_grad_(False)
    params[2].grad = torch.full_like(params[2], 0.25)
    flags = [p.requires_grad for p in params]
    x = torch.rand(6, 1, 6, 6, dtype=F64, generator=torch.Generator().manual_seed(8)).requires_grad_(True)
    x_before = x.detach().clone()
    DeepFool(bounds=(0, 1), refine=True)(model, x)
    assert [p.requires_grad for p in params] == flags
    for i, p in enumerate(params):
        if i == 2:
            assert torch.equal(p.grad, torch.full_like(p, 0.25))
        else:
            assert p.grad is None, f"parameter {i} got a gradient"
    assert x.grad is None and x.requires_grad and torch.equal(x.detach(), x_before)


def test_model_mode_is_left_as_it_was() -> None:
    model = tiny_cnn(9)
    x = torch.rand(4, 1, 6, 6, dtype=F64, generator=torch.Generator().manual_seed(9))
    DeepFool()(model, x)
    assert not any(m.training for m in model.modules())
    model.train()  # no batch-norm or dropout: training mode is harmless and must be kept
    DeepFool()(model, x)
    assert all(m.training for m in model.modules())


@pytest.mark.parametrize("layer", [nn.BatchNorm1d(12), nn.Dropout(0.1)])
def test_training_mode_coupling_layers_are_refused(layer: nn.Module) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(layer, nn.Linear(12, 3)).to(F64).train()
    with pytest.raises(ValueError, match=r"training mode.*eval\(\)"):
        DeepFool()(model, torch.randn(4, 12, dtype=F64))
    assert model.training and layer.training
    model.eval()
    assert DeepFool()(model, torch.randn(4, 12, dtype=F64)).success.all()


def test_works_under_no_grad_and_inference_mode() -> None:
    model = mlp(10)
    x = torch.randn(4, 12, dtype=F64, generator=torch.Generator().manual_seed(10))
    ref = DeepFool()(model, x)
    with torch.no_grad():
        a = DeepFool()(model, x)
    with torch.inference_mode():
        xi = x.clone()
        b = DeepFool()(model, xi)
    assert torch.equal(a.perturbation, ref.perturbation) and torch.equal(b.perturbation, ref.perturbation)


# ---------------------------------------------------------------- dtypes, devices, failures
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("refine", [False, True])
def test_dtype_follows_the_input(dtype: torch.dtype, refine: bool) -> None:
    model = mlp(11, dtype=dtype)
    x = torch.randn(6, 12, generator=torch.Generator().manual_seed(11)).to(dtype)
    res = DeepFool(refine=refine)(model, x)
    for t in (res.perturbation, res.adversarial, res.norm):
        assert t.dtype == dtype
    assert res.distances.dtype == F64
    assert res.success.dtype == torch.bool
    for t in (res.iterations, res.label, res.adv_label):
        assert t.dtype == torch.int64
    assert res.success.all()
    assert (predict(model, res.adversarial) != res.label).all()


def test_zero_gradient_model_fails_with_infinite_distances() -> None:
    const = torch.tensor([1.0, 0.0, 0.5], dtype=F64)

    def flat(x: torch.Tensor) -> torch.Tensor:  # depends on x, with zero gradient
        return 0.0 * x.sum(dim=1, keepdim=True) + const

    x = torch.randn(4, 3, dtype=F64)
    res = DeepFool(max_iter=5)(flat, x)
    assert not res.success.any() and torch.isinf(res.distances).all()
    assert (res.iterations == 5).all() and torch.equal(res.label, torch.zeros(4, dtype=torch.int64))
    assert res.success_rate == 0.0


def test_model_ignoring_its_input_fails_cleanly() -> None:
    def blind(x: torch.Tensor) -> torch.Tensor:  # no graph to x at all
        return torch.tensor([[0.0, 1.0]], dtype=x.dtype).expand(len(x), 2)

    res = DeepFool(max_iter=3)(blind, torch.randn(2, 3, dtype=F64))
    assert not res.success.any() and torch.isinf(res.distances).all()


def test_distances_mix_success_and_failure() -> None:
    # sum(x) < 0: tanh is convex on the way, one linearised step overshoots the boundary
    x = torch.tensor([[0.0, 0.0], [-0.5, -0.5]], dtype=F64)
    res = DeepFool(max_iter=1)(TanhBoundary(), x)
    assert res.success.tolist() == [False, True]
    assert math.isinf(res.distances[0].item()) and res.distances[1].item() == res.norm[1].item()
    assert res.success_rate == 0.5


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_runs_on_cuda_and_matches_cpu() -> None:
    model = tiny_cnn(12)
    x = torch.rand(8, 1, 6, 6, dtype=F64, generator=torch.Generator().manual_seed(12))
    cpu = DeepFool(bounds=(0, 1), refine=True)(model, x)
    gpu = DeepFool(bounds=(0, 1), refine=True)(model.cuda(), x.cuda())
    for t in (gpu.perturbation, gpu.norm, gpu.success, gpu.iterations, gpu.label):
        assert t.device.type == "cuda"
    assert torch.equal(gpu.label.cpu(), cpu.label) and torch.equal(gpu.success.cpu(), cpu.success)
    torch.testing.assert_close(gpu.norm.cpu(), cpu.norm, rtol=1e-6, atol=1e-9)


# ---------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"norm": "l1"}, r"norm must be 'l2' or 'linf', got norm='l1'"),
        ({"norm": "L2"}, r"norm must be .*got norm='L2'"),
        ({"overshoot": -0.1}, r"overshoot must be a finite number >= 0, got overshoot=-0.1"),
        ({"overshoot": math.nan}, r"overshoot must be a finite number >= 0, got overshoot=nan"),
        ({"overshoot": math.inf}, r"overshoot must be .*got overshoot=inf"),
        ({"overshoot": "abc"}, r"overshoot must be a real number, got overshoot='abc'"),
        ({"overshoot": "0.02"}, r"overshoot must be a real number, got overshoot='0.02'"),
        ({"overshoot": True}, r"overshoot must be a real number, got overshoot=True"),
        ({"max_iter": 0}, r"max_iter must be an integer >= 1, got max_iter=0"),
        ({"max_iter": 2.0}, r"max_iter must be an integer >= 1, got max_iter=2.0"),
        ({"max_iter": True}, r"max_iter must be an integer >= 1, got max_iter=True"),
        ({"candidates": 1}, r"candidates must be an integer >= 2, got candidates=1"),
        ({"candidates": True}, r"candidates must be an integer >= 2, got candidates=True"),
        ({"candidates": 3.0}, r"candidates must be an integer >= 2, got candidates=3.0"),
        ({"bounds": (1.0, 0.0)}, r"bounds must be finite with lo < hi, got bounds=\(1.0, 0.0\)"),
        ({"bounds": (0.5, 0.5)}, r"bounds must be finite with lo < hi"),
        ({"bounds": (0.0, math.inf)}, r"bounds must be finite with lo < hi"),
        (
            {"bounds": (0.0, 1.0, 2.0)},
            r"bounds must be None or a pair \(lo, hi\) of numbers, got bounds=\(0.0, 1.0, 2.0\)",
        ),
        ({"bounds": 1.0}, r"bounds must be None or a pair .*got bounds=1.0"),
        ({"bounds": ("a", "b")}, r"bounds must be None or a pair .*got bounds=\('a', 'b'\)"),
        ({"refine": 1}, r"refine must be True or False, got refine=1"),
        ({"refine_steps": 0}, r"refine_steps must be an integer >= 1, got refine_steps=0"),
    ],
)
def test_bad_options_raise(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        DeepFool(**kwargs)


def test_good_options_are_kept_and_shown() -> None:
    a = DeepFool(norm="linf", overshoot=0, max_iter=3, candidates=4, bounds=[0, 255], refine=True)  # type: ignore[arg-type]
    assert a.overshoot == 0.0 and a.bounds == (0.0, 255.0) and a.candidates == 4
    assert repr(a) == (
        "DeepFool(norm='linf', overshoot=0.0, max_iter=3, candidates=4, bounds=(0.0, 255.0), refine=True)"
    )


LINEAR3 = affine(np.eye(3), np.zeros(3))


@pytest.mark.parametrize(
    ("x", "match"),
    [
        ([[0.1, 0.2, 0.3]], r"x must be a torch.Tensor, got x=\[\[0.1, 0.2, 0.3\]\]"),
        (np.zeros((2, 3)), r"x must be a torch.Tensor"),
        (torch.zeros(3), r"x must have at least 2 dimension\(s\) \(batch first\), got shape \(3,\)"),
        (torch.zeros(2, 3, dtype=torch.int64), r"x must be a floating-point tensor, got dtype torch.int64"),
        (torch.zeros(2, 3, dtype=torch.bool), r"x must be a floating-point tensor, got dtype torch.bool"),
        (torch.zeros(2, 0), r"x must have at least one feature per sample, got shape \(2, 0\)"),
        (torch.tensor([[0.1, math.nan, 0.3]]), r"x contains 1 NaN or infinite entry"),
        (torch.tensor([[0.1, math.inf, -math.inf]]), r"x contains 2 NaN or infinite entries"),
    ],
)
def test_bad_inputs_raise(x: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        DeepFool()(LINEAR3, x)


def test_inputs_outside_the_box_raise() -> None:
    attack = DeepFool(bounds=(0.0, 1.0))
    with pytest.raises(ValueError, match=r"x lies outside bounds=\(0.0, 1.0\): min -0.5, max 0.5"):
        attack(LINEAR3, torch.tensor([[0.5, -0.5, 0.0]]))
    with pytest.raises(ValueError, match=r"x lies outside bounds=\(0.0, 1.0\): min 0.0, max 1.25"):
        attack(LINEAR3, torch.tensor([[0.0, 1.25, 0.0]]))
    assert attack(LINEAR3, torch.tensor([[0.0, 1.0, 0.5]])).success.all()  # the faces are inside


@pytest.mark.parametrize(
    ("model", "match"),
    [
        (lambda x: x.sum(dim=1), r"logits of shape \(batch, K\) with K >= 2 for a batch of 4, got shape \(4,\)"),
        (lambda x: x.sum(dim=1, keepdim=True), r"got shape \(4, 1\)"),
        (lambda x: LINEAR3(x)[:3], r"for a batch of 4, got shape \(3, 3\)"),
        (lambda x: LINEAR3(x)[None], r"got shape \(1, 4, 3\)"),
        (lambda x: LINEAR3(x).tolist(), r"model must return a tensor of logits, got list"),
        (
            lambda x: LINEAR3(x).argmax(dim=1, keepdim=True).expand(4, 3),
            r"floating-point logits, got dtype torch.int64",
        ),
        (lambda x: LINEAR3(x) * math.nan, r"model returned NaN or infinite logits on the clean inputs"),
        ("not a model", r"model must be callable, got model='not a model'"),
    ],
)
def test_bad_models_raise(model: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        DeepFool()(model, torch.rand(4, 3))


def test_model_changing_its_output_shape_later_raises() -> None:
    calls = {"n": 0}

    def fickle(x: torch.Tensor) -> torch.Tensor:
        calls["n"] += 1
        out = LINEAR3(x) * torch.tensor([1.0, 1e-3, 1e-3])
        return out if calls["n"] == 1 else out[:, :1]

    with pytest.raises(ValueError, match=r"logits of shape \(batch, K\) .* got shape \(2, 1\)"):
        DeepFool()(fickle, torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]))


def test_refine_perturbations_validates() -> None:
    model = mlp(13)
    x = torch.randn(3, 12, dtype=F64)
    res = DeepFool()(model, x)
    with pytest.raises(ValueError, match=r"steps must be an integer >= 1, got steps=0"):
        refine_perturbations(model, x, res, steps=0)
    with pytest.raises(ValueError, match=r"x has shape \(2, 12\) but the result's perturbations have shape \(3, 12\)"):
        refine_perturbations(model, x[:2], res)
    with pytest.raises(ValueError, match=r"bounds must be finite with lo < hi"):
        refine_perturbations(model, x, res, bounds=(1, 0))


# ---------------------------------------------------------------- refinement precision (issue 10)
def test_refine_reaches_the_boundary_to_rounding_on_a_curved_model() -> None:
    # the boundary sum(x) = atanh(c) is reached along the found direction to about 1e-13 relative
    # with the default 24 evaluations; a looser tolerance (1e-7) or plain bisection (2^-24 after 24
    # halvings) stops 1e-8 or more short of it, which this test must catch
    c, d = 0.9, 4
    model = TanhBoundary(c)
    x = torch.tensor([[0.0] * d, [0.1] * d, [0.2] * d, [0.05, -0.1, 0.0, 0.2], [-0.3] * d], dtype=F64)
    exact = (math.atanh(c) - x.sum(dim=1)) / math.sqrt(d)
    ref = DeepFool(refine=True)(model, x)
    assert ref.success.all() and (predict(model, ref.adversarial) == 1).all()
    rel = (ref.norm - exact) / exact
    assert (rel >= 0).all(), "a refined point inside the class would not be adversarial"
    assert (rel <= 1e-12).all(), rel.tolist()


def test_refine_uses_the_secant_not_bisection() -> None:
    # on the slightly curved side of the tanh model a few secant steps already land within
    # 1e-9 of the boundary for one sample; bisection would still be at 2^-4 of the bracket
    c, d = 0.9, 4
    model = TanhBoundary(c)
    x = torch.tensor([[0.2] * d], dtype=F64)
    exact = (math.atanh(c) - x.sum(dim=1)) / math.sqrt(d)
    raw = DeepFool()(model, x)
    four = refine_perturbations(model, x, raw, steps=4)
    assert float((four.norm - exact) / exact) <= 1e-9


# ---------------------------------------------------------------- the batched gradient path
@pytest.mark.parametrize("p", ["l2", "linf"])
def test_batched_and_looped_normals_agree(p: str) -> None:
    x = torch.randn(12, 12, dtype=F64, generator=torch.Generator().manual_seed(20))
    for model in (mlp(20), tiny_cnn(20)):
        gen = torch.Generator().manual_seed(20)
        xx = x if model[0].__class__ is nn.Linear else torch.rand(12, 1, 6, 6, dtype=F64, generator=gen)
        loop = DeepFool(norm=p, grads="loop")(model, xx)
        batched = DeepFool(norm=p, grads="batched")(model, xx)
        auto = DeepFool(norm=p)(model, xx)
        assert torch.equal(loop.iterations, batched.iterations) and torch.equal(loop.adv_label, batched.adv_label)
        torch.testing.assert_close(batched.perturbation, loop.perturbation, rtol=1e-12, atol=1e-14)
        assert torch.equal(auto.iterations, loop.iterations)
        assert torch.equal(loop.backwards, batched.backwards) and torch.equal(loop.forwards, batched.forwards)


def test_auto_batches_only_modules_without_convolutions() -> None:
    from isobound_torch.attacks._deepfool import _prefers_batched

    assert _prefers_batched(mlp())
    assert not _prefers_batched(tiny_cnn())
    assert not _prefers_batched(lambda x: mlp()(x))  # a plain callable: cannot tell, the loop


def test_grads_option_is_validated() -> None:
    with pytest.raises(ValueError, match=r"grads must be 'auto' or 'batched' or 'loop', got grads='fast'"):
        DeepFool(grads="fast")
    with pytest.raises(ValueError, match=r"on_nonfinite must be 'fail' or 'raise', got on_nonfinite=None"):
        DeepFool(on_nonfinite=None)  # type: ignore[arg-type]


def test_query_counts_match_the_model_calls() -> None:
    rows = {"n": 0}
    net = mlp(21)

    def counted(v: torch.Tensor) -> torch.Tensor:
        rows["n"] += v.shape[0]
        return net(v)

    x = torch.randn(9, 12, dtype=F64, generator=torch.Generator().manual_seed(21))
    res = DeepFool()(counted, x)
    assert int(res.forwards.sum()) == rows["n"]
    # one forward per iteration and one at the point that flipped; C - 1 = 4 gradients per step
    assert (res.forwards >= res.iterations + 1).all() and torch.equal(res.backwards, 4 * res.iterations)
    rows["n"] = 0
    ref = refine_perturbations(counted, x, res)
    assert int(ref.forwards.sum() - res.forwards.sum()) == rows["n"] and torch.equal(ref.backwards, res.backwards)


# ---------------------------------------------------------------- non-finite models mid-attack (issue 10)
class NanBand(nn.Module):
    """The tanh boundary model, but its logits are NaN where ``lo < sum(x) < hi``."""

    def __init__(self, lo: float, hi: float) -> None:
        super().__init__()
        self.inner = TanhBoundary()
        self.lo, self.hi = lo, hi

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.inner(x)
        s = x.flatten(1).sum(dim=1)
        bad = (s > self.lo) & (s < self.hi)
        return torch.where(bad[:, None], torch.full_like(out, math.nan), out)


def test_deepfool_stops_a_sample_whose_logits_turn_nan() -> None:
    # sample 0 (sum 0) needs four steps (sums 0.92, 1.29, 1.45, then 1.47 > atanh(0.9)) and its second
    # iterate lands in the NaN band; sample 1 (sum 1.4) crosses in two steps outside the band
    x = torch.tensor([[0.0, 0.0], [0.7, 0.7]], dtype=F64)
    model = NanBand(1.25, 1.35)
    res = DeepFool()(model, x)
    clean = DeepFool()(TanhBoundary(), x)
    assert not res.success[0] and math.isinf(res.distances[0].item())
    assert res.iterations[0] == 2 and clean.iterations[0] == 4
    assert bool(torch.isnan(model(res.adversarial[:1])).all())  # it stopped at the point that gave NaN
    assert res.adv_label[0] == res.label[0]
    # the other sample is untouched
    assert res.success[1] and torch.equal(res.perturbation[1], clean.perturbation[1])
    match = r"DeepFool: the model returned NaN or infinite logits or gradients at step \d+ for sample\(s\) \[0\]"
    with pytest.raises(ValueError, match=match):
        DeepFool(on_nonfinite="raise")(model, x)
    # refinement leaves the failed sample alone
    ref = DeepFool(refine=True)(model, x)
    assert not ref.success[0] and torch.equal(ref.perturbation[0], res.perturbation[0])


def test_deepfool_stops_a_sample_whose_gradient_turns_nan() -> None:
    class SqrtKink(nn.Module):  # finite logits everywhere, an infinite gradient at x_0 = 0
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            s = x[:, 0].abs().sqrt() + x[:, 1]
            return torch.stack([torch.full_like(s, 1.0), s], dim=1)

    x = torch.tensor([[0.0, 0.0], [0.25, 0.0]], dtype=F64)
    res = DeepFool()(SqrtKink(), x)
    assert not res.success[0] and res.iterations[0] == 0 and torch.equal(res.perturbation[0], torch.zeros(2, dtype=F64))
    assert res.success[1] and torch.isfinite(res.perturbation).all()
    with pytest.raises(ValueError, match=r"at step 0 for sample\(s\) \[0\]"):
        DeepFool(on_nonfinite="raise")(SqrtKink(), x)


def test_wrong_types_are_type_errors() -> None:
    cases = [
        ([[0.1, 0.2, 0.3]], r"x must be a torch.Tensor"),
        (torch.zeros(2, 3, dtype=torch.int64), r"floating-point"),
    ]
    for bad, match in cases:
        with pytest.raises(TypeError, match=match):
            DeepFool()(LINEAR3, bad)
    with pytest.raises(TypeError, match=r"model must be callable"):
        DeepFool()("model", torch.zeros(2, 3))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"max_iter must be an integer >= 1, got max_iter=2.0"):
        DeepFool(max_iter=2.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"refine must be True or False, got refine=1"):
        DeepFool(refine=1)  # type: ignore[arg-type]
