"""The storage's I/O profile: decided in the core, the same in every process that reaches the
same place, followed by the checkpoint writer and reader, overridable with one frozen object.
And the Index's batch path lookups and prefix ranges."""
from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import pickle
import re

import numpy as np
import pytest

import pydaos_torch
from pydaos_torch import Checkpoint, Container, Index, IOProfile

from backends import run_python

PKG = pathlib.Path(pydaos_torch.__file__).resolve().parent


def writer_depth(c: Container, workers: int = 4, **kw) -> int:
    with Checkpoint(container=c, prefix="/ck", workers=workers, **kw).writer("m.pt") as w:
        w.write(b"x")
        return w._depth


def mount_type(path: str) -> str:
    """The file system type of path's longest mount point (test-side cross-check only)."""
    best, kind = "", ""
    for line in open("/proc/self/mounts"):
        f = line.split()
        mnt = f[1].replace("\\040", " ")
        if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best):
            best, kind = mnt, f[2]
    return kind


def test_connected_attached_pickled_and_unpickled_elsewhere_get_the_same_profile(backend):
    """The bug of issue 11: the profile came from Container.local_dir, None for an attached or
    unpickled container, so on ext4 the connecting process wrote a checkpoint with one write in
    flight and every attached one (DataLoader workers, DLIO ranks but rank 0) with four."""
    c = backend.connect()
    attached = Container.attach(c.serialize())
    unpickled = pickle.loads(pickle.dumps(c))
    assert isinstance(c.profile, IOProfile)
    assert c.profile == attached.profile == unpickled.profile
    depths = {writer_depth(x) for x in (c, attached, unpickled)}
    assert depths == {1 if c.profile.serial_writes else 4}, (depths, c.profile)
    if backend.name == "local":  # in another interpreter (spawn, another rank)
        code = (f"import pickle, dataclasses, json; c = pickle.loads({pickle.dumps(c)!r}); "
                "print(json.dumps(dataclasses.asdict(c.profile)))")
        out = run_python(code, backend.env())
        assert out.returncode == 0, out.stderr
        assert IOProfile(**json.loads(out.stdout)) == c.profile
    for x in (attached, unpickled, c):
        x.close()


