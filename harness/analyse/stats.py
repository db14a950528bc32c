"""Statistics on repeated measurements: pure functions on lists of numbers.

Public API (stable: the report and compare code build on these names):

    median(xs)                      -> float
    percentile(xs, q)               -> float          q in [0, 100]
    percentiles(xs, qs=PCTS)        -> dict           {"p50": ..., "p999": ...}
    mean(xs), stdev(xs)             -> float          stdev is the sample sd
    cov(xs)                         -> float | None   sd / |mean|
    median_ci(xs, confidence)       -> Interval       (order statistic, exact)
    median_ci_k(n, confidence)      -> (k, coverage)
    ratio_ci(a, b, confidence)      -> Interval       median(b) / median(a)
    loglog_slope_ci(points, ...)    -> Interval       (bootstrap of a slope)
    geomean(xs)                     -> float
    mad(xs)                         -> float          median |x - median|
    modified_zscores(xs)            -> list[float]
    mad_outliers(xs, threshold)     -> list[int]      indices of outliers
    describe(xs)                    -> Description    all of the above at once

Conventions: every function takes any iterable of numbers, ignores None
and non-finite values (a failed repetition must not poison the others),
and raises ValueError when the input is too small for the question
(an empty list has no median), except cov and describe, which return
None fields, because "not enough data" is an ordinary state for a report.

Every Interval carries the confidence it really has at the n used: the
order-statistic interval's is exact, a ratio's a lower bound, the slope's
bootstrap approximate. The bootstrap uses numpy's Generator with a fixed
seed so that a report computed twice from the same records is identical.
Percentiles use numpy's default ("linear", Hyndman-Fan type 7), the same
definition as numpy.percentile and most spreadsheets.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Iterable

import numpy as np
from scipy import stats as _sps

CONFIDENCE = 0.95
RESAMPLES = 10_000
SEED = 20261127
PCTS = (50.0, 90.0, 99.0, 99.9)
# Iglewicz and Hoaglin's cut-off for modified z-scores. hyperfine uses the
# same modified z-score with a looser cut-off (it warns, it does not drop);
# we only flag, so the classic 3.5 is the useful default.
MAD_THRESHOLD = 3.5
# 0.6745 is the 0.75 quantile of the standard normal: it scales the MAD to
# estimate the standard deviation of normally distributed data.
_MAD_SCALE = 0.6745


@dataclass(frozen=True)
class Interval:
    """A point estimate with its confidence interval."""

    value: float
    lo: float
    hi: float
    confidence: float
    method: str

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Description:
    n: int
    median: float | None
    mean: float | None
    stdev: float | None
    cov: float | None
    min: float | None
    max: float | None
    median_ci: Interval | None
    outliers: tuple[int, ...]

    def as_dict(self) -> dict:
        return asdict(self)


def _array(xs: Iterable) -> np.ndarray:
    vals = []
    for x in xs:
        if x is None or isinstance(x, bool):
            continue
        v = float(x)
        if math.isfinite(v):
            vals.append(v)
    return np.asarray(vals, dtype=float)


def _need(a: np.ndarray, n: int, what: str) -> None:
    if a.size < n:
        raise ValueError(f"{what} needs at least {n} finite value(s), got {a.size}")


def median(xs: Iterable) -> float:
    a = _array(xs)
    _need(a, 1, "median")
    return float(np.median(a))


def percentile(xs: Iterable, q: float) -> float:
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile q must be in [0, 100], got {q}")
    a = _array(xs)
    _need(a, 1, "percentile")
    return float(np.percentile(a, q))


def pct_key(q: float) -> str:
    """50 -> "p50", 99.9 -> "p999" (the record's distribution field names)."""
    text = f"{q:g}".replace(".", "")
    return "p" + text


def percentiles(xs: Iterable, qs: Iterable[float] = PCTS) -> dict[str, float]:
    a = _array(xs)
    _need(a, 1, "percentiles")
    return {pct_key(q): float(np.percentile(a, q)) for q in qs}


def mean(xs: Iterable) -> float:
    a = _array(xs)
    _need(a, 1, "mean")
    return float(a.mean())


def stdev(xs: Iterable) -> float:
    """Sample standard deviation (ddof=1)."""
    a = _array(xs)
    _need(a, 2, "stdev")
    return float(a.std(ddof=1))


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


def _quantiles(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    alpha = (1.0 - confidence) / 2.0
    return float(np.quantile(samples, alpha)), float(np.quantile(samples, 1.0 - alpha))


def _check_conf(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")


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


def median_ci(xs: Iterable, confidence: float = CONFIDENCE) -> Interval:
    """Order-statistic (distribution-free) interval of the median.

    Its confidence field is the coverage it actually has at this n (see
    median_ci_k): 0.9375 at n=5, 0.0 with a single value (no interval).
    """
    _check_conf(confidence)
    a = np.sort(_array(xs))
    _need(a, 1, "median_ci")
    med = float(np.median(a))
    k, cov_k = median_ci_k(a.size, confidence)
    return Interval(med, float(a[k - 1]), float(a[a.size - k]), max(cov_k, 0.0),
                    "order statistic")


def ratio_ci(a_xs: Iterable, b_xs: Iterable, confidence: float = CONFIDENCE) -> Interval:
    """median(B) / median(A) of two independent samples with an interval.

    The interval divides the two medians' order-statistic intervals
    ([lo_B / hi_A, hi_B / lo_A]); when both cover, the ratio's does, so its
    coverage is at least the product of theirs (0.879 at n=5 on each side,
    0.957 at n=10). That lower bound is the confidence field: conservative,
    never overstated. A's values must be positive.
    """
    _check_conf(confidence)
    a = _array(a_xs)
    b = _array(b_xs)
    _need(a, 1, "ratio_ci (A)")
    _need(b, 1, "ratio_ci (B)")
    if (a <= 0).any():
        raise ValueError("ratio_ci: A's values must be positive")
    ia, ib = median_ci(a, confidence), median_ci(b, confidence)
    return Interval(ib.value / ia.value, ib.lo / ia.hi, ib.hi / ia.lo,
                    ia.confidence * ib.confidence, "order statistic ratio")


def loglog_slope_ci(points: Iterable[tuple[float, float]], confidence: float = CONFIDENCE,
                    resamples: int = RESAMPLES, seed: int = SEED) -> Interval:
    """Least-squares slope of log(y) on log(x) over every point, with a
    percentile-bootstrap interval (points resampled within each x, so every
    x of the sweep stays in every resample).

    The slope is an elasticity: 1 when y grows in proportion to x, 0 when y
    does not depend on x. The bootstrap's coverage is approximate (it is
    not exact at small n); the method field says "bootstrap".
    """
    _check_conf(confidence)
    groups: dict[float, list[float]] = {}
    for x, y in points:
        if x is None or y is None or x <= 0 or y <= 0:
            continue
        groups.setdefault(math.log(float(x)), []).append(math.log(float(y)))
    if len(groups) < 2:
        raise ValueError("loglog_slope_ci needs positive points at 2 or more x values")
    xs = np.array([x for x, ys in groups.items() for _ in ys])
    ys = np.array([y for ys in groups.values() for y in ys])

    def slope(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        xm = x.mean(axis=-1, keepdims=True)
        ym = y.mean(axis=-1, keepdims=True)
        return ((x - xm) * (y - ym)).sum(axis=-1) / ((x - xm) ** 2).sum(axis=-1)

    value = float(slope(xs, ys))
    rng = np.random.default_rng(seed)
    cols_x, cols_y = [], []
    for x, yl in groups.items():
        arr = np.asarray(yl)
        cols_y.append(arr[rng.integers(0, arr.size, size=(resamples, arr.size))])
        cols_x.append(np.full((resamples, arr.size), x))
    sl = slope(np.hstack(cols_x), np.hstack(cols_y))
    lo, hi = _quantiles(sl, confidence)
    return Interval(value, lo, hi, confidence, "bootstrap")


def geomean(xs: Iterable) -> float:
    """Geometric mean; every value must be positive."""
    a = _array(xs)
    _need(a, 1, "geomean")
    if (a <= 0).any():
        raise ValueError("geomean needs positive values")
    return float(math.exp(float(np.log(a).mean())))


def mad(xs: Iterable) -> float:
    """Median absolute deviation from the median (unscaled)."""
    a = _array(xs)
    _need(a, 1, "mad")
    return float(np.median(np.abs(a - np.median(a))))


def modified_zscores(xs: Iterable) -> list[float]:
    """0.6745 (x - median) / MAD for each value (Iglewicz and Hoaglin).

    When the MAD is 0 (more than half the values identical), values equal
    to the median score 0 and the others +-inf: they are clearly apart.
    """
    a = _array(xs)
    _need(a, 1, "modified_zscores")
    med = float(np.median(a))
    m = float(np.median(np.abs(a - med)))
    if m == 0.0:
        return [0.0 if v == med else math.copysign(math.inf, v - med) for v in a]
    return [float(_MAD_SCALE * (v - med) / m) for v in a]


def mad_outliers(xs: Iterable, threshold: float = MAD_THRESHOLD) -> list[int]:
    """Indices (into the finite values, in order) whose |modified z| > threshold.

    Fewer than three values never have outliers: there is no majority to
    stand apart from.
    """
    a = _array(xs)
    if a.size < 3:
        return []
    return [i for i, z in enumerate(modified_zscores(a)) if abs(z) > threshold]


def describe(xs: Iterable, confidence: float = CONFIDENCE) -> Description:
    """Everything a report row needs; None fields where data is too short."""
    a = _array(xs)
    if a.size == 0:
        return Description(0, None, None, None, None, None, None, None, ())
    return Description(
        n=int(a.size),
        median=float(np.median(a)),
        mean=float(a.mean()),
        stdev=float(a.std(ddof=1)) if a.size > 1 else None,
        cov=cov(a),
        min=float(a.min()),
        max=float(a.max()),
        median_ci=median_ci(a, confidence),
        outliers=tuple(mad_outliers(a)),
    )
