"""Job stages: each ``run(spark, conf)`` reads its inputs, transforms, validates and writes.

Only the ``main`` of a job entry script touches argv, the environment and session creation;
everything here takes a session and a config and returns a summary of what it wrote.
"""

from __future__ import annotations

import datetime as dt

from skuplan import runs


def new_run_id(job: str, run_date: dt.date) -> str:
    """A unique id for one execution of ``job`` for ``run_date`` (re-runs get new ids).

    Inside a job run (``skuplan.cli.main``) it is that run's id, so output rows join to their
    record in the ``runs`` table.
    """
    active = runs.active()
    return active.run_id if active is not None else runs.new_run_id(job, run_date)
