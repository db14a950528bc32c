"""schedlab's harness: configs, runner, probes, statistics, report.

Run it as `./schedlab ...` or `/usr/bin/python3 -m harness ...`.
"""

__version__ = "0.1"
