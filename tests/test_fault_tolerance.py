"""Fault injection: killed jobs, concurrent runs, crashing workers, broken inputs, fuzzed rows
and extreme series. Each test states the guarantee it proves (README, "Failure guarantees").

Jobs that must die run as subprocesses (``jobs/<job>.py``, one JVM each, tiny data), and one
of two racing runs does; everything else runs in this process on the shared session.
"""

from __future__ import annotations

import collections
import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pyspark.sql.functions as F
import pytest
from chispa import assert_approx_df_equality
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from skuplan import cli, delta_io, erp, errors, fanout, fault_hooks
from skuplan.columns import FORECAST_FAILED as STATUS_FAILED
from skuplan.columns import FORECAST_FALLBACK as STATUS_FALLBACK
from skuplan.columns import FORECAST_OK as STATUS_OK
from skuplan.conf import load_conf
from skuplan.pipeline import demo, forecast, plan, validate
from skuplan.schemas import CLEAN_SALES, INVENTORY, ITEMS, LOCATIONS, RAW_SALES
from skuplan.tableref import TableRef

from conftest import ROOT, RUN_DATE

JOBS = {
    "validate_sales": validate.run,
    "train_forecast": forecast.run,
    "plan_replenishment": plan.run,
}
RAW_KEYS = ["raw_sales", "items", "item_locations", "locations", "inventory", "calendar", "open_orders", "plan_overrides"]  # fmt: skip
INPUTS = {
    "validate_sales": RAW_KEYS,
    "train_forecast": [*RAW_KEYS, "clean_sales"],
    # Planning also reads `runs`: it plans only on forecasts of a run recorded successful.
    "plan_replenishment": [
        *RAW_KEYS,
        "clean_sales",
        "forecasts",
        "backtest_metrics",
        "model_runs",
        "runs",
    ],
}
OUTPUTS = {
    "validate_sales": ["dq_results", "quarantine", "clean_sales"],
    "train_forecast": ["forecasts", "backtest_metrics", "model_runs"],
    "plan_replenishment": [
        "reorder_plan",
        "inventory_projection",
        "erp_outbox",
        "supplier_signal",
        "policy_simulation",
    ],
}
# Columns that legitimately differ between two runs of the same date.
VOLATILE = ["run_id", "fit_seconds"]
SMALL = [
    "demo.n_series=6",
    "demo.n_locations=2",
    "demo.history_days=60",
    "forecast.horizon=7",
    "plan.simulation.weeks=2",
    "plan.simulation.warmup_days=28",
    "forecast.models=[seasonal_naive, moving_average, croston]",
    # The Great Expectations suites are slow and beside the point here.
    "validation.suites.clean_sales=null",
    "validation.suites.items=null",
    "validation.suites.locations=null",
    "validation.suites.inventory=null",
]
# A job subprocess: one core, one shuffle partition, no UI (the data are tiny), and its
# expressions interpreted: a cold JVM compiles hundreds of generated classes for a few rows
# (a cold plan run measured 126 s compiled, 102 s interpreted).
SUBPROCESS = [
    "spark.master=local[1]",
    "spark.options.spark.sql.shuffle.partitions=1",
    "spark.options.spark.databricks.delta.snapshotPartitions=1",
    "spark.options.spark.ui.enabled=false",
    "spark.options.spark.sql.codegen.wholeStage=false",
    "spark.options.spark.sql.codegen.factoryMode=NO_CODEGEN",
]
JOB_TIMEOUT = 600


# --- helpers ----------------------------------------------------------------------------


@pytest.fixture
def here(spark, monkeypatch):
    """Run a job's ``cli.main`` in this process on the shared session; returns its exit code."""
    import skuplan.session

    monkeypatch.setattr(skuplan.session, "get_session", lambda conf: spark)

    def _run(job, warehouse, *overrides, run=None):
        argv = ["--conf", str(ROOT / "conf"), "--run-date", RUN_DATE.isoformat()]
        for pair in (f"warehouse={warehouse}", *SMALL, *overrides):
            argv += ["--set", pair]
        return cli.main(job, run or JOBS[job], argv)

    return _run


def _conf(warehouse, *overrides):
    return load_conf(
        ROOT / "conf", "local", RUN_DATE, [f"warehouse={warehouse}", *SMALL, *overrides]
    )


def _read(spark, warehouse, key):
    return delta_io.read_table(spark, _conf(warehouse).table(key))


def _exists(spark, warehouse, key) -> bool:
    return delta_io.table_exists(spark, _conf(warehouse).table(key))


def _runs(spark, warehouse) -> list[tuple[str, int]]:
    """The ``runs`` table's ``(run_id, exit_code)`` rows (none without the table)."""
    if not _exists(spark, warehouse, "runs"):
        return []
    return [(r.run_id, r.exit_code) for r in _read(spark, warehouse, "runs").collect()]


def _copy_tables(source, target, keys) -> None:
    for key in keys:
        src = Path(_conf(source).table(key).path)
        if src.exists():
            shutil.copytree(src, Path(_conf(target).table(key).path))


