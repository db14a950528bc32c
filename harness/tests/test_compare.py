"""compare: ratios with intervals, significance, geometric means."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import synthrun  # noqa: E402

from harness.analyse import compare  # noqa: E402
from harness.records import catalog  # noqa: E402
from harness.records.rundir import load_run  # noqa: E402
from harness.run import catalog as run_catalog  # noqa: E402
from harness.cli import run_main  # noqa: E402

# what every synthetic run saves as its catalog.json
CAT = catalog.parse(run_catalog.with_peers(json.loads(synthrun.LISTING.read_text())))


@pytest.fixture(scope="module")
def run_a(tmp_path_factory):
    return synthrun.make_run(tmp_path_factory.mktemp("a") / "run", synthrun.full_matrix())


def test_self_compare_no_significant_change(run_a, tmp_path, capsys):
    out = tmp_path / "cmp.json"
    assert run_main(["compare", str(run_a), str(run_a), "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["rows"] and doc["significant"] == 0
    for r in doc["rows"]:
        if r["ratio"] is not None:
            assert r["ratio"] == pytest.approx(1.0)
            assert r["lo"] <= 1.0 <= r["hi"]
    for ms in doc["geomeans"].values():
        for g in ms.values():
            assert g == pytest.approx(1.0)
    assert "0 significant change(s)" in capsys.readouterr().out


def test_slower_run_flagged(run_a, tmp_path):
    b = synthrun.make_run(tmp_path / "b", synthrun.full_matrix(scale=1.5), seed=7)
    doc = compare.compare(load_run(run_a).cells(), load_run(b).cells(), CAT)
    rows = {(r["cell"], r["metric"]): r for r in doc["rows"]}
    r = rows[("pingpong/coro/channel=event,placement=same,iterations=200000,cpus=0-1",
              "handoff_ns")]
    assert r["significant"] and r["change"] == "worse"
    assert r["ratio"] == pytest.approx(1.5, rel=0.05)
    assert r["lo"] > 1.0
    thr = rows[("compute/threads/workers=2,cpus=0-1", "units_per_s")]
    assert thr["significant"] and thr["change"] == "worse" and thr["ratio"] < 1
    assert doc["geomeans"]["pingpong"]["handoff_ns"] == pytest.approx(1.5, rel=0.05)


def test_small_change_below_threshold_not_flagged(tmp_path):
    specs_a = [synthrun.Spec("pingpong", "coro", {"placement": "same"}, {"handoff_ns": 100.0})]
    specs_b = [synthrun.Spec("pingpong", "coro", {"placement": "same"}, {"handoff_ns": 102.0})]
    a = load_run(synthrun.make_run(tmp_path / "a", specs_a)).cells()
    b = load_run(synthrun.make_run(tmp_path / "b", specs_b)).cells()
    row = compare.compare(a, b, CAT)["rows"][0]
    assert row["ratio"] == pytest.approx(1.02) and not row["significant"]
    assert compare.compare(a, b, CAT, threshold=0.01)["rows"][0]["significant"]


def test_fewer_than_five_runs_never_significant(tmp_path):
    spec = [synthrun.Spec("pingpong", "coro", {}, lambda r: {"handoff_ns": r.uniform(99, 101)})]
    slow = [synthrun.Spec("pingpong", "coro", {}, lambda r: {"handoff_ns": r.uniform(199, 201)})]
    a = load_run(synthrun.make_run(tmp_path / "a", spec, reps=5)).cells()
    for reps, significant in ((1, False), (4, False), (5, True)):
        b = load_run(synthrun.make_run(tmp_path / f"b{reps}", slow, reps=reps)).cells()
        row = compare.compare(a, b, CAT)["rows"][0]
        assert row["ratio"] == pytest.approx(2.0, rel=0.02)
        assert row["significant"] is significant, reps
        assert ("fewer than 5 runs" in row["note"]) is not significant


def test_cells_in_one_run_only_listed(tmp_path):
    a = synthrun.make_run(tmp_path / "a", [synthrun.Spec("x", "coro", {}, {"y_ns": 1.0})])
    b = synthrun.make_run(tmp_path / "b", [synthrun.Spec("z", "coro", {}, {"y_ns": 1.0})])
    doc = compare.compare(load_run(a).cells(), load_run(b).cells(), CAT)
    assert doc["only_in_a"] == ["x/coro/"] and doc["only_in_b"] == ["z/coro/"]


def test_bad_input(tmp_path, capsys):
    assert run_main(["compare", str(tmp_path), str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err


def test_a_change_on_busy_cpus_is_not_judged(run_a, tmp_path):
    """The same slower run B, but its compute cells' CPUs were busy with other
    work: their change is named, not flagged; the quiet cells are flagged as before."""
    b = synthrun.make_run(tmp_path / "b", synthrun.full_matrix(scale=1.5), seed=7)
    synthrun.set_interference(b, "compute", 0.4)
    doc = compare.compare(load_run(run_a).cells(), load_run(b).cells(), CAT)
    rows = {(r["cell"], r["metric"]): r for r in doc["rows"]}
    thr = rows[("compute/threads/workers=2,cpus=0-1", "units_per_s")]
    assert not thr["significant"] and "run B: the CPUs were busy" in thr["note"]
    assert "a median 40% of CPUs 0-1" in thr["note"]
    assert rows[("pingpong/coro/channel=event,placement=same,iterations=200000,cpus=0-1",
                 "handoff_ns")]["significant"]


def test_memory_is_judged_on_busy_cpus(run_a, tmp_path):
    """Bytes do not change with what else runs: a spawn cell on busy CPUs
    still has its memory compared; its creation time is not judged."""
    b = synthrun.make_run(tmp_path / "b", synthrun.full_matrix(scale=1.5), seed=7)
    synthrun.set_interference(b, "spawn", 0.4)
    doc = compare.compare(load_run(run_a).cells(), load_run(b).cells(), CAT)
    spawn = [r for r in doc["rows"] if r["task"] == "spawn"]
    memory = [r for r in spawn if "bytes" in r["metric"]]
    timing = [r for r in spawn if "bytes" not in r["metric"] and r["ratio"] is not None]
    assert memory and timing
    assert not any("busy" in r["note"] for r in memory)
    assert all("busy" in r["note"] for r in timing)
