"""``storage.storage_type: pydaos_torch``: DLIO's dataset and checkpoints directly in a container.

No dfuse mount: DLIO's listing, generation, checkpoint directories and deletion go through the
native core, on the local backend or on DAOS (libdfs). DLIO has no storage hook; importing
:mod:`pydaos_torch.dlio` registers this class (see :mod:`.hooks`).

Names: DLIO joins ``storage.storage_root`` (default ``./``) with its folders; here that is a
path in the container, made absolute: ``dataset.data_folder: data/unet3d`` is
``/data/unet3d`` in the container, and DLIO's file names are those absolute container paths.

Listing is collective: the first ``walk_node`` under ``dataset.data_folder`` makes rank 0 scan
the whole data folder once; the Index is broadcast and every rank answers ``walk_node`` and
``get_node`` from it (see :func:`.runtime.collective_index`).
"""
from __future__ import annotations

import fnmatch
import posixpath
from typing import List, Optional

from dlio_benchmark.common.enumerations import MetadataType, NamespaceType
from dlio_benchmark.storage.storage_handler import DataStorage, Namespace

from . import runtime


class PyDaosStorage(DataStorage):
    """DLIO's DataStorage over a pydaos_torch Container (the run's shared connection)."""

    def __init__(self, namespace: str, framework=None):
        # DataStorage(framework) would ask the framework for "native I/O" (TensorFlow's gfile);
        # our I/O is our own.
        super().__init__(None)
        self.namespace = Namespace(namespace, NamespaceType.HIERARCHICAL)
        self._c = runtime.container_for(self._args)

    # -- names
    def get_uri(self, id: str) -> str:
        return runtime.container_path(self.namespace.name or "", id or "")

    def get_basename(self, id: str) -> str:
        return posixpath.basename(id)

    def islocalfs(self) -> bool:  # DLIO main: generators hand us bytes through put_data
        return False

    # -- namespace
    def create_namespace(self, exist_ok: bool = False) -> bool:
        p = self.get_uri("")
        if p != "/":
            if not exist_ok and self._c.exists(p):
                raise FileExistsError(17, "exists", p)
            self._c.mkdirs(p)
        return True

    def get_namespace(self) -> str:
        return self.namespace.name

    # -- metadata
    def create_node(self, id: str, exist_ok: bool = False) -> bool:
        p = self.get_uri(id)
        if p != "/":
            self._c.mkdirs(p)
        runtime.forget_indexes()
        return True

    def _index_for(self, path: str):
        """The broadcast Index that covers ``path`` (scanning the data folder, collectively,
        the first time), or None if ``path`` is outside the data folder."""
        data = runtime.container_path(getattr(self._args, "data_folder", "") or "")
        if data == "/" or not (path + "/").startswith(data.rstrip("/") + "/"):
            return None, None
        return runtime.collective_index(self._c, data, self._settings().scan_threads), data

    def _settings(self):
        from .settings import Settings
        return getattr(self._args, "pydaos", None) or Settings()

    def get_node(self, id: str = ""):
        p = self.get_uri(id)
        ix, base = self._index_for(p)
        if ix is not None:
            kind = _lookup(ix, base, p)
            if kind is not None:
                return kind
        try:
            st = self._c.stat(p)
        except (FileNotFoundError, NotADirectoryError):
            return None
        return MetadataType.DIRECTORY if st.is_dir else MetadataType.FILE

    def walk_node(self, id: str, use_pattern: bool = False) -> List[str]:
        p = self.get_uri(id)
        if use_pattern:
            pattern = p
            fixed = _fixed_prefix(pattern)
            ix, base = self._index_for(fixed)
            if ix is None:
                ix = runtime.collective_index(self._c, fixed, self._settings().scan_threads)
                base = fixed
            return sorted(q for q in _files(ix, base) if fnmatch.fnmatchcase(q, pattern)
                          or fnmatch.fnmatchcase(q, _upper_ext(pattern)))
        ix, base = self._index_for(p)
        if ix is None:
            try:
                return self._c.listdir(p)
            except FileNotFoundError:
                return []
        return _children(ix, base, p)

    def delete_node(self, id: str) -> bool:
        p = self.get_uri(id)
        self._c.remove(p, recursive=True)
        runtime.forget_indexes()
        return True

    # -- data
    def put_data(self, id: str, data, offset=None, length=None):
        if offset:
            raise NotImplementedError("pydaos_torch storage: put_data with an offset")
        self._c.write(self.get_uri(id) if not str(id).startswith("/") else id, data)
        return True

    def get_data(self, id: str, data=None, offset=None, length=None):
        p = self.get_uri(id) if not str(id).startswith("/") else id
        if offset is None and length is None:
            return self._c.read(p)
        size = length if length is not None else self._c.stat(p).size - (offset or 0)
        buf = bytearray(size)
        n = self._c.read_into(p, buf, offset or 0, up_to=True)
        return bytes(buf[:n])

    def isfile(self, id: str) -> bool:
        return self.get_node(id) == MetadataType.FILE


# ---------------------------------------------------------------- Index helpers
def _files(ix, base: str):
    b = base.rstrip("/")
    return (f"{b}/{ix.path(i)}" for i in range(len(ix)))


def _rel(base: str, p: str) -> Optional[str]:
    b = base.rstrip("/")
    if p == b or p == base:
        return ""
    if p.startswith(b + "/"):
        return p[len(b) + 1:]
    return None


def _lower_bound(ix, key: str) -> int:
    """First entry whose path is >= key (an Index is sorted by path)."""
    lo, hi = 0, len(ix)
    while lo < hi:
        mid = (lo + hi) // 2
        if ix.path(mid) < key:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _with_prefix(ix, pre: str):
    i = _lower_bound(ix, pre) if pre else 0
    n = len(ix)
    while i < n:
        q = ix.path(i)
        if not q.startswith(pre):
            break
        yield q
        i += 1


def _children(ix, base: str, p: str) -> List[str]:
    rel = _rel(base, p)
    if rel is None:
        return []
    pre = rel + "/" if rel else ""
    out = []
    for q in _with_prefix(ix, pre):
        name = q[len(pre):].split("/", 1)[0]
        if not out or out[-1] != name:
            out.append(name)
    return sorted(set(out))


def _lookup(ix, base: str, p: str):
    rel = _rel(base, p)
    if rel is None:
        return None
    if rel == "":
        return MetadataType.DIRECTORY if len(ix) else None
    if ix.find(rel) >= 0:
        return MetadataType.FILE
    for _ in _with_prefix(ix, rel + "/"):
        return MetadataType.DIRECTORY
    return None


def _fixed_prefix(pattern: str) -> str:
    parts = []
    for part in pattern.split("/"):
        if any(ch in part for ch in "*?["):
            break
        parts.append(part)
    return "/".join(parts) or "/"


def _upper_ext(pattern: str) -> str:
    head, dot, ext = pattern.rpartition(".")
    return f"{head}.{ext.upper()}" if dot else pattern
