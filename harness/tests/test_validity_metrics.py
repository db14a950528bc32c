"""The figures the claims' deciding tests and crossovers read (issue 20),
run for real: each is produced, agrees with its own parts, and where a
second instrument exists, with it.

- spawn `stack_touch_bytes`: every parked task holds that much more memory,
  under every model; the stack it got is at least what it touches.
- pingpong `work_ns`, `cpus_used`, `cross_cpu_share`: pinned threads on two
  CPUs were apart in every sample, one thread never; the work measured is at
  least the work asked.
- echo: steady-window server CPU plus set-up fit inside the whole span.
- fileio `iops_per_cpu_s`: reads over the CPU time, exactly.
- preempt: the hogs' switches per OS thread, against getrusage (the
  process) and, with the tracer, against its per-thread row.
- counter `run_us`, `lost_any`: the outcome is lost_updates > 0, and a run
  lasts at least run_us.
- switch-bench: build/bench/switch as a peer cell.

Correctness and consistency only: no timing thresholds.
"""
import json
import os
import subprocess
from pathlib import Path

import pytest

from harness.run import echo_peer, peers
from harness.tests.builtworkload import NEEDS_WORKLOAD, WORKLOAD, need_model

ROOT = Path(__file__).resolve().parents[2]
TRACER = WORKLOAD.parent / "schedtrace"
TWO_CPUS = len(os.sched_getaffinity(0)) >= 2


