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


def fsdp_model(world: int):
    """A small MLP under FSDP2 (fully_shard per layer and at the root) with Adam after one
    step on a fixed batch; uneven rows (24 and 6 over 4 ranks) test padding."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Linear(8, 24), torch.nn.ReLU(), torch.nn.Linear(24, 6))
    mesh = init_device_mesh("cpu", (world,))
    for layer in m:
        if isinstance(layer, torch.nn.Linear):
            fully_shard(layer, mesh=mesh)
    fully_shard(m, mesh=mesh)
    opt = torch.optim.Adam(m.parameters(), lr=0.1)
    return m, opt


def fsdp_full(m, opt) -> dict:
    """The model's and optimizer's state as full plain tensors (every rank gathers)."""
    from torch.distributed.checkpoint.state_dict import get_state_dict
    msd, osd = get_state_dict(m, opt)
    flat = {f"model.{k}": v for k, v in msd.items()}
    for k, st in osd["state"].items():
        flat.update({f"optim.{k}.{n}": v for n, v in st.items()})
    return {k: (v.full_tensor() if hasattr(v, "full_tensor") else v).clone() for k, v in flat.items()}


def fsdp_action(action: str, uri: str, world: int, ref: str) -> None:
    from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict
    from pydaos_torch.dcp import DaosStorageReader, DaosStorageWriter
    m, opt = fsdp_model(world)
    if action == "fsdp-save":
        torch.manual_seed(1)
        m(torch.randn(5, 8)).pow(2).sum().backward()
        opt.step()
        msd, osd = get_state_dict(m, opt)
        dcp.save({"model": msd, "optim": osd}, storage_writer=DaosStorageWriter(uri))
        full_sd = fsdp_full(m, opt)
        if dist.get_rank() == 0:
            torch.save(full_sd, ref)
        return
    m(torch.zeros(1, 8)).sum().backward()  # an optimizer state to load into
    opt.step()
    msd, osd = get_state_dict(m, opt)
    sd = {"model": msd, "optim": osd}
    dcp.load(sd, storage_reader=DaosStorageReader(uri))
    set_state_dict(m, opt, model_state_dict=sd["model"], optim_state_dict=sd["optim"])
    want, got = torch.load(ref), fsdp_full(m, opt)
    assert want.keys() == got.keys(), (sorted(want), sorted(got))
    for k in want:
        assert torch.equal(want[k], got[k]), k


def rank_main(rank: int, world: int, port: str, action: str, uri: str, args: list) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=port, RANK=str(rank), WORLD_SIZE=str(world))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    from pydaos_torch.dcp import DaosStorageReader, DaosStorageWriter
    seed = int(args[0]) if args and args[0].isdigit() else 1
    try:
        if action == "save":
            dcp.save(sharded(seed, world), storage_writer=DaosStorageWriter(uri))
        elif action.startswith("async-"):  # async-{thread,process}[-late]: -late gives the id to async_save
            from torch.distributed.checkpoint.state_dict_saver import AsyncCheckpointerType
            kind = AsyncCheckpointerType.THREAD if "thread" in action else AsyncCheckpointerType.PROCESS
            late = action.endswith("-late")
            for s in (seed, seed + 1):  # twice: the second save reuses the checkpoint process
                w = DaosStorageWriter(None if late else uri)
                fut = dcp.async_save(sharded(s, world), storage_writer=w, async_checkpointer_type=kind,
                                     checkpoint_id=uri if late else None)
                fut.result()
        elif action == "load":
            sd = zeros_like(sharded(0, world))
            dcp.load(sd, storage_reader=DaosStorageReader(uri))
            check(sd, seed)
        elif action in ("fsdp-save", "fsdp-load"):  # ARGS: the reference file of full tensors
            fsdp_action(action, uri, world, args[0])
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
