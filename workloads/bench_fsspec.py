"""fsspec's daos:// (pydaos_torch.fsspec) vs the same files by local path.

Three cases, each on the same bytes of the same disk (the local backend's container is a
directory of the data folder; ``--daos``-less runs only), page cache warm for both arms
(every file was just written or read), arms interleaved round by round:

- **parquet scan**: ``pyarrow.dataset(...).to_table()`` of a multi-GB parquet data set,
  through ``daos://`` (pyarrow over fsspec) vs pyarrow's own local file system on the path;
  both arms sum the same int column (checked equal).
- **cat_ranges**: 10,000 ranges of 4 KiB from 1,000 files, one ``cat_ranges`` call vs a loop
  of ``open``/``seek``/``read`` through fsspec's local file system (CRC32 of all bytes checked).
- **get**: one big file copied to local disk by ``fs.get_file`` vs ``cp`` of its local path
  (neither syncs; the copy is removed, untimed, before each run; its CRC checked once).

    PYTHONPATH=$PWD .venv/bin/python workloads/bench_fsspec.py [--quick] [--runs N] [--gib G]
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import time
import zlib
from pathlib import Path
from typing import Any, Dict, List, Optional

from harness.results import quiet_blas

quiet_blas()

from harness.cli import RunDefaults, add_run_options, policy  # noqa: E402
from harness.machine import fs_of  # noqa: E402
from harness.results import base_result, publish, write_section  # noqa: E402
from harness.runner import Arm, arm_summary, run_round_robin  # noqa: E402
from harness.site import default_data_dir  # noqa: E402
from harness.tables import Headline, med, num, ratio_text, rng  # noqa: E402

RUN = RunDefaults(runs=5, attempts=2, quiet_wait=5.0, budget_min=30.0)
POOL, CONT = "bench", "fsspec"
TARGETS = {"parquet": "≥ 0.9x", "ranges": "≥ 5x", "get": "≥ 1.0x"}


def daos_fs(root: Path):
    from pydaos_torch.fsspec import DaosFileSystem
    return DaosFileSystem(backend="local", root=str(root))


# ---------------------------------------------------------------- data
def make_parquet(where: Path, nbytes: int) -> int:
    """Parquet files of about ``nbytes`` (int64, float64 and string columns, snappy); returns
    the sum of column "k" that both arms must get."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    where.mkdir(parents=True, exist_ok=True)
    rows = 1 << 20  # per file: ~33 MB of raw columns
    rng_ = np.random.default_rng(7)
    total, i, written = 0, 0, 0
    while written < nbytes:
        k = rng_.integers(0, 1 << 40, rows, dtype=np.int64)
        t = pa.table({"k": k, "x": rng_.random(rows), "y": rng_.random(rows),
                      "s": pa.array(np.char.add("id", (k % 100000).astype(str)))})
        p = where / f"part-{i:04d}.parquet"
        pq.write_table(t, p, row_group_size=1 << 17)
        total += int(k.sum(dtype=np.int64))
        written += p.stat().st_size
        i += 1
    return total & ((1 << 63) - 1)


def scan_sum(table) -> int:
    import pyarrow.compute as pc
    return int(pc.sum(table.column("k")).as_py()) & ((1 << 63) - 1)


# ---------------------------------------------------------------- cases
def case_parquet(args, pol, result, root: Path, cont_dir: Path) -> None:
    import pyarrow.dataset as ds
    nbytes = int(args.gib * 2**30)
    want = make_parquet(cont_dir / "pq", nbytes)
    size = sum(p.stat().st_size for p in (cont_dir / "pq").iterdir())
    fs = daos_fs(root)

    def local() -> Dict[str, Any]:
        t = time.perf_counter()
        s = scan_sum(ds.dataset(str(cont_dir / "pq"), format="parquet").to_table())
        return {"seconds": time.perf_counter() - t, "sum": s}

    def ours() -> Dict[str, Any]:
        t = time.perf_counter()
        s = scan_sum(ds.dataset(f"{POOL}/{CONT}/pq", filesystem=fs, format="parquet").to_table())
        return {"seconds": time.perf_counter() - t, "sum": s}

    arms = [Arm("local-parquet", "pyarrow.dataset on the local path", "stock", local),
            Arm("daos-parquet", "pyarrow.dataset over daos:// (fsspec)", "pydaos", ours)]

    def validate(a: Arm, res: Dict[str, Any]) -> None:
        if res["sum"] != want:
            raise RuntimeError(f"{a.key}: column sum {res['sum']} != {want}")
        res["gib_per_s"] = size / 2**30 / res["seconds"]
    local()  # warm the page cache for both arms
    ours()  # and connect (start-up is not timed)
    rounds = run_round_robin(arms, pol, "fsspec parquet", validate, lambda r: f"{r['seconds']:.2f}s")
    result["tables"].append({"case": "parquet", "what": f"{size / 2**30:.2g} GiB parquet scan", "metric": "gib_per_s",
                             "unit": "GiB/s", "arms": [arm_summary(a, ["seconds", "gib_per_s"]) for a in arms],
                             "rounds": rounds})


