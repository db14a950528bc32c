"""runner.py and `schedlab run`: real processes through fake_workload, and
main() with a FakeRunner that spawns nothing."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import REPO, FakeRunner, write_config
from harness.run import cells, matrix, probes, runner
from harness.records import record
from harness.cli import main
from harness.run.config import parse
from harness.run.catalog import with_peers
from harness.run.cells import ProcResult
from harness.run.runner import ProcessRunner

NO_TOOLS = probes.Tools("build/schedtrace", "not built", "perf", "no perf")


def fake_cell(behave="ok", timeout_s=30.0, sleep_ms=0, model="threads", probes_=()):
    params = (("behave", behave), ("sleep_ms", sleep_ms))
    return matrix.CellPlan(id=matrix.cell_id("fake", model, params), experiment="fake",
                           task="fake", model=model, params=params, probes=probes_,
                           repetitions=1, timeout_s=timeout_s)


def run_one(fake_workload, tmp_path, cell, grace_s=0.5):
    rnr = ProcessRunner(cwd=tmp_path, grace_s=grace_s)
    kind = cells.WorkloadCells(str(fake_workload))
    cmd = kind.command(cell)
    res = rnr.run(cmd, cell.timeout_s)
    return res, runner.make_line(matrix.RunPlan(cell, 0), cmd, tmp_path, runner.utc_now(), res,
                                 {}, {}, 1, kind.outcome(cell, res))


def check_line(line):
    assert record.schema_errors(line, "line") == []


def test_ok_run(fake_workload, tmp_path):
    res, line = run_one(fake_workload, tmp_path, fake_cell())
    assert res.exit_status == 0 and not res.timed_out
    assert line["status"] == "ok" and line["reason"] is None
    assert line["record"]["task"] == "fake"
    assert line["command"][1:] == ["fake", "--model", "threads", "--behave", "ok",
                                   "--sleep_ms", "0"]
    assert line["stderr_tail"] == "fake: running fake under threads"
    check_line(line)


def test_failed_run_keeps_record_reason(fake_workload, tmp_path):
    _, line = run_one(fake_workload, tmp_path, fake_cell("fail"))
    assert line["status"] == "failed" and line["exit_status"] == 1
    assert line["reason"] == "exit status 1: the server died"
    assert "fake: the server died" in line["stderr_tail"]
    check_line(line)


def test_skipped_run(fake_workload, tmp_path):
    _, line = run_one(fake_workload, tmp_path, fake_cell("skip"))
    assert line["status"] == "skipped" and line["exit_status"] == 77
    assert line["reason"] == "needs a unicorn"
    check_line(line)


def test_crash_is_recorded_with_signal_and_stderr_tail(fake_workload, tmp_path):
    _, line = run_one(fake_workload, tmp_path, fake_cell("crash"))
    assert line["status"] == "failed"
    assert line["exit_status"] == -signal.SIGABRT
    assert line["reason"].startswith("killed by SIGABRT")
    assert line["record"] is None
    assert "fake: about to abort" in line["stderr_tail"]
    check_line(line)


def test_exit_0_without_record_is_a_failure(fake_workload, tmp_path):
    _, line = run_one(fake_workload, tmp_path, fake_cell("norecord"))
    assert line["status"] == "failed" and "no JSON record" in line["reason"]


# The timeouts leave the fake (a Python script) time to start and print, or
# to install its SIGTERM handler, even on a loaded machine: 0.5 s was not.
def test_timeout_sigterm(fake_workload, tmp_path):
    t0 = time.monotonic()
    res, line = run_one(fake_workload, tmp_path, fake_cell("hang", timeout_s=3))
    assert time.monotonic() - t0 < 20
    assert res.timed_out and res.exit_status == -signal.SIGTERM
    assert line["status"] == "timeout" and "timed out after 3s" in line["reason"]
    assert "fake: hanging" in line["stderr_tail"]
    check_line(line)


def test_timeout_sigkill_when_sigterm_ignored(fake_workload, tmp_path):
    res, line = run_one(fake_workload, tmp_path, fake_cell("stubborn", timeout_s=3),
                        grace_s=0.3)
    assert res.timed_out and res.exit_status == -signal.SIGKILL
    assert line["status"] == "timeout"


def test_cannot_start(tmp_path):
    res = ProcessRunner(cwd=tmp_path).run([str(tmp_path / "nope")], 1)
    assert res.exit_status is None and "cannot start" in res.error
    status, why = cells.classify(res, None, 1)
    assert status is cells.Status.FAILED and why == res.error


def test_capture(tmp_path, fake_workload):
    rnr = ProcessRunner(cwd=tmp_path)
    assert json.loads(rnr.capture([str(fake_workload), "--list"]))["schema"] == 1
    assert rnr.capture([str(tmp_path / "missing")]) is None
    assert rnr.capture(["false"]) is None


def test_stderr_tail_is_bounded():
    text = "".join(f"line {i}\n" for i in range(100))
    tail = runner.stderr_tail(text)
    assert tail.splitlines() == [f"line {i}" for i in range(80, 100)]
    assert len(runner.stderr_tail("x" * 10000)) == runner.STDERR_TAIL_BYTES


def test_parse_record_takes_last_json_line():
    assert cells.parse_record('noise\n{"a": 1}\n') == {"a": 1}
    assert cells.parse_record("") is None
    assert cells.parse_record('{"a": \n') is None


# ---- whole runs through main() ----------------------------------------------

SMALL = """
[run]
repetitions = 3
seed = 5
workload = "{workload}"
[[experiment]]
task = "pingpong"
models = ["threads", "coro"]
params = {{ channel = ["event", "pipe"], iterations = 100 }}
"""


def small_config(tmp_path, workload="build/workload", extra=""):
    return write_config(tmp_path, SMALL.format(workload=workload) + extra)


def read_lines(d):
    lines, problems = record.load(d / "records.jsonl")
    assert problems == []
    return lines


def test_run_writes_everything(tmp_path, fake_runner, capsys):
    cfg = small_config(tmp_path)
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as e:
        main(["run", str(cfg), "--out", str(out)], runner=fake_runner)
    assert e.value.code == 0
    lines = read_lines(out)
    assert len(lines) == 4 * 3 == len(fake_runner.calls)
    assert {(ln["cell"], ln["repetition"]) for ln in lines} == \
        {(c, r) for c in {ln["cell"] for ln in lines} for r in range(3)}
    for ln in lines:
        check_line(ln)
        assert ln["run_seed"] == 5 and ln["status"] == "ok"
        assert ln["command"][0] == "build/workload"
    assert (out / "config.toml").read_text() == cfg.read_text()
    meta = json.loads((out / "run.json").read_text())
    assert meta["seed"] == 5 and meta["planned_runs"] == 12
    env = json.loads((out / "env.json").read_text())
    assert env["config"]["sha256"] == meta["config_sha256"]
    assert json.loads((out / "catalog.json").read_text()) == with_peers(fake_runner.catalog)
    assert "done: 12 ok" in capsys.readouterr().err


def test_order_follows_the_seed(tmp_path):
    cfg = small_config(tmp_path)
    orders = []
    for seed in (1, 1, 2):
        fr = FakeRunner(tmp_path)
        with pytest.raises(SystemExit):
            main(["run", str(cfg), "--seed", str(seed), "--out",
                  str(tmp_path / f"o{len(orders)}")], runner=fr)
        orders.append([" ".join(c) for c in fr.calls])
    assert orders[0] == orders[1] != orders[2]


def test_failure_and_timeout_exit_1_but_every_record_written(tmp_path):
    def behave(task, model, params, n):
        if model == "coro" and params["channel"] == "pipe":
            return ProcResult(1, "", "boom\n", 0.1)
        if n == 2:
            return ProcResult(-15, "", "slow\n", 0.1, timed_out=True)
        if model == "threads" and params["channel"] == "pipe":
            return ProcResult(77, "", "workload: no pipes here\n", 0.1)
        return None
    fr = FakeRunner(tmp_path, behave=behave)
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as e:
        main(["run", str(small_config(tmp_path)), "--out", str(out)], runner=fr)
    assert e.value.code == 1
    lines = read_lines(out)
    assert len(lines) == 12
    by = {}
    for ln in lines:
        by.setdefault(ln["status"], []).append(ln)
        check_line(ln)
    assert len(by["failed"]) == 3 and by["failed"][0]["reason"] == "exit status 1: boom"
    assert len(by["timeout"]) == 1
    assert all(ln["reason"] == "workload: no pipes here" for ln in by["skipped"])


def test_skipped_only_exits_0(tmp_path):
    fr = FakeRunner(tmp_path, behave=lambda *a: ProcResult(77, "", "nope\n", 0.1))
    with pytest.raises(SystemExit) as e:
        main(["run", str(small_config(tmp_path)), "--out", str(tmp_path / "r")], runner=fr)
    assert e.value.code == 0


def test_only_and_dry_run(tmp_path, fake_runner, capsys):
    cfg = small_config(tmp_path)
    with pytest.raises(SystemExit) as e:
        main(["run", str(cfg), "--dry-run", "--only", "model=coro"], runner=fake_runner)
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "pingpong/coro/channel=event,iterations=100" in out
    assert "pingpong/threads" not in out
    assert "$ build/workload pingpong --model coro --channel pipe --iterations 100" in out
    assert "2 cells, 6 runs: about 18s" in out
    assert fake_runner.calls == []
    with pytest.raises(SystemExit) as e:
        main(["run", str(cfg), "--only", "model=fibers"], runner=fake_runner)
    assert e.value.code == 2


def test_dry_run_estimate_uses_previous_runs(tmp_path, fake_runner, capsys):
    cfg = small_config(tmp_path)
    results = tmp_path / "results"
    with pytest.raises(SystemExit):
        main(["run", str(cfg), "--out", str(results / "a")], runner=fake_runner)
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["run", str(cfg), "--dry-run"], runner=fake_runner)
    out = capsys.readouterr().out
    assert "(previous runs)" in out and "default guess" not in out


def test_default_dir_and_latest_link(tmp_path, fake_runner):
    with pytest.raises(SystemExit) as e:
        main(["run", str(small_config(tmp_path)), "--only", "model=coro,channel=pipe"],
             runner=fake_runner)
    assert e.value.code == 0
    latest = tmp_path / "results" / "latest"
    assert latest.is_symlink()
    assert len(read_lines(latest)) == 3


def test_out_refuses_an_existing_run(tmp_path, fake_runner, capsys):
    cfg = small_config(tmp_path)
    out = tmp_path / "r"
    with pytest.raises(SystemExit):
        main(["run", str(cfg), "--out", str(out)], runner=fake_runner)
    with pytest.raises(SystemExit) as e:
        main(["run", str(cfg), "--out", str(out)], runner=fake_runner)
    assert e.value.code == 2 and "--resume" in capsys.readouterr().err


def test_ctrl_c_keeps_records_and_resume_finishes_exactly_once(tmp_path, capsys):
    def behave(task, model, params, n):
        if n == 5:
            raise KeyboardInterrupt
    cfg = small_config(tmp_path)
    out = tmp_path / "r"
    with pytest.raises(SystemExit) as e:
        main(["run", str(cfg), "--out", str(out)], runner=FakeRunner(tmp_path, behave=behave))
    assert e.value.code == 130
    err = capsys.readouterr().err
    assert f"./schedlab run --resume {out}" in err
    assert len(read_lines(out)) == 4
    fr = FakeRunner(tmp_path)
    with pytest.raises(SystemExit) as e:
        main(["run", "--resume", str(out)], runner=fr)
    assert e.value.code == 0
    lines = read_lines(out)
    keys = [(ln["cell"], ln["repetition"]) for ln in lines]
    assert len(keys) == len(set(keys)) == 12
    assert len(fr.calls) == 8
    meta = json.loads((out / "run.json").read_text())
    assert len(meta["resumes"]) == 1


def test_resume_rejects_a_different_config(tmp_path, fake_runner, capsys):
    cfg = small_config(tmp_path)
    out = tmp_path / "r"
    with pytest.raises(SystemExit):
        main(["run", str(cfg), "--out", str(out)], runner=fake_runner)
    other = write_config(tmp_path, cfg.read_text() + "\n# changed\n", "other.toml")
    with pytest.raises(SystemExit) as e:
        main(["run", str(other), "--resume", str(out)], runner=fake_runner)
    assert e.value.code == 2 and "differs" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["run", "--resume", str(tmp_path / "nothing")], runner=fake_runner)
    assert e.value.code == 2


def test_resume_rewrites_a_truncated_last_line(tmp_path, fake_runner):
    cfg = small_config(tmp_path)
    out = tmp_path / "r"
    with pytest.raises(SystemExit):
        main(["run", str(cfg), "--out", str(out)], runner=fake_runner)
    recs = out / "records.jsonl"
    text = recs.read_text().splitlines(keepends=True)
    # keep 5 complete lines and half of the sixth, as a kill mid-write would
    recs.write_text("".join(text[:5]) + text[5][:40])
    fr = FakeRunner(tmp_path)
    with pytest.raises(SystemExit) as e:
        main(["run", "--resume", str(out)], runner=fr)
    assert e.value.code == 0
    keys = [(ln["cell"], ln["repetition"]) for ln in read_lines(out)]
    assert len(keys) == len(set(keys)) == 12 and len(fr.calls) == 7


def test_warmup_runs_are_discarded(tmp_path, fake_runner):
    cfg = small_config(tmp_path)
    cfg.write_text(cfg.read_text().replace("seed = 5", "seed = 5\nwarmup_runs = 1\n"
                                                       "cooldown_s = 0.25"))
    out = tmp_path / "r"
    with pytest.raises(SystemExit) as e:
        main(["run", str(cfg), "--out", str(out)], runner=fake_runner)
    assert e.value.code == 0
    assert len(read_lines(out)) == 12
    warm, _ = record.load(out / "warmup.jsonl")
    assert len(warm) == 4 and all("warmup_index" in w for w in warm)
    assert len(fake_runner.calls) == 16
    # the first four calls are the warm-up round, one per cell
    assert len({" ".join(c) for c in fake_runner.calls[:4]}) == 4
    assert fake_runner.slept == [0.25] * 15


def test_probe_wrapping_in_lines(tmp_path, fake_runner):
    cfg = small_config(tmp_path, extra='probes = ["perf", "sched"]\n')
    out = tmp_path / "r"
    with pytest.raises(SystemExit):
        main(["run", str(cfg), "--out", str(out), "--only", "model=coro,channel=event"],
             runner=fake_runner)
    for ln in read_lines(out):
        check_line(ln)
        # no build/schedtrace under tmp_path: sched is skipped with the reason
        assert "not built" in ln["probes_skipped"]["sched"]
        # perf is wrapped when installed; the fake runner does not run it, so
        # it wrote no file: skipped either way, with the reason
        assert "perf" in ln["probes_skipped"]
        if shutil.which("perf"):
            assert ln["command"][1:4] == ["stat", "-x,", "-e"]
            i = ln["command"].index("build/workload")
            assert ln["command"][i - 1] == "--"
        else:
            assert ln["command"][0] == "build/workload"


def test_list(tmp_path, fake_runner, capsys):
    with pytest.raises(SystemExit) as e:
        main(["list"], runner=fake_runner)
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "pingpong" in out and "--iterations" in out and "threads" in out
    with pytest.raises(SystemExit) as e:
        main(["list", "--json"], runner=fake_runner)
    assert json.loads(capsys.readouterr().out)["schema"] == 1
    with pytest.raises(SystemExit) as e:
        main([], runner=fake_runner)
    assert e.value.code == 2


# ---- a real interruption: kill a run midway, resume it ------------------------

def test_kill_midway_then_resume_runs_every_cell_once(tmp_path, fake_workload):
    cfg = write_config(tmp_path, f"""
        [run]
        repetitions = 2
        seed = 3
        workload = "{fake_workload}"
        [[experiment]]
        task = "fake"
        models = ["threads", "coro"]
        params = {{ sleep_ms = 150, behave = "ok" }}
        [[experiment]]
        task = "pingpong"
        models = ["threads", "coro", "uring"]
        params = {{ iterations = [1, 2] }}
        """)
    out = tmp_path / "r"
    proc = subprocess.Popen([sys.executable, "-m", "harness", "run", str(cfg), "--out",
                             str(out)], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    recs = out / "records.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if recs.exists() and recs.read_text().count("\n") >= 3:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT if os.name == "posix" else signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()
    assert b"--resume" in err
    done_before = len(read_lines(out))
    assert 3 <= done_before < 16
    with pytest.raises(SystemExit) as e:
        main(["run", "--resume", str(out)], runner=ProcessRunner(cwd=tmp_path))
    assert e.value.code == 0
    keys = [(ln["cell"], ln["repetition"]) for ln in read_lines(out)]
    assert len(keys) == len(set(keys)) == 16
    # the workload log shows no run of a done (cell, repetition) twice: 16 runs plus
    # at most the one interrupted mid-way, and --list calls
    runs = [ln for ln in (tmp_path / "fake_workload.log").read_text().splitlines()
            if ln != "--list"]
    assert 16 <= len(runs) <= 17


def test_execute_directly_counts(tmp_path):
    cfg = parse(SMALL.format(workload="w"), tmp_path / "c.toml")
    cells = matrix.expand(cfg)
    runs = matrix.order(cells, 1)
    d = tmp_path / "d"
    d.mkdir()
    o = runner.execute(runs, d, "w", NO_TOOLS, FakeRunner(tmp_path), 1)
    assert (o.exit_code, o.ran, o.skipped_done) == (0, 12, 0)
    o = runner.execute(runs, d, "w", NO_TOOLS, FakeRunner(tmp_path), 1)
    assert (o.exit_code, o.ran, o.skipped_done) == (0, 0, 12)
    assert o.statuses == {"ok": 12}


def test_launcher_dry_run(tmp_path, fake_workload):
    cfg = small_config(tmp_path, workload=str(fake_workload))
    p = subprocess.run([str(REPO / "schedlab"), "run", str(cfg), "--dry-run"],
                       capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "4 cells, 12 runs" in p.stdout


# ---- one run per results directory ---------------------------------------------

def test_a_directory_in_use_refuses_a_second_run_and_a_dead_ones_lock_does_not(
        tmp_path, fake_workload, capsys):
    cfg = write_config(tmp_path, f"""
        [run]
        repetitions = 4
        seed = 3
        workload = "{fake_workload}"
        [[experiment]]
        task = "fake"
        models = ["threads", "coro"]
        params = {{ sleep_ms = 200, behave = "ok" }}
        """)
    out = tmp_path / "r"
    first = subprocess.Popen([sys.executable, "-m", "harness", "run", str(cfg), "--out",
                              str(out)], cwd=REPO, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    recs = out / "records.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not recs.exists():
        time.sleep(0.02)
    assert recs.exists(), "the first run wrote no record"
    try:
        for argv in (["run", "--resume", str(out)], ["run", str(cfg), "--out", str(out)]):
            with pytest.raises(SystemExit) as e:
                main(argv, runner=ProcessRunner(cwd=tmp_path))
            assert e.value.code == 2
            err = capsys.readouterr().err.strip().splitlines()
            assert err == [f"schedlab: {out} is in use by another schedlab run "
                           f"(pid {first.pid}); wait for it to finish, or stop it and resume"]
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=60)
    assert first.returncode == 130
    # The dead run's .lock is still there, naming it; it does not block.
    assert (out / ".lock").read_text().strip() == str(first.pid)
    with pytest.raises(SystemExit) as e:
        main(["run", "--resume", str(out)], runner=ProcessRunner(cwd=tmp_path))
    assert e.value.code == 0
    keys = [(ln["cell"], ln["repetition"]) for ln in read_lines(out)]
    assert len(keys) == len(set(keys)) == 8
    assert (out / ".lock").read_text().strip() == str(os.getpid())
