"""webdataset's opener for ``daos://`` shards: ``webdataset.gopen.gopen_schemes["daos"] = gopen_daos``."""
from __future__ import annotations

from typing import Any


def gopen_daos(url: str, mode: str = "rb", bufsize: int = 8192, **kwargs: Any) -> Any:
    """Opens a ``daos://`` URL as webdataset's ``gopen`` handlers do (a binary file object);
    the backend comes from the environment (PYDAOS_TORCH_BACKEND, ...)."""
    from .filesystem import DaosFileSystem
    if mode not in ("rb", "wb"):
        raise ValueError(f"{url}: gopen mode {mode!r} is not 'rb' or 'wb'")
    return DaosFileSystem().open(url, mode, block_size=max(bufsize, DaosFileSystem.blocksize))
