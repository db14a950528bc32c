"""`schedlab trace DIR --cell ID [--rep N] --perfetto FILE`: a cell's event
stream as Chrome Trace Event JSON, which ui.perfetto.dev and chrome://tracing
open.

What goes where, so the timeline shows only what can have happened:
  - processes and threads are named from the kernel's comm, with the id in
    brackets ("workload [7129]"), from the tracer's document of the same run
    (the stream itself carries no names); only the processes the tracer
    followed appear: the other side of a switch is an idle or foreign CPU;
  - a thread's on-CPU time (switch-in to switch-out) is an X slice on its
    own track. Slices are kept per CPU: a switch on a CPU ends whatever ran
    there, so two slices never overlap on one CPU even when a switch-out was
    lost, and a thread never runs on two CPUs at once;
  - a coroutine's run (from the USDT coro_switch to it until the next switch
    on that thread) is an X slice named after the coroutine on the track of
    the thread that ran it, cut to that thread's on-CPU slices, so it nests
    inside them (Perfetto drops X slices that cross a parent's end); the
    scheduler's own context is "scheduler";
  - coroutine lifetimes (coro_create .. coro_exit) are async b/e events;
    coroutine readiness is an instant on the thread;
  - a wake-up is a flow arrow (s/f, category "wakeup") from the waker's
    slice to the woken thread's next slice, beside an instant on the woken;
  - io_uring submissions and completions are instants on the thread that
    submitted or posted them, and each request in flight an async slice
    (category "uring") from its submission to its completion, paired by
    user_data;
  - ts and dur in microseconds from the first event; metadata in otherData
    (no displayTimeUnit).

The input is what `schedtrace --events FILE` writes (bpf/events.h):
a struct events_header ("SCHEDEVT", version 1, record_bytes, root_tgid)
then fixed-size records, little-endian, per-CPU order: struct event_sched
{u64 ts_ns; u16 version, type; u32 cpu, pid, tgid, other_pid, other_tgid,
arg, flags}; with the usdt probe, coroutine records (types 5-8: spawn,
ready, switch, exit) {u64 ts_ns; u16 version, type; u32 cpu, pid, tgid;
u64 coro, to}; with the uring probe, request records (types 9-10: submit,
complete) {u64 ts_ns; u16 version, type; u32 cpu, pid, tgid; u64 user_data;
u32 opcode; s32 res}. read_events() decodes it into
schemas/events.schema.json's form, which convert() reads; other types are
counted and ignored. The file is the records.jsonl line's "events"
(relative to DIR); the names come from the line's tracer document.
"""

from __future__ import annotations

import json
import struct
import sys
from dataclasses import dataclass, field
from pathlib import Path

from harness.records.rundir import RunDirError, load_run
from harness.records import safefs

TRACE_FORMAT = "schedtrace --events (bpf/events.h v1)"


class TraceError(Exception):
    pass


SCHED_MAGIC = b"SCHEDEVT"
SCHED_HEADER = struct.Struct("<8sIIII")
SCHED_EVENT = struct.Struct("<QHHIIIIIII")
CORO_EVENT = struct.Struct("<QHHIIIQQ")   # struct event_coro
URING_EVENT = struct.Struct("<QHHIIIQIi")  # struct event_uring
SCHED_TYPES = {1: "switch", 2: "wakeup", 3: "wakeup_new", 4: "migrate",
               5: "coro_create", 6: "coro_ready", 7: "coro_switch", 8: "coro_exit",
               9: "uring_submit", 10: "uring_complete"}
