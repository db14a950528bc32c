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
    assert trace.overlaps(doc) == []
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
    assert len(coro) == kinds["coro_switch"] > 0
    assert all(e["tid"] >= trace.CORO_TRACK_OFFSET for e in coro)
    assert {e["args"]["thread"] for e in coro} <= set(ins)
    life = Counter(e["ph"] for e in ev if e["ph"] in "be")
    assert life["b"] == kinds["coro_create"] == life["e"] == kinds["coro_exit"] == 3
    marks = Counter(e["name"] for e in ev if e["ph"] == "i")
    woken = sum(1 for e in events if e["type"].startswith("wakeup") and e["tid"])
    assert marks["ready"] == kinds["coro_ready"] and \
        marks["wakeup"] + marks["wakeup_new"] == woken
    # each coroutine track sorts right under the thread it belongs to
    order = {e["tid"]: e["args"]["sort_index"] for e in ev
             if e["ph"] == "M" and e["name"] == "thread_sort_index"}
    for e in coro:
        t = e["args"]["thread"]
        assert order[t] < order[e["tid"]] < order[t] + 1000


def test_overlap_detector_catches_overlap():
    doc = {"traceEvents": [{"ph": "X", "name": "a", "pid": 1, "tid": 1, "ts": 0, "dur": 5},
                           {"ph": "X", "name": "b", "pid": 1, "tid": 1, "ts": 3, "dur": 1}]}
    assert trace.overlaps(doc)


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
    assert trace.overlaps(doc) == []
    assert doc["otherData"]["unknown_events"] == 1      # the migrate event
    x = sorted((e["tid"], e["ts"], e["dur"], e["args"].get("out")) for e in doc["traceEvents"]
               if e["ph"] == "X")
    assert x == [(11, 0.0, 2.0, "blocked (S)"), (11, 4.0, 1.0, None),
                 (12, 2.0, 2.0, "preempted")]
