#!/usr/bin/env python3
"""Drive an echo-server peer (asyncio, uvloop, Node.js, Go) with build/loadgen.

    python3 harness/run/echo_peer.py --server asyncio|uvloop|node|go|go_locked [--loadgen PATH]
        [--client_cpus LIST] [--connections N] [--message_bytes N] [--requests N]
        [--duration_ms N] [--rate N] [--warmup N] [--seed N]

The peer runs exactly as our echo task runs our servers: the server starts on
the CPUs this process was given (the harness pins it with peer_exec.py,
`cpus`), loadgen on `client_cpus` with the same arguments the echo task
passes (at least one warmup round trip per connection, the same deadline),
and the metrics carry the echo task's names (docs/echo.md). The server's CPU
time is read from the kernel's clock for its process (every thread, ns)
when loadgen starts, when loadgen marks the start and the end of its
measured window (--window-marks), and when it ends, so the interpreter's
start-up is not counted and server_cpu_ns_per_request is the steady window,
set-up apart, as the echo task measures it.

Prints ONE JSON line {"echo_peer": {"metrics": {...}}} on stdout and exits 0;
on failure one line on stderr and exit 1 (a server that died says so, with
its stderr); a runtime that is not installed: "echo peer skipped: ..." on
stderr and exit 77; bad arguments: exit 2.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SERVERS = REPO / "peers" / "echo"
GOTASKS = REPO / "build" / "peers" / "gotasks"     # peers/go/, built by make
EXIT_FAILED, EXIT_BAD_INPUT, EXIT_SKIPPED = 1, 2, 77
LISTEN_TIMEOUT_S = 20
EXIT_GRACE_S = 2
# the echo task's figure for a client-bound cell (userspace/tasks/echo.c)
CLIENT_BOUND_UTILIZATION = 0.8
DIST_KEYS = ("n", "sum", "min", "p50", "p90", "p99", "p999", "max")


class Skip(Exception):
    """The peer's runtime is not installed here."""


class Failed(Exception):
    """The run failed; the message says why."""


def server_argv(server: str, backlog: int) -> list[str]:
    """The server's command line, or Skip when its runtime is missing."""
    if server in ("asyncio", "uvloop"):
        if server == "uvloop" and importlib.util.find_spec("uvloop") is None:
            raise Skip("uvloop is not installed for /usr/bin/python3 (Debian: python3-uvloop)")
        return [sys.executable, str(SERVERS / "asyncio_echo.py"), "--loop", server,
                "--backlog", str(backlog)]
    if server in ("go", "go_locked"):
        if not GOTASKS.is_file():
            raise Skip(f"{GOTASKS} is not built (Go: Debian golang-go, then make build)")
        return [str(GOTASKS), "echo-server", "--backlog", str(backlog)] + (
            ["--locked"] if server == "go_locked" else [])
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        raise Skip("Node.js is not installed (Debian: nodejs)")
    return [node, str(SERVERS / "node_echo.js"), str(backlog)]


def process_cpu_ns(pid: int) -> int:
    """CPU time of a whole process, every thread, from its kernel clock
    (clock_getcpuclockid(pid): CPUCLOCK_SCHED of the process)."""
    return time.clock_gettime_ns(((~pid) << 3) | 2)


def tail(path: Path) -> str:
    text = path.read_text(errors="replace").strip() if path.exists() else ""
    return " | ".join(text.splitlines()[-3:])[-300:] or "no message"


def wait_listening(proc: subprocess.Popen, errlog: Path) -> dict:
    """The server's first stdout line (its port), or Skip/Failed."""
    ready, _, _ = select.select([proc.stdout], [], [], LISTEN_TIMEOUT_S)
    line = proc.stdout.readline() if ready else ""
    if not line:
        code = proc.poll()
        if code == EXIT_SKIPPED:
            raise Skip(tail(errlog))
        if code is None:
            raise Failed(f"server printed no port within {LISTEN_TIMEOUT_S} s")
        raise Failed(f"server exited with status {code} before listening: {tail(errlog)}")
    try:
        doc = json.loads(line)
        int(doc["port"])
    except (ValueError, KeyError, TypeError):
        raise Failed(f"server's first line is not {{\"port\": N}}: {line.strip()[:120]}")
    return doc


