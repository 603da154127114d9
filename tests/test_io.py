"""Round trips, batch reads into every buffer kind, file objects: on every backend."""
import io
import os

import numpy as np
import pytest
import torch

import pydaos_torch


def payload(n: int, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


def test_write_read_round_trip(container, backend):
    data = payload(3 << 20, 1)
    container.write("/dir/sub/blob.bin", data)
    assert container.read("/dir/sub/blob.bin") == data
    assert container.stat("dir/sub/blob.bin").size == len(data)
    assert container.stat("/dir").is_dir
    if backend.name == "dfs":
        c = backend.counters()
        assert c["write"] >= 1 and c["bytes_written"] >= len(data)
        assert c["read"] >= 1 and c["bytes_read"] >= len(data)


@pytest.mark.parametrize("kind", ["bytearray", "numpy", "torch", "memoryview"])
def test_batch_read_into_each_buffer_kind(container, backend, kind):
    files = {f"/b/f{i}.bin": payload(1000 + 37 * i, i) for i in range(20)}
    for p, d in files.items():
        container.write(p, d)

    def make(n):
        if kind == "bytearray":
            return bytearray(n)
        if kind == "numpy":
            return np.empty(n, dtype=np.uint8)
        if kind == "torch":
            return torch.empty(n, dtype=torch.uint8)
        return memoryview(bytearray(n + 10))[5:5 + n]

    bufs = [make(len(d)) for d in files.values()]
    if backend.name == "dfs":
        backend.reset_counters()
    got = container.read_batch(list(files), bufs)
    assert got == [len(d) for d in files.values()]
    for b, d in zip(bufs, files.values()):
        raw = b.numpy().tobytes() if kind == "torch" else bytes(b)
        assert raw == d
    if backend.name == "dfs":
        c = backend.counters()
        assert c["read"] == 20 and c["bytes_read"] == sum(map(len, files.values()))
        assert c["eq_poll"] >= 1  # completions reaped through the event queue


def test_batch_read_ranges_and_up_to(container):
    data = payload(10000, 3)
    container.write("/r.bin", data)
    bufs = [bytearray(100), bytearray(50), bytearray(200)]
    got = container.read_batch(["/r.bin"] * 3, bufs, offsets=[0, 5000, 9900], up_to=True)
    assert got == [100, 50, 100]
    assert bytes(bufs[1]) == data[5000:5050]
    assert bytes(bufs[2][:100]) == data[9900:]
    with pytest.raises(OSError, match="short read"):
        container.read_batch(["/r.bin"], [bytearray(200)], offsets=[9900])


def test_large_file_multi_piece_read(container):
    data = payload(40 << 20, 5)  # several pieces per file on both backends
    container.write("/big.bin", data)
    buf = np.empty(len(data), dtype=np.uint8)
    container.read_batch(["/big.bin"], [buf])
    assert buf.tobytes() == data


def test_read_index_packs_entries(container):
    files = {f"/d{i % 3}/f{i:03d}": payload(i * 11, i) for i in range(30)}
    for p, d in files.items():
        container.write(p, d)
    ix = container.scan("/")
    assert len(ix) == 30
    order = np.array([5, 0, 29, 7], dtype=np.int64)
    out = bytearray(sum(ix.size(int(i)) for i in order))
    offs = container.read_index(ix, order, out)
    for k, i in enumerate(order):
        p = "/" + ix.path(int(i))
        assert bytes(out[offs[k]:offs[k + 1]]) == files[p]
    with pytest.raises(ValueError, match="too small"):
        container.read_index(ix, order, bytearray(10))
    with pytest.raises(IndexError):
        container.read_index(ix, np.array([30]), out)


def test_file_objects(container):
    container.mkdirs("/f")
    with container.open("/f/obj.bin", "wb") as f:
        f.write(b"abc" * 1000)
        f.write(b"tail")
    with container.open("/f/obj.bin", "rb") as f:
        assert f.read(3) == b"abc"
        f.seek(-4, io.SEEK_END)
        assert f.read() == b"tail"
        f.seek(0)
        assert len(f.read()) == 3004
    with pytest.raises(FileExistsError):
        container.open("/f/obj.bin", "xb")
    with container.open("/f/obj.bin", "r+b") as f:
        f.seek(3000)
        f.write(b"TAIL")
    assert container.read("/f/obj.bin")[-4:] == b"TAIL"
    with container.open("/f/obj.bin", "wb") as f:  # truncates
        f.write(b"x")
    assert container.read("/f/obj.bin") == b"x"


def test_mkdirs_rename_remove_listdir(container):
    container.mkdirs("/a/b/c")
    container.mkdirs("/a/b/c")  # idempotent
    container.write("/a/b/c/x", b"1")
    container.write("/a/y", b"2")
    assert container.listdir("/a") == ["b", "y"]
    container.rename("/a/y", "/a/b/z")
    assert container.read("/a/b/z") == b"2"
    assert not container.exists("/a/y")
    with pytest.raises(OSError):
        container.remove("/a/b")  # not empty
    container.remove("/a/b", recursive=True)
    assert container.listdir("/a") == []
    container.write("/a/b_file", b"")
    with pytest.raises(NotADirectoryError):
        container.mkdirs("/a/b_file/x")


def test_read_only_container_refuses_writes(backend):
    with backend.connect() as rw:
        rw.write("/x", b"data")
    with backend.connect(read_only=True) as ro:
        assert ro.read("/x") == b"data"
        with pytest.raises(PermissionError, match="read-only"):
            ro.open("/y", "wb")
        with pytest.raises(PermissionError):
            ro.mkdirs("/d")
        with pytest.raises(PermissionError):
            ro.remove("/x")


def test_error_kinds(container):
    container.mkdirs("/dir")
    container.write("/dir/file", b"x")
    with pytest.raises(FileNotFoundError) as e:
        container.read_batch(["/dir/missing"], [bytearray(1)])
    assert e.value.filename == "/dir/missing" and e.value.op == "read"
    assert "missing" in str(e.value)
    with pytest.raises(IsADirectoryError):
        container.read_batch(["/dir"], [bytearray(1)])
    with pytest.raises(IsADirectoryError):
        container.open("/dir", "rb")
    with pytest.raises(NotADirectoryError):
        container.scan("/dir/file")
    with pytest.raises(FileNotFoundError):
        container.scan("/nowhere")
    with pytest.raises(FileNotFoundError):
        container.stat("/nope")
    with pytest.raises(FileExistsError):
        container.open("/dir/file", "xb")


@pytest.mark.parametrize("bad", ["/../x", "../x", "a/../../x", "/a/b/../../../etc/passwd"])
def test_path_escapes_refused(container, bad):
    container.write("/inside", b"1")  # the container itself works
    with pytest.raises(PermissionError, match="escapes the container"):
        container.read_batch([bad], [bytearray(1)])
    with pytest.raises(PermissionError, match="escapes the container"):
        container.stat(bad)


def test_dotdot_inside_container_is_normalized(container):
    container.write("/a/f", b"ok")
    assert container.read("/a/b/../f") == b"ok"
    assert container.read("a/./f") == b"ok"


def test_interleaved_batches_from_threads(container):
    import threading
    files = {f"/t/{i}": payload(4096, i) for i in range(40)}
    for p, d in files.items():
        container.write(p, d)
    errors = []

    def worker():
        try:
            for _ in range(5):
                bufs = [bytearray(4096) for _ in files]
                container.read_batch(list(files), bufs)
                assert [bytes(b) for b in bufs] == list(files.values())
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    ts = [threading.Thread(target=worker) for _ in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors


def test_local_direct_io_reads_aligned_and_unaligned(tmp_path):
    root = tmp_path / "p" / "c"
    root.mkdir(parents=True)
    data = payload((1 << 20) + 100, 9)
    (root / "d.bin").write_bytes(data)
    with pydaos_torch.connect("p", "c", backend="local", root=str(tmp_path), direct_io=True) as c:
        raw = np.empty((2 << 20) + 4096, dtype=np.uint8)
        start = (-raw.ctypes.data) % 4096
        aligned = raw[start:start + (1 << 20)]  # aligned buffer, offset and length: O_DIRECT
        c.read_batch(["/d.bin"], [aligned])
        assert aligned.tobytes() == data[:1 << 20]
        tail = bytearray(100)  # unaligned: buffered
        c.read_batch(["/d.bin"], [tail], offsets=[1 << 20])
        assert bytes(tail) == data[1 << 20:]


def test_read_ranges_makes_bytes_in_one_call(container):
    container.write("/rr/a", b"0123456789")
    container.write("/rr/b", b"abc")
    got = container.read_ranges(["/rr/a", "/rr/b", "/rr/a", "/rr/b"], [2, 0, 8, 5], [3, 3, 10, 4])
    assert got == [b"234", b"abc", b"89", b""] and all(type(g) is bytes for g in got)  # short at the end
    with pytest.raises(FileNotFoundError, match="/rr/none"):
        container.read_ranges(["/rr/a", "/rr/none"], [0, 0], [1, 1])
    with pytest.raises(ValueError, match=">= 0"):
        container.read_ranges(["/rr/a"], [-1], [1])
    with pytest.raises(ValueError, match="differ in length"):
        container.read_ranges(["/rr/a"], [0, 1], [1])


def test_bad_read_offsets_are_refused_with_the_path(container):
    container.write("/off/a", b"abc")
    for bad in (-1, 1.5, "0", True):
        with pytest.raises(ValueError, match=r"offset must be an integer >= 0.*/off/a"):
            container.read_into("/off/a", bytearray(1), bad)
        with pytest.raises(ValueError, match="offset"):
            container.read_batch(["/off/a"], [bytearray(1)], [bad])
    assert container.read_into("/off/a", bytearray(2), 1) == 2
