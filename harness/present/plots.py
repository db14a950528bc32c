"""The report's plots: matplotlib (Agg, no display), one function per figure.

Each figure answers one question, and follows the same rules so that every
plot of every report reads the same way:
  - one colour per model, the same in every figure: the one it declares
    (the run's catalog.json, catalog.display_of());
  - never pooled: a series is a set of cells that differ only in the x
    parameter; cells that differ in anything else (a parameter the config
    set, the CPUs they ran on) are another panel, when every model has that
    parameter, or another series of the same colour with its own line style,
    labelled with the difference (_layout); at one point of a series the
    cell with the most repetitions, untraced first, is drawn;
  - at most MAX_SERIES series per axes;
  - no bars on a log axis: when values span more than LOG_SPAN the figure
    draws points with their intervals on a log axis instead, and every panel
    of a figure has the same scale type;
  - distributions are survival plots (fraction of samples above x, log
    axes), so the tail from p99 to max is as visible as the median;
  - integer parameters get integer ticks; the legend lists only the series
    drawn, right of every axes' data area;
  - a caption under the axes says what is drawn, its unit, on which CPUs,
    and the coverage the intervals really have at the n drawn.
USDT-traced cells and cells that recorded an event stream are left out:
their timings carry the probes' cost.

Each function takes the run's cells and the CPU set the run had, and returns
a Figure, or None when the run has nothing to draw (the report then says "no
data" instead of an empty frame). render_all() saves PNGs into DIR/plots/
and returns them base64-encoded for the self-contained HTML.
"""

from __future__ import annotations

import base64
import io
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator, NullFormatter  # noqa: E402

from harness import cpulist  # noqa: E402
from harness.analyse import stats  # noqa: E402
from harness.present import firstscreen  # noqa: E402
from harness.records import catalog  # noqa: E402
from harness.records import safefs  # noqa: E402
from harness.records.rundir import CellResults  # noqa: E402

MAX_SERIES = 6
LOG_SPAN = 20
QUANTILES = (("min", 0.0), ("p50", 0.5), ("p90", 0.9), ("p99", 0.99),
             ("p999", 0.999), ("max", 1.0))
CAPTION_GID = "caption"
LINESTYLES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "D", "v", "P")
# The kernel's knobs, as a label says them (_knobs_label); every other
# parameter reads "key=value".
KNOBS = ("policy", "priority", "nice", "slice_us", "hog_policy", "hog_priority", "hog_nice",
         "hog_slice_us")


# The models' order and colours in the figures being drawn: the run's
# catalog's (makers() sets it), so an old run keeps the colours it had.
_shown = catalog.display_of(None)


def colour(model: str) -> str:
    return _shown.colour(model)


def cpu_set(env: dict | None) -> str | None:
    """The run's CPU affinity from env.json as a range list: [0, 1, 2, 5] -> "0-2,5"."""
    aff = (env or {}).get("affinity")
    if not isinstance(aff, list) or not aff:       # "not visible"
        return None
    return cpulist.label(aff)


# ---- choosing what to draw ----------------------------------------------------

def _plain(cells: list[CellResults], task: str) -> list[CellResults]:
    return [c for c in cells if c.task == task and not c.traced_usdt
            and not any(ln.get("events") for ln in c.lines)]


def _models(cells: list[CellResults]) -> list[str]:
    found = {c.model for c in cells}
    return sorted(found, key=_shown.rank)


def _pick(cells: list[CellResults], metric: str) -> CellResults | None:
    """The one cell drawn for a point: untraced first, then most repetitions."""
    have = [c for c in cells if c.values(metric)]
    return min(have, key=lambda c: (c.traced, -len(c.values(metric)), c.id), default=None)


def _cpus(c: CellResults) -> str:
    """The cell's cpus parameter as given ("" when it ran on the run's set)."""
    v = c.params.get("cpus")
    return "" if v is None else str(v)


