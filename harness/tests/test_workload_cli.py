"""The workload binary's command-line contract (docs/design.md): --list, flag
spellings, exit codes 0/1/2/77, one JSON record on stdout."""
import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKLOAD = Path(os.environ.get("SCHEDLAB_BUILD", ROOT / "build")) / "workload"

pytestmark = pytest.mark.skipif(not WORKLOAD.exists(),
                                reason="build/workload is not built: run `make build`")


def run(*args, timeout=60):
    return subprocess.run([str(WORKLOAD), *args], capture_output=True, text=True,
                          timeout=timeout)


def test_list_describes_every_task_and_model():
    out = run("--list")
    assert out.returncode == 0
    listing = json.loads(out.stdout)
    names = {t["name"] for t in listing["tasks"]}
    assert {"pingpong", "spawn"} <= names
    assert [m["name"] for m in listing["models"]] == ["threads", "coro", "uring", "mn"]
    for task in listing["tasks"]:
        keys = {p["key"] for p in task["params"]}
        assert {"cpus", "seed", "warmup"} <= keys, task["name"]
        for p in task["params"]:
            assert p["help"], (task["name"], p["key"])
            if p["type"] in ("u64", "count") and p["default"] != "auto":
                assert p["min"] <= int(p["default"]) <= p["max"], (task["name"], p["key"])


@pytest.mark.parametrize("args, needle", [
    (["nosuchtask"], "unknown task 'nosuchtask': valid tasks are pingpong"),
    (["pingpong", "--model", "fibers"], "unknown model 'fibers': valid models are threads"),
    (["pingpong", "--nosuch", "1"], "unknown parameter --nosuch"),
    (["pingpong", "--iterations", "0"], "--iterations 0: expected an integer in 1.."),
    (["pingpong", "--iterations", "-5"], "--iterations -5"),
    (["pingpong", "--iterations", "12abc"], "--iterations 12abc"),
    (["pingpong", "--channel", "smoke"], "expected one of event|pipe"),
    (["pingpong", "--iterations"], "needs a value"),
    (["pingpong", "--cpus", "0-x"], "bad CPU list"),
    (["pingpong", "--cpus", "1000"], "not every CPU is available"),
    (["pingpong", "stray"], "unexpected argument 'stray'"),
    # one value, one spelling: a sign or a blank would split a cell in two
    (["pingpong", "--iterations", "+5"], "--iterations +5: expected an integer"),
    (["pingpong", "--iterations", " 5"], "--iterations  5: expected an integer"),
    (["pingpong", "--nice", "+1"], "--nice +1: expected an integer"),
    (["pingpong", "--model", "mn", "--mn_workers", " 2"], "expected auto or a count in 1..64"),
    (["pingpong", "--model", "mn", "--mn_workers", "+2"], "expected auto or a count in 1..64"),
    (["pingpong", "--model", "mn", "--mn_workers", "0"], "expected auto or a count in 1..64"),
    (["pingpong", "--seed", "1", "--seed", "2"], "--seed given twice (1, then 2)"),
    (["pingpong", "--seed", "1", "--seed=2"], "--seed given twice"),
    (["pingpong", "--hog-ms", "1"], "unknown parameter --hog_ms"),
    (["pingpong", "--iterations", "5", "--iterations", "5"], "--iterations given twice"),
    (["pingpong", "--model", "coro", "--model", "threads"], "--model given twice"),
])
def test_bad_input_exits_2_with_one_line_and_no_record(args, needle):
    out = run(*args)
    assert out.returncode == 2, out.stderr
    assert needle in out.stderr
    assert out.stdout == ""
    assert len(out.stderr.strip().splitlines()) == 1


def test_models_declare_traits_the_report_and_tests_read():
    models = json.loads(run("--list").stdout)["models"]
    traits = {m["name"]: m["traits"] for m in models}
    # one place and one colour each, so a figure never shows two as one
    assert len({t["order"] for t in traits.values()}) == len(traits)
    assert len({t["colour"] for t in traits.values()}) == len(traits)
    # a one-thread runtime's scheduler holds every task, so it sees a deadlock
    assert all(t["sees_deadlocks"] for t in traits.values() if t["one_thread"])


@pytest.mark.parametrize("given, recorded", [("auto", None), ("01", 1), ("1", 1)])
def test_a_count_or_auto_is_recorded_resolved_under_its_own_name(given, recorded):
    out = run("pingpong", "--model", "mn", "--cpus", "0", "--iterations", "100",
              "--mn_workers", given)
    assert out.returncode == 0, out.stderr
    rec = json.loads(out.stdout)
    # auto on one CPU is one worker; the record never holds the text "auto"
    assert rec["params"]["mn_workers"] == (recorded or 1)
    assert "mn_workers" not in rec["metrics"]