SCHED_F_VOLUNTARY = 0x2
# IORING_OP_* in the kernel's order (include/uapi/linux/io_uring.h).
URING_OPS = ("nop readv writev fsync read_fixed write_fixed poll_add poll_remove "
             "sync_file_range sendmsg recvmsg timeout timeout_remove accept async_cancel "
             "link_timeout connect fallocate openat close files_update statx read write "
             "fadvise madvise send recv openat2 epoll_ctl splice provide_buffers "
             "remove_buffers tee shutdown renameat unlinkat mkdirat symlinkat linkat msg_ring "
             "fsetxattr setxattr fgetxattr getxattr socket uring_cmd send_zc sendmsg_zc "
             "read_multishot waitid futex_wait futex_wake futex_waitv fixed_fd_install "
             "ftruncate bind listen recv_zc epoll_wait readv_fixed writev_fixed pipe").split()


def _decode(data: bytes, off: int) -> dict:
    ts, _, typ, cpu, pid, tgid, opid, otgid, arg, flags = SCHED_EVENT.unpack_from(data, off)
    kind = SCHED_TYPES.get(typ, f"type{typ}")
    if kind.startswith("coro_"):
        ts, _, _, cpu, pid, tgid, coro, to = CORO_EVENT.unpack_from(data, off)
        ev = {"ts_ns": ts, "type": kind, "cpu": cpu, "tid": pid, "tgid": tgid}
        ev.update({"from": coro, "to": to} if kind == "coro_switch" else {"coro": coro})
        return ev
    if kind.startswith("uring_"):
        ts, _, _, cpu, pid, tgid, user_data, op, res = URING_EVENT.unpack_from(data, off)
        name = "" if kind == "uring_complete" else (
            URING_OPS[op] if op < len(URING_OPS) else f"op{op}")
        return {"ts_ns": ts, "type": kind, "cpu": cpu, "tid": pid, "tgid": tgid,
                "user_data": user_data, "opcode": name, "res": res}
    if kind == "switch":
        return {"ts_ns": ts, "type": kind, "cpu": cpu, "prev_tid": pid, "prev_tgid": tgid,
                "next_tid": opid, "next_tgid": otgid,
                "prev_state": "S" if flags & SCHED_F_VOLUNTARY else "R"}
    if kind in ("wakeup", "wakeup_new"):
        return {"ts_ns": ts, "type": kind, "cpu": cpu, "tid": pid, "tgid": tgid,
                "waker_tid": opid}
    return {"ts_ns": ts, "type": kind, "cpu": cpu, "tid": pid, "arg": arg}


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
    problems = []
    body = len(data) - SCHED_HEADER.size
    if body % rec_bytes:
        problems.append(f"{body % rec_bytes} trailing bytes (truncated record) ignored")
    events = [_decode(data, off)
              for off in range(SCHED_HEADER.size, len(data) - rec_bytes + 1, rec_bytes)]
    events.sort(key=lambda e: e["ts_ns"])
    return {"schema": version, "kind": "sched_events", "tgid": root_tgid}, events, problems


def names_from(doc: dict | None) -> dict:
    """{"processes": {tgid: comm}, "threads": {tid: comm}} from a tracer
    document (schedtrace --json); empty without one."""
    procs, threads = {}, {}
    for p in (doc or {}).get("processes") or []:
        procs[p["tgid"]] = p.get("comm") or ""
        for t in p.get("threads") or []:
            threads[t["tid"]] = t.get("comm") or ""
    return {"processes": procs, "threads": threads}


@dataclass
class _Slices:
    """Per-CPU on-CPU slices, built one switch at a time."""

    on_cpu: dict[int, tuple[int, int]] = field(default_factory=dict)   # cpu -> (tid, start)
    where: dict[int, int] = field(default_factory=dict)                # tid -> cpu
    done: list[tuple[int, int, int, int, str]] = field(default_factory=list)
    # (tid, cpu, start, end, how it ended)

    def end(self, cpu: int, ts: int, how: str) -> None:
        if cpu in self.on_cpu:
            tid, start = self.on_cpu.pop(cpu)
            self.where.pop(tid, None)
            self.done.append((tid, cpu, start, ts, how))

    def start(self, tid: int, cpu: int, ts: int) -> None:
        if tid in self.where:       # its switch-out elsewhere was lost
            self.end(self.where[tid], ts, "switch-out not recorded")
        self.on_cpu[cpu] = (tid, ts)
        self.where[tid] = cpu