def _key(c: CellResults, keys: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(str(c.params.get(k, "-")) for k in keys)


def _values_of(cells: list[CellResults], key: str) -> list[str]:
    vals = {str(c.params.get(key, "-")) for c in cells}
    try:
        return sorted(vals, key=float)
    except ValueError:
        return sorted(vals)


def _med_err(values: list[float]) -> tuple[float | None, list[float]]:
    s = stats.summarize(values)
    if s.median is None:
        return None, [0.0, 0.0]
    lo = s.ci_lo if s.ci_lo is not None else s.median
    hi = s.ci_hi if s.ci_hi is not None else s.median
    return s.median, [max(s.median - lo, 0.0), max(hi - s.median, 0.0)]


def _cpu_note(cells: list[CellResults], cpus: str | None) -> str:
    run = f"the run's CPU set {cpus}" if cpus else "the run's CPU set (not recorded)"
    pinned = sorted({_cpus(c) for c in cells if _cpus(c)})
    if not pinned:
        return f"CPUs: {run}."
    return f"CPUs: {run}; cells with cpus= ran on those CPUs only ({', '.join(pinned)})."


def _condition(c: CellResults, skip: tuple[str, ...] = ()) -> tuple[tuple[str, str], ...]:
    """Everything that sets a cell apart but its model: the parameters the
    config set (seed aside) and the CPUs it ran on, minus skip (the x axis)."""
    items = {k: str(v) for k, v in c.id_params.items() if k not in skip and k != "seed"}
    items["cpus"] = _cpus(c)
    return tuple(sorted(items.items()))


def _cpus_words(v: str) -> str:
    if not v:
        return "the run's CPUs"
    try:
        n = len(cpulist.parse(v))
    except ValueError:
        return f"CPUs {v}"
    return f"{n} CPU{'s' if n > 1 else ''} ({v})"


def _words(cond: dict[str, str]) -> str:
    """A condition as a label says it: "1 CPU (0), hogs=1, SCHED_FIFO/10"."""
    parts = [_cpus_words(cond["cpus"])] if "cpus" in cond else []
    knobs = {k: v for k, v in cond.items() if k in KNOBS}
    if knobs:
        parts.append(_knobs_label(knobs))
    parts += [STACK_LABELS.get(v, v) if k == "stack" else f"{k} default" if v == "-"
              else f"{k}={v}" for k, v in cond.items() if k != "cpus" and k not in KNOBS]
    return ", ".join(parts)


Series = list[tuple[str, str, list[CellResults]]]     # (label, model, cells)


def _layout(cells: list[CellResults], x: tuple[str, ...] = ()) -> list[tuple[str, Series]]:
    """[(panel title, [(series label, model, cells)])]: cells apart by
    everything but x. What every model of the figure has (the CPUs, a task
    parameter) makes panels; what only some have (a model's own parameter,
    a kernel knob the config set for threads alone) makes series of that
    model's colour. Titles and labels name only what varies."""
    conds = {c.id: dict(_condition(c, x)) for c in cells}
    models = {c.model for c in cells}
    common = [k for k in dict.fromkeys(k for d in conds.values() for k in d)
              if all(any(k in conds[c.id] for c in cells if c.model == m) for m in models)]
    panel_of = {c.id: tuple((k, conds[c.id].get(k, "-")) for k in common) for c in cells}
    own_of = {c.id: tuple((k, v) for k, v in conds[c.id].items() if k not in common)
              for c in cells}
    panels = sorted(set(panel_of.values()), key=_natural)
    shown_p = [k for k in common if len({dict(p).get(k) for p in panels}) > 1]
    out = []
    for panel in panels:
        mine = [c for c in cells if panel_of[c.id] == panel]
        keys = sorted({(c.model, own_of[c.id]) for c in mine},
                      key=lambda mo: (_model_rank(mo[0]), _natural(mo[1])))
        shown_s = {k for _, own in keys for k, _ in own
                   if len({dict(o).get(k) for _, o in keys}) > 1}
        series = []
        for model, own in keys:
            extra = _words({k: v for k, v in own if k in shown_s})
            series.append((model + (f", {extra}" if extra else ""), model,
                           [c for c in mine if c.model == model and own_of[c.id] == own]))
        out.append((_words({k: v for k, v in panel if k in shown_p}), series))
    return out


def _flat_series(cells: list[CellResults],
                 x: tuple[str, ...] = ()) -> list[tuple[str, str, list[CellResults]]]:
    """[(label, model, cells)] for one axes: every difference but x is a
    series, labelled with the keys that vary."""
    conds = {c.id: dict(_condition(c, x)) for c in cells}
    keys = sorted({(c.model, _condition(c, x)) for c in cells},
                  key=lambda mc: (_model_rank(mc[0]), _natural(mc[1])))
    varying = [k for k in dict.fromkeys(k for d in conds.values() for k in d)
               if len({d.get(k) for d in conds.values()}) > 1]
    out = []
    for model, cond in keys:
        extra = _words({k: dict(cond).get(k, "-") for k in varying})
        out.append((model + (f", {extra}" if extra else ""), model,
                    [c for c in cells if c.model == model and _condition(c, x) == cond]))
    return out


def _natural(items) -> tuple:
    """Sort key: numbers as numbers, so 10 comes after 9."""
    def one(v):
        if v == "":
            return (-1, 0.0, "")        # "not set" (the run's CPUs) first
        try:
            return (0, float(v), "")
        except (TypeError, ValueError):
            return (1, 0.0, str(v))
    return tuple(one(v) for pair in items for v in (pair if isinstance(pair, tuple) else (pair,)))


def _model_rank(model: str) -> tuple:
    return _shown.rank(model)


def _style(i: int) -> dict:
    """The i-th series of one model: the model's colour, its own line style."""
    return {"linestyle": LINESTYLES[i % len(LINESTYLES)], "marker": MARKERS[i % len(MARKERS)]}


def _coverage(confidences, ns) -> str:
    """What the intervals drawn cover, as the tables say it."""
    confs = sorted({round(c, 3) for c in confidences if c is not None})
    ns = sorted({n for n in ns if n})
    if not confs:
        return "No interval: fewer than 2 runs per point."
    cov = (f"{confs[0]:.0%}" if len(confs) == 1 else f"{confs[0]:.0%} to {confs[-1]:.0%}")
    n = f"n={ns[0]}" if len(ns) == 1 else f"n={ns[0]} to {ns[-1]}"
    return f"Intervals: order-statistic, coverage {cov} at {n}."


def _drawn_coverage(cells: list[CellResults], metric: str) -> str:
    sums = [stats.summarize(c.values(metric)) for c in cells]
    return _coverage([s.ci_confidence for s in sums], [s.n for s in sums])


def _integer_ticks(ax, values) -> None:
    """Integer parameters (workers, hogs, connections) get integer ticks."""
    if values and all(float(v).is_integer() for v in values):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


# ---- figure scaffolding -------------------------------------------------------

def _figure(panels: int, width: float = 4.0):
    cols = 2 if panels == 4 else min(panels, 3)
    rows = (panels + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, 3.2 * rows), squeeze=False)
    flat = list(axes.flat)
    for ax in flat[panels:]:
        ax.remove()
    return fig, flat[:panels]


