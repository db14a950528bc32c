"""`schedlab report DIR`: the verdict report of one results directory.

Writes DIR/report.json (for programs), DIR/report.md, DIR/report.html (one
self-contained file: plots embedded as base64 PNG, no network) and
DIR/plots/*.png, then prints the verdict table and the paths on stdout.

Order of the report: first what is missing (a requested probe that did not
attach: which, why, which figures lost it), the claims table (one line per
claim: verdict, deciding figure with its interval and coverage, CPU set,
controls), then one section per claim (tests, controls apart, named
nuances, every row with its CPU set, and its plots), the instruments' own
cost (traced / bare), the published measurements beside ours, every cell
(traced and client-bound cells marked), the environment, and last what was
skipped. Verdicts come from configs/claims.toml through verdicts.py.

Bad input: a directory that is not a run exits 2 with one line saying why.
A truncated records.jsonl or lines of a newer schema are skipped one by
one; the report still renders what is valid and lists what it skipped.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from harness import format as fmt
from harness.present import answer, echo_table, firstscreen, plots, waits
from harness.run import catalog as run_catalog
from harness.run import runner
from harness.run.config import RunSettings
from harness.analyse import claims as claims_mod
from harness.analyse import reproduce, stats, timelines, verdicts
from harness.records import catalog
from harness.records import safefs
from harness.records import tracer as saved_tracer
from harness.records.rundir import CellResults, RunDir, RunDirError, line_probes, load_run

REPORT_SCHEMA = 2
DEFAULT_CLAIMS = claims_mod.DEFAULT
TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"


# ---- building the document --------------------------------------------------

def built_listing() -> dict | None:
    """`build/workload --list` of the current build; None when not built."""
    return run_catalog.listing(runner.ProcessRunner().capture, RunSettings().workload)[0]


def scalar_metrics(c: CellResults) -> list[str]:
    """Every metric name with a number in some ok repetition; distributions
    contribute their p50 and p99."""
    names: dict[str, None] = {}     # a dict keeps the first-seen order
    for ln in c.ok_lines:
        for k, v in ((ln.get("record") or {}).get("metrics") or {}).items():
            if isinstance(v, dict) and "p50" in v:
                names.update({f"{k}.p50": None, f"{k}.p99": None})
            elif isinstance(v, (int, float)) and not isinstance(v, bool):
                names[k] = None
    return list(names)


def cell_doc(c: CellResults, ctx: verdicts.Context, headline: list[str] | None) -> dict:
    """headline: the metrics the cells table shows (the catalog's, in
    doc["_headline"]; None: every one); report.json keeps them all."""
    summaries = {m: stats.summarize(c.values(m)) for m in scalar_metrics(c)}
    metrics = {m: s.as_dict() | {"noisy": s.cov is not None and s.cov > ctx.noisy_cov}
               for m, s in summaries.items()}
    return {"id": c.id, "task": c.task, "model": c.model, "params": c.id_params,
            "cpus": verdicts.cpus_label(verdicts.cell_cpus(c, ctx)),
            "traced": c.probes,
            "client_cpu_utilization": verdicts.client_utilization(c),
            "client_bound": verdicts.is_client_bound(c, ctx),
            "others_share": c.interference()[0],
            "busy": bool(verdicts.busy([c], ctx.max_interference)),
            "statuses": c.statuses,
            "repetitions": len(c.lines), "reasons": c.reasons(), "metrics": metrics,
            "noisy": sorted(m for m, d in metrics.items() if d["noisy"]
                            and m in (headline or metrics))}


def table_metrics(cell: dict, headline: list[str] | None) -> list[str]:
    return [k for k in headline or cell["metrics"] if k in cell["metrics"]]


def tracer_cost_line(cost: dict | None) -> str:
    """The tracer's measured cost on this machine, in one sentence."""
    if not cost:
        return ("Tracer cost on this machine: not measured (`make bench-tracer` measures it).")
    cis = cost.get("intervals") or {}

    def ratio(name: str, v: dict) -> str:
        ci = cis.get(name)
        return f"{name} {v['cpu_ratio']:.2f}x" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")

    parts = ", ".join(ratio(name, v) for name, v in cost["variants"].items())
    line = (f"Tracer cost on this machine (`make bench-tracer`, {cost['measured_at']}, "
            f"{cost['reps']} interleaved repetitions of a same-CPU thread hand-off; median "
            f"ratio of CPU time per hand-off to the untraced run): {parts}.")
    if cis:
        line += (f" Intervals: order-statistic, coverage {cost['coverage']:.0%}"
                 + (f"; the untraced run against itself {cis['baseline'][0]:.2f}"
                    f"-{cis['baseline'][1]:.2f}" if "baseline" in cis else "")
                 + (f"; load average {cost['loadavg'][0]:.1f}" if cost.get("loadavg") else "")
                 + (f". Default probes' target (<= 1.10x): {cost['target']}."
                    if cost.get("target") else "."))
    return line


