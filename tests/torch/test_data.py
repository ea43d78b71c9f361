"""Tests for isobound_torch.data: the three readers, their formats, and their errors."""

from __future__ import annotations

import pickle
import tarfile
from pathlib import Path

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
    key = lambda a: sorted(map(bytes, a.astype(np.uint8)))  # noqa: E731
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
    with pytest.raises(ValueError, match="labels must lie in 0..9"):
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
    with pytest.raises(ValueError, match="dataset must be one of.*'mnist'"):
        d.load_dataset("mnist")
    with pytest.raises(ValueError, match="data_dir is required.*'svhn'"):
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
    with pytest.raises(ValueError, match="data_dir is required.*'cifar10'"):
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
