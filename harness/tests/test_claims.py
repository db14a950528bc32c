"""configs/claims.toml is checked data: the file as committed loads against
the catalog and the config it names, and each kind of broken claim stops
`schedlab report` with exit 2 and one line naming the claim, part and key."""

import sys
import tomllib
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import synthrun  # noqa: E402
from builtworkload import listing  # noqa: E402

from harness import REPO  # noqa: E402
from harness.analyse import claims, verdicts  # noqa: E402
from harness.cli import run_main  # noqa: E402

TEXT = claims.DEFAULT.read_text()
CLAIMS = tomllib.loads(TEXT)["claim"]


def test_the_committed_file_loads_with_every_name_checked():
    got = claims.load(claims.DEFAULT, listing())
    assert got.names_checked
    assert [c["id"] for c in got.claims] == [c["id"] for c in CLAIMS]


@pytest.mark.parametrize("claim", CLAIMS, ids=[c["id"] for c in CLAIMS])
def test_every_part_names_a_rule_and_role_the_verdicts_know(claim):
    for part in claim["part"]:
        assert part["rule"] in verdicts.RULES, (claim["id"], part["what"])
        assert part.get("role", "test") in verdicts.ROLES


@pytest.mark.parametrize("claim", CLAIMS, ids=[c["id"] for c in CLAIMS])
def test_every_test_part_says_why_its_outcome_is_not_fixed_by_design(claim):
    for part in claim["part"]:
        if part.get("role", "test") == "test" and part["rule"] != "untestable":
            assert part.get("not_fixed_by"), (claim["id"], part["what"])


# Each broken claim: an edit of the committed file, and what the one line names.
BROKEN = {
    "unknown rule": ('rule = "speedup"', 'rule = "speedup_of_sorts"', "C3", "'rule'"),
    "string threshold": ("supported_below = 0.5", 'supported_below = "0.5"', "C1",
                         "'supported_below'"),
    "unknown metric": ('metric = "create_ns"', 'metric = "create_nanos"', "C1", "create_nanos"),
    "unknown parameter": ('split_by = ["stack", "stack_touch_bytes"]', 'split_by = ["stak"]', "C1",
                          "stak"),
    "missing experiment": ('experiments = ["spawn"]', 'experiments = ["spawn-everything"]', "C1",
                           "spawn-everything"),
    "missing num": ('  num = "coro"\n  den = "threads"\n  supported_below = 0.5',
                    '  den = "threads"\n  supported_below = 0.5', "C1", "'num'"),
}


@pytest.mark.parametrize("kind", BROKEN)
def test_a_broken_claim_exits_2_with_one_line(tmp_path, capsys, kind):
    old, new, cid, key = BROKEN[kind]
    assert old in TEXT, kind
    bad = tmp_path / "claims.toml"
    bad.write_text(TEXT.replace(old, new, 1))
    run = synthrun.make_run(tmp_path / "run", synthrun.full_matrix(), reps=2)
    (run / "catalog.json").write_text(__import__("json").dumps(listing()))
    assert run_main(["report", str(run), "--claims", str(bad), "--no-plots"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert f"claim {cid}" in err[0] and key in err[0], err[0]
    assert "Traceback" not in err[0] and str(REPO) not in err[0]
