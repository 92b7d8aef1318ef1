"""Structured stage logs and Spark job descriptions.

Each stage of a run ends with one log line on the ``skuplan.stage`` logger whose message is a
JSON object (``job, run_id, run_date, stage, status, seconds, rows, tables``), so log
collectors can parse it without knowing the text format around it. While a stage runs, its
name is the Spark job description, so the Spark UI shows which stage each Spark job serves
(stages may set finer descriptions of their own).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Iterator

from skuplan import runs

log = logging.getLogger("skuplan.stage")
progress_log = logging.getLogger("skuplan.progress")


def set_job_description(spark, text: str | None) -> None:
    """Label the Spark jobs started from now on in the Spark UI (no-op without a SparkContext,
    e.g. on Spark Connect)."""
    with contextlib.suppress(Exception):  # Spark Connect sessions have no SparkContext
        spark.sparkContext.setJobDescription(text)


@contextlib.contextmanager
def stage(spark, name: str, *, run_date: dt.date | None = None) -> Iterator[dict]:
    """Time a stage, label its Spark jobs, and log one JSON line when it ends.

    Rows and tables come from the writes the active run (:mod:`skuplan.runs`) records during
    the stage. The yielded dict takes extra fields for the line (e.g. ``series``).
    """
    run = runs.active()
    job = run.job if run else name
    run_date = run_date or (run.run_date if run else None)
    written_before = len(run.outputs) if run else 0
    set_job_description(spark, f"{job} {run_date}: {name}" if run_date else f"{job}: {name}")
    extra: dict = {}
    started = time.perf_counter()
    status = "ok"
    try:
        yield extra
    except BaseException:
        status = "failed"
        raise
    finally:
        writes = run.outputs[written_before:] if run else []
        tables: dict[str, int | None] = {}
        for w in writes:
            tables[w.key] = w.num_rows
        record = {
            "job": job,
            "run_id": run.run_id if run else None,
            "run_date": run_date.isoformat() if run_date else None,
            "stage": name,
            "status": status,
            "seconds": round(time.perf_counter() - started, 3),
            "rows": sum(n for n in tables.values() if n is not None),
            "tables": tables,
            **extra,
        }
        log.info("%s", json.dumps(record, default=str))
        set_job_description(spark, None)


def parse_stage_lines(text: str) -> list[dict]:
    """The stage records in log output (lines from the ``skuplan.stage`` logger)."""
    marker = "skuplan.stage: "
    return [json.loads(line.split(marker, 1)[1]) for line in text.splitlines() if marker in line]


class Progress:
    """Progress of a fan-out's Spark action, logged from the driver at a steady pace.

    The fan-out tells it how many groups it dealt into how many tasks (:meth:`expect`); while
    the ``with`` block runs the action, a thread reads Spark's status tracker every ``every``
    seconds and logs the tasks done of the fan-out's stage (the active stage with that many
    tasks), the groups they hold (tasks hold equal shares, see :func:`skuplan.fanout.balanced_tasks`),
    the rate and the time left. Executors do no extra work for it.
    """

    def __init__(self, spark, what: str, unit: str = "series", every: float = 60.0) -> None:
        self.spark, self.what, self.unit, self.every = spark, what, unit, every
        self.groups = self.tasks = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def expect(self, groups: int, tasks: int) -> None:
        self.groups, self.tasks = groups, tasks

    def __enter__(self) -> Progress:
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._run, name=f"progress {self.what}", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        try:
            tracker = self.spark.sparkContext.statusTracker()
        except Exception:  # Spark Connect: no status tracker on the client
            return
        while not self._stop.wait(self.every):
            with contextlib.suppress(Exception):  # a stage may end between the two calls
                stages = [tracker.getStageInfo(s) for s in tracker.getActiveStageIds()]
                progress_log.info("%s", self.line([s for s in stages if s]))

    def line(self, stages, now: float | None = None) -> str:
        """The progress line for ``stages`` (``SparkStageInfo``) at ``now``: the rate is
        over the whole action so far (its preparing stages included: a cautious estimate)."""
        now = time.monotonic() if now is None else now
        text = f"{self.what}: {(now - self._started) / 60:.1f} min"
        fan = [s for s in stages if self.tasks and s.numTasks == self.tasks]
        if not fan:
            busy = ", ".join(
                f"stage {s.stageId} {s.numCompletedTasks}/{s.numTasks}" for s in stages
            )
            return f"{text}, preparing ({busy or 'no stage running'})"
        stage = max(fan, key=lambda s: s.stageId)
        done = round(self.groups * stage.numCompletedTasks / stage.numTasks)
        text += (
            f", {stage.numCompletedTasks}/{stage.numTasks} tasks done "
            f"(~{done}/{self.groups} {self.unit}, {stage.numActiveTasks} running)"
        )
        if done and now > self._started:
            rate = done / (now - self._started)
            left = (self.groups - done) / rate / 60
            text += f", {rate * 60:.0f} {self.unit}/min, ~{left:.1f} min left"
        elif stage.numCompletedTasks == 0:
            text += ", no estimate before a task ends"
        return text
