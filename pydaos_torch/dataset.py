"""Map-style Dataset over the files of a container: DAOS's pydaos.torch ``Dataset``, and more.

Sample modes:

* ``"bytes"`` (default, as in pydaos.torch): a sample is the file's contents as ``bytes``, then
  ``transform_fn(sample)``. DataLoader's default collate passes a batch of bytes through as a list.
* ``"fast"``: ``__getitems__`` returns the whole batch already collated, a
  :class:`~pydaos_torch.batch.SampleBatch` (one uint8 tensor of all samples plus offsets) in a
  recycled shared-memory slab (see ``_slabs``); pass ``collate_fn=collate_batch``. ``dataset[i]``
  is a uint8 tensor. ``transform_fn`` is not applied (transform in the consumer).

Either way a DataLoader batch is read in one native call with the GIL released. The dataset
pickles as its container handle and its Index bytes, so DataLoader workers (fork, spawn or
forkserver) reuse the parent's pool connection; ``worker_init_fn`` is not needed.
"""
from __future__ import annotations

import operator
import os
from typing import Any, Callable, List, Optional, Sequence, Union

import numpy as np
import torch.utils.data

from . import _slabs
from ._core import Index
from ._source import (OwnedSource, DIR_CACHE_SIZE, PARALLEL_SCAN_WORKERS, READDIR_BATCH_SIZE, ContainerLike, Scratch,
                      batch_depth, check_path, index_from_paths, load_manifest, open_container, save_manifest,
                      scan_index, transform_fn_default)
from .batch import SampleBatch, collate_batch
from .container import Container

SAMPLE_MODES = ("bytes", "fast")