def _coro_name(coro: int) -> str:
    return "scheduler" if coro == 0 else f"coro {coro}"


def convert(header: dict, events: list[dict], meta: dict | None = None,
            names: dict | None = None, traced: set[int] | None = None) -> dict:
    """Chrome Trace Event document from normalized events. names: from
    names_from(); traced: the tgids the tracer followed (None: every tgid
    the stream names, for a stream without its document)."""
    names = names or {"processes": {}, "threads": {}}
    t0 = events[0]["ts_ns"] if events else 0
    last = events[-1]["ts_ns"] if events else 0
    tgid_of: dict[int, int] = {}

    def ours(tid: int, tgid: int | None) -> bool:
        if not tid:
            return False        # the idle task
        if tgid:
            tgid_of.setdefault(tid, tgid)
        return traced is None or tgid_of.get(tid) in traced

    def us(ns: int) -> float:
        return (ns - t0) / 1000.0

    out: list[dict] = []
    cpus = _Slices()
    coro_on: dict[int, tuple[int, int]] = {}     # tid -> (coro, since)
    coro_runs: list[tuple[int, int, int, int]] = []   # (tid, coro, start, end)
    alive: dict[int, tuple[int, int]] = {}       # coro -> (tid, tgid)
    wakes: dict[int, list[tuple[int, int]]] = {}  # woken tid -> [(ts, waker)]
    in_flight: dict[tuple[int, int], list[tuple[int, int]]] = {}  # (tgid, user_data) -> [(ts, tid)]
    unknown = 0

    def instant(name: str, cat: str, tid: int, ts: int, args: dict) -> None:
        out.append({"ph": "i", "s": "t", "name": name, "cat": cat, "pid": tgid_of[tid],
                    "tid": tid, "ts": us(ts), "args": args})

    for ev in events:
        ts, kind = ev["ts_ns"], ev.get("type")
        if kind == "switch":
            prev, nxt, cpu = ev["prev_tid"], ev["next_tid"], ev["cpu"]
            ours(prev, ev.get("prev_tgid"))
            cpus.end(cpu, ts, "preempted" if ev.get("prev_state") == "R" else "blocked")
            if ours(nxt, ev.get("next_tgid")):
                cpus.start(nxt, cpu, ts)
        elif kind in ("wakeup", "wakeup_new"):
            tid = ev["tid"]
            if ours(tid, ev.get("tgid")):
                instant(kind, "sched", tid, ts, {"cpu": ev["cpu"], "waker": ev.get("waker_tid")})
                if ev.get("waker_tid") and ours(ev["waker_tid"], None):
                    wakes.setdefault(tid, []).append((ts, ev["waker_tid"]))
        elif kind in ("coro_create", "coro_ready", "coro_exit", "coro_switch"):
            tid = ev["tid"]
            if not ours(tid, ev.get("tgid")):
                continue
            if kind == "coro_switch":
                if tid in coro_on:
                    coro, since = coro_on.pop(tid)
                    coro_runs.append((tid, coro, since, ts))
                coro_on[tid] = (ev["to"], ts)
            elif kind == "coro_ready":
                instant(f"ready: {_coro_name(ev['coro'])}", "coro", tid, ts, {"coro": ev["coro"]})
            elif kind == "coro_create":
                alive[ev["coro"]] = (tid, tgid_of[tid])
                out.append({"ph": "b", "name": _coro_name(ev["coro"]), "cat": "coro",
                            "id": ev["coro"], "pid": tgid_of[tid], "tid": tid, "ts": us(ts)})
            else:
                if tid in coro_on and coro_on[tid][0] == ev["coro"]:
                    coro, since = coro_on.pop(tid)
                    coro_runs.append((tid, coro, since, ts))
                if ev["coro"] in alive:
                    _, tg = alive.pop(ev["coro"])
                    out.append({"ph": "e", "name": _coro_name(ev["coro"]), "cat": "coro",
                                "id": ev["coro"], "pid": tg, "tid": tid, "ts": us(ts)})
        elif kind in ("uring_submit", "uring_complete"):
            tid, tgid = ev["tid"], ev["tgid"]
            if traced is not None and tgid not in traced:
                continue
            tgid_of.setdefault(tid, tgid)
            key = (tgid, ev["user_data"])
            if kind == "uring_submit":
                in_flight.setdefault(key, []).append((ts, tid))
                instant(f"submit {ev['opcode']}", "uring", tid, ts,
                        {"user_data": ev["user_data"], "cpu": ev["cpu"]})
                continue
            instant(f"complete res={ev['res']}", "uring", tid, ts,
                    {"user_data": ev["user_data"], "res": ev["res"], "cpu": ev["cpu"]})
            if in_flight.get(key):     # a multishot's later completions have no submit
                start, sub_tid = in_flight[key].pop(0)
                rid = f"{tgid}:{ev['user_data']}:{start}"
                for ph, at, who in (("b", start, sub_tid), ("e", ts, sub_tid)):
                    out.append({"ph": ph, "name": "request", "cat": "uring", "id": rid,
                                "pid": tgid, "tid": who, "ts": us(at),
                                "args": {"user_data": ev["user_data"], "res": ev["res"]}})
        else:
            unknown += 1
    for cpu in list(cpus.on_cpu):
        cpus.end(cpu, last, "trace ended")
    for tid, (coro, since) in coro_on.items():
        coro_runs.append((tid, coro, since, last))
    for coro, (tid, tg) in alive.items():
        out.append({"ph": "e", "name": _coro_name(coro), "cat": "coro", "id": coro, "pid": tg,
                    "tid": tid, "ts": us(last), "args": {"unfinished": True}})

    slices: dict[int, list[tuple[int, int]]] = {}
    for tid, cpu, start, end, how in sorted(cpus.done, key=lambda d: d[2]):
        slices.setdefault(tid, []).append((start, end))
        out.append({"ph": "X", "name": "running", "cat": "sched", "pid": tgid_of[tid],
                    "tid": tid, "ts": us(start), "dur": us(end) - us(start),
                    "args": {"cpu": cpu, "out": how}})
    # A coroutine's run, cut to its thread's on-CPU slices: nested in them.
    for tid, coro, start, end in coro_runs:
        for s0, e0 in slices.get(tid, ()):
            lo, hi = max(start, s0), min(end, e0)
            if lo < hi:
                out.append({"ph": "X", "name": _coro_name(coro), "cat": "coro",
                            "pid": tgid_of[tid], "tid": tid, "ts": us(lo),
                            "dur": us(hi) - us(lo), "args": {"coro": coro}})
    # Wake-ups: an arrow from the waker's running slice to the woken
    # thread's next one.
    flow = 0
    for tid, marks in wakes.items():
        starts = [s0 for s0, _ in slices.get(tid, ())]
        for ts, waker in marks:
            nxt = next((s0 for s0 in starts if s0 >= ts), None)
            on = any(s0 <= ts <= e0 for s0, e0 in slices.get(waker, ()))
            if nxt is None or not on:
                continue
            flow += 1
            out.append({"ph": "s", "name": "wakeup", "cat": "wakeup", "id": flow,
                        "pid": tgid_of[waker], "tid": waker, "ts": us(ts)})
            out.append({"ph": "f", "bp": "e", "name": "wakeup", "cat": "wakeup", "id": flow,
                        "pid": tgid_of[tid], "tid": tid, "ts": us(nxt)})

    def label(comm: str, ident: int) -> str:
        return f"{comm} [{ident}]" if comm else f"[{ident}]"
    tgids = sorted({tgid_of[t] for t in tgid_of if traced is None or tgid_of[t] in traced})
    meta_ev = [{"ph": "M", "name": "process_name", "pid": tg, "tid": tg,
                "args": {"name": label(names["processes"].get(tg, ""), tg)}} for tg in tgids]
    drawn = sorted({e["tid"] for e in out if e["ph"] != "M"})
    for tid in drawn:
        meta_ev.append({"ph": "M", "name": "thread_name", "pid": tgid_of[tid], "tid": tid,
                        "args": {"name": label(names["threads"].get(tid, ""), tid)}})
    other = {"format": TRACE_FORMAT, "t0_ns": t0, "tgid": header["tgid"],
             "events_read": len(events), "unknown_events": unknown, "flows": flow}
    other.update(meta or {})
    return {"traceEvents": meta_ev + out, "otherData": other}


