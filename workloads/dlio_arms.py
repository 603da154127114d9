"""bench_dlio's workloads and arms: DLIO command lines, the stock-reader check, the JSON summary.

Per workload W (unet3d, resnet50, cosmoflow) every arm starts from our W_daos_small workload
file (dlio_configs/workload/W_daos_small.yaml, installed with the wheel), so that sizes, sample
counts, format (npz/npy), batch size, read_threads, shuffles and computation_time are the same
by construction:

  ours         workload=W_daos_small (PyDaosDataLoader + PyDaosReader, decode=header)
  ours-numpy   the same + ++workload.pydaos.decode=numpy (np.load of the file: the stock decode)
  stock        workload=W_daos_small with our reader, loader, sampler, checkpointing classes and
               the pydaos section deleted (Hydra ~key), storage local_fs, framework pytorch,
               reader.data_loader pytorch, dataset.data_folder = the plain directory of the
               same files: DLIO 2.0.0's own PyTorch DataLoader + NPZReader/NPYReader
  stock-onopen (default for files of many samples; --arms) stock with reader.read_type=on_open: DLIO's reader keeps a
               file open across its samples instead of np.load-ing the whole file per sample
               (DLIO's default, on_demand); only differs for files of many samples (resnet50)
"""
from __future__ import annotations

import re
import statistics
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

REPO = Path(__file__).resolve().parent.parent

# files: files generated and read (unet3d 32 as the earlier results; cosmoflow 64 so that an
# epoch is more than a few ms of compute); lo/hi: the bisection's initial bracket (lo assumed to
# fail, hi assumed to hold: recorded as unverified when no probe held / failed).
SPECS: Dict[str, Dict[str, Any]] = {
    "unet3d": {"files": 32, "lo": 0.004, "hi": 0.323},
    "resnet50": {"files": 16, "lo": 0.002, "hi": 0.2},
    "cosmoflow": {"files": 64, "lo": 0.0002, "hi": 0.05},
}
OURS_ARMS = ("ours", "ours-numpy")
STOCK_ARMS = ("stock", "stock-onopen")
ALL_ARMS = OURS_ARMS + STOCK_ARMS


def workload_yaml(w: str) -> Dict[str, Any]:
    import yaml
    return yaml.safe_load((REPO / "dlio_configs/workload" / f"{w}_daos_small.yaml").read_text())["workload"]


def spec(w: str, files: Optional[int] = None) -> Dict[str, Any]:
    """Everything bench_dlio needs to know of workload w, from its small workload file."""
    if w not in SPECS:
        raise SystemExit(f"unknown workload {w!r} (known: {', '.join(SPECS)})")
    y = workload_yaml(w)
    s = dict(SPECS[w])
    if files:
        s["files"] = files
    ds, rd = y["dataset"], y["reader"]
    s.update(name=f"{w}_daos_small", format=ds["format"], data_folder=ds["data_folder"],
             samples_per_file=ds.get("num_samples_per_file", 1), record_length=ds.get("record_length"),
             batch_size=rd["batch_size"], read_threads=rd["read_threads"], ct=y["train"]["computation_time"],
             au_target=100.0 * y.get("metric", {}).get("au", 0.9),
             has_ckpt_class="checkpoint_mechanism_classname" in (y.get("checkpoint") or {}))
    return s


def common(w: str, s: Dict[str, Any], epochs: int, ct: float) -> List[str]:
    """Overrides given to every arm (most equal the workload file's values: explicit on purpose)."""
    x = ["++workload.workflow.generate_data=False", "++workload.workflow.train=True",
         "++workload.workflow.checkpoint=False", f"++workload.dataset.num_files_train={s['files']}"]
    if w == "unet3d":  # the earlier results' exact command lines
        x += ["++workload.dataset.num_samples_per_file=1",
              "++workload.dataset.record_length=4194304", "++workload.dataset.record_length_stdev=1048576",
              "++workload.dataset.record_length_resize=2097152", "++workload.reader.batch_size=2",
              "++workload.reader.read_threads=2"]
    return x + ["++workload.reader.pin_memory=False", "++workload.reader.multiprocessing_context=fork",
                "++workload.reader.file_shuffle=seed", "++workload.reader.sample_shuffle=seed",
                f"++workload.train.epochs={epochs}", f"++workload.train.computation_time={ct:g}"]


def ours_location(site: Optional[Dict[str, str]], root: str) -> List[str]:
    if site:
        return ["++workload.pydaos.backend=dfs", f"++workload.pydaos.pool={site['pool']}",
                f"++workload.pydaos.container={site['container']}"]
    return ["++workload.pydaos.backend=local", f"++workload.pydaos.root={root}",
            "++workload.pydaos.pool=pool", "++workload.pydaos.container=cont"]


