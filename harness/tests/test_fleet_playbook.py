"""fleet/playbook.yml with this machine standing in for a fleet.

Two local hosts (ansible_connection=local, their own checkout directories,
one fork so they never measure at once) run fleet/smoke.toml; a third cannot
make its directory and a fourth cannot be reached (nothing listens on
127.0.0.1 port 9). The hosts reuse this checkout's build/ through the declared
schedlab_prebuilt variable: building twice would cost two minutes here. Then
one host's run is cut short by hand (its last record and its report removed,
as an interrupted run leaves it) and the playbook runs again: the finished
host is skipped, the cut one resumed, the failed ones tried again.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from harness import REPO

pytestmark = pytest.mark.slow


def _playbook(tmp_path: Path, inventory: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["ansible-playbook", "-f", "1", "-i", str(inventory), str(REPO / "fleet/playbook.yml"),
         "-e", "fleet_id=stand-in", "-e", "fleet_config=fleet/smoke.toml",
         "-e", f"fleet_results={tmp_path / 'results'}", "-e", "schedlab_poll_s=0"],
        capture_output=True, text=True, timeout=900, cwd=tmp_path)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """Both playbook runs; what each left behind."""
    if shutil.which("ansible-playbook") is None:
        pytest.skip("needs ansible-playbook: make deps installs Debian's ansible")
    if not (REPO / "build/workload").exists():
        pytest.skip("needs a built tree to reuse (make build)")
    tmp = tmp_path_factory.mktemp("fleet")
    inventory = tmp / "inventory.ini"
    local = (f"ansible_connection=local ansible_become=false "
             f"schedlab_prebuilt={REPO / 'build'}")
    inventory.write_text(
        "[local]\n"
        f"here-a {local} schedlab_dir={tmp / 'host-a'}\n"
        f"here-b {local} schedlab_dir={tmp / 'host-b'}\n"
        "[broken]\n"
        "no-dir ansible_connection=local ansible_become=false "
        "schedlab_dir=/proc/schedlab-cannot-be\n"
        "no-host ansible_connection=ssh ansible_host=127.0.0.1 ansible_port=9 "
        "ansible_user=nobody\n"
        "[all:vars]\nansible_python_interpreter=/usr/bin/python3\n")
    root = tmp / "results/fleet-stand-in"
    first = _playbook(tmp, inventory)
    runs = {"first": first, "root": root, "tmp": tmp,
            "a_report_mtime": (root / "here-a/report.json").stat().st_mtime_ns
            if (root / "here-a/report.json").exists() else None,
            "b_records": (root / "here-b/records.jsonl").read_text().splitlines()
            if (root / "here-b/records.jsonl").exists() else []}
    # here-b is cut short: its last record is gone and nothing was reported
    host_b = tmp / "host-b/results/fleet-stand-in"
    if runs["b_records"]:
        (host_b / "records.jsonl").write_text("\n".join(runs["b_records"][:-1]) + "\n")
        (host_b / "report.json").unlink()
        (root / "here-b/report.json").unlink()
    runs["second"] = _playbook(tmp, inventory)
    return runs


def test_first_run_brings_both_results_back(fleet):
    out = fleet["first"].stdout + fleet["first"].stderr
    assert fleet["first"].returncode != 0, "two hosts failed: the playbook must say so"
    for host in ("here-a", "here-b"):
        d = fleet["root"] / host
        assert not (d / "failed.json").exists(), out[-3000:]
        for name in ("env.json", "config.toml", "run.json", "report.json", "report.md"):
            assert (d / name).is_file(), f"{host}: no {name}\n{out[-3000:]}"
        assert json.loads((d / "run.json").read_text())["config_path"].endswith("smoke.toml")
    assert len(fleet["b_records"]) == 20      # 4 cells x 5 repetitions
    source = json.loads((fleet["root"] / "source.json").read_text())
    assert source["config"] == "fleet/smoke.toml" and len(source["revision"]) == 40


def test_failing_hosts_leave_failed_json(fleet):
    no_dir = json.loads((fleet["root"] / "no-dir/failed.json").read_text())
    assert no_dir["step"] == "Make the checkout's directory"
    assert "/proc/schedlab-cannot-be" in no_dir["message"]
    no_host = json.loads((fleet["root"] / "no-host/failed.json").read_text())
    assert no_host["step"] == "reach the host"
    assert "no-dir, no-host failed" in fleet["second"].stdout


def test_second_run_skips_the_finished_and_resumes_the_cut(fleet):
    out = fleet["second"].stdout + fleet["second"].stderr
    a = fleet["root"] / "here-a/report.json"
    assert a.stat().st_mtime_ns == fleet["a_report_mtime"], "here-a ran again"
    b = fleet["root"] / "here-b"
    assert (b / "report.json").is_file(), out[-3000:]
    run = json.loads((b / "run.json").read_text())
    assert len(run["resumes"]) == 1, "here-b started over instead of resuming"
    records = (b / "records.jsonl").read_text().splitlines()
    assert len(records) == 20 and records[:19] == fleet["b_records"][:19]
    assert "2 of 4 host(s) finished (here-a, here-b)" in fleet["second"].stdout


def test_fleet_report_and_compare_read_what_came_back(fleet, capsys):
    from harness import cli
    root = fleet["root"]
    assert cli.run_main(["fleet-report", str(root)]) == 0
    table = capsys.readouterr().out
    assert "| claim | here-a | here-b | flips |" in table
    for name in ("fleet.md", "fleet.html", "fleet.json"):
        assert (root / name).is_file()
    doc = json.loads((root / "fleet.json").read_text())
    status = {h["name"]: h["status"] for h in doc["hosts"]}
    assert status == {"here-a": "reported", "here-b": "reported", "no-dir": "failed",
                      "no-host": "failed"}
    # one machine twice: any flip here is noise, and no machine fact differs
    assert all(c["differing_keys"] == [] for c in doc["claims"])
    assert cli.run_main(["compare", str(root / "here-a"), str(root / "here-b")]) == 0
    assert "| pingpong/" in capsys.readouterr().out
