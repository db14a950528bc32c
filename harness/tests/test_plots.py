"""The report's figures follow the rules in plots.py on what a default run
produces: at most six series per axes, legends outside every axes' data
area, one colour per model in every figure, a caption with the unit and
the CPU set, and no two values of a parameter pooled into one point."""

import json

import matplotlib
import pytest
from matplotlib.colors import to_rgba
from synthrun import LISTING, Spec, dist, full_matrix, jitter, line_for, make_run, real_env

from harness.present import plots
from harness.records import catalog
from harness.records.rundir import CellResults, load_run

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def default_like() -> list[Spec]:
    """The synthetic default run, plus what makes the rules bite: a second
    channel (pooled before), the mn model, and a USDT-traced cell."""
    # full_matrix() with its pingpong and compute cells as the plot rules
    # need them: event hand-offs at both placements, compute on every CPU
    # of the run (no cpus parameter) and confined to CPU 0.
    specs = [s for s in full_matrix() if s.task not in ("pingpong", "compute")]
    for placement, thr in (("same", 2100), ("split", 22000)):
        specs.append(Spec("pingpong", "threads", {"placement": placement, "channel": "event"},
                          lambda r, t=thr: {"handoff_ns": jitter(r, t)}))
        specs.append(Spec("pingpong", "coro", {"placement": placement, "channel": "event"},
                          lambda r: {"handoff_ns": jitter(r, 12)}))
    specs.append(Spec("pingpong", "uring", {"placement": "same", "channel": "event"},
                      lambda r: {"handoff_ns": jitter(r, 300)}))
    for model, per in (("threads", 1.0), ("coro", 0.0), ("uring", 0.0)):
        for w in (1, 2, 4):
            speed = 1 + per * (min(w, 2) - 1) * 0.95
            specs.append(Spec("compute", model, {"workers": w},
                              lambda r, s=speed: {"units_per_s": jitter(r, 1000 * s)}))
        for w in (1, 2):
            specs.append(Spec("compute", model, {"workers": w, "cpus": "0"},
                              lambda r: {"units_per_s": jitter(r, 1000)}))
    for model, ns in (("threads", 3000.0), ("coro", 120.0), ("uring", 400.0), ("mn", 90.0)):
        specs.append(Spec("pingpong", model, {"placement": "same", "channel": "pipe"},
                          lambda r, ns=ns: {"handoff_ns": jitter(r, ns)}))
    specs.append(Spec("pingpong", "mn", {"placement": "same", "channel": "event"},
                      lambda r: {"handoff_ns": jitter(r, 25.0)}))
    specs.append(Spec("pingpong", "coro", {"placement": "same", "channel": "event"},
                      lambda r: {"handoff_ns": jitter(r, 900.0)}, usdt=True))
    # The C7 knob cells: one hog on CPU 0 beside the ticks.
    for model, yield_us, p99 in (("coro", 100, 2e5), ("uring", 100, 2.2e5),
                                 ("threads", 0, 4e6)):
        specs.append(Spec("preempt", model, {"hogs": 1, "cpus": "0", "hog_yield_us": yield_us},
                          lambda r, p99=p99: {"lateness_ns": dist(p99 / 4)}))
    for conns in (10, 100):
        specs.append(Spec("echo", "mn", {"connections": conns},
                          lambda r: {"requests_per_s": jitter(r, 50000.0),
                                     "latency_ns": dist(30000)}))
    return specs


@pytest.fixture(scope="module")
def figures(tmp_path_factory):
    run = load_run(make_run(tmp_path_factory.mktemp("r") / "run", default_like()))
    figs = {name: make() for name, make in
            plots.makers(run.cells(), 2, plots.cpu_set(run.env),
                         shown=catalog.load(run.path).display).items()}
    yield {k: f for k, f in figs.items() if f is not None}
    plt.close("all")


def series(ax) -> dict[str, object]:
    handles, labels = ax.get_legend_handles_labels()
    return dict(zip(labels, handles))


def colour_of(handle) -> tuple:
    artist = getattr(handle, "patches", None) or getattr(handle, "lines", None) or [handle]
    first = artist[0]
    if isinstance(first, (list, tuple)):
        first = first[0]
    get = getattr(first, "get_facecolor", None) if hasattr(first, "get_width") \
        else first.get_color
    return to_rgba(get())


