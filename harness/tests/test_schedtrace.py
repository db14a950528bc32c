"""build/schedtrace against independent counts: getrusage/wait4, schedstat,
perf stat, io_uring requests of known kinds, the coroutine runtime's own
counter; and its lifecycle (exit status, bad input, signals, detaching).

Needs root, kernel BTF and a built tracer (`make build`); skips otherwise.
Tests check counts and consistency only, never timing.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import struct
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "build"
TRACER = BUILD / "schedtrace"
HELPERS = BUILD / "bpf" / "tests"
SCHEMA = REPO / "schemas" / "tracer.schema.json"
WORKLOAD = BUILD / "workload"


def _why_not() -> str | None:
    if not TRACER.exists():
        return f"{TRACER} not built: run make (needs clang, bpftool, libbpf-dev)"
    if os.geteuid() != 0:
        return "needs root (CAP_BPF and CAP_PERFMON)"
    if not Path("/sys/kernel/btf/vmlinux").exists():
        return "needs kernel BTF (/sys/kernel/btf/vmlinux)"
    return None


needs_bpf = pytest.mark.skipif(_why_not() is not None, reason=str(_why_not()))
pytestmark = [pytest.mark.bpf, pytest.mark.root]


def helper(name: str) -> str:
    path = HELPERS / name
    if not path.exists():
        pytest.skip(f"{path} not built: run make")
    return str(path)


def trace(tmp_path: Path, cmd: list[str], probes: str = "sched", extra=(),
          timeout: float = 120, check_rc: int | None = 0):
    """Runs cmd under the tracer; returns (completed process, document)."""
    out = tmp_path / "trace.json"
    argv = [str(TRACER), "--json", str(out), "--probes", probes, *extra, "--", *cmd]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check_rc is not None:
        assert proc.returncode == check_rc, proc.stderr
    doc = json.loads(out.read_text()) if out.exists() and out.stat().st_size else None
    return proc, doc


def validate(doc: dict) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(doc, json.loads(SCHEMA.read_text()))


def accounted(row: dict, kind: str) -> int:
    """Switches rusage can see: the ones before the thread was released."""
    return row[f"{kind}_switches"] - row[f"released_{kind}_switches"]


def process(doc: dict, comm: str) -> dict:
    rows = [p for p in doc["processes"] if p["comm"] == comm]
    assert len(rows) == 1, [p["comm"] for p in doc["processes"]]
    return rows[0]


class Hogs:
    """CPU hogs pinned to one CPU, to cause involuntary switches."""

    def __init__(self, n: int, cpu: int):
        self.procs = [subprocess.Popen(["taskset", "-c", str(cpu), "sh", "-c",
                                        "while :; do :; done"]) for _ in range(n)]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            p.kill()
            p.wait()


# ---- bad input and lifecycle: these need no root --------------------------

@pytest.mark.parametrize("argv, needle", [
    (["--probes", "sched,bogus", "--", "true"], "unknown probe 'bogus'"),
    (["true"], "missing `--`"),
    ([], "missing `-- CMD`"),
    (["--", "no-such-command-schedlab"], "command not found"),
    (["--pid", "abc"], "not a process id"),
    (["--duration", "1", "--", "true"], "--duration needs --pid"),
    (["--binary", "/no/such/exe", "--", "true"], "--binary /no/such/exe: not found"),
    (["--binary", "/bin/true", "--pid", "1"], "--binary and --pid exclude each other"),
])
def test_bad_input_is_one_line_and_exit_2(argv, needle):
    if not TRACER.exists():
        pytest.skip(f"{TRACER} not built: run make")
    proc = subprocess.run([str(TRACER), *argv], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert needle in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert proc.stdout == ""


@needs_bpf
@pytest.mark.parametrize("script, status", [("exit 0", 0), ("exit 3", 3),
                                            ("kill -TERM $$", 128 + signal.SIGTERM)])
def test_exit_status_is_the_commands(tmp_path, script, status):
    proc, doc = trace(tmp_path, ["sh", "-c", script], check_rc=status)
    assert doc["exit_status"] == status
    validate(doc)


@needs_bpf
def test_stdout_and_stderr_pass_through(tmp_path):
    proc, doc = trace(tmp_path, ["sh", "-c", "echo out; echo err >&2"])
    assert proc.stdout == "out\n"
    assert proc.stderr == "err\n"


@needs_bpf
def test_unavailable_probe_is_reported_and_others_run(tmp_path):
    """usdt on a binary without our USDT notes: unavailable, sched still runs."""
    proc, doc = trace(tmp_path, ["true"], probes="sched,usdt")
    assert doc["probes"]["usdt"]["attached"] is False
    assert "coro_switch" in doc["probes"]["usdt"]["reason"]
    assert doc["probes"]["sched"]["attached"] is True
    assert doc["usdt"] is None
    validate(doc)


# ---- counts against independent instruments --------------------------------

@needs_bpf
@pytest.mark.parametrize("hogs", [0, 2])
def test_switches_match_getrusage(tmp_path, hogs):
    """Involuntary exactly, voluntary within 10, on a pingpong pinned to CPU 0."""
    with Hogs(hogs, 0):
        proc, doc = trace(tmp_path, [helper("pingpong_rusage"), "20000", "0"])
    validate(doc)
    own = json.loads(proc.stdout)["usage"]      # getrusage(SELF) just before exit
    final = doc["rusage"]                        # wait4(): the process's final counts
    tot = doc["totals"]
    assert accounted(tot, "involuntary") == final["involuntary_switches"]
    assert abs(accounted(tot, "voluntary") - final["voluntary_switches"]) <= 10
    # the program's own getrusage is earlier: its exit path can only add
    # (with hogs on its CPU, a few preemptions while it prints and exits)
    assert 0 <= accounted(tot, "involuntary") - own["involuntary_switches"] <= 10
    assert abs(accounted(tot, "voluntary") - own["voluntary_switches"]) <= 10
    if hogs:
        assert tot["involuntary_switches"] > 0
    assert tot["switches"] == tot["voluntary_switches"] + tot["involuntary_switches"]
    assert doc["lost"]["task_storage"] == 0 and doc["lost"]["thread_rows"] == 0


@needs_bpf
@pytest.mark.parametrize("hogs", [0, 2])
def test_workload_pingpong_matches_record_usage(tmp_path, hogs):
    if not WORKLOAD.exists():
        pytest.skip("build/workload not built")
    cmd = [str(WORKLOAD), "pingpong", "--model", "threads", "--placement", "same",
           "--channel", "event", "--iterations", "20000", "--cpus", "0"]
    with Hogs(hogs, 0):
        proc, doc = trace(tmp_path, cmd, check_rc=None)
    if proc.returncode != 0:
        pytest.skip(f"workload pingpong failed here ({proc.returncode}): "
                    f"{proc.stderr.strip()[-200:]}")
    usage = json.loads(proc.stdout)["usage"]
    tot = doc["totals"]
    assert accounted(tot, "involuntary") == doc["rusage"]["involuntary_switches"]
    assert 0 <= accounted(tot, "involuntary") - usage["involuntary_switches"] <= 10
    assert abs(accounted(tot, "voluntary") - usage["voluntary_switches"]) <= 10


@needs_bpf
def test_runq_samples_match_schedstat(tmp_path):
    """Per thread: run-queue latency samples vs schedstat's switch-in count."""
    with Hogs(1, 0):
        proc, doc = trace(tmp_path, [helper("pingpong_rusage"), "20000", "0"])
    out = json.loads(proc.stdout)
    rows = {t["tid"]: t for p in doc["processes"] for t in p["threads"]}
    assert out["schedstat"], "no schedstat read"
    for tid, stat in out["schedstat"].items():
        row = rows[int(tid)]
        # schedstat was read while the thread was parked, before it exited
        assert abs(row["runq_latency_ns"]["n"] - stat["pcount"]) <= 10, (tid, row, stat)


