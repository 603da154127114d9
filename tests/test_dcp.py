"""torch.distributed.checkpoint on containers (pydaos_torch.dcp), on the local backend and the
dfs double: gloo ranks spawned by tests/dcp_ranks.py save a sharded state dict (DTensors by
rows and by columns, replicated, bf16, objects); loads on 1, 2 and 4 ranks (resharding) give
the saved values bit for bit; async_save in thread and process mode; one pool connection per
job; a save killed at random points leaves the previous checkpoint whole; bad ids, truncated
metadata and overwrite=False are clear errors."""
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

pytest.importorskip("torch.distributed.checkpoint")
import torch.distributed.checkpoint as dcp  # noqa: E402

import pydaos_torch  # noqa: E402
from pydaos_torch.dcp import DaosStorageReader, DaosStorageWriter  # noqa: E402
from pydaos_torch.dcp.location import forget_job_containers  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
import dcp_ranks  # noqa: E402
from torch.distributed.checkpoint.api import CheckpointException  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_job():
    yield
    forget_job_containers()


def ranks(backend, world: int, action: str, uri: str, *args, timeout: int = 240) -> subprocess.CompletedProcess:
    env = dict(os.environ, **backend.env())
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(os.path.dirname(pydaos_torch.__file__)), HERE,
                                         env.get("PYTHONPATH", "")])
    r = subprocess.run([sys.executable, os.path.join(HERE, "dcp_ranks.py"), str(world), action, uri,
                        *map(str, args)], env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stderr[-3000:]
    if backend.name == "dfs":
        r.counters = backend.counters()
        backend.reset_counters()  # the job connected by itself (test_save_on_2... counts it)
    return r


def uri(backend, path: str) -> str:
    return f"daos://{backend.pool}/{backend.cont}/{path}"


def test_save_on_2_load_on_1_2_and_4(backend, container):
    u = uri(backend, "ck/step1")
    if backend.name == "dfs":
        backend.reset_counters()
        env = dict(os.environ, **backend.env(), PYTHONPATH=os.pathsep.join(
            [os.path.dirname(os.path.dirname(pydaos_torch.__file__)), HERE]))
        subprocess.run([sys.executable, os.path.join(HERE, "dcp_ranks.py"), "2", "save", u, "5"], env=env,
                       check=True, capture_output=True, timeout=240)
        assert backend.counters()["pool_connect"] == 1, backend.counters()  # rank 0's; rank 1 attached
        assert backend.counters()["global2local"] >= 1, backend.counters()
    ranks(backend, 2, "save", u, 5)
    names = container.listdir("/ck/step1")
    assert ".metadata" in names and sum(n.endswith(".distcp") for n in names) == 2, names
    ranks(backend, 2, "load", u, 5)
    ranks(backend, 4, "load", u, 5)  # resharded: rows and columns cut in four
    # one process, no process group: plain tensors
    sd = {k: torch.zeros_like(v) for k, v in dcp_ranks.full(0).items()}
    sd.update(step=None, note={"text": ""})
    dcp.load(sd, storage_reader=DaosStorageReader("/ck/step1", container=container))
    dcp_ranks.check(sd, 5)


def test_fsdp2_save_on_2_load_on_1_and_4(backend, container, tmp_path):
    """FSDP2 (fully_shard on CPU, gloo) model and Adam state: saved on 2 ranks, loaded into
    the same model sharded on 1 and on 4 ranks: equal to the saved full tensors bit for bit."""
    u, ref = uri(backend, "ck/fsdp"), str(tmp_path / "full.pt")
    ranks(backend, 2, "fsdp-save", u, ref)
    ranks(backend, 1, "fsdp-load", u, ref)
    ranks(backend, 4, "fsdp-load", u, ref)
    assert sum(n.endswith(".distcp") for n in container.listdir("/ck/fsdp")) == 2


def test_resave_replaces_whole_and_drops_old_files(backend, container):
    u = uri(backend, "ck/s")
    ranks(backend, 2, "save", u, 1)
    first = {n for n in container.listdir("/ck/s") if n.endswith(".distcp")}
    ranks(backend, 2, "save", u, 2)
    second = {n for n in container.listdir("/ck/s") if n.endswith(".distcp")}
    assert len(second) == 2 and not first & second  # new files, the old ones removed after the commit
    ranks(backend, 1, "load", u, 2)
    assert {n for n in container.listdir("/ck/s") if n.endswith(".distcp")} == second


@pytest.mark.parametrize("mode", ["async-thread", "async-process", "async-process-late"])
def test_async_save(backend, container, mode):
    u = uri(backend, f"ck/{mode}")
    if backend.name == "dfs":
        backend.reset_counters()
    r = ranks(backend, 2, mode, u, 3)  # saves seeds 3 and 4
    if backend.name == "dfs":
        # one connection for the job: rank 0's, made while staging; the other rank and the
        # save processes attach (-late: the save processes' rank 0 connects for them)
        assert r.counters["pool_connect"] == 1, r.counters
    ranks(backend, 1, "load", u, 4)
    assert sum(n.endswith(".distcp") for n in container.listdir(f"/ck/{mode}")) == 2


def test_errors_name_the_checkpoint(backend, container):
    sd = {"t": torch.arange(6.0)}
    u, c = "/ck/e", container
    with pytest.raises(CheckpointException, match="no committed DCP checkpoint.*ck/e"):  # DCP wraps it
        dcp.load(dict(sd), storage_reader=DaosStorageReader(u, container=c))
    dcp.save(sd, storage_writer=DaosStorageWriter(u, container=c))
    with pytest.raises(CheckpointException, match="overwrite=False"):
        dcp.save(sd, storage_writer=DaosStorageWriter(u, container=c, overwrite=False))
    got = {"t": torch.zeros(6)}
    dcp.load(got, storage_reader=DaosStorageReader(u, container=c))
    assert torch.equal(got["t"], sd["t"])
    # a truncated .metadata (written by hand at its name: what another tool or a bad copy leaves)
    blob = container.read("/ck/e/.metadata")
    for n in container.listdir("/ck/e"):
        if n.startswith("..metadata"):
            container.remove(f"/ck/e/{n}")
    container.write("/ck/e/.metadata", blob[: len(blob) // 2])
    with pytest.raises(CheckpointException, match="truncated or corrupt"):
        dcp.load({"t": torch.zeros(6)}, storage_reader=DaosStorageReader(u, container=c))
    with pytest.raises(CheckpointException, match="no-such-cont"):
        kw = dict(backend=backend.name, root=getattr(backend, "root", None))
        dcp.save(sd, storage_writer=DaosStorageWriter(f"daos://{backend.pool}/no-such-cont/x", **kw))


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="depth"):
        DaosStorageWriter("daos://p/c/x", depth=-1)
    with pytest.raises(ValueError, match="depth"):
        DaosStorageReader("daos://p/c/x", depth=-2)
    with pytest.raises(ValueError, match="invalid pool"):
        DaosStorageWriter("daos://bad pool/c/x")
    with pytest.raises(ValueError, match="no checkpoint id"):
        DaosStorageWriter().prepare_local_plan(None)


def test_validate_checkpoint_id():
    assert DaosStorageWriter.validate_checkpoint_id("daos://p/c/x")
    assert not DaosStorageReader.validate_checkpoint_id("/tmp/x")


@pytest.mark.parametrize("trials", [3, pytest.param(20, marks=pytest.mark.slow)])
def test_killed_save_leaves_the_previous_checkpoint_whole(backend, container, trials):
    """kill -9 of both ranks at random points of repeated saves: the checkpoint loads whole
    afterwards, as the last save that finished or one after it."""
    u = uri(backend, "ck/k")
    ranks(backend, 2, "save", u, 100)
    env = dict(os.environ, **backend.env())
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(os.path.dirname(pydaos_torch.__file__)), HERE,
                                         env.get("PYTHONPATH", "")])
    rng = __import__("random").Random(trials)
    for trial in range(trials):
        p = subprocess.Popen([sys.executable, os.path.join(HERE, "dcp_ranks.py"), "2", "save-loop", u, str(101)],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                             start_new_session=True)
        time.sleep(2.0 + rng.random() * 2.0)
        os.killpg(p.pid, signal.SIGKILL)
        out, _ = p.communicate()
        if backend.name == "dfs":
            backend.reset_counters()  # that job's own connection
        got = {k: torch.zeros_like(v) for k, v in dcp_ranks.full(0).items()}
        got.update(step=None, note={"text": ""})
        dcp.load(got, storage_reader=DaosStorageReader("/ck/k", container=container))
        seed = got["step"]
        saved = [int(line.split()[1]) for line in out.splitlines() if line.startswith("saved")]
        assert seed == 100 or seed in saved or seed == (max(saved) + 1 if saved else 101), (seed, saved)
        dcp_ranks.check(got, seed)
