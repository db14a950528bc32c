"""The report's view of the delay and stacks probes, and the tracer's bill.

For each traced cell: "who delayed me" (the delay probe: per thread of the
workload, the tasks that held its CPU while it waited, with their share),
"where each model waits" (the stacks probe: an interactive flame graph per
model, side by side: where threads block off-CPU, where coroutines park),
and the bill (the tracer document's `cost`: per probe its program runs, the
ns per run and the share of the window's CPU time when `--cost` measured
them). The flame graphs are d3-flame-graph from the npm registry
(package.json; `make deps` installs node_modules/), inlined into
report.html; without it the page says so and lists the heaviest stacks.
The folded files (traces/NAME.KIND.folded) are linked for other viewers.

Reads only what the runner kept: the records' tracer documents and the
folded files beside them. report.py calls section() and renders the
templates waits.html.j2 / waits.md.j2.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness import REPO
from harness import format as fmt
from harness.analyse import trace
from harness.records import catalog
from harness.records.rundir import CellResults
from harness.run import probes as probes_mod

NODE_MODULES = REPO / "node_modules"
JS_FILES = ("d3/dist/d3.min.js", "d3-flame-graph/dist/d3-flamegraph.min.js")
CSS_FILE = "d3-flame-graph/dist/d3-flamegraph.css"
TOP_THREADS = 8    # victims listed per cell
TOP_CULPRITS = 3   # culprits listed per victim
TOP_STACKS = 5     # stacks listed as text per flame graph
# The kind that shows where a model waits: threads block in the kernel, the
# coroutine models park in user space (their threads block too: both shown).
TITLES = {"offcpu": "where threads block (off-CPU, ns)",
          "park": "where coroutines park (ns)"}


def _doc(c: CellResults) -> tuple[dict, dict] | None:
    """The last ok repetition's tracer document, with its line."""
    for ln in reversed(c.ok_lines):
        doc = (ln.get("probes") or {}).get("schedtrace")
        if isinstance(doc, dict):
            return doc, ln
    return None


def who_delayed(doc: dict) -> list[dict]:
    """Per workload thread (largest wait first), its top culprits."""
    rows = []
    threads = [t for t in (doc.get("delay") or {}).get("threads") or []
               if t.get("comm") != "schedtrace" and t.get("waits")]
    for t in threads[:TOP_THREADS]:
        wait = t["wait_ns"] or 1
        rem = sum(t["remainder_ns"].values())
        rows.append({"tid": t["tid"], "comm": t["comm"], "waits": t["waits"],
                     "wait": fmt.duration(t["wait_ns"]),
                     "culprits": [f"{c['comm']} ({'idle' if c['idle'] else c['tid']}"
                                  f"{', kernel' if c['kernel_thread'] else ''}"
                                  f"{', same process' if c['tgid'] == t['tgid'] else ''})"
                                  f" {fmt.pct(c['share'])}"
                                  for c in t["culprits"][:TOP_CULPRITS]],
                     "remainder": fmt.pct(rem / wait)})
    return rows


def coroutine_view(doc: dict) -> str | None:
    """The USDT probe's side of the same wait: what the coroutine scheduler
    kept waiting, invisible to the kernel."""
    u = doc.get("usdt")
    if not isinstance(u, dict) or not u.get("coro_switches"):
        return None
    q = u.get("runq_latency_ns") or {}
    return (f"coroutines (USDT): {fmt.num(u.get('coro_switches'))} switches; "
            f"{fmt.num(q.get('n'))} waits for their scheduler thread, "
            f"{fmt.duration(q.get('sum') or 0)} in all, p99 {fmt.duration(q.get('p99') or 0)}")


