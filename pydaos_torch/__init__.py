"""pydaos_torch: PyTorch datasets and checkpoints on DAOS POSIX containers.

The storage core is native (``pydaos_torch._core``); see ``docs/architecture.md``.
"""
from ._core import Index
from .container import Container, StatResult, connect, parse_uri
from .errors import DaosError
from .io_profile import IOProfile
from ._source import (DIR_CACHE_SIZE, ITER_BATCH_SIZE, PARALLEL_SCAN_WORKERS, READDIR_BATCH_SIZE,
                      transform_fn_default)
from .checkpoint import DEFAULT_CHUNK_SIZE, DEFAULT_CHUNKS_LIMIT, Checkpoint, CheckpointWriter

WriteBuffer = CheckpointWriter  # pydaos.torch's name of what Checkpoint.writer() returns
from ._lazy import __dir__, __getattr__  # Dataset, IterableDataset, SampleBatch, collate_batch (need torch)

__version__ = "0.1.0"

__all__ = ["Container", "DaosError", "IOProfile", "Index", "StatResult", "connect", "parse_uri", "__version__",
           "Checkpoint", "CheckpointWriter", "WriteBuffer", "DEFAULT_CHUNK_SIZE", "DEFAULT_CHUNKS_LIMIT",
           "DIR_CACHE_SIZE", "ITER_BATCH_SIZE", "PARALLEL_SCAN_WORKERS", "READDIR_BATCH_SIZE", "transform_fn_default",
           "Dataset", "IterableDataset", "SampleBatch", "collate_batch"]
