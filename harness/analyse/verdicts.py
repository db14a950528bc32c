"""Turn measurements into verdicts: the rules behind configs/claims.toml.

A claim is data (configs/claims.toml, checked by claims.py): the article's
words and parts, each naming a rule, its thresholds and its role. No verdict
is ever typed in. docs/verdicts.md states every claim's deciding test, why
its outcome is not fixed by how the models are built, its controls, and on
which machine or parameter it would come out the other way.

Roles of a part:
  test     can come out supported, refuted or inconclusive; only tests vote
  control  checks that the setup is what it claims (one CPU gives no
           speedup; a mutex loses nothing): "setup as intended" yes / no /
           n/a, shown apart, never counted as support
  nuance   a named condition (a coroutine that yields inside its window),
           reported in the claim's section, never pooled into the test

A rule turns cells into rows; each row that can decide is a decide.Vote (a
figure, its interval family, the two thresholds). decide.py settles a
claim's votes together (Holm's step-down, symmetric thresholds, the one
combination rule). Rules:

  model_ratio  num/den of a metric between cells paired by their parameters
               and CPUs (the allowed set, and how many CPUs each side really
               used where the record says): Hodges-Lehmann ratio, Moses interval
  speedup      units_per_s at N workers / at 1 worker on the same CPUs
  trend        expect "increasing": log-log slope (bootstrap); expect "flat":
               max/min of the sweep's medians (every point, Bonferroni)
  level        a cell's median against a threshold (order statistics)
  share        the share of runs with a yes/no outcome (lost any update)
               against a threshold (Clopper-Pearson)
  share_difference  num's share minus den's (Newcombe from Clopper-Pearson)
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
from dataclasses import dataclass, field
from typing import Any, Callable

from harness import cpulist
from harness import format as fmt
from harness.analyse import crossover, decide, intervals, stats
from harness.analyse.decide import (INCONCLUSIVE, MIN_N, NUANCED, REFUTED, SUPPORTED,
                                    UNTESTABLE, Vote)
from harness.records.rundir import MAX_INTERFERENCE, CellResults

VERDICTS = (SUPPORTED, REFUTED, INCONCLUSIVE, NUANCED, UNTESTABLE)
# A control's answer to "is the setup as intended?"
SETUP = {SUPPORTED: "yes", REFUTED: "no"}

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
    votes: list[Vote] = field(default_factory=list)
    notes: str = ""          # cells left out, pairs refused: said after the verdict's reason
    rule: str = ""
    decision: dict | None = None


@dataclass
class Context:
    cells: list[CellResults]
    env: dict | None = None
    noisy_cov: float = DEFAULT_NOISY_COV
    client_bound: float = CLIENT_BOUND
    family_error: float = decide.FAMILY_ERROR
    max_interference: float = MAX_INTERFERENCE   # [run] max_interference of the run


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


def _recorded(c: CellResults, key: str) -> list[str]:
    """A text field of the record's metrics over the cell's ok runs."""
    vals = [((ln.get("record") or {}).get("metrics") or {}).get(key) for ln in c.ok_lines]
    return [v for v in vals if isinstance(v, str) and v]


def cell_cpus(c: CellResults, ctx: Context) -> tuple[int, ...] | None:
    """The CPU set a cell was allowed: what its record says the process
    had (cpus_allowed), else its cpus parameter, else what the run had."""
    recorded = {_cpu_list(v) for v in _recorded(c, "cpus_allowed")} - {None}
    if len(recorded) == 1:
        return recorded.pop()
    return _cpu_list(c.params.get("cpus")) or env_cpus(ctx.env)


def cpus_used(c: CellResults) -> int | None:
    """How many CPUs the cell's tasks were seen on in a typical run (the
    record's cpus_used, median over its runs); None where the task does not
    record it."""
    counts = [len(_cpu_list(v) or ()) for v in _recorded(c, "cpus_used")]
    return round(stats.median(counts)) if counts else None


def footprint(c: CellResults, ctx: Context) -> tuple:
    """What two paired cells must share: the allowed CPUs and, where both
    record it, how many of them the tasks really ran on."""
    return cell_cpus(c, ctx), cpus_used(c)


def footprint_label(c: CellResults, ctx: Context) -> str:
    used = cpus_used(c)
    return cpus_label(cell_cpus(c, ctx)) + (f" (ran on {used})" if used else "")


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


def knobs_set(c: CellResults, where: dict | None) -> list[str]:
    """The kernel knobs a cell set that `where` does not name."""
    return [k for k in KNOB_DEFAULTS if k not in (where or {}) and not _same(
        c.params.get(k, KNOB_DEFAULTS[k]), KNOB_DEFAULTS[k])]


def _unjudgeable(c: CellResults, ctx: Context, where: dict | None) -> str | None:
    """Why a cell may not feed a verdict (a knob set, traced, client-bound)."""
    knobs = knobs_set(c, where)
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


# ---- votes --------------------------------------------------------------------

def thresholds(part: dict) -> tuple[float, float, bool]:
    """(support, refute, above): the claim is that the figure is above
    (supported_above/refuted_below) or below (supported_below/refuted_above)."""
    if "supported_above" in part:
        sup = float(part["supported_above"])
        return sup, float(part.get("refuted_below", sup)), True
    sup = float(part["supported_below"])
    return sup, float(part.get("refuted_above", sup)), False


decide_interval = decide.decide     # (lo, hi, sup, ref, above) -> (verdict, why)


def too_few(*ns: int, min_n: int = MIN_N) -> str:
    if min(ns) < min_n:
        return f"too few runs (n={'/'.join(str(n) for n in ns)}; needs {min_n} on each side)"
    return ""


def busy(cells, bound: float) -> str:
    """Why figures of these cells may not decide because their CPUs were
    busy with other work: the busiest cell whose runs' median others_share
    is above bound ([run] max_interference) by more than its resolution
    (runs too short for their ticks never withhold), else "". Cells
    without the figure (runs from before it was recorded) never withhold."""
    shares = [(share, cpus, c) for c in cells for share, cpus in [c.interference()]
              if share is not None and share - c.interference_resolution() > bound]
    if not shares:
        return ""
    share, cpus, c = max(shares, key=lambda s: s[0])
    return (f"the CPUs were busy with other work: a median {share:.0%} of CPUs {cpus} went to "
            f"other processes during the runs of {c.id} (bound {bound:.0%}, "
            "[run] max_interference); rerun on a quiet machine")


def cpu_dependent(metric: str) -> bool:
    """Whether a figure depends on having the CPUs to itself: every figure
    but memory (what a task maps and the kernel allocates for it does not
    change with what else runs)."""
    return _unit(metric) != "bytes"


def _vote(label: str, row: dict, family, part: dict, few: str = "",
          limits: tuple[float, float, bool] | None = None, fmt_value=fmt.num, *,
          cells, ctx: Context) -> Vote:
    """cells: those the row's runs come from; a row on cells whose CPUs
    were busy with other work does not decide, nor one with too few runs."""
    withheld = busy(cells, ctx.max_interference) if cpu_dependent(part.get("metric", "")) else ""
    if withheld:
        row["busy"] = withheld      # the report's first screen says why it did not decide
    few = "; ".join(x for x in (withheld, few) if x)
    sup, ref, above = limits or thresholds(part)
    iv = family(0.95) if family else None
    if iv is not None:      # shown until settle() puts the level Holm used
        row.update(value=iv.value, lo=iv.lo, hi=iv.hi, confidence=iv.confidence,
                   method=iv.method)
    row.update(threshold={"supported": sup, "refuted": ref, "above": above})
    return Vote(label, row, family, sup, ref, above, few, fmt_value,
                part=part.get("what", ""))


def _result(rows: list[dict], votes: list[Vote], left: list[str], refused: list[str] = (),
            context: str = "") -> Result:
    """A rule's result before the claim settles its votes."""
    notes = ""
    if refused:
        notes += f"; refused ({context or 'CPU sets differ'}): " + "; ".join(refused)
    if left:
        notes += "; left out: " + "; ".join(dict.fromkeys(left))
    return Result(INCONCLUSIVE, "", rows, votes=votes, notes=notes,
                  cpus=", ".join(sorted({r["cpus"] for r in rows if r.get("cpus")})))


