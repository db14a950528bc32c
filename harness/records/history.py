"""How long cells took in earlier runs: the estimates of --dry-run and the
progress display.

The scan reads the siblings of a new run directory, which may be a place
others can write (`--out /tmp/x` scans /tmp). So it reads only what the
invoking user owns: run directories (not symlinks) of theirs, and in each a
records.jsonl that is a regular file of theirs, opened without following a
symlink or blocking on a FIFO. What it cannot read it skips, with a note;
an estimate is never worth a hang or a traceback.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from harness.records import record, safefs

RECENT_RUNS = 20


def _own_run_dirs(root: Path) -> tuple[list[tuple[float, Path]], list[str]]:
    """(mtime, directory) of the user's own directories under root; notes."""
    found, notes = [], []
    uid = os.geteuid()
    try:
        entries = list(os.scandir(root))
    except OSError as e:
        return [], [f"{root}: {e.strerror}"]
    for e in entries:
        try:
            st = e.stat(follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode) and st.st_uid == uid:
            found.append((st.st_mtime, Path(e.path)))
    return found, notes


def previous_durations(root: Path) -> tuple[dict[str, list[float]], list[str]]:
    """duration_s of every ok line in the RECENT_RUNS most recent run
    directories under root, by cell; and one note per file skipped."""
    out: dict[str, list[float]] = {}
    dirs, notes = _own_run_dirs(root) if root.is_dir() else ([], [])
    uid = os.geteuid()
    read = 0
    for _, d in sorted(dirs, reverse=True):
        if read == RECENT_RUNS:
            break
        path = d / "records.jsonl"
        try:
            st = os.lstat(path)
        except OSError:
            continue                    # not a run directory
        if not stat.S_ISREG(st.st_mode) or st.st_uid != uid:
            notes.append(f"{path}: not a regular file of yours")
            continue
        try:
            text = safefs.read_regular(path).decode("utf-8", errors="replace")
        except (OSError, safefs.UnsafePath) as e:
            notes.append(f"{path}: {getattr(e, 'strerror', None) or e}")
            continue
        read += 1
        lines, _ = record.parse_jsonl(text, record.line_problem)
        for ln in lines:
            if ln.get("status") == "ok" and isinstance(ln.get("duration_s"), (int, float)):
                out.setdefault(str(ln["cell"]), []).append(float(ln["duration_s"]))
    return out, notes
