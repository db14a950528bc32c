"""CPU lists as Linux writes them ("0-3,8": /sys/devices/system/cpu/online,
taskset, the workload's cpus parameter), read and written in one place."""

from __future__ import annotations

import re

_LIST = re.compile(r"^\d+(-\d+)?(,\d+(-\d+)?)*$")


def parse(text) -> tuple[int, ...]:
    """"0", "0-1", "0,2-3" -> (0, 1, ...), sorted; None or "" -> ().
    ValueError when malformed or a range runs backwards."""
    text = "" if text is None else str(text).strip()
    if not text:
        return ()
    if not _LIST.match(text):
        raise ValueError(f"cpus {text!r} is not a CPU list such as 0 or 0-1")
    cpus: set[int] = set()
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        if int(hi or lo) < int(lo):
            raise ValueError(f"cpus {text!r}: range {part} runs backwards")
        cpus.update(range(int(lo), int(hi or lo) + 1))
    return tuple(sorted(cpus))


def label(cpus) -> str:
    """The shortest CPU list of some CPUs: [0, 1, 2, 5] -> "0-2,5"; none -> ""."""
    spans: list[list[int]] = []
    for c in sorted(set(cpus)):
        if spans and c == spans[-1][1] + 1:
            spans[-1][1] = c
        else:
            spans.append([c, c])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)
