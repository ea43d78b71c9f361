"""Tests for isobound_torch.data: the three readers, their formats, and their errors."""

from __future__ import annotations

import os
import pickle
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
scipy_io = pytest.importorskip("scipy.io")

from isobound_torch import data as d  # noqa: E402

# ---------------------------------------------------------------------------- digits


def test_digits_split_is_stratified_disjoint_and_complete() -> None:
    from sklearn.datasets import load_digits as sk

    ds = d.load_digits()
    bunch = sk()
    assert ds.image_shape == (1, 8, 8) and ds.n_classes == 10 and ds.max_value == 16
    assert len(ds.train_labels) + len(ds.test_labels) == len(bunch.target)
    for k in range(10):
        n_k = int((bunch.target == k).sum())
        assert int((ds.test_labels == k).sum()) == round(0.25 * n_k)
    # Every original image appears exactly once across the two parts.
    all_images = torch.cat([ds.train_images, ds.test_images]).reshape(-1, 64).numpy().astype(np.int64)
    original = np.rint(bunch.images).reshape(-1, 64).astype(np.int64)
    key = lambda a: sorted(map(bytes, a.astype(np.uint8)))
    assert key(all_images) == key(original)


def test_digits_pixels_and_labels_match_sklearn() -> None:
    from sklearn.datasets import load_digits as sk

    ds = d.load_digits()
    bunch = sk()
    x = ds.to_float(ds.train_images)
    assert x.dtype == torch.float32 and float(x.min()) == 0.0 and float(x.max()) == 1.0
    # Look one image up in the original data and compare its label.
    flat = ds.train_images[5].reshape(-1).numpy().astype(np.float64)
    matches = np.flatnonzero((bunch.data == flat).all(axis=1))
    assert len(matches) >= 1
    assert int(ds.train_labels[5]) in set(bunch.target[matches].tolist())


def test_digits_split_is_repeatable_and_seeded() -> None:
    a, b = d.load_digits(), d.load_digits()
    assert torch.equal(a.test_labels, b.test_labels) and torch.equal(a.test_images, b.test_images)
    c = d.load_digits(split_seed=1)
    assert not torch.equal(a.test_images, c.test_images)


@pytest.mark.parametrize("value", [0.0, 1.0, -0.1, "x"])
def test_digits_bad_fraction(value: object) -> None:
    with pytest.raises(ValueError, match="test_fraction"):
        d.load_digits(test_fraction=value)  # type: ignore[arg-type]


def test_channel_stats_match_numpy() -> None:
    ds = d.load_digits()
    mean, std = ds.channel_stats()
    x = ds.train_images.numpy().astype(np.float64) / 16
    assert mean[0] == pytest.approx(x.mean(), rel=1e-12)
    assert std[0] == pytest.approx(x.std(), rel=1e-9)


# ---------------------------------------------------------------------------- SVHN


def _write_svhn(root: Path, x_hwcn: np.ndarray, y: np.ndarray, which: str = "both") -> None:
    for name in ("train_32x32.mat", "test_32x32.mat"):
        if which in ("both", name):
            scipy_io.savemat(str(root / name), {"X": x_hwcn, "y": y.reshape(-1, 1)})


def test_svhn_layout_and_label_ten(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, size=(32, 32, 3, 5), dtype=np.uint8)  # the official HWCN layout
    y = np.array([10, 1, 2, 10, 9], dtype=np.uint8)
    _write_svhn(tmp_path, x, y)
    ds = d.load_svhn(tmp_path)
    assert ds.train_images.shape == (5, 3, 32, 32) and ds.train_images.dtype == torch.uint8
    assert ds.train_labels.tolist() == [0, 1, 2, 0, 9]
    # pixel (row 3, column 7, channel 2) of image 4
    assert int(ds.train_images[4, 2, 3, 7]) == int(x[3, 7, 2, 4])
    assert torch.equal(ds.train_images[1].permute(1, 2, 0), torch.from_numpy(x[..., 1]))
    assert ds.max_value == 255 and ds.n_classes == 10


