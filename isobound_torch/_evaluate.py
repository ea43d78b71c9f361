r"""``evaluate``: the paper's comparison for *your* generator and classifiers.

:func:`evaluate` takes any generator (an ``nn.Module`` or a callable mapping a
``(B, d)`` latent batch to images) and any classifiers (a mapping of names to
modules or callables returning ``(B, K)`` logits), measures r_Z, r_in and r_unc
on generated data in the image norms asked for, estimates the generator's
modulus :math:`\omega` in each norm, and reports the bounds of Theorem 1, the
robust-accuracy ceilings at each epsilon, the audits and the confidence of
every number. It runs the same stages as ``isobound experiment`` (which is
"train, then evaluate"), resumable in a run directory.

Public as :func:`isobound_torch.evaluate`; see its Notes for how user models
enter the stage keys and how uniform latents are handled.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ._validate import model_mode_problem
from .experiment.distributed import setup_distributed
from .experiment.evaluation import EvaluationResult, EvaluationSettings, Evaluator
from .experiment.stages import resolve_device
from .experiment.store import MemoryStore, RunStore, atomic_write, stage_key
from .specs import LoadedModel, describe_input, load_model

__all__ = ["evaluate", "UniformLatents", "model_key", "probe_latents"]

log = logging.getLogger("isobound_torch.experiment")

#: Seed of the probe latents used to check and fingerprint the models.
PROBE_SEED = 20181203
#: Number of probe latents.
PROBE_SIZE = 4

_SETTING_NAMES = (
    "quantile",
    "failure_prob",
    "modulus_confidence",
    "modulus_samples",
    "modulus_restarts",
    "modulus_steps",
    "certify_budget",
    "radii",
    "audit_confidence",
    "ci_level",
    "chunk_size",
    "overshoot",
    "max_iter",
    "refine",
    "attack",
    "attack_steps",
    "lower_bounds",
    "lower_bound_samples",
    "n_examples",
)


class UniformLatents(nn.Module):
    r"""A generator of uniform latents on :math:`[-1, 1]^d` seen on Gaussian latents: :math:`g(2\Phi(z) - 1)`.

    Examples
    --------
    >>> g = UniformLatents(lambda u: u)
    >>> g(torch.tensor([[0.0, 10.0, -10.0]])).tolist()
    [[0.0, 1.0, -1.0]]
    """

    def __init__(self, generator: Any) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.generator(2.0 * torch.special.ndtr(z) - 1.0)
        return out


def probe_latents(latent_dim: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """The fixed latents on which models are checked and fingerprinted."""
    g = torch.Generator().manual_seed(PROBE_SEED)
    return torch.randn(PROBE_SIZE, latent_dim, generator=g).to(device=device, dtype=dtype)


def _tensor_bytes(t: torch.Tensor) -> bytes:
    flat = t.detach().cpu().contiguous().reshape(-1)
    return flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b""


def model_key(model: Any, probe_output: torch.Tensor | None, user_key: str | None = None) -> str:
    """The stage key of a user model (see the module docstring for what enters it).

    Examples
    --------
    >>> a, b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    >>> model_key(a, None) == model_key(a, None), model_key(a, None) == model_key(b, None)
    (True, False)
    >>> model_key(a, None, "v1") == model_key(b, None, "v1")
    True
    """
    if user_key is not None:
        if not isinstance(user_key, str) or not user_key:
            raise ValueError(f"a model key must be a non-empty string, got {user_key!r}")
        return stage_key("user-key", user_key)
    h = hashlib.sha256()
    kind = type(model)
    h.update(f"{kind.__module__}.{kind.__qualname__}".encode())
    if isinstance(model, nn.Module):
        for name, tensor in model.state_dict().items():
            h.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}".encode())
            h.update(_tensor_bytes(tensor))
        code = getattr(model, "code", None)
        if isinstance(code, str):
            h.update(code.encode())
    else:
        h.update(str(getattr(model, "__qualname__", repr(model))).encode())
    if probe_output is not None:
        h.update(_tensor_bytes(probe_output))
    return h.hexdigest()[:16]


def _resolve(obj: Any, role: str, arg: str, device: torch.device, image_shape: tuple[int, ...] | None) -> LoadedModel:
    if isinstance(obj, LoadedModel):
        return obj
    if isinstance(obj, str):
        return load_model(obj, role=role, arg=arg, device=device, image_shape=image_shape)
    if not callable(obj):
        raise TypeError(f"{arg} must be an nn.Module, a callable or a SPEC string, got {arg}={type(obj).__name__}")
    if isinstance(obj, nn.Module):
        obj = obj.to(device)
    return LoadedModel(obj, "object", "", f"`{type(obj).__name__}` (Python object)")


def _module_dtype(model: Any) -> torch.dtype:
    if isinstance(model, nn.Module):
        for p in list(model.parameters()) + list(model.buffers()):
            if p.is_floating_point():
                return p.dtype
    return torch.float32


def _short_exc(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def _check_generator(gen: Any, latent_dim: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    from .experiment.evaluation import check_images

    problem = model_mode_problem("generator", gen)
    if problem:
        raise ValueError(problem)
    z = probe_latents(latent_dim, dtype, device)
    try:
        with torch.no_grad():
            x = gen(z)
    except Exception as exc:
        raise ValueError(
            f"the generator does not accept latents of shape {tuple(z.shape)} (latent_dim={latent_dim}, "
            f"dtype {dtype}): {_short_exc(exc)}"
        ) from exc
    return check_images(x, PROBE_SIZE, f"on {PROBE_SIZE} probe latents, latent_dim={latent_dim}")


def _check_classifier(name: str, clf: Any, images: torch.Tensor) -> torch.Tensor:
    problem = model_mode_problem(f"classifier {name!r}", clf)
    if problem:
        raise ValueError(problem)
    try:
        with torch.no_grad():
            logits = clf(images)
    except Exception as exc:
        expects = describe_input(clf)
        raise ValueError(
            f"classifier {name!r} does not accept the generator's images of shape {tuple(images.shape)}"
            + (f"; {expects}" if expects else "")
            + f": {_short_exc(exc)}"
        ) from exc
    n = images.shape[0]
    if not isinstance(logits, torch.Tensor):
        raise ValueError(
            f"classifier {name!r} must return a tensor of logits of shape ({n}, K), got {type(logits).__name__}"
        )
    if logits.dim() != 2 or logits.shape[0] != n or logits.shape[1] < 2:
        raise ValueError(
            f"classifier {name!r} must return logits of shape (batch, K) with K >= 2, i.e. ({n}, K) for the "
            f"generator's images of shape {tuple(images.shape)}; got shape {tuple(logits.shape)}"
        )
    if not logits.is_floating_point():
        raise ValueError(f"classifier {name!r} must return floating-point logits, got dtype {logits.dtype}")
    if not bool(torch.isfinite(logits).all()):
        raise ValueError(f"classifier {name!r} returned NaN or inf logits on the generator's probe images")
    return logits


def _test_accuracy(
    name: str, clf: Any, data: Any, image_shape: tuple[int, ...], device: torch.device, dtype: torch.dtype
) -> float:
    x, y = data
    x = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    y = torch.as_tensor(np.asarray(y) if not isinstance(y, torch.Tensor) else y).reshape(-1).long()
    if tuple(x.shape[1:]) != tuple(image_shape) or x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise ValueError(
            f"test_data must be (images, labels) with images of shape (N, {', '.join(map(str, image_shape))}) like the "
            f"generator's and N labels, got images {tuple(x.shape)} and labels {tuple(y.shape)}"
        )
    right = 0
    with torch.no_grad():
        for start in range(0, x.shape[0], 512):
            xb = x[start : start + 512].to(device=device, dtype=dtype)
            right += int((clf(xb).argmax(dim=1).cpu() == y[start : start + 512]).sum())
    return right / x.shape[0]


def evaluate(
    generator: Any,
    classifiers: Mapping[str, Any],
    *,
    latent_dim: int,
    n_samples: int = 1000,
    norms: Any = ("l2",),
    epsilons: Any = (),
    latent_prior: str = "normal",
    run_dir: str | Path | None = None,
    device: str = "auto",
    seed: int = 0,
    test_data: tuple[Any, Any] | None = None,
    class_names: Any = None,
    modulus: Any = None,
    attacks: Mapping[str, Any] | None = None,
    generator_key: str | None = None,
    classifier_keys: Mapping[str, str] | None = None,
    dtype: torch.dtype | None = None,
    progress: bool = False,
    num_threads: int | None = None,
    title: str = "isobound evaluate",
    **options: Any,
) -> EvaluationResult:
    r"""The paper's comparison (Theorem 1 against measured robustness) for any generator and classifiers.

    Parameters
    ----------
    generator : nn.Module, callable or str
        ``g``: a ``(B, latent_dim)`` batch of latents to a batch of images (any
        shape ``(B, ...)``), or a SPEC string (:mod:`isobound_torch.specs`). In
        eval mode: batch-norm or dropout in training mode is refused.
    classifiers : mapping
        ``{name: f}``, each ``f`` an ``nn.Module``, callable or SPEC returning
        ``(B, K)`` logits for the generator's images; all with the same ``K``.
        Nothing is assumed about their architectures (normalisation inside is
        fine).
    latent_dim : int
        d.
    n_samples : int
        N generated samples whose robustness is measured.
    norms : str or sequence of str
        Image norms, ``"l2"`` and/or ``"linf"`` (``"l2,linf"`` works); one
        table, one omega and one image-space attack (DeepFool) each. Latent
        robustness is always l2.
    epsilons : str or sequence
        Image-space radii of the robust-accuracy ceilings, e.g. ``"8/255,0.5"``
        or ``(8/255, 0.5)``; each finite and > 0.
    latent_prior : {"normal", "uniform"}
        ``"uniform"`` for generators sampled on :math:`[-1, 1]^d`, measured
        through :math:`T(z) = 2\Phi(z) - 1` (Notes).
    run_dir : path, optional
        Store stages and write ``report.md``, ``report.json`` and the plots
        there; re-running resumes. ``None``: keep everything in memory.
    device : str
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` or ``"cuda:<n>"``.
        Modules are moved there; other callables must accept tensors there.
    seed : int
        Run seed (latents, modulus estimate).
    test_data : (images, labels), optional
        Real labelled images for the clean accuracy (``clean_acc``) of each
        classifier; generated data carry no labels.
    class_names : sequence of str, optional
        Names of the K classes, for the pictures.
    modulus : {"both", "estimate", "certified"}, isobound modulus or mapping, optional
        How omega is obtained. ``"both"`` (``None``, the default): the ascent
        estimate (a lower estimate of omega) and, where the generator is
        supported by :func:`~isobound_torch.certified_modulus` and its cost
        estimate fits ``certify_budget`` seconds (default 300), the certified
        bound (an upper bound) beside it; the report gives both sets of numbers,
        the certified ones labelled proven with their confidence, and says why
        the certified one is missing where it is. ``"estimate"``: the ascent
        alone. ``"certified"``: the certified bound alone (an unsupported layer
        is an error). A known modulus (``{norm: modulus}``, or one modulus for a
        single norm) is used instead of both; reported as given, not proven.
    attacks : mapping, optional
        ``{norm: attack}`` (and ``"latent"``) to use instead of DeepFool; any
        object with DeepFool's call contract.
    generator_key, classifier_keys : str, mapping, optional
        Stage keys to use instead of the fingerprints (Notes).
    dtype : torch.dtype, optional
        dtype of the latents (default: the generator's parameter dtype, else float32).
    progress : bool
        Progress bars.
    num_threads : int, optional
        CPU threads for torch during the run (restored afterwards).
    title : str
        The report's title.
    **options
        Any of ``quantile``, ``failure_prob``, ``modulus_confidence``,
        ``modulus_samples``, ``modulus_restarts``, ``modulus_steps``,
        ``certify_budget``, ``radii``,
        ``audit_confidence``, ``ci_level``, ``chunk_size``, ``overshoot``,
        ``max_iter``, ``refine``, ``attack``, ``attack_steps``, ``lower_bounds``,
        ``lower_bound_samples``, ``n_examples`` (see
        :class:`~isobound_torch.experiment.evaluation.EvaluationSettings`).

    Returns
    -------
    EvaluationResult
        ``tables`` (paper layout, per norm), ``ceilings``, ``per_sample``,
        ``audits``, ``robustbench``, ``figures()``, ``to_json()``, ``report``.

    Raises
    ------
    ValueError
        Bad settings, a SPEC that does not resolve, a generator that rejects
        ``latent_dim`` or returns NaN/inf, a classifier that does not accept the
        generator's images or returns logits of the wrong shape; each names the
        argument and the value. All checks run before anything is written, so a
        run directory keeps what it had.

    Notes
    -----
    **Stage keys of user models.** A stored stage is reused only when its key
    matches, and a model enters a key as follows:

    * an ``nn.Module`` (TorchScript and exported programs included): the SHA-256 of
      its class name, every tensor of its ``state_dict`` (names, dtypes, shapes,
      bytes), its TorchScript code when it has some, and its output on fixed probe
      latents;
    * any other callable: its qualified name and its output on the probe latents
      (the generator's) or on the generator's probe images (a classifier's);
    * ``generator_key=`` / ``classifier_keys=`` given: that text alone (you then
      promise that the same key means the same model).

    The probe output catches changes that the weights do not show (a temperature
    attribute, a changed function body); on a GPU whose kernels are not bitwise
    reproducible it can change from run to run, which only costs a recomputation.

    **Uniform latents.** ``latent_prior="uniform"`` is for generators sampled on
    :math:`[-1, 1]^d`. Theorem 1 needs Gaussian latents, so the generator is
    measured through :math:`T(z) = 2\Phi(z) - 1`, which pushes
    :math:`N(0, I_d)` onto the uniform law on the cube: every measurement,
    the estimated :math:`\omega` and the latent bound concern
    :math:`\tilde g = g \circ T` and Gaussian latents :math:`z`. The images
    :math:`\tilde g(z)` have exactly the law of :math:`g(u)`, :math:`u` uniform, so
    the image-space bounds and ceilings are statements about the user's generator
    as sampled. The reported :math:`r_Z` is the Gaussian-coordinate latent
    robustness of :math:`f \circ \tilde g`; the uniform-coordinate one is at most
    :math:`\sqrt{2/\pi}` times it, since :math:`T` is :math:`\sqrt{2/\pi}`-Lipschitz.
    :math:`\omega` is estimated on :math:`\tilde g` directly: a latent move of
    length :math:`t` moves :math:`T(z)` by at most :math:`\sqrt{2/\pi}\,t` inside
    the cube, so :math:`\omega_{\tilde g}(t) \le \omega_u(\sqrt{2/\pi}\,t)` and the
    direct estimate is the tighter of the two readings. A modulus ``modulus=``
    given with uniform latents is read as the modulus :math:`\omega_u` of
    :math:`g` on the cube and used as
    ``isobound.UniformPrior(omega_u)``, i.e. :math:`\omega(t) = \omega_u(\sqrt{2/\pi}\,t)`.

    Examples
    --------
    An affine generator and a linear classifier, both plain modules:

    >>> import torch, isobound_torch as it
    >>> _ = torch.manual_seed(0)
    >>> g = torch.nn.Linear(4, 6).double().eval()
    >>> f = torch.nn.Linear(6, 3).double().eval()
    >>> res = it.evaluate(g, {"lin": f}, latent_dim=4, n_samples=60, norms="l2,linf", epsilons=[0.5],
    ...                   failure_prob=0.1, modulus_confidence=0.9, radii=[0.5, 1.0], chunk_size=30, device="cpu")
    >>> sorted(res.tables), len(res.ceilings["linf"])
    (['l2', 'linf'], 1)
    >>> rec = res.robustbench[0]
    >>> rec["threat_model"], rec["eps"], 0 <= rec["ceiling_robust_acc"] <= 100
    ('L2', '0.5', True)
    """
    unknown = sorted(set(options) - set(_SETTING_NAMES))
    if unknown:
        raise TypeError(f"evaluate() got unknown options {unknown}; known: {', '.join(_SETTING_NAMES)}")
    if isinstance(latent_dim, bool) or not isinstance(latent_dim, int) or latent_dim < 1:
        raise ValueError(f"latent_dim must be a positive integer, got latent_dim={latent_dim!r}")
    if isinstance(modulus, str):
        if modulus not in ("both", "estimate", "certified"):
            raise ValueError(
                f"modulus must be 'both', 'estimate', 'certified' or an isobound modulus, got modulus={modulus!r}"
            )
        options["modulus_method"] = modulus
        modulus = None
    elif modulus is not None:
        options["modulus_method"] = "given"
    settings = EvaluationSettings(
        latent_dim=latent_dim,
        n_samples=n_samples,
        norms=norms,
        epsilons=epsilons,
        latent_prior=latent_prior,
        seed=seed,
        progress=progress,
        **options,
    )
    if not isinstance(classifiers, Mapping) or not classifiers:
        raise TypeError(f"classifiers must be a non-empty mapping of names to models, got classifiers={classifiers!r}")
    for name in classifiers:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"classifier names must be non-empty strings, got {name!r}")
    if classifier_keys is not None and set(classifier_keys) - set(classifiers):
        raise ValueError(
            f"classifier_keys names classifiers that are not given: {sorted(set(classifier_keys) - set(classifiers))}"
        )
    if device not in ("auto", "cpu", "cuda") and not (isinstance(device, str) and device.startswith("cuda:")):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:<n>', got device={device!r}")
    if num_threads is not None and (
        isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 0
    ):
        raise ValueError(f"num_threads must be a non-negative integer or None, got num_threads={num_threads!r}")

    t_start = time.perf_counter()
    threads_before = torch.get_num_threads()
    if num_threads:
        torch.set_num_threads(num_threads)
    use_cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if device.startswith("cuda"):
        resolve_device(device)
    dist = setup_distributed(use_cuda=use_cuda, timeout_minutes=60.0)
    try:
        dev = resolve_device(device, dist.local_rank)
        # ---- resolve and check every model before anything is written
        gen_loaded = _resolve(generator, "generator", "generator", dev, None)
        base_gen = gen_loaded.model
        lat_dtype = dtype or _module_dtype(base_gen)
        gen = UniformLatents(base_gen) if latent_prior == "uniform" else base_gen
        probe_images = _check_generator(gen, latent_dim, lat_dtype, dev)
        image_shape = tuple(probe_images.shape[1:])
        loaded: dict[str, LoadedModel] = {}
        probe_logits: dict[str, torch.Tensor] = {}
        for name, clf in classifiers.items():
            loaded[name] = _resolve(clf, "classifier", f"classifier {name!r}", dev, image_shape)
            probe_logits[name] = _check_classifier(name, loaded[name].model, probe_images)
        ks = {name: int(v.shape[1]) for name, v in probe_logits.items()}
        if len(set(ks.values())) != 1:
            raise ValueError(f"every classifier must return the same number of classes K, got {ks}")
        n_classes = next(iter(ks.values()))
        names = [str(c) for c in class_names] if class_names is not None else [str(k) for k in range(n_classes)]
        if len(names) != n_classes:
            raise ValueError(f"class_names must name the K = {n_classes} classes, got {len(names)} names")
        moduli = _moduli(modulus, settings.norms, latent_prior)
        info: dict[str, dict[str, Any]] = {}
        for name, lm in loaded.items():
            acc = None if test_data is None else _test_accuracy(name, lm.model, test_data, image_shape, dev, lat_dtype)
            info[name] = {"test_error": None if acc is None else 1.0 - acc, "source": lm.as_dict()}

        gkey = model_key(base_gen, probe_images, generator_key)
        if latent_prior == "uniform":
            gkey = stage_key("uniform-latents", gkey)
        ckeys = {
            name: model_key(lm.model, probe_logits[name], (classifier_keys or {}).get(name))
            for name, lm in loaded.items()
        }
        # ---- then run
        root = Path(run_dir) if run_dir is not None else None
        store: RunStore
        if root is not None:
            if dist.is_main:
                root.mkdir(parents=True, exist_ok=True)
            store = RunStore(root)
        else:
            store = MemoryStore()
        meta = {
            "title": title,
            "dataset": {
                "name": "generated",
                "image_shape": list(image_shape),
                "classes": names,
                "test_data": None if test_data is None else f"{len(test_data[1])} labelled images",
            },
            "generator_name": gen_loaded.description,
            "models": {
                "generator": {**gen_loaded.as_dict(), "key": gkey, "latent_prior": latent_prior},
                "classifiers": {n: {**loaded[n].as_dict(), "key": ckeys[n]} for n in loaded},
            },
        }
        if root is not None and dist.is_main:
            text = json.dumps({"settings": settings.as_dict(), "models": meta["models"]}, indent=1, default=repr)
            atomic_write(root / "evaluate.json", lambda p: p.write_text(text + "\n", encoding="utf-8"))
        evaluator = Evaluator(
            settings, store=store, dist=dist, device=dev, dtype=lat_dtype, attacks=attacks, moduli=moduli
        )
        return evaluator.evaluate(
            gen,
            gkey,
            {n: lm.model for n, lm in loaded.items()},
            ckeys,
            n_classes=n_classes,
            classifier_info=info,
            meta=meta,
            run_dir=root if dist.is_main else None,
            t_start=t_start,
        )
    finally:
        if torch.get_num_threads() != threads_before:
            torch.set_num_threads(threads_before)
        dist.close()


def _moduli(modulus: Any, norms: tuple[str, ...], latent_prior: str) -> dict[str, Any] | None:
    import isobound as ib

    if modulus is None:
        return None
    if isinstance(modulus, ib.Modulus):
        if len(norms) != 1:
            raise ValueError(
                f"modulus= must be a mapping {{norm: modulus}} when there are several norms, got norms={norms}"
            )
        given = {norms[0]: modulus}
    elif isinstance(modulus, Mapping):
        given = dict(modulus)
    else:
        raise TypeError(f"modulus must be an isobound Modulus or a mapping of norms to moduli, got modulus={modulus!r}")
    missing = [n for n in norms if n not in given]
    if missing:
        raise ValueError(f"modulus= gives no modulus for the norms {missing}")
    for norm, m in given.items():
        if not isinstance(m, ib.Modulus):
            raise TypeError(f"modulus[{norm!r}] must be an isobound Modulus, got {m!r}")
    if latent_prior == "uniform":
        given = {n: ib.UniformPrior(m) for n, m in given.items()}
    return given
