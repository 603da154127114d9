#!/usr/bin/env python3
"""Resident memory of DataLoader workers iterating a one-million-entry map dataset:
pydaos_torch.Dataset.from_manifest vs a dataset holding a Python list of paths.

The data: R real files of S bytes under real/ and V directory symlinks v0000 -> real, so that the
manifest lists V x R distinct paths (v0123/f0456.bin) while only R files exist (default 1000 x
1000 = 1,000,000 entries over 1,000 files of 4 KiB). Generated once under --data.

Arms (same DataLoader settings: batch 64, 4 workers, fork, bytes samples with the default
collate; the main process checksums every sample):
  pydaos  Dataset.from_manifest(text manifest of the million entries) (backend local): the
          listing is one native Index (a few flat arrays), read by the workers, never written
  list    a map dataset holding `paths`, a Python list of the million absolute path strings,
          reading open(paths[i], "rb").read(): indexing the list increments each string's
          reference count, which writes to the page holding it, so a forked worker copies
          every page of strings it touches (copy-on-write)

Per run: a fresh DataLoader (persistent_workers=True, so the workers outlive the epoch), one
full epoch over every entry, then the workers are measured and the loader is dropped. Memory
from /proc/<pid>/smaps_rollup of every worker: USS (Private_Clean + Private_Dirty: what the
worker alone holds), PSS, RSS; after the first batch (the baseline: a freshly forked worker
that has started), every --sample-s seconds during the epoch, and at the end. "Growth per
worker" = USS at the end - USS after the first batch. The main process's own USS before the
DataLoader forks (the dataset's listing lives there) is reported too.

Round-robin, --runs runs per arm, median and spread; samples/s and CPU per sample (this
process tree) for information; interference as in harness.runner.

    PYTHONPATH=$PWD .venv/bin/python workloads/bench_memory.py [--quick]
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional

from harness.results import quiet_blas

quiet_blas()  # before numpy: the harness itself uses no BLAS

import numpy as np  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from harness.cli import RunDefaults, add_run_options, policy  # noqa: E402
from harness.fileset import MASK, checksum  # noqa: E402
from harness.machine import REPO, fs_of, machine_line  # noqa: E402
from harness.results import base_result, publish, write_section  # noqa: E402
from harness.runner import Arm, arm_summary, interference_text, run_round_robin  # noqa: E402
from harness.tables import Headline, find, med, num  # noqa: E402
from bench_dataset import PlainBytes as PathList  # noqa: E402  (open().read() per sample)

MiB = float(1 << 20)
warnings.filterwarnings("ignore", message="This DataLoader will create")


RUN = RunDefaults(runs=5, attempts=3, quiet_wait=10.0)


def generate(data: Path, real: int, views: int, size: int) -> "tuple[Path, Path]":
    name = f"manifest-{views}x{real}x{size}"
    top, manifest = data / name, data / (name + ".manifest")
    marker = data / (name + ".complete")
    if marker.exists() and top.is_dir() and manifest.exists():
        return top, manifest
    print(f"generating {real} files of {size} bytes and {views} views under {top} ...", file=sys.stderr, flush=True)
    if top.exists():
        shutil.rmtree(top)
    rng = np.random.default_rng(20240601 + real)
    (top / "real").mkdir(parents=True)
    for j in range(real):
        with open(top / "real" / f"f{j:04d}.bin", "wb") as f:
            f.write(rng.bytes(size))
    for i in range(views):
        os.symlink("real", top / f"v{i:04d}")
    tmp = manifest.with_suffix(".tmp")
    with open(tmp, "w") as f:
        f.write("# root: /\n")
        for i in range(views):
            for j in range(real):
                f.write(f"{size}\tv{i:04d}/f{j:04d}.bin\n")
    os.rename(tmp, manifest)
    marker.write_text(json.dumps({"real": real, "views": views, "size": size}) + "\n")
    return top, manifest


def smaps(pid: int) -> Dict[str, int]:
    out: Dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[-1] == "kB":
                    out[parts[0].rstrip(":")] = int(parts[1]) * 1024
    except OSError:
        return {}
    out["USS"] = out.get("Private_Clean", 0) + out.get("Private_Dirty", 0)
    return out


def consume(batch: List[bytes]) -> "tuple[int, int]":
    s = 0
    for b in batch:
        s += int(np.frombuffer(b, dtype=np.uint64).sum(dtype=np.uint64))
    return len(batch), s


def make_arm(key: str, label: str, dataset_fn, workers: int, sample_s: float, expected: int, n: int) -> Arm:
    holder: Dict[str, Any] = {}

    def run() -> Dict[str, Any]:
        ds = holder["ds"]
        gc.collect()
        parent = smaps(os.getpid())
        loader = DataLoader(ds, batch_size=64, num_workers=workers, persistent_workers=True,
                            multiprocessing_context="fork")
        it = iter(loader)
        t0 = time.perf_counter()
        samples, s = consume(next(it))
        pids = [w.pid for w in it._workers]  # noqa: SLF001 (benchmark only)
        first = {p: smaps(p) for p in pids}
        series: List[Dict[str, Any]] = []
        stop = threading.Event()

        def sampler() -> None:
            while not stop.wait(sample_s):
                series.append({"t": round(time.perf_counter() - t0, 2),
                               "uss": [smaps(p).get("USS", 0) for p in pids]})

        th = threading.Thread(target=sampler, daemon=True)
        th.start()
        for batch in it:
            k, x = consume(batch)
            samples += k
            s += x
        seconds = time.perf_counter() - t0
        stop.set()
        th.join()
        end = {p: smaps(p) for p in pids}
        del it, loader
        gc.collect()
        if samples != n or (s & MASK) != expected:
            raise SystemExit(f"{key}: {samples} samples, checksum {s & MASK:#x}; expected {n}, {expected:#x}")
        growth = [end[p]["USS"] - first[p]["USS"] for p in pids]
        peak = [max([end[p]["USS"]] + [x["uss"][i] for x in series]) for i, p in enumerate(pids)]
        return {"seconds": seconds, "samples": samples, "checksum": s & MASK,
                "parent_uss": parent.get("USS", 0), "parent_rss": parent.get("Rss", 0),
                "worker_uss_first": [first[p]["USS"] for p in pids], "worker_uss_end": [end[p]["USS"] for p in pids],
                "worker_pss_end": [end[p]["Pss"] for p in pids], "worker_rss_end": [end[p]["Rss"] for p in pids],
                "worker_uss_peak": peak, "series": series,
                "growth_mib_max": max(growth) / MiB, "growth_mib_median": float(np.median(growth)) / MiB,
                "uss_end_mib_max": max(end[p]["USS"] for p in pids) / MiB,
                "pss_end_mib_sum": sum(end[p]["Pss"] for p in pids) / MiB,
                "parent_uss_mib": parent.get("USS", 0) / MiB}

    arm = Arm(key, label, "pydaos" if key == "pydaos" else "plain", run, {"workers": workers})
    arm.holder = holder  # type: ignore[attr-defined]
    arm.dataset_fn = dataset_fn  # type: ignore[attr-defined]
    return arm


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_options(ap, RUN)
    ap.add_argument("--quick", action="store_true", help="100,000 entries (100 x 1000), 3 runs, no retries")
    ap.add_argument("--data", type=Path, default=REPO / "build" / "bench_data")
    ap.add_argument("--real", type=int, default=1000, help="real files")
    ap.add_argument("--views", type=int, default=1000, help="directory symlinks (entries = views x real)")
    ap.add_argument("--size", type=int, default=4096, help="bytes per file")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--sample-s", type=float, default=5.0, help="seconds between memory samples")
    args = ap.parse_args()
    if args.quick:
        args.views = min(args.views, 100)
    pol = policy(args, RUN)
    runs = pol.runs
    from pydaos_torch import Dataset

    root, manifest = generate(args.data, args.real, args.views, args.size)
    n = args.real * args.views
    # the reference checksum: every real file once, times the views
    per_view = 0
    for j in range(args.real):
        with open(root / "real" / f"f{j:04d}.bin", "rb") as f:
            per_view += checksum(f.read())
    expected = (per_view * args.views) & MASK

    t0 = time.perf_counter()
    ds = Dataset.from_manifest(str(manifest), root=str(root), backend="local")
    build_pydaos = time.perf_counter() - t0
    index_bytes = ds.index.memory_bytes
    rss0 = smaps(os.getpid()).get("USS", 0)
    t0 = time.perf_counter()
    with open(manifest) as f:
        paths = [os.path.join(str(root), line.rstrip("\n").split("\t", 1)[1]) for line in f if not line.startswith("#")]
    build_list = time.perf_counter() - t0
    list_bytes = smaps(os.getpid()).get("USS", 0) - rss0
    assert len(paths) == len(ds) == n

    arms = [make_arm("pydaos", "pydaos_torch Dataset.from_manifest (native Index)", None, args.workers,
                     args.sample_s, expected, n),
            make_arm("list", "Python list of path strings + open().read()", None, args.workers, args.sample_s,
                     expected, n)]
    arms[0].holder["ds"] = ds  # type: ignore[attr-defined]
    arms[1].holder["ds"] = PathList(paths)  # type: ignore[attr-defined]

    def validate(arm: Arm, res: Dict[str, Any]) -> None:
        res["samples_per_s"] = res["samples"] / res["seconds"]
        res["cpu_us_per_sample"] = res["cpu_s"] / res["samples"] * 1e6

    rounds = run_round_robin(arms, pol, f"memory {n}", validate,
                                lambda r: f"+{r['growth_mib_max']:.1f}MiB/{r['samples_per_s']:.0f}/s")
    metrics = ["growth_mib_max", "growth_mib_median", "uss_end_mib_max", "pss_end_mib_sum", "parent_uss_mib",
               "samples_per_s", "cpu_us_per_sample", "seconds"]
    res = [arm_summary(a, metrics) for a in arms]
    result = base_result("memory", args, runs, pol)
    result.update({"entries": n, "real_files": args.real, "views": args.views, "file_size": args.size,
                   "workers": args.workers, "root": str(root), "fs": fs_of(root.resolve()),
                   "manifest": str(manifest), "index_memory_bytes": index_bytes,
                   "list_memory_bytes_measured": list_bytes, "build_s": {"pydaos": build_pydaos, "list": build_list},
                   "rounds": rounds, "arms": res})
    publish(args, result, "memory", tables(result) + "\n" + "\n".join(targets(result)), write_readme)


def targets(result: Dict[str, Any]) -> List[str]:
    by = {a["key"]: a for a in result["arms"]}
    g = by["pydaos"]["growth_mib_max"]["median"]
    gl = by["list"]["growth_mib_max"]["median"]
    worst = by["pydaos"]["growth_mib_max"]["max"]
    return [f"- pydaos_torch: each worker grew by at most {g:.1f} MiB (median over runs of the largest worker; "
            f"worst run {worst:.1f} MiB) while iterating {result['entries']:,} entries — "
            f"{'PASS' if worst <= 5 else 'FAIL'} (target: no growth beyond a few MB; PASS means <= 5 MiB in every run)",
            f"- Python list of paths: {gl:.1f} MiB per worker ({gl * result['workers']:.0f} MiB over "
            f"{result['workers']} workers); the listing in the main process: native Index "
            f"{result['index_memory_bytes'] / MiB:.1f} MiB vs the list {result['list_memory_bytes_measured'] / MiB:.1f} MiB"]


def write_readme(out_dir: Path, result: Dict[str, Any], json_name: str) -> None:
    body = f"""## Worker memory, one-million-entry Dataset ({result['date']}, `{json_name}`)

