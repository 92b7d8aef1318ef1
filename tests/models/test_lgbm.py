import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from skuplan.columns import contribution_column
from skuplan.models.lgbm import lgbm_forecast, lgbm_global_forecast

QUANTILES = (0.1, 0.5, 0.9)
WEEKDAY_LEVEL = np.array([5, 8, 10, 12, 25, 40, 15.0])


def _seasonal(n, horizon, seed, promo_effect=0.0, scale=1.0):
    """Poisson demand around a strong weekly and a yearly pattern; returns frame and mean."""
    rng = np.random.default_rng(seed)
    ds = pd.date_range("2022-01-01", periods=n + horizon, freq="D")
    yearly = 1 + 0.3 * np.sin(2 * np.pi * np.arange(n + horizon) / 365.25)
    promo = (rng.random(n + horizon) < 0.1).astype(float)
    lam = scale * WEEKDAY_LEVEL[ds.dayofweek] * yearly + promo_effect * promo
    frame = pd.DataFrame({"ds": ds, "y": rng.poisson(lam).astype(float), "promo": promo})
    return frame, lam


def _split(frame, n):
    return frame.iloc[:n].reset_index(drop=True), frame.iloc[n:].drop(columns="y")


def test_output_rows_columns_and_order_follow_future():
    frame, _ = _seasonal(400, 28, seed=0)
    history, future = _split(frame, 400)
    shuffled = future.sample(frac=1.0, random_state=1)
    out = lgbm_forecast(history, shuffled, quantiles=QUANTILES)
    assert list(out.columns) == ["ds", "yhat", "q10", "q50", "q90"]
    assert len(out) == 28
    assert out["ds"].tolist() == shuffled["ds"].tolist()
    assert out[["yhat", "q10", "q50", "q90"]].notna().all().all()


def test_forecasts_are_non_negative_and_quantiles_do_not_cross():
    rng = np.random.default_rng(3)
    ds = pd.date_range("2023-01-01", periods=300 + 28, freq="D")
    # intermittent demand: mostly zeros, where an unclipped model goes below 0
    y = rng.poisson(0.3, len(ds)) * rng.integers(1, 20, len(ds))
    history = pd.DataFrame({"ds": ds[:300], "y": y[:300].astype(float)})
    future = pd.DataFrame({"ds": ds[300:]})
    out = lgbm_forecast(history, future, quantiles=(0.05, 0.25, 0.5, 0.75, 0.95))
    values = out[["q5", "q25", "q50", "q75", "q95"]].to_numpy()
    assert (out["yhat"] >= 0).all() and (values >= 0).all()
    assert (np.diff(values, axis=1) >= 0).all()


def test_beats_seasonal_naive_on_strongly_seasonal_series():
    n, horizon = 730, 56
    model_err = naive_err = oracle_err = 0.0
    covered = []
    for seed in (0, 1, 2):
        frame, lam = _seasonal(n, horizon, seed=seed)
        history, future = _split(frame.drop(columns="promo"), n)
        actual = frame["y"].to_numpy()[n:]
        out = lgbm_forecast(history, future, quantiles=QUANTILES)
        model_err += np.abs(out["yhat"].to_numpy() - actual).sum()
        naive_err += np.abs(np.resize(history["y"].to_numpy()[-7:], horizon) - actual).sum()
        oracle_err += np.abs(lam[n:] - actual).sum()
        covered.append((actual >= out["q10"]) & (actual <= out["q90"]))
    # close at least 40% of the gap between seasonal naive and the true mean
    assert model_err < naive_err - 0.4 * (naive_err - oracle_err)
    assert 0.45 < np.mean(np.concatenate(covered)) < 0.98


def test_promotion_days_get_a_higher_forecast():
    n, horizon = 500, 56
    frame, _ = _seasonal(n, horizon, seed=4, promo_effect=30.0)
    history, future = _split(frame, n)
    out = lgbm_forecast(history, future, quantiles=QUANTILES, quantile_method="none")
    on_promo = future["promo"].to_numpy() == 1
    assert on_promo.sum() >= 3
    lift = out["yhat"][on_promo].mean() - out["yhat"][~on_promo].mean()
    assert lift > 15


