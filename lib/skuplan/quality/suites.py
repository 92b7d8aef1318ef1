"""Great Expectations suites kept as JSON files under ``expectations/`` and run on Spark.

A suite file holds ``{"name": ..., "expectations": [{"type": ..., "kwargs": {...}}, ...]}``,
the format Great Expectations itself stores suites in. Validation runs on the Spark
DataFrame in place: Great Expectations computes its metrics as Spark jobs, nothing is
collected to the driver.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import great_expectations as gx
from great_expectations.data_context.types.base import (
    DataContextConfig,
    InMemoryStoreBackendDefaults,
    ProgressBarsConfig,
)
from great_expectations.exceptions import GreatExpectationsError
from great_expectations.expectations.expectation_configuration import ExpectationConfiguration
from pyspark.sql import DataFrame

from skuplan.errors import ConfigError


@dataclass(frozen=True)
class ExpectationOutcome:
    expectation: str
    column: str | None
    success: bool
    observed_value: str | None
    unexpected_count: int | None
    unexpected_percent: float | None


def load_suite(path: Path) -> gx.ExpectationSuite:
    """Read a suite file.

    Raises:
        ConfigError: the file is missing or is not a valid suite.
    """
    try:
        spec = json.loads(path.read_text())
        expectations = [ExpectationConfiguration(**e).to_domain_obj() for e in spec["expectations"]]
        return gx.ExpectationSuite(name=spec["name"], expectations=expectations)
    except FileNotFoundError:
        raise ConfigError(f"expectation suite not found: {path}") from None
    except (GreatExpectationsError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"invalid expectation suite {path}: {exc}") from None


def _context():
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def validate(df: DataFrame, suite: gx.ExpectationSuite) -> list[ExpectationOutcome]:
    """Run ``suite`` on ``df`` and return one outcome per expectation."""
    context = _context()
    batch = (
        context.data_sources.add_spark("skuplan")
        .add_dataframe_asset(suite.name)
        .add_batch_definition_whole_dataframe("whole")
        .get_batch(batch_parameters={"dataframe": df})
    )
    result = batch.validate(context.suites.add(suite))
    outcomes = []
    for r in result.results:
        details = r.result or {}
        observed = details.get("observed_value")
        outcomes.append(
            ExpectationOutcome(
                expectation=r.expectation_config.type,
                column=r.expectation_config.kwargs.get("column"),
                success=bool(r.success),
                observed_value=None if observed is None else json.dumps(observed, default=str),
                unexpected_count=details.get("unexpected_count"),
                unexpected_percent=details.get("unexpected_percent"),
            )
        )
    return outcomes
