"""Dataset readers for the experiments: bundled digits, SVHN, CIFAR-10 and your own images.

Nothing is ever downloaded. The digits come with scikit-learn (1,797 real 8x8
handwritten digits, :func:`sklearn.datasets.load_digits`). Your own data come from a
folder of images or an ``.npz`` file (:func:`load_folder`, :func:`load_npz`; on the
command line ``--dataset folder:PATH`` or ``--dataset npz:PATH``). SVHN and CIFAR-10
are read from a local directory in the formats their authors distribute:

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
    "CUSTOM_KINDS",
    "IMAGE_SUFFIXES",
    "SVHN_URL",
    "CIFAR10_URL",
    "load_digits",
    "load_svhn",
    "load_cifar10",
    "load_folder",
    "load_npz",
    "load_dataset",
    "parse_dataset_spec",
    "peek_dataset",
    "dataset_fingerprint",
    "write_fake_svhn",
    "write_fake_cifar10",
]

#: The named datasets; besides them ``folder:PATH`` and ``npz:PATH`` name your own data.
DATASET_NAMES = ("digits", "svhn", "cifar10")
#: The prefixes of a dataset spec that names your own data.
CUSTOM_KINDS = ("folder", "npz")
#: Image files :func:`load_folder` reads (case-insensitive); other files are ignored.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_DATASET_FORMS = "digits, svhn, cifar10, folder:PATH or npz:PATH"
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
        ``"digits"``, ``"svhn"``, ``"cifar10"``, or the spec of your own data
        (``"folder:PATH"``, ``"npz:PATH"``).
    train_images, test_images : torch.Tensor
        Pixel values, shape ``(N, C, H, W)``: integers (uint8), or float32 in
        ``[0, 1]`` for an ``.npz`` of floats; divide by :attr:`max_value` (see
        :meth:`to_float`) to get ``[0, 1]``.
    train_labels, test_labels : torch.Tensor
        int64 labels in ``0 .. n_classes - 1``.
    max_value : int
        The pixel value that maps to 1.0 (255, 16 for the digits, 1 for float pixels).
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


def _check_seed(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def _stratified_split(labels: np.ndarray, test_fraction: float, split_seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train and test indices: in each class, ``round(test_fraction * n)`` of a seeded permutation is held out.

    A class keeps at least one training image (so a class of one image is
    trained on, never only tested on).
    """
    rng = np.random.default_rng(_check_seed("split_seed", split_seed))
    test_idx: list[np.ndarray] = []
    train_idx: list[np.ndarray] = []
    for k in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == k))
        n_test = min(round(test_fraction * len(idx)), len(idx) - 1)
        test_idx.append(idx[:n_test])
        train_idx.append(idx[n_test:])
    return np.sort(np.concatenate(train_idx)), np.sort(np.concatenate(test_idx))


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
    tr, te = _stratified_split(labels, test_fraction, split_seed)
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


def load_svhn(
    data_dir: str | os.PathLike[str], *, max_train: int | None = None, max_test: int | None = None
) -> ImageDataset:
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
        batch = pickle.load(io.BytesIO(raw), encoding="bytes")
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


# ----------------------------------------------------------------------------------------
# Your own data: a folder of images, or an .npz file
# ----------------------------------------------------------------------------------------

#: Default share of each class held out for testing when your data have no test split.
DEFAULT_TEST_FRACTION = 0.2

_FOLDER_LAYOUT = (
    "one sub-folder per class holding PNG/JPEG images (PATH/<class>/<image>.png), or "
    "PATH/train/<class>/... and PATH/test/<class>/... for a fixed test split"
)
_NPZ_LAYOUT = (
    "an .npz file with arrays 'x' (N x C x H x W or N x H x W x C, or N x H x W for one channel; "
    "uint8, or float in [0, 1]) and 'y' (N integer or string labels), optionally 'x_test' and "
    "'y_test' for a fixed test split and 'classes' (class names, index = label)"
)


