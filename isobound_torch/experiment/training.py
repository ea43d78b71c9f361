"""Training loops: the VAE and DCGAN generators, classifiers (optionally PGD-adversarial).

All loops share one shape. Randomness comes from a :class:`torch.Generator` that
the caller seeds (batch order, latent draws, augmentation, PGD starts) plus the
global RNG inside a :func:`torch.random.fork_rng` block for what torch draws itself
(``randn_like`` in the VAE). At the end of each epoch ``on_epoch_end(epoch, state)``
receives everything needed to resume (model and optimiser states, both RNG
states, the history), and a ``resume`` state passed back in continues from there:
a run interrupted between epochs and resumed ends with the same weights as one
that never stopped (on the CPU).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ..data import ImageDataset
from ..models import VAE, DCGANDiscriminator

__all__ = [
    "PGDSettings",
    "pgd_linf",
    "evaluate_error",
    "train_vae",
    "train_dcgan",
    "train_classifier",
    "recalibrate_batchnorm",
    "EpochHook",
]

#: ``on_epoch_end(epoch_done, resumable_state)``; the state dict is what ``resume=`` takes.
EpochHook = Callable[[int, dict[str, Any]], None]


def _progress(iterable: Any, *, enabled: bool, desc: str, total: int | None = None) -> Any:
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, total=total, leave=False, dynamic_ncols=True)


def _batches(n: int, batch_size: int, gen: torch.Generator, *, shuffle: bool = True) -> list[torch.Tensor]:
    order = torch.randperm(n, generator=gen) if shuffle else torch.arange(n)
    return list(order.split(batch_size))


def _augment(x: torch.Tensor, gen: torch.Generator, *, pad: int, flip: bool) -> torch.Tensor:
    """Random translations by up to ``pad`` pixels (zero fill) and optional horizontal flips.

    Offsets are drawn on the CPU from ``gen``, so CPU and GPU runs see the same
    augmentation.
    """
    b, _, h, w = x.shape
    shifts = torch.randint(0, 2 * pad + 1, (b, 2), generator=gen).to(x.device)
    padded = F.pad(x, (pad, pad, pad, pad))
    rows = torch.arange(h, device=x.device)[None, :] + shifts[:, :1]
    cols = torch.arange(w, device=x.device)[None, :] + shifts[:, 1:]
    idx_b = torch.arange(b, device=x.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[idx_b, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)
    if flip:
        mask = (torch.rand(b, generator=gen) < 0.5).to(x.device)
        out = torch.where(mask[:, None, None, None], out.flip(3), out)
    return out.contiguous()


@dataclass(frozen=True)
class PGDSettings:
    """L-infinity PGD for adversarial training (Madry et al., 2018).

    Attributes
    ----------
    epsilon : float
        Radius of the L-infinity ball (pixels in ``[0, 1]``).
    step : float
        Step size of each signed-gradient step.
    steps : int
        Number of steps (after a uniform random start in the ball).
    """

    epsilon: float = 8 / 255
    step: float = 2 / 255
    steps: int = 7

    def __post_init__(self) -> None:
        if not (math.isfinite(self.epsilon) and self.epsilon >= 0):
            raise ValueError(f"epsilon must be finite and >= 0, got {self.epsilon!r}")
        if not (math.isfinite(self.step) and self.step > 0):
            raise ValueError(f"step must be finite and > 0, got {self.step!r}")
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1:
            raise ValueError(f"steps must be a positive integer, got {self.steps!r}")


def pgd_linf(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, settings: PGDSettings, gen: torch.Generator
) -> torch.Tensor:
    """Projected gradient ascent on the cross-entropy inside an L-infinity ball, clipped to ``[0, 1]``.

    Parameters
    ----------
    model : nn.Module
        Classifier; used as is (call ``.eval()`` first to keep batch-norm statistics).
    x, y : torch.Tensor
        Images in ``[0, 1]`` and their labels.
    settings : PGDSettings
    gen : torch.Generator
        CPU generator for the random start.

    Returns
    -------
    torch.Tensor
        Adversarial images with ``|x_adv - x|_inf <= epsilon`` and pixels in ``[0, 1]``;
        no gradient is left on the model's parameters.

    Examples
    --------
    >>> import torch
    >>> torch.manual_seed(0) is not None
    True
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    >>> x = torch.rand(5, 1, 2, 2); y = torch.zeros(5, dtype=torch.long)
    >>> adv = pgd_linf(model, x, y, PGDSettings(0.1, 0.05, 3), torch.Generator().manual_seed(0))
    >>> bool((adv - x).abs().max() <= 0.1 + 1e-7), bool(adv.min() >= 0), bool(adv.max() <= 1)
    (True, True, True)
    """
    eps = settings.epsilon
    noise = (torch.rand(x.shape, generator=gen) * 2 - 1).to(device=x.device, dtype=x.dtype) * eps
    adv = (x + noise).clamp(0.0, 1.0).detach()
    params = [p for p in model.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        for _ in range(settings.steps):
            adv.requires_grad_(True)
            loss = F.cross_entropy(model(adv), y)
            (grad,) = torch.autograd.grad(loss, adv)
            adv = adv.detach() + settings.step * grad.sign()
            adv = torch.min(torch.max(adv, x - eps), x + eps).clamp(0.0, 1.0).detach()
    finally:
        for p in params:
            p.requires_grad_(True)
    return adv


@torch.no_grad()
def evaluate_error(
    model: nn.Module, dataset: ImageDataset, device: torch.device, *, batch_size: int = 256, split: str = "test"
) -> float:
    """Fraction of misclassified images of one split (``"test"`` or ``"train"``)."""
    if split not in ("test", "train"):
        raise ValueError(f"split must be 'test' or 'train', got {split!r}")
    images = dataset.test_images if split == "test" else dataset.train_images
    labels = dataset.test_labels if split == "test" else dataset.train_labels
    was_training = model.training
    model.eval()
    wrong = 0
    for start in range(0, len(labels), batch_size):
        x = dataset.to_float(images[start : start + batch_size].to(device))
        pred = model(x).argmax(dim=1).cpu()
        wrong += int((pred != labels[start : start + batch_size]).sum())
    model.train(was_training)
    return wrong / max(len(labels), 1)


def _restore_rng(gen: torch.Generator, state: dict[str, Any] | None) -> None:
    if state is not None:
        gen.set_state(state["data_rng"])
        torch.set_rng_state(state["global_rng"])


def _rng_state(gen: torch.Generator) -> dict[str, torch.Tensor]:
    return {"data_rng": gen.get_state(), "global_rng": torch.get_rng_state()}


def train_vae(
    vae: VAE,
    dataset: ImageDataset,
    device: torch.device,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    gen: torch.Generator,
    progress: bool = False,
    resume: dict[str, Any] | None = None,
    on_epoch_end: EpochHook | None = None,
) -> list[float]:
    """Fit a :class:`~isobound_torch.models.VAE` by maximising the ELBO (Bernoulli pixels).

    The loss per image is the binary cross-entropy of the reconstruction plus the
    KL divergence of ``q(z | x) = N(mu, diag(exp(logvar)))`` from ``N(0, I)``.

    Returns
    -------
    list of float
        Mean loss per epoch (including resumed epochs).
    """
    vae.to(device).train()
    opt = torch.optim.Adam(vae.parameters(), lr=lr)
    history: list[float] = []
    start = 0
    if resume is not None:
        vae.load_state_dict(resume["model"])
        opt.load_state_dict(resume["optimizer"])
        history = list(resume["history"])
        start = int(resume["epoch"])
        _restore_rng(gen, resume)
    images = dataset.train_images.to(device)
    n = len(images)
    for epoch in _progress(range(start, epochs), enabled=progress, desc="generator (VAE)", total=epochs - start):
        total = 0.0
        for idx in _batches(n, batch_size, gen):
            x = dataset.to_float(images[idx.to(device)])
            logits, mu, logvar = vae(x)
            rec = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
            kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
            loss = (rec + kl) / x.shape[0]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * x.shape[0]
        history.append(total / n)
        if on_epoch_end is not None:
            on_epoch_end(
                epoch + 1,
                {"model": vae.state_dict(), "optimizer": opt.state_dict(), "history": history, "epoch": epoch + 1}
                | _rng_state(gen),
            )
    vae.eval()
    return history


def dcgan_init(module: nn.Module) -> None:
    """DCGAN weight initialisation: conv weights N(0, 0.02), batch-norm scales N(1, 0.02)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def train_dcgan(
    generator: nn.Module,
    discriminator: DCGANDiscriminator,
    dataset: ImageDataset,
    device: torch.device,
    *,
    latent_dim: int,
    epochs: int,
    batch_size: int,
    lr: float,
    gen: torch.Generator,
    progress: bool = False,
    resume: dict[str, Any] | None = None,
    on_epoch_end: EpochHook | None = None,
) -> list[dict[str, float]]:
    """Adversarial training of a DCGAN (non-saturating loss, Adam with beta1 = 0.5).

    Returns
    -------
    list of dict
        Per epoch, the mean discriminator and generator losses.
    """
    generator.to(device).train()
    discriminator.to(device).train()
    opt_g = torch.optim.Adam(generator.parameters(), lr=lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=lr, betas=(0.5, 0.999))
    history: list[dict[str, float]] = []
    start = 0
    if resume is not None:
        generator.load_state_dict(resume["model"])
        discriminator.load_state_dict(resume["discriminator"])
        opt_g.load_state_dict(resume["optimizer"])
        opt_d.load_state_dict(resume["optimizer_d"])
        history = [dict(h) for h in resume["history"]]
        start = int(resume["epoch"])
        _restore_rng(gen, resume)
    images = dataset.train_images.to(device)
    n = len(images)
    for epoch in _progress(range(start, epochs), enabled=progress, desc="generator (DCGAN)", total=epochs - start):
        loss_d_sum = loss_g_sum = 0.0
        batches = _batches(n, batch_size, gen)
        for idx in batches:
            real = dataset.to_float(images[idx.to(device)])
            b = real.shape[0]
            z = torch.randn(b, latent_dim, generator=gen).to(device)
            fake = generator(z)
            ones = torch.ones(b, device=device)
            zeros = torch.zeros(b, device=device)
            loss_d = F.binary_cross_entropy_with_logits(discriminator(real), ones) + F.binary_cross_entropy_with_logits(
                discriminator(fake.detach()), zeros
            )
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            loss_g = F.binary_cross_entropy_with_logits(discriminator(fake), ones)
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
            loss_d_sum += float(loss_d.detach())
            loss_g_sum += float(loss_g.detach())
        history.append({"loss_d": loss_d_sum / len(batches), "loss_g": loss_g_sum / len(batches)})
        if on_epoch_end is not None:
            on_epoch_end(
                epoch + 1,
                {
                    "model": generator.state_dict(),
                    "discriminator": discriminator.state_dict(),
                    "optimizer": opt_g.state_dict(),
                    "optimizer_d": opt_d.state_dict(),
                    "history": history,
                    "epoch": epoch + 1,
                }
                | _rng_state(gen),
            )
    generator.eval()
    return history


