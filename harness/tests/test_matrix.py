"""matrix.py: expansion, cell ids, seeded interleaved order, --only."""

import pytest

from conftest import LISTING, write_config
from harness.run import config, matrix

CFG = """
[run]
repetitions = 3
[[experiment]]
task = "pingpong"
models = ["threads", "coro", "uring"]
[experiment.params]
channel = ["event", "pipe"]
placement = ["same", "split"]
iterations = 1000
[[experiment]]
task = "spawn"
models = ["coro"]
repetitions = 5
params = { tasks = [10, 100] }
"""


@pytest.fixture
def cells(tmp_path):
    return matrix.expand(config.load(write_config(tmp_path, CFG)), LISTING)


def test_cross_product(cells):
    assert len(cells) == 3 * 2 * 2 + 2
    ids = [c.id for c in cells]
    assert len(set(ids)) == len(ids)
    assert ids[0] == "pingpong/threads/channel=event,placement=same,iterations=1000"
    assert "spawn/coro/tasks=100" in ids
    c = cells[0]
    assert c.params_dict == {"channel": "event", "placement": "same", "iterations": 1000}
    assert c.repetitions == 3 and cells[-1].repetitions == 5


def test_model_params_go_to_their_model_only(tmp_path):
    cfg = config.load(write_config(tmp_path, """
[[experiment]]
task = "pingpong"
models = ["threads", "uring"]
[experiment.params]
iterations = 1000
uring_timers = ["heap", "request"]
"""))
    config.check_catalog(cfg, LISTING)
    ids = [c.id for c in matrix.expand(cfg, LISTING)]
    assert ids == ["pingpong/threads/iterations=1000",
                   "pingpong/uring/iterations=1000,uring_timers=heap",
                   "pingpong/uring/iterations=1000,uring_timers=request"]


def test_model_param_of_no_model_in_the_experiment_is_refused(tmp_path):
    cfg = config.load(write_config(tmp_path, """
[[experiment]]
task = "pingpong"
models = ["threads", "coro"]
params = { uring_timers = "heap" }
"""))
    with pytest.raises(config.ConfigError, match="unknown parameter 'uring_timers'"):
        config.check_catalog(cfg, LISTING)


def test_cell_id_formats_booleans():
    assert matrix.cell_id("spawn", "coro", [("touch", True)]) == "spawn/coro/touch=true"
    assert matrix.cell_id("spawn", "coro", []) == "spawn/coro/"


def test_duplicates_merge_and_probe_conflicts(tmp_path):
    cfg = config.load(write_config(tmp_path, """
        [[experiment]]
        task = "spawn"
        models = ["coro"]
        repetitions = 2
        params = { tasks = [1, 2] }
        [[experiment]]
        task = "spawn"
        models = ["coro"]
        repetitions = 4
        params = { tasks = 2 }
        """))
    cells = matrix.expand(cfg)
    assert [(c.id, c.repetitions) for c in cells] == [
        ("spawn/coro/tasks=1", 2), ("spawn/coro/tasks=2", 4)]
    cfg = config.load(write_config(tmp_path, """
        [[experiment]]
        task = "spawn"
        models = ["coro"]
        [[experiment]]
        task = "spawn"
        models = ["coro"]
        probes = ["perf"]
        """))
    with pytest.raises(config.ConfigError, match="different probes"):
        matrix.expand(cfg)


def test_order_is_seeded_and_reproducible(cells):
    a = [r.key for r in matrix.order(cells, seed=42)]
    b = [r.key for r in matrix.order(cells, seed=42)]
    c = [r.key for r in matrix.order(cells, seed=43)]
    assert a == b
    assert a != c
    assert sorted(a) == sorted(c)


def test_order_rounds_interleave_every_cell(cells):
    runs = matrix.order(cells, seed=1)
    assert len(runs) == 12 * 3 + 2 * 5
    # round r holds every cell with more than r repetitions, exactly once
    first = runs[:len(cells)]
    assert {r.cell.id for r in first} == {c.id for c in cells}
    assert all(r.repetition == 0 for r in first)
    reps = [r.repetition for r in runs]
    assert reps == sorted(reps)
    tail = runs[-2 * 2:]
    assert {r.cell.task for r in tail} == {"spawn"}
    # shuffled: the first round is not the config order
    assert [r.cell.id for r in first] != [c.id for c in cells]
    seq = matrix.order(cells, seed=1, shuffle=False)
    assert [r.cell.id for r in seq[:len(cells)]] == [c.id for c in cells]


def test_warmup_runs_come_first(cells):
    runs = matrix.order(cells, seed=1, warmup_runs=2)
    warm = [r for r in runs if r.warmup]
    assert len(warm) == 2 * len(cells)
    assert runs[:len(warm)] == warm
    assert {r.repetition for r in warm} == {-1, -2}


def test_only(cells):
    only = matrix.parse_only("task=pingpong,model=coro,model=uring,channel=pipe")
    assert only == {"task": {"pingpong"}, "model": {"coro", "uring"}, "channel": {"pipe"}}
    picked = matrix.select(cells, only)
    assert len(picked) == 4
    assert all(c.model in ("coro", "uring") and c.params_dict["channel"] == "pipe"
               for c in picked)
    assert len(matrix.select(cells, matrix.parse_only("experiment=spawn"))) == 2
    assert len(matrix.select(cells, matrix.parse_only("tasks=10"))) == 1
    with pytest.raises(config.ConfigError, match="no cell matches"):
        matrix.select(cells, matrix.parse_only("task=echo"))
    with pytest.raises(config.ConfigError, match="KEY=VALUE"):
        matrix.parse_only("task")
