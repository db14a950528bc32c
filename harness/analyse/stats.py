"""Statistics on repeated measurements: pure functions on lists of numbers.

    median(xs)                      -> float | None
    cov(xs)                         -> float | None   sd / |mean|
    median_ci(xs, confidence)       -> Interval | None (order statistic, exact)
    median_ci_k(n, confidence)      -> (k, coverage)
    ratio_ci(a, b)                  -> Interval | None median(b) / median(a)
    geomean(xs)                     -> float | None   of the positive values
    summarize(xs)                   -> Summary        what a report row prints

Conventions: every function takes any iterable of numbers, ignores None
and non-finite values (a failed repetition must not poison the others),
and returns None when the data cannot answer (an empty list has no
median, a zero baseline no ratio): a report meets that case all the time
(a skipped cell, one repetition) and prints "n/a".

Every Interval carries the confidence it really has at the n used: the
order-statistic interval's is exact, a ratio's a lower bound. The
intervals verdicts decide with, at any level, are in intervals.py.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Iterable

import numpy as np
from scipy import stats as _sps

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Interval:
    """A point estimate with its confidence interval."""

    value: float
    lo: float
    hi: float
    confidence: float
    method: str


@dataclass(frozen=True)
class Summary:
    """One metric of one cell over its repetitions. One value has no
    interval: ci_* are None then, rather than [x, x]."""

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


def _array(xs: Iterable) -> np.ndarray:
    vals = [float(x) for x in xs if x is not None and not isinstance(x, bool)]
    return np.asarray([v for v in vals if math.isfinite(v)], dtype=float)


def median(xs: Iterable) -> float | None:
    a = _array(xs)
    return float(np.median(a)) if a.size else None


def cov(xs: Iterable) -> float | None:
    """Coefficient of variation, sample sd / |mean|.

    None with fewer than two values, or when the mean is 0 and the values
    differ (the ratio is undefined); 0.0 for identical values.
    """
    a = _array(xs)
    if a.size < 2:
        return None
    sd = float(a.std(ddof=1))
    m = float(a.mean())
    if m == 0.0:
        return 0.0 if sd == 0.0 else None
    return sd / abs(m)


def median_ci_k(n: int, confidence: float = CONFIDENCE) -> tuple[int, float]:
    """The order statistic k for the median's interval [x_(k), x_(n+1-k)] of
    n values, and the interval's exact coverage 1 - 2 P(Binomial(n, 1/2) < k).

    k is the largest whose coverage reaches `confidence`; when even k = 1
    ([min, max]) falls short (n < 6 at 95%), k = 1 and the coverage it
    really has is returned: the caller prints that, not the asked-for level.
    Distribution-free: it holds for any continuous distribution.
    """
    if n < 1:
        raise ValueError("median_ci_k needs n >= 1")
    best_k, best_cov = 1, 1.0 - 2.0 * float(_sps.binom.cdf(0, n, 0.5))
    for k in range(2, (n + 1) // 2 + 1):
        cov_k = 1.0 - 2.0 * float(_sps.binom.cdf(k - 1, n, 0.5))
        if cov_k < confidence:
            break
        best_k, best_cov = k, cov_k
    return best_k, best_cov


def median_ci(xs: Iterable, confidence: float = CONFIDENCE) -> Interval | None:
    """Order-statistic (distribution-free) interval of the median.

    Its confidence field is the coverage it actually has at this n (see
    median_ci_k): 0.9375 at n=5, 0.0 with a single value (no interval).
    """
    a = np.sort(_array(xs))
    if not a.size:
        return None
    med = float(np.median(a))
    k, cov_k = median_ci_k(a.size, confidence)
    return Interval(med, float(a[k - 1]), float(a[a.size - k]), max(cov_k, 0.0),
                    "order statistic")


def ratio_ci(a_xs: Iterable, b_xs: Iterable) -> Interval | None:
    """median(B) / median(A) of two independent samples with an interval.

    The interval divides the two medians' order-statistic intervals
    ([lo_B / hi_A, hi_B / lo_A]); when both cover, the ratio's does, so its
    coverage is at least the product of theirs (0.879 at n=5 on each side,
    0.957 at n=10). That lower bound is the confidence field: conservative,
    never overstated. None when a side is empty or A has a value <= 0.
    """
    a, b = _array(a_xs), _array(b_xs)
    if not a.size or not b.size or (a <= 0).any():
        return None
    ia, ib = median_ci(a), median_ci(b)
    return Interval(ib.value / ia.value, ib.lo / ia.hi, ib.hi / ia.lo,
                    ia.confidence * ib.confidence, "order statistic ratio")


def geomean(xs: Iterable) -> float | None:
    """Geometric mean of the positive values; None when there are none."""
    a = _array(xs)
    a = a[a > 0]
    return float(math.exp(float(np.log(a).mean()))) if a.size else None


def summarize(xs: Iterable) -> Summary:
    """Everything a report row prints; None fields where data is too short."""
    a = _array(xs)
    ci = median_ci(a) if a.size > 1 else None
    return Summary(n=int(a.size), median=median(a), ci_lo=ci and ci.lo, ci_hi=ci and ci.hi,
                   cov=cov(a), ci_confidence=ci and ci.confidence,
                   min=float(a.min()) if a.size else None,
                   max=float(a.max()) if a.size else None)
