"""Tests for isobound_torch.models: shapes, ranges, gradients, batch independence, validation."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from isobound_torch import models as m  # noqa: E402

SMALL_NAMES = ["lenet", "cnn", "mlp", "resnet18", "vgg11", "vgg16", "wrn", "wrn-10-2", "lenet+adv"]


@pytest.mark.parametrize("name", SMALL_NAMES)
@pytest.mark.parametrize(("channels", "side"), [(1, 8), (3, 32)])
def test_classifier_maps_images_to_logits(name: str, channels: int, side: int) -> None:
    torch.manual_seed(0)
    f = m.build_classifier(name, in_channels=channels, image_size=side, n_classes=7, width_scale=0.125)
    x = torch.rand(3, channels, side, side)
    out = f(x)
    assert out.shape == (3, 7)
    assert torch.isfinite(out).all()


def test_resnet101_builds_and_runs_small() -> None:
    f = m.build_classifier("resnet101", in_channels=3, image_size=32, n_classes=10, width_scale=0.0625)
    assert f(torch.rand(2, 3, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # Published parameter counts of the CIFAR-style networks (10 classes).
        ("resnet18", 11_173_962),
        ("wrn-28-10", 36_479_194),
    ],
)
def test_standard_sizes(name: str, expected: int) -> None:
    f = m.build_classifier(name, in_channels=3, image_size=32, n_classes=10)
    assert sum(p.numel() for p in f.parameters()) == expected


def test_eval_mode_is_batch_independent() -> None:
    """Per-sample results must not depend on batch composition (sharding relies on it)."""
    torch.manual_seed(0)
    f = m.build_classifier("cnn", in_channels=1, image_size=8, n_classes=10).eval()
    x = torch.rand(6, 1, 8, 8)
    full = f(x)
    parts = torch.cat([f(x[:2]), f(x[2:])])
    torch.testing.assert_close(full, parts, rtol=1e-5, atol=1e-6)


def test_input_gradients_flow() -> None:
    f = m.build_classifier("lenet", in_channels=3, image_size=32, n_classes=10).eval()
    x = torch.rand(2, 3, 32, 32, requires_grad=True)
    f(x)[:, 3].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_normalize_layer_is_applied() -> None:
    torch.manual_seed(0)
    f = m.build_classifier("mlp", in_channels=1, image_size=4, n_classes=2, mean=[0.5], std=[0.25])
    assert isinstance(f, torch.nn.Sequential) and isinstance(f[0], m.Normalize)
    x = torch.rand(3, 1, 4, 4)
    torch.testing.assert_close(f(x), f[1]((x - 0.5) / 0.25))


@pytest.mark.parametrize("side", [8, 16, 32])
def test_dcgan_generator_shapes_and_range(side: int) -> None:
    torch.manual_seed(0)
    g = m.build_generator("dcgan", latent_dim=12, out_channels=3, image_size=side, width_scale=0.25)
    with torch.no_grad():
        x = g(3.0 * torch.randn(5, 12))
    assert x.shape == (5, 3, side, side)
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    d = m.DCGANDiscriminator(3, side, ndf=8)
    assert d(x).shape == (5,)


def test_vae_decoder_is_a_generator() -> None:
    torch.manual_seed(0)
    vae = m.build_generator("vae", latent_dim=6, out_channels=1, image_size=8)
    assert isinstance(vae, m.VAE)
    with torch.no_grad():
        x = vae.decoder(torch.randn(4, 6))
    assert x.shape == (4, 1, 8, 8)
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    logits, mu, logvar = vae(torch.rand(4, 1, 8, 8))
    assert logits.shape == (4, 1, 8, 8) and mu.shape == logvar.shape == (4, 6)
    torch.testing.assert_close(vae.decoder(mu), torch.sigmoid(vae.decoder.logits(mu)))


def test_parse_classifier_name() -> None:
    assert m.parse_classifier_name("wrn-28-10+adv") == ("wrn-28-10", True)
    assert m.parse_classifier_name("vgg16") == ("vgg16", False)


@pytest.mark.parametrize("name", ["resnet", "vgg12", "wrn-28", "lenet+", "", "+adv"])
def test_bad_classifier_name(name: str) -> None:
    with pytest.raises(ValueError, match="classifier name"):
        m.build_classifier(name, in_channels=1, image_size=8, n_classes=10)


def test_bad_generator_name() -> None:
    with pytest.raises(ValueError, match=r"generator name.*'gan'"):
        m.build_generator("gan", latent_dim=4, out_channels=1, image_size=8)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: m.build_classifier("cnn", in_channels=0, image_size=8, n_classes=10), "in_channels"),
        (lambda: m.build_classifier("cnn", in_channels=1, image_size=2, n_classes=10), "image_size"),
        (lambda: m.build_classifier("cnn", in_channels=1, image_size=8, n_classes=0), "n_classes"),
        (lambda: m.build_classifier("cnn", in_channels=1, image_size=8, n_classes=10, width_scale=0.0), "width_scale"),
        (lambda: m.build_classifier("cnn", in_channels=1, image_size=8, n_classes=10, mean=[0.5]), "mean and std"),
        (lambda: m.WideResNet(depth=27), "depth"),
        (lambda: m.WideResNet(depth=16, dropout=1.0), "dropout"),
        (lambda: m.VGG(12, 3, 32, 10), "depth"),
        (lambda: m.Normalize([0.0], [0.0]), "std"),
        (lambda: m.Normalize([0.0, 1.0], [1.0]), "mean and std"),
        (lambda: m.DCGANGenerator(10, 3, 24), "image_size"),
        (lambda: m.DCGANGenerator(0, 3, 32), "latent_dim"),
        (lambda: m.VAEDecoder(4, (8, 8)), "image_shape"),
        (lambda: m.ResNet(m.BasicBlock, (2, 2, 2), 3, 10), "num_blocks"),
        (lambda: m.MLP(64, 10, hidden=(0,)), "hidden"),
    ],
)
def test_bad_arguments_raise(call, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=match):
        call()


def test_generators_reject_wrong_latent_shape() -> None:
    g = m.DCGANGenerator(10, 1, 8, ngf=4)
    with pytest.raises(ValueError, match=r"z must have shape \(batch, 10\)"):
        g(torch.randn(2, 9))
    dec = m.VAEDecoder(4, (1, 8, 8))
    with pytest.raises(ValueError, match=r"z must have shape"):
        dec(torch.randn(2, 4, 1))
