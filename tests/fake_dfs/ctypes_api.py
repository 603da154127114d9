"""ctypes view of the DAOS C API, used by test_fake_dfs.py to drive the double (or a real libdfs).

    api = Api("/path/to/libdfs.so")     # daos_* symbols resolve through libdfs's DT_NEEDED
    api.dfs_init(); dfs = api.connect("pool", "cont", os.O_RDWR)
"""
from __future__ import annotations

import ctypes as C
import os
import stat as _stat

u8, u16, u32, u64, i64 = C.c_uint8, C.c_uint16, C.c_uint32, C.c_uint64, C.c_int64


class d_iov_t(C.Structure):
    _fields_ = [("iov_buf", C.c_void_p), ("iov_buf_len", C.c_size_t), ("iov_len", C.c_size_t)]


class d_sg_list_t(C.Structure):
    _fields_ = [("sg_nr", u32), ("sg_nr_out", u32), ("sg_iovs", C.POINTER(d_iov_t))]


class daos_handle_t(C.Structure):
    _fields_ = [("cookie", u64)]


class daos_obj_id_t(C.Structure):
    _fields_ = [("lo", u64), ("hi", u64)]


class daos_anchor_t(C.Structure):
    _fields_ = [("da_type", u16), ("da_shard", u16), ("da_flags", u32),
                ("da_sub_anchors", u64), ("da_buf", u8 * 104)]


class daos_event_t(C.Structure):
    _fields_ = [("ev_error", C.c_int), ("ev_private", u64 * 20), ("ev_debug", u64)]


class dirent(C.Structure):
    _fields_ = [("d_ino", u64), ("d_off", i64), ("d_reclen", u16), ("d_type", u8),
                ("d_name", C.c_char * 256)]


class timespec(C.Structure):
    _fields_ = [("tv_sec", i64), ("tv_nsec", i64)]


class stat_t(C.Structure):  # glibc x86_64 struct stat
    _fields_ = [("st_dev", u64), ("st_ino", u64), ("st_nlink", u64), ("st_mode", u32),
                ("st_uid", u32), ("st_gid", u32), ("pad0", C.c_int), ("st_rdev", u64),
                ("st_size", i64), ("st_blksize", i64), ("st_blocks", i64),
                ("st_atim", timespec), ("st_mtim", timespec), ("st_ctim", timespec),
                ("reserved", i64 * 3)]


for _t, _n in ((d_iov_t, 24), (d_sg_list_t, 16), (daos_anchor_t, 120), (daos_event_t, 176),
               (dirent, 280), (stat_t, 144)):
    assert C.sizeof(_t) == _n, _t

P = C.c_void_p
PP = C.POINTER(C.c_void_p)
S = C.c_char_p
DAOS_PC_RO, DAOS_PC_RW = 1, 2
DAOS_COO_RO, DAOS_COO_RW = 1, 2
DAOS_EQ_NOWAIT, DAOS_EQ_WAIT = 0, -1
DFS_MAX_FSIZE = (1 << 64) - 1
S_IFREG, S_IFDIR, S_IFLNK = _stat.S_IFREG, _stat.S_IFDIR, _stat.S_IFLNK

