import datetime as dt
from functools import partial

import chispa
import numpy as np
import pandas as pd
import pytest

from skuplan import fanout, forecast
from skuplan.forecast import forecast_series
from skuplan.schemas import forecast_series_schema

RUN_DATE = dt.date(2026, 3, 1)
QUANTILES = (0.1, 0.5, 0.9)


def _history(values, sku="A", location="L1", end=RUN_DATE - dt.timedelta(days=1)):
    dates = pd.date_range(end=pd.Timestamp(end), periods=len(values), freq="D").date
    return pd.DataFrame(
        {"sku": sku, "location": location, "date": dates, "qty": np.asarray(values, float)}
    )


def _forecast(history, **kw):
    args = dict(run_date=RUN_DATE, horizon=10, season_length=7, quantiles=QUANTILES, min_history=14)
    return forecast_series(history, **{**args, **kw})


def test_seasonal_naive_forecast_rows():
    weekly = [1, 2, 3, 4, 5, 6, 7] * 4
    out = _forecast(_history(weekly))
    assert list(out.columns) == [f.name for f in forecast_series_schema(QUANTILES).fields]
    assert out["step"].tolist() == list(range(1, 11))
    assert out["date"].iloc[0] == RUN_DATE and out["date"].iloc[-1] == RUN_DATE + dt.timedelta(
        days=9
    )
    assert out["yhat"].tolist() == [1, 2, 3, 4, 5, 6, 7, 1, 2, 3]
    assert set(out["model"]) == {"seasonal_naive"} and set(out["status"]) == {"ok"}
    # A perfectly repeating series has zero residuals: the band collapses onto the forecast.
    assert np.allclose(out["q10"], out["yhat"]) and np.allclose(out["q90"], out["yhat"])


def test_quantiles_are_ordered_non_negative_and_widen_with_the_horizon():
    rng = np.random.default_rng(0)
    out = _forecast(_history(rng.poisson(2.0, 120)), horizon=21)
    assert (out["q10"] <= out["q50"]).all() and (out["q50"] <= out["q90"]).all()
    assert (out[["yhat", "q10", "q50", "q90"]] >= 0).all().all()
    width = (out["q90"] - out["q10"]).to_numpy()
    assert width[14] >= width[0]


def test_gaps_count_as_zero_sales_up_to_the_day_before_the_run():
    # Sales stopped 10 days before the run date: the last season is all zeros.
    history = _history([5.0] * 30, end=RUN_DATE - dt.timedelta(days=11))
    out = _forecast(history)
    assert out["yhat"].tolist() == [0.0] * 10


def test_short_history_uses_the_historic_mean():
    out = _forecast(_history([2, 4, 6]))
    assert set(out["model"]) == {"historic_mean"}
    assert out["yhat"].tolist() == [4.0] * 10


def test_a_failing_model_falls_back_and_records_the_error(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("solver diverged")

    monkeypatch.setattr(forecast.baseline, "seasonal_naive", broken)
    out = _forecast(_history([3.0] * 30))
    assert set(out["status"]) == {"fallback"}
    assert set(out["model"]) == {"historic_mean"}
    assert out["error"].iloc[0] == "RuntimeError: solver diverged"
    assert len(out) == 10


def test_spark_fan_out_equals_the_direct_pandas_call(spark):
    rng = np.random.default_rng(1)
    histories = [
        _history(rng.poisson(3.0, 60), sku="A"),
        _history(rng.poisson(0.3, 40), sku="B", location="L2"),
        _history([1, 2, 3], sku="C"),
    ]
    fn = partial(
        forecast_series,
        run_date=RUN_DATE,
        horizon=10,
        season_length=7,
        quantiles=QUANTILES,
        min_history=14,
    )
    schema = forecast_series_schema(QUANTILES)
    history_df = spark.createDataFrame(
        pd.concat(histories), "sku string, location string, date date, qty double"
    )
    actual = fanout.apply_per_series(history_df, fn, schema)
    expected = spark.createDataFrame(pd.concat([fn(h) for h in histories]), schema)
    chispa.assert_approx_df_equality(actual, expected, precision=1e-9, ignore_row_order=True)


@pytest.mark.parametrize("q", [0.1, 0.5, 0.975])
def test_quantile_column_names(q):
    from skuplan.schemas import quantile_column

    assert quantile_column(q) == {0.1: "q10", 0.5: "q50", 0.975: "q97_5"}[q]
