"""A run's tracer.json, read back: the probes the tracer offered when the
run was made (`schedtrace --list`) and, when it had been measured, what
tracing cost on that machine (`cost`, from `make bench-tracer`). The
report reads this, never today's build: a report of an old run after the
tracer's probe list changed shows the old run's probes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

FILE = "tracer.json"


@dataclass(frozen=True)
class SavedTracer:
    probes: tuple[str, ...]         # the names a config could give (selectable)
    cost: dict | None               # run/probes.py tracer_cost(), as measured then


def load(run_dir: Path) -> SavedTracer | None:
    """The run's tracer.json; None when the run saved none (its tracer was
    not built, or the run predates the file) or it is unreadable."""
    try:
        doc = json.loads((run_dir / FILE).read_text())
        names = tuple(p["name"] for p in doc["probes"] if p.get("selectable", True))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    cost = doc.get("cost")
    return SavedTracer(probes=names, cost=cost if isinstance(cost, dict) else None)
