"""The dfs backend when DAOS's event queue fails, and at fork, on the test double built as DAOS
behaves (tests/fake_dfs/README.md, "Events" and "Fork"):

* a failed ``daos_eq_poll`` leaves every event in flight and ``daos_event_abort`` cannot stop
  them, so their I/O still lands in the caller's buffers later: the backend must reap them
  before it frees a slot or returns, and raise an error naming pool, container and path;
* out of memory at ``daos_event_init`` or at the launch of ``dfs_read``/``dfs_write`` (DAOS 2.4+
  even returns 0 from ``dfs_read`` with an event that never completes on the queue);
* a child forked while another thread is inside DAOS cannot use DAOS (on DAOS it would
  deadlock on the locks that thread held), so fork must wait until no thread is inside.

Each scenario runs in a fresh interpreter: a crash or a hang there fails the test instead of
the test session.
"""
import os
import subprocess
import textwrap

import pytest

from backends import DfsBackend, fake_dfs_build, requires_daos, run_python

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE_DIR = os.path.join(HERE, "fake_dfs")
N, SIZE = 16, 65536  # 16 files of 64 KiB: /a/<i> holds byte i, /b/<i> byte 100 + i


@pytest.fixture
def dfs(tmp_path_factory, monkeypatch):
    d = DfsBackend(str(tmp_path_factory.mktemp("store")), fake_dfs_build(tmp_path_factory), monkeypatch)
    with d.connect() as c:
        for i in range(N):
            c.write(f"/a/{i}", bytes([i]) * SIZE)
            c.write(f"/b/{i}", bytes([100 + i]) * SIZE)
    d.reset_counters()
    return d


def run_scenario(dfs, code, extra=None, timeout=60):
    env = dfs.env()
    env.update(extra or {})
    prelude = textwrap.dedent(f"""
        import importlib.util, os, sys, threading, time
        spec = importlib.util.spec_from_file_location("control", {os.path.join(FAKE_DIR, "control.py")!r})
        control = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(control)
        import pydaos_torch
        N, SIZE = {N}, {SIZE}
        def batch(c, d):
            bufs = [bytearray(SIZE) for _ in range(N)]
            try:
                c.read_batch([f"/{{d}}/{{i}}" for i in range(N)], bufs)
                return bufs, None
            except OSError as e:
                return bufs, e
        def expected(d, i):
            return bytes([i if d == "a" else 100 + i]) * SIZE
        def intact(d, bufs):
            return all(bytes(b) == expected(d, i) for i, b in enumerate(bufs))
        def describe(e):
            return f"{{type(e).__name__}} der={{getattr(e, 'der_name', None)}} pool={{e.pool}} " \\
                   f"cont={{e.container}} path={{e.filename}} | {{e}}"
    """)
    try:
        r = run_python(prelude + textwrap.dedent(code), env, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"the scenario hung ({timeout} s): {e.stdout}\n{e.stderr}")
    assert r.returncode == 0, f"rc={r.returncode} (a negative rc is a signal)\n{r.stdout}\n{r.stderr}"
    return r.stdout


POLL_FAILS_ONCE = """
    c = pydaos_torch.connect(backend="dfs")
    first, err = batch(c, "a")
    print("ERR", describe(err) if err else None)
    snapshot = [bytes(b) for b in first]
    second, err2 = batch(c, "b")          # the next batch on the same event queue
    print("SECOND", err2 is None and intact("b", second))
    print("FIRST STABLE", all(bytes(b) == s for b, s in zip(first, snapshot)))
    c.close()
    print("CLEAN EXIT")
"""


@pytest.mark.parametrize("faults", ["daos_eq_poll:1:DER_HG",
                                    "daos_eq_poll:1:DER_HG,daos_event_abort:*:DER_NO_PERM"])
def test_failed_poll_reaps_in_flight_reads_before_raising(dfs, faults):
    out = run_scenario(dfs, POLL_FAILS_ONCE, {"FAKE_DAOS_FAULTS": faults})
    # a clear error: the DER, pool, container and the path of an I/O that was in flight
    assert "ERR DaosError der=DER_HG pool=pool cont=cont path=/a/" in out, out
    assert "daos_eq_poll failed" in out, out
    # the I/O of the failed batch landed before the error, never later into the caller's buffers,
    # and the next batch got its own completions (on the old code: a crash or corrupted buffers)
    assert "SECOND True" in out and "FIRST STABLE True" in out and "CLEAN EXIT" in out, out
    # every in-flight event was aborted (a no-op on DAOS; when abort fails too, reaping goes on)
    cnt = dfs.counters()
    assert cnt["event_abort"] >= 1 if "abort" not in faults else cnt["fault_injected"] >= 2


def test_failed_poll_during_writes_loses_nothing_written(dfs):
    out = run_scenario(dfs, """
        c = pydaos_torch.connect(backend="dfs")
        f = c.native.open("/w", True, True, True, False, 0o644, "", 0)
        chunks = [bytes([i + 1]) * SIZE for i in range(N)]
        try:
            f.write_many(chunks, [i * SIZE for i in range(N)])
            print("NO ERROR")
        except OSError as e:
            print("ERR", describe(e))
        landed = c.read("/w")
        g = c.native.open("/w2", True, True, True, False, 0o644, "", 0)
        g.write_many(chunks, [i * SIZE for i in range(N)])
        print("SECOND", c.read("/w2") == b"".join(chunks))
        print("STABLE", c.read("/w") == landed)
        # each chunk is whole or absent, none torn (pieces are written whole or not at all)
        print("WHOLE", all(landed[i * SIZE:(i + 1) * SIZE] in (chunks[i], bytes(SIZE), b"")
                           for i in range(N)))
        c.close()
        print("CLEAN EXIT")
    """, {"FAKE_DAOS_FAULTS": "daos_eq_poll:1:DER_HG"})
    assert "ERR DaosError der=DER_HG pool=pool cont=cont path=/w" in out, out
    assert "SECOND True" in out and "STABLE True" in out and "WHOLE True" in out, out
    assert "CLEAN EXIT" in out, out


