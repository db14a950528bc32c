"""What the run asks the binaries before it starts: `build/workload --list`
(tasks, models, parameters, metrics), with the peers' declarations added in
the same format. The run saves the result as DIR/catalog.json; from then on
only harness/records/catalog.py reads it, so a report never asks today's
build about yesterday's run.
"""

from __future__ import annotations

import json
from typing import Callable

from harness.run import peers


def listing(capture: Callable[[list[str]], str | None],
            workload: str) -> tuple[dict | None, str | None]:
    """(workload --list's document, None) or (None, why not)."""
    out = capture([workload, "--list"])
    if out is None:
        return None, (f"{workload} --list failed or {workload} is missing: build it with "
                      "`make build/workload`")
    try:
        return json.loads(out), None
    except json.JSONDecodeError as e:
        return None, f"{workload} --list printed invalid JSON: {e.msg}"


def with_peers(doc: dict) -> dict:
    """The listing as a run saves it: the peers declare their task, models,
    parameters and metrics beside the workload's."""
    return {**doc, "peers": [
        {"name": p.name, "task": p.task, "summary": p.summary, "models": list(p.model_names),
         "params": [dict(s) for s in p.params], "metrics": [dict(m) for m in p.metrics],
         "colour": p.colour}
        for p in peers.PEERS.values()]}
