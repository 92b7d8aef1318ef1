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

from skuplan.conf import Conf, load_conf
from skuplan.errors import SkuplanError

log = logging.getLogger("skuplan")


def _run_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def parse_args(job: str, argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=job, description=f"skuplan {job}")
    parser.add_argument(
        "--conf", default="conf", help="config folder with base.yaml (default: conf)"
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
    return parser.parse_args(argv)


def main(job: str, run: Callable[[Any, Conf], Any], argv: Sequence[str] | None = None) -> int:
    """Parse the command line, build the session, run the job; return the process exit code.

    A :class:`SkuplanError` becomes one line on stderr and its exit code; anything else is a
    bug and keeps its traceback.
    """
    args = parse_args(job, argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("py4j", "great_expectations"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        conf = load_conf(args.conf, args.env, args.run_date, args.set)
        from skuplan.session import get_session  # imported late: pyspark is slow to import

        spark = get_session(conf)
        result = run(spark, conf)
    except SkuplanError as exc:
        print(f"{job}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    if result is not None:
        print(result)
    return 0
