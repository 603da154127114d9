"""``Checkpoint``: DAOS pydaos.torch's checkpoint API, committed atomically (versions.py)."""
from __future__ import annotations

import errno
import os
import stat
from typing import Any, BinaryIO, Callable, List, Optional, Set, Tuple, Union

from .._sharding import rank_world
from .._source import ContainerLike, open_container
from ..container import Container
from ..io_profile import IOProfile
from . import naming, tags
from .reader import CheckpointReader, RangeReader, copy_into
from .versions import Versions, list_dir
from .writer import BufferPool, CheckpointWriter

DEFAULT_CHUNK_SIZE = 64 * 1024 * 1024
DEFAULT_CHUNKS_LIMIT = 0  # pydaos.torch's value; here 0 means the default bound, 2 x workers
DEFAULT_MODE = stat.S_IFREG | stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP | stat.S_IROTH


class Checkpoint:
    """Saves and loads checkpoints under ``prefix`` of a container.

    pydaos.torch parameters: ``mode`` (permission bits of new files), ``open_flags``
    (``os.O_EXCL`` makes :meth:`writer` refuse a name that already has a checkpoint; the others
    are implied: a writer always writes a new version), ``class_name`` (DAOS object class of new
    files, ``"OC_UNKNOWN"`` = the container's default), ``file_chunk_size`` (DAOS array chunk
    size, 0 = default), ``transfer_chunk_size`` (bytes per streamed write; 0 = keep the whole file
    in memory and write it at close), ``chunks_limit`` (chunk buffers per writer, so memory is at
    most ``transfer_chunk_size * chunks_limit``; 0 = 2 x ``workers``), ``workers`` (writes and
    reads in flight). Also: ``container=`` (alias of ``cont``), ``backend``/``root`` (see
    :func:`pydaos_torch.connect`), ``fsync`` (durability: see writer.py), ``keep_versions``.
    """

    def __init__(self, pool: Union[str, Container, None] = None, cont: ContainerLike = None,
                 prefix: str = os.sep, mode: int = DEFAULT_MODE, open_flags: int = os.O_CREAT | os.O_RDWR,
                 class_name: str = "OC_UNKNOWN", file_chunk_size: int = 0,
                 transfer_chunk_size: int = DEFAULT_CHUNK_SIZE, chunks_limit: int = DEFAULT_CHUNKS_LIMIT,
                 workers: int = 4, *, container: ContainerLike = None, backend: str = "auto",
                 root: Optional[str] = None, fsync: bool = False, keep_versions: int = 1,
                 profile: Optional[IOProfile] = None):
        self._c: Optional[Container] = None
        if transfer_chunk_size < 0 or file_chunk_size < 0 or chunks_limit < 0:
            raise ValueError("transfer_chunk_size, file_chunk_size and chunks_limit must be >= 0")
        if workers < 0:
            raise ValueError(f"workers must be >= 0, got {workers}")
        if keep_versions < 1:
            raise ValueError(f"keep_versions must be >= 1, got {keep_versions}")
        self._c, self._owns, uri_path = open_container(pool, cont, container, backend=backend, root=root,
                                                       read_only=False)
        if uri_path not in (None, "/") and prefix == os.sep:
            prefix = uri_path
        self.prefix = naming.full_path("/", prefix)
        self.mode = mode
        self.open_flags = open_flags
        self.class_name = class_name
        self.file_chunk_size = file_chunk_size
        self.transfer_chunk_size = transfer_chunk_size
        self.workers = workers or 1  # pydaos.torch's 0 (no worker processes): writes from the caller
        self.chunks_limit = chunks_limit or 2 * self.workers
        self._users = 0  # open readers and writers: close() waits for them (see close)
        self._closing = False
        self._profile = profile
        self.fsync = fsync
        self.keep_versions = keep_versions
        self._buffers = BufferPool(transfer_chunk_size, self.chunks_limit) if transfer_chunk_size else None

    @property
    def container(self) -> Container:
        if self._c is None or self._closing:
            raise ValueError("checkpoint is closed")
        return self._c

    def _lease(self) -> Callable[[], None]:
        """A reader or writer starts using the connection; the function returned (idempotent)
        ends that use."""
        self._users += 1
        done = [False]

        def release() -> None:
            if not done[0]:
                done[0] = True
                self._users -= 1
                if self._closing and self._users == 0:
                    self._really_close()
        return release

    @property
    def profile(self) -> IOProfile:
        """The I/O profile the writers and readers follow: ``profile=`` when given, else the
        container's (decided by its storage)."""
        return self._profile or self.container.profile

    def _full(self, name: str) -> str:
        return naming.full_path(self.prefix, name)

    def _versions(self, name: str) -> Versions:
        return Versions(self.container, self._full(name), self.keep_versions)

    def _resolve(self, name: str) -> str:
        """The container path holding the current data of checkpoint ``name``."""
        v = self._versions(name)
        entries = v.listing()
        current = v.current(entries)
        if current is not None:
            return current
        if any(e.name == v.base and e.is_dir for e in entries):
            raise IsADirectoryError(errno.EISDIR, "a checkpoint directory (tag), not a file", v.path)
        raise FileNotFoundError(errno.ENOENT, "no committed checkpoint", v.path)

    # -- writing
    def writer(self, file: str, ensure_path: bool = True, *, fsync: Optional[bool] = None) -> CheckpointWriter:
        """A file object for ``torch.save``; committed atomically by ``close()`` (or the end of a
        ``with`` block), discarded on an exception. ``ensure_path`` creates missing directories."""
        v = self._versions(file)
        if naming.longest_name(v.path) > naming.NAME_MAX:  # refused before anything is written
            raise OSError(errno.ENAMETOOLONG, f"checkpoint name too long: its commit takes a name of "
                          f"{naming.longest_name(v.path)} bytes (at most {naming.NAME_MAX})", v.path)
        entries = v.listing()  # the one listing of this save
        if self.open_flags & os.O_EXCL and (v.exists(entries) or any(e.name == v.base for e in entries)):
            raise FileExistsError(errno.EEXIST, "checkpoint exists (O_EXCL)", v.path)
        if ensure_path and v.dir != "/":
            self.container.mkdirs(v.dir)
        profile = self.profile
        if profile.client_cache:
            v.drop_cached(entries)
        tmp = naming.temp_path(v.path)
        oclass = "" if self.class_name in ("", "OC_UNKNOWN") else self.class_name
        f = self.container.create_file(tmp, mode=self.mode, object_class=oclass, chunk_size=self.file_chunk_size)
        release = self._lease()

        def commit() -> None:
            try:
                v.commit(tmp, entries)
            finally:
                release()

        def abort() -> None:
            try:
                v.discard(tmp)
            finally:
                release()

        return CheckpointWriter(f, v.path, chunk_size=self.transfer_chunk_size, chunks_limit=self.chunks_limit,
                                workers=self.workers, profile=profile, buffers=self._buffers,
                                fsync=self.fsync if fsync is None else fsync, commit=commit, abort=abort)

    def save(self, obj: Any, name: str, *, fsync: Optional[bool] = None, **torch_save_kw: Any) -> None:
        """``torch.save(obj)`` into checkpoint ``name``, committed atomically."""
        import torch
        with self.writer(name, fsync=fsync) as w:
            try:
                torch.save(obj, w, **torch_save_kw)
            except BaseException as e:
                raise_real_error(e, w.first_error)

    # -- reading
    def reader(self, file: str, stream: Optional[BinaryIO] = None) -> BinaryIO:
        """The newest committed version of ``file``: a seekable file object reading ranges on
        demand (``torch.load`` takes it). With ``stream`` (pydaos.torch's form), the whole file is
        copied into ``stream``, which is rewound and returned."""
        path = self._resolve(file)
        raw = RangeReader(self.container, self.container.open_file(path), path, self.workers)
        if stream is None:
            return CheckpointReader(raw, self.profile.read_buffer, self._lease())
        return copy_into(raw, stream, self.transfer_chunk_size or DEFAULT_CHUNK_SIZE)

    def load(self, name: str, map_location: Any = None, **torch_load_kw: Any) -> Any:
        """``torch.load`` of checkpoint ``name`` (keyword arguments go to torch.load)."""
        import torch
        with self.reader(name) as r:
            try:
                return torch.load(r, map_location=map_location, **torch_load_kw)
            except BaseException as e:
                raise_real_error(e, getattr(r, "first_error", None))

    # -- multi-rank checkpoints
    def commit(self, tag: str, *, rank: Optional[int] = None, world_size: Optional[int] = None,
               timeout: float = 600.0, wait: bool = False) -> bool:
        """Called by every rank once its files under directory ``tag`` are written (closed):
        records this rank; rank 0 waits for every rank, then writes the commit marker.
        ``wait=True`` makes the other ranks wait for the marker too. Returns True once the
        marker exists (always on rank 0). Rank/size: see ``_sharding.rank_world``. A tag is
        committed once; to redo an attempt that failed, :meth:`remove` the tag first."""
        rank, world = rank_world(rank, world_size)
        return tags.commit_tag(self.container, self._full(tag), rank, world, timeout=timeout, wait=wait)

    def committed(self, tag: str) -> bool:
        """Whether the multi-rank checkpoint ``tag`` has its commit marker."""
        return tags.committed(self.container, self._full(tag))

    # -- the catalogue
    def list(self, path: str = "") -> List[str]:
        """Committed checkpoints directly under ``prefix/path``: files with a committed version,
        plain files, and directories (tags) with a commit marker. Sorted by name."""
        d = self._full(path) if path else self.prefix
        out: Set[str] = set()
        for e in list_dir(self.container, d):
            m = naming.VERSION.match(e.name)
            if e.is_dir:
                if tags.committed(self.container, naming.full_path(d, e.name)):
                    out.add(e.name)
            elif m:
                out.add(m.group("base"))
            elif not e.name.startswith("."):
                out.add(e.name)
        return sorted(out)

    def latest(self, path: str = "") -> Optional[str]:
        """The most recently committed checkpoint under ``prefix/path`` (or None)."""
        best: Optional[Tuple[int, str]] = None
        for name in self.list(path):
            rel = naming.full_path(path, name) if path else name
            try:
                try:
                    data = self._resolve(rel)
                except IsADirectoryError:
                    data = naming.full_path(self._full(rel), naming.MARKER)
                when = self.container.stat(data).mtime_ns
            except FileNotFoundError:
                continue
            if best is None or (when, name) > best:
                best = (when, name)
        return None if best is None else best[1]

    def exists(self, name: str) -> bool:
        """Whether ``name`` has a committed checkpoint (file or tag)."""
        v = self._versions(name)
        entries = v.listing()
        if v.exists(entries):
            return True
        return any(e.name == v.base and e.is_dir for e in entries) and self.committed(name)

    def remove(self, name: str) -> None:
        """Removes checkpoint ``name``: every version, or a whole tag (its marker first)."""
        v = self._versions(name)
        if any(e.name == v.base and e.is_dir for e in v.listing()):
            try:
                self.container.remove(naming.full_path(v.path, naming.MARKER))
            except FileNotFoundError:
                pass
            self.container.remove(v.path, recursive=True)
            return
        v.remove()

    # -- lifetime
    def close(self) -> None:
        """Ends this checkpoint's use of the connection: at once, or once the readers and
        writers still open are closed (they keep what they need until then)."""
        self._closing = True
        if self._users == 0:
            self._really_close()

    def _really_close(self) -> None:
        c, self._c = self._c, None
        if c is not None and self._owns:
            c.close()

    def __enter__(self) -> "Checkpoint":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<pydaos_torch.Checkpoint {getattr(self, 'prefix', '?')!r} of {self._c!r}>"


def raise_real_error(seen: BaseException, first: Optional[BaseException]) -> None:
    """Raises what the storage raised (an OSError naming pool, container and path, or
    KeyboardInterrupt) rather than torch's error that replaced it ("unexpected pos", "read of
    closed file"); ``seen`` when the storage raised nothing."""
    if first is not None and first is not seen:
        raise first.with_traceback(first.__traceback__) from None
    if not isinstance(seen, (OSError, KeyboardInterrupt)):
        # Ctrl-C landing in torch's own code: torch's clean-up then fails ("unexpected pos")
        # and its error carries the KeyboardInterrupt as its context
        e = seen.__context__
        while e is not None:
            if isinstance(e, (KeyboardInterrupt, OSError)):
                raise e.with_traceback(e.__traceback__) from None
            e = e.__context__
    raise seen