def _finish(fig, axes, caption: str):
    """Legend of the series drawn, right of the axes; caption under them."""
    handles: dict[str, object] = {}
    for ax in axes:
        for h, label in zip(*ax.get_legend_handles_labels()):
            if not label.startswith("_"):
                handles.setdefault(label, h)
        ax.title.set_fontsize("medium")
        if ax.get_yscale() == "log":    # decades only: minor labels crowd a short range
            ax.yaxis.set_minor_formatter(NullFormatter())
    order = sorted(handles, key=lambda label: _model_rank(label.split(",")[0]))
    handles = {label: handles[label] for label in order}
    fig.tight_layout(rect=(0, 0, 1, 0.97 if fig._suptitle else 1))
    right = max(ax.get_position().x1 for ax in axes)
    top = max(ax.get_position().y1 for ax in axes)
    fig.legend(handles=list(handles.values()), labels=list(handles), loc="upper left",
               bbox_to_anchor=(right + 0.01, top), fontsize="small", frameon=False)
    # Wrapped to the figure's width (about 13 characters per inch at this
    # size), so a long caption does not widen the saved image.
    width = int(fig.get_figwidth() * 13)
    fig.text(0.01, -0.01, textwrap.fill(caption, width), ha="left", va="top",
             fontsize="medium", gid=CAPTION_GID)
    return fig


def _log_scale(values) -> bool:
    """One decision per figure: a log axis when the values span more than LOG_SPAN."""
    vals = [v for v in values if v]
    return bool(vals) and max(vals) > LOG_SPAN * min(vals)


def _grouped_bars(ax, groups: list[str], bars: list[tuple[str, str]], points: dict,
                  unit: str, log: bool, one_per_group: bool = False) -> None:
    """points[(group, label)] = (median, [err_lo, err_hi]); bars: (label,
    model) in drawing order, one colour per model. On a log axis (log, the
    figure's decision) points with their intervals replace the bars: a bar
    on a log axis starts at an arbitrary floor and a zero vanishes."""
    width = 0.8 if one_per_group else 0.8 / max(len(bars), 1)
    for i, (label, model) in enumerate(bars):
        drawn = [(g, points[(group, label)]) for g, group in enumerate(groups)
                 if points.get((group, label), (None,))[0] is not None]
        if not drawn:
            continue
        xs = [g + (0 if one_per_group else i * width) for g, _ in drawn]
        err = [[p[1][0] for _, p in drawn], [p[1][1] for _, p in drawn]]
        ys = [p[0] for _, p in drawn]
        if log:
            ax.errorbar(xs, ys, yerr=err, marker="o", linestyle="none", capsize=3,
                        color=colour(model), label=label)
        else:
            ax.bar(xs, ys, width, yerr=err, capsize=3, color=colour(model), label=label)
    shift = 0 if one_per_group else width * (len(bars) - 1) / 2
    ax.set_xticks([g + shift for g in range(len(groups))], groups)
    if log:
        ax.set_yscale("log")
    ax.set_ylabel(f"{unit} (log)" if log else unit)
    ax.grid(axis="y", alpha=0.3)


