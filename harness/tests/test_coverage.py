"""Every interval a verdict rests on covers what it says it covers.

For each interval method, data with a known truth are simulated at the n the
default config uses (configs/default.toml's repetitions), the method's
interval is computed as the report computes it, and the share of
simulations whose interval holds the truth is compared with the coverage
the method prints: within 3 points of it, or above it (conservative).
Where no exact coverage exists (the bootstrap slope, the crossover), the
printed figure is itself the simulated one, and this is the simulation that
checks it."""

import math
import tomllib

import numpy as np
import pytest

from harness.analyse import claims, crossover, intervals

SIMS = 400
SLACK = 0.03


def default_reps(task: str | None = None) -> int:
    cfg = tomllib.loads((claims.REPO / "configs" / "default.toml").read_text())
    base = int(cfg["run"]["repetitions"])
    reps = [int(e.get("repetitions", base)) for e in cfg["experiment"]
            if task is None or e.get("task") == task]
    return min(reps) if reps else base


def check(hits: int, printed: float) -> None:
    simulated = hits / SIMS
    assert simulated >= printed - SLACK, f"simulated {simulated:.3f}, printed {printed:.3f}"


@pytest.mark.parametrize("dist", ["lognormal", "exponential"])
def test_median_interval(dist):
    n, rng = default_reps(), np.random.default_rng(1)
    draw = {"lognormal": lambda: rng.lognormal(0, 0.3, n), "exponential":
            lambda: rng.exponential(1.0, n)}[dist]
    truth = {"lognormal": 1.0, "exponential": math.log(2)}[dist]
    hits, printed = 0, None
    for _ in range(SIMS):
        iv = intervals.median_family(draw())(0.95)
        hits += iv.lo <= truth <= iv.hi
        printed = iv.confidence
    check(hits, printed)
    assert abs(hits / SIMS - printed) <= SLACK + 0.02   # exact, not only conservative


@pytest.mark.parametrize("level", [0.90, 0.95, 0.99])
def test_ratio_interval(level):
    n, rng = default_reps(), np.random.default_rng(2)
    hits, printed = 0, None
    for _ in range(SIMS):
        a = rng.lognormal(0, 0.2, n) * 1000
        b = rng.lognormal(0, 0.2, n) * 2500
        iv = intervals.ratio_family(a, b)(level)
        hits += iv.lo <= 2.5 <= iv.hi
        printed = iv.confidence
    check(hits, printed)
    assert abs(hits / SIMS - printed) <= SLACK + 0.02


def test_flat_interval_of_a_sweep():
    n, rng = default_reps("preempt"), np.random.default_rng(3)
    medians = [100.0, 160.0, 120.0]
    hits, printed = 0, None
    for _ in range(SIMS):
        groups = [m * rng.lognormal(0, 0.3, n) for m in medians]
        iv = intervals.flat_family(groups)(0.90)
        hits += iv.lo <= 1.6 <= iv.hi
        printed = iv.confidence
    check(hits, printed)


@pytest.mark.parametrize("level", [0.87, 0.90])
def test_slope_bootstrap_prints_its_simulated_coverage(level):
    n, rng = default_reps("preempt"), np.random.default_rng(4)
    hits, printed = 0, None
    for i in range(SIMS // 2):
        pts = [(x, v) for x in (100, 1000, 10000) for v in x ** 0.5 * rng.lognormal(0, 0.2, n)]
        iv = intervals.slope_family(pts, resamples=1000, seed=i)(level)
        hits += iv.lo <= 0.5 <= iv.hi
        printed = iv.confidence
    assert hits / (SIMS // 2) >= printed - SLACK


@pytest.mark.parametrize("share", [0.1, 0.5, 0.9])
def test_share_interval(share):
    n, rng = default_reps("counter"), np.random.default_rng(5)
    hits, printed = 0, None
    for _ in range(SIMS):
        k = int(rng.binomial(n, share))
        iv = intervals.share_family(k, n)(0.95)
        hits += iv.lo <= share <= iv.hi
        printed = iv.confidence
    check(hits, printed)


def test_share_difference_interval():
    n, rng = default_reps("deadlock"), np.random.default_rng(6)
    hits = 0
    for _ in range(SIMS):
        k1, k2 = int(rng.binomial(n, 0.8)), int(rng.binomial(n, 0.4))
        iv = intervals.share_difference_family(k1, n, k2, n)(0.95)
        hits += iv.lo <= 0.4 <= iv.hi
    check(hits, 0.95)


@pytest.mark.parametrize("slope", [0.2, 0.6])
def test_crossover_prints_its_simulated_coverage(slope):
    # num/den = (x / 150)^slope at x = 10, 100, 1000: it crosses 1 at 150.
    n, rng = default_reps("echo"), np.random.default_rng(7)
    hits = 0
    for _ in range(SIMS // 2):
        points = []
        for x in (10, 100, 1000):
            a = rng.lognormal(0, 0.15, n) * 1000
            b = rng.lognormal(0, 0.15, n) * 1000 * (x / 150) ** slope
            points.append((x, intervals.ratio_family(a, b)))
        got = crossover.find(points, 1.0)
        lo = -math.inf if got["lo"] is None else got["lo"]
        hi = math.inf if got["hi"] is None else got["hi"]
        hits += lo <= 150 <= hi
    assert abs(hits / (SIMS // 2) - crossover.COVERAGE) <= SLACK


def test_mann_whitney_null_matches_scipy():
    from scipy import stats
    rng = np.random.default_rng(8)
    for m, n in ((3, 4), (5, 5), (7, 10)):
        cdf = intervals._mann_whitney_cdf(m, n)
        a, b = rng.normal(size=m), rng.normal(size=n)
        u = int(sum(x < y for x in a for y in b))
        want = stats.mannwhitneyu(b, a, alternative="less", method="exact").pvalue
        assert cdf[u] == pytest.approx(want)


def test_slope_uses_every_point():
    pts = [(x, 3 * x * (1 + d)) for x in (10, 100, 1000) for d in (-0.01, 0, 0.01)]
    i = intervals.slope_family(pts)(0.90)
    assert i.value == pytest.approx(1.0, abs=0.01)
    assert i.lo < i.value < i.hi and i.hi - i.lo < 0.05
    # Endpoints alone would say flat; the middle point is part of the trend.
    pts = [(1, 5.0), (1, 5.1), (10, 50.0), (10, 51.0), (100, 5.0), (100, 5.1)]
    assert intervals.slope_family(pts)(0.90).hi < 1.0
    assert intervals.slope_family([(1, 2.0), (1, 3.0)]) is None
    assert intervals.slope_family([(1, 2.0), (10, 0.0)]) is None


@pytest.mark.parametrize("k, n, lo, hi", [(0, 10, 0.0, 0.3085), (10, 10, 0.6915, 1.0),
                                          (3, 10, 0.0667, 0.6525)])
def test_clopper_pearson_known_values(k, n, lo, hi):
    assert intervals.clopper_pearson(k, n) == pytest.approx((lo, hi), abs=1e-4)


def test_count_outcome_refuses_non_binary():
    assert intervals.count_outcome([0, 1, 1, None]) == (2, 3)
    with pytest.raises(ValueError):
        intervals.count_outcome([0, 2])
