"""env.json: the machine a run measured, following pyperf's provenance list.

Every value is structured (no "driver:x, governor:y" strings). A value this
machine does not show is the string "not visible" or "unknown", with the
reason beside it, never a guess. Files are read under a root path so that
tests can point it at a fake /proc and /sys tree (the sysroot fixture).
Commands (compiler versions, git) go through an injected `run` callable:
runner.py is the only module that spawns processes.
"""

from __future__ import annotations

import gzip
import json
import os
import platform
import re
import sys
from pathlib import Path
from typing import Callable

from harness import __version__, cpulist
from harness.run import schedattr

# run(argv) -> stdout text, or None when the command is missing or failed.
RunFn = Callable[[list[str]], "str | None"]
NOT_VISIBLE = "not visible"
# env.json's format: 1 the first; 2 adds virtualisation, kernel.clocksource
# and cpu.vulnerabilities (what explains a verdict that flips between machines);
# 3 adds syscall, the measured cost of one system call.
ENV_SCHEMA = 3


def _read(root: Path, rel: str) -> str | None:
    try:
        return (root / rel.lstrip("/")).read_text(errors="replace").strip()
    except OSError:
        return None


def _read_config_text(root: Path, release: str | None) -> tuple[str | None, str | None]:
    """The kernel's build config and where it came from."""
    if release:
        text = _read(root, f"boot/config-{release}")
        if text:
            return text, f"/boot/config-{release}"
    try:
        with gzip.open(root / "proc/config.gz", "rt", errors="replace") as f:
            return f.read(), "/proc/config.gz"
    except (OSError, EOFError):
        return None, None


def _config_value(text: str | None, key: str) -> str | None:
    if not text:
        return None
    m = re.search(rf"^{key}=(.*)$", text, re.M)
    return m.group(1).strip('"') if m else None


def preemption(root: Path, config_text: str | None, config_src: str | None,
               version: str | None, cmdline: str | None) -> dict:
    """The preemption model: the run-time setting when visible, else the build's."""
    dbg = _read(root, "sys/kernel/debug/sched/preempt")
    if dbg:
        m = re.search(r"\((\w+)\)", dbg)
        if m:
            return {"mode": m.group(1), "source": "/sys/kernel/debug/sched/preempt",
                    "dynamic": True}
    if config_text:
        dynamic = _config_value(config_text, "CONFIG_PREEMPT_DYNAMIC") == "y"
        mode = "unknown"
        for name, key in (("rt", "CONFIG_PREEMPT_RT"), ("full", "CONFIG_PREEMPT"),
                          ("lazy", "CONFIG_PREEMPT_LAZY"),
                          ("voluntary", "CONFIG_PREEMPT_VOLUNTARY"),
                          ("none", "CONFIG_PREEMPT_NONE")):
            if _config_value(config_text, key) == "y":
                mode = name
                break
        out = {"mode": mode, "source": config_src, "dynamic": dynamic}
        boot = re.search(r"(?:^|\s)preempt=(\w+)", cmdline or "")
        if dynamic and boot:
            out.update(mode=boot.group(1), source="/proc/cmdline preempt=")
        elif dynamic:
            out["note"] = ("build default; PREEMPT_DYNAMIC can change it at run time and "
                           "debugfs (/sys/kernel/debug/sched/preempt) is not readable")
        return out
    if version:
        for token, mode in (("PREEMPT_RT", "rt"), ("PREEMPT_DYNAMIC", "unknown"),
                            ("PREEMPT", "full")):
            if token in version.split():
                out = {"mode": mode, "source": "uname -v", "dynamic": token == "PREEMPT_DYNAMIC"}
                if mode == "unknown":
                    out["reason"] = "PREEMPT_DYNAMIC kernel; no debugfs and no kernel config"
                return out
        return {"mode": "none or voluntary", "source": "uname -v",
                "reason": "uname -v names no PREEMPT flag; no kernel config readable"}
    return {"mode": "unknown", "reason": "no debugfs, kernel config or uname -v"}