def parse_dataset_spec(spec: str) -> tuple[str, str | None]:
    """Split a dataset spec into its kind and path.

    Parameters
    ----------
    spec : str
        ``"digits"``, ``"svhn"``, ``"cifar10"``, ``"folder:PATH"`` or ``"npz:PATH"``.

    Returns
    -------
    kind : str
        The name, or ``"folder"`` / ``"npz"``.
    path : str or None
        ``PATH`` for your own data, ``None`` for a named dataset.

    Examples
    --------
    >>> parse_dataset_spec("digits")
    ('digits', None)
    >>> parse_dataset_spec("folder:data/pets")
    ('folder', 'data/pets')
    """
    if not isinstance(spec, str):
        raise ValueError(f"dataset must be one of {_DATASET_FORMS}, got {spec!r}")
    if spec in DATASET_NAMES:
        return spec, None
    kind, sep, path = spec.partition(":")
    if sep and kind in CUSTOM_KINDS:
        if not path:
            raise ValueError(f"dataset {spec!r} names no path: write {kind}:PATH")
        return kind, path
    raise ValueError(f"dataset must be one of {_DATASET_FORMS}, got {spec!r}")


def _check_test_fraction(value: float | None) -> float:
    return DEFAULT_TEST_FRACTION if value is None else _check_fraction("test_fraction", value)


def _class_dirs(root: Path) -> list[Path]:
    return sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name)