def coroutine_delays(events: list[dict]) -> list[dict]:
    """The coroutine scheduler's "who delayed me", from the event stream's
    USDT records: each coroutine's wait from coro_ready (or its creation)
    to the coro_switch to it, cut into the run segments of the coroutines
    its scheduler thread ran meanwhile (coroutine 0: the scheduler itself).
    The kernel cannot see these: they all run on one thread. A wait that
    began before the thread's first recorded switch is left unattributed."""
    ready: dict[tuple[int, int], int] = {}
    running: dict[int, tuple[int, int]] = {}          # tid -> (coro, since)
    segments: dict[int, list[tuple[int, int, int]]] = {}
    victims: dict[tuple[int, int], dict] = {}
    for ev in events:
        kind = ev["type"]
        if kind in ("coro_ready", "coro_create"):
            ready[(ev["tgid"], ev["coro"])] = ev["ts_ns"]
        if kind != "coro_switch":
            continue
        tid, now = ev["tid"], ev["ts_ns"]
        if tid in running:
            coro, since = running[tid]
            segments.setdefault(tid, []).append((since, now, coro))
        running[tid] = (ev["to"], now)
        start = ready.pop((ev["tgid"], ev["to"]), None)
        if start is None or start > now:
            continue
        v = victims.setdefault((ev["tgid"], ev["to"]),
                               {"coro": ev["to"], "waits": 0, "wait_ns": 0, "by": {}})
        v["waits"] += 1
        v["wait_ns"] += now - start
        for s_start, s_end, coro in reversed(segments.get(tid, [])):
            if s_end <= start:
                break
            overlap = min(s_end, now) - max(s_start, start)
            if overlap > 0:
                v["by"][coro] = v["by"].get(coro, 0) + overlap
    rows = []
    for v in sorted(victims.values(), key=lambda v: -v["wait_ns"])[:TOP_THREADS]:
        wait = v["wait_ns"] or 1
        top = sorted(v["by"].items(), key=lambda kv: -kv[1])[:TOP_CULPRITS]
        rows.append({"coro": v["coro"], "waits": v["waits"],
                     "wait": fmt.duration(v["wait_ns"]),
                     "culprits": [f"{'scheduler' if c == 0 else f'coro {c}'} {fmt.pct(ns / wait)}"
                                  for c, ns in top],
                     "remainder": fmt.pct(1 - sum(v["by"].values()) / wait)})
    return rows


def _coroutine_rows(ln: dict, run_path: Path) -> list[dict]:
    """coroutine_delays() of the line's event stream, when it kept one."""
    rel = ln.get("events")
    if not rel:
        return []
    try:
        _, events, _ = trace.read_events(run_path / rel)
    except (OSError, trace.TraceError):
        return []
    return coroutine_delays(events)


def tree(rows: list[tuple[str, int]], root: str) -> dict:
    """Folded stacks -> the nested {name, value, children} d3-flame-graph reads."""
    top = {"name": root, "value": 0, "children": {}}
    for stack, value in rows:
        node = top
        node["value"] += value
        for frame in stack.split(";"):
            node = node["children"].setdefault(frame, {"name": frame, "value": 0,
                                                       "children": {}})
            node["value"] += value

    def listed(n: dict) -> dict:
        return {"name": n["name"], "value": n["value"],
                "children": [listed(c) for c in n["children"].values()]}
    return listed(top)


def _folded(doc: dict, ln: dict, run_path: Path, kind: str) -> tuple[list, str | None]:
    """Every stack of a kind (the folded file when the run kept it, else the
    line's heaviest) and the file's path relative to the run."""
    rel = (ln.get("probe_files") or {}).get("schedtrace")
    if rel:
        path = probes_mod.folded_path(run_path / rel, kind)
        if path.is_file():
            rows = []
            for line in path.read_text().splitlines():
                stack, _, value = line.rpartition(" ")
                if stack and value.isdigit():
                    rows.append((stack, int(value)))
            return rows, str(path.relative_to(run_path))
    k = ((doc.get("stacks") or {}).get("kinds") or {}).get(kind) or {}
    return [(r["stack"], r["value"]) for r in k.get("folded") or []], None


def flames(c: CellResults, doc: dict, ln: dict, run_path: Path) -> list[dict]:
    out = []
    for kind, title in TITLES.items():
        rows, file = _folded(doc, ln, run_path, kind)
        if not rows:
            continue
        rows.sort(key=lambda r: -r[1])
        out.append({"model": c.model, "kind": kind, "title": title, "file": file,
                    "total": fmt.duration(sum(v for _, v in rows)),
                    "top": [f"{fmt.duration(v)}  {s}" for s, v in rows[:TOP_STACKS]],
                    # inside <script>: no "</" may close it early
                    "data": json.dumps(tree(rows, c.model),
                                       separators=(",", ":")).replace("</", "<\\/")})
    return out


