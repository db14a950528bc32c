"""The report's plots: matplotlib (Agg, no display), one function per figure.

Each figure answers one question, and follows the same rules so that every
plot of every report reads the same way:
  - one colour per model, the same in every figure (MODEL_COLOURS);
  - at most MAX_SERIES series per axes: a further parameter becomes small
    multiples (one axes per value), never a pooled series;
  - one cell per (model, parameters) point: cells that differ in any other
    parameter are never pooled (the cell with the most repetitions, untraced
    first, is drawn; the tables have the others);
  - the legend sits outside every axes' data area (right of the figure);
  - a caption under the axes says what is drawn, its unit and on which CPUs.
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
from matplotlib.patches import Patch  # noqa: E402

from harness import cpulist  # noqa: E402
from harness.analyse import stats  # noqa: E402
from harness.format import MODEL_ORDER  # noqa: E402
from harness.records.rundir import CellResults  # noqa: E402

# Colour-blind-safe (Okabe-Ito); any other model is grey.
MODEL_COLOURS = {"threads": "#0072B2", "coro": "#E69F00", "uring": "#009E73",
                 "mn": "#CC79A7", "asyncio": "#D55E00", "uvloop": "#56B4E9",
                 "node": "#000000"}
OTHER_COLOUR = "#777777"
MAX_SERIES = 6
LOG_SPAN = 20
QUANTILES = (("min", 0.0), ("p50", 0.5), ("p90", 0.9), ("p99", 0.99),
             ("p999", 0.999), ("max", 1.0))
CAPTION_GID = "caption"


def colour(model: str) -> str:
    return MODEL_COLOURS.get(model, OTHER_COLOUR)


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
    return [m for m in MODEL_ORDER if m in found] + sorted(found - set(MODEL_ORDER))


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


# ---- figure scaffolding -------------------------------------------------------

def _figure(panels: int, width: float = 4.0):
    cols = 2 if panels == 4 else min(panels, 3)
    rows = (panels + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, 3.2 * rows), squeeze=False)
    flat = list(axes.flat)
    for ax in flat[panels:]:
        ax.remove()
    return fig, flat[:panels]


def _finish(fig, axes, models: list[str], caption: str, extra: list | None = None):
    """Model legend right of the axes, caption under them."""
    handles = [Patch(color=colour(m), label=m) for m in models] + (extra or [])
    fig.tight_layout(rect=(0, 0, 1, 1))
    right = max(ax.get_position().x1 for ax in axes)
    top = max(ax.get_position().y1 for ax in axes)
    fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(right + 0.01, top),
               fontsize="small", frameon=False)
    # Wrapped to the figure's width (about 15 small characters per inch), so
    # a long caption does not widen the saved image and shrink the plot.
    width = int(fig.get_figwidth() * 15)
    fig.text(0.01, -0.01, textwrap.fill(caption, width), ha="left", va="top",
             fontsize="small", gid=CAPTION_GID)
    return fig


def _grouped_bars(ax, groups: list[str], models: list[str], points: dict, unit: str,
                  one_model_per_group: bool = False) -> None:
    """points[(group, model)] = (median, [err_lo, err_hi]); one colour per model.
    A log axis only when the bars span more than LOG_SPAN: bars on a log axis
    start at an arbitrary floor, which misleads when values are close."""
    # Side by side per group; or centred when each group is one model's.
    width = 0.8 if one_model_per_group else 0.8 / max(len(models), 1)
    for i, m in enumerate(models):
        bars = [(g, points[(group, m)]) for g, group in enumerate(groups)
                if points.get((group, m), (None,))[0] is not None]
        ax.bar([g + (0 if one_model_per_group else i * width) for g, _ in bars],
               [p[0] for _, p in bars], width,
               yerr=[[p[1][0] for _, p in bars], [p[1][1] for _, p in bars]],
               capsize=3, color=colour(m), label=m)
    shift = 0 if one_model_per_group else width * (len(models) - 1) / 2
    ax.set_xticks([g + shift for g in range(len(groups))], groups)
    meds = [p[0] for p in points.values() if p[0]]
    log = bool(meds) and max(meds) > LOG_SPAN * min(meds)
    if log:
        ax.set_yscale("log")
    ax.set_ylabel(f"{unit} (log)" if log else unit)
    ax.grid(axis="y", alpha=0.3)


def _bar_points(bars: list[tuple[str, str, list[CellResults]]], metric: str) -> dict:
    """(label, model) -> the median and error of the one cell drawn (_pick)
    of each bar's cells, as _grouped_bars takes them."""
    return {(label, m): _med_err(c.values(metric)) for label, m, group in bars
            if (c := _pick(group, metric))}