def test_every_figure_is_drawn(figures):
    assert set(figures) == {"handoff", "bytes_per_task", "speedup", "lateness", "echo",
                            "latency_cdf", "cdf_fileio", "cdf_timers", "cdf_preempt",
                            "c7_knobs"}


def test_at_most_six_series_per_axes(figures):
    for name, fig in figures.items():
        for ax in fig.axes:
            n = len(series(ax))
            assert 1 <= n <= plots.MAX_SERIES, f"{name}: {ax.get_title()}: {n} series"


def test_legends_outside_the_data(figures):
    for name, fig in figures.items():
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        assert all(ax.get_legend() is None for ax in fig.axes), name
        assert len(fig.legends) == 1, name
        box = fig.legends[0].get_window_extent(renderer)
        for ax in fig.axes:
            assert not box.overlaps(ax.get_window_extent(renderer)), \
                f"{name}: the legend covers {ax.get_title()!r}"


def test_one_colour_per_model_everywhere(figures):
    seen = {}
    for name, fig in figures.items():
        for ax in fig.axes:
            for label, handle in series(ax).items():
                # "threads, policy=fifo": a series of threads, in threads' colour
                seen.setdefault(label.split(",")[0], set()).add(colour_of(handle))
    # the colours the models declare (--list, as the run saved it)
    shown = catalog.display_of(json.loads(LISTING.read_text()))
    assert set(seen) == set(shown.order)
    for model, colours in seen.items():
        assert colours == {to_rgba(shown.colour(model))}, model
    assert len({shown.colour(m) for m in seen}) == len(seen)


def test_captions_give_unit_and_cpu_set(figures):
    for name, fig in figures.items():
        caps = [" ".join(t.get_text().split()) for t in fig.texts
                if t.get_gid() == plots.CAPTION_GID]
        assert len(caps) == 1, name
        assert "the run's CPU set 0-1" in caps[0], name
        assert any(u in caps[0] for u in (" ns", " us", "bytes", "/s", "Units")), name


def drawn_points(ax, label: str) -> list[tuple[float, float]]:
    """The (x, y) points of one series, bars or points with intervals."""
    handle = series(ax)[label]
    if hasattr(handle, "patches"):
        return [(b.get_x() + b.get_width() / 2, b.get_height()) for b in handle.patches]
    line = handle.lines[0] if hasattr(handle, "lines") else handle
    return list(zip(*line.get_data()))


def test_channels_are_panels_not_pooled(figures):
    fig = figures["handoff"]
    assert sorted(ax.get_title() for ax in fig.axes) == ["channel=event", "channel=pipe"]
    pipe = next(ax for ax in fig.axes if ax.get_title() == "channel=pipe")
    event = next(ax for ax in fig.axes if ax.get_title() == "channel=event")
    # One point per (model, placement) that ran: pipe ran placement=same only.
    assert sum(len(drawn_points(pipe, label)) for label in series(pipe)) == 4
    # The USDT-traced coro cell (900 ns) is not drawn beside the plain one.
    assert max(y for _, y in drawn_points(event, "coro")) < 500


def test_no_bars_on_a_log_axis_and_one_scale_per_figure(figures):
    for name, fig in figures.items():
        scales = {ax.get_yscale() for ax in fig.axes}
        assert len(scales) == 1, f"{name}: panels mix {scales}"
        for ax in fig.axes:
            if ax.get_yscale() == "log":
                assert not ax.patches, f"{name}: bars on a log axis"


def test_distributions_show_the_tail(figures):
    for name in ("latency_cdf", "cdf_fileio", "cdf_timers", "cdf_preempt"):
        for ax in figures[name].axes:
            assert ax.get_yscale() == "log" and "above" in ax.get_ylabel(), name


def test_integer_parameters_get_integer_ticks(figures):
    for ax in figures["speedup"].axes:
        lo, hi = ax.get_xlim()
        ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks


def test_legend_lists_only_drawn_series(figures):
    for name, fig in figures.items():
        drawn = {label for ax in fig.axes for label in series(ax)}
        legend = {t.get_text() for t in fig.legends[0].get_texts()}
        assert legend == drawn, name


