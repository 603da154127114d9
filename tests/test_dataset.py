"""The map-style Dataset on every backend: pydaos.torch compatibility, the seed README's
examples verbatim, both sample modes, DataLoader under fork and spawn, samplers, slabs; and what
every dataset gets from their one base (sources of the Index, lifetime, pickling, the batch read)."""
import io
import os
import pickle
import textwrap

import pytest
import torch
from torch.utils.data import DataLoader, DistributedSampler

import pydaos_torch
from pydaos_torch import Dataset, IterableDataset, SampleBatch, collate_batch
from pydaos_torch import _slabs


def payload(i: int) -> bytes:
    return bytes([i % 251]) * (100 + 37 * i)


def populate(c, n: int = 20, prefix: str = "/data") -> dict:
    """n files in three subdirectories; returns {path: bytes} in the dataset's (sorted) order."""
    files = {f"{prefix}/d{i % 3}/f{i:03d}.bin": payload(i) for i in range(n)}
    for p, d in files.items():
        c.write(p, d)
    return dict(sorted(files.items()))


def upper(b: bytes) -> bytes:  # a picklable transform_fn (spawn)
    return b[:4]


def named_container(backend, monkeypatch, cont: str = "container"):
    """A second container named like the README's, reachable by the README's plain Dataset(...)."""
    if backend.name == "local":
        os.makedirs(os.path.join(backend.root, backend.pool, cont), exist_ok=True)
        for k, v in backend.env().items():
            monkeypatch.setenv(k, v)
        return pydaos_torch.connect(backend.pool, cont, backend="local", root=backend.root)
    backend.control.create_container(backend.store, backend.pool, cont)
    return pydaos_torch.connect(backend.pool, cont, backend="dfs")


@pytest.mark.filterwarnings("ignore:This DataLoader will create")
def test_readme_examples_verbatim(backend, monkeypatch, capsys):
    c = named_container(backend, monkeypatch)
    populate(c, 10, "/training/samples")
    c.close()
    # the seed README's two examples, with only the import changed
    example = textwrap.dedent("""
        import torch
        from torch.utils.data import DataLoader
        from pydaos_torch import Dataset

        dataset = Dataset(pool='pool', container='container', path='/training/samples')
        # That's it, when the Dataset is created, it will connect to DAOS, scan the namaspace of the container
        # and will be ready to load data from it.

        for i, sample in enumerate(dataset):
            print(f"Sample {i} size: {len(sample)}")


        dataloader = DataLoader(dataset,
                                batch_size=4,
                                shuffle=True,
                                num_workers=4,
                                worker_init_fn=dataset.worker_init)

        # and use DataLoader as usual
        for batch in dataloader:
            print(f"Batch size: {len(batch)}")
        """)
    scope = {"__name__": "__main__"}
    exec(compile(example, "README.md", "exec"), scope)
    scope["dataset"].close()
    out = capsys.readouterr().out.splitlines()
    sizes = sorted(len(payload(i)) for i in range(10))
    assert sorted(int(l.split(": ")[1]) for l in out if l.startswith("Sample")) == sizes
    assert sorted(int(l.split(": ")[1]) for l in out if l.startswith("Batch")) == [2, 4, 4]


def test_every_compatibility_parameter(container, backend):
    files = populate(container)
    # positional, in pydaos.torch's order: pool, cont, path, transform_fn, readdir_batch_size,
    # dir_cache_size, readdir_workers
    kw = {"backend": backend.name, "root": getattr(backend, "root", None)}
    with Dataset(backend.pool, backend.cont, "/data", upper, 5, 16, 2, **kw) as ds:
        assert len(ds) == len(files)
        assert [ds[i] for i in range(len(ds))] == [d[:4] for d in files.values()]
        assert (ds.readdir_batch_size, ds.dir_cache_size, ds.readdir_workers) == (5, 16, 2)
        ds.worker_init(None), ds.worker_init(-1), ds.worker_init(0)
    ds.close()  # idempotent
    with pytest.raises(ValueError):
        ds[0]
    ds = Dataset(pool=backend.pool, cont=backend.cont, path="/data", **kw)
    assert list(ds) == list(files.values())  # `for s in ds` ends: IndexError past the end
    assert ds.objects == [(p, len(d)) for p, d in files.items()]  # pydaos.torch's listing
    with pytest.raises(IndexError):
        ds[len(ds)]
    assert ds[-1] == list(files.values())[-1] and isinstance(ds[0], bytearray)  # pydaos.torch's type
    with pytest.raises(TypeError):
        ds["0"]
    ds.close()
    if backend.name == "dfs":
        backend.reset_counters()  # the two datasets above connected by themselves
    ds = Dataset(container=container, path="/data/d1")  # container= alias; a Container is shared
    assert list(ds) == [d for p, d in files.items() if "/d1/" in p]
    ds.close()
    assert container.exists("/data")  # not closed by the dataset
    with pytest.raises(ValueError):
        Dataset(container=container, path="data")  # relative
    with pytest.raises(ValueError):
        Dataset(cont=container, container=backend.cont)
    with pytest.raises(FileNotFoundError):
        Dataset(container=container, path="/missing")


