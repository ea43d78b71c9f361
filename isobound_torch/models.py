"""Classifiers and generators used by the experiments, written with torch alone.

Everything here maps images in ``[0, 1]`` (shape ``(B, C, H, W)``) to logits
``(B, K)`` (classifiers), or latent vectors ``z`` of shape ``(B, d)`` to images in
``[0, 1]`` (generators). Keeping the pixel range fixed lets the measurements use
one box ``[0, 1]`` for every dataset; per-channel standardisation, where a model
wants it, happens inside the model (:class:`Normalize`).

The architectures follow the paper's experiments (Fawzi, Fawzi & Fawzi, 2018,
Section 5):

* SVHN: a 2-layer LeNet (:class:`LeNet`), ResNet-18 and ResNet-101
  (:func:`resnet18`, :func:`resnet101`, CIFAR-style stems);
* CIFAR-10: VGG with batch norm (:func:`vgg`), a Wide ResNet (:class:`WideResNet`,
  WRN-28-10 when asked, a smaller WRN-16-4 by default);
* the generator: a DCGAN (:class:`DCGANGenerator`, d = 100, 32x32) trained against
  :class:`DCGANDiscriminator`;
* the bundled 8x8 digits: a small CNN (:class:`SmallCNN`), an MLP (:class:`MLP`) and a
  VAE (:class:`VAE`) whose decoder (:class:`VAEDecoder`) is the generator; a VAE trains
  in seconds on a CPU where a GAN of that size is fiddly.

:func:`build_classifier` and :func:`build_generator` turn the names used on the
command line (``"lenet"``, ``"resnet18"``, ``"vgg16"``, ``"wrn-28-10"``, ``"dcgan"``,
``"vae"``, ...) into modules.

Examples
--------
>>> import torch
>>> from isobound_torch.models import build_classifier, build_generator
>>> f = build_classifier("lenet", in_channels=3, image_size=32, n_classes=10)
>>> f(torch.rand(2, 3, 32, 32)).shape
torch.Size([2, 10])
>>> g = build_generator("dcgan", latent_dim=100, out_channels=3, image_size=32)
>>> x = g(torch.randn(2, 100))
>>> x.shape, bool(x.min() >= 0), bool(x.max() <= 1)
(torch.Size([2, 3, 32, 32]), True, True)
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "Normalize",
    "LeNet",
    "SmallCNN",
    "MLP",
    "BasicBlock",
    "Bottleneck",
    "ResNet",
    "resnet18",
    "resnet101",
    "VGG",
    "vgg",
    "WideResNet",
    "DCGANGenerator",
    "DCGANDiscriminator",
    "VAE",
    "VAEDecoder",
    "CLASSIFIER_NAMES",
    "GENERATOR_NAMES",
    "parse_classifier_name",
    "build_classifier",
    "build_generator",
]


def _check_positive_int(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def _check_image_size(image_size: int, minimum: int = 4) -> int:
    _check_positive_int("image_size", image_size)
    if image_size < minimum:
        raise ValueError(f"image_size must be at least {minimum}, got {image_size!r}")
    return image_size


def _scaled(width: int, width_scale: float) -> int:
    """Channel count ``width * width_scale``, at least 1."""
    return max(1, round(width * width_scale))


def _check_width_scale(width_scale: float) -> float:
    if not (isinstance(width_scale, (int, float)) and math.isfinite(width_scale) and width_scale > 0):
        raise ValueError(f"width_scale must be a finite positive number, got {width_scale!r}")
    return float(width_scale)


class Normalize(nn.Module):
    """Per-channel standardisation ``(x - mean) / std`` as the first layer of a model.

    Parameters
    ----------
    mean, std : sequence of float
        One value per channel; every ``std`` must be positive.

    Examples
    --------
    >>> import torch
    >>> Normalize([0.5], [0.25])(torch.ones(1, 1, 2, 2)).flatten().tolist()
    [2.0, 2.0, 2.0, 2.0]
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        if len(mean) != len(std) or len(mean) == 0:
            raise ValueError(
                f"mean and std must be non-empty and of equal length, got {list(mean)!r} and {list(std)!r}"
            )
        if any(not (math.isfinite(s) and s > 0) for s in std):
            raise ValueError(f"std must be finite and positive, got {list(std)!r}")
        self.register_buffer("mean", torch.tensor(list(mean), dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(list(std), dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)


# ----------------------------------------------------------------------------------------
# Small classifiers
# ----------------------------------------------------------------------------------------


class LeNet(nn.Module):
    """The 2-layer LeNet of the paper's SVHN table: two 5x5 conv layers, then three linear.

    ``conv(6) - maxpool - conv(16) - maxpool - fc(120) - fc(84) - fc(K)`` with ReLU.
    Images smaller than 28 pixels get padded convolutions so that the pooled map is
    not empty (the 8x8 digits become 4x4 then 2x2).

    Parameters
    ----------
    in_channels : int
        Number of image channels.
    image_size : int
        Height = width of the square input images (at least 4).
    n_classes : int
        Number of logits.
    width_scale : float, optional
        Multiplies every channel/unit count (default 1).

    Examples
    --------
    >>> import torch
    >>> LeNet(1, 8, 10)(torch.rand(3, 1, 8, 8)).shape
    torch.Size([3, 10])
    """

    def __init__(self, in_channels: int, image_size: int, n_classes: int, *, width_scale: float = 1.0) -> None:
        super().__init__()
        _check_positive_int("in_channels", in_channels)
        _check_image_size(image_size)
        _check_positive_int("n_classes", n_classes)
        width_scale = _check_width_scale(width_scale)
        pad = 0 if image_size >= 28 else 2
        c1, c2 = _scaled(6, width_scale), _scaled(16, width_scale)
        h1, h2 = _scaled(120, width_scale), _scaled(84, width_scale)
        side = ((image_size - 4 + 2 * pad) // 2 - 4 + 2 * pad) // 2
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, 5, padding=pad),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 5, padding=pad),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c2 * side * side, h1),
            nn.ReLU(),
            nn.Linear(h1, h2),
            nn.ReLU(),
            nn.Linear(h2, n_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class SmallCNN(nn.Module):
    """A small VGG-like CNN for small images (the digits): two conv blocks and a linear head.

    ``[conv3x3(c) - BN - ReLU] x 2 - maxpool`` twice, then global average pooling and a
    linear layer (``c = 32`` then ``64`` at ``width_scale = 1``).

    Parameters
    ----------
    in_channels, image_size, n_classes : int
        Input channels, square image side (at least 4) and number of logits.
    width_scale : float, optional
        Multiplies the channel counts.

    Examples
    --------
    >>> import torch
    >>> SmallCNN(1, 8, 10)(torch.rand(2, 1, 8, 8)).shape
    torch.Size([2, 10])
    """

    def __init__(self, in_channels: int, image_size: int, n_classes: int, *, width_scale: float = 1.0) -> None:
        super().__init__()
        _check_positive_int("in_channels", in_channels)
        _check_image_size(image_size)
        _check_positive_int("n_classes", n_classes)
        width_scale = _check_width_scale(width_scale)
        c1, c2 = _scaled(32, width_scale), _scaled(64, width_scale)

        def block(cin: int, cout: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

        self.features = nn.Sequential(
            *block(in_channels, c1),
            *block(c1, c1),
            nn.MaxPool2d(2),
            *block(c1, c2),
            *block(c2, c2),
            nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.head = nn.Linear(c2, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class MLP(nn.Module):
    """A fully connected classifier on flattened images: ``Linear - ReLU`` blocks then logits.

    Parameters
    ----------
    in_features : int
        ``C * H * W`` of the input images.
    n_classes : int
        Number of logits.
    hidden : sequence of int, optional
        Hidden layer widths (default ``(256, 256)``).

    Examples
    --------
    >>> import torch
    >>> MLP(64, 10)(torch.rand(2, 1, 8, 8)).shape
    torch.Size([2, 10])
    """

    def __init__(self, in_features: int, n_classes: int, hidden: Sequence[int] = (256, 256)) -> None:
        super().__init__()
        _check_positive_int("in_features", in_features)
        _check_positive_int("n_classes", n_classes)
        for h in hidden:
            _check_positive_int("hidden", h)
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, n_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


# ----------------------------------------------------------------------------------------
# ResNet (CIFAR-style: 3x3 stem, no initial max-pool)
# ----------------------------------------------------------------------------------------


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (ResNet-18/34)."""

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class Bottleneck(nn.Module):
    """1x1 - 3x3 - 1x1 bottleneck with 4x expansion (ResNet-50/101/152)."""

    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        out_planes = planes * self.expansion
        self.conv1 = nn.Conv2d(in_planes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_planes, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_planes)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_planes != out_planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False), nn.BatchNorm2d(out_planes)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """A CIFAR-style residual network: 3x3 stem, four stages, global pooling, linear head.

    Parameters
    ----------
    block : type
        :class:`BasicBlock` or :class:`Bottleneck`.
    num_blocks : sequence of 4 int
        Blocks per stage (``(2, 2, 2, 2)`` is ResNet-18, ``(3, 4, 23, 3)`` with
        bottlenecks is ResNet-101).
    in_channels, n_classes : int
        Input channels and number of logits.
    base_width : int, optional
        Channels of the first stage (64 in the standard networks); the stages use
        ``base_width * (1, 2, 4, 8)``.
    """

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        num_blocks: Sequence[int],
        in_channels: int,
        n_classes: int,
        *,
        base_width: int = 64,
    ) -> None:
        super().__init__()
        if len(num_blocks) != 4:
            raise ValueError(f"num_blocks must have 4 entries, got {list(num_blocks)!r}")
        for n in num_blocks:
            _check_positive_int("num_blocks", n)
        _check_positive_int("in_channels", in_channels)
        _check_positive_int("n_classes", n_classes)
        _check_positive_int("base_width", base_width)
        self.in_planes = base_width
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, base_width, 3, padding=1, bias=False), nn.BatchNorm2d(base_width), nn.ReLU()
        )
        stages = []
        for i, n in enumerate(num_blocks):
            planes = base_width * 2**i
            strides = [1 if i == 0 else 2] + [1] * (n - 1)
            blocks = []
            for s in strides:
                blocks.append(block(self.in_planes, planes, s))
                self.in_planes = planes * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(self.in_planes, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.pool(self.stages(self.stem(x)))
        return self.head(torch.flatten(out, 1))


def resnet18(in_channels: int = 3, n_classes: int = 10, *, width_scale: float = 1.0) -> ResNet:
    """ResNet-18 (CIFAR-style), 11M parameters at ``width_scale = 1``.

    Examples
    --------
    >>> import torch
    >>> resnet18(3, 10, width_scale=0.125)(torch.rand(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    """
    width = _scaled(64, _check_width_scale(width_scale))
    return ResNet(BasicBlock, (2, 2, 2, 2), in_channels, n_classes, base_width=width)


def resnet101(in_channels: int = 3, n_classes: int = 10, *, width_scale: float = 1.0) -> ResNet:
    """ResNet-101 (CIFAR-style, bottleneck blocks), 42M parameters at ``width_scale = 1``."""
    width = _scaled(64, _check_width_scale(width_scale))
    return ResNet(Bottleneck, (3, 4, 23, 3), in_channels, n_classes, base_width=width)


# ----------------------------------------------------------------------------------------
# VGG with batch norm
# ----------------------------------------------------------------------------------------

_VGG_CONFIGS: dict[int, list[int | str]] = {
    11: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    13: [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    19: [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}


class VGG(nn.Module):
    """VGG-11/13/16/19 with batch norm, for small images.

    Max-pools that would shrink the feature map below 1x1 are skipped, so the same
    network runs on 32x32 CIFAR images and on 8x8 digits; a global average pool and
    one linear layer make the head.

    Parameters
    ----------
    depth : {11, 13, 16, 19}
        Number of weight layers of the standard configuration.
    in_channels, image_size, n_classes : int
        Input channels, square image side and number of logits.
    width_scale : float, optional
        Multiplies every channel count.

    Examples
    --------
    >>> import torch
    >>> VGG(11, 1, 8, 10, width_scale=0.125)(torch.rand(2, 1, 8, 8)).shape
    torch.Size([2, 10])
    """

    def __init__(
        self, depth: int, in_channels: int, image_size: int, n_classes: int, *, width_scale: float = 1.0
    ) -> None:
        super().__init__()
        if depth not in _VGG_CONFIGS:
            raise ValueError(f"depth must be one of {sorted(_VGG_CONFIGS)}, got {depth!r}")
        _check_positive_int("in_channels", in_channels)
        _check_image_size(image_size, minimum=1)
        _check_positive_int("n_classes", n_classes)
        width_scale = _check_width_scale(width_scale)
        layers: list[nn.Module] = []
        cin, side = in_channels, image_size
        for item in _VGG_CONFIGS[depth]:
            if item == "M":
                if side >= 2:
                    layers.append(nn.MaxPool2d(2))
                    side //= 2
                continue
            assert isinstance(item, int)  # internal table, not user input
            cout = _scaled(item, width_scale)
            layers += [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
            cin = cout
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(cin, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def vgg(
    depth: int, in_channels: int = 3, image_size: int = 32, n_classes: int = 10, *, width_scale: float = 1.0
) -> VGG:
    """VGG-``depth`` with batch norm (see :class:`VGG`)."""
    return VGG(depth, in_channels, image_size, n_classes, width_scale=width_scale)


# ----------------------------------------------------------------------------------------
# Wide ResNet (Zagoruyko & Komodakis)
# ----------------------------------------------------------------------------------------


class _WideBlock(nn.Module):
    """Pre-activation wide block: BN-ReLU-conv3x3-(dropout)-BN-ReLU-conv3x3 plus shortcut."""

    def __init__(self, in_planes: int, planes: int, stride: int, dropout: float) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.shortcut: nn.Module | None = None
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = F.relu(self.bn1(x))
        out = self.conv1(pre)
        out = self.conv2(self.dropout(F.relu(self.bn2(out))))
        skip = x if self.shortcut is None else self.shortcut(pre)
        return out + skip


class WideResNet(nn.Module):
    """Wide ResNet WRN-``depth``-``widen``: three stages of pre-activation blocks.

    ``depth = 6 n + 4`` (28 gives n = 4 blocks per stage); stage widths are
    ``(16, 32, 64) * widen``. WRN-28-10 (36M parameters) is the model of the paper's
    CIFAR-10 table and of Madry et al.'s adversarial training; the default here is the
    much smaller WRN-16-4.

    Parameters
    ----------
    depth : int
        Total depth, ``6 n + 4`` with ``n >= 1``.
    widen : int
        Width multiplier.
    in_channels, n_classes : int
        Input channels and number of logits.
    dropout : float, optional
        Dropout between the convolutions of a block (0 by default).
    width_scale : float, optional
        Extra multiplier on the channel counts (for quick tests).

    Examples
    --------
    >>> import torch
    >>> WideResNet(10, 1, 3, 10)(torch.rand(2, 3, 16, 16)).shape
    torch.Size([2, 10])
    """

    def __init__(
        self,
        depth: int = 16,
        widen: int = 4,
        in_channels: int = 3,
        n_classes: int = 10,
        *,
        dropout: float = 0.0,
        width_scale: float = 1.0,
    ) -> None:
        super().__init__()
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 10 or (depth - 4) % 6:
            raise ValueError(f"depth must be 6n + 4 with n >= 1 (10, 16, 22, 28, ...), got {depth!r}")
        _check_positive_int("widen", widen)
        _check_positive_int("in_channels", in_channels)
        _check_positive_int("n_classes", n_classes)
        if not (0.0 <= dropout < 1.0):
            raise ValueError(f"dropout must lie in [0, 1), got {dropout!r}")
        width_scale = _check_width_scale(width_scale)
        n = (depth - 4) // 6
        widths = [_scaled(16, width_scale)] + [_scaled(c * widen, width_scale) for c in (16, 32, 64)]
        self.stem = nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False)
        blocks: list[nn.Module] = []
        cin = widths[0]
        for i, w in enumerate(widths[1:]):
            for j in range(n):
                blocks.append(_WideBlock(cin, w, 2 if (i > 0 and j == 0) else 1, dropout))
                cin = w
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(cin)
        self.head = nn.Linear(cin, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn(self.blocks(self.stem(x))))
        out = F.adaptive_avg_pool2d(out, 1)
        return self.head(torch.flatten(out, 1))


# ----------------------------------------------------------------------------------------
# Generators
# ----------------------------------------------------------------------------------------


def _upsampling_steps(image_size: int) -> int:
    steps = round(math.log2(image_size / 4)) if image_size >= 4 else -1
    if steps < 0 or 4 * 2**steps != image_size:
        raise ValueError(f"image_size must be 4 times a power of two (4, 8, 16, 32, 64), got {image_size!r}")
    return steps


class DCGANGenerator(nn.Module):
    """DCGAN generator (Radford et al.): ``z`` of shape ``(B, d)`` to images in ``[0, 1]``.

    A transposed convolution lifts ``z`` to a 4x4 map with ``ngf * 2**steps``
    channels; each further step doubles the side and halves the channels (BN + ReLU);
    the last layer outputs ``(tanh + 1) / 2`` so pixels lie in ``[0, 1]``. With
    ``latent_dim = 100`` and ``image_size = 32`` this is the paper's generator.

    Parameters
    ----------
    latent_dim : int
        Dimension d of the latent Gaussian ``z ~ N(0, I_d)``.
    out_channels : int
        Image channels.
    image_size : int
        Output side: 4 times a power of two.
    ngf : int, optional
        Channel count of the last hidden map (64 as in DCGAN).

    Examples
    --------
    >>> import torch
    >>> DCGANGenerator(10, 1, 16, ngf=8)(torch.randn(2, 10)).shape
    torch.Size([2, 1, 16, 16])
    """

    def __init__(self, latent_dim: int = 100, out_channels: int = 3, image_size: int = 32, *, ngf: int = 64) -> None:
        super().__init__()
        _check_positive_int("latent_dim", latent_dim)
        _check_positive_int("out_channels", out_channels)
        _check_positive_int("ngf", ngf)
        steps = _upsampling_steps(image_size)
        self.latent_dim = latent_dim
        width = ngf * 2 ** max(steps - 1, 0)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, width, 4, 1, 0, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(),
        ]
        for _ in range(max(steps - 1, 0)):
            layers += [
                nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(width // 2),
                nn.ReLU(),
            ]
            width //= 2
        if steps >= 1:
            layers.append(nn.ConvTranspose2d(width, out_channels, 4, 2, 1, bias=False))
        else:
            layers.append(nn.Conv2d(width, out_channels, 3, padding=1, bias=False))
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape (batch, {self.latent_dim}), got {tuple(z.shape)}")
        out = self.net(z[:, :, None, None])
        return 0.5 * (torch.tanh(out) + 1.0)


class DCGANDiscriminator(nn.Module):
    """DCGAN discriminator: strided convolutions with LeakyReLU, one logit per image.

    Parameters
    ----------
    in_channels : int
        Image channels.
    image_size : int
        Input side: 4 times a power of two.
    ndf : int, optional
        Channels of the first layer (64 as in DCGAN).

    Examples
    --------
    >>> import torch
    >>> DCGANDiscriminator(3, 32, ndf=8)(torch.rand(2, 3, 32, 32)).shape
    torch.Size([2])
    """

    def __init__(self, in_channels: int = 3, image_size: int = 32, *, ndf: int = 64) -> None:
        super().__init__()
        _check_positive_int("in_channels", in_channels)
        _check_positive_int("ndf", ndf)
        steps = _upsampling_steps(image_size)
        layers: list[nn.Module] = []
        cin, width = in_channels, ndf
        for i in range(steps):
            layers.append(nn.Conv2d(cin, width, 4, 2, 1, bias=False))
            if i > 0:
                layers.append(nn.BatchNorm2d(width))
            layers.append(nn.LeakyReLU(0.2))
            cin, width = width, width * 2
        layers.append(nn.Conv2d(cin, 1, 4, 1, 0, bias=False))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten()


class VAEDecoder(nn.Module):
    """The generator half of :class:`VAE`: an MLP from ``z`` to images in ``[0, 1]`` (sigmoid).

    Parameters
    ----------
    latent_dim : int
        Dimension d of ``z``.
    image_shape : tuple of int
        ``(C, H, W)`` of the images.
    hidden : sequence of int, optional
        Hidden widths (default ``(128, 256)``).

    Examples
    --------
    >>> import torch
    >>> VAEDecoder(8, (1, 8, 8))(torch.randn(2, 8)).shape
    torch.Size([2, 1, 8, 8])
    """

    def __init__(self, latent_dim: int, image_shape: Sequence[int], hidden: Sequence[int] = (128, 256)) -> None:
        super().__init__()
        _check_positive_int("latent_dim", latent_dim)
        if len(image_shape) != 3:
            raise ValueError(f"image_shape must be (C, H, W), got {tuple(image_shape)!r}")
        for s in image_shape:
            _check_positive_int("image_shape", s)
        self.latent_dim = latent_dim
        self.image_shape = tuple(int(s) for s in image_shape)
        layers: list[nn.Module] = []
        width = latent_dim
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ELU()]
            width = h
        layers.append(nn.Linear(width, math.prod(self.image_shape)))
        self.net = nn.Sequential(*layers)

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        """Pre-sigmoid pixel values (what the VAE's Bernoulli likelihood uses)."""
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape (batch, {self.latent_dim}), got {tuple(z.shape)}")
        return self.net(z).view(z.shape[0], *self.image_shape)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(z))


class VAE(nn.Module):
    """A small variational auto-encoder; its :attr:`decoder` serves as the generator g.

    The encoder is an MLP giving the mean and log-variance of ``q(z | x)``; the
    decoder is a :class:`VAEDecoder`. The prior is ``N(0, I_d)``, exactly the latent
    law the paper's theorems assume.

    Parameters
    ----------
    latent_dim : int
        Dimension d of ``z``.
    image_shape : tuple of int
        ``(C, H, W)``.
    hidden : sequence of int, optional
        Encoder widths; the decoder mirrors them.

    Examples
    --------
    >>> import torch
    >>> vae = VAE(8, (1, 8, 8))
    >>> logits, mu, logvar = vae(torch.rand(2, 1, 8, 8))
    >>> logits.shape, mu.shape
    (torch.Size([2, 1, 8, 8]), torch.Size([2, 8]))
    """

    def __init__(self, latent_dim: int, image_shape: Sequence[int], hidden: Sequence[int] = (256, 128)) -> None:
        super().__init__()
        self.decoder = VAEDecoder(latent_dim, image_shape, hidden=tuple(reversed(tuple(hidden))))
        layers: list[nn.Module] = [nn.Flatten()]
        width = math.prod(self.decoder.image_shape)
        for h in hidden:
            _check_positive_int("hidden", h)
            layers += [nn.Linear(width, h), nn.ELU()]
            width = h
        layers.append(nn.Linear(width, 2 * latent_dim))
        self.encoder = nn.Sequential(*layers)
        self.latent_dim = latent_dim

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of ``q(z | x)``."""
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reconstruction logits from a reparameterised sample, with ``mu`` and ``logvar``."""
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.decoder.logits(z), mu, logvar


# ----------------------------------------------------------------------------------------
# Registry
# ----------------------------------------------------------------------------------------

#: Base names accepted by :func:`build_classifier` (``wrn`` also as ``wrn-<depth>-<widen>``,
#: ``vgg`` as ``vgg11``/``vgg13``/``vgg16``/``vgg19``; any name may end in ``+adv`` to ask
#: the experiment for PGD adversarial training).
CLASSIFIER_NAMES = ("lenet", "cnn", "mlp", "resnet18", "resnet101", "vgg11", "vgg13", "vgg16", "vgg19", "wrn")
#: Names accepted by :func:`build_generator`.
GENERATOR_NAMES = ("dcgan", "vae")

_WRN_RE = re.compile(r"^wrn(?:-(\d+)-(\d+))?$")


def parse_classifier_name(name: str) -> tuple[str, bool]:
    """Split a classifier name into its architecture and the adversarial-training flag.

    Parameters
    ----------
    name : str
        E.g. ``"resnet18"``, ``"wrn-28-10"``, ``"wrn-28-10+adv"``.

    Returns
    -------
    arch : str
        The architecture part (validated).
    adversarial : bool
        True when the name ends in ``+adv`` (PGD adversarial training).

    Examples
    --------
    >>> parse_classifier_name("wrn-28-10+adv")
    ('wrn-28-10', True)
    >>> parse_classifier_name("lenet")
    ('lenet', False)
    """
    if not isinstance(name, str):
        raise ValueError(f"classifier name must be a string, got {name!r}")
    arch, adversarial = name, False
    if name.endswith("+adv"):
        arch, adversarial = name[: -len("+adv")], True
    if arch not in CLASSIFIER_NAMES and not _WRN_RE.match(arch):
        raise ValueError(
            f"classifier name must be one of {', '.join(CLASSIFIER_NAMES)} or wrn-<depth>-<widen>, "
            f"optionally followed by '+adv', got {name!r}"
        )
    return arch, adversarial


def build_classifier(
    name: str,
    *,
    in_channels: int,
    image_size: int,
    n_classes: int,
    width_scale: float = 1.0,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> nn.Module:
    """Build a classifier from its name, taking images in ``[0, 1]``.

    Parameters
    ----------
    name : str
        See :data:`CLASSIFIER_NAMES`; ``"+adv"`` suffixes are accepted and ignored here
        (they change the training, not the architecture).
    in_channels, image_size, n_classes : int
        Image channels, square side, and number of classes.
    width_scale : float, optional
        Multiplies every channel count (``< 1`` for quick runs).
    mean, std : sequence of float, optional
        When given, a :class:`Normalize` layer standardises the input first.

    Returns
    -------
    torch.nn.Module
        Maps ``(B, C, H, W)`` to ``(B, n_classes)`` logits.

    Examples
    --------
    >>> import torch
    >>> f = build_classifier("wrn-10-1", in_channels=1, image_size=8, n_classes=10)
    >>> f(torch.rand(2, 1, 8, 8)).shape
    torch.Size([2, 10])
    """
    arch, _ = parse_classifier_name(name)
    width_scale = _check_width_scale(width_scale)
    body: nn.Module
    if arch == "lenet":
        body = LeNet(in_channels, image_size, n_classes, width_scale=width_scale)
    elif arch == "cnn":
        body = SmallCNN(in_channels, image_size, n_classes, width_scale=width_scale)
    elif arch == "mlp":
        hidden = (_scaled(256, width_scale), _scaled(256, width_scale))
        body = MLP(in_channels * image_size * image_size, n_classes, hidden)
    elif arch == "resnet18":
        body = resnet18(in_channels, n_classes, width_scale=width_scale)
    elif arch == "resnet101":
        body = resnet101(in_channels, n_classes, width_scale=width_scale)
    elif arch.startswith("vgg"):
        body = VGG(int(arch[3:]), in_channels, image_size, n_classes, width_scale=width_scale)
    else:
        match = _WRN_RE.match(arch)
        assert match is not None  # parse_classifier_name accepted it
        depth = int(match.group(1)) if match.group(1) else 16
        widen = int(match.group(2)) if match.group(2) else 4
        body = WideResNet(depth, widen, in_channels, n_classes, width_scale=width_scale)
    if mean is None and std is None:
        return body
    if mean is None or std is None:
        raise ValueError(f"mean and std must be given together, got mean={mean!r}, std={std!r}")
    return nn.Sequential(Normalize(mean, std), body)


def build_generator(
    name: str,
    *,
    latent_dim: int,
    out_channels: int,
    image_size: int,
    width_scale: float = 1.0,
) -> nn.Module:
    """Build a generator ``g: (B, d) -> (B, C, H, W)`` with pixels in ``[0, 1]``.

    Parameters
    ----------
    name : {"dcgan", "vae"}
        ``"dcgan"`` gives a :class:`DCGANGenerator`; ``"vae"`` a whole :class:`VAE`
        (train it, then use ``.decoder`` as the generator).
    latent_dim, out_channels, image_size : int
        d, image channels and square side.
    width_scale : float, optional
        Multiplies the channel counts.

    Examples
    --------
    >>> build_generator("vae", latent_dim=8, out_channels=1, image_size=8).decoder.latent_dim
    8
    """
    width_scale = _check_width_scale(width_scale)
    if name == "dcgan":
        return DCGANGenerator(latent_dim, out_channels, image_size, ngf=_scaled(64, width_scale))
    if name == "vae":
        hidden = (_scaled(256, width_scale), _scaled(128, width_scale))
        return VAE(latent_dim, (out_channels, image_size, image_size), hidden=hidden)
    raise ValueError(f"generator name must be one of {', '.join(GENERATOR_NAMES)}, got {name!r}")