def _points(cs: list[CellResults], model: str, param: str, metric: str,
            scale: float) -> list[tuple[float, float, float, float]]:
    """One point per value of param for model's cells: (value, median/scale,
    err_lo/scale, err_hi/scale), one cell per point (_pick), never pooled."""
    pts = []
    mine = [c for c in cs if c.model == model]
    for v in _values_of(mine, param):
        c = _pick([c for c in mine if str(c.params[param]) == v], metric)
        if c is None:
            continue
        med, err = _med_err(c.values(metric))
        pts.append((float(v), med / scale, err[0] / scale, err[1] / scale))
    return pts


def _line(ax, model: str, pts: list[tuple[float, float, float, float]], **kw) -> None:
    """pts: (x, y, err_lo, err_hi)."""
    if not pts:
        return
    pts.sort()
    ax.errorbar([p[0] for p in pts], [p[1] for p in pts],
                yerr=[[p[2] for p in pts], [p[3] for p in pts]], marker="o", capsize=3,
                color=colour(model), label=model, **kw)


# ---- the figures --------------------------------------------------------------

def plot_handoff(cells: list[CellResults], cpus: str | None = None):
    """What does one hand-off cost, per model, per channel and placement?"""
    cs = [c for c in _plain(cells, "pingpong") if c.values("handoff_ns")]
    if not cs:
        return None
    models, channels = _models(cs), _values_of(cs, "channel")
    placements = _values_of(cs, "placement")
    fig, axes = _figure(len(channels))
    for ax, ch in zip(axes, channels):
        points = _bar_points([(f"placement={p}", m, [
            c for c in cs if c.model == m and _key(c, ("channel", "placement")) == (ch, p)])
            for p in placements for m in models], "handoff_ns")
        _grouped_bars(ax, [f"placement={p}" for p in placements], models, points,
                      "ns per hand-off")
        ax.set_title(f"channel={ch}")
    fig.suptitle("pingpong: what one hand-off costs")
    return _finish(fig, axes, models,
                   "Median ns per hand-off with its 95% CI, one cell per bar. "
                   "placement=same: both tasks on one CPU; split: on two (threads only; "
                   "the coroutine models run on one thread either way). "
                   + _cpu_note(cs, cpus))


# The coroutine models' parameter `stack` (docs/stacks.md), as bar labels.
STACK_LABELS = {"guarded": "own+guard", "unguarded": "own", "shared": "shared"}


def _stack_groups(cells: list[CellResults]) -> list[tuple[str, str | None]]:
    """(model, stack) pairs in model order, then own+guard, own, shared."""
    order = list(STACK_LABELS)
    found = {(c.model, c.params.get("stack")) for c in cells}
    return [(m, st) for m in _models(cells)
            for st in sorted({st for mm, st in found if mm == m},
                             key=lambda st: order.index(st) if st in order else len(order))]


