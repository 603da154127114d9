"""Connections as DAOS really keeps them (issue 10, items 1 and 2), on the harsh test double:

* libdfs caches pool and container handles by name only, so a read-write connect after a
  read-only one would mount on the read-only handles and every write would be refused;
* a handle attached from another process's (global2local) dies when that process disconnects
  or exits, so the connecting process must not pull the connection from under users it made,
  and a user whose handle was revoked must be told why.

Each scenario runs in a fresh interpreter: the connection state is per process, as DAOS's."""
import os
import subprocess
import sys
import textwrap

import pytest

from backends import DfsBackend, fake_dfs_build, requires_daos, run_python


@pytest.fixture
def dfs(tmp_path_factory, monkeypatch):
    return DfsBackend(str(tmp_path_factory.mktemp("store")), fake_dfs_build(tmp_path_factory), monkeypatch)


def run_ok(dfs, code, timeout=120):
    r = run_python(textwrap.dedent(code), dfs.env(), timeout=timeout)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def run_script(dfs, tmp_path, code, timeout=120):
    """As run_ok, from a file: spawned processes import their functions from it."""
    script = tmp_path / "scenario.py"
    script.write_text(textwrap.dedent(code))
    r = subprocess.run([sys.executable, str(script)], env={**os.environ, **dfs.env()}, capture_output=True,
                       text=True, timeout=timeout)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


# ---------------------------------------------------------------- read-only and read-write
ORDERS = {
    "ro_then_rw": ["ro", "rw"],
    "rw_then_ro": ["rw", "ro"],
    "ro_closed_then_rw": ["ro", "close ro", "rw"],
    "ro_rw_ro_rw": ["ro", "rw", "ro2", "rw2"],
}


@pytest.mark.parametrize("order", sorted(ORDERS))
def test_read_only_and_read_write_users_in_one_process(dfs, order):
    """Every mix of read-only and read-write connections to one container in one process:
    writers write, readers read what was written, readers stay read-only."""
    steps = ORDERS[order]
    out = run_ok(dfs, f"""
        import pydaos_torch
        conns = {{}}
        for step in {steps!r}:
            if step.startswith("close "):
                conns.pop(step[6:]).close()
            else:
                conns[step] = pydaos_torch.connect("pool", "cont", backend="dfs", read_only=step.startswith("ro"))
        for name, c in conns.items():
            if name.startswith("rw"):
                c.write("/w/" + name, name.encode())
        for name, c in conns.items():
            got = sorted(c.listdir("/w"))
            assert got == sorted(n for n in conns if n.startswith("rw")), (name, got)
            if name.startswith("ro"):
                try:
                    c.write("/w/nope", b"x")
                except PermissionError as e:
                    assert "read-only" in str(e), e
                else:
                    raise AssertionError("a read-only connection wrote")
        print("OK")
    """)
    assert "OK" in out


@requires_daos("2.6.4", "DataLoader workers forked after DAOS was initialized need daos_reinit")
def test_readme_dataset_then_checkpoint_in_one_process(dfs):
    """The README's example: a read-only Dataset, then a Checkpoint of the same container."""
    with dfs.connect() as c:
        for i in range(8):
            c.write(f"/training/samples/s{i}.bin", bytes([i]) * 100)
    out = run_ok(dfs, """
        import torch
        from torch.utils.data import DataLoader
        from pydaos_torch import Dataset, Checkpoint
        ds = Dataset(pool="pool", container="cont", path="/training/samples")
        ckpt = Checkpoint("pool", "cont", prefix="/checkpoints")
        loader = DataLoader(ds, batch_size=4, num_workers=2)
        seen = sum(len(b) for b in loader)
        state = {"w": torch.arange(1000, dtype=torch.float32), "seen": seen}
        with ckpt.writer("model.pt") as w:
            torch.save(state, w)
        ckpt.save(state, "step1/rank0.pt")
        with ckpt.reader("model.pt") as r:
            back = torch.load(r)
        assert back["seen"] == 8 and torch.equal(back["w"], state["w"])
        seen2 = sum(len(b) for b in loader)   # the dataset still reads after the writes
        assert seen2 == 8
        print("OK")
    """)
    assert "OK" in out


def test_workers_get_read_only_and_read_write_containers(dfs, tmp_path):
    """A spawned worker that unpickles a read-only and a read-write Container of one container
    (in both orders) reads through one and writes through the other."""
    with dfs.connect() as c:
        c.write("/in/x", b"input")
    out = run_script(dfs, tmp_path, """
        import multiprocessing as mp
        import pydaos_torch

        def work(args):
            first, second, tag = args
            ro, rw = (first, second) if first.read_only else (second, first)
            rw.write("/out/" + tag, ro.read("/in/x") + tag.encode())
            try:
                ro.write("/out/no", b"x")
                return "read-only container wrote"
            except PermissionError:
                return "ok"

        if __name__ == "__main__":
            ro = pydaos_torch.connect("pool", "cont", backend="dfs", read_only=True)
            rw = pydaos_torch.connect("pool", "cont", backend="dfs")
            with mp.get_context("spawn").Pool(2) as pool:
                res = pool.map_async(work, [(ro, rw, "a"), (rw, ro, "b")]).get(60)
            assert res == ["ok", "ok"], res
            assert rw.read("/out/a") == b"inputa" and rw.read("/out/b") == b"inputb"
            print("OK")
    """)
    assert "OK" in out
    assert dfs.counters()["pool_connect"] <= 3  # the workers attached, they did not connect


