"""What Prophet costs per series inside the forecast job's Spark fan-out (not a test).

Runs the job's per-series function (``skuplan.forecasting.transport.series_records``) through
``applyInPandas`` on ``local[N]`` over ``--series`` five-year daily series (Poisson counts
around weekly and yearly seasonality, all smooth, so Prophet competes on every one), once
with seasonal naive alone and once with Prophet added, for 1 and 3 backtest folds. A
series' cost is the cores held for the job's wall time divided by the series:
``cores x wall / series``, which also charges Spark's own overhead and idle cores to Prophet.

* Prophet path = (with Prophet) - (seasonal naive alone);
* one Prophet fit in the job = (path with 3 folds - path with 1 fold) / 2;
* the Prophet forecast itself (final fit and prediction) = path with 1 fold - one fit.

Usage: .venv/bin/python bench/prophet_job.py [--series 100] [--repeats 2] [--cores 2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from functools import partial
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))
sys.path.insert(0, str(ROOT / "bench"))

from bench_models import series  # noqa: E402

from skuplan import fanout  # noqa: E402
from skuplan.conf import load_conf  # noqa: E402
from skuplan.forecasting.transport import (  # noqa: E402
    series_records,
    series_records_schema,
)
from skuplan.pipeline.forecast import engine_spec  # noqa: E402
from skuplan.session import get_session  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args(argv)

    frames = []
    for i in range(args.series):
        history, _ = series(seed=i)
        history = history.rename(columns={"ds": "date", "y": "qty"})
        frames.append(history.assign(sku=f"S{i:04d}", location="L1"))
    pdf = pd.concat(frames)
    pdf["date"] = pdf["date"].dt.date
    run_date = max(pdf["date"]) + dt.timedelta(days=1)

    def conf_for(models: str, folds: int):
        return load_conf(ROOT / "conf", "local", run_date, [
            f"spark.master=local[{args.cores}]",
            f"forecast.models=[{models}]",
            f"forecast.backtest.folds={folds}",
        ])  # fmt: skip

    spark = get_session(conf_for("seasonal_naive", 1))
    history_df = spark.createDataFrame(pdf[["sku", "location", "date", "qty"]]).cache()
    history_df.count()

    def job_seconds(models: str, folds: int) -> float:
        settings = conf_for(models, folds).forecast
        fn = partial(series_records, run_date=run_date, spec=engine_spec(settings))
        schema = series_records_schema(settings.quantiles)
        runs = []
        for _ in range(args.repeats + 1):  # the first run warms the Python workers
            started = time.perf_counter()
            out = fanout.apply_per_series(history_df, fn, schema, partitions=4 * args.cores)
            out.write.format("noop").mode("overwrite").save()
            runs.append(time.perf_counter() - started)
        return statistics.median(runs[1:])

    per_series = {}
    for folds in (1, 3):
        base = job_seconds("seasonal_naive", folds)
        with_prophet = job_seconds("seasonal_naive,prophet", folds)
        per_series[folds] = args.cores * (with_prophet - base) / args.series
        print(f"{folds} fold(s): seasonal naive alone {base:.1f} s, with Prophet "
              f"{with_prophet:.1f} s -> Prophet path {per_series[folds]:.3f} core-s per series",
              flush=True)  # fmt: skip
    spark.stop()
    fit = (per_series[3] - per_series[1]) / 2
    print(f"{args.series} series x 5 years daily, local[{args.cores}], medians of {args.repeats}")
    print(f"  one Prophet fit in the job (a backtest fold): {fit:.3f} core-s per series")
    print(f"  the Prophet forecast itself (final fit + prediction): {per_series[1] - fit:.3f}")
    print(f"  the whole Prophet path, 3 folds + forecast (the default): {per_series[3]:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
