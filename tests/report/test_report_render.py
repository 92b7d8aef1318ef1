"""The report's HTML from hand-made data: no Spark, no browser."""

import datetime as dt
import json
import re

import numpy as np
import pandas as pd
import plotly.offline

from skuplan.report.data import (
    ALL,
    CHOSEN,
    REVIEW_COLUMNS,
    STOCKOUT_COLUMNS,
    PlanTables,
    ReportData,
)
from skuplan.report.page import render

RUN = dt.date(2026, 6, 30)


def synthetic_payload(sku, location, rng, *, history_days=182, horizon=28, drivers=6):
    """One series' payload as ``skuplan.report.series`` builds it in Spark."""
    level = rng.uniform(1, 50)
    y = np.round(rng.poisson(level, history_days).astype(float), 2)
    f = np.round(np.full(horizon, level), 2)
    payload = {
        "s": sku,
        "l": location,
        "m": "lightgbm_global",
        "c": "smooth",
        "e": 0.8,
        "n": 1.0,
        "p": {"status": "planned", "qty": 24.0, "supplier": "S1", "reason": "position 1 ..."},
        "h": {"t": list(range(-history_days, 0)), "y": y.tolist(), "so": [-3]},
        "f": {
            "t": list(range(horizon)),
            "y": f.tolist(),
            "lo": (f * 0.7).round(2).tolist(),
            "mid": f.tolist(),
            "hi": (f * 1.3).round(2).tolist(),
        },
        "d": [
            {
                "n": f"driver{k}",
                "t": list(range(horizon)),
                "c": rng.normal(0, 1, horizon).round(3).tolist(),
            }
            for k in range(drivers)
        ],
    }
    return json.dumps(payload, separators=(",", ":"))


def _data(series, *, plan=True, series_total=None):
    accuracy = pd.DataFrame(
        [
            (CHOSEN, 3, 3, 0.8, 1.0, 2 / 3, 0.3, 0.78),
            ("seasonal_naive", 1, 3, 1.0, 1.0, 0.0, 0.4, 0.7),
            ("lightgbm_global", 2, 3, 0.7, 1.0, 1.0, 0.25, 0.8),
        ],
        columns=[
            "model", "series_chosen", "series_scored", "median_mase", "median_mase_naive",
            "share_beating_naive", "median_wape", "mean_coverage",
        ],
    )  # fmt: skip
    mase_hist = pd.DataFrame(
        [("chosen", 7, 2), ("chosen", 30, 1), ("seasonal naive", 10, 3)],
        columns=["kind", "bin", "series"],
    )
    plan_tables = PlanTables(
        status=pd.DataFrame(
            [("store", "planned", 2, 1, 24.0, 240.0), ("dc", "needs_review", 1, 1, 12.0, 120.0)],
            columns=["echelon", "plan_status", "lines", "order_lines", "units", "value"],
        ),
        suppliers=pd.DataFrame(
            [("<S1>", 2, 36.0, 360.0, 1, 1)],
            columns=["supplier", "order_lines", "units", "value", "released_lines", "held_lines"],
        ),
        review=pd.DataFrame(
            [("A", "L1", "<S1>", 12.0, 2.0, 1.0, 0.2, "order_change", "held for review: ...")],
            columns=REVIEW_COLUMNS,
        ),
        review_total=5,
        stockouts=pd.DataFrame(
            [("A", "L1", "S1", "planned", 1.0, 0.0, 2.0, 12.0, RUN, RUN, None, RUN)],
            columns=[*STOCKOUT_COLUMNS, "later_receipt"],
        ),
        stockouts_total=1,
        at_risk_total=1,
        exceptions=pd.DataFrame(
            [("not_planned", "missing_inventory", 2)], columns=["plan_status", "cause", "lines"]
        ),
        replay=pd.DataFrame(
            [("cost", "store", "all", 3, 40, 0.9375, 0.95, 0.94, 1500.0, 0.25)],
            columns=[
                "variant",
                "echelon",
                "policy",
                "series",
                "cycles",
                "target_csl",
                "achieved_csl",
                "fill_rate",
                "total_cost",
                "plan_share",
            ],
        ),
    )
    return ReportData(
        run_date=RUN,
        band=("q10", "q90"),
        nominal_coverage=0.8,
        accuracy=accuracy,
        mase_hist=mase_hist,
        series=series,
        series_total=len(series) if series_total is None else series_total,
        plan=plan_tables if plan else None,
        has_explanations=True,
        run_ids={"forecast": "train_forecast-20260630-abc"},
        realised_days=56,
    )


def _series_data(text):
    raw = re.search(r'<script type="application/json" id="series-data">(.*?)</script>', text, re.S)
    return json.loads(raw[1])


