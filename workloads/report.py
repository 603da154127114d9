#!/usr/bin/env python3
"""Tables and plots from a suite roll-up (results/<date>-<machine>[-N].json, see suite.py).

    .venv/bin/python workloads/report.py                 # the newest full roll-up in results/
    .venv/bin/python workloads/report.py results/X.json  # that one

Rewrites the "suite" section of results/README.md (every other section stays) and writes
results/plots/<roll-up name>-*.png. Every figure and every ratio in the tables is computed here
from the medians and raw runs in the roll-up (ratio = ours / baseline of the medians; "paired"
= median and range over rounds of the per-round ratio, where the arms ran in rounds), so the
README can always be regenerated from the JSON.
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

Arm = Dict[str, Any]


# ----------------------------------------------------------------------------- figures

def med(arm: Arm, metric: str) -> Optional[float]:
    s = arm.get(metric)
    return s.get("median") if isinstance(s, dict) else s


def rng(arm: Arm, metric: str, f: Callable[[float], str]) -> str:
    s = arm.get(metric)
    return f"{f(s['min'])}–{f(s['max'])}" if isinstance(s, dict) and "min" in s else ""


def paired(a: Arm, b: Arm, metric: str) -> Optional[Tuple[float, float, float]]:
    """(median, min, max) over rounds of a[metric] / b[metric] in the same round."""
    rb = {r["round"]: r.get(metric) for r in b.get("raw", []) if "round" in r}
    xs = [r[metric] / rb[r["round"]] for r in a.get("raw", [])
          if "round" in r and rb.get(r["round"]) and r.get(metric) is not None]
    return (statistics.median(xs), min(xs), max(xs)) if xs else None


def ratio_text(a: Arm, b: Arm, metric: str, invert: bool = False) -> str:
    ma, mb = med(a, metric), med(b, metric)
    if not ma or not mb:
        return "–"
    r = mb / ma if invert else ma / mb
    p = None if invert else paired(a, b, metric)
    return f"**{r:.2f}x**" + (f" ({p[0]:.2f}, {p[1]:.2f}–{p[2]:.2f})" if p else "")


def num(x: Optional[float]) -> str:
    if x is None:
        return "–"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.3g}"


def find(arms: Iterable[Arm], key: str) -> Optional[Arm]:
    return next((a for a in arms if a.get("key") == key), None)


class Headline:
    """The summary table: one row per (area, comparison)."""

    def __init__(self) -> None:
        self.rows: List[str] = []

    def add(self, area: str, case: str, ours: Arm, base: Arm, metric: str, unit: str, base_name: str,
            target: str = "") -> None:
        self.rows.append(f"| {area} | {case} | {num(med(ours, metric))} {unit} ({rng(ours, metric, num)}) | "
                         f"{base_name}: {num(med(base, metric))} {unit} | {ratio_text(ours, base, metric)} | "
                         f"{target} |")

    def table(self) -> str:
        head = ("| area | case | ours: median (min–max) | baseline: median | ours / baseline (paired median, "
                "range) | target |\n|---|---|---:|---:|---:|---|")
        return head + "\n" + "\n".join(self.rows)


# ----------------------------------------------------------------------------- per step

def core_read(res: Dict[str, Any], hl: Headline) -> str:
    out = []
    for v in res["variants"]:
        for ds in v["datasets"]:
            metric = "files_per_s" if ds["metric"] == "files/s" else "gib_per_s"
            arms = ds["arms"]
            c, ours = find(arms, ds["c_reference"]), find(arms, ds["pydaos_default"])
            py = next((a for a in arms if a["family"] == "python" and a["key"] == "python-read"), None)
            case = f"{ds['name']}, page cache {v['cache']}"
            if ours and c:
                hl.add("core read", case, ours, c, metric, ds["metric"], "C reader", "≥ 0.8x (small, warm)"
                       if "small" in ds["name"] and v["cache"] == "warm" else "")
            if ours and py:
                hl.add("core read", case, ours, py, metric, ds["metric"], "plain Python open().read()")
            out.append(f"**{case}** ({ds['files']} files, {ds['metric']})\n")
            out.append("| arm | median | min–max | CPU per unit | vs C reader | vs plain Python | runs |")
            out.append("|---|---:|---:|---:|---:|---:|---|")
            cpu = "cpu_us_per_file" if metric == "files_per_s" else "cpu_s_per_gib"
            for a in arms:
                out.append(f"| {a['label']} | {num(med(a, metric))} | {rng(a, metric, num)} | "
                           f"{num(med(a, cpu))} {'µs' if metric == 'files_per_s' else 's/GiB'} | "
                           f"{ratio_text(a, c, metric) if c else '–'} | {ratio_text(a, py, metric) if py else '–'} | "
                           f"{a['stats_over']} |")
            out.append("")
    return "\n".join(out)


def dataloader(res: Dict[str, Any], hl: Headline) -> str:
    out = []
    for ds in res["datasets"]:
        metric = "files_per_s" if ds["metric"] == "files/s" else "gib_per_s"
        arms = ds["arms"]
        c = find(arms, "c-t2-ro")
        out.append(f"**{ds['name']}** ({ds['metric']}, DataLoader)\n")
        out.append("| arm | median | min–max | vs plain Python (same workers) | vs C reader | runs |")
        out.append("|---|---:|---:|---:|---:|---|")
        for a in arms:
            w = a["params"].get("workers")
            base = find(arms, f"plain-bytes-w{w}") if w is not None else None
            out.append(f"| {a['label']} | {num(med(a, metric))} | {rng(a, metric, num)} | "
                       f"{ratio_text(a, base, metric) if base and base is not a else '–'} | "
                       f"{ratio_text(a, c, metric) if c else '–'} | {a['stats_over']} |")
        out.append("")
        fast2, plain2 = find(arms, "pydaos-fast-w2"), find(arms, "plain-bytes-w2")
        if fast2 and plain2 and "small" in ds["name"]:
            hl.add("DataLoader", f"{ds['name']}, fast mode, 2 workers", fast2, plain2, metric, ds["metric"],
                   "plain Python dataset", "≥ 5x")
        if fast2 and c and "large" in ds["name"]:
            hl.add("DataLoader", f"{ds['name']}, fast mode, 2 workers", fast2, c, metric, ds["metric"],
                   "C reader", "≥ 0.5x")
    return "\n".join(out)


def checkpoint(res: Dict[str, Any], hl: Headline) -> str:
    out = ["| size | operation | condition | arm | GiB/s median | min–max | vs torch (paired) | runs |",
           "|---|---|---|---|---:|---:|---:|---|"]
    for t in res["tables"]:
        plain, ours = t["arms"][0], t["arms"][1]
        size = t.get("size_gib", res.get("state_dict", {}).get("bytes", 0) / 2**30)
        cond = f"{t['durability']}, {t['scenario']}" if t["op"] == "save" else f"page cache {t['cache']}"
        for a in t["arms"]:
            out.append(f"| {size:g} GiB | {t['op']} | {cond} | {a['label']} | {num(med(a, 'gib_per_s'))} | "
                       f"{rng(a, 'gib_per_s', num)} | {ratio_text(a, plain, 'gib_per_s') if a is not plain else '1.00'} | "
                       f"{a['stats_over']} |")
        if size == max(x.get("size_gib", 0) for x in res["tables"]):  # the target is set for 1 GiB
            hl.add("checkpoint", f"{size:g} GiB {t['op']}, {cond}", ours, plain, "gib_per_s", "GiB/s",
                   f"torch.{t['op']}", "≥ 1.0x" if size >= 1 else "(≥ 1.0x at 1 GiB)")
    return "\n".join(out) + "\n"


def memory(res: Dict[str, Any], hl: Headline) -> str:
    ours, lst = find(res["arms"], "pydaos"), find(res["arms"], "list")
    out = ["| dataset | growth per worker, MiB: median | max | samples/s | runs |", "|---|---:|---:|---:|---|"]
    for a in res["arms"]:
        out.append(f"| {a['label']} | {num(med(a, 'growth_mib_median'))} | {num(med(a, 'growth_mib_max'))} | "
                   f"{num(med(a, 'samples_per_s'))} | {a['stats_over']} |")
    if ours and lst:
        hl.rows.append(f"| memory | {res['entries']:,} entries, {res['workers']} forked workers | "
                       f"{num(med(ours, 'growth_mib_median'))} MiB/worker | Python list: "
                       f"{num(med(lst, 'growth_mib_median'))} MiB/worker | "
                       f"{med(lst, 'growth_mib_median') / max(med(ours, 'growth_mib_median'), 1e-3):.0f}x less | "
                       f"a few MB |")
    return "\n".join(out) + f"\n\nIndex: {res['index_memory_bytes'] / res['entries']:.1f} bytes per entry.\n"


def digits(res: Dict[str, Any], hl: Headline) -> str:
    r = res["run"]
    f, m = r["arms"]["files"], r["arms"]["memory"]
    fs, ms = f["epoch_s_excl_warmup"], m["epoch_s_excl_warmup"]
    hl.rows.append(f"| real training | digits CNN, {r['epochs']} epochs | {fs['median'] * 1000:.0f} ms/epoch, "
                   f"accuracy {f['test_accuracy']:.2%} | in memory: {ms['median'] * 1000:.0f} ms, "
                   f"{m['test_accuracy']:.2%} | epoch time {fs['median'] / ms['median']:.2f}x | same accuracy: "
                   f"{'yes' if f['test_accuracy'] == m['test_accuracy'] else 'NO'} |")
    return (f"Test accuracy: files {f['test_accuracy']:.2%}, in memory {m['test_accuracy']:.2%}; weights "
            f"{'bit-identical' if r['weights_identical'] else 'differ'}. Median epoch {fs['median'] * 1000:.0f} ms "
            f"({fs['min'] * 1000:.0f}–{fs['max'] * 1000:.0f}) vs {ms['median'] * 1000:.0f} ms "
            f"({ms['min'] * 1000:.0f}–{ms['max'] * 1000:.0f}) in memory.\n")


def scan(res: Dict[str, Any], hl: Headline) -> str:
    s = res.get("summary", {})
    out = []
    for cache in ("warm", "cold"):
        v = res.get(cache)
        if not v:
            continue
        arms = v["arms"]
        walk, sd = find(arms, "os-walk"), find(arms, "scandir")
        out += [f"**{s.get('files', 0):,} files, {cache}** (the native scan sorts its Index inside the timed "
                "region; the Python arms do not sort)\n",
                "| arm | files/s median | min–max | CPU per file | vs os.walk | vs os.scandir | runs |",
                "|---|---:|---:|---:|---:|---:|---|"]
        for a in arms:
            out.append(f"| {a['label']} | {num(med(a, 'files_per_s'))} | {rng(a, 'files_per_s', num)} | "
                       f"{num(med(a, 'cpu_us_per_file'))} µs | {ratio_text(a, walk, 'files_per_s') if walk else '–'} | "
                       f"{ratio_text(a, sd, 'files_per_s') if sd else '–'} | {a['stats_over']} |")
        out.append("")
        ours = find(arms, "native-default")
        if ours and walk:
            hl.add("scan", f"{s.get('files', 0):,} files, {cache}", ours, walk, "files_per_s", "files/s", "os.walk")
        if ours and sd:
            hl.add("scan", f"{s.get('files', 0):,} files, {cache}", ours, sd, "files_per_s", "files/s", "os.scandir")
    if "index_bytes_per_entry" in s:
        out.append(f"Memory per entry: native Index {s['index_bytes_per_entry']:.1f} B (RSS growth "
                   f"{num(s.get('index_rss_bytes_per_entry'))} B); Python list of (path, size) "
                   f"{num(s.get('pylist_bytes_per_entry'))} B (RSS {num(s.get('pylist_rss_bytes_per_entry'))} B); "
                   f"list of path strings {num(s.get('strlist_bytes_per_entry'))} B.")
        hl.rows.append(f"| scan | index memory per entry | {s['index_bytes_per_entry']:.1f} B | Python list of "
                       f"(path, size): {num(s.get('pylist_bytes_per_entry'))} B | "
                       f"{s.get('pylist_bytes_per_entry', 0) / s['index_bytes_per_entry']:.1f}x less | |")
    return "\n".join(out) + "\n"


def stats(xs: List[float]) -> Dict[str, float]:
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def dlio_groups(res: Dict[str, Any]) -> Dict[Tuple[str, int, str], Dict[str, Any]]:
    """Part-1 DLIO runs (fixed computation time) by (workload, ranks, arm): AU and samples/s."""
    groups: Dict[Tuple[str, int, str], List[Dict[str, Any]]] = {}
    for r in res.get("runs", []):
        if r.get("part") == "part1" and r.get("rc") == 0 and r.get("au") is not None:
            groups.setdefault((r.get("workload", "unet3d"), r["ranks"], r["arm"]), []).append(r)
    return {k: {"au": stats([r["au"] for r in v]), "samples_s": stats([r["samples_per_s"] for r in v]),
                "runs": len(v), "disturbed": sum(bool(r.get("disturbed")) for r in v),
                "oversubscribed": any(r.get("oversubscribed") for r in v), "ct": v[0]["computation_time"]}
            for k, v in sorted(groups.items())}


ARM_LABEL = {"ours": "ours (decode=header)", "ours-numpy": "ours, decode=numpy (np.load, the stock decode)",
             "stock": "DLIO stock PyTorch reader", "stock-onopen": "DLIO stock reader, read_type=on_open"}


def dlio(res: Dict[str, Any], hl: Headline) -> str:
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
        xs = stats([x for r in v for x in r["gb_per_s"]])
        st = groups.get((n, "stock"))
        ratio = xs["median"] / stats([x for r in st for x in r["gb_per_s"]])["median"] if st else None
        over = " (oversubscribed)" if any(r.get("oversubscribed") for r in v) else ""
        out.append(f"| {n}{over} | {arm} | {xs['median']:.3g} ({xs['min']:.3g}–{xs['max']:.3g}) | "
                   f"{'%.2fx' % ratio if ratio else '–'} | {xs['n']} ({len(v)}) |")
        if arm == "ours" and ratio:
            hl.rows.append(f"| DLIO checkpoint | save, {n} rank(s){over} | {xs['median']:.3g} GB/s | stock: "
                           f"{ratio and xs['median'] / ratio:.3g} GB/s | **{ratio:.2f}x** | |")
    return out


SECTIONS: List[Tuple[str, str, Callable[[Dict[str, Any], Headline], str]]] = [
    ("core-read", "Core reads (read_index) vs plain Python and the C reader", core_read),
    ("scan", "Namespace scan and index memory", scan),
    ("checkpoint", "Checkpoint save/load vs torch.save/torch.load and dd", checkpoint),
    ("dataloader", "Dataset + DataLoader vs a plain Python dataset", dataloader),
    ("memory", "Memory of forked workers over a one-million-entry Dataset", memory),
    ("digits", "Real training from files vs in memory", digits),
    ("dlio", "DLIO unet3d_daos vs DLIO's stock PyTorch reader", dlio),
    ("dlio-bisect", "DLIO unet3d_daos: more bisection probes (merged into the bracket table above)", dlio),
    ("dlio-bisect2", "DLIO unet3d_daos: more bisection probes (merged into the bracket table above)", dlio),
    ("dlio-decide", "DLIO unet3d_daos: bisection until the ratio is decided (merged into the table above)", dlio),
    ("dlio-np4", "DLIO unet3d_daos at 4 ranks", dlio),
    ("dlio-resnet50", "DLIO resnet50_daos vs DLIO's stock PyTorch reader", dlio),
    ("dlio-cosmoflow", "DLIO cosmoflow_daos vs DLIO's stock PyTorch reader", dlio),
    ("dlio-ckpt", "DLIO checkpointing vs DLIO's stock PyTorch checkpointing", dlio),
]


def step_results(step: Dict[str, Any]) -> List[Dict[str, Any]]:
    return [step["result"]] if "result" in step else step.get("results", [])


def merge_bisection(rollup: Dict[str, Any]) -> Dict[str, Any]:
    """A copy of the roll-up in which the dlio step's result holds the probes of the steps that
    continued its bisection too (dlio-decide, dlio-bisect*), and those hold none: one table."""
    more = [n for n in rollup["steps"] if n.startswith(("dlio-bisect", "dlio-decide"))]
    if not more or not step_results(rollup["steps"].get("dlio", {})):
        return rollup
    out = json.loads(json.dumps(rollup))
    bis = out["steps"]["dlio"]["result"].setdefault("bisection", {})
    for n in more:
        for res in step_results(out["steps"][n]):
            for k, v in res.pop("bisection", {}).items():
                bis.setdefault(k, []).extend(v)
    return out


def body(rollup: Dict[str, Any], name: str, plots: List[Path]) -> str:
    rollup = merge_bisection(rollup)
    m = rollup["machine"]
    hl = Headline()
    parts = []
    for key, title, fn in SECTIONS:
        st = rollup["steps"].get(key)
        if st is None:
            continue
        parts.append(f"### {title}\n\nCommand: `{st['command']}` ({st['seconds']:.0f} s, exit {st['rc']})\n")
        for res in step_results(st):
            try:
                parts.append(fn(res, hl))
            except (KeyError, TypeError, ValueError, ZeroDivisionError) as e:
                parts.append(f"(could not tabulate this step's JSON: {type(e).__name__}: {e})\n")
        if st["rc"] != 0:
            parts.append("**This step failed**; the last lines of its log:\n\n```\n" + "\n".join(st["log_tail"][-15:])
                         + "\n```\n")
    site = rollup.get("site")
    where = (f"DAOS pool {site['pool']} container {site['container']} (baselines through dfuse at {site['dfuse']})"
             if site else "the local backend (a POSIX directory on this machine's disk)")
    plot_md = "\n".join(f"![{p.stem}](plots/{p.name})" for p in plots)
    made = parts_line(rollup)
    return f"""## Reference suite: {rollup['mode']} run of {rollup['date']} (`{name}`)

