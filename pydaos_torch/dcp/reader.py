"""DaosStorageReader: DCP's storage reader for a container."""
from __future__ import annotations

import io
import pickle
import posixpath
import uuid
from typing import Any, Callable, List, Optional, Tuple

import torch
from torch.futures import Future
from torch.distributed.checkpoint.metadata import Metadata, StorageMeta
from torch.distributed.checkpoint.planner import LoadItemType, LoadPlan, LoadPlanner, ReadItem
from torch.distributed.checkpoint.storage import StorageReader

from ..checkpoint import Checkpoint
from ..container import Container
from . import layout
from .location import AtPlace, CheckpointId, is_daos_uri


class DaosStorageReader(AtPlace, StorageReader):
    """Reads a DCP checkpoint written by :class:`DaosStorageWriter` (same ids). A rank's
    items are sorted by file and offset and read by one native batch read, ``depth`` reads
    in flight, straight into the destination tensors where the saved bytes are one run
    (else into a scratch buffer, then narrowed and copied: a resharded load)."""

    def __init__(self, checkpoint_id: Optional[CheckpointId] = None, *, container: Optional[Container] = None,
                 backend: str = "auto", root: Optional[str] = None, depth: int = 0,
                 process_group: Any = None):
        super().__init__()
        if depth < 0:
            raise ValueError(f"depth must be >= 0 (0: the storage's default), got {depth}")
        self._locate(checkpoint_id, container, backend, root, process_group)
        self.depth = depth
        self.storage_data: dict = {}
        self.load_id = uuid.uuid4().hex

    # -- StorageReader
    def reset(self, checkpoint_id: Optional[CheckpointId] = None) -> None:
        self._repoint(checkpoint_id)
        self.storage_data = {}
        self.load_id = uuid.uuid4().hex

    def read_metadata(self, *args: Any, **kwargs: Any) -> Metadata:
        c = self._at.container()
        ck = Checkpoint(container=c, prefix=self._at.path)
        where = f"{self.checkpoint_id}/{layout.METADATA}"
        try:
            with ck.reader(layout.METADATA) as r:
                metadata = pickle.load(r)
        except FileNotFoundError:
            raise FileNotFoundError(2, "no committed DCP checkpoint (no .metadata)", where) from None
        except (EOFError, pickle.UnpicklingError, ValueError, AttributeError, ImportError) as e:
            raise ValueError(f"DCP checkpoint metadata {where} is truncated or corrupt: {e}") from e
        if not isinstance(metadata, Metadata):
            raise ValueError(f"{where} is not DCP metadata (a {type(metadata).__name__})")
        if getattr(metadata, "storage_meta", None) is None:
            metadata.storage_meta = StorageMeta()
        metadata.storage_meta.load_id = self.load_id
        return metadata

    def set_up_storage_reader(self, metadata: Metadata, is_coordinator: bool, *args: Any, **kwargs: Any) -> None:
        self.storage_data = metadata.storage_data or {}

    def prepare_local_plan(self, plan: LoadPlan) -> LoadPlan:
        return plan

    def prepare_global_plan(self, plans: List[LoadPlan]) -> List[LoadPlan]:
        return plans

    def read_data(self, plan: LoadPlan, planner: LoadPlanner) -> "Future[None]":
        c = self._at.container()
        reads: List[Tuple[str, int, memoryview]] = []
        after: List[Callable[[], None]] = []  # per item, once its bytes are in: copy, commit
        for req in sorted(plan.items, key=self._order):
            info = self._info(req)
            path = posixpath.join(self._at.path, info.file)
            if req.type == LoadItemType.BYTE_IO:
                buf = bytearray(info.length)
                reads.append((path, info.offset, memoryview(buf)))
                after.append(lambda req=req, buf=buf: planner.load_bytes(req, io.BytesIO(buf)))
            else:
                after.append(self._plan_tensor(req, info, path, planner, reads))
        reads = [r for r in reads if len(r[2])]
        if reads:
            depth = self.depth or max(2, c.profile.cpu_threads)
            c.read_batch([p for p, _, _ in reads], [b for _, _, b in reads], [o for _, o, _ in reads], depth=depth)
        for done in after:
            done()
        fut: "Future[None]" = Future()
        fut.set_result(None)
        return fut

    @classmethod
    def validate_checkpoint_id(cls, checkpoint_id: CheckpointId) -> bool:
        return is_daos_uri(checkpoint_id)

    # -- the work
    def _info(self, req: ReadItem) -> layout.ItemInfo:
        try:
            info = self.storage_data[req.storage_index]
        except KeyError:
            raise ValueError(f"DCP checkpoint {self.checkpoint_id}: no stored item {req.storage_index}") from None
        if not isinstance(info, layout.ItemInfo):
            raise ValueError(f"DCP checkpoint {self.checkpoint_id} was not written by DaosStorageWriter "
                             f"(storage info {type(info).__name__})")
        return info

    def _order(self, req: ReadItem) -> Tuple[str, int]:
        info = self.storage_data.get(req.storage_index)
        return (info.file, info.offset) if isinstance(info, layout.ItemInfo) else ("", 0)

    def _plan_tensor(self, req: ReadItem, info: layout.ItemInfo, path: str, planner: LoadPlanner,
                     reads: List[Tuple[str, int, memoryview]]) -> Callable[[], None]:
        target = planner.resolve_tensor(req).detach()
        shape = info.shape or tuple(req.lengths)
        run = layout.byte_run(shape, req.storage_offsets, req.lengths)
        size = info.itemsize
        if run is not None:
            first, count = run
            direct = target.is_contiguous() and target.device.type == "cpu" and target.numel() == count
            dest = target if direct else torch.empty(tuple(req.lengths), dtype=target.dtype)
            reads.append((path, info.offset + first * size, _bytes(dest)))

            def done() -> None:
                if not direct:
                    target.copy_(dest)
                planner.commit_tensor(req, target)
            return done
        whole = torch.empty(shape, dtype=target.dtype)  # the saved chunk, narrowed after the read
        reads.append((path, info.offset, _bytes(whole)))

        def narrowed() -> None:
            part = whole
            for d, (o, n) in enumerate(zip(req.storage_offsets, req.lengths)):
                part = part.narrow(d, o, n)
            target.copy_(part)
            planner.commit_tensor(req, target)
        return narrowed


def _bytes(t: torch.Tensor) -> memoryview:
    flat = t.reshape(-1).view(torch.uint8) if t.numel() else torch.empty(0, dtype=torch.uint8)
    return memoryview(flat.numpy()).cast("B")
