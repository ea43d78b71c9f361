"""Dataset readers for the experiments: bundled digits, SVHN and CIFAR-10 from local files.

Nothing is ever downloaded. The digits come with scikit-learn (1,797 real 8x8
handwritten digits, :func:`sklearn.datasets.load_digits`). SVHN and CIFAR-10 are read
from a local directory in the formats their authors distribute:

* SVHN (cropped digits): ``train_32x32.mat`` and ``test_32x32.mat`` from
  http://ufldl.stanford.edu/housenumbers/ . MATLAB files with ``X`` of shape
  ``(32, 32, 3, N)`` (uint8) and ``y`` of shape ``(N, 1)`` with labels 1..10, where
  10 stands for the digit 0.
* CIFAR-10, python version: ``cifar-10-python.tar.gz`` from
  https://www.cs.toronto.edu/~kriz/cifar.html , either extracted (a
  ``cifar-10-batches-py`` directory with ``data_batch_1`` ... ``data_batch_5`` and
  ``test_batch``) or as the archive itself. Each batch is a pickled dict with
  ``b'data'`` (uint8, ``(10000, 3072)``, channel-major) and ``b'labels'``.

Pickle can run code when it loads: read CIFAR batches only from the official
archive or files you made yourself.

Images are kept as integers (:attr:`ImageDataset.train_images`, uint8 or the digits'
0..16 counts) and turned into float ``[0, 1]`` pixels batch by batch
(:meth:`ImageDataset.to_float`), so a 50,000-image training set costs 150 MB, not
600 MB.

Examples
--------
>>> from isobound_torch.data import load_digits
>>> ds = load_digits()
>>> ds.image_shape, ds.n_classes, len(ds.train_labels) + len(ds.test_labels)
((1, 8, 8), 10, 1797)
>>> x = ds.to_float(ds.test_images[:2])
>>> x.dtype, float(x.min()) >= 0.0, float(x.max()) <= 1.0
(torch.float32, True, True)
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "ImageDataset",
    "DATASET_NAMES",
    "SVHN_URL",
    "CIFAR10_URL",
    "load_digits",
    "load_svhn",
    "load_cifar10",
    "load_dataset",
    "dataset_fingerprint",
    "write_fake_svhn",
    "write_fake_cifar10",
]

DATASET_NAMES = ("digits", "svhn", "cifar10")
SVHN_URL = "http://ufldl.stanford.edu/housenumbers/"
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"
_SVHN_FILES = ("train_32x32.mat", "test_32x32.mat")
_CIFAR_DIR = "cifar-10-batches-py"
_CIFAR_ARCHIVE = "cifar-10-python.tar.gz"
_CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
_CIFAR_TEST = "test_batch"
_CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


@dataclass(frozen=True)
class ImageDataset:
    """A labelled image classification dataset split into train and test parts.

    Attributes
    ----------
    name : str
        ``"digits"``, ``"svhn"`` or ``"cifar10"``.
    train_images, test_images : torch.Tensor
        Integer pixel values, shape ``(N, C, H, W)``; divide by :attr:`max_value`
        (see :meth:`to_float`) to get ``[0, 1]``.
    train_labels, test_labels : torch.Tensor
        int64 labels in ``0 .. n_classes - 1``.
    max_value : int
        The pixel value that maps to 1.0 (255, or 16 for the digits).
    classes : tuple of str
        Class names, index = label.
    source : str
        Where the data came from (paths or the scikit-learn loader).
    """

    name: str
    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    max_value: int
    classes: tuple[str, ...]
    source: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def n_classes(self) -> int:
        """Number of classes K."""
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)``."""
        c, h, w = self.train_images.shape[1:]
        return int(c), int(h), int(w)

    def to_float(self, images: torch.Tensor) -> torch.Tensor:
        """Integer pixels to float32 in ``[0, 1]`` (any device)."""
        return images.to(torch.float32) / float(self.max_value)

    def channel_stats(self) -> tuple[list[float], list[float]]:
        """Per-channel mean and standard deviation of the training pixels in ``[0, 1]``.

        Computed in float64 over the whole training set, in slices to bound memory;
        a zero standard deviation (a constant channel) is reported as 1.
        """
        c = self.image_shape[0]
        total = torch.zeros(c, dtype=torch.float64)
        total_sq = torch.zeros(c, dtype=torch.float64)
        count = 0
        for start in range(0, len(self.train_images), 4096):
            x = self.train_images[start : start + 4096].to(torch.float64) / self.max_value
            total += x.sum(dim=(0, 2, 3))
            total_sq += (x * x).sum(dim=(0, 2, 3))
            count += x.shape[0] * x.shape[2] * x.shape[3]
        mean = total / max(count, 1)
        var = (total_sq / max(count, 1) - mean * mean).clamp_min(0.0)
        std = torch.where(var > 0, var.sqrt(), torch.ones_like(var))
        return [float(v) for v in mean], [float(v) for v in std]


