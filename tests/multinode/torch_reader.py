"""One torchrun rank of test_multinode's torchrun case: reads every sample of the container's
/samples through an IterableDataset, then through a map Dataset with DistributedSampler, and
writes what it read (the samples' ids, per DataLoader batch) to OUT/rank<r>.json.
    torchrun ... torch_reader.py ROOT OUT   (ROOT: a local-backend root every host sees)"""
from __future__ import annotations

import json
import socket
import sys

import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler

from pydaos_torch import Dataset, IterableDataset

BATCH = 4


def ids(batch) -> list:
    return [int(bytes(s)) for s in batch]


def main(root: str, out: str) -> None:
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    where = {"backend": "local", "root": root, "pool": "pool", "cont": "cont", "path": "/samples"}
    it = IterableDataset(**where, batch_size=BATCH)
    iterable = [ids(b) for b in DataLoader(it, batch_size=BATCH, collate_fn=list)]
    ds = Dataset(**where)
    sampler = DistributedSampler(ds, shuffle=True, seed=0, drop_last=False)
    mapped = [ids(b) for b in DataLoader(ds, batch_size=BATCH, sampler=sampler, collate_fn=list)]
    dist.barrier()  # every rank got this far over the simulated network
    with open(f"{out}/rank{rank}.json", "w") as f:
        json.dump({"host": socket.gethostname(), "iterable": iterable, "map": mapped}, f)
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
