"""Stage 1: raw sales -> clean sales (silver) + quarantine + dq results + Data Docs.

Order of work, for one load date (= the run date):

1. schema gates on raw sales and the master tables (a broken schema stops here);
2. one aggregation finds the keys that more than one row shares (the only rows the
   duplicate rule must shuffle); row rules in one pass of column expressions; one
   aggregation measures every count;
3. table gates (quarantine share, row count change, freshness, master coverage) and one
   Great Expectations suite per input table (``expectations/*.json``);
4. dq_results and Data Docs are written whatever the outcome (an empty load after a closed
   day runs no suite: dq_results only); a failed critical gate then raises
   :class:`DataQualityError` and nothing reaches the clean or quarantine tables;
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

from skuplan.conf import Conf
from skuplan.errors import DataQualityError, InputError
from skuplan.pipeline.io import StageTables
from skuplan.quality import gates, hygiene, results, rules, suites
from skuplan.quality.gates import GateOutcome
from skuplan.schemas import CLEAN_SALES, INVENTORY, ITEMS, LOCATIONS, QUARANTINE, RAW_SALES

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
    derived: tuple[str, ...] = ()  # masters taken from the sales' keys (no such table)

    def metrics(self) -> dict[str, float | None]:
        """The figures a tracking server gets (see :mod:`skuplan.tracking`)."""
        return {
            "rows_in": self.rows_in,
            "rows_clean": self.clean,
            "rows_quarantined": self.quarantined,
            "quarantine_share": self.quarantined / self.rows_in if self.rows_in else None,
            "gate_warnings": len(self.warnings),
        }

    def __str__(self) -> str:
        reasons = ", ".join(f"{k}={v}" for k, v in sorted(self.by_reason.items())) or "none"
        if "negative_qty" in self.by_reason:  # returns, most often: say how to keep them
            reasons += "; returns are kept with validation.allow_returns=true"
        warned = f", warnings: {', '.join(self.warnings)}" if self.warnings else ""
        derived = (
            f"; no {' or '.join(self.derived)} table: taken from the sales' keys"
            if self.derived
            else ""
        )
        return (
            f"validate_sales: rows in {self.rows_in}, clean {self.clean}, "
            f"quarantined {self.quarantined} ({reasons}); "
            f"imputed days {self.imputed}, outliers flagged {self.outliers}{warned}{derived}"
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
    dates: int = 0  # distinct clean sale dates, their weekdays and days of the month
    weekdays: tuple[int, ...] = ()
    monthdays: tuple[int, ...] = ()


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
    tables = StageTables(spark, conf, "validate_sales")
    runner = suites.SuiteRunner(conf.data_docs_dir(), run_name=tables.run_id)
    inputs = read_inputs(tables)
    schema_gates = gates.with_severity(_schema_gates(inputs), conf.validation.warning_gates)
    if gates.blocking_message(schema_gates):
        _record(tables, runner, {}, schema_gates)
        raise DataQualityError(gates.blocking_message(schema_gates))

    raw_all_df, items_df, locations_df, _ = inputs
    raw_df = raw_all_df.filter(F.col("load_date") == F.lit(conf.run_date))
    flagged_df = flag_rows(raw_df, conf, items_df, locations_df)
    flagged_df = flagged_df.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        ev = evaluate(tables, runner, flagged_df, inputs)
        all_gates = schema_gates + ev.gates
        _record(tables, runner, ev.expectations, all_gates)
        message = gates.blocking_message(all_gates)
        if message:
            raise DataQualityError(message)
        tables.replace(ev.quarantine_df, "quarantine")
        tables.replace(ev.clean_df, "clean_sales", "load_date")
    finally:
        flagged_df.unpersist()

    imputed, outliers = _check_conservation(tables, ev.measures.rows_in)
    warnings = tuple(g.name for g in all_gates if not g.success)
    for g in all_gates:
        if not g.success:
            log.warning("gate %s failed (warning only): %s", g.name, g.message)
    m = ev.measures
    summary = ValidationSummary(
        tables.run_id, m.rows_in, m.clean, m.rows_in - m.clean, m.by_reason, imputed, outliers,
        warnings, tuple(tables.missing),
    )  # fmt: skip
    log.info("%s", summary)
    return summary


def read_inputs(tables: StageTables):
    """Raw sales, the item and location masters (from the sales' keys when a table is
    missing, see :meth:`StageTables.master`), and the inventory snapshot (None when missing:
    validation does not need it, and its absence is a gate, not a crash)."""
    raw_df = tables.read("raw_sales")
    keys_df = raw_df.select(F.trim("sku").alias("sku"), F.trim("location").alias("location"))
    return (
        raw_df,
        tables.master("items", keys_df, what="item master"),
        tables.master("locations", keys_df, what="location master"),
        tables.optional("inventory", what="inventory snapshot"),
    )


def _schema_gates(inputs) -> list[GateOutcome]:
    raw_all_df, items_df, locations_df, inventory_df = inputs
    return [
        gates.schema_gate("raw_sales", raw_all_df.schema, RAW_SALES),
        gates.schema_gate("items", items_df.schema, ITEMS),
        gates.schema_gate("locations", locations_df.schema, LOCATIONS),
        gates.inventory_schema_gate(
            None if inventory_df is None else inventory_df.schema, INVENTORY
        ),
    ]


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


def table_gates(m: Measures, raw_all_df: DataFrame, conf: Conf) -> list[GateOutcome]:
    """The gates on the load as a whole: quarantine share, row count change, freshness,
    master coverage and the dates' frequency."""
    v = conf.validation
    load, previous = _load_sizes(raw_all_df, conf.run_date)
    return [
        gates.quarantine_share_gate(m.rows_in - m.clean, m.rows_in, v.max_quarantine_share),
        gates.row_count_change_gate(load, previous, v.max_row_count_change),
        gates.freshness_gate(m.latest_clean_date, conf.run_date, v.max_staleness_days),
        gates.master_coverage_gate(m.known, m.keyed, v.min_master_coverage),
        gates.frequency_gate(conf.forecast.freq, m.dates, m.weekdays, m.monthdays),
    ]


