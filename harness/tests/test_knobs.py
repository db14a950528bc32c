"""The kernel's knobs as parameters (policy, priority, nice, slice_us, and
preempt's hog_*): refused combinations exit 2 with one line; what the kernel
applied is read back into the record per thread role; not permitted here is
a skip (77) with the reason, tested as an unprivileged user; a real-time hog
that never yields stops at hog_ms."""
import json
import os
import pwd
import resource
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKLOAD = Path(os.environ.get("SCHEDLAB_BUILD", ROOT / "build")) / "workload"

pytestmark = pytest.mark.skipif(not WORKLOAD.exists(),
                                reason="build/workload is not built: run `make build`")


def run(*args, timeout=60, **kw):
    return subprocess.run([str(WORKLOAD), *args], capture_output=True, text=True,
                          timeout=timeout, **kw)


def record(out):
    return json.loads(out.stdout)


def need_root():
    if os.geteuid() != 0:
        pytest.skip("needs root")


@pytest.mark.parametrize("args, needle", [
    (["--policy", "deadline"], "--policy deadline: expected one of other|batch|idle|fifo|rr"),
    (["--priority", "5"], "--priority 5 with policy other: a real-time priority needs"),
    (["--policy", "idle", "--priority", "5"], "--priority 5 with policy idle"),
    (["--policy", "fifo", "--priority", "0"], "--priority 0 with policy fifo: expected 1..99"),
    (["--policy", "rr", "--priority", "100"], "--priority 100: expected an integer in 0..99"),
    (["--policy", "fifo", "--nice", "3"], "--nice with policy fifo"),
    (["--policy", "rr", "--slice_us", "300"], "--slice_us with policy rr"),
    (["--policy", "idle", "--nice", "1"], "--nice with policy idle"),
    (["--nice", "20"], "--nice 20: expected an integer in -20..19"),
    (["--nice", "-21"], "--nice -21: expected an integer in -20..19"),
    (["--nice", "1x"], "--nice 1x"),
    (["--slice_us", "50"], "--slice_us 50: expected 0 (the kernel's) or 100..100000 us"),
    (["--slice_us", "100001"], "--slice_us 100001: expected an integer in 0..100000"),
])
def test_bad_knobs_exit_2_with_one_line(args, needle):
    out = run("pingpong", "--iterations", "10", *args)
    assert out.returncode == 2, out.stderr
    assert out.stdout == ""
    assert needle in out.stderr
    assert out.stderr.count("\n") == 1


@pytest.mark.parametrize("args, needle", [
    (["--hog_policy", "other", "--hog_priority", "3"], "--hog_priority 3 with policy other"),
    (["--policy", "fifo", "--hog_nice", "2"], "--hog_nice with policy fifo"),
    (["--hog_policy", "rr", "--hog_slice_us", "200"], "--hog_slice_us with policy rr"),
    (["--hog_slice_us", "20"], "--hog_slice_us 20: expected 0"),
    (["--hog_policy", "sometimes"], "expected one of same|other|batch|idle|fifo|rr"),
])
def test_bad_hog_knobs_exit_2(args, needle):
    out = run("preempt", "--hog_ms", "10", *args)
    assert out.returncode == 2, out.stderr
    assert needle in out.stderr


def test_list_declares_the_knobs():
    listing = json.loads(run("--list").stdout)
    for task in listing["tasks"]:
        specs = {p["key"]: p for p in task["params"]}
        assert specs["policy"]["choices"] == ["other", "batch", "idle", "fifo", "rr"]
        assert specs["nice"]["type"] == "i64"
        assert (specs["nice"]["min"], specs["nice"]["max"]) == (-20, 19)
        assert {"priority", "slice_us"} <= specs.keys()
    preempt = next(t for t in listing["tasks"] if t["name"] == "preempt")
    assert {"hog_policy", "hog_priority", "hog_nice", "hog_slice_us"} <= {
        p["key"] for p in preempt["params"]}


