"""DAOS's own pydaos.torch dataset tests (daos-stack/daos src/tests/ftest/pytorch/dataset.py,
parameters from dataset.yaml), ported with only the import changed: the avocado harness became
pytest, dfuse + DirectoryTreeCommand (a tree of ``tree_height`` levels, ``subdirs`` per
directory, ``files_per_node`` random files "samples*" of min..max bytes in each directory) a
tree written through the container, ``find | md5sum`` a walk of it, ``self.fail`` an assert.
Run on the local backend and the dfs double."""
import hashlib
import random

import pytest
from torch.utils.data import DataLoader

from pydaos_torch import Dataset, IterableDataset

PARAMS = {
    "map_style_dataset": {"tree_height": 2, "subdirs": 2, "files_per_node": 64},
    "iterable_dataset": {"tree_height": 4, "subdirs": 5, "files_per_node": 6},
    "map_dataset_with_dataloader": {"tree_height": 3, "subdirs": 5, "files_per_node": 7,
                                    "processes": [0, 1, 2, 3, 4, 8], "batch_size": [2, 4, 8, 16]},
    "iterable_dataset_with_dataloader": {"tree_height": 3, "subdirs": 5, "files_per_node": 7,
                                         "processes": [0, 1, 2, 3, 4, 8], "batch_size": [2, 4, 8, 16]},
}


@pytest.fixture
def ids(backend, monkeypatch):
    """(pool, container) as upstream passes them; the backend's settings in the environment."""
    for k, v in backend.env().items():
        monkeypatch.setenv(k, v)
    return backend.pool, backend.cont


@pytest.fixture
def container(backend):
    """The tree's writer and checker (dfuse's part upstream): its own connection, as the
    datasets open theirs."""
    c = backend.connect()
    yield c
    c.close()


def _create_test_files(c, height, subdirs, files_per_node, min_size, max_size, seed=0):
    """DirectoryTreeCommand's tree: files in every directory, ``subdirs`` below each, ``height`` levels."""
    rnd = random.Random(seed)
    level = ["/"]
    for depth in range(height):
        below = []
        for d in level:
            for f in range(files_per_node):
                c.write(f"{d.rstrip('/')}/samples_{depth}_{f}", rnd.randbytes(rnd.randint(min_size, max_size)))
            if depth + 1 < height:
                for s in range(subdirs):
                    sub = f"{d.rstrip('/')}/dir{s}"
                    c.mkdirs(sub)
                    below.append(sub)
        level = below


def _get_test_files_hashmap(c):
    hashes = {}
    for p, _ in _walk(c, "/"):
        h = hashlib.md5(c.read(p)).hexdigest()  # nosec
        hashes[h] = hashes.get(h, 0) + 1
    return hashes


def _walk(c, d):
    for e in c.entries(d):
        p = f"{d.rstrip('/')}/{e.name}"
        if e.is_dir:
            yield from _walk(c, p)
        else:
            yield p, None


def _count(samples):
    actual = {}
    for content in samples:
        h = hashlib.md5(content).hexdigest()  # nosec
        actual[h] = actual.get(h, 0) + 1
    return actual


def test_map_style_dataset(ids, container):
    p = PARAMS["map_style_dataset"]
    _create_test_files(container, p["tree_height"], p["subdirs"], p["files_per_node"], 4096, 4096)
    expected = _get_test_files_hashmap(container)
    dataset = Dataset(pool=ids[0], cont=ids[1], readdir_batch_size=5)
    assert _count(content for _, content in enumerate(dataset)) == expected, "dataset did not fetch all samples"


def test_iterable_dataset(ids, container):
    p = PARAMS["iterable_dataset"]
    _create_test_files(container, p["tree_height"], p["subdirs"], p["files_per_node"], 4096, 128 * 1024)
    expected = _get_test_files_hashmap(container)
    dataset = IterableDataset(ids[0], ids[1])
    assert _count(content for _, content in enumerate(dataset)) == expected, "dataset did not fetch all samples"


@pytest.mark.parametrize("kind", ["map_dataset_with_dataloader", "iterable_dataset_with_dataloader"])
def test_dataset_with_dataloader(ids, container, kind):
    p = PARAMS[kind]
    # DataLoader requires that samples are of the same size
    _create_test_files(container, p["tree_height"], p["subdirs"], p["files_per_node"], 4096, 4096)
    expected = _get_test_files_hashmap(container)
    cls = Dataset if kind.startswith("map") else IterableDataset
    dataset = cls(ids[0], ids[1])
    for procs in p["processes"]:
        for batch_size in p["batch_size"]:
            loader = DataLoader(dataset, batch_size=batch_size, num_workers=procs,
                                # no collation, otherwise tensors are returned
                                collate_fn=lambda x: x, worker_init_fn=dataset.worker_init, drop_last=False)
            actual = _count(content for batch in loader for content in batch)
            assert actual == expected, \
                f"DataLoader with nproc={procs} and bs={batch_size} did not fetch all samples"
