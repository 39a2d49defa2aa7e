"""Reading a watchlist where no lock file can be made (a read-only place)."""

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
