"""The monitor's watchlist controller on its own: a real engine (no client), a real file, no Textual."""

from __future__ import annotations

import shutil

from synckit import Harness

from tui.core.events import JobUpdated
from tui.core.jobstate import JobRecord
from tui.core.watchlist import WatchlistStore
from tui.monitor.watchlist_sync import SYNC_EVERY_TICKS

A, B, C = ("a" * 32, "b" * 32, "c" * 32)


def on_disk(path) -> dict[str, str]:
    return {r.job_id: r.label for r in WatchlistStore(path).load()}


def test_loading_watches_the_file_s_jobs_and_leaves_nothing_unsaved(tmp_path):
    path = tmp_path / "watchlist.toml"
    WatchlistStore(path).save([JobRecord(job_id=A, label="one", status_code="JobRunning")])
    h = Harness(path)
    h.sync.load()
    assert list(h.poller.records) == [A]
    assert h.poller.records[A].stale  # a last known state, not refreshed in this run yet
    assert not h.sync.unsaved  # what came from the file need not be written back


def test_a_job_the_user_adds_is_saved_at_the_next_tick(tmp_path):
    path = tmp_path / "watchlist.toml"
    h = Harness(path)
    h.sync.load()
    h.poller.add(A, "mine")
    assert h.sync.unsaved
    h.sync.tick(1)
    assert on_disk(path) == {A: "mine"}
    assert h.sync.saves == 1


def test_poll_results_never_rewrite_the_file_and_reach_the_job_database(tmp_path):
    path = tmp_path / "watchlist.toml"
    h = Harness(path)
    h.sync.load()
    h.poller.add(A)
    h.sync.tick(1)
    before = path.stat()
    record = h.poller.records[A]
    record.status_code, record.poll_count, record.last_request_id = "JobRunning", 3, "req-1"
    h.sync.note(JobUpdated(record))  # as a poll answer would
    for tick in range(2, 3 * SYNC_EVERY_TICKS + 12):
        h.sync.tick(tick)
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns, after.st_size) == (before.st_ino, before.st_mtime_ns, before.st_size)
    assert path.read_text(encoding="utf-8").count("JobRunning") == 0  # the file holds what a person chose
    assert h.sync.flush_states(5.0)
    [saved] = WatchlistStore(path).load()
    assert (saved.status_code, saved.poll_count, saved.last_request_id) == ("JobRunning", 3, "req-1")


def test_another_process_s_add_and_remove_are_picked_up_without_writing_back(tmp_path):
    path = tmp_path / "watchlist.toml"
    WatchlistStore(path).save([JobRecord(job_id=A), JobRecord(job_id=B)])
    h = Harness(path)
    h.sync.load()
    WatchlistStore(path).update(lambda records: [r for r in records if r.job_id != B] + [JobRecord(job_id=C)])
    h.sync.tick(SYNC_EVERY_TICKS)
    assert sorted(h.poller.records) == [A, C]
    assert not h.sync.unsaved
    assert h.notices[-1] == ("Watchlist updated", "From another vclm-watch: 1 added, 1 removed.")


def test_another_process_s_label_is_adopted_and_its_row_redrawn(tmp_path):
    path = tmp_path / "watchlist.toml"
    WatchlistStore(path).save([JobRecord(job_id=A, label="old")])
    h = Harness(path)
    h.sync.load()
    WatchlistStore(path).update(lambda records: [JobRecord(job_id=A, label="new")])
    h.sync.sync()
    assert h.poller.records[A].label == "new"
    assert h.touched == [A]


def test_a_failed_save_is_reported_kept_unsaved_and_cleared_when_it_works(tmp_path):
    where = tmp_path / "data"
    path = where / "watchlist.toml"
    h = Harness(path)
    h.sync.load()
    h.poller.add(A)
    assert h.sync.flush_states(10.0)  # the job database's writer thread is done with the directory...
    shutil.rmtree(where)  # ...before it goes (else it may make it again, racing the file put in its place)
    where.write_text("")  # a file where the directory should be: nothing can be written (even as root)
    h.sync.save()
    assert h.problems["watchlist"][0] == "Watchlist not saved"
    assert h.sync.unsaved
    where.unlink()
    h.sync.save()
    assert "watchlist" not in h.problems
    assert on_disk(path) == {A: ""}


def test_no_store_means_nothing_is_read_or_written(tmp_path):
    h = Harness(tmp_path / "unused.toml")
    h.sync.store = None
    h.sync.load()
    h.poller.add(A)
    h.sync.save(force=True)
    assert not (tmp_path / "unused.toml").exists()


def test_a_job_database_that_cannot_be_written_is_a_banner_that_clears_once_it_can(tmp_path):
    path = tmp_path / "watchlist.toml"
    WatchlistStore(path).save([JobRecord(job_id=A)], observations=False)
    for leftover in tmp_path.glob("watchlist.db*"):
        leftover.unlink()
    (tmp_path / "watchlist.db").mkdir()  # where the database must go, something it cannot open
    h = Harness(path)
    h.sync.load()
    assert list(h.poller.records) == [A]  # the watchlist shows all the same
    record = h.poller.records[A]
    record.status_code = "JobRunning"
    h.sync.note(JobUpdated(record))
    assert not h.sync.flush_states(2.0)
    h.sync.tick(1)
    title, detail = h.problems["database"]
    assert title == "Job states not saved" and "watchlist.db" in detail
    (tmp_path / "watchlist.db").rmdir()
    assert h.sync.flush_states(5.0)
    h.sync.tick(2)
    assert "database" not in h.problems
    assert WatchlistStore(path).load()[0].status_code == "JobRunning"


def test_at_exit_the_monitor_leaves_a_snapshot_that_the_next_start_reads(tmp_path):
    import asyncio
    import sqlite3

    path = tmp_path / "watchlist.toml"
    WatchlistStore(path).save([JobRecord(job_id=A, label="one", status_code="JobRunning")])
    h = Harness(path)
    h.sync.load()
    record = h.poller.records[A]
    record.poll_count, record.last_request_id = 7, "req-7"
    h.sync.note(JobUpdated(record))
    asyncio.run(h.sync.save_at_exit())
    with sqlite3.connect(h.store.db_path) as db:
        assert db.execute("SELECT count(*) FROM snapshot").fetchone()[0] == 1
    [again] = WatchlistStore(path).load()
    assert (again.poll_count, again.last_request_id, again.stale) == (7, "req-7", True)
