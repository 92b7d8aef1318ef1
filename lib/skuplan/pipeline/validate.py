"""Stage 1: raw sales -> clean sales (silver) + quarantine, gated by a Great Expectations suite."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import pyspark.sql.functions as F
from pyspark import StorageLevel
from pyspark.sql import SparkSession

from skuplan import delta_io
from skuplan.conf import Conf
from skuplan.errors import DataQualityError, InputError
from skuplan.pipeline import new_run_id
from skuplan.quality import rules, suites
from skuplan.schemas import RAW_SALES

log = logging.getLogger(__name__)

RAW_COLUMNS = [f.name for f in RAW_SALES.fields]


@dataclass(frozen=True)
class ValidationSummary:
    run_id: str
    rows_in: int
    clean: int
    quarantined: int
    by_reason: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        reasons = ", ".join(f"{k}={v}" for k, v in sorted(self.by_reason.items())) or "none"
        return (
            f"validate_sales: rows in {self.rows_in}, clean {self.clean}, "
            f"quarantined {self.quarantined} ({reasons})"
        )


def run(spark: SparkSession, conf: Conf) -> ValidationSummary:
    """Validate the raw sales loaded on ``conf.run_date`` and write clean and quarantined rows.

    Raises:
        InputError: the raw or master tables are missing, or nothing was loaded that day.
        DataQualityError: a gate failed; the clean table is left untouched.
    """
    run_id = new_run_id("validate_sales", conf.run_date)
    raw_df = delta_io.read_table(
        spark, conf.table("raw_sales"), required=RAW_COLUMNS, what="raw sales"
    ).filter(F.col("load_date") == F.lit(conf.run_date))
    items_df = delta_io.read_table(spark, conf.table("items"), required=["sku"], what="item master")
    locations_df = delta_io.read_table(
        spark, conf.table("locations"), required=["location"], what="location master"
    )

    flagged_df = (
        raw_df.transform(rules.with_parsed_sales)
        .transform(
            rules.with_quarantine_reasons,
            run_date=conf.run_date,
            allow_returns=conf.validation.allow_returns,
            known_skus_df=items_df,
            known_locations_df=locations_df,
        )
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    try:
        counts = _count_by_reason(flagged_df)
        rows_in = counts.pop("__rows__", 0)
        clean = counts.pop("__clean__", 0)
        if rows_in == 0:
            raise InputError(f"no raw sales loaded on {conf.run_date} in {conf.table('raw_sales')}")
        quarantined = rows_in - clean
        share = quarantined / rows_in
        if share > conf.validation.max_quarantine_share:
            raise DataQualityError(
                f"gate quarantine_share failed: {share:.1%} of rows quarantined, "
                f"limit {conf.validation.max_quarantine_share:.1%}"
            )

        clean_df = rules.filter_clean(flagged_df).select(
            F.col("p_sku").alias("sku"),
            F.col("p_location").alias("location"),
            F.col("p_date").alias("date"),
            F.col("p_qty").alias("qty"),
            F.col("p_price").alias("price"),
            F.col("p_promo").alias("promo"),
            F.col("p_is_stockout").alias("is_stockout"),
            "load_date",
            F.lit(run_id).alias("run_id"),
        )
        failed = [
            o
            for o in suites.validate(
                clean_df, suites.load_suite(conf.resolve(conf.validation.suite))
            )
            if not o.success
        ]
        if failed:
            first = failed[0]
            raise DataQualityError(
                f"gate {first.expectation}({first.column or ''}) failed on clean sales: "
                f"{first.unexpected_count} unexpected rows ({len(failed)} expectation(s) failed)"
            )

        quarantine_df = rules.filter_quarantined(flagged_df).select(
            *RAW_COLUMNS,
            "reasons",
            F.lit(conf.run_date).alias("run_date"),
            F.lit(run_id).alias("run_id"),
        )
        delta_io.replace_partition(
            quarantine_df, conf.table("quarantine"), "run_date", conf.run_date
        )
        delta_io.replace_partition(clean_df, conf.table("clean_sales"), "load_date", conf.run_date)
    finally:
        flagged_df.unpersist()

    _check_conservation(spark, conf, rows_in)
    summary = ValidationSummary(run_id, rows_in, clean, quarantined, counts)
    log.info("%s", summary)
    return summary


def _count_by_reason(flagged_df) -> dict[str, int]:
    """Row count, clean count and count per reason, in one aggregation."""
    per_reason = (
        flagged_df.select(F.explode_outer("reasons").alias("reason"))
        .groupBy("reason")
        .count()
        .collect()
    )
    totals = flagged_df.agg(
        F.count(F.lit(1)).alias("rows"),
        F.sum(F.when(F.size("reasons") == 0, 1).otherwise(0)).alias("clean"),
    ).first()
    counts = {r["reason"]: r["count"] for r in per_reason if r["reason"] is not None}
    counts["__rows__"] = totals["rows"] or 0
    counts["__clean__"] = totals["clean"] or 0
    return counts


def _check_conservation(spark: SparkSession, conf: Conf, rows_in: int) -> None:
    """Re-read what was written: clean + quarantined rows must equal the rows loaded."""
    written_clean = (
        delta_io.read_table(spark, conf.table("clean_sales"))
        .filter(F.col("load_date") == F.lit(conf.run_date))
        .count()
    )
    written_quarantine = (
        delta_io.read_table(spark, conf.table("quarantine"))
        .filter(F.col("run_date") == F.lit(conf.run_date))
        .count()
    )
    if written_clean + written_quarantine != rows_in:
        raise DataQualityError(
            f"conservation failed: {rows_in} rows in, {written_clean} clean + "
            f"{written_quarantine} quarantined written"
        )