{machine_line(result)} Files on {result['fs']}.

Command: `{result['command']}`

Method: {result['entries']:,} manifest entries (`v0000/f0000.bin` ...) over {result['real_files']:,} real files
of {result['file_size']} bytes, reached through {result['views']:,} directory symlinks (so no million
files are created). DataLoader(batch_size=64, num_workers={result['workers']}, fork,
persistent_workers=True, bytes samples); a fresh DataLoader per run, one full epoch, the main
process checksums every sample. USS = Private_Clean + Private_Dirty of
/proc/PID/smaps_rollup; growth = a worker's USS after the epoch minus its USS after the first
batch; shown: the largest worker, median over {result['runs']} runs (min–max). PSS sums the
workers' share of everything they map. Both listings live in the one main process, so both arms'
workers inherit the same memory (pydaos's Index {result['index_memory_bytes'] / MiB:.1f} MiB; the
list of paths {result['list_memory_bytes_measured'] / MiB:.1f} MiB, measured as the main process's USS
growth when it was built). Samples/s and CPU per sample (main process and workers) are for
information. Round-robin; a run
during which other user processes used {result['policy']['max_load_cpus']} CPUs or more was retried
(up to {result['policy']['attempts']} tries). Interference: {interference_text(result['arms'])}.

{tables(result)}

