"""`schedlab fleet-report FLEET_DIR`: claims x hosts, and which claims flip
with the machine (the document: harness/analyse/fleet.py).

Writes FLEET_DIR/fleet.md, fleet.html (self-contained) and fleet.json, and
prints the claims table. Sections: the hosts, each machine in one line (and
why a host has no results); claims x hosts (verdict, deciding figure with
its interval and coverage, crossover where the report has one); for every
claim that flips, the machine facts that differ between the hosts that
disagree; the headline metrics side by side with their intervals.

Exit status: 0 written, 2 bad input (not a fleet directory, hosts that ran
different configs), one line on stderr.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from harness.analyse import fleet as fleet_mod
from harness import format as fmt
from harness.records import safefs

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"


def estimate(d: dict) -> str:
    """value [lo, hi] coverage, from a figure or a metric summary."""
    if d.get("median") is not None:
        return fmt.estimate(d["median"], d.get("ci_lo"), d.get("ci_hi"), d.get("ci_confidence"))
    return d.get("figure") or "-"


def crossover(d: dict) -> str:
    """The crossover in the report's own words (its "words", or why there is
    none), else its parameter and value with the interval."""
    x = d.get("crossover")
    if not x:
        return ""
    if not isinstance(x, dict):
        return f"crossover: {x}"
    if x.get("value") is None and not x.get("sweeps", True):
        return ""       # nothing was swept on this host: no crossover to show
    if x.get("words") or x.get("none"):
        return f"crossover: {x.get('words') or x['none']}"
    if x.get("value") is None:
        return ""
    return (f"crossover: {x.get('param', '?')} = "
            + fmt.estimate(x["value"], x.get("lo"), x.get("hi"), x.get("confidence"))
            + (f" {x['unit']}" if x.get("unit") else ""))


def cell_text(d: dict | None) -> str:
    if not d:
        return "-"
    return " ".join(s for s in (f"**{d['verdict']}**", d["figure"], crossover(d)) if s)


def value_text(v) -> str:
    if isinstance(v, dict):
        return "; ".join(f"{k}: {s}" for k, s in v.items()) or "none needed"
    return str(v)


def render_md(doc: dict) -> str:
    hosts = [h["name"] for h in doc["hosts"] if h["status"] == "reported"]
    out = ["# schedlab fleet report", "", f"Fleet: `{doc['fleet']}`, config sha256 "
           f"`{(doc['config_sha256'] or 'unknown')[:12]}`, {len(hosts)} host(s) reported "
           f"of {len(doc['hosts'])}.", "", "## Hosts", ""]
    for h in doc["hosts"]:
        line = f"- **{h['name']}**: {h['machine_line']}"
        if h["failed"]:
            line += (f" — FAILED at step \"{h['failed'].get('step')}\": "
                     f"{h['failed'].get('message')}")
        elif h["status"] != "reported":
            line += " — no report.json (run unfinished?)"
        out.append(line)
    out += ["", "## Claims x hosts", "",
            "Verdict and deciding figure (median ratio or level, its interval and the "
            "interval's coverage) per host. A claim flips when its hosts disagree.", "",
            "| claim | " + " | ".join(hosts) + " | flips |",
            "|---|" + "---|" * len(hosts) + "---|"]
    for c in doc["claims"]:
        flag = ("**yes, decided both ways**" if c["decided_both_ways"]
                else "yes" if c["flips"] else "")
        out.append(f"| {c['id']} | " + " | ".join(cell_text(c["hosts"].get(h)) for h in hosts)
                   + f" | {flag} |")
    out += ["", "## What differs where a claim flips", ""]
    flips = [c for c in doc["claims"] if c["flips"]]
    if not flips:
        out.append("No claim flips: every host that reported reached the same verdicts.")
    for c in flips:
        verdicts = ", ".join(f"{h}: {d['verdict']}" for h, d in c["hosts"].items())
        out += [f"### {c['id']}: {c['says']}", "", f"Verdicts: {verdicts}.", ""]
        if not c["differing_keys"]:
            out += ["None of the recorded machine facts differ between the hosts that "
                    "disagree: look at load, noise and the runs' intervals.", ""]
            continue
        out += ["| machine fact | " + " | ".join(c["hosts"]) + " | separates the verdicts |",
                "|---|" + "---|" * len(c["hosts"]) + "---|"]
        for k in c["differing_keys"]:
            out.append(f"| {k['key']} | " + " | ".join(value_text(k["values"][h])
                                                       for h in c["hosts"])
                       + f" | {'yes' if k['separates'] else 'no'} |")
        out.append("")
    out += ["## Headline metrics", "",
            "Median [interval] coverage per host, from each host's report.json.", "",
            "| cell | metric | " + " | ".join(hosts) + " |",
            "|---|---|" + "---|" * len(hosts)]
    for m in doc["metrics"]:
        unit = f" ({m['unit']})" if m["unit"] else ""
        out.append(f"| {m['cell']} | {m['metric']}{unit} | "
                   + " | ".join(estimate(m["hosts"][h]) if h in m["hosts"] else "-"
                                for h in hosts) + " |")
    if len(hosts) >= 2:
        out += ["", f"Per-cell ratios between two hosts: `./schedlab compare "
                f"{doc['fleet']}/{hosts[0]} {doc['fleet']}/{hosts[1]}`."]
    return "\n".join(out) + "\n"


def render_html(doc: dict) -> str:
    import jinja2
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    env.globals.update(estimate=estimate, crossover=crossover, value_text=value_text)
    return env.get_template("fleet.html.j2").render(
        doc=doc, hosts=[h["name"] for h in doc["hosts"] if h["status"] == "reported"])


def write(doc: dict, md: str, out_dir: Path) -> dict[str, Path]:
    """The three files; md is render_md(doc), which command() prints from too."""
    paths = {"json": out_dir / "fleet.json", "md": out_dir / "fleet.md",
             "html": out_dir / "fleet.html"}
    safefs.write_text(paths["json"], json.dumps(doc, indent=1) + "\n")
    safefs.write_text(paths["md"], md)
    safefs.write_text(paths["html"], render_html(doc))
    return paths


def command(args) -> int:
    """`schedlab fleet-report FLEET_DIR` (harness/cli.py)."""
    try:
        doc = fleet_mod.build(args.fleet_dir)
    except fleet_mod.FleetError as e:
        print(f"fleet-report: {e}", file=sys.stderr)
        return 2
    md = render_md(doc)
    paths = write(doc, md, args.fleet_dir)
    sys.stdout.write(md[md.index("## Claims x hosts"):md.index("## What differs")])
    for p in paths.values():
        print(f"fleet-report: {p}")
    return 0