def hz(config_text: str | None, config_src: str | None) -> dict:
    v = _config_value(config_text, "CONFIG_HZ")
    if v and v.isdigit():
        return {"value": int(v), "source": config_src}
    return {"value": "unknown", "reason": "no readable kernel config (/boot/config-*, "
            "/proc/config.gz) with CONFIG_HZ"}


def cpu(root: Path) -> dict:
    info = _read(root, "proc/cpuinfo") or ""
    model = None
    for key in ("model name", "Model", "Processor", "cpu model", "CPU part"):
        m = re.search(rf"^{key}\s*:\s*(.+)$", info, re.M)
        if m:
            model = m.group(1).strip()
            break
    online = list(cpulist.parse(_read(root, "sys/devices/system/cpu/online")))
    smt_active = _read(root, "sys/devices/system/cpu/smt/active")
    smt_control = _read(root, "sys/devices/system/cpu/smt/control")
    cf = "sys/devices/system/cpu/cpu0/cpufreq"
    governor = _read(root, f"{cf}/scaling_governor")
    driver = _read(root, f"{cf}/scaling_driver")
    no_turbo = _read(root, "sys/devices/system/cpu/intel_pstate/no_turbo")
    boost = _read(root, "sys/devices/system/cpu/cpufreq/boost")
    if no_turbo is not None:
        turbo = {"enabled": no_turbo == "0", "source": "intel_pstate/no_turbo"}
    elif boost is not None:
        turbo = {"enabled": boost == "1", "source": "cpufreq/boost"}
    else:
        turbo = NOT_VISIBLE
    return {
        "model": model or "unknown",
        "count_online": len(online) or os.cpu_count(),
        "online": online,
        "smt": {"active": smt_active == "1", "control": smt_control}
        if smt_active is not None else NOT_VISIBLE,
        "governor": governor or NOT_VISIBLE,
        "scaling_driver": driver or NOT_VISIBLE,
        "turbo": turbo,
        "cpufreq_note": None if governor else "no cpufreq in sysfs (typical of a VM)",
        "vulnerabilities": vulnerabilities(root),
    }


# Hypervisors by the strings their virtual firmware puts in DMI
# (sys_vendor, product_name, board_vendor, bios_vendor), the table
# systemd-detect-virt keeps; the first match names the hypervisor.
DMI_VENDORS = (("KVM", "kvm"), ("OpenStack", "kvm"), ("KubeVirt", "kvm"),
               ("Amazon EC2", "amazon"), ("QEMU", "qemu"), ("VMware", "vmware"),
               ("VMW", "vmware"), ("innotek GmbH", "oracle"), ("VirtualBox", "oracle"),
               ("Xen", "xen"), ("Bochs", "bochs"), ("Parallels", "parallels"),
               ("BHYVE", "bhyve"), ("Hyper-V", "microsoft"), ("Apple Virtualization", "apple"),
               ("Google Compute Engine", "google"))
DMI_FILES = ("product_name", "sys_vendor", "board_vendor", "bios_vendor")
# A paravirtual clocksource exists only under its hypervisor: Firecracker and
# cloud-hypervisor guests have no DMI at all, but they do have kvm-clock.
PV_CLOCKSOURCES = {"kvm-clock": "kvm", "xen": "xen", "hyperv_clocksource_tsc_page": "microsoft",
                   "hyperv_clocksource_msr": "microsoft"}


