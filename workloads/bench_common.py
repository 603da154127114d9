"""Shared harness of the PyTorch-level benchmarks (bench_dataset.py, bench_checkpoint.py,
bench_memory.py): what bench_read.py does for the core benchmark, extended to arms that run in
several processes (DataLoader workers).

Reused from bench_read.py (imported, not copied): the machine description, the quiet wait,
summaries, the data-set generator and reference pass, the C reader. Added here:

* CPU accounting over a process TREE: this process plus every live descendant (DataLoader
  workers, the C reader), all threads, read from /proc/<pid>/stat; so "CPU per unit" includes
  the workers, and "other processes" (interference) excludes them.
* Interference split into user processes and kernel threads: the page-cache writeback that a
  checkpoint run causes runs in kernel threads (kworker/flush), which are not another job.
* A generic round-robin runner with bench_read's retry policy (bench_read.Policy).
* Writing a marked section of results/README.md, leaving every other section intact.
"""
from __future__ import annotations

import datetime
import gc
import json
import os
import re
import socket
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional

import bench_read as br
from bench_read import GiB, MASK, Policy, summarize, wait_quiet  # noqa: F401  (re-exported)

REPO = br.REPO
HZ = br.HZ
_PF_KTHREAD = 0x00200000


# ----------------------------------------------------------------------------- CPU accounting

def _stat_fields(pid: int) -> Optional[List[str]]:
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    return s.rsplit(")", 1)[1].split()  # fields from 3 (state) on; the name may hold spaces


def _proc_cpu(pid: int) -> float:
    """utime + stime + cutime + cstime of a process (all its threads, and its reaped children)."""
    v = _stat_fields(pid)
    if v is None:
        return 0.0
    return (int(v[11]) + int(v[12]) + int(v[13]) + int(v[14])) / HZ


