"""Stage ``generate_demo_data``: seeded demo inputs (:mod:`skuplan.demo_data`) -> raw tables.

The demo replaces the whole input of a warehouse, not one run date's partition: the first
chunk of series overwrites the raw tables and later chunks append to them.
"""

from __future__ import annotations

import pyspark.sql.functions as F
from pyspark.sql import SparkSession

from skuplan import delta_io, demo_data, runs, schemas
from skuplan.conf import Conf
from skuplan.demo_data import DemoData
from skuplan.errors import ConfigError

# Series generated and written at a time: a catalogue of any size is generated with bounded
# driver memory (2,000 series of five years are about 3.7M raw rows).
CHUNK_SERIES = 2000
# Tables that do not depend on the series: written with the first chunk only.
SHARED_TABLES = ("locations", "calendar")
TABLES = ("raw_sales", "items", "item_locations", "locations", "inventory", "calendar",
          "open_orders", "plan_overrides")  # fmt: skip
JOB = "generate_demo_data"


def run(spark: SparkSession, conf: Conf) -> dict[str, int]:
    """Generate the demo inputs for ``conf.run_date`` and overwrite the raw tables.

    Large catalogues are generated and appended in chunks of about ``CHUNK_SERIES`` series.
    Every commit is tagged with the demo's run id; a table with any other commit is not
    replaced unless ``demo.force`` is true.

    Returns:
        Rows written per table key.

    Raises:
        ConfigError: a raw table holds data the demo did not write (and ``demo.force`` is false).
    """
    if not conf.demo.force:
        refuse_foreign_tables(spark, conf)
    active = runs.active()
    own = active is not None and active.job == JOB
    run_id = active.run_id if own else runs.new_run_id(JOB, conf.run_date)
    with delta_io.tagged_commits(spark, run_id):
        return _generate(spark, conf)


def refuse_foreign_tables(spark: SparkSession, conf: Conf) -> None:
    """Raise if a raw table exists with a commit not tagged by a demo run."""
    for key in TABLES:
        ref = conf.table(key)
        if not delta_io.table_exists(spark, ref):
            continue
        foreign = [t for t in delta_io.commit_tags(spark, ref) if not (t or "").startswith(JOB)]
        if foreign:
            raise ConfigError(
                f"{key} at {ref} holds data that {JOB} did not write: not replaced "
                "(pass --force or --set demo.force=true to replace it)"
            )


def _generate(spark: SparkSession, conf: Conf) -> dict[str, int]:
    settings, n_loc = conf.demo, conf.demo.n_locations
    step = max(CHUNK_SERIES // n_loc, 1) * n_loc
    rows: dict[str, int] = {}
    for start in range(0, settings.n_series, step):
        data = demo_data.generate(
            conf.run_date,
            n_series=min(step, settings.n_series - start),
            n_locations=n_loc,
            history_days=settings.history_days,
            seed=settings.seed,
            dirty_share=settings.dirty_share,
            first_sku=start // n_loc,
        )
        for key, count in _write(spark, conf, data, first=start == 0).items():
            rows[key] = rows.get(key, 0) + count
    return rows


def _write(spark: SparkSession, conf: Conf, data: DemoData, first: bool) -> dict[str, int]:
    """Overwrite (``first`` chunk) or append to the raw tables; rows written per table key."""
    no_load_cols = [f for f in schemas.RAW_SALES.fields if f.name not in ("source", "load_date")]
    raw_df = spark.createDataFrame(
        data.raw_sales, schema=schemas.T.StructType(no_load_cols)
    ).select(
        *[f.name for f in no_load_cols],
        F.lit("demo").alias("source"),
        F.lit(conf.run_date).alias("load_date"),
    )
    outputs = {"raw_sales": (raw_df, len(data.raw_sales))}
    for key, pdf, schema in (
        ("items", data.items, schemas.ITEMS),
        ("item_locations", data.item_locations, schemas.ITEM_LOCATIONS),
        ("locations", data.locations, schemas.LOCATION_MASTER),
        ("inventory", data.inventory, schemas.INVENTORY),
        ("calendar", data.calendar, schemas.CALENDAR),
        ("open_orders", data.open_orders, schemas.OPEN_ORDERS),
        # Optional fields are None, not NaN, for Spark.
        (
            "plan_overrides",
            data.plan_overrides.astype(object).where(data.plan_overrides.notna(), None),
            schemas.PLAN_OVERRIDES,
        ),
    ):
        if first or key not in SHARED_TABLES:
            outputs[key] = (spark.createDataFrame(pdf, schema=schema), len(pdf))
    for key, (df, _) in outputs.items():
        if not first:
            delta_io.append_table(df, conf.table(key))
        else:
            # Raw sales are partitioned by load date, as later daily loads (ingest_files) add them.
            partition = "load_date" if key == "raw_sales" else None
            delta_io.overwrite_table(df, conf.table(key), partition)
    return {key: rows for key, (_, rows) in outputs.items()}
