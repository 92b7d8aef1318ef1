"""Spark fan-out of a per-series pandas function: one ``groupBy(...).applyInPandas``.

``partitions`` deals the groups into that many tasks first, balanced by a weight (their row
counts unless the caller gives one; see :func:`balanced_tasks`). The work is CPU per group,
not bytes, so the number of tasks should follow the cores: left to adaptive execution, a few
megabytes of history are coalesced into one or two tasks and cores sit idle; hashed into
tasks, the groups land unevenly (8 tasks of 117 series held 10 to 20 each) and the job waits
on its largest task with one core idle.

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
from functools import partial

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame, GroupedData
from pyspark.sql import functions as F
from pyspark.sql.types import IntegerType, StructField, StructType

from skuplan.columns import KEYS
from skuplan.logs import Progress

OnError = Callable[[pd.DataFrame, str], pd.DataFrame]

TASK = "_fanout_task"  # the column that places each group's rows in its task


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


def balanced_tasks(
    df: DataFrame,
    keys: Sequence[str],
    partitions: int,
    weight: Column | None = None,
    progress: Progress | None = None,
) -> tuple[DataFrame, int]:
    """The task of each group of ``df`` (its keys, prefixed ``_fanout_``, and ``TASK``), and
    the number of tasks: ``partitions``, or fewer when there are fewer groups (no empty task).

    Groups are ranked by ``weight`` (an aggregate that grows with a group's cost; default:
    its row count), heaviest first, and dealt out like cards, one per task and back again
    (task 0, 1, .., n-1, n-1, .., 0): every task gets as many heavy groups as the others, and
    as many light ones. ``progress`` learns how many groups went into how many tasks.
    """
    weight = F.count(F.lit(1)) if weight is None else weight
    # One short row per group, ranked on the driver: the table is broadcast to every task
    # anyway, and a window over all groups would move them into one partition.
    rows = df.groupBy(*keys).agg(weight.alias("_weight")).toPandas()
    rows = rows.sort_values(["_weight", *keys], ascending=[False] + [True] * len(keys))
    used = max(min(partitions, len(rows)), 1)
    rank = np.arange(len(rows))
    lap, seat = rank // used, rank % used
    rows[TASK] = np.where(lap % 2 == 0, seat, used - 1 - seat).astype("int32")
    if progress is not None:
        progress.expect(len(rows), used)
    schema = StructType(
        [StructField(f"_fanout_{k}", df.schema[k].dataType) for k in keys]
        + [StructField(TASK, IntegerType())]
    )
    return df.sparkSession.createDataFrame(rows[[*keys, TASK]], schema), used


def in_tasks(df: DataFrame, tasks: DataFrame, keys: Sequence[str], partitions: int) -> DataFrame:
    """``df``'s rows with a ``TASK`` column from ``tasks``, each in the partition it names.

    ``tasks`` (one short row per group) is broadcast to ``df``'s partitions. Left to itself,
    Spark broadcast ``df`` instead when it was a small Delta table: the demo's million rows
    of history, over 180 MB in the driver's memory, and 0.4 s slower per fan-out.
    """
    # The same ``tasks`` may place both sides of a cogroup: each side gets its own copy of
    # the columns (``alias`` makes new ones), or Spark finds the task column ambiguous.
    tasks = tasks.select(*[F.col(c).alias(c) for c in tasks.columns])
    matches = [F.col(k).eqNullSafe(F.col(f"_fanout_{k}")) for k in keys]
    placed = df.join(F.broadcast(tasks), matches).select(*df.columns, TASK)
    return placed.repartitionById(partitions, TASK)


def grouped_in_tasks(df: DataFrame, keys: Sequence[str], tasks_per_core: int = 4) -> GroupedData:
    """``df`` grouped by ``keys`` after hashing the groups into ``tasks_per_core`` tasks per
    core, for a CPU-heavy pandas function over small inputs (the plan's per-series
    functions). A repartition by number is kept as asked, where adaptive execution would
    merge the grouping's shuffle of a few megabytes into one task on one core."""
    tasks = tasks_per_core * df.sparkSession.sparkContext.defaultParallelism
    return df.repartition(tasks, *keys).groupBy(*keys)


def _grouped(df: DataFrame, keys: Sequence[str], partitions: int | None, tasks: DataFrame | None):
    if partitions is None:
        return df.groupBy(*keys)
    # Grouped by the task column too, so that Spark does not hash the groups again.
    return in_tasks(df, tasks, keys, partitions).groupBy(TASK, *keys)


def _without_task(pdf: pd.DataFrame) -> pd.DataFrame:
    return pdf.drop(columns=TASK) if TASK in pdf.columns else pdf


