"""Files of the ``daos`` protocol: :class:`NewFile`, a file written under a hidden name and
given its own on commit (whole, never half-written), and :class:`DaosFile`, fsspec's
buffered file over it (``wb``/``xb``) or over ranged native reads (``rb``)."""
from __future__ import annotations

import posixpath
import uuid
from typing import TYPE_CHECKING, Any, Optional, Sequence

from fsspec.spec import AbstractBufferedFile

from ..container import Container

if TYPE_CHECKING:
    from .filesystem import DaosFileSystem

TMP_MARK = ".fsspec-tmp-"  # hidden temporaries: ".NAME.fsspec-tmp-<hex>"


class NewFile:
    """``path`` being written: the data goes to a hidden temporary beside it; :meth:`commit`
    renames it onto ``path`` (``exclusive``: only if ``path`` is still free, FileExistsError
    otherwise), :meth:`discard` removes it. Writes are positioned, many in flight."""

    def __init__(self, c: Container, path: str, *, exclusive: bool = False, fsync: bool = False):
        self.c, self.path, self.exclusive, self.fsync = c, path, exclusive, fsync
        parent, name = posixpath.split(path)
        if not name:
            raise IsADirectoryError(21, "not a file name", path)
        if exclusive and c.exists(path):
            raise FileExistsError(17, "file exists (mode 'x')", path)
        if parent != "/":
            c.mkdirs(parent)  # parents appear as on object stores (fsspec's auto_mkdir)
        self.tmp = posixpath.join(parent, f".{name}{TMP_MARK}{uuid.uuid4().hex[:12]}")
        self.f: Any = c.create_file(self.tmp)
        self._depth = 1 if c.profile.serial_writes else max(2, c.profile.cpu_threads)
        self._piece = c.profile.piece_size

    def write_at(self, data: Any, offset: int) -> None:
        mv = memoryview(data).cast("B")
        n = len(mv)
        if n > self._piece:  # large: in pieces, several in flight (GIL released)
            starts = range(0, n, self._piece)
            self.f.write_many([mv[s:s + self._piece] for s in starts], [offset + s for s in starts], self._depth)
        elif n:
            self.f.write(mv, offset)

    def write_many(self, bufs: Sequence[Any], offsets: Sequence[int]) -> None:
        self.f.write_many(list(bufs), list(offsets), self._depth)

    def commit(self) -> None:
        try:
            if self.fsync:
                self.f.sync()
            self.f.close()
            if self.exclusive:
                if self.c.keep_as(self.tmp, self.path):  # local: a link; the temporary stays
                    self.c.remove(self.tmp)
            else:
                self.c.rename(self.tmp, self.path)
        except BaseException:
            self.discard()
            raise

    def discard(self) -> None:
        try:
            self.f.close()
        except OSError:
            pass
        try:
            self.c.remove(self.tmp)
        except FileNotFoundError:
            pass


class DaosFile(AbstractBufferedFile):
    """fsspec's buffered file on a container. ``rb``: ranged native reads of one open
    handle through fsspec's block cache; a ``readinto`` of a block or more goes straight into
    the caller's buffer. ``wb``/``xb``: blocks written as they fill, the file committed whole
    on ``close`` (or by ``commit()`` inside an fsspec transaction); leaving a ``with`` block by
    an exception discards it."""

    def __init__(self, fs: "DaosFileSystem", path: str, mode: str = "rb", block_size: Any = "default",
                 autocommit: bool = True, cache_type: str = "readahead", cache_options: Optional[dict] = None,
                 **kwargs: Any):
        self._place = fs._place(path)
        self._c = fs._container(self._place)
        self._handle: Any = None
        self._new: Optional[NewFile] = None
        if mode not in ("rb", "wb", "xb"):
            raise ValueError(f"unsupported mode {mode!r} for {path}: use 'rb', 'wb' or 'xb'")
        if mode == "xb" and self._c.exists(self._place.path):
            raise FileExistsError(17, "file exists (mode 'x')", path)
        super().__init__(fs, path, mode=mode, block_size=block_size, autocommit=autocommit,
                         cache_type=cache_type, cache_options=cache_options, **kwargs)

    # -- reading
    def _native(self) -> Any:
        if self._handle is None:
            self._handle = self._c.open_file(self._place.path)
        return self._handle

    def _fetch_range(self, start: int, end: int) -> bytes:
        end = min(end, self.size)
        if end <= start:
            return b""
        return self._c.native.read_ranges([self._place.path], [start], [end - start])[0]

    def read(self, length: int = -1) -> bytes:
        """A read of a block or more (pyarrow's column chunks) is one native read into a new
        bytes object, past the cache; smaller ones go through fsspec's block cache."""
        if self.mode == "rb" and not self.closed:
            n = (self.size - self.loc) if length is None or length < 0 else min(length, self.size - self.loc)
            if n >= self.blocksize:
                b = self._fetch_range(self.loc, self.loc + n)
                self.loc += len(b)
                return b
        return super().read(length)

    def readinto(self, b: Any) -> int:
        if self.mode != "rb":
            raise ValueError("File not in read mode")
        mv = memoryview(b).cast("B")
        n = min(len(mv), max(0, self.size - self.loc))
        if n < self.blocksize:
            return super().readinto(b)
        got = self._native().read_into(mv[:n], self.loc, True)
        self.loc += got
        return got

    # -- writing
    def _initiate_upload(self) -> None:
        self._new = NewFile(self._c, self._place.path, exclusive=self.mode == "xb",
                            fsync=getattr(self.fs, "fsync", False))

    def _upload_chunk(self, final: bool = False) -> bool:
        if self._new is None:
            self._initiate_upload()
        assert self._new is not None
        self._new.write_at(self.buffer.getbuffer(), self.offset)
        if final and self.autocommit:
            self.commit()
        return True

    def commit(self) -> None:
        if self._new is None:  # nothing was flushed: an empty file
            self._initiate_upload()
        assert self._new is not None
        self._new.commit()
        self.fs.invalidate_cache(self._place.url())

    def discard(self) -> None:
        if self._new is not None:
            self._new.discard()
            self._new = None

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self._handle is not None:
                self._handle.close()
                self._handle = None

    def __exit__(self, exc_type: Any, *rest: Any) -> None:
        if exc_type is not None and self.mode != "rb" and not self.closed:
            self.discard()  # never half-written: the name keeps what it had
            self.closed = True
            return
        self.close()

