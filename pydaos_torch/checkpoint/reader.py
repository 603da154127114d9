"""Reading a checkpoint file: ranges on demand, large ones in parallel."""
from __future__ import annotations

import io
from typing import Any, BinaryIO, Callable, Optional

from ..container import Container, RawFile


class RangeReader(RawFile):
    """Positioned reads of one file: small ones on the open handle; large ones (``LARGE`` or
    more) cut into up to ``depth`` ranges of at least ``PIECE`` bytes, read by one parallel
    native batch read straight into the caller's buffer. (torch.load reads each tensor into
    fresh memory: its page faults, which cost more than the copy, then run on several CPUs.)
    Reads stop at the size the file had when opened."""

    LARGE = 4 << 20
    PIECE = 2 << 20

    def __init__(self, c: Container, f: Any, path: str, depth: int):
        super().__init__(f, "rb")
        self._c, self.name, self._depth = c, path, depth
        self._size = f.size()

    first_error: Optional[BaseException] = None  # the first error a read raised

    def readinto(self, b: Any) -> int:
        try:
            return self._readinto(b)
        except BaseException as e:  # torch.load replaces it by its own error: remembered here
            if self.first_error is None:
                self.first_error = e
            raise

    def _readinto(self, b: Any) -> int:
        self._check_closed()
        mv = memoryview(b).cast("B")
        n = min(len(mv), max(0, self._size - self._pos))
        if n == 0:
            return 0
        k = min(self._depth, n // self.PIECE) if n >= self.LARGE else 1
        got = self._read_parallel(mv, n, k) if k > 1 else self._f.read_into(mv[:n], self._pos, True)
        self._pos += got
        return got

    @property
    def size(self) -> int:
        """The file's size when opened (what is read)."""
        return self._size

    def read_at(self, mv: memoryview, offset: int) -> int:
        """Fills ``mv`` from ``offset`` (up to the end), leaving the position as it was."""
        pos, self._pos = self._pos, offset
        try:
            got = 0
            while got < len(mv):
                n = self.readinto(mv[got:])
                if not n:
                    break
                got += n
            return got
        finally:
            self._pos = pos

    def _read_parallel(self, mv: memoryview, n: int, k: int) -> int:
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
        return got


class CheckpointReader(io.BufferedReader):
    """What :meth:`Checkpoint.reader` returns: a buffered, seekable reader that streams
    (``torch.load`` takes it), with the surface of the ``io.BytesIO`` pydaos.torch returns:
    ``getvalue()`` and ``getbuffer()`` give the whole file, wherever the position is. It keeps
    its checkpoint's connection until it is closed."""

    def __init__(self, raw: RangeReader, buffer_size: int, on_close: Optional[Callable[[], None]] = None):
        super().__init__(raw, buffer_size)
        self._on_close = on_close

    def read(self, size: Optional[int] = -1) -> bytes:
        return super().read(-1 if size is None or size < 0 else size)  # any negative: all, as files do

    @property
    def first_error(self) -> Optional[BaseException]:
        """The first error a read of the file raised (what torch.load hides behind its own)."""
        return getattr(self.raw, "first_error", None)

    def getvalue(self) -> bytes:
        return bytes(self._whole())

    def getbuffer(self) -> memoryview:
        return memoryview(self._whole())

    def _whole(self) -> bytearray:
        if self.closed:
            raise ValueError("I/O operation on closed file")
        raw: RangeReader = self.raw
        out = bytearray(raw.size)
        raw.read_at(memoryview(out), 0)
        return out

    def close(self) -> None:
        try:
            super().close()
        finally:
            done, self._on_close = self._on_close, None
            if done is not None:
                done()


def copy_into(raw: RangeReader, stream: BinaryIO, chunk: int) -> BinaryIO:
    """pydaos.torch's ``reader(name, stream)``: the whole file copied into ``stream`` in pieces
    of ``chunk`` bytes, then ``stream`` rewound."""
    try:
        buf = bytearray(min(chunk, max(1, raw.seek(0, io.SEEK_END))))
        raw.seek(0)
        while True:
            n = raw.readinto(buf)
            if not n:
                break
            stream.write(memoryview(buf)[:n])
    finally:
        raw.close()
    stream.seek(0)
    return stream
