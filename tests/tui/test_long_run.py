"""Days, not minutes: a monitor left polling draws once a second what routine polls changed, lays
nothing out again when only times move, and keeps its render caches to a screenful."""

from __future__ import annotations

import pytest
from textual.widget import Widget
from tuikit import cell_text, drawn, ready, sim_app, view_app

from tui.core.jobstate import JobRecord

pytestmark = pytest.mark.anyio
SIZE = (120, 30)
WIDE = (160, 40)  # the detail pane beside the table


def running_jobs(simulator, n: int) -> list[str]:
    return [simulator.create_job(fate="JobSuccess", init_seconds=0, run_seconds=1e9) for _ in range(n)]


async def test_a_poll_that_finds_a_job_as_it_was_waits_for_the_tick_instead_of_drawing_a_frame(clock, simulator,
                                                                                               watchlist):
    jobs = running_jobs(simulator, 3)
    app = sim_app(clock, simulator, watchlist)
    async with app.run_test(size=SIZE) as pilot:
        app.add_jobs(jobs)
        for job in jobs:
            await app.poller.poll_job(job)
        await drawn(pilot)
        clock.advance(5)
        app.tick_now()
        before = cell_text(app, jobs[0], "polled")
        assert before == "5s ago"
        await app.poller.poll_job(jobs[0])  # still JobRunning: only its poll time and count moved
        assert app.settled  # no draw of its own was asked for...
        await pilot.pause()
        assert cell_text(app, jobs[0], "polled") == before
        app.tick_now()  # ...the next tick draws it
        assert cell_text(app, jobs[0], "polled") == "now"


async def test_a_state_change_or_a_failure_is_still_drawn_at_once(clock, simulator, watchlist):
    jobs = running_jobs(simulator, 2)
    app = sim_app(clock, simulator, watchlist)
    async with app.run_test(size=SIZE) as pilot:
        app.add_jobs(jobs)
        for job in jobs:
            await app.poller.poll_job(job)
        await drawn(pilot)
        simulator.set_fate(jobs[0], run_seconds=1)
        clock.advance(5)
        await app.poller.poll_job(jobs[0])
        assert not app.settled
        await drawn(pilot)
        assert cell_text(app, jobs[0], "state") == "✔ JobSuccess"
        url = app.poller.records[jobs[0]].result_video_url
        clock.advance(60)
        await app.poller.poll_job(jobs[0])  # r on a finished job: the same state, a fresh URL
        assert app.poller.records[jobs[0]].result_video_url != url
        assert not app.settled
        await drawn(pilot)
        simulator.revoke_account(app.setup.client.credentials.secret_id)
        await app.poller.poll_job(jobs[1])
        assert not app.settled
        await drawn(pilot)
        assert cell_text(app, jobs[1], "state").startswith("!")


@pytest.fixture
def layouts(monkeypatch) -> list[str]:
    """The widgets that asked for the screen to be laid out again."""
    asked: list[str] = []
    real = Widget.refresh

    def refresh(self, *regions, layout: bool = False, **kwargs):
        if layout:
            asked.append(type(self).__name__)
        return real(self, *regions, layout=layout, **kwargs)

    monkeypatch.setattr(Widget, "refresh", refresh)
    return asked


async def test_ticks_and_polls_that_move_only_times_and_the_rate_lay_nothing_out(clock, simulator, watchlist,
                                                                                  layouts):
    jobs = running_jobs(simulator, 4)
    app = sim_app(clock, simulator, watchlist)
    async with app.run_test(size=WIDE) as pilot:
        app.add_jobs(jobs)
        for job in jobs:
            await app.poller.poll_job(job)
        clock.advance(12)  # "12s ago": the widths of the times stay the same from here
        app.tick_now()
        await drawn(pilot)
        assert app.detail_visible and app.selected_job_id == jobs[0]
        status = str(app.screen.query_one("#status").render())
        layouts.clear()
        for n in range(6):
            clock.advance(1)
            await app.poller.poll_job(jobs[n % 4])  # the rate on the status bar moves
            app.tick_now()
            await pilot.pause()
        assert str(app.screen.query_one("#status").render()) != status  # the status bar was redrawn...
        assert layouts == []  # ...and nothing asked for a layout


async def test_a_frame_of_the_table_works_out_its_style_once_not_once_per_line(clock, monkeypatch):
    import textual.dom

    now = clock.time()
    records = [JobRecord(job_id=f"{k:032x}", label=f"job {k}", added_at=now, status_code="JobRunning",
                         status_msg="处理中", state_since=now - 5, last_polled=now - 1) for k in range(300)]
    app = view_app(clock, records)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        table = app.table
        real = textual.dom.DOMNode.rich_style
        asked: list[object] = []

        def counted(node):
            if node is table:
                asked.append(node)
            return real.fget(node)

        monkeypatch.setattr(textual.dom.DOMNode, "rich_style", property(counted))
        clock.advance(1)
        app.tick_now()  # every row's "polled" time changes: every line of the table is drawn again
        await pilot.pause()
        assert table.cell_updates and len(asked) <= 2, len(asked)


async def test_a_changed_cell_repaints_its_own_cell_not_its_row_nor_the_other_lines(clock):
    from textual.geometry import Region
    from tuikit import IDS

    app = view_app(clock)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        table = app.table
        await pilot.pause()
        drawn_lines: list[int] = []
        real_render_line, real_refresh = table.render_line, table.refresh
        table.render_line = lambda y: drawn_lines.append(y) or real_render_line(y)
        regions: list[tuple[Region, ...]] = []
        table.refresh = lambda *r, **kw: regions.append(r) or real_refresh(*r, **kw)
        app.set_label(IDS["failed"], "renamed")  # one cell of one row changes
        await pilot.pause()
        await pilot.pause()
        line = table.row_ids.index(IDS["failed"]) + 1  # below the header
        x = sum(width + 2 for key, width in table.layout_plan[:[k for k, _ in table.layout_plan].index("label")])
        label_width = dict(table.layout_plan)["label"] + 2
        assert regions == [(Region(x, line, label_width, 1),)]  # the label cell alone is repainted
        assert drawn_lines and set(drawn_lines) == {line}  # the other lines were not drawn again
        assert cell_text(app, IDS["failed"], "label") == "renamed"
