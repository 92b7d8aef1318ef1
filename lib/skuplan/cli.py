"""The command line shared by every job: ``--conf --env --run-date --set``, exit codes, logging.

This is the only place that reads argv, configures logging and creates the session.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from skuplan import logs, runs, tracking
from skuplan.conf import Conf, load_conf
from skuplan.errors import SkuplanError, known_failure, one_line

log = logging.getLogger("skuplan")


def _run_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def add_job_options(parser: argparse.ArgumentParser) -> None:
    """The options every job takes."""
    parser.add_argument(
        "--conf",
        default=None,
        help="config folder with base.yaml (default: ./conf if there is one, else the config "
        "the package ships)",
    )
    parser.add_argument("--env", default="local", help="overlay conf/<env>.yaml (default: local)")
    parser.add_argument(
        "--run-date", type=_run_date, default=None, help="YYYY-MM-DD (default: today)"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key (repeatable)",
    )


def parse_args(job: str, argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=job, description=f"skuplan {job}")
    add_job_options(parser)
    return parser.parse_args(argv)


def main(job: str, run: Callable[[Any, Conf], Any], argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run the job (see :func:`execute`)."""
    return execute(job, run, parse_args(job, argv))


def execute(job: str, run: Callable[[Any, Conf], Any], args: argparse.Namespace) -> int:
    """Build the session and run the job with ``args`` (:func:`add_job_options`); return the
    process exit code.

    A :class:`SkuplanError`, or a Spark/Delta failure with a known cause
    (:func:`skuplan.errors.known_failure`), becomes one line on stderr and its exit code;
    anything else is a bug and keeps its traceback. Once a session exists, the run is recorded in the ``runs``
    table whatever its outcome (see :mod:`skuplan.runs`).
    """
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("py4j", "great_expectations"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        conf = load_conf(args.conf, args.env, args.run_date, args.set)
        from skuplan.session import get_session  # imported late: pyspark is slow to import

        spark = get_session(conf)
    except SkuplanError as exc:
        print(f"{job}: error: {exc}", file=sys.stderr)
        return exc.exit_code

    record = runs.Run(
        job,
        conf.run_date,
        env=conf.env,
        overrides=list(args.set),
        table_keys={str(conf.table(key)): key for key in conf.tables},
    )
    status, exit_code, error, result = runs.STATUS_FAILED, 1, None, None
    refusal = None  # a known failure's one line, printed last (after the run is recorded)
    try:
        from skuplan import delta_io

        tagged = delta_io.tagged_commits(spark, record.run_id)
        with runs.activate(record), tagged, logs.stage(spark, job):
            result = run(spark, conf)
        status, exit_code = runs.STATUS_SUCCESS, 0
    except Exception as exc:
        # Our own errors, and Spark/Delta failures with a known cause (a commit conflict, an
        # unreadable data file, a crashed Python worker): one line and their exit code.
        known = known_failure(exc)
        if known is None:
            error = f"{type(exc).__name__}: {exc}"
            raise
        exit_code, error, refusal = known.exit_code, str(known), f"{job}: error: {known}"
    except BaseException as exc:
        error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        _record_run(spark, conf, record, status, exit_code, error)
        tracking.record(conf, record, status, exit_code, result, error)
    if refusal is not None:
        print(refusal, file=sys.stderr)
        return exit_code
    if result is not None:
        print(result)
    return 0


def _record_run(spark, conf: Conf, record: runs.Run, status: str, code: int, error) -> None:
    """Write the run's row; a failure to record is logged and never masks the job's outcome."""
    row = record.row(
        status=status,
        exit_code=code,
        error=error,
        ended_at=dt.datetime.now(dt.UTC),
        spark_app_id=_app_id(spark),
    )
    from skuplan import delta_io  # imported late, like the session: it needs pyspark

    try:
        logs.set_job_description(spark, f"{record.job} {record.run_date}: record run")
        delta_io.write_run(spark, conf.table("runs"), row)
        log.info(
            "run %s %s (exit %d), recorded in %s", record.run_id, status, code, conf.table("runs")
        )
    except Exception as exc:  # the job's own outcome matters more
        log.warning("could not record run %s: %s", record.run_id, one_line(str(exc)))
    finally:
        logs.set_job_description(spark, None)


def _app_id(spark) -> str | None:
    try:
        return spark.sparkContext.applicationId
    except Exception:  # Spark Connect sessions have no SparkContext
        return None
