"""How rows become a verdict: the one rule, for every part of every claim.

A rule (verdicts.py) turns cells into *votes*: one per row that can decide,
each a figure with an interval family (intervals.py), the threshold that
supports the claim and the one that refutes it. This module decides them
together, the same way everywhere:

1. Holm's step-down over the rows of a family: a claim's test parts
   together (a control's or nuance's rows never vote: each is judged
   alone). With m rows and a
   family error a (configs/claims.toml `family_error`), the row that clears
   its threshold most easily is judged with its interval at 1 - a/m, the
   next at 1 - a/(m-1), ..., the last at 1 - a; once one row fails, those
   after it are not decided either. The chance that any decided row lies on
   the wrong side of its threshold stays at most a, whatever m is.
2. A row is supported only when its interval clears the support threshold,
   refuted only when it clears the refute threshold (a tie at the refute
   threshold refutes), otherwise inconclusive, and always inconclusive
   with fewer than MIN_N runs on a side or when the rule withholds it
   (Vote.few: the CPUs were busy with other work, verdicts.busy).
3. The rows' verdicts combine: supported and refuted rows together give
   *nuanced* (naming where each holds); decided rows that agree give their
   verdict (undecided ones are named); no decided row gives inconclusive,
   and no row at all "not tested here".

docs/verdicts.md states the same in words.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.analyse.intervals import Family
from harness.analyse.stats import Interval
from harness import format as fmt

SUPPORTED = "supported"
REFUTED = "refuted"
INCONCLUSIVE = "inconclusive"
NUANCED = "nuanced"
UNTESTABLE = "not tested here"
MIN_N = 5
FAMILY_ERROR = 0.10


@dataclass
class Vote:
    """One row that can decide. `row` is the report's row; settle() fills
    its interval (lo, hi, confidence at the level Holm used), verdict and p."""

    label: str
    row: dict
    family: Family | None
    sup: float
    ref: float
    above: bool
    few: str = ""                 # why it may not decide (too few runs, busy CPUs), else ""
    fmt_value: object = fmt.num   # how its figure prints (fmt.signed for differences)
    verdict: str = INCONCLUSIVE
    why: str = ""
    p: float = 1.0                # the smallest error level at which it decides
    part: str = ""                # the part's `what`, named when a claim has several

    def interval(self, level: float) -> Interval | None:
        return self.family(level) if self.family else None


def decide(lo: float, hi: float, sup: float, ref: float, above: bool,
           fmt_value=fmt.num) -> tuple[str, str]:
    """Supported only when the interval clears the support threshold,
    refuted only when it clears the refute threshold (a tie at the refute
    threshold refutes: "no more than"), else inconclusive."""
    iv, side = fmt.ci(lo, hi, fmt=fmt_value), "above" if above else "below"
    if (lo > sup) if above else (hi < sup):
        return SUPPORTED, f"interval {iv} {side} {sup:g}"
    if (hi <= ref) if above else (lo >= ref):
        return REFUTED, f"interval {iv} not {side} {ref:g}"
    return INCONCLUSIVE, f"interval {iv} straddles {sup:g}" + (f"..{ref:g}" if ref != sup else "")


def _decides(v: Vote, level: float) -> bool:
    iv = v.interval(level)
    return (iv is not None and iv.confidence >= level - 1e-12
            and decide(iv.lo, iv.hi, v.sup, v.ref, v.above)[0] != INCONCLUSIVE)


def error_level(v: Vote) -> float:
    """1 - the highest level at which the row's interval still decides (1.0
    when it never does): the row's p-value for Holm."""
    if v.few or v.family is None or not _decides(v, 0.5):
        return 1.0
    lo, hi = 0.5, 1.0 - 1e-9
    if _decides(v, hi):
        return 1.0 - hi
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _decides(v, mid) else (lo, mid)
    return 1.0 - lo


def settle(votes: list[Vote], family_error: float = FAMILY_ERROR) -> None:
    """Holm's step-down over one family of rows; fills each vote and row."""
    for v in votes:
        v.p = error_level(v)
    m, blocked = len(votes), False
    for i, v in enumerate(sorted(votes, key=lambda v: v.p)):
        alpha = family_error / (m - i)
        iv = v.interval(max(0.5, 1.0 - alpha))
        if iv is not None:
            v.row.update(lo=iv.lo, hi=iv.hi, confidence=iv.confidence, method=iv.method)
        v.row.update(p=v.p, holm_level=1.0 - alpha)
        if v.few:
            v.verdict, v.why = INCONCLUSIVE, v.few
        elif iv is None:
            v.verdict, v.why = INCONCLUSIVE, "no interval (a side has no usable value)"
        elif blocked or v.p > alpha:
            blocked = True
            v.verdict = INCONCLUSIVE
            if iv.confidence < 1.0 - alpha - 1e-12:
                v.why = (f"too few runs: deciding needs the interval at {1 - alpha:.1%}"
                         + (f" (Holm, {m} rows)" if m > 1 else "")
                         + f", these runs reach {iv.confidence:.1%} "
                         f"({fmt.ci(iv.lo, iv.hi, fmt=v.fmt_value)})")
            else:
                v.why = decide(iv.lo, iv.hi, v.sup, v.ref, v.above, v.fmt_value)[1]
                if decide(iv.lo, iv.hi, v.sup, v.ref, v.above)[0] != INCONCLUSIVE:
                    v.why += " but an earlier row was not decided (Holm stops there)"
                if m > 1:
                    v.why += f" at {1 - alpha:.1%} (Holm, {m} rows)"
        else:
            v.verdict, v.why = decide(iv.lo, iv.hi, v.sup, v.ref, v.above, v.fmt_value)
            if m > 1:
                v.why += f" at {1 - alpha:.1%} (Holm, {m} rows)"
        v.row["verdict"] = v.verdict


def combine(votes: list[Vote], with_part: bool = False) -> tuple[str, str]:
    """The one combination rule (step 3 above): (verdict, why)."""
    if not votes:
        return UNTESTABLE, ""

    def say(vs: list[Vote]) -> str:
        return "; ".join(f"{v.part + ', ' if with_part else ''}{v.label}: {v.verdict} ({v.why})"
                         for v in vs)
    decided = [v for v in votes if v.verdict in (SUPPORTED, REFUTED)]
    undecided = [v for v in votes if v not in decided]
    if not decided:
        return INCONCLUSIVE, say(votes)
    kinds = {v.verdict for v in decided}
    verdict = kinds.pop() if len(kinds) == 1 else NUANCED
    why = say(decided)
    if undecided:
        why += "; not decided: " + say(undecided)
    return verdict, why


def family_text(m: int, family_error: float) -> str:
    if m <= 1:
        return (f"one row: decided by its interval at {1 - family_error:.0%} "
                f"(error at most {family_error:.0%})")
    return (f"{m} rows, Holm's step-down: the rows are judged with their intervals at "
            f"{1 - family_error / m:.1%} down to {1 - family_error:.0%}, so the chance that any "
            f"decided row is on the wrong side of its threshold is at most {family_error:.0%}")