# ---------------------------------------------------------------- the owner's connection
@requires_daos("2.6.4", "DataLoader workers forked after DAOS was initialized need daos_reinit")
def test_persistent_workers_outlive_the_parents_close(dfs):
    """Closing (or dropping) the Dataset in the parent must not revoke the handles its
    persistent DataLoader workers attached to."""
    with dfs.connect() as c:
        for i in range(16):
            c.write(f"/d/s{i:02d}", bytes([i]) * 64)
    out = run_ok(dfs, """
        import gc
        from torch.utils.data import DataLoader
        from pydaos_torch import Dataset
        ds = Dataset("pool", "cont", "/d")
        loader = DataLoader(ds, batch_size=4, num_workers=2, persistent_workers=True)
        assert sum(len(b) for b in loader) == 16
        ds.close()
        del ds
        gc.collect()
        assert sum(len(b) for b in loader) == 16   # epoch 2, same workers
        print("OK")
    """)
    assert "OK" in out


def test_pickled_container_outlives_its_owner_object(dfs, tmp_path):
    """A Container pickled to another process keeps working after the owner closed its own
    Container object (the owner process is still alive)."""
    blob = tmp_path / "blob"
    owner = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import pickle, sys, pydaos_torch
        c = pydaos_torch.connect("pool", "cont", backend="dfs")
        c.write("/f", b"data")
        open({str(blob)!r}, "wb").write(pickle.dumps(c))
        c.close()
        print("closed", flush=True)
        sys.stdin.readline()
    """)], env={**os.environ, **dfs.env()}, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout.readline().strip() == "closed"
        out = run_ok(dfs, f"""
            import pickle
            c = pickle.loads(open({str(blob)!r}, "rb").read())
            assert c.read("/f") == b"data"
            c.write("/g", b"more")
            print("OK")
        """)
        assert "OK" in out
    finally:
        owner.stdin.close()
        owner.wait(timeout=30)


def test_revoked_handle_names_the_cause(dfs, tmp_path):
    """When the connecting process exits, DAOS revokes the handles attached from it: the
    error says so (not a bare EINVAL)."""
    blob = tmp_path / "blob"
    owner_code = textwrap.dedent(f"""
        import pickle, sys, pydaos_torch
        c = pydaos_torch.connect("pool", "cont", backend="dfs")
        c.write("/f", b"data")
        open({str(blob)!r}, "wb").write(pickle.dumps(c))
        print("ready", flush=True)
        sys.stdin.readline()
    """)
    code = f"""
        import pickle, subprocess, sys, pydaos_torch
        owner = subprocess.Popen([sys.executable, "-c", {owner_code!r}], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True)
        assert owner.stdout.readline().strip() == "ready"
        c = pickle.loads(open({str(blob)!r}, "rb").read())
        assert c.read("/f") == b"data"
        owner.stdin.close()
        owner.wait()
        try:
            c.read("/f")
        except OSError as e:
            print("ERR", type(e).__name__, e)
    """
    out = run_ok(dfs, code)
    assert "ERR" in out, out
    msg = out.split("ERR", 1)[1]
    assert "exited" in msg and str("pid") in msg and "revoke" in msg, msg


def test_exit_with_open_files_and_unclosed_containers(dfs):
    """A script that exits without closing anything (files open, containers handed out or not):
    at exit no DAOS object may be released after daos_fini (DAOS asserts in its handle hash),
    and no container handle closed with objects still open (-DER_BUSY)."""
    r = run_python(textwrap.dedent("""
        import pickle, pydaos_torch
        c = pydaos_torch.connect("pool", "cont", backend="dfs")
        c.write("/f", b"data")
        f = c.open("/f", "rb")
        blob = pickle.dumps(c)               # handed out: kept until exit
        ro = pydaos_torch.connect("pool", "cont", backend="dfs", read_only=True)
        g = ro.open("/f", "rb")
        assert g.read() == b"data"
        print("EXITING", flush=True)
    """), dfs.env(), timeout=60)
    assert r.returncode == 0 and "EXITING" in r.stdout, r.stdout + r.stderr
    assert "fake DAOS" not in r.stderr, r.stderr


def test_file_outlives_its_containers_close(dfs):
    """Closing a Container with a file of it still open: the file reports the closed container,
    closes cleanly, and only then is the mount (and the container handle) closed."""
    out = run_ok(dfs, """
        import pydaos_torch
        c = pydaos_torch.connect("pool", "cont", backend="dfs")
        c.write("/f", b"data")
        f = c.open("/f", "rb", buffering=0)
        c.close()
        try:
            f.read()
        except OSError as e:
            print("READ", e)
        f.close()
        print("CLOSED")
    """)
    assert "container is disconnected" in out and "CLOSED" in out, out
    cnt = dfs.counters()
    assert cnt["pool_connect"] == cnt["pool_disconnect"] == 1 and cnt["cont_close"] == 1, cnt