def case_ranges(args, pol, result, root: Path, cont_dir: Path) -> None:
    import fsspec
    files, per, nranges, length = 1000, 64 << 10, args.ranges, 4096
    d = cont_dir / "ranges"
    d.mkdir(parents=True, exist_ok=True)
    for i in range(files):
        (d / f"f{i:04d}").write_bytes(os.urandom(per))
    r = random.Random(3)
    picks = [(r.randrange(files), r.randrange(0, per - length)) for _ in range(nranges)]
    names = [f"f{i:04d}" for i, _ in picks]
    starts = [s for _, s in picks]
    ends = [s + length for s in starts]
    want = 0
    for n, s in zip(names, starts):
        with open(d / n, "rb") as f:
            f.seek(s)
            want = zlib.crc32(f.read(length), want)
    lfs = fsspec.filesystem("file")
    fs = daos_fs(root)
    lpaths = [str(d / n) for n in names]
    dpaths = [f"{POOL}/{CONT}/ranges/{n}" for n in names]

    def loop() -> Dict[str, Any]:
        t = time.perf_counter()
        crc = 0
        for p, s in zip(lpaths, starts):
            with lfs.open(p, "rb") as f:
                f.seek(s)
                crc = zlib.crc32(f.read(length), crc)
        return {"seconds": time.perf_counter() - t, "crc": crc}

    def ours() -> Dict[str, Any]:
        t = time.perf_counter()
        crc = 0
        for b in fs.cat_ranges(dpaths, starts, ends):
            crc = zlib.crc32(b, crc)
        return {"seconds": time.perf_counter() - t, "crc": crc}

    arms = [Arm("local-loop", "open/seek/read loop, fsspec's local file system", "stock", loop),
            Arm("daos-cat_ranges", "DaosFileSystem.cat_ranges (one batch)", "pydaos", ours)]

    def validate(a: Arm, res: Dict[str, Any]) -> None:
        if res["crc"] != want:
            raise RuntimeError(f"{a.key}: CRC32 of the ranges differs")
        res["ranges_per_s"] = nranges / res["seconds"]
    fs.cat_ranges(dpaths[:1], starts[:1], ends[:1])  # connect (start-up is not timed)
    rounds = run_round_robin(arms, pol, "fsspec ranges", validate, lambda r: f"{r['seconds'] * 1e3:.0f}ms")
    result["tables"].append({"case": "ranges", "what": f"{nranges:,} ranges of 4 KiB from {files:,} files",
                             "metric": "ranges_per_s", "unit": "ranges/s",
                             "arms": [arm_summary(a, ["seconds", "ranges_per_s"]) for a in arms], "rounds": rounds})


