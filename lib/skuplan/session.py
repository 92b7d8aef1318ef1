"""The Spark session: a Delta-enabled local one, or the one spark-submit already configured.

The choice is explicit, from config: ``spark.master`` set means "build a session here with
that master and Delta's jars from the local cache"; ``null`` means "spark-submit gave us the
master, the jars and the Python environment, take them as they are".
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

from pyspark.sql import SparkSession

from skuplan.conf import Conf
from skuplan.errors import ConfigError, RuntimeSetupError

log = logging.getLogger(__name__)

# Spark's own log lines at warning level and above, so that a job's output is its own lines
# (spark-submit takes the same file with --driver-java-options, see README).
LOG_CONFIG = Path(__file__).with_name("log4j2.properties")
JAVA_OPTIONS = "spark.driver.extraJavaOptions"
DELTA_SQL_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}


# `${ENV:NAME}` in a Spark option is replaced by the environment variable NAME when the session
# is built, so credentials never sit in config files, `--set` arguments, the Conf object, the
# runs table or the logs.
_ENV_REF = re.compile(r"\$\{ENV:([A-Za-z_][A-Za-z0-9_]*)\}")
# Options whose values are credentials: these must be `${ENV:NAME}` references.
_SECRET_OPTION = re.compile(
    r"(?i)(password|secret|token|credential|access\.key|account\.key|sas|private\.key)"
)


def resolve_options(options: Mapping[str, str], environ: Mapping[str, str] | None = None) -> dict:
    """Spark options with ``${ENV:NAME}`` references replaced from the environment.

    Raises:
        ConfigError: a credential-like option holds a literal value, or a referenced variable
            is not set (the message names the option and the variable, never a value).
    """
    environ = os.environ if environ is None else environ
    resolved = {}
    for key, value in options.items():
        text = str(value)
        if _SECRET_OPTION.search(key) and not _ENV_REF.fullmatch(text.strip()):
            raise ConfigError(
                f"spark.options.{key} looks like a credential: give it as ${{ENV:VARIABLE}} "
                "and set the variable in the environment, never in config or --set"
            )
        missing = [name for name in _ENV_REF.findall(text) if name not in environ]
        if missing:
            raise ConfigError(
                f"spark.options.{key} needs environment variable {missing[0]}, which is not set"
            )
        resolved[key] = _ENV_REF.sub(lambda m: environ[m.group(1)], text)
    return resolved


def delta_jars(jars_dir: Path) -> list[Path]:
    """Delta's jars in the setup cache.

    Raises:
        RuntimeSetupError: the cache holds no Delta jar.
    """
    jars = sorted(jars_dir.glob("*.jar"))
    if not any(j.name.startswith("delta-spark_") for j in jars):
        raise RuntimeSetupError(
            f"Delta jars not found in {jars_dir}: run `make setup` (or `skuplan setup`)"
        )
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
    java_options = " ".join(  # the caller's own options last: a -D given there wins
        [f"-Dlog4j2.configurationFile={LOG_CONFIG}", options.get(JAVA_OPTIONS, "")]
    ).strip()
    for key, value in {**DELTA_SQL_CONF, **options, JAVA_OPTIONS: java_options}.items():
        builder = builder.config(key, value)
    return builder


def get_session(conf: Conf) -> SparkSession:
    """The session for a job run, as ``conf.spark`` describes it."""
    spark_conf = conf.spark
    options = resolve_options(spark_conf.options)
    if spark_conf.master is None:
        active = SparkSession.getActiveSession()
        if active is not None:  # a runtime's own (Databricks, a notebook): taken as it is
            log.info("using the active Spark session as it is (spark.options not applied)")
            _check_delta_loaded(active)
            return active
        builder = SparkSession.builder.appName(spark_conf.app_name)
        for key, value in {**DELTA_SQL_CONF, **options}.items():
            builder = builder.config(key, value)
        spark = builder.getOrCreate()
        _check_delta_loaded(spark)
        return spark
    builder = local_builder(
        spark_conf.master,
        conf.jars_dir(),
        options,
        spark_conf.app_name,
    )
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark


def _check_delta_loaded(spark: SparkSession) -> None:
    """Fail early, with the fix, when spark-submit was not given Delta's jars."""
    jvm = getattr(spark, "_jvm", None)
    if jvm is None:  # Spark Connect: the server's classpath is not ours to check
        return
    try:
        jvm.java.lang.Class.forName(
            "io.delta.tables.DeltaTable", True, jvm.Thread.currentThread().getContextClassLoader()
        )
    except Exception:  # py4j wraps the ClassNotFoundException
        raise RuntimeSetupError(
            "Delta's classes are not on the cluster's classpath: pass the jars from "
            "`make setup` (spark-submit --jars .cache/jars/delta-spark_*.jar,"
            ".cache/jars/delta-storage-*.jar) or install Delta on the cluster"
        ) from None
