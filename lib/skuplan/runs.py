"""Run metadata: what one job run read and wrote, for audit and reproduction.

While a job runs, :func:`active` holds its :class:`Run`. ``skuplan.delta_io`` reports into it
every table it reads (with the Delta version it pinned) and every write it commits (with the
version of the commit and the rows written). At the end, ``skuplan.cli.main`` writes one row
per run into the ``runs`` Delta table with :func:`skuplan.delta_io.write_run` (a MERGE on
``run_id``: a re-run of a date adds a new row, a run id is never written twice). Any run can then be reproduced by reading its inputs with
Delta time travel::

    spark.read.format("delta").option("versionAsOf", version).load(path)
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import re
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from skuplan.errors import one_line

STATUS_SUCCESS = "success"
STATUS_FAILED = "failed"

# `--set` values under keys like these are not stored (they should never carry credentials,
# which come from environment variables, but a run record must not spread one if they do).
_SECRET_KEY = re.compile(r"(?i)(password|passwd|secret|token|credential|access[._]?key|sas)")

_ACTIVE: contextvars.ContextVar[Run | None] = contextvars.ContextVar("skuplan_run", default=None)

RUNS_DDL = """
    run_id STRING NOT NULL,
    job STRING NOT NULL,
    run_date DATE NOT NULL,
    env STRING,
    overrides ARRAY<STRING>,
    spark_app_id STRING,
    started_at TIMESTAMP,
    ended_at TIMESTAMP,
    seconds DOUBLE,
    status STRING NOT NULL,
    exit_code INT NOT NULL,
    error STRING,
    inputs ARRAY<STRUCT<key: STRING, address: STRING, version: BIGINT>>,
    outputs ARRAY<STRUCT<key: STRING, address: STRING, version: BIGINT, operation: STRING,
        num_rows: BIGINT>>
"""


@dataclass(frozen=True)
class TableRead:
    key: str
    address: str
    version: int | None


@dataclass(frozen=True)
class TableWrite:
    key: str
    address: str
    version: int | None
    operation: str | None
    num_rows: int | None


def new_run_id(job: str, run_date: dt.date) -> str:
    """A unique id for one execution of ``job`` for ``run_date`` (re-runs get new ids)."""
    return f"{job}-{run_date:%Y%m%d}-{uuid.uuid4().hex[:8]}"


def redact_overrides(pairs: Sequence[str]) -> list[str]:
    """``--set`` pairs as recorded: values of credential-like keys replaced by ``***``."""
    out = []
    for pair in pairs:
        key, sep, _ = pair.partition("=")
        out.append(f"{key}=***" if sep and _SECRET_KEY.search(key) else pair)
    return out


@dataclass
class Run:
    """The registry of one job run: identity, timing, and the tables it read and wrote.

    Attributes:
        table_keys: address -> config key (``tables.<key>``), to name tables in the record.
    """

    job: str
    run_date: dt.date
    env: str | None = None
    overrides: list[str] = field(default_factory=list)
    table_keys: dict[str, str] = field(default_factory=dict)
    run_id: str = ""
    started_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    inputs: list[TableRead] = field(default_factory=list)
    outputs: list[TableWrite] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.run_id = self.run_id or new_run_id(self.job, self.run_date)
        self.overrides = redact_overrides(self.overrides)

    def key_for(self, address: str) -> str:
        return self.table_keys.get(address, address)

    def record_read(self, address: str, version: int | None) -> None:
        """Note a table read, unless this run wrote it first (a check that reads back its own
        output, or a later stage reading an earlier one's): inputs are what came from outside."""
        if any(w.address == address for w in self.outputs):
            return
        read = TableRead(self.key_for(address), address, version)
        if read not in self.inputs:
            self.inputs.append(read)

    def record_write(
        self, address: str, version: int | None, operation: str | None, rows: int | None
    ) -> None:
        self.outputs.append(TableWrite(self.key_for(address), address, version, operation, rows))

    def row(
        self,
        *,
        status: str,
        exit_code: int,
        error: str | None,
        ended_at: dt.datetime,
        spark_app_id: str | None = None,
    ) -> dict:
        """The run as one row of the ``runs`` table."""
        return {
            "run_id": self.run_id,
            "job": self.job,
            "run_date": self.run_date,
            "env": self.env,
            "overrides": list(self.overrides),
            "spark_app_id": spark_app_id,
            "started_at": self.started_at,
            "ended_at": ended_at,
            "seconds": round((ended_at - self.started_at).total_seconds(), 3),
            "status": status,
            "exit_code": exit_code,
            "error": one_line(error) if error else None,
            "inputs": [r.__dict__ for r in self.inputs],
            "outputs": [w.__dict__ for w in self.outputs],
        }


def active() -> Run | None:
    """The run in progress in this context, if any."""
    return _ACTIVE.get()


@contextlib.contextmanager
def activate(run: Run) -> Iterator[Run]:
    """Make ``run`` the active run: Delta reads and writes inside report into it."""
    token = _ACTIVE.set(run)
    try:
        yield run
    finally:
        _ACTIVE.reset(token)


def schema():
    """The ``runs`` table's Spark schema (built late: pyspark is slow to import)."""
    from pyspark.sql.types import StructType

    return StructType.fromDDL(" ".join(RUNS_DDL.split()))