def virtualisation(root: Path) -> dict:
    """Virtual machine or bare metal, and which hypervisor, the way
    systemd-detect-virt decides for VMs: DMI vendor strings, /sys/hypervisor
    (Xen), CPUID leaf 1's hypervisor bit (the "hypervisor" flag in
    /proc/cpuinfo on x86), and a paravirtual clocksource, which names the
    hypervisor where there is no DMI (Firecracker). Every piece of evidence is
    kept. A container is not a VM: a container on bare metal says bare metal."""
    evidence, named = [], []
    dmi = {n: _read(root, f"sys/class/dmi/id/{n}") for n in DMI_FILES}
    for name, text in dmi.items():
        vendor = next((v for key, v in DMI_VENDORS if text and key in text), None)
        if vendor:
            evidence.append(f"DMI {name}: {text}")
            named.append(vendor)
    if "Microsoft" in (dmi["sys_vendor"] or "") and "Virtual" in (dmi["product_name"] or ""):
        evidence.append(f"DMI product_name: {dmi['product_name']} by Microsoft")
        named.append("microsoft")
    xen = _read(root, "sys/hypervisor/type")
    if xen:
        evidence.append(f"/sys/hypervisor/type: {xen}")
        named.append(xen)
    flags = re.search(r"^flags\s*:(.*)$", _read(root, "proc/cpuinfo") or "", re.M)
    if flags and "hypervisor" in flags.group(1).split():
        evidence.append("CPUID hypervisor bit (/proc/cpuinfo flag hypervisor)")
    for c in clocksource(root)["available"]:
        if c in PV_CLOCKSOURCES:
            evidence.append(f"paravirtual clocksource {c}")
            named.append(PV_CLOCKSOURCES[c])
    if evidence:
        return {"virtualised": True, "hypervisor": named[0] if named else "unknown",
                "evidence": evidence}
    if flags is None and not any(dmi.values()):
        return {"virtualised": "unknown", "hypervisor": None, "evidence": [],
                "reason": "no CPU flags in /proc/cpuinfo (not x86) and no DMI in sysfs"}
    return {"virtualised": False, "hypervisor": None,
            "evidence": ["no hypervisor bit, DMI vendor, /sys/hypervisor or paravirtual clock"]}


def clocksource(root: Path) -> dict:
    """The kernel's clocksource (what a clock read costs: tsc is a
    register, kvm-clock a paravirtual page, hpet an I/O read)."""
    base = "sys/devices/system/clocksource/clocksource0"
    return {"current": _read(root, f"{base}/current_clocksource") or NOT_VISIBLE,
            "available": (_read(root, f"{base}/available_clocksource") or "").split()}


def vulnerabilities(root: Path) -> dict | str:
    """Each CPU vulnerability the kernel knows and its state here ("Not
    affected", "Vulnerable", "Mitigation: Retpolines; ..."): mitigations put
    work on every system call, switch and indirect call."""
    vdir = root / "sys/devices/system/cpu/vulnerabilities"
    if not vdir.is_dir():
        return NOT_VISIBLE
    return {f.name: _read(root, str(f.relative_to(root))) or "" for f in sorted(vdir.iterdir())}


def _int_or(text: str | None):
    if text is None:
        return NOT_VISIBLE
    try:
        return int(text)
    except ValueError:
        return text


LIMITS = ("vm.max_map_count", "kernel.pid_max", "kernel.threads-max",
          "kernel.perf_event_paranoid", "kernel.unprivileged_bpf_disabled",
          "kernel.io_uring_disabled", "kernel.randomize_va_space")


def kernel_limits(root: Path) -> dict:
    """The sysctls of LIMITS, read where sysctl reads them (dots are slashes)."""
    return {k: _int_or(_read(root, "proc/sys/" + k.replace(".", "/"))) for k in LIMITS}


def _first_line(run: RunFn, argv: list[str]) -> str:
    out = run(argv)
    if not out or not out.strip():
        return "not installed"
    return out.strip().splitlines()[0].strip()


def library_versions(run: RunFn) -> dict:
    out = {}
    for lib, pkg in (("liburing", "liburing-dev"), ("libbpf", "libbpf-dev")):
        v = run(["pkg-config", "--modversion", lib])
        if v and v.strip():
            out[lib] = {"version": v.strip(), "source": "pkg-config"}
            continue
        v = run(["dpkg-query", "-W", "-f=${Version}", pkg])
        out[lib] = {"version": v.strip(), "source": "dpkg"} if v and v.strip() \
            else {"version": "unknown", "reason": f"neither pkg-config nor dpkg know {lib}"}
    return out


def tool_versions(run: RunFn) -> dict:
    return {
        "gcc": _first_line(run, ["gcc", "--version"]),
        "clang": _first_line(run, ["clang", "--version"]),
        "bpftool": _first_line(run, ["bpftool", "--version"]),
        "perf": _first_line(run, ["perf", "--version"]),
        "python": sys.version.split()[0],
        "python_executable": sys.executable,
    }


