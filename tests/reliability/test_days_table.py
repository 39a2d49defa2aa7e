"""Days, not minutes: what the monitor's table keeps stays a screenful, however long it runs and
however many rows scroll by (the engine's side: test_bounded_state.py)."""

from __future__ import annotations

import pytest

from tui.api.clock import FakeClock
from tui.core.jobstate import JobRecord
from tui.core.settings import default_settings
from tui.monitor.launch import create_app
from tui.monitor.widgets.job_table import ROW_CACHE

START = 1_764_000_000.0
pytestmark = pytest.mark.anyio


async def test_the_tables_row_cache_stays_bounded_however_many_ticks_redraw_and_rows_scroll_by(tmp_path):
    clock = FakeClock(START)
    now = clock.time()
    records = [JobRecord(job_id=f"{k:032x}", label=f"job {k}", added_at=now, status_code="JobRunning",
                         status_msg="处理中", state_since=now - 5, last_polled=now - 1) for k in range(2 * ROW_CACHE)]
    app = create_app(default_settings(tmp_path / "watchlist.toml"), clock=clock, store=None, records=records,
                     credentials=None, cursor_blink=False)
    async with app.run_test(size=(120, 30)) as pilot:
        for _ in range(50):
            await pilot.pause()
            if app.table is not None and app.table.row_count == len(records):
                break
        table = app.table
        assert table is not None and table.row_count == len(records)
        for _ in range(30):  # each tick rewrites the "polled" time of every row on screen
            clock.advance(1)
            app.tick_now()
            await pilot.pause()
        assert table.cell_updates > 30 * (table.size.height - 2)
        page = table.size.height - 1
        for top in range(0, table.row_count, page):  # every row comes on screen once
            table.scroll_to(y=top, animate=False)
            await pilot.pause()
        assert table.is_rendered(records[-1].job_id)
        assert table.cached_rows <= ROW_CACHE
