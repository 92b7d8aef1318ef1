"""Bad invocations exit non-zero with one line on stderr and no traceback."""

import os
import subprocess
import sys

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
def test_unreadable_table_path(tmp_path):
    proc = _run_job("--set", f"warehouse={tmp_path}", "--set", "spark.master=local[1]")
    _assert_one_line_error(proc, 6, "raw sales not found")
