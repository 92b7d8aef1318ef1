"""A real Spark standalone cluster on 127.0.0.1: spark-submit the pipeline with the packaged
environment (``make package``) on demo inputs and check the Delta outputs.

The master and the worker come from the installed pyspark (its ``bin/spark-class``), each on
free ports, and are stopped by their own pids whatever happens.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pyspark
import pytest

from conftest import ROOT, RUN_DATE

pytestmark = pytest.mark.slow

SPARK_HOME = Path(pyspark.__file__).parent
ENV_ARCHIVE = ROOT / "dist" / "skuplan-env.tar.gz"
CODE_ZIP = ROOT / "dist" / "skuplan.zip"
N_SERIES, HORIZON = 20, 14
SMALL = [
    f"demo.n_series={N_SERIES}",
    "demo.n_locations=4",
    "demo.history_days=120",
    f"forecast.horizon={HORIZON}",
    "forecast.models=[seasonal_naive,moving_average]",
    # Tiny tables: the cluster's defaults (8 shuffle partitions, Delta's 50 for log replay)
    # would spend the run scheduling empty tasks.
    "spark.options.spark.sql.shuffle.partitions=2",
    "spark.options.spark.databricks.delta.snapshotPartitions=2",
]
READY_TIMEOUT = 180
SUBMIT_TIMEOUT = 1200


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spark_env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        SPARK_HOME=str(SPARK_HOME),
        SPARK_LOCAL_IP="127.0.0.1",
        SPARK_LOG_DIR=str(tmp / "logs"),
        SPARK_PID_DIR=str(tmp / "pids"),
        SPARK_NO_DAEMONIZE="1",
    )
    # The caller's settings must not leak into the cluster's Python choice.
    for key in ("PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON", "PYTHONPATH"):
        env.pop(key, None)
    return env


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _alive_workers(ui_port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=5) as resp:
        return int(json.load(resp).get("aliveworkers", 0))


def _wait_until(predicate, *, what: str, timeout: float, procs, logs) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc, log in zip(procs, logs, strict=True):
            if proc.poll() is not None:
                pytest.fail(f"{what}: process {proc.pid} exited {proc.returncode}\n{_tail(log)}")
        try:
            if predicate():
                return
        except OSError:
            pass  # not listening yet
        time.sleep(1)
    details = "\n".join(f"--- {log.name}\n{_tail(log)}" for log in logs)
    pytest.fail(f"{what}: not ready after {timeout:.0f}s\n{details}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


@pytest.fixture(scope="module")
def env_archive():
    """The packaged environment, built (or brought up to date) by make: minutes the first
    time, a no-op when it is newer than requirements.lock."""
    proc = subprocess.run(
        ["make", "package"], cwd=ROOT, capture_output=True, text=True, timeout=1800
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert ENV_ARCHIVE.is_file() and CODE_ZIP.is_file()
    return ENV_ARCHIVE


@pytest.fixture(scope="module")
def standalone_cluster(tmp_path_factory):
    """A master and one worker (2 cores, 2 GB) on 127.0.0.1; yields the master URL."""
    tmp = tmp_path_factory.mktemp("standalone")
    env = _spark_env(tmp)
    spark_class = str(SPARK_HOME / "bin" / "spark-class")
    port, ui_port, worker_ui = _free_port(), _free_port(), _free_port()
    url = f"spark://127.0.0.1:{port}"
    master_log, worker_log = tmp / "master.log", tmp / "worker.log"
    procs: list[subprocess.Popen] = []
    try:
        with master_log.open("w") as out:
            procs.append(
                subprocess.Popen(
                    [
                        spark_class,
                        "org.apache.spark.deploy.master.Master",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(port),
                        "--webui-port",
                        str(ui_port),
                    ],
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )
            )
        _wait_until(
            lambda: _alive_workers(ui_port) >= 0,
            what="spark master", timeout=READY_TIMEOUT, procs=procs, logs=[master_log],
        )  # fmt: skip
        with worker_log.open("w") as out:
            procs.append(
                subprocess.Popen(
                    [
                        spark_class,
                        "org.apache.spark.deploy.worker.Worker",
                        url,
                        "--host",
                        "127.0.0.1",
                        "--cores",
                        "2",
                        "--memory",
                        "2g",
                        "--webui-port",
                        str(worker_ui),
                        "--work-dir",
                        str(tmp / "work"),
                    ],
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )
            )
        _wait_until(
            lambda: _alive_workers(ui_port) >= 1,
            what="spark worker registration", timeout=READY_TIMEOUT, procs=procs,
            logs=[master_log, worker_log],
        )  # fmt: skip
        yield {"url": url, "env": env, "work": tmp / "work", "logs": [master_log, worker_log]}
    finally:
        for proc in reversed(procs):
            _stop(proc)


def _submit(cluster, job: str, *args: str) -> subprocess.CompletedProcess:
    jars = ",".join(
        str(j)
        for j in sorted((ROOT / ".cache" / "jars").glob("*.jar"))
        if j.name.startswith(("delta-spark_", "delta-storage-"))
    )
    env = dict(cluster["env"])
    # The driver (client mode, here) runs this interpreter; executors unpack the archive.
    env.update(PYSPARK_DRIVER_PYTHON=sys.executable, PYSPARK_PYTHON="./environment/bin/python")
    cmd = [
        str(SPARK_HOME / "bin" / "spark-submit"),
        "--master", cluster["url"],
        "--deploy-mode", "client",
        "--name", f"skuplan-test-{job}",
        "--jars", jars,
        "--archives", f"{ENV_ARCHIVE}#environment",
        "--py-files", str(CODE_ZIP),
        "--executor-memory", "1g",
        "--conf", "spark.ui.enabled=false",
        "--conf", "spark.driver.host=127.0.0.1",
        "--driver-java-options", "-Dlog4j2.configurationFile=lib/skuplan/log4j2.properties",
        str(ROOT / "jobs" / f"{job}.py"),
        *args,
    ]  # fmt: skip
    try:
        return subprocess.run(
            cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=SUBMIT_TIMEOUT
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"spark-submit {job} timed out after {SUBMIT_TIMEOUT}s\n{exc.stdout}")


def test_pipeline_on_standalone_cluster(env_archive, standalone_cluster, spark, tmp_path):
    import pyspark.sql.functions as F

    from skuplan import delta_io
    from skuplan.conf import load_conf
    from skuplan.pipeline import demo
    from skuplan.replenishment import network

    overrides = [f"warehouse={tmp_path / 'warehouse'}", *SMALL]
    args = ["--env", "standalone", "--run-date", RUN_DATE.isoformat()]
    args += [a for o in overrides for a in ("--set", o)]

    # The inputs come from this process (the demo job is not what runs on clusters).
    conf = load_conf(ROOT / "conf", "standalone", RUN_DATE, overrides)
    demo.run(spark, conf)
    started = time.monotonic()
    proc = _submit(standalone_cluster, "run_pipeline", *args)
    assert proc.returncode == 0, f"run_pipeline exited {proc.returncode}\n{proc.stdout[-5000:]}"
    print(f"cluster submit took {time.monotonic() - started:.0f}s")
    # With the shipped log configuration, Spark says warnings only: the project's lines show.
    output = (proc.stdout + proc.stderr).splitlines()
    spark_info = [line for line in output if re.match(r"\d\d/\d\d/\d\d [\d:]{8} INFO ", line)]
    assert not spark_info, spark_info[:5]
    assert any("train_forecast:" in line for line in output)

    # The executors ran Python from the unpacked archive.
    unpacked = list(standalone_cluster["work"].glob("app-*/*/environment/bin/python"))
    assert unpacked, f"no unpacked environment under {standalone_cluster['work']}"

    read = lambda key: delta_io.read_table(spark, conf.table(key))  # noqa: E731
    with_history = read("clean_sales").select("sku", "location")
    # Stores: the demo's DCs are planned on their stores' orders, not forecast.
    stocked = network.without_dcs(read("inventory").select("sku", "location"), read("locations"))
    series = with_history.union(stocked).distinct().count()
    assert 0 < series <= N_SERIES
    forecasts = read("forecasts").filter(F.col("run_date") == F.lit(RUN_DATE))
    assert forecasts.count() == series * HORIZON
    plan = read("reorder_plan")
    assert plan.filter("echelon = 'store'").count() == series
    assert plan.count() == plan.select("sku", "location").distinct().count() > series

    runs_df = read("runs")
    by_job = {r["job"]: r for r in runs_df.collect()}
    assert set(by_job) == {"run_pipeline"}
    pipeline = by_job["run_pipeline"]
    assert (pipeline["status"], pipeline["exit_code"]) == ("success", 0)
    assert pipeline["spark_app_id"].startswith("app-")
    assert {o["key"] for o in pipeline["outputs"]} >= {"forecasts", "reorder_plan"}
    assert forecasts.select("run_id").distinct().first()["run_id"] == pipeline["run_id"]


def test_submit_without_delta_jars_exits_7(tmp_path):
    env = _spark_env(tmp_path)
    env["PYSPARK_PYTHON"] = env["PYSPARK_DRIVER_PYTHON"] = sys.executable
    proc = subprocess.run(
        [str(SPARK_HOME / "bin" / "spark-submit"), "--master", "local[1]",
         "--conf", "spark.ui.enabled=false", str(ROOT / "jobs" / "validate_sales.py"),
         "--env", "standalone", "--set", f"warehouse={tmp_path}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    # spark-submit's PythonRunner merges the job's stderr into its stdout.
    errors = [line for line in proc.stdout.splitlines() if "error:" in line]
    assert proc.returncode == 7, errors or proc.stderr[-3000:]
    assert errors == [
        "validate_sales: error: Delta's classes are not on the cluster's classpath: pass the jars"
        " from `make setup` (spark-submit --jars .cache/jars/delta-spark_*.jar,"
        ".cache/jars/delta-storage-*.jar) or install Delta on the cluster"
    ]


@pytest.fixture(autouse=True, scope="module")
def _needs_spark_class():
    if not (SPARK_HOME / "bin" / "spark-class").exists() or shutil.which("java") is None:
        pytest.fail("pyspark's bin/spark-class or java is missing: run `make setup`")
