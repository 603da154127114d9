"""Recycled shared-memory slabs: where the fast sample mode puts a batch.

A slab is a file in ``/dev/shm`` whose size is a multiple of 2 MiB, mapped shared at a 2 MiB-aligned
address (so that the kernel can back it with huge pages where shmem huge pages are enabled). The process that fills slabs
(a DataLoader worker, or the main process with ``num_workers=0``) keeps a small pool of them. A
batch is a :class:`SlabTensor` over one slab. When a worker's batch goes through DataLoader's
result queue, only ``(slab name, size, length)`` is pickled: the consumer maps the slab once
(mappings are cached) and builds its tensor over the same pages, with no copy and no fresh
page faults. The slab returns to its producer's pool when the consumer's tensor, and every
view of it, is freed: the consumer then clears the slab's busy byte (the last 64 bytes of the
slab are its trailer), which the producer checks before reusing it. When every slab is busy
the producer allocates fresh memory instead of waiting.

Slab files are unlinked when their producer exits normally; files of producers that died
(killed workers) are removed by the next producer that starts on the machine.
"""
from __future__ import annotations

import mmap
import os
import re
import tempfile
import threading
import uuid
import weakref
from multiprocessing import util as mp_util
from multiprocessing.reduction import ForkingPickler
from typing import Dict, List, Optional

import numpy as np
import torch

SLAB_ALIGN = 2 << 20
_MAP_FIXED = getattr(mmap, "MAP_FIXED", 0x10)  # Linux
_TRAILER = 64
_PREFIX = "pydaos_torch-slab-"
_NAME = re.compile(re.escape(_PREFIX) + r"(\d+)-[0-9a-f]+$")
DEFAULT_SLABS = 8
# at most this many bytes of slabs per process (PYDAOS_TORCH_SLAB_BYTES); beyond, fresh memory
MAX_BYTES = int(os.environ.get("PYDAOS_TORCH_SLAB_BYTES", 2 << 30))


def _shm_dir() -> str:
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else tempfile.gettempdir()


def _map(path: str, size: int, create: bool) -> "tuple[mmap.mmap, int]":
    flags = os.O_RDWR | (os.O_CREAT | os.O_EXCL if create else 0)
    fd = os.open(path, flags, 0o600)
    try:
        if create:
            try:
                # allocate now: a full /dev/shm (Docker's is 64 MiB) then fails here with
                # ENOSPC instead of SIGBUS on first touch
                os.posix_fallocate(fd, 0, size)
            except OSError:
                os.close(fd)
                fd = -1
                _unlink(path)
                raise
        mm, start = _map_aligned(fd, size)
    finally:
        if fd >= 0:
            os.close(fd)
    try:
        mm.madvise(mmap.MADV_HUGEPAGE, start, size)  # best effort: shmem huge pages may be off
    except (AttributeError, OSError, ValueError):
        pass
    return mm, start


