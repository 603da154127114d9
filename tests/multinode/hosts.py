"""Simulated hosts as a context manager: ``with SimulatedHosts(2) as h: h.mpirun(...)``.

The namespaces are made by simhosts.sh and deleted when the block exits, also on a failed
assertion or Ctrl-C (KeyboardInterrupt goes through __exit__ like any exception)."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from typing import Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
SIMHOSTS = os.path.join(HERE, "simhosts.sh")
MPIRUN = os.path.join(HERE, "mpirun.sh")
AGENT = os.path.join(HERE, "rsh_agent.sh")


def unavailable() -> Optional[str]:
    """Why simulated hosts cannot be made here, or None when they can."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "simulated hosts need root (network namespaces)"
    for tool in ("ip", "unshare"):
        if shutil.which(tool) is None:
            return f"simulated hosts need '{tool}' (iproute2, util-linux)"
    probe = f"pdtprobe-{uuid.uuid4().hex[:8]}"
    r = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if r.returncode != 0:
        return f"cannot make a network namespace: {r.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


class SimulatedHosts:
    """``n`` hosts h0..h{n-1}, each a network namespace with its own address; ``delay_ms``
    adds link latency where the kernel has netem."""

    def __init__(self, n: int = 2, delay_ms: int = 0):
        self.n, self.delay_ms = n, delay_ms
        self.dir = ""

    def __enter__(self) -> "SimulatedHosts":
        self.dir = tempfile.mkdtemp(prefix="simhosts.")
        r = subprocess.run([SIMHOSTS, "up", self.dir, str(self.n), str(self.delay_ms)],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise RuntimeError(f"simhosts.sh up failed: {r.stderr.strip()}")
        return self

    def __exit__(self, *exc) -> None:
        subprocess.run([SIMHOSTS, "down", self.dir], capture_output=True, timeout=60)
        shutil.rmtree(self.dir, ignore_errors=True)

    def _table(self) -> List[List[str]]:
        with open(os.path.join(self.dir, "hosts")) as f:
            return [line.split() for line in f if line.strip()]

    @property
    def names(self) -> List[str]:
        return [name for _, name, _ in self._table()]

    @property
    def addresses(self) -> List[str]:
        return [addr for addr, _, _ in self._table()]

    @property
    def namespaces(self) -> List[str]:
        return [ns for _, _, ns in self._table()]

    def env(self, mpirun: str = "") -> Dict[str, str]:
        """What rsh_agent.sh needs (the hosts' directory) and mpirun.sh (also the real mpirun)."""
        return {"SIMHOSTS_DIR": self.dir, **({"MPIRUN": mpirun} if mpirun else {})}

    def switch_bytes(self) -> Dict[str, int]:
        """Bytes the switch sent to each host (its port's TX counter), by host name."""
        sw = open(os.path.join(self.dir, "namespaces")).readline().strip()
        out = {}
        for i, name in enumerate(self.names):
            with_stats = subprocess.run(["ip", "netns", "exec", sw, "cat", f"/sys/class/net/port{i}/statistics/tx_bytes"],
                                        capture_output=True, text=True, check=True)
            out[name] = int(with_stats.stdout)
        return out
