import datetime as dt
import json

import pytest

from skuplan.errors import ConfigError
from skuplan.quality import suites

from conftest import ROOT

SCHEMA = "sku string, location string, date date, qty double, price double"


def test_sales_suite_passes_on_clean_rows(spark):
    df = spark.createDataFrame(
        [("A", "L1", dt.date(2026, 6, 1), 3.0, 2.5), ("A", "L1", dt.date(2026, 6, 2), 0.0, None)],
        SCHEMA,
    )
    outcomes = suites.validate(df, suites.load_suite(ROOT / "expectations" / "sales.json"))
    assert len(outcomes) == 6
    assert all(o.success for o in outcomes)


def test_sales_suite_reports_what_failed(spark):
    df = spark.createDataFrame(
        [
            ("A", "L1", dt.date(2026, 6, 1), 3.0, 2.5),
            ("A", "L1", dt.date(2026, 6, 1), 1.0, -1.0),
            (None, "L1", dt.date(2026, 6, 2), 1.0, 1.0),
        ],
        SCHEMA,
    )
    failed = {
        (o.expectation, o.column): o
        for o in suites.validate(df, suites.load_suite(ROOT / "expectations" / "sales.json"))
        if not o.success
    }
    assert set(failed) == {
        ("expect_column_values_to_not_be_null", "sku"),
        ("expect_column_values_to_be_between", "price"),
    }
    assert failed[("expect_column_values_to_not_be_null", "sku")].unexpected_count == 1


def test_a_broken_suite_file_is_a_config_error(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(
        json.dumps({"name": "x", "expectations": [{"type": "expect_no_such_thing", "kwargs": {}}]})
    )
    with pytest.raises(ConfigError, match="invalid expectation suite"):
        suites.load_suite(path)
    with pytest.raises(ConfigError, match="expectation suite not found"):
        suites.load_suite(tmp_path / "missing.json")
