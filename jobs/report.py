"""spark-submit entry point: `report` (see skuplan.pipeline.report)."""

import sys

from skuplan.cli import main
from skuplan.pipeline import report

if __name__ == "__main__":
    sys.exit(main("report", report.run))
