"""The monitor stays honest under odd conditions: Textual's own hooks intact, hostile codes inert,
a newer program taking over the watchlist said out loud."""

from __future__ import annotations

import pytest
from textual.app import App
from tuikit import ready, sim_app

from tui.api.clock import FakeClock
from tui.core.jobstate import JobRecord
from tui.monitor.widgets.state_style import StatePalette

pytestmark = pytest.mark.anyio
SIZE = (120, 30)


def test_the_app_does_not_shadow_textuals_own_flush():
    from tui.monitor.app import VclmWatchApp

    # Textual calls App._flush(stderr=...) whenever output is flushed; ours must not replace it
    assert VclmWatchApp._flush is App._flush


def test_a_hostile_status_code_is_shown_inert():
    palette = StatePalette()
    record = JobRecord(job_id="a" * 32, status_code="Job\x1b[2J\u202eQueued")
    text = palette.state_text(record, "unknown").plain
    assert "\x1b" not in text and "\u202e" not in text
    assert "Queued" in text


async def test_a_newer_program_rewriting_the_watchlist_mid_run_is_reported_and_not_overwritten(
        clock: FakeClock, simulator, watchlist):
    app = sim_app(clock, simulator, watchlist)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        app.add_jobs([simulator.create_job()])
        app.save_now(force=True)
        newer = 'version = 99\n[[jobs]]\nid = "0123456789abcdef0123456789abcdef"\n'
        watchlist.write_text(newer)
        app.watchlist.sync()
        await pilot.pause()
        assert app.problems["watchlist"][0] == "Watchlist not saved"
        assert "newer vclm-watch" in app.problems["watchlist"][1]
        app.add_jobs([simulator.create_job()])
        app.save_now(force=True)
    assert watchlist.read_text() == newer


def test_the_job_table_overrides_nothing_private_of_textuals():
    from textual.scroll_view import ScrollView

    from tui.monitor.widgets.job_table import JobTable

    # built on the public line API only, so that a Textual release cannot change it underneath
    private = [name for name, member in vars(JobTable).items()
               if name.startswith("_") and not name.startswith("__") and (callable(member) or isinstance(member, property))]
    assert issubclass(JobTable, ScrollView)
    assert [name for name in private if any(hasattr(base, name) for base in JobTable.__mro__[1:])] == []