def loadgen_argv(loadgen: str, port: int, a: argparse.Namespace) -> list[str]:
    """What the echo task passes loadgen (userspace/tasks/echo.c), same deadline."""
    deadline_s = (30 + a.duration_ms // 1000 + a.connections // 200 + a.requests // 2000
                  + a.warmup * a.connections // 2000)
    client_cpus = a.client_cpus or f"0-{os.cpu_count() - 1}"
    return [loadgen, "--port", str(port), "--connections", str(a.connections),
            "--message-bytes", str(a.message_bytes), "--requests", str(a.requests),
            "--duration-ms", str(a.duration_ms), "--rate", str(a.rate),
            "--warmup", str(max(a.warmup, 1)), "--seed", str(a.seed),
            "--deadline-s", str(deadline_s), "--cpus", client_cpus, "--window-marks"]


def raise_nofile(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= need:
        return
    if hard != resource.RLIM_INFINITY and hard < need:
        raise Failed(f"RLIMIT_NOFILE hard limit {hard} < {need} needed for the connections")
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))


def dist(doc: dict, key: str) -> dict:
    d = doc.get(key)
    if not isinstance(d, dict) or any(not isinstance(d.get(k), int) for k in DIST_KEYS):
        raise Failed(f"loadgen's {key} lacks one of {', '.join(DIST_KEYS)}")
    return {k: d[k] for k in DIST_KEYS}


def server_cpu_metrics(cpu: dict, lg: dict, total: int, server_cpus: int) -> dict:
    """The server's CPU as the echo task reports it: the steady window over
    loadgen's measured requests, set-up per connection, the whole span."""
    span = cpu["end"] - cpu["start"]
    window = cpu["window_end"] - cpu["window_start"]
    setup = cpu["window_start"] - cpu["start"]
    return {
        "server_cpu_ns": span,
        "server_cpu_ns_window": window,
        "server_cpu_ns_per_request": window / lg["requests"] if lg["requests"] else 0.0,
        "server_setup_cpu_ns": setup,
        "server_setup_cpu_ns_per_connection":
            setup / lg["connections"] if lg["connections"] else 0.0,
        "server_span_cpu_ns_per_request": span / total if total else 0.0,
        "server_cpu_utilization":
            span / (cpu["wall"] * server_cpus) if cpu["wall"] else 0.0,
    }


def metrics_of(lg: dict, a: argparse.Namespace, cpu: dict, server_cpus: int,
               hello: dict) -> dict:
    """The echo task's metrics (userspace/tasks/echo.c) from loadgen's report
    and the server's CPU. loadgen verified every echoed byte, so what it sent
    (warmup included) is what the server echoed."""
    try:
        total = lg["requests"] + lg["warmup_requests"]
        wall = lg["wall_ns_window"]
        m = {
            "requests_per_s": lg["requests_per_s"],
            "offered_rate": lg["rate"],
            "latency_ns": dist(lg, "latency_ns"),
            "requests": lg["requests"],
            "loadgen_requests": total,
            "server_requests": total,
            "loadgen_bytes_sent": lg["bytes_sent"],
            "mismatches": lg["mismatches"],
            "late_starts": lg["late_starts"],
            "requests_unsent": lg["requests_unsent"],
            "connect_ns": lg["connect_ns"],
            "window_ns": lg["window_ns"],
            "connections": lg["connections"],
            "client_cpu_utilization": lg["cpu_utilization"],
            "client_runqueue_wait_fraction":
                lg["runqueue_wait_ns_window"] / wall if wall else 0.0,
            "client_bound": lg["cpu_utilization"] > CLIENT_BOUND_UTILIZATION,
            "client_cpus_usable": lg["cpus_usable"],
            "client_cpu_ns_window": lg["cpu_ns_window"],
            "client_wall_ns_window": wall,
            "client_cpu_ns_per_request":
                lg["cpu_ns_window"] / lg["requests"] if lg["requests"] else 0.0,
            "client_cpu_ns": lg["cpu_ns"],
            "client_ring_setup": lg["ring_setup"],
        }
    except (KeyError, TypeError) as e:
        raise Failed(f"loadgen's output is not what echo expects: key {e} missing")
    if "offered_rate_met" in lg:
        m["offered_rate_met"] = lg["offered_rate_met"]
    if a.rate:
        m["send_lag_ns"] = dist(lg, "send_lag_ns")
    m.update(server_cpu_metrics(cpu, lg, total, server_cpus))
    m["server_runtime"] = str(hello.get("version", ""))
    return m


