"""The ``validation`` section of the configuration: sources, ingest, gates (see
:mod:`skuplan.conf`)."""

from __future__ import annotations

import codecs

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Frozen(BaseModel):
    """A settings section: immutable, unknown keys refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


SUITE_TABLES = ("clean_sales", "items", "locations", "inventory")
SALES_CONTRACT = ("sku", "location", "date", "qty", "price", "promo", "is_stockout")


class OutlierSettings(Frozen):
    k: float = Field(gt=0)
    min_scale: float = Field(ge=0)
    min_points: int = Field(ge=1)


class SourceSettings(Frozen):
    """How one kind of raw file maps onto the column contract."""

    columns: dict[str, str]
    delimiter: str = ","  # CSV field separator (one character; "\t" for tabs)
    encoding: str = "utf-8"  # CSV text encoding when the file has no byte-order mark

    @field_validator("delimiter")
    @classmethod
    def _one_character(cls, value: str) -> str:
        if len(value) != 1 or value in ('"', "\n", "\r"):
            raise ValueError(f"delimiter must be one character, not a quote: {value!r}")
        return value

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown encoding {value!r}") from None
        return value

    @field_validator("columns")
    @classmethod
    def _contract_names(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(SALES_CONTRACT))
        if unknown:
            raise ValueError(f"not contract columns: {', '.join(unknown)}")
        missing = [c for c in ("sku", "location", "date", "qty") if c not in value]
        if missing:
            raise ValueError(f"source must map {', '.join(missing)}")
        return value


class IngestSettings(Frozen):
    file: str | None
    source: str
    # raw_sales, an input table (see skuplan.pipeline.ingest.INPUT_TABLES), or a driver
    # table of forecast.driver_tables; ``columns`` renames: table column -> file column.
    table: str = "raw_sales"
    columns: dict[str, str] = Field(default_factory=dict)


class ValidationSettings(Frozen):
    suites: dict[str, str | None]  # None: the table has no suite (its gate is skipped)
    warning_gates: tuple[str, ...]
    allow_returns: bool
    max_quarantine_share: float = Field(ge=0, le=1)
    max_row_count_change: float = Field(ge=0)
    max_staleness_days: int = Field(ge=0)
    min_master_coverage: float = Field(ge=0, le=1)
    outliers: OutlierSettings
    impute_missing_dates: bool
    data_docs_dir: str
    sources: dict[str, SourceSettings]
    ingest: IngestSettings

    @field_validator("suites")
    @classmethod
    def _one_suite_per_table(cls, value: dict[str, str | None]) -> dict[str, str | None]:
        unknown = sorted(set(value) - set(SUITE_TABLES))
        if unknown:
            raise ValueError(f"no such input table: {', '.join(unknown)}")
        return value

    @model_validator(mode="after")
    def _ingest_source_known(self) -> ValidationSettings:
        if self.ingest.source not in self.sources:
            raise ValueError(f"ingest.source {self.ingest.source!r} is not in sources")
        return self
