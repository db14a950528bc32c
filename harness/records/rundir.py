"""Read a results directory for the report, compare and trace commands.

A run killed mid-write leaves a truncated last line; a newer harness may
write lines of a newer schema. Neither may stop a report: record.load keeps
every valid line and lists each line it skipped with the reason, so the
report can say what it left out.

A line's probes, and whether a cell is traced, are answered here and
nowhere else (line_probes, CellResults.probes): a cell is traced when its
config asked for any probe, attached or not, so two runs of one config mark
the same cells.

Lines are grouped into cells. A cell traced with USDT probes pays about
0.75 us per probe hit (docs/kernel-notes.md), which dwarfs a coroutine switch, so its
timings are kept in a cell of their own (id suffixed " [usdt]") and are
never pooled with untraced repetitions.
"""

from __future__ import annotations

import json
import math
import re
import statistics
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.records import record

USDT_SUFFIX = " [usdt]"
# [run] max_interference when the config does not set it: the median share
# of a cell's CPUs that may go to other work before its rows stop deciding
# (docs/interference.md, docs/verdicts.md). Above the 0.13 that kernel
# threads working for a run (loopback softirqs, io_uring's ring teardown)
# showed on a quiet machine; below the 0.5 of another job holding one CPU
# of two.
MAX_INTERFERENCE = 0.25


class RunDirError(Exception):
    """The path is not a results directory at all."""


@dataclass
class CellResults:
    """Every repetition of one experiment cell (task x model x params)."""

    id: str
    task: str
    model: str
    params: dict[str, Any]
    id_params: dict[str, Any] = field(default_factory=dict)
    traced_usdt: bool = False
    lines: list[dict] = field(default_factory=list)

    @property
    def probes(self) -> list[str]:
        """The probes requested for the cell's runs, attached or not."""
        names = {p for ln in self.lines for p in line_probes(ln)}
        return sorted(names | ({"usdt"} if self.traced_usdt else set()))

    @property
    def traced(self) -> bool:
        """Whether any probe was asked for: such a cell never feeds a verdict."""
        return bool(self.probes)

    @property
    def ok_lines(self) -> list[dict]:
        return [ln for ln in self.lines if ln.get("status") == "ok"]

    @property
    def statuses(self) -> dict[str, int]:
        return dict(Counter(ln.get("status") for ln in self.lines))

    def reasons(self) -> list[str]:
        """Why repetitions were skipped or failed, each reason once."""
        seen: list[str] = []
        for ln in self.lines:
            if ln.get("status") == "ok":
                continue
            rec = ln.get("record") or {}
            why = rec.get("reason") or (ln.get("stderr_tail") or "").strip()
            why = why.splitlines()[-1] if why else f"exit status {ln.get('exit_status')}"
            if why not in seen:
                seen.append(why)
        return seen

    def values(self, metric: str) -> list[float]:
        """One value per ok repetition; see metric_value for the syntax."""
        return [v for ln in self.ok_lines if (v := metric_value(ln, metric)) is not None]

    def _interference_measured(self) -> list[dict]:
        """The interference objects of the ok runs that measured a share."""
        return [ln["interference"] for ln in self.ok_lines
                if isinstance((ln.get("interference") or {}).get("others_share"), (int, float))]

    def interference(self) -> tuple[float | None, str]:
        """The median share of the cell's CPUs that went to other work over
        its ok runs (the lines' interference.others_share), and those CPUs;
        (None, "") when no run measured it (lines from before the field)."""
        found = self._interference_measured()
        if not found:
            return None, ""
        cpus = {str(f.get("cpus", "")) for f in found}
        return (statistics.median(f["others_share"] for f in found),
                cpus.pop() if len(cpus) == 1 else ", ".join(sorted(cpus)))

    def interference_resolution(self) -> float:
        """How finely the runs' others_share is known: the median over its
        ok runs of one USER_HZ tick over the run's wall time (a 0.02 s run
        on 10 ms ticks knows its share to about 0.5); 0 when the lines do
        not say."""
        res = [f["resolution_s"] / f["wall_s"] for f in self._interference_measured()
               if isinstance(f.get("resolution_s"), (int, float))
               and isinstance(f.get("wall_s"), (int, float)) and f["wall_s"] > 0]
        return statistics.median(res) if res else 0.0

    def distributions(self, metric: str) -> list[dict]:
        """The distribution objects {n, p50, ...} of every ok repetition."""
        dists = [((ln.get("record") or {}).get("metrics") or {}).get(metric)
                 for ln in self.ok_lines]
        return [d for d in dists if isinstance(d, dict) and "p50" in d]