def test_captions_state_the_coverage_of_the_tables(figures):
    for name, fig in figures.items():
        cap = " ".join(t.get_text() for t in fig.texts if t.get_gid() == plots.CAPTION_GID)
        assert "95% CI" not in cap, name
        if not name.startswith(("cdf", "latency_cdf")):
            assert "coverage" in " ".join(cap.split()), name


# ---- never pooled: two conditions at the same x stay apart ---------------------

def two_conditions() -> list[Spec]:
    """Every task, each model under two conditions that differ in something
    other than x (the CPUs), with values 100x apart. The two share one x
    value and each has one of its own, so a figure that picks one cell per
    x, or pools them, draws a line from one condition into the other."""
    out = []
    for cond, scale, xs in (({"cpus": "0"}, 1.0, 0), ({"cpus": "0-1"}, 100.0, 1)):
        def pick(values, xs=xs):
            return values[xs:xs + 2]
        for m in ("threads", "coro"):
            out.append(Spec("pingpong", m, {"channel": "event", "placement": "same", **cond},
                            lambda r, s=scale: {"handoff_ns": jitter(r, 50 * s)}))
            out.append(Spec("spawn", m, {"tasks": 1000, **cond},
                            lambda r, s=scale: {"user_bytes_per_task": jitter(r, 4000 * s),
                                                "kernel_bytes_per_task": jitter(r, 900 * s)}))
            for w in (1,) + pick((2, 2, 4)):
                out.append(Spec("compute", m, {"workers": w, **cond},
                                lambda r, s=scale, w=w: {"units_per_s": jitter(r, 100 * s * w)}))
            for y in pick((100, 1000, 10000)):
                out.append(Spec("preempt", m, {"hog_yield_us": y, "hogs": 1, **cond},
                                lambda r, s=scale: {"lateness_ns": dist(1000 * s)}))
            for n in pick((10, 100, 1000)):
                out.append(Spec("echo", m, {"connections": n, "rate": 1000, **cond},
                                lambda r, s=scale: {"server_cpu_ns_per_request": jitter(r, 1e4 * s),
                                                    "latency_ns": dist(1e4 * s),
                                                    "client_cpu_utilization": 0.2}))
            out.append(Spec("fileio", m, {"cache": "warm", **cond},
                            lambda r, s=scale: {"iops": 1e5, "latency_ns": dist(2000 * s)}))
            out.append(Spec("timers", m, {"tasks": 100, **cond},
                            lambda r, s=scale: {"lateness_ns": dist(5000 * s),
                                                "cpu_ns_per_wakeup": 1000}))
    # The same cell with and without a kernel knob, threads only.
    for policy, scale in (("other", 1.0), ("fifo", 100.0)):
        out.append(Spec("preempt", "threads", {"hog_yield_us": 0, "hogs": 1, "cpus": "0",
                                               "policy": policy},
                        lambda r, s=scale: {"lateness_ns": dist(1e5 * s)}))
    for yield_us in (100, 0):
        out.append(Spec("preempt", "coro", {"hog_yield_us": yield_us, "hogs": 1, "cpus": "1"},
                        lambda r: {"lateness_ns": dist(1e6)}))
    return out


def ys_of(ax, survival: bool = False) -> list[list[float]]:
    """The measured values of every series drawn in an axes, one list per
    series: y, or x on a survival plot (its y is a fraction)."""
    return [[x if survival else y for x, y in drawn_points(ax, label)] for label in series(ax)]


def test_no_figure_pools_two_conditions(tmp_path):
    """Each series holds one condition: its values are all near 1x or all
    near 100x the base, never both (a pooled median or a line from a
    one-CPU cell to a two-CPU cell would mix them)."""
    run = load_run(make_run(tmp_path / "run", two_conditions()))
    figs = {name: make() for name, make in
            plots.makers(run.cells(), 2, "0-1", shown=catalog.load(run.path).display).items()}
    assert {n for n, f in figs.items() if f is None} == set(), "every figure has data"
    for name, fig in figs.items():
        for ax in fig.axes:
            survival = "above" in ax.get_ylabel()
            for ys in ys_of(ax, survival):
                # a distribution spans min..max: compare its p50..p99 steps
                ys = [y for y in (ys[1:4] if survival else ys) if y > 0]
                if len(ys) < 2 or name in ("speedup", "c7_knobs"):
                    continue
                assert max(ys) / min(ys) < 30, f"{name}: {ax.get_title()!r} mixes {ys}"
        # The two conditions are named: as panels or as series labels.
        text = " ".join([ax.get_title() for ax in fig.axes]
                        + [label for ax in fig.axes for label in series(ax)]
                        + [t.get_text() for ax in fig.axes for t in ax.get_xticklabels()])
        if name != "c7_knobs":
            assert "1 CPU (0)" in text and "2 CPUs (0-1)" in text, f"{name}: {text}"
        plt.close(fig)
    # speedup: each condition's units/s over its own base at 1 worker is
    # the worker count (the other condition's base would make it 100x off).
    fig = plots.plot_speedup(run.cells(), 2, "0-1")
    for ax in fig.axes:
        for label in series(ax):
            for x, y in drawn_points(ax, label):
                assert y == pytest.approx(x, rel=0.1), (label, x, y)
    plt.close(fig)


