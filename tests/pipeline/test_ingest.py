"""The ingest stage: a raw file into raw_sales for the run date, replaced on a re-run; a
drivers file into its driver table."""

import re

import pytest

from skuplan import delta_io
from skuplan.errors import ConfigError, InputError
from skuplan.pipeline import ingest


def test_ingest_job_loads_a_file_for_the_run_date_and_replaces_it_on_rerun(
    spark, make_conf, tmp_path
):
    path = tmp_path / "erp.csv"
    path.write_bytes(b"\r".join([b"sku,location,date,qty", b"A,L1,2026-06-01,3", b"B,L1,x,1"]))
    conf = make_conf(f"validation.ingest.file={path}")
    assert "loaded into raw_sales for 2026-06-30" in ingest.run(spark, conf)
    ingest.run(spark, conf)
    raw = delta_io.read_table(spark, conf.table("raw_sales"))
    assert sorted(r.sku for r in raw.collect()) == ["A", "B"]
    with pytest.raises(ConfigError, match="no file to load"):
        ingest.run(spark, make_conf())


def test_a_source_sets_its_delimiter_and_encoding(spark, make_conf, tmp_path):
    path = tmp_path / "erp.csv"
    path.write_bytes(
        "sku;location;date;qty\nCafé;L1;2026-06-01T09:00:00+02:00;3\n".encode("cp1252")
    )
    sets = [f"validation.ingest.file={path}", "validation.sources.skuplan.delimiter=;"]
    with pytest.raises(
        InputError, match=r"not utf-8 text .*set validation\.sources\.skuplan\.encoding"
    ):
        ingest.run(spark, make_conf(*sets))
    ingest.run(spark, make_conf(*sets, "validation.sources.skuplan.encoding=cp1252"))
    raw = delta_io.read_table(spark, make_conf().table("raw_sales")).collect()
    assert [(r.sku, r.date, r.qty) for r in raw] == [("Café", "2026-06-01T09:00:00+02:00", "3")]
    # The normalised UTF-8 copy is gone once the load is written (and after the refusal).
    staging = make_conf().resolve(make_conf().warehouse) / "_staging"
    assert not staging.exists() or not any(staging.iterdir())


DRIVER_TABLES = "forecast.driver_tables=[{table: drivers, keys: [sku, location]}]"


def test_a_drivers_file_replaces_its_table_typed(spark, make_conf, tmp_path):
    path = tmp_path / "plan.csv"
    path.write_text(
        "sku,location,Day,price,promo,note\n"
        "A,L1,2026-07-01,1.5,true,x\nA,L1,2026-07-02,,false,y\nB,L1,2026-07-01,2,1,z\n"
    )
    conf = make_conf(
        f"validation.ingest.file={path}", "validation.ingest.table=drivers",
        "validation.ingest.columns={date: Day}", DRIVER_TABLES,
    )  # fmt: skip
    assert "loaded into drivers (3 rows; drivers price, promo" in ingest.run(spark, conf)
    ingest.run(spark, conf)  # the file is the whole table: a re-run does not add rows
    rows = delta_io.read_table(spark, conf.table("drivers")).orderBy("sku", "date").collect()
    assert [(r.sku, str(r.date), r.price, r.promo) for r in rows] == [
        ("A", "2026-07-01", 1.5, 1.0),
        ("A", "2026-07-02", None, 0.0),  # an empty driver is filled by its rule later
        ("B", "2026-07-01", 2.0, 1.0),
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("sku,location,date,promo\nA,L1,2026-07-01,maybe\n", "1 value(s) of promo are not a number, e.g. 'maybe'"),
        ("sku,location,date,promo\nA,L1,07/01/2026,1\n", "of date are not a date (yyyy-MM-dd)"),
        ("sku,date,promo\nA,2026-07-01,1\n", "lacks location"),
    ],
)  # fmt: skip
def test_a_malformed_drivers_file_is_refused_in_one_line(spark, make_conf, tmp_path, body, message):
    path = tmp_path / "plan.csv"
    path.write_text(body)
    conf = make_conf(
        f"validation.ingest.file={path}", "validation.ingest.table=drivers", DRIVER_TABLES
    )
    with pytest.raises(InputError, match=re.escape(message)):
        ingest.run(spark, conf)
    assert not delta_io.table_exists(spark, conf.table("drivers"))
    with pytest.raises(ConfigError, match="neither raw_sales, an input table"):
        ingest.run(spark, make_conf(f"validation.ingest.file={path}", "validation.ingest.table=x"))


