"""Checkpoint on every backend: the seed README's example verbatim, compatibility parameters,
bit-exact model + optimizer round trips, atomic commits under exceptions and killed writers
(a commit killed at each of its steps, inside dfs_move too: test_checkpoint_crash.py),
multi-rank commit markers, bounded memory."""
import io
import os
import random
import re
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest
import torch

import pydaos_torch
from pydaos_torch import Checkpoint
from pydaos_torch.checkpoint import MARKER


def data(n: int, seed: int) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


def write_raw(ck, name: str, payload: bytes, piece: int = 1000) -> None:
    with ck.writer(name) as w:
        for i in range(0, len(payload), piece):
            w.write(payload[i:i + piece])


def read_raw(ck, name: str) -> bytes:
    with ck.reader(name) as r:
        return r.read()


def visible(c, d: str = "/ck") -> list:
    return [n for n in c.listdir(d) if not n.startswith(".")]


def hidden_temps(c, d: str = "/ck") -> list:
    return [n for n in c.listdir(d) if ".ckpt-tmp-" in n or ".ckpt-pending-" in n]


def test_readme_example_verbatim(backend, monkeypatch):
    for k, v in backend.env().items():
        monkeypatch.setenv(k, v)
    pool, cont = backend.pool, backend.cont
    model = torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    example = textwrap.dedent("""
        import torch
        from pydaos_torch import Checkpoint

        # ...

        chkp = Checkpoint(pool, cont, prefix='/training/checkpoints')

        with chkp.writer('model.pt') as w:
            torch.save(model.state_dict(), w)

        # Later, to load the model

        with chkp.reader('model.pt') as r:
            torch.load(r)
        """)
    scope = {"pool": pool, "cont": cont, "model": model}
    exec(compile(example, "README.md", "exec"), scope)
    loaded = scope["chkp"].load("model.pt")
    assert all(torch.equal(loaded[k], v) for k, v in model.state_dict().items())
    scope["chkp"].close()


def test_compatibility_parameters(backend, container):
    import stat
    kw = {"backend": backend.name, "root": getattr(backend, "root", None)}
    # pydaos.torch order: pool, cont, prefix, mode, open_flags, class_name, file_chunk_size,
    # transfer_chunk_size, chunks_limit, workers
    ck = Checkpoint(backend.pool, backend.cont, "/ck", stat.S_IFREG | 0o600, os.O_CREAT | os.O_RDWR,
                    "OC_UNKNOWN", 1 << 20, 4096, 3, 2, **kw)
    payload = data(50_000, 1)
    with ck.writer("deep/er/model.pt", ensure_path=True) as w:
        w.write(payload)
    assert read_raw(ck, "deep/er/model.pt") == payload
    with pytest.raises(FileNotFoundError):
        ck.writer("missing/dir/model.pt", ensure_path=False)
    stream = io.BytesIO()
    assert ck.reader("deep/er/model.pt", stream=stream) is stream and stream.read() == payload
    if backend.name == "local":
        assert container.stat("/ck/deep/er/model.pt").mode & 0o777 == 0o600
    ck.close()
    if backend.name == "dfs":
        backend.reset_counters()  # `ck` connected by itself
    excl = Checkpoint(container=container, prefix="/ck", open_flags=os.O_CREAT | os.O_EXCL)
    with pytest.raises(FileExistsError):
        excl.writer("deep/er/model.pt")
    with Checkpoint(container=container, prefix="/ck", class_name="SX", file_chunk_size=65536) as ck2:
        ck2.save({"x": torch.arange(3)}, "oc.pt")
        assert torch.equal(ck2.load("oc.pt")["x"], torch.arange(3))
    assert container.exists("/ck")  # a shared container is not closed by the Checkpoint