def apply_per_series(
    history_df: DataFrame, fn: Callable[[pd.DataFrame], pd.DataFrame], schema: StructType, **options
) -> DataFrame:
    """Run ``fn`` once per series (one group of rows sharing ``keys``, default the series
    keys) on the executors: :func:`apply_per_group` with ``options``.

    Each Python worker holds one group at a time, so memory is bounded by the longest series.
    """
    return apply_per_group(history_df, fn, schema, options.pop("keys", KEYS), **options)


def apply_per_series_with(
    history_df: DataFrame,
    extra_df: DataFrame,
    fn: Callable[[pd.DataFrame, pd.DataFrame], pd.DataFrame],
    schema: StructType,
    *,
    keys: Sequence[str] = KEYS,
    partitions: int | None = None,
    on_error: OnError | None = None,
    weight: Column | None = None,
    progress: Progress | None = None,
) -> DataFrame:
    """Like :func:`apply_per_series`, with each series' rows of ``extra_df`` as a second frame.

    One ``cogroup(...).applyInPandas``: a series without rows in ``extra_df`` gets an empty
    frame; a group with no history rows is skipped. ``on_error`` gets the history frame.
    """
    guard = guarded(fn, on_error)

    def per_series(history_pdf: pd.DataFrame, extra_pdf: pd.DataFrame) -> pd.DataFrame:
        if history_pdf.empty:
            return pd.DataFrame(columns=schema.fieldNames())
        return guard(_without_task(history_pdf), _without_task(extra_pdf))

    # Both sides in the tasks of the history's groups; extra rows of a series without
    # history would be skipped anyway, so they are dropped here.
    tasks, partitions = (
        balanced_tasks(history_df, keys, partitions, weight, progress)
        if partitions
        else (None, None)
    )
    return (
        _grouped(history_df, keys, partitions, tasks)
        .cogroup(_grouped(extra_df, keys, partitions, tasks))
        .applyInPandas(per_series, schema=schema)
    )


def task_threads(spark, tasks: int | None) -> int:
    """Cores for each of ``tasks`` tasks running alone on the cluster: its cores shared out,
    at most an executor's (``spark.executor.cores``; unset: all of them locally, 1 on a
    cluster, where the default differs by manager), 1 when the tasks fill it or their
    number is unknown. A global model of all series is one task: on 2 cores it would leave
    one idle."""
    if not tasks:
        return 1
    context = spark.sparkContext
    cores = context.defaultParallelism
    unset = str(cores) if context.master.startswith("local") else "1"
    per_executor = int(context.getConf().get("spark.executor.cores", unset))
    return max(1, min(cores // tasks, per_executor))


def _with_threads(fn, threads: int, *frames: pd.DataFrame) -> pd.DataFrame:
    # A retried attempt runs in a forked child (see guarded), and OpenMP's threads do not
    # survive a fork: a child asking LightGBM for 2 threads after its parent used 2 hangs
    # (1 thread is safe). So retried attempts run on one thread.
    return fn(*frames, threads=threads if _task_attempt() == 0 else 1)


def apply_per_group(
    df: DataFrame,
    fn: Callable[[pd.DataFrame], pd.DataFrame],
    schema: StructType,
    group_by: Sequence[str],
    partitions: int | None = None,
    on_error: OnError | None = None,
    weight: Column | None = None,
    progress: Progress | None = None,
    threaded: bool = False,
) -> DataFrame:
    """Run ``fn`` once per group of rows sharing ``group_by`` (a series, all series of a
    store...) on the executors.

    ``partitions``: tasks to deal the groups into, balanced by ``weight`` (see
    :func:`balanced_tasks`); None leaves the partitioning to Spark.
    ``on_error``: rows for a group whose ``fn`` failed or whose process died (see above).
    ``progress``: told the groups and tasks, to log the action's progress (see
    :class:`skuplan.logs.Progress`).
    ``threaded``: ``fn`` takes ``threads``, the cores each task may use (see
    :func:`task_threads`), for a few heavy groups that would leave cores idle.
    """
    tasks, partitions = (
        balanced_tasks(df, group_by, partitions, weight, progress) if partitions else (None, None)
    )
    if threaded:
        fn = partial(_with_threads, fn, task_threads(df.sparkSession, partitions))
    guard = guarded(fn, on_error)

    def per_group(pdf: pd.DataFrame) -> pd.DataFrame:
        # A plain function, so Spark does not try (and warn about failing) to read the type
        # hints of a functools.partial.
        return guard(_without_task(pdf))

    return _grouped(df, group_by, partitions, tasks).applyInPandas(per_group, schema=schema)
