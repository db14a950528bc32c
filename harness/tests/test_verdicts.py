"""Verdict rules on synthetic records: every verdict reachable, a missing
experiment gives "not testable here" with a reason, never a crash."""

import sys
import tomllib
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import synthrun  # noqa: E402

from harness import verdicts  # noqa: E402
from harness.rundir import load_run  # noqa: E402
from harness.report import DEFAULT_CLAIMS  # noqa: E402

CLAIMS = tomllib.loads(DEFAULT_CLAIMS.read_text())["claim"]


def judge(tmp_path, specs, env=None, reps=5):
    run = load_run(synthrun.make_run(tmp_path / "run", specs, reps=reps, env=env))
    ctx = verdicts.Context(cells=run.cells(), env=run.env)
    return {c["id"]: c for c in verdicts.evaluate(CLAIMS, ctx)}


def test_claims_file_has_c1_to_c9_and_known_rules():
    assert [c["id"] for c in CLAIMS] == [f"C{i}" for i in range(1, 10)]
    for c in CLAIMS:
        for p in c["part"]:
            assert p["rule"] in verdicts.RULES, (c["id"], p["rule"])


def test_full_matrix_verdicts(tmp_path):
    v = judge(tmp_path, synthrun.full_matrix())
    assert v["C1"]["verdict"] == verdicts.SUPPORTED
    assert v["C2"]["verdict"] == verdicts.SUPPORTED
    assert v["C3"]["verdict"] == verdicts.SUPPORTED
    assert v["C4"]["verdict"] == verdicts.SUPPORTED
    assert v["C7"]["verdict"] == verdicts.SUPPORTED
    # The coroutine that yields in its critical section is the caveat.
    assert v["C8"]["verdict"] == verdicts.NUANCED
    assert "yields inside its critical section" in v["C8"]["why"]
    assert v["C9"]["verdict"] == verdicts.UNTESTABLE
    assert "not of a measurement" in v["C9"]["why"]
    for c in v.values():
        assert c["verdict"] in verdicts.VERDICTS


def test_empty_run_every_claim_untestable_with_reason(tmp_path):
    v = judge(tmp_path, [])
    for cid, c in v.items():
        assert c["verdict"] == verdicts.UNTESTABLE, cid
        assert c["why"], cid
    assert "no spawn/coro cell" in v["C1"]["why"]


def test_refuted_when_threads_switch_as_cheaply(tmp_path):
    specs = [synthrun.Spec("pingpong", m, {"placement": "same"},
                           lambda r: {"handoff_ns": synthrun.jitter(r, 100.0)})
             for m in ("threads", "coro")]
    specs[0].metrics = lambda r: {"handoff_ns": synthrun.jitter(r, 60.0)}
    assert judge(tmp_path, specs)["C2"]["verdict"] == verdicts.REFUTED


def test_nuanced_when_placements_disagree(tmp_path):
    specs = []
    for place, thr in (("same", 3000.0), ("split", 5.0)):
        specs.append(synthrun.Spec("pingpong", "threads", {"placement": place},
                                   lambda r, t=thr: {"handoff_ns": synthrun.jitter(r, t)}))
        specs.append(synthrun.Spec("pingpong", "coro", {"placement": place},
                                   lambda r: {"handoff_ns": synthrun.jitter(r, 12.0)}))
    c2 = judge(tmp_path, specs)["C2"]
    assert c2["verdict"] == verdicts.NUANCED
    assert "placement=same: supported" in c2["why"]
    assert "placement=split: refuted" in c2["why"]


def test_skipped_cells_give_their_reason(tmp_path):
    specs = [synthrun.Spec("spawn", "coro", {"tasks": 10}, {}, status="skipped",
                           reason="needs vm.max_map_count raised; run as root"),
             synthrun.Spec("spawn", "threads", {"tasks": 10},
                           {"user_bytes_per_task": 8000, "kernel_bytes_per_task": 24000,
                            "create_ns": 10000})]
    c1 = judge(tmp_path, specs)["C1"]
    assert c1["verdict"] == verdicts.UNTESTABLE
    assert "vm.max_map_count" in c1["why"]


def test_one_cpu_makes_parallelism_untestable(tmp_path):
    specs = [s for s in synthrun.full_matrix() if s.task == "compute"]
    env = {"cpu": {"count": 1}, "affinity": "0"}
    c3 = judge(tmp_path, specs, env=env)["C3"]
    # The threads part cannot show parallelism on one CPU; the coro part
    # still votes, and the reason is kept.
    assert "only 1 CPU" in c3["why"]
    assert c3["parts"][0]["verdict"] == verdicts.UNTESTABLE


def test_usdt_traced_cells_never_judged(tmp_path):
    specs = [synthrun.Spec("pingpong", "threads", {"placement": "same"},
                           {"handoff_ns": 2000.0}),
             synthrun.Spec("pingpong", "coro", {"placement": "same"},
                           {"handoff_ns": 5000.0}, usdt=True)]
    c2 = judge(tmp_path, specs)["C2"]
    assert c2["verdict"] == verdicts.UNTESTABLE


@pytest.mark.parametrize("rule", sorted(verdicts.RULES))
def test_malformed_part_does_not_crash(rule):
    ctx = verdicts.Context(cells=[])
    res = verdicts.evaluate_part({"rule": rule, "what": "x"}, ctx)
    assert res.verdict == verdicts.UNTESTABLE


def test_combine():
    R = verdicts.Result
    assert verdicts.combine([R("supported", "a"), R("supported", "b")]).verdict == "supported"
    assert verdicts.combine([R("refuted", "a"), R("refuted", "b")]).verdict == "refuted"
    mixed = verdicts.combine([R("supported", "a", what="p1"), R("refuted", "b", what="p2")])
    assert mixed.verdict == "nuanced" and "p1: supported" in mixed.why
    part = verdicts.combine([R("supported", "a"), R(verdicts.UNTESTABLE, "no CPU")])
    assert part.verdict == "supported" and "not tested: no CPU" in part.why
    assert verdicts.combine([R(verdicts.UNTESTABLE, "x")]).verdict == verdicts.UNTESTABLE


@pytest.mark.parametrize("spec,n", [("0", 1), ("0-1", 2), ("0,2-3", 3), ("x", None), (None, None)])
def test_cpu_list_count(spec, n):
    assert verdicts._cpu_list_count(spec) == n


def test_env_cpu_count_layouts():
    assert verdicts.env_cpu_count({"affinity": "0-1"}) == 2
    assert verdicts.env_cpu_count({"cpu": {"count": 4}}) == 4
    assert verdicts.env_cpu_count({"cpu": {"affinity": [0]}}) == 1
    assert verdicts.env_cpu_count({}) is None
