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
import gc
import hashlib
import importlib.metadata
import json
import mmap
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

# The harness itself uses no BLAS: keep numpy's OpenBLAS from starting (and spinning) worker
# threads that would compete with the arms for the CPUs. Recorded in the JSON.
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
ALIGN = 2 << 20
MASK = (1 << 64) - 1
GiB = float(1 << 30)


# ----------------------------------------------------------------------------- helpers

def nproc() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        return os.cpu_count() or 1


def aligned_buffer(nbytes: int) -> np.ndarray:
    """A writable uint8 array of >= nbytes at a 2 MiB-aligned address, backed by an anonymous
    mapping advised MADV_HUGEPAGE, pre-faulted (so no timed run pays the page faults)."""
    size = max(ALIGN, -(-nbytes // ALIGN) * ALIGN)
    mm = mmap.mmap(-1, size + ALIGN, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    try:
        mm.madvise(mmap.MADV_HUGEPAGE)
    except (AttributeError, OSError):
        pass
    arr = np.frombuffer(mm, dtype=np.uint8)  # keeps mm alive
    off = (-arr.ctypes.data) % ALIGN
    view = arr[off:off + size]
    view[:] = 1
    assert view.ctypes.data % ALIGN == 0
    return view


def checksum(buf: Any, n: Optional[int] = None) -> int:
    """Sum of the little-endian uint64 words of the first n bytes (a short tail zero-padded),
    modulo 2**64: the same as checksum() in c_reader.c."""
    a = np.frombuffer(buf, dtype=np.uint8, count=-1 if n is None else n)
    w = a.size // 8
    s = int(a[:w * 8].view(np.uint64).sum(dtype=np.uint64)) if w else 0
    if a.size % 8:
        s += int.from_bytes(a[w * 8:].tobytes(), "little")
    return s & MASK


def evict(paths: List[str]) -> None:
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


HZ = os.sysconf("SC_CLK_TCK")
# The local backend's default depth: max(2, online CPUs) (LocalStorage::default_depth).
DEFAULT_DEPTH = max(2, os.sysconf("SC_NPROCESSORS_ONLN"))


def cpu_snapshot() -> Dict[str, float]:
    """System-wide busy and steal CPU seconds (/proc/stat) and this process's own CPU seconds
    (children included), to tell how much CPU other processes took during a run."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    busy = v[0] + v[1] + v[2] + v[5] + v[6]  # user nice system irq softirq
    t = os.times()
    return {"busy": busy / HZ, "steal": (v[7] if len(v) > 7 else 0) / HZ,
            "own": t.user + t.system + t.children_user + t.children_system, "wall": time.monotonic()}


def foreign_load(a: Dict[str, float], b: Dict[str, float]) -> Dict[str, float]:
    wall = max(b["wall"] - a["wall"], 1e-9)
    foreign = max(0.0, (b["busy"] - a["busy"]) - (b["own"] - a["own"]))
    return {"wall_s": wall, "foreign_cpu_s": foreign, "foreign_cpus": foreign / wall,
            "steal_cpus": (b["steal"] - a["steal"]) / wall}


def wait_quiet(max_wait: float, threshold: float = 0.15, window: float = 0.3) -> Dict[str, float]:
    """Waits (at most max_wait seconds) until other processes use < threshold CPUs over a
    window; this machine may be shared. Returns how long it waited and the last load seen."""
    t0 = time.monotonic()
    while True:
        a = cpu_snapshot()
        time.sleep(window)
        load = foreign_load(a, cpu_snapshot())["foreign_cpus"]
        waited = time.monotonic() - t0
        if load < threshold or waited >= max_wait:
            return {"waited_s": round(waited, 2), "foreign_cpus": round(load, 3), "quiet": load < threshold}


def residency(paths: List[str]) -> Optional[float]:
    """Fraction of the files' bytes in the page cache (fincore), or None without fincore."""
    if not shutil.which("fincore"):
        return None
    res = size = 0
    for i in range(0, len(paths), 1000):
        out = subprocess.run(["fincore", "--bytes", "--noheadings", "--raw", "-o", "RES,SIZE", *paths[i:i + 1000]],
                             capture_output=True, text=True)
        for line in out.stdout.splitlines():
            r, z = line.split()[:2]
            res += int(r)
            size += int(z)
    return res / size if size else None


def summarize(xs: List[float]) -> Dict[str, float]:
    s = sorted(xs)
    if len(s) >= 2:
        q = statistics.quantiles(s, n=4, method="inclusive")
        q1, q3 = q[0], q[2]
    else:
        q1 = q3 = s[0]
    return {"median": statistics.median(s), "min": s[0], "max": s[-1], "q1": q1, "q3": q3, "n": len(s)}


# ----------------------------------------------------------------------------- data sets

@dataclass
class Spec:
    name: str       # "small" or "large"
    count: int
    size: int
    per_call: int   # files per read_index call (pydaos) / per timed chunk (python arms)

    @property
    def dirname(self) -> str:
        return f"{self.name}-{self.count}x{self.size}"

    def relpath(self, i: int) -> str:
        if self.name == "small":  # a two-level tree, 100 files per leaf directory
            return f"d{i // 1000:03d}/s{(i // 100) % 10:02d}/f{i:06d}.bin"
        return f"f{i:03d}.bin"


def generate(data: Path, spec: Spec) -> Path:
    top = data / spec.dirname
    marker = data / (spec.dirname + ".complete")  # beside the container, not inside it
    if marker.exists() and top.is_dir():
        return top
    print(f"generating {spec.count} x {spec.size} bytes under {top} ...", file=sys.stderr, flush=True)
    if top.exists():
        shutil.rmtree(top)
    tmp = data / (spec.dirname + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    rng = np.random.default_rng(20240601 + spec.count)
    for i in range(spec.count):
        p = tmp / spec.relpath(i)
        p.parent.mkdir(parents=True, exist_ok=True)
        with open(p, "wb") as f:
            f.write(rng.bytes(spec.size))
    os.rename(tmp, top)
    os.sync()  # clean pages, so that POSIX_FADV_DONTNEED can evict them (--cold)
    marker.write_text(json.dumps({"count": spec.count, "size": spec.size}) + "\n")
    return top


@dataclass
class Dataset:
    spec: Spec
    root: Path
    container: Any
    index: Any
    paths: List[str]
    sizes: np.ndarray
    total_bytes: int
    expected: int
    listfile: Path
    scan_s: float
    reference_pass_s: float


def site_target() -> Optional[Dict[str, str]]:
    """The DAOS container a site's suite run measures (workloads/suite.py --daos POOL/CONT
    --dfuse MOUNT sets these variables), or None: the local backend on this machine."""
    pool, cont = os.environ.get("PYDAOS_TORCH_SUITE_POOL"), os.environ.get("PYDAOS_TORCH_SUITE_CONT")
    if not pool and not cont:
        return None
    mount = os.environ.get("PYDAOS_TORCH_SUITE_DFUSE", "")
    if not (pool and cont and mount):
        raise SystemExit("a DAOS suite run needs PYDAOS_TORCH_SUITE_POOL, _CONT and _DFUSE (the container "
                         "mounted with dfuse, where the baselines read the same files)")
    return {"pool": pool, "container": cont, "dfuse": os.path.realpath(mount)}


def open_ours(root: Path) -> "tuple[Any, str]":
    """The container through which our arms read the files under root, and root's path in it.
    Local (default): root itself is the container. At a DAOS site root lies in the dfuse mount
    of the container: the baselines read it through dfuse, ours through libdfs directly."""
    import pydaos_torch

    site = site_target()
    if site is None:
        return pydaos_torch.connect(root=str(root), backend="local"), "/"
    rel = os.path.relpath(os.path.realpath(root), site["dfuse"])
    if rel.startswith(".."):
        raise SystemExit(f"{root} is not inside the dfuse mount {site['dfuse']}: generate the data there")
    return pydaos_torch.connect(site["pool"], site["container"], backend="dfs"), "/" + rel


def default_data_dir(name: str) -> Path:
    """Where a benchmark keeps its data: build/<name>, or inside the dfuse mount at a DAOS site."""
    site = site_target()
    return Path(site["dfuse"]) / "pydaos_torch_suite" / name if site else REPO / "build" / name


def open_dataset(spec: Spec, root: Path, workdir: Path) -> Dataset:
    c, scan_path = open_ours(root)
    t0 = time.perf_counter()
    ix = c.scan(scan_path)
    scan_s = time.perf_counter() - t0
    n = len(ix)
    if n != spec.count:
        raise SystemExit(f"{root}: scan found {n} files, expected {spec.count}")
    rel = [ix.path(i) for i in range(n)]
    paths = [os.path.join(str(root), p) for p in rel]
    sizes = np.array(ix.sizes, dtype=np.int64, copy=True)
    listfile = workdir / f"{spec.dirname}.list"  # relative paths: the C reader chdir()s to root
    with open(listfile, "w") as f:
        for p, s in zip(rel, sizes):
            f.write(f"{int(s)}\t{p}\n")
    ds = Dataset(spec, root, c, ix, paths, sizes, int(sizes.sum()), 0, listfile, scan_s, 0.0)
    ds.expected, ds.reference_pass_s = reference_pass(ds)
    return ds


def reference_pass(ds: Dataset) -> "tuple[int, float]":
    """Reads every file once with plain Python and sums it: the reference checksum, and a
    warm page cache. Run again right before each data set's timed runs."""
    t0 = time.perf_counter()
    expected = 0
    for p in ds.paths:
        with open(p, "rb") as fh:
            expected += checksum(fh.read())
    return expected & MASK, time.perf_counter() - t0


# ----------------------------------------------------------------------------- arms

@dataclass
class Arm:
    key: str
    label: str
    family: str                  # c / pydaos / python
    run_once: Callable[[], Dict[str, Any]]
    params: Dict[str, Any] = field(default_factory=dict)
    runs: List[Dict[str, Any]] = field(default_factory=list)
    discarded: List[Dict[str, Any]] = field(default_factory=list)


def chunks(n: int, k: int) -> List[np.ndarray]:
    idx = np.arange(n, dtype=np.int64)
    return [idx[i:i + k] for i in range(0, n, k)]


def make_pydaos_arm(ds: Dataset, depth: int, per_call: int, cold: bool) -> Arm:
    batches = chunks(len(ds.paths), per_call)
    starts = [int(b[0]) for b in batches]
    ends = [int(b[-1]) + 1 for b in batches]
    csum_sizes = np.concatenate([[0], np.cumsum(ds.sizes)])
    batch_bytes = [int(csum_sizes[e] - csum_sizes[s]) for s, e in zip(starts, ends)]
    whole_words = [bool((ds.sizes[s:e] % 8 == 0).all()) for s, e in zip(starts, ends)]
    out = aligned_buffer(max(batch_bytes))
    c, ix = ds.container, ds.index

    def run() -> Dict[str, Any]:
        if cold:
            evict(ds.paths)
        read_ns = chk_ns = 0
        total = 0
        s = 0
        cpu_ns = 0
        for b, nb, whole in zip(batches, batch_bytes, whole_words):
            c0 = time.process_time_ns()
            t0 = time.perf_counter_ns()
            offs = c.read_index(ix, b, out, depth=depth)
            t1 = time.perf_counter_ns()
            cpu_ns += time.process_time_ns() - c0
            read_ns += t1 - t0
            got = int(offs[-1])
            assert got == nb, (got, nb)
            if whole:
                s += checksum(out, got)
            else:
                for k in range(len(b)):
                    s += checksum(out[int(offs[k]):], int(offs[k + 1] - offs[k]))
            chk_ns += time.perf_counter_ns() - t1
            total += got
        return {"read_s": read_ns / 1e9, "cpu_s": cpu_ns / 1e9, "checksum_s": chk_ns / 1e9, "files": len(ds.paths),
                "bytes": total, "checksum": s & MASK}

    dlabel = f"default = {DEFAULT_DEPTH}" if depth == 0 else str(depth)
    return Arm(f"pydaos-d{depth}-b{per_call}", f"pydaos_torch read_index (depth={dlabel}, {per_call}/call)",
               "pydaos", run, {"depth": depth, "per_call": per_call})


def make_python_read_arm(ds: Dataset, cold: bool) -> Arm:
    per = ds.spec.per_call
    groups = [ds.paths[i:i + per] for i in range(0, len(ds.paths), per)]

    def run() -> Dict[str, Any]:
        if cold:
            evict(ds.paths)
        read_ns = chk_ns = 0
        total = 0
        s = 0
        cpu_ns = 0
        for g in groups:
            c0 = time.process_time_ns()
            t0 = time.perf_counter_ns()
            datas = []
            for p in g:
                with open(p, "rb") as f:
                    data = f.read()
                datas.append(data)
            t1 = time.perf_counter_ns()
            cpu_ns += time.process_time_ns() - c0
            read_ns += t1 - t0
            for data in datas:
                s += checksum(data)
                total += len(data)
            del datas, data
            chk_ns += time.perf_counter_ns() - t1
        return {"read_s": read_ns / 1e9, "cpu_s": cpu_ns / 1e9, "checksum_s": chk_ns / 1e9, "files": len(ds.paths),
                "bytes": total, "checksum": s & MASK}

    return Arm("python-read", "plain Python open()+f.read()", "python", run)


def make_python_readinto_arm(ds: Dataset, cold: bool) -> Arm:
    per = ds.spec.per_call
    n = len(ds.paths)
    groups = [(ds.paths[i:i + per], [int(x) for x in ds.sizes[i:i + per]]) for i in range(0, n, per)]
    out = aligned_buffer(max(sum(sz) for _, sz in groups))
    mv = memoryview(out)

    def run() -> Dict[str, Any]:
        if cold:
            evict(ds.paths)
        read_ns = chk_ns = 0
        total = 0
        s = 0
        cpu_ns = 0
        for g, sz in groups:
            c0 = time.process_time_ns()
            t0 = time.perf_counter_ns()
            pos = 0
            for p, size in zip(g, sz):
                with open(p, "rb", buffering=0) as f:
                    got = f.readinto(mv[pos:pos + size])
                assert got == size
                pos += size
            t1 = time.perf_counter_ns()
            cpu_ns += time.process_time_ns() - c0
            read_ns += t1 - t0
            if all(x % 8 == 0 for x in sz):
                s += checksum(out, pos)
            else:
                q = 0
                for size in sz:
                    s += checksum(out[q:], size)
                    q += size
            total += pos
            chk_ns += time.perf_counter_ns() - t1
        return {"read_s": read_ns / 1e9, "cpu_s": cpu_ns / 1e9, "checksum_s": chk_ns / 1e9, "files": n,
                "bytes": total, "checksum": s & MASK}

    return Arm("python-readinto", "plain Python readinto() reused buffer (extra)", "python", run)


def make_c_arm(ds: Dataset, exe: Path, threads: int, with_checksum: bool, cold: bool, openat2: bool = False,
               slots: int = 0, dircache: bool = False) -> Arm:
    # One process per run, two runs in it: the first warms the process up (thread stacks,
    # first calls), the second is kept. Process start is outside the timed region.
    cmd = [str(exe), "-t", str(threads), "-r", "2"] + ["-c"] * with_checksum + ["-C"] * cold
    cmd += ["-2"] * openat2 + ["-d"] * dircache + (["-s", str(slots)] if slots else [])
    cmd += [str(ds.root), str(ds.listfile)]

    def run() -> Dict[str, Any]:
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        rows = [json.loads(line) for line in out.splitlines() if line.strip()]
        r = rows[-1]
        return {"read_s": r["wall_ns"] / 1e9, "cpu_s": r["cpu_ns"] / 1e9, "files": r["files"], "bytes": r["bytes"],
                "checksum": r["checksum"], "read_calls": r["read_calls"],
                "checksum_s_sum_threads": r["checksum_ns_sum"] / 1e9,
                "checksum_s_max_thread": r["checksum_ns_max_thread"] / 1e9, "warmup_run_s": rows[0]["wall_ns"] / 1e9}

    mode = "read+checksum" if with_checksum else "read only"
    extra = (", openat2 RESOLVE_BENEATH" if openat2 else "") + \
        (", cached parent dir + openat O_NOFOLLOW" if dircache else "") + \
        (f", packed {slots}-slot buffer" if slots else "")
    key = f"c-t{threads}-{'chk' if with_checksum else 'ro'}" + ("-openat2" if openat2 else "") + \
        ("-dircache" if dircache else "") + (f"-s{slots}" if slots else "")
    label = f"C reader ({threads} thread{'s' * (threads > 1)}, {mode}{extra})" + (" (diagnostic)" if extra else "")
    return Arm(key, label, "c", run, {"threads": threads, "checksum": with_checksum, "openat2": openat2,
                                      "dircache": dircache, "slots": slots, "argv": cmd})


def compile_c(workdir: Path) -> Path:
    exe = workdir / "c_reader"
    cmd = ["cc", "-O2", "-pthread", "-o", str(exe), str(HERE / "c_reader.c")]
    subprocess.run(cmd, check=True)
    return exe


# ----------------------------------------------------------------------------- running

@dataclass
class Policy:
    runs: int            # kept runs per arm
    attempts: int        # tries per run at most: a disturbed run is retried, then kept flagged
    quiet_wait: float    # seconds to wait for quiet before each try
    max_load: float      # a run is clean when other processes used fewer CPUs than this during it
    deadline: float      # time.monotonic() after which no more retries are made


def run_arms(ds: Dataset, arms: List[Arm], pol: Policy, variant: str) -> List[Dict[str, Any]]:
    """Runs every arm pol.runs times, round-robin (run 1 of every arm, then run 2, ...). This
    machine may be shared: before each try the harness waits (at most pol.quiet_wait s) for
    other processes to go quiet, measures the CPU they use during the run, and retries a
    disturbed run (up to pol.attempts tries, until pol.deadline); the last try is kept,
    flagged, and every discarded try is kept in the JSON too."""
    rate_name = "files/s" if ds.spec.name == "small" else "GiB/s"
    rate_key = "files_per_s" if rate_name == "files/s" else "gib_per_s"
    rounds: List[Dict[str, Any]] = []
    for r in range(pol.runs):
        waited = 0.0
        for arm in arms:
            for attempt in range(pol.attempts):
                q = wait_quiet(pol.quiet_wait) if pol.quiet_wait > 0 else {}
                waited += q.get("waited_s", 0.0)
                gc.collect()
                gc.disable()
                a = cpu_snapshot()
                try:
                    res = arm.run_once()
                finally:
                    gc.enable()
                res["interference"] = {k: round(v, 4) for k, v in foreign_load(a, cpu_snapshot()).items()}
                if res["files"] != len(ds.paths) or res["bytes"] != ds.total_bytes:
                    raise SystemExit(f"{arm.key}: read {res['files']} files / {res['bytes']} bytes, expected "
                                     f"{len(ds.paths)} / {ds.total_bytes}")
                if res["checksum"] is not None and res["checksum"] != ds.expected:
                    raise SystemExit(f"{arm.key}: checksum {res['checksum']:#x} != reference {ds.expected:#x}")
                res["files_per_s"] = res["files"] / res["read_s"]
                res["gib_per_s"] = res["bytes"] / res["read_s"] / GiB
                res["round"] = r
                res["attempt"] = attempt
                res["clean"] = res["interference"]["foreign_cpus"] < pol.max_load
                last = attempt + 1 >= pol.attempts or time.monotonic() > pol.deadline
                if res["clean"] or last:
                    arm.runs.append(res)
                    break
                arm.discarded.append(res)
        kept = [a.runs[-1] for a in arms]
        rounds.append({"round": r, "waited_s": round(waited, 2), "disturbed_kept": sum(not x["clean"] for x in kept),
                       "retries": sum(x["attempt"] for x in kept)})
        line = "  ".join(f"{a.key}={a.runs[-1][rate_key]:.4g}{'' if a.runs[-1]['clean'] else '*'}" for a in arms)
        print(f"[{variant} {ds.spec.dirname}] run {r + 1}/{pol.runs} ({rate_name}; {rounds[-1]['retries']} retries, "
              f"{rounds[-1]['disturbed_kept']} disturbed runs kept (*), waited {waited:.0f} s): {line}",
              file=sys.stderr, flush=True)
    return rounds


def arm_result(arm: Arm) -> Dict[str, Any]:
    use = arm.runs
    disturbed = sum(not x["clean"] for x in use)
    d: Dict[str, Any] = {"key": arm.key, "label": arm.label, "family": arm.family, "params": arm.params,
                         "stats_over": f"{len(use)} runs" + (f", {disturbed} DISTURBED" if disturbed else ", all clean"),
                         "disturbed_runs": disturbed, "raw": arm.runs, "discarded_disturbed_tries": arm.discarded}
    d["read_s"] = summarize([r["read_s"] for r in use])
    d["files_per_s"] = summarize([r["files_per_s"] for r in use])
    d["gib_per_s"] = summarize([r["gib_per_s"] for r in use])
    if "checksum_s" in arm.runs[0]:
        d["checksum_s"] = summarize([r["checksum_s"] for r in use])
        d["read_plus_checksum_s"] = summarize([r["read_s"] + r["checksum_s"] for r in use])
    d["cpu_s"] = summarize([r["cpu_s"] for r in use])
    d["cpu_us_per_file"] = summarize([r["cpu_s"] / r["files"] * 1e6 for r in use])
    d["cpu_s_per_gib"] = summarize([r["cpu_s"] / (r["bytes"] / GiB) for r in use])
    d["foreign_cpus"] = summarize([r["interference"]["foreign_cpus"] for r in use])
    d["checksum_verified"] = arm.runs[0]["checksum"] is not None
    return d


def paired_ratio(arm: Dict[str, Any], ref: Dict[str, Any], key: str) -> Optional[Dict[str, float]]:
    """Median over rounds of (arm's rate / the reference's rate in the same round)."""
    rr = {x["round"]: x[key] for x in ref["raw"]}
    xs = [x[key] / rr[x["round"]] for x in arm["raw"] if x["round"] in rr]
    return summarize(xs) if xs else None


def machine() -> Dict[str, Any]:
    cpu = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    def read(p: str) -> str:
        try:
            return Path(p).read_text().strip()
        except OSError:
            return ""

    def git(*a: str) -> str:
        try:
            return subprocess.run(["git", "-C", str(REPO), *a], capture_output=True, text=True).stdout.strip()
        except OSError:
            return ""

    def version(pkg: str) -> str:
        try:
            return importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            return ""

    import pydaos_torch
    core = getattr(pydaos_torch, "_core", None)
    core_file = os.path.realpath(getattr(core, "__file__", "") or "")
    core_sha = hashlib.sha256(Path(core_file).read_bytes()).hexdigest() if core_file and os.path.exists(core_file) else ""
    cc = subprocess.run(["cc", "--version"], capture_output=True, text=True).stdout.splitlines()
    return {
        "hostname": socket.gethostname(),
        "loadavg_at_start": os.getloadavg(),
        "nproc": nproc(),
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu,
        "mem_total": mem,
        "kernel": platform.release(),
        "kernel_version": platform.version(),
        "thp_enabled": read("/sys/kernel/mm/transparent_hugepage/enabled"),
        "thp_defrag": read("/sys/kernel/mm/transparent_hugepage/defrag"),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "torch": version("torch"),
        "cc": cc[0] if cc else "",
        "git_commit": git("rev-parse", "HEAD"),
        "git_dirty_paths": git("status", "--porcelain", "--", "csrc", "pydaos_torch", "CMakeLists.txt").splitlines(),
        "pydaos_torch_file": pydaos_torch.__file__,
        "pydaos_core_so": core_file,
        "pydaos_core_sha256": core_sha,
    }


def fs_of(path: Path) -> str:
    best, fstype = "", ""
    try:
        for line in open("/proc/mounts"):
            parts = line.split()
            mnt = parts[1]
            if str(path).startswith(mnt) and len(mnt) > len(best):
                best, fstype = mnt, f"{parts[2]} on {mnt} ({parts[0]})"
    except OSError:
        pass
    return fstype


# ----------------------------------------------------------------------------- report

def fmt_rate(x: float, metric: str) -> str:
    return f"{x:,.0f}" if metric == "files/s" else f"{x:.2f}"


def table(result: Dict[str, Any]) -> str:
    out = []
    for v in result["variants"]:
        for ds in v["datasets"]:
            metric = ds["metric"]
            small = metric == "files/s"
            k = "files_per_s" if small else "gib_per_s"
            by = {a["key"]: a for a in ds["arms"]}
            cref = by[ds["c_reference"]][k]["median"]
            pref = by["python-read"][k]["median"] if "python-read" in by else None
            out += [f"**{ds['name']}, page cache {v['cache']}, {metric}**", "",
                    f"| arm | median {metric} | min–max | IQR | CPU per {'file' if small else 'GiB'} | "
                    "vs C reader | vs C, paired by round | vs plain Python | runs used |",
                    "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
            for key in ds["table_order"]:
                a = by[key]
                s = a[k]
                name = a["label"]
                if key == ds.get("pydaos_default"):
                    name += " **default**"
                elif key == ds.get("pydaos_best"):
                    name += " **best depth**"
                cpu = (f"{a['cpu_us_per_file']['median']:.1f} µs" if small else f"{a['cpu_s_per_gib']['median']:.2f} s")
                pr = a.get("paired_ratio_vs_c")
                out.append(
                    f"| {name} | {fmt_rate(s['median'], metric)} | "
                    f"{fmt_rate(s['min'], metric)}–{fmt_rate(s['max'], metric)} | "
                    f"{fmt_rate(s['q1'], metric)}–{fmt_rate(s['q3'], metric)} | {cpu} | {s['median'] / cref:.2f} | "
                    + (f"{pr['median']:.2f} |" if pr else "– |")
                    + (f" {s['median'] / pref:.2f} |" if pref else " – |")
                    + f" {a['stats_over']} |")
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
            loads.append(f"{ds['name']} ({v['cache']}): other processes used a median {statistics.median(fl):.2f} "
                         f"and at most {max(fl):.2f} CPUs during the kept runs ({tries} disturbed tries discarded)"
                         + (f"; page cache held {res[0]:.0%} of the files before and {res[1]:.0%} after"
                            if None not in res else ""))
    body = f"""<!-- core-read:begin (written by workloads/bench_read.py; edits between the markers are overwritten) -->
## Core read benchmark ({result['date']}, `{json_name}`)

Machine: {m['nproc']} CPUs ({m['cpu_model']}), {m['mem_total']} RAM, kernel {m['kernel']},
Python {m['python']}, numpy {m['numpy']}, torch {m['torch']}, THP `{m['thp_enabled']}`;
data on {result['data_fs']}; git {m['git_commit'][:12]}{' (csrc/pydaos_torch had uncommitted edits)' if m['git_dirty_paths'] else ''}.

Command: `{result['command']}`

Method: every arm reads every file of the set once per run, in the same (index) order;
one run per arm per round, round-robin across arms (run 1 of every arm, then run 2, ...);
median, min–max and interquartile range over {result['runs']} runs per arm. This machine may be
shared: before each run the harness waits (up to {result['policy']['quiet_wait_s']:g} s) for other
processes to go quiet and measures the CPU they use during the run (/proc/stat minus this process
tree); a run during which they used {result['policy']['max_load_cpus']} CPUs or more is retried (up to
{result['policy']['attempts']} tries, within {result['policy']['budget_min']:g} minutes) and the last try is
kept, flagged DISTURBED in "runs used" (discarded tries stay in the JSON). "vs C, paired by round" is
the median over rounds of the arm's rate / the C reader's rate in the same round. Page cache **warm**: every file is read
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
"best depth" is the fastest median among the default and the sweep
({', '.join(str(d) for d in result['depths'][1:])}): slightly optimistic (best of several noisy medians).

Interference: {'; '.join(loads)}.

{table(result)}

Targets (page cache warm, medians):
{chr(10).join(targets(result))}
<!-- core-read:end -->
"""
    readme = out_dir / "README.md"
    old = readme.read_text() if readme.exists() else "# Benchmark results\n\n"
    pat = re.compile(r"<!-- core-read:begin.*?<!-- core-read:end -->\n?", re.S)
    new = pat.sub(lambda _: body, old) if pat.search(old) else old.rstrip("\n") + "\n\n" + body
    readme.write_text(new)


# ----------------------------------------------------------------------------- main

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2,000 small and 2 x 32 MiB files, 3 runs, fewer variants")
    ap.add_argument("--data", type=Path, default=default_data_dir("bench_data"), help="where the data sets live")
    ap.add_argument("--runs", type=int, default=0, help="runs per arm (default 7, --quick 3)")
    ap.add_argument("--out", type=Path, default=REPO / "results", help="results directory")
    ap.add_argument("--depths", default="", help="comma-separated depths to sweep (0 = default)")
    ap.add_argument("--datasets", default="small,large", help="small, large or both")
    ap.add_argument("--cold", action="store_true", help="also run a cold-cache variant (fewer arms)")
    ap.add_argument("--cold-runs", type=int, default=3, help="runs per arm in the cold variant")
    ap.add_argument("--no-readme", action="store_true", help="do not update results/README.md")
    ap.add_argument("--quiet-wait", type=float, default=-1,
                    help="before each run wait up to this many seconds for other processes to go quiet "
                         "(default 10, --quick 0)")
    ap.add_argument("--max-load", type=float, default=0.25,
                    help="a run is disturbed when other processes used this many CPUs or more during it "
                         "(default 0.25)")
    ap.add_argument("--attempts", type=int, default=0, help="tries per run at most (default 8, --quick 1)")
    ap.add_argument("--budget-min", type=float, default=60,
                    help="after this many minutes, disturbed runs are no longer retried (default 60)")
    args = ap.parse_args()
    quiet_wait = args.quiet_wait if args.quiet_wait >= 0 else (0.0 if args.quick else 10.0)
    attempts = args.attempts or (1 if args.quick else 8)
    deadline = time.monotonic() + 60 * args.budget_min

    runs = args.runs or (3 if args.quick else 7)
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
        exe = compile_c(workdir)
        mach = machine()
        result: Dict[str, Any] = {
            "benchmark": "core-read",
            "date": datetime.date.today().isoformat(),
            "started": datetime.datetime.now().isoformat(timespec="seconds"),
            "command": " ".join(["PYTHONPATH=" + os.environ.get("PYTHONPATH", "")] * bool(os.environ.get("PYTHONPATH"))
                                + [sys.executable] + sys.argv),
            "quick": args.quick, "runs": runs, "depths": depths, "default_depth": DEFAULT_DEPTH, "c_threads": ncpu,
            "data_dir": str(args.data), "data_fs": fs_of(args.data.resolve()),
            "machine": mach,
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
        result["policy"] = {"quiet_wait_s": quiet_wait, "max_load_cpus": args.max_load, "attempts": attempts,
                            "budget_min": args.budget_min}
        datasets = []
        for spec in chosen:
            root = generate(args.data, spec)
            datasets.append(open_dataset(spec, root, workdir))

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
                pol = Policy(nruns, attempts, quiet_wait, args.max_load, deadline)
                rounds = run_arms(ds, arms, pol, cache)
                resident_after = residency(ds.paths) if not cold else None
                ares = [arm_result(a) for a in arms]
                for a in ares:
                    a["paired_ratio_vs_c"] = paired_ratio(a, ares[0], k)
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

        result["finished"] = datetime.datetime.now().isoformat(timespec="seconds")
        result["loadavg_at_end"] = os.getloadavg()
        host = re.sub(r"[^A-Za-z0-9_-]+", "-", socket.gethostname().split(".")[0])[:32] or "host"
        name = f"{result['date']}-core-read-{host}{'-quick' if args.quick else ''}.json"
        (args.out / name).write_text(json.dumps(result, indent=1) + "\n")
        print(table(result))
        print("\n".join(targets(result)))
        print(f"wrote {args.out / name}")
        if not args.quick and not args.no_readme:
            write_readme(args.out, result, name)
            print(f"updated {args.out / 'README.md'}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
