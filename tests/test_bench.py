"""The benchmark suite's smoke run: the bench code works end to end (timings are not checked).

`make bench` itself takes about half an hour; this runs the same code on tiny inputs.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import suite  # noqa: E402


def test_generated_block_replaces_itself_and_keeps_the_notes(tmp_path):
    path = tmp_path / "B.md"
    path.write_text("# Benchmarks\n\nnotes before\n")
    suite.write_block(path, f"{suite.BEGIN}\nfirst\n{suite.END}\n")
    text = path.read_text()
    assert text.startswith("# Benchmarks\n\nnotes before\n") and "first" in text
    path.write_text(text + "\nnotes after\n")
    suite.write_block(path, f"{suite.BEGIN}\nsecond\n{suite.END}\n")
    text = path.read_text()
    assert "first" not in text and "second" in text
    assert text.count(suite.BEGIN) == 1 and "notes before" in text and "notes after" in text


def test_the_band_score_splits_its_misses_and_counts_zeros_at_a_zero_p10():
    import accuracy
    import pandas as pd

    keys = {"sku": "a", "location": "l", "date": [1, 2, 3, 4]}
    forecast = pd.DataFrame(
        {**keys, "yhat": 1.0, "q10": [0.0, 0.0, 0.5, 0.0], "q90": [2.0, 2.0, 2.0, 2.0]}
    )
    actual = pd.DataFrame({**keys, "qty": [0.0, 3.0, 0.0, 1.0]})
    history = pd.DataFrame({"sku": "a", "location": "l", "date": range(20), "qty": [0.0, 1, 2, 0, 3] * 4})  # fmt: skip
    got = accuracy.score(forecast, actual, history, 7)
    # Row 1: a zero inside only at the zero P10; row 2 above the P90; row 3 below the P10.
    assert (got["coverage_p10_p90"], got["below_p10"], got["above_p90"]) == (0.5, 0.25, 0.25)
    assert got["zero_at_p10"] == 0.25


def test_the_baselines_are_seasonal_naive_the_moving_average_and_the_last_value():
    import accuracy
    import pandas as pd

    days = pd.date_range("2026-01-01", periods=21, freq="D")
    train = pd.DataFrame({"sku": "a", "location": "l", "date": days, "qty": [1.0, 2, 3, 4, 5, 6, 7] * 3})  # fmt: skip
    dates = pd.date_range("2026-01-22", periods=2, freq="D")
    actual = pd.DataFrame({"sku": "a", "location": "l", "date": dates.date, "qty": [1.0, 2.0]})
    spec = {"freq": "D", "horizon": 2, "season_length": 7}
    rows = accuracy.baseline_rows("tiny", train, actual, spec, dates)
    assert [r["forecast"] for r in rows] == [
        "seasonal naive", "moving average (28)", "naive (last value)",
    ]  # fmt: skip
    # Seasonal naive repeats last week (1, 2: exact); the mean of 21 days is 4 (errors 3, 2);
    # the last value is 7 (errors 6, 5).
    assert [r["wape"] for r in rows] == [0.0, 5 / 3, 11 / 3]


def test_smoke_run_writes_every_section(tmp_path):
    out = tmp_path / "BENCHMARKS.md"
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "suite.py"), "--smoke", "--out", str(out)],
        check=True,
        cwd=ROOT,
        timeout=1800,  # a few minutes alone; far longer on a busy shared machine
    )
    text = out.read_text()
    assert suite.BEGIN in text and suite.END in text
    assert re.search(r"\| \*\*efficiency\*\* vs 2 x loop \| \*\*\d+\.\d\d\*\* \|", text)
    # A scale point with its raw rows, peak memory and the linearity ratio.
    assert re.search(
        r"^\| 10 \| [\d,]+ \|.* GB \((?=[^)]*java [\d.]+)(?=[^)]*python [\d.]+)[^)]*\) \| 1\.00 \|$",
        text,
        re.M,
    )
    if suite.DATA.is_dir():
        assert "| store_item | **final** |" in text and "| store_item | peer:" in text
        assert re.search(r"wall-time ratio \(job / peer\) \| \d+\.\d\d", text)
    else:
        assert "Accuracy and the peer pattern skipped" in text


def test_policy_costs_gives_the_wilson_interval_of_each_policys_cycle_service(spark):
    import policy_costs

    rows = [  # sQ: 49 of 50 cycles without a stockout, over two series
        ("sQ", "formula", "csl", 0.95, 30, 1, 10.0, "series", "ok", "store"),
        ("sQ", "formula", "csl", 0.95, 20, 0, 5.0, "series", "ok", "store"),
        ("RS", "formula", "csl", 0.90, 7, 7, 1.0, "series", "ok", "store"),  # all stocked out
        ("RS", "formula", "csl", 0.90, 9, 0, 1.0, "series", "no_demand", "store"),  # left out
        ("sQ", "formula", "csl", 0.95, 4, 2, 8.0, "series", "ok", "dc"),  # a DC: on its own
    ]
    columns = "policy variant target_type target cycles stockout_cycles total_cost level status echelon"  # fmt: skip
    spark.createDataFrame(rows, columns.split()).createOrReplaceTempView("sim")
    got = {
        (r.echelon, r.policy): r
        for r in spark.sql(policy_costs.QUERIES["CSL-target series by policy"]).collect()
    }
    assert list(got) == [("store", "RS"), ("store", "sQ"), ("dc", "sQ")]
    assert (got[("dc", "sQ")].cycles, got[("dc", "sQ")].csl) == (4, 0.5)
    got = {policy: r for (echelon, policy), r in got.items() if echelon == "store"}
    sq = got["sQ"]
    assert (sq.cycles, sq.target, sq.csl, sq.total) == (50, 0.95, 0.98, 15.0)
    assert (sq.csl_low, sq.csl_high) == (0.895, 0.9965)  # Wilson, z = 1.96, by hand
    rs = got["RS"]
    assert (rs.cycles, rs.csl, rs.csl_low, rs.csl_high) == (7, 0.0, 0.0, 0.3543)
