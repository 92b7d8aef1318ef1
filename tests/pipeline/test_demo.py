import datetime as dt

import pytest

from skuplan import delta_io, demo_data
from skuplan.errors import ConfigError
from skuplan.pipeline import demo

RUN_DATE = dt.date(2026, 6, 30)


def test_large_catalogues_are_written_in_chunks(spark, make_conf, monkeypatch):
    """Chunks number their SKUs apart; shared tables are written once; the first chunk is
    the same data a single-chunk run generates."""
    monkeypatch.setattr(demo, "CHUNK_SERIES", 20)
    conf = make_conf("demo.n_series=50", "demo.n_locations=4", "demo.history_days=60")
    rows = demo.run(spark, conf)

    def table(key):
        return delta_io.read_table(spark, conf.table(key)).toPandas()

    inventory, items = table("inventory"), table("items")
    stores = inventory[inventory["location"].str.startswith("LOC")]
    assert len(stores) == 50 and not inventory.duplicated(["sku", "location"]).any()
    assert items["sku"].is_unique and len(items) == 13  # chunks of 20, 20 and 10 series
    assert len(table("locations")) == 4 + 2 and table("calendar")["date"].is_unique  # two DCs
    assert table("open_orders")["po_id"].is_unique
    assert (
        rows["raw_sales"] == spark.read.format("delta").load(conf.table("raw_sales").path).count()
    )
    settings = conf.demo.model_dump(exclude={"force"})
    first = demo_data.generate(RUN_DATE, **{**settings, "n_series": 20})
    assert set(first.items["sku"]) <= set(items["sku"])


def test_the_demo_replaces_its_own_tables_only_unless_forced(spark, make_conf):
    tiny = ("demo.n_series=4", "demo.n_locations=2", "demo.history_days=40")
    conf = make_conf(*tiny)
    demo.run(spark, conf)
    demo.run(spark, conf)  # its own tables: replaced
    items_ref = conf.table("items")
    real_df = delta_io.read_table(spark, items_ref).limit(1)
    delta_io.append_table(real_df, items_ref)  # a commit the demo did not make
    with pytest.raises(
        ConfigError, match=r"items at .* holds data that generate_demo_data did not"
    ):
        demo.run(spark, conf)
    assert delta_io.read_table(spark, items_ref).count() == 3  # 2 items + the appended row
    demo.run(spark, make_conf(*tiny, "demo.force=true"))
    assert delta_io.read_table(spark, items_ref).count() == 2
