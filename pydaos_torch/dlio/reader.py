"""``reader.reader_classname: pydaos_torch.dlio.reader.PyDaosReader``: DLIO's reads through the core.

A DLIO reader is created in every DataLoader worker (or in the rank's process with
``read_threads: 0``); DLIO calls ``open``/``get_sample``/``close`` per sample and hands the
compute step a fixed synthetic batch, so only the I/O matters. This reader does the I/O through
a pydaos_torch Container: the run's container with ``storage.storage_type: pydaos_torch``, or
the local backend over DLIO's local paths with ``local_fs`` (the same path a dfuse mount takes).

What is read (``workload.pydaos.read``/``decode``, see :mod:`.settings`):

* one sample per file: the whole file in one read; its npy header is parsed in memory and the
  array viewed in place (``decode: header``; no CRC pass, no copy);
* many samples per file, stored with samples contiguous (npy, or an uncompressed npz member;
  our generator's default layout): the file's header once per worker (a 4 KiB read), then only
  each sample's byte range;
* many samples in DLIO's C order: the array's byte range once, kept while the following samples
  come from the same file;
* ``read: whole`` or ``decode: numpy``: the whole file and ``np.load`` (DLIO's own decode).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Optional

import numpy as np
from dlio_benchmark.common.enumerations import FormatType
from dlio_benchmark.reader.reader_handler import FormatReader

from . import npformat, runtime
from .settings import Settings

_LAYOUTS_KEPT = 4096


class PyDaosReader(FormatReader):
    """A DLIO FormatReader over pydaos_torch (npz and npy; other formats: whole-file reads)."""

    def __init__(self, dataset_type, thread_index, epoch=None):
        super().__init__(dataset_type, thread_index)
        self._c = runtime.container_for(self._args)
        self._s: Settings = getattr(self._args, "pydaos", None) or Settings()
        fmt = self._args.format
        self._fmt = "npz" if fmt == FormatType.NPZ else "npy" if fmt == FormatType.NPY else None
        self._layouts: "OrderedDict[str, Optional[npformat.ArrayLayout]]" = OrderedDict()
        self._held: Optional[tuple] = None  # (path, array bytes or decoded array) of the last C-order file
        self._buf = np.empty(0, dtype=np.uint8)
        self.bytes_read = 0
        self.last_sample: Optional[np.ndarray] = None

    # -- FormatReader
    def open(self, filename):
        super().open(filename)
        return runtime.path_in_container(self._args, filename)

    def close(self, filename):
        super().close(filename)

    def get_sample(self, filename, sample_index):
        super().get_sample(filename, sample_index)
        path = self.open_file_map.get(filename) or runtime.path_in_container(self._args, filename)
        self.last_sample = self._read_sample(path, int(sample_index))

    def next(self):
        for batch in super().next():
            yield batch

    def read_index(self, image_idx, step):
        return super().read_index(image_idx, step)

    def finalize(self):
        self._held = None
        return super().finalize()

    def is_index_based(self):
        return True

    def is_iterator_based(self):
        return True

    # -- I/O
    def _buffer(self, n: int) -> np.ndarray:
        if self._buf.size < n or self._buf.size > 4 * max(n, 1 << 20):
            self._buf = np.empty(max(n, 1 << 16), dtype=np.uint8)
        return self._buf[:n]

    def _read_range(self, path: str, offset: int, n: int, buf: Optional[np.ndarray] = None) -> np.ndarray:
        buf = self._buffer(n) if buf is None else buf
        if n:
            self._c.read_into(path, buf, offset)
        self.bytes_read += n
        return buf

    def _read_whole(self, path: str, keep: bool = False) -> np.ndarray:
        n = runtime.size_of(self._args, self._c, path)
        return self._read_range(path, 0, n, np.empty(n, dtype=np.uint8) if keep else None)

    def _read_sample(self, path: str, k: int) -> Any:
        s = self._s
        if self._fmt is None:
            return self._read_whole(path)
        if s.read == "whole" or s.decode == "numpy":
            return self._decode_whole(path, k)
        if self._args.num_samples_per_file <= 1:
            data = self._read_whole(path)
            if s.decode == "none":
                return data
            lay = npformat.parse_head(data[:npformat.HEAD].tobytes())
            if lay is None or lay.offset + lay.nbytes > data.size:
                return self._decode_whole(path, k, data)
            return lay.view_sample(memoryview(data)[lay.offset:lay.offset + lay.nbytes], k)
        lay = self._layout(path)
        if lay is None:
            return self._decode_whole(path, k)
        if lay.contiguous_samples():
            off, n = lay.sample_range(k)
            data = self._read_range(path, off, n)
            return data if s.decode == "none" else lay.view_sample(memoryview(data), k)
        if self._held is None or self._held[0] != path:
            self._held = None
            self._held = (path, self._read_range(path, lay.offset, lay.nbytes, np.empty(lay.nbytes, np.uint8)))
        data = self._held[1]
        return data if s.decode == "none" else lay.view_sample(memoryview(data), k)

    def _decode_whole(self, path: str, k: int, data: Optional[np.ndarray] = None) -> Any:
        if self._held is not None and self._held[0] == path and isinstance(self._held[1], tuple):
            arr = self._held[1][0]
        else:
            data = self._read_whole(path) if data is None else data
            if self._s.decode == "none":
                return data
            arr = npformat.load_whole(data.tobytes(), self._fmt or "npy")
            if self._args.num_samples_per_file > 1:
                self._held = (path, (arr,))
        return arr[..., k]

    def _layout(self, path: str) -> Optional[npformat.ArrayLayout]:
        if path in self._layouts:
            self._layouts.move_to_end(path)
            return self._layouts[path]
        head = np.empty(npformat.HEAD, dtype=np.uint8)
        n = self._c.read_into(path, head, 0, up_to=True)
        self.bytes_read += n
        lay = npformat.parse_head(head[:n].tobytes())
        self._layouts[path] = lay
        if len(self._layouts) > _LAYOUTS_KEPT:
            self._layouts.popitem(last=False)
        return lay
