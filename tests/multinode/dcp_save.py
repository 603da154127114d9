"""One torchrun rank of test_multinode's DCP case: saves the DCP test's sharded state dict
(tests/dcp_ranks.py, seed SEED) to URI with pydaos_torch.dcp, and writes its host to
OUT/dcp<rank>.json.    torchrun ... dcp_save.py URI SEED OUT"""
from __future__ import annotations

import json
import os
import socket
import sys

import torch.distributed as dist
import torch.distributed.checkpoint as dcp

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/: dcp_ranks
import dcp_ranks  # noqa: E402

from pydaos_torch.dcp import DaosStorageWriter  # noqa: E402


def main(uri: str, seed: int, out: str) -> None:
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    dcp.save(dcp_ranks.sharded(seed, world), storage_writer=DaosStorageWriter(uri))
    with open(os.path.join(out, f"dcp{rank}.json"), "w") as f:
        json.dump({"host": socket.gethostname(), "world": world}, f)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
