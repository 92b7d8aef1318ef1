"""Stage 1: raw sales -> clean sales (silver) + quarantine + dq results + Data Docs.

Order of work, for one load date (= the run date):

1. schema gates on raw sales and the master tables (a broken schema stops here);
2. one aggregation finds the keys that more than one row shares (the only rows the
   duplicate rule must shuffle); row rules in one pass of column expressions; one
   aggregation measures every count;
3. table gates (quarantine share, row count change, freshness, master coverage) and one
   Great Expectations suite per input table (``expectations/*.json``);
4. dq_results and Data Docs are written whatever the outcome; a failed critical gate then
   raises :class:`DataQualityError` and nothing reaches the clean or quarantine tables;
5. otherwise quarantine and clean sales (outliers flagged, missing days imputed) replace
   this load's partition, and the job checks raw rows = clean (observed) + quarantined.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

import pyspark.sql.functions as F
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession

from skuplan import delta_io
from skuplan.conf import Conf
from skuplan.errors import DataQualityError, InputError
from skuplan.pipeline.io import new_run_id
from skuplan.quality import gates, hygiene, results, rules, suites
from skuplan.quality.gates import GateOutcome
from skuplan.schemas import CLEAN_SALES, INVENTORY, ITEMS, LOCATIONS, RAW_SALES

log = logging.getLogger(__name__)

RAW_COLUMNS = [f.name for f in RAW_SALES.fields]
CLEAN_COLUMNS = [f.name for f in CLEAN_SALES.fields]
# Keys shared by several rows travel to the executors as a list of 64-bit hashes.
MAX_SHARED_KEYS = 200_000


@dataclass(frozen=True)
class ValidationSummary:
    run_id: str
    rows_in: int
    clean: int
    quarantined: int
    by_reason: dict[str, int] = field(default_factory=dict)
    imputed: int = 0
    outliers: int = 0
    warnings: tuple[str, ...] = ()

    def __str__(self) -> str:
        reasons = ", ".join(f"{k}={v}" for k, v in sorted(self.by_reason.items())) or "none"
        warned = f", warnings: {', '.join(self.warnings)}" if self.warnings else ""
        return (
            f"validate_sales: rows in {self.rows_in}, clean {self.clean}, "
            f"quarantined {self.quarantined} ({reasons}); "
            f"imputed days {self.imputed}, outliers flagged {self.outliers}{warned}"
        )


@dataclass(frozen=True)
class Measures:
    """Figures of one load, from a single aggregation over the flagged rows."""

    rows_in: int
    clean: int
    keyed: int
    known: int
    latest_clean_date: dt.date | None
    by_reason: dict[str, int]


@dataclass(frozen=True)
class Evaluation:
    """Everything validation decided for one load, before anything is written."""

    measures: Measures
    gates: list[GateOutcome]
    expectations: dict[str, list[suites.ExpectationOutcome]]
    clean_df: DataFrame
    quarantine_df: DataFrame


def run(spark: SparkSession, conf: Conf) -> ValidationSummary:
    """Validate the raw sales loaded on ``conf.run_date`` and write clean and quarantined rows.

    Raises:
        InputError: the raw or master tables are missing, or nothing was loaded that day.
        DataQualityError: a critical gate failed; the clean table is left untouched.
    """
    run_id = new_run_id("validate_sales", conf.run_date)
    runner = suites.SuiteRunner(conf.data_docs_dir(), run_name=run_id)
    inputs = _read_inputs(spark, conf)
    schema_gates = gates.with_severity(_schema_gates(inputs), conf.validation.warning_gates)
    if gates.blocking_message(schema_gates):
        _record(spark, conf, run_id, runner, {}, schema_gates)
        raise DataQualityError(gates.blocking_message(schema_gates))

    raw_all_df, items_df, locations_df, inventory_df = inputs
    raw_df = raw_all_df.filter(F.col("load_date") == F.lit(conf.run_date))
    flagged_df = flag_rows(raw_df, conf, items_df, locations_df).persist(
        StorageLevel.MEMORY_AND_DISK
    )
    try:
        ev = evaluate(
            spark, conf, run_id, runner, flagged_df, raw_all_df, items_df, locations_df,
            inventory_df,
        )  # fmt: skip
        all_gates = schema_gates + ev.gates
        _record(spark, conf, run_id, runner, ev.expectations, all_gates)
        message = gates.blocking_message(all_gates)
        if message:
            raise DataQualityError(message)
        delta_io.replace_partition(
            ev.quarantine_df, conf.table("quarantine"), "run_date", conf.run_date
        )
        delta_io.replace_partition(
            ev.clean_df, conf.table("clean_sales"), "load_date", conf.run_date
        )
    finally:
        flagged_df.unpersist()

    imputed, outliers = _check_conservation(spark, conf, ev.measures.rows_in)
    warnings = tuple(g.name for g in all_gates if not g.success)
    for g in all_gates:
        if not g.success:
            log.warning("gate %s failed (warning only): %s", g.name, g.message)
    m = ev.measures
    summary = ValidationSummary(
        run_id, m.rows_in, m.clean, m.rows_in - m.clean, m.by_reason, imputed, outliers, warnings
    )
    log.info("%s", summary)
    return summary


def _read_inputs(spark: SparkSession, conf: Conf):
    raw_all_df = delta_io.read_table(spark, conf.table("raw_sales"), what="raw sales")
    items_df = delta_io.read_table(spark, conf.table("items"), what="item master")
    locations_df = delta_io.read_table(spark, conf.table("locations"), what="location master")
    # Validation does not need the inventory snapshot; its absence is a gate, not a crash.
    inventory_ref = conf.table("inventory")
    inventory_df = (
        delta_io.read_table(spark, inventory_ref, what="inventory snapshot")
        if delta_io.table_exists(spark, inventory_ref)
        else None
    )
    return raw_all_df, items_df, locations_df, inventory_df


def _schema_gates(inputs) -> list[GateOutcome]:
    raw_all_df, items_df, locations_df, inventory_df = inputs
    outcomes = [
        gates.schema_gate("raw_sales", raw_all_df.schema, RAW_SALES),
        gates.schema_gate("items", items_df.schema, ITEMS),
        gates.schema_gate("locations", locations_df.schema, LOCATIONS),
    ]
    if inventory_df is None:
        outcomes.append(
            GateOutcome("schema_inventory", "inventory", False, None, None, "table not found")
        )
    else:
        outcomes.append(gates.schema_gate("inventory", inventory_df.schema, INVENTORY))
    return outcomes


def flag_rows(
    raw_df: DataFrame, conf: Conf, items_df: DataFrame, locations_df: DataFrame
) -> DataFrame:
    """Raw rows with typed ``p_*`` columns and their ``reasons`` (empty when clean).

    Runs one aggregation first: the keys that more than one row shares. Only those rows go
    through the duplicate rule's window, unless there are more than ``MAX_SHARED_KEYS`` of
    them (a load sent twice, say), when every row does.
    """
    parsed_df = raw_df.transform(rules.with_parsed_sales)
    shared = rules.shared_key_hashes(parsed_df).limit(MAX_SHARED_KEYS + 1).collect()
    return parsed_df.transform(
        rules.with_quarantine_reasons,
        run_date=conf.run_date,
        allow_returns=conf.validation.allow_returns,
        known_skus_df=items_df,
        known_locations_df=locations_df,
        shared_hashes=[r[0] for r in shared] if len(shared) <= MAX_SHARED_KEYS else None,
    )


def evaluate(
    spark: SparkSession,
    conf: Conf,
    run_id: str,
    runner: suites.SuiteRunner,
    flagged_df: DataFrame,
    raw_all_df: DataFrame,
    items_df: DataFrame,
    locations_df: DataFrame,
    inventory_df: DataFrame | None,
) -> Evaluation:
    """Measure, gate and run the suites; return the outcomes and the (lazy) output frames.

    Raises:
        InputError: no raw sales were loaded on the run date.
    """
    v = conf.validation
    m = _measure(flagged_df)
    if m.rows_in == 0:
        raise InputError(f"no raw sales loaded on {conf.run_date} in {conf.table('raw_sales')}")
    table_gates = [
        gates.quarantine_share_gate(m.rows_in - m.clean, m.rows_in, v.max_quarantine_share),
        gates.row_count_change_gate(
            m.rows_in, _previous_load_rows(raw_all_df, conf.run_date), v.max_row_count_change
        ),
        gates.freshness_gate(m.latest_clean_date, conf.run_date, v.max_staleness_days),
        gates.master_coverage_gate(m.known, m.keyed, v.min_master_coverage),
    ]

    typed_clean_df = rules.filter_clean(flagged_df).select(
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
    frames = {
        "clean_sales": typed_clean_df,
        "items": items_df,
        "locations": locations_df,
        "inventory": inventory_df,
    }
    expectations: dict[str, list[suites.ExpectationOutcome]] = {}
    for table, suite_path in v.suites.items():
        if suite_path is None or frames[table] is None:
            continue
        outcomes = runner.validate(frames[table], suites.load_suite(conf.resolve(suite_path)))
        expectations[table] = outcomes
        table_gates.append(gates.suite_gate(table, outcomes))

    clean_df = typed_clean_df.transform(
        hygiene.with_outlier_flag,
        k=v.outliers.k,
        min_scale=v.outliers.min_scale,
        min_points=v.outliers.min_points,
    )
    clean_df = (
        clean_df.transform(hygiene.with_filled_dates)
        if v.impute_missing_dates
        else clean_df.withColumn("is_imputed", F.lit(False))
    )
    quarantine_df = rules.filter_quarantined(flagged_df).select(
        *RAW_COLUMNS,
        "reasons",
        F.lit(conf.run_date).alias("run_date"),
        F.lit(run_id).alias("run_id"),
    )
    return Evaluation(
        measures=m,
        gates=gates.with_severity(table_gates, v.warning_gates),
        expectations=expectations,
        clean_df=clean_df.select(*CLEAN_COLUMNS),
        quarantine_df=quarantine_df,
    )


def _measure(flagged_df: DataFrame) -> Measures:
    """Row, clean, keyed and known counts, latest clean date and count per reason: one pass."""
    is_clean = F.size("reasons") == 0
    has = {code: F.array_contains("reasons", code) for code in rules.REASONS}
    keyed = ~has[rules.NULL_KEY]
    known = keyed & ~has[rules.UNKNOWN_SKU] & ~has[rules.UNKNOWN_LOCATION]
    row = flagged_df.agg(
        F.count(F.lit(1)).alias("rows"),
        F.count_if(is_clean).alias("clean"),
        F.count_if(keyed).alias("keyed"),
        F.count_if(known).alias("known"),
        F.max(F.when(is_clean, F.col("p_date"))).alias("latest"),
        *[F.count_if(cond).alias(code) for code, cond in has.items()],
    ).first()
    return Measures(
        rows_in=row["rows"],
        clean=row["clean"],
        keyed=row["keyed"],
        known=row["known"],
        latest_clean_date=row["latest"],
        by_reason={code: row[code] for code in rules.REASONS if row[code]},
    )


def _previous_load_rows(raw_all_df: DataFrame, run_date: dt.date) -> int | None:
    """Rows of the latest load before ``run_date``, or None when there is none."""
    row = (
        raw_all_df.filter(F.col("load_date") < F.lit(run_date))
        .groupBy("load_date")
        .count()
        .orderBy(F.col("load_date").desc())
        .first()
    )
    return None if row is None else row["count"]


def _record(
    spark: SparkSession,
    conf: Conf,
    run_id: str,
    runner: suites.SuiteRunner,
    expectations: dict[str, list[suites.ExpectationOutcome]],
    all_gates: list[GateOutcome],
) -> None:
    """Write this run's dq_results (replacing the run date's) and the Data Docs site."""
    dq_df = results.results_df(
        spark,
        run_date=conf.run_date,
        run_id=run_id,
        expectations=expectations,
        gates=all_gates,
    )
    delta_io.replace_partition(dq_df, conf.table("dq_results"), "run_date", conf.run_date)
    if expectations:
        index = runner.build_docs()
        log.info("data docs: %s", index)


def _check_conservation(spark: SparkSession, conf: Conf, rows_in: int) -> tuple[int, int]:
    """Re-read what was written: observed clean + quarantined rows must equal rows loaded.

    Returns:
        The numbers of imputed days and of flagged outliers written for this load.
    """
    written = (
        delta_io.read_table(spark, conf.table("clean_sales"))
        .filter(F.col("load_date") == F.lit(conf.run_date))
        .agg(
            F.count_if(~F.col("is_imputed")).alias("observed"),
            F.count_if(F.col("is_imputed")).alias("imputed"),
            F.count_if(F.col("is_outlier")).alias("outliers"),
        )
        .first()
    )
    written_quarantine = (
        delta_io.read_table(spark, conf.table("quarantine"))
        .filter(F.col("run_date") == F.lit(conf.run_date))
        .count()
    )
    observed = written["observed"] or 0
    if observed + written_quarantine != rows_in:
        raise DataQualityError(
            f"conservation failed: {rows_in} rows in, {observed} clean + "
            f"{written_quarantine} quarantined written"
        )
    return written["imputed"] or 0, written["outliers"] or 0
