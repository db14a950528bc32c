"""records.jsonl: the format, writing it durably, reading it tolerantly.

Format history (bump LINE_SCHEMA and add a line for any field change; the
workload's own record has its schema in userspace/lib/record.h):

    line schema 1 (2026-11): schema, cell, experiment, task, model, params,
        repetition, run_seed, started_at, duration_s, command, cwd,
        exit_status, status (ok|failed|skipped|timeout), reason, record
        (the workload's record, schema 1, or null when it printed none),
        probes ({"schedtrace": doc, "perf": counters}), probes_skipped
        ({probe: reason}), stderr_tail; probe_files ({"schedtrace"|"perf":
        path of the probe's own output, relative to the run directory}) when
        probes ran. The line's schedtrace document keeps at most 64 thread
        rows per process (probes.LINE_THREAD_ROWS); the file has them all.
    line schema 1, additive (2026-11): optional "events" (the schedtrace
        --events stream, path relative to the run directory) and "peer"
        (the external peer run instead of build/workload, harness/run/peers.py);
        a peer's record also carries "peer".
    line schema 1, additive (2026-12): optional "interference" (the share
        of the run's CPUs that went to other work, from /proc/stat,
        harness/run/interference.py); lines without it load as before.

A line is written only when its run has finished, then flushed and fsynced,
so a crash or a kill leaves at most one truncated last line; the loader
skips such a line and reports it, and repair() cuts it off before a resumed
run appends after it. The JSON Schemas live in schemas/ and are the
reference for every field.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Iterable

from harness import REPO
from harness.records import safefs

LINE_SCHEMA = 1
RECORD_SCHEMA = 1
SCHEMA_DIR = REPO / "schemas"


@dataclass(frozen=True)
class Skipped:
    """A line a reader could not use: 1-based line number and why."""

    line: int
    reason: str


def dumps(obj: dict) -> str:
    """One line of JSON, no newline inside (strings are escaped)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def append_line(fp: IO[str], obj: dict) -> None:
    """Append one line and make it durable before returning (safefs.DiskFull
    when it did not fit).

    fsync per line costs a few milliseconds, negligible next to a process
    run, and it is what lets --resume trust every complete line it finds.
    """
    safefs.append_line(fp, dumps(obj) + "\n")


def parse_jsonl(text: str, check=None) -> tuple[list[dict], list[Skipped]]:
    """Every JSON object of a JSONL text, and a Skipped for each line that is
    not one or that check(obj) refuses (it returns the reason, else None).

    An invalid last line without its newline is called truncated: that is
    what a writer killed mid-line leaves."""
    objs: list[dict] = []
    skipped: list[Skipped] = []
    raw = text.split("\n")
    for no, item in enumerate(raw, start=1):
        if not item.strip():
            continue
        try:
            obj = json.loads(item)
        except json.JSONDecodeError as e:
            what = "truncated last line (run killed mid-write?)" if no == len(raw) \
                else "invalid JSON"
            skipped.append(Skipped(no, f"{what}: {e.msg} at column {e.colno}"))
            continue
        why = "not a JSON object" if not isinstance(obj, dict) else check and check(obj)
        if why:
            skipped.append(Skipped(no, why))
            continue
        objs.append(obj)
    return objs, skipped


def read_jsonl(path: str | Path, check=None) -> tuple[list[dict], list[Skipped]]:
    """parse_jsonl of a file; a missing file is empty."""
    p = Path(path)
    if not p.exists():
        return [], []
    return parse_jsonl(p.read_bytes().decode("utf-8", errors="replace"), check)


def line_problem(obj: dict) -> str | None:
    """Why a JSON object is not a records.jsonl line this harness can read."""
    for where, known, schema in (("line", LINE_SCHEMA, obj.get("schema")),
                                 ("record", RECORD_SCHEMA,
                                  (obj.get("record") or {}).get("schema"))):
        if schema is None:
            continue
        if not isinstance(schema, int):
            return f"{where} schema {schema!r} is not an integer"
        if schema > known:
            return (f"{where} schema {schema} is newer than this report "
                    f"understands ({known}); update schedlab")
    if "cell" not in obj or "repetition" not in obj:
        return "not a records.jsonl line (no cell/repetition)"
    return None


def load(path: str | Path) -> tuple[list[dict], list[Skipped]]:
    """The usable lines of a records.jsonl (or warmup.jsonl), and those skipped."""
    return read_jsonl(path, line_problem)


def repair(path: str | Path) -> int:
    """Cut a truncated last line (no final newline) off the file.

    Returns the number of bytes removed. Only the unterminated tail is
    removed: a complete but invalid line in the middle is left for a human.
    """
    p = Path(path)
    if not os.path.lexists(p):
        return 0
    fd = safefs.open_fd(p, os.O_RDWR)
    with os.fdopen(fd, "r+b") as f:
        data = f.read()
        if not data or data.endswith(b"\n"):
            return 0
        keep = data.rfind(b"\n") + 1
        f.truncate(keep)
        f.flush()
        os.fsync(f.fileno())
    return len(data) - keep


def done_pairs(lines: Iterable[dict]) -> set[tuple[str, int]]:
    """(cell, repetition) of every line: what --resume will not run again."""
    return {(str(ln["cell"]), int(ln["repetition"])) for ln in lines}


# ---- schema validation (python3-jsonschema from the distribution) ---------

def load_schema(name: str) -> dict:
    return json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text())


@functools.lru_cache(maxsize=None)
def _validator(name: str):
    import jsonschema

    store = {}
    for f in SCHEMA_DIR.glob("*.schema.json"):
        doc = json.loads(f.read_text())
        store[doc.get("$id", f.name)] = doc
        store[f.name] = doc
    schema = load_schema(name)
    cls = jsonschema.validators.validator_for(schema)
    try:
        # jsonschema >= 4.18 resolves $ref through the referencing library.
        from referencing import Registry, Resource

        registry = Registry().with_resources(
            (uri, Resource.from_contents(doc)) for uri, doc in store.items())
        return cls(schema, registry=registry)
    except ImportError:
        # Debian 12 ships jsonschema 4.10: RefResolver with a store.
        resolver = jsonschema.RefResolver.from_schema(schema, store=store)
        return cls(schema, resolver=resolver)


def schema_errors(obj: Any, name: str) -> list[str]:
    """Every violation of schemas/<name>.schema.json, as 'path: message'."""
    errs = []
    for e in sorted(_validator(name).iter_errors(obj), key=lambda e: list(e.path)):
        where = "/".join(str(p) for p in e.absolute_path) or "(top)"
        errs.append(f"{where}: {e.message}")
    return errs
