"""Other people's clients over ``daos://`` (pydaos_torch.fsspec): pandas and pyarrow parquet,
fsspec's parquet reader (its range requests served by one cat_ranges), DCP's fsspec writer
and reader, Lightning's Trainer checkpoints, a webdataset tar shard. URLs carry no storage
options: the backend comes from the environment, as it would in a user's job."""
from __future__ import annotations

import importlib
import io
import os
import tarfile

import fsspec
import pytest
import torch

from pydaos_torch.fsspec import DaosFileSystem, places


@pytest.fixture
def url(backend, monkeypatch):
    """daos://POOL/CONT of a fresh container; the environment selects its backend."""
    if backend.name == "local":
        monkeypatch.setenv("PYDAOS_TORCH_BACKEND", "local")
        monkeypatch.setenv("PYDAOS_TORCH_ROOT", backend.root)
    fsspec.config.conf.pop("daos", None)
    DaosFileSystem.clear_instance_cache()
    yield f"daos://{backend.pool}/{backend.cont}"
    DaosFileSystem.clear_instance_cache()
    places.forget()


def test_pandas_and_pyarrow_parquet(url):
    pd = pytest.importorskip("pandas")
    pa = pytest.importorskip("pyarrow")
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq
    df = pd.DataFrame({"a": range(1000), "b": [f"s{i}" for i in range(1000)], "c": [i * 0.5 for i in range(1000)]})
    df.to_parquet(f"{url}/pq/part0.parquet", row_group_size=100)
    df.iloc[::-1].to_parquet(f"{url}/pq/part1.parquet", row_group_size=100)
    got = pd.read_parquet(f"{url}/pq/part0.parquet", columns=["a", "c"])
    assert got.equals(df[["a", "c"]])
    fs, path = fsspec.core.url_to_fs(f"{url}/pq")
    dataset = ds.dataset(path, filesystem=fs, format="parquet")
    table = dataset.to_table(filter=ds.field("a") < 10)
    assert table.num_rows == 20 and sorted(table.column("a").to_pylist()) == sorted(list(range(10)) * 2)
    assert pq.read_table(f"{path}/part1.parquet", filesystem=fs).num_rows == 1000
    assert isinstance(pa.__version__, str)


def test_fsspec_parquet_reader_uses_one_cat_ranges(url, monkeypatch):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    from fsspec.parquet import open_parquet_file
    df = pd.DataFrame({f"c{i}": range(i, 5000 + i) for i in range(8)})
    df.to_parquet(f"{url}/pq/wide.parquet", row_group_size=500)
    calls = []
    orig = DaosFileSystem.cat_ranges

    def counting(self, paths, starts, ends, *a, **k):
        calls.append(len(paths))
        return orig(self, paths, starts, ends, *a, **k)

    monkeypatch.setattr(DaosFileSystem, "cat_ranges", counting)
    fs, path = fsspec.core.url_to_fs(f"{url}/pq/wide.parquet")
    with open_parquet_file(path, fs=fs, columns=["c1", "c5"], engine="pyarrow") as f:
        got = pd.read_parquet(f, columns=["c1", "c5"])
    assert got.equals(df[["c1", "c5"]])
    assert calls, "fsspec's parquet reader did not fetch through cat_ranges"  # its merged column-chunk ranges


def test_dcp_fsspec_writer_and_reader(url):
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint._fsspec_filesystem import FsspecReader, FsspecWriter
    sd = {"w": torch.arange(1000.0).reshape(10, 100), "b": torch.ones(7, dtype=torch.bfloat16), "step": 3}
    dcp.save(sd, checkpoint_id=f"{url}/dcp/ck")  # DCP picks its FsspecWriter for a URL
    got = {"w": torch.zeros(10, 100), "b": torch.zeros(7, dtype=torch.bfloat16), "step": 0}
    dcp.load(got, checkpoint_id=f"{url}/dcp/ck")
    assert torch.equal(got["w"], sd["w"]) and torch.equal(got["b"], sd["b"]) and got["step"] == 3
    fs, path = fsspec.core.url_to_fs(f"{url}/dcp/ck")
    assert ".metadata" in [p.rsplit("/", 1)[1] for p in fs.ls(path, detail=False)]
    assert FsspecWriter.validate_checkpoint_id(f"{url}/dcp/ck") and FsspecReader.validate_checkpoint_id(f"{url}/x")


