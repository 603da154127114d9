#!/usr/bin/env python3
"""The reference workload suite: one command measures every workload against its baselines.

    .venv/bin/python workloads/suite.py --quick        # core + unet3d_daos vs stock, < 5 min
    .venv/bin/python workloads/suite.py                # everything; prints its plan and duration first
    .venv/bin/python workloads/suite.py --plan         # the plan only
    .venv/bin/python workloads/suite.py --only scan,checkpoint
    .venv/bin/python workloads/suite.py --daos POOL/CONT --dfuse /mnt/cont   # at a DAOS site

Each step is one benchmark script of this folder, run as its own process (so a failing step
does not stop the others) with its JSON written into the run's scratch folder. The suite then
writes ONE roll-up, results/<date>-<machine>[-quick][-N].json: the machine, versions, git
commit, the suite's command and plan, and per step its command line, exit status, duration,
log tail and the step's whole JSON (every raw figure, cache state and method). A rerun adds a
new file (-2, -3, ...) and never overwrites; --resume FILE adds the steps FILE lacks (or
that failed in it) to FILE, recording each part's command, machine and commit. Then workloads/report.py turns the newest full
roll-up into the tables of results/README.md and the plots in results/plots/ (quick runs print
their summary only, unless --publish).

At a DAOS site, --daos POOL/CONT --dfuse MOUNT (the same container mounted with dfuse) makes
every step put its data in the container (through the mount) and read it with our arms through
libdfs directly, while the baselines (plain Python, the C reader, torch.save, dd, DLIO's stock
reader) use the dfuse mount: the comparison a site cares about. Steps that cannot run there
(memory: it needs directory symlinks) are skipped and say so.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

import report  # tables and plots of a roll-up
from harness.machine import REPO, host, machine
from harness.results import unused_path
from harness.site import site_env, site_target

HERE = Path(__file__).resolve().parent


@dataclass
class Step:
    name: str
    title: str
    script: str
    quick: Optional[List[str]]       # arguments in --quick mode (None: not part of it)
    full: List[str]
    est_quick_s: float
    est_full_s: float
    on_daos: bool = True             # can run against a DAOS container
    what: str = ""


# Estimates are the durations of the 2026-11-26 run on this 2-vCPU VM (imports and data
# generation included; dlio-decide: up to 4 probes); the plan only tells the user what to expect.
STEPS: List[Step] = [
    Step("core-read", "Core reads: small and large files vs plain Python and the C reader", "bench_read.py",
         ["--quick", "--runs", "3"], ["--runs", "5", "--cold", "--cold-runs", "5", "--budget-min", "12"],
         15, 240, what="read_index vs open().read() and a C reader, warm and cold page cache"),
    Step("scan", "Namespace scan rate and index memory vs os.walk / os.scandir", "bench_scan.py",
         ["--quick"], ["--runs", "5"], 15, 60),
    Step("checkpoint", "Checkpoint save/load vs torch.save/torch.load and dd", "bench_checkpoint.py",
         ["--quick", "--runs", "3", "--scenarios", "replace"], ["--sizes", "0.0625,0.25,1", "--cold", "--budget-min", "15"],
         50, 800),
    Step("dcp", "torch.distributed.checkpoint: pydaos_torch.dcp vs DCP's FileSystemWriter/Reader", "bench_dcp.py",
         None, ["--worlds", "1,2", "--runs", "5"], 0, 600, on_daos=False),
    Step("fsspec", "fsspec daos://: parquet scan, cat_ranges and get vs the local path", "bench_fsspec.py",
         None, ["--runs", "5"], 0, 300, on_daos=False),
    Step("scale", "Cost per rank: connect + attach and the Index broadcast, 2-16 ranks, 10k-10M entries",
         "bench_scale.py", None, ["--runs", "3"], 0, 600, on_daos=False),
    Step("dataloader", "Dataset + DataLoader vs a plain Python dataset", "bench_dataset.py",
         None, ["--runs", "5", "--budget-min", "12"], 0, 300),
    Step("memory", "Resident memory of 4 forked workers over a 1M-entry Dataset", "bench_memory.py",
         None, ["--runs", "3"], 0, 170, on_daos=False),
    Step("digits", "Real training: CNN on scikit-learn digits from files vs in memory", "train_digits.py",
         None, ["--epochs", "11"], 0, 30),
    Step("dlio", "DLIO unet3d_daos vs DLIO's stock PyTorch reader: AU, samples/s, AU >= 90 % threshold",
         "bench_dlio.py", ["--quick"],
         ["--workloads", "unet3d", "--ranks", "1,2", "--repeats", "3", "--steps", "2", "--budget-min", "40"],
         180, 1350),
    Step("dlio-decide", "DLIO unet3d: more bisection probes, from the brackets so far, until the threshold "
         "ratio is known against the 1.5x target", "bench_dlio.py", None,
         ["--workloads", "unet3d", "--ranks", "1,2", "--repeats", "3", "--skip-part1", "--steps", "4",
          "--until-decided", "1.5", "--start", "{rollup}", "--tag", "decide", "--budget-min", "25"], 0, 560),
    Step("dlio-np4", "DLIO unet3d_daos at 4 ranks (oversubscribed on 2 CPUs)", "bench_dlio.py", None,
         ["--workloads", "unet3d", "--ranks", "4", "--files", "64", "--arms", "ours,stock", "--repeats", "3",
          "--steps", "0", "--tag", "np4"], 0, 320),
    Step("dlio-resnet50", "DLIO resnet50_daos vs DLIO's stock PyTorch reader", "bench_dlio.py", None,
         ["--workloads", "resnet50", "--ranks", "1,2", "--arms", "ours,stock-onopen,stock", "--repeats", "3",
          "--steps", "0", "--tag", "resnet50"], 0, 480),
    Step("dlio-cosmoflow", "DLIO cosmoflow_daos vs DLIO's stock PyTorch reader", "bench_dlio.py", None,
         ["--workloads", "cosmoflow", "--ranks", "1,2", "--arms", "ours,ours-numpy,stock", "--repeats", "3",
          "--steps", "0", "--tag", "cosmoflow"], 0, 330),
    Step("dlio-ckpt", "DLIO checkpointing: ours vs DLIO's stock PyTorch checkpointing", "bench_dlio.py",
         None, ["--ckpt", "--ranks", "1,2,4", "--repeats", "3", "--tag", "ckpt"], 0, 540),
]


def step_argv(step: Step, quick: bool, out: Path, rollup: Path) -> List[str]:
    """The step's command line; "{rollup}" stands for this run's roll-up (a later step may
    continue from an earlier one's figures, as dlio-bisect does)."""
    args = step.quick if quick else step.full
    assert args is not None
    args = [str(rollup) if a == "{rollup}" else a for a in args]
    return [sys.executable, str(HERE / step.script), *args, "--out", str(out), "--no-readme"]


def plan(steps: List[Step], quick: bool) -> str:
    total = sum(s.est_quick_s if quick else s.est_full_s for s in steps)
    lines = [f"Suite plan ({'quick' if quick else 'full'}): {len(steps)} steps, about {total / 60:.0f} min "
             "on a 2-vCPU VM (estimates; each DLIO run costs ~15 s of imports)"]
    for s in steps:
        est = s.est_quick_s if quick else s.est_full_s
        lines.append(f"  {s.name:<14} ~{est / 60:4.1f} min  {s.title}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- running

def run_step(step: Step, quick: bool, scratch: Path, env: Dict[str, str], bar: Any, rollup: Path) -> Dict[str, Any]:
    """Runs one step's script with its output folder in scratch; returns the roll-up entry."""
    out = scratch / step.name
    out.mkdir(parents=True, exist_ok=True)
    argv = step_argv(step, quick, out, rollup)
    log = scratch / f"{step.name}.log"
    t0 = time.monotonic()
    with open(log, "w") as lf:
        proc = subprocess.Popen(argv, stdout=lf, stderr=subprocess.STDOUT, env=env, cwd=REPO)
        while proc.poll() is None:
            time.sleep(0.5)
            bar.tick(step, time.monotonic() - t0, last_line(log))
    seconds = time.monotonic() - t0
    results = [json.loads(p.read_text()) for p in sorted(out.glob("*.json"))]
    entry: Dict[str, Any] = {"title": step.title, "script": step.script,
                             "command": " ".join(shlex.quote(a) for a in argv), "rc": proc.returncode,
                             "seconds": round(seconds, 1), "log_tail": tail(log, 40)}
    if proc.returncode == 0 and not results:
        entry["rc"], entry["error"] = -1, "the step wrote no JSON"
    if len(results) == 1:
        entry["result"] = results[0]
    elif results:
        entry["results"] = results
    return entry


def last_line(log: Path) -> str:
    try:
        with open(log, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 2048))
            lines = [x for x in f.read().decode(errors="replace").replace("\r", "\n").splitlines() if x.strip()]
        return lines[-1].strip() if lines else ""
    except OSError:
        return ""


def tail(log: Path, n: int) -> List[str]:
    try:
        return log.read_text(errors="replace").splitlines()[-n:]
    except OSError:
        return []


class Progress:
    """One bar over the plan's estimated seconds (tqdm on a terminal, a plain line otherwise):
    finished steps count their estimate, the running one its elapsed time (capped)."""

    def __init__(self, steps: List[Step], quick: bool):
        self.est = {s.name: (s.est_quick_s if quick else s.est_full_s) for s in steps}
        self.done_s = 0.0
        self.last_print = 0.0
        self.bar = None
        if sys.stderr.isatty():  # a log file gets a line every 30 s instead of a redrawn bar
            try:
                from tqdm import tqdm
                self.bar = tqdm(total=round(sum(self.est.values())), unit="s", dynamic_ncols=True,
                                bar_format="{l_bar}{bar}| {elapsed}<{remaining} {postfix}")
            except ImportError:
                pass

    def tick(self, step: Step, elapsed: float, line: str) -> None:
        pos = self.done_s + min(elapsed, self.est[step.name] * 0.98)
        if self.bar is not None:
            self.bar.n = round(pos)
            self.bar.set_description_str(step.name, refresh=False)
            self.bar.set_postfix_str(line[-70:], refresh=False)
            self.bar.refresh()
        elif time.monotonic() - self.last_print > 30:
            self.last_print = time.monotonic()
            print(f"[{step.name} {elapsed:.0f} s] {line[-100:]}", file=sys.stderr, flush=True)

    def finish_step(self, step: Step) -> None:
        self.done_s += self.est[step.name]

    def close(self) -> None:
        if self.bar is not None:
            self.bar.n = round(self.done_s)
            self.bar.close()


def rollup_path(out: Path, date: str, host: str, quick: bool) -> Path:
    return unused_path(out, f"{date}-{host}{'-quick' if quick else ''}")


def choose(args: argparse.Namespace) -> List[Step]:
    names = {s.name for s in STEPS}
    for opt in (args.only, args.skip):
        unknown = [x for x in (opt or "").split(",") if x and x not in names]
        if unknown:
            raise SystemExit(f"unknown step(s) {', '.join(unknown)}; the steps are {', '.join(sorted(names))}")
    only = set(filter(None, (args.only or "").split(",")))
    skip = set(filter(None, (args.skip or "").split(",")))
    steps = [s for s in STEPS if (not only or s.name in only) and s.name not in skip]
    if args.quick:
        dropped = [s.name for s in steps if s.quick is None]
        if only and dropped:
            print(f"note: {', '.join(dropped)} not part of --quick; skipped", file=sys.stderr)
        steps = [s for s in steps if s.quick is not None]
    return steps


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="core micro-benchmarks + unet3d_daos vs stock (< 5 min)")
    ap.add_argument("--plan", action="store_true", help="print the plan and its expected duration, run nothing")
    ap.add_argument("--only", help="comma-separated step names")
    ap.add_argument("--skip", help="comma-separated step names")
    ap.add_argument("--out", type=Path, default=REPO / "results", help="where the roll-up JSON goes")
    ap.add_argument("--scratch", type=Path, default=REPO / "build" / "suite", help="per-step JSON and logs")
    ap.add_argument("--publish", action="store_true", help="quick runs also rewrite results/README.md")
    ap.add_argument("--no-report", action="store_true", help="do not run workloads/report.py at the end")
    ap.add_argument("--resume", type=Path, help="a roll-up of an earlier run: run only the steps it lacks or "
                    "that failed there, and add them to it")
    ap.add_argument("--daos", help="POOL/CONT: run against this DAOS container (with --dfuse)")
    ap.add_argument("--dfuse", help="the dfuse mount point of that container (the baselines read through it)")
    args = ap.parse_args(argv)

    steps = choose(args)
    earlier = report.load_rollup(args.resume) if args.resume else None
    if earlier is not None:
        if earlier.get("mode") != ("quick" if args.quick else "full"):
            raise SystemExit(f"{args.resume} is a {earlier.get('mode')} run: resume it with the same mode")
        steps = [s for s in steps if earlier["steps"].get(s.name, {}).get("rc", 1) != 0]
    print(plan(steps, args.quick), flush=True)
    if args.plan:
        return 0
    extra = site_env(args.daos, args.dfuse)
    if extra:
        skipped = [s.name for s in steps if not s.on_daos]
        steps = [s for s in steps if s.on_daos]
        if skipped:
            print(f"note: {', '.join(skipped)} cannot run against DAOS; skipped", file=sys.stderr)

    started = datetime.datetime.now()
    scratch = args.scratch / started.strftime("%Y%m%d-%H%M%S")
    os.environ.update(extra)  # every step, and site_target() below, see the site's container
    env = dict(os.environ)
    if not env.get("PYDAOS_TORCH_DEV"):  # steps run the installed package, not a source tree
        env.pop("PYTHONPATH", None)
    rollup: Dict[str, Any] = {
        "suite": "pydaos-torch reference workload suite", "mode": "quick" if args.quick else "full",
        "date": started.date().isoformat(), "started": started.isoformat(timespec="seconds"),
        "command": " ".join(shlex.quote(a) for a in [sys.executable, str(HERE / "suite.py"),
                                                     *(sys.argv[1:] if argv is None else argv)]),
        "machine": machine(), "site": site_target(),
        "plan": [{"name": s.name, "title": s.title, "estimate_s": s.est_quick_s if args.quick else s.est_full_s}
                 for s in steps],
        "steps": {},
    }
    out = rollup_path(args.out, rollup["date"], host(), args.quick)
    if earlier is not None:  # the earlier run's roll-up grows; this part's command and machine are kept
        earlier.setdefault("parts", []).append({k: rollup[k] for k in ("started", "command", "machine", "plan")})
        rollup, out = earlier, args.resume
    args.out.mkdir(parents=True, exist_ok=True)
    bar = Progress(steps, args.quick)
    for s in steps:
        rollup["steps"][s.name] = run_step(s, args.quick, scratch, env, bar, out)
        bar.finish_step(s)
        rollup["finished"] = datetime.datetime.now().isoformat(timespec="seconds")
        out.write_text(json.dumps(rollup, indent=1, default=str) + "\n")  # partial results survive
    bar.close()

    print()
    print(report.terminal_summary(rollup))
    print(f"\nroll-up: {out}\nlogs:    {scratch}")
    if not args.no_report and (not args.quick or args.publish):
        readme, plots = report.publish(out, args.out)
        print(f"report:  {readme} ({len(plots)} plots)")
    failed = [n for n, e in rollup["steps"].items() if e["rc"] != 0]
    if failed:
        print(f"FAILED steps: {', '.join(failed)} (see their logs)", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
