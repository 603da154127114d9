"""CPU accounting: this process tree's CPU, the CPU other processes take (interference), and
waiting for them to go quiet. On a shared machine these decide whether a run is kept."""
from __future__ import annotations

import os
import time
from typing import Dict, List, Optional

HZ = os.sysconf("SC_CLK_TCK")
_PF_KTHREAD = 0x00200000


def nproc() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        return os.cpu_count() or 1


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


def snapshot(tree: bool = True) -> Dict[str, float]:
    """System-wide busy/steal CPU seconds, this process's CPU seconds (with tree: plus its live
    descendants, all threads; reaped children count through cutime/cstime either way), the CPU
    seconds of kernel threads (with tree only: reading them walks /proc), the wall clock."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    busy = v[0] + v[1] + v[2] + v[5] + v[6]  # user nice system irq softirq
    t = os.times()
    self_cpu = t.user + t.system
    own = self_cpu + t.children_user + t.children_system
    if tree:
        own += sum(_proc_cpu(p) for p in descendants())
    return {"busy": busy / HZ, "steal": (v[7] if len(v) > 7 else 0) / HZ, "own": own, "self": self_cpu,
            "kthreads": _kthread_cpu() if tree else 0.0, "wall": time.monotonic()}


def interference(a: Dict[str, float], b: Dict[str, float]) -> Dict[str, float]:
    """CPUs used by others during [a, b]: all of them (/proc/stat busy minus this tree), and
    without kernel threads (page-cache writeback, kswapd...: mostly work this run caused)."""
    wall = max(b["wall"] - a["wall"], 1e-9)
    foreign = max(0.0, (b["busy"] - a["busy"]) - (b["own"] - a["own"]))
    kt = max(0.0, b["kthreads"] - a["kthreads"])
    return {"wall_s": round(wall, 4), "foreign_cpu_s": round(foreign, 4), "foreign_cpus": round(foreign / wall, 4),
            "foreign_user_cpus": round(max(0.0, foreign - kt) / wall, 4), "kthread_cpus": round(kt / wall, 4),
            "steal_cpus": round((b["steal"] - a["steal"]) / wall, 4),
            "tree_cpu_s": round(b["own"] - a["own"], 4), "self_cpu_s": round(b["self"] - a["self"], 4)}


def wait_quiet(max_wait: float, threshold: float = 0.15, window: float = 0.3) -> Dict[str, float]:
    """Waits (at most max_wait seconds) until other processes use < threshold CPUs over a
    window; this machine may be shared. Returns how long it waited and the last load seen."""
    t0 = time.monotonic()
    while True:
        a = snapshot(tree=False)
        time.sleep(window)
        load = interference(a, snapshot(tree=False))["foreign_cpus"]
        waited = time.monotonic() - t0
        if load < threshold or waited >= max_wait:
            return {"waited_s": round(waited, 2), "foreign_cpus": round(load, 3), "quiet": load < threshold}
