"""Configuration: base YAML + environment overlay + ``--set`` overrides, into a frozen typed object.

``conf/base.yaml`` holds every key. ``conf/<env>.yaml`` overlays it (nested mappings merge,
except a table's address, which an overlay replaces whole so that a table can move from a
path to a catalog name). ``--set a.b=value`` overrides last; values are parsed as YAML.
Relative paths are resolved against the project root, the folder that holds ``conf/``.

Without a config folder, ``./conf`` is used when the working directory has one (a checkout),
else the config the package ships (``skuplan/defaults``, the same files as the checkout's
``conf/`` and ``expectations/``) with the working directory as the project root: an installed
wheel runs without a checkout and keeps its tables under ``./warehouse``.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator

from skuplan.conf_layers import (
    SHIPPED,
    USER_JARS,
    deep_merge,
    default_conf_dir,
    parse_overrides,
    read_yaml,
)
from skuplan.conf_validation import Frozen as _Frozen
from skuplan.conf_validation import ValidationSettings
from skuplan.errors import ConfigError
from skuplan.tableref import TableRef, is_uri, normalise_path


class SparkSettings(_Frozen):
    master: str | None
    app_name: str
    jars_dir: str
    options: dict[str, str]

    @field_validator("options", mode="before")
    @classmethod
    def _options_as_text(cls, value: object) -> object:
        # Spark takes every option as text; YAML reads 8 or true as numbers and booleans.
        if isinstance(value, dict):
            return {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in value.items()}
        return value


class BacktestSettings(_Frozen):
    folds: int = Field(gt=0)
    step: int = Field(gt=0)
    horizon: int | None = Field(default=None, gt=0)


class DriverTable(_Frozen):
    """A table of known-ahead drivers: its key in ``tables`` and the columns it is joined on
    (besides ``date``): series keys, item or location attributes, or none (every series)."""

    table: str
    keys: tuple[str, ...]


class RecalibrationSettings(_Frozen):
    """Which series a run cross-validates and reselects (``full``) and which reuse their
    last selection (``incremental``); see :mod:`skuplan.pipeline.forecast_state`."""

    mode: Literal["full", "incremental", "auto"]
    full_every_days: int = Field(gt=0)  # auto: a selection older than this is redone
    drift_ratio: float = Field(gt=0)  # auto: realised MASE above this x backtest MASE
    min_drift_periods: int = Field(gt=0)  # auto: realised periods needed to judge drift


class HierarchySettings(_Frozen):
    """Aggregate levels forecast beside the series and reconciled with them; see
    :mod:`skuplan.forecasting.hierarchy`. No levels: off."""

    # Level name -> the columns it sums the series by.
    levels: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    method: Literal["bottom_up", "wls", "mint_shrink"] = "wls"
    # The aggregates' candidates (per-series models); None: the series' per-series ones, with
    # the per-series lightgbm in place of the global models.
    models: tuple[str, ...] | None = None
    ship_reconciled: bool = False  # the forecasts table takes the reconciled series' forecasts

    @field_validator("levels")
    @classmethod
    def _distinct_levels(cls, value: dict) -> dict:
        seen: dict[frozenset, str] = {}
        for name, keys in value.items():
            key = frozenset(keys)
            if key == {"sku", "location"}:
                raise ValueError(f"level {name!r} is the series themselves (sku, location)")
            if key in seen:
                raise ValueError(f"levels {seen[key]!r} and {name!r} sum by the same columns")
            seen[key] = name
        return value

    @field_validator("models")
    @classmethod
    def _per_series_models(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        from skuplan.models.registry import MODELS

        unknown = [m for m in value or () if m not in MODELS]
        if unknown or value == ():
            raise ValueError(
                f"unknown per-series model(s) {', '.join(unknown) or '(none given)'}; "
                f"known: {', '.join(sorted(MODELS))}"
            )
        return value


class ForecastSettings(_Frozen):
    freq: str
    horizon: int = Field(gt=0)
    season_length: int = Field(gt=0)
    quantiles: tuple[float, ...]
    min_history: int = Field(gt=0)
    max_failure_share: float = Field(ge=0, le=1)
    max_history_days: int | None = Field(gt=0)
    unloaded_periods: Literal["refuse", "no_sales"]
    models: tuple[str, ...]
    selection_metric: Literal["mae", "rmse", "wape", "smape", "mase", "bias"]
    ensemble_size: int = Field(ge=0)
    quantile_method: Literal["conformal", "model"]
    backtest: BacktestSettings
    global_group_by: str  # all, location, or an item or location attribute
    drivers: dict[str, Literal["last", "zero"]]
    driver_tables: tuple[DriverTable, ...]
    attributes: tuple[str, ...]
    combination: Literal["weights", "select"]
    global_max_series: int | None = Field(default=None, gt=0)
    global_models_dir: str = "gold/global_model_files"  # see Conf.location
    global_models_keep_days: int | None = Field(default=None, ge=0)
    partitions: int | None = Field(default=None, gt=0)
    tasks_per_core: int = Field(default=4, gt=0)
    accuracy_days: int = Field(default=56, gt=0)
    recalibration: RecalibrationSettings
    hierarchy: HierarchySettings = HierarchySettings()

    @field_validator("freq")
    @classmethod
    def _known_freq(cls, value: str) -> str:
        import pandas as pd

        try:
            code = pd.tseries.frequencies.to_offset(value).freqstr  # 7D stays 7D
        except ValueError:
            raise ValueError(f"not a pandas frequency: {value!r} (e.g. D, W-FRI, MS)") from None
        if code != "D" and code != "MS" and not code.startswith("W-"):
            # Planning spreads each period over its days: weeks labelled by their last day,
            # months by their first (replenishment.inputs.daily_forecasts).
            raise ValueError(
                f"{value!r}: use D (days), W-<day> (weeks ending that day) or MS (months)"
            )
        return code  # the canonical spelling (W is W-SUN, 1D is D): code compares it

    @field_validator("models")
    @classmethod
    def _known_models(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from skuplan.models.registry import GLOBAL_MODELS, MODELS

        known = [*MODELS, *GLOBAL_MODELS]
        unknown = [m for m in value if m not in known]
        if unknown or not value:
            raise ValueError(
                f"unknown model(s) {', '.join(unknown) or '(none given)'}; known: {', '.join(sorted(known))}"
            )
        return value

    @field_validator("quantiles")
    @classmethod
    def _quantiles_in_range(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if not value or any(not 0 < q < 1 for q in value):
            raise ValueError("quantiles must be between 0 and 1 (exclusive)")
        if 0.5 not in value:
            raise ValueError("quantiles must include 0.5 (the median is planned on)")
        return tuple(sorted(set(value)))


class ReviewSettings(_Frozen):
    """When a plan line is held for a planner instead of going to the ERP outbox."""

    max_order_change_share: float = Field(gt=0)
    forecast_jump_share: float = Field(gt=0)
    forecast_jump_min_units: float = Field(ge=0)


class SimulationSettings(_Frozen):
    enabled: bool
    weeks: int = Field(gt=0)
    warmup_days: int = Field(ge=28)
    forecast_window_days: int = Field(gt=0)
    seed: int


class CostPolicySettings(_Frozen):
    """Policy levels chosen by simulated cost (README, "Policies chosen by cost")."""

    enabled: bool
    ship: bool


class SupplierSignalSettings(_Frozen):
    """The supplier demand signal (README, "Supplier demand signal")."""

    enabled: bool
    weeks: int = Field(gt=0)


class PlanSettings(_Frozen):
    default_lead_time_days: float = Field(gt=0)
    default_service_level: float = Field(gt=0, lt=1)
    default_policy: Literal["sQ", "RS", "minmax"]
    default_review_period_days: int = Field(gt=0)
    review_anchor_date: dt.date
    safety_stock_method: Literal["auto", "normal", "gamma"]
    skew_ratio: float = Field(gt=1)
    inventory_max_age_days: int = Field(ge=0)
    inventory_snapshot_time: Literal["start_of_day", "end_of_day"]
    review: ReviewSettings
    simulation: SimulationSettings
    cost_policy: CostPolicySettings
    supplier_signal: SupplierSignalSettings


class DemoSettings(_Frozen):
    n_series: int = Field(gt=0)
    n_locations: int = Field(gt=0)
    history_days: int = Field(gt=28)
    seed: int
    dirty_share: float = Field(ge=0, lt=1)
    force: bool = False


class ReportSettings(_Frozen):
    """The static HTML report (jobs/report.py): where it goes and how much it shows."""

    dir: str
    history_days: int = Field(gt=0)
    max_series: int = Field(gt=0)
    max_drivers: int = Field(gt=0)
    max_table_rows: int = Field(gt=0)


class TrackingSettings(_Frozen):
    """Optional MLflow tracking of job runs (see :mod:`skuplan.tracking`)."""

    mlflow: str | None = None  # a tracking URI, or a folder (a local file store); None: off
    experiment: str = "skuplan"


class Conf(_Frozen):
    """The whole configuration of one job run."""

    env: str
    run_date: dt.date
    root: Path
    warehouse: str
    spark: SparkSettings
    tables: dict[str, TableRef]
    validation: ValidationSettings
    forecast: ForecastSettings
    plan: PlanSettings
    demo: DemoSettings
    report: ReportSettings
    tracking: TrackingSettings

    def table(self, key: str) -> TableRef:
        """The address of table ``key``, with a relative path resolved under the warehouse."""
        try:
            ref = self.tables[key]
        except KeyError:
            raise ConfigError(f"missing config key: tables.{key}") from None
        if ref.path is None:
            return ref
        return TableRef(path=self.location(ref.path))

    def location(self, path: str) -> str:
        """A path from config for Spark or pyarrow (a table's, the global models' files): a
        relative one under the warehouse, in one spelling (see :func:`normalise_path`)."""
        if is_uri(path) or Path(path).is_absolute():
            return normalise_path(path)
        if is_uri(self.warehouse):
            return normalise_path(f"{self.warehouse.rstrip('/')}/{path}")
        return normalise_path(str(self.resolve(self.warehouse) / path))

    def data_docs_dir(self) -> Path:
        """Where Great Expectations Data Docs go (see :meth:`local_dir`)."""
        return self.local_dir(self.validation.data_docs_dir)

    def report_dir(self) -> Path:
        """Where the HTML report goes (see :meth:`local_dir`)."""
        return self.local_dir(self.report.dir)

    def local_dir(self, path: str) -> Path:
        """A folder the driver writes locally (the report, an MLflow file store): a relative
        one is under a local warehouse, or under the project root when the warehouse is a URI."""
        p = Path(path)
        if p.is_absolute():
            return p
        if is_uri(self.warehouse):
            return self.resolve(path)
        return self.resolve(self.warehouse) / p

    def resolve(self, path: str) -> Path:
        """A path from config, made absolute against the project root."""
        p = Path(path)
        return p if p.is_absolute() else (self.root / p).resolve()

    def jars_dir(self) -> Path:
        """Delta's jars: ``spark.jars_dir`` under the project root; a relative one outside a
        checkout (no ``conf/`` at the root: an installed wheel) is the user's cache."""
        if Path(self.spark.jars_dir).is_absolute() or (self.root / "conf").is_dir():
            return self.resolve(self.spark.jars_dir)
        return USER_JARS

    def resource(self, path: str) -> Path:
        """A file config names (a suite): under the project root, else the package's copy."""
        p, shipped = self.resolve(path), SHIPPED / path
        missing = not p.exists() and not Path(path).is_absolute()
        return shipped if missing and shipped.exists() else p


