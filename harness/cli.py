"""./schedlab: argparse subcommands.

    run CONFIG [--out DIR] [--resume DIR] [--only K=V,...] [--dry-run] [--seed N]
    list [--json]
    report / compare / trace   -> harness/present/report.py, analyse/compare.py, analyse/trace.py
    doctor                     -> harness/doctor.py: cli(argv)

The hooks import their module only when called, so a missing or broken
report cannot stop `run`. Each hook module provides `cli(argv: list[str]) ->
int` (argv is everything after the subcommand; the int is the exit status).

main(argv, runner=None) exits through SystemExit with 0, 1 (some cell
failed), 2 (bad config or arguments), or 130 (interrupted; resumable).
Tests inject a fake runner so nothing real is spawned.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import random
import signal
import sys
from datetime import datetime, timezone
from pathlib import Path

from harness.records import catalog as catalog_mod
from harness.records import safefs
from harness.run import config as config_mod
from harness.run import lifetime, matrix, probes, runner as runner_mod, sysinfo
from harness.run.runlock import LockBusy, RunLock
from harness.run.config import ConfigError
from harness.run.progress import fmt_duration

HOOKS = {
    "report": ("present.report", "write DIR/report.md, report.html and plots/ from a run"),
    "compare": ("analyse.compare", "ratio per cell of two runs, with confidence intervals"),
    "trace": ("analyse.trace", "export a cell's trace as Chrome Trace Event JSON for Perfetto"),
    "doctor": ("doctor", "what this machine can measure, and why not"),
}

EPILOG = """\
examples:
  ./schedlab run configs/smoke.toml                # every task x model, briefly
  ./schedlab run configs/default.toml --dry-run    # the matrix and an estimate
  ./schedlab run configs/default.toml --only task=pingpong,model=coro
  ./schedlab run --resume results/20261127-050000  # finish an interrupted run
  ./schedlab report results/latest
  ./schedlab list

