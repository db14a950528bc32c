"""External peers (peers.py, peer_exec.py): config checks, perf's output
parsed into a workload-shaped record, and whole runs with a fake perf on
PATH (pinning, skips, failures, timeouts), then one real perf run when perf
is installed. The fake prints the real format, copied from
`perf bench sched pipe -T -l 1000` on this machine
(data/perf-bench-sched-pipe-T-l1000.txt)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import write_config
from harness.run import catalog as run_catalog
from harness.run import config, matrix, peers
from harness.records import record, rundir
from harness.analyse import reproduce
from harness.cli import main
from harness.run.runner import ProcessRunner

DATA = Path(__file__).resolve().parent / "data"
GOLDEN = (DATA / "perf-bench-sched-pipe-T-l1000.txt").read_text()
PEER = "perf-bench-sched-pipe"
PERF = peers.PEERS[PEER]

FAKE_PERF = r'''#!/usr/bin/python3
# A stand-in for perf: prints perf bench sched pipe's real output format.
import json, os, sys, time
args = sys.argv[1:]
with open({log!r}, "a") as f:
    f.write(json.dumps({{"argv": args,
                        "cpus": sorted(os.sched_getaffinity(0))}}) + "\n")
mode = os.environ.get("FAKE_PERF_MODE", "ok")
if args[:3] != ["bench", "sched", "pipe"]:
    print("fake perf: only bench sched pipe", file=sys.stderr)
    sys.exit(129)
if mode == "unsupported":
    print("Unknown collection: 'sched'", file=sys.stderr)
    sys.exit(1)
if mode == "fail":
    print("fake perf: pipe: Too many open files", file=sys.stderr)
    sys.exit(1)
if mode == "hang":
    time.sleep(1000)
loops = int(args[args.index("-l") + 1])
between = "threads" if "-T" in args else "processes"
usecs = 6.5
if mode == "garbled":
    print("# Running 'sched/pipe' benchmark:")
    sys.exit(0)
print("# Running 'sched/pipe' benchmark:")
print(f"# Executed {{loops}} pipe operations between two {{between}}\n")
print(f"     Total time: {{usecs * loops / 1e6:.3f}} [sec]\n")
print(f"     {{usecs:14f}} usecs/op")
print(f"     {{int(1e6 / usecs):14d}} ops/sec")
'''


@pytest.fixture
def fake_perf(tmp_path, monkeypatch):
    """A perf on PATH (and only it: no other perf is found); its calls go to .log."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    perf = bindir / "perf"
    log = tmp_path / "perf.log"
    perf.write_text(FAKE_PERF.format(log=str(log)))
    perf.chmod(perf.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bindir}:/usr/bin:/bin")
    monkeypatch.delenv("FAKE_PERF_MODE", raising=False)
    return perf


def perf_calls(fake_perf) -> list[dict]:
    """The bench runs (sysinfo also asks the fake for its --version)."""
    log = fake_perf.parent.parent / "perf.log"
    calls = [json.loads(ln) for ln in log.read_text().splitlines()]
    return [c for c in calls if c["argv"][:1] == ["bench"]]


def check(line):
    assert record.schema_errors(line, "line") == []
    if line["record"] is not None:
        assert record.schema_errors(line["record"], "record") == []


def run_config(tmp_path, fake_workload, body, code=0):
    cfg = write_config(tmp_path, f'[run]\nworkload = "{fake_workload}"\nseed = 1\n' + body)
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as e:
        main(["run", str(cfg), "--out", str(out)], runner=ProcessRunner(cwd=tmp_path,
                                                                        grace_s=0.5))
    assert e.value.code == code
    lines, problems = record.load(out / "records.jsonl")
    assert problems == []
    for ln in lines:
        check(ln)
    return out, lines


PEER_EXP = """
[[experiment]]
task = "perfbench"
repetitions = 2
params = { loops = 3000, cpus = "0" }
"""


# ---- config ------------------------------------------------------------------

def listing():
    from conftest import CATALOG
    return run_catalog.Listing(run_catalog.with_peers(CATALOG))