def _assert_same_outputs(spark, warehouse, baseline, keys) -> None:
    """Every table equals the uninterrupted run's, run ids and timings aside (no row lost or
    doubled: the comparison is of whole multisets of rows). Doubles agree to 1e-6: a job
    subprocess has one shuffle partition where this process has two, so sums over series
    (the replay's overall rows) add in another order and may differ in the last bit."""
    for key in keys:
        got = _read(spark, warehouse, key)
        want = _read(spark, baseline, key)
        drop = [c for c in VOLATILE if c in want.columns]
        assert got.count() == want.count() > 0, key
        assert_approx_df_equality(
            got.drop(*drop), want.drop(*drop), 1e-6, ignore_row_order=True, ignore_nullable=True
        )


def _export_rows(warehouse) -> collections.Counter:
    """Supplier-export CSV lines of the run date, without the run id column."""
    folder = Path(_conf(warehouse).table("supplier_exports").path) / f"run_date={RUN_DATE}"
    lines = collections.Counter()
    for path in folder.glob("supplier=*/*.csv"):
        frame = pd.read_csv(path).drop(columns="run_id")
        lines.update(f"{path.parent.name},{row}" for row in frame.astype(str).agg(",".join, axis=1))
    return lines


class Job:
    """A job as a subprocess in its own process group (the driver, its JVM and its Python
    workers), with its stderr collected line by line."""

    def __init__(self, job, warehouse, *overrides, env=None, script=None):
        argv = [sys.executable, str(script or ROOT / "jobs" / f"{job}.py")]
        argv += ["--run-date", RUN_DATE.isoformat()]
        for pair in (f"warehouse={warehouse}", *SMALL, *SUBPROCESS, *overrides):
            argv += ["--set", pair]
        self.job = job
        self.lines: list[str] = []
        self._seen = threading.Condition()
        self.proc = subprocess.Popen(
            argv, cwd=ROOT, text=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True,
            env={**os.environ, "PYTHONPATH": str(ROOT / "lib"), **(env or {})},
        )  # fmt: skip
        threading.Thread(target=self._collect, daemon=True).start()

    def _collect(self) -> None:
        for line in self.proc.stderr:
            with self._seen:
                self.lines.append(line.rstrip("\n"))
                self._seen.notify_all()
        with self._seen:
            self._seen.notify_all()

    @property
    def stderr(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, text: str, timeout: float = JOB_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        with self._seen:
            while not any(text in line for line in self.lines):
                assert self.proc.poll() is None, f"{self.job} ended before {text!r}:\n{self.stderr}"
                assert time.monotonic() < deadline, f"no {text!r} from {self.job}:\n{self.stderr}"
                self._seen.wait(1)

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=60)

    def wait(self) -> int:
        code = self.proc.wait(timeout=JOB_TIMEOUT)
        time.sleep(0.2)  # let the reader thread take the last lines
        return code


def _assert_one_line_error(job: str, code: int, stderr: str, text: str) -> None:
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.startswith(f"{job}: error:")]
    assert len(lines) == 1 and text in lines[0], stderr


# --- the uninterrupted runs -------------------------------------------------------------


@pytest.fixture(scope="module")
def baseline(spark, tmp_path_factory):
    """Demo inputs and one uninterrupted run of each job, in order, in this process."""
    import skuplan.session

    warehouse = tmp_path_factory.mktemp("baseline")
    demo.run(spark, _conf(warehouse))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(skuplan.session, "get_session", lambda conf: spark)
        for job, run in JOBS.items():
            argv = ["--conf", str(ROOT / "conf"), "--run-date", RUN_DATE.isoformat()]
            for pair in (f"warehouse={warehouse}", *SMALL):
                argv += ["--set", pair]
            assert cli.main(job, run, argv) == 0, job
    return warehouse


# --- 1. crash mid-write -----------------------------------------------------------------

# After which commit each job is killed: the states that hurt most if left behind.
KILL_AFTER = {
    "validate_sales": (2, "quarantine", "clean_sales"),  # quarantine written, clean not
    "train_forecast": (1, "forecasts", "model_runs"),  # forecasts without model runs
    "plan_replenishment": (3, "erp_outbox", "policy_simulation"),  # outbox merged, sim not
}


