"""record.py: tolerant loading, repair of a truncated line, schemas."""

import json
import shutil
from pathlib import Path

import pytest

from conftest import fake_record
from harness.records import record

DATA = Path(__file__).parent / "data"


def test_truncated_last_line_is_skipped_and_reported():
    lines, problems = record.load(DATA / "line-v1-truncated.jsonl")
    assert [ln["repetition"] for ln in lines] == [0, 1]
    assert len(problems) == 1
    assert problems[0].line == 3
    assert problems[0].reason.startswith("truncated last line")


def test_invalid_middle_line_is_not_called_truncated():
    text = '{"cell": "a", "repetition": 0}\n{oops\n{"cell": "a", "repetition": 1}\n'
    lines, problems = record.parse_jsonl(text, record.line_problem)
    assert len(lines) == 2
    assert problems[0].line == 2 and problems[0].reason.startswith("invalid JSON")
    _, problems = record.parse_jsonl('[1, 2]\n{"cell": "a"}\n', record.line_problem)
    assert [p.line for p in problems] == [1, 2]
    assert problems[0].reason == "not a JSON object"
    assert "not a records.jsonl line" in problems[1].reason


def test_repair_cuts_only_the_unterminated_tail(tmp_path):
    p = tmp_path / "records.jsonl"
    shutil.copy(DATA / "line-v1-truncated.jsonl", p)
    removed = record.repair(p)
    assert removed == 57
    assert p.read_text().endswith("}\n")
    lines, problems = record.load(p)
    assert len(lines) == 2 and problems == []
    assert record.repair(p) == 0
    assert record.repair(tmp_path / "absent.jsonl") == 0
    assert record.done_pairs(lines) == {("pingpong/coro/iterations=1000", 0),
                                        ("pingpong/coro/iterations=1000", 1)}


def test_append_line_is_one_line(tmp_path):
    p = tmp_path / "r.jsonl"
    with open(p, "a") as f:
        record.append_line(f, {"cell": "x/y/", "repetition": 0, "stderr_tail": "a\nb"})
    assert p.read_text().count("\n") == 1
    with pytest.raises(ValueError):
        record.dumps({"x": float("nan")})


def test_golden_lines_match_line_schema():
    lines, _ = record.load(DATA / "line-v1-truncated.jsonl")
    for ln in lines:
        assert record.schema_errors(ln, "line") == []


@pytest.mark.parametrize("status, reason", [("ok", None), ("failed", "it broke"),
                                            ("skipped", "no unicorn")])
def test_fake_records_match_record_schema(status, reason):
    rec = fake_record("spawn", "coro", {"tasks": 10}, status, reason)
    assert record.schema_errors(rec, "record") == []


@pytest.mark.parametrize("mutate, where", [
    (lambda r: r.pop("usage"), "usage"),
    (lambda r: r.update(schema=2), "schema"),
    (lambda r: r.update(status="great"), "status"),
    (lambda r: r["metrics"].update(lat_ns={"n": 1, "p50": 2}), "metrics"),
    (lambda r: r.update(reason="ok runs have no reason"), "reason"),
    (lambda r: r["usage"].update(wall_ns=-1), "usage"),
])
def test_record_schema_rejects(mutate, where):
    rec = fake_record("pingpong", "coro", {"iterations": 1})
    mutate(rec)
    errs = record.schema_errors(rec, "record")
    assert errs and any(e.startswith(where) or where in e for e in errs)


def test_line_schema_checks_the_embedded_record():
    lines, _ = record.load(DATA / "line-v1-truncated.jsonl")
    ln = json.loads(json.dumps(lines[0]))
    ln["record"]["usage"] = {}
    assert record.schema_errors(ln, "line")
    ln = json.loads(json.dumps(lines[0]))
    ln["status"] = "ok"
    ln["exit_status"] = 1
    assert record.schema_errors(ln, "line")
