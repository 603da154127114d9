"""The README's main job (until the DLIO workloads land): generate a small dataset into a
local container, read it back through pydaos_torch.Dataset and a DataLoader with workers,
verify every byte, and print samples/s.

    python workloads/quickstart.py [--files 2048] [--size 65536] [--workers 2] [--root DIR]
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
from torch.utils.data import DataLoader

import pydaos_torch
from pydaos_torch import Dataset, collate_batch


def generate(c: pydaos_torch.Container, files: int, size: int) -> None:
    """Writes `files` random samples of `size` bytes in directories of 256."""
    rng = np.random.default_rng(0)
    for i in range(files):
        c.write(f"/train/{i // 256:03d}/sample_{i:06d}.bin", rng.integers(0, 256, size, dtype=np.uint8).tobytes())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=os.path.join("build", "quickstart"))
    ap.add_argument("--files", type=int, default=2048)
    ap.add_argument("--size", type=int, default=64 << 10)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=2)
    args = ap.parse_args()

    os.makedirs(args.root, exist_ok=True)
    with pydaos_torch.connect("pool", "cont", backend="local", root=args.root, create=True) as c:
        t = time.perf_counter()
        if not c.exists("/train") or len(c.scan("/train")) != args.files:
            if c.exists("/train"):
                c.remove("/train", recursive=True)
            generate(c, args.files, args.size)
        print(f"dataset: {args.files} files x {args.size} B in {c!r} ({time.perf_counter() - t:.1f} s)")

        ds = Dataset(c, path="/train", sample_mode="fast")
        expected = sum_of_files(c, ds)
        loader = DataLoader(ds, batch_size=args.batch, shuffle=True, num_workers=args.workers,
                            collate_fn=collate_batch, persistent_workers=args.workers > 0)
        for epoch in range(args.epochs):
            t = time.perf_counter()
            samples, total = 0, 0
            for batch in loader:
                samples += len(batch)
                total += int(batch.data.to(torch.int64).sum())  # touch every byte
            dt = time.perf_counter() - t
            ok = "ok" if total == expected else f"MISMATCH {total} != {expected}"
            print(f"epoch {epoch}: {samples} samples in {dt:.2f} s = {samples / dt:,.0f} samples/s, "
                  f"{samples * args.size / dt / 2**20:,.0f} MiB/s, byte sum {ok}")
            if total != expected:
                raise SystemExit(1)


def sum_of_files(c: pydaos_torch.Container, ds: Dataset) -> int:
    """The byte sum of every sample, read once through plain file reads of the container."""
    total = 0
    for i in range(len(ds)):
        total += int(np.frombuffer(c.read("/train/" + ds.index.path(i)), dtype=np.uint8).sum(dtype=np.int64))
    return total


if __name__ == "__main__":
    main()
