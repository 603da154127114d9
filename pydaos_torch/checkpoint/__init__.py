"""Checkpoints in a container, one file a job:

- ``facade.py``   ``Checkpoint``: pydaos.torch's API (writer, reader, save, load) and the catalogue
- ``versions.py`` the versions of one checkpoint file and the commit that adds one (crash-safe
  without DTX)
- ``tags.py``     multi-rank checkpoints: a directory every rank writes into, a commit marker
- ``writer.py``   the streaming writer (chunk buffers, writes in flight, direct large writes)
- ``reader.py``   ranged, parallel reads for ``torch.load``
- ``naming.py``   the hidden names next to a checkpoint, and whose they are
- ``crash_points.py`` named steps where the crash tests stop a commit
"""
from .facade import DEFAULT_CHUNK_SIZE, DEFAULT_CHUNKS_LIMIT, DEFAULT_MODE, Checkpoint
from .naming import MARKER, NAME_MAX
from .reader import CheckpointReader, RangeReader
from .writer import BufferPool, CheckpointWriter

__all__ = ["Checkpoint", "CheckpointReader", "CheckpointWriter", "BufferPool", "RangeReader", "DEFAULT_CHUNK_SIZE",
           "DEFAULT_CHUNKS_LIMIT", "DEFAULT_MODE", "MARKER", "NAME_MAX"]
