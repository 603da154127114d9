"""DAOS's own pydaos.torch checkpoint tests (daos-stack/daos src/tests/ftest/pytorch/
checkpoint.py, parameters from checkpoint.yaml), ported with only the import changed: the
avocado harness became pytest, ``pool.identifier``/``container.identifier`` the fixture's
pool and container, ``self.random`` a seeded random.Random, ``self.fail`` an assert. Run on the
local backend and the dfs double."""
import errno
import os
import random
import uuid

import pytest

from pydaos_torch import Checkpoint

NO_CHUNKING = {"writes": 8}
CHUNKING = {"writes": 4, "chunk_sizes": [449, 4096, 1048576, 4194304], "chunks_limits": [0, 1, 2, 3, 8],
            "workers": [1, 2, 3, 4]}
MIN_SIZE, MAX_SIZE = 1, 4 * 1024 * 1024  # the tests' defaults (the yaml sets none)


@pytest.fixture
def ids(backend, monkeypatch):
    """(pool, container) as upstream passes them; the backend's settings in the environment,
    as a DAOS site has its agent and system."""
    for k, v in backend.env().items():
        monkeypatch.setenv(k, v)
    return backend.pool, backend.cont


def _test_checkpoint(pool, cont, writes, chunk_size=0, chunks_limit=0, workers=0):
    with Checkpoint(pool, cont, transfer_chunk_size=chunk_size, chunks_limit=chunks_limit,
                    workers=workers) as chkp:
        expected = bytearray()
        fname = str(uuid.uuid4())
        with chkp.writer(fname) as w:
            for chunk in writes:
                w.write(chunk)
                expected.extend(chunk)

        actual = chkp.reader(fname)
        assert expected == actual.getvalue(), (
            f"checkpoint did not read back the expected content for {len(writes)} writes,"
            f"chunk_size={chunk_size}, chunks_limit={chunks_limit}, workers={workers}")


def test_checkpoint_no_chunking(ids):
    rnd = random.Random(1)
    writes = []
    for _ in range(NO_CHUNKING["writes"]):
        writes.append(rnd.randbytes(rnd.randint(MIN_SIZE, MAX_SIZE)))
        _test_checkpoint(*ids, writes)


def test_checkpoint_chunking(ids):
    rnd = random.Random(2)
    writes = []
    for _ in range(CHUNKING["writes"]):
        writes.append(rnd.randbytes(rnd.randint(MIN_SIZE, MAX_SIZE)))
        for chunk_size in CHUNKING["chunk_sizes"]:
            for chunks_limit in CHUNKING["chunks_limits"]:
                for worker in CHUNKING["workers"]:
                    _test_checkpoint(*ids, writes, chunk_size=chunk_size, chunks_limit=chunks_limit,
                                     workers=worker)


def test_checkpoint_nested_directories(ids):
    pool, cont = ids
    d1, d2 = str(uuid.uuid4()), str(uuid.uuid4())
    files = ["/file.pt", f"/{d1}/file.pt", f"/{d1}/{d2}/file.pt"]

    # by default parent directories should be created
    with Checkpoint(pool, cont) as pt:
        for name in files:
            with pt.writer(name) as w:
                w.write(os.urandom(4096))

    # ensure that it fails with expected exception
    try:
        with Checkpoint(pool, cont) as pt:
            fname = f"/{str(uuid.uuid4())}/file.pt"
            with pt.writer(fname, ensure_path=False) as w:
                w.write(os.urandom(4096))
                raise RuntimeError("expected OSError with errno.ENOENT")
    except OSError as e:
        if e.errno != errno.ENOENT:
            raise RuntimeError(f"expected errno.ENOENT, got {os.strerror(e.errno)}") from e
    except Exception as e:
        raise RuntimeError(f"unexpected error: {e}") from e