def sides(spec: dict) -> tuple[tuple[dict | None, dict | None], tuple[dict | None, dict | None]]:
    """((where, exclude) of num, (where, exclude) of den): the common ones
    and each side's own (num_where, den_exclude ...), e.g. the same model
    with and without a kernel knob (the knob's key then goes in `ignore`)."""
    def merge(a: str, b: str) -> dict | None:
        return {**(spec.get(a) or {}), **(spec.get(b) or {})} or None
    return ((merge("where", "num_where"), merge("exclude", "num_exclude")),
            (merge("where", "den_where"), merge("exclude", "den_exclude")))


def _pairs_key(c: CellResults, ignore: set[str]) -> tuple:
    return tuple(sorted((k, str(v)) for k, v in c.id_params.items() if k not in ignore))


# ---- rules -----------------------------------------------------------------

def rule_untestable(part: dict, ctx: Context) -> Result:
    return Result(UNTESTABLE, part["reason"])


def rule_model_ratio(part: dict, ctx: Context) -> Result:
    task, metric = part["task"], part["metric"]
    num, den = part["num"], part["den"]
    ignore = set(part.get("ignore", [])) | {"cpus"}
    left: list[str] = []
    (nwhere, nexclude), (dwhere, dexclude) = sides(part)
    ncells = [c for c in select(ctx, task, num, nwhere, nexclude, left) if c.values(metric)]
    dcells = [c for c in select(ctx, task, den, dwhere, dexclude, left) if c.values(metric)]
    if not ncells:
        return Result(UNTESTABLE, missing_reason(ctx, task, num, nwhere, left))
    if not dcells:
        return Result(UNTESTABLE, missing_reason(ctx, task, den, dwhere, left))
    split = part.get("split_by", [])
    shown = [k for k in _varying(ncells) if k not in ignore or k in split] or split
    rows, votes, refused = [], [], []
    for nc in ncells:
        for dc in (d for d in dcells if _pairs_key(d, ignore) == _pairs_key(nc, ignore)):
            plabel = _params_label(nc.id_params, shown)
            if footprint(nc, ctx) != footprint(dc, ctx) or cell_cpus(nc, ctx) is None:
                refused.append(f"{plabel}: {num} on CPUs {footprint_label(nc, ctx)}, "
                               f"{den} on {footprint_label(dc, ctx)}")
                continue
            fam = intervals.ratio_family(dc.values(metric), nc.values(metric))
            if fam is None:
                continue
            nrow, drow = cell_row(nc, metric, ctx), cell_row(dc, metric, ctx)
            row = {"label": f"{num}/{den} {plabel}", "kind": "ratio",
                   "statistic": "ratio", "head": f"{num}/{den} {metric}", "where": plabel,
                   "metric": metric, "num": num, "den": den, "cpus": footprint_label(nc, ctx),
                   "noisy": nrow["noisy"] or drow["noisy"], "cells": [nrow, drow]}
            votes.append(_vote(plabel, row, fam, part, too_few(nrow["n"], drow["n"]),
                               cells=(nc, dc), ctx=ctx))
            row["ratio"] = row["value"]
            rows.append(row)
    if not rows:
        return Result(UNTESTABLE, "CPU sets differ, not compared: " + "; ".join(refused)
                      if refused else f"no {task} cells of {num} and {den} with the same "
                      "parameters and successful runs")
    return _result(rows, votes, left, refused)