def stock_deletions(s: Dict[str, Any]) -> List[str]:
    d = ["~workload.reader.data_loader_classname", "~workload.reader.reader_classname",
         "~workload.reader.data_loader_sampler", "~workload.pydaos"]
    if s["has_ckpt_class"]:
        d.insert(3, "~workload.checkpoint.checkpoint_mechanism_classname")
    return d


def arm_args(w: str, s: Dict[str, Any], arm: str, plain_dir: str, site: Optional[Dict[str, str]], root: str,
             epochs: int, ct: float) -> List[str]:
    if arm in OURS_ARMS:
        x = [f"workload={s['name']}", *ours_location(site, root)]
        if arm == "ours-numpy":
            x.append("++workload.pydaos.decode=numpy")
        return x + common(w, s, epochs, ct)
    if arm in STOCK_ARMS:
        x = [f"workload={s['name']}", *stock_deletions(s), "++workload.storage.storage_type=local_fs",
             "++workload.storage.storage_root=/", f"++workload.dataset.data_folder={plain_dir}",
             "++workload.framework=pytorch", "++workload.reader.data_loader=pytorch"]
        if arm == "stock-onopen":
            x.append("++workload.reader.read_type=on_open")
        return x + common(w, s, epochs, ct)
    raise ValueError(arm)


_CUSTOM = re.compile(r"(Discovered custom \S+ \S+ (\w+)|Running DLIO with custom \S+ \S+ class (\w+))")
_STEPS = re.compile(r"Max steps per epoch: (\d+) = (\d+) \* (\d+) / (\d+) / (\d+)")
_PROC = re.compile(r"Rank 0 step \d+ processed (\d+) samples")


def log_check(run_dir: Path) -> Dict[str, Any]:
    """What dlio.log says about a run: the custom classes DLIO loaded (none for stock), our own
    log lines (none for stock), DLIO's step arithmetic (files, samples per file, batch, ranks)
    and the samples rank 0 processed over all epochs."""
    try:
        t = (run_dir / "dlio.log").read_text(errors="replace")
    except OSError as e:
        return {"error": str(e)}
    custom = sorted({m.group(2) or m.group(3) for m in _CUSTOM.finditer(t)})
    m = _STEPS.search(t)
    c: Dict[str, Any] = {"custom_classes": custom, "pydaos_lines": t.count("pydaos_torch:"),
                         "rank0_samples": sum(int(x) for x in _PROC.findall(t))}
    if m:
        c.update(steps_per_epoch=int(m.group(1)), samples_per_file=int(m.group(2)), files=int(m.group(3)),
                 batch=int(m.group(4)), comm=int(m.group(5)))
    return c


