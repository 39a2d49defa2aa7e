"""The watchlist store: reading where no lock can be made, and saves that skip needless reads."""

from __future__ import annotations

import pytest

from tui.core.jobstate import JobRecord
from tui.core.watchlist import WatchlistStore, WatchlistUnparsable, dumps


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


def _corrupt(path):
    path.write_text("this is [not toml", encoding="utf-8")  # line 1, column 6: "=" expected after the key "this"


def test_a_file_broken_under_a_running_monitor_is_never_written_over_and_merges_once_fixed(tmp_path):
    path = tmp_path / "watchlist.toml"
    store = WatchlistStore(path)
    mine = [JobRecord(job_id=c * 32) for c in "abc"]
    store.save(mine)
    _corrupt(path)
    with pytest.raises(WatchlistUnparsable):
        store.save(mine + [JobRecord(job_id="d" * 32)])
    assert path.read_text(encoding="utf-8") == "this is [not toml"
    path.write_text(dumps(mine), encoding="utf-8")  # fixed by hand
    result = store.save(mine + [JobRecord(job_id="d" * 32)])
    assert result.removed == []
    assert sorted(r.job_id for r in WatchlistStore(path).load()) == [c * 32 for c in "abcd"]
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("watchlist.db")) == ["watchlist.toml", "watchlist.toml.lock"]


def test_sync_reports_a_broken_file_with_its_line_and_a_deleted_one_lets_the_next_save_write_everything(tmp_path):
    path = tmp_path / "watchlist.toml"
    store = WatchlistStore(path)
    mine = [JobRecord(job_id=c * 32) for c in "ab"]
    store.save(mine)
    _corrupt(path)
    with pytest.raises(WatchlistUnparsable) as caught:
        store.sync(mine)
    assert (caught.value.line, caught.value.column) == (1, 6)
    assert store.sync(mine).removed == [], "an unchanged broken file is not read again"
    path.unlink()
    assert store.sync(mine).removed == []
    assert store.save(mine).removed == []
    assert len(WatchlistStore(path).load()) == 2


def test_a_deleted_file_is_not_taken_for_the_removal_of_every_job(tmp_path):
    path = tmp_path / "watchlist.toml"
    store = WatchlistStore(path)
    mine = [JobRecord(job_id="a" * 32)]
    store.save(mine)
    path.unlink()
    assert store.sync(mine).removed == []
    assert store.save(mine).removed == []
    assert len(WatchlistStore(path).load()) == 1


def test_a_write_between_load_and_save_is_merged(tmp_path, monkeypatch):
    path = tmp_path / "watchlist.toml"
    WatchlistStore(path).save([JobRecord(job_id="a" * 32)])
    store = WatchlistStore(path)
    real_locked = store.locked

    import contextlib

    @contextlib.contextmanager
    def locked_then_someone_writes(wait=None):
        with real_locked(wait):
            yield
        monkeypatch.setattr(store, "locked", real_locked)
        WatchlistStore(path).update(lambda records: records + [JobRecord(job_id="c" * 32)])

    monkeypatch.setattr(store, "locked", locked_then_someone_writes)
    records = store.load()
    result = store.save(records + [JobRecord(job_id="b" * 32)])
    assert [r.job_id for r in result.added] == ["c" * 32]
    assert sorted(r.job_id for r in WatchlistStore(path).load()) == [c * 32 for c in "abc"]


def test_a_preloaded_store_gives_what_a_plain_load_gives_from_its_thread(tmp_path):
    path = tmp_path / "watchlist.toml"
    WatchlistStore(path).save([JobRecord(job_id=c * 32, label=c, status_code="JobRunning") for c in "ab"])
    store = WatchlistStore(path).preload()
    loaded = store.load()
    assert loaded == WatchlistStore(path).load()
    assert loaded is store._preloaded  # read by the preload, not again


def test_a_file_changed_after_the_preload_is_read_again(tmp_path):
    path = tmp_path / "watchlist.toml"
    WatchlistStore(path).save([JobRecord(job_id="a" * 32)])
    store = WatchlistStore(path).preload()
    store._preloading.join()  # (the preload has read the file: then another process changes it)
    WatchlistStore(path).update(lambda records: records + [JobRecord(job_id="b" * 32)])
    assert [r.job_id for r in store.load()] == ["a" * 32, "b" * 32]
