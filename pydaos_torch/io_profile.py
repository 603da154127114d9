"""The I/O profile: how a storage wants its I/O done, decided by the native core.

Each backend computes its profile from what it knows (local: the file system of its
directory, found with ``fstatfs``; dfs: DAOS's own facts), so every process that reaches the
same place (connected, attached, unpickled, forked) gets the same one: ``Container.profile``.
A user (or DLIO's ``workload.pydaos.profile``) overrides it with a changed copy::

    p = container.profile.replace(serial_writes=False)
    Checkpoint(container=container, profile=p)
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class IOProfile:
    #: The file system holding the data ("ext2/ext3/ext4", "xfs", "tmpfs", "nfs", ..., "daos").
    file_system: str
    #: Buffered writes to one file serialize (ext4, xfs, btrfs, tmpfs...): writers keep one
    #: write in flight per file, since more threads only add CPU.
    serial_writes: bool
    #: The client caches file data (the page cache): checkpoint writers start writeback early
    #: and drop the clean pages of versions about to be superseded.
    client_cache: bool
    #: A write at least this large skips the checkpoint writer's chunk buffers.
    direct_write_min: int
    #: The checkpoint reader's buffer (torch.load's small reads).
    read_buffer: int
    #: Large writes go to the storage in pieces of this many bytes.
    piece_size: int
    #: Native threads a batch read runs on (the CPUs this process may use), shared by N
    #: DataLoader workers; 0 where the depth is I/Os in flight, not threads (DAOS).
    cpu_threads: int

    @classmethod
    def from_native(cls, native: Any) -> "IOProfile":
        """The profile of a ``_core.Storage`` (its ``profile`` record)."""
        return cls(**{f.name: getattr(native, f.name) for f in dataclasses.fields(cls)})

    def replace(self, **changes: Any) -> "IOProfile":
        """A copy with ``changes`` (field names as keywords); unknown names raise TypeError."""
        return dataclasses.replace(self, **changes)

    def depth_for_workers(self, workers: int) -> int:
        """I/Os in flight per batch read in one of ``workers`` DataLoader workers: the CPUs
        shared among them, one thread each at least; 0 (the backend's default) outside a
        worker or where the depth is not threads."""
        if workers <= 0 or self.cpu_threads <= 0:
            return 0
        return max(1, self.cpu_threads // workers)


__all__ = ["IOProfile"]
