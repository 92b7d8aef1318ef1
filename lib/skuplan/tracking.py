"""Optional MLflow tracking: one MLflow run per job run, when ``tracking.mlflow`` is set.

The MLflow run is named ``<job> <run date>`` in the experiment ``tracking.experiment`` and
tagged with the skuplan run id, run date, job, environment, status and exit code. The whole
configuration goes in as parameters (dotted keys, as ``--set`` takes them), the job's figures
(its summary's ``metrics()``: rows, fallback share, median MASE, band coverage, simulated
service level, outbox changes...) and the rows it wrote as metrics, and its files (the
report; the Data Docs of a validation) as artifacts. Tracking never changes a job's outcome:
a failure to track is a warning.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Iterator
from typing import Any

from skuplan import runs
from skuplan.conf import Conf
from skuplan.errors import one_line
from skuplan.tableref import is_uri

log = logging.getLogger(__name__)

MAX_PARAM = 6000  # MLflow's longest parameter value
BATCH = 100  # MLflow's most parameters per call


def tracking_uri(conf: Conf) -> str | None:
    """``tracking.mlflow`` as MLflow takes it: a URI as given, a folder as a ``file:`` URI
    (relative: under the warehouse, or the project root when the warehouse is a URI)."""
    where = conf.tracking.mlflow
    if where is None or is_uri(where) or where.startswith("databricks"):
        return where
    return conf.local_dir(where).resolve().as_uri()


def flat_params(value: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """Dotted keys and text values of a nested mapping (the config as ``--set`` names it)."""
    if isinstance(value, dict) and value:
        for key, inner in value.items():
            yield from flat_params(inner, f"{prefix}{key}.")
    else:
        yield prefix.rstrip("."), str(value)[:MAX_PARAM]


def record(
    conf: Conf, run: runs.Run, status: str, exit_code: int, result: Any, error: str | None
) -> str | None:
    """Log the job run to MLflow when ``tracking.mlflow`` is set; return the MLflow run id."""
    uri = tracking_uri(conf)
    if uri is None:
        return None
    try:
        return _record(uri, conf, run, status, exit_code, result, error)
    except Exception as exc:  # the job's own outcome matters more
        log.warning(
            "could not track run %s in MLflow (%s): %s", run.run_id, uri, one_line(str(exc))
        )
        return None


def _record(uri, conf: Conf, run: runs.Run, status, exit_code, result, error) -> str:
    if uri.startswith("file:"):
        # MLflow 3 keeps its file store for those who ask; a server or Databricks needs none.
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(conf.tracking.experiment)
    experiment_id = (
        experiment.experiment_id
        if experiment is not None
        else client.create_experiment(conf.tracking.experiment)
    )
    tags = {
        "skuplan.run_id": run.run_id,
        "skuplan.run_date": run.run_date.isoformat(),
        "skuplan.job": run.job,
        "skuplan.env": conf.env,
        "skuplan.status": status,
        "skuplan.exit_code": str(exit_code),
        **({"skuplan.error": error[:MAX_PARAM]} if error else {}),
    }
    mlflow_run = client.create_run(experiment_id, run_name=f"{run.job} {run.run_date}", tags=tags)
    run_id = mlflow_run.info.run_id
    try:
        params = [
            Param(k, v)
            for k, v in flat_params(conf.model_dump(mode="json", exclude={"root", "run_date"}))
        ]
        now = int(time.time() * 1000)
        figures = dict(result.metrics()) if hasattr(result, "metrics") else {}
        figures["rows_written"] = sum(w.num_rows or 0 for w in run.outputs)
        metrics = [
            Metric(k, float(v), now, 0)
            for k, v in figures.items()
            if v is not None and math.isfinite(float(v))
        ]
        for i in range(0, max(len(params), len(metrics)), BATCH):
            client.log_batch(run_id, metrics=metrics[i : i + BATCH], params=params[i : i + BATCH])
        for path in result.artifacts() if hasattr(result, "artifacts") else []:
            client.log_artifact(run_id, str(path))
        docs = conf.data_docs_dir()
        if run.job in ("validate_sales", "run_pipeline") and docs.is_dir():
            client.log_artifacts(run_id, str(docs), "data_docs")
    finally:  # a run left RUNNING would look unfinished for ever
        client.set_terminated(run_id, "FINISHED" if status == runs.STATUS_SUCCESS else "FAILED")
    log.info("run %s tracked in MLflow: %s, run %s", run.run_id, uri, run_id)
    return run_id
