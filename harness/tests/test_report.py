"""The report on synthetic runs: files written, claims table first, numbers
consistent with the records, bad input handled."""

import json
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import synthrun  # noqa: E402

from harness.analyse import reproduce, stats, verdicts  # noqa: E402
from harness.records.rundir import load_run  # noqa: E402
from harness.cli import run_main  # noqa: E402

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    d = synthrun.make_run(tmp_path_factory.mktemp("r") / "run", synthrun.full_matrix())
    assert run_main(["report", str(d)]) == 0
    return d


def test_files_written(full_run):
    for name in ("report.md", "report.html", "report.json"):
        assert (full_run / name).stat().st_size > 0
    for plot in ("handoff", "bytes_per_task", "speedup", "lateness", "echo", "latency_cdf"):
        assert (full_run / "plots" / f"{plot}.png").read_bytes()[:4] == b"\x89PNG"


def test_json_structure(full_run):
    doc = json.loads((full_run / "report.json").read_text())
    assert [s["id"] for s in doc["summary"]] == [f"C{i}" for i in range(1, 10)]
    assert all(s["verdict"] in verdicts.VERDICTS for s in doc["summary"])
    # One headline per claim: verdict, deciding figure with its interval, CPUs.
    c2 = doc["summary"][1]
    assert c2["verdict"] == "supported" and c2["cpus"] == "0-1"
    # the coverage printed is the interval's at the level Holm judged it
    level = doc["claims"][1]["decision"]["confidence"]
    assert "threads/coro handoff_ns" in c2["figure"] and f"] {level:.0%}" in c2["figure"]
    assert "setup as intended" not in c2["controls"] and c2["controls"].endswith(": yes")
    assert len(doc["reproductions"]) >= 6
    assert doc["skipped_lines"] == [] and "_figures" not in doc
    assert doc["traced_cells"] == [] and doc["client_bound_cells"] == []
    assert doc["missing_probes"] == []


def test_cell_numbers_match_records(full_run):
    doc = json.loads((full_run / "report.json").read_text())
    cid = "pingpong/coro/channel=event,placement=same,iterations=200000,cpus=0-1"
    cell = next(c for c in doc["cells"] if c["id"] == cid)
    vals = [json.loads(ln)["record"]["metrics"]["handoff_ns"]
            for ln in (full_run / "records.jsonl").read_text().splitlines()
            if json.loads(ln)["cell"] == cid]
    d = cell["metrics"]["handoff_ns"]
    assert d["n"] == len(vals) == 5
    assert d["median"] == pytest.approx(sorted(vals)[2])
    # n=5: the order-statistic interval is [min, max], with the 93.75% it has
    assert (d["ci_lo"], d["ci_hi"]) == (min(vals), max(vals))
    assert d["ci_confidence"] == pytest.approx(0.9375)
    assert cell["cpus"] == "0-1" and cell["traced"] == [] and not cell["client_bound"]
    assert d["cov"] == pytest.approx(stats.cov(vals))


def test_markdown_claims_table_first(full_run):
    md = (full_run / "report.md").read_text()
    first_h2 = md.index("## ")
    assert md[first_h2:].startswith("## Claims")
    assert "| C9 |" in md and "not tested here" in md
    assert "| C4 | **not tested here** |" in md and "setup as intended: yes" in md
    order = [md.index(h) for h in ("## Claims", "## C1:", "## The instruments' own cost",
                                   "## Published", "## Environment")]
    assert order == sorted(order)


