"""Tests of the DAOS test double itself (tests/fake_dfs), driven through ctypes.

Every scenario runs in a fresh Python subprocess: the double's state is per process (as DAOS's),
its configuration comes from the environment at daos_init(), and only one build of libdaos.so.2
can be loaded in a process.  A scenario is a script body; it sees ``api`` (ctypes_api.Api of the
session build), ``C`` (ctypes), ``E`` (errno), ``out`` (a dict printed as JSON at the end).
"""
from __future__ import annotations

import errno
import errno as E
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def _load(name: str, filename: str):
    # by path, under unique names: a bare "import build" may find PyPA's build package
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, HERE / filename)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return sys.modules[name]


fake_build = _load("fake_dfs_build", "build.py")
control = _load("fake_dfs_control", "control.py")

DER = control.der_codes()


@pytest.fixture(scope="session")
def libs(tmp_path_factory):
    return fake_build.build(str(tmp_path_factory.mktemp("fake_daos_lib")))


@pytest.fixture(scope="session")
def old_libs(tmp_path_factory):
    """A build that looks like an older DAOS (no dfs_connect, no readdirplus, no reinit)."""
    return fake_build.build(str(tmp_path_factory.mktemp("fake_daos_old")), with_reinit=False,
                            omit=("dfs_connect", "dfs_readdirplus"))


@pytest.fixture
def store(tmp_path):
    s = tmp_path / "store"
    control.create_pool(s, "pool1")
    control.create_container(s, "pool1", "cont1")
    return s


PRELUDE = """
import ctypes as C, errno as E, importlib.util, json, os, sys, time
for _name in ("ctypes_api", "control"):  # this folder's modules, by path
    _spec = importlib.util.spec_from_file_location(_name, os.path.join({here!r}, _name + ".py"))
    sys.modules[_name] = _m = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(_m)
from ctypes_api import *
api = Api({libdfs!r})
out = {{}}
RW, RO = os.O_RDWR, os.O_RDONLY
def emit():
    print("@@" + json.dumps(out))
"""


def run(libs, store, code, *, expect_rc=0, extra_env=None, **kw):
    """Run a scenario; returns its ``out`` dict (None if it printed none)."""
    env = control.env(store, libdfs=libs["libdfs"], base=os.environ, **kw)
    env.update(extra_env or {})
    script = PRELUDE.format(here=str(HERE), libdfs=libs["libdfs"]) + textwrap.dedent(code)
    script += "\nemit()\n"
    res = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, timeout=60)
    if expect_rc is not None:
        assert res.returncode == expect_rc, f"rc={res.returncode}\n{res.stdout}\n{res.stderr}"
    for line in reversed(res.stdout.splitlines()):
        if line.startswith("@@"):
            return json.loads(line[2:])
    return None


# ---------------------------------------------------------------- build and shape
def test_library_shape(libs):
    dyn = subprocess.run(["readelf", "-d", libs["libdfs"]], capture_output=True, text=True)
    if dyn.returncode == 0:
        assert "[libdaos.so.2]" in dyn.stdout and "$ORIGIN" in dyn.stdout
        soname = subprocess.run(["readelf", "-d", libs["libdaos"]], capture_output=True,
                                text=True).stdout
        assert "Library soname: [libdaos.so.2]" in soname
    res = run(libs, "/nonexistent", """
        for n in ["dfs_connect", "dfs_readdirplus", "daos_reinit", "daos_pool_connect2",
                  "daos_pool_connect", "daos_cont_open2", "daos_eq_poll", "d_errstr",
                  "dfs_obj_anchor_split", "store_key", "fake_store", "obj_free"]:
            out[n] = api.has(n)
    """)
    assert res == {"dfs_connect": True, "dfs_readdirplus": True, "daos_reinit": True,
                   "daos_pool_connect2": True, "daos_pool_connect": True,
                   "daos_cont_open2": True, "daos_eq_poll": True, "d_errstr": True,
                   "dfs_obj_anchor_split": True,
                   # internals of libdfs are hidden; libdaos exports its fake_* helpers
                   "store_key": False, "fake_store": True, "obj_free": False}


def test_omit_and_no_reinit(old_libs, tmp_path):
    res = run(old_libs, "/nonexistent", """
        for n in ["dfs_connect", "dfs_readdirplus", "daos_reinit", "dfs_mount", "daos_init",
                  "dfs_readdir"]:
            out[n] = api.has(n)
    """)
    assert res == {"dfs_connect": False, "dfs_readdirplus": False, "daos_reinit": False,
                   "dfs_mount": True, "daos_init": True, "dfs_readdir": True}
    assert fake_build.preset("2.0")["with_reinit"] is False
    assert "dfs_connect" in fake_build.preset("2.0")["omit"]
    with pytest.raises(ValueError):
        fake_build.build(str(tmp_path / "bad"), omit=("x; rm -rf /",))


def test_two_variants_in_one_process(libs, old_libs, store):
    res = run(libs, store, f"""
    old = Api({old_libs["libdfs"]!r})
    out["new_reinit"], out["old_reinit"] = api.has("daos_reinit"), old.has("daos_reinit")
    out["old_connect"] = old.has("dfs_connect")
    out["inits"] = [api.daos_init(), old.daos_init()]
    out["separate_state"] = [api.daos_fini(), api.daos_fini(), old.daos_fini()]
    """)
    assert res == {"new_reinit": True, "old_reinit": False, "old_connect": False,
                   "inits": [0, 0], "separate_state": [0, -DER["DER_UNINIT"], 0]}


# ---------------------------------------------------------------- init, agent, conventions
def test_no_agent(libs, tmp_path):
    code = """
        out["daos_init"] = api.daos_init()
        out["dfs_init"] = api.dfs_init()
    """
    env_no_store = {k: v for k, v in os.environ.items() if k != "FAKE_DAOS_STORE"}
    script = PRELUDE.format(here=str(HERE), libdfs=libs["libdfs"]) + textwrap.dedent(code)
    res = subprocess.run([sys.executable, "-c", script + "\nemit()"], env=env_no_store,
                         capture_output=True, text=True)
    got = json.loads(res.stdout.strip().splitlines()[-1][2:])
    assert got == {"daos_init": -DER["DER_AGENT_COMM"], "dfs_init": 5}  # der2errno -> EIO
    assert run(libs, tmp_path / "missing", code) == got
    s = tmp_path / "store"
    control.init_store(s)
    assert run(libs, s, code, agent_down=True) == got
    assert run(libs, s, code) == {"daos_init": 0, "dfs_init": 0}


def test_uninitialised_calls_and_refcount(libs, store):
    res = run(libs, store, """
        eq = daos_handle_t()
        out["eq_before"] = api.daos_eq_create(C.byref(eq))
        out["fini_before"] = api.daos_fini()
        dfs = C.c_void_p()
        out["connect_no_dfs_init"] = api.dfs_connect(b"pool1", None, b"cont1", RO, None, C.byref(dfs))
        out["lookup_null"] = api.dfs_lookup(None, b"/", RO, C.byref(C.c_void_p()), None, None)
        out["init1"], out["init2"] = api.daos_init(), api.daos_init()
        out["connect_no_dfs_init2"] = api.dfs_connect(b"pool1", None, b"cont1", RO, None, C.byref(dfs))
        out["fini1"] = api.daos_fini()
        out["eq_after_one_fini"] = api.daos_eq_create(C.byref(eq))
        out["fini2"] = api.daos_fini()
        out["eq_after_all_fini"] = api.daos_eq_create(C.byref(eq))
        out["errstr"] = api.d_errstr(-1005).decode()
    """)
    assert res == {"eq_before": -DER["DER_UNINIT"], "fini_before": -DER["DER_UNINIT"],
                   "connect_no_dfs_init": 13, "lookup_null": 22, "init1": 0, "init2": 0,
                   "connect_no_dfs_init2": 13, "fini1": 0, "eq_after_one_fini": 0,
                   "fini2": 0, "eq_after_all_fini": -DER["DER_UNINIT"],
                   "errstr": "DER_NONEXIST"}
    assert control.counters(store)["init"] == 2