def instruments(run: RunDir) -> dict:
    """Which instruments produced data in this run, and why others did not.

    The probes are those the run's tracer offered (DIR/tracer.json), never
    today's build's; a run that saved none (no tracer built) lists those its
    lines name. Each line says per probe whether it was requested and
    attached, and why not; perf is present when a line carries its counters.
    """
    saved = saved_tracer.load(run.path)
    tracer = saved.probes if saved else sorted(
        {p for ln in run.lines for p in line_probes(ln)} - {"perf"})
    seen = {name: 0 for name in (*tracer, "perf")}
    reasons: dict[str, str] = {}
    for ln in run.lines:
        for name, pr in line_probes(ln).items():
            if name not in seen:
                continue
            if pr["attached"]:
                seen[name] += 1
            elif pr["reason"]:
                reasons.setdefault(name, f"requested but not attached: {pr['reason']}")
    return {"present": [{"name": name, "lines": n} for name, n in seen.items() if n],
            "missing": [{"name": name, "reason": reasons.get(
                name, "not requested by the config, or unavailable here "
                "(./schedlab doctor says which)")} for name, n in seen.items() if not n],
            "tracer_cost": saved.cost if saved else None}


def missing_probes(run: RunDir, instrument_rows: list[dict], claims: list[dict]) -> list[dict]:
    """Every probe a config asked for that did not attach: why, in how many
    runs, and which figures of the report lost it."""
    seen: dict[str, dict] = {}
    for ln in run.lines:
        for probe, why in (ln.get("probes_skipped") or {}).items():
            d = seen.setdefault(probe, {"reasons": [], "cells": set(), "runs": 0})
            if why not in d["reasons"]:
                d["reasons"].append(why)
            d["cells"].add(str(ln.get("cell")))
            d["runs"] += 1
    out = []
    for probe, d in sorted(seen.items()):
        cells = d["cells"]
        lost = sorted({f"instrument cost: {r['what']} ({r['model']})" for r in instrument_rows
                       if r["traced"] in cells})
        lost += [c["id"] for c in claims if any(
            str(p.get("metric", "")).startswith("probes.") for p in c.get("part", []))]
        out.append({"probe": probe, "why": "; ".join(d["reasons"]), "runs": d["runs"],
                    "cells": sorted(cells), "lost": lost})
    return out


def skipped_cells(cells: list[CellResults]) -> list[dict]:
    """Every cell with a skipped or failed run: its statuses and reasons."""
    return [{"id": c.id, "statuses": c.statuses, "reasons": c.reasons()}
            for c in cells if any(s != "ok" for s in c.statuses)]


def environment(env: dict | None) -> list[tuple[str, str]]:
    """env.json flattened to (key, value) rows, two levels deep."""
    def text(v) -> str:
        return v if isinstance(v, str) else json.dumps(v, sort_keys=True)[:200]
    rows: list[tuple[str, str]] = []
    for k, v in (env or {}).items():
        rows += ([(f"{k}.{k2}", text(v2)) for k2, v2 in v.items()] if isinstance(v, dict)
                 else [(k, text(v))])
    return rows


def run_name(path: Path) -> str:
    """The run directory's own name, also when it was given as "." (a
    report made from inside it), which has none; a symlink such as
    results/latest keeps its own."""
    return Path(os.path.abspath(path)).name


