"""Turn measurements into verdicts: the rules behind configs/claims.toml.

A claim is data (configs/claims.toml): the article's words and parts, each
naming a rule, its thresholds and its role. No verdict is ever typed in.
docs/verdicts.md states every claim's rule, its controls, and on which
machine it would come out the other way.

Roles of a part:
  test     can come out supported, refuted or inconclusive; only tests vote
  control  checks that the setup is what it claims (one CPU gives no
           speedup; a mutex loses nothing): "setup as intended" yes / no /
           n/a, shown apart, never counted as support
  nuance   a named condition (a coroutine that yields inside its window),
           reported in the claim's section, never pooled into the test

Decisions are symmetric: a test is supported only when its interval clears
the support threshold, refuted only when it clears the refute threshold,
otherwise inconclusive with the reason (fewer than MIN_N runs, the interval
straddles the threshold). Rules:

  model_ratio  median(num) / median(den) for cells run with the same
               parameters AND the same CPU set (pairs whose CPU sets differ
               are refused); interval from stats.ratio_ci
  speedup      units_per_s at N workers / at 1 worker on the same CPUs
  trend        slope of log(metric) on log(param) over every repetition of
               the sweep, bootstrap interval
  level        a cell's median against a threshold, order-statistic interval
  share_difference  the share of runs with a yes/no outcome, num - den
               (harness/analyse/shares.py: Newcombe's interval, Wilson per side)
  checks       plain comparisons over every run (controls only)
  untestable   the reason why nothing here can measure it

Cells that never feed a verdict: traced cells (a probe was requested: perf
stat, the eBPF tracer, USDT all disturb time and memory), client-bound
echo cells (client_cpu_utilization above Context.client_bound), and cells
that set a kernel knob the part does not name (KNOB_DEFAULTS). Traced
cells feed instrument_costs() instead: the bare/traced ratios.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field, replace
from typing import Any

from harness import cpulist
from harness.analyse import shares, stats
from harness import format as fmt
from harness.analyse.shares import INCONCLUSIVE, NUANCED, REFUTED, SUPPORTED
from harness.records.rundir import CellResults

UNTESTABLE = "not tested here"
VERDICTS = (SUPPORTED, REFUTED, INCONCLUSIVE, NUANCED, UNTESTABLE)
# A control's answer to "is the setup as intended?"
SETUP = {SUPPORTED: "yes", REFUTED: "no"}

MIN_N = 5
# The claims compare models under the kernel's default scheduling; a cell
# that sets a knob (docs/kernel-knobs.md) feeds a verdict only when the
# part names that knob in its `where`.
KNOB_DEFAULTS = {"policy": "other", "priority": 0, "nice": 0, "slice_us": 0,
                 "hog_policy": "same", "hog_priority": 0, "hog_nice": 0, "hog_slice_us": 0}
DEFAULT_NOISY_COV = 0.10
CLIENT_BOUND = 0.8


@dataclass
class Result:
    verdict: str
    why: str
    rows: list[dict] = field(default_factory=list)
    what: str = ""
    role: str = "test"
    figure: str = ""
    cpus: str = ""


@dataclass
class Context:
    cells: list[CellResults]
    env: dict | None = None
    noisy_cov: float = DEFAULT_NOISY_COV
    client_bound: float = CLIENT_BOUND


# ---- what a cell is -----------------------------------------------------------

def client_utilization(c: CellResults) -> float | None:
    return stats.median(c.values("client_cpu_utilization"))


def is_client_bound(c: CellResults, ctx: Context) -> bool:
    u = client_utilization(c)
    return u is not None and u > ctx.client_bound


def _cpu_list(spec: Any) -> tuple[int, ...] | None:
    """The CPUs of a list such as "0-1"; None when unparseable or empty."""
    try:
        return cpulist.parse(spec) or None
    except ValueError:
        return None


def env_cpus(env: dict | None) -> tuple[int, ...] | None:
    """The CPUs the run inherited: env.json's affinity, a list of CPUs or
    "not visible" (schemas/env.schema.json)."""
    aff = (env or {}).get("affinity")
    return tuple(sorted(aff)) if isinstance(aff, list) and aff else None


def env_cpu_count(env: dict | None) -> int | None:
    cpus = env_cpus(env)
    return len(cpus) if cpus else None


def cell_cpus(c: CellResults, ctx: Context) -> tuple[int, ...] | None:
    """The CPU set a cell ran on: its cpus parameter, else what the run had."""
    return _cpu_list(c.params.get("cpus")) or env_cpus(ctx.env)


def cpus_label(cpus: tuple[int, ...] | None) -> str:
    return cpulist.label(cpus or ()) or "unknown"


# ---- selecting cells --------------------------------------------------------

def _same(a: Any, b: Any) -> bool:
    return str(a).lower() == str(b).lower()


def matches(c: CellResults, where: dict | None, exclude: dict | None) -> bool:
    if where and not all(k in c.params and _same(c.params[k], v) for k, v in where.items()):
        return False
    if exclude and any(k in c.params and _same(c.params[k], v) for k, v in exclude.items()):
        return False
    return True


def _unjudgeable(c: CellResults, ctx: Context, where: dict | None) -> str | None:
    """Why a cell may not feed a verdict (a knob set, traced, client-bound)."""
    knobs = [k for k in KNOB_DEFAULTS if k not in (where or {}) and not _same(
        c.params.get(k, KNOB_DEFAULTS[k]), KNOB_DEFAULTS[k])]
    if knobs:
        return f"kernel knobs set: {','.join(knobs)}"
    if c.traced:
        return f"traced: {','.join(c.probes)}"
    if is_client_bound(c, ctx):
        return f"client-bound: client CPU {client_utilization(c):.0%}"
    return None


def select(ctx: Context, task: str, model: str | None, where: dict | None,
           exclude: dict | None, left_out: list[str]) -> list[CellResults]:
    """The cells that may feed a verdict; the others are named in left_out."""
    out = []
    for c in ctx.cells:
        if c.task != task or model not in (None, c.model) or not matches(c, where, exclude):
            continue
        why = _unjudgeable(c, ctx, where)
        if why:
            left_out.append(f"{c.id} ({why})")
        else:
            out.append(c)
    return out


def missing_reason(ctx: Context, task: str, model: str | None,
                   where: dict | None = None, left_out: list[str] | None = None) -> str:
    """Why there is nothing to judge: the cells' own skip reasons if any."""
    label = f"{task}/{model}" if model else task
    if where:
        label += " with " + ",".join(f"{k}={v}" for k, v in where.items())
    if left_out:
        return f"{label}: only cells that cannot be judged: {'; '.join(left_out[:3])}"
    tried = [c for c in ctx.cells if c.task == task
             and (model is None or c.model == model)]
    reasons = list(dict.fromkeys(r for c in tried for r in c.reasons()))
    if reasons:
        return f"{label}: no successful run ({'; '.join(reasons[:3])})"
    if tried and where:
        return f"no {label} cell in this run (the matching experiment is missing)"
    return f"no {label} cell in this run (the experiment is missing)"


