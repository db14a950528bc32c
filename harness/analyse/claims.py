"""configs/claims.toml, loaded and checked before any verdict is computed.

A claims file is data that decides what the report says, so a mistake in it
must stop the report with one line naming the claim, the part and the key,
never become a quiet "not tested here". Three layers of checks:

  1. the shape (schemas/claims.schema.json): known rules and roles, numbers
     where numbers belong (a threshold written "1.2" is refused), the keys
     each rule needs (a model_ratio without `num`);
  2. the names, against the workload's catalog (`build/workload --list`, or
     the catalog.json a run saved): every task, model, metric in a metric
     expression, and parameter in where/exclude/split_by/ignore exists;
  3. the experiments, against the config the claims are written for (the
     file's `config`): every experiment a claim names exists there and runs
     the task of each of the claim's parts.

Without a catalog (nothing built, an old run) layer 2 is skipped; the
report says so. load() raises ClaimsError; its message is the one line.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import lru_cache
from pathlib import Path

from harness import REPO
from harness.analyse import decide, verdicts

SCHEMA = REPO / "schemas" / "claims.schema.json"
DEFAULT = REPO / "configs" / "claims.toml"

# Keys of a part (and of a check) that filter cells by parameter values, and
# those that list parameter names.
FILTERS = ("where", "exclude", "num_where", "den_where", "num_exclude", "den_exclude")
KEY_LISTS = ("split_by", "ignore")
MODEL_KEYS = ("model", "num", "den")
_OPERAND = re.compile(r"[*/+]")


class ClaimsError(Exception):
    """A claims file that cannot be used; str() is the one line to print."""


@dataclass(frozen=True)
class Claims:
    claims: list[dict]
    instruments: list[dict]
    noisy_cov: float
    client_bound: float
    family_error: float
    names_checked: bool    # False: no catalog, metric and parameter names unchecked


@dataclass(frozen=True)
class Vocabulary:
    """What the workload declares: per task its parameters and metrics, per
    model its own (metric names may be globs such as mn_w*_switches)."""

    task_params: dict[str, set[str]]
    task_metrics: dict[str, set[str]]
    model_params: dict[str, set[str]]
    model_metrics: dict[str, set[str]]

    @classmethod
    def from_listing(cls, doc: dict) -> "Vocabulary":
        def names(items, key):
            return {i[key] for i in items or []}
        return cls({t["name"]: names(t.get("params"), "key") for t in doc.get("tasks", [])},
                   {t["name"]: names(t.get("metrics"), "name") for t in doc.get("tasks", [])},
                   {m["name"]: names(m.get("params"), "key") for m in doc.get("models", [])},
                   {m["name"]: names(m.get("metrics"), "name") for m in doc.get("models", [])})

    def params(self, task: str) -> set[str]:
        return self.task_params.get(task, set()).union(*self.model_params.values())

    def has_metric(self, task: str, name: str) -> bool:
        pool = self.task_metrics.get(task, set()).union(*self.model_metrics.values())
        return any(fnmatchcase(name, m) for m in pool)


@lru_cache(maxsize=1)
def _validator():
    import jsonschema
    doc = json.loads(SCHEMA.read_text())
    return jsonschema.Draft202012Validator(doc)


def _where(doc: dict, path: list) -> str:
    """'claim C2, part 1 (pipe hand-off ...)' from a path into the document."""
    out = []
    if len(path) >= 2 and path[0] == "claim" and isinstance(path[1], int):
        claim = doc["claim"][path[1]]
        out.append(f"claim {claim.get('id', '#' + str(path[1] + 1))}")
        if len(path) >= 4 and path[2] == "part" and isinstance(path[3], int):
            part = claim["part"][path[3]]
            out.append(f"part {path[3] + 1} ({str(part.get('what', ''))[:40]})")
    elif len(path) >= 2 and path[0] == "instrument":
        out.append(f"instrument {path[1] + 1}")
    return ", ".join(out) or "top level"


def _shape(doc: dict) -> None:
    errors = sorted(_validator().iter_errors(doc),
                    key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if not errors:
        return
    e = errors[-1]      # the deepest: "part 2, key margin", not "part 2 is invalid"
    path = list(e.absolute_path)
    key = next((str(p) for p in reversed(path) if isinstance(p, str)), "")
    msg = e.message
    if e.validator == "required":
        key = msg.split("'")[1] if "'" in msg else key
        msg = "missing"
    elif e.validator == "additionalProperties":
        key = msg.split("'")[1] if "'" in msg else key
        msg = "unknown key"
    elif e.validator == "oneOf" and path[-1:] != ["crossover"]:
        key, msg = "supported_above/supported_below", "exactly one of the two is needed"
    raise ClaimsError(f"{_where(doc, path)}: key {key!r}: {msg}")


def _items(doc: dict):
    """(claim index, where, item, its task) for every part, check and crossover."""
    for ci, claim in enumerate(doc["claim"]):
        for pi, part in enumerate(claim["part"]):
            where = _where(doc, ["claim", ci, "part", pi])
            for chk in [part] + part.get("checks", []):
                yield ci, where, chk, chk.get("task", part.get("task"))
        if "crossover" in claim:
            x = claim["crossover"]
            yield ci, f"{_where(doc, ['claim', ci])}, crossover", x, x["task"]


def _names(doc: dict, vocab: Vocabulary) -> None:
    for _, where, item, task in _items(doc):
        if task is None:
            continue
        if task not in vocab.task_params:
            raise ClaimsError(f"{where}: key 'task': unknown task {task!r} "
                              f"(tasks: {', '.join(sorted(vocab.task_params))})")
        for k in MODEL_KEYS:
            if k in item and item[k] not in vocab.model_params:
                raise ClaimsError(f"{where}: key {k!r}: unknown model {item[k]!r}")
        if "metric" in item:
            _metric(where, task, item["metric"], vocab)
        known = vocab.params(task)
        for k in (*FILTERS, *KEY_LISTS, "param"):
            for name in ([item[k]] if k == "param" and k in item else item.get(k, [])):
                if name not in known:
                    raise ClaimsError(f"{where}: key {k!r}: {task} has no parameter {name!r}")


def _metric(where: str, task: str, expr: str, vocab: Vocabulary) -> None:
    for term in _OPERAND.split(expr):
        name = term.strip()
        try:
            float(name)
            continue
        except ValueError:
            pass
        head, _, rest = name.partition(".")
        if head == "params":
            ok = rest in vocab.params(task)
        elif head in ("usage", "probes"):
            ok = bool(rest)
        else:
            ok = bool(name) and vocab.has_metric(task, head)
        if not ok:
            raise ClaimsError(f"{where}: key 'metric': {task} declares no metric {name!r} "
                              f"(in {expr!r}; build/workload --list names them)")


def _experiments(doc: dict, config: dict) -> None:
    tasks = {e["name"]: e.get("task") for e in config.get("experiment", []) if "name" in e}
    for ci, claim in enumerate(doc["claim"]):
        for name in claim["experiments"]:
            if name not in tasks:
                raise ClaimsError(f"{_where(doc, ['claim', ci])}: key 'experiments': "
                                  f"{doc['config']} has no experiment {name!r}")
    for ci, where, item, task in _items(doc):
        ran = {tasks[n] for n in doc["claim"][ci]["experiments"]}
        if task is not None and task not in ran:
            raise ClaimsError(f"{where}: key 'task': none of the claim's experiments runs "
                              f"{task!r} (add one of {doc['config']}'s to `experiments`)")


def load(path: Path = DEFAULT, listing: dict | None = None, repo: Path = REPO) -> Claims:
    """The checked claims; listing is `build/workload --list`'s document
    (None: names unchecked)."""
    try:
        doc = tomllib.loads(Path(path).read_text())
    except OSError as e:
        raise ClaimsError(f"{Path(path).name}: cannot read ({e.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ClaimsError(f"{Path(path).name}: not TOML: {e}") from None
    _shape(doc)
    cfg_path = repo / doc["config"]
    try:
        config = tomllib.loads(cfg_path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ClaimsError(f"top level: key 'config': {doc['config']} unreadable "
                          f"({type(e).__name__})") from None
    _experiments(doc, config)
    if listing:
        _names(doc, Vocabulary.from_listing(listing))
    return Claims(doc["claim"], doc.get("instrument", []),
                  float(doc.get("noisy_cov", verdicts.DEFAULT_NOISY_COV)),
                  float(doc.get("client_bound", verdicts.CLIENT_BOUND)),
                  float(doc.get("family_error", decide.FAMILY_ERROR)), bool(listing))
