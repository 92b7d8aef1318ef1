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
    with pytest.raises(ConfigError, match="neither raw_sales nor a table of"):
        ingest.run(spark, make_conf(f"validation.ingest.file={path}", "validation.ingest.table=x"))
