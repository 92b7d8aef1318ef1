"""Run by tests/test_docs.py with Airflow's own Python: load docs/airflow with Airflow's DagBag.

Prints one JSON object: import errors, the DAG's tasks (rendered spark-submit arguments,
retries, what follows each) and how the validate task ends when spark-submit exits with each
code given on the command line (a stand-in `spark-submit` on PATH exits with $FAKE_EXIT).
"""

import json
import os
import sys

from airflow.models import DagBag

dag_folder, *codes = sys.argv[1:]
bag = DagBag(dag_folder=dag_folder)
found = {"errors": {path: str(err) for path, err in bag.import_errors.items()}, "tasks": []}
dag = bag.dags.get("skuplan_daily")
for task in dag.tasks if dag else []:
    task.render_template_fields(context={"ds": "2026-06-30"})
    found["tasks"].append(
        {
            "task_id": task.task_id,
            "downstream": sorted(task.downstream_task_ids),
            "retries": task.retries,
            "application": task.application,
            "application_args": task.application_args,
            "conf": task.conf,
            "jars": task.jars,
        }
    )
outcomes = {}
for code in codes if dag else []:
    os.environ["FAKE_EXIT"] = code
    try:
        dag.get_task("validate_sales").execute(context={})
        outcomes[code] = "success"
    except Exception as exc:
        outcomes[code] = type(exc).__name__
found["outcomes"] = outcomes
print(json.dumps(found))
