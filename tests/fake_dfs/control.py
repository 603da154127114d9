"""Administration and introspection of the DAOS test double (pure Python, stdlib only).

The double's "DAOS system" is a directory (env ``FAKE_DAOS_STORE``).  This module plays
``dmg``/``daos`` for it:

* ``create_pool(store, label, *, readonly_for_user=False) -> uuid``
* ``create_container(store, pool, label, *, dir_shards=1, readonly=False) -> uuid``
  (``dir_shards > 1`` emulates an SX directory object class: the entries of every directory are
  hashed over that many shards and ``dfs_obj_anchor_split`` recommends that many anchors)
* ``counters(store) -> dict[str, int]``, ``reset_counters(store)``
* ``env(store, **faults) -> dict`` -- environment variables for a process using the double
* ``makedirs`` / ``put_file`` / ``get_file`` / ``listdir`` -- build or inspect a container's
  namespace without the C library (same on-disk layout as fake_store.c), for test fixtures.
"""
from __future__ import annotations

import os
import re
import secrets
import struct
import time
import uuid as _uuid
from pathlib import Path
from typing import Iterable, Mapping

HERE = Path(__file__).resolve().parent

COUNTERS_FILE = "counters"
COUNTERS_BYTES = 4096
CRASH_EXIT = 86  # exit status of a simulated crash (FAKE_DAOS_CRASH_AT)

_LABEL_RE = re.compile(r"^[A-Za-z0-9._:-]{1,127}$")
_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


# ------------------------------------------------------------------ shared definitions
def _parse_def(name: str, pattern: str) -> list[tuple[str, ...]]:
    text = (HERE / name).read_text()
    return [m.groups() for m in re.finditer(pattern, text, re.M)]


def counter_names() -> list[str]:
    """Counter names in slot order (counters.def, also #included by the C code)."""
    return [g[0] for g in _parse_def("counters.def", r"^C\((\w+)\)")]


def der_codes() -> dict[str, int]:
    """DER_* name -> positive value (der.def)."""
    return {"DER_" + n: int(v) for n, v in _parse_def("der.def", r"^D\((\w+),\s*(\d+)\)")}


# ------------------------------------------------------------------ store administration
def _pools_dir(store) -> Path:
    return Path(store) / "pools"


def _read_meta(d: Path) -> dict[str, str]:
    try:
        text = (d / "meta").read_text()
    except FileNotFoundError:
        return {}
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def _write_meta(d: Path, meta: Mapping[str, object]) -> None:
    tmp = d / f".meta.{os.getpid()}"
    tmp.write_text("".join(f"{k}={v}\n" for k, v in meta.items()))
    os.replace(tmp, d / "meta")


def _check_label(label: str) -> None:
    if not _LABEL_RE.match(label) or _UUID_RE.match(label):
        raise ValueError(f"invalid DAOS label {label!r}")


def _resolve(parent: Path, name: str) -> Path:
    if _UUID_RE.match(name):
        d = parent / name.lower()
        if d.is_dir():
            return d
    elif parent.is_dir():
        for d in parent.iterdir():
            if _UUID_RE.match(d.name) and _read_meta(d).get("label") == name:
                return d
    raise FileNotFoundError(f"no such pool/container: {name!r}")


def init_store(store) -> None:
    """Create an empty store (create_pool does it too)."""
    _pools_dir(store).mkdir(parents=True, exist_ok=True)
    p = Path(store) / COUNTERS_FILE
    if not p.exists() or p.stat().st_size < COUNTERS_BYTES:
        with open(p, "ab") as f:
            f.truncate(COUNTERS_BYTES)


def create_pool(store, label: str, *, readonly_for_user: bool = False) -> str:
    """Create a pool; returns its UUID.  readonly_for_user: connecting read-write is refused
    (-DER_NO_PERM / EPERM)."""
    _check_label(label)
    init_store(store)
    try:
        _resolve(_pools_dir(store), label)
    except FileNotFoundError:
        pass
    else:
        raise FileExistsError(f"pool {label!r} exists")
    puuid = str(_uuid.uuid4())
    d = _pools_dir(store) / puuid
    (d / "conts").mkdir(parents=True)
    _write_meta(d, {"label": label, "readonly_for_user": int(readonly_for_user)})
    return puuid


