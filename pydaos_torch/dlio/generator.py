"""Data generation straight into the container (``storage.storage_type: pydaos_torch``).

DLIO 2.0.0's generators write with ``np.savez(path)`` to a local path, whatever the storage;
this one makes the same arrays (the same dimensions, from ``np.random.seed(10)``, uint8
content, DLIO's file names, files striped over ranks) and writes each file in one native write.

Files of many samples are stored with each sample contiguous (``workload.pydaos.layout:
sample``, the default): ``x`` is written in Fortran order, so ``np.load(f)['x'][..., k]`` is the
same array as DLIO's, and our reader reads only sample ``k``'s bytes.
"""
from __future__ import annotations

import io
import logging

import numpy as np
from dlio_benchmark.common.enumerations import Compression, FormatType
from dlio_benchmark.data_generator.data_generator import DataGenerator

from . import runtime
from .settings import Settings


class PyDaosGenerator(DataGenerator):
    """npz and npy generation through the native core (both DLIO versions)."""

    def __init__(self):
        super().__init__()
        self._c = runtime.container_for(self._args)
        self._settings = getattr(self._args, "pydaos", None) or Settings()

    def generate(self):
        super().generate()  # rank 0 makes the directories; a barrier; the file list
        fmt = self._args.format
        np.random.seed(10)
        labels = [0] * self.num_samples
        dim = self.get_dimension(self.total_files_to_generate)
        fortran = self._settings.layout == "sample" and self.num_samples > 1
        dtype = getattr(self._args, "record_element_dtype", None) or np.uint8
        written = 0
        for i in range(self.my_rank, int(self.total_files_to_generate), self.comm_size):
            d = dim[2 * i]
            shape = (*d, self.num_samples) if isinstance(d, (list, tuple)) else (d, dim[2 * i + 1], self.num_samples)
            if np.dtype(dtype).kind in "iu":
                records = np.random.randint(255, size=shape, dtype=dtype)
            else:
                records = np.random.random(size=shape).astype(dtype)
            if fortran:
                records = np.asfortranarray(records)
            out = io.BytesIO()
            if fmt == FormatType.NPZ:
                if self.compression != Compression.ZIP:
                    np.savez(out, x=records, y=labels)
                else:
                    np.savez_compressed(out, x=records, y=labels)
            elif fmt == FormatType.NPY:
                np.save(out, records)
            else:  # checked when the config is loaded; here for safety
                raise ValueError(f"pydaos_torch storage: cannot generate dataset.format {fmt}")
            self._c.write(self.storage.get_uri(self._file_list[i]), out.getbuffer())
            written += 1
        np.random.seed()
        runtime.forget_indexes()
        if self.my_rank == 0:
            logging.info(f"pydaos_torch: generated {self.total_files_to_generate} {fmt} files in {self._c!r}")