def record(task, model, *args, tracer_json=None):
    need_model(model)
    cmd = [str(WORKLOAD), task, "--model", model, *map(str, args)]
    if tracer_json:
        cmd = [str(TRACER), "--json", str(tracer_json), "--", *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if out.returncode == 77:
        pytest.skip(f"{task}/{model}: {out.stderr.strip()}")
    assert out.returncode == 0, out.stderr
    rec = json.loads(out.stdout.strip().splitlines()[-1])
    assert rec["status"] == "ok", rec["reason"]
    return rec


# ---- C1: spawn's stack_touch_bytes ---------------------------------------------

@NEEDS_WORKLOAD
@pytest.mark.parametrize("model, stack", [("threads", None), ("coro", "guarded"),
                                          ("coro", "shared")])
def test_touched_stack_is_held_by_every_parked_task(model, stack):
    extra = ["--stack", stack] if stack else []
    base = record("spawn", model, "--tasks", 300, *extra)["metrics"]
    touched = record("spawn", model, "--tasks", 300, "--stack_touch_bytes", 65536,
                     *extra)["metrics"]
    # 16 pages written per task stay resident (own stacks) or are copied out
    # (shared): at least 3/4 of them show in RSS per task
    assert touched["user_bytes_per_task"] - base["user_bytes_per_task"] >= 0.75 * 65536
    assert touched["stack_bytes_per_task"] >= 65536 + 16384
    assert base["stack_bytes_per_task"] == 16384


# ---- C2: pingpong's work between hand-offs and where the tasks ran ------------

@NEEDS_WORKLOAD
@pytest.mark.skipif(not TWO_CPUS, reason="needs 2 CPUs")
def test_split_threads_were_apart_in_every_sample_and_one_thread_never():
    split = record("pingpong", "threads", "--placement", "split", "--cpus", "0-1",
                   "--iterations", 2000)["metrics"]
    assert split["cpus_allowed"] == "0-1" and split["cpus_used"] == "0-1"
    assert split["cpu_samples"] == 2000 and split["cross_cpu_share"] == 1.0
    coro = record("pingpong", "coro", "--cpus", "0-1", "--iterations", 2000)["metrics"]
    assert coro["cross_cpu_share"] == 0.0
    assert coro["cpus_used"] in ("0", "1", "0-1")


@NEEDS_WORKLOAD
@pytest.mark.parametrize("model", ["threads", "coro"])
def test_work_between_handoffs_is_measured_inside_the_window(model):
    m = record("pingpong", model, "--channel", "pipe", "--cpus", "0",
               "--iterations", 500, "--work_ns", 20000)["metrics"]
    assert m["work_ns_per_handoff"] >= 20000
    assert m["handoff_ns"] >= m["work_ns_per_handoff"]
    share = 1 - m["work_ns_per_handoff"] * m["handoffs"] / m["window_ns"]
    assert m["handoff_overhead_share"] == pytest.approx(share, abs=1e-9)
    assert 0 <= m["handoff_overhead_share"] < 1


# ---- C5: echo's steady window, fileio per CPU-second ----------------------------

@NEEDS_WORKLOAD
@pytest.mark.parametrize("model", ["threads", "coro"])
def test_echo_window_and_setup_cpu_fit_in_the_span(model):
    cpus = ["--cpus", "0", "--client_cpus", "1"] if TWO_CPUS else []
    m = record("echo", model, "--connections", 100, "--requests", 3000, *cpus)["metrics"]
    assert 0 < m["server_cpu_ns_window"]
    assert 0 < m["server_setup_cpu_ns"]
    assert m["server_setup_cpu_ns"] + m["server_cpu_ns_window"] <= m["server_cpu_ns"]
    assert m["server_cpu_ns_per_request"] == pytest.approx(
        m["server_cpu_ns_window"] / m["requests"])
    assert m["server_setup_cpu_ns_per_connection"] == pytest.approx(
        m["server_setup_cpu_ns"] / m["connections"])
    assert m["server_span_cpu_ns_per_request"] == pytest.approx(
        m["server_cpu_ns"] / m["server_requests"])


def test_echo_peer_reads_the_same_figures_from_its_marks():
    cpu = {"start": 1000, "window_start": 5000, "window_end": 9000, "end": 10000,
           "wall": 20000}
    m = echo_peer.server_cpu_metrics(cpu, {"requests": 400, "connections": 10}, 500, 1)
    assert m["server_cpu_ns_window"] == 4000 and m["server_cpu_ns_per_request"] == 10.0
    assert m["server_setup_cpu_ns_per_connection"] == 400.0
    assert m["server_span_cpu_ns_per_request"] == 9000 / 500
    assert m["server_cpu_utilization"] == 9000 / 20000


@NEEDS_WORKLOAD
@pytest.mark.parametrize("model", ["threads", "uring"])
def test_fileio_iops_per_cpu_second(model):
    m = record("fileio", model, "--file_mb", 4, "--tasks", 2, "--requests", 2000,
               "--cache", "warm")["metrics"]
    assert m["cpu_ns_window"] > 0
    assert m["iops_per_cpu_s"] == pytest.approx(m["reads"] * 1e9 / m["cpu_ns_window"])
    assert m["cpus_busy"] == pytest.approx(m["cpu_ns_window"] / m["window_ns"])
    assert m["cpus_busy"] <= len(os.sched_getaffinity(0)) + 0.5


# ---- C7: the hogs' own switches, per OS thread --------------------------------

@NEEDS_WORKLOAD
@pytest.mark.parametrize("model, hogs, threads", [("threads", 2, 2), ("coro", 2, 1)])
def test_hog_switches_are_counted_per_os_thread(model, hogs, threads):
    rec = record("preempt", model, "--cpus", "0", "--hogs", hogs, "--hog_yield_us", 0,
                 "--hog_ms", 200)
    m = rec["metrics"]
    assert m["hog_threads"] == threads and m["hog_thread_changes"] == 0
    assert m["hog_thread_ns"] >= threads * 150_000_000
    assert m["hog_involuntary_switches"] <= rec["usage"]["involuntary_switches"]
    assert m["hog_involuntary_per_s"] == pytest.approx(
        m["hog_involuntary_switches"] * 1e9 / m["hog_thread_ns"])
    if model == "threads":
        # four tickers due every millisecond on the hogs' one CPU: the kernel
        # must take it from the hogs at least once in 200 ms
        assert m["hog_involuntary_switches"] > 0


def _tracer_missing():
    if not TRACER.exists():
        return "build/schedtrace is not built"
    if os.geteuid() != 0:
        return "needs root"
    if not Path("/sys/kernel/btf/vmlinux").exists():
        return "needs kernel BTF"
    return None


@NEEDS_WORKLOAD
@pytest.mark.bpf
@pytest.mark.root
@pytest.mark.skipif(_tracer_missing() is not None, reason=str(_tracer_missing()))
def test_hog_switches_match_the_tracers_row_of_the_hog_thread(tmp_path):
    out = tmp_path / "trace.json"
    rec = record("preempt", "threads", "--cpus", "0", "--hogs", 1, "--hog_yield_us", 0,
                 "--hog_ms", 200, tracer_json=out)
    doc = json.loads(out.read_text())
    rows = [t for p in doc["processes"] for t in p["threads"]]
    # the hog is the thread that held the CPU longest
    hog = max(rows, key=lambda t: t["oncpu_ns"]["sum"])
    ours = rec["metrics"]["hog_involuntary_switches"]
    # the tracer counts the thread's whole life; ours from the hog's first to
    # its last read of /proc: only the thread's start and exit lie between
    assert 0 <= hog["involuntary_switches"] - ours <= 5


# ---- C8: counter's run length and per-run outcome -------------------------------

@NEEDS_WORKLOAD
@pytest.mark.parametrize("model, cpus", [("threads", "0-1"), ("coro", "0"), ("mn", "0-1")])
def test_lost_any_is_the_runs_outcome_and_a_run_lasts_run_us(model, cpus):
    for _ in range(3):
        m = record("counter", model, "--cpus", cpus, "--run_us", 2000,
                   "--increments", 1_000_000_000)["metrics"]
        assert m["lost_any"] == (1 if m["lost_updates"] > 0 else 0)
        assert m["window_ns"] >= 2_000_000
        assert m["expected"] < 2 * 1_000_000_000


@NEEDS_WORKLOAD
def test_increments_cap_a_timed_run():
    m = record("counter", "coro", "--cpus", "0", "--run_us", 10_000_000,
               "--increments", 1000)["metrics"]
    assert m["expected"] == 2000 and m["lost_any"] == 0


# ---- reproductions: the raw switch as cells -----------------------------------

SWITCH_JSON = {"schema": 1, "bench": "switch", "repetitions": 1, "cpu": 0,
               "handoff_shared_copy_bytes_per_switch": 96.0,
               **{k: {"median": v, "samples": [v]} for k, v in (
                   ("ours", 3.5), ("ours_fpctl", 5.1), ("floor", 3.4),
                   ("swapcontext", 220.0), ("handoff_own", 12.0), ("handoff_shared", 27.0))}}


def test_switch_bench_output_becomes_a_record():
    rec = peers.make_record(peers.SWITCH_BENCH, "raw", {"repetitions": 1, "cpus": "0"}, 0,
                            json.dumps(SWITCH_JSON), "")
    assert rec["status"] == "ok" and rec["task"] == "switchbench"
    assert rec["metrics"]["ours_ns"] == 3.5 and rec["metrics"]["swapcontext_ns"] == 220.0
    wrong = peers.make_record(peers.SWITCH_BENCH, "raw", {"repetitions": 3}, 0,
                              json.dumps(SWITCH_JSON), "")
    assert wrong["status"] == "failed" and "repetitions" in wrong["reason"]
    broken = peers.make_record(peers.SWITCH_BENCH, "raw", {}, 0, "not json", "")
    assert broken["status"] == "failed"


@pytest.mark.skipif(not peers.SWITCH_BENCH_PATH.exists(), reason="build/bench/switch not built")
def test_switch_bench_runs_as_a_peer_cell():
    cmd = peers.command(peers.SWITCH_BENCH, "raw", {"repetitions": 1, "cpus": "0"})
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    rec = peers.make_record(peers.SWITCH_BENCH, "raw", {"repetitions": 1, "cpus": "0"},
                            out.returncode, out.stdout, out.stderr)
    assert rec["status"] == "ok", rec["reason"]
    m = rec["metrics"]
    assert all(m[f"{k}_ns"] > 0 for k in ("ours", "floor", "swapcontext", "handoff_own"))


# ---- reproductions: each measured figure names one like-with-like cell ----------

def _as_run(cell, listing) -> dict:
    """The cell's parameters as its record gives them (defaults filled in)."""
    defaults = {k: spec["default"] for k, spec in listing.params(cell.task, cell.model).items()}
    return {**defaults, **{k: str(v).lower() if isinstance(v, bool) else str(v)
                           for k, v in cell.params}}


def _candidates(config: str, task: str, model: str, where: dict) -> list[str]:
    from harness.analyse.verdicts import KNOB_DEFAULTS
    from harness.run import catalog, config as config_mod, matrix
    from harness.tests.builtworkload import listing

    found = []
    known = catalog.Listing(catalog.with_peers(listing()))
    for cell in matrix.expand(config_mod.load(ROOT / "configs" / config), known):
        p = _as_run(cell, known)
        if (cell.task, cell.model) != (task, model) or cell.probes:
            continue
        if any(str(p.get(k, v)).lower() != str(v).lower() for k, v in KNOB_DEFAULTS.items()
               if k not in where):
            continue
        if all(str(p.get(k)).lower() == str(v).lower() for k, v in where.items()):
            found.append(cell.id)
    return found


@NEEDS_WORKLOAD
def test_each_reproduction_matches_exactly_one_bare_cell():
    from harness.analyse import reproduce
    specs, problems = reproduce.load_specs()
    assert not problems
    for spec in specs:
        m = spec["measured"]
        # closed-loop echo saturates the client on 2 CPUs: full.toml only
        config = "full.toml" if spec["id"] == "io-uring-echo" else "default.toml"
        for point in spec.get("point") or [{}]:
            where = {**m.get("where", {}), **point.get("where", {})}
            for model in (m["model"], m.get("den_model")):
                if model:
                    cells = _candidates(config, m["task"], model, where)
                    assert len(cells) == 1, (spec["id"], model, where, cells)
        if "peer" in spec:
            peer = spec["peer"]
            cells = _candidates(config, peer["task"], peer.get("model", "threads"),
                                peer.get("where", {}))
            assert len(cells) == 1, (spec["id"], cells)
