"""torch.distributed.checkpoint: pydaos_torch.dcp vs DCP's own FileSystemWriter/Reader.

Same work on the same disk: a sharded state dict of a model's mix (large weights as DTensors
sharded by rows over the ranks, plus many 128 KiB tensors: biases, norms, optimizer scalars),
saved by ``dcp.save`` with the same durability (stock ``sync_files=True``, ours ``fsync=True``),
loaded by ``dcp.load`` into zeroed tensors whose checksum must equal the saved one (zeroing
and checksums outside the timed part), and the time
``dcp.async_save`` (thread mode) blocks the caller. Each run is a fresh set of gloo ranks
(``mp.spawn``); times are taken inside the ranks between barriers (start-up excluded), the
slowest rank's counts; arms interleave round by round, the loads read what the same round's
saves wrote (page cache warm for both arms). Peak RSS is the largest rank's.

    PYTHONPATH=$PWD .venv/bin/python workloads/bench_dcp.py [--quick] [--runs N] [--worlds 1,2]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from harness.results import quiet_blas

quiet_blas()

from harness.cli import RunDefaults, add_run_options, policy  # noqa: E402
from harness.machine import fs_of  # noqa: E402
from harness.results import base_result, publish, write_section  # noqa: E402
from harness.runner import Arm, arm_summary, run_round_robin  # noqa: E402
from harness.site import default_data_dir  # noqa: E402
from harness.tables import Headline, med, num, ratio_text, rng  # noqa: E402

RUN = RunDefaults(runs=5, attempts=2, quiet_wait=5.0, budget_min=30.0)
SMALL = 128 << 10
HERE = Path(__file__).resolve().parent


# ---------------------------------------------------------------- inside the ranks
def state_dict(total: int, world: int):
    """About ``total`` bytes over all ranks: 3/4 in 8 row-sharded weights, 1/4 in 128 KiB tensors."""
    import torch
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import Shard, distribute_tensor
    mesh = init_device_mesh("cpu", (world,))
    g = torch.Generator().manual_seed(1)
    rows = max(world, (total * 3 // 4) // 8 // (4096 * 4) // world * world)
    sd: Dict[str, Any] = {}
    for i in range(8):
        sd[f"layer{i}.weight"] = distribute_tensor(torch.randn(rows, 4096, generator=g), mesh, [Shard(0)])
    for i in range(max(1, (total // 4) // SMALL)):
        sd[f"small{i}"] = torch.randn(SMALL // 4, generator=g) if i % world == 0 else torch.full((SMALL // 4,), float(i))
    return sd


def checksum(sd) -> int:
    import torch
    s = 0
    for k in sorted(sd):
        t = sd[k].to_local() if hasattr(sd[k], "to_local") else sd[k]
        s = (s * 1000003 + int(t.contiguous().view(torch.int32).to(torch.int64).sum())) & ((1 << 61) - 1)
    return s


def rank_main(rank: int, world: int, port: str, job: Dict[str, Any]) -> None:
    import torch
    import torch.distributed as dist
    import torch.distributed.checkpoint as dcp
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=port)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    from pydaos_torch.dcp import DaosStorageReader, DaosStorageWriter
    from torch.distributed.checkpoint import FileSystemReader, FileSystemWriter
    sd = state_dict(job["bytes"], world)
    ours = job["arm"] == "pydaos"
    where = job["uri"] if ours else job["dir"]
    if job["op"] == "load":  # untimed: the checksum to match, the zeroed destination
        want = checksum(sd)
        for v in sd.values():
            (v.to_local() if hasattr(v, "to_local") else v).zero_()
    dist.barrier()
    t0 = time.perf_counter()
    out: Dict[str, Any] = {}
    if job["op"] == "save":
        dcp.save(sd, storage_writer=DaosStorageWriter(where) if ours else FileSystemWriter(where, sync_files=True))
    elif job["op"] == "async":
        w = DaosStorageWriter(where) if ours else FileSystemWriter(where, sync_files=True)
        fut = dcp.async_save(sd, storage_writer=w)
        out["blocked_s"] = time.perf_counter() - t0
        fut.result()
    else:
        dcp.load(sd, storage_reader=DaosStorageReader(where) if ours else FileSystemReader(where))
    dist.barrier()
    out["seconds"] = time.perf_counter() - t0
    if job["op"] == "load":  # every byte loaded checked, outside the timed part
        out["checksum_ok"] = checksum(sd) == want
    out["peak_rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    got: List[Any] = [None] * world
    dist.all_gather_object(got, out)
    if rank == 0:
        print("RESULT " + json.dumps({k: (max(x[k] for x in got) if k != "checksum_ok" else all(x[k] for x in got))
                                      for k in out}), flush=True)
    dist.destroy_process_group()


def ranks_entry() -> None:
    import torch.multiprocessing as mp
    job = json.loads(sys.argv[2])
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = str(s.getsockname()[1])
    s.close()
    mp.spawn(rank_main, args=(job["world"], port, job), nprocs=job["world"], join=True)


# ---------------------------------------------------------------- the benchmark
def run_job(job: Dict[str, Any], env: Dict[str, str]) -> Dict[str, Any]:
    r = subprocess.run([sys.executable, __file__, "--ranks", json.dumps(job)], env=env, capture_output=True,
                       text=True, timeout=1800)
    if r.returncode != 0:
        raise RuntimeError(f"{job} failed (rc {r.returncode}): {r.stderr[-2000:]}")
    line = [x for x in r.stdout.splitlines() if x.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def bench_world(args, pol, result: Dict[str, Any], world: int, nbytes: int, env: Dict[str, str]) -> None:
    root = args.dir / f"w{world}"
    shutil.rmtree(root, ignore_errors=True)
    (root / "bench" / "dcp").mkdir(parents=True)
    (root / "stock").mkdir()
    env = dict(env, PYDAOS_TORCH_BACKEND="local", PYDAOS_TORCH_ROOT=str(root))
    where = {"pydaos": {"uri": "daos://bench/dcp/ck", "dir": ""}, "stock": {"uri": "", "dir": str(root / "stock")}}
    for op in args.ops.split(","):
        arms = []
        for arm, label in (("stock", "DCP FileSystemWriter/Reader (sync_files=True)"),
                           ("pydaos", "pydaos_torch.dcp (fsync=True)")):
            job = dict(where[arm], arm=arm, op=op, world=world, bytes=nbytes)
            arms.append(Arm(f"{arm}-{op}-w{world}", label, arm, lambda job=job: run_job(job, env),
                            {"op": op, "world": world}))

        def validate(a: Arm, res: Dict[str, Any]) -> None:
            if res.get("checksum_ok") is False:
                raise RuntimeError(f"{a.key}: the loaded state dict's checksum differs from the saved one")
            res["gib_per_s"] = nbytes / 2**30 / res["seconds"]
        if op == "load":  # something to load: one save by each arm first
            for arm in ("stock", "pydaos"):
                run_job(dict(where[arm], arm=arm, op="save", world=world, bytes=nbytes), env)
        rounds = run_round_robin(arms, pol, f"dcp {op} w{world}", validate,
                                 lambda r: f"{r['seconds']:.2f}s")
        summ = [arm_summary(a, ["seconds", "gib_per_s", "blocked_s", "peak_rss"]) for a in arms]
        result["tables"].append({"op": op, "world": world, "bytes": nbytes, "arms": summ, "rounds": rounds})


TARGETS = {"save": "≥ 1.2x", "load": "≥ 1.5x", "async": "blocked ≤ stock"}


def tables(res: Dict[str, Any], hl: Optional[Headline] = None) -> str:
    """Per rank count and operation, ours vs DCP's stock storage; headline rows to hl."""
    hl = hl or Headline()
    out = ["| ranks | operation | arm | GiB/s median | min–max | vs stock (paired) | blocked s | peak RSS/rank | runs |",
           "|---:|---|---|---:|---:|---:|---:|---:|---|"]
    for t in res["tables"]:
        stock = t["arms"][0]
        for a in t["arms"]:
            blocked = num(med(a, "blocked_s")) if t["op"] == "async" else ""
            rss = med(a, "peak_rss")
            out.append(f"| {t['world']} | {t['op']} ({t['bytes'] / 2**30:.2g} GiB) | {a['label']} | "
                       f"{num(med(a, 'gib_per_s'))} | {rng(a, 'gib_per_s', num)} | "
                       f"{ratio_text(a, stock, 'gib_per_s') if a is not stock else '1.00'} | {blocked} | "
                       f"{num(rss / 2**20) + ' MiB' if rss else ''} | {a['stats_over']} |")
        ours = t["arms"][1]
        hl.add("dcp", f"{t['op']}, {t['world']} rank(s), {t['bytes'] / 2**30:.2g} GiB", ours, stock, "gib_per_s",
               "GiB/s", "DCP FileSystem", TARGETS[t["op"]])
    return "\n".join(out) + "\n"


