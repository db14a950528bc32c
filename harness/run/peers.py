"""Peers: programs we did not write the runtime of, run as cells of our run.

A peer serves task/model pairs of its own: an established benchmark under a
task only it has (perf bench sched pipe: perfbench/threads), or another
runtime under one of our tasks (echo/asyncio, echo/node; Go's goroutines:
pingpong/go, spawn/go, compute/go, echo/go, and go_locked). It runs on the
same machine, kernel and moment as our cells, through the same runner
(timeout, interleaving, repetitions, one records.jsonl line each), so the
two sides differ only in the code measured, and it never votes in a
verdict: claims name our models. A config asks for one by task and model:

    [[experiment]]
    task = "perfbench"
    params = { loops = 1000000, cpus = "0" }

Each peer here declares the task and models its cells are filed under, its
parameters (in `build/workload --list`'s format, so config.py checks them
with the same rules), how to build its command, and how to turn its output
into a record shaped like the workload's (schema, task, model, params,
status, reason, metrics, usage), so the report reads both alike; the run
saves the declarations in catalog.json beside the workload's. The command
runs under peer_exec.py, which pins it (sched_setaffinity, like taskset)
and reports its rusage for the record's `usage`. cells.py is how the runner
meets them.

This module builds argument lists and parses text; the runner spawns.
"""
from __future__ import annotations

import importlib.util
import json
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

RECORD_SCHEMA = 1
PEER_EXEC = Path(__file__).resolve().parent / "peer_exec.py"
USAGE_KEYS = ("wall_ns", "user_ns", "sys_ns", "max_rss_bytes", "voluntary_switches",
              "involuntary_switches")
# The shim's own exit statuses (peer_exec.py).
SHIM_BAD_INPUT, SHIM_SKIPPED, SHIM_NOT_STARTED = 2, 77, 127


class PeerOutputError(Exception):
    """The peer ran but its output is not what it should print."""


@dataclass(frozen=True)
class Peer:
    name: str
    task: str                       # cells are task/model/params like the workload's
    tool: str                       # the executable the runner must find ("perf")
    summary: str
    models: tuple[tuple[str, tuple[str, ...]], ...]   # model -> extra arguments
    default_models: tuple[str, ...]
    params: tuple[dict, ...]        # build/workload --list format
    argv: Callable[[str, str, dict], list[str]]       # (tool path, model, params)
    parse: Callable[[str, str, dict], dict]           # (stdout, model, params) -> metrics
    # Output that means "this tool cannot run this benchmark here" (an old or
    # stripped perf, a distribution wrapper without the kernel's perf):
    # skipped with that line as the reason, not failed.
    unsupported: tuple[str, ...] = ()
    # Finds the peer's own runtime: (path, None) or (None, why it is missing).
    # None: the tool is perf, which the harness finds for its probes too.
    find_tool: Callable[[], tuple[str | None, str | None]] | None = None
    # The metrics its records carry, in build/workload --list's format
    # (harness/records/catalog.py): its task's, or its models' own when the
    # workload has the task.
    metrics: tuple[dict, ...] = ()
    # In every figure: one colour for all its models, or one per model
    # (ours come from their traits).
    colour: str | dict[str, str] | None = None

    @property
    def model_names(self) -> tuple[str, ...]:
        return tuple(m for m, _ in self.models)

    def model_args(self, model: str) -> tuple[str, ...]:
        return dict(self.models)[model]

    def colours(self) -> dict[str, str]:
        """model -> its colour, for the models that declare one."""
        if isinstance(self.colour, dict):
            return dict(self.colour)
        return {m: self.colour for m in self.model_names} if self.colour else {}

    def params_as_run(self, given: dict) -> dict:
        """Every parameter with its value: the config's, else the default
        (--list spells every default as a string)."""
        def default(spec: dict) -> Any:
            return int(spec["default"]) if spec["type"] in ("u64", "i64") else spec["default"]
        return {s["key"]: given[s["key"]] if s["key"] in given else default(s)
                for s in self.params}


# A peer confined to a CPU set, as peer_exec.py pins it.
_PINNED_CPUS = {"key": "cpus", "type": "str", "default": "", "unit": None,
                "pattern": r"^(\d+(-\d+)?)?$",
                "help": "CPUs the peer is confined to (sched_setaffinity before it starts), "
                        "e.g. \"0\" or \"0-1\"; empty: not pinned"}

