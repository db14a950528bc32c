"""The catalog: headlines and directions from workload --list's metrics,
the peers' beside them, and only a run's saved catalog.json."""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import synthrun  # noqa: E402

from harness.analyse import compare  # noqa: E402
from harness.present import report  # noqa: E402
from harness.records import catalog  # noqa: E402
from harness.records.rundir import load_run  # noqa: E402
from harness.run import catalog as run_catalog  # noqa: E402


def metric(name, kind="number", unit="ns", better=None, headline=False):
    return {"name": name, "kind": kind, "unit": unit, "better": better, "headline": headline,
            "optional": False, "help": name}


LISTING = {"tasks": [{"name": "pingpong", "metrics": [
    metric("handoff_ns", better="lower", headline=True),
    metric("lateness_ns", kind="distribution", better="lower", headline=True),
    metric("handoffs", unit="count"), metric("window_ns", better="higher", headline=True)]}],
    "models": [{"name": "mn", "traits": {"order": 1, "colour": "#CC79A7"},
                "metrics": [metric("mn_w*_parks", unit="count"),
                            metric("mn_parks", unit="count", headline=True)]},
               {"name": "coro", "traits": {"order": 0, "colour": "#E69F00"}, "metrics": []}]}


def test_headlines_task_first_then_model_distributions_as_quantiles():
    cat = catalog.parse(LISTING)
    assert cat.headline("pingpong", "mn") == ["handoff_ns", "lateness_ns.p50", "lateness_ns.p99",
                                              "window_ns", "mn_parks"]
    assert cat.headline("pingpong", "coro") == cat.headline("pingpong", "mn")[:-1]
    assert cat.headline("nosuch", "coro") is None
    assert cat.metric("pingpong", "mn", "lateness_ns.p99")["better"] == "lower"
    assert cat.metric("pingpong", "mn", "mn_w3_parks")["unit"] == "count"
    assert cat.metric("pingpong", "coro", "mn_w3_parks") is None


def test_peers_declare_their_task_or_their_models():
    cat = catalog.parse(run_catalog.with_peers(
        {"tasks": [{"name": "echo", "metrics": [metric("latency_ns")]}]}))
    assert cat.headline("perfbench", "threads") == ["round_trip_ns"]
    assert [m["name"] for m in cat.models["asyncio"]] == ["server_runtime"]
    assert [m["name"] for m in cat.tasks["echo"]] == ["latency_ns"]


def test_a_runs_saved_catalog_decides_its_report_and_compare(tmp_path):
    spec = [synthrun.Spec("pingpong", "coro", {}, {"handoff_ns": 30.0, "window_ns": 9.0,
                                                   "handoffs": 2.0})]
    run_dir = synthrun.make_run(tmp_path / "r", spec)
    (run_dir / catalog.FILE).write_text(json.dumps(LISTING))
    doc = report.build(load_run(run_dir), with_plots=False)
    cell = doc["cells"][0]
    assert report.table_metrics(cell, doc["_headline"][cell["id"]]) == ["handoff_ns",
                                                                        "window_ns"]
    cat = catalog.load(run_dir)
    cells = load_run(run_dir).cells()
    rows = compare.compare(cells, cells, cat=cat)["rows"]
    assert [(r["metric"], r["better"]) for r in rows] == [("handoff_ns", "lower"),
                                                          ("window_ns", "higher")]


def test_without_a_saved_catalog_nothing_is_declared(tmp_path):
    # never today's build: it may list other tasks and metrics than the run had
    cat = catalog.load(tmp_path)
    assert cat.headline("pingpong", "threads") is None