def _point(cells: list[CellResults], metric: str, scale: float = 1.0):
    """(median, [err_lo, err_hi]) of the one cell drawn (_pick), scaled; None without data."""
    c = _pick(cells, metric)
    if c is None:
        return None
    med, err = _med_err(c.values(metric))
    return None if med is None else (med / scale, [err[0] / scale, err[1] / scale])


def _sweep(cells: list[CellResults], param: str, metric: str,
           scale: float = 1.0) -> list[tuple[float, float, float, float]]:
    """One series' points: (x, median, err_lo, err_hi), one cell per x (_pick)."""
    pts = []
    for v in _values_of(cells, param):
        pt = _point([c for c in cells if str(c.params[param]) == v], metric, scale)
        if pt:
            pts.append((float(v), pt[0], pt[1][0], pt[1][1]))
    return pts


def _line(ax, label: str, model: str, pts: list[tuple[float, float, float, float]],
          style: int = 0) -> None:
    """pts: (x, y, err_lo, err_hi); style: the series' rank within its model."""
    if not pts:
        return
    pts.sort()
    ax.errorbar([p[0] for p in pts], [p[1] for p in pts],
                yerr=[[p[2] for p in pts], [p[3] for p in pts]], capsize=3,
                color=colour(model), label=label, **_style(style))


def _lines(ax, series: list[tuple[str, str, list[CellResults]]], param: str, metric: str,
           scale: float = 1.0) -> list[CellResults]:
    """Every series of a panel as a line against param; returns the cells drawn."""
    rank: dict[str, int] = {}
    drawn = []
    for label, model, cs in series:
        pts = _sweep(cs, param, metric, scale)
        _line(ax, label, model, pts, rank.get(model, 0))
        rank[model] = rank.get(model, 0) + 1
        drawn += [c for v in _values_of(cs, param)
                  if (c := _pick([c for c in cs if str(c.params[param]) == v], metric))]
    return drawn


def _title(*parts: str) -> str:
    return ": ".join(p for p in parts if p)


# ---- the figures --------------------------------------------------------------

def plot_handoff(cells: list[CellResults], cpus: str | None = None):
    """What does one hand-off cost, per model, per channel and placement?"""
    cs = [c for c in _plain(cells, "pingpong") if c.values("handoff_ns")]
    if not cs:
        return None
    layout = _layout(cs, ("placement",))
    fig, axes = _figure(len(layout))
    panels = []
    for panel, series in layout:
        mine = [c for _, _, group in series for c in group]
        groups = _values_of(mine, "placement")
        points = {(g, label): pt for label, _, group in series for g in groups
                  if (pt := _point([c for c in group if str(c.params.get("placement")) == g],
                                   "handoff_ns"))}
        panels.append((panel, series, groups, points))
    log = _log_scale(p[0] for *_, points in panels for p in points.values())
    drawn = []
    for ax, (panel, series, groups, points) in zip(axes, panels):
        _grouped_bars(ax, [f"placement={g}" for g in groups],
                      [(label, model) for label, model, _ in series],
                      {(f"placement={g}", label): pt for (g, label), pt in points.items()},
                      "ns per hand-off", log)
        ax.set_title(panel)
        drawn += [c for _, _, group in series for g in groups
                  if (c := _pick([c for c in group if str(c.params.get("placement")) == g],
                                 "handoff_ns"))]
    fig.suptitle("pingpong: what one hand-off costs")
    return _finish(fig, axes,
                   "Median ns per hand-off with its interval, one cell per bar or point. "
                   "placement=same: both tasks on one CPU; split: on two (threads only; "
                   "the coroutine models run on one thread either way). "
                   + _drawn_coverage(drawn, "handoff_ns") + " " + _cpu_note(cs, cpus))


# The coroutine models' parameter `stack` (docs/stacks.md), as labels say it.
STACK_LABELS = {"guarded": "own+guard", "unguarded": "own", "shared": "shared"}


TOTAL_BYTES = "user_bytes_per_task+kernel_bytes_per_task"


