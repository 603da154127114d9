"""Smoke test of workloads/train_digits.py: a CNN trained from .npy files through Dataset and a
DataLoader with workers reaches exactly the accuracy (and the weights) of the same training on
the in-memory arrays; results go to a new JSON file and the digits section of the README."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("sklearn")

import train_digits


def test_files_and_memory_train_alike(tmp_path):
    out = tmp_path / "results"
    out.mkdir()
    (out / "README.md").write_text("# Benchmark results\n\n<!-- other:begin x -->\nkeep\n<!-- other:end -->\n")
    common = ["--root", str(tmp_path / "root"), "--out", str(out)]
    assert train_digits.main(["--epochs", "2", "--workers", "2", "--limit", "600", *common]) == 0
    first = next(out.glob("*-digits-*.json"))
    r = json.loads(first.read_text())["run"]
    f, m = r["arms"]["files"], r["arms"]["memory"]
    assert r["train_samples"] == 450 and r["test_samples"] == 150
    assert r["same_order_every_epoch"]
    assert r["weights_identical"], r["max_abs_weight_diff"]
    assert f["epoch_loss"] == m["epoch_loss"]
    assert f["test_accuracy"] == m["test_accuracy"] > 0.3  # chance is 0.1
    assert len(f["epoch_s"]) == len(m["epoch_s"]) == 2

    # a rerun adds a file (nothing overwritten) and the section shows the latest; other sections stay
    assert train_digits.main(["--epochs", "1", "--workers", "0", "--limit", "200", *common]) == 0
    files = {p.name for p in out.glob("*-digits-*.json")}
    second = first.name.replace(".json", "-2.json")
    assert files == {first.name, second}
    text = (out / "README.md").read_text()
    assert "<!-- other:begin x -->\nkeep\n<!-- other:end -->" in text
    assert text.count("<!-- digits:begin") == 1 and text.count("<!-- digits:end -->") == 1
    assert second in text and first.name not in text