def without_run_path(env: dict | None, path: Path) -> dict | None:
    """env.json with the run directory named as the run, not by where this
    machine keeps it (its --out in argv): a report shows no path of the machine.
    A path as given that names no directory ("." or "..") is no path to hide:
    replaced, it would take every dot out of the document."""
    if env is None:
        return None
    text = json.dumps(env)
    for shown in (path.resolve(), path):
        if shown.name not in ("", ".."):
            text = text.replace(json.dumps(str(shown))[1:-1], run_name(path))
    return json.loads(text)


def build(run: RunDir, claims_path: Path = DEFAULT_CLAIMS,
          reproduce_dir: Path = reproduce.DEFAULT_DIR, with_plots: bool = True) -> dict:
    # The claims file is the repository's, so its names are checked against
    # the workload as built now (not the run's catalog: a run from before a
    # metric existed gets "not tested here", not a refused claims file).
    spec = claims_mod.load(claims_path, built_listing())
    cells = run.cells()
    ctx = verdicts.Context(cells=cells, env=run.env, noisy_cov=spec.noisy_cov,
                           client_bound=spec.client_bound, family_error=spec.family_error,
                           max_interference=run.max_interference)
    results = verdicts.evaluate(spec.claims, ctx)
    costs = verdicts.instrument_costs(spec.instruments, ctx)
    specs, spec_problems = reproduce.load_specs(reproduce_dir)
    repro = reproduce.evaluate(specs, cells)
    cpus = verdicts.env_cpu_count(run.env)
    cat = catalog.load(run.path)
    figs = (plots.render_all(cells, cpus, run.path / "plots", plots.cpu_set(run.env),
                             plots.preemption(run.env), cat.display) if with_plots else {})
    heads = {c.id: cat.headline(c.task, c.model) for c in cells}
    cell_docs = [cell_doc(c, ctx, heads[c.id]) for c in cells]

    def unit_of(task: str, model: str, name: str) -> str | None:
        return (cat.metric(task, model, name) or {}).get("unit")
    return {
        "schema": REPORT_SCHEMA,
        "run": run_name(run.path),
        "state": firstscreen.run_state(run),
        "machine": firstscreen.machine(run.env),
        "answers": answer.answers(results, spec.claims, cells, unit_of),
        "skipped_cells": skipped_cells(cells),
        "repeated": run.repeated,
        "config_text": run.config_text,
        "noisy_cov": spec.noisy_cov,
        "client_bound": spec.client_bound,
        "max_interference": ctx.max_interference,
        "min_n": verdicts.MIN_N,
        "missing_probes": missing_probes(run, costs, spec.claims),
        "summary": [{"id": r["id"], "says": r["says"], "verdict": r["verdict"],
                     "figure": r["figure"], "cpus": r["cpus"],
                     "controls": "; ".join(f"{c['what']}: {c['setup']}" for c in r["controls"]),
                     "why": r["why"], "noisy": r["noisy"]} for r in results],
        "claims": results,
        "instrument_costs": costs,
        "reproductions": repro,
        "cells": cell_docs,
        "noisy_cells": [c["id"] for c in cell_docs if c["noisy"]],
        "traced_cells": [c["id"] for c in cell_docs if c["traced"]],
        "client_bound_cells": [c["id"] for c in cell_docs if c["client_bound"]],
        "environment": without_run_path(run.env, run.path),
        "cpus": cpus,
        "instruments": instruments(run),
        "skipped_lines": [{"line": s.line, "reason": s.reason} for s in run.skipped],
        "problems": run.problems + spec_problems,
        "plots": {k: v["path"] for k, v in figs.items()},
        "_figures": figs,
        "_headline": heads,
        "timelines": timelines.export(run),
        "echo_tables": echo_table.tables(cells, ctx, cat.display),
        "waits": waits.section(cells, run.path, cat.display),
    }


# ---- writing ------------------------------------------------------------------

def md_escape(s: str) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


