"""`python -m core ...`: the command-line face of Timbre (see `core/cli`)."""

import sys

from core.cli import main

if __name__ == "__main__":
    sys.exit(main())
