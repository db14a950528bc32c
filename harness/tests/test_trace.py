"""trace: Chrome Trace Event JSON from a real event stream, schema-checked.

data/events-pingpong-mn.bin is a recording of real tracer output, made by
  build/schedtrace --events events-pingpong-mn.bin --probes sched,usdt -- \\
      build/workload pingpong --model mn --iterations 3 --warmup 0
(two threads of one process, three coroutines)."""

import sys
from collections import Counter
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import synthrun  # noqa: E402

from harness.analyse import trace  # noqa: E402
from harness.records import record  # noqa: E402
from harness.cli import run_main  # noqa: E402

DATA = Path(__file__).parent / "data"
RECORDING = DATA / "events-pingpong-mn.bin"
CELL = "pingpong/mn/iterations=3,warmup=0"


@pytest.fixture
def traced_run(tmp_path):
    d = synthrun.make_run(tmp_path / "run", [synthrun.Spec(
        "pingpong", "mn", {"iterations": 3, "warmup": 0}, {"handoff_ns": 10.0},
        extra={"events": "traces/ev.events"})], reps=1)
    (d / "traces").mkdir()
    (d / "traces" / "ev.events").write_bytes(RECORDING.read_bytes())
    return d


def export(traced_run, tmp_path):
    import json
    out = tmp_path / "t.json"
    assert run_main(["trace", str(traced_run), "--cell", CELL, "--perfetto", str(out)]) == 0
    return json.loads(out.read_text())


def test_schema_and_no_overlap(traced_run, tmp_path):
    doc = export(traced_run, tmp_path)
    assert record.schema_errors(doc, "chrome-trace") == []
    assert trace.improper(doc) == [] and trace.overlaps_per_cpu(doc) == []
    assert doc["otherData"]["cell"] == CELL
    assert doc["otherData"]["format"] == trace.TRACE_FORMAT
    assert doc["otherData"]["tgid"] == trace.read_events(RECORDING)[0]["tgid"]


def test_content_agrees_with_the_stream(traced_run, tmp_path):
    """Every slice and mark comes from one event of the recording: a run
    segment per switch-in, a coroutine segment per coroutine switch, a
    lifetime per spawn, an instant per wakeup and per ready."""
    header, events, problems = trace.read_events(RECORDING)
    assert problems == [] and header["tgid"] > 0
    kinds = Counter(e["type"] for e in events)
    ev = export(traced_run, tmp_path)["traceEvents"]
    ins = Counter(e["next_tid"] for e in events if e["type"] == "switch" and e["next_tid"])
    assert len(ins) >= 2, "the recording should show two threads"
    segs = Counter(e["tid"] for e in ev if e["ph"] == "X" and e["cat"] == "sched")
    assert segs == ins
    coro = [e for e in ev if e["ph"] == "X" and e["cat"] == "coro"]
    # each coroutine run sits on its thread's track, cut to its on-CPU slices
    assert len(coro) >= kinds["coro_switch"] > 0
    assert {e["tid"] for e in coro} <= set(ins)
    life = Counter(e["ph"] for e in ev if e["ph"] in "be")
    assert life["b"] == kinds["coro_create"] == life["e"] == kinds["coro_exit"] == 3
    marks = Counter(e["name"].split(":")[0] for e in ev if e["ph"] == "i")
    woken = sum(1 for e in events if e["type"].startswith("wakeup") and e["tid"])
    assert marks["ready"] == kinds["coro_ready"] and \
        marks["wakeup"] + marks["wakeup_new"] == woken


def test_overlap_detectors_catch_overlap():
    def x(name, tid, ts, dur, cpu=0):
        return {"ph": "X", "name": name, "cat": "sched", "pid": 1, "tid": tid, "ts": ts,
                "dur": dur, "args": {"cpu": cpu}}
    nested = {"traceEvents": [x("a", 1, 0, 5), x("b", 1, 3, 1)]}
    assert trace.improper(nested) == []             # nested: what Perfetto draws
    crossing = {"traceEvents": [x("a", 1, 0, 5), x("b", 1, 3, 4)]}
    assert trace.improper(crossing)
    same_cpu = {"traceEvents": [x("a", 1, 0, 5), x("b", 2, 3, 4)]}
    assert trace.overlaps_per_cpu(same_cpu) and trace.improper(same_cpu) == []