def cell_row(c: CellResults, metric: str, ctx: Context, label: str | None = None) -> dict:
    vals = c.values(metric)
    s = stats.summarize(vals)
    return {
        "label": label or c.id, "cell": c.id, "metric": metric,
        "median": s.median, "lo": s.ci_lo, "hi": s.ci_hi, "confidence": s.ci_confidence,
        "cov": s.cov, "n": s.n, "repetitions": sum(c.statuses.values()),
        "statuses": c.statuses, "cpus": cpus_label(cell_cpus(c, ctx)),
        "noisy": s.cov is not None and s.cov > ctx.noisy_cov,
    }


def _varying(cells: list[CellResults], ignore=()) -> list[str]:
    """The parameters whose values differ between cells: what labels their rows."""
    return [k for k in dict.fromkeys(k for c in cells for k in c.id_params)
            if k not in ignore and len({str(c.id_params.get(k)) for c in cells}) > 1]


def _params_label(params: dict, keys=None) -> str:
    items = [(k, v) for k, v in params.items() if keys is None or k in keys]
    return ",".join(f"{k}={v}" for k, v in items) or "default"


# ---- deciding ----------------------------------------------------------------

def thresholds(part: dict) -> tuple[float, float, bool]:
    """(support, refute, above): the claim is that the figure is above
    (supported_above/refuted_below) or below (supported_below/refuted_above)."""
    if "supported_above" in part:
        sup = float(part["supported_above"])
        return sup, float(part.get("refuted_below", sup)), True
    sup = float(part["supported_below"])
    return sup, float(part.get("refuted_above", sup)), False


