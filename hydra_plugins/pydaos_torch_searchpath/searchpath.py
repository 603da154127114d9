"""Makes ``dlio_benchmark workload=unet3d_daos`` (and ``dlio_benchmark --help``) find the
workloads of pydaos_torch, and registers our DLIO plugins, with no extra flags.

Hydra imports every module of the ``hydra_plugins`` namespace package when an application
starts. This plugin acts only when that application is DLIO: it appends
``pkg://pydaos_torch.dlio.configs`` to the search path (after DLIO's own configs, so DLIO's
files win over same-named ones; ours have names of their own) and imports
:mod:`pydaos_torch.dlio`, which registers the ``pydaos_torch`` storage type before DLIO reads
the workload. Nothing here may raise: a broken plugin would break every Hydra application.
"""
from __future__ import annotations

import importlib.util
import os
import sys

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin

PROVIDER = "pydaos_torch"
CONFIG_PACKAGE = "pydaos_torch.dlio.configs"


def _dlio_running() -> bool:
    if "dlio_benchmark.main" in sys.modules:
        return True
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    return bool(spec is not None and getattr(spec, "name", "").startswith("dlio_benchmark"))


def _config_path() -> str:
    """pkg:// when the configs are installed as a package (the wheel); otherwise (a source
    checkout on PYTHONPATH) the top-level dlio_configs/ directory next to pydaos_torch/."""
    try:
        if importlib.util.find_spec(CONFIG_PACKAGE) is not None:
            return f"pkg://{CONFIG_PACKAGE}"
    except (ImportError, ValueError):
        pass
    spec = importlib.util.find_spec("pydaos_torch")
    if spec is not None and spec.origin:
        src = os.path.join(os.path.dirname(os.path.dirname(spec.origin)), "dlio_configs")
        if os.path.isdir(os.path.join(src, "workload")):
            return "file://" + src
    return f"pkg://{CONFIG_PACKAGE}"


class PydaosTorchSearchPathPlugin(SearchPathPlugin):
    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        if not _dlio_running():
            return
        try:
            import pydaos_torch.dlio  # noqa: F401  registers our storage type with DLIO
        except Exception as e:  # never break the application: report and go on without it
            print(f"pydaos_torch: DLIO plugins not registered: {type(e).__name__}: {e}", file=sys.stderr)
        try:
            search_path.append(provider=PROVIDER, path=_config_path())
        except Exception as e:
            print(f"pydaos_torch: workloads not added to the search path: {e}", file=sys.stderr)
