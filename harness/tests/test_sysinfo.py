"""sysinfo.py against a fake /proc and /sys (the sysroot fixture)."""

import gzip
import json

from harness.run import sysinfo


def fake_run(argv):
    table = {
        ("pkg-config", "--modversion", "liburing"): "2.3\n",
        ("gcc", "--version"): "gcc (Debian 12.2.0-14) 12.2.0\nCopyright\n",
        ("perf", "--version"): "perf version 6.1\n",
    }
    if argv[:1] == ["dpkg-query"] and "libbpf-dev" in argv:
        return "1:1.1.2-0+deb12u1"
    if argv[:1] == ["git"] and "rev-parse" in argv:
        return "0123abcd\n"
    if argv[:1] == ["git"] and "status" in argv:
        return " M harness/cli.py\n"
    return table.get(tuple(argv))


def test_collect_from_sysroot(sysroot):
    env = sysinfo.collect(sysroot, run=fake_run, config_path="c.toml", config_text="x",
                          config_sha256="ab", argv=["schedlab", "run"])
    json.dumps(env)   # serialisable
    k = env["kernel"]
    assert k["release"] == "6.18.0-test"
    assert k["hz"] == {"value": 250, "source": "/boot/config-6.18.0-test"}
    assert k["preemption"]["mode"] == "none"
    assert k["preemption"]["dynamic"] is True and "note" in k["preemption"]
    assert k["btf"] is True
    assert k["sched_ext"]["state"] == "not available"
    c = env["cpu"]
    assert c["model"] == "Test CPU 9000" and c["count_online"] == 2 and c["online"] == [0, 1]
    assert c["smt"] == {"active": False, "control": "notsupported"}
    assert c["governor"] == "not visible" and c["turbo"] == "not visible"
    assert env["load_average"] == [0.5, 0.25, 0.1]
    assert env["memory_bytes"] == 2048000 * 1024
    assert env["isolated_cpus"] == [] and env["nohz_full"] == []
    assert env["aslr"] == 2
    assert env["limits"]["vm.max_map_count"] == 65530
    assert env["limits"]["kernel.io_uring_disabled"] == "not visible"
    assert env["libraries"]["liburing"] == {"version": "2.3", "source": "pkg-config"}
    assert env["libraries"]["libbpf"]["source"] == "dpkg"
    assert env["tools"]["gcc"].startswith("gcc (Debian")
    assert env["tools"]["clang"] == "not installed"
    assert env["git"] == {"revision": "0123abcd", "dirty": True}
    assert env["config"] == {"path": "c.toml", "sha256": "ab", "text": "x"}


def test_debugfs_preempt_wins(sysroot):
    f = sysroot / "sys/kernel/debug/sched/preempt"
    f.parent.mkdir(parents=True)
    f.write_text("none voluntary (full) lazy\n")
    env = sysinfo.collect(sysroot)
    assert env["kernel"]["preemption"]["mode"] == "full"


def test_proc_config_gz_and_boot_preempt(sysroot):
    (sysroot / "boot/config-6.18.0-test").unlink()
    with gzip.open(sysroot / "proc/config.gz", "wt") as f:
        f.write("CONFIG_HZ=1000\nCONFIG_PREEMPT_VOLUNTARY=y\nCONFIG_PREEMPT_DYNAMIC=y\n")
    (sysroot / "proc/cmdline").write_text("quiet preempt=full\n")
    env = sysinfo.collect(sysroot)
    assert env["kernel"]["hz"]["value"] == 1000
    assert env["kernel"]["preemption"] == {"mode": "full", "source": "/proc/cmdline preempt=",
                                           "dynamic": True}


def test_nothing_visible_says_why(sysroot):
    (sysroot / "boot/config-6.18.0-test").unlink()
    (sysroot / "proc/sys/kernel/version").unlink()
    env = sysinfo.collect(sysroot)
    assert env["kernel"]["hz"]["value"] == "unknown" and env["kernel"]["hz"]["reason"]
    assert env["kernel"]["preemption"]["mode"] == "unknown"
    assert env["git"]["revision"] == "unknown"
    assert env["libraries"]["liburing"]["version"] == "unknown"


def test_uname_fallback(sysroot):
    (sysroot / "boot/config-6.18.0-test").unlink()
    env = sysinfo.collect(sysroot)
    p = env["kernel"]["preemption"]
    assert p["source"] == "uname -v" and p["mode"] == "unknown" and p["reason"]


def test_sched_section_base_slice_and_rt_throttling(sysroot):
    from harness.run import sysinfo
    kernel_dir = sysroot / "proc/sys/kernel"
    (kernel_dir / "sched_rt_runtime_us").write_text("950000\n")
    (kernel_dir / "sched_rt_period_us").write_text("1000000\n")
    fair = {"policy": "other", "priority": 0, "nice": 0, "runtime_ns": 1_400_000}
    env = sysinfo.collect(sysroot, getattr_fn=lambda tid: fair)
    sched = env["kernel"]["sched"]
    assert sched["base_slice"]["value_ns"] == 1_400_000
    assert (sched["rt_runtime_us"], sched["rt_period_us"]) == (950000, 1000000)
    assert sched["rr_timeslice_ms"] == "not visible"
    assert sched["autogroup_enabled"] == "not visible"
    # before 6.12 a fair task reports no slice: unknown, with the reason
    old = {**fair, "runtime_ns": 0}
    sl = sysinfo.collect(sysroot, getattr_fn=lambda tid: old)["kernel"]["sched"]["base_slice"]
    assert sl["value_ns"] == "unknown" and "6.12" in sl["reason"]
    (sysroot / "sys/kernel/debug/sched").mkdir(parents=True)
    (sysroot / "sys/kernel/debug/sched/base_slice_ns").write_text("700000\n")
    sl = sysinfo.collect(sysroot, getattr_fn=lambda tid: old)["kernel"]["sched"]["base_slice"]
    assert sl == {"value_ns": 700000, "source": "/sys/kernel/debug/sched/base_slice_ns"}