def plot_bytes_per_task(cells: list[CellResults], cpus: str | None = None):
    """What does a parked task cost in memory, user and kernel side and
    their total (the figure C1 judges), per model and coroutine stack kind?
    One bar per cell condition; never pooled."""
    cs = [c for c in _plain(cells, "spawn") if c.values("user_bytes_per_task")]
    if not cs:
        return None
    layout = _layout(cs)
    metrics = ((TOTAL_BYTES, "user + kernel (what C1 judges)"), ("user_bytes_per_task",
               "user (RSS)"), ("kernel_bytes_per_task", "kernel (stack, slab, page tables)"))
    nbars = max(len(series) for _, series in layout)
    fig, axes = _figure(len(metrics) * len(layout), width=max(4.0, 0.75 * nbars))
    log = _log_scale(pt[0] for _, series in layout for _, _, group in series for m, _ in metrics
                     if (pt := _point(group, m)))
    drawn = []
    for i, (panel, series) in enumerate(layout):
        labels = [label.replace(", ", "\n") for label, _, _ in series]
        for ax, (metric, title) in zip(axes[i * len(metrics):], metrics):
            points = {(lab, lab): pt for lab, (_, _, group) in zip(labels, series)
                      if (pt := _point(group, metric))}
            _grouped_bars(ax, labels, [(lab, model) for lab, (_, model, _) in zip(labels, series)],
                          points, "bytes per task", log, one_per_group=True)
            ax.set_title(_title(title, panel))
        drawn += [c for _, _, group in series if (c := _pick(group, TOTAL_BYTES))]
    fig.suptitle("spawn: memory per parked task")
    return _finish(fig, axes,
                   "Median bytes per task with its interval: RSS delta (user) and "
                   "/proc/meminfo KernelStack+Slab+PageTables delta (kernel, system-wide), "
                   "and their sum per run. " + _drawn_coverage(drawn, TOTAL_BYTES) + " "
                   + _cpu_note(cs, cpus))


def plot_speedup(cells: list[CellResults], cpus: int | None, cpu_list: str | None = None):
    """Does adding workers speed compute up, with every CPU and with one?"""
    cs = [c for c in _plain(cells, "compute")
          if c.params.get("workers") is not None and c.values("units_per_s")]
    if not cs:
        return None
    layout = _layout(cs, ("workers",))
    fig, axes = _figure(len(layout))
    confs, ns = [], []
    for ax, (panel, series) in zip(axes, layout):
        rank: dict[str, int] = {}
        workers = []
        for label, model, group in series:
            by_w = {w: _pick([c for c in group if int(c.params["workers"]) == w], "units_per_s")
                    for w in {int(c.params["workers"]) for c in group}}
            if by_w.get(1) is None:
                continue
            base = by_w[1].values("units_per_s")
            rcs = {w: stats.ratio_ci(base, c.values("units_per_s")) for w, c in by_w.items()}
            _line(ax, label, model, [(w, rc.value, max(rc.value - rc.lo, 0),
                                      max(rc.hi - rc.value, 0)) for w, rc in rcs.items() if rc],
                  rank.get(model, 0))
            rank[model] = rank.get(model, 0) + 1
            workers += list(by_w)
            confs += [rc.confidence for w, rc in rcs.items() if rc and w != 1]
            ns += [len(c.values("units_per_s")) for c in by_w.values()]
        conf = _cpus(group[0]) if series else ""
        n = len(cpulist.parse(conf)) if conf else cpus
        if n:
            ax.axhline(n, color="grey", linestyle=":", alpha=0.7)
        _integer_ticks(ax, workers)
        ax.set(title=panel if conf else f"every CPU of the run ({cpus or '?'})",
               xlabel="workers", ylabel="speedup vs workers=1")
        ax.grid(alpha=0.3)
    fig.suptitle("compute: speedup against workers")
    return _finish(fig, axes,
                   "Units/s at N workers over units/s at 1 worker (median ratio). Dotted: the "
                   "number of CPUs the cells could use. "
                   + (_coverage(confs, ns).replace("coverage", "coverage at least")
                      if confs else _coverage([], ns)) + " " + _cpu_note(cs, cpu_list))