_PROTOS = {
    "daos_init": ([], C.c_int),
    "daos_fini": ([], C.c_int),
    "daos_reinit": ([], C.c_int),
    "daos_pool_connect2": ([S, S, C.c_uint, C.POINTER(daos_handle_t), P, P], C.c_int),
    "daos_pool_disconnect": ([daos_handle_t, P], C.c_int),
    "daos_cont_open2": ([daos_handle_t, S, C.c_uint, C.POINTER(daos_handle_t), P, P], C.c_int),
    "daos_cont_close": ([daos_handle_t, P], C.c_int),
    "daos_eq_create": ([C.POINTER(daos_handle_t)], C.c_int),
    "daos_eq_destroy": ([daos_handle_t, C.c_int], C.c_int),
    "daos_eq_poll": ([daos_handle_t, C.c_int, i64, C.c_uint, C.POINTER(C.POINTER(daos_event_t))],
                     C.c_int),
    "daos_event_init": ([C.POINTER(daos_event_t), daos_handle_t, P], C.c_int),
    "daos_event_fini": ([C.POINTER(daos_event_t)], C.c_int),
    "daos_event_test": ([C.POINTER(daos_event_t), i64, C.POINTER(C.c_bool)], C.c_int),
    "daos_oclass_name2id": ([S], C.c_int),
    "d_errstr": ([C.c_int], S),
    "dfs_init": ([], C.c_int),
    "dfs_fini": ([], C.c_int),
    "dfs_connect": ([S, S, S, C.c_int, P, PP], C.c_int),
    "dfs_disconnect": ([P], C.c_int),
    "dfs_mount": ([daos_handle_t, daos_handle_t, C.c_int, PP], C.c_int),
    "dfs_umount": ([P], C.c_int),
    "dfs_local2global_all": ([P, C.POINTER(d_iov_t)], C.c_int),
    "dfs_global2local_all": ([C.c_int, d_iov_t, PP], C.c_int),
    "dfs_lookup": ([P, S, C.c_int, PP, C.POINTER(C.c_uint32), C.POINTER(stat_t)], C.c_int),
    "dfs_lookup_rel": ([P, P, S, C.c_int, PP, C.POINTER(C.c_uint32), C.POINTER(stat_t)],
                       C.c_int),
    "dfs_open": ([P, P, S, C.c_uint32, C.c_int, u32, u64, S, PP], C.c_int),
    "dfs_release": ([P], C.c_int),
    "dfs_read": ([P, P, C.POINTER(d_sg_list_t), u64, C.POINTER(u64), C.POINTER(daos_event_t)],
                 C.c_int),
    "dfs_write": ([P, P, C.POINTER(d_sg_list_t), u64, C.POINTER(daos_event_t)], C.c_int),
    "dfs_get_size": ([P, P, C.POINTER(u64)], C.c_int),
    "dfs_punch": ([P, P, u64, u64], C.c_int),
    "dfs_stat": ([P, P, S, C.POINTER(stat_t)], C.c_int),
    "dfs_ostat": ([P, P, C.POINTER(stat_t)], C.c_int),
    "dfs_readdir": ([P, P, C.POINTER(daos_anchor_t), C.POINTER(u32), C.POINTER(dirent)],
                    C.c_int),
    "dfs_readdirplus": ([P, P, C.POINTER(daos_anchor_t), C.POINTER(u32), C.POINTER(dirent),
                         C.POINTER(stat_t)], C.c_int),
    "dfs_obj_anchor_split": ([P, C.POINTER(u32), C.POINTER(daos_anchor_t)], C.c_int),
    "dfs_obj_anchor_set": ([P, u32, C.POINTER(daos_anchor_t)], C.c_int),
    "dfs_mkdir": ([P, P, S, C.c_uint32, u32], C.c_int),
    "dfs_remove": ([P, P, S, C.c_bool, C.POINTER(daos_obj_id_t)], C.c_int),
    "dfs_move": ([P, P, S, P, S, C.POINTER(daos_obj_id_t)], C.c_int),
    "dfs_sync": ([P], C.c_int),
    "dfs_dup": ([P, P, C.c_int, PP], C.c_int),
    "dfs_obj2id": ([P, C.POINTER(daos_obj_id_t)], C.c_int),
    "dfs_get_mode": ([P, C.POINTER(C.c_uint32)], C.c_int),
}


def _b(s):
    return s.encode() if isinstance(s, str) else s


class DfsError(OSError):
    pass


