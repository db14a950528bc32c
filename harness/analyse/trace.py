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

Two input formats; read_events() is the only code that knows them:

1. schedtrace --events FILE (bpf/events.h): a struct events_header
   ("SCHEDEVT", version 1, record_bytes, root_tgid) then fixed-size struct
   event_sched records {u64 ts_ns; u16 version, type; u32 cpu, pid, tgid,
   other_pid, other_tgid, arg, flags}, little-endian, per-CPU order; with
   the usdt probe, coroutine records of the same size (types 5-8: spawn,
   ready, switch, exit) {u64 ts_ns; u16 version, type; u32 cpu, pid, tgid;
   u64 coro, to}. It has no comm (threads are named by tid).
2. JSONL (hand-written fixtures, other producers): one object per line, an
   optional header first
    {"schema": 1, "kind": "schedtrace-events", "t0_ns": N, "tgid": N, "lost": N}
then events, ts_ns on CLOCK_MONOTONIC:
    {"ts_ns", "type": "switch", "cpu", "prev_tid", "prev_tgid", "prev_comm",
     "prev_state" ("R" preempted, else the blocked state), "next_tid",
     "next_tgid", "next_comm"}
    {"ts_ns", "type": "wakeup", "cpu", "tid", "tgid", "comm", "waker_tid"}
    {"ts_ns", "type": "coro_create" | "coro_ready" | "coro_exit", "tid", "tgid", "coro"}
    {"ts_ns", "type": "coro_switch", "tid", "tgid", "from", "to"}
("pid" is accepted for "tid", as the kernel's sched_switch spells it.)
Other types are counted and ignored. The file is found from the records.jsonl
line ("events": path relative to DIR, or probes.schedtrace.events) or as
DIR/traces/<cell, "/" and "," as "_">.r<N>.events* (the runner's naming).
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
from pathlib import Path

from harness.records.rundir import RunDirError, load_run

TRACE_FORMAT = "schedtrace --events (bpf/events.h v1) or schedtrace-events JSONL v1"
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


def read_sched_events(data: bytes) -> tuple[dict, list[dict], list[str]]:
    """bpf/events.h's binary stream -> the normalized events convert() reads."""
    magic, version, rec_bytes, root_tgid, _ = SCHED_HEADER.unpack_from(data, 0)
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


def read_events(path: Path) -> tuple[dict, list[dict], list[str]]:
    """(header, events sorted by time, problems) from either format."""
    with open(path, "rb") as f:
        head = f.read(len(SCHED_MAGIC))
    if head == SCHED_MAGIC:
        return read_sched_events(path.read_bytes())
    header: dict = {}
    events: list[dict] = []
    problems: list[str] = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for no, text in enumerate(f, start=1):
            if not text.strip():
                continue
            try:
                ev = json.loads(text)
            except json.JSONDecodeError:
                problems.append(f"line {no}: not JSON (truncated?), skipped")
                continue
            if not isinstance(ev, dict):
                continue
            if "kind" in ev and "type" not in ev:
                if ev.get("schema", 1) > 1:
                    raise TraceError(f"{path}: event schema {ev['schema']} is newer than "
                                     "this exporter understands (1)")
                header = ev
                continue
            if not isinstance(ev.get("ts_ns"), int):
                problems.append(f"line {no}: no integer ts_ns, skipped")
                continue
            for a, b in (("pid", "tid"), ("prev_pid", "prev_tid"), ("next_pid", "next_tid")):
                if a in ev and b not in ev:
                    ev[b] = ev[a]
            events.append(ev)
    events.sort(key=lambda e: e["ts_ns"])
    return header, events, problems


def _us(ns: int, t0: int) -> float:
    return (ns - t0) / 1000.0


def convert(header: dict, events: list[dict], meta: dict | None = None) -> dict:
    """Chrome Trace Event document from normalized events."""
    t0 = header.get("t0_ns") or (events[0]["ts_ns"] if events else 0)
    t0 = min([t0] + [e["ts_ns"] for e in events[:1]])
    out: list[dict] = []
    names: dict[int, str] = {}          # tid -> comm
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
            args["out"] = "preempted" if state in ("R", "R+", 0, "0") else f"blocked ({state})"
        out.append({"ph": "X", "name": names.get(tid, str(tid)), "cat": "sched",
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
                    names.setdefault(tid, ev.get(pfx + "comm") or str(tid))
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
                names.setdefault(tid, ev.get("comm") or str(tid))
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
    meta_ev = []
    for tg in sorted(set(tgids.values())):
        meta_ev.append({"ph": "M", "name": "process_name", "pid": tg, "tid": tg,
                        "args": {"name": f"{names.get(tg, 'pid')} {tg}"}})
    # each thread's track first, its coroutines' tracks right under it
    rank = {tid: i for i, tid in enumerate(sorted(set(names) | {t for t, _ in coro_tracks}))}
    for tid, comm in sorted(names.items()):
        meta_ev.append({"ph": "M", "name": "thread_name", "pid": tgids.get(tid, tid),
                        "tid": tid, "args": {"name": f"{comm} {tid}"}})
        meta_ev.append({"ph": "M", "name": "thread_sort_index", "pid": tgids.get(tid, tid),
                        "tid": tid, "args": {"sort_index": rank[tid] * 1000}})
    for (tid, coro), ctid in sorted(coro_tracks.items()):
        label = f"{tid} coro {coro}" + (" (scheduler)" if coro == 0 else "")
        meta_ev.append({"ph": "M", "name": "thread_name", "pid": tgids.get(tid, tid),
                        "tid": ctid, "args": {"name": label}})
        meta_ev.append({"ph": "M", "name": "thread_sort_index", "pid": tgids.get(tid, tid),
                        "tid": ctid,
                        "args": {"sort_index": rank[tid] * 1000 + 1 + min(coro, 998)}})
    other = {"format": TRACE_FORMAT, "t0_ns": t0, "events_read": len(events),
             "unknown_events": unknown, "lost": header.get("lost")}
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
    for cand in (line.get("events"),
                 ((line.get("probes") or {}).get("schedtrace") or {}).get("events")):
        if isinstance(cand, str) and cand:
            p = Path(cand)
            return p if p.is_absolute() else run_dir / p
    cell, rep = str(line.get("cell", "")), line.get("repetition", 0)
    # The runner's trace names: traces/<cell, '/' and ',' as '_'>.r<N>.*
    slug = cell.replace("/", "_").replace(",", "_")
    for p in sorted((run_dir / "traces").glob(f"{slug}.r{rep}.events*")):
        return p
    p = run_dir / "traces" / f"{slug.replace('=', '_')}.rep{rep}.events.jsonl"
    return p if p.exists() else None


def cli(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(
        prog="schedlab trace",
        description="Export a cell's event stream as Chrome Trace Event JSON for Perfetto.",
        epilog="example: ./schedlab trace results/latest --cell pingpong/coro/placement=same "
               "--perfetto pingpong.json   (then open it in https://ui.perfetto.dev)")
    ap.add_argument("dir", type=Path, help="the results directory of a run")
    ap.add_argument("--cell", required=True, help="cell id as in records.jsonl")
    ap.add_argument("--rep", type=int, default=None,
                    help="repetition (def: the first one with an event stream)")
    ap.add_argument("--perfetto", type=Path, required=True, help="output JSON file")
    args = ap.parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(cli(sys.argv[1:]))