def plot_bytes_per_task(cells: list[CellResults], cpus: str | None = None):
    """What does a parked task cost in memory, user and kernel side, per
    model and coroutine stack kind? One bar per (model, stack) and any other
    spawn parameter that varies within the model; never pooled."""
    cs = [c for c in _plain(cells, "spawn") if c.values("user_bytes_per_task")]
    if not cs:
        return None
    bars: list[tuple[str, str, list[CellResults]]] = []      # (label, model, cells)
    for m, st in _stack_groups(cs):
        mine = [c for c in cs if c.model == m and c.params.get("stack") == st]
        keys = tuple(k for k in ("tasks", "guard", "stack_bytes")
                     if len(_values_of(mine, k)) > 1)
        for g in sorted({_key(c, keys) for c in mine}):
            parts = [m] + ([STACK_LABELS.get(st, st)] if st else [])
            label = "\n".join(parts + [f"{k}={v}" for k, v in zip(keys, g)])
            bars.append((label, m, [c for c in mine if _key(c, keys) == g]))
    models = _models(cs)
    panels = (("user_bytes_per_task", "user (RSS)"),
              ("kernel_bytes_per_task", "kernel (stack, slab, page tables)"))
    fig, axes = _figure(len(panels), width=max(4.0, 0.9 * len(bars)))
    for ax, (metric, title) in zip(axes, panels):
        _grouped_bars(ax, [b[0] for b in bars], models, _bar_points(bars, metric), "bytes per task",
                      one_model_per_group=True)
        ax.set_title(title)
    fig.suptitle("spawn: memory per parked task")
    tasks = _values_of(cs, "tasks")
    return _finish(fig, axes, models,
                   "Median bytes per task with its 95% CI: RSS delta (user) and "
                   "/proc/meminfo KernelStack+Slab+PageTables delta (kernel, system-wide), "
                   f"tasks={'/'.join(tasks)}. " + _cpu_note(cs, cpus))


def plot_speedup(cells: list[CellResults], cpus: int | None, cpu_list: str | None = None):
    """Does adding workers speed compute up, with every CPU and with one?"""
    cs = [c for c in _plain(cells, "compute")
          if c.params.get("workers") is not None and c.values("units_per_s")]
    if not cs:
        return None
    confinements = sorted({_cpus(c) for c in cs})
    fig, axes = _figure(len(confinements))
    models = _models(cs)
    for ax, conf in zip(axes, confinements):
        for m in models:
            mine = [c for c in cs if c.model == m and _cpus(c) == conf]
            by_w = {w: _pick([c for c in mine if int(c.params["workers"]) == w], "units_per_s")
                    for w in {int(c.params["workers"]) for c in mine}}
            if by_w.get(1) is None:
                continue
            base = by_w[1].values("units_per_s")
            rcs = {w: stats.ratio_ci(base, c.values("units_per_s")) for w, c in by_w.items()}
            _line(ax, m, [(w, rc.value, max(rc.value - rc.lo, 0), max(rc.hi - rc.value, 0))
                          for w, rc in rcs.items() if rc])
        n = len(cpulist.parse(conf)) if conf else cpus
        if n:
            ax.axhline(n, color="grey", linestyle=":", alpha=0.7)
        ax.set(title=f"cpus={conf}" if conf else f"every CPU of the run ({cpus or '?'})",
               xlabel="workers", ylabel="speedup vs workers=1")
        ax.grid(alpha=0.3)
    fig.suptitle("compute: speedup against workers")
    return _finish(fig, axes, models,
                   "Units/s at N workers over units/s at 1 worker (median ratio, 95% CI). "
                   "Dotted: the number of CPUs the cells could use. "
                   + _cpu_note(cs, cpu_list))


def plot_lateness(cells: list[CellResults], cpus: str | None = None):
    """How late do periodic tasks wake beside a hog, against how often it yields?"""
    cs = [c for c in _plain(cells, "preempt")
          if c.params.get("hog_yield_us") is not None and c.values("lateness_ns.p99")]
    # hog_yield_us=0 means "never yields": it has no place on a log axis and
    # stays in the tables.
    cs = [c for c in cs if float(c.params["hog_yield_us"]) > 0]
    if not cs:
        return None
    models = _models(cs)
    fig, axes = _figure(1, width=5.0)
    ax = axes[0]
    for m in models:
        _line(ax, m, _points(cs, m, "hog_yield_us", "lateness_ns.p99", 1000))
    ax.set(xscale="log", yscale="log", xlabel="hog yields every ... us (log)",
           ylabel="p99 lateness, us (log)",
           title="preempt: p99 lateness of periodic tasks beside a hog")
    ax.grid(alpha=0.3)
    return _finish(fig, axes, models,
                   "Median over repetitions of each run's p99 lateness, in us (log scale), "
                   "with its 95% CI; hog_yield_us=0 (never yields) is in the tables. "
                   + _cpu_note(cs, cpus))


