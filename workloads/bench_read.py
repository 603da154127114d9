#!/usr/bin/env python3
"""The core read benchmark: the same file set read several ways, files/s and GiB/s.

Arms (each reads every file of a data set once per run, in the same order, the index order):
  c-reader        workloads/c_reader.c, the physical limit: open, ONE read(2) of the whole
                  file into a reused 2 MiB-aligned MADV_HUGEPAGE buffer, close; one pthread
                  per core, files handed out by an atomic counter. Read-only runs (the
                  reference for the ratios) and runs that also checksum every file; extra
                  thread counts; for small files two like-for-like diagnostics (pydaos's
                  confined openat2 and a packed 256-file destination; a cached parent dir).
  pydaos-batch    Container.read_index(index, indices, out, depth=D) into a reused,
                  preallocated, 2 MiB-aligned (mmap + MADV_HUGEPAGE) buffer; 256 files per
                  call for small files, one file per call for large ones. The default depth
                  (0 = max(2, online CPUs) threads) and a sweep of other depths; for small
                  files also 64, 1024 and 4096 files per call.
  python-read     plain Python: `with open(p, 'rb') as f: data = f.read()`, one process.
  python-readinto (extra) plain Python, unbuffered readinto() into a reused aligned buffer.

Every arm touches every byte it reads, every run: each file is summed as little-endian uint64
words (numpy in Python, the same loop in C) and the total must equal the checksum of a
reference pass. The reported read time EXCLUDES that checksum pass: the Python arms stop the
clock around it (the read calls of a batch are timed, then the batch is summed untimed); the
C reader's reference runs do no checksum at all (its checksum runs are reported beside them,
wall time including the sum). Start-up (connect, scan, compile, buffer allocation and
pre-faulting) is outside the timed region; Python's gc is off while timing. CPU time (all
threads) over the timed region is reported too: on a shared machine it is steadier than wall
time.

Page cache: warm. Every file is read once (the reference pass) right before a data set's
timed runs, and the arms run round-robin (run 1 of every arm, then run 2, ...), so drift hits
all arms alike. --cold adds a clearly labelled cold-cache variant: posix_fadvise
(POSIX_FADV_DONTNEED) on every file (untimed) before each run.

Shared machines: before each run the harness waits (--quiet-wait) for other processes to
go quiet, measures the CPU they use during the run, and retries a disturbed run (--max-load,
--attempts, --budget-min); kept disturbed runs are flagged, discarded tries stay in the JSON.

Data sets (generated once under --data, reused when present): (a) 20,000 files of 16 KiB in
a two-level tree of subdirectories; (b) 8 files of 128 MiB. --quick uses 2,000 x 16 KiB and
2 x 32 MiB, 3 runs, fewer variants and no retries (a smoke test).

Writes results/<date>-core-read-<host>[-quick].json (machine, command, git commit, every raw
timing) and, for full runs, the table in results/README.md (between markers).

    PYTHONPATH=$PWD .venv/bin/python workloads/bench_read.py [--quick] [--runs N] [--cold]
"""
from __future__ import annotations

import argparse
import datetime
import os
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from harness.results import quiet_blas

quiet_blas()  # before numpy: the harness itself uses no BLAS

import numpy as np  # noqa: E402

from harness import baselines, tables as tb  # noqa: E402
from harness.cli import RunDefaults, add_run_options, policy  # noqa: E402
from harness.cpu import nproc  # noqa: E402
from harness.fileset import (GiB, MASK, FileSet, Spec, aligned_buffer, checksum, evict, generate,  # noqa: E402
                             open_fileset, reference_pass, residency)
from harness.machine import fs_of, machine  # noqa: E402
from harness.results import command_line, publish, write_section  # noqa: E402
from harness.runner import Arm, Policy, arm_summary, run_round_robin, timed_groups  # noqa: E402
from harness.site import default_data_dir  # noqa: E402
from harness.stats import paired, summarize  # noqa: E402

RUN = RunDefaults(runs=7, attempts=8, quiet_wait=10.0)
# The local backend's default depth: max(2, online CPUs) (LocalStorage::default_depth).
DEFAULT_DEPTH = max(2, os.sysconf("SC_NPROCESSORS_ONLN"))


# ----------------------------------------------------------------------------- arms

def chunks(n: int, k: int) -> List[np.ndarray]:
    idx = np.arange(n, dtype=np.int64)
    return [idx[i:i + k] for i in range(0, n, k)]