@pytest.mark.parametrize("chunk,limit,workers", [(0, 0, 1), (449, 1, 1), (4096, 2, 3), (1 << 20, 3, 4)])
def test_round_trips_every_transfer_setting(container, backend, chunk, limit, workers):
    ck = Checkpoint(container=container, prefix="/ck", transfer_chunk_size=chunk, chunks_limit=limit,
                    workers=workers)
    rng = random.Random(chunk)
    for i, n in enumerate([1, 448, 449, 450, 4097, (3 << 20) if chunk != 449 else 70_000]):
        payload = data(n, i)
        write_raw(ck, f"f{i}", payload, piece=rng.choice([1, 100, 449, 70_000]) if n < 10_000 else 65_536)
        assert read_raw(ck, f"f{i}") == payload
    write_raw(ck, "f5", b"short")  # a smaller checkpoint over a larger one: no stale tail
    assert read_raw(ck, "f5") == b"short"
    assert ck.list() == [f"f{i}" for i in range(6)] and hidden_temps(container) == []
    if backend.name == "dfs":
        cnt = backend.counters()
        assert cnt["write"] >= 6 and cnt["move"] >= 7


def test_model_and_optimizer_round_trip_bit_exact(container):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.GELU(), torch.nn.Linear(128, 10))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for _ in range(3):
        opt.zero_grad()
        model(torch.randn(16, 64)).square().mean().backward()
        opt.step()
    state = {"model": model.state_dict(), "optim": opt.state_dict(), "step": 3}
    ck = Checkpoint(container=container, prefix="/ck", transfer_chunk_size=8192, chunks_limit=2)
    ck.save(state, "step3.pt")
    a = io.BytesIO()
    torch.save(state, a)  # the bytes torch.save writes to memory, to compare with the stored ones
    back = ck.load("step3.pt", map_location="cpu")
    model2 = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.GELU(), torch.nn.Linear(128, 10))
    model2.load_state_dict(back["model"])
    opt2 = torch.optim.AdamW(model2.parameters(), lr=1e-3)
    opt2.load_state_dict(back["optim"])
    def same(x, y):
        if isinstance(x, torch.Tensor):
            return isinstance(y, torch.Tensor) and x.dtype == y.dtype and torch.equal(x, y)
        if isinstance(x, dict):
            return x.keys() == y.keys() and all(same(x[k], y[k]) for k in x)
        if isinstance(x, (list, tuple)):
            return len(x) == len(y) and all(same(i, j) for i, j in zip(x, y))
        return x == y

    assert same(state, back)  # every tensor bit-exact, optimizer moments and steps included
    x = torch.randn(16, 64)
    for m, o in ((model, opt), (model2, opt2)):  # and training continues identically
        o.zero_grad()
        m(x).square().mean().backward()
        o.step()
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), model2.parameters()))
    assert read_raw(ck, "step3.pt") == a.getvalue()


def test_exception_inside_writer_keeps_previous(container):
    ck = Checkpoint(container=container, prefix="/ck", transfer_chunk_size=4096, chunks_limit=2)
    write_raw(ck, "model.pt", b"v1" * 10_000)
    with pytest.raises(RuntimeError):
        with ck.writer("model.pt") as w:
            w.write(b"v2" * 50_000)
            raise RuntimeError("boom")
    assert read_raw(ck, "model.pt") == b"v1" * 10_000
    w = ck.writer("model.pt")
    w.write(b"v3" * 50_000)
    del w  # dropped without close(): aborted, never committed by the garbage collector
    assert read_raw(ck, "model.pt") == b"v1" * 10_000
    assert hidden_temps(container) == [] and visible(container) == ["model.pt"]
    assert container.read("/ck/model.pt") == b"v1" * 10_000  # at its name, as any tool reads it
    assert ck.list() == ["model.pt"] and ck.exists("model.pt") and not ck.exists("other.pt")


class FailingWrites:
    """A native file whose write_many fails: an I/O error injected under the writer."""

    def __init__(self, f):
        self.f = f

    def write_many(self, *a):
        raise OSError(5, "injected I/O error")

    def __getattr__(self, name):
        return getattr(self.f, name)


