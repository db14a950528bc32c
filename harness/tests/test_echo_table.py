"""echo_table: our models and the peers side by side, bare open-loop cells only."""

from synthrun import Spec, dist, jitter, make_run

from harness.present import echo_table
from harness.analyse import verdicts
from harness.records import catalog
from harness.records.rundir import load_run

BASE = {"connections": 1000, "message_bytes": 64, "rate": 10000, "cpus": "0"}


def echo(model, util=0.3, **params):
    return Spec("echo", model, {**BASE, **params},
                lambda r: {"server_cpu_ns_per_request": jitter(r, 30000.0),
                           "latency_ns": dist(jitter(r, 500000.0)),
                           "client_cpu_utilization": util, "offered_rate_met": True})


def test_rows_per_model_and_peer_without_traced_client_bound_or_closed_loop(tmp_path):
    specs = [echo("uvloop"), echo("coro"), echo("threads"), echo("asyncio"),
             echo("uring", util=0.95),                      # client-bound: left out
             echo("mn", rate=0),                            # closed loop: left out
             Spec("echo", "coro", {**BASE, "timer_slack_ns": 1}, {}, probes=("sched",))]
    run = load_run(make_run(tmp_path / "r", specs))
    ctx = verdicts.Context(cells=run.cells(), env=run.env)
    tables = echo_table.tables(run.cells(), ctx, catalog.load(run.path).display)
    assert [t["title"] for t in tables] == \
        ["connections=1000, message_bytes=64, rate=10000, cpus=0"]
    rows = tables[0]["rows"]
    assert [r[0] for r in rows] == ["threads", "coro", "asyncio", "uvloop"]
    assert 29 <= float(rows[1][1].split()[0]) <= 31 and rows[1][1].endswith(" 94%")
    assert 1.9 <= float(rows[1][2].split()[0]) <= 2.1     # dist(): p99 = 4 x p50, in ms
    assert rows[1][3] == "30.0%" and rows[1][4] == "5/5" and rows[1][5] == "5"
