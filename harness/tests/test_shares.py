"""harness/analyse/shares.py: the share statistics against published values, and the
share-difference rule producing each verdict from records made for it."""
import pytest
from synthrun import Spec, line_for

from harness.analyse import shares
from harness.analyse.shares import INCONCLUSIVE, NUANCED, REFUTED, SUPPORTED


# Wilson 95% intervals: Newcombe's worked examples (Statistics in Medicine
# 17:857, 1998), and k = n, whose lower bound is n / (n + z^2) in closed form.
@pytest.mark.parametrize("k, n, lo, hi", [
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0, 0.1611),
    (1, 29, 0.0061, 0.1718),
    (29, 29, 29 / (29 + 1.959964 ** 2), 1.0),
])
def test_wilson_matches_newcombe_table(k, n, lo, hi):
    got = shares.wilson_interval(k, n)
    assert got == pytest.approx((lo, hi), abs=1e-4)


# Newcombe's method 10 (Statistics in Medicine 17:873, 1998): his examples
# 56/70 - 48/80 and 9/10 - 3/10; 10/10 - 0/10 from the closed forms above.
@pytest.mark.parametrize("k1, n1, k2, n2, lo, hi", [
    (56, 70, 48, 80, 0.0524, 0.3339),
    (9, 10, 3, 10, 0.1705, 0.8090),
    (10, 10, 0, 10, 0.6075, 1.0),
])
def test_difference_matches_newcombe_table(k1, n1, k2, n2, lo, hi):
    d, got_lo, got_hi = shares.difference_interval(k1, n1, k2, n2)
    assert d == pytest.approx(k1 / n1 - k2 / n2)
    assert (got_lo, got_hi) == pytest.approx((lo, hi), abs=1e-4)


def test_interval_widens_with_confidence_and_narrows_with_n():
    lo90, hi90 = shares.wilson_interval(3, 10, 0.90)
    lo99, hi99 = shares.wilson_interval(3, 10, 0.99)
    assert lo99 < lo90 < 0.3 < hi90 < hi99
    lo, hi = shares.wilson_interval(30, 100)
    assert lo90 < lo and hi < hi90


@pytest.mark.parametrize("k, n", [(-1, 5), (6, 5), (0, 0)])
def test_wilson_refuses_impossible_counts(k, n):
    with pytest.raises(ValueError):
        shares.wilson_interval(k, n)


@pytest.mark.parametrize("k1, n1, k2, n2, verdict", [
    (10, 10, 0, 10, SUPPORTED),      # every threads run deadlocked, no coroutine one
    (5, 5, 0, 5, SUPPORTED),         # the smallest n that can decide at margin 0.3
    (0, 10, 0, 10, REFUTED),         # neither deadlocks: not "prone"
    (3, 10, 0, 10, INCONCLUSIVE),    # the interval straddles the margin
    (4, 4, 0, 4, INCONCLUSIVE),      # too few runs, however clear they look
])
def test_decision_each_way(k1, n1, k2, n2, verdict):
    dec = shares.decide_difference(k1, n1, k2, n2, margin=0.3, names=("threads", "coro"))
    assert dec.verdict == verdict, dec.why
    assert f"threads {k1}/{n1}" in dec.why and f"coro {k2}/{n2}" in dec.why


def test_decision_is_symmetric_around_the_margin():
    # The same interval decides both ways only through its position.
    dec = shares.decide_difference(10, 10, 0, 10, margin=0.7)
    assert dec.verdict == INCONCLUSIVE and dec.lo < 0.7 <= dec.hi


def test_count_outcome_refuses_non_binary():
    assert shares.count_outcome([0, 1, 1, None]) == (2, 3)
    with pytest.raises(ValueError):
        shares.count_outcome([0, 2])


# ---- the rule, from records.jsonl lines as the harness writes them -----------

class FakeCell:
    """What shares reads of a rundir.CellResults: params and values(metric)."""

    def __init__(self, lines):
        self.lines = lines
        self.params = dict(lines[0]["params"]) if lines else {}

    def values(self, metric):
        return [ln["record"]["metrics"][metric] for ln in self.lines
                if ln["status"] == "ok"]


def cell(model, cpus, outcomes):
    return FakeCell([line_for(Spec("deadlock", model, {"cpus": cpus, "yield_between": False},
                                   {"deadlocked": dl, "rounds": 100,
                                    "rounds_done": 0 if dl else 100}), rep, None)
                     for rep, dl in enumerate(outcomes)])


PART = {"metric": "deadlocked", "margin": 0.3, "num": "threads", "den": "coro"}


def pairs(threads_by_cpus, coro_by_cpus):
    return [(f"cpus={c}", [cell("threads", c, threads_by_cpus[c])],
             [cell("coro", c, coro_by_cpus[c])]) for c in threads_by_cpus]


@pytest.mark.parametrize("threads, coro, verdict", [
    ({"0": [1] * 10, "0-1": [1] * 10}, {"0": [0] * 10, "0-1": [0] * 10}, SUPPORTED),
    ({"0": [0] * 10, "0-1": [0] * 10}, {"0": [0] * 10, "0-1": [0] * 10}, REFUTED),
    ({"0": [1, 0, 0] * 3 + [0], "0-1": [1] * 10},
     {"0": [0] * 10, "0-1": [0] * 10}, INCONCLUSIVE),
    ({"0": [0] * 10, "0-1": [1] * 10}, {"0": [0] * 10, "0-1": [0] * 10}, NUANCED),
    ({"0": [1] * 3, "0-1": [1] * 3}, {"0": [0] * 3, "0-1": [0] * 3}, INCONCLUSIVE),
])
def test_rule_each_verdict_from_records(threads, coro, verdict):
    res = shares.rule_share_difference(PART, pairs(threads, coro))
    assert res["verdict"] == verdict, res["why"]
    shares_rows = [r for r in res["rows"] if r["kind"] == "share"]
    assert {r["label"] for r in shares_rows} == {
        f"cpus={c}: {m}" for c in threads for m in ("threads", "coro")}
    for r in shares_rows:
        assert r["lo"] <= r["share"] <= r["hi"]


def test_rule_without_runs_is_inconclusive():
    res = shares.rule_share_difference(PART, [("cpus=0", [cell("threads", "0", [1] * 10)],
                                               [cell("coro", "0", [])])])
    assert res["verdict"] == INCONCLUSIVE and "no ok run of coro" in res["why"]
    assert shares.rule_share_difference(PART, [])["verdict"] == INCONCLUSIVE