# ---- perf bench sched pipe ----------------------------------------------------

# tools/perf/bench/sched-pipe.c, default output format (perf 6.1):
#   # Running 'sched/pipe' benchmark:
#   # Executed 1000 pipe operations between two threads
#
#        Total time: 0.013 [sec]
#
#         13.426000 usecs/op
#             74482 ops/sec
# One "op" is a round trip: A writes pipe 1 and reads pipe 2, B reads pipe 1
# and writes pipe 2, so it holds two hand-offs. perf times the loop with
# gettimeofday, so usecs/op has a resolution of 1 us / loops.
_EXECUTED_RE = re.compile(r"^# Executed (\d+) pipe operations between two (\w+)", re.M)
_USECS_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s+usecs/op\s*$", re.M)
_OPS_RE = re.compile(r"^\s*([0-9]+)\s+ops/sec\s*$", re.M)


def _sched_pipe_argv(perf: str, model: str, params: dict) -> list[str]:
    return [perf, "bench", "sched", "pipe", *SCHED_PIPE.model_args(model),
            "-l", str(params["loops"])]


def _sched_pipe_parse(stdout: str, model: str, params: dict) -> dict:
    ex = _EXECUTED_RE.search(stdout)
    us = _USECS_RE.search(stdout)
    if not ex or not us:
        raise PeerOutputError("perf bench sched pipe printed no '# Executed N pipe "
                              "operations' and 'usecs/op' lines")
    loops, between = int(ex.group(1)), ex.group(2)
    if loops != params["loops"]:
        raise PeerOutputError(f"perf ran {loops} loops, {params['loops']} were asked for")
    if between != model:
        raise PeerOutputError(f"perf ran between two {between}, model {model} was asked for")
    round_trip_ns = float(us.group(1)) * 1000.0
    metrics = {"round_trip_ns": round(round_trip_ns, 3),
               "handoff_ns": round(round_trip_ns / 2.0, 3),
               "round_trips": loops,
               "handoffs": 2 * loops}
    ops = _OPS_RE.search(stdout)
    if ops:
        metrics["ops_per_s"] = int(ops.group(1))
    return metrics


SCHED_PIPE = Peer(
    name="perf-bench-sched-pipe",
    task="perfbench",
    tool="perf",
    summary="perf bench sched pipe: two tasks pass a byte back and forth through two pipes",
    models=(("threads", ("-T",)), ("processes", ())),
    default_models=("threads",),
    params=(
        {"key": "loops", "type": "u64", "default": "1000000", "unit": "count", "min": 1,
         "max": 1000000000, "help": "round trips (perf's -l)"},
        _PINNED_CPUS,
    ),
    argv=_sched_pipe_argv,
    parse=_sched_pipe_parse,
    unsupported=("Unknown collection", "Unknown benchmark", "unknown option",
                 "unknown switch", "perf not found for kernel", "not supported"),
    metrics=tuple({"name": n, "kind": "number", "unit": u, "better": b, "headline": h,
                   "optional": n == "ops_per_s", "help": text} for n, u, b, h, text in (
        ("round_trip_ns", "ns", "lower", True, "perf's usecs/op: one op is a round trip"),
        ("handoff_ns", "ns", "lower", False, "round_trip_ns / 2"),
        ("round_trips", "count", None, False, "loops"),
        ("handoffs", "count", None, False, "2 x loops"),
        ("ops_per_s", "per_s", "higher", False, "perf's ops/sec")))
)

# ---- build/bench/switch: the raw context switch, as cells ----------------------

# Published raw switches (Boost.Context, libaco, minicoro) are a switch with no
# scheduler behind it; our counterpart is build/bench/switch's `ours`
# (userspace/bench/switch.c). Run as a peer it is repeated, interleaved and
# recorded like any cell, so `make run` measures it. Each run reports, per
# variant, the median over its own repetitions (ns per switch).
SWITCH_BENCH_PATH = Path(__file__).resolve().parents[2] / "build" / "bench" / "switch"
_SWITCH_VARIANTS = (
    ("ours", "our switch (callee-saved registers, sp, pc), what the runtime uses"),
    ("ours_fpctl", "ours plus the FP control words"),
    ("floor", "a minimal register-only switch, the floor"),
    ("swapcontext", "glibc swapcontext (a signal-mask system call per switch)"),
    ("handoff_own", "the runtime's hand-off between two coroutines, own stacks"),
    ("handoff_shared", "the same on one shared stack (copies per switch)"),
)


