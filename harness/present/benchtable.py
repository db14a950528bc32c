"""The table `make bench` ends with: the headline speed figures of one run.

    ./schedlab bench-table RUN_DIR [SWITCH_JSON]

Rows, each from the run in RUN_DIR (configs/bench.toml) and from the JSON
build/bench/switch printed in the same `make bench` (SWITCH_JSON; copied to
RUN_DIR/switch.json, which is read when SWITCH_JSON is not given):
  - one user-space context switch: ours / the register-only floor / glibc
    swapcontext, medians of the switch benchmark's interleaved repetitions,
    and a hand-off between two coroutines on their own stacks against one on
    a shared stack (the copy it costs);
  - the pingpong hand-off of every pingpong cell (median [CI]), with the spin
    an mn worker burnt per hand-off where the model reports it;
  - the memory and creation cost per task of every spawn cell;
  - compute's speedup from 1 task to 2 on the same CPUs, per model;
  - the runtime's targets, each a ratio within one run with "met" or "not
    met" (TARGETS): the event hand-off under coro at most 3x the raw switch
    and under mn on one worker at most 1.2x coro (both from the switch
    benchmark's interleaved repetitions: the ratio of the medians decides,
    and the row gives the ratio's range over the repetitions and in how
    many it kept within the bound), and a parked shared-stack coroutine at
    most 280 user bytes among 1,000,000 (the spawn cell).
Writes RUN_DIR/bench.md and prints it. A figure the run lacks is named as
missing, with the reason when the cell failed; never left out silently.
Exit 0, or 2 when RUN_DIR is not a run directory or SWITCH_JSON unreadable.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from harness.analyse import stats
from harness import format as fmt
from harness.records.rundir import CellResults, RunDirError, load_run
from harness.records import safefs
from harness.run.config import format_value


def median_ci(values: list[float], unit=fmt.duration) -> str | None:
    s = stats.summarize(values)
    if s.median is None:
        return None
    if s.ci_lo is None:
        return f"{unit(s.median)} (n={s.n})"
    return fmt.estimate(s.median, s.ci_lo, s.ci_hi, fmt=unit)


def missing(c: CellResults) -> str:
    return "no ok repetition: " + ("; ".join(c.reasons()) or "no record")


def switch_row(sw: dict) -> list[str]:
    parts = [sw.get(k, {}).get("median") for k in ("ours", "floor", "swapcontext")]
    what = "one context switch: ours / register-only floor / glibc swapcontext"
    if any(p is None for p in parts):
        return [what, "missing from the switch benchmark's output"]
    ours, floor, swap = parts
    return [what, f"{fmt.num(ours)} / {fmt.num(floor)} / {fmt.num(swap)} ns "
                  f"({ours / floor:.2f}x the floor, {swap / ours:.0f}x faster than "
                  "swapcontext; median of "
                  f"{sw.get('repetitions', '?')}, CPU {sw.get('cpu', '?')})"]


def copy_row(sw: dict) -> list[str] | None:
    own, shared = (sw.get(k, {}).get("median") for k in ("handoff_own", "handoff_shared"))
    if own is None or shared is None:
        return None
    return ["coroutine hand-off: own stacks / shared stack (copied on switch)",
            f"{fmt.num(own)} / {fmt.num(shared)} ns ({shared / own:.2f}x; "
            f"{fmt.num(sw.get('handoff_shared_copy_bytes_per_switch', 0))} bytes copied "
            "per switch)"]


def params_text(c: CellResults, keys: tuple[str, ...]) -> str:
    return ", ".join(f"{k}={format_value(c.params[k])}" for k in keys if k in c.params)


def pingpong_rows(cells: list[CellResults]) -> list[list[str]]:
    rows = []
    for c in cells:
        what = (f"pingpong hand-off, {c.model} "
                f"({params_text(c, ('channel', 'placement', 'stack'))})")
        figure = median_ci(c.values("handoff_ns")) or missing(c)
        spin = [s / h for s, h in zip(c.values("mn_spun_ns"), c.values("handoffs")) if h]
        if spin:
            figure += f"; spin {median_ci(spin)} per hand-off"
        rows.append([what, figure])
    return rows


def spawn_rows(cells: list[CellResults]) -> list[list[str]]:
    rows = []
    for c in cells:
        tasks = c.params.get("tasks")
        label = (f"{int(tasks):,} parked tasks, {c.model}" if tasks is not None
                 else f"parked tasks, {c.model}")
        extra = params_text(c, ("stack", "stack_bytes"))
        what = f"spawn: {label}" + (f" ({extra})" if extra else "")
        user = median_ci(c.values("user_bytes_per_task"), fmt.num)
        kern = median_ci(c.values("kernel_bytes_per_task"), fmt.num)
        create = median_ci(c.values("create_ns"))
        if user is None:
            rows.append([what, missing(c)])
            continue
        rows.append([what, f"{user} user bytes + {kern or '?'} kernel bytes each; "
                           f"{create or '?'} each to create"])
    return rows


def speedup_rows(cells: list[CellResults]) -> list[list[str]]:
    """units_per_s at workers=2 over workers=1, cells alike but for workers."""
    def rest(c: CellResults) -> tuple:
        return (c.model,) + tuple(sorted((k, str(v)) for k, v in c.params.items()
                                         if k != "workers"))
    one = {rest(c): c for c in cells if c.params.get("workers") == 1}
    rows = []
    for c in cells:
        base = one.get(rest(c))
        if c.params.get("workers") != 2 or base is None:
            continue
        what = f"compute speedup, 2 tasks over 1, {c.model} ({params_text(c, ('cpus',))})"
        a, b = (stats.summarize(x.values("units_per_s")) for x in (c, base))
        if a.median is None or b.median is None:
            rows.append([what, missing(c if a.median is None else base)])
            continue
        rows.append([what, f"{a.median / b.median:.2f}x (medians of {a.n} and {b.n} runs)"])
    return rows


# Each target is met when the measured figure is at most its bound. The
# first two are ratios of medians from one switch benchmark run
# (interleaved), the third the median of the spawn cell's repetitions.
HANDOFF_OVER_SWITCH = 3.0       # coro's event hand-off / one raw switch
MN_OVER_CORO = 1.2              # mn on one worker / coro, the same hand-off
SHARED_PARKED_BYTES = 280       # user bytes per parked stack=shared coroutine
SHARED_PARKED_TASKS = 1_000_000


def verdict(measured: float, bound: float) -> str:
    return "met" if measured <= bound else "not met"


def spread(sw: dict, num: str, den: str, bound: float) -> str:
    """The ratio in each interleaved repetition (num and den ran side by
    side in it): its range, and in how many it kept within the bound.
    Empty when the switch output has no per-repetition samples."""
    a, b = ((sw.get(k) or {}).get("samples") or [] for k in (num, den))
    ratios = [x / y for x, y in zip(a, b) if y]
    if not ratios or len(a) != len(b):
        return ""
    within = sum(r <= bound for r in ratios)
    return (f"; per repetition {min(ratios):.2f}x to {max(ratios):.2f}x, within the bound "
            f"in {within} of {len(ratios)}")


def ratio_target(sw: dict, what: str, num: str, den: str, bound: float,
                 note: str = "") -> list[str]:
    """A target on num's median over den's in the switch benchmark's output."""
    a, b = ((sw.get(k) or {}).get("median") for k in (num, den))
    if not (a and b):
        return [what, "missing from the switch benchmark's output"]
    return [what, f"{a / b:.2f}x ({fmt.num(a)} / {fmt.num(b)} ns{note}"
                  f"{spread(sw, num, den, bound)}): {verdict(a / b, bound)}"]


