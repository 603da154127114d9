"""The C reader (workloads/c_reader.c): the physical limit every read benchmark compares with."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, Dict, List

SOURCE = Path(__file__).resolve().parent.parent / "c_reader.c"


def compile_c(workdir: Path) -> Path:
    exe = workdir / "c_reader"
    subprocess.run(["cc", "-O2", "-pthread", "-o", str(exe), str(SOURCE)], check=True)
    return exe


def c_reader_argv(exe: Path, root: Path, listfile: Path, threads: int, passes: int, with_checksum: bool,
                  cold: bool = False, openat2: bool = False, slots: int = 0, dircache: bool = False) -> List[str]:
    """One process reading the list `passes` times (one JSON line per pass)."""
    cmd = [str(exe), "-t", str(threads), "-r", str(passes)] + ["-c"] * with_checksum + ["-C"] * cold
    cmd += ["-2"] * openat2 + ["-d"] * dircache + (["-s", str(slots)] if slots else [])
    return cmd + [str(root), str(listfile)]


def run_c_reader(argv: List[str]) -> List[Dict[str, Any]]:
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def c_key(threads: int, with_checksum: bool) -> str:
    return f"c-t{threads}-{'chk' if with_checksum else 'ro'}"


def c_label(threads: int, with_checksum: bool, extra: str = "") -> str:
    mode = "read+checksum" if with_checksum else "read only"
    return f"C reader ({threads} thread{'s' * (threads > 1)}, {mode}{extra})"
