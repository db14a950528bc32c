"""The deadlock task through build/workload, under every model, with and
without yield_between: the record is ok and self-consistent, the process
exits 0 and leaves nothing behind, whether or not the run deadlocked.
The only time bound is the hang guard (the subprocess timeout)."""
import json
import os
import subprocess
from pathlib import Path

import pytest

from builtworkload import NEEDS_WORKLOAD, SCHEMA, WORKLOAD, listing, need_model

MODELS = ["threads", "coro", "uring", "mn"]
ONE_THREAD = {"coro", "uring"}  # every coroutine on one thread
HANG_S = 60

pytestmark = NEEDS_WORKLOAD


def run_cell(model, *args):
    """Runs one cell in a session of its own; returns (exit status, stdout,
    stderr) once the process is gone, and checks nothing of it is left."""
    need_model(model)
    cmd = [str(WORKLOAD), "deadlock", "--model", model, *map(str, args)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=HANG_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        proc.communicate()
        pytest.fail(f"{cmd} hung for {HANG_S} s")
    # The session's leader was reaped: no thread or child of it remains.
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)
    assert not Path(f"/proc/{proc.pid}").exists()
    return proc.returncode, out, err


def record_of(model, *args):
    code, out, err = run_cell(model, *args)
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 1, out
    rec = json.loads(lines[0])
    if SCHEMA.exists():
        jsonschema = pytest.importorskip("jsonschema")
        jsonschema.validate(rec, json.loads(SCHEMA.read_text()))
    assert rec["task"] == "deadlock" and rec["model"] == model
    assert rec["status"] == "ok" and rec["reason"] is None, rec
    m = rec["metrics"]
    assert m["deadlocked"] in (0, 1)
    assert m["rounds"] == rec["params"]["rounds"]
    assert 0 <= m["rounds_done"] <= m["rounds"]
    assert m["deadlocked"] == (m["rounds_done"] < m["rounds"])
    assert 2 * m["rounds_done"] <= m["rounds_done_total"] <= 2 * m["rounds"]
    assert m["deadlocked"] == (m["rounds_done_total"] < 2 * m["rounds"])
    assert m["detected_by"] in (("runtime", "watchdog") if m["deadlocked"] else ("none",))
    return rec


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("yield_between", [False, True])
def test_never_hangs_and_says_what_happened(model, yield_between):
    rec = record_of(model, "--rounds", 20000, "--stall_ms", 20,
                    "--yield_between", str(yield_between).lower())
    m = rec["metrics"]
    if model in ONE_THREAD:
        # without the yield nothing runs between the two locks; with it the
        # first round deadlocks, and the scheduler is the one to see it
        assert m["deadlocked"] == int(yield_between)
        if yield_between:
            assert m["rounds_done"] == 0 and m["detected_by"] == "runtime"
            assert m[f"{model}_parked"] == 3  # both workers and the joiner
        else:
            assert m[f"{model}_parked"] == 0


@pytest.mark.parametrize("cpus", ["0", "0-1"])
def test_threads_deadlock_found_by_the_watchdog(cpus):
    if len(os.sched_getaffinity(0)) < 2 and cpus == "0-1":
        pytest.skip("needs 2 CPUs")
    # yield_between makes a deadlock of threads very likely, not certain:
    # whichever way it goes, the record must say so consistently.
    rec = record_of("threads", "--rounds", 20000, "--stall_ms", 20, "--cpus", cpus,
                    "--yield_between", "true")
    m = rec["metrics"]
    if m["deadlocked"]:
        assert m["detected_by"] == "watchdog"
        # the record went out without joining the blocked threads
        assert "threads_spawned" not in m


@pytest.mark.parametrize("args, names", [
    (["--stall_ms", 0], "stall_ms"),
    (["--rounds", 0], "rounds"),
    (["--yield_between", "maybe"], "yield_between"),
    (["--window_iters", "x"], "window_iters"),
])
def test_bad_input_exits_2_with_one_line(args, names):
    code, out, err = run_cell("threads", *args)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and names in err


def test_listed_with_its_parameters():
    task = next(t for t in listing()["tasks"] if t["name"] == "deadlock")
    keys = {p["key"] for p in task["params"]}
    assert {"rounds", "yield_between", "stall_ms", "window_iters"} <= keys
