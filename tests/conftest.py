"""Shared fixtures: one local[2] Delta-enabled Spark session for the whole test run."""

from __future__ import annotations

import datetime as dt
import gc
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from skuplan.conf import Conf, load_conf

ROOT = Path(__file__).resolve().parents[1]
RUN_DATE = dt.date(2026, 6, 30)


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    from skuplan.session import local_builder

    warehouse = tmp_path_factory.mktemp("spark-warehouse")
    options = {
        # One session serves the whole suite; 1 GB (the default) ran out of room to broadcast
        # a join in the last end-to-end test.
        "spark.driver.memory": "3g",
        # Spark's on-heap memory pages are 64 MB at 3 GB (likely one per broadcast hash join
        # read back in this JVM, held until its cleaner drops the broadcast): by the
        # weekly/drivers file, 1.2 GB of the heap was such pages (README, Development).
        "spark.buffer.pageSize": "2m",
        # The status store keeps each query's plan graph and metrics (1,000 by default).
        "spark.sql.ui.retainedExecutions": "50",
        "spark.sql.shuffle.partitions": "2",
        "spark.default.parallelism": "2",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.warehouse.dir": str(warehouse),
        "spark.databricks.delta.snapshotPartitions": "1",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        # As conf/base.yaml: keep the generated classes (Spark keeps 100, and recompiles).
        "spark.sql.codegen.cache.maxEntries": "5000",
        "spark.sql.unionOutputPartitioning": "false",  # as conf/base.yaml (a Spark 4.1 fault)
    }
    session = local_builder(
        "local[2]", ROOT / ".cache" / "jars", options, "skuplan-tests"
    ).getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(autouse=True)
def _release_spark(request):
    """After each test on the shared session: drop what it left cached (frames it did not
    unpersist, Delta's snapshots of its tables, Python frames in reference cycles that keep
    plans and broadcasts alive in the JVM), so that one test's leftovers do not fill the
    heap for the next hundred."""
    yield
    if "spark" in request.fixturenames:
        spark = request.getfixturevalue("spark")
        gc.collect()
        spark.catalog.clearCache()
        spark._jvm.org.apache.spark.sql.delta.DeltaLog.clearCache()


def conf_under(
    folder: Path, *overrides: str, run_date: dt.date = RUN_DATE, env: str = "local"
) -> Conf:
    """A Conf with its tables under ``folder``; ``overrides`` as ``--set`` pairs."""
    return load_conf(
        ROOT / "conf", env, run_date, [f"warehouse={folder / 'warehouse'}", *overrides]
    )


@pytest.fixture
def make_conf(tmp_path):
    """Build a Conf with tables under this test's tmp folder; ``overrides`` as ``--set`` pairs.

    A module-scoped fixture calls :func:`conf_under` with a ``tmp_path_factory`` folder instead.
    """

    def _make(*overrides: str, run_date: dt.date = RUN_DATE, env: str = "local") -> Conf:
        return conf_under(tmp_path, *overrides, run_date=run_date, env=env)

    return _make


# The end-to-end run the pipeline tests share (``end_to_end``): small demo inputs, every
# model family that explains its forecasts (the local overlay leaves Prophet out).
END_TO_END_HORIZON = 14
END_TO_END = [
    "demo.n_series=24",
    "demo.n_locations=4",
    "demo.history_days=120",
    "demo.dirty_share=0.02",
    f"forecast.horizon={END_TO_END_HORIZON}",
    "forecast.models=[seasonal_naive, moving_average, croston, sba, tsb, lightgbm_global, lightgbm, prophet]",
    "plan.simulation.weeks=4",
    "plan.simulation.warmup_days=56",
    "report.max_drivers=2",
]


@dataclass(frozen=True)
class EndToEnd:
    """The demo's inputs and one ``run_pipeline`` of ``END_TO_END`` in ``folder``: read it
    through :meth:`copy_to`, never in place (a test that writes must not change another's)."""

    folder: Path
    generated: dict  # the demo's rows per table
    summary: object  # the run's run_all.PipelineSummary (its paths are under ``folder``)
    outbox_version: int  # the ERP outbox's version after the run

    def copy_to(self, folder: Path, *overrides: str, run_date: dt.date = RUN_DATE) -> Conf:
        """A copy of the run's tables in ``folder``; its Conf (``END_TO_END`` then ``overrides``)."""
        shutil.copytree(self.folder, folder, dirs_exist_ok=True)
        return conf_under(folder, *END_TO_END, *overrides, run_date=run_date)


@pytest.fixture(scope="session")
def end_to_end(spark, tmp_path_factory) -> EndToEnd:
    """One end-to-end run for the session: the run_all, report browser and plan consistency
    tests start from copies of it instead of each generating and running their own."""
    from skuplan.pipeline import demo, run_all

    folder = tmp_path_factory.mktemp("end_to_end")
    conf = conf_under(folder, *END_TO_END)
    generated = demo.run(spark, conf)
    summary = run_all.run(spark, conf)
    outbox = conf.table("erp_outbox").path
    version = spark.sql(f"DESCRIBE HISTORY delta.`{outbox}` LIMIT 1").first()["version"]
    return EndToEnd(folder, generated, summary, version)
