"""The report's timelines: cells with an event stream are exported for
Perfetto, linked from report.md and report.html, with how to open them."""

import json
import shutil
from pathlib import Path

import pytest

from synthrun import Spec, jitter, make_run

from harness.run import catalog as run_catalog
from harness.run import config, matrix, runner
from harness.present import report
from harness.analyse import timelines
from harness.records.rundir import load_run

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).resolve().parents[2]


def traced_run(path):
    run = make_run(path, [
        Spec("pingpong", "coro", {"iterations": 2000}, lambda r: {"handoff_ns": jitter(r, 30.0)},
             extra={"events": "traces/good.events"}, reps=1),
        Spec("pingpong", "uring", {"iterations": 2000}, lambda r: {"handoff_ns": jitter(r, 40.0)},
             extra={"events": "traces/broken.events"}, reps=1),
        Spec("pingpong", "threads", {"iterations": 2000},
             lambda r: {"handoff_ns": jitter(r, 2000.0)}, reps=1),
    ], reps=1)
    (run / "traces").mkdir()
    # A real recording (test_trace.py says how it was made).
    shutil.copy(DATA / "events-pingpong-mn.bin", run / "traces" / "good.events")
    # A stream of a newer format than the converter knows: it refuses it.
    (run / "traces" / "broken.events").write_bytes(b"SCHEDEVT" + (99).to_bytes(4, "little")
                                                   + bytes(12))
    return run


def test_each_stream_is_exported_and_linked(tmp_path):
    run_dir = traced_run(tmp_path / "r")
    doc = report.build(load_run(run_dir), with_plots=False)
    items = {t["cell"]: t for t in doc["timelines"]}
    assert set(items) == {"pingpong/coro/iterations=2000", "pingpong/uring/iterations=2000"}
    good = items["pingpong/coro/iterations=2000"]
    exported = json.loads((run_dir / good["path"]).read_text())
    assert any(e.get("cat") == "coro" or "coro" in str(e.get("name", ""))
               for e in exported["traceEvents"])
    bad = items["pingpong/uring/iterations=2000"]
    assert bad["path"] is None and bad["note"]
    paths = report.write(doc, run_dir)
    md, html = paths["md"].read_text(), paths["html"].read_text()
    assert f"]({good['path']})" in md and f'href="{good["path"]}"' in html
    assert "not exported: " + bad["note"] in md
    # one list item a line, whether or not the item carries its cost
    assert "\n- pingpong/uring/iterations=2000: not exported" in md
    for text in (md, html):
        assert "ui.perfetto.dev" in text and "Open trace file" in text


def test_no_stream_no_section(tmp_path):
    run_dir = make_run(tmp_path / "r", [Spec("pingpong", "coro", {}, {"handoff_ns": 30.0})])
    doc = report.build(load_run(run_dir), with_plots=False)
    assert doc["timelines"] == []
    assert "## Timelines" not in report.render("report.md.j2", doc)


def test_default_config_traces_every_model_in_a_small_cell():
    cfg = config.load(REPO / "configs" / "default.toml")
    doc, why = run_catalog.listing(runner.ProcessRunner(cwd=REPO).capture, cfg.run.workload)
    if doc is None:
        pytest.skip(why)
    cells = [c for c in matrix.expand(cfg, run_catalog.Listing(run_catalog.with_peers(doc)))
             if c.events]
    assert {c.model for c in cells} >= {"threads", "coro", "uring"}
    for c in cells:
        assert {"sched", "usdt"} <= set(c.probes) and c.repetitions == 1
    assert timelines.HOW_TO_OPEN.startswith("Open https://ui.perfetto.dev")
