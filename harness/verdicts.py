"""Turn measurements into verdicts: the rules behind configs/claims.toml.

A claim is data (configs/claims.toml): the article's words and one or more
parts, each naming a rule and its thresholds. This module only evaluates:
no verdict is ever typed in. A part's result is one of

    supported | refuted | nuanced (with the condition) | not testable (reason)

and the claim's verdict combines its parts (combine()). Rules:

  model_ratio  median(metric | num model) / median(metric | den model) for
               cells with the same swept parameters; thresholds on the ratio
               and its 95% bootstrap interval; split_by names parameters
               whose values may give different verdicts (then: nuanced).
  speedup      units_per_s at N workers / at 1 worker; "scales" expects
               about min(N, CPUs) (efficiency), "flat" expects about 1.
  trend        a metric against a parameter (hog_yield_us); "increasing"
               or "flat", judged on the medians' fold change and order.
  checks       plain comparisons (lost_updates > 0 ...), each a "support"
               or a "caveat" (true caveat: nuanced).
  untestable   the reason why nothing here can measure it.

USDT-traced cells never enter a timing rule (rundir.py explains why).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Any

from harness import summary
from harness.rundir import Cell

SUPPORTED = "supported"
REFUTED = "refuted"
NUANCED = "nuanced"
UNTESTABLE = "not testable here"
VERDICTS = (SUPPORTED, REFUTED, NUANCED, UNTESTABLE)

DEFAULT_NOISY_COV = 0.10


@dataclass
class Result:
    verdict: str
    why: str
    rows: list[dict] = field(default_factory=list)
    what: str = ""


@dataclass
class Context:
    cells: list[Cell]
    env: dict | None = None
    noisy_cov: float = DEFAULT_NOISY_COV


# ---- selecting cells --------------------------------------------------------

def _same(a: Any, b: Any) -> bool:
    return str(a).lower() == str(b).lower()


def select(ctx: Context, task: str, model: str | None = None,
           where: dict | None = None, exclude: dict | None = None) -> list[Cell]:
    out = []
    for c in ctx.cells:
        if c.task != task or c.traced_usdt:
            continue
        if model is not None and c.model != model:
            continue
        if where and not all(k in c.params and _same(c.params[k], v)
                             for k, v in where.items()):
            continue
        if exclude and any(k in c.params and _same(c.params[k], v)
                           for k, v in exclude.items()):
            continue
        out.append(c)
    return out


def missing_reason(ctx: Context, task: str, model: str | None,
                   where: dict | None = None) -> str:
    """Why there is nothing to judge: the cells' own skip reasons if any."""
    label = f"{task}/{model}" if model else task
    if where:
        label += " with " + ",".join(f"{k}={v}" for k, v in where.items())
    tried = [c for c in ctx.cells if c.task == task
             and (model is None or c.model == model)]
    reasons = []
    for c in tried:
        reasons += [r for r in c.reasons() if r not in reasons]
    if reasons:
        return f"{label}: no successful run ({'; '.join(reasons[:3])})"
    if tried and where:
        return f"no {label} cell in this run (the matching experiment is missing)"
    return f"no {label} cell in this run (the experiment is missing)"


def cell_row(c: Cell, metric: str, ctx: Context, label: str | None = None) -> dict:
    s = summary.summarize(c.values(metric))
    st = c.statuses
    return {
        "label": label or c.id, "cell": c.id, "metric": metric,
        "median": s.median, "lo": s.ci_lo, "hi": s.ci_hi, "cov": s.cov,
        "n": s.n, "repetitions": sum(st.values()), "statuses": st,
        "noisy": s.cov is not None and s.cov > ctx.noisy_cov,
    }


def _fmt(x: float | None) -> str:
    if x is None:
        return "n/a"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.3g}"


def _params_label(params: dict, keys=None) -> str:
    items = [(k, v) for k, v in params.items() if keys is None or k in keys]
    return ",".join(f"{k}={v}" for k, v in items) or "default"


