"""Published measurements beside ours: configs/reproduce/*.toml.

Each file names its source (author, title, year, where), the published
figure with its unit and conditions, and how this run measures the same
thing: a task, a model, parameter filters, a metric and a scale (e.g. 0.5
to turn a round trip into one switch). A file may list several [[point]]s
(the echo benchmark at 50, 300 and 1000 connections) and may compare a
ratio of two models (measured.den_model) with a published ratio.

A [peer] instead of [published] takes the reference figure from another
cell of the same run (perf bench sched pipe run as a live peer), so both
sides share the machine, kernel and moment.

Cells are never pooled across different parameters: when cells that ran
different parameters match a point, the row says which and measures nothing
(add a `where` to pick one). Traced cells and cells that set a kernel knob
the `where` does not name never match, as verdicts never judge them.

A file with `context = true` has no like-with-like counterpart here (a
1998 uniprocessor's sched_yield against a futex hand-off in a VM): its rows
put the two figures side by side as context and never divide them. A row
whose cells the run lacks names the config that measures them.

The result is measured / published: above 1 means slower (or bigger) here.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from harness import REPO

from harness.analyse import stats, verdicts
from harness.records.rundir import CellResults

DEFAULT_DIR = REPO / "configs" / "reproduce"
CONFIGS = ("default.toml", "full.toml")


def load_specs(directory: Path = DEFAULT_DIR) -> tuple[list[dict], list[str]]:
    specs, problems = [], []
    for p in sorted(directory.glob("*.toml")):
        try:
            spec = tomllib.loads(p.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            problems.append(f"{p.name}: {e}")
            continue
        spec.setdefault("id", p.stem)
        spec["file"] = p.name
        specs.append(spec)
    return specs, problems


def _values(cells: list[CellResults], task: str, model: str, where: dict,
            metric: str) -> tuple[list[float], str]:
    """The values of the one cell that matches, or the reason there is none."""
    found = [c for c in cells if (c.task, c.model) == (task, model) and not c.traced
             and not verdicts.knobs_set(c, where)
             and verdicts.matches(c, where, None) and c.values(metric)]
    if len(found) > 1:
        return [], ("cells with different parameters match, not pooled: "
                    + ", ".join(c.id for c in found))
    if not found:
        label = f"{task}/{model} " + ",".join(f"{k}={v}" for k, v in where.items())
        return [], f"{label}: not measured in this run ({measured_by(task, model, where)})"
    return found[0].values(metric), ""


def measured_by(task: str, model: str, where: dict) -> str:
    """Which of the repository's configs runs a matching cell, in words."""
    tasks = set()
    for name in CONFIGS:
        try:
            cfg = tomllib.loads((REPO / "configs" / name).read_text())
        except (OSError, tomllib.TOMLDecodeError):
            continue
        for e in cfg.get("experiment", []):
            tasks.add(e.get("task"))
            if e.get("task") != task or model not in e.get("models", []):
                continue
            params = e.get("params", {})
            if all(k not in params or any(verdicts._same(v, x) for x in (
                    params[k] if isinstance(params[k], list) else [params[k]]))
                   for k, v in where.items()):
                return f"configs/{name} measures it, experiment {e.get('name', '?')}"
    if task not in tasks:    # a peer's task: the configs name the peer, not the task
        return f"{task} is run by a peer of configs/{CONFIGS[0]} (experiments with `peer`)"
    return (f"no experiment of {' or '.join('configs/' + c for c in CONFIGS)} runs it "
            "with these parameters")


def _measure(spec: dict, where: dict, cells: list[CellResults]) -> tuple[dict | None, str]:
    m = spec["measured"]
    scale = float(m.get("scale", 1.0))
    vals, why = _values(cells, m["task"], m["model"], where, m["metric"])
    if not vals:
        return None, why
    if m.get("den_model"):
        dvals, why = _values(cells, m["task"], m["den_model"], where, m["metric"])
        if not dvals:
            return None, why
        rc = stats.ratio_ci(dvals, vals)
        if rc is None:
            return None, "ratio undefined"
        return {"value": rc.value * scale, "lo": rc.lo * scale, "hi": rc.hi * scale,
                "confidence": rc.confidence, "n": len(vals)}, ""
    s = stats.summarize(v * scale for v in vals)
    return {"value": s.median, "lo": s.ci_lo, "hi": s.ci_hi,
            "confidence": s.ci_confidence, "n": s.n, "cov": s.cov}, ""


def _reference(spec: dict, point: dict, cells: list[CellResults]) -> tuple[float | None, str]:
    if "peer" in spec:
        peer = spec["peer"]
        vals, _ = _values(cells, peer["task"], peer.get("model", "threads"),
                          peer.get("where", {}), peer["metric"])
        if not vals:
            return None, (f"peer {peer['task']} not run: {peer.get('how', 'add it to the config')}")
        return stats.summarize(vals).median * float(peer.get("scale", 1.0)), ""
    pub = point.get("published", spec.get("published", {}).get("value"))
    if pub is None:
        return None, "no published figure recorded"
    return float(pub), ""


def evaluate(specs: list[dict], cells: list[CellResults]) -> list[dict]:
    out = []
    for spec in specs:
        points = spec.get("point") or [{}]
        context = bool(spec.get("context"))
        rows = []
        for pt in points:
            where = {**spec["measured"].get("where", {}), **pt.get("where", {})}
            ref, ref_why = _reference(spec, pt, cells)
            meas, meas_why = _measure(spec, where, cells)
            notes = [w for w in (ref_why, meas_why) if w]
            if context:
                notes.insert(0, "context only: no like-with-like counterpart here, no ratio")
            rows.append({"label": pt.get("label", ""), "where": where, "reference": ref,
                         "measured": meas,
                         "ratio": meas["value"] / ref if ref and meas and not context else None,
                         "note": "; ".join(notes)})
        pub = spec.get("published", {})
        out.append({
            "id": spec["id"], "file": spec["file"], "title": spec.get("title", spec["id"]),
            "source": spec.get("source", {}),
            "kind": "context" if context else ("peer" if "peer" in spec else "published"),
            "unit": pub.get("unit") or spec.get("peer", {}).get("unit", ""),
            "what": pub.get("what") or spec.get("peer", {}).get("what", ""),
            "conditions": pub.get("conditions", ""),
            "measured_what": spec["measured"].get("what", ""),
            "differences": spec.get("differences", ""),
            "rows": rows,
        })
    return out
