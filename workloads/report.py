#!/usr/bin/env python3
"""Tables and plots from a suite roll-up (results/<date>-<machine>[-N].json, see suite.py).

    .venv/bin/python workloads/report.py                 # the newest full roll-up in results/
    .venv/bin/python workloads/report.py results/X.json  # that one

Rewrites the "suite" section of results/README.md (every other section stays) and writes
results/plots/<roll-up name>-*.png. Each step's tables come from its script's tables(result)
(the same the script prints), which computes every figure and ratio from the medians and raw
runs in the roll-up (ratio = ours / baseline of the medians; "paired" = median and range over
rounds of the per-round ratio, where the arms ran in rounds), so the README can always be
regenerated from the JSON.
"""
from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from bench_dlio import dlio_brackets, dlio_groups
from harness.machine import REPO
from harness.results import write_section
from harness.tables import Headline, find, med


# ----------------------------------------------------------------------------- per step

# step name -> (title, the benchmark script whose tables() renders its JSON)
SECTIONS: List[Tuple[str, str, str]] = [
    ("core-read", "Core reads (read_index) vs plain Python and the C reader", "bench_read"),
    ("scan", "Namespace scan and index memory", "bench_scan"),
    ("checkpoint", "Checkpoint save/load vs torch.save/torch.load and dd", "bench_checkpoint"),
    ("dcp", "torch.distributed.checkpoint vs DCP's FileSystemWriter/Reader", "bench_dcp"),
    ("fsspec", "fsspec daos:// vs the same files by local path", "bench_fsspec"),
    ("scale", "Cost per rank as the job grows (docs/scale.md)", "bench_scale"),
    ("dataloader", "Dataset + DataLoader vs a plain Python dataset", "bench_dataset"),
    ("memory", "Memory of forked workers over a one-million-entry Dataset", "bench_memory"),
    ("digits", "Real training from files vs in memory", "train_digits"),
    ("dlio", "DLIO unet3d_daos vs DLIO's stock PyTorch reader", "bench_dlio"),
    ("dlio-bisect", "DLIO unet3d_daos: more bisection probes (merged into the bracket table above)", "bench_dlio"),
    ("dlio-bisect2", "DLIO unet3d_daos: more bisection probes (merged into the bracket table above)", "bench_dlio"),
    ("dlio-decide", "DLIO unet3d_daos: bisection until the ratio is decided (merged into the table above)", "bench_dlio"),
    ("dlio-np4", "DLIO unet3d_daos at 4 ranks", "bench_dlio"),
    ("dlio-resnet50", "DLIO resnet50_daos vs DLIO's stock PyTorch reader", "bench_dlio"),
    ("dlio-cosmoflow", "DLIO cosmoflow_daos vs DLIO's stock PyTorch reader", "bench_dlio"),
    ("dlio-ckpt", "DLIO checkpointing vs DLIO's stock PyTorch checkpointing", "bench_dlio"),
]


def tables_of(script: str) -> Callable[[Dict[str, Any], Headline], str]:
    """The script's tables(result, headline); imported when a roll-up has its step."""
    return importlib.import_module(script).tables


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
    for key, title, script in SECTIONS:
        st = rollup["steps"].get(key)
        if st is None:
            continue
        fn = tables_of(script)
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
    for key, _, script in SECTIONS:
        for res in step_results(rollup["steps"].get(key) or {}):
            try:
                tables_of(script)(res, hl)
            except (KeyError, TypeError, ValueError, ZeroDivisionError):
                pass
    lines = [f"{'step':<14} {'status':<8} {'time':>7}"]
    for name, st in rollup["steps"].items():
        lines.append(f"{name:<14} {'ok' if st['rc'] == 0 else 'FAILED':<8} {st['seconds']:>6.0f}s")
    return "\n".join(lines) + "\n\n" + hl.table()


def write_suite_section(readme: Path, text: str) -> None:
    """The suite's section goes right under the title; other sections stay as they are."""
    old = readme.read_text() if readme.exists() else "# Benchmark results\n\n"
    if "<!-- suite:begin" not in old:
        title, _, rest = old.partition("\n")
        readme.write_text(f"{title}\n\n<!-- suite:begin -->\n<!-- suite:end -->\n{rest}")
    write_section(readme.parent, "suite", "report.py", text)


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