Machine: {m['nproc']} CPUs ({m['cpu_model']}), {m['mem_total']} RAM, kernel {m['kernel']}, Python {m['python']},
torch {m['torch']}, numpy {m['numpy']}; git {m['git_commit'][:12]}{' (with uncommitted edits)' if m.get('git_dirty_paths') else ''}.
Storage: {where}. Command: `{rollup['command']}`; started {rollup['started']}, finished {rollup.get('finished', '?')}.
{made}
Every ratio below is computed by `workloads/report.py` from the medians in the roll-up JSON (ours / baseline;
in brackets the median and range of the per-round ratios where the arms ran in rounds). Each step's method
(cache state, durability, what is timed, checksums) is in its JSON and in the docstring of its script;
the machine is a shared 2-vCPU VM, so runs during which other processes were busy are retried or flagged.

**Summary**

{hl.table()}

{chr(10).join(parts)}
{plot_md}
"""


# ----------------------------------------------------------------------------- plots

def make_plots(rollup: Dict[str, Any], out_dir: Path, stem: str) -> List[Path]:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plots", file=sys.stderr)
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    made = []
    for fn in (plot_throughput, plot_au, plot_checkpoint):
        try:
            fig = fn(rollup, plt)
        except (KeyError, TypeError, ValueError) as e:  # a plot never costs the tables
            print(f"{fn.__name__}: no plot ({type(e).__name__}: {e})", file=sys.stderr)
            continue
        if fig is None:
            continue
        p = out_dir / f"{stem}-{fn.__name__[5:]}.png"
        fig.savefig(p, dpi=110, bbox_inches="tight")
        plt.close(fig)
        made.append(p)
    return made


def dlio_results(rollup: Dict[str, Any]) -> List[Dict[str, Any]]:
    return [res for name, st in rollup["steps"].items() if name.startswith("dlio") for res in step_results(st)]


def plot_throughput(rollup: Dict[str, Any], plt: Any) -> Any:
    """Throughput vs DataLoader workers and vs DLIO ranks."""
    dl = [r for r in step_results(rollup["steps"].get("dataloader", {}))]
    dlio_groups_all = {k: g for res in dlio_results(rollup) for k, g in dlio_groups(res).items()}
    if not dl and not dlio_groups_all:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    ax = axes[0]
    for res in dl:
        for ds in res["datasets"]:
            if "small" not in ds["name"]:
                continue
            metric = "files_per_s"
            groups: Dict[str, List[Tuple[int, float]]] = {}
            for a in ds["arms"]:
                w = a["params"].get("workers")
                if w is None:
                    continue
                groups.setdefault(re.sub(r"-w\d+$", "", a["key"]), []).append((w, med(a, metric)))
            for g, pts in groups.items():
                pts.sort()
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=g)
            c = find(ds["arms"], "c-t2-ro")
            if c:
                ax.axhline(med(c, metric), ls="--", c="grey", label="C reader (limit)")
            ax.set_title(f"DataLoader, {ds['name']}")
    ax.set_xticks(sorted({a["params"]["workers"] for res in dl for ds in res["datasets"] for a in ds["arms"]
                          if a["params"].get("workers") is not None}))
    ax.set_xlabel("DataLoader workers")
    ax.set_ylabel("samples/s (median)")
    ax.legend(fontsize=7)
    ax = axes[1]
    series: Dict[str, List[Tuple[int, float]]] = {}
    for (w, n, arm), g in dlio_groups_all.items():
        series.setdefault(f"{w} {arm}", []).append((n, g["samples_s"]["median"]))
    for k, pts in sorted(series.items()):
        pts.sort()
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ls="-" if "ours" in k else "--", label=k)
    if series:
        ax.set_xticks(sorted({p[0] for pts in series.values() for p in pts}))
    ax.set_xlabel("MPI ranks (above 2: oversubscribed)")
    ax.set_ylabel("samples/s (median)")
    ax.set_yscale("log")
    ax.set_title("DLIO training emulation")
    if series:
        ax.legend(fontsize=7)
    return fig


def plot_au(rollup: Dict[str, Any], plt: Any) -> Any:
    """AU vs computation time for the bisected workloads: every probe and the fixed-ct runs;
    one colour per rank count, ours solid, stock dashed."""
    rollup = merge_bisection(rollup)
    pts: Dict[Tuple[str, str, int], List[Tuple[float, float]]] = {}
    targets: Dict[str, float] = {}
    for res in dlio_results(rollup):
        br = dlio_brackets(res)
        for (w, arm, n), (_, _, probes) in br.items():
            pts.setdefault((w, arm, n), []).extend((p["ct"], p["median_au"]) for p in probes)
            targets[w] = res.get("workloads", {}).get(w, {}).get("au_target", 90.0)
    if not pts:
        return None
    for res in dlio_results(rollup):  # the fixed-ct runs of the same workloads and rank counts
        for (w, n, arm), g in dlio_groups(res).items():
            if (w, arm, n) in pts:
                pts[(w, arm, n)].append((g["ct"], g["au"]["median"]))
    fig, ax = plt.subplots(figsize=(6.5, 4))
    colours = {}
    for (w, arm, n), xs in sorted(pts.items()):
        xs.sort()
        c = colours.setdefault((w, n), f"C{len(colours)}")
        ax.plot([x[0] for x in xs], [x[1] for x in xs], marker="o", color=c, ls="-" if arm == "ours" else "--",
                label=f"{w} {arm}, {n} rank{'s' if n > 1 else ''}")
    for w, t in targets.items():
        ax.axhline(t, c="grey", ls=":", label=f"AU target {t:g} %")
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(plt.NullFormatter())  # minor labels overlap on a short log axis
    ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlabel("computation time per step (s)")
    ax.set_ylabel("accelerator utilization % (median of repeats)")
    ax.set_title("DLIO: AU vs computation time (ours solid, stock dashed)")
    ax.legend(fontsize=7)
    return fig


def plot_checkpoint(rollup: Dict[str, Any], plt: Any) -> Any:
    """Checkpoint GiB/s vs size, per operation and condition: torch, ours, dd."""
    res = step_results(rollup["steps"].get("checkpoint", {}))
    if not res:
        return None
    tables = res[0]["tables"]
    conds = sorted({(t["op"], t.get("durability") or t.get("cache"), t.get("scenario", "")) for t in tables})
    fig, axes = plt.subplots(1, len(conds), figsize=(3.2 * len(conds), 3.4), sharey=False, squeeze=False)
    for ax, cond in zip(axes[0], conds):
        series: Dict[str, List[Tuple[float, float]]] = {}
        for t in tables:
            if (t["op"], t.get("durability") or t.get("cache"), t.get("scenario", "")) != cond:
                continue
            for a in t["arms"]:
                series.setdefault(a["family"], []).append((t.get("size_gib", 1.0), med(a, "gib_per_s")))
        for fam, xs in series.items():
            xs.sort()
            ax.plot([x[0] for x in xs], [x[1] for x in xs], marker="o", label={"plain": "torch", "pydaos": "ours"}.get(fam, fam))
        ax.set_xscale("log", base=2)
        ax.set_title(" ".join(c for c in cond if c), fontsize=9)
        ax.set_xlabel("state_dict GiB")
    axes[0][0].set_ylabel("GiB/s (median)")
    axes[0][0].legend(fontsize=7)
    return fig


# ----------------------------------------------------------------------------- entry points

def terminal_summary(rollup: Dict[str, Any]) -> str:
    rollup = merge_bisection(rollup)
    hl = Headline()
    for key, _, fn in SECTIONS:
        st = rollup["steps"].get(key)
        for res in step_results(st or {}):
            try:
                fn(res, hl)
            except (KeyError, TypeError, ValueError, ZeroDivisionError):
                pass
    lines = [f"{'step':<14} {'status':<8} {'time':>7}"]
    for name, st in rollup["steps"].items():
        lines.append(f"{name:<14} {'ok' if st['rc'] == 0 else 'FAILED':<8} {st['seconds']:>6.0f}s")
    return "\n".join(lines) + "\n\n" + hl.table()


def write_suite_section(readme: Path, text: str) -> None:
    """The suite's section goes right under the title; other sections stay as they are."""
    import bench_common as bc
    old = readme.read_text() if readme.exists() else "# Benchmark results\n\n"
    if "<!-- suite:begin" not in old:
        title, _, rest = old.partition("\n")
        readme.write_text(f"{title}\n\n<!-- suite:begin -->\n<!-- suite:end -->\n{rest}")
    bc.write_section(readme.parent, "suite", "report.py", text)


