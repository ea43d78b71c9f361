r"""Upper bounds on operator norms of linear layers, and a global Lipschitz constant of a network."""

from __future__ import annotations

import math
from typing import Any

import torch

import isobound

from ._bounds import TINY, U, gamma, spectral_norm_upper, up
from ._program import (
    F64,
    ActOp,
    AddOp,
    ConvOp,
    DenseOp,
    DiagOp,
    LinearOp,
    MaxPoolOp,
    Program,
    ReshapeOp,
    build_program,
)

__all__ = ["operator_norm_upper", "conv_norm_upper", "lipschitz_upper_bound", "op_norms"]

#: dense matrices up to this many entries are materialised for an exact spectral norm
DENSE_LIMIT = 2**22


def _norm_name(name: str, value: Any) -> str:
    if value not in ("l2", "linf"):
        raise ValueError(f"{name} must be 'l2' or 'linf', got {name}={value!r}")
    return str(value)


def _dense_matrix(op: LinearOp) -> torch.Tensor:
    """The matrix of ``op`` (outputs x inputs), by applying it to the unit vectors."""
    n_in = math.prod(op.in_shape)
    device = _op_device(op)
    eye = torch.eye(n_in, dtype=F64, device=device).reshape(n_in, *op.in_shape)
    cols = op.lin(eye).reshape(n_in, -1)
    return cols.T


def _op_device(op: LinearOp) -> torch.device:
    for attr in ("weight", "scale"):
        w = getattr(op, attr, None)
        if isinstance(w, torch.Tensor):
            return w.device
    return torch.device("cpu")


def _schur_upper(op: LinearOp) -> float:
    """``sqrt(||A||_1 ||A||_inf) >= || |A| ||_2 >= ||A||_2`` from the row and column sums of ``|A|``.

    Exact for non-negative maps such as average pooling or nearest upsampling.
    """
    device = _op_device(op)
    ones_in = torch.ones((1, *op.in_shape), dtype=F64, device=device)
    row = op.abs_lin(ones_in).max().item()
    ones_out = torch.ones((1, *op.out_shape), dtype=F64, device=device)
    x = torch.zeros((1, *op.in_shape), dtype=F64, device=device, requires_grad=True)
    with torch.enable_grad():
        (col_sums,) = torch.autograd.grad(op.abs_lin(x), x, grad_outputs=ones_out)
    col = col_sums.max().item()
    g = gamma(max(math.prod(op.in_shape), math.prod(op.out_shape)))
    return math.sqrt(row * col * (1.0 + 4.0 * g)) * (1.0 + 4.0 * U) + TINY


def conv_norm_upper(op: ConvOp) -> float:
    r"""Upper bound on the spectral norm of a zero-padded (transposed) convolution, by the Fourier transform.

    A transposed convolution is the adjoint of the convolution with the same weight, so
    both have the same norm.  For a convolution with stride ``s``, padding ``p`` and
    (dilated) kernel ``k`` on an ``n x n`` input: zero padding and zero extension are
    isometric embeddings, a polyphase split (space to depth by ``s``) is a permutation that
    turns the strided convolution into a stride-1 one with ``c_in s^2`` input channels and a
    ``ceil(k / s)`` kernel, and on a grid of side ``N`` large enough that no index wraps, the
    valid part of that stride-1 correlation is a cropping (a projection) of the circular one.
    So ``||A||_2 <= ||circular||_2 = max over the N^2 frequencies w of ||K(w)||_2``, with
    ``K(w) = sum_b w_b exp(2 pi i <w, b> / N)`` the ``c_out x c_in s^2`` symbol.  The symbol is
    computed directly (no FFT), so each entry errs by at most ``(2 k^2 + 8) u sum_b |w_b|``;
    that error's Frobenius norm is added to each frequency's bound.  Groups are blocks of a
    block-diagonal map: the largest block's bound is taken.
    """
    w = op.weight
    # a ConvTranspose2d weight (c_in, c_out / groups, kh, kw) is, as stored, the Conv2d weight of its
    # adjoint, which reads the transposed convolution's output
    n1, n2 = (op.out_shape[1], op.out_shape[2]) if op.transposed else (op.in_shape[1], op.in_shape[2])
    groups = op.groups
    best = 0.0
    cout = w.shape[0] // groups
    for gi in range(groups):
        wg = w[gi * cout : (gi + 1) * cout]
        best = max(best, _strided_conv_norm(wg, op.stride, op.padding, op.dilation, (n1, n2)))
    return best


