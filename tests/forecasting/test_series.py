"""The per-series engine: cross-validate, select, forecast (plain pandas, no Spark)."""

import datetime as dt
from dataclasses import replace

import numpy as np
import pandas as pd

from skuplan.columns import quantile_column
from skuplan.conf import load_conf
from skuplan.forecasting.series import forecast_series
from skuplan.forecasting.transport import global_group_forecasts
from skuplan.models import registry
from skuplan.pipeline.forecast import engine_spec

from conftest import ROOT

RUN_DATE = dt.date(2026, 3, 1)
BASELINES = "forecast.models=[seasonal_naive, moving_average, croston, sba, tsb]"
SPEC = engine_spec(
    load_conf(ROOT / "conf", "local", overrides=["forecast.horizon=14", BASELINES]).forecast
)


def _spec(**update):
    return replace(SPEC, **update)


def _history(values, sku="A", location="L1", end=RUN_DATE - dt.timedelta(days=1), promo=None):
    dates = pd.date_range(end=pd.Timestamp(end), periods=len(values), freq="D").date
    n = len(values)
    return pd.DataFrame(
        {
            "sku": sku,
            "location": location,
            "date": dates,
            "qty": np.asarray(values, float),
            "price": 2.0,
            "promo": np.zeros(n, bool) if promo is None else promo,
            "is_stockout": np.zeros(n, bool),
        }
    )


def test_a_perfectly_weekly_series_picks_seasonal_naive_with_zero_error():
    result = forecast_series(_history([1, 2, 3, 4, 5, 6, 7] * 12), run_date=RUN_DATE, spec=SPEC)
    fc, metrics, run = result.forecasts, result.metrics, result.run
    assert len(fc) == 14 and fc["step"].tolist() == list(range(1, 15))
    assert fc["date"].iloc[0] == RUN_DATE
    assert fc["yhat"].tolist() == [1, 2, 3, 4, 5, 6, 7] * 2
    assert set(fc["model"]) == {"seasonal_naive"} and set(fc["status"]) == {"ok"}
    assert (
        run["chosen_model"].iloc[0] == "seasonal_naive" and run["demand_class"].iloc[0] == "smooth"
    )
    chosen = metrics.set_index("model").loc["seasonal_naive"]
    # MASE is undefined (perfect in-sample seasonal naive): WAPE breaks the tie.
    assert np.isnan(chosen["mase"]) and chosen["wape"] == 0 and chosen["is_selected"]
    assert set(metrics["model"]) == {
        "seasonal_naive",
        "moving_average",
    }  # intermittent models sit out
    # Zero backtest error: the calibrated band collapses onto the forecast.
    assert np.allclose(fc["q10"], fc["yhat"]) and np.allclose(fc["q90"], fc["yhat"])


def test_quantiles_are_ordered_and_non_negative():
    rng = np.random.default_rng(0)
    fc = forecast_series(_history(rng.poisson(2.0, 200)), run_date=RUN_DATE, spec=SPEC).forecasts
    cols = [quantile_column(q) for q in SPEC.quantiles]
    assert (np.diff(fc[cols].to_numpy(), axis=1) >= 0).all()
    assert (fc[["yhat", *cols]] >= 0).all().all()
    assert (fc["q90"] > fc["q10"]).all()


def test_intermittent_series_let_croston_family_compete():
    rng = np.random.default_rng(3)
    y = np.where(rng.random(300) < 0.15, rng.integers(1, 6, 300), 0)
    result = forecast_series(_history(y), run_date=RUN_DATE, spec=SPEC)
    assert result.run["demand_class"].iloc[0] in ("intermittent", "lumpy")
    assert {"croston", "sba", "tsb"} <= set(result.metrics["model"])
    assert result.metrics["is_selected"].sum() == 1


def test_short_history_gets_a_simple_model_without_backtest():
    result = forecast_series(_history([2, 4, 6]), run_date=RUN_DATE, spec=SPEC)
    assert set(result.forecasts["model"]) == {"historic_mean"}
    assert result.forecasts["yhat"].tolist() == [4.0] * 14
    assert result.metrics.empty and result.run["backtest_folds"].iloc[0] == 0


def _fails_on_full_history(data):
    if len(data.history) >= 80:
        raise RuntimeError("solver diverged")
    return registry.MODELS["seasonal_naive"].fn(data)


def test_a_model_that_fails_in_backtest_is_recorded_and_skipped(monkeypatch):
    def broken(data):
        raise ValueError("bad input")

    monkeypatch.setitem(registry.MODELS, "broken", registry.ModelSpec(broken, min_history=1))
    spec = _spec(models=("broken", "seasonal_naive"))
    result = forecast_series(_history([1, 2, 3, 4, 5, 6, 7] * 12), run_date=RUN_DATE, spec=spec)
    broken_row = result.metrics.set_index("model").loc["broken"]
    assert broken_row["error"] == "ValueError: bad input" and np.isnan(broken_row["mase"])
    assert result.run["chosen_model"].iloc[0] == "seasonal_naive"
    assert result.run["status"].iloc[0] == "ok"