def test_failed_write_aborts_and_keeps_previous(container):
    ck = Checkpoint(container=container, prefix="/ck", transfer_chunk_size=4096, chunks_limit=2)
    write_raw(ck, "model.pt", b"v1")

    w = ck.writer("model.pt")
    w._fl.f = FailingWrites(w._fl.f)
    with pytest.raises(OSError, match="injected"):
        with w:
            for _ in range(100):  # the error surfaces in a later write() or in close()
                w.write(b"x" * 4096)
    assert read_raw(ck, "model.pt") == b"v1" and hidden_temps(container) == []


CHILD = textwrap.dedent("""
    import os, sys
    import pydaos_torch
    from pydaos_torch import checkpoint as mod
    from pydaos_torch.checkpoint import crash_points  # noqa: F401 (mod.crash_points)
    point, limit = sys.argv[1], int(sys.argv[2])
    ck = mod.Checkpoint(prefix="/ck", transfer_chunk_size=4096, chunks_limit=2, workers=2)
    new = bytes(range(256)) * 800
    if not point.isdigit():
        mod.crash_points.hook = lambda step: os._exit(77) if step == point else None
    with ck.writer("model.pt") as w:
        for i in range(0, len(new), 1000):
            w.write(new[i:i + 1000])
            if point.isdigit() and i >= limit:
                os._exit(77)
    os._exit(0)
    """)
NEW = bytes(range(256)) * 800


def run_child(backend, point: str, limit: int = 0, **fake):
    env = dict(os.environ, **backend.env())
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(os.path.dirname(pydaos_torch.__file__)),
                                         env.get("PYTHONPATH", "")])
    if fake:
        env.update(backend.control.env(backend.store, libdfs=backend.lib, **fake))
    return subprocess.run([sys.executable, "-c", CHILD, point, str(limit)], env=env, capture_output=True,
                          text=True, timeout=60)


def test_killed_writer_keeps_previous(backend, container):
    ck = Checkpoint(container=container, prefix="/ck", keep_versions=1)
    old = data(100_000, 9)
    write_raw(ck, "model.pt", old)
    rng = random.Random(1234)
    steps = ["before_commit", "after_pending", "after_commit", "after_marker", "after_keep", "after_publish",
             "collect"]
    committed = steps[2:]
    points = [str(rng.randrange(len(NEW) - 1000)) for _ in range(4)] + steps
    for point in points:
        r = run_child(backend, point, int(point) if point.isdigit() else 0)
        assert r.returncode == 77, r.stderr
        got = read_raw(ck, "model.pt")
        assert got == (NEW if point in committed else old), point
        # at its name: the old or the new file whole; on DAOS (no links) missing between the
        # keep and the publish, until the next commit
        if backend.name == "dfs" and point == "after_keep":
            assert not container.exists("/ck/model.pt")
        else:
            assert container.read("/ck/model.pt") == (NEW if point in ("after_publish", "collect") else old), point
        assert ck.list() == ["model.pt"]
        write_raw(ck, "model.pt", old)  # back to the old content for the next round
    if backend.name == "dfs":
        backend.reset_counters()  # every child connected by itself
    assert hidden_temps(container) == []  # the dead writers' temporaries were collected
    assert read_raw(ck, "model.pt") == old