def test_reproductions_side_by_side(full_run, tmp_path):
    doc = json.loads((full_run / "report.json").read_text())
    echo = next(r for r in doc["reproductions"] if r["id"] == "io-uring-echo")
    assert [r["where"]["connections"] for r in echo["rows"]] == [50, 300, 1000]
    peer = next(r for r in doc["reproductions"] if r["id"] == "perf-bench-pipe")
    assert peer["rows"][0]["ratio"] is None and "peer perfbench not run" in peer["rows"][0]["note"]
    gooch = next(r for r in doc["reproductions"] if r["id"] == "thread-switch-gooch")
    assert gooch["rows"][0]["measured"]["value"] == pytest.approx(2100, rel=0.03)
    # Raw switches compare with build/bench/switch's raw switch, run as cells of
    # the run (peer switch-bench), not with a hand-off.
    switch = synthrun.Spec("switchbench", "raw", {"repetitions": 1, "cpus": "0"},
                           {"ours_ns": 3.8, "ours_fpctl_ns": 5.0})
    cells = load_run(synthrun.make_run(tmp_path / "switch", [switch])).cells()
    specs, _ = reproduce.load_specs()
    rows = {r["id"]: r["rows"][0] for r in reproduce.evaluate(specs, cells)}
    assert rows["libaco-switch"]["measured"]["value"] == 3.8
    assert rows["libaco-switch"]["ratio"] == pytest.approx(3.8 / 10.29)
    assert rows["boost-context-switch"]["measured"]["value"] == 5.0
    missing = reproduce.evaluate(specs, [])
    assert "not measured in this run" in next(r for r in missing if r["id"] == "minicoro-switch")[
        "rows"][0]["note"]


def test_reproduction_never_pools_different_parameters(tmp_path):
    specs = [synthrun.Spec("pingpong", "threads", {"channel": "event", "placement": "same",
                                                   "iterations": n}, {"handoff_ns": v},
                           defaults=synthrun.PINGPONG_AS_RUN)
             for n, v in ((20000, 2000.0), (100000, 9000.0))]
    run = load_run(synthrun.make_run(tmp_path / "run", specs))
    gooch = [s for s in reproduce.load_specs()[0] if s["id"] == "thread-switch-gooch"]
    row = reproduce.evaluate(gooch, run.cells())[0]["rows"][0]
    assert row["measured"] is None and "not pooled" in row["note"]


def test_noisy_cells_flagged(tmp_path):
    specs = [synthrun.Spec("pingpong", "coro", {"placement": "same", "channel": "event"},
                           lambda r: {"handoff_ns": r.choice([5.0, 50.0])})]
    d = synthrun.make_run(tmp_path / "run", specs, reps=6)
    assert run_main(["report", str(d), "--no-plots"]) == 0
    doc = json.loads((d / "report.json").read_text())
    assert doc["noisy_cells"] == ["pingpong/coro/placement=same,channel=event"]
    assert "noisy" in (d / "report.md").read_text()


def test_traced_and_client_bound_cells_marked(tmp_path):
    specs = [synthrun.Spec("spawn", "threads", {"tasks": 100},
                           lambda r: {"kernel_bytes_per_task": synthrun.jitter(r, 22000)},
                           defaults={"stack_bytes": 16384}),
             synthrun.Spec("spawn", "threads", {"tasks": 100, "stack_bytes": 16384},
                           lambda r: {"kernel_bytes_per_task": synthrun.jitter(r, 31000)},
                           probes=("perf",)),
             synthrun.Spec("echo", "coro", {"rate": 5000},
                           {"requests_per_s": 5000.0, "client_cpu_utilization": 0.93})]
    d = synthrun.make_run(tmp_path / "run", specs)
    assert run_main(["report", str(d), "--no-plots"]) == 0
    doc = json.loads((d / "report.json").read_text())
    assert doc["traced_cells"] == ["spawn/threads/tasks=100,stack_bytes=16384"]
    assert doc["client_bound_cells"] == ["echo/coro/rate=5000"]
    md = (d / "report.md").read_text()
    assert "traced: perf" in md and "client-bound (93.0% client CPU)" in md
    # The instrument's cost: traced / bare with an interval.
    cost = doc["instrument_costs"]
    assert len(cost) == 1 and cost[0]["probes"] == ["perf"]
    assert cost[0]["bare"] == "spawn/threads/tasks=100"
    assert cost[0]["ratio"] == pytest.approx(31000 / 22000, rel=0.03)
    assert cost[0]["lo"] < cost[0]["ratio"] < cost[0]["hi"]


