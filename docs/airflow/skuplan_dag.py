"""Example Airflow DAG: the skuplan stages as spark-submit tasks, one run per day.

Copy it into the DAGs folder and adapt SKUPLAN_HOME and the `spark_default` connection
(host: the master, e.g. spark://spark-master:7077, yarn or k8s://https://...). It needs
apache-airflow and apache-airflow-providers-apache-spark; skuplan itself does not.

Each task passes Airflow's logical date as --run-date, so a retry or a backfill replaces that
day's rows (every skuplan write is idempotent for its run date). Exit codes tell what failed:
3 configuration, 4 data-quality gate, 5 model-failure share, 6 input, 7 runtime setup. A
gate or input failure (4, 6) will not pass on retry without new data, so retries are few.
"""

from __future__ import annotations

import datetime as dt

from airflow import DAG
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

SKUPLAN_HOME = "/opt/skuplan"  # a checkout after `make setup package`
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
        "spark.pyspark.python": "./environment/bin/python",
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
    "env_vars": {"PYSPARK_DRIVER_PYTHON": f"{SKUPLAN_HOME}/.venv/bin/python"},
}


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
    validate = SparkSubmitOperator(
        task_id="validate_sales",
        application=f"{SKUPLAN_HOME}/jobs/validate_sales.py",
        application_args=_args(),
        name="skuplan-validate-{{ ds }}",
        **COMMON,
    )
    forecast = SparkSubmitOperator(
        task_id="train_forecast",
        application=f"{SKUPLAN_HOME}/jobs/train_forecast.py",
        application_args=_args(),
        name="skuplan-forecast-{{ ds }}",
        execution_timeout=dt.timedelta(hours=3),
        **COMMON,
    )
    plan = SparkSubmitOperator(
        task_id="plan_replenishment",
        application=f"{SKUPLAN_HOME}/jobs/plan_replenishment.py",
        application_args=_args(),
        name="skuplan-plan-{{ ds }}",
        **COMMON,
    )
    validate >> forecast >> plan
