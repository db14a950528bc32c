"""Synthetic results directories for the report, verdict and compare tests.

The records follow docs/design.md's contracts (a records.jsonl line wrapping a
workload record) with made-up but plausible numbers, so that the report can
be built and tested before every task exists. A scenario is a list of Spec;
make_run() writes env.json (a real one by default), config.toml and records.jsonl.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from harness.run import catalog as run_catalog

# What sysinfo wrote for a real `./schedlab run` on a 2-CPU machine (affinity
# [0, 1]); test_schemas.py checks it against schemas/env.schema.json.
ENV = Path(__file__).parent / "data" / "env-schedlab-run.json"
# A real `build/workload --list`: every synthetic run saves it, with the
# peers' declarations, as its catalog.json, as `schedlab run` does.
LISTING = Path(__file__).parent / "data" / "workload-list.json"
# A real tracer document (test_schemas.py says how it was made); lines take
# their own totals and probes.
TRACER = Path(__file__).parent / "data" / "tracer-pingpong-coro.json"


# The workload records every parameter as run, defaults included: the
# defaults the claims filter on.
TASK_DEFAULTS = {"pingpong": {"work_ns": 0}, "spawn": {"stack_touch_bytes": 0}}


def dist(p50: float, spread: float = 4.0, n: int = 1000) -> dict:
    """A latency distribution object {n, sum, min, p50, ...} around p50."""
    return {"n": n, "sum": int(p50 * n * 1.2), "min": int(p50 / 3),
            "p50": int(p50), "p90": int(p50 * spread ** 0.5), "p99": int(p50 * spread),
            "p999": int(p50 * spread * 2), "max": int(p50 * spread * 5)}


@dataclass
class Spec:
    task: str
    model: str
    params: dict
    metrics: Callable[[random.Random], dict] | dict
    status: str = "ok"
    reason: str | None = None
    usdt: bool = False
    probes: tuple = ()          # requested probes: "sched", "perf", "usdt"; () = bare
    skipped: dict = field(default_factory=dict)   # probe -> why it did not attach
    defaults: dict = field(default_factory=dict)  # params as run but not set by the config
    involuntary: int = 5
    reps: int | None = None
    extra: dict = field(default_factory=dict)


# pingpong's parameters a config leaves at their defaults, as a record has them
PINGPONG_AS_RUN = TASK_DEFAULTS["pingpong"]


def cell_id(task: str, model: str, params: dict) -> str:
    def s(v):
        return str(v).lower() if isinstance(v, bool) else str(v)
    return f"{task}/{model}/" + ",".join(f"{k}={s(v)}" for k, v in params.items())


def jitter(rng: random.Random, v: float, rel: float = 0.02) -> float:
    return v * (1 + rng.uniform(-rel, rel))


def line_for(spec: Spec, rep: int, rng: random.Random) -> dict:
    metrics = spec.metrics(rng) if callable(spec.metrics) else dict(spec.metrics)
    ok = spec.status == "ok"
    rec = {"schema": 1, "task": spec.task, "model": spec.model,
           "params": {"cpus": "", "seed": 1, "warmup": 0, **TASK_DEFAULTS.get(spec.task, {}),
                      **spec.defaults, **spec.params},
           "status": spec.status, "reason": spec.reason,
           "metrics": metrics if ok else {},
           "usage": {"wall_ns": 1_000_000_000, "user_ns": 900_000_000, "sys_ns": 50_000_000,
                     "max_rss_bytes": 10_000_000, "voluntary_switches": 10,
                     "involuntary_switches": spec.involuntary}}
    sched = json.loads(TRACER.read_text())
    sched["tgid"] = 1000 + rep
    sched["totals"].update(switches=100, voluntary_switches=90, migrations=1, wakeups=90,
                           involuntary_switches=spec.involuntary)
    traced = "sched" in spec.probes or spec.usdt
    for probe, on in (("sched", traced), ("usdt", spec.usdt)):
        sched["probes"][probe].update(requested=on, attached=on)
    sched["usdt"] = {**sched["usdt"], "coro_switches": 1000} if spec.usdt else None
    probes = {}
    if traced and "sched" not in spec.skipped:
        probes["schedtrace"] = sched
    if "perf" in spec.probes and "perf" not in spec.skipped:
        probes["perf"] = {"context-switches": 100}
    exit_status = {"ok": 0, "failed": 1, "skipped": 77}.get(spec.status, 1)
    line = {"schema": 1, "cell": cell_id(spec.task, spec.model, spec.params),
            "experiment": spec.task, "task": spec.task, "model": spec.model,
            "params": spec.params, "repetition": rep, "started_at": "2026-11-27T05:00:00Z",
            "duration_s": 1.0, "command": ["build/workload", spec.task, "--model", spec.model],
            "exit_status": exit_status, "status": spec.status, "reason": spec.reason,
            "record": rec, "probes": probes, "probes_skipped": dict(spec.skipped),
            "stderr_tail": "" if ok else (spec.reason or "")}
    line.update(spec.extra)
    return line


def real_env(**changes) -> dict:
    """The recorded env.json, with top-level values changed (affinity=[0])."""
    return {**json.loads(ENV.read_text()), **changes}


def make_run(path: Path, specs: list[Spec], reps: int = 5, seed: int = 1,
             env: dict | None = None) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    (path / "env.json").write_text(json.dumps(env or real_env()))
    (path / "config.toml").write_text("# synthetic\n")
    (path / "catalog.json").write_text(json.dumps(
        run_catalog.with_peers(json.loads(LISTING.read_text()))))
    lines = []
    for rep in range(reps):
        for spec in specs:
            if spec.reps is not None and rep >= spec.reps:
                continue
            lines.append(line_for(spec, rep, rng))
    with open(path / "records.jsonl", "w") as f:
        for ln in lines:
            f.write(json.dumps(ln) + "\n")
    return path


def set_interference(run_dir: Path, task: str, share: float | None,
                     wall_s: float = 1.0) -> None:
    """Every line of task's cells gets this others_share, measured over
    wall_s on 10 ms ticks (records.jsonl interference); None leaves them as
    lines from before the field."""
    path = run_dir / "records.jsonl"
    lines = [json.loads(t) for t in path.read_text().splitlines()]
    for ln in lines:
        if ln["task"] == task and share is not None:
            ln["interference"] = {"method": "proc_stat", "cpus": "0-1", "resolution_s": 0.01,
                                  "others_share": share, "wall_s": wall_s}
    path.write_text("".join(json.dumps(ln) + "\n" for ln in lines))


def full_matrix(scale: float = 1.0) -> list[Spec]:
    """Every task x model on equal CPUs (cpus=0-1, one CPU where a claim
    needs it), bare, with numbers that support every test and pass every
    control. Metric names follow the workload's records. scale multiplies
    the time metrics."""
    S: list[Spec] = []
    two = {"cpus": "0-1"}
    for channel, thr, co in (("event", 2100, 12), ("pipe", 5400, 2000)):
        for placement in ("same", "split"):
            t = thr * (10 if placement == "split" else 1)
            S.append(Spec("pingpong", "threads", {"channel": channel, "placement": placement,
                                                  "iterations": 20000, **two},
                          lambda r, t=t: {"handoff_ns": jitter(r, t * scale), "handoffs": 40000}))
        S.append(Spec("pingpong", "coro", {"channel": channel, "placement": "same",
                                           "iterations": 200000, **two},
                      lambda r, c=co: {"handoff_ns": jitter(r, c * scale), "handoffs": 400000}))
        S.append(Spec("pingpong", "mn", {"channel": channel, "placement": "split",
                                         "iterations": 20000, **two},
                      lambda r, t=thr: {"handoff_ns": jitter(r, t * 4 * scale),
                                        "handoffs": 40000}))
    # the work each side does between hand-offs (C2's crossover)
    for model, h in (("threads", 5400), ("coro", 2000)):
        for work in (1000, 10000, 100000):
            S.append(Spec("pingpong", model, {"channel": "pipe", "placement": "same",
                                              "iterations": 2000, "work_ns": work, **two},
                          lambda r, h=h, w=work: {
                              "handoff_ns": jitter(r, (h + w) * scale), "handoffs": 4000,
                              "handoff_overhead_share": jitter(r, h / (h + w))}))
    for model, user, kern, create in (("threads", 8700, 22000, 15000), ("coro", 4100, 34, 900),
                                      ("uring", 4100, 34, 950)):
        for touch in (0, 16384):    # the stack each task touches, paid by both sides
            S.append(Spec("spawn", model, {"tasks": 10000, "stack_touch_bytes": touch},
                          lambda r, u=user + touch, k=kern, c=create: {
                              "tasks": 10000, "create_ns": jitter(r, c * scale),
                              "user_bytes_per_task": jitter(r, u),
                              "kernel_bytes_per_task": jitter(r, k)}))
    for model, per in (("threads", 1.0), ("coro", 0.0), ("mn", 0.0)):
        for w in (1, 2):
            for cpus in ("0-1", "0"):
                if model == "mn" and cpus == "0":
                    continue
                speed = 1 + per * (w - 1) * 0.95 * (cpus == "0-1")
                S.append(Spec("compute", model, {"workers": w, "cpus": cpus},
                              lambda r, s=speed: {"work_units": 4000,
                                                  "units_per_s": jitter(r, 1000 * s / scale)}))
    for model in ("threads", "coro", "mn"):
        for y in (0, 100, 1000, 10000):
            if model == "threads":
                p99 = 20_000
                extra = {}
            else:
                p99 = (500_000_000 if y == 0 else y * 1000)
                extra = ({"coro_yields": 0 if y == 0 else 500_000 // y,
                          "coro_switches": 3000} if model == "coro" else {})
            S.append(Spec("preempt", model, {"hog_yield_us": y, "hog_ms": 500, "hogs": 2, **two},
                          lambda r, p=p99, e=extra, y=y, m=model: {
                              "lateness_ns": dist(jitter(r, p * scale) / 4),
                              "missed_ticks": 0, "window_ns": 500_000_000,
                              "hog_involuntary_per_s": jitter(r, 250) if m == "threads" else 0,
                              "hog_yields": 0 if y == 0 else 500_000 // y, **e},
                          involuntary=50 if model == "threads" else 0))
    # one CPU, one hog: coroutines yielding every y against a preempted thread
    one = {"cpus": "0", "hogs": 1, "hog_ms": 500}
    S.append(Spec("preempt", "threads", {**one, "hog_yield_us": 0},
                  lambda r: {"lateness_ns": dist(jitter(r, 20_000 * scale) / 4),
                             "window_ns": 500_000_000, "hog_yields": 0,
                             "hog_involuntary_per_s": jitter(r, 1000)}))
    for y in (100, 750, 3000, 0):
        p99 = 500_000_000 if y == 0 else y * 1000
        S.append(Spec("preempt", "coro", {**one, "hog_yield_us": y},
                      lambda r, p=p99, y=y: {"lateness_ns": dist(jitter(r, p * scale) / 4),
                                             "window_ns": 500_000_000,
                                             "hog_yields": 0 if y == 0 else 500_000 // y,
                                             "coro_yields": 0 if y == 0 else 500_000 // y}))
    # the hog's preemptions follow the tickers' wake rate and the hogs' slice
    for period, rate in ((1000, 1000), (4000, 250)):
        S.append(Spec("preempt", "threads", {**one, "hog_yield_us": 0, "period_us": period},
                      lambda r, x=rate: {"lateness_ns": dist(20_000), "window_ns": 500_000_000,
                                         "hog_yields": 0, "hog_involuntary_per_s": jitter(r, x)}))
    for slice_us, rate in ((3000, 160), (12000, 45)):
        S.append(Spec("preempt", "threads", {**one, "hogs": 2, "ticks": 1, "hog_yield_us": 0,
                                             "period_us": 100000, "hog_slice_us": slice_us},
                      lambda r, x=rate: {"lateness_ns": dist(20_000), "window_ns": 500_000_000,
                                         "hog_yields": 0, "hog_involuntary_per_s": jitter(r, x)}))
    # counter: did a run lose any update? threads and mn race on 2 CPUs;
    # in these numbers mn does not (a runtime that serialises them would not)
    counter = [(m, "none", False, cpus, run) for m in ("threads", "mn")
               for cpus in ("0", "0-1") for run in (1000, 16000)]
    counter += [("coro", "none", False, "0-1", 16000)]
    counter += [("threads", "mutex", False, cpus, 4000) for cpus in ("0", "0-1")]
    counter += [(m, "none", True, "0-1", 4000) for m in ("coro", "mn")]
    for model, sync, yw, cpus, run in counter:
        lost = 200000 if (model == "threads" and sync == "none") or yw else 0
        S.append(Spec("counter", model, {"sync": sync, "yield_in_window": yw, "cpus": cpus,
                                         "run_us": run},
                      lambda r, lost=lost: {"expected": 400000, "final": 400000 - lost,
                                            "lost_updates": lost, "lost_any": int(lost > 0),
                                            "increment_ns": jitter(r, 5)}))
    for model in ("threads", "coro", "mn"):
        for yb in (False, True):
            for cpus in ("0", "0-1"):
                dl = 1 if (model == "threads" or yb) else 0
                # a model's own parameters are in its records only
                own = {"coro_epoll": "pwait2"} if model == "coro" else {}
                S.append(Spec("deadlock", model, {"yield_between": yb, "cpus": cpus},
                              {"deadlocked": dl, "rounds": 100000,
                               "rounds_done": 500 if dl else 100000}, defaults=own))
    for model, cpu_per in (("threads", 30000), ("coro", 14000), ("uring", 11000)):
        S.append(Spec("echo", model, {"connections": 50, "rate": 5000, "cpus": "0",
                                      "client_cpus": "1"},
                      lambda r, c=cpu_per: {
                          "requests_per_s": jitter(r, 5000), "connections": 50,
                          "latency_ns": dist(jitter(r, c * 2 * scale)),
                          "server_cpu_ns_per_request": jitter(r, c * scale),
                          "client_cpu_utilization": jitter(r, 0.3)}))
    for model, iops in (("threads", 50000), ("uring", 80000)):
        S.append(Spec("fileio", model, {"cache": "warm", **two},
                      lambda r, x=iops: {"iops": jitter(r, x / scale),
                                         "iops_per_cpu_s": jitter(r, x / scale),
                                         "latency_ns": dist(jitter(r, 40000 * scale)),
                                         "bytes_read": 1 << 30}))
    for model, cpu in (("threads", 9000), ("coro", 2000)):
        S.append(Spec("timers", model, {"tasks": 1000, **two},
                      lambda r, c=cpu: {"lateness_ns": dist(jitter(r, 50000 * scale)),
                                        "cpu_ns_per_wakeup": jitter(r, c * scale)}))
    return S