def case_get(args, pol, result, root: Path, cont_dir: Path, out_dir: Path) -> None:
    size = int(args.get_gib * 2**30)
    src = cont_dir / "big.bin"
    with open(src, "wb") as f:
        block = os.urandom(8 << 20)
        for _ in range(size // len(block)):
            f.write(block)
    want = _crc_file(src)
    dst = out_dir / "copy.bin"
    fs = daos_fs(root)

    def clear() -> None:
        dst.unlink(missing_ok=True)

    def cp() -> Dict[str, Any]:
        t = time.perf_counter()
        subprocess.run(["cp", str(src), str(dst)], check=True)
        return {"seconds": time.perf_counter() - t}

    def get() -> Dict[str, Any]:
        t = time.perf_counter()
        fs.get_file(f"{POOL}/{CONT}/big.bin", str(dst))
        return {"seconds": time.perf_counter() - t}

    arms = [Arm("cp", "cp of the local path", "stock", cp, before_run=clear),
            Arm("daos-get", "DaosFileSystem.get_file", "pydaos", get, before_run=clear)]
    checked = set()

    def validate(a: Arm, res: Dict[str, Any]) -> None:
        if a.key not in checked:  # once per arm: the copy is whole and equal
            if _crc_file(dst) != want:
                raise RuntimeError(f"{a.key}: the copy differs from the source")
            checked.add(a.key)
        res["gib_per_s"] = size / 2**30 / res["seconds"]
    _crc_file(src)
    fs.info(f"{POOL}/{CONT}/big.bin")  # connect (start-up is not timed)
    rounds = run_round_robin(arms, pol, "fsspec get", validate, lambda r: f"{r['seconds']:.2f}s")
    clear()
    result["tables"].append({"case": "get", "what": f"get of a {size / 2**30:.2g} GiB file", "metric": "gib_per_s",
                             "unit": "GiB/s", "arms": [arm_summary(a, ["seconds", "gib_per_s"]) for a in arms],
                             "rounds": rounds})


def _crc_file(p: Path) -> int:
    crc = 0
    with open(p, "rb") as f:
        while True:
            b = f.read(8 << 20)
            if not b:
                return crc
            crc = zlib.crc32(b, crc)


# ---------------------------------------------------------------- tables
def tables(res: Dict[str, Any], hl: Optional[Headline] = None) -> str:
    hl = hl or Headline()
    out = ["| case | arm | median | min–max | vs baseline (paired) | runs |", "|---|---|---:|---:|---:|---|"]
    for t in res["tables"]:
        base, ours = t["arms"][0], t["arms"][1]
        for a in t["arms"]:
            out.append(f"| {t['what']} | {a['label']} | {num(med(a, t['metric']))} {t['unit']} | "
                       f"{rng(a, t['metric'], num)} | {ratio_text(a, base, t['metric']) if a is not base else '1.00'} "
                       f"| {a['stats_over']} |")
        hl.add("fsspec", t["what"], ours, base, t["metric"], t["unit"], base["label"], TARGETS[t["case"]])
    return "\n".join(out) + "\n"


def write_readme(out_dir: Path, result: Dict[str, Any], json_name: str) -> None:
    body = (f"### fsspec: daos:// vs the same files by local path\n\n`{result['command']}` "
            f"({result['date']}, {result['fs']}; `{json_name}`)\n\n" + tables(result))
    write_section(out_dir, "fsspec", "bench_fsspec.py", body)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_options(ap, RUN)
    ap.add_argument("--quick", action="store_true", help="256 MiB parquet, 2,000 ranges, 128 MiB get, 3 runs")
    ap.add_argument("--gib", type=float, default=0.0, help="parquet data set size (default 2, --quick 0.25)")
    ap.add_argument("--get-gib", type=float, default=0.0, help="the get file's size (default 1, --quick 0.125)")
    ap.add_argument("--ranges", type=int, default=0, help="ranges of the cat_ranges case (default 10,000)")
    ap.add_argument("--cases", default="parquet,ranges,get")
    ap.add_argument("--dir", type=Path, default=default_data_dir("bench_fsspec"))
    args = ap.parse_args()
    args.gib = args.gib or (0.25 if args.quick else 2.0)
    args.get_gib = args.get_gib or (0.125 if args.quick else 1.0)
    args.ranges = args.ranges or (2000 if args.quick else 10000)
    pol = policy(args, RUN)
    result = base_result("fsspec", args, pol.runs, pol)
    result.update({"tables": [], "dir": str(args.dir)})
    shutil.rmtree(args.dir, ignore_errors=True)
    root, scratch = args.dir / "root", args.dir / "scratch"
    cont_dir = root / POOL / CONT
    cont_dir.mkdir(parents=True)
    scratch.mkdir()
    try:
        for case in args.cases.split(","):
            if case == "parquet":
                case_parquet(args, pol, result, root, cont_dir)
            elif case == "ranges":
                case_ranges(args, pol, result, root, cont_dir)
            elif case == "get":
                case_get(args, pol, result, root, cont_dir, scratch)
            else:
                raise SystemExit(f"unknown case {case!r}: choose from parquet, ranges, get")
        result["fs"] = fs_of(args.dir.resolve())
    finally:
        shutil.rmtree(args.dir, ignore_errors=True)
    publish(args, result, "fsspec", tables(result), write_readme)


if __name__ == "__main__":
    sys.exit(main())
