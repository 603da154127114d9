"""``daos://`` for fsspec: :class:`DaosFileSystem`, registered as fsspec's ``daos`` protocol
by the package's entry point (``fsspec.filesystem("daos")`` needs no import). Needs fsspec
(the ``fsspec`` extra). See docs/fsspec.md."""
from __future__ import annotations

try:
    import fsspec as _fsspec  # noqa: F401
except ImportError as e:  # pragma: no cover - exercised only without fsspec
    raise ImportError("pydaos_torch.fsspec needs fsspec: pip install 'pydaos-torch[fsspec]'") from e

from .filesystem import DaosFileSystem
from .files import DaosFile
from .gopen import gopen_daos

__all__ = ["DaosFileSystem", "DaosFile", "gopen_daos"]
