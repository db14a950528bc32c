"""The real thing: configs/smoke.toml through the real build/workload, and a
small traced run through build/schedtrace and perf; every line and record
validated against schemas/*.json. Skips with the reason when the binaries
are not built."""

import os
import shutil
from pathlib import Path

import pytest

from conftest import REPO, write_config
from harness.run import config
from harness.records import record
from harness.cli import main
from harness.run.runner import ProcessRunner

WORKLOAD = REPO / "build" / "workload"
SCHEDTRACE = REPO / "build" / "schedtrace"
needs_workload = pytest.mark.skipif(not os.access(WORKLOAD, os.X_OK),
                                    reason="build/workload not built (make build/workload)")


def validate_run(out: Path) -> list[dict]:
    lines, problems = record.load(out / "records.jsonl")
    assert problems == []
    tracer_schema = (record.SCHEMA_DIR / "tracer.schema.json").exists()
    for ln in lines:
        assert record.schema_errors(ln, "line") == [], ln["cell"]
        if ln["record"] is not None:
            assert record.schema_errors(ln["record"], "record") == [], ln["cell"]
            rec = ln["record"]
            # the record describes the cell it was asked for
            assert (rec["task"], rec["model"]) == (ln["task"], ln["model"])
            for k, v in ln["params"].items():
                assert rec["params"][k] == v
        if tracer_schema and "schedtrace" in ln["probes"]:
            assert record.schema_errors(ln["probes"]["schedtrace"], "tracer") == []
    return lines


@pytest.mark.slow
@needs_workload
def test_smoke_config_with_the_real_workload(tmp_path):
    out = tmp_path / "smoke"
    with pytest.raises(SystemExit) as e:
        main(["run", str(REPO / "configs" / "smoke.toml"), "--out", str(out)],
             runner=ProcessRunner())
    lines = validate_run(out)
    cfg = config.load(REPO / "configs" / "smoke.toml")
    from harness.run import matrix
    cells = matrix.expand(cfg)
    assert {ln["cell"] for ln in lines} == {c.id for c in cells}
    bad = [(ln["cell"], ln["reason"]) for ln in lines if ln["status"] in ("failed", "timeout")]
    assert e.value.code == (1 if bad else 0)
    assert not bad, bad
    for ln in lines:
        if ln["status"] != "ok":
            continue
        m = ln["record"]["metrics"]
        if ln["task"] == "pingpong":
            assert m["handoffs"] == 2 * ln["params"]["iterations"]
            assert m["handoff_ns"] > 0
        if ln["task"] == "spawn":
            assert m["tasks"] == ln["params"]["tasks"]


@pytest.mark.slow
@needs_workload
def test_probes_with_the_real_tools(tmp_path):
    have_perf = shutil.which("perf") is not None
    have_tracer = os.access(SCHEDTRACE, os.X_OK) and os.geteuid() == 0
    cfg = write_config(tmp_path, f"""
        [run]
        repetitions = 1
        seed = 1
        timeout_s = 60
        workload = "{WORKLOAD}"
        schedtrace = "{SCHEDTRACE}"
        [[experiment]]
        task = "pingpong"
        models = ["threads", "coro"]
        probes = ["sched", "perf"]
        params = {{ iterations = 2000, channel = "event" }}
        """)
    out = tmp_path / "traced"
    with pytest.raises(SystemExit) as e:
        main(["run", str(cfg), "--out", str(out)], runner=ProcessRunner())
    assert e.value.code == 0
    lines = validate_run(out)
    assert len(lines) == 2
    for ln in lines:
        assert ln["status"] == "ok", ln["reason"]
        if have_perf:
            perf = ln["probes"]["perf"]
            assert perf["context-switches"] >= 0 and perf["task-clock_ns"] > 0
        else:
            assert "perf" in ln["probes_skipped"]
        if have_tracer:
            doc = ln["probes"]["schedtrace"]
            assert doc["totals"]["switches"] >= 0
            assert (out / ln["probe_files"]["schedtrace"]).is_file()
        else:
            assert "sched" in ln["probes_skipped"]
