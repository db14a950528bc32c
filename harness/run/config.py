"""Experiment configs: TOML -> frozen dataclasses, validated once.

The format is documented key by key in docs/config.md; its keys, types and
ranges are schemas/config.schema.json, which parse() validates against (the
messages are built from it); rules across keys are checked here, and task,
model and parameter names against `build/workload --list` (check_catalog).

A bad config raises ConfigError with one line naming the file, the
experiment, the key and the fix; the CLI prints it and exits 2.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema

from harness.records import record
from harness.records.rundir import MAX_INTERFERENCE
from harness.run.catalog import Listing
from harness.run import probes as probes_mod


class ConfigError(Exception):
    """One line: where the problem is and how to fix it."""


@dataclass(frozen=True)
class RunSettings:
    repetitions: int = 3
    seed: int | None = None
    timeout_s: float = 120.0
    warmup_runs: int = 0
    cooldown_s: float = 0.0
    order: str = "random"
    probes: tuple[str, ...] = ()
    workload: str = "build/workload"
    schedtrace: str = "build/schedtrace"
    # read back by the report from the run's config.toml (rundir.py)
    max_interference: float = MAX_INTERFERENCE


@dataclass(frozen=True)
class Experiment:
    name: str
    task: str
    models: tuple[str, ...] | None          # None: every model of the task
    params: tuple[tuple[str, tuple[Any, ...]], ...]   # key -> values, config order
    probes: tuple[str, ...]
    repetitions: int
    timeout_s: float
    estimate_s: float | None = None
    events: bool = False                    # schedtrace --events (needs a probe that writes it)


@dataclass(frozen=True)
class Config:
    path: Path
    text: str
    sha256: str
    run: RunSettings
    experiments: tuple[Experiment, ...] = field(default_factory=tuple)


def format_value(v: Any) -> str:
    """A parameter value as the workload's command line and cell ids spell it."""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _type_name(v: Any) -> str:
    return {bool: "boolean", int: "integer", float: "float", str: "string",
            list: "list", dict: "table"}.get(type(v), type(v).__name__)


def valid_probes() -> tuple[str, ...] | None:
    """The tracer's probes (it lists them: schedtrace --list) and perf; None
    when the tracer is not built and the names cannot be checked."""
    tracer = probes_mod.tracer_probes()
    return None if tracer is None else (*tracer, "perf")


@functools.lru_cache(maxsize=None)
def _validator():
    """schemas/config.schema.json with the probe names of their owner."""
    schema = record.load_schema("config")
    if valid_probes() is not None:
        schema["$defs"]["probes"]["items"]["enum"] = list(valid_probes())
    else:
        schema["$defs"]["probes"]["items"]["type"] = "string"
    cls = jsonschema.validators.validator_for(schema)
    # TOML tells 1000 from 1000.0 and so does the workload: 1000.0 is no integer.
    strict = cls.TYPE_CHECKER.redefine(
        "integer", lambda _, v: isinstance(v, int) and not isinstance(v, bool))
    return jsonschema.validators.extend(cls, type_checker=strict)(schema)


_WHAT = {"integer": "an integer", "number": "a number", "string": "a string",
         "boolean": "true or false (unquoted)", "array": "a list", "object": "a table"}


def _message(e: jsonschema.ValidationError, key: str) -> str:
    """One line from the schema: what the value must be, or the valid names."""
    v, s, kind, want = e.instance, e.schema, e.validator, e.validator_value
    hint = s.get("description")
    if kind == "additionalProperties":
        extra = next(k for k in v if k not in s["properties"])
        return (f"unknown key '{extra}'; valid keys: {', '.join(s['properties'])} "
                "(see docs/config.md)")
    if kind == "required":
        missing = next(k for k in want if k not in v)
        return f"missing '{missing}': {s['properties'][missing]['description']}"
    if kind == "enum" and "title" in s:
        return f"unknown {s['title']} {v!r}; valid {s['title']}s: {', '.join(want)}"
    if kind == "enum":
        return f"{key} must be one of {', '.join(map(json.dumps, want))}, got {v!r}"
    if kind == "uniqueItems":
        return f"{key} lists a {s['items'].get('title', 'value')} twice: {v}"
    if kind in ("minimum", "exclusiveMinimum"):
        return f"{key} must be {'>=' if kind == 'minimum' else '>'} {want}, got {v}"
    if kind == "maximum":
        return f"{key} must be <= {want:,}, got {v:,}"
    if kind in ("type", "pattern", "minItems", "minLength"):
        types = ([want] if isinstance(want, str) else want) if kind == "type" else []
        what = hint or " or ".join(_WHAT[t] for t in types) or e.message
        return f"{key} must be {what}, got {_type_name(v)} {v!r}"
    return f"{key}: {e.message}"