def plot_lateness(cells: list[CellResults], cpus: str | None = None):
    """How late do periodic tasks wake beside a hog, against how often it
    yields? One panel per condition (CPUs, hogs ...): a one-CPU point never
    continues a two-CPU line."""
    cs = [c for c in _plain(cells, "preempt")
          if c.params.get("hog_yield_us") is not None and c.values("lateness_ns.p99")]
    # hog_yield_us=0 means "never yields": it has no place on a log axis and
    # stays in the tables.
    cs = [c for c in cs if float(c.params["hog_yield_us"]) > 0]
    if not cs:
        return None
    layout = _layout(cs, ("hog_yield_us",))
    fig, axes = _figure(len(layout), width=4.6)
    drawn = []
    for ax, (panel, series) in zip(axes, layout):
        drawn += _lines(ax, series, "hog_yield_us", "lateness_ns.p99", 1000)
        ax.set(xscale="log", yscale="log", xlabel="hog yields every ... us (log)",
               ylabel="p99 lateness, us (log)", title=panel)
        ax.grid(alpha=0.3)
    fig.suptitle("preempt: p99 lateness of periodic tasks beside a hog")
    return _finish(fig, axes,
                   "Median over repetitions of each run's p99 lateness, in us (log scale), "
                   "with its interval; hog_yield_us=0 (never yields) is in the tables. "
                   + _drawn_coverage(drawn, "lateness_ns.p99") + " " + _cpu_note(cs, cpus))


def plot_echo(cells: list[CellResults], cpus: str | None = None):
    """What does a request cost the server, at what p99 latency, as
    connections grow? At a fixed offered rate (open loop) every server
    answers the same requests/s, so the first panel is server CPU per
    request; a closed-loop run shows requests/s instead. Our models on the
    first row; the peers (asyncio, uvloop, Node.js, Go), where the run has
    them, on a second row beside coro and mn, so no axes holds more than
    MAX_SERIES."""
    cs = [c for c in _plain(cells, "echo")
          if c.params.get("connections") is not None and c.values("latency_ns.p99")]
    if not cs:
        return None
    open_loop = all(c.params.get("rate") for c in cs)
    first = (("server_cpu_ns_per_request", 1000, "server CPU per request, us") if open_loop
             else ("requests_per_s", 1, "requests/s"))
    ours = [m for m in _models(cs) if _shown.ours(m)]
    peers = [m for m in _models(cs) if not _shown.ours(m)]
    # the one-thread peers beside coro, Go's M:N runtime beside mn
    beside = [m for m in ("coro", "mn") if m in ours]
    rows = [("our models", ours)] + ([(f"the peers beside {' and '.join(beside)}",
                                       beside + peers)] if peers else [])
    layouts = [(who, panel, series) for who, models in rows
               for panel, series in _layout([c for c in cs if c.model in models],
                                            ("connections",))]
    fig, axes = _figure(2 * len(layouts))
    drawn = []
    for r, (who, panel, series) in enumerate(layouts):
        for ax, (metric, scale, label) in zip(axes[2 * r:2 * r + 2], (
                first, ("latency_ns.p99", 1000, "p99 latency, us (log)"))):
            drawn += _lines(ax, series, "connections", metric, scale)
            ax.set(xscale="log", yscale="log", xlabel="connections (log)",
                   ylabel=f"{label} (log)".replace(" (log) (log)", " (log)"),
                   title=_title(f"{label.split(',')[0]}: {who}", panel))
            ax.grid(alpha=0.3)
    rates = sorted({str(c.params.get("rate")) for c in cs})
    fig.suptitle("echo: " + (f"at {', '.join(rates)} requests/s offered" if open_loop
                             else "closed loop") + ", against connections")
    client = sorted({str(c.params["client_cpus"]) for c in cs if c.params.get("client_cpus")})
    return _finish(fig, axes,
                   "Medians with their intervals over repetitions: " + first[2]
                   + " (process CPU time over loadgen's window) and each run's p99 latency "
                   "(us) from each request's due time. " + _drawn_coverage(drawn, "latency_ns.p99")
                   + " " + _cpu_note(cs, cpus)
                   + (f" loadgen on CPUs {', '.join(client)}." if client else ""))