def target_rows(sw: dict, spawn: list[CellResults]) -> list[list[str]]:
    rows = [
        ratio_target(sw, f"target: coro event hand-off <= {HANDOFF_OVER_SWITCH:g}x one raw "
                     "switch", "event_coro", "ours", HANDOFF_OVER_SWITCH,
                     f", medians of {sw.get('repetitions', '?')} interleaved repetitions"),
        ratio_target(sw, f"target: mn on one worker <= {MN_OVER_CORO:g}x coro, the same "
                     "hand-off", "event_mn1", "event_coro", MN_OVER_CORO)]
    what = (f"target: a parked stack=shared coroutine <= {SHARED_PARKED_BYTES} user bytes "
            f"among {SHARED_PARKED_TASKS:,}")
    cell = next((c for c in spawn if c.model == "coro" and c.params.get("stack") == "shared"
                 and c.params.get("tasks") == SHARED_PARKED_TASKS), None)
    s = stats.summarize(cell.values("user_bytes_per_task")) if cell else None
    rows.append([what, "no such spawn cell in this run" if cell is None else
                 missing(cell) if s.median is None else
                 f"{fmt.num(s.median)} bytes (median of {s.n}): "
                 f"{verdict(s.median, SHARED_PARKED_BYTES)}"])
    return rows


def table(run_dir: Path, sw: dict | None) -> str:
    run = load_run(run_dir)
    cells = [c for c in run.cells() if not c.traced_usdt]
    rows = [switch_row(sw)] if sw is not None else [
        ["one context switch", "not measured (no switch.json)"]]
    rows += [r for r in [copy_row(sw or {})] if r]
    rows += pingpong_rows([c for c in cells if c.task == "pingpong"])
    rows += spawn_rows([c for c in cells if c.task == "spawn"])
    rows += speedup_rows([c for c in cells if c.task == "compute"])
    rows += target_rows(sw or {}, [c for c in cells if c.task == "spawn"])
    reps = sorted({ln.get("repetition", 0) for ln in run.lines})
    lines = [f"bench: {run_dir} ({len(run.lines)} process runs, up to {len(reps)} "
             "repetitions per cell; median [95% CI])", "",
             "| what | figure |", "|---|---|"]
    lines += [f"| {a} | {b} |" for a, b in rows]
    return "\n".join(lines) + "\n"


def command(args) -> int:
    """`schedlab bench-table RUN_DIR [SWITCH_JSON]` (harness/cli.py; make bench)."""
    run_dir = Path(args.run_dir)
    sw_path = Path(args.switch_json) if args.switch_json else run_dir / "switch.json"
    sw = None
    if sw_path.exists():
        try:
            sw = json.loads(sw_path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            print(f"benchtable: {sw_path}: {e}", file=sys.stderr)
            return 2
    try:
        text = table(run_dir, sw)
    except RunDirError as e:
        print(f"benchtable: {e}", file=sys.stderr)
        return 2
    if sw is not None and sw_path != run_dir / "switch.json":
        safefs.write_text(run_dir / "switch.json", json.dumps(sw, indent=1) + "\n")
    safefs.write_text(run_dir / "bench.md", text)
    print(text, end="")
    print(f"bench: {run_dir / 'bench.md'}; full report: {run_dir / 'report.md'}")
    return 0
