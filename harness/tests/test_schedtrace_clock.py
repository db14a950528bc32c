"""build/schedtrace --clock and --wake-sample: the cheap timing paths.

--clock rq takes the scheduler's rq clock where it is fresh and
reads the clock only at a switch that a preempting wakeup left it stale for,
extrapolating from a per-CPU calibration; --clock kernel takes the
scheduler's own rq clock and run-queue accounting (sched_info) instead of
reading the clock at every event; --wake-sample N times 1 wakeup in N. None
may change a count. --clock both times every event with the clock and writes
what the kernel clock and the rq path give for the same events beside it
(clock_check), which shows where they agree and the bias where they do not:
a wait begun by a wakeup that preempted the running task ends at a switch
whose rq clock update the kernel skipped, so the kernel clock reads that
wait short, and the rq path reads the clock there (docs/tracer.md).

Needs root, kernel BTF and a built tracer (`make build`); skips otherwise.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from test_schedtrace import TRACER, Hogs, accounted, helper, needs_bpf, trace, validate

pytestmark = [pytest.mark.bpf, pytest.mark.root]


def check_exact_counts(proc, doc) -> None:
    """The same cross-check test_schedtrace makes for the default clock."""
    own = json.loads(proc.stdout)["usage"]
    tot = doc["totals"]
    assert accounted(tot, "involuntary") == doc["rusage"]["involuntary_switches"]
    assert abs(accounted(tot, "voluntary") - doc["rusage"]["voluntary_switches"]) <= 10
    assert abs(accounted(tot, "voluntary") - own["voluntary_switches"]) <= 10
    assert tot["switches"] == tot["voluntary_switches"] + tot["involuntary_switches"]
    assert doc["lost"]["task_storage"] == 0 and doc["lost"]["thread_rows"] == 0


@needs_bpf
@pytest.mark.parametrize("extra, clock", [((), "ktime"), (("--clock", "rq"), "rq"),
                                          (("--clock", "kernel"), "kernel"),
                                          (("--wake-sample", "16"), "ktime"),
                                          (("--clock", "both"), "both")])
def test_cheap_paths_keep_counts_exact(tmp_path, extra, clock):
    with Hogs(1, 0):
        proc, doc = trace(tmp_path, [helper("pingpong_rusage"), "20000", "0"], extra=extra)
    validate(doc)
    assert doc["timing"]["clock"] == clock
    check_exact_counts(proc, doc)
    # one run-queue wait per switch-in, as the schedstat cross-check says
    out = json.loads(proc.stdout)
    rows = {t["tid"]: t for p in doc["processes"] for t in p["threads"]}
    runq = doc["totals"]["runq_latency_ns"]
    if "--wake-sample" in extra:
        assert runq["sampled_every"] == 16
        assert runq["n"] < runq["sampled_from"]
        # every wait after a preemption is timed, and 1 in 16 after a wakeup
        assert runq["n"] >= doc["totals"]["involuntary_switches"] - 10
    else:
        assert "sampled_every" not in runq
        for tid, stat in out["schedstat"].items():
            assert abs(rows[int(tid)]["runq_latency_ns"]["n"] - stat["pcount"]) <= 10


@needs_bpf
def test_kernel_clock_against_clock_reads_on_the_same_events(tmp_path):
    """Same-CPU pingpong: agreement on on-CPU and off-CPU time, and the
    run-queue bias located in the waits begun by a preempting wakeup."""
    proc, doc = trace(tmp_path, [helper("pingpong_rusage"), "20000", "0"],
                      extra=("--clock", "both"))
    validate(doc)
    tot = doc["totals"]
    chk = tot["clock_check"]
    kt, kn = tot["runq_latency_ns"], chk["runq_latency_ns"]
    # paired: the kernel saw a wait wherever a wakeup or preemption began one
    assert kn["n"] >= 0.99 * kt["n"] > 0
    assert chk["runq_abs_diff_ns"]["n"] == kn["n"]
    # on and off the CPU both clocks time the same intervals: they agree
    # (the rq clock may lag at one switch and catch up at the next)
    for key, ktime in (("oncpu_sum_ns", tot["oncpu_ns"]["sum"]),
                       ("offcpu_sum_ns", tot["offcpu_ns"]["sum"])):
        assert abs(chk[key] - ktime) <= 0.05 * ktime, (key, chk[key], ktime)
    # the stated bias: waits begun by a preempting wakeup read short or equal
    if chk["skipped_clock_waits"]:
        assert chk["skipped_clock_kernel_sum_ns"] <= chk["skipped_clock_ktime_sum_ns"]
    print(f"runq ktime sum {kt['sum']} n {kt['n']}; kernel sum {kn['sum']} n {kn['n']}; "
          f"preempting-wakeup waits {chk['skipped_clock_waits']}: ktime "
          f"{chk['skipped_clock_ktime_sum_ns']} kernel {chk['skipped_clock_kernel_sum_ns']}")


@needs_bpf
def test_rq_clock_against_clock_reads_on_the_same_events(tmp_path):
    """Same-CPU pingpong under --clock both: the rq path (--clock rq)
    beside clock reads at every event. On and off the CPU they agree; the
    waits begun by a preempting wakeup, which the kernel clock reads short
    (near 0), the rq path recovers (it reads the clock at the switch after
    one); the stated bias of the others: a fresh rq clock is __schedule()'s
    update, a little before the switch, so they read a few hundred ns short."""
    proc, doc = trace(tmp_path, [helper("pingpong_rusage"), "20000", "0"],
                      extra=("--clock", "both"))
    validate(doc)
    check_exact_counts(proc, doc)
    tot = doc["totals"]
    chk = tot["clock_check"]
    rq = chk["rq"]
    kt = tot["runq_latency_ns"]
    assert doc["timing"]["clock_calibrations"] > 0
    # every wait clock reads timed, the rq path timed too
    assert rq["runq_abs_diff_ns"]["n"] == kt["n"] > 0
    assert rq["runq_ktime_sum_ns"] == kt["sum"]
    for key, ktime in (("oncpu_sum_ns", tot["oncpu_ns"]["sum"]),
                       ("offcpu_sum_ns", tot["offcpu_ns"]["sum"])):
        assert abs(rq[key] - ktime) <= 0.05 * ktime, (key, rq[key], ktime)
    # the preempting wakeups: where the kernel clock loses the wait, the rq
    # path keeps it (same order as clock reads, far above the kernel's)
    if chk["skipped_clock_waits"]:
        ktime_skipped = chk["skipped_clock_ktime_sum_ns"]
        assert 0.5 * ktime_skipped <= rq["skipped_clock_sum_ns"] <= 2 * ktime_skipped
        assert rq["skipped_clock_sum_ns"] > chk["skipped_clock_kernel_sum_ns"]
    d = rq["runq_abs_diff_ns"]
    print(f"runq waits {kt['n']}: ktime sum {kt['sum']}, rq sum {rq['runq_sum_ns']}; "
          f"|diff| per wait p50 <={d['p50']} p99 <={d['p99']} max {d['max']} mean "
          f"{d['sum'] / d['n']:.0f}; preempting-wakeup waits {chk['skipped_clock_waits']}: "
          f"ktime {chk['skipped_clock_ktime_sum_ns']} rq {rq['skipped_clock_sum_ns']} "
          f"kernel {chk['skipped_clock_kernel_sum_ns']}")


@needs_bpf
def test_rq_clock_reads_only_after_a_stale_clock(tmp_path):
    """--clock rq reads the clock at a switch only after a wakeup
    that left the rq clock stale: never more reads than switches of the
    machine, and some (pingpong's wakeups preempt)."""
    proc, doc = trace(tmp_path, [helper("pingpong_rusage"), "20000", "0"],
                      extra=("--clock", "rq"))
    validate(doc)
    timing = doc["timing"]
    assert timing["clock"] == "rq"
    runs = {p["name"]: p["run_cnt"] for p in doc["cost"]["programs"]}
    assert 0 < timing["clock_reads"] <= runs["st_switch"]
    assert 0 < timing["clock_calibrations"] <= runs["st_wakeup"] + runs["st_wakeup_new"]


@pytest.mark.parametrize("argv, needle", [
    (["--clock", "tsc", "--", "true"], "--clock: 'tsc' is not ktime, rq, kernel or both"),
    (["--wake-sample", "0", "--", "true"], "--wake-sample: '0' is not in 1..1048576"),
    (["--clock", "kernel", "--wake-sample", "4", "--", "true"],
     "--wake-sample needs --clock ktime"),
])
def test_bad_timing_options(argv, needle):
    if not TRACER.exists():
        pytest.skip("build/schedtrace not built")
    p = subprocess.run([str(TRACER), *argv], capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and needle in p.stderr and p.stderr.count("\n") == 1