def rule_speedup(part: dict, ctx: Context) -> Result:
    """units_per_s at N workers over 1 worker, per CPU set; the most workers
    on each set votes (fewer workers than CPUs cannot show the full speedup)."""
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
    rows, votes, unusable = [], [], []
    for cpus, group in sorted(by_cpus.items()):
        base = next((c for c in group if _same(c.params.get(param), 1)), None)
        more = sorted((c for c in group if float(c.params[param]) > 1),
                      key=lambda c: float(c.params[param]))
        if base is None or not more:
            continue
        if expect == "scales" and len(cpus) < 2:
            unusable.append(f"CPUs {cpus_label(cpus)}: " + (
                "CPU set unknown (env.json has no affinity)" if not cpus
                else f"only {len(cpus)} CPU: no speedup can show"))
            continue
        for c in more:
            w = float(c.params[param])
            fam = intervals.ratio_family(base.values(metric), c.values(metric))
            if fam is None:
                continue
            if expect == "scales":
                target = part.get("efficiency", 0.7) * min(w, len(cpus))
                limits = (target, target, True)
            else:
                limits = (part.get("flat_max", 1.2), part.get("flat_max", 1.2), False)
            row = cell_row(c, metric, ctx, label=f"{model} {param}={c.params[param]}")
            row.update({"kind": "speedup", "statistic": "speedup", "workers": c.params[param],
                        "head": f"{model} speedup at {param}={c.params[param]}",
                        "cpus": cpus_label(cpus)})
            vote = _vote(f"{param}={c.params[param]} on CPUs {cpus_label(cpus)}", row, fam,
                         part, too_few(len(base.values(metric)), len(c.values(metric))), limits,
                         cells=(base, c), ctx=ctx)
            row["ratio"] = row["value"]
            rows.append(row)
            if c is more[-1]:
                votes.append(vote)
            else:
                row["verdict"] = "context"
    if not votes:
        return Result(UNTESTABLE, "; ".join(unusable) or f"{task}/{model}: no {param}=1 and "
                      f"{param}>1 pair on the same CPUs", rows)
    return _result(rows, votes, left + unusable)


