#!/usr/bin/env python3
"""Run one external peer command pinned, and report its rusage.

    python3 harness/run/peer_exec.py [--cpus LIST] -- CMD [ARGS...]

The harness runs external peers (perf bench sched pipe, see peers.py) as
cells beside build/workload, and their records need what the workload's
record carries: the CPUs the run was confined to and a `usage` block
covering the whole process. This shim does both in the way the workload
does them: sched_setaffinity() on itself before it spawns CMD, so CMD
and all its threads inherit the mask (like taskset, without needing
util-linux), and wait4() for the child's rusage (its own and its waited-for
descendants', every thread included).

CMD's stdout and stderr pass through untouched; after CMD has exited the
shim prints ONE JSON line on stdout:
    {"peer_exec": {"schema": 1, "cpus": "0", "exit_status": 0,
                   "usage": {"wall_ns", "user_ns", "sys_ns", "max_rss_bytes",
                             "voluntary_switches", "involuntary_switches"}}}
and exits with CMD's status (killed by a signal: the shim kills itself with
the same signal, so the caller sees the same negative status).

Exit status of its own: 2 bad arguments (malformed CPU list, no CMD);
77 the CPUs asked for do not exist or are not allowed here; 127 CMD could
not be started. Besides harness.cpulist it imports only the standard
library: it runs under whatever interpreter started the harness, from any
directory.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

# Run as a script (peers.py starts it by its path): make harness importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from harness import cpulist  # noqa: E402

EXIT_BAD_INPUT, EXIT_SKIPPED, EXIT_NOT_STARTED = 2, 77, 127


def usage_of(ru, wall_ns: int) -> dict:
    return {"wall_ns": wall_ns,
            "user_ns": round(ru.ru_utime * 1e9),
            "sys_ns": round(ru.ru_stime * 1e9),
            # Linux reports ru_maxrss in KiB.
            "max_rss_bytes": ru.ru_maxrss * 1024,
            "voluntary_switches": ru.ru_nvcsw,
            "involuntary_switches": ru.ru_nivcsw}


def main(argv: list[str]) -> int:
    cpus_text = ""
    if argv[:1] == ["--cpus"] and len(argv) >= 2:
        cpus_text, argv = argv[1], argv[2:]
    if argv[:1] != ["--"] or len(argv) < 2:
        print("peer_exec: usage: peer_exec.py [--cpus LIST] -- CMD [ARGS...]", file=sys.stderr)
        return EXIT_BAD_INPUT
    cmd = argv[1:]
    if cpus_text:
        try:
            cpus = set(cpulist.parse(cpus_text))
        except ValueError as e:
            print(f"peer_exec: {e}", file=sys.stderr)
            return EXIT_BAD_INPUT
        allowed = os.sched_getaffinity(0)
        missing = sorted(cpus - allowed)
        if missing:
            # Not a bad config: the same config pins fine on a bigger box.
            print(f"peer_exec: cpus {cpus_text}: CPU {missing[0]} is not available here "
                  f"(allowed: {','.join(map(str, sorted(allowed)))})", file=sys.stderr)
            return EXIT_SKIPPED
        os.sched_setaffinity(0, cpus)
    t0 = time.monotonic_ns()
    try:
        pid = os.posix_spawnp(cmd[0], cmd, os.environ)
    except OSError as e:
        print(f"peer_exec: cannot start {cmd[0]}: {e.strerror}", file=sys.stderr)
        return EXIT_NOT_STARTED
    _, status, ru = os.wait4(pid, 0)      # retried on EINTR by Python (PEP 475)
    wall_ns = time.monotonic_ns() - t0
    code = os.waitstatus_to_exitcode(status)
    doc = {"peer_exec": {"schema": 1, "cpus": cpus_text, "exit_status": code,
                         "usage": usage_of(ru, wall_ns)}}
    sys.stdout.write(json.dumps(doc) + "\n")
    sys.stdout.flush()
    if code < 0:
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
        return 128 - code
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
