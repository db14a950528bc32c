"""The report's first screen states the run's state: an unfinished run says
"incomplete: N of M runs" first, a repeated (cell, repetition) line counts
once with a warning, an empty run says so, every skipped cell is listed with
its reason, and each claim has its plain-words line."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import synthrun  # noqa: E402

from harness.cli import run_main  # noqa: E402

SPECS = [synthrun.Spec("pingpong", m, {"channel": "pipe", "placement": "same", "cpus": "0"},
                       {"handoff_ns": 100.0 if m == "coro" else 2000.0, "handoffs": 2000})
         for m in ("threads", "coro")]


def _run(tmp_path, specs=SPECS, planned=None, reps=5):
    d = synthrun.make_run(tmp_path / "run", specs, reps=reps)
    if planned is not None:
        (d / "run.json").write_text(json.dumps({"schema": 1, "planned_runs": planned,
                                                "started_at": "2026-12-06T22:00:00Z"}))
    assert run_main(["report", str(d), "--no-plots"]) == 0
    return d


def _first_text(d: Path) -> str:
    md = (d / "report.md").read_text()
    return md.split("\n\n", 2)[1]


def test_unfinished_run_says_so_first(tmp_path):
    d = _run(tmp_path, planned=40)
    assert _first_text(d).startswith("**incomplete: 10 of 40 runs")
    html = (d / "report.html").read_text()
    assert html.index("incomplete: 10 of 40 runs") < html.index('id="claims"')
    doc = json.loads((d / "report.json").read_text())
    assert doc["state"]["done"] == 10 and not doc["state"]["complete"]


def test_complete_run_has_no_state_warning(tmp_path):
    d = _run(tmp_path, planned=10)
    doc = json.loads((d / "report.json").read_text())
    assert doc["state"]["complete"] and "incomplete" not in (d / "report.md").read_text()


def test_repeated_line_counted_once(tmp_path):
    d = synthrun.make_run(tmp_path / "run", SPECS)
    lines = (d / "records.jsonl").read_text().splitlines()
    (d / "records.jsonl").write_text("\n".join(lines + lines[:1]) + "\n")
    assert run_main(["report", str(d), "--no-plots"]) == 0
    doc = json.loads((d / "report.json").read_text())
    assert doc["state"]["done"] == 10
    assert all(c["repetitions"] == 5 for c in doc["cells"])
    assert any("appears 2 times" in p for p in doc["problems"])


def test_empty_run_says_so(tmp_path):
    d = tmp_path / "run"
    d.mkdir()
    (d / "records.jsonl").write_text("")
    (d / "run.json").write_text(json.dumps({"planned_runs": 12}))
    assert run_main(["report", str(d), "--no-plots"]) == 0
    assert "empty: no run has finished yet (0 of 12 planned)" in _first_text(d)


def test_skipped_cells_listed_with_reason(tmp_path):
    specs = SPECS + [synthrun.Spec("spawn", "uring", {"tasks": 10}, {}, status="skipped",
                                   reason="io_uring disabled (kernel.io_uring_disabled=2)")]
    d = _run(tmp_path, specs)
    md = (d / "report.md").read_text()
    skipped = md[md.index("## Skipped"):]
    assert "Nothing was skipped" not in skipped
    assert "spawn/uring/tasks=10: skipped 5: io_uring disabled" in skipped


def test_answer_in_plain_words(tmp_path):
    d = _run(tmp_path)
    doc = json.loads((d / "report.json").read_text())
    c2 = next(a for a in doc["answers"] if a["id"] == "C2")
    # threads 2 us against coro 100 ns: the direction and the size, with units
    assert "threads 2 us, coro 100 ns; threads 20x higher" in c2["answer"]
    assert c2["says"].startswith("Threads have a higher overhead")


def test_machine_in_words_on_the_first_screen(tmp_path):
    d = _run(tmp_path)
    html = (d / "report.html").read_text()
    first = html[:html.index('<nav class="toc"')]
    for words in ("AMD EPYC, 2 vCPUs", "GiB", "Linux 6.18", "virtualised (kvm)", "HZ 250",
                  "no forced preemption of kernel code"):
        assert words in first, words


def test_table_of_contents_leads_to_every_section(tmp_path):
    import re
    d = _run(tmp_path)
    html = (d / "report.html").read_text()
    toc = html[html.index('<nav class="toc"'):html.index("</nav>")]
    anchors = re.findall(r'href="#([^"]+)"', toc)
    assert len(anchors) >= 14
    for a in anchors:
        assert f'id="{a}"' in html, a


def test_a_nuanced_claim_says_which_tests_held():
    """Nuanced means some tests held and others did not: the line names
    them, part by part, never row by row."""
    from harness.present import answer

    def part(what, verdict, role="test"):
        return {"what": what, "verdict": verdict, "role": role, "figure": "",
                "rows": [{"label": "threads run_us=1000", "kind": "share", "metric": "lost_any",
                          "k": 9, "n": 20, "verdict": verdict}]}
    claim = {"id": "C8", "says": "s", "verdict": "nuanced", "why": "every row, long",
             "figure": "f", "cpus": "0", "decision": None,
             "parts": [part("threads lose updates", "supported"),
                       part("threads lose more than mn", "refuted"),
                       part("deadlocks", "nuanced"),
                       part("setup holds", "supported", role="control")]}
    spec = {"part": [{"rule": "share"}] * 4}
    words = answer.answer(claim, spec, {}, lambda *a: None)["answer"]
    assert words.startswith("threads run_us=1000: lost any in 9 of 20 runs")
    assert "Holds: threads lose updates. Does not hold: threads lose more than mn" in words
    # a part that is itself nuanced is named too: without it a claim whose
    # one decided test holds reads "nuanced: Holds: ..." and nothing else
    assert "Holds in some settings, not in others: deadlocks" in words
    assert "setup" not in words and "every row" not in words


def test_machine_line_gives_what_a_system_call_costs():
    from harness.present import firstscreen
    env = {"cpu": {"vulnerabilities": {"meltdown": "Mitigation: PTI"}},
           "syscall": {"call": "getppid", "unit": "ns_per_call", "median_ns": 1030.0,
                       "min_ns": 990.0, "max_ns": 1300.0, "repetitions": 11,
                       "calls_per_repetition": 20000, "cpu": 0}}
    rows = dict(firstscreen.machine(env))
    assert rows["system call"] == ("1.03 us (getppid, median of 11 x 20,000 calls, 990 ns to "
                                   "1.3 us; page-table isolation on)")
    env["syscall"] = {"value": "not visible", "reason": "not built"}
    assert "system call" not in dict(firstscreen.machine(env))
