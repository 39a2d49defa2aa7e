"""WatchlistSync without a screen: a watchlist file that does not parse is reported, never written,
and picked up once it parses again."""

from __future__ import annotations

from pathlib import Path

import pytest
from synckit import Harness

from tui.core.engine import Poller
from tui.core.jobstate import JobRecord
from tui.core.watchlist import WatchlistStore, dumps
from tui.monitor.watchlist_sync import SLOT, SYNC_EVERY_TICKS, UNPARSABLE, WatchlistSync

A, B, C, D = (ch * 32 for ch in "abcd")
BROKEN = f'version = 1\n[[jobs]]\nid = "{A}"\nlabel = "unclosed\n'  # line 4: the string never ends


def _controller(path: Path) -> tuple[WatchlistSync, Poller, Harness]:
    seen = Harness(path)
    seen.sync.load()
    return seen.sync, seen.poller, seen


def _ticks(sync: WatchlistSync, n: int = SYNC_EVERY_TICKS) -> None:
    for tick in range(1, n + 1):
        sync.tick(tick)


def _ids_on_disk(path: Path) -> list[str]:
    return sorted(r.job_id for r in WatchlistStore(path).load())


def test_a_file_with_a_syntax_error_is_reported_with_its_line_and_never_written(tmp_path):
    path = tmp_path / "watchlist.toml"
    path.write_text(BROKEN)
    sync, poller, seen = _controller(path)
    title, detail = seen.problems[SLOT]
    assert title == UNPARSABLE
    assert f"{path}, line 4" in detail and "Fix the file" in detail
    assert poller.records == {}
    poller.add(B)  # the user adds a job meanwhile
    _ticks(sync, 12)
    sync.save(force=True)
    assert seen.problems[SLOT] == (title, detail), "the banner stays while the file is unchanged"
    assert path.read_text() == BROKEN, "never written while it does not parse"
    names = {p.name for p in tmp_path.iterdir() if not p.name.startswith("watchlist.db")}  # (the job database)
    assert names <= {"watchlist.toml", "watchlist.toml.lock"}, "nothing moved aside"


def test_once_fixed_the_file_is_picked_up_and_what_was_added_meanwhile_saved(tmp_path):
    path = tmp_path / "watchlist.toml"
    path.write_text(BROKEN)
    sync, poller, seen = _controller(path)
    poller.add(B, "added while broken")
    path.write_text(BROKEN.replace('"unclosed\n', '"closed"\n'))  # the user fixes it
    _ticks(sync)
    assert SLOT not in seen.problems
    assert any("parses again" in message for _title, message in seen.notices)
    assert sorted(poller.records) == [A, B] and poller.records[A].label == "closed"
    _ticks(sync)
    assert _ids_on_disk(path) == [A, B]


def test_a_file_broken_under_a_running_monitor_keeps_its_list_and_merges_the_fix(tmp_path):
    path = tmp_path / "watchlist.toml"
    WatchlistStore(path).save([JobRecord(job_id=A), JobRecord(job_id=B), JobRecord(job_id=C)])
    sync, poller, seen = _controller(path)
    path.write_text(f'version = 1\n[[jobs]]\nid = "{A}"\n[[jobs]\nid = "{B}"\n')  # an editor's slip
    _ticks(sync)
    assert seen.problems[SLOT][0] == UNPARSABLE and "line 4" in seen.problems[SLOT][1]
    assert sorted(poller.records) == [A, B, C], "the list in memory stays"
    poller.add(D)
    _ticks(sync, 4)
    assert "[[jobs]\n" in path.read_text(), "not written over"
    # fixed, and C removed on purpose by whoever edited it
    path.write_text(dumps([JobRecord(job_id=A), JobRecord(job_id=B)]))
    _ticks(sync)
    assert SLOT not in seen.problems
    assert sorted(poller.records) == [A, B, D]
    _ticks(sync)
    assert _ids_on_disk(path) == [A, B, D]


def test_a_bad_entry_is_reported_at_its_jobs_table(tmp_path):
    path = tmp_path / "watchlist.toml"
    path.write_text(f'version = 1\n\n[[jobs]]\nid = "{A}"\n\n[[jobs]]\nid = "not-an-id"\n')
    _sync, _poller, seen = _controller(path)
    detail = seen.problems[SLOT][1]
    assert "line 6" in detail and "job #2" in detail and "invalid job id" in detail


def test_deleting_the_broken_file_starts_an_empty_list_that_is_saved(tmp_path):
    path = tmp_path / "watchlist.toml"
    path.write_text(BROKEN)
    sync, poller, seen = _controller(path)
    poller.add(B)
    path.unlink()
    _ticks(sync, 4)
    assert SLOT not in seen.problems
    assert _ids_on_disk(path) == [B]


@pytest.mark.parametrize("still_broken", [BROKEN.replace("unclosed", "still unclosed"), "jobs = 'oops"])
def test_a_fix_that_still_does_not_parse_updates_the_banner(tmp_path, still_broken):
    path = tmp_path / "watchlist.toml"
    path.write_text(BROKEN)
    sync, _poller, seen = _controller(path)
    path.write_text(still_broken)
    _ticks(sync)
    assert seen.problems[SLOT][0] == UNPARSABLE
    assert ("line 1, column 13" if "oops" in still_broken else "line 4") in seen.problems[SLOT][1]
    assert path.read_text() == still_broken