def write_readme(out_dir: Path, result: Dict[str, Any], json_name: str) -> None:
    body = (f"### DCP: pydaos_torch.dcp vs DCP's FileSystemWriter/Reader\n\n`{result['command']}` "
            f"({result['date']}, {result['fs']}; `{json_name}`)\n\n" + tables(result))
    write_section(out_dir, "dcp", "bench_dcp.py", body)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_options(ap, RUN)
    ap.add_argument("--quick", action="store_true", help="64 MiB, 3 runs, no retries")
    ap.add_argument("--gib", type=float, default=0.0, help="state dict size in GiB (default 1, --quick 1/16)")
    ap.add_argument("--worlds", default="1,2", help="rank counts, comma-separated")
    ap.add_argument("--ops", default="save,load,async", help="operations, comma-separated")
    ap.add_argument("--dir", type=Path, default=default_data_dir("bench_dcp"))
    args = ap.parse_args()
    nbytes = int((args.gib or (1 / 16 if args.quick else 1.0)) * 2**30)
    pol = policy(args, RUN)
    result = base_result("dcp", args, pol.runs, pol)
    result.update({"tables": [], "dir": str(args.dir)})
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")]))
    for world in (int(w) for w in args.worlds.split(",")):
        bench_world(args, pol, result, world, nbytes, env)
    result["fs"] = fs_of(args.dir.resolve())
    publish(args, result, "dcp", tables(result), write_readme)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--ranks":
        ranks_entry()
    else:
        main()
