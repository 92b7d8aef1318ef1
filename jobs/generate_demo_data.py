"""spark-submit entry point: `generate_demo_data` (see skuplan.pipeline.demo)."""

import sys

from skuplan.cli import main
from skuplan.pipeline import demo

if __name__ == "__main__":
    sys.exit(main("generate_demo_data", demo.run))
