"""The global models' texts as files under a versioned folder, written and read by the Python
workers that train and use them (``global_models`` keeps only their paths).

A model text is megabytes (a thousand series' LightGBM: ~10 MB with its backtest fits); as a
table row it travelled with the forecasts through Spark's cache and a Parquet page, and at
M5 size ran the JVM out of heap. A folder is per run date and run id, so re-running a date
never overwrites the files a committed run points to. Paths are local or any file system
``pyarrow.fs`` reads (``s3://``, ``gs://``, ``hdfs://``; Spark's ``s3a://`` is read as
``s3://``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import posixpath

from pyarrow import fs

# Spark's Hadoop connectors' schemes -> pyarrow's.
_SCHEMES = {"s3a://": "s3://", "s3n://": "s3://"}


def run_folder(root: str, run_date: dt.date, run_id: str) -> str:
    """The folder of one run's models under ``root`` (an absolute path or a URI)."""
    return posixpath.join(root, f"run_date={run_date.isoformat()}", f"run_id={run_id}")


def save(folder: str, group_key: str, fit: int, text: str) -> str:
    """Write one fit's model text under ``folder``; returns its path."""
    group = hashlib.sha1(group_key.encode()).hexdigest()[:16]
    path = posixpath.join(folder, f"group={group}", f"fit={fit}.txt.gz")
    filesystem, where = _filesystem(path)
    filesystem.create_dir(posixpath.dirname(where), recursive=True)
    with filesystem.open_output_stream(where, compression="gzip") as out:
        out.write(text.encode())
    return path


def load(path: str) -> str:
    """The model text saved at ``path``."""
    filesystem, where = _filesystem(path)
    with filesystem.open_input_stream(where, compression="gzip") as stream:
        return stream.read().decode()


def prune(root: str, run_date: dt.date, run_id: str) -> list[str]:
    """Delete the folders of ``run_date``'s other runs under ``root`` (re-runs of the date
    replaced their rows, failed runs never had any), once ``run_id``'s rows are committed;
    returns the folders deleted."""
    filesystem, where = _filesystem(posixpath.dirname(run_folder(root, run_date, run_id)))
    found = filesystem.get_file_info(fs.FileSelector(where, allow_not_found=True))
    stale = [
        info.path
        for info in found
        if info.type == fs.FileType.Directory and info.base_name != f"run_id={run_id}"
    ]
    for path in stale:
        filesystem.delete_dir(path)
    return stale


def expire(root: str, before: dt.date, needed: set[dt.date]) -> list[str]:
    """Delete the run-date folders under ``root`` dated before ``before`` but those of
    ``needed``; returns the folders deleted."""
    filesystem, where = _filesystem(root)
    found = filesystem.get_file_info(fs.FileSelector(where, allow_not_found=True))
    stale = []
    for info in found:
        name = info.base_name
        if info.type != fs.FileType.Directory or not name.startswith("run_date="):
            continue
        try:
            day = dt.date.fromisoformat(name.removeprefix("run_date="))
        except ValueError:  # not a folder this module wrote
            continue
        if day < before and day not in needed:
            filesystem.delete_dir(info.path)
            stale.append(info.path)
    return stale


def _filesystem(path: str) -> tuple[fs.FileSystem, str]:
    for spark_scheme, scheme in _SCHEMES.items():
        if path.startswith(spark_scheme):
            path = scheme + path[len(spark_scheme) :]
    return fs.FileSystem.from_uri(path)