# ---------------------------------------------------------------- pools and containers
def test_connect_errors(libs, tmp_path):
    s = tmp_path / "store"
    control.create_pool(s, "pool1")
    cuuid = control.create_container(s, "pool1", "cont1")
    control.create_container(s, "pool1", "rocont", readonly=True)
    puuid_ro = control.create_pool(s, "ropool", readonly_for_user=True)
    control.create_container(s, "ropool", "c")
    res = run(libs, s, f"""
        api.dfs_init()
        def conn(p, c, f):
            d = C.c_void_p()
            rc = api.dfs_connect(p.encode(), None, c.encode(), f, None, C.byref(d))
            if rc == 0:
                api.dfs_disconnect(d)
            return rc
        out["ok_label"] = conn("pool1", "cont1", RW)
        out["ok_uuid"] = conn("pool1", {cuuid!r}, RO)
        out["ok_uuid_upper"] = conn({puuid_ro!r}.upper(), "c", RO)
        out["no_pool"] = conn("nopool", "cont1", RO)
        out["no_cont"] = conn("pool1", "nocont", RO)
        out["ro_cont_rw"] = conn("pool1", "rocont", RW)
        out["ro_cont_ro"] = conn("pool1", "rocont", RO)
        out["ro_pool_rw"] = conn("ropool", "c", RW)
        out["ro_pool_ro"] = conn("ropool", "c", RO)
        poh, coh = daos_handle_t(), daos_handle_t()
        out["pc_nopool"] = api.daos_pool_connect2(b"nopool", None, DAOS_PC_RO, C.byref(poh), None, None)
        out["pc_ropool_rw"] = api.daos_pool_connect2(b"ropool", None, DAOS_PC_RW, C.byref(poh), None, None)
        out["pc_bad_flags"] = api.daos_pool_connect2(b"pool1", None, 0, C.byref(poh), None, None)
        out["pc_ok"] = api.daos_pool_connect2(b"pool1", None, DAOS_PC_RW, C.byref(poh), None, None)
        out["co_nocont"] = api.daos_cont_open2(poh, b"nocont", DAOS_COO_RO, C.byref(coh), None, None)
        out["co_ro_rw"] = api.daos_cont_open2(poh, b"rocont", DAOS_COO_RW, C.byref(coh), None, None)
        out["co_bad_poh"] = api.daos_cont_open2(daos_handle_t(12345), b"cont1", DAOS_COO_RO, C.byref(coh), None, None)
        out["co_ok"] = api.daos_cont_open2(poh, b"cont1", DAOS_COO_RW, C.byref(coh), None, None)
        d = C.c_void_p()
        out["mount"] = api.dfs_mount(poh, coh, RW, C.byref(d))
        api.put(d, "via_mount", b"m")
        out["disconnect_mounted"] = api.dfs_disconnect(d)
        out["umount"] = api.dfs_umount(d)
        out["pd_busy"] = api.daos_pool_disconnect(poh, None)
        out["cc"] = api.daos_cont_close(coh, None)
        out["cc_again"] = api.daos_cont_close(coh, None)
        out["pd"] = api.daos_pool_disconnect(poh, None)
    """)
    assert res == {
        "ok_label": 0, "ok_uuid": 0, "ok_uuid_upper": 0, "no_pool": 2, "no_cont": 2,
        "ro_cont_rw": 1, "ro_cont_ro": 0, "ro_pool_rw": 1, "ro_pool_ro": 0,
        "pc_nopool": -DER["DER_NONEXIST"], "pc_ropool_rw": -DER["DER_NO_PERM"],
        "pc_bad_flags": -DER["DER_INVAL"], "pc_ok": 0,
        "co_nocont": -DER["DER_NONEXIST"], "co_ro_rw": -DER["DER_NO_PERM"],
        "co_bad_poh": -DER["DER_NO_HDL"], "co_ok": 0, "mount": 0,
        "disconnect_mounted": 22, "umount": 0, "pd_busy": -DER["DER_BUSY"], "cc": 0,
        "cc_again": -DER["DER_NO_HDL"], "pd": 0}
    assert control.get_file(s, "pool1", "cont1", "/via_mount") == b"m"


def test_connect_handle_cache_and_counters(libs, store):
    res = run(libs, store, """
        api.dfs_init()
        a = api.connect("pool1", "cont1", RO)
        b = api.connect("pool1", "cont1", RO)   # cached pool and container handles
        for d in (a, b):
            api.dfs_disconnect(d)
        poh = daos_handle_t()
        api.daos_pool_connect2(b"pool1", None, DAOS_PC_RO, C.byref(poh), None, None)
        api.daos_pool_disconnect(poh, None)
        out["fini"] = api.dfs_fini()
    """)
    cnt = control.counters(store)
    assert res["fini"] == 0
    assert cnt["pool_connect"] == 2 and cnt["pool_disconnect"] == 2
    assert cnt["cont_open"] == 1 and cnt["cont_close"] == 1
    control.reset_counters(store)
    assert set(control.counters(store).values()) == {0}


def test_connect_cache_ignores_the_access_mode(libs, store):
    """libdfs keys its handle cache by names only (mnt.c dfs_hdl_lookup): a read-write
    dfs_connect after a read-only one mounts on the read-only handles and its writes are refused
    by the server; the entry outlives dfs_disconnect until dfs_fini."""
    res = run(libs, store, """
        api.dfs_init()
        ro = api.connect("pool1", "cont1", RO)
        rw = api.connect("pool1", "cont1", RW)   # mounts, on the cached read-only handles
        o = C.c_void_p()
        out["create"] = api.dfs_open(rw, None, b"f", S_IFREG | 0o644, RW | os.O_CREAT, 0, 0, None, C.byref(o))
        api.dfs_disconnect(rw)
        api.dfs_disconnect(ro)
        rw2 = api.connect("pool1", "cont1", RW)  # still cached: dfs_disconnect keeps the entry
        out["create_after_disconnect"] = api.dfs_open(rw2, None, b"f", S_IFREG | 0o644, RW | os.O_CREAT, 0, 0, None, C.byref(o))
        api.dfs_disconnect(rw2)
        other = api.connect("pool1", "cont1", RO)  # the label and the UUID are two keys
        api.dfs_disconnect(other)
        out["fini"] = api.dfs_fini()
        api.dfs_init()
        rw3 = api.connect("pool1", "cont1", RW)  # after dfs_fini: new, read-write handles
        out["create_after_fini"] = api.dfs_open(rw3, None, b"f", S_IFREG | 0o644, RW | os.O_CREAT, 0, 0, None, C.byref(o))
        api.dfs_release(o)
        api.dfs_disconnect(rw3)
        api.dfs_fini()
    """)
    assert res == {"create": errno.EPERM, "create_after_disconnect": errno.EPERM, "fini": 0,
                   "create_after_fini": 0}
    cnt = control.counters(store)
    assert cnt["pool_connect"] == 2 and cnt["pool_disconnect"] == 2