def test_dcp_huggingface_safetensors(url):
    from torch.distributed.checkpoint import HuggingFaceStorageWriter
    from torch.distributed.checkpoint.filesystem import FileSystemWriter
    if issubclass(HuggingFaceStorageWriter, FileSystemWriter):
        pytest.skip("torch's HuggingFaceStorageWriter derives from FileSystemWriter in this release: "
                    "local paths only, no fsspec (our daos:// cannot be reached through it)")
    pytest.importorskip("safetensors")
    sd = {"w": torch.arange(12.0).reshape(3, 4)}
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint import HuggingFaceStorageReader
    dcp.save(sd, storage_writer=HuggingFaceStorageWriter(f"{url}/hf"))
    got = {"w": torch.zeros(3, 4)}
    dcp.load(got, storage_reader=HuggingFaceStorageReader(f"{url}/hf"))
    assert torch.equal(got["w"], sd["w"])


def test_lightning_trainer_checkpoints_to_daos(url, tmp_path):
    L = pytest.importorskip("lightning.pytorch")

    class Tiny(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(4, 1)

        def training_step(self, batch, _):
            x, y = batch
            return torch.nn.functional.mse_loss(self.layer(x), y)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    g = torch.Generator().manual_seed(0)
    data = torch.utils.data.TensorDataset(torch.randn(32, 4, generator=g), torch.randn(32, 1, generator=g))
    loader = torch.utils.data.DataLoader(data, batch_size=8)
    root = f"{url}/lightning"
    trainer = L.Trainer(default_root_dir=root, max_steps=6, logger=False, enable_progress_bar=False,
                        enable_model_summary=False, accelerator="cpu", devices=1)
    model = Tiny()
    trainer.fit(model, loader)
    fs, path = fsspec.core.url_to_fs(root)
    ckpts = [p for p in fs.find(path) if p.endswith(".ckpt")]
    assert len(ckpts) == 1, fs.find(path)
    back = Tiny.load_from_checkpoint(f"daos://{ckpts[0]}")
    assert torch.equal(back.layer.weight, model.layer.weight)
    resumed = L.Trainer(default_root_dir=root, max_steps=8, logger=False, enable_progress_bar=False,
                        enable_model_summary=False, accelerator="cpu", devices=1)
    resumed.fit(Tiny(), loader, ckpt_path=f"daos://{ckpts[0]}")
    assert resumed.global_step == 8


def test_webdataset_shard(url):
    wds = pytest.importorskip("webdataset")
    from pydaos_torch.fsspec import gopen_daos
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for i in range(10):
            for ext, data in (("txt", f"sample {i}".encode()), ("cls", str(i % 3).encode())):
                info = tarfile.TarInfo(f"{i:06d}.{ext}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    fs, path = fsspec.core.url_to_fs(f"{url}/wds/shard-000000.tar")
    fs.pipe(path, buf.getvalue())
    schemes = importlib.import_module("webdataset.gopen").gopen_schemes
    schemes["daos"] = gopen_daos  # the one line a user adds
    try:
        samples = list(wds.WebDataset(f"{url}/wds/shard-000000.tar", shardshuffle=False).decode())
    finally:
        schemes.pop("daos", None)
    assert [s["txt"] for s in samples] == [f"sample {i}" for i in range(10)]
    assert [s["cls"] for s in samples] == [i % 3 for i in range(10)]
    assert os.path.basename(samples[0]["__url__"]) == "shard-000000.tar"
