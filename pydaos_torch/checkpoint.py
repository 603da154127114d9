"""Checkpoints in a container: DAOS's pydaos.torch ``Checkpoint``, committed atomically.

**Never overwritten in place.** ``writer("model.pt")`` writes a temporary hidden file, then commits
it by renaming it to a new version name, ``.model.pt.ckpt-v<N>``, which did not exist (so the
rename replaces nothing: ``dfs_move`` over an existing target would punch the target first).
Readers open the newest version. After a commit, older versions are removed (``keep_versions``
are kept). A crash or an exception at any point leaves the previous version current, and nothing
partial under the name. A plain file ``model.pt`` (written by pydaos.torch or any other tool) is
read when no version exists.

**Crash inside the commit.** Without DTX, ``dfs_move`` inserts the new name before it removes the
old one, so a crash in between leaves two names on one object, and removing either one
(``dfs_remove`` punches the object) empties the other; DFS has no call that drops a name
without punching, and ``dfs_stat`` gives no object identity. So the commit takes two moves:
temporary -> pending name that carries N (``.model.pt.ckpt-pending-v<N>-...``) -> version N.
A dead writer's temporary can then only share its object with its pending name (uncommitted),
and a dead writer's pending name only with version N: the clean-up removes temporaries, and a
pending name only while version N does not exist (once version N is collected, the pending
name goes with the next clean-up).

**Multi-rank checkpoints**: every rank writes its files under one directory (a "tag"), then calls
:meth:`Checkpoint.commit`; the commit marker ``<tag>/.ckpt-commit`` is written once every rank has
called it. :meth:`list` and :meth:`latest` report only committed tags.

**Durability**: ``fsync=True`` makes the writer sync its data before the commit. On the local
backend that is ``fsync(2)`` of the file (the commit rename is as durable as the file system
makes renames); while the file is written, the core queues each written range for writeback
(``File.start_writeback``: ``sync_file_range(SYNC_FILE_RANGE_WRITE)``), so the disk works during
serialization. On DAOS it calls ``dfs_sync``, which does nothing: DAOS has no client cache, a
completed ``dfs_write`` is already durable on the servers, so there is nothing to flush.
"""
from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import posixpath
import re
import socket
import stat
import time
import uuid
from typing import Any, BinaryIO, List, Optional, Tuple, Union

from ._ckpt_writer import BufferPool, CheckpointWriter
from ._sharding import rank_world
from ._source import ContainerLike, open_container
from .container import Container
from .io_profile import IOProfile

DEFAULT_CHUNK_SIZE = 64 * 1024 * 1024
DEFAULT_CHUNKS_LIMIT = 0  # pydaos.torch's value; here 0 means the default bound, 2 x workers
DEFAULT_MODE = stat.S_IFREG | stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP | stat.S_IROTH
MARKER = ".ckpt-commit"

_VERSION = re.compile(r"^\.(?P<base>.+)\.ckpt-v(?P<n>\d+)$")
_TMP = re.compile(r"^\.(?P<base>.+)\.ckpt-tmp-(?P<host>[0-9a-f]{8})-(?P<pid>\d+)-[0-9a-f]{8}$")
_PENDING = re.compile(r"^\.(?P<base>.+)\.ckpt-pending-v(?P<n>\d+)-(?P<host>[0-9a-f]{8})-(?P<pid>\d+)-[0-9a-f]{8}$")
_RANK = re.compile(r"^\.ckpt-rank-(\d+)-of-(\d+)$")
_HOST = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]

NAME_MAX = 255  # bytes in one name, on DAOS (DFS_MAX_NAME) as on Linux file systems

# Tests set this to crash the process at a named step (os._exit), see tests/test_checkpoint_crash.py.
_test_hook = None