def test_fair_knobs_read_back_without_privilege():
    # raising nice and choosing a slice need no privilege
    out = run("pingpong", "--iterations", "1000", "--policy", "batch", "--nice", "5",
              "--slice_us", "300")
    if out.returncode == 77:
        pytest.skip(record(out)["reason"])
    assert out.returncode == 0, out.stderr
    m = record(out)["metrics"]
    assert (m["sched_policy"], m["sched_nice"], m["sched_slice_ns"]) == ("batch", 5, 300000)
    assert record(out)["params"]["nice"] == 5


@pytest.mark.root
def test_preempt_reads_back_each_role():
    need_root()
    out = run("preempt", "--model", "threads", "--policy", "fifo", "--priority", "10",
              "--hog_policy", "other", "--hog_nice", "3", "--hog_ms", "200", "--hogs", "1")
    assert out.returncode == 0, out.stderr
    r = record(out)
    m = r["metrics"]
    assert (m["sched_ticks_policy"], m["sched_ticks_priority"]) == ("fifo", 10)
    assert (m["sched_hog_policy"], m["sched_hog_priority"], m["sched_hog_nice"]) == (
        "other", 0, 3)
    assert m["sched_rt_runtime_us"] != 0 and m["sched_rt_period_us"] > 0
    assert m["rttime_limit_us"] == (200 + 1000) * 1000


@pytest.mark.root
@pytest.mark.parametrize("model", ["coro", "uring"])
def test_hog_knobs_on_a_shared_thread_skip(model):
    need_root()
    out = run("preempt", "--model", model, "--policy", "fifo", "--hog_policy", "other",
              "--hog_ms", "50")
    assert out.returncode == 77, out.stderr
    assert "shared thread" in record(out)["reason"]


@pytest.mark.root
@pytest.mark.parametrize("model", ["threads", "coro", "uring"])
def test_hog_following_the_ticks_runs_under_every_model(model):
    need_root()
    out = run("preempt", "--model", model, "--policy", "rr", "--priority", "4",
              "--hog_ms", "100")
    assert out.returncode in (0, 77), out.stderr
    if out.returncode == 77:
        pytest.skip(record(out)["reason"])
    m = record(out)["metrics"]
    # the hog defaults to the ticks' policy and priority
    assert (m["sched_hog_policy"], m["sched_hog_priority"]) == ("rr", 4)
    assert (m["sched_ticks_policy"], m["sched_ticks_priority"]) == ("rr", 4)