def _strided_conv_norm(
    w: torch.Tensor, stride: tuple[int, ...], padding: tuple[int, ...], dilation: tuple[int, ...], size: tuple[int, int]
) -> float:
    cout, cin, kh, kw = w.shape
    # dilate the kernel
    dh, dw = dilation
    if dh > 1 or dw > 1:
        wd = torch.zeros((cout, cin, dh * (kh - 1) + 1, dw * (kw - 1) + 1), dtype=w.dtype, device=w.device)
        wd[:, :, ::dh, ::dw] = w
        w, kh, kw = wd, wd.shape[2], wd.shape[3]
    sh, sw = stride
    # polyphase kernel: (cout, cin * sh * sw, ceil(kh / sh), ceil(kw / sw))
    bh, bw = -(-kh // sh), -(-kw // sw)
    wp = torch.zeros((cout, cin, bh * sh, bw * sw), dtype=w.dtype, device=w.device)
    wp[:, :, :kh, :kw] = w
    wp = wp.reshape(cout, cin, bh, sh, bw, sw).permute(0, 1, 3, 5, 2, 4).reshape(cout, cin * sh * sw, bh, bw)
    # grid: the padded input, extended to a multiple of the stride that holds every window
    ph, pw = padding
    n1, n2 = size
    out1 = (n1 + 2 * ph - kh) // sh + 1
    out2 = (n2 + 2 * pw - kw) // sw + 1
    m1 = max(-(-(n1 + 2 * ph) // sh), out1 - 1 + bh)
    m2 = max(-(-(n2 + 2 * pw) // sw), out2 - 1 + bw)
    f1 = torch.arange(m1, dtype=F64, device=w.device)
    f2 = torch.arange(m2, dtype=F64, device=w.device)
    b1 = torch.arange(bh, dtype=F64, device=w.device)
    b2 = torch.arange(bw, dtype=F64, device=w.device)
    e1 = torch.polar(torch.ones(m1, bh, dtype=F64, device=w.device), (2.0 * math.pi / m1) * f1[:, None] * b1[None, :])
    e2 = torch.polar(torch.ones(m2, bw, dtype=F64, device=w.device), (2.0 * math.pi / m2) * f2[:, None] * b2[None, :])
    sym = torch.einsum("oiab,ua,vb->uvoi", wp.to(torch.complex128), e1, e2)  # (m1, m2, cout, cin s^2)
    sym = sym.reshape(m1 * m2, cout, -1)
    # spectral norm of complex matrices: through the real 2x2 block form [[Re, -Im], [Im, Re]]
    re, im = sym.real, sym.imag
    real_form = torch.cat([torch.cat([re, -im], dim=2), torch.cat([im, re], dim=2)], dim=1)
    norms = spectral_norm_upper(real_form)
    taps = bh * bw
    entry_err = (2.0 * taps + 8.0) * U * wp.abs().sum(dim=(2, 3))  # (cout, cin s^2)
    err = math.sqrt(float((entry_err * entry_err).sum())) * (1.0 + 1e-10)
    return float(up(norms.max() + 2.0 * err))


def operator_norm_upper(op: LinearOp) -> float:
    """An upper bound on the spectral (l2 -> l2) norm of ``op``'s linear part, cached on the op."""
    cached = getattr(op, "_norm2", None)
    if cached is not None:
        return float(cached)
    if isinstance(op, DenseOp):
        value = float(spectral_norm_upper(op.weight))
    elif isinstance(op, DiagOp) and not op.broadcasts:
        value = float(up(op.scale.abs().max() * (1.0 + 2.0 * gamma(op.fan_in))))
    else:
        value = conv_norm_upper(op) if isinstance(op, ConvOp) else _schur_upper(op)
        if math.prod(op.in_shape) * math.prod(op.out_shape) <= DENSE_LIMIT:
            value = min(value, float(spectral_norm_upper(_dense_matrix(op))))
    op._norm2 = value  # type: ignore[attr-defined]
    return value


def frobenius_norm(op: LinearOp) -> float:
    """``||A||_F`` (from the squared row norms), rounded up; cached on the op."""
    cached = getattr(op, "_fro", None)
    if cached is not None:
        return float(cached)
    ones = torch.ones((1, *op.in_shape), dtype=F64, device=_op_device(op))
    total = float(op.sq_lin(ones).sum())
    value = math.sqrt(total * (1.0 + 4.0 * gamma(math.prod(op.in_shape) * 4))) * (1.0 + 4.0 * U) + TINY
    op._fro = value  # type: ignore[attr-defined]
    return value


def _mixed_norms(op: LinearOp) -> dict[str, float]:
    """Upper bounds on ``||A||_{p -> q}`` for p, q in {2, inf}."""
    device = _op_device(op)
    ones = torch.ones((1, *op.in_shape), dtype=F64, device=device)
    n_in = math.prod(op.in_shape)
    g = gamma(n_in)
    row_l1 = op.abs_lin(ones).reshape(-1) * (1.0 + 4.0 * g)  # row sums of |A|
    row_sq = op.sq_lin(ones).reshape(-1) * (1.0 + 4.0 * g)  # squared row norms
    two_two = operator_norm_upper(op)
    inf_inf = float(up(row_l1.max()))
    two_inf = math.sqrt(float(row_sq.max())) * (1.0 + 4.0 * U)
    inf_two = min(
        math.sqrt(n_in) * two_two * (1.0 + 4.0 * U), math.sqrt(float((row_l1 * row_l1).sum())) * (1.0 + 4.0 * g)
    )
    return {"2,2": two_two, "inf,inf": inf_inf, "2,inf": two_inf, "inf,2": inf_two}


def op_norms(program: Program) -> list[float]:
    """``operator_norm_upper`` of each node's linear part (``inf`` for non-linear nodes)."""
    return [operator_norm_upper(n.op) if isinstance(n.op, LinearOp) else math.inf for n in program.nodes]


def program_lipschitz(program: Program, input_norm: str, upto: int | None = None) -> list[tuple[float, float]]:
    """Per value, upper bounds ``(L_2, L_inf)`` on its Lipschitz constant from ``input_norm`` to l2 / l-inf."""
    n_in = math.prod(program.in_shape)
    start = (1.0, 1.0) if input_norm == "l2" else (math.sqrt(n_in) * (1.0 + 4.0 * U), 1.0)
    lips: list[tuple[float, float]] = [start]
    nodes = program.nodes if upto is None else program.nodes[:upto]
    for node in nodes:
        op = node.op
        a2, ainf = lips[node.inputs[0]]
        if isinstance(op, LinearOp):
            nm = _mixed_norms(op)
            l2 = min(nm["2,2"] * a2, nm["inf,2"] * ainf)
            linf = min(nm["2,inf"] * a2, nm["inf,inf"] * ainf)
        elif isinstance(op, ActOp):
            s = op.max_slope
            l2, linf = s * a2, s * ainf
        elif isinstance(op, ReshapeOp):
            l2, linf = a2, ainf
        elif isinstance(op, AddOp):
            b2, binf = lips[node.inputs[1]]
            l2, linf = a2 + b2, ainf + binf
        elif isinstance(op, MaxPoolOp):
            l2, linf = a2, ainf  # disjoint windows: 1-Lipschitz in l2 and l-inf
        else:  # pragma: no cover
            raise TypeError(f"unknown operation {op!r}")
        lips.append((l2 * (1.0 + 8.0 * U), linf * (1.0 + 8.0 * U)))
    return lips


def lipschitz_upper_bound(
    module: Any, *, input_norm: str = "l2", output_norm: str = "l2", input_shape: Any = None
) -> isobound.Lipschitz:
    r"""A global Lipschitz constant of a network, proven from above: ``isobound.Lipschitz(L)``.

    ``||f(x) - f(y)||_out <= L ||x - y||_in`` for all ``x, y``.  ``L`` is built layer by layer
    on the network's graph: each linear layer contributes an upper bound on its operator
    norm, each activation its largest slope (ReLU, tanh: 1; sigmoid: 1/4; LeakyReLU, ELU:
    ``max(1, slope)``), a residual sum the sum of its branches' constants, a reshape or a
    max-pool over disjoint windows 1.  Operator norms are bounded from above:

    * ``Linear`` (and any layer whose matrix has at most ``2**22`` entries): the spectral
      norm from the Gram matrix's largest eigenvalue, with float64 rounding and the
      eigensolver's backward error added;
    * ``Conv2d`` / ``ConvTranspose2d`` beyond that size: the largest singular value of the
      Fourier symbol of the equivalent circular convolution, which bounds the zero-padded one
      (padding, strides and the transposition handled exactly; see :func:`conv_norm_upper`);
    * batch norm (eval mode): ``max |gamma| / sqrt(var + eps)``; average pooling and nearest
      upsampling: ``sqrt(||A||_1 ||A||_inf)``, exact for such non-negative maps.

    Both norms l2 and l-infinity are tracked at every layer (``||A||_{2->inf}`` is the
    largest row norm, ``||A||_{inf->inf}`` the largest row sum, ``||A||_{inf->2}`` at most
    ``min(sqrt(n) ||A||_2, || |A| 1 ||_2)``), and the better chain is kept.  Power iteration
    is never used: it approaches a norm from below.  The result is sound and usually loose
    (the product ignores how layers align); it holds for every input, so its failure
    probability is 0.

    Parameters
    ----------
    module : torch.nn.Module
        In eval mode, built from the layers listed in :func:`certified_modulus`.
    input_norm, output_norm : {"l2", "linf"}
        Norms on inputs and outputs.
    input_shape : tuple of int, optional
        Feature shape of one input (without the batch dimension).  Needed except for
        modules that declare it (the built-in generators' ``latent_dim``, a first
        ``Linear`` layer's ``in_features``).

    Examples
    --------
    >>> import torch
    >>> f = torch.nn.Sequential(torch.nn.Linear(2, 2, bias=False), torch.nn.ReLU()).eval()
    >>> with torch.no_grad():
    ...     _ = f[0].weight.copy_(torch.tensor([[3.0, 0.0], [0.0, 1.0]]))
    >>> lipschitz_upper_bound(f).L  # the ReLU is 1-Lipschitz, ||W||_2 = 3
    3.0000000000000...
    """
    input_norm = _norm_name("input_norm", input_norm)
    output_norm = _norm_name("output_norm", output_norm)
    shape = _input_shape(module, input_shape)
    program = build_program(module, shape, name="module")
    l2, linf = program_lipschitz(program, input_norm)[-1]
    value = l2 if output_norm == "l2" else min(linf, l2)
    return isobound.Lipschitz(float(value))


def _input_shape(module: Any, input_shape: Any) -> tuple[int, ...]:
    if input_shape is not None:
        if isinstance(input_shape, int) and not isinstance(input_shape, bool):
            input_shape = (input_shape,)
        try:
            shape = tuple(int(s) for s in input_shape)
        except (TypeError, ValueError):
            raise ValueError(
                f"input_shape must be a tuple of positive integers, got input_shape={input_shape!r}"
            ) from None
        if not shape or any(s < 1 for s in shape):
            raise ValueError(f"input_shape must be a tuple of positive integers, got input_shape={input_shape!r}")
        return shape
    latent = getattr(module, "latent_dim", None)
    if isinstance(latent, int) and not isinstance(latent, bool):
        return (latent,)
    first = module
    while isinstance(first, torch.nn.Sequential) and len(first) > 0:
        first = first[0]
    if isinstance(first, torch.nn.Linear):
        return (first.in_features,)
    raise ValueError(
        f"input_shape is needed for a {type(module).__name__}: give the feature shape of one input, "
        f"e.g. input_shape=(1, 8, 8)"
    )