def _images_in(folder: Path) -> list[Path]:
    found = (p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    images = (p for p in found if p.suffix.lower() in IMAGE_SUFFIXES)
    return sorted(images, key=lambda p: p.relative_to(folder).as_posix())


def _folder_files(root: Path) -> dict[str, dict[str, list[Path]]]:
    """``{split: {class: [image paths]}}``; the split is ``"all"`` or ``"train"`` and ``"test"``.

    Every check of the layout happens here, so the loader and the fingerprint see
    the same files.
    """
    if not root.exists():
        raise FileNotFoundError(f"dataset folder {str(root)!r} does not exist; expected {_FOLDER_LAYOUT}")
    if not root.is_dir():
        raise ValueError(f"dataset folder {str(root)!r} is not a directory; expected {_FOLDER_LAYOUT}")
    subdirs = _class_dirs(root)
    names = [p.name for p in subdirs]
    if "train" in names and "test" in names:
        others = [n for n in names if n not in ("train", "test")]
        if others:
            raise ValueError(
                f"dataset folder {str(root)!r} has train/ and test/ beside other sub-folders {others!r}; "
                f"expected {_FOLDER_LAYOUT}"
            )
        splits = {"train": root / "train", "test": root / "test"}
    else:
        splits = {"all": root}
    out: dict[str, dict[str, list[Path]]] = {}
    for split, folder in splits.items():
        classes = _class_dirs(folder)
        if not classes:
            loose = len(_images_in(folder))
            found = f"{loose} images but no sub-folders" if loose else "no sub-folders"
            raise ValueError(f"dataset folder {str(folder)!r} has {found}; expected {_FOLDER_LAYOUT}")
        files = {c.name: _images_in(c) for c in classes}
        empty = [n for n, f in files.items() if not f]
        if empty:
            raise ValueError(
                f"dataset folder {str(folder)!r}: class folder(s) {empty!r} hold no image "
                f"({', '.join(IMAGE_SUFFIXES)}); expected {_FOLDER_LAYOUT}"
            )
        out[split] = files
    train = out.get("train", out.get("all", {}))
    if len(train) < 2:
        raise ValueError(
            f"dataset folder {str(root)!r} has {len(train)} class ({sorted(train)!r}); a classifier needs "
            f"at least 2 classes: {_FOLDER_LAYOUT}"
        )
    if "test" in out:
        unknown = sorted(set(out["test"]) - set(train))
        if unknown:
            raise ValueError(
                f"dataset folder {str(root / 'test')!r} has classes {unknown!r} that train/ lacks "
                f"(train/ has {sorted(train)!r})"
            )
    return out


def _read_image(path: Path) -> Any:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            return img.copy()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise ValueError(f"image {str(path)!r} could not be read (expected a PNG or JPEG file): {exc}") from exc


_GRAY_MODES = ("1", "L", "LA")
_COLOR_MODES = ("P", "PA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr", "LAB", "HSV")


def _decode_folder(files: dict[str, list[Path]], classes: list[str]) -> tuple[list[Any], np.ndarray]:
    images: list[Any] = []
    labels: list[int] = []
    for name, paths in files.items():
        k = classes.index(name)
        for path in paths:
            img = _read_image(path)
            if img.mode not in _GRAY_MODES + _COLOR_MODES:
                raise ValueError(
                    f"image {str(path)!r} has pixel mode {img.mode!r} (16-bit or float); "
                    "save it as an 8-bit grayscale or RGB PNG/JPEG"
                )
            images.append((path, img))
            labels.append(k)
    return images, np.asarray(labels, dtype=np.int64)


def load_folder(
    path: str | os.PathLike[str],
    *,
    test_fraction: float | None = None,
    split_seed: int = 0,
    max_train: int | None = None,
    max_test: int | None = None,
) -> ImageDataset:
    """Your own images: one sub-folder per class, PNG or JPEG, read with Pillow.

    Layout: ``PATH/<class>/<image>`` (images may sit in deeper folders below their
    class folder). The classes are the sub-folder names in sorted order, label =
    index. When ``PATH`` holds exactly ``train/`` and ``test/``, each with class
    sub-folders, those are the two splits; otherwise a stratified random split
    holds out ``test_fraction`` of each class (at least one image per class stays
    in training). Hidden files and folders and files with other suffixes are
    ignored.

    All images must have the same size, and be square (the built-in networks take
    square images). If any image has colour, all are read as RGB (3 channels);
    otherwise as grayscale (1 channel). Pixels are kept as uint8.

    Parameters
    ----------
    path : path
        The dataset folder.
    test_fraction : float, optional
        Share of each class held out for testing (default 0.2); not allowed with
        a ``train/``/``test/`` layout.
    split_seed : int, optional
        Seed of the split (default 0).
    max_train, max_test : int, optional
        Keep only the first so many images of each split (after the split).

    Returns
    -------
    ImageDataset

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        For a wrong layout, fewer than two classes, an unreadable image, or
        images of different sizes, naming the path and what was expected.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from PIL import Image
    >>> with tempfile.TemporaryDirectory() as d:
    ...     for k, name in enumerate(["cat", "dog"]):
    ...         (Path(d) / name).mkdir()
    ...         for i in range(5):
    ...             Image.new("L", (8, 8), color=40 * k + i).save(Path(d) / name / f"{i}.png")
    ...     ds = load_folder(d)
    >>> ds.classes, ds.image_shape, len(ds.train_labels), len(ds.test_labels)
    (('cat', 'dog'), (1, 8, 8), 8, 2)
    """
    max_train = _check_limit("max_train", max_train)
    max_test = _check_limit("max_test", max_test)
    root = Path(path)
    files = _folder_files(root)
    if "test" in files and test_fraction is not None:
        raise ValueError(
            f"test_fraction={test_fraction!r} does not apply to {str(root)!r}: its test/ folder is the test split"
        )
    fraction = _check_test_fraction(test_fraction)
    train_files = files.get("train", files.get("all", {}))
    classes = sorted(train_files)
    decoded = {split: _decode_folder(f, classes) for split, f in files.items()}
    all_images = [img for imgs, _ in decoded.values() for img in imgs]
    first_path, first = all_images[0]
    size = first.size
    for p, img in all_images:
        if img.size != size:
            raise ValueError(
                f"images must all have the same size: {str(p)!r} is {img.size[0]}x{img.size[1]} "
                f"(width x height), {str(first_path)!r} is {size[0]}x{size[1]}"
            )
    if size[0] != size[1]:
        raise ValueError(
            f"images must be square for the built-in networks, got {size[0]}x{size[1]} (width x height) "
            f"in {str(first_path)!r}: crop or pad them"
        )
    color = any(img.mode not in _GRAY_MODES for _, img in all_images)
    mode = "RGB" if color else "L"

    def to_array(imgs: list[Any]) -> np.ndarray:
        arr = np.stack([np.asarray(img.convert(mode), dtype=np.uint8) for _, img in imgs])
        return arr[:, None] if arr.ndim == 3 else np.ascontiguousarray(arr.transpose(0, 3, 1, 2))

    if "all" in decoded:
        imgs, labels = decoded["all"]
        x = to_array(imgs)
        tr, te = _stratified_split(labels, fraction, split_seed)
        train_x, train_y, test_x, test_y = x[tr], labels[tr], x[te], labels[te]
    else:
        train_x, train_y = to_array(decoded["train"][0]), decoded["train"][1]
        test_x, test_y = to_array(decoded["test"][0]), decoded["test"][1]
    if len(test_y) == 0:
        raise ValueError(
            f"dataset folder {str(root)!r}: the test split is empty (test_fraction={fraction}); "
            "add images or raise test_fraction"
        )
    return _custom_dataset(
        f"folder:{path}", train_x, train_y, test_x, test_y, 255, tuple(classes), str(root),
        {"test_fraction": None if "test" in files else fraction, "split_seed": split_seed},
        max_train, max_test,
    )


def _custom_dataset(
    name: str,
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray,
    test_y: np.ndarray,
    max_value: int,
    classes: tuple[str, ...],
    source: str,
    extra: dict[str, Any],
    max_train: int | None,
    max_test: int | None,
) -> ImageDataset:
    return ImageDataset(
        name=name,
        train_images=torch.from_numpy(np.ascontiguousarray(train_x[:max_train])),
        train_labels=torch.from_numpy(np.ascontiguousarray(train_y[:max_train], dtype=np.int64)),
        test_images=torch.from_numpy(np.ascontiguousarray(test_x[:max_test])),
        test_labels=torch.from_numpy(np.ascontiguousarray(test_y[:max_test], dtype=np.int64)),
        max_value=max_value,
        classes=classes,
        source=source,
        extra=extra,
    )


def _npz_layout(shape: tuple[int, ...], what: str, path: Path) -> str:
    """``"NCHW"``, ``"NHWC"`` or ``"NHW"`` for an image array of ``shape`` (square images)."""
    if len(shape) == 3 and shape[1] == shape[2]:
        return "NHW"
    if len(shape) == 4:
        nchw = shape[1] in (1, 3) and shape[2] == shape[3]
        nhwc = shape[3] in (1, 3) and shape[1] == shape[2]
        if nchw:
            return "NCHW"
        if nhwc:
            return "NHWC"
    raise ValueError(
        f"{str(path)!r}: array {what!r} has shape {shape}; expected N x C x H x W or N x H x W x C "
        "with C = 1 or 3 and square images (H = W), or N x H x W"
    )


def _npz_images(arr: np.ndarray, what: str, path: Path) -> tuple[np.ndarray, int]:
    layout = _npz_layout(arr.shape, what, path)
    if layout == "NHW":
        arr = arr[:, None]
    elif layout == "NHWC":
        arr = arr.transpose(0, 3, 1, 2)
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr), 255
    if np.issubdtype(arr.dtype, np.floating):
        lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)
        if not (np.isfinite(lo) and np.isfinite(hi) and lo >= 0.0 and hi <= 1.0):
            raise ValueError(
                f"{str(path)!r}: float array {what!r} must hold pixels in [0, 1], got values in [{lo}, {hi}]"
                " (divide 0..255 pixels by 255, or store them as uint8)"
            )
        return np.ascontiguousarray(arr, dtype=np.float32), 1
    if np.issubdtype(arr.dtype, np.integer) and not np.issubdtype(arr.dtype, np.bool_):
        lo, hi = (int(arr.min()), int(arr.max())) if arr.size else (0, 0)
        if lo >= 0 and hi <= 255:
            return np.ascontiguousarray(arr, dtype=np.uint8), 255
        raise ValueError(f"{str(path)!r}: integer array {what!r} must hold pixels in 0..255, got {lo}..{hi}")
    raise ValueError(f"{str(path)!r}: array {what!r} has dtype {arr.dtype}; expected uint8 or float in [0, 1]")


