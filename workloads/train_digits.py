"""Real training from files: a small CNN on scikit-learn's digits, read through pydaos_torch.

scikit-learn ships the digits data set inside its package (1,797 8x8 images, 10 classes; no
download). This workload

1. writes every image as one ``.npy`` file into a pydaos_torch container on the local backend
   (``/digits/train/00000.npy`` ..., ``/digits/test/...``): a structured record of the label
   (uint8) and the 8x8 image (uint8, values 0..16);
2. trains a small CNN (two conv layers) twice, with the same seed:

   * **files**: ``pydaos_torch.Dataset(path="/digits/train", transform_fn=decode)`` and a
     DataLoader with ``--workers`` worker processes (persistent); each batch is one native read
     of its files in a worker, then ``np.load`` of every sample;
   * **in-memory**: the same images as a ``TensorDataset`` of the arrays, DataLoader in the
     main process (the usual baseline: no storage at all);

   Same order: train sample k is the k-th row of the train arrays AND the file ``{k:05d}.npy``,
   so the Dataset's sorted-by-path index k is array row k (checked for every sample before
   training). Both arms draw their sample order from a ``RandomSampler`` with its own
   ``torch.Generator`` seeded alike, and the DataLoaders get their own generators, so the
   global RNG is never touched after the two models are initialised from the same seed. No
   dropout, no data augmentation: with the same batches in the same order the two models stay
   bit-identical on CPU (checked after every epoch: weights compared with ``torch.equal``).

3. The two arms run in lockstep, alternating which goes first each epoch, so a disturbance of
   a shared machine hits both alike; per-epoch wall time (data loading + forward/backward +
   optimizer step, every batch) is recorded per arm. Reported: test accuracy of each arm (the
   files arm evaluated on the test files read through a Dataset, the in-memory arm on the
   arrays), the median epoch time excluding epoch 0 (worker start-up), min-max, samples/s, and
   the ratio files / in-memory (of medians, and the median of per-epoch paired ratios).

    python workloads/train_digits.py [--epochs 11] [--workers 2] [--batch 32] [--root DIR] [--out results]

Writes results/<date>-digits-<host>.json (a rerun adds -2, -3, ...; nothing is overwritten)
and the ``digits`` section of results/README.md. Needs scikit-learn.
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import io
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, RandomSampler, TensorDataset

import pydaos_torch

from harness.machine import host, machine as describe_machine, version  # noqa: E402
from harness.stats import summarize  # noqa: E402
from harness.results import unused_path, write_section  # noqa: E402
from harness.site import site_target  # noqa: E402
from harness.tables import Headline  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
RECORD = np.dtype([("label", "u1"), ("image", "u1", (8, 8))])
MARKER = "digits"


# ----------------------------------------------------------------------------- data

def load_split(seed: int, test_fraction: float = 0.25, limit: int = 0
               ) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The digits as uint8 images (N, 8, 8) and int64 labels, split train/test by a seeded
    permutation (deterministic). ``limit`` > 0 keeps only the first ``limit`` images of the
    permutation (for smoke tests)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    images = d.images.astype(np.uint8)  # integers 0..16 stored as float64 in sklearn
    if not np.array_equal(images, d.images):
        raise AssertionError("digits images are not integers 0..16")
    labels = d.target.astype(np.int64)
    perm = np.random.default_rng(seed).permutation(len(images))
    if limit:
        perm = perm[:limit]
    n_test = int(round(len(perm) * test_fraction))
    test, train = perm[:n_test], perm[n_test:]
    return images[train], labels[train], images[test], labels[test]


def encode(image: np.ndarray, label: int) -> bytes:
    rec = np.zeros((), dtype=RECORD)
    rec["label"] = label
    rec["image"] = image
    b = io.BytesIO()
    np.save(b, rec, allow_pickle=False)
    return b.getvalue()


def decode(b: bytes) -> Tuple[torch.Tensor, torch.Tensor]:
    """transform_fn of the files arm: npy bytes -> (float32 image 1x8x8 in [0, 1], int64 label)."""
    rec = np.load(io.BytesIO(b), allow_pickle=False)
    image = torch.from_numpy(rec["image"].astype(np.float32) / np.float32(16.0)).unsqueeze(0)
    return image, torch.tensor(int(rec["label"]), dtype=torch.int64)


def to_tensors(images: np.ndarray, labels: np.ndarray) -> Tuple[torch.Tensor, torch.Tensor]:
    """The in-memory arm's tensors: the same arithmetic as decode()."""
    return (torch.from_numpy(images.astype(np.float32) / np.float32(16.0)).unsqueeze(1),
            torch.from_numpy(labels.astype(np.int64)))