def test_svhn_limits(tmp_path: Path) -> None:
    d.write_fake_svhn(tmp_path, n_train=20, n_test=12)
    ds = d.load_svhn(tmp_path, max_train=7, max_test=3)
    assert len(ds.train_labels) == 7 and len(ds.test_labels) == 3


def test_fake_svhn_is_in_the_official_layout(tmp_path: Path) -> None:
    d.write_fake_svhn(tmp_path, n_train=20, n_test=10)
    raw = scipy_io.loadmat(str(tmp_path / "train_32x32.mat"))
    assert raw["X"].shape == (32, 32, 3, 20) and raw["X"].dtype == np.uint8
    assert raw["y"].shape == (20, 1) and set(raw["y"].ravel()) <= set(range(1, 11))
    assert 10 in raw["y"].ravel() and 0 not in raw["y"].ravel()


def test_svhn_missing_file_names_files_and_url(tmp_path: Path) -> None:
    _write_svhn(tmp_path, np.zeros((32, 32, 3, 1), np.uint8), np.ones(1, np.uint8), which="train_32x32.mat")
    with pytest.raises(FileNotFoundError) as info:
        d.load_svhn(tmp_path)
    msg = str(info.value)
    assert "train_32x32.mat" in msg and "test_32x32.mat" in msg
    assert d.SVHN_URL in msg and str(tmp_path) in msg and "never downloads" in msg


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ({"X": np.zeros((32, 32, 3, 2), np.uint8)}, "must contain arrays 'X' and 'y'"),
        ({"X": np.zeros((28, 28, 3, 2), np.uint8), "y": np.ones((2, 1))}, r"shape \(32, 32, 3, N\)"),
        ({"X": np.zeros((32, 32, 3, 2), np.uint8), "y": np.ones((3, 1))}, r"shape \(32, 32, 3, N\)"),
        ({"X": np.zeros((32, 32, 3, 2), np.uint8), "y": np.array([[0], [1]])}, "labels must lie in 1..10"),
    ],
)
def test_svhn_malformed(tmp_path: Path, content: dict, match: str) -> None:  # type: ignore[type-arg]
    for name in ("train_32x32.mat", "test_32x32.mat"):
        scipy_io.savemat(str(tmp_path / name), content)
    with pytest.raises(ValueError, match=match):
        d.load_svhn(tmp_path)


def test_svhn_not_a_mat_file(tmp_path: Path) -> None:
    for name in ("train_32x32.mat", "test_32x32.mat"):
        (tmp_path / name).write_bytes(b"this is not matlab")
    with pytest.raises(ValueError, match="could not be read as a MATLAB file"):
        d.load_svhn(tmp_path)


# ---------------------------------------------------------------------------- CIFAR-10


def _cifar_batch(n: int, seed: int) -> dict[bytes, object]:
    rng = np.random.default_rng(seed)
    return {
        b"batch_label": b"x",
        b"labels": [int(v) for v in rng.integers(0, 10, n)],
        b"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
        b"filenames": [b"f.png"] * n,
    }


def _write_cifar(folder: Path, n: int = 3) -> dict[str, dict[bytes, object]]:
    folder.mkdir(parents=True, exist_ok=True)
    batches = {}
    for i, name in enumerate([f"data_batch_{j}" for j in range(1, 6)] + ["test_batch"]):
        batches[name] = _cifar_batch(n, i)
        with open(folder / name, "wb") as fh:
            pickle.dump(batches[name], fh)
    return batches


