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
====  ==========================================================
"""

from __future__ import annotations


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
