"""The incremental path: a series forecast from its stored recipe and band (no Spark)."""

import datetime as dt
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from skuplan.conf import load_conf
from skuplan.forecasting import state
from skuplan.forecasting.recalibrate import recalibrate_series
from skuplan.forecasting.series import forecast_series
from skuplan.pipeline.forecast import engine_spec

from conftest import ROOT

RUN_DATE = dt.date(2026, 3, 1)
SPEC = engine_spec(
    load_conf(
        ROOT / "conf", "local",
        overrides=["forecast.horizon=14", "forecast.models=[seasonal_naive, moving_average, croston]",
                   "forecast.combination=select"],
    ).forecast
)  # fmt: skip


def _history(n=120, seed=0, sku="A"):
    rng = np.random.default_rng(seed)
    dates = pd.date_range(end=pd.Timestamp(RUN_DATE) - pd.Timedelta(days=1), periods=n).date
    qty = rng.poisson(8 + 4 * (np.arange(n) % 7 == 5), n).astype(float)
    return pd.DataFrame({"sku": sku, "location": "L1", "date": dates, "qty": qty, "price": 2.0,
                         "promo": False, "is_stockout": False})  # fmt: skip


def _from_state(history, full, spec=SPEC):
    run = full.run.iloc[0]
    return recalibrate_series(
        history, run_date=RUN_DATE, spec=spec, chosen_model=run.chosen_model,
        recipe=run.recipe, band_offsets=run.band_offsets,
    )  # fmt: skip


@pytest.mark.parametrize("spec", [SPEC, replace(SPEC, ensemble_size=2)], ids=["best", "ensemble"])
def test_with_nothing_changed_the_incremental_forecast_equals_the_full_one(spec):
    history = _history()
    full = forecast_series(history, run_date=RUN_DATE, spec=spec)
    incremental = _from_state(history, full, spec)
    a, b = full.forecasts, incremental.forecasts
    assert list(b["model"].unique()) == [full.run["chosen_model"].iloc[0]]
    np.testing.assert_allclose(b["yhat"], a["yhat"])
    for q in ("q10", "q50", "q90"):  # offsets are stored to 4 decimals of the scale
        np.testing.assert_allclose(b[q], a[q], atol=1e-3 * full.run["scale"].iloc[0])
    run = incremental.run.iloc[0]
    assert (run.backtest_folds, run.status, run.recipe) == (0, "ok", full.run["recipe"].iloc[0])
    assert incremental.metrics.empty and len(incremental.explanations) == len(full.explanations)


def test_a_weighted_recipe_and_a_missing_member():
    history = _history()
    full = forecast_series(history, run_date=RUN_DATE, spec=SPEC)
    offsets = full.run["band_offsets"].iloc[0]
    weighted = recalibrate_series(
        history, run_date=RUN_DATE, spec=SPEC, chosen_model="combined",
        recipe="seasonal_naive=0.250,moving_average=0.750", band_offsets=offsets,
    )  # fmt: skip
    alone = {
        m: recalibrate_series(
            history, run_date=RUN_DATE, spec=SPEC, chosen_model=m, recipe=f"{m}=1",
            band_offsets=offsets,
        ).forecasts["yhat"].to_numpy()
        for m in ("seasonal_naive", "moving_average")
    }  # fmt: skip
    want = 0.25 * alone["seasonal_naive"] + 0.75 * alone["moving_average"]
    np.testing.assert_allclose(weighted.forecasts["yhat"], want)
    assert weighted.run["weights"].iloc[0] == "seasonal_naive=0.250,moving_average=0.750"

    # A member that cannot forecast drops out: the rest is renormalised, and it says so.
    partial = recalibrate_series(
        history, run_date=RUN_DATE, spec=SPEC, chosen_model="combined",
        recipe="lightgbm_global=0.500,moving_average=0.500", band_offsets=offsets,
    )  # fmt: skip
    np.testing.assert_allclose(partial.forecasts["yhat"], alone["moving_average"])
    assert partial.run["status"].iloc[0] == "fallback"
    assert "lightgbm_global: not available" in partial.run["error"].iloc[0]
    with pytest.raises(RuntimeError, match="not available"):
        recalibrate_series(
            history, run_date=RUN_DATE, spec=SPEC, chosen_model="x", recipe="nope=1",
            band_offsets=offsets,
        )  # fmt: skip


def test_state_text_round_trips():
    assert state.parse_recipe("a=0.250,b=0.250") == {"a": 0.5, "b": 0.5}
    assert state.recipe_of("ensemble", ["b", "a"]) == "a=0.500,b=0.500"
    offsets = {0.1: np.array([-2.0, -4.0]), 0.9: np.array([3.0, np.nan])}
    text = state.offsets_text(offsets, 2.0)
    back = state.parse_offsets(text, 2.0, 3)  # a longer horizon repeats the last step
    np.testing.assert_allclose(back[0.1], [-2.0, -4.0, -4.0])
    np.testing.assert_allclose(back[0.9], [3.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="not a recipe"):
        state.parse_recipe("")
