"""The site settings: a DAOS container and the dfuse mount of the same container. Set by
workloads/suite.py --daos POOL/CONT --dfuse MOUNT as environment variables, so that every
step (its own process) measures there: ours through libdfs, the baselines through dfuse."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from harness.machine import REPO

POOL, CONT, DFUSE = "PYDAOS_TORCH_SUITE_POOL", "PYDAOS_TORCH_SUITE_CONT", "PYDAOS_TORCH_SUITE_DFUSE"


def site_env(daos: Optional[str], dfuse: Optional[str]) -> Dict[str, str]:
    """The variables that turn every step to the container POOL/CONT mounted at dfuse."""
    if not daos:
        return {}
    if "/" not in daos or not dfuse:
        raise SystemExit("--daos takes POOL/CONT and needs --dfuse MOUNT (that container mounted with dfuse)")
    if not os.path.isdir(dfuse):
        raise SystemExit(f"--dfuse {dfuse}: not a directory")
    pool, cont = daos.split("/", 1)
    return {POOL: pool, CONT: cont, DFUSE: dfuse}


def site_target() -> Optional[Dict[str, str]]:
    """The DAOS container this run measures ({"pool", "container", "dfuse"}), or None: the
    local backend on this machine."""
    pool, cont = os.environ.get(POOL), os.environ.get(CONT)
    if not pool and not cont:
        return None
    mount = os.environ.get(DFUSE, "")
    if not (pool and cont and mount):
        raise SystemExit("a DAOS suite run needs PYDAOS_TORCH_SUITE_POOL, _CONT and _DFUSE (the container "
                         "mounted with dfuse, where the baselines read the same files)")
    return {"pool": pool, "container": cont, "dfuse": os.path.realpath(mount)}


def open_ours(root: Path) -> Tuple[Any, str]:
    """The container through which our arms read the files under root, and root's path in it.
    Local (default): root itself is the container. At a DAOS site root lies in the dfuse mount
    of the container: the baselines read it through dfuse, ours through libdfs directly."""
    import pydaos_torch

    site = site_target()
    if site is None:
        return pydaos_torch.connect(root=str(root), backend="local"), "/"
    rel = os.path.relpath(os.path.realpath(root), site["dfuse"])
    if rel.startswith(".."):
        raise SystemExit(f"{root} is not inside the dfuse mount {site['dfuse']}: generate the data there")
    return pydaos_torch.connect(site["pool"], site["container"], backend="dfs"), "/" + rel


def default_data_dir(name: str) -> Path:
    """Where a benchmark keeps its data: build/<name>, or inside the dfuse mount at a DAOS site."""
    site = site_target()
    return Path(site["dfuse"]) / "pydaos_torch_suite" / name if site else REPO / "build" / name
