"""Each claim's answer in plain words, for the report's first screen.

One line per claim: the article's sentence, the verdict, then what the
measurement says with its size and direction ("coro needs 7.9x less memory
per task than threads: 4.1 KiB against 32.6 KiB"), the deciding figure with
its interval, the crossover when the verdict carries one, and "noisy" only
when the deciding figure's own cells are.

The deciding figure is the claim's: verdicts.evaluate_claim() names it, and
when the claim result carries a structured "decision" (the verdict rules'
side values and crossover) that is read first; otherwise the deciding part
is the first test whose figure is the claim's, and its row the first decided
one, as verdicts._headline picks it. The words come from the claims file
(the part's `what` before ", X vs Y" names the quantity; `name` where a part
has one) and units from the catalog, so a new claim needs no code here.
A yes/no outcome per run (a part whose threshold is 0 on a count) is said as
a share of runs ("lost updates in 3 of 5 runs").
"""

from __future__ import annotations

import re

from harness import format as fmt
from harness.analyse import intervals
from harness.records.rundir import CellResults

ABOUT_SAME = 0.05       # a ratio within 5% of 1 is said as "about the same"
_VERSUS = re.compile(r",\s*[\w+-]+ vs [\w+-]+.*$")


def quantity(part_spec: dict, result_part: dict) -> str:
    """The thing measured, in the claims file's words."""
    if part_spec.get("name"):
        return str(part_spec["name"])
    what = str(result_part.get("what") or part_spec.get("metric") or "the figure")
    return _VERSUS.sub("", what).strip()


def amount(value, unit: str | None) -> str:
    """A measured value with its unit in the size a reader takes in."""
    if value is None:
        return "n/a"
    if unit == "ns":
        return fmt.duration(value)
    if unit == "bytes":
        for name, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
            if abs(value) >= scale:
                return fmt.num(value / scale, name)
        return fmt.num(value, "B")
    if unit in (None, "", "count", "ratio"):
        return fmt.num(value)
    return fmt.num(value, unit).replace(" per_s", "/s")


def times(ratio: float) -> str:
    """"7.9x" for a factor, keeping two significant figures."""
    return f"{ratio:.2g}x" if ratio < 10 else f"{ratio:,.0f}x"


def _model(cell_id: str) -> str:
    return cell_id.split("/")[1] if cell_id.count("/") >= 1 else cell_id


def _deciding(claim: dict) -> tuple[int, dict] | None:
    tests = [(i, p) for i, p in enumerate(claim["parts"]) if p["role"] == "test"]
    decision = claim.get("decision") or {}
    for i, p in tests:
        if decision.get("part") and p["what"] == decision["part"]:
            return i, p
    for i, p in tests:
        if p["figure"] and p["figure"] == claim["figure"]:
            return i, p
    return next(((i, p) for i, p in tests if p["figure"]), tests[0] if tests else None)


def _row(part: dict, label: str | None = None) -> dict | None:
    """The deciding row: the decision's (by label), else the first decided;
    a share difference's own row, not the shares it is made of."""
    rows = [r for r in part["rows"] if r.get("kind") != "share"] or part["rows"]
    return next((r for r in rows if label and r.get("label") == label),
                next((r for r in rows if r.get("verdict") in ("supported", "refuted")),
                     rows[0] if rows else None))


def _unit(unit_of, task: str | None, model: str | None, metric: str) -> str | None:
    """The unit of a metric expression: its first term's, when the terms are
    added (user+kernel bytes); none for a product or quotient."""
    if not task or any(op in metric for op in "*/"):
        return None
    return unit_of(task, model, metric.split("+")[0])


def _ratio_words(spec: dict, part: dict, row: dict, unit_of) -> str:
    """"memory per task: coro 3.8 KiB, threads 32 KiB; coro 8.4x lower"."""
    num, den = (_model(c["cell"]) for c in row["cells"])
    unit = _unit(unit_of, spec.get("task"), num, row["metric"])
    r = row["ratio"]
    cond = row["label"].split(" ", 1)[1] if " " in row["label"] else ""
    what = quantity(spec, part) + (f" ({cond})" if cond and cond != "default" else "")
    words = (f"{what}: {num} {amount(row['cells'][0]['median'], unit)}, "
             f"{den} {amount(row['cells'][1]['median'], unit)}")
    if r is None:
        return words
    if abs(r - 1) <= ABOUT_SAME:
        return words + ", about the same"
    return words + (f"; {num} {times(1 / r)} lower" if r < 1 else f"; {num} {times(r)} higher")


def _speedup_words(spec: dict, part: dict, row: dict) -> str:
    model = spec.get("model") or row["label"].split()[0]
    return (f"{model} with {row['workers']} workers runs {times(row['ratio'])} the work of 1 "
            f"worker on CPUs {row['cpus']}")


def _in_k_of_n(who: str, metric: str, k: int, n: int) -> str:
    """"threads run_us=1000 lost any in 9 of 20 runs": a yes/no outcome as
    the share of runs it happened in."""
    return f"{who} {metric.replace('_', ' ')} in {k} of {n} runs"


def _share_words(part: dict) -> str:
    shares = [r for r in part["rows"] if r.get("kind") == "share"]
    return "; ".join(_in_k_of_n(r["label"].split(": ")[-1], r["metric"], r["k"], r["n"])
                     + (f" ({r['label'].split(': ')[0]})" if ": " in r["label"]
                        and r["label"].split(": ")[0] != "all" else "") for r in shares)


