"""Namespace scan and the compact Index: on every backend, plus local-only edge cases."""
import os
import pickle

import numpy as np
import pytest

import pydaos_torch
from pydaos_torch import Index

TREE = {
    "/train/a/0001.npy": b"x" * 10,
    "/train/a/0002.npy": b"",                        # zero bytes
    "/train/b/deep/er/üñîçødé 文件.bin": b"u" * 3,   # unicode, spaces
    "/train/b/z": b"z" * 1000,
    "/train/top": b"t",
}


def make_tree(c):
    for p, d in TREE.items():
        c.write(p, d)
    c.mkdirs("/train/empty/also_empty")


def test_scan_nested_tree(container, backend):
    make_tree(container)
    if backend.name == "dfs":
        backend.reset_counters()
    ix = container.scan("/train")
    want = sorted((p[len("/train/"):], len(d)) for p, d in TREE.items())
    assert [(ix.path(i), ix.size(i)) for i in range(len(ix))] == want
    assert ix.root == "train"
    assert ix.sizes.tolist() == [s for _, s in want]
    assert ix.total_bytes == sum(len(d) for d in TREE.values())
    assert ix.find("b/z") == [p for p, _ in want].index("b/z")
    assert ix.find("nope") == -1
    if backend.name == "dfs":
        c = backend.counters()
        assert c["readdir"] >= 6 and c["readdirplus"] == 0  # names by readdir, sizes by stat
        assert c["stat"] >= len(TREE)


def test_scan_is_deterministic_and_sorted(container):
    for i in range(200):
        container.write(f"/d{i % 7}/f{(i * 7919) % 1000:04d}", b"")
    a, b = container.scan("/"), container.scan("/", threads=1)
    paths = [a.path(i) for i in range(len(a))]
    assert paths == sorted(paths, key=lambda s: s.encode())
    assert paths == [b.path(i) for i in range(len(b))]


def test_scan_progress_callback(container):
    for i in range(50):
        container.write(f"/p/{i}", b"")
    seen = []
    container.scan("/", progress=lambda d, f: seen.append((d, f)))
    assert seen and seen[-1][1] == 50


def test_scan_progress_exception_propagates(container):
    container.write("/p/x", b"")

    def boom(d, f):
        raise RuntimeError("stop scanning")

    with pytest.raises(RuntimeError, match="stop scanning"):
        container.scan("/", progress=boom)


def test_index_serialization_round_trips(container, tmp_path):
    make_tree(container)
    ix = container.scan("/")
    for other in (Index.from_bytes(ix.to_bytes()), pickle.loads(pickle.dumps(ix))):
        assert [other.path(i) for i in range(len(other))] == [ix.path(i) for i in range(len(ix))]
        assert other.sizes.tolist() == ix.sizes.tolist()
    f = str(tmp_path / "manifest.idx")
    ix.save(f)
    assert Index.load(f).to_bytes() == ix.to_bytes()


def test_text_manifest_and_corrupt_files(tmp_path):
    f = tmp_path / "m.txt"
    f.write_text("# root: /data/train\n12\tb/x.npy\n3\ta/y.npy\n")
    ix = Index.load(str(f))
    assert ix.root == "data/train" and [ix.path(0), ix.path(1)] == ["a/y.npy", "b/x.npy"]
    assert ix.sizes.tolist() == [3, 12]
    f.write_text("12 b/x.npy\n")
    with pytest.raises(OSError, match="line 1"):
        Index.load(str(f))
    good = Index.build("r", ["a", "b"], [1, 2]).to_bytes()
    (tmp_path / "t.idx").write_bytes(good[:-3])
    with pytest.raises(OSError, match="corrupt or truncated"):
        Index.load(str(tmp_path / "t.idx"))
    with pytest.raises(FileNotFoundError):
        Index.load(str(tmp_path / "missing.idx"))
    (tmp_path / "empty.idx").write_bytes(b"")  # a failed write, not an empty data set
    with pytest.raises(OSError, match=r"empty \(0 bytes\)") as e:
        Index.load(str(tmp_path / "empty.idx"))
    assert e.value.filename.endswith("empty.idx")
    Index.build("r", [], []).save(str(tmp_path / "none.idx"))  # an empty Index, saved, loads
    assert len(Index.load(str(tmp_path / "none.idx"))) == 0
    with pytest.raises(OSError, match="duplicate"):
        Index.build("", ["a", "a"], [1, 1])


def test_index_sizes_view_is_read_only():
    ix = Index.build("", ["a"], [5])
    with pytest.raises(ValueError):
        ix.sizes[0] = 1