def test_peer_experiment_parses_and_expands(tmp_path):
    cfg = config.load(write_config(tmp_path, PEER_EXP))
    exp, = cfg.experiments
    assert (exp.task, exp.name, exp.models) == ("perfbench", "perfbench", None)
    config.check_catalog(cfg, listing())
    cells = matrix.expand(cfg, listing())
    assert [c.id for c in cells] == ["perfbench/threads/loops=3000,cpus=0"]
    assert cells[0].repetitions == 2
    assert peers.serving("perfbench", "threads") is PERF
    assert peers.serving("pingpong", "threads") is None


@pytest.mark.parametrize("body, needle", [
    ('task = "perfbenc"', "unknown task 'perfbenc'; valid tasks: "),
    ('task = "perfbench"\nmodels = ["coro"]',
     "unknown model 'coro'; valid models: threads, processes"),
    ('task = "perfbench"\nparams = { iterations = 5 }',
     "unknown parameter 'iterations' for perf-bench-sched-pipe (perfbench/threads); "
     "valid: loops, cpus"),
    ('task = "perfbench"\nparams = { loops = 0 }', "out of range"),
    ('task = "perfbench"\nparams = { cpus = "zero" }', "CPUs the peer"),
    ('task = "pingpong"\nmodels = ["go"]\nparams = { placement = "same" }',
     "unknown parameter 'placement' for go-pingpong (pingpong/go)"),
])
def test_bad_peer_config(tmp_path, body, needle):
    with pytest.raises(config.ConfigError) as e:
        cfg = config.load(write_config(tmp_path, "[[experiment]]\n" + body + "\n"))
        config.check_catalog(cfg, listing())
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_unknown_task_exits_2_listing_the_peers_tasks(tmp_path, fake_runner, capsys):
    p = write_config(tmp_path, '[[experiment]]\ntask = "hackbench"\n')
    with pytest.raises(SystemExit) as e:
        main(["run", str(p), "--out", str(tmp_path / "o")], runner=fake_runner)
    assert e.value.code == 2
    assert "perfbench" in capsys.readouterr().err
    assert fake_runner.calls == []


def test_config_schema_accepts_peer_and_events():
    import tomllib
    doc = tomllib.loads(PEER_EXP + '[[experiment]]\ntask = "pingpong"\nprobes = ["sched"]\n'
                        'events = true\n')
    assert record.schema_errors(doc, "config") == []


# ---- parsing perf's output ---------------------------------------------------------

def shim_line(code=0):
    return json.dumps({"peer_exec": {"schema": 1, "cpus": "0", "exit_status": code, "usage": {
        "wall_ns": 9, "user_ns": 1, "sys_ns": 2, "max_rss_bytes": 4096,
        "voluntary_switches": 5, "involuntary_switches": 6}}}) + "\n"


def test_golden_output_becomes_a_workload_shaped_record():
    rec = peers.make_record(PERF, "threads", {"loops": 1000, "cpus": "0"}, 0,
                            GOLDEN + shim_line(), "")
    assert record.schema_errors(rec, "record") == []
    assert (rec["task"], rec["model"], rec["status"], rec["reason"]) == \
        ("perfbench", "threads", "ok", None)
    assert rec["params"] == {"loops": 1000, "cpus": "0"}
    m = rec["metrics"]
    usecs = float(next(ln.split()[0] for ln in GOLDEN.splitlines() if "usecs/op" in ln))
    assert m["round_trip_ns"] == pytest.approx(usecs * 1000)
    assert m["handoff_ns"] == pytest.approx(m["round_trip_ns"] / 2)
    assert (m["round_trips"], m["handoffs"]) == (1000, 2000)
    assert rec["usage"]["voluntary_switches"] == 5 and rec["usage"]["sys_ns"] == 2


