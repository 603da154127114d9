"""Lightning's CheckpointIO on a container (pydaos_torch.lightning), on local and the dfs
double: a tiny LightningModule trains on CPU, checkpoints to the container (plain and under
AsyncCheckpointIO), and a new Trainer resumes to the same step and weights."""
import pytest
import torch

L = pytest.importorskip("lightning.pytorch", reason="Lightning is not installed (extra 'lightning')")
from lightning.pytorch.plugins.io import AsyncCheckpointIO  # noqa: E402

from pydaos_torch.lightning import DaosCheckpointIO  # noqa: E402


class Tiny(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Linear(4, 1)

    def training_step(self, batch, _):
        x, y = batch
        return torch.nn.functional.mse_loss(self.net(x), y)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=0.01)


def loader():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, generator=g)
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, x.sum(1, keepdim=True)), batch_size=8)


def trainer(io, steps: int):
    return L.Trainer(max_steps=steps, plugins=[io], accelerator="cpu", logger=False, enable_checkpointing=False,
                     enable_progress_bar=False, enable_model_summary=False)


@pytest.mark.parametrize("wrap", [False, True], ids=["plain", "async"])
def test_train_checkpoint_resume(backend, container, wrap):
    def io():
        base = DaosCheckpointIO("/runs/a", container=container)
        return AsyncCheckpointIO(base) if wrap else base
    torch.manual_seed(0)
    m = Tiny()
    t = trainer(io(), 5)
    t.fit(m, loader())
    t.save_checkpoint("step5.ckpt")
    t.strategy.checkpoint_io.teardown()  # async: waits for the write
    assert container.stat("/runs/a/step5.ckpt").is_file  # at its name
    saved = {k: v.clone() for k, v in m.state_dict().items()}

    m2 = Tiny()
    t2 = trainer(io(), 5)  # resumed at step 5 with max_steps 5: restores, trains no further
    t2.fit(m2, loader(), ckpt_path="step5.ckpt")
    assert t2.global_step == 5
    assert all(torch.equal(saved[k], v) for k, v in m2.state_dict().items())
    io2 = DaosCheckpointIO("/runs/a", container=container)
    assert io2.load_checkpoint("step5.ckpt")["global_step"] == 5
    io2.remove_checkpoint("step5.ckpt")
    assert not container.exists("/runs/a/step5.ckpt")


def test_daos_uri_base(backend, monkeypatch):
    for k, v in backend.env().items():
        monkeypatch.setenv(k, v)
    io = DaosCheckpointIO(f"daos://{backend.pool}/{backend.cont}/runs/b")
    io.save_checkpoint({"w": torch.arange(3)}, "x.ckpt")
    assert torch.equal(io.load_checkpoint(f"daos://{backend.pool}/{backend.cont}/runs/b/x.ckpt")["w"], torch.arange(3))
    with pytest.raises(ValueError, match="another container"):
        io.load_checkpoint(f"daos://{backend.pool}/other/x.ckpt")
    with pytest.raises(TypeError, match="storage_options"):
        io.save_checkpoint({}, "y.ckpt", storage_options={"a": 1})
    io.teardown()
