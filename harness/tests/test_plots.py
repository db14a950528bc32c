"""The report's figures follow the rules in plots.py on what a default run
produces: at most six series per axes, legends outside every axes' data
area, one colour per model in every figure, a caption with the unit and
the CPU set, and no two values of a parameter pooled into one point."""

import matplotlib
import pytest
from matplotlib.colors import to_rgba
from synthrun import Spec, dist, full_matrix, jitter, line_for, make_run, real_env

from harness.present import plots
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
            plots.makers(run.cells(), 2, plots.cpu_set(run.env)).items()}
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
                seen.setdefault(label, set()).add(colour_of(handle))
    assert set(seen) == {"threads", "coro", "uring", "mn"}
    for model, colours in seen.items():
        assert colours == {to_rgba(plots.MODEL_COLOURS[model])}, model
    assert len(set(plots.MODEL_COLOURS.values())) == len(plots.MODEL_COLOURS)


def test_captions_give_unit_and_cpu_set(figures):
    for name, fig in figures.items():
        caps = [" ".join(t.get_text().split()) for t in fig.texts
                if t.get_gid() == plots.CAPTION_GID]
        assert len(caps) == 1, name
        assert "the run's CPU set 0-1" in caps[0], name
        assert any(u in caps[0] for u in (" ns", " us", "bytes", "/s", "Units")), name


def test_channels_are_panels_not_pooled(figures):
    fig = figures["handoff"]
    assert sorted(ax.get_title() for ax in fig.axes) == ["channel=event", "channel=pipe"]
    pipe = next(ax for ax in fig.axes if ax.get_title() == "channel=pipe")
    event = next(ax for ax in fig.axes if ax.get_title() == "channel=event")
    # One bar per (model, placement) that ran: pipe ran placement=same only.
    assert sum(len(c.patches) for c in pipe.containers
               if hasattr(c, "patches")) == 4
    # The USDT-traced coro cell (900 ns) is not drawn beside the plain one.
    coro = series(event)["coro"]
    assert max(p.get_height() for p in coro.patches) < 500


def test_cpu_set_ranges():
    assert plots.cpu_set(real_env(affinity=[0, 1, 2, 5, 7, 8])) == "0-2,5,7-8"
    assert plots.cpu_set(real_env(affinity=[3])) == "3"
    assert plots.cpu_set(real_env(affinity="not visible")) is None
    assert plots.cpu_set(None) is None


def test_confined_compute_is_a_panel_of_its_own(figures):
    # cpus=0 reads back from the record as the number 0: still a confinement.
    titles = [ax.get_title() for ax in figures["speedup"].axes]
    assert titles == ["every CPU of the run (2)", "cpus=0"]


# ---- coroutine stack kinds (docs/stacks.md) ------------------------------------

def spawn_cell(model, stack=None):
    params = {"tasks": 1000} | ({"stack": stack} if stack else {})
    return CellResults(id=f"spawn/{model}/{stack}", task="spawn", model=model, params=params)


def test_stack_groups_one_bar_per_kind_in_order():
    cells = [spawn_cell("uring", "shared"), spawn_cell("coro", "shared"), spawn_cell("threads"),
             spawn_cell("coro", "unguarded"), spawn_cell("coro", "guarded")]
    assert plots._stack_groups(cells) == [
        ("threads", None), ("coro", "guarded"), ("coro", "unguarded"), ("coro", "shared"),
        ("uring", "shared")]


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
              for m in ("asyncio", "uvloop", "node")]
    run = load_run(make_run(tmp_path / "run", specs))
    fig = plots.plot_echo(run.cells(), "0-1")
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["server CPU per request: our models", "p99 latency: our models",
                      "server CPU per request: the peers beside coro",
                      "p99 latency: the peers beside coro"]
    assert set(series(fig.axes[2])) == {"coro", "asyncio", "uvloop", "node"}
    assert len({colour_of(h) for ax in fig.axes for h in series(ax).values()}) == 7
    plt.close(fig)