@pytest.mark.slow
@pytest.mark.parametrize("job", list(KILL_AFTER))
def test_a_job_killed_mid_write_then_rerun_equals_an_uninterrupted_run(
    spark, baseline, tmp_path, here, job
):
    commits, written, not_written = KILL_AFTER[job]
    warehouse = tmp_path / "warehouse"
    _copy_tables(baseline, warehouse, INPUTS[job])
    runs_before = _runs(spark, warehouse)

    killed = Job(job, warehouse, env={fault_hooks.PAUSE_ENV: str(commits)})
    killed.wait_for(f"test hook: paused after commit {commits}")
    killed.kill()  # SIGKILL to the driver, its JVM and its workers: no cleanup runs
    assert killed.proc.returncode == -signal.SIGKILL
    # The kill landed inside the write phase: some outputs are replaced, others not yet.
    assert _read(spark, warehouse, written).filter(F.col("run_date") == RUN_DATE).count() > 0
    assert not _exists(spark, warehouse, not_written)
    assert _runs(spark, warehouse) == runs_before  # a killed run cannot record itself
    outbox_ref = _conf(warehouse).table("erp_outbox")
    outbox_version = (
        delta_io.last_commit(spark, outbox_ref)[0] if job == "plan_replenishment" else None
    )

    assert here(job, warehouse) == 0
    _assert_same_outputs(spark, warehouse, baseline, OUTPUTS[job])
    if job == "plan_replenishment":
        assert _export_rows(warehouse) == _export_rows(baseline)
        # The killed run's MERGE already handed this plan to the ERP: the re-run adds no change.
        if delta_io.last_commit(spark, outbox_ref)[0] > outbox_version:
            assert erp.read_outbox_changes(spark, outbox_ref, outbox_version + 1).count() == 0


# A re-run of the date over its own outputs, killed in planning's supplier export: after the
# plan, projection and outbox partitions of the date are replaced (commits 1-3) and before
# the signal and the simulation are, with the previous export moved aside and the new one
# not yet in its place. The tables hold this run's rows and the previous run's side by side,
# the state a re-run killed after any commit leaves (every job replaces partitions the same
# way), plus the one step that is not a Delta commit.


@pytest.mark.slow
def test_a_rerun_killed_over_its_own_outputs_then_rerun_equals_an_uninterrupted_run(
    spark, baseline, tmp_path, here
):
    job = "plan_replenishment"
    warehouse = tmp_path / "warehouse"
    _copy_tables(baseline, warehouse, [*INPUTS[job], *OUTPUTS[job]])
    exports = Path(_conf(baseline).table("supplier_exports").path)
    shutil.copytree(exports, Path(_conf(warehouse).table("supplier_exports").path))
    outbox_ref = _conf(warehouse).table("erp_outbox")
    outbox_version = delta_io.last_commit(spark, outbox_ref)[0]
    signal_ids = _read(spark, warehouse, "supplier_signal").select("run_id").distinct().collect()

    killed = Job(job, warehouse, env={fault_hooks.PAUSE_AT_ENV: "export moved aside"})
    killed.wait_for("test hook: paused")
    killed.kill()
    assert _export_rows(warehouse) == collections.Counter()  # moved aside, not yet back
    plan_ids = _read(spark, warehouse, "reorder_plan").select("run_id").distinct().collect()
    assert plan_ids != signal_ids  # the plan is the killed run's, the signal the previous run's
    assert (
        _read(spark, warehouse, "supplier_signal").select("run_id").distinct().collect()
        == signal_ids
    )

    assert here(job, warehouse) == 0
    _assert_same_outputs(spark, warehouse, baseline, OUTPUTS[job])
    assert _export_rows(warehouse) == _export_rows(baseline)
    # The plan is the one the ERP already has: no change row reaches it.
    if delta_io.last_commit(spark, outbox_ref)[0] > outbox_version:
        assert erp.read_outbox_changes(spark, outbox_ref, outbox_version + 1).count() == 0


# --- 2. concurrent runs -----------------------------------------------------------------


@pytest.mark.slow
def test_two_concurrent_runs_of_a_date_end_consistent(
    spark, baseline, tmp_path, here, capsys, caplog, monkeypatch
):
    """One run is a subprocess, the other runs in this process on a thread (two Spark
    applications, as two scheduled runs would be; one cold JVM instead of two). Either may
    lose the first commit: the subprocess says so on its stderr, this process's run in its
    log records (pytest's log capture holds them, not stderr)."""
    warehouse = tmp_path / "warehouse"
    job = "plan_replenishment"
    _copy_tables(baseline, warehouse, INPUTS[job])
    go = tmp_path / "go"
    monkeypatch.setenv(fault_hooks.HOLD_ENV, str(go))
    monkeypatch.setitem(fault_hooks.state, "held", False)
    other = Job(job, warehouse)
    codes = {}
    thread = threading.Thread(target=lambda: codes.update(here=here(job, warehouse)))
    thread.start()
    other.wait_for("test hook: holding before writing")
    deadline = time.monotonic() + JOB_TIMEOUT
    while not fault_hooks.state["held"] and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert fault_hooks.state["held"], "the run in this process did not reach its first write"
    go.touch()  # both start their first write together: one of them must lose the commit
    codes["other"] = other.wait()
    thread.join(JOB_TIMEOUT)
    stderrs = {"here": capsys.readouterr().err + caplog.text, "other": other.stderr}
    assert set(codes) == {"here", "other"}, stderrs  # the thread's run ended with an exit code

    assert "a concurrent commit came first" in "\n".join(stderrs.values()), stderrs
    assert 0 in codes.values(), stderrs
    assert set(codes.values()) <= {0, errors.ConcurrentWriteError.exit_code}, stderrs
    for name, code in codes.items():
        if code:
            _assert_one_line_error(job, code, stderrs[name], "another run")
        else:
            assert "Traceback" not in stderrs[name], stderrs[name]
    _assert_same_outputs(spark, warehouse, baseline, OUTPUTS[job])
    assert _export_rows(warehouse) == _export_rows(baseline)
    for key in ("reorder_plan", "policy_simulation"):
        # Each table's rows for the date come from one run, not a mix.
        ids = _read(spark, warehouse, key).select("run_id").distinct().count()
        assert ids == 1, key
    # Both runs are recorded (their MERGEs into the runs table conflict too, and retry).
    recorded = set(_runs(spark, warehouse)) - set(_runs(spark, baseline))
    assert sorted(code for _, code in recorded) == sorted(codes.values())


