"""The runner: the only module that spawns processes.

ProcessRunner starts one command in its own session (so a timeout or a
Ctrl-C can take down the workload and every child it made, tracer and
loadgen included), captures stdout and stderr, and enforces the timeout:
SIGTERM to the process group, then SIGKILL after a grace period. Each
command also dies with the harness, even a SIGKILLed one (lifetime.py), and
`started` tells the run's lock which session is running (runlock.py).

execute() drives a whole run: it takes the planned runs (matrix.order),
skips those --resume finds done, wraps each command with its probes, and
appends one line to records.jsonl as each run finishes (fsynced: see
record.py). What a cell runs, and how its outcome becomes a record, is
its kind's (cells.py: build/workload's, or another program's); a cell whose kind
cannot run here is not started and its line says skipped, why.
Tests inject a fake runner with the same two methods, run()
and capture(), so nothing real is spawned by accident (kunit.py style).
"""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from harness.run import cells as cells_mod
from harness.run import interference
from harness.run import lifetime
from harness.run import peers as peers_mod
from harness.run import probes as probes_mod
from harness.records import history as history_mod
from harness.records import record as record_mod
from harness.records import safefs
from harness.run.config import ConfigError
from harness.run.cells import GRACE_S, EXIT_OK, EXIT_FAILED, ProcResult
from harness.run.matrix import CellPlan, RunPlan
from harness.run.progress import make as make_progress

from harness import REPO  # noqa: E402
STDERR_TAIL_LINES = 20
STDERR_TAIL_BYTES = 4000
DEFAULT_ESTIMATE_S = 3.0
EXIT_INTERRUPTED = 130   # the shell's convention for SIGINT