@needs_bpf
def test_switches_match_perf_stat(tmp_path):
    perf = shutil.which("perf")
    if not perf:
        pytest.skip("perf not installed (linux-perf)")
    perf_out = tmp_path / "perf.csv"
    cmd = [perf, "stat", "-x,", "-e", "context-switches", "-o", str(perf_out), "--",
           helper("pingpong_rusage"), "20000", "-1"]
    proc, doc = trace(tmp_path, cmd)
    counts = [line.split(",") for line in perf_out.read_text().splitlines()
              if "context-switches" in line]
    if not counts or not counts[0][0].strip().isdigit():
        pytest.skip(f"perf stat gave no context-switches here: {perf_out.read_text()[-200:]}")
    perf_switches = int(counts[0][0])
    row = process(doc, "pingpong_rusage")
    assert row["switches"] > 1000
    assert abs(row["switches"] - perf_switches) <= 0.01 * perf_switches, (row["switches"],
                                                                          perf_switches)


@needs_bpf
@pytest.mark.parametrize("nops, reads, async_nops, async_reads", [
    (40, 40, 0, 0),      # inline: no io-wq at all
    (20, 20, 15, 25),    # one offload per IOSQE_ASYNC request
])
def test_iowq_offloads_counted_exactly(tmp_path, nops, reads, async_nops, async_reads):
    data = tmp_path / "data"
    data.write_bytes(b"x" * 4096)
    cmd = [helper("uring_ops"), str(nops), str(reads), str(async_nops), str(async_reads),
           str(data)]
    proc, doc = trace(tmp_path, cmd, probes="sched,uring", check_rc=None)
    if proc.returncode == 77:
        pytest.skip(f"io_uring not available: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stderr
    validate(doc)
    u = doc["uring"]
    total = nops + reads + async_nops + async_reads
    assert u["submitted"] == total
    assert u["completed"] == total
    assert u["iowq_offloads"] == async_nops + async_reads
    assert u["submitted_by_opcode"].get("nop", 0) == nops + async_nops
    assert u["submitted_by_opcode"].get("read", 0) == reads + async_reads
    if async_nops + async_reads:
        assert u["iowq_workers"] >= 1
        workers = [t for p in doc["processes"] for t in p["threads"] if t["io_worker"]]
        assert all(t["comm"].startswith("iou-wrk-") for t in workers)
        assert u["iowq_worker_switches"] == sum(t["switches"] for t in workers)
    else:
        assert u["iowq_workers"] == 0


@needs_bpf
def test_usdt_counts_equal_the_programs(tmp_path):
    proc, doc = trace(tmp_path, [helper("usdt_coro"), "8", "50"], probes="sched,usdt")
    own = json.loads(proc.stdout)
    validate(doc)
    u = doc["usdt"]
    assert u["coro_switches"] == own["coro_switches"]
    assert u["spawns"] == own["spawns"]
    assert u["readies"] == own["readies"]
    assert u["exits"] == own["exits"]
    # every switch to a coroutine (not to the scheduler, id 0) has a ready time
    assert u["runq_latency_ns"]["n"] == own["coro_switches"] // 2


@needs_bpf
def test_usdt_binary_attaches_beneath_a_wrapper(tmp_path):
    """--binary: the USDT probes attach to the program a wrapper (here perf
    stat, as the runner nests it) runs, with the same exact counts."""
    prog = helper("usdt_coro")
    perf = shutil.which("perf")
    if not perf:
        pytest.skip("perf not installed (make deps)")
    cmd = [perf, "stat", "-x,", "-e", "context-switches", "-o", str(tmp_path / "p.csv"), "--",
           prog, "8", "50"]
    proc, doc = trace(tmp_path, cmd, probes="sched,usdt", extra=["--binary", prog])
    own = json.loads(proc.stdout)
    assert doc["probes"]["usdt"]["attached"] is True, doc["probes"]["usdt"]
    assert doc["usdt"]["coro_switches"] == own["coro_switches"]


@needs_bpf
def test_usdt_several_scheduler_threads_in_one_process(tmp_path):
    """An M:N runtime: several scheduler threads fire the probes at once.
    State kept per thread keeps every count exact, and the per-process sum
    is what the program did."""
    proc, doc = trace(tmp_path, [helper("usdt_coro"), "8", "200", "4"], probes="sched,usdt")
    own = json.loads(proc.stdout)
    validate(doc)
    u = doc["usdt"]
    for key, mine in (("coro_switches", "coro_switches"), ("spawns", "spawns"),
                      ("readies", "readies"), ("exits", "exits")):
        assert u[key] == own[mine], (key, u, own)
    assert u["runq_latency_ns"]["n"] == own["coro_switches"] // 2
    root, = [p for p in doc["processes"] if p["tgid"] == doc["tgid"]]
    assert root["usdt"]["coro_switches"] == own["coro_switches"]


@needs_bpf
def test_usdt_coro_switches_equal_runtime_counter(tmp_path):
    if not WORKLOAD.exists():
        pytest.skip("build/workload not built")
    notes = subprocess.run(["readelf", "-n", str(WORKLOAD)], capture_output=True, text=True)
    if "coro_switch" not in notes.stdout:
        pytest.skip("build/workload has no schedlab:coro_switch USDT probe yet")
    cmd = [str(WORKLOAD), "pingpong", "--model", "coro", "--iterations", "20000"]
    proc, doc = trace(tmp_path, cmd, probes="sched,usdt", check_rc=None)
    if proc.returncode != 0:
        pytest.skip(f"workload pingpong --model coro failed ({proc.returncode})")
    metrics = json.loads(proc.stdout)["metrics"]
    key = next((k for k in ("coro_switches", "coro_nr_switches") if k in metrics), None)
    if key is None:
        pytest.skip(f"record has no coro_switches metric: {sorted(metrics)}")
    assert doc["usdt"]["coro_switches"] == metrics[key]


# ---- following processes, events, --pid ------------------------------------

@needs_bpf
def test_follows_descendants_as_processes(tmp_path):
    proc, doc = trace(tmp_path, ["sh", "-c", "sh -c 'sleep 0.05'; sleep 0.05"])
    validate(doc)
    root = doc["tgid"]
    children = [p for p in doc["processes"] if p["parent_tgid"] == root]
    assert children, doc["processes"]
    assert doc["totals"]["nprocesses"] == len(doc["processes"]) >= 2
    assert doc["totals"]["switches"] == sum(p["switches"] for p in doc["processes"])


@needs_bpf
def test_event_stream_matches_counts(tmp_path):
    events = tmp_path / "events.bin"
    proc, doc = trace(tmp_path, [helper("pingpong_rusage"), "2000", "0"],
                      extra=["--events", str(events)])
    data = events.read_bytes()
    magic, version, size, root, _ = struct.unpack_from("<8sIIII", data, 0)
    assert magic == b"SCHEDEVT" and version == 1 and size == 40 and root == doc["tgid"]
    body = data[24:]
    assert len(body) % size == 0
    records = [struct.unpack_from("<QHHIIIIIII", body, off) for off in range(0, len(body), size)]
    assert len(records) == doc["events"]["records"]
    assert doc["lost"]["events"] == 0
    tids = {t["tid"] for p in doc["processes"] for t in p["threads"]}
    switch_outs = sum(1 for r in records if r[2] == 1 and r[4] in tids)
    assert switch_outs == doc["totals"]["switches"]
    wakeups = sum(1 for r in records if r[2] == 2 and r[4] in tids)
    assert wakeups == doc["totals"]["wakeups"]


@needs_bpf
def test_pid_mode_reads_live_threads(tmp_path):
    target = subprocess.Popen(["sh", "-c", "while :; do sleep 0.01; done"])
    try:
        out = tmp_path / "pid.json"
        proc = subprocess.run([str(TRACER), "--json", str(out), "--pid", str(target.pid),
                               "--duration", "0.5"], capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 0, proc.stderr
        doc = json.loads(out.read_text())
        validate(doc)
        assert doc["mode"] == "pid" and doc["tgid"] == target.pid
        me = [p for p in doc["processes"] if p["tgid"] == target.pid][0]
        assert any(t["live"] for t in me["threads"])
        assert doc["totals"]["switches"] > 0
        assert doc["totals"]["nprocesses"] >= 2     # the sleeps it forked
    finally:
        target.kill()
        target.wait()


# ---- detaching ---------------------------------------------------------------

def _prog_ids_of(pid: int) -> set[int]:
    """BPF programs a process holds, from its fds (bpftool may lack pid info)."""
    ids = set()
    for info in Path(f"/proc/{pid}/fdinfo").iterdir():
        try:
            text = info.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("prog_id:"):
                ids.add(int(line.split()[1]))
    return ids


def _all_prog_ids() -> set[int]:
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True)
    return {p["id"] for p in json.loads(out.stdout or "[]")}


@needs_bpf
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_nothing_stays_attached_after_signal(tmp_path, sig):
    if not shutil.which("bpftool"):
        pytest.skip("bpftool not installed")
    out = tmp_path / "sig.json"
    tracer = subprocess.Popen([str(TRACER), "--json", str(out), "--probes", "sched,uring",
                               "--", "sleep", "30"], stderr=subprocess.PIPE, text=True)
    try:
        ids: set[int] = set()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(ids) < 8:
            ids = _prog_ids_of(tracer.pid)   # track (3) + sched (4) + uring (5)
            time.sleep(0.05)
        assert ids, "the tracer's programs never showed up in bpftool"
        # the command must be running (released) before the signal
        while time.monotonic() < deadline:
            kids = Path(f"/proc/{tracer.pid}/task/{tracer.pid}/children").read_text().split()
            if kids and Path(f"/proc/{kids[0]}/comm").read_text().strip() == "sleep":
                break
            time.sleep(0.02)
        tracer.send_signal(sig)
        rc = tracer.wait(timeout=30)
    finally:
        if tracer.poll() is None:
            tracer.kill()
            tracer.wait()
    assert rc == 128 + sig, tracer.stderr.read()
    # the kernel frees a program after an RCU grace period: give it a moment
    deadline = time.monotonic() + 10
    while ids & _all_prog_ids() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not (ids & _all_prog_ids()), "programs still loaded after exit"
    doc = json.loads(out.read_text())
    assert doc["exit_status"] == 128 + sig and doc["signal"] == sig