def _map_aligned(fd: int, size: int) -> "tuple[mmap.mmap, int]":
    """Maps the file at a 2 MiB-aligned address: reserves size + 2 MiB of anonymous memory with
    a Python mmap (which then owns the range and unmaps it when its last view is gone), and maps
    the file over the aligned part with MAP_FIXED. Returns the mmap and the file's offset in it."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mmap.restype = ctypes.c_void_p
        libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                              ctypes.c_long]
        reserve = mmap.mmap(-1, size + SLAB_ALIGN, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        anchor = ctypes.c_char.from_buffer(reserve)
        base = ctypes.addressof(anchor)
        del anchor
        start = -base % SLAB_ALIGN
        got = libc.mmap(base + start, size, mmap.PROT_READ | mmap.PROT_WRITE,
                        mmap.MAP_SHARED | _MAP_FIXED, fd, 0)
        if got == base + start:
            return reserve, start
        reserve.close()
    except (OSError, AttributeError, ValueError):
        pass
    return mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE), 0


class Slab:
    """One mapped slab: ``array`` covers the data bytes; ``busy`` is the first trailer byte."""

    __slots__ = ("name", "path", "size", "mm", "array", "flags", "__weakref__")

    def __init__(self, name: str, size: int, create: bool):
        self.name, self.size = name, size
        self.path = os.path.join(_shm_dir(), name)
        self.mm, start = _map(self.path, size, create)
        whole = np.frombuffer(self.mm, dtype=np.uint8)[start:start + size]
        self.array = whole[: size - _TRAILER]
        self.flags = memoryview(whole[size - _TRAILER:])  # flags[0]: the busy byte (int access)

    @property
    def capacity(self) -> int:
        return self.size - _TRAILER

    @property
    def busy(self) -> bool:
        return self.flags[0] != 0

    def release(self) -> None:
        self.flags[0] = 0


class SlabTensor(torch.Tensor):
    """A uint8 tensor over a slab. Operations on it return plain tensors (views keep the slab
    busy until they are freed). Pickled for another process by multiprocessing (DataLoader's
    queues), it hands its slab over instead of copying; pickled any other way, it is a plain tensor."""

    __torch_function__ = torch._C._disabled_torch_function_impl

    def __reduce_ex__(self, protocol):  # torch.save, plain pickle: a regular tensor
        return (_identity, (self.as_subclass(torch.Tensor),))


class _Lease:
    """A slab's use by one tensor. The producer's lease is handed over when the tensor is
    pickled for another process; the receiver's lease frees the slab when its tensor dies."""

    __slots__ = ("slab", "nbytes", "pid", "handed_over", "__weakref__")

    def __init__(self, slab: Slab, nbytes: int, transferable: bool):
        self.slab, self.nbytes = slab, nbytes
        self.pid = os.getpid() if transferable else -1
        self.handed_over = False


class _Watch(weakref.ref):
    """Fires when a slab's data view (and so every tensor over it) is freed: a weak reference
    that carries its lease (cheaper than weakref.finalize). Kept alive in _watches until it fires."""

    __slots__ = ("lease",)


_watches: Dict[int, _Watch] = {}  # by id: a weak reference to an array is not hashable


def _on_free(ref: _Watch) -> None:
    _watches.pop(id(ref), None)
    lease = ref.lease
    if not lease.handed_over:
        lease.slab.release()


def _tensor_over(slab: Slab, nbytes: int, transferable: bool) -> "tuple[SlabTensor, np.ndarray]":
    """A SlabTensor over the first nbytes of the slab, and the numpy view it is built on."""
    view = slab.array[:nbytes]
    lease = _Lease(slab, nbytes, transferable)
    # torch.from_numpy keeps `view` alive as long as the tensor's storage (and so every view
    # of it) lives; the slab is released when `view` goes.
    w = _Watch(view, _on_free)
    w.lease = lease
    _watches[id(w)] = w
    t = torch.from_numpy(view).as_subclass(SlabTensor)
    t._pdt_lease = lease
    return t, view


def _identity(x):
    return x


def _reduce_for_ipc(t: SlabTensor):
    lease: Optional[_Lease] = getattr(t, "_pdt_lease", None)
    if lease is None or lease.pid != os.getpid() or lease.handed_over:
        from torch.multiprocessing.reductions import reduce_tensor
        return reduce_tensor(t.as_subclass(torch.Tensor).clone())
    lease.handed_over = True
    return (_attach, (lease.slab.name, lease.slab.size, lease.nbytes))


ForkingPickler.register(SlabTensor, _reduce_for_ipc)

# -- the consumer side: slabs mapped by name, cached
_mapped: Dict[str, Slab] = {}
_mapped_lock = threading.Lock()


def _attach(name: str, size: int, nbytes: int) -> SlabTensor:
    with _mapped_lock:
        slab = _mapped.get(name)
        if slab is None:
            for other in [n for n, s in _mapped.items() if not os.path.exists(s.path)]:
                del _mapped[other]  # its producer retired it; live tensors keep their mapping
            slab = _mapped[name] = Slab(name, size, create=False)
    return _tensor_over(slab, nbytes, transferable=False)[0]


