"""The ingest stage: a raw file into raw_sales for the run date, replaced on a re-run."""

import pytest

from skuplan import delta_io
from skuplan.errors import ConfigError
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