def make_pydaos_arm(ds: FileSet, depth: int, per_call: int, cold: bool) -> Arm:
    batches = chunks(len(ds.paths), per_call)
    starts = [int(b[0]) for b in batches]
    ends = [int(b[-1]) + 1 for b in batches]
    csum_sizes = np.concatenate([[0], np.cumsum(ds.sizes)])
    batch_bytes = [int(csum_sizes[e] - csum_sizes[s]) for s, e in zip(starts, ends)]
    whole_words = [bool((ds.sizes[s:e] % 8 == 0).all()) for s, e in zip(starts, ends)]
    out = aligned_buffer(max(batch_bytes))
    c, ix = ds.container, ds.index

    def read(k: int) -> Any:
        return c.read_index(ix, batches[k], out, depth=depth)

    def check(k: int, offs: Any) -> Tuple[int, int]:
        got = int(offs[-1])
        assert got == batch_bytes[k], (got, batch_bytes[k])
        if whole_words[k]:
            return checksum(out, got), got
        b = batches[k]
        return sum(checksum(out[int(offs[j]):], int(offs[j + 1] - offs[j])) for j in range(len(b))), got

    def run() -> Dict[str, Any]:
        if cold:
            evict(ds.paths)
        r = timed_groups(range(len(batches)), read, check)
        return dict(r, files=len(ds.paths), checksum=r["checksum"] & MASK)

    dlabel = f"default = {DEFAULT_DEPTH}" if depth == 0 else str(depth)
    return Arm(f"pydaos-d{depth}-b{per_call}", f"pydaos_torch read_index (depth={dlabel}, {per_call}/call)",
               "pydaos", run, {"depth": depth, "per_call": per_call})


def make_python_read_arm(ds: FileSet, cold: bool) -> Arm:
    per = ds.spec.per_call
    groups = [ds.paths[i:i + per] for i in range(0, len(ds.paths), per)]

    def read(g: List[str]) -> List[bytes]:
        datas = []
        for p in g:
            with open(p, "rb") as f:
                data = f.read()
            datas.append(data)
        return datas

    def check(_g: List[str], datas: List[bytes]) -> Tuple[int, int]:
        return sum(checksum(d) for d in datas), sum(len(d) for d in datas)

    def run() -> Dict[str, Any]:
        if cold:
            evict(ds.paths)
        r = timed_groups(groups, read, check)
        return dict(r, files=len(ds.paths), checksum=r["checksum"] & MASK)

    return Arm("python-read", "plain Python open()+f.read()", "python", run)


def make_python_readinto_arm(ds: FileSet, cold: bool) -> Arm:
    per = ds.spec.per_call
    n = len(ds.paths)
    groups = [(ds.paths[i:i + per], [int(x) for x in ds.sizes[i:i + per]]) for i in range(0, n, per)]
    out = aligned_buffer(max(sum(sz) for _, sz in groups))
    mv = memoryview(out)

    def read(group: Any) -> int:
        g, sz = group
        pos = 0
        for p, size in zip(g, sz):
            with open(p, "rb", buffering=0) as f:
                got = f.readinto(mv[pos:pos + size])
            assert got == size
            pos += size
        return pos

    def check(group: Any, pos: int) -> Tuple[int, int]:
        sz = group[1]
        if all(x % 8 == 0 for x in sz):
            return checksum(out, pos), pos
        s, q = 0, 0
        for size in sz:
            s += checksum(out[q:], size)
            q += size
        return s, pos

    def run() -> Dict[str, Any]:
        if cold:
            evict(ds.paths)
        r = timed_groups(groups, read, check)
        return dict(r, files=n, checksum=r["checksum"] & MASK)

    return Arm("python-readinto", "plain Python readinto() reused buffer (extra)", "python", run)



