"""benchtable: the table `make bench` ends with, from a run and the switch
benchmark's JSON."""

import json

from synthrun import Spec, jitter, make_run

from harness.cli import run_main

SWITCH = {"schema": 1, "bench": "switch", "repetitions": 11, "cpu": 0,
          "ours": {"median": 3.85}, "floor": {"median": 3.5}, "swapcontext": {"median": 231.0},
          "handoff_own": {"median": 20.0}, "handoff_shared": {"median": 45.0},
          "handoff_shared_copy_bytes_per_switch": 96.0,
          "event_coro": {"median": 11.0}, "event_mn1": {"median": 14.3}}


def bench_run(path):
    return make_run(path, [
        Spec("pingpong", "coro", {"channel": "event", "iterations": 1000000},
             lambda r: {"handoff_ns": jitter(r, 21.4)}),
        Spec("pingpong", "threads", {"channel": "event", "placement": "same"},
             lambda r: {"handoff_ns": jitter(r, 2460.0)}),
        Spec("pingpong", "threads", {"channel": "event", "placement": "split"}, {},
             status="failed", reason="cpus 0-1: only 1 CPU allowed"),
        Spec("pingpong", "mn", {"channel": "event", "placement": "split"},
             lambda r: {"handoff_ns": jitter(r, 320.0), "handoffs": 2000000,
                        "mn_spun_ns": jitter(r, 900e6)}),
        Spec("compute", "mn", {"cpus": "0-1", "workers": 1},
             lambda r: {"units_per_s": 100.0}),
        Spec("compute", "mn", {"cpus": "0-1", "workers": 2},
             lambda r: {"units_per_s": 180.0}),
        Spec("spawn", "coro", {"tasks": 1000000, "stack": "guarded"},
             lambda r: {"user_bytes_per_task": jitter(r, 4096.0),
                        "kernel_bytes_per_task": jitter(r, 676.0),
                        "create_ns": jitter(r, 16300.0)}, reps=3),
        Spec("spawn", "coro", {"tasks": 1000000, "stack": "shared"},
             lambda r: {"user_bytes_per_task": jitter(r, 250.0),
                        "kernel_bytes_per_task": jitter(r, 1.0),
                        "create_ns": jitter(r, 300.0)}, reps=3),
    ])


def test_every_figure_from_the_run(tmp_path, capsys):
    run = bench_run(tmp_path / "r")
    sw = tmp_path / "switch.json"
    sw.write_text(json.dumps(SWITCH))
    assert run_main(["bench-table", str(run), str(sw)]) == 0
    out = capsys.readouterr().out
    assert (run / "bench.md").read_text() in out
    assert json.loads((run / "switch.json").read_text()) == SWITCH
    rows = {ln.split(" | ")[0].lstrip("| "): ln.split(" | ")[1].rstrip(" |")
            for ln in out.splitlines() if ln.startswith("| ") and "---" not in ln}
    assert rows["one context switch: ours / register-only floor / glibc swapcontext"] \
        .startswith("3.85 / 3.5 / 231 ns (1.10x the floor, 60x faster than swapcontext")
    coro = rows["pingpong hand-off, coro (channel=event)"]
    assert coro.startswith("21.") and coro.count(" ns") == 3     # median [lo, hi]
    assert rows["pingpong hand-off, threads (channel=event, placement=same)"] \
        .startswith("2.4")
    assert rows["pingpong hand-off, threads (channel=event, placement=split)"] == \
        "no ok repetition: cpus 0-1: only 1 CPU allowed"
    assert rows["coroutine hand-off: own stacks / shared stack (copied on switch)"] == \
        "20 / 45 ns (2.25x; 96 bytes copied per switch)"
    mn = rows["pingpong hand-off, mn (channel=event, placement=split)"]
    assert mn.startswith("3") and "; spin 4" in mn and mn.endswith(" per hand-off")
    assert rows["compute speedup, 2 tasks over 1, mn (cpus=0-1)"] == \
        "1.80x (medians of 5 and 5 runs)"
    spawn = rows["spawn: 1,000,000 parked tasks, coro (stack=guarded)"]
    assert "user bytes + " in spawn and "kernel bytes each; 16" in spawn
    assert "us [" in spawn
    # each target is a ratio of one run, met or not, and can come out either way
    assert rows["target: coro event hand-off <= 3x one raw switch"].startswith(
        "2.86x (11 / 3.85 ns, medians of 11 interleaved repetitions): met")
    assert rows["target: mn on one worker <= 1.2x coro, the same hand-off"].startswith(
        "1.30x (14.3 / 11 ns): not met")
    assert rows["target: a parked stack=shared coroutine <= 280 user bytes among "
                "1,000,000"].endswith(": met")


def test_a_target_row_gives_its_spread_over_the_repetitions(tmp_path, capsys):
    run = bench_run(tmp_path / "r")
    sw = tmp_path / "switch.json"
    sw.write_text(json.dumps(dict(SWITCH, repetitions=3,
                                  ours={"median": 4.0, "samples": [4.0, 4.0, 5.0]},
                                  event_coro={"median": 11.0, "samples": [11.0, 13.0, 10.0]},
                                  event_mn1={"median": 12.0, "samples": [12.0, 12.0, 12.0]})))
    assert run_main(["bench-table", str(run), str(sw)]) == 0
    out = capsys.readouterr().out
    # ratios per repetition 2.75, 3.25, 2.00: the median's ratio decides
    assert "| target: coro event hand-off <= 3x one raw switch | 2.75x (11 / 4 ns, medians " \
        "of 3 interleaved repetitions; per repetition 2.00x to 3.25x, within the bound in 2 " \
        "of 3): met |" in out
    # 12/11, 12/13, 12/10: the last one at the bound itself, which keeps within it
    assert "1.09x (12 / 11 ns; per repetition 0.92x to 1.20x, within the bound in 3 of 3): " \
        "met |" in out


def test_a_target_the_run_lacks_is_named(tmp_path, capsys):
    run = make_run(tmp_path / "r", [
        Spec("pingpong", "coro", {"channel": "event"}, lambda r: {"handoff_ns": 20.0})])
    sw = tmp_path / "switch.json"
    sw.write_text(json.dumps({"schema": 1, "ours": {"median": 3.85}}))
    assert run_main(["bench-table", str(run), str(sw)]) == 0
    out = capsys.readouterr().out
    assert "| target: coro event hand-off <= 3x one raw switch | missing from the switch " \
        "benchmark's output |" in out
    assert "among 1,000,000 | no such spawn cell in this run |" in out


def test_without_switch_json_the_row_says_so(tmp_path, capsys):
    run = bench_run(tmp_path / "r")
    assert run_main(["bench-table", str(run)]) == 0
    assert "| one context switch | not measured (no switch.json) |" in capsys.readouterr().out


def test_bad_input_exits_2(tmp_path, capsys):
    assert run_main(["bench-table", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("benchtable: ")
    run = bench_run(tmp_path / "r")
    (tmp_path / "bad.json").write_text("{")
    assert run_main(["bench-table", str(run), str(tmp_path / "bad.json")]) == 2
    assert run_main(["bench-table"]) == 2