def _step(name: str) -> None:
    if _test_hook is not None:
        _test_hook(name)


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
    :func:`pydaos_torch.connect`), ``fsync`` (see the module docstring), ``keep_versions``.
    """

    def __init__(self, pool: Union[str, Container, None] = None, cont: ContainerLike = None,
                 prefix: str = os.sep, mode: int = DEFAULT_MODE, open_flags: int = os.O_CREAT | os.O_RDWR,
                 class_name: str = "OC_UNKNOWN", file_chunk_size: int = 0,
                 transfer_chunk_size: int = DEFAULT_CHUNK_SIZE, chunks_limit: int = DEFAULT_CHUNKS_LIMIT,
                 workers: int = 4, *, container: ContainerLike = None, backend: str = "auto",
                 root: Optional[str] = None, fsync: bool = False, keep_versions: int = 1,
                 profile: Optional[IOProfile] = None):
        if transfer_chunk_size < 0 or file_chunk_size < 0 or chunks_limit < 0:
            raise ValueError("transfer_chunk_size, file_chunk_size and chunks_limit must be >= 0")
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        if keep_versions < 1:
            raise ValueError(f"keep_versions must be >= 1, got {keep_versions}")
        self._c, self._owns, uri_path = open_container(pool, cont, container, backend=backend, root=root,
                                                       read_only=False)
        if uri_path not in (None, "/") and prefix == os.sep:
            prefix = uri_path
        self.prefix = "/" + posixpath.normpath("/" + prefix).strip("/")
        self.mode = mode
        self.open_flags = open_flags
        self.class_name = class_name
        self.file_chunk_size = file_chunk_size
        self.transfer_chunk_size = transfer_chunk_size
        self.chunks_limit = chunks_limit or 2 * workers
        self.workers = workers
        self._profile = profile
        self.fsync = fsync
        self.keep_versions = keep_versions
        self._buffers = BufferPool(transfer_chunk_size, self.chunks_limit) if transfer_chunk_size else None

    @property
    def container(self) -> Container:
        if self._c is None:
            raise ValueError("checkpoint is closed")
        return self._c

    @property
    def profile(self) -> IOProfile:
        """The I/O profile the writers and readers follow: ``profile=`` when given, else the
        container's (decided by its storage)."""
        return self._profile or self.container.profile

    # -- names
    def _full(self, name: str) -> str:
        # os.path.join semantics, as in pydaos.torch: an absolute name ignores the prefix
        if not name:
            raise ValueError("empty checkpoint name")
        return "/" + posixpath.normpath(posixpath.join(self.prefix, name)).lstrip("/")

    def _listdir(self, d: str) -> List[Tuple[str, bool]]:
        try:
            return self.container.native.listdir(d)
        except (FileNotFoundError, NotADirectoryError):
            return []

    def _versions(self, path: str, entries: Optional[List[Tuple[str, bool]]] = None) -> List[int]:
        d, base = posixpath.split(path)
        entries = self._listdir(d) if entries is None else entries
        out = []
        for n, is_dir in entries:
            m = _VERSION.match(n)
            if m and not is_dir and m.group("base") == base:
                out.append(int(m.group("n")))
        return sorted(out)

    @staticmethod
    def _version_path(path: str, n: int) -> str:
        d, base = posixpath.split(path)
        return posixpath.join(d, f".{base}.ckpt-v{n:08d}")

    def _resolve(self, name: str) -> str:
        """The container path holding the current data of checkpoint ``name``."""
        path = self._full(name)
        versions = self._versions(path)
        if versions:
            return self._version_path(path, versions[-1])
        try:
            st = self.container.stat(path)
        except FileNotFoundError:
            raise FileNotFoundError(errno.ENOENT, "no committed checkpoint", path) from None
        if st.is_dir:
            raise IsADirectoryError(errno.EISDIR, "a checkpoint directory (tag), not a file", path)
        return path

    # -- writing
    def writer(self, file: str, ensure_path: bool = True, *, fsync: Optional[bool] = None) -> CheckpointWriter:
        """A file object for ``torch.save``; committed atomically by ``close()`` (or the end of a
        ``with`` block), discarded on an exception. ``ensure_path`` creates missing directories."""
        path = self._full(file)
        d, base = posixpath.split(path)
        if self.open_flags & os.O_EXCL and self.exists(file):
            raise FileExistsError(errno.EEXIST, "checkpoint exists (O_EXCL)", path)
        if ensure_path and d != "/":
            self.container.mkdirs(d)
        tmp = posixpath.join(d, f".{base}.ckpt-tmp-{_HOST}-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        longest = len(posixpath.basename(self._pending_path(tmp, 0)).encode())
        if longest > NAME_MAX:  # refused before anything is written, not at the commit
            raise OSError(errno.ENAMETOOLONG, f"checkpoint name too long: its commit takes a name of "
                          f"{longest} bytes (at most {NAME_MAX})", path)
        profile = self.profile
        if profile.client_cache:
            self._drop_superseded_cache(path)
        oclass = "" if self.class_name in ("", "OC_UNKNOWN") else self.class_name
        f = self.container.native.open(tmp, True, True, False, True, self.mode & 0o7777, oclass,
                                       self.file_chunk_size)
        sync = self.fsync if fsync is None else fsync

        def commit() -> None:
            self._commit_version(path, tmp)

        def abort() -> None:
            try:
                self.container.remove(tmp)
            except FileNotFoundError:
                pass

        return CheckpointWriter(f, path, chunk_size=self.transfer_chunk_size, chunks_limit=self.chunks_limit,
                                workers=self.workers, profile=profile, buffers=self._buffers, fsync=sync,
                                commit=commit, abort=abort)

    def _drop_superseded_cache(self, path: str) -> None:
        """Where the client caches file data: before a new version of ``path`` is written, drops
        the cached pages of the versions that its commit will remove (``keep_versions``), when
        those pages are clean (the native ``File.drop_clean_cache``). The files stay intact (the
        previous version is still current until the commit); only their cached copy goes. The
        new version then takes the memory just freed, as ``torch.save`` overwriting a file in
        place does, instead of fresh memory: less pressure on the data sets' cache, and less
        kernel time where fresh memory is dear (VMs whose free memory goes back to the host).
        Best effort: any error is ignored."""
        try:
            versions = self._versions(path)
            doomed = [v for v in versions if v <= versions[-1] + 1 - self.keep_versions] if versions else []
            for v in doomed:
                f = self.container.native.open(self._version_path(path, v))
                try:
                    f.drop_clean_cache()
                finally:
                    f.close()
        except (OSError, ValueError):
            pass

    def _commit_version(self, path: str, tmp: str) -> None:
        _step("before_commit")
        d = posixpath.dirname(path)
        entries = self._listdir(d)
        n = (self._versions(path, entries) or [0])[-1] + 1
        target = self._version_path(path, n)
        while self.container.exists(target):  # a concurrent writer took n
            n += 1
            target = self._version_path(path, n)
        pending = self._pending_path(tmp, n)
        self._move_uncommitted(tmp, pending)
        _step("after_pending")
        self._move_to_version(pending, target)  # the commit: target is a new name
        _step("after_commit")
        try:
            self._collect(path, n, entries)
        except OSError:
            pass  # garbage stays hidden; the next commit or remove() takes it

    @staticmethod
    def _pending_path(tmp: str, n: int) -> str:
        """The temporary's name with the version it becomes: ``.<base>.ckpt-pending-v<N>-<host>-<pid>-<id>``."""
        head, _, writer_id = tmp.rpartition(".ckpt-tmp-")
        return f"{head}.ckpt-pending-v{n:08d}-{writer_id}"

    def _move_uncommitted(self, tmp: str, pending: str) -> None:
        try:
            self.container.rename(tmp, pending)
        except BaseException:
            self._discard_quietly(pending)  # a move cut short may have made it; nothing committed
            raise

    def _move_to_version(self, pending: str, target: str) -> None:
        try:
            self.container.rename(pending, target)
        except BaseException:
            # Cut short after its insert, the move left both names on one object: then the
            # pending name stays (removing it would punch the version) until this process ends
            # and a later clean-up finds the version gone.
            try:
                if not self.container.exists(target):
                    self._discard_quietly(pending)
            except OSError:
                pass
            raise

    def _discard_quietly(self, p: str) -> None:
        """Removes p while an error is being raised: a second error must not hide the first."""
        try:
            self.container.remove(p)
        except OSError:
            pass

    def _collect(self, path: str, newest: int, entries: List[Tuple[str, bool]]) -> None:
        for v in self._versions(path, entries):
            if v <= newest - self.keep_versions:
                _step("collect")
                self._remove_quiet(self._version_path(path, v))
        base, d = posixpath.basename(path), posixpath.dirname(path)
        for n, _ in entries:  # leftovers of writers on this host that died
            if self._dead_leftover(n, base) and not self._may_share_a_version(path, n):
                self._remove_quiet(posixpath.join(d, n))

    @staticmethod
    def _dead_leftover(name: str, base: str) -> bool:
        m = _TMP.match(name) or _PENDING.match(name)
        return bool(m) and m.group("base") == base and m.group("host") == _HOST and not _alive(int(m.group("pid")))

    def _may_share_a_version(self, path: str, name: str) -> bool:
        """Whether a dead writer's pending name may refer to the object of version N (its
        move to N was cut after the insert): then removing it would punch that version. Asked
        now, not from the listing: the writer may have inserted N after the listing."""
        m = _PENDING.match(name)
        return bool(m) and self.container.exists(self._version_path(path, int(m.group("n"))))

    def _remove_quiet(self, p: str) -> None:
        try:
            self.container.remove(p)
        except FileNotFoundError:
            pass

    def save(self, obj: Any, name: str, *, fsync: Optional[bool] = None, **torch_save_kw: Any) -> None:
        """``torch.save(obj)`` into checkpoint ``name``, committed atomically."""
        import torch
        with self.writer(name, fsync=fsync) as w:
            torch.save(obj, w, **torch_save_kw)

    # -- reading
    def reader(self, file: str, stream: Optional[BinaryIO] = None) -> BinaryIO:
        """The newest committed version of ``file``: a seekable file object reading ranges on
        demand (``torch.load`` takes it). With ``stream`` (pydaos.torch's form), the whole file is
        copied into ``stream``, which is rewound and returned."""
        path = self._resolve(file)
        f = self.container.native.open(path)
        raw = _RangeReader(self.container, f, path, self.workers)
        if stream is None:
            return io.BufferedReader(raw, self.profile.read_buffer)
        try:
            chunk = self.transfer_chunk_size or DEFAULT_CHUNK_SIZE
            buf = bytearray(min(chunk, max(1, f.size())))
            while True:
                n = raw.readinto(buf)
                if not n:
                    break
                stream.write(memoryview(buf)[:n])
        finally:
            raw.close()
        stream.seek(0)
        return stream

    def load(self, name: str, map_location: Any = None, **torch_load_kw: Any) -> Any:
        """``torch.load`` of checkpoint ``name`` (keyword arguments go to torch.load)."""
        import torch
        with self.reader(name) as r:
            return torch.load(r, map_location=map_location, **torch_load_kw)

    # -- multi-rank checkpoints
    def commit(self, tag: str, *, rank: Optional[int] = None, world_size: Optional[int] = None,
               timeout: float = 600.0, wait: bool = False) -> bool:
        """Called by every rank once its files under directory ``tag`` are written (closed):
        records this rank; rank 0 waits for every rank, then writes the commit marker.
        ``wait=True`` makes the other ranks wait for the marker too. Returns True once the
        marker exists (always on rank 0). Rank/size: see ``_sharding.rank_world``. A tag is
        committed once; to redo an attempt that failed, :meth:`remove` the tag first."""
        rank, world = rank_world(rank, world_size)
        d = self._full(tag)
        self.container.mkdirs(d)
        record = posixpath.join(d, f".ckpt-rank-{rank}-of-{world}")
        try:
            self.container.native.open(record, True, True, False, True, 0o644, "", 0).close()
        except FileExistsError:
            pass
        marker = posixpath.join(d, MARKER)
        if rank != 0:
            return self._poll(lambda: self.container.exists(marker), timeout, d) if wait else \
                self.container.exists(marker)

        def all_ranks() -> bool:
            done = {int(m.group(1)) for m in (_RANK.match(n) for n, _ in self._listdir(d))
                    if m and int(m.group(2)) == world}
            return len(done) == world

        self._poll(all_ranks, timeout, d)
        if not self.container.exists(marker):
            tmp = posixpath.join(d, f".ckpt-commit-tmp-{uuid.uuid4().hex[:8]}")
            info = json.dumps({"world_size": world, "time": time.time(), "host": socket.gethostname()}).encode()
            f = self.container.native.open(tmp, True, True, False, True, 0o644, "", 0)
            try:
                f.write(info, 0)
            finally:
                f.close()
            _step("before_marker")
            self.container.rename(tmp, marker)
        return True

    @staticmethod
    def _poll(cond, timeout: float, what: str) -> bool:
        deadline, delay = time.monotonic() + timeout, 0.01
        while not cond():
            if time.monotonic() >= deadline:
                raise TimeoutError(f"checkpoint {what}: not every rank committed within {timeout} s")
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
        return True

    def committed(self, tag: str) -> bool:
        """Whether the multi-rank checkpoint ``tag`` has its commit marker."""
        return self.container.exists(posixpath.join(self._full(tag), MARKER))

    # -- the catalogue
    def list(self, path: str = "") -> List[str]:
        """Committed checkpoints directly under ``prefix/path``: files with a committed version,
        plain files, and directories (tags) with a commit marker. Sorted by name."""
        d = self._full(path) if path else self.prefix
        out = set()
        for n, is_dir in self._listdir(d):
            m = _VERSION.match(n)
            if is_dir:
                if self.container.exists(posixpath.join(d, n, MARKER)):
                    out.add(n)
            elif m:
                out.add(m.group("base"))
            elif not n.startswith("."):
                out.add(n)
        return sorted(out)

    def latest(self, path: str = "") -> Optional[str]:
        """The most recently committed checkpoint under ``prefix/path`` (or None)."""
        best: Optional[Tuple[int, str]] = None
        for name in self.list(path):
            rel = posixpath.join(path, name) if path else name
            full = self._full(rel)
            try:
                try:
                    data = self._resolve(rel)
                except IsADirectoryError:
                    data = posixpath.join(full, MARKER)
                when = self.container.stat(data).mtime_ns
            except FileNotFoundError:
                continue
            if best is None or (when, name) > best:
                best = (when, name)
        return None if best is None else best[1]

    def exists(self, name: str) -> bool:
        """Whether ``name`` has a committed checkpoint (file or tag)."""
        path = self._full(name)
        if self._versions(path):
            return True
        try:
            st = self.container.stat(path)
        except FileNotFoundError:
            return False
        return self.committed(name) if st.is_dir else True

    def remove(self, name: str) -> None:
        """Removes checkpoint ``name``: every version, or a whole tag (its marker first)."""
        path = self._full(name)
        d, base = posixpath.split(path)
        entries = self._listdir(d)
        found = False
        for n, is_dir in entries:
            if n == base and is_dir:
                self._remove_quiet(posixpath.join(path, MARKER))
                self.container.remove(path, recursive=True)
                return
        for v in self._versions(path, entries):  # oldest first: the newest stays current until last
            self._remove_quiet(self._version_path(path, v))
            found = True
        for n, _ in entries:  # after the versions: a pending name may share one's object
            m = _TMP.match(n) or _PENDING.match(n)
            if m and m.group("base") == base:
                self._remove_quiet(posixpath.join(d, n))
        if any(n == base for n, _ in entries):
            self.container.remove(path)
            found = True
        if not found:
            raise FileNotFoundError(errno.ENOENT, "no such checkpoint", path)

    # -- lifetime
    def close(self) -> None:
        c, self._c = self._c, None
        if c is not None and self._owns:
            c.close()

    def __enter__(self) -> "Checkpoint":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<pydaos_torch.Checkpoint {self.prefix!r} of {self._c!r}>"


class _RangeReader(io.RawIOBase):
    """Positioned reads of one file: small ones on the open handle; large ones (``LARGE`` or
    more) cut into up to ``depth`` ranges of at least ``PIECE`` bytes, read by one parallel
    native batch read straight into the caller's buffer. (torch.load reads each tensor into
    fresh memory: its page faults, which cost more than the copy, then run on several CPUs.)"""

    LARGE = 4 << 20
    PIECE = 2 << 20

    def __init__(self, c: Container, f: Any, path: str, depth: int):
        super().__init__()
        self._c, self._f, self.name, self._depth = c, f, path, depth
        self._pos = 0
        self._size = f.size()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if self.closed:
            raise ValueError("I/O operation on closed file")
        mv = memoryview(b).cast("B")
        n = min(len(mv), max(0, self._size - self._pos))
        if n == 0:
            return 0
        k = min(self._depth, n // self.PIECE) if n >= self.LARGE else 1
        if k > 1:
            step = -(-n // k)
            cuts = list(range(0, n, step))
            lens = [min(n, a + step) - a for a in cuts]
            counts = self._c.read_batch([self.name] * len(cuts), [mv[a:a + m] for a, m in zip(cuts, lens)],
                                        [self._pos + a for a in cuts], up_to=True, depth=len(cuts))
            got = 0
            for m, g in zip(lens, counts):  # a short range (the file shrank) ends what was read
                got += g
                if g < m:
                    break
        else:
            got = self._f.read_into(mv[:n], self._pos, True)
        self._pos += got
        return got

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}.get(whence)
        if base is None:
            raise ValueError(f"invalid whence {whence}")
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._pos = base + offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        if not self.closed:
            try:
                self._f.close()
            finally:
                super().close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
