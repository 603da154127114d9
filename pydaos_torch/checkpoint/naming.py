"""The names a checkpoint uses next to ``<name>``, and how to tell whose they are.

``<name>``                                    the newest version, once published
``.<name>.ckpt-at-v<N>``                       version N is published: ``<name>`` holds it
``.<name>.ckpt-v<N>``                          committed version N (not, or no longer, published)
``.<name>.ckpt-alias-v<N>-<host>-<pid>-<id>``  another name of version N's object (crash repair)
``.<name>.ckpt-tmp-<host>-<pid>-<id>``         a writer's data, not committed
``.<name>.ckpt-pending-v<N>-<host>-<pid>-<id>``  the same data, on its way to version N
``<tag>/.ckpt-rank-<r>-of-<world>``            rank r has written its files of a tag
``<tag>/.ckpt-commit``                         the tag is committed (every rank wrote)

Host and pid make a leftover's writer known: one on this host whose pid is gone is dead.
"""
from __future__ import annotations

import hashlib
import os
import posixpath
import re
import socket
import uuid
from typing import Optional

NAME_MAX = 255  # bytes in one name, on DAOS (DFS_MAX_NAME) as on Linux file systems
MARKER = ".ckpt-commit"

VERSION = re.compile(r"^\.(?P<base>.+)\.ckpt-v(?P<n>\d+)$")
TMP = re.compile(r"^\.(?P<base>.+)\.ckpt-tmp-(?P<host>[0-9a-f]{8})-(?P<pid>\d+)-[0-9a-f]{8}$")
PENDING = re.compile(r"^\.(?P<base>.+)\.ckpt-pending-v(?P<n>\d+)-(?P<host>[0-9a-f]{8})-(?P<pid>\d+)-[0-9a-f]{8}$")
PUBLISHED = re.compile(r"^\.(?P<base>.+)\.ckpt-at-v(?P<n>\d+)$")
ALIAS = re.compile(r"^\.(?P<base>.+)\.ckpt-alias-v(?P<n>\d+)-[0-9a-f]{8}-\d+-[0-9a-f]{8}$")
RANK = re.compile(r"^\.ckpt-rank-(\d+)-of-(\d+)$")
HOST = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]


def full_path(prefix: str, name: str) -> str:
    """``name`` under ``prefix`` as os.path.join does it (an absolute name ignores the
    prefix, as in pydaos.torch), normalized, absolute in the container."""
    if not name:
        raise ValueError("empty checkpoint name")
    return "/" + posixpath.normpath(posixpath.join(prefix, name)).lstrip("/")


def version_path(path: str, n: int) -> str:
    d, base = posixpath.split(path)
    return posixpath.join(d, f".{base}.ckpt-v{n:08d}")


def published_path(path: str, n: int) -> str:
    d, base = posixpath.split(path)
    return posixpath.join(d, f".{base}.ckpt-at-v{n:08d}")


def alias_path(path: str, n: int) -> str:
    d, base = posixpath.split(path)
    return posixpath.join(d, f".{base}.ckpt-alias-v{n:08d}-{HOST}-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def number_of(pattern: "re.Pattern[str]", entry: str, base: str) -> Optional[int]:
    """N when ``entry`` matches ``pattern`` (VERSION, PUBLISHED, ALIAS) for checkpoint ``base``."""
    m = pattern.match(entry)
    return int(m.group("n")) if m and m.group("base") == base else None


def temp_path(path: str) -> str:
    d, base = posixpath.split(path)
    return posixpath.join(d, f".{base}.ckpt-tmp-{HOST}-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def pending_path(tmp: str, n: int) -> str:
    """The temporary's name with the version it becomes."""
    head, _, writer_id = tmp.rpartition(".ckpt-tmp-")
    return f"{head}.ckpt-pending-v{n:08d}-{writer_id}"


def longest_name(path: str) -> int:
    """Bytes of the longest name a commit of ``path`` takes (its pending name)."""
    return len(posixpath.basename(pending_path(temp_path(path), 0)).encode())


def is_leftover(entry: str, base: str) -> bool:
    """Whether ``entry`` is a temporary or pending name of checkpoint ``base`` (any writer)."""
    m = TMP.match(entry) or PENDING.match(entry)
    return bool(m) and m.group("base") == base


def dead_leftover(entry: str, base: str) -> bool:
    """A temporary or pending name of ``base`` whose writer ran on this host and is gone."""
    m = TMP.match(entry) or PENDING.match(entry)
    return bool(m) and m.group("base") == base and m.group("host") == HOST and not _alive(int(m.group("pid")))


def pending_version(entry: str) -> Optional[int]:
    m = PENDING.match(entry)
    return int(m.group("n")) if m else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
