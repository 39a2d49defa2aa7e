"""A running monitor (Textual Pilot) and `vclm-watch add` from a shell on one watchlist file."""

from __future__ import annotations

import asyncio
import time

import pytest

from tui.core.jobstate import JobRecord
from tui.core.settings import default_settings
from tui.core.watchlist import WatchlistStore
from tui.monitor.launch import create_app

BEFORE, FROM_TUI, FROM_SHELL = "a" * 32, "b" * 32, "c" * 32
SYNC_DEADLINE = 10.0  # the monitor looks at the file every ~2 s


def _on_disk(path) -> dict[str, str]:
    return {record.job_id: record.label for record in WatchlistStore(path).load()}


async def _until(condition, what: str, timeout: float = SYNC_DEADLINE) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@pytest.mark.anyio
async def test_monitor_and_shell_add_on_one_watchlist_lose_nothing(cli, isolated_home):
    path = isolated_home / "shared" / "watchlist.toml"
    WatchlistStore(path).update(lambda _records: [JobRecord(job_id=BEFORE, label="before")])
    # No credentials: the monitor shows and saves the watchlist but never polls (no network).
    app = create_app(default_settings(watchlist_path=path), cursor_blink=False)

    async with app.run_test(size=(140, 32)) as pilot:
        await pilot.pause()
        assert list(app.poller.records) == [BEFORE]

        # The shell adds an id while the monitor runs...
        shell = await asyncio.to_thread(cli, "add", "--watchlist", str(path), "--label", "from the shell", FROM_SHELL)
        assert shell.code == 0, shell.stderr

        # ...and the user adds another in the monitor, through its add dialog.
        await pilot.press("a")
        await pilot.pause()
        await pilot.press(*FROM_TUI)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert FROM_TUI in app.poller.records

        # The monitor picks up the shell's id on its own and shows it.
        await _until(lambda: FROM_SHELL in app.poller.records, "the monitor to pick up the shell's id")
        await _until(lambda: FROM_SHELL in app.table.row_ids,
                     "the shell's id to appear in the table")
        assert app.poller.records[FROM_SHELL].label == "from the shell"

        # Its next save keeps everyone's change.
        await _until(lambda: set(_on_disk(path)) == {BEFORE, FROM_TUI, FROM_SHELL}, "a save with all three ids")
        await pilot.press("ctrl+q")

    assert _on_disk(path) == {BEFORE: "before", FROM_TUI: "", FROM_SHELL: "from the shell"}


@pytest.mark.anyio
async def test_a_monitor_change_not_yet_saved_survives_a_sync_with_a_shell_add(cli, isolated_home):
    """The tight interleaving: the user's add is still unsaved when the monitor syncs the file."""
    path = isolated_home / "shared" / "watchlist.toml"
    WatchlistStore(path).update(lambda _records: [JobRecord(job_id=BEFORE, label="before")])
    app = create_app(default_settings(watchlist_path=path), cursor_blink=False)

    async with app.run_test(size=(140, 32)) as pilot:
        await pilot.pause()
        await pilot.press("a")
        await pilot.pause()
        await pilot.press(*FROM_TUI)
        await pilot.press("ctrl+s")
        assert FROM_TUI in app.poller.records
        # No await from here to the sync: no timer of the monitor can save its change first.
        shell = cli("add", "--watchlist", str(path), FROM_SHELL)  # blocks this loop, the monitor included
        assert shell.code == 0, shell.stderr
        app.watchlist.sync()  # what its next periodic tick does before saving
        assert FROM_TUI in app.poller.records and FROM_SHELL in app.poller.records

        await _until(lambda: set(_on_disk(path)) == {BEFORE, FROM_TUI, FROM_SHELL}, "a save with all three ids")
        await pilot.press("ctrl+q")

    assert set(_on_disk(path)) == {BEFORE, FROM_TUI, FROM_SHELL}


@pytest.mark.anyio
async def test_shell_remove_reaches_a_running_monitor(cli, isolated_home):
    path = isolated_home / "shared" / "watchlist.toml"
    WatchlistStore(path).update(lambda _records: [JobRecord(job_id=BEFORE), JobRecord(job_id=FROM_SHELL)])
    app = create_app(default_settings(watchlist_path=path), cursor_blink=False)

    async with app.run_test(size=(140, 32)) as pilot:
        await pilot.pause()
        shell = await asyncio.to_thread(cli, "remove", "--watchlist", str(path), FROM_SHELL)
        assert shell.code == 0, shell.stderr
        await _until(lambda: FROM_SHELL not in app.poller.records, "the monitor to drop the removed id")
        await pilot.press("ctrl+q")

    assert set(_on_disk(path)) == {BEFORE}
