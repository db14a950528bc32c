"""The report on synthetic runs: files written, claims table first, numbers
consistent with the records, bad input handled."""

import json
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import synthrun  # noqa: E402

from harness import report, summary  # noqa: E402

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    d = synthrun.make_run(tmp_path_factory.mktemp("r") / "run", synthrun.full_matrix())
    assert report.cli([str(d)]) == 0
    return d


def test_files_written(full_run):
    for name in ("report.md", "report.html", "report.json"):
        assert (full_run / name).stat().st_size > 0
    for plot in ("handoff", "bytes_per_task", "speedup", "lateness", "echo", "latency_cdf"):
        assert (full_run / "plots" / f"{plot}.png").read_bytes()[:4] == b"\x89PNG"


def test_json_structure(full_run):
    doc = json.loads((full_run / "report.json").read_text())
    assert [s["id"] for s in doc["summary"]] == [f"C{i}" for i in range(1, 10)]
    assert all(s["verdict"] in ("supported", "refuted", "nuanced", "not testable here")
               for s in doc["summary"])
    assert len(doc["reproductions"]) >= 6
    assert doc["skipped_lines"] == [] and "_figures" not in doc
    assert {i["name"] for i in doc["instruments"]["present"]} >= {"sched", "perf"}
    assert "usdt" in {i["name"] for i in doc["instruments"]["missing"]}


def test_cell_numbers_match_records(full_run):
    doc = json.loads((full_run / "report.json").read_text())
    cell = next(c for c in doc["cells"] if c["id"] == "pingpong/coro/placement=same,channel=event")
    vals = [json.loads(ln)["record"]["metrics"]["handoff_ns"]
            for ln in (full_run / "records.jsonl").read_text().splitlines()
            if json.loads(ln)["cell"] == "pingpong/coro/placement=same,channel=event"]
    d = cell["metrics"]["handoff_ns"]
    assert d["n"] == len(vals) == 5
    assert d["median"] == pytest.approx(sorted(vals)[2])
    assert d["ci_lo"] <= d["median"] <= d["ci_hi"]
    assert d["cov"] == pytest.approx(summary.cov(vals))


def test_markdown_claims_table_first(full_run):
    md = (full_run / "report.md").read_text()
    first_h2 = md.index("## ")
    assert md[first_h2:].startswith("## Claims")
    assert "| C9 |" in md and "not testable here" in md
    order = [md.index(h) for h in ("## Claims", "## C1:", "## Published", "## Environment")]
    assert order == sorted(order)


def test_reproductions_side_by_side(full_run):
    doc = json.loads((full_run / "report.json").read_text())
    libaco = next(r for r in doc["reproductions"] if r["id"] == "libaco-switch")
    row = libaco["rows"][0]
    assert row["reference"] == 10.29
    assert row["ratio"] == pytest.approx(row["measured"]["value"] / 10.29)
    echo = next(r for r in doc["reproductions"] if r["id"] == "io-uring-echo")
    assert [r["where"]["connections"] for r in echo["rows"]] == [50, 300, 1000]
    peer = next(r for r in doc["reproductions"] if r["id"] == "perf-bench-pipe")
    assert peer["rows"][0]["ratio"] is None and "peer perfbench not run" in peer["rows"][0]["note"]


def test_noisy_cells_flagged(tmp_path):
    specs = [synthrun.Spec("pingpong", "coro", {"placement": "same", "channel": "event"},
                           lambda r: {"handoff_ns": r.choice([5.0, 50.0])})]
    d = synthrun.make_run(tmp_path / "run", specs, reps=6)
    assert report.cli([str(d), "--no-plots"]) == 0
    doc = json.loads((d / "report.json").read_text())
    assert doc["noisy_cells"] == ["pingpong/coro/placement=same,channel=event"]
    assert "noisy" in (d / "report.md").read_text()


def test_usdt_cells_kept_apart(tmp_path):
    params = {"placement": "same", "channel": "event"}
    specs = [synthrun.Spec("pingpong", "coro", params, {"handoff_ns": 10.0}),
             synthrun.Spec("pingpong", "coro", params, {"handoff_ns": 900.0}, usdt=True)]
    d = synthrun.make_run(tmp_path / "run", specs, reps=3)
    assert report.cli([str(d), "--no-plots"]) == 0
    doc = json.loads((d / "report.json").read_text())
    ids = {c["id"]: c for c in doc["cells"]}
    cell = "pingpong/coro/placement=same,channel=event"
    assert ids[cell]["metrics"]["handoff_ns"]["median"] == 10.0
    assert ids[cell + " [usdt]"]["metrics"]["handoff_ns"]["median"] == 900.0
    assert doc["usdt_cells"] == [cell + " [usdt]"]


def test_not_a_run_dir(tmp_path, capsys):
    assert report.cli([str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err
    assert report.cli([str(tmp_path / "nope")]) == 2


@pytest.mark.parametrize("golden,reason", [
    ("records-v1-truncated.jsonl", "truncated"),
    ("records-v2-newer.jsonl", "newer than this report understands"),
])
def test_bad_lines_skipped_and_listed(tmp_path, capsys, golden, reason):
    d = tmp_path / "run"
    d.mkdir()
    shutil.copy(DATA / golden, d / "records.jsonl")
    assert report.cli([str(d), "--no-plots"]) == 0
    err = capsys.readouterr().err
    assert reason in err and "env.json missing" in err
    doc = json.loads((d / "report.json").read_text())
    assert len(doc["skipped_lines"]) == 1 and reason in doc["skipped_lines"][0]["reason"]
    # What was valid still renders: C2 is judged from the valid lines.
    assert doc["summary"][1]["verdict"] == "supported"
    cell = next(c for c in doc["cells"] if c["id"] == "pingpong/threads/placement=same")
    assert cell["metrics"]["handoff_ns"]["max"] < 99999
    md = (d / "report.md").read_text()
    assert "Partial report" in md and f"line {doc['skipped_lines'][0]['line']}" in md
