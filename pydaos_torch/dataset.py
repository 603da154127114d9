"""Map-style Dataset over the files of a container: DAOS's pydaos.torch ``Dataset``, and more.

Sample modes:

* ``"bytes"`` (default, as in pydaos.torch): a sample is the file's contents as ``bytes``, then
  ``transform_fn(sample)``. DataLoader's default collate passes a batch of bytes through as a list.
* ``"fast"``: ``__getitems__`` returns the whole batch already collated, a
  :class:`~pydaos_torch.batch.SampleBatch` (one uint8 tensor of all samples plus offsets) in a
  recycled shared-memory slab (see ``_slabs``); pass ``collate_fn=collate_batch``. ``dataset[i]``
  is a uint8 tensor. ``transform_fn`` is not applied (transform in the consumer).

Either way a DataLoader batch is read in one native call with the GIL released. The dataset
pickles as its container handle and its Index bytes (see ``_samples``, the datasets' base), so
DataLoader workers (fork, spawn or forkserver) reuse the parent's pool connection;
``worker_init_fn`` is not needed.
"""
from __future__ import annotations

import operator
from typing import Any, Callable, List, Optional, Sequence, Union

import numpy as np
import torch.utils.data

from . import _slabs
from ._core import Index
from ._samples import SampleSource
from .io_profile import IOProfile
from ._source import (DIR_CACHE_SIZE, PARALLEL_SCAN_WORKERS, READDIR_BATCH_SIZE, ContainerLike,
                      transform_fn_default)
from .batch import SampleBatch, collate_batch
from .container import Container

SAMPLE_MODES = ("bytes", "fast")


def _check_mode(sample_mode: str, transform_fn: Callable[[Any], Any]) -> None:
    if sample_mode not in SAMPLE_MODES:
        raise ValueError(f"sample_mode must be one of {SAMPLE_MODES}, got {sample_mode!r}")
    if sample_mode == "fast" and transform_fn is not transform_fn_default:
        raise ValueError("the fast sample mode returns collated uint8 tensors: apply transforms in the consumer")


class Dataset(SampleSource, torch.utils.data.Dataset):
    """Every regular file under ``path`` of a container, one sample per file, sorted by path.

    ``pool``/``cont`` (alias ``container``): labels or UUIDs (default ``DAOS_POOL``/``DAOS_CONT``),
    a connected :class:`~pydaos_torch.Container`, or a ``daos://POOL/CONT/PATH`` URI as ``pool``.
    ``readdir_batch_size``: dirents per readdir call of the scan; ``readdir_workers``: scan threads;
    ``dir_cache_size``: accepted for compatibility (the native core keeps its own bounded LRU cache
    of directory objects). ``backend``/``root``: see :func:`pydaos_torch.connect`. ``index``: an
    :class:`Index` to use instead of scanning. ``progress``: report long scans on stderr.
    ``depth``: I/Os in flight per batch (0 = the backend's default; in a DataLoader worker on
    the local backend, the CPUs divided among the workers). ``slabs``: shared-memory slabs per
    process in the fast mode. :meth:`from_paths`, :meth:`from_manifest`, :meth:`save_manifest`,
    :meth:`close` and the context manager come from the base.
    """

    def __init__(self, pool: Union[str, Container, None] = None, cont: ContainerLike = None,
                 path: Optional[str] = None, transform_fn: Callable[[Any], Any] = transform_fn_default,
                 readdir_batch_size: int = READDIR_BATCH_SIZE, dir_cache_size: int = DIR_CACHE_SIZE,
                 readdir_workers: int = PARALLEL_SCAN_WORKERS, *, container: ContainerLike = None,
                 backend: str = "auto", root: Optional[str] = None, index: Optional[Index] = None,
                 sample_mode: str = "bytes", progress: Any = True, depth: int = 0,
                 slabs: int = _slabs.DEFAULT_SLABS, profile: Optional[IOProfile] = None,
                 _order: Optional[np.ndarray] = None):
        _check_mode(sample_mode, transform_fn)
        if dir_cache_size < 0:
            raise ValueError(f"dir_cache_size must be >= 0, got {dir_cache_size}")
        self._open(pool, cont, container, path, backend=backend, root=root, index=index, order=_order,
                   readdir_batch_size=readdir_batch_size, dir_cache_size=dir_cache_size,
                   readdir_workers=readdir_workers, progress=progress, transform_fn=transform_fn, depth=depth,
                   profile=profile)
        self.sample_mode, self.slabs = sample_mode, slabs
        self._len = self._count()

    # -- pydaos.torch's listing
    @property
    def objects(self) -> List[tuple]:
        """pydaos.torch compatibility: ``[(container path, size), ...]`` in sample order, built
        on demand (a Python list: avoid it for millions of samples, use :attr:`index`)."""
        return [(self.path_of(i), int(self.index.size(int(self._select([i])[0][0])))) for i in range(self._len)]

    def path_of(self, i: int) -> str:
        """The container path of sample ``i``."""
        return self._entry_path(self._select([i])[0][0])

    # -- the map-style protocol
    def __len__(self) -> int:
        return self._len

    def __getitem__(self, idx: int) -> Any:
        e, size = self._select([operator.index(idx)])
        if self.sample_mode == "fast":
            return self._read(e, fast=True, nbytes=size)[0]
        return self.transform_fn(self._read(e, fast=False, nbytes=size)[0])

    def __getitems__(self, indices: Sequence[int]) -> Union[List[Any], SampleBatch]:
        """A whole batch in one native read (what DataLoader calls when it exists)."""
        e, total = self._select(indices)
        if self.sample_mode == "fast":
            t, offsets = self._read(e, fast=True, nbytes=total)
            return SampleBatch(t, offsets, indices if type(indices) is list else np.asarray(indices, dtype=np.int64))
        samples = self._read(e, fast=False, nbytes=total)
        fn = self.transform_fn
        return samples if fn is transform_fn_default else [fn(s) for s in samples]

    collate_fn = staticmethod(collate_batch)

    def worker_init(self, worker_id: Optional[int] = None) -> None:
        """pydaos.torch compatibility; not needed: workers attach to the parent's connection by themselves."""
        if worker_id is None or worker_id < 0:
            return
        self._c.native  # attach now rather than on the first read

    def __repr__(self) -> str:
        if self._index is None:
            return "<pydaos_torch.Dataset closed>"
        return f"<pydaos_torch.Dataset {self._len} samples under {self.path!r} of {self._c!r}, {self.sample_mode}>"
