"""The column contract: names shared by every stage and a schema for every table.

Long format everywhere: series keys ``sku`` and ``location``, ``date``, target ``qty``;
optional ``price``, ``promo``, ``is_stockout``. Raw (bronze) sales keep every measure as
text so that a malformed value reaches validation and is quarantined with a reason instead
of failing the load.
"""

from __future__ import annotations

from collections.abc import Iterable

from pyspark.sql import types as T

KEYS = ("sku", "location")

RAW_SALES = T.StructType(
    [
        T.StructField("sku", T.StringType()),
        T.StructField("location", T.StringType()),
        T.StructField("date", T.StringType()),
        T.StructField("qty", T.StringType()),
        T.StructField("price", T.StringType()),
        T.StructField("promo", T.StringType()),
        T.StructField("is_stockout", T.StringType()),
        T.StructField("source", T.StringType()),
        T.StructField("load_date", T.DateType(), nullable=False),
    ]
)

CLEAN_SALES = T.StructType(
    [
        T.StructField("sku", T.StringType(), nullable=False),
        T.StructField("location", T.StringType(), nullable=False),
        T.StructField("date", T.DateType(), nullable=False),
        T.StructField("qty", T.DoubleType(), nullable=False),
        T.StructField("price", T.DoubleType()),
        T.StructField("promo", T.BooleanType(), nullable=False),
        T.StructField("is_stockout", T.BooleanType(), nullable=False),
        T.StructField("load_date", T.DateType(), nullable=False),
        T.StructField("run_id", T.StringType(), nullable=False),
        # Flagged, never dropped: qty far above the series' robust level (median + k * MAD).
        T.StructField("is_outlier", T.BooleanType(), nullable=False),
        # A day missing inside the series' range, filled with qty 0 (is_stockout carried over).
        T.StructField("is_imputed", T.BooleanType(), nullable=False),
    ]
)

QUARANTINE = T.StructType(
    [
        *RAW_SALES.fields,
        T.StructField("reasons", T.ArrayType(T.StringType(), containsNull=False), nullable=False),
        T.StructField("run_date", T.DateType(), nullable=False),
        T.StructField("run_id", T.StringType(), nullable=False),
    ]
)

# One row per expectation and per gate of a validation run (kind = "expectation" | "gate").
DQ_RESULTS = T.StructType(
    [
        T.StructField("run_date", T.DateType(), nullable=False),
        T.StructField("run_id", T.StringType(), nullable=False),
        T.StructField("kind", T.StringType(), nullable=False),
        T.StructField("table", T.StringType(), nullable=False),
        T.StructField("name", T.StringType(), nullable=False),
        T.StructField("column", T.StringType()),
        T.StructField("severity", T.StringType(), nullable=False),
        T.StructField("success", T.BooleanType(), nullable=False),
        T.StructField("observed_value", T.StringType()),
        T.StructField("unexpected_count", T.LongType()),
        T.StructField("unexpected_percent", T.DoubleType()),
        T.StructField("threshold", T.StringType()),
        T.StructField("message", T.StringType()),
    ]
)

ITEMS = T.StructType(
    [
        T.StructField("sku", T.StringType(), nullable=False),
        T.StructField("category", T.StringType()),
        T.StructField("supplier", T.StringType()),
        T.StructField("unit_cost", T.DoubleType()),
        T.StructField("order_cost", T.DoubleType()),
        T.StructField("holding_cost_rate", T.DoubleType()),
        T.StructField("lead_time_mean_days", T.DoubleType()),
        T.StructField("lead_time_std_days", T.DoubleType()),
        T.StructField("moq", T.DoubleType()),
        T.StructField("pack_size", T.DoubleType()),
        T.StructField("service_level", T.DoubleType()),
        # Optional planning fields (older masters lack them; planning fills defaults).
        T.StructField("review_period_days", T.DoubleType()),
        T.StructField("stockout_cost", T.DoubleType()),  # per unit short (backordered)
        T.StructField("fill_rate_target", T.DoubleType()),  # set: plan to a fill rate, not a CSL
        T.StructField("policy", T.StringType()),  # sQ | RS | minmax
    ]
)

