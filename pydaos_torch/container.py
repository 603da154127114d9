"""connect(), URIs and the Container: the Python face of the native storage core.

A Container is one DAOS POSIX container (backend ``"dfs"``, through libdfs) or one local
directory acting as a container (backend ``"local"``). It pickles as its serialized handle:
unpickled in another process (a DataLoader worker under spawn or forkserver, another MPI
rank) it attaches to the same pool connection instead of opening a new one, and a forked
child re-attaches on first use. No ``worker_init_fn`` is needed.
"""
from __future__ import annotations

import atexit
import io
import operator
import os
import re
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, List, NamedTuple, Optional, Sequence, Tuple, Union
from urllib.parse import unquote, urlparse

from . import _core
from .io_profile import IOProfile

# DAOS connections kept for attached processes are closed when this one ends.
atexit.register(_core.close_kept_connections)

Buffer = Any  # anything with the (writable) buffer protocol, or a CPU torch.Tensor
ProgressFn = Callable[[int, int], None]

BACKENDS = ("auto", "dfs", "local")
# DAOS's own label rule (duns.c): 1-127 of [a-zA-Z0-9._:-], or a UUID.
_LABEL = re.compile(r"^[A-Za-z0-9._:-]{1,127}$")


@dataclass(frozen=True)
class StatResult:
    size: int
    mode: int
    mtime_ns: int

    @property
    def is_dir(self) -> bool:
        return (self.mode & 0o170000) == 0o040000

    @property
    def is_file(self) -> bool:
        return (self.mode & 0o170000) == 0o100000


class Entry(NamedTuple):
    """One name in a directory listing (:meth:`Container.entries`)."""

    name: str
    is_dir: bool


@dataclass(frozen=True)
class Location:
    """Where a URI points: a backend, its pool/container (or local root), a path inside."""

    backend: str
    pool: str
    container: str
    root: Optional[str]
    path: str


def parse_uri(uri: str, *, backend: str = "auto", root: Optional[str] = None) -> Location:
    """Parses ``daos://POOL/CONTAINER[/PATH]`` or ``file:///DIR``.

    ``daos://`` selects the dfs backend, unless the local backend was chosen explicitly
    (``backend="local"`` or ``PYDAOS_TORCH_BACKEND=local``): then it maps to the directory
    ``<root>/POOL/CONTAINER/PATH``. ``file:///DIR`` always means the local backend with DIR
    itself as the container (the way a dfuse mount is used); its path inside is ``/``.
    """
    u = urlparse(uri)
    if u.scheme == "daos":
        pool, rest = u.netloc, unquote(u.path).lstrip("/")
        cont, _, path = rest.partition("/")
        for what, label in (("pool", pool), ("container", cont)):
            if not _LABEL.match(label or ""):
                raise ValueError(f"invalid {what} {label!r} in URI {uri!r}: expected daos://POOL/CONTAINER[/PATH]")
        chosen = _explicit_backend(backend) or "dfs"
        return Location(chosen, pool, cont, _local_root(root) if chosen == "local" else None, "/" + path)
    if u.scheme == "file":
        if u.netloc not in ("", "localhost"):
            raise ValueError(f"file URI {uri!r} names a host; only file:///DIR is supported")
        if backend not in ("auto", "local"):
            raise ValueError(f"file URI {uri!r} needs the local backend, not {backend!r}")
        return Location("local", "", "", unquote(u.path), "/")
    raise ValueError(f"unsupported URI {uri!r}: use daos://POOL/CONTAINER[/PATH] or file:///DIR")


def _local_root(root: Optional[str]) -> str:
    root = root or os.environ.get("PYDAOS_TORCH_ROOT")
    if not root:
        raise ValueError("the local backend needs a root directory: pass root=... or set PYDAOS_TORCH_ROOT")
    return root


