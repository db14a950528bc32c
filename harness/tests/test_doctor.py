"""./schedlab doctor: rows for every capability, each with a reason; the BTF
string lookup it uses for tracepoints; a fake machine without BTF/uprobes."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import pytest

from harness import doctor
from harness.cli import run_main  # noqa: E402


def btf_blob(names: list[str]) -> bytes:
    strings = b"\0" + b"\0".join(n.encode() for n in names) + b"\0"
    header = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, 0, 0, len(strings))
    return header + strings


def test_btf_strings_reads_the_string_section():
    names = doctor.btf_strings(btf_blob(["btf_trace_sched_switch", "task_struct"]))
    assert b"btf_trace_sched_switch" in names and b"task_struct" in names
    assert doctor.btf_strings(b"not btf at all, definitely not") is None


def test_fake_machine_without_btf_says_why(tmp_path):
    checks = doctor.check_tracer(tmp_path, euid=1000)
    by_name = {c.name: c for c in checks}
    assert not by_name["root"].ok and "run as root" in by_name["root"].detail
    assert not by_name["kernel BTF"].ok and "CONFIG_DEBUG_INFO_BTF" in by_name["kernel BTF"].detail
    assert not by_name["sched_switch"].ok and by_name["sched_switch"].detail == "no BTF to look in"
    assert not by_name["uprobes"].ok


def test_missing_tracepoint_names_the_probe(tmp_path):
    btf = tmp_path / "sys/kernel/btf/vmlinux"
    btf.parent.mkdir(parents=True)
    btf.write_bytes(btf_blob(["btf_trace_sched_switch", "btf_trace_sched_process_fork"]))
    by_name = {c.name: c for c in doctor.check_tracer(tmp_path, euid=0)}
    assert by_name["sched_switch"].ok
    assert not by_name["sched_wakeup"].ok
    assert "runs without it" in by_name["sched_wakeup"].detail
    assert "'uring' unavailable" in by_name["io_uring_submit_req"].detail


def test_io_uring_disabled_is_reported(tmp_path):
    knob = tmp_path / "proc/sys/kernel/io_uring_disabled"
    knob.parent.mkdir(parents=True)
    knob.write_text("2\n")
    (check,) = doctor.check_io_uring(tmp_path)
    assert not check.ok and "io_uring_disabled=2" in check.detail


def test_cli_json_lists_every_row_with_a_reason(capsys):
    assert run_main(["doctor", "--json", "--no-perf"]) == 0
    rows = json.loads(capsys.readouterr().out)
    names = {r["name"] for r in rows}
    assert {"root", "kernel BTF", "sched_switch", "io_uring", "bpftool"} <= names
    assert all(r["detail"] for r in rows)


def test_cli_bad_argument_is_exit_2(capsys):
    assert run_main(["doctor", "--bogus"]) == 2


@pytest.mark.skipif(os.geteuid() != 0 or not Path("/sys/kernel/btf/vmlinux").exists(),
                    reason="needs root and kernel BTF")
def test_this_machine_has_what_the_tracer_needs():
    by_name = {c.name: c for c in doctor.run_checks(with_perf=False)}
    assert by_name["kernel BTF"].ok
    assert by_name["sched_switch"].ok


def test_kernel_knobs_rows_say_what_is_allowed(tmp_path, monkeypatch):
    from harness.run import schedattr
    (tmp_path / "proc/sys/kernel").mkdir(parents=True)
    (tmp_path / "proc/sys/kernel/sched_rt_runtime_us").write_text("0\n")
    monkeypatch.setattr(schedattr, "sched_getattr", lambda tid=0: None)
    by_name = {c.name: c for c in doctor.check_kernel_knobs(tmp_path, euid=0)}
    assert {"preemption mode", "EEVDF base slice", "custom slices",
            "fifo/rr policies"} <= by_name.keys()
    assert not by_name["fifo/rr policies"].ok
    assert "sched_rt_runtime_us is 0" in by_name["fifo/rr policies"].detail
    assert not by_name["EEVDF base slice"].ok
    assert by_name["preemption mode"].detail.startswith("unknown")


def test_machine_rows_say_what_env_json_records(tmp_path):
    files = {"proc/cpuinfo": "processor\t: 0\nflags\t\t: fpu hypervisor\n",
             "sys/devices/system/clocksource/clocksource0/current_clocksource": "kvm-clock\n",
             "sys/devices/system/clocksource/clocksource0/available_clocksource": "kvm-clock\n",
             "sys/devices/system/cpu/vulnerabilities/meltdown": "Mitigation: PTI\n",
             "sys/devices/system/cpu/vulnerabilities/mds": "Not affected\n"}
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    rows = {c.name: c.detail for c in doctor.check_machine(tmp_path)}
    assert rows["virtualisation"].startswith("virtual machine (kvm)")
    assert rows["clocksource"].startswith("kvm-clock")
    assert rows["cpufreq governor"].startswith("not visible")
    assert rows["vulnerability meltdown"] == "Mitigation: PTI"
    assert rows["vulnerabilities"] == "1 of 2 not affected"