@torch.no_grad()
def recalibrate_batchnorm(
    generator: nn.Module,
    latent_dim: int,
    device: torch.device,
    *,
    gen: torch.Generator,
    batches: int = 50,
    batch_size: int = 256,
) -> None:
    """Re-estimate a generator's batch-norm statistics on fresh latent batches.

    A GAN generator is trained with batch statistics, but the measured generator g
    must be one fixed function of z (eval mode), which uses running averages that
    lag behind the weights. Averaging the statistics over ``batches`` fresh batches
    of ``z ~ N(0, I)`` (cumulative average, weights untouched) makes eval-mode
    samples match the trained ones.
    """
    bns = [m for m in generator.modules() if isinstance(m, nn.BatchNorm2d)]
    if not bns:
        return
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average
    generator.train()
    for _ in range(batches):
        generator(torch.randn(batch_size, latent_dim, generator=gen).to(device))
    for m, mom in zip(bns, saved, strict=True):
        m.momentum = mom
    generator.eval()


def train_classifier(
    model: nn.Module,
    dataset: ImageDataset,
    device: torch.device,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    optimizer: str,
    gen: torch.Generator,
    augment: bool = False,
    adversarial: PGDSettings | None = None,
    progress: bool = False,
    desc: str = "classifier",
    resume: dict[str, Any] | None = None,
    on_epoch_end: EpochHook | None = None,
) -> list[dict[str, float]]:
    """Train a classifier with cross-entropy, optionally on PGD adversarial examples.

    ``optimizer="sgd"``: momentum 0.9 (Nesterov), weight decay 5e-4, cosine learning
    rate over all steps. ``optimizer="adam"``: Adam with the same cosine schedule.
    With ``adversarial`` set, every batch is replaced by :func:`pgd_linf` examples
    computed with the model in eval mode (Madry et al.'s min-max training).

    Returns
    -------
    list of dict
        Per epoch, the mean training loss and training error (on the images trained on).
    """
    if optimizer not in ("sgd", "adam"):
        raise ValueError(f"optimizer must be 'sgd' or 'adam', got {optimizer!r}")
    model.to(device).train()
    opt: torch.optim.Optimizer
    if optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=lr)
    n = len(dataset.train_labels)
    steps_per_epoch = math.ceil(n / batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: 0.5 * (1 + math.cos(math.pi * min(step / max(epochs * steps_per_epoch, 1), 1.0)))
    )
    history: list[dict[str, float]] = []
    start = 0
    if resume is not None:
        model.load_state_dict(resume["model"])
        opt.load_state_dict(resume["optimizer"])
        sched.load_state_dict(resume["scheduler"])
        history = [dict(h) for h in resume["history"]]
        start = int(resume["epoch"])
        _restore_rng(gen, resume)
    images = dataset.train_images.to(device)
    labels = dataset.train_labels.to(device)
    flip = dataset.name == "cifar10"
    pad = max(1, dataset.image_shape[1] // 8)
    for epoch in _progress(range(start, epochs), enabled=progress, desc=desc, total=epochs - start):
        loss_sum, wrong = 0.0, 0
        for idx in _batches(n, batch_size, gen):
            idx_d = idx.to(device)
            x = dataset.to_float(images[idx_d])
            y = labels[idx_d]
            if augment:
                x = _augment(x, gen, pad=pad, flip=flip)
            if adversarial is not None:
                model.eval()
                x = pgd_linf(model, x, y, adversarial, gen)
                model.train()
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += float(loss.detach()) * len(y)
            wrong += int((logits.argmax(1) != y).sum())
        history.append({"loss": loss_sum / n, "train_error": wrong / n})
        if on_epoch_end is not None:
            on_epoch_end(
                epoch + 1,
                {
                    "model": model.state_dict(),
                    "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict(),
                    "history": history,
                    "epoch": epoch + 1,
                }
                | _rng_state(gen),
            )
    model.eval()
    return history
