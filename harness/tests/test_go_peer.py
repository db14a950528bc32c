"""Go as a peer (peers/go/, build/peers/gotasks): ./schedlab run of a config
with the Go peer writes ok records for pingpong, spawn, compute and echo,
with our metric names and record shape; go_locked hands off through the
kernel (its window shows the thread switches go avoids); compute's checksum
is the workload's; and without Go every cell is skipped with the reason."""

from __future__ import annotations

import os

import pytest

from conftest import write_config
from harness.cli import main
from harness.records import record
from harness.run import peers
from harness.run.runner import ProcessRunner
from test_peers import check

NEEDS_GO = pytest.mark.skipif(not peers.GOTASKS.is_file(),
                              reason=f"{peers.GOTASKS} not built (Go: golang-go, make build)")

CONFIG = """
[[experiment]]
task = "pingpong"
models = ["go", "go_locked"]
repetitions = 1
params = { iterations = 2000, warmup = 10, cpus = "0" }

[[experiment]]
task = "spawn"
models = ["go"]
repetitions = 1
params = { tasks = 2000 }

[[experiment]]
task = "compute"
models = ["go"]
repetitions = 1
params = { workers = 2, work_units = 40, unit_iters = 10000, seed = 3, cpus = "0-1" }

[[experiment]]
task = "echo"
models = ["go"]
repetitions = 1
params = { connections = 20, requests = 400, cpus = "0", client_cpus = "1" }
"""


def run(tmp_path, fake_workload) -> list[dict]:
    cfg = write_config(tmp_path, f'[run]\nworkload = "{fake_workload}"\nseed = 1\n' + CONFIG)
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as e:
        main(["run", str(cfg), "--out", str(out)], runner=ProcessRunner(cwd=tmp_path))
    assert e.value.code == 0
    lines, problems = record.load(out / "records.jsonl")
    assert problems == []
    for ln in lines:
        check(ln)
    return lines


@NEEDS_GO
def test_go_cells_write_ok_records_with_our_metric_names(tmp_path, fake_workload):
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two CPUs (compute on 0-1, echo's client apart)")
    lines = {(ln["task"], ln["model"]): ln for ln in run(tmp_path, fake_workload)}
    assert set(lines) == {("pingpong", "go"), ("pingpong", "go_locked"), ("spawn", "go"),
                          ("compute", "go"), ("echo", "go")}
    for ln in lines.values():
        assert ln["status"] == "ok", ln["reason"]
        assert ln["peer"].startswith("go-")
    go, locked = (lines[("pingpong", m)]["record"]["metrics"] for m in ("go", "go_locked"))
    for m in (go, locked):
        assert m["handoffs"] == 4000 and m["gomaxprocs"] == 1
        assert m["handoff_ns"] == pytest.approx(m["window_ns"] / 4000)
    # locked goroutines hand off through the kernel: a thread switch per
    # hand-off, where goroutines on one P switch in user space
    assert locked["window_voluntary_switches"] >= 4000 // 2
    assert go["window_voluntary_switches"] < locked["window_voluntary_switches"] / 10
    spawn = lines[("spawn", "go")]["record"]["metrics"]
    assert spawn["tasks"] == 2000 and spawn["user_bytes_per_task"] > 0
    assert spawn["go_stack_bytes_per_task"] > 0
    compute = lines[("compute", "go")]["record"]["metrics"]
    assert compute["gomaxprocs"] == 2 and compute["work_units"] == 40
    # the same units as build/workload compute: its checksum for these parameters
    # (seed 3, 40 units of 10,000 steps), computed by the C task
    assert compute["checksum"] == _c_checksum(3, 40, 10000)
    echo = lines[("echo", "go")]["record"]["metrics"]
    assert echo["mismatches"] == 0 and echo["requests"] == 400
    assert echo["server_cpu_ns_per_request"] > 0


def _c_checksum(seed: int, units: int, iters: int) -> int:
    """compute.c's unit, in Python: an independent check of the Go port."""
    mask = (1 << 64) - 1

    def splitmix(x):
        x = (x + 0x9e3779b97f4a7c15) & mask
        x = ((x ^ (x >> 30)) * 0xbf58476d1ce4e5b9) & mask
        x = ((x ^ (x >> 27)) * 0x94d049bb133111eb) & mask
        return x ^ (x >> 31)
    total = 0
    for i in range(units):
        x = splitmix(seed ^ splitmix(i))
        for _ in range(iters):
            x = (x * 6364136223846793005 + 1442695040888963407) & mask
            x ^= x >> 29
        total = (total + x) & mask
    return total & ((1 << 53) - 1)


def test_without_go_every_go_cell_is_skipped_with_the_reason(
        tmp_path, fake_workload, monkeypatch):
    monkeypatch.setattr(peers, "GOTASKS", tmp_path / "no-gotasks")
    monkeypatch.setattr(peers.shutil, "which", lambda name: None)
    lines = run(tmp_path, fake_workload)
    assert len(lines) == 5
    for ln in lines:
        assert ln["status"] == "skipped" and ln["exit_status"] is None
        assert "Go is not installed (Debian: golang-go" in ln["reason"]


def test_go_and_go_locked_are_told_apart_by_colour():
    """One runtime, two models: each its own colour in every figure, also
    read back from a run's saved catalog (and an old one's single colour)."""
    from harness.records.catalog import display_of
    from harness.run.catalog import with_peers
    shown = display_of(with_peers({"models": []}))
    assert shown.colour("go") != shown.colour("go_locked")
    old = {"peers": [{"models": ["go", "go_locked"], "colour": "#00ADD8"}]}
    assert display_of(old).colour("go_locked") == "#00ADD8"
