"""Shared fixtures. `container` runs a test on every backend: the local backend, and the dfs
backend over the C test double of libdaos/libdfs (tests/fake_dfs), whose counters the dfs
tests assert so that nothing silently goes through POSIX.  The double is built as the DAOS
release that $PYDAOS_TORCH_FAKE_DAOS names (default: the newest; see backends.personality)."""
from __future__ import annotations

import os
import uuid

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))

import pydaos_torch  # noqa: E402

from backends import BACKENDS, PERSONALITY_ENV, Backend, make_backend, personality  # noqa: E402


def pytest_addoption(parser):
    parser.addoption("--slow", action="store_true", help="also run the tests marked slow (long crash trials)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--slow") or os.environ.get("PYDAOS_TORCH_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow: run with --slow (or PYDAOS_TORCH_SLOW=1)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long trials, run with --slow")
    try:
        personality()  # a bad $PYDAOS_TORCH_FAKE_DAOS stops the run before any test
    except ValueError as e:
        raise pytest.UsageError(str(e))


def pytest_report_header(config):
    return f"dfs backend: the test double as DAOS {personality()} (${PERSONALITY_ENV})"


@pytest.fixture(autouse=True)
def _close_kept_connections():
    """A DAOS connection handed to other processes outlives its Container until the process
    exits; the test process closes them after each test, so that every test starts from a
    process with no connection (the double reads FAKE_DAOS_STORE at daos_init)."""
    yield
    pydaos_torch._core.close_kept_connections()


@pytest.fixture(params=BACKENDS)
def backend(request, tmp_path_factory) -> Backend:
    """A fresh pool/container on one backend, with a way to connect and to read counters."""
    b = make_backend(request.param, tmp_path_factory, request)
    yield b
    b.cleanup()


@pytest.fixture
def container(backend):
    """A read-write Container on a fresh container of each backend. On dfs, the test must
    have gone through the double: one pool connection, and DFS calls counted."""
    c = backend.connect()
    yield c
    c.close()
    counts = backend.counters()
    if counts is not None:
        assert counts["pool_connect"] <= 1, counts
        dfs_calls = sum(counts[k] for k in ("open", "read", "write", "stat", "lookup", "readdir", "mkdir"))
        assert dfs_calls > 0, f"no DFS call was counted: did the test bypass the double? {counts}"


@pytest.fixture
def local_container(tmp_path):
    c = pydaos_torch.connect("pool", "cont", backend="local", root=str(tmp_path), create=True)
    yield c
    c.close()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
