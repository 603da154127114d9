"""The checkpoint writer: a file object that streams full chunks to storage while it fills the next.

``write()`` copies into a chunk buffer of ``transfer_chunk_size`` bytes; each full chunk goes to a
background thread that writes every chunk ready at that moment in one native ``write_many``
call (GIL released; ``workers`` I/Os in flight, cut into 8 MiB pieces). At most ``chunks_limit``
chunk buffers exist (the one filling included), so memory is bounded by
``transfer_chunk_size * chunks_limit``; when all are in flight ``write()`` waits for one to come
back. Buffers are recycled (no fresh page faults per chunk).

The storage's I/O profile (``IOProfile``) sets the rest. A write of ``direct_write_min`` bytes
or more skips the chunk buffers: it is written from the caller's memory before ``write()``
returns (``_write_direct``), so a large tensor costs one copy (into the page cache / the
network) instead of two, and no buffer memory. Where buffered writes to one file serialize
(``serial_writes``), one write is in flight instead of ``workers``. Large writes go out in
pieces of ``piece_size``.

With ``fsync``, the disk is started on the data while the rest is still being serialized, so
that the final sync in ``close()`` only waits for the tail: where the client caches data
(``client_cache``) the background thread hands every written range to the native
``File.start_writeback`` (``sync_file_range(SYNC_FILE_RANGE_WRITE)``), which queues it for
writeback without waiting; elsewhere it syncs the file every ``SYNC_EVERY`` bytes it has
written. (On DAOS a sync is a no-op.)

The data goes to a temporary file; ``close()`` commits it (the ``commit`` callback renames it
to a new version: see versions.py). An exception inside ``with``, a failed write, or a writer
dropped without ``close()`` aborts: the temporary file is removed and nothing is committed.
"""
from __future__ import annotations

import io
import queue
import threading
from typing import Any, Callable, List, Optional, Tuple

from .._aligned import aligned_empty
from ..io_profile import IOProfile

SYNC_EVERY = 256 << 20


def _new_buffer(size: int) -> Any:
    """A chunk buffer: 2 MiB-aligned anonymous memory (huge pages where THP allows), not
    touched until filled; uint8 numpy array."""
    return aligned_empty(size)


class BufferPool:
    """Chunk buffers shared by the writers of one Checkpoint, at most ``limit`` kept."""

    def __init__(self, size: int, limit: int):
        self.size, self.limit = size, limit
        self._free: List[Any] = []
        self._lock = threading.Lock()

    def get(self) -> Any:
        with self._lock:
            if self._free:
                return self._free.pop()
        return _new_buffer(self.size)

    def put(self, buf: Any) -> None:
        with self._lock:
            if len(self._free) < self.limit and len(buf) == self.size:
                self._free.append(buf)


class _Flusher:
    """The background thread's state; holds no reference to the writer, so that a writer
    dropped without close() is collected (and aborts)."""

    def __init__(self, f: Any, depth: int, piece: int, sync_every: int = 0,
                 writeback: Optional[Callable[[int, int], None]] = None):
        self.f, self.depth, self.piece = f, depth, piece
        self.sync_every, self.unsynced = sync_every, 0
        self.writeback = writeback
        self.todo: "queue.SimpleQueue[Optional[Tuple[Any, int, int]]]" = queue.SimpleQueue()
        self.back: "queue.SimpleQueue[Any]" = queue.SimpleQueue()
        self.error: Optional[BaseException] = None

    def run(self) -> None:
        stop = False
        while not stop:
            batch = [self.todo.get()]
            while True:
                try:
                    batch.append(self.todo.get_nowait())
                except queue.Empty:
                    break
            if batch[-1] is None:
                stop = True
                batch.pop()
            try:
                if batch and self.error is None:
                    bufs, offs = [], []
                    for buf, n, off in batch:
                        if buf is None:  # written by the caller (_write_direct): writeback only
                            continue
                        mv = memoryview(buf)
                        for s in range(0, n, self.piece):
                            bufs.append(mv[s:min(n, s + self.piece)])
                            offs.append(off + s)
                    if bufs:
                        self.f.write_many(bufs, offs, self.depth)
                    if self.writeback is not None:
                        for _, n, off in sorted(batch, key=lambda e: e[2]):
                            self.writeback(off, n)  # start the disk on it, no wait (GIL released)
                    elif self.sync_every:
                        self.unsynced += sum(n for _, n, _ in batch)
                        if self.unsynced >= self.sync_every:
                            self.unsynced = 0
                            self.f.sync()  # start the disk on what is written (GIL released)
            except BaseException as e:  # reported by the writer's next write() or close()
                self.error = self.error or e
            finally:
                for buf, _, _ in batch:
                    if buf is not None:
                        self.back.put(buf)