def _race(spark, ref) -> list[BaseException | None]:
    """Two threads replace the same partition with rows that take a second to compute, so
    that both read the same table version before either commits."""

    @F.udf("long")
    def slowly(n):
        time.sleep(0.5)
        return n

    first = spark.range(1).select(F.lit(RUN_DATE).alias("run_date"), F.lit(0).cast("long").alias("n"), F.lit("first").alias("v"))  # fmt: skip
    delta_io.replace_partition(first, ref, "run_date", RUN_DATE)
    started = threading.Barrier(2)
    outcome: list[BaseException | None] = [None, None]

    def write(i):
        df = spark.range(2).coalesce(1).select(F.lit(RUN_DATE).alias("run_date"), slowly("id").alias("n"), F.lit(f"run{i}").alias("v"))  # fmt: skip
        started.wait()
        try:
            delta_io.replace_partition(df, ref, "run_date", RUN_DATE)
        except BaseException as exc:
            outcome[i] = exc

    threads = [threading.Thread(target=write, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcome


@pytest.mark.slow
def test_concurrent_replace_of_a_partition_retries_and_ends_with_one_run(spark, tmp_path, caplog):
    ref = TableRef(path=str(tmp_path / "t"))
    caplog.set_level("WARNING", logger="skuplan.delta_io")
    outcome = _race(spark, ref)
    assert outcome == [None, None], [str(e)[:400] for e in outcome if e]
    assert "a concurrent commit came first (ConcurrentAppendException)" in caplog.text
    rows = delta_io.read_table(spark, ref).collect()
    assert len(rows) == 2 and len({r.v for r in rows}) == 1  # one run's rows, not both


@pytest.mark.slow
def test_a_commit_conflict_without_retries_is_one_line_and_exit_8(
    spark, tmp_path, here, capsys, monkeypatch
):
    ref = TableRef(path=str(tmp_path / "t"))
    monkeypatch.setattr(delta_io, "WRITE_ATTEMPTS", 1)
    outcome = _race(spark, ref)
    (lost,) = [exc for exc in outcome if exc is not None]
    assert isinstance(lost, errors.ConcurrentWriteError) and lost.exit_code == 8
    assert "ConcurrentAppendException" in str(lost)

    # Delta's own exception, leaked from anywhere in a job, maps to the same exit code.
    from delta.exceptions.captured import ConcurrentAppendException

    def leaks(spark, conf):
        raise ConcurrentAppendException("Transaction conflict detected.", "at Stack(...)")

    assert here("train_forecast", tmp_path, run=leaks) == 8
    _assert_one_line_error(
        "train_forecast", 8, capsys.readouterr().err, "another run committed to the same table"
    )


def test_the_conflict_names_are_delta_s():
    import delta.exceptions

    assert set(delta.exceptions.__all__) == errors.DELTA_CONFLICTS


# --- 3. Python worker failure -----------------------------------------------------------


@pytest.mark.slow
def test_a_model_that_kills_its_worker_loses_one_series_only(spark, baseline, tmp_path):
    warehouse = tmp_path / "warehouse"
    _copy_tables(baseline, warehouse, INPUTS["train_forecast"])
    clean_ref = _conf(warehouse).table("clean_sales")
    clean_df = delta_io.read_table(spark, clean_ref)
    victim = clean_df.filter(~F.col("is_imputed")).select("sku", "location").orderBy("sku", "location").first()  # fmt: skip
    is_victim = (F.col("sku") == victim.sku) & (F.col("location") == victim.location)
    # The series' first day: in every backtest fold's history, so every fit of the model sees it.
    first_day = clean_df.filter(is_victim).agg(F.min("date")).first()[0]
    marked = clean_df.withColumn(
        "qty",
        F.when(is_victim & (F.col("date") == first_day), F.lit(777.0)).otherwise(F.col("qty")),
    )
    delta_io.overwrite_table(marked.localCheckpoint(), clean_ref, "load_date")

    job = Job(
        "train_forecast", warehouse,
        "spark.master=local[1,2]",  # one task retry, as on a cluster (4 there)
        "forecast.models=[seasonal_naive, moving_average, lightgbm_global, crash_on_777]",
        "forecast.max_failure_share=0.5",
        script=ROOT / "tests" / "crashing_forecast_job.py",
    )  # fmt: skip
    assert job.wait() == 0, job.stderr
    assert "Python worker exited unexpectedly" in job.stderr  # the first attempt did die
    # The job's log names the series that fell back, and why.
    named = f"1 series fell back to a simpler model (model_runs.error), e.g. {victim.sku} at {victim.location}: "
    assert named in job.stderr, job.stderr

    runs_df = _read(spark, warehouse, "model_runs")
    series = clean_df.select("sku", "location").distinct().count()
    assert runs_df.count() == series
    failed = runs_df.filter(F.col("status") != STATUS_OK).collect()
    assert [(r.sku, r.location, r.status) for r in failed] == [
        (victim.sku, victim.location, STATUS_FALLBACK)
    ]
    assert "died (exit code 1)" in failed[0].error
    assert failed[0].chosen_model in ("seasonal_naive", "historic_mean")
    forecasts_df = _read(spark, warehouse, "forecasts")
    assert forecasts_df.select("sku", "location").distinct().count() == series  # all forecast
    assert forecasts_df.groupBy("sku", "location").count().filter("count != 7").count() == 0
    # The crash model competed, and could win, everywhere else.
    metrics_df = _read(spark, warehouse, "backtest_metrics").filter("model = 'crash_on_777'")
    assert metrics_df.filter(F.col("error").isNull()).count() == series - 1


@pytest.mark.slow
def test_a_worker_crash_without_task_retries_is_one_line_and_exit_9(spark, tmp_path, here, capsys):
    def crashes(spark, conf):
        def fit(pdf):
            if pdf["g"].iloc[0] == 1:
                os._exit(1)
            return pdf

        df = spark.range(4).select((F.col("id") % 2).alias("g"))
        fanout.apply_per_series(df, fit, "g long", keys=["g"]).collect()

    # The shared session is local[2]: no task retries, so the crash ends the job.
    assert here("train_forecast", tmp_path, run=crashes) == 9
    _assert_one_line_error("train_forecast", 9, capsys.readouterr().err, "a Python worker crashed")


def test_isolated_groups_survive_a_hard_exit_and_an_exception():
    def fit(pdf):
        if pdf["k"].iloc[0] == "exit":
            os._exit(3)
        if pdf["k"].iloc[0] == "raise":
            raise ValueError("bad fit")
        return pdf.assign(v="ok")

    guard = fanout.guarded(fit, lambda pdf, error: pdf.assign(v=error), isolate=True)
    got = [guard(pd.DataFrame({"k": [k]}))["v"].iloc[0] for k in ("fine", "exit", "raise")]
    assert got == ["ok", "the Python process running this group died (exit code 3)", "ValueError: bad fit"]  # fmt: skip
    with pytest.raises(RuntimeError, match="died"):
        fanout.guarded(fit, isolate=True)(pd.DataFrame({"k": ["exit"]}))


# --- 4. corrupted or missing inputs ------------------------------------------------------


def _truncate_a_data_file(spark, warehouse, key) -> None:
    files = _read(spark, warehouse, key).inputFiles()
    path = Path(files[0].removeprefix("file:"))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _rewrite(spark, warehouse, key, change) -> None:
    ref = _conf(warehouse).table(key)
    df = change(delta_io.read_table(spark, ref)).localCheckpoint()
    partition = "load_date" if key in ("raw_sales", "clean_sales") else None
    delta_io.overwrite_table(df, ref, partition)


BROKEN_INPUTS = {
    # job: (its main input, {fault: (exit code, text of the error line)})
    "validate_sales": ("raw_sales", {
        "missing": (6, "raw sales not found"),
        "empty": (6, "no raw sales loaded on 2026-06-30"),
        "renamed": (4, "gate schema_raw_sales failed"),
        "retyped": (4, "gate schema_raw_sales failed"),
        "truncated": (6, "cannot read data file"),
        "corrupt_log": (6, "cannot read Delta log file"),
        # No item master is not a fault here: validation takes the items from the sales'
        # keys and says so (tests/test_own_data.py); planning refuses (below).
    }),
    "train_forecast": ("clean_sales", {
        "missing": (6, "clean sales not found"),
        "empty": (6, "no clean sales before 2026-06-30"),
        "renamed": (6, "lacks column(s) qty"),
        "retyped": (6, "column qty is string, expected double"),
        "truncated": (6, "cannot read data file"),
        "deleted": (6, "cannot read data file"),
    }),
    "plan_replenishment": ("forecasts", {
        "missing": (6, "forecasts not found"),
        "empty": (6, "no forecasts for 2026-06-30"),
        "renamed": (6, "lacks column(s) yhat"),
        "retyped": (6, "column yhat is string, expected double"),
        "truncated": (6, "cannot read data file"),
        "corrupt_log": (6, "cannot read Delta log file"),
        "no_item_master": (6, "item master not found"),
    }),
}  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize(
    ("job", "fault"),
    [(job, fault) for job, (_, faults) in BROKEN_INPUTS.items() for fault in faults],
)
def test_a_broken_input_is_one_line_an_exit_code_and_nothing_written(
    spark, baseline, tmp_path, here, capsys, job, fault
):
    key, faults = BROKEN_INPUTS[job]
    code, text = faults[fault]
    warehouse = tmp_path / "warehouse"
    _copy_tables(baseline, warehouse, INPUTS[job])
    column = {"raw_sales": "qty", "clean_sales": "qty", "forecasts": "yhat"}[key]
    if fault == "missing":
        shutil.rmtree(_conf(warehouse).table(key).path)
    elif fault == "empty":
        _rewrite(spark, warehouse, key, lambda df: df.limit(0))
    elif fault == "renamed":
        _rewrite(spark, warehouse, key, lambda df: df.withColumnRenamed(column, "quantity"))
    elif fault == "retyped":
        new_type = "int" if key == "raw_sales" else "string"
        _rewrite(
            spark,
            warehouse,
            key,
            lambda df: df.withColumn(column, F.col(column).try_cast(new_type)),
        )
    elif fault == "truncated":
        _truncate_a_data_file(spark, warehouse, key)
    elif fault == "corrupt_log":  # the latest commit's JSON cut short
        log = sorted((Path(_conf(warehouse).table(key).path) / "_delta_log").glob("*.json"))[-1]
        log.write_text(log.read_text()[:100])
    elif fault == "no_item_master":
        shutil.rmtree(_conf(warehouse).table("items").path)
    else:  # a data file the table's log still lists is gone
        Path(_read(spark, warehouse, key).inputFiles()[0].removeprefix("file:")).unlink()

    assert here(job, warehouse) == code
    _assert_one_line_error(job, code, capsys.readouterr().err, text)
    # Nothing downstream: validation records its gates (dq_results) and nothing else.
    for out in OUTPUTS[job]:
        if job == "validate_sales" and out == "dq_results" and code == 4:
            continue
        assert not _exists(spark, warehouse, out), out


# --- 5. bad input fuzzing ---------------------------------------------------------------

DAYS = [(RUN_DATE - dt.timedelta(days=i)).isoformat() for i in range(1, 6)]
_junk = st.one_of(st.none(), st.just(""), st.just("  "), st.text(max_size=6))


def _mostly(valid, invalid):
    """Valid values three times in four, so that rows with one fault are common."""
    return st.one_of(
        st.sampled_from(valid), st.sampled_from(valid), st.sampled_from(valid), invalid
    )


_row = st.tuples(
    _mostly(["A", "B", " A "], st.one_of(st.just("ZZ"), _junk)),  # ZZ: not in the item master
    _mostly(["L1", "L2"], st.one_of(st.just("L9"), _junk)),  # L9: not in the location master
    _mostly(DAYS, st.one_of(st.sampled_from(["2026-02-30", "2027-01-01", "30/06/2026"]), _junk)),
    _mostly(
        ["3", "0", "12.5", " 5 ", "1e12"],
        st.one_of(
            st.sampled_from(
                ["-4", "1e308", "1e309", "-1e309", "NaN", "Infinity", "-inf", "abc", "0x10", "1,5"]
            ),
            st.floats(allow_nan=True, allow_infinity=True).map(repr),
            st.integers(-(10**20), 10**20).map(str),
            _junk,
        ),
    ),
    _mostly(["2.5", None], st.sampled_from(["0", "-1", "NaN", "Infinity", "x"])),
    st.sampled_from(["0", "1", "true", "maybe", None]),
    st.sampled_from(["0", "1", "yes", None]),
)


@st.composite
def _raw_loads(draw):
    rows = draw(st.lists(_row, min_size=8, max_size=40))
    again = draw(st.lists(st.sampled_from(rows), max_size=6))  # exact duplicates
    return rows + again


@pytest.fixture(scope="module")
def fuzz_warehouse(spark, tmp_path_factory):
    warehouse = tmp_path_factory.mktemp("fuzz")
    conf = _conf(warehouse)
    n_items = len(ITEMS.fields) - 1
    items = [(s, *[None] * n_items) for s in ("A", "B")]
    delta_io.overwrite_table(spark.createDataFrame(items, ITEMS), conf.table("items"))
    locations = spark.createDataFrame([("L1", "R"), ("L2", "R")], LOCATIONS)
    delta_io.overwrite_table(locations, conf.table("locations"))
    return warehouse


FUZZ = [
    # Whatever the mix, no gate may stop the run: the properties are about the rows.
    "validation.max_quarantine_share=1.0",
    "validation.min_master_coverage=0.0",
    "validation.warning_gates=[schema_inventory, quarantine_share, row_count_change, freshness, master_coverage]",
]


def _obviously_bad(row) -> bool:
    """Rows that must be quarantined, judged without the job's own rules."""
    sku, location, date, qty = row[:4]
    blank = [v is None or not v.strip() for v in (sku, location)]
    return (
        any(blank)
        or sku.strip() not in ("A", "B")
        or location.strip() not in ("L1", "L2")
        or (
            qty is None
            or qty.strip().lower()
            in ("", "abc", "nan", "inf", "-inf", "infinity", "1e309", "-1e309")
        )
        or date not in DAYS
    )


def _assert_usable(clean) -> None:
    """Clean rows are usable: one per series and day, known keys, finite non-negative
    numbers, dates before the run date."""
    assert len({(r.sku, r.location, r.date) for r in clean}) == len(clean)
    for r in clean:
        assert r.sku in ("A", "B") and r.location in ("L1", "L2") and r.date < RUN_DATE
        assert np.isfinite(r.qty) and r.qty >= 0, r
        assert r.price is None or (np.isfinite(r.price) and r.price > 0), r


@pytest.fixture(scope="module")
def masters(spark):
    items = spark.createDataFrame([("A",), ("B",)], "sku string")
    return items, spark.createDataFrame([("L1",), ("L2",)], "location string")


RAW_TEXT = ["sku", "location", "date", "qty", "price", "promo", "is_stockout"]


# The rules alone, on 200 loads: no Delta and no suites, ten loads to a query. The
# properties are about rows, so they hold for ten loads as for each one; the union also
# mixes keys across loads, which the duplicate rule must take as well.
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip
@given(loads=st.lists(_raw_loads(), min_size=10, max_size=10))
def test_the_rules_split_every_fuzzed_load_into_usable_and_quarantined_rows(spark, masters, loads):
    rows = [r for load in loads for r in load]
    raw_df = spark.createDataFrame([(*r, "fuzz", RUN_DATE) for r in rows], RAW_SALES)
    conf = _conf("/nonexistent", *FUZZ)
    flagged = validate.flag_rows(raw_df, conf, *masters).select(
        *RAW_TEXT, "reasons", *[F.col(f"p_{c}").alias(f"_{c}") for c in RAW_TEXT]
    ).collect()  # fmt: skip

    # Every row comes out once, as it came in.
    assert collections.Counter(tuple(r[:7]) for r in flagged) == collections.Counter(rows)
    quarantined = collections.Counter(tuple(r[:7]) for r in flagged if r.reasons)
    bad = collections.Counter(r for r in rows if _obviously_bad(r))
    assert not bad - quarantined, bad
    _assert_usable([SimpleNamespace(**{c: r[f"_{c}"] for c in RAW_TEXT}) for r in flagged if not r.reasons])  # fmt: skip


# The whole job on fewer loads: its writes conserve what the rules split.
@pytest.mark.slow
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip
@given(rows=_raw_loads())
# Known hard cases, tried on every run besides the random ones.
@example(rows=[
    ("A", "L1", DAYS[0], "Infinity", "2.5", "0", "0"),
    ("A", "L1", DAYS[1], "1e309", "2.5", "0", "0"),
    ("B", "L2", DAYS[0], "3", "NaN", "0", "0"),
    ("B", "L2", DAYS[1], "3", "Infinity", "0", "0"),
    ("B", "L1", DAYS[2], "1e12", "2.5", "1", "1"),
    ("B", "L1", DAYS[2], "1e12", "2.5", "1", "1"),
    ("", None, "2026-02-30", "abc", "x", "maybe", None),
])  # fmt: skip
def test_validation_conserves_every_fuzzed_row_and_never_crashes(spark, fuzz_warehouse, rows):
    conf = _conf(fuzz_warehouse, *FUZZ)
    raw = [(*r, "fuzz", RUN_DATE) for r in rows]
    raw_df = spark.createDataFrame(raw, RAW_SALES)
    delta_io.overwrite_table(raw_df, conf.table("raw_sales"), "load_date")

    summary = validate.run(spark, conf)  # raises DataQualityError if conservation fails

    clean_df = delta_io.read_table(spark, conf.table("clean_sales"))
    observed = clean_df.filter(~F.col("is_imputed"))
    quarantine = [
        tuple(r)[:7] for r in delta_io.read_table(spark, conf.table("quarantine")).collect()
    ]
    assert summary.rows_in == len(rows) == observed.count() + len(quarantine)
    # Quarantine keeps the original values, each row with its reasons.
    assert not collections.Counter(quarantine) - collections.Counter(rows)
    bad = collections.Counter(r for r in rows if _obviously_bad(r))
    assert not bad - collections.Counter(quarantine), bad
    _assert_usable(clean_df.collect())


# --- 6. resource limits -----------------------------------------------------------------


def test_a_full_disk_is_exit_11_in_one_line_and_leaves_the_table_as_it_was(
    spark, tmp_path, here, capsys
):
    from skuplan.pipeline import ingest

    warehouse = tmp_path / "warehouse"
    path = tmp_path / "erp.csv"
    path.write_bytes(b"sku,location,date,qty\nA,L1,2026-06-01,3\n")
    load = f"validation.ingest.file={path}"
    assert here("ingest_files", warehouse, load, run=ingest.run) == 0
    ref = _conf(warehouse).table("raw_sales")
    version = delta_io.last_commit(spark, ref)[0]
    # The staged copy of the next load lands on a device with no space left (ENOSPC).
    staging = warehouse / "_staging" / RUN_DATE.isoformat()
    staging.mkdir(parents=True)
    (staging / "erp.csv.normalised.csv").symlink_to("/dev/full")
    path.write_bytes(b"sku,location,date,qty\nB,L1,2026-06-01,5\n")

    assert here("ingest_files", warehouse, load, run=ingest.run) == 11
    _assert_one_line_error("ingest_files", 11, capsys.readouterr().err, "no space left")
    assert delta_io.last_commit(spark, ref)[0] == version
    assert [r.sku for r in _read(spark, warehouse, "raw_sales").collect()] == ["A"]
    assert not staging.exists()


def _series(sku, days, rng, *, spikes=()):
    dates = pd.date_range(end=RUN_DATE - dt.timedelta(days=1), periods=days, freq="D")
    qty = rng.poisson(5.0, size=days).astype(float)
    for position, value in spikes:
        qty[position] = value
    return pd.DataFrame({
        "sku": sku, "location": "L1", "date": dates.date, "qty": qty, "price": 2.0,
        "promo": False, "is_stockout": False,
    })  # fmt: skip


def test_extreme_values_forecast_or_fall_back_with_a_recorded_error():
    from skuplan.forecasting.transport import fallback_records, series_records
    from skuplan.pipeline.forecast import engine_spec

    spec = engine_spec(_conf("/unused", "forecast.models=[seasonal_naive, moving_average, croston, lightgbm]").forecast)  # fmt: skip
    guard = fanout.guarded(
        lambda pdf: series_records(pdf, run_date=RUN_DATE, spec=spec),
        lambda pdf, error: fallback_records(pdf, error, run_date=RUN_DATE, spec=spec),
    )
    rng = np.random.default_rng(3)
    bands = ["yhat", "q10", "q50", "q90"]
    # Spikes of 1e12, and a month at the largest doubles (sums overflow to infinity).
    for spikes in ([(-3, 1e12), (-40, 1e12)], [(i, 1.7e308) for i in range(-30, 0)]):
        records = guard(_series("X", 400, rng, spikes=spikes))
        run = records[records["record"] == "run"].iloc[0]
        forecasts = records[records["record"] == "forecast"]
        assert run["status"] in (STATUS_OK, STATUS_FALLBACK)
        assert len(forecasts) == 7 and np.isfinite(forecasts[bands].to_numpy(float)).all()

    # Too short for seasonal naive, and its mean overflows: no model can forecast it. The
    # series is recorded as failed, with why; nothing raises.
    records = guard(_series("X", 5, rng, spikes=[(i, 1.7e308) for i in range(5)]))
    (run,) = records[records["record"] == "run"].itertuples()
    assert (run.status, run.chosen_model) == (STATUS_FAILED, "none")
    assert "historic_mean" in run.error and "non-finite" in run.error
    assert (records["record"] == "forecast").sum() == 0


@pytest.mark.slow
def test_twenty_years_of_daily_history_is_capped_and_forecast(spark, tmp_path, here):
    rng = np.random.default_rng(5)
    long_pdf = _series("LONG", 20 * 365, rng)
    spiky_pdf = _series("SPIKY", 200, rng, spikes=[(-10, 1e12), (-50, 5e11)])
    normal_pdf = _series("NORMAL", 200, rng)
    history = pd.concat([long_pdf, spiky_pdf, normal_pdf]).assign(
        load_date=RUN_DATE, run_id="r", is_outlier=False, is_imputed=False
    )
    conf = _conf(tmp_path)
    columns = [f.name for f in CLEAN_SALES.fields]
    delta_io.overwrite_table(
        spark.createDataFrame(history[columns], CLEAN_SALES), conf.table("clean_sales"), "load_date"
    )
    skus = ("LONG", "SPIKY", "NORMAL")
    items = [(s, "c", *[None] * (len(ITEMS.fields) - 2)) for s in skus]
    delta_io.overwrite_table(spark.createDataFrame(items, ITEMS), conf.table("items"))
    inventory = [(s, "L1", RUN_DATE, 1.0, 0.0, None, 0.0) for s in skus]
    delta_io.overwrite_table(spark.createDataFrame(inventory, INVENTORY), conf.table("inventory"))

    models = "forecast.models=[seasonal_naive, moving_average, croston, lightgbm]"
    assert here("train_forecast", tmp_path, models, "forecast.max_history_days=730") == 0
    model_runs = {r.sku: r for r in _read(spark, tmp_path, "model_runs").collect()}
    assert model_runs["LONG"].training_rows == 730  # the cap, not 7,300 days
    assert model_runs["NORMAL"].status == STATUS_OK
    assert model_runs["SPIKY"].status in (STATUS_OK, STATUS_FALLBACK)
    forecasts = _read(spark, tmp_path, "forecasts")
    assert forecasts.select("sku").distinct().count() == 3
    assert forecasts.filter(F.isnan("yhat") | F.col("yhat").isNull()).count() == 0
