"""What a run leaves on disk: one record per run, records.jsonl, the run directory."""
