"""What a model sees of one series: its regular history and the periods to forecast.

Pure pandas. Sales become one row per period (``freq``: ``D`` days, ``W-FRI`` weeks, ``MS``
months) from the first sale up to the last period before the run date; a model gets a
:class:`SeriesData` holding that history and the future periods with their regressors.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

REGRESSORS = ("price", "promo")


def regular_history(history_pdf: pd.DataFrame, end_date: dt.date, freq: str = "D") -> pd.DataFrame:
    """One row per period from the first sale to ``end_date``; periods without a sale count
    as zero.

    Input columns: ``date, qty`` and optionally ``price, promo, is_stockout``.
    Output columns: ``ds, y, price, promo, is_stockout`` (price carried forward).
    """
    pdf = history_pdf.assign(ds=pd.to_datetime(history_pdf["date"]))
    agg = {"y": ("qty", "sum")}
    for col, how in (("price", "mean"), ("promo", "max"), ("is_stockout", "max")):
        if col in pdf:
            agg[col] = (col, how)
    daily = pdf.groupby("ds").agg(**agg)
    if daily.empty:
        return pd.DataFrame(columns=["ds", "y", "price", "promo", "is_stockout"])
    index = pd.date_range(daily.index.min(), pd.Timestamp(end_date), freq=freq, name="ds")
    daily = daily.reindex(index)
    daily["y"] = daily["y"].fillna(0.0).astype(float)
    daily["price"] = daily["price"].ffill().bfill() if "price" in daily else np.nan
    for col in ("promo", "is_stockout"):
        daily[col] = daily[col].astype(float).fillna(0.0) if col in daily else 0.0
    return daily.reset_index()


def last_period(run_date: dt.date, freq: str) -> dt.date:
    """The last period before ``run_date`` (the day before, for daily data)."""
    return (pd.Timestamp(run_date) - pd.tseries.frequencies.to_offset(freq)).date()


def future_frame(
    history: pd.DataFrame, run_date: dt.date, horizon: int, freq: str = "D"
) -> pd.DataFrame:
    """The periods to forecast, with no promotion planned and the last regular price."""
    regular = history.loc[history["promo"] == 0, "price"].dropna()
    price = (
        regular.iloc[-1]
        if len(regular)
        else history["price"].dropna().iloc[-1]
        if history["price"].notna().any()
        else np.nan
    )
    return pd.DataFrame(
        {
            "ds": pd.date_range(pd.Timestamp(run_date), periods=horizon, freq=freq),
            "price": price,
            "promo": 0.0,
        }
    )


@dataclass(frozen=True)
class SeriesData:
    """One series, ready for a model.

    Attributes:
        history: one row per period, oldest first, no gaps: ``ds`` (datetime64), ``y`` and
            the optional regressors ``price``, ``promo``.
        future: the periods to forecast: ``ds`` and the same regressors, as known in advance.
        season_length: the seasonal period in periods.
        quantiles: the quantile levels wanted.
        holidays: Prophet-style events (``holiday``, ``ds``), or None.
        native_quantiles: ask models that can for their own quantiles (otherwise they are
            calibrated from backtest errors and models may skip computing them).
        freq: the period (a pandas frequency).
        explain: ask models that can for their driver contributions (``contrib_<driver>``
            columns, see :mod:`skuplan.models.explain`); set for the final forecast only,
            never on backtest folds.
    """

    history: pd.DataFrame
    future: pd.DataFrame
    season_length: int
    quantiles: tuple[float, ...]
    holidays: pd.DataFrame | None = None
    native_quantiles: bool = False
    freq: str = "D"
    explain: bool = False

    @property
    def y(self) -> np.ndarray:
        return self.history["y"].to_numpy(dtype=float)

    @property
    def horizon(self) -> int:
        return len(self.future)

    def backtest_fold(self, n_train: int, horizon: int) -> tuple[SeriesData, np.ndarray]:
        """The first ``n_train`` periods as history and the next ``horizon`` as a future to
        predict, with the actual values of those periods."""
        test = self.history.iloc[n_train : n_train + horizon]
        future_cols = ["ds", *[c for c in REGRESSORS if c in self.history]]
        fold = replace(
            self,
            history=self.history.iloc[:n_train],
            future=test[future_cols].reset_index(drop=True),
            explain=False,
        )
        return fold, test["y"].to_numpy(dtype=float)
