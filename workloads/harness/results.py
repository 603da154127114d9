"""A benchmark's result: the JSON (machine, command, policy, every raw figure) and the marked
section of results/README.md that a full run rewrites."""
from __future__ import annotations

import datetime
import json
import os
import re
import sys
from pathlib import Path
from typing import Any, Callable, Dict

from harness.machine import host, machine
from harness.runner import Policy

ENV_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def quiet_blas() -> None:
    """Keeps numpy's OpenBLAS from starting (and spinning) worker threads that would compete
    with the arms for the CPUs; call before numpy is imported (the JSON records the values)."""
    for v in ENV_VARS:
        os.environ.setdefault(v, "1")


def command_line() -> str:
    pp = os.environ.get("PYTHONPATH", "")
    return " ".join(["PYTHONPATH=" + pp] * bool(pp) + [sys.executable] + sys.argv)


def base_result(benchmark: str, args: Any, runs: int, pol: Policy) -> Dict[str, Any]:
    return {
        "benchmark": benchmark,
        "date": datetime.date.today().isoformat(),
        "started": datetime.datetime.now().isoformat(timespec="seconds"),
        "command": command_line(),
        "quick": getattr(args, "quick", False), "runs": runs,
        "machine": machine(),
        "policy": {"quiet_wait_s": pol.quiet_wait, "max_load_cpus": pol.max_load, "attempts": pol.attempts,
                   "load_measure": "foreign_user_cpus (other processes, kernel threads excluded)"},
        "env": {v: os.environ.get(v) for v in ENV_VARS + ("PYDAOS_TORCH_SLAB_BYTES",)},
    }


def unused_path(out_dir: Path, base: str) -> Path:
    """out_dir/<base>.json, or <base>-2.json, -3, ... : a rerun never overwrites a result."""
    p, k = out_dir / f"{base}.json", 2
    while p.exists():
        p, k = out_dir / f"{base}-{k}.json", k + 1
    return p


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
