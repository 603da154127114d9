"""Ranks of the DCP tests (tests/test_dcp.py): ``python dcp_ranks.py WORLD ACTION URI [ARGS]``
spawns WORLD gloo ranks on this host, each running ACTION. The state dict is a model's mix:
a DTensor sharded by rows and one by columns over all ranks, a replicated tensor, bf16,
an int step and a bytes item; its values depend only on the seed, so any world size can
check what it loaded against the full tensors."""
import os
import sys

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
import torch.multiprocessing as mp

ROWS, COLS = 24, 16


def full(seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {"rows": torch.randn(ROWS, COLS, generator=g), "cols": torch.randn(ROWS, COLS, generator=g),
            "rep": torch.randn(7, generator=g), "bf16": torch.randn(5, 3, generator=g).to(torch.bfloat16)}


def sharded(seed: int, world: int) -> dict:
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import Replicate, Shard, distribute_tensor
    mesh = init_device_mesh("cpu", (world,))
    f = full(seed)
    return {"rows": distribute_tensor(f["rows"], mesh, [Shard(0)]),
            "cols": distribute_tensor(f["cols"], mesh, [Shard(1)]),
            "rep": distribute_tensor(f["rep"], mesh, [Replicate()]),
            "bf16": f["bf16"], "step": seed, "note": {"text": f"seed {seed}"}}


def zeros_like(sd: dict) -> dict:
    out = {}
    for k, v in sd.items():
        if isinstance(v, torch.Tensor):
            out[k] = v.clone()
            out[k].zero_() if not hasattr(v, "to_local") else out[k].to_local().zero_()
        else:
            out[k] = None if k != "note" else {"text": ""}
    return out


def check(sd: dict, seed: int) -> None:
    f = full(seed)
    for k in ("rows", "cols", "rep", "bf16"):
        got = sd[k].full_tensor() if hasattr(sd[k], "full_tensor") else sd[k]
        assert torch.equal(got, f[k]), k
    assert sd["step"] == seed and sd["note"] == {"text": f"seed {seed}"}, (sd["step"], sd["note"])


def rank_main(rank: int, world: int, port: str, action: str, uri: str, args: list) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=port, RANK=str(rank), WORLD_SIZE=str(world))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    from pydaos_torch.dcp import DaosStorageReader, DaosStorageWriter
    seed = int(args[0]) if args else 1
    try:
        if action == "save":
            dcp.save(sharded(seed, world), storage_writer=DaosStorageWriter(uri))
        elif action in ("async-thread", "async-process"):
            from torch.distributed.checkpoint.state_dict_saver import AsyncCheckpointerType
            kind = AsyncCheckpointerType.THREAD if action == "async-thread" else AsyncCheckpointerType.PROCESS
            fut = dcp.async_save(sharded(seed, world), storage_writer=DaosStorageWriter(uri),
                                 async_checkpointer_type=kind)
            fut.result()
        elif action == "load":
            sd = zeros_like(sharded(0, world))
            dcp.load(sd, storage_reader=DaosStorageReader(uri))
            check(sd, seed)
        elif action == "save-loop":  # until killed: saves seed, seed + 1, ...
            while True:
                dcp.save(sharded(seed, world), storage_writer=DaosStorageWriter(uri))
                if rank == 0:
                    print(f"saved {seed}", flush=True)
                seed += 1
        dist.barrier()
    finally:
        dist.destroy_process_group()


def main() -> None:
    world, action, uri, args = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = str(s.getsockname()[1])
    s.close()
    mp.spawn(rank_main, args=(world, port, action, uri, args), nprocs=world, join=True)


if __name__ == "__main__":
    main()
