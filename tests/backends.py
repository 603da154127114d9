"""The two backends the suite runs on, behind one small interface for the tests."""
from __future__ import annotations

import os
import subprocess
import sys
from typing import Dict, Optional

import pydaos_torch

HERE = os.path.dirname(os.path.abspath(__file__))
BACKENDS = ["local", "dfs"]
_fake_builds: Dict[tuple, dict] = {}
# The DAOS release the double looks like for the dfs backend (tests/fake_dfs/build.py PRESETS):
# `PYDAOS_TORCH_FAKE_DAOS=2.2 pytest ...` runs the dfs tests against DAOS 2.2's layouts, DER
# codes and symbols (no dfs_readdirplus, no daos_reinit).  Default: the newest release.
PERSONALITY_ENV = "PYDAOS_TORCH_FAKE_DAOS"


def _load(name: str):
    """Imports tests/fake_dfs/<name>.py by path (PyPA's `build` package shadows the name)."""
    import importlib.util
    mod_name = "fake_dfs_" + name
    if mod_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(mod_name, os.path.join(HERE, "fake_dfs", name + ".py"))
        mod = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = mod
        spec.loader.exec_module(mod)
    return sys.modules[mod_name]


def personality() -> str:
    """The DAOS release named by $PYDAOS_TORCH_FAKE_DAOS (a build.py preset), else the newest."""
    fake_build = _load("build")
    version = os.environ.get(PERSONALITY_ENV) or fake_build.NEWEST
    if version not in fake_build.PRESETS:
        raise ValueError(f"{PERSONALITY_ENV}={version!r} is not a DAOS release the test double can "
                         f"be built as (one of: {', '.join(fake_build.PRESETS)})")
    return version


def personality_at_least(version: str) -> bool:
    """Whether the personality is DAOS ``version`` or later (build.py PRESETS are in order)."""
    order = list(_load("build").PRESETS)
    return order.index(personality()) >= order.index(version)


def requires_daos(version: str, why: str):
    """Skips a dfs test whose behaviour needs DAOS ``version`` under an older personality."""
    import pytest
    return pytest.mark.skipif(not personality_at_least(version),
                              reason=f"needs DAOS {version}+ ({why}); the double is DAOS {personality()}")


def fake_dfs_build(tmp_path_factory, with_reinit: Optional[bool] = None, omit: Optional[tuple] = None,
                   daos_version: Optional[str] = None) -> dict:
    """Builds the test double once per variant per session (C sources in tests/fake_dfs).
    What the caller leaves unset comes from the personality (personality())."""
    kw = _load("build").preset(daos_version or personality())
    if with_reinit is not None:
        kw["with_reinit"] = with_reinit
    if omit is not None:
        kw["omit"] = tuple(omit)
    key = (kw["daos_version"], kw["with_reinit"], kw["omit"])
    if key not in _fake_builds:
        label = "_".join([kw["daos_version"], "reinit" if kw["with_reinit"] else "noreinit", *kw["omit"]])
        out = tmp_path_factory.mktemp("fake_dfs_" + label)
        _fake_builds[key] = _load("build").build(str(out), **kw)
    return _fake_builds[key]


class Backend:
    name = ""

    def connect(self, **kw) -> "pydaos_torch.Container":
        raise NotImplementedError

    def env(self) -> Dict[str, str]:
        """Environment for a subprocess that must reach the same container."""
        return {}

    def counters(self) -> Optional[Dict[str, int]]:
        return None

    def cleanup(self) -> None:
        pass


class LocalBackend(Backend):
    name = "local"

    def __init__(self, root: str):
        self.root = root
        self.pool, self.cont = "pool", "cont"
        os.makedirs(os.path.join(root, self.pool, self.cont))

    def connect(self, **kw):
        return pydaos_torch.connect(self.pool, self.cont, backend="local", root=self.root, **kw)

    def env(self):
        return {"PYDAOS_TORCH_BACKEND": "local", "PYDAOS_TORCH_ROOT": self.root,
                "DAOS_POOL": self.pool, "DAOS_CONT": self.cont}


class DfsBackend(Backend):
    name = "dfs"

    def __init__(self, store: str, build: dict, monkeypatch):
        control = _load("control")
        self.control = control
        self.store = store
        self.pool, self.cont = "pool", "cont"
        control.create_pool(store, self.pool)
        control.create_container(store, self.pool, self.cont)
        self.lib = build["libdfs"]
        self._env = {"PYDAOS_TORCH_LIBDFS": self.lib, "FAKE_DAOS_STORE": store,
                     "DAOS_POOL": self.pool, "DAOS_CONT": self.cont, "PYDAOS_TORCH_BACKEND": "dfs"}
        for k, v in self._env.items():
            monkeypatch.setenv(k, v)

    def connect(self, **kw):
        return pydaos_torch.connect(self.pool, self.cont, backend="dfs", **kw)

    def env(self):
        return dict(self._env)

    def counters(self):
        return self.control.counters(self.store)

    def reset_counters(self):
        self.control.reset_counters(self.store)


def make_backend(name: str, tmp_path_factory, request) -> Backend:
    if name == "local":
        return LocalBackend(str(tmp_path_factory.mktemp("local_root")))
    monkeypatch = request.getfixturevalue("monkeypatch")
    build = fake_dfs_build(tmp_path_factory)
    return DfsBackend(str(tmp_path_factory.mktemp("fake_store")), build, monkeypatch)


def run_python(code: str, env: Dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    """Runs code in a fresh interpreter with extra environment variables."""
    full = dict(os.environ)
    full.update(env)
    return subprocess.run([sys.executable, "-c", code], env=full, capture_output=True, text=True, timeout=timeout)