def drive(argv: list[str], server_pid: int, cpu: dict,
          workdir: Path) -> subprocess.CompletedProcess:
    """Runs loadgen; reads the server's CPU clock into cpu as each window
    mark arrives (lines before loadgen's JSON). Its stdout without the marks."""
    errlog = workdir / "loadgen.stderr"
    with open(errlog, "w") as err:
        lg = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=err, text=True)
        with lg:
            line = lg.stdout.readline()
            while line.strip() in ("window_start", "window_end"):
                try:
                    cpu[line.strip()] = process_cpu_ns(server_pid)
                except OSError:
                    pass        # the server is gone: the caller says so
                line = lg.stdout.readline()
            out = line + lg.stdout.read()
    return subprocess.CompletedProcess(argv, lg.returncode, out, errlog.read_text())


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run(server_cmd: list[str], a: argparse.Namespace, loadgen: str, workdir: Path) -> dict:
    """One peer cell: start the server, drive it, stop it. The metrics, or
    Skip/Failed."""
    raise_nofile(a.connections + 64)
    errlog = workdir / "server.stderr"
    with open(errlog, "w") as err:
        proc = subprocess.Popen(server_cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=err, text=True)
    try:
        hello = wait_listening(proc, errlog)
        server_cpus = len(os.sched_getaffinity(proc.pid))
        wall0 = time.monotonic_ns()
        cpu = {"start": process_cpu_ns(proc.pid)}
        try:
            lg_run = drive(loadgen_argv(loadgen, int(hello["port"]), a), proc.pid, cpu, workdir)
        except OSError as e:
            raise Failed(f"cannot start loadgen {loadgen}: {e.strerror}")
        died = proc.poll()
        if lg_run.returncode != 0 and died is None:
            # a server that ended the run may still be on its way out
            try:
                died = proc.wait(timeout=EXIT_GRACE_S)
            except subprocess.TimeoutExpired:
                pass
        if died is not None:
            try:
                seen = json.loads(lg_run.stdout).get("reason")
            except (ValueError, AttributeError):
                seen = None
            raise Failed(f"the server died during the run (exit status {died}): "
                         f"{tail(errlog)}; loadgen: {seen or 'no report'}")
        cpu["end"], cpu["wall"] = process_cpu_ns(proc.pid), time.monotonic_ns() - wall0
        try:
            lg = json.loads(lg_run.stdout)
        except ValueError:
            lg = None
        if lg_run.returncode != 0:
            why = (lg or {}).get("reason") or lg_run.stderr.strip() or "no reason given"
            raise Failed(f"loadgen exited with status {lg_run.returncode}: {why}")
        if not isinstance(lg, dict):
            raise Failed(f"loadgen's output is not JSON: {lg_run.stdout.strip()[:120]}")
        if "window_start" not in cpu or "window_end" not in cpu:
            raise Failed("loadgen printed no window marks (--window-marks)")
        return metrics_of(lg, a, cpu, server_cpus, hello)
    finally:
        stop(proc)


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--server", choices=["asyncio", "uvloop", "node", "go", "go_locked"],
                    required=True)
    ap.add_argument("--loadgen", default=str(REPO / "build" / "loadgen"))
    ap.add_argument("--client_cpus", default="")
    for key, default in (("connections", 50), ("message_bytes", 64), ("requests", 0),
                         ("duration_ms", 2000), ("rate", 0), ("warmup", 0), ("seed", 1)):
        ap.add_argument("--" + key, type=int, default=default)
    a = ap.parse_args(argv)
    if a.connections < 1 or a.message_bytes < 1 or a.duration_ms < 1 or min(
            a.requests, a.rate, a.warmup, a.seed) < 0:
        ap.error("connections, message_bytes and duration_ms must be >= 1, the rest >= 0")
    return a


def main(argv: list[str]) -> int:
    a = parse_args(argv)
    try:
        if not os.access(a.loadgen, os.X_OK):
            raise Failed(f"loadgen not found at {a.loadgen}: build it with `make build`")
        cmd = server_argv(a.server, a.connections + 64)
        with tempfile.TemporaryDirectory(prefix="echo-peer-") as tmp:
            metrics = run(cmd, a, a.loadgen, Path(tmp))
    except Skip as e:
        print(f"echo peer skipped: {e}", file=sys.stderr)
        return EXIT_SKIPPED
    except Failed as e:
        print(f"echo peer {a.server}: {e}", file=sys.stderr)
        return EXIT_FAILED
    print(json.dumps({"echo_peer": {"metrics": metrics}}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