@pytest.mark.parametrize("model, params, stdout, code, stderr, status, needle", [
    ("threads", {"loops": 999}, GOLDEN, 0, "", "failed", "perf ran 1000 loops, 999"),
    ("processes", {"loops": 1000}, GOLDEN, 0, "", "failed", "between two threads"),
    ("threads", {"loops": 1000}, "# Running\n", 0, "", "failed", "usecs/op"),
    ("threads", {}, "", 1, "Unknown collection: 'sched'\n", "skipped",
     "perf cannot run perf-bench-sched-pipe here: Unknown collection"),
    ("threads", {}, "", 129, "  Error: unknown option `T'\n", "skipped", "unknown option"),
    ("threads", {}, "", 1, "pipe: Too many open files\n", "failed",
     "exit status 1: pipe: Too many open files"),
    ("threads", {}, "", 77, "peer_exec: cpus 7: CPU 7 is not available here\n", "skipped",
     "CPU 7 is not available"),
    ("threads", {}, "", -9, "", "failed", "killed by signal 9"),
])
def test_output_problems(model, params, stdout, code, stderr, status, needle):
    rec = peers.make_record(PERF, model, params, code, stdout, stderr)
    assert rec["status"] == status and needle in rec["reason"]
    assert record.schema_errors(rec, "record") == []


def test_defaults_fill_the_record_params():
    rec = peers.record(PERF, "threads", {}, "skipped", "no perf")
    assert rec["params"] == {"loops": 1000000, "cpus": ""}


def test_command_is_the_shim_then_perf():
    cmd = peers.command(PERF, "threads", {"loops": 5, "cpus": "1"}, "/x/perf", python="py")
    assert cmd == ["py", str(peers.PEER_EXEC), "--cpus", "1", "--", "/x/perf", "bench",
                   "sched", "pipe", "-T", "-l", "5"]
    assert peers.command(PERF, "processes", {}, "perf", python="py")[2:] == \
        ["--", "perf", "bench", "sched", "pipe", "-l", "1000000"]


# ---- the shim ---------------------------------------------------------------------

def shim(*argv, timeout=30):
    return subprocess.run([sys.executable, str(peers.PEER_EXEC), *argv],
                          capture_output=True, text=True, timeout=timeout)


def test_shim_pins_and_reports_usage():
    probe = "import os; print(sorted(os.sched_getaffinity(0)))"
    p = shim("--cpus", "0", "--", sys.executable, "-c", probe)
    assert p.returncode == 0, p.stderr
    own, doc = peers.split_shim(p.stdout)
    assert own.strip() == "[0]"
    assert doc["exit_status"] == 0 and doc["cpus"] == "0"
    assert set(doc["usage"]) == set(peers.USAGE_KEYS)
    assert doc["usage"]["wall_ns"] > 0 and doc["usage"]["max_rss_bytes"] > 0


def test_shim_passes_exit_status_and_signals():
    assert shim("--", "sh", "-c", "exit 3").returncode == 3
    p = shim("--", "sh", "-c", "kill -TERM $$")
    assert p.returncode == -15
    assert peers.split_shim(p.stdout)[1]["exit_status"] == -15


@pytest.mark.parametrize("argv, code, needle", [
    (["--cpus", "0,,1", "--", "true"], 2, "not a CPU list"),
    (["--cpus", "3-1", "--", "true"], 2, "runs backwards"),
    (["--cpus", str(os.cpu_count() + 64), "--", "true"], 77, "not available here"),
    (["true"], 2, "usage"),
    (["--", "/nonexistent/perf"], 127, "cannot start"),
])
def test_shim_bad_input(argv, code, needle):
    p = shim(*argv)
    assert p.returncode == code and needle in p.stderr


# ---- whole runs with the fake perf ---------------------------------------------------

def test_run_with_fake_perf(tmp_path, fake_workload, fake_perf):
    body = PEER_EXP + ('[[experiment]]\ntask = "pingpong"\nmodels = ["threads"]\n'
                       'repetitions = 2\nparams = { placement = "same", channel = "pipe" }\n')
    out, lines = run_config(tmp_path, fake_workload, body)
    mine = [ln for ln in lines if ln["task"] == "perfbench"]
    assert sorted(ln["repetition"] for ln in mine) == [0, 1]
    for ln in mine:
        assert ln["status"] == "ok" and ln["peer"] == PEER
        assert ln["cell"] == "perfbench/threads/loops=3000,cpus=0"
        assert ln["command"] == [sys.executable, str(peers.PEER_EXEC), "--cpus", "0", "--",
                                 str(fake_perf), "bench", "sched", "pipe", "-T", "-l", "3000"]
        m = ln["record"]["metrics"]
        assert m["round_trip_ns"] == 6500.0 and m["handoff_ns"] == 3250.0
        assert m["round_trips"] == 3000
    calls = perf_calls(fake_perf)
    assert len(calls) == 2 and all(c["cpus"] == [0] for c in calls)
    # the peer and the task interleave in one run, and the report's
    # reproduction reads the peer as its reference figure
    specs, _ = reproduce.load_specs()
    spec = [s for s in specs if s["id"] == "perf-bench-pipe"]
    cells = rundir.load_run(out).cells()
    row = reproduce.evaluate(spec, cells)[0]["rows"][0]
    assert row["reference"] == pytest.approx(3250.0)
    assert row["measured"]["value"] == pytest.approx(2000.0)   # conftest's fake handoff
    assert row["ratio"] == pytest.approx(2000.0 / 3250.0)


