"""Example Airflow DAG: the skuplan stages as spark-submit tasks, one run per day.

Copy it into the DAGs folder, set SKUPLAN_HOME (the worker's environment, or the default
below) and the `spark_default` connection (host: the master, e.g. spark://spark-master:7077,
yarn or k8s://https://...). It needs Airflow 3.3+ and apache-airflow-providers-apache-spark;
skuplan itself does not (tests/test_docs.py loads it with Airflow's DagBag).

Each task passes Airflow's logical date as --run-date, so a retry or a backfill replaces that
day's rows (every skuplan write is idempotent for its run date). Exit codes tell what failed
(README, "Running jobs"): a data-quality gate (4) or a missing or unreadable input (6) will
not pass on a retry without new data, so those fail the task at once; other failures (a lost
executor, a commit conflict, 8; a crashed worker, 9) are retried.

The driver runs on the Airflow worker (client mode) with the checkout's own Python
(`spark.pyspark.driver.python`); executors use the packed environment's.
"""

from __future__ import annotations

import datetime as dt
import os
import re

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import DAG
from airflow.sdk.exceptions import AirflowException, AirflowFailException

SKUPLAN_HOME = os.environ.get(
    "SKUPLAN_HOME", "/opt/skuplan"
)  # a checkout after `make setup package`
JARS = ",".join(
    f"{SKUPLAN_HOME}/.cache/jars/{jar}"
    for jar in ("delta-spark_4.1_2.13-4.4.0.jar", "delta-storage-4.4.0.jar")
)
COMMON = {
    "conn_id": "spark_default",
    "jars": JARS,
    "archives": f"{SKUPLAN_HOME}/dist/skuplan-env.tar.gz#environment",
    "py_files": f"{SKUPLAN_HOME}/dist/skuplan.zip",
    "conf": {
        "spark.pyspark.python": "./environment/bin/python",  # executors
        "spark.pyspark.driver.python": f"{SKUPLAN_HOME}/.venv/bin/python",  # the driver, here
        "spark.sql.shuffle.partitions": "200",
        # Spark's own driver log at warnings and above: the task log shows the project's lines.
        "spark.driver.extraJavaOptions": (
            f"-Dlog4j2.configurationFile={SKUPLAN_HOME}/lib/skuplan/log4j2.properties"
        ),
    },
    "executor_memory": "4g",
    "executor_cores": 2,
    "num_executors": 4,
    # Credentials (object store keys, tokens) come from the worker's environment, referenced
    # in conf/*.yaml as ${ENV:NAME}; never put them in application_args.
}
NO_RETRY_EXIT_CODES = {4, 6}  # bad data: a retry cannot fix it


class SkuplanSubmit(SparkSubmitOperator):
    """spark-submit of one skuplan job; an exit code a retry cannot fix fails the task at once."""

    def execute(self, context):
        try:
            return super().execute(context)
        except AirflowException as exc:
            found = re.search(r"Error code is: (\d+)", str(exc))
            if found and int(found.group(1)) in NO_RETRY_EXIT_CODES:
                raise AirflowFailException(f"bad input data, not retried: {exc}") from exc
            raise


def _args(*extra: str) -> list[str]:
    return ["--conf", f"{SKUPLAN_HOME}/conf", "--env", "cluster", "--run-date", "{{ ds }}", *extra]


with DAG(
    dag_id="skuplan_daily",
    schedule="0 5 * * *",
    start_date=dt.datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 1, "retry_delay": dt.timedelta(minutes=10)},
    tags=["skuplan"],
) as dag:
    validate, forecast, plan, report = (
        SkuplanSubmit(
            task_id=job,
            application=f"{SKUPLAN_HOME}/jobs/{job}.py",
            application_args=_args(),
            name=f"skuplan-{job}-{{{{ ds }}}}",
            **({"execution_timeout": dt.timedelta(hours=3)} if job == "train_forecast" else {}),
            **COMMON,
        )
        for job in ("validate_sales", "train_forecast", "plan_replenishment", "report")
    )
    validate >> forecast >> plan >> report