exit status: 0 every cell ok or skipped, 1 some cell failed or timed out,
2 bad config or arguments, 130 interrupted (resume with --resume DIR).
"""


class UsageError(Exception):
    """Bad arguments or run directory: exit 2 with this one line."""


# Every file a run writes at its top level.
RUN_FILES = (".lock", "config.toml", "env.json", "run.json", catalog_mod.FILE, "records.jsonl",
             "warmup.jsonl", "traces")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="schedlab", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Measure threads vs coroutines vs io_uring with eBPF probes.")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")
    run = sub.add_parser("run", help="run an experiment config", epilog=EPILOG,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("config", nargs="?", help="experiment config (TOML); optional with "
                     "--resume, which uses the run's own copy")
    run.add_argument("--out", metavar="DIR", help="run directory to create "
                     "(default: results/<UTC timestamp>, linked as results/latest)")
    run.add_argument("--resume", metavar="DIR", help="continue the run in DIR: runs already "
                     "in its records.jsonl are not repeated")
    run.add_argument("--only", metavar="K=V,...", default="",
                     help="subset: task=, model=, experiment=, cell= or any parameter the "
                     "config sets; a key given twice accepts either value")
    run.add_argument("--dry-run", action="store_true",
                     help="print the matrix, the commands and a time estimate; run nothing")
    run.add_argument("--seed", type=int, help="seed of the run order (overrides [run] seed)")
    lst = sub.add_parser("list", help="tasks, models and configs")
    lst.add_argument("--json", action="store_true", help="the workload's --list JSON")
    for name, (_, text) in HOOKS.items():
        sub.add_parser(name, help=text, add_help=False)
    return ap


def _hook(name: str, rest: list[str]) -> int:
    module = HOOKS[name][0]
    try:
        mod = importlib.import_module(f"harness.{module}")
    except ModuleNotFoundError as e:
        if e.name != f"harness.{module}":
            raise
        print(f"schedlab {name}: not available: harness/{module.replace('.', '/')}.py is missing",
              file=sys.stderr)
        return 1
    return int(mod.cli(rest) or 0)


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


def _print_plan(cfg, cells, runs, seed, history) -> None:
    measured = [r for r in runs if not r.warmup]
    warm = len(runs) - len(measured)
    print(f"config {cfg.path} (sha256 {cfg.sha256[:12]}), seed {seed}, order {cfg.run.order}")
    for i, c in enumerate(cells, start=1):
        est, src = runner_mod.estimate(c, history)
        print(f"{i:3d}  {c.id}  x{c.repetitions}  probes={','.join(c.probes) or '-'}  "
              f"~{est:.1f}s/run ({src})  timeout {c.timeout_s:g}s")
        print(f"       $ {' '.join(runner_mod.workload_command(cfg.run.workload, c))}")
    total, worst = runner_mod.describe_estimate(runs, history, cfg.run.cooldown_s)
    print(f"{len(cells)} cells, {len(measured)} runs" + (f" + {warm} warm-up" if warm else "")
          + f": about {fmt_duration(total)} (at most {fmt_duration(worst)} if every run "
          "times out)")


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


def cmd_run(args, rnr) -> int:
    # The run directory's lock is held until the run ends, however it ends.
    with contextlib.ExitStack() as locks:
        return _run(args, rnr, locks)


def _resumed(args) -> tuple[Path | None, dict, str | None]:
    """(run directory, its run.json, config path): --resume DIR's, with its own
    copy of the config; without --resume, (None, {}, CONFIG)."""
    if not args.resume:
        return None, {}, args.config
    run_dir = Path(args.resume)
    if args.out:
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
    if args.config and config_mod.load(args.config).sha256 != run_meta.get("config_sha256"):
        raise UsageError(f"--resume {run_dir}: {args.config} differs from the config "
                         "the run started with; omit CONFIG to use the run's copy")
    return run_dir, run_meta, str(run_dir / "config.toml")


def _run(args, rnr, locks: contextlib.ExitStack) -> int:
    run_dir, run_meta, cfg_path = _resumed(args)
    if not cfg_path:
        raise UsageError("run: give a CONFIG (e.g. configs/smoke.toml) or --resume DIR")
    if args.seed is not None and args.seed < 0:
        raise UsageError(f"--seed {args.seed}: expected an integer >= 0")
    cfg = config_mod.load(cfg_path)
    catalog, why = catalog_mod.listing(rnr.capture, cfg.run.workload)
    if catalog is None and not args.dry_run:
        raise UsageError(why)
    if catalog is not None:
        config_mod.check_catalog(cfg, catalog)
    elif why:
        print(f"schedlab: note: {why}; names not checked", file=sys.stderr)
    cells = matrix.select(matrix.expand(cfg, catalog), matrix.parse_only(args.only))
    runner_mod.check_cells(cells, cfg.run.workload, catalog, str(cfg.path), cwd=rnr_cwd(rnr))
    if run_meta:
        seed = int(run_meta["seed"])
    elif args.seed is not None:
        seed = args.seed
    elif cfg.run.seed is not None:
        seed = cfg.run.seed
    else:
        seed = random.SystemRandom().randrange(2 ** 31)
    runs = matrix.order(cells, seed, shuffle=cfg.run.order == "random",
                        warmup_runs=cfg.run.warmup_runs)
    results_root = (run_dir.parent if run_dir else
                    Path(args.out).parent if args.out else rnr_cwd(rnr) / "results")
    history = runner_mod.previous_durations(results_root)
    if args.dry_run:
        _print_plan(cfg, cells, runs, seed, history)
        return runner_mod.EXIT_OK

    for m in (catalog or {}).get("models", []):
        if not m.get("available", True) and any(c.model == m["name"] for c in cells):
            print(f"schedlab: note: model {m['name']} is not available here "
                  f"({m.get('reason')}); its cells will be recorded as skipped",
                  file=sys.stderr)
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    argv = ["schedlab", *args.argv]
    if run_dir is None:
        run_dir = Path(args.out) if args.out else _timestamp_dir(results_root)
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
                    "only": args.only, "planned_runs": len(runs), "resumes": []}
        env = sysinfo.collect("/", run=rnr.capture, repo=rnr_cwd(rnr),
                              config_path=str(cfg.path), config_text=cfg.text,
                              config_sha256=cfg.sha256, argv=argv)
        safefs.write_text(run_dir / "env.json", json.dumps(env, indent=2) + "\n")
        if not args.out:
            _link_latest(run_dir)
    else:
        _refuse_leftovers(run_dir, locks.enter_context(_lock_run_dir(run_dir, rnr)))
        run_meta.setdefault("resumes", []).append(
            {"started_at": now, "argv": argv, "only": args.only})
    safefs.write_text(run_dir / "run.json", json.dumps(run_meta, indent=2) + "\n")
    if not (run_dir / catalog_mod.FILE).exists():     # the listing its records were made with
        safefs.write_text(run_dir / catalog_mod.FILE, json.dumps(catalog, indent=1) + "\n")

    tools = probes.detect(cfg.run.schedtrace, cwd=rnr_cwd(rnr))
    wanted = {p for c in cells for p in c.probes}
    traced = wanted & set(probes.tracer_probes())
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
            + (f" --only {args.only}" if args.only else ""))
    finally:
        signal.signal(signal.SIGTERM, old)
    return outcome.exit_code


def rnr_cwd(rnr) -> Path:
    return Path(getattr(rnr, "cwd", runner_mod.REPO))


def cmd_list(args, rnr) -> int:
    catalog, why = catalog_mod.listing(rnr.capture, config_mod.RunSettings().workload)
    if args.json:
        if catalog is None:
            raise UsageError(why)
        print(json.dumps(catalog, indent=2))
        return 0
    if catalog is None:
        print(f"tasks and models: unknown ({why})")
    else:
        print("tasks:")
        for t in catalog.get("tasks", []):
            print(f"  {t['name']:<10} {t.get('summary') or ''}")
            print(f"  {'':<10} models: {', '.join(t.get('models') or [])}")
            heads = ", ".join(f"{m['name']} ({m['unit'] or '-'}"
                              + (f", {m['better']} is better)" if m["better"] else ")")
                              for m in t.get("metrics", []) if m["headline"])
            print(f"  {'':<10} headline metrics: {heads or '-'}")
            for p in t.get("params", []):
                unit = f" {p['unit']}" if p.get("unit") else ""
                rng = f" [{'|'.join(p.get('choices') or [])}]" if p.get("type") == "enum" else ""
                print(f"  {'':<10}   --{p['key']} (default {p.get('default') or '-'}{unit})"
                      f"{rng}: {p.get('help') or ''}")
        print("models:")
        for m in catalog.get("models", []):
            state = "available" if m.get("available") else f"unavailable: {m.get('reason')}"
            print(f"  {m['name']:<10} {m.get('summary') or ''} ({state})")
    print("configs:")
    root = rnr_cwd(rnr) / "configs"
    for f in sorted(root.rglob("*.toml")):
        first = next((ln.lstrip("# ").strip() for ln in f.read_text().splitlines()
                      if ln.startswith("#") and ln.strip("# ")), "")
        print(f"  {f.relative_to(rnr_cwd(rnr))}: {first}")
    return 0


def run_main(argv: list[str], rnr=None) -> int:
    """Like main() but returns the exit status instead of raising SystemExit."""
    if argv and argv[0] in HOOKS:
        return _hook(argv[0], argv[1:])
    ap = build_parser()
    args = ap.parse_args(argv)
    if not args.command:
        ap.print_help(sys.stderr)
        return 2
    args.argv = list(argv)
    rnr = rnr or runner_mod.ProcessRunner()
    try:
        return {"run": cmd_run, "list": cmd_list}[args.command](args, rnr)
    except (ConfigError, UsageError, safefs.UnsafePath) as e:
        print(f"schedlab: {e}", file=sys.stderr)
        return 2
    except safefs.DiskFull as e:
        print(f"schedlab: {e}; free space and run again (--resume DIR continues a run)",
              file=sys.stderr)
        return 1


def main(argv: list[str] | None = None, runner=None) -> None:
    """The command. Always leaves through SystemExit with the exit status."""
    try:
        code = run_main(sys.argv[1:] if argv is None else argv, runner)
        sys.stdout.flush()
    except BrokenPipeError:
        # `./schedlab list | head`: the reader left; say nothing more.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = 1
    raise SystemExit(code)
