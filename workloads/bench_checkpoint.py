#!/usr/bin/env python3
"""pydaos_torch.Checkpoint save and load of a 1 GiB state_dict vs torch.save / torch.load of a
local file on the same disk.

The state_dict: a transformer-like model in float32 (an embedding of 16384 x 1024, then 20 layers
of four 1024 x 1024 and two 4096 x 1024 matrices and a norm vector): 141 tensors, 1.00 GiB,
random values from a fixed seed, created once, untimed.

Sizes: --sizes (GiB, default 1) scales the model's width; every table below is made per size.

Arms (same bytes, same disk: both files live under --dir, default build/bench_ckpt on the
repository's file system):
  save  torch.save(sd, PATH)                         vs  Checkpoint(backend="local").save(sd, NAME)
  load  torch.load(PATH)                             vs  Checkpoint.load(NAME)
  dd    the disk's limit beside them: dd of the same number of bytes in 64 MiB blocks (writes
        from /dev/zero, with conv=fsync when the table is fsync; reads the torch.save file to
        /dev/null), no serialization at all; a row of its own, not a competitor.
At a DAOS site (workloads/suite.py --daos/--dfuse) --dir lies in the dfuse mount: the torch
and dd arms write through dfuse, Checkpoint through libdfs to the same container.
Durability, the same for both sides of a comparison and stated per table:
  nosync  neither fsyncs: save returns once the data is in the page cache (each run starts
          after os.sync(), untimed, so no earlier dirty data is pending)
  fsync   both fsync the file's data before save returns (torch.save, then fsync(2) of the
          file; Checkpoint(fsync=True), which fsyncs its temporary file before the commit
          rename); neither fsyncs the directory
Scenarios for save:
  replace a checkpoint of that name exists (written and synced before the run): torch.save
          truncates it in place (not atomic); Checkpoint writes a new version, commits it by
          rename, then removes the old version
  new     the name does not exist (the previous file is removed, untimed, before the run)
Loads run each in a FRESH process (the timed region is the load call alone; the interpreter
and imports are not timed): a fresh heap, as when a job resumes, so both sides pay the same
page faults for the 1 GiB they allocate (in one long-lived process the allocator's leftovers
from the previous run make that cost random). Page cache: warm (the file was just written and
synced; residency recorded) and, as a second table, cold (posix_fadvise DONTNEED before each
load). Every load is verified: the uint64 word sums of every tensor must match the original's.

Start-up excluded: one untimed save per save arm first (Checkpoint's recycled chunk buffers
are then allocated, as in a training job that saves more than once). Round-robin, median and
spread of --runs runs, CPU time of this process tree per GiB (the load arms report the CPU of
the load call, all threads), interference as in harness.runner (kernel threads, which do the
page-cache writeback these runs cause, are counted apart from other processes).

Writes results/<date>-checkpoint-<host>[-quick].json and (full runs) a marked section of
results/README.md.

    PYTHONPATH=$PWD .venv/bin/python workloads/bench_checkpoint.py [--quick] [--runs N]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from harness.results import quiet_blas

quiet_blas()  # before numpy: the harness itself uses no BLAS

import numpy as np  # noqa: E402
import torch  # noqa: E402

from harness.cli import RunDefaults, add_run_options, policy  # noqa: E402
from harness.fileset import GiB, checksum, evict, residency  # noqa: E402
from harness.machine import fs_of, machine_line  # noqa: E402
from harness.results import base_result, publish, write_section  # noqa: E402
from harness.runner import Arm, Policy, arm_summary, interference_text, run_round_robin  # noqa: E402
from harness.site import default_data_dir, site_target  # noqa: E402
from harness.stats import paired  # noqa: E402
from harness.tables import Headline, med, num, ratio_text, rng  # noqa: E402

GiB = GiB


RUN = RunDefaults(runs=5, attempts=6, quiet_wait=10.0)


def make_state_dict(scale: float = 1.0) -> Dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(20240601)
    h = int(1024 * scale)
    sd = {"embed.weight": torch.randn(16 * h, h, generator=g)}
    for layer in range(20):
        for n, shape in (("q", (h, h)), ("k", (h, h)), ("v", (h, h)), ("o", (h, h)), ("up", (4 * h, h)),
                         ("down", (h, 4 * h))):
            sd[f"layers.{layer}.{n}.weight"] = torch.randn(*shape, generator=g)
        sd[f"layers.{layer}.norm.weight"] = torch.ones(h)
    return sd


def digest(sd: Dict[str, torch.Tensor]) -> str:
    """sha1 over (name, uint64 word sum of the tensor's bytes), sorted by name."""
    h = hashlib.sha1()
    for k in sorted(sd):
        a = sd[k].contiguous().view(-1).numpy().view(np.uint8)
        h.update(f"{k}:{checksum(a)};".encode())
    return h.hexdigest()


# A load in a fresh process: prints one JSON line.
LOADER = r"""
import json, os, sys, time
import torch
import bench_checkpoint as bk
kind, where, name = sys.argv[1], sys.argv[2], sys.argv[3]
if kind == "pydaos":
    ck = bk.open_checkpoint(where)
c0 = time.process_time(); t0 = time.perf_counter()
sd = torch.load(os.path.join(where, name)) if kind == "plain" else ck.load(name)
t1 = time.perf_counter(); c1 = time.process_time()
with open("/proc/self/status") as f:
    hwm = [int(l.split()[1]) for l in f if l.startswith("VmHWM")][0] * 1024
print(json.dumps({"seconds": t1 - t0, "cpu_s": c1 - c0, "digest": bk.digest(sd), "peak_rss": hwm,
                  "nbytes": sum(t.numel() * t.element_size() for t in sd.values())}))
"""


def open_checkpoint(where: str, fsync: bool = False) -> Any:
    """Our Checkpoint over the directory `where`: the local backend, or at a DAOS site (the
    suite's --daos) the same directory's path inside the dfuse-mounted container, by libdfs."""
    from pydaos_torch import Checkpoint

    site = site_target()
    if site is None:
        return Checkpoint(root=where, backend="local", fsync=fsync)
    rel = os.path.relpath(os.path.realpath(where), site["dfuse"])
    return Checkpoint(site["pool"], site["container"], prefix="/" + rel, backend="dfs", fsync=fsync)


def dd_arm(key: str, label: str, argv: List[str], params: Dict[str, Any], before: Any) -> Arm:
    """dd(1) as the disk's limit: 64 MiB blocks, no serialization, one process per run."""
    def run() -> Dict[str, Any]:
        t0 = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        return {"seconds": time.perf_counter() - t0}
    return Arm(key, label, "dd", run, dict(params, argv=argv), before_run=before)


def parse_sizes(text: str) -> List[float]:
    sizes = [float(x) for x in text.split(",") if x.strip()]
    if not sizes or min(sizes) <= 0:
        raise SystemExit(f"--sizes: expected positive GiB values, got {text!r}")
    return sizes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_options(ap, RUN)
    ap.add_argument("--quick", action="store_true", help="a 64 MiB state_dict, 3 runs, no retries")
    ap.add_argument("--sizes", default="", help="state_dict sizes in GiB, comma-separated (default 1, --quick 0.0625)")
    ap.add_argument("--dir", type=Path, default=default_data_dir("bench_ckpt"))
    ap.add_argument("--durability", default="nosync,fsync")
    ap.add_argument("--scenarios", default="replace,new")
    ap.add_argument("--cold", action="store_true", help="also load with a cold page cache")
    ap.add_argument("--no-dd", action="store_true", help="skip the dd rows (the disk's limit)")
    args = ap.parse_args()
    sizes = parse_sizes(args.sizes or ("0.0625" if args.quick else "1"))

    pol = policy(args, RUN)
    runs = pol.runs
    args.out.mkdir(parents=True, exist_ok=True)
    result = base_result("checkpoint", args, runs, pol)
    result.update({"sizes_gib": sizes, "state_dicts": [], "dir": str(args.dir), "site": site_target(),
                   "tables": []})
    for size in sizes:
        bench_size(args, pol, result, size)
    result["fs"] = fs_of(args.dir.resolve())
    publish(args, result, "checkpoint", tables(result) + "\n" + "\n".join(targets(result)), write_readme)


def bench_size(args: argparse.Namespace, pol: Policy, result: Dict[str, Any], size_gib: float) -> None:
    """Every save and load table for one state_dict size, appended to result["tables"]."""
    top = args.dir
    if top.exists():
        shutil.rmtree(top)
    plain_dir, ours_dir = top / "plain", top / "pydaos"
    plain_dir.mkdir(parents=True)
    ours_dir.mkdir(parents=True)

    print(f"building the {size_gib:g} GiB state_dict ...", file=sys.stderr, flush=True)
    sd = make_state_dict(size_gib ** 0.5)
    nbytes = sum(t.numel() * t.element_size() for t in sd.values())
    expected = digest(sd)
    sdi = {"size_gib": size_gib, "tensors": len(sd), "bytes": nbytes, "dtype": "float32",
           "largest_tensor_bytes": max(t.numel() * 4 for t in sd.values())}
    result["state_dicts"].append(sdi)
    result["state_dict"] = sdi  # the last size: what the README section describes
    blocks = -(-nbytes // (64 << 20))

    def validate_save(arm: Arm, res: Dict[str, Any]) -> None:
        res["gib_per_s"] = nbytes / res["seconds"] / GiB
        res["cpu_s_per_gib"] = res["cpu_s"] / (nbytes / GiB)

    # ------------------------------------------------------------------ save
    for dur in args.durability.split(","):
        fsync = dur == "fsync"
        for scen in args.scenarios.split(","):
            ck = open_checkpoint(str(ours_dir), fsync=fsync)
            ppath = str(plain_dir / f"model-{dur}-{scen}.pt")
            dpath = str(plain_dir / f"dd-{dur}-{scen}.bin")
            oname = f"model-{dur}-{scen}.pt"

            def save_plain(ppath: str = ppath, fsync: bool = fsync) -> Dict[str, Any]:
                t0 = time.perf_counter()
                torch.save(sd, ppath)
                if fsync:
                    fd = os.open(ppath, os.O_RDONLY)
                    try:
                        os.fsync(fd)
                    finally:
                        os.close(fd)
                return {"seconds": time.perf_counter() - t0}

            def save_ours(ck: Any = ck, oname: str = oname) -> Dict[str, Any]:
                t0 = time.perf_counter()
                ck.save(sd, oname)
                return {"seconds": time.perf_counter() - t0}

            def prep_file(path: str, scen: str = scen) -> None:
                if scen == "new":
                    if os.path.exists(path):
                        os.unlink(path)
                elif not os.path.exists(path):
                    torch.save(sd, path)
                os.sync()

            def prep_ours(ck: Any = ck, oname: str = oname, scen: str = scen) -> None:
                if scen == "new":
                    if ck.exists(oname):
                        ck.remove(oname)
                elif not ck.exists(oname):
                    ck.save(sd, oname)
                os.sync()

            params = {"op": "save", "durability": dur, "scenario": scen, "size_gib": size_gib}
            arms = [Arm(f"save-plain-{dur}-{scen}", f"torch.save(sd, path){' + fsync' if fsync else ''}",
                           "plain", save_plain, params, before_run=lambda p=ppath: prep_file(p)),
                    Arm(f"save-pydaos-{dur}-{scen}", f"Checkpoint(fsync={fsync}).save(sd, name)",
                           "pydaos", save_ours, params, before_run=prep_ours)]
            if not args.no_dd:
                argv = ["dd", "if=/dev/zero", f"of={dpath}", "bs=64M", f"count={blocks}"] + (["conv=fsync"] * fsync)
                arms.append(dd_arm(f"save-dd-{dur}-{scen}", f"dd of=file bs=64M{' conv=fsync' if fsync else ''} "
                                   "(disk limit)", argv, params, lambda p=dpath: prep_file(p)))
            for a in arms:  # warm-up (untimed)
                a.before_run()
                a.run_once()
            tag = f"{size_gib:g} GiB save {dur} {scen}"
            rounds = run_round_robin(arms, pol, tag, validate_save, lambda r: f"{r['gib_per_s']:.3g}")
            # verify what the timed runs wrote (untimed)
            if digest(ck.load(oname)) != expected or digest(torch.load(ppath)) != expected:
                raise SystemExit(f"{tag}: the saved checkpoint does not load back bit-exact")
            res = [arm_summary(a, ["seconds", "gib_per_s", "cpu_s", "cpu_s_per_gib"]) for a in arms]
            add_ratios(res)
            result["tables"].append({"op": "save", "durability": dur, "scenario": scen, "size_gib": size_gib,
                                     "bytes": nbytes, "rounds": rounds, "arms": res})
            ck.close()

    # ------------------------------------------------------------------ load
    ck = open_checkpoint(str(ours_dir))
    ck.save(sd, "load.pt")
    torch.save(sd, str(plain_dir / "load.pt"))
    os.sync()
    files = [str(plain_dir / "load.pt"), str(ours_dir) + ck._resolve("load.pt")]
    sd = None  # frees the state_dict before the loads (the save arms are done with it)
    here = str(Path(__file__).resolve().parent)

    # the loading process imports the same pydaos_torch as this one (installed wheel or dev tree)
    import pydaos_torch
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(Path(pydaos_torch.__file__).resolve().parent.parent), os.environ.get("PYTHONPATH", "")]))

    def loader(kind: str, cold: bool) -> Any:
        where = str(plain_dir) if kind == "plain" else str(ours_dir)
        cmd = [sys.executable, "-c", LOADER, kind, where, "load.pt"]

        def run() -> Dict[str, Any]:
            # cwd: `python -c` puts the working directory first on sys.path: this folder, so the
            # loader imports this script (the repository root would shadow the installed package)
            out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env, cwd=here).stdout
            return json.loads(out.strip().splitlines()[-1])
        return run

    def prep(cold: bool) -> Any:
        return (lambda: evict(files)) if cold else None

    def validate_load(arm: Arm, res: Dict[str, Any]) -> None:
        if arm.family != "dd" and (res["digest"] != expected or res["nbytes"] != nbytes):
            raise SystemExit(f"{arm.key}: loaded state_dict differs from the original")
        validate_save(arm, res)

    for cache in ["warm"] + (["cold"] if args.cold else []):
        cold = cache == "cold"
        params = {"op": "load", "cache": cache, "size_gib": size_gib}
        arms = [Arm(f"load-{kind}-{cache}", label, kind, loader(kind, cold), params, before_run=prep(cold))
                for kind, label in (("plain", "torch.load(path)"), ("pydaos", "Checkpoint.load(name)"))]
        if not args.no_dd:
            argv = ["dd", f"if={files[0]}", "of=/dev/null", "bs=64M"]
            arms.append(dd_arm(f"load-dd-{cache}", "dd if=file of=/dev/null bs=64M (disk limit)", argv, params,
                               prep(cold)))
        resident_before = residency(files) if not cold else None
        rounds = run_round_robin(arms, pol, f"{size_gib:g} GiB load {cache}", validate_load,
                                    lambda r: f"{r['gib_per_s']:.3g}")
        res = [arm_summary(a, ["seconds", "gib_per_s", "cpu_s", "cpu_s_per_gib", "peak_rss"]) for a in arms]
        add_ratios(res)
        result["tables"].append({"op": "load", "cache": cache, "size_gib": size_gib, "bytes": nbytes,
                                 "rounds": rounds, "arms": res, "page_cache_resident_before": resident_before,
                                 "page_cache_resident_after": residency(files) if not cold else None})
    ck.close()
    shutil.rmtree(top, ignore_errors=True)


