"""The built workload (build/workload, or $SCHEDLAB_BUILD/workload) for the
tests that run cells through it for real: where it is, the mark that skips
them when it is not built, its --list, and the skip for a model it lacks."""
import json
import os
import subprocess
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKLOAD = Path(os.environ.get("SCHEDLAB_BUILD", ROOT / "build")) / "workload"
SCHEMA = ROOT / "schemas" / "record.schema.json"

NEEDS_WORKLOAD = pytest.mark.skipif(not WORKLOAD.exists(),
                                    reason="build/workload is not built: run `make build`")


@lru_cache(maxsize=None)
def listing():
    out = subprocess.run([str(WORKLOAD), "--list"], capture_output=True, text=True,
                         timeout=30, check=True)
    return json.loads(out.stdout)


def need_model(model):
    for m in listing()["models"]:
        if m["name"] == model:
            if not m.get("available", True):
                pytest.skip(f"model {model} unavailable here: {m.get('reason')}")
            return
    pytest.skip(f"model {model} is not in this build")
