"""The job table on its own terms: moving the cursor (keys, page keys, mouse), its messages, the
header that stays put, and a watchlist of 100,000 jobs costing a list of ids, not a row object each."""

from __future__ import annotations

import pytest
from textual import events
from textual.app import App, ComposeResult
from tuikit import ready, view_app

from tui.core.jobstate import JobRecord
from tui.monitor.widgets.job_table import ROW_CACHE, JobTable, RowContext
from tui.monitor.widgets.state_style import StatePalette

pytestmark = pytest.mark.anyio
SIZE = (80, 24)  # 24 lines: the table gets what the banner, status bar and footer leave


def running(clock, n: int) -> list[JobRecord]:
    now = clock.time()
    return [JobRecord(job_id=f"{k:032x}", label=f"job {k}", added_at=now, status_code="JobRunning",
                      status_msg="处理中", state_since=now - 5, last_polled=now - 1) for k in range(n)]


def posted(messages: list, kind: type) -> list[str]:
    """The job of each `kind` message, once each (the hook sees one at every node it bubbles to)."""
    unique = {id(message): message for message in messages}
    return [message.job_id for message in unique.values() if isinstance(message, kind)]


def visible_rows(table: JobTable) -> range:
    top = int(table.scroll_y)
    return range(top, min(table.row_count, top + table.size.height - 1))


async def test_arrow_and_vi_keys_move_the_cursor_and_say_which_job_it_is_on(clock):
    records = running(clock, 20)
    messages: list = []
    app = view_app(clock, records)
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await ready(pilot)
        table = app.table
        assert table.cursor_row == 0
        messages.clear()
        await pilot.press("down", "j")
        assert table.cursor_row == 2 and app.selected_job_id == records[2].job_id
        await pilot.press("k")
        await pilot.press("up", "up", "up")  # stops at the first row
        assert table.cursor_row == 0
        await pilot.pause()
        assert posted(messages, JobTable.Highlighted) == [records[1].job_id, records[2].job_id, records[1].job_id, records[0].job_id]


async def test_page_keys_move_a_screen_at_a_time_and_keep_the_cursor_in_view(clock):
    records = running(clock, 300)
    app = view_app(clock, records)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        table = app.table
        page = table.size.height - 1  # the lines under the header
        await pilot.press("pagedown")
        assert table.cursor_row == page and table.cursor_row in visible_rows(table)
        await pilot.press("pagedown")
        assert table.cursor_row == 2 * page and table.cursor_row in visible_rows(table)
        await pilot.press("pageup")
        assert table.cursor_row == page and table.cursor_row in visible_rows(table)
        await pilot.press("pageup", "pageup")
        assert table.cursor_row == 0 and table.scroll_y == 0


@pytest.mark.parametrize(("last", "first"), [("end", "home"), ("G", "g")])
async def test_end_and_home_go_to_the_last_and_first_job(clock, last, first):
    records = running(clock, 300)
    app = view_app(clock, records)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        table = app.table
        await pilot.press(last)
        await pilot.pause()
        assert app.selected_job_id == records[-1].job_id
        assert table.scroll_y == table.max_scroll_y and table.row_count - 1 in visible_rows(table)
        assert table.is_rendered(records[-1].job_id)
        await pilot.press(first)
        assert app.selected_job_id == records[0].job_id and table.scroll_y == 0


async def test_the_header_stays_put_while_the_rows_scroll(clock):
    records = running(clock, 300)
    app = view_app(clock, records)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        table = app.table
        await pilot.press("end")
        await pilot.pause()
        assert table.scroll_y > 0
        header = table.render_line(0).text
        assert header.split()[:3] == ["Job", "Label", "State"]
        first = table.render_line(1).text  # the first row under the header is the one scrolled to
        assert first.split()[0] == records[int(table.scroll_y)].job_id[:len(first.split()[0])]


async def test_enter_selects_the_job_under_the_cursor_and_opens_its_details(clock):
    records = running(clock, 5)
    messages: list = []
    app = view_app(clock, records)
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await ready(pilot)
        await pilot.press("down", "enter")
        await pilot.pause()
        assert posted(messages, JobTable.Selected) == [records[1].job_id]
        assert app.detail_visible


async def test_a_click_moves_the_cursor_and_a_click_on_its_row_opens_the_details(clock):
    records = running(clock, 5)
    app = view_app(clock, records)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.click(JobTable, offset=(3, 3))  # line 3: the third row under the header
        assert app.selected_job_id == records[2].job_id and not app.detail_visible
        await pilot.click(JobTable, offset=(3, 0))  # the header selects nothing
        assert app.selected_job_id == records[2].job_id
        await pilot.click(JobTable, offset=(3, 3))
        await pilot.pause()
        assert app.detail_visible


async def test_the_mouse_wheel_scrolls_the_rows_and_draws_those_it_brings_into_view(clock):
    records = running(clock, 300)
    app = view_app(clock, records)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        table = app.table
        below = records[table.size.height + 5].job_id
        assert not table.is_rendered(below)
        for _ in range(4):
            table.post_message(events.MouseScrollDown(table, 3, 3, 0, 1, 0, False, False, False))
            await pilot.pause()
        await pilot.pause()
        assert table.scroll_y > 0 and table.cursor_row == 0  # the wheel scrolls; the cursor stays
        assert table.is_rendered(records[int(table.scroll_y) + 1].job_id)


class TableApp(App):
    """The table alone, fed by hand as the monitor feeds it."""

    def compose(self) -> ComposeResult:
        yield JobTable()


async def test_100000_jobs_cost_a_list_of_ids_and_only_the_rows_on_screen_are_rendered(clock):
    records = running(clock, 100_000)
    by_id = {record.job_id: record for record in records}
    order = list(by_id)
    ctx = RowContext(now=clock.time(), palette=StatePalette(), states=dict.fromkeys(by_id, "running"))
    app = TableApp()
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.query_one(JobTable)
        await pilot.pause()
        table.show(order, by_id, ctx, dirty=set(order))
        await pilot.pause()
        assert table.row_count == 100_000 and table.row_ids == order
        assert table.virtual_size.height == 100_000 + 1  # the rows and the header
        on_screen = table.size.height - 1
        assert 0 < table.rendered_rows() <= on_screen
        assert table.cached_rows <= on_screen
        assert table.select_job(records[54_321].job_id)
        await pilot.pause()
        assert table.cursor_row == 54_321 and table.cursor_row in visible_rows(table)
        assert table.is_rendered(records[54_321].job_id)
        assert table.cached_rows <= 2 * on_screen <= ROW_CACHE
        table.show(order, by_id, ctx, dirty=None)  # a tick: every row may have changed...
        assert table.rendered_rows() <= on_screen  # ...and only those on screen were rendered again
