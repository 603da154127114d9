#!/usr/bin/env python3
"""Namespace scan rate and index memory: pydaos_torch's native scan vs plain Python listing.

Data: a tree of tiny files (0..63 bytes): full 200,000 files in 200 leaf directories of 1,000
(top/gG/dDD/fNNNN, 4 groups of 50 directories) plus a nested chain top/deep/l1/.../l6 holding
10 files per level; --quick: 20,000 files in 20 directories (+ the chain). Generated once
under --data and reused when the stamp file beside the tree (<tree>.stamp, outside the tree so
no arm sees it) matches the layout.

Arms (each lists every regular file under the top as (path relative to the top, size)):
  native-default  Container.scan(top) with its default thread count (local backend:
                  min(16, 2 x CPUs); dfs: 16): readdir + fstatat on native threads, the result
                  SORTED into one compact Index (the sort is inside the timed region)
  native-1        the same with threads=1
  os-walk         os.walk(top) + os.stat(path) per file: the typical user code (absolute
                  paths, not sorted)
  scandir         an explicit stack of os.scandir() with entry.stat(follow_symlinks=False)
                  for files: the fastest pure-Python way (absolute paths, not sorted)
The Python arms do NOT sort; the time to sort their list (by path) is measured once, untimed,
and reported beside ("python_sort_s"). Before the timed runs every arm runs once untimed and
the four listings are compared as sets (same relative paths, same sizes); every timed run
checks the file count and the total size.

Cache state: WARM (dentries and inodes cached by the untimed pass above). --cold adds a
clearly labelled cold variant: `echo 2 > /proc/sys/vm/drop_caches` (dentries and inodes of the
whole machine) before every try, untimed. The page cache is NOT dropped, and with it the
filesystem's cached inode-table and directory blocks: "cold" means the kernel rebuilds dentries
and inodes from cached blocks, not that the disk is read. It is opt-in because it slows every
other process on a shared machine, and skipped (with the reason in the JSON) when that file is
not writable.

Timing: perf_counter around the listing call; CPU = time.process_time() over the same region
(all threads of this process, so the native scan threads count). Arms run round-robin (run 1
of every arm, then run 2, ...), gc off while timing, with the harness's quiet wait and retry of
disturbed runs (run_round_robin). Ratios vs os.walk and vs scandir: of the medians
and paired by round.

Memory per entry (all for the same N entries, relative paths):
  * the native Index: Index.memory_bytes (its heap arrays: packed paths + 8-byte offsets +
    8-byte sizes) and the serialized form (len(to_bytes()));
  * a Python list of (str, int) tuples and a list of str, measured with tracemalloc (the objects
    the list keeps alive). The test files are < 64 bytes, whose ints CPython caches: the tuple
    list is also measured with sizes above 256 (uncached ints, 32 bytes each), as real data has;
  * process RSS growth (VmRSS) of each, each in a fresh child process: before, then after the
    listing is built and the transient garbage is freed (gc + malloc_trim(0)); peak (VmHWM) growth.

DAOS sites: with PYDAOS_TORCH_SUITE_POOL and PYDAOS_TORCH_SUITE_CONT set, the native arms connect
with backend="dfs" to that pool/container and scan /bench_scan/<tree>, while the Python arms walk
the same tree through the dfuse mount of that container given by PYDAOS_TORCH_SUITE_DFUSE (the
data is generated through that mount). Without them: the local backend, the container being the
--data directory.

Writes results/<date>-scan-<host>[-quick].json (machine, command, every raw run, a flat
"summary") and, for full runs without --no-readme, the "scan" section of results/README.md.
The last line printed is `json: PATH`.

    PYTHONPATH=$PWD .venv/bin/python workloads/bench_scan.py [--quick] [--runs N] [--cold]
"""
from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import shutil
import subprocess
import sys
import time
import tracemalloc
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

from harness.results import quiet_blas

quiet_blas()  # before numpy: the harness itself uses no BLAS