def test_a_chosen_model_that_fails_on_the_final_fit_falls_back_and_records_why(monkeypatch):
    monkeypatch.setitem(
        registry.MODELS, "fragile", registry.ModelSpec(_fails_on_full_history, min_history=1)
    )
    spec = _spec(models=("fragile", "moving_average"))
    result = forecast_series(_history([1, 2, 3, 4, 5, 6, 7] * 12), run_date=RUN_DATE, spec=spec)
    assert result.metrics.set_index("model").loc["fragile", "is_selected"] == False  # noqa: E712
    run = result.run.iloc[0]
    assert run["status"] == "fallback" and run["chosen_model"] == "moving_average"
    assert run["error"] == "fragile: RuntimeError: solver diverged"
    assert set(result.forecasts["status"]) == {"fallback"} and len(result.forecasts) == 14


def test_backtests_shorter_than_the_horizon_still_give_a_full_band():
    rng = np.random.default_rng(6)
    spec = _spec(folds=3, step=7, cv_horizon=7)
    fc = forecast_series(_history(rng.poisson(4.0, 200)), run_date=RUN_DATE, spec=spec).forecasts
    assert len(fc) == 14 and fc[["q10", "q90"]].notna().all().all()
    assert (fc["q90"] - fc["q10"]).iloc[13] >= (fc["q90"] - fc["q10"]).iloc[0]


def test_ensemble_competes_when_configured():
    rng = np.random.default_rng(5)
    result = forecast_series(
        _history(rng.poisson(4.0, 200)), run_date=RUN_DATE, spec=_spec(ensemble_size=2)
    )
    assert "ensemble" in set(result.metrics["model"])


def _seasonal_promo_series(sku, n, rng, level=5.0):
    dates = pd.date_range(end=pd.Timestamp(RUN_DATE - dt.timedelta(days=1)), periods=n)
    promo = rng.random(n) < 0.08
    lam = level * (1 + 0.5 * np.sin(2 * np.pi * dates.dayofweek / 7)) * np.where(promo, 2.0, 1.0)
    return pd.DataFrame(
        {
            "sku": sku,
            "location": "L1",
            "date": dates.date,
            "qty": rng.poisson(lam).astype(float),
            "price": np.where(promo, 1.5, 2.0),
            "promo": promo,
            "is_stockout": False,
        }
    )


def test_prophet_and_lightgbm_compete_and_beat_moving_average_on_seasonal_promo_demand():
    rng = np.random.default_rng(11)
    spec = _spec(models=("moving_average", "prophet", "lightgbm"))
    result = forecast_series(_seasonal_promo_series("A", 400, rng), run_date=RUN_DATE, spec=spec)
    mase = result.metrics.set_index("model")["mase"]
    assert set(mase.index) == {"moving_average", "prophet", "lightgbm"}
    assert result.metrics["error"].isna().all()
    # Weekly seasonality and promotions are learnable: both beat a flat moving average.
    assert mase["prophet"] < mase["moving_average"] and mase["lightgbm"] < mase["moving_average"]
    assert result.run["chosen_model"].iloc[0] in ("prophet", "lightgbm")


def test_global_model_forecasts_compete_per_series():
    rng = np.random.default_rng(12)
    group = pd.concat(
        [_seasonal_promo_series(f"S{i}", 200 + 20 * i, rng, level=2 + i) for i in range(6)]
    )
    spec = _spec(models=("moving_average", "lightgbm_global"))
    external = global_group_forecasts(group, run_date=RUN_DATE, spec=spec)
    external = external[external["group_key"].isna()]  # the group's model is on its own row
    # Three backtest origins and the final forecast, for every series, 14 days each.
    assert external.groupby(["sku", "origin"]).size().eq(14).all()
    assert external["sku"].nunique() == 6 and external["origin"].nunique() == 4
    one = group[group["sku"] == "S2"]
    result = forecast_series(
        one, run_date=RUN_DATE, spec=spec, external=external[external["sku"] == "S2"]
    )
    assert set(result.metrics["model"]) == {"moving_average", "lightgbm_global"}
    assert result.metrics["error"].isna().all()


def test_a_failed_global_model_is_recorded_per_series():
    rng = np.random.default_rng(13)
    one = _seasonal_promo_series("A", 120, rng)
    external = pd.DataFrame(
        {"sku": ["A"], "location": ["L1"], "model": ["lightgbm_global"], "origin": [None], "ds": [None], "yhat": [np.nan],
         "q10": [np.nan], "q50": [np.nan], "q90": [np.nan], "error": ["lightgbm_global: MemoryError"]}
    )  # fmt: skip
    spec = _spec(models=("moving_average", "lightgbm_global"))
    result = forecast_series(one, run_date=RUN_DATE, spec=spec, external=external)
    row = result.metrics.set_index("model").loc["lightgbm_global"]
    assert row["error"] == "RuntimeError: lightgbm_global: MemoryError"
    assert (
        result.run["chosen_model"].iloc[0] == "moving_average"
        and result.run["status"].iloc[0] == "ok"
    )
