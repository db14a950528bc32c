"""schemas/ is the contract between the parts: every document one part writes
and another reads has a schema there, and this module validates against it

  - the real output of the program that writes it (PRODUCERS: one row per
    schema, naming the producer; a real tiny `./schedlab run` and
    `./schedlab report`, build/workload, build/schedtrace, configs/),
  - every fixture under data/ (FIXTURES: one row per file, saying which
    command made it and how it is read),
  - what the tests synthesize in its place (conftest.fake_record, synthrun).

A schema without a producer row, or a fixture without a row, fails the test.
Producers that need root and BPF skip with the reason."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import synthrun  # noqa: E402
from builtworkload import NEEDS_WORKLOAD, WORKLOAD  # noqa: E402
from conftest import REPO, fake_record  # noqa: E402

from harness.analyse import trace  # noqa: E402
from harness.records import record  # noqa: E402
from harness.run import peers, probes  # noqa: E402

DATA = Path(__file__).parent / "data"
TRACER = REPO / "build" / "schedtrace"


def _why_no_tracer() -> str | None:
    if os.geteuid() != 0:
        return "needs root (CAP_BPF and CAP_PERFMON)"
    if not Path("/sys/kernel/btf/vmlinux").exists():
        return "needs kernel BTF (/sys/kernel/btf/vmlinux)"
    return None if TRACER.exists() else "build/schedtrace not built: run make"


# ---- a real tiny run ---------------------------------------------------------------

TINY = """
[run]
repetitions = 1
warmup_runs = 1
seed = 1
timeout_s = 60

[[experiment]]
task = "pingpong"
models = ["threads", "coro"]
probes = [PROBES]
events = EVENTS
params = { iterations = 200, warmup = 0 }

