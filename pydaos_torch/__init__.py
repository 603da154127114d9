"""pydaos_torch: PyTorch datasets and checkpoints on DAOS POSIX containers.

The storage core is native (``pydaos_torch._core``); see ``docs/architecture.md``.
"""
from ._core import Index
from .container import Container, StatResult, connect, parse_uri
from .errors import DaosError
from .io_profile import IOProfile
from .checkpoint import Checkpoint
from ._lazy import __dir__, __getattr__  # Dataset, IterableDataset, SampleBatch, collate_batch (need torch)

__version__ = "0.1.0"

__all__ = ["Container", "DaosError", "IOProfile", "Index", "StatResult", "connect", "parse_uri", "__version__",
           "Checkpoint", "Dataset", "IterableDataset", "SampleBatch", "collate_batch"]