def _root_oid(dir_shards: int) -> tuple[int, int]:
    return (1 << 56) | (dir_shards << 32), 0  # (hi, lo)


def create_container(store, pool: str, label: str, *, dir_shards: int = 1,
                     readonly: bool = False) -> str:
    """Create a POSIX container in ``pool`` (label or UUID); returns its UUID.
    dir_shards > 1: directories are sharded like an SX object class.
    readonly: opening it read-write is refused (-DER_NO_PERM / EPERM)."""
    _check_label(label)
    if not 1 <= dir_shards <= 1024:
        raise ValueError("dir_shards must be in 1..1024")
    pdir = _resolve(_pools_dir(store), pool)
    try:
        _resolve(pdir / "conts", label)
    except FileNotFoundError:
        pass
    else:
        raise FileExistsError(f"container {label!r} exists in pool {pool!r}")
    cuuid = str(_uuid.uuid4())
    cdir = pdir / "conts" / cuuid
    (cdir / "tmp").mkdir(parents=True)
    hi, lo = _root_oid(dir_shards)
    root = cdir / "objs" / f"{hi:016x}{lo:016x}"
    for s in range(dir_shards):
        (root / str(s)).mkdir(parents=True)
    _write_meta(cdir, {"label": label, "dir_shards": dir_shards, "readonly": int(readonly),
                       "root": f"{hi:016x}{lo:016x}"})
    return cuuid


def set_container_readonly(store, pool: str, cont: str, readonly: bool = True) -> None:
    cdir = _resolve(_resolve(_pools_dir(store), pool) / "conts", cont)
    meta = _read_meta(cdir)
    meta["readonly"] = str(int(readonly))
    _write_meta(cdir, meta)


# ------------------------------------------------------------------ counters
def counters(store) -> dict[str, int]:
    """Current values of the shared counters (all processes using ``store``)."""
    names = counter_names()
    try:
        data = (Path(store) / COUNTERS_FILE).read_bytes()
    except FileNotFoundError:
        data = b""
    data = data.ljust(len(names) * 8, b"\0")
    return dict(zip(names, struct.unpack_from(f"<{len(names)}Q", data)))


def reset_counters(store) -> None:
    """Zero every counter (in place: processes that mapped the file see it)."""
    p = Path(store) / COUNTERS_FILE
    if not p.exists():
        init_store(store)
        return
    with open(p, "r+b") as f:
        f.write(b"\0" * COUNTERS_BYTES)


# ------------------------------------------------------------------ environment
def _fault_list(faults) -> str:
    if faults is None:
        return ""
    if isinstance(faults, str):
        return faults
    parts = []
    for op, n, code in faults:
        parts.append(f"{op}:{n}:{code}")
    return ",".join(parts)


