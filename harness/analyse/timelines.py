"""The report's timelines: every cell that recorded an event stream
(`events = true`), exported for Perfetto beside the report.

export(run) runs `schedlab trace` (harness/analyse/trace.py, the one converter) on
the first repetition of each such cell and writes
DIR/traces/<cell, '/' and ',' as '_'>.r<N>.perfetto.json. A cell whose
stream cannot be converted is listed with the converter's reason instead.
The report's templates show the list and how to open a file.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from types import SimpleNamespace

from harness.analyse import trace
from harness.records.rundir import RunDir

HOW_TO_OPEN = ("Open https://ui.perfetto.dev, choose \"Open trace file\" and pick the file "
               "(it stays on your machine). Each thread is a track of its run slices, "
               "wake-ups are instants, and coroutines, where recorded, have tracks of their "
               "own under the thread they ran on.")


def export(run: RunDir) -> list[dict]:
    """One entry per cell with an event stream: {cell, repetition, path
    (relative to the run directory) or None, note}."""
    out: list[dict] = []
    done: set[str] = set()
    for line in sorted(run.lines, key=lambda ln: (str(ln.get("cell")), ln.get("repetition", 0))):
        cell = str(line.get("cell", ""))
        if cell in done or line.get("status") != "ok":
            continue
        events = trace.find_events_file(run.path, line)
        if events is None or not events.exists():
            continue
        done.add(cell)
        rep = line.get("repetition", 0)
        slug = cell.replace("/", "_").replace(",", "_")
        rel = Path("traces") / f"{slug}.r{rep}.perfetto.json"
        err = io.StringIO()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            rc = trace.command(SimpleNamespace(dir=run.path, cell=cell, rep=rep,
                                               perfetto=run.path / rel))
        why = err.getvalue().strip().splitlines()
        out.append({"cell": cell, "repetition": rep, "path": str(rel) if rc == 0 else None,
                    "note": why[-1] if rc != 0 and why else ""})
    return out