def _survival(cells: list[CellResults], task: str, metric: str, title: str,
              cpus: str | None):
    """The distribution of a latency per model as a survival plot: the
    fraction of samples above x, both axes log, so p99, p99.9 and max sit
    one decade apart instead of in the top 1% of a CDF. Steps through the
    recorded percentiles (the record keeps percentiles, not samples), each
    the median over repetitions; max is drawn at 1/n. One axes per
    condition (_layout)."""
    cs = [c for c in _plain(cells, task) if c.distributions(metric)]
    if not cs:
        return None
    layout = _layout(cs)
    fig, axes = _figure(len(layout))
    drawn = []
    for ax, (panel, series) in zip(axes, layout):
        rank: dict[str, int] = {}
        for label, model, group in series:
            c = _pick(group, f"{metric}.p50")
            if c is None:
                continue
            dists = c.distributions(metric)
            n = stats.median(d.get("n") for d in dists) or 0
            steps = []
            for key, q in QUANTILES:
                med = stats.median(d.get(key) for d in dists)
                above = 1 / n if key == "max" and n else 1 - q
                if med is not None and med > 0 and above > 0:
                    steps.append((med / 1000, above))
            if len(steps) >= 2:
                ax.step([x for x, _ in steps], [y for _, y in steps], where="post",
                        color=colour(model), label=label, **_style(rank.get(model, 0)))
                rank[model] = rank.get(model, 0) + 1
                drawn.append(c)
        ax.set(xscale="log", yscale="log", xlabel=f"{metric[:-3]}, us (log)",
               ylabel="fraction of samples above x (log)", title=panel)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    reps = sorted({len(c.distributions(metric)) for c in drawn})
    return _finish(fig, axes,
                   f"{metric[:-3]} in us: each step is the median over {'/'.join(map(str, reps))} "
                   "repetitions of a recorded percentile (min, p50, p90, p99, p99.9; max drawn "
                   "at 1/samples); read the tail on the right. " + _cpu_note(cs, cpus))


def _knobs_label(params: dict) -> str:
    """How a threads cell's kernel knobs read on an axis: "default",
    "slice 100us", "fifo/10", "nice 5", "hog nice 19" ..."""
    parts = []
    policy = str(params.get("policy") or "other")
    if policy != "other":
        prio = int(params.get("priority") or 0)
        parts.append(f"{policy}/{prio}" if prio else policy)
    if int(params.get("slice_us") or 0):
        parts.append(f"slice {int(params['slice_us'])}us")
    if int(params.get("nice") or 0):
        parts.append(f"nice {int(params['nice'])}")
    hog_policy = str(params.get("hog_policy") or "same")
    if hog_policy not in ("same", policy):
        parts.append(f"hog {hog_policy}")
    if int(params.get("hog_nice") or 0):
        parts.append(f"hog nice {int(params['hog_nice'])}")
    return ", ".join(parts) or "default"


def _threads_label(c: CellResults) -> str:
    """_knobs_label, plus the hog's slice when the config set it: a hog_*
    value left out follows the ticks', which the record cannot tell from an
    explicit 0, so the cell id (the values the config set) decides."""
    label = _knobs_label(c.params)
    if "hog_slice_us" in c.id_params:
        hog = int(c.id_params["hog_slice_us"] or 0)
        label += f", hog slice {hog}us" if hog else " (ticks only)"
    return label


def plot_c7_knobs(cells: list[CellResults], preemption: str | None = None,
                  cpu_list: str | None = None):
    """C7: what each side must do for a periodic task to be punctual beside
    one CPU hog on the same single CPU. Left: coroutine models against how
    often the hog yields. Right: threads beside a hog that never yields,
    against the kernel's knobs (default, EEVDF slice, policy). Cells: preempt,
    untraced, hogs=1, cpus one CPU ("0"). preemption: the kernel's mode
    (env.json kernel.preemption.mode), printed in the title."""
    cs = [c for c in _plain(cells, "preempt")
          if str(c.params.get("hogs")) == "1" and str(c.params.get("cpus", "")).isdigit()
          and c.values("lateness_ns.p99")]
    coros = [c for c in cs if c.model != "threads" and c.params.get("hog_yield_us") is not None]
    threads = [c for c in cs if c.model == "threads" and str(c.params.get("hog_yield_us")) == "0"]
    if not coros and not threads:
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True,
                                      gridspec_kw={"width_ratios": [1, 1.3]})

    def yield_key(c: CellResults) -> float:
        y = float(c.params["hog_yield_us"])
        return y if y > 0 else float("inf")     # "never" last
    yields = sorted({yield_key(c) for c in coros})
    ticks = ["never" if y == float("inf") else f"{y:g}" for y in yields]
    rank: dict[str, int] = {}
    drawn = []
    for i, (label, model, group) in enumerate(_flat_series(coros, ("hog_yield_us",))):
        # Each series a little to the right of the one before, so that
        # intervals at the same tick do not hide each other.
        pts = [(yields.index(yield_key(c)) + 0.08 * i, med / 1000, err[0] / 1000, err[1] / 1000)
               for c in group for med, err in [_med_err(c.values("lateness_ns.p99"))]
               if med is not None]
        _line(left, label, model, pts, rank.get(model, 0))
        rank[model] = rank.get(model, 0) + 1
        drawn += group
    left.set_xticks(range(len(ticks)), ticks)
    left.set(xlabel="coroutines: the hog yields every ... us",
             ylabel="p99 tick lateness, us (log)", yscale="log")
    left.grid(alpha=0.3)

    def knob_key(c: CellResults) -> tuple:
        policy = str(c.params.get("policy") or "other")
        return (policy != "other", int(c.params.get("slice_us") or 0), _threads_label(c))
    # One point per cell: two cells with the same knobs but another
    # difference (CPUs, tickers) get their own tick, named by it.
    threads = sorted(threads, key=knob_key)
    others = {c.id: dict(_condition(c, KNOBS + ("hog_yield_us",))) for c in threads}
    varying = [k for k in dict.fromkeys(k for d in others.values() for k in d)
               if len({d.get(k) for d in others.values()}) > 1]
    labels = [", ".join(x for x in (_threads_label(c), _words(
        {k: others[c.id].get(k, "-") for k in varying})) if x) for c in threads]
    meds = [_med_err(c.values("lateness_ns.p99")) for c in threads]
    if threads:
        right.errorbar(range(len(labels)), [(m[0] or 0) / 1000 for m in meds],
                       yerr=[[m[1][0] / 1000 for m in meds], [m[1][1] / 1000 for m in meds]],
                       marker="s", capsize=3, linestyle="none", color=colour("threads"),
                       label="threads")
    right.set_xticks(range(len(labels)), labels, rotation=20, ha="right", fontsize="small")
    right.set_xlabel("threads, hog never yields: the kernel's knobs")
    right.grid(alpha=0.3)
    fig.suptitle("C7: p99 lateness of 1-CPU periodic ticks beside a hog ("
                 + firstscreen.PREEMPTION_SHORT.get(preemption, "kernel preemption model "
                                                    + (preemption or "unknown")) + ")",
                 fontsize="medium")
    return _finish(fig, [left, right],
                   "Median over repetitions of each run's p99 tick lateness, in us (log "
                   "scale), with its interval; ticks and the hog share one CPU. "
                   + _drawn_coverage(drawn + threads, "lateness_ns.p99") + " "
                   + _cpu_note(cs, cpu_list))


