"""DaosFileSystem: fsspec's ``daos`` protocol over pydaos_torch containers."""
from __future__ import annotations

import datetime as _dt
import os
import posixpath
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from fsspec.callbacks import DEFAULT_CALLBACK
from fsspec.spec import AbstractFileSystem

from ..container import Container, StatResult
from . import places
from .files import TMP_MARK, DaosFile, NewFile

COPY_CHUNK = 8 << 20  # bytes per read or write of put/get/cp
COPY_DEPTH = 4  # such chunks in flight


class DaosFileSystem(AbstractFileSystem):
    """``daos://POOL/CONTAINER/PATH`` for fsspec (pandas, pyarrow, DCP's fsspec writer,
    Lightning, webdataset...). Storage options: ``backend`` ("auto": DAOS; "local": the
    directory ``<root>/POOL/CONTAINER``, also chosen by PYDAOS_TORCH_BACKEND/_ROOT), ``root``,
    ``system`` (DAOS system name), ``read_only``, ``fsync`` (files synced before they appear;
    on DAOS a completed write is durable already).

    One connection per process and container, shared by all instances; an instance pickles
    with the handles of the containers it has used, which the receiving process attaches to
    (forked DataLoader workers attach without pickling)."""

    protocol = "daos"
    root_marker = ""
    blocksize = 4 << 20

    def __init__(self, backend: str = "auto", root: Optional[str] = None, system: Optional[str] = None,
                 read_only: bool = False, fsync: bool = False, **kwargs: Any):
        super().__init__(backend=backend, root=root, system=system, read_only=read_only, fsync=fsync, **kwargs)
        self.backend, self.root, self.system = backend, root, system
        self.read_only, self.fsync = read_only, fsync
        self._keys: set = set()

    # -- paths and connections
    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        path = os.fspath(path) if not isinstance(path, str) else path
        for prefix in ("daos://", "daos::"):
            if path.startswith(prefix):
                path = path[len(prefix):]
        return path.strip("/")

    @staticmethod
    def _get_kwargs_from_urls(path: str) -> Dict[str, Any]:
        return {}

    def _place(self, path: str) -> places.Place:
        return places.split(self._strip_protocol(path), self.backend, self.root, self.system, self.read_only)

    def _container(self, place: places.Place) -> Container:
        self._keys.add(place.key)
        return places.container(place.key)

    def _at(self, path: str) -> Tuple[places.Place, Container]:
        p = self._place(path)
        return p, self._container(p)

    def __reduce__(self) -> Any:
        conns = places.connected()
        blobs = {k: conns[k].serialize() for k in self._keys if k in conns}
        return _restore, (type(self), self.storage_args, self.storage_options, blobs)

    # -- metadata
    def _info_of(self, place: places.Place, st: StatResult, path: Optional[str] = None) -> Dict[str, Any]:
        return {"name": place.url(path), "size": st.size if st.is_file else 0,
                "type": "directory" if st.is_dir else "file" if st.is_file else "other",
                "mtime": st.mtime_ns / 1e9, "mode": st.mode}

    def info(self, path: str, **kwargs: Any) -> Dict[str, Any]:
        p, c = self._at(path)
        return self._info_of(p, c.stat(p.path))

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> List[Any]:
        p, c = self._at(path)
        try:
            entries = c.entries(p.path)
        except NotADirectoryError:
            info = self._info_of(p, c.stat(p.path))
            return [info] if detail else [info["name"]]
        out: List[Any] = []
        for name, _ in entries:
            if TMP_MARK in name:
                continue  # a file being written: not there until committed
            child = posixpath.join(p.path, name)
            if not detail:
                out.append(p.url(child))
                continue
            try:
                out.append(self._info_of(p, c.stat(child), child))
            except FileNotFoundError:
                continue  # removed since the listing
        return out

    def find(self, path: str, maxdepth: Optional[int] = None, withdirs: bool = False, detail: bool = False,
             **kwargs: Any) -> Any:
        if maxdepth is not None or withdirs:
            return super().find(path, maxdepth=maxdepth, withdirs=withdirs, detail=detail, **kwargs)
        p, c = self._at(path)
        try:
            index = c.scan(p.path)  # every file below, in parallel, one native call
        except NotADirectoryError:
            index = None
        except FileNotFoundError:
            return {} if detail else []
        if index is None:
            info = self.info(path)
            return {info["name"]: info} if detail else [info["name"]]
        base = p.path.rstrip("/")
        out: Dict[str, Any] = {}
        sizes = index.sizes
        for i in range(len(index)):
            rel = index.path(i)
            if TMP_MARK in rel:
                continue
            name = p.url(f"{base}/{rel}")
            out[name] = {"name": name, "size": int(sizes[i]), "type": "file"}
        return out if detail else sorted(out)

    def created(self, path: str) -> _dt.datetime:
        """DFS and POSIX keep no birth time: the last change, as fsspec's local file system."""
        return self.modified(path)

    def modified(self, path: str) -> _dt.datetime:
        p, c = self._at(path)
        return _dt.datetime.fromtimestamp(c.stat(p.path).mtime_ns / 1e9, tz=_dt.timezone.utc)

    def ukey(self, path: str) -> str:
        i = self.info(path)
        return f"{i['name']}:{i['size']}:{i['mtime']}"

    # -- namespace
    def mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        p, c = self._at(path)
        if p.path == "/":
            return  # the container's root always exists
        if c.exists(p.path):
            raise FileExistsError(17, "exists", path)
        if not create_parents and not c.exists(posixpath.dirname(p.path)):
            raise FileNotFoundError(2, "parent directory does not exist", posixpath.dirname(p.url()))
        c.mkdirs(p.path)
        self.invalidate_cache(p.url())

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        p, c = self._at(path)
        if p.path != "/" and c.exists(p.path):
            if not exist_ok or not c.stat(p.path).is_dir:
                raise FileExistsError(17, "exists", path)
            return
        c.mkdirs(p.path)

    def rmdir(self, path: str) -> None:
        p, c = self._at(path)
        if not c.stat(p.path).is_dir:
            raise NotADirectoryError(20, "not a directory", path)
        c.remove(p.path)
        self.invalidate_cache(p.url())

    def rm_file(self, path: str) -> None:
        p, c = self._at(path)
        c.remove(p.path)
        self.invalidate_cache(p.url())

    def _rm(self, path: str) -> None:
        p, c = self._at(path)
        c.remove(p.path)

    def rm(self, path: Any, recursive: bool = False, maxdepth: Optional[int] = None) -> None:
        if isinstance(path, str) and recursive and maxdepth is None and not _has_magic(path):
            p, c = self._at(path)
            if p.path == "/":
                raise PermissionError(1, "refusing to remove a container's root; remove its entries", path)
            c.remove(p.path, recursive=True)  # one native tree removal
            self.invalidate_cache(p.url())
            return
        super().rm(path, recursive=recursive, maxdepth=maxdepth)

    def mv(self, path1: Any, path2: Any, recursive: bool = False, maxdepth: Optional[int] = None,
           **kwargs: Any) -> None:
        if isinstance(path1, str) and isinstance(path2, str) and not _has_magic(path1) and maxdepth is None:
            p1, c1 = self._at(path1)
            p2, _ = self._at(path2)
            if p1.key == p2.key and p1.path != "/":
                st = c1.stat(p1.path)
                if st.is_file or recursive:
                    dst = p2.path
                    if path2.endswith("/") or (c1.exists(dst) and c1.stat(dst).is_dir):
                        dst = posixpath.join(dst, posixpath.basename(p1.path))  # into the directory
                    parent = posixpath.dirname(dst)
                    if parent != "/":
                        c1.mkdirs(parent)
                    c1.rename(p1.path, dst)  # one native rename, also for a directory
                    self.invalidate_cache()
                    return
        super().mv(path1, path2, recursive=recursive, maxdepth=maxdepth, **kwargs)

    # -- data
    def _open(self, path: str, mode: str = "rb", block_size: Any = None, autocommit: bool = True,
              cache_options: Optional[dict] = None, **kwargs: Any) -> DaosFile:
        return DaosFile(self, path, mode, block_size or self.blocksize, autocommit,
                        cache_type=kwargs.pop("cache_type", "readahead"), cache_options=cache_options, **kwargs)

    def cat_file(self, path: str, start: Optional[int] = None, end: Optional[int] = None, **kwargs: Any) -> bytes:
        return self._read_ranges([path], [start], [end], raise_first=True)[0]  # type: ignore[return-value]

    def cat_ranges(self, paths: List[str], starts: Any, ends: Any, max_gap: Optional[int] = None,
                   on_error: str = "return", **kwargs: Any) -> List[Any]:
        """Every range in one native batch read per container (many in flight, GIL released)."""
        if not isinstance(paths, list):
            raise TypeError("paths must be a list")
        starts = starts if isinstance(starts, list) else [starts] * len(paths)
        ends = ends if isinstance(ends, list) else [ends] * len(paths)
        if not len(starts) == len(ends) == len(paths):
            raise ValueError("paths, starts and ends differ in length")
        return self._read_ranges(paths, starts, ends, raise_first=on_error != "return")

    def cat(self, path: Any, recursive: bool = False, on_error: str = "raise", **kwargs: Any) -> Any:
        paths = self.expand_path(path, recursive=recursive)
        if len(paths) > 1 or isinstance(path, list) or paths[0] != self._strip_protocol(path):
            got = self._read_ranges(paths, [None] * len(paths), [None] * len(paths), raise_first=on_error == "raise")
            return {p: g for p, g in zip(paths, got) if on_error != "omit" or not isinstance(g, BaseException)}
        return self.cat_file(paths[0])

    def _read_ranges(self, paths: Sequence[str], starts: Sequence[Optional[int]], ends: Sequence[Optional[int]],
                     raise_first: bool) -> List[Union[bytes, BaseException]]:
        out: List[Union[bytes, BaseException]] = [b""] * len(paths)
        groups: Dict[Any, Tuple[Container, List[Tuple[int, str, int, int]]]] = {}
        places_of: Dict[str, Any] = {}  # each distinct path resolved once
        sizes: Dict[str, int] = {}
        for i, (path, s, e) in enumerate(zip(paths, starts, ends)):
            try:
                hit = places_of.get(path)
                if hit is None:
                    p, c = self._at(path)
                    hit = places_of[path] = (p, c, groups.setdefault(p.key, (c, []))[1])
                p, c, reqs = hit
                s = 0 if s is None else s
                if s < 0 or e is None or e < 0:  # relative to the end: the size is needed
                    size = sizes.get(path)
                    if size is None:
                        st = c.stat(p.path)
                        if st.is_dir:
                            raise IsADirectoryError(21, "is a directory", path)
                        size = sizes[path] = st.size
                    s = max(0, size + s) if s < 0 else s
                    e = size if e is None else max(0, size + e) if e < 0 else e
                reqs.append((i, p.path, s, max(s, e)))
            except Exception as exc:  # noqa: BLE001 - returned or raised as the caller asked
                if raise_first:
                    raise
                out[i] = exc
        for c, reqs in groups.values():
            if not reqs:
                continue
            reqs.sort(key=lambda r: (r[1], r[2]))  # a file's ranges together: the core opens it once
            try:  # one native call: new bytes objects filled with the GIL released
                got = c.native.read_ranges([r[1] for r in reqs], [r[2] for r in reqs], [r[3] - r[2] for r in reqs])
            except Exception:
                if raise_first:
                    raise
                got = self._read_one_by_one(c, reqs, out)
            for r, b in zip(reqs, got):
                if b is not None:
                    out[r[0]] = b
        return out

    @staticmethod
    def _read_one_by_one(c: Container, reqs: List[Tuple[int, str, int, int]], out: List[Any]) -> List[Any]:
        """After a failed batch: which ranges failed, each with its own error."""
        got: List[Any] = []
        for i, path, s, e in reqs:
            try:
                got.append(c.native.read_ranges([path], [s], [e - s])[0])
            except Exception as exc:  # noqa: BLE001
                out[i] = exc
                got.append(None)
        return got

    def pipe_file(self, path: str, value: bytes, mode: str = "overwrite", **kwargs: Any) -> None:
        p, c = self._at(path)
        f = NewFile(c, p.path, exclusive=mode == "create", fsync=self.fsync)
        try:
            f.write_at(value, 0)
        except BaseException:
            f.discard()
            raise
        f.commit()
        self.invalidate_cache(p.url())

    def put_file(self, lpath: str, rpath: str, callback: Any = DEFAULT_CALLBACK, mode: str = "overwrite",
                 **kwargs: Any) -> None:
        """A local file into the container: chunks read from disk written ``COPY_DEPTH`` at a
        time; the file appears whole at the end."""
        if os.path.isdir(lpath):
            self.makedirs(rpath, exist_ok=True)
            return
        p, c = self._at(rpath)
        size = os.path.getsize(lpath)
        callback.set_size(size)
        f = NewFile(c, p.path, exclusive=mode == "create", fsync=self.fsync)
        try:
            with open(lpath, "rb", buffering=0) as src:
                bufs = _copy_buffers(size)
                off = 0
                while True:
                    views, offs = [], []
                    for b in bufs:
                        n = src.readinto(b)
                        if not n:
                            break
                        views.append(memoryview(b)[:n])
                        offs.append(off)
                        off += n
                    if not views:
                        break
                    f.write_many(views, offs)
                    callback.relative_update(sum(len(v) for v in views))
        except BaseException:
            f.discard()
            raise
        f.commit()
        self.invalidate_cache(p.url())

    def get_file(self, rpath: str, lpath: str, callback: Any = DEFAULT_CALLBACK, outfile: Any = None,
                 **kwargs: Any) -> None:
        """A container file to local disk: ``COPY_DEPTH`` chunks per native batch read."""
        p, c = self._at(rpath)
        st = c.stat(p.path)
        if st.is_dir:
            if outfile is None:
                os.makedirs(lpath, exist_ok=True)
            return
        callback.set_size(st.size)
        if outfile is None and os.path.dirname(lpath):
            os.makedirs(os.path.dirname(lpath), exist_ok=True)
        dst = outfile if outfile is not None else open(lpath, "wb")
        try:
            self._copy_out(c, p.path, st.size, lambda mv: dst.write(mv), callback)
        finally:
            if outfile is None:
                dst.close()

    def cp_file(self, path1: str, path2: str, **kwargs: Any) -> None:
        """A copy by the client (DFS has no server-side copy), committed whole."""
        p1, c1 = self._at(path1)
        st = c1.stat(p1.path)
        p2, c2 = self._at(path2)
        if st.is_dir:
            c2.mkdirs(p2.path)
            return
        f = NewFile(c2, p2.path, fsync=self.fsync)
        pos = [0]

        def put(mv: memoryview) -> None:
            f.write_at(mv, pos[0])
            pos[0] += len(mv)

        try:
            self._copy_out(c1, p1.path, st.size, put, DEFAULT_CALLBACK)
        except BaseException:
            f.discard()
            raise
        f.commit()
        self.invalidate_cache(p2.url())

    @staticmethod
    def _copy_out(c: Container, path: str, size: int, sink: Any, callback: Any) -> None:
        bufs = _copy_buffers(size)
        off = 0
        while off < size:
            k = min(len(bufs), -(-(size - off) // COPY_CHUNK))
            offs = [off + j * COPY_CHUNK for j in range(k)]
            views = [memoryview(bufs[j])[:min(COPY_CHUNK, size - offs[j])] for j in range(k)]
            got = c.read_batch([path] * k, views, offs)
            for v, n in zip(views, got):
                sink(v[:n])
                callback.relative_update(n)
            off += sum(got)


def _copy_buffers(size: int) -> List[bytearray]:
    """The chunk buffers of a copy of ``size`` bytes: up to COPY_DEPTH, none larger than needed."""
    return [bytearray(min(COPY_CHUNK, max(1, size))) for _ in range(min(COPY_DEPTH, max(1, -(-size // COPY_CHUNK))))]


def _has_magic(path: str) -> bool:
    return any(ch in path for ch in "*?[")


def _restore(cls: type, args: tuple, kwargs: dict, blobs: Dict[Any, bytes]) -> DaosFileSystem:
    for key, blob in blobs.items():
        places.adopt(key, blob)
    return cls(*args, **kwargs)
