"""Compare every Delta table (and the supplier files) of two demo warehouses.

A refactoring must not change what the pipeline writes. Run the demo before and after, keep
the first warehouse (``cp -r warehouse /tmp/before``), then::

    .venv/bin/python bench/compare_warehouses.py /tmp/before warehouse

Columns that differ on every run by design are left out: run ids, timings (``fit_seconds``,
``seconds``, timestamps) and the ``runs`` table as a whole. Everything else must be equal
row for row (as multisets: row order is not part of a table). Prints one line per table and
exits 1 when any differs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))

VOLATILE = {"run_id", "fit_seconds", "seconds", "started_at", "ended_at", "spark_app_id"}
SKIPPED = {"meta/runs"}


def delta_tables(root: Path) -> list[str]:
    return sorted(
        str(p.parent.relative_to(root))
        for p in root.rglob("_delta_log")
        if str(p.parent.relative_to(root)) not in SKIPPED
    )


def export_files(root: Path) -> dict[str, list[str]]:
    """Supplier files by folder (part file names are random), without the run id column."""
    import csv

    folder, files = root / "exports", {}
    for path in sorted(folder.rglob("*.csv")) if folder.is_dir() else []:
        rows = list(csv.reader(path.read_text().splitlines()))
        keep = [i for i, name in enumerate(rows[0]) if name not in VOLATILE] if rows else []
        lines = [",".join(row[i] for i in keep) for row in rows]
        files.setdefault(str(path.parent.relative_to(root)), []).extend(lines)
    return files


def compare_table(spark, left: Path, right: Path) -> str | None:
    """None when equal, else what differs."""
    a = spark.read.format("delta").load(str(left))
    b = spark.read.format("delta").load(str(right))
    cols_a = [c for c in a.columns if c not in VOLATILE]
    cols_b = [c for c in b.columns if c not in VOLATILE]
    if cols_a != cols_b:
        return f"columns differ: {sorted(set(cols_a) ^ set(cols_b)) or 'order'}"
    a, b = a.select(*cols_a), b.select(*cols_b)
    only_a, only_b = a.exceptAll(b).count(), b.exceptAll(a).count()
    if only_a or only_b:
        return f"{only_a} row(s) only before, {only_b} only after (of {a.count()}, {b.count()})"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    args = parser.parse_args(argv)
    from skuplan.session import local_builder

    spark = local_builder(
        "local[2]",
        ROOT / ".cache" / "jars",
        {"spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false"},
        "compare",
    ).getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    tables_a, tables_b = delta_tables(args.before), delta_tables(args.after)
    failed = 0
    for table in sorted(set(tables_a) | set(tables_b)):
        if table not in tables_a or table not in tables_b:
            print(f"{table}: only in {'after' if table in tables_b else 'before'}")
            failed += 1
            continue
        diff = compare_table(spark, args.before / table, args.after / table)
        rows = spark.read.format("delta").load(str(args.after / table)).count()
        print(f"{table}: {'identical' if diff is None else diff} ({rows} rows)")
        failed += diff is not None
    files_a, files_b = export_files(args.before), export_files(args.after)
    same_files = files_a == files_b
    print(f"exports: {len(files_b)} supplier folder(s), {'identical' if same_files else 'differ'}")
    failed += not same_files
    print("all identical" if not failed else f"{failed} difference(s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
