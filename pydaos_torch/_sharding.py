"""Who am I in the job: distributed rank/size, DataLoader worker, and the epoch's sample order.

Rank and world size come from, in order: explicit arguments; torch.distributed when it is
initialized; the environment (``RANK``/``WORLD_SIZE`` as torchrun sets them, Open MPI's
``OMPI_COMM_WORLD_RANK``/``OMPI_COMM_WORLD_SIZE``, MPICH/Hydra's ``PMI_RANK``/``PMI_SIZE``,
PMIx's ``PMIX_RANK``/``PMI_SIZE``, Slurm's ``SLURM_PROCID``/``SLURM_NTASKS``); else 0 of 1.
"""
from __future__ import annotations

import os
from typing import Optional, Tuple

import numpy as np

_ENV_PAIRS = (("RANK", "WORLD_SIZE"), ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
              ("PMI_RANK", "PMI_SIZE"), ("PMIX_RANK", "PMI_SIZE"), ("SLURM_PROCID", "SLURM_NTASKS"))


def rank_world(rank: Optional[int] = None, world_size: Optional[int] = None) -> Tuple[int, int]:
    """(rank, world size) of this process; see the module docstring."""
    if rank is None or world_size is None:
        r, w = _detect()
        rank = r if rank is None else rank
        world_size = w if world_size is None else world_size
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is not in a world of size {world_size}")
    return int(rank), int(world_size)


def _detect() -> Tuple[int, int]:
    try:
        import torch.distributed as dist
        if dist.is_available() and dist.is_initialized():
            return dist.get_rank(), dist.get_world_size()
    except Exception:  # a torch build without distributed support
        pass
    for rk, wk in _ENV_PAIRS:
        if rk in os.environ and wk in os.environ:
            return int(os.environ[rk]), int(os.environ[wk])
    return 0, 1


def worker() -> Tuple[int, int]:
    """(worker id, number of workers) of the DataLoader worker running this, or (0, 1)."""
    from torch.utils.data import get_worker_info
    info = get_worker_info()
    return (0, 1) if info is None else (info.id, info.num_workers)


def epoch_order(n: int, *, shuffle: bool, seed: int, epoch: int) -> np.ndarray:
    """The order of the n samples in an epoch: the same on every rank and worker."""
    if not shuffle:
        return np.arange(n, dtype=np.int64)
    return np.random.Generator(np.random.PCG64([seed & 0xFFFFFFFF, epoch & 0xFFFFFFFF])).permutation(n)


UNEVEN = ("pad", "drop", "none")


def rank_share(order: np.ndarray, rank: int, world: int, uneven: str) -> np.ndarray:
    """This rank's samples, interleaved (sample k goes to rank k % world).

    ``uneven``: when the samples do not divide by the world size, ``"pad"`` repeats samples
    from the start of the order and ``"drop"`` drops the tail, so that every rank gets the same
    number; ``"none"`` gives each sample exactly once, and some ranks one sample fewer.
    """
    if uneven not in UNEVEN:
        raise ValueError(f"uneven must be one of {UNEVEN}, got {uneven!r}")
    n = len(order)
    extra = (-n) % world
    if extra and uneven == "pad" and n:
        order = np.concatenate([order, np.resize(order, extra)])
    elif extra and uneven == "drop":
        order = order[: n - (n % world)]
    return order[rank::world]


def worker_blocks(m: int, block: int, worker_id: int, num_workers: int) -> np.ndarray:
    """Positions (0..m) of the rank's samples that one worker yields: blocks of ``block``
    samples dealt round-robin, so DataLoader (which takes batches from its workers in turn)
    delivers them in the rank's order when its batch size equals ``block``. Fewer samples
    than ``block`` per worker: blocks shrink to ceil(m / num_workers), so that every worker
    has a share (10 samples, 3 workers: 4, 4, 2, as pydaos.torch splits them)."""
    block = max(1, min(block, -(-m // max(1, num_workers))))
    nblocks = -(-m // block)
    mine = np.arange(worker_id, nblocks, num_workers, dtype=np.int64)
    if not mine.size:
        return np.zeros(0, dtype=np.int64)
    pos = (mine[:, None] * block + np.arange(block, dtype=np.int64)[None, :]).reshape(-1)
    return pos[pos < m]