def preemption(env: dict | None) -> str | None:
    """The kernel's preemption mode from env.json, for plot_c7_knobs's title."""
    mode = (((env or {}).get("kernel") or {}).get("preemption") or {})
    return mode.get("mode") if isinstance(mode, dict) else None


def makers(cells: list[CellResults], cpus: int | None, cpu_list: str | None,
           preempt_mode: str | None = None,
           shown: catalog.ModelDisplay | None = None) -> dict:
    """name -> a function drawing that figure (a Figure, or None without data).
    cpus is the run's CPU count, cpu_list its CPU set ("0-1", see cpu_set()),
    preempt_mode the kernel's preemption mode (preemption()), shown the
    models' order and colours (the run's catalog: catalog.load(DIR).display)."""
    global _shown
    _shown = shown or catalog.display_of(None)
    return {
        "handoff": lambda: plot_handoff(cells, cpu_list),
        "bytes_per_task": lambda: plot_bytes_per_task(cells, cpu_list),
        "speedup": lambda: plot_speedup(cells, cpus, cpu_list),
        "lateness": lambda: plot_lateness(cells, cpu_list),
        "echo": lambda: plot_echo(cells, cpu_list),
        "latency_cdf": lambda: _survival(cells, "echo", "latency_ns",
                                         "echo: latency distribution per model", cpu_list),
        "cdf_fileio": lambda: _survival(cells, "fileio", "latency_ns",
                                        "fileio: read latency distribution per model", cpu_list),
        "cdf_timers": lambda: _survival(cells, "timers", "lateness_ns",
                                        "timers: wake-up lateness per model", cpu_list),
        "cdf_preempt": lambda: _survival(cells, "preempt", "lateness_ns",
                                         "preempt: tick lateness per model", cpu_list),
        "c7_knobs": lambda: plot_c7_knobs(cells, preempt_mode, cpu_list),
    }


def render_all(cells: list[CellResults], cpus: int | None, out_dir: Path,
               cpu_list: str | None = None, preempt_mode: str | None = None,
               shown: catalog.ModelDisplay | None = None) -> dict[str, dict]:
    """Draw every plot that has data. Returns name -> {path, png_base64}."""
    out: dict[str, dict] = {}
    safefs.make_subdir(out_dir)
    for name, make in makers(cells, cpus, cpu_list, preempt_mode, shown).items():
        fig = make()
        if fig is None:
            continue
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
        plt.close(fig)
        data = buf.getvalue()
        path = out_dir / f"{name}.png"
        safefs.write_bytes(path, data)
        out[name] = {"path": f"plots/{name}.png",
                     "png_base64": base64.b64encode(data).decode("ascii")}
    return out