def test_multi_rank_commit_marker_and_latest(container):
    ck = Checkpoint(container=container, prefix="/ck")
    ck.save({"step": 1}, "single.pt")
    tag = "global_epoch1_step5"
    errors = []

    def rank(r: int, delay: threading.Event):
        try:
            if r == 1:
                delay.wait(10)
            with ck.writer(f"{tag}/layer-{r}.pt") as w:
                torch.save({"rank": r}, w)
            ck.commit(tag, rank=r, world_size=2, timeout=30)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    go = threading.Event()
    threads = [threading.Thread(target=rank, args=(r, go)) for r in (0, 1)]
    for t in threads:
        t.start()
    # rank 0 is done and waiting for rank 1: nothing committed yet
    while not container.exists(f"/ck/{tag}/.ckpt-rank-0-of-2"):
        threading.Event().wait(0.01)
    assert ck.list() == ["single.pt"] and not ck.committed(tag) and not ck.exists(tag)
    assert ck.latest() == "single.pt"
    go.set()
    for t in threads:
        t.join(30)
    assert errors == []
    assert ck.committed(tag) and ck.list() == [tag, "single.pt"] and ck.latest() == tag
    assert container.exists(f"/ck/{tag}/{MARKER}")
    assert ck.load(f"{tag}/layer-1.pt") == {"rank": 1}
    with pytest.raises(TimeoutError):
        ck.commit("lonely", rank=0, world_size=2, timeout=0.2)
    assert not ck.committed("lonely") and "lonely" not in ck.list()
    ck.remove(tag)
    assert ck.list() == ["single.pt"] and not container.exists(f"/ck/{tag}")
    ck.remove("single.pt")
    assert ck.list() == [] and ck.latest() is None
    with pytest.raises(FileNotFoundError):
        ck.remove("single.pt")
    with pytest.raises(FileNotFoundError):
        ck.load("single.pt")


def test_reads_plain_files_of_other_writers(container):
    container.write("/ck/legacy.pt", b"written by pydaos.torch")
    ck = Checkpoint(container=container, prefix="/ck")
    assert ck.exists("legacy.pt") and ck.list() == ["legacy.pt"]
    assert read_raw(ck, "legacy.pt") == b"written by pydaos.torch"
    write_raw(ck, "legacy.pt", b"new")  # a new version shadows the plain file
    assert read_raw(ck, "legacy.pt") == b"new"
    ck.remove("legacy.pt")
    assert not ck.exists("legacy.pt") and container.listdir("/ck") == []


def _hwm_mib() -> float:
    s = open("/proc/self/status").read()
    return int(re.search(r"VmHWM:\s+(\d+)", s).group(1)) / 1024


def test_peak_memory_writing_1gib_stays_within_bound(container):
    chunk, limit = 8 << 20, 4
    ck = Checkpoint(container=container, prefix="/ck", transfer_chunk_size=chunk, chunks_limit=limit, workers=2)
    piece = memoryview(data(128 << 10, 3))  # below DIRECT_MIN: every byte goes through the chunk buffers
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets the peak resident size
    base = _hwm_mib()
    with ck.writer("big.pt") as w:
        for _ in range(8192):  # 1 GiB
            w.write(piece)
    growth = _hwm_mib() - base
    assert growth <= chunk * limit / 2**20 + 24, growth
    with ck.reader("big.pt") as r:
        r.seek((1 << 30) - 100)
        assert r.read() == bytes(piece[-100:])
    ck.remove("big.pt")


def test_large_writes_bypass_chunk_buffers(container, backend, monkeypatch):
    """A write of >= the direct threshold (torch.save hands over each tensor's storage in one
    call) is written from the caller's memory before write() returns: no chunk buffer filled
    for it, the partly filled chunk goes along, small writes around it keep their order. The
    threshold is 256 KiB on local (a write is a copy into the page cache) and 8-16 MiB on DAOS
    (medium writes stay in the chunk pipeline, overlapped with pickling)."""
    from pydaos_torch.checkpoint import CheckpointWriter
    DIRECT_MIN = 256 << 10  # the local threshold
    local = backend.name == "local"
    assert container.profile.direct_write_min == (DIRECT_MIN if local else 16 << 20)
    submitted = []
    real = CheckpointWriter._submit
    monkeypatch.setattr(CheckpointWriter, "_submit", lambda self: submitted.append(self._fill) or real(self))
    ck = Checkpoint(container=container, prefix="/ck", transfer_chunk_size=1 << 20, chunks_limit=2, workers=3)
    pieces = [data(100, 1), data((9 << 20) + 3, 2), data(5000, 3), data(200 << 10, 4), data(DIRECT_MIN, 5),
              data(7, 6)]
    direct = (1, 4) if local else (1,)
    with ck.writer("big.pt") as w:
        for k, p in enumerate(pieces):
            assert w.write(p) == len(p)
            if k in direct:  # on storage already, the buffered bytes before it included
                tmp = "/ck/" + hidden_temps(container)[0]
                assert container.stat(tmp).size == w.tell() == sum(map(len, pieces[:k + 1]))
        assert w.tell() == sum(map(len, pieces))
    assert read_raw(ck, "big.pt") == b"".join(pieces)
    # the buffered bytes went along with the direct writes; close() sent the rest
    assert submitted == ([7] if local else [sum(map(len, pieces[2:]))]), submitted
    submitted.clear()
    t = torch.arange(3 << 20, dtype=torch.int64)  # one 24 MiB tensor
    ck.save({"t": t}, "t.pt")
    assert torch.equal(ck.load("t.pt")["t"], t) and len(submitted) <= 1, submitted


