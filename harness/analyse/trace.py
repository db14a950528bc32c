"""`schedlab trace DIR --cell ID [--rep N] --perfetto FILE`: a cell's event
stream as Chrome Trace Event JSON, which ui.perfetto.dev and chrome://tracing
open.

What goes where (Perfetto silently drops complete events that overlap on
one track, docs/tracer.md):
  - a kernel thread's run segments (switch-in to switch-out) are X events on
    its own track (pid = tgid, tid = tid); segments are built one after the
    other, so they never overlap;
  - each coroutine that ran on a thread has its own track there (category
    "coro", named "<tid> coro <id>", sorted right under the thread's track):
    its run segments (from the USDT coro_switch to it until the next switch
    on that thread) are X events, its ready marks instants. A coroutine that
    runs on several threads (the M:N model) has a track under each. Track
    ids are CORO_TRACK_OFFSET + n, n counting (thread, coroutine) pairs;
    id 0 is the scheduler's own context;
  - coroutine lifetimes (coro_create .. coro_exit) are async b/e events;
  - wakeups are instant events (ph "i", scope thread) on the woken thread;
  - ts and dur in microseconds from the first event; metadata in otherData
    (no displayTimeUnit).

The input is what `schedtrace --events FILE` writes (bpf/events.h):
a struct events_header ("SCHEDEVT", version 1, record_bytes, root_tgid)
then fixed-size struct event_sched records {u64 ts_ns; u16 version, type;
u32 cpu, pid, tgid, other_pid, other_tgid, arg, flags}, little-endian,
per-CPU order; with the usdt probe, coroutine records of the same size
(types 5-8: spawn, ready, switch, exit) {u64 ts_ns; u16 version, type; u32
cpu, pid, tgid; u64 coro, to}. It has no comm: threads are named by tid.
read_events() decodes it into schemas/events.schema.json's form, which
convert() reads; other types are counted and ignored. The file is the
records.jsonl line's "events" (relative to DIR).
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

from harness.records.rundir import RunDirError, load_run

TRACE_FORMAT = "schedtrace --events (bpf/events.h v1)"
CORO_TRACK_OFFSET = 10_000_000


class TraceError(Exception):
    pass


SCHED_MAGIC = b"SCHEDEVT"
SCHED_HEADER = struct.Struct("<8sIIII")
SCHED_EVENT = struct.Struct("<QHHIIIIIII")
CORO_EVENT = struct.Struct("<QHHIIIQQ")   # struct sched_coro_event
SCHED_TYPES = {1: "switch", 2: "wakeup", 3: "wakeup_new", 4: "migrate",
               5: "coro_create", 6: "coro_ready", 7: "coro_switch", 8: "coro_exit"}
SCHED_F_VOLUNTARY = 0x2


def read_events(path: Path) -> tuple[dict, list[dict], list[str]]:
    """(header, events sorted by time, problems) of a schedtrace --events
    file: bpf/events.h's binary stream as the normalized events convert() reads."""
    data = path.read_bytes()
    if not data.startswith(SCHED_MAGIC):
        raise TraceError(f"{path}: not a schedtrace --events stream (no SCHEDEVT header)")
    _, version, rec_bytes, root_tgid, _ = SCHED_HEADER.unpack_from(data, 0)
    if version > 1:
        raise TraceError(f"sched event stream version {version} is newer than this "
                         "exporter understands (1)")
    if rec_bytes < SCHED_EVENT.size:
        raise TraceError(f"sched event records of {rec_bytes} bytes, expected "
                         f">= {SCHED_EVENT.size}")
    events, problems = [], []
    body = len(data) - SCHED_HEADER.size
    if body % rec_bytes:
        problems.append(f"{body % rec_bytes} trailing bytes (truncated record) ignored")
    for off in range(SCHED_HEADER.size, len(data) - rec_bytes + 1, rec_bytes):
        ts, _, typ, cpu, pid, tgid, opid, otgid, arg, flags = SCHED_EVENT.unpack_from(data, off)
        kind = SCHED_TYPES.get(typ, f"type{typ}")
        if kind.startswith("coro_"):
            ts, _, _, cpu, pid, tgid, coro, to = CORO_EVENT.unpack_from(data, off)
            ev = {"ts_ns": ts, "type": kind, "cpu": cpu, "tid": pid, "tgid": tgid}
            if kind == "coro_switch":
                ev.update({"from": coro, "to": to})
            else:
                ev["coro"] = coro
            events.append(ev)
        elif kind == "switch":
            events.append({"ts_ns": ts, "type": kind, "cpu": cpu, "prev_tid": pid,
                           "prev_tgid": tgid, "next_tid": opid, "next_tgid": otgid,
                           "prev_state": "S" if flags & SCHED_F_VOLUNTARY else "R"})
        elif kind in ("wakeup", "wakeup_new"):
            events.append({"ts_ns": ts, "type": kind, "cpu": cpu, "tid": pid,
                           "tgid": tgid, "waker_tid": opid})
        else:
            events.append({"ts_ns": ts, "type": kind, "cpu": cpu, "tid": pid, "arg": arg})
    events.sort(key=lambda e: e["ts_ns"])
    return {"schema": version, "kind": "sched_events", "tgid": root_tgid}, events, problems


