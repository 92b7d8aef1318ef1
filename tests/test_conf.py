import datetime as dt
import shutil
from pathlib import Path

import pytest
from pydantic import ValidationError

from skuplan.conf import load_conf
from skuplan.conf_layers import SHIPPED, parse_overrides
from skuplan.errors import ConfigError
from skuplan.tableref import TableRef

from conftest import ROOT


def test_base_and_local_overlay_merge():
    conf = load_conf(ROOT / "conf", "local", dt.date(2026, 1, 5))
    assert conf.spark.master == "local[*,2]"
    # The overlay adds options without dropping the base's.
    assert conf.spark.options["spark.sql.session.timeZone"] == "UTC"
    assert conf.spark.options["spark.sql.shuffle.partitions"] == "4"
    assert conf.forecast.quantiles == (0.1, 0.5, 0.9)
    assert conf.run_date == dt.date(2026, 1, 5)


def test_relative_table_paths_resolve_under_the_warehouse():
    conf = load_conf(ROOT / "conf", "local")
    assert conf.table("forecasts").path == str(ROOT / "warehouse" / "gold" / "forecasts")
    # So do the global models' files, under a remote warehouse too.
    models = conf.location(conf.forecast.global_models_dir)
    assert models == str(ROOT / "warehouse" / "gold" / "global_model_files")
    remote = load_conf(ROOT / "conf", "local", overrides=["warehouse=s3a://bucket/w/"])
    assert remote.location("gold/m") == "s3a://bucket/w/gold/m"


def test_report_folder_is_under_a_local_warehouse_else_under_the_project(tmp_path):
    local = load_conf(ROOT / "conf", "local", overrides=[f"warehouse={tmp_path}"])
    assert local.report_dir() == tmp_path / "reports"
    remote = load_conf(ROOT / "conf", "local", overrides=["warehouse=s3a://bucket/skuplan"])
    assert remote.report_dir() == ROOT / "reports"
    absolute = load_conf(ROOT / "conf", "local", overrides=[f"report.dir={tmp_path / 'r'}"])
    assert absolute.report_dir() == tmp_path / "r"


def test_cluster_overlay_replaces_table_addresses_with_catalog_names():
    conf = load_conf(ROOT / "conf", "cluster")
    assert conf.spark.master is None
    assert conf.table("forecasts") == TableRef(name="skuplan.forecasts")
    # Every table is in the catalog; only the supplier exports (files) stay a path.
    paths = {key for key, ref in conf.tables.items() if ref.name is None}
    assert paths == {"supplier_exports", "supplier_signal_exports"}


def test_set_overrides_are_parsed_as_yaml_and_applied_last():
    conf = load_conf(
        ROOT / "conf", "local", overrides=["forecast.horizon=14", "validation.allow_returns=true"]
    )
    assert conf.forecast.horizon == 14
    assert conf.validation.allow_returns is True


def test_spark_options_keep_their_dotted_names():
    conf = load_conf(
        ROOT / "conf", "local", overrides=["spark.options.spark.sql.shuffle.partitions=3"]
    )
    assert conf.spark.options["spark.sql.shuffle.partitions"] == "3"


def test_parse_overrides_nests_dotted_keys():
    assert parse_overrides(["a.b=1", "a.c=x", "d=[1, 2]"]) == {"a": {"b": 1, "c": "x"}, "d": [1, 2]}


def test_conf_is_frozen():
    conf = load_conf(ROOT / "conf", "local")
    with pytest.raises(ValidationError):
        conf.forecast.horizon = 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"env": "nope"}, "unknown --env 'nope': choose one of cluster, local"),
        ({"overrides": ["forecast.horizon=0"]}, "bad config value at forecast.horizon"),
        ({"overrides": ["forecast.horizn=3"]}, "unknown config key: forecast.horizn"),
        ({"overrides": ["forecast.quantiles=[0.1, 0.9]"]}, "quantiles must include 0.5"),
        ({"overrides": ["tables.forecasts.name=x; DROP TABLE y"]}, "invalid table name"),
        ({"overrides": ["novalue"]}, "--set expects key=value"),
        (
            {"overrides": ["tables.supplier_exports={path: gold/forecasts/exports}"]},
            "tables.supplier_exports (",
        ),
        ({"overrides": ["tables.items={path: raw/sales}"]}, "and tables.raw_sales ("),
        (
            {"env": "cluster", "overrides": ["tables.forecasts={name: SKUPLAN.reorder_plan}"]},
            "overlap: each table needs its own address",
        ),
        ({"overrides": ["validation.sources.skuplan.delimiter=;;"]}, "delimiter must be one"),
        ({"overrides": ["validation.sources.skuplan.encoding=klingon"]}, "unknown encoding"),
        ({"overrides": ["forecast.freq=7D"]}, "'7D': use D (days), W-<day>"),
        ({"overrides": ["forecast.freq=ME"]}, "or MS (months)"),
    ],
)
def test_bad_configuration_is_one_clear_error(kwargs, message):
    with pytest.raises(ConfigError) as info:
        load_conf(ROOT / "conf", **kwargs)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_key_is_named(tmp_path):
    shutil.copytree(ROOT / "conf", tmp_path / "conf")
    base = (tmp_path / "conf" / "base.yaml").read_text()
    (tmp_path / "conf" / "base.yaml").write_text(base.replace("  horizon: 28", ""))
    with pytest.raises(ConfigError, match=r"^missing config key: forecast\.horizon$"):
        load_conf(tmp_path / "conf", "local")


def test_table_with_both_path_and_name_is_refused():
    with pytest.raises(ConfigError, match="exactly one of 'path' or 'name'"):
        load_conf(ROOT / "conf", "local", overrides=["tables.forecasts={path: a, name: b}"])


def test_without_a_conf_folder_the_shipped_config_runs_in_the_working_directory(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    conf = load_conf(None, "local")
    assert conf.root == tmp_path
    assert conf.table("raw_sales").path == str(tmp_path / "warehouse" / "raw" / "sales")
    shipped = conf.resource("expectations/sales.json")
    assert shipped == SHIPPED / "expectations" / "sales.json" and shipped.is_file()
    assert conf.jars_dir() == Path.home() / ".cache" / "skuplan" / "jars"  # outside a checkout
    assert load_conf(ROOT / "conf", "local").jars_dir() == ROOT / ".cache" / "jars"
    # A suite under the working directory wins over the package's copy.
    (tmp_path / "expectations").mkdir()
    (tmp_path / "expectations" / "sales.json").write_text("{}")
    assert conf.resource("expectations/sales.json") == tmp_path / "expectations" / "sales.json"


def test_a_conf_folder_in_the_working_directory_is_the_default(tmp_path, monkeypatch):
    (tmp_path / "conf").mkdir()
    for name in ("base.yaml", "local.yaml"):
        (tmp_path / "conf" / name).write_text((ROOT / "conf" / name).read_text())
    (tmp_path / "conf" / "local.yaml").write_text(
        (ROOT / "conf" / "local.yaml").read_text() + "warehouse: elsewhere\n"
    )
    monkeypatch.chdir(tmp_path)
    assert load_conf(None, "local").table("raw_sales").path.startswith(str(tmp_path / "elsewhere"))


def test_a_frequency_is_kept_in_its_canonical_spelling():
    for given, kept in (("W", "W-SUN"), ("1D", "D"), ("MS", "MS"), ("W-FRI", "W-FRI")):
        conf = load_conf(ROOT / "conf", "local", overrides=[f"forecast.freq={given}"])
        assert conf.forecast.freq == kept
