"""MLflow tracking of job runs (``tracking.mlflow``), read back with MLflow's own client."""

import pytest
from mlflow.tracking import MlflowClient
from pyspark.sql.types import LongType, StructField, StructType

from skuplan import cli, delta_io, tracking
from skuplan.conf import load_conf
from skuplan.errors import DataQualityError
from skuplan.pipeline.report import ReportSummary

from conftest import ROOT, RUN_DATE


@pytest.fixture
def job_args(spark, tmp_path, monkeypatch):
    import skuplan.session

    monkeypatch.setattr(skuplan.session, "get_session", lambda conf: spark)  # the shared one
    return [
        "--conf", str(ROOT / "conf"), "--run-date", RUN_DATE.isoformat(),
        "--set", f"warehouse={tmp_path}", "--set", "tracking.mlflow=mlruns",
        "--set", "forecast.horizon=14",
    ]  # fmt: skip


def _runs(tmp_path):
    client = MlflowClient((tmp_path / "mlruns").as_uri())
    (experiment,) = [e for e in client.search_experiments() if e.name == "skuplan"]
    return client, client.search_runs([experiment.experiment_id])


def test_a_job_run_is_one_mlflow_run_with_config_metrics_and_artifacts(spark, job_args, tmp_path):
    report = tmp_path / "report.html"
    report.write_text("<html></html>")

    def job(spark, conf):
        df = spark.createDataFrame([(1,), (2,), (3,)], StructType([StructField("n", LongType())]))
        delta_io.overwrite_table(df, conf.table("model_runs"))
        return ReportSummary(report, series=3, series_total=3, bytes=13)

    assert cli.main("report", job, job_args) == 0
    client, (run,) = _runs(tmp_path)
    tags = run.data.tags
    assert (tags["skuplan.job"], tags["skuplan.run_date"], tags["skuplan.status"]) == (
        "report", RUN_DATE.isoformat(), "success",
    )  # fmt: skip
    assert tags["skuplan.run_id"].startswith("report-") and tags["mlflow.runName"] == (
        f"report {RUN_DATE}"
    )
    assert run.info.status == "FINISHED"
    params = run.data.params
    assert params["forecast.horizon"] == "14" and params["tracking.mlflow"] == "mlruns"
    assert params["validation.outliers.k"] == "6.0"
    assert run.data.metrics == {"report_series": 3.0, "report_bytes": 13.0, "rows_written": 3.0}
    assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["report.html"]


def test_a_failed_run_is_tracked_as_failed_with_its_exit_code(spark, job_args, tmp_path):
    def job(spark, conf):
        raise DataQualityError("gate quarantine_share failed")

    assert cli.main("validate_sales", job, job_args) == 4
    _, (run,) = _runs(tmp_path)
    assert run.info.status == "FAILED"
    assert run.data.tags["skuplan.exit_code"] == "4"
    assert "quarantine_share" in run.data.tags["skuplan.error"]


def test_tracking_is_off_by_default_and_a_folder_lives_under_the_warehouse(tmp_path):
    off = load_conf(ROOT / "conf", "local", RUN_DATE)
    assert tracking.tracking_uri(off) is None
    on = load_conf(
        ROOT / "conf", "local", RUN_DATE, [f"warehouse={tmp_path}", "tracking.mlflow=mlruns"]
    )
    assert tracking.tracking_uri(on) == (tmp_path / "mlruns").as_uri()
    server = load_conf(ROOT / "conf", "local", RUN_DATE, ["tracking.mlflow=http://mlflow:5000"])
    assert tracking.tracking_uri(server) == "http://mlflow:5000"
    assert dict(tracking.flat_params({"a": {"b": 1, "c": {}}, "d": [1, 2]})) == {
        "a.b": "1", "a.c": "{}", "d": "[1, 2]",
    }  # fmt: skip
