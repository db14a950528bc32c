"""Look at report.html the way a reader's browser shows it: headless
Chromium (Debian's package, scripts/deps), at a given window width.

measure() loads the page with a small script appended that records, after
layout, the page's scroll width, every table's right edge and where the
first screen's list of claims ends, and reads them back from the DOM
Chromium dumps. Chromium runs with a fresh profile and no network
features, so nothing leaves the machine. The tests use them (harness/tests/test_report_browser.py);
`schedlab report` does not need a browser.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars")
TIMEOUT_S = 120

# Runs after layout: every table's right edge and whether it sits in a box
# that scrolls on its own, the page's width, in CSS pixels.
MEASURE = """<script>
window.addEventListener('load', () => {
  const view = document.documentElement.clientWidth;
  const tables = [...document.querySelectorAll('table')].map((t, i) => {
    const box = t.closest('.box');
    return {index: i, id: t.id || '', right: Math.ceil(t.getBoundingClientRect().right),
            width: Math.ceil(t.scrollWidth), in_box: !!box,
            box_right: box ? Math.ceil(box.getBoundingClientRect().right) : null,
            head: [...t.querySelectorAll('th')].slice(0, 3).map(h => h.textContent)};
  });
  const out = document.createElement('pre');
  out.id = 'schedlab-measure';
  const claims = document.getElementById('claims');
  out.textContent = JSON.stringify({view: view,
    page_width: document.documentElement.scrollWidth, tables: tables,
    claims_bottom: claims ? Math.ceil(claims.getBoundingClientRect().bottom) : null});
  document.body.appendChild(out);
});
</script>"""


def available() -> str | None:
    """None when Chromium can run here, else why not."""
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        return f"{CHROMIUM} not installed (Debian package chromium; make deps installs it)"
    return None


def _run(args: list[str], width: int, height: int) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="schedlab-chromium-") as profile:
        return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}",
                               f"--window-size={width},{height}", *args],
                              capture_output=True, text=True, timeout=TIMEOUT_S)


def measure(html: Path, width: int = 1400, height: int = 900) -> dict:
    """{view, page_width, claims_bottom (where the list of claims ends),
    tables: [{index, id, right, width, in_box, box_right, head}]}, in CSS pixels."""
    with tempfile.TemporaryDirectory(prefix="schedlab-page-") as tmp:
        page = Path(tmp) / html.name
        text = html.read_text()
        page.write_text(text.replace("</body>", MEASURE + "</body>", 1))
        res = _run(["--virtual-time-budget=5000", "--dump-dom", page.as_uri()], width, height)
    start = res.stdout.find('<pre id="schedlab-measure">')
    if start < 0:
        raise RuntimeError(f"chromium printed no measurement (exit {res.returncode}): "
                           + res.stderr.strip().splitlines()[-1:][0] if res.stderr.strip()
                           else "no output")
    body = res.stdout[start:].split(">", 1)[1].split("</pre>", 1)[0]
    return json.loads(body.replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">")
                      .replace("&amp;", "&"))