# Optional per item-location master: a value set here overrides the item master's for that
# location (lead times differ by distance to the supplier, service targets by store format).
ITEM_LOCATIONS = T.StructType(
    [
        ITEMS["sku"],
        T.StructField("location", T.StringType(), nullable=False),
        *[f for f in ITEMS.fields if f.name not in ("sku", "category")],
    ]
)

LOCATIONS = T.StructType(
    [
        T.StructField("location", T.StringType(), nullable=False),
        T.StructField("region", T.StringType()),
    ]
)

CALENDAR = T.StructType(
    [
        T.StructField("date", T.DateType(), nullable=False),
        T.StructField("event", T.StringType(), nullable=False),
    ]
)

INVENTORY = T.StructType(
    [
        T.StructField("sku", T.StringType(), nullable=False),
        T.StructField("location", T.StringType(), nullable=False),
        T.StructField("snapshot_date", T.DateType(), nullable=False),
        T.StructField("on_hand", T.DoubleType()),
        T.StructField("on_order", T.DoubleType()),
        T.StructField("on_order_arrival", T.DateType()),
        T.StructField("backorders", T.DoubleType()),
    ]
)


OPEN_ORDERS = T.StructType(
    [
        T.StructField("sku", T.StringType(), nullable=False),
        T.StructField("location", T.StringType(), nullable=False),
        T.StructField("po_id", T.StringType()),
        T.StructField("qty", T.DoubleType()),
        T.StructField("expected_arrival", T.DateType()),
    ]
)

PLAN_OVERRIDES = T.StructType(
    [
        T.StructField("sku", T.StringType(), nullable=False),
        T.StructField("location", T.StringType(), nullable=False),
        T.StructField("override_qty", T.DoubleType()),
        T.StructField("override_service_level", T.DoubleType()),
        T.StructField("override_lead_time_days", T.DoubleType()),
        T.StructField("reason", T.StringType()),
        T.StructField("author", T.StringType()),
        T.StructField("valid_from", T.DateType()),
        T.StructField("valid_to", T.DateType()),
    ]
)

_D, _S, _B, _I, _DATE = (
    T.DoubleType(),
    T.StringType(),
    T.BooleanType(),
    T.IntegerType(),
    T.DateType(),
)


def _fields(spec: str) -> list[T.StructField]:
    types = {"d": _D, "s": _S, "b": _B, "i": _I, "date": _DATE}
    return [T.StructField(n, types[t]) for n, t in (item.split(":") for item in spec.split())]


REORDER_PLAN = T.StructType(
    [
        T.StructField("run_date", T.DateType(), nullable=False),
        T.StructField("run_id", T.StringType(), nullable=False),
        T.StructField("sku", T.StringType(), nullable=False),
        T.StructField("location", T.StringType(), nullable=False),
        *_fields(
            "supplier:s policy:s plan_status:s exception_reason:s review_reasons:s reason:s "
            "on_hand:d on_order:d backorders:d inventory_position:d "
            "lead_time_days:d lead_time_std:d is_default_lead_time:b lead_time_issue:s "
            "review_period:d is_review_day:b next_review_date:date "
            "target_type:s target_service_level:d ss_method:s demand_class:s "
            "daily_demand:d sigma_daily:d demand_over_lead_time:d protection_days:d "
            "demand_over_protection:d sigma_protection:d sigma_lead_time_demand:d "
            "safety_factor:d safety_stock:d reorder_point:d order_up_to:d eoq:d pack:d min_order:d "
            "computed_order_qty:d override_qty:d order_qty:d is_overridden:b "
            "override_reason:s override_author:s prev_order_qty:d prev_daily_demand:d "
            "order_date:date expected_arrival:date projected_stockout_date:date "
            "projected_stockout_date_with_plan:date "
            "unit_cost:d order_cost:d holding_cost_rate:d order_value:d "
            "annual_ordering_cost:d annual_holding_cost:d"
        ),
    ]
)

