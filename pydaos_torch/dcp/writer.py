"""DaosStorageWriter: DCP's storage writer for a container."""
from __future__ import annotations

import dataclasses
import io
import os
import pickle
import posixpath
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, List, Optional, Tuple

import torch
from torch.futures import Future
from torch.distributed.checkpoint.metadata import Metadata, StorageMeta
from torch.distributed.checkpoint.planner import SavePlan, SavePlanner, WriteItem, WriteItemType
from torch.distributed.checkpoint.staging import AsyncStager, DefaultStager, StagingOptions
from torch.distributed.checkpoint.storage import StorageWriter, WriteResult

from ..checkpoint import Checkpoint
from ..container import Container
from . import layout
from .location import AtPlace, CheckpointId, is_daos_uri


@dataclasses.dataclass
class _RankFile:
    name: str


class DaosStorageWriter(AtPlace, StorageWriter, AsyncStager):
    """Writes a DCP checkpoint to ``checkpoint_id``: a ``daos://POOL/CONT/PATH`` URI (the local
    backend through the same URIs, see :func:`pydaos_torch.connect`), or a path inside
    ``container``.

    Each rank writes its items into one new file, straight from their memory, ``depth``
    writes in flight (default: the storage's profile); the coordinator then commits
    ``.metadata`` with :class:`pydaos_torch.Checkpoint`'s never-overwrite commit, and removes
    the data files of earlier saves. A crash at any point leaves the previous checkpoint of
    this id loadable whole. ``fsync`` (default True, as MLPerf Storage requires): each data
    file synced before the commit (local ``fsync``; on DAOS a completed write is durable).
    ``overwrite=False`` refuses an id that already has a checkpoint.

    Under ``dcp.async_save`` the writer is also the stager: staging (in the caller's thread,
    on every rank) makes the job's one connection (broadcast over ``process_group``, default
    the world), so the save's thread, or its spawned process, attaches to it instead of
    connecting again. An id given only to ``async_save`` is not known then: the save's
    processes connect once among themselves (over their own process group)."""

    _synchronize_after_execute = False  # stage() copies synchronously; nothing to wait for

    def __init__(self, checkpoint_id: Optional[CheckpointId] = None, *, container: Optional[Container] = None,
                 backend: str = "auto", root: Optional[str] = None, fsync: bool = True, overwrite: bool = True,
                 depth: int = 0, process_group: Any = None):
        super().__init__()
        if depth < 0:
            raise ValueError(f"depth must be >= 0 (0: the storage's default), got {depth}")
        self._locate(checkpoint_id, container, backend, root, process_group)
        self.fsync, self.overwrite, self.depth = fsync, overwrite, depth
        self.is_coordinator, self.rank, self.use_collectives = False, 0, True
        self.save_id = uuid.uuid4().hex

    # -- StorageWriter
    def reset(self, checkpoint_id: Optional[CheckpointId] = None) -> None:
        self._repoint(checkpoint_id)
        self.save_id = uuid.uuid4().hex

    def set_up_storage_writer(self, is_coordinator: bool, *args: Any, **kwargs: Any) -> None:
        self.is_coordinator = is_coordinator
        self.rank = int(kwargs.get("rank") or 0)
        self.use_collectives = bool(kwargs.get("use_collectives", True))
        c = self._at.container(use_collectives=self.use_collectives)
        if is_coordinator and not self.overwrite and self._ckpt(c).exists(layout.METADATA):
            raise FileExistsError(17, "a DCP checkpoint exists here (overwrite=False)", str(self.checkpoint_id))

    def prepare_local_plan(self, plan: SavePlan) -> SavePlan:
        self._at.container().mkdirs(self._at.path)
        return plan

    def prepare_global_plan(self, plans: List[SavePlan]) -> List[SavePlan]:
        return [dataclasses.replace(p, storage_data=_RankFile(layout.data_file(i, self.save_id)))
                for i, p in enumerate(plans)]

    def write_data(self, plan: SavePlan, planner: SavePlanner) -> "Future[List[WriteResult]]":
        name = plan.storage_data.name if isinstance(plan.storage_data, _RankFile) else \
            layout.data_file(self.rank, self.save_id)
        results = self._write_file(name, plan.items, planner)
        fut: "Future[List[WriteResult]]" = Future()
        fut.set_result(results)
        return fut

    def finish(self, metadata: Metadata, results: List[List[WriteResult]]) -> None:
        metadata.storage_data = {wr.index: wr.storage_data for rank in results for wr in rank}
        c = self._at.container()
        ck = self._ckpt(c)
        with ck.writer(layout.METADATA, fsync=self.fsync) as w:  # the commit of the whole checkpoint
            pickle.dump(metadata, w)
        keep = {wr.storage_data.file for rank in results for wr in rank}
        doomed = self._earlier_saves(c, keep)
        if doomed:  # off the save's critical path: a garbage collection, serialized per process
            _reaper().submit(_remove_all, c, doomed)

    def storage_meta(self) -> Optional[StorageMeta]:
        return StorageMeta(checkpoint_id=self.checkpoint_id, save_id=self.save_id)

    @classmethod
    def validate_checkpoint_id(cls, checkpoint_id: CheckpointId) -> bool:
        return is_daos_uri(checkpoint_id)

    # -- AsyncStager: DCP's default staging (a CPU copy), after the job's connection is made
    def stage(self, state_dict: Any) -> Any:
        if self._at.checkpoint_id is not None:
            self._at.container()
        stager = DefaultStager(StagingOptions(False, False, False, False))
        try:
            return stager.stage(state_dict)
        finally:
            stager.close()

    def synchronize_staging(self) -> None:
        pass

    # -- the work
    def _write_file(self, name: str, items: List[WriteItem], planner: SavePlanner) -> List[WriteResult]:
        c = self._at.container()
        profile = c.profile
        piece = profile.piece_size
        bufs: List[memoryview] = []
        offs: List[int] = []
        results: List[WriteResult] = []
        keep: List[Any] = []  # what the buffers view stays alive until written
        pos = 0
        for item in items:
            data = planner.resolve_data(item)
            mv, info_shape, itemsize = _bytes_of(item, data, keep)
            results.append(WriteResult(index=item.index, size_in_bytes=len(mv),
                                       storage_data=layout.ItemInfo(name, pos, len(mv), info_shape, itemsize)))
            for s in range(0, len(mv), piece):
                bufs.append(mv[s:s + piece])
                offs.append(pos + s)
            pos += len(mv)
        depth = self.depth or (1 if profile.serial_writes else max(2, profile.cpu_threads))
        if profile.client_cache:
            self._drop_cached_earlier(c, name)
        f = c.create_file(posixpath.join(self._at.path, name))
        try:
            if bufs:
                f.write_many(bufs, offs, depth)
            if self.fsync:
                f.sync()
        except BaseException:
            f.close()
            try:
                c.remove(posixpath.join(self._at.path, name))
            except OSError:
                pass
            raise
        f.close()
        return results

    def _drop_cached_earlier(self, c: Container, name: str) -> None:
        """Drops the clean cached pages of this rank's files of earlier saves (they stay whole
        on disk until the commit makes them unused), so that the new file takes the memory
        just freed, as the stock writer truncating its file in place does: fresh memory is
        dear (a VM faults it in from the host). Best effort."""
        mine = name.split("_")[2]  # "__<rank>_": this rank's files only
        try:
            for e in c.entries(self._at.path):
                if not e.is_dir and e.name != name and layout.DATA_FILE.match(e.name) and e.name.split("_")[2] == mine:
                    c.drop_clean_cache(posixpath.join(self._at.path, e.name))
        except (OSError, ValueError):
            pass

    def _earlier_saves(self, c: Container, keep: set) -> List[str]:
        """The data files no committed metadata names any more (earlier saves, dead ones),
        listed after the commit."""
        d = self._at.path
        return [posixpath.join(d, e.name) for e in c.entries(d)
                if not e.is_dir and layout.DATA_FILE.match(e.name) and e.name not in keep]

    def _ckpt(self, c: Container) -> Checkpoint:
        return Checkpoint(container=c, prefix=self._at.path, fsync=self.fsync)



