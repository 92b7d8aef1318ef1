"""Stage 0: a raw sales file (CSV, zipped CSV or Parquet) -> ``raw_sales`` for the run date.

The file's columns map onto the contract through ``validation.sources.<source>.columns``;
every value lands as text, so that a malformed one is quarantined by validation, not a
failed load. Re-running the same date replaces that load (``replaceWhere`` on
``load_date``).
"""

from __future__ import annotations

from pyspark.sql import SparkSession

from skuplan.conf import Conf
from skuplan.errors import ConfigError
from skuplan.pipeline.io import StageTables
from skuplan.quality.loader import read_raw_file


def run(spark: SparkSession, conf: Conf) -> str:
    """Load ``validation.ingest.file`` into raw_sales as the load of ``conf.run_date``.

    Re-running the same date replaces that load (``replaceWhere`` on ``load_date``).

    Raises:
        ConfigError: no file was given.
        InputError: the file cannot be read or lacks a mapped column.
    """
    ingest = conf.validation.ingest
    if ingest.file is None:
        raise ConfigError("no file to load: pass --set validation.ingest.file=PATH")
    tables = StageTables(spark, conf, "ingest_files")
    raw_df = read_raw_file(
        spark,
        conf.resolve(ingest.file),
        columns=conf.validation.sources[ingest.source].columns,
        source=ingest.source,
        load_date=conf.run_date,
        staging_dir=conf.resolve(conf.warehouse) / "_staging" / conf.run_date.isoformat(),
    )
    tables.replace(raw_df, "raw_sales", "load_date")
    return (
        f"ingest_files: {ingest.file} ({ingest.source}) loaded into raw_sales for {conf.run_date}"
    )
