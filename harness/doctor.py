"""./schedlab doctor: what this machine can measure, and why not.

First the machine (virtual or bare metal and the hypervisor, clocksource,
cpufreq governor, CPU vulnerabilities and their mitigations: what env.json
records and a fleet report compares), then one row per capability: the
tracer's needs (root, kernel BTF, each tracepoint the probes attach to,
uprobes for USDT, BPF run-time statistics), io_uring, the kernel's
scheduling knobs (preemption mode, EEVDF base slice, whether custom slices
and real-time policies are allowed), perf software and hardware counters,
and the tools the report and the tracer benchmark use. Each row says ok /
missing and, when missing, why and what would fix it.
Nothing here changes the machine.

Tracepoints are looked up the way the tracer does: a tp_btf program needs the
`btf_trace_<name>` typedef in the kernel's BTF, so its name must be in the BTF
string table (read directly: no bpftool, no tracefs needed).

`schedlab doctor` (options in harness/cli.py); `--json` prints the rows.
"""

from __future__ import annotations

import ctypes
import importlib
import json
import os
import shutil
import struct
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from harness import REPO
from harness.run import peers as peers_mod
from harness.run import probes as probes_mod

PERF_SW = ["context-switches", "cpu-migrations", "task-clock", "page-faults"]
PERF_HW = ["cycles", "instructions"]
INFO_AREAS = ("info", "machine")   # facts to read, not capabilities to have
NR_IO_URING_SETUP = 425     # one number on every architecture (the unified syscall table)


@dataclass
class Check:
    area: str
    name: str
    ok: bool
    detail: str        # what was found, or why not and the fix


def _exists(area: str, name: str, path: Path, found: str, missing: str) -> Check:
    """A row for a capability that a file's presence shows."""
    have = path.exists()
    return Check(area, name, have, found if have else missing)


def btf_strings(blob: bytes) -> set[bytes] | None:
    """The names in a raw BTF blob's string section; None if not BTF."""
    if len(blob) < 24:
        return None
    magic, _version, _flags, hdr_len = struct.unpack_from("<HBBI", blob, 0)
    if magic != 0xEB9F:
        return None
    _type_off, _type_len, str_off, str_len = struct.unpack_from("<IIII", blob, 8)
    start = hdr_len + str_off
    return set(blob[start:start + str_len].split(b"\0"))


def check_tracer(root: Path, euid: int) -> list[Check]:
    out = [Check("tracer", "root", euid == 0,
                 "running as root" if euid == 0 else
                 "not root: BPF needs CAP_BPF and CAP_PERFMON; run as root")]
    btf_path = root / "sys/kernel/btf/vmlinux"
    names = btf_strings(btf_path.read_bytes()) if btf_path.exists() else None
    out.append(Check("tracer", "kernel BTF", names is not None,
                     str(btf_path) if names is not None else
                     f"{btf_path} missing: the kernel needs CONFIG_DEBUG_INFO_BTF=y"))
    out.append(_exists("tracer", "build/schedtrace", REPO / "build" / "schedtrace", "built",
                       "not built: make (needs clang, bpftool, libbpf-dev: make deps)"))
    out.append(_exists("tracer", "BPF run-time stats", root / "proc/sys/kernel/bpf_stats_enabled",
                       "available: `schedtrace --cost` measures cost.run_time_ns (off by "
                       "default: it slows every BPF program)",
                       "kernel.bpf_stats_enabled missing: cost has counts but no run time"))
    # what each probe attaches to, from `schedtrace --list` (nothing before a build)
    usdt_probes = []
    for probe in probes_mod.tracer_list() or ():
        for a in probe["attach"]:
            kind, _, tp = a["section"].partition("/")
            if kind == "usdt" and probe["name"] not in usdt_probes:
                usdt_probes.append(probe["name"])
            if kind != "tp_btf":
                continue
            have = names is not None and f"btf_trace_{tp}".encode() in names
            why = ("present" if have else
                   "no BTF to look in" if names is None else
                   f"not in this kernel: probe '{probe['name']}' "
                   + ("unavailable" if a["essential"] else "runs without it"))
            out.append(Check(f"probe {probe['name']}", tp, have, why))
    for name in usdt_probes:
        out.extend(check_usdt(root, name))
    return out + check_kernel_info(root)