def env(store, *, libdfs: str | None = None, faults=None, short_read=None, latency=None,
        crash_at=None, agent_down: bool = False, use_dtx: bool = False,
        base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for a process that uses the double (merge it into os.environ / subprocess env).

    faults: "op:N:code,..." or [(op, N, code), ...]; N = 1-based call number in the process or
        "*"; code = errno name/number for dfs_* (EIO, 5), DER name/number for daos_* (DER_NO_PERM,
        -1001), or "short" for dfs_read (half the bytes).
    short_read: N (or "*"): the Nth dfs_read of each process returns half the requested bytes.
    latency: {"dfs_read": 500, ...} or "dfs_read=500,..." in microseconds ("*" = every op);
        async ops become ready only after it.
    crash_at: "move:after_insert" or "move:after_insert@2" (the 2nd time), or a list: _exit(86)
        right after that step of a non-DTX dfs_move (the points: README.md, "dfs_move").
    agent_down: daos_init() fails with -DER_AGENT_COMM.   use_dtx: DFS_USE_DTX=1.
    libdfs: sets PYDAOS_TORCH_LIBDFS (path of the double's libdfs.so).
    base: variables to start from (default: none; pass os.environ to extend it).
    """
    e = dict(base or {})
    for k in ("FAKE_DAOS_FAULTS", "FAKE_DAOS_SHORT_READ", "FAKE_DAOS_LATENCY_US",
              "FAKE_DAOS_CRASH_AT", "FAKE_DAOS_AGENT", "DFS_USE_DTX"):
        e.pop(k, None)
    e["FAKE_DAOS_STORE"] = str(store)
    if libdfs:
        e["PYDAOS_TORCH_LIBDFS"] = str(libdfs)
    f = _fault_list(faults)
    if f:
        e["FAKE_DAOS_FAULTS"] = f
    if short_read is not None:
        e["FAKE_DAOS_SHORT_READ"] = str(short_read)
    if latency:
        e["FAKE_DAOS_LATENCY_US"] = (latency if isinstance(latency, str) else
                                     ",".join(f"{k}={int(v)}" for k, v in latency.items()))
    if crash_at:
        e["FAKE_DAOS_CRASH_AT"] = crash_at if isinstance(crash_at, str) else ",".join(crash_at)
    if agent_down:
        e["FAKE_DAOS_AGENT"] = "down"
    if use_dtx:
        e["DFS_USE_DTX"] = "1"
    return e


# ------------------------------------------------------------------ namespace (fake_store.c layout)
_M64 = (1 << 64) - 1
_ENTRY = struct.Struct("<4sIQQQIIIIIIqq")  # struct fake_entry_disk (72 bytes)
assert _ENTRY.size == 72
_OID_DIR, _OID_FILE, _OID_LINK = 1, 2, 3


def _fnv1a64(data: bytes, h: int) -> int:
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & _M64
    return h


def _mix64(x: int) -> int:
    x ^= x >> 30
    x = (x * 0xBF58476D1CE4E5B9) & _M64
    x ^= x >> 27
    x = (x * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def entry_key(name: str) -> tuple[str, int]:
    """(key, first hash) of a name: the entry file name and the shard selector."""
    b = name.encode()
    a = _mix64(_fnv1a64(b, 0xCBF29CE484222325))
    c = _mix64(_fnv1a64(b, 0x84222325CBF29CE4))
    return f"{a:016x}{c:016x}", a


def _shards_of(oid: tuple[int, int]) -> int:
    return ((oid[0] >> 32) & 0xFFFF) or 1


def _hex(oid: tuple[int, int]) -> str:
    return f"{oid[0]:016x}{oid[1]:016x}"


def _new_oid(kind: int, shards: int = 1) -> tuple[int, int]:
    return (kind << 56) | ((shards & 0xFFFF) << 32) | secrets.randbits(32), secrets.randbits(64)


class _Cont:
    def __init__(self, store, pool: str, cont: str):
        self.dir = _resolve(_resolve(_pools_dir(store), pool) / "conts", cont)
        meta = _read_meta(self.dir)
        r = meta["root"]
        self.root = (int(r[:16], 16), int(r[16:], 16))
        self.dir_shards = int(meta.get("dir_shards", "1"))
        self.objs = self.dir / "objs"
        self.tmp = self.dir / "tmp"

    def entry_path(self, dir_oid, name: str) -> Path:
        key, h1 = entry_key(name)
        return self.objs / _hex(dir_oid) / str(h1 % _shards_of(dir_oid)) / key

    def get(self, dir_oid, name: str):
        try:
            raw = self.entry_path(dir_oid, name).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None
        f = _ENTRY.unpack_from(raw)
        nlen, vlen = f[8], f[9]
        ename = raw[72:72 + nlen].decode()
        if ename != name:
            return None
        return {"mode": f[1], "oid": (f[3], f[2]), "chunk_size": f[4],
                "value": raw[72 + nlen:72 + nlen + vlen].decode()}

    def put(self, dir_oid, name: str, mode: int, oid, *, chunk_size: int = 0, value: str = "",
            replace: bool = False) -> bool:
        now = time.time_ns()
        nb, vb = name.encode(), value.encode()
        raw = _ENTRY.pack(b"FDE1", mode, oid[1], oid[0], chunk_size, 0, os.geteuid(),
                          os.getegid(), len(nb), len(vb), 0, now // 10**9, now % 10**9) + nb + vb
        tmp = self.tmp / f"e.{os.getpid()}.{secrets.token_hex(8)}"
        tmp.write_bytes(raw)
        try:
            if replace:
                os.replace(tmp, self.entry_path(dir_oid, name))
                return True
            os.link(tmp, self.entry_path(dir_oid, name))
            return True
        except FileExistsError:
            return False
        finally:
            try:
                tmp.unlink()
            except FileNotFoundError:
                pass

    def walk(self, path: str, *, create: bool = False, shards: int | None = None):
        """oid of directory ``path`` (absolute), creating missing ones when asked."""
        cur = self.root
        for part in [p for p in path.split("/") if p]:
            e = self.get(cur, part)
            if e is None:
                if not create:
                    raise FileNotFoundError(path)
                oid = _new_oid(_OID_DIR, shards or self.dir_shards)
                tmpd = self.tmp / f"d.{os.getpid()}.{secrets.token_hex(8)}"
                for s in range(_shards_of(oid)):
                    (tmpd / str(s)).mkdir(parents=True)
                os.rename(tmpd, self.objs / _hex(oid))
                if not self.put(cur, part, 0o040755, oid):
                    e = self.get(cur, part)  # lost a race: use the winner's
                else:
                    e = {"mode": 0o040755, "oid": oid}
            if (e["mode"] & 0o170000) != 0o040000:
                raise NotADirectoryError(path)
            cur = e["oid"]
        return cur


def makedirs(store, pool: str, cont: str, path: str) -> None:
    """mkdir -p inside a container."""
    _Cont(store, pool, cont).walk(path, create=True)


def put_file(store, pool: str, cont: str, path: str, data: bytes = b"", *, mode: int = 0o644,
             chunk_size: int = 1 << 20, makedirs: bool = True) -> None:
    """Create or replace a regular file (parents created when makedirs)."""
    c = _Cont(store, pool, cont)
    parent, _, name = path.rstrip("/").rpartition("/")
    if not name:
        raise ValueError(f"bad path {path!r}")
    d = c.walk(parent or "/", create=makedirs)
    oid = _new_oid(_OID_FILE)
    obj = c.objs / _hex(oid)
    with open(obj, "xb") as f:
        f.write(data)
    old = c.get(d, name)
    c.put(d, name, 0o100000 | (mode & 0o7777), oid, chunk_size=chunk_size, replace=True)
    if old and (old["mode"] & 0o170000) == 0o100000 and old["oid"] != oid:
        try:
            (c.objs / _hex(old["oid"])).unlink()
        except FileNotFoundError:
            pass


def put_symlink(store, pool: str, cont: str, path: str, target: str) -> None:
    c = _Cont(store, pool, cont)
    parent, _, name = path.rstrip("/").rpartition("/")
    d = c.walk(parent or "/", create=True)
    if not c.put(d, name, 0o120777, _new_oid(_OID_LINK), value=target):
        raise FileExistsError(path)


def get_file(store, pool: str, cont: str, path: str) -> bytes:
    c = _Cont(store, pool, cont)
    parent, _, name = path.rstrip("/").rpartition("/")
    e = c.get(c.walk(parent or "/"), name)
    if e is None:
        raise FileNotFoundError(path)
    if (e["mode"] & 0o170000) != 0o100000:
        raise IsADirectoryError(path)
    try:
        return (c.objs / _hex(e["oid"])).read_bytes()
    except FileNotFoundError:
        return b""  # punched


def listdir(store, pool: str, cont: str, path: str = "/") -> dict[str, int]:
    """name -> st_mode of a directory's entries (unordered)."""
    c = _Cont(store, pool, cont)
    d = c.walk(path)
    out = {}
    for s in range(_shards_of(d)):
        for p in (c.objs / _hex(d) / str(s)).iterdir():
            raw = p.read_bytes()
            f = _ENTRY.unpack_from(raw)
            out[raw[72:72 + f[8]].decode()] = f[1]
    return out
