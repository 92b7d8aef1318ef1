"""Column names and values shared by every layer, importable without pyspark.

Long format everywhere: series keys ``sku`` and ``location``, ``date``, target ``qty``;
optional ``price``, ``promo``, ``is_stockout``. The Spark schemas of the tables are in
:mod:`skuplan.schemas`; pure pandas code (models, the forecast engine) takes names from here.
"""

from __future__ import annotations

from collections.abc import Iterable

KEYS = ("sku", "location")
RUN_COLUMNS = ("run_date", "run_id")  # every output table starts with these

# Forecast status of a series (``forecasts.status``, ``model_runs.status``).
FORECAST_OK = "ok"
FORECAST_FALLBACK = "fallback"  # the chosen model failed; a later one forecast
FORECAST_FAILED = "failed"  # not even a last-resort model could forecast: no forecast rows

# Plan line status (``reorder_plan.plan_status``), read by planning, the outbox and the report.
PLAN_PLANNED = "planned"
PLAN_NEEDS_REVIEW = "needs_review"  # held back from the ERP for a planner
PLAN_NOT_PLANNED = "not_planned"  # missing master data or inventory
PLAN_QUARANTINED = "quarantined"  # bad data (negative on hand)
PLAN_STATUSES = (PLAN_PLANNED, PLAN_NEEDS_REVIEW, PLAN_NOT_PLANNED, PLAN_QUARANTINED)

POINT_METRICS = ("mae", "rmse", "wape", "smape", "mase", "bias")

# What drove a forecast, in planner terms (see skuplan.models.explain): the model's starting
# point (``baseline``), then the drivers; ``other`` holds whatever maps to none of them.
DRIVERS = (
    "baseline",
    "recent level",
    "trend",
    "weekday",
    "season",
    "holiday",
    "promotion",
    "price",
    "other",
)


def quantile_column(q: float) -> str:
    """Column name of quantile ``q``: 0.1 -> ``q10``, 0.975 -> ``q97_5``."""
    pct = round(q * 100, 6)
    return f"q{int(pct)}" if pct == int(pct) else "q" + f"{pct:g}".replace(".", "_")


def quantile_columns(quantiles: Iterable[float]) -> list[str]:
    return [quantile_column(q) for q in quantiles]


def metric_names(quantiles: Iterable[float]) -> list[str]:
    """Backtest metric columns: point metrics, pinball loss per quantile, band coverage."""
    return [*POINT_METRICS, *[f"pinball_{quantile_column(q)}" for q in quantiles], "coverage"]


def contribution_column(driver: str) -> str:
    """Wide column of a driver's contribution in model outputs: ``recent level`` ->
    ``contrib_recent_level``."""
    return "contrib_" + "".join(c if c.isalnum() else "_" for c in driver)


CONTRIBUTION_COLUMNS = tuple(contribution_column(d) for d in DRIVERS)