def rule_trend(part: dict, ctx: Context) -> Result:
    """One figure per sweep: cells that differ only in `param` (and run on
    the same CPUs) form a sweep; sweeps are judged apart."""
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
    rows, votes = [], []
    for key, group in sorted(sweeps.items()):
        group.sort(key=lambda c: float(c.params[param]))
        label = ",".join(f"{k}={v}" for k, v in key if k in varying) or "the sweep"
        points = [cell_row(c, metric, ctx, label=f"{model} {param}={c.params[param]}")
                  for c in group]
        for r, c in zip(points, group):
            r.update({"kind": "trend", "x": c.params[param]})
        few = too_few(*[r["n"] for r in points])
        if part["expect"] == "flat":
            fam = intervals.flat_family([c.values(metric) for c in group])
            flat = float(part.get("flat_max", 2.0))
            limits, stat = (flat, flat, False), f"max/min of the medians over {param}"
        else:
            fam = intervals.slope_family([(float(c.params[param]), v)
                                          for c in group for v in c.values(metric)])
            bound = float(part.get("slope", 0.3))
            limits, stat = (bound, bound, True), f"log-log slope on {param}"
        if fam is None:
            left.append(f"{label}: {metric} not positive at 2 or more values of {param}")
            continue
        row = {"label": f"{model} {label}", "kind": part["expect"], "statistic": stat,
               "head": f"{model} {metric} {stat}", "where": label,
               "metric": metric, "cpus": points[0]["cpus"], "n": sum(r["n"] for r in points),
               "noisy": any(r["noisy"] for r in points), "points": len(points)}
        votes.append(_vote(label, row, fam, part, few, limits, cells=group, ctx=ctx))
        rows += [row] + points
    if not votes:
        return Result(UNTESTABLE, "; ".join(left), rows)
    return _result(rows, votes, left)


def rule_level(part: dict, ctx: Context) -> Result:
    """Each matching cell's median of a metric against a threshold, with
    the median's order-statistic interval."""
    task, metric, model = part["task"], part["metric"], part.get("model")
    left: list[str] = []
    found = select(ctx, task, model, part.get("where"), part.get("exclude"), left)
    cells = [c for c in found if c.values(metric)]
    if not cells:
        return Result(UNTESTABLE, f"{metric} not in the records of {found[0].id}" if found
                      else missing_reason(ctx, task, model, part.get("where"), left))
    rows, votes = [], []
    shown = _varying(cells)
    for c in cells:
        plabel = c.model + (f" {_params_label(c.id_params, shown)}" if shown else "")
        row = cell_row(c, metric, ctx, label=plabel)
        row.update({"kind": "level", "statistic": f"median {part.get('name', metric)}",
                    "head": f"{plabel}: median {part.get('name', metric)}"})
        votes.append(_vote(f"{plabel} on CPUs {row['cpus']}", row,
                           intervals.median_family(c.values(metric)), part, too_few(row["n"]),
                           cells=(c,), ctx=ctx))
        row["median"] = row["value"]
        rows.append(row)
    return _result(rows, votes, left)


def _count(c: CellResults, metric: str) -> tuple[int, int]:
    return intervals.count_outcome(c.values(metric))


