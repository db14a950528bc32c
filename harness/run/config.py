"""Experiment configs: TOML -> frozen dataclasses, validated once.

The format is documented key by key in docs/config.md and described by
schemas/config.schema.json. In short:

    [run]                      # optional; every key has a default
    repetitions = 5            # measured process runs per cell
    seed = 1                   # seed of the run order (omitted: drawn, recorded)
    timeout_s = 120            # per process run: SIGTERM, then SIGKILL
    warmup_runs = 0            # discarded runs per cell before the measured ones
    cooldown_s = 0             # pause between two process runs
    order = "random"           # or "sequential"
    probes = []                # default probes of every experiment

    [[experiment]]
    name = "pingpong"          # optional, for --only experiment=...
    task = "pingpong"
    models = ["threads", "coro", "uring"]   # optional: every model of the task
    repetitions = 5            # optional override
    timeout_s = 30             # optional override
    probes = ["sched", "perf"] # optional override: sched, uring, usdt, perf
    events = false             # optional: schedtrace --events stream (needs "sched")
    [experiment.params]        # a value, or a list of values (cross product)
    channel = ["event", "pipe"]
    iterations = 200000

    [[experiment]]             # an external peer instead of a task (peers.py)
    peer = "perf-bench-sched-pipe"
    params = { loops = 1000000, cpus = "0" }

A bad config raises ConfigError with one line naming the file, the
experiment, the key and the fix; the CLI prints it and exits 2.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.run import peers as peers_mod
from harness.run import probes as probes_mod

DEFAULT_MODELS = ("threads", "coro", "uring")
RUN_KEYS = ("repetitions", "seed", "timeout_s", "warmup_runs", "cooldown_s", "order",
            "probes", "workload", "schedtrace")
EXPERIMENT_KEYS = ("name", "task", "peer", "models", "params", "probes", "events",
                   "repetitions", "timeout_s", "estimate_s")
# Characters that would make a cell id ("task/model/k=v,k=v") ambiguous.
ID_RESERVED = ",=/"


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
    events: bool = False                    # schedtrace --events (needs the sched probe)
    peer: str | None = None                 # an external peer (peers.py) instead of a task


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


def _positive_number(where: str, key: str, v: Any, allow_zero: bool = False) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ConfigError(f"{where}: {key} must be a number of seconds, got "
                          f"{_type_name(v)} {v!r}")
    if v < 0 or (v == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ConfigError(f"{where}: {key} must be {bound}, got {v}")
    return float(v)


def _count(where: str, key: str, v: Any, minimum: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ConfigError(f"{where}: {key} must be an integer, got {_type_name(v)} {v!r}")
    if v < minimum:
        raise ConfigError(f"{where}: {key} must be >= {minimum}, got {v}")
    return v


def valid_probes() -> tuple[str, ...]:
    """The tracer's probes (it lists them: schedtrace --list) and perf."""
    return (*probes_mod.tracer_probes(), "perf")


def _probes(where: str, v: Any) -> tuple[str, ...]:
    PROBES = valid_probes()
    if not isinstance(v, list) or not all(isinstance(p, str) for p in v):
        raise ConfigError(f"{where}: probes must be a list of names, e.g. "
                          f"[\"sched\", \"perf\"]; valid: {', '.join(PROBES)}")
    for p in v:
        if p not in PROBES:
            raise ConfigError(f"{where}: unknown probe '{p}'; valid: {', '.join(PROBES)}")
    if len(set(v)) != len(v):
        raise ConfigError(f"{where}: probes lists a probe twice: {v}")
    return tuple(v)


def _unknown_keys(where: str, table: dict, valid: tuple[str, ...]) -> None:
    for k in table:
        if k not in valid:
            raise ConfigError(f"{where}: unknown key '{k}'; valid keys: {', '.join(valid)} "
                              "(see docs/config.md)")


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


def _parse_run(where: str, t: Any) -> RunSettings:
    if not isinstance(t, dict):
        raise ConfigError(f"{where}: [run] must be a table")
    _unknown_keys(f"{where}: [run]", t, RUN_KEYS)
    d = RunSettings()
    w = f"{where}: [run]"
    seed = t.get("seed", d.seed)
    if seed is not None:
        seed = _count(w, "seed", seed, 0)
    order = t.get("order", d.order)
    if order not in ("random", "sequential"):
        raise ConfigError(f"{w}: order must be \"random\" or \"sequential\", got {order!r}")
    for k in ("workload", "schedtrace"):
        if k in t and (not isinstance(t[k], str) or not t[k]):
            raise ConfigError(f"{w}: {k} must be a path (string)")
    return RunSettings(
        repetitions=_count(w, "repetitions", t.get("repetitions", d.repetitions), 1),
        seed=seed,
        timeout_s=_positive_number(w, "timeout_s", t.get("timeout_s", d.timeout_s)),
        warmup_runs=_count(w, "warmup_runs", t.get("warmup_runs", d.warmup_runs), 0),
        cooldown_s=_positive_number(w, "cooldown_s", t.get("cooldown_s", d.cooldown_s),
                                    allow_zero=True),
        order=order,
        probes=_probes(w, t.get("probes", [])),
        workload=t.get("workload", d.workload),
        schedtrace=t.get("schedtrace", d.schedtrace),
    )


