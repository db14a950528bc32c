"""A run's catalog.json, read back: `build/workload --list` as the run saw
it, with the peers' declarations beside it (harness/run/catalog.py writes
it). Beside each task's and model's parameters it declares their metrics:
unit, which direction is better, whether a table shows it (headline), kind
(number, distribution, text, flag). Report, compare and plots take units,
directions and headlines from here and keep no lists of their own
(docs/metrics.md).

A report on an old run reads the declarations of the binary that wrote its
records, never today's build; a run without catalog.json declares nothing,
and tables then show every metric.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

FILE = "catalog.json"
QUANTILES = ("p50", "p99")      # what a table shows of a headline distribution


@dataclass(frozen=True)
class Catalog:
    tasks: dict[str, list[dict]]    # task -> its metrics, the common ones included
    models: dict[str, list[dict]]   # model -> its own counters, prefix included
    display: "ModelDisplay"         # the models' declared order and colours

    def metric(self, task: str, model: str, name: str) -> dict | None:
        """The declaration of name ("latency_ns.p99" is latency_ns's)."""
        base = name.split(".")[0]
        return next((m for m in self.tasks.get(task, []) + self.models.get(model, [])
                     if fnmatchcase(base, m["name"])), None)

    def headline(self, task: str, model: str) -> list[str] | None:
        """The task's headline metrics, then the model's, a distribution as
        its QUANTILES; None when the task is not declared."""
        if task not in self.tasks:
            return None
        out = []
        for m in self.tasks[task] + self.models.get(model, []):
            if m["headline"]:
                out += ([f"{m['name']}.{q}" for q in QUANTILES] if m["kind"] == "distribution"
                        else [m["name"]])
        return out


# ---- how models are shown and which run by default: their declared traits ----

GREY = "#777777"    # a model nobody declared a colour for


@dataclass(frozen=True)
class ModelDisplay:
    """Our models in the order and colours they declare (`--list` traits),
    the peers' after them in the colours they declare, anything else grey
    and last by name. No model is named here: a fifth model shows up
    where its declaration puts it."""
    order: tuple[str, ...]          # our models, in their declared order
    colours: dict[str, str]

    def ours(self, model: str) -> bool:
        return model in self.order

    def rank(self, model: str) -> tuple[int, str]:
        """Sort key: ours first in declared order, then the rest by name."""
        return ((self.order.index(model), "") if model in self.order
                else (len(self.order), model))

    def colour(self, model: str) -> str:
        return self.colours.get(model, GREY)


def display_of(doc: dict | None) -> ModelDisplay:
    """The display a --list document declares (with its peers', as a run
    saves it); None declares nothing: every model grey, by name."""
    # A catalog saved before models declared traits lists them without:
    # shown in their listed order, grey.
    models = (doc or {}).get("models", [])
    ours = sorted((m for m in models if "traits" in m), key=lambda m: m["traits"]["order"])
    ours += [m for m in models if "traits" not in m]
    colours = {}
    for p in (doc or {}).get("peers", []):
        # a run saved before peers declared a colour per model has one for all
        colours.update(p.get("colours") or {m: p["colour"] for m in p["models"]
                                            if p.get("colour")})
    colours.update({m["name"]: m["traits"]["colour"] for m in ours if "traits" in m})
    return ModelDisplay(tuple(m["name"] for m in ours), colours)


def default_models(doc: dict | None, task: str) -> tuple[str, ...]:
    """The models a task runs under when its experiment names none: those
    its declaration lists, in the models' declared order."""
    shown = display_of(doc)
    for t in (doc or {}).get("tasks", []):
        if t.get("name") == task and t.get("models"):
            return tuple(sorted(t["models"], key=shown.rank))
    return shown.order


def parse(doc: dict) -> Catalog:
    """A catalog from a --list document and the peers it declares: a peer's
    metrics are its task's when the workload has no such task, else its
    models' own."""
    tasks = {t["name"]: t.get("metrics", []) for t in doc.get("tasks", [])}
    models = {m["name"]: m.get("metrics", []) for m in doc.get("models", [])}
    for p in doc.get("peers", []):
        if p["task"] not in tasks:
            tasks[p["task"]] = list(p["metrics"])
        else:       # a peer of several tasks (Go) declares its models' metrics per task
            for m in p["models"]:
                have = {d["name"] for d in models.get(m, [])}
                models[m] = models.get(m, []) + [d for d in p["metrics"] if d["name"] not in have]
    return Catalog(tasks, models, display_of(doc))


def load(run_dir: Path) -> Catalog:
    """The run's saved catalog; an empty one when it has none (or it is unreadable)."""
    try:
        doc = json.loads((run_dir / FILE).read_text())
    except (OSError, json.JSONDecodeError):
        doc = {}
    return parse(doc if isinstance(doc, dict) else {})
