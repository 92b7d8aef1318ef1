import datetime as dt
import json

import pyspark.sql.functions as F
import pytest
from chispa import assert_df_equality

from skuplan import erp
from skuplan.tableref import TableRef

LINES = (
    "sku string, location string, supplier string, policy string, order_qty double, "
    "order_date date, expected_arrival date, unit_cost double, order_value double, is_held boolean"
)
D1, D2 = dt.date(2026, 6, 29), dt.date(2026, 6, 30)


def _line(sku, qty, held=False, day=D1):
    return (sku, "L", "SUP", "sQ", qty, day, day + dt.timedelta(days=3), 2.0, 2.0 * qty, held)


def _changes(spark, ref, version):
    return erp.read_outbox_changes(spark, ref, version).select("sku", "change_type", "order_qty")


def _assert_changes(spark, changes_df, expected_rows):
    """``changes_df`` (see ``_changes``) holds exactly the ``(sku, change_type, order_qty)`` rows."""
    expected = spark.createDataFrame(
        expected_rows, "sku string, change_type string, order_qty double"
    )
    assert_df_equality(changes_df, expected, ignore_row_order=True, ignore_nullable=True)


def test_outbox_marks_new_changed_cancelled_and_holds_lines_for_review(spark, tmp_path):
    ref = TableRef(path=str(tmp_path / "outbox"))
    day1 = spark.createDataFrame(
        [
            _line("again", 12.0),
            _line("grow", 6.0),
            _line("stop", 24.0),
            _line("gone", 6.0),
            _line("held", 6.0),
        ],
        LINES,
    )
    v1 = erp.merge_outbox(spark, day1, ref, run_date=D1, run_id="r1")
    _assert_changes(
        spark,
        _changes(spark, ref, v1),
        [
            ("again", "new", 12.0),
            ("grow", "new", 6.0),
            ("stop", "new", 24.0),
            ("gone", "new", 6.0),
            ("held", "new", 6.0),
        ],
    )

    # Next day: again orders the same quantity again, grow changes, stop no longer orders,
    # gone left the plan, held is held for review with another quantity, fresh is new, zero
    # never orders.
    day2 = spark.createDataFrame(
        [
            _line("again", 12.0, day=D2),
            _line("grow", 18.0, day=D2),
            _line("stop", 0.0, day=D2),
            _line("held", 60.0, held=True, day=D2),
            _line("fresh", 6.0, day=D2),
            _line("zero", 0.0, day=D2),
        ],
        LINES,
    )
    v2 = erp.merge_outbox(spark, day2, ref, run_date=D2, run_id="r2")
    assert v2 == v1 + 1
    # The change feed carries only what the ERP must act on; "held" is absent. The same
    # quantity ordered on a later day is that day's order (yesterday's, if the ERP placed it,
    # is on order by now): a changed row, as each day's supplier file lists it.
    _assert_changes(
        spark,
        _changes(spark, ref, v2),
        [
            ("again", "changed", 12.0),
            ("grow", "changed", 18.0),
            ("stop", "cancelled", 24.0),
            ("gone", "cancelled", 6.0),
            ("fresh", "new", 6.0),
        ],
    )
    table = spark.read.format("delta").load(ref.path)
    again = table.filter(F.col("sku") == "again").first()
    assert (again.change_type, again.order_date, again.run_id) == ("changed", D2, "r2")
    assert table.filter(F.col("sku") == "held").first().order_qty == 6.0

    # Re-running the same plan changes nothing: idempotent.
    v3 = erp.merge_outbox(spark, day2, ref, run_date=D2, run_id="r3")
    assert v3 is None or _changes(spark, ref, v3).count() == 0

    # A cancelled line that orders again is new again.
    v4 = erp.merge_outbox(
        spark,
        spark.createDataFrame([_line("stop", 12.0, day=D2)], LINES),
        ref,
        run_date=D2,
        run_id="r4",
    )
    stop = _changes(spark, ref, v4).filter(F.col("sku") == "stop")
    _assert_changes(spark, stop, [("stop", "new", 12.0)])


EXPORT = (
    "supplier string, sku string, location string, order_qty double, order_date date, "
    "expected_arrival date, unit_cost double, order_value double, run_id string"
)


def test_a_backfill_leaves_the_outbox_and_signal_to_a_later_plan_even_on_a_retry(
    spark, tmp_path, monkeypatch
):
    from delta.exceptions import ConcurrentAppendException

    ref = TableRef(path=str(tmp_path / "outbox"))
    later_df = spark.createDataFrame([_line("a", 30.0, day=D2)], LINES)
    later = erp.merge_outbox(spark, later_df, ref, run_date=D2, run_id="later")
    backfill = spark.createDataFrame([_line("a", 12.0)], LINES)
    # A later plan known before the MERGE: nothing merged.
    kwargs = {"run_date": D1, "run_id": "backfill"}
    with pytest.raises(erp.Superseded, match=str(D2)):
        erp.merge_outbox(spark, backfill, ref, **kwargs, newer_plan=lambda: D2)
    # Not known at the first attempt, which a concurrent commit (the later run's MERGE) made
    # Delta refuse: the retry asks again and leaves the outbox to the later plan.
    asked, merge = [], erp._merge_outbox

    def refused_once(*args, **kwargs):
        if len(asked) == 1:
            raise ConcurrentAppendException(message="files were added by a concurrent update")
        return merge(*args, **kwargs)

    def newer_plan():
        asked.append(1)
        return None if len(asked) == 1 else D2

    monkeypatch.setattr(erp, "_merge_outbox", refused_once)
    monkeypatch.setattr("skuplan.delta_io.BACKOFF_SECONDS", 0.0)
    with pytest.raises(erp.Superseded):
        erp.merge_outbox(spark, backfill, ref, **kwargs, newer_plan=newer_plan)
    assert len(asked) == 2
    rows = spark.read.format("delta").load(ref.path).select("sku", "order_qty", "run_id").collect()
    assert [tuple(r) for r in rows] == [("a", 30.0, "later")]
    assert erp._version(erp._feed_table(spark, ref, erp.ERP_OUTBOX)) == later
    # The signal's MERGE asks the same way.
    signal_ref = TableRef(path=str(tmp_path / "signal"))
    with pytest.raises(erp.Superseded):
        erp.merge_signal(spark, None, signal_ref, **kwargs, newer_plan=lambda: D2)


