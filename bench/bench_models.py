"""Per-series cost of the Prophet and LightGBM forecasts (not a test).

Core-seconds are user + system CPU of this process and of its finished children (the
cmdstan optimiser runs as a child process), median of ``--runs`` runs. Run alone for
stable numbers: ``.venv/bin/python bench/bench_models.py``.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from common import cpu_seconds  # bench/ is the script's folder, first on sys.path

from skuplan.models.lgbm import lgbm_forecast, lgbm_global_forecast

# Prophet via our module, which quiets prophet's and cmdstanpy's logging before import.
from skuplan.models.prophet_model import Prophet, prophet_forecast

QUANTILES = (0.1, 0.5, 0.9)
HORIZON = 28


def series(seed: int = 0, years: int = 5, scale: float = 1.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Poisson counts around weekly + yearly seasonality; history and the next 28 days."""
    rng = np.random.default_rng(seed)
    n = 365 * years
    t = np.arange(n + HORIZON)
    lam = scale * (20 + 5 * np.sin(2 * np.pi * t / 7) + 8 * np.sin(2 * np.pi * t / 365.25))
    ds = pd.date_range("2020-01-01", periods=n + HORIZON, freq="D")
    frame = pd.DataFrame({"ds": ds, "y": rng.poisson(lam).astype(float)})
    return frame.iloc[:n].reset_index(drop=True), frame.iloc[n:][["ds"]].reset_index(drop=True)


def measure(label: str, fn: Callable[[], object], runs: int) -> None:
    fn()  # warm-up: imports, cmdstan executable info
    costs = []
    for _ in range(runs):
        start = cpu_seconds()
        fn()
        costs.append(cpu_seconds() - start)
    print(f"{label:<58} median {statistics.median(costs):.3f} core-s  (n={runs})")


def prophet_with_predict(history: pd.DataFrame, future: pd.DataFrame, samples: int) -> None:
    """The anti-pattern: predict() over history + future."""
    model = Prophet(daily_seasonality=False, uncertainty_samples=samples)
    model.fit(history)
    model.predict(pd.concat([history[["ds"]], future]))


def job_path(history: pd.DataFrame, runs: int) -> None:
    """The whole per-series Prophet path of the job (backtest folds + final forecast):
    ``forecast_series`` with Prophet competing, minus the same call with seasonal naive only."""
    import datetime as dt

    from skuplan.conf import load_conf
    from skuplan.forecasting.series import forecast_series
    from skuplan.pipeline.forecast import engine_spec

    sales = history.rename(columns={"ds": "date", "y": "qty"}).assign(sku="s", location="L")
    run_date = (history["ds"].max() + pd.Timedelta(days=1)).date()
    root = Path(__file__).resolve().parents[1]
    for folds in (3, 1):
        costs = {}
        for models in ("seasonal_naive", "seasonal_naive,prophet"):
            conf = load_conf(root / "conf", "local", dt.date(2026, 6, 30),
                             [f"forecast.models=[{models}]", f"forecast.backtest.folds={folds}"])  # fmt: skip
            fn = partial(forecast_series, sales, run_date=run_date, spec=engine_spec(conf.forecast))
            fn()
            runs_ = []
            for _ in range(runs):
                start = cpu_seconds()
                fn()
                runs_.append(cpu_seconds() - start)
            costs[models] = statistics.median(runs_)
        cost = costs["seasonal_naive,prophet"] - costs["seasonal_naive"]
        print(f"{f'job: Prophet path per series, {folds} backtest fold(s) + final':<58} "
              f"median {cost:.3f} core-s  (n={runs})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    history, future = series()
    measure(
        "prophet_forecast, no samples (the job's default: conformal)",
        lambda: prophet_forecast(history, future, quantiles=QUANTILES, uncertainty_samples=0),
        args.runs,
    )
    measure(
        "Prophet fit only, stock JSON writer (LBFGS)",
        lambda: Prophet(daily_seasonality=False, uncertainty_samples=0).fit(history),
        args.runs,
    )
    job_path(history, args.runs)
    measure(
        "prophet_forecast (LBFGS, 200 samples, future only)",
        lambda: prophet_forecast(history, future, quantiles=QUANTILES),
        args.runs,
    )
    measure(
        "prophet_forecast, 1000 samples",
        lambda: prophet_forecast(history, future, quantiles=QUANTILES, uncertainty_samples=1000),
        args.runs,
    )
    measure(
        "Prophet fit only (LBFGS)",
        lambda: Prophet(daily_seasonality=False).fit(history),
        args.runs,
    )
    measure(
        "Prophet fit only (Newton)",
        lambda: Prophet(daily_seasonality=False).fit(history, algorithm="Newton"),
        max(1, args.runs // 2),
    )
    measure(
        "Prophet fit + predict(history + future), 1000 samples",
        lambda: prophet_with_predict(history, future, 1000),
        args.runs,
    )
    measure(
        "lgbm_forecast, quantile models q10/q90",
        lambda: lgbm_forecast(history, future, quantiles=QUANTILES),
        args.runs,
    )
    measure(
        "lgbm_forecast, quantile_method='none'",
        lambda: lgbm_forecast(history, future, quantiles=QUANTILES, quantile_method="none"),
        args.runs,
    )
    group = [series(seed=s) for s in range(50)]
    group_history = pd.concat(h.assign(sku=f"s{i}", location="L") for i, (h, _) in enumerate(group))
    group_future = pd.concat(f.assign(sku=f"s{i}", location="L") for i, (_, f) in enumerate(group))
    measure(
        "lgbm_global_forecast, 50 series, quantile models",
        lambda: lgbm_global_forecast(group_history, group_future, quantiles=QUANTILES),
        max(1, args.runs // 2),
    )


if __name__ == "__main__":
    main()