_reaper_pool: Optional[Tuple[int, ThreadPoolExecutor]] = None


def _reaper() -> ThreadPoolExecutor:
    """One thread a process removes superseded data files (joined at interpreter exit; a
    forked child makes its own)."""
    global _reaper_pool
    if _reaper_pool is None or _reaper_pool[0] != os.getpid():
        _reaper_pool = (os.getpid(), ThreadPoolExecutor(max_workers=1, thread_name_prefix="pydaos-dcp-reaper"))
    return _reaper_pool[1]


def _remove_all(c: Container, paths: List[str]) -> None:
    for p in paths:
        try:
            c.remove(p)
        except OSError:
            pass  # gone already, or the next save's clean-up retries it


def _bytes_of(item: WriteItem, data: Any, keep: List[Any]):
    """The bytes of one item as a memoryview, without a copy for a contiguous CPU tensor;
    with the saved chunk's shape and the element size for tensors."""
    if item.type == WriteItemType.BYTE_IO:
        buf = data.getbuffer() if isinstance(data, io.BytesIO) else memoryview(bytes(data))
        keep.append(data)
        return memoryview(buf).cast("B"), None, 1
    t = data.detach()
    if t.device.type != "cpu":
        t = t.cpu()
    t = t.contiguous()
    keep.append(t)
    flat = t.reshape(-1).view(torch.uint8) if t.numel() else torch.empty(0, dtype=torch.uint8)
    return memoryview(flat.numpy()).cast("B"), tuple(item.tensor_data.chunk.sizes), t.element_size()