def write_container(c: pydaos_torch.Container, split: Dict[str, Tuple[np.ndarray, np.ndarray]]) -> Dict[str, int]:
    """Writes /digits/<split>/<k:05d>.npy for every row k (fresh: an old /digits is removed)."""
    if c.exists("/digits"):
        c.remove("/digits", recursive=True)
    nbytes = {}
    for name, (images, labels) in split.items():
        total = 0
        for k in range(len(images)):
            data = encode(images[k], int(labels[k]))
            c.write(f"/digits/{name}/{k:05d}.npy", data)
            total += len(data)
        nbytes[name] = total
    return nbytes


def check_order(ds: pydaos_torch.Dataset, name: str, images: np.ndarray, labels: np.ndarray) -> None:
    """Dataset index k must be /digits/<name>/<k>.npy and hold array row k."""
    if len(ds) != len(images):
        raise AssertionError(f"{name}: {len(ds)} files, {len(images)} rows")
    x, y = to_tensors(images, labels)
    for k in range(len(ds)):
        if ds.path_of(k) != f"/digits/{name}/{k:05d}.npy":
            raise AssertionError(f"{name}: sample {k} is {ds.path_of(k)}")
    got = ds.__getitems__(list(range(len(ds))))
    for k, (img, lab) in enumerate(got):
        if not (torch.equal(img, x[k]) and int(lab) == int(y[k])):
            raise AssertionError(f"{name}: file {k} does not decode to array row {k}")


# ----------------------------------------------------------------------------- model

def make_model(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2),                                   # 32 x 4 x 4
        nn.Flatten(), nn.Linear(32 * 4 * 4, 64), nn.ReLU(),
        nn.Linear(64, 10),
    )


class Trainer:
    """One way of feeding the same model: its loader, model, optimizer and per-epoch figures."""

    def __init__(self, name: str, loader: DataLoader, seed: int, lr: float):
        self.name = name
        self.loader = loader
        self.model = make_model(seed)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=lr, momentum=0.9)
        self.loss_fn = nn.CrossEntropyLoss()
        self.epoch_s: List[float] = []
        self.epoch_loss: List[float] = []
        self.order_digest: List[str] = []
        self.samples = 0

    def epoch(self) -> None:
        self.model.train()
        h = hashlib.sha256()
        total, n = 0.0, 0
        t = time.perf_counter()
        for x, y in self.loader:
            self.opt.zero_grad(set_to_none=True)
            loss = self.loss_fn(self.model(x), y)
            loss.backward()
            self.opt.step()
            total += loss.item() * len(y)
            n += len(y)
            h.update(y.numpy().tobytes())
        self.epoch_s.append(time.perf_counter() - t)
        self.epoch_loss.append(total / n)
        self.order_digest.append(h.hexdigest()[:16])
        self.samples = n

    @torch.no_grad()
    def accuracy(self, loader: Any) -> float:
        self.model.eval()
        right = n = 0
        for x, y in loader:
            right += int((self.model(x).argmax(1) == y).sum())
            n += len(y)
        return right / n


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    return all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


