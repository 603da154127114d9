"""connect(), URIs, backend selection, and the errors when DAOS is missing."""
import os
import sys

import pytest

import pydaos_torch
from pydaos_torch import parse_uri

from backends import run_python


def test_parse_uri_daos():
    loc = parse_uri("daos://pool1/cont.2/train/x")
    assert (loc.backend, loc.pool, loc.container, loc.path) == ("dfs", "pool1", "cont.2", "/train/x")


def test_parse_uri_daos_maps_to_local_root_when_local_chosen(tmp_path):
    loc = parse_uri("daos://p/c/a/b", backend="local", root=str(tmp_path))
    assert (loc.backend, loc.pool, loc.container, loc.root, loc.path) == ("local", "p", "c", str(tmp_path), "/a/b")


def test_parse_uri_file_and_errors(tmp_path):
    loc = parse_uri(f"file://{tmp_path}")
    assert (loc.backend, loc.root, loc.path) == ("local", str(tmp_path), "/")
    for bad in ("s3://b/k", "daos://pool", "daos://po ol/c", "file://host/x"):
        with pytest.raises(ValueError):
            parse_uri(bad)


def test_connect_local_layouts(tmp_path):
    (tmp_path / "p" / "c").mkdir(parents=True)
    (tmp_path / "p" / "c" / "f").write_bytes(b"hi")
    with pydaos_torch.connect("p", "c", backend="local", root=str(tmp_path)) as c:
        assert c.read("/f") == b"hi" and c.backend == "local" and c.pool == "p"
    with pydaos_torch.connect(f"file://{tmp_path}/p/c") as c:  # the root is the container
        assert c.read("f") == b"hi"
    with pydaos_torch.connect("daos://p/c", backend="local", root=str(tmp_path)) as c:
        assert c.read("f") == b"hi"


def test_connect_local_errors_name_the_missing_thing(tmp_path):
    (tmp_path / "p").mkdir()
    with pytest.raises(FileNotFoundError, match="pool 'nopool' not found"):
        pydaos_torch.connect("nopool", "c", backend="local", root=str(tmp_path))
    with pytest.raises(FileNotFoundError, match="container 'nocont' not found in pool 'p'"):
        pydaos_torch.connect("p", "nocont", backend="local", root=str(tmp_path))
    with pytest.raises(FileNotFoundError, match="local root"):
        pydaos_torch.connect("p", "c", backend="local", root=str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="unknown backend"):
        pydaos_torch.connect("p", "c", backend="s3")
    with pytest.raises(ValueError, match="needs a root"):
        pydaos_torch.connect("p", "c", backend="local")


def test_env_defaults(tmp_path, monkeypatch):
    (tmp_path / "P" / "C").mkdir(parents=True)
    monkeypatch.setenv("PYDAOS_TORCH_BACKEND", "local")
    monkeypatch.setenv("PYDAOS_TORCH_ROOT", str(tmp_path))
    monkeypatch.setenv("DAOS_POOL", "P")
    monkeypatch.setenv("DAOS_CONT", "C")
    with pydaos_torch.connect() as c:
        assert (c.backend, c.pool, c.container) == ("local", "P", "C")


def test_auto_never_falls_back_to_local(tmp_path):
    r = run_python(
        "import pydaos_torch\n"
        "try:\n"
        "    pydaos_torch.connect('p', 'c')\n"
        "except OSError as e:\n"
        "    print('ERR', e)\n",
        {"PYDAOS_TORCH_LIBDFS": str(tmp_path / "nowhere" / "libdfs.so"), "PYDAOS_TORCH_BACKEND": "auto",
         "PYDAOS_TORCH_ROOT": str(tmp_path)})
    assert "ERR" in r.stdout, r.stderr
    assert "cannot load the DAOS client library" in r.stdout
    assert "nowhere/libdfs.so" in r.stdout and "backend='local'" in r.stdout


def test_explicit_dfs_without_library_says_why(tmp_path):
    r = run_python(
        "import pydaos_torch\n"
        "try:\n"
        "    pydaos_torch.connect('p', 'c', backend='dfs')\n"
        "except OSError as e:\n"
        "    print('ERR', type(e).__name__, e)\n",
        {"PYDAOS_TORCH_LIBDFS": "libdfs_that_does_not_exist.so"})
    assert "ERR" in r.stdout and "libdfs_that_does_not_exist.so" in r.stdout, r.stdout + r.stderr


def test_installed_package_is_tested():
    # `make test` installs the wheel; the tree's pydaos_torch must not shadow it.
    if os.environ.get("PYDAOS_TORCH_DEV"):
        pytest.skip("development run against the source tree")
    pkg = os.path.dirname(pydaos_torch.__file__)
    assert "site-packages" in pkg, pkg
    for f in ("_core.pyi", "py.typed"):
        assert os.path.exists(os.path.join(pkg, f)), f
    assert any(n.startswith("_core") and n.endswith(".so") for n in os.listdir(pkg))