def add_ratios(res: List[Dict[str, Any]]) -> None:
    """Checkpoint (res[1]) vs torch (res[0]); the dd row (res[2], if any) as a fraction of it."""
    for a in res[1:]:
        a["vs_plain"] = a["gib_per_s"]["median"] / res[0]["gib_per_s"]["median"]
        a["paired_vs_plain"] = paired(a, res[0], "gib_per_s")
    if len(res) > 2:
        res[1]["vs_dd"] = res[1]["gib_per_s"]["median"] / res[2]["gib_per_s"]["median"]


# ----------------------------------------------------------------------------- report

def targets(result: Dict[str, Any]) -> List[str]:
    out = []
    for t in result["tables"]:
        a = t["arms"][1]
        cond = (f"{t['durability']}, {t['scenario']}" if t["op"] == "save" else f"page cache {t['cache']}")
        out.append(f"- {t.get('size_gib', 1):g} GiB {t['op']} ({cond}): Checkpoint {a['gib_per_s']['median']:.2f} GiB/s vs "
                   f"{t['arms'][0]['gib_per_s']['median']:.2f} = **{a['vs_plain']:.2f}x** (paired "
                   f"{a['paired_vs_plain']['median']:.2f}x) — {'PASS' if a['vs_plain'] >= 1.0 else 'FAIL'} "
                   f"(target >= 1.0x)")
    return out


