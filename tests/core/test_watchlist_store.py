"""The watchlist store: reading where no lock can be made, and saves that skip needless reads."""

from __future__ import annotations

from tui.jobstate import JobRecord
from tui.watchlist import WatchlistStore


def test_a_watchlist_is_read_even_where_no_lock_file_can_be_made(tmp_path):
    path = tmp_path / "watchlist.toml"
    WatchlistStore(path).save([JobRecord(job_id="a" * 32, label="kept", status_code="JobRunning")])
    store = WatchlistStore(path)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    store.lock_path = blocker / "watchlist.toml.lock"  # cannot be created: its parent is a file
    (record,) = store.load()
    assert (record.job_id, record.label, record.status_code) == ("a" * 32, "kept", "JobRunning")


def test_a_save_over_a_file_nobody_else_touched_does_not_read_it_again(tmp_path, monkeypatch):
    path = tmp_path / "watchlist.toml"
    store = WatchlistStore(path)
    store.save([JobRecord(job_id="a" * 32)])
    reads = []
    real_read = store._read_unlocked
    monkeypatch.setattr(store, "_read_unlocked", lambda: reads.append(1) or real_read())
    store.save([JobRecord(job_id="a" * 32), JobRecord(job_id="b" * 32)])
    assert reads == []
    assert [r.job_id for r in WatchlistStore(path).load()] == ["a" * 32, "b" * 32]


def test_a_save_after_another_writer_still_merges_its_change(tmp_path):
    path = tmp_path / "watchlist.toml"
    mine, theirs = WatchlistStore(path), WatchlistStore(path)
    mine.save([JobRecord(job_id="a" * 32)])
    theirs.update(lambda records: records + [JobRecord(job_id="c" * 32, label="from a shell")])
    result = mine.save([JobRecord(job_id="a" * 32), JobRecord(job_id="b" * 32)])
    assert [r.job_id for r in result.added] == ["c" * 32]
    assert sorted(r.job_id for r in WatchlistStore(path).load()) == ["a" * 32, "b" * 32, "c" * 32]