def check_usdt(root: Path, probe: str) -> list[Check]:
    """What a USDT probe needs: uprobes, and a workload built with its notes."""
    out = [_exists(f"probe {probe}", "uprobes", root / "sys/bus/event_source/devices/uprobe",
                   "uprobe PMU present", "no uprobe PMU: the kernel needs CONFIG_UPROBE_EVENTS=y")]
    sdt = [p for p in [root / "usr/include/sys/sdt.h",
                       *(root / "usr/include").glob("*/sys/sdt.h")] if p.exists()]
    out.append(Check(f"probe {probe}", "sys/sdt.h", bool(sdt),
                     f"{sdt[0]}: the coroutine runtime is built with its probes" if sdt
                     else "missing: apt-get install systemtap-sdt-dev, then rebuild"))
    workload = REPO / "build" / "workload"
    if workload.exists() and shutil.which("readelf"):
        notes = subprocess.run(["readelf", "-n", str(workload)], capture_output=True,
                               text=True).stdout
        have = "Provider: schedlab" in notes
        out.append(Check(f"probe {probe}", "workload USDT notes", have,
                         "schedlab USDT probes in build/workload" if have else
                         "build/workload has no schedlab USDT notes (built without sys/sdt.h?)"))
    return out


def check_kernel_info(root: Path) -> list[Check]:
    """Kernel features the tracer does without, for the record."""
    return [_exists("info", "kprobes", root / "sys/bus/event_source/devices/kprobe",
                    "present (schedtrace does not need them)",
                    "absent: tools built on kprobes (some bcc tools) cannot run; "
                    "schedtrace uses tp_btf only"),
            _exists("info", "schedstats", root / "proc/sys/kernel/sched_schedstats",
                    "CONFIG_SCHEDSTATS=y",
                    "no CONFIG_SCHEDSTATS: sched_stat_* tracepoints absent (not used); "
                    "/proc/<pid>/schedstat still has switch-in counts")]


def check_machine(root: Path) -> list[Check]:
    """What env.json records about the machine and a fleet report compares:
    facts, not capabilities (area "machine" prints as info)."""
    from harness.run import sysinfo
    virt = sysinfo.virtualisation(root)
    where = {True: f"virtual machine ({virt['hypervisor']})", False: "bare metal",
             "unknown": f"unknown: {virt.get('reason')}"}[virt["virtualised"]]
    clock = sysinfo.clocksource(root)
    governor = sysinfo.cpu(root)["governor"]
    vulns = sysinfo.vulnerabilities(root)
    if isinstance(vulns, dict):
        mitigated = {k: v for k, v in vulns.items() if v != "Not affected"}
        vuln_rows = [Check("machine", f"vulnerability {k}", True, v)
                     for k, v in mitigated.items()]
        vuln_rows.append(Check("machine", "vulnerabilities", True,
                               f"{len(vulns) - len(mitigated)} of {len(vulns)} not affected"))
    else:
        vuln_rows = [Check("machine", "vulnerabilities", True,
                           "not visible: no /sys/devices/system/cpu/vulnerabilities")]
    return [
        Check("machine", "virtualisation", True,
              where + (f" [{'; '.join(virt['evidence'])}]" if virt["evidence"] else "")),
        Check("machine", "clocksource", True,
              f"{clock['current']} (available: {' '.join(clock['available']) or '-'})"),
        Check("machine", "cpufreq governor", True,
              governor if governor != sysinfo.NOT_VISIBLE
              else "not visible: no cpufreq in sysfs (typical of a VM)"),
        *vuln_rows,
    ]


