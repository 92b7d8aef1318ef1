"""The Spark schema of every table and of every grouped-UDF output.

Each schema is written one way, as a compact spec: ``name:type`` pairs, ``!`` after the type
for NOT NULL; types ``s`` string, ``d`` double, ``b`` boolean, ``i`` int, ``l`` bigint,
``date``, and ``s[]`` an array of non-null strings. Column names shared with pure pandas code
live in :mod:`skuplan.columns` (importable without pyspark). Raw (bronze) sales keep every
measure as text so that a malformed value reaches validation and is quarantined with a
reason instead of failing the load.
"""

from __future__ import annotations

from collections.abc import Iterable

from pyspark.sql import types as T

from skuplan.columns import CONTRIBUTION_COLUMNS, metric_names, quantile_columns

_TYPES: dict[str, T.DataType] = {
    "s": T.StringType(),
    "d": T.DoubleType(),
    "b": T.BooleanType(),
    "i": T.IntegerType(),
    "l": T.LongType(),
    "date": T.DateType(),
    "ts": T.TimestampType(),
    "s[]": T.ArrayType(T.StringType(), containsNull=False),
}


def fields(spec: str) -> list[T.StructField]:
    """``"sku:s! qty:d"`` -> the fields (``!``: NOT NULL)."""
    out = []
    for item in spec.split():
        name, kind = item.split(":")
        out.append(T.StructField(name, _TYPES[kind.rstrip("!")], nullable=not kind.endswith("!")))
    return out


def schema(*specs: str | Iterable[T.StructField]) -> T.StructType:
    """A schema from specs (see :func:`fields`) and field lists, in order."""
    out: list[T.StructField] = []
    for spec in specs:
        out += fields(spec) if isinstance(spec, str) else list(spec)
    return T.StructType(out)


def nullable(struct: T.StructType) -> T.StructType:
    """``struct`` with every column nullable."""
    return T.StructType([T.StructField(f.name, f.dataType, True) for f in struct.fields])


RUN = "run_date:date! run_id:s!"
SERIES = "sku:s! location:s!"

RAW_SALES = schema(
    "sku:s location:s date:s qty:s price:s promo:s is_stockout:s source:s load_date:date!"
)

CLEAN_SALES = schema(
    "sku:s! location:s! date:date! qty:d! price:d promo:b! is_stockout:b! load_date:date! run_id:s!",
    # Flagged, never dropped: qty far above the series' robust level (median + k * MAD).
    "is_outlier:b!",
    # A day missing inside the series' range, filled with qty 0 (is_stockout carried over).
    "is_imputed:b!",
)

QUARANTINE = schema(RAW_SALES.fields, "reasons:s[]!", RUN)

# One row per expectation and per gate of a validation run (kind = "expectation" | "gate").
DQ_RESULTS = schema(
    RUN,
    "kind:s! table:s! name:s! column:s severity:s! success:b! observed_value:s "
    "unexpected_count:l unexpected_percent:d threshold:s message:s",
)

_MASTER_FIELDS = (
    "supplier:s unit_cost:d order_cost:d holding_cost_rate:d lead_time_mean_days:d "
    "lead_time_std_days:d moq:d pack_size:d service_level:d "
    # Optional planning fields (older masters lack them; planning fills defaults).
    "review_period_days:d "
    "stockout_cost:d "  # per unit short (backordered)
    "fill_rate_target:d "  # set: plan to a fill rate, not a CSL
    "policy:s"  # sQ | RS | minmax
)
ITEMS = schema("sku:s! category:s", _MASTER_FIELDS)

# Optional per item-location master: a value set here overrides the item master's for that
# location (lead times differ by distance to the supplier, service targets by store format).
ITEM_LOCATIONS = schema(SERIES, _MASTER_FIELDS)

LOCATIONS = schema("location:s! region:s")
# The contract above and the optional supply-network fields (see skuplan.replenishment.network):
# location_type store | dc, the DC supplying a store, the DC -> store lane's lead time.
LOCATION_MASTER = schema(
    LOCATIONS.fields,
    "location_type:s supplied_by:s lane_lead_time_days:d lane_lead_time_std_days:d",
)

# closed (optional): the whole business is closed that day (skuplan.forecasting.closures).
CALENDAR = schema("date:date! event:s! closed:b")

INVENTORY = schema(
    SERIES, "snapshot_date:date! on_hand:d on_order:d on_order_arrival:date backorders:d"
)

# order_date (optional): the day the ERP placed the order; a plan's released order of that
# day is then known to be among the lines (skuplan.replenishment.projection.not_in_order_lines).
OPEN_ORDERS = schema(SERIES, "po_id:s qty:d expected_arrival:date order_date:date")

PLAN_OVERRIDES = schema(
    SERIES,
    "override_qty:d override_service_level:d override_lead_time_days:d reason:s author:s "
    "valid_from:date valid_to:date created_at:ts",
)