# ---- combining -------------------------------------------------------------

def combine(results: list[Result], split_label: str = "") -> Result:
    """Parts -> one verdict. All agree: that verdict. A mix: nuanced, with
    the condition naming what holds where. Untestable parts do not vote, but
    the reason is kept."""
    rows = [r for res in results for r in res.rows]
    testable = [r for r in results if r.verdict != UNTESTABLE]
    untested = [r for r in results if r.verdict == UNTESTABLE]
    note = ""
    if untested:
        note = " (not tested: " + "; ".join(
            f"{r.what + ': ' if r.what else ''}{r.why}" for r in untested) + ")"
    if not testable:
        return Result(UNTESTABLE, "; ".join(r.why for r in untested), rows)
    kinds = {r.verdict for r in testable}
    if len(kinds) == 1 and kinds != {NUANCED}:
        v = kinds.pop()
        why = "; ".join(f"{r.what + ': ' if r.what else ''}{r.why}"
                        for r in testable if r.why)
        return Result(v, why + note, rows)
    parts = []
    for r in testable:
        head = f"{r.what}: " if r.what else ""
        parts.append(f"{head}{r.verdict}" + (f" ({r.why})" if r.why else ""))
    return Result(NUANCED, "; ".join(parts) + note, rows)


# ---- rules -----------------------------------------------------------------

def rule_untestable(part: dict, ctx: Context) -> Result:
    return Result(UNTESTABLE, part.get("reason", "no experiment measures this"))


def _ratio_verdict(r: float, lo: float, hi: float, sup: float, ref: float,
                   fewer_is_claim: bool) -> tuple[str, str]:
    """Judge r = num/den against thresholds. fewer_is_claim: the claim is
    that num is smaller (r < sup supports, r >= ref refutes); otherwise the
    claim is that num is larger (r > sup supports, r <= ref refutes)."""
    if fewer_is_claim:
        if r < sup and hi < ref:
            return SUPPORTED, ""
        if r >= ref:
            return REFUTED, ""
        if hi >= ref:
            return NUANCED, "difference not significant: interval reaches 1"
        return NUANCED, f"smaller difference than claimed (threshold {sup:g})"
    if r > sup and lo > ref:
        return SUPPORTED, ""
    if r <= ref:
        return REFUTED, ""
    if lo <= ref:
        return NUANCED, "difference not significant: interval reaches 1"
    return NUANCED, f"smaller difference than claimed (threshold {sup:g})"


