"""The overview screen (o): what it shows of a recorded hour, that its numbers are the history's, and
that it follows the engine's events repainting only the sections that changed."""

from __future__ import annotations

import pytest
from overview_history import INNER_SPIKE, THROTTLING, recorded_history, replay_requests
from test_terminal_output import CapturingTerminal, run_captured
from tuikit import ready, sim_app

from tui.api.credentials import Credentials
from tui.core.jobstate import JobRecord, Transition
from tui.core.settings import default_settings
from tui.monitor.commands import monitor_commands
from tui.monitor.launch import create_app
from tui.monitor.screens.overview import OverviewScreen
from tui.monitor.themes import shipped_themes_dir
from tui.monitor.widgets.diff_static import DiffStatic
from tui.simulator.service import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY
from tui.simulator.transport import SimulatorTransport

NOW_OFFSET = 42  # 16:00:42: the minute under way is 42 s old


def overview_app(clock, simulator, records, theme: str | None = None):
    """The monitor on the simulator (not polling: the engine is driven by hand) over `records`."""
    return create_app(default_settings(None), clock=clock, store=None, records=records, theme=theme,
                      credentials=Credentials(DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, source="the test"),
                      transport=SimulatorTransport(simulator), theme_dirs=[shipped_themes_dir()],
                      start_engine=False, ticking=False, cursor_blink=False)


def recorded_app(clock, simulator, theme: str | None = None):
    clock.advance(NOW_OFFSET)
    history = recorded_history(clock)
    app = overview_app(clock, simulator, history.records, theme)
    replay_requests(app.setup.overview, clock)
    return app, history


async def open_overview(pilot) -> OverviewScreen:
    await ready(pilot)
    await pilot.press("o")
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, OverviewScreen)
    return screen


def section(screen: OverviewScreen, name: str) -> str:
    content = screen.query_one(f"#ov-{name}", DiffStatic).content
    lines = getattr(content, "renderables", [content])
    return "\n".join(line.plain for line in lines)


# -- snapshots ---------------------------------------------------------------------------------

@pytest.mark.parametrize("theme", ["vclm-dark", "vclm-high-contrast"])
@pytest.mark.parametrize("size", [(80, 24), (160, 45)], ids=["80x24", "160x45"])
def test_overview_of_a_recorded_hour(snap_compare, clock, simulator, theme, size):
    """An InnerError spike 25-22 min ago, throttling 15-12 min ago, jobs slower in the last 10 min."""
    app, _history = recorded_app(clock, simulator, theme)
    assert snap_compare(app, terminal_size=size, run_before=open_overview)


# -- behaviour ---------------------------------------------------------------------------------

@pytest.mark.anyio
async def test_o_opens_the_overview_and_o_or_escape_closes_it(clock, simulator):
    app, _history = recorded_app(clock, simulator)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_overview(pilot)
        await pilot.press("o")
        assert not isinstance(app.screen, OverviewScreen)
        await open_overview(pilot)
        await pilot.press("escape")
        assert not isinstance(app.screen, OverviewScreen)
    names = [name for name, _help, _run in monitor_commands(app)]
    assert "Overview" in names  # the palette offers it too


@pytest.mark.anyio
async def test_the_numbers_shown_are_the_recorded_history_s(clock, simulator):
    app, history = recorded_app(clock, simulator)
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await open_overview(pilot)
        # time to finish, by hand (nearest rank): the 12 recent jobs took 420, 460, ... 860 s:
        # p50 = the 6th = 620 s, p95 = the 12th = 860 s; the hour before's 36 sorted run
        # 120 ... 233 s: p50 = the 18th = 177 s, p95 = the 35th = 232 s, max 233 s
        assert sorted(history.recent)[5] == 620 and sorted(history.baseline)[17] == 177
        durations = section(screen, "durations")
        assert "last 10 min  p50 10m20s p95 14m20s max 14m20s n=12" in durations
        assert "hour before  p50  2m57s p95  3m52s max  3m53s n=36" in durations
        assert "3.5× slower" in durations  # 620 / 177

        # counts by state, by hand: of the 36 earlier finishes i % 9 == 4 failed (4) and i % 17 == 8
        # was rejected (2); of the 12 recent j % 5 == 3 failed (2); 14 + the oldest running, 4 init,
        # 3 failing (InnerError)
        states = section(screen, "states")
        for name, count in [("running", 15), ("initialising", 4), ("succeeded", 30 + 10), ("failed", 4 + 2),
                            ("rejected by moderation", 2), ("query failing", 3), ("not answered yet", 0)]:
            assert f"{name:<24}{count:>6}" in states
        assert sum(1 for r in history.records if r.terminal) == 40 + 6 + 2

        # finishes per minute: every minute of the last hour as recorded
        numbers = app.setup.overview.numbers(60)
        for ago, minute in enumerate(reversed(numbers.minutes)):
            assert minute.finished == history.finishes.get(ago, {}), f"{ago} min ago"

        # the spike and the throttling episode, with the minute each peaked (16:00 - 23 min, - 14 min)
        errors = section(screen, "errors")
        assert f"peak {max(INNER_SPIKE.values()):>5} 15:37" in errors
        assert f"from 15:35  total {sum(INNER_SPIKE.values()):>6}" in errors  # the spike began 25 min ago
        requests = section(screen, "requests")
        assert f"peak {max(r for _s, r, _c in THROTTLING.values()):>5} 15:46" in requests
        assert sum(m.cut_backs for m in numbers.minutes) == sum(c for _s, _r, c in THROTTLING.values())

        oldest = section(screen, "oldest")
        assert "waiting 47m since 15:13" in oldest and history.oldest_id in oldest
        assert "70 jobs" in section(screen, "title")


