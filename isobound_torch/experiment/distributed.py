"""torch.distributed support: detect a ``torchrun`` launch, shard work, gather results.

Under ``torchrun --nproc_per_node P`` (environment variables ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``) the experiment runs as
follows:

* rank 0 trains (or loads) the generator and the classifiers and broadcasts their
  weights to the other ranks (no shared file system needed for that);
* every rank draws the same latent samples z from the run seed and measures the
  chunks ``i`` with ``i % world_size == rank``; chunk boundaries do not depend on the
  number of ranks, so the per-sample results are those of a single-process run;
* the chunks are gathered on every rank (``all_gather_object``) and rank 0 estimates
  omega, computes the bounds and writes the report.

Without those variables (or with ``WORLD_SIZE=1``) everything is a no-op.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

__all__ = ["DistContext", "setup_distributed", "shard_indices"]


@dataclass
class DistContext:
    """Where this process stands in a (possibly one-process) distributed run.

    Attributes
    ----------
    rank, world_size, local_rank : int
        As set by ``torchrun`` (0, 1, 0 for a plain run).
    owns_group : bool
        True when :func:`setup_distributed` created the process group (and
        :meth:`close` should destroy it).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        """True on rank 0 (the rank that trains and writes the report)."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        """True when there is more than one rank."""
        return self.world_size > 1

    def barrier(self) -> None:
        """Wait for every rank (no-op for one process)."""
        if self.active:
            dist.barrier()

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank (pickled; tensors must be on the CPU)."""
        if not self.active:
            return obj
        box = [obj if self.is_main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def all_gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj``, in rank order, on every rank."""
        if not self.active:
            return [obj]
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def close(self) -> None:
        """Destroy the process group if this context created it."""
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()
            self.owns_group = False


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"environment variable {name} must be an integer, got {raw!r}") from None


def setup_distributed(*, use_cuda: bool, timeout_minutes: float) -> DistContext:
    """Join the process group that ``torchrun`` describes in the environment.

    Parameters
    ----------
    use_cuda : bool
        Use the NCCL backend (one GPU per local rank) instead of gloo.
    timeout_minutes : float
        Collective timeout; the other ranks wait this long while rank 0 trains.

    Returns
    -------
    DistContext
        Rank 0 of 1 when no distributed launch is detected. An already initialised
        process group is used as is.
    """
    if dist.is_available() and dist.is_initialized():
        return DistContext(
            rank=dist.get_rank(),
            world_size=dist.get_world_size(),
            local_rank=_env_int("LOCAL_RANK", 0),
            owns_group=False,
        )
    world = _env_int("WORLD_SIZE", 1)
    if world <= 1:
        return DistContext()
    if not dist.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but this torch build has no torch.distributed support")
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", 0)
    backend = "nccl" if use_cuda else "gloo"
    if use_cuda:
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend=backend, rank=rank, world_size=world, timeout=timedelta(minutes=timeout_minutes))
    return DistContext(rank=rank, world_size=world, local_rank=local_rank, owns_group=True)


def shard_indices(n_items: int, rank: int, world_size: int) -> list[int]:
    """Items ``i`` with ``i % world_size == rank`` (round robin keeps shards balanced).

    Examples
    --------
    >>> shard_indices(5, 1, 2)
    [1, 3]
    >>> sorted(shard_indices(5, 0, 2) + shard_indices(5, 1, 2))
    [0, 1, 2, 3, 4]
    """
    if world_size < 1 or not (0 <= rank < world_size):
        raise ValueError(f"rank must lie in 0..world_size-1, got rank={rank!r}, world_size={world_size!r}")
    return list(range(rank, n_items, world_size))
