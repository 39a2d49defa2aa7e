"""The detail pane renders a second's change as that line alone, and the lines it keeps are those
the whole pane would render."""

from __future__ import annotations

import pytest
from textual.visual import Visual, visualize
from tuikit import ready, sample_records, view_app

from tui.monitor.widgets.detail_pane import DetailPane
from tui.monitor.widgets.diff_static import DiffStatic

pytestmark = pytest.mark.anyio


def body_of(app) -> DiffStatic:
    return app.screen.query_one(DetailPane).query_one("#detail-body", DiffStatic)


def whole_render(body: DiffStatic) -> list:
    """The pane's content rendered in one piece, as Static would."""
    return Visual.to_strips(body, visualize(body, body.content, markup=False), body.size.width, None, body.visual_style)


async def test_a_tick_renders_only_the_detail_lines_whose_text_changed_and_they_match_a_whole_render(clock):
    records = sample_records(clock)
    app = view_app(clock, records)
    async with app.run_test(size=(160, 50)) as pilot:
        await ready(pilot)
        assert app.detail_visible  # wide enough for the pane beside the table
        body = body_of(app)
        for record in records[:4]:  # jobs with results, errors, timelines: every kind of line
            app.table.move_cursor(app.table.row_ids.index(record.job_id))
            await pilot.pause()
            app.tick_now()
            await pilot.pause()
            lines = len(body.content.renderables)
            assert lines > 10
            assert body._strips == whole_render(body)
            before = body.lines_rendered
            clock.advance(1)
            app.tick_now()
            await pilot.pause()
            rendered = body.lines_rendered - before
            assert 0 < rendered <= 6, rendered  # the lines that tell a time in seconds, not the pane
            assert body._strips == whole_render(body)
