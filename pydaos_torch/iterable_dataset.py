"""Iterable-style Dataset: DAOS's pydaos.torch ``IterableDataset``, split over ranks and workers.

Each epoch has one order of all samples (seeded shuffle, changed by :meth:`set_epoch`), the
same on every rank. Sample k of that order goes to rank ``k % world_size``; when the samples do
not divide evenly, ``uneven="pad"`` (default) repeats samples from the start of the order and
``"drop"`` drops the tail, so every rank yields the same number of samples and the same number
of DataLoader batches (DDP never waits for a rank that ran out); ``"none"`` yields every sample
exactly once, some ranks one fewer. Without padding every sample is yielded exactly once.

Within a rank, DataLoader workers take blocks of ``batch_size`` samples in turn. With
``DataLoader(ds, batch_size=ds.batch_size)`` the batches arrive in the rank's order, so
"n samples consumed" is an exact position: :meth:`state_dict` / :meth:`load_state_dict` resume
mid-epoch, with ``num_workers=0``, with torchdata's ``StatefulDataLoader`` (which calls them in
each worker), or by hand (``load_state_dict({"epoch": e, "consumed": n})``).

Reading runs ahead by ``prefetch`` batches of ``batch_size`` samples, each batch one native
read (GIL released) on a background thread: memory is bounded by ``(prefetch + 1)`` batches.
"""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Dict, Iterator, List, Optional, Union

import numpy as np
import torch
import torch.utils.data

from . import _sharding
from ._core import Index
from ._samples import Entries, SampleSource
from .io_profile import IOProfile
from ._source import (DIR_CACHE_SIZE, ITER_BATCH_SIZE, PARALLEL_SCAN_WORKERS, READDIR_BATCH_SIZE, ContainerLike,
                      transform_fn_default)
from .container import Container


