"""build/schedtrace's `cost` section and its "is this task ours" filter.

BPF run-time statistics slow every program run, so they are on only with
--cost (cost.method "bpf_stats"); by default the run counts come from the
probes' own per-CPU counters (cost.method "own_counts") and run time is
null with the reason. The filter (track.h, `tracked_bloom`) must never drop
an event of ours, and must keep another process's events out.

Needs root, kernel BTF and a built tracer (`make build`); skips otherwise.
Counts and consistency only, never timing.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TRACER = REPO / "build" / "schedtrace"
HELPERS = REPO / "build" / "bpf" / "tests"
SCHEMA = REPO / "schemas" / "tracer.schema.json"


def _why_not() -> str | None:
    if not TRACER.exists():
        return f"{TRACER} not built: run make (needs clang, bpftool, libbpf-dev)"
    if os.geteuid() != 0:
        return "needs root (CAP_BPF and CAP_PERFMON)"
    if not Path("/sys/kernel/btf/vmlinux").exists():
        return "needs kernel BTF (/sys/kernel/btf/vmlinux)"
    return None


pytestmark = [pytest.mark.bpf, pytest.mark.root,
              pytest.mark.skipif(_why_not() is not None, reason=str(_why_not()))]


def trace(tmp_path: Path, cmd: list[str], extra=()):
    """Runs cmd under the tracer (probe sched); returns (process, document)."""
    out = tmp_path / "trace.json"
    argv = [str(TRACER), "--json", str(out), "--probes", "sched", *extra, "--", *cmd]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc, json.loads(out.read_text())


def validate(doc: dict) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(doc, json.loads(SCHEMA.read_text()))


def pingpong(iterations: int = 2000) -> list[str]:
    path = HELPERS / "pingpong_rusage"
    if not path.exists():
        pytest.skip(f"{path} not built: run make")
    return [str(path), str(iterations)]


def program(doc: dict, name: str) -> dict:
    rows = [p for p in doc["cost"]["programs"] if p["name"] == name]
    assert len(rows) == 1, doc["cost"]["programs"]
    return rows[0]


def check_counts(doc: dict) -> None:
    """Every switch and wakeup of ours was one run of its program (the
    programs run system-wide, so they can only have run more often)."""
    cost = doc["cost"]
    assert program(doc, "st_switch")["run_cnt"] >= doc["totals"]["switches"] > 0
    assert program(doc, "st_wakeup")["run_cnt"] >= doc["totals"]["wakeups"] > 0
    assert cost["run_cnt"] == sum(p["run_cnt"] for p in cost["programs"])


@pytest.mark.parametrize("extra", [(), ("--no-cost",)])
def test_default_cost_is_own_counts_without_run_time(tmp_path: Path, extra):
    _, doc = trace(tmp_path, pingpong(), extra=extra)
    validate(doc)
    cost = doc["cost"]
    assert cost["method"] == "own_counts"
    assert cost["stats_enabled"] is False
    assert "--cost" in cost["reason"]
    assert cost["run_time_ns"] is None and cost["ns_per_run"] is None
    assert all(p["run_time_ns"] is None for p in cost["programs"])
    check_counts(doc)


def test_cost_flag_turns_on_bpf_stats(tmp_path: Path):
    if not Path("/proc/sys/kernel/bpf_stats_enabled").exists():
        pytest.skip("kernel.bpf_stats_enabled missing: no BPF run-time statistics")
    _, doc = trace(tmp_path, pingpong(), extra=("--cost",))
    validate(doc)
    cost = doc["cost"]
    assert cost["method"] == "bpf_stats" and cost["stats_enabled"] is True
    assert cost["reason"] is None
    assert cost["run_time_ns"] > 0 and cost["ns_per_run"] > 0
    assert program(doc, "st_switch")["run_time_ns"] > 0
    check_counts(doc)


def test_help_documents_cost(tmp_path: Path):
    out = subprocess.run([str(TRACER), "--help"], capture_output=True, text=True).stdout
    assert "--cost" in out and "own_counts" in out and "bpf_stats" in out


def test_filter_keeps_other_processes_out(tmp_path: Path):
    """An untraced hand-off runs beside the traced one: none of its threads
    may appear, and ours must still match getrusage exactly."""
    other = subprocess.Popen(pingpong(200000), stdout=subprocess.DEVNULL)
    try:
        _, doc = trace(tmp_path, pingpong(5000))
    finally:
        other.kill()
        other.wait()
    validate(doc)
    assert [p["tgid"] for p in doc["processes"]] == [doc["tgid"]], doc["processes"]
    totals, final = doc["totals"], doc["rusage"]  # wait4(): the final counts
    inv = totals["involuntary_switches"] - totals["released_involuntary_switches"]
    assert inv == final["involuntary_switches"]
    vol = totals["voluntary_switches"] - totals["released_voluntary_switches"]
    assert abs(vol - final["voluntary_switches"]) <= 10
    assert doc["lost"]["task_storage"] == 0
