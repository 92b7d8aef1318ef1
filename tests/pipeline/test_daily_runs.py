"""Day after day through the forecast stage: what each run date knew, and how its forecasts
did once the sales came in."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from skuplan import delta_io
from skuplan.pipeline import forecast
from skuplan.schemas import CLEAN_SALES

from conftest import conf_under

pytestmark = pytest.mark.slow

D1 = dt.date(2026, 3, 2)
D2 = D1 + dt.timedelta(days=7)
SETTINGS = [
    "forecast.models=[seasonal_naive, moving_average]", "forecast.horizon=7",
    "forecast.combination=select",
]  # fmt: skip


def _load(spark, conf, load_date, days, qty):
    """A load of clean sales: series A and B at L1 on ``days``, ``qty(series, day)``."""
    rows = pd.DataFrame(
        [(s, "L1", d, float(qty(s, d))) for s in "AB" for d in days],
        columns=["sku", "location", "date", "qty"],
    )
    _load_rows(spark, conf, load_date, rows)


def _load_rows(spark, conf, load_date, rows):
    """Append ``rows`` (``sku, location, date, qty``) to the load of ``load_date``."""
    rows = rows.assign(price=2.0, promo=False, is_stockout=False, load_date=load_date,
                       run_id="load", is_outlier=False, is_imputed=False)  # fmt: skip
    df = spark.createDataFrame(rows[[f.name for f in CLEAN_SALES.fields]], CLEAN_SALES)
    ref = conf.table("clean_sales")
    if delta_io.table_exists(spark, ref):
        df = df.unionByName(delta_io.read_table(spark, ref).filter(f"load_date = '{load_date}'"))
    delta_io.replace_partition(df.localCheckpoint(), ref, "load_date", load_date)


def _read(spark, conf, key):
    return delta_io.read_table(spark, conf.table(key)).toPandas()


def test_runs_score_earlier_forecasts_and_an_old_date_reproduces_its_own(spark, tmp_path):
    rng = np.random.default_rng(3)
    level = {"A": 20.0, "B": 5.0}
    noise = {d: rng.poisson(3) for d in pd.date_range(D1 - dt.timedelta(days=70), D2).date}
    first, second = (conf_under(tmp_path, *SETTINGS, run_date=d) for d in (D1, D2))
    _load(spark, first, D1, [d for d in noise if d < D1], lambda s, d: level[s] + noise[d])
    assert forecast.run(spark, first).realised is None  # nothing forecast before
    original = _read(spark, first, "forecasts")

    # The next load brings the week forecast and corrects the day before D1.
    week = [D1 + dt.timedelta(days=i) for i in range(7)]
    sold = {(s, d): level[s] + 2 * noise[d] for s in "AB" for d in week}
    day_before = D1 - dt.timedelta(days=1)
    _load(spark, second, D2, [*week, day_before],
          lambda s, d: sold[s, d] if d >= D1 else 500.0)  # fmt: skip
    for _ in range(2):  # a re-run of the run date neither duplicates nor changes a row
        summary = forecast.run(spark, second)
        scored = _read(spark, second, "forecast_accuracy")
        assert len(scored) == 14 and summary.realised["periods"] == 14
    by_hand = original.assign(
        actual=[sold[s, d] for s, d in zip(original.sku, original.date, strict=True)]
    )
    by_hand["abs_error"] = (by_hand["yhat"] - by_hand["actual"]).abs()
    got = scored.set_index(["sku", "date"]).sort_index()
    want = by_hand.set_index(["sku", "date"]).sort_index()
    assert (got["forecast_run_date"] == D1).all() and (got["run_date"] == D2).all()
    np.testing.assert_allclose(got["abs_error"], want["abs_error"])
    assert list(got["step"]) == list(want["step"])
    assert summary.realised["wape"] == pytest.approx(
        by_hand["abs_error"].sum() / by_hand["actual"].sum()
    )

    # Re-running D1 after the correcting load: the same history, the same forecasts, and
    # D2's scores stay.
    forecast.run(spark, first)
    again = _read(spark, first, "forecasts").query("run_date == @D1")
    columns = ["sku", "date", "model", "yhat", "q10", "q90"]
    pd.testing.assert_frame_equal(
        again[columns].sort_values(["sku", "date"]).reset_index(drop=True),
        original[columns].sort_values(["sku", "date"]).reset_index(drop=True),
    )
    assert (_read(spark, first, "forecast_accuracy")["run_date"] == D2).all()


AUTO = [
    "forecast.recalibration.mode=auto", "forecast.recalibration.full_every_days=30",
    "forecast.recalibration.min_drift_periods=7", "forecast.combination=weights",
]  # fmt: skip


def test_auto_reuses_selections_and_reselects_new_and_drifted_series(spark, tmp_path):
    rng = np.random.default_rng(4)
    history = pd.date_range(D1 - dt.timedelta(days=90), D1 - dt.timedelta(days=1)).date
    noise = {d: rng.poisson(4) for d in pd.date_range(history[0], D2).date}
    first, second = (conf_under(tmp_path, *SETTINGS, *AUTO, run_date=d) for d in (D1, D2))
    _load(spark, first, D1, list(history), lambda s, d: 20 + noise[d])
    forecast.run(spark, first)
    runs = _read(spark, first, "model_runs").set_index("sku")
    assert set(runs["path"]) == {"full"} and set(runs["path_reason"]) == {"new series"}
    assert set(runs["chosen_model"]) == {"combined"}  # the state keeps its weights and band

    # A week later: A sells as before, B five times as much (its forecasts drifted), and C
    # is new.
    week = [D1 + dt.timedelta(days=i) for i in range(7)]
    _load(spark, second, D2, week, lambda s, d: (100 if s == "B" else 20) + noise[d])
    new = pd.DataFrame({"sku": "C", "location": "L1", "date": list(history) + week})
    _load_rows(spark, second, D2, new.assign(qty=[5.0 + noise[d] for d in new["date"]]))
    summary = forecast.run(spark, second)
    runs = _read(spark, second, "model_runs").query("run_date == @D2").set_index("sku")
    assert dict(runs["path"]) == {"A": "incremental", "B": "full", "C": "full"}
    assert runs.loc["A", "path_reason"] == f"selection of {D1} reused"
    assert runs.loc["B", "path_reason"].startswith("drift: realised MASE")
    assert runs.loc["C", "path_reason"] == "new series"
    assert runs.loc["A", "backtest_folds"] == 0 and runs.loc["B", "backtest_folds"] > 0
    selected = _read(spark, first, "model_runs").query("run_date == @D1").set_index("sku")
    assert runs.loc["A", "weights"] == selected.loc["A", "weights"]
    state = _read(spark, second, "model_state").query("run_date == @D2").set_index("sku")
    assert dict(state["selected_on"]) == {"A": D1, "B": D2, "C": D2}
    assert state["backtest_mase"].notna().all()
    # A's backtest metrics are its selection's, carried to this run date.
    metrics = _read(spark, second, "backtest_metrics").query("run_date == @D2")
    assert set(metrics["sku"]) == {"A", "B", "C"} and summary.series == 3
    forecasts = _read(spark, second, "forecasts").query("run_date == @D2")
    assert len(forecasts) == 21 and (forecasts["q90"] >= forecasts["q10"]).all()