def _switch_tool() -> tuple[str | None, str | None]:
    if SWITCH_BENCH_PATH.exists():
        return str(SWITCH_BENCH_PATH), None
    return None, f"{SWITCH_BENCH_PATH} is not built: run make build"


def _switch_argv(tool: str, model: str, params: dict) -> list[str]:
    return [tool, str(params["repetitions"])]


def _switch_parse(stdout: str, model: str, params: dict) -> dict:
    try:
        doc = json.loads(stdout)
        metrics = {f"{key}_ns": float(doc[key]["median"]) for key, _ in _SWITCH_VARIANTS}
    except (ValueError, KeyError, TypeError) as e:
        raise PeerOutputError(f"build/bench/switch printed no JSON with every variant's "
                              f"median ({type(e).__name__}: {e})") from None
    if doc.get("repetitions") != params["repetitions"]:
        raise PeerOutputError(f"build/bench/switch ran {doc.get('repetitions')} repetitions, "
                              f"{params['repetitions']} were asked for")
    metrics["handoff_shared_copy_bytes_per_switch"] = float(
        doc.get("handoff_shared_copy_bytes_per_switch", 0.0))
    return metrics


SWITCH_BENCH = Peer(
    name="switch-bench",
    task="switchbench",
    tool="switch",
    summary="build/bench/switch: a raw user-space context switch, no scheduler",
    models=(("raw", ()),),
    default_models=("raw",),
    params=(
        {"key": "repetitions", "type": "u64", "default": "3", "unit": "count", "min": 1,
         "max": 1000, "help": "interleaved repetitions inside one run (the median is kept)"},
        _PINNED_CPUS,
    ),
    argv=_switch_argv,
    parse=_switch_parse,
    find_tool=_switch_tool,
    metrics=tuple({"name": f"{key}_ns", "kind": "number", "unit": "ns", "better": "lower",
                   "headline": key == "ours", "optional": False,
                   "help": f"ns per switch, median of the run's repetitions: {text}"}
                  for key, text in _SWITCH_VARIANTS) + (
        {"name": "handoff_shared_copy_bytes_per_switch", "kind": "number", "unit": "bytes",
         "better": None, "headline": False, "optional": False,
         "help": "bytes of stack copied per shared-stack hand-off"},),
)

# ---- echo servers of other runtimes, driven by build/loadgen ---------------------

# Each runs its server on `cpus` and build/loadgen on `client_cpus` through
# echo_peer.py, with the echo task's parameters and metrics (docs/echo.md),
# so its cells sit beside threads, coro and uring in the echo tables.
ECHO_PEER = Path(__file__).resolve().parent / "echo_peer.py"
_ECHO_PARAMS = (
    {"key": "connections", "type": "u64", "default": "50", "unit": "count", "min": 1,
     "max": 100000, "help": "open connections"},
    {"key": "message_bytes", "type": "u64", "default": "64", "unit": "bytes", "min": 1,
     "max": 1 << 20, "help": "bytes per request (and per echo)"},
    {"key": "requests", "type": "u64", "default": "0", "unit": "count", "min": 0,
     "max": 1000000000000, "help": "measured requests in total; 0: run for duration_ms"},
    {"key": "duration_ms", "type": "u64", "default": "2000", "unit": "ms", "min": 1,
     "max": 3600000, "help": "measured window when requests is 0"},
    {"key": "rate", "type": "u64", "default": "0", "unit": "requests/s", "min": 0,
     "max": 1000000000, "help": "0: closed loop; >0: open loop at this total rate, "
                                "latency from each request's due time"},
    {"key": "warmup", "type": "u64", "default": "0", "unit": "count", "min": 0,
     "max": 1000000000, "help": "untimed round trips per connection first (at least 1)"},
    {"key": "seed", "type": "u64", "default": "1", "unit": None, "min": 0,
     "max": 2**63, "help": "seed of the message content"},
    {"key": "cpus", "type": "str", "default": "", "unit": None,
     "pattern": r"^(\d+(-\d+)?(,\d+(-\d+)?)*)?$",
     "help": "CPUs the server is confined to, e.g. \"0\"; empty: not pinned"},
    {"key": "client_cpus", "type": "str", "default": "", "unit": None,
     "pattern": r"^(\d+(-\d+)?(,\d+(-\d+)?)*)?$",
     "help": "CPUs of loadgen, e.g. \"1\"; empty: every CPU"},
)