def test_dashed_and_underscored_spellings_are_the_same_parameter():
    a = run("spawn", "--model", "threads", "--tasks", "10", "--stack-bytes", "65536")
    b = run("spawn", "--model", "threads", "--tasks", "10", "--stack_bytes", "65536")
    for out in (a, b):
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["params"]["stack_bytes"] == 65536


def test_pingpong_threads_record_is_consistent():
    out = run("pingpong", "--model", "threads", "--iterations", "2000", "--cpus", "0")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 1
    rec = json.loads(lines[0])
    assert rec["status"] == "ok" and rec["reason"] is None
    assert rec["params"]["iterations"] == 2000
    assert rec["params"]["placement"] == "same"
    m = rec["metrics"]
    assert m["handoffs"] == 4000
    assert m["handoff_ns"] == pytest.approx(m["window_ns"] / m["handoffs"])
    assert rec["usage"]["wall_ns"] >= m["window_ns"]
    # every hand-off under threads blocks one thread: at least one switch each
    assert m["window_voluntary_switches"] + m["window_involuntary_switches"] >= 4000 - 2


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="placement=split needs 2 CPUs")
def test_split_placement_pins_two_cpus():
    out = run("pingpong", "--model", "threads", "--placement", "split", "--iterations", "500")
    rec = json.loads(out.stdout)
    assert out.returncode == 0, out.stderr
    assert rec["metrics"]["cpu_a"] != rec["metrics"]["cpu_b"]


def test_split_on_one_cpu_is_bad_input():
    out = run("pingpong", "--model", "threads", "--placement", "split", "--cpus", "0")
    assert out.returncode == 2
    assert "needs at least 2 CPUs" in out.stderr


def test_spawn_threads_counts_and_memory():
    out = run("spawn", "--model", "threads", "--tasks", "200")
    assert out.returncode == 0, out.stderr
    m = json.loads(out.stdout)["metrics"]
    assert m["tasks"] == 200
    assert m["threads_spawned"] == 200
    assert m["user_bytes_per_task"] > 0
    assert m["create_ns"] >= m["spawn_call_ns"]


def test_spawn_names_the_limit_that_stopped_it():
    """Threads stop at a kernel limit: the cell fails (exit 1), keeps what
    it reached, names the limit, and restores every sysctl it raised."""
    import resource

    def small_address_space():
        resource.setrlimit(resource.RLIMIT_AS, (300 << 20, 300 << 20))

    out = subprocess.run([str(WORKLOAD), "spawn", "--model", "threads", "--tasks", "100000"],
                         capture_output=True, text=True, timeout=120,
                         preexec_fn=small_address_space)
    assert out.returncode == 1, out.stderr
    rec = json.loads(out.stdout)
    assert rec["status"] == "failed"
    assert rec["metrics"]["limit_hit"] == "RLIMIT_AS (address space)"
    assert 0 < rec["metrics"]["tasks"] < 100000
    assert "RLIMIT_AS" in rec["reason"] and "spawn stopped at" in rec["reason"]
    assert all(limit["restored"] for limit in rec["limits"])


@pytest.mark.parametrize("model", ["coro", "uring"])
@pytest.mark.parametrize("stack", ["guarded", "unguarded", "shared"])
def test_spawn_stack_kinds_need_no_map_count_raise(model, stack):
    out = run("spawn", "--model", model, "--tasks", "40000", "--stack", stack)
    assert out.returncode == 0, out.stderr
    rec = json.loads(out.stdout)
    metrics = rec["metrics"]
    assert rec["params"]["stack"] == stack
    assert metrics[f"{model}_stack"] == stack
    assert metrics["tasks"] == 40000
    guard = metrics[f"{model}_stack_guard"]
    assert guard in ({"none"} if stack == "unguarded" else {"madv_guard_install", "mprotect"})
    if guard != "mprotect":
        # 40,000 stacks with mprotect guards would need 80,000 maps
        assert rec["limits"] == []
    if stack == "shared":
        # no stack of its own: less than the one page an own stack touches
        assert 0 < metrics["user_bytes_per_task"] < 4096
        assert metrics[f"{model}_stack_copies"] > 0
    else:
        assert metrics["user_bytes_per_task"] >= 4096   # one touched stack page at least
        assert metrics[f"{model}_stack_copies"] == 0


def test_stack_is_refused_clearly():
    out = run("spawn", "--model", "threads", "--stack", "shared")
    assert out.returncode == 2
    assert "--stack is a parameter of the models coro, uring" in out.stderr
    assert out.stderr.strip().endswith("not of threads")
    out = run("spawn", "--model", "coro", "--stack", "copied")
    assert out.returncode == 2
    assert "--stack copied: expected one of guarded|unguarded|shared" in out.stderr