def rule_share(part: dict, ctx: Context) -> Result:
    """Each matching cell's share of runs with a yes/no outcome (lost any
    update) against a threshold, with the Clopper-Pearson interval."""
    task, metric, model = part["task"], part["metric"], part.get("model")
    left: list[str] = []
    cells = [c for c in select(ctx, task, model, part.get("where"), part.get("exclude"), left)
             if c.values(metric)]
    if not cells:
        return Result(UNTESTABLE, missing_reason(ctx, task, model, part.get("where"), left))
    rows, votes = [], []
    shown = _varying(cells)
    for c in cells:
        k, n = _count(c, metric)
        plabel = c.model + (f" {_params_label(c.id_params, shown)}" if shown else "")
        row = {"label": plabel, "cell": c.id, "kind": "share",
               "statistic": f"share of runs {metric}",
               "head": f"{plabel}: share of runs {metric}",
               "metric": metric, "k": k, "n": n, "share": k / n,
               "cpus": footprint_label(c, ctx), "noisy": False}
        votes.append(_vote(f"{plabel} on CPUs {row['cpus']}", row, intervals.share_family(k, n),
                           part, too_few(n, min_n=int(part.get("min_n", MIN_N))),
                           cells=(c,), ctx=ctx))
        rows.append(row)
    return _result(rows, votes, left)


def rule_share_difference(part: dict, ctx: Context) -> Result:
    """Shares of runs with a yes/no outcome, num minus den, cells paired by
    their parameters as run and their CPUs; supported when the difference
    clears `margin`, refuted when it lies wholly below it."""
    task, metric, num, den = part["task"], part["metric"], part["num"], part["den"]
    where, exclude = part.get("where"), part.get("exclude")
    ignore = set(part.get("ignore", [])) | {"cpus"}
    left: list[str] = []
    ncells = [c for c in select(ctx, task, num, where, exclude, left) if c.values(metric)]
    dcells = [c for c in select(ctx, task, den, where, exclude, left) if c.values(metric)]
    if not ncells or not dcells:
        return Result(UNTESTABLE, missing_reason(ctx, task, num if not ncells else den,
                                                 where, left))
    # Paired by the parameters the config set (a model's own, such as
    # coro_epoll, are in the records of that model only) and the CPUs.
    shown = _varying(ncells, ignore - {"cpus"}) or ["cpus"]
    margin, min_n = float(part["margin"]), int(part.get("min_n", MIN_N))
    rows, votes, refused = [], [], []
    for nc in ncells:
        for dc in (d for d in dcells if _pairs_key(d, ignore) == _pairs_key(nc, ignore)):
            plabel = _params_label({**nc.id_params, "cpus": cpus_label(cell_cpus(nc, ctx))},
                                   shown)
            if footprint(nc, ctx) != footprint(dc, ctx):
                refused.append(f"{plabel}: {num} on CPUs {footprint_label(nc, ctx)}, "
                               f"{den} on {footprint_label(dc, ctx)}")
                continue
            (k1, n1), (k2, n2) = _count(nc, metric), _count(dc, metric)
            for name, k, n in ((num, k1, n1), (den, k2, n2)):
                lo, hi = intervals.clopper_pearson(k, n)
                rows.append({"label": f"{plabel}: {name}", "kind": "share", "metric": metric,
                             "k": k, "n": n, "share": k / n, "lo": lo, "hi": hi,
                             "confidence": 0.95, "cpus": footprint_label(nc, ctx)})
            row = {"label": f"{plabel}: {num} - {den}", "kind": "difference",
                   "statistic": f"difference of shares of runs {metric}", "metric": metric,
                   "head": f"{num} - {den} share of runs {metric}", "where": plabel,
                   "margin": margin, "k_n": [[k1, n1], [k2, n2]], "num": num, "den": den,
                   "cpus": footprint_label(nc, ctx), "noisy": False}
            votes.append(_vote(plabel, row, intervals.share_difference_family(k1, n1, k2, n2),
                               part, too_few(n1, n2, min_n=min_n), (margin, margin, True),
                               fmt.signed, cells=(nc, dc), ctx=ctx))
            row["difference"] = row["value"]
            rows.append(row)
    if not votes:
        return Result(UNTESTABLE, "CPU sets differ, not compared: " + "; ".join(refused)
                      if refused else f"no {task} cells of {num} and {den} with the same "
                      "parameters")
    return _result(rows, votes, left, refused)


OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
       "==": operator.eq, "!=": operator.ne}
STATS = {"max": max, "min": min, "median": stats.median}


def rule_checks(part: dict, ctx: Context) -> Result:
    """Plain comparisons over every run: for controls only (a comparison
    without an interval cannot be refuted symmetrically)."""
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


