"""A fleet: one config run on many hosts (fleet/playbook.yml leaves one
results directory per host under FLEET_DIR/<host>/). This module reads them
and says, claim by claim, which verdicts differ between hosts and which facts
of the machine differ between the hosts that disagree.

A flip is a claim with two verdicts among the hosts that reported. The
machine facts compared (MACHINE_KEYS) are the ones env.json records that can
change a verdict: kernel, CPU model, vCPUs, virtualised or not, preemption
model, HZ, clocksource, CPU mitigations, cpufreq governor. For each flip,
every fact whose value differs between two hosts that disagree is listed,
and a fact whose value is the same within each verdict's hosts and differs
between verdicts is marked as one that separates them: a candidate
explanation, not a proof (with two hosts every differing fact separates).

Hosts that failed (failed.json, no report.json) are listed with their step
and message and take no part in the comparison. Hosts that ran different
configs are refused: a fleet compares one config.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from harness.records import catalog as catalog_mod

FLEET_SCHEMA = 1
NOT_RECORDED = "not recorded"     # a fact an older env.json (schema 1) lacks
SUMMARY_KEYS = ("median", "ci_lo", "ci_hi", "ci_confidence", "n", "cov")


class FleetError(Exception):
    """Bad input: exit 2 with this one line."""


@dataclass
class Host:
    name: str
    path: Path
    report: dict | None = None
    env: dict = field(default_factory=dict)
    config_sha256: str | None = None
    failed: dict | None = None


def _json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def load_hosts(fleet_dir: Path) -> list[Host]:
    """Every subdirectory that is (or was meant to be) a host's results directory."""
    if not fleet_dir.is_dir():
        raise FleetError(f"{fleet_dir}: not a directory (give the fleet's directory, "
                         "e.g. results/fleet-lab1)")
    hosts = []
    for d in sorted(p for p in fleet_dir.iterdir() if p.is_dir() and not p.is_symlink()):
        if not any((d / f).is_file() for f in ("report.json", "failed.json", "env.json")):
            continue
        run = _json(d / "run.json") or {}
        env = _json(d / "env.json") or {}
        hosts.append(Host(d.name, d, report=_json(d / "report.json"), env=env,
                          config_sha256=run.get("config_sha256")
                          or (env.get("config") or {}).get("sha256"),
                          failed=_json(d / "failed.json")))
    if not hosts:
        raise FleetError(f"{fleet_dir}: no host results in it (each host is a subdirectory "
                         "with report.json or failed.json; run fleet/playbook.yml first)")
    return hosts


def check_one_config(hosts: list[Host]) -> None:
    by_sha: dict[str, list[str]] = {}
    for h in hosts:
        if h.config_sha256:
            by_sha.setdefault(h.config_sha256, []).append(h.name)
    if len(by_sha) > 1:
        groups = "; ".join(f"{', '.join(names)} ran config {sha[:12]}"
                           for sha, names in by_sha.items())
        raise FleetError(f"hosts ran different configs ({groups}): a fleet report compares "
                         "one config; put each config's hosts in their own fleet directory")


# ---- the machine ------------------------------------------------------------

def _get(doc: dict, *keys, default=NOT_RECORDED):
    for k in keys:
        if not isinstance(doc, dict) or k not in doc:
            return default
        doc = doc[k]
    return doc


def mitigations(env: dict) -> str | dict:
    """Each vulnerability that is not "Not affected", and its state."""
    v = _get(env, "cpu", "vulnerabilities")
    if not isinstance(v, dict):
        return v
    return {k: s for k, s in sorted(v.items()) if s != "Not affected"}


def virtualised(env: dict) -> str:
    v = _get(env, "virtualisation")
    if not isinstance(v, dict):
        return v
    if v.get("virtualised") is True:
        return f"VM ({v.get('hypervisor') or 'unknown'})"
    return "bare metal" if v.get("virtualised") is False else "unknown"


def vcpus(env: dict):
    aff = env.get("affinity")
    return len(aff) if isinstance(aff, list) else _get(env, "cpu", "count_online")


# name -> how to read it from env.json; the order is the one-line summary's
MACHINE_KEYS = {
    "kernel": lambda e: _get(e, "kernel", "release"),
    "cpu model": lambda e: _get(e, "cpu", "model"),
    "vcpus": vcpus,
    "virtualised": virtualised,
    "preemption": lambda e: _get(e, "kernel", "preemption", "mode"),
    "hz": lambda e: _get(e, "kernel", "hz", "value"),
    "clocksource": lambda e: _get(e, "kernel", "clocksource", "current"),
    "mitigations": mitigations,
    "governor": lambda e: _get(e, "cpu", "governor"),
}


def machine(env: dict) -> dict:
    return {k: read(env) for k, read in MACHINE_KEYS.items()}


def machine_line(m: dict) -> str:
    if all(v == NOT_RECORDED for v in m.values()):
        return "machine not recorded (no env.json)"
    mit = m["mitigations"]
    mit_text = (", ".join(f"{k}: {v.split(';')[0]}" for k, v in mit.items()) or "none needed"
                if isinstance(mit, dict) else mit)
    return (f"{m['kernel']} | {m['cpu model']} | {m['vcpus']} CPUs | {m['virtualised']} | "
            f"preempt {m['preemption']} | HZ {m['hz']} | clock {m['clocksource']} | "
            f"governor {m['governor']} | mitigations: {mit_text}")


