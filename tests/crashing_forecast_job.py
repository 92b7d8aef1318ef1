"""Test-only entry point: ``train_forecast`` with a model that kills its Python worker.

Used by ``tests/test_fault_tolerance.py`` as a subprocess job. The model ``crash_on_777``
forecasts like seasonal naive, except on a series whose history holds the value 777, where
it ends its process with ``os._exit(1)``: no exception, no cleanup, like a segfault in native
code or the out-of-memory killer. Defined in ``__main__``, it reaches the Python workers by
value with the model registry the job ships to them.
"""

import os
import sys

from skuplan.cli import main
from skuplan.models import registry
from skuplan.pipeline import forecast

CRASH_VALUE = 777.0


def crash_on_777(data):
    if (data.y == CRASH_VALUE).any():
        os._exit(1)
    return registry.MODELS["seasonal_naive"].fn(data)


registry.MODELS["crash_on_777"] = registry.ModelSpec(crash_on_777, min_history=7)

if __name__ == "__main__":
    sys.exit(main("train_forecast", forecast.run))
