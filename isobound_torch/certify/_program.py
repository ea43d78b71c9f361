"""A network as a straight-line program of primitive operations.

The certified bounds reason about a network one primitive at a time: a linear
map (with its entrywise absolute value), an elementwise activation, a reshape,
a sum of two branches or a max-pool.  :func:`build_program` turns an
``nn.Module`` into such a program:

* ``nn.Sequential`` and the supported leaf layers are converted directly;
* the built-in generators (:class:`~isobound_torch.models.DCGANGenerator`,
  :class:`~isobound_torch.models.VAEDecoder`) and
  :class:`~isobound_torch.models.Normalize` by their known structure (their
  ``forward`` checks shapes, which symbolic tracing cannot follow);
* any other module by ``torch.fx`` symbolic tracing of its ``forward`` (residual
  blocks such as ``F.relu(self.conv(x) + x)``), each call of a sub-module being
  converted recursively.

Anything else raises :class:`UnsupportedModuleError` naming the module or the
function.  Every program is checked against the module itself: the two are
evaluated in float64 on random inputs of two batch sizes and must agree, so a
structure that was read wrongly is refused rather than certified.

Weights are copied in float64 (exactly, from float32 or float64).  The program
describes the network's real-valued function with its stored weights; the
module's own float32 forward pass differs from it by its rounding.
"""

from __future__ import annotations

import copy
import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

F64 = torch.float64

__all__ = ["UnsupportedModuleError", "Program", "build_program"]

_ESTIMATE_HINT = (
    "certified bounds support Linear, Conv2d, ConvTranspose2d, BatchNorm1d/2d (eval mode), ReLU, "
    "LeakyReLU, ELU, Tanh, Sigmoid, Upsample (nearest), AvgPool2d, AdaptiveAvgPool2d(1), MaxPool2d "
    "(kernel = stride), Flatten/Unflatten/reshape, Sequential and residual sums; use "
    "isobound_torch.estimate_modulus (a lower estimate) for other generators"
)


class UnsupportedModuleError(ValueError):
    """A module or function that the certified bounds cannot reason about."""


# ---------------------------------------------------------------------------------------------
# Operations.  Feature shapes exclude the batch dimension; every method takes (N, *in_shape).
# ---------------------------------------------------------------------------------------------


class Op:
    """A primitive operation of a :class:`Program`."""

    n_inputs = 1

    def apply(self, *xs: torch.Tensor) -> torch.Tensor:  # plain float64 evaluation
        raise NotImplementedError


class LinearOp(Op):
    """``x -> A x + b`` for a linear map ``A`` given by functions, not by a matrix.

    ``fan_in`` is the largest number of products summed into one output (the
    rounding error of a float dot product of ``n`` terms is at most
    ``gamma_n sum |a_i x_i|``); ``nonneg`` says that every entry of ``A`` is
    ``>= 0``.
    """

    fan_in: int = 1
    nonneg: bool = False
    bias: torch.Tensor | None = None
    #: an absolute bound on the rounding error of ``bias`` where it was computed (batch norm)
    bias_err: torch.Tensor | None = None
    in_shape: tuple[int, ...] = ()
    out_shape: tuple[int, ...] = ()

    def lin(self, x: torch.Tensor) -> torch.Tensor:
        """``A x``."""
        raise NotImplementedError

    def abs_lin(self, x: torch.Tensor) -> torch.Tensor:
        """``|A| x`` with ``|A|`` the entrywise absolute value."""
        raise NotImplementedError

    def sq_lin(self, x: torch.Tensor) -> torch.Tensor:
        """``(A o A) x`` (entrywise square): its value at ``x = 1`` gives the squared row norms."""
        raise NotImplementedError

    def lin_t(self, y: torch.Tensor) -> torch.Tensor:
        """``A^T y`` (by automatic differentiation of :meth:`lin`)."""
        x = torch.zeros((y.shape[0], *self.in_shape), dtype=y.dtype, device=y.device, requires_grad=True)
        with torch.enable_grad():
            (g,) = torch.autograd.grad(self.lin(x), x, grad_outputs=y)
        return g

    def apply(self, *xs: torch.Tensor) -> torch.Tensor:
        out = self.lin(xs[0])
        return out if self.bias is None else out + self.bias