def put(root, files: dict) -> None:
    for rel, text in files.items():
        f = root / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text)


X86_FLAGS = "processor\t: 0\nmodel name\t: Test CPU 9000\nflags\t\t: fpu vme sse2 {}\n"
CLOCKS = "sys/devices/system/clocksource/clocksource0/"


def test_firecracker_guest_is_kvm_by_its_clock(sysroot):
    # no DMI at all; the CPUID bit says "a VM", kvm-clock says which
    put(sysroot, {"proc/cpuinfo": X86_FLAGS.format("hypervisor"),
                  CLOCKS + "current_clocksource": "kvm-clock\n",
                  CLOCKS + "available_clocksource": "kvm-clock tsc \n"})
    env = sysinfo.collect(sysroot)
    v = env["virtualisation"]
    assert v["virtualised"] is True and v["hypervisor"] == "kvm"
    assert any("CPUID" in e for e in v["evidence"])
    assert env["kernel"]["clocksource"] == {"current": "kvm-clock",
                                            "available": ["kvm-clock", "tsc"]}


def test_dmi_names_the_hypervisor(sysroot):
    put(sysroot, {"proc/cpuinfo": X86_FLAGS.format("hypervisor"),
                  "sys/class/dmi/id/sys_vendor": "VMware, Inc.\n",
                  "sys/class/dmi/id/product_name": "VMware Virtual Platform\n"})
    v = sysinfo.virtualisation(sysroot)
    assert v["virtualised"] is True and v["hypervisor"] == "vmware"
    put(sysroot, {"sys/class/dmi/id/sys_vendor": "Microsoft Corporation\n",
                  "sys/class/dmi/id/product_name": "Virtual Machine\n"})
    assert sysinfo.virtualisation(sysroot)["hypervisor"] == "microsoft"


def test_xen_without_cpuid_bit(sysroot):
    # a PV Xen guest: no hypervisor flag, but /sys/hypervisor says xen
    put(sysroot, {"proc/cpuinfo": X86_FLAGS.format(""), "sys/hypervisor/type": "xen\n"})
    v = sysinfo.virtualisation(sysroot)
    assert v["virtualised"] is True and v["hypervisor"] == "xen"


def test_bare_metal_and_unknown(sysroot):
    put(sysroot, {"proc/cpuinfo": X86_FLAGS.format("pti ibrs"),
                  "sys/class/dmi/id/sys_vendor": "Dell Inc.\n",
                  CLOCKS + "current_clocksource": "tsc\n",
                  CLOCKS + "available_clocksource": "tsc hpet acpi_pm \n"})
    v = sysinfo.virtualisation(sysroot)
    assert v["virtualised"] is False and v["hypervisor"] is None
    # an arm64 box without DMI: /proc/cpuinfo has no "flags" line to ask
    (sysroot / "sys/class/dmi/id/sys_vendor").unlink()
    put(sysroot, {"proc/cpuinfo": "processor\t: 0\nFeatures\t: fp asimd\n"})
    v = sysinfo.virtualisation(sysroot)
    assert v["virtualised"] == "unknown" and "not x86" in v["reason"]


def test_vulnerabilities_each_file_and_its_state(sysroot):
    vdir = "sys/devices/system/cpu/vulnerabilities/"
    assert sysinfo.collect(sysroot)["cpu"]["vulnerabilities"] == "not visible"
    put(sysroot, {vdir + "meltdown": "Mitigation: PTI\n",
                  vdir + "spectre_v2": "Mitigation: Retpolines; STIBP: disabled\n",
                  vdir + "mds": "Not affected\n"})
    assert sysinfo.collect(sysroot)["cpu"]["vulnerabilities"] == {
        "mds": "Not affected", "meltdown": "Mitigation: PTI",
        "spectre_v2": "Mitigation: Retpolines; STIBP: disabled"}


def test_this_machines_record_validates():
    # the real /proc and /sys, whatever they hold, against the schema
    import jsonschema
    from harness import REPO
    schema = json.loads((REPO / "schemas/env.schema.json").read_text())
    env = sysinfo.collect("/")
    jsonschema.Draft202012Validator(schema).validate(env)
    assert env["schema"] == 3 and env["virtualisation"]["virtualised"] in (True, False, "unknown")


def test_a_system_call_measured_on_this_machine():
    """build/bench/syscall run as a run starts: its figures hang together,
    and they agree with a second instrument, the process's own CPU clock
    across the same calls in Python (which adds the interpreter's loop, so
    it may only be slower)."""
    import os
    import time
    import jsonschema
    from harness import REPO
    from harness.run.runner import ProcessRunner
    env = sysinfo.collect("/", run=ProcessRunner().capture, repo=REPO)
    call = env["syscall"]
    assert call.get("median_ns"), call
    assert 0 < call["min_ns"] <= call["median_ns"] <= call["max_ns"]
    assert call["repetitions"] == 11 and call["call"] == "getppid"
    schema = json.loads((REPO / "schemas/env.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(env)
    t0 = time.thread_time_ns()
    for _ in range(20000):
        os.getppid()
    python_ns = (time.thread_time_ns() - t0) / 20000
    assert python_ns > call["min_ns"] / 3, (python_ns, call)


def test_without_the_bench_the_cost_is_not_visible_with_why(tmp_path):
    call = sysinfo.syscall_cost(fake_run, tmp_path)
    assert call["value"] == "not visible" and "make build" in call["reason"]