def decide(lo: float, hi: float, sup: float, ref: float, above: bool) -> tuple[str, str]:
    """Supported only when the interval clears the support threshold,
    refuted only when it clears the refute threshold (a tie at the refute
    threshold refutes: "no more than"), else inconclusive."""
    iv, side = fmt.ci(lo, hi), "above" if above else "below"
    if (lo > sup) if above else (hi < sup):
        return SUPPORTED, f"interval {iv} {side} {sup:g}"
    if (hi <= ref) if above else (lo >= ref):
        return REFUTED, f"interval {iv} not {side} {ref:g}"
    return INCONCLUSIVE, f"interval {iv} straddles {sup:g}" + (f"..{ref:g}" if ref != sup else "")


def too_few(*ns: int) -> str:
    if min(ns) < MIN_N:
        return f"too few runs (n={'/'.join(str(n) for n in ns)}; needs {MIN_N} on each side)"
    return ""


def combine(results: list[Result]) -> Result:
    """Rows or parts -> one verdict. Supported beside refuted: nuanced,
    naming where each holds. Decided results that agree: that verdict
    (inconclusive ones are named). Nothing decided: inconclusive, or not
    tested here when nothing could be evaluated. One result stays as it is."""
    if len(results) == 1:
        return results[0]
    rows = [r for res in results for r in res.rows]
    kinds = {r.verdict for r in results}
    decided = [r for r in results if r.verdict in (SUPPORTED, REFUTED, NUANCED)]
    undecided = [r for r in results if r not in decided]

    def say(rs: list[Result]) -> str:
        return "; ".join(f"{r.what + ': ' if r.what else ''}{r.verdict}"
                         + (f" ({r.why})" if r.why else "") for r in rs)
    if not decided:
        v = INCONCLUSIVE if INCONCLUSIVE in kinds else UNTESTABLE
        return Result(v, say(results), rows)
    dk = {r.verdict for r in decided}
    v = dk.pop() if len(dk) == 1 else NUANCED
    why = say(decided) if v == NUANCED or len(decided) > 1 else decided[0].why
    if v != NUANCED and len(decided) == 1 and decided[0].what and len(results) > 1:
        why = f"{decided[0].what}: {why}"
    if undecided:
        why += "; not decided: " + say(undecided)
    return Result(v, why, rows)


# ---- rules -----------------------------------------------------------------

def rule_untestable(part: dict, ctx: Context) -> Result:
    return Result(UNTESTABLE, part.get("reason", "no experiment measures this"))


