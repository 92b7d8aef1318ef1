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
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context.types.base import (
    DataContextConfig,
    InMemoryStoreBackendDefaults,
    ProgressBarsConfig,
)
from great_expectations.exceptions import GreatExpectationsError
from great_expectations.expectations.expectation_configuration import ExpectationConfiguration
from pyspark.sql import DataFrame

from skuplan.errors import ConfigError

# Counts and observed values, but no sample of unexpected values: on Spark each sample is one
# more full scan per expectation (a filter and a limit that finds nothing on good data), and
# the quarantine table already keeps every bad row with its reasons.
RESULT_FORMAT = {"result_format": "BASIC", "partial_unexpected_count": 0}


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


class SuiteRunner:
    """Runs suites in one Great Expectations context and, optionally, builds Data Docs.

    The context is ephemeral (stores in memory): suites come from ``expectations/``, and
    results go to the dq_results table. Only the Data Docs site is on disk, in ``docs_dir``:
    each validation is stored in the context so that the site shows every suite and its
    latest result.
    """

    def __init__(self, docs_dir: Path | None = None, run_name: str | None = None) -> None:
        self._context = _context()
        self._source = self._context.data_sources.add_spark("skuplan")
        self._run_id = RunIdentifier(run_name=run_name)
        self._docs_dir = docs_dir
        if docs_dir is not None:
            self._context.add_data_docs_site(
                "skuplan",
                {
                    "class_name": "SiteBuilder",
                    "store_backend": {
                        "class_name": "TupleFilesystemStoreBackend",
                        "base_directory": str(docs_dir),
                    },
                    "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                },
            )

    def validate(self, df: DataFrame, suite: gx.ExpectationSuite) -> list[ExpectationOutcome]:
        """Run ``suite`` on ``df`` (metrics are Spark jobs) and return one outcome each."""
        suite = self._context.suites.add(suite)
        batch_definition = self._source.add_dataframe_asset(
            suite.name
        ).add_batch_definition_whole_dataframe("whole")
        definition = self._context.validation_definitions.add(
            gx.ValidationDefinition(name=suite.name, data=batch_definition, suite=suite)
        )
        result = definition.run(
            batch_parameters={"dataframe": df}, run_id=self._run_id, result_format=RESULT_FORMAT
        )
        return [_outcome(r) for r in result.results]

    def build_docs(self) -> Path:
        """Write the Data Docs site and return its index page.

        Raises:
            ConfigError: the runner was made without a docs folder.
        """
        if self._docs_dir is None:
            raise ConfigError("no Data Docs folder configured")
        self._docs_dir.mkdir(parents=True, exist_ok=True)
        self._context.build_data_docs(site_names=["skuplan"])
        return self._docs_dir / "index.html"


def _outcome(r) -> ExpectationOutcome:
    details = r.result or {}
    observed = details.get("observed_value")
    return ExpectationOutcome(
        expectation=r.expectation_config.type,
        column=r.expectation_config.kwargs.get("column"),
        success=bool(r.success),
        observed_value=None if observed is None else json.dumps(observed, default=str),
        unexpected_count=details.get("unexpected_count"),
        unexpected_percent=details.get("unexpected_percent"),
    )


def validate(df: DataFrame, suite: gx.ExpectationSuite) -> list[ExpectationOutcome]:
    """Run ``suite`` on ``df`` and return one outcome per expectation (no Data Docs)."""
    return SuiteRunner().validate(df, suite)
