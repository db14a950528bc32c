"""A run's results as LAVA test cases (fleet/lava/schedlab.yaml runs them).

One `lava-test-case` per claim, its result from the verdict (VERDICT_RESULT),
and one per headline metric of each cell with the median as --measurement and
the catalog's unit as --units. LAVA keeps a test case's name to 100 characters
of [-_a-zA-Z0-9.]; a longer cell id is shortened and keeps a hash of the whole.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from harness.analyse import fleet

# LAVA's results: pass, fail, skip, unknown. A nuanced claim holds only under
# a stated condition: neither pass nor fail.
VERDICT_RESULT = {"supported": "pass", "refuted": "fail", "inconclusive": "skip",
                  "not tested here": "skip", "nuanced": "unknown"}
NAME_MAX = 100


def case_name(text: str) -> str:
    name = re.sub(r"[^-_a-zA-Z0-9.]+", "_", text).strip("_")
    if len(name) <= NAME_MAX:
        return name
    digest = hashlib.sha1(text.encode()).hexdigest()[:8]
    return f"{name[:NAME_MAX - 9]}-{digest}"


def lava_cases(report: dict, run_dir: Path) -> list[list[str]]:
    """The lava-test-case command lines, as argv lists."""
    out = [["lava-test-case", case_name(f"claim-{c['id']}"),
            "--result", VERDICT_RESULT.get(c["verdict"], "unknown")]
           for c in report.get("claims", [])]
    for m in fleet.headline_summaries(report, run_dir):
        out.append(["lava-test-case", case_name(f"{m['cell']}.{m['metric']}"),
                    "--result", "pass", "--measurement", f"{m['summary']['median']:.6g}",
                    "--units", m["unit"] or "count"])
    return out