def plot_echo(cells: list[CellResults], cpus: str | None = None):
    """What does a request cost the server, at what p99 latency, as
    connections grow? At a fixed offered rate (open loop) every server
    answers the same requests/s, so the first panel is server CPU per
    request; a closed-loop run shows requests/s instead. Our models on the
    first row; the peers (asyncio, uvloop, Node.js), where the run has them,
    on a second row beside coro, so no axes holds more than MAX_SERIES."""
    cs = [c for c in _plain(cells, "echo")
          if c.params.get("connections") is not None and c.values("latency_ns.p99")]
    if not cs:
        return None
    open_loop = all(c.params.get("rate") for c in cs)
    first = (("server_cpu_ns_per_request", 1000, "server CPU per request, us") if open_loop
             else ("requests_per_s", 1, "requests/s"))
    ours = [m for m in _models(cs) if m in MODEL_ORDER]
    peers = [m for m in _models(cs) if m not in MODEL_ORDER]
    rows = [("our models", ours)] + ([("the peers beside coro", ["coro"] + peers)]
                                     if peers else [])
    fig, axes = _figure(2 * len(rows))
    for r, (who, models) in enumerate(rows):
        for ax, (metric, scale, label) in zip(axes[2 * r:2 * r + 2], (
                first, ("latency_ns.p99", 1000, "p99 latency, us (log)"))):
            for m in models:
                _line(ax, m, _points(cs, m, "connections", metric, scale))
            ax.set(xscale="log", xlabel="connections (log)", ylabel=label,
                   title=f"{label.split(',')[0]}: {who}")
            ax.grid(alpha=0.3)
        axes[2 * r + 1].set_yscale("log")
    rates = sorted({str(c.params.get("rate")) for c in cs})
    fig.suptitle("echo: " + (f"at {', '.join(rates)} requests/s offered" if open_loop
                             else "closed loop") + ", against connections")
    client = sorted({str(c.params["client_cpus"]) for c in cs if c.params.get("client_cpus")})
    return _finish(fig, axes, ours + peers,
                   "Medians with 95% CI over repetitions: " + first[2] + " (process CPU time "
                   "over loadgen's window) and each run's p99 latency (us) from each "
                   "request's due time. " + _cpu_note(cs, cpus)
                   + (f" loadgen on CPUs {', '.join(client)}." if client else ""))


def _cdf(cells: list[CellResults], task: str, metric: str, split: str, title: str,
         cpus: str | None):
    """A CDF per model from the recorded percentiles, one axes per value of
    split: a step through the known quantiles (the record keeps percentiles,
    not samples)."""
    cs = [c for c in _plain(cells, task) if c.distributions(metric)]
    if not cs:
        return None
    models = _models(cs)
    values = _values_of(cs, split)
    fig, axes = _figure(len(values))
    for ax, v in zip(axes, values):
        for m in models:
            c = _pick([c for c in cs if c.model == m and str(c.params.get(split, "-")) == v],
                      f"{metric}.p50")
            if c is None:
                continue
            meds = [(stats.median(d.get(key) for d in c.distributions(metric)), q)
                    for key, q in QUANTILES]
            steps = [(med / 1000, q) for med, q in meds if med is not None and med > 0]
            if len(steps) >= 2:
                ax.step([x for x, _ in steps], [q for _, q in steps], where="post", marker=".",
                        color=colour(m), label=m)
        ax.set(xscale="log", xlabel=f"{metric[:-3]}, us (log)", ylabel="fraction <= x",
               title=f"{split}={v}")
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    return _finish(fig, axes, models,
                   f"{metric[:-3]} in us (log scale): each step is the median over "
                   "repetitions of a recorded percentile (min, p50, p90, p99, p99.9, max). "
                   + _cpu_note(cs, cpus))


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
    for i, m in enumerate(_models(coros)):
        # Each model a little to the right of the one before, so that
        # intervals at the same tick do not hide each other.
        pts = [(yields.index(yield_key(c)) + 0.08 * i, med / 1000, err[0] / 1000, err[1] / 1000)
               for c in coros if c.model == m
               for med, err in [_med_err(c.values("lateness_ns.p99"))] if med is not None]
        _line(left, m, pts)
    left.set_xticks(range(len(ticks)), ticks)
    left.set(xlabel="coroutines: the hog yields every ... us",
             ylabel="p99 tick lateness, us (log)", yscale="log")
    left.grid(alpha=0.3)

    def knob_key(c: CellResults) -> tuple:
        policy = str(c.params.get("policy") or "other")
        return (policy != "other", int(c.params.get("slice_us") or 0), _threads_label(c))
    groups: dict[str, list[float]] = {}
    for c in sorted(threads, key=knob_key):
        groups.setdefault(_threads_label(c), []).extend(c.values("lateness_ns.p99"))
    labels = list(groups)
    meds = [_med_err(groups[k]) for k in labels]
    right.errorbar(range(len(labels)), [(m[0] or 0) / 1000 for m in meds],
                   yerr=[[m[1][0] / 1000 for m in meds], [m[1][1] / 1000 for m in meds]],
                   marker="s", capsize=3, linestyle="none", color=colour("threads"),
                   label="threads")
    right.set_xticks(range(len(labels)), labels, rotation=20, ha="right", fontsize="small")
    right.set_xlabel("threads, hog never yields: the kernel's knobs")
    right.grid(alpha=0.3)
    fig.suptitle("C7: p99 lateness of 1-CPU periodic ticks beside a hog"
                 f" (kernel preemption: {preemption or 'unknown'})", fontsize="medium")
    return _finish(fig, [left, right], _models(coros + threads),
                   "Median over repetitions of each run's p99 tick lateness, in us (log "
                   "scale), with its 95% CI; ticks and the hog share one CPU. "
                   + _cpu_note(cs, cpu_list))


