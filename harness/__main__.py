"""`python3 -m harness` is `./schedlab`."""
import sys

from harness.cli import main

sys.exit(main(sys.argv[1:]))