def test_a_master_file_replaces_its_table_typed_with_extra_columns_as_text(
    spark, make_conf, tmp_path
):
    path = tmp_path / "items.csv"
    path.write_text(
        "Item,category,dept,lead_time_mean_days,service_level\nA,food,F1,5,0.95\nB,food,,,\n"
    )
    sets = [f"validation.ingest.file={path}", "validation.ingest.table=items"]
    conf = make_conf(*sets, "validation.ingest.columns={sku: Item}")
    assert "loaded into items (2 rows; replaced)" in ingest.run(spark, conf)
    ingest.run(spark, conf)
    items = delta_io.read_table(spark, conf.table("items"))
    assert items.schema["lead_time_mean_days"].dataType.simpleString() == "double"
    rows = items.orderBy("sku").collect()
    assert [(r.sku, r.dept, r.lead_time_mean_days, r.unit_cost) for r in rows] == [
        ("A", "F1", 5.0, None),
        ("B", None, None, None),
    ]
    path.write_text("sku,category,service_level\nA,food,high\n")
    with pytest.raises(
        InputError, match=re.escape("1 value(s) of service_level are not a number, e.g. 'high'")
    ):
        ingest.run(spark, make_conf(*sets))
    path.write_text("category\nfood\n")
    with pytest.raises(InputError, match="lacks sku"):
        ingest.run(spark, make_conf(*sets))
    path.write_text("sku,category\n,food\n")
    with pytest.raises(InputError, match="1 row\\(s\\) leave sku empty"):
        ingest.run(spark, make_conf(*sets))
    path.write_text("sku,Product Name\nA,Apples\n")
    with pytest.raises(InputError, match="'Product Name' hold a character Delta refuses"):
        ingest.run(spark, make_conf(*sets))
    path.write_text("Item,SKU,category\nA,x,y\n")  # sku is renamed: SKU would clash with it
    with pytest.raises(InputError, match="SKU differ from contract columns only in case"):
        ingest.run(spark, make_conf(*sets, "validation.ingest.columns={sku: Item}"))
    assert delta_io.read_table(spark, conf.table("items")).count() == 2  # refusals wrote nothing


def test_inventory_snapshots_replace_those_of_the_same_series_and_date(spark, make_conf, tmp_path):
    path = tmp_path / "inventory.csv"
    sets = [f"validation.ingest.file={path}", "validation.ingest.table=inventory"]
    path.write_text("sku,location,snapshot_date,on_hand\nA,L1,2026-06-29,5\nB,L1,2026-06-29,7\n")
    ingest.run(spark, make_conf(*sets))
    path.write_text("sku,location,snapshot_date,on_hand\nA,L1,2026-06-29,6\nA,L1,2026-06-30,4\n")
    ingest.run(spark, make_conf(*sets))
    ingest.run(spark, make_conf(*sets))  # a re-run changes nothing
    rows = delta_io.read_table(spark, make_conf().table("inventory")).collect()
    assert sorted((r.sku, str(r.snapshot_date), r.on_hand) for r in rows) == [
        ("A", "2026-06-29", 6.0),
        ("A", "2026-06-30", 4.0),
        ("B", "2026-06-29", 7.0),
    ]
    path.write_text("sku,location,snapshot_date,on_hand\nA,L1,2026-07-01,1\nA,L1,2026-07-01,2\n")
    with pytest.raises(
        InputError, match="more than one row for sku=A, location=L1, snapshot_date=2026-07-01"
    ):
        ingest.run(spark, make_conf(*sets))


def test_a_parquet_input_table_keeps_its_typed_values(spark, make_conf, tmp_path):
    import datetime as dt

    import pandas as pd

    path = tmp_path / "overrides.parquet"
    pd.DataFrame(
        {
            "sku": ["A"],
            "location": ["L1"],
            "override_qty": [12.5],
            "valid_from": [dt.date(2026, 6, 1)],
            "created_at": [pd.Timestamp("2026-05-30 08:15:00")],
            "author": ["planner"],
        }
    ).to_parquet(path, coerce_timestamps="us")  # Spark reads no nanosecond timestamps
    conf = make_conf(f"validation.ingest.file={path}", "validation.ingest.table=plan_overrides")
    ingest.run(spark, conf)
    (row,) = delta_io.read_table(spark, conf.table("plan_overrides")).collect()
    assert (row.override_qty, row.valid_from, row.valid_to, row.author) == (
        12.5, dt.date(2026, 6, 1), None, "planner",
    )  # fmt: skip
    assert row.created_at.replace(tzinfo=None) == dt.datetime(2026, 5, 30, 8, 15)
