"""The torch Datasets our DLIO data loader hands to DataLoader (no DLIO import: light in workers).

* :class:`DlioFileDataset`: one sample per file. It *is* :class:`pydaos_torch.Dataset` over
  DLIO's file list (fast sample mode): a batch is one native read of every file in it, into a
  shared-memory slab, returned as a :class:`~pydaos_torch.batch.SampleBatch`.
* :class:`DlioSampleDataset`: files of many samples. DLIO's global sample ``g`` is sample
  ``g % n`` of file ``g // n``; a batch is one native ranged read of each sample's bytes
  (their offsets come from each file's header, read once per worker).

Both decode as ``workload.pydaos.decode`` says (see :mod:`.settings`) and sleep DLIO's
``reader.preprocess_time`` per sample, as DLIO's readers do.
"""
from __future__ import annotations

import time
from typing import Any, Dict, List, Optional, Sequence

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

    def __getitem__(self, idx: int) -> Any:
        return self.__getitems__([idx])


class DlioSampleDataset(_DlioMixin, Dataset):
    """Files of ``samples_per_file`` samples; DLIO's global sample index ``g``."""

    samples_per_file: int = 1

    def __len__(self) -> int:
        return super().__len__() * self.samples_per_file

    def _layouts(self, entries: np.ndarray) -> Dict[int, Optional[npformat.ArrayLayout]]:
        cache = self.__dict__.setdefault("_layout_cache", {})
        missing = sorted({int(e) for e in entries} - set(cache))
        if missing:
            ix = self.index
            paths = [self._path_of_entry(e) for e in missing]
            heads = [np.empty(min(npformat.HEAD, max(1, int(ix.size(e)))), dtype=np.uint8) for e in missing]
            got = self.container.read_batch(paths, heads, [0] * len(paths), up_to=True, depth=self.depth)
            for e, h, n in zip(missing, heads, got):
                cache[e] = npformat.parse_head(h[:n].tobytes())
        return cache

    def _path_of_entry(self, e: int) -> str:
        ix = self.index
        return "/" + "/".join(p for p in (ix.root.strip("/"), ix.path(int(e))) if p)

    def __getitems__(self, indices: Sequence[int]) -> SampleBatch:  # type: ignore[override]
        g = np.asarray(indices, dtype=np.int64)
        n = self.samples_per_file
        files = self._entries(g // n)
        ks = (g % n).tolist()
        layouts = self._layouts(files)
        ix = self.index
        paths: List[str] = []
        ranges: List[tuple] = []
        for e, k in zip(files.tolist(), ks):
            lay = layouts[e]
            if lay is not None and lay.contiguous_samples():
                ranges.append(lay.sample_range(k))
            elif lay is not None:  # C order: the sample is strided through the whole array
                ranges.append((lay.offset, lay.nbytes))
            else:  # compressed or unknown: the whole file
                ranges.append((0, int(ix.size(e))))
            paths.append(self._path_of_entry(e))
        sizes = [r[1] for r in ranges]
        offsets = np.zeros(len(sizes) + 1, dtype=np.int64)
        np.cumsum(sizes, out=offsets[1:])
        data = torch.empty(int(offsets[-1]), dtype=torch.uint8)
        flat = data.numpy()
        bufs = [flat[offsets[i]:offsets[i + 1]] for i in range(len(sizes))]
        if paths:
            self.container.read_batch(paths, bufs, [r[0] for r in ranges], depth=self.depth)
        for i, (e, k) in enumerate(zip(files.tolist(), ks)):
            lay = layouts[e]
            if self.decode != "none" and self.fmt is not None:
                if lay is None:
                    npformat.load_whole(bufs[i].tobytes(), self.fmt)[..., k]
                else:
                    lay.view_sample(memoryview(bufs[i]), k)
        self._preprocess(len(paths))
        return SampleBatch(data, offsets, g)

    def __getitem__(self, idx: int) -> Any:
        return self.__getitems__([idx])

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state.pop("_layout_cache", None)
        return state