def part_rows(part: dict) -> list[list[str]]:
    """Table rows for a part's evidence, in one shape whatever the rule."""
    out = []
    for r in part["rows"]:
        kind = r.get("kind")
        note = " ".join(x for x in (r.get("verdict", ""), "noisy" if r.get("noisy") else "") if x)
        if kind in ("ratio", "speedup"):
            reps = r.get("cells") or [r]
            n = "/".join(str(c.get("n", "")) for c in reps)
            cov = "/".join(fmt.pct(c.get("cov")) for c in reps)
            out.append([r["label"], r.get("metric", ""), r.get("cpus", ""), fmt.num(r["ratio"]),
                        fmt.ci(r["lo"], r["hi"], r.get("confidence")), cov, n, note])
        elif kind in ("share", "difference"):
            value = f"{r['k']}/{r['n']}" if kind == "share" else fmt.signed(r["difference"])
            out.append([r["label"], r["metric"], r.get("cpus", ""), value,
                        fmt.ci(r["lo"], r["hi"], r.get("confidence")), "",
                        str(r.get("n", "")), r.get("verdict", "")])
        elif kind == "check":
            out.append([r["label"], r["metric"], r.get("cpus", ""),
                        f"{r['stat']} {fmt.num(r['value'])}", f"{r['op']} {r['threshold']}", "",
                        str(r["n"]), "holds" if r["holds"] else "does not hold"])
        else:
            out.append([r["label"], r.get("metric", ""), r.get("cpus", ""),
                        fmt.num(r.get("median")),
                        fmt.ci(r.get("lo"), r.get("hi"), r.get("confidence")),
                        fmt.pct(r.get("cov")), str(r.get("n", "")), note])
    return out


PART_HEAD = ["row", "metric", "CPUs", "median or ratio", "interval (coverage)", "CoV", "n",
             "note"]
ROLE_TITLE = {"test": "Tests", "control": "Controls (setup as intended?)",
              "nuance": "Named conditions (never pooled into the verdict)"}


def cell_flags(c: dict) -> list[str]:
    flags = []
    if c["traced"]:
        flags.append("traced: " + ",".join(c["traced"]))
    if c["client_bound"]:
        flags.append(f"client-bound ({fmt.pct(c['client_cpu_utilization'])} client CPU)")
    if c.get("others_share") is not None:
        flags.append(("CPUs busy: " if c["busy"] else "")
                     + f"others {fmt.pct(c['others_share'])}")
    return flags


def missing_lines(doc: dict) -> list[str]:
    out = []
    for m in doc["missing_probes"]:
        lost = "; ".join(m["lost"]) or "no verdict or instrument figure"
        out.append(f"probe {m['probe']} requested but not attached in {m['runs']} run(s) "
                   f"({len(m['cells'])} cell(s)): {m['why']}. Lost: {lost}.")
    return out


LEFT_OUT = "; left out: "


def split_left_out(why: str) -> dict:
    """A verdict's reason without its list of left-out cells, and the list
    ("cell (why)" items), so a page can fold the list behind its count."""
    text, _, rest = (why or "").partition(LEFT_OUT)
    return {"text": text, "left_out": [x for x in rest.split("; ") if x] if rest else []}


def run_words(state: dict) -> str:
    done = f"{state['done']} runs" + (f" of {state['planned']} planned"
                                      if state.get("planned") and not state["complete"] else "")
    statuses = ", ".join(f"{n} {k}" for k, n in sorted(state["statuses"].items()))
    took = firstscreen.duration_words(state["duration_s"])
    return f"{done} ({statuses or 'none'}), took {took}"


def figure_homes(claims: list[dict], figures: dict) -> dict[str, str]:
    """Each figure is shown once, with the first claim that names it."""
    homes: dict[str, str] = {}
    for c in claims:
        for name in c["plots"]:
            if name in figures:
                homes.setdefault(name, c["id"])
    return homes


def toc(doc: dict) -> list[tuple[str, str]]:
    """The page's sections in order: (anchor, title)."""
    out = [("claims-table-head", "Claims at a glance")]
    out += [(c["id"], f"{c['id']}: {c['verdict']}") for c in doc["claims"]]
    if doc["timelines"]:
        out.append(("timelines", "Timelines"))
    out += [("instruments", "The instruments' own cost"),
            ("reproductions", "Published measurements and peers"), ("cells", "Cells"),
            ("environment", "Environment")]
    if doc["waits"].get("cells") or doc["waits"].get("bills"):   # waits.html.j2's section
        out.append(("waits", "Who delayed me, where each model waits"))
    out += [("config", "The config as run"), ("skipped", "Skipped and problems")]
    return out