def _explicit_backend(backend: str) -> Optional[str]:
    """The backend chosen by argument or PYDAOS_TORCH_BACKEND, or None for "auto"."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    if backend != "auto":
        return backend
    env = os.environ.get("PYDAOS_TORCH_BACKEND", "auto")
    if env not in BACKENDS:
        raise ValueError(f"PYDAOS_TORCH_BACKEND={env!r} is not one of {', '.join(BACKENDS)}")
    return None if env == "auto" else env


def _choose_backend(backend: str, root: Optional[str]) -> str:
    explicit = _explicit_backend(backend)
    if explicit:
        return explicit
    if root is not None:  # a root argument is an explicit choice of a local directory
        return "local"
    ok, why = _core.dfs_available()
    if ok:
        return "dfs"
    # Never fall back silently to local disk: say why DAOS is not there and how to choose.
    raise _core_error_no_dfs(why)


def _core_error_no_dfs(why: str) -> OSError:
    err = OSError(
        79,  # ELIBACC
        f"backend 'auto' found no DAOS client: {why}. To use a local directory as the container "
        "instead, pass backend='local' and root=DIR, or set PYDAOS_TORCH_BACKEND=local and "
        "PYDAOS_TORCH_ROOT=DIR.")
    return err


def connect(pool: Optional[str] = None, container: Optional[str] = None, *, backend: str = "auto",
            root: Optional[str] = None, system: Optional[str] = None, read_only: bool = False,
            direct_io: bool = False, create: bool = False) -> "Container":
    """Connects to a container.

    ``pool``/``container`` are labels or UUIDs (defaults: ``DAOS_POOL`` and ``DAOS_CONT``),
    or ``pool`` may be a ``daos://`` / ``file://`` URI. ``backend="auto"`` uses DAOS when
    libdfs loads (``PYDAOS_TORCH_LIBDFS`` names it) and raises otherwise; the local backend
    is used only when chosen (``backend="local"``, a ``root``, ``PYDAOS_TORCH_BACKEND=local``
    or a ``file://`` URI). Local: the container is ``<root>/<pool>/<container>/``, or the root
    itself when no pool and container are given; ``create=True`` makes the directories.
    """
    if pool is not None and "://" in pool:
        if container is not None:
            raise ValueError("give either a URI or pool and container, not both")
        loc = parse_uri(pool, backend=backend, root=root)
        return Container._connect(loc.backend, loc.pool, loc.container, loc.root, system, read_only, direct_io, create)
    chosen = _choose_backend(backend, root)
    if chosen == "local":
        root = _local_root(root)
        pool = pool if pool is not None else os.environ.get("DAOS_POOL", "")
        container = container if container is not None else os.environ.get("DAOS_CONT", "")
        return Container._connect("local", pool, container, root, system, read_only, direct_io, create)
    pool = pool or os.environ.get("DAOS_POOL")
    container = container or os.environ.get("DAOS_CONT")
    if not pool or not container:
        raise ValueError("a pool and a container are required: pass them, or set DAOS_POOL and DAOS_CONT")
    return Container._connect("dfs", pool, container, None, system, read_only, direct_io, create)


def _check_offsets(paths: Sequence[str], offsets: Sequence[int]) -> None:
    for p, o in zip(paths, offsets):
        try:
            ok = not isinstance(o, bool) and operator.index(o) >= 0
        except TypeError:
            ok = False
        if not ok:
            raise ValueError(f"read offset must be an integer >= 0, got {o!r} for {p!r}")


def _as_buffer(obj: Buffer) -> Buffer:
    # torch tensors have no buffer protocol; a CPU tensor's numpy view shares its memory.
    if type(obj).__module__.startswith("torch") and hasattr(obj, "numpy"):
        return obj.detach().numpy()
    return obj


class Container:
    """One container: files, directories, batch reads and scans. See :func:`connect`."""

    def __init__(self, native: "_core.Storage", blob: bytes):
        self._native: Optional[_core.Storage] = native
        self._blob = blob
        self._pid = os.getpid()

    @classmethod
    def _connect(cls, backend: str, pool: str, container: str, root: Optional[str], system: Optional[str],
                 read_only: bool, direct_io: bool, create: bool) -> "Container":
        if backend == "local":
            assert root is not None
            if create:
                os.makedirs(os.path.join(root, pool, container) if pool or container else root, exist_ok=True)
            native = _core.connect_local(root, pool, container, read_only, direct_io)
        else:
            if create:
                raise ValueError("create=True is for the local backend; create DAOS pools and containers "
                                 "with dmg and daos (daos cont create POOL CONT --type=POSIX)")
            native = _core.connect_dfs(pool, container, system or "", read_only)
        return cls(native, native.serialize_handle())

    @classmethod
    def attach(cls, blob: bytes) -> "Container":
        """Attaches in this process to a container serialized with :meth:`serialize`."""
        return cls(_core.attach(blob), blob)

    def serialize(self) -> bytes:
        """Bytes from which :meth:`attach` reaches this container without a new connection.

        On DAOS the processes that attach share this process's connection, which DAOS revokes
        when this process disconnects: from now on the connection outlives :meth:`close`
        and is closed when this process exits."""
        if self._native is not None and self._pid == os.getpid():
            self._native.hand_out()
        return self._blob

    def __reduce__(self):
        return (Container.attach, (self.serialize(),))

    @property
    def native(self) -> "_core.Storage":
        """The core storage object of this process (attached anew after fork)."""
        if self._pid != os.getpid():
            self._native = _core.attach(self._blob)
            self._pid = os.getpid()
        if self._native is None:
            raise ValueError("container is closed")
        return self._native

    # -- description
    @property
    def backend(self) -> str:
        return self.native.backend

    @property
    def profile(self) -> IOProfile:
        """How this storage wants its I/O done (see :class:`~pydaos_torch.IOProfile`): decided by
        the native core from the storage itself, the same in every process that reaches it."""
        return IOProfile.from_native(self.native.profile)

    @property
    def pool(self) -> str:
        return self.native.pool

    @property
    def container(self) -> str:
        return self.native.container

    @property
    def read_only(self) -> bool:
        return self.native.read_only

    def __repr__(self) -> str:
        state = "closed" if self._native is None else self._native.describe()
        return f"<pydaos_torch.Container {state}>"

    # -- metadata
    def stat(self, path: str) -> StatResult:
        return StatResult(*self.native.stat(path))

    def exists(self, path: str) -> bool:
        try:
            self.native.stat(path)
            return True
        except FileNotFoundError:
            return False

    def listdir(self, path: str = "/") -> List[str]:
        return [name for name, _ in self.native.listdir(path)]

    def entries(self, path: str = "/") -> List[Entry]:
        """The names in directory ``path``, sorted, each with whether it is a directory (one
        listing: DAOS's readdir gives the type with the name)."""
        return [Entry(n, d) for n, d in self.native.listdir(path)]

    def mkdirs(self, path: str, mode: int = 0o755) -> None:
        self.native.mkdirs(path, mode)

    def remove(self, path: str, *, recursive: bool = False) -> None:
        self.native.remove(path, recursive)

    def rename(self, src: str, dst: str) -> None:
        self.native.rename(src, dst)

    def keep_as(self, src: str, dst: str) -> bool:
        """Gives file ``src``'s data the new name ``dst`` (FileExistsError if it exists): a hard
        link where the storage has them (local; ``src`` stays, returns True), else a move (DAOS;
        ``src`` goes, returns False)."""
        return self.native.keep_as(src, dst)

    def scan(self, path: str = "/", *, threads: int = 0, readdir_batch: int = 128,
             progress: Union[bool, ProgressFn, None] = None) -> "_core.Index":
        """Lists every regular file under ``path`` (recursively, in parallel) as a compact,
        sorted :class:`Index`. ``progress=True`` reports long scans on stderr."""
        cb = _ProgressPrinter(path) if progress is True else (progress or None)
        return self.native.scan(path, threads, readdir_batch, cb)

    # -- data
    def read(self, path: str) -> bytes:
        size = self.native.stat(path)[0]
        buf = bytearray(size)
        self.native.read_batch([path], [buf])
        return bytes(buf)

    def read_into(self, path: str, buffer: Buffer, offset: int = 0, *, up_to: bool = False) -> int:
        _check_offsets([path], [offset])
        return self.native.read_batch([path], [_as_buffer(buffer)], [offset], up_to)[0]

    def read_batch(self, paths: Sequence[str], buffers: Sequence[Buffer], offsets: Optional[Sequence[int]] = None,
                   *, up_to: bool = False, depth: int = 0) -> List[int]:
        """Reads many files (or ranges) into caller buffers in one native call, ``depth`` I/Os
        in flight, the GIL released. Each read fills its whole buffer; a short read is an
        error unless ``up_to``. Returns the bytes read per request."""
        bufs = [_as_buffer(b) for b in buffers]
        if offsets is not None:
            _check_offsets(paths, offsets)
        return self.native.read_batch(list(paths), bufs, None if offsets is None else list(offsets), up_to, depth)

    def read_ranges(self, paths: Sequence[str], offsets: Sequence[int], lengths: Sequence[int], *,
                    depth: int = 0) -> List[bytes]:
        """Byte ranges of many files as new ``bytes`` objects in one native call (filled with
        the GIL released, no intermediate buffer); a range past a file's end comes back short."""
        return self.native.read_ranges(list(paths), list(offsets), list(lengths), depth)

    def read_index(self, index: "_core.Index", indices: Any, out: Buffer, *, depth: int = 0):
        """Reads index entries back to back into ``out``; returns their offsets (n + 1)."""
        return self.native.read_index(index, indices, _as_buffer(out), depth)

    def write(self, path: str, data: Buffer, *, mkdirs: bool = True) -> None:
        """Writes a whole file (created or truncated)."""
        if mkdirs:
            parent = os.path.dirname("/" + path.lstrip("/"))
            if parent != "/":
                self.native.mkdirs(parent, 0o755)
        f = self.native.open(path, True, True, True)
        try:
            f.write(_as_buffer(data), 0)
        finally:
            f.close()

    def open(self, path: str, mode: str = "rb", *, buffering: int = -1, object_class: str = "",
             chunk_size: int = 0) -> Union[io.BufferedReader, io.BufferedWriter, io.BufferedRandom]:
        """A binary file object: ``"rb"``, ``"wb"`` (create/truncate), ``"xb"`` (create, must not
        exist) or ``"r+b"``. ``object_class``/``chunk_size`` apply to DAOS files created here."""
        flags = {"rb": (False, False, False, False), "wb": (True, True, True, False),
                 "xb": (True, True, False, True), "r+b": (True, False, False, False)}
        if mode not in flags:
            raise ValueError(f"unsupported mode {mode!r}: use 'rb', 'wb', 'xb' or 'r+b'")
        write, create, truncate, exclusive = flags[mode]
        native = self.native.open(path, write, create, truncate, exclusive, 0o644, object_class, chunk_size)
        raw = RawFile(native, mode)
        size = buffering if buffering > 0 else 4 << 20
        if buffering == 0:
            return raw  # type: ignore[return-value]
        if mode == "rb":
            return io.BufferedReader(raw, size)
        if mode == "r+b":
            return io.BufferedRandom(raw, size)
        return io.BufferedWriter(raw, size)

    def create_file(self, path: str, *, mode: int = 0o644, object_class: str = "",
                    chunk_size: int = 0) -> "_core.File":
        """A new file, opened for writing: the native handle (positioned I/O, ``write_many``).
        Exclusive: an existing ``path`` is FileExistsError. ``object_class`` (e.g. ``"SX"``)
        and ``chunk_size`` apply on DAOS ("" / 0: the container's defaults)."""
        return self.native.open(path, True, True, False, True, mode & 0o7777, object_class, chunk_size)

    def drop_clean_cache(self, path: str) -> bool:
        """Drops file ``path``'s cached pages where all are clean (the data stays on disk), so
        that a file about to be superseded frees its memory; best effort (False where nothing
        was dropped: DAOS caches no file data on the client, a vanished file, dirty pages)."""
        try:
            f = self.native.open(path)
        except (OSError, ValueError):
            return False
        try:
            return bool(f.drop_clean_cache())
        except (OSError, ValueError):
            return False
        finally:
            f.close()

    def open_file(self, path: str) -> "_core.File":
        """The native read handle of an existing file (positioned reads, ``size()``)."""
        return self.native.open(path)

    # -- lifetime
    def close(self) -> None:
        """Disconnects (only the process that connected disconnects the pool handle; on DAOS a
        connection whose handle was handed to other processes stays until this one exits)."""
        if self._native is not None and self._pid == os.getpid():
            self._native.disconnect()
        self._native = None

    def __enter__(self) -> "Container":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class RawFile(io.RawIOBase):
    """Unbuffered positioned I/O on a native file; wrap in io.Buffered* (open() does)."""

    def __init__(self, native: "_core.File", mode: str):
        super().__init__()
        self._f = native
        self._mode = mode
        self._pos = 0
        self.name = native.path

    @property
    def mode(self) -> str:
        return self._mode

    def readable(self) -> bool:
        return self._mode in ("rb", "r+b")

    def writable(self) -> bool:
        return self._mode != "rb"

    def seekable(self) -> bool:
        return True

    def readinto(self, b: Buffer) -> int:
        self._check_closed()
        if not self.readable():
            raise io.UnsupportedOperation("file not open for reading")
        n = self._f.read_into(b, self._pos, True)
        self._pos += n
        return n

    def write(self, b: Buffer) -> int:
        self._check_closed()
        if not self.writable():
            raise io.UnsupportedOperation("file not open for writing")
        n = self._f.write(b, self._pos)
        self._pos += n
        return n

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._check_closed()
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self._f.size() + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if pos < 0:
            raise ValueError(f"negative seek position {pos}")
        self._pos = pos
        return pos

    def tell(self) -> int:
        return self._pos

    def truncate(self, size: Optional[int] = None) -> int:
        self._check_closed()
        size = self._pos if size is None else size
        self._f.truncate(size)
        return size

    def fileno(self) -> int:
        raise io.UnsupportedOperation("DAOS files have no file descriptor")

    def fsync(self) -> None:
        """local: fsync(2). dfs: a no-op, as in DAOS (completed writes are durable)."""
        self._f.sync()

    def close(self) -> None:
        if not self.closed:
            try:
                self._f.close()
            finally:
                super().close()

    def _check_closed(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed file")


class _ProgressPrinter:
    """Prints scan progress to stderr once a scan has run for more than two seconds."""

    def __init__(self, path: str):
        self._path = path
        self._start = time.monotonic()
        self._shown = False

    def __call__(self, dirs: int, files: int) -> None:
        elapsed = time.monotonic() - self._start
        if elapsed < 2 and not self._shown:
            return
        self._shown = True
        rate = files / elapsed if elapsed > 0 else 0.0
        print(f"\rscanning {self._path}: {dirs} directories, {files} files ({rate:,.0f} files/s)",
              end="", file=sys.stderr, flush=True)


__all__ = ["connect", "parse_uri", "Container", "Location", "RawFile", "StatResult"]
_ = Tuple