def _param_values(where: str, key: str, v: Any) -> tuple[Any, ...]:
    vals = v if isinstance(v, list) else [v]
    if not vals:
        raise ConfigError(f"{where}: params.{key} is an empty list; give at least one value")
    for x in vals:
        if isinstance(x, float):
            raise ConfigError(f"{where}: params.{key} = {x!r}: parameters are integers, "
                              "booleans or strings (write 1000, not 1000.0)")
        if not isinstance(x, (bool, int, str)):
            raise ConfigError(f"{where}: params.{key} = {x!r}: expected an integer, boolean, "
                              f"string or a list of them, got {_type_name(x)}")
        bad = [c for c in ID_RESERVED if c in format_value(x)]
        if bad:
            raise ConfigError(f"{where}: params.{key} = {x!r} contains {bad[0]!r}, which "
                              "cell ids reserve; write CPU lists as ranges (\"0-1\")")
    if len(set(map(format_value, vals))) != len(vals):
        raise ConfigError(f"{where}: params.{key} lists a value twice: {vals}")
    return tuple(vals)


def _peer(where: str, t: dict) -> peers_mod.Peer | None:
    if "peer" not in t:
        return None
    name = t["peer"]
    known = ", ".join(peers_mod.PEERS)
    if "task" in t:
        raise ConfigError(f"{where}: give either task or peer, not both (a peer's cells are "
                          "filed under its own task name)")
    if not isinstance(name, str) or name not in peers_mod.PEERS:
        raise ConfigError(f"{where}: unknown peer {name!r}; known peers: {known}")
    return peers_mod.PEERS[name]


def _check_peer(where: str, peer: peers_mod.Peer, models: tuple[str, ...] | None,
                params: tuple[tuple[str, tuple[Any, ...]], ...]) -> None:
    """A peer's models and parameters, checked like a task's against --list."""
    for m in models or ():
        if m not in peer.model_names:
            raise ConfigError(f"{where}: peer {peer.name} has no model '{m}'; valid models: "
                              f"{', '.join(peer.model_names)}")
    specs = {s["key"]: s for s in peer.params}
    for key, values in params:
        if key not in specs:
            raise ConfigError(f"{where}: unknown parameter '{key}' for peer {peer.name}; "
                              f"valid: {', '.join(specs)}")
        for v in values:
            _check_value(where, specs[key], v)


def _events(where: str, t: dict, probes: tuple[str, ...]) -> bool:
    v = t.get("events", False)
    if not isinstance(v, bool):
        raise ConfigError(f"{where}: events must be true or false (unquoted), got "
                          f"{_type_name(v)} {v!r}")
    if v and "sched" not in probes:
        raise ConfigError(f"{where}: events = true needs the sched probe (the event stream "
                          f"is schedtrace's): add \"sched\" to probes, got "
                          f"[{', '.join(probes)}]")
    return v


def _parse_experiment(where: str, t: Any, run: RunSettings) -> Experiment:
    if not isinstance(t, dict):
        raise ConfigError(f"{where}: must be a table ([[experiment]])")
    _unknown_keys(where, t, EXPERIMENT_KEYS)
    peer = _peer(where, t)
    task = peer.task if peer else t.get("task")
    if not isinstance(task, str) or not task:
        raise ConfigError(f"{where}: missing 'task = \"NAME\"' (see ./schedlab list) or "
                          f"'peer = \"NAME\"' (known peers: {', '.join(peers_mod.PEERS)})")
    models = t.get("models")
    if models is not None:
        if (not isinstance(models, list) or not models
                or not all(isinstance(m, str) and m for m in models)):
            raise ConfigError(f"{where}: models must be a non-empty list of model names, "
                              "e.g. [\"threads\", \"coro\"]; omit it for every model")
        if len(set(models)) != len(models):
            raise ConfigError(f"{where}: models lists a model twice: {models}")
        models = tuple(models)
    params = t.get("params", {})
    if not isinstance(params, dict):
        raise ConfigError(f"{where}: params must be a table: [experiment.params] or "
                          "params = { key = value }")
    name = t.get("name", task)
    if not isinstance(name, str) or not name or any(c in name for c in ", =/"):
        raise ConfigError(f"{where}: name must be a word without spaces, ',', '=' or '/'")
    estimate = t.get("estimate_s")
    values = tuple((k, _param_values(where, k, v)) for k, v in params.items())
    if peer:
        _check_peer(where, peer, models, values)
    probes = _probes(where, t["probes"]) if "probes" in t else run.probes
    return Experiment(
        name=name,
        task=task,
        models=models,
        params=values,
        probes=probes,
        repetitions=_count(where, "repetitions", t.get("repetitions", run.repetitions), 1),
        timeout_s=_positive_number(where, "timeout_s", t.get("timeout_s", run.timeout_s)),
        estimate_s=None if estimate is None
        else _positive_number(where, "estimate_s", estimate),
        events=_events(where, t, probes),
        peer=peer.name if peer else None,
    )