def overlaps_per_cpu(doc: dict) -> list[str]:
    """On-CPU slices that overlap on one CPU: must be none."""
    by_cpu: dict[int, list[tuple[float, float, int]]] = {}
    for e in doc["traceEvents"]:
        if e.get("ph") == "X" and e.get("cat") == "sched":
            by_cpu.setdefault(e["args"]["cpu"], []).append((e["ts"], e["ts"] + e["dur"], e["tid"]))
    bad = []
    for cpu, segs in by_cpu.items():
        segs.sort()
        for (s1, e1, t1), (s2, _, t2) in zip(segs, segs[1:]):
            if s2 < e1 - 1e-6:
                bad.append(f"cpu {cpu}: tid {t1} [{s1}, {e1}] overlaps tid {t2} at {s2}")
    return bad


def improper(doc: dict) -> list[str]:
    """Complete events on one (pid, tid) track that neither nest nor keep
    apart (Perfetto drops those silently): must be none."""
    tracks: dict[tuple, list[tuple[float, float, str]]] = {}
    for e in doc["traceEvents"]:
        if e.get("ph") == "X":
            tracks.setdefault((e["pid"], e["tid"]), []).append(
                (e["ts"], e["ts"] + e["dur"], e["name"]))
    bad = []
    for key, segs in tracks.items():
        open_: list[tuple[float, float, str]] = []
        for s1, e1, n1 in sorted(segs, key=lambda x: (x[0], -x[1])):
            while open_ and open_[-1][1] <= s1 + 1e-6:
                open_.pop()
            if open_ and e1 > open_[-1][1] + 1e-6:
                bad.append(f"{key}: {n1} [{s1}, {e1}] crosses the end of {open_[-1][2]} "
                           f"[{open_[-1][0]}, {open_[-1][1]}]")
            open_.append((s1, e1, n1))
    return bad


