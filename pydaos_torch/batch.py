"""The fast sample mode's batch: every sample back to back in one uint8 tensor, plus offsets.

``Dataset(..., sample_mode="fast")`` returns a :class:`SampleBatch` from ``__getitems__``;
give DataLoader ``collate_fn=collate_batch`` so it passes through unchanged. ``batch[i]`` is
sample i as a uint8 tensor view (no copy), ``batch.tensors()`` all of them.
"""
from __future__ import annotations

from typing import Iterator, List, Optional, Sequence

import numpy as np
import torch


class SampleBatch:
    """``data``: uint8 tensor of all samples; ``offsets``: int64 tensor (n + 1), sample i is
    ``data[offsets[i]:offsets[i+1]]``; ``indices``: int64 tensor of the dataset indices."""

    __slots__ = ("data", "_off", "_idx", "_offsets", "_indices")

    def __init__(self, data: torch.Tensor, offsets: Sequence[int], indices: Sequence[int]):
        self.data = data
        self._off: List[int] = offsets.tolist() if isinstance(offsets, np.ndarray) else list(offsets)
        self._idx = indices
        self._offsets: Optional[torch.Tensor] = None  # built on first use: a batch crosses a
        self._indices: Optional[torch.Tensor] = None  # process boundary as two short int lists

    @property
    def offsets(self) -> torch.Tensor:
        if self._offsets is None:  # through numpy: torch.tensor(list) converts element by element
            self._offsets = torch.from_numpy(np.array(self._off, dtype=np.int64))
        return self._offsets

    @property
    def indices(self) -> torch.Tensor:
        if self._indices is None:
            self._indices = torch.as_tensor(np.asarray(self._idx, dtype=np.int64))
        return self._indices

    def __len__(self) -> int:
        return len(self._off) - 1

    def __getitem__(self, i: int) -> torch.Tensor:
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"sample {i} out of range for a batch of {n}")
        return self.data[self._off[i]:self._off[i + 1]]

    def __iter__(self) -> Iterator[torch.Tensor]:
        off, data = self._off, self.data
        return (data[off[i]:off[i + 1]] for i in range(len(off) - 1))

    def tensors(self) -> List[torch.Tensor]:
        """Every sample as a uint8 view of ``data``."""
        return list(self)

    def sizes(self) -> torch.Tensor:
        return self.offsets[1:] - self.offsets[:-1]

    def pin_memory(self, device=None) -> "SampleBatch":  # DataLoader(pin_memory=True) calls this
        data = self.data.pin_memory() if device is None else self.data.pin_memory(device)
        return SampleBatch(data, self._off, self._idx)

    def __reduce__(self):
        # offsets and indices travel as int lists (cheap to pickle); data hands its slab over
        # (see _slabs)
        idx = self._idx.tolist() if isinstance(self._idx, np.ndarray) else list(self._idx)
        return (SampleBatch, (self.data, self._off, idx))

    def __repr__(self) -> str:
        return f"SampleBatch({len(self)} samples, {self.data.numel()} bytes)"


def collate_batch(batch):
    """The pass-through ``collate_fn`` for the fast sample mode (a batch is already collated)."""
    return batch