def _parts_words(claim: dict) -> str:
    """Why a claim is nuanced, part by part: which of its tests held, which
    did not, and which held in some settings only (a nuanced part; its rows
    say which, in its section)."""
    said = {"supported": "Holds", "refuted": "Does not hold",
            "nuanced": "Holds in some settings, not in others"}
    groups: dict[str, list[str]] = {}
    for p in claim["parts"]:
        if p["role"] == "test":
            groups.setdefault(said.get(p["verdict"], "undecided"), []).append(p["what"])
    return ". ".join(f"{k}: {'; '.join(v)}" for k, v in groups.items()
                     if k in said.values())


def _yes_no(spec: dict) -> bool:
    """A level part whose threshold is 0 on a count asks "did it happen?"."""
    return (spec.get("rule") == "level" and float(spec.get("supported_above", -1)) == 0
            and float(spec.get("refuted_below", 0)) == 0)


def _level_words(spec: dict, part: dict, cells: dict[str, CellResults], unit_of) -> str:
    rows = [r for r in part["rows"] if r.get("kind") == "level"]
    if _yes_no(spec):
        out = []
        for r in rows:
            vals = cells[r["cell"]].values(r["metric"]) if r["cell"] in cells else []
            k, n = sum(v > 0 for v in vals), len(vals)
            lo, hi = intervals.clopper_pearson(k, n) if n else (None, None)
            out.append(_in_k_of_n(f"{r['label']}:", r["metric"], k, n)
                       + (f" (share {fmt.ci(lo, hi, 0.95)} Clopper-Pearson)" if n else ""))
        return "; ".join(out)
    row = _row(part)
    unit = _unit(unit_of, spec.get("task"), spec.get("model"), row["metric"])
    return f"{row['label']}: {quantity(spec, part)} {amount(row['median'], unit)}"


def _trend_words(spec: dict, part: dict, row_fig: str) -> str:
    follows = {"supported": "follows", "refuted": "does not follow"}.get(
        part["verdict"], "may or may not follow")
    if spec.get("expect") == "flat":
        follows = {"supported": "does not follow", "refuted": "follows"}.get(
            part["verdict"], "may or may not follow")
    return f"{spec.get('model', '')} {spec.get('metric', '')} {follows} {spec.get('param', '')}"


def crossover_words(x: dict | None) -> str:
    """The verdict's crossover in one sentence: the rules' own words when
    they give them."""
    if not x:
        return ""
    if x.get("words"):
        return str(x["words"]).rstrip(".")
    if x.get("none"):
        return str(x["none"])
    unit = x.get("unit")

    def size(v) -> str:
        return amount(v, unit)
    return (f"flips at {x.get('param')} = {size(x.get('value'))}"
            + (f" {fmt.ci(x.get('lo'), x.get('hi'), x.get('confidence'), size)}"
               if x.get("lo") is not None else ""))


def answer(claim: dict, spec: dict, cells: dict[str, CellResults], unit_of) -> dict:
    """{id, says, verdict, answer, figure, crossover, noisy, cpus} for one
    claim; spec is its [[claim]] table from the claims file, unit_of(task,
    model, metric) the catalog's unit lookup."""
    out = {"id": claim["id"], "says": claim["says"], "verdict": claim["verdict"],
           "answer": "", "figure": claim["figure"] or "", "cpus": claim["cpus"],
           "crossover": crossover_words(claim.get("crossover")
                                        or (claim.get("decision") or {}).get("crossover")),
           "noisy": False}
    found = _deciding(claim)
    if found is None or not found[1]["rows"]:
        out["answer"] = claim["why"]
        return out
    i, part = found
    pspec = (spec.get("part") or [{}] * (i + 1))[i] if i < len(spec.get("part") or []) else {}
    row = _row(part, (claim.get("decision") or {}).get("label"))
    rule = pspec.get("rule")
    decision = claim.get("decision")
    out["noisy"] = bool(decision["noisy"]) if decision else bool(row and (row.get("noisy") or any(
        c.get("noisy") for c in row.get("cells") or [])))
    if rule == "model_ratio" and row and row.get("cells"):
        words = _ratio_words(pspec, part, row, unit_of)
    elif rule == "speedup" and row:
        words = _speedup_words(pspec, part, row)
    elif rule == "share_difference":
        words = _share_words(part)
    elif rule == "share" and row and "k" in row:
        words = _in_k_of_n(f"{row['label']}:", row["metric"], row["k"], row["n"])
    elif rule == "level":
        words = _level_words(pspec, part, cells, unit_of)
        if _yes_no(pspec):
            out["figure"] = ""      # a median of all-or-nothing counts says nothing
    elif rule == "trend":
        words = _trend_words(pspec, part, part["figure"])
    else:
        words = claim["why"]
    if row and row.get("cpus") and "CPUs" not in words and "cpus=" not in words:
        words += f" (CPUs {row['cpus']})"
    if row and row.get("busy") and claim["verdict"] == "inconclusive":
        words += f"; not decided: {row['busy']}"
    held = _parts_words(claim) if claim["verdict"] == "nuanced" else ""
    if held:
        words += ". " + held
    out["answer"] = words
    return out


def answers(claims: list[dict], specs: list[dict], cells: list[CellResults], unit_of) -> list[dict]:
    by_id = {s.get("id"): s for s in specs}
    index = {c.id: c for c in cells}
    return [answer(c, by_id.get(c["id"], {}), index, unit_of) for c in claims]
