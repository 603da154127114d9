"""Summaries of repeated runs, and the one paired ratio: arms that ran in the same round saw
the same machine, so the per-round ratio is steadier than the ratio of the medians."""
from __future__ import annotations

import statistics
from typing import Any, Dict, List, Optional


def summarize(xs: List[float]) -> Dict[str, float]:
    s = sorted(xs)
    if len(s) >= 2:
        q = statistics.quantiles(s, n=4, method="inclusive")
        q1, q3 = q[0], q[2]
    else:
        q1 = q3 = s[0]
    return {"median": statistics.median(s), "min": s[0], "max": s[-1], "q1": q1, "q3": q3, "n": len(s)}


def paired(arm: Dict[str, Any], ref: Dict[str, Any], key: str, invert: bool = False) -> Optional[Dict[str, float]]:
    """The summary over rounds of arm[key] / ref[key] in the same round (ref / arm with
    invert), from the arms' raw runs; rounds where either lacks the figure are left out."""
    rr = {x["round"]: x.get(key) for x in ref.get("raw", []) if "round" in x}
    xs = []
    for x in arm.get("raw", []):
        num, den = x.get(key), rr.get(x.get("round"))
        if invert:
            num, den = den, num
        if num is not None and den:
            xs.append(num / den)
    return summarize(xs) if xs else None
