"""Global Lipschitz upper bounds: per-layer operator norms from above, never below the exact value.

The exact norms come from the full matrix of each layer, built independently with
``torch.autograd.functional.jacobian`` of the torch module itself, and its singular values in
50-digit mpmath where the margin matters.
"""

from __future__ import annotations

import math
from typing import Any

import mpmath
import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

import isobound  # noqa: E402
from isobound_torch import lipschitz_upper_bound  # noqa: E402
from isobound_torch.certify._lipschitz import conv_norm_upper, operator_norm_upper  # noqa: E402
from isobound_torch.certify._program import ConvOp, build_program  # noqa: E402
from isobound_torch.models import DCGANGenerator  # noqa: E402

F64 = torch.float64


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Any:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _matrix(module: nn.Module, in_shape: tuple[int, ...]) -> torch.Tensor:
    x = torch.zeros((1, *in_shape), dtype=F64)
    jac = torch.autograd.functional.jacobian(lambda v: module(v).flatten(), x)
    return jac.reshape(-1, math.prod(in_shape))


def _norm(a: torch.Tensor) -> float:
    return float(torch.linalg.matrix_norm(a, 2))


def test_linear_layer_bound_is_the_spectral_norm_from_above() -> None:
    gen = torch.Generator().manual_seed(0)
    for rows, cols in ((7, 3), (3, 9), (30, 30)):
        lin = nn.Linear(cols, rows).to(F64).eval()
        with torch.no_grad():
            lin.weight.copy_(torch.randn(rows, cols, generator=gen, dtype=F64))
        exact = max(mpmath.svd_r(mpmath.matrix(lin.weight.tolist()), compute_uv=False))
        got = lipschitz_upper_bound(lin).L
        assert got >= exact and (got - exact) / exact < 1e-11
        # l2 -> linf: the largest row norm, exactly
        rows_exact = lin.weight.detach().norm(dim=1).max().item()
        assert lipschitz_upper_bound(lin, output_norm="linf").L == pytest.approx(rows_exact, rel=1e-12)
        assert lipschitz_upper_bound(lin, output_norm="linf").L >= rows_exact
        # linf -> linf: the largest row sum of |W|
        sums = lin.weight.detach().abs().sum(dim=1).max().item()
        assert lipschitz_upper_bound(lin, input_norm="linf", output_norm="linf").L == pytest.approx(sums, rel=1e-12)


_CONVS = [
    (nn.Conv2d(3, 4, 3, padding=1), (3, 3, 3)),
    (nn.Conv2d(3, 5, 4, stride=2, padding=1), (3, 4, 4)),
    (nn.Conv2d(2, 4, 3, stride=3), (2, 6, 6)),
    (nn.Conv2d(4, 6, 3, dilation=2, groups=2, padding=2), (4, 3, 3)),
    (nn.Conv2d(2, 3, (3, 2), padding=(1, 0)), (2, 4, 3)),
    (nn.ConvTranspose2d(6, 4, 4, 2, 1), (6, 2, 2)),
    (nn.ConvTranspose2d(4, 6, 3, 2, 1, output_padding=1, groups=2), (4, 3, 3)),
    (nn.ConvTranspose2d(5, 3, 4, 1, 0), (5, 1, 1)),
]


def _conv_id(v: Any) -> str | None:
    return str(v).split("(")[0] if isinstance(v, nn.Module) else None


@pytest.mark.parametrize(("module", "shape"), _CONVS, ids=_conv_id)
def test_convolution_fourier_bound_is_never_below_the_exact_norm(module: nn.Module, shape: tuple[int, ...]) -> None:
    gen = torch.Generator().manual_seed(1)
    module = module.to(F64).eval()
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=F64))
    op = ConvOp(module, shape)
    a = _matrix(module, shape)
    exact = _norm(a)
    fourier = conv_norm_upper(op)
    dense = operator_norm_upper(op)  # small layers: the dense matrix, almost exact
    # float64's own SVD can be a few ulps off: where a bound is that close, settle it in 50 digits
    # on the smaller Gram matrix (the dense path is spectral_norm_upper, whose margin is checked in
    # 50 digits in test_certify_modulus.py)
    small = a if a.shape[0] <= a.shape[1] else a.T
    with mpmath.workdps(50):
        m = mpmath.matrix(small.tolist())
        exact_mp = mpmath.sqrt(max(mpmath.eigsy(m * m.T, eigvals_only=True)))
    assert fourier >= exact_mp
    assert dense >= exact_mp
    # the circular embedding costs little (at most 1.9x on these small maps, where boundary effects
    # are largest; small layers use the dense matrix anyway)
    assert fourier <= 2.0 * exact
    assert dense <= exact * (1 + 1e-10)


