"""Our DAOS declarations, and the test double's, held against DAOS's real public headers.

`../shared/daos-headers/<tag>/` (beside the repository; override: PYDAOS_TORCH_DAOS_HEADERS)
holds the public client headers of DAOS v2.2.0, v2.4.2, v2.6.4 and v2.8.0.  For each release:

* every function we dlsym (csrc/dfs/dfs_api.cpp; the Api table of csrc/dfs/dfs_api.h) has the
  release's prototype, and the optional ones are present exactly from the release that added them;
* every struct we allocate, pass by value or read a member of has the release's size and the
  offsets, sizes and types of the members we declare (daos_event_t: we reserve more, see below);
* the constants we use, and the DER table of csrc/errors.cpp (names, values), are the release's;
  its DER -> errno mapping is daos_der2errno() of the newest release, read from DAOS's internal
  src/include/daos/common.h in the DAOS git mirror (../.mirror/daos-stack+daos/repo, override:
  PYDAOS_TORCH_DAOS_MIRROR; that part skips without it);
* the test double built as that release (tests/fake_dfs/build.py --version) declares the same
  prototypes, layouts and constants, exports (nm -D) exactly the release's functions among those
  it implements, and names and converts DER codes as that release does.

Types are compared structurally by tests/daos_headers/probe.cpp (typedefs resolved, our C++ structs
named after the DAOS type they stand for).  Where we declare an opaque `void*` for a DAOS pointer
type (`daos_pool_info_t*`, `daos_cont_info_t*`, `dfs_attr_t*`: we always pass NULL) any object
pointer of the release is accepted: the ABI is one pointer either way.  `daos_event_t` is ours to
allocate and DAOS's to fill: ours must be at least as large and as aligned as every release's, with
`ev_error` (the only member we read) at the same offset and type.  One compile per release (and one
of ours) per session; only a C/C++ compiler is needed.
"""
from __future__ import annotations

import errno
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

from backends import _load  # noqa: E402

# release tag -> the double's personality (tests/fake_dfs/build.py PRESETS)
RELEASES = {"v2.2.0": "2.2", "v2.4.2": "2.4", "v2.6.4": "2.6.4", "v2.8.0": "2.8"}
NEWEST = "v2.8.0"

# Optional symbols of dfs_api.cpp and the release that added each (daos_fs.h, daos.h).
OPTIONAL_SINCE = {"dfs_readdirplus": "v2.4.2", "daos_reinit": "v2.6.4"}

# Exported by libdaos without a prototype of that name: since 2.2 daos_pool.h / daos_cont.h
# `#define daos_pool_connect daos_pool_connect2` (and cont_open) and the library keeps the old
# names as weak aliases (src/client/api/pool.c, container.c: __attribute__((weak, alias(...)))).
WEAK_ALIASES = {"daos_pool_connect", "daos_cont_open", "daos_cont_create", "daos_cont_destroy"}

# Pointer parameters we declare as void*: DAOS's type, for the message.
OPAQUE_OK = "P(void)"


def _tag_key(tag: str) -> tuple:
    return tuple(int(x) for x in tag.lstrip("v").split("."))


def headers_root() -> Path:
    env = os.environ.get("PYDAOS_TORCH_DAOS_HEADERS")
    return Path(env) if env else REPO.parent / "shared" / "daos-headers"


def mirror_root() -> Path:
    env = os.environ.get("PYDAOS_TORCH_DAOS_MIRROR")
    return Path(env) if env else REPO.parent / ".mirror" / "daos-stack+daos" / "repo"


def _compilers() -> tuple[str, str]:
    cc = os.environ.get("CC", "cc")
    cxx = os.environ.get("CXX", "c++")
    for c in (cc, cxx):
        if shutil.which(c) is None:
            pytest.skip(f"no compiler '{c}' (set CC/CXX)")
    return cc, cxx


def _run(cmd: list, what: str) -> str:
    res = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    if res.returncode != 0:
        raise AssertionError(f"{what} failed:\n{' '.join(map(str, cmd))}\n{res.stderr[-6000:]}")
    return res.stdout


@pytest.fixture(scope="session")
def headers() -> Path:
    root = headers_root()
    missing = [t for t in RELEASES if not (root / t / "daos_fs.h").is_file()]
    if missing:
        pytest.skip(f"DAOS's public headers are not at {root} (missing {', '.join(missing)}); "
                    "set PYDAOS_TORCH_DAOS_HEADERS to a daos-headers directory")
    return root


