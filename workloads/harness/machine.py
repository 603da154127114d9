"""What a result was measured on: the machine, the versions, the commit, the file system."""
from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict

from harness.cpu import nproc

REPO = Path(__file__).resolve().parent.parent.parent


def _first(path: str, prefix: str) -> str:
    try:
        for line in open(path):
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def _read(p: str) -> str:
    try:
        return Path(p).read_text().strip()
    except OSError:
        return ""


def _git(*a: str) -> str:
    try:
        return subprocess.run(["git", "-C", str(REPO), *a], capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""


def version(pkg: str) -> str:
    """The installed distribution's version, or "" when it is not installed."""
    try:
        return importlib.metadata.version(pkg)
    except importlib.metadata.PackageNotFoundError:
        return ""


def machine() -> Dict[str, Any]:
    import numpy as np
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
        "cpu_model": _first("/proc/cpuinfo", "model name"),
        "mem_total": _first("/proc/meminfo", "MemTotal"),
        "kernel": platform.release(),
        "kernel_version": platform.version(),
        "thp_enabled": _read("/sys/kernel/mm/transparent_hugepage/enabled"),
        "thp_defrag": _read("/sys/kernel/mm/transparent_hugepage/defrag"),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "torch": version("torch"),
        "cc": cc[0] if cc else "",
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty_paths": _git("status", "--porcelain", "--", "csrc", "pydaos_torch", "CMakeLists.txt").splitlines(),
        "pydaos_torch_file": pydaos_torch.__file__,
        "pydaos_core_so": core_file,
        "pydaos_core_sha256": core_sha,
    }


def machine_line(result: Dict[str, Any]) -> str:
    m = result["machine"]
    return (f"Machine: {m['nproc']} CPUs ({m['cpu_model']}), {m['mem_total']} RAM, kernel {m['kernel']}, "
            f"Python {m['python']}, numpy {m['numpy']}, torch {m['torch']}, THP `{m['thp_enabled']}`; "
            f"git {m['git_commit'][:12]}"
            + (" (csrc/pydaos_torch had uncommitted edits)" if m["git_dirty_paths"] else "") + ".")


def fs_of(path: Path) -> str:
    """The file system under path, as "<type> on <mount point> (<device>)"."""
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


def host() -> str:
    """The host name as it goes into result file names."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", socket.gethostname().split(".")[0])[:32] or "host"