def compare_checks(runs: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Per (workload, ranks): stock arms loaded no class of ours and logged nothing of ours, ours
    loaded PyDaosReader/PyDaosDataLoader, and every arm saw the same files, samples per file, batch,
    steps and rank-0 samples."""
    out: Dict[str, Any] = {}
    keys = ("files", "samples_per_file", "batch", "comm", "steps_per_epoch", "rank0_samples")
    for (w, np_) in sorted({(r.get("workload", "unet3d"), r["ranks"]) for r in runs if "check" in r}):
        rr = [r for r in runs if r.get("workload", "unet3d") == w and r["ranks"] == np_ and "check" in r
              and "au" in r and r.get("part") == "part1"]
        if not rr:
            continue
        problems = []
        seen = {}
        for r in rr:
            c = r["check"]
            if r["arm"] in STOCK_ARMS and (c.get("custom_classes") or c.get("pydaos_lines")):
                problems.append(f"{r['arm']} run {r['run_dir']}: custom classes {c.get('custom_classes')}, "
                                f"{c.get('pydaos_lines')} pydaos_torch lines")
            if r["arm"] in OURS_ARMS and "PyDaosReader" not in c.get("custom_classes", []):
                problems.append(f"{r['arm']} run {r['run_dir']}: PyDaosReader not loaded")
            seen.setdefault(tuple(c.get(k) for k in keys), []).append(r["arm"])
        if len(seen) > 1:
            problems.append("arms differ in " + "; ".join(f"{dict(zip(keys, k))}: {sorted(set(v))}"
                                                          for k, v in seen.items()))
        first = dict(zip(keys, next(iter(seen))))
        out[f"{w}/np{np_}"] = {"ok": not problems, "problems": problems, **first,
                               "stock_classes": sorted({x for r in rr if r["arm"] in STOCK_ARMS
                                                        for x in r["check"].get("custom_classes", [])}),
                               "ours_classes": sorted({x for r in rr if r["arm"] in OURS_ARMS
                                                       for x in r["check"].get("custom_classes", [])})}
    return out


def _stats(xs: List[float]) -> Tuple[float, float, float]:
    return statistics.median(xs), min(xs), max(xs)


def norm_bkey(k: str) -> str:
    return k if "/" in k else "unet3d/" + k  # JSONs before --workloads: unet3d only


def summary(result: Dict[str, Any]) -> Dict[str, Any]:
    """Plain numbers: part1[w][ranks][arm], bisection[w][ranks][reader], ratio[w][ranks], ckpt[ranks][arm]."""
    runs = result.get("runs", [])
    p1: Dict[str, Any] = {}
    part1 = [r for r in runs if r.get("part") == "part1"]
    for (w, np_, arm) in sorted({(r.get("workload", "unet3d"), r["ranks"], r["arm"]) for r in part1}):
        rr = [r for r in part1 if r.get("workload", "unet3d") == w and r["ranks"] == np_ and r["arm"] == arm]
        ok = [r for r in rr if "au" in r]
        d: Dict[str, Any] = {"runs": len(ok), "failed": len(rr) - len(ok),
                             "disturbed": sum(bool(r.get("disturbed")) for r in ok),
                             "oversubscribed": any(r.get("oversubscribed") for r in rr)}
        if ok:
            d["au_median"], d["au_min"], d["au_max"] = _stats([r["au"] for r in ok])
            (d["samples_s_median"], d["samples_s_min"],
             d["samples_s_max"]) = _stats([r["samples_per_s"] for r in ok])
            d["foreign_cpus_median"] = statistics.median(r["interference"]["foreign_cpus"] for r in ok)
        p1.setdefault(w, {}).setdefault(str(np_), {})[arm] = d
    for w, by in p1.items():
        for np_, arms in by.items():
            st = arms.get("stock", {}).get("samples_s_median")
            so = arms.get("stock-onopen", {}).get("samples_s_median")
            for arm, d in arms.items():
                d["vs_stock"] = (d["samples_s_median"] / st) if st and "samples_s_median" in d else None
                if so and "samples_s_median" in d:
                    d["vs_stock_onopen"] = d["samples_s_median"] / so
    bis: Dict[str, Any] = {}
    ratio: Dict[str, Any] = {}
    for k, steps in result.get("bisection", {}).items():
        w, rest = norm_bkey(k).split("/", 1)
        reader, np_ = rest.rsplit("-np", 1)
        lo, hi = steps[-1]["bracket_after"]
        bis.setdefault(w, {}).setdefault(np_, {})[reader] = {
            "lo_fail": lo, "hi_hold": hi, "probes": len(steps),
            "lo_verified": any(not s.get("holds_target", s.get("holds_90")) for s in steps),
            "hi_verified": any(s.get("holds_target", s.get("holds_90")) for s in steps)}
    for w, by in bis.items():
        for np_, rd in by.items():
            if "ours" in rd and "stock" in rd:
                o, s = rd["ours"], rd["stock"]
                ratio.setdefault(w, {})[np_] = {"stock_over_ours_min": s["lo_fail"] / o["hi_hold"],
                                               "stock_over_ours_max": s["hi_hold"] / o["lo_fail"],
                                               "brackets_verified": all(x[k] for x in (o, s)
                                                                        for k in ("lo_verified", "hi_verified"))}
    ck: Dict[str, Any] = {}
    cr = [r for r in runs if r.get("part") == "part3-ckpt"]
    for (np_, arm) in sorted({(r["ranks"], r["arm"]) for r in cr}):
        rr = [r for r in cr if r["ranks"] == np_ and r["arm"] == arm]
        xs = [g for r in rr for g in r.get("gb_per_s", [])]
        d = {"runs": sum("gb_per_s" in r for r in rr), "saves": len(xs), "failed": sum("gb_per_s" not in r for r in rr),
             "disturbed": sum(bool(r.get("disturbed")) for r in rr),
             "oversubscribed": any(r.get("oversubscribed") for r in rr)}
        if xs:
            d["save_gb_s_median"], d["save_gb_s_min"], d["save_gb_s_max"] = _stats(xs)
        ck.setdefault(str(np_), {})[arm] = d
    for np_, arms in ck.items():
        st = arms.get("stock", {}).get("save_gb_s_median")
        for d in arms.values():
            d["vs_stock"] = d["save_gb_s_median"] / st if st and "save_gb_s_median" in d else None
    out: Dict[str, Any] = {"part1": p1}
    if bis:
        out["bisection"], out["ratio"] = bis, ratio
    if ck:
        out["ckpt"] = ck
    return out