def _check_fraction(name: str, value: float) -> float:
    if not (isinstance(value, (int, float)) and 0.0 < value < 1.0):
        raise ValueError(f"{name} must lie strictly between 0 and 1, got {value!r}")
    return float(value)


def _check_limit(name: str, value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer or None, got {value!r}")
    return value


def load_digits(*, test_fraction: float = 0.25, split_seed: int = 0) -> ImageDataset:
    """scikit-learn's bundled handwritten digits, 8x8, one channel, K = 10.

    The 1,797 images (pixel counts 0..16) are split into train and test parts by a
    stratified random split: in each class, a fraction ``test_fraction`` of a fixed
    permutation goes to the test set.

    Parameters
    ----------
    test_fraction : float, optional
        Share of each class held out for testing (default 0.25).
    split_seed : int, optional
        Seed of the permutation (default 0: the same split everywhere).

    Returns
    -------
    ImageDataset

    Examples
    --------
    >>> ds = load_digits(test_fraction=0.5)
    >>> len(ds.train_labels), len(ds.test_labels)
    (899, 898)
    """
    from sklearn.datasets import load_digits as _sk_load_digits

    test_fraction = _check_fraction("test_fraction", test_fraction)
    bunch = _sk_load_digits()
    images = np.asarray(bunch.images, dtype=np.float64)
    labels = np.asarray(bunch.target, dtype=np.int64)
    rng = np.random.default_rng(split_seed)
    test_idx: list[np.ndarray] = []
    train_idx: list[np.ndarray] = []
    for k in range(10):
        idx = rng.permutation(np.flatnonzero(labels == k))
        n_test = int(round(test_fraction * len(idx)))
        test_idx.append(idx[:n_test])
        train_idx.append(idx[n_test:])
    tr = np.sort(np.concatenate(train_idx))
    te = np.sort(np.concatenate(test_idx))
    pixels = torch.from_numpy(np.rint(images).astype(np.uint8))[:, None]
    y = torch.from_numpy(labels)
    return ImageDataset(
        name="digits",
        train_images=pixels[tr].contiguous(),
        train_labels=y[tr].contiguous(),
        test_images=pixels[te].contiguous(),
        test_labels=y[te].contiguous(),
        max_value=16,
        classes=tuple(str(k) for k in range(10)),
        source="sklearn.datasets.load_digits",
        extra={"test_fraction": test_fraction, "split_seed": split_seed},
    )


def _missing(what: str, expected: Sequence[str], where: Path, url: str, hint: str = "") -> FileNotFoundError:
    files = ", ".join(expected)
    return FileNotFoundError(
        f"{what} not found: expected {files} in {str(where)!r}. "
        f"Get them from {url} and pass their directory with --data-dir (data_dir=...); "
        f"isobound never downloads data.{hint}"
    )


def _read_svhn_mat(path: Path, limit: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    import scipy.io

    try:
        mat = scipy.io.loadmat(str(path))
    except Exception as exc:  # scipy raises several types for a bad file
        raise ValueError(f"SVHN file {str(path)!r} could not be read as a MATLAB file: {exc}") from exc
    if "X" not in mat or "y" not in mat:
        raise ValueError(f"SVHN file {str(path)!r} must contain arrays 'X' and 'y', found {sorted(mat)!r}")
    x = np.asarray(mat["X"])
    y = np.asarray(mat["y"]).reshape(-1).astype(np.int64)
    if x.ndim != 4 or x.shape[:3] != (32, 32, 3) or x.shape[3] != y.shape[0]:
        raise ValueError(
            f"SVHN file {str(path)!r}: 'X' must have shape (32, 32, 3, N) matching 'y' of length N, "
            f"got X {x.shape} and y {y.shape}"
        )
    if y.size and (y.min() < 1 or y.max() > 10):
        raise ValueError(f"SVHN file {str(path)!r}: labels must lie in 1..10, got range {y.min()}..{y.max()}")
    if limit is not None:
        x, y = x[..., :limit], y[:limit]
    # HWCN -> NCHW; the label 10 marks the digit 0.
    images = torch.from_numpy(np.ascontiguousarray(np.transpose(x, (3, 2, 0, 1))).astype(np.uint8))
    labels = torch.from_numpy(np.where(y == 10, 0, y))
    return images, labels


def load_svhn(data_dir: str | os.PathLike[str], *, max_train: int | None = None, max_test: int | None = None) -> ImageDataset:
    """SVHN cropped digits (32x32 RGB, K = 10) from ``train_32x32.mat`` and ``test_32x32.mat``.

    The 'extra' set is not used, as in the paper. Label 10 (the digit 0) becomes 0.

    Parameters
    ----------
    data_dir : path
        Directory holding the two ``.mat`` files.
    max_train, max_test : int, optional
        Keep only the first so many images (quick runs).

    Returns
    -------
    ImageDataset

    Raises
    ------
    FileNotFoundError
        If a file is missing; the message names the files and where to get them.
    ValueError
        If a file is not in the SVHN format.
    """
    max_train = _check_limit("max_train", max_train)
    max_test = _check_limit("max_test", max_test)
    root = Path(data_dir)
    missing = [name for name in _SVHN_FILES if not (root / name).is_file()]
    if missing:
        raise _missing("SVHN files", _SVHN_FILES, root, SVHN_URL, " (the 'Format 2: cropped digits' files)")
    train_x, train_y = _read_svhn_mat(root / _SVHN_FILES[0], max_train)
    test_x, test_y = _read_svhn_mat(root / _SVHN_FILES[1], max_test)
    return ImageDataset(
        name="svhn",
        train_images=train_x,
        train_labels=train_y,
        test_images=test_x,
        test_labels=test_y,
        max_value=255,
        classes=tuple(str(k) for k in range(10)),
        source=str(root),
    )


def _unpickle_batch(raw: bytes, label: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        batch = pickle.load(io.BytesIO(raw), encoding="bytes")  # noqa: S301 - the CIFAR format is pickle
    except Exception as exc:
        raise ValueError(f"CIFAR-10 batch {label!r} could not be unpickled: {exc}") from exc
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        keys = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
        raise ValueError(f"CIFAR-10 batch {label!r} must be a dict with b'data' and b'labels', got {keys!r}")
    data = np.asarray(batch[b"data"])
    labels = np.asarray(batch[b"labels"], dtype=np.int64).reshape(-1)
    if data.ndim != 2 or data.shape[1] != 3072 or data.shape[0] != labels.shape[0]:
        raise ValueError(
            f"CIFAR-10 batch {label!r}: b'data' must have shape (N, 3072) matching {labels.shape[0]} labels, "
            f"got {data.shape}"
        )
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"CIFAR-10 batch {label!r}: labels must lie in 0..9, got {labels.min()}..{labels.max()}")
    return data.astype(np.uint8).reshape(-1, 3, 32, 32), labels


def _cifar_raw_batches(root: Path) -> tuple[dict[str, bytes], str]:
    names = (*_CIFAR_TRAIN, _CIFAR_TEST)
    for folder in (root / _CIFAR_DIR, root):
        if all((folder / n).is_file() for n in names):
            return {n: (folder / n).read_bytes() for n in names}, str(folder)
    archive = root / _CIFAR_ARCHIVE
    if archive.is_file():
        out: dict[str, bytes] = {}
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar.getmembers():
                base = os.path.basename(member.name)
                if member.isfile() and base in names:
                    handle = tar.extractfile(member)
                    if handle is not None:
                        out[base] = handle.read()
        if set(out) == set(names):
            return out, str(archive)
        raise ValueError(f"CIFAR-10 archive {str(archive)!r} lacks {sorted(set(names) - set(out))!r}")
    raise _missing(
        "CIFAR-10 python batches",
        [f"{_CIFAR_DIR}/{n}" for n in names] + [f"or {_CIFAR_ARCHIVE}"],
        root,
        CIFAR10_URL,
        " (the 'CIFAR-10 python version' archive)",
    )


def load_cifar10(
    data_dir: str | os.PathLike[str], *, max_train: int | None = None, max_test: int | None = None
) -> ImageDataset:
    """CIFAR-10 (32x32 RGB, K = 10) from the python batches.

    ``data_dir`` may hold the extracted ``cifar-10-batches-py`` directory, be that
    directory, or hold the unextracted ``cifar-10-python.tar.gz``.

    Parameters
    ----------
    data_dir : path
        See above.
    max_train, max_test : int, optional
        Keep only the first so many images.

    Returns
    -------
    ImageDataset

    Raises
    ------
    FileNotFoundError
        If the batches are missing; the message names them and where to get them.
    ValueError
        If a batch is not in the CIFAR-10 format.
    """
    max_train = _check_limit("max_train", max_train)
    max_test = _check_limit("max_test", max_test)
    raw, source = _cifar_raw_batches(Path(data_dir))
    parts = [_unpickle_batch(raw[n], n) for n in _CIFAR_TRAIN]
    train_x = np.concatenate([p[0] for p in parts])
    train_y = np.concatenate([p[1] for p in parts])
    test_x, test_y = _unpickle_batch(raw[_CIFAR_TEST], _CIFAR_TEST)
    if max_train is not None:
        train_x, train_y = train_x[:max_train], train_y[:max_train]
    if max_test is not None:
        test_x, test_y = test_x[:max_test], test_y[:max_test]
    return ImageDataset(
        name="cifar10",
        train_images=torch.from_numpy(np.ascontiguousarray(train_x)),
        train_labels=torch.from_numpy(train_y),
        test_images=torch.from_numpy(np.ascontiguousarray(test_x)),
        test_labels=torch.from_numpy(test_y),
        max_value=255,
        classes=_CIFAR_CLASSES,
        source=source,
    )


def load_dataset(
    name: str,
    data_dir: str | os.PathLike[str] | None = None,
    *,
    max_train: int | None = None,
    max_test: int | None = None,
) -> ImageDataset:
    """Load one of :data:`DATASET_NAMES`.

    Parameters
    ----------
    name : {"digits", "svhn", "cifar10"}
        The dataset.
    data_dir : path, optional
        Required for SVHN and CIFAR-10; ignored for the digits.
    max_train, max_test : int, optional
        Keep only the first so many images of each split.

    Examples
    --------
    >>> load_dataset("digits", max_train=100).train_images.shape
    torch.Size([100, 1, 8, 8])
    """
    max_train = _check_limit("max_train", max_train)
    max_test = _check_limit("max_test", max_test)
    if name == "digits":
        ds = load_digits()
        if max_train is None and max_test is None:
            return ds
        return ImageDataset(
            name=ds.name,
            train_images=ds.train_images[:max_train],
            train_labels=ds.train_labels[:max_train],
            test_images=ds.test_images[:max_test],
            test_labels=ds.test_labels[:max_test],
            max_value=ds.max_value,
            classes=ds.classes,
            source=ds.source,
            extra=ds.extra,
        )
    if name not in DATASET_NAMES:
        raise ValueError(f"dataset must be one of {', '.join(DATASET_NAMES)}, got {name!r}")
    if data_dir is None:
        url = SVHN_URL if name == "svhn" else CIFAR10_URL
        raise ValueError(f"data_dir is required for dataset {name!r} (files from {url}), got None")
    if name == "svhn":
        return load_svhn(data_dir, max_train=max_train, max_test=max_test)
    return load_cifar10(data_dir, max_train=max_train, max_test=max_test)


def dataset_fingerprint(name: str, data_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """A cheap identity of a dataset's files (names and sizes, no reading), for cache keys.

    Parameters
    ----------
    name : {"digits", "svhn", "cifar10"}
    data_dir : path, optional

    Returns
    -------
    dict
        JSON-serialisable; equal for the same files (size and a hash of each file's
        first and last 64 KiB). For the digits it records the
        scikit-learn version and a hash of the bundled data.

    Examples
    --------
    >>> dataset_fingerprint("digits")["name"]
    'digits'
    """
    if name not in DATASET_NAMES:
        raise ValueError(f"dataset must be one of {', '.join(DATASET_NAMES)}, got {name!r}")
    if name == "digits":
        from sklearn.datasets import load_digits as _sk_load_digits

        data = np.ascontiguousarray(_sk_load_digits().data)
        return {"name": name, "sha256": hashlib.sha256(data.tobytes()).hexdigest()[:16]}
    if data_dir is None:
        raise ValueError(f"data_dir is required for dataset {name!r}, got None")
    root = Path(data_dir)
    if name == "svhn":
        candidates = [root / n for n in _SVHN_FILES]
    else:
        candidates = [root / _CIFAR_DIR / n for n in (*_CIFAR_TRAIN, _CIFAR_TEST)]
        if not all(p.is_file() for p in candidates):
            candidates = [root / n for n in (*_CIFAR_TRAIN, _CIFAR_TEST)]
        if not all(p.is_file() for p in candidates):
            candidates = [root / _CIFAR_ARCHIVE]
    files = {p.name: _file_digest(p) for p in candidates if p.is_file()}
    return {"name": name, "files": files}


def _file_digest(path: Path, chunk: int = 1 << 16) -> str:
    """Size plus a hash of the first and last 64 KiB: cheap, and changes when the file does."""
    size = path.stat().st_size
    h = hashlib.sha256(str(size).encode())
    with open(path, "rb") as fh:
        h.update(fh.read(chunk))
        if size > chunk:
            fh.seek(max(size - chunk, chunk))
            h.update(fh.read(chunk))
    return f"{size}:{h.hexdigest()[:16]}"


# ----------------------------------------------------------------------------------------
# Fake files in the real formats (for tests and smoke runs without the real data)
# ----------------------------------------------------------------------------------------


def _fake_images(n: int, n_classes: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Class-dependent uint8 images ``(n, 3, 32, 32)``: a bright block whose place encodes the class.

    Learnable in a few steps, so a smoke run's classifiers end up with distinct
    classes rather than a constant prediction.
    """
    labels = np.arange(n) % n_classes
    rng.shuffle(labels)
    images = rng.integers(0, 96, size=(n, 3, 32, 32), dtype=np.int64)
    for i, k in enumerate(labels):
        row, col = divmod(int(k), 4)
        images[i, :, 2 + 8 * row : 8 + 8 * row, 2 + 8 * col : 8 + 8 * col] += 150
    return np.clip(images, 0, 255).astype(np.uint8), labels.astype(np.int64)


def write_fake_svhn(
    data_dir: str | os.PathLike[str], *, n_train: int = 64, n_test: int = 32, seed: int = 0
) -> list[Path]:
    """Write small ``train_32x32.mat`` / ``test_32x32.mat`` files in SVHN's own layout.

    ``X`` is ``(32, 32, 3, N)`` uint8 and ``y`` is ``(N, 1)`` with labels 1..10 (10 for
    the digit 0), exactly as in the official files, so :func:`load_svhn` reads them
    through the same code path. The pictures are synthetic, not SVHN.

    Returns
    -------
    list of Path
        The two files written.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = write_fake_svhn(d, n_train=20, n_test=10)
    ...     load_svhn(d).train_images.shape
    torch.Size([20, 3, 32, 32])
    """
    import scipy.io

    _check_limit("n_train", n_train)
    _check_limit("n_test", n_test)
    root = Path(data_dir)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for fname, n in zip(_SVHN_FILES, (n_train, n_test)):
        images, labels = _fake_images(n, 10, rng)
        x = np.ascontiguousarray(np.transpose(images, (2, 3, 1, 0)))  # NCHW -> HWCN
        y = np.where(labels == 0, 10, labels).astype(np.uint8).reshape(-1, 1)
        scipy.io.savemat(str(root / fname), {"X": x, "y": y})
        paths.append(root / fname)
    return paths


def write_fake_cifar10(
    data_dir: str | os.PathLike[str], *, n_per_batch: int = 16, n_test: int = 32, seed: int = 0
) -> Path:
    """Write a small ``cifar-10-batches-py`` directory in CIFAR-10's own pickle layout.

    Five ``data_batch_i`` files and a ``test_batch``, each a pickled dict with
    ``b'data'`` (uint8 ``(N, 3072)``), ``b'labels'`` (list of int), ``b'batch_label'``
    and ``b'filenames'``, as in the official archive. The pictures are synthetic.

    Returns
    -------
    Path
        The ``cifar-10-batches-py`` directory.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = write_fake_cifar10(d, n_per_batch=4, n_test=6)
    ...     ds = load_cifar10(d)
    ...     tuple(ds.train_images.shape), tuple(ds.test_images.shape)
    ((20, 3, 32, 32), (6, 3, 32, 32))
    """
    _check_limit("n_per_batch", n_per_batch)
    _check_limit("n_test", n_test)
    folder = Path(data_dir) / _CIFAR_DIR
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for fname, n in [(b, n_per_batch) for b in _CIFAR_TRAIN] + [(_CIFAR_TEST, n_test)]:
        images, labels = _fake_images(n, 10, rng)
        batch = {
            b"batch_label": fname.encode(),
            b"labels": [int(v) for v in labels],
            b"data": images.reshape(n, 3072),
            b"filenames": [f"fake_{i}.png".encode() for i in range(n)],
        }
        with open(folder / fname, "wb") as fh:
            pickle.dump(batch, fh, protocol=2)
    return folder
