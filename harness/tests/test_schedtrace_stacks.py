"""The stacks probe on real recordings: where each model waits, as folded
stacks symbolised after the run. A threads pingpong over a pipe blocks in the
kernel's pipe read under the task's own function; a coroutine parks in the
runtime's coro_park under the task's function (its own stack unwinds by
frame pointers); an io_uring thread with nothing to do waits for completions
in io_cqring_wait.

Needs root, kernel BTF and a built tracer and workload; skips otherwise.
"""

from __future__ import annotations

import pytest

from harness.tests.test_schedtrace import WORKLOAD, needs_bpf, trace, validate

pytestmark = [pytest.mark.bpf, pytest.mark.root, needs_bpf]


def stacks_of(tmp_path, *args) -> dict:
    if not WORKLOAD.exists():
        pytest.skip("build/workload not built: run make")
    _, doc = trace(tmp_path, [str(WORKLOAD), *args], probes="sched,stacks")
    validate(doc)
    assert doc["probes"]["stacks"]["attached"], doc["probes"]["stacks"]["reason"]
    return doc["stacks"]["kinds"]


def frames(kind: dict, *needed: str) -> list[list[str]]:
    """The workload's folded stacks of a kind holding every needed frame."""
    return [row["stack"].split(";") for row in kind["folded"]
            if row["stack"].startswith("workload;")
            and all(n in row["stack"].split(";") for n in needed)]


def test_threads_block_in_the_pipe_read_under_the_task(tmp_path):
    kinds = stacks_of(tmp_path, "pingpong", "--model", "threads", "--channel", "pipe",
                      "--iterations", "2000")
    hits = frames(kinds["offcpu"], "play", "receive")
    assert hits, kinds["offcpu"]["folded"][:5]
    assert any(any("pipe_read" in f for f in s) and "schedule" in s for s in hits), hits
    # root first: the task's function below the kernel's
    s = hits[0]
    assert s.index("play") < s.index("entry_SYSCALL_64_after_hwframe") < s.index("schedule")
    # the partner's write woke it
    assert frames(kinds["waker"], "play", "pass"), kinds["waker"]["folded"][:5]
    # only the command's own stacks: not its wait for the tracer before exec
    strays = [r["stack"] for k in kinds.values() for r in k["folded"]
              if not r["stack"].startswith("workload;")]
    assert strays == []
    off = kinds["offcpu"]
    assert off["unit"] == "ns"
    assert off["total"] >= sum(r["value"] for r in off["folded"])


def test_coroutines_park_in_the_runtime_under_the_task(tmp_path):
    kinds = stacks_of(tmp_path, "pingpong", "--model", "coro", "--channel", "pipe",
                      "--iterations", "2000")
    hits = frames(kinds["park"], "play", "coro_park")
    assert hits, kinds["park"]["folded"][:5]
    s = hits[0]
    assert s.index("play") < s.index("coro_park")
    # a park per hand-off the pipe made wait, at least one per round trip
    assert sum(r["count"] for r in kinds["park"]["folded"]) >= 2000


def test_uring_waits_for_completions(tmp_path):
    kinds = stacks_of(tmp_path, "timers", "--model", "uring", "--tasks", "4",
                      "--rounds", "50")
    assert frames(kinds["offcpu"], "io_cqring_wait"), kinds["offcpu"]["folded"][:5]
