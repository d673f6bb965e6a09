"""Training across machines: Lightning DDP under ``torchrun`` rendezvous, and the decoded cache read per rank.

Launch one ``torchrun`` per machine (``--nnodes N --nproc-per-node G --node-rank i``, the same
``--rdzv-endpoint`` / ``--master-addr``), each running ``fashiontag train ... num_nodes=N devices=G``; Lightning
finds the ranks in torchrun's environment (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``...). Every rank needs
the same ``--out`` on shared storage: rank 0 builds the decoded cache once (the others wait for it) and
writes ``checkpoints/last.ckpt``, from which a relaunch resumes.

With ``lazy_cache=true`` the images stay in the cache's memmap: ``LazyRows`` indexes it without reading, and
``MemmapRowsDataset`` reads one row per item, so under DDP (Lightning adds a ``DistributedSampler``) each rank
touches only its own share of the rows and a dataset larger than one machine's memory trains.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from fashiontag.train._config import TrainConfig


def distributed_kwargs(config: TrainConfig) -> dict[str, Any]:
    """Trainer arguments for DDP on one machine (``ddp=true devices=G``) or several (``num_nodes=N``)."""
    kwargs: dict[str, Any] = {}
    if config.trainer.ddp or config.trainer.num_nodes > 1:
        kwargs["strategy"] = "ddp"
    if config.trainer.num_nodes > 1:
        kwargs["num_nodes"] = config.trainer.num_nodes
    return kwargs


def global_rank() -> int:
    """This process's rank across all machines: the process group's once it is up, else as torchrun / SLURM set
    it, else Lightning's own launcher's ``LOCAL_RANK`` (one machine); 0 for a single process. Not ``LOCAL_RANK``
    first: on two machines with one process each, both are local rank 0 and both would write the model."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    for name in ("RANK", "SLURM_PROCID", "LOCAL_RANK"):
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    return 0


def wait_for_leader(marker: Path, timeout: float = 3600.0, poll: float = 0.5) -> bool:
    """On a rank > 0, wait until rank 0 has written ``marker`` (e.g. the cache's ``meta.json``) and return True;
    rank 0 (or a single process) returns False at once and builds it. Two ranks never build one cache at once."""
    if global_rank() == 0:
        return False
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"rank {global_rank()}: {marker} did not appear within {timeout:.0f} s; "
                "is --out on storage every machine shares?"
            )
        time.sleep(poll)
    return True


class LazyRows:
    """``images[i]`` is ``memmap[rows[i]]``, read only when indexed: the array interface ``TrainData.images``
    needs (``len``, ``shape``, ``[rows]``) without loading the cache. Pickles as its file name (DataLoader
    workers and DDP ranks reopen the memmap instead of copying it)."""

    def __init__(self, memmap: np.memmap, rows: np.ndarray) -> None:
        self.filename, self.offset = str(memmap.filename), int(memmap.offset)
        self.file_shape, self.dtype = tuple(memmap.shape), memmap.dtype
        self.rows = np.asarray(rows, dtype=np.int64)
        self._memmap: np.memmap | None = memmap

    @property
    def memmap(self) -> np.memmap:
        if self._memmap is None:
            self._memmap = np.memmap(
                self.filename, dtype=self.dtype, mode="r", shape=self.file_shape, offset=self.offset
            )
        return self._memmap

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.rows), *self.file_shape[1:])

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, key: Any) -> np.ndarray:
        picked = self.rows[key]
        if np.ndim(picked) == 0:
            return np.array(self.memmap[int(picked)])  # a copy: writable, and no open view on the file
        order = np.argsort(picked, kind="stable")  # sorted reads are faster on a memmap
        out = np.empty((len(picked), *self.file_shape[1:]), self.dtype)
        out[order] = self.memmap[picked[order]]
        return out

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        array = self[np.arange(len(self.rows))]
        return array if dtype is None else array.astype(dtype)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_memmap": None}


class MemmapRowsDataset(Dataset):
    """``(uint8 image, strategy targets, head targets)`` for ``rows`` of a :class:`LazyRows`, one memmap row per
    item; with a ``DistributedSampler`` each rank reads only the rows it is given."""

    def __init__(
        self, images: LazyRows, rows: np.ndarray, strategy_targets: np.ndarray, head_targets: np.ndarray
    ) -> None:
        self.images, self.rows = images, np.asarray(rows)
        self.strategy_targets, self.head_targets = strategy_targets, head_targets

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        row = int(self.rows[i])
        return (
            torch.from_numpy(self.images[row]),
            torch.from_numpy(self.strategy_targets[row]),
            torch.from_numpy(self.head_targets[row]),
        )