def rule_model_ratio(part: dict, ctx: Context) -> Result:
    task, metric = part["task"], part["metric"]
    num, den = part["num"], part["den"]
    where, exclude = part.get("where"), part.get("exclude")
    ignore = set(part.get("ignore", [])) | {"cpus"}
    sup, ref, above = thresholds(part)
    left: list[str] = []
    # num_where/den_where: one side's own condition, e.g. the same model with
    # and without a kernel knob (the knob's key then goes in `ignore`).
    nwhere = {**(where or {}), **part.get("num_where", {})} or None
    dwhere = {**(where or {}), **part.get("den_where", {})} or None
    ncells = [c for c in select(ctx, task, num, nwhere, exclude, left) if c.values(metric)]
    dcells = [c for c in select(ctx, task, den, dwhere, exclude, left) if c.values(metric)]
    if not ncells:
        return Result(UNTESTABLE, missing_reason(ctx, task, num, nwhere, left))
    if not dcells:
        return Result(UNTESTABLE, missing_reason(ctx, task, den, dwhere, left))

    def key(c: CellResults) -> tuple:
        return tuple(sorted((k, str(v)) for k, v in c.id_params.items() if k not in ignore))

    split = part.get("split_by", [])
    shown = _varying(ncells, ignore)
    groups: dict[str, list[Result]] = {}
    rows, refused = [], []
    for nc in ncells:
        ncpu = cell_cpus(nc, ctx)
        for dc in (dc for dc in dcells if key(dc) == key(nc)):
            dcpu = cell_cpus(dc, ctx)
            plabel = _params_label(nc.id_params, shown or split)
            if ncpu != dcpu or ncpu is None:
                refused.append(f"{plabel}: {num} on CPUs {cpus_label(ncpu)}, "
                               f"{den} on {cpus_label(dcpu)}")
                continue
            rc = stats.ratio_ci(dc.values(metric), nc.values(metric))
            if rc is None:
                continue
            nrow, drow = cell_row(nc, metric, ctx), cell_row(dc, metric, ctx)
            few = too_few(nrow["n"], drow["n"])
            v, why = (INCONCLUSIVE, few) if few else decide(rc.lo, rc.hi, sup, ref, above)
            rows.append({"label": f"{num}/{den} {plabel}", "kind": "ratio",
                         "metric": metric, "ratio": rc.value, "lo": rc.lo, "hi": rc.hi,
                         "confidence": rc.confidence, "cpus": cpus_label(ncpu), "verdict": v,
                         "noisy": nrow["noisy"] or drow["noisy"], "cells": [nrow, drow]})
            gkey = _params_label(nc.id_params, split) if split else ""
            groups.setdefault(gkey, []).append(Result(v, why, what=plabel))
    if not rows:
        return Result(UNTESTABLE, "CPU sets differ, not compared: " + "; ".join(refused)
                      if refused else f"no {task} cells of {num} and {den} with the same "
                      "parameters and successful runs", rows)
    subs = [replace(combine(rs), what=g) for g, rs in sorted(groups.items())]
    res = _combined(subs, rows, left, "; refused (CPU sets differ): " + "; ".join(refused)
                    if refused else "")
    head = _headline(rows)
    res.figure = (f"{num}/{den} {metric} "
                  f"{fmt.estimate(head['ratio'], head['lo'], head['hi'], head['confidence'])}")
    if len(rows) > 1:
        res.figure += f" ({head['label'].split(' ', 1)[1]}; {len(rows)} pairs)"
    return res


def _combined(subs: list[Result], rows: list[dict], left: list[str], refused: str = "") -> Result:
    """A rule's one result from its sub-results: every row, the CPU sets
    they ran on, and the cells it could not judge (traced, client-bound,
    knobs) named."""
    res = combine(subs)
    res.rows = rows
    res.why += refused
    if left:
        res.why += "; left out: " + "; ".join(dict.fromkeys(left))
    res.cpus = ", ".join(sorted({r["cpus"] for r in rows}))
    return res


def _headline(rows: list[dict]) -> dict:
    """The row a one-line summary shows: the first decided one, else the first."""
    return next((r for r in rows if r.get("verdict") in (SUPPORTED, REFUTED)), rows[0])