def preemption(env: dict | None) -> str | None:
    """The kernel's preemption mode from env.json, for plot_c7_knobs's title."""
    mode = (((env or {}).get("kernel") or {}).get("preemption") or {})
    return mode.get("mode") if isinstance(mode, dict) else None


def makers(cells: list[CellResults], cpus: int | None, cpu_list: str | None,
           preempt_mode: str | None = None) -> dict:
    """name -> a function drawing that figure (a Figure, or None without data).
    cpus is the run's CPU count, cpu_list its CPU set ("0-1", see cpu_set()),
    preempt_mode the kernel's preemption mode (preemption())."""
    return {
        "handoff": lambda: plot_handoff(cells, cpu_list),
        "bytes_per_task": lambda: plot_bytes_per_task(cells, cpu_list),
        "speedup": lambda: plot_speedup(cells, cpus, cpu_list),
        "lateness": lambda: plot_lateness(cells, cpu_list),
        "echo": lambda: plot_echo(cells, cpu_list),
        "latency_cdf": lambda: _cdf(cells, "echo", "latency_ns", "connections",
                                    "echo: latency distribution per model", cpu_list),
        "cdf_fileio": lambda: _cdf(cells, "fileio", "latency_ns", "cache",
                                   "fileio: read latency distribution per model", cpu_list),
        "cdf_timers": lambda: _cdf(cells, "timers", "lateness_ns", "tasks",
                                   "timers: wake-up lateness distribution per model", cpu_list),
        "cdf_preempt": lambda: _cdf(cells, "preempt", "lateness_ns", "hog_yield_us",
                                    "preempt: tick lateness distribution per model", cpu_list),
        "c7_knobs": lambda: plot_c7_knobs(cells, preempt_mode, cpu_list),
    }


def render_all(cells: list[CellResults], cpus: int | None, out_dir: Path,
               cpu_list: str | None = None, preempt_mode: str | None = None) -> dict[str, dict]:
    """Draw every plot that has data. Returns name -> {path, png_base64}."""
    out: dict[str, dict] = {}
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, make in makers(cells, cpus, cpu_list, preempt_mode).items():
        fig = make()
        if fig is None:
            continue
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
        plt.close(fig)
        data = buf.getvalue()
        path = out_dir / f"{name}.png"
        path.write_bytes(data)
        out[name] = {"path": f"plots/{name}.png",
                     "png_base64": base64.b64encode(data).decode("ascii")}
    return out
