"""Errors that end a job, each with its own process exit code.

Schedulers branch on the exit code, so each kind of failure has one:

====  ==========================================================
code  meaning
====  ==========================================================
0     success
1     unexpected error (a bug: the traceback is printed)
2     bad command line (argparse)
3     configuration error
4     a data-quality gate failed
5     the share of series whose models failed is over its limit
6     an input table is missing, empty or unreadable
7     the runtime is incomplete (no Java, no Delta jars)
8     another run committed to the same table first, beyond the write retries
9     a Python worker crashed (killed, out of memory, ``os._exit``) beyond Spark's task retries
10    an input was not written by a successful run of the stage before (a partial run)
11    no space left on the device being written (the failed write committed nothing)
====  ==========================================================

Spark and Delta raise their own exceptions; :func:`known_failure` recognises the ones with a
known cause (a Delta commit conflict, an unreadable data file or Delta log, a crashed Python
worker, a full disk) so
that the command line reports them like the errors here instead of as a stack trace.
"""

from __future__ import annotations

import errno
import re


def one_line(text: str, limit: int = 500) -> str:
    """The first non-empty line of ``text``, cut to ``limit`` characters."""
    first = next((line.strip() for line in str(text).splitlines() if line.strip()), "")
    return first if len(first) <= limit else first[: limit - 1] + "…"


class SkuplanError(Exception):
    """Base class: a failure the job reports in one line and maps to an exit code."""

    exit_code = 1


class ConfigError(SkuplanError):
    exit_code = 3


class DataQualityError(SkuplanError):
    exit_code = 4


class ModelFailureError(SkuplanError):
    exit_code = 5


class InputError(SkuplanError):
    exit_code = 6


class RuntimeSetupError(SkuplanError):
    exit_code = 7


class ConcurrentWriteError(SkuplanError):
    exit_code = 8


class WorkerCrashError(SkuplanError):
    exit_code = 9


class UnfinishedInputError(SkuplanError):
    """The rows of an input come from a run that did not succeed (or is not recorded)."""

    exit_code = 10


class StorageFullError(SkuplanError):
    """A write ran out of space; Delta's commits are atomic, so it committed nothing."""

    exit_code = 11


# Delta's commit-conflict exceptions (``delta.exceptions``), matched by class name so that
# this module needs neither pyspark nor delta at import time.
DELTA_CONFLICTS = frozenset(
    {
        "DeltaConcurrentModificationException",
        "ConcurrentWriteException",
        "MetadataChangedException",
        "ProtocolChangedException",
        "ConcurrentAppendException",
        "ConcurrentDeleteReadException",
        "ConcurrentDeleteDeleteException",
        "ConcurrentTransactionException",
    }
)

_DELTA_LOG_FILE = re.compile(r"(?:file:)?(\S+?/_delta_log/\d{20}\.[\w.]+?)(?=[\s,:;]|$)")
_FAILED_READ = re.compile(r"\[FAILED_READ_FILE[.\w]*\][^\n]*?reading file (\S+?)\.?(\s|$)")
_WORKER_CRASHED = "Python worker exited unexpectedly"
_NO_SPACE = "No space left on device"


def is_write_conflict(exc: BaseException) -> bool:
    """True for Delta's commit conflicts (another transaction committed first)."""
    return any(cls.__name__ in DELTA_CONFLICTS for cls in type(exc).__mro__)


def known_failure(exc: BaseException) -> SkuplanError | None:
    """The :class:`SkuplanError` that reports a Spark or Delta failure with a known cause.

    Returns None for anything else (a bug keeps its traceback).
    """
    if isinstance(exc, SkuplanError):
        return exc
    if is_write_conflict(exc):
        return ConcurrentWriteError(
            f"another run committed to the same table first ({type(exc).__name__}: "
            f"{one_line(str(exc), 200)}); re-run once it has finished"
        )
    text = str(exc)
    if (isinstance(exc, OSError) and exc.errno == errno.ENOSPC) or _NO_SPACE in text:
        return StorageFullError(
            "no space left on the device being written: free space and re-run (the failed "
            "write committed nothing; the re-run replaces what this run committed before it)"
        )
    log_file = _DELTA_LOG_FILE.search(text)
    if log_file:
        return InputError(
            f"cannot read Delta log file {log_file.group(1)} (corrupt or cut short): restore "
            "it from a backup or the storage's versions; the table cannot be read until then"
        )
    found = _FAILED_READ.search(text)
    if found:
        return InputError(
            f"cannot read data file {found.group(1)} (missing, truncated or corrupt): "
            "restore it or the table version that references it"
        )
    if _WORKER_CRASHED in text:
        return WorkerCrashError(
            "a Python worker crashed (killed, out of memory or exited) and Spark's task retries "
            "ran out; with retries (spark.task.maxFailures >= 2, or local[N,2]) each series is "
            "isolated on retry and only the crashing one falls back"
        )
    return None