def _npz_labels(y: np.ndarray, n: int, what: str, path: Path) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or y.shape[0] != n:
        raise ValueError(f"{str(path)!r}: {what!r} must be a vector of {n} labels (one per image), got shape {y.shape}")
    return y


def load_npz(
    path: str | os.PathLike[str],
    *,
    test_fraction: float | None = None,
    split_seed: int = 0,
    max_train: int | None = None,
    max_test: int | None = None,
) -> ImageDataset:
    """Your own images from an ``.npz`` file (:func:`numpy.savez`), read without pickle.

    Arrays:

    * ``x``: images, ``N x C x H x W`` or ``N x H x W x C`` (C = 1 or 3; the layout
      is recognised by where C sits), or ``N x H x W`` for one channel; square
      (H = W); uint8 pixels 0..255, or floats in ``[0, 1]`` (kept as float32);
    * ``y``: N labels, integers ``0 .. K-1`` or strings (classes in sorted order);
    * optionally ``x_test`` and ``y_test``: a fixed test split (otherwise a
      stratified random split holds out ``test_fraction`` of each class);
    * optionally ``classes``: the class names, index = label.

    Parameters
    ----------
    path : path
        The ``.npz`` file.
    test_fraction : float, optional
        Share of each class held out when there is no ``x_test`` (default 0.2).
    split_seed : int, optional
        Seed of the split (default 0).
    max_train, max_test : int, optional
        Keep only the first so many images of each split.

    Returns
    -------
    ImageDataset

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        For a file that is not an ``.npz``, missing arrays, wrong shapes, dtypes
        or pixel ranges, or fewer than two classes, naming the path and what was
        expected.

    Examples
    --------
    >>> import tempfile, os
    >>> rng = np.random.default_rng(0)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     f = os.path.join(d, "data.npz")
    ...     np.savez(f, x=rng.random((20, 8, 8, 3)), y=np.arange(20) % 2)
    ...     ds = load_npz(f)
    >>> ds.image_shape, ds.n_classes, ds.max_value, len(ds.test_labels)
    ((3, 8, 8), 2, 1, 4)
    """
    max_train = _check_limit("max_train", max_train)
    max_test = _check_limit("max_test", max_test)
    root = Path(path)
    if not root.is_file():
        raise FileNotFoundError(f"dataset file {str(root)!r} does not exist; expected {_NPZ_LAYOUT}")
    try:
        archive = np.load(root, allow_pickle=False)
    except Exception as exc:  # numpy raises several types for a file that is not an archive
        raise ValueError(f"{str(root)!r} could not be read as an .npz file ({exc}); expected {_NPZ_LAYOUT}") from exc
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"{str(root)!r} holds a single array, not an .npz archive; expected {_NPZ_LAYOUT}")
    with archive:
        keys = set(archive.files)
        missing = [k for k in ("x", "y") if k not in keys]
        if missing:
            raise ValueError(
                f"{str(root)!r} lacks array(s) {missing!r} (it has {sorted(keys)!r}); expected {_NPZ_LAYOUT}"
            )
        if ("x_test" in keys) != ("y_test" in keys):
            raise ValueError(f"{str(root)!r} must hold both 'x_test' and 'y_test' or neither, it has {sorted(keys)!r}")
        try:
            x, max_value = _npz_images(archive["x"], "x", root)
            y = _npz_labels(archive["y"], len(x), "y", root)
            fixed = "x_test" in keys
            if fixed:
                x_test, test_max = _npz_images(archive["x_test"], "x_test", root)
                y_test = _npz_labels(archive["y_test"], len(x_test), "y_test", root)
                if x_test.shape[1:] != x.shape[1:] or test_max != max_value:
                    raise ValueError(
                        f"{str(root)!r}: 'x_test' images are {x_test.shape[1:]} {x_test.dtype}, "
                        f"'x' images {x.shape[1:]} {x.dtype}: they must match"
                    )
            names = [str(c) for c in archive["classes"].tolist()] if "classes" in keys else None
        except ValueError as exc:
            if str(root) in str(exc):
                raise
            raise ValueError(f"{str(root)!r}: {exc}") from exc
    labels = np.concatenate([y, y_test]) if fixed else y
    if labels.dtype.kind in "US":
        classes = sorted({str(v) for v in labels.tolist()})
        index = {c: i for i, c in enumerate(classes)}
        y = np.array([index[str(v)] for v in y.tolist()], dtype=np.int64)
        if fixed:
            y_test = np.array([index[str(v)] for v in y_test.tolist()], dtype=np.int64)
    elif labels.dtype.kind in "iu" or (labels.dtype.kind == "f" and np.all(labels == np.round(labels))):
        if labels.size and labels.min() < 0:
            raise ValueError(f"{str(root)!r}: labels must be integers >= 0 (or strings), got {labels.min()}")
        n_classes = int(labels.max()) + 1 if labels.size else 0
        classes = [str(k) for k in range(n_classes)]
        y = y.astype(np.int64)
        if fixed:
            y_test = y_test.astype(np.int64)
    else:
        raise ValueError(f"{str(root)!r}: labels 'y' must be integers or strings, got dtype {labels.dtype}")
    if names is not None:
        if len(names) < len(classes) or labels.dtype.kind in "US":
            raise ValueError(
                f"{str(root)!r}: 'classes' has {len(names)} names for integer labels 0..{len(classes) - 1} "
                "(with string labels, leave 'classes' out)"
            )
        classes = names
    if len(np.unique(y)) < 2:
        raise ValueError(
            f"{str(root)!r}: the training labels 'y' hold {len(np.unique(y))} class; a classifier needs at least 2"
        )
    if fixed:
        if test_fraction is not None:
            raise ValueError(
                f"test_fraction={test_fraction!r} does not apply to {str(root)!r}: its 'x_test' is the test split"
            )
        train_x, train_y, test_x, test_y = x, y, x_test, y_test
        extra: dict[str, Any] = {"test_fraction": None, "split_seed": split_seed}
    else:
        fraction = _check_test_fraction(test_fraction)
        tr, te = _stratified_split(y, fraction, split_seed)
        train_x, train_y, test_x, test_y = x[tr], y[tr], x[te], y[te]
        if len(te) == 0:
            raise ValueError(f"{str(root)!r}: the test split is empty (test_fraction={fraction}); add images")
        extra = {"test_fraction": fraction, "split_seed": split_seed}
    return _custom_dataset(
        f"npz:{path}", train_x, train_y, test_x, test_y, max_value, tuple(classes), str(root), extra,
        max_train, max_test,
    )