def check_io_uring(root: Path) -> list[Check]:
    disabled = root / "proc/sys/kernel/io_uring_disabled"
    level = disabled.read_text().strip() if disabled.exists() else "0"
    if level == "2":
        return [Check("io_uring", "io_uring", False,
                      "kernel.io_uring_disabled=2: set it to 0 to run the uring model")]
    libc = ctypes.CDLL(None, use_errno=True)
    params = ctypes.create_string_buffer(120)       # struct io_uring_params
    fd = libc.syscall(NR_IO_URING_SETUP, 4, params)
    if fd < 0:
        err = ctypes.get_errno()
        return [Check("io_uring", "io_uring", False,
                      f"io_uring_setup: {os.strerror(err)}"
                      + (f" (kernel.io_uring_disabled={level})" if level != "0" else ""))]
    os.close(fd)
    return [Check("io_uring", "io_uring", True,
                  "io_uring_setup works" + (f" (io_uring_disabled={level}: root only)"
                                            if level == "1" else ""))]


def check_kernel_knobs(root: Path, euid: int) -> list[Check]:
    """What the policy/priority/nice/slice_us parameters can do here."""
    from harness.run import schedattr, sysinfo
    cfg_text, cfg_src = sysinfo._read_config_text(root, os.uname().release)
    version = sysinfo._read(root, "proc/sys/kernel/version")
    cmdline = sysinfo._read(root, "proc/cmdline")
    pre = sysinfo.preemption(root, cfg_text, cfg_src, version, cmdline)
    pre_detail = f"{pre['mode']} (from {pre.get('source') or '?'}" + (
        "; PREEMPT_DYNAMIC: the build default, debugfs not readable)" if pre.get("note")
        else ")")
    sl = schedattr.base_slice(root)
    sl_ok = isinstance(sl["value_ns"], int)
    rt_ok, rt_detail = schedattr.rt_allowed(root, euid)
    slice_ok, slice_detail = schedattr.custom_slice_probe()
    autogroup = schedattr.rt_throttling(root)["autogroup_enabled"]
    return [
        Check("kernel knobs", "preemption mode", pre["mode"] != "unknown", pre_detail),
        Check("kernel knobs", "EEVDF base slice",
              sl_ok, f"{sl['value_ns'] / 1000:g} us ({sl['source'].split(' ')[0]})" if sl_ok
              else f"unknown: {sl['reason']}"),
        Check("kernel knobs", "custom slices", slice_ok, slice_detail),
        Check("kernel knobs", "fifo/rr policies", rt_ok, rt_detail),
        Check("kernel knobs", "nice", True,
              "weighs the workload's threads against each other only: autogroup is on "
              "(kernel.sched_autogroup_enabled=1) and each run is its own session"
              if autogroup == 1 else "weighs against every task of the machine (no autogroup)"),
    ]


def _perf_stat(perf: str, events: list[str]) -> dict[str, str]:
    proc = subprocess.run([perf, "stat", "-x,", "-e", ",".join(events), "--", "true"],
                          capture_output=True, text=True, timeout=30)
    found = {}
    for line in proc.stderr.splitlines():
        fields = line.split(",")
        if len(fields) >= 3:
            name = fields[2].split(":")[0]
            found[name] = fields[0]
    return found


