"""Running cells: the config, the matrix it expands to, the runner and its probes."""
