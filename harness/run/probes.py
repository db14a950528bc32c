"""Wrapping a cell's command with its probes, and reading what they wrote.

Probes named in a config: the tracer's (build/schedtrace --list says which:
tracer_probes()) and perf (perf stat software counters, an independent
cross-check). The wrapped command nests as

    build/schedtrace --json T --probes sched,uring -- \
        perf stat -x, -e EVENTS -o P -- build/workload TASK ...

perf sits innermost so that its counts are the workload's alone and can
be compared with getrusage; schedtrace reports each process on its own, so
perf's own process (asleep in wait4 almost all the time) is a separate row
of its document, not mixed into the workload's.

An experiment with events = true also passes `--events traces/NAME.events`
to schedtrace: the per-event stream (bpf/events.h) that `schedlab trace`
turns into a Perfetto timeline; the line names it in "events". Such a cell
also runs with `--cost` (the kernel's BPF run-time statistics), so the
timeline states what each probe's event cost in that very run: the cell is
a traced one already, never judged on time.

A probe that cannot be attached here (no tracer built, not root, no perf)
is left out with a one-line reason in the line's probes_skipped; the cell
still runs. This module only builds argument lists and parses files: the
runner spawns.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from harness import REPO  # noqa: E402
from harness.records import safefs  # noqa: E402

TRACER = REPO / "build" / "schedtrace"
# Thread rows kept per process in a records.jsonl line. The tracer lists up
# to 1024 threads per process (about 0.9 MB of JSON for spawn with 10,000
# threads); the line keeps the busiest ones and the full document stays in
# traces/, named by the line's probe_files.
LINE_THREAD_ROWS = 64
# Folded stacks kept per kind in the line (the heaviest); every stack is in
# traces/NAME.KIND.folded (split_folded).
LINE_FOLDED_ROWS = 50
PERF_EVENTS = ("context-switches", "cpu-migrations", "task-clock", "page-faults",
               "major-faults", "minor-faults")


@functools.lru_cache(maxsize=None)
def tracer_list() -> tuple[dict, ...] | None:
    """The tracer's probes, as `schedtrace --list` prints them (name,
    summary, selectable, default, events, programs, attach: each program's
    ELF section and whether the probe needs it), in its table's order; None
    when the tracer is not built (or its --list fails): a config's probe
    names then go unchecked, with a note, like workload names."""
    if TRACER.is_file() and os.access(TRACER, os.X_OK):
        try:
            p = subprocess.run([str(TRACER), "--list"], capture_output=True, text=True,
                               timeout=30)
            if p.returncode == 0:
                return tuple(json.loads(p.stdout)["probes"])
        except (OSError, subprocess.TimeoutExpired, ValueError, KeyError, TypeError):
            pass
    return None


def tracer_probes() -> tuple[str, ...] | None:
    """The probe names a config may give the tracer (`--probes`); None when
    the tracer is not built."""
    listed = tracer_list()
    return None if listed is None else tuple(p["name"] for p in listed if p["selectable"])


def event_writers() -> tuple[str, ...] | None:
    """The probes that feed the --events stream; None when the tracer is not built."""
    listed = tracer_list()
    return None if listed is None else tuple(p["name"] for p in listed if p["events"])


BENCH_TRACER = REPO / "build" / "bench-tracer.json"


def tracer_cost(path: Path = BENCH_TRACER) -> dict | None:
    """What tracing cost on this machine, from the last `make bench-tracer`
    (scripts/bench-tracer): per variant, the median of the per-repetition
    ratios to the untraced run, of CPU time and of wall time per hand-off,
    and where the file has them the CPU ratio's interval (`intervals`, with
    its `coverage`; `baseline` is the untraced run against itself: what the
    measurement resolves) and the verdict on the target (`target`).
    None when it never ran here (or its file is unreadable)."""
    try:
        doc = json.loads(path.read_text())
        variants = {name: {"cpu_ratio": v["median_cpu_ratio"], "wall_ratio": v["median_ratio"]}
                    for name, v in doc["variants"].items()
                    if name != "baseline" and v.get("median_cpu_ratio") is not None}
        cis = {name: v["cpu_ratio_ci"] for name, v in doc["variants"].items()
               if isinstance(v.get("cpu_ratio_ci"), dict)}
        measured = path.stat().st_mtime
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    import datetime
    out = {"measured_at": datetime.datetime.fromtimestamp(measured, datetime.timezone.utc)
           .strftime("%Y-%m-%d %H:%M UTC"),
           "reps": doc.get("reps"), "workload": " ".join(doc.get("workload", [])),
           "variants": variants}
    if cis:
        out["intervals"] = {name: (ci["lo"], ci["hi"]) for name, ci in cis.items()}
        out["coverage"] = min(ci["coverage"] for ci in cis.values())
        out["target"] = doc.get("target")
        out["loadavg"] = doc.get("loadavg")
    return out


@dataclass(frozen=True)
class Tools:
    """What this machine offers; None means usable, else the reason why not."""

    schedtrace: str
    schedtrace_missing: str | None
    perf: str
    perf_missing: str | None


def detect(schedtrace: str = "build/schedtrace", cwd: Path | None = None,
           euid: int | None = None, which=shutil.which) -> Tools:
    euid = os.geteuid() if euid is None else euid
    tracer = Path(schedtrace)
    if not tracer.is_absolute() and cwd is not None:
        tracer = cwd / tracer
    if not (tracer.is_file() and os.access(tracer, os.X_OK)):
        st_why = (f"{schedtrace} not built: run make (needs clang, bpftool, libbpf-dev; "
                  "see ./schedlab doctor)")
    elif euid != 0:
        st_why = "schedtrace needs root (CAP_BPF and CAP_PERFMON): run as root"
    else:
        st_why = None
    perf = which("perf")
    perf_why = None if perf else "perf not found: install linux-perf (make deps)"
    return Tools(schedtrace=schedtrace, schedtrace_missing=st_why,
                 perf=perf or "perf", perf_missing=perf_why)


@dataclass
class Wrapped:
    command: list[str]
    outputs: dict[str, Path] = field(default_factory=dict)   # "schedtrace"/"perf" -> file
    skipped: dict[str, str] = field(default_factory=dict)    # probe -> reason
    events: Path | None = None                               # schedtrace --events file


def slug(cell_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=+-]", "_", cell_id).strip("_")


def wrap(command: list[str], probes: tuple[str, ...] | list[str], tools: Tools,
         trace_dir: Path, name: str, events: bool = False) -> Wrapped:
    """The command with its probes around it; files go to trace_dir/name.*.

    events: also ask schedtrace for its event stream (when a probe that
    writes events is among them, `--list` says which; without the tracer it
    is skipped with the tracer's reason, under the key "events")."""
    w = Wrapped(command=list(command))
    if "perf" in probes:
        if tools.perf_missing:
            w.skipped["perf"] = tools.perf_missing
        else:
            out = trace_dir / f"{name}.perf.csv"
            w.outputs["perf"] = out
            w.command = [tools.perf, "stat", "-x,", "-e", ",".join(PERF_EVENTS),
                         "-o", str(out), "--"] + w.command
    # without the tracer's list every probe but perf is the tracer's
    known = tracer_probes()
    traced = [p for p in probes if p != "perf" and (known is None or p in known)]
    if traced:
        if tools.schedtrace_missing:
            for p in traced:
                w.skipped[p] = tools.schedtrace_missing
            if events:
                w.skipped["events"] = tools.schedtrace_missing
        else:
            out = trace_dir / f"{name}.schedtrace.json"
            w.outputs["schedtrace"] = out
            extra: list[str] = []
            if events and set(event_writers() or ()) & set(traced):
                w.events = trace_dir / f"{name}.events"
                extra = ["--events", str(w.events), "--cost"]
            # user-space probes attach to the workload's executable, not perf's
            w.command = [tools.schedtrace, "--json", str(out), *extra, "--probes",
                         ",".join(traced), "--binary", command[0], "--"] + w.command
    if w.outputs:
        safefs.make_subdir(trace_dir)
    return w


def _number(text: str) -> float | int | None:
    try:
        f = float(text)
    except ValueError:
        return None
    return int(f) if f.is_integer() and "." not in text else f


def parse_perf(text: str) -> dict:
    """perf stat -x, output -> {"context-switches": 12, "task-clock_ns": 1.2e6, ...}.

    Fields: value, unit, event, run time, percentage, [metric, metric unit].
    task-clock is in msec: it is stored converted, as task-clock_ns (units
    in names). Events perf printed as <not supported> / <not counted> are
    listed in not_supported rather than given a fake 0.
    """
    out: dict = {}
    unsupported: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        f = line.split(",")
        if len(f) < 3:
            continue
        value, unit, event = f[0], f[1], f[2]
        # perf appends modifiers such as ":u" to event names when not root.
        event = event.split(":")[0]
        if not event:
            continue
        if value.startswith("<"):
            unsupported.append(event)
            continue
        v = _number(value)
        if v is None:
            continue
        if unit == "msec":
            out[f"{event}_ns"] = round(float(v) * 1e6)
        else:
            out[event] = v
    if unsupported:
        out["not_supported"] = unsupported
    return out


def collect(w: Wrapped) -> tuple[dict, dict[str, str]]:
    """Read the probes' files after the run: (probes, probes_skipped).

    The event stream is not read here (it can be hundreds of MB): only
    checked to exist, see events_file()."""
    probes: dict = {}
    skipped = dict(w.skipped)
    if w.events is not None and not events_file(w):
        skipped["events"] = f"schedtrace wrote no event stream ({w.events.name} missing or empty)"
    for tool, path in w.outputs.items():
        try:
            text = path.read_text()
        except OSError:
            skipped[tool] = f"{tool} wrote no output ({path.name} missing)"
            continue
        if tool == "perf":
            doc = parse_perf(text)
            if not doc:
                skipped["perf"] = f"perf stat output had no counters ({path.name})"
                continue
            probes["perf"] = doc
        else:
            try:
                doc = json.loads(text)
            except json.JSONDecodeError as e:
                skipped["schedtrace"] = f"schedtrace JSON unreadable: {e.msg} ({path.name})"
                continue
            if not isinstance(doc, dict):
                skipped["schedtrace"] = f"schedtrace JSON is not an object ({path.name})"
                continue
            probes["schedtrace"] = trim_threads(split_folded(doc, path), LINE_THREAD_ROWS)
    return probes, skipped


def events_file(w: Wrapped) -> Path | None:
    """The event stream the run wrote, or None when it wrote none."""
    if w.events is None:
        return None
    try:
        return w.events if w.events.stat().st_size > 0 else None
    except OSError:
        return None


def folded_path(trace: Path, kind: str) -> Path:
    """traces/NAME.schedtrace.json -> traces/NAME.KIND.folded"""
    return trace.with_name(trace.name.removesuffix(".schedtrace.json") + f".{kind}.folded")


def split_folded(doc: dict, trace: Path) -> dict:
    """The stacks probe's folded stacks, each kind into its own file beside
    the document (`frame;frame;frame value` lines, for flamegraph.pl,
    speedscope, Perfetto); the line keeps the heaviest LINE_FOLDED_ROWS per
    kind and counts the rest in `omitted`."""
    kinds = (doc.get("stacks") or {}).get("kinds") or {}
    for kind, k in kinds.items():
        rows = k.get("folded") or []
        if not rows:
            continue
        folded_path(trace, kind).write_text(
            "".join(f"{r['stack']} {r['value']}\n" for r in rows))
        if len(rows) > LINE_FOLDED_ROWS:
            k["omitted"] = int(k.get("omitted") or 0) + len(rows) - LINE_FOLDED_ROWS
            k["folded"] = rows[:LINE_FOLDED_ROWS]
    return doc


def trim_threads(doc: dict, keep: int) -> dict:
    """The tracer document with at most `keep` thread rows per process (the
    ones with the most switches); the rows left out are added to the
    process's threads_omitted, so the totals stay explained."""
    for proc in doc.get("processes") or []:
        rows = proc.get("threads")
        if not isinstance(rows, list) or len(rows) <= keep:
            continue
        rows = sorted(rows, key=lambda t: -int(t.get("switches") or 0))
        proc["threads_omitted"] = int(proc.get("threads_omitted") or 0) + len(rows) - keep
        proc["threads"] = rows[:keep]
    return doc
