"""Benchmark: validation cost against one plain aggregation pass over the same raw table.

Not a test. Generates (once) an N-row raw sales Delta table with 1% dirty rows, then times,
each ``--repeats`` times on the same session:

* ``plain``: one aggregation pass (sum and count of qty per series) over the raw rows, the
  target's yardstick;
* ``series-day``: the same per series and day, which shuffles every row's key (what any
  per-day rule, such as duplicates, needs at the least);
* ``rules+GE``: the row rules, the one-pass measures, the gates and every expectation suite
  (what validation computes before it writes);
* ``full``: the above plus producing the clean rows (outlier flags, gap filling) and the
  quarantine rows, written to Spark's ``noop`` sink so that Delta write cost is left out.

Usage: .venv/bin/python bench/validate_bench.py --rows 10000000 --repeats 3 [--master local[2]]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pyspark.sql.functions as F
from pyspark import StorageLevel

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))

from skuplan import delta_io  # noqa: E402
from skuplan.conf import load_conf  # noqa: E402
from skuplan.pipeline import validate  # noqa: E402
from skuplan.quality import suites  # noqa: E402
from skuplan.schemas import INVENTORY, ITEMS, LOCATIONS  # noqa: E402
from skuplan.session import local_builder  # noqa: E402


def _generate(spark, conf, rows: int, n_series: int) -> None:
    run_date = conf.run_date
    s = F.col("id") % n_series
    day = (F.col("id") / n_series).cast("int")
    raw = spark.range(rows).select(
        F.concat(F.lit("SKU"), F.lpad((s / 10).cast("int").cast("string"), 5, "0")).alias("sku"),
        F.concat(F.lit("LOC"), (s % 10).cast("string")).alias("location"),
        F.date_sub(F.lit(run_date), day + 1).cast("string").alias("date"),
        F.when(F.rand(1) < 0.01, F.lit("n/a"))
        .otherwise((F.rand(2) * 20).cast("int").cast("string"))
        .alias("qty"),
        F.lit("2.5").alias("price"),
        F.lit("0").alias("promo"),
        F.lit("0").alias("is_stockout"),
        F.lit("bench").alias("source"),
        F.lit(run_date).alias("load_date"),
    )
    delta_io.replace_partition(raw, conf.table("raw_sales"), "load_date", run_date)
    skus = [(f"SKU{i:05d}", *[None] * (len(ITEMS.fields) - 1)) for i in range(n_series // 10 + 1)]
    delta_io.overwrite_table(spark.createDataFrame(skus, ITEMS), conf.table("items"))
    locs = [(f"LOC{j}", "R1") for j in range(10)]
    delta_io.overwrite_table(spark.createDataFrame(locs, LOCATIONS), conf.table("locations"))
    inv = [(f"SKU{i:05d}", "LOC0", run_date, 1.0, 0.0, None, 0.0) for i in range(10)]
    delta_io.overwrite_table(spark.createDataFrame(inv, INVENTORY), conf.table("inventory"))


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--warehouse", default=None, help="reuse a generated table here")
    args = parser.parse_args()

    warehouse = Path(args.warehouse or tempfile.mkdtemp(prefix="skuplan-bench-"))
    conf = load_conf(ROOT / "conf", "local", None, [f"warehouse={warehouse}"])
    options = {
        "spark.sql.shuffle.partitions": "8",
        "spark.ui.enabled": "false",
        "spark.driver.memory": "4g",
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.showConsoleProgress": "false",
    }
    spark = local_builder(args.master, ROOT / ".cache" / "jars", options, "bench").getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    if not delta_io.table_exists(spark, conf.table("raw_sales")):
        print(f"generating {args.rows} rows under {warehouse} ...", flush=True)
        _generate(spark, conf, args.rows, args.series)

    raw_df = delta_io.read_table(spark, conf.table("raw_sales")).filter(
        F.col("load_date") == F.lit(conf.run_date)
    )
    items_df = delta_io.read_table(spark, conf.table("items"))
    locations_df = delta_io.read_table(spark, conf.table("locations"))
    inventory_df = delta_io.read_table(spark, conf.table("inventory"))
    raw_all_df = delta_io.read_table(spark, conf.table("raw_sales"))

    def plain():
        raw_df.groupBy("sku", "location").agg(
            F.sum(F.col("qty").try_cast("double")), F.count(F.lit(1))
        ).write.format("noop").mode("overwrite").save()

    def series_day():
        raw_df.groupBy("sku", "location", "date").agg(
            F.sum(F.col("qty").try_cast("double")), F.count(F.lit(1))
        ).write.format("noop").mode("overwrite").save()

    def validation(full: bool):
        def go():
            flagged = validate.flag_rows(raw_df, conf, items_df, locations_df).persist(
                StorageLevel.MEMORY_AND_DISK
            )
            try:
                ev = validate.evaluate(
                    spark, conf, "bench", suites.SuiteRunner(), flagged, raw_all_df,
                    items_df, locations_df, inventory_df,
                )  # fmt: skip
                if full:
                    for df in (ev.clean_df, ev.quarantine_df):
                        df.write.format("noop").mode("overwrite").save()
            finally:
                flagged.unpersist()

        return go

    plain()  # warm the JVM and Delta's log cache: the first pass of a session is slower
    times = {"plain": [], "series-day": [], "rules+GE": [], "full": []}
    for i in range(args.repeats):
        times["plain"].append(_timed(plain))
        times["series-day"].append(_timed(series_day))
        times["rules+GE"].append(_timed(validation(full=False)))
        times["full"].append(_timed(validation(full=True)))
        print(f"repeat {i + 1}: " + ", ".join(f"{k} {v[-1]:.1f}s" for k, v in times.items()),
              flush=True)  # fmt: skip
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"rows {args.rows}, series {args.series}, master {args.master}, repeats {args.repeats}")
    for k, v in med.items():
        print(
            f"  median {k:<10} {v:7.1f}s  {v / med['plain']:5.2f}x plain  "
            f"{v / med['series-day']:5.2f}x series-day"
        )
    spark.stop()


if __name__ == "__main__":
    main()