def test_cifar_layout_is_channel_major(tmp_path: Path) -> None:
    batches = _write_cifar(tmp_path / "cifar-10-batches-py")
    ds = d.load_cifar10(tmp_path)
    assert ds.train_images.shape == (15, 3, 32, 32) and ds.test_images.shape == (3, 3, 32, 32)
    row = batches["data_batch_2"][b"data"][1]  # type: ignore[index]
    # The first 1024 bytes are the red channel, row-major.
    assert int(ds.train_images[3 + 1, 0, 0, 5]) == int(row[5])
    assert int(ds.train_images[3 + 1, 1, 2, 0]) == int(row[1024 + 2 * 32])
    assert ds.train_labels[:3].tolist() == batches["data_batch_1"][b"labels"]
    assert ds.test_labels.tolist() == batches["test_batch"][b"labels"]
    assert ds.classes[0] == "airplane" and ds.n_classes == 10


def test_cifar_accepts_the_folder_itself_and_the_archive(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    _write_cifar(folder)
    a = d.load_cifar10(folder)
    archive_dir = tmp_path / "archive"
    archive_dir.mkdir()
    with tarfile.open(archive_dir / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
    b = d.load_cifar10(archive_dir)
    assert torch.equal(a.train_images, b.train_images) and torch.equal(a.test_labels, b.test_labels)


def test_cifar_missing_names_files_and_url(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as info:
        d.load_cifar10(tmp_path)
    msg = str(info.value)
    assert "data_batch_1" in msg and "test_batch" in msg and "cifar-10-python.tar.gz" in msg
    assert d.CIFAR10_URL in msg


def test_cifar_malformed_batch(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    _write_cifar(folder)
    with open(folder / "data_batch_3", "wb") as fh:
        pickle.dump({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, fh)
    with pytest.raises(ValueError, match=r"data_batch_3.*\(N, 3072\)"):
        d.load_cifar10(tmp_path)
    with open(folder / "data_batch_3", "wb") as fh:
        pickle.dump([1, 2, 3], fh)
    with pytest.raises(ValueError, match="must be a dict"):
        d.load_cifar10(tmp_path)
    with open(folder / "data_batch_3", "wb") as fh:
        pickle.dump({b"data": np.zeros((1, 3072), np.uint8), b"labels": [10]}, fh)
    with pytest.raises(ValueError, match=r"labels must lie in 0..9"):
        d.load_cifar10(tmp_path)


def test_fake_cifar_is_read_back(tmp_path: Path) -> None:
    d.write_fake_cifar10(tmp_path, n_per_batch=4, n_test=6)
    with open(tmp_path / "cifar-10-batches-py" / "data_batch_1", "rb") as fh:
        raw = pickle.load(fh, encoding="bytes")
    assert raw[b"data"].shape == (4, 3072) and raw[b"data"].dtype == np.uint8
    ds = d.load_cifar10(tmp_path, max_train=10, max_test=2)
    assert len(ds.train_labels) == 10 and len(ds.test_labels) == 2


# ---------------------------------------------------------------------------- dispatch


def test_load_dataset_dispatch_and_errors(tmp_path: Path) -> None:
    assert d.load_dataset("digits", max_test=5).test_images.shape == (5, 1, 8, 8)
    with pytest.raises(ValueError, match=r"dataset must be one of.*'mnist'"):
        d.load_dataset("mnist")
    with pytest.raises(ValueError, match=r"data_dir is required.*'svhn'"):
        d.load_dataset("svhn")
    with pytest.raises(ValueError, match="max_train"):
        d.load_dataset("digits", max_train=0)
    d.write_fake_svhn(tmp_path)
    assert d.load_dataset("svhn", tmp_path).name == "svhn"


def test_fingerprint_changes_with_the_files(tmp_path: Path) -> None:
    d.write_fake_svhn(tmp_path, seed=0)
    a = d.dataset_fingerprint("svhn", tmp_path)
    assert a == d.dataset_fingerprint("svhn", tmp_path)
    d.write_fake_svhn(tmp_path, seed=1)
    assert d.dataset_fingerprint("svhn", tmp_path) != a
    assert d.dataset_fingerprint("digits") == d.dataset_fingerprint("digits")
    with pytest.raises(ValueError, match="dataset must be one of"):
        d.dataset_fingerprint("imagenet")


def test_fake_writers_and_fingerprint_validate(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="n_train"):
        d.write_fake_svhn(tmp_path, n_train=0)
    with pytest.raises(ValueError, match="n_test"):
        d.write_fake_cifar10(tmp_path, n_test=-1)
    with pytest.raises(ValueError, match="n_per_batch"):
        d.write_fake_cifar10(tmp_path, n_per_batch=0)
    with pytest.raises(ValueError, match=r"data_dir is required.*'cifar10'"):
        d.dataset_fingerprint("cifar10")
    with pytest.raises(ValueError, match="max_test"):
        d.load_svhn(tmp_path, max_test=0)


def test_cifar_archive_missing_a_batch(tmp_path: Path) -> None:
    folder = tmp_path / "src" / "cifar-10-batches-py"
    _write_cifar(folder)
    (folder / "test_batch").unlink()
    with tarfile.open(tmp_path / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
    with pytest.raises(ValueError, match=r"lacks \['test_batch'\]"):
        d.load_cifar10(tmp_path)


# ---------------------------------------------------------------------------- your own data: folder:PATH

Image = pytest.importorskip("PIL.Image")


def _write_folder(root: Path, classes: dict[str, int], side: int = 8, mode: str = "L", suffix: str = ".png") -> None:
    """``classes[name]`` images per class; pixel (0, 0) encodes the class, pixel (0, 1) the image."""
    for k, (name, n) in enumerate(classes.items()):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            arr = np.full((side, side), 7 * i % 256, np.uint8)
            arr[0, 0], arr[0, 1] = 10 * (k + 1), i
            img = Image.fromarray(arr, mode="L")
            (img.convert(mode) if mode != "L" else img).save(root / name / f"img{i:03d}{suffix}")


def _pairs(ds: Any) -> list[tuple[int, int, int]]:
    out = []
    for images, labels in ((ds.train_images, ds.train_labels), (ds.test_images, ds.test_labels)):
        for x, y in zip(images, labels, strict=True):
            out.append((int(y), int(x[0, 0, 0]), int(x[0, 0, 1])))
    return out


def test_folder_reads_every_image_with_its_class(tmp_path: Path) -> None:
    _write_folder(tmp_path, {"cat": 10, "dog": 20, "emu": 5})
    ds = d.load_folder(tmp_path)
    assert ds.classes == ("cat", "dog", "emu") and ds.n_classes == 3
    assert ds.image_shape == (1, 8, 8) and ds.train_images.dtype == torch.uint8 and ds.max_value == 255
    pairs = _pairs(ds)
    # every image once, with the label of its folder (pixel (0, 0) = 10 * (label + 1))
    assert sorted((y, i) for y, _, i in pairs) == sorted(
        [(0, i) for i in range(10)] + [(1, i) for i in range(20)] + [(2, i) for i in range(5)]
    )
    assert all(p == 10 * (y + 1) for y, p, _ in pairs)
    # stratified: round(0.2 * n) of each class in the test part
    assert [int((ds.test_labels == k).sum()) for k in range(3)] == [2, 4, 1]
    assert ds.name == f"folder:{tmp_path}"


def test_folder_split_options(tmp_path: Path) -> None:
    _write_folder(tmp_path, {"a": 12, "b": 12})
    a, b = d.load_folder(tmp_path), d.load_folder(tmp_path)
    assert torch.equal(a.test_images, b.test_images)
    c = d.load_folder(tmp_path, split_seed=1)
    assert not torch.equal(a.test_images, c.test_images)
    half = d.load_folder(tmp_path, test_fraction=0.5)
    assert len(half.test_labels) == 12 and len(half.train_labels) == 12
    small = d.load_folder(tmp_path, max_train=3, max_test=2)
    assert len(small.train_labels) == 3 and len(small.test_labels) == 2


def test_folder_one_image_class_stays_in_training(tmp_path: Path) -> None:
    _write_folder(tmp_path, {"a": 1, "b": 10})
    ds = d.load_folder(tmp_path, test_fraction=0.9)
    assert int((ds.train_labels == 0).sum()) == 1 and int((ds.test_labels == 0).sum()) == 0


def test_folder_colour_makes_every_image_rgb(tmp_path: Path) -> None:
    _write_folder(tmp_path, {"gray": 4})
    _write_folder(tmp_path / "x", {"rgb": 4}, mode="RGB")
    (tmp_path / "x" / "rgb").rename(tmp_path / "rgb")
    (tmp_path / "x").rmdir()
    ds = d.load_folder(tmp_path)
    assert ds.image_shape == (3, 8, 8)
    x = torch.cat([ds.train_images, ds.test_images])
    assert torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 1], x[:, 2])  # gray stays gray in RGB


def test_folder_jpeg_nested_and_ignored_files(tmp_path: Path) -> None:
    _write_folder(tmp_path, {"a": 3}, suffix=".JPG")
    _write_folder(tmp_path / "b" / "deeper", {"x": 3}, suffix=".jpeg")
    (tmp_path / "a" / "notes.txt").write_text("not an image")
    (tmp_path / "a" / ".hidden.png").write_bytes(b"ignored")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    ds = d.load_folder(tmp_path)
    assert ds.classes == ("a", "b")
    assert len(ds.train_labels) + len(ds.test_labels) == 6


def test_folder_train_and_test_subfolders(tmp_path: Path) -> None:
    _write_folder(tmp_path / "train", {"a": 6, "b": 6})
    _write_folder(tmp_path / "test", {"b": 2})
    ds = d.load_folder(tmp_path)
    assert ds.classes == ("a", "b")
    assert len(ds.train_labels) == 12 and ds.test_labels.tolist() == [1, 1]
    with pytest.raises(ValueError, match=r"test_fraction=0.3 does not apply.*test/ folder"):
        d.load_folder(tmp_path, test_fraction=0.3)


def _unreadable(root: Path) -> None:
    _write_folder(root, {"a": 2, "b": 2})
    (root / "b" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n but then nothing")


def _sizes(root: Path) -> None:
    _write_folder(root, {"a": 2})
    _write_folder(root, {"b": 2}, side=9)


def _not_square(root: Path) -> None:
    for name in ("a", "b"):
        (root / name).mkdir()
        Image.new("L", (8, 6)).save(root / name / "x.png")


def _sixteen_bit(root: Path) -> None:
    _write_folder(root, {"a": 2, "b": 2})
    Image.fromarray(np.full((8, 8), 40000, np.uint16)).save(root / "b" / "deep.png")


@pytest.mark.parametrize(
    ("make", "error", "needles"),
    [
        (None, FileNotFoundError, ["does not exist", "one sub-folder per class"]),
        (lambda r: _write_folder(r, {"only": 3}), ValueError, ["1 class", "'only'", "at least 2"]),
        (lambda r: Image.new("L", (8, 8)).save(r / "loose.png"), ValueError, ["1 images but no sub-folders"]),
        (lambda r: (_write_folder(r, {"a": 2}), (r / "empty").mkdir()), ValueError, ["'empty'", "hold no image"]),
        (_unreadable, ValueError, ["broken.png", "could not be read"]),
        (_sizes, ValueError, ["same size", "9x9", "8x8"]),
        (_not_square, ValueError, ["square", "8x6"]),
        (_sixteen_bit, ValueError, ["deep.png", "16-bit"]),
        (
            lambda r: (_write_folder(r / "train", {"a": 2, "b": 2}), _write_folder(r / "test", {"c": 1})),
            ValueError,
            ["'c'", "train/ lacks"],
        ),
        (
            lambda r: (
                _write_folder(r / "train", {"a": 2}), _write_folder(r / "test", {"a": 1}), (r / "extra").mkdir()
            ),
            ValueError,
            ["'extra'", "beside"],
        ),
    ],
)
def test_folder_errors_name_the_path_and_what_was_expected(
    tmp_path: Path, make: Any, error: type[Exception], needles: list[str]
) -> None:
    root = tmp_path / "data"
    if make is not None:  # None: the folder does not exist
        root.mkdir()
        make(root)
    with pytest.raises(error) as info:
        d.load_folder(root)
    msg = str(info.value)
    assert str(root) in msg
    for needle in needles:
        assert needle in msg, (needle, msg)


def test_folder_path_is_a_file(tmp_path: Path) -> None:
    f = tmp_path / "file.png"
    Image.new("L", (8, 8)).save(f)
    with pytest.raises(ValueError, match="is not a directory"):
        d.load_folder(f)


# ---------------------------------------------------------------------------- your own data: npz:PATH


def _npz(path: Path, **arrays: Any) -> Path:
    np.savez(path, **arrays)
    return path


def test_npz_layouts_agree(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    nchw = rng.integers(0, 256, size=(30, 3, 8, 8), dtype=np.uint8)
    y = np.arange(30) % 3
    a = d.load_npz(_npz(tmp_path / "a.npz", x=nchw, y=y))
    b = d.load_npz(_npz(tmp_path / "b.npz", x=nchw.transpose(0, 2, 3, 1), y=y))
    assert a.image_shape == b.image_shape == (3, 8, 8)
    assert torch.equal(a.train_images, b.train_images) and torch.equal(a.test_labels, b.test_labels)
    # the images and labels are those of the file: look each one up
    for x, label in zip(a.train_images.numpy(), a.train_labels.numpy(), strict=True):
        (i,) = np.flatnonzero((nchw == x).all(axis=(1, 2, 3)))
        assert y[i] == label
    gray = d.load_npz(_npz(tmp_path / "g.npz", x=nchw[:, 0], y=y))
    assert gray.image_shape == (1, 8, 8)


def test_npz_floats_stay_floats(tmp_path: Path) -> None:
    x = np.random.default_rng(0).random((10, 1, 4, 4))
    ds = d.load_npz(_npz(tmp_path / "f.npz", x=x, y=np.arange(10) % 2))
    assert ds.max_value == 1 and ds.train_images.dtype == torch.float32
    got = torch.cat([ds.to_float(ds.train_images), ds.to_float(ds.test_images)]).numpy().reshape(10, -1)
    want = x.astype(np.float32).reshape(10, -1)
    assert sorted(map(tuple, got.tolist())) == sorted(map(tuple, want.tolist()))  # exact: no rounding to 1/255
    assert ds.to_float(ds.train_images).max() <= 1.0


def test_npz_string_labels_fixed_test_split_and_names(tmp_path: Path) -> None:
    x = np.zeros((6, 1, 4, 4), np.uint8)
    ds = d.load_npz(
        _npz(tmp_path / "s.npz", x=x, y=np.array(["dog", "cat"] * 3), x_test=x[:2], y_test=np.array(["cat", "cat"]))
    )
    assert ds.classes == ("cat", "dog") and ds.train_labels.tolist() == [1, 0] * 3 and ds.test_labels.tolist() == [0, 0]
    named = d.load_npz(_npz(tmp_path / "n.npz", x=x, y=np.arange(6) % 2, classes=np.array(["zero", "one"])))
    assert named.classes == ("zero", "one")
    with pytest.raises(ValueError, match=r"test_fraction=0.5 does not apply"):
        fixed = _npz(tmp_path / "t.npz", x=x, y=np.arange(6) % 2, x_test=x, y_test=np.arange(6) % 2)
        d.load_npz(fixed, test_fraction=0.5)


@pytest.mark.parametrize(
    ("arrays", "needles"),
    [
        ({"x": np.zeros((4, 1, 4, 4), np.uint8)}, ["lacks", "'y'", "'x'"]),
        (
            {"x": np.zeros((4, 1, 4, 4), np.uint8), "y": np.arange(4) % 2, "x_test": np.zeros((1, 1, 4, 4))},
            ["both 'x_test' and 'y_test'"],
        ),
        ({"x": np.zeros((4, 5, 4, 4), np.uint8), "y": np.arange(4) % 2}, ["'x'", "(4, 5, 4, 4)", "N x C x H x W"]),
        ({"x": np.zeros((4, 16), np.uint8), "y": np.arange(4) % 2}, ["(4, 16)"]),
        ({"x": np.zeros((4, 1, 4, 6), np.uint8), "y": np.arange(4) % 2}, ["(4, 1, 4, 6)", "square"]),
        ({"x": np.zeros((4, 1, 4, 4), np.uint8), "y": np.arange(3) % 2}, ["'y'", "4 labels", "(3,)"]),
        ({"x": np.full((4, 1, 4, 4), 2.0), "y": np.arange(4) % 2}, ["[0, 1]", "2.0"]),
        ({"x": np.full((4, 1, 4, 4), np.nan), "y": np.arange(4) % 2}, ["[0, 1]", "nan"]),
        ({"x": np.full((4, 1, 4, 4), 300), "y": np.arange(4) % 2}, ["0..255", "300"]),
        ({"x": np.zeros((4, 1, 4, 4), bool), "y": np.arange(4) % 2}, ["dtype bool"]),
        ({"x": np.zeros((4, 1, 4, 4), np.uint8), "y": np.zeros(4, int)}, ["1 class", "at least 2"]),
        ({"x": np.zeros((4, 1, 4, 4), np.uint8), "y": np.array([0, 1, -1, 1])}, [">= 0", "-1"]),
        ({"x": np.zeros((4, 1, 4, 4), np.uint8), "y": np.array([0.5, 1, 0, 1])}, ["integers or strings"]),
        (
            {
                "x": np.zeros((4, 1, 4, 4), np.uint8),
                "y": np.arange(4) % 2,
                "x_test": np.zeros((2, 3, 4, 4), np.uint8),
                "y_test": np.zeros(2),
            },
            ["'x_test'", "must match"],
        ),
        (
            {"x": np.zeros((4, 1, 4, 4), np.uint8), "y": np.arange(4) % 3, "classes": np.array(["a", "b"])},
            ["'classes' has 2 names"],
        ),
    ],
)
def test_npz_errors_name_the_path_and_what_was_expected(
    tmp_path: Path, arrays: dict[str, Any], needles: list[str]
) -> None:
    path = _npz(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError) as info:
        d.load_npz(path)
    msg = str(info.value)
    assert str(path) in msg
    for needle in needles:
        assert needle in msg, (needle, msg)


def test_npz_not_an_archive(tmp_path: Path) -> None:
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip file at all")
    with pytest.raises(ValueError, match=r"could not be read as an .npz"):
        d.load_npz(junk)
    single = tmp_path / "single.npz"
    with open(single, "wb") as fh:
        np.save(fh, np.zeros(3))
    with pytest.raises(ValueError, match=r"single array, not an .npz"):
        d.load_npz(single)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        d.load_npz(tmp_path / "missing.npz")


def test_npz_pickled_objects_are_refused(tmp_path: Path) -> None:
    path = _npz(tmp_path / "obj.npz", x=np.array([object()] * 4, dtype=object), y=np.arange(4) % 2)
    with pytest.raises(ValueError, match=str(path).replace(".", r"\.")):
        d.load_npz(path)


# ---------------------------------------------------------------------------- specs, peek, fingerprints


def test_dataset_specs_dispatch(tmp_path: Path) -> None:
    _write_folder(tmp_path / "f", {"a": 5, "b": 5})
    np.savez(tmp_path / "n.npz", x=np.zeros((10, 4, 4), np.uint8), y=np.arange(10) % 2)
    assert d.load_dataset(f"folder:{tmp_path / 'f'}").classes == ("a", "b")
    assert d.load_dataset(f"npz:{tmp_path / 'n.npz'}", test_fraction=0.4).test_labels.numel() == 4
    for bad in ("folder:", "npz", "images:/x", "Folder:/x"):
        with pytest.raises(ValueError, match="dataset"):
            d.load_dataset(bad)
    with pytest.raises(ValueError, match=r"test_fraction and split_seed do not apply.*'svhn'"):
        d.load_dataset("svhn", tmp_path, test_fraction=0.1)
    digits = d.load_dataset("digits", test_fraction=0.5, split_seed=2)
    assert digits.extra == {"test_fraction": 0.5, "split_seed": 2}
    assert torch.equal(digits.test_labels, d.load_digits(test_fraction=0.5, split_seed=2).test_labels)


def test_peek_reads_the_size_without_the_pixels(tmp_path: Path) -> None:
    _write_folder(tmp_path / "f", {"a": 3, "b": 4}, side=16)
    assert d.peek_dataset(f"folder:{tmp_path / 'f'}") == {"image_size": 16, "n_train": 7}
    np.savez(tmp_path / "n.npz", x=np.zeros((9, 32, 32, 3), np.uint8), y=np.arange(9) % 2)
    assert d.peek_dataset(f"npz:{tmp_path / 'n.npz'}") == {"image_size": 32, "n_train": 9}
    np.savez(tmp_path / "m.npz", x=np.zeros((9, 1, 12, 12), np.float32), y=np.arange(9) % 2)
    assert d.peek_dataset(f"npz:{tmp_path / 'm.npz'}") == {"image_size": 12, "n_train": 9}


def test_folder_fingerprint_notices_every_change(tmp_path: Path) -> None:
    root = tmp_path / "f"
    _write_folder(root, {"a": 4, "b": 4})
    spec = f"folder:{root}"
    base = d.dataset_fingerprint(spec)
    assert base == d.dataset_fingerprint(spec)
    os.utime(root / "a" / "img000.png", (0, 0))  # a new time stamp, the same content
    assert d.dataset_fingerprint(spec) == base
    arr = np.asarray(Image.open(root / "a" / "img001.png")).copy()
    arr[5, 5] ^= 1  # one pixel
    Image.fromarray(arr).save(root / "a" / "img001.png")
    changed = d.dataset_fingerprint(spec)
    assert changed != base
    (root / "a" / "img002.png").rename(root / "b" / "img002.png")  # an image changes class
    moved = d.dataset_fingerprint(spec)
    assert moved not in (base, changed)
    (root / "b" / "img002.png").unlink()
    assert d.dataset_fingerprint(spec) not in (base, changed, moved)
    assert d.dataset_fingerprint(spec, split_seed=1) != d.dataset_fingerprint(spec)
    assert d.dataset_fingerprint(spec, test_fraction=0.3) != d.dataset_fingerprint(spec)


def test_npz_fingerprint_follows_the_content_not_the_name(tmp_path: Path) -> None:
    x = np.zeros((10, 4, 4), np.uint8)
    np.savez(tmp_path / "a.npz", x=x, y=np.arange(10) % 2)
    a = d.dataset_fingerprint(f"npz:{tmp_path / 'a.npz'}")
    (tmp_path / "a.npz").rename(tmp_path / "b.npz")
    assert d.dataset_fingerprint(f"npz:{tmp_path / 'b.npz'}") == a
    x[3, 1, 1] = 1
    np.savez(tmp_path / "b.npz", x=x, y=np.arange(10) % 2)
    assert d.dataset_fingerprint(f"npz:{tmp_path / 'b.npz'}") != a
    with pytest.raises(FileNotFoundError):
        d.dataset_fingerprint(f"npz:{tmp_path / 'a.npz'}")