def parts_line(rollup: Dict[str, Any]) -> str:
    """For a roll-up completed with --resume: when each part ran, at which commit, which steps."""
    parts = rollup.get("parts") or []
    if not parts:
        return ""
    def one(p: Dict[str, Any]) -> str:
        m = p.get("machine", {})
        dirty = " + edits" if m.get("git_dirty_paths") else ""
        steps = ", ".join(s["name"] for s in p.get("plan", []))
        return f"{p.get('started', '?')} at git {str(m.get('git_commit', '?'))[:10]}{dirty} ({steps})"
    return (f"Made in {len(parts) + 1} parts (`--resume`): the command above, then "
            + "; ".join(one(p) for p in parts) + ".\n")


def newest_full(results: Path) -> Path:
    cands = [p for p in results.glob("*.json") if "-quick" not in p.name]
    cands = [p for p in cands if '"suite"' in p.read_text()[:200]]
    if not cands:
        raise SystemExit(f"no full suite roll-up in {results}: run workloads/suite.py first")
    return max(cands, key=lambda p: last_started(json.loads(p.read_text())))


def last_started(rollup: Dict[str, Any]) -> str:
    """When the roll-up was last added to: a copy resumed with new steps (--resume) is newer
    than the roll-up it started from, though both keep the first part's "started"."""
    return max([rollup.get("started", "")] + [p.get("started", "") for p in rollup.get("parts", [])])


