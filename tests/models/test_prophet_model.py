import resource

import numpy as np
import pandas as pd
import pytest
from prophet import Prophet

from skuplan.models.data import SeriesData
from skuplan.models.prophet_model import COMPONENTS, REGRESSOR_COMPONENTS, prophet_forecast

QUANTILES = (0.1, 0.5, 0.9)


def _series(n, horizon, seed, level=20.0, promo_effect=0.0):
    """Poisson demand around weekly + yearly seasonality with random promotion days."""
    rng = np.random.default_rng(seed)
    t = np.arange(n + horizon)
    promo = (rng.random(n + horizon) < 0.1).astype(float)
    lam = np.maximum(
        level * (1 + 0.25 * np.sin(2 * np.pi * t / 7) + 0.4 * np.sin(2 * np.pi * t / 365.25))
        + promo_effect * promo,
        0.0,
    )
    ds = pd.date_range("2019-01-01", periods=n + horizon, freq="D")
    frame = pd.DataFrame({"ds": ds, "y": rng.poisson(lam).astype(float), "promo": promo})
    return frame.iloc[:n].reset_index(drop=True), frame.iloc[n:].drop(columns="y"), lam[n:]


def _core_seconds():
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # the cmdstan process
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def test_predicts_only_the_future_rows_in_their_order(monkeypatch):
    history, future, _ = _series(400, 28, seed=0, level=0.6, promo_effect=2.0)
    sampled_rows = []
    sample = Prophet.sample_posterior_predictive

    def spy(self, df, *args, **kwargs):
        sampled_rows.append(len(df))
        return sample(self, df, *args, **kwargs)

    def no_predict(self, *args, **kwargs):
        raise AssertionError("predict() would redo the sampling or predict the history")

    monkeypatch.setattr(Prophet, "sample_posterior_predictive", spy)
    monkeypatch.setattr(Prophet, "predict", no_predict)
    shuffled = future.sample(frac=1.0, random_state=2)
    out = prophet_forecast(history, shuffled, quantiles=QUANTILES)

    assert sampled_rows == [28]
    assert list(out.columns) == [
        "ds", "yhat", "q10", "q50", "q90", *COMPONENTS, *REGRESSOR_COMPONENTS
    ]  # fmt: skip
    assert out["ds"].tolist() == shuffled["ds"].tolist()
    # a low-volume series: unclipped draws go below zero
    bands = out[["q10", "q50", "q90"]].to_numpy()
    assert (out["yhat"] >= 0).all() and (bands >= 0).all() and (bands[:, 0] == 0).any()
    assert (np.diff(bands, axis=1) >= 0).all() and (bands[:, 2] > bands[:, 0]).all()
    # < 2 years of history: no yearly term; the components add up to the forecast
    assert (out["yearly"] == 0).all() and (out["holidays"] == 0).all()
    unclipped = out["yhat"] > 0
    np.testing.assert_allclose(
        out.loc[unclipped, list(COMPONENTS)].sum(axis=1), out.loc[unclipped, "yhat"]
    )
    # seeded draws: the same input gives the same quantiles
    again = prophet_forecast(history, shuffled, quantiles=QUANTILES)
    pd.testing.assert_frame_equal(out, again)


def test_promotions_and_events_are_picked_up():
    history, future, _ = _series(500, 56, seed=1, promo_effect=25.0)
    event_days = pd.to_datetime(["2019-03-10", "2019-09-10", "2020-03-10", "2020-05-20"])
    in_history = history["ds"].isin(event_days[:3])
    history.loc[in_history, "y"] += 40
    holidays = pd.DataFrame({"holiday": "store_event", "ds": event_days})
    out = prophet_forecast(history, future, quantiles=QUANTILES, holidays=holidays)

    on_promo = future["promo"].to_numpy() == 1
    assert on_promo.sum() >= 3
    assert out["yhat"][on_promo].mean() - out["yhat"][~on_promo].mean() > 15
    assert (out.loc[on_promo, "extra_regressors"] > 15).all()
    assert (out.loc[~on_promo, "extra_regressors"] == 0).all()
    # the one regressor's own term is the whole regressor term
    np.testing.assert_allclose(out["promo_effect"], out["extra_regressors"])
    assert (out["price_effect"] == 0).all()
    event = out["ds"] == event_days[3]
    assert out.loc[event, "holidays"].item() > 20
    assert (out.loc[~event, "holidays"].abs() < 1).all()


def test_constant_regressor_is_left_out():
    history, future, _ = _series(200, 14, seed=2)
    history["price"] = 3.0
    future["price"] = np.nan
    out = prophet_forecast(history, future.drop(columns="promo"), quantiles=(0.5,))
    assert (out["extra_regressors"] == 0).all()
    assert out["q50"].notna().all()


def test_five_year_series_is_fast_and_accurate():
    history, future, lam = _series(5 * 365, 28, seed=3)
    prophet_forecast(history.iloc[-60:], future, quantiles=QUANTILES)  # load cmdstan once
    start = _core_seconds()
    out = prophet_forecast(history, future.drop(columns="promo"), quantiles=QUANTILES)
    elapsed = _core_seconds() - start
    # ~0.16 core-s when measured alone; generous for a shared CI machine
    assert elapsed < 1.0
    assert len(out) == 28
    assert (out["yearly"] != 0).all()  # two years or more: yearly term on
    naive = np.resize(history["y"].to_numpy()[-7:], 28)
    assert np.abs(out["yhat"] - lam).mean() < 0.5 * np.abs(naive - lam).mean()


def test_rejects_an_empty_future():
    history, future, _ = _series(60, 7, seed=4)
    with pytest.raises(ValueError, match="no rows"):
        prophet_forecast(history, future.iloc[:0], quantiles=QUANTILES)


def test_registry_draws_predictive_samples_only_for_native_quantiles(monkeypatch):
    """Conformal bands come from backtest errors: Prophet then skips its predictive draws."""
    from skuplan.models import registry

    history, future, _ = _series(200, 14, seed=3)
    calls = []
    sample = Prophet.sample_posterior_predictive
    monkeypatch.setattr(
        Prophet,
        "sample_posterior_predictive",
        lambda self, *a, **k: calls.append(1) or sample(self, *a, **k),
    )
    prophet = registry.get("prophet").fn
    for native in (False, True):
        data = SeriesData(
            history=history, future=future, season_length=7, quantiles=QUANTILES,
            native_quantiles=native,
        )  # fmt: skip
        out = prophet(data)
        assert np.isfinite(out["yhat"]).all()
        assert np.isfinite(out["q10"]).all() == native
    assert calls == [1]


def test_fast_json_fit_equals_prophets_own():
    """The C-encoder JSON files give cmdstan the same data: the same fitted parameters."""
    from skuplan.models.prophet_model import _fast_stan_json

    history, _, _ = _series(500, 1, seed=4)
    history = history[["ds", "y"]]
    stock = Prophet(daily_seasonality=False, uncertainty_samples=0).fit(history)
    fast = _fast_stan_json(Prophet(daily_seasonality=False, uncertainty_samples=0)).fit(history)
    for name in ("k", "m", "delta", "beta", "sigma_obs"):
        np.testing.assert_allclose(fast.params[name], stock.params[name], rtol=1e-9)
