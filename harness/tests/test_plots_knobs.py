"""plots.plot_c7_knobs: which cells it draws (preempt, one hog on one CPU;
coroutines by yield interval, threads with a never-yielding hog by knob),
how a threads cell's knobs read on the axis, and the preemption mode in the
title."""
from synthrun import Spec, dist, line_for

from harness.present import plots
from harness.records.rundir import CellResults


def cell(model, p99s, id_params, **params):
    lines = [line_for(Spec("preempt", model, id_params, {"lateness_ns": {**dist(v), "p99": v}}),
                      rep, None) for rep, v in enumerate(p99s)]
    full = {"cpus": "0", "hogs": 1, "policy": "other", "priority": 0, "nice": 0,
            "slice_us": 0, "hog_policy": "same", "hog_nice": 0, "hog_slice_us": 0,
            **id_params, **params}
    cid = "preempt/" + model + "/" + ",".join(f"{k}={v}" for k, v in id_params.items())
    return CellResults(id=cid, task="preempt", model=model, params=full, id_params=id_params,
                       lines=lines)


def test_labels_name_each_knob():
    def label(id_params):
        return plots._threads_label(cell("threads", [1], id_params))
    assert label({"hog_yield_us": 0}) == "default"
    assert label({"slice_us": 100, "hog_slice_us": 0}) == "slice 100us (ticks only)"
    assert label({"slice_us": 100}) == "slice 100us"
    assert label({"policy": "fifo", "priority": 10, "hog_policy": "other"}) == "fifo/10, hog other"
    assert label({"hog_nice": 19}) == "hog nice 19"


def test_draws_both_sides_with_the_mode_in_the_title():
    cells = [
        cell("coro", [15e6, 16e6], {"hog_yield_us": 100}),
        cell("coro", [1e9], {"hog_yield_us": 0}),
        cell("threads", [8e6], {"hog_yield_us": 0}),
        cell("threads", [8e4], {"hog_yield_us": 0, "policy": "fifo", "hog_policy": "other"}),
        # not the C7 setup: two hogs, or a hog that yields under threads
        cell("threads", [1.0], {"hog_yield_us": 0, "hogs": 2}),
        cell("threads", [1.0], {"hog_yield_us": 100}),
    ]
    fig = plots.plot_c7_knobs(cells, "none")
    assert "kernel built without forced preemption" in fig._suptitle.get_text()
    left, right = fig.axes
    assert [t.get_text() for t in left.get_xticklabels()] == ["100", "never"]
    assert [t.get_text() for t in right.get_xticklabels()] == ["default", "fifo, hog other"]
    ys = right.lines[0].get_ydata()
    assert list(ys) == [8e3, 80.0]      # us


def test_nothing_to_draw():
    assert plots.plot_c7_knobs([cell("threads", [1.0], {"hog_yield_us": 100})]) is None