def test_knob_cells_are_named_not_pooled(tmp_path):
    run = load_run(make_run(tmp_path / "run", two_conditions()))
    fig = plots.plot_c7_knobs(run.cells(), "none", "0-1")
    right = fig.axes[1]
    labels = [t.get_text() for t in right.get_xticklabels()]
    assert labels == ["default", "fifo"], labels
    assert "built without forced preemption" in fig._suptitle.get_text()
    plt.close(fig)


def test_cpu_set_ranges():
    assert plots.cpu_set(real_env(affinity=[0, 1, 2, 5, 7, 8])) == "0-2,5,7-8"
    assert plots.cpu_set(real_env(affinity=[3])) == "3"
    assert plots.cpu_set(real_env(affinity="not visible")) is None
    assert plots.cpu_set(None) is None


def test_confined_compute_is_a_panel_of_its_own(figures):
    # cpus=0 reads back from the record as the number 0: still a confinement.
    titles = [ax.get_title() for ax in figures["speedup"].axes]
    assert titles == ["every CPU of the run (2)", "1 CPU (0)"]


# ---- coroutine stack kinds (docs/stacks.md) ------------------------------------

def spawn_cell(model, stack=None):
    params = {"tasks": 1000} | ({"stack": stack} if stack else {})
    return CellResults(id=f"spawn/{model}/{stack}", task="spawn", model=model, params=params,
                       id_params=params)


def test_bytes_per_task_labels_stack_kinds():
    cells = [spawn_cell("threads"), spawn_cell("coro", "guarded"), spawn_cell("coro", "shared")]
    for c, user in zip(cells, (8550.0, 4096.0, 384.0)):
        c.lines.append(line_for(Spec("spawn", c.model, c.params, {
            "user_bytes_per_task": user, "kernel_bytes_per_task": 30.0}), 0, None))
    fig = plots.plot_bytes_per_task(cells)
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels == ["threads", "coro\nown+guard", "coro\nshared"]


def test_echo_peers_get_their_own_row_and_colours(tmp_path):
    base = {"message_bytes": 64, "rate": 10000, "cpus": "0", "client_cpus": "1"}
    specs = [Spec("echo", m, {**base, "connections": n},
                  lambda r: {"server_cpu_ns_per_request": jitter(r, 30000.0),
                             "latency_ns": dist(jitter(r, 200000.0)),
                             "client_cpu_utilization": 0.3})
             for m in ("threads", "coro", "uring", "mn") for n in (50, 1000)]
    specs += [Spec("echo", m, {**base, "connections": 1000},
                   lambda r: {"server_cpu_ns_per_request": jitter(r, 70000.0),
                              "latency_ns": dist(jitter(r, 900000.0)),
                              "client_cpu_utilization": 0.3})
              for m in ("asyncio", "uvloop", "node", "go")]
    run = load_run(make_run(tmp_path / "run", specs))
    # the run's catalog says which models are ours and their colours
    fig = plots.makers(run.cells(), 2, "0-1", shown=catalog.load(run.path).display)["echo"]()
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["server CPU per request: our models", "p99 latency: our models",
                      "server CPU per request: the peers beside coro and mn",
                      "p99 latency: the peers beside coro and mn"]
    # the one-thread peers beside coro, Go's M:N runtime beside mn
    assert set(series(fig.axes[2])) == {"coro", "mn", "asyncio", "uvloop", "node", "go"}
    assert len({colour_of(h) for ax in fig.axes for h in series(ax).values()}) == 8
    plt.close(fig)
