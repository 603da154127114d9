"""``reader.data_loader_classname: pydaos_torch.dlio.data_loader.PyDaosDataLoader``.

DLIO's own PyTorch loader calls a reader once per sample. This one hands
``torch.utils.data.DataLoader`` our Dataset (:mod:`.datasets`), so each batch is one native
read with the GIL released, in ``reader.read_threads`` workers. It keeps DLIO's semantics:

* the sampler is DLIO 2.0.0's: rank ``r`` of ``N`` takes the contiguous block of
  ``ceil(samples / N)`` global sample indices starting at ``r * ceil(samples / N)``; with
  ``reader.sample_shuffle: seed|random`` the block is shuffled again at every epoch
  (``seed``: ``np.random.seed(train.seed)`` first), as DLIO 2.0.0 does (DLIO main no longer
  shuffles; we still do when asked);
* ``batch_size``, ``drop_last``, ``read_threads`` workers (0: in the rank's process),
  ``prefetch_size``, persistent workers, ``multiprocessing_context`` (fork or spawn),
  ``reader.pin_memory`` (DLIO main; default False here: a CPU benchmark pins nothing);
* the file list is DLIO's (``dataset.num_files_*`` after its checks), in DLIO's order.

Needs ``reader.data_loader_sampler: index`` (DLIO requires the key for a custom loader).
"""
from __future__ import annotations

import atexit
import logging
import math
import weakref
from typing import Any, List, Optional, Tuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler

from dlio_benchmark.common.enumerations import DataLoaderType, DatasetType, FormatType, Shuffle
from dlio_benchmark.data_loader.base_data_loader import BaseDataLoader

from .._core import Index
from .._source import index_from_paths
from ..batch import collate_batch
from . import runtime
from .datasets import DlioFileDataset, DlioSampleDataset
from .settings import Settings


class DlioSampler(Sampler):
    """DLIO 2.0.0's index sampler: this rank's contiguous block, reshuffled every epoch."""

    def __init__(self, rank: int, size: int, num_samples: int, shuffle: Any = Shuffle.OFF, seed: int = 123):
        per = int(math.ceil(num_samples / size))
        start = rank * per
        self.indices: List[int] = list(range(start, min(start + per, num_samples)))
        self.shuffle = shuffle
        self.seed = seed

    def __len__(self) -> int:
        return len(self.indices)

    def __iter__(self):
        if self.shuffle not in (None, Shuffle.OFF, "off"):
            if self.shuffle in (Shuffle.SEED, "seed"):
                np.random.seed(self.seed)
            np.random.shuffle(self.indices)
        return iter(list(self.indices))


def _shuffle(value: Any) -> Any:
    if isinstance(value, Shuffle) or value is None:
        return value
    try:
        return Shuffle(value)
    except ValueError:
        return Shuffle.OFF


def _preprocess_time(args: Any):
    """(mean, stdev) of DLIO's per-sample preprocessing sleep: numbers in 2.0.0, a dict
    (``mean``, ``stdev``, ``type``) in DLIO main (taken as a normal distribution here)."""
    t = getattr(args, "preprocess_time", 0.0) or 0.0
    if isinstance(t, dict):
        return float(t.get("mean", 0.0) or 0.0), float(t.get("stdev", 0.0) or 0.0)
    return float(t), float(getattr(args, "preprocess_time_stdev", 0.0) or 0.0)


_live: "weakref.WeakSet[PyDaosDataLoader]" = weakref.WeakSet()


@atexit.register
def _shutdown_all() -> None:
    # Runs before multiprocessing's own exit handler (registered earlier, so run later), which
    # would terminate the persistent workers with SIGTERM: stopped in order instead, they
    # release what they hold (the fast sample mode's shared-memory slabs in /dev/shm).
    for dl in list(_live):
        dl.shutdown()


class PyDaosDataLoader(BaseDataLoader):
    """A DLIO data loader whose DataLoader reads whole batches through pydaos_torch."""

    def __init__(self, format_type, dataset_type, epoch):
        super().__init__(format_type, dataset_type, epoch, DataLoaderType.CUSTOM)
        self._loader: Optional[DataLoader] = None
        self._dataset = None
        _live.add(self)

    def shutdown(self) -> None:
        """Stops the DataLoader's workers (DLIO keeps them for the whole run)."""
        loader, self._loader = self._loader, None
        it = getattr(loader, "_iterator", None)
        if it is not None and hasattr(it, "_shutdown_workers"):
            try:
                it._shutdown_workers()
            except Exception:
                pass

    def _file_index(self, c: Any) -> Tuple[Index, Optional[np.ndarray]]:
        """DLIO's file list (``dataset.num_files_*`` after its checks, in DLIO's order) as an
        Index and the order over it (sample i is entry ``order[i]``): the one place the list
        meets the container. The broadcast Index when it holds every file (the list mapped
        onto it natively), else an Index of the list's paths (a stat per file)."""
        args = self._args
        names = args.file_list_train if self.dataset_type is DatasetType.TRAIN else args.file_list_eval
        paths = [runtime.path_in_container(args, f) for f in names]
        found = runtime.index_of_paths(args, paths) if runtime.uses_our_storage(args) else None
        return found if found is not None else index_from_paths(c, paths)

    def make_dataset(self):
        args = self._args
        s: Settings = getattr(args, "pydaos", None) or Settings()
        c = runtime.container_for(args)
        index, order = self._file_index(c)
        fmt = "npz" if self.format_type == FormatType.NPZ else "npy" if self.format_type == FormatType.NPY else None
        nspf = int(args.num_samples_per_file)
        cls = DlioFileDataset if nspf <= 1 else DlioSampleDataset
        ds = cls(container=c, index=index, _order=order, sample_mode="fast", depth=s.depth, progress=False)
        mean, stdev = _preprocess_time(args)
        ds._configure(decode=s.decode, fmt=fmt, preprocess_time=mean, preprocess_time_stdev=stdev)
        if nspf > 1:
            ds.samples_per_file = nspf
        return ds

    def read(self):
        args = self._args
        self._dataset = ds = self.make_dataset()
        sampler = DlioSampler(args.my_rank, args.comm_size, self.num_samples, _shuffle(args.sample_shuffle),
                              args.seed)
        workers = int(args.read_threads)
        kwargs: dict = {}
        if workers > 0:
            prefetch = math.ceil(args.prefetch_size / workers) if args.prefetch_size > 0 else 2
            kwargs = dict(multiprocessing_context=args.multiprocessing_context, prefetch_factor=max(1, prefetch),
                          persistent_workers=True)
        self._loader = DataLoader(ds, batch_size=self.batch_size, sampler=sampler, num_workers=workers,
                                  collate_fn=collate_batch, drop_last=True,
                                  pin_memory=bool(getattr(args, "pin_memory", False)) and torch.cuda.is_available(),
                                  **kwargs)
        if args.my_rank == 0:
            logging.info(f"pydaos_torch: data loader over {len(ds)} samples of {ds.container!r}, "
                         f"{workers} workers, batches of {self.batch_size}")

    def next(self):
        super().next()
        if self._loader is None:
            self.read()
        for batch in self._loader:
            yield batch
        self.epoch_number += 1

    def finalize(self):
        pass