def _us(ns: int, t0: int) -> float:
    return (ns - t0) / 1000.0


def convert(header: dict, events: list[dict], meta: dict | None = None) -> dict:
    """Chrome Trace Event document from normalized events."""
    t0 = events[0]["ts_ns"] if events else 0
    out: list[dict] = []
    threads: set[int] = set()           # every thread seen (the stream has no names)
    tgids: dict[int, int] = {}          # tid -> tgid
    running: dict[int, tuple[int, int]] = {}   # tid -> (start ns, cpu)
    coro_run: dict[int, tuple[int, int]] = {}  # tid -> (coro, start ns)
    coro_tracks: dict[tuple[int, int], int] = {}  # (tid, coro) -> its track's tid
    alive: dict[int, tuple[int, int]] = {}     # coro -> (tid, tgid)
    unknown = 0
    last = t0

    def close(tid: int, end: int, state: str | None) -> None:
        start, cpu = running.pop(tid)
        args = {"cpu": cpu}
        if state is not None:
            args["out"] = "preempted" if state == "R" else f"blocked ({state})"
        out.append({"ph": "X", "name": str(tid), "cat": "sched",
                    "pid": tgids.get(tid, tid), "tid": tid, "ts": _us(start, t0),
                    "dur": max(_us(end, t0) - _us(start, t0), 0.0), "args": args})

    def coro_track(tid: int, coro: int) -> int:
        return coro_tracks.setdefault((tid, coro), CORO_TRACK_OFFSET + len(coro_tracks))

    def close_coro(tid: int, end: int) -> None:
        coro, start = coro_run.pop(tid)
        out.append({"ph": "X", "name": f"coro {coro}", "cat": "coro",
                    "pid": tgids.get(tid, tid), "tid": coro_track(tid, coro),
                    "ts": _us(start, t0), "dur": max(_us(end, t0) - _us(start, t0), 0.0),
                    "args": {"coro": coro, "thread": tid}})

    for ev in events:
        ts, kind = ev["ts_ns"], ev.get("type")
        last = max(last, ts)
        if kind == "switch":
            prev, nxt = ev.get("prev_tid"), ev.get("next_tid")
            for tid, pfx in ((prev, "prev_"), (nxt, "next_")):
                if tid:
                    threads.add(tid)
                    tgids.setdefault(tid, ev.get(pfx + "tgid") or tid)
            if prev and prev in running:
                close(prev, ts, ev.get("prev_state"))
            if nxt:  # tid 0 is the idle task: not drawn
                if nxt in running:  # a lost switch-out: end the old segment here
                    close(nxt, ts, None)
                running[nxt] = (ts, ev.get("cpu", -1))
        elif kind in ("wakeup", "wakeup_new"):
            tid = ev.get("tid")
            if tid:
                tgids.setdefault(tid, ev.get("tgid") or tid)
                threads.add(tid)
                out.append({"ph": "i", "s": "t", "name": kind, "cat": "sched",
                            "pid": tgids[tid], "tid": tid, "ts": _us(ts, t0),
                            "args": {"cpu": ev.get("cpu"), "waker": ev.get("waker_tid")}})
        elif kind == "coro_create":
            tid, coro = ev.get("tid"), ev.get("coro")
            tgids.setdefault(tid, ev.get("tgid") or tid)
            alive[coro] = (tid, tgids[tid])
            out.append({"ph": "b", "name": f"coro {coro}", "cat": "coro", "id": coro,
                        "pid": tgids[tid], "tid": tid, "ts": _us(ts, t0)})
        elif kind == "coro_ready":
            tid, coro = ev.get("tid"), ev.get("coro")
            tgids.setdefault(tid, ev.get("tgid") or tid)
            out.append({"ph": "i", "s": "t", "name": "ready", "cat": "coro",
                        "pid": tgids[tid], "tid": coro_track(tid, coro), "ts": _us(ts, t0),
                        "args": {"coro": coro}})
        elif kind == "coro_exit":
            tid, coro = ev.get("tid"), ev.get("coro")
            if tid in coro_run and coro_run[tid][0] == coro:
                close_coro(tid, ts)
            if coro in alive:
                _, tg = alive.pop(coro)
                out.append({"ph": "e", "name": f"coro {coro}", "cat": "coro", "id": coro,
                            "pid": tg, "tid": tid, "ts": _us(ts, t0)})
        elif kind == "coro_switch":
            tid = ev.get("tid")
            tgids.setdefault(tid, ev.get("tgid") or tid)
            if tid in coro_run:
                close_coro(tid, ts)
            if ev.get("to") is not None:
                coro_run[tid] = (ev["to"], ts)
        else:
            unknown += 1
    for tid in list(running):
        close(tid, last, None)
    for tid in list(coro_run):
        close_coro(tid, last)
    for coro, (tid, tg) in alive.items():
        out.append({"ph": "e", "name": f"coro {coro}", "cat": "coro", "id": coro,
                    "pid": tg, "tid": tid, "ts": _us(last, t0), "args": {"unfinished": True}})
    meta_ev = [{"ph": "M", "name": "process_name", "pid": tg, "tid": tg,
                "args": {"name": f"pid {tg}"}} for tg in sorted(set(tgids.values()))]

    def track(tid: int, track_tid: int, name: str, sort_index: int) -> None:
        """Name a track of thread tid's process and place it."""
        ids = {"pid": tgids.get(tid, tid), "tid": track_tid}
        meta_ev.append({"ph": "M", "name": "thread_name", **ids, "args": {"name": name}})
        meta_ev.append({"ph": "M", "name": "thread_sort_index", **ids,
                        "args": {"sort_index": sort_index}})
    # each thread's track first, its coroutines' tracks right under it
    rank = {tid: i for i, tid in enumerate(sorted(threads | {t for t, _ in coro_tracks}))}
    for tid in sorted(threads):
        track(tid, tid, f"tid {tid}", rank[tid] * 1000)
    for (tid, coro), ctid in sorted(coro_tracks.items()):
        track(tid, ctid, f"{tid} coro {coro}" + (" (scheduler)" if coro == 0 else ""),
              rank[tid] * 1000 + 1 + min(coro, 998))
    other = {"format": TRACE_FORMAT, "t0_ns": t0, "tgid": header["tgid"],
             "events_read": len(events), "unknown_events": unknown}
    other.update(meta or {})
    return {"traceEvents": meta_ev + out, "otherData": other}


