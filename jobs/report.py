"""spark-submit entry point: `report` (see skuplan.report)."""

import sys

from skuplan import report
from skuplan.cli import main

if __name__ == "__main__":
    sys.exit(main("report", report.run))
