"""pydaos_torch.fsspec: the ``daos`` protocol. fsspec's own conformance suite (the
``fsspec.tests.abstract`` classes: copy, get, put, open, pipe) on the local backend and the
dfs double, then our own behaviour: names, errors, atomic writes, batch ranges, pickling,
forked workers."""
from __future__ import annotations

import io
import os
import pickle
import posixpath
import subprocess
import sys

import fsspec
import pytest
from fsspec.callbacks import Callback
from fsspec.tests.abstract import (AbstractCopyTests, AbstractFixtures, AbstractGetTests, AbstractOpenTests,
                                   AbstractPipeTests, AbstractPutTests)

import pydaos_torch
from backends import personality_at_least
from pydaos_torch.fsspec import DaosFileSystem, places

HERE = os.path.dirname(os.path.abspath(__file__))


def make_fs(backend, **kw) -> DaosFileSystem:
    if backend.name == "local":
        kw.update(backend="local", root=backend.root)
    else:
        kw.update(backend="dfs")
    return DaosFileSystem(skip_instance_cache=True, **kw)


@pytest.fixture
def dfs(backend):
    """A DaosFileSystem on a fresh container of each backend; the connections forgotten after."""
    fs = make_fs(backend)
    yield fs
    places.forget()


class Fixtures(AbstractFixtures):
    @pytest.fixture
    def fs(self, dfs):
        return dfs

    @pytest.fixture
    def fs_join(self):
        return posixpath.join

    @pytest.fixture
    def fs_path(self, backend):
        return f"{backend.pool}/{backend.cont}/t"


class TestCopy(Fixtures, AbstractCopyTests):
    pass


class TestGet(Fixtures, AbstractGetTests):
    pass


class TestPut(Fixtures, AbstractPutTests):
    pass


class TestOpen(Fixtures, AbstractOpenTests):
    pass


class TestPipe(Fixtures, AbstractPipeTests):
    pass


# -- our own behaviour
def root(backend) -> str:
    return f"{backend.pool}/{backend.cont}"


def test_protocol_is_registered_by_the_entry_point():
    # no import of pydaos_torch.fsspec needed: fsspec finds the class through the package's
    # entry point (the installed wheel's metadata)
    code = "import fsspec; cls = fsspec.get_filesystem_class('daos'); print(cls.__module__, cls.__name__)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["pydaos_torch.fsspec.filesystem", "DaosFileSystem"]


def test_urls_and_listing(backend, dfs):
    r = root(backend)
    dfs.pipe(f"daos://{r}/d/a.bin", b"x" * 10)
    dfs.pipe(f"{r}/d/sub/b.bin", b"y" * 3)
    dfs.makedirs(f"{r}/d/empty")
    assert dfs.ls(f"daos://{r}/d", detail=False) == [f"{r}/d/a.bin", f"{r}/d/empty", f"{r}/d/sub"]
    infos = {i["name"]: i for i in dfs.ls(f"{r}/d")}
    assert infos[f"{r}/d/a.bin"]["size"] == 10 and infos[f"{r}/d/a.bin"]["type"] == "file"
    assert infos[f"{r}/d/sub"]["type"] == "directory" and infos[f"{r}/d/a.bin"]["mtime"] > 0
    assert dfs.find(f"{r}/d") == [f"{r}/d/a.bin", f"{r}/d/sub/b.bin"]
    assert dfs.find(f"{r}/d", withdirs=True) == [f"{r}/d", f"{r}/d/a.bin", f"{r}/d/empty", f"{r}/d/sub", f"{r}/d/sub/b.bin"]
    assert dfs.find(f"{r}/d", detail=True)[f"{r}/d/sub/b.bin"]["size"] == 3
    assert dfs.du(f"{r}/d") == 13
    assert dfs.glob(f"{r}/d/**/*.bin") == [f"{r}/d/a.bin", f"{r}/d/sub/b.bin"]
    assert [w[0] for w in dfs.walk(f"{r}/d")] == [f"{r}/d", f"{r}/d/empty", f"{r}/d/sub"]
    assert dfs.isdir(f"{r}") and dfs.isdir(f"{r}/d") and dfs.isfile(f"{r}/d/a.bin")
    assert dfs.modified(f"{r}/d/a.bin").tzinfo is not None and dfs.created(f"{r}/d/a.bin")
    # fsspec's own entry points with the storage options the local backend needs
    opts = {"backend": "local", "root": backend.root} if backend.name == "local" else {"backend": "dfs"}
    with fsspec.open(f"daos://{r}/d/a.bin", "rb", **opts) as f:
        assert f.read() == b"x" * 10
    fs2, path = fsspec.core.url_to_fs(f"daos://{r}/d/a.bin", **opts)
    assert isinstance(fs2, DaosFileSystem) and path == f"{r}/d/a.bin"


