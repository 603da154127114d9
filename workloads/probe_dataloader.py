#!/usr/bin/env python3
"""Where a fast-mode DataLoader epoch spends its CPU: a diagnostic, not a benchmark.

For Dataset(sample_mode="fast") over a directory of small files (default: bench_dataset's
20,000 x 16 KiB set, page cache warm after a warm-up epoch), prints
  - samples/s of DataLoader(batch 64, collate_batch, persistent workers) with 0 and N workers,
    and the CPU the trainer process itself uses (time.process_time: all its threads);
  - Dataset.__getitems__ alone, in this process, at depth 1 (a worker's share of 2 CPUs with 2
    workers) and 2: the read path without DataLoader.
The difference between the workers' CPU per file and __getitems__'s is DataLoader's per-batch
path in the workers (index fetch, pickling, result queue).

    .venv/bin/python workloads/probe_dataloader.py [--root DIR] [--workers 2]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from torch.utils.data import DataLoader

import pydaos_torch
from pydaos_torch import Dataset, collate_batch

DEFAULT_ROOT = Path(__file__).resolve().parent.parent / "build" / "bench_data" / "small-20000x16384"


def loader_epoch(ds: Dataset, workers: int, batch: int) -> None:
    dl = DataLoader(ds, batch_size=batch, num_workers=workers, collate_fn=collate_batch,
                    persistent_workers=workers > 0)
    for _ in dl:  # warm-up: workers started, slabs allocated, page cache warm
        pass
    t0, c0, n = time.perf_counter(), time.process_time(), 0
    for b in dl:
        n += len(b)
    t, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"DataLoader, {workers} workers: {n / t:,.0f} samples/s; trainer process {cpu / t:.2f} CPUs, "
          f"{cpu / (n / batch) * 1e6:.0f} µs CPU per batch")


def getitems_epoch(c: pydaos_torch.Container, index: pydaos_torch.Index, depth: int, batch: int) -> None:
    ds = Dataset(container=c, index=index, sample_mode="fast", depth=depth)
    idx = np.arange(len(ds))
    for _ in range(2):  # the second pass is the one printed (slabs reused, cache warm)
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(0, len(ds), batch):
            ds.__getitems__(idx[i:i + batch].tolist())
        t, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"__getitems__ in-process, depth {depth}: {len(ds) / t:,.0f} files/s, {cpu / len(ds) * 1e6:.1f} µs CPU "
          "per file")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="a directory of files (make it with bench_dataset.py)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    args = ap.parse_args()
    if not args.root.is_dir():
        raise SystemExit(f"{args.root}: no such directory (run workloads/bench_dataset.py --datasets small once)")
    c = pydaos_torch.connect(root=str(args.root), backend="local")
    index = c.scan("/")
    ds = Dataset(container=c, index=index, sample_mode="fast")
    for w in (0, args.workers):
        loader_epoch(ds, w, args.batch)
    for depth in (1, 2):
        getitems_epoch(c, index, depth, args.batch)


if __name__ == "__main__":
    main()
