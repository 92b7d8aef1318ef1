import datetime as dt

import pandas as pd

from skuplan import demo_data

RUN_DATE = dt.date(2026, 6, 30)
SETTINGS = dict(n_series=200, n_locations=5, history_days=400, seed=7, dirty_share=0.02)


def test_generation_is_seeded():
    a, b = demo_data.generate(RUN_DATE, **SETTINGS), demo_data.generate(RUN_DATE, **SETTINGS)
    pd.testing.assert_frame_equal(a.raw_sales, b.raw_sales)
    pd.testing.assert_frame_equal(a.items, b.items)


def test_history_shape_and_master_data():
    data = demo_data.generate(RUN_DATE, **SETTINGS)
    clean = data.raw_sales[data.raw_sales["sku"].str.startswith("SKU0", na=False)]
    dates = pd.to_datetime(clean["date"], errors="coerce").dropna()
    assert dates.max() == pd.Timestamp(RUN_DATE) + pd.Timedelta(
        days=30
    )  # the future-dated dirty rows
    assert (dates[dates <= pd.Timestamp(RUN_DATE)]).max() == pd.Timestamp(
        RUN_DATE - dt.timedelta(days=1)
    )
    assert len(data.items) == 40 and data.items["sku"].is_unique
    stores = data.locations["location_type"] == "store"
    assert stores.sum() == 5 and set(data.locations.loc[~stores, "location"]) == {"DC01", "DC02"}
    assert len(data.inventory[data.inventory["location"].str.startswith("LOC")]) == 200
    # Each DC stocks every SKU of the stores it supplies (all but every fifth store).
    assert len(data.inventory[data.inventory["location"].str.startswith("DC")]) == 40 * 2
    assert data.items["lead_time_mean_days"].isna().any()  # some items rely on the default
    assert ((data.items["moq"] % data.items["pack_size"]) == 0).all()
    # Events cover the history and the coming year, so forecasts see upcoming holidays.
    assert {"christmas", "black_friday"} <= set(data.calendar["event"])
    assert data.calendar["date"].min() < RUN_DATE < data.calendar["date"].max()


def test_series_variety_new_discontinued_and_intermittent():
    data = demo_data.generate(RUN_DATE, **SETTINGS)
    raw = data.raw_sales.dropna(subset=["sku"])
    raw = raw[raw["date"].str.match(r"^\d{4}-\d{2}-\d{2}$") & raw["qty"].str.isdigit()]
    raw = raw.assign(date=pd.to_datetime(raw["date"], errors="coerce"), qty=raw["qty"].astype(int))
    spans = raw.groupby(["sku", "location"])["date"].agg(["min", "max"])
    first_day = pd.Timestamp(RUN_DATE) - pd.Timedelta(days=400)
    assert (spans["min"] > first_day + pd.Timedelta(days=200)).any(), "no new items"
    assert (spans["max"] < pd.Timestamp(RUN_DATE) - pd.Timedelta(days=30)).any(), (
        "no discontinued items"
    )
    zero_share = raw.groupby(["sku", "location"])["qty"].apply(lambda q: (q == 0).mean())
    assert (zero_share > 0.5).any(), "no intermittent series"
    assert (data.raw_sales["promo"] == "1").mean() > 0.05
    assert (data.raw_sales["is_stockout"] == "1").any()


def test_dirty_rows_of_every_kind():
    data = demo_data.generate(RUN_DATE, **SETTINGS)
    raw = data.raw_sales
    assert raw["sku"].isna().any()
    assert (raw["sku"] == "SKU-UNKNOWN").any()
    assert (raw["qty"] == "n/a").any() and raw["qty"].str.startswith("-").any()
    assert (raw["date"] == "2021-13-45").any()
    assert raw.duplicated().sum() > 0
