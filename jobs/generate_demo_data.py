"""spark-submit entry point: `generate_demo_data` (see skuplan.demo_data)."""

import sys

from skuplan import demo_data
from skuplan.cli import main

if __name__ == "__main__":
    sys.exit(main("generate_demo_data", demo_data.run))
