"""fsspec paths of the ``daos`` protocol (``POOL/CONTAINER/PATH``, the ``daos://`` prefix
stripped) and the one connection per process and container that serves them."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

from ..container import _LABEL, Container, _explicit_backend, _local_root

# (backend, pool, container, root, system, read_only) -> this process's Container
Key = Tuple[str, str, str, Optional[str], Optional[str], bool]
_containers: Dict[Key, Container] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class Place:
    """One fsspec path: its container's key and the path inside the container."""

    key: Key
    path: str  # "/..." inside the container

    @property
    def pool(self) -> str:
        return self.key[1]

    @property
    def cont(self) -> str:
        return self.key[2]

    def url(self, path: Optional[str] = None) -> str:
        """The fsspec name (no protocol) of ``path`` (default: this place's) in the container."""
        p = (self.path if path is None else path).strip("/")
        return f"{self.pool}/{self.cont}" + (f"/{p}" if p else "")


def split(path: str, backend: str, root: Optional[str], system: Optional[str], read_only: bool) -> Place:
    """``POOL/CONTAINER[/PATH]`` -> Place. Labels are checked as :func:`pydaos_torch.parse_uri`
    checks them and the backend chosen the same way (argument, then PYDAOS_TORCH_BACKEND, else
    DAOS); unlike a URI given to connect(), a path is not percent-decoded: fsspec names are
    names (``ls`` output opens as it is)."""
    pool, _, rest = path.strip("/").partition("/")
    cont, _, inner = rest.partition("/")
    for what, label in (("pool", pool), ("container", cont)):
        if not _LABEL.match(label):
            raise ValueError(f"invalid {what} {label!r} in daos path {path!r}: expected daos://POOL/CONTAINER[/PATH]")
    chosen = _explicit_backend(backend) or "dfs"
    local_root = _local_root(root) if chosen == "local" else None
    inner = "/" + inner  # ".." is refused by the core's confinement, naming the path
    return Place((chosen, pool, cont, local_root, system if chosen == "dfs" else None, read_only), inner)


def container(key: Key) -> Container:
    """This process's Container for ``key``: connected once, then shared by every
    DaosFileSystem instance (after a fork the Container attaches to the parent's handle)."""
    c = _containers.get(key)
    if c is not None:
        return c
    with _lock:
        c = _containers.get(key)
        if c is None:
            backend, pool, cont, root, system, read_only = key
            c = Container._connect(backend, pool, cont, root, system, read_only, False, False)
            _containers[key] = c
    return c


def adopt(key: Key, blob: bytes) -> None:
    """Attaches to a container serialized by another process (a DaosFileSystem unpickled)."""
    with _lock:
        if key not in _containers:
            _containers[key] = Container.attach(blob)


def connected() -> Dict[Key, Container]:
    return dict(_containers)


def forget() -> None:
    """Closes and forgets this process's connections (tests; the end of a job)."""
    with _lock:
        for c in _containers.values():
            c.close()
        _containers.clear()
