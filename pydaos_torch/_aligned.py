"""Aligned read and write buffers (the datasets' scratch buffers, the checkpoint writer's chunks)."""
from __future__ import annotations

import mmap
import threading
from typing import Optional

import numpy as np

_PAGE = mmap.PAGESIZE
_HUGE = 2 << 20


def aligned_empty(nbytes: int) -> np.ndarray:
    """An uninitialized uint8 array at a page-aligned address (2 MiB-aligned anonymous memory,
    advised MADV_HUGEPAGE, from 2 MiB on). The kernel copies file data into a destination at 16
    mod 32 bytes markedly slower than into an aligned one (x86 ``rep movsb``), and np.empty /
    bytearray memory often sits there."""
    if nbytes >= _HUGE:
        size = -(-nbytes // _HUGE) * _HUGE
        mm = mmap.mmap(-1, size + _HUGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        arr = np.frombuffer(mm, dtype=np.uint8)  # keeps mm alive
        off = (-arr.ctypes.data) % _HUGE
        try:
            mm.madvise(mmap.MADV_HUGEPAGE, off, size)
        except (AttributeError, OSError, ValueError):
            pass
        return arr[off:off + nbytes]
    raw = np.empty(nbytes + _PAGE, dtype=np.uint8)
    off = (-raw.ctypes.data) % _PAGE
    return raw[off:off + nbytes]


class Scratch(threading.local):
    """One reusable, aligned read buffer per thread (samples are copied out of it). It is
    replaced when too small, or when four times larger than needed (past 1 MiB), so that one
    huge batch does not pin its memory for the rest of the run."""

    buf: Optional[np.ndarray] = None

    def get(self, n: int) -> np.ndarray:
        buf = self.buf
        if buf is None or buf.size < n or buf.size > 4 * max(n, 1 << 20):
            buf = self.buf = aligned_empty(max(n, 1 << 16))
        return buf[:n]
