import datetime as dt
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from skuplan.columns import DRIVERS, contribution_column
from skuplan.conf import load_conf
from skuplan.forecasting import final
from skuplan.forecasting.series import forecast_series
from skuplan.forecasting.transport import global_group_forecasts
from skuplan.models import explain, registry
from skuplan.models import features as fx
from skuplan.models.data import SeriesData, future_frame, regular_history
from skuplan.pipeline.forecast import engine_spec
from skuplan.schemas import EXPLANATION_SERIES

from conftest import ROOT

RUN_DATE = dt.date(2026, 3, 1)
HORIZON = 14
SPEC = engine_spec(
    load_conf(ROOT / "conf", "local", overrides=[f"forecast.horizon={HORIZON}"]).forecast
)
PROMO_EFFECT = 20.0
LGBM_DRIVERS = {"baseline", "recent level", "trend", "weekday", "season", "promotion", "price"}
PROPHET_DRIVERS = {"trend", "weekday", "season", "holiday", "promotion", "price"}


def _spec(**update):
    return replace(SPEC, **update)


def _promo_series(n=400, sku="A", seed=0, level=10.0):
    """Weekly pattern plus PROMO_EFFECT extra units on random promotion days, fixed price."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range(end=pd.Timestamp(RUN_DATE - dt.timedelta(days=1)), periods=n)
    promo = rng.random(n) < 0.1
    lam = level * (1 + 0.5 * np.sin(2 * np.pi * dates.dayofweek / 7)) + PROMO_EFFECT * promo
    return pd.DataFrame(
        {
            "sku": sku,
            "location": "L1",
            "date": dates.date,
            "qty": rng.poisson(lam).astype(float),
            "price": 2.0,
            "promo": promo,
            "is_stockout": False,
        }
    )


PROMO_DAYS = (2, 6, 11)  # 0-based forecast steps with a planned promotion


def _with_planned_promotions(history: pd.DataFrame) -> pd.DataFrame:
    """The history and planned promotions on PROMO_DAYS of the horizon (rows on or after the
    run date, without demand), as the forecast stage passes them."""
    days = [RUN_DATE + dt.timedelta(days=d) for d in PROMO_DAYS]
    planned = pd.DataFrame({"sku": "A", "location": "L1", "date": days, "qty": np.nan,
                            "price": 2.0, "promo": True})  # fmt: skip
    return pd.concat([history, planned], ignore_index=True)


def _by_day(explanations):
    return explanations.pivot(index="date", columns="driver", values="contribution")


def test_every_feature_and_component_maps_to_one_planner_term():
    names = [*fx.feature_names(lags=(1, 7, 28), windows=(3, 7, 28)), fx.SERIES_ID]
    assert {explain.feature_driver(n) for n in names} <= set(DRIVERS)
    expected = {
        "promo": "promotion", "price": "price", "price_rel": "price", "dow": "weekday",
        "dom": "season", "woy": "season", "month": "season", "lag_1": "recent level",
        "roll_mean_28": "recent level", "roll_std_3": "recent level", "trend_3_28": "trend",
        fx.SERIES_ID: "other", "not_a_feature": "other",
    }  # fmt: skip
    assert {n: explain.feature_driver(n) for n in expected} == expected
    assert set(explain.PROPHET_DRIVERS.values()) <= set(DRIVERS)


@pytest.mark.parametrize(
    ("model", "drivers"), [("lightgbm", LGBM_DRIVERS), ("prophet", PROPHET_DRIVERS)]
)
def test_contributions_add_up_to_the_forecast_and_credit_the_promotion(model, drivers):
    history = _with_planned_promotions(_promo_series())
    result = forecast_series(history, run_date=RUN_DATE, spec=_spec(models=(model,)))
    forecasts, explanations = result.forecasts, result.explanations
    assert set(forecasts["model"]) == {model} and set(forecasts["status"]) == {"ok"}
    assert list(explanations.columns) == EXPLANATION_SERIES.fieldNames()
    assert set(explanations["model"]) == {model} and set(explanations["sku"]) == {"A"}
    # One row per forecast day and driver, named in planner terms.
    assert set(explanations["driver"]) == drivers
    by_day = _by_day(explanations)
    assert by_day.notna().all().all() and list(by_day.index) == list(forecasts["date"])
    # The contributions add up to the point forecast (which is clipped at zero afterwards).
    total, yhat = by_day.sum(axis=1).to_numpy(), forecasts["yhat"].to_numpy()
    assert (yhat > 0).all()
    np.testing.assert_allclose(total, yhat, rtol=1e-6, atol=1e-6)
    # The promotion lifts the planned days by about PROMO_EFFECT units, and the model says so.
    promotion = by_day["promotion"].to_numpy()
    on_promo = np.isin(np.arange(HORIZON), PROMO_DAYS)
    assert (promotion[on_promo] > 0.5 * PROMO_EFFECT).all()
    assert (np.abs(promotion[~on_promo]) < 0.25 * PROMO_EFFECT).all()
    lift = by_day[on_promo].mean() - by_day[~on_promo].mean()
    assert lift.idxmax() == "promotion"


def test_only_the_final_forecast_is_explained(monkeypatch):
    from skuplan.models import lgbm

    asked = []
    lgbm_forecast = lgbm.lgbm_forecast

    def spy(*args, contributions=False, **kwargs):
        asked.append(contributions)
        return lgbm_forecast(*args, contributions=contributions, **kwargs)

    monkeypatch.setattr(lgbm, "lgbm_forecast", spy)
    result = forecast_series(_promo_series(), run_date=RUN_DATE, spec=_spec(models=("lightgbm",)))
    # Three backtest folds without contributions, then the final fit with them.
    assert asked == [False, False, False, True]
    assert len(result.explanations) == HORIZON * len(LGBM_DRIVERS)


def test_models_without_explanations_give_no_rows():
    spec = _spec(models=("seasonal_naive", "moving_average", "croston", "sba", "tsb"))
    for values in (_promo_series()["qty"], np.where(np.arange(300) % 9 == 0, 3.0, 0.0)):
        history = _promo_series(n=len(values)).assign(qty=values)
        result = forecast_series(history, run_date=RUN_DATE, spec=spec)
        assert result.run["chosen_model"].iloc[0] not in explain.EXPLAINED_MODELS
        assert result.explanations.empty
        assert list(result.explanations.columns) == EXPLANATION_SERIES.fieldNames()


def test_global_model_explains_its_final_forecast_per_series():
    group = pd.concat([_promo_series(n=200 + 20 * i, sku=f"S{i}", seed=i) for i in range(4)])
    spec = _spec(models=("lightgbm_global",))
    external = global_group_forecasts(group, run_date=RUN_DATE, spec=spec)
    external = external[external["group_key"].isna()]  # the group's model is on its own row
    contrib = [contribution_column(d) for d in DRIVERS]
    final = pd.to_datetime(external["origin"]) == pd.Timestamp(RUN_DATE)
    # Backtest origins carry no contributions; the final forecast has the model's drivers.
    assert external.loc[~final, contrib].isna().all().all()
    assert external.loc[final, explain.contribution_columns(external)].notna().all().all()

    one = group[group["sku"] == "S1"]
    result = forecast_series(
        one, run_date=RUN_DATE, spec=spec, external=external[external["sku"] == "S1"]
    )
    assert set(result.forecasts["model"]) == {"lightgbm_global"}
    explanations = result.explanations
    # The series' identity and the forecast step have no planner term of their own: "other";
    # the level features over several windows are the recent level (no separate trend).
    assert set(explanations["driver"]) == (LGBM_DRIVERS - {"trend"}) | {"other"}
    assert set(explanations["model"]) == {"lightgbm_global"}
    total = _by_day(explanations).sum(axis=1).to_numpy()
    np.testing.assert_allclose(total, result.forecasts["yhat"], rtol=1e-6, atol=1e-6)


def test_an_ensemble_weighs_its_members_and_puts_unexplained_ones_in_other():
    history = regular_history(_promo_series(), RUN_DATE - dt.timedelta(days=1))
    data = SeriesData(
        history=history,
        future=future_frame(history, RUN_DATE, HORIZON)[0],
        season_length=7,
        quantiles=(0.1, 0.5, 0.9),
        explain=True,
    )
    members = ["lightgbm", "seasonal_naive"]
    specs = {m: registry.get(m) for m in members}
    name, out, errors = final.forecast(data, ["ensemble"], specs, members)
    assert name == "ensemble" and not errors
    lgbm_out, naive_out = (specs[m].fn(data) for m in members)
    contrib = explain.contribution_columns(out)
    np.testing.assert_allclose(out[contrib].sum(axis=1), out["yhat"])
    np.testing.assert_allclose(out["contrib_other"], naive_out["yhat"] / 2)
    np.testing.assert_allclose(out["contrib_promotion"], lgbm_out["contrib_promotion"] / 2)

    # No member explains itself: no explanation at all.
    plain = explain.ensemble_contributions([naive_out, naive_out.assign(yhat=1.0)])
    assert plain.columns.empty and len(plain) == HORIZON
