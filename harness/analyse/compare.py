"""`schedlab compare DIR_A DIR_B`: what changed from run A to run B.

For every cell present in both runs and each of its headline metrics with
a better direction (as build/workload --list declares them: run B's saved
catalog, harness/records/catalog.py), the ratio median(B) / median(A) with
the interval of harness.stats.ratio_ci (built from the two medians'
order-statistic intervals; its coverage, a lower bound, is printed per
row). A change is flagged significant when both sides have at least MIN_N
runs, the interval excludes 1 AND the change exceeds --threshold (5% by
default): on a noisy 2-vCPU VM a tiny but "significant" shift is not news,
and with fewer runs the interval says little. Nor is a change of time
judged (memory is) when either run's cell had its CPUs busy with other work (a median
interference.others_share above that run's [run] max_interference,
docs/interference.md): the change would be the other jobs'. Per task and metric, the
geometric mean of the ratios summarizes the direction.
Output: Markdown on stdout (or --md FILE) and JSON (--json FILE). A run
compared with itself shows no significant change: every interval contains 1.

Exit status: 0 written (whatever changed), 2 bad input.
"""

from __future__ import annotations

import json
import sys

from harness.analyse import stats
from harness import format as fmt
from harness.records import catalog
from harness.records import safefs
from harness.records.rundir import MAX_INTERFERENCE, CellResults, RunDirError, load_run
from harness.analyse.verdicts import MIN_N, busy, cpu_dependent

COMPARE_SCHEMA = 1
DEFAULT_THRESHOLD = 0.05


def metrics_for(c: CellResults, cat: catalog.Catalog) -> list[tuple[str, str]]:
    """(metric, "lower" or "higher"): the cell's headline metrics that have
    a better direction, as build/workload --list declares them."""
    return [(m, b) for m in cat.headline(c.task, c.model) or []
            if (b := cat.metric(c.task, c.model, m)["better"])]


def compare(cells_a: list[CellResults], cells_b: list[CellResults],
            cat: catalog.Catalog, threshold: float = DEFAULT_THRESHOLD,
            bounds: tuple[float, float] = (MAX_INTERFERENCE, MAX_INTERFERENCE)) -> dict:
    """cat: the catalog of run B, whose headlines and directions decide the
    rows; bounds: each run's [run] max_interference."""
    by_b = {c.id: c for c in cells_b}
    rows, only_a = [], []
    for ca in cells_a:
        cb = by_b.pop(ca.id, None)
        if cb is None:
            only_a.append(ca.id)
            continue
        for metric, better in metrics_for(ca, cat):
            va, vb = ca.values(metric), cb.values(metric)
            if not va or not vb:
                continue
            rc = stats.ratio_ci(va, vb)
            if rc is None:
                rows.append({"cell": ca.id, "task": ca.task, "metric": metric,
                             "ratio": None, "lo": None, "hi": None, "n_a": len(va),
                             "n_b": len(vb), "significant": False,
                             "note": "ratio undefined (median of A is 0)"})
                continue
            r, lo, hi, conf = rc.value, rc.lo, rc.hi, rc.confidence
            few = min(len(va), len(vb)) < MIN_N
            crowded = "; ".join(f"run {name}: {why}" for name, c, bound in
                                (("A", ca, bounds[0]), ("B", cb, bounds[1]))
                                if cpu_dependent(metric) and (why := busy([c], bound)))
            sig = not few and not crowded and (lo > 1 or hi < 1) and abs(r - 1) > threshold
            change = ""
            if sig:
                worse = (r > 1) == (better == "lower")
                change = "worse" if worse else "better"
            rows.append({"cell": ca.id, "task": ca.task, "metric": metric, "better": better,
                         "ratio": r, "lo": lo, "hi": hi, "confidence": conf,
                         "n_a": len(va), "n_b": len(vb), "significant": sig, "change": change,
                         "cov_a": stats.cov(va), "cov_b": stats.cov(vb),
                         "note": f"fewer than {MIN_N} runs: not judged" if few
                         else f"not judged: {crowded}" if crowded else ""})
    geo: dict[str, dict[str, list[float]]] = {}
    for row in rows:
        if row["ratio"] is not None:
            geo.setdefault(row["task"], {}).setdefault(row["metric"], []).append(row["ratio"])
    geomeans = {t: {m: stats.geomean(v) for m, v in ms.items()} for t, ms in geo.items()}
    return {"schema": COMPARE_SCHEMA, "threshold": threshold, "rows": rows,
            "geomeans": geomeans, "only_in_a": only_a, "only_in_b": sorted(by_b),
            "significant": sum(1 for r in rows if r["significant"])}


def render_md(doc: dict, a: str, b: str) -> str:
    out = ["# schedlab compare", "", f"A: `{a}`  ", f"B: `{b}`", "",
           "Ratio B/A of medians; the interval comes from the two medians' order-statistic "
           "intervals, its coverage (at least) beside it. **significant** when both sides "
           f"have {MIN_N} runs or more, the interval excludes 1 and the change exceeds "
           f"{doc['threshold']:.0%}, unless either run's CPUs were busy with other work "
           "(docs/interference.md).", "",
           f"{doc['significant']} significant change(s) in {len(doc['rows'])} comparison(s).", "",
           "| cell | metric | B/A | interval (coverage) | n A/B | change |",
           "|---|---|---|---|---|---|"]
    for r in doc["rows"]:
        flag = f"**{r['change']}**" if r["significant"] else (r["note"] or "")
        out.append(f"| {r['cell']} | {r['metric']} | {fmt.ratio(r['ratio'])} | "
                   f"{fmt.ci(r['lo'], r['hi'], r.get('confidence'), fmt.ratio)} | "
                   f"{r['n_a']}/{r['n_b']} | {flag} |")
    out += ["", "## Geometric mean of the ratios per task", "", "| task | metric | geomean B/A |",
            "|---|---|---|"]
    for t, ms in sorted(doc["geomeans"].items()):
        for m, g in ms.items():
            out.append(f"| {t} | {m} | {fmt.ratio(g)} |")
    if doc["only_in_a"] or doc["only_in_b"]:
        out += ["", "## Cells in one run only", ""]
        out += [f"- only in A: {c}" for c in doc["only_in_a"]]
        out += [f"- only in B: {c}" for c in doc["only_in_b"]]
    return "\n".join(out) + "\n"


def command(args) -> int:
    """`schedlab compare A B [--threshold X] [--json F] [--md F]` (harness/cli.py)."""
    runs = []
    for p in (args.a, args.b):
        try:
            runs.append(load_run(p))
        except RunDirError as e:
            print(f"compare: {e}", file=sys.stderr)
            return 2
    for run in runs:
        for s in run.skipped:
            print(f"compare: {run.path}: skipped records.jsonl line {s.line}: {s.reason}",
                  file=sys.stderr)
    doc = compare(runs[0].cells(), runs[1].cells(), catalog.load(runs[1].path),
                  DEFAULT_THRESHOLD if args.threshold is None else args.threshold,
                  (runs[0].max_interference, runs[1].max_interference))
    doc["a"], doc["b"] = str(args.a), str(args.b)
    md = render_md(doc, str(args.a), str(args.b))
    if args.md:
        safefs.write_text(args.md, md)
    else:
        sys.stdout.write(md)
    if args.json:
        safefs.write_text(args.json, json.dumps(doc, indent=1) + "\n")
    return 0
