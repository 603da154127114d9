"""Arms and the round-robin runner: run r of every arm, then run r+1, so that drift on a shared
machine hits all arms alike; a try during which other processes were busy is retried."""
from __future__ import annotations

import gc
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from harness.cpu import interference, snapshot, wait_quiet
from harness.stats import summarize

LOADS = ("foreign_cpus", "foreign_user_cpus", "kthread_cpus")


@dataclass
class Policy:
    runs: int            # kept runs per arm
    attempts: int        # tries per run at most: a disturbed run is retried, then kept flagged
    quiet_wait: float    # seconds to wait for quiet before each try
    max_load: float      # a run is clean when other processes used fewer CPUs than this during it
    deadline: float      # time.monotonic() after which no more retries are made


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
    """pol.runs runs per arm, round-robin; before each try a quiet wait, during it the
    interference; a try during which other processes used pol.max_load CPUs or more (load_key)
    is retried, up to pol.attempts tries and until pol.deadline, then kept flagged.
    arm.run_once() returns a dict with the timed figures; its CPU (this process tree) is
    measured here around the whole call, so the arm must do little untimed work inside run_once
    (it may report its own "cpu_s"). validate(arm, result) checks a try and adds its rates."""
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


def arm_summary(arm: Arm, metrics: Iterable[str], loads: Sequence[str] = LOADS) -> Dict[str, Any]:
    """An arm's JSON: its identity, every kept and discarded run, and the summary of each
    metric (and of each interference figure in loads) over the kept runs."""
    use = arm.runs
    disturbed = sum(not x["clean"] for x in use)
    d: Dict[str, Any] = {"key": arm.key, "label": arm.label, "family": arm.family, "params": arm.params,
                         "stats_over": f"{len(use)} runs" + (f", {disturbed} DISTURBED" if disturbed else ", all clean"),
                         "disturbed_runs": disturbed, "raw": use, "discarded_disturbed_tries": arm.discarded}
    for m in metrics:
        xs = [r[m] for r in use if r.get(m) is not None]
        if xs:
            d[m] = summarize(xs)
    for m in loads:
        d[m] = summarize([r["interference"][m] for r in use])
    return d


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


def timed_groups(groups: Sequence[Any], read: Callable[[Any], Any],
                 check: Callable[[Any, Any], Tuple[int, int]]) -> Dict[str, Any]:
    """The timed loop of a read arm: for each group, ``read(group)`` timed (wall and process
    CPU), then ``check(group, what_read)`` -> (checksum, bytes) timed apart. Returns the
    seconds of each part, the bytes and the checksum sum (masked by the caller)."""
    read_ns = chk_ns = cpu_ns = total = s = 0
    for g in groups:
        c0 = time.process_time_ns()
        t0 = time.perf_counter_ns()
        got = read(g)
        t1 = time.perf_counter_ns()
        cpu_ns += time.process_time_ns() - c0
        read_ns += t1 - t0
        csum, nbytes = check(g, got)
        del got
        s += csum
        total += nbytes
        chk_ns += time.perf_counter_ns() - t1
    return {"read_s": read_ns / 1e9, "cpu_s": cpu_ns / 1e9, "checksum_s": chk_ns / 1e9, "bytes": total,
            "checksum": s}
