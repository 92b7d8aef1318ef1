"""Fan-out efficiency: the Spark job's series per second against the single-process limit.

The same per-series function (``skuplan.forecast.series_records``: backtests, selection,
final forecast) runs (a) in one Python loop over pandas groups and (b) through
``groupBy(...).applyInPandas`` on ``local[N]``. Efficiency = (b's series/s) / (N x a's
series/s); the target is >= 0.9.

Usage (from the project root)::

    .venv/bin/python bench/fanout.py [--series 120] [--repeats 3] [--cores 2] [--models ...]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))

from skuplan import delta_io, demo_data, fanout  # noqa: E402
from skuplan.conf import load_conf  # noqa: E402
from skuplan.forecast import series_records  # noqa: E402
from skuplan.pipeline import validate  # noqa: E402
from skuplan.pipeline.forecast import HISTORY_COLUMNS, fanout_partitions  # noqa: E402
from skuplan.schemas import KEYS, series_records_schema  # noqa: E402
from skuplan.session import get_session  # noqa: E402

RUN_DATE = dt.date(2026, 6, 30)


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (cmdstan runs as a child)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=120)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--models", default="seasonal_naive,moving_average,croston,sba,tsb,prophet")
    parser.add_argument("--partitions", type=int, default=None, help="forecast.partitions")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="skuplan-fanout-") as tmp:
        conf = load_conf(
            ROOT / "conf",
            "local",
            RUN_DATE,
            [
                f"warehouse={tmp}",
                f"spark.master=local[{args.cores}]",
                f"spark.options.spark.sql.shuffle.partitions={args.cores * 4}",
                f"demo.n_series={args.series}",
                "demo.dirty_share=0",
                f"forecast.models=[{args.models}]",
                *([f"forecast.partitions={args.partitions}"] if args.partitions else []),
            ],
        )
        spark = get_session(conf)
        demo_data.run(spark, conf)
        validate.run(spark, conf)
        history_df = delta_io.read_table(spark, conf.table("clean_sales")).select(*HISTORY_COLUMNS)
        history_df = history_df.filter(history_df.date < RUN_DATE).cache()
        n_series = history_df.select(*KEYS).distinct().count()
        groups = [
            g for _, g in history_df.toPandas().groupby(list(KEYS))
        ]  # the loop's input, outside the timing
        fn = partial(series_records, run_date=RUN_DATE, settings=conf.forecast)
        schema = series_records_schema(conf.forecast.quantiles)

        fn(groups[0])  # warm the imports (Prophet, LightGBM) before timing
        loop_times, loop_cpu, spark_times = [], [], []
        for _ in range(args.repeats):
            cpu_before, started = _cpu_seconds(), time.perf_counter()
            for g in groups:
                fn(g)
            loop_times.append(time.perf_counter() - started)
            loop_cpu.append(_cpu_seconds() - cpu_before)
            started = time.perf_counter()
            fanout.apply_per_series(
                history_df, fn, schema, partitions=fanout_partitions(spark, conf)
            ).write.format("noop").mode("overwrite").save()
            spark_times.append(time.perf_counter() - started)

    loop, fan = statistics.median(loop_times), statistics.median(spark_times)
    efficiency = (n_series / fan) / (args.cores * n_series / loop)
    print(
        f"series: {n_series}, models: {args.models}, local[{args.cores}], repeats: {args.repeats}"
    )
    print(
        f"single-process loop: median {loop:.1f} s ({n_series / loop:.2f} series/s); runs {[round(t, 1) for t in loop_times]}"
    )
    print(
        f"Spark applyInPandas: median {fan:.1f} s ({n_series / fan:.2f} series/s); runs {[round(t, 1) for t in spark_times]}"
    )
    cores_used = statistics.median(c / t for c, t in zip(loop_cpu, loop_times, strict=True))
    print(
        f"single-process loop CPU: {statistics.median(loop_cpu):.1f} core-s, "
        f"{cores_used:.2f} cores busy on average (above 1: threads or child processes)"
    )
    print(f"efficiency vs {args.cores} x loop: {efficiency:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