INVENTORY_PROJECTION = T.StructType(
    [
        T.StructField("run_date", T.DateType(), nullable=False),
        T.StructField("run_id", T.StringType(), nullable=False),
        T.StructField("sku", T.StringType(), nullable=False),
        T.StructField("location", T.StringType(), nullable=False),
        T.StructField("date", T.DateType(), nullable=False),
        *_fields(
            "step:i demand:d receipts:d planned_receipts:d projected_on_hand:d projected_with_plan:d"
        ),
    ]
)

# One row per series and key: the ERP's view of the current recommended order.
ERP_OUTBOX = T.StructType(
    [
        T.StructField("sku", T.StringType(), nullable=False),
        T.StructField("location", T.StringType(), nullable=False),
        *_fields(
            "supplier:s policy:s order_qty:d order_date:date expected_arrival:date "
            "unit_cost:d order_value:d change_type:s"
        ),
        T.StructField("run_date", T.DateType(), nullable=False),
        T.StructField("run_id", T.StringType(), nullable=False),
    ]
)

# The grouped-UDF output of the policy simulation (one row per series).
POLICY_SIMULATION_SERIES = T.StructType(
    [
        T.StructField("sku", T.StringType()),
        T.StructField("location", T.StringType()),
        *_fields(
            "policy:s target_type:s target:d ss_method:s sigma_protection:d sim_days:i cycles:i "
            "stockout_cycles:i achieved_csl:d demand:d filled:d achieved_fill_rate:d "
            "avg_on_hand:d orders:i holding_cost:d ordering_cost:d shortage_cost:d total_cost:d "
            "status:s error:s"
        ),
    ]
)

POLICY_SIMULATION = T.StructType(
    [
        T.StructField("run_date", T.DateType(), nullable=False),
        T.StructField("run_id", T.StringType(), nullable=False),
        T.StructField("level", T.StringType(), nullable=False),  # series | overall
        *POLICY_SIMULATION_SERIES.fields,
    ]
)


def quantile_column(q: float) -> str:
    """Column name of quantile ``q``: 0.1 -> ``q10``, 0.975 -> ``q97_5``."""
    pct = round(q * 100, 6)
    return f"q{int(pct)}" if pct == int(pct) else "q" + f"{pct:g}".replace(".", "_")


def forecast_series_schema(quantiles: Iterable[float]) -> T.StructType:
    """Output of the per-series forecast function (one row per series and horizon day)."""
    return T.StructType(
        [
            T.StructField("sku", T.StringType(), nullable=False),
            T.StructField("location", T.StringType(), nullable=False),
            T.StructField("date", T.DateType(), nullable=False),
            T.StructField("step", T.IntegerType(), nullable=False),
            T.StructField("model", T.StringType(), nullable=False),
            T.StructField("yhat", T.DoubleType(), nullable=False),
            *[T.StructField(quantile_column(q), T.DoubleType(), nullable=False) for q in quantiles],
            T.StructField("status", T.StringType(), nullable=False),
            T.StructField("error", T.StringType()),
        ]
    )


POINT_METRICS = ("mae", "rmse", "wape", "smape", "mase", "bias")


def metric_names(quantiles: Iterable[float]) -> list[str]:
    """Backtest metric columns: point metrics, pinball loss per quantile, band coverage."""
    return [*POINT_METRICS, *[f"pinball_{quantile_column(q)}" for q in quantiles], "coverage"]


def backtest_metrics_schema(quantiles: Iterable[float]) -> T.StructType:
    """One row per series and candidate model."""
    return T.StructType(
        [
            T.StructField("sku", T.StringType(), nullable=False),
            T.StructField("location", T.StringType(), nullable=False),
            T.StructField("model", T.StringType(), nullable=False),
            T.StructField("folds", T.IntegerType()),
            *[T.StructField(m, T.DoubleType()) for m in metric_names(quantiles)],
            T.StructField("is_selected", T.BooleanType()),
            T.StructField("fit_seconds", T.DoubleType()),
            T.StructField("error", T.StringType()),
        ]
    )


