"""The report's timelines: every cell that recorded an event stream
(`events = true`), exported for Perfetto beside the report.

export(run) runs `schedlab trace` (harness/analyse/trace.py, the one converter) on
the first repetition of each such cell and writes
DIR/traces/<cell, '/' and ',' as '_'>.r<N>.perfetto.json. A cell whose
stream cannot be converted is listed with the converter's reason instead.
Each entry states what the probes cost per event in that very recording
(the tracer's BPF run-time statistics, which event cells turn on), since a
traced coroutine switch is mostly probe. The report's templates show the
list and how to open a file.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from types import SimpleNamespace

from harness.analyse import trace
from harness import format as fmt
from harness.records.rundir import RunDir

HOW_TO_OPEN = ("Open https://ui.perfetto.dev, choose \"Open trace file\" and pick the file "
               "(it stays on your machine). Each thread is a track named by its comm and id, "
               "holding its on-CPU slices; a coroutine's run is a slice nested in the slice "
               "of the thread that ran it; arrows follow each wake-up from the waker to the "
               "woken; io_uring requests show their submission and completion. Timings "
               "include the probes' own cost, stated beside each file.")


def cost_words(doc: dict | None) -> str:
    """The probes' cost per event in one recording, in one sentence."""
    cost = (doc or {}).get("cost") or {}
    progs = [p for p in cost.get("programs") or [] if p.get("run_cnt")]
    if cost.get("method") != "bpf_stats" or not any(p.get("run_time_ns") for p in progs):
        return ("probe cost per event not measured in this recording (schedtrace ran without "
                "--cost)")
    by_probe: dict[str, list[int]] = {}
    for p in progs:
        if p.get("run_time_ns") is not None:
            t = by_probe.setdefault(p["probe"], [0, 0])
            t[0] += p["run_time_ns"]
            t[1] += p["run_cnt"]
    parts = [f"{name} {fmt.duration(ns / n)}" for name, (ns, n) in sorted(by_probe.items()) if n]
    events = sum(n for _, n in by_probe.values())
    return (f"probes cost per event in this recording: {', '.join(parts)} "
            f"(BPF run-time statistics over {fmt.num(events)} events)")


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
                    "note": why[-1] if rc != 0 and why else "",
                    "cost": cost_words(trace.tracer_document(run.path, line))})
    return out