def test_poll_failing_for_good_gives_up_with_a_clear_error(dfs):
    out = run_scenario(dfs, """
        c = pydaos_torch.connect(backend="dfs")
        first, err = batch(c, "a")
        print("ERR", describe(err) if err else None)
        second, err2 = batch(c, "b")
        print("ERR2", describe(err2) if err2 else None)
        # buffers of a call whose I/O was abandoned in flight are kept alive: DAOS may write them
        import gc, numpy as np, weakref
        arr = np.zeros(SIZE, dtype=np.uint8)
        ref = weakref.ref(arr)
        try:
            c.read_batch(["/a/0"], [arr])
        except OSError:
            pass
        del arr
        gc.collect()
        print("KEPT", ref() is not None)
        c.close()
        print("CLEAN EXIT")
    """, {"FAKE_DAOS_FAULTS": "daos_eq_poll:*:DER_HG"})
    assert "ERR DaosError der=DER_HG pool=pool cont=cont path=/a/" in out, out
    # the events could not be reaped: the queue is abandoned (never polled nor destroyed again)
    # and the message says that their buffers may still be written
    assert "could not be reaped" in out and "abandoned" in out, out
    assert "ERR2 DaosError der=DER_HG" in out and "KEPT True" in out and "CLEAN EXIT" in out, out


@pytest.mark.parametrize("fault, errtype, says", [
    ("daos_event_init:3:DER_NOMEM", "DaosError der=DER_NOMEM", "daos_event_init failed"),
    ("dfs_read_task:3:ENOMEM", "OSError der=None", "dfs_read could not be launched"),
    # DAOS 2.4+: dfs_read returns 0 and the event never reaches the queue (old code: a hang)
    ("dfs_read_params:3:ENOMEM", "OSError der=None", "dfs_read could not be launched"),
])
def test_out_of_memory_at_launch(dfs, fault, errtype, says):
    out = run_scenario(dfs, """
        c = pydaos_torch.connect(backend="dfs")
        first, err = batch(c, "a")
        print("ERR", describe(err) if err else None)
        second, err2 = batch(c, "b")
        print("SECOND", err2 is None and intact("b", second))
        c.close()
        print("CLEAN EXIT")
    """, {"FAKE_DAOS_FAULTS": fault}, timeout=30)
    assert f"ERR {errtype} pool=pool cont=cont path=/a/" in out and says in out, out
    assert "Cannot allocate memory" in out, out
    assert "SECOND True" in out and "CLEAN EXIT" in out, out


def test_out_of_memory_at_write_launch(dfs):
    out = run_scenario(dfs, """
        c = pydaos_torch.connect(backend="dfs")
        f = c.native.open("/w", True, True, True, False, 0o644, "", 0)
        chunks = [bytes([i + 1]) * SIZE for i in range(N)]
        try:
            f.write_many(chunks, [i * SIZE for i in range(N)])
            print("NO ERROR")
        except OSError as e:
            print("ERR", describe(e))
        f.write_many(chunks, [i * SIZE for i in range(N)])  # the same writes again succeed
        print("AGAIN", c.read("/w") == b"".join(chunks))
        c.close()
    """, {"FAKE_DAOS_FAULTS": "dfs_write_task:2:ENOMEM"}, timeout=30)
    assert "ERR OSError der=None pool=pool cont=cont path=/w" in out, out
    assert "dfs_write could not be launched" in out and "AGAIN True" in out, out


@requires_daos("2.6.4", "a forked child uses DAOS after daos_reinit")
def test_fork_waits_until_no_thread_is_inside_daos(dfs):
    """A Python thread runs a long batch read (GIL released, mostly inside daos_eq_poll) while
    the main thread forks; the child then uses DAOS.  On DAOS a child forked with a thread
    inside DAOS deadlocks on what that thread held; our fork barrier makes fork wait."""
    out = run_scenario(dfs, """
        c = pydaos_torch.connect(backend="dfs")
        res = {}
        def reader():
            bufs = [bytearray(SIZE) for _ in range(N)]
            c.read_batch([f"/a/{i}" for i in range(N)], bufs, depth=1)
            res["ok"] = intact("a", bufs)
        t = threading.Thread(target=reader)
        t.start()
        store = os.environ["FAKE_DAOS_STORE"]
        while control.counters(store)["eq_poll"] < 2:  # the reader is inside its batch
            time.sleep(0.001)
        pid = os.fork()
        if pid == 0:
            try:
                print("CHILD", c.read("/b/3") == expected("b", 3), flush=True)
            except OSError as e:
                print("CHILD ERR", describe(e), flush=True)
            os._exit(0)
        os.waitpid(pid, 0)
        t.join()
        print("PARENT", res)
        c.close()
    """, {"FAKE_DAOS_LATENCY_US": "dfs_read=100000"})
    assert "CHILD True" in out and "PARENT {'ok': True}" in out, out
