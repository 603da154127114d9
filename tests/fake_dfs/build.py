"""Build the DAOS test double: libdaos.so.2 and libdfs.so (which links libdaos.so.2, rpath $ORIGIN).

    build(out_dir, with_reinit=True, omit=(), daos_version="2.8") -> {"libdfs", "libdaos", "dir"}

``daos_version`` picks the release whose layouts and DER codes the double has (``-DFAKE_DAOS_VERSION``:
``dfs_attr_t``, ``dfs_obj_info_t``, ``daos_event_t``, the DER codes d_errstr knows, libdfs's
DER -> errno conversion); ``omit`` names exported functions to leave out (each is compiled inside
``#ifndef OMIT_<name>``), e.g. ``("dfs_connect",)``; ``with_reinit=False`` drops ``daos_reinit``
(DAOS < 2.6.4).  ``preset(version)`` gives all three for a DAOS release (a "personality"), and is
what ``--version`` uses.  Command line: ``python build.py OUTDIR [--version V] [--no-reinit]
[--omit NAME ...]``.

The full build's libdfs.so needs "libdaos.so.2" (as DAOS's does); a variant (omit / no reinit)
links a libdaos with its own SONAME ("libdaos.so.2.v<tag>", "libdaos.so.2" is a symlink to it), so
that different variants can be loaded in one process.  Two full builds in one process share the
first one's libdaos.so.2 (same code; the state is per process anyway).
"""
from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

SRC_DIR = Path(__file__).resolve().parent

DAOS_SOURCES = ("fake_common.c", "fake_events.c", "fake_pool.c", "fake_oclass.c")
DFS_SOURCES = (
    "fake_store.c",
    "fake_dfs_mnt.c",
    "fake_dfs_ns.c",
    "fake_dfs_io.c",
    "fake_dfs_readdir.c",
)
HEADERS = (
    "daos_types.h",
    "fake_internal.h",
    "fake_store.h",
    "fake_dfs.h",
    "counters.def",
    "der.def",
)

CFLAGS = (
    "-O2",
    "-fPIC",
    "-Wall",
    "-Werror",
    "-std=gnu11",
    "-D_GNU_SOURCE",
    "-fvisibility=hidden",
)

# Functions that a DAOS version does not have (per the availability matrix of the API notes).
_OMIT_2_4 = ("dfs_get_size_by_oid",)  # not implemented by the double anyway
_OMIT_2_2 = ("dfs_readdirplus",)
_OMIT_2_0 = _OMIT_2_2 + (
    "dfs_init",
    "dfs_fini",
    "dfs_connect",
    "dfs_disconnect",
    "dfs_local2global_all",
    "dfs_global2local_all",
)
PRESETS = {
    "2.0": {"with_reinit": False, "omit": _OMIT_2_0},
    "2.2": {"with_reinit": False, "omit": _OMIT_2_2},
    "2.4": {"with_reinit": False, "omit": ()},
    "2.6.0": {"with_reinit": False, "omit": ()},
    "2.6.4": {"with_reinit": True, "omit": ()},
    "2.8": {"with_reinit": True, "omit": ()},
}
# FAKE_DAOS_VERSION of each release (daos_types.h, der.def, fake_common.c test it)
VERSION_CODES = {"2.0": 20000, "2.2": 20200, "2.4": 20400, "2.6.0": 20600, "2.6.4": 20604, "2.8": 20800}
NEWEST = "2.8"


def preset(version: str) -> dict:
    """Keyword arguments of build() that make the double look like DAOS ``version``."""
    if version not in PRESETS:
        raise ValueError(f"no DAOS personality {version!r} (have: {', '.join(PRESETS)})")
    p = PRESETS[version]
    return {"with_reinit": p["with_reinit"], "omit": tuple(p["omit"]), "daos_version": version}


def personality_cflags(version: str) -> list[str]:
    """Compiler flags that give daos_types.h the layouts of DAOS ``version``."""
    if version not in VERSION_CODES:
        raise ValueError(f"no DAOS personality {version!r} (have: {', '.join(VERSION_CODES)})")
    return [f"-DFAKE_DAOS_VERSION={VERSION_CODES[version]}"]


def _run(cmd: list[str]) -> None:
    res = subprocess.run(cmd, cwd=SRC_DIR, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"compiling the DAOS test double failed:\n{' '.join(cmd)}\n{res.stderr}")


