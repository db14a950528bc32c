"""`build/workload --list` declares every metric a real record carries, and
every metric it declares shows up: each task runs once under each model at
a small size, and its record's metrics are checked against the task's
declarations (with the common ones) and the model's (docs/metrics.md)."""
import json
import subprocess
from fnmatch import fnmatchcase

import pytest

from builtworkload import NEEDS_WORKLOAD, WORKLOAD, listing, need_model

pytestmark = NEEDS_WORKLOAD

SMALL = {
    "pingpong": ["--iterations", "2000"],
    "spawn": ["--tasks", "100"],
    "compute": ["--work_units", "40", "--unit_iters", "1000"],
    "preempt": ["--hog_ms", "50"],
    "counter": ["--increments", "2000"],
    "timers": ["--tasks", "4", "--rounds", "20"],
    "echo": ["--connections", "4", "--duration_ms", "200"],
    "fileio": ["--file_mb", "2", "--tasks", "2", "--duration_ms", "100"],
    "deadlock": ["--rounds", "1000", "--stall_ms", "20"],
}
MODELS = ["threads", "coro", "uring", "mn"]
KINDS = {"number": (int, float), "distribution": dict, "text": str, "flag": bool}


def declared(kind: str, name: str) -> list[dict]:
    return next(x for x in listing()[kind] if x["name"] == name)["metrics"]


def find(decls: list[dict], key: str) -> dict | None:
    return next((d for d in decls if fnmatchcase(key, d["name"])), None)


def test_every_task_in_the_listing_has_a_small_size_here():
    assert sorted(t["name"] for t in listing()["tasks"]) == sorted(SMALL)


def test_declarations_are_complete():
    for kind in ("tasks", "models"):
        for entry in listing()[kind]:
            names = [m["name"] for m in entry["metrics"]]
            assert len(names) == len(set(names)), (entry["name"], names)
            for m in entry["metrics"]:
                assert m["kind"] in KINDS and m["help"], (entry["name"], m)
                assert m["better"] in (None, "lower", "higher"), m
                if m["kind"] in ("number", "distribution") and m["better"]:
                    assert m["unit"], (entry["name"], m["name"])
    heads = {t["name"]: [m["name"] for m in t["metrics"] if m["headline"]]
             for t in listing()["tasks"]}
    assert all(heads.values()), heads


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("task", sorted(SMALL))
def test_record_metrics_match_the_declarations(task, model):
    need_model(model)
    t = next(t for t in listing()["tasks"] if t["name"] == task)
    if model not in t["models"]:
        pytest.skip(f"{task} does not run under {model}: {t['skip_reason']}")
    out = subprocess.run([str(WORKLOAD), task, "--model", model, *SMALL[task]],
                         capture_output=True, text=True, timeout=120)
    if out.returncode == 77:
        pytest.skip(f"{task} under {model} skipped here: {out.stderr.strip()}")
    assert out.returncode == 0, out.stderr
    metrics = json.loads(out.stdout)["metrics"]
    mine, theirs = declared("tasks", task), declared("models", model)
    for key, value in metrics.items():
        d = find(mine, key) or find(theirs, key)
        assert d is not None, f"{task}/{model}: {key} is not declared in --list"
        assert isinstance(value, KINDS[d["kind"]]), (key, value, d["kind"])
        assert d["kind"] == "flag" or not isinstance(value, bool), (key, value)
    for d in mine:
        assert d["optional"] or d["name"] in metrics, \
            f"{task}/{model}: {d['name']} is declared but not in the record"
    # A deadlocked threads run ends before the model adds its counters
    # (task.h, exit_now): they are checked where the record has any.
    if any(k.startswith(f"{model}_") for k in metrics):
        for d in theirs:
            assert d["optional"] or any(fnmatchcase(k, d["name"]) for k in metrics), \
                f"{task}/{model}: {d['name']} is declared but not in the record"
