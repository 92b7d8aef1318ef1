"""spark-submit entry point: `ingest_files` (see skuplan.pipeline.ingest).

Example: jobs/ingest_files.py --run-date 2026-06-30 --set validation.ingest.file=sales.csv
"""

import sys

from skuplan.cli import main
from skuplan.pipeline import ingest

if __name__ == "__main__":
    sys.exit(main("ingest_files", ingest.run))
