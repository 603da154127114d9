"""The datasets' base: where the samples are, how long that lasts, and the one batch read.

:class:`SampleSource` is what :class:`~pydaos_torch.Dataset`, :class:`~pydaos_torch.IterableDataset`
and DLIO's datasets (:mod:`pydaos_torch.dlio.datasets`) share: the container (the pydaos.torch
``pool``/``cont`` pair, a URI or a connected Container; see ``_source``), the Index of the samples
(a scan, a manifest or a list of paths) with the order over it, closing, pickling as the
container's handle plus the Index bytes (so DataLoader workers reuse the parent's connection), and
:meth:`SampleSource._read`, the one call that reads a batch of index entries.
"""
from __future__ import annotations

import os
from typing import Any, Callable, List, Optional, Sequence, Tuple, Type, TypeVar, Union

import numpy as np
import torch

from . import _slabs
from ._aligned import Scratch
from ._core import Index
from .io_profile import IOProfile
from ._source import (ContainerLike, batch_depth, check_path, index_from_paths, load_manifest, open_container,
                      save_manifest, scan_index)
from .container import Container

S = TypeVar("S", bound="SampleSource")
# per entry of a batch: (offsets in the files, lengths)
Ranges = Tuple[Sequence[int], Sequence[int]]


class Sample(bytearray):
    """A sample in bytes mode: a bytearray (pydaos.torch's type, editable in place by a
    transform) that DataLoader's default collate keeps whole, as it keeps bytes (a plain
    bytearray would be cut into per-byte columns)."""

    __slots__ = ()


def _collate_whole(batch: Any, *, collate_fn_map: Any = None) -> Any:
    return batch


try:  # the map default_collate looks types up in; keyed by our own type only
    from torch.utils.data._utils.collate import default_collate_fn_map
    default_collate_fn_map[Sample] = _collate_whole
except ImportError:  # pragma: no cover - an older torch: Sample then collates as a bytearray
    pass


class Entries(Sequence):
    """(container path, size) of index entries, made on access: pydaos.torch's
    ``objects``/``workset`` lists without N tuples built up front. Slices are Entries too."""

    def __init__(self, source: "SampleSource", entries: np.ndarray):
        self._source, self._entries = source, entries

    def __len__(self) -> int:
        return len(self._entries)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return Entries(self._source, self._entries[i])
        e = int(self._entries[i])
        return self._source._entry_path(e), int(self._source.index.size(e))

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, Sequence) and len(self) == len(other) and all(a == tuple(b) for a, b in zip(self, other))

    def __repr__(self) -> str:
        return f"<{len(self)} entries>"


