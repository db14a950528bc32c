"""Progress of a run: a rich bar on a terminal, plain lines otherwise.

Time left is the sum of the estimates of the runs not done yet, each
estimate corrected by how far the finished runs were off their own
estimates (a run that goes twice as slow as predicted doubles the rest).
Output goes to stderr: stdout stays clean for whatever a user pipes.
"""

from __future__ import annotations

import sys
from typing import IO


def fmt_duration(s: float) -> str:
    s = max(0, int(round(s)))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    if h:
        return f"{h}h{m:02d}m"
    if m:
        return f"{m}m{sec:02d}s"
    return f"{sec}s"


class Progress:
    """Plain-line progress; subclassed by the rich display."""

    def __init__(self, total: int, estimate_s: float, stream: IO[str] | None = None):
        self.total = total
        self.done = 0
        self.remaining_est_s = estimate_s
        self.spent_s = 0.0
        self.spent_est_s = 0.0
        self.stream = stream or sys.stderr

    def time_left_s(self) -> float:
        scale = self.spent_s / self.spent_est_s if self.spent_est_s > 0 else 1.0
        return self.remaining_est_s * scale

    def start(self, label: str) -> None:
        pass

    def _count(self, duration_s: float, estimate_s: float) -> None:
        """One run done: what it took against what it was expected to take."""
        self.done += 1
        self.spent_s += duration_s
        self.spent_est_s += estimate_s
        self.remaining_est_s = max(0.0, self.remaining_est_s - estimate_s)

    def finish(self, label: str, status: str, duration_s: float, estimate_s: float,
               reason: str | None = None) -> None:
        self._count(duration_s, estimate_s)
        why = f" ({reason})" if reason and status != "ok" else ""
        print(f"[{self.done}/{self.total}] {label}: {status} {duration_s:.1f}s{why}, "
              f"about {fmt_duration(self.time_left_s())} left", file=self.stream, flush=True)

    def close(self) -> None:
        pass


class RichProgress(Progress):
    def __init__(self, total: int, estimate_s: float, stream: IO[str] | None = None):
        super().__init__(total, estimate_s, stream)
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress as RP,
                                   TextColumn)

        self.console = Console(file=self.stream)
        self.bar = RP(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("{task.fields[left]}"), console=self.console,
                      transient=False)
        self.task = self.bar.add_task("starting", total=total, left="")
        self.bar.start()

    def start(self, label: str) -> None:
        self.bar.update(self.task, description=label[:60],
                        left=f"~{fmt_duration(self.time_left_s())} left")

    def finish(self, label, status, duration_s, estimate_s, reason=None) -> None:
        self._count(duration_s, estimate_s)
        if status != "ok":
            why = f": {reason}" if reason else ""
            self.console.print(f"{label}: {status}{why}", markup=False, highlight=False)
        self.bar.update(self.task, advance=1,
                        left=f"~{fmt_duration(self.time_left_s())} left")

    def close(self) -> None:
        self.bar.stop()


def make(total: int, estimate_s: float, stream: IO[str] | None = None) -> Progress:
    """Rich when the stream is a terminal and rich is installed, else plain lines."""
    s = stream or sys.stderr
    if s.isatty():
        try:
            return RichProgress(total, estimate_s, s)
        except ImportError:
            pass
    return Progress(total, estimate_s, s)
