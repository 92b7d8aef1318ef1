"""spark-submit entry point: `ingest_files` (see skuplan.quality.loader.run).

Example: jobs/ingest_files.py --run-date 2026-06-30 --set validation.ingest.file=sales.csv
"""

import sys

from skuplan.cli import main
from skuplan.quality import loader

if __name__ == "__main__":
    sys.exit(main("ingest_files", loader.run))