def _npy_header(fh: Any) -> tuple[tuple[int, ...], np.dtype[Any]]:
    version = np.lib.format.read_magic(fh)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
    else:
        shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
    return tuple(int(v) for v in shape), dtype


def peek_dataset(spec: str, data_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Image side, channels and training-set size of a dataset without reading its pixels.

    Used to choose the experiment's defaults for your own data. For a folder it
    lists the files and reads one image header; for an ``.npz`` it reads the
    header of ``x``.

    Returns
    -------
    dict
        ``{"image_size": H, "n_train": N}`` (``n_train`` counts every image of the
        training part before the split).

    Examples
    --------
    >>> peek_dataset("digits")
    {'image_size': 8, 'n_train': 1797}
    """
    kind, path = parse_dataset_spec(spec)
    if kind == "digits":
        return {"image_size": 8, "n_train": 1797}
    if kind in DATASET_NAMES:
        return {"image_size": 32, "n_train": 73257 if kind == "svhn" else 50000}
    assert path is not None
    root = Path(path)
    if kind == "folder":
        files = _folder_files(root)
        train = files.get("train", files.get("all", {}))
        first = next(iter(train.values()))[0]
        img = _read_image(first)
        return {"image_size": int(img.size[1]), "n_train": sum(len(v) for v in train.values())}
    if not root.is_file():
        raise FileNotFoundError(f"dataset file {str(root)!r} does not exist; expected {_NPZ_LAYOUT}")
    import zipfile

    try:
        with zipfile.ZipFile(root) as zf, zf.open("x.npy") as fh:
            shape, _ = _npy_header(fh)
    except KeyError:
        raise ValueError(f"{str(root)!r} lacks array 'x'; expected {_NPZ_LAYOUT}") from None
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise ValueError(f"{str(root)!r} could not be read as an .npz file ({exc}); expected {_NPZ_LAYOUT}") from exc
    layout = _npz_layout(shape, "x", root)
    side = shape[2] if layout == "NCHW" else shape[1]
    return {"image_size": int(side), "n_train": int(shape[0])}


def _content_digest(paths: Sequence[Path], root: Path) -> str:
    """SHA-256 over each file's path relative to ``root``, size and full content."""
    h = hashlib.sha256()
    for p in paths:
        h.update(p.relative_to(root).as_posix().encode() + b"\0")
        h.update(str(p.stat().st_size).encode() + b"\0")
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()[:32]


def _custom_fingerprint(kind: str, path: str, test_fraction: float | None, split_seed: int | None) -> dict[str, Any]:
    root = Path(path)
    if kind == "folder":
        files = _folder_files(root)
        paths = [p for split in files.values() for ps in split.values() for p in ps]
        fixed = "test" in files
    else:
        if not root.is_file():
            raise FileNotFoundError(f"dataset file {str(root)!r} does not exist; expected {_NPZ_LAYOUT}")
        paths = [root]  # hashed by content alone: renaming or moving the file keeps the key
        fixed = False  # an 'x_test' array shows in the content hash
    return {
        "name": kind,
        "files": len(paths),
        "sha256": _content_digest(paths, root),
        "split": {
            "test_fraction": None if fixed else (DEFAULT_TEST_FRACTION if test_fraction is None else test_fraction),
            "split_seed": 0 if split_seed is None else split_seed,
        },
    }


def load_dataset(
    name: str,
    data_dir: str | os.PathLike[str] | None = None,
    *,
    max_train: int | None = None,
    max_test: int | None = None,
    test_fraction: float | None = None,
    split_seed: int | None = None,
) -> ImageDataset:
    """Load a dataset by its spec: one of :data:`DATASET_NAMES`, ``folder:PATH`` or ``npz:PATH``.

    Parameters
    ----------
    name : str
        ``"digits"``, ``"svhn"``, ``"cifar10"``, ``"folder:PATH"`` (:func:`load_folder`)
        or ``"npz:PATH"`` (:func:`load_npz`).
    data_dir : path, optional
        Required for SVHN and CIFAR-10; ignored otherwise.
    max_train, max_test : int, optional
        Keep only the first so many images of each split.
    test_fraction, split_seed : optional
        The random train/test split of the digits (default 0.25, seed 0) and of
        your own data without a test split (default 0.2, seed 0). SVHN and
        CIFAR-10 have official test sets: these must stay ``None`` for them.

    Examples
    --------
    >>> load_dataset("digits", max_train=100).train_images.shape
    torch.Size([100, 1, 8, 8])
    """
    max_train = _check_limit("max_train", max_train)
    max_test = _check_limit("max_test", max_test)
    kind, path = parse_dataset_spec(name)
    seed = 0 if split_seed is None else _check_seed("split_seed", split_seed)
    if kind in ("svhn", "cifar10") and (test_fraction is not None or split_seed is not None):
        raise ValueError(
            f"test_fraction and split_seed do not apply to dataset {name!r}: its official test set is used, "
            f"got test_fraction={test_fraction!r}, split_seed={split_seed!r}"
        )
    if kind == "folder":
        assert path is not None
        return load_folder(path, test_fraction=test_fraction, split_seed=seed, max_train=max_train, max_test=max_test)
    if kind == "npz":
        assert path is not None
        return load_npz(path, test_fraction=test_fraction, split_seed=seed, max_train=max_train, max_test=max_test)
    if kind == "digits":
        if test_fraction is None and split_seed is None:
            ds = load_digits()
        else:
            ds = load_digits(test_fraction=0.25 if test_fraction is None else test_fraction, split_seed=seed)
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
    if data_dir is None:
        url = SVHN_URL if name == "svhn" else CIFAR10_URL
        raise ValueError(f"data_dir is required for dataset {name!r} (files from {url}), got None")
    if name == "svhn":
        return load_svhn(data_dir, max_train=max_train, max_test=max_test)
    return load_cifar10(data_dir, max_train=max_train, max_test=max_test)


def dataset_fingerprint(
    name: str,
    data_dir: str | os.PathLike[str] | None = None,
    *,
    test_fraction: float | None = None,
    split_seed: int | None = None,
) -> dict[str, Any]:
    """A cheap identity of a dataset's files, for cache keys.

    Parameters
    ----------
    name : str
        A dataset spec (see :func:`load_dataset`).
    data_dir : path, optional
    test_fraction, split_seed : optional
        The split options given to :func:`load_dataset` (they change the
        training set, so they are part of the identity).

    Returns
    -------
    dict
        JSON-serialisable; equal for the same files. SVHN and CIFAR-10: each file's
        size and a hash of its first and last 64 KiB (the official files do not
        change). Your own data (``folder:``, ``npz:``): a SHA-256 of every image
        file's path below the folder (the class), size and full content, so any
        changed, added, removed or renamed image changes the fingerprint, plus the
        split options. The digits: a hash of the bundled data (and the split
        options when given).

    Examples
    --------
    >>> dataset_fingerprint("digits")["name"]
    'digits'
    """
    kind, path = parse_dataset_spec(name)
    if kind in CUSTOM_KINDS:
        assert path is not None
        return _custom_fingerprint(kind, path, test_fraction, split_seed)
    if kind == "digits":
        from sklearn.datasets import load_digits as _sk_load_digits

        data = np.ascontiguousarray(_sk_load_digits().data)
        out: dict[str, Any] = {"name": name, "sha256": hashlib.sha256(data.tobytes()).hexdigest()[:16]}
        if test_fraction is not None or split_seed is not None:  # the default split keeps its old key
            out["split"] = {"test_fraction": test_fraction, "split_seed": split_seed}
        return out
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
    for fname, n in zip(_SVHN_FILES, (n_train, n_test), strict=True):
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