def rule_model_ratio(part: dict, ctx: Context) -> Result:
    task, metric = part["task"], part["metric"]
    num, den = part["num"], part["den"]
    where, exclude = part.get("where"), part.get("exclude")
    ignore = set(part.get("ignore", []))
    if "supported_below" in part:
        sup, ref, fewer = part["supported_below"], part.get("refuted_above", 1.0), True
    else:
        sup, ref, fewer = part["supported_above"], part.get("refuted_below", 1.0), False
    ncells = [c for c in select(ctx, task, num, where, exclude) if c.values(metric)]
    dcells = [c for c in select(ctx, task, den, where, exclude) if c.values(metric)]
    if not ncells:
        return Result(UNTESTABLE, missing_reason(ctx, task, num, where))
    if not dcells:
        return Result(UNTESTABLE, missing_reason(ctx, task, den, where))

    def key(c: Cell) -> tuple:
        return tuple(sorted((k, str(v)) for k, v in c.id_params.items() if k not in ignore))

    dby = {key(c): c for c in dcells}
    split = part.get("split_by", [])
    groups: dict[str, list[tuple[str, str]]] = {}
    rows = []
    for nc in ncells:
        dc = dby.get(key(nc))
        if dc is None:
            continue
        rc = summary.ratio_ci(dc.values(metric), nc.values(metric))
        plabel = _params_label(nc.id_params, None)
        if rc is None:
            continue
        r, lo, hi = rc
        v, why = _ratio_verdict(r, lo, hi, sup, ref, fewer)
        nrow, drow = cell_row(nc, metric, ctx), cell_row(dc, metric, ctx)
        noisy = nrow["noisy"] or drow["noisy"]
        rows.append({"label": f"{num}/{den} {plabel}", "kind": "ratio",
                     "metric": metric, "ratio": r, "lo": lo, "hi": hi,
                     "verdict": v, "noisy": noisy, "cells": [nrow, drow]})
        gkey = _params_label(nc.id_params, split) if split else ""
        groups.setdefault(gkey, []).append((v, why, plabel))
    if not rows:
        return Result(UNTESTABLE, f"no {task} cells of {num} and {den} with the "
                      "same parameters and successful runs", rows)
    subs = []
    for g, vs in sorted(groups.items()):
        kinds = {v for v, _, _ in vs}
        if len(kinds) == 1:
            v = kinds.pop()
            why = next((w for _, w, _ in vs if w), "")
        else:
            v, why = NUANCED, "; ".join(f"{lab}: {vv}" for vv, _, lab in vs)
        subs.append(Result(v, why, what=g))
    rlist = [f"{x['label']}: {_fmt(x['ratio'])} [{_fmt(x['lo'])}, {_fmt(x['hi'])}]"
             for x in rows]
    res = combine(subs)
    res.rows = rows
    res.why = (res.why + "; " if res.why else "") + f"{metric} ratio " + "; ".join(rlist)
    return res


def _cpu_list_count(spec: Any) -> int | None:
    """Count CPUs in a list like "0", "0-1", "0,2-3"."""
    if spec is None:
        return None
    n = 0
    try:
        for part in str(spec).split(","):
            a, _, b = part.partition("-")
            n += (int(b) - int(a) + 1) if b else (int(a) >= 0)
    except ValueError:
        return None
    return n or None


def env_cpu_count(env: dict | None) -> int | None:
    """The CPUs the run could use, from env.json, whatever its exact layout
    (sysinfo.py owns it): affinity first, then online CPUs."""
    if not env:
        return None
    cands = []
    for path in (("affinity",), ("cpu", "affinity"), ("cpus", "affinity"),
                 ("cpu", "count"), ("cpu", "count_online"), ("cpu", "online"), ("cpus", "count"),
                 ("cpu_count",), ("cpus",), ("nproc",)):
        node: Any = env
        for k in path:
            node = node.get(k) if isinstance(node, dict) else None
        if isinstance(node, bool) or node is None:
            continue
        if isinstance(node, int):
            cands.append(node)
        elif isinstance(node, list) and node and all(isinstance(x, int) for x in node):
            cands.append(len(node))
        elif isinstance(node, str):
            n = _cpu_list_count(node)
            if n:
                cands.append(n)
        if cands:
            return cands[0]
    return None


