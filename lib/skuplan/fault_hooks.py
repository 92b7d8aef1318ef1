"""Test-only fault injection at the Delta writes (:mod:`skuplan.delta_io`).

With ``SKUPLAN_TEST_HOLD_BEFORE_WRITE=<file>`` in the environment a job's first write waits
until that file exists, with ``SKUPLAN_TEST_PAUSE_AFTER_COMMIT=<n>`` the job sleeps after its
n-th commit, and with ``SKUPLAN_TEST_PAUSE_AT=<name>`` at the named :func:`pause_point` (each
logs one line first), so that a test can start two runs' writes together or kill a job at a
known point of its write phase. Nothing sets them outside ``tests/test_fault_tolerance.py``.
"""

from __future__ import annotations

import logging
import os
import time

log = logging.getLogger(__name__)

HOLD_ENV = "SKUPLAN_TEST_HOLD_BEFORE_WRITE"
PAUSE_ENV = "SKUPLAN_TEST_PAUSE_AFTER_COMMIT"
PAUSE_AT_ENV = "SKUPLAN_TEST_PAUSE_AT"  # a named point (pause_point), e.g. in the export
state = {"held": False, "commits": 0}


def hold_first_write(what: object) -> None:
    """With ``HOLD_ENV`` set, the process's first write waits for its file."""
    hold = os.environ.get(HOLD_ENV)
    if hold and not state["held"]:
        state["held"] = True
        log.warning("test hook: holding before writing %s until %s exists", what, hold)
        while not os.path.exists(hold):
            time.sleep(0.05)


def after_commit(what: str) -> None:
    """Count the process's commits; with ``PAUSE_ENV=n``, sleep after the n-th."""
    state["commits"] += 1
    if os.environ.get(PAUSE_ENV) == str(state["commits"]):
        log.warning("test hook: paused after commit %d (%s)", state["commits"], what)
        time.sleep(3600)


def pause_point(name: str) -> None:
    """A job run with ``PAUSE_AT_ENV=name`` stops here (for the test to kill it)."""
    if os.environ.get(PAUSE_AT_ENV) == name:
        log.warning("test hook: paused at %s", name)
        time.sleep(3600)
