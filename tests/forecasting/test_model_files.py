"""The global models' files: saved and read back, and a run date's replaced runs pruned."""

import datetime as dt

from skuplan.forecasting import model_files

DAY = dt.date(2026, 3, 1)


def test_a_model_text_is_saved_under_its_run_and_read_back(tmp_path):
    folder = model_files.run_folder(str(tmp_path), DAY, "run-1")
    path = model_files.save(folder, '["all", "3", "0"]', 2, "tree\nTree=0\n" * 1000)
    assert path.startswith(f"{tmp_path}/run_date=2026-03-01/run_id=run-1/group=")
    assert path.endswith("/fit=2.txt.gz") and model_files.load(path) == "tree\nTree=0\n" * 1000
    # Another group is another file; saving again overwrites (a retried task).
    other = model_files.save(folder, '["all", "3", "1"]', 2, "b")
    assert other != path and model_files.save(folder, '["all", "3", "1"]', 2, "c") == other
    assert model_files.load(other) == "c"


def test_pruning_keeps_the_committed_run_of_the_date_only(tmp_path):
    root = str(tmp_path)
    for run_date, run_id in [(DAY, "old"), (DAY, "new"), (DAY - dt.timedelta(days=1), "x")]:
        model_files.save(model_files.run_folder(root, run_date, run_id), "g", 0, "text")
    stale = model_files.prune(root, DAY, "new")
    assert [p.rsplit("/", 1)[1] for p in stale] == ["run_id=old"]
    assert sorted(p.name for p in (tmp_path / "run_date=2026-03-01").iterdir()) == ["run_id=new"]
    assert (tmp_path / "run_date=2026-02-28" / "run_id=x").is_dir()  # other dates untouched
    # A date that never saved models (no folder) prunes nothing.
    assert model_files.prune(root, DAY + dt.timedelta(days=9), "r") == []


def test_expiry_deletes_run_date_folders_before_the_window_but_the_needed_ones(tmp_path):
    root = str(tmp_path)
    for days_back in (30, 20, 10):
        model_files.save(model_files.run_folder(root, DAY - dt.timedelta(days=days_back), "r"), "g", 0, "t")  # fmt: skip
    (tmp_path / "run_date=someday").mkdir()  # not a date: not this module's
    needed = {DAY - dt.timedelta(days=20)}
    stale = model_files.expire(root, DAY - dt.timedelta(days=14), needed)
    assert [p.rsplit("/", 1)[1] for p in stale] == ["run_date=2026-01-30"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "run_date=2026-02-09", "run_date=2026-02-19", "run_date=someday",
    ]  # fmt: skip
    assert model_files.expire(str(tmp_path / "nothing"), DAY, set()) == []
