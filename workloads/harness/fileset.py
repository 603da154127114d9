"""Generated file sets: written once and reused, scanned into an Index, read once by plain
Python for the reference checksum (which also warms the page cache)."""
from __future__ import annotations

import json
import mmap
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional, Tuple

import numpy as np

from harness.site import open_ours

ALIGN = 2 << 20
MASK = (1 << 64) - 1
GiB = float(1 << 30)


def aligned_buffer(nbytes: int) -> np.ndarray:
    """A writable uint8 array of >= nbytes at a 2 MiB-aligned address, backed by an anonymous
    mapping advised MADV_HUGEPAGE, pre-faulted (so no timed run pays the page faults)."""
    size = max(ALIGN, -(-nbytes // ALIGN) * ALIGN)
    mm = mmap.mmap(-1, size + ALIGN, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    try:
        mm.madvise(mmap.MADV_HUGEPAGE)
    except (AttributeError, OSError):
        pass
    arr = np.frombuffer(mm, dtype=np.uint8)  # keeps mm alive
    off = (-arr.ctypes.data) % ALIGN
    view = arr[off:off + size]
    view[:] = 1
    assert view.ctypes.data % ALIGN == 0
    return view


def checksum(buf: Any, n: Optional[int] = None) -> int:
    """Sum of the little-endian uint64 words of the first n bytes (a short tail zero-padded),
    modulo 2**64: the same as checksum() in c_reader.c."""
    a = np.frombuffer(buf, dtype=np.uint8, count=-1 if n is None else n)
    w = a.size // 8
    s = int(a[:w * 8].view(np.uint64).sum(dtype=np.uint64)) if w else 0
    if a.size % 8:
        s += int.from_bytes(a[w * 8:].tobytes(), "little")
    return s & MASK


def evict(paths: List[str]) -> None:
    """Drops the files' pages from the page cache (they must be clean: see generate)."""
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def residency(paths: List[str]) -> Optional[float]:
    """Fraction of the files' bytes in the page cache (fincore), or None without fincore."""
    if not shutil.which("fincore"):
        return None
    res = size = 0
    for i in range(0, len(paths), 1000):
        out = subprocess.run(["fincore", "--bytes", "--noheadings", "--raw", "-o", "RES,SIZE", *paths[i:i + 1000]],
                             capture_output=True, text=True)
        for line in out.stdout.splitlines():
            r, z = line.split()[:2]
            res += int(r)
            size += int(z)
    return res / size if size else None


@dataclass
class Spec:
    name: str       # "small" (a two-level tree) or "large"
    count: int
    size: int
    per_call: int   # files per read call / per timed chunk

    @property
    def dirname(self) -> str:
        return f"{self.name}-{self.count}x{self.size}"

    def relpath(self, i: int) -> str:
        if self.name == "small":  # a two-level tree, 100 files per leaf directory
            return f"d{i // 1000:03d}/s{(i // 100) % 10:02d}/f{i:06d}.bin"
        return f"f{i:03d}.bin"


def generate(data: Path, spec: Spec) -> Path:
    top = data / spec.dirname
    marker = data / (spec.dirname + ".complete")  # beside the container, not inside it
    if marker.exists() and top.is_dir():
        return top
    print(f"generating {spec.count} x {spec.size} bytes under {top} ...", file=sys.stderr, flush=True)
    if top.exists():
        shutil.rmtree(top)
    tmp = data / (spec.dirname + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    rng = np.random.default_rng(20240601 + spec.count)
    for i in range(spec.count):
        p = tmp / spec.relpath(i)
        p.parent.mkdir(parents=True, exist_ok=True)
        with open(p, "wb") as f:
            f.write(rng.bytes(spec.size))
    os.rename(tmp, top)
    os.sync()  # clean pages, so that POSIX_FADV_DONTNEED can evict them (--cold)
    marker.write_text(json.dumps({"count": spec.count, "size": spec.size}) + "\n")
    return top


@dataclass
class FileSet:
    spec: Spec
    root: Path
    container: Any
    index: Any
    paths: List[str]
    sizes: np.ndarray
    total_bytes: int
    expected: int
    listfile: Path
    scan_s: float
    reference_pass_s: float


def open_fileset(spec: Spec, root: Path, workdir: Path) -> FileSet:
    """Scans root through our container, writes the C reader's list file, runs the reference pass."""
    c, scan_path = open_ours(root)
    t0 = time.perf_counter()
    ix = c.scan(scan_path)
    scan_s = time.perf_counter() - t0
    n = len(ix)
    if n != spec.count:
        raise SystemExit(f"{root}: scan found {n} files, expected {spec.count}")
    rel = [ix.path(i) for i in range(n)]
    paths = [os.path.join(str(root), p) for p in rel]
    sizes = np.array(ix.sizes, dtype=np.int64, copy=True)
    listfile = workdir / f"{spec.dirname}.list"  # relative paths: the C reader chdir()s to root
    with open(listfile, "w") as f:
        for p, s in zip(rel, sizes):
            f.write(f"{int(s)}\t{p}\n")
    fs = FileSet(spec, root, c, ix, paths, sizes, int(sizes.sum()), 0, listfile, scan_s, 0.0)
    fs.expected, fs.reference_pass_s = reference_pass(fs)
    return fs


def reference_pass(fs: FileSet) -> Tuple[int, float]:
    """Reads every file once with plain Python and sums it: the reference checksum, and a
    warm page cache. Run again right before each data set's timed runs."""
    t0 = time.perf_counter()
    expected = 0
    for p in fs.paths:
        with open(p, "rb") as fh:
            expected += checksum(fh.read())
    return expected & MASK, time.perf_counter() - t0