def _one_line(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    if err["type"] == "missing":
        return f"missing config key: {where}"
    if err["type"] == "extra_forbidden":
        return f"unknown config key: {where}"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"bad config value at {where}: {err['msg']}{more}"


def load_conf(
    conf_dir: str | Path | None = None,
    env: str = "local",
    run_date: dt.date | None = None,
    overrides: list[str] | None = None,
) -> Conf:
    """Load ``base.yaml`` + ``<env>.yaml`` from ``conf_dir`` and apply ``overrides``.

    The project root is ``conf_dir``'s parent; without ``conf_dir``, :func:`default_conf_dir`
    and the working directory.

    Raises:
        ConfigError: unknown env, unreadable file, missing or unknown key, bad value.
    """
    root = None if conf_dir is not None else Path.cwd()
    conf_dir = Path(conf_dir if conf_dir is not None else default_conf_dir()).resolve()
    base_file = conf_dir / "base.yaml"
    if not base_file.is_file():
        raise ConfigError(f"no base.yaml in config folder {conf_dir}")
    env_file = conf_dir / f"{env}.yaml"
    if env == "base" or not env_file.is_file():
        known = sorted(p.stem for p in conf_dir.glob("*.yaml") if p.stem != "base")
        raise ConfigError(f"unknown --env {env!r}: choose one of {', '.join(known)}")
    raw = deep_merge(read_yaml(base_file), read_yaml(env_file))
    raw = deep_merge(raw, parse_overrides(overrides or []))
    raw.update(env=env, run_date=run_date or dt.date.today(), root=root or conf_dir.parent)
    try:
        conf = Conf.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_one_line(exc)) from None
    check_distinct_tables(conf)
    logging.getLogger(__name__).info(
        "config %s + %s.yaml, project root %s", base_file, env, conf.root
    )
    return conf


def check_distinct_tables(conf: Conf) -> None:
    """Every table has its own address: no two keys share one, and no path lies inside
    another table's (an export folder inside a Delta table would corrupt it).

    Raises:
        ConfigError: naming both keys.
    """
    seen: dict[str, str] = {}
    for key in conf.tables:
        ref = conf.table(key)
        address = (ref.path or f"name:{ref.name.lower()}").rstrip("/")
        for other_key, other in seen.items():
            if (
                address == other
                or address.startswith(f"{other}/")
                or other.startswith(f"{address}/")
            ):
                raise ConfigError(
                    f"tables.{key} ({address}) and tables.{other_key} ({other}) overlap: "
                    "each table needs its own address"
                )
        seen[key] = address
