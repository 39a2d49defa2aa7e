"""What the once-a-second tick costs: no cell written when no text changed, display states and the
status counts kept up to date from events instead of recomputed over every job, and the table's
row order kept across cell updates."""

from __future__ import annotations

from collections import Counter

import pytest
from tuikit import cell_text, ready, sample_records, view_app

import tui.monitor.job_view
from tui.core.jobstate import JobRecord

pytestmark = pytest.mark.anyio


def many_records(clock, n: int = 300) -> list[JobRecord]:
    now = clock.time()
    return [JobRecord(job_id=f"{k:032x}", label=f"job {k}", added_at=now, status_code="JobRunning",
                      status_msg="处理中", state_since=now - 5, last_polled=now - 1) for k in range(n)]


def counting_display_state(monkeypatch) -> list[int]:
    calls = [0]
    real = tui.monitor.job_view.display_state

    def counted(*args, **kwargs):
        calls[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(tui.monitor.job_view, "display_state", counted)
    return calls


def counts_from_scratch(app) -> dict[str, int]:
    return dict(Counter(app.view.display_states(app.clock.time()).values()))


def kept_counts(app) -> dict[str, int]:
    return {state: n for state, n in app.view.state_counts.items() if n}


async def test_a_tick_with_nothing_changed_writes_no_cell_and_recomputes_no_state(clock, monkeypatch):
    app = view_app(clock, many_records(clock))
    async with app.run_test(size=(120, 30)) as pilot:
        await ready(pilot)
        table = app.table
        app.tick_now()
        await pilot.pause()
        updates = table.cell_updates
        calls = counting_display_state(monkeypatch)
        app.tick_now()  # the clock has not moved: no text changes
        await pilot.pause()
        assert table.cell_updates == updates
        assert calls[0] == 0  # no display state recomputed for 300 jobs


async def test_a_tick_as_time_passes_rewrites_only_the_times_that_changed(clock):
    app = view_app(clock, many_records(clock))
    async with app.run_test(size=(120, 30)) as pilot:
        await ready(pilot)
        table = app.table
        job = many_records(clock)[0].job_id
        before = cell_text(app, job, "polled")
        rows = table.row_ids
        updates = table.cell_updates
        clock.advance(1)
        app.tick_now()
        await pilot.pause()
        assert cell_text(app, job, "polled") != before
        written = table.cell_updates - updates
        shown = [key for key, _ in table.layout_plan]
        timed = len({"in_state", "changed", "polled"} & set(shown))
        assert 0 < written <= timed * (table.size.height + 2)  # times of the rows on screen only
        assert table.row_ids is rows  # the row order did not change, and was not rebuilt for the new cells


async def test_status_counts_follow_staleness_as_time_passes_without_recounting_every_tick(clock, monkeypatch):
    app = view_app(clock, many_records(clock))
    async with app.run_test(size=(120, 30)) as pilot:
        await ready(pilot)
        assert kept_counts(app) == counts_from_scratch(app) == {"running": 300}
        calls = counting_display_state(monkeypatch)
        clock.advance(1)
        app.tick_now()
        assert calls[0] == 0  # nobody can have gone stale yet
        clock.advance(app.view.threshold + 1)  # now every job is overdue
        app.tick_now()
        assert calls[0] >= 300
        assert kept_counts(app) == counts_from_scratch(app) == {"stale": 300}
        assert "⏸" not in str(app.screen.query_one("#status").render())


async def test_status_counts_follow_engine_events_and_removals(clock):
    records = sample_records(clock)
    app = view_app(clock, records)
    async with app.run_test(size=(120, 30)) as pilot:
        await ready(pilot)
        assert kept_counts(app) == counts_from_scratch(app)
        app.poller.remove(records[0].job_id)
        app.tick_now()  # the clock has not moved: the counts come from the removal event alone
        assert kept_counts(app) == counts_from_scratch(app)
        assert sum(kept_counts(app).values()) == len(records) - 1
        clock.advance(1)
        app.tick_now()
        assert kept_counts(app) == counts_from_scratch(app)


async def test_a_job_going_stale_on_a_tick_moves_up_in_the_state_sort(clock):
    from tuikit import visible_ids

    records = many_records(clock, 40)
    app = view_app(clock, records)
    async with app.run_test(size=(120, 30)) as pilot:
        await ready(pilot)
        app.set_sort("state")
        await pilot.pause()
        assert visible_ids(app)[0] == records[0].job_id
        late = records[25]
        late.last_polled = clock.time() - app.view.threshold  # due to go stale within the next second
        app.view.touch(late.job_id)  # as the engine's JobUpdated would
        app.draw_changes()
        assert app.view.states[late.job_id] == "running"
        clock.advance(1)
        app.tick_now()
        await pilot.pause()
        assert app.view.states[late.job_id] == "stale"
        assert visible_ids(app)[0] == late.job_id  # stale sorts before running
        assert kept_counts(app) == counts_from_scratch(app) == {"stale": 1, "running": 39}


async def test_a_tick_renders_again_only_the_time_cells_and_a_row_the_engine_touched_whole(clock):
    app = view_app(clock, many_records(clock))
    async with app.run_test(size=(120, 30)) as pilot:
        await ready(pilot)
        table = app.table
        shown = [key for key, _ in table.layout_plan]
        timed = len({"in_state", "changed", "polled"} & set(shown))
        on_screen = table.size.height - 1  # the header is not a row
        assert timed and on_screen < 300
        rendered = table.cells_rendered
        clock.advance(1)
        app.tick_now()
        await pilot.pause()
        assert table.cells_rendered - rendered == timed * on_screen  # the times of the rows on screen, nothing else
        first = table.row_ids[0]
        app.poller.set_label(first, "renamed")  # an engine event: this row changed, not only its times
        rendered = table.cells_rendered
        clock.advance(1)
        app.tick_now()
        await pilot.pause()
        assert cell_text(app, first, "label") == "renamed"
        assert table.cells_rendered - rendered == timed * on_screen + len(shown) - timed