class DenseOp(LinearOp):
    """``x -> W x + b`` on flat features."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        self.weight = weight.detach().to(F64)
        self.abs_weight = self.weight.abs()
        self.bias = None if bias is None else bias.detach().to(F64)
        self.fan_in = int(self.weight.shape[1])
        self.in_shape = (int(self.weight.shape[1]),)
        self.out_shape = (int(self.weight.shape[0]),)

    def lin(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight.T

    def abs_lin(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.abs_weight.T

    def sq_lin(self, x: torch.Tensor) -> torch.Tensor:
        return x @ (self.weight * self.weight).T

    def lin_t(self, y: torch.Tensor) -> torch.Tensor:
        return y @ self.weight


class ConvOp(LinearOp):
    """A 2-d convolution or transposed convolution (zero padding)."""

    def __init__(self, module: nn.Conv2d | nn.ConvTranspose2d, in_shape: tuple[int, ...]) -> None:
        if module.padding_mode != "zeros":
            raise UnsupportedModuleError(
                f"{type(module).__name__} with padding_mode={module.padding_mode!r} is not supported "
                f"(only 'zeros'); {_ESTIMATE_HINT}"
            )
        if isinstance(module.padding, str):
            raise UnsupportedModuleError(
                f"{type(module).__name__} with padding={module.padding!r} is not supported (give the "
                f"padding as numbers); {_ESTIMATE_HINT}"
            )
        self.transposed = isinstance(module, nn.ConvTranspose2d)
        self.weight = module.weight.detach().to(F64)
        self.abs_weight = self.weight.abs()
        self.sq_weight = self.weight * self.weight
        self.bias = None if module.bias is None else module.bias.detach().to(F64).view(-1, 1, 1)
        self.stride = tuple(module.stride)
        self.padding = tuple(module.padding)  # type: ignore[arg-type]
        self.dilation = tuple(module.dilation)
        self.groups = int(module.groups)
        self.output_padding = tuple(module.output_padding) if self.transposed else (0, 0)
        kh, kw = int(self.weight.shape[2]), int(self.weight.shape[3])
        cin = int(self.weight.shape[0]) // self.groups if self.transposed else int(self.weight.shape[1])
        self.fan_in = cin * kh * kw
        self.in_shape = tuple(in_shape)
        zeros = torch.zeros((1, *in_shape), dtype=F64, device=self.weight.device)
        self.out_shape = tuple(self.lin(zeros).shape[1:])

    def _conv(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        if self.transposed:
            return F.conv_transpose2d(
                x, w, None, self.stride, self.padding, self.output_padding, self.groups, self.dilation
            )
        return F.conv2d(x, w, None, self.stride, self.padding, self.dilation, self.groups)

    def lin(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv(x, self.weight)

    def abs_lin(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv(x, self.abs_weight)

    def sq_lin(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv(x, self.sq_weight)


class DiagOp(LinearOp):
    """``x -> s * x + b`` with ``s`` and ``b`` broadcast over the features (batch norm, scalings)."""

    def __init__(
        self, scale: torch.Tensor, bias: torch.Tensor | None, in_shape: tuple[int, ...], *, extra_rounding: int = 0
    ) -> None:
        self.scale = scale.detach().to(F64)
        self.bias = None if bias is None else bias.detach().to(F64)
        # the scale itself may carry a few roundings (batch norm's gamma / sqrt(var + eps))
        self.fan_in = 1 + extra_rounding
        self.in_shape = tuple(in_shape)
        zeros = torch.zeros((1, *in_shape), dtype=F64, device=self.scale.device)
        self.out_shape = tuple((zeros * self.scale).shape[1:])
        #: the scale broadcasts the input to a larger shape (then the map is not diagonal)
        self.broadcasts = self.out_shape != self.in_shape
        self.nonneg = bool((self.scale >= 0).all())

    def lin(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale

    def abs_lin(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale.abs()

    def sq_lin(self, x: torch.Tensor) -> torch.Tensor:
        return x * (self.scale * self.scale)

    def lin_t(self, y: torch.Tensor) -> torch.Tensor:
        if self.broadcasts:
            return super().lin_t(y)
        return y * self.scale


class PoolOp(LinearOp):
    """Average pooling, global average pooling, nearest upsampling or a selection of entries
    (slicing): a non-negative linear map.

    ``sq_factor`` is the common value of the non-zero entries (``1/k^2`` for a
    ``k x k`` average, ``1`` for upsampling), so that ``(A o A) x = sq_factor * A x``.
    """

    nonneg = True

    def __init__(
        self, fn: Callable[[torch.Tensor], torch.Tensor], in_shape: tuple[int, ...], fan_in: int, sq_factor: float
    ) -> None:
        self.fn = fn
        self.fan_in = int(fan_in)
        self.sq_factor = float(sq_factor)
        self.in_shape = tuple(in_shape)
        self.out_shape = tuple(fn(torch.zeros((1, *in_shape), dtype=F64)).shape[1:])

    def lin(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)

    def abs_lin(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)

    def sq_lin(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x) * self.sq_factor


@dataclass(frozen=True)
class ActOp(Op):
    """An elementwise non-decreasing activation.

    ``relu``, ``leaky_relu`` (slope ``param``), ``elu`` (``alpha = param``), ``tanh``,
    ``sigmoid``, ``clamp`` (to ``[param, param2]``, either end may be infinite).
    """

    kind: str
    param: float = 0.0
    param2: float = 0.0

    def apply(self, *xs: torch.Tensor) -> torch.Tensor:
        x = xs[0]
        if self.kind == "relu":
            return torch.relu(x)
        if self.kind == "leaky_relu":
            return F.leaky_relu(x, self.param)
        if self.kind == "elu":
            return F.elu(x, self.param)
        if self.kind == "tanh":
            return torch.tanh(x)
        if self.kind == "clamp":
            return torch.clamp(x, self.param, self.param2)
        return torch.sigmoid(x)

    @property
    def max_slope(self) -> float:
        """Largest derivative (the Lipschitz constant of the activation)."""
        if self.kind in ("relu", "tanh", "clamp"):
            return 1.0
        if self.kind in ("leaky_relu", "elu"):
            return max(1.0, self.param)
        return 0.25


@dataclass(frozen=True)
class ReshapeOp(Op):
    out_shape: tuple[int, ...]

    def apply(self, *xs: torch.Tensor) -> torch.Tensor:
        return xs[0].reshape(xs[0].shape[0], *self.out_shape)


@dataclass(frozen=True)
class AddOp(Op):
    """``a + sign * b`` (a residual sum, or a difference)."""

    sign: float = 1.0
    n_inputs = 2

    def apply(self, *xs: torch.Tensor) -> torch.Tensor:
        return xs[0] + self.sign * xs[1]


@dataclass(frozen=True)
class MaxPoolOp(Op):
    """Max pooling with non-overlapping ``k x k`` windows (kernel = stride, no padding)."""

    kernel: int

    def apply(self, *xs: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(xs[0], self.kernel)


@dataclass
class Node:
    op: Op
    inputs: tuple[int, ...]


@dataclass
class Program:
    """Values ``0 .. len(nodes)``: value 0 is the input, node ``i`` computes value ``i + 1``."""

    in_shape: tuple[int, ...]
    nodes: list[Node] = field(default_factory=list)
    shapes: list[tuple[int, ...]] = field(default_factory=list)

    @property
    def out_shape(self) -> tuple[int, ...]:
        return self.shapes[-1]

    def emit(self, op: Op, inputs: Sequence[int], example: torch.Tensor) -> int:
        self.nodes.append(Node(op, tuple(inputs)))
        self.shapes.append(tuple(example.shape[1:]))
        return len(self.nodes)

    def last_use(self) -> list[int]:
        """For each value, the index of the last node that reads it (-1: only the output)."""
        last = [-1] * (len(self.nodes) + 1)
        for i, node in enumerate(self.nodes):
            for j in node.inputs:
                last[j] = i
        return last

    def evaluate(self, x: torch.Tensor) -> torch.Tensor:
        """Plain float64 evaluation (no rounding control)."""
        values: list[torch.Tensor] = [x.to(F64)]
        for node in self.nodes:
            values.append(node.op.apply(*(values[j] for j in node.inputs)))
        return values[-1]


# ---------------------------------------------------------------------------------------------
# Building a program from a module
# ---------------------------------------------------------------------------------------------


class _Builder:
    def __init__(self, in_shape: tuple[int, ...], example: torch.Tensor) -> None:
        self.program = Program(tuple(in_shape), shapes=[tuple(in_shape)])
        self.examples: list[torch.Tensor] = [example]

    def emit(self, op: Op, inputs: Sequence[int]) -> int:
        out = op.apply(*(self.examples[j] for j in inputs))
        self.examples.append(out)
        return self.program.emit(op, inputs, out)

    def shape(self, v: int) -> tuple[int, ...]:
        return self.program.shapes[v]

    def reshape(self, v: int, shape: Sequence[int]) -> int:
        shape = tuple(int(s) for s in shape)
        if shape == self.shape(v):
            return v
        if math.prod(shape) != math.prod(self.shape(v)):
            raise UnsupportedModuleError(f"cannot reshape features of shape {self.shape(v)} to {shape}")
        return self.emit(ReshapeOp(shape), [v])

    # ---------------------------------------------------------------- modules
    def module(self, m: nn.Module, v: int, where: str) -> int:
        from ..models import DCGANGenerator, Normalize, VAEDecoder

        if isinstance(m, nn.Sequential):
            for name, child in m.named_children():
                v = self.module(child, v, f"{where}.{name}" if where else name)
            return v
        if isinstance(m, (nn.Identity, nn.Dropout)):
            return v
        if isinstance(m, nn.Linear):
            if len(self.shape(v)) != 1:
                raise UnsupportedModuleError(
                    f"Linear layer {where!r} receives features of shape {self.shape(v)}; certified bounds "
                    f"need flat features there (add a Flatten)"
                )
            return self.emit(DenseOp(m.weight, m.bias), [v])
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            return self.emit(ConvOp(m, self.shape(v)), [v])
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            return self.batch_norm(m, v, where)
        if isinstance(m, Normalize):
            std = m.std.detach().to(F64).view(-1, 1, 1)
            mean = m.mean.detach().to(F64).view(-1, 1, 1)
            op = DiagOp(1.0 / std, -mean / std, self.shape(v), extra_rounding=3)
            op.bias_err = (4 * 2.0**-53) * (mean / std).abs()
            return self.emit(op, [v])
        act = _activation_of_module(m, where)
        if act is not None:
            return self.emit(act, [v])
        if isinstance(m, nn.Flatten):
            shape = self.shape(v)
            start = m.start_dim if m.start_dim >= 0 else m.start_dim + len(shape) + 1
            end = m.end_dim if m.end_dim >= 0 else m.end_dim + len(shape) + 1
            if start < 1:
                raise UnsupportedModuleError(
                    f"Flatten {where!r} with start_dim={m.start_dim} mixes the batch dimension"
                )
            new = (*shape[:start - 1], math.prod(shape[start - 1:end]), *shape[end:])
            return self.reshape(v, new)
        if isinstance(m, nn.Unflatten):
            dim = m.dim if isinstance(m.dim, int) else None
            if dim is None or dim < 1:
                raise UnsupportedModuleError(f"Unflatten {where!r} with dim={m.dim!r} is not supported")
            shape = self.shape(v)
            new = shape[: dim - 1] + tuple(m.unflattened_size) + shape[dim:]  # type: ignore[arg-type]
            return self.reshape(v, new)
        if isinstance(m, (nn.Upsample, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.MaxPool2d)):
            return self.pooling(m, v, where)
        if isinstance(m, DCGANGenerator):
            v = self.reshape(v, (self.shape(v)[0], 1, 1))
            v = self.module(m.net, v, f"{where}.net" if where else "net")
            v = self.emit(ActOp("tanh"), [v])
            half = torch.tensor(0.5, dtype=F64)
            return self.emit(DiagOp(half, half, self.shape(v)), [v])
        if isinstance(m, VAEDecoder):
            v = self.module(m.net, v, f"{where}.net" if where else "net")
            v = self.reshape(v, m.image_shape)
            return self.emit(ActOp("sigmoid"), [v])
        if type(m).__module__.startswith("torch.nn"):
            raise UnsupportedModuleError(
                f"layer {where or 'the model itself'!r} ({type(m).__name__}) is not supported; {_ESTIMATE_HINT}"
            )
        return self.traced(m, v, where)

    def batch_norm(self, m: nn.modules.batchnorm._BatchNorm, v: int, where: str) -> int:
        if m.training:
            raise ValueError(
                f"{type(m).__name__} layer {where!r} is in training mode, which couples the samples of a "
                f"batch; call .eval() first"
            )
        if m.running_mean is None or m.running_var is None:
            raise UnsupportedModuleError(
                f"{type(m).__name__} layer {where!r} keeps no running statistics (track_running_stats=False)"
            )
        shape = self.shape(v)
        var = m.running_var.detach().to(F64)
        scale = 1.0 / torch.sqrt(var + float(m.eps))
        if m.weight is not None:
            scale = scale * m.weight.detach().to(F64)
        shift = -m.running_mean.detach().to(F64) * scale
        if m.bias is not None:
            shift = shift + m.bias.detach().to(F64)
        view = (-1,) + (1,) * (len(shape) - 1)
        op = DiagOp(scale.view(view), shift.view(view), shape, extra_rounding=6)
        # shift = bias - mean * scale carries a few roundings of its terms' size
        size = (m.running_mean.detach().to(F64) * scale).abs()
        if m.bias is not None:
            size = size + m.bias.detach().to(F64).abs()
        op.bias_err = (8 * 2.0**-53) * size.view(view)
        return self.emit(op, [v])

    def pooling(self, m: nn.Module, v: int, where: str) -> int:
        shape = self.shape(v)
        name = type(m).__name__
        if len(shape) != 3:
            raise UnsupportedModuleError(f"{name} {where!r} needs (C, H, W) features, got {shape}")
        if isinstance(m, nn.Upsample):
            if m.mode != "nearest":
                raise UnsupportedModuleError(
                    f"Upsample {where!r} with mode={m.mode!r} is not supported (only 'nearest'); {_ESTIMATE_HINT}"
                )
            fn: Callable[[torch.Tensor], torch.Tensor] = lambda x, m=m: F.interpolate(
                x, size=m.size, scale_factor=m.scale_factor, mode="nearest"
            )
            return self.emit(PoolOp(fn, shape, 1, 1.0), [v])
        if isinstance(m, nn.AdaptiveAvgPool2d):
            size = m.output_size
            if size not in (1, (1, 1)):
                raise UnsupportedModuleError(
                    f"AdaptiveAvgPool2d {where!r} with output_size={size!r} is not supported (only 1)"
                )
            n = shape[1] * shape[2]
            return self.emit(PoolOp(lambda x: x.mean(dim=(2, 3), keepdim=True), shape, n, 1.0 / n), [v])
        k, s, p = _pool_params(m)
        if s != k or p != 0 or getattr(m, "ceil_mode", False) or getattr(m, "dilation", 1) not in (1, (1, 1)):
            raise UnsupportedModuleError(
                f"{name} {where!r} must have kernel_size = stride, padding 0, dilation 1 and "
                f"ceil_mode=False (got kernel_size={m.kernel_size!r}, stride={m.stride!r}, padding={m.padding!r})"  # type: ignore[attr-defined]
            )
        if isinstance(m, nn.MaxPool2d):
            if m.return_indices:
                raise UnsupportedModuleError(f"MaxPool2d {where!r} with return_indices=True is not supported")
            return self.emit(MaxPoolOp(k), [v])
        if isinstance(m, nn.AvgPool2d) and m.divisor_override is not None:
            raise UnsupportedModuleError(f"AvgPool2d {where!r} with divisor_override is not supported")
        return self.emit(PoolOp(lambda x, k=k: F.avg_pool2d(x, k), shape, k * k, 1.0 / (k * k)), [v])

    # ---------------------------------------------------------------- torch.fx
    def traced(self, m: nn.Module, v: int, where: str) -> int:
        import torch.fx

        class Tracer(torch.fx.Tracer):
            def is_leaf_module(self, mod: nn.Module, qualname: str) -> bool:
                return True

        label = where or "the model itself"
        try:
            graph = Tracer().trace(m)
        except Exception as exc:
            raise UnsupportedModuleError(
                f"module {label!r} ({type(m).__name__}) could not be traced with torch.fx "
                f"({type(exc).__name__}: {exc}); {_ESTIMATE_HINT}"
            ) from None
        env: dict[Any, Any] = {}
        n_inputs = 0
        result: Any = None
        for node in graph.nodes:
            if node.op == "placeholder":
                if n_inputs:
                    if node.args:  # a default value: use it
                        env[node] = _Const(node.args[0])
                        continue
                    raise UnsupportedModuleError(f"module {label!r} takes more than one input")
                env[node] = _Var(v)
                n_inputs += 1
            elif node.op == "get_attr":
                env[node] = _Const(_get_attr(m, node.target))
            elif node.op == "call_module":
                sub = m.get_submodule(node.target)
                (x,) = self.args_of(node, env, label)
                sub_where = f"{where}.{node.target}" if where else str(node.target)
                env[node] = _Var(self.module(sub, self.var(x, node, label), sub_where))
            elif node.op in ("call_function", "call_method"):
                env[node] = self.call(node, env, label)
            elif node.op == "output":
                result = env[node.args[0]] if not isinstance(node.args[0], (tuple, list)) else None
        if not isinstance(result, _Var):
            raise UnsupportedModuleError(f"module {label!r} must return one tensor that depends on its input")
        return result.value

    def args_of(self, node: Any, env: dict[Any, Any], label: str) -> list[Any]:
        import torch.fx

        if node.kwargs:
            raise UnsupportedModuleError(f"in {label!r}: keyword arguments of {node.target} are not supported")
        return [env[a] if isinstance(a, torch.fx.Node) else _Const(a) for a in _flat_args(node.args)]

    def var(self, x: Any, node: Any, label: str) -> int:
        if not isinstance(x, _Var):
            raise UnsupportedModuleError(f"in {label!r}: {node.target} is applied to a constant")
        return int(x.value)

    def call(self, node: Any, env: dict[Any, Any], label: str) -> Any:
        import torch.fx

        target = node.target
        name = target if isinstance(target, str) else getattr(target, "__name__", repr(target))
        raw = torch.fx.node.map_arg(node.args, lambda a: env[a])
        kw = torch.fx.node.map_arg(node.kwargs, lambda a: env[a])
        values = list(_flat_args(raw)) + list(_flat_args(tuple(kw.values())))
        if not any(isinstance(a, _Var) for a in values):  # constants only: evaluate now
            args = _unwrap(raw)
            kwargs = _unwrap(kw)
            fn = getattr(args[0], target) if node.op == "call_method" else target
            rest = args[1:] if node.op == "call_method" else args
            return _Const(fn(*rest, **kwargs))
        fail = UnsupportedModuleError(f"in {label!r}: {name} is not supported here; {_ESTIMATE_HINT}")
        x = raw[0] if raw else None
        args = raw[1:] if raw else ()
        if node.op == "call_method" and isinstance(x, _Var):
            # shape queries and shape-only methods on a traced tensor
            ex = self.examples[x.value]
            if target in ("size", "dim") and not kw:
                return _Const(getattr(ex, target)(*_unwrap(args)))
            if target in ("view", "reshape", "flatten", "unsqueeze", "squeeze", "contiguous", "view_as", "reshape_as"):
                out = getattr(ex, target)(*_unwrap(args), **_unwrap(kw))
                return self.shape_only(x.value, out, name, label)
            act = _activation_of_name(target, _unwrap(args), _unwrap(kw))
            if act is not None:
                return _Var(self.emit(act, [x.value]))
            raise fail
        if target is getattr and isinstance(x, _Var) and args and _unwrap(args[0]) == "shape":
            return _Const(self.examples[x.value].shape)
        if target in (torch.flatten, torch.reshape, torch.squeeze, torch.unsqueeze) and isinstance(x, _Var):
            out = target(self.examples[x.value], *_unwrap(args), **_unwrap(kw))
            return self.shape_only(x.value, out, name, label)
        if target is operator.getitem and isinstance(x, _Var):
            index = _unwrap(args[0])
            idx = index if isinstance(index, tuple) else (index,)
            if all(i is None or (isinstance(i, slice) and i == slice(None)) for i in idx):
                out = self.examples[x.value][index]
                return self.shape_only(x.value, out, name, label)
            if idx and idx[0] == slice(None) and all(
                i is None or i is Ellipsis or isinstance(i, (slice, int)) for i in idx
            ):  # a selection of entries per sample (slicing): a 0/1 linear map
                fn: Callable[[torch.Tensor], torch.Tensor] = lambda t, index=index: t[index]
                return _Var(self.emit(PoolOp(fn, self.shape(x.value), 1, 1.0), [x.value]))
            raise fail
        act = _activation_of_function(target, _unwrap(args), _unwrap(kw))
        if act is not None and isinstance(x, _Var):
            return _Var(self.emit(act, [x.value]))
        if target in (F.adaptive_avg_pool2d, F.avg_pool2d, F.max_pool2d, F.interpolate) and isinstance(x, _Var):
            return _Var(self.functional_pool(target, x.value, _unwrap(args), _unwrap(kw), label))
        if target in (operator.add, torch.add, operator.sub, torch.sub, operator.iadd, operator.isub) and not kw:
            a, b = raw
            sign = -1.0 if target in (operator.sub, torch.sub, operator.isub) else 1.0
            if isinstance(a, _Var) and isinstance(b, _Var):
                if self.shape(a.value) != self.shape(b.value):
                    raise UnsupportedModuleError(
                        f"in {label!r}: a sum of features of shapes {self.shape(a.value)} and {self.shape(b.value)} "
                        f"(broadcasting) is not supported"
                    )
                return _Var(self.emit(AddOp(sign), [a.value, b.value]))
            if isinstance(a, _Var):
                return _Var(self.affine(a.value, 1.0, sign * _number(_unwrap(b), fail)))
            return _Var(self.affine(b.value, sign, _number(_unwrap(a), fail)))
        if target in (operator.mul, torch.mul, operator.truediv, torch.div) and not kw:
            a, b = raw
            div = target in (operator.truediv, torch.div)
            if isinstance(a, _Var) and not isinstance(b, _Var):
                return _Var(self.scaled(a.value, _unwrap(b), div, fail))
            if isinstance(b, _Var) and not isinstance(a, _Var) and not div:
                return _Var(self.scaled(b.value, _unwrap(a), False, fail))
            raise fail
        if target is operator.neg:
            return _Var(self.affine(x.value, -1.0, 0.0))
        if target in (operator.matmul, torch.matmul) and isinstance(x, _Var) and not isinstance(args[0], _Var):
            mat = _unwrap(args[0])
            if not isinstance(mat, torch.Tensor) or mat.dim() != 2:
                raise fail
            return _Var(self.dense(x.value, mat.T, None, label))
        if target is F.linear and isinstance(x, _Var) and not any(isinstance(a, _Var) for a in args):
            w = _unwrap(args[0])
            b = _unwrap(args[1]) if len(args) > 1 else kw.get("bias")
            return _Var(self.dense(x.value, w, _unwrap(b) if b is not None else None, label))
        raise fail

    def shape_only(self, v: int, out: torch.Tensor, name: str, label: str) -> _Var:
        if out.shape[0] != self.examples[v].shape[0]:
            raise UnsupportedModuleError(f"in {label!r}: {name} changes the batch dimension")
        return _Var(self.reshape(v, out.shape[1:]))

    def affine(self, v: int, scale: float, shift: float) -> int:
        s = torch.tensor(float(scale), dtype=F64)
        b = torch.tensor(float(shift), dtype=F64) if shift else None
        return self.emit(DiagOp(s, b, self.shape(v), extra_rounding=1), [v])

    def scaled(self, v: int, c: Any, div: bool, fail: Exception) -> int:
        """``x * c`` or ``x / c`` for a constant number or a constant tensor (broadcast over the features)."""
        if isinstance(c, torch.Tensor) and c.numel() > 1:
            scale = c.detach().to(F64)
            if scale.dim() > len(self.shape(v)) or not bool(torch.isfinite(scale).all()):
                raise fail
            if div:
                scale = 1.0 / scale
            return self.emit(DiagOp(scale, None, self.shape(v), extra_rounding=1), [v])
        value = _number(c, fail)
        if div and value == 0:
            raise fail
        return self.affine(v, 1.0 / value if div else value, 0.0)

    def dense(self, v: int, w: Any, b: Any, label: str) -> int:
        if len(self.shape(v)) != 1:
            raise UnsupportedModuleError(f"in {label!r}: a matrix product on features of shape {self.shape(v)}")
        return self.emit(DenseOp(torch.as_tensor(w), None if b is None else torch.as_tensor(b)), [v])

    def functional_pool(self, fn: Any, v: int, args: list[Any], kw: dict[str, Any], label: str) -> int:
        if fn is F.adaptive_avg_pool2d:
            return self.pooling(nn.AdaptiveAvgPool2d(*args, **kw), v, label)
        if fn is F.avg_pool2d:
            return self.pooling(nn.AvgPool2d(*args, **kw), v, label)
        if fn is F.max_pool2d:
            return self.pooling(nn.MaxPool2d(*args, **kw), v, label)
        return self.pooling(nn.Upsample(*args, **kw), v, label)


@dataclass(frozen=True)
class _Const:
    value: Any


@dataclass(frozen=True)
class _Var:
    value: int


def _flat_args(args: Any) -> list[Any]:
    out: list[Any] = []
    for a in args:
        if isinstance(a, (tuple, list)):
            out.extend(_flat_args(a))
        else:
            out.append(a)
    return out


def _unwrap(x: Any) -> Any:
    if isinstance(x, _Const):
        return x.value
    if isinstance(x, tuple):
        return tuple(_unwrap(a) for a in x)
    if isinstance(x, list):
        return [_unwrap(a) for a in x]
    if isinstance(x, dict):
        return {k: _unwrap(a) for k, a in x.items()}
    if isinstance(x, slice):
        return slice(_unwrap(x.start), _unwrap(x.stop), _unwrap(x.step))
    return x


def _number(value: Any, fail: Exception) -> float:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    raise fail


def _get_attr(m: nn.Module, target: str) -> Any:
    obj: Any = m
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj.detach() if isinstance(obj, torch.Tensor) else obj


def _pool_params(m: nn.Module) -> tuple[int, int, int]:
    def one(x: Any, name: str) -> int:
        if isinstance(x, (tuple, list)):
            if len(set(x)) != 1:
                raise UnsupportedModuleError(f"{type(m).__name__} with non-square {name}={x!r} is not supported")
            x = x[0]
        return int(x)

    k = one(m.kernel_size, "kernel_size")  # type: ignore[attr-defined]
    s = one(m.stride if m.stride is not None else m.kernel_size, "stride")  # type: ignore[attr-defined]
    return k, s, one(m.padding, "padding")  # type: ignore[attr-defined]


def _activation(kind: str, param: float, where: str) -> ActOp:
    if kind in ("leaky_relu", "elu") and not (math.isfinite(param) and param >= 0):
        raise UnsupportedModuleError(
            f"{kind} with a negative or non-finite parameter ({param!r}) at {where!r} is not monotone; not supported"
        )
    return ActOp(kind, float(param))


def _activation_of_module(m: nn.Module, where: str) -> ActOp | None:
    if isinstance(m, nn.ReLU):
        return ActOp("relu")
    if isinstance(m, nn.LeakyReLU):
        return _activation("leaky_relu", float(m.negative_slope), where)
    if isinstance(m, nn.ELU):
        return _activation("elu", float(m.alpha), where)
    if isinstance(m, nn.Tanh):
        return ActOp("tanh")
    if isinstance(m, nn.Sigmoid):
        return ActOp("sigmoid")
    if isinstance(m, nn.Hardtanh):  # ReLU6 included
        return _clamp(float(m.min_val), float(m.max_val), where)
    return None


def _clamp(lo: Any, hi: Any, where: str) -> ActOp:
    lo = -math.inf if lo is None else float(lo)
    hi = math.inf if hi is None else float(hi)
    if math.isnan(lo) or math.isnan(hi) or lo > hi:
        raise UnsupportedModuleError(f"clamp to [{lo}, {hi}] at {where!r} is not supported")
    return ActOp("clamp", lo, hi)


def _activation_of_name(name: str, args: list[Any], kw: dict[str, Any]) -> ActOp | None:
    if name in ("clamp", "clip", "clamp_"):
        return _activation_of_function(torch.clamp, args, kw)
    if name in ("relu", "relu_") and not args and not kw:
        return ActOp("relu")
    if name in ("tanh", "tanh_") and not args and not kw:
        return ActOp("tanh")
    if name in ("sigmoid", "sigmoid_") and not args and not kw:
        return ActOp("sigmoid")
    return None


def _activation_of_function(fn: Any, args: list[Any], kw: dict[str, Any]) -> ActOp | None:
    kw = {k: v for k, v in kw.items() if k != "inplace"}
    if fn in (torch.relu, F.relu) and not args and not kw:
        return ActOp("relu")
    if fn in (torch.tanh, F.tanh) and not args and not kw:
        return ActOp("tanh")
    if fn in (torch.sigmoid, F.sigmoid) and not args and not kw:
        return ActOp("sigmoid")
    if fn in (torch.clamp, torch.clip, F.hardtanh):
        default = (-1.0, 1.0) if fn is F.hardtanh else (None, None)
        names = ("min_val", "max_val") if fn is F.hardtanh else ("min", "max")
        lo = args[0] if len(args) > 0 else kw.get(names[0], default[0])
        hi = args[1] if len(args) > 1 else kw.get(names[1], default[1])
        if isinstance(lo, torch.Tensor) or isinstance(hi, torch.Tensor):
            return None
        return _clamp(lo, hi, getattr(fn, "__name__", "clamp"))
    if fn is F.leaky_relu:
        slope = args[0] if args else kw.get("negative_slope", 0.01)
        return _activation("leaky_relu", float(slope), fn.__name__)
    if fn is F.elu:
        alpha = args[0] if args else kw.get("alpha", 1.0)
        return _activation("elu", float(alpha), fn.__name__)
    return None


def build_program(model: Any, in_shape: Sequence[int], *, name: str = "generator") -> Program:
    """The :class:`Program` of ``model`` on inputs of feature shape ``in_shape``, checked against it.

    Raises
    ------
    ValueError
        ``model`` is in training mode (batch norm or dropout), or is not an ``nn.Module``.
    UnsupportedModuleError
        A layer or function that the certified bounds do not support (named in the message).
    """
    from .._validate import model_mode_problem

    if not isinstance(model, nn.Module):
        raise UnsupportedModuleError(
            f"{name} must be a torch.nn.Module built from supported layers for a certified bound, got "
            f"{type(model).__name__}; {_ESTIMATE_HINT}"
        )
    problem = model_mode_problem(name, model)
    if problem:
        raise ValueError(problem)
    in_shape = tuple(int(s) for s in in_shape)
    gen = torch.Generator().manual_seed(12345)
    example = torch.randn((2, *in_shape), generator=gen, dtype=F64).to(_device_of(model))
    twin = copy.deepcopy(model).to(F64)
    try:
        with torch.no_grad():
            twin(example)
    except Exception as exc:
        raise ValueError(
            f"{name} does not accept inputs of shape {(2, *in_shape)} ({type(exc).__name__}: {exc})"
        ) from None
    builder = _Builder(in_shape, example)
    out = builder.module(model, 0, "")
    program = builder.program
    if out == 0:
        program.emit(DiagOp(torch.tensor(1.0, dtype=F64), None, in_shape), [0], example)
    _check_against_module(program, twin, in_shape, gen, name)
    return program


def _check_against_module(
    program: Program, twin: nn.Module, in_shape: tuple[int, ...], gen: torch.Generator, name: str
) -> None:
    """The program must compute what the module (its float64 copy) computes, at two batch sizes."""
    device = _device_of(twin)
    for batch in (3, 1):
        x = torch.randn((batch, *in_shape), generator=gen, dtype=F64)
        with torch.no_grad():
            want = twin(x.to(device)).to("cpu", F64)
            got = _evaluate_on(program, x, device)
        atol = 1e-9 * (1 + float(want.abs().max()))
        if want.shape != got.shape or not torch.allclose(got, want, rtol=1e-9, atol=atol):
            raise UnsupportedModuleError(
                f"the certified bounds' reading of {name} does not reproduce its forward pass (output shapes "
                f"{tuple(want.shape)} and {tuple(got.shape)}); it uses an operation they do not model; "
                f"{_ESTIMATE_HINT}"
            )


def _evaluate_on(program: Program, x: torch.Tensor, device: torch.device) -> torch.Tensor:
    return program.evaluate(x.to(device)).to("cpu", F64)


def _device_of(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return torch.device("cpu")
