"""The IterableDataset on every backend: compatibility, the split over ranks and workers (equal
batch counts, exactly once), seeded shuffle per epoch, exact mid-epoch resume."""
import pickle

import pytest
from torch.utils.data import DataLoader

from pydaos_torch import IterableDataset
from pydaos_torch import _sharding


def payload(i: int) -> bytes:
    return i.to_bytes(4, "little") * (3 + i % 5)


def populate(c, n: int, prefix: str = "/it") -> list:
    files = {f"{prefix}/s{i:04d}.bin": payload(i) for i in range(n)}
    for p, d in files.items():
        c.write(p, d)
    return [files[p] for p in sorted(files)]


def ident(b: bytes) -> int:  # sample id, picklable
    return int.from_bytes(b[:4], "little")


def loader(ds, workers: int, **kw):
    extra = dict(num_workers=workers, multiprocessing_context="fork") if workers else {}
    return DataLoader(ds, batch_size=ds.batch_size, **extra, **kw)


def test_compatibility_parameters(container, backend):
    values = populate(container, 10)
    kw = {"backend": backend.name, "root": getattr(backend, "root", None)}
    # pydaos.torch order: pool, cont, path, transform_fn, readdir_batch_size, batch_size,
    # dir_cache_size, readdir_workers
    with IterableDataset(backend.pool, backend.cont, "/it", ident, 3, 4, 64, 2, **kw) as ds:
        assert ds.batch_size == 4 and len(ds) == 10
        assert list(ds) == list(range(10))
        ds.worker_init(0)
    if backend.name == "dfs":
        backend.reset_counters()  # `ds` connected by itself
    ds = IterableDataset(container=container, path="/it", batch_size=3, prefetch=0)
    assert list(ds) == values
    assert list(loader(ds, 2, collate_fn=lambda b: b)) != []
    with pytest.raises(ValueError):
        IterableDataset(container=container, path="/it", uneven="sometimes")
    with pytest.raises(ValueError):
        IterableDataset(container=container, path="it")
    ds2 = IterableDataset.from_paths(["/it/s0003.bin", "/it/s0001.bin"], container=container)
    assert list(ds2) == [values[3], values[1]]


@pytest.mark.parametrize("n,uneven", [(32, "pad"), (30, "pad"), (30, "drop"), (30, "none")])
def test_split_over_two_ranks_and_two_workers(container, n, uneven):
    populate(container, n)
    per_rank, batches = [], []
    for rank in range(2):
        ds = IterableDataset(container=container, path="/it", transform_fn=ident, batch_size=4,
                             shuffle=True, seed=7, rank=rank, world_size=2, uneven=uneven)
        got = list(loader(ds, 2, collate_fn=lambda b: b))
        batches.append(len(got))
        per_rank.append(sum(got, []))
        assert len(per_rank[-1]) == len(ds)
    everything = per_rank[0] + per_rank[1]
    if uneven != "none":
        assert batches[0] == batches[1] and len(per_rank[0]) == len(per_rank[1])  # DDP never hangs
    if n % 2 == 0 or uneven == "none":
        assert sorted(everything) == list(range(n))  # exactly once
    elif uneven == "pad":
        assert set(everything) == set(range(n)) and len(everything) == n + 1
    else:
        assert len(set(everything)) == len(everything) == n - 1
    assert per_rank[0] != sorted(per_rank[0])  # shuffled


def test_rank_from_environment(monkeypatch):
    for k in ("RANK", "WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "PMI_RANK", "PMI_SIZE",
              "PMIX_RANK", "SLURM_PROCID", "SLURM_NTASKS"):
        monkeypatch.delenv(k, raising=False)
    assert _sharding.rank_world() == (0, 1)
    monkeypatch.setenv("PMI_RANK", "2"), monkeypatch.setenv("PMI_SIZE", "4")
    assert _sharding.rank_world() == (2, 4)
    monkeypatch.setenv("OMPI_COMM_WORLD_RANK", "1"), monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "3")
    assert _sharding.rank_world() == (1, 3)
    monkeypatch.setenv("RANK", "5"), monkeypatch.setenv("WORLD_SIZE", "8")
    assert _sharding.rank_world() == (5, 8)
    assert _sharding.rank_world(0, 2) == (0, 2)
    import torch.distributed as dist  # an initialized process group wins over the environment
    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    monkeypatch.setattr(dist, "get_rank", lambda: 1)
    monkeypatch.setattr(dist, "get_world_size", lambda: 2)
    assert _sharding.rank_world() == (1, 2)
    with pytest.raises(ValueError):
        _sharding.rank_world(3, 2)


