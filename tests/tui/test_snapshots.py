"""What the monitor looks like: fixed clock, pre-filled records, no network (SVG snapshots)."""

from __future__ import annotations

import pytest
from tuikit import IDS, ready, sample_records, view_app

from tui.core.jobstate import Transition
from tui.monitor.notices import finished_notice
from tui.monitor.themes import SHIPPED_THEMES

WIDE = (130, 32)


def test_main_screen_shows_every_state(snap_compare, clock):
    """Every display state at once: init, running, success, failed, moderation, unknown, error, stale, pending."""
    assert snap_compare(view_app(clock), terminal_size=WIDE, run_before=ready)


def test_detail_pane_of_a_successful_job(snap_compare, clock):
    async def open_detail(pilot):
        await ready(pilot)  # run_before runs before the first screen is composed
        pilot.app.table.select_job(IDS["success"])
        await pilot.press("enter")

    assert snap_compare(view_app(clock), terminal_size=(100, 40), run_before=open_detail)


def test_detail_pane_of_a_failed_query(snap_compare, clock):
    async def open_detail(pilot):
        await ready(pilot)  # run_before runs before the first screen is composed
        pilot.app.table.select_job(IDS["error"])
        await pilot.press("enter")

    assert snap_compare(view_app(clock), terminal_size=(100, 40), run_before=open_detail)


def test_add_dialog_shows_a_validation_error(snap_compare, clock):
    async def type_bad_id(pilot):
        await ready(pilot)
        await pilot.press("a")
        await pilot.press(*"3f2a9c0d1e4b5a6978c8d7e6f5a4b3c", "enter")  # 31 characters

    assert snap_compare(view_app(clock), terminal_size=(100, 30), run_before=type_bad_id)


def test_filter_applied(snap_compare, clock):
    assert snap_compare(view_app(clock), terminal_size=WIDE, run_before=ready, press=["slash", *"running"])


@pytest.mark.parametrize("theme", SHIPPED_THEMES)
def test_shipped_theme(snap_compare, clock, theme):
    assert snap_compare(view_app(clock, theme=theme), terminal_size=(100, 20), run_before=ready)


def test_80x24_terminal_with_detail_pane(snap_compare, clock):
    assert snap_compare(view_app(clock), terminal_size=(80, 24), run_before=ready, press=["down", "enter"])


def test_no_credentials_banner_keeps_the_saved_watchlist_visible(snap_compare, clock):
    problem = "no Tencent Cloud credentials found; tried: TENCENTCLOUD_SECRET_ID / TENCENTCLOUD_SECRET_KEY " \
              "environment variables; tccli profile ~/.tccli/default.credential"
    assert snap_compare(view_app(clock, problem=problem), terminal_size=(100, 24), run_before=ready)


def test_help_screen(snap_compare, clock):
    assert snap_compare(view_app(clock), terminal_size=(80, 40), run_before=ready, press=["question_mark"])


def test_an_empty_watchlist_at_80x24_says_how_to_add_a_job(snap_compare, clock):
    async def settle(pilot):
        for _ in range(5):
            await pilot.pause()

    assert snap_compare(view_app(clock, records=[]), terminal_size=(80, 24), run_before=settle)


def test_80x24_with_toasts_showing(snap_compare, clock):
    """Two toasts at most, above the status bar: the rate, the sort and the credentials stay in view."""
    app = view_app(clock)
    app.setup.credentials_note = "AKID…0000 from the demo (made-up simulator credentials)"

    async def finish_a_job(pilot):
        await ready(pilot)
        record = app.poller.records[IDS["failed"]]
        title, message, severity = finished_notice([(record, "JobFailed")], app.palette.symbol)
        app.notify(message, title=title, severity=severity, kind="finished", timeout=60)  # long: a slow run
        for mode in ("state", "age"):
            app.notify(f"Sorted by {mode}.", timeout=60)
        for _ in range(5):
            await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=finish_a_job)


def test_16_colours(snap_compare, clock, monkeypatch):
    """TERM=xterm: everything in the 16 ANSI colours, each state in its own (the theme's `ansi`)."""
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.delenv("COLORTERM")
    assert snap_compare(view_app(clock), terminal_size=WIDE, run_before=ready)


def test_detail_pane_timeline_bar_of_a_job_with_several_transitions(snap_compare, clock):
    """Queued, running, sent back to the queue, running again: one segment per state, in proportion."""
    now = clock.time()
    records = sample_records(clock)
    job = records[0]  # the running job
    job.history = [Transition(now - 1200, None, "JobInit"), Transition(now - 1080, "JobInit", "JobRunning"),
                   Transition(now - 720, "JobRunning", "JobInit"), Transition(now - 600, "JobInit", "JobRunning")]
    job.state_since = job.last_change = now - 600

    async def open_detail(pilot):
        await ready(pilot)
        pilot.app.table.select_job(job.job_id)
        await pilot.press("enter")
        pilot.app.query_one("#detail").scroll_to(y=12, animate=False)  # the timeline at the pane's top
        await pilot.pause()

    assert snap_compare(view_app(clock, records), terminal_size=(100, 40), run_before=open_detail)


def test_80x24_detail_pane_of_a_download_under_way(snap_compare, clock):
    """The progress bar (bytes, rate, ETA) in the detail pane, and the downloads summed up in the status bar."""
    from tui.core.downloads import DownloadState

    app = view_app(clock)

    async def downloading(pilot):
        await ready(pilot)
        app.table.select_job(IDS["success"])
        await pilot.press("enter")
        app.downloads.on_state(DownloadState(IDS["success"], "running", received=14_680_064, total=24_117_248,
                                             rate=3_145_728.0))
        app.downloads.on_state(DownloadState(IDS["running"], "queued"))
        app.refresh_view()
        app.query_one("#detail").scroll_to(y=4, animate=False)  # the result at the pane's top
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=downloading)


def test_80x24_detail_pane_of_a_saved_result(snap_compare, clock):
    """A saved job: its path, size and SHA-256 in the detail pane, the saved mark in the table."""
    records = sample_records(clock)
    saved = records[2]  # the succeeded job
    saved.saved_path = f"/home/me/videos/{saved.job_id}.mp4"
    saved.saved_bytes, saved.saved_sha256 = 24_117_248, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

    async def open_detail(pilot):
        await ready(pilot)
        pilot.app.table.select_job(saved.job_id)
        await pilot.press("enter")
        pilot.app.query_one("#detail").scroll_to(y=4, animate=False)  # the result at the pane's top
        await pilot.pause()

    assert snap_compare(view_app(clock, records), terminal_size=(80, 24), run_before=open_detail)
