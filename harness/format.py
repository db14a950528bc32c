"""How the harness prints numbers: the report (its templates use these as
filters), verdicts' figures, compare, the bench and echo tables.

One rule for a measured figure (num): three significant digits, whole
numbers with thousands separators from 100 on: 0.0123, 3.85, 21.4, 227,
23,830. Ratios that compare differs by a fraction of a percent keep three
decimals (ratio: 1.003, where num would say 1), differences of shares a
sign (signed). Absent values print as n/a. Our models are shown in one order
everywhere, the one they declare (harness/records/catalog.py, display_of()),
peers after them.
"""

from __future__ import annotations

import math


def num(x, unit: str = "") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        text = str(x)
    else:
        text = f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"
    return f"{text} {unit}".rstrip()


def ci(lo, hi, confidence=None, fmt=num) -> str:
    """An interval and its coverage: "[3.1, 4.2] 94%"."""
    if lo is None or hi is None:
        return "n/a"
    cov = f" {confidence:.0%}" if confidence is not None else ""
    return f"[{fmt(lo)}, {fmt(hi)}]{cov}"


def estimate(value, lo=None, hi=None, confidence=None, fmt=num) -> str:
    """A median or ratio with its interval when it has one: "3.5 [3.1, 4.2] 94%"."""
    if lo is None or hi is None:
        return fmt(value)
    return f"{fmt(value)} {ci(lo, hi, confidence, fmt)}"


def pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def ratio(x) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def signed(x) -> str:
    return "n/a" if x is None else f"{x:+.2f}"


def duration(ns: float) -> str:
    """Nanoseconds in the largest unit that keeps the number above 1: 3.85 us."""
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if ns >= scale:
            return num(ns / scale, unit)
    return num(ns, "ns")