def tracer_document(run_dir: Path, line: dict) -> dict | None:
    """The line's tracer document: its own file (every thread row) when the
    runner kept one, else the copy in the line (at most 64 thread rows)."""
    rel = (line.get("probe_files") or {}).get("schedtrace")
    if isinstance(rel, str) and (run_dir / rel).is_file():
        try:
            return json.loads((run_dir / rel).read_text())
        except (OSError, json.JSONDecodeError):
            pass
    return (line.get("probes") or {}).get("schedtrace")


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
    tdoc = tracer_document(run.path, line)
    traced = {p["tgid"] for p in (tdoc or {}).get("processes") or []} or None
    doc = convert(header, events, {"cell": args.cell, "repetition": line.get("repetition"),
                                   "events_file": str(path), "run": str(args.dir)},
                  names_from(tdoc), traced)
    bad = improper(doc) + overlaps_per_cpu(doc)
    if bad:
        # An internal bug, not bad input: say so rather than write a trace
        # that Perfetto would silently truncate.
        print("trace: internal error, overlapping slices: " + "; ".join(bad[:3]), file=sys.stderr)
        return 1
    safefs.write_text(args.perfetto, json.dumps(doc))
    print(f"trace: {len(doc['traceEvents'])} events -> {args.perfetto}")
    return 0