# ------------------------------------------------------------------ what our sources say

def _our_symbols() -> tuple[list[str], list[str]]:
    """(required, optional) symbols that csrc/dfs/dfs_api.cpp dlsyms."""
    src = (REPO / "csrc" / "dfs" / "dfs_api.cpp").read_text()
    required = re.findall(r"PDT_REQUIRE\((\w+)\);", src)
    optional = [(name, member) for member, name in
                re.findall(r'resolve<&Api::(\w+)>\(lib, "(\w+)", \*raw, \*a, nullptr\)', src)]
    for name, member in optional:
        assert name == member, f"dfs_api.cpp resolves '{name}' into Api::{member}"
    return required, [name for name, _ in optional]


def _api_members() -> list[str]:
    hdr = (REPO / "csrc" / "dfs" / "dfs_api.h").read_text()
    body = hdr[hdr.index("struct Api {"):]
    body = body[:body.index("\n};")]
    return re.findall(r"\(\*(\w+)\)\(", body)


# ------------------------------------------------------------------ probes (cached per session)

_cache: dict = {}


def _probe(tmp_path_factory, kind: str, funcs: list[str], flags: list[str], label: str) -> dict:
    key = ("probe", kind, label, tuple(funcs))
    if key not in _cache:
        _, cxx = _compilers()
        d = tmp_path_factory.mktemp(f"probe_{kind}_{label}")
        (d / "funcs.inc").write_text("".join(f"F({f})\n" for f in funcs))
        exe = d / "probe"
        _run([cxx, "-std=c++20", "-Wall", "-Werror", f"-DPROBE_{kind}", *flags, f"-I{d}",
              HERE / "daos_headers" / "probe.cpp", "-o", exe], f"compiling the {kind} probe ({label})")
        _cache[key] = json.loads(_run([exe], f"running the {kind} probe ({label})"))
    return _cache[key]


def _declared_functions(tmp_path_factory, headers: Path, tag: str) -> set[str]:
    """Functions (not static inline) that daos.h + daos_fs.h of a release declare (gcc -aux-info)."""
    key = ("declared", tag)
    if key not in _cache:
        cc, _ = _compilers()
        d = tmp_path_factory.mktemp(f"decl_{tag}")
        (d / "decl.c").write_text("#include <daos.h>\n#include <daos_fs.h>\n")
        aux = d / "decl.aux"
        _run([cc, "-fsyntax-only", f"-I{headers / tag}", f"-aux-info={aux}", d / "decl.c"],
             f"reading the declarations of DAOS {tag}")
        names = set()
        for line in aux.read_text().splitlines():
            m = re.match(r"/\* (\S+):\d+:\w+ \*/ (.*)", line)
            if not m or not m.group(1).startswith(str(headers)) or m.group(2).startswith("static"):
                continue
            fn = re.search(r"\b([A-Za-z_]\w*) \(", m.group(2))
            if fn:
                names.add(fn.group(1))
        assert {"dfs_read", "daos_init"} <= names, f"could not parse the declarations of {tag}"
        _cache[key] = names
    return _cache[key]


def _real(tmp_path_factory, headers, tag, funcs) -> dict:
    # -isystem: warnings inside DAOS's own headers are not ours to fix
    return _probe(tmp_path_factory, "REAL", sorted(funcs), ["-isystem", headers / tag], tag)


def _ours(tmp_path_factory) -> dict:
    required, optional = _our_symbols()
    return _probe(tmp_path_factory, "OURS", required + optional, [f"-I{REPO / 'csrc'}"], "ours")


