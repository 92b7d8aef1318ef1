"""Scale curve: generated catalogues of growing size through validate -> forecast -> plan.

Each size runs in a fresh process on ``local[2]`` (so memory peaks do not carry over): the
demo generator writes N series of ``--days`` daily sales (in chunks, bounded memory), then
the three jobs run with the local configuration's default models. Reported per size: wall
time of each stage, raw rows per second, and the peak resident memory of the whole process
tree (driver JVM, Python workers, cmdstan), sampled every half second.

Usage (from the project root)::

    .venv/bin/python bench/scale.py --series 1000,5000          # what `make bench` runs
    .venv/bin/python bench/scale.py --series 30000 --days 1941  # M5 size: manual, ~1 hour

Cost should grow linearly with the series count: the last column divides each size's
seconds per series by the smallest size's.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))
sys.path.insert(0, str(ROOT / "bench"))

from common import PeakMemory  # noqa: E402

RUN_DATE = dt.date(2026, 6, 30)


def run_one(
    n_series: int, days: int, driver_memory: str, warehouse: Path, models: str | None = None
) -> dict:
    """Generate and run the three jobs on one catalogue size, in this process (the local
    config's models unless ``models``, comma-separated, says otherwise)."""
    from skuplan.conf import load_conf
    from skuplan.pipeline import demo, forecast, plan, run_all, validate
    from skuplan.session import get_session

    conf = load_conf(
        ROOT / "conf",
        "local",
        RUN_DATE,
        [
            f"warehouse={warehouse}",
            "spark.master=local[2]",
            f"spark.options.spark.driver.memory={driver_memory}",
            f"demo.n_series={n_series}",
            f"demo.history_days={days}",
            *([f"forecast.models=[{models}]"] if models else []),
        ],
    )
    spark = get_session(conf)
    started = time.perf_counter()
    demo.run(spark, conf)
    result = {"series": n_series, "days": days, "generate_s": time.perf_counter() - started}
    with PeakMemory() as memory, run_all.pipeline_run(spark, conf):
        for name, job in (("validate", validate), ("forecast", forecast), ("plan", plan)):
            started = time.perf_counter()
            summary = job.run(spark, conf)
            result[f"{name}_s"] = time.perf_counter() - started
            if name == "validate":
                result["raw_rows"] = summary.rows_in
            elif name == "forecast":
                result["forecast_series"] = summary.series
                result["failed_series"] = summary.failed_series
    result["peak_rss_gb"] = memory.peak / 2**30
    result["peak_rss_gb_by_program"] = {k: v / 2**30 for k, v in memory.at_peak.items()}
    result["pipeline_s"] = sum(result[f"{n}_s"] for n in ("validate", "forecast", "plan"))
    result["rows_per_s"] = result["raw_rows"] / result["pipeline_s"]
    spark.stop()
    return result


def measure(
    sizes: list[int], days: int, driver_memory: str = "6g", models: str | None = None
) -> list[dict]:
    """Each size in a fresh Python process; returns one result per size."""
    results = []
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix=f"skuplan-scale-{n}-") as tmp:
            out = Path(tmp) / "result.json"
            cmd = [sys.executable, __file__, "--one", str(n), "--days", str(days),
                   "--driver-memory", driver_memory, "--warehouse", str(Path(tmp) / "wh"),
                   "--json", str(out), *(["--models", models] if models else [])]  # fmt: skip
            subprocess.run(cmd, check=True)
            results.append(json.loads(out.read_text()))
        print(format_table(results), flush=True)
    return results


def _split(result: dict) -> str:
    parts = sorted(result.get("peak_rss_gb_by_program", {}).items(), key=lambda kv: -kv[1])
    return f" ({', '.join(f'{k} {v:.1f}' for k, v in parts if v >= 0.05)})" if parts else ""


def format_table(results: list[dict]) -> str:
    base = results[0]["pipeline_s"] / results[0]["series"]
    lines = [
        "| series | raw rows | validate s | forecast s | plan s | total s | rows/s | peak memory | s per series vs smallest |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        ratio = r["pipeline_s"] / r["series"] / base
        lines.append(
            f"| {r['series']:,} | {r['raw_rows']:,} | {r['validate_s']:.0f} | {r['forecast_s']:.0f} "
            f"| {r['plan_s']:.0f} | {r['pipeline_s']:.0f} | {r['rows_per_s']:,.0f} "
            f"| {r['peak_rss_gb']:.1f} GB{_split(r)} | {ratio:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", default="1000,5000", help="comma-separated sizes")
    parser.add_argument("--days", type=int, default=1941, help="days of history per series")
    parser.add_argument("--driver-memory", default="6g")
    parser.add_argument("--models", help="comma-separated models (default: the local config's)")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--warehouse", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help="also write the results as JSON")
    args = parser.parse_args(argv)
    if args.one:
        result = run_one(args.one, args.days, args.driver_memory, args.warehouse, args.models)
        args.json.write_text(json.dumps(result))
        return 0
    sizes = [int(s) for s in args.series.split(",")]
    results = measure(sizes, args.days, args.driver_memory, args.models)
    if args.json:
        args.json.write_text(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
