"""stats.py on data whose answers are known by hand or by definition."""

import math

import numpy as np
import pytest

from harness import stats


def test_median_and_percentiles_known():
    xs = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    assert stats.median(xs) == 5.5
    assert stats.median([3, 1, 2]) == 2
    assert stats.percentile(xs, 0) == 1
    assert stats.percentile(xs, 100) == 10
    # type-7 linear interpolation: position 0.9 * 9 = 8.1 -> 9 + 0.1
    assert stats.percentile(xs, 90) == pytest.approx(9.1)
    p = stats.percentiles(list(range(1001)))
    assert p == {"p50": 500.0, "p90": 900.0, "p99": 990.0, "p999": pytest.approx(999.0)}


def test_none_and_nonfinite_are_ignored():
    assert stats.median([1, None, 3, float("nan"), float("inf")]) == 2
    assert stats.mean([2, None, 4]) == 3


def test_empty_input_raises():
    for fn in (stats.median, stats.mean, stats.geomean, stats.mad):
        with pytest.raises(ValueError):
            fn([])
    with pytest.raises(ValueError):
        stats.stdev([1])
    with pytest.raises(ValueError):
        stats.percentile([1], 101)


def test_cov():
    assert stats.cov([10, 10, 10]) == 0.0
    assert stats.cov([5]) is None
    # mean 2, sample sd 1 -> 0.5
    assert stats.cov([1, 2, 3]) == pytest.approx(0.5)
    assert stats.cov([-1, 1]) is None


def test_median_ci_contains_median_and_is_reproducible():
    rng = np.random.default_rng(1)
    xs = list(rng.normal(100, 5, size=50))
    a = stats.median_ci(xs)
    b = stats.median_ci(xs)
    assert a == b
    assert a.lo <= a.value <= a.hi
    assert a.value == pytest.approx(float(np.median(xs)))
    assert a.hi - a.lo < 10
    assert a.method == "bootstrap" and a.confidence == 0.95
    # a different seed gives a (slightly) different interval
    c = stats.median_ci(xs, seed=7)
    assert (c.lo, c.hi) != (a.lo, a.hi)


def test_median_ci_collapses():
    i = stats.median_ci([4.0])
    assert (i.value, i.lo, i.hi) == (4.0, 4.0, 4.0)
    i = stats.median_ci([2.0, 2.0, 2.0])
    assert (i.lo, i.hi) == (2.0, 2.0)


def test_mean_ci_t_interval_known():
    # mean 2, sd 1, n 3: half-width = t(0.975, 2) / sqrt(3) = 4.302653 / 1.732051
    i = stats.mean_ci([1, 2, 3])
    half = 4.302652729911275 / math.sqrt(3)
    assert i.value == 2
    assert i.lo == pytest.approx(2 - half)
    assert i.hi == pytest.approx(2 + half)
    assert stats.mean_ci([5, 5]).lo == 5


def test_ratio_ci_bootstrap():
    a = [10, 11, 9, 10, 10]
    b = [20, 22, 18, 20, 20]
    r = stats.ratio_ci(a, b)
    assert r.value == pytest.approx(2.0)
    assert r.lo <= 2.0 <= r.hi
    assert stats.ratio_ci([4], [8]).lo == 2.0
    with pytest.raises(ValueError):
        stats.ratio_ci([0, 0], [1, 2])


def test_ratio_ci_log_t():
    a = [1.0, 2.0, 4.0]
    b = [2.0, 4.0, 8.0]
    r = stats.ratio_ci(a, b, method="log-t")
    assert r.value == pytest.approx(2.0)
    assert r.lo < 2.0 < r.hi
    # identical spread on the log scale, exact factor 3: collapses
    r = stats.ratio_ci([1, 1], [3, 3], method="log-t")
    assert (r.value, r.lo, r.hi) == pytest.approx((3, 3, 3))
    with pytest.raises(ValueError):
        stats.ratio_ci([1, -1], [1, 2], method="log-t")
    with pytest.raises(ValueError):
        stats.ratio_ci([1, 2], [1, 2], method="nope")


def test_geomean():
    assert stats.geomean([1, 100]) == pytest.approx(10)
    assert stats.geomean([2, 8]) == pytest.approx(4)
    with pytest.raises(ValueError):
        stats.geomean([1, 0])


def test_mad_and_outliers():
    xs = [10, 11, 10, 12, 11, 10, 100]
    assert stats.mad(xs) == 1.0
    z = stats.modified_zscores(xs)
    assert z[-1] == pytest.approx(0.6745 * 89)
    assert stats.mad_outliers(xs) == [6]
    assert stats.mad_outliers([1, 2]) == []
    # MAD 0: everything off the median is an outlier
    assert stats.mad_outliers([5, 5, 5, 5, 6]) == [4]
    assert stats.mad_outliers([5, 5, 5]) == []


def test_describe():
    d = stats.describe([1, 2, 3, 4, 100])
    assert d.n == 5 and d.median == 3 and d.min == 1 and d.max == 100
    assert d.outliers == (4,)
    assert d.median_ci.lo <= 3 <= d.median_ci.hi
    e = stats.describe([])
    assert e.n == 0 and e.median is None and e.median_ci is None
    assert stats.describe([7]).stdev is None
    assert isinstance(d.as_dict(), dict)


def test_pct_key():
    assert stats.pct_key(50) == "p50"
    assert stats.pct_key(99.9) == "p999"