class CheckpointWriter(io.BufferedIOBase):
    """Not created directly: see :meth:`pydaos_torch.Checkpoint.writer`."""

    def __init__(self, native_file: Any, name: str, *, chunk_size: int, chunks_limit: int, workers: int,
                 profile: IOProfile, buffers: Optional[BufferPool], fsync: bool, commit: Callable[[], None],
                 abort: Callable[[], None]):
        super().__init__()
        self.name = name
        self._f = native_file
        self._chunk = chunk_size  # 0: keep everything in memory, write at close
        self._limit = max(1, chunks_limit)
        self._depth = 1 if profile.serial_writes else max(1, workers)  # writes in flight
        self._piece = profile.piece_size
        self._buffers = buffers
        self._fsync = fsync
        self._commit, self._abort = commit, abort
        self._pos = 0
        self.first_error: Optional[BaseException] = None  # the first error a write() raised
        self._buf: Any = None  # the chunk being filled
        self._view: Optional[memoryview] = None  # of _buf: copies into it are one memcpy
        self._fill = 0
        self._buf_off = 0
        self._owned = 0  # chunk buffers this writer holds (filling + queued + in flight)
        # the disk started on each written range: the final fsync then has little left
        writeback = native_file.start_writeback if fsync and profile.client_cache else None
        self._fl = _Flusher(native_file, self._depth, self._piece, SYNC_EVERY if fsync else 0, writeback)
        self._back = self._fl.back
        self._thread: Optional[threading.Thread] = None
        self._done = False
        self._memory = bytearray() if chunk_size == 0 else None
        # below the chunk size (a write that fills a chunk gains nothing from it), but never
        # below min(direct_min, piece): small chunks must not make DAOS writes synchronous
        direct_min = profile.direct_write_min
        self._direct_min = max(min(direct_min, chunk_size), min(direct_min, self._piece)) if chunk_size else 0

    # -- io.BufferedIOBase
    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        if self.closed:
            raise ValueError("I/O operation on closed file")
        return self._pos

    def flush(self) -> None:  # data is committed by close(); nothing to do mid-stream
        if self.closed:
            raise ValueError("I/O operation on closed file")

    def write(self, b: Any) -> int:
        try:
            return self._write(b)
        except BaseException as e:  # torch.save replaces it by its own error: remembered here
            if self.first_error is None:
                self.first_error = e
            raise

    def _write(self, b: Any) -> int:
        if self.closed:
            raise ValueError("write to a closed checkpoint writer")
        self._raise_if_failed()
        mv = memoryview(b).cast("B")
        n = len(mv)
        if self._memory is not None:
            self._memory += mv
        elif n >= self._direct_min:
            self._write_direct(mv)  # advances _pos
            return n
        else:
            while mv:
                if self._buf is None:
                    self._buf, self._fill, self._buf_off = self._take(), 0, self._pos
                    self._view = memoryview(self._buf)
                k = min(self._chunk - self._fill, len(mv))
                # through a memoryview: `bytearray[a:b] = other` first copies `other` into a
                # temporary bytearray (fresh memory, page faults), about 6x slower
                self._view[self._fill:self._fill + k] = mv[:k]
                self._fill += k
                self._pos += k
                mv = mv[k:]
                if self._fill == self._chunk:
                    self._submit()
            return n
        self._pos += n
        return n

    # -- large writes
    def _write_direct(self, mv: memoryview) -> None:
        """A write of at least ``direct_min`` bytes (torch.save hands each tensor's storage over in
        one call) goes to storage straight from the caller's memory, before write() returns:
        one copy (into the page cache / the network) instead of two, ``workers`` writes in
        flight, and no chunk buffer touched. The chunk being filled goes along in the same batch
        (its buffer is free again after it); queued chunks keep going on the writer thread
        (disjoint ranges)."""
        bufs, offs = [], []
        held = None
        if self._buf is not None:
            held, fill = self._buf, self._fill
            if self._view is not None:
                self._view.release()
                self._view = None
            self._buf = None
            if fill:
                bufs.append(memoryview(held)[:fill])
                offs.append(self._buf_off)
        n = len(mv)
        for s in range(0, n, self._piece):
            bufs.append(mv[s:min(n, s + self._piece)])
            offs.append(self._pos + s)
        try:
            # one piece (with the chunk that goes along): written by this thread, as handing a
            # write of a few hundred KiB to other threads costs more than it saves
            self._fl.f.write_many(bufs, offs, self._depth if n > self._piece else 1)
        except BaseException as e:
            self._fl.error = self._fl.error or e
            raise
        finally:
            for b in bufs:
                b.release()
            if held is not None:
                self._back.put(held)
        if self._fl.writeback is not None:  # the writer thread starts the disk on it
            self._start_thread()
            self._fl.todo.put((None, self._pos + n - offs[0], offs[0]))  # with the chunk that went along
        self._pos += n

    # -- chunks
    def _take(self) -> Any:
        if self._owned < self._limit:
            self._owned += 1
            return self._buffers.get() if self._buffers else _new_buffer(self._chunk)
        buf = self._back.get()  # every buffer is in flight: wait for one
        self._raise_if_failed()
        return buf

    def _submit(self) -> None:
        buf, fill, self._buf = self._buf, self._fill, None
        if self._view is not None:
            self._view.release()
            self._view = None
        if not fill:
            self._back.put(buf)
            return
        self._start_thread()
        self._fl.todo.put((buf, fill, self._buf_off))

    def _start_thread(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._fl.run, name=f"ckpt-writer {self.name}", daemon=True)
            self._thread.start()

    def _raise_if_failed(self) -> None:
        if self._fl.error is not None:
            raise self._fl.error

    def _drain(self) -> None:
        if self._thread is not None:
            self._fl.todo.put(None)
            self._thread.join()
            self._thread = None

    def _release_buffers(self) -> None:
        if self._view is not None:
            self._view.release()
            self._view = None
        if self._buf is not None:
            self._back.put(self._buf)
            self._buf = None
        while self._buffers is not None:
            try:
                self._buffers.put(self._back.get_nowait())
            except queue.Empty:
                break

    # -- commit / abort
    def close(self) -> None:
        """Writes what is left, then commits atomically. On any error, aborts and raises."""
        if self._done:
            return
        self._done = True
        try:
            if self._memory is not None:
                mv = memoryview(self._memory)
                offs = list(range(0, len(mv), self._piece))
                self._f.write_many([mv[s:s + self._piece] for s in offs], offs, self._depth)
            elif self._buf is not None and self._fill:
                self._submit()
            self._drain()
            self._raise_if_failed()
            if self._fsync:
                self._f.sync()
            self._f.close()
            self._commit()
        except BaseException:
            self._discard()
            raise
        finally:
            self._release_buffers()
            self._memory = None
            super().close()

    def abort(self) -> None:
        """Discards everything written; the previous checkpoint of this name stays current."""
        if self._done:
            return
        self._done = True
        try:
            self._discard()
        finally:
            self._release_buffers()
            self._memory = None
            super().close()

    def _discard(self) -> None:
        try:
            self._drain()
        finally:
            try:
                self._f.close()
            except OSError:
                pass
            self._abort()

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
        else:
            self.close()

    def __del__(self) -> None:
        # Never commit from the garbage collector: a writer not closed is a writer that failed.
        try:
            if not self._done:
                self.abort()
        except Exception:
            pass