def test_unpinned_peer_passes_no_cpus(tmp_path, fake_workload, fake_perf):
    _, lines = run_config(tmp_path, fake_workload, '[[experiment]]\ntask = "perfbench"'
                          '\nrepetitions = 1\nmodels = ["processes"]\nparams = { loops = 7 }\n')
    ln, = lines
    assert ln["status"] == "ok" and ln["model"] == "processes"
    assert "--cpus" not in ln["command"] and "-T" not in ln["command"]
    assert perf_calls(fake_perf)[0]["cpus"] == sorted(os.sched_getaffinity(0))


@pytest.mark.parametrize("mode, code, status, needle", [
    ("unsupported", 0, "skipped", "Unknown collection"),
    ("fail", 1, "failed", "Too many open files"),
    ("garbled", 1, "failed", "usecs/op"),
])
def test_fake_perf_problems(tmp_path, fake_workload, fake_perf, monkeypatch, mode, code,
                            status, needle):
    monkeypatch.setenv("FAKE_PERF_MODE", mode)
    body = PEER_EXP.replace("repetitions = 2", "repetitions = 1")
    _, lines = run_config(tmp_path, fake_workload, body, code)
    ln, = lines
    assert ln["status"] == status and needle in ln["reason"]
    assert needle in ln["record"]["reason"]


def test_fake_perf_timeout(tmp_path, fake_workload, fake_perf, monkeypatch):
    monkeypatch.setenv("FAKE_PERF_MODE", "hang")
    body = PEER_EXP.replace("repetitions = 2", "repetitions = 1\ntimeout_s = 0.5")
    _, lines = run_config(tmp_path, fake_workload, body, 1)
    ln, = lines
    assert ln["status"] == "timeout" and ln["record"] is None


def test_no_perf_is_skipped_without_running(tmp_path, fake_workload, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    # the fake workload is started by path; only perf must be missing from PATH
    monkeypatch.setenv("PATH", str(empty))
    _, lines = run_config(tmp_path, fake_workload, PEER_EXP)
    assert len(lines) == 2
    for ln in lines:
        assert ln["status"] == "skipped" and ln["exit_status"] is None
        assert "perf not found" in ln["reason"] and "perf not found" in ln["record"]["reason"]
        # the command it would have run, perf by name
        assert ln["command"][4:] == ["--", "perf", "bench", "sched", "pipe", "-T", "-l", "3000"]


# ---- a real perf --------------------------------------------------------------------

@pytest.mark.skipif(shutil.which("perf") is None, reason="perf not installed (linux-perf)")
def test_real_perf_bench(tmp_path, fake_workload):
    body = PEER_EXP.replace("repetitions = 2", "repetitions = 1").replace("3000", "2000")
    _, lines = run_config(tmp_path, fake_workload, body)
    ln, = lines
    if ln["status"] == "skipped":
        pytest.skip(f"perf bench not usable here: {ln['reason']}")
    assert ln["status"] == "ok", ln["reason"]
    m, usage = ln["record"]["metrics"], ln["record"]["usage"]
    assert m["round_trips"] == 2000 and m["handoffs"] == 4000
    assert m["handoff_ns"] == pytest.approx(m["round_trip_ns"] / 2)
    assert m["round_trip_ns"] > 0
    # Each round trip makes both threads wait on a pipe once: at least one
    # switch per round trip, whichever kind.
    assert usage["voluntary_switches"] + usage["involuntary_switches"] >= 2000
    assert usage["user_ns"] + usage["sys_ns"] > 0
