"""`schedlab fleet-report` on two recorded hosts whose machines and one
verdict differ.

Both hosts start from one real recording: the report.json and env.json of
`make run CONFIG=fleet/smoke.toml` on this VM (data/report-fleet-smoke.json,
data/env-schedlab-run.json). The second host stands for a bare-metal box: its
env.json says so (no hypervisor, tsc, eIBRS instead of retpolines, full
preemption) and its C2 verdict differs from the VM's (supported, or refuted
where the VM's is supported). The report must name C2 as the one flip and
exactly the facts that were changed.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from harness.analyse import fleet as fleet_mod
from harness import cli
from harness.records import record

DATA = Path(__file__).parent / "data"
REPORT = json.loads((DATA / "report-fleet-smoke.json").read_text())
ENV = json.loads((DATA / "env-schedlab-run.json").read_text())
CATALOG = (DATA / "catalog-fleet-smoke.json").read_text()
VM_C2 = next(c["verdict"] for c in REPORT["claims"] if c["id"] == "C2")
METAL_C2 = "refuted" if VM_C2 == "supported" else "supported"


def put_host(root: Path, name: str, report: dict | None, env: dict | None,
             config_sha256: str = "c0ffee", failed: dict | None = None) -> Path:
    d = root / name
    d.mkdir(parents=True)
    if report is not None:
        (d / "report.json").write_text(json.dumps(report))
        (d / "catalog.json").write_text(CATALOG)
    if env is not None:
        (d / "env.json").write_text(json.dumps(env))
        (d / "run.json").write_text(json.dumps({"config_sha256": config_sha256}))
    if failed is not None:
        (d / "failed.json").write_text(json.dumps(failed))
    return d


def bare_metal(env: dict) -> dict:
    e = copy.deepcopy(env)
    e["virtualisation"] = {"virtualised": False, "hypervisor": None,
                           "evidence": ["no hypervisor bit, DMI vendor, /sys/hypervisor or "
                                        "paravirtual clock"]}
    e["kernel"]["clocksource"] = {"current": "tsc", "available": ["tsc", "hpet"]}
    e["kernel"]["preemption"] = {"mode": "full", "source": "/proc/cmdline preempt=",
                                 "dynamic": True}
    e["cpu"]["vulnerabilities"] = dict(e["cpu"]["vulnerabilities"], spectre_v2=(
        "Mitigation: Enhanced / Automatic IBRS; IBPB: conditional; RSB filling"))
    return e


def c2_flipped(report: dict) -> dict:
    r = copy.deepcopy(report)
    c2 = next(c for c in r["claims"] if c["id"] == "C2")
    figure = "threads/coro handoff_ns 1.61 [1.42, 1.80] 88%"
    crossover = {"param": "iterations", "unit": "count", "value": 900.0, "lo": 600.0,
                 "hi": 1400.0, "confidence": 0.9, "none": None,
                 "words": "threads cost more per hand-off from about 900 iterations on"}
    c2.update(verdict=METAL_C2, figure=figure, crossover=crossover)
    if isinstance(c2.get("decision"), dict):
        c2["decision"].update(value=1.61, lo=1.42, hi=1.80, verdict=METAL_C2)
    for p in c2["parts"]:
        if p["role"] == "test" and p["figure"]:
            p.update(verdict=METAL_C2, figure=figure)
            for row in p["rows"][:1]:
                row.update(ratio=1.61, lo=1.42, hi=1.80, verdict=METAL_C2)
    return r


@pytest.fixture
def fleet_dir(tmp_path):
    root = tmp_path / "fleet-two"
    put_host(root, "vm", REPORT, ENV)
    put_host(root, "metal", c2_flipped(REPORT), bare_metal(ENV))
    put_host(root, "lost", None, None, failed={"host": "lost", "step": "reach the host",
                                               "message": "unreachable", "rc": None})
    return root


def test_the_recording_has_the_claims_the_test_relies_on():
    verdicts = {c["id"]: c["verdict"] for c in REPORT["claims"]}
    assert verdicts["C1"] != "not tested here" and verdicts["C2"] != "not tested here"


def test_flip_names_the_claim_and_the_facts_that_differ(fleet_dir):
    doc = fleet_mod.build(fleet_dir)
    assert record.schema_errors(doc, "fleet") == []
    assert doc["flips"] == ["C2"]
    c2 = next(c for c in doc["claims"] if c["id"] == "C2")
    assert c2["verdicts"] == sorted({VM_C2, METAL_C2})
    assert c2["decided_both_ways"] == ({VM_C2, METAL_C2} == {"supported", "refuted"})
    assert c2["hosts"]["metal"]["value"] == 1.61 and c2["hosts"]["metal"]["lo"] == 1.42
    assert c2["hosts"]["vm"]["value"] < 1 and c2["hosts"]["vm"]["confidence"] > 0.8
    keys = {k["key"]: k for k in c2["differing_keys"]}
    assert set(keys) == {"virtualised", "preemption", "clocksource", "mitigations"}
    assert keys["clocksource"]["values"] == {"vm": "kvm-clock", "metal": "tsc"}
    assert keys["virtualised"]["values"]["metal"] == "bare metal"
    assert "Enhanced" in keys["mitigations"]["values"]["metal"]["spectre_v2"]
    assert all(k["separates"] for k in keys.values())     # two hosts: each fact does
    c1 = next(c for c in doc["claims"] if c["id"] == "C1")
    assert not c1["flips"] and c1["differing_keys"] == []
    status = {h["name"]: h["status"] for h in doc["hosts"]}
    assert status == {"lost": "failed", "metal": "reported", "vm": "reported"}


def test_separates_only_when_each_verdict_has_one_value(tmp_path):
    # three hosts, two refute: clocksource differs within the refuting pair,
    # so it cannot be what separates the verdicts; virtualised can
    root = tmp_path / "fleet-three"
    put_host(root, "vm", REPORT, ENV)
    other_vm = copy.deepcopy(ENV)
    other_vm["kernel"]["clocksource"]["current"] = "tsc"
    put_host(root, "vm-tsc", REPORT, other_vm)
    metal = bare_metal(ENV)
    put_host(root, "metal", c2_flipped(REPORT), metal)
    c2 = next(c for c in fleet_mod.build(root)["claims"] if c["id"] == "C2")
    keys = {k["key"]: k["separates"] for k in c2["differing_keys"]}
    assert keys["virtualised"] is True and keys["clocksource"] is False


def test_cli_writes_the_three_files(fleet_dir, capsys):
    assert cli.run_main(["fleet-report", str(fleet_dir)]) == 0
    out = capsys.readouterr().out
    assert "| C2 |" in out and f"**{METAL_C2}** threads/coro handoff_ns 1.61" in out
    assert "crossover: threads cost more per hand-off from about 900 iterations on" in out
    md = (fleet_dir / "fleet.md").read_text()
    assert "- **lost**: machine not recorded (no env.json) — FAILED at step" in md
    assert "| clocksource | tsc | kvm-clock | yes |" in md or \
        "| clocksource | kvm-clock | tsc | yes |" in md
    assert "| handoff_ns (ns) | " in md      # headline metrics, both hosts side by side
    html = (fleet_dir / "fleet.html").read_text()
    assert 'id="fleet-claims"' in html and "kvm-clock" in html
    assert json.loads((fleet_dir / "fleet.json").read_text())["flips"] == ["C2"]


def test_different_configs_are_refused_in_one_line(tmp_path, capsys):
    root = tmp_path / "fleet-mixed"
    put_host(root, "a", REPORT, ENV, config_sha256="aaaa")
    put_host(root, "b", REPORT, ENV, config_sha256="bbbb")
    assert cli.run_main(["fleet-report", str(root)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "different configs" in err
    assert not (root / "fleet.md").exists()


def test_not_a_fleet_is_one_line(tmp_path, capsys):
    assert cli.run_main(["fleet-report", str(tmp_path / "nowhere")]) == 2
    assert cli.run_main(["fleet-report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and "not a directory" in err[0] and "no host results" in err[1]