def test_a_large_convolution_uses_the_fourier_bound_and_stays_above_power_iteration() -> None:
    torch.manual_seed(2)
    conv = nn.Conv2d(32, 32, 3, padding=1, bias=False).to(F64).eval()
    shape = (32, 16, 16)  # 8192 x 8192: beyond the dense limit
    op = ConvOp(conv, shape)
    bound = operator_norm_upper(op)
    assert bound == conv_norm_upper(op)
    # power iteration: a lower estimate of the exact norm
    x = torch.randn(1, *shape, dtype=F64)
    for _ in range(60):
        x = x.requires_grad_(True)
        y = conv(x)
        (g,) = torch.autograd.grad(y, x, grad_outputs=y)
        x = (g / g.norm()).detach()
    lower = float(conv(x).detach().norm())
    assert bound >= lower
    assert bound <= 1.2 * lower


def test_network_bound_holds_for_every_pair_and_every_jacobian() -> None:
    torch.manual_seed(3)
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.LeakyReLU(0.2),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 4, 3, padding=1),
        nn.Tanh(),
        nn.Upsample(scale_factor=2),
        nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(64, 5),
        nn.Sigmoid(),
    ).to(F64)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.2, 2)
            m.weight.data.uniform_(-2, 2)
    net.eval()
    shape = (1, 8, 8)
    for in_norm in ("l2", "linf"):
        for out_norm in ("l2", "linf"):
            lip = lipschitz_upper_bound(net, input_norm=in_norm, output_norm=out_norm, input_shape=shape)
            assert isinstance(lip, isobound.Lipschitz) and lip.failure_prob == 0.0
            p_in = 2 if in_norm == "l2" else math.inf
            p_out = 2 if out_norm == "l2" else math.inf
            x = torch.randn(200, *shape, dtype=F64)
            y = x + 0.3 * torch.randn(200, *shape, dtype=F64)
            with torch.no_grad():
                num = torch.linalg.vector_norm((net(x) - net(y)).flatten(1), ord=p_out, dim=1)
            den = torch.linalg.vector_norm((x - y).flatten(1), ord=p_in, dim=1)
            assert bool((num <= lip.L * den).all())
            if in_norm == out_norm == "l2":
                for i in range(5):
                    jac = _matrix(net, shape) if i == 0 else torch.autograd.functional.jacobian(
                        lambda v: net(v).flatten(), x[i : i + 1]
                    ).reshape(5, -1)
                    assert _norm(jac) <= lip.L


def test_the_product_bound_of_a_dcgan_is_above_sampled_slopes() -> None:
    torch.manual_seed(4)
    g = DCGANGenerator(8, 1, 16, ngf=8).to(F64)
    for m in g.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2)
    g.eval()
    lip = lipschitz_upper_bound(g)
    z = torch.randn(20, 8, dtype=F64)
    for i in range(20):
        jac = torch.autograd.functional.jacobian(lambda v: g(v).flatten(), z[i : i + 1]).reshape(-1, 8)
        assert _norm(jac) <= lip.L


def test_known_norms_of_pooling_and_upsampling() -> None:
    up2 = nn.Upsample(scale_factor=2)
    pool = nn.AvgPool2d(3)
    for module, shape, exact in ((up2, (2, 3, 3), 2.0), (pool, (1, 6, 6), 1 / 3), (nn.Sigmoid(), (4,), 0.25)):
        got = lipschitz_upper_bound(module, input_shape=shape).L
        assert got >= exact and got == pytest.approx(exact, rel=1e-12)


def test_program_is_reused_by_the_global_bound() -> None:
    net = nn.Sequential(nn.Linear(3, 3), nn.ReLU()).eval()
    assert len(build_program(net, (3,)).nodes) == 2


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"input_norm": "l1"}, r"input_norm must be 'l2' or 'linf', got input_norm='l1'"),
        ({"output_norm": 2}, r"output_norm must be 'l2' or 'linf', got output_norm=2"),
        ({"input_shape": (0, 3)}, r"input_shape must be a tuple of positive integers"),
        ({"input_shape": "abc"}, r"input_shape must be a tuple of positive integers"),
    ],
)
def test_lipschitz_upper_bound_validates(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        lipschitz_upper_bound(nn.Linear(3, 2).eval(), **kwargs)


def test_the_input_shape_is_asked_for_where_it_cannot_be_read() -> None:
    with pytest.raises(ValueError, match=r"input_shape is needed for a Conv2d"):
        lipschitz_upper_bound(nn.Conv2d(1, 1, 3).eval())
    with pytest.raises(ValueError, match=r"training mode"):
        lipschitz_upper_bound(nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2)).train())