def make_c_arm(ds: FileSet, exe: Path, threads: int, with_checksum: bool, cold: bool, openat2: bool = False,
               slots: int = 0, dircache: bool = False) -> Arm:
    # One process per run, two runs in it: the first warms the process up (thread stacks,
    # first calls), the second is kept. Process start is outside the timed region.
    cmd = baselines.c_reader_argv(exe, ds.root, ds.listfile, threads, 2, with_checksum, cold, openat2, slots, dircache)

    def run() -> Dict[str, Any]:
        rows = baselines.run_c_reader(cmd)
        r = rows[-1]
        return {"read_s": r["wall_ns"] / 1e9, "cpu_s": r["cpu_ns"] / 1e9, "files": r["files"], "bytes": r["bytes"],
                "checksum": r["checksum"], "read_calls": r["read_calls"],
                "checksum_s_sum_threads": r["checksum_ns_sum"] / 1e9,
                "checksum_s_max_thread": r["checksum_ns_max_thread"] / 1e9, "warmup_run_s": rows[0]["wall_ns"] / 1e9}

    extra = (", openat2 RESOLVE_BENEATH" if openat2 else "") + \
        (", cached parent dir + openat O_NOFOLLOW" if dircache else "") + \
        (f", packed {slots}-slot buffer" if slots else "")
    key = baselines.c_key(threads, with_checksum) + ("-openat2" if openat2 else "") + \
        ("-dircache" if dircache else "") + (f"-s{slots}" if slots else "")
    label = baselines.c_label(threads, with_checksum, extra) + (" (diagnostic)" if extra else "")
    return Arm(key, label, "c", run, {"threads": threads, "checksum": with_checksum, "openat2": openat2,
                                      "dircache": dircache, "slots": slots, "argv": cmd})


# ----------------------------------------------------------------------------- running

def run_arms(ds: FileSet, arms: List[Arm], pol: Policy, variant: str) -> List[Dict[str, Any]]:
    """Every arm pol.runs times, round-robin, gc off; a run is disturbed when other processes
    (kernel threads included) used pol.max_load CPUs or more. Each run is checked against the
    reference: every file and byte read, and (but for C read-only runs) the checksum."""
    small = ds.spec.name == "small"
    rate_key = "files_per_s" if small else "gib_per_s"

    def validate(arm: Arm, res: Dict[str, Any]) -> None:
        if res["files"] != len(ds.paths) or res["bytes"] != ds.total_bytes:
            raise SystemExit(f"{arm.key}: read {res['files']} files / {res['bytes']} bytes, expected "
                             f"{len(ds.paths)} / {ds.total_bytes}")
        if res["checksum"] is not None and res["checksum"] != ds.expected:
            raise SystemExit(f"{arm.key}: checksum {res['checksum']:#x} != reference {ds.expected:#x}")
        res["files_per_s"] = res["files"] / res["read_s"]
        res["gib_per_s"] = res["bytes"] / res["read_s"] / GiB

    tag = f"{variant} {ds.spec.dirname}, {'files/s' if small else 'GiB/s'}"
    return run_round_robin(arms, pol, tag, validate, lambda r: f"{r[rate_key]:.4g}", gc_off=True,
                           load_key="foreign_cpus")


def arm_result(arm: Arm) -> Dict[str, Any]:
    use = arm.runs
    d = arm_summary(arm, ["read_s", "files_per_s", "gib_per_s", "checksum_s"], loads=("foreign_cpus",))
    if "checksum_s" in use[0]:
        d["read_plus_checksum_s"] = summarize([r["read_s"] + r["checksum_s"] for r in use])
    d["cpu_s"] = summarize([r["cpu_s"] for r in use])
    d["cpu_us_per_file"] = summarize([r["cpu_s"] / r["files"] * 1e6 for r in use])
    d["cpu_s_per_gib"] = summarize([r["cpu_s"] / (r["bytes"] / GiB) for r in use])
    d["checksum_verified"] = use[0]["checksum"] is not None
    return d


# ----------------------------------------------------------------------------- report

def tables(res: Dict[str, Any], hl: Optional[tb.Headline] = None) -> str:
    """Per data set and cache state, every arm vs the C reader and vs plain Python (paired by
    round in brackets); the headline rows go to hl."""
    hl = hl or tb.Headline()
    med, num, rng, ratio = tb.med, tb.num, tb.rng, tb.ratio_text
    out = []
    for v in res["variants"]:
        for ds in v["datasets"]:
            metric = "files_per_s" if ds["metric"] == "files/s" else "gib_per_s"
            arms = ds["arms"]
            c, ours = tb.find(arms, ds["c_reference"]), tb.find(arms, ds["pydaos_default"])
            py = next((a for a in arms if a["family"] == "python" and a["key"] == "python-read"), None)
            case = f"{ds['name']}, page cache {v['cache']}"
            if ours and c:
                hl.add("core read", case, ours, c, metric, ds["metric"], "C reader", "≥ 0.8x (small, warm)"
                       if "small" in ds["name"] and v["cache"] == "warm" else "")
            if ours and py:
                hl.add("core read", case, ours, py, metric, ds["metric"], "plain Python open().read()")
            out.append(f"**{case}** ({ds['files']} files, {ds['metric']})\n")
            out.append("| arm | median | min–max | CPU per unit | vs C reader | vs plain Python | runs |")
            out.append("|---|---:|---:|---:|---:|---:|---|")
            cpu = "cpu_us_per_file" if metric == "files_per_s" else "cpu_s_per_gib"
            for a in arms:
                out.append(f"| {a['label']} | {num(med(a, metric))} | {rng(a, metric, num)} | "
                           f"{num(med(a, cpu))} {'µs' if metric == 'files_per_s' else 's/GiB'} | "
                           f"{ratio(a, c, metric) if c else '–'} | {ratio(a, py, metric) if py else '–'} | "
                           f"{a['stats_over']} |")
            out.append("")
    return "\n".join(out)


