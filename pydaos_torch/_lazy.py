"""Names of the package that need torch, imported on first use (``import pydaos_torch`` stays
torch-free and fast; ``from pydaos_torch import Dataset`` imports torch then)."""
from __future__ import annotations

import importlib
from typing import Any, List

_LAZY = {
    "Dataset": ".dataset",
    "IterableDataset": ".iterable_dataset",
    "SampleBatch": ".batch",
    "collate_batch": ".batch",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pydaos_torch' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, "pydaos_torch"), name)
    globals_of_package = importlib.import_module("pydaos_torch").__dict__
    globals_of_package[name] = value  # next time, a plain attribute
    return value


def __dir__() -> List[str]:
    return sorted(set(importlib.import_module("pydaos_torch").__dict__) | set(_LAZY))