def unprivileged():
    """preexec for a child that runs as nobody without capabilities, with
    RLIMIT_RTPRIO and RLIMIT_NICE at 0 (what an ordinary login gets)."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root to drop to an unprivileged user (setpriv)")
    try:
        pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user 'nobody' here")

    def limits():
        resource.setrlimit(resource.RLIMIT_RTPRIO, (0, 0))
        resource.setrlimit(resource.RLIMIT_NICE, (0, 0))
    return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
            "--inh-caps=-all", "--bounding-set=-all"], limits


@pytest.mark.root
@pytest.mark.parametrize("args, needle", [
    (["pingpong", "--iterations", "10", "--policy", "fifo"], "RLIMIT_RTPRIO"),
    (["pingpong", "--iterations", "10", "--policy", "rr", "--priority", "50"], "RLIMIT_RTPRIO"),
    (["pingpong", "--iterations", "10", "--nice", "-5"], "RLIMIT_NICE"),
    (["preempt", "--model", "threads", "--hog_policy", "fifo", "--hog_ms", "50"],
     "RLIMIT_RTPRIO"),
])
def test_not_permitted_is_a_skip(args, needle):
    prefix, limits = unprivileged()
    out = subprocess.run([*prefix, str(WORKLOAD), *args], capture_output=True, text=True,
                         timeout=60, preexec_fn=limits)
    assert out.returncode == 77, out.stderr
    r = record(out)
    assert r["status"] == "skipped"
    assert needle in r["reason"] and "not permitted" in r["reason"]


@pytest.mark.root
def test_fifo_hog_cannot_outlive_hog_ms():
    """A never-yielding hog at a real-time priority above the ticks, on the
    ticks' CPU, stops at t0 + hog_ms by its own deadline; RLIMIT_RTTIME would
    kill it 1 s of CPU later. The ticks starve meanwhile: the hog really ran
    above them."""
    need_root()
    hog_ms = 300
    out = run("preempt", "--model", "threads", "--cpus", "0", "--hog_policy", "fifo",
              "--hog_priority", "50", "--hog_yield_us", "0", "--hogs", "1",
              "--hog_ms", str(hog_ms), timeout=30)
    assert out.returncode == 0, out.stderr
    m = record(out)["metrics"]
    assert (m["sched_hog_policy"], m["sched_hog_priority"]) == ("fifo", 50)
    assert m["sched_ticks_policy"] == "other"
    assert m["rttime_limit_us"] == (hog_ms + 1000) * 1000
    assert m["window_ns"] >= hog_ms * 1_000_000
    # beyond the RLIMIT_RTTIME margin the kernel would have killed it
    assert m["window_ns"] < (hog_ms + 1000) * 1_000_000
    assert m["missed_ticks"] > 0


@pytest.mark.root
def test_rt_priority_not_given_runs_and_is_recorded_at_1():
    need_root()
    out = run("pingpong", "--iterations", "100", "--policy", "fifo")
    assert out.returncode == 0, out.stderr
    r = record(out)
    assert r["params"]["priority"] == 1 and r["metrics"]["sched_priority"] == 1
    assert run("pingpong", "--iterations", "100").stdout.count('"priority":0') == 1


# ---- a knob not given keeps what the process inherited ---------------------------------------
# These read the kernel's answer against a source the workload cannot echo: a
# record that stated the request (nice 0, slice 0) instead of sched_getattr's
# answer, or a workload that applied the defaults anyway, fails them.

def kernel_slice_ns() -> int:
    """The slice a fresh process without a custom one runs with (se.slice in
    /proc/PID/sched, Linux 6.12+), read from a process of its own."""
    out = subprocess.run(["cat", "/proc/self/sched"], capture_output=True, text=True)
    for line in out.stdout.splitlines():
        if line.startswith("se.slice"):
            return int(line.split(":")[1])
    pytest.skip("/proc/self/sched has no se.slice here (before Linux 6.12)")


def test_no_slice_given_records_the_kernels_slice():
    out = run("compute", "--model", "threads", "--work_units", "2")
    assert out.returncode == 0, out.stderr
    r = record(out)
    assert r["params"]["slice_us"] == 0            # nothing was asked ...
    assert r["metrics"]["sched_slice_ns"] == kernel_slice_ns() > 0   # ... the kernel's is said


def at_nice(n):
    return lambda: os.nice(n - os.nice(0))


def test_inherited_nice_is_kept_and_recorded():
    out = run("compute", "--model", "threads", "--work_units", "2", preexec_fn=at_nice(19))
    assert out.returncode == 0, out.stderr
    r = record(out)
    assert r["metrics"]["sched_nice"] == 19
    assert r["params"]["nice"] == 19                # the params are as run


def test_inherited_nice_reaches_every_role():
    out = run("preempt", "--model", "threads", "--hog_ms", "50", "--hog_nice", "19",
              preexec_fn=at_nice(10))
    assert out.returncode == 0, out.stderr
    m = record(out)["metrics"]
    assert (m["sched_ticks_nice"], m["sched_hog_nice"]) == (10, 19)


def test_given_knob_keeps_the_inherited_others():
    out = run("compute", "--model", "threads", "--work_units", "2", "--slice_us", "300",
              preexec_fn=at_nice(7))
    assert out.returncode == 0, out.stderr
    m = record(out)["metrics"]
    assert (m["sched_nice"], m["sched_slice_ns"]) == (7, 300_000)


@pytest.mark.root
def test_inherited_nice_runs_as_an_unprivileged_user():
    """`nice -n 19 build/workload ...` as an ordinary user: nothing asks for a
    lower nice, so nothing is refused."""
    prefix, limits = unprivileged()

    def nice_and_limits():
        limits()
        os.nice(19 - os.nice(0))
    out = subprocess.run([*prefix, str(WORKLOAD), "compute", "--model", "threads",
                          "--work_units", "2"], capture_output=True, text=True,
                         timeout=60, preexec_fn=nice_and_limits)
    if out.returncode in (126, 127):
        pytest.skip(f"user nobody cannot run {WORKLOAD}: {out.stderr.strip()}")
    assert out.returncode == 0, out.stderr
    assert record(out)["metrics"]["sched_nice"] == 19


@pytest.mark.root
def test_rt_hogs_beside_fair_ticks_record_the_rt_throttling():
    need_root()
    out = run("preempt", "--model", "threads", "--hog_policy", "fifo", "--hog_ms", "50")
    assert out.returncode == 0, out.stderr
    m = record(out)["metrics"]
    want = int(Path("/proc/sys/kernel/sched_rt_runtime_us").read_text())
    assert m["sched_ticks_policy"] == "other" and m["sched_hog_policy"] == "fifo"
    assert m["sched_rt_runtime_us"] == want


# ---- --check: the rules a config check and the run share ---------------------------------------

@pytest.mark.parametrize("args, needle", [
    (["compute", "--model", "threads", "--policy", "fifo", "--priority", "0"], "--priority 0"),
    (["compute", "--model", "threads", "--slice_us", "50"], "--slice_us 50"),
    (["compute", "--model", "threads", "--priority", "3"], "policy other"),
    (["compute", "--model", "threads", "--policy", "fifo", "--nice", "2"], "--nice with policy"),
    (["preempt", "--model", "threads", "--tick_work_us", "1000", "--period_us", "1000"],
     "tick_work_us (1000) must be < period_us (1000)"),
    (["compute", "--model", "threads", "--cpus", str(os.cpu_count() + 8)],
     "not every CPU is available"),
    (["compute", "--model", "mn", "--cpus", "0", "--mn_workers", "2"], "mn_workers=2"),
])
def test_check_refuses_what_the_run_refuses(args, needle):
    check = run("--check", *args)
    assert check.returncode == 2 and check.stdout == ""
    assert needle in check.stderr and check.stderr.count("\n") == 1
    assert run(*args).stderr == check.stderr


def test_check_runs_nothing():
    out = run("--check", "preempt", "--model", "threads", "--hog_ms", "100000")
    assert (out.returncode, out.stdout, out.stderr) == (0, "", "")


def test_check_lines_answers_each_line_in_order():
    lines = ["compute\t--model\tthreads\t--work_units\t2",
             "compute\t--model\tthreads\t--policy\tfifo\t--priority\t0",
             "compute\t--model\tthreads\t--seed\t1\t--seed\t2",
             "preempt\t--model\tthreads\t--tick_work_us\t5\t--period_us\t5",
             "compute\t--model\tthreads\t--cpus\t"]
    out = subprocess.run([str(WORKLOAD), "--check", "-"], input="\n".join(lines) + "\n",
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    answers = out.stdout.splitlines()
    assert len(answers) == len(lines)
    assert answers[0] == "ok" and answers[4] == "ok"       # an empty value is a value
    assert "--priority 0 with policy fifo" in answers[1]
    assert "--seed given twice" in answers[2]
    assert "tick_work_us (5) must be < period_us (5)" in answers[3]
    # the same words as one command line give the same line
    assert run("--check", *lines[3].split("\t")).stderr.strip() == answers[3]
