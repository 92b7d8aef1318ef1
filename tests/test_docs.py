"""The scheduling examples in docs/ stay in step with the jobs they run."""

import ast
import itertools
import json
import py_compile
import re

from skuplan import errors

from conftest import ROOT

DAG = ROOT / "docs" / "airflow" / "skuplan_dag.py"
DATABRICKS_JOB = ROOT / "docs" / "databricks" / "skuplan_job.json"
STAGES = ["validate_sales", "train_forecast", "plan_replenishment"]


def _version() -> str:
    return re.search(r'^version = "(.+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)


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


def test_databricks_job_runs_the_stages_in_order_with_the_run_date():
    job = json.loads(DATABRICKS_JOB.read_text())
    tasks = job["tasks"]
    assert [t["task_key"] for t in tasks] == STAGES
    for before, task in itertools.pairwise(tasks):
        assert task["depends_on"] == [{"task_key": before["task_key"]}]
    for task in tasks:
        python_task = task["spark_python_task"]
        assert (ROOT / python_task["python_file"]).is_file()
        params = python_task["parameters"]
        assert params[params.index("--run-date") + 1] == "{{job.parameters.run_date}}"
        assert params[params.index("--env") + 1] == "cluster"
        (wheel,) = [lib["whl"] for lib in task["libraries"]]
        assert wheel.endswith(f"skuplan-{_version()}-py3-none-any.whl")
    # Credentials come from a secret scope, never as literals.
    for cluster in job["job_clusters"]:
        for value in cluster["new_cluster"].get("spark_env_vars", {}).values():
            assert value.startswith("{{secrets/")