def test_index_memory_per_entry_at_one_million():
    n = 1_000_000
    paths = [f"train/{i // 1000:04d}/sample_{i:07d}.npz" for i in range(n)]
    ix = Index.build("", paths, list(range(n)))
    path_bytes = sum(len(p) for p in paths)
    per_entry = (ix.memory_bytes - path_bytes) / n
    assert per_entry < 64, per_entry
    assert len(ix.to_bytes()) < path_bytes + 17 * n + 64


def test_scan_local_sparse_file_over_4gib(local_container, tmp_path):
    root = os.path.join(str(tmp_path), "pool", "cont")
    os.makedirs(os.path.join(root, "s"))
    with open(os.path.join(root, "s", "sparse.bin"), "wb") as f:
        f.truncate((4 << 30) + 12345)
        f.seek(-5, os.SEEK_END)
        f.write(b"END!!")
    ix = local_container.scan("/s")
    assert ix.size(0) == (4 << 30) + 12345
    buf = bytearray(5)
    local_container.read_batch(["/s/sparse.bin"], [buf], offsets=[(4 << 30) + 12340])
    assert bytes(buf) == b"END!!"


def test_scan_local_skips_symlinks_and_refuses_escapes(local_container, tmp_path):
    root = os.path.join(str(tmp_path), "pool", "cont")
    local_container.write("/real/f", b"1")
    os.symlink("/etc", os.path.join(root, "real", "etc_link"))
    os.symlink("f", os.path.join(root, "real", "inner_link"))
    ix = local_container.scan("/")
    assert [ix.path(i) for i in range(len(ix))] == ["real/f"]
    with pytest.raises(PermissionError, match="escapes"):
        local_container.read("/real/etc_link/passwd")
    assert local_container.read("/real/inner_link") == b"1"  # links inside are fine


def test_index_paths_are_normalized_and_untrusted_bytes_checked():
    ix = Index.build("/data//train/", ["/a/./b", "c//d"], [1, 2])
    assert ix.root == "data/train" and [ix.path(0), ix.path(1)] == ["a/b", "c/d"]
    with pytest.raises(PermissionError, match="escapes"):
        Index.build("", ["../etc/passwd"], [1])
    evil = Index.build("", ["ab/cdef"], [1]).to_bytes().replace(b"ab/cdef", b"../../x")
    with pytest.raises(OSError, match="not a normalized container path"):
        Index.from_bytes(evil)


def test_index_select_maps_checks_and_sums():
    """Index.select: a batch of sample indices -> (entries, total bytes) in one call, as a
    DataLoader worker needs per batch; negative indices count from the end; an order maps
    samples to entries; an index out of range is named."""
    ix = Index.build("", ["a", "b", "c", "d"], [1, 10, 100, 1000])  # sorted: entries 0..3
    e, total = ix.select([0, 2, -1])
    assert e.tolist() == [0, 2, 3] and total == 1101
    e, total = ix.select(np.array([1, 0]), np.array([3, 1, 2], dtype=np.int64))  # 3 samples
    assert e.tolist() == [1, 3] and total == 1010
    assert ix.select([])[1] == 0
    with pytest.raises(IndexError, match="sample index 4 out of range for a dataset of 4"):
        ix.select([1, 4])
    with pytest.raises(IndexError, match="sample index -4 out of range for a dataset of 3"):
        ix.select([-4], np.array([0, 1, 2]))


def test_scan_skips_and_counts_files_removed_while_it_runs(container):
    """Files (and directories) removed during a scan are skipped and counted in
    Index.vanished, as os.walk skips them, never an error; rounds of a scan racing a remover."""
    import threading
    dirs, per = 8, 60
    seen_vanished = 0
    for rnd in range(6):
        for d in range(dirs):
            container.mkdirs(f"/race/d{d}")
            for i in range(per):
                container.write(f"/race/d{d}/f{i:03d}", b"x")
        removed = threading.Event()

        def remove_all():
            for d in reversed(range(dirs)):
                for i in range(per):
                    container.remove(f"/race/d{d}/f{i:03d}")
                if d % 2:
                    container.remove(f"/race/d{d}")  # a whole directory goes too
            removed.set()

        t = threading.Thread(target=remove_all)
        t.start()
        ix = container.scan("/race", threads=4, readdir_batch=8)  # must not raise
        t.join()
        assert len(ix) + ix.vanished <= dirs * per + dirs, (len(ix), ix.vanished)
        assert all(ix.path(i).startswith("d") for i in range(len(ix)))
        seen_vanished += ix.vanished
        container.remove("/race", recursive=True)
    assert container.scan("/").vanished == 0