class Owner:
    """A scenario kept running in the background: the process that connected, whose
    handles others attach to (DAOS revokes them when it disconnects or exits)."""

    def __init__(self, libs, store, code):
        env = control.env(store, libdfs=libs["libdfs"], base=os.environ)
        script = PRELUDE.format(here=str(HERE), libdfs=libs["libdfs"]) + textwrap.dedent(code)
        script += "\nemit()\nsys.stdout.flush()\nfor line in sys.stdin:\n    exec(line)\n    print('@@done', flush=True)\n"
        self.proc = subprocess.Popen([sys.executable, "-c", script], env=env, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.out = self._wait_line("@@")

    def _wait_line(self, prefix):
        for line in self.proc.stdout:
            if line.startswith(prefix):
                return json.loads(line[2:]) if line.startswith("@@{") else None
        raise AssertionError(f"owner ended early: rc={self.proc.wait()}")

    def do(self, stmt):
        self.proc.stdin.write(stmt + "\n")
        self.proc.stdin.flush()
        self._wait_line("@@done")

    def exit(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


OWNER_BLOB = """
    api.dfs_init()
    d = api.connect("pool1", "cont1", RW)
    api.put(d, "shared", b"from the parent")
    g = d_iov_t()
    out["size_rc"] = api.dfs_local2global_all(d, C.byref(g))
    need = g.iov_buf_len
    small = C.create_string_buffer(8)
    g2 = d_iov_t(C.cast(small, C.c_void_p), 8, 0)
    out["small_rc"] = api.dfs_local2global_all(d, C.byref(g2))
    out["small_len_ok"] = g2.iov_buf_len == need
    buf = C.create_string_buffer(need)
    g3 = d_iov_t(C.cast(buf, C.c_void_p), need, 0)
    out["fill_rc"] = api.dfs_local2global_all(d, C.byref(g3))
    open({blob!r}, "wb").write(buf.raw[:g3.iov_len])
"""

ATTACH_BLOB = """
    raw = open({blob!r}, "rb").read()
    buf = C.create_string_buffer(raw, len(raw))
    g = d_iov_t(C.cast(buf, C.c_void_p), len(raw), len(raw))
    d = C.c_void_p()
"""


def test_global_handle(libs, store, tmp_path):
    blob = str(tmp_path / "blob")
    owner = Owner(libs, store, OWNER_BLOB.format(blob=blob))
    assert owner.out == {"size_rc": 0, "small_rc": 105, "small_len_ok": True, "fill_rc": 0}  # ENOBUFS
    before = control.counters(store)
    res = run(libs, store, textwrap.dedent(ATTACH_BLOB.format(blob=blob)) + textwrap.dedent("""
        out["no_init"] = api.dfs_global2local_all(0, g, C.byref(d))
        api.dfs_init()
        bad = C.create_string_buffer(len(raw))
        out["bad_blob"] = api.dfs_global2local_all(0, d_iov_t(C.cast(bad, C.c_void_p), len(raw), len(raw)), C.byref(d))
        out["g2l"] = api.dfs_global2local_all(0, g, C.byref(d))
        out["data"] = api.get(d, "shared").decode()
        api.put(d, "child", b"rw inherited")
        out["disconnect"] = api.dfs_disconnect(d)
    """))
    owner.exit()
    assert res == {"no_init": 13, "bad_blob": 22, "g2l": 0, "data": "from the parent",
                   "disconnect": 0}
    after = control.counters(store)
    assert after["global2local"] == before["global2local"] + 1
    assert after["pool_connect"] == before["pool_connect"]  # no new pool connection
    assert after["local2global"] == 1
    assert control.get_file(store, "pool1", "cont1", "/child") == b"rw inherited"


@pytest.mark.parametrize("how", ["disconnect", "exit"])
def test_owner_disconnect_or_exit_revokes_attached_handles(libs, store, tmp_path, how):
    """Handles attached with global2local carry the owner's handle UUIDs: when the owner
    disconnects (or exits, and daos_agent evicts its handles) the server forgets them, and
    every later use fails: -DER_NO_HDL from daos_*, EINVAL (its errno) from dfs_*."""
    blob = str(tmp_path / "blob")
    owner = Owner(libs, store, OWNER_BLOB.format(blob=blob))
    script = textwrap.dedent(ATTACH_BLOB.format(blob=blob)) + textwrap.dedent("""
        api.dfs_init()
        api.check(api.dfs_global2local_all(0, g, C.byref(d)))
        out["before"] = api.get(d, "shared").decode()
        print("@@attached", flush=True)
        sys.stdin.readline()  # the owner gives its connection up meanwhile
        o = C.c_void_p()
        out["open"] = api.dfs_open(d, None, b"shared", S_IFREG, RO, 0, 0, None, C.byref(o))
        st = stat_t()
        out["stat"] = api.dfs_stat(d, None, b"shared", C.byref(st))
        out["g2l_again"] = api.dfs_global2local_all(0, g, C.byref(d))   # no RPC: it succeeds
        out["use_again"] = api.dfs_stat(d, None, b"shared", C.byref(st))
    """)
    env = control.env(store, libdfs=libs["libdfs"], base=os.environ)
    child = subprocess.Popen([sys.executable, "-c", PRELUDE.format(here=str(HERE), libdfs=libs["libdfs"])
                              + script + "\nemit()\n"], env=env, text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert child.stdout.readline().startswith("@@attached")
    if how == "disconnect":
        owner.do("api.dfs_disconnect(d); api.dfs_fini()")
    else:
        owner.exit()
    child.stdin.write("go\n")
    child.stdin.flush()
    res = json.loads(child.stdout.read().strip().splitlines()[-1][2:])
    assert child.wait(timeout=30) == 0
    assert res == {"before": "from the parent", "open": errno.EINVAL, "stat": errno.EINVAL,
                   "g2l_again": 0, "use_again": errno.EINVAL}
    if how == "disconnect":
        owner.exit()


# ---------------------------------------------------------------- namespace
def test_open_flag_semantics(libs, store):
    res = run(libs, store, """
        api.dfs_init()
        d = api.connect("pool1", "cont1", RW)
        def op(name, mode=S_IFREG | 0o644, flags=RW | os.O_CREAT, parent=None, value=None):
            o = C.c_void_p()
            rc = api.dfs_open(d, parent, name.encode(), mode, flags, 0, 0, value, C.byref(o))
            if rc == 0:
                api.dfs_release(o)
            return rc
        out["create"] = op("f")
        out["excl_existing"] = op("f", flags=RW | os.O_CREAT | os.O_EXCL)
        out["creat_existing"] = op("f")
        api.put(d, "g", b"0123456789")
        out["trunc"] = op("g", flags=RW | os.O_TRUNC)
        out["size_after_trunc"] = api.stat(d, None, "g").st_size
        out["append"] = op("f", flags=RW | os.O_APPEND)
        out["missing"] = op("nope", flags=RO)
        out["mkdir"] = api.dfs_mkdir(d, None, b"dir", 0o755, 0)
        out["mkdir_again"] = api.dfs_mkdir(d, None, b"dir", 0o755, 0)
        out["dir_as_file"] = op("dir", flags=RO)
        out["dir_as_file_creat"] = op("dir")
        out["file_as_dir"] = op("f", mode=S_IFDIR | 0o755, flags=RO)
        out["open_dir"] = op("dir", mode=S_IFDIR | 0o755, flags=RO)
        out["bad_name"] = op("a/b")
        out["empty_name"] = op("")
        out["symlink_no_value"] = op("l", mode=S_IFLNK | 0o777)
        out["symlink"] = op("l", mode=S_IFLNK | 0o777, value=b"f")
        out["symlink_open"] = op("l", mode=S_IFLNK | 0o777, flags=RO, value=b"f")
        out["symlink_exists"] = op("l", mode=S_IFLNK | 0o777, value=b"f")
        dirobj = api.lookup(d, "/dir")
        out["in_dir"] = op("inner", parent=dirobj)
        f = api.lookup(d, "/f")
        out["parent_not_dir"] = op("x", parent=f)
        w = api.open(d, None, "f", flags=RO)
        b = C.create_string_buffer(b"x")
        out["write_on_rdonly_obj"] = api.dfs_write(d, w, C.byref(api.sgl(b)), 0, None)
        r = api.connect("pool1", "cont1", RO)
        def rop(name, flags):
            o = C.c_void_p()
            return api.dfs_open(r, None, name.encode(), S_IFREG | 0o644, flags, 0, 0, None, C.byref(o))
        out["ro_creat"] = rop("new", RO | os.O_CREAT)
        out["ro_open"] = rop("f", RO)
        out["ro_mkdir"] = api.dfs_mkdir(r, None, b"d2", 0o755, 0)
        out["ro_remove"] = api.dfs_remove(r, None, b"f", False, None)
        out["ro_sync"] = api.dfs_sync(r)
        out["rw_sync"] = api.dfs_sync(d)
    """)
    assert res == {
        "create": 0, "excl_existing": 17, "creat_existing": 0, "trunc": 0,
        "size_after_trunc": 0, "append": 95, "missing": 2, "mkdir": 0, "mkdir_again": 17,
        "dir_as_file": 22, "dir_as_file_creat": 22, "file_as_dir": 20, "open_dir": 0,
        "bad_name": 22, "empty_name": 22, "symlink_no_value": 22, "symlink": 0,
        "symlink_open": 95, "symlink_exists": 17, "in_dir": 0, "parent_not_dir": 20, "write_on_rdonly_obj": 1,
        "ro_creat": 1, "ro_open": 0, "ro_mkdir": 1, "ro_remove": 1, "ro_sync": 1, "rw_sync": 0}


def test_lookup_and_stat(libs, store):
    control.put_file(store, "pool1", "cont1", "/a/b/file.bin", b"x" * 1000)
    control.put_symlink(store, "pool1", "cont1", "/a/link", "b/file.bin")
    control.put_symlink(store, "pool1", "cont1", "/a/dirlink", "b")
    res = run(libs, store, """
        api.dfs_init()
        d = api.connect("pool1", "cont1", RO)
        def lk(path, flags=RO):
            o, m, st = C.c_void_p(), C.c_uint32(), stat_t()
            rc = api.dfs_lookup(d, path.encode(), flags, C.byref(o), C.byref(m), C.byref(st))
            return rc, oct(m.value) if rc == 0 else None, st.st_size if rc == 0 else None
        out["root"] = lk("/")[:2]
        out["file"] = lk("/a/b/file.bin")
        out["double_slash"] = lk("//a//b/file.bin/")[:2]
        out["through_file"] = lk("/a/b/file.bin/x")[0]
        out["relative"] = lk("a/b")[0]
        out["missing"] = lk("/a/nope")[0]
        out["link_follow"] = lk("/a/link")
        out["link_nofollow"] = lk("/a/link", RO | os.O_NOFOLLOW)
        out["via_dirlink"] = lk("/a/dirlink/file.bin")[0]
        out["dotdot"] = lk("/a/b/../b/file.bin")[0]
        a = api.lookup(d, "/a")
        st = api.stat(d, a, "link")           # lstat semantics
        out["stat_link"] = [oct(st.st_mode), st.st_size]
        st = api.stat(d, a, "b")
        out["stat_dir"] = oct(st.st_mode)
        st = api.stat(d, None, None)
        out["stat_root"] = oct(st.st_mode)
        out["stat_null_name_not_root"] = api.dfs_stat(d, a, None, C.byref(stat_t()))
        out["stat_missing"] = api.dfs_stat(d, a, b"zz", C.byref(stat_t()))
        o, m = C.c_void_p(), C.c_uint32()
        out["lookup_rel"] = api.dfs_lookup_rel(d, a, b"link", RO, C.byref(o), C.byref(m), None)
        out["lookup_rel_mode"] = oct(m.value)
        f = api.lookup(d, "/a/b/file.bin")
        st = stat_t()
        out["ostat"] = [api.dfs_ostat(d, f, C.byref(st)), st.st_size]
        sz = u64()
        out["get_size"] = [api.dfs_get_size(d, f, C.byref(sz)), sz.value]
        out["mtime_recent"] = abs(st.st_mtim.tv_sec - time.time()) < 60
        # a read-write mount of its own (a read-write dfs_connect would share d's read-only handles)
        poh, coh, w = daos_handle_t(), daos_handle_t(), C.c_void_p()
        api.daos_pool_connect2(b"pool1", None, DAOS_PC_RW, C.byref(poh), None, None)
        api.daos_cont_open2(poh, b"cont1", DAOS_COO_RW, C.byref(coh), None, None)
        api.dfs_mount(poh, coh, RW, C.byref(w))
        out["remove"] = api.dfs_remove(w, api.lookup(w, "/a/b"), b"file.bin", False, None)
        out["ostat_after_remove"] = api.dfs_ostat(d, f, C.byref(st))
    """)
    assert res == {
        "root": [0, "0o40755"], "file": [0, "0o100644", 1000], "double_slash": [0, "0o100644"],
        "through_file": 2, "relative": 22, "missing": 2, "link_follow": [0, "0o100644", 1000],
        "link_nofollow": [0, "0o120777", 10], "via_dirlink": 0, "dotdot": 0,
        "stat_link": ["0o120777", 10], "stat_dir": "0o40755", "stat_root": "0o40755",
        "stat_null_name_not_root": 22, "stat_missing": 2, "lookup_rel": 0,
        "lookup_rel_mode": "0o100644", "ostat": [0, 1000], "get_size": [0, 1000],
        "mtime_recent": True, "remove": 0, "ostat_after_remove": 2}


def test_remove_semantics(libs, store):
    control.put_file(store, "pool1", "cont1", "/d/sub/f", b"1")
    control.put_file(store, "pool1", "cont1", "/d/g", b"2")
    res = run(libs, store, """
        api.dfs_init()
        d = api.connect("pool1", "cont1", RW)
        out["not_empty"] = api.dfs_remove(d, None, b"d", False, None)
        oid = daos_obj_id_t()
        out["force"] = api.dfs_remove(d, None, b"d", True, C.byref(oid))
        out["oid_is_dir"] = (oid.hi >> 56) == 1
        out["gone"] = api.dfs_stat(d, None, b"d", C.byref(stat_t()))
        out["missing"] = api.dfs_remove(d, None, b"d", False, None)
    """)
    assert res == {"not_empty": 39, "force": 0, "oid_is_dir": True, "gone": 2, "missing": 2}
    objs = next((store / "pools").glob("*/conts/*/objs"))
    assert len(list(objs.iterdir())) == 1  # only the root directory object is left
    assert control.counters(store)["remove"] == 1


# ---------------------------------------------------------------- synchronous I/O
def test_sync_io(libs, store):
    res = run(libs, store, """
        api.dfs_init()
        d = api.connect("pool1", "cont1", RW)
        f = api.open(d, None, "sparse")
        api.write(d, f, b"tail", off=100)
        out["size"] = api.stat(d, None, "sparse").st_size
        out["head"] = api.read(d, f, 4).hex()
        # several iovs are filled in order; a short read at EOF is no error
        b1, b2, b3 = C.create_string_buffer(50), C.create_string_buffer(50), C.create_string_buffer(50)
        s = api.sgl(b1, b2, b3)
        got = u64(12345)
        out["read_rc"] = api.dfs_read(d, f, C.byref(s), 0, C.byref(got), None)
        out["read_size"] = got.value
        out["iov3_tail"] = [b2.raw == bytes(50), b3.raw[:4].decode()]
        out["past_eof"] = len(api.read(d, f, 10, off=1000))
        out["punch_mid"] = api.dfs_punch(d, f, 100, 2)
        out["after_punch"] = api.read(d, f, 4, off=100).hex()
        out["truncate"] = api.dfs_punch(d, f, 50, DFS_MAX_FSIZE)
        out["size_after_truncate"] = api.stat(d, None, "sparse").st_size
        out["punch_beyond"] = api.dfs_punch(d, f, 1000, 10)
        zero = d_sg_list_t(0, 0, None)
        out["zero_len_read"] = api.dfs_read(d, f, C.byref(zero), 0, C.byref(got), None)
        out["zero_len_read_size"] = got.value
        out["read_null_size"] = api.dfs_read(d, f, C.byref(s), 0, None, None)
        out["read_dir"] = api.dfs_read(d, api.lookup(d, "/"), C.byref(s), 0, C.byref(got), None)
    """)
    assert res == {"size": 104, "head": "00000000", "read_rc": 0, "read_size": 104,
                   "iov3_tail": [True, "tail"], "past_eof": 0, "punch_mid": 0,
                   "after_punch": "0000696c", "truncate": 0,
                   "size_after_truncate": 50, "punch_beyond": 0, "zero_len_read": 0,
                   "zero_len_read_size": 0, "read_null_size": 22, "read_dir": 22}
    cnt = control.counters(store)
    assert cnt["bytes_written"] == 4 and cnt["punch"] == 3 and cnt["write"] == 1


# ---------------------------------------------------------------- async I/O and events
ASYNC_SETUP = """
    api.dfs_init()
    d = api.connect("pool1", "cont1", RW)
    N = 16
    for i in range(N):
        api.put(d, f"f{i}", bytes([65 + i]) * 100)
    eq = daos_handle_t()
    assert api.daos_eq_create(C.byref(eq)) == 0
    evs = (daos_event_t * N)()
    bufs = [C.create_string_buffer(100) for _ in range(N)]
    sgls = [api.sgl(b) for b in bufs]
    sizes = [u64(7777) for _ in range(N)]
    objs = [api.open(d, None, f"f{i}", flags=RO) for i in range(N)]
    def launch(i):
        return api.dfs_read(d, objs[i], C.byref(sgls[i]), 0, C.byref(sizes[i]), C.byref(evs[i]))
    def index_of(p):
        return (C.addressof(p.contents) - C.addressof(evs)) // C.sizeof(daos_event_t)
    for i in range(N):
        assert api.daos_event_init(C.byref(evs[i]), eq, None) == 0
"""


def test_async_completes_only_in_poll_in_random_order(libs, store):
    res = run(libs, store, ASYNC_SETUP + """
    for i in range(N):
        assert launch(i) == 0
    out["buffers_untouched"] = all(b.raw == bytes(100) for b in bufs)
    out["sizes_untouched"] = [x.value for x in sizes] == [7777] * N
    out["relaunch_running"] = launch(0)                     # event still in flight
    out["fini_running"] = api.daos_event_fini(C.byref(evs[0]))
    out["destroy_busy"] = api.daos_eq_destroy(eq, 0)
    out["poll_n0"] = api.daos_eq_poll(eq, 0, DAOS_EQ_NOWAIT, 0, None)
    ptrs = (C.POINTER(daos_event_t) * N)()
    order = []
    n = api.daos_eq_poll(eq, 0, DAOS_EQ_NOWAIT, 5, ptrs)      # at most 5
    out["first_poll"] = n
    order += [index_of(ptrs[k]) for k in range(n)]
    while len(order) < N:
        n = api.daos_eq_poll(eq, 1, 1000000, N, ptrs)
        assert n > 0
        order += [index_of(ptrs[k]) for k in range(n)]
    out["all_once"] = sorted(order) == list(range(N))
    out["order"] = order
    out["data_ok"] = all(bufs[i].raw == bytes([65 + i]) * 100 for i in range(N))
    out["sizes"] = sorted(set(x.value for x in sizes))
    out["errors"] = sorted(set(e.ev_error for e in evs))
    out["empty_poll_wait_running"] = api.daos_eq_poll(eq, 1, DAOS_EQ_WAIT, N, ptrs)
    t = time.monotonic()
    out["empty_poll_timeout"] = api.daos_eq_poll(eq, 0, 20000, N, ptrs)
    out["waited"] = time.monotonic() - t >= 0.015
    # reuse after completion; daos_event_test completes a single event
    bufs[3].raw = bytes(100)
    out["relaunch_done"] = launch(3)
    flag = C.c_bool(False)
    out["event_test"] = api.daos_event_test(C.byref(evs[3]), DAOS_EQ_NOWAIT, C.byref(flag))
    out["event_test_flag"] = flag.value
    out["event_test_data"] = bufs[3].raw[:3].decode()
    for i in range(N):
        assert api.daos_event_fini(C.byref(evs[i])) == 0
    out["destroy"] = api.daos_eq_destroy(eq, 0)
    out["destroy_again"] = api.daos_eq_destroy(eq, 0)
    """)
    order = res.pop("order")
    assert order != sorted(order)  # 16 events in launch order: probability 1/16!
    assert res == {"buffers_untouched": True, "sizes_untouched": True, "relaunch_running": 1,
                   "fini_running": -DER["DER_BUSY"], "destroy_busy": -DER["DER_BUSY"],
                   "poll_n0": -DER["DER_INVAL"], "first_poll": 5, "all_once": True,
                   "data_ok": True, "sizes": [100], "errors": [0],
                   "empty_poll_wait_running": 0, "empty_poll_timeout": 0, "waited": True,
                   "relaunch_done": 0, "event_test": 0, "event_test_flag": True,
                   "event_test_data": "DDD", "destroy": 0,
                   "destroy_again": -DER["DER_NONEXIST"]}
    cnt = control.counters(store)
    assert cnt["max_inflight"] == 16 and cnt["eq_create"] == 1 and cnt["eq_destroy"] == 1


def test_async_write_and_force_destroy(libs, store):
    res = run(libs, store, """
    api.dfs_init()
    d = api.connect("pool1", "cont1", RW)
    eq = daos_handle_t()
    api.daos_eq_create(C.byref(eq))
    f = api.open(d, None, "w")
    ev = daos_event_t()
    api.daos_event_init(C.byref(ev), eq, None)
    data = C.create_string_buffer(b"async!", 6)
    s = api.sgl(data)
    out["write_launch"] = api.dfs_write(d, f, C.byref(s), 0, C.byref(ev))
    out["size_before_poll"] = api.stat(d, None, "w").st_size
    p = (C.POINTER(daos_event_t) * 1)()
    out["poll"] = api.daos_eq_poll(eq, 0, DAOS_EQ_WAIT, 1, p)
    out["after_poll"] = api.get(d, "w").decode()
    # force-destroy with I/O in flight: DAOS flushes the context, so the I/O is performed and
    # the event completed (never polled out: its EQ is gone)
    buf = C.create_string_buffer(6)
    got = u64(99)
    out["read_launch"] = api.dfs_read(d, f, C.byref(api.sgl(buf)), 0, C.byref(got), C.byref(ev))
    out["destroy_force"] = api.daos_eq_destroy(eq, 1)
    out["completed_by_destroy"] = [ev.ev_error, buf.raw.decode(), got.value]
    out["fini_after_destroy"] = api.daos_event_fini(C.byref(ev))
    buf.raw = bytes(6)
    out["launch_on_destroyed_eq"] = api.dfs_read(d, f, C.byref(api.sgl(buf)), 0, C.byref(got), C.byref(ev))
    # an event without EQ is completed by daos_event_test
    ev2 = daos_event_t()
    out["init_no_eq"] = api.daos_event_init(C.byref(ev2), daos_handle_t(0), None)
    out["launch_no_eq"] = api.dfs_read(d, f, C.byref(api.sgl(buf)), 0, C.byref(got), C.byref(ev2))
    out["buf_before_test"] = buf.raw == bytes(6)
    flag = C.c_bool()
    out["test"] = api.daos_event_test(C.byref(ev2), DAOS_EQ_WAIT, C.byref(flag))
    out["flag"], out["data"] = flag.value, buf.raw.decode()
    out["uninit_event"] = api.dfs_read(d, f, C.byref(api.sgl(buf)), 0, C.byref(got), C.byref(daos_event_t()))
    """)
    assert res == {"write_launch": 0, "size_before_poll": 0, "poll": 1, "after_poll": "async!",
                   "read_launch": 0, "destroy_force": 0,
                   "completed_by_destroy": [0, "async!", 6],
                   "fini_after_destroy": -DER["DER_NONEXIST"], "launch_on_destroyed_eq": 2, "init_no_eq": 0, "launch_no_eq": 0,
                   "buf_before_test": True, "test": 0, "flag": True, "data": "async!",
                   "uninit_event": 22}


def test_async_faults_latency_short_read(libs, store):
    res = run(libs, store, ASYNC_SETUP + """
    for i in range(4):
        assert launch(i) == 0           # the 2nd read fails, but only at completion
    ptrs = (C.POINTER(daos_event_t) * N)()
    out["nowait_before_latency"] = api.daos_eq_poll(eq, 0, DAOS_EQ_NOWAIT, N, ptrs)
    t0, c0 = time.monotonic(), time.process_time()
    done = 0
    while done < 4:
        n = api.daos_eq_poll(eq, 1, 2000000, N, ptrs)
        assert n > 0
        done += n
    out["waited_for_latency"] = time.monotonic() - t0 >= 0.045
    out["no_busy_loop"] = time.process_time() - c0 < 0.03
    out["ev_errors"] = [evs[i].ev_error for i in range(4)]
    out["failed_buf_untouched"] = bufs[1].raw == bytes(100)
    out["short_size"] = sizes[2].value  # 3rd read: short (half)
    out["ok_size"] = sizes[3].value
    """, faults="dfs_read:2:EIO,dfs_read:3:short", latency={"dfs_read": 50000})
    assert res == {"nowait_before_latency": 0, "waited_for_latency": True,
                   "no_busy_loop": True, "ev_errors": [0, 5, 0, 0],
                   "failed_buf_untouched": True, "short_size": 50, "ok_size": 100}
    assert control.counters(store)["fault_injected"] == 2


ABORT_PROTO = """
    abort = api.lib.daos_event_abort
    abort.argtypes, abort.restype = [C.POINTER(daos_event_t)], C.c_int
"""


def test_failed_poll_and_abort_leave_io_in_flight(libs, store):
    """event.c: daos_eq_poll fails without reaping anything, daos_event_abort is a no-op on a
    running event, so the I/O still lands in the buffers at a later poll."""
    res = run(libs, store, ASYNC_SETUP + ABORT_PROTO + """
    for i in range(4):
        assert launch(i) == 0
    ptrs = (C.POINTER(daos_event_t) * N)()
    out["poll_fails"] = api.daos_eq_poll(eq, 1, 100000, N, ptrs)
    out["abort_running"] = [abort(C.byref(evs[i])) for i in range(4)]
    out["abort_again"] = abort(C.byref(evs[0]))
    out["still_in_flight"] = [api.daos_event_fini(C.byref(evs[0])), api.daos_eq_destroy(eq, 0)]
    out["untouched"] = all(b.raw == bytes(100) for b in bufs[:4])
    done = 0
    while done < 4:
        n = api.daos_eq_poll(eq, 1, 1000000, N, ptrs)
        assert n > 0
        done += n
    out["written_after_abort"] = all(bufs[i].raw == bytes([65 + i]) * 100 for i in range(4))
    out["errors"] = [evs[i].ev_error for i in range(4)]
    out["abort_polled_out"] = abort(C.byref(evs[0]))
    out["abort_uninit"] = abort(C.byref(daos_event_t()))
    """, faults="daos_eq_poll:1:DER_HG")
    assert res == {"poll_fails": -DER["DER_HG"], "abort_running": [0, 0, 0, 0], "abort_again": 0,
                   "still_in_flight": [-DER["DER_BUSY"], -DER["DER_BUSY"]], "untouched": True,
                   "written_after_abort": True, "errors": [0, 0, 0, 0],
                   "abort_polled_out": -DER["DER_NO_PERM"], "abort_uninit": -DER["DER_INVAL"]}
    assert control.counters(store)["event_abort"] == 6  # the uninitialised one is refused first


def test_launch_out_of_memory(libs, store):
    """DAOS 2.4+ dfs_read_int: dc_task_create failing makes the call fail (event untouched);
    the allocation after it failing returns 0 with ev_error set on an event never launched,
    which no daos_eq_poll returns; only daos_event_test says it is done."""
    res = run(libs, store, ASYNC_SETUP + """
    ptrs = (C.POINTER(daos_event_t) * N)()
    out["task_nomem"] = launch(0)
    out["task_nomem_event_reusable"] = launch(0)
    out["params_nomem"] = launch(1)
    out["params_ev_error"] = evs[1].ev_error
    n = 0
    for _ in range(3):
        n += api.daos_eq_poll(eq, 0, 20000, N, ptrs)
    out["polled"] = n  # only event 0
    flag = C.c_bool(False)
    out["event_test"] = [api.daos_event_test(C.byref(evs[1]), DAOS_EQ_NOWAIT, C.byref(flag)),
                         flag.value]
    out["fini_unqueued"] = api.daos_event_fini(C.byref(evs[1]))
    out["event_init_nomem"] = api.daos_event_init(C.byref(daos_event_t()), eq, None)
    w = api.open(d, None, "w", flags=RW | os.O_CREAT)
    ev = daos_event_t()
    api.daos_event_init(C.byref(ev), eq, None)
    out["write_task_nomem"] = api.dfs_write(d, w, C.byref(api.sgl(bufs[0])), 0, C.byref(ev))
    """, faults="dfs_read_task:1:ENOMEM,dfs_read_params:2:ENOMEM,daos_event_init:17:DER_NOMEM,"
                  "dfs_write_task:1:ENOMEM")
    assert res == {"task_nomem": errno.ENOMEM, "task_nomem_event_reusable": 0, "params_nomem": 0,
                   "params_ev_error": errno.ENOMEM, "polled": 1, "event_test": [0, True],
                   "fini_unqueued": 0, "event_init_nomem": -DER["DER_NOMEM"],
                   "write_task_nomem": errno.ENOMEM}


def test_fork_while_a_thread_is_inside_daos(libs, store):
    """A child forked while another thread waits in daos_eq_poll: on DAOS the locks and the
    network context that thread holds are never released in the child, and daos_reinit does
    not reset them; the double fails every DAOS call of that child instead of hanging."""
    res = run(libs, store, """
    import threading, control
    api.dfs_init()
    d = api.connect("pool1", "cont1", RW)
    api.put(d, "f", b"x")
    eq = daos_handle_t()
    api.daos_eq_create(C.byref(eq))
    p = (C.POINTER(daos_event_t) * 1)()
    t = threading.Thread(target=lambda: api.daos_eq_poll(eq, 0, 3000000, 1, p))
    t.start()
    while control.counters(os.environ["FAKE_DAOS_STORE"])["eq_poll"] == 0:
        time.sleep(0.001)
    r, w = os.pipe()
    err = os.path.join(os.environ["FAKE_DAOS_STORE"], "child.err")
    pid = os.fork()
    if pid == 0:
        os.dup2(os.open(err, os.O_WRONLY | os.O_CREAT, 0o644), 2)
        res = {"reinit": api.daos_reinit(), "eq_create": api.daos_eq_create(C.byref(daos_handle_t())),
               "dfs_init": api.dfs_init(),
               "lookup": api.dfs_lookup(d, b"/f", RO, C.byref(C.c_void_p()), None, None),
               "daos_init": api.daos_init()}
        os.write(w, json.dumps(res).encode())
        os._exit(0)
    os.close(w)
    _, st = os.waitpid(pid, 0)
    out.update(json.loads(os.read(r, 4096)))
    t.join()
    out["parent_fine"] = api.dfs_lookup(d, b"/f", RO, C.byref(C.c_void_p()), None, None)
    out["said"] = open(err).read()
    """)
    said = res.pop("said")
    assert "daos_reinit would deadlock on DAOS" in said and "inside daos_eq_poll" in said, said
    assert res == {"reinit": -DER["DER_BUSY"], "eq_create": -DER["DER_BUSY"],
                   "dfs_init": errno.EDEADLK, "lookup": errno.EDEADLK,
                   "daos_init": -DER["DER_BUSY"], "parent_fine": 0}


# ---------------------------------------------------------------- faults and latency
def test_sync_faults(libs, store):
    res = run(libs, store, """
    out["init"] = api.dfs_init()
    d = api.connect("pool1", "cont1", RW)
    api.put(d, "f", b"0123456789")       # dfs_open #1
    def op():
        o = C.c_void_p()
        rc = api.dfs_open(d, None, b"f", S_IFREG | 0o644, RO, 0, 0, None, C.byref(o))
        if rc == 0:
            api.dfs_release(o)
        return rc
    out["opens"] = [op() for _ in range(4)]   # opens #2..#5
    poh = daos_handle_t()
    out["pool_connects"] = [api.daos_pool_connect2(b"pool1", None, DAOS_PC_RO, C.byref(poh), None, None) for _ in range(2)]
    out["stats"] = [api.dfs_stat(d, None, b"f", C.byref(stat_t())) for _ in range(3)]
    eq = daos_handle_t()
    api.daos_eq_create(C.byref(eq))
    p = (C.POINTER(daos_event_t) * 1)()
    out["polls"] = [api.daos_eq_poll(eq, 0, 0, 1, p) for _ in range(2)]
    f = api.open(d, None, "f", flags=RO)
    out["reads"] = [len(api.read(d, f, 10)) for _ in range(3)]
    """, faults="dfs_open:3:EIO,dfs_open:5:28,daos_pool_connect2:1:DER_NO_PERM,"
                "dfs_stat:*:ENOSPC,daos_eq_poll:1:-1012", short_read=2)
    assert res == {"init": 0, "opens": [0, 5, 0, 28], "pool_connects": [-1001, 0],
                   "stats": [28, 28, 28], "polls": [-1012, 0], "reads": [10, 5, 10]}
    assert control.counters(store)["fault_injected"] == 8
    # a malformed spec makes daos_init fail loudly
    for kw in ({"faults": "dfs_open:zero:EIO"}, {"faults": "dfs_opne:1:EIO"},
               {"faults": "dfs_open:1:short"}, {"faults": "dfs_open:1:EWHAT"},
               {"latency": "dfs_reed=5"}, {"crash_at": "move:somewhere"}):
        bad = run(libs, store, 'out["init"] = api.daos_init()', **kw)
        assert bad == {"init": -DER["DER_INVAL"]}, kw


def test_sync_latency(libs, store):
    res = run(libs, store, """
    api.dfs_init()
    d = api.connect("pool1", "cont1", RW)
    t = time.monotonic()
    api.put(d, "f", b"x")
    out["open_ms"] = (time.monotonic() - t) * 1000
    t = time.monotonic()
    api.stat(d, None, "f")
    out["stat_ms"] = (time.monotonic() - t) * 1000
    """, latency="dfs_open=40000")
    assert res["open_ms"] >= 40 and res["stat_ms"] < 30


# ---------------------------------------------------------------- rename
MOVE_SETUP = """
    api.dfs_init()
    d = api.connect("pool1", "cont1", RW)
    def mv(a, b, pa=None, pb=None):
        oid = daos_obj_id_t()
        rc = api.dfs_move(d, pa, a.encode(), pb, b.encode(), C.byref(oid))
        return rc, oid
"""


def test_move_semantics(libs, store):
    for name, data in (("src", b"new"), ("dst", b"old"), ("plain", b"p")):
        control.put_file(store, "pool1", "cont1", "/" + name, data)
    control.makedirs(store, "pool1", "cont1", "/full/x")
    control.makedirs(store, "pool1", "cont1", "/empty")
    control.makedirs(store, "pool1", "cont1", "/d2")
    res = run(libs, store, MOVE_SETUP + """
    dst_oid = daos_obj_id_t()
    o = api.lookup(d, "/dst")
    assert api.dfs_obj2id(o, C.byref(dst_oid)) == 0
    rc, oid = mv("src", "dst")
    out["replace"] = rc
    out["returned_target_oid"] = (oid.lo, oid.hi) == (dst_oid.lo, dst_oid.hi)
    out["dst_data"] = api.get(d, "dst").decode()
    out["src_gone"] = api.dfs_stat(d, None, b"src", C.byref(stat_t()))
    out["old_handle_reads_punched"] = len(api.read(d, o, 10))
    out["file_over_dir"] = mv("plain", "empty")[0]
    out["dir_over_full_dir"] = mv("empty", "full")[0]
    out["dir_over_empty_dir"] = mv("d2", "empty")[0]
    out["missing"] = mv("nope", "x")[0]
    full = api.lookup(d, "/full")
    out["across_dirs"] = mv("plain", "moved", None, full)[0]
    out["moved_data"] = api.get(d, "moved", parent=full).decode()
    r = api.connect("pool1", "cont1", RO)
    out["ro"] = api.dfs_move(r, None, b"dst", None, b"z", None)
    """)
    assert res == {"replace": 0, "returned_target_oid": True, "dst_data": "new", "src_gone": 2,
                   "old_handle_reads_punched": 0, "file_over_dir": 22, "dir_over_full_dir": 39,
                   "dir_over_empty_dir": 0, "missing": 2, "across_dirs": 0,
                   "moved_data": "p", "ro": 1}
    assert sorted(control.listdir(store, "pool1", "cont1", "/")) == ["dst", "empty", "full"]


@pytest.mark.parametrize("dtx", [False, True], ids=["plain", "dtx"])
def test_move_onto_itself_destroys_like_libdfs(libs, store, dtx):
    """dfs_move_internal has no same-name check: the entry is its own target, so it is removed
    (object punched), re-inserted, and punched again as the source. With DTX the same writes
    land in issue order; a symlink's re-insert comes last there, so it survives."""
    control.put_file(store, "pool1", "cont1", "/f", b"data")
    control.put_symlink(store, "pool1", "cont1", "/l", "f")
    control.makedirs(store, "pool1", "cont1", "/empty")
    control.makedirs(store, "pool1", "cont1", "/full/x")
    res = run(libs, store, MOVE_SETUP + """
    o = api.lookup(d, "/f")
    f_oid = daos_obj_id_t()
    api.dfs_obj2id(o, C.byref(f_oid))
    def gone(name):
        return api.dfs_stat(d, None, name.encode(), C.byref(stat_t())) == E.ENOENT
    rc, oid = mv("f", "f")
    out["file"] = (rc, gone("f"), len(api.read(d, o, 10)), (oid.lo, oid.hi) == (f_oid.lo, f_oid.hi))
    out["symlink"] = (mv("l", "l")[0], gone("l"))
    out["empty_dir"] = (mv("empty", "empty")[0], gone("empty"))
    out["full_dir"] = (mv("full", "full")[0], gone("full"))
    """, use_dtx=dtx)
    assert res["file"] == [0, True, 0, True]  # the name is gone and its data punched
    assert res["symlink"] == ([0, False] if dtx else [E.ENOENT, True])
    assert res["empty_dir"] == [0, True]
    assert res["full_dir"] == [E.ENOTEMPTY, False]


@pytest.mark.parametrize("dtx", [False, True], ids=["plain", "dtx"])
def test_move_between_two_names_of_one_object_punches_it(libs, store, dtx):
    """After a crash inside a non-DTX move, two names refer to one object; moving one onto
    the other removes the target first, which punches the object both names share."""
    control.put_file(store, "pool1", "cont1", "/tmp", b"committed data")
    run(libs, store, MOVE_SETUP + '    mv("tmp", "v1")', crash_at="move:after_insert",
        expect_rc=control.CRASH_EXIT)
    assert control.get_file(store, "pool1", "cont1", "/v1") == b"committed data"
    res = run(libs, store, MOVE_SETUP + """
    # libdfs's entry_stat leaves st_ino 0: stat cannot tell that the names share an object
    out["st_ino"] = [api.stat(d, None, n).st_ino for n in ("tmp", "v1")]
    oids = [daos_obj_id_t(), daos_obj_id_t()]
    for n, oid in zip(("/tmp", "/v1"), oids):
        api.dfs_obj2id(api.lookup(d, n), C.byref(oid))
    out["same_oid"] = (oids[0].lo, oids[0].hi) == (oids[1].lo, oids[1].hi)
    out["rc"] = mv("tmp", "v1")[0]
    """, use_dtx=dtx)
    assert res == {"st_ino": [0, 0], "same_oid": True, "rc": 0}
    assert sorted(control.listdir(store, "pool1", "cont1", "/")) == ["v1"]
    assert control.get_file(store, "pool1", "cont1", "/v1") == b""  # punched


# (crash point, file moved onto an existing target?) -> names left, and what each one reads
MOVE_CRASHES = {
    ("move:after_punch_target", True): {"ckpt": b"", "ckpt.tmp": b"new"},
    ("move:after_remove_target", True): {"ckpt.tmp": b"new"},
    ("move:after_insert", True): {"ckpt": b"new", "ckpt.tmp": b"new"},
    ("move:after_remove_source", True): {"ckpt": b"new"},
    ("move:after_insert", False): {"ckpt": b"new", "ckpt.tmp": b"new"},
    ("move:after_remove_source", False): {"ckpt": b"new"},
}


@pytest.mark.parametrize("point,replace", list(MOVE_CRASHES))
def test_move_crash_points(libs, store, point, replace):
    """A crash right after each DAOS update of a non-DTX dfs_move leaves exactly the updates
    done so far (both names on one object after the insert)."""
    control.put_file(store, "pool1", "cont1", "/ckpt.tmp", b"new")
    if replace:
        control.put_file(store, "pool1", "cont1", "/ckpt", b"old")
    res = run(libs, store, MOVE_SETUP + """
    mv("ckpt.tmp", "ckpt")
    out["survived"] = True
    """, crash_at=point, expect_rc=control.CRASH_EXIT)
    assert res is None
    left = {n: control.get_file(store, "pool1", "cont1", "/" + n)
            for n in control.listdir(store, "pool1", "cont1", "/")}
    assert left == MOVE_CRASHES[point, replace]


def test_move_crash_points_not_reached(libs, store):
    """A step that does not happen has no crash point: no target, nothing punched or removed."""
    control.put_file(store, "pool1", "cont1", "/ckpt.tmp", b"new")
    res = run(libs, store, MOVE_SETUP + '    out["rc"] = mv("ckpt.tmp", "ckpt")[0]',
              crash_at="move:after_punch_target,move:after_remove_target")
    assert res == {"rc": 0}


def test_move_symlink_crash_points(libs, store):
    """A symlink is removed before it is inserted (remove_entry, then insert_entry)."""
    control.put_symlink(store, "pool1", "cont1", "/l", "target")
    run(libs, store, MOVE_SETUP + '    mv("l", "m")', crash_at="move:after_remove_source",
        expect_rc=control.CRASH_EXIT)
    assert control.listdir(store, "pool1", "cont1", "/") == {}


def test_crash_point_at_its_nth_step(libs, store):
    """"point@N" crashes the Nth time the step is reached in the process: the second move."""
    for n in ("a", "b"):
        control.put_file(store, "pool1", "cont1", "/" + n, n.encode())
    res = run(libs, store, MOVE_SETUP + """
    out["first"] = mv("a", "a2")[0]
    mv("b", "b2")
    """, crash_at="move:after_insert@2", expect_rc=control.CRASH_EXIT)
    assert res is None
    assert sorted(control.listdir(store, "pool1", "cont1", "/")) == ["a2", "b", "b2"]
    for bad in ("move:after_insert@0", "move:after_insert@x", "move:after_insert@"):
        assert run(libs, store, 'out["init"] = api.daos_init()', crash_at=bad) == \
            {"init": -DER["DER_INVAL"]}, bad


def test_move_with_dtx_is_atomic(libs, store):
    control.put_file(store, "pool1", "cont1", "/ckpt.tmp", b"new")
    control.put_file(store, "pool1", "cont1", "/ckpt", b"old")
    res = run(libs, store, MOVE_SETUP + """
    out["rc"] = mv("ckpt.tmp", "ckpt")[0]
    out["data"] = api.get(d, "ckpt").decode()
    """, use_dtx=True, crash_at="move:after_punch_target,move:after_remove_target,move:after_insert,"
                                "move:after_remove_source")
    assert res == {"rc": 0, "data": "new"}
    assert sorted(control.listdir(store, "pool1", "cont1", "/")) == ["ckpt"]
    objs = next((store / "pools").glob("*/conts/*/objs"))
    assert len([p for p in objs.iterdir() if p.is_file()]) == 1  # old data object punched


# ---------------------------------------------------------------- listing and anchors
def test_readdir_hash_order_and_batches(libs, store):
    names = [f"sample_{i:04d}.npy" for i in range(60)]
    for n in names:
        control.put_file(store, "pool1", "cont1", "/data/" + n, b"z" * 3)
    control.makedirs(store, "pool1", "cont1", "/data/subdir")
    res = run(libs, store, """
    api.dfs_init()
    d = api.connect("pool1", "cont1", RO)
    data = api.lookup(d, "/data")
    out["batch7"] = api.readdir(d, data, batch=7)
    out["batch1000"] = api.readdir(d, data, batch=1000)
    plus = api.readdir(d, data, batch=9, plus=True)
    out["plus"] = {n: [oct(m), s] for n, m, s in plus}
    a = daos_anchor_t()
    nr = u32(0)
    ents = (dirent * 4)()
    out["nr0"] = [api.dfs_readdir(d, data, C.byref(a), C.byref(nr), ents), nr.value]
    api.readdir(d, data, batch=50, anchor=a)
    nr = u32(4)
    out["after_end"] = [api.dfs_readdir(d, data, C.byref(a), C.byref(nr), ents), nr.value]
    out["eof_type"] = a.da_type
    f = api.lookup(d, "/data/subdir")
    out["file_notdir"] = api.dfs_readdir(d, api.lookup(d, "/data/sample_0001.npy"), C.byref(daos_anchor_t()), C.byref(u32(4)), ents)
    out["null_anchor"] = api.dfs_readdir(d, data, None, C.byref(u32(4)), ents)
    """)
    expect = sorted(names + ["subdir"])
    assert sorted(res["batch7"]) == expect and len(res["batch7"]) == len(expect)
    assert res["batch7"] == res["batch1000"]  # deterministic hash order
    assert res["batch7"] != expect  # ... which is not name order
    assert res["plus"]["subdir"][0] == "0o40755"
    assert res["plus"]["sample_0007.npy"] == ["0o100644", 3]
    assert res["nr0"] == [0, 0] and res["after_end"] == [0, 0] and res["eof_type"] == 3
    assert res["file_notdir"] == 20 and res["null_anchor"] == 22
    cnt = control.counters(store)
    assert cnt["readdirplus"] >= 7 and cnt["readdir_entries"] >= 3 * 61


def test_anchor_split_and_set(libs, tmp_path):
    s = tmp_path / "store"
    control.create_pool(s, "pool1")
    control.create_container(s, "pool1", "sx", dir_shards=4)
    control.create_container(s, "pool1", "s1")
    for i in range(40):
        control.put_file(s, "pool1", "sx", f"/d/f{i}", b"")
    res = run(libs, s, """
    api.dfs_init()
    d = api.connect("pool1", "sx", RW)
    dobj = api.lookup(d, "/d")
    nr = u32(0)
    out["split0"] = [api.dfs_obj_anchor_split(dobj, C.byref(nr), None), nr.value]
    anchors = (daos_anchor_t * 4)()
    nr = u32(4)
    out["split4"] = api.dfs_obj_anchor_split(dobj, C.byref(nr), anchors)
    out["anchors"] = [[x.da_type, x.da_shard, x.da_flags] for x in anchors]
    nr = u32(3)
    out["split3"] = api.dfs_obj_anchor_split(dobj, C.byref(nr), None)
    out["split_file"] = api.dfs_obj_anchor_split(api.lookup(d, "/d/f1"), C.byref(u32(0)), None)
    parts = []
    for i in range(4):
        a = daos_anchor_t()
        assert api.dfs_obj_anchor_set(dobj, i, C.byref(a)) == 0
        parts.append(api.readdir(d, dobj, batch=5, anchor=a))
    out["parts"] = parts
    a = daos_anchor_t()
    out["set_bad_index"] = api.dfs_obj_anchor_set(dobj, 9, C.byref(a))
    out["list_bad_index"] = api.dfs_readdir(d, dobj, C.byref(a), C.byref(u32(4)), (dirent * 4)())
    out["mkdir_s2"] = api.dfs_mkdir(d, None, b"s2dir", 0o755, api.daos_oclass_name2id(b"S2"))
    nr = u32(0)
    api.dfs_obj_anchor_split(api.lookup(d, "/s2dir"), C.byref(nr), None)
    out["s2_split"] = nr.value
    d1 = api.connect("pool1", "s1", RO)
    nr = u32(0)
    api.dfs_obj_anchor_split(api.lookup(d1, "/"), C.byref(nr), None)
    out["s1_split"] = nr.value
    """)
    parts = res.pop("parts")
    assert sum(len(p) for p in parts) == 40
    assert sorted(sum(parts, [])) == sorted(f"f{i}" for i in range(40))  # disjoint, complete
    assert sum(1 for p in parts if p) >= 2
    assert res == {"split0": [0, 4], "split4": 0,
                   "anchors": [[0, i, 0x20] for i in range(4)], "split3": 22,
                   "split_file": 22, "set_bad_index": 0, "list_bad_index": 22, "mkdir_s2": 0,
                   "s2_split": 2, "s1_split": 1}
    cnt = control.counters(s)
    assert cnt["anchor_split"] >= 4 and cnt["anchor_set"] == 5


def test_data_is_stored_under_opaque_names(libs, store):
    res = run(libs, store, """
    api.dfs_init()
    d = api.connect("pool1", "cont1", RW)
    api.dfs_mkdir(d, None, b"imagenet_train", 0o755, 0)
    t = api.lookup(d, "/imagenet_train")
    for i in range(5):
        api.put(d, f"n01440764_{i}.JPEG", b"JPEGDATA", parent=t)
    api.put(d, "checkpoint_epoch3.pt", b"weights")
    out["ok"] = True
    """)
    assert res == {"ok": True}
    assert control.get_file(store, "pool1", "cont1", "/imagenet_train/n01440764_3.JPEG") \
        == b"JPEGDATA"
    hits = []
    for dirpath, dirnames, filenames in os.walk(store):
        for n in dirnames + filenames:
            if any(w in n for w in ("imagenet", "n01440764", "JPEG", "checkpoint", "epoch")):
                hits.append(os.path.join(dirpath, n))
    assert hits == []
    for dirpath, _, filenames in os.walk(store / "pools"):
        for n in filenames:
            assert n == "meta" or len(n) == 32 and int(n, 16) >= 0, n


# ---------------------------------------------------------------- processes
def test_counters_shared_across_processes(libs, store):
    control.put_file(store, "pool1", "cont1", "/f", b"abc")
    code = """
    api.dfs_init()
    d = api.connect("pool1", "cont1", RO)
    for _ in range(2):
        api.get(d, "f")
    """
    env = control.env(store, libdfs=libs["libdfs"], base=os.environ)
    script = PRELUDE.format(here=str(HERE), libdfs=libs["libdfs"]) + textwrap.dedent(code)
    procs = [subprocess.Popen([sys.executable, "-c", script], env=env) for _ in range(3)]
    assert [p.wait(timeout=30) for p in procs] == [0, 0, 0]
    cnt = control.counters(store)
    assert cnt["read"] == 6 and cnt["bytes_read"] == 18 and cnt["pool_connect"] == 3
    assert cnt["init"] == 3


def test_concurrent_exclusive_create(libs, store, tmp_path):
    start = time.time() + 0.5
    code = f"""
    api.dfs_init()
    d = api.connect("pool1", "cont1", RW)
    while time.time() < {start}:
        time.sleep(0.001)
    o = C.c_void_p()
    rc = api.dfs_open(d, None, b"lock", S_IFREG | 0o644, RW | os.O_CREAT | os.O_EXCL, 0, 0, None, C.byref(o))
    rc2 = api.dfs_mkdir(d, None, b"dir", 0o755, 0)
    print("@@" + json.dumps({{"rc": rc, "mkdir": rc2}}))
    """
    env = control.env(store, libdfs=libs["libdfs"], base=os.environ)
    script = PRELUDE.format(here=str(HERE), libdfs=libs["libdfs"]) + textwrap.dedent(code)
    procs = [subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE,
                              text=True) for _ in range(6)]
    results = [json.loads(p.communicate(timeout=30)[0].strip().splitlines()[-1][2:])
               for p in procs]
    assert sorted(r["rc"] for r in results) == [0] + [17] * 5
    assert sorted(r["mkdir"] for r in results) == [0] + [17] * 5
    objs = next((store / "pools").glob("*/conts/*/objs"))
    assert len(list(objs.iterdir())) == 3  # root, one file, one directory: losers cleaned up
    tmp = next((store / "pools").glob("*/conts/*/tmp"))
    assert list(tmp.iterdir()) == []


FORK_CODE = """
api.dfs_init()
d = api.connect("pool1", "cont1", RW)
api.put(d, "f", b"forked")
eq = daos_handle_t()
api.daos_eq_create(C.byref(eq))
f = api.open(d, None, "f", flags=RO)
buf = C.create_string_buffer(6)
got = u64()
p = (C.POINTER(daos_event_t) * 1)()
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    res = {}
    res["read_no_reinit"] = api.dfs_read(d, f, C.byref(api.sgl(buf)), 0, C.byref(got), None)
    res["eq_create_no_reinit"] = api.daos_eq_create(C.byref(daos_handle_t()))
    res["poll_no_reinit"] = api.daos_eq_poll(eq, 0, 0, 1, p)
    res["dfs_init_allowed"] = api.dfs_init()
    if api.has("daos_reinit"):
        res["reinit"] = api.daos_reinit()
        res["old_eq_poll"] = api.daos_eq_poll(eq, 0, 0, 1, p)
        res["old_eq_event_init"] = api.daos_event_init(C.byref(daos_event_t()), eq, None)
        eq2 = daos_handle_t()
        res["new_eq"] = api.daos_eq_create(C.byref(eq2))
        res["inherited_dfs_read"] = api.dfs_read(d, f, C.byref(api.sgl(buf)), 0, C.byref(got), None)
        ev = daos_event_t()
        api.daos_event_init(C.byref(ev), eq2, None)
        buf.raw = bytes(6)
        api.dfs_read(d, f, C.byref(api.sgl(buf)), 0, C.byref(got), C.byref(ev))
        res["async_after_reinit"] = [api.daos_eq_poll(eq2, 0, DAOS_EQ_WAIT, 1, p), buf.raw.decode()]
    os.write(w, json.dumps(res).encode())
    os._exit(0)
os.close(w)
data = b""
while True:
    chunk = os.read(r, 65536)
    if not chunk:
        break
    data += chunk
os.waitpid(pid, 0)
out.update(json.loads(data))
out["parent_still_fine"] = api.daos_eq_poll(eq, 0, 0, 1, p)
"""


def test_fork_requires_reinit(libs, store):
    res = run(libs, store, FORK_CODE)
    assert res == {"read_no_reinit": 9, "eq_create_no_reinit": -DER["DER_NO_HDL"],
                   "poll_no_reinit": -DER["DER_NO_HDL"], "dfs_init_allowed": 0, "reinit": 0,
                   "old_eq_poll": -DER["DER_NO_HDL"], "old_eq_event_init": -DER["DER_NO_HDL"],
                   "new_eq": 0, "inherited_dfs_read": 0, "async_after_reinit": [1, "forked"],
                   "parent_still_fine": 0}
    assert control.counters(store)["reinit"] == 1


def test_fork_without_daos_reinit(old_libs, store):
    """DAOS < 2.6.4: a forked child cannot use what it inherited (no daos_reinit to call)."""
    res = run(old_libs, store, """
    api.daos_init()
    poh, coh = daos_handle_t(), daos_handle_t()
    api.daos_pool_connect2(b"pool1", None, DAOS_PC_RW, C.byref(poh), None, None)
    api.daos_cont_open2(poh, b"cont1", DAOS_COO_RW, C.byref(coh), None, None)
    d = C.c_void_p()
    assert api.dfs_mount(poh, coh, RW, C.byref(d)) == 0
    api.put(d, "f", b"x")
    pid = os.fork()
    if pid == 0:
        o = C.c_void_p()
        os._exit(api.dfs_lookup(d, b"/f", RO, C.byref(o), None, None))
    _, st = os.waitpid(pid, 0)
    out["child_lookup"] = os.WEXITSTATUS(st)
    out["parent_lookup"] = api.dfs_lookup(d, b"/f", RO, C.byref(C.c_void_p()), None, None)
    out["has_reinit"] = api.has("daos_reinit")
    """)
    assert res == {"child_lookup": 9, "parent_lookup": 0, "has_reinit": False}


# ---------------------------------------------------------------- misc
def test_oclass_name2id(libs, store):
    res = run(libs, store, """
    for n in ["S1", "S2", "SX", "RP_2G1", "RP_3GX", "EC_2P1G1", "EC_16P3GX", "S3", "OC_S1", "",
              "RP_2G6", "EC_2P1G6", "bogus"]:
        out[n] = api.daos_oclass_name2id(n.encode())
    """)
    assert res == {"S1": (1 << 24) | 1, "S2": (1 << 24) | 2, "SX": (1 << 24) | 0xFFFF,
                   "RP_2G1": (8 << 24) | 1, "RP_3GX": (9 << 24) | 0xFFFF,
                   "EC_2P1G1": (32 << 24) | 1, "EC_16P3GX": (42 << 24) | 0xFFFF, "S3": 0,
                   "OC_S1": 0, "": 0, "RP_2G6": (8 << 24) | 6, "EC_2P1G6": 0, "bogus": 0}


def test_python_and_c_share_the_layout(libs, store):
    control.put_file(store, "pool1", "cont1", "/py/written.bin", b"from python")
    res = run(libs, store, """
    api.dfs_init()
    d = api.connect("pool1", "cont1", RW)
    out["c_reads_py"] = api.get(d, "written.bin", parent=api.lookup(d, "/py")).decode()
    api.put(d, "from_c", b"from C", parent=api.lookup(d, "/py"))
    """)
    assert res == {"c_reads_py": "from python"}
    assert control.get_file(store, "pool1", "cont1", "/py/from_c") == b"from C"
    assert sorted(control.listdir(store, "pool1", "cont1", "/py")) == ["from_c", "written.bin"]
    with pytest.raises(FileExistsError):
        control.create_pool(store, "pool1")
    with pytest.raises(ValueError):
        control.create_container(store, "pool1", "12345678-1234-1234-1234-123456789012")


def test_handles_refused_after_fini(libs, store):
    res = run(libs, store, """
    api.dfs_init()
    d = api.connect("pool1", "cont1", RW)
    api.put(d, "f", b"x")
    out["fini"] = api.dfs_fini()
    o = C.c_void_p()
    out["lookup_after_fini"] = api.dfs_lookup(d, b"/f", RO, C.byref(o), None, None)
    out["disconnect_after_fini"] = api.dfs_disconnect(d)
    out["fini_again"] = api.dfs_fini()
    api.dfs_init()
    out["lookup_after_reinit"] = api.dfs_lookup(d, b"/f", RO, C.byref(o), None, None)
    """)
    assert res == {"fini": 0, "lookup_after_fini": 22, "disconnect_after_fini": 22,
                   "fini_again": 22, "lookup_after_reinit": 22}


def test_threads_share_objects_and_eq(libs, tmp_path):
    s = tmp_path / "store"
    control.create_pool(s, "pool1")
    control.create_container(s, "pool1", "sx", dir_shards=4)
    for i in range(40):
        control.put_file(s, "pool1", "sx", f"/d/f{i}", bytes([i]) * 64)
    res = run(libs, s, """
    import threading
    api.dfs_init()
    d = api.connect("pool1", "sx", RO)
    dobj = api.lookup(d, "/d")
    parts = [None] * 4
    def lister(i):
        a = daos_anchor_t()
        api.dfs_obj_anchor_set(dobj, i, C.byref(a))
        parts[i] = api.readdir(d, dobj, batch=2, anchor=a, plus=(i % 2 == 0))
    eq = daos_handle_t()
    api.daos_eq_create(C.byref(eq))
    PER = 40
    evs = (daos_event_t * (4 * PER))()
    bufs = [C.create_string_buffer(64) for _ in range(4 * PER)]
    keep = []
    def reader(t):
        for k in range(PER):
            j = t * PER + k
            api.daos_event_init(C.byref(evs[j]), eq, None)
            o = api.open(d, dobj, f"f{j % 40}", flags=RO)
            s_ = api.sgl(bufs[j]); got = u64()
            keep.append((o, s_, got))
            assert api.dfs_read(d, o, C.byref(s_), 0, C.byref(got), C.byref(evs[j])) == 0
    done = []
    def poller():
        p = (C.POINTER(daos_event_t) * 7)()
        while len(done) < 4 * PER:
            n = api.daos_eq_poll(eq, 0, 200000, 7, p)
            assert n >= 0
            done.extend(C.addressof(p[k].contents) for k in range(n))
    ths = [threading.Thread(target=lister, args=(i,)) for i in range(4)]
    ths += [threading.Thread(target=reader, args=(t,)) for t in range(4)]
    ths.append(threading.Thread(target=poller))
    for t in ths: t.start()
    for t in ths: t.join(20)
    names = [x if isinstance(x, str) else x[0] for p in parts for x in p]
    out["listed"] = sorted(names) == sorted(f"f{i}" for i in range(40))
    out["completed"] = len(set(done)) == 4 * PER
    out["data_ok"] = all(bufs[j].raw == bytes([j % 40]) * 64 for j in range(4 * PER))
    out["errors"] = sorted(set(e.ev_error for e in evs))
    """)
    assert res == {"listed": True, "completed": True, "data_ok": True, "errors": [0]}


def test_stale_directory_handle_behaves_as_a_punched_object(libs, store):
    """A directory removed (and re-made) by another mount: the old handle names DAOS's punched
    object. Creating through it succeeds into an orphan nobody can reach, and listing through
    it finds nothing; the re-made directory does not see the orphan (dir.c/obj.c insert into
    the parent's object id, which a punch leaves usable)."""
    res = run(libs, store, """
        api.dfs_init()
        a = api.connect("pool1", "cont1", RW)
        api.check(api.dfs_mkdir(a, None, b"d", 0o40755, 0))
        stale = api.lookup(a, "/d", RW)
        api.put(a, "x", b"1", parent=stale)
        # another mount of its own removes /d and makes it again
        poh, coh, b = daos_handle_t(), daos_handle_t(), C.c_void_p()
        api.daos_pool_connect2(b"pool1", None, DAOS_PC_RW, C.byref(poh), None, None)
        api.daos_cont_open2(poh, b"cont1", DAOS_COO_RW, C.byref(coh), None, None)
        api.dfs_mount(poh, coh, RW, C.byref(b))
        out["remove"] = api.dfs_remove(b, None, b"d", True, None)
        out["mkdir"] = api.dfs_mkdir(b, None, b"d", 0o40755, 0)
        fresh = api.lookup(b, "/d", RW)
        api.put(b, "z", b"2", parent=fresh)
        out["list_stale_before"] = api.readdir(a, stale)
        o = C.c_void_p()
        out["create_stale"] = api.dfs_open(a, stale, b"y", S_IFREG | 0o644, RW | os.O_CREAT, 0, 0, None, C.byref(o))
        api.dfs_release(o)
        out["mkdir_stale"] = api.dfs_mkdir(a, stale, b"sub", 0o40755, 0)
        out["list_stale"] = sorted(api.readdir(a, stale))
        out["list_fresh"] = sorted(api.readdir(b, fresh))
        out["via_path"] = api.dfs_stat(b, fresh, b"y", C.byref(stat_t()))
    """)
    assert res == {"remove": 0, "mkdir": 0, "list_stale_before": [], "create_stale": 0, "mkdir_stale": 0,
                   "list_stale": ["sub", "y"], "list_fresh": ["z"], "via_path": errno.ENOENT}
