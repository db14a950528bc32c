"""What the report's first screen says before any table: which run this is
and in what state, and the machine in words.

run_state() counts the runs done against the plan (run.json) so a report
on a run still going, or stopped, says "incomplete: N of M runs" first;
machine() turns env.json into the one line a reader checks before trusting
a number: CPU, vCPUs, memory, kernel, virtualised or not, HZ, preemption.
"""

from __future__ import annotations

from datetime import datetime

from harness import format as fmt
from harness.records.rundir import RunDir


def _time(stamp) -> datetime | None:
    try:
        return datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    except ValueError:
        return None


def run_state(run: RunDir) -> dict:
    """{id, date, done, planned, complete, duration_s, statuses, headline}:
    headline is the first line of the report ("incomplete: 40 of 762 runs")
    or "" when the run is complete."""
    meta = run.meta or {}
    planned = meta.get("planned_runs")
    done = len(run.lines)
    starts = [t for ln in run.lines if (t := _time(ln.get("started_at")))]
    ends = [t.timestamp() + float(ln.get("duration_s") or 0)
            for ln in run.lines if (t := _time(ln.get("started_at")))]
    begun = _time(meta.get("started_at")) or (min(starts) if starts else None)
    duration = (max(ends) - begun.timestamp()) if begun and ends else None
    statuses: dict[str, int] = {}
    for ln in run.lines:
        statuses[str(ln.get("status"))] = statuses.get(str(ln.get("status")), 0) + 1
    if not done:
        headline = ("empty: no run has finished yet" + (f" (0 of {planned} planned)"
                    if planned else "") + "; nothing below is measured")
    elif isinstance(planned, int) and done < planned:
        headline = (f"incomplete: {done} of {planned} runs (the run is still going, or was "
                    "stopped: `./schedlab run --resume DIR` finishes it); verdicts below "
                    "use what has finished")
    else:
        headline = ""
    return {"id": run.path.resolve().name, "date": begun.strftime("%Y-%m-%d %H:%M UTC")
            if begun else "date unknown", "done": done, "planned": planned,
            "complete": not headline, "duration_s": duration, "statuses": statuses,
            "headline": headline}


def duration_words(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    minutes, s = divmod(int(round(seconds)), 60)
    h, m = divmod(minutes, 60)
    return f"{h} h {m} min" if h else f"{m} min {s} s" if m else f"{s} s"


PREEMPTION_WORDS = {
    "none": "no forced preemption of kernel code (preemption model none; user threads "
            "are still preempted)",
    "voluntary": "voluntary kernel preemption (kernel code yields at its scheduling points; "
                 "user threads are still preempted)",
    "full": "fully preemptible kernel (preemption model full)",
    "lazy": "lazy kernel preemption (preemption model lazy)",
    "rt": "real-time kernel (PREEMPT_RT)",
}

# The same, short enough for a figure's title.
PREEMPTION_SHORT = {"none": "kernel built without forced preemption",
                    "voluntary": "kernel with voluntary preemption",
                    "full": "fully preemptible kernel", "lazy": "lazily preemptible kernel",
                    "rt": "real-time kernel"}


def _virtualised(env: dict) -> str:
    """env.json's virtualisation record (schema 2) in words."""
    v = env.get("virtualisation")
    if not isinstance(v, dict) or v.get("virtualised") is None:
        return "virtualised or not: not recorded"
    if not v["virtualised"]:
        return "bare metal"
    return "virtualised" + (f" ({v['hypervisor']})" if v.get("hypervisor") else "")


def _syscall_words(env: dict) -> str:
    """"1.03 us (getppid, median of 11 x 20,000 calls, 990 ns to 1.3 us;
    page-table isolation on)": what a runtime pays per call here, which decides the hand-offs
    that make more calls than the kernel's switch (env.json schema 3)."""
    call = env.get("syscall")
    if not isinstance(call, dict) or "median_ns" not in call:
        return ""
    meltdown = str(((env.get("cpu") or {}).get("vulnerabilities") or {}).get("meltdown", ""))
    return (f"{fmt.duration(call['median_ns'])} ({call['call']}, median of "
            f"{call['repetitions']} x {call['calls_per_repetition']:,} calls, "
            f"{fmt.duration(call['min_ns'])} to {fmt.duration(call['max_ns'])}"
            + ("; page-table isolation on" if "PTI" in meltdown else "") + ")")


def machine(env: dict | None) -> list[tuple[str, str]]:
    """(label, words) rows of the machine; [] without env.json."""
    if not env:
        return []
    cpu, kernel = env.get("cpu") or {}, env.get("kernel") or {}
    n = cpu.get("count_online")
    smt = (cpu.get("smt") or {}).get("active")
    cpus = f"{cpu.get('model') or 'CPU model unknown'}, {n if n else '?'} vCPUs" + (
        ", SMT on" if smt else ", no SMT" if smt is False else "")
    aff = env.get("affinity")
    if isinstance(aff, list) and aff and n and len(aff) != n:
        cpus += f" (the run could use {len(aff)})"
    mem = env.get("memory_bytes")
    hz = (kernel.get("hz") or {}).get("value")
    pre = kernel.get("preemption") or {}
    mode = pre.get("mode") if isinstance(pre, dict) else None
    pre_words = PREEMPTION_WORDS.get(mode, f"preemption model {mode}" if mode else
                                     "preemption model unknown")
    if isinstance(pre, dict) and pre.get("dynamic"):
        pre_words += "; PREEMPT_DYNAMIC build"
    rows = [("CPU", cpus),
            ("memory", f"{mem / 2**30:.1f} GiB" if isinstance(mem, (int, float)) else "unknown"),
            ("kernel", " ".join(x for x in (f"Linux {kernel.get('release', '?')}",
                                            kernel.get("machine", "")) if x)
             + f", {_virtualised(env)}"),
            ("scheduler", (f"HZ {hz}" if hz else "HZ unknown") + f"; {pre_words}")]
    slice_ns = ((kernel.get("sched") or {}).get("base_slice") or {}).get("value_ns")
    if slice_ns:
        rows[-1] = (rows[-1][0], rows[-1][1] + f"; base slice {fmt.duration(slice_ns)}")
    call = _syscall_words(env)
    if call:
        rows.append(("system call", call))
    load = env.get("load_average")
    if isinstance(load, list) and load:
        rows.append(("load at start", f"{load[0]:.2f} (1-minute average)"))
    return rows
