"""Shared fixtures: a fake workload, a fake runner, a fake /proc + /sys.

fake_workload is our hyperfine --debug-mode: an executable that accepts the
workload's flags and prints canned records, so runner tests exercise real
processes (timeouts, crashes, signals) without the C build. FakeRunner goes
one step further and spawns nothing at all, for tests of main().
"""

from __future__ import annotations

import json
import stat
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from harness.run.catalog import Listing, with_peers  # noqa: E402
from harness.run.cells import ProcResult  # noqa: E402

COMMON = [
    {"key": "cpus", "type": "str", "default": "", "unit": None, "help": "CPUs"},
    {"key": "seed", "type": "u64", "default": "1", "unit": "count", "min": 0,
     "max": 18446744073709551615, "help": "seed"},
    {"key": "warmup", "type": "u64", "default": "0", "unit": "count", "min": 0,
     "max": 1000000000, "help": "warm-up rounds"},
]

CATALOG = {
    "schema": 1,
    "tasks": [
        {"name": "pingpong", "summary": "two tasks hand a token back and forth",
         "models": ["threads", "coro", "uring"], "skip_reason": None,
         "params": [
             {"key": "iterations", "type": "u64", "default": "100000", "unit": "count",
              "min": 1, "max": 1000000000, "help": "round trips"},
             {"key": "placement", "type": "enum", "default": "same", "unit": None,
              "choices": ["same", "split"], "help": "CPUs"},
             {"key": "channel", "type": "enum", "default": "event", "unit": None,
              "choices": ["event", "pipe"], "help": "how"},
             {"key": "work_ns", "type": "u64", "default": "0", "unit": "ns", "min": 0,
              "max": 1000000000, "help": "work between hand-offs"},
         ] + COMMON},
        {"name": "spawn", "summary": "many parked tasks",
         "models": ["threads", "coro", "uring"], "skip_reason": None,
         "params": [
             {"key": "tasks", "type": "u64", "default": "10000", "unit": "count",
              "min": 1, "max": 10000000, "help": "tasks"},
             {"key": "touch", "type": "bool", "default": "false", "unit": None,
              "help": "touch"},
         ] + COMMON},
        {"name": "fake", "summary": "test behaviours", "models": ["threads", "coro"],
         "skip_reason": "fake runs under threads and coro only",
         "params": [
             {"key": "behave", "type": "enum", "default": "ok", "unit": None,
              "choices": ["ok", "fail", "skip", "crash", "hang", "stubborn", "norecord",
                          "badinput"], "help": "what the run does"},
             {"key": "sleep_ms", "type": "u64", "default": "0", "unit": "ms", "min": 0,
              "max": 100000, "help": "sleep before printing"},
         ] + COMMON},
    ],
    "models": [
        {"name": "threads", "summary": "pthreads", "available": True, "reason": None,
         "traits": {"one_thread": False, "sees_deadlocks": False, "order": 0,
                    "colour": "#0072B2"}},
        {"name": "coro", "summary": "coroutines", "available": True, "reason": None,
         "traits": {"one_thread": True, "sees_deadlocks": True, "order": 1,
                    "colour": "#E69F00"}},
        {"name": "uring", "summary": "io_uring", "available": True, "reason": None,
         "traits": {"one_thread": True, "sees_deadlocks": True, "order": 2,
                    "colour": "#009E73"},
         "params": [
             {"key": "uring_timers", "type": "enum", "default": "heap", "unit": None,
              "choices": ["heap", "request"], "help": "sleeps"},
         ]},
    ],
}
# what a run checks a config against: the catalog with the peers beside it
LISTING = Listing(with_peers(CATALOG))


def fake_record(task: str, model: str, params: dict, status: str = "ok",
                reason: str | None = None) -> dict:
    metrics: dict = {}
    if task == "pingpong":
        it = int(params.get("iterations", 100000))
        metrics = {"handoff_ns": 2000.0 if model == "threads" else 12.5,
                   "handoffs": 2 * it}
    elif task == "spawn":
        metrics = {"tasks": int(params.get("tasks", 10000)), "create_ns": 900.0,
                   "user_bytes_per_task": 8192.0, "kernel_bytes_per_task": 0.0,
                   "create_lat_ns": {"n": 3, "sum": 30, "min": 5, "p50": 10, "p90": 12,
                                     "p99": 15, "p999": 15, "max": 15}}
    elif task == "fake":
        metrics = {"value_ns": 1.0}
    return {"schema": 1, "task": task, "model": model, "params": params,
            "status": status, "reason": reason, "metrics": metrics,
            "usage": {"wall_ns": 1000, "user_ns": 10, "sys_ns": 10, "max_rss_bytes": 4096,
                      "voluntary_switches": 1, "involuntary_switches": 0,
                      "minor_faults": 1, "major_faults": 0},
            "limits": []}


def as_run(task: str, params: dict) -> dict:
    """Every parameter the fake task declares, as the workload's record
    gives them: the ones given, the others at their defaults."""
    spec = next((t for t in CATALOG["tasks"] if t["name"] == task), {"params": []})
    out = {}
    for p in spec["params"]:
        d = p["default"]
        out[p["key"]] = int(d) if p["type"] == "u64" else (d == "true" if p["type"] == "bool"
                                                           else d)
    return {**out, **params}