def test_missing_probe_said_first(tmp_path, capsys):
    specs = [synthrun.Spec("pingpong", "coro", {"channel": "event"}, {"handoff_ns": 20.0},
                           defaults={"warmup": 1000}),
             synthrun.Spec("pingpong", "coro", {"channel": "event", "warmup": 1000},
                           {"handoff_ns": 30.0}, probes=("sched",),
                           skipped={"sched": "build/schedtrace not built: run make"})]
    d = synthrun.make_run(tmp_path / "run", specs)
    assert run_main(["report", str(d), "--no-plots"]) == 0
    md = (d / "report.md").read_text()
    first = md.split("## Claims")[0]
    assert "probe sched requested but not attached in 5 run(s)" in first
    assert "build/schedtrace not built" in first
    assert "Lost: instrument cost: hand-off cost (coro)" in first
    assert capsys.readouterr().out.startswith("missing: probe sched")


def test_not_a_run_dir(tmp_path, capsys):
    assert run_main(["report", str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err
    assert run_main(["report", str(tmp_path / "nope")]) == 2


@pytest.mark.parametrize("golden,reason", [
    ("records-v1-truncated.jsonl", "truncated"),
    ("records-v2-newer.jsonl", "newer than this report understands"),
])
def test_bad_lines_skipped_and_listed(tmp_path, capsys, golden, reason):
    d = tmp_path / "run"
    d.mkdir()
    shutil.copy(DATA / golden, d / "records.jsonl")
    assert run_main(["report", str(d), "--no-plots"]) == 0
    err = capsys.readouterr().err
    assert reason in err and "env.json missing" in err
    doc = json.loads((d / "report.json").read_text())
    assert len(doc["skipped_lines"]) == 1 and reason in doc["skipped_lines"][0]["reason"]
    # What was valid still renders, and three runs decide nothing.
    assert doc["summary"][1]["verdict"] == "not tested here"
    cell = next(c for c in doc["cells"] if c["id"] == "pingpong/threads/placement=same")
    assert cell["metrics"]["handoff_ns"]["max"] < 99999
    md = (d / "report.md").read_text()
    assert "Partial report" in md and f"line {doc['skipped_lines'][0]['line']}" in md


def test_reproductions_never_match_knob_or_traced_cells(tmp_path):
    # The thread hand-off of the Gooch row: a SCHED_FIFO cell and a perf
    # stat cell ran the same placement and channel; only the bare default
    # cell may be its counterpart.
    base = {"channel": "event", "placement": "same", "iterations": 20000}
    specs = [synthrun.Spec("pingpong", "threads", {**base, "policy": "fifo"},
                           {"handoff_ns": 1500.0}),
             synthrun.Spec("pingpong", "threads", {**base, "warmup": 1000},
                           {"handoff_ns": 2600.0}, probes=("perf",)),
             synthrun.Spec("pingpong", "threads", base, {"handoff_ns": 2100.0})]
    run = load_run(synthrun.make_run(tmp_path / "run", specs))
    gooch = [s for s in reproduce.load_specs()[0] if s["id"] == "thread-switch-gooch"]
    row = reproduce.evaluate(gooch, run.cells())[0]["rows"][0]
    assert row["measured"]["value"] == pytest.approx(2100)


def test_a_context_reproduction_is_never_a_ratio(tmp_path):
    spec = {"id": "old", "file": "old.toml", "context": True,
            "published": {"value": 1000, "unit": "ns"},
            "measured": {"task": "pingpong", "model": "threads", "metric": "handoff_ns",
                         "where": {"channel": "event"}}}
    run = load_run(synthrun.make_run(tmp_path / "run", [synthrun.Spec(
        "pingpong", "threads", {"channel": "event"}, {"handoff_ns": 2100.0})]))
    got = reproduce.evaluate([spec], run.cells())[0]
    assert got["kind"] == "context" and got["rows"][0]["ratio"] is None
    assert got["rows"][0]["measured"]["value"] == 2100 and "context" in got["rows"][0]["note"]


def test_reproduction_notes_name_a_config_never_a_path_or_an_exception():
    specs, _ = reproduce.load_specs()
    for r in reproduce.evaluate(specs, []):
        for row in r["rows"]:
            assert "/work" not in row["note"] and str(reproduce.REPO) not in row["note"]
            assert "Error" not in row["note"] and "Traceback" not in row["note"]
            assert "configs/" in row["note"] or "peer" in row["note"], row["note"]


def test_an_old_run_is_reported_with_its_own_tracer(tmp_path):
    """The report reads the run's tracer.json, never today's build: a run
    made when the tracer offered other probes, and measured another cost,
    is reported with those."""
    specs = [synthrun.Spec("pingpong", "coro", {"channel": "event"}, {"handoff_ns": 20.0},
                           probes=("sched",))]
    d = synthrun.make_run(tmp_path / "run", specs)
    probe = {"summary": "x", "selectable": True, "default": False, "events": False,
             "programs": ["p"], "attach": [{"program": "p", "section": "tp_btf/x",
                                            "essential": True}]}
    (d / "tracer.json").write_text(json.dumps({"schema": 1, "probes": [
        {**probe, "name": "sched", "default": True}, {**probe, "name": "oldprobe"}],
        "cost": {"measured_at": "2026-01-02 03:04 UTC", "reps": 7, "workload": "w",
                 "variants": {"schedtrace": {"cpu_ratio": 1.31, "wall_ratio": 1.4}}}}))
    assert run_main(["report", str(d), "--no-plots"]) == 0
    inst = json.loads((d / "report.json").read_text())["instruments"]
    names = [p["name"] for p in inst["present"] + inst["missing"]]
    assert sorted(names) == ["oldprobe", "perf", "sched"]
    assert inst["tracer_cost"]["measured_at"] == "2026-01-02 03:04 UTC"
    assert "schedtrace 1.31x" in (d / "report.md").read_text()
    (d / "tracer.json").unlink()       # a run without one: the probes its lines name
    assert run_main(["report", str(d), "--no-plots"]) == 0
    inst = json.loads((d / "report.json").read_text())["instruments"]
    assert sorted(p["name"] for p in inst["present"] + inst["missing"]) == ["perf", "sched"]
    assert inst["tracer_cost"] is None


def test_no_path_of_the_machine(full_run, tmp_path):
    # a run's env.json records its argv, --out included: the report names the
    # run, never where this machine keeps it
    run = tmp_path / "elsewhere" / "run-x"
    shutil.copytree(full_run, run)
    env = json.loads((run / "env.json").read_text())
    env["argv"] = ["schedlab", "run", "configs/default.toml", "--out", str(run)]
    (run / "env.json").write_text(json.dumps(env))
    assert run_main(["report", str(run), "--no-plots"]) == 0
    for name in ("report.md", "report.html", "report.json"):
        assert str(tmp_path) not in (run / name).read_text(), name


def test_a_run_reported_from_inside_keeps_its_name_and_its_environment(
        full_run, tmp_path, monkeypatch):
    # "." names no directory: the run is named by the directory it stands for,
    # and nothing of env.json is taken for its path (once every "." went)
    run = tmp_path / "run-x"
    shutil.copytree(full_run, run)
    env = json.loads((run / "env.json").read_text())
    monkeypatch.chdir(run)
    assert run_main(["report", ".", "--no-plots"]) == 0
    doc = json.loads((run / "report.json").read_text())
    assert doc["run"] == "run-x"
    assert doc["environment"] == env


def test_busy_cpus_shown_per_cell_and_on_the_first_screen(tmp_path):
    """compute's runs had 40% of their CPUs taken by other work: each compute
    cell prints its share, flagged busy; C3's first-screen line says why it
    is not decided; cells without the figure print none."""
    from harness.records import record
    d = synthrun.make_run(tmp_path / "run", synthrun.full_matrix())
    synthrun.set_interference(d, "compute", 0.4)
    assert run_main(["report", str(d), "--no-plots"]) == 0
    doc = json.loads((d / "report.json").read_text())
    assert record.schema_errors(doc, "report") == []
    cells = {c["id"]: c for c in doc["cells"]}
    busy = cells["compute/threads/workers=2,cpus=0-1"]
    assert busy["others_share"] == pytest.approx(0.4) and busy["busy"]
    quiet = cells["pingpong/coro/channel=event,placement=same,iterations=200000,cpus=0-1"]
    assert quiet["others_share"] is None and not quiet["busy"]
    c3 = next(a for a in doc["answers"] if a["id"] == "C3")
    assert c3["verdict"] == "inconclusive"
    assert "not decided: the CPUs were busy with other work: a median 40%" in c3["answer"]
    md = (d / "report.md").read_text()
    assert "CPUs busy: others 40.0%" in md and "rerun on a quiet machine" in md