def rule_speedup(part: dict, ctx: Context) -> Result:
    task = part.get("task", "compute")
    metric = part.get("metric", "units_per_s")
    param = part.get("param", "workers")
    model, expect = part["model"], part["expect"]
    left: list[str] = []
    cells = [c for c in select(ctx, task, model, part.get("where"), part.get("exclude"), left)
             if c.params.get(param) is not None and c.values(metric)]
    if not cells:
        return Result(UNTESTABLE, missing_reason(ctx, task, model, part.get("where"), left))
    by_cpus: dict[tuple, list[CellResults]] = {}
    for c in cells:
        by_cpus.setdefault(cell_cpus(c, ctx) or (), []).append(c)
    subs, rows = [], []
    for cpus, group in sorted(by_cpus.items()):
        base = [c for c in group if _same(c.params.get(param), 1)]
        if not base:
            continue
        bvals = base[0].values(metric)
        for c in sorted(group, key=lambda c: float(c.params[param])):
            w = float(c.params[param])
            if w <= 1:
                continue
            rc = stats.ratio_ci(bvals, c.values(metric))
            if rc is None:
                continue
            if expect == "scales" and not cpus:
                v, why = UNTESTABLE, "CPU set unknown (env.json has no affinity)"
            elif expect == "scales" and min(w, len(cpus)) < 2:
                v, why = UNTESTABLE, f"only {len(cpus)} CPU: no speedup can show"
            elif expect == "scales":
                target = part.get("efficiency", 0.7) * min(w, len(cpus))
                v, why = decide(rc.lo, rc.hi, target, target, True)
            elif expect == "flat":
                flat = part.get("flat_max", 1.2)
                v, why = decide(rc.lo, rc.hi, flat, flat, False)
            else:
                raise ValueError(f"speedup rule: unknown expect {expect!r}")
            few = too_few(len(bvals), len(c.values(metric)))
            if few and v in (SUPPORTED, REFUTED):
                v, why = INCONCLUSIVE, few
            row = cell_row(c, metric, ctx, label=f"{model} {param}={c.params[param]}")
            row.update({"kind": "speedup", "workers": c.params[param],
                        "ratio": rc.value, "lo": rc.lo, "hi": rc.hi, "confidence": rc.confidence,
                        "cpus": cpus_label(cpus), "verdict": v})
            rows.append(row)
            subs.append(Result(v, why, what=f"{param}={c.params[param]} on CPUs "
                               f"{cpus_label(cpus)}"))
    if not rows:
        return Result(UNTESTABLE, f"{task}/{model}: no {param}=1 and {param}>1 pair "
                      "on the same CPUs", rows)
    # The most workers on each CPU set decides: fewer workers than CPUs
    # cannot show the claim's full speedup.
    last = {row["cpus"]: i for i, row in enumerate(rows)}
    res = _combined([subs[i] for i in last.values()], rows, left)
    top = rows[next(iter(last.values()))]
    res.figure = (f"{model} speedup at {param}={top['workers']} "
                  f"{fmt.estimate(top['ratio'], top['lo'], top['hi'], top['confidence'])}")
    return res


def rule_trend(part: dict, ctx: Context) -> Result:
    """One slope per sweep: cells that differ only in `param` (and run on
    the same CPUs) form a sweep; sweeps are judged apart and combined."""
    task, model, metric, param = part["task"], part["model"], part["metric"], part["param"]
    left: list[str] = []
    cells = [c for c in select(ctx, task, model, part.get("where"), part.get("exclude"), left)
             if c.params.get(param) is not None and c.values(metric)]
    sweeps: dict[tuple, list[CellResults]] = {}
    for c in cells:
        key = tuple(sorted((k, str(v)) for k, v in c.id_params.items() if k != param))
        sweeps.setdefault(key + (("cpus", cpus_label(cell_cpus(c, ctx))),), []).append(c)
    sweeps = {k: v for k, v in sweeps.items() if len({c.params[param] for c in v}) >= 2}
    if not sweeps:
        return Result(UNTESTABLE, missing_reason(ctx, task, model, part.get("where"), left)
                      if not cells else f"{task}/{model}: {metric} measured at "
                      f"fewer than 2 values of {param}")
    varying = {k for k, _ in next(iter(sweeps))
               if len({dict(key).get(k) for key in sweeps}) > 1}
    subs = [replace(_one_trend(part, ctx, sorted(group, key=lambda c: float(c.params[param]))),
                    what=",".join(f"{k}={v}" for k, v in key if k in varying))
            for key, group in sorted(sweeps.items())]
    res = _combined(subs, [r for sub in subs for r in sub.rows], left)
    res.figure = subs[0].figure
    return res