@pytest.mark.anyio
async def test_it_follows_engine_events_repainting_only_the_sections_that_changed(clock, simulator):
    job_id = simulator.create_job(fate="JobSuccess", init_seconds=5, run_seconds=600)
    app = overview_app(clock, simulator, [])
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await open_overview(pilot)
        assert f"{'initialising':<24}{0:>6}" in section(screen, "states")
        before = dict(screen.drawn)

        app.poller.add(job_id)
        await app.poller.poll_job(job_id)  # one request, answered: JobInit
        await pilot.pause()
        assert dict(screen.drawn) == before  # events are drawn by the (1-second) refresh, not one by one

        screen.refresh_numbers()
        changed = {name for name, n in screen.drawn.items() if n != before.get(name, 0)}
        assert changed == {"ov-title", "ov-rate", "ov-requests", "ov-states", "ov-oldest"}  # one request: 0.2/s
        assert f"{'initialising':<24}{1:>6}" in section(screen, "states")
        lines = section(screen, "requests").splitlines()
        assert "    1/min" in lines[0] and "    1/min" in lines[1]  # sent, accepted

        clock.advance(10)  # the simulator's job is running now
        await app.poller.poll_job(job_id)
        screen.refresh_numbers()
        assert f"{'running':<24}{1:>6}" in section(screen, "states")
        assert "    2/min" in section(screen, "requests").splitlines()[0]

        drawn = dict(screen.drawn)
        screen.refresh_numbers()  # nothing new: nothing repainted
        assert dict(screen.drawn) == drawn


@pytest.mark.anyio
async def test_the_oldest_job_s_label_is_shown_as_it_is_never_as_markup(clock, simulator):
    record = JobRecord(job_id="ab" * 16, label="[red]not red[/red] [b]x", added_at=clock.time() - 60,
                       status_code="JobRunning")
    record.history = [Transition(clock.time() - 60, None, "JobRunning")]
    app = overview_app(clock, simulator, [record])
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_overview(pilot)
        assert "[red]not red[/red] [b]x" in section(screen, "oldest")
        assert "waiting 1m" in section(screen, "oldest")


@pytest.mark.anyio
async def test_changes_on_the_table_beneath_send_nothing_of_the_overview_to_the_terminal(clock, simulator):
    app, _history = recorded_app(clock, simulator)

    async def script(pilot) -> None:
        screen = await open_overview(pilot)
        await pilot.pause()
        CapturingTerminal.written.clear()
        app.poller.pause()  # the status bar beneath says so at the tick
        app.tick_now()
        await pilot.pause()
        await pilot.pause()
        sent = "".join(CapturingTerminal.written)
        assert "peak" not in sent and "Requests" not in sent and "To finish" not in sent
        clock.advance(60)
        screen.refresh_numbers()  # its own news (a new minute) is drawn
        await pilot.pause()
        await pilot.pause()
        assert "16:01" in "".join(CapturingTerminal.written)

    await run_captured(app, (160, 45), script)


@pytest.mark.anyio
async def test_request_outcomes_per_minute_are_shown_again_after_a_restart(clock, simulator, watchlist):
    job_id = simulator.create_job(fate="JobSuccess", init_seconds=5, run_seconds=6000)
    first = sim_app(clock, simulator, watchlist)
    async with first.run_test(size=(160, 45)) as pilot:
        await ready(pilot)
        first.add_jobs([job_id])
        simulator.faults.fail_next("rate_limit", 2)
        await first.poller.poll_job(job_id)  # refused twice, answered the third time
        clock.advance(60)
        simulator.faults.fail_next("inner_error", 4)
        await first.poller.poll_job(job_id)  # four InnerErrors
        clock.advance(60)
        await first.poller.poll_job(job_id)
        shown = first.setup.overview.numbers().minutes
        screen = await open_overview(pilot)
        requests, errors = section(screen, "requests"), section(screen, "errors")
    assert [m.sent for m in shown[-3:]] == [3, 4, 1] and shown[-2].errors == {"InnerError": 4}

    second = sim_app(clock, simulator, watchlist)  # quitting wrote them; this one polls nothing
    async with second.run_test(size=(160, 45)) as pilot:
        screen = await open_overview(pilot)
        assert second.setup.overview.numbers().minutes == shown
        assert (section(screen, "requests"), section(screen, "errors")) == (requests, errors)