def _python_tool() -> tuple[str | None, str | None]:
    return sys.executable, None


def _uvloop_tool() -> tuple[str | None, str | None]:
    if importlib.util.find_spec("uvloop") is None:
        return None, f"uvloop is not installed for {sys.executable} (Debian: python3-uvloop)"
    return sys.executable, None


def _node_tool() -> tuple[str | None, str | None]:
    node = shutil.which("node") or shutil.which("nodejs")
    return (node, None) if node else (None, "Node.js is not installed (Debian: nodejs)")


def _flags(params: dict) -> list[str]:
    """--KEY VALUE for every parameter as run but cpus (peer_exec.py pins the
    process before the peer starts)."""
    return [a for k, v in params.items() if k != "cpus" for a in (f"--{k}", str(v))]


def _last_metrics(stdout: str, marker: str, *path: str) -> dict | None:
    """The metrics object of the last stdout line that starts with marker,
    found at path inside it; None when there is none."""
    for line in reversed(stdout.strip().splitlines()):
        if line.startswith(marker):
            try:
                doc = json.loads(line)
                for key in path:
                    doc = doc[key]
            except (ValueError, KeyError, TypeError):
                return None
            return doc if isinstance(doc, dict) and doc else None
    return None


def _echo_argv(server: str) -> Callable[[str, str, dict], list[str]]:
    def argv(tool: str, model: str, params: dict) -> list[str]:
        # the tool (python or node) is found again by echo_peer.py itself;
        # the harness's interpreter runs the driver
        return [sys.executable, str(ECHO_PEER), "--server", server, *_flags(params)]
    return argv


def _echo_parse(stdout: str, model: str, params: dict) -> dict:
    metrics = _last_metrics(stdout, '{"echo_peer"', "echo_peer", "metrics")
    if metrics and "requests_per_s" in metrics:
        return metrics
    raise PeerOutputError("echo_peer.py printed no {\"echo_peer\": {\"metrics\": ...}} line")


def _echo_peer(name: str, server: str, summary: str, colour: str,
               find_tool: Callable[[], tuple[str | None, str | None]]) -> Peer:
    return Peer(name=name, task="echo", tool=server, summary=summary,
                models=((server, ()),), default_models=(server,), params=_ECHO_PARAMS,
                argv=_echo_argv(server), parse=_echo_parse,
                unsupported=("echo peer skipped:",), find_tool=find_tool, colour=colour,
                metrics=({"name": "server_runtime", "kind": "text", "unit": None,
                          "better": None, "headline": False, "optional": False,
                          "help": "the server's runtime and its version"},))


ECHO_ASYNCIO = _echo_peer("echo-asyncio", "asyncio",
                          "echo server on Python asyncio (Protocol), one thread",
                          "#D55E00", _python_tool)
ECHO_UVLOOP = _echo_peer("echo-uvloop", "uvloop",
                         "the asyncio echo server on uvloop (libuv), one thread", "#56B4E9",
                         _uvloop_tool)
ECHO_NODE = _echo_peer("echo-node", "node", "echo server on Node.js net, one event loop",
                       "#000000", _node_tool)

# ---- Go: goroutines beside mn ------------------------------------------------------

# build/peers/gotasks (peers/go/) runs pingpong, spawn and compute as the
# workload does and prints a record of the same shape; its echo server runs
# under echo_peer.py like the other servers. go_locked locks every goroutine
# the task creates to its own OS thread (runtime.LockOSThread).
GOTASKS = Path(__file__).resolve().parents[2] / "build" / "peers" / "gotasks"
GO_MODELS = (("go", ()), ("go_locked", ()))
# The Go project's own blue; go_locked a darker shade of it, so the two
# read as one runtime yet stay apart in a figure.
GO_COLOUR = {"go": "#00ADD8", "go_locked": "#00607A"}


def _gotasks_tool() -> tuple[str | None, str | None]:
    if GOTASKS.is_file():
        return str(GOTASKS), None
    if shutil.which("go") is None:
        return None, "Go is not installed (Debian: golang-go; make deps installs it)"
    return None, f"{GOTASKS} is not built: run make build"


