"""The fast sample mode's batch: every sample back to back in one uint8 tensor, plus offsets.

``Dataset(..., sample_mode="fast")`` returns a :class:`SampleBatch` from ``__getitems__``;
give DataLoader ``collate_fn=collate_batch`` so it passes through unchanged. ``batch[i]`` is
sample i as a uint8 tensor view (no copy), ``batch.tensors()`` all of them.
"""
from __future__ import annotations

from typing import Iterator, List

import numpy as np
import torch


class SampleBatch:
    """``data``: uint8 tensor of all samples; ``offsets``: int64 tensor (n + 1), sample i is
    ``data[offsets[i]:offsets[i+1]]``; ``indices``: int64 tensor of the dataset indices."""

    __slots__ = ("data", "offsets", "indices", "_off")

    def __init__(self, data: torch.Tensor, offsets: np.ndarray, indices: np.ndarray):
        self.data = data
        self._off = offsets.tolist()
        self.offsets = torch.from_numpy(np.asarray(offsets, dtype=np.int64))
        self.indices = torch.from_numpy(np.asarray(indices, dtype=np.int64))

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
        return SampleBatch(data, self.offsets.numpy(), self.indices.numpy())

    def __reduce__(self):
        # offsets and indices travel by value (small); data hands its slab over (see _slabs).
        return (SampleBatch, (self.data, self.offsets.numpy(), self.indices.numpy()))

    def __repr__(self) -> str:
        return f"SampleBatch({len(self)} samples, {self.data.numel()} bytes)"


def collate_batch(batch):
    """The pass-through ``collate_fn`` for the fast sample mode (a batch is already collated)."""
    return batch
