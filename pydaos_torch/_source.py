"""Where a dataset's samples come from: the container to read and the Index listing them.

The steps behind :class:`~pydaos_torch._samples.SampleSource` (the datasets' base);
:class:`~pydaos_torch.Checkpoint` resolves its container here too. The constants and
``transform_fn_default`` carry DAOS's pydaos.torch names and values.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Optional, Sequence, Tuple, Union

import numpy as np

from ._core import Index
from .container import Container, connect
from .io_profile import IOProfile

ITER_BATCH_SIZE = 32
READDIR_BATCH_SIZE = 128
PARALLEL_SCAN_WORKERS = 16
DIR_CACHE_SIZE = 64 * 1024

ContainerLike = Union[str, Container, None]


def batch_depth(c: Container, depth: int, profile: Optional[IOProfile] = None) -> int:
    """I/Os in flight for one batch read: ``depth`` when given. Otherwise 0 (the backend's
    default), except in a DataLoader worker, where the storage's profile (``profile``, else the
    container's) decides: the local backend runs batch reads on native threads, so the
    workers share the CPUs (one thread per CPU in every worker would oversubscribe them);
    DAOS keeps its default (its depth is I/Os in flight, not threads)."""
    if depth:
        return depth
    import torch.utils.data
    info = torch.utils.data.get_worker_info()
    if info is None:
        return 0
    return (profile or c.profile).depth_for_workers(info.num_workers)


def transform_fn_default(data: Any) -> Any:
    """The identity: a sample is the file's bytes."""
    return data


def open_container(pool: Union[str, Container, None], cont: ContainerLike, container: ContainerLike, *,
                   backend: str, root: Optional[str], read_only: bool) -> Tuple[Container, bool, Optional[str]]:
    """Resolves the pydaos.torch ``pool``/``cont`` pair (``container=`` is an alias of ``cont``).

    Either may be a :class:`Container` already connected (then it is shared, not closed by us),
    and ``pool`` may be a ``daos://POOL/CONT/PATH`` or ``file:///DIR`` URI. Returns the container,
    whether we own it, and the path a URI named (or None).
    """
    if container is not None:
        if cont is not None and cont is not container:
            raise ValueError("give the container as cont= or container=, not both")
        cont = container
    for c in (cont, pool):
        if isinstance(c, Container):
            return c, False, None
    if isinstance(pool, str) and "://" in pool:
        if cont is not None:
            raise ValueError("give either a URI or pool and container, not both")
        from .container import parse_uri
        loc = parse_uri(pool, backend=backend, root=root)
        c = connect(pool, backend=backend, root=root, read_only=read_only)
        return c, True, loc.path
    return connect(pool, cont, backend=backend, root=root, read_only=read_only), True, None


def check_path(path: Optional[str]) -> str:
    """pydaos.torch's rule: an absolute container path, ``/`` by default."""
    if path is None or path == "":
        return "/"
    if not isinstance(path, str) or not path.startswith("/"):
        raise ValueError(f"path must be absolute inside the container (start with '/'), got {path!r}")
    return path


def scan_index(c: Container, path: str, *, readdir_batch_size: int, readdir_workers: int,
               progress: Any) -> Index:
    """The native parallel scan: every regular file under ``path``, sorted by path."""
    if readdir_batch_size <= 0:
        raise ValueError(f"readdir_batch_size must be positive, got {readdir_batch_size}")
    if readdir_workers < 0:
        raise ValueError(f"readdir_workers must be >= 0, got {readdir_workers}")
    return c.scan(path, threads=readdir_workers, readdir_batch=readdir_batch_size, progress=progress)


def index_from_paths(c: Container, paths: Sequence[str], sizes: Optional[Sequence[int]] = None,
                     threads: int = 16) -> Tuple[Index, Optional[np.ndarray]]:
    """An Index of the given container paths (stat'ed in parallel when sizes are not given),
    plus the order that maps position i of ``paths`` to its entry (None if already sorted). A
    path given more than once is one entry, repeated in the order (oversampling)."""
    paths = [p if p.startswith("/") else "/" + p for p in paths]
    if sizes is not None and len(sizes) != len(paths):
        raise ValueError("paths and sizes differ in length")
    first = dict.fromkeys(paths)  # unique, in first-seen order
    if sizes is None:
        def size(p: str) -> int:
            st = c.stat(p)
            if not st.is_file:
                raise IsADirectoryError(21, "not a regular file", p)
            return st.size
        with ThreadPoolExecutor(max(1, min(threads, len(first)))) as ex:  # native stat drops the GIL
            unique_sizes = list(ex.map(size, first))
    else:
        known = dict(zip(paths, sizes))
        unique_sizes = [known[p] for p in first]
    ix = Index.build("/", [p.lstrip("/") for p in first], [int(s) for s in unique_sizes])
    order = ix.find_many([p.lstrip("/") for p in paths]).astype(np.int64)
    if np.array_equal(order, np.arange(len(paths))):
        return ix, None
    return ix, order


def load_manifest(file: Union[str, "os.PathLike[str]", Any]) -> Index:
    """An Index from a manifest: a local file (binary, or text ``SIZE<TAB>PATH`` lines) or a
    binary file object."""
    if hasattr(file, "read"):
        return Index.from_bytes(file.read())
    return Index.load(os.fspath(file))


def save_manifest(ix: Index, file: Union[str, "os.PathLike[str]", Any]) -> None:
    """Writes the binary manifest (atomically when ``file`` is a path)."""
    if hasattr(file, "write"):
        file.write(ix.to_bytes())
    else:
        ix.save(os.fspath(file))