def test_failed_large_write_raises_and_keeps_previous(container):
    ck = Checkpoint(container=container, prefix="/ck", transfer_chunk_size=1 << 20, chunks_limit=2)
    write_raw(ck, "model.pt", b"v1")

    w = ck.writer("model.pt")
    w._fl.f = FailingWrites(w._fl.f)
    with pytest.raises(OSError, match="injected"):
        with w:
            w.write(b"head")
            w.write(bytes(9 << 20))  # the direct path: the error comes out of this write()
    assert read_raw(ck, "model.pt") == b"v1" and hidden_temps(container) == []


@pytest.mark.parametrize("fsync", [False, True])
def test_fsync_starts_writeback_of_every_written_range(container, backend, monkeypatch, fsync):
    """Local backend, fsync=True: every written range is handed to the native start_writeback
    (sync_file_range(WRITE)) once written (the final fsync then has little left); not without
    fsync, never on dfs."""
    from pydaos_torch.checkpoint import writer as mod
    calls = []
    init = mod._Flusher.__init__

    def recording_init(self, f, depth, piece, sync_every=0, writeback=None):
        def rec(off, n):
            calls.append((off, n, f.size()))
            assert writeback(off, n) is True  # the native call did start writeback
        init(self, f, depth, piece, sync_every, rec if writeback is not None else None)

    monkeypatch.setattr(mod._Flusher, "__init__", recording_init)
    ck = Checkpoint(container=container, prefix="/ck", transfer_chunk_size=1 << 20, chunks_limit=2, fsync=fsync)
    payload = data((12 << 20) + 5, 9)
    with ck.writer("m.pt") as w:
        w.write(payload[:100])
        w.write(payload[100:(9 << 20)])  # direct
        for i in range(9 << 20, len(payload), 200_000):  # chunked (below DIRECT_MIN)
            w.write(payload[i:i + 200_000])
    assert read_raw(ck, "m.pt") == payload
    if not fsync or backend.name != "local":
        assert calls == []
        return
    assert all(off + n <= size for off, n, size in calls)  # only ranges already written
    covered = 0
    for off, n, _ in sorted(calls):
        assert off <= covered, (off, covered, calls)
        covered = max(covered, off + n)
    assert covered == len(payload)


def test_load_reads_tensors_straight_into_storage_on_local(container, backend, monkeypatch):
    """On local, torch.load's reads of tensor records go past the reader's small buffer straight
    into the tensor's storage: no 1 MiB buffer refills that copy every tensor twice (they made a
    64 MiB load 2x slower than torch.load). DAOS keeps the large buffer (a refill is a round trip)."""
    from pydaos_torch import checkpoint as mod
    reads = []
    real = mod.RangeReader.readinto
    monkeypatch.setattr(mod.RangeReader, "readinto", lambda self, b: reads.append(len(memoryview(b))) or real(self, b))
    ck = Checkpoint(container=container, prefix="/ck")
    sd = {f"t{i}": torch.full((100_000,), float(i)) for i in range(5)}  # 400,000 bytes each
    ck.save(sd, "five.pt")
    out = ck.load("five.pt")
    assert all(torch.equal(out[k], v) for k, v in sd.items())
    direct = [n for n in reads if 300_000 <= n <= 400_000]
    if backend.name == "local":
        assert len(direct) == 5 and max(reads) <= 400_000, reads
    else:
        assert max(reads) == container.profile.read_buffer == 1 << 20, reads


