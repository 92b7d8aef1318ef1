"""spark-submit entry point: `train_forecast` (see skuplan.pipeline.forecast)."""

import sys

from skuplan.cli import main
from skuplan.pipeline import forecast

if __name__ == "__main__":
    sys.exit(main("train_forecast", forecast.run))