def test_report_is_one_self_contained_file_with_every_section():
    rng = np.random.default_rng(1)
    series = [synthetic_payload(f"SKU{i}", "L1", rng) for i in range(3)]
    text = render(_data(series), generated_at="now")

    # plotly.js inlined exactly once; nothing is fetched from elsewhere.
    assert text.count(plotly.offline.get_plotlyjs()) == 1
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", text)
    for element in (
        'id="accuracy-table"', 'id="fig-accuracy"', 'id="fig-mase"', 'id="fig-coverage"',
        'id="series-filter"', 'id="series-list"', 'id="series-plot"', 'id="drivers-plot"',
        'id="plan-summary"', 'id="plan-status"', 'id="orders-by-supplier"', 'id="review-lines"',
        'id="stockouts"', 'id="not-planned"', 'id="policy-replay"',
    ):  # fmt: skip
        assert element in text, element
    assert [s["s"] for s in _series_data(text)] == ["SKU0", "SKU1", "SKU2"]
    # The headline against seasonal naive, and table values as formatted numbers.
    assert "median backtest MASE 0.800 against 1.000 for seasonal naive" in text
    assert "better than seasonal naive on 67% of them" in text
    assert "Q10-Q90 band held 78% of the actuals (nominal 80%)" in text
    assert "Lines needing review: 5" in text and "The first 1 are listed" in text
    assert "No earlier forecast of the last 56 days has sales yet." in text
    assert (
        "<td>93.8%</td><td>95.0%</td><td>94.0%</td><td>1,500</td><td>25%</td>" in text
    )  # the replay


def test_realised_accuracy_is_shown_next_to_the_backtest():
    realised = pd.DataFrame(
        {"model": [ALL, "combined"], "series_scored": [2, 2], "periods": [1400, 1400],
         "wape": [0.4123, 0.4123], "bias": [-0.031, -0.031], "coverage": [0.79, 0.79]}
    )  # fmt: skip
    data = ReportData(**{**_data([]).__dict__, "realised": realised, "realised_days": 28})
    text = render(data, generated_at="now")
    assert 'id="realised-table"' in text
    assert (
        "for the last 28 days, against what sold: 1,400 periods, WAPE 0.412, bias -3.1%, "
        "79% inside the Q10-Q90 band."
    ) in text


def test_hierarchy_levels_are_shown_only_when_there_are_levels():
    assert 'id="hierarchy-table"' not in render(_data([]), generated_at="now")
    levels = pd.DataFrame(
        {"level": ["location", "location", "series", "series"],
         "method": ["bottom_up", "mint_shrink"] * 2, "is_selected": [False, True] * 2,
         "nodes": [2, 2, 40, 40], "periods": [84] * 4, "rmsse_base": [0.61, 0.61, 0.92, 0.92],
         "rmsse": [0.63, 0.58, 0.92, 0.915]}
    )  # fmt: skip
    text = render(ReportData(**{**_data([]).__dict__, "hierarchy": levels}), generated_at="now")
    table = text[text.index('id="hierarchy-table"') :]
    assert "<th>bottom up</th><th>mint shrink (in use)</th>" in table
    assert "<td>location</td><td>2</td><td>0.610</td><td>0.630</td><td>0.580</td>" in table


def test_text_from_the_data_cannot_break_out_of_the_page():
    rng = np.random.default_rng(2)
    evil = synthetic_payload("</script><script>alert(1)</script>", "L<1>", rng)
    text = render(_data([evil]), generated_at="<now>")
    assert "<script>alert(1)" not in text
    assert "&lt;S1&gt;" in text and "<S1>" not in text  # table cells are escaped
    (series,) = _series_data(text)
    assert series["s"] == "</script><script>alert(1)</script>"  # the data itself is intact


def test_missing_plan_and_metrics_are_said_not_drawn():
    data = _data([], plan=False)
    data = ReportData(**{**data.__dict__, "accuracy": pd.DataFrame()})
    text = render(data, generated_at="now")
    assert "No reorder plan for this run date." in text
    assert "No backtest metrics for this run date." in text
    assert _series_data(text) == []


def test_thousand_series_make_one_page():
    rng = np.random.default_rng(3)
    series = [synthetic_payload(f"SKU{i:04d}", f"L{i % 10}", rng) for i in range(1000)]
    text = render(_data(series, series_total=1200), generated_at="now")
    data = _series_data(text)
    assert len(data) == 1000 and data[999]["s"] == "SKU0999"
    assert len(data[0]["h"]["t"]) == 182 and len(data[0]["d"]) == 6
    assert "1,200 series forecast, 1,000 in the explorer" in text


def test_style_and_script_are_inlined_from_the_package_assets():
    text = render(_data([]), generated_at="now")
    assert "<style>\nbody { font-family: system-ui" in text
    assert "#series-list li.selected { background: #e8f0fb; }" in text
    assert '<script>\n(function () {\n  "use strict";' in text and "})();\n</script>" in text
    # The script's regular expression keeps its single backslash (escaped once in Python).
    assert "split(/\\s+/)" in text
