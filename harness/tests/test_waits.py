"""The report's "who delayed me", flame graphs and bill (harness/present/
waits.py) on real recordings: threads and coro pingpong over a pipe, traced
with the delay and stacks probes, kept as the runner keeps them (folded files
beside the document), rendered into a page and checked in headless Chromium.

Needs root, kernel BTF, a built tracer and workload; the Chromium check also
the flame graph renderer (make deps) and chromium; each skips with its reason.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from harness.present import waits
from harness.records.rundir import CellResults
from harness.run import probes
from harness.tests.test_schedtrace import TRACER, WORKLOAD, needs_bpf

pytestmark = [pytest.mark.bpf, pytest.mark.root, needs_bpf]
CHROMIUM = "/usr/bin/chromium"


def traced_cell(run: Path, model: str) -> CellResults:
    """One real repetition, as the runner records it."""
    name = f"pingpong-{model}"
    trace = run / "traces" / f"{name}.schedtrace.json"
    trace.parent.mkdir(parents=True, exist_ok=True)
    wanted = "sched,delay,stacks" + (",usdt" if model != "threads" else "")
    subprocess.run([str(TRACER), "--json", str(trace), "--probes", wanted, "--cost",
                    "--", str(WORKLOAD), "pingpong", "--model", model, "--channel", "pipe",
                    "--iterations", "2000"], check=True, capture_output=True, timeout=120)
    w = probes.Wrapped(command=[], outputs={"schedtrace": trace})
    got, skipped = probes.collect(w)
    assert not skipped, skipped
    line = {"status": "ok", "probes": got,
            "probe_files": {"schedtrace": str(trace.relative_to(run))}}
    return CellResults(id=f"pingpong model={model}", task="pingpong", model=model,
                       params={}, lines=[line])


@pytest.fixture(scope="module")
def recorded():
    if not WORKLOAD.exists():
        pytest.skip("build/workload not built: run make")
    run = Path(tempfile.mkdtemp(prefix="waits-"))
    cells = [traced_cell(run, m) for m in ("threads", "coro")]
    yield run, cells, waits.section(cells, run)
    shutil.rmtree(run, ignore_errors=True)


def test_folded_files_beside_the_document_and_the_line_trimmed(recorded):
    run, cells, _ = recorded
    folded = run / "traces" / "pingpong-threads.offcpu.folded"
    lines = folded.read_text().splitlines()
    assert lines and all(ln.rsplit(" ", 1)[1].isdigit() for ln in lines)
    kept = cells[0].lines[0]["probes"]["schedtrace"]["stacks"]["kinds"]["offcpu"]
    assert len(kept["folded"]) <= probes.LINE_FOLDED_ROWS
    assert len(kept["folded"]) + kept["omitted"] >= len(lines)


def test_who_delayed_me_and_the_bill(recorded):
    _, _, sec = recorded
    threads = next(c for c in sec["cells"] if c["model"] == "threads")
    assert len(threads["delayed"]) >= 2
    assert all(t["culprits"] for t in threads["delayed"])
    coro = next(c for c in sec["cells"] if c["model"] == "coro")
    assert coro["coroutines"] and "switches" in coro["coroutines"]
    probes_billed = {r["probe"] for b in sec["bills"] for r in b["rows"]}
    assert {"sched", "delay", "stacks"} <= probes_billed
    # --cost: the run time is measured, so ns per run is a number
    assert all(r["ns_per_run"] != "n/a" for b in sec["bills"] for r in b["rows"]
               if r["probe"] == "delay")
    # and each cell's bill stands beside its figures
    for c in sec["cells"]:
        assert c["bill"].startswith("Tracer's bill: ") and "delay" in c["bill"], c["bill"]
        assert "of the window's CPU time" in c["bill"], c["bill"]


def test_flame_graph_pair_threads_block_coroutines_park(recorded):
    _, _, sec = recorded
    kinds = {(c["model"], f["kind"]) for c in sec["cells"] for f in c["flames"]}
    assert ("threads", "offcpu") in kinds and ("coro", "park") in kinds
    park = next(f for c in sec["cells"] for f in c["flames"]
                if (c["model"], f["kind"]) == ("coro", "park"))
    data = json.loads(park["data"].replace("<\\/", "</"))
    assert data["name"] == "coro" and data["value"] == sum(c["value"] for c in data["children"])


def page(sec: dict) -> str:
    import jinja2
    from harness import format as fmt
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(
        str(Path(waits.__file__).parent / "templates")), autoescape=True,
        undefined=jinja2.StrictUndefined)
    env.filters.update(fmt=fmt.num)
    env.globals.update(waits_by_task=waits.by_task(sec), waits_assets=waits.assets(sec))
    body = env.get_template("waits.html.j2").render(doc={"waits": sec})
    return f"<!doctype html><html><body>{body}</body></html>"


def test_flame_graphs_render_in_headless_chromium(recorded, tmp_path):
    _, _, sec = recorded
    if waits.assets(sec)["missing"]:
        pytest.skip(waits.assets(sec)["missing"])
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not installed (make deps)")
    html = tmp_path / "report.html"
    html.write_text(page(sec))
    dom = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
         "--virtual-time-budget=5000", "--dump-dom", html.as_uri()],
        capture_output=True, text=True, timeout=120).stdout
    graphs = sum(len(c["flames"]) for c in sec["cells"])
    assert dom.count('data-rendered="1"') == graphs, dom[-2000:]
    assert dom.count('class="bill"') >= graphs
    assert dom.count("<rect") > graphs
    assert "coro_park" in dom and "receive" in dom


def test_coroutine_delays_cut_each_wait_along_the_thread_s_segments():
    ev = [{"ts_ns": 0, "type": "coro_switch", "tid": 7, "tgid": 7, "from": 0, "to": 1},
          {"ts_ns": 10, "type": "coro_ready", "tid": 7, "tgid": 7, "coro": 2},
          {"ts_ns": 20, "type": "coro_switch", "tid": 7, "tgid": 7, "from": 1, "to": 0},
          {"ts_ns": 40, "type": "coro_switch", "tid": 7, "tgid": 7, "from": 0, "to": 2},
          # made ready before anything was recorded on this thread
          {"ts_ns": 5, "type": "coro_ready", "tid": 8, "tgid": 7, "coro": 3},
          {"ts_ns": 50, "type": "coro_switch", "tid": 8, "tgid": 7, "from": 0, "to": 3}]
    ev.sort(key=lambda e: e["ts_ns"])
    rows = {r["coro"]: r for r in waits.coroutine_delays(ev)}
    assert rows[2]["waits"] == 1
    assert rows[2]["culprits"] == ["scheduler 66.7%", "coro 1 33.3%"]
    assert rows[2]["remainder"] == "0.0%"
    assert rows[3]["culprits"] == [] and rows[3]["remainder"] == "100.0%"