def test_one_writer_thread_per_file_where_the_file_system_serializes_writes(container, backend):
    """On a local file system whose buffered writes to one file serialize on the inode lock
    (ext4, xfs, tmpfs...), a checkpoint file is written one write at a time: more threads only
    add CPU. Elsewhere (DAOS, and parallel file systems on local paths) `workers` are in flight.
    The storage's profile decides; a profile= override wins."""
    ck = Checkpoint(container=container, prefix="/ck", workers=3)
    with ck.writer("m.pt") as w:
        w.write(b"x")
        depth = w._depth
    if backend.name == "dfs":
        assert not container.profile.serial_writes and depth == 3
        return
    serial = container.profile.serial_writes
    assert depth == (1 if serial else 3), container.profile
    parallel = container.profile.replace(serial_writes=False)  # as on a parallel file system
    with Checkpoint(container=container, prefix="/ck", workers=3, profile=parallel).writer("m.pt") as w:
        w.write(b"x")
        assert w._depth == 3


def test_a_save_lists_its_directory_once(container, monkeypatch):
    """One listing per save: the writer lists the directory once (versions whose cache can go,
    O_EXCL, leftovers); the commit reuses it and steps over numbers taken since."""
    from pydaos_torch.container import Container
    ck = Checkpoint(container=container, prefix="/ck", keep_versions=2)
    write_raw(ck, "m.pt", b"v1")
    listed = []
    real = Container.entries
    monkeypatch.setattr(Container, "entries", lambda self, p="/": listed.append(p) or real(self, p))
    for k in range(2, 5):
        listed.clear()
        write_raw(ck, "m.pt", b"v%d" % k)
        assert listed == ["/ck"], listed
    assert read_raw(ck, "m.pt") == b"v4" == container.read("/ck/m.pt")
    monkeypatch.undo()
    assert sorted(n for n in container.listdir("/ck") if n.startswith(".m.pt.ckpt-v")) == [".m.pt.ckpt-v00000003"]


def test_a_commit_steps_over_a_version_taken_after_its_listing(container):
    ck = Checkpoint(container=container, prefix="/ck", keep_versions=3)
    write_raw(ck, "m.pt", b"v1")
    w = ck.writer("m.pt")            # lists: v1 is the newest
    write_raw(ck, "m.pt", b"v2")     # another writer takes v2 meanwhile
    w.write(b"v3")
    w.close()
    assert read_raw(ck, "m.pt") == b"v3" == container.read("/ck/m.pt")
    hidden = sorted(n for n in container.listdir("/ck") if n.startswith(".m.pt.ckpt-v"))
    assert hidden == [".m.pt.ckpt-v00000001", ".m.pt.ckpt-v00000002"]
    assert container.read("/ck/" + hidden[1]) == b"v2"


def test_checkpoint_is_at_its_name_for_posix_tools(backend, container):
    """After a commit, <prefix>/<name> is the checkpoint: torch.load of the plain path (local;
    on DAOS, dfuse's view is this name) and a plain read of the container path; after the
    next commit it is the new one, and the previous version's hidden copy is gone (keep 1)."""
    ck = Checkpoint(container=container, prefix="/ck")
    ck.save({"w": torch.arange(10)}, "m.pt")
    assert container.stat("/ck/m.pt").is_file
    if backend.name == "local":
        path = os.path.join(backend.root, backend.pool, backend.cont, "ck", "m.pt")
        assert torch.equal(torch.load(path)["w"], torch.arange(10))
    ck.save({"w": torch.arange(20)}, "m.pt")
    assert torch.equal(torch.load(io.BytesIO(container.read("/ck/m.pt")))["w"], torch.arange(20))
    assert visible(container) == ["m.pt"] and not any(".ckpt-v" in n for n in container.listdir("/ck"))
    ck.remove("m.pt")
    assert container.listdir("/ck") == []