def test_uri_and_environment(backend, monkeypatch):
    c = backend.connect()
    files = populate(c, 6)
    for k, v in backend.env().items():
        monkeypatch.setenv(k, v)
    ds = Dataset(path="/data")  # DAOS_POOL / DAOS_CONT / PYDAOS_TORCH_BACKEND
    assert list(ds) == list(files.values())
    ds.close()
    if backend.name == "dfs":
        ds = Dataset(f"daos://{backend.pool}/{backend.cont}/data/d0")
        assert list(ds) == [d for p, d in files.items() if "/d0/" in p]
        ds.close()
    c.close()


def test_from_paths_manifest_and_getitems(container, tmp_path, monkeypatch):
    files = populate(container)
    wanted = list(files)[::-1][:7]
    ds = Dataset.from_paths(wanted, container=container)
    assert [ds[i] for i in range(len(ds))] == [files[p] for p in wanted]
    assert ds.path_of(0) == wanted[0]
    calls = []
    real = type(container).read_index
    monkeypatch.setattr(type(container), "read_index", lambda self, *a, **k: calls.append(1) or real(self, *a, **k))
    assert ds.__getitems__([3, 0, 6]) == [files[wanted[3]], files[wanted[0]], files[wanted[6]]]
    assert len(calls) == 1  # the whole batch in one native call
    monkeypatch.undo()

    full = Dataset(container=container, path="/data")
    full.save_manifest(str(tmp_path / "m.bin"))
    again = Dataset.from_manifest(str(tmp_path / "m.bin"), container=container)
    assert list(again) == list(files.values())
    buf = io.BytesIO()
    full.save_manifest(buf)
    assert len(Dataset.from_manifest(io.BytesIO(buf.getvalue()), container=container)) == len(files)
    (tmp_path / "m.txt").write_text("# root: /data\n" + "".join(
        f"{len(d)}\t{p[len('/data/'):]}\n" for p, d in list(files.items())[:3]))
    assert list(Dataset.from_manifest(str(tmp_path / "m.txt"), container=container)) == list(files.values())[:3]
    # the dataset pickles as the container handle plus the index bytes
    clone = pickle.loads(pickle.dumps(full))
    assert list(clone) == list(files.values())


def check_batches(batches, files, mode):
    seen = []
    values = list(files.values())
    for b in batches:
        if mode == "fast":
            assert isinstance(b, SampleBatch)
            for k, t in zip(b.indices.tolist(), b):
                assert t.numpy().tobytes() == values[k]
                seen.append(k)
        else:
            assert isinstance(b, list) and all(isinstance(x, bytearray) for x in b)
            seen.extend(values.index(x) for x in b)
    return seen


@pytest.mark.parametrize("mode", ["bytes", "fast"])
@pytest.mark.parametrize("workers,ctx", [(0, None), (2, "fork"), (2, "spawn")])
def test_dataloader(backend, request, mode, workers, ctx):
    if ctx == "spawn" and backend.name == "dfs":
        pytest.skip("spawn is slow: test_workers_reuse_the_pool_connection covers it on dfs")
    container = request.getfixturevalue("container")
    files = populate(container, 24)
    ds = Dataset(container=container, path="/data", sample_mode=mode)
    if backend.name == "dfs":
        backend.reset_counters()
    kw = dict(num_workers=workers, multiprocessing_context=ctx) if workers else {}
    dl = DataLoader(ds, batch_size=5, shuffle=True, collate_fn=collate_batch if mode == "fast" else None, **kw)
    seen = check_batches(list(dl), files, mode)
    assert sorted(seen) == list(range(len(files))) and seen != sorted(seen)
    if backend.name == "dfs":
        cnt = backend.counters()
        assert cnt["pool_connect"] == 0  # workers attach to the parent's connection, no new one
        assert cnt["read"] >= len(files)