def max_weight_diff(a: nn.Module, b: nn.Module) -> float:
    return max(float((p - q).abs().max()) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


# ----------------------------------------------------------------------------- run

def run(root: str, epochs: int = 11, workers: int = 2, batch: int = 32, seed: int = 0, lr: float = 0.05,
        limit: int = 0, threads: int = 1, log: Any = print) -> Dict[str, Any]:
    """Writes the data set under ``root``, trains both arms, returns the raw figures."""
    if threads:
        torch.set_num_threads(threads)
    x_tr, y_tr, x_te, y_te = load_split(seed, limit=limit)
    os.makedirs(root, exist_ok=True)
    res: Dict[str, Any] = {"epochs": epochs, "workers": workers, "batch": batch, "seed": seed, "lr": lr,
                           "optimizer": "SGD momentum 0.9", "limit": limit,
                           "train_samples": len(x_tr), "test_samples": len(x_te),
                           "torch_threads": torch.get_num_threads(),
                           "mp_start_method": torch.multiprocessing.get_start_method()}
    with open_container(root) as c:
        t = time.perf_counter()
        res["file_bytes"] = write_container(c, {"train": (x_tr, y_tr), "test": (x_te, y_te)})
        res["write_s"] = time.perf_counter() - t
        res["container"] = repr(c)
        log(f"wrote {len(x_tr)} train + {len(x_te)} test .npy files ({sum(res['file_bytes'].values()):,} B) "
            f"into {c!r} in {res['write_s']:.2f} s")

        train_ds = pydaos_torch.Dataset(c, path="/digits/train", transform_fn=decode, progress=False)
        test_ds = pydaos_torch.Dataset(c, path="/digits/test", transform_fn=decode, progress=False)
        check_order(train_ds, "train", x_tr, y_tr)
        check_order(test_ds, "test", x_te, y_te)

        x_mem, y_mem = to_tensors(x_tr, y_tr)
        mem_ds = TensorDataset(x_mem, y_mem)

        def gen() -> torch.Generator:
            return torch.Generator().manual_seed(seed)

        files_loader = DataLoader(train_ds, batch_size=batch, sampler=RandomSampler(train_ds, generator=gen()),
                                  num_workers=workers, persistent_workers=workers > 0, generator=gen())
        mem_loader = DataLoader(mem_ds, batch_size=batch, sampler=RandomSampler(mem_ds, generator=gen()),
                                num_workers=0, generator=gen())
        files = Trainer(f"files: pydaos_torch.Dataset + DataLoader({workers} workers)", files_loader, seed, lr)
        mem = Trainer("in-memory: TensorDataset + DataLoader(0 workers)", mem_loader, seed, lr)
        if not same_weights(files.model, mem.model):
            raise AssertionError("the two models start from different weights")

        identical_after: List[bool] = []
        for e in range(epochs):
            for arm in ((files, mem) if e % 2 == 0 else (mem, files)):
                arm.epoch()
            identical_after.append(same_weights(files.model, mem.model))
            log(f"epoch {e}: files {files.epoch_s[-1]:.3f} s, in-memory {mem.epoch_s[-1]:.3f} s, "
                f"loss {files.epoch_loss[-1]:.5f} / {mem.epoch_loss[-1]:.5f}, "
                f"same order {files.order_digest[-1] == mem.order_digest[-1]}, "
                f"weights identical {identical_after[-1]}")

        test_files = DataLoader(test_ds, batch_size=256, num_workers=0)
        test_mem = DataLoader(TensorDataset(*to_tensors(x_te, y_te)), batch_size=256)
        acc_files, acc_mem = files.accuracy(test_files), mem.accuracy(test_mem)
        del files_loader, files.loader  # stop the persistent workers
        train_ds.close()
        test_ds.close()

    timed = slice(1, None) if epochs > 1 else slice(0, None)
    arms = {}
    for key, arm in (("files", files), ("memory", mem)):
        s = summarize(arm.epoch_s[timed])
        arms[key] = {"name": arm.name, "epoch_s": arm.epoch_s, "epoch_loss": arm.epoch_loss,
                     "order_digest": arm.order_digest, "samples_per_epoch": arm.samples,
                     "epoch_s_excl_warmup": s, "samples_per_s_median": arm.samples / s["median"]}
    arms["files"]["test_accuracy"] = acc_files
    arms["memory"]["test_accuracy"] = acc_mem
    paired = [f / m for f, m in zip(files.epoch_s[timed], mem.epoch_s[timed])]
    res.update({
        "arms": arms,
        "timed_epochs": "all but epoch 0 (warm-up: worker start-up)" if epochs > 1 else "epoch 0 only",
        "ratio_files_over_memory_of_medians": arms["files"]["epoch_s_excl_warmup"]["median"]
        / arms["memory"]["epoch_s_excl_warmup"]["median"],
        "ratio_files_over_memory_paired": summarize(paired),
        "same_order_every_epoch": files.order_digest == mem.order_digest,
        "weights_identical_after_each_epoch": identical_after,
        "weights_identical": all(identical_after),
        "max_abs_weight_diff": max_weight_diff(files.model, mem.model),
        "accuracies_equal": acc_files == acc_mem,
    })
    return res


# ----------------------------------------------------------------------------- results

def machine() -> Dict[str, Any]:
    """The harness's machine description, plus what this workload adds."""
    m = describe_machine()
    m.update({"scikit-learn": version("scikit-learn"), "pydaos_torch_file": pydaos_torch.__file__})
    return m


def open_container(root: str) -> "pydaos_torch.Container":
    """A local-backend container under root, or at a DAOS site (workloads/suite.py --daos) the
    site's container through libdfs."""
    site = site_target()
    if site is not None:
        return pydaos_torch.connect(site["pool"], site["container"], backend="dfs")
    return pydaos_torch.connect("pool", "cont", backend="local", root=root, create=True)


def json_path(out: Path, date: str) -> Path:
    return unused_path(out, f"{date}-digits-{host()}")


def fmt_s(x: float) -> str:
    return f"{x * 1000:.0f} ms" if x < 10 else f"{x:.1f} s"


def readme_section(result: Dict[str, Any], json_name: str) -> str:
    r, m = result["run"], result["machine"]
    mm = r["arms"]["memory"]
    exact = ("bit-identical after every epoch (`torch.equal` on every tensor of the state dict)"
             if r["weights_identical"] else
             f"NOT bit-identical (max |diff| {r['max_abs_weight_diff']:.3g}; identical after epochs "
             f"{[i for i, v in enumerate(r['weights_identical_after_each_epoch']) if v]})")
    return f"""## Real training: small CNN on scikit-learn digits from files ({result['date']}, `{json_name}`)

Machine: {m['nproc']} CPUs ({m['cpu_model']}), {m['mem_total']} RAM, kernel {m['kernel']}, Python {m['python']},
numpy {m['numpy']}, torch {m['torch']} (intra-op threads: {r['torch_threads']}), scikit-learn {m['scikit-learn']};
git {m['git_commit'][:12]}{' (uncommitted edits in ' + str(len(m['git_dirty_paths'])) + ' paths)' if m['git_dirty_paths'] else ''}.

Command: `{result['command']}`

Method: scikit-learn's bundled digits ({r['train_samples']} train / {r['test_samples']} test images, 8x8,
seeded split) written as one `.npy` file per image (label + uint8 image, {r['file_bytes']['train'] // r['train_samples']} B) into a
local-backend container; a CNN (conv 16, conv 32, max-pool, FC 64, FC 10; SGD lr {r['lr']}, momentum 0.9, batch
{r['batch']}) trained {r['epochs']} epochs from the same seed by two arms in lockstep (alternating which goes
first each epoch): **files** reads `/digits/train` through `pydaos_torch.Dataset` (`transform_fn` = `np.load`
of the bytes) and a DataLoader with {r['workers']} persistent workers; **in-memory** reads the same arrays from a
`TensorDataset` (DataLoader, no workers). Both samplers are `RandomSampler`s with their own generators seeded
alike, and Dataset index k is file `k.npy` = array row k (checked), so both arms see the same batches in the
same order (label-order digest equal every epoch: {r['same_order_every_epoch']}). Weights: {exact}.
Epoch time = every batch's loading + forward + backward + step; statistics over epochs 1–{r['epochs'] - 1}
(epoch 0, with the workers' start-up, shown apart). Ratio = files / in-memory epoch time (of the medians;
paired = median and min–max of the per-epoch ratios).

{tables(result)}
The model is tiny (the in-memory arm's whole epoch, compute included, is {fmt_s(mm['epoch_s_excl_warmup']['median'])}), so
this ratio is the worst case for a storage-backed loader: the per-sample costs of the files arm (`np.load` of
each file's bytes and its conversion to tensors, in the workers, then the batch pickled back to the trainer)
are not hidden behind computation as they would be for a real model, and with {m['nproc']} CPUs the
{r['workers']} workers compete with the training process for the cores. Load average (1 min) at start
{m['loadavg_at_start'][0]:.2f}, at end {result['loadavg_at_end'][0]:.2f}: other jobs were running{' (the machine was shared)' if max(m['loadavg_at_start'][0], result['loadavg_at_end'][0]) > m['nproc'] * 0.5 else ''}.
"""


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=11, help="epoch 0 is warm-up; the rest are timed (default 11)")
    ap.add_argument("--workers", type=int, default=2, help="DataLoader workers of the files arm (default 2)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch intra-op threads of the training process (default 1: the model is tiny, and "
                         "OpenMP threads spin against the loader workers; 0 = torch's default)")
    ap.add_argument("--limit", type=int, default=0, help="use only this many images (0 = all 1797)")
    ap.add_argument("--root", default=str(REPO / "build" / "digits"), help="local-backend root of the container")
    ap.add_argument("--out", default=str(REPO / "results"), help="results directory ('' = write nothing)")
    ap.add_argument("--no-readme", action="store_true", help="write the JSON only, not the README section")
    args = ap.parse_args(argv)

    started = datetime.datetime.now()
    result: Dict[str, Any] = {
        "benchmark": "digits", "date": started.date().isoformat(), "started": started.isoformat(timespec="seconds"),
        "command": " ".join(["PYTHONPATH=" + os.environ.get("PYTHONPATH", "")] * bool(os.environ.get("PYTHONPATH"))
                            + [sys.executable] + (sys.argv if argv is None else [sys.argv[0], *argv])),
        "machine": machine(),
    }
    r = run(args.root, epochs=args.epochs, workers=args.workers, batch=args.batch, seed=args.seed, lr=args.lr,
            limit=args.limit, threads=args.threads)
    result["run"] = r
    result["finished"] = datetime.datetime.now().isoformat(timespec="seconds")
    result["loadavg_at_end"] = os.getloadavg()

    print(tables(result))
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        p = json_path(out, result["date"])
        p.write_text(json.dumps(result, indent=1, default=str) + "\n")
        print(f"wrote {p}")
        if not args.no_readme:
            write_section(out, MARKER, "train_digits.py", readme_section(result, p.name))
            print(f"updated the '{MARKER}' section of {out / 'README.md'}")
        print(f"json: {p}")
    return 0 if r["accuracies_equal"] else 1