[[experiment]]
name = "too-slow"     # outlives its timeout: a line that says so, no record
task = "pingpong"
models = ["threads"]
timeout_s = 1
params = { iterations = 1000000000 }
"""


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """`./schedlab run` on TINY (traced and with an event stream when the
    tracer can run here), `./schedlab run --resume` on it (nothing left to
    run: it adds a resume to run.json), then `./schedlab report`."""
    if not WORKLOAD.exists():
        pytest.skip("build/workload is not built: run `make build`")
    tmp = tmp_path_factory.mktemp("tiny")
    traced = _why_no_tracer() is None
    cfg = tmp / "tiny.toml"
    cfg.write_text(TINY.replace("PROBES", '"sched", "usdt", "perf"' if traced else "")
                   .replace("EVENTS", "true" if traced else "false"))
    out = tmp / "run"
    for argv in (["run", str(cfg), "--out", str(out)], ["run", "--resume", str(out)],
                 ["report", str(out), "--no-plots"]):
        p = subprocess.run([str(REPO / "schedlab"), *argv], capture_output=True, text=True,
                           cwd=REPO, timeout=300)
        assert p.returncode in (0, 1), p.stderr     # 1: the slow cell timed out, as meant
    return out


def _lines(run: Path) -> list[dict]:
    lines, problems = record.load(run / "records.jsonl")
    assert problems == [] and len(lines) == 3
    assert {ln["status"] for ln in lines} == {"ok", "timeout"}
    return lines


def _lines_and_warmups(run: Path) -> list[dict]:
    warm, problems = record.load(run / "warmup.jsonl")
    assert problems == [] and [ln["warmup_index"] for ln in warm] == [0, 0, 0]
    return _lines(run) + warm


def _traced(run: Path, pattern: str) -> list[Path]:
    why = _why_no_tracer()
    if why:
        pytest.skip(why)
    found = sorted((run / "traces").glob(pattern))
    assert found, f"the traced run wrote no {pattern}"
    return found


# ---- producers: schema -> (what writes it, its real output) --------------------------

def _workload(*argv: str, cpus: set[int] | None = None) -> dict:
    p = subprocess.run([str(WORKLOAD), *argv], capture_output=True, text=True, timeout=60,
                       preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)
    assert p.returncode in (0, 77), p.stderr
    return json.loads(p.stdout)


def records_of_the_workload(run: Path) -> list[dict]:
    out = [_workload("pingpong", "--model", m, "--iterations", "50", "--warmup", "0")
           for m in ("threads", "coro", "uring", "mn")]
    out.append(_workload("spawn", "--model", "threads", "--tasks", "10"))
    out.append(_workload("timers", "--model", "coro", "--tasks", "2", "--rounds", "3"))
    # placement=split on a process allowed one CPU: the task skips (exit 77)
    skipped = _workload("pingpong", "--placement", "split", "--iterations", "10", cpus={0})
    assert skipped["status"] == "skipped" and skipped["reason"]
    return out + [skipped] + [ln["record"] for ln in _lines(run) if ln["record"]]


def tracer_documents(run: Path) -> list[dict]:
    docs = [json.loads(p.read_text()) for p in _traced(run, "*.schedtrace.json")]
    return docs + [ln["probes"]["schedtrace"] for ln in _lines(run)
                   if "schedtrace" in ln["probes"]]


def decoded_events(path: Path) -> list[dict]:
    header, events, problems = trace.read_events(path)
    assert problems == []
    return [{"header": header, "events": events}]


def repo_configs(run: Path) -> list[dict]:
    # claims.toml (the verdicts' rules) and configs/reproduce/ (published
    # figures) are read by analyse/, and are no configs of runs
    paths = [p for p in sorted((REPO / "configs").glob("*.toml")) if p.name != "claims.toml"]
    assert paths
    return [tomllib.loads(p.read_text()) for p in paths] + \
        [tomllib.loads((run.parent / "tiny.toml").read_text())]


def catalogs(run: Path) -> list[dict]:
    listed = subprocess.run([str(WORKLOAD), "--list"], capture_output=True, text=True,
                            check=True, timeout=60).stdout
    return [json.loads(listed), json.loads((run / "catalog.json").read_text())]


def probe_lists(run: Path) -> list[dict]:
    if not TRACER.exists():
        pytest.skip("build/schedtrace not built: run make")
    # --list needs no privilege: it reads the built objects without loading them
    listed = subprocess.run([str(TRACER), "--list"], capture_output=True, text=True,
                            check=True, timeout=60).stdout
    return [json.loads(listed), json.loads((run / "tracer.json").read_text())]


def fleet_of_two(run: Path) -> list[dict]:
    from harness.analyse import fleet
    root = run.parent / "fleet-of-two"
    for host in ("a", "b"):
        if not (root / host).exists():
            shutil.copytree(run, root / host)
    return [fleet.build(root)]


PRODUCERS = {
    "catalog": ("build/workload --list, and the tiny run's catalog.json "
                "(harness/run/session.py)",
                catalogs),
    "probes": ("build/schedtrace --list, and the tiny run's tracer.json "
               "(harness/run/session.py)", probe_lists),
    "record": ("build/workload: tasks x models, a skipped run, the records of the tiny run",
               records_of_the_workload),
    "line": ("./schedlab run: records.jsonl and warmup.jsonl (harness/run/runner.py)",
             _lines_and_warmups),
    "run": ("./schedlab run and --resume: run.json (harness/run/session.py)",
            lambda run: [json.loads((run / "run.json").read_text())]),
    "env": ("./schedlab run: env.json (harness/run/sysinfo.py)",
            lambda run: [json.loads((run / "env.json").read_text())]),
    "config": ("configs/*.toml and the tiny run's config, as tomllib parses them",
               repo_configs),
    "claims": ("configs/claims.toml, as harness/analyse/claims.py reads it",
               lambda run: [tomllib.loads((REPO / "configs" / "claims.toml").read_text())]),
    "tracer": ("build/schedtrace --json: the tiny run's traces and lines", tracer_documents),
    "events": ("harness/analyse/trace.py read_events of build/schedtrace --events",
               lambda run: [d for p in _traced(run, "*.events") for d in decoded_events(p)]),
    "report": ("./schedlab report: report.json (harness/present/report.py)",
               lambda run: [json.loads((run / "report.json").read_text())]),
    "fleet": ("./schedlab fleet-report of two hosts holding the tiny run "
              "(harness/analyse/fleet.py)", fleet_of_two),
    "chrome-trace": ("./schedlab report's timelines (harness/analyse/trace.py convert)",
                     lambda run: [json.loads(p.read_text())
                                  for p in _traced(run, "*.perfetto.json")]),
}


def test_every_schema_has_a_producer():
    names = {p.name.removesuffix(".schema.json") for p in record.SCHEMA_DIR.glob("*.schema.json")}
    assert names == set(PRODUCERS)


@NEEDS_WORKLOAD
@pytest.mark.parametrize("schema", sorted(PRODUCERS))
def test_producer_output_matches_its_schema(schema, tiny_run):
    docs = PRODUCERS[schema][1](tiny_run)
    assert docs
    for doc in docs:
        assert record.schema_errors(doc, schema) == []


def test_the_tiny_run_has_every_kind_of_line(tiny_run):
    lines = _lines(tiny_run)
    slow, = [ln for ln in lines if ln["status"] == "timeout"]
    assert slow["record"] is None and "timed out after 1s" in slow["reason"]
    assert len(json.loads((tiny_run / "run.json").read_text())["resumes"]) == 1


# ---- fixtures: file under data/ -> (schema, what made it, how it is read) -----------

def jsonl_lines(path: Path) -> list[dict]:
    lines, _ = record.load(path)
    return lines


def shim_line() -> str:
    return json.dumps({"peer_exec": {"schema": 1, "cpus": "0", "exit_status": 0, "usage": {
        "wall_ns": 9, "user_ns": 1, "sys_ns": 2, "max_rss_bytes": 4096,
        "voluntary_switches": 5, "involuntary_switches": 6}}}) + "\n"


def perf_in_a_line(path: Path) -> list[dict]:
    ln = jsonl_lines(DATA / "line-v1-truncated.jsonl")[0]
    return [{**ln, "probes": {"perf": probes.parse_perf(path.read_text())}}]


FIXTURES = {
    "workload-list.json": (
        "catalog", "build/workload --list; synthrun saves it as a run's catalog.json",
        lambda p: [json.loads(p.read_text())]),
    "events-pingpong-mn.bin": (
        "events", "build/schedtrace --events F --probes sched,usdt -- "
        "build/workload pingpong --model mn --iterations 3 --warmup 0", decoded_events),
    "env-schedlab-run.json": (
        "env", "./schedlab run fleet/smoke.toml on this machine: its env.json",
        lambda p: [json.loads(p.read_text())]),
    "line-v1-truncated.jsonl": (
        "line", "records.jsonl cut inside its last line (every complete line checked)",
        jsonl_lines),
    "catalog-fleet-smoke.json": (
        "catalog", "make run CONFIG=fleet/smoke.toml: its catalog.json (fleet-report's "
        "headline metrics)", lambda p: [json.loads(p.read_text())]),
    "report-fleet-smoke.json": (
        "report", "make run CONFIG=fleet/smoke.toml: a fleet host's report.json, brought "
        "back by fleet/playbook.yml", lambda p: [json.loads(p.read_text())]),
    "records-v1-truncated.jsonl": (
        "line", "synthrun lines, the last one cut (every complete line checked)", jsonl_lines),
    "records-v2-newer.jsonl": (
        "line", "synthrun lines and one of a newer line schema (the current ones checked)",
        lambda p: [ln for ln in jsonl_lines(p) if ln["schema"] == record.LINE_SCHEMA]),
    "tracer-pingpong-coro.json": (
        "tracer", "build/schedtrace --json F --probes sched,usdt -- "
        "build/workload pingpong --model coro --iterations 200 --warmup 0",
        lambda p: [json.loads(p.read_text())]),
    "perf-stat-x.csv": (
        "line", "perf stat -x, -e <probes.PERF_EVENTS> -o F -- true; parse_perf puts it "
        "in a line's probes.perf", perf_in_a_line),
    "perf-bench-sched-pipe-T-l1000.txt": (
        "record", "perf bench sched pipe -T -l 1000; peers.make_record makes the record",
        lambda p: [peers.make_record(peers.PEERS["perf-bench-sched-pipe"], "threads",
                                     {"loops": 1000, "cpus": "0"}, 0,
                                     p.read_text() + shim_line(), "")]),
}


def test_every_fixture_has_a_row():
    assert {p.name for p in DATA.iterdir()} == set(FIXTURES)


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_fixture_matches_its_schema(name):
    schema, _, read = FIXTURES[name]
    docs = read(DATA / name)
    assert docs
    for doc in docs:
        assert record.schema_errors(doc, schema) == []


# ---- what the tests synthesize --------------------------------------------------------

def test_synthesized_runs_match_the_schemas(tmp_path):
    traced = [synthrun.Spec("pingpong", "coro", {}, {"handoff_ns": 1.0}, probes=("sched", "perf"),
                            usdt=True),
              synthrun.Spec("spawn", "threads", {}, {}, status="failed", reason="boom",
                            probes=("sched",), skipped={"perf": "no perf"})]
    d = synthrun.make_run(tmp_path / "run", synthrun.full_matrix() + traced)
    assert record.schema_errors(json.loads((d / "env.json").read_text()), "env") == []
    assert record.schema_errors(synthrun.real_env(affinity=[0]), "env") == []
    lines = jsonl_lines(d / "records.jsonl")
    assert {ln["status"] for ln in lines} == {"ok", "failed"}
    assert any("schedtrace" in ln["probes"] for ln in lines)
    for ln in lines:
        assert record.schema_errors(ln, "line") == [], ln["cell"]


@pytest.mark.parametrize("task", ["pingpong", "spawn", "fake"])
@pytest.mark.parametrize("status, reason", [("ok", None), ("failed", "boom"),
                                            ("skipped", "not here")])
def test_fake_records_match_the_record_schema(task, status, reason):
    rec = fake_record(task, "coro", {"iterations": 10}, status, reason)
    assert record.schema_errors(rec, "record") == []