def _count(key: str, default: str, unit: str | None, text: str, lo: int = 0) -> dict:
    return {"key": key, "type": "u64", "default": default, "unit": unit, "min": lo,
            "max": 1 << 40, "help": text}


_GO_COMMON = (
    {"key": "cpus", "type": "str", "default": "", "unit": None,
     "pattern": r"^(\d+(-\d+)?(,\d+(-\d+)?)*)?$",
     "help": "CPUs the process is confined to before Go starts (GOMAXPROCS is their "
             "number), e.g. \"0\" or \"0-1\"; empty: not pinned"},
    _count("seed", "1", None, "seed of every pseudo-random choice the task makes"),
)
_GO_TASKS = {
    "pingpong": (_count("iterations", "100000", "count",
                        "timed round trips (two hand-offs each)", 1),
                 _count("warmup", "1000", "count", "untimed round trips first")),
    "spawn": (_count("tasks", "10000", "count", "goroutines to create and park", 1),
              _count("warmup", "0", "count", "goroutines created and joined first")),
    "compute": (_count("work_units", "12000", "count",
                       "total units of work, split evenly across the workers", 1),
                _count("workers", "2", "count", "goroutines sharing the work", 1),
                _count("unit_iters", "100000", "count",
                       "dependent multiply/xor-shift steps per unit (the workload's)", 1),
                _count("warmup", "0", "count", "untimed units first")),
}


def _go_metric(name: str, unit: str | None, text: str, kind: str = "number",
               optional: bool = True) -> dict:
    return {"name": name, "kind": kind, "unit": unit, "better": None, "headline": False,
            "optional": optional, "help": text}


# the go models' own, declared once for every task they serve (optional: the
# echo server's records carry server_runtime instead)
_GO_METRICS = (_go_metric("gomaxprocs", "count", "Go's GOMAXPROCS: the CPUs the process had"),
               _go_metric("go_version", None, "runtime.Version()", "text"))
_GO_EXTRA = {
    "pingpong": (_go_metric("round_trip_ns", "ns", "window_ns / iterations: the unit golang/go "
                            "issue 18023 timed"),),
    "spawn": (_go_metric("go_stack_bytes_per_task", "bytes",
                         "runtime.MemStats.StackInuse delta per parked goroutine"),),
    "compute": (),
}


def _gotasks_argv(task: str) -> Callable[[str, str, dict], list[str]]:
    def argv(tool: str, model: str, params: dict) -> list[str]:
        return [tool, task, "--model", model, *_flags(params)]
    return argv


def _gotasks_parse(stdout: str, model: str, params: dict) -> dict:
    """gotasks prints one record shaped like the workload's: its metrics."""
    metrics = _last_metrics(stdout, "{", "metrics")
    if metrics:
        return metrics
    raise PeerOutputError("gotasks printed no record with metrics")


def _go_peer(task: str) -> Peer:
    return Peer(name=f"go-{task}", task=task, tool="gotasks",
                summary=f"{task} on Go's goroutines (go), or each goroutine locked to its own "
                        "thread (go_locked)",
                models=GO_MODELS, default_models=("go",), params=_GO_TASKS[task] + _GO_COMMON,
                argv=_gotasks_argv(task), parse=_gotasks_parse, find_tool=_gotasks_tool,
                metrics=_GO_METRICS + _GO_EXTRA[task], colour=GO_COLOUR)


def _go_echo_argv(tool: str, model: str, params: dict) -> list[str]:
    return _echo_argv(model)(tool, model, params)


GO_ECHO = Peer(name="go-echo", task="echo", tool="gotasks",
               summary="echo server on Go's net package: a goroutine per connection "
                       "(go_locked: each locked to its own thread)",
               models=GO_MODELS, default_models=("go",), params=_ECHO_PARAMS,
               argv=_go_echo_argv, parse=_echo_parse, unsupported=("echo peer skipped:",),
               find_tool=_gotasks_tool, colour=GO_COLOUR, metrics=(
                   {"name": "server_runtime", "kind": "text", "unit": None, "better": None,
                    "headline": False, "optional": False,
                    "help": "the server's runtime and its version"},))

PEERS: dict[str, Peer] = {
    p.name: p for p in (SCHED_PIPE, SWITCH_BENCH, ECHO_ASYNCIO, ECHO_UVLOOP, ECHO_NODE,
                        *(_go_peer(t) for t in _GO_TASKS), GO_ECHO)}


