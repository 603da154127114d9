"""Where a sample's bytes are in a DLIO npy/npz file, from the file's first bytes.

DLIO's generators write ``np.save(path, x)`` (npy) or ``np.savez(path, x=x, y=labels)`` (npz,
stored uncompressed unless ``dataset.compression: zip``), ``x`` of shape ``(d1, d2, samples)``;
a reader takes sample ``k`` as ``x[..., k]``. This module parses the zip local header of the
first member and the npy header, without numpy's CRC check or a copy of the data, and says
which byte range holds sample ``k``:

* one sample per file, or a Fortran-ordered ``x`` (how :mod:`.generator` stores files of many
  samples): sample ``k`` is one contiguous range (read only that);
* a C-ordered ``x`` of many samples: sample ``k`` is strided through the whole array, so the
  reader reads the array's range once and slices it.

Anything else (a compressed member, ``x`` not the first member, an object array) is
``None``: the reader falls back to reading the whole file and ``np.load``.
"""
from __future__ import annotations

import ast
import dataclasses
import io
import struct
from typing import Optional, Tuple

import numpy as np

#: Bytes read to find the headers (local zip header + npy header fit in far less).
HEAD = 4096

_ZIP_LOCAL = b"PK\x03\x04"
_NPY_MAGIC = b"\x93NUMPY"


@dataclasses.dataclass(frozen=True)
class ArrayLayout:
    """Where an npy array lies in a file: ``offset`` of its data, its shape, dtype and order."""

    offset: int
    shape: Tuple[int, ...]
    dtype: np.dtype
    fortran: bool

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize

    @property
    def samples(self) -> int:
        return self.shape[-1] if self.shape else 1

    @property
    def sample_shape(self) -> Tuple[int, ...]:
        return self.shape[:-1]

    @property
    def sample_nbytes(self) -> int:
        return int(np.prod(self.sample_shape, dtype=np.int64)) * self.dtype.itemsize

    def contiguous_samples(self) -> bool:
        """Whether ``x[..., k]`` is one byte range."""
        return self.samples <= 1 or self.fortran or len(self.shape) <= 1

    def sample_range(self, k: int) -> Tuple[int, int]:
        """(offset, length) of sample ``k``; only when :meth:`contiguous_samples`."""
        if not 0 <= k < max(1, self.samples):
            raise IndexError(f"sample {k} out of range for an array of {self.samples} samples")
        if self.samples <= 1:
            return self.offset, self.nbytes
        if len(self.shape) <= 1:
            return self.offset + k * self.dtype.itemsize, self.dtype.itemsize
        n = self.sample_nbytes
        return self.offset + k * n, n

    def view_sample(self, data: memoryview, k: int) -> np.ndarray:
        """Sample ``k`` from the bytes of :meth:`sample_range` (contiguous) or of the whole array."""
        if self.contiguous_samples():
            a = np.frombuffer(data, dtype=self.dtype)
            if self.samples <= 1:
                return a.reshape(self.shape, order="F" if self.fortran else "C")[..., 0] \
                    if self.shape else a
            return a.reshape(self.sample_shape, order="F") if len(self.shape) > 1 else a
        whole = np.frombuffer(data, dtype=self.dtype).reshape(self.shape)
        return whole[..., k]


def parse_npy_header(buf: bytes, base: int = 0) -> Optional[ArrayLayout]:
    """The layout of the npy array whose header starts at ``buf[0]`` (``base``: its file
    offset). None if ``buf`` does not hold a whole npy header or the array holds objects."""
    if len(buf) < 10 or not buf.startswith(_NPY_MAGIC):
        return None
    major = buf[6]
    if major == 1:
        hlen, start = struct.unpack_from("<H", buf, 8)[0], 10
    elif major in (2, 3):
        if len(buf) < 12:
            return None
        hlen, start = struct.unpack_from("<I", buf, 8)[0], 12
    else:
        return None
    if len(buf) < start + hlen:
        return None
    text = buf[start:start + hlen].decode("utf-8" if major == 3 else "latin1")
    try:
        d = ast.literal_eval(text)
        dtype = np.dtype(np.lib.format.descr_to_dtype(d["descr"]))
        shape = tuple(int(x) for x in d["shape"])
        fortran = bool(d["fortran_order"])
    except Exception:
        return None
    if dtype.hasobject:
        return None
    return ArrayLayout(base + start + hlen, shape, dtype, fortran)


def parse_head(head: bytes, member: str = "x.npy") -> Optional[ArrayLayout]:
    """The layout of the npy file (or, in an npz, of its first member, which must be
    ``member`` and stored uncompressed) from the file's first bytes. None when the first
    bytes are not enough, or the format does not allow it (see the module docstring)."""
    if head.startswith(_NPY_MAGIC):
        return parse_npy_header(head, 0)
    if not head.startswith(_ZIP_LOCAL) or len(head) < 30:
        return None
    (_, _, flags, method, _, _, _, csize, usize, nlen, xlen) = struct.unpack_from("<IHHHHHIIIHH", head, 0)
    if method != 0 or flags & 0x1:  # compressed, or encrypted
        return None
    name = head[30:30 + nlen].decode("utf-8", "replace")
    if name != member:
        return None
    data = 30 + nlen + xlen
    return parse_npy_header(head[data:], data)


def load_whole(data: bytes, fmt: str) -> np.ndarray:
    """numpy's own decode of a whole file (what DLIO's readers do): ``x`` of an npz, or the npy."""
    if fmt == "npz":
        with np.load(io.BytesIO(data), allow_pickle=True) as z:
            return z["x"]
    return np.load(io.BytesIO(data), allow_pickle=False)


__all__ = ["ArrayLayout", "HEAD", "load_whole", "parse_head", "parse_npy_header"]
