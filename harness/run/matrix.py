"""The matrix: experiments -> cells -> the ordered list of process runs.

A cell is one task x model x parameter combination. Its id,
"task/model/k=v,k=v", names every parameter the config set (fixed or swept),
in config order; parameters left at the workload's default are not in it.
The id is what records.jsonl lines, --resume and the report group by.

Order: repetition rounds, each a fresh shuffle of every cell that still has
repetitions left. Cells of a comparison are therefore interleaved (noise
comes in clusters on this kind of machine: docs/kernel-notes.md), every round holds
each cell once, and an interrupted run is balanced across cells. The
shuffle uses random.Random(seed), so a seed reproduces the order exactly.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass
from typing import Any, Iterable

from harness.run.catalog import Listing
from harness.run.config import Config, ConfigError, format_value, resolve_models

# What one run may hold. A config beyond them is a typo (repetitions =
# 100000000), refused before anything is built in memory: the counts are
# multiplied out first, the cells and runs made only when they fit.
MAX_CELLS = 100_000
MAX_RUNS = 1_000_000


@dataclass(frozen=True)
class CellPlan:
    id: str
    experiment: str
    task: str
    model: str
    params: tuple[tuple[str, Any], ...]     # config order
    probes: tuple[str, ...]
    repetitions: int
    timeout_s: float
    estimate_s: float | None = None
    events: bool = False            # schedtrace --events stream for each measured run

    @property
    def params_dict(self) -> dict[str, Any]:
        return dict(self.params)


@dataclass(frozen=True)
class RunPlan:
    """One process run of one cell. warmup runs are discarded (rep < 0 never
    reaches records.jsonl; their index counts down from -1)."""

    cell: CellPlan
    repetition: int

    @property
    def key(self) -> tuple[str, int]:
        return (self.cell.id, self.repetition)

    @property
    def warmup(self) -> bool:
        return self.repetition < 0


def cell_id(task: str, model: str, params: Iterable[tuple[str, Any]]) -> str:
    return f"{task}/{model}/" + ",".join(f"{k}={format_value(v)}" for k, v in params)


def expand(cfg: Config, listing: Listing | None = None) -> list[CellPlan]:
    """Every cell of every experiment, in config order, duplicates merged.

    A cell produced by two experiments runs once, with the larger number of
    repetitions; if the two ask for different probes it is an error (the
    lines could not tell which instrument ran).
    """
    listing = listing or Listing(None)
    cells: dict[str, CellPlan] = {}
    planned = sum(math.prod(len(vals) for _, vals in exp.params) * len(resolve_models(exp, listing))
                  for exp in cfg.experiments)
    if planned > MAX_CELLS:
        raise ConfigError(f"{cfg.path}: the parameter lists multiply out to {planned:,} cells, "
                          f"more than the {MAX_CELLS:,} a run may hold; shorten the lists or "
                          "split the config")
    for exp in cfg.experiments:
        for model in resolve_models(exp, listing):
            foreign = listing.foreign_params(model)
            swept = [(k, vals) for k, vals in exp.params if k not in foreign]
            keys = [k for k, _ in swept]
            for combo in itertools.product(*(vals for _, vals in swept)):
                params = tuple(zip(keys, combo))
                cid = cell_id(exp.task, model, params)
                cell = CellPlan(id=cid, experiment=exp.name, task=exp.task, model=model,
                                params=params, probes=exp.probes,
                                repetitions=exp.repetitions, timeout_s=exp.timeout_s,
                                estimate_s=exp.estimate_s, events=exp.events)
                old = cells.get(cid)
                if old is None:
                    cells[cid] = cell
                    continue
                if set(old.probes) != set(cell.probes) or old.events != cell.events:
                    raise ConfigError(
                        f"{cfg.path}: cell {cid} is in experiments '{old.experiment}' and "
                        f"'{exp.name}' with different probes or events; give them the same "
                        "probes and events or set a parameter that tells them apart")
                if cell.repetitions > old.repetitions:
                    cells[cid] = CellPlan(**{**old.__dict__, "repetitions": cell.repetitions})
    return list(cells.values())


def order(cells: list[CellPlan], seed: int, shuffle: bool = True,
          warmup_runs: int = 0) -> list[RunPlan]:
    """Warm-up runs first (one round per warm-up), then the measured rounds."""
    total = sum(c.repetitions + warmup_runs for c in cells)
    if total > MAX_RUNS:
        raise ConfigError(f"{len(cells):,} cells x their repetitions and warm-up runs make "
                          f"{total:,} process runs, more than the {MAX_RUNS:,} a run may hold; "
                          "lower repetitions or split the config")
    rng = random.Random(seed)

    def round_of(batch: list[CellPlan]) -> list[CellPlan]:
        if shuffle:
            rng.shuffle(batch)
        return batch
    rounds = max((c.repetitions for c in cells), default=0)
    return ([RunPlan(c, -1 - w) for w in range(warmup_runs) for c in round_of(list(cells))]
            + [RunPlan(c, r) for r in range(rounds)
               for c in round_of([c for c in cells if c.repetitions > r])])


def parse_only(text: str) -> dict[str, set[str]]:
    """"task=echo,model=uring" -> {"task": {"echo"}, "model": {"uring"}}.

    A key given twice accepts either value (model=coro,model=uring).
    """
    out: dict[str, set[str]] = {}
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        k, sep, v = item.partition("=")
        if not sep or not k or not v:
            raise ConfigError(f"--only: '{item}' is not KEY=VALUE (e.g. task=pingpong,"
                              "model=coro)")
        out.setdefault(k.strip(), set()).add(v.strip())
    return out


def matches(cell: CellPlan, only: dict[str, set[str]]) -> bool:
    """Whether every key of --only has one of its values in the cell; a key
    the cell does not have (a parameter it leaves at the default) does not."""
    have = {**{k: format_value(v) for k, v in cell.params}, "task": cell.task,
            "model": cell.model, "experiment": cell.experiment, "cell": cell.id}
    return all(have.get(k) in wanted for k, wanted in only.items())


def select(cells: list[CellPlan], only: dict[str, set[str]]) -> list[CellPlan]:
    if not only:
        return cells
    picked = [c for c in cells if matches(c, only)]
    if not picked:
        spec = ",".join(f"{k}={v}" for k, vs in only.items() for v in sorted(vs))
        raise ConfigError(f"--only {spec}: no cell matches; keys are task, model, experiment, "
                          "cell or a parameter the config sets (see --dry-run)")
    return picked