def rule_speedup(part: dict, ctx: Context) -> Result:
    task = part.get("task", "compute")
    metric = part.get("metric", "units_per_s")
    param = part.get("param", "workers")
    model = part["model"]
    expect = part["expect"]
    cells = select(ctx, task, model, part.get("where"), part.get("exclude"))
    if not cells:
        return Result(UNTESTABLE, missing_reason(ctx, task, model, part.get("where")))
    base = [c for c in cells if _same(c.params.get(param), 1) and c.values(metric)]
    if not base:
        return Result(UNTESTABLE, f"{task}/{model}: no successful {param}=1 run "
                      "to compute a speedup from")
    bvals = base[0].values(metric)
    rows = []
    best = None
    for c in sorted(cells, key=lambda c: float(c.params.get(param, 0) or 0)):
        w = c.params.get(param)
        if w is None or not c.values(metric):
            continue
        rc = summary.ratio_ci(bvals, c.values(metric))
        if rc is None:
            continue
        cpus = _cpu_list_count(c.params.get("cpus")) or env_cpu_count(ctx.env)
        row = cell_row(c, metric, ctx, label=f"{model} {param}={w}")
        row.update({"kind": "speedup", "workers": w, "cpus": cpus,
                    "ratio": rc[0], "lo": rc[1], "hi": rc[2]})
        rows.append(row)
        if best is None or float(w) > float(best["workers"]):
            best = row
    if best is None or float(best["workers"]) <= 1:
        return Result(UNTESTABLE, f"{task}/{model}: only {param}=1 measured; "
                      "a speedup needs more workers", rows)
    w, s, cpus = float(best["workers"]), best["ratio"], best["cpus"]
    desc = (f"speedup {_fmt(s)} [{_fmt(best['lo'])}, {_fmt(best['hi'])}] "
            f"at {param}={best['workers']}")
    if expect == "scales":
        if cpus is None:
            return Result(UNTESTABLE, "CPU count unknown (env.json has no affinity)", rows)
        usable = min(w, cpus)
        if usable < 2:
            return Result(UNTESTABLE, f"only {cpus} CPU available to the run: "
                          "parallel speedup cannot show", rows)
        eff = part.get("efficiency", 0.7)
        if s >= eff * usable:
            return Result(SUPPORTED, f"{desc} on {cpus} CPUs", rows)
        if s < part.get("flat_max", 1.2):
            return Result(REFUTED, f"{desc} on {cpus} CPUs: no parallelism", rows)
        return Result(NUANCED, f"{desc} on {cpus} CPUs: partial parallelism "
                      f"(below {eff:g} x {usable:g})", rows)
    if expect == "flat":
        flat = part.get("flat_max", 1.2)
        if s <= flat:
            return Result(SUPPORTED, f"{desc}: no parallel speedup", rows)
        if cpus is not None and cpus < 2:
            return Result(REFUTED, f"{desc} although confined to {cpus} CPU", rows)
        return Result(REFUTED, f"{desc}: runs in parallel", rows)
    raise ValueError(f"speedup rule: unknown expect {expect!r}")


def _rank_corr(xs: list[float], ys: list[float]) -> float | None:
    if len(xs) < 3:
        return None
    from scipy.stats import spearmanr
    rho = spearmanr(xs, ys).statistic
    return None if rho != rho else float(rho)


def rule_trend(part: dict, ctx: Context) -> Result:
    task, model, metric, param = part["task"], part["model"], part["metric"], part["param"]
    cells = [c for c in select(ctx, task, model, part.get("where"), part.get("exclude"))
             if c.params.get(param) is not None and c.values(metric)]
    if len(cells) < 2:
        return Result(UNTESTABLE, missing_reason(ctx, task, model, part.get("where"))
                      if not cells else f"{task}/{model}: {metric} measured at "
                      f"fewer than 2 values of {param}")
    cells.sort(key=lambda c: float(c.params[param]))
    rows = [cell_row(c, metric, ctx, label=f"{model} {param}={c.params[param]}")
            for c in cells]
    for r, c in zip(rows, cells):
        r.update({"kind": "trend", "x": c.params[param]})
    xs = [float(c.params[param]) for c in cells]
    ys = [r["median"] for r in rows]
    first, last = ys[0], ys[-1]
    fold = (last / first) if first else None
    rho = _rank_corr(xs, ys)
    desc = (f"{metric} {_fmt(first)} at {param}={cells[0].params[param]} -> "
            f"{_fmt(last)} at {param}={cells[-1].params[param]}"
            + (f" (x{fold:.3g}" if fold is not None else " (")
            + (f", rank corr {rho:.2f})" if rho is not None else ")"))
    max_fold = part.get("fold", 2.0)
    if part["expect"] == "increasing":
        if fold is not None and fold >= max_fold and (rho is None or rho >= 0.6):
            return Result(SUPPORTED, desc, rows)
        if fold is not None and fold <= 1.0 / 1.0:
            return Result(REFUTED, desc, rows)
        return Result(NUANCED, desc + f": grows less than x{max_fold:g}", rows)
    if part["expect"] == "flat":
        if fold is not None and 1 / max_fold <= fold <= max_fold:
            return Result(SUPPORTED, desc, rows)
        return Result(REFUTED, desc, rows)
    raise ValueError(f"trend rule: unknown expect {part['expect']!r}")


OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
       "==": operator.eq, "!=": operator.ne}
STATS = {"max": max, "min": min,
         "median": lambda v: summary.summarize(v).median}


def rule_checks(part: dict, ctx: Context) -> Result:
    rows, failed, caveats, missing = [], [], [], []
    for chk in part["checks"]:
        cells = select(ctx, chk.get("task", part.get("task")), chk.get("model"),
                       chk.get("where"), chk.get("exclude"))
        vals = [v for c in cells for v in c.values(chk["metric"])]
        label = chk.get("says") or f"{chk.get('model')} {chk['metric']}"
        if not vals:
            if chk.get("role", "support") == "support":
                missing.append(missing_reason(ctx, chk.get("task", part.get("task")),
                                              chk.get("model"), chk.get("where")))
            continue
        stat = chk.get("stat", "median")
        got = STATS[stat](vals)
        ok = OPS[chk["op"]](got, chk["value"])
        rows.append({"label": label, "kind": "check", "metric": chk["metric"],
                     "stat": stat, "value": got, "op": chk["op"],
                     "threshold": chk["value"], "holds": ok, "n": len(vals),
                     "cells": [cell_row(c, chk["metric"], ctx) for c in cells]})
        desc = f"{label}: {stat} {_fmt(got)} (needs {chk['op']} {chk['value']})"
        if chk.get("role", "support") == "support" and not ok:
            failed.append(desc)
        elif chk.get("role") == "caveat" and ok:
            caveats.append(desc)
    if missing:
        return Result(UNTESTABLE, "; ".join(missing), rows)
    if failed:
        return Result(REFUTED, "; ".join(failed), rows)
    if caveats:
        return Result(NUANCED, "; ".join(caveats), rows)
    return Result(SUPPORTED, "; ".join(f"{r['label']}: {r['stat']} {_fmt(r['value'])}"
                                       for r in rows), rows)


RULES = {
    "model_ratio": rule_model_ratio,
    "speedup": rule_speedup,
    "trend": rule_trend,
    "checks": rule_checks,
    "untestable": rule_untestable,
}


def evaluate_part(part: dict, ctx: Context) -> Result:
    rule = RULES.get(part.get("rule", ""))
    if rule is None:
        return Result(UNTESTABLE, f"unknown rule {part.get('rule')!r} in claims file",
                      what=part.get("what", ""))
    try:
        res = rule(part, ctx)
    except (KeyError, TypeError, ValueError) as e:
        # A malformed claim must not take the whole report down.
        res = Result(UNTESTABLE, f"rule {part['rule']} could not be evaluated: "
                     f"{type(e).__name__}: {e}")
    res.what = part.get("what", "")
    return res


def evaluate_claim(claim: dict, ctx: Context) -> dict:
    parts = [evaluate_part(p, ctx) for p in claim.get("part", [])]
    if not parts:
        parts = [Result(UNTESTABLE, "the claim has no rule")]
    res = combine(parts) if len(parts) > 1 else parts[0]
    return {
        "id": claim["id"], "says": claim.get("says", ""),
        "experiments": claim.get("experiments", []),
        "plots": claim.get("plots", []),
        "verdict": res.verdict, "why": res.why,
        "parts": [{"what": p.what, "verdict": p.verdict, "why": p.why, "rows": p.rows}
                  for p in parts],
        "noisy": any(r.get("noisy") for p in parts for r in p.rows),
    }


def evaluate(claims: list[dict], ctx: Context) -> list[dict]:
    return [evaluate_claim(c, ctx) for c in claims]
