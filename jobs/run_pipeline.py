"""spark-submit entry point: `run_pipeline` (see skuplan.pipeline.run_all)."""

import sys

from skuplan.cli import main
from skuplan.pipeline import run_all

if __name__ == "__main__":
    sys.exit(main("run_pipeline", run_all.run))
