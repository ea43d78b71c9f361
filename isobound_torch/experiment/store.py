"""Checkpoints in the run directory: atomic writes, keys from the configuration.

Each stage output lives in ``<run_dir>/stages/<stage>-<key>.pt`` where ``key``
hashes every configuration value (and upstream key) that affects the output, and
the versions of isobound and torch (:func:`code_versions`): a run directory reused
after an upgrade recomputes its stages instead of silently keeping results of the
old code. A re-run with the same settings and versions finds the file and reuses
it; changing, say, the classifier epochs changes that classifier's key and
everything downstream of it, and nothing else. Files are written to a temporary name in the same directory and
moved into place with :func:`os.replace`, so a killed process leaves either the
old complete file or the new complete file, never half of one.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

__all__ = ["stage_key", "derive_seed", "atomic_write", "RunStore", "MemoryStore", "code_versions", "remove_stale"]


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=repr)


def code_versions() -> dict[str, str]:
    """The versions of the code whose numbers a stage stores: isobound and torch.

    Part of every stage key, so that results computed by another version are
    recomputed rather than reused.

    Examples
    --------
    >>> sorted(code_versions())
    ['isobound', 'torch']
    """
    import isobound

    return {"isobound": str(getattr(isobound, "__version__", "unknown")), "torch": str(torch.__version__)}


def stage_key(*parts: Any) -> str:
    """A 16-hex-digit SHA-256 digest of the JSON form of ``parts``.

    Examples
    --------
    >>> stage_key({"a": 1, "b": [1, 2]}) == stage_key({"b": [1, 2], "a": 1})
    True
    >>> stage_key(1) == stage_key(2)
    False
    """
    return hashlib.sha256(_canonical(parts).encode()).hexdigest()[:16]


def derive_seed(seed: int, *labels: Any) -> int:
    """A 63-bit seed for one stage, derived from the run seed and labels.

    Examples
    --------
    >>> derive_seed(0, "generator") == derive_seed(0, "generator")
    True
    >>> derive_seed(0, "generator") != derive_seed(1, "generator")
    True
    """
    digest = hashlib.sha256(_canonical([seed, *labels]).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp_path)`` then move the temporary file onto ``path`` atomically.

    Parameters
    ----------
    path : path
        Final destination (its directory is created if needed).
    write : callable
        Writes the content to the temporary path it receives.

    Returns
    -------
    Path
        ``path``.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp_path, 0o644)  # mkstemp makes 0600 files; reports are for reading
        os.replace(tmp_path, final)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
    return final


class RunStore:
    """Stage checkpoints under ``<run_dir>/stages``.

    Parameters
    ----------
    run_dir : path
        The run directory.

    Examples
    --------
    >>> import tempfile, torch
    >>> with tempfile.TemporaryDirectory() as d:
    ...     store = RunStore(d)
    ...     _ = store.save("demo", "k1", {"x": torch.arange(3)})
    ...     store.load("demo", "k1")["x"].tolist(), store.load("demo", "other")
    ([0, 1, 2], None)
    """

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        self.root = Path(run_dir)
        self.stage_dir = self.root / "stages"

    def path(self, stage: str, key: str, suffix: str = ".pt") -> Path:
        """File of ``stage`` with ``key``."""
        return self.stage_dir / f"{stage}-{key}{suffix}"

    def save(self, stage: str, key: str, obj: Any, *, suffix: str = ".pt") -> Path:
        """Write ``obj`` (tensors, numbers, strings, lists, dicts) with :func:`torch.save`, atomically."""
        return atomic_write(self.path(stage, key, suffix), lambda p: torch.save(obj, p))

    def load(self, stage: str, key: str, *, suffix: str = ".pt") -> Any | None:
        """The stored object, or ``None`` when absent or unreadable (then it is recomputed)."""
        path = self.path(stage, key, suffix)
        if not path.is_file():
            return None
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # a foreign or damaged file: recompute rather than trust it
            return None

    def discard(self, stage: str, key: str, *, suffix: str = ".pt") -> None:
        """Remove a checkpoint if present."""
        path = self.path(stage, key, suffix)
        if path.exists():
            path.unlink()

    def write_text(self, name: str, text: str) -> Path:
        """Atomically write a text file at ``<run_dir>/<name>``."""
        return atomic_write(self.root / name, lambda p: p.write_text(text, encoding="utf-8"))


class MemoryStore(RunStore):
    """A :class:`RunStore` that keeps stage outputs in memory and writes no files.

    What :func:`isobound_torch.evaluate` uses when no ``run_dir`` is given.
    """

    def __init__(self) -> None:
        self.root = Path(".")
        self.stage_dir = self.root / "stages"
        self._objects: dict[str, Any] = {}

    def save(self, stage: str, key: str, obj: Any, *, suffix: str = ".pt") -> Path:
        self._objects[f"{stage}-{key}{suffix}"] = obj
        return self.path(stage, key, suffix)

    def load(self, stage: str, key: str, *, suffix: str = ".pt") -> Any | None:
        return self._objects.get(f"{stage}-{key}{suffix}")

    def discard(self, stage: str, key: str, *, suffix: str = ".pt") -> None:
        self._objects.pop(f"{stage}-{key}{suffix}", None)

    def write_text(self, name: str, text: str) -> Path:
        return self.root / name


def remove_stale(run_dir: str | os.PathLike[str], owned: set[str], patterns: tuple[str, ...]) -> list[str]:
    """Delete report files of an earlier run that the current report does not own.

    Only files in ``run_dir`` itself whose names match one of the glob
    ``patterns`` (the report's own naming, e.g. ``cdf_*.png``) and are not in
    ``owned`` (file names) are removed, so a re-run with fewer classifiers leaves
    no plot of a classifier it no longer reports. Returns the removed names.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     for n in ("cdf_a.png", "cdf_b.png", "notes.png"):
    ...         _ = (Path(d) / n).write_bytes(b"")
    ...     remove_stale(d, {"cdf_a.png"}, ("cdf_*.png",)), sorted(p.name for p in Path(d).iterdir())
    (['cdf_b.png'], ['cdf_a.png', 'notes.png'])
    """
    root = Path(run_dir)
    removed: list[str] = []
    for pattern in patterns:
        for path in sorted(root.glob(pattern)):
            if path.is_file() and path.name not in owned:
                path.unlink()
                removed.append(path.name)
    return removed