def typed_clean(flagged_df: DataFrame, run_id: str) -> DataFrame:
    """The clean rows with their parsed values under the contract's names."""
    parsed = ("sku", "location", "date", "qty", "price", "promo", "is_stockout")
    return rules.filter_clean(flagged_df).select(
        *[F.col(f"p_{c}").alias(c) for c in parsed], "load_date", F.lit(run_id).alias("run_id")
    )


def run_suites(
    conf: Conf, runner: suites.SuiteRunner, frames: dict[str, DataFrame | None]
) -> dict[str, list[suites.ExpectationOutcome]]:
    """Each table's Great Expectations suite (``validation.suites``), where both exist."""
    expectations = {}
    for table, suite_path in conf.validation.suites.items():
        if suite_path is not None and frames[table] is not None:
            suite = suites.load_suite(conf.resource(suite_path))
            expectations[table] = runner.validate(frames[table], suite)
    return expectations


def with_hygiene(clean_df: DataFrame, conf: Conf) -> DataFrame:
    """Outliers flagged and, when configured, missing days imputed (``CLEAN_COLUMNS``)."""
    v = conf.validation
    clean_df = clean_df.transform(
        hygiene.with_outlier_flag,
        k=v.outliers.k,
        min_scale=v.outliers.min_scale,
        min_points=v.outliers.min_points,
    )
    if v.impute_missing_dates:
        clean_df = clean_df.transform(hygiene.with_filled_dates, conf.forecast.freq)
    else:
        clean_df = clean_df.withColumn("is_imputed", F.lit(False))
    return clean_df.select(*CLEAN_COLUMNS)


def evaluate(
    tables: StageTables,
    runner: suites.SuiteRunner,
    flagged_df: DataFrame,
    inputs: tuple[DataFrame, DataFrame, DataFrame, DataFrame | None],
) -> Evaluation:
    """Measure, gate and run the suites; return the outcomes and the (lazy) output frames.

    An empty load is one when the day before the run date is a closed day (daily data: the
    calendar's ``closed``): it passes, and replaces the run date's rows with none.

    Raises:
        InputError: no raw sales were loaded on the run date, and the day before is open.
    """
    conf = tables.conf
    raw_all_df, items_df, locations_df, inventory_df = inputs
    m = _measure(flagged_df)
    clean_df = typed_clean(flagged_df, tables.run_id)
    quarantined_df = rules.filter_quarantined(flagged_df).select(*RAW_COLUMNS, "reasons")
    outputs = {
        "clean_df": with_hygiene(clean_df, conf),
        "quarantine_df": tables.stamp(quarantined_df, QUARANTINE),
    }
    if m.rows_in == 0:
        return Evaluation(m, [_closed_day_gate(tables)], {}, **outputs)
    frames = {"clean_sales": clean_df, "items": items_df, "locations": locations_df,
              "inventory": inventory_df}  # fmt: skip
    # A master taken from the sales' keys is no table: its suite would judge made-up rows.
    frames = {k: None if k in tables.missing else df for k, df in frames.items()}
    expectations = run_suites(conf, runner, frames)
    suite_gates = [gates.suite_gate(table, outcomes) for table, outcomes in expectations.items()]
    return Evaluation(
        measures=m,
        gates=gates.with_severity(
            table_gates(m, raw_all_df, conf) + suite_gates, conf.validation.warning_gates
        ),
        expectations=expectations,
        **outputs,
    )


