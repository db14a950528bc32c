"""Faults done for real: a process killed with SIGKILL, a planted symlink or
FIFO, a full disk, hostile configs. Each test states what must hold after
the fault (no orphan, no empty or partial file, no program of ours left
attached, one line and a non-zero exit, never a traceback) and would fail
on the code before these guarantees existed.

Tests that need root, a second user, a tracer or a tmpfs skip with the
reason. Other helpers' tracers may run at the same time: leftovers are
looked for only among the processes and BPF programs these tests started.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "build"
TRACER = BUILD / "schedtrace"
WORKLOAD = BUILD / "workload"


# ---- what a killed process leaves behind ------------------------------------------------

def descendants(pid: int) -> set[int]:
    """Every live process below pid (children of each of its threads)."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            tids = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                kids = Path(f"/proc/{p}/task/{tid}/children").read_text().split()
            except OSError:
                continue
            for k in map(int, kids):
                if k not in found:
                    found.add(k)
                    todo.append(k)
    return found


def alive(pid: int) -> bool:
    """Running or sleeping: a zombie has already died."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


def wait_until(cond, within_s: float, step_s: float = 0.02) -> bool:
    """Polls cond; True as soon as it holds. The bound is a deadline for a
    kernel clean-up to happen at all, not a speed being measured."""
    end = time.monotonic() + within_s
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step_s)
    return cond()


def bpf_prog_ids(pid: int) -> set[int]:
    """Ids of the BPF programs pid holds open (its own, not other tracers')."""
    ids: set[int] = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fdinfo")
    except OSError:
        return ids
    for fd in fds:
        try:
            info = Path(f"/proc/{pid}/fdinfo/{fd}").read_text()
        except OSError:
            continue
        ids.update(int(ln.split()[1]) for ln in info.splitlines() if ln.startswith("prog_id:"))
    return ids


def bpf_prog_exists(prog_id: int) -> bool:
    return subprocess.run(["bpftool", "prog", "show", "id", str(prog_id)],
                          capture_output=True).returncode == 0


def tracer_missing() -> str | None:
    if not TRACER.exists() or not WORKLOAD.exists():
        return "build/schedtrace or build/workload not built: run `make build`"
    if os.geteuid() != 0:
        return "needs root to load BPF programs"
    if not Path("/sys/kernel/btf/vmlinux").exists():
        return "needs kernel BTF (/sys/kernel/btf/vmlinux)"
    if not shutil.which("bpftool"):
        return "needs bpftool to look the tracer's programs up by id"
    return None


@pytest.mark.root
@pytest.mark.bpf
def test_kill_9_of_the_tracer_leaves_nothing(tmp_path):
    """No orphan, no empty or partial --json, no program of its own left."""
    why = tracer_missing()
    if why:
        pytest.skip(why)
    out = tmp_path / "traced.json"
    # A command that runs far longer than the test: only the kill ends it.
    tracer = subprocess.Popen(
        [str(TRACER), "--json", str(out), "--probes", "sched", "--",
         str(WORKLOAD), "preempt", "--model", "threads", "--hog_ms", "60000"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        # released: the command has started its threads under the probes
        assert wait_until(lambda: any(len(os.listdir(f"/proc/{k}/task")) > 1
                                      for k in descendants(tracer.pid) if alive(k)), 60), \
            tracer.stderr.read1().decode() if tracer.poll() is not None else "no command"
        progs = bpf_prog_ids(tracer.pid)
        kids = descendants(tracer.pid)
        assert progs and kids
        tracer.kill()
        tracer.wait()
        assert wait_until(lambda: not any(alive(k) for k in kids), 5), \
            f"still alive after the tracer's kill -9: {[k for k in kids if alive(k)]}"
        assert wait_until(lambda: not any(bpf_prog_exists(p) for p in progs), 5), \
            f"programs of the killed tracer still loaded: {sorted(progs)}"
        assert list(tmp_path.iterdir()) == [], "the killed tracer left a file"
    finally:
        if tracer.poll() is None:
            os.killpg(tracer.pid, signal.SIGKILL)
            tracer.wait()


@pytest.mark.root
@pytest.mark.bpf
def test_tracer_replaces_a_planted_json_symlink(tmp_path):
    """--json FILE where FILE is a symlink: the document takes FILE's place;
    the symlink's target is untouched."""
    why = tracer_missing()
    if why:
        pytest.skip(why)
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    out = tmp_path / "t.json"
    out.symlink_to(victim)
    proc = subprocess.run([str(TRACER), "--json", str(out), "--probes", "sched", "--",
                           "true"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert victim.read_text() == "precious\n"
    assert not out.is_symlink() and out.read_text().startswith("{")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.json", "victim"]