REORDER_PLAN = schema(
    RUN,
    SERIES,
    "supplier:s policy:s plan_status:s exception_reason:s review_reasons:s reason:s "
    "on_hand:d on_order:d backorders:d inventory_position:d "
    "lead_time_days:d lead_time_std:d is_default_lead_time:b lead_time_issue:s "
    "review_period:d is_review_day:b next_review_date:date "
    "target_type:s target_service_level:d ss_method:s demand_class:s "
    "daily_demand:d sigma_daily:d demand_over_lead_time:d protection_days:d "
    "demand_over_protection:d sigma_protection:d sigma_lead_time_demand:d "
    "safety_factor:d safety_stock:d reorder_point:d order_up_to:d eoq:d pack:d min_order:d "
    "computed_order_qty:d override_qty:d order_qty:d is_overridden:b "
    "override_reason:s override_author:s override_placed_on:date override_valid_to:date "
    "prev_order_qty:d prev_daily_demand:d "
    "order_date:date expected_arrival:date projected_stockout_date:date "
    "projected_stockout_date_with_plan:date "
    "unit_cost:d order_cost:d holding_cost_rate:d order_value:d "
    "annual_ordering_cost:d annual_holding_cost:d inventory_snapshot_date:date forecast_run_id:s "
    "policy_parameters:s cost_status:s cost_safety_factor:d cost_lot_multiplier:d "
    "cost_review_period:d cost_is_formula:b simulated_cost:d simulated_formula_cost:d "
    # store | dc; the DC a store orders from (then also its supplier); the order before the
    # DC's allocation cut it (null: not cut).
    "echelon:s source_location:s requested_qty:d",
)

INVENTORY_PROJECTION = schema(
    RUN,
    SERIES,
    "date:date! step:i demand:d receipts:d planned_receipts:d projected_on_hand:d "
    "projected_with_plan:d",
)

# One row per series and key: the ERP's view of the current recommended order.
ERP_OUTBOX = schema(
    SERIES,
    "supplier:s policy:s order_qty:d order_date:date expected_arrival:date "
    "unit_cost:d order_value:d change_type:s",
    RUN,
)

# One row per supplier, series and week: the supplier demand signal (MERGE-maintained).
SUPPLIER_SIGNAL = schema(
    "supplier:s!",
    SERIES,
    "week_start:date! days:i forecast_p50:d forecast_p90:d planned_order_qty:d planned_orders:i",
    RUN,
)

# The grouped-UDF output of the policy simulation (one row per series).
POLICY_SIMULATION_SERIES = schema(
    "sku:s location:s policy:s variant:s target_type:s target:d ss_method:s sigma_protection:d "
    "review_period:d sim_days:i plan_days:i cycles:i stockout_cycles:i achieved_csl:d "
    "demand:d filled:d achieved_fill_rate:d avg_on_hand:d orders:i holding_cost:d "
    "ordering_cost:d shortage_cost:d total_cost:d status:s error:s echelon:s"
)

POLICY_SIMULATION = schema(RUN, "level:s!", POLICY_SIMULATION_SERIES.fields)  # series | overall


def _quantile_fields(quantiles: Iterable[float], mark: str = "") -> str:
    return " ".join(f"{c}:d{mark}" for c in quantile_columns(quantiles))


def forecast_series_schema(quantiles: Iterable[float]) -> T.StructType:
    """Output of the per-series forecast function (one row per series and horizon day)."""
    return schema(
        SERIES,
        "date:date! step:i! model:s! yhat:d!",
        _quantile_fields(quantiles, "!"),
        "status:s! error:s",
    )


def backtest_metrics_schema(quantiles: Iterable[float]) -> T.StructType:
    """One row per series and candidate model."""
    metrics = " ".join(f"{m}:d" for m in metric_names(quantiles))
    return schema(SERIES, "model:s! folds:i", metrics, "is_selected:b fit_seconds:d error:s")


MODEL_RUN = schema(
    SERIES,
    "chosen_model:s demand_class:s candidates:s status:s error:s training_rows:i "
    "backtest_folds:i fit_seconds:d params:s drivers_filled:s scale:d mase_scale:d weights:s",
    # What the next runs reuse (see skuplan.forecasting.state) and which path this run took.
    "recipe:s band_offsets:s path:s path_reason:s selected_on:date",
)

# The grouped-UDF output of explanations (one row per series, forecast day and driver);
# ``contribution`` is in demand units, and a forecast row's contributions add up to its
# point forecast before clipping at zero.
EXPLANATION_SERIES = schema(SERIES, "date:date! model:s! driver:s! contribution:d")


def global_forecasts_schema(quantiles: Iterable[float]) -> T.StructType:
    """Output of a global model's group function: forecasts per series, origin and day.

    The driver columns are filled on the final forecast's rows only (not on backtest origins);
    one more row per group and fit (keys null) holds where its model was saved (``group_key,
    fit, trained_on, model_path``; see :mod:`skuplan.pipeline.forecast_global`).
    """
    return schema(
        "sku:s location:s model:s origin:date ds:date yhat:d",
        _quantile_fields(quantiles),
        "error:s",
        " ".join(f"{c}:d" for c in CONTRIBUTION_COLUMNS),
        "group_key:s fit:i trained_on:date model_path:s",
    )


def candidate_schema() -> T.StructType:
    """Every candidate's own forecast of a series (for the weighted combination)."""
    contributions = " ".join(f"{c}:d" for c in CONTRIBUTION_COLUMNS)
    return schema(SERIES, "model:s! date:date! step:i! yhat:d", contributions)


RESIDUAL = schema(SERIES, "model:s! fold:i! step:i! residual:d actual:d")


def with_run(struct: T.StructType) -> T.StructType:
    """``struct`` behind the ``run_date, run_id`` columns every output table starts with."""
    return schema(RUN, struct.fields)


EXPLANATIONS = with_run(EXPLANATION_SERIES)
