"""The share of a run's CPUs that went to other work (harness/run/interference.py):
the /proc/stat arithmetic on fixed texts, and one real run pinned to CPU 0
beside a busy loop pinned there too."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from builtworkload import NEEDS_WORKLOAD  # noqa: E402

from harness.run import interference as itf  # noqa: E402
from harness.run.interference import Snapshot  # noqa: E402

# user nice system idle iowait irq softirq steal guest guest_nice
BEFORE = """cpu  300 0 100 1000 0 0 0 0 0 0
cpu0 100 0 50 500 7 0 0 0 0 0
cpu1 200 0 50 500 0 0 0 0 0 0
intr 1 2 3
"""
# 1 s later at 100 ticks/s: cpu0 busy 80 ticks (60 user, 10 irq+softirq,
# 10 steal; 5 iowait and 20 guest ticks, inside user, count for nothing);
# cpu1 busy 100 ticks.
AFTER = """cpu  460 0 110 1020 5 5 5 10 20 0
cpu0 160 0 50 520 12 5 5 10 20 0
cpu1 300 0 50 500 0 0 0 0 0 0
intr 1 2 3
"""


def snap(text, self_s, children_s, at_s):
    return Snapshot(itf.busy_ticks(text), "", self_s, children_s, at_s)


def test_busy_ticks_counts_user_nice_system_irq_softirq_steal_per_cpu():
    assert itf.busy_ticks(BEFORE) == {0: 150, 1: 250}
    assert itf.busy_ticks(AFTER) == {0: 230, 1: 350}
    # an old kernel's four-field line still parses
    assert itf.busy_ticks("cpu0 1 2 3 4\n") == {0: 6}
    with pytest.raises(ValueError):
        itf.busy_ticks("cpu0 1 x 3 4\n")
    with pytest.raises(ValueError):
        itf.busy_ticks("intr 1 2\n")


def test_share_is_busy_minus_own_over_cpus_times_wall():
    before, after = snap(BEFORE, 1.0, 2.0, 10.0), snap(AFTER, 1.1, 2.3, 11.0)
    # CPU 0 alone: 0.8 busy - (0.3 children + 0.1 self) = 0.4 of 1 CPU-second
    m = itf.measure(before, after, (0,), 100)
    assert m["others_share"] == pytest.approx(0.4)
    assert m["cpus"] == "0" and m["method"] == "proc_stat" and m["resolution_s"] == 0.01
    assert m["busy_s"] == pytest.approx(0.8) and m["own_s"] == pytest.approx(0.4)
    # both CPUs: 1.8 - 0.4 over 2 CPU-seconds
    assert itf.measure(before, after, (0, 1), 100)["others_share"] == pytest.approx(0.7)
    # CPU 1 alone
    assert itf.measure(before, after, (1,), 100)["others_share"] == pytest.approx(0.6)


def test_share_is_clamped_to_zero_and_one():
    before = snap(BEFORE, 0.0, 0.0, 0.0)
    # own time above the busy ticks (truncation, or work on another CPU): 0, not negative
    assert itf.measure(before, snap(AFTER, 0.0, 5.0, 1.0), (0,), 100)["others_share"] == 0.0
    # busy ticks over a wall time shorter than they can be (clock skew): at most 1
    assert itf.measure(before, snap(AFTER, 0.0, 0.0, 0.1), (0,), 100)["others_share"] == 1.0


def test_unreadable_or_missing_cpus_give_a_reason_and_no_share():
    before = snap(BEFORE, 0.0, 0.0, 0.0)
    gone = Snapshot(None, "cannot read /proc/stat: Permission denied", 0.0, 0.0, 1.0)
    m = itf.measure(before, gone, (0,), 100)
    assert "others_share" not in m and "Permission denied" in m["unavailable"]
    m = itf.measure(before, snap(AFTER, 0.0, 0.0, 1.0), (0, 3), 100)
    assert "others_share" not in m and "CPU 3" in m["unavailable"]
    s = itf.snapshot("/nonexistent/stat")
    assert s.busy_ticks is None and "/nonexistent/stat" in s.why_not


def test_run_cpus_is_the_union_of_the_cells_cpu_parameters():
    assert itf.run_cpus({"cpus": "0", "client_cpus": "1"}) == (0, 1)
    assert itf.run_cpus({"cpus": "0-1", "workers": 2}) == (0, 1)
    assert itf.run_cpus({}) == tuple(sorted(os.sched_getaffinity(0)))


def test_a_real_snapshot_reads_this_machines_cpus():
    s = itf.snapshot()
    assert s.busy_ticks and set(os.sched_getaffinity(0)) <= set(s.busy_ticks)


# ---- a real run beside a busy loop ----------------------------------------------

PINNED_TO_CPU0 = """
[[experiment]]
task = "compute"
models = ["threads"]
params = { workers = 1, work_units = 1500, cpus = "0" }
"""
# At nice -10 the loop weighs about 9 times the run (EEVDF shares by weight),
# so it takes about 90% of CPU 0 whatever lag either starts with; at equal
# weight a short run got as little as 24% of it to others (seen here).
BUSY_LOOP_ON_CPU0 = ("import os\nos.sched_setaffinity(0, {0})\n"
                     "os.setpriority(os.PRIO_PROCESS, 0, -10)\nwhile True:\n    pass\n")


@NEEDS_WORKLOAD
def test_a_busy_loop_on_the_runs_cpu_is_recorded_as_interference(tmp_path):
    """A CPU-bound cell pinned to CPU 0 while a busy loop at nice -10, also
    pinned to CPU 0, takes about 90% of it: others_share well above 0.3. The
    same cell alone is only checked for a share in [0, 1]: other jobs share
    this machine."""
    from test_events import one_real_run
    if 0 not in os.sched_getaffinity(0):
        pytest.skip("CPU 0 is not in this process's affinity")
    if os.geteuid() != 0:
        pytest.skip("the busy loop's nice -10 needs root")
    (tmp_path / "alone").mkdir()
    (tmp_path / "loaded").mkdir()
    _, alone = one_real_run(tmp_path / "alone", PINNED_TO_CPU0)
    assert alone["interference"]["cpus"] == "0"
    assert 0.0 <= alone["interference"]["others_share"] <= 1.0
    loop = subprocess.Popen([sys.executable, "-c", BUSY_LOOP_ON_CPU0])
    try:
        _, loaded = one_real_run(tmp_path / "loaded", PINNED_TO_CPU0)
    finally:
        loop.kill()
        loop.wait()
    got = loaded["interference"]
    assert got["cpus"] == "0" and got["others_share"] > 0.3, json.dumps(got)