def _one_trend(part: dict, ctx: Context, cells: list[CellResults]) -> Result:
    model, metric, param = part["model"], part["metric"], part["param"]
    rows = [cell_row(c, metric, ctx, label=f"{model} {param}={c.params[param]}")
            for c in cells]
    for r, c in zip(rows, cells):
        r.update({"kind": "trend", "x": c.params[param]})
    points = [(float(c.params[param]), v) for c in cells for v in c.values(metric)]
    iv = stats.loglog_slope_ci(points)
    if iv is None:
        return Result(UNTESTABLE, f"{metric} not positive at 2 or more values of {param}", rows)
    bound = float(part.get("slope", 0.3))
    fig = (f"log-log slope of {metric} on {param} "
           + fmt.estimate(iv.value, iv.lo, iv.hi, iv.confidence))
    few = too_few(*[r["n"] for r in rows])
    if few:
        return Result(INCONCLUSIVE, few, rows, figure=fig)
    if part["expect"] == "increasing":
        v, why = decide(iv.lo, iv.hi, bound, bound, True)
    elif part["expect"] == "flat":
        if -bound < iv.lo and iv.hi < bound:
            v, why = SUPPORTED, f"slope interval within +-{bound:g}"
        elif iv.lo >= bound or iv.hi <= -bound:
            v, why = REFUTED, f"slope interval beyond +-{bound:g}"
        else:
            v, why = INCONCLUSIVE, f"slope interval {fmt.ci(iv.lo, iv.hi)} reaches +-{bound:g}"
    else:
        raise ValueError(f"trend rule: unknown expect {part['expect']!r}")
    return Result(v, f"{fig}: {why} ({len(points)} runs at {len(rows)} values)", rows,
                  figure=fig)


def rule_level(part: dict, ctx: Context) -> Result:
    """Each matching cell's median of a metric against a threshold, with
    the median's order-statistic interval; cells differing in split_by
    parameters may disagree (nuanced)."""
    task, metric, model = part["task"], part["metric"], part.get("model")
    sup, ref, above = thresholds(part)
    left: list[str] = []
    found = select(ctx, task, model, part.get("where"), part.get("exclude"), left)
    cells = [c for c in found if c.values(metric)]
    if not cells:
        return Result(UNTESTABLE, f"{metric} not in the records of {found[0].id}" if found
                      else missing_reason(ctx, task, model, part.get("where"), left))
    rows, subs = [], []
    shown = _varying(cells)
    for c in cells:
        label = c.model + (f" {_params_label(c.id_params, shown)}" if shown else "")
        row = cell_row(c, metric, ctx, label=label)
        few = too_few(row["n"])
        v, why = (INCONCLUSIVE, few) if few else decide(row["lo"], row["hi"], sup, ref, above)
        row.update({"kind": "level", "verdict": v})
        rows.append(row)
        subs.append(Result(v, why, what=f"{c.model} on CPUs {row['cpus']}"))
    res = _combined(subs, rows, left)
    head = _headline(rows)
    res.figure = (f"{head['label']}: median {part.get('name', metric)} "
                  f"{fmt.estimate(head['median'], head['lo'], head['hi'], head['confidence'])}")
    return res