def test_supplier_exports_one_folder_per_supplier_overwritten_on_rerun(spark, tmp_path):
    ref = TableRef(path=str(tmp_path / "exports"))
    schema = EXPORT
    first = spark.createDataFrame(
        [
            ("S1", "A", "L", 6.0, D2, D2, 1.0, 6.0, "r1"),
            ("S2", "B", "L", 12.0, D2, D2, 1.0, 12.0, "r1"),
        ],
        schema,
    )
    folder = erp.write_supplier_exports(first, ref, D2)
    assert folder.endswith("run_date=2026-06-30")
    assert {p.parent.name for p in erp.local_export_files(folder)} == {"supplier=S1", "supplier=S2"}
    again = spark.createDataFrame([("S1", "A", "L", 12.0, D2, D2, 1.0, 12.0, "r2")], schema)
    erp.write_supplier_exports(again, ref, D2)
    files = erp.local_export_files(folder)
    assert {p.parent.name for p in files} == {"supplier=S1"}
    text = "".join(p.read_text() for p in files)
    assert (
        text.splitlines()[0].startswith("sku,location,order_qty")
        and "r2" in text
        and "r1" not in text
    )


def test_a_failed_export_leaves_the_previous_one_whole(spark, tmp_path):
    ref = TableRef(path=str(tmp_path / "exports"))
    lines = [("S1", "A", "L", 6.0, D2, D2, 1.0, 6.0, "r1")]
    folder = erp.write_supplier_exports(spark.createDataFrame(lines, EXPORT), ref, D2)
    before = {p.name: p.read_text() for p in erp.local_export_files(folder)}

    @F.udf("double")
    def explode(qty):
        raise RuntimeError("disk full")

    failing = spark.createDataFrame(lines, EXPORT).withColumn("order_qty", explode("order_qty"))
    with pytest.raises(Exception, match="disk full"):
        erp.write_supplier_exports(failing, ref, D2)
    assert {p.name: p.read_text() for p in erp.local_export_files(folder)} == before
    # Nothing of the failed run is left where readers look (`_staging` is skipped).
    assert list((tmp_path / "exports" / "_staging").iterdir()) == []
    assert [p.name for p in (tmp_path / "exports").iterdir() if p.name[0] != "_"] == [
        "run_date=2026-06-30"
    ]


def _drop_files_of(path, versions) -> None:
    """Delete the data and change files that commits ``versions`` added (as VACUUM does
    once they are past its retention and out of the table's current version)."""
    for version in versions:
        log = path / "_delta_log" / f"{version:020d}.json"
        for line in log.read_text().splitlines():
            action = json.loads(line)
            for kind in ("add", "cdc"):
                if kind in action:
                    (path / action[kind]["path"]).unlink()


def test_orders_handed_over_are_the_feeds_last_order_per_date_or_a_one_line_refusal(
    spark, tmp_path
):
    """The orders of D1's plans as the ERP got them (D1's re-run changed A, cancelled B),
    read back past D2's and D3's commits; D3's alone are read from the two latest commits,
    so the files of older ones may be gone; once D1's are, asking for D1 is a one-line
    refusal."""
    from skuplan.errors import InputError

    d3 = D2 + dt.timedelta(days=1)
    ref = TableRef(path=str(tmp_path / "outbox"))
    for day, lines in (
        (D1, [_line("A", 5.0), _line("B", 3.0)]),  # version 1 (0 creates the table)
        (D1, [_line("A", 6.0), _line("B", 0.0)]),  # a re-run of D1
        (D2, [_line("A", 4.0, day=D2), _line("B", 2.0, day=D2)]),
        (d3, [_line("A", 7.0, day=d3), _line("B", 2.0, day=d3)]),
    ):
        lines_df = spark.createDataFrame(lines, LINES)
        erp.merge_outbox(spark, lines_df, ref, run_date=day, run_id=f"r{day}")
    got = erp.orders_handed_over(spark, ref, D1, D1).collect()
    assert [(r.run_date, r.sku, r.order_qty) for r in got] == [(D1, "A", 6.0)]

    _drop_files_of(tmp_path / "outbox", [1, 2])
    got = erp.orders_handed_over(spark, ref, d3, d3).collect()
    assert sorted((r.run_date, r.sku, r.order_qty) for r in got) == [(d3, "A", 7.0), (d3, "B", 2.0)]
    with pytest.raises(InputError, match=r"change feed of .* cannot be read .*VACUUM") as info:
        erp.orders_handed_over(spark, ref, D1, D1)
    assert "\n" not in str(info.value)


def test_an_unreadable_feed_blames_vacuum_only_for_missing_files():
    ref = TableRef(path="/w/gold/erp_outbox")
    gone = erp.feed_error(ref, 3, "[FAILED_READ_FILE.FILE_NOT_EXIST] ... File does not exist.\nat")
    assert str(gone).endswith("longer than plan.inventory_max_age_days)") and "\n" not in str(gone)
    other = str(erp.feed_error(ref, 3, "[DELTA_MISSING_CHANGE_DATA] change data was not recorded"))
    assert "VACUUM" not in other and other.endswith("cannot tell which orders the ERP got")