def _der2errno(tag: str) -> dict[str, int]:
    """daos_der2errno() of a release, parsed from src/include/daos/common.h in the DAOS mirror:
    {"DER_NO_PERM": EPERM, ...} for the codes it names; every other code maps to "default"."""
    key = ("der2errno", tag)
    if key not in _cache:
        mirror = mirror_root()
        if not mirror.exists():
            pytest.skip(f"no DAOS git mirror at {mirror} (set PYDAOS_TORCH_DAOS_MIRROR) for "
                        "daos_der2errno (src/include/daos/common.h)")
        src = _run(["git", "-C", mirror, "show", f"{tag}:src/include/daos/common.h"],
                   f"reading DAOS {tag}'s common.h")
        body = re.search(r"\ndaos_der2errno\(int err\)\n\{(.*?)\n\}", src, re.S)
        assert body, f"daos_der2errno not found in DAOS {tag}'s src/include/daos/common.h"
        switch = body.group(1)[body.group(1).index("switch"):]
        table, pending = {}, []
        for tok in re.finditer(r"case -(DER_\w+):|default:|return (\w+);", switch):
            if tok.group(1):
                pending.append(tok.group(1))
            elif tok.group(0) == "default:":
                pending.append("default")
            else:
                value = 0 if tok.group(2) == "0" else getattr(errno, tok.group(2))
                table.update((name, value) for name in pending)
                pending = []
        assert table.get("DER_NO_PERM") == errno.EPERM and "default" in table, table
        _cache[key] = table
    return _cache[key]


def _errno_of(mapping: dict, name: str) -> int:
    return mapping.get(name, mapping["default"])


# ------------------------------------------------------------------ comparisons

def _param_mismatch(ours: str, real: str) -> bool:
    if ours == real:
        return False
    return not (ours == OPAQUE_OK and real.startswith("P(") and "P(" not in real[2:])


def _compare_layout(name: str, ours: dict, real: dict, tag: str, exact: bool) -> list[str]:
    errs = []
    if name == "daos_event_t" and not exact:
        if ours["sizeof"] < real["sizeof"] or ours["alignof"] < real["alignof"]:
            errs.append(f"{name}: ours {ours['sizeof']} B aligned {ours['alignof']}, DAOS {tag} "
                        f"needs {real['sizeof']} B aligned {real['alignof']}")
    elif (ours["sizeof"], ours["alignof"]) != (real["sizeof"], real["alignof"]):
        errs.append(f"{name}: sizeof/alignof {ours['sizeof']}/{ours['alignof']}, DAOS {tag} "
                    f"{real['sizeof']}/{real['alignof']}")
    for field, info in ours["fields"].items():
        if field not in real["fields"]:
            errs.append(f"{name}.{field}: DAOS {tag} has no such member")
        elif info != real["fields"][field]:
            errs.append(f"{name}.{field}: {info}, DAOS {tag} {real['fields'][field]}")
    if exact:
        for field in real["fields"].keys() - ours["fields"].keys():
            errs.append(f"{name}.{field}: DAOS {tag} has it at offset "
                        f"{real['fields'][field]['offset']}, the double does not")
    return errs


# ------------------------------------------------------------------ our declarations

def test_api_table_is_what_we_dlsym():
    required, optional = _our_symbols()
    assert len(required) > 20, "could not parse dfs_api.cpp's PDT_REQUIRE list"
    assert sorted(_api_members()) == sorted(required + optional), \
        "csrc/dfs/dfs_api.h's Api table and dfs_api.cpp's dlsym list disagree"
    unknown = set(optional) - OPTIONAL_SINCE.keys()
    assert not unknown, f"optional symbol(s) {unknown}: add the release that added each to OPTIONAL_SINCE"


@pytest.mark.parametrize("tag", RELEASES)
def test_our_prototypes_match(tag, headers, tmp_path_factory):
    declared = _declared_functions(tmp_path_factory, headers, tag)
    required, optional = _our_symbols()
    errs = [f"{f}: required by pydaos-torch, not declared by DAOS {tag}"
            for f in required if f not in declared]
    for f in optional:
        expected = _tag_key(tag) >= _tag_key(OPTIONAL_SINCE[f])
        if (f in declared) != expected:
            errs.append(f"{f}: {'absent from' if expected else 'present in'} DAOS {tag}, "
                        f"expected from {OPTIONAL_SINCE[f]} on")
    present = [f for f in required + optional if f in declared]
    real = _real(tmp_path_factory, headers, tag, present)["functions"]
    ours = _ours(tmp_path_factory)["functions"]
    for f in present:
        o, r = ours[f], real[f]
        if len(o) != len(r) or any(_param_mismatch(a, b) for a, b in zip(o, r)):
            errs.append(f"{f}: ours {o[0]}({', '.join(o[1:])}), "
                        f"DAOS {tag} {r[0]}({', '.join(r[1:])})")
    assert not errs, "\n".join(errs)


