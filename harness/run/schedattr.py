"""The kernel's scheduling knobs seen from the harness: sched_getattr and
sched_setattr through ctypes (Python's os module has neither), the EEVDF base
slice, and whether real-time policies and custom slices are allowed here.
sysinfo.py (env.json) and doctor.py use it; the workload itself applies the
knobs (userspace/lib/schedattr.c).
"""

from __future__ import annotations

import ctypes
import os
import platform
import resource
import struct
import threading
from pathlib import Path
from typing import Callable

# include/uapi/linux/sched/types.h, SCHED_ATTR_SIZE_VER0
_ATTR = struct.Struct("IIQiIQQQ")
_NR = {"x86_64": (314, 315), "aarch64": (274, 275)}   # sched_setattr, sched_getattr
POLICIES = {0: "other", 1: "fifo", 2: "rr", 3: "batch", 5: "idle", 6: "deadline", 7: "ext"}

# getattr(tid) -> {"policy", "priority", "nice", "runtime_ns"} or None
GetattrFn = Callable[[int], "dict | None"]


def sched_getattr(tid: int = 0) -> dict | None:
    nr = _NR.get(platform.machine())
    if not nr:
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(_ATTR.size)
    if libc.syscall(nr[1], tid, buf, _ATTR.size, 0) != 0:
        return None
    _, policy, _, nice, prio, runtime, _, _ = _ATTR.unpack(buf.raw)
    return {"policy": POLICIES.get(policy, str(policy)), "priority": prio, "nice": nice,
            "runtime_ns": runtime}


def _setattr_self(policy: int, runtime_ns: int) -> int:
    """sched_setattr on the calling thread; 0 or errno."""
    nr = _NR.get(platform.machine())
    if not nr:
        return 38   # ENOSYS
    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(_ATTR.pack(_ATTR.size, policy, 0, 0, 0, runtime_ns, 0, 0))
    return 0 if libc.syscall(nr[0], 0, buf, 0) == 0 else ctypes.get_errno()


def base_slice(root: Path, getattr_fn: GetattrFn | None = None) -> dict:
    """The EEVDF base slice: debugfs when readable, else what sched_getattr
    reports for this (SCHED_OTHER, no custom slice) process: since Linux 6.12
    sched_runtime of a fair task is its slice in force."""
    try:
        text = (root / "sys/kernel/debug/sched/base_slice_ns").read_text().strip()
        return {"value_ns": int(text), "source": "/sys/kernel/debug/sched/base_slice_ns"}
    except (OSError, ValueError):
        pass
    attr = (getattr_fn or sched_getattr)(0)
    if attr and attr["policy"] in ("other", "batch") and attr["runtime_ns"] > 0:
        return {"value_ns": attr["runtime_ns"],
                "source": "sched_getattr(harness).sched_runtime (Linux 6.12+: the slice in "
                          "force; assumes the harness was given no custom slice)"}
    return {"value_ns": "unknown",
            "reason": "debugfs sched/base_slice_ns not readable and sched_getattr reports no "
                      "fair slice (kernel before 6.12, or the harness is not SCHED_OTHER)"}


def rt_throttling(root: Path) -> dict:
    def num(rel: str):
        try:
            return int((root / rel).read_text().strip())
        except (OSError, ValueError):
            return "not visible"
    # Autogroup: with it on, nice weighs threads only against others of the
    # same session (the harness starts each run in a new one).
    return {"rt_runtime_us": num("proc/sys/kernel/sched_rt_runtime_us"),
            "rt_period_us": num("proc/sys/kernel/sched_rt_period_us"),
            "rr_timeslice_ms": num("proc/sys/kernel/sched_rr_timeslice_ms"),
            "autogroup_enabled": num("proc/sys/kernel/sched_autogroup_enabled")}


def rt_allowed(root: Path, euid: int, rtprio_limit: int | None = None) -> tuple[bool, str]:
    """Whether this user may run SCHED_FIFO/RR threads, and why not."""
    thr = rt_throttling(root)
    if rtprio_limit is None:
        rtprio_limit = resource.getrlimit(resource.RLIMIT_RTPRIO)[0]
    if thr["rt_runtime_us"] == 0:
        return False, "kernel.sched_rt_runtime_us is 0: real-time threads would never run"
    throttle = ("no RT throttling" if thr["rt_runtime_us"] == -1 else
                f"RT throttling {thr['rt_runtime_us']} us per {thr['rt_period_us']} us")
    if euid == 0:
        return True, f"root; {throttle}"
    if rtprio_limit == resource.RLIM_INFINITY or rtprio_limit > 0:
        return True, f"RLIMIT_RTPRIO {rtprio_limit} (priorities up to it); {throttle}"
    return False, ("not root and RLIMIT_RTPRIO is 0: run as root or raise it "
                   "(limits.conf rtprio) for policy fifo/rr")


def custom_slice_probe() -> tuple[bool, str]:
    """Asks for a 300 us slice on a throw-away thread and reads it back: the
    kernel before 6.12 accepts and ignores it."""
    result: dict = {}

    def probe() -> None:
        err = _setattr_self(0, 300_000)
        result["err"] = err
        result["attr"] = sched_getattr(0) if not err else None

    t = threading.Thread(target=probe)
    t.start()
    t.join()
    if result["err"]:
        return False, f"sched_setattr(other, sched_runtime 300 us): {os.strerror(result['err'])}"
    got = (result["attr"] or {}).get("runtime_ns")
    if got == 300_000:
        return True, "sched_setattr sched_runtime is applied (slice_us works; no privilege needed)"
    return False, (f"asked for a 300 us slice, the kernel reports {got} ns: custom slices "
                   "need Linux 6.12+ (slice_us will skip)")
