"""What one DLIO rank shares: the container connection, the data folder's index, MPI helpers.

* **One pool connection per job.** Rank 0 connects; its serialized handle is broadcast and the
  other ranks attach to it (:func:`open_shared`). DataLoader workers get the container inside
  DLIO's pickled ``ConfigArguments`` (a :class:`~pydaos_torch.Container` pickles as its handle),
  so they attach too, under fork and spawn.
* **One scan per job.** Rank 0 scans the data folder once; the compact Index is broadcast, in
  pieces when it is large (:func:`collective_index`).
* **Rank 0 keeps the pool handle until every rank is done** (:func:`release`: the other ranks
  close, a barrier, then rank 0 disconnects).

Paths: with our storage type, DLIO's file names are absolute container paths (our storage's
``get_uri`` makes them so: ``data/unet3d`` becomes ``/data/unet3d``). With DLIO's ``local_fs``
storage they are local paths, read through the local backend with ``/`` as the container.
"""
from __future__ import annotations

import atexit
import logging
import os
import posixpath
from typing import Any, Dict, Optional, Sequence, Tuple

from ..container import Container, connect
from .settings import Settings

STORAGE_TYPE = "pydaos_torch"  # storage.storage_type value of our storage

#: Bytes per MPI broadcast piece of a large index.
BCAST_PIECE = 64 * 1024 * 1024


class DlioPluginError(RuntimeError):
    """A pydaos_torch DLIO plugin cannot go on (the message says why and what to change)."""


# ---------------------------------------------------------------- MPI
def comm_info() -> Tuple[Any, int, int]:
    """(communicator or None, rank, size) of this DLIO process. In a DataLoader worker, or
    before DLIO initialised MPI, the communicator is None (no collectives there)."""
    try:
        from dlio_benchmark.utils.utility import DLIOMPI
        m = DLIOMPI.get_instance()
        try:
            return m.comm(), m.rank(), m.size()
        except Exception:
            try:
                return None, m.rank(), m.size()
            except Exception:
                return None, 0, 1
    except ImportError:
        return None, 0, 1


def bcast_bytes(comm: Any, data: Optional[bytes], root: int = 0, piece: int = BCAST_PIECE) -> bytes:
    """Broadcasts a byte string of any size: its length, then pieces of at most ``piece``
    bytes (MPI counts are ints; one huge message is also slow to pickle)."""
    if comm is None or comm.Get_size() == 1:
        assert data is not None
        return data
    import numpy as np
    from mpi4py import MPI
    rank = comm.Get_rank()
    n = comm.bcast(len(data) if rank == root else None, root=root)
    # MPI wants a writable buffer on every rank, the root's included
    buf = np.frombuffer(bytearray(data), dtype=np.uint8) if rank == root else np.empty(n, dtype=np.uint8)
    for start in range(0, n, piece):
        comm.Bcast([buf[start:start + piece], MPI.BYTE], root=root)
    return data if rank == root else buf.tobytes()


# ---------------------------------------------------------------- the shared container
_shared: Dict[str, Any] = {"container": None, "settings": None, "owner": False, "posix": None}


def _connect(s: Settings) -> Container:
    kw: Dict[str, Any] = {"backend": s.backend}
    if s.root is not None:
        kw["root"] = s.root
    if s.system:
        kw["system"] = s.system
    if s.create and s.backend == "local":
        kw["create"] = True
    return connect(s.pool, s.container, **kw)


def open_shared(s: Settings) -> Container:
    """Collective over the DLIO ranks: rank 0 connects, the others attach to its handle.
    A failure on rank 0 (wrong pool, container, backend) raises on every rank, before any data
    is written. Called again with the same settings it returns the same container."""
    if _shared["container"] is not None and _shared["settings"] == s:
        return _shared["container"]
    comm, rank, size = comm_info()
    payload: Tuple[str, Any]
    if rank == 0 or comm is None:
        try:
            c = _connect(s)
            payload = ("ok", c.serialize())
        except Exception as e:  # reported on every rank below
            c = None
            payload = ("error", f"{type(e).__name__}: {e}")
    if comm is not None and size > 1:
        payload = comm.bcast(payload if rank == 0 else None, root=0)
    if payload[0] == "error":
        raise DlioPluginError(f"pydaos_torch: cannot open the container of workload.pydaos ({s.describe()}): "
                              f"{payload[1]}")
    if rank != 0 and comm is not None:
        c = Container.attach(payload[1])
    _shared.update(container=c, settings=s, owner=(rank == 0 or comm is None))
    return c  # type: ignore[return-value]


def shared() -> Optional[Container]:
    return _shared["container"]


def posix_container() -> Container:
    """The local backend with ``/`` as the container: DLIO's local_fs paths, read through the
    native core (the same code path as a dfuse mount)."""
    if _shared["posix"] is None:
        _shared["posix"] = connect("file:///", backend="local")
    return _shared["posix"]


def release() -> None:
    """Collective at the end of a run: every rank but 0 closes, a barrier, then rank 0
    disconnects (so rank 0 keeps the pool handle until every rank is done)."""
    c = _shared["container"]
    _shared["container"] = None
    _shared["settings"] = None
    _index_cache.clear()
    if c is None:
        return
    comm, rank, size = comm_info()
    if rank != 0:
        _close_quiet(c)
    if comm is not None and size > 1:
        comm.Barrier()
    if rank == 0:
        _close_quiet(c)


