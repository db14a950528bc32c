"""trace: Chrome Trace Event JSON from an event stream, schema-checked."""

import json
import sys
from pathlib import Path

import jsonschema
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import synthrun  # noqa: E402

from harness.analyse import trace  # noqa: E402

DATA = Path(__file__).parent / "data"
SCHEMA = json.loads((DATA / "chrome-trace.schema.json").read_text())
CELL = "pingpong/coro/placement=same,channel=event"


@pytest.fixture
def traced_run(tmp_path):
    d = synthrun.make_run(tmp_path / "run", [synthrun.Spec(
        "pingpong", "coro", {"placement": "same", "channel": "event"}, {"handoff_ns": 10.0},
        extra={"events": "traces/ev.jsonl"})], reps=1)
    (d / "traces").mkdir()
    (d / "traces" / "ev.jsonl").write_text((DATA / "events-pingpong-coro.jsonl").read_text())
    return d


def export(traced_run, tmp_path):
    out = tmp_path / "t.json"
    assert trace.cli([str(traced_run), "--cell", CELL, "--perfetto", str(out)]) == 0
    return json.loads(out.read_text())


def test_schema_and_no_overlap(traced_run, tmp_path):
    doc = export(traced_run, tmp_path)
    jsonschema.validate(doc, SCHEMA)
    assert trace.overlaps(doc) == []
    assert doc["otherData"]["cell"] == CELL
    assert doc["otherData"]["format"] == trace.TRACE_FORMAT
    assert doc["otherData"]["unknown_events"] == 1      # the migrate event


def test_content(traced_run, tmp_path):
    ev = export(traced_run, tmp_path)["traceEvents"]
    kernel = [e for e in ev if e["ph"] == "X" and e["cat"] == "sched"]
    # Thread 500 runs 0-5 us, 6-10 us (then preempted), 11-12 us; the lost
    # switch-out at 11.5 us ends a segment rather than overlapping it.
    w = sorted((e["ts"], e["dur"]) for e in kernel if e["tid"] == 500)
    assert w == [(0.0, 5.0), (6.0, 4.0), (11.0, 0.5), (11.5, 0.5)]
    second = next(e for e in kernel if e["tid"] == 500 and e["ts"] == 6.0)
    assert second["args"]["out"] == "preempted"
    assert [e["tid"] for e in kernel if e["tid"] != 500] == [501]
    coro = [e for e in ev if e["ph"] == "X" and e["cat"] == "coro"]
    assert all(e["args"]["thread"] == 500 for e in coro)
    assert [e["name"] for e in sorted(coro, key=lambda e: e["ts"])] == \
        ["coro 1", "coro 2", "coro 1", "coro 2", "coro 1"]
    # one track per coroutine, under the thread it ran on
    track = {e["name"]: e["tid"] for e in coro}
    assert len(set(track.values())) == 2 and {e["tid"] for e in coro} == set(track.values())
    assert all(t >= trace.CORO_TRACK_OFFSET for t in track.values())
    life = sorted((e["ph"], e["id"]) for e in ev if e["ph"] in "be")
    assert life == [("b", 1), ("b", 2), ("e", 1), ("e", 2)]
    wake = [e for e in ev if e["ph"] == "i"]
    assert len(wake) == 1 and wake[0]["tid"] == 500 and wake[0]["args"]["waker"] == 501
    names = {e["args"]["name"] for e in ev if e["ph"] == "M" and "name" in e["args"]}
    assert {"500 coro 1", "500 coro 2", "iou-wrk-500 501"} <= names
    order = {e["tid"]: e["args"]["sort_index"] for e in ev
             if e["ph"] == "M" and e["name"] == "thread_sort_index"}
    assert order[500] < order[track["coro 1"]] < order[track["coro 2"]] < order[501]


def test_overlap_detector_catches_overlap():
    doc = {"traceEvents": [{"ph": "X", "name": "a", "pid": 1, "tid": 1, "ts": 0, "dur": 5},
                           {"ph": "X", "name": "b", "pid": 1, "tid": 1, "ts": 3, "dur": 1}]}
    assert trace.overlaps(doc)


def test_truncated_stream_and_newer_schema(tmp_path):
    p = tmp_path / "e.jsonl"
    p.write_text((DATA / "events-pingpong-coro.jsonl").read_text() + '{"ts_ns": 10')
    header, events, problems = trace.read_events(p)
    assert len(events) == 17 and "truncated" in problems[0]
    p.write_text('{"schema": 2, "kind": "schedtrace-events"}\n')
    with pytest.raises(trace.TraceError):
        trace.read_events(p)


def test_missing_stream_and_unknown_cell(traced_run, tmp_path, capsys):
    (traced_run / "traces" / "ev.jsonl").unlink()
    assert trace.cli([str(traced_run), "--cell", CELL, "--perfetto", str(tmp_path / "x")]) == 2
    assert "no event stream" in capsys.readouterr().err
    assert trace.cli([str(traced_run), "--cell", "nope", "--perfetto", str(tmp_path / "x")]) == 2
    assert "no cell 'nope'" in capsys.readouterr().err


def test_binary_sched_stream(tmp_path):
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
    p = tmp_path / "ev.bin"
    p.write_bytes(trace.SCHED_HEADER.pack(b"SCHEDEVT", 1, rec.size, 10, 0) + body + b"\x01\x02")
    header, events, problems = trace.read_events(p)
    assert header["tgid"] == 10 and [e["ts_ns"] for e in events] == [1000, 3000, 4000, 5000, 6000]
    assert "truncated" in problems[0]
    doc = trace.convert(header, events)
    jsonschema.validate(doc, SCHEMA)
    assert trace.overlaps(doc) == []
    x = sorted((e["tid"], e["ts"], e["dur"], e["args"].get("out")) for e in doc["traceEvents"]
               if e["ph"] == "X")
    assert x == [(11, 0.0, 2.0, "blocked (S)"), (11, 4.0, 1.0, None),
                 (12, 2.0, 2.0, "preempted")]
    p.write_bytes(trace.SCHED_HEADER.pack(b"SCHEDEVT", 2, rec.size, 10, 0))
    with pytest.raises(trace.TraceError):
        trace.read_events(p)