MODEL_RUN = T.StructType(
    [
        T.StructField("sku", T.StringType(), nullable=False),
        T.StructField("location", T.StringType(), nullable=False),
        T.StructField("chosen_model", T.StringType()),
        T.StructField("demand_class", T.StringType()),
        T.StructField("candidates", T.StringType()),
        T.StructField("status", T.StringType()),
        T.StructField("error", T.StringType()),
        T.StructField("training_rows", T.IntegerType()),
        T.StructField("backtest_folds", T.IntegerType()),
        T.StructField("fit_seconds", T.DoubleType()),
        T.StructField("params", T.StringType()),
    ]
)


# What drove a forecast, in planner terms (see skuplan.explain): the model's starting point
# (``baseline``), then the drivers; ``other`` holds whatever maps to none of them.
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


def contribution_column(driver: str) -> str:
    """Wide column of a driver's contribution in model outputs: ``recent level`` ->
    ``contrib_recent_level``."""
    return "contrib_" + "".join(c if c.isalnum() else "_" for c in driver)


CONTRIBUTION_COLUMNS = tuple(contribution_column(d) for d in DRIVERS)

# The grouped-UDF output of explanations (one row per series, forecast day and driver).
EXPLANATION_SERIES = T.StructType(
    [
        T.StructField("sku", T.StringType(), nullable=False),
        T.StructField("location", T.StringType(), nullable=False),
        T.StructField("date", T.DateType(), nullable=False),
        T.StructField("model", T.StringType(), nullable=False),
        T.StructField("driver", T.StringType(), nullable=False),
        # Demand units; a forecast row's contributions add up to its point forecast before
        # clipping at zero.
        T.StructField("contribution", T.DoubleType()),
    ]
)


def global_forecasts_schema(quantiles: Iterable[float]) -> T.StructType:
    """Output of a global model's group function: forecasts per series, origin and day."""
    return T.StructType(
        [
            T.StructField("sku", T.StringType()),
            T.StructField("location", T.StringType()),
            T.StructField("model", T.StringType()),
            T.StructField("origin", T.DateType()),
            T.StructField("ds", T.DateType()),
            T.StructField("yhat", T.DoubleType()),
            *[T.StructField(quantile_column(q), T.DoubleType()) for q in quantiles],
            T.StructField("error", T.StringType()),
            # Filled on the final forecast's rows only (not on backtest origins).
            *[T.StructField(c, T.DoubleType()) for c in CONTRIBUTION_COLUMNS],
        ]
    )


def series_records_schema(quantiles: Iterable[float]) -> T.StructType:
    """The grouped-UDF output: forecast, metric, run and explanation rows stacked, told apart
    by ``record``.

    Every column is nullable: each record kind fills only its own columns.
    """
    quantiles = list(quantiles)
    fields: dict[str, T.DataType] = {
        "sku": T.StringType(),
        "location": T.StringType(),
        "record": T.StringType(),
    }
    for schema in (
        forecast_series_schema(quantiles),
        backtest_metrics_schema(quantiles),
        MODEL_RUN,
        EXPLANATION_SERIES,
    ):
        for f in schema.fields:
            fields.setdefault(f.name, f.dataType)
    return T.StructType(
        [T.StructField(name, dtype, nullable=True) for name, dtype in fields.items()]
    )


def with_run(schema: T.StructType) -> T.StructType:
    """``schema`` behind the ``run_date, run_id`` columns every output table starts with."""
    return T.StructType(
        [
            T.StructField("run_date", T.DateType(), nullable=False),
            T.StructField("run_id", T.StringType(), nullable=False),
            *schema.fields,
        ]
    )


EXPLANATIONS = with_run(EXPLANATION_SERIES)