def _close_quiet(c: Container) -> None:
    try:
        c.close()
    except Exception:
        pass


@atexit.register
def _at_exit() -> None:  # no collective here: MPI may be finalized; DLIO's last barrier has passed
    c = _shared["container"]
    if c is not None:
        _shared["container"] = None
        _close_quiet(c)


# ---------------------------------------------------------------- paths
def container_path(*parts: str) -> str:
    """A DLIO path (relative to the run directory, or absolute) as an absolute container path."""
    p = posixpath.join(*[x for x in parts if x]) if parts else ""
    return posixpath.normpath("/" + p.lstrip("/")) if p else "/"


def uses_our_storage(args: Any) -> bool:
    return str(getattr(args, "storage_type", "")) == STORAGE_TYPE


def container_for(args: Any) -> Container:
    """The container that DLIO's file names refer to, in this process (a rank or a worker)."""
    if uses_our_storage(args):
        c = getattr(args, "pydaos_container", None)
        if c is not None:
            return c
        if _shared["container"] is not None:
            return _shared["container"]
        s = getattr(args, "pydaos", None) or Settings()
        c = _connect(s)  # a process that did not go through LoadConfig (tools, tests)
        _shared.update(container=c, settings=s, owner=True)
        return c
    return posix_container()


def path_in_container(args: Any, dlio_path: str) -> str:
    """A file name as DLIO hands it to readers, as a path in :func:`container_for`'s container."""
    if uses_our_storage(args):
        return container_path(dlio_path)
    return os.path.abspath(dlio_path)


# ---------------------------------------------------------------- the data folder's index
_index_cache: Dict[str, Any] = {}


def collective_index(c: Container, root: str, threads: int = 0):
    """Collective: rank 0 scans ``root`` (every regular file below it, recursively), the Index
    is broadcast; every rank returns it. A missing ``root`` gives an empty Index."""
    from .._core import Index
    if root in _index_cache:
        return _index_cache[root]
    comm, rank, size = comm_info()
    blob: Optional[bytes] = None
    err: Optional[str] = None
    if rank == 0 or comm is None:
        try:
            blob = c.scan(root, threads=threads, progress=True).to_bytes()
        except FileNotFoundError:
            blob = Index.build(root.strip("/"), [], []).to_bytes()
        except Exception as e:
            err = f"{type(e).__name__}: {e}"
    if comm is not None and size > 1:
        err = comm.bcast(err, root=0)
    if err:
        raise DlioPluginError(f"pydaos_torch: scanning {root!r} failed: {err}")
    if comm is not None and size > 1:
        blob = bcast_bytes(comm, blob)
    ix = Index.from_bytes(blob)  # type: ignore[arg-type]
    _index_cache[root] = ix
    _remember(root, blob)  # type: ignore[arg-type]
    if rank == 0:
        logging.info(f"pydaos_torch: one scan of {root}: {len(ix)} files, {len(blob)} index bytes "  # type: ignore
                     f"shared with {size} rank(s)")
    return ix


def _remember(root: str, blob: bytes) -> None:
    """Keeps the index bytes in DLIO's ConfigArguments too: DLIO pickles them into every
    DataLoader worker, so readers there know file sizes without a stat (spawn included)."""
    try:
        from dlio_benchmark.utils.config import ConfigArguments
        args = ConfigArguments.get_instance()
    except Exception:
        return
    blobs = dict(getattr(args, "pydaos_index_blobs", None) or {})
    blobs[root] = blob
    args.pydaos_index_blobs = blobs


def _indexes(args: Any):
    if not _index_cache and args is not None:
        from .._core import Index
        for root, blob in (getattr(args, "pydaos_index_blobs", None) or {}).items():
            _index_cache[root] = Index.from_bytes(blob)
    return _index_cache


def size_of(args: Any, c: Container, path: str) -> int:
    """The size of a container file: from the broadcast index when it holds it, else a stat."""
    for root, ix in _indexes(args).items():
        base = "/" + root.strip("/")
        if path.startswith(base.rstrip("/") + "/"):
            i = ix.find(path[len(base.rstrip("/")) + 1:])
            if i >= 0:
                return int(ix.size(i))
    return c.stat(path).size


def index_of_paths(args: Any, paths: Sequence[str]) -> Optional[Tuple[Any, Any]]:
    """(index, order) when one broadcast Index holds every container path of ``paths``:
    sample i is entry ``order[i]`` of it, mapped in one native call (no per-file strings or
    second Index). None when no held Index has them all."""
    for ix in _indexes(args).values():
        base = "/" + ix.root.strip("/")
        head = base.rstrip("/") + "/"
        if not all(p.startswith(head) for p in paths):
            continue
        order = ix.find_many([p[len(head):] for p in paths])
        if len(order) and (order >= 0).all():
            return ix, order
    return None


def forget_indexes() -> None:
    _index_cache.clear()
    try:
        from dlio_benchmark.utils.config import ConfigArguments
        ConfigArguments.get_instance().pydaos_index_blobs = {}
    except Exception:
        pass