RULES: dict[str, Callable[[dict, Context], Result]] = {
    "model_ratio": rule_model_ratio,
    "speedup": rule_speedup,
    "trend": rule_trend,
    "level": rule_level,
    "share": rule_share,
    "share_difference": rule_share_difference,
    "checks": rule_checks,
    "untestable": rule_untestable,
}
ROLES = ("test", "control", "nuance")


# ---- claims --------------------------------------------------------------------

def _figure(v: Vote) -> str:
    """"threads/coro handoff_ns 2.72 [2.66, 2.76] 97% (channel=pipe)"."""
    r = v.row
    where = r.get("where")
    return (f"{r['head']} "
            + fmt.estimate(r.get("value"), r.get("lo"), r.get("hi"), r.get("confidence"),
                           v.fmt_value)
            + (f" ({where})" if where and where not in ("default", "the sweep") else ""))


def _headline(votes: list[Vote], verdict: str | None = None) -> Vote:
    """The vote a one-line summary shows: the first with the verdict, else
    the first decided, else the first."""
    return next((v for v in votes if v.verdict == verdict), next(
        (v for v in votes if v.verdict in (SUPPORTED, REFUTED)), votes[0]))


def _finish(res: Result) -> None:
    """A part's verdict, reason and figure from its settled votes."""
    if not res.votes:
        return
    res.verdict, res.why = decide.combine(res.votes)
    res.why += res.notes
    res.figure = _figure(_headline(res.votes, res.verdict))
    if len(res.votes) > 1:
        res.figure += f" ({len(res.votes)} rows)"


def evaluate_part(part: dict, ctx: Context) -> Result:
    res = RULES[part["rule"]](part, ctx)
    res.what, res.role, res.rule = part.get("what", ""), part.get("role", "test"), part["rule"]
    return res


def _decision(part: Result, head: Vote, xover: dict | None) -> dict:
    """The deciding figure as fields the report words (report.json)."""
    r = head.row
    sides = [c for c in r.get("cells", [])]
    metric = r.get("metric", "")
    return {"part": part.what, "rule": part.rule, "metric": metric, "unit": _unit(metric),
            "statistic": r.get("statistic", ""), "label": r.get("label", ""),
            "sides": [{"model": m, "median": c.get("median"), "lo": c.get("lo"),
                       "hi": c.get("hi"), "confidence": c.get("confidence"), "n": c.get("n"),
                       "cpus": c.get("cpus"), "cov": c.get("cov")}
                      for m, c in zip((r.get("num"), r.get("den")), sides)],
            "value": r.get("value"), "lo": r.get("lo"), "hi": r.get("hi"),
            "confidence": r.get("confidence"), "method": r.get("method"),
            "threshold": r.get("threshold"), "k_n": r.get("k_n"),
            "direction": _direction(r), "verdict": head.verdict, "p": head.p,
            "noisy": bool(r.get("noisy")), "cpus": r.get("cpus", ""), "crossover": xover}


def _unit(metric: str) -> str:
    """The unit a metric's name carries (its first term's: user+kernel
    bytes per task are bytes); "" for a product or quotient of names."""
    if any(op in metric for op in "*/"):
        return ""
    name = metric.split("+")[0].split(".")[0]
    for part, unit in (("_per_s", "per s"), ("_ns", "ns"), ("_us", "us"), ("_bytes", "bytes")):
        if part in name:
            return unit
    return ""


def _direction(r: dict) -> str | None:
    """num against den on the point estimate: "higher", "lower" or "same"."""
    v = r.get("value")
    if v is None or r.get("kind") not in ("ratio", "speedup", "difference"):
        return None
    one = 0.0 if r["kind"] == "difference" else 1.0
    return "same" if v == one else ("higher" if v > one else "lower")


