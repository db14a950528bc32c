"""The echo-server peers (issue 14): asyncio, uvloop and Node.js servers
driven by build/loadgen exactly as the echo task drives ours.

What must hold: each peer echoes byte for byte under many connections (loadgen
verifies every byte) and its record carries the echo task's metrics; a
runtime that is not installed is skipped with the reason, never failed; a
server that dies mid-run is recorded as failed with its stderr, and loadgen
notices the closed connection instead of waiting for its deadline.
Correctness only, never a timing threshold.
"""
from __future__ import annotations

import argparse
import os
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import write_config
from harness.run import echo_peer, peers
from harness.records import record
from harness.cli import main
from harness.run.runner import ProcessRunner

ROOT = Path(__file__).resolve().parents[2]
LOADGEN = ROOT / "build" / "loadgen"
SERVERS = {"echo-asyncio": "asyncio", "echo-uvloop": "uvloop", "echo-node": "node",
           "go-echo": "go"}

pytestmark = pytest.mark.skipif(not LOADGEN.exists(),
                                reason="build/loadgen is not built: run `make build`")


def client_cpus() -> list[str]:
    return ["--client_cpus", "1"] if len(os.sched_getaffinity(0)) >= 2 else []


def drive(server: str, *args: str):
    return echo_peer.main(["--server", server, "--loadgen", str(LOADGEN), *args])


@pytest.mark.parametrize("server", SERVERS.values())
def test_each_peer_echoes_byte_exact_under_many_connections(server, capsys):
    code = drive(server, "--connections", "300", "--requests", "3000", *client_cpus())
    out, err = capsys.readouterr()
    if code == echo_peer.EXIT_SKIPPED:
        pytest.skip(err.strip())
    assert code == 0, err
    m = peers._echo_parse(out, server, {})
    assert m["mismatches"] == 0
    assert m["connections"] == 300
    assert m["requests"] == 3000 == m["latency_ns"]["n"]
    # one warmup round trip per connection, as the echo task asks of loadgen
    assert m["loadgen_requests"] == 3000 + 300
    assert m["loadgen_bytes_sent"] == 64 * m["loadgen_requests"]
    assert m["server_cpu_ns_per_request"] > 0
    assert 0 <= m["client_cpu_utilization"] <= 1
    assert m["client_bound"] is (m["client_cpu_utilization"] > 0.8)
    lat = m["latency_ns"]
    assert lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p999"] <= lat["max"]
    assert m["server_runtime"]


def test_missing_runtime_is_skipped_by_the_driver_and_the_harness(monkeypatch, capsys):
    monkeypatch.setattr(echo_peer.shutil, "which", lambda name: None)
    monkeypatch.setattr(peers.shutil, "which", lambda name: None)
    assert drive("node", "--requests", "10") == echo_peer.EXIT_SKIPPED
    assert "echo peer skipped: Node.js is not installed" in capsys.readouterr().err
    why = peers.unavailable(peers.PEERS["echo-node"], None)
    assert why and "Node.js is not installed" in why
    # what the runner records for a peer that was not started
    rec = peers.record(peers.PEERS["echo-node"], "node", {}, "skipped", why)
    assert rec["status"] == "skipped" and rec["task"] == "echo"
    assert record.schema_errors(rec, "record") == []
    # and a driver that found the runtime missing on its own: skipped, not failed
    rec = peers.make_record(peers.PEERS["echo-uvloop"], "uvloop", {}, 77, "",
                            "echo peer skipped: uvloop is not installed\n")
    assert rec["status"] == "skipped" and "uvloop is not installed" in rec["reason"]


DYING_SERVER = textwrap.dedent('''
    import json, socket, sys
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    print(json.dumps({"port": s.getsockname()[1]}), flush=True)
    conn, _ = s.accept()
    for _ in range(20):
        data = conn.recv(64)
        conn.sendall(data)
    print("dying on purpose after 20 echoes", file=sys.stderr, flush=True)
    sys.exit(3)
''')


def test_a_server_that_dies_mid_run_is_failed_with_its_stderr(tmp_path):
    args = argparse.Namespace(connections=1, message_bytes=64, requests=0, duration_ms=60000,
                              rate=0, warmup=0, seed=1, client_cpus="")
    with pytest.raises(echo_peer.Failed) as e:
        echo_peer.run([sys.executable, "-c", DYING_SERVER], args, str(LOADGEN), tmp_path)
    msg = str(e.value)
    assert "the server died during the run (exit status 3)" in msg
    assert "dying on purpose after 20 echoes" in msg
    # loadgen saw the connection end; it did not sit out its deadline
    assert any(s in msg for s in ("closed by the server", "reset by peer", "Broken pipe"))


def test_a_peer_experiment_runs_through_the_harness(tmp_path, fake_workload):
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two CPUs: server and client apart")
    cfg = write_config(tmp_path, f'''
        [run]
        workload = "{fake_workload}"
        seed = 1
        [[experiment]]
        task = "echo"
        models = ["asyncio"]
        repetitions = 1
        params = {{ connections = 20, requests = 500, rate = 5000, cpus = "0", client_cpus = "1" }}
        ''')
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as e:
        main(["run", str(cfg), "--out", str(out)], runner=ProcessRunner(cwd=tmp_path))
    assert e.value.code == 0
    lines, problems = record.load(out / "records.jsonl")
    assert problems == []
    ln, = lines
    assert ln["status"] == "ok", ln["reason"]
    assert ln["peer"] == "echo-asyncio" and ln["task"] == "echo" and ln["model"] == "asyncio"
    assert ln["cell"].startswith("echo/asyncio/")
    assert record.schema_errors(ln["record"], "record") == []
    m = ln["record"]["metrics"]
    assert m["requests"] == 500 and m["offered_rate"] == 5000
    assert isinstance(m["offered_rate_met"], bool)
    assert m["send_lag_ns"]["n"] == 500


def test_doctor_lists_each_peer_with_its_version_or_why_it_is_missing(monkeypatch):
    from harness import doctor
    checks = {c.name: c for c in doctor.check_peers()}
    assert set(checks) == set(SERVERS)
    assert checks["echo-asyncio"].ok and "python " in checks["echo-asyncio"].detail
    monkeypatch.setattr(peers.shutil, "which", lambda name: None)
    node = {c.name: c for c in doctor.check_peers()}["echo-node"]
    assert not node.ok and "Node.js is not installed" in node.detail
