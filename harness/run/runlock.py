"""DIR/.lock: one run per directory, and who was running in it.

flock() belongs to the open file, so the kernel drops it when the holder
exits, however it exits: a .lock left by a dead run blocks nothing. The file
says the holder's pid (to name it in a refusal) and, while a command of the
run is running, that command's session (the runner starts each command as
a session leader). A harness killed by SIGKILL leaves that line behind: the
next holder reads it, and --resume refuses while a process of that session
is still alive (lifetime.live_members), since its records would be made
beside a leftover of the earlier run.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from harness.records import safefs


class LockBusy(Exception):
    """Another run holds the directory: one line naming it."""


class RunLock:
    def __init__(self, run_dir: Path):
        self.path = run_dir / ".lock"
        self._f = safefs.open_lock(self.path)
        try:
            fcntl.flock(self._f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._f.seek(0)
            holder = (self._f.readline().strip() or "?")
            self._f.close()
            raise LockBusy(f"{run_dir} is in use by another schedlab run (pid {holder}); "
                           "wait for it to finish, or stop it and resume") from None
        self._f.seek(0)
        # What the previous holder left: the session of the command it ran last.
        self.earlier_sessions = {int(w[1]) for w in (ln.split() for ln in self._f)
                                 if len(w) == 2 and w[0] == "session" and w[1].isdigit()}
        self.running(None)

    def running(self, session: int | None) -> None:
        """Note the session of the command now running (None: none)."""
        self._f.seek(0)
        self._f.truncate()
        self._f.write(f"{os.getpid()}\n" + (f"session {session}\n" if session else ""))
        self._f.flush()

    def close(self) -> None:
        if not self._f.closed:
            self.running(None)
            self._f.close()

    def __enter__(self) -> "RunLock":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
