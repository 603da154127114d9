"""What a DCP checkpoint stores where.

A checkpoint is a directory: one data file per rank and save, ``__<rank>_<save id>.distcp``,
holding each of the rank's items as raw bytes at its offset (a tensor's storage in row-major
order, a BYTE_IO item's bytes), and ``.metadata``, DCP's ``Metadata`` pickled, whose
``storage_data`` maps every item to an :class:`ItemInfo`. Data files of a save are never
written again: a new save of the same checkpoint writes new ones, and ``.metadata`` is
replaced by the never-overwrite commit of :class:`pydaos_torch.Checkpoint`, so the old
metadata and the files it names stay whole until the new one is committed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

METADATA = ".metadata"
SUFFIX = ".distcp"
DATA_FILE = re.compile(r"^__\d+_(?P<save>[0-9a-f]{32})\.distcp$")


@dataclass(frozen=True)
class ItemInfo:
    """Where one item's bytes are: ``file`` (in the checkpoint directory), ``offset``,
    ``length``; for a tensor chunk also its ``shape`` (the saved chunk's sizes) and ``itemsize``."""

    file: str
    offset: int
    length: int
    shape: Optional[Tuple[int, ...]] = None
    itemsize: int = 1


def data_file(rank: int, save_id: str) -> str:
    return f"__{rank}_{save_id}{SUFFIX}"


def byte_run(shape: Sequence[int], offsets: Sequence[int], lengths: Sequence[int]) -> Optional[Tuple[int, int]]:
    """(first element, element count) when the box ``offsets``/``lengths`` of a row-major
    array of ``shape`` is one contiguous run; None when it is not."""
    n = len(shape)
    last = -1  # the last dimension the box does not span whole
    for d in range(n):
        if offsets[d] != 0 or lengths[d] != shape[d]:
            last = d
    if any(lengths[d] != 1 for d in range(max(last, 0))):
        return None
    stride, first = 1, 0
    for d in range(n - 1, -1, -1):
        first += offsets[d] * stride
        stride *= shape[d]
    count = 1
    for x in lengths:
        count *= x
    return first, count