def load_rollup(path: Path) -> Dict[str, Any]:
    """A suite roll-up, or an error that says what is wrong with the file."""
    try:
        d = json.loads(path.read_text())
    except OSError as e:
        raise SystemExit(f"{path}: cannot read the roll-up: {e.strerror}") from None
    except ValueError as e:
        raise SystemExit(f"{path}: not JSON ({e}); a truncated roll-up?") from None
    if not isinstance(d, dict) or not isinstance(d.get("steps"), dict) or "mode" not in d:
        raise SystemExit(f"{path}: not a suite roll-up (no 'steps' and 'mode'): a single benchmark's JSON?")
    return d


def publish(rollup_path: Path, results: Path) -> Tuple[Path, List[Path]]:
    rollup = load_rollup(rollup_path)
    plots = make_plots(rollup, results / "plots", rollup_path.stem)
    readme = results / "README.md"
    write_suite_section(readme, body(rollup, rollup_path.name, plots))
    return readme, plots


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("rollup", nargs="?", type=Path, help="a suite roll-up JSON (default: the newest full one)")
    ap.add_argument("--results", type=Path, default=REPO / "results")
    args = ap.parse_args(argv)
    path = args.rollup or newest_full(args.results)
    readme, plots = publish(path, args.results)
    print(f"{readme}: suite section from {path.name}; plots: {', '.join(p.name for p in plots) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