@pytest.mark.parametrize("tag", RELEASES)
def test_our_layouts_match(tag, headers, tmp_path_factory):
    real = _real(tmp_path_factory, headers, tag, [])["layouts"]
    ours = _ours(tmp_path_factory)["layouts"]
    errs = []
    for name, layout in ours.items():
        errs += _compare_layout(name, layout, real[name], tag, exact=False)
    assert ours["daos_event_t"]["fields"].keys() == {"ev_error"}, \
        "we read only ev_error of daos_event_t; a new member needs its own check"
    assert not errs, "\n".join(errs)


@pytest.mark.parametrize("tag", RELEASES)
def test_our_constants_match(tag, headers, tmp_path_factory):
    real = _real(tmp_path_factory, headers, tag, [])["constants"]
    ours = _ours(tmp_path_factory)["constants"]
    errs = [f"{k}: ours {v}, DAOS {tag} {real.get(k, 'undefined')}"
            for k, v in ours.items() if real.get(k) != v]
    assert not errs, "\n".join(errs)


@pytest.mark.parametrize("tag", RELEASES)
def test_our_der_table_match(tag, headers, tmp_path_factory):
    """Every DER code of the release is in csrc/errors.cpp under its name and value; the newest
    release's table is ours exactly (codes are append-only: an older one lacks the newer ones)."""
    real = _real(tmp_path_factory, headers, tag, [])["der"]
    ours = _ours(tmp_path_factory)["der"]
    errs = [f"{n}: ours {ours.get(n, 'missing')}, DAOS {tag} {v}"
            for n, v in real.items() if ours.get(n) != v]
    if tag == NEWEST:
        errs += [f"{n} = {v}: not in DAOS {tag}'s daos_errno.h" for n, v in ours.items() if n not in real]
    assert not errs, "\n".join(errs)


@pytest.mark.parametrize("tag", RELEASES)
def test_our_der_errno_mapping(tag, headers, tmp_path_factory):
    """csrc/errors.cpp maps a DER code as the newest daos_der2errno() does; an older release may
    map it to EIO where a newer one became specific (e.g. DER_NOTSUPPORTED -> ENOTSUP in 2.6.4)."""
    mapped = _ours(tmp_path_factory)["der_errno"]
    assert not [k for k in mapped if k.startswith("der_name mismatch")], mapped
    newest, this = _der2errno(NEWEST), _der2errno(tag)
    real = _real(tmp_path_factory, headers, tag, [])["der"]
    errs = []
    for name in mapped:
        if mapped[name] != _errno_of(newest, name):
            errs.append(f"{name}: ours {errno.errorcode.get(mapped[name])}, daos_der2errno "
                        f"({NEWEST}) {errno.errorcode.get(_errno_of(newest, name))}")
        if name in real and _errno_of(this, name) not in (mapped[name], errno.EIO):
            errs.append(f"{name}: DAOS {tag} maps it to {errno.errorcode[_errno_of(this, name)]}")
    assert not errs, "\n".join(errs)


# ------------------------------------------------------------------ the double as each release

def _personality(tmp_path_factory, tag: str) -> dict:
    key = ("double", tag)
    if key not in _cache:
        fake_build = _load("build")
        out = tmp_path_factory.mktemp(f"fake_dfs_{RELEASES[tag]}")
        _cache[key] = fake_build.build(str(out), **fake_build.preset(RELEASES[tag]))
    return _cache[key]


def _exports(lib: str) -> set[str]:
    nm = os.environ.get("NM", "nm")
    if shutil.which(nm) is None:
        pytest.skip(f"no '{nm}' (set NM)")
    out = _run([nm, "-D", "--defined-only", lib], f"nm -D {lib}")
    # fake_*: the double's own interface between its libdfs and libdaos (DAOS's libraries export
    # their internals too); not part of the DAOS API
    return {ln.split()[-1] for ln in out.splitlines()
            if len(ln.split()) == 3 and ln.split()[1] in "TW" and not ln.split()[-1].startswith("fake_")}


def _double_api(build: dict) -> set[str]:
    return _exports(build["libdfs"]) | _exports(build["libdaos"])