# ---- command and record ---------------------------------------------------------

def serving(task: str, model: str) -> Peer | None:
    """The peer whose cells are task/model, or None (the workload's)."""
    return next((p for p in PEERS.values()
                 if p.task == task and model in p.model_names), None)


def command(peer: Peer, model: str, params: dict, tool_path: str | None = None,
            python: str = sys.executable) -> list[str]:
    """The exact argv: the pinning shim, then the peer's own command line."""
    p = peer.params_as_run(params)
    if peer.find_tool:
        tool_path = peer.find_tool()[0]
    cmd = [python, str(PEER_EXEC)]
    if p.get("cpus"):
        cmd += ["--cpus", str(p["cpus"])]
    return cmd + ["--"] + peer.argv(tool_path or peer.tool, model, p)


def unavailable(peer: Peer, tool_missing: str | None) -> str | None:
    """Why the peer cannot run here at all (its tool is missing), or None.
    tool_missing: why perf is missing, for the peers that run perf."""
    if peer.find_tool:
        tool_missing = peer.find_tool()[1]
    if tool_missing:
        return f"peer {peer.name} not run: {tool_missing}"
    return None


def split_shim(stdout: str) -> tuple[str, dict | None]:
    """(the peer's own stdout, the shim's peer_exec document or None)."""
    lines = stdout.rstrip("\n").split("\n")
    for i in range(len(lines) - 1, -1, -1):
        text = lines[i].strip()
        if not text.startswith('{"peer_exec"'):
            continue
        try:
            doc = json.loads(text)["peer_exec"]
        except (json.JSONDecodeError, KeyError, TypeError):
            return stdout, None
        return "\n".join(lines[:i] + lines[i + 1:]) + "\n", doc
    return stdout, None


def record(peer: Peer, model: str, params: dict, status: str, reason: str | None,
           metrics: dict | None = None, usage: dict | None = None) -> dict:
    """A record shaped like build/workload's (schemas/record.schema.json)."""
    return {"schema": RECORD_SCHEMA, "task": peer.task, "model": model,
            "params": peer.params_as_run(params), "status": status,
            "reason": reason, "metrics": metrics or {},
            "usage": usage if usage is not None else {k: 0 for k in USAGE_KEYS},
            "peer": peer.name}


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def make_record(peer: Peer, model: str, params: dict, exit_status: int | None,
                stdout: str, stderr: str) -> dict:
    """The record of one finished peer run (not for timeouts: nothing to read).

    status ok: exit 0 and the output parsed; skipped: the tool cannot run
    this benchmark here, or the CPUs asked for are not available; failed:
    anything else, with the reason.
    """
    p = peer.params_as_run(params)
    own, shim = split_shim(stdout)
    usage = None
    if shim and isinstance(shim.get("usage"), dict):
        usage = {k: int(shim["usage"].get(k) or 0) for k in USAGE_KEYS}
    status, why = _peer_status(peer, exit_status, own, stderr, shim is not None)
    if status != "ok":
        return record(peer, model, p, status, why, usage=usage)
    try:
        metrics = peer.parse(own, model, p)
    except PeerOutputError as e:
        return record(peer, model, p, "failed", str(e), usage=usage)
    return record(peer, model, p, "ok", None, metrics, usage)


def _peer_status(peer: Peer, exit_status: int | None, own: str, stderr: str,
                 shim_reported: bool) -> tuple[str, str | None]:
    """(status, reason) of a finished peer run from its exit status and output."""
    if exit_status == 0:
        return "ok", None
    if not shim_reported and exit_status in (SHIM_SKIPPED, SHIM_NOT_STARTED, SHIM_BAD_INPUT):
        # The shim ended before the peer ran: its own one-line message.
        why = _last_line(stderr) or f"peer_exec exit status {exit_status}"
        return ("skipped" if exit_status == SHIM_SKIPPED else "failed"), why
    for line in (own + "\n" + stderr).splitlines():
        if any(s.lower() in line.lower() for s in peer.unsupported):
            return "skipped", f"{peer.tool} cannot run {peer.name} here: {line.strip()}"
    why = _last_line(stderr) or _last_line(own) or "no message"
    if exit_status is not None and exit_status < 0:
        return "failed", f"killed by signal {-exit_status}: {why}"
    return "failed", f"exit status {exit_status}: {why}"
