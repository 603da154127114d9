"""The figures of every benchmark's tables(): medians, ranges and ratios as Markdown, and the
summary table (one row per comparison) that workloads/report.py puts on top."""
from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, List, Optional

from harness.stats import paired

Arm = Dict[str, Any]


def med(arm: Arm, metric: str) -> Optional[float]:
    s = arm.get(metric)
    return s.get("median") if isinstance(s, dict) else s


def rng(arm: Arm, metric: str, f: Callable[[float], str]) -> str:
    s = arm.get(metric)
    return f"{f(s['min'])}–{f(s['max'])}" if isinstance(s, dict) and "min" in s else ""


def ratio_text(a: Arm, b: Arm, metric: str, invert: bool = False) -> str:
    """ours / baseline of the medians, and in brackets the paired ratio's median and range."""
    ma, mb = med(a, metric), med(b, metric)
    if not ma or not mb:
        return "–"
    r = mb / ma if invert else ma / mb
    p = None if invert else paired(a, b, metric)
    return f"**{r:.2f}x**" + (f" ({p['median']:.2f}, {p['min']:.2f}–{p['max']:.2f})" if p else "")


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
    """The summary table: one row per (area, comparison). A benchmark's tables() adds its rows."""

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