class SampleSource:
    """A container, the Index of its samples and the order over it (sample i is index entry
    ``order[i]``; no order: entry i). Subclasses call :meth:`_open` from ``__init__``."""

    depth: int = 0  # I/Os in flight per batch, 0: see _source.batch_depth
    profile: Optional[IOProfile] = None  # overrides the container's I/O profile
    slabs: int = _slabs.DEFAULT_SLABS  # shared-memory slabs per process for fast reads
    _c: Optional[Container] = None
    _owns: bool = False  # whether we opened the container, and so close it
    _index: Optional[Index] = None
    _order: Optional[np.ndarray] = None
    # rebuilt in each process that unpickles the dataset (see _init_transient), never pickled
    _TRANSIENT: Tuple[str, ...] = ("_scratch", "_depth_for")

    def _open(self, pool: Union[str, Container, None], cont: ContainerLike, container: ContainerLike,
              path: Optional[str], *, backend: str, root: Optional[str], index: Optional[Index],
              order: Optional[np.ndarray], readdir_batch_size: int, dir_cache_size: int, readdir_workers: int,
              progress: Any, transform_fn: Callable[[Any], Any], depth: int,
              profile: Optional[IOProfile] = None) -> None:
        """Resolves the container and the Index (a scan of ``path`` unless ``index`` is given);
        closes what it opened before re-raising a failure."""
        self._c, self._owns, uri_path = open_container(pool, cont, container, backend=backend, root=root,
                                                       read_only=True)
        try:
            self.path = check_path(path if path is not None else uri_path)
            self.readdir_batch_size = readdir_batch_size
            self.dir_cache_size = dir_cache_size
            self.readdir_workers = readdir_workers
            if index is None:
                index = scan_index(self._c, self.path, readdir_batch_size=readdir_batch_size,
                                   readdir_workers=readdir_workers, progress=progress)
        except BaseException:
            self.close()
            raise
        self._index = index
        self.transform_fn = transform_fn
        self.depth = depth
        self.profile = profile
        self._order = None if order is None else np.ascontiguousarray(order, dtype=np.int64)
        self._init_transient()

    def _init_transient(self) -> None:
        self._scratch = Scratch()
        self._depth_for: Tuple[int, int] = (-1, 0)  # (pid, depth): see _depth

    # -- other sources of the Index
    @classmethod
    def from_paths(cls: Type[S], paths: Sequence[str], pool: Union[str, Container, None] = None,
                   cont: ContainerLike = None, *, sizes: Optional[Sequence[int]] = None, **kw: Any) -> S:
        """A dataset of the given container paths, in the given order (sizes are stat'ed in
        parallel unless given)."""
        c, owns, _ = open_container(pool, cont, kw.pop("container", None), backend=kw.pop("backend", "auto"),
                                    root=kw.pop("root", None), read_only=True)
        try:
            ix, order = index_from_paths(c, paths, sizes)
            ds = cls(container=c, index=ix, _order=order, **kw)
        except BaseException:
            if owns:
                c.close()
            raise
        ds._owns = owns
        return ds

    @classmethod
    def from_manifest(cls: Type[S], file: Any, pool: Union[str, Container, None] = None, cont: ContainerLike = None,
                      **kw: Any) -> S:
        """A dataset from a manifest saved by :meth:`save_manifest` (or a text manifest of
        ``SIZE<TAB>PATH`` lines, paths relative to an optional ``# root: ROOT`` line)."""
        return cls(pool, cont, index=load_manifest(file), **kw)

    def save_manifest(self, file: Any) -> None:
        """Saves the listing (binary; a local path or a file object) for :meth:`from_manifest`.
        A custom order from :meth:`from_paths` is not kept (a manifest is sorted by path)."""
        save_manifest(self.index, file)

    # -- what the samples are
    @property
    def container(self) -> Container:
        return self._c

    @property
    def index(self) -> Index:
        if self._index is None:
            raise ValueError("dataset is closed")
        return self._index

    def _count(self) -> int:
        """Samples in the order (all ranks and workers together)."""
        return len(self._order) if self._order is not None else len(self.index)

    def _select(self, indices: Sequence[int]) -> Tuple[np.ndarray, int]:
        """Sample indices -> (index entries, their total bytes), range-checked in one native call."""
        return self.index.select(indices, self._order)

    def _entry_path(self, e: int) -> str:
        """The container path of index entry ``e``."""
        ix = self.index
        return "/" + "/".join(p for p in (ix.root.strip("/"), ix.path(int(e))) if p)

    # -- the read
    def _depth(self) -> int:
        pid, d = self._depth_for
        if pid != os.getpid():  # decided once per process (a DataLoader worker decides its own)
            d = batch_depth(self._c, self.depth, self.profile)
            self._depth_for = (os.getpid(), d)
        return d

    def _read(self, entries: np.ndarray, *, fast: bool, nbytes: Optional[int] = None,
              ranges: Optional[Ranges] = None) -> Union[List[bytearray], Tuple[torch.Tensor, np.ndarray]]:
        """Reads index ``entries`` back to back in one native call (GIL released): the whole
        files (``nbytes``: their total, from :meth:`_select`, or summed here), or of entry k the
        ``ranges[1][k]`` bytes at offset ``ranges[0][k]``.

        ``fast``: into a recycled shared-memory slab (see ``_slabs``), no copy; returns ``(uint8
        tensor, offsets)``, sample k being ``tensor[offsets[k]:offsets[k + 1]]``. Otherwise into
        this thread's aligned scratch buffer, then one copy per sample: a list of ``bytearray``
        (pydaos.torch's type: a transform may edit its sample in place).
        """
        ix = self.index
        n = len(entries)
        if ranges is None:
            total = int(ix.sizes[entries].sum()) if nbytes is None else int(nbytes)
            offsets = None
        else:
            offsets = np.zeros(n + 1, dtype=np.int64)
            np.cumsum(ranges[1], out=offsets[1:])
            total = int(offsets[-1])
        if fast:
            data, out = _slabs.pool(self.slabs).tensor_and_array(total)
        else:
            data = out = self._scratch.get(total)
        if offsets is None:
            offsets = (self._c.read_index(ix, entries, out, depth=self._depth()) if total
                       else np.zeros(n + 1, dtype=np.int64))
        elif total:
            # one path string and one view per entry: the core has no ranged read over an Index
            off = offsets.tolist()
            self._c.read_batch([self._entry_path(e) for e in entries.tolist()],
                               [out[off[k]:off[k + 1]] for k in range(n)], ranges[0], depth=self._depth())
        if fast:
            return data, offsets
        off = offsets.tolist()
        mv = memoryview(out)
        return [Sample(mv[off[k]:off[k + 1]]) for k in range(n)]

    # -- lifetime; only the connecting process disconnects
    def close(self) -> None:
        """Releases the listing and the connection (if this dataset opened it). Idempotent."""
        c, self._c = self._c, None
        self._index = None
        if c is not None and self._owns:
            c.close()

    def __enter__(self: S) -> S:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            c = self._c
            if c is not None and self._owns and c._pid == os.getpid():
                self.close()
        except Exception:
            pass

    # -- pickling (DataLoader workers): the container as its handle, the index as bytes
    def __getstate__(self) -> dict:
        if self._index is None:
            raise ValueError("dataset is closed")
        state = dict(self.__dict__)
        for name in self._TRANSIENT:
            state.pop(name, None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._init_transient()
