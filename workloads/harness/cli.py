"""The command-line options every benchmark shares: where results go, and the run policy."""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

from harness.machine import REPO
from harness.runner import Policy


@dataclass(frozen=True)
class RunDefaults:
    """A benchmark's full-run policy; --quick always means 3 runs, one try, no quiet wait."""
    runs: int
    attempts: int
    quiet_wait: float
    budget_min: float = 60.0


def add_run_options(ap: argparse.ArgumentParser, d: RunDefaults) -> None:
    ap.add_argument("--out", type=Path, default=REPO / "results", help="results directory")
    ap.add_argument("--no-readme", action="store_true", help="do not update results/README.md")
    ap.add_argument("--runs", type=int, default=0, help=f"runs per arm (default {d.runs}, --quick 3)")
    ap.add_argument("--quiet-wait", type=float, default=-1,
                    help="before each try wait up to this many seconds for other processes to go quiet "
                         f"(default {d.quiet_wait:g}, --quick 0)")
    ap.add_argument("--max-load", type=float, default=0.25,
                    help="a try is disturbed when other processes used this many CPUs or more during it")
    ap.add_argument("--attempts", type=int, default=0, help=f"tries per run at most (default {d.attempts}, --quick 1)")
    ap.add_argument("--budget-min", type=float, default=d.budget_min,
                    help="after this many minutes, disturbed runs are no longer retried")


def policy(args: argparse.Namespace, d: RunDefaults) -> Policy:
    """The policy the options ask for; the retry deadline counts from now."""
    q = args.quick
    return Policy(args.runs or (3 if q else d.runs), args.attempts or (1 if q else d.attempts),
                  args.quiet_wait if args.quiet_wait >= 0 else (0.0 if q else d.quiet_wait), args.max_load,
                  time.monotonic() + 60 * args.budget_min)
