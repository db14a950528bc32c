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

The result is measured / published: above 1 means slower (or bigger) here.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from harness import summary
from harness.rundir import Cell

DEFAULT_DIR = Path(__file__).resolve().parent.parent / "configs" / "reproduce"


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


def _match(c: Cell, task: str, model: str, where: dict) -> bool:
    if c.task != task or c.model != model or c.traced_usdt:
        return False
    return all(k in c.params and str(c.params[k]).lower() == str(v).lower()
               for k, v in where.items())


def _values(cells: list[Cell], task: str, model: str, where: dict, metric: str) -> list[float]:
    return [v for c in cells if _match(c, task, model, where) for v in c.values(metric)]


def _measure(spec: dict, where: dict, cells: list[Cell]) -> tuple[dict | None, str]:
    m = spec["measured"]
    task, model, metric = m["task"], m["model"], m["metric"]
    scale = float(m.get("scale", 1.0))
    vals = _values(cells, task, model, where, metric)
    label = f"{task}/{model} " + ",".join(f"{k}={v}" for k, v in where.items())
    if not vals:
        return None, f"{label}: not measured in this run"
    if m.get("den_model"):
        dvals = _values(cells, task, m["den_model"], where, metric)
        if not dvals:
            return None, f"{task}/{m['den_model']}: not measured in this run"
        rc = summary.ratio_ci(dvals, vals)
        if rc is None:
            return None, f"{label}: ratio undefined"
        return {"value": rc[0] * scale, "lo": rc[1] * scale, "hi": rc[2] * scale,
                "n": len(vals)}, ""
    s = summary.summarize(vals)
    return {"value": s.median * scale,
            "lo": s.ci_lo * scale if s.ci_lo is not None else None,
            "hi": s.ci_hi * scale if s.ci_hi is not None else None,
            "n": s.n, "cov": s.cov}, ""


def _reference(spec: dict, point: dict, cells: list[Cell]) -> tuple[float | None, str]:
    if "peer" in spec:
        peer = spec["peer"]
        vals = _values(cells, peer["task"], peer.get("model", "threads"),
                       peer.get("where", {}), peer["metric"])
        if not vals:
            return None, (f"peer {peer['task']} not run: {peer.get('how', 'add it to the config')}")
        return summary.summarize(vals).median * float(peer.get("scale", 1.0)), ""
    pub = point.get("published", spec.get("published", {}).get("value"))
    return (float(pub) if pub is not None else None), ("" if pub is not None
                                                       else "no published figure recorded")


def evaluate(specs: list[dict], cells: list[Cell]) -> list[dict]:
    out = []
    for spec in specs:
        points = spec.get("point") or [{}]
        rows = []
        for pt in points:
            where = dict(spec["measured"].get("where", {}))
            where.update(pt.get("where", {}))
            ref, ref_why = _reference(spec, pt, cells)
            meas, meas_why = _measure(spec, where, cells)
            ratio = None
            if ref and meas:
                ratio = meas["value"] / ref
            rows.append({"label": pt.get("label", ""), "where": where,
                         "reference": ref, "measured": meas, "ratio": ratio,
                         "note": "; ".join(w for w in (ref_why, meas_why) if w)})
        pub = spec.get("published", {})
        out.append({
            "id": spec["id"], "file": spec["file"], "title": spec.get("title", spec["id"]),
            "source": spec.get("source", {}),
            "kind": "peer" if "peer" in spec else "published",
            "unit": pub.get("unit") or spec.get("peer", {}).get("unit", ""),
            "what": pub.get("what") or spec.get("peer", {}).get("what", ""),
            "conditions": pub.get("conditions", ""),
            "measured_what": spec["measured"].get("what", ""),
            "differences": spec.get("differences", ""),
            "rows": rows,
        })
    return out