def parse(text: str, path: str | Path = "<config>") -> Config:
    """Parse and validate a config's text (the catalog check is separate)."""
    p = Path(path)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: not valid TOML: {e}") from None
    _check_top_level(str(p), doc)
    run = _parse_run(str(p), doc.get("run", {}))
    exps = doc.get("experiment")
    if not isinstance(exps, list) or not exps:
        raise ConfigError(f"{p}: no experiments; add at least one [[experiment]] table "
                          "with task = \"NAME\"")
    experiments = []
    names: dict[str, int] = {}
    for i, t in enumerate(exps, start=1):
        label = t.get("name") or t.get("task") if isinstance(t, dict) else None
        exp = _parse_experiment(f"{p}: [[experiment]] #{i} ({label or '?'})", t, run)
        if exp.name in names:
            # Unnamed experiments of one task get numbered names.
            if isinstance(t, dict) and "name" in t:
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
        text = p.read_text()
    except OSError as e:
        raise ConfigError(f"{p}: cannot read config: {e.strerror}") from None
    return parse(text, p)


# ---- the check against `build/workload --list` -----------------------------

def _check_value(where: str, spec: dict, v: Any) -> None:
    key, typ = spec["key"], spec.get("type")
    pattern = spec.get("pattern")
    if pattern and isinstance(v, str) and not re.match(pattern, v):
        raise ConfigError(f"{where}: params.{key} = {v!r}: {spec.get('help') or pattern}")
    if typ in ("u64", "i64"):
        if isinstance(v, bool) or not isinstance(v, int):
            raise ConfigError(f"{where}: params.{key} = {v!r}: expected an integer "
                              f"({spec.get('unit') or 'count'})")
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


def resolve_models(exp: Experiment, catalog: dict | None) -> tuple[str, ...]:
    """The models an experiment runs: its own list, or every model of its task."""
    if exp.models is not None:
        return exp.models
    if exp.peer:
        return peers_mod.PEERS[exp.peer].default_models
    if catalog:
        for t in catalog.get("tasks", []):
            if t.get("name") == exp.task and t.get("models"):
                return tuple(t["models"])
    return DEFAULT_MODELS


def model_params(catalog: dict | None, model: str) -> dict[str, dict]:
    """A model's own parameters (variants of its runtime), by key."""
    for m in (catalog or {}).get("models", []):
        if m.get("name") == model:
            return {p["key"]: p for p in m.get("params", [])}
    return {}


def foreign_params(catalog: dict | None, model: str) -> set[str]:
    """Keys that other models declare and this one does not: a config that
    sweeps `mn_workers` over threads, coro and mn passes it to mn only."""
    mine = set(model_params(catalog, model))
    return {k for m in (catalog or {}).get("models", []) if m.get("name") != model
            for k in model_params(catalog, m["name"])} - mine


def check_catalog(cfg: Config, catalog: dict) -> None:
    """Check task, model and parameter names and values against --list."""
    tasks = {t["name"]: t for t in catalog.get("tasks", [])}
    models = [m["name"] for m in catalog.get("models", [])]
    for i, exp in enumerate(cfg.experiments, start=1):
        where = f"{cfg.path}: [[experiment]] #{i} ({exp.name})"
        if exp.peer:
            continue            # checked against peers.py when parsed
        if exp.task not in tasks:
            raise ConfigError(f"{where}: unknown task '{exp.task}'; valid tasks: "
                              f"{', '.join(tasks) or '(none)'}")
        for m in exp.models or ():
            if models and m not in models:
                raise ConfigError(f"{where}: unknown model '{m}'; valid models: "
                                  f"{', '.join(models)}")
        specs = {p["key"]: p for p in tasks[exp.task].get("params", [])}
        for m in resolve_models(exp, catalog):
            specs.update(model_params(catalog, m))
        for key, values in exp.params:
            if key not in specs:
                raise ConfigError(f"{where}: unknown parameter '{key}' for task {exp.task}; "
                                  f"valid: {', '.join(specs)}")
            for v in values:
                _check_value(where, specs[key], v)