def test_a_plain_file_at_the_name_becomes_version_zero(container):
    """A file another tool wrote at the name (torch.save, pydaos.torch) is read until the
    first commit, then kept as the previous version (keep_versions=2) and collected later."""
    container.write("/ck/m.pt", b"theirs")
    ck = Checkpoint(container=container, prefix="/ck", keep_versions=2)
    assert read_raw(ck, "m.pt") == b"theirs" and ck.exists("m.pt")
    write_raw(ck, "m.pt", b"ours-1")
    assert read_raw(ck, "m.pt") == b"ours-1" == container.read("/ck/m.pt")
    assert container.read("/ck/.m.pt.ckpt-v00000000") == b"theirs"
    write_raw(ck, "m.pt", b"ours-2")
    assert not container.exists("/ck/.m.pt.ckpt-v00000000")
    assert container.read("/ck/.m.pt.ckpt-v00000001") == b"ours-1"


def test_upstream_zero_meanings_are_accepted(container):
    """pydaos.torch's no-chunking case: transfer_chunk_size=0, chunks_limit=0, workers=0."""
    ck = Checkpoint(container=container, prefix="/ck", transfer_chunk_size=0, chunks_limit=0, workers=0)
    write_raw(ck, "m.pt", data(300_000, 3))
    assert read_raw(ck, "m.pt") == data(300_000, 3)
    with pytest.raises(ValueError, match="workers"):
        Checkpoint(container=container, prefix="/ck", workers=-1)


def test_reader_has_the_bytesio_surface(container):
    ck = Checkpoint(container=container, prefix="/ck")
    payload = data(9 << 20, 4)  # parallel ranged reads inside
    write_raw(ck, "m.pt", payload, piece=1 << 20)
    r = ck.reader("m.pt")
    assert r.read(10) == payload[:10]
    assert r.getvalue() == payload and bytes(r.getbuffer()) == payload  # whole, wherever the position
    assert r.tell() == 10 and r.read(-2) == payload[10:]  # any negative size reads all, as files do
    r.seek(0)
    assert r.read() == payload
    r.close()
    with pytest.raises(ValueError):
        r.getvalue()


def test_reader_and_writer_outlive_their_checkpoint(backend):
    """A reader (or writer) used after its Checkpoint is closed keeps the connection until
    it is closed itself, whatever the size."""
    kw = {"backend": backend.name, "root": getattr(backend, "root", None)}
    big = data(12 << 20, 5)
    ck = Checkpoint(backend.pool, backend.cont, "/ck", **kw)
    write_raw(ck, "m.pt", big, piece=1 << 20)
    r = ck.reader("m.pt")
    w = ck.writer("n.pt")
    ck.close()
    with pytest.raises(ValueError, match="closed"):
        ck.reader("m.pt")
    assert r.read() == big
    w.write(b"later")
    w.close()
    r.close()
    again = Checkpoint(backend.pool, backend.cont, "/ck", **kw)
    assert read_raw(again, "n.pt") == b"later"
    again.close()
    if backend.name == "dfs":
        backend.reset_counters()


def test_small_file_behaviours_match_files(container):
    ck = Checkpoint(container=container, prefix="/ck")
    w = ck.writer("m.pt")
    w.write(b"abc")
    w.close()
    with pytest.raises(ValueError):
        w.tell()
    bad = Checkpoint.__new__(Checkpoint)
    with pytest.raises(ValueError):
        bad.__init__(container=container, workers=-5)
    assert "Checkpoint" in repr(bad)  # a constructor that raised leaves a printable object