def _check_schema(p: Path, doc: dict) -> None:
    """The first violation of the config schema (the outermost), as ConfigError."""
    errors = sorted(_validator().iter_errors(doc), key=lambda e: len(e.absolute_path))
    if not errors:
        return
    e = errors[0]
    path, where = list(e.absolute_path), str(p)
    if path[:1] == ["run"]:
        path, where = path[1:], f"{p}: [run]"
    elif path[:1] == ["experiment"] and len(path) > 1:
        t = doc["experiment"][path[1]]
        label = (t.get("name") or t.get("task")) if isinstance(t, dict) else None
        path, where = path[2:], f"{p}: [[experiment]] #{path[1] + 1} ({label or '?'})"
    key = "".join(f"[{x}]" if isinstance(x, int) else f".{x}" for x in path).lstrip(".")
    raise ConfigError(f"{where}: {_message(e, key).lstrip()}")


def _check_top_level(where: str, doc: dict) -> None:
    """Other top-level keys are metadata for the report (a reproduction
    config's id, title, source, ...): ignored here, except near misses of
    run and experiment, which are typos that would silently drop a section."""
    for k in doc:
        if k in ("run", "experiment"):
            continue
        near = difflib.get_close_matches(k.lower(), ("run", "experiment"), n=1, cutoff=0.6)
        if near:
            raise ConfigError(f"{where}: unknown section '{k}'; did you mean '{near[0]}'? "
                              "(experiments are [[experiment]] tables)")


def _experiment(where: str, t: dict, run: RunSettings) -> Experiment:
    """An [[experiment]] the schema accepted, with the rules across its keys."""
    task = t["task"]
    models = tuple(t["models"]) if "models" in t else None
    values = tuple((k, tuple(v) if isinstance(v, list) else (v,))
                   for k, v in t.get("params", {}).items())
    probes = tuple(t["probes"]) if "probes" in t else run.probes
    writers = probes_mod.event_writers()
    if t.get("events") and writers is not None and not set(writers) & set(probes):
        raise ConfigError(f"{where}: events = true needs a probe that writes the event "
                          f"stream ({' or '.join(writers)}): add one to probes, got "
                          f"[{', '.join(probes)}]")
    return Experiment(
        name=t.get("name", task), task=task, models=models, params=values, probes=probes,
        repetitions=t.get("repetitions", run.repetitions),
        timeout_s=float(t.get("timeout_s", run.timeout_s)), estimate_s=t.get("estimate_s"),
        events=t.get("events", False))


def _non_finite(node: Any, where: str = "") -> str | None:
    """The key of the first inf or nan in a parsed TOML document (TOML has
    them; no setting of ours means them), or None."""
    if isinstance(node, float) and not math.isfinite(node):
        return where
    items = (node.items() if isinstance(node, dict) else
             enumerate(node) if isinstance(node, list) else ())
    for k, v in items:
        found = _non_finite(v, f"{where}[{k + 1}]" if isinstance(k, int)
                            else f"{where}.{k}" if where else k)
        if found:
            return found
    return None


def parse(text: str, path: str | Path = "<config>") -> Config:
    """Parse and validate a config's text (the catalog check is separate)."""
    p = Path(path)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: not valid TOML: {e}") from None
    bad = _non_finite(doc)
    if bad:
        raise ConfigError(f"{p}: {bad} is not a finite number (inf or nan); write a number "
                          "of seconds such as 120")
    _check_top_level(str(p), doc)
    _check_schema(p, doc)
    run = RunSettings(**{k: float(v) if k.endswith("_s") or k == "max_interference"
                         else tuple(v) if k == "probes" else v
                         for k, v in doc.get("run", {}).items()})
    experiments = []
    names: dict[str, int] = {}
    for i, t in enumerate(doc["experiment"], start=1):
        exp = _experiment(f"{p}: [[experiment]] #{i} ({t.get('name') or t.get('task') or '?'})",
                          t, run)
        if exp.name in names:
            # Unnamed experiments of one task get numbered names.
            if "name" in t:
                raise ConfigError(f"{p}: [[experiment]] #{i}: name '{exp.name}' is already "
                                  f"used by #{names[exp.name]}; names must be unique")
            exp = Experiment(**{**exp.__dict__, "name": f"{exp.name}-{i}"})
        names[exp.name] = i
        experiments.append(exp)
    return Config(path=p, text=text, sha256=hashlib.sha256(text.encode()).hexdigest(),
                  run=run, experiments=tuple(experiments))


