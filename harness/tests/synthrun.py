"""Synthetic results directories for the report, verdict and compare tests.

The records follow docs/design.md's contracts (a records.jsonl line wrapping a
workload record) with made-up but plausible numbers, so that the report can
be built and tested before every task exists. A scenario is a list of Spec;
make_run() writes env.json, config.toml and records.jsonl.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable


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
    involuntary: int = 5
    reps: int | None = None
    extra: dict = field(default_factory=dict)


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
           "params": dict(spec.params, seed=1, warmup=0),
           "status": spec.status, "reason": spec.reason,
           "metrics": metrics if ok else {},
           "usage": {"wall_ns": 1_000_000_000, "user_ns": 900_000_000, "sys_ns": 50_000_000,
                     "max_rss_bytes": 10_000_000, "voluntary_switches": 10,
                     "involuntary_switches": spec.involuntary}}
    sched = {"schema": 1, "tgid": 1000 + rep,
             "totals": {"switches": 100, "voluntary_switches": 90,
                        "involuntary_switches": spec.involuntary, "migrations": 1,
                        "wakeups": 90}}
    sched["probes"] = {"sched": {"requested": True, "attached": True, "reason": None},
                       "uring": {"requested": False, "attached": False, "reason": None},
                       "usdt": {"requested": spec.usdt, "attached": spec.usdt, "reason": None}}
    if spec.usdt:
        sched["usdt"] = {"coro_switches": 1000}
    exit_status = {"ok": 0, "failed": 1, "skipped": 77}.get(spec.status, 1)
    line = {"schema": 1, "cell": cell_id(spec.task, spec.model, spec.params),
            "repetition": rep, "started_at": "2026-11-27T05:00:00Z",
            "command": ["build/workload", spec.task, "--model", spec.model],
            "exit_status": exit_status, "status": spec.status, "record": rec,
            "probes": {"schedtrace": sched, "perf": {"context-switches": 100}},
            "stderr_tail": "" if ok else (spec.reason or "")}
    line.update(spec.extra)
    return line


def make_run(path: Path, specs: list[Spec], reps: int = 5, seed: int = 1,
             env: dict | None = None) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    (path / "env.json").write_text(json.dumps(env if env is not None else {
        "kernel": {"release": "6.18.0", "preempt": "voluntary", "hz": 1000},
        "cpu": {"model": "AMD EPYC (synthetic)", "count": 2, "smt": False},
        "affinity": "0-1", "instruments": {"usdt": "not requested"}}))
    (path / "config.toml").write_text("# synthetic\n")
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


def full_matrix(scale: float = 1.0) -> list[Spec]:
    """Every task x model with numbers that support every testable claim
    (C8 nuanced through its caveat). scale multiplies the time metrics."""
    S: list[Spec] = []
    for placement, thr in (("same", 2100), ("split", 22000)):
        S.append(Spec("pingpong", "threads", {"placement": placement, "channel": "event"},
                      lambda r, t=thr: {"handoff_ns": jitter(r, t * scale), "handoffs": 200000}))
        S.append(Spec("pingpong", "coro", {"placement": placement, "channel": "event"},
                      lambda r: {"handoff_ns": jitter(r, 12 * scale), "handoffs": 200000}))
    S.append(Spec("pingpong", "uring", {"placement": "same", "channel": "event"},
                  lambda r: {"handoff_ns": jitter(r, 300 * scale), "handoffs": 200000}))
    for model, user, kern, create in (("threads", 8700, 24000, 15000), ("coro", 4300, 0, 900),
                                      ("uring", 4300, 0, 950)):
        S.append(Spec("spawn", model, {"tasks": 10000},
                      lambda r, u=user, k=kern, c=create: {
                          "tasks": 10000, "create_ns": jitter(r, c * scale),
                          "user_bytes_per_task": jitter(r, u), "kernel_bytes_per_task": k}))
    for model, per in (("threads", 1.0), ("coro", 0.0), ("uring", 0.0)):
        for w in (1, 2, 4):
            speed = 1 + per * (min(w, 2) - 1) * 0.95
            S.append(Spec("compute", model, {"workers": w},
                          lambda r, s=speed: {"work_units": 4000,
                                              "units_per_s": jitter(r, 1000 * s / scale)}))
        for w in (1, 2):
            S.append(Spec("compute", model, {"workers": w, "cpus": "0"},
                          lambda r: {"work_units": 4000, "units_per_s": jitter(r, 1000 / scale)}))
    for model in ("threads", "coro", "uring"):
        for y in (0, 100, 1000, 10000):
            if model == "threads":
                p99 = 60_000
            else:
                p99 = (1_000_000_000 if y == 0 else y * 1000)
            S.append(Spec("preempt", model, {"hog_yield_us": y},
                          lambda r, p=p99: {"lateness_ns": dist(jitter(r, p * scale) / 4),
                                            "missed_ticks": 0},
                          involuntary=50 if model == "threads" else 0))
    for model in ("threads", "coro"):
        for sync in ("none", "mutex", "atomic"):
            for yw in (False, True):
                if model == "threads":
                    lost = 12000 if sync == "none" else 0
                else:
                    lost = 750000 if (sync == "none" and yw) else 0
                S.append(Spec("counter", model, {"sync": sync, "yield_in_window": yw},
                              lambda r, lost=lost: {"expected": 2000000,
                                                    "final": 2000000 - lost,
                                                    "lost_updates": lost,
                                                    "increment_ns": jitter(r, 5)}))
    for model, rps in (("threads", 50000), ("coro", 100000), ("uring", 120000)):
        for conns in (50, 300, 1000):
            S.append(Spec("echo", model, {"connections": conns},
                          lambda r, x=rps, c=conns: {
                              "requests_per_s": jitter(r, x / scale * (1 - c / 4000)),
                              "latency_ns": dist(jitter(r, 20000 * scale * c / 50)),
                              "server_cpu_ns_per_request": jitter(r, 1e9 / x * scale),
                              "connections": c}))
    for model, iops in (("threads", 50000), ("uring", 80000)):
        S.append(Spec("fileio", model, {"depth": 32},
                      lambda r, x=iops: {"iops": jitter(r, x / scale),
                                         "latency_ns": dist(jitter(r, 40000 * scale)),
                                         "bytes_read": 1 << 30}))
    for model, cpu in (("threads", 9000), ("coro", 2000)):
        S.append(Spec("timers", model, {"timers": 1000},
                      lambda r, c=cpu: {"lateness_ns": dist(jitter(r, 50000 * scale)),
                                        "cpu_ns_per_wakeup": jitter(r, c * scale)}))
    return S