def evaluate_claim(claim: dict, ctx: Context) -> dict:
    parts = [evaluate_part(p, ctx) for p in claim.get("part", [])]
    tests = [p for p in parts if p.role == "test"]
    votes = [v for p in tests for v in p.votes]
    decide.settle(votes, ctx.family_error)
    for p in parts:
        # a control or nuance never votes: each row is judged on its own
        for v in p.votes if p.role != "test" else ():
            decide.settle([v], ctx.family_error)
        _finish(p)
    xover = crossover_of(claim.get("crossover"), ctx)
    figure, cpus, decision = "", "", None
    if votes:
        verdict, why = decide.combine(votes, with_part=len(tests) > 1)
        untested = [p for p in tests if not p.votes]
        if untested:
            why += "; not evaluated: " + "; ".join(f"{p.what}: {p.why}" for p in untested)
        head = _headline(votes, verdict)
        hpart = next(p for p in tests if head in p.votes)
        figure, cpus = _figure(head), hpart.cpus
        decision = _decision(hpart, head, xover)
    elif tests:
        verdict = UNTESTABLE
        why = "; ".join(f"{p.what}: {p.why}" for p in tests)
    else:
        verdict = UNTESTABLE
        why = ("every part is a control: nothing here tests the claim" if parts
               else "the claim has no rule")
    controls = [{"what": p.what, "setup": SETUP.get(p.verdict, "n/a"), "why": p.why}
                for p in parts if p.role == "control"]
    return {
        "id": claim["id"], "says": claim.get("says", ""),
        "experiments": claim.get("experiments", []),
        "plots": claim.get("plots", []),
        "tables": claim.get("tables", []),
        "verdict": verdict, "why": why, "figure": figure, "cpus": cpus,
        "controls": controls,
        "parts": [{"what": p.what, "role": p.role, "rule": p.rule, "verdict": p.verdict,
                   "setup": SETUP.get(p.verdict, "n/a") if p.role == "control" else "",
                   "why": p.why, "figure": p.figure, "cpus": p.cpus, "rows": p.rows,
                   "not_fixed_by": spec.get("not_fixed_by", "")}
                  for p, spec in zip(parts, claim.get("part", []))],
        "combination": {"rule": "holm", "family_error": ctx.family_error, "rows": len(votes),
                        "text": decide.family_text(len(votes), ctx.family_error)},
        "decision": decision,
        "crossover": xover,
        # noisy only when the deciding figure's own cells are
        "noisy": bool(decision and decision["noisy"]),
    }


def evaluate(claims: list[dict], ctx: Context) -> list[dict]:
    return [evaluate_claim(c, ctx) for c in claims]


# ---- where a claim flips ----------------------------------------------------------

def crossover_of(spec: dict | None, ctx: Context) -> dict | None:
    """The claim's crossover along spec["param"] (crossover.py finds it):
    per sweep (cells differing only in param), the figure at each value of
    the parameter, num and den cells paired as model_ratio pairs them."""
    if not spec:
        return None
    task, metric, param = spec["task"], spec["metric"], spec["param"]
    kind = spec.get("kind", "ratio")
    left: list[str] = []
    (nwhere, nexclude), (dwhere, dexclude) = sides(spec)
    ignore = set(spec.get("ignore", [])) | {"cpus", param}
    ncells = [c for c in select(ctx, task, spec["num"], nwhere, nexclude, left)
              if c.values(metric) and c.params.get(param) is not None]
    dcells = ([c for c in select(ctx, task, spec["den"], dwhere, dexclude, left)
               if c.values(metric)] if kind == "ratio" else [])
    # the den side is paired at the same value of param unless param is one
    # the spec lets differ (one threads cell against a coroutine sweep)
    same_x = param not in spec.get("ignore", [])
    sweeps: dict[tuple, list] = {}
    for nc in ncells:
        if kind == "ratio":
            dc = next((d for d in dcells if _pairs_key(d, ignore) == _pairs_key(nc, ignore)
                       and (not same_x or _same(d.params.get(param), nc.params.get(param)))
                       and footprint(d, ctx) == footprint(nc, ctx)), None)
            fam = dc and intervals.ratio_family(dc.values(metric), nc.values(metric))
        elif kind == "share":
            fam = intervals.share_family(*_count(nc, metric))
        else:
            fam = intervals.median_family(nc.values(metric))
        if fam:
            key = _pairs_key(nc, {"cpus", param}) + (("cpus", cpus_label(cell_cpus(nc, ctx))),)
            sweeps.setdefault(key, []).append((float(nc.params[param]), fam))
    found = []
    for key, points in sorted(sweeps.items()):
        if len(points) < 2:
            continue
        res = crossover.find(sorted(points, key=lambda p: p[0]), float(spec.get("at", 1.0)))
        varying = [k for k, _ in key if len({dict(kk).get(k) for kk in sweeps}) > 1]
        res.update(sweep=",".join(f"{k}={v}" for k, v in key if k in varying) or "all")
        found.append(res)
    return crossover.summary(spec, found)


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