def descendants(pid: Optional[int] = None) -> List[int]:
    """Every live descendant process of pid (default: this one)."""
    pid = os.getpid() if pid is None else pid
    out: List[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for t in tasks:
            try:
                with open(f"/proc/{p}/task/{t}/children") as f:
                    kids = [int(x) for x in f.read().split()]
            except OSError:
                continue
            out += kids
            todo += kids
    return out


def _kthread_cpu() -> float:
    tot = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        v = _stat_fields(int(name))
        if v is None or not int(v[6]) & _PF_KTHREAD:
            continue
        tot += int(v[11]) + int(v[12])
    return tot / HZ


def snapshot(kthreads: bool = True) -> Dict[str, float]:
    """System-wide busy/steal CPU seconds, this process tree's CPU seconds (self + live
    descendants, all threads; reaped children through cutime/cstime), the CPU seconds of
    kernel threads, the wall clock."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    busy = v[0] + v[1] + v[2] + v[5] + v[6]
    t = os.times()
    self_cpu = t.user + t.system
    kids = descendants()
    tree = self_cpu + t.children_user + t.children_system + sum(_proc_cpu(p) for p in kids)
    return {"busy": busy / HZ, "steal": (v[7] if len(v) > 7 else 0) / HZ, "own": tree, "self": self_cpu,
            "kthreads": _kthread_cpu() if kthreads else 0.0, "wall": time.monotonic(),
            "perf": time.perf_counter()}


def interference(a: Dict[str, float], b: Dict[str, float]) -> Dict[str, float]:
    """CPUs used by others during [a, b]: all of them (/proc/stat busy minus this tree), and
    without kernel threads (page-cache writeback, kswapd...: mostly work this run caused)."""
    wall = max(b["wall"] - a["wall"], 1e-9)
    foreign = max(0.0, (b["busy"] - a["busy"]) - (b["own"] - a["own"]))
    kt = max(0.0, b["kthreads"] - a["kthreads"])
    return {"wall_s": round(wall, 4), "foreign_cpus": round(foreign / wall, 4),
            "foreign_user_cpus": round(max(0.0, foreign - kt) / wall, 4), "kthread_cpus": round(kt / wall, 4),
            "steal_cpus": round((b["steal"] - a["steal"]) / wall, 4),
            "tree_cpu_s": round(b["own"] - a["own"], 4), "self_cpu_s": round(b["self"] - a["self"], 4)}


# ----------------------------------------------------------------------------- arms and runs

@dataclass
class Arm:
    key: str
    label: str
    family: str
    run_once: Callable[[], Dict[str, Any]]
    params: Dict[str, Any] = field(default_factory=dict)
    before_run: Optional[Callable[[], None]] = None   # untimed, before every try (e.g. os.sync)
    runs: List[Dict[str, Any]] = field(default_factory=list)
    discarded: List[Dict[str, Any]] = field(default_factory=list)


def run_round_robin(arms: List[Arm], pol: Policy, tag: str, validate: Callable[[Arm, Dict[str, Any]], None],
                    show: Callable[[Dict[str, Any]], str], gc_off: bool = False,
                    load_key: str = "foreign_user_cpus") -> List[Dict[str, Any]]:
    """bench_read.run_arms for any arm: pol.runs runs per arm, round-robin; before each try a
    quiet wait, during it the interference; a try during which other processes used
    pol.max_load CPUs or more (load_key) is retried, up to pol.attempts tries and until
    pol.deadline, then kept flagged. arm.run_once() returns a dict with at least "seconds" (the
    timed region); its CPU (this process tree) is measured here around the whole call, so the
    arm must do little untimed work inside run_once (it may report its own "cpu_s")."""
    rounds = []
    for r in range(pol.runs):
        waited = 0.0
        for arm in arms:
            for attempt in range(pol.attempts):
                if arm.before_run is not None:
                    arm.before_run()
                q = wait_quiet(pol.quiet_wait) if pol.quiet_wait > 0 else {}
                waited += q.get("waited_s", 0.0)
                gc.collect()
                if gc_off:
                    gc.disable()
                a = snapshot()
                try:
                    res = arm.run_once()
                finally:
                    b = snapshot()
                    if gc_off:
                        gc.enable()
                res["interference"] = interference(a, b)
                res.setdefault("cpu_s", res["interference"]["tree_cpu_s"])
                validate(arm, res)
                res["round"], res["attempt"] = r, attempt
                res["clean"] = res["interference"][load_key] < pol.max_load
                last = attempt + 1 >= pol.attempts or time.monotonic() > pol.deadline
                if res["clean"] or last:
                    arm.runs.append(res)
                    break
                arm.discarded.append(res)
        kept = [a.runs[-1] for a in arms]
        rounds.append({"round": r, "waited_s": round(waited, 2), "disturbed_kept": sum(not x["clean"] for x in kept),
                       "retries": sum(x["attempt"] for x in kept)})
        line = "  ".join(f"{a.key}={show(a.runs[-1])}{'' if a.runs[-1]['clean'] else '*'}" for a in arms)
        print(f"[{tag}] run {r + 1}/{pol.runs} ({rounds[-1]['retries']} retries, {rounds[-1]['disturbed_kept']} "
              f"disturbed kept (*), waited {waited:.0f} s): {line}", file=sys.stderr, flush=True)
    return rounds


def arm_summary(arm: Arm, metrics: Iterable[str]) -> Dict[str, Any]:
    use = arm.runs
    disturbed = sum(not x["clean"] for x in use)
    d: Dict[str, Any] = {"key": arm.key, "label": arm.label, "family": arm.family, "params": arm.params,
                         "stats_over": f"{len(use)} runs" + (f", {disturbed} DISTURBED" if disturbed else ", all clean"),
                         "disturbed_runs": disturbed, "raw": use, "discarded_disturbed_tries": arm.discarded}
    for m in metrics:
        xs = [r[m] for r in use if r.get(m) is not None]
        if xs:
            d[m] = summarize(xs)
    for m in ("foreign_cpus", "foreign_user_cpus", "kthread_cpus"):
        d[m] = summarize([r["interference"][m] for r in use])
    return d


def paired(arm: Dict[str, Any], ref: Dict[str, Any], key: str, invert: bool = False) -> Optional[Dict[str, float]]:
    """Median over rounds of arm[key] / ref[key] in the same round (ref / arm with invert)."""
    rr = {x["round"]: x[key] for x in ref["raw"]}
    xs = [(rr[x["round"]] / x[key]) if invert else (x[key] / rr[x["round"]]) for x in arm["raw"] if x["round"] in rr]
    return summarize(xs) if xs else None


def interference_text(arms: List[Dict[str, Any]]) -> str:
    fl = [r["interference"]["foreign_cpus"] for a in arms for r in a["raw"]]
    fu = [r["interference"]["foreign_user_cpus"] for a in arms for r in a["raw"]]
    kt = [r["interference"]["kthread_cpus"] for a in arms for r in a["raw"]]
    tries = sum(len(a["discarded_disturbed_tries"]) for a in arms)
    dist = sum(a["disturbed_runs"] for a in arms)
    return (f"other user processes used a median {statistics.median(fu):.2f} and at most {max(fu):.2f} CPUs during "
            f"the kept runs (kernel threads: median {statistics.median(kt):.2f}, max {max(kt):.2f}; all others "
            f"together: median {statistics.median(fl):.2f}, max {max(fl):.2f}); {tries} disturbed tries "
            f"discarded, {dist} disturbed runs kept")


# ----------------------------------------------------------------------------- results

def base_result(benchmark: str, args: Any, runs: int, pol: Policy) -> Dict[str, Any]:
    return {
        "benchmark": benchmark,
        "date": datetime.date.today().isoformat(),
        "started": datetime.datetime.now().isoformat(timespec="seconds"),
        "command": " ".join(["PYTHONPATH=" + os.environ.get("PYTHONPATH", "")] * bool(os.environ.get("PYTHONPATH"))
                            + [sys.executable] + sys.argv),
        "quick": getattr(args, "quick", False), "runs": runs,
        "machine": br.machine(),
        "policy": {"quiet_wait_s": pol.quiet_wait, "max_load_cpus": pol.max_load, "attempts": pol.attempts,
                   "load_measure": "foreign_user_cpus (other processes, kernel threads excluded)"},
        "env": {v: os.environ.get(v) for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                               "PYDAOS_TORCH_SLAB_BYTES")},
    }


def host() -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", socket.gethostname().split(".")[0])[:32] or "host"


def write_json(out_dir: Path, result: Dict[str, Any], name: str) -> Path:
    result["finished"] = datetime.datetime.now().isoformat(timespec="seconds")
    result["loadavg_at_end"] = os.getloadavg()
    fname = f"{result['date']}-{name}-{host()}{'-quick' if result.get('quick') else ''}.json"
    out_dir.mkdir(parents=True, exist_ok=True)
    p = out_dir / fname
    p.write_text(json.dumps(result, indent=1, default=str) + "\n")
    return p


def publish(args: Any, result: Dict[str, Any], name: str, summary: str,
            write_readme: Callable[[Path, Dict[str, Any], str], None]) -> Path:
    """Writes the JSON, prints the summary, and for full runs without --no-readme the script's
    README section; the last stdout line names the JSON (workloads/suite.py reads its folder)."""
    p = write_json(args.out, result, name)
    print(summary)
    print(f"wrote {p}")
    if not args.quick and not args.no_readme:
        write_readme(args.out, result, p.name)
        print(f"updated {args.out / 'README.md'}")
    print(f"json: {p}")
    return p


def machine_line(result: Dict[str, Any]) -> str:
    m = result["machine"]
    return (f"Machine: {m['nproc']} CPUs ({m['cpu_model']}), {m['mem_total']} RAM, kernel {m['kernel']}, "
            f"Python {m['python']}, numpy {m['numpy']}, torch {m['torch']}, THP `{m['thp_enabled']}`; "
            f"git {m['git_commit'][:12]}"
            + (" (csrc/pydaos_torch had uncommitted edits)" if m["git_dirty_paths"] else "") + ".")


def write_section(out_dir: Path, marker: str, script: str, body: str) -> Path:
    """Replaces (or appends) the section between <!-- marker:begin ... --> and <!-- marker:end -->
    of out_dir/README.md; every other section stays as it is."""
    readme = out_dir / "README.md"
    text = (f"<!-- {marker}:begin (written by workloads/{script}; edits between the markers are overwritten) -->\n"
            f"{body.rstrip()}\n<!-- {marker}:end -->\n")
    old = readme.read_text() if readme.exists() else "# Benchmark results\n\n"
    pat = re.compile(r"<!-- " + re.escape(marker) + r":begin.*?<!-- " + re.escape(marker) + r":end -->\n?", re.S)
    new = pat.sub(lambda _: text, old) if pat.search(old) else old.rstrip("\n") + "\n\n" + text
    readme.write_text(new)
    return readme


def fmt(x: float, digits: int = 2) -> str:
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.{digits}f}"
