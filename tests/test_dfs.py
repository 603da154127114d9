"""The dfs backend over the C test double of libdaos/libdfs: connections, handle sharing,
fork, faults, library loading, sharded directories. Every test asserts the double's
counters, so a path that silently went through POSIX would fail."""
import os
import textwrap

import pytest

import pydaos_torch
from pydaos_torch import DaosError

from backends import DfsBackend, fake_dfs_build, requires_daos, run_python


@pytest.fixture
def dfs(tmp_path_factory, monkeypatch):
    return DfsBackend(str(tmp_path_factory.mktemp("store")), fake_dfs_build(tmp_path_factory), monkeypatch)


def run_child(dfs_backend, code, extra=None, timeout=60):
    env = dfs_backend.env()
    env.update(extra or {})
    return run_python(textwrap.dedent(code), env, timeout=timeout)


def test_data_lives_under_opaque_names(dfs):
    with dfs.connect() as c:
        c.write("/train/sample_0001.npy", b"payload")
    names = {n for _, dirs, files in os.walk(dfs.store) for n in dirs + files}
    assert not any("sample_0001" in n or n == "train" for n in names)
    cnt = dfs.counters()
    assert cnt["pool_connect"] == 1 and cnt["write"] >= 1 and cnt["bytes_written"] == 7
    assert cnt["mkdir"] == 1


def test_connect_errors_name_pool_and_container(dfs):
    with pytest.raises(FileNotFoundError, match="pool 'nopool' not found") as e:
        pydaos_torch.connect("nopool", "cont", backend="dfs")
    assert isinstance(e.value, DaosError) and e.value.der_name == "DER_NONEXIST"
    with pytest.raises(FileNotFoundError, match="container 'nocont' not found in pool 'pool'") as e:
        pydaos_torch.connect("pool", "nocont", backend="dfs")
    assert e.value.pool == "pool" and e.value.container == "nocont"
    dfs.control.create_container(dfs.store, "pool", "ro_cont", readonly=True)
    with pytest.raises(PermissionError, match="ro_cont"):
        pydaos_torch.connect("pool", "ro_cont", backend="dfs")
    with pydaos_torch.connect("pool", "ro_cont", backend="dfs", read_only=True) as c:
        assert c.listdir("/") == []


def test_container_not_found_is_enoent_whatever_der(tmp_path_factory, monkeypatch):
    # DAOS 2.6.4+ may answer DER_CONT_NONEXIST, which daos_der2errno maps to EIO: the message and
    # the exception must still say "not found" (DER_CONT_NONEXIST exists from 2.6.4: build as 2.8)
    dfs = DfsBackend(str(tmp_path_factory.mktemp("store")),
                     fake_dfs_build(tmp_path_factory, daos_version="2.8"), monkeypatch)
    r = run_child(dfs, """
        import pydaos_torch
        try:
            pydaos_torch.connect("pool", "cont", backend="dfs")
        except OSError as e:
            print("ERR", isinstance(e, FileNotFoundError), e.der_name, e)
    """, {"FAKE_DAOS_FAULTS": "dfs_connect:1:ENOENT,daos_cont_open2:1:DER_CONT_NONEXIST"})
    assert "ERR True DER_CONT_NONEXIST" in r.stdout, r.stdout + r.stderr
    assert "container 'cont' not found in pool 'pool'" in r.stdout, r.stdout


def test_agent_not_reachable(dfs):
    r = run_child(dfs, """
        import pydaos_torch
        try:
            pydaos_torch.connect("pool", "cont", backend="dfs")
        except pydaos_torch.DaosError as e:
            print("ERR", e.der_name, e)
    """, {"FAKE_DAOS_AGENT": "down"})
    assert "ERR DER_AGENT_COMM" in r.stdout and "agent is not reachable" in r.stdout, r.stdout + r.stderr


def test_missing_symbol_and_old_daos(tmp_path_factory):
    build = fake_dfs_build(tmp_path_factory, omit=("dfs_connect",))
    r = run_python("import pydaos_torch\ntry:\n    pydaos_torch.connect('p','c',backend='dfs')\n"
                   "except OSError as e:\n    print('ERR', e)\n", {"PYDAOS_TORCH_LIBDFS": build["libdfs"]})
    assert "lacks symbol(s): dfs_connect" in r.stdout and "DAOS 2.2 or newer" in r.stdout, r.stdout + r.stderr


@requires_daos("2.6.4", "daos_reinit")
def test_feature_probes(dfs, tmp_path_factory):
    with dfs.connect() as c:
        assert "2.6.4" in c.native.features
    old = fake_dfs_build(tmp_path_factory, with_reinit=False)
    env = dfs.env()
    env["PYDAOS_TORCH_LIBDFS"] = old["libdfs"]
    r = run_python("import pydaos_torch\nprint(pydaos_torch.connect(backend='dfs').native.features)", env)
    assert "DAOS 2.4+" in r.stdout, r.stdout + r.stderr


