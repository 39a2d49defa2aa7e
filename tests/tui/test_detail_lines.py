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


def _timeline_job(now: float):
    from tui.core.jobstate import JobRecord, Transition

    record = JobRecord(job_id="0123456789abcdef0123456789abcdef", status_code="JobRunning", state_since=now - 180)
    record.history = [Transition(now - 600, None, "JobInit"), Transition(now - 540, "JobInit", "JobRunning"),
                      Transition(now - 240, "JobRunning", "JobInit"), Transition(now - 180, "JobInit", "JobRunning")]
    return record


def _timeline_lines(record, now: float, width: int) -> list[str]:
    """The pane's Timeline section as printed `width` cells wide, without colour."""
    from rich.console import Console

    from tui.monitor.widgets.detail_pane import DetailContext, render_detail
    from tui.monitor.widgets.state_style import StatePalette

    ctx = DetailContext(now=now, palette=StatePalette(), state="running", region="ap-guangzhou", endpoint_host=None,
                        paused=False, polling=True)
    console = Console(width=width, color_system=None, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(render_detail(record, ctx))
    lines = console.export_text().splitlines()
    start = lines.index("Timeline")
    return lines[start + 1:start + 3]


def test_the_timeline_bar_spans_the_pane_one_segment_per_state_in_proportion_with_the_times_in_words(clock):
    now = clock.time()
    bar, _ = _timeline_lines(_timeline_job(now), now, 62)  # a bar of 60 cells after the indent
    assert bar == "  " + "◌█████" + "●" + "█" * 29 + "◌█████" + "●" + "█" * 17
    _, words = _timeline_lines(_timeline_job(now), now, 120)
    assert words.rstrip() == "  ◌ JobInit 1m00s · ● JobRunning 5m00s · ◌ JobInit 1m00s · ● JobRunning 3m00s so far · 10m00s in all"
    bar, _ = _timeline_lines(_timeline_job(now), now, 32)  # as wide as the pane, whatever its width
    assert len(bar) == 32 and bar.count("◌") == 2 and bar.count("●") == 2


def test_a_finished_job_s_bar_ends_with_its_state_s_mark_and_says_how_long_it_took(clock):
    from tui.core.jobstate import Transition

    now = clock.time()
    record = _timeline_job(now)
    record.history.append(Transition(now - 60, "JobRunning", "JobSuccess"))
    record.status_code = "JobSuccess"
    bar, words = _timeline_lines(record, now, 200)
    assert bar.rstrip().endswith("█✔") and len(bar.rstrip()) == 200
    assert words.strip().endswith("● JobRunning 2m00s · ✔ JobSuccess after 9m00s")


def test_a_job_finished_already_when_first_seen_says_so_not_after_0s(clock):
    from tui.core.jobstate import JobRecord, Transition

    now = clock.time()
    record = JobRecord(job_id="ab" * 16, status_code="JobSuccess", history=[Transition(now - 30, None, "JobSuccess")])
    bar, words = _timeline_lines(record, now, 80)
    assert bar.strip() == "✔"
    assert words.strip() == "✔ JobSuccess when first seen"


async def test_a_second_s_tick_keeps_the_timeline_bar_s_line_as_rendered(clock):
    from tui.monitor.widgets.detail_pane import TimelineBar

    records = sample_records(clock)
    records[0].history = _timeline_job(clock.time()).history
    app = view_app(clock, records)
    async with app.run_test(size=(160, 50)) as pilot:
        await ready(pilot)
        app.table.move_cursor(app.table.row_ids.index(records[0].job_id))
        await pilot.pause()
        app.tick_now()
        await pilot.pause()
        body = body_of(app)
        bar = next(r for r in body.content.renderables if isinstance(r, TimelineBar))
        assert "◌" in bar.plain and "●" in bar.plain
        kept = 0
        for _ in range(8):  # a 10-minute job's bar moves by a step of 4 s: most seconds keep its line
            clock.advance(1)
            app.tick_now()
            await pilot.pause()
            new = next(r for r in body.content.renderables if isinstance(r, TimelineBar))
            kept += new.layout_key == bar.layout_key
            bar = new
            assert body._strips == whole_render(body)
        assert kept >= 5
