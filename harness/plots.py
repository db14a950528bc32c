"""The report's plots: matplotlib (Agg, no display), one function per plot.

Each function takes the run's cells and returns a Figure, or None when the
run has nothing to draw (the report then says "no data" instead of an empty
frame). USDT-traced cells are left out: their timings carry the probes' cost.
render_all() saves PNGs into DIR/plots/ and returns them base64-encoded for
the self-contained HTML.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from harness import summary  # noqa: E402
from harness.rundir import Cell  # noqa: E402

MODEL_ORDER = ("threads", "coro", "uring", "mn")
QUANTILES = (("min", 0.0), ("p50", 0.5), ("p90", 0.9), ("p99", 0.99),
             ("p999", 0.999), ("max", 1.0))


def _untraced(cells: list[Cell], task: str) -> list[Cell]:
    return [c for c in cells if c.task == task and not c.traced_usdt]


def _models(cells: list[Cell]) -> list[str]:
    found = {c.model for c in cells}
    return [m for m in MODEL_ORDER if m in found] + sorted(found - set(MODEL_ORDER))


def _med_err(values: list[float]) -> tuple[float | None, list[float]]:
    s = summary.summarize(values)
    if s.median is None:
        return None, [0.0, 0.0]
    lo = s.ci_lo if s.ci_lo is not None else s.median
    hi = s.ci_hi if s.ci_hi is not None else s.median
    return s.median, [max(s.median - lo, 0.0), max(hi - s.median, 0.0)]


def _bars(ax, groups: list[str], series: dict[str, list], ylabel: str, log: bool) -> None:
    """Grouped bars with CI error bars: series maps a label to
    [(median, [err_lo, err_hi]) per group]."""
    width = 0.8 / max(len(series), 1)
    for i, (label, vals) in enumerate(series.items()):
        xs = [g + i * width for g in range(len(groups))]
        ys = [v[0] if v[0] is not None else 0 for v in vals]
        errs = [[v[1][0] for v in vals], [v[1][1] for v in vals]]
        ax.bar(xs, ys, width, yerr=errs, capsize=3, label=label)
    ax.set_xticks([g + width * (len(series) - 1) / 2 for g in range(len(groups))])
    ax.set_xticklabels(groups)
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
    ax.legend(fontsize="small")
    ax.grid(axis="y", alpha=0.3)


def plot_handoff(cells: list[Cell]):
    cs = [c for c in _untraced(cells, "pingpong") if c.values("handoff_ns")]
    if not cs:
        return None
    models = _models(cs)
    placements = sorted({str(c.params.get("placement", "same")) for c in cs})
    series = {}
    for p in placements:
        vals = []
        for m in models:
            v = [x for c in cs if c.model == m and str(c.params.get("placement", "same")) == p
                 for x in c.values("handoff_ns")]
            vals.append(_med_err(v))
        series[f"placement={p}"] = vals
    fig, ax = plt.subplots(figsize=(6, 3.5))
    _bars(ax, models, series, "ns per hand-off (log)", log=True)
    ax.set_title("pingpong: hand-off cost per model (median, 95% CI)")
    return fig


# The coroutine models' parameter `stack` (docs/stacks.md), as bar labels.
STACK_LABELS = {"guarded": "own+guard", "unguarded": "own", "shared": "shared"}


def _stack_groups(cells: list[Cell]) -> list[tuple[str, str | None]]:
    """(model, stack) pairs in model order, then own+guard, own, shared."""
    order = list(STACK_LABELS)
    found = {(c.model, c.params.get("stack")) for c in cells}
    return [(m, st) for m in _models(cells)
            for st in sorted({st for mm, st in found if mm == m},
                             key=lambda st: order.index(st) if st in order else len(order))]


def plot_bytes_per_task(cells: list[Cell]):
    cs = [c for c in _untraced(cells, "spawn") if c.values("user_bytes_per_task")]
    if not cs:
        return None
    groups = _stack_groups(cs)
    series = {"user (RSS)": [], "kernel (stack, slab)": []}
    for m, st in groups:
        for key, metric in (("user (RSS)", "user_bytes_per_task"),
                            ("kernel (stack, slab)", "kernel_bytes_per_task")):
            v = [x for c in cs if c.model == m and c.params.get("stack") == st
                 for x in c.values(metric)]
            series[key].append(_med_err(v))
    labels = [m if st is None else f"{m}\n{STACK_LABELS.get(st, st)}" for m, st in groups]
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(labels)), 3.5))
    _bars(ax, labels, series, "bytes per task (log)", log=True)
    ax.set_title("spawn: memory per task per model")
    return fig


def plot_speedup(cells: list[Cell], cpus: int | None):
    cs = [c for c in _untraced(cells, "compute")
          if c.params.get("workers") is not None and c.values("units_per_s")]
    if not cs:
        return None
    fig, ax = plt.subplots(figsize=(6, 3.5))
    drawn = False
    for confined in (False, True):
        for m in _models(cs):
            mine = [c for c in cs if c.model == m
                    and (str(c.params.get("cpus")) == "0") == confined]
            base = [x for c in mine if int(c.params["workers"]) == 1
                    for x in c.values("units_per_s")]
            if not base:
                continue
            pts = []
            for c in sorted(mine, key=lambda c: int(c.params["workers"])):
                rc = summary.ratio_ci(base, c.values("units_per_s"))
                if rc:
                    pts.append((int(c.params["workers"]), rc))
            if not pts:
                continue
            xs = [p[0] for p in pts]
            ys = [p[1][0] for p in pts]
            err = [[max(p[1][0] - p[1][1], 0) for p in pts],
                   [max(p[1][2] - p[1][0], 0) for p in pts]]
            ax.errorbar(xs, ys, yerr=err, marker="o", capsize=3,
                        linestyle="--" if confined else "-",
                        label=f"{m}" + (" (cpus=0)" if confined else ""))
            drawn = True
    if not drawn:
        plt.close(fig)
        return None
    if cpus:
        ax.axvline(cpus, color="grey", linestyle=":", label=f"{cpus} CPUs")
        ax.axhline(cpus, color="grey", linestyle=":", alpha=0.5)
    ax.set_xlabel("workers")
    ax.set_ylabel("speedup vs workers=1")
    ax.set_title("compute: speedup against workers")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    return fig


def plot_lateness(cells: list[Cell]):
    cs = [c for c in _untraced(cells, "preempt")
          if c.params.get("hog_yield_us") is not None and c.values("lateness_ns.p99")]
    if not cs:
        return None
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for m in _models(cs):
        mine = sorted((c for c in cs if c.model == m),
                      key=lambda c: float(c.params["hog_yield_us"]))
        xs, ys, lo, hi = [], [], [], []
        for c in mine:
            med, err = _med_err(c.values("lateness_ns.p99"))
            # hog_yield_us=0 means "never yields": drawn at the right edge
            # would mislead on a log axis, so it is left to the tables.
            if med is None or float(c.params["hog_yield_us"]) <= 0:
                continue
            xs.append(float(c.params["hog_yield_us"]))
            ys.append(med / 1000)
            lo.append(err[0] / 1000)
            hi.append(err[1] / 1000)
        if xs:
            ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", capsize=3, label=m)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("hog yields every ... us (log)")
    ax.set_ylabel("p99 lateness, us (log)")
    ax.set_title("preempt: p99 lateness of periodic tasks beside a hog")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    return fig


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


def _threads_label(c: Cell) -> str:
    """_knobs_label, plus the hog's slice when the config set it: a hog_*
    value left out follows the ticks', which the record cannot tell from an
    explicit 0, so the cell id (the values the config set) decides."""
    label = _knobs_label(c.params)
    if "hog_slice_us" in c.id_params:
        hog = int(c.id_params["hog_slice_us"] or 0)
        label += f", hog slice {hog}us" if hog else " (ticks only)"
    return label


def plot_c7_knobs(cells: list[Cell], preemption: str | None = None):
    """C7: what each side must do for a periodic task to be punctual beside
    one CPU hog on the same single CPU. Left: coroutine models against how
    often the hog yields. Right: threads beside a hog that never yields,
    against the kernel's knobs (default, EEVDF slice, policy). Cells: preempt,
    untraced, hogs=1, cpus one CPU ("0"). preemption: the kernel's mode
    (env.json kernel.preemption.mode), printed in the title."""
    cs = [c for c in _untraced(cells, "preempt")
          if str(c.params.get("hogs")) == "1" and str(c.params.get("cpus", "")).isdigit()
          and c.values("lateness_ns.p99")]
    coros = [c for c in cs if c.model != "threads" and c.params.get("hog_yield_us") is not None]
    threads = [c for c in cs if c.model == "threads" and str(c.params.get("hog_yield_us")) == "0"]
    if not coros and not threads:
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True,
                                      gridspec_kw={"width_ratios": [1, 1.3]})

    def yield_key(c: Cell) -> float:
        y = float(c.params["hog_yield_us"])
        return y if y > 0 else float("inf")     # "never" last
    yields = sorted({yield_key(c) for c in coros})
    ticks = ["never" if y == float("inf") else f"{y:g}" for y in yields]
    for i, m in enumerate(_models(coros)):
        pts = []
        for c in (c for c in coros if c.model == m):
            med, err = _med_err(c.values("lateness_ns.p99"))
            if med is not None:
                pts.append((yields.index(yield_key(c)), med / 1000, err))
        pts.sort()
        if pts:
            left.errorbar([p[0] + 0.08 * i for p in pts], [p[1] for p in pts],
                          yerr=[[p[2][0] / 1000 for p in pts], [p[2][1] / 1000 for p in pts]],
                          marker="o", capsize=3, label=m)
    left.set_xticks(range(len(ticks)))
    left.set_xticklabels(ticks)
    left.set_xlabel("coroutines: the hog yields every ... us")
    left.set_ylabel("p99 tick lateness, us (log)")
    left.set_yscale("log")
    left.grid(alpha=0.3)
    if coros:
        left.legend(fontsize="small")

    def knob_key(c: Cell) -> tuple:
        policy = str(c.params.get("policy") or "other")
        return (policy != "other", int(c.params.get("slice_us") or 0), _threads_label(c))
    groups: dict[str, list[float]] = {}
    for c in sorted(threads, key=knob_key):
        groups.setdefault(_threads_label(c), []).extend(c.values("lateness_ns.p99"))
    labels = list(groups)
    meds = [_med_err(groups[k]) for k in labels]
    right.errorbar(range(len(labels)), [(m[0] or 0) / 1000 for m in meds],
                   yerr=[[m[1][0] / 1000 for m in meds], [m[1][1] / 1000 for m in meds]],
                   marker="s", capsize=3, linestyle="none", color="C3", label="threads")
    right.set_xticks(range(len(labels)))
    right.set_xticklabels(labels, rotation=20, ha="right", fontsize="small")
    right.set_xlabel("threads, hog never yields: the kernel's knobs")
    right.grid(alpha=0.3)
    fig.suptitle("C7: p99 lateness of 1-CPU periodic ticks beside a hog"
                 f" (kernel preemption: {preemption or 'unknown'})", fontsize="medium")
    return fig


def plot_echo(cells: list[Cell]):
    cs = [c for c in _untraced(cells, "echo")
          if c.params.get("connections") is not None and c.values("requests_per_s")]
    if not cs:
        return None
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.5))
    for m in _models(cs):
        mine = sorted((c for c in cs if c.model == m), key=lambda c: float(c.params["connections"]))
        xs = [float(c.params["connections"]) for c in mine]
        rps = [_med_err(c.values("requests_per_s")) for c in mine]
        p99 = [_med_err(c.values("latency_ns.p99")) for c in mine]
        a1.errorbar(xs, [r[0] for r in rps], yerr=[[r[1][0] for r in rps], [r[1][1] for r in rps]],
                    marker="o", capsize=3, label=m)
        pts = [(x, p) for x, p in zip(xs, p99) if p[0] is not None]
        if pts:
            a2.errorbar([x for x, _ in pts], [p[0] / 1000 for _, p in pts],
                        yerr=[[p[1][0] / 1000 for _, p in pts], [p[1][1] / 1000 for _, p in pts]],
                        marker="o", capsize=3, label=m)
    for ax in (a1, a2):
        ax.set_xscale("log")
        ax.set_xlabel("connections (log)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    a1.set_ylabel("requests/s")
    a2.set_ylabel("p99 latency, us")
    a1.set_title("echo: throughput")
    a2.set_title("echo: p99 latency")
    fig.tight_layout()
    return fig


def plot_latency_cdf(cells: list[Cell]):
    """CDFs drawn from the recorded percentiles (min, p50 ... max) of each
    cell's pooled repetitions: a step through the known quantiles, not a
    full histogram (the record keeps percentiles, not samples)."""
    panels = [(t, m) for t, m in (("echo", "latency_ns"), ("fileio", "latency_ns"),
                                  ("timers", "lateness_ns"), ("preempt", "lateness_ns"))
              if any(c.distributions(m) for c in _untraced(cells, t))]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.5), squeeze=False)
    for ax, (task, metric) in zip(axes[0], panels):
        for c in _untraced(cells, task):
            dists = c.distributions(metric)
            if not dists:
                continue
            xs, ys = [], []
            for key, q in QUANTILES:
                vals = [d[key] for d in dists if isinstance(d.get(key), (int, float))]
                med = summary.summarize(vals).median
                if med is not None and med > 0:
                    xs.append(med / 1000)
                    ys.append(q)
            if len(xs) >= 2:
                ax.step(xs, ys, where="post", marker=".",
                        label=f"{c.model} " + ",".join(f"{k}={v}" for k, v in c.id_params.items()))
        ax.set_xscale("log")
        ax.set_xlabel(f"{metric[:-3]}, us (log)")
        ax.set_ylabel("fraction <= x")
        ax.set_title(f"{task}: {metric}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="x-small")
    fig.tight_layout()
    return fig


def render_all(cells: list[Cell], cpus: int | None, out_dir: Path) -> dict[str, dict]:
    """Draw every plot that has data. Returns name -> {path, png_base64}."""
    makers = {
        "handoff": lambda: plot_handoff(cells),
        "bytes_per_task": lambda: plot_bytes_per_task(cells),
        "speedup": lambda: plot_speedup(cells, cpus),
        "lateness": lambda: plot_lateness(cells),
        "echo": lambda: plot_echo(cells),
        "latency_cdf": lambda: plot_latency_cdf(cells),
    }
    out: dict[str, dict] = {}
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, make in makers.items():
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