@dataclass
class RunDir:
    path: Path
    env: dict | None
    config_text: str | None
    lines: list[dict]
    skipped: list[record.Skipped]
    problems: list[str]
    meta: dict | None = None        # run.json: seed, started_at, planned_runs
    repeated: list[str] = field(default_factory=list)  # (cell, repetition) seen twice

    def cells(self) -> list[CellResults]:
        return group_cells(self.lines)

    @property
    def max_interference(self) -> float:
        """[run] max_interference of the run's own config.toml (checked when
        the run started), else MAX_INTERFERENCE."""
        try:
            value = tomllib.loads(self.config_text or "").get("run", {}).get("max_interference")
        except tomllib.TOMLDecodeError:
            value = None
        return float(value) if isinstance(value, (int, float)) else MAX_INTERFERENCE


_OPERATOR = re.compile(r"\s*([*/+])\s*")


def metric_value(line: dict, expr: str) -> float | None:
    """A number from a line; None when absent, not a finite number, or a
    division by zero.

    Names: "handoff_ns" a scalar metric, "lateness_ns.p99" a field of a
    distribution, "usage.user_ns" a usage field, "params.hogs" a parameter
    as run, "probes.schedtrace.totals.involuntary_switches" any path of the
    line itself; and number literals. They join with + * /, where * and /
    bind tighter: "usage.involuntary_switches*1e9/params.hogs/window_ns".
    """
    total = 0.0
    for term in expr.split("+"):
        parts = _OPERATOR.split(term.strip())
        val = _operand(line, parts[0])
        for op, name in zip(parts[1::2], parts[2::2]):
            rhs = _operand(line, name)
            if val is None or rhs is None or (op == "/" and rhs == 0):
                return None
            val = val * rhs if op == "*" else val / rhs
        if val is None:
            return None
        total += val
    return total if math.isfinite(total) else None


def _operand(line: dict, name: str) -> float | None:
    try:
        return float(name)
    except ValueError:
        pass
    rec = line.get("record") or {}
    keys = name.split(".")
    node: Any = {"probes": line, "usage": rec, "params": rec}.get(
        keys[0], rec.get("metrics") or {})
    for k in keys:
        if not isinstance(node, dict) or k not in node:
            return None
        node = node[k]
    if isinstance(node, bool) or not isinstance(node, (int, float)):
        return None
    return float(node)


def parse_cell_id(cell: str) -> tuple[str, str, dict[str, Any]]:
    """"task/model/k=v,k=v" -> (task, model, {k: v}) with numbers as numbers."""
    parts = cell.split("/", 2)
    task = parts[0]
    model = parts[1] if len(parts) > 1 else "?"
    params: dict[str, Any] = {}
    if len(parts) > 2 and parts[2]:
        for kv in parts[2].split(","):
            k, _, v = kv.partition("=")
            params[k] = coerce(v)
    return task, model, params


def coerce(v: Any) -> Any:
    if not isinstance(v, str):
        return v
    if v in ("true", "false"):
        return v == "true"
    for conv in (int, float):
        try:
            return conv(v)
        except ValueError:
            pass
    return v


