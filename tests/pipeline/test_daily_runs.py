"""Day after day through the forecast stage: which series are reselected, what each run date
knew, and how its forecasts did once the sales came in."""

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from skuplan import delta_io
from skuplan.forecasting import model_files
from skuplan.pipeline import forecast
from skuplan.schemas import CLEAN_SALES

from conftest import conf_under

pytestmark = pytest.mark.slow

D1 = dt.date(2026, 3, 2)
D2 = D1 + dt.timedelta(days=7)
SETTINGS = [
    "forecast.models=[seasonal_naive, moving_average, lightgbm_global]", "forecast.horizon=7",
    "forecast.recalibration.mode=auto", "forecast.recalibration.full_every_days=30",
    "forecast.recalibration.min_drift_periods=7",
]  # fmt: skip


def _load(spark, conf, load_date, rows):
    """Clean sales ``rows`` (``sku, location, date, qty``) as the load of ``load_date``."""
    rows = rows.assign(price=2.0, promo=False, is_stockout=False, load_date=load_date,
                       run_id="load", is_outlier=False, is_imputed=False)  # fmt: skip
    df = spark.createDataFrame(rows[[f.name for f in CLEAN_SALES.fields]], CLEAN_SALES)
    delta_io.replace_partition(df, conf.table("clean_sales"), "load_date", load_date)


def _rows(series, days, qty):
    return pd.DataFrame(
        [(s, "L1", d, float(qty(s, d))) for s in series for d in days],
        columns=["sku", "location", "date", "qty"],
    )


def _read(spark, conf, key, run_date=None):
    pdf = delta_io.read_table(spark, conf.table(key)).toPandas()
    return pdf if run_date is None else pdf[pdf["run_date"] == run_date]


def test_daily_runs_reuse_reselect_score_and_reproduce(spark, tmp_path):
    rng = np.random.default_rng(4)
    history = list(pd.date_range(D1 - dt.timedelta(days=90), D1 - dt.timedelta(days=1)).date)
    week = [D1 + dt.timedelta(days=i) for i in range(7)]
    noise = {d: rng.poisson(4) for d in [*history, *week]}
    first, second = (conf_under(tmp_path, *SETTINGS, run_date=d) for d in (D1, D2))
    _load(spark, first, D1, _rows("AB", history, lambda s, d: 20 + noise[d]))
    root = first.location(first.forecast.global_models_dir)
    stale = model_files.save(model_files.run_folder(root, D1, "replaced"), "g", 0, "text")
    assert forecast.run(spark, first).realised is None  # nothing forecast before
    # The global models' four fits are files in this run's folder; an earlier run's of the
    # date (replaced) is deleted.
    models = _read(spark, first, "global_models")
    assert len(models) == 4
    assert all(model_files.load(p).startswith("tree") for p in models.model_path)
    assert all(f"/run_id={r.run_id}/" in r.model_path for r in models.itertuples())
    assert not Path(stale).parent.parent.exists()
    runs = _read(spark, first, "model_runs")
    assert set(runs["path"]) == {"full"} and set(runs["path_reason"]) == {"new series"}
    assert set(runs["chosen_model"]) == {"combined"}  # the state keeps its weights and band
    original = _read(spark, first, "forecasts")

    # A week later: A sells as before, B five times as much (its forecasts drifted), C is
    # new, and the load corrects the day before D1.
    sold = {(s, d): (100 if s == "B" else 20) + noise[d] for s in "AB" for d in week}
    load = pd.concat([
        _rows("AB", week, lambda s, d: sold[s, d]),
        _rows("AB", [history[-1]], lambda s, d: 500),
        _rows("C", [*history, *week], lambda s, d: 5 + noise[d]),
    ])  # fmt: skip
    _load(spark, second, D2, load)
    for _ in range(2):  # a re-run of the run date neither duplicates nor changes a row
        summary = forecast.run(spark, second)
        scored = _read(spark, second, "forecast_accuracy")
        assert len(scored) == 14 and summary.realised["periods"] == 14

    runs = _read(spark, second, "model_runs", D2).set_index("sku")
    assert dict(runs["path"]) == {"A": "incremental", "B": "full", "C": "full"}
    assert runs.loc["A", "path_reason"] == f"selection of {D1} reused"
    assert runs.loc["B", "path_reason"].startswith("drift: realised MASE")
    assert runs.loc["C", "path_reason"] == "new series"
    assert runs.loc["A", "backtest_folds"] == 0 and runs.loc["B", "backtest_folds"] > 0
    selected = _read(spark, first, "model_runs", D1).set_index("sku")
    assert runs.loc["A", "weights"] == selected.loc["A", "weights"]
    state = _read(spark, second, "model_state", D2).set_index("sku")
    assert dict(state["selected_on"]) == {"A": D1, "B": D2, "C": D2}
    assert state["backtest_mase"].notna().all()
    # A's backtest metrics are its selection's, carried to this run date.
    assert set(_read(spark, second, "backtest_metrics", D2)["sku"]) == {"A", "B", "C"}
    assert len(_read(spark, second, "forecasts", D2)) == 21
    # The global models trained on D1 (the final fit and each backtest origin's) forecast
    # D2 from today's features, untrained: the scheduled retrain comes with the scheduled
    # reselection (every 30 days here). They stay with D1, the run that trained them.
    models = _read(spark, second, "global_models")
    assert set(models["run_date"]) == set(models["trained_on"]) == {D1} and len(models) == 4

    # D1's forecasts against what sold, by hand.
    by_hand = original.assign(
        actual=[sold[k] for k in zip(original.sku, original.date, strict=True)]
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

    # Re-running D1 after the correcting load and D2's state: D1's history and state, the
    # same forecasts, and D2's scores stay.
    forecast.run(spark, first)
    again = _read(spark, first, "forecasts", D1)
    columns = ["sku", "date", "model", "yhat", "q10", "q90"]
    pd.testing.assert_frame_equal(
        again[columns].sort_values(["sku", "date"]).reset_index(drop=True),
        original[columns].sort_values(["sku", "date"]).reset_index(drop=True),
    )
    assert (_read(spark, first, "forecast_accuracy")["run_date"] == D2).all()