def write_readme(out_dir: Path, result: Dict[str, Any], json_name: str) -> None:
    sdi = result["state_dict"]
    res = [t for t in result["tables"] if t["op"] == "load" and t["cache"] == "warm"]
    resid = (f" Page cache before the warm loads: {res[0]['page_cache_resident_before']:.0%} resident."
             if res and res[0].get("page_cache_resident_before") is not None else "")
    all_arms = [a for t in result["tables"] for a in t["arms"]]
    body = f"""## Checkpoint save/load, 1 GiB state_dict ({result['date']}, `{json_name}`)

{machine_line(result)} Files on {result['fs']} (both arms, same directory tree).

Command: `{result['command']}`

Method: a {sdi['bytes'] / GiB:.2f} GiB float32 state_dict of {sdi['tensors']} tensors (largest
{sdi['largest_tensor_bytes'] >> 20} MiB). `torch.save(sd, path)` / `torch.load(path)` against
`Checkpoint(backend="local").save(sd, name)` / `.load(name)` (defaults: 64 MiB transfer chunks,
4 workers). Durability the same on both sides: **nosync** = neither fsyncs (each run starts after an
untimed os.sync(), so no earlier dirty data is pending); **fsync** = both fsync the file before save
returns (Checkpoint(fsync=True) fsyncs its temporary file before the commit rename; the plain arm
calls fsync(2) after torch.save); neither fsyncs the directory. **replace** = a synced checkpoint of
that name exists (torch.save truncates it in place, not atomically; Checkpoint writes a new version,
renames it into place and removes the old one, all inside the timed call); **new** = the name does
not exist. Loads run in a fresh process each (timed: the load call only), page cache warm;
every load and the last save of each arm are checked bit-exact (uint64 word sums per tensor).
One untimed warm-up save per save arm; {result['runs']} runs per arm, round-robin; ratio =
Checkpoint / torch (higher is better), "paired" = median over rounds of the per-round ratio. CPU per
GiB: this process tree (save) or the loading process (load). A run during which other user processes
used {result['policy']['max_load_cpus']} CPUs or more was retried (up to
{result['policy']['attempts']} tries).{resid} Interference: {interference_text(all_arms)}.

{tables(result)}

Targets (medians):
{chr(10).join(targets(result))}
"""
    write_section(out_dir, "checkpoint", "bench_checkpoint.py", body)


