"""Spark options: credentials only as ${ENV:NAME} references, resolved when the session is built."""

import pytest

from skuplan.conf import load_conf
from skuplan.errors import ConfigError
from skuplan.session import get_session, resolve_options

from conftest import ROOT


def test_env_references_are_resolved():
    options = {
        "spark.hadoop.fs.s3a.secret.key": "${ENV:S3_SECRET}",
        "spark.hadoop.fs.s3a.endpoint": "https://${ENV:S3_HOST}/",
        "spark.sql.shuffle.partitions": "8",
    }
    assert resolve_options(options, {"S3_SECRET": "s3cr3t", "S3_HOST": "minio"}) == {
        "spark.hadoop.fs.s3a.secret.key": "s3cr3t",
        "spark.hadoop.fs.s3a.endpoint": "https://minio/",
        "spark.sql.shuffle.partitions": "8",
    }


@pytest.mark.parametrize(
    "key",
    [
        "spark.hadoop.fs.s3a.secret.key",
        "spark.hadoop.fs.azure.account.key.acct.dfs.core.windows.net",
        "spark.hadoop.fs.s3a.access.key",
        "spark.databricks.token",
    ],
)
def test_literal_credentials_are_refused_without_echoing_them(key):
    with pytest.raises(ConfigError, match="looks like a credential") as info:
        resolve_options({key: "hunter2"}, {})
    assert "hunter2" not in str(info.value)


def test_missing_variable_is_named_not_its_value():
    with pytest.raises(ConfigError, match="needs environment variable S3_SECRET"):
        resolve_options({"spark.hadoop.fs.s3a.secret.key": "${ENV:S3_SECRET}"}, {})


def test_local_sessions_log_spark_warnings_only_from_the_shipped_configuration(spark):
    from skuplan.session import LOG_CONFIG

    log4j = spark._jvm.org.apache.logging.log4j
    context = log4j.LogManager.getContext(False)
    assert context.getConfiguration().getConfigurationSource().getLocation() == str(LOG_CONFIG)
    configured = context.getConfiguration().getLoggerConfig("org.apache.spark.util.Utils")
    assert str(configured.getLevel()) == "ERROR"


@pytest.mark.parametrize(
    "name, hint, kept",
    [
        (
            "org.apache.spark.scheduler.DAGScheduler",
            "Broadcasting large task binary with size 18.3 MiB",
            "Stage 3 was cancelled",
        ),
        (
            "org.apache.spark.rdd.MapPartitionsRDD",
            "RDD 412 was locally checkpointed, its lineage has been truncated and cannot be "
            "recomputed after unpersisting",
            "RDD 412 was not found",
        ),
    ],
)
def test_hints_an_operator_cannot_act_on_are_dropped_and_other_warnings_kept(
    spark, name, hint, kept
):
    log4j = spark._jvm.org.apache.logging.log4j
    configured = log4j.LogManager.getContext(False).getConfiguration().getLoggerConfig(name)

    def dropped(message: str) -> bool:
        event = (
            log4j.core.impl.Log4jLogEvent.newBuilder()
            .setLoggerName(name)
            .setLevel(log4j.Level.WARN)
            .setMessage(log4j.message.SimpleMessage(message))
            .build()
        )
        return configured.isFiltered(event)

    assert dropped(hint)
    assert not dropped(kept)


def test_without_a_master_an_active_session_is_taken_as_it_is(spark):
    # A runtime that made its session (Databricks, a notebook): no second session, and
    # Delta's catalog settings are not forced on it.
    conf = load_conf(ROOT / "conf", "cluster")
    assert conf.spark.master is None
    assert get_session(conf) is spark
