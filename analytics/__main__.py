"""`python -m analytics ...`: the command line (see analytics/cli/)."""

import sys

from analytics.cli import main

if __name__ == "__main__":
    sys.exit(main())
