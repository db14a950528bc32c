"""From records to numbers: statistics, verdicts, comparisons, reproductions, traces."""