def test_a_forked_child_gets_the_same_profile_and_writer_depth(tmp_path):
    c = pydaos_torch.connect(root=str(tmp_path), backend="local")
    parent = (c.profile, writer_depth(c))
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child re-attaches on first use
        code = 1
        try:
            os.write(w, json.dumps([dataclasses.asdict(c.profile), writer_depth(c)]).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    got = b""
    while chunk := os.read(r, 65536):
        got += chunk
    os.close(r)
    assert os.waitpid(pid, 0)[1] == 0
    profile, depth = json.loads(got)
    assert (IOProfile(**profile), depth) == parent
    c.close()


def test_local_profile_comes_from_the_directory_file_system(tmp_path):
    c = pydaos_torch.connect(root=str(tmp_path), backend="local")
    p = c.profile
    kind = mount_type(os.path.realpath(tmp_path))
    serial = {"ext2", "ext3", "ext4", "xfs", "btrfs", "f2fs", "tmpfs", "overlay"}
    assert p.serial_writes == (kind in serial), (kind, p)
    if kind in serial:
        assert kind in p.file_system, (kind, p)
    assert p.client_cache and p.direct_write_min == 256 << 10 and p.read_buffer == 64 << 10
    assert p.piece_size == 8 << 20 and p.cpu_threads == len(os.sched_getaffinity(0))
    assert p.depth_for_workers(0) == 0
    assert p.depth_for_workers(2) == max(1, p.cpu_threads // 2)
    assert p.depth_for_workers(10 * p.cpu_threads) == 1
    c.close()


def test_tmpfs_serializes_writes(tmp_path):
    shm = "/dev/shm"
    if not os.path.isdir(shm) or mount_type(shm) != "tmpfs" or not os.access(shm, os.W_OK):
        pytest.skip("no writable tmpfs at /dev/shm")
    d = os.path.join(shm, f"pdt-profile-{os.getpid()}")
    os.makedirs(d)
    try:
        c = pydaos_torch.connect(root=d, backend="local")
        assert c.profile.serial_writes and c.profile.file_system == "tmpfs"
        assert writer_depth(c) == 1
        c.close()
    finally:
        import shutil
        shutil.rmtree(d)


def test_dfs_profile_is_daos(backend):
    if backend.name != "dfs":
        pytest.skip("dfs only")
    c = backend.connect()
    p = c.profile
    assert p.file_system == "daos" and not p.serial_writes and not p.client_cache
    assert (p.direct_write_min, p.read_buffer, p.piece_size, p.cpu_threads) == (16 << 20, 1 << 20, 8 << 20, 0)
    assert p.depth_for_workers(4) == 0  # DAOS keeps its default depth in every worker
    c.close()


def test_override_is_one_frozen_object(backend, monkeypatch):
    from pydaos_torch import checkpoint as mod
    reads = []
    real = mod.RangeReader.readinto
    monkeypatch.setattr(mod.RangeReader, "readinto", lambda self, b: reads.append(len(memoryview(b))) or real(self, b))
    c = backend.connect()
    p = c.profile
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.serial_writes = True  # type: ignore[misc]
    with pytest.raises(TypeError):
        p.replace(no_such_field=1)
    forced = p.replace(serial_writes=not p.serial_writes)
    assert forced != p and c.profile == p  # the storage's own is untouched
    assert writer_depth(c, profile=forced) == (1 if forced.serial_writes else 4)
    ck = Checkpoint(container=c, prefix="/ck", profile=p.replace(read_buffer=12345))
    ck.save({"x": 1}, "r.pt")
    assert ck.load("r.pt") == {"x": 1}
    assert reads and max(reads) == 12345, reads  # the reader's buffer is the override's
    c.close()


def test_drop_clean_cache_is_a_file_call(backend):
    c = backend.connect()
    c.write("/f.bin", b"z" * 100_000)
    f = c.native.open("/f.bin", True)
    f.sync()
    if backend.name == "dfs":
        assert f.drop_clean_cache() is False  # no client cache: a documented no-op
    else:
        os.utime(os.path.join(backend.root, backend.pool, backend.cont, "f.bin"), (1, 1))  # clean by age, too
        assert f.drop_clean_cache() is True
    f.close()
    assert c.read("/f.bin") == b"z" * 100_000
    c.close()


def test_dlio_settings_override_the_profile(backend):
    from pydaos_torch.dlio.settings import SettingsError, parse
    c = backend.connect()
    s = parse({"profile": {"serial_writes": "false", "read_buffer": 4096}})
    assert s.profile == (("read_buffer", 4096), ("serial_writes", False))
    p = s.io_profile(c.profile)
    assert p == c.profile.replace(serial_writes=False, read_buffer=4096)
    assert parse({}).io_profile(c.profile) == c.profile
    with pytest.raises(SettingsError, match="serial_writs.*did you mean 'serial_writes'"):
        parse({"profile": {"serial_writs": False}})
    with pytest.raises(SettingsError, match="profile.read_buffer: expected an integer"):
        parse({"profile": {"read_buffer": "big"}})
    c.close()


def test_no_backend_test_above_the_core():
    """I/O decisions come from the profile: no module above the core tests which backend it
    runs on, a local directory or a file system type. (container.py chooses the backend to
    connect with; DLIO's runtime and settings pass the user's choice on.)"""
    chooses = {"container.py", "dlio/runtime.py", "dlio/settings.py"}
    banned = re.compile(r"""backend\s*[!=]=\s*["']|local_dir|/proc/self/mounts|["']local:["']|fs_type|statfs\(""")
    found = []
    for py in PKG.rglob("*.py"):
        rel = py.relative_to(PKG).as_posix()
        for n, line in enumerate(py.read_text().splitlines(), 1):
            if banned.search(line) and rel not in chooses:
                found.append(f"{rel}:{n}: {line.strip()}")
    assert found == []
    for rel in chooses:  # and there only the connection's choice
        for line in (PKG / rel).read_text().splitlines():
            assert not re.search(r"local_dir|/proc/self/mounts|fs_type|statfs\(", line), line


# -- Index lookups


def make_index() -> Index:
    paths = ["a/x", "a/b/1", "a/b/2", "a-b/c", "a/b0", "b/y", "ab/z", "a/b/c/d"]
    return Index.build("data", paths, list(range(len(paths))))


def test_find_many_maps_paths_to_entries_in_one_call():
    ix = make_index()
    names = [ix.path(i) for i in range(len(ix))]
    assert names == sorted(names, key=str.encode)
    want = ["b/y", "a/b/1", "nope", "a/x", "", "a/b/c/d", "a/b"]
    got = ix.find_many(want)
    assert got.dtype == np.int64 and got.shape == (len(want),)
    assert got.tolist() == [ix.find(p) for p in want]
    assert got.tolist()[2] == -1 and got.tolist()[4] == -1 and got.tolist()[6] == -1
    assert [names[i] for i in got if i >= 0] == ["b/y", "a/b/1", "a/x", "a/b/c/d"]
    assert ix.find_many([]).tolist() == [] and ix.find_many(("a/x",)).tolist() == [names.index("a/x")]
    with pytest.raises(TypeError):
        ix.find_many([b"a/x"])
    big = Index.build("", [f"d{i // 100}/f{i:05d}" for i in range(5000)], [1] * 5000)
    q = [big.path(i) for i in range(0, 5000, 7)]
    assert big.find_many(q).tolist() == list(range(0, 5000, 7))
    assert Index().find_many(["x"]).tolist() == [-1]


def test_prefix_range_is_the_directory_contiguous_entries():
    ix = make_index()
    names = [ix.path(i) for i in range(len(ix))]

    def under(d):
        return [n for n in names if n.startswith(d + "/")]

    for d in ["a", "a/b", "a/b/c", "b", "ab", "a-b", "zz", "a/x"]:
        first, last = ix.prefix_range(d)
        assert names[first:last] == under(d), d
    assert ix.prefix_range("a/b") == ix.prefix_range("/a//b/")  # normalized
    assert ix.prefix_range("") == (0, len(ix)) == ix.prefix_range("/")
    assert "a/b0" not in names[slice(*ix.prefix_range("a/b"))] and "a-b/c" not in names[slice(*ix.prefix_range("a"))]
    with pytest.raises(PermissionError):
        ix.prefix_range("../x")


def test_datasets_take_a_profile_override(local_container, monkeypatch):
    """Dataset(profile=...) and IterableDataset(profile=...) decide a DataLoader worker's batch
    depth from the given profile, not the container's, also after pickling."""
    import pickle
    import types

    import torch.utils.data

    from pydaos_torch import Dataset, IOProfile, IterableDataset
    local_container.write("/d/a", b"x")
    p = local_container.profile.replace(cpu_threads=12)
    worker = types.SimpleNamespace(num_workers=3, id=0, seed=0, dataset=None)
    monkeypatch.setattr(torch.utils.data, "get_worker_info", lambda: worker)
    for cls in (Dataset, IterableDataset):
        ds = cls(container=local_container, path="/d", profile=p)
        assert isinstance(ds.profile, IOProfile) and ds._depth() == 4
        assert pickle.loads(pickle.dumps(ds))._depth() == 4
        ds.close()
