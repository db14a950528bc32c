"""probes.py: how a command is wrapped, and parsing perf and schedtrace output."""

import json
from pathlib import Path

from harness.run import probes

DATA = Path(__file__).parent / "data"
CMD = ["build/workload", "pingpong", "--model", "coro"]


def tools(st=None, perf=None):
    return probes.Tools("build/schedtrace", st, "/usr/bin/perf", perf)


def test_wrap_nests_schedtrace_outside_perf(tmp_path):
    w = probes.wrap(CMD, ("sched", "uring", "perf"), tools(), tmp_path / "t", "c.r0")
    st = str(tmp_path / "t" / "c.r0.schedtrace.json")
    pf = str(tmp_path / "t" / "c.r0.perf.csv")
    # USDT probes attach to the workload, not to the perf stat that runs it
    assert w.command[:8] == ["build/schedtrace", "--json", st, "--probes", "sched,uring",
                             "--binary", CMD[0], "--"]
    assert w.command[8:11] == ["/usr/bin/perf", "stat", "-x,"]
    assert w.command[w.command.index("-o") + 1] == pf
    assert w.command[-len(CMD):] == CMD
    assert w.command[-len(CMD) - 1] == "--"
    assert set(w.outputs) == {"schedtrace", "perf"} and w.skipped == {}
    assert (tmp_path / "t").is_dir()


def test_wrap_without_probes_is_the_command(tmp_path):
    w = probes.wrap(CMD, (), tools(), tmp_path, "x")
    assert w.command == CMD and w.outputs == {}


def test_missing_tools_skip_with_reason(tmp_path):
    w = probes.wrap(CMD, ("sched", "usdt", "perf"), tools("not built", "no perf"),
                    tmp_path, "x")
    assert w.command == CMD
    assert w.skipped == {"sched": "not built", "usdt": "not built", "perf": "no perf"}


def test_detect(tmp_path):
    t = probes.detect("build/schedtrace", cwd=tmp_path, euid=0, which=lambda n: None)
    assert "not built" in t.schedtrace_missing and "linux-perf" in t.perf_missing
    exe = tmp_path / "build" / "schedtrace"
    exe.parent.mkdir()
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    t = probes.detect("build/schedtrace", cwd=tmp_path, euid=1000,
                      which=lambda n: "/usr/bin/perf")
    assert "root" in t.schedtrace_missing and t.perf_missing is None
    t = probes.detect("build/schedtrace", cwd=tmp_path, euid=0, which=lambda n: "/p")
    assert t.schedtrace_missing is None and t.perf == "/p"


def test_parse_perf_golden():
    doc = probes.parse_perf((DATA / "perf-stat-x.csv").read_text())
    assert doc == {"context-switches": 2, "cpu-migrations": 0, "task-clock_ns": 1180000,
                   "page-faults": 75, "major-faults": 1, "minor-faults": 74,
                   "not_supported": ["cycles"]}


def test_parse_perf_user_modifier():
    assert probes.parse_perf("5,,context-switches:u,1,100.00,,\n") == {"context-switches": 5}


def test_collect(tmp_path):
    w = probes.wrap(CMD, ("sched", "perf"), tools(), tmp_path, "c")
    skipped = probes.collect(w)[1]
    assert "schedtrace" in skipped and "perf" in skipped
    (tmp_path / "c.schedtrace.json").write_text(json.dumps({"schema": 1, "totals": {}}))
    (tmp_path / "c.perf.csv").write_text((DATA / "perf-stat-x.csv").read_text())
    found, skipped = probes.collect(w)
    assert skipped == {}
    assert found["schedtrace"] == {"schema": 1, "totals": {}}
    assert found["perf"]["context-switches"] == 2
    (tmp_path / "c.schedtrace.json").write_text("{trunc")
    found, skipped = probes.collect(w)
    assert "unreadable" in skipped["schedtrace"]


def test_slug():
    assert probes.slug("pingpong/coro/channel=event,iterations=10") == \
        "pingpong_coro_channel=event_iterations=10"


def test_trim_threads_keeps_the_busiest():
    doc = {"processes": [{"tgid": 1, "threads_omitted": 5,
                          "threads": [{"tid": i, "switches": i} for i in range(1, 101)]},
                         {"tgid": 2, "threads_omitted": 0, "threads": [{"tid": 7}]}]}
    out = probes.trim_threads(doc, 10)
    p = out["processes"][0]
    assert [t["tid"] for t in p["threads"]] == list(range(100, 90, -1))
    assert p["threads_omitted"] == 5 + 90
    assert out["processes"][1]["threads"] == [{"tid": 7}]


# ---- the probe list comes from the tracer ---------------------------------

def test_probe_list_is_the_tracers():
    import os

    import pytest
    if not (probes.TRACER.is_file() and os.access(probes.TRACER, os.X_OK)):
        assert probes.tracer_list() is None and probes.tracer_probes() is None
        pytest.skip("build/schedtrace not built: no list, and names go unchecked")
    listed = probes.tracer_list()
    assert probes.tracer_probes() == tuple(p["name"] for p in listed if p["selectable"])
    assert all(p["programs"] and p["summary"] for p in listed)
    assert [p for p in listed if p["default"]], "no default probe"


def test_config_accepts_exactly_the_listed_probes(tmp_path):
    import pytest

    from harness.run import config
    if probes.tracer_list() is None:
        pytest.skip("build/schedtrace not built")
    assert config.valid_probes() == (*probes.tracer_probes(), "perf")
    fixed = [p for p in probes.tracer_list() if not p["selectable"]]
    for p in fixed:     # always on: not a config's to name
        assert p["name"] not in config.valid_probes()


def test_events_go_to_the_tracer_when_a_probe_writes_them(tmp_path):
    listed = probes.tracer_list() or ()
    writers = [p["name"] for p in listed if p["events"]]
    others = [p["name"] for p in listed if p["selectable"] and not p["events"]]
    for name in writers:
        w = probes.wrap(CMD, (name,), tools(), tmp_path, "e", events=True)
        assert "--events" in w.command
    for name in others:
        w = probes.wrap(CMD, (name,), tools(), tmp_path, "n", events=True)
        assert "--events" not in w.command


def test_tracer_cost_from_bench_tracer(tmp_path):
    from harness.present import report
    f = tmp_path / "bench-tracer.json"
    assert probes.tracer_cost(f) is None
    assert "not measured" in report.tracer_cost_line(None)
    f.write_text(json.dumps({"reps": 9, "workload": ["build/workload", "pingpong"], "variants": {
        "baseline": {"median_cpu_ratio": 1.0, "median_ratio": 1.0},
        "schedtrace": {"median_cpu_ratio": 1.08, "median_ratio": 1.2},
        "bcc-runqlat": {"median_cpu_ratio": None, "median_ratio": None}}}))
    cost = probes.tracer_cost(f)
    assert cost["reps"] == 9 and set(cost["variants"]) == {"schedtrace"}
    assert cost["variants"]["schedtrace"] == {"cpu_ratio": 1.08, "wall_ratio": 1.2}
    line = report.tracer_cost_line(cost)
    assert "schedtrace 1.08x" in line and "9 interleaved" in line