def test_workers_reuse_the_pool_connection(backend):
    if backend.name != "dfs":
        pytest.skip("pool connections are counted by the DAOS test double")
    with backend.connect() as c:
        files = populate(c, 12)
    backend.reset_counters()
    ds = Dataset(backend.pool, backend.cont, "/data", backend="dfs")  # the one connection
    assert sorted(sum(DataLoader(ds, batch_size=4, num_workers=2, multiprocessing_context="fork"), [])) == \
        sorted(files.values())
    fast = Dataset(container=ds.container, path="/data", sample_mode="fast")
    got = DataLoader(fast, batch_size=4, num_workers=2, multiprocessing_context="spawn", collate_fn=collate_batch)
    assert sorted(check_batches(got, files, "fast")) == list(range(len(files)))
    cnt = backend.counters()
    # workers attached to the parent's connection (fork: re-attach; spawn: global2local)
    assert cnt["pool_connect"] == 1 and cnt["global2local"] >= 2 and cnt["read"] >= 2 * len(files), cnt
    ds.close()


def test_shuffle_drop_last_and_distributed_sampler(container):
    files = populate(container, 22)
    ds = Dataset(container=container, path="/data")
    batches = list(DataLoader(ds, batch_size=4, shuffle=True, drop_last=True))
    assert len(batches) == 5 and all(len(b) == 4 for b in batches)
    assert len(set(map(bytes, sum(batches, [])))) == 20
    got = []
    for rank in range(2):
        s = DistributedSampler(ds, num_replicas=2, rank=rank, shuffle=True, seed=3)
        s.set_epoch(1)
        got.append(sum(DataLoader(ds, batch_size=3, sampler=s), []))
    assert len(got[0]) == len(got[1]) == 11
    assert sorted(got[0] + got[1]) == sorted(files.values())


def test_fast_mode_slabs_recycle_and_fall_back(container):
    files = populate(container, 16)
    values = list(files.values())
    ds = Dataset(container=container, path="/data", sample_mode="fast", slabs=2)
    pool = _slabs.pool(2)
    before = len(pool.slabs)
    for _ in range(10):  # freed each time: the same slab comes back
        b = ds.__getitems__([0, 1, 2])
        assert isinstance(b.data, _slabs.SlabTensor) and b[2].numpy().tobytes() == values[2]
        assert b.data.data_ptr() % (2 << 20) == 0  # 2 MiB-aligned slab
        del b
    assert len(pool.slabs) - before <= 1
    held = [ds.__getitems__([i]) for i in range(12)]  # kept alive: the pool runs dry
    assert pool.fallbacks >= 1 and all(h[0].numpy().tobytes() == values[i] for i, h in enumerate(held))
    view = held[0][0]
    del held  # a view keeps its slab busy; the rest return
    assert view.numpy().tobytes() == values[0]
    sample = ds[3]
    assert isinstance(sample, torch.Tensor) and sample.numpy().tobytes() == values[3]
    with pytest.raises(ValueError):
        Dataset(container=container, path="/data", sample_mode="fast", transform_fn=upper)
    with pytest.raises(ValueError):
        Dataset(container=container, path="/data", sample_mode="nope")


def test_fast_mode_large_files_without_batching(container):
    big = {f"/big/f{i}.bin": bytes([i]) * ((3 << 20) + i) for i in range(3)}
    for p, d in big.items():
        container.write(p, d)
    ds = Dataset(container=container, path="/big", sample_mode="fast")
    for epoch in range(2):
        got = [t.numpy().tobytes() for t in DataLoader(ds, batch_size=None, num_workers=2,
                                                        multiprocessing_context="fork")]
        assert got == list(big.values())
    def alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True

    leftovers = [n for n in os.listdir(_slabs._shm_dir()) if n.startswith(_slabs._PREFIX)
                 and not alive(int(n.split("-")[2]))]
    assert leftovers == []  # the workers unlinked their slabs when they exited