def rule_share_difference(part: dict, ctx: Context) -> Result:
    """Shares of runs with a yes/no outcome (deadlocked), num minus den,
    cells paired by their parameters as run (the same CPUs above all);
    harness/analyse/shares.py decides each pair with Newcombe's interval."""
    task, metric, num, den = part["task"], part["metric"], part["num"], part["den"]
    where, exclude = part.get("where"), part.get("exclude")
    left: list[str] = []
    ncells = [c for c in select(ctx, task, num, where, exclude, left) if c.values(metric)]
    dcells = [c for c in select(ctx, task, den, where, exclude, left) if c.values(metric)]
    if not ncells or not dcells:
        return Result(UNTESTABLE, missing_reason(ctx, task, num if not ncells else den,
                                                 where, left))
    # Paired by the parameters the config set (a model's own, such as
    # coro_epoll, are in the records of that model only) and the CPU set.

    def key(c: CellResults) -> tuple:
        return tuple(sorted((k, str(v)) for k, v in c.id_params.items() if k != "cpus")) + (
            ("cpus", cpus_label(cell_cpus(c, ctx))),)

    keys = sorted({key(c) for c in ncells} & {key(c) for c in dcells})
    varying = {k for k, _ in keys[0]} if keys else set()
    varying = {k for k in varying if len({dict(kk).get(k) for kk in keys}) > 1}
    pairs = [(",".join(f"{n}={v}" for n, v in k if n in varying) or "all",
              [c for c in ncells if key(c) == k], [c for c in dcells if key(c) == k])
             for k in keys]
    if not pairs:
        return Result(UNTESTABLE, f"no {task} cells of {num} and {den} with the same "
                      "parameters")
    out = shares.rule_share_difference(part, pairs)
    rows = out["rows"]
    cpus_of = {label: cpus_label(cell_cpus(n[0], ctx)) for label, n, _ in pairs}
    for r in rows:
        r["cpus"] = cpus_of.get(r["label"].split(":")[0], "")
    head = _headline([r for r in rows if r["kind"] == "difference"])
    fig = (f"{num} - {den} share of runs {metric} " + fmt.estimate(
        head["difference"], head["lo"], head["hi"], head["confidence"], fmt.signed)
        + f" ({head['label'].split(':')[0]})" if head["lo"] is not None else "")
    return Result(out["verdict"], out["why"], rows, figure=fig,
                  cpus=", ".join(sorted(set(cpus_of.values()))))


OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
       "==": operator.eq, "!=": operator.ne}
STATS = {"max": max, "min": min, "median": stats.median}


def rule_checks(part: dict, ctx: Context) -> Result:
    """Plain comparisons over every run: for controls only (a comparison
    without an interval cannot be refuted symmetrically)."""
    if part.get("role") != "control":
        raise ValueError("the checks rule judges controls only (role = \"control\")")
    rows, failed, missing = [], [], []
    for chk in part["checks"]:
        task = chk.get("task", part.get("task"))
        left: list[str] = []
        cells = select(ctx, task, chk.get("model"), chk.get("where"), chk.get("exclude"), left)
        vals = [v for c in cells for v in c.values(chk["metric"])]
        label = chk.get("says") or f"{chk.get('model')} {chk['metric']}"
        if not vals:
            missing.append(missing_reason(ctx, task, chk.get("model"), chk.get("where"), left))
            continue
        stat = chk.get("stat", "median")
        got = STATS[stat](vals)
        ok = OPS[chk["op"]](got, chk["value"])
        rows.append({"label": label, "kind": "check", "metric": chk["metric"],
                     "stat": stat, "value": got, "op": chk["op"],
                     "threshold": chk["value"], "holds": ok, "n": len(vals),
                     "cpus": ", ".join(sorted({cpus_label(cell_cpus(c, ctx)) for c in cells})),
                     "cells": [cell_row(c, chk["metric"], ctx) for c in cells]})
        if not ok:
            failed.append(f"{label}: {stat} {fmt.num(got)} (needs {chk['op']} {chk['value']})")
    cpus = ", ".join(sorted({r["cpus"] for r in rows}))
    if failed:
        return Result(REFUTED, "; ".join(failed), rows, cpus=cpus)
    if missing:
        return Result(UNTESTABLE, "; ".join(missing), rows, cpus=cpus)
    return Result(SUPPORTED, "; ".join(f"{r['label']}: {r['stat']} {fmt.num(r['value'])}"
                                       for r in rows), rows, cpus=cpus)


RULES = {
    "model_ratio": rule_model_ratio,
    "speedup": rule_speedup,
    "trend": rule_trend,
    "level": rule_level,
    "share_difference": rule_share_difference,
    "checks": rule_checks,
    "untestable": rule_untestable,
}
ROLES = ("test", "control", "nuance")