def test_truncated_newer_and_foreign_streams(tmp_path):
    data = RECORDING.read_bytes()
    p = tmp_path / "e.events"
    p.write_bytes(data + b"\x01\x02\x03")
    _, events, problems = trace.read_events(p)
    assert len(events) == (len(data) - trace.SCHED_HEADER.size) // trace.SCHED_EVENT.size
    assert "truncated" in problems[0]
    p.write_bytes(data[:8] + (2).to_bytes(4, "little") + data[12:])
    with pytest.raises(trace.TraceError, match="newer"):
        trace.read_events(p)
    p.write_text('{"ts_ns": 1, "type": "switch"}\n')
    with pytest.raises(trace.TraceError, match="not a schedtrace --events stream"):
        trace.read_events(p)


def test_missing_stream_and_unknown_cell(traced_run, tmp_path, capsys):
    (traced_run / "traces" / "ev.events").unlink()
    out = str(tmp_path / "x")
    assert run_main(["trace", str(traced_run), "--cell", CELL, "--perfetto", out]) == 2
    assert "no event stream" in capsys.readouterr().err
    assert run_main(["trace", str(traced_run), "--cell", "nope", "--perfetto", out]) == 2
    assert "no cell 'nope'" in capsys.readouterr().err


def synthetic_stream() -> bytes:
    """bpf/events.h's format: header, then fixed-size records in per-CPU order."""
    rec = trace.SCHED_EVENT
    body = b"".join(rec.pack(*r) for r in [
        # ts, version, type, cpu, pid, tgid, other_pid, other_tgid, arg, flags
        (3000, 1, 1, 0, 11, 10, 12, 10, 1, 0x2),     # 11 blocks, 12 runs
        (1000, 1, 1, 0, 0, 0, 11, 10, 0, 0),         # idle -> 11 (drained late)
        (4000, 1, 2, 1, 11, 10, 12, 10, 0, 0),       # 12 wakes 11
        (5000, 1, 1, 0, 12, 10, 11, 10, 0, 0),       # 12 preempted, 11 runs
        (6000, 1, 4, 0, 11, 10, 0, 0, 1, 0),         # migrate: ignored
    ])
    return trace.SCHED_HEADER.pack(b"SCHEDEVT", 1, rec.size, 10, 0) + body


def test_binary_sched_stream(tmp_path):
    p = tmp_path / "ev.bin"
    p.write_bytes(synthetic_stream())
    header, events, problems = trace.read_events(p)
    assert record.schema_errors({"header": header, "events": events}, "events") == []
    assert header["tgid"] == 10 and [e["ts_ns"] for e in events] == [1000, 3000, 4000, 5000, 6000]
    assert problems == []
    doc = trace.convert(header, events)
    assert record.schema_errors(doc, "chrome-trace") == []
    assert trace.improper(doc) == [] and trace.overlaps_per_cpu(doc) == []
    assert doc["otherData"]["unknown_events"] == 1      # the migrate event
    x = sorted((e["tid"], e["ts"], e["dur"], e["args"].get("out")) for e in doc["traceEvents"]
               if e["ph"] == "X")
    assert x == [(11, 0.0, 2.0, "blocked"), (11, 4.0, 1.0, "trace ended"),
                 (12, 2.0, 2.0, "preempted")]
    # 12 woke 11 while running: an arrow from 12's slice to 11's next one
    flow = {e["ph"]: (e["tid"], e["ts"]) for e in doc["traceEvents"] if e.get("cat") == "wakeup"}
    assert flow == {"s": (12, 3.0), "f": (11, 4.0)}
    # names from the tracer's document, only its processes
    names = trace.names_from({"processes": [{"tgid": 10, "comm": "workload", "threads": [
        {"tid": 11, "comm": "workload"}, {"tid": 12, "comm": "worker"}]}]})
    doc = trace.convert(header, events, None, names, {10})
    meta = {e["tid"]: e["args"]["name"] for e in doc["traceEvents"]
            if e["ph"] == "M" and e["name"] == "thread_name"}
    assert meta == {11: "workload [11]", 12: "worker [12]"}
    assert trace.convert(header, events, None, names, {99})["traceEvents"] == []
