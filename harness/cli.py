"""./schedlab: the one command line. Every subcommand and its options are
declared here (as pyperf's __main__ does); the stage modules take the parsed
arguments and hold no parser of their own.

    run CONFIG | --resume DIR    harness/run/session.py
    list                         (here)
    report DIR                   harness/present/report.py
    compare A B                  harness/analyse/compare.py
    trace DIR --cell ID          harness/analyse/trace.py
    doctor                       harness/doctor.py
    fleet-report FLEET_DIR       harness/present/fleet.py
    bench-table RUN [SWITCH]     harness/present/benchtable.py (make bench)

A subcommand's module is imported only when it is called, so a broken
report cannot stop `run`.

main(argv, runner=None) exits through SystemExit with 0, 1 (some cell
failed), 2 (bad config or arguments), or 130 (interrupted; resumable).
Tests inject a fake runner so nothing real is spawned.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from harness.records import safefs
from harness.run import catalog as run_catalog
from harness.run import config as config_mod
from harness.run import peers as peers_mod
from harness.run import probes
from harness.run import runner as runner_mod
from harness.run import session
from harness.run.config import ConfigError
from harness.run.session import UsageError, repo_of

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


def _sub(sub, name: str, text: str, epilog: str | None = None) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=text, description=text, epilog=epilog,
                          formatter_class=argparse.RawDescriptionHelpFormatter)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="schedlab", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Measure threads vs coroutines vs io_uring with eBPF probes.")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")
    run = _sub(sub, "run", "run an experiment config", EPILOG)
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

    lst = _sub(sub, "list", "tasks, models and configs")
    lst.add_argument("--json", action="store_true", help="the workload's --list JSON")

    rep = _sub(sub, "report", "write DIR/report.md, report.html, report.json and plots/ "
               "from a run", "example: ./schedlab report results/latest")
    rep.add_argument("dir", type=Path, help="the results directory of a run")
    rep.add_argument("--claims", type=Path, default=None,
                     help="claims file (def: configs/claims.toml)")
    rep.add_argument("--reproduce", type=Path, default=None,
                     help="directory of reproduction files (def: configs/reproduce)")
    rep.add_argument("--no-plots", action="store_true", help="skip the plots (faster)")

    cmp = _sub(sub, "compare", "ratio per cell of two runs (B/A), with confidence "
               "intervals, and geometric means per task",
               "example: ./schedlab compare results/20261127-050000 results/latest "
               "--json cmp.json")
    cmp.add_argument("a", type=Path, help="results directory A (the baseline)")
    cmp.add_argument("b", type=Path, help="results directory B")
    cmp.add_argument("--threshold", type=float, default=None,
                     help="smallest relative change worth flagging (def: 0.05)")
    cmp.add_argument("--json", type=Path, help="also write the comparison as JSON to this file")
    cmp.add_argument("--md", type=Path, help="write the Markdown here instead of stdout")

    # The example's cell is one configs/default.toml records with events.
    tr = _sub(sub, "trace", "export a cell's event stream as Chrome Trace Event JSON for "
              "Perfetto", "example: ./schedlab trace results/latest --cell "
              "pingpong/coro/channel=event,placement=same,iterations=2000 --perfetto "
              "pingpong.json\n(then open it in https://ui.perfetto.dev; `./schedlab report "
              "DIR` exports every traced cell to DIR/traces/)")
    tr.add_argument("dir", type=Path, help="the results directory of a run")
    tr.add_argument("--cell", required=True, help="cell id as in records.jsonl")
    tr.add_argument("--rep", type=int, default=None,
                    help="repetition (def: the first one with an event stream)")
    tr.add_argument("--perfetto", type=Path, required=True, help="output JSON file")

    doc = _sub(sub, "doctor", "what this machine can measure, and why not")
    doc.add_argument("--json", action="store_true", help="print the checks as JSON")
    doc.add_argument("--no-perf", action="store_true", help="skip running perf stat")

    fr = _sub(sub, "fleet-report", "claims x hosts of a fleet run (fleet/playbook.yml), and "
              "which claims flip with the machine: writes FLEET_DIR/fleet.md, fleet.html, "
              "fleet.json", "example: ./schedlab fleet-report results/fleet-lab1")
    fr.add_argument("fleet_dir", type=Path, metavar="FLEET_DIR",
                    help="the fleet's directory: one results directory per host")

    bt = _sub(sub, "bench-table", "the headline speed figures of a `make bench` run: "
              "writes RUN_DIR/bench.md and prints it")
    bt.add_argument("run_dir", metavar="RUN_DIR", help="the results directory of the bench run")
    bt.add_argument("switch_json", metavar="SWITCH_JSON", nargs="?",
                    help="build/bench/switch's JSON (def: RUN_DIR/switch.json)")
    return ap


def cmd_run(args, rnr) -> int:
    return session.run(session.Request(
        config=args.config, out=args.out, resume=args.resume, only=args.only,
        dry_run=args.dry_run, seed=args.seed, argv=tuple(args.argv)), rnr)


def cmd_report(args, rnr) -> int:
    from harness.present import report
    return report.command(args)


def cmd_compare(args, rnr) -> int:
    from harness.analyse import compare
    return compare.command(args)


def cmd_trace(args, rnr) -> int:
    from harness.analyse import trace
    return trace.command(args)


def cmd_doctor(args, rnr) -> int:
    from harness import doctor
    return doctor.command(args)


def cmd_fleet_report(args, rnr) -> int:
    from harness.present import fleet
    return fleet.command(args)


def cmd_bench_table(args, rnr) -> int:
    from harness.present import benchtable
    return benchtable.command(args)


def cmd_list(args, rnr) -> int:
    catalog, why = run_catalog.listing(rnr.capture, config_mod.RunSettings().workload)
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
                print(f"  {'':<10}   {_param_line(p)}")
        print("models:")
        for m in catalog.get("models", []):
            state = "available" if m.get("available") else f"unavailable: {m.get('reason')}"
            print(f"  {m['name']:<10} {m.get('summary') or ''} ({state})")
            for p in m.get("params", []):
                print(f"  {'':<10}   variant {_param_line(p)}")
    _list_peers()
    configs = sorted((repo_of(rnr) / "configs").rglob("*.toml"))
    groups = (("configs you can run (./schedlab run CONFIG)",
               [f for f in configs if f.parent.name == "configs" and f.name != "claims.toml"]),
              ("published figures the report reproduces (configs/reproduce/, read by "
               "./schedlab report)", [f for f in configs if f.parent.name == "reproduce"]),
              ("the article's claims and their rules (read by ./schedlab report)",
               [f for f in configs if f.name == "claims.toml"]))
    for title, files in groups:
        print(f"{title}:")
        for f in files:
            print(f"  {f.relative_to(repo_of(rnr))}: {config_summary(f.read_text())}")
    return 0


def _list_peers() -> None:
    """Programs of other authors run as cells: a config names them by task
    and model, like ours; whether each can run here, and if not why."""
    perf_missing = probes.detect().perf_missing
    print("peers (other programs, run as cells; a config names them by task and model):")
    for peer in peers_mod.PEERS.values():
        why = peers_mod.unavailable(peer, perf_missing)
        state = "available" if why is None else f"unavailable: {why.split(': ', 1)[-1]}"
        print(f"  {peer.task}/{'|'.join(peer.model_names)}: {peer.summary} ({state})")
        print(f"  {'':<10} params: {', '.join('--' + p['key'] for p in peer.params)}")


def _param_line(p: dict) -> str:
    """--key (default, unit) [choices]: help, as `list` prints a parameter."""
    unit = f" {p['unit']}" if p.get("unit") else ""
    rng = f" [{'|'.join(p.get('choices') or [])}]" if p.get("type") == "enum" else ""
    return f"--{p['key']} (default {p.get('default') or '-'}{unit}){rng}: {p.get('help') or ''}"


def config_summary(text: str) -> str:
    """A config's description: its opening comment up to the end of the
    sentence running at the end of its first line, so no sentence is cut
    and the paragraph's details (units, formats) stay in the file."""
    words: list[str] = []
    for line in text.splitlines():
        if not line.startswith("#") or not line.strip("# "):
            if words:
                break
            continue
        words.append(line.lstrip("# ").strip())
    para = " ".join(words)
    start = max(len(words[0]) - 1, 0) if words else 0
    end = next((i + 1 for i in range(start, len(para)) if para[i] == "."
                and (i + 1 == len(para) or para[i + 1] == " ")), len(para))
    return para[:end]


COMMANDS = {"run": cmd_run, "list": cmd_list, "report": cmd_report, "compare": cmd_compare,
            "trace": cmd_trace, "doctor": cmd_doctor, "bench-table": cmd_bench_table,
            "fleet-report": cmd_fleet_report}


def run_main(argv: list[str], rnr=None) -> int:
    """Like main() but returns the exit status instead of raising SystemExit."""
    ap = build_parser()
    try:
        args = ap.parse_args(argv)
    except SystemExit as e:         # --help (0) or a usage error (2)
        return int(e.code or 0)
    if not args.command:
        ap.print_help(sys.stderr)
        return 2
    args.argv = list(argv)
    rnr = rnr or runner_mod.ProcessRunner()
    try:
        return int(COMMANDS[args.command](args, rnr) or 0)
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