class IterableDataset(SampleSource, torch.utils.data.IterableDataset):
    """Every regular file under ``path``, one sample (its bytes, then ``transform_fn``) per file.

    The pydaos.torch parameters keep their meaning (``batch_size``: samples per read-ahead
    batch; see :class:`~pydaos_torch.Dataset` for the others). Also: ``shuffle``, ``seed``,
    ``uneven`` (``"pad"``, ``"drop"`` or ``"none"``), ``rank``/``world_size`` (default: detected,
    see ``_sharding``), ``prefetch`` (batches read ahead), ``index``, ``depth``.
    """

    def __init__(self, pool: Union[str, Container, None] = None, cont: ContainerLike = None,
                 path: Optional[str] = None, transform_fn: Callable[[Any], Any] = transform_fn_default,
                 readdir_batch_size: int = READDIR_BATCH_SIZE, batch_size: int = ITER_BATCH_SIZE,
                 dir_cache_size: int = DIR_CACHE_SIZE, readdir_workers: int = PARALLEL_SCAN_WORKERS, *,
                 container: ContainerLike = None, backend: str = "auto", root: Optional[str] = None,
                 index: Optional[Index] = None, shuffle: bool = False, seed: int = 0, uneven: str = "pad",
                 rank: Optional[int] = None, world_size: Optional[int] = None, prefetch: int = 1,
                 progress: Any = True, depth: int = 0, profile: Optional[IOProfile] = None,
                 _order: Optional[np.ndarray] = None):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if uneven not in _sharding.UNEVEN:
            raise ValueError(f"uneven must be one of {_sharding.UNEVEN}, got {uneven!r}")
        if prefetch < 0:
            raise ValueError(f"prefetch must be >= 0, got {prefetch}")
        self._open(pool, cont, container, path, backend=backend, root=root, index=index, order=_order,
                   readdir_batch_size=readdir_batch_size, dir_cache_size=dir_cache_size,
                   readdir_workers=readdir_workers, progress=progress, transform_fn=transform_fn, depth=depth,
                   profile=profile)
        self.batch_size = batch_size
        self.shuffle, self.seed, self.uneven = shuffle, seed, uneven
        self.prefetch = prefetch
        self._rank, self._world = rank, world_size
        self._stamped: Optional[tuple] = None  # (rank, world) resolved by the main process for spawned workers
        # [epoch, consumed]: shared memory, so that set_epoch() and load_state_dict() in the main
        # process reach persistent DataLoader workers too.
        self._shared = torch.zeros(2, dtype=torch.int64).share_memory_()
        self._worker_skip: Optional[Dict[str, int]] = None  # a worker's own resume point
        self._yielded = 0
        self._iter_start = 0

    # -- the split
    def _rank_world(self):
        # resolved at each use (torch.distributed may be initialized after construction); a
        # spawned worker has no process group, so it uses what its parent resolved
        if self._stamped is not None and torch.utils.data.get_worker_info() is not None:
            return self._stamped
        return _sharding.rank_world(self._rank, self._world)

    @property
    def epoch(self) -> int:
        return int(self._shared[0])

    def set_epoch(self, epoch: int) -> None:
        """Starts epoch ``epoch`` from its beginning: a new shuffle (same on every rank)."""
        self._shared[0] = int(epoch)
        self._shared[1] = 0
        self._worker_skip = None

    def _rank_samples(self, epoch: int) -> np.ndarray:
        order = _sharding.epoch_order(self._count(), shuffle=self.shuffle, seed=self.seed, epoch=epoch)
        rank, world = self._rank_world()
        share = _sharding.rank_share(order, rank, world, self.uneven)
        return share if self._order is None else self._order[share]

    def __len__(self) -> int:
        """Samples this rank yields per epoch."""
        n = self._count()
        rank, world = self._rank_world()
        if self.uneven == "pad":
            return -(-n // world)
        if self.uneven == "drop":
            return n // world
        return n // world + (1 if rank < n % world else 0)

    # -- pydaos.torch's lists
    @property
    def objects(self) -> Entries:
        """Every sample of the dataset as (container path, size), in the dataset's order."""
        n = self._count()
        return Entries(self, self._order if self._order is not None else np.arange(n, dtype=np.int64))

    @property
    def workset(self) -> Entries:
        """The samples this process yields this epoch (this rank's share, and inside a
        DataLoader worker that worker's part of it), as (container path, size)."""
        wid, nw = _sharding.worker()
        samples = self._rank_samples(int(self._shared[0]))
        return Entries(self, samples[_sharding.worker_blocks(len(samples), self.batch_size, wid, nw)])

    # -- iteration
    def __iter__(self) -> Iterator[Any]:
        epoch, consumed = int(self._shared[0]), int(self._shared[1])
        wid, nw = _sharding.worker()
        samples = self._rank_samples(epoch)[consumed:]
        mine = samples[_sharding.worker_blocks(len(samples), self.batch_size, wid, nw)]
        skip = 0
        ws = self._worker_skip
        if ws and ws["epoch"] == epoch and ws["start"] == consumed and ws["num_workers"] == nw:
            skip = ws["yielded"]
        self._worker_skip = None
        self._epoch_iter, self._iter_start, self._yielded = epoch, consumed, skip
        return self._generate(mine[skip:])

    def _generate(self, entries: np.ndarray) -> Iterator[Any]:
        fn, bs = self.transform_fn, self.batch_size
        chunks = [entries[s:s + bs] for s in range(0, len(entries), bs)]
        if not chunks:
            return
        ex = ThreadPoolExecutor(1, thread_name_prefix="pydaos-torch-readahead") if self.prefetch else None
        ahead: List[Future] = []
        try:
            k = 0
            while k < len(chunks):
                if ex is None:
                    batch = self._read(chunks[k], fast=False)
                else:
                    while len(ahead) <= self.prefetch and k + len(ahead) < len(chunks):
                        ahead.append(ex.submit(self._read, chunks[k + len(ahead)], fast=False))
                    batch = ahead.pop(0).result()
                k += 1
                for sample in batch:
                    self._yielded += 1
                    yield fn(sample)
            if _sharding.worker()[1] == 1 and torch.utils.data.get_worker_info() is None:
                self._shared[1] = 0  # epoch done in this process: the next iteration starts it afresh
        finally:
            if ex is not None:
                for f in ahead:
                    f.cancel()
                ex.shutdown(wait=True)

    # -- resume
    def state_dict(self) -> Dict[str, int]:
        """The position. In the main process: ``{"epoch", "consumed"}`` (samples of this rank
        consumed, exact with ``num_workers=0``). In a DataLoader worker (torchdata's
        StatefulDataLoader calls it there): that worker's position as well."""
        wid, nw = _sharding.worker()
        epoch = getattr(self, "_epoch_iter", self.epoch)
        if nw == 1:
            return {"epoch": epoch, "consumed": getattr(self, "_iter_start", 0) + self._yielded}
        return {"epoch": epoch, "consumed": self._iter_start, "worker": wid, "num_workers": nw,
                "yielded": self._yielded}

    def load_state_dict(self, state: Dict[str, int]) -> None:
        """Resumes at ``state`` (from :meth:`state_dict`, or ``{"epoch": e, "consumed": n}`` with n
        the samples of this rank already consumed in epoch e): the next iteration yields exactly
        the rest of that epoch."""
        self._shared[0] = int(state["epoch"])
        self._shared[1] = int(state.get("consumed", 0))
        self._worker_skip = None
        if "yielded" in state:
            self._worker_skip = {"epoch": int(state["epoch"]), "start": int(state.get("consumed", 0)),
                                 "num_workers": int(state["num_workers"]), "yielded": int(state["yielded"])}
        self._epoch_iter, self._iter_start, self._yielded = int(state["epoch"]), int(state.get("consumed", 0)), 0

    def worker_init(self, worker_id: Optional[int] = None) -> None:
        """pydaos.torch compatibility; not needed (the split happens in ``__iter__``)."""

    # -- pickling: as the base, plus the split the main process resolved (spawned workers
    # have no process group to ask)
    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state["_stamped"] = self._rank_world()
        return state

    def __repr__(self) -> str:
        if self._index is None:
            return "<pydaos_torch.IterableDataset closed>"
        return f"<pydaos_torch.IterableDataset {len(self.index)} samples under {self.path!r}, batch_size={self.batch_size}>"
