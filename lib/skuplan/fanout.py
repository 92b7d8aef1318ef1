"""Spark fan-out of a per-series pandas function: one ``groupBy(...).applyInPandas``.

``partitions`` hash-partitions the input by the group keys first, into that many tasks.
The work is CPU per group, not bytes, so the number of tasks should follow the cores:
left to adaptive execution, a few megabytes of history are coalesced into one or two
tasks and cores sit idle (or one long task holds the stage).

**Failure isolation.** A group function that raises an exception fails its group only: with
``on_error`` given, ``on_error(pdf, error)`` returns that group's rows instead (a fallback,
recording the error). A group that kills its Python worker outright (``os._exit`` or a
segfault in native code, the out-of-memory killer) takes the whole Spark task with it, with
every other group of the task; no ``try`` can catch that. Spark then retries the task
(``spark.task.maxFailures``: 4 on clusters, ``local[N,F]`` locally), and a retried attempt
runs each of its groups in a forked child process: the group whose child dies gets
``on_error`` rows, the others their normal result. First attempts pay nothing for this; only
the groups of a task that has already failed once pay a fork each.
"""

from __future__ import annotations

import multiprocessing
import traceback
from collections.abc import Callable, Sequence

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql.types import StructType

from skuplan.schemas import KEYS

OnError = Callable[[pd.DataFrame, str], pd.DataFrame]


def _error_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception_only(exc)).strip().replace("\n", " ")[:500]


def _task_attempt() -> int:
    from pyspark import TaskContext

    ctx = TaskContext.get()
    return ctx.attemptNumber() if ctx is not None else 0


def guarded(
    fn: Callable[..., pd.DataFrame], on_error: OnError | None = None, *, isolate: bool | None = None
) -> Callable[..., pd.DataFrame]:
    """``fn`` made safe to run on one group: see the module docstring.

    Args:
        fn: the group function; its first argument is the group's frame.
        on_error: ``(first frame, one-line error) -> rows`` for a group whose ``fn`` raised or
            whose process died; None lets the error fail the task, as without the guard.
        isolate: run in a forked child: None (default) on retried task attempts only.
    """

    def run(*frames: pd.DataFrame) -> pd.DataFrame:
        in_child = _task_attempt() > 0 if isolate is None else isolate
        if in_child:
            return _in_child(fn, frames, on_error)
        if on_error is None:
            return fn(*frames)
        try:
            return fn(*frames)
        except Exception as exc:
            return on_error(frames[0], _error_text(exc))

    return run


def _child_main(fn, frames, sender) -> None:
    try:
        outcome = ("ok", fn(*frames))
    except Exception as exc:
        outcome = ("error", _error_text(exc))
    sender.send(outcome)
    sender.close()


def _in_child(fn, frames: tuple[pd.DataFrame, ...], on_error: OnError | None) -> pd.DataFrame:
    """Run ``fn`` in a forked child, so that a hard exit loses this group only."""
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_child_main, args=(fn, frames, sender))
    child.start()
    sender.close()
    try:
        outcome = receiver.recv()
    except EOFError:  # the child died before it could answer
        outcome = None
    finally:
        receiver.close()
    child.join()
    if outcome is not None and outcome[0] == "ok":
        return outcome[1]
    if outcome is not None:
        error = outcome[1]
    else:
        code = child.exitcode
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        error = f"the Python process running this group died ({how})"
    if on_error is None:
        raise RuntimeError(error)
    return on_error(frames[0], error)


def _partitioned(df: DataFrame, keys: Sequence[str], partitions: int | None) -> DataFrame:
    return df if partitions is None else df.repartition(partitions, *keys)


def apply_per_series(
    history_df: DataFrame,
    fn: Callable[[pd.DataFrame], pd.DataFrame],
    schema: StructType,
    keys: Sequence[str] = KEYS,
    partitions: int | None = None,
    on_error: OnError | None = None,
) -> DataFrame:
    """Run ``fn`` once per series (one group of rows sharing ``keys``) on the executors.

    Each Python worker holds one group at a time, so memory is bounded by the longest series.
    ``on_error``: rows for a series whose ``fn`` failed or whose process died (see above).
    """
    guard = guarded(fn, on_error)

    def per_series(pdf: pd.DataFrame) -> pd.DataFrame:
        # A plain function, so Spark does not try (and warn about failing) to read the type
        # hints of a functools.partial.
        return guard(pdf)

    return (
        _partitioned(history_df, keys, partitions)
        .groupBy(*keys)
        .applyInPandas(per_series, schema=schema)
    )


def apply_per_series_with(
    history_df: DataFrame,
    extra_df: DataFrame,
    fn: Callable[[pd.DataFrame, pd.DataFrame], pd.DataFrame],
    schema: StructType,
    keys: Sequence[str] = KEYS,
    partitions: int | None = None,
    on_error: OnError | None = None,
) -> DataFrame:
    """Like :func:`apply_per_series`, with each series' rows of ``extra_df`` as a second frame.

    One ``cogroup(...).applyInPandas``: a series without rows in ``extra_df`` gets an empty
    frame; a group with no history rows is skipped. ``on_error`` gets the history frame.
    """
    guard = guarded(fn, on_error)

    def per_series(history_pdf: pd.DataFrame, extra_pdf: pd.DataFrame) -> pd.DataFrame:
        if history_pdf.empty:
            return pd.DataFrame(columns=schema.fieldNames())
        return guard(history_pdf, extra_pdf)

    return (
        _partitioned(history_df, keys, partitions)
        .groupBy(*keys)
        .cogroup(_partitioned(extra_df, keys, partitions).groupBy(*keys))
        .applyInPandas(per_series, schema=schema)
    )


def apply_per_group(
    df: DataFrame,
    fn: Callable[[pd.DataFrame], pd.DataFrame],
    schema: StructType,
    group_by: Sequence[str],
    partitions: int | None = None,
    on_error: OnError | None = None,
) -> DataFrame:
    """Run ``fn`` once per group of series (e.g. all series of a store) on the executors."""
    guard = guarded(fn, on_error)

    def per_group(pdf: pd.DataFrame) -> pd.DataFrame:
        return guard(pdf)

    return (
        _partitioned(df, group_by, partitions)
        .groupBy(*group_by)
        .applyInPandas(per_group, schema=schema)
    )