# ----------------------------------------------------------------------------- tables

def tables(res: Dict[str, Any], hl: Optional[Headline] = None) -> str:
    """Per size, operation and condition, every arm vs torch (paired in brackets); headline rows to hl."""
    hl = hl or Headline()
    out = ["| size | operation | condition | arm | GiB/s median | min–max | vs torch (paired) | runs |",
           "|---|---|---|---|---:|---:|---:|---|"]
    for t in res["tables"]:
        plain, ours = t["arms"][0], t["arms"][1]
        size = t.get("size_gib", res.get("state_dict", {}).get("bytes", 0) / 2**30)
        cond = f"{t['durability']}, {t['scenario']}" if t["op"] == "save" else f"page cache {t['cache']}"
        for a in t["arms"]:
            out.append(f"| {size:g} GiB | {t['op']} | {cond} | {a['label']} | {num(med(a, 'gib_per_s'))} | "
                       f"{rng(a, 'gib_per_s', num)} | {ratio_text(a, plain, 'gib_per_s') if a is not plain else '1.00'} | "
                       f"{a['stats_over']} |")
        if size == max(x.get("size_gib", 0) for x in res["tables"]):  # the target is set for 1 GiB
            hl.add("checkpoint", f"{size:g} GiB {t['op']}, {cond}", ours, plain, "gib_per_s", "GiB/s",
                   f"torch.{t['op']}", "≥ 1.0x" if size >= 1 else "(≥ 1.0x at 1 GiB)")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()
