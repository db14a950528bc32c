"""report.html in headless Chromium at 1,400 px, as a reader sees it: no
table wider than the window (the page never scrolls sideways), and the first
900 px hold the run, the machine and every claim's line. Skipped, with the
reason, where Chromium is not installed."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import synthrun  # noqa: E402

from harness.cli import run_main  # noqa: E402
from harness.present import browser  # noqa: E402

WIDTH, HEIGHT = 1400, 900


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    why = browser.available()
    if why:
        pytest.skip(why)
    d = synthrun.make_run(tmp_path_factory.mktemp("r") / "run", synthrun.full_matrix())
    assert run_main(["report", str(d), "--no-plots"]) == 0
    return d / "report.html"


@pytest.fixture(scope="module")
def measured(page):
    return browser.measure(page, WIDTH, HEIGHT)


def test_no_table_overflows_the_window(measured):
    m = measured
    assert m["view"] == WIDTH
    assert len(m["tables"]) > 10
    wide = [t for t in m["tables"] if t["right"] > m["view"]]
    assert not wide, f"tables past {WIDTH} px: {wide[:3]}"
    assert m["page_width"] <= m["view"], "the page scrolls sideways"


def test_first_screen_holds_every_claim(measured):
    m = measured
    assert m["claims_bottom"] is not None and m["claims_bottom"] <= HEIGHT, m["claims_bottom"]