def syscall_cost(run: RunFn, repo: Path) -> dict:
    """build/bench/syscall's measure of one system call (getppid round
    trips), or "not visible" with the reason."""
    tool = repo / "build" / "bench" / "syscall"
    if not tool.exists():
        return {"value": NOT_VISIBLE, "reason": f"{tool} is not built: run make build"}
    out = run([str(tool)])
    try:
        doc = json.loads(out or "")
        return {"call": str(doc["call"]), "unit": "ns_per_call",
                "median_ns": float(doc["median"]), "min_ns": float(doc["min"]),
                "max_ns": float(doc["max"]), "repetitions": int(doc["repetitions"]),
                "calls_per_repetition": int(doc["calls_per_repetition"]),
                "cpu": int(doc["cpu"])}
    except (ValueError, KeyError, TypeError):
        return {"value": NOT_VISIBLE, "reason": f"{tool} failed or printed no measure"}


def git_revision(run: RunFn, repo: Path) -> dict:
    sha = run(["git", "-C", str(repo), "rev-parse", "HEAD"])
    status = run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"])
    if not sha or not sha.strip():
        return {"revision": "unknown", "reason": "not a git checkout, or no commit yet",
                "dirty": bool(status and status.strip())}
    return {"revision": sha.strip(), "dirty": bool(status and status.strip())}


def collect(root: str | Path = "/", run: RunFn | None = None, repo: Path | None = None,
            config_path: str | None = None, config_text: str | None = None,
            config_sha256: str | None = None, argv: list[str] | None = None,
            getattr_fn: schedattr.GetattrFn | None = None) -> dict:
    """Everything env.json holds. run=None skips every command (tests);
    getattr_fn replaces sched_getattr (tests)."""
    r = Path(root)
    run = run or (lambda argv: None)
    release = _read(r, "proc/sys/kernel/osrelease") or platform.release()
    version = _read(r, "proc/sys/kernel/version")
    cmdline = _read(r, "proc/cmdline")
    cfg_text, cfg_src = _read_config_text(r, release)
    loadavg = (_read(r, "proc/loadavg") or "").split()
    meminfo = _read(r, "proc/meminfo") or ""
    mem = re.search(r"^MemTotal:\s+(\d+)\s+kB", meminfo, re.M)
    scx = _read(r, "sys/kernel/sched_ext/state")
    try:
        affinity = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = NOT_VISIBLE
    return {
        "schema": ENV_SCHEMA,
        "schedlab": __version__,
        "argv": argv or [],
        "kernel": {
            "release": release,
            "version": version or "unknown",
            "machine": platform.machine(),
            "cmdline": cmdline or NOT_VISIBLE,
            "config_source": cfg_src or "not visible (no /boot/config-*, no /proc/config.gz)",
            "preemption": preemption(r, cfg_text, cfg_src, version, cmdline),
            "hz": hz(cfg_text, cfg_src),
            "sched": {"base_slice": schedattr.base_slice(r, getattr_fn),
                      **schedattr.rt_throttling(r)},
            "clocksource": clocksource(r),
            "btf": (r / "sys/kernel/btf/vmlinux").exists(),
            "sched_ext": {"state": scx} if scx is not None
            else {"state": "not available", "reason": "no /sys/kernel/sched_ext"},
        },
        "cpu": cpu(r),
        "virtualisation": virtualisation(r),
        "affinity": affinity,
        "isolated_cpus": list(cpulist.parse(_read(r, "sys/devices/system/cpu/isolated"))),
        "nohz_full": list(cpulist.parse(_read(r, "sys/devices/system/cpu/nohz_full"))),
        "load_average": [float(x) for x in loadavg[:3]] if len(loadavg) >= 3 else NOT_VISIBLE,
        "memory_bytes": int(mem.group(1)) * 1024 if mem else NOT_VISIBLE,
        "aslr": _int_or(_read(r, "proc/sys/kernel/randomize_va_space")),
        "limits": kernel_limits(r),
        "euid": os.geteuid(),
        "libraries": library_versions(run),
        "tools": tool_versions(run),
        "git": git_revision(run, repo or Path.cwd()),
        "syscall": syscall_cost(run, repo or Path.cwd()),
        "config": {"path": config_path, "sha256": config_sha256, "text": config_text},
    }
