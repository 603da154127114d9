"""The torch Datasets our DLIO data loader hands to DataLoader (no DLIO import: light in workers).

* :class:`DlioFileDataset`: one sample per file. It *is* :class:`pydaos_torch.Dataset` over
  DLIO's file list (fast sample mode): a batch is one native read of every file in it, into a
  shared-memory slab, returned as a :class:`~pydaos_torch.batch.SampleBatch`.
* :class:`DlioSampleDataset`: files of many samples. DLIO's global sample ``g`` is sample
  ``g % n`` of file ``g // n``; a batch is one native ranged read of each sample's bytes into
  a slab as well (their offsets come from each file's header, read once per worker).

Both decode as ``workload.pydaos.decode`` says (see :mod:`.settings`) and sleep DLIO's
``reader.preprocess_time`` per sample, as DLIO's readers do.
"""
from __future__ import annotations

import time
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np
import torch

from ..batch import SampleBatch
from ..dataset import Dataset
from . import npformat


class _DlioMixin:
    decode: str = "header"
    fmt: Optional[str] = None
    preprocess_time: float = 0.0
    preprocess_time_stdev: float = 0.0

    def _configure(self, *, decode: str, fmt: Optional[str], preprocess_time: float,
                   preprocess_time_stdev: float) -> None:
        self.decode = decode
        self.fmt = fmt
        self.preprocess_time = float(preprocess_time or 0.0)
        self.preprocess_time_stdev = float(preprocess_time_stdev or 0.0)

    def _decode(self, sample: Any, k: int = 0, layout: Optional[npformat.ArrayLayout] = None) -> None:
        """Decodes one sample's bytes (a uint8 tensor) as configured; the result is dropped,
        as DLIO drops what its readers read (its compute step gets a synthetic batch)."""
        if self.decode == "none" or self.fmt is None:
            return
        data = sample.numpy() if isinstance(sample, torch.Tensor) else np.asarray(sample)
        if layout is not None:
            layout.view_sample(memoryview(data), k)
            return
        if self.decode == "numpy":
            npformat.load_whole(data.tobytes(), self.fmt)[..., k]
            return
        lay = npformat.parse_head(data[:npformat.HEAD].tobytes())
        if lay is None:
            npformat.load_whole(data.tobytes(), self.fmt)[..., k]
        else:
            lay.view_sample(memoryview(data)[lay.offset:lay.offset + lay.nbytes], k)

    def __getitem__(self, idx: int) -> Any:  # a batch of one: decoded and preprocessed alike
        return self.__getitems__([idx])

    def _preprocess(self, n: int) -> None:
        if self.preprocess_time or self.preprocess_time_stdev:
            for _ in range(n):
                t = np.random.normal(self.preprocess_time, self.preprocess_time_stdev)
                time.sleep(max(t, 0.0))


class DlioFileDataset(_DlioMixin, Dataset):
    """One sample per file: pydaos_torch's Dataset, batch reads included (fast sample mode)."""

    def __getitems__(self, indices: Sequence[int]) -> SampleBatch:  # type: ignore[override]
        batch = super().__getitems__(indices)
        for i in range(len(batch)):
            self._decode(batch[i])
        self._preprocess(len(batch))
        return batch


class DlioSampleDataset(_DlioMixin, Dataset):
    """Files of ``samples_per_file`` samples; DLIO's global sample index ``g``."""

    samples_per_file: int = 1
    _TRANSIENT = Dataset._TRANSIENT + ("_layout_cache",)  # headers are read again in each worker

    def __len__(self) -> int:
        return super().__len__() * self.samples_per_file

    def _layouts(self, entries: np.ndarray) -> Dict[int, Optional[npformat.ArrayLayout]]:
        """The array layout of each entry's file, from its header (read once per process)."""
        cache = self.__dict__.setdefault("_layout_cache", {})
        missing = sorted({int(e) for e in entries} - set(cache))
        if missing:
            heads = np.minimum(self.index.sizes[missing], npformat.HEAD).tolist()
            got = self._read(np.asarray(missing, dtype=np.int64), fast=False, ranges=([0] * len(missing), heads))
            for e, head in zip(missing, got):
                cache[e] = npformat.parse_head(head)
        return cache

    def _range(self, e: int, k: int, lay: Optional[npformat.ArrayLayout]) -> Tuple[int, int]:
        """(offset, length) in entry e's file that holds its sample k."""
        if lay is not None and lay.contiguous_samples():
            return lay.sample_range(k)
        if lay is not None:  # C order: the sample is strided through the whole array
            return lay.offset, lay.nbytes
        return 0, int(self.index.size(e))  # compressed or unknown: the whole file

    def __getitems__(self, indices: Sequence[int]) -> SampleBatch:  # type: ignore[override]
        g = np.asarray(indices, dtype=np.int64)
        n = self.samples_per_file
        files = self._select(g // n)[0]
        ks = (g % n).tolist()
        layouts = self._layouts(files)
        ranges = [self._range(e, k, layouts[e]) for e, k in zip(files.tolist(), ks)]
        data, offsets = self._read(files, fast=True, ranges=([r[0] for r in ranges], [r[1] for r in ranges]))
        batch = SampleBatch(data, offsets, g)
        for i, (e, k) in enumerate(zip(files.tolist(), ks)):
            self._decode(batch[i], k, layouts[e])
        self._preprocess(len(batch))
        return batch
