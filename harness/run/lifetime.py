"""Nothing a run starts outlives it.

Every command the runner starts leads a session of its own (so a timeout or
a Ctrl-C takes down it and everything it made, tracer, perf and loadgen
included) and gets PR_SET_PDEATHSIG: when the harness dies, even by
SIGKILL, which runs none of its clean-up, the kernel sends the command
SIGTERM. SIGTERM rather than SIGKILL because the command may be perf or
schedtrace, which pass SIGTERM on to their own child and then end (a
SIGKILLed perf would leave the workload running), and the workload
restores the kernel limits it raised on SIGTERM.

Whatever ignores that signal is still found: the run directory's lock file
names the session of the command running (lock.py), and --resume refuses
to start while a process of that session is alive (live_members).
"""

from __future__ import annotations

import ctypes
import os
import signal
from pathlib import Path

PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def die_with_parent(sig: int = signal.SIGTERM):
    """A preexec_fn for subprocess.Popen: the child gets sig when this
    process dies. Checked against a parent that died before the prctl."""
    parent = os.getpid()

    def arm() -> None:
        if _libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0 or os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)
    return arm


def _stat_fields(pid: str) -> tuple[str, list[str]] | None:
    """(comm, the fields after it) of /proc/PID/stat, or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    close = text.rindex(")")
    return text[text.index("(") + 1:close], text[close + 2:].split()


def live_members(sessions: set[int]) -> list[tuple[int, str, int]]:
    """(pid, comm, session) of every process alive (not a zombie) in one of
    the sessions."""
    found = []
    if not sessions:
        return found
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        got = _stat_fields(pid)
        if got is None:
            continue
        comm, fields = got
        # fields: state ppid pgrp session ...
        if fields[0] not in "ZX" and int(fields[3]) in sessions:
            found.append((int(pid), comm, int(fields[3])))
    return found
