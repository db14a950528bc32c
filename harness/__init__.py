"""schedlab's harness. The packages follow the data's flow:

    run/      config -> matrix -> runner: cells run as processes, records appended
    records/  what a run leaves on disk: a record, records.jsonl, the run directory
    analyse/  records -> statistics -> verdicts, comparisons, reproductions, traces
    present/  the report (markdown, HTML, JSON) and its figures

Run it as `./schedlab ...` or `/usr/bin/python3 -m harness ...`.
"""
from pathlib import Path

__version__ = "0.1"
REPO = Path(__file__).resolve().parents[1]