def test_spawned_child_attaches_without_new_connection(dfs):
    with dfs.connect() as c:
        c.write("/x.bin", b"spawned")
        blob = c.serialize()
        r = run_child(dfs, f"""
            import pickle, pydaos_torch
            c = pydaos_torch.Container.attach({blob!r})
            print("GOT", c.read("/x.bin").decode())
        """)
        assert "GOT spawned" in r.stdout, r.stdout + r.stderr
        cnt = dfs.counters()
        assert cnt["pool_connect"] == 1
        assert cnt["global2local"] == 1


def test_multiprocessing_spawn_pickles_container(dfs, tmp_path):
    script = tmp_path / "spawn_child.py"
    script.write_text(textwrap.dedent("""
        import multiprocessing as mp, pydaos_torch

        def child(c):
            return c.read("/m.bin")

        if __name__ == "__main__":
            c = pydaos_torch.connect(backend="dfs")
            c.write("/m.bin", b"via pickle")
            with mp.get_context("spawn").Pool(2) as p:
                print("GOT", p.map(child, [c, c, c]))
            c.close()
    """))
    r = run_python(f"import runpy; runpy.run_path({str(script)!r}, run_name='__main__')", dfs.env())
    assert "GOT [b'via pickle', b'via pickle', b'via pickle']" in r.stdout, r.stdout + r.stderr
    cnt = dfs.counters()
    assert cnt["pool_connect"] == 1 and cnt["global2local"] >= 2


@requires_daos("2.6.4", "daos_reinit")
def test_fork_child_reinitializes_and_attaches(dfs):
    with dfs.connect() as c:
        c.write("/f.bin", b"forked")
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: the inherited handle is re-attached after daos_reinit
            try:
                data = c.read("/f.bin")
                os.write(w, data)
            finally:
                os._exit(0)
        os.close(w)  # a child that fails before writing must not leave the read below waiting
        os.waitpid(pid, 0)
        assert os.read(r, 100) == b"forked"
        assert c.read("/f.bin") == b"forked"  # the parent still works
        cnt = dfs.counters()
        assert cnt["reinit"] == 1 and cnt["pool_connect"] == 1 and cnt["global2local"] == 1


def test_fork_without_reinit_says_use_spawn(dfs, tmp_path_factory):
    old = fake_dfs_build(tmp_path_factory, with_reinit=False)
    r = run_child(dfs, """
        import os, pydaos_torch
        c = pydaos_torch.connect(backend="dfs")
        c.write("/f", b"x")
        pid = os.fork()
        if pid == 0:
            try:
                c.read("/f")
                print("CHILD READ OK")
            except OSError as e:
                print("CHILD ERR", e)
            os._exit(0)
        os.waitpid(pid, 0)
        print("PARENT", c.read("/f"))
    """, {"PYDAOS_TORCH_LIBDFS": old["libdfs"]})
    assert "CHILD ERR" in r.stdout and "spawn" in r.stdout and "daos_reinit" in r.stdout, r.stdout + r.stderr
    assert "PARENT b'x'" in r.stdout


def test_injected_faults(dfs):
    with dfs.connect() as c:
        for i in range(8):
            c.write(f"/f/{i}", bytes([i]) * 1000)
    cases = {
        "dfs_read:3:EIO": ("OSError", "Input/output error"),
        "dfs_open:2:EACCES": ("PermissionError", "/f/"),
        "dfs_read:1:short": ("OSError", "short read"),
        "daos_eq_poll:1:DER_HG": ("DaosError", "DER_HG"),
        "dfs_mount:1:ENOENT": ("FileNotFoundError", "dfs_mount"),
    }
    for fault, (kind, text) in cases.items():
        key = "FAKE_DAOS_FAULTS"
        r = run_child(dfs, """
            import pydaos_torch
            try:
                c = pydaos_torch.connect(backend="dfs")
                bufs = [bytearray(1000) for _ in range(8)]
                c.read_batch([f"/f/{i}" for i in range(8)], bufs)
                print("NO ERROR")
            except OSError as e:
                kinds = [k.__name__ for k in type(e).__mro__]
                print("ERR", kinds, e)
        """, {key: fault})
        assert "ERR" in r.stdout and kind in r.stdout and text in r.stdout, (fault, r.stdout, r.stderr)
    assert dfs.counters()["fault_injected"] >= len(cases)


