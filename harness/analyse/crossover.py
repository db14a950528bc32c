"""Where a claim flips: the value of a swept parameter at which its
comparison changes side, with an interval.

The input is a sweep: (x, family) per value of the parameter, the family
giving the figure's interval at any level (intervals.py): a ratio num/den,
a share of runs, or one model's median. The crossover is where the point
estimates cross `at`, interpolated between the two points that bracket it
(on log x when every x is positive, and log of the figure for ratios); its
interval is where the 95% pointwise intervals' lower and upper curves cross
`at`, the values of x at which the data cannot say on which side the figure
lies. An end that does not cross inside the sweep stays open ("below the
smallest value swept").

The interval's coverage has no closed form (it rests on interpolation
between a few points); COVERAGE is what harness/tests/test_coverage.py
simulates at the default config's n (5 runs a side, 3 to 4 points, a
figure linear in log x), printed as "simulated".
"""

from __future__ import annotations

import math
from typing import Callable

from harness.analyse.intervals import Family
from harness import format as fmt

LEVEL = 0.95
COVERAGE = 0.98


def _cross(xs: list[float], ys: list[float], at: float,
           tx: Callable[[float], float], ux: Callable[[float], float]) -> float | None:
    """The first x at which ys crosses `at`, interpolated; None when it does not."""
    for i in range(len(xs) - 1):
        a, b = ys[i] - at, ys[i + 1] - at
        if a == 0:
            return xs[i]
        if a * b < 0:
            t = a / (a - b)
            return ux(tx(xs[i]) + t * (tx(xs[i + 1]) - tx(xs[i])))
    return xs[-1] if ys[-1] == at else None


def find(points: list[tuple[float, Family]], at: float) -> dict:
    """points sorted by x: {value, lo, hi, side_before, side_after, range, ...}."""
    xs = [x for x, _ in points]
    ivs = [fam(LEVEL) for _, fam in points]
    logx = all(x > 0 for x in xs)
    tx, ux = (math.log, math.exp) if logx else (float, float)
    ratio = all(iv.lo > 0 for iv in ivs) and at > 0
    ty = math.log if ratio else float
    t_at = ty(at)

    def curve(attr: str) -> list[float]:
        return [ty(getattr(iv, attr)) for iv in ivs]
    value = _cross(xs, curve("value"), t_at, tx, ux)
    edges = [c for c in (_cross(xs, curve("lo"), t_at, tx, ux),
                         _cross(xs, curve("hi"), t_at, tx, ux)) if c is not None]
    first, last = ivs[0].value, ivs[-1].value
    # An end whose interval still holds `at` leaves the crossover open there.
    open_lo = ivs[0].lo <= at <= ivs[0].hi
    open_hi = ivs[-1].lo <= at <= ivs[-1].hi
    return {"value": value, "lo": None if open_lo or not edges else min(edges),
            "hi": None if open_hi or not edges else max(edges),
            "confidence": COVERAGE, "coverage_method": "simulated",
            "range": [xs[0], xs[-1]], "points": len(xs),
            "before": "above" if first > at else "below",
            "after": "above" if last > at else "below",
            "figures": [{"x": x, "value": iv.value, "lo": iv.lo, "hi": iv.hi,
                         "confidence": iv.confidence} for x, iv in zip(xs, ivs)]}


def _say(x: float | None, unit: str) -> str:
    if x is None:
        return "?"
    if unit == "bytes":
        return f"{x / 1024:.3g} KiB" if x >= 1024 else f"{x:.0f} B"
    return f"{fmt.num(x)} {unit}".strip()


def summary(spec: dict, found: list[dict]) -> dict:
    """The claim's crossover for report.json: the first sweep's, the others
    listed; in words with the claims file's sentence."""
    param, unit = spec["param"], spec["unit"]
    out = {"param": param, "unit": unit, "at": float(spec.get("at", 1.0)),
           "kind": spec.get("kind", "ratio"), "sweeps": found}
    if not found:
        return {**out, "value": None, "lo": None, "hi": None, "confidence": None,
                "none": f"no sweep of {param} with 2 or more values in this run",
                "words": f"not measured: no sweep of {param} in this run"}
    head = next((f for f in found if f["value"] is not None), found[0])
    out.update({k: head[k] for k in ("value", "lo", "hi", "confidence", "coverage_method",
                                     "range", "sweep")})
    lo, hi = head["range"]
    if head["value"] is None:
        figure = (f"{spec['num']}/{spec['den']}" if out["kind"] == "ratio" else
                  f"{spec['num']}'s {'share of runs' if out['kind'] == 'share' else 'median'}")
        out["none"] = (f"no crossover between {_say(lo, unit)} and {_say(hi, unit)} of "
                       f"{param}: {figure} {spec['metric']} stays {head['before']} "
                       f"{out['at']:g} across the sweep")
        out["words"] = out["none"]
        return out
    out["none"] = None
    iv = (f"[{_say(head['lo'], unit) if head['lo'] is not None else 'below ' + _say(lo, unit)}, "
          f"{_say(head['hi'], unit) if head['hi'] is not None else 'above ' + _say(hi, unit)}]")
    out["words"] = (spec["words"].format(value=_say(head["value"], unit))
                    + f" (interval {iv}, {head['confidence']:.0%} simulated"
                    + (f"; {head['sweep']}" if head["sweep"] != "all" else "") + ")")
    return out