def evaluate_part(part: dict, ctx: Context) -> Result:
    rule = RULES.get(part.get("rule", ""))
    role = part.get("role", "test")
    if rule is None or role not in ROLES:
        bad = f"rule {part.get('rule')!r}" if rule is None else f"role {role!r}"
        return Result(UNTESTABLE, f"unknown {bad} in claims file", what=part.get("what", ""))
    try:
        res = rule(part, ctx)
    except (KeyError, TypeError, ValueError) as e:
        # A malformed claim must not take the whole report down.
        res = Result(UNTESTABLE, f"rule {part['rule']} could not be evaluated: "
                     f"{type(e).__name__}: {e}")
    res.what = part.get("what", "")
    res.role = role
    return res


def evaluate_claim(claim: dict, ctx: Context) -> dict:
    parts = [evaluate_part(p, ctx) for p in claim.get("part", [])]
    tests = [p for p in parts if p.role == "test"]
    if tests:
        res = combine(tests)
        # The headline figure is the deciding part's: the first test whose
        # verdict is the claim's, else the first with a figure.
        head = next((p for p in tests if p.figure and p.verdict == res.verdict),
                    next((p for p in tests if p.figure), tests[0]))
        figure, cpus = head.figure, head.cpus
    else:
        res = Result(UNTESTABLE, "every part is a control: nothing here tests the claim"
                     if parts else "the claim has no rule")
        figure, cpus = "", ""
    controls = [{"what": p.what, "setup": SETUP.get(p.verdict, "n/a"), "why": p.why}
                for p in parts if p.role == "control"]
    return {
        "id": claim["id"], "says": claim.get("says", ""),
        "experiments": claim.get("experiments", []),
        "plots": claim.get("plots", []),
        "tables": claim.get("tables", []),
        "verdict": res.verdict, "why": res.why, "figure": figure, "cpus": cpus,
        "controls": controls,
        "parts": [{"what": p.what, "role": p.role, "verdict": p.verdict,
                   "setup": SETUP.get(p.verdict, "n/a") if p.role == "control" else "",
                   "why": p.why, "figure": p.figure, "cpus": p.cpus, "rows": p.rows}
                  for p in parts],
        "noisy": any(r.get("noisy") for p in tests for r in p.rows),
    }


def evaluate(claims: list[dict], ctx: Context) -> list[dict]:
    return [evaluate_claim(c, ctx) for c in claims]


# ---- the instruments' own cost ------------------------------------------------

def instrument_costs(specs: list[dict], ctx: Context) -> list[dict]:
    """traced / bare for each traced cell whose bare twin ran the same
    parameters (as run, seed aside): what the probe did to the metric."""
    out = []
    for spec in specs:
        task, metric = spec["task"], spec["metric"]
        bare = [c for c in ctx.cells if c.task == task and not c.traced
                and c.values(metric)]
        for tc in ctx.cells:
            probes = tc.probes
            if (tc.task != task or not probes or not tc.values(metric)
                    or tc.model not in (spec.get("models") or [tc.model])):
                continue
            twin = next((b for b in bare if b.model == tc.model
                         and _as_run(b) == _as_run(tc)), None)
            row = {"what": spec.get("what", metric), "task": task, "metric": metric,
                   "model": tc.model, "probes": probes, "traced": tc.id,
                   "bare": twin.id if twin else None,
                   "cpus": cpus_label(cell_cpus(tc, ctx)), "ratio": None, "lo": None,
                   "hi": None, "confidence": None, "n": None, "note": ""}
            if twin is None:
                row["note"] = "no bare cell with the same parameters in this run"
            else:
                rc = stats.ratio_ci(twin.values(metric), tc.values(metric))
                if rc is None:
                    row["note"] = "ratio undefined"
                else:
                    row.update(ratio=rc.value, lo=rc.lo, hi=rc.hi, confidence=rc.confidence,
                               n=f"{len(tc.values(metric))}/{len(twin.values(metric))}")
            out.append(row)
    return out


def _as_run(c: CellResults) -> dict:
    return {k: str(v) for k, v in c.params.items() if k != "seed"}
