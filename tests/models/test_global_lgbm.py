"""The pooled global LightGBM: one model per group of series, direct over the horizon."""

import datetime as dt

import numpy as np
import pandas as pd

from skuplan.models import global_lgbm

RUN = dt.date(2026, 6, 30)
QUANTILES = (0.1, 0.5, 0.9)


def _sales(sku: str, start: str, seed: int) -> pd.DataFrame:
    dates = pd.date_range(start, pd.Timestamp(RUN) - pd.Timedelta(days=1), freq="D")
    rng = np.random.default_rng(seed)
    weekly = np.array([3, 4, 5, 6, 9, 12, 5.0])[dates.dayofweek]
    return pd.DataFrame(
        {"sku": sku, "location": "L1", "date": dates.date, "qty": rng.poisson(weekly),
         "price": 1.0, "promo": 0}
    )  # fmt: skip


def test_series_starting_on_a_shared_date_that_is_also_an_origin_are_all_forecast():
    # Three series start on one date, which is also a cross-validation origin: the panel
    # must hold each date once (a repeated date made the origin's position a slice).
    origin = pd.Timestamp(RUN) - pd.Timedelta(days=28)
    late = origin.date().isoformat()
    group = pd.concat(
        [_sales("old", "2025-06-01", 0)] + [_sales(f"new{i}", late, i + 1) for i in range(3)]
    )
    out = global_lgbm.forecast_group(
        group, run_date=RUN, origins=[origin, origin + pd.Timedelta(days=7)], freq="D",
        horizon=14, cv_horizon=7, quantiles=QUANTILES, min_history=14,
    )  # fmt: skip
    assert out["error"].isna().all(), out["error"].dropna().unique()
    final = out[out["origin"] == RUN]
    assert final.groupby("sku").size().to_dict() == {"old": 14, "new0": 14, "new1": 14, "new2": 14}
    assert np.isfinite(final["yhat"]).all()
