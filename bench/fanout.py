"""Fan-out efficiency: the Spark job's series per second against the single-process limit.

The same per-series function (``skuplan.forecasting.transport.series_records``: backtests, selection,
final forecast) runs (a) in one Python loop over pandas groups and (b) through
``groupBy(...).applyInPandas`` on ``local[N]``. Efficiency = (b's series/s) / (N x a's
series/s); the target is >= 0.9. Both are warmed before they are timed: the loop runs one
series (imports Prophet and LightGBM), the fan-out runs once (its Python workers import them,
once per session). Both also report the CPU seconds of the process tree by program: this
Python process or the Spark Python workers, their children (cmdstan, one run per Prophet
fit), and the JVM.

Usage (from the project root)::

    .venv/bin/python bench/fanout.py [--series 60] [--repeats 3] [--cores 2] [--models ...]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))
sys.path.insert(0, str(ROOT / "bench"))

from common import cpu_text, own_cpu_seconds, tree_cpu_seconds  # noqa: E402

from skuplan import delta_io, fanout  # noqa: E402
from skuplan.columns import KEYS  # noqa: E402
from skuplan.conf import load_conf  # noqa: E402
from skuplan.forecasting.transport import (  # noqa: E402
    series_records,
    series_records_schema,
)
from skuplan.pipeline import demo, validate  # noqa: E402
from skuplan.pipeline.forecast import engine_spec, series_weight  # noqa: E402
from skuplan.pipeline.forecast_global import fanout_partitions  # noqa: E402
from skuplan.pipeline.forecast_inputs import HISTORY_COLUMNS  # noqa: E402
from skuplan.session import get_session  # noqa: E402

RUN_DATE = dt.date(2026, 6, 30)
DEFAULT_MODELS = "seasonal_naive,moving_average,croston,sba,tsb,prophet"


def measure(
    series: int = 60,
    repeats: int = 3,
    cores: int = 2,
    models: str = DEFAULT_MODELS,
    partitions: int | None = None,
    folds: int | None = None,
    history_days: int | None = None,
) -> dict:
    """Time the loop and the Spark fan-out on the same series; medians of ``repeats``."""
    with tempfile.TemporaryDirectory(prefix="skuplan-fanout-") as tmp:
        conf = load_conf(
            ROOT / "conf",
            "local",
            RUN_DATE,
            [
                f"warehouse={tmp}",
                f"spark.master=local[{cores}]",
                f"spark.options.spark.sql.shuffle.partitions={cores * 4}",
                f"demo.n_series={series}",
                "demo.dirty_share=0",
                f"forecast.models=[{models}]",
                *([f"forecast.partitions={partitions}"] if partitions else []),
                *([f"forecast.backtest.folds={folds}"] if folds else []),
                *([f"demo.history_days={history_days}"] if history_days else []),
            ],
        )
        spark = get_session(conf)
        demo.run(spark, conf)
        validate.run(spark, conf)
        history_df = delta_io.read_table(spark, conf.table("clean_sales")).select(*HISTORY_COLUMNS)
        history_df = history_df.filter(history_df.date < RUN_DATE).cache()
        n_series = history_df.select(*KEYS).distinct().count()
        groups = [
            g for _, g in history_df.toPandas().groupby(list(KEYS))
        ]  # the loop's input, outside the timing
        fn = partial(series_records, run_date=RUN_DATE, spec=engine_spec(conf.forecast))
        schema = series_records_schema(conf.forecast.quantiles)

        tasks = fanout_partitions(spark, conf.forecast)

        def fan_out() -> None:
            fanout.apply_per_series(
                history_df, fn, schema, partitions=tasks, weight=series_weight()
            ).write.format("noop").mode("overwrite").save()

        fn(groups[0])  # warm the imports (Prophet, LightGBM) before timing
        fan_out()  # and the Python workers' imports
        # The Spark runs go back to back: Spark stops Python workers idle for a minute, and
        # the loop takes about that long, so a fan-out right after it would start cold.
        spark_times, spark_cpu = _timed(fan_out, repeats, lambda: tree_cpu_seconds(os.getpid()))
        loop_times, loop_cpu = _timed(lambda: [fn(g) for g in groups], repeats, own_cpu_seconds)
        spark.stop()

    loop, fan = statistics.median(loop_times), statistics.median(spark_times)
    return {
        "series": n_series,
        "models": models,
        "folds": conf.forecast.backtest.folds,
        "history_days": conf.demo.history_days,
        "cores": cores,
        "tasks": tasks,
        "repeats": repeats,
        "loop_s": loop,
        "spark_s": fan,
        "loop_runs": loop_times,
        "spark_runs": spark_times,
        "loop_cores_busy": statistics.median(
            sum(c.values()) / t for c, t in zip(loop_cpu, loop_times, strict=True)
        ),
        # CPU seconds by program (medians over the repeats), and the cores' idle seconds.
        "loop_cpu": _median_by_program(loop_cpu),
        "spark_cpu": _median_by_program(spark_cpu),
        "spark_idle_core_s": statistics.median(
            cores * t - sum(c.values()) for c, t in zip(spark_cpu, spark_times, strict=True)
        ),
        "efficiency": (n_series / fan) / (cores * n_series / loop),
        # What a series costs in the job: the cores held for the job's wall time, per series.
        "job_core_s_per_series": cores * fan / n_series,
        "loop_core_s_per_series": statistics.median(sum(c.values()) for c in loop_cpu) / n_series,
    }


def _timed(run, repeats: int, cpu) -> tuple[list[float], list[dict[str, float]]]:
    """Wall seconds of ``repeats`` calls of ``run``, and the CPU seconds ``cpu()`` counts
    during each, by program."""
    times, used = [], []
    for _ in range(repeats):
        cpu_before, started = cpu(), time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
        used.append(_used(cpu_before, cpu()))
    return times, used


def _used(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """CPU seconds by program between two readings (programs under 0.05 s left out)."""
    used = {k: v - before.get(k, 0.0) for k, v in after.items()}
    return {k: v for k, v in used.items() if v >= 0.05}


def _median_by_program(runs: list[dict[str, float]]) -> dict[str, float]:
    programs = sorted({k for run in runs for k in run})
    return {k: statistics.median(run.get(k, 0.0) for run in runs) for k in programs}


def format_result(r: dict) -> str:
    n = r["series"]
    return "\n".join(
        [
            f"series: {n} x {r['history_days']} days, models: {r['models']}, "
            f"{r['folds']} backtest folds, local[{r['cores']}], {r['tasks']} tasks, "
            f"repeats: {r['repeats']}",
            f"single-process loop: median {r['loop_s']:.1f} s ({n / r['loop_s']:.2f} series/s), "
            f"{r['loop_cores_busy']:.2f} cores busy (above 1: threads or child processes)",
            f"Spark applyInPandas: median {r['spark_s']:.1f} s ({n / r['spark_s']:.2f} series/s)",
            f"core-seconds per series: job {r['job_core_s_per_series']:.3f} "
            f"(cores x wall / series), loop {r['loop_core_s_per_series']:.3f} (CPU / series)",
            f"CPU seconds, loop: {cpu_text(r['loop_cpu'])}",
            f"CPU seconds, Spark: {cpu_text(r['spark_cpu'])}; "
            f"cores idle {r['spark_idle_core_s']:.1f} core-s",
            f"efficiency vs {r['cores']} x loop: {r['efficiency']:.2f}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--models", default=DEFAULT_MODELS)
    parser.add_argument("--partitions", type=int, default=None, help="forecast.partitions")
    parser.add_argument("--folds", type=int, default=None, help="forecast.backtest.folds")
    parser.add_argument("--history-days", type=int, default=None, help="demo.history_days")
    parser.add_argument("--json", type=Path, help="also write the result as JSON")
    args = parser.parse_args(argv)
    result = measure(
        args.series, args.repeats, args.cores, args.models, args.partitions, args.folds,
        args.history_days,
    )  # fmt: skip
    print(format_result(result))
    if args.json:
        args.json.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
