"""The delay probe on real recordings: every traced thread's run-queue wait is
cut into the run segments of the tasks that ran meanwhile, and what cannot be
told goes to a named remainder. Checked against the sched probe of the same
run: per thread, attributed + remainder equals its run-queue time within 1%
(the ring's segments must tile each wait), and the remainder stays under 5%.

Needs root, kernel BTF and a built tracer and workload; skips otherwise.
No timing is judged: only how the same nanoseconds are accounted.
"""

from __future__ import annotations

import pytest

from harness.tests.test_schedtrace import WORKLOAD, needs_bpf, trace, validate

pytestmark = [pytest.mark.bpf, pytest.mark.root, needs_bpf]


def runq_by_tid(doc: dict) -> dict[int, dict]:
    return {t["tid"]: t["runq_latency_ns"] for p in doc["processes"] for t in p["threads"]}


def workload_rows(doc: dict) -> list[dict]:
    """The delay rows of the workload's own threads (not the tracer's fork
    before its exec), each with waits to account for."""
    return [v for v in doc["delay"]["threads"] if v["comm"] == "workload" and v["waits"]]


CELLS = {
    "pingpong-same": ["pingpong", "--model", "threads", "--iterations", "5000",
                      "--placement", "same"],
    "pingpong-split": ["pingpong", "--model", "threads", "--iterations", "5000",
                       "--placement", "split"],
    "preempt": ["preempt", "--model", "threads", "--hog_ms", "200"],
}


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_every_wait_is_attributed_or_a_named_remainder(tmp_path, cell):
    if not WORKLOAD.exists():
        pytest.skip("build/workload not built: run make")
    _, doc = trace(tmp_path, [str(WORKLOAD), *CELLS[cell]], probes="sched,delay")
    validate(doc)
    assert doc["probes"]["delay"]["attached"], doc["probes"]["delay"]["reason"]
    runq = runq_by_tid(doc)
    rows = workload_rows(doc)
    assert rows, "no workload thread waited"
    for v in rows:
        remainder = sum(v["remainder_ns"].values())
        culprits = sum(c["total_ns"] for c in v["culprits"]) + v["others"]["total_ns"]
        assert culprits == v["attributed_ns"], v
        # the same waits as the sched probe's, counted at the same switch
        assert (v["waits"], v["wait_ns"]) == (runq[v["tid"]]["n"], runq[v["tid"]]["sum"]), v
        assert v["attributed_ns"] + remainder == pytest.approx(runq[v["tid"]]["sum"], rel=0.01), v
        shares = [c["share"] for c in v["culprits"]]
        assert shares == sorted(shares, reverse=True)
    # Nothing is missed by construction: every ring starts when the probe
    # attached, before the command ran, and has no hole.
    dl = doc["delay"]
    assert dl["walks_before_first"] == 0 and dl["walks_with_gaps"] == 0, dl
    remainder = sum(sum(v["remainder_ns"].values()) for v in rows)
    total = sum(v["wait_ns"] for v in rows)
    if dl["walks_past_ring"] and remainder > 0.05 * total:
        # A wait over more switches of its CPU than a ring keeps: seen while
        # other jobs' tasks the thread cannot preempt held its CPU (a
        # SCHED_FIFO ping-pong beside it switches 240,000 times a second and
        # starves it for hundreds of ms; docs/tracer.md). The exactness above
        # still held.
        pytest.skip(f"{dl['walks_past_ring']} wait(s) spanned more than the "
                    f"{dl['ring_segments']:,} run segments a CPU keeps (other tasks "
                    f"switched that often meanwhile): {remainder / total:.0%} of the "
                    "cell's wait is window remainder; the 5% bound is not judged here")
    assert remainder <= 0.05 * total, rows


def test_hog_tops_the_tickers_culprits(tmp_path):
    """preempt on one CPU: one hog spins beside four tickers woken every
    millisecond, so while a ticker waits it is the hog, above all, that
    holds the CPU. At nice 0 that holds on a quiet machine only: other tasks
    sharing the CPU (a parallel build, another test's ping-pong) are picked
    before a hog that has used its share, and were seen to out-delay it. At
    nice -10 (9.3 times a nice-0 task's weight) the hog holds the CPU
    against them too, and the tickers still tick. Judged among the
    workload's own threads, so that a task of the machine at a higher
    priority still says nothing about the attribution."""
    if not WORKLOAD.exists():
        pytest.skip("build/workload not built: run make")
    _, doc = trace(tmp_path, [str(WORKLOAD), "preempt", "--model", "threads", "--hog_ms", "200",
                              "--hogs", "1", "--ticks", "4", "--cpus", "0",
                              "--hog_nice", "-10"],
                   probes="sched,delay")
    threads = {t["tid"]: t for p in doc["processes"] for t in p["threads"]}
    rows = workload_rows(doc)
    hog = max(rows, key=lambda v: threads[v["tid"]]["oncpu_ns"]["sum"])
    # the tickers: the threads with the most waits (one per tick) but the hog
    tickers = sorted((v for v in rows if v is not hog), key=lambda v: v["waits"])[-4:]
    for v in tickers:
        own = [c for c in v["culprits"] if c["tgid"] == v["tgid"]]
        assert own and own[0]["tid"] == hog["tid"], (hog["tid"], v)


def test_pingpong_partner_delays_each_thread(tmp_path):
    """On one CPU each pingpong thread waits while the other runs: its
    partner is among its culprits, with a segment for nearly every hand-off."""
    if not WORKLOAD.exists():
        pytest.skip("build/workload not built: run make")
    _, doc = trace(tmp_path, [str(WORKLOAD), *CELLS["pingpong-same"]], probes="sched,delay")
    rows = [v for v in workload_rows(doc) if v["waits"] > 1000]
    assert len(rows) == 2, [(v["tid"], v["waits"]) for v in workload_rows(doc)]
    a, b = rows
    for me, partner in ((a, b), (b, a)):
        mine = {c["tid"]: c for c in me["culprits"]}
        assert partner["tid"] in mine, me["culprits"]
        assert mine[partner["tid"]]["segments"] >= me["waits"] // 2


def test_delay_needs_an_exact_clock(tmp_path):
    if not WORKLOAD.exists():
        pytest.skip("build/workload not built: run make")
    _, doc = trace(tmp_path, [str(WORKLOAD), *CELLS["pingpong-same"]],
                   probes="sched,delay", extra=["--clock", "kernel"])
    assert not doc["probes"]["delay"]["attached"]
    assert "--clock" in doc["probes"]["delay"]["reason"]
    assert doc["delay"] is None