def line_probes(line: dict) -> dict[str, dict]:
    """Each probe the line's run asked for: {"attached": bool, "reason": why
    not or None}. From the tracer's own document (its probes, requested or
    not), perf's counters, and probes_skipped (the runner could not attach
    them at all; "events" there is the event stream, not a probe)."""
    out: dict[str, dict] = {}
    for name, why in (line.get("probes_skipped") or {}).items():
        if name != "events":
            out[name] = {"attached": False, "reason": why}
    probes = line.get("probes") or {}
    if probes.get("perf"):
        out["perf"] = {"attached": True, "reason": None}
    tracer = (probes.get("schedtrace") or {}).get("probes") or {}
    for name, p in tracer.items():
        if isinstance(p, dict) and (p.get("requested") or p.get("attached")):
            out[name] = {"attached": bool(p.get("attached")), "reason": p.get("reason")}
    return out


def is_usdt_traced(line: dict) -> bool:
    return bool(line_probes(line).get("usdt", {}).get("attached"))


def group_cells(lines: list[dict]) -> list[CellResults]:
    cells: dict[str, CellResults] = {}
    for ln in lines:
        cid = str(ln.get("cell") or "")
        rec = ln.get("record") or {}
        task, model, id_params = parse_cell_id(cid)
        task = rec.get("task") or task
        model = rec.get("model") or model
        # The record's params are what actually ran; the cell id only names
        # the swept ones. Keep the id's order, add the rest.
        params = dict(id_params)
        for k, v in (rec.get("params") or {}).items():
            params.setdefault(k, coerce(v))
        traced = is_usdt_traced(ln)
        key = cid + (USDT_SUFFIX if traced else "")
        if key not in cells:
            # The swept parameters (id_params) pair cells across models;
            # the full params as run answer filters such as cpus=0.
            cells[key] = CellResults(id=key, task=task, model=model, params=params,
                                     id_params=id_params, traced_usdt=traced)
        cells[key].lines.append(ln)
    return sorted(cells.values(), key=lambda c: c.id)


def load_run(path: str | Path) -> RunDir:
    """Read a results directory; raise RunDirError only when it is not one."""
    p = Path(path)
    if not p.is_dir():
        raise RunDirError(f"{p}: not a directory")
    rec_path = p / "records.jsonl"
    if not rec_path.is_file():
        raise RunDirError(f"{p}: not a run directory (no records.jsonl; "
                          "make one with ./schedlab run CONFIG)")
    problems: list[str] = []
    env = _json_file(p / "env.json", "environment not shown", problems)
    if env is None and not (p / "env.json").is_file():
        problems.append("env.json missing; environment not shown")
    cfg = p / "config.toml"
    config_text = cfg.read_text(errors="replace") if cfg.is_file() else None
    lines, skipped = record.load(rec_path)
    lines, repeated = unique_runs(lines)
    problems += [f"records.jsonl: {r}; counted once (the last line)" for r in repeated]
    meta = _json_file(p / "run.json", "planned runs unknown", problems)
    return RunDir(path=p, env=env, config_text=config_text, lines=lines,
                  skipped=skipped, problems=problems, meta=meta, repeated=repeated)


def _json_file(path: Path, lost: str, problems: list[str]) -> dict | None:
    """A run directory's JSON file, or None (absent, or unreadable: then a
    problem saying what the report loses)."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        problems.append(f"{path.name} unreadable ({e}); {lost}")
        return None


def unique_runs(lines: list[dict]) -> tuple[list[dict], list[str]]:
    """One line per (cell, repetition): a line written twice for one run
    (a resume that re-ran it, two writers) would count that run twice. The
    last line wins, at the place of the first; each repeat is named."""
    seen: dict[tuple, int] = {}
    out: list[dict] = []
    counts: Counter = Counter()
    for ln in lines:
        key = (str(ln.get("cell")), ln.get("repetition"), is_usdt_traced(ln))
        counts[key] += 1
        if key in seen:
            out[seen[key]] = ln
        else:
            seen[key] = len(out)
            out.append(ln)
    repeated = [f"{cell} repetition {rep} appears {n} times"
                for (cell, rep, _), n in counts.items() if n > 1]
    return out, repeated
