"""stats.py on data whose answers are known by hand or by definition."""


import numpy as np
import pytest

from harness.analyse import stats


def test_median_known():
    assert stats.median(list(range(1, 11))) == 5.5
    assert stats.median([3, 1, 2]) == 2


def test_none_and_nonfinite_are_ignored():
    assert stats.median([1, None, 3, float("nan"), float("inf")]) == 2
    assert stats.summarize([2, None, True, 4]).n == 2


def test_too_little_data_answers_none():
    assert stats.median([]) is None and stats.median_ci([]) is None
    assert stats.geomean([]) is None and stats.geomean([0, -1]) is None
    assert stats.ratio_ci([], [1]) is None and stats.ratio_ci([1], []) is None


def test_cov():
    assert stats.cov([10, 10, 10]) == 0.0
    assert stats.cov([5]) is None
    # mean 2, sample sd 1 -> 0.5
    assert stats.cov([1, 2, 3]) == pytest.approx(0.5)
    assert stats.cov([-1, 1]) is None


@pytest.mark.parametrize("n,k,coverage", [
    # 1 - 2 P(Binomial(n, 1/2) < k), by hand: n=5, k=1: 1 - 2/32
    (1, 1, 0.0), (2, 1, 0.5), (3, 1, 0.75), (5, 1, 0.9375), (6, 1, 0.96875),
    (10, 2, 1 - 2 * 11 / 1024), (20, 6, 1 - 2 * 21700 / 2 ** 20)])
def test_median_ci_k_exact_coverage(n, k, coverage):
    assert stats.median_ci_k(n) == (k, pytest.approx(coverage))


def test_median_ci_order_statistics():
    xs = [5.0, 1.0, 4.0, 2.0, 3.0]
    i = stats.median_ci(xs)
    # n=5 cannot reach 95%: [min, max] with the 93.75% it has, said so
    assert (i.value, i.lo, i.hi) == (3.0, 1.0, 5.0)
    assert i.confidence == pytest.approx(0.9375) and i.method == "order statistic"
    xs = list(range(1, 11))      # n=10: k=2, the 2nd smallest and 2nd largest
    i = stats.median_ci(xs)
    assert (i.lo, i.hi) == (2, 9) and i.confidence > 0.95


def test_median_ci_coverage_holds_empirically():
    # The printed coverage is what the interval achieves on skewed data.
    rng = np.random.default_rng(3)
    true_median = float(np.log(2))          # exponential(1)
    hits = 0
    for _ in range(4000):
        i = stats.median_ci(rng.exponential(size=5))
        hits += i.lo <= true_median <= i.hi
    assert hits / 4000 == pytest.approx(0.9375, abs=0.015)


def test_median_ci_single_value_has_no_coverage():
    i = stats.median_ci([4.0])
    assert (i.value, i.lo, i.hi, i.confidence) == (4.0, 4.0, 4.0, 0.0)


def test_ratio_ci_from_order_statistics():
    a = [10, 11, 9, 10, 10]
    b = [20, 22, 18, 20, 20]
    r = stats.ratio_ci(a, b)
    assert r.value == pytest.approx(2.0)
    assert (r.lo, r.hi) == pytest.approx((18 / 11, 22 / 9))
    assert r.confidence == pytest.approx(0.9375 ** 2)
    assert stats.ratio_ci([0, 0], [1, 2]) is None


def test_geomean():
    assert stats.geomean([1, 100]) == pytest.approx(10)
    assert stats.geomean([2, 8]) == pytest.approx(4)
    # A zero or negative value has no logarithm: the positive ones count.
    assert stats.geomean([1, 0, 100]) == pytest.approx(10)


def test_summarize():
    s = stats.summarize([1, 2, 3, 4, 100])
    assert (s.n, s.median, s.min, s.max) == (5, 3, 1, 100)
    assert (s.ci_lo, s.ci_hi) == (1, 100) and s.ci_confidence == pytest.approx(0.9375)
    assert s.cov == pytest.approx(stats.cov([1, 2, 3, 4, 100]))
    one = stats.summarize([7])
    assert one.median == 7 and one.ci_lo is one.ci_hi is one.ci_confidence is one.cov is None
    empty = stats.summarize([])
    assert empty.n == 0 and empty.median is None and empty.min is None
    assert set(s.as_dict()) == {"n", "median", "ci_lo", "ci_hi", "cov", "ci_confidence",
                                "min", "max"}