def test_shuffle_changes_with_epoch_and_reaches_persistent_workers(container):
    populate(container, 24)
    ds = IterableDataset(container=container, path="/it", transform_fn=ident, batch_size=4, shuffle=True, seed=1)
    dl = DataLoader(ds, batch_size=4, num_workers=2, multiprocessing_context="fork", persistent_workers=True)
    orders = []
    for epoch in (0, 1, 0):
        ds.set_epoch(epoch)
        orders.append(sum((b.tolist() for b in dl), []))
    assert sorted(orders[0]) == sorted(orders[1]) == list(range(24))
    assert orders[0] != orders[1] and orders[0] == orders[2]
    assert orders[0] == sum((b.tolist() for b in loader(ds, 0)), [])  # workers keep the rank's order


@pytest.mark.parametrize("workers", [0, 2])
def test_resume_mid_epoch_yields_exactly_the_rest(container, workers):
    populate(container, 27)
    make = lambda: IterableDataset(container=container, path="/it", transform_fn=ident, batch_size=4,
                                   shuffle=True, seed=5, rank=1, world_size=2, uneven="none")
    ds = make()
    ds.set_epoch(3)
    full = sum((b.tolist() for b in loader(ds, workers)), [])
    ds = make()
    ds.set_epoch(3)
    it = iter(loader(ds, workers))
    first = sum((next(it).tolist() for _ in range(2)), [])
    state = ds.state_dict() if workers == 0 else {"epoch": 3, "consumed": len(first)}
    del it
    assert state == {"epoch": 3, "consumed": 8}
    fresh = make()
    fresh.load_state_dict(pickle.loads(pickle.dumps(state)))
    rest = sum((b.tolist() for b in loader(fresh, workers)), [])
    assert first + rest == full
    fresh.set_epoch(4)  # a new epoch starts from its beginning
    assert len(sum((b.tolist() for b in loader(fresh, workers)), [])) == len(full)


@pytest.mark.filterwarnings("ignore:'set_vital' is deprecated")
@pytest.mark.parametrize("workers", [0, 2])
def test_stateful_dataloader_if_available(backend, request, workers):
    """torchdata's StatefulDataLoader (0.11 works with torch 2.13; not a dependency)."""
    sdl = pytest.importorskip("torchdata.stateful_dataloader")
    container = request.getfixturevalue("container")
    populate(container, 30)
    make = lambda: IterableDataset(container=container, path="/it", transform_fn=ident, batch_size=3, shuffle=True)
    full = sum((b.tolist() for b in sdl.StatefulDataLoader(make(), batch_size=3, num_workers=workers)), [])
    dl = sdl.StatefulDataLoader(make(), batch_size=3, num_workers=workers)
    it = iter(dl)
    first = sum((next(it).tolist() for _ in range(3)), [])
    state = pickle.loads(pickle.dumps(dl.state_dict()))
    del it
    dl2 = sdl.StatefulDataLoader(make(), batch_size=3, num_workers=workers)
    dl2.load_state_dict(state)
    assert first + sum((b.tolist() for b in dl2), []) == full


def test_small_dataset_is_balanced_over_workers(container):
    """10 samples, 3 workers: every worker has a share (4, 4, 2 as pydaos.torch splits), each
    sample exactly once."""
    populate(container, 10)
    ds = IterableDataset(container=container, path="/it", batch_size=32)
    per_worker = [len(_sharding.worker_blocks(10, 32, w, 3)) for w in range(3)]
    assert per_worker == [4, 4, 2]
    dl = DataLoader(ds, batch_size=None, num_workers=3, multiprocessing_context="fork")
    got = [ident(s) for s in dl]
    assert sorted(got) == list(range(10))


def test_objects_and_workset_are_upstreams_lists(container):
    data = populate(container, 7)
    ds = IterableDataset(container=container, path="/it")
    objs = ds.objects
    assert list(objs) == [(f"/it/s{i:04d}.bin", len(d)) for i, d in enumerate(data)]  # (path, size)
    assert list(ds.workset) == list(objs)  # one process: the whole set
    assert isinstance(objs[1:3], type(objs)) and len(objs[1:3]) == 2


def test_samples_are_bytearrays_a_transform_may_edit(container):
    populate(container, 3)

    def flip(sample):
        sample[0] ^= 0xFF  # in place, as pydaos.torch's samples allow
        return sample
    ds = IterableDataset(container=container, path="/it", transform_fn=flip)
    got = list(ds)
    assert all(isinstance(s, bytearray) for s in got)
    raw = sorted(bytes(container.read(p)) for p, _ in ds.objects)
    assert sorted(bytes([s[0] ^ 0xFF]) + bytes(s[1:]) for s in got) == raw
