import numpy as np
import pandas as pd
import pytest

from skuplan.models import features as fx


def _series(n=60, seed=0, **extra):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "ds": pd.date_range("2024-01-01", periods=n, freq="D"),
            "y": rng.poisson(10, n).astype(float),
        }
    )
    return frame.assign(**extra)


def test_lags_are_the_demand_k_days_before():
    frame = _series()
    out = fx.make_features(frame)
    y = frame["y"].to_numpy()
    for k in (7, 14, 28):
        lag = out[f"lag_{k}"].to_numpy()
        assert np.isnan(lag[:k]).all()
        assert lag[k:].tolist() == y[:-k].tolist()


def test_rolling_features_use_only_the_days_before():
    frame = _series()
    out = fx.make_features(frame, windows=(7, 28))
    y = frame["y"].to_numpy()
    t = 40
    assert out.loc[t, "roll_mean_7"] == pytest.approx(y[t - 7 : t].mean())
    assert out.loc[t, "roll_std_7"] == pytest.approx(y[t - 7 : t].std(ddof=1))
    assert out.loc[t, "roll_mean_28"] == pytest.approx(y[t - 28 : t].mean())
    assert out.loc[t, "trend_7_28"] == pytest.approx(y[t - 7 : t].mean() - y[t - 28 : t].mean())
    assert np.isnan(out.loc[6, "roll_mean_7"]) and not np.isnan(out.loc[7, "roll_mean_7"])


def test_no_feature_at_day_t_changes_when_day_t_or_later_changes():
    frame = _series()
    t = 35
    changed = frame.copy()
    changed.loc[t:, "y"] = 1e6
    names = fx.target_feature_names(fx.DEFAULT_LAGS, fx.DEFAULT_WINDOWS)
    before = fx.make_features(frame).loc[:t, names]
    after = fx.make_features(changed).loc[:t, names]
    pd.testing.assert_frame_equal(before, after)
    # ...while day t + 1 does see the change (the features are not trivially constant).
    assert fx.make_features(changed).loc[t + 1, "roll_mean_7"] > 1e5


def test_lags_and_windows_do_not_cross_series():
    a = _series(n=30, seed=1).assign(sku="a")
    b = _series(n=30, seed=2).assign(sku="b")
    out = fx.make_features(pd.concat([b, a]), keys=["sku"])
    second = out[out["sku"] == "b"].reset_index(drop=True)
    assert np.isnan(second.loc[:6, "lag_7"]).all()
    assert np.isnan(second.loc[:6, "roll_mean_7"]).all()
    assert second.loc[7, "lag_7"] == b["y"].iloc[0]


def test_calendar_price_and_promo():
    frame = _series(n=40, price=[10.0] * 35 + [8.0] * 5, promo=[False] * 35 + [True] * 5)
    out = fx.make_features(frame)
    # 2024-01-01 is a Monday in ISO week 1
    assert out.loc[0, ["dow", "dom", "woy", "month"]].tolist() == [0, 1, 1, 1]
    assert out.loc[31, ["dow", "dom", "month"]].tolist() == [3, 1, 2]
    assert out.loc[35, "price_rel"] == pytest.approx(0.8)
    assert out.loc[36, "price_rel"] == pytest.approx(8 / ((27 * 10 + 8) / 28))
    assert out["promo"].tolist() == [0.0] * 35 + [1.0] * 5


def test_gaps_are_rejected():
    frame = _series().drop(index=10)
    with pytest.raises(ValueError, match="without gaps"):
        fx.make_features(frame)


def test_every_feature_has_a_planner_group():
    frame = _series(price=10.0, promo=0)
    out = fx.make_features(frame, lags=(1, 7), windows=(3, 7, 14))
    names = fx.feature_names(lags=(1, 7), windows=(3, 7, 14))
    assert set(names) <= set(out.columns)
    allowed = {"promotion", "price", "weekday", "season", "recent level", "trend", "item/location"}
    assert {fx.feature_group(n) for n in names} <= allowed
    assert fx.FEATURE_GROUPS["promo"] == "promotion"
    assert fx.FEATURE_GROUPS["price_rel"] == "price"
    assert fx.FEATURE_GROUPS["dow"] == "weekday"
    assert fx.FEATURE_GROUPS["trend_7_28"] == "trend"
    assert fx.FEATURE_GROUPS["lag_28"] == "recent level"
    with pytest.raises(KeyError):
        fx.feature_group("qty")