Targets:
{chr(10).join(targets(result))}
"""
    write_section(out_dir, "memory", "bench_memory.py", body)


# ----------------------------------------------------------------------------- tables

def tables(res: Dict[str, Any], hl: Optional[Headline] = None) -> str:
    """Growth per worker of each dataset; the headline row to hl."""
    hl = hl or Headline()
    ours, lst = find(res["arms"], "pydaos"), find(res["arms"], "list")
    out = ["| dataset | growth per worker, MiB: median | max | samples/s | runs |", "|---|---:|---:|---:|---|"]
    for a in res["arms"]:
        out.append(f"| {a['label']} | {num(med(a, 'growth_mib_median'))} | {num(med(a, 'growth_mib_max'))} | "
                   f"{num(med(a, 'samples_per_s'))} | {a['stats_over']} |")
    if ours and lst:
        hl.rows.append(f"| memory | {res['entries']:,} entries, {res['workers']} forked workers | "
                       f"{num(med(ours, 'growth_mib_median'))} MiB/worker | Python list: "
                       f"{num(med(lst, 'growth_mib_median'))} MiB/worker | "
                       f"{med(lst, 'growth_mib_median') / max(med(ours, 'growth_mib_median'), 1e-3):.0f}x less | "
                       f"a few MB |")
    return "\n".join(out) + f"\n\nIndex: {res['index_memory_bytes'] / res['entries']:.1f} bytes per entry.\n"


if __name__ == "__main__":
    main()
