"""The report stage: reads the run date's tables, renders, and writes one file atomically."""

import datetime as dt
import json
import re

import pytest

from skuplan import delta_io
from skuplan.errors import InputError
from skuplan.pipeline import report

from conftest import RUN_DATE

FORECASTS = (
    "run_date date, run_id string, sku string, location string, date date, model string, "
    "yhat double, q10 double, q50 double, q90 double"
)
CLEAN_SALES = (
    "sku string, location string, date date, qty double, is_stockout boolean, load_date date"
)


def test_write_replaces_the_file_atomically(tmp_path):
    path = tmp_path / "reports" / "r.html"
    size = report.write("<p>café</p>", path)
    assert path.stat().st_size == size == len("<p>café</p>".encode())
    # A re-write replaces the file and leaves no temporary file behind.
    report.write("x", path)
    assert path.read_text() == "x" and [p.name for p in path.parent.iterdir()] == ["r.html"]


def _write_inputs(spark, conf, forecast_run_date: dt.date) -> None:
    """Forecasts of one series made on ``forecast_run_date``, and two days of its sales."""
    day = lambda t: RUN_DATE + dt.timedelta(days=t)  # noqa: E731
    # yhat 2, band q10-q90 1-3 around q50 2.
    rows = [
        (forecast_run_date, "f1", "A", "L1", day(t), "ets", 2.0, 1.0, 2.0, 3.0) for t in range(3)
    ]
    forecasts_df = spark.createDataFrame(rows, FORECASTS)
    delta_io.replace_partition(forecasts_df, conf.table("forecasts"), "run_date", forecast_run_date)
    clean_df = spark.createDataFrame(
        [("A", "L1", RUN_DATE - dt.timedelta(days=d), 1.0, d == 1, RUN_DATE) for d in (1, 2)],
        CLEAN_SALES,
    )
    delta_io.overwrite_table(clean_df, conf.table("clean_sales"))


def test_without_the_optional_tables_the_report_says_so(spark, make_conf):
    conf = make_conf()
    _write_inputs(spark, conf, RUN_DATE)
    summary = report.run(spark, conf)
    assert summary.path == conf.report_dir() / "skuplan-report-2026-06-30.html"
    assert (summary.series, summary.series_total) == (1, 1)
    text = summary.path.read_text(encoding="utf-8")
    assert summary.bytes == len(text.encode("utf-8"))
    assert "No backtest metrics for this run date." in text
    assert "No reorder plan for this run date." in text
    assert "forecast run f1 · 1 series forecast" in text
    raw = re.search(r'<script type="application/json" id="series-data">(.*?)</script>', text, re.S)
    (payload,) = json.loads(raw[1])
    assert (payload["s"], payload["l"], payload["m"]) == ("A", "L1", "ets")
    assert payload["h"] == {"t": [-2, -1], "y": [1.0, 1.0], "so": [-1]}
    assert payload["f"]["t"] == [0, 1, 2] and "p" not in payload and "d" not in payload


def test_no_forecasts_of_the_run_date_is_an_input_error(spark, make_conf):
    conf = make_conf()
    _write_inputs(spark, conf, RUN_DATE - dt.timedelta(days=1))
    with pytest.raises(InputError, match="no forecasts for 2026-06-30"):
        report.run(spark, conf)
    assert not report.report_path(conf).exists()