# -- the producer side: one pool per process
class SlabPool:
    """At most ``max_slabs`` slabs, ``max_bytes`` in all, owned by this process; see the module
    docstring."""

    def __init__(self, max_slabs: int = DEFAULT_SLABS, max_bytes: int = MAX_BYTES):
        self.pid = os.getpid()
        self.max_slabs, self.max_bytes = max_slabs, max_bytes
        self.slabs: List[Slab] = []
        self.lock = threading.Lock()
        self.fallbacks = 0  # batches that got fresh memory because every slab was busy
        _remove_dead_producers()
        mp_util.Finalize(self, SlabPool._cleanup, args=(self.pid, self.slabs), exitpriority=10)

    def tensor(self, nbytes: int) -> torch.Tensor:
        """A uint8 tensor of ``nbytes``: a :class:`SlabTensor` when a slab is free, else fresh memory."""
        return self.tensor_and_array(nbytes)[0]

    def tensor_and_array(self, nbytes: int) -> "tuple[torch.Tensor, np.ndarray]":
        """:meth:`tensor` and a numpy array over the same bytes (for a native read into it)."""
        with self.lock:
            slab = self._take(nbytes)
        if slab is None:
            self.fallbacks += 1
            t = torch.empty(nbytes, dtype=torch.uint8)
            return t, t.numpy()
        return _tensor_over(slab, nbytes, transferable=True)

    def _take(self, nbytes: int) -> Optional[Slab]:
        best = None
        for s in self.slabs:  # the smallest free slab that fits
            if s.flags[0] == 0 and s.size - _TRAILER >= nbytes and (best is None or s.size < best.size):
                best = s
        if best is not None:
            slab = best
        else:
            free = [s for s in self.slabs if not s.busy]
            size = -(-(nbytes + _TRAILER) // SLAB_ALIGN) * SLAB_ALIGN
            if size > self.max_bytes:
                return None
            free.sort(key=lambda s: s.size)
            # retire free slabs (smallest first) until the new one fits the count and byte limits
            while free and (len(self.slabs) >= self.max_slabs or self.nbytes + size > self.max_bytes):
                self._retire(free.pop(0))
            if len(self.slabs) >= self.max_slabs or self.nbytes + size > self.max_bytes:
                return None
            try:
                slab = Slab(f"{_PREFIX}{self.pid}-{uuid.uuid4().hex[:12]}", size, create=True)
            except OSError:  # /dev/shm full: fresh memory instead
                return None
            self.slabs.append(slab)
        slab.flags[0] = 1
        return slab

    @property
    def nbytes(self) -> int:
        return sum(s.size for s in self.slabs)

    def _retire(self, slab: Slab) -> None:
        self.slabs.remove(slab)
        _unlink(slab.path)

    @staticmethod
    def _cleanup(pid: int, slabs: List[Slab]) -> None:
        if os.getpid() != pid:  # a forked child inherited the registry: not its slabs
            return
        for s in slabs:
            _unlink(s.path)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _remove_dead_producers() -> None:
    d = _shm_dir()
    try:
        names = os.listdir(d)
    except OSError:
        return
    for n in names:
        m = _NAME.match(n)
        if not m:
            continue
        try:
            os.kill(int(m.group(1)), 0)
        except ProcessLookupError:
            _unlink(os.path.join(d, n))
        except PermissionError:
            pass


_pools: Dict[int, SlabPool] = {}


def pool(max_slabs: int = DEFAULT_SLABS) -> SlabPool:
    """This process's slab pool (a forked child gets its own)."""
    p = _pools.get(os.getpid())
    if p is None:
        _pools.clear()
        p = _pools[os.getpid()] = SlabPool(max_slabs)
    elif max_slabs > p.max_slabs:
        p.max_slabs = max_slabs
    return p
