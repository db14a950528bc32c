"""A run session: the one owner of a run directory.

It makes the directory (results/<UTC timestamp>, linked as results/latest,
or --out DIR), holds its lock for as long as the run lasts, and writes every
file in it: config.toml (the config as given), env.json (the machine),
run.json (seed, order, argv, resumes), catalog.json (what the workload and
the peers declared), tracer.json (the tracer's --list and its measured cost,
when the tracer is built), and through the runner records.jsonl,
warmup.jsonl and traces/. harness/records/ reads them back; nothing else
writes there, so a report of an old run on a new build says what that run had.

--resume DIR reopens a directory: the run's own copy of the config, its
seed, its catalog; run.json gains an entry in "resumes".
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from harness.records import catalog as saved_catalog
from harness.records import safefs
from harness.records import tracer as saved_tracer
from harness.run import catalog as run_catalog
from harness.run import cells as cells_mod
from harness.run import config as config_mod
from harness.run import lifetime, matrix, probes, runner as runner_mod, sysinfo
from harness.run.runlock import LockBusy, RunLock
from harness.run.progress import fmt_duration


class UsageError(Exception):
    """Bad arguments or run directory: exit 2 with this one line."""


@dataclass(frozen=True)
class Request:
    """What `schedlab run` was asked (harness/cli.py parses it)."""

    config: str | None
    out: str | None
    resume: str | None
    only: str
    dry_run: bool
    seed: int | None
    argv: tuple[str, ...]


def _timestamp_dir(root: Path) -> Path:
    base = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    d = root / base
    n = 2
    while d.exists():
        d = root / f"{base}-{n}"
        n += 1
    return d


def _link_latest(run_dir: Path) -> None:
    latest = run_dir.parent / "latest"
    tmp = run_dir.parent / f".latest-{os.getpid()}"
    try:
        if tmp.is_symlink():
            tmp.unlink()
        tmp.symlink_to(run_dir.name)
        # rename() over the old link is atomic: results/latest is never absent.
        tmp.replace(latest)
    except OSError as e:
        print(f"schedlab: note: could not update {latest}: {e.strerror}", file=sys.stderr)


def _print_plan(cfg, cells, runs, seed, history, kind_of) -> None:
    measured = [r for r in runs if not r.warmup]
    warm = len(runs) - len(measured)
    print(f"config {cfg.path} (sha256 {cfg.sha256[:12]}), seed {seed}, order {cfg.run.order}")
    for i, c in enumerate(cells, start=1):
        est, src = runner_mod.estimate(c, history)
        print(f"{i:3d}  {c.id}  x{c.repetitions}  probes={','.join(c.probes) or '-'}  "
              f"~{est:.1f}s/run ({src})  timeout {c.timeout_s:g}s")
        print(f"       $ {' '.join(kind_of(c).command(c))}")
    total, worst = runner_mod.describe_estimate(runs, history, cfg.run.cooldown_s)
    print(f"{len(cells)} cells, {len(measured)} runs" + (f" + {warm} warm-up" if warm else "")
          + f": about {fmt_duration(total)} (at most {fmt_duration(worst)} if every run "
          "times out)")


# Every file a run writes at its top level.
RUN_FILES = (".lock", "config.toml", "env.json", "run.json", saved_catalog.FILE,
             saved_tracer.FILE, "records.jsonl", "warmup.jsonl", "traces")


def _lock_run_dir(run_dir: Path, rnr) -> RunLock:
    """Hold DIR/.lock for the rest of this process (runlock.py); the runner
    tells it the session of each command it starts."""
    try:
        lock = RunLock(run_dir)
    except LockBusy as e:
        raise UsageError(str(e)) from None
    if hasattr(rnr, "started"):
        rnr.started = lock.running
    return lock


def _refuse_leftovers(run_dir: Path, lock: RunLock) -> None:
    """--resume beside a process of the earlier run would contaminate the
    new records (it still takes CPU): refuse, naming it."""
    alive = lifetime.live_members(lock.earlier_sessions)
    if alive:
        pid, comm, sid = alive[0]
        more = f" and {len(alive) - 1} more" if len(alive) > 1 else ""
        raise UsageError(f"--resume {run_dir}: process {pid} ({comm}){more} of the earlier run "
                         f"is still alive; stop it (kill -- -{sid}) and resume")


def _check_names(run_dir: Path) -> None:
    """No file a run writes may be a symlink (planted before the run)."""
    for name in RUN_FILES:
        if (run_dir / name).is_symlink():
            raise UsageError(f"{run_dir / name} is a symlink; a run never follows one: "
                             "remove it")


def _sigterm_to_interrupt(signum, frame):
    raise KeyboardInterrupt


def _resumed(req: Request) -> tuple[Path | None, dict, str | None]:
    """(run directory, its run.json, config path): --resume DIR's, with its own
    copy of the config; without --resume, (None, {}, CONFIG)."""
    if not req.resume:
        return None, {}, req.config
    run_dir = Path(req.resume)
    if req.out:
        raise UsageError("--out and --resume exclude each other: --resume DIR is the "
                         "run directory")
    safefs.check_owned_dir(run_dir, "--resume")
    _check_names(run_dir)
    meta = run_dir / "run.json"
    try:
        run_meta = json.loads(safefs.read_regular(meta))
    except FileNotFoundError:
        raise UsageError(f"--resume {run_dir}: not a run directory (no run.json)") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise UsageError(f"--resume {run_dir}: run.json is not valid JSON ({e})") from None
    if req.config and config_mod.load(req.config).sha256 != run_meta.get("config_sha256"):
        raise UsageError(f"--resume {run_dir}: {req.config} differs from the config "
                         "the run started with; omit CONFIG to use the run's copy")
    return run_dir, run_meta, str(run_dir / "config.toml")


def run(req: Request, rnr) -> int:
    """`schedlab run`: the exit status. The run directory's lock is held
    until the run ends, however it ends."""
    with contextlib.ExitStack() as locks:
        return _run(req, rnr, locks)


def _run(req: Request, rnr, locks: contextlib.ExitStack) -> int:
    run_dir, run_meta, cfg_path = _resumed(req)
    if not cfg_path:
        raise UsageError("run: give a CONFIG (e.g. configs/smoke.toml) or --resume DIR")
    if req.seed is not None and req.seed < 0:
        raise UsageError(f"--seed {req.seed}: expected an integer >= 0")
    cfg = config_mod.load(cfg_path)
    catalog, why = run_catalog.listing(rnr.capture, cfg.run.workload)
    if catalog is None and not req.dry_run:
        raise UsageError(why)
    saved = run_catalog.with_peers(catalog or {})
    listing = run_catalog.Listing(saved)
    if catalog is not None:
        config_mod.check_catalog(cfg, listing)
    elif why:
        print(f"schedlab: note: {why}; names not checked", file=sys.stderr)
    cells = matrix.select(matrix.expand(cfg, listing), matrix.parse_only(req.only))
    runner_mod.check_cells(cells, cfg.run.workload, catalog, str(cfg.path), cwd=repo_of(rnr))
    if run_meta:
        seed = int(run_meta["seed"])
    elif req.seed is not None:
        seed = req.seed
    elif cfg.run.seed is not None:
        seed = cfg.run.seed
    else:
        seed = random.SystemRandom().randrange(2 ** 31)
    runs = matrix.order(cells, seed, shuffle=cfg.run.order == "random",
                        warmup_runs=cfg.run.warmup_runs)
    results_root = (run_dir.parent if run_dir else
                    Path(req.out).parent if req.out else repo_of(rnr) / "results")
    history = runner_mod.previous_durations(results_root)
    tools = probes.detect(cfg.run.schedtrace, cwd=repo_of(rnr))
    if req.dry_run:
        _print_plan(cfg, cells, runs, seed, history, cells_mod.resolver(cfg.run.workload, tools))
        return runner_mod.EXIT_OK

    for m in (catalog or {}).get("models", []):
        if not m.get("available", True) and any(c.model == m["name"] for c in cells):
            print(f"schedlab: note: model {m['name']} is not available here "
                  f"({m.get('reason')}); its cells will be recorded as skipped",
                  file=sys.stderr)
    run_dir = _open(req, rnr, cfg, run_dir, run_meta, results_root, seed, len(runs), locks)
    if not (run_dir / saved_catalog.FILE).exists():     # the listing its records were made with
        safefs.write_text(run_dir / saved_catalog.FILE, json.dumps(saved, indent=1) + "\n")

    _save_tracer(run_dir)

    wanted = {p for c in cells for p in c.probes}
    traced = wanted - {"perf"}
    if traced and probes.tracer_probes() is None:
        print(f"schedlab: note: probe names {','.join(sorted(traced))} not checked: the "
              "tracer is not built", file=sys.stderr)
    if traced and tools.schedtrace_missing:
        print(f"schedlab: note: probes {','.join(sorted(traced))} not attached: "
              f"{tools.schedtrace_missing}", file=sys.stderr)
    if "perf" in wanted and tools.perf_missing:
        print(f"schedlab: note: perf not attached: {tools.perf_missing}", file=sys.stderr)
    print(f"schedlab: run {run_dir} (seed {seed}, {len(runs)} runs)", file=sys.stderr)
    old = signal.signal(signal.SIGTERM, _sigterm_to_interrupt)
    try:
        outcome = runner_mod.execute(
            runs, run_dir, cfg.run.workload, tools, rnr, seed,
            cooldown_s=cfg.run.cooldown_s, history=history,
            resume_hint=f"./schedlab run --resume {run_dir}"
            + (f" --only {req.only}" if req.only else ""))
    finally:
        signal.signal(signal.SIGTERM, old)
    return outcome.exit_code


def _open(req: Request, rnr, cfg, run_dir: Path | None, run_meta: dict, results_root: Path,
          seed: int, planned: int, locks: contextlib.ExitStack) -> Path:
    """The run directory, locked, with config.toml, env.json and run.json
    written (a new run) or run.json's resumes extended (--resume)."""
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    argv = ["schedlab", *req.argv]
    if run_dir is None:
        run_dir = Path(req.out) if req.out else _timestamp_dir(results_root)
        safefs.make_run_dir(run_dir)
        _check_names(run_dir)
        locks.enter_context(_lock_run_dir(run_dir, rnr))
        if (run_dir / "records.jsonl").exists():
            raise UsageError(f"--out {run_dir} already holds a run; use --resume "
                             f"{run_dir} to continue it, or another directory")
        safefs.write_text(run_dir / "config.toml", cfg.text)
        run_meta = {"schema": 1, "seed": seed, "order": cfg.run.order,
                    "config_path": str(cfg.path), "config_sha256": cfg.sha256,
                    "started_at": now, "argv": argv,
                    "only": req.only, "planned_runs": planned, "resumes": []}
        env = sysinfo.collect("/", run=rnr.capture, repo=repo_of(rnr),
                              config_path=str(cfg.path), config_text=cfg.text,
                              config_sha256=cfg.sha256, argv=argv)
        safefs.write_text(run_dir / "env.json", json.dumps(env, indent=2) + "\n")
        if not req.out:
            _link_latest(run_dir)
    else:
        _refuse_leftovers(run_dir, locks.enter_context(_lock_run_dir(run_dir, rnr)))
        run_meta.setdefault("resumes", []).append(
            {"started_at": now, "argv": argv, "only": req.only})
    safefs.write_text(run_dir / "run.json", json.dumps(run_meta, indent=2) + "\n")
    return run_dir


def _save_tracer(run_dir: Path) -> None:
    """DIR/tracer.json: `schedtrace --list` with the tracer's measured cost on
    this machine (`cost`, from the last `make bench-tracer`; absent when it
    never ran). Written once, like catalog.json: a resumed run keeps the list
    its first records were made with. No tracer built: no file."""
    path = run_dir / saved_tracer.FILE
    listed = probes.tracer_list()
    if path.exists() or listed is None:
        return
    doc = {"schema": 1, "probes": list(listed)}
    cost = probes.tracer_cost()
    if cost is not None:
        doc["cost"] = cost
    safefs.write_text(path, json.dumps(doc, indent=1) + "\n")


def repo_of(rnr) -> Path:
    """The directory the runner runs in (the repository; a test's tmp_path)."""
    return Path(getattr(rnr, "cwd", runner_mod.REPO))
