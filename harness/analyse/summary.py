"""The numbers a report row prints, on top of harness.stats.

harness.stats raises ValueError when data is too short for a question; a
report meets that case all the time (a skipped cell, one repetition, a zero
baseline), so these adapters turn it into None and keep the report going.
Intervals are stats' order-statistic intervals, with the coverage they have.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from harness.analyse import stats


@dataclass(frozen=True)
class Summary:
    n: int
    median: float | None
    ci_lo: float | None
    ci_hi: float | None
    cov: float | None
    ci_confidence: float | None
    min: float | None
    max: float | None

    def as_dict(self) -> dict:
        return asdict(self)


def summarize(values) -> Summary:
    d = stats.describe(values)
    ci = d.median_ci
    # One value has no interval: say so (None) rather than print [x, x].
    if d.n < 2:
        ci = None
    return Summary(n=d.n, median=d.median, ci_lo=ci.lo if ci else None,
                   ci_hi=ci.hi if ci else None, cov=d.cov,
                   ci_confidence=ci.confidence if ci else None, min=d.min, max=d.max)


def ratio_ci(a_values, b_values) -> tuple[float, float, float, float] | None:
    """median(B) / median(A), its interval and the interval's coverage (a
    lower bound, see stats.ratio_ci); None when undefined (a side empty, or
    A not positive)."""
    try:
        iv = stats.ratio_ci(list(a_values), list(b_values))
    except ValueError:
        return None
    return iv.value, iv.lo, iv.hi, iv.confidence


def geomean(values) -> float | None:
    """Geometric mean of the positive values; None when there are none."""
    pos = [v for v in values if v is not None and v > 0]
    try:
        return stats.geomean(pos)
    except ValueError:
        return None


def cov(values) -> float | None:
    return stats.cov(values)