def targets(result: Dict[str, Any]) -> List[str]:
    out = []
    for v in result["variants"]:
        if v["cache"] != "warm":
            continue
        for ds in v["datasets"]:
            k = "files_per_s" if ds["metric"] == "files/s" else "gib_per_s"
            by = {a["key"]: a for a in ds["arms"]}
            cref = by[ds["c_reference"]][k]["median"]
            like = next((a for a in ds["arms"] if a["family"] == "c" and a["params"].get("slots")
                         and a["params"].get("openat2")), None)
            for which in ("pydaos_default", "pydaos_best"):
                a = by[ds[which]]
                ratio = a[k]["median"] / cref
                pr = a.get("paired_ratio_vs_c")
                line = (f"- {ds['name']}, {which.split('_')[1]} ({a['label']}): {ratio:.0%} of the C reader's "
                        f"{ds['metric']} — {'PASS' if ratio >= 0.8 else 'FAIL'} (target >= 80%)"
                        + (f"; paired by round {pr['median']:.0%}" if pr else "")
                        + (" [some runs DISTURBED: other processes were busy]"
                           if "DISTURBED" in a["stats_over"] + by[ds["c_reference"]]["stats_over"] else ""))
                if like:
                    line += (f"; {a[k]['median'] / like[k]['median']:.0%} of the like-for-like C reader "
                             f"(openat2 + packed buffer); CPU per file {a['cpu_us_per_file']['median']:.1f} µs vs "
                             f"{by[ds['c_reference']]['cpu_us_per_file']['median']:.1f} (C) and "
                             f"{like['cpu_us_per_file']['median']:.1f} (like-for-like C)")
                out.append(line)
    return out



def write_readme(out_dir: Path, result: Dict[str, Any], json_name: str) -> None:
    m = result["machine"]
    loads = []
    for v in result["variants"]:
        for ds in v["datasets"]:
            fl = [r["interference"]["foreign_cpus"] for a in ds["arms"] for r in a["raw"]]
            tries = sum(len(a["discarded_disturbed_tries"]) for a in ds["arms"])
            res = ds.get("page_cache_resident_before"), ds.get("page_cache_resident_after")
            loads.append(f"{ds['name']} ({v['cache']}): other processes used a median {summarize(fl)['median']:.2f} "
                         f"and at most {max(fl):.2f} CPUs during the kept runs ({tries} disturbed tries discarded)"
                         + (f"; page cache held {res[0]:.0%} of the files before and {res[1]:.0%} after"
                            if None not in res else ""))
    body = f"""## Core read benchmark ({result['date']}, `{json_name}`)

Machine: {m['nproc']} CPUs ({m['cpu_model']}), {m['mem_total']} RAM, kernel {m['kernel']},
Python {m['python']}, numpy {m['numpy']}, torch {m['torch']}, THP `{m['thp_enabled']}`;
data on {result['data_fs']}; git {m['git_commit'][:12]}{' (csrc/pydaos_torch had uncommitted edits)' if m['git_dirty_paths'] else ''}.

Command: `{result['command']}`

Method: every arm reads every file of the set once per run, in the same (index) order;
one run per arm per round, round-robin across arms (run 1 of every arm, then run 2, ...);
median and min–max over {result['runs']} runs per arm. This machine may be
shared: before each run the harness waits (up to {result['policy']['quiet_wait_s']:g} s) for other
processes to go quiet and measures the CPU they use during the run (/proc/stat minus this process
tree); a run during which they used {result['policy']['max_load_cpus']} CPUs or more is retried (up to
{result['policy']['attempts']} tries, within {result['policy']['budget_min']:g} minutes) and the last try is
kept, flagged DISTURBED in "runs" (discarded tries stay in the JSON). In brackets after a ratio: the
median and range over rounds of the arm's rate / the other's rate in the same round. Page cache **warm**: every file is read
once right before a data set's runs (rows marked cold instead evict every file with
posix_fadvise DONTNEED, untimed, before each run). Rates use read time only: every run also
sums every byte as uint64 words and must match the reference checksum, but the Python arms stop
the clock around that sum, and the C reference runs (`read only`) do no sum (the C
`read+checksum` row includes it in its wall time). Start-up (connect, scan, compile, buffer
allocation and pre-faulting) is untimed; buffers are reused, 2 MiB aligned, MADV_HUGEPAGE.
"CPU per unit" is the process's CPU time (all threads) over the timed region, per file or per
GiB: it is less disturbed than wall time by other processes on a shared machine. "vs C reader"
= median / median of the C reader ({result['c_threads']} threads = one per core, read only);
"vs plain Python" = median / median of `open()+f.read()`. Depth 0 = the backend's default
(max(2, online CPUs) = {result.get('default_depth')} threads here, so the sweep skips that value);
the sweep: {', '.join(str(d) for d in result['depths'][1:])}.

Interference: {'; '.join(loads)}.

{tables(result)}

Targets (page cache warm, medians):
{chr(10).join(targets(result))}
"""
    write_section(out_dir, "core-read", "bench_read.py", body)