def _closed_day_gate(tables: StageTables) -> GateOutcome:
    """The passed gate of an empty load after a closed day; InputError when the day before
    the run date is open (or the data are not daily)."""
    conf, day = tables.conf, tables.run_date - dt.timedelta(days=1)
    if conf.forecast.freq != "D" or day not in tables.closed_days():
        raise InputError(
            f"no raw sales loaded on {conf.run_date} in {tables.ref('raw_sales')} (if the "
            f"business was closed on {day}, give that day closed=true in the calendar table)"
        )
    return gates.closed_day_gate(day)


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
        F.size(F.collect_set(F.when(is_clean, F.col("p_date")))).alias("dates"),
        F.collect_set(F.when(is_clean, F.dayofweek("p_date"))).alias("weekdays"),
        F.collect_set(F.when(is_clean, F.dayofmonth("p_date"))).alias("monthdays"),
        *[F.count_if(cond).alias(code) for code, cond in has.items()],
    ).first()
    return Measures(
        rows_in=row["rows"],
        clean=row["clean"],
        keyed=row["keyed"],
        known=row["known"],
        latest_clean_date=row["latest"],
        by_reason={code: row[code] for code in rules.REASONS if row[code]},
        dates=row["dates"],
        weekdays=tuple(row["weekdays"]),
        monthdays=tuple(row["monthdays"]),
    )


def _load_sizes(
    raw_all_df: DataFrame, run_date: dt.date
) -> tuple[tuple[int, int], tuple[int, int] | None]:
    """``(rows, rows on its busiest sale date)`` of the run date's load and of the latest
    load before it (None when there is none). Dates are compared by their first ten
    characters (a time of day does not make a date of its own), malformed ones too."""
    per_date = (
        raw_all_df.filter(F.col("load_date") <= F.lit(run_date))
        .groupBy("load_date", F.substring(F.trim("date"), 1, 10).alias("_day"))
        .count()
    )
    sizes = (
        per_date.groupBy("load_date")
        .agg(F.sum("count").alias("rows"), F.max("count").alias("peak"))
        .orderBy(F.col("load_date").desc())
        .limit(2)
        .collect()
    )
    current = [(r["rows"], r["peak"]) for r in sizes if r["load_date"] == run_date]
    earlier = [(r["rows"], r["peak"]) for r in sizes if r["load_date"] != run_date]
    return (current[0] if current else (0, 0)), (earlier[0] if earlier else None)


def _record(
    tables: StageTables,
    runner: suites.SuiteRunner,
    expectations: dict[str, list[suites.ExpectationOutcome]],
    all_gates: list[GateOutcome],
) -> None:
    """Write this run's dq_results (replacing the run date's) and the Data Docs site."""
    dq_df = results.results_df(
        tables.spark,
        run_date=tables.run_date,
        run_id=tables.run_id,
        expectations=expectations,
        gates=all_gates,
    )
    tables.replace(dq_df, "dq_results")
    if expectations:
        index = runner.build_docs()
        log.info("data docs: %s", index)


def _check_conservation(tables: StageTables, rows_in: int) -> tuple[int, int]:
    """Re-read what was written: observed clean + quarantined rows must equal rows loaded.

    Returns:
        The numbers of imputed days and of flagged outliers written for this load.
    """
    written = (
        tables.read("clean_sales")
        .filter(F.col("load_date") == F.lit(tables.run_date))
        .agg(
            F.count_if(~F.col("is_imputed")).alias("observed"),
            F.count_if(F.col("is_imputed")).alias("imputed"),
            F.count_if(F.col("is_outlier")).alias("outliers"),
        )
        .first()
    )
    written_quarantine = tables.read("quarantine").transform(tables.of_run_date).count()
    observed = written["observed"] or 0
    if observed + written_quarantine != rows_in:
        raise DataQualityError(
            f"conservation failed: {rows_in} rows in, {observed} clean + "
            f"{written_quarantine} quarantined written"
        )
    return written["imputed"] or 0, written["outliers"] or 0
