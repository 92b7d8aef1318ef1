"""spark-submit entry point: `validate_sales` (see skuplan.pipeline.validate)."""

import sys

from skuplan.cli import main
from skuplan.pipeline import validate

if __name__ == "__main__":
    sys.exit(main("validate_sales", validate.run))
