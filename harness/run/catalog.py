"""What the run asks the binaries before it starts: `build/workload --list`
(tasks, models, parameters, metrics), with the peers' declarations added in
the same format. The run saves the result as DIR/catalog.json; from then on
only harness/records/catalog.py reads it, so a report never asks today's
build about yesterday's run.
"""

from __future__ import annotations

import json
from typing import Callable

from harness.records import catalog as saved_catalog
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
         "colours": p.colours()}
        for p in peers.PEERS.values()]}


class Listing:
    """What a config may name, from a listing as a run saves it: the
    workload's tasks and models, and each peer's (task, model) pairs, with
    the parameters each such cell takes. The config check and the matrix ask
    this, and so never need to know which kind runs a cell."""

    def __init__(self, doc: dict | None):
        doc = doc or {}
        self.doc = doc
        self.tasks = {t["name"]: t for t in doc.get("tasks", [])}
        self.models = {m["name"]: m for m in doc.get("models", [])}
        self.served = {(p["task"], m): p for p in doc.get("peers", []) for m in p["models"]}

    def task_names(self) -> list[str]:
        return list(self.tasks) + sorted({t for t, _ in self.served} - set(self.tasks))

    def model_names(self, task: str) -> list[str]:
        """The models a task may name: every workload model (one that cannot
        run the task says so itself), and the peers' for this task."""
        own = list(self.models) if task in self.tasks else []
        return own + [m for t, m in self.served if t == task]

    def default_models(self, task: str) -> tuple[str, ...]:
        """An experiment without `models`: the task's workload models, or for
        a task only peers serve, each peer's first model."""
        if task in self.tasks:
            return saved_catalog.default_models(self.doc, task)
        firsts = {p["name"]: p["models"][0] for (t, _), p in self.served.items() if t == task}
        return tuple(firsts.values())

    def owner(self, task: str, model: str) -> str:
        """Who declares the cell's parameters, for messages."""
        p = self.served.get((task, model))
        return f"task {task}" if p is None else f"{p['name']} ({task}/{model})"

    def params(self, task: str, model: str) -> dict[str, dict]:
        """The parameters a task/model cell takes, by key (--list format)."""
        p = self.served.get((task, model))
        if p is not None:
            return {s["key"]: s for s in p["params"]}
        return {**{s["key"]: s for s in self.tasks.get(task, {}).get("params", [])},
                **self.model_params(model)}

    def model_params(self, model: str) -> dict[str, dict]:
        """A workload model's own parameters (variants of its runtime), by key."""
        return {s["key"]: s for s in self.models.get(model, {}).get("params", [])}

    def foreign_params(self, model: str) -> set[str]:
        """Keys that other models declare and this one does not: a config that
        sweeps `mn_workers` over threads, coro and mn passes it to mn only."""
        return {k for m in self.models if m != model for k in self.model_params(m)} - \
            set(self.model_params(model))