def check_perf(euid: int, root: Path) -> list[Check]:
    perf = shutil.which("perf")
    if not perf:
        return [Check("perf", "perf", False, "not installed: apt-get install linux-perf")]
    out = [Check("perf", "perf", True, perf)]
    paranoid = root / "proc/sys/kernel/perf_event_paranoid"
    if paranoid.exists() and euid != 0:
        level = paranoid.read_text().strip()
        out.append(Check("perf", "perf_event_paranoid", level in ("-1", "0", "1"),
                         f"kernel.perf_event_paranoid={level}"))
    try:
        found = _perf_stat(perf, PERF_SW + PERF_HW)
    except (OSError, subprocess.TimeoutExpired) as e:
        return out + [Check("perf", "perf stat", False, f"perf stat failed: {e}")]
    for ev in PERF_SW + PERF_HW:
        value = found.get(ev)
        ok = value is not None and not value.startswith("<")
        kind = "hardware" if ev in PERF_HW else "software"
        why = ("counts" if ok else
               f"{kind} counter {value or 'absent'}: not supported here"
               + (" (no PMU in this VM)" if ev in PERF_HW else ""))
        out.append(Check("perf", ev, ok, why))
    return out


def check_tools() -> list[Check]:
    out = []
    for tool, use, fix in [
        ("bpftool", "BPF skeletons and listing programs", "apt-get install bpftool"),
        ("clang", "building the BPF probes", "apt-get install clang llvm"),
        ("chromium", "rendering the HTML report to PDF/PNG", "apt-get install chromium"),
        ("bpftrace", "tracer benchmark peer", "apt-get install bpftrace"),
        ("runqlat-bpfcc", "tracer benchmark peer (bcc runqlat)", "apt-get install bpfcc-tools"),
    ]:
        path = shutil.which(tool) or (shutil.which("chromium-browser") if tool == "chromium"
                                      else None)
        out.append(Check("tools", tool, path is not None,
                         f"{path}: {use}" if path else f"missing ({use}): {fix}"))
    return out


def _runtime_version(peer_name: str, path: str) -> str:
    """The version a peer's runtime reports, or why it could not say."""
    if peer_name.startswith("go-"):
        try:
            out = subprocess.run([path, "version"], capture_output=True, text=True,
                                 timeout=10)
        except (OSError, subprocess.TimeoutExpired) as e:
            return f"version unknown: {e}"
        return out.stdout.strip() or f"version unknown: {out.stderr.strip()}"
    if peer_name == "echo-node":
        try:
            out = subprocess.run([path, "--version"], capture_output=True, text=True,
                                 timeout=10)
        except (OSError, subprocess.TimeoutExpired) as e:
            return f"version unknown: {e}"
        return "node " + out.stdout.strip()
    version = "python " + sys.version.split()[0]
    if peer_name == "echo-uvloop":
        try:
            version += ", uvloop " + importlib.import_module("uvloop").__version__
        except ImportError as e:
            return f"version unknown: {e}"
    return version


def check_peers() -> list[Check]:
    """The echo-server peers (harness/run/peers.py): installed, and which version;
    Go's (go-echo) stands for all of build/peers/gotasks."""
    out = []
    for peer in peers_mod.PEERS.values():
        if peer.find_tool is None or peer.task != "echo":
            continue
        path, why = peer.find_tool()
        out.append(Check("peers", peer.name, path is not None,
                         f"{_runtime_version(peer.name, path)} ({path})" if path
                         else f"skipped in runs: {why}"))
    return out


def run_checks(root: Path = Path("/"), euid: int | None = None,
               with_perf: bool = True) -> list[Check]:
    euid = os.geteuid() if euid is None else euid
    checks = (check_machine(root) + check_tracer(root, euid) + check_io_uring(root)
              + check_kernel_knobs(root, euid))
    if with_perf:
        checks += check_perf(euid, root)
    return checks + check_tools() + check_peers()


def command(args) -> int:
    """`schedlab doctor [--json] [--no-perf]` (harness/cli.py)."""
    checks = run_checks(with_perf=not args.no_perf)
    if args.json:
        print(json.dumps([asdict(c) for c in checks], indent=1))
        return 0
    width = max(len(c.name) for c in checks)
    area = None
    for c in checks:
        if c.area != area:
            area = c.area
            print(f"{area}:")
        mark = "info" if c.area in INFO_AREAS else "ok  " if c.ok else "NO  "
        print(f"  {mark} {c.name:<{width}}  {c.detail}")
    return 0