# ----------------------------------------------------------------------------- main

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_options(ap, RUN)
    ap.add_argument("--quick", action="store_true", help="2,000 small and 2 x 32 MiB files, 3 runs, fewer variants")
    ap.add_argument("--data", type=Path, default=default_data_dir("bench_data"), help="where the data sets live")
    ap.add_argument("--depths", default="", help="comma-separated depths to sweep (0 = default)")
    ap.add_argument("--datasets", default="small,large", help="small, large or both")
    ap.add_argument("--cold", action="store_true", help="also run a cold-cache variant (fewer arms)")
    ap.add_argument("--cold-runs", type=int, default=3, help="runs per arm in the cold variant")
    args = ap.parse_args()
    pol = policy(args, RUN)
    runs = pol.runs
    ncpu = nproc()
    if args.depths:
        depths = [int(x) for x in args.depths.split(",")]
    else:
        depths = [0, 1, 2, 4] if args.quick else sorted({0, 1, 2, 4, 8, 16, 32, 2 * ncpu, 4 * ncpu})
    # Depth 0 is the default; a sweep entry equal to it would run the same configuration twice.
    depths = [0] + [d for d in dict.fromkeys(depths) if d not in (0, DEFAULT_DEPTH)]
    specs = {"small": Spec("small", 2000 if args.quick else 20000, 16 << 10, 256),
             "large": Spec("large", 2 if args.quick else 8, (32 if args.quick else 128) << 20, 1)}
    chosen = [specs[n] for n in args.datasets.split(",")]

    args.data.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="bench_read."))
    try:
        exe = baselines.compile_c(workdir)
        result: Dict[str, Any] = {
            "benchmark": "core-read",
            "date": datetime.date.today().isoformat(),
            "started": datetime.datetime.now().isoformat(timespec="seconds"),
            "command": command_line(),
            "quick": args.quick, "runs": runs, "depths": depths, "default_depth": DEFAULT_DEPTH, "c_threads": ncpu,
            "data_dir": str(args.data), "data_fs": fs_of(args.data.resolve()),
            "machine": machine(),
            "method": {
                "timed": "read calls only (Python arms stop the clock around the per-batch checksum; "
                         "C reference runs do no checksum, C checksum runs include it)",
                "checksum": "sum of little-endian uint64 words mod 2**64 per file (tail zero-padded), summed "
                            "over files; every run of every arm except C read-only is verified against the "
                            "reference pass",
                "order": "round-robin: run r of every arm, then run r+1",
                "gc": "disabled during each run",
                "c_reader": "cc -O2 -pthread; one process per run doing 2 runs, the second kept; "
                            "chdir(root) then open(relative path), the same components pydaos walks",
                "python_paths": "absolute paths (root joined with the index path)",
                "cpu": "process CPU time (user + system, all threads) over the timed regions",
                "interference": "per run: CPU seconds used by other processes (/proc/stat busy minus this "
                                "process and its children); see policy",
                "env": {v: os.environ.get(v) for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")},
            },
            "variants": [],
        }
        variants = [("warm", False, runs)] + ([("cold", True, args.cold_runs)] if args.cold else [])
        result["policy"] = {"quiet_wait_s": pol.quiet_wait, "max_load_cpus": pol.max_load, "attempts": pol.attempts,
                            "budget_min": args.budget_min}
        datasets = []
        for spec in chosen:
            root = generate(args.data, spec)
            datasets.append(open_fileset(spec, root, workdir))

        for cache, cold, nruns in variants:
            vres: Dict[str, Any] = {"cache": cache, "runs": nruns, "datasets": []}
            for ds in datasets:
                resident_before = None
                if not cold:  # re-warm right before this data set's runs (see README: DAMON)
                    again, _ = reference_pass(ds)
                    assert again == ds.expected, "data changed under the benchmark"
                    resident_before = residency(ds.paths)
                metric = "files/s" if ds.spec.name == "small" else "GiB/s"
                k = "files_per_s" if metric == "files/s" else "gib_per_s"
                arms: List[Arm] = []
                c_ref = make_c_arm(ds, exe, ncpu, False, cold)
                arms.append(c_ref)
                if cold:
                    # Fewer arms: the C reader, pydaos at the default and the warm-best depth,
                    # plain Python.
                    warm = next(d for d in result["variants"][0]["datasets"] if d["name"] == ds.spec.dirname)
                    best_depth = warm["best_depth"]
                    arms.append(make_pydaos_arm(ds, 0, ds.spec.per_call, True))
                    if best_depth != 0:
                        arms.append(make_pydaos_arm(ds, best_depth, ds.spec.per_call, True))
                    arms.append(make_python_read_arm(ds, True))
                else:
                    arms.append(make_c_arm(ds, exe, ncpu, True, False))
                    if not args.quick:
                        for t in sorted({1, 2 * ncpu} - {ncpu}):
                            arms.append(make_c_arm(ds, exe, t, False, False))
                    if ds.spec.name == "small":
                        # Like for like: what pydaos does (confined open, packed batch buffer); and
                        # the same with a cheaper confined open (a cached parent directory).
                        arms.append(make_c_arm(ds, exe, ncpu, False, False, openat2=True, slots=ds.spec.per_call))
                        arms.append(make_c_arm(ds, exe, ncpu, False, False, dircache=True, slots=ds.spec.per_call))
                    for d in depths:
                        arms.append(make_pydaos_arm(ds, d, ds.spec.per_call, False))
                    if ds.spec.name == "small" and not args.quick:
                        for b in (64, 1024, 4096):
                            arms.append(make_pydaos_arm(ds, 0, b, False))
                    arms.append(make_python_read_arm(ds, False))
                    arms.append(make_python_readinto_arm(ds, False))
                rounds = run_arms(ds, arms, replace(pol, runs=nruns), cache)
                resident_after = residency(ds.paths) if not cold else None
                ares = [arm_result(a) for a in arms]
                for a in ares:
                    a["paired_ratio_vs_c"] = paired(a, ares[0], k)
                by = {a["key"]: a for a in ares}
                sweep = [a for a in ares if a["family"] == "pydaos" and a["params"]["per_call"] == ds.spec.per_call]
                best = max(sweep, key=lambda a: a[k]["median"])
                default = by[f"pydaos-d0-b{ds.spec.per_call}"]
                order = [c_ref.key] + [a["key"] for a in ares if a["family"] == "c" and a["key"] != c_ref.key]
                order += [default["key"]] + ([best["key"]] if best["key"] != default["key"] else [])
                order += [a["key"] for a in ares if a["family"] == "pydaos" and a["key"] not in order]
                order += [a["key"] for a in ares if a["family"] == "python"]
                vres["datasets"].append({
                    "name": ds.spec.dirname, "files": len(ds.paths), "file_size": ds.spec.size,
                    "total_bytes": ds.total_bytes, "root": str(ds.root), "metric": metric,
                    "reference_checksum": ds.expected, "scan_s": ds.scan_s, "reference_pass_s": ds.reference_pass_s,
                    "c_reference": c_ref.key, "pydaos_default": default["key"], "pydaos_best": best["key"],
                    "best_depth": best["params"]["depth"], "table_order": order,
                    "page_cache_resident_before": resident_before, "page_cache_resident_after": resident_after,
                    "rounds": rounds, "arms": ares,
                })
            result["variants"].append(vres)

        publish(args, result, "core-read", tables(result) + "\n".join(targets(result)), write_readme)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

