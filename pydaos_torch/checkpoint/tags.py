"""Multi-rank checkpoints: a directory (a "tag") that every rank writes its files under.

Each rank, once its files are written (closed), records itself with an empty file
``<tag>/.ckpt-rank-<r>-of-<world>``; rank 0 waits until every rank has, then writes the commit
marker ``<tag>/.ckpt-commit`` (a small JSON, written to a temporary and renamed, so it appears
whole). A tag is committed when its marker exists.
"""
from __future__ import annotations

import json
import posixpath
import socket
import time
import uuid
from typing import Callable

from ..container import Container
from . import naming
from .crash_points import step


def commit_tag(c: Container, tag_dir: str, rank: int, world: int, *, timeout: float, wait: bool) -> bool:
    """This rank's part of committing ``tag_dir``; True once the marker exists (always on
    rank 0, which writes it)."""
    c.mkdirs(tag_dir)
    try:
        c.create_file(posixpath.join(tag_dir, f".ckpt-rank-{rank}-of-{world}")).close()
    except FileExistsError:
        pass
    marker = posixpath.join(tag_dir, naming.MARKER)
    if rank != 0:
        return poll(lambda: c.exists(marker), timeout, tag_dir) if wait else c.exists(marker)
    poll(lambda: _ranks_done(c, tag_dir, world) == world, timeout, tag_dir)
    if not c.exists(marker):
        _write_marker(c, tag_dir, world)
    return True


def committed(c: Container, tag_dir: str) -> bool:
    return c.exists(posixpath.join(tag_dir, naming.MARKER))


def _ranks_done(c: Container, tag_dir: str, world: int) -> int:
    done = set()
    for e in c.entries(tag_dir):
        m = naming.RANK.match(e.name)
        if m and int(m.group(2)) == world:
            done.add(int(m.group(1)))
    return len(done)


def _write_marker(c: Container, tag_dir: str, world: int) -> None:
    tmp = posixpath.join(tag_dir, f".ckpt-commit-tmp-{uuid.uuid4().hex[:8]}")
    info = json.dumps({"world_size": world, "time": time.time(), "host": socket.gethostname()}).encode()
    f = c.create_file(tmp)
    try:
        f.write(info, 0)
    finally:
        f.close()
    step("before_marker")
    c.rename(tmp, posixpath.join(tag_dir, naming.MARKER))


def poll(cond: Callable[[], bool], timeout: float, what: str) -> bool:
    deadline, delay = time.monotonic() + timeout, 0.01
    while not cond():
        if time.monotonic() >= deadline:
            raise TimeoutError(f"checkpoint {what}: not every rank committed within {timeout} s")
        time.sleep(delay)
        delay = min(delay * 2, 1.0)
    return True