def bill(doc: dict) -> dict | None:
    """The tracer's own cost in this document, per probe."""
    cost = doc.get("cost")
    if not isinstance(cost, dict):
        return None
    per: dict[str, dict] = {}
    for p in cost.get("programs") or []:
        b = per.setdefault(p["probe"], {"probe": p["probe"], "runs": 0, "ns": 0})
        b["runs"] += p["run_cnt"]
        b["ns"] += p.get("run_time_ns") or 0
    timed = cost.get("run_time_ns") is not None
    rows = [{"probe": b["probe"], "runs": fmt.num(b["runs"]),
             "ns_per_run": fmt.num(b["ns"] / b["runs"]) if timed and b["runs"] else "n/a",
             "share": fmt.pct(b["ns"] / cost["window_cpu_ns"])
             if timed and cost.get("window_cpu_ns") else "n/a"}
            for b in per.values()]
    total = cost.get("share_of_window_cpu")
    return {"rows": rows, "timed": timed, "reason": cost.get("reason"),
            "share": fmt.pct(total) if total is not None else "n/a"}


def bill_line(b: dict) -> str:
    """One cell's bill in a sentence, to stand beside its figures."""
    if b["timed"]:
        parts = [f"{r['probe']} {r['runs']} runs at {r['ns_per_run']} ns, {r['share']}"
                 for r in b["rows"]]
        return (f"Tracer's bill: {'; '.join(parts)} of the window's CPU time "
                f"({b['share']} in all, BPF statistics).")
    parts = [f"{r['probe']} {r['runs']} runs" for r in b["rows"]]
    why = f": {b['reason']}" if b.get("reason") else " (traced without --cost)"
    return f"Tracer's bill: {'; '.join(parts)}; run time not measured{why}."


def section(cells: list[CellResults], run_path: Path,
            shown: catalog.ModelDisplay | None = None) -> dict:
    """Everything the waits templates show, models in the order the run's
    catalog declares (shown); empty lists when no cell was traced with
    these probes."""
    rank = (shown or catalog.display_of(None)).rank
    cells = sorted(cells, key=lambda c: rank(c.model))
    out: dict = {"cells": [], "bills": []}
    for c in cells:
        got = _doc(c)
        if not got:
            continue
        doc, ln = got
        b = bill(doc)
        if b:
            out["bills"].append({"cell": c.id, **b})
        delayed = who_delayed(doc)
        graphs = flames(c, doc, ln, run_path)
        if delayed or graphs:
            out["cells"].append({"cell": c.id, "task": c.task, "model": c.model,
                                 "bill": bill_line(b) if b else "Tracer's bill: not recorded.",
                                 "delayed": delayed, "coroutines": coroutine_view(doc),
                                 "coro_delayed": _coroutine_rows(ln, run_path),
                                 "flames": graphs})
    return out


def assets(sec: dict) -> dict:
    """The renderer's JavaScript and CSS to inline, when a flame graph needs
    them; or why they are missing."""
    out = {"js": None, "css": None, "missing": None}
    if not any(cell["flames"] for cell in sec["cells"]):
        return out
    try:
        out["js"] = "\n".join((NODE_MODULES / f).read_text() for f in JS_FILES)
        out["css"] = (NODE_MODULES / CSS_FILE).read_text()
    except OSError:
        out["missing"] = ("the flame graph renderer is not installed (node_modules/: run "
                          "`make deps`); the heaviest stacks are listed instead")
    return out


def by_task(sec: dict) -> list[tuple[str, list[dict]]]:
    """Cells grouped by task (models in section()'s order): side by side."""
    groups: dict[str, list[dict]] = {}
    for cell in sec["cells"]:
        groups.setdefault(cell["task"], []).append(cell)
    return list(groups.items())