# ---- claims -----------------------------------------------------------------

def deciding(claim: dict) -> dict:
    """The claim's deciding figure: its text and its number with interval and
    coverage, from the claim's "decision" where the report has one, else from
    the deciding part's first row; and the claim's crossover, as reported."""
    out = {"figure": claim.get("figure") or "", "value": None, "lo": None, "hi": None,
           "confidence": None, "crossover": claim.get("crossover")}
    part = next((p for p in claim.get("parts", []) if p.get("role") == "test"
                 and p.get("figure") and p.get("figure") == claim.get("figure")), None)
    rows = [claim["decision"]] if isinstance(claim.get("decision"), dict) else []
    for row in rows + (part or {}).get("rows", []):
        value = row.get("ratio", row.get("value"))
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out.update(value=value, lo=row.get("lo"), hi=row.get("hi"),
                       confidence=row.get("confidence"))
            break
    return out


def claims_table(hosts: list[Host]) -> list[dict]:
    """One row per claim: its words and, per reporting host, verdict and figure."""
    rows: dict[str, dict] = {}
    for h in hosts:
        for c in (h.report or {}).get("claims", []):
            row = rows.setdefault(c["id"], {"id": c["id"], "says": c.get("says", ""),
                                            "hosts": {}})
            row["hosts"][h.name] = {"verdict": c["verdict"], "cpus": c.get("cpus", ""),
                                    **deciding(c)}
    for row in rows.values():
        verdicts = sorted({v["verdict"] for v in row["hosts"].values()})
        row["verdicts"] = verdicts
        row["flips"] = len(verdicts) > 1
        row["decided_both_ways"] = {"supported", "refuted"} <= set(verdicts)
    return list(rows.values())


def flip_keys(row: dict, machines: dict[str, dict]) -> list[dict]:
    """The machine facts that differ between hosts of this claim that disagree."""
    hosts = list(row["hosts"])
    verdict = {h: row["hosts"][h]["verdict"] for h in hosts}
    out = []
    for key in MACHINE_KEYS:
        values = {h: machines[h][key] for h in hosts}
        differs = any(verdict[a] != verdict[b] and values[a] != values[b]
                      for i, a in enumerate(hosts) for b in hosts[i + 1:])
        if not differs:
            continue
        by_verdict: dict[str, set] = {}
        for h in hosts:
            by_verdict.setdefault(verdict[h], set()).add(json.dumps(values[h], sort_keys=True))
        one_each = all(len(v) == 1 for v in by_verdict.values())
        separates = one_each and len({next(iter(v)) for v in by_verdict.values()}) == len(
            by_verdict)
        out.append({"key": key, "values": values, "separates": separates})
    return out


# ---- headline metrics ---------------------------------------------------------

def headline_summaries(report: dict, run_dir: Path) -> list[dict]:
    """Each cell's headline metrics that have a median, as the run's catalog
    declares them: cell, metric, unit, better and the summary (median, its
    interval and coverage, n, CoV)."""
    cat = catalog_mod.load(run_dir)
    out = []
    for cell in report.get("cells", []):
        for metric in cat.headline(cell["task"], cell["model"]) or []:
            s = cell["metrics"].get(metric)
            if not s or s.get("median") is None:
                continue
            decl = cat.metric(cell["task"], cell["model"], metric) or {}
            summary = {k: s.get(k) for k in SUMMARY_KEYS}
            out.append({"cell": cell["id"], "metric": metric, "unit": decl.get("unit") or "",
                        "better": decl.get("better"), "summary": summary})
    return out


def headline_metrics(hosts: list[Host]) -> list[dict]:
    """(cell, metric) rows with each host's summary side by side."""
    rows: dict[tuple[str, str], dict] = {}
    for h in hosts:
        for m in headline_summaries(h.report or {}, h.path):
            row = rows.setdefault((m["cell"], m["metric"]), {
                "cell": m["cell"], "metric": m["metric"], "unit": m["unit"],
                "better": m["better"], "hosts": {}})
            row["hosts"][h.name] = m["summary"]
    return list(rows.values())


def build(fleet_dir: Path) -> dict:
    hosts = load_hosts(fleet_dir)
    check_one_config(hosts)
    reporting = [h for h in hosts if h.report and not h.failed]
    machines = {h.name: machine(h.env) for h in hosts}
    claims = claims_table(reporting)
    for row in claims:
        row["differing_keys"] = flip_keys(row, machines) if row["flips"] else []
    return {
        "schema": FLEET_SCHEMA,
        "fleet": str(fleet_dir),
        "config_sha256": next((h.config_sha256 for h in hosts if h.config_sha256), None),
        "hosts": [{"name": h.name, "status": "reported" if h in reporting else
                   "failed" if h.failed else "no report",
                   "failed": h.failed, "machine": machines[h.name],
                   "machine_line": machine_line(machines[h.name])} for h in hosts],
        "claims": claims,
        "flips": [r["id"] for r in claims if r["flips"]],
        "metrics": headline_metrics(reporting),
    }
