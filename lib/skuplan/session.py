"""The Spark session: a Delta-enabled local one, or the one spark-submit already configured.

The choice is explicit, from config: ``spark.master`` set means "build a session here with
that master and Delta's jars from the local cache"; ``null`` means "spark-submit gave us the
master, the jars and the Python environment, take them as they are".
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from pyspark.sql import SparkSession

from skuplan.conf import Conf
from skuplan.errors import RuntimeSetupError

DELTA_SQL_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}


def delta_jars(jars_dir: Path) -> list[Path]:
    """Delta's jars in the setup cache.

    Raises:
        RuntimeSetupError: the cache holds no Delta jar.
    """
    jars = sorted(jars_dir.glob("*.jar"))
    if not any(j.name.startswith("delta-spark_") for j in jars):
        raise RuntimeSetupError(f"Delta jars not found in {jars_dir}: run `make setup`")
    return jars


def _check_java() -> None:
    java_home = os.environ.get("JAVA_HOME")
    if not shutil.which("java") and not (java_home and Path(java_home, "bin", "java").exists()):
        raise RuntimeSetupError(
            "Java not found: install Java 17 (e.g. apt-get install openjdk-17-jre-headless)"
        )


def local_builder(
    master: str, jars_dir: Path, options: dict[str, str], app_name: str = "skuplan"
) -> SparkSession.Builder:
    """A builder for a local Delta-enabled session whose Python workers use this interpreter."""
    _check_java()
    # PySpark picks the worker interpreter from this variable, not from the session config:
    # without it, workers start the system python3, which lacks this project's packages.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.jars", ",".join(str(j) for j in delta_jars(jars_dir)))
    )
    for key, value in {**DELTA_SQL_CONF, **options}.items():
        builder = builder.config(key, value)
    return builder


def get_session(conf: Conf) -> SparkSession:
    """The session for a job run, as ``conf.spark`` describes it."""
    spark_conf = conf.spark
    if spark_conf.master is None:
        builder = SparkSession.builder.appName(spark_conf.app_name)
        for key, value in {**DELTA_SQL_CONF, **spark_conf.options}.items():
            builder = builder.config(key, value)
        return builder.getOrCreate()
    builder = local_builder(
        spark_conf.master,
        conf.resolve(spark_conf.jars_dir),
        dict(spark_conf.options),
        spark_conf.app_name,
    )
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark
