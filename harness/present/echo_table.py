"""The echo servers side by side: our models and the peers (asyncio, uvloop,
Node.js) at the same fixed offered rate, connections, message size and CPUs.

One table per (connections, message_bytes, rate, cpus) of the run's bare,
open-loop echo cells: server CPU per request and p99 latency from each
request's due time (median [interval] over repetitions), the client's CPU
utilization and how many repetitions met the offered rate. Traced and
client-bound cells are left out (CellResults.traced, verdicts.is_client_bound): what
they show is the instrument or the client. Closed-loop cells (rate = 0)
measure a throughput the client may cap: they belong to the capacity sweep.
"""

from __future__ import annotations

from harness.analyse import stats, verdicts
from harness import format as fmt
from harness.records import catalog
from harness.records.rundir import CellResults

HEAD = ["model", "server CPU per request (us)", "p99 latency from due time (ms)",
        "client CPU", "offered rate met", "n"]
GROUP_KEYS = ("connections", "message_bytes", "rate", "cpus")


def _median_ci(values: list[float], scale: float) -> str:
    s = stats.summarize([v / scale for v in values])
    return "-" if s.median is None else fmt.estimate(s.median, s.ci_lo, s.ci_hi, s.ci_confidence)


def tables(cells: list[CellResults], ctx: verdicts.Context,
           shown: catalog.ModelDisplay | None = None) -> list[dict]:
    """One table per (connections, message size, rate, cpus), models in
    the order the run's catalog declares (shown)."""
    order = (shown or catalog.display_of(None)).rank
    groups: dict[tuple, list[CellResults]] = {}
    for c in cells:
        if c.task != "echo" or not c.ok_lines or c.traced:
            continue
        if verdicts.is_client_bound(c, ctx) or not c.params.get("rate"):
            continue
        groups.setdefault(tuple(str(c.params.get(k)) for k in GROUP_KEYS), []).append(c)
    out = []
    for key, group in sorted(groups.items()):
        rows = []
        for c in sorted(group, key=lambda c: order(c.model)):
            met = [ln["record"]["metrics"].get("offered_rate_met") for ln in c.ok_lines]
            met = [m for m in met if isinstance(m, bool)]
            util = verdicts.client_utilization(c)
            rows.append([c.model,
                         _median_ci(c.values("server_cpu_ns_per_request"), 1e3),
                         _median_ci(c.values("latency_ns.p99"), 1e6),
                         "-" if util is None else fmt.pct(util),
                         f"{int(sum(met))}/{len(met)}" if met else "-",
                         str(len(c.ok_lines))])
        title = ", ".join(f"{k}={v}" for k, v in zip(GROUP_KEYS, key))
        out.append({"title": title, "head": HEAD, "rows": rows})
    return out