def test_ranged_reads_seek_and_readinto(backend, dfs):
    r = root(backend)
    blob = bytes(range(256)) * 40000  # ~10 MB: more than a block
    dfs.pipe(f"{r}/big", blob)
    with dfs.open(f"{r}/big", "rb", block_size=1 << 20) as f:
        f.seek(1000)
        assert f.read(10) == blob[1000:1010] and f.tell() == 1010
        f.seek(-5, 2)
        assert f.read() == blob[-5:]
        f.seek(0)
        buf = bytearray(3 << 20)  # a block or more: straight into the caller's buffer
        assert f.readinto(buf) == len(buf) and buf == blob[:len(buf)]
        small = bytearray(100)
        assert f.readinto(small) == 100 and small == blob[len(buf):len(buf) + 100]
    assert dfs.cat_file(f"{r}/big", 5, 9) == blob[5:9]
    assert dfs.cat_file(f"{r}/big", -3) == blob[-3:]
    assert dfs.cat_file(f"{r}/big", 10, -10) == blob[10:-10]


def test_cat_ranges_is_one_batch_with_errors_in_place(backend, dfs):
    r = root(backend)
    files = {f"{r}/r/{i}": bytes([i]) * (100 + i) for i in range(50)}
    dfs.pipe(files)
    paths = list(files) * 4
    starts = [i % 37 for i in range(len(paths))]
    ends = [s + 20 for s in starts]
    ends[3] = 10_000  # past the end: clipped, as fsspec does
    if backend.name == "dfs":
        backend.reset_counters()
    got = dfs.cat_ranges(paths, starts, ends)
    assert got == [files[p][s:e] for p, s, e in zip(paths, starts, ends)]
    if backend.name == "dfs":
        assert backend.counters()["pool_connect"] == 0  # the connection made by pipe is reused
    out = dfs.cat_ranges([f"{r}/r/1", f"{r}/r/missing", f"{r}/r/2"], 0, 5)
    assert out[0] == b"\x01" * 5 and out[2] == b"\x02" * 5
    assert isinstance(out[1], FileNotFoundError) and "missing" in str(out[1])
    with pytest.raises(FileNotFoundError, match="missing"):
        dfs.cat_ranges([f"{r}/r/1", f"{r}/r/missing"], 0, 5, on_error="raise")
    assert dfs.cat([f"{r}/r/1", f"{r}/r/2"]) == {f"{r}/r/1": files[f"{r}/r/1"], f"{r}/r/2": files[f"{r}/r/2"]}


def test_writes_appear_whole_and_errors_discard(backend, dfs):
    r = root(backend)
    dfs.pipe(f"{r}/w/f", b"old")
    with dfs.open(f"{r}/w/f", "wb", block_size=5 << 20) as f:
        f.write(b"a" * (6 << 20))  # a block went out already
        assert dfs.cat(f"{r}/w/f") == b"old"  # the name keeps the old data until close
        assert dfs.ls(f"{r}/w", detail=False) == [f"{r}/w/f"]  # the temporary is not listed
    assert dfs.cat(f"{r}/w/f") == b"a" * (6 << 20)
    with pytest.raises(RuntimeError, match="boom"):
        with dfs.open(f"{r}/w/f", "wb", block_size=5 << 20) as f:
            f.write(b"b" * (6 << 20))
            raise RuntimeError("boom")
    assert dfs.cat(f"{r}/w/f") == b"a" * (6 << 20)  # nothing half-written
    names = os.listdir(os.path.join(backend.root, backend.pool, backend.cont, "w")) if backend.name == "local" \
        else pydaos_torch.connect(backend.pool, backend.cont, backend="dfs").listdir("/w")
    assert names == ["f"], names  # no temporary left behind
    with pytest.raises(FileExistsError):
        dfs.open(f"{r}/w/f", "xb")
    with pytest.raises(FileExistsError):
        dfs.pipe_file(f"{r}/w/f", b"z", mode="create")
    with dfs.open(f"{r}/w/new", "xb") as f:
        f.write(b"n")
    assert dfs.cat(f"{r}/w/new") == b"n"
    with dfs.transaction:  # fsspec's deferred commit
        with dfs.open(f"{r}/w/t", "wb") as f:
            f.write(b"t")
        assert not dfs.exists(f"{r}/w/t")
    assert dfs.cat(f"{r}/w/t") == b"t"