from harness.cli import RunDefaults, add_run_options, policy  # noqa: E402
from harness.machine import REPO, fs_of, machine_line  # noqa: E402
from harness.results import base_result, publish, write_section  # noqa: E402
from harness.runner import Arm, Policy, arm_summary, interference_text, run_round_robin  # noqa: E402
from harness.site import site_target  # noqa: E402
from harness.stats import paired  # noqa: E402
from harness.tables import Headline, find, med, num, ratio_text, rng  # noqa: E402

REPO = REPO
STAMP_VERSION = 1
DEEP_LEVELS, DEEP_FILES = 6, 10
DROP_CACHES = "/proc/sys/vm/drop_caches"


# ----------------------------------------------------------------------------- data

RUN = RunDefaults(runs=7, attempts=4, quiet_wait=3.0, budget_min=3)


@dataclass
class Layout:
    files: int       # files in leaf directories
    per_dir: int
    groups: int = 4

    @property
    def leaf_dirs(self) -> int:
        return -(-self.files // self.per_dir)

    def stamp(self) -> Dict[str, Any]:
        return dict(asdict(self), version=STAMP_VERSION, deep_levels=DEEP_LEVELS, deep_files=DEEP_FILES,
                    total_files=self.total_files(), total_bytes=self.total_bytes())

    def dirs(self) -> int:
        """Directories in the tree, the top included."""
        groups = -(-self.leaf_dirs // -(-self.leaf_dirs // self.groups))
        return 1 + groups + self.leaf_dirs + 1 + DEEP_LEVELS

    def total_files(self) -> int:
        return self.files + DEEP_LEVELS * DEEP_FILES

    def total_bytes(self) -> int:
        return sum(size_of(i) for i in range(self.files)) + sum(size_of(i) for i in range(DEEP_LEVELS * DEEP_FILES))


def size_of(i: int) -> int:
    return (i * 7) % 64  # tiny but not all empty, so the total size checks the sizes


def _write(path: str, n: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        if n:
            os.write(fd, b"x" * n)
    finally:
        os.close(fd)


def generate(tree: Path, lay: Layout) -> None:
    """Creates the tree unless its stamp (a file beside it) says it is there already."""
    stamp = tree.with_name(tree.name + ".stamp")
    want = lay.stamp()
    try:
        if json.loads(stamp.read_text()) == want and tree.is_dir():
            return
    except (OSError, ValueError):
        pass
    print(f"[scan] generating {lay.total_files():,} files under {tree} ...", file=sys.stderr, flush=True)
    t0 = time.monotonic()
    stamp.unlink(missing_ok=True)
    if tree.exists():
        shutil.rmtree(tree)
    per_group = -(-lay.leaf_dirs // lay.groups)
    for i in range(lay.files):
        d, k = divmod(i, lay.per_dir)
        g, dd = divmod(d, per_group)
        leaf = tree / f"g{g}" / f"d{dd:03d}"
        if k == 0:
            leaf.mkdir(parents=True)
        _write(str(leaf / f"f{k:05d}"), size_of(i))
    deep = tree / "deep"
    for lvl in range(DEEP_LEVELS):
        deep = deep / f"l{lvl + 1}"
        deep.mkdir(parents=True)
        for k in range(DEEP_FILES):
            _write(str(deep / f"f{k:02d}"), size_of(lvl * DEEP_FILES + k))
    os.sync()  # clean inodes: --cold can then drop them
    stamp.write_text(json.dumps(want))
    print(f"[scan] generated in {time.monotonic() - t0:.1f} s", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- where the data is

@dataclass
class Target:
    backend: str      # "local" or "dfs"
    root: str         # local: the container's directory; dfs: the dfuse mount of the container
    rel: str          # the tree, relative to the container's root
    pool: str = ""
    cont: str = ""

    @property
    def top(self) -> str:
        """The tree as the Python arms see it (a POSIX path)."""
        return os.path.join(self.root, self.rel)

    def connect(self) -> Any:
        try:
            import pydaos_torch
        except ImportError as e:
            raise SystemExit(f"cannot import pydaos_torch ({e}): install the wheel, or run `make dev` and set "
                             "PYTHONPATH to the repository") from e
        if self.backend == "dfs":
            return pydaos_torch.connect(self.pool, self.cont, backend="dfs", read_only=True)
        return pydaos_torch.connect(root=self.root, backend="local", read_only=True)


def target_from_env(data: Path, tree_name: str) -> Target:
    """The tree under data (local backend), or at a DAOS site (harness.site) in its container."""
    site = site_target()
    if site is None:
        return Target("local", str(data), tree_name)
    if not os.path.isdir(site["dfuse"]):
        raise SystemExit(f"PYDAOS_TORCH_SUITE_DFUSE={site['dfuse']!r}: not the dfuse mount of the container")
    return Target("dfs", site["dfuse"], f"bench_scan/{tree_name}", site["pool"], site["container"])


# ----------------------------------------------------------------------------- the listings

def list_os_walk(top: str) -> List[Tuple[str, int]]:
    out = []
    for dirpath, _dirs, names in os.walk(top):
        for name in names:
            p = os.path.join(dirpath, name)
            out.append((p, os.stat(p).st_size))
    return out


def scandir_files(top: str) -> Iterator[os.DirEntry]:
    """Every regular file under top (symbolic links not followed), by an os.scandir stack."""
    stack = [top]
    while stack:
        with os.scandir(stack.pop()) as it:
            for e in it:
                if e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
                elif e.is_file(follow_symlinks=False):
                    yield e


def list_scandir(top: str) -> List[Tuple[str, int]]:
    return [(e.path, e.stat(follow_symlinks=False).st_size) for e in scandir_files(top)]


def list_scandir_rel(top: str, sizes: bool = True) -> List[Any]:
    """list_scandir with paths relative to top, built directly (no second list): what the
    memory children keep; (path, size) tuples or, without sizes, path strings."""
    cut = len(top.rstrip("/")) + 1
    if sizes:
        return [(e.path[cut:], e.stat(follow_symlinks=False).st_size) for e in scandir_files(top)]
    return [e.path[cut:] for e in scandir_files(top)]


def index_entries(ix: Any) -> List[Tuple[str, int]]:
    return [(ix.path(i), ix.size(i)) for i in range(len(ix))]


def relative(entries: List[Tuple[str, int]], top: str) -> List[Tuple[str, int]]:
    cut = len(top.rstrip("/")) + 1
    return [(p[cut:], s) for p, s in entries]


# ----------------------------------------------------------------------------- arms

def native_arm(cont: Any, tgt: Target, threads: int, default_threads: int) -> Arm:
    path = "/" + tgt.rel

    def run() -> Dict[str, Any]:
        c0, t0 = time.process_time(), time.perf_counter()
        ix = cont.scan(path, threads=threads)
        t, c = time.perf_counter() - t0, time.process_time() - c0
        return {"seconds": t, "cpu_s": c, "files": len(ix), "bytes": ix.total_bytes}

    key = "native-default" if threads == 0 else f"native-{threads}"
    shown = f"default = {default_threads} threads" if threads == 0 else f"{threads} thread" + "s" * (threads > 1)
    return Arm(key, f"pydaos_torch Container.scan ({shown}, sorted Index)", "native", run,
                  {"threads": threads, "effective_threads": threads or default_threads, "sorted": True,
                   "backend": tgt.backend})


def python_arm(key: str, label: str, fn: Any, top: str) -> Arm:
    def run() -> Dict[str, Any]:
        c0, t0 = time.process_time(), time.perf_counter()
        lst = fn(top)
        t, c = time.perf_counter() - t0, time.process_time() - c0
        return {"seconds": t, "cpu_s": c, "files": len(lst), "bytes": sum(s for _, s in lst)}

    return Arm(key, label, "python", run, {"sorted": False, "paths": "absolute"})


def default_threads(backend: str) -> int:
    # Mirrors the core: LocalStorage::scan min(16, 2 x CPUs); the dfs scan uses 16.
    return 16 if backend == "dfs" else min(16, 2 * (os.cpu_count() or 1))


def build_arms(cont: Any, tgt: Target) -> List[Arm]:
    dt = default_threads(tgt.backend)
    arms = [native_arm(cont, tgt, 0, dt)]
    if dt != 1:
        arms.append(native_arm(cont, tgt, 1, dt))
    arms.append(python_arm("os-walk", "Python os.walk + os.stat per file", list_os_walk, tgt.top))
    arms.append(python_arm("scandir", "Python os.scandir stack + entry.stat()", list_scandir, tgt.top))
    return arms


def check_agreement(cont: Any, tgt: Target, lay: Layout) -> Dict[str, Any]:
    """One untimed pass of every listing (this also warms the caches); all must list the same
    (relative path, size) set, of the expected count and total size."""
    t0 = time.perf_counter()
    ix = cont.scan("/" + tgt.rel)
    lists = {"native": index_entries(ix), "os-walk": relative(list_os_walk(tgt.top), tgt.top),
             "scandir": relative(list_scandir(tgt.top), tgt.top)}
    ref = sorted(lists["native"])
    if lists["native"] != ref:
        raise SystemExit("native scan: the Index is not sorted by path")
    for k, v in lists.items():
        n, b = len(v), sum(s for _, s in v)
        if n != lay.total_files() or b != lay.total_bytes():
            raise SystemExit(f"{k}: {n} files / {b} bytes, expected {lay.total_files()} / {lay.total_bytes()} "
                             f"(delete {tgt.top} and its .stamp to regenerate)")
        if sorted(v) != ref:
            raise SystemExit(f"{k}: lists other (path, size) pairs than the native scan")
    # What the Python arms leave out: sorting their list (by path), timed here once.
    lst = list_scandir(tgt.top)
    s0 = time.perf_counter()
    lst.sort()
    sort_s = time.perf_counter() - s0
    return {"files": len(ref), "bytes": sum(s for _, s in ref), "agree": True, "python_sort_s": sort_s,
            "mean_rel_path_bytes": sum(len(p.encode()) for p, _ in ref) / len(ref),
            "mean_abs_path_bytes": sum(len(p.encode()) for p, _ in lst) / len(lst),
            "check_s": time.perf_counter() - t0}


def drop_dentries_inodes() -> None:
    with open(DROP_CACHES, "w") as f:
        f.write("2\n")


def cold_possible() -> Optional[str]:
    """None when dentries/inodes can be dropped, else why not."""
    if not os.access(DROP_CACHES, os.W_OK):
        return f"{DROP_CACHES} is not writable (not root, or /proc/sys read-only)"
    try:
        drop_dentries_inodes()
    except OSError as e:
        return f"writing {DROP_CACHES} failed: {e}"
    return None


# ----------------------------------------------------------------------------- memory

def vm_status() -> Dict[str, int]:
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0]) * 1024
    return out


def malloc_trim() -> bool:
    try:
        return bool(ctypes.CDLL("libc.so.6").malloc_trim(0))
    except (OSError, AttributeError):
        return False


def memory_child(kind: str, tgt: Target) -> Dict[str, Any]:
    """In a fresh process: RSS before and after building one listing and freeing the garbage."""
    cont = tgt.connect() if kind == "index" else None
    # A small listing first: imports, the native thread pool's stacks, allocator arenas are
    # then in the baseline, not in the growth.
    if cont is not None:
        cont.scan("/" + tgt.rel + "/deep")
    else:
        list_scandir_rel(os.path.join(tgt.top, "deep"))
    gc.collect()
    malloc_trim()
    a = vm_status()
    if kind == "index":
        keep: Any = cont.scan("/" + tgt.rel)
    elif kind == "pylist":
        keep = list_scandir_rel(tgt.top)
    elif kind == "strlist":
        keep = list_scandir_rel(tgt.top, sizes=False)
    else:
        raise SystemExit(f"unknown memory kind {kind!r}")
    gc.collect()
    trimmed = malloc_trim()
    b = vm_status()
    return {"kind": kind, "entries": len(keep), "rss_growth": b["VmRSS"] - a["VmRSS"],
            "peak_growth": max(0, b["VmHWM"] - a["VmHWM"]), "malloc_trim": trimmed}


def run_memory_child(kind: str, tgt: Target) -> Dict[str, Any]:
    cmd = [sys.executable, __file__, "--memory-child", kind, "--target", json.dumps(asdict(tgt))]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        raise SystemExit(f"memory child {kind} failed ({p.returncode}):\n{p.stderr[-2000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def traced_bytes(build: Any) -> int:
    """Bytes of the Python objects kept alive by build()'s result (tracemalloc)."""
    gc.collect()
    tracemalloc.start()
    try:
        keep = build()
        gc.collect()
        n = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    del keep
    return n


def measure_memory(cont: Any, tgt: Target) -> Dict[str, Any]:
    ix = cont.scan("/" + tgt.rel)
    n = len(ix)
    # Index.path() returns a new str each call: the list alone keeps these objects alive.
    py = traced_bytes(lambda: [(ix.path(i), ix.size(i)) for i in range(n)]) / n
    big = traced_bytes(lambda: [(ix.path(i), ix.size(i) + 1000) for i in range(n)]) / n
    st = traced_bytes(lambda: [ix.path(i) for i in range(n)]) / n
    rss = {k: run_memory_child(k, tgt) for k in ("index", "pylist", "strlist")}
    return {
        "entries": n,
        "index_memory_bytes": ix.memory_bytes,
        "index_bytes_per_entry": ix.memory_bytes / n,
        "index_serialized_bytes_per_entry": len(ix.to_bytes()) / n,
        "pylist_bytes_per_entry": py,
        "pylist_uncached_ints_bytes_per_entry": big,
        "strlist_bytes_per_entry": st,
        "rss": rss,
        "index_rss_bytes_per_entry": rss["index"]["rss_growth"] / n,
        "pylist_rss_bytes_per_entry": rss["pylist"]["rss_growth"] / n,
        "strlist_rss_bytes_per_entry": rss["strlist"]["rss_growth"] / n,
        "method": "tracemalloc of the list built from the Index (Index.path() returns new str objects); "
                  "RSS: VmRSS growth in a fresh child after gc + malloc_trim(0)",
    }


# ----------------------------------------------------------------------------- a variant (warm / cold)

def run_variant(name: str, arms: List[Arm], pol: Policy, lay: Layout) -> Dict[str, Any]:
    def validate(arm: Arm, res: Dict[str, Any]) -> None:
        if res["files"] != lay.total_files() or res["bytes"] != lay.total_bytes():
            raise SystemExit(f"{arm.key}: {res['files']} files / {res['bytes']} bytes, expected "
                             f"{lay.total_files()} / {lay.total_bytes()}")
        res["files_per_s"] = res["files"] / res["seconds"]
        res["cpu_us_per_file"] = res["cpu_s"] / res["files"] * 1e6

    rounds = run_round_robin(arms, pol, f"scan {name}", validate, lambda r: f"{r['files_per_s']:,.0f}", gc_off=True)
    res_arms = [arm_summary(a, ["seconds", "files_per_s", "cpu_s", "cpu_us_per_file"]) for a in arms]
    by = {a["key"]: a for a in res_arms}
    for a in res_arms:
        for ref in ("os-walk", "scandir"):
            r = by[ref]
            a[f"vs_{ref.replace('-', '_')}"] = a["files_per_s"]["median"] / r["files_per_s"]["median"]
            a[f"paired_vs_{ref.replace('-', '_')}"] = paired(a, r, "files_per_s")
    return {"cache": name, "rounds": rounds, "arms": res_arms}


def flat_arms(v: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    out = {}
    for a in v["arms"]:
        f = a["files_per_s"]
        out[a["key"]] = {
            "label": a["label"], "sorted": a["params"]["sorted"],
            "files_per_s_median": f["median"], "min": f["min"], "max": f["max"], "iqr": [f["q1"], f["q3"]],
            "cpu_us_per_file_median": a["cpu_us_per_file"]["median"], "seconds_median": a["seconds"]["median"],
            "vs_os_walk": a["vs_os_walk"], "vs_os_walk_paired": a["paired_vs_os_walk"]["median"],
            "vs_scandir": a["vs_scandir"], "vs_scandir_paired": a["paired_vs_scandir"]["median"],
            "stats_over": a["stats_over"],
        }
    return out


# ----------------------------------------------------------------------------- report

def write_readme(out_dir: Path, result: Dict[str, Any], json_name: str) -> None:
    s = result["summary"]
    body = f"""## Namespace scan, {s['files']:,} tiny files in {s['dirs']:,} directories ({result['date']}, `{json_name}`)

{machine_line(result)} Data on {result['fs']}, backend {s['backend']}.

Command: `{result['command']}`

Method: every arm lists (path, size) of every regular file under the top; the listings were
checked to be the same set before the runs, and every run checks count and total size. The native
scan sorts its Index inside the timed region; the Python arms do not sort (sorting their list
takes {s['python_sort_s']:.3f} s, untimed). Warm dentry/inode cache (one untimed pass first).
{result['runs']} runs per arm, round-robin, gc off; median, min–max; CPU = process CPU time,
all threads. Interference: {interference_text(result['warm']['arms'])}.
{"" if result.get("cold") else "Cold cache not run: " + result["cold_skipped"] + "."}

Memory per entry: {s['files']:,} entries, relative paths of {s['mean_rel_path_bytes']:.1f} bytes on average;
objects by tracemalloc, RSS growth in a fresh process after gc + malloc_trim.

{tables(result)}
"""
    write_section(out_dir, "scan", "bench_scan.py", body)


# ----------------------------------------------------------------------------- main

def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_options(ap, RUN)
    ap.add_argument("--quick", action="store_true", help="20,000 files, 3 runs, no quiet wait, no retries")
    ap.add_argument("--data", type=Path, default=REPO / "build" / "bench_scan",
                    help="directory holding the tree (local backend: the container's root)")
    ap.add_argument("--files", type=int, default=0, help="files in leaf directories (default 200,000; --quick 20,000)")
    ap.add_argument("--per-dir", type=int, default=1000)
    ap.add_argument("--cold", action="store_true", help="also run with dentries/inodes dropped before every try")
    ap.add_argument("--no-memory", action="store_true", help="skip the memory measurements")
    ap.add_argument("--memory-child", help=argparse.SUPPRESS)
    ap.add_argument("--target", help=argparse.SUPPRESS)
    return ap.parse_args()


def main() -> None:
    args = parse_args()
    if args.memory_child:
        print(json.dumps(memory_child(args.memory_child, Target(**json.loads(args.target)))))
        return
    pol = policy(args, RUN)
    runs = pol.runs
    lay = Layout(args.files or (20_000 if args.quick else 200_000), args.per_dir)
    if lay.files <= 0 or lay.per_dir <= 0:
        raise SystemExit("--files and --per-dir must be positive")
    tgt = target_from_env(args.data, f"tree-{lay.files}x{lay.per_dir}")
    args.out.mkdir(parents=True, exist_ok=True)
    Path(tgt.top).parent.mkdir(parents=True, exist_ok=True)
    generate(Path(tgt.top), lay)

    cont = tgt.connect()
    check = check_agreement(cont, tgt, lay)
    print(f"[scan] {check['files']:,} files, the listings agree", file=sys.stderr, flush=True)
    arms = build_arms(cont, tgt)
    result = base_result("scan", args, runs, pol)
    result.update({"backend": tgt.backend, "target": asdict(tgt), "fs": fs_of(Path(tgt.top).resolve()),
                   "layout": lay.stamp(), "check": check})
    result["warm"] = run_variant("warm", arms, pol, lay)

    why_not = None if args.cold else "not requested (--cold drops the dentry/inode cache of the whole machine)"
    if args.cold:
        why_not = cold_possible()
    result["cold"], result["cold_skipped"] = None, why_not
    if why_not is None:
        cold_arms = [Arm(a.key, a.label, a.family, a.run_once, dict(a.params), before_run=drop_dentries_inodes)
                     for a in arms]
        result["cold"] = run_variant("cold", cold_arms, pol, lay)
    result["memory"] = None if args.no_memory else measure_memory(cont, tgt)
    result["summary"] = summary(result, lay, check)

    publish(args, result, "scan", tables(result), write_readme)


def summary(result: Dict[str, Any], lay: Layout, check: Dict[str, Any]) -> Dict[str, Any]:
    m = result["memory"] or {}
    s: Dict[str, Any] = {
        "files": lay.total_files(), "dirs": lay.dirs(),
        "total_bytes": lay.total_bytes(), "backend": result["backend"], "cache": "warm",
        "arms": flat_arms(result["warm"]),
        "cold_arms": flat_arms(result["cold"]) if result["cold"] else None, "cold_skipped": result["cold_skipped"],
        "python_sort_s": check["python_sort_s"], "mean_rel_path_bytes": check["mean_rel_path_bytes"],
        "native_sorts_python_does_not": True,
    }
    for k in ("index_bytes_per_entry", "index_serialized_bytes_per_entry", "pylist_bytes_per_entry",
              "pylist_uncached_ints_bytes_per_entry", "strlist_bytes_per_entry", "index_rss_bytes_per_entry",
              "pylist_rss_bytes_per_entry", "strlist_rss_bytes_per_entry"):
        s[k] = m.get(k)
    return s


# ----------------------------------------------------------------------------- tables

def tables(res: Dict[str, Any], hl: Optional[Headline] = None) -> str:
    """Scan rates vs os.walk and os.scandir per cache state, and memory per entry; headline rows to hl."""
    hl = hl or Headline()
    s = res.get("summary", {})
    out = []
    for cache in ("warm", "cold"):
        v = res.get(cache)
        if not v:
            continue
        arms = v["arms"]
        walk, sd = find(arms, "os-walk"), find(arms, "scandir")
        out += [f"**{s.get('files', 0):,} files, {cache}** (the native scan sorts its Index inside the timed "
                "region; the Python arms do not sort)\n",
                "| arm | files/s median | min–max | CPU per file | vs os.walk | vs os.scandir | runs |",
                "|---|---:|---:|---:|---:|---:|---|"]
        for a in arms:
            out.append(f"| {a['label']} | {num(med(a, 'files_per_s'))} | {rng(a, 'files_per_s', num)} | "
                       f"{num(med(a, 'cpu_us_per_file'))} µs | {ratio_text(a, walk, 'files_per_s') if walk else '–'} | "
                       f"{ratio_text(a, sd, 'files_per_s') if sd else '–'} | {a['stats_over']} |")
        out.append("")
        ours = find(arms, "native-default")
        if ours and walk:
            hl.add("scan", f"{s.get('files', 0):,} files, {cache}", ours, walk, "files_per_s", "files/s", "os.walk")
        if ours and sd:
            hl.add("scan", f"{s.get('files', 0):,} files, {cache}", ours, sd, "files_per_s", "files/s", "os.scandir")
    if "index_bytes_per_entry" in s:
        out.append(f"Memory per entry: native Index {s['index_bytes_per_entry']:.1f} B (RSS growth "
                   f"{num(s.get('index_rss_bytes_per_entry'))} B); Python list of (path, size) "
                   f"{num(s.get('pylist_bytes_per_entry'))} B (RSS {num(s.get('pylist_rss_bytes_per_entry'))} B); "
                   f"list of path strings {num(s.get('strlist_bytes_per_entry'))} B.")
        hl.rows.append(f"| scan | index memory per entry | {s['index_bytes_per_entry']:.1f} B | Python list of "
                       f"(path, size): {num(s.get('pylist_bytes_per_entry'))} B | "
                       f"{s.get('pylist_bytes_per_entry', 0) / s['index_bytes_per_entry']:.1f}x less | |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()