class Api:
    """The C functions as attributes (raw return codes) plus a few conveniences."""

    def __init__(self, libdfs: str):
        self.lib = C.CDLL(libdfs, mode=os.RTLD_NOW | C.RTLD_GLOBAL)
        for name, (args, res) in _PROTOS.items():
            try:
                fn = getattr(self.lib, name)
            except AttributeError:
                continue  # omitted symbol
            fn.argtypes, fn.restype = args, res
            setattr(self, name, fn)

    def has(self, name: str) -> bool:
        return hasattr(self.lib, name)

    # -------------------------------------------------------------- conveniences
    def check(self, rc: int, what: str = "") -> None:
        if rc != 0:
            raise DfsError(rc, os.strerror(rc) if rc > 0 else self.d_errstr(rc).decode(), what)

    def connect(self, pool: str, cont: str, flags: int = os.O_RDONLY) -> C.c_void_p:
        dfs = C.c_void_p()
        self.check(self.dfs_connect(_b(pool), None, _b(cont), flags, None, C.byref(dfs)),
                   "dfs_connect")
        return dfs

    def lookup(self, dfs, path: str, flags: int = os.O_RDONLY):
        obj, mode = C.c_void_p(), C.c_uint32()
        self.check(self.dfs_lookup(dfs, _b(path), flags, C.byref(obj), C.byref(mode), None),
                   path)
        return obj

    def open(self, dfs, parent, name: str, mode: int = S_IFREG | 0o644,
             flags: int = os.O_RDWR | os.O_CREAT, cid: int = 0, chunk: int = 0):
        obj = C.c_void_p()
        self.check(self.dfs_open(dfs, parent, _b(name), mode, flags, cid, chunk, None,
                                 C.byref(obj)), name)
        return obj

    @staticmethod
    def sgl(*bufs):
        iovs = (d_iov_t * len(bufs))()
        for i, b in enumerate(bufs):
            iovs[i].iov_buf = C.cast(b, C.c_void_p)
            iovs[i].iov_buf_len = iovs[i].iov_len = C.sizeof(b)
        s = d_sg_list_t(len(bufs), 0, iovs)
        s._keep = (iovs, bufs)
        return s

    def write(self, dfs, obj, data: bytes, off: int = 0) -> None:
        buf = C.create_string_buffer(data, len(data))
        s = self.sgl(buf)
        self.check(self.dfs_write(dfs, obj, C.byref(s), off, None), "dfs_write")

    def read(self, dfs, obj, size: int, off: int = 0) -> bytes:
        buf = C.create_string_buffer(size)
        s = self.sgl(buf)
        got = u64()
        self.check(self.dfs_read(dfs, obj, C.byref(s), off, C.byref(got), None), "dfs_read")
        return buf.raw[:got.value]

    def put(self, dfs, name: str, data: bytes, parent=None) -> None:
        obj = self.open(dfs, parent, name, flags=os.O_RDWR | os.O_CREAT | os.O_TRUNC)
        self.write(dfs, obj, data)
        self.dfs_release(obj)

    def get(self, dfs, name: str, parent=None, size: int = 1 << 20) -> bytes:
        obj = self.open(dfs, parent, name, flags=os.O_RDONLY)
        data = self.read(dfs, obj, size)
        self.dfs_release(obj)
        return data

    def stat(self, dfs, parent, name: str | None) -> stat_t:
        st = stat_t()
        self.check(self.dfs_stat(dfs, parent, _b(name) if name else None, C.byref(st)),
                   name or "/")
        return st

    def readdir(self, dfs, obj, batch: int = 16, anchor: daos_anchor_t | None = None,
                plus: bool = False) -> list:
        """All names (or (name, stat) with plus) from ``anchor`` (default: a fresh one)."""
        anchor = anchor or daos_anchor_t()
        out = []
        ents = (dirent * batch)()
        sts = (stat_t * batch)()
        while True:
            nr = u32(batch)
            if plus:
                rc = self.dfs_readdirplus(dfs, obj, C.byref(anchor), C.byref(nr), ents, sts)
            else:
                rc = self.dfs_readdir(dfs, obj, C.byref(anchor), C.byref(nr), ents)
            self.check(rc, "readdir")
            if nr.value == 0:
                return out
            for i in range(nr.value):
                name = ents[i].d_name.decode()
                out.append((name, sts[i].st_mode, sts[i].st_size) if plus else name)