def die_on_five(b: bytes) -> bytes:
    if b == payload(5):
        os._exit(3)
    return b


def test_worker_that_dies_gives_dataloader_error(container):
    populate(container, 8)
    ds = Dataset(container=container, path="/data", transform_fn=die_on_five)
    with pytest.raises(RuntimeError, match="exited unexpectedly"):
        list(DataLoader(ds, batch_size=2, num_workers=2, multiprocessing_context="fork", timeout=60))


# ---------------------------------------------------------------- the one base of every dataset
KINDS = {"bytes": (Dataset, {"sample_mode": "bytes"}), "fast": (Dataset, {"sample_mode": "fast"}),
         "iterable": (IterableDataset, {"batch_size": 4, "prefetch": 0})}


def all_samples(ds) -> list:
    """Every sample's bytes, in the dataset's order."""
    got = list(ds) if isinstance(ds, IterableDataset) else [ds[i] for i in range(len(ds))]
    return [s if isinstance(s, (bytes, bytearray)) else s.numpy().tobytes() for s in got]


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_dataset_shares_sources_lifetime_pickling_and_reads(backend, request, tmp_path, monkeypatch, kind):
    container = request.getfixturevalue("container")
    cls, extra = KINDS[kind]
    files = populate(container, 9)
    wanted = list(files)[::-2]
    kw = {"backend": backend.name, "root": getattr(backend, "root", None)}
    with cls.from_paths(wanted, backend.pool, backend.cont, **kw, **extra) as owned:
        mine = owned.container
        assert mine is not container and all_samples(owned)[0] == files[wanted[0]]
    with pytest.raises(ValueError, match="closed"):
        mine.stat("/data")  # the dataset opened it, so closing the dataset closed it
    if backend.name == "dfs":
        backend.reset_counters()  # `owned` connected by itself

    ds = cls.from_paths(wanted, container=container, **extra)
    assert type(ds) is cls and all_samples(ds) == [files[p] for p in wanted]  # the given order
    assert all_samples(pickle.loads(pickle.dumps(ds))) == [files[p] for p in wanted]  # the order travels

    full = cls(container=container, path="/data", **extra)
    full.save_manifest(str(tmp_path / "m.bin"))
    assert all_samples(cls.from_manifest(str(tmp_path / "m.bin"), container=container, **extra)) == \
        list(files.values())
    calls = []
    real = type(container).read_index
    monkeypatch.setattr(type(container), "read_index", lambda self, *a, **k: calls.append(1) or real(self, *a, **k))
    if cls is Dataset:
        batch = full.__getitems__(list(range(len(files))))
        got = [b if isinstance(b, (bytes, bytearray)) else b.numpy().tobytes() for b in batch]
        assert got == list(files.values()) and len(calls) == 1  # one native read per batch
        if kind == "fast":
            assert isinstance(batch.data, _slabs.SlabTensor)
    else:
        assert list(full) == list(files.values()) and len(calls) == -(-len(files) // full.batch_size)
    monkeypatch.undo()

    with full:
        assert full.container is container
    assert full.container is None
    for closed in (lambda: full.index, lambda: pickle.dumps(full)):
        with pytest.raises(ValueError, match="closed"):
            closed()
    assert container.exists("/data")  # a Container given to the dataset is shared, not closed


def test_from_paths_allows_repeated_paths(container):
    """Oversampling by repetition: each occurrence is a sample."""
    container.write("/rep/a", b"AA")
    container.write("/rep/b", b"B")
    ds = Dataset.from_paths(["/rep/a", "/rep/b", "/rep/a", "/rep/a"], container=container)
    assert [bytes(ds[i]) for i in range(len(ds))] == [b"AA", b"B", b"AA", b"AA"]
    assert isinstance(ds[0], bytearray)  # pydaos.torch's sample type


def test_upstream_names_are_exported():
    import pydaos_torch as p
    for name in ("WriteBuffer", "transform_fn_default", "ITER_BATCH_SIZE", "READDIR_BATCH_SIZE",
                 "PARALLEL_SCAN_WORKERS", "DIR_CACHE_SIZE", "DEFAULT_CHUNK_SIZE", "DEFAULT_CHUNKS_LIMIT"):
        assert hasattr(p, name), name
    assert p.DEFAULT_CHUNK_SIZE == 64 << 20 and p.transform_fn_default(b"x") == b"x"