class Dataset(OwnedSource, torch.utils.data.Dataset):
    """Every regular file under ``path`` of a container, one sample per file, sorted by path.

    ``pool``/``cont`` (alias ``container``): labels or UUIDs (default ``DAOS_POOL``/``DAOS_CONT``),
    a connected :class:`~pydaos_torch.Container`, or a ``daos://POOL/CONT/PATH`` URI as ``pool``.
    ``readdir_batch_size``: dirents per readdir call of the scan; ``readdir_workers``: scan threads;
    ``dir_cache_size``: accepted for compatibility (the native core keeps its own bounded LRU cache
    of directory objects). ``backend``/``root``: see :func:`pydaos_torch.connect`. ``index``: an
    :class:`Index` to use instead of scanning. ``progress``: report long scans on stderr.
    ``depth``: I/Os in flight per batch (0 = the backend's default; in a DataLoader worker on
    the local backend, the CPUs divided among the workers). ``slabs``: shared-memory slabs per
    process in the fast mode.
    """

    def __init__(self, pool: Union[str, Container, None] = None, cont: ContainerLike = None,
                 path: Optional[str] = None, transform_fn: Callable[[Any], Any] = transform_fn_default,
                 readdir_batch_size: int = READDIR_BATCH_SIZE, dir_cache_size: int = DIR_CACHE_SIZE,
                 readdir_workers: int = PARALLEL_SCAN_WORKERS, *, container: ContainerLike = None,
                 backend: str = "auto", root: Optional[str] = None, index: Optional[Index] = None,
                 sample_mode: str = "bytes", progress: Any = True, depth: int = 0,
                 slabs: int = _slabs.DEFAULT_SLABS, _order: Optional[np.ndarray] = None):
        if sample_mode not in SAMPLE_MODES:
            raise ValueError(f"sample_mode must be one of {SAMPLE_MODES}, got {sample_mode!r}")
        if sample_mode == "fast" and transform_fn is not transform_fn_default:
            raise ValueError("the fast sample mode returns collated uint8 tensors: apply transforms in the consumer")
        if dir_cache_size < 0:
            raise ValueError(f"dir_cache_size must be >= 0, got {dir_cache_size}")
        self._c, self._owns, uri_path = open_container(pool, cont, container, backend=backend, root=root,
                                                       read_only=True)
        try:
            self.path = check_path(path if path is not None else uri_path)
            self.transform_fn = transform_fn
            self.readdir_batch_size = readdir_batch_size
            self.dir_cache_size = dir_cache_size
            self.readdir_workers = readdir_workers
            self.sample_mode = sample_mode
            self.depth = depth
            self.slabs = slabs
            self._order = None if _order is None else np.ascontiguousarray(_order, dtype=np.int64)
            if index is None:
                index = scan_index(self._c, self.path, readdir_batch_size=readdir_batch_size,
                                   readdir_workers=readdir_workers, progress=progress)
            self._index: Optional[Index] = index
            self._len = len(index) if _order is None else len(_order)
        except BaseException:
            self.close()
            raise
        self._local = Scratch()
        self._depth_for: tuple = (-1, 0)

    # -- other sources
    @classmethod
    def from_paths(cls, paths: Sequence[str], pool: Union[str, Container, None] = None,
                   cont: ContainerLike = None, *, sizes: Optional[Sequence[int]] = None, **kw: Any) -> "Dataset":
        """A dataset of the given container paths, in the given order (sizes are stat'ed in
        parallel unless given)."""
        c, owns, _ = open_container(pool, cont, kw.pop("container", None), backend=kw.pop("backend", "auto"),
                                    root=kw.pop("root", None), read_only=True)
        try:
            ix, order = index_from_paths(c, paths, sizes)
        except BaseException:
            if owns:
                c.close()
            raise
        ds = cls(container=c, index=ix, _order=order, **kw)
        ds._owns = owns
        return ds

    @classmethod
    def from_manifest(cls, file: Any, pool: Union[str, Container, None] = None, cont: ContainerLike = None,
                      **kw: Any) -> "Dataset":
        """A dataset from a manifest saved by :meth:`save_manifest` (or a text manifest of
        ``SIZE<TAB>PATH`` lines, paths relative to an optional ``# root: ROOT`` line)."""
        return cls(pool, cont, index=load_manifest(file), **kw)

    def save_manifest(self, file: Any) -> None:
        """Saves the listing (binary; a local path or a file object) for :meth:`from_manifest`.
        A custom order from :meth:`from_paths` is not kept (a manifest is sorted by path)."""
        save_manifest(self.index, file)

    # -- properties
    @property
    def container(self) -> Container:
        return self._c

    @property
    def index(self) -> Index:
        if self._index is None:
            raise ValueError("dataset is closed")
        return self._index

    @property
    def objects(self) -> List[tuple]:
        """pydaos.torch compatibility: ``[(container path, size), ...]`` in sample order, built
        on demand (a Python list: avoid it for millions of samples, use :attr:`index`)."""
        return [(self.path_of(i), int(self.index.size(int(self._entries([i])[0])))) for i in range(self._len)]

    def path_of(self, i: int) -> str:
        """The container path of sample ``i``."""
        e = self._entries([i])[0]
        ix = self.index
        return "/" + "/".join(p for p in (ix.root.strip("/"), ix.path(int(e))) if p)

    def _entries(self, indices: Sequence[int]) -> np.ndarray:
        return self.index.select(indices, self._order)[0]

    def _depth(self) -> int:
        pid, d = self._depth_for
        if pid != os.getpid():  # decided once per process (a DataLoader worker decides its own)
            d = batch_depth(self._c, self.depth)
            self._depth_for = (os.getpid(), d)
        return d

    # -- the map-style protocol
    def __len__(self) -> int:
        return self._len

    def __getitem__(self, idx: int) -> Any:
        ix = self.index
        e, size = ix.select([operator.index(idx)], self._order)
        if self.sample_mode == "fast":
            t, out = _slabs.pool(self.slabs).tensor_and_array(size)
            if size:
                self._c.read_index(ix, e, out, depth=self._depth())
            return t
        if not size:
            return self.transform_fn(b"")
        # into the reused aligned scratch buffer, then one copy into the sample's bytes (fresh
        # memory for every sample only once, as open().read() does)
        buf = self._local.get(size)
        self._c.read_index(ix, e, buf, depth=self._depth())
        return self.transform_fn(buf.tobytes())

    def __getitems__(self, indices: Sequence[int]) -> Union[List[Any], SampleBatch]:
        """A whole batch in one native read (what DataLoader calls when it exists)."""
        ix = self.index
        e, total = ix.select(indices, self._order)  # range-checked, in one native call
        if self.sample_mode == "fast":
            t, out = _slabs.pool(self.slabs).tensor_and_array(total)
            offsets = self._c.read_index(ix, e, out, depth=self._depth())
            return SampleBatch(t, offsets, indices if type(indices) is list else np.asarray(indices, dtype=np.int64))
        buf = self._local.get(total)
        offsets = self._c.read_index(ix, e, buf, depth=self._depth()).tolist()
        mv = memoryview(buf)
        fn = self.transform_fn
        return [fn(bytes(mv[offsets[k]:offsets[k + 1]])) for k in range(len(e))]

    collate_fn = staticmethod(collate_batch)

    def worker_init(self, worker_id: Optional[int] = None) -> None:
        """pydaos.torch compatibility; not needed: workers attach to the parent's connection by themselves."""
        if worker_id is None or worker_id < 0:
            return
        self._c.native  # attach now rather than on the first read

    # -- pickling (DataLoader workers): the container as its handle, the index as bytes
    def __getstate__(self) -> dict:
        if self._index is None:
            raise ValueError("dataset is closed")
        state = dict(self.__dict__)
        state.pop("_local", None)
        state["_depth_for"] = (-1, 0)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._local = Scratch()

    def __repr__(self) -> str:
        if self._index is None:
            return "<pydaos_torch.Dataset closed>"
        return f"<pydaos_torch.Dataset {self._len} samples under {self.path!r} of {self._c!r}, {self.sample_mode}>"
