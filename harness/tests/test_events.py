"""events = true: the config rule, the runner passing schedtrace --events for
measured runs and naming the stream in the line, and end to end (root, BTF,
built tracer and workload) a real pingpong run whose stream `./schedlab
trace` turns into a Perfetto document consistent with the tracer's counts."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import LISTING, REPO, FakeRunner, write_config
from harness.run import config, matrix, probes, runner
from harness.records import record
from harness.analyse import timelines, trace
from harness.cli import main, run_main
from harness.run.runner import ProcessRunner

TRACER = REPO / "build" / "schedtrace"
WORKLOAD = REPO / "build" / "workload"
TOOLS = probes.Tools("st", None, "perf", "no perf")          # a tracer that "works"
NO_TRACER = probes.Tools("st", "st not built", "perf", "no perf")

EVENTS_EXP = """
[[experiment]]
task = "pingpong"
models = ["threads"]
probes = ["sched"]
events = true
params = { iterations = 2000, placement = "same" }
"""


# ---- config -------------------------------------------------------------------

NO_WRITER = "events = true needs a probe that writes the event stream (sched or uring or usdt)"


@pytest.mark.parametrize("body, needle", [
    ('task = "pingpong"\nevents = true', NO_WRITER),
    ('task = "pingpong"\nprobes = ["perf"]\nevents = true', NO_WRITER),
    ('task = "pingpong"\nprobes = ["sched"]\nevents = "yes"', "events must be true or false"),
])
def test_events_config_errors(tmp_path, body, needle):
    with pytest.raises(config.ConfigError) as e:
        config.load(write_config(tmp_path, "[[experiment]]\n" + body + "\n"))
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_events_without_sched_exits_2(tmp_path, fake_runner, capsys):
    p = write_config(tmp_path, '[[experiment]]\ntask = "pingpong"\nevents = true\n')
    with pytest.raises(SystemExit) as e:
        main(["run", str(p), "--out", str(tmp_path / "o")], runner=fake_runner)
    assert e.value.code == 2
    assert "events" in capsys.readouterr().err
    assert fake_runner.calls == []


def test_events_with_run_level_sched_probe(tmp_path):
    cfg = config.load(write_config(tmp_path, '[run]\nprobes = ["sched"]\n[[experiment]]\n'
                                             'task = "pingpong"\nevents = true\n'))
    assert cfg.experiments[0].events
    assert all(c.events for c in matrix.expand(cfg, LISTING))


def test_duplicate_cell_with_different_events_is_an_error(tmp_path):
    cfg = config.load(write_config(tmp_path, EVENTS_EXP + EVENTS_EXP.replace(
        "events = true", "events = false")))
    with pytest.raises(config.ConfigError, match="different probes or events"):
        matrix.expand(cfg, LISTING)


# ---- wrapping and lines ------------------------------------------------------------

def test_wrap_passes_events_to_the_tracer(tmp_path):
    w = probes.wrap(["wl"], ("sched", "perf"), TOOLS, tmp_path, "c.r0", events=True)
    i = w.command.index("--events")
    assert w.command[i + 1] == str(tmp_path / "c.r0.events") == str(w.events)
    assert w.command[:3] == ["st", "--json", str(tmp_path / "c.r0.schedtrace.json")]
    assert w.command[-1] == "wl"
    w = probes.wrap(["wl"], ("sched",), NO_TRACER, tmp_path, "c.r0", events=True)
    assert w.command == ["wl"] and w.skipped["events"] == "st not built"
    assert "--events" not in probes.wrap(["wl"], ("sched",), TOOLS, tmp_path, "c").command


def _writes_events(calls_log: list):
    """A FakeRunner behaviour that writes the event file schedtrace would."""
    def behave(task, model, params, n):
        argv = calls_log[-1]
        if "--events" in argv:
            Path(argv[argv.index("--events") + 1]).write_bytes(b"SCHEDEVT" + bytes(16))
        return None
    return behave


def test_lines_name_the_event_stream(tmp_path):
    cfg = config.parse("[run]\nwarmup_runs = 1\nrepetitions = 2\n" + EVENTS_EXP,
                       tmp_path / "c.toml")
    cells = matrix.expand(cfg, LISTING)
    d = tmp_path / "run"
    d.mkdir()
    fr = FakeRunner(tmp_path)
    fr.behave = _writes_events(fr.calls)
    out = runner.execute(matrix.order(cells, 1, warmup_runs=1), d, "wl", TOOLS, fr, 1)
    assert out.exit_code == 0
    # the warm-up run carries no --events; the measured ones do
    assert ["--events" in c for c in fr.calls] == [False, True, True]
    lines, problems = record.load(d / "records.jsonl")
    assert problems == []
    for ln in lines:
        assert record.schema_errors(ln, "line") == []
        name = f"pingpong_threads_iterations=2000_placement=same.r{ln['repetition']}.events"
        assert ln["events"] == f"traces/{name}"
        assert "events" not in ln["probes_skipped"]
        assert trace.find_events_file(d, ln) == d / "traces" / name
    assert not list((d / "traces").glob("*.w1.events"))


def test_missing_stream_is_reported(tmp_path):
    cfg = config.parse(EVENTS_EXP, tmp_path / "c.toml")
    d = tmp_path / "run"
    d.mkdir()
    runner.execute(matrix.order(matrix.expand(cfg, LISTING), 1), d, "wl", TOOLS,
                   FakeRunner(tmp_path), 1)
    lines, _ = record.load(d / "records.jsonl")
    for ln in lines:
        assert "events" not in ln
        assert "wrote no event stream" in ln["probes_skipped"]["events"]


def test_no_tracer_skips_events_with_reason(tmp_path):
    cfg = config.parse(EVENTS_EXP, tmp_path / "c.toml")
    d = tmp_path / "run"
    d.mkdir()
    fr = FakeRunner(tmp_path)
    runner.execute(matrix.order(matrix.expand(cfg, LISTING), 1), d, "wl", NO_TRACER, fr, 1)
    lines, _ = record.load(d / "records.jsonl")
    assert all(ln["probes_skipped"]["events"] == "st not built" for ln in lines)
    assert all("--events" not in c for c in fr.calls)


# ---- end to end: real tracer, real workload, ./schedlab trace ------------------------

def _why_not() -> str | None:
    if os.geteuid() != 0:
        return "needs root (CAP_BPF and CAP_PERFMON)"
    if not Path("/sys/kernel/btf/vmlinux").exists():
        return "needs kernel BTF (/sys/kernel/btf/vmlinux)"
    for p in (TRACER, WORKLOAD):
        if not p.exists():
            return f"{p} not built: run make"
    return None


@pytest.mark.root
@pytest.mark.bpf
@pytest.mark.skipif(_why_not() is not None, reason=str(_why_not()))
def test_events_end_to_end_to_perfetto(tmp_path):
    out, ln = one_real_run(tmp_path, EVENTS_EXP)
    assert record.schema_errors(ln, "line") == []
    cell = "pingpong/threads/iterations=2000,placement=same"
    assert ln["events"] == "traces/pingpong_threads_iterations=2000_placement=same.r0.events"
    assert (out / ln["events"]).stat().st_size > 0
    perfetto = tmp_path / "trace.json"
    p = subprocess.run([str(REPO / "schedlab"), "trace", str(out), "--cell", cell, "--rep", "0",
                        "--perfetto", str(perfetto)], capture_output=True, text=True,
                       timeout=120, cwd=REPO)
    assert p.returncode == 0, p.stderr
    doc = json.loads(perfetto.read_text())
    assert record.schema_errors(doc, "chrome-trace") == []
    assert trace.improper(doc) == [] and trace.overlaps_per_cpu(doc) == []
    # The timeline agrees with the tracer's own counts: one run segment per
    # switch of each workload thread (the last one may be closed at the end).
    st = ln["probes"]["schedtrace"]
    assert st["lost"]["events"] == 0
    proc, = [pr for pr in st["processes"] if pr["tgid"] == st["tgid"]]
    # Only the traced processes, named by their comm with the id in brackets.
    traced = {pr["tgid"] for pr in st["processes"]}
    assert {ev["pid"] for ev in doc["traceEvents"]} <= traced
    names = {(ev["name"], ev["tid"]): ev["args"]["name"] for ev in doc["traceEvents"]
             if ev["ph"] == "M"}
    assert names[("process_name", st["tgid"])] == f"{proc['comm']} [{st['tgid']}]"
    for t in proc["threads"]:
        if ("thread_name", t["tid"]) in names:
            assert names[("thread_name", t["tid"])] == f"{t['comm']} [{t['tid']}]"
    # Each hand-off wakes the other thread: arrows from waker to woken,
    # between two different threads, paired by id.
    starts = {ev["id"]: ev for ev in doc["traceEvents"] if ev["ph"] == "s"}
    ends = {ev["id"]: ev for ev in doc["traceEvents"] if ev["ph"] == "f"}
    assert len(starts) >= 2000 and set(starts) == set(ends)
    assert all(starts[i]["tid"] != ends[i]["tid"] and starts[i]["ts"] <= ends[i]["ts"]
               for i in starts)
    # the events cell ran with --cost: the report can state the probes' cost
    assert st["cost"]["method"] == "bpf_stats"
    assert "per event in this recording: sched " in timelines.cost_words(st)
    segments: dict[int, int] = {}
    for ev in doc["traceEvents"]:
        if ev["ph"] == "X" and ev["pid"] == st["tgid"]:
            segments[ev["tid"]] = segments.get(ev["tid"], 0) + 1
    for t in proc["threads"]:
        assert abs(segments.get(t["tid"], 0) - t["switches"]) <= 1, (t, segments)
    # pingpong hands the token 2 x iterations times: at least that many switches
    assert sum(segments.values()) >= 2 * 2000


def one_real_run(tmp_path: Path, experiment: str) -> tuple[Path, dict]:
    """`schedlab run` of a one-cell config with the real tracer: (run dir, its line)."""
    cfg = write_config(tmp_path, "[run]\nrepetitions = 1\nseed = 1\ntimeout_s = 60\n"
                       + experiment)
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as e:
        main(["run", str(cfg), "--out", str(out)], runner=ProcessRunner(cwd=REPO))
    assert e.value.code == 0
    (ln,), problems = record.load(out / "records.jsonl")
    assert problems == [] and ln["status"] == "ok", ln["reason"]
    return out, ln


CORO_EXP = """
[[experiment]]
task = "pingpong"
models = ["coro"]
probes = ["sched", "usdt"]
events = true
params = { iterations = 500 }
"""


@pytest.mark.root
@pytest.mark.bpf
@pytest.mark.skipif(_why_not() is not None, reason=str(_why_not()))
def test_coroutine_tracks_from_a_real_run(tmp_path):
    """The usdt probe streams coroutine spawn/ready/switch/exit into the same
    file: each coroutine gets its own track under the thread it ran on, with
    one run segment per coroutine switch the tracer counted."""
    notes = subprocess.run(["readelf", "-n", str(WORKLOAD)], capture_output=True, text=True)
    if "coro_switch" not in notes.stdout:
        pytest.skip("build/workload has no schedlab:coro_switch USDT probe (no sys/sdt.h)")
    out, ln = one_real_run(tmp_path, CORO_EXP)
    st = ln["probes"]["schedtrace"]
    assert st["probes"]["usdt"]["attached"], st["probes"]["usdt"]
    assert st["lost"]["events"] == 0 and st["lost"]["usdt_events"] == 0
    perfetto = tmp_path / "trace.json"
    p = subprocess.run([str(REPO / "schedlab"), "trace", str(out), "--cell", ln["cell"],
                        "--perfetto", str(perfetto)], capture_output=True, text=True,
                       timeout=120, cwd=REPO)
    assert p.returncode == 0, p.stderr
    doc = json.loads(perfetto.read_text())
    assert record.schema_errors(doc, "chrome-trace") == []
    assert trace.improper(doc) == [] and trace.overlaps_per_cpu(doc) == []
    runs = [ev for ev in doc["traceEvents"] if ev["ph"] == "X" and ev.get("cat") == "coro"]
    oncpu = [ev for ev in doc["traceEvents"] if ev["ph"] == "X" and ev.get("cat") == "sched"]
    # each coroutine switch starts a run, cut where its thread left the CPU
    assert len(runs) >= st["usdt"]["coro_switches"] > 0
    # a coroutine's run is on the track of the thread that ran it, inside
    # one of that thread's on-CPU slices
    threads = {t["tid"] for pr in st["processes"] for t in pr["threads"]}
    assert {ev["tid"] for ev in runs} <= threads
    for ev in runs:
        assert any(o["tid"] == ev["tid"] and o["ts"] <= ev["ts"] + 1e-6
                   and ev["ts"] + ev["dur"] <= o["ts"] + o["dur"] + 1e-6 for o in oncpu), ev
    # every spawned coroutine ran, and so did the scheduler's own context
    ran = {ev["args"]["coro"] for ev in runs}
    assert len(ran) == st["usdt"]["spawns"] + 1 and 0 in ran
    assert {ev["name"] for ev in runs if ev["args"]["coro"] == 0} == {"scheduler"}
    lives = [ev for ev in doc["traceEvents"] if ev["ph"] == "b" and ev["cat"] == "coro"]
    assert len(lives) == st["usdt"]["spawns"]


URING_EXP = """
[[experiment]]
task = "pingpong"
models = ["uring"]
probes = ["sched", "uring"]
events = true
params = { iterations = 300, channel = "pipe" }
"""


@pytest.mark.root
@pytest.mark.bpf
@pytest.mark.skipif(_why_not() is not None, reason=str(_why_not()))
def test_uring_requests_from_a_real_run(tmp_path):
    """The uring probe streams each submission and completion: the timeline
    shows as many as the tracer counted, and requests in flight as async
    slices from submission to completion."""
    out, ln = one_real_run(tmp_path, URING_EXP)
    st = ln["probes"]["schedtrace"]
    if not st["probes"]["uring"]["attached"]:
        pytest.skip(f"uring probe not attached: {st['probes']['uring']['reason']}")
    assert st["lost"]["uring_events"] == 0
    perfetto = tmp_path / "trace.json"
    assert run_main(["trace", str(out), "--cell", ln["cell"], "--perfetto", str(perfetto)]) == 0
    doc = json.loads(perfetto.read_text())
    assert record.schema_errors(doc, "chrome-trace") == []
    marks = [ev["name"].split()[0] for ev in doc["traceEvents"]
             if ev["ph"] == "i" and ev["cat"] == "uring"]
    assert marks.count("submit") == st["uring"]["submitted"] > 2 * 300
    assert marks.count("complete") == st["uring"]["completed"]
    flights = [ev for ev in doc["traceEvents"] if ev["ph"] == "b" and ev["cat"] == "uring"]
    assert 0 < len(flights) <= st["uring"]["submitted"]
