"""Cost per rank as a job grows: connect + attach, and the Index broadcast, under mpirun.

What every rank of a DLIO job on our plug-ins pays before its first sample (the design of
pydaos_torch/dlio/runtime.py): rank 0 connects and broadcasts its serialized handle, the other
ranks attach (``daos_pool_global2local``...; on the dfs double, built here from tests/fake_dfs);
rank 0's Index of the data folder is broadcast in 64 MiB pieces and decoded by every rank.
For Indexes of 10k, 100k, 1M and 10M entries (synthetic paths of a DLIO-like layout, made
once and saved), and 2, 4, 8, 16 ranks: the slowest rank's time, the bytes sent, and each
rank's peak memory above its start; also the alternative "every rank loads the saved Index
file" (one read per rank). Oversubscribed on this host, and with ``--hosts H`` across H
simulated hosts (network namespaces, tests/multinode; root only), marked as such.

    PYTHONPATH=$PWD .venv/bin/python workloads/bench_scale.py [--quick] [--ranks 2,4,8,16]
        [--entries 10000,100000,1000000,10000000] [--hosts 1,2] [--runs 3]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO / "tests"))

from harness.machine import host, machine  # noqa: E402
from harness.results import command_line, write_json, write_section  # noqa: E402
from harness.site import default_data_dir  # noqa: E402
from harness.tables import num  # noqa: E402

POOL, CONT = "scale", "bench"
MEM_CAP = 16 << 30  # skip a combination whose Index copies would need more than this in total


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# ---------------------------------------------------------------- inside each rank
def rank_main(job: Dict[str, Any]) -> None:
    from mpi4py import MPI
    import pydaos_torch
    from pydaos_torch import Container, Index
    from pydaos_torch.dlio.runtime import bcast_bytes
    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    out: Dict[str, Any] = {"host": os.uname().nodename}
    base = rss_bytes()
    comm.Barrier()
    t0 = time.perf_counter()
    c = pydaos_torch.connect(POOL, CONT, backend="dfs") if rank == 0 else None
    blob = comm.bcast(c.serialize() if c is not None else None, root=0)
    if c is None:
        c = Container.attach(blob)
    c.stat("/")  # the first operation on the attached handles
    out["connect_s"] = time.perf_counter() - t0
    out["handle_bytes"] = len(blob)
    comm.Barrier()
    steps = []
    for entries, path in job["indexes"]:
        ix0 = Index.load(path) if rank == 0 else None  # rank 0's scan result (scan cost: bench_scan)
        comm.Barrier()
        before = rss_bytes()
        t0 = time.perf_counter()
        data = ix0.to_bytes() if rank == 0 else None
        data = bcast_bytes(comm, data)
        ix = Index.from_bytes(data)
        n = len(data)
        del data
        t_bcast = time.perf_counter() - t0
        assert len(ix) == entries
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        del ix, ix0
        comm.Barrier()
        t0 = time.perf_counter()
        ix = Index.load(path)  # the alternative: every rank reads the saved Index
        t_load = time.perf_counter() - t0
        del ix
        steps.append({"entries": entries, "bytes": n, "bcast_s": t_bcast, "load_s": t_load,
                      "peak_above_start": max(0, peak - base), "rss_before": before - base})
    out["steps"] = steps
    got = comm.gather(out, root=0)
    if rank != 0:
        c.close()
    comm.Barrier()  # rank 0 keeps the pool handle until every rank is done with it
    if rank == 0:
        c.close()
        Path(job["result"]).write_text(json.dumps(got))


# ---------------------------------------------------------------- the benchmark
def make_index(path: Path, entries: int) -> int:
    """A DLIO-like tree: 1,000 files a directory, names of 24 bytes; returns the saved bytes."""
    from pydaos_torch import Index
    per = 1000
    paths = [f"train/d{i // per:06d}/img_{i:09d}.npz" for i in range(entries)]
    Index.build("data", paths, [146_800_640] * entries).save(str(path))
    return path.stat().st_size


def build_double(where: Path) -> Dict[str, str]:
    from backends import _load
    b, control = _load("build"), _load("control")
    libs = b.build(str(where / "double"), **b.preset(b.NEWEST))
    store = where / "store"
    control.init_store(str(store))
    control.create_pool(str(store), POOL)
    control.create_container(str(store), POOL, CONT)
    return {"PYDAOS_TORCH_LIBDFS": libs["libdfs"], "FAKE_DAOS_STORE": str(store), "PYDAOS_TORCH_BACKEND": "dfs"}


def mpirun_bin() -> str:
    return str(Path(sys.executable).parent / "mpirun")


def netem_missing() -> str:
    """Why added link latency cannot be had here ("" when tc netem works)."""
    from multinode.hosts import SimulatedHosts
    with SimulatedHosts(2, delay_ms=1) as h:
        out = subprocess.run(["tc", "-n", h.namespaces[0], "qdisc", "show", "dev", "eth0"], capture_output=True,
                             text=True).stdout
    return "" if "netem" in out else "this kernel has no tc netem (sch_netem): links without added latency"


def run_job(ranks: int, hosts: int, indexes: List[Any], env: Dict[str, str], work: Path,
            delay_ms: int = 0) -> List[Dict[str, Any]]:
    result = work / f"r{ranks}-h{hosts}.json"
    result.unlink(missing_ok=True)
    job = json.dumps({"indexes": indexes, "result": str(result)})
    prog = [sys.executable, str(Path(__file__).resolve()), "--rank-job", job]
    if hosts <= 1:
        cmd = [mpirun_bin(), "--allow-run-as-root", "--oversubscribe", "-np", str(ranks), "--bind-to", "none", *prog]
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    else:
        from multinode.hosts import MPIRUN, SimulatedHosts
        with SimulatedHosts(hosts, delay_ms=delay_ms) as h:
            cmd = [MPIRUN, "--oversubscribe", "-np", str(ranks), "--map-by", f"ppr:{ranks // hosts}:node",
                   "--bind-to", "none", *prog]
            r = subprocess.run(cmd, env={**env, **h.env(mpirun_bin())}, capture_output=True, text=True, timeout=1800)
    if r.returncode != 0:
        raise RuntimeError(f"{ranks} ranks on {hosts} host(s) failed (rc {r.returncode}): {r.stderr[-3000:]}")
    return json.loads(result.read_text())


def summarize(runs: List[List[Dict[str, Any]]]) -> Dict[str, Any]:
    """Per figure: the slowest rank of each run, then the median and range over runs."""
    def over(vals: List[float]) -> Dict[str, float]:
        return {"median": statistics.median(vals), "min": min(vals), "max": max(vals)}
    s: Dict[str, Any] = {"connect_s": over([max(r["connect_s"] for r in run) for run in runs]),
                         "handle_bytes": runs[0][0]["handle_bytes"], "hosts": sorted({r["host"] for r in runs[0]}),
                         "steps": []}
    for i, st in enumerate(runs[0][0]["steps"]):
        s["steps"].append({"entries": st["entries"], "bytes": st["bytes"],
                           "bcast_s": over([max(r["steps"][i]["bcast_s"] for r in run) for run in runs]),
                           "load_s": over([max(r["steps"][i]["load_s"] for r in run) for run in runs]),
                           "peak_mib": over([max(r["steps"][i]["peak_above_start"] for r in run) / 2**20
                                             for run in runs])})
    return s


def tables(res: Dict[str, Any], hl: Any = None) -> str:
    """The two tables (no headline rows: nothing here has a baseline arm)."""
    out = ["| ranks | hosts | connect + attach, slowest rank | handle bytes |", "|---:|---|---:|---:|"]
    for case in res["cases"]:
        s = case["summary"]
        out.append(f"| {case['ranks']} | {case['where']} | {num(s['connect_s']['median'] * 1e3)} ms "
                   f"({num(s['connect_s']['min'] * 1e3)}–{num(s['connect_s']['max'] * 1e3)}) | {s['handle_bytes']} |")
    out += ["", "| ranks | hosts | Index entries | bytes broadcast | broadcast + decode, slowest rank | "
            "every rank loads the saved Index | peak memory above start, per rank |",
            "|---:|---|---:|---:|---:|---:|---:|"]
    for case in res["cases"]:
        for st in case["summary"]["steps"]:
            out.append(f"| {case['ranks']} | {case['where']} | {st['entries']:,} | {st['bytes']:,} | "
                       f"{num(st['bcast_s']['median'])} s ({num(st['bcast_s']['min'])}–{num(st['bcast_s']['max'])}) | "
                       f"{num(st['load_s']['median'])} s | {num(st['peak_mib']['median'])} MiB |")
    if res.get("skipped"):
        out += ["", "Not run:"] + [f"- {s}" for s in res["skipped"]]
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2 and 4 ranks, 10k and 100k entries, 1 run")
    ap.add_argument("--ranks", default="")
    ap.add_argument("--entries", default="")
    ap.add_argument("--hosts", default="1,2", help="1: oversubscribed here; H > 1: across H simulated hosts")
    ap.add_argument("--runs", type=int, default=0)
    ap.add_argument("--sim-max-entries", type=int, default=1_000_000,
                    help="largest Index across simulated hosts (their TCP over veth is slow when oversubscribed)")
    ap.add_argument("--sim-max-ranks", type=int, default=8)
    ap.add_argument("--delay-ms", type=int, default=2,
                    help="also run the simulated hosts with this link latency (tc netem), where the kernel has it")
    ap.add_argument("--out", type=Path, default=REPO / "results")
    ap.add_argument("--no-readme", action="store_true")
    ap.add_argument("--dir", type=Path, default=default_data_dir("bench_scale"))
    args = ap.parse_args()
    ranks = [int(x) for x in (args.ranks or ("2,4" if args.quick else "2,4,8,16")).split(",")]
    entries = [int(x) for x in (args.entries or ("10000,100000" if args.quick else
                                                 "10000,100000,1000000,10000000")).split(",")]
    runs = args.runs or (1 if args.quick else 3)
    hosts = [int(h) for h in args.hosts.split(",")]
    shutil.rmtree(args.dir, ignore_errors=True)
    args.dir.mkdir(parents=True)
    env = dict(os.environ, **build_double(args.dir), OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    sizes = {}
    for e in sorted(entries):
        sizes[e] = make_index(args.dir / f"index-{e}.bin", e)
        print(f"index of {e:,} entries: {sizes[e]:,} bytes", file=sys.stderr, flush=True)
    result: Dict[str, Any] = {"benchmark": "scale", "command": command_line(), "date": time.strftime("%Y-%m-%d"),
                              "host": host(), "machine": machine(), "runs": runs, "cases": [], "skipped": []}
    from multinode.hosts import unavailable
    plans = [(h, 0) for h in hosts]
    if args.delay_ms and any(h > 1 for h in hosts) and not unavailable():
        why = netem_missing()
        if why:
            result["skipped"].append(f"simulated hosts with {args.delay_ms} ms links: {why}")
        else:
            plans += [(h, args.delay_ms) for h in hosts if h > 1]
    for h, delay in plans:
        if h > 1 and unavailable():
            result["skipped"].append(f"{h} simulated hosts: {unavailable()}")
            continue
        for n in ranks:
            if n % h or (h > 1 and n > args.sim_max_ranks):
                continue
            fit = [e for e in sorted(entries) if 3 * n * sizes[e] <= MEM_CAP]
            result["skipped"] += [f"{e:,} entries at {n} ranks: {3 * n * sizes[e] / 2**30:.1f} GiB of copies "
                                  f"would pass the {MEM_CAP >> 30} GiB cap of this machine"
                                  for e in sorted(entries) if e not in fit]
            if h > 1:
                result["skipped"] += [f"{e:,} entries across {h} simulated hosts at {n} ranks: above "
                                      f"--sim-max-entries" for e in fit if e > args.sim_max_entries]
                fit = [e for e in fit if e <= args.sim_max_entries]
            idx = [[e, str(args.dir / f"index-{e}.bin")] for e in fit]
            got = []
            for r in range(runs):
                got.append(run_job(n, h, idx, env, args.dir, delay))
                print(f"[scale] {n} ranks, {h} host(s), run {r + 1}/{runs}: connect "
                      f"{max(x['connect_s'] for x in got[-1]) * 1e3:.1f} ms, largest broadcast "
                      f"{max(x['steps'][-1]['bcast_s'] for x in got[-1]):.2f} s", file=sys.stderr, flush=True)
            where = "1 (oversubscribed)" if h == 1 else f"{h} simulated" + (f", {delay} ms links" if delay else "")
            result["cases"].append({"ranks": n, "hosts": h, "delay_ms": delay, "where": where,
                                    "summary": summarize(got), "raw": got})
    shutil.rmtree(args.dir, ignore_errors=True)
    p = write_json(args.out, result, "scale")
    print(tables(result))
    if not args.quick and not args.no_readme:
        write_section(args.out, "scale", "bench_scale.py",
                      f"### Cost per rank as the job grows\n\n`{result['command']}` ({result['date']}, "
                      f"{result['host']}; `{p.name}`; see docs/scale.md)\n\n" + tables(result))
    print(f"json: {p}")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--rank-job":
        rank_main(json.loads(sys.argv[2]))
    else:
        main()