def test_recursion_feeds_predictions_back_into_short_lags():
    # period-2 demand: only lag_1 can tell the next day, past day 1 only from predictions
    ds = pd.date_range("2023-01-01", periods=400 + 14, freq="D")
    y = np.where(np.arange(len(ds)) % 2 == 0, 10.0, 30.0)
    history = pd.DataFrame({"ds": ds[:400], "y": y[:400]})
    future = pd.DataFrame({"ds": ds[400:]})
    out = lgbm_forecast(history, future, quantiles=(), lags=(1,), windows=(3,))
    np.testing.assert_allclose(out["yhat"].to_numpy(), y[400:], atol=2.0)


def test_quantile_method_none_leaves_quantiles_to_the_caller():
    frame, _ = _seasonal(300, 14, seed=5)
    history, future = _split(frame, 300)
    out = lgbm_forecast(history, future, quantiles=QUANTILES, quantile_method="none")
    assert out[["q10", "q50", "q90"]].isna().all().all()
    assert out["yhat"].notna().all()
    with pytest.raises(ValueError, match="quantile_method"):
        lgbm_forecast(history, future, quantiles=QUANTILES, quantile_method="conformal")


def test_contributions_add_up_and_credit_the_promotion():
    n, horizon = 500, 28
    frame, _ = _seasonal(n, horizon, seed=6, promo_effect=30.0)
    history, future = _split(frame, n)
    out = lgbm_forecast(history, future, quantiles=(), contributions=True)
    contrib = [c for c in out.columns if c.startswith("contrib_")]
    assert contribution_column("promotion") in contrib
    assert contribution_column("recent level") == "contrib_recent_level"
    assert contribution_column("baseline") in contrib and "contrib_other" not in contrib
    positive = out["yhat"] > 0
    np.testing.assert_allclose(out.loc[positive, contrib].sum(axis=1), out.loc[positive, "yhat"])
    on_promo = future["promo"].to_numpy() == 1
    assert (out.loc[on_promo, "contrib_promotion"] > 10).all()


def test_future_must_follow_history():
    frame, _ = _seasonal(300, 14, seed=7)
    history, future = _split(frame, 300)
    with pytest.raises(ValueError, match="without gaps"):
        lgbm_forecast(history, future.iloc[3:], quantiles=QUANTILES)


def _group(levels, n, horizons, seed=0):
    frames, futures, lams = [], [], {}
    for i, (level, horizon) in enumerate(zip(levels, horizons, strict=True)):
        frame, lam = _seasonal(n, horizon, seed=seed + i, scale=level)
        frame = frame.assign(sku=f"sku{i}", location="L1")
        history, future = _split(frame, n)
        frames.append(history)
        futures.append(future)
        lams[f"sku{i}"] = lam[n:]
    return pd.concat(frames), pd.concat(futures), lams


def test_global_model_forecasts_every_series_of_the_group():
    history, future, lams = _group(levels=(0.2, 1.0, 4.0), n=500, horizons=(28, 14, 7))
    out = lgbm_global_forecast(history, future, quantiles=QUANTILES)
    assert list(out.columns) == ["sku", "location", "ds", "yhat", "q10", "q50", "q90"]
    assert out.groupby("sku").size().to_dict() == {"sku0": 28, "sku1": 14, "sku2": 7}
    pd.testing.assert_frame_equal(
        out[["sku", "location", "ds"]], future[["sku", "location", "ds"]].reset_index(drop=True)
    )
    values = out[["q10", "q50", "q90"]].to_numpy()
    assert (values >= 0).all() and (np.diff(values, axis=1) >= 0).all()
    # the series id and the per-series lags keep the levels of the series apart
    for sku, lam in lams.items():
        mean = out.loc[out["sku"] == sku, "yhat"].mean()
        assert mean == pytest.approx(lam.mean(), rel=0.3)


def test_global_recursion_is_one_prediction_per_step_for_all_series(monkeypatch):
    history, future, _ = _group(levels=(1.0,) * 6, n=200, horizons=(21,) * 6)
    calls = []
    predict = lgb.Booster.predict

    def counting(self, data, *args, **kwargs):
        calls.append(len(data))
        return predict(self, data, *args, **kwargs)

    monkeypatch.setattr(lgb.Booster, "predict", counting)
    out = lgbm_global_forecast(history, future, quantiles=QUANTILES, quantile_method="none")
    assert len(out) == 6 * 21
    assert calls == [6] * 21


def test_global_model_needs_history_for_every_series():
    history, future, _ = _group(levels=(1.0, 1.0), n=100, horizons=(7, 7))
    stranger = future[future["sku"] == "sku0"].assign(sku="new")
    with pytest.raises(ValueError, match="needs history"):
        lgbm_global_forecast(history, pd.concat([future, stranger]), quantiles=QUANTILES)
