"""Shares of runs with a yes/no outcome, and the rule that compares two.

Some measurements are a yes or no per process run: the deadlock task's
`deadlocked` is 1 when that run deadlocked. Over n repetitions a cell gives
k of n, and a comparison between models is a difference of two shares. A
median of 0s and 1s says nothing about how sure we are, so these get their
own statistics:

  wilson_interval      the Wilson score interval of one share k/n: its
                       coverage stays close to the nominal level at the
                       small n of a default run, also at k = 0 or k = n
                       (where the textbook p +- z*se collapses to a point).
  difference_interval  Newcombe's hybrid score interval for p1 - p2
                       (Newcombe 1998, Statistics in Medicine 17:873, method
                       10), built from the two Wilson intervals.
  decide_difference    symmetric: supported when the whole interval of
                       p1 - p2 lies at or above `margin`, refuted when it
                       lies wholly below, inconclusive otherwise or when
                       either side has fewer than `min_n` runs.

For C8 (configs/claims.toml): p1 is the share of threads runs that
deadlocked, p2 that of coroutine runs on the same CPUs with the same
parameters; "threads are prone to deadlocks" is supported when threads
deadlock in at least `margin` more of the runs, with 95% confidence.

The module is pure: verdicts.py selects the cells, pairs them (by the
parameters the config set and the CPU set) and wraps
rule_share_difference's result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Iterable

from harness import format as fmt

# The verdict words; verdicts.py takes them from here, the one place they are spelt.
SUPPORTED = "supported"
REFUTED = "refuted"
INCONCLUSIVE = "inconclusive"
NUANCED = "nuanced"


def _z(confidence: float) -> float:
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for k successes in n trials."""
    if n <= 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n and n > 0, got k={k}, n={n}")
    z = _z(confidence)
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    # at k = 0 and k = n the exact bound is 0 or 1; keep rounding out of it
    lo = 0.0 if k == 0 else max(0.0, centre - half)
    hi = 1.0 if k == n else min(1.0, centre + half)
    return lo, hi


def difference_interval(k1: int, n1: int, k2: int, n2: int,
                        confidence: float = 0.95) -> tuple[float, float, float]:
    """p1 - p2 with Newcombe's hybrid score interval: (d, lo, hi)."""
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson_interval(k1, n1, confidence)
    l2, u2 = wilson_interval(k2, n2, confidence)
    d = p1 - p2
    lo = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    hi = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return d, max(-1.0, lo), min(1.0, hi)


@dataclass
class ShareDecision:
    verdict: str
    why: str
    difference: float | None = None
    lo: float | None = None
    hi: float | None = None


def decide_difference(k1: int, n1: int, k2: int, n2: int, margin: float,
                      min_n: int = 5, confidence: float = 0.95,
                      names: tuple[str, str] = ("first", "second")) -> ShareDecision:
    """Is p1 at least `margin` above p2? Supported, refuted or inconclusive."""
    a, b = names
    counts = f"{a} {k1}/{n1}, {b} {k2}/{n2}"
    if min(n1, n2) < min_n:
        return ShareDecision(INCONCLUSIVE, f"too few runs ({counts}; needs {min_n} each)")
    d, lo, hi = difference_interval(k1, n1, k2, n2, confidence)
    desc = (f"{counts}: difference {fmt.signed(d)}, {confidence:.0%} interval "
            f"{fmt.ci(lo, hi, fmt=fmt.signed)} against {margin:.2f}")
    if lo >= margin:
        return ShareDecision(SUPPORTED, desc, d, lo, hi)
    if hi < margin:
        return ShareDecision(REFUTED, desc, d, lo, hi)
    return ShareDecision(INCONCLUSIVE, desc + " (the interval straddles it)", d, lo, hi)


def count_outcome(values: Iterable[Any]) -> tuple[int, int]:
    """(runs with the outcome, runs) from one 0/1 value per ok run."""
    vals = [v for v in values if v is not None]
    bad = [v for v in vals if v not in (0, 1)]
    if bad:
        raise ValueError(f"a yes/no metric must be 0 or 1, got {bad[:3]}")
    return sum(int(v) for v in vals), len(vals)


def rule_share_difference(part: dict, pairs: list[tuple[str, list, list]]) -> dict:
    """The claims-file rule over cells already paired by the caller.

    part: metric, margin, min_n (default 5), confidence (default 0.95) and
    the two model names num and den. pairs: (label, num cells, den cells)
    per condition that must be judged apart (e.g. each CPU set); a cell is
    anything with .values(metric), one value per ok run. Every pair is
    decided on its own; the part takes the pairs' verdict when they all
    agree, is nuanced when some are supported and the others refuted (the
    conditions are the labels), and inconclusive otherwise; the reason
    names each pair's figures.
    """
    metric, margin = part["metric"], float(part["margin"])
    min_n = int(part.get("min_n", 5))
    confidence = float(part.get("confidence", 0.95))
    names = (part["num"], part["den"])
    rows, verdicts, whys = [], [], []
    for label, num_cells, den_cells in pairs:
        k1, n1 = count_outcome(v for c in num_cells for v in c.values(metric))
        k2, n2 = count_outcome(v for c in den_cells for v in c.values(metric))
        if n1 == 0 or n2 == 0:
            dec = ShareDecision(INCONCLUSIVE, f"no ok run of {names[0] if n1 == 0 else names[1]}")
        else:
            dec = decide_difference(k1, n1, k2, n2, margin, min_n, confidence, names)
        for name, k, n in ((names[0], k1, n1), (names[1], k2, n2)):
            lo, hi = wilson_interval(k, n, confidence) if n else (None, None)
            rows.append({"label": f"{label}: {name}", "kind": "share", "metric": metric,
                         "k": k, "n": n, "share": k / n if n else None,
                         "lo": lo, "hi": hi, "confidence": confidence})
        rows.append({"label": f"{label}: {names[0]} - {names[1]}", "kind": "difference",
                     "metric": metric, "difference": dec.difference, "lo": dec.lo,
                     "hi": dec.hi, "margin": margin, "verdict": dec.verdict,
                     "confidence": confidence})
        verdicts.append(dec.verdict)
        whys.append(f"{label}: {dec.why}")
    if not pairs:
        return {"verdict": INCONCLUSIVE, "why": "no cells to compare", "rows": rows}
    kinds = set(verdicts)
    if len(kinds) == 1:
        verdict = kinds.pop()
    elif kinds == {SUPPORTED, REFUTED}:
        verdict = NUANCED
    else:
        verdict = INCONCLUSIVE
    return {"verdict": verdict, "why": "; ".join(whys), "rows": rows}
