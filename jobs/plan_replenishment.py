"""spark-submit entry point: `plan_replenishment` (see skuplan.pipeline.plan)."""

import sys

from skuplan.cli import main
from skuplan.pipeline import plan

if __name__ == "__main__":
    sys.exit(main("plan_replenishment", plan.run))