def render(template: str, doc: dict) -> str:
    """report.html.j2 or report.md.j2 over the document; Markdown keeps
    the template's lines as they are, HTML is escaped."""
    import jinja2
    md = template.endswith(".md.j2")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
                             autoescape=not md, trim_blocks=md, lstrip_blocks=md,
                             keep_trailing_newline=md, undefined=jinja2.StrictUndefined)
    env.filters.update(fmt=fmt.num, pct=fmt.pct, md=md_escape)
    env.globals.update(fmt_ci=fmt.ci, part_rows=part_rows, part_head=PART_HEAD,
                       table_metrics=lambda c: table_metrics(c, doc["_headline"][c["id"]]),
                       cell_flags=cell_flags, missing_lines=missing_lines, role_title=ROLE_TITLE,
                       environment=environment, how_to_open=timelines.HOW_TO_OPEN,
                       split_left_out=split_left_out, run_words=run_words, toc=toc(doc),
                       figure_home=figure_homes(doc["claims"], doc["_figures"]),
                       waits_by_task=waits.by_task(doc["waits"]),
                       waits_assets=waits.assets(doc["waits"]) if not md else {})
    return env.get_template(template).render(
        doc=doc, tracer_cost_line=tracer_cost_line(doc["instruments"].get("tracer_cost")))


def write(doc: dict, out_dir: Path) -> dict[str, Path]:
    paths = {"json": out_dir / "report.json", "md": out_dir / "report.md",
             "html": out_dir / "report.html"}
    public = {k: v for k, v in doc.items() if not k.startswith("_")}
    safefs.write_text(paths["json"], json.dumps(public, indent=1, sort_keys=False, default=str)
                      + "\n")
    safefs.write_text(paths["md"], render("report.md.j2", doc))
    safefs.write_text(paths["html"], render("report.html.j2", doc))
    return paths


def verdict_table(doc: dict) -> str:
    """The first screen on a terminal: the run's state, then one line per
    claim (its answer in plain words, whole) and its deciding figure."""
    width = max((len(a["verdict"]) for a in doc["answers"]), default=8)
    lines = [doc["state"]["headline"]] if doc["state"]["headline"] else []
    lines += [f"missing: {x}" for x in missing_lines(doc)]
    for a in doc["answers"]:
        lines.append(f"{a['id']:<4} {a['verdict']:<{width}}  {a['answer']}"
                     + (f"; crossover: {a['crossover']}" if a["crossover"] else ""))
        if a["figure"]:
            lines.append(f"{'':<{width + 7}}deciding figure: {a['figure']}"
                         + (" (noisy)" if a["noisy"] else ""))
    return "\n".join(lines)


def command(args) -> int:
    """`schedlab report DIR [--claims F] [--reproduce DIR] [--no-plots]` (harness/cli.py)."""
    try:
        run = load_run(args.dir)
    except RunDirError as e:
        print(f"report: {e}", file=sys.stderr)
        return 2
    try:
        doc = build(run, args.claims or DEFAULT_CLAIMS, args.reproduce or reproduce.DEFAULT_DIR,
                    with_plots=not args.no_plots)
    except claims_mod.ClaimsError as e:
        print(f"report: {(args.claims or DEFAULT_CLAIMS).name}: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"report: {e}", file=sys.stderr)
        return 2
    if not run.lines:
        print(f"report: warning: {run.path / 'records.jsonl'} holds no usable run "
              f"({len(run.skipped)} line(s) skipped): every claim below is 'not tested "
              "here'; run or resume the run first", file=sys.stderr)
    paths = write(doc, run.path)
    for s in doc["skipped_lines"]:
        print(f"report: skipped records.jsonl line {s['line']}: {s['reason']}", file=sys.stderr)
    for p in doc["problems"]:
        print(f"report: {p}", file=sys.stderr)
    print(verdict_table(doc))
    print(f"report: {paths['md']}\nreport: {paths['html']}\nreport: {paths['json']}")
    return 0
