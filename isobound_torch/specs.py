"""Turn a model SPEC (a string from the command line) into a torch module.

A SPEC is ``TARGET[,key=value,...]``; the keyword arguments go to the factory or
the built-in architecture (values are read as Python literals, else as text).
``TARGET`` is one of:

``package.module:factory``
    Imports ``package.module`` (from the current directory, then ``sys.path``)
    and calls ``factory(**kwargs)``, which must return the model (an
    ``nn.Module`` or a callable). An attribute that already is an ``nn.Module``
    is used as it is. **Importing a module runs its code**, as any Python import
    does: name only code you trust.
a TorchScript file
    Loaded with :func:`torch.jit.load` (``torch.jit.script(model).save(path)``).
a ``torch.export`` program file
    Loaded with :func:`torch.export.load` (``torch.export.save(program, path)``);
    export it with a dynamic batch dimension, since the attacks evaluate batches
    of changing size.
``ARCH:weights.pt``
    A built-in architecture (``dcgan``, ``vae`` for generators; ``lenet``,
    ``cnn``, ``mlp``, ``resnet18``, ``resnet101``, ``vgg11``..``vgg19``,
    ``wrn-<depth>-<widen>`` for classifiers) whose ``state_dict`` is read with
    ``torch.load(..., weights_only=True)``. Sizes are read off the weights where
    they can be (image shape, channels, classes, widths) and can be given as
    keyword arguments. A stage file of an ``isobound experiment`` run works too.

Nothing here unpickles a whole model object: a file written by
``torch.save(model)`` is refused with a message saying what to save instead.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import math
import os
import re
import sys
import warnings
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .models import CLASSIFIER_NAMES, GENERATOR_NAMES, build_classifier, parse_classifier_name

__all__ = ["LoadedModel", "load_model", "parse_spec", "split_classifier_spec", "describe_input"]

_MODULE_RE = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")


@dataclass
class LoadedModel:
    """A model resolved from a SPEC.

    Attributes
    ----------
    model : nn.Module or callable
        What the SPEC names, in eval mode when it is a module.
    kind : str
        ``"factory"``, ``"torchscript"``, ``"export"`` or ``"builtin"``.
    spec : str
        The SPEC as given.
    description : str
        One line for the report.
    file_sha256 : str or None
        Digest of the file the model came from (files only).
    extra : dict
        Kind-specific facts (the architecture's inferred sizes, ...).
    """

    model: Any
    kind: str
    spec: str
    description: str
    file_sha256: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "spec": self.spec,
            "kind": self.kind,
            "description": self.description,
            "file_sha256": self.file_sha256,
            **self.extra,
        }


def _literal(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _split_top_level(text: str) -> list[str]:
    """Split on commas outside brackets and quotes (``y=[1, 2]`` stays one item)."""
    parts: list[str] = []
    depth, quote, start = 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(depth - 1, 0)
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


def parse_spec(spec: str, arg: str = "spec") -> tuple[str, dict[str, Any]]:
    """Split ``TARGET[,key=value,...]`` into the target and the keyword arguments.

    Commas inside brackets or quotes belong to a value; a comma in a file name
    is not supported.

    Examples
    --------
    >>> parse_spec("mypkg.models:make,width=16,act='relu'")
    ('mypkg.models:make', {'width': 16, 'act': 'relu'})
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"{arg} must be a non-empty SPEC string, got {arg}={spec!r}")
    target, *rest = _split_top_level(spec)
    kwargs: dict[str, Any] = {}
    for item in rest:
        key, sep, value = item.partition("=")
        if not sep or not key.strip().isidentifier():
            raise ValueError(f"{arg}: keyword arguments after the target must read key=value, got {item!r} in {spec!r}")
        kwargs[key.strip()] = _literal(value.strip())
    if not target:
        raise ValueError(f"{arg} names no model before its keyword arguments, got {arg}={spec!r}")
    return target, kwargs


def split_classifier_spec(text: str, arg: str = "--classifier") -> tuple[str, str]:
    """``NAME=SPEC`` into its name and SPEC.

    Examples
    --------
    >>> split_classifier_spec("cnn=mypkg.models:make_cnn,width=8")
    ('cnn', 'mypkg.models:make_cnn,width=8')
    """
    name, sep, spec = text.partition("=")
    name = name.strip()
    if not sep or not name or not spec.strip() or any(c in name for c in ",:/\\"):
        raise ValueError(f"{arg} must read NAME=SPEC (e.g. cnn=weights.ts), got {arg} {text!r}")
    return name, spec.strip()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _zip_names(path: Path) -> list[str]:
    try:
        with zipfile.ZipFile(path) as zf:
            return zf.namelist()
    except (zipfile.BadZipFile, OSError):
        return []