class ProcessRunner:
    """Spawns real processes. Everything else in the harness goes through it."""

    def __init__(self, cwd: Path = REPO, grace_s: float = GRACE_S):
        self.cwd = cwd
        # called with the session of each command started, None when it ended
        self.started: Callable[[int | None], None] | None = None
        self.grace_s = grace_s

    def capture(self, argv: list[str]) -> str | None:
        """stdout of a short command (30 s at most), or None if it is missing, fails
        or hangs."""
        try:
            p = subprocess.run(argv, cwd=self.cwd, capture_output=True, text=True,
                               timeout=30, errors="replace",
                               preexec_fn=lifetime.die_with_parent())
        except (OSError, subprocess.TimeoutExpired):
            return None
        return p.stdout if p.returncode == 0 else None

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def _kill(self, proc: subprocess.Popen, sig: int) -> None:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass

    def _stop(self, proc: subprocess.Popen, wait):
        """SIGTERM to the group, SIGKILL if it outlives the grace period; what wait() returns."""
        self._kill(proc, signal.SIGTERM)
        try:
            return wait(timeout=self.grace_s)
        except subprocess.TimeoutExpired:
            self._kill(proc, signal.SIGKILL)
            return wait()

    def run(self, argv: list[str], timeout_s: float) -> ProcResult:
        before = interference.snapshot()
        t0 = time.monotonic()
        try:
            proc = subprocess.Popen(argv, cwd=self.cwd, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    start_new_session=True,
                                    preexec_fn=lifetime.die_with_parent())
        except OSError as e:
            return ProcResult(None, "", "", time.monotonic() - t0,
                              error=f"cannot start {argv[0]}: {e.strerror}")
        timed_out = False
        if self.started:
            self.started(proc.pid)      # a session leader: its pid is the session's id
        try:
            try:
                out, err = proc.communicate(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                timed_out = True
                out, err = self._stop(proc, proc.communicate)
        except BaseException:
            # Ctrl-C (or any error) while waiting: leave nothing running.
            self._stop(proc, proc.wait)
            raise
        # The session may still hold grandchildren that ignored the end of
        # their parent; a cell must not leak into the next one. The group id
        # is the leader's pid, just reaped: reuse of that pid as a new group
        # leader within microseconds is not a practical risk.
        self._kill(proc, signal.SIGKILL)
        after = interference.snapshot()
        if self.started:
            self.started(None)
        return ProcResult(proc.returncode, out.decode("utf-8", "replace"),
                          err.decode("utf-8", "replace"), time.monotonic() - t0,
                          timed_out=timed_out, cpu_window=(before, after))


# ---- before the first run: the workload's own checks -------------------------

def check_cells(cells: list[CellPlan], workload: str, catalog: dict | None, where: str,
                cwd: Path = REPO) -> None:
    """Every cell of build/workload through `workload --check -` (when its
    --list says it has one), all in one process: the rules across parameters
    live in the workload alone, and a config is refused with the workload's
    own line, exit 2, before anything runs. A check that cannot run is left
    to the run, which records what happens."""
    cells = [c for c in cells if not peers_mod.serving(c.task, c.model)]
    if not cells or not (catalog or {}).get("check"):
        return
    kind = cells_mod.WorkloadCells(workload)
    lines = ["\t".join(kind.command(c)[1:]) + "\n" for c in cells]
    try:
        p = subprocess.run([workload, "--check", "-"], cwd=cwd, input="".join(lines),
                           capture_output=True, text=True, errors="replace", timeout=120,
                           preexec_fn=lifetime.die_with_parent())
    except (OSError, subprocess.TimeoutExpired):
        return
    for cell, answer in zip(cells, p.stdout.splitlines()):
        if answer != "ok":
            raise ConfigError(f"{where}: experiment '{cell.experiment}', cell {cell.id}: "
                              f"{answer.removeprefix('workload: ')}")


# ---- one run -> one line -----------------------------------------------------

def stderr_tail(text: str) -> str:
    return "\n".join(text.rstrip("\n").splitlines()[-STDERR_TAIL_LINES:])[-STDERR_TAIL_BYTES:]


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def make_line(run: RunPlan, command: list[str], cwd: Path, started_at: str, res: ProcResult,
              probes: dict, probes_skipped: dict, seed: int, outcome: cells_mod.Outcome,
              tags: dict | None = None) -> dict:
    """One records.jsonl line. outcome: (record, status, reason) from the
    cell's kind; tags: the fields that name the kind (cells.py)."""
    cell = run.cell
    rec, status, reason = outcome
    line = {
        "schema": record_mod.LINE_SCHEMA,
        "cell": cell.id,
        "experiment": cell.experiment,
        "task": cell.task,
        "model": cell.model,
        "params": dict(cell.params),
        "repetition": run.repetition,
        "run_seed": seed,
        "started_at": started_at,
        "duration_s": round(res.duration_s, 6),
        "command": command,
        "cwd": str(cwd),
        "exit_status": res.exit_status,
        "status": status.value,
        "reason": reason,
        "record": rec,
        "probes": probes,
        "probes_skipped": probes_skipped,
        "stderr_tail": stderr_tail(res.stderr),
        **(tags or {}),
    }
    if res.cpu_window:
        line["interference"] = interference.measure(
            *res.cpu_window, interference.run_cpus(cell.params_dict), interference.user_hz())
    return line


# ---- estimates -----------------------------------------------------------------

def previous_durations(results_root: Path) -> dict[str, list[float]]:
    """duration_s of every ok line in recent runs under results_root (history.py);
    what it had to skip is one note on stderr."""
    found, notes = history_mod.previous_durations(results_root)
    if notes:
        more = f" and {len(notes) - 1} more" if len(notes) > 1 else ""
        print(f"schedlab: note: estimates skip {notes[0]}{more}", file=sys.stderr)
    return found


def estimate(cell: CellPlan, history: dict[str, list[float]]) -> tuple[float, str]:
    """Seconds one run of the cell should take, and where the figure comes from."""
    if history.get(cell.id):
        return statistics.median(history[cell.id]), "previous runs"
    if cell.estimate_s:
        return min(cell.estimate_s, cell.timeout_s), "config estimate_s"
    return min(DEFAULT_ESTIMATE_S, cell.timeout_s), "default guess"


def _in_run_dir(path: Path, run_dir: Path) -> str:
    """A file the line names: relative to the run directory when inside it,
    so the directory can move."""
    return str(path.relative_to(run_dir) if path.is_relative_to(run_dir) else path)


def _warmup_file(run_dir: Path, needed: bool):
    if needed:
        return safefs.open_append(run_dir / "warmup.jsonl")
    return contextlib.nullcontext(None)


def _run_one(run: RunPlan, kind: cells_mod.CellKind, tools: probes_mod.Tools, runner,
             run_dir: Path, seed: int) -> tuple[dict, ProcResult]:
    """One planned run with its probes (not started when its kind cannot run
    here), and its line."""
    cell = run.cell
    name = probes_mod.slug(cell.id) + (
        f".w{-run.repetition}" if run.warmup else f".r{run.repetition}")
    # The event stream is for measured runs: a warm-up's would only
    # fill the disk (it can be hundreds of MB).
    wrapped = probes_mod.wrap(kind.command(cell), cell.probes, tools,
                              run_dir / "traces", name, events=cell.events and not run.warmup)
    why_not = kind.unavailable(cell)
    started = utc_now()
    if why_not:
        res = ProcResult(None, "", "", 0.0)
        found, skipped = {}, {p: f"cell not run: {why_not}" for p in cell.probes}
        outcome = kind.outcome(cell, None)
    else:
        res = runner.run(wrapped.command, cell.timeout_s)
        found, skipped = probes_mod.collect(wrapped)
        outcome = kind.outcome(cell, res)
    line = make_line(run, wrapped.command, getattr(runner, "cwd", REPO), started, res, found,
                     skipped, seed, outcome, kind.tags)
    events = None if why_not else probes_mod.events_file(wrapped)
    if events is not None:
        line["events"] = _in_run_dir(events, run_dir)
    if wrapped.outputs and not why_not:
        line["probe_files"] = {tool: _in_run_dir(path, run_dir)
                               for tool, path in wrapped.outputs.items()}
    if run.warmup:
        line["repetition"] = 0
        line["warmup_index"] = -run.repetition - 1
    return line, res


# ---- a whole run -----------------------------------------------------------------

@dataclass
class Outcome:
    exit_code: int
    ran: int
    skipped_done: int
    statuses: dict[str, int] = field(default_factory=dict)
    interrupted: bool = False


def execute(runs: list[RunPlan], run_dir: Path, workload: str, tools: probes_mod.Tools,
            runner, seed: int, cooldown_s: float = 0.0,
            history: dict[str, list[float]] | None = None, resume_hint: str = "") -> Outcome:
    """Run every planned run not yet in records.jsonl; append a line for each.
    workload: build/workload's path (cells.resolver picks each cell's kind).

    Warm-up runs (repetition < 0) go to warmup.jsonl, never to records.jsonl.
    """
    kind_of = cells_mod.resolver(workload, tools)
    records = run_dir / "records.jsonl"
    record_mod.repair(records)
    existing, _ = record_mod.load(records)
    done = record_mod.done_pairs(existing)
    todo = [r for r in runs if r.warmup or r.key not in done]
    # Warm-up of a cell whose measured runs are all done is pointless.
    pending_cells = {r.cell.id for r in todo if not r.warmup}
    todo = [r for r in todo if not r.warmup or r.cell.id in pending_cells]
    history = history or {}
    est = {r.cell.id: estimate(r.cell, history)[0] for r in todo}
    progress = make_progress(len(todo), sum(est[r.cell.id] for r in todo))
    outcome = Outcome(EXIT_OK, ran=0, skipped_done=len(runs) - len(todo))
    try:
        with safefs.open_append(records) as rec_fp, \
                _warmup_file(run_dir, any(r.warmup for r in todo)) as warm_fp:
            for i, run in enumerate(todo):
                if i and cooldown_s:
                    runner.sleep(cooldown_s)
                label = f"{run.cell.id} #{'warmup' if run.warmup else run.repetition}"
                progress.start(label)
                line, res = _run_one(run, kind_of(run.cell), tools, runner, run_dir, seed)
                if run.warmup:
                    record_mod.append_line(warm_fp, line)
                else:
                    record_mod.append_line(rec_fp, line)
                    outcome.ran += 1
                progress.finish(label, line["status"], res.duration_s, est[run.cell.id],
                                line["reason"])
    except KeyboardInterrupt:
        outcome.interrupted = True
    except safefs.DiskFull as e:
        progress.close()
        print(f"schedlab: {e}; {outcome.ran} run(s) kept in {records}; free space, then "
              f"resume with: {resume_hint or './schedlab run --resume ' + str(run_dir)}",
              file=sys.stderr, flush=True)
        outcome.exit_code = EXIT_FAILED
        return outcome
    finally:
        progress.close()
    lines, problems = record_mod.load(records)
    wanted = {r.key for r in runs if not r.warmup}
    outcome.statuses = dict(Counter(ln.get("status", "failed") for ln in lines
                                    if (ln["cell"], ln["repetition"]) in wanted))
    summary = ", ".join(f"{n} {s}" for s, n in sorted(outcome.statuses.items()))
    if outcome.interrupted:
        print(f"interrupted: {outcome.ran} run(s) done in this session, records kept in "
              f"{records}; resume with: {resume_hint or './schedlab run --resume ' + str(run_dir)}",
              file=sys.stderr, flush=True)
        outcome.exit_code = EXIT_INTERRUPTED
        return outcome
    bad = outcome.statuses.get("failed", 0) + outcome.statuses.get("timeout", 0)
    outcome.exit_code = EXIT_FAILED if bad else EXIT_OK
    print(f"done: {summary or 'nothing to run'} -> {records}", file=sys.stderr, flush=True)
    return outcome


def describe_estimate(runs: list[RunPlan], history: dict[str, list[float]],
                      cooldown_s: float) -> tuple[float, float]:
    """(expected seconds, worst case seconds at every timeout) for a plan."""
    total = sum(estimate(r.cell, history)[0] for r in runs)
    worst = sum(r.cell.timeout_s + GRACE_S for r in runs)
    gaps = cooldown_s * max(0, len(runs) - 1)
    return total + gaps, worst + gaps
