"""The scheduling examples in docs/ stay in step with the jobs they run."""

import ast
import datetime as dt
import itertools
import json
import os
import py_compile
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from skuplan import command, errors
from skuplan.conf import load_conf
from skuplan.conf_layers import SHIPPED

from conftest import ROOT

DAG = ROOT / "docs" / "airflow" / "skuplan_dag.py"
DATABRICKS_BUNDLE = ROOT / "databricks.yml"
AIRFLOW_VENV = ROOT / ".cache" / "airflow-venv"
STAGES = ["validate_sales", "train_forecast", "plan_replenishment"]


def test_airflow_dag_compiles_and_submits_every_stage_with_the_run_date(tmp_path):
    py_compile.compile(str(DAG), cfile=str(tmp_path / "dag.pyc"), doraise=True)
    tree = ast.parse(DAG.read_text())
    # The tasks: SkuplanSubmit(task_id=job, ...) for job in (the jobs), chained in that order.
    (jobs,) = [
        [e.value for e in node.iter.elts]
        for node in ast.walk(tree)
        if isinstance(node, ast.comprehension) and getattr(node.target, "id", "") == "job"
    ]
    assert jobs == [*STAGES, "report"]
    assert all((ROOT / "jobs" / f"{job}.py").is_file() for job in jobs)
    text = DAG.read_text()
    assert '"--run-date", "{{ ds }}"' in text and "validate >> forecast >> plan >> report" in text
    assert "dist/skuplan-env.tar.gz#environment" in text and "dist/skuplan.zip" in text
    # The driver keeps its own Python: spark.pyspark.python alone would apply to it too.
    assert '"spark.pyspark.driver.python"' in text
    for jar in re.findall(r'"(delta-[^"]+\.jar)"', text):
        assert (ROOT / ".cache" / "jars" / jar).is_file(), jar
    # Bad-data exits are not retried: the codes are the project's own.
    (codes,) = [
        ast.literal_eval(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and getattr(node.targets[0], "id", "") == "NO_RETRY_EXIT_CODES"
    ]
    assert codes == {errors.DataQualityError.exit_code, errors.InputError.exit_code}


def test_airflow_loads_the_dag_and_fails_bad_data_exits_without_retry(tmp_path):
    python = AIRFLOW_VENV / "bin" / "python"
    if not (AIRFLOW_VENV / ".installed").is_file():
        pytest.skip(f"Airflow is not installed in {AIRFLOW_VENV} (`make test` installs it)")
    # A stand-in spark-submit: records its arguments, exits with $FAKE_EXIT.
    fake = tmp_path / "bin" / "spark-submit"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\necho "$@" > "$FAKE_ARGS"\nexit "$FAKE_EXIT"\n')
    fake.chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{fake.parent}:{os.environ['PATH']}",
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW_CONN_SPARK_DEFAULT": "spark://127.0.0.1:7077",
        "SKUPLAN_HOME": str(ROOT),
        "FAKE_ARGS": str(tmp_path / "args"),
    }
    probe = [python, ROOT / "tests" / "airflow_probe.py", DAG.parent, "4", "6", "8", "1", "0"]
    proc = subprocess.run(probe, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    assert found["errors"] == {}
    tasks = {task["task_id"]: task for task in found["tasks"]}
    order = [*STAGES, "report"]
    assert sorted(tasks) == sorted(order)
    for before, after in itertools.pairwise([*order, None]):
        assert tasks[before]["downstream"] == ([after] if after else [])
    for task in tasks.values():
        assert task["retries"] == 1
        assert Path(task["application"]) == ROOT / "jobs" / f"{task['task_id']}.py"
        args = task["application_args"]
        assert args[args.index("--run-date") + 1] == "2026-06-30"
        assert (Path(args[args.index("--conf") + 1]) / "cluster.yaml").is_file()
        assert all(Path(jar).is_file() for jar in task["jars"].split(","))
        # The driver runs the checkout's Python; executors the packed environment's.
        assert Path(task["conf"]["spark.pyspark.driver.python"]) == ROOT / ".venv/bin/python"
        assert task["conf"]["spark.pyspark.python"] == "./environment/bin/python"
    # Bad data (4: quality gate, 6: missing input) fails at once; anything else is retried.
    assert found["outcomes"] == {
        "4": "AirflowFailException",
        "6": "AirflowFailException",
        "8": "AirflowException",
        "1": "AirflowException",
        "0": "success",
    }
    submitted = (tmp_path / "args").read_text().split()
    assert submitted[:2] == ["--master", "spark://127.0.0.1:7077"]
    assert submitted[-7:] == [
        str(ROOT / "jobs/validate_sales.py"),
        *tasks["validate_sales"]["application_args"],
    ]


def _bundle_value(text: str, job: dict, variables: dict) -> str:
    """A bundle string with its ${var.X} and {{job.parameters.X}} references filled in."""
    text = re.sub(r"\$\{var\.(\w+)\}", lambda m: str(variables[m.group(1)]["default"]), text)
    defaults = {p["name"]: p["default"] for p in job["parameters"]}
    defaults["run_date"] = "2026-06-30"  # its default is the start date's reference
    return re.sub(r"\{\{job\.parameters\.(\w+)\}\}", lambda m: defaults[m.group(1)], text)


def test_databricks_bundle_runs_each_stage_as_a_wheel_task_on_spark_4_1():
    bundle = yaml.safe_load(DATABRICKS_BUNDLE.read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    (job,) = bundle["resources"]["jobs"].values()
    # Runtime 18 ships Spark 4.1: the version the `spark` extra pins for local runs.
    (cluster,) = job["job_clusters"]
    assert cluster["new_cluster"]["spark_version"].startswith("18.")
    assert "pyspark>=4.1,<4.2" in project["optional-dependencies"]["spark"]
    (artifact,) = bundle["artifacts"].values()
    assert artifact["type"] == "whl" and artifact["path"] == "."
    assert "-w dist" in artifact["build"]
    tasks = job["tasks"]
    assert [t["task_key"] for t in tasks] == [*STAGES, "report"]
    assert "depends_on" not in tasks[0]
    for before, task in itertools.pairwise(tasks):
        assert task["depends_on"] == [{"task_key": before["task_key"]}]
    for task in tasks:
        assert task["job_cluster_key"] == cluster["job_cluster_key"]
        assert task["libraries"] == [{"whl": "./dist/*.whl"}]
        wheel_task = task["python_wheel_task"]
        assert wheel_task["package_name"] == project["name"]
        assert wheel_task["entry_point"] in project["scripts"]
        # The parameters are a command skuplan's own parser takes, for this task's job, and
        # the configuration they name loads from the config the wheel ships.
        params = [_bundle_value(p, job, bundle["variables"]) for p in wheel_task["parameters"]]
        args = command.build_parser().parse_args(params)
        assert command.STAGES[args.command].job == task["task_key"]
        assert args.run_date == dt.date(2026, 6, 30)
        conf = load_conf(SHIPPED / "conf", args.env, overrides=args.set)
        assert conf.warehouse == bundle["variables"]["warehouse"]["default"]
        assert conf.spark.master is None  # the runtime's own session
        assert [p for p in wheel_task["parameters"] if "{{" in p] == [
            "{{job.parameters.env}}",
            "{{job.parameters.run_date}}",
        ]
