"""How much of a run's CPUs went to other work: /proc/stat before and after.

A verdict about threads using a second CPU says nothing when another job
held that CPU. The runner takes a Snapshot just before it starts a
workload process and another just after it has reaped it; measure() turns
the two into the share of the run's CPUs that was busy with something other
than the run:

    busy ticks of the run's CPUs (after - before) / USER_HZ
      - CPU time of the run's processes (RUSAGE_CHILDREN, after - before)
      - CPU time of the harness itself (RUSAGE_SELF, after - before)
    over (number of those CPUs x wall time), clamped to [0, 1].

Busy is user + nice + system + irq + softirq + steal of each CPU's line.
idle and iowait are a CPU with nothing to run; guest and guest_nice are
already inside user and nice (counting them again would count a guest
twice); steal is time the hypervisor gave the virtual CPU's physical one
to someone else, which the run could not use either. With tick-based
accounting (the default) a process's system time includes the interrupts
that hit while it ran, so the run's own irq and softirq time is subtracted
with its rusage.

All of the run's and the harness's CPU time is subtracted, wherever it ran:
a tracer or the harness on a CPU outside the set makes the share smaller,
never larger. The counters are in USER_HZ ticks (1/100 s here): each of the
two readings is truncated by up to one tick per CPU, so a run of W seconds
has its share known to about 1 tick / W (10% at 0.1 s, 1% at 1 s).
docs/interference.md has the details; docs/verdicts.md how a verdict uses it.
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass

from harness import cpulist

PROC_STAT = "/proc/stat"
METHOD = "proc_stat"
# Fields of a "cpuN" line, in the kernel's order (proc(5)).
FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal", "guest",
          "guest_nice")
BUSY = ("user", "nice", "system", "irq", "softirq", "steal")
# Parameters that name CPUs a cell's processes may run on (the load
# generator of an echo cell has its own).
CPU_PARAMS = ("cpus", "client_cpus")


@dataclass(frozen=True)
class Snapshot:
    busy_ticks: dict[int, int] | None   # cpu -> busy ticks; None: unreadable
    why_not: str                        # why busy_ticks is None
    self_s: float                       # the harness's own CPU time so far
    children_s: float                   # CPU time of its reaped children so far
    at_s: float                         # time.monotonic()


def busy_ticks(text: str) -> dict[int, int]:
    """cpu -> busy ticks of a /proc/stat text (its per-CPU lines; the
    "cpu " total is left out). ValueError when a line is malformed."""
    busy: dict[int, int] = {}
    index = [FIELDS.index(f) for f in BUSY]
    for line in text.splitlines():
        name, _, rest = line.partition(" ")
        if not name.startswith("cpu") or name == "cpu":
            continue
        values = [int(v) for v in rest.split()]
        if len(values) < 4:
            raise ValueError(f"{name}: {len(values)} fields")
        busy[int(name[3:])] = sum(values[i] for i in index if i < len(values))
    if not busy:
        raise ValueError("no cpuN line")
    return busy


def _cpu_seconds(who: int) -> float:
    ru = resource.getrusage(who)
    return ru.ru_utime + ru.ru_stime


def snapshot(path: str = PROC_STAT) -> Snapshot:
    """Now: the busy ticks of every CPU and the CPU time spent so far."""
    try:
        with open(path, "rb") as f:
            ticks, why = busy_ticks(f.read().decode("ascii", "replace")), ""
    except (OSError, ValueError) as e:
        ticks, why = None, f"cannot read {path}: {getattr(e, 'strerror', None) or e}"
    return Snapshot(ticks, why, _cpu_seconds(resource.RUSAGE_SELF),
                    _cpu_seconds(resource.RUSAGE_CHILDREN), time.monotonic())


def user_hz() -> int:
    try:
        return os.sysconf("SC_CLK_TCK")
    except (ValueError, OSError):
        return 100


def run_cpus(params: dict) -> tuple[int, ...]:
    """The CPUs a cell's processes were allowed: the union of its CPU
    parameters, else the CPUs the harness runs on (which its children
    inherit)."""
    cpus: set[int] = set()
    for key in CPU_PARAMS:
        try:
            cpus.update(cpulist.parse(params.get(key)))
        except ValueError:
            pass
    return tuple(sorted(cpus)) or tuple(sorted(os.sched_getaffinity(0)))


def measure(before: Snapshot, after: Snapshot, cpus: tuple[int, ...], hz: int) -> dict:
    """The line's "interference" object (schemas/line.schema.json)."""
    out = {"method": METHOD, "cpus": cpulist.label(cpus), "resolution_s": 1.0 / hz}
    wall_s = after.at_s - before.at_s
    if before.busy_ticks is None or after.busy_ticks is None:
        return {**out, "unavailable": before.why_not or after.why_not}
    missing = [c for c in cpus if c not in before.busy_ticks or c not in after.busy_ticks]
    if missing:
        return {**out, "unavailable": f"CPU {cpulist.label(missing)} has no line in "
                                      f"{PROC_STAT} (offline?)"}
    if not cpus or wall_s <= 0:
        return {**out, "unavailable": "no CPU or no time to measure"}
    busy_s = sum(after.busy_ticks[c] - before.busy_ticks[c] for c in cpus) / hz
    own_s = (after.children_s - before.children_s) + (after.self_s - before.self_s)
    share = (busy_s - own_s) / (len(cpus) * wall_s)
    return {**out, "others_share": round(min(1.0, max(0.0, share)), 4),
            "wall_s": round(wall_s, 6), "busy_s": round(busy_s, 4), "own_s": round(own_s, 4)}
