"""fleet/lava: the test definition and the example job against LAVA's own
schemas (Debian's lava-common), the conversion of a real report.json into
lava-test-case lines, and the definition's run step with make and LAVA's
helpers replaced by recorders."""

from __future__ import annotations

import copy
import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from harness import REPO
from harness.present import lava

DATA = Path(__file__).parent / "data"
LAVA = REPO / "fleet/lava"
REPORT = json.loads((DATA / "report-fleet-smoke.json").read_text())

schemas = pytest.importorskip("lava_common.schemas",
                              reason="needs Debian's lava-common (make deps installs it)")
from lava_common.schemas.test import testdef  # noqa: E402
from voluptuous import Invalid  # noqa: E402


def test_definition_has_what_lava_requires():
    d = yaml.safe_load((LAVA / "schedlab.yaml").read_text())
    testdef.validate(d)
    assert d["metadata"]["format"] == "Lava-Test Test Definition 1.0"
    (step,) = d["run"]["steps"]
    program = step.split()[0]
    assert os.access(REPO / program, os.X_OK), f"{program} is not an executable in the repo"
    used = set(re.findall(r"\$(\w+)", step))
    assert used == set(d["params"]), "every parameter the step uses is declared, and no other"
    broken = copy.deepcopy(d)
    broken["metadata"]["format"] = "Lava-Test-Shell Test Definition 1.0"
    with pytest.raises(Invalid):
        testdef.validate(broken)


def test_example_job_validates_with_lavas_job_schema():
    job = yaml.safe_load((LAVA / "job.example.yaml").read_text())
    schemas.validate(job)
    (test,) = [a["test"] for a in job["actions"] if "test" in a]
    (definition,) = test["definitions"]
    assert definition["path"] == "fleet/lava/schedlab.yaml"
    defined = yaml.safe_load((LAVA / "schedlab.yaml").read_text())["params"]
    assert set(definition["parameters"]) <= set(defined)
    for broken in ({k: v for k, v in job.items() if k != "visibility"},
                   {**job, "timeouts": {"job": {"minutes": 1}, "action": {"minutes": 5}}}):
        with pytest.raises(Invalid):
            schemas.validate(broken)


def test_real_report_becomes_test_cases(tmp_path):
    (tmp_path / "catalog.json").write_text((DATA / "catalog-fleet-smoke.json").read_text())
    cases = lava.lava_cases(REPORT, tmp_path)
    claims = {argv[1]: argv[3] for argv in cases if argv[1].startswith("claim-")}
    want = {f"claim-{c['id']}": lava.VERDICT_RESULT[c["verdict"]] for c in REPORT["claims"]}
    assert claims == want and len(claims) == 9
    assert claims["claim-C9"] == "skip"         # not tested here
    metrics = [argv for argv in cases if not argv[1].startswith("claim-")]
    handoff = [a for a in metrics if a[1].endswith(".handoff_ns")]
    assert len(handoff) == 2                    # threads and coro
    for argv in metrics:
        assert argv[0] == "lava-test-case" and argv[2:4] == ["--result", "pass"]
        assert argv[4] == "--measurement" and float(argv[5]) >= 0 and argv[6] == "--units"
    assert {a[7] for a in handoff} == {"ns"}
    cell = next(c for c in REPORT["cells"] if c["task"] == "pingpong")
    mine = next(a for a in handoff if a[1] == lava.case_name(f"{cell['id']}.handoff_ns"))
    assert float(mine[5]) == pytest.approx(cell["metrics"]["handoff_ns"]["median"], rel=1e-5)
    for argv in cases:
        assert re.fullmatch(r"[-_a-zA-Z0-9.]{1,100}", argv[1]), argv[1]


def test_long_names_stay_distinct():
    a, b = lava.case_name("x" * 150 + "a"), lava.case_name("x" * 150 + "b")
    assert len(a) == len(b) == 100 and a != b


FAKE = """#!/bin/sh
echo "$(basename "$0") $*" >> "{log}"
"""
FAKE_MAKE = """#!/bin/sh
echo "make $*" >> "{log}"
for a in "$@"; do case $a in OUT=*) out=${{a#OUT=}};; RESUME=*) out=${{a#RESUME=}};; esac; done
mkdir -p "$out"
cp "{data}/report-fleet-smoke.json" "$out/report.json"
cp "{data}/catalog-fleet-smoke.json" "$out/catalog.json"
echo '{{}}' > "$out/run.json"
"""


def test_run_step_reports_the_run_claims_and_results(tmp_path):
    if shutil.which("sh") is None:
        pytest.skip("needs sh")
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.log"
    bin_dir.mkdir()
    for name, text in (("make", FAKE_MAKE), ("lava-test-case", FAKE),
                       ("lava-test-reference", FAKE)):
        (bin_dir / name).write_text(text.format(log=log, data=DATA))
        (bin_dir / name).chmod(0o755)
    out = tmp_path / "results/lava"
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}")

    def step() -> list[str]:
        log.write_text("")
        p = subprocess.run([str(LAVA / "run-schedlab"), "configs/default.toml", "7", str(out),
                            "", ""], cwd=REPO, env=env, capture_output=True, text=True,
                           timeout=120)
        assert p.returncode == 0, p.stderr
        return log.read_text().splitlines()

    calls = step()
    assert calls[0] == f"make --no-print-directory run CONFIG=configs/default.toml OUT={out} SEED=7"
    assert calls[1] == "lava-test-case schedlab-run --result pass"
    assert sum(c.startswith("lava-test-case claim-") for c in calls) == 9
    assert any("--measurement" in c for c in calls)
    assert calls[-1] == "lava-test-case schedlab-results --result skip"
    assert (tmp_path / "results/lava.tar.gz").is_file()
    # the same step again finds the run and resumes it
    assert step()[0] == f"make --no-print-directory run RESUME={out}"
    assert shlex.split(calls[2])[0] == "lava-test-case"