def _link(cc: str, objs: list[Path], extra: list[str], out: Path) -> None:
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        _run([cc, "-shared", *map(str, objs), *extra, "-o", str(tmp)])
        os.replace(tmp, out)  # atomic: a concurrent loader never sees half a library
    finally:
        if tmp.exists():
            tmp.unlink()


def build(out_dir: str, *, with_reinit: bool = True, omit: tuple[str, ...] = (),
          daos_version: str = NEWEST) -> dict:
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    names = sorted(set(omit) | (set() if with_reinit else {"daos_reinit"}))
    for name in names:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ValueError(f"not a symbol name: {name!r}")
    flags = list(CFLAGS) + personality_cflags(daos_version) + [f"-DOMIT_{name}" for name in names]
    if names:
        flags += ["-Wno-unused-function", "-Wno-unused-variable"]  # left by omitted functions
    cc = os.environ.get("CC", "cc")
    # e.g. FAKE_DAOS_CFLAGS="-fsanitize=address -g" (used for compiling and linking)
    extra = os.environ.get("FAKE_DAOS_CFLAGS", "").split()
    flags += extra
    objdir = Path(tempfile.mkdtemp(prefix=".obj.", dir=out))
    try:
        objs = {src: objdir / (Path(src).stem + ".o") for src in DAOS_SOURCES + DFS_SOURCES}
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as ex:
            for f in [ex.submit(_run, [cc, *flags, "-c", src, "-o", str(o)])
                      for src, o in objs.items()]:
                f.result()
        libdaos = out / "libdaos.so.2"
        libdfs = out / "libdfs.so"
        soname = _daos_soname(names, daos_version)
        if soname != libdaos.name:
            # a variant: its own SONAME, so that it can be loaded next to another build
            real = out / soname
            _link(cc, [objs[s] for s in DAOS_SOURCES],
                  [*extra, f"-Wl,-soname,{soname}", "-lpthread"], real)
            tmp = out / f".{libdaos.name}.{os.getpid()}.lnk"
            if tmp.exists() or tmp.is_symlink():
                tmp.unlink()
            tmp.symlink_to(soname)
            os.replace(tmp, libdaos)
        else:
            if libdaos.is_symlink():
                libdaos.unlink()
            _link(cc, [objs[s] for s in DAOS_SOURCES],
                  [*extra, f"-Wl,-soname,{soname}", "-lpthread"], libdaos)
        _link(cc, [objs[s] for s in DFS_SOURCES],
              [*extra, "-Wl,-soname,libdfs.so", f"-L{out}", "-Wl,--no-as-needed",
               f"-l:{soname}", "-Wl,-rpath,$ORIGIN", "-lpthread"], libdfs)
    finally:
        shutil.rmtree(objdir, ignore_errors=True)
    return {"libdfs": str(libdfs), "libdaos": str(libdaos), "dir": str(out)}


def _daos_soname(omitted: list[str], daos_version: str) -> str:
    """libdaos.so.2 for the full build (2.8, nothing left out); libdaos.so.2.<tag> for a variant.

    The dynamic loader satisfies libdfs.so's DT_NEEDED with any already loaded object of that
    SONAME, so two builds named alike cannot live in one process: the second libdfs.so would use
    the first build's libdaos (with or without daos_reinit, whatever the variant asked for)."""
    if not omitted and daos_version == NEWEST:
        return "libdaos.so.2"
    tag = hashlib.sha1(",".join([daos_version, *omitted]).encode()).hexdigest()[:10]
    return f"libdaos.so.2.v{tag}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir")
    ap.add_argument("--no-reinit", action="store_true", help="leave out daos_reinit (< 2.6.4)")
    ap.add_argument("--omit", nargs="*", default=[], help="symbols to leave out")
    ap.add_argument("--version", choices=sorted(PRESETS), help="look like this DAOS version")
    a = ap.parse_args(argv)
    kw = preset(a.version) if a.version else {"with_reinit": True, "omit": (), "daos_version": NEWEST}
    if a.no_reinit:
        kw["with_reinit"] = False
    kw["omit"] = tuple(kw["omit"]) + tuple(a.omit)
    res = build(a.out_dir, **kw)
    print(res["libdfs"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