def test_latency_on_opens_and_reads_still_completes(dfs):
    with dfs.connect() as c:
        for i in range(32):
            c.write(f"/l/{i}", b"y" * 100)
    r = run_child(dfs, """
        import time, pydaos_torch
        c = pydaos_torch.connect(backend="dfs")
        t = time.monotonic()
        bufs = [bytearray(100) for _ in range(32)]
        c.read_batch([f"/l/{i}" for i in range(32)], bufs)
        assert all(bytes(b) == b"y" * 100 for b in bufs)
        print("ELAPSED", time.monotonic() - t)
    """, {"FAKE_DAOS_LATENCY_US": "dfs_open=20000,dfs_read=20000"})
    assert "ELAPSED" in r.stdout, r.stdout + r.stderr
    # opens ran ahead on threads and 20 ms reads were in flight together, not one by one
    assert dfs.counters()["max_inflight"] >= 8


def test_ctrl_c_interrupts_a_slow_batch(dfs):
    with dfs.connect() as c:
        for i in range(64):
            c.write(f"/s/{i}", b"z" * 10)
    r = run_child(dfs, """
        import os, signal, threading, time, pydaos_torch
        c = pydaos_torch.connect(backend="dfs")
        threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
        t = time.monotonic()
        try:
            c.read_batch([f"/s/{i}" for i in range(64)], [bytearray(10) for _ in range(64)], depth=1)
            print("FINISHED", time.monotonic() - t)
        except KeyboardInterrupt:
            print("INTERRUPTED", time.monotonic() - t)
        c.read_batch(["/s/0"], [bytearray(10)])  # still usable afterwards
        print("USABLE")
    """, {"FAKE_DAOS_LATENCY_US": "dfs_read=200000"})
    assert "INTERRUPTED" in r.stdout and "USABLE" in r.stdout, r.stdout + r.stderr
    # stopped well before the batch could finish (64 reads x 200 ms, one in flight = 12.8 s)
    assert float(r.stdout.split("INTERRUPTED")[1].split()[0]) < 6.0


def test_sharded_directory_scan_splits_by_anchor(dfs):
    dfs.control.create_container(dfs.store, "pool", "sx", dir_shards=4)
    with pydaos_torch.connect("pool", "sx", backend="dfs") as c:
        for i in range(100):
            c.write(f"/flat/{i:03d}", b"q" * i)
        dfs.reset_counters()
        ix = c.scan("/flat")
        assert [ix.path(i) for i in range(len(ix))] == [f"{i:03d}" for i in range(100)]
        assert ix.sizes.tolist() == list(range(100))
    cnt = dfs.counters()
    assert cnt["anchor_split"] >= 1 and cnt["anchor_set"] == 4
    assert cnt["readdir_entries"] == 100


def test_open_with_object_class_and_chunk_size(dfs):
    with dfs.connect() as c:
        with c.open("/oc.bin", "wb", object_class="SX", chunk_size=1 << 20) as f:
            f.write(b"x" * 100)
        with pytest.raises(OSError, match="unknown DAOS object class"):
            c.open("/oc2.bin", "wb", object_class="NOT_A_CLASS")
        assert c.read("/oc.bin") == b"x" * 100


def test_two_connections_in_one_process_close_independently(dfs):
    a = dfs.connect()
    b = dfs.connect(read_only=True)
    a.write("/two", b"2")
    a.close()
    assert b.read("/two") == b"2"  # closing one connection leaves the other working
    b.close()
    with dfs.connect() as c:  # and the library can be initialized again
        assert c.read("/two") == b"2"


def test_directory_removed_and_made_again_by_another_process(dfs):
    """Our directory-object cache must not outlive the directory: after another process
    removes and re-makes /d, a create through a cached /d would land in DAOS's punched object,
    an orphan nobody sees (and listings would come back empty)."""
    with dfs.connect() as c:
        c.write("/d/x", b"1")                 # caches /d
        assert c.listdir("/d") == ["x"]
        r = run_child(dfs, """
            import pydaos_torch
            with pydaos_torch.connect(backend="dfs") as o:
                o.remove("/d", recursive=True)
                o.write("/d/z", b"2")
            print("OK")
        """)
        assert "OK" in r.stdout, r.stdout + r.stderr
        assert c.read("/d/z") == b"2"                  # a read through the cached parent
        assert c.listdir("/d") == ["z"]
        c.write("/d/y", b"3")                          # a create
        c.mkdirs("/d/sub")
        ix = c.scan("/d")
        assert [ix.path(i) for i in range(len(ix))] == ["y", "z"]
        with c.open("/d/w", "wb") as f:
            f.write(b"4")
    r = run_child(dfs, """
        import pydaos_torch
        with pydaos_torch.connect(backend="dfs", read_only=True) as o:
            print("LIST", o.listdir("/d"), o.read("/d/y"), o.read("/d/w"))
    """)
    assert "LIST ['sub', 'w', 'y', 'z'] b'3' b'4'" in r.stdout, r.stdout + r.stderr