def _load_file(path: Path, spec: str, arg: str, device: torch.device) -> LoadedModel:
    names = _zip_names(path)
    leaf = {n.split("/", 1)[-1] for n in names}
    digest = _sha256(path)
    if "archive_format" in leaf:  # torch.export.save
        try:
            program = torch.export.load(str(path))
        except Exception as exc:
            raise ValueError(f"{arg} {spec!r}: torch.export.load could not read the file: {exc}") from exc
        model = program.module().to(device)
        return LoadedModel(model, "export", spec, f"torch.export program {path.name}", digest)
    if "constants.pkl" in leaf and any("/code/" in f"/{n}" for n in names):  # TorchScript
        try:
            with warnings.catch_warnings():
                # torch announces the deprecation of TorchScript on every load; the user chose
                # the format, and a warning turned into an error must not refuse their model
                warnings.filterwarnings(
                    "ignore", message=".*torch.jit.load.* is deprecated", category=DeprecationWarning
                )
                model = torch.jit.load(str(path), map_location=device)
        except Exception as exc:
            raise ValueError(f"{arg} {spec!r}: torch.jit.load could not read the file: {exc}") from exc
        return LoadedModel(model.eval(), "torchscript", spec, f"TorchScript {path.name}", digest)
    if "data.pkl" in leaf:
        raise ValueError(
            f"{arg} {spec!r} is a torch.save file (weights or a pickled object), not a TorchScript or "
            "torch.export program; isobound never unpickles whole models. Give it as ARCH:PATH for a built-in "
            f"architecture ({', '.join(GENERATOR_NAMES + CLASSIFIER_NAMES)}), or load it in your own factory "
            "(package.module:factory), or save torch.jit.script(model) / torch.export.export(...) instead"
        )
    raise ValueError(
        f"{arg} {spec!r} is not a model file: expected a TorchScript file (torch.jit.save) or a torch.export "
        "program (torch.export.save), got "
        + ("a zip archive of another kind" if names else "a file that is not a zip archive")
    )


def _import_target(target: str, kwargs: Mapping[str, Any], spec: str, arg: str) -> LoadedModel:
    module_name, _, attr = target.partition(":")
    cwd = os.getcwd()
    added = cwd not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"{arg} {spec!r} does not resolve: cannot import {module_name!r} ({exc})") from exc
    finally:
        if added and cwd in sys.path:
            sys.path.remove(cwd)
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"{arg} {spec!r} does not resolve: module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if isinstance(obj, nn.Module):
        if kwargs:
            raise ValueError(f"{arg} {spec!r}: {attr!r} is a module instance, so it takes no keyword arguments")
        model = obj
    elif callable(obj):
        try:
            model = obj(**kwargs)
        except TypeError as exc:
            raise ValueError(f"{arg} {spec!r}: calling {attr}(**{dict(kwargs)!r}) failed: {exc}") from exc
        if not callable(model):
            raise ValueError(
                f"{arg} {spec!r}: the factory {attr!r} must return a model (an nn.Module or a callable), "
                f"got {type(model).__name__}"
            )
    else:
        raise ValueError(f"{arg} {spec!r}: {attr!r} is a {type(obj).__name__}, neither a module nor a factory")
    return LoadedModel(model, "factory", spec, f"`{target}` ({type(model).__name__})")


# ---------------------------------------------------------------------------------------
# built-in architectures from a weights file
# ---------------------------------------------------------------------------------------


