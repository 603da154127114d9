"""Where a DCP checkpoint lives, and the one pool connection per job that reaches it."""
from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple, Union

from ..container import Container, connect, parse_uri

CheckpointId = Union[str, "os.PathLike[str]"]

# (backend, pool, container, root) -> the Container this process uses for them
_job: Dict[Tuple[str, str, str, Optional[str]], Container] = {}


@dataclass(frozen=True)
class Place:
    """A checkpoint directory: a container (given, or named by a URI) and a path in it."""

    path: str
    key: Optional[Tuple[str, str, str, Optional[str]]] = None  # None: a Container was given

    @classmethod
    def of(cls, checkpoint_id: CheckpointId, container: Optional[Container], backend: str,
           root: Optional[str]) -> "Place":
        cid = os.fspath(checkpoint_id)
        if container is not None:
            if "://" in cid:
                raise ValueError(f"checkpoint id {cid!r}: a URI names its own container; pass a "
                                 "path inside the container given with container=")
            return cls("/" + posixpath.normpath("/" + cid).strip("/"))
        loc = parse_uri(cid, backend=backend, root=root)
        return cls("/" + loc.path.strip("/"), (loc.backend, loc.pool, loc.container, loc.root))


class Located:
    """What a storage writer or reader knows of its place: the id it was given, the place
    that id names, and the Container reaching it (made on first use)."""

    def __init__(self, container: Optional[Container], backend: str, root: Optional[str], group: Any = None):
        self._given, self._backend, self._root = container, backend, root
        self.group = group  # the process group of the connect broadcast (None: the default one)
        self.checkpoint_id: Optional[CheckpointId] = None
        self._place: Optional[Place] = None
        self._c: Optional[Container] = None

    def point(self, checkpoint_id: CheckpointId) -> None:
        self.checkpoint_id = checkpoint_id
        self._place = Place.of(checkpoint_id, self._given, self._backend, self._root)

    @property
    def path(self) -> str:
        """The checkpoint directory in the container."""
        return self._where().path

    def container(self, collective: bool = True, use_collectives: bool = True) -> Container:
        """The Container: on first use from DCP's planning step (``collective``), the job's one
        connection (:func:`job_container`); else this process's own."""
        if self._c is None:
            self._c = job_container(self._where(), self._given, use_collectives and collective, self.group)
        return self._c

    def __getstate__(self) -> dict:
        # a process group does not cross processes; the Container pickles as its handle
        return dict(self.__dict__, group=None)

    def _where(self) -> Place:
        if self._place is None:
            raise ValueError("no checkpoint id: pass one, or checkpoint_id= to dcp.save / dcp.load")
        return self._place


class AtPlace:
    """The part a storage writer and reader share: ``_at`` (a :class:`Located`) and the
    ``checkpoint_id`` DCP asks for."""

    _at: Located

    def _locate(self, checkpoint_id: Optional[CheckpointId], container: Optional[Container], backend: str,
                root: Optional[str], group: Any = None) -> None:
        self._at = Located(container, backend, root, group)
        self._repoint(checkpoint_id)

    def _repoint(self, checkpoint_id: Optional[CheckpointId]) -> None:
        if checkpoint_id is not None:
            self._at.point(checkpoint_id)

    @property
    def checkpoint_id(self) -> Optional[CheckpointId]:
        return self._at.checkpoint_id


def is_daos_uri(checkpoint_id: CheckpointId) -> bool:
    return os.fspath(checkpoint_id).startswith("daos://")


def job_container(place: Place, given: Optional[Container], use_collectives: bool = True,
                  group: Any = None) -> Container:
    """The Container of ``place`` for this process: the one given; else one connection per job
    and place: under torch.distributed (and ``use_collectives``) rank 0 of ``group`` (default:
    the world) connects and broadcasts its handle, the other ranks attach to it; without, this
    process connects. Called by every rank of the group at the same step."""
    if given is not None:
        return given
    assert place.key is not None
    c = _job.get(place.key)
    if c is not None:
        return c
    dist = _initialized_dist()
    if dist is not None and use_collectives and dist.get_world_size(group) > 1:
        blob = [None]
        if dist.get_rank(group) == 0:
            c = _connect(place.key)
            blob = [c.serialize()]
        dist.broadcast_object_list(blob, src=dist.get_global_rank(group, 0) if group is not None else 0,
                                   group=group)
        if c is None:
            c = Container.attach(blob[0])
    else:
        c = _connect(place.key)
    _job[place.key] = c
    return c


def _connect(key: Tuple[str, str, str, Optional[str]]) -> Container:
    backend, pool, cont, root = key
    if not pool:  # file:///DIR: the directory is the container
        return connect("file://" + str(root))
    return connect(pool, cont, backend=backend, root=root)


def forget_job_containers() -> None:
    """Closes and forgets this process's job connections (tests; the end of a job)."""
    for c in _job.values():
        c.close()
    _job.clear()


def _initialized_dist():
    try:
        import torch.distributed as dist
    except ImportError:
        return None
    return dist if dist.is_available() and dist.is_initialized() else None
