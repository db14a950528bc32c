"""What runs a cell, and how its outcome becomes a record.

A cell is task x model x parameters. Most are build/workload's; a peer (a
program we did not write the runtime of: perf bench, other runtimes' echo
servers, Go) serves the (task, model) pairs it declares (peers.py). Both
kinds answer the same three questions for the runner, which asks them
without knowing which kind it holds:

    command(cell)       the argv to run (before probes wrap it)
    unavailable(cell)   why it cannot run here at all (not started), or None
    outcome(cell, res)  (record, status, reason) of a finished run; res None:
                        it was unavailable, and the record says skipped, why

and `tags`, the fields a records.jsonl line carries to name the kind
({"peer": NAME} for a peer's cells). resolver() is the one place that picks
the kind of a cell.
"""

from __future__ import annotations

import json
import signal
from dataclasses import dataclass, field
from enum import Enum
from typing import Callable, Protocol

from harness.run import peers as peers_mod
from harness.run.config import format_value
from harness.run.matrix import CellPlan
from harness.run.probes import Tools

GRACE_S = 5.0       # SIGTERM to SIGKILL, for a cell that outlives its timeout
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_SKIPPED = 0, 1, 2, 77


class Status(Enum):
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"
    TIMEOUT = "timeout"


@dataclass
class ProcResult:
    exit_status: int | None        # negative: killed by that signal; None: never started
    stdout: str
    stderr: str
    duration_s: float
    timed_out: bool = False
    error: str | None = None       # why it could not start
    # /proc/stat and CPU times just before the start and just after the reap
    # (interference.py); None when the runner did not take them
    cpu_window: tuple | None = None


Outcome = tuple[dict | None, Status, str | None]


class CellKind(Protocol):
    tags: dict

    def command(self, cell: CellPlan) -> list[str]: ...

    def unavailable(self, cell: CellPlan) -> str | None: ...

    def outcome(self, cell: CellPlan, res: ProcResult | None) -> Outcome: ...


def parse_record(stdout: str) -> dict | None:
    """The workload's record: the last stdout line that is a JSON object."""
    for line in reversed(stdout.strip().splitlines()):
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            return None
        return obj if isinstance(obj, dict) else None
    return None


def _signal_name(n: int) -> str:
    try:
        return signal.Signals(n).name
    except ValueError:
        return f"signal {n}"


def classify(res: ProcResult, rec: dict | None, timeout_s: float) -> tuple[Status, str | None]:
    """The line's status and reason from the exit status and the record."""
    last_err = (res.stderr.strip().splitlines() or [""])[-1].strip()
    rec_reason = rec.get("reason") if rec else None
    if res.timed_out:
        return Status.TIMEOUT, (f"timed out after {timeout_s:g}s (SIGTERM, SIGKILL after "
                                f"{GRACE_S:g}s more)")
    if res.error:
        return Status.FAILED, res.error
    code = res.exit_status
    if code == EXIT_OK:
        if rec is None:
            return Status.FAILED, "exit status 0 but no JSON record on stdout"
        if rec.get("status") != "ok":
            return Status.FAILED, (f"exit status 0 but record status {rec.get('status')!r}: "
                                   f"{rec_reason}")
        return Status.OK, None
    if code == EXIT_SKIPPED:
        return Status.SKIPPED, rec_reason or last_err or "skipped (exit 77) without a reason"
    if code is not None and code < 0:
        return Status.FAILED, (f"killed by {_signal_name(-code)}"
                               + (f": {last_err}" if last_err else ""))
    why = rec_reason or last_err or "no reason given"
    return Status.FAILED, f"exit status {code}: {why}"


@dataclass
class WorkloadCells:
    """build/workload TASK --model MODEL --KEY VALUE ...: one record on stdout."""

    workload: str
    tags: dict = field(default_factory=dict)

    def command(self, cell: CellPlan) -> list[str]:
        cmd = [self.workload, cell.task, "--model", cell.model]
        for k, v in cell.params:
            cmd += [f"--{k}", format_value(v)]
        return cmd

    def unavailable(self, cell: CellPlan) -> str | None:
        return None     # the binary says so itself (exit 77 and the reason)

    def outcome(self, cell: CellPlan, res: ProcResult | None) -> Outcome:
        rec = parse_record(res.stdout)
        status, reason = classify(res, rec, cell.timeout_s)
        return rec, status, reason


@dataclass
class PeerCells:
    """A peer's command under the pinning shim; its output parsed into a
    record shaped like the workload's (peers.py)."""

    peer: peers_mod.Peer
    tools: Tools                       # perf's path, or why it is missing
    tags: dict = field(default_factory=dict)

    def __post_init__(self):
        self.tags = {"peer": self.peer.name}

    def command(self, cell: CellPlan) -> list[str]:
        return peers_mod.command(self.peer, cell.model, cell.params_dict, self.tools.perf)

    def unavailable(self, cell: CellPlan) -> str | None:
        return peers_mod.unavailable(self.peer, self.tools.perf_missing)

    def outcome(self, cell: CellPlan, res: ProcResult | None) -> Outcome:
        if res is None:
            why = self.unavailable(cell)
            return (peers_mod.record(self.peer, cell.model, cell.params_dict, "skipped", why),
                    Status.SKIPPED, why)
        if res.timed_out or res.error:
            status, reason = classify(res, None, cell.timeout_s)
            return None, status, reason
        rec = peers_mod.make_record(self.peer, cell.model, cell.params_dict, res.exit_status,
                                    res.stdout, res.stderr)
        return rec, Status(rec["status"]), rec["reason"]


def resolver(workload: str, tools: Tools) -> Callable[[CellPlan], CellKind]:
    """cell -> what runs it: the peer that serves its (task, model), else the workload."""
    def kind_of(cell: CellPlan) -> CellKind:
        peer = peers_mod.serving(cell.task, cell.model)
        return PeerCells(peer, tools) if peer else WorkloadCells(workload)
    return kind_of