@pytest.mark.parametrize("tag", RELEASES)
def test_double_exports_the_release_symbols(tag, headers, tmp_path_factory):
    """Built as a release, the double exports what that release has among what it implements
    (the full build's set): no function of a later release, none of the release's left out."""
    implemented = _double_api(_personality(tmp_path_factory, NEWEST))
    release = _declared_functions(tmp_path_factory, headers, tag) | WEAK_ALIASES
    exported = _double_api(_personality(tmp_path_factory, tag))
    assert exported - release == set(), f"the double as {tag} exports what DAOS {tag} lacks"
    assert (implemented & release) - exported == set(), f"the double as {tag} lacks DAOS {tag} functions"
    assert implemented - release_all(tmp_path_factory, headers) == set(), \
        "the double exports function(s) no release declares"


def release_all(tmp_path_factory, headers) -> set[str]:
    names = set(WEAK_ALIASES)
    for t in RELEASES:
        names |= _declared_functions(tmp_path_factory, headers, t)
    return names


@pytest.mark.parametrize("tag", RELEASES)
def test_double_declarations_match(tag, headers, tmp_path_factory):
    """tests/fake_dfs/daos_types.h as built for the release: prototypes of every exported
    function, every struct layout and every constant the release defines are the release's."""
    build = _personality(tmp_path_factory, tag)
    funcs = sorted(_double_api(build))
    flags = _load("build").personality_cflags(RELEASES[tag])
    fake = _probe(tmp_path_factory, "FAKE", funcs, [f"-I{HERE / 'fake_dfs'}", *flags], RELEASES[tag])
    # the weak aliases are macros for the ...2 functions in the release's headers
    real = _real(tmp_path_factory, headers, tag, funcs)
    errs = []
    for f in funcs:
        if fake["functions"][f] != real["functions"][f]:
            errs.append(f"{f}: double {fake['functions'][f]}, DAOS {tag} {real['functions'][f]}")
    for name, layout in real["layouts"].items():
        errs += _compare_layout(name, fake["layouts"][name], layout, tag, exact=True)
    errs += [f"{k}: double {fake['constants'].get(k, 'undefined')}, DAOS {tag} {v}"
             for k, v in real["constants"].items() if fake["constants"].get(k) != v]
    errs += [f"{n}: double {fake['der'].get(n, 'missing')}, DAOS {tag} {v}"
             for n, v in real["der"].items() if fake["der"].get(n) != v]
    errs += [f"{n} = {v}: in the double, not in DAOS {tag}'s daos_errno.h"
             for n, v in fake["der"].items() if n not in real["der"]]
    assert not errs, "\n".join(errs)


_DER_SCRIPT = textwrap.dedent("""
    import ctypes, json, sys
    lib = ctypes.CDLL(sys.argv[1])
    lib.d_errstr.restype = ctypes.c_char_p
    codes = json.loads(sys.argv[2])
    print(json.dumps({str(c): [lib.d_errstr(-c).decode(), lib.fake_der2errno(-c)] for c in codes}))
""")


@pytest.mark.parametrize("tag", RELEASES)
def test_double_der_behaviour(tag, headers, tmp_path_factory):
    """The double as a release names DER codes as that release's d_errstr does (DER_UNKNOWN for a
    code it does not have yet) and its libdfs converts them as that release's daos_der2errno."""
    build = _personality(tmp_path_factory, tag)
    every = {}
    for t in RELEASES:
        every.update({v: n for n, v in _real(tmp_path_factory, headers, t, [])["der"].items()})
    real = _real(tmp_path_factory, headers, tag, [])["der"]
    codes = sorted(v for v in every if v != 0)
    res = subprocess.run([sys.executable, "-c", _DER_SCRIPT, build["libdaos"], json.dumps(codes)],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    got = {int(k): v for k, v in json.loads(res.stdout).items()}
    errs = []
    for code in codes:
        name = every[code] if every[code] in real else "DER_UNKNOWN"
        if got[code][0] != name:
            errs.append(f"d_errstr(-{code}): double {got[code][0]}, DAOS {tag} {name}")
    mapping = _der2errno(tag)
    for code in codes:
        want = _errno_of(mapping, every[code]) if every[code] in real else mapping["default"]
        if got[code][1] != want:
            errs.append(f"der2errno(-{every[code]}): double {errno.errorcode.get(got[code][1])}, "
                        f"DAOS {tag} {errno.errorcode.get(want)}")
    assert not errs, "\n".join(errs)