def test_copy_move_remove(backend, dfs, tmp_path):
    r = root(backend)
    blob = os.urandom((8 << 20) * 2 + 12345)  # several copy chunks, a short last one
    src = tmp_path / "src.bin"
    src.write_bytes(blob)

    class Count(Callback):
        def __init__(self):
            super().__init__()
            self.updates = 0

        def call(self, *a, **k):
            self.updates += 1

    cb = Count()
    dfs.put_file(str(src), f"{r}/m/a.bin", callback=cb)
    assert cb.size == len(blob) and cb.value == len(blob) and cb.updates >= 1  # progress bars work
    dfs.cp_file(f"{r}/m/a.bin", f"{r}/m/b.bin")
    dfs.get_file(f"{r}/m/b.bin", str(tmp_path / "back.bin"))
    assert (tmp_path / "back.bin").read_bytes() == blob
    dfs.mv(f"{r}/m/b.bin", f"{r}/m/sub/c.bin")
    assert not dfs.exists(f"{r}/m/b.bin") and dfs.cat(f"{r}/m/sub/c.bin") == blob
    dfs.mv(f"{r}/m/sub", f"{r}/moved", recursive=True)  # a directory: one rename
    assert dfs.find(f"{r}/moved") == [f"{r}/moved/c.bin"]
    dfs.rm(f"{r}/moved", recursive=True)
    assert not dfs.exists(f"{r}/moved")
    with pytest.raises(PermissionError, match="root"):
        dfs.rm(r, recursive=True)
    dfs.rm_file(f"{r}/m/a.bin")
    dfs.rmdir(f"{r}/m")
    assert not dfs.exists(f"{r}/m")


def test_errors_follow_fsspec_and_name_the_place(backend, dfs):
    r = root(backend)
    dfs.pipe(f"{r}/e/f", b"1")
    with pytest.raises(FileNotFoundError) as ei:
        dfs.info(f"{r}/e/nope")
    assert "nope" in str(ei.value) and getattr(ei.value, "container", backend.cont) == backend.cont
    with pytest.raises(FileNotFoundError):
        dfs.cat_file(f"{r}/e/nope")
    with pytest.raises(IsADirectoryError):
        dfs.cat_file(f"{r}/e")
    with pytest.raises(FileExistsError):
        dfs.makedirs(f"{r}/e")
    with pytest.raises(PermissionError, match="escapes"):
        dfs.cat_file(f"{r}/e/../../x")
    with pytest.raises(ValueError, match="invalid pool"):
        dfs.info("bad pool/cont/x")
    with pytest.raises(ValueError, match="invalid container"):
        dfs.info(f"{backend.pool}")
    with pytest.raises(FileNotFoundError, match="no-such-cont"):
        dfs.info(f"{backend.pool}/no-such-cont/x")
    ro = make_fs(backend, read_only=True)
    assert ro.cat(f"{r}/e/f") == b"1"
    with pytest.raises(PermissionError):
        ro.pipe(f"{r}/e/g", b"2")
    assert not dfs.exists(f"{r}/e/g")


def test_pickles_as_the_handle_and_works_in_workers(backend, dfs):
    r = root(backend)
    dfs.pipe({f"{r}/p/{i}": bytes([i]) * 8 for i in range(8)})
    blob = pickle.dumps(dfs)
    if backend.name == "dfs":
        backend.reset_counters()
    code = ("import pickle, sys; fs = pickle.loads(sys.stdin.buffer.read()); "
            f"print(sorted(fs.cat(fs.find('{r}/p')).values())[3].hex())")
    env = dict(os.environ, **backend.env())
    out = subprocess.run([sys.executable, "-c", code], input=blob, capture_output=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr.decode()[-2000:]
    assert out.stdout.decode().strip() == (bytes([3]) * 8).hex()
    if backend.name == "dfs":
        counts = backend.counters()
        assert counts["pool_connect"] == 0 and counts["global2local"] >= 1, counts  # attached, not connected
    if backend.name == "dfs" and not personality_at_least("2.6.4"):
        return  # forking a DAOS client needs daos_reinit (2.6.4+); older ones use spawn, as above
    # forked DataLoader workers: the instance goes along; each worker attaches after the fork
    import torch
    from torch.utils.data import DataLoader, Dataset

    class Files(Dataset):
        def __init__(self, fs, paths):
            self.fs, self.paths = fs, paths

        def __len__(self):
            return len(self.paths)

        def __getitem__(self, i):
            return torch.frombuffer(bytearray(self.fs.cat_file(self.paths[i])), dtype=torch.uint8)

    paths = dfs.find(f"{r}/p")
    got = [b for b in DataLoader(Files(dfs, paths), batch_size=2, num_workers=2,
                                 multiprocessing_context="fork")]
    assert torch.cat([g.reshape(-1) for g in got]).tolist() == [i for i in range(8) for _ in range(8)]
    if backend.name == "dfs":
        assert backend.counters()["pool_connect"] == 0


def test_large_file_buffered_io_is_exact(backend, dfs):
    r = root(backend)
    data = os.urandom(3 * (4 << 20) + 7)
    with dfs.open(f"{r}/x/big", "wb") as f:
        for i in range(0, len(data), 1 << 20):
            f.write(data[i:i + (1 << 20)])
    with dfs.open(f"{r}/x/big", "rb") as f:
        assert f.size == len(data)
        assert io.BufferedReader(f, 1 << 16).read() == data
