"""Statistics on repeated measurements: pure functions on lists of numbers.

Public API (stable: the report and compare code build on these names):

    median(xs)                      -> float
    percentile(xs, q)               -> float          q in [0, 100]
    percentiles(xs, qs=PCTS)        -> dict           {"p50": ..., "p999": ...}
    mean(xs), stdev(xs)             -> float          stdev is the sample sd
    cov(xs)                         -> float | None   sd / |mean|
    median_ci(xs, confidence, resamples, seed) -> Interval   (bootstrap)
    mean_ci(xs, confidence)         -> Interval       (Student t)
    ratio_ci(a, b, confidence, method, resamples, seed) -> Interval
                                                      median(b) / median(a)
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

The bootstrap uses numpy's Generator with a fixed default seed so that a
report computed twice from the same records is identical byte for byte.
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


def median_ci(xs: Iterable, confidence: float = CONFIDENCE,
              resamples: int = RESAMPLES, seed: int = SEED) -> Interval:
    """Percentile-bootstrap confidence interval of the median.

    With one value, or identical values, the interval collapses to the value.
    """
    _check_conf(confidence)
    a = _array(xs)
    _need(a, 1, "median_ci")
    med = float(np.median(a))
    if a.size == 1 or float(a.min()) == float(a.max()):
        return Interval(med, med, med, confidence, "bootstrap")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, a.size, size=(resamples, a.size))
    meds = np.median(a[idx], axis=1)
    lo, hi = _quantiles(meds, confidence)
    return Interval(med, lo, hi, confidence, "bootstrap")


def mean_ci(xs: Iterable, confidence: float = CONFIDENCE) -> Interval:
    """Student-t confidence interval of the mean (needs two values)."""
    _check_conf(confidence)
    a = _array(xs)
    _need(a, 2, "mean_ci")
    m = float(a.mean())
    se = float(a.std(ddof=1)) / math.sqrt(a.size)
    if se == 0.0:
        return Interval(m, m, m, confidence, "t")
    t = float(_sps.t.ppf((1.0 + confidence) / 2.0, a.size - 1))
    return Interval(m, m - t * se, m + t * se, confidence, "t")


def ratio_ci(a_xs: Iterable, b_xs: Iterable, confidence: float = CONFIDENCE,
             method: str = "bootstrap", resamples: int = RESAMPLES,
             seed: int = SEED) -> Interval:
    """Ratio B / A of two independent samples with a confidence interval.

    method "bootstrap": median(B) / median(A), A and B resampled
    independently (they are separate process runs), percentile interval.
    method "log-t": exp of Welch's t-interval on the difference of the mean
    logs, i.e. the ratio of geometric means; needs positive values and at
    least two of each.
    """
    _check_conf(confidence)
    a = _array(a_xs)
    b = _array(b_xs)
    _need(a, 1, "ratio_ci (A)")
    _need(b, 1, "ratio_ci (B)")
    if method == "bootstrap":
        ma, mb = float(np.median(a)), float(np.median(b))
        if ma == 0.0:
            raise ValueError("ratio_ci: median of A is 0")
        ratio = mb / ma
        if a.size == 1 and b.size == 1:
            return Interval(ratio, ratio, ratio, confidence, method)
        rng = np.random.default_rng(seed)
        ra = np.median(a[rng.integers(0, a.size, size=(resamples, a.size))], axis=1)
        rb = np.median(b[rng.integers(0, b.size, size=(resamples, b.size))], axis=1)
        keep = ra != 0.0
        lo, hi = _quantiles(rb[keep] / ra[keep], confidence)
        return Interval(ratio, lo, hi, confidence, method)
    if method == "log-t":
        if (a <= 0).any() or (b <= 0).any():
            raise ValueError("ratio_ci log-t needs positive values")
        _need(a, 2, "ratio_ci log-t (A)")
        _need(b, 2, "ratio_ci log-t (B)")
        la, lb = np.log(a), np.log(b)
        diff = float(lb.mean() - la.mean())
        va, vb = float(la.var(ddof=1)) / a.size, float(lb.var(ddof=1)) / b.size
        se = math.sqrt(va + vb)
        if se == 0.0:
            r = math.exp(diff)
            return Interval(r, r, r, confidence, method)
        # Welch-Satterthwaite degrees of freedom.
        df = (va + vb) ** 2 / (va ** 2 / (a.size - 1) + vb ** 2 / (b.size - 1))
        t = float(_sps.t.ppf((1.0 + confidence) / 2.0, df))
        return Interval(math.exp(diff), math.exp(diff - t * se),
                        math.exp(diff + t * se), confidence, method)
    raise ValueError(f"ratio_ci: unknown method {method!r} (bootstrap or log-t)")


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