def load(path: str | Path) -> Config:
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise ConfigError(f"{p}: cannot read config: {e.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise ConfigError(f"{p}: not UTF-8 text (byte 0x{data[e.start]:02x} on line {line}); "
                          "TOML is UTF-8: save the file as UTF-8") from None
    return parse(text, p)


# ---- the check against `build/workload --list` -----------------------------

def _check_params(where: str, owner: str, specs: dict[str, dict],
                  params: tuple[tuple[str, tuple[Any, ...]], ...]) -> None:
    """Each parameter's name and values against its owner's specs (--list format)."""
    for key, values in params:
        if key not in specs:
            raise ConfigError(f"{where}: unknown parameter '{key}' for {owner}; "
                              f"valid: {', '.join(specs)}")
        for v in values:
            _check_value(where, specs[key], v)


def _check_value(where: str, spec: dict, v: Any) -> None:
    key, typ = spec["key"], spec.get("type")
    pattern = spec.get("pattern")
    if pattern and isinstance(v, str) and not re.match(pattern, v):
        raise ConfigError(f"{where}: params.{key} = {v!r}: {spec.get('help') or pattern}")
    if typ == "count" and v == "auto":
        return
    if typ in ("u64", "i64", "count"):
        if isinstance(v, bool) or not isinstance(v, int):
            raise ConfigError(f"{where}: params.{key} = {v!r}: expected an integer "
                              f"({spec.get('unit') or 'count'})"
                              + (' or "auto"' if typ == "count" else ""))
        lo, hi = spec.get("min"), spec.get("max")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise ConfigError(f"{where}: params.{key} = {v} is out of range [{lo}, {hi}]")
    elif typ == "bool":
        if not isinstance(v, bool):
            raise ConfigError(f"{where}: params.{key} = {v!r}: expected true or false "
                              "(unquoted)")
    elif typ == "enum":
        choices = spec.get("choices") or []
        if v not in choices:
            raise ConfigError(f"{where}: params.{key} = {v!r}: expected one of "
                              f"{', '.join(choices)}")
    elif typ == "str":
        if not isinstance(v, str):
            raise ConfigError(f"{where}: params.{key} = {v!r}: expected a string (quoted)")


def resolve_models(exp: Experiment, listing: Listing) -> tuple[str, ...]:
    """The models an experiment runs: its own list, or its task's defaults
    as the listing declares them (run/catalog.py)."""
    if exp.models is not None:
        return exp.models
    models = listing.default_models(exp.task)
    if not models:
        raise ConfigError(f"experiment {exp.task}: no models named, and no catalog to take "
                          "them from: list `models`, or build build/workload (make build)")
    return models


def check_catalog(cfg: Config, listing: Listing) -> None:
    """Check task, model and parameter names and values against the listing:
    each cell's parameters against what its task and model take (a key
    another model declares as its own is that model's only)."""
    for i, exp in enumerate(cfg.experiments, start=1):
        where = f"{cfg.path}: [[experiment]] #{i} ({exp.name})"
        if exp.task not in listing.task_names():
            raise ConfigError(f"{where}: unknown task '{exp.task}'; valid tasks: "
                              f"{', '.join(listing.task_names()) or '(none)'}")
        valid = listing.model_names(exp.task)
        for m in exp.models or ():
            if valid and m not in valid:
                raise ConfigError(f"{where}: unknown model '{m}'; valid models: "
                                  f"{', '.join(valid)}")
        models = resolve_models(exp, listing)
        for m in models:
            foreign = listing.foreign_params(m)
            _check_params(where, listing.owner(exp.task, m), listing.params(exp.task, m),
                          tuple((k, v) for k, v in exp.params if k not in foreign))
        taken = {k for m in models for k in listing.params(exp.task, m)}
        for key, _ in exp.params:
            if key not in taken:
                raise ConfigError(f"{where}: unknown parameter '{key}': no model of the "
                                  f"experiment ({', '.join(models)}) takes it")