# ----------------------------------------------------------------------------- tables

def tables(res: Dict[str, Any], hl: Optional[Headline] = None) -> str:
    """Accuracy and epoch times from files vs in memory; the headline row to hl."""
    hl = hl or Headline()
    r = res["run"]
    f, m = r["arms"]["files"], r["arms"]["memory"]
    fs, ms = f["epoch_s_excl_warmup"], m["epoch_s_excl_warmup"]
    hl.rows.append(f"| real training | digits CNN, {r['epochs']} epochs | {fs['median'] * 1000:.0f} ms/epoch, "
                   f"accuracy {f['test_accuracy']:.2%} | in memory: {ms['median'] * 1000:.0f} ms, "
                   f"{m['test_accuracy']:.2%} | epoch time {fs['median'] / ms['median']:.2f}x | same accuracy: "
                   f"{'yes' if f['test_accuracy'] == m['test_accuracy'] else 'NO'} |")
    return (f"Test accuracy: files {f['test_accuracy']:.2%}, in memory {m['test_accuracy']:.2%}; weights "
            f"{'bit-identical' if r['weights_identical'] else 'differ'}. Median epoch {fs['median'] * 1000:.0f} ms "
            f"({fs['min'] * 1000:.0f}–{fs['max'] * 1000:.0f}) vs {ms['median'] * 1000:.0f} ms "
            f"({ms['min'] * 1000:.0f}–{ms['max'] * 1000:.0f}) in memory.\n")


if __name__ == "__main__":
    sys.exit(main())