def _weights(path: Path, spec: str, arg: str) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise ValueError(f"{arg} {spec!r} does not resolve: no such weights file {str(path)!r}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(
            f"{arg} {spec!r}: {str(path)!r} is not a weights file that torch.load(weights_only=True) reads "
            f"(a whole pickled model is refused on purpose; save model.state_dict()): {str(exc).splitlines()[0]}"
        ) from exc
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):  # an experiment classifier stage file
        obj = {**obj["state_dict"]}
    elif isinstance(obj, dict) and isinstance(obj.get("generator"), dict):  # an experiment generator stage file
        obj = obj["generator"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(
            f"{arg} {spec!r}: {str(path)!r} must hold a state_dict (names to tensors), got {type(obj).__name__}"
        )
    return obj


def _load_state(model: nn.Module, state: Mapping[str, torch.Tensor], spec: str, arg: str, hint: str) -> nn.Module:
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ValueError(f"{arg} {spec!r}: the weights do not fit {hint}: {str(exc).splitlines()[0]}") from exc
    return model


def _image_shape_of(size: int, kwargs: Mapping[str, Any], spec: str, arg: str) -> tuple[int, int, int]:
    shape = kwargs.get("image_shape")
    if shape is not None:
        if isinstance(shape, str):
            shape = tuple(int(p) for p in shape.lower().split("x"))
        shape = tuple(int(v) for v in shape)
        if len(shape) != 3 or math.prod(shape) != size:
            raise ValueError(
                f"{arg} {spec!r}: image_shape={kwargs['image_shape']!r} must be (C, H, W) with C*H*W = {size}"
            )
        return shape  # type: ignore[return-value]
    for c in (1, 3):
        side = math.isqrt(size // c)
        if size % c == 0 and side * side * c == size:
            return (c, side, side)
    raise ValueError(f"{arg} {spec!r}: cannot tell the image shape from {size} outputs; add image_shape=CxHxW")


def _builtin_generator(arch: str, path: Path, kwargs: dict[str, Any], spec: str, arg: str) -> LoadedModel:
    from .models import DCGANGenerator, VAEDecoder

    state = _weights(path, spec, arg)
    if any(k.startswith("decoder.") for k in state):  # a whole VAE: its decoder is the generator
        state = {k[len("decoder.") :]: v for k, v in state.items() if k.startswith("decoder.")}
    if arch == "dcgan":
        convs = [k for k, v in state.items() if k.startswith("net.") and k.endswith(".weight") and v.dim() == 4]
        if not convs:
            raise ValueError(f"{arg} {spec!r}: no DCGAN convolution weights (net.<i>.weight) in {str(path)!r}")
        first, last = state[convs[0]], state[convs[-1]]
        steps = 0 if last.shape[-1] == 3 else len(convs) - 1
        latent_dim = int(kwargs.pop("latent_dim", first.shape[0]))
        ngf = int(kwargs.pop("ngf", first.shape[1] // 2 ** max(steps - 1, 0)))
        out_channels = int(kwargs.pop("out_channels", last.shape[1] if steps else last.shape[0]))
        image_size = int(kwargs.pop("image_size", 4 * 2**steps))
        if kwargs:
            raise ValueError(f"{arg} {spec!r}: unknown keyword arguments {sorted(kwargs)} for dcgan")
        model: nn.Module = DCGANGenerator(latent_dim, out_channels, image_size, ngf=ngf)
        facts: dict[str, Any] = {
            "latent_dim": latent_dim,
            "ngf": ngf,
            "out_channels": out_channels,
            "image_size": image_size,
        }
    else:
        linear = [k for k, v in state.items() if k.endswith(".weight") and v.dim() == 2]
        if not linear:
            raise ValueError(f"{arg} {spec!r}: no VAE decoder weights (net.<i>.weight) in {str(path)!r}")
        latent_dim = int(state[linear[0]].shape[1])
        hidden = tuple(int(state[k].shape[0]) for k in linear[:-1])
        image_shape = _image_shape_of(int(state[linear[-1]].shape[0]), kwargs, spec, arg)
        kwargs.pop("image_shape", None)
        if kwargs:
            raise ValueError(f"{arg} {spec!r}: unknown keyword arguments {sorted(kwargs)} for vae")
        model = VAEDecoder(latent_dim, image_shape, hidden=hidden)
        facts = {"latent_dim": latent_dim, "hidden": list(hidden), "image_shape": list(image_shape)}
    _load_state(model, state, spec, arg, f"the built-in {arch} generator with {facts}")
    return LoadedModel(model.eval(), "builtin", spec, f"built-in `{arch}` from {path.name}", _sha256(path), facts)


def _builtin_classifier(
    arch: str, path: Path, kwargs: dict[str, Any], spec: str, arg: str, image_shape: tuple[int, ...] | None
) -> LoadedModel:
    state = _weights(path, spec, arg)
    mean = std = None
    if "0.mean" in state and "0.std" in state:  # a Normalize layer in front
        mean = [float(v) for v in state["0.mean"].flatten()]
        std = [float(v) for v in state["0.std"].flatten()]
    two_d = [v for k, v in state.items() if k.endswith("weight") and v.dim() == 2]
    n_classes = int(kwargs.pop("n_classes", two_d[-1].shape[0] if two_d else 10))
    if image_shape is None and ("in_channels" not in kwargs or "image_size" not in kwargs):
        raise ValueError(f"{arg} {spec!r}: give in_channels= and image_size= (no generator output to read them from)")
    in_channels = int(kwargs.pop("in_channels", image_shape[0] if image_shape else 1))
    image_size = int(kwargs.pop("image_size", image_shape[-1] if image_shape else 1))
    scales = [float(kwargs.pop("width_scale"))] if "width_scale" in kwargs else [1.0, 0.5, 0.25, 0.125, 0.0625]
    if kwargs:
        raise ValueError(f"{arg} {spec!r}: unknown keyword arguments {sorted(kwargs)} for {arch}")
    last_error = ""
    for scale in scales:
        try:
            model = build_classifier(
                arch,
                in_channels=in_channels,
                image_size=image_size,
                n_classes=n_classes,
                width_scale=scale,
                mean=mean,
                std=std,
            )
        except ValueError as exc:
            raise ValueError(f"{arg} {spec!r}: {exc}") from exc
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            last_error = str(exc).splitlines()[0]
            continue
        facts = {"in_channels": in_channels, "image_size": image_size, "n_classes": n_classes, "width_scale": scale}
        return LoadedModel(model.eval(), "builtin", spec, f"built-in `{arch}` from {path.name}", _sha256(path), facts)
    raise ValueError(
        f"{arg} {spec!r}: the weights do not fit the built-in {arch} with in_channels={in_channels}, "
        f"image_size={image_size}, n_classes={n_classes} at width_scale {scales}: {last_error}"
    )


def _builtin_name(prefix: str) -> str | None:
    if prefix in GENERATOR_NAMES:
        return prefix
    try:
        arch, _ = parse_classifier_name(prefix)
    except ValueError:
        return None
    return arch


def load_model(
    spec: str,
    *,
    role: str = "generator",
    arg: str | None = None,
    device: torch.device | str = "cpu",
    image_shape: tuple[int, ...] | None = None,
) -> LoadedModel:
    """Resolve a SPEC (see the module docstring) into a model on ``device``.

    Parameters
    ----------
    spec : str
        ``TARGET[,key=value,...]``.
    role : {"generator", "classifier"}
        Which built-in architectures apply.
    arg : str, optional
        How to name the argument in error messages (default ``--<role>``).
    device : torch.device or str
        Where the model goes (modules only).
    image_shape : tuple of int, optional
        ``(C, H, W)`` of the generator's images, from which a built-in
        classifier's input size is read.

    Raises
    ------
    ValueError
        A SPEC that does not resolve, a file that is not a model, weights that
        do not fit; the message names the argument and the SPEC.

    Examples
    --------
    >>> m = load_model("torch.nn:Linear,in_features=3,out_features=2")
    >>> m.kind, type(m.model).__name__
    ('factory', 'Linear')
    """
    if role not in ("generator", "classifier"):
        raise ValueError(f"role must be 'generator' or 'classifier', got role={role!r}")
    arg = arg or f"--{role}"
    dev = torch.device(device)
    target, kwargs = parse_spec(spec, arg)
    path = Path(target).expanduser()
    if path.is_file():
        if kwargs:
            raise ValueError(f"{arg} {spec!r}: a model file takes no keyword arguments")
        loaded = _load_file(path, spec, arg, dev)
    else:
        prefix, sep, rest = target.partition(":")
        arch = _builtin_name(prefix) if sep else None
        if arch is not None:
            if role == "generator" and arch not in GENERATOR_NAMES:
                raise ValueError(
                    f"{arg} {spec!r}: {arch!r} is a classifier; built-in generators are {', '.join(GENERATOR_NAMES)}"
                )
            if role == "classifier" and arch in GENERATOR_NAMES:
                raise ValueError(
                    f"{arg} {spec!r}: {arch!r} is a generator; built-in classifiers are {', '.join(CLASSIFIER_NAMES)}"
                )
            wpath = Path(rest).expanduser()
            if role == "generator":
                loaded = _builtin_generator(arch, wpath, kwargs, spec, arg)
            else:
                loaded = _builtin_classifier(arch, wpath, kwargs, spec, arg, image_shape)
        elif _MODULE_RE.match(target):
            loaded = _import_target(target, kwargs, spec, arg)
        else:
            raise ValueError(
                f"{arg} {spec!r} does not resolve: it is not an existing file, not ARCH:weights.pt with a built-in "
                "architecture, and not package.module:factory"
            )
    if isinstance(loaded.model, nn.Module):
        if loaded.kind != "export":  # an exported program's module keeps the mode it was traced in
            loaded.model.eval()
            loaded.model.to(dev)
    return loaded


def describe_input(model: Any) -> str | None:
    """What a module's first layer expects, for error messages (``None`` when unknown)."""
    if not isinstance(model, nn.Module):
        return None
    for sub in model.modules():
        if isinstance(sub, nn.Linear):
            return (
                f"its first layer is Linear(in_features={sub.in_features}): "
                f"inputs of shape (B, {sub.in_features}) once flattened"
            )
        if isinstance(sub, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            return (
                f"its first layer is {type(sub).__name__}(in_channels={sub.in_channels}): "
                f"inputs of shape (B, {sub.in_channels}, ...)"
            )
    return None
