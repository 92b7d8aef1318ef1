"""The settings of the per-series engine, as plain values."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ForecastSpec:
    """What to forecast and how to choose the model, for every series of a run.

    Attributes:
        horizon: periods forecast from the run date on.
        quantiles: quantile levels (sorted, including 0.5).
        freq: the period, a pandas frequency (``D``, ``W-FRI``, ``MS``).
        season_length: the seasonal period in periods.
        min_history: periods a series needs to be cross-validated.
        models: the competing models (names in :data:`skuplan.models.registry.MODELS` or
            :data:`~skuplan.models.registry.GLOBAL_MODELS`).
        selection_metric: the metric that ranks them (lowest wins).
        ensemble_size: more than 1: the mean of the best N competes too.
        quantile_method: ``conformal`` (from cross-validation errors) or ``model``.
        folds, step: rolling origins, ``step`` periods apart.
        cv_horizon: periods scored per fold (None: the horizon).
        drivers: known-ahead inputs and how a missing one is filled, ``(name, rule)`` pairs
            (rules: ``last``, ``zero``; see :func:`skuplan.models.data.fill_rule`).
        attributes: item and location attributes the global model learns from.
        combination: ``weights`` (every candidate's forecast, weighted by weights learned
            across the series of a demand class; see :mod:`skuplan.forecasting.combination`)
            or ``select`` (each series' best candidate).
    """

    horizon: int
    quantiles: tuple[float, ...] = (0.1, 0.5, 0.9)
    freq: str = "D"
    season_length: int = 7
    min_history: int = 14
    models: tuple[str, ...] = ("seasonal_naive", "moving_average")
    selection_metric: str = "mase"
    ensemble_size: int = 0
    quantile_method: str = "conformal"
    folds: int = 3
    step: int = 7
    cv_horizon: int | None = None
    drivers: tuple[tuple[str, str], ...] = (("price", "last"), ("promo", "zero"))
    attributes: tuple[str, ...] = ()
    combination: str = "weights"

    @property
    def h(self) -> int:
        """Periods scored per fold."""
        return self.cv_horizon or self.horizon

    @property
    def driver_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.drivers)

    @property
    def fills(self) -> dict[str, str]:
        return dict(self.drivers)
