"""Daily recalibration on the demo: the forecast stage on a full day, on the incremental day
after it, and a full run of that same day, with their accuracy on the 28 days that follow.

    .venv/bin/python bench/recalibration.py --series 1000 --json /tmp/recal.json

The demo is generated and validated once, up to 28 days after the second run date; its
clean sales are then re-stamped as the loads each run date would have seen (point in time:
a run date reads loads on or before it), so both days see exactly their own history. Day 1
runs in ``auto`` mode (every series is new: full); day 2 in ``auto`` (the incremental path
unless a series is new, stale or drifted), then again in ``full`` mode. Timings are of the
forecast stage alone, one run each, in one process.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))

DAY1 = dt.date(2026, 6, 1)
DAY2 = DAY1 + dt.timedelta(days=1)
HELD_OUT = 28


def _conf(warehouse: Path, run_date: dt.date, n_series: int, mode: str):
    from skuplan.conf import load_conf

    return load_conf(
        ROOT / "conf",
        "local",
        run_date,
        [
            f"warehouse={warehouse}",
            "spark.master=local[2]",
            "spark.options.spark.driver.memory=6g",
            f"demo.n_series={n_series}",
            f"forecast.recalibration.mode={mode}",
        ],
    )


def _restamp(spark, conf) -> None:
    """The validated sales as two loads: before day 1 (loaded on day 1) and day 1 itself
    (loaded on day 2); the full load stays, dated after both, for the actuals."""
    import pyspark.sql.functions as F

    from skuplan import delta_io

    ref = conf.table("clean_sales")
    clean = delta_io.read_table(spark, ref).localCheckpoint()
    for load, upto in ((DAY1, DAY1), (DAY2, DAY2)):
        part = clean.filter(F.col("date") < F.lit(upto)).withColumn("load_date", F.lit(load))
        if load == DAY2:
            part = part.filter(F.col("date") >= F.lit(DAY1))
        delta_io.replace_partition(part, ref, "load_date", load)


def _wape(spark, conf, actual) -> float:
    """WAPE of the run date's forecasts on the held-out days."""
    from skuplan import delta_io

    fc = delta_io.read_table(spark, conf.table("forecasts")).filter(f"run_date = '{conf.run_date}'")
    joined = (
        fc.select("sku", "location", "date", "yhat")
        .toPandas()
        .merge(actual, on=["sku", "location", "date"])
    )
    return float((joined["yhat"] - joined["qty"]).abs().sum() / joined["qty"].abs().sum())


def run(n_series: int, warehouse: Path) -> dict:
    from skuplan import delta_io
    from skuplan.pipeline import demo, forecast, validate
    from skuplan.session import get_session

    end = DAY2 + dt.timedelta(days=HELD_OUT)
    conf = _conf(warehouse, end, n_series, "full")
    spark = get_session(conf)
    demo.run(spark, conf)
    validate.run(spark, conf)
    _restamp(spark, conf)
    clean = delta_io.read_table(spark, conf.table("clean_sales")).filter(f"load_date = '{end}'")
    actual = clean.filter(f"date >= '{DAY2}'").select("sku", "location", "date", "qty").toPandas()
    result: dict = {"series": n_series}
    for name, day, mode in (("day1_full", DAY1, "auto"), ("day2_auto", DAY2, "auto"),
                            ("day2_full", DAY2, "full")):  # fmt: skip
        conf = _conf(warehouse, day, n_series, mode)
        started = time.perf_counter()
        summary = forecast.run(spark, conf)
        result[f"{name}_s"] = time.perf_counter() - started
        runs = delta_io.read_table(spark, conf.table("model_runs")).filter(f"run_date = '{day}'")
        result[f"{name}_paths"] = {
            r["path"]: r["count"] for r in runs.groupBy("path").count().collect()
        }
        result[f"{name}_series"] = summary.series
        if day == DAY2:
            result[f"{name}_wape"] = _wape(spark, conf, actual)
    result["ratio"] = result["day2_auto_s"] / result["day2_full_s"]
    result["wape_change"] = result["day2_auto_wape"] / result["day2_full_wape"] - 1
    spark.stop()
    return result


def main(argv: list[str] | None = None) -> int:
    # The stages' progress lines: where the time goes.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("py4j").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="skuplan-recal-") as tmp:
        result = run(args.series, Path(tmp) / "wh")
    text = json.dumps(result, indent=2, default=str)
    print(text)
    if args.json:
        args.json.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
