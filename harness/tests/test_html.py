"""The HTML report opens in headless Chromium and shows the claims table."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import synthrun  # noqa: E402

from harness.cli import run_main  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def test_html_self_contained(tmp_path):
    d = synthrun.make_run(tmp_path / "run", synthrun.full_matrix(), reps=3)
    assert run_main(["report", str(d)]) == 0
    html = (d / "report.html").read_text()
    assert "data:image/png;base64," in html
    # No network needed to view it: nothing is fetched from elsewhere.
    assert "http://" not in html.split("<h2 id=\"reproductions\">")[0]
    assert "<script" not in html and "<link" not in html


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (make deps installs it)")
def test_chromium_renders_claims_table(tmp_path):
    d = synthrun.make_run(tmp_path / "run", synthrun.full_matrix(), reps=3)
    assert run_main(["report", str(d)]) == 0
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
           f"--user-data-dir={tmp_path / 'profile'}", (d / "report.html").as_uri()]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    dom = res.stdout
    assert '<table id="claims-table">' in dom
    assert dom.count('class="claim-row"') == 9
    assert "setup as intended" in dom and "The instruments' own cost" in dom
    for verdict in ("supported", "not tested here"):
        assert verdict in dom
