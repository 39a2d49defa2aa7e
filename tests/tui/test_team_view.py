"""Team mode in the monitor: the status bar says who shares the quota, a row and the detail pane
say when an answer came from another vclm-watch, and a team that cannot be reached has a banner."""

from __future__ import annotations

import pytest
from tuikit import cell_text, drawn, sim_app

from tui.api.credentials import Credentials
from tui.core.settings import build_client, build_poller, build_team, default_settings
from tui.core.team_local import LocalTeam
from tui.monitor.widgets.detail_pane import DetailPane
from tui.monitor.widgets.status_bar import StatusBar
from tui.simulator.service import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY
from tui.simulator.transport import SimulatorTransport

pytestmark = pytest.mark.anyio

SIZE = (160, 45)
CREDENTIALS = Credentials(DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, source="the test")


async def test_an_answer_another_process_fetched_is_shown_as_such_without_a_request(clock, simulator, watchlist):
    job = simulator.create_job(init_seconds=0, run_seconds=10**6)
    settings = default_settings(watchlist)
    other = build_poller(settings, build_client(settings, CREDENTIALS, transport=SimulatorTransport(simulator), clock=clock),
                         clock=clock, team=build_team(settings, CREDENTIALS, clock=clock))
    other.add(job)
    app = sim_app(clock, simulator, watchlist, team=build_team(settings, CREDENTIALS, clock=clock))
    async with app.run_test(size=SIZE) as pilot:
        app.add_jobs([job])
        await other.poll_job(job)  # another monitor on the account, on this machine
        await app.poller.run(deadline=clock.monotonic() + 0.01)
        await drawn(pilot)
        record = app.poller.records[job]
        assert (record.status_code, record.poll_count) == ("JobRunning", 0)
        assert record.shared_from == other.team.team.member
        assert cell_text(app, job, "polled").endswith("⇄")
        assert "local ×2" in str(app.screen.query_one(StatusBar).render())
        app.table.select_job(job)
        await pilot.press("enter")
        await pilot.pause()
        body = app.screen.query_one(DetailPane).text
    await other.team.close()
    assert simulator.stats.asked[job] == 1
    assert f"from another vclm-watch on this account (member {record.shared_from})" in body


async def test_a_team_file_that_cannot_be_used_has_a_banner_saying_why_and_at_what_share(clock, simulator, watchlist, tmp_path):
    broken = tmp_path / "team.sqlite3"
    broken.mkdir()
    job = simulator.create_job(init_seconds=0, run_seconds=10**6)
    team = LocalTeam(broken, "0123456789abcdef", clock=clock)
    app = sim_app(clock, simulator, watchlist, team=team)
    async with app.run_test(size=SIZE) as pilot:
        app.add_jobs([job])
        await app.poller.run(deadline=clock.monotonic() + 0.5)  # still polls, alone
        app.tick_now()
        await drawn(pilot)
        title, detail = app.problems["team"]
        status = str(app.screen.query_one(StatusBar).render())
    assert app.poller.records[job].poll_count >= 1
    assert title == "Team mode: polling alone"
    assert str(broken) in detail and "keeping to 4.8 req/s" in detail  # (19.2 ÷ 4: it never saw how many share the quota)
    assert "alone 4.8 req/s" in status


async def test_alone_or_solo_the_status_bar_says_nothing_of_a_team(clock, simulator, watchlist):
    app = sim_app(clock, simulator, watchlist, team=build_team(default_settings(watchlist), CREDENTIALS, clock=clock))
    async with app.run_test(size=SIZE) as pilot:
        app.tick_now()
        await drawn(pilot)
        status = str(app.screen.query_one(StatusBar).render())
    assert "local" not in status and "alone" not in status and "team" not in app.problems
