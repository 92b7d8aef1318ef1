"""Bad invocations exit non-zero with one line on stderr and no traceback."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT


def _run_job(*args, env=None):
    return subprocess.run(
        [sys.executable, str(ROOT / "jobs" / "validate_sales.py"), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip


def _assert_one_line_error(proc, code, text):
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [
        line for line in proc.stderr.splitlines() if line.startswith("validate_sales: error:")
    ]
    assert len(errors) == 1 and text in errors[0], proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == errors[0], "the error is the last line"


def test_unknown_env():
    _assert_one_line_error(_run_job("--env", "prod"), 3, "unknown --env 'prod'")


def test_unknown_config_key():
    _assert_one_line_error(
        _run_job("--set", "forecast.horizn=3"), 3, "unknown config key: forecast.horizn"
    )


def test_bad_run_date_is_a_usage_error():
    proc = _run_job("--run-date", "2026-02-30")
    assert proc.returncode == 2 and "not a date" in proc.stderr


def test_no_java(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    env["PATH"] = str(tmp_path)  # an empty PATH folder: no java on it
    _assert_one_line_error(_run_job(env=env), 7, "Java not found")


def test_missing_delta_jars(tmp_path):
    _assert_one_line_error(
        _run_job("--set", f"spark.jars_dir={tmp_path}"), 7, "Delta jars not found"
    )


@pytest.mark.slow
def test_installed_command_runs_outside_a_checkout_on_the_shipped_config(tmp_path):
    """`skuplan validate` in a folder without conf/: the package's config and suites, the
    tables under ./warehouse there (none yet: a one-line error, exit 6)."""
    proc = subprocess.run(
        [Path(sys.executable).parent / "skuplan", "validate",
         "--set", f"spark.jars_dir={ROOT / '.cache' / 'jars'}", "--set", "spark.master=local[1]"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    _assert_one_line_error(proc, 6, "raw sales not found")
    assert str(tmp_path / "warehouse" / "raw" / "sales") in proc.stderr


def _write_conf_dir(tmp_path, overlay: str):
    conf_dir = tmp_path / "conf"
    conf_dir.mkdir()
    (conf_dir / "base.yaml").write_text((ROOT / "conf" / "base.yaml").read_text())
    (conf_dir / "local.yaml").write_text((ROOT / "conf" / "local.yaml").read_text() + overlay)
    return conf_dir


def test_literal_credential_in_config_is_refused(tmp_path):
    conf_dir = _write_conf_dir(
        tmp_path, '    spark.hadoop.fs.s3a.secret.key: "AKIAEXAMPLESECRET"\n'
    )
    proc = _run_job("--conf", str(conf_dir))
    _assert_one_line_error(proc, 3, "spark.options.spark.hadoop.fs.s3a.secret.key looks like")
    assert "AKIAEXAMPLESECRET" not in proc.stderr + proc.stdout


def test_credential_from_a_missing_environment_variable(tmp_path):
    conf_dir = _write_conf_dir(
        tmp_path, "    spark.hadoop.fs.s3a.secret.key: ${ENV:SKUPLAN_TEST_S3_SECRET}\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "SKUPLAN_TEST_S3_SECRET"}
    _assert_one_line_error(
        _run_job("--conf", str(conf_dir), env=env), 3, "needs environment variable"
    )


@pytest.mark.slow
def test_failed_quality_gate_exits_4_and_is_recorded(spark, make_conf, tmp_path):
    from skuplan import delta_io, logs
    from skuplan.pipeline import demo

    conf = make_conf("demo.n_series=8", "demo.n_locations=2", "demo.history_days=40")
    demo.run(spark, conf)
    proc = _run_job(
        "--set", f"warehouse={conf.warehouse}",
        "--set", "spark.master=local[1]",
        "--set", "validation.max_quarantine_share=0",
        "--run-date", conf.run_date.isoformat(),
    )  # fmt: skip
    _assert_one_line_error(proc, 4, "gate quarantine_share failed")
    (stage,) = logs.parse_stage_lines(proc.stderr)
    assert (stage["job"], stage["stage"], stage["status"]) == (
        "validate_sales", "validate_sales", "failed",
    )  # fmt: skip
    (row,) = delta_io.read_table(spark, conf.table("runs")).collect()
    assert (row["job"], row["status"], row["exit_code"], row["run_id"]) == (
        "validate_sales", "failed", 4, stage["run_id"],
    )  # fmt: skip
    assert row["error"].startswith("gate quarantine_share failed")
    assert [i["key"] for i in row["inputs"]] == ["raw_sales", "items", "locations", "inventory"]
    # The gate's outcome is recorded in dq_results; nothing reaches the clean or quarantine tables.
    assert [o["key"] for o in row["outputs"]] == ["dq_results"]


@pytest.mark.parametrize(
    ("error", "code"),
    [("ConfigError", 3), ("DataQualityError", 4), ("ModelFailureError", 5), ("InputError", 6)],
)
def test_each_failure_kind_maps_to_its_exit_code(spark, tmp_path, capsys, error, code):
    from skuplan import cli, errors

    def failing_run(spark, conf):
        raise getattr(errors, error)("12 of 100 series (12.0%) fell back")

    argv = ["--set", f"warehouse={tmp_path}", "--run-date", "2026-06-30"]
    assert cli.main("train_forecast", failing_run, argv) == code
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith("train_forecast: error: 12 of 100 series (12.0%) fell back")
    )
