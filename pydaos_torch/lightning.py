"""Lightning checkpoints in a container: ``DaosCheckpointIO`` (extra ``lightning``).

    from lightning.pytorch import Trainer
    from pydaos_torch.lightning import DaosCheckpointIO
    trainer = Trainer(plugins=[DaosCheckpointIO("daos://pool/cont/runs/a")])
    trainer.save_checkpoint("epoch3.ckpt")            # -> /runs/a/epoch3.ckpt in the container
    Trainer(plugins=[DaosCheckpointIO("daos://pool/cont/runs/a")]).fit(model, ckpt_path="epoch3.ckpt")

Paths are inside the base given (absolute ones from the container's root); a ``daos://`` path
names its own place. Each save is :meth:`pydaos_torch.Checkpoint.save`: streamed, committed
atomically at its name, the previous checkpoint whole after a crash at any point. Works under
Lightning's ``AsyncCheckpointIO``.
"""
from __future__ import annotations

import os
import posixpath
from typing import Any, Dict, Optional, Tuple, Union

try:
    from lightning.fabric.plugins import CheckpointIO
except ImportError:  # pragma: no cover - the message says what to install
    try:
        from lightning_fabric.plugins import CheckpointIO  # standalone pytorch_lightning
    except ImportError:
        raise ImportError("pydaos_torch.lightning needs Lightning: pip install 'pydaos-torch[lightning]' "
                          "(or lightning>=2.0)") from None

from .checkpoint import Checkpoint
from .container import Container, connect, parse_uri

PathLike = Union[str, "os.PathLike[str]"]


class DaosCheckpointIO(CheckpointIO):
    """Lightning's CheckpointIO on a container: ``base`` is a ``daos://POOL/CONT[/PATH]`` URI
    (the local backend through the same URIs) or ``container=`` a Container, with ``base``
    a path in it. ``fsync`` and ``keep_versions`` go to :class:`pydaos_torch.Checkpoint`."""

    def __init__(self, base: Optional[PathLike] = None, *, container: Optional[Container] = None,
                 backend: str = "auto", root: Optional[str] = None, fsync: bool = True, keep_versions: int = 1):
        super().__init__()
        self._backend, self._root, self.fsync, self.keep_versions = backend, root, fsync, keep_versions
        base = os.fspath(base) if base is not None else "/"
        if container is None:
            loc = parse_uri(base, backend=backend, root=root)
            self._uri: Optional[str] = base
            self._base = "/" + loc.path.strip("/")
        else:
            self._uri = None
            self._base = "/" + posixpath.normpath("/" + base).strip("/")
        self._c = container
        self._checkpoints: Dict[str, Checkpoint] = {}

    # -- CheckpointIO
    def save_checkpoint(self, checkpoint: Dict[str, Any], path: PathLike, storage_options: Optional[Any] = None) -> None:
        if storage_options is not None:
            raise TypeError(f"DaosCheckpointIO.save_checkpoint: storage_options are not supported "
                            f"(got {storage_options!r}); pass fsync/keep_versions to DaosCheckpointIO")
        ck, name = self._where(path)
        ck.save(checkpoint, name)

    def load_checkpoint(self, path: PathLike, map_location: Optional[Any] = None,
                        weights_only: Optional[bool] = None) -> Dict[str, Any]:
        ck, name = self._where(path)
        kw = {} if weights_only is None else {"weights_only": weights_only}
        return ck.load(name, map_location=map_location or (lambda storage, loc: storage), **kw)

    def remove_checkpoint(self, path: PathLike) -> None:
        ck, name = self._where(path)
        try:
            ck.remove(name)
        except FileNotFoundError:
            pass

    def teardown(self) -> None:
        for ck in self._checkpoints.values():
            ck.close()
        self._checkpoints.clear()
        if self._uri is not None and self._c is not None:
            self._c.close()
            self._c = None

    # -- where a path goes
    def _container(self) -> Container:
        if self._c is None:
            assert self._uri is not None
            self._c = connect(self._uri, backend=self._backend, root=self._root)
        return self._c

    def _where(self, path: PathLike) -> Tuple[Checkpoint, str]:
        p = os.fspath(path)
        if p.startswith("daos://"):
            if self._uri is None:
                raise ValueError(f"{p!r}: a daos:// path with container= given; pass a path inside it")
            base_loc, loc = parse_uri(self._uri, backend=self._backend, root=self._root), \
                parse_uri(p, backend=self._backend, root=self._root)
            if (loc.pool, loc.container) != (base_loc.pool, base_loc.container):
                raise ValueError(f"{p!r} is in another container than {self._uri!r}")
            full = loc.path
        else:
            full = posixpath.join(self._base, p)
        full = "/" + posixpath.normpath("/" + full).strip("/")
        d, name = posixpath.split(full)
        if d not in self._checkpoints:
            self._checkpoints[d] = Checkpoint(container=self._container(), prefix=d, fsync=self.fsync,
                                              keep_versions=self.keep_versions)
        return self._checkpoints[d], name