def overlaps(doc: dict) -> list[str]:
    """Complete events that overlap on one (pid, tid) track: must be none."""
    tracks: dict[tuple, list[tuple[float, float, str]]] = {}
    for e in doc["traceEvents"]:
        if e.get("ph") == "X":
            seg = (e["ts"], e["ts"] + e["dur"], e["name"])
            tracks.setdefault((e["pid"], e["tid"]), []).append(seg)
    bad = []
    for key, segs in tracks.items():
        segs.sort()
        for (s1, e1, n1), (s2, _, n2) in zip(segs, segs[1:]):
            if s2 < e1 - 1e-9:
                bad.append(f"{key}: {n1} [{s1}, {e1}] overlaps {n2} at {s2}")
    return bad


def find_events_file(run_dir: Path, line: dict) -> Path | None:
    """The line's event stream: the runner names it in "events"."""
    rel = line.get("events")
    return run_dir / rel if isinstance(rel, str) and rel else None


def command(args) -> int:
    """`schedlab trace DIR --cell ID [--rep N] --perfetto F` (harness/cli.py)."""
    try:
        run = load_run(args.dir)
    except RunDirError as e:
        print(f"trace: {e}", file=sys.stderr)
        return 2
    lines = [ln for ln in run.lines if ln.get("cell") == args.cell
             and (args.rep is None or ln.get("repetition") == args.rep)]
    if not lines:
        known = sorted({str(ln.get("cell")) for ln in run.lines})
        print(f"trace: no cell {args.cell!r}" + (f" repetition {args.rep}" if args.rep is not None
              else "") + f" in {args.dir}; cells: {', '.join(known[:10]) or 'none'}",
              file=sys.stderr)
        return 2
    found = [(ln, find_events_file(run.path, ln)) for ln in lines]
    found = [(ln, p) for ln, p in found if p is not None and p.exists()]
    if not found:
        print(f"trace: {args.cell}: no event stream recorded (run the experiment with "
              "events enabled: schedtrace --events)", file=sys.stderr)
        return 2
    line, path = found[0]
    try:
        header, events, problems = read_events(path)
    except (OSError, TraceError) as e:
        print(f"trace: {e}", file=sys.stderr)
        return 2
    for p in problems:
        print(f"trace: {path.name}: {p}", file=sys.stderr)
    doc = convert(header, events, {"cell": args.cell, "repetition": line.get("repetition"),
                                   "events_file": str(path), "run": str(args.dir)})
    bad = overlaps(doc)
    if bad:
        # An internal bug, not bad input: say so rather than write a trace
        # that Perfetto would silently truncate.
        print("trace: internal error, overlapping slices: " + "; ".join(bad[:3]), file=sys.stderr)
        return 1
    args.perfetto.write_text(json.dumps(doc))
    print(f"trace: {len(doc['traceEvents'])} events -> {args.perfetto}")
    return 0