def parse_argv(argv: list[str]) -> tuple[str, str, dict]:
    """(task, model, params) from a workload command line (wrappers stripped)."""
    if "--" in argv:
        argv = argv[len(argv) - argv[::-1].index("--"):]
    i = next(i for i, a in enumerate(argv) if not a.startswith("-") and i > 0)
    task = argv[i]
    rest = argv[i + 1:]
    model = "threads"
    params: dict = {}
    for k, v in zip(rest[::2], rest[1::2]):
        key = k[2:].replace("-", "_")
        if key == "model":
            model = v
        else:
            params[key] = int(v) if v.isdigit() else (v == "true" if v in ("true", "false")
                                                      else v)
    return task, model, params


FAKE_SCRIPT = r'''#!/usr/bin/python3
# A stand-in for build/workload: same flags, canned records (conftest.py).
import json, os, signal, sys, time
sys.path.insert(0, {repo!r})
from harness.tests.conftest import CATALOG, as_run, fake_record, parse_argv
LOG = {log!r}
argv = sys.argv
with open(LOG, "a") as f:
    f.write(" ".join(argv[1:]) + "\n")
if argv[1:] == ["--list"]:
    print(json.dumps(CATALOG))
    sys.exit(0)
task, model, params = parse_argv(argv)
params = as_run(task, params)
behave = params.get("behave", "ok")
time.sleep(int(params.get("sleep_ms", 0)) / 1000)
print("fake: running " + task + " under " + model, file=sys.stderr, flush=True)
if behave == "ok":
    print(json.dumps(fake_record(task, model, params)))
    sys.exit(0)
if behave == "fail":
    print("fake: the server died", file=sys.stderr)
    print(json.dumps(fake_record(task, model, params, "failed", "the server died")))
    sys.exit(1)
if behave == "skip":
    print(json.dumps(fake_record(task, model, params, "skipped", "needs a unicorn")))
    sys.exit(77)
if behave == "badinput":
    print("fake: unknown parameter", file=sys.stderr)
    sys.exit(2)
if behave == "crash":
    print("fake: about to abort", file=sys.stderr, flush=True)
    os.abort()
if behave == "norecord":
    print("not json")
    sys.exit(0)
if behave == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("fake: hanging", file=sys.stderr, flush=True)
time.sleep(1000)
'''


@pytest.fixture
def fake_workload(tmp_path: Path) -> Path:
    """An executable accepting the workload's flags; argv lines go to <it>.log."""
    path = tmp_path / "fake_workload"
    log = tmp_path / "fake_workload.log"
    path.write_text(FAKE_SCRIPT.format(repo=str(REPO), log=str(log)))
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


class FakeRunner:
    """Spawns nothing: answers --list and returns canned results.

    behave(task, model, params, repetition_guess) may return a ProcResult to
    override the default ok record; calls are logged in .calls.
    """

    def __init__(self, cwd: Path, behave=None, catalog: dict | None = CATALOG):
        self.cwd = cwd
        self.calls: list[list[str]] = []
        self.slept: list[float] = []
        self.behave = behave
        self.catalog = catalog

    def capture(self, argv, timeout_s: float = 30.0):
        if argv[-1] == "--list":
            return json.dumps(self.catalog) if self.catalog is not None else None
        return None

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)

    def run(self, argv, timeout_s):
        self.calls.append(list(argv))
        task, model, params = parse_argv(argv)
        if self.behave:
            res = self.behave(task, model, params, len(self.calls))
            if res is not None:
                return res
        return ProcResult(0, json.dumps(fake_record(task, model, params)) + "\n",
                          "fake: ok\n", 0.01)


@pytest.fixture
def fake_runner(tmp_path: Path) -> FakeRunner:
    return FakeRunner(tmp_path)


def write_config(tmp_path: Path, body: str, name: str = "cfg.toml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(body))
    return p


@pytest.fixture
def sysroot(tmp_path: Path) -> Path:
    """A fake root with the /proc and /sys files sysinfo reads."""
    root = tmp_path / "root"
    files = {
        "proc/sys/kernel/osrelease": "6.18.0-test\n",
        "proc/sys/kernel/version": "#1 SMP PREEMPT_DYNAMIC @0\n",
        "proc/cmdline": "console=ttyS0 quiet\n",
        "proc/cpuinfo": "processor\t: 0\nmodel name\t: Test CPU 9000\n\n"
                        "processor\t: 1\nmodel name\t: Test CPU 9000\n",
        "proc/loadavg": "0.50 0.25 0.10 1/100 1234\n",
        "proc/meminfo": "MemTotal:        2048000 kB\nMemFree: 1 kB\n",
        "proc/sys/kernel/randomize_va_space": "2\n",
        "proc/sys/vm/max_map_count": "65530\n",
        "proc/sys/kernel/pid_max": "4194304\n",
        "proc/sys/kernel/threads-max": "15000\n",
        "proc/sys/kernel/perf_event_paranoid": "2\n",
        "sys/devices/system/cpu/online": "0-1\n",
        "sys/devices/system/cpu/isolated": "\n",
        "sys/devices/system/cpu/smt/active": "0\n",
        "sys/devices/system/cpu/smt/control": "notsupported\n",
        "boot/config-6.18.0-test": "CONFIG_HZ_250=y\nCONFIG_HZ=250\nCONFIG_PREEMPT_NONE=y\n"
                                   "CONFIG_PREEMPT_DYNAMIC=y\n",
        "sys/kernel/btf/vmlinux": "",
    }
    for rel, text in files.items():
        f = root / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text)
    return root
