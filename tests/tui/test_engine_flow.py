"""Engine events on screen: in-place row updates, transitions, toasts, banners, rate, pause, refresh."""

from __future__ import annotations

import socket

import pytest
from tuikit import IDS, cell_text, drawn, ready, sim_app, toasts, until, view_app, visible_ids

import tui.monitor.app
import tui.monitor.job_view
from tui.api.credentials import Credentials
from tui.core.config import Config
from tui.core.settings import default_settings
from tui.core.watchlist import WatchlistStore
from tui.monitor.launch import create_app
from tui.monitor.themes import shipped_themes_dir
from tui.monitor.widgets.job_table import FLASH
from tui.monitor.widgets.problem_banner import ProblemBanner
from tui.monitor.widgets.status_bar import StatusBar
from tui.simulator.service import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY

pytestmark = pytest.mark.anyio
SIZE = (120, 30)


@pytest.fixture(autouse=True)
def quick_toasts(monkeypatch):
    monkeypatch.setattr(tui.monitor.app, "FINISHED_BURST_SECONDS", 0.05)


def status_text(app) -> str:
    return str(app.screen.query_one(StatusBar).render())


async def test_a_poll_updates_only_the_cells_that_changed_and_the_cursor_stays(clock, simulator, watchlist):
    jobs = [simulator.create_job(fate="JobSuccess", init_seconds=0, run_seconds=600) for _ in range(4)]
    jobs.insert(1, simulator.create_job(fate="JobSuccess", init_seconds=0, run_seconds=5))
    # no real 1 s tick: on a loaded machine it landed after the fake clock moved and redrew times
    app = sim_app(clock, simulator, watchlist, ticking=False)
    async with app.run_test(size=SIZE) as pilot:
        app.add_jobs(jobs)
        await pilot.pause()
        for job in jobs:
            await app.poller.poll_job(job)
        app.refresh_view()
        app.table.select_job(jobs[3])
        table = app.table
        rows_before = list(table.row_ids)
        others = {job: [cell_text(app, job, c) for c, _ in table.layout_plan] for job in jobs if job != jobs[1]}
        updates = table.cell_updates
        await app.poller.poll_job(jobs[1])  # nothing visible changed: nothing is written
        await drawn(pilot)
        assert table.cell_updates == updates
        clock.advance(6)
        await app.poller.poll_job(jobs[1])  # a transition: that row's state, times and polled change
        await drawn(pilot)
        assert cell_text(app, jobs[1], "state") == "✔ JobSuccess"
        assert 0 < table.cell_updates - updates <= 4
        assert {job: [cell_text(app, job, c) for c, _ in table.layout_plan] for job in others} == others
        assert list(table.row_ids) == rows_before  # no row moved
        assert app.selected_job_id == jobs[3]


async def test_a_transition_highlights_its_row_briefly_and_a_finish_is_toasted(clock, simulator, watchlist):
    job = simulator.create_job(fate="JobSuccess", init_seconds=0, run_seconds=10)
    app = sim_app(clock, simulator, watchlist)
    async with app.run_test(size=SIZE) as pilot:
        app.add_jobs([job], "teaser")
        await app.poller.poll_job(job)
        clock.advance(tui.monitor.job_view.FLASH_SECONDS + 1)
        await pilot.pause()
        app.refresh_view()
        assert FLASH not in [span.style for span in app.table.get_cell(job, "state").spans]
        clock.advance(10)
        await app.poller.poll_job(job)
        await drawn(pilot)
        assert cell_text(app, job, "state") == "✔ JobSuccess"
        assert FLASH in [span.style for span in app.table.get_cell(job, "state").spans]
        assert any("Job finished: ✔ teaser: JobSuccess" in t for t in toasts(app))
        clock.advance(tui.monitor.job_view.FLASH_SECONDS + 0.1)
        app.tick_now()  # the tick expires the highlight
        await pilot.pause()
        assert FLASH not in [span.style for span in app.table.get_cell(job, "state").spans]


async def test_a_burst_of_finishes_is_summarised_in_one_toast_and_rings_the_bell(clock, simulator, watchlist):
    fates = ["JobSuccess", "JobSuccess", "JobFailed"]
    jobs = [simulator.create_job(fate=f, init_seconds=0, run_seconds=5) for f in fates]
    app = sim_app(clock, simulator, watchlist, bell=True)
    rings = []
    app.bell = lambda: rings.append(1)
    async with app.run_test(size=SIZE) as pilot:
        app.add_jobs(jobs)
        for job in jobs:
            await app.poller.poll_job(job)
        clock.advance(6)
        for job in jobs:
            await app.poller.poll_job(job)
        await drawn(pilot)
        finished = [t for t in toasts(app) if "finished" in t]
        assert finished == ["Jobs finished: 3 jobs finished: 1 ✘ JobFailed, 2 ✔ JobSuccess"]
        assert rings == [1]


async def test_an_unknown_status_code_is_shown_as_is(clock, simulator, watchlist):
    job = simulator.create_job(fate="JobSuccess", init_seconds=0, run_seconds=60)
    simulator.faults.fail_next("unknown_status")
    app = sim_app(clock, simulator, watchlist)
    async with app.run_test(size=SIZE) as pilot:
        app.add_jobs([job])
        await app.poller.poll_job(job)
        await drawn(pilot)
        assert cell_text(app, job, "state") == "? JobQueued"


async def test_a_failed_query_keeps_the_last_known_state_and_marks_the_error(clock, simulator, watchlist):
    job = simulator.create_job(fate="JobSuccess", init_seconds=0, run_seconds=60)
    app = sim_app(clock, simulator, watchlist)
    async with app.run_test(size=SIZE) as pilot:
        app.add_jobs([job])
        await app.poller.poll_job(job)
        simulator.faults.fail_next("inner_error", 5)
        await app.poller.poll_job(job)
        await drawn(pilot)
        assert cell_text(app, job, "state") == "! JobRunning"
        assert cell_text(app, job, "error").endswith("InnerError")


async def test_an_auth_failure_shows_a_banner_with_a_hint_and_recovery_clears_it(clock, simulator, watchlist):
    job = simulator.create_job()
    app = sim_app(clock, simulator, watchlist)
    async with app.run_test(size=SIZE) as pilot:
        app.add_jobs([job])
        simulator.revoke_account(DEFAULT_SECRET_ID)
        await app.poller.poll_job(job)
        await drawn(pilot)
        title, detail = app.problems["engine"]
        assert title == "Authentication problem"
        assert "AuthFailure.SecretIdNotFound" in detail and "check your credentials" in detail
        assert app.table.row_count == 1  # the UI stays usable under the banner
        simulator.add_account(DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY)
        await app.poller.poll_job(job)
        await drawn(pilot)
        assert "engine" not in app.problems
        assert any("Connection restored" in t for t in toasts(app))


async def test_a_gateway_outage_s_banner_takes_at_most_two_lines_at_80x24(clock, simulator, watchlist):
    job = simulator.create_job()
    app = sim_app(clock, simulator, watchlist)
    async with app.run_test(size=(80, 24)) as pilot:
        app.add_jobs([job])
        simulator.faults.fail_next("http_502", 1000)  # a gateway's HTML page, every attempt
        for _ in range(app.poller.network_failures_for_outage):
            await app.poller.poll_job(job)
        await drawn(pilot)
        title, detail = app.problems["engine"]
        assert title == "Network problem"
        assert detail.startswith("the endpoint answered HTTP 502 Bad Gateway — ")
        assert "html" not in detail, "the page's excerpt and type stay in the detail pane"
        banner = app.screen.query_one(ProblemBanner)
        assert 1 <= banner.outer_size.height <= 2, banner.text
        assert "<html>" in app.poller.records[job].last_error.excerpt


async def test_pause_stops_polling_and_resume_restarts_it(clock, simulator, watchlist):
    job = simulator.create_job(fate="JobSuccess", init_seconds=0, run_seconds=10**6)
    app = sim_app(clock, simulator, watchlist, start_engine=True)
    async with app.run_test(size=SIZE) as pilot:
        app.add_jobs([job])
        record = app.poller.records[job]
        await until(pilot, lambda: record.poll_count > 0, "the first poll")
        await pilot.press("p")
        await drawn(pilot)
        assert app.poller.paused and "PAUSED" in status_text(app)
        count = record.poll_count
        await pilot.pause(0.3)
        assert record.poll_count == count
        await pilot.press("p")
        await until(pilot, lambda: record.poll_count > count, "a poll after resuming")
        assert not app.poller.paused and "PAUSED" not in status_text(app)


async def test_refresh_selected_polls_even_a_finished_job_and_refresh_all_the_unfinished(clock, simulator, watchlist):
    done = simulator.create_job(fate="JobSuccess", init_seconds=0, run_seconds=0)
    app = sim_app(clock, simulator, watchlist, start_engine=True)
    async with app.run_test(size=SIZE) as pilot:
        app.add_jobs([done])
        record = app.poller.records[done]
        await until(pilot, lambda: record.poll_count == 1, "the first poll")
        assert record.status_code == "JobSuccess"
        await pilot.press("r")
        await until(pilot, lambda: record.poll_count == 2, "the refresh")  # a fresh ResultVideoUrl
        assert any("Refreshing" in t for t in toasts(app))
        await pilot.press("p")
        await pilot.press("R")
        assert any("Refreshing 0 jobs" in t for t in toasts(app))


async def test_status_bar_shows_rate_against_quota_cut_back_endpoint_and_credentials(clock, simulator, watchlist):
    job = simulator.create_job()
    app = sim_app(clock, simulator, watchlist)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        app.add_jobs([job])
        await app.poller.poll_job(job)
        app.poller.client.limiter.on_rate_limited()
        app.refresh_view()
        text = status_text(app)
        assert "/20 req/s" in text and "▼cut to 9.6" in text  # (half the default 19.2)
        assert "ap-guangzhou @ vclm.tencentcloudapi.com" in text
        assert "AKID…0000 from the test" in text
        assert DEFAULT_SECRET_KEY not in text


async def test_without_credentials_the_saved_watchlist_shows_and_nothing_polls(clock):
    app = view_app(clock, problem="no Tencent Cloud credentials found; tried: environment")
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert app.problems["credentials"][0] == "Not polling"
        assert len(visible_ids(app)) == 10
        await pilot.press("p", "r")
        assert not app.poller.paused
        assert any("Not polling: no credentials" in t for t in toasts(app))
        assert "not polling" in status_text(app)


async def test_a_drawing_failure_is_shown_not_fatal(clock, monkeypatch):
    app = view_app(clock)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)

        def broken(*_args, **_kwargs):
            raise RuntimeError("boom")

        monkeypatch.setattr(app.table, "show", broken)
        app.refresh_view()
        app.tick_now()  # the tick fails the same way, and catches it
        await pilot.pause()
        assert app.is_running
        assert any("drawing failed: RuntimeError: boom" in t for t in toasts(app))


async def test_stale_rows_are_marked_when_not_refreshed_in_time(clock):
    app = view_app(clock)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert cell_text(app, IDS["running"], "state") == "● JobRunning"
        clock.advance(60)
        app.refresh_view()
        assert cell_text(app, IDS["running"], "state") == "~ JobRunning"
        assert cell_text(app, IDS["success"], "state") == "✔ JobSuccess"


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_a_finished_jobs_refresh_error_on_a_closed_port_clears_on_the_next_start(clock, simulator, watchlist):
    jobs = [simulator.create_job(fate="JobSuccess", init_seconds=0, run_seconds=0) for _ in range(2)]
    clock.advance(1)
    first = sim_app(clock, simulator, watchlist)
    async with first.run_test(size=SIZE) as pilot:
        first.add_jobs(jobs)
        for job in jobs:
            await first.poller.poll_job(job)
        await pilot.press("q")
    # the monitor pointed at a closed port: R, every refresh refused, quit
    settings = default_settings(watchlist, Config(endpoint=f"http://127.0.0.1:{closed_port()}"))
    credentials = Credentials(DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, source="the test")
    refused = create_app(settings, clock=clock, credentials=credentials, store=WatchlistStore(watchlist),
                         start_engine=False, cursor_blink=False, theme_dirs=[shipped_themes_dir()])
    async with refused.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("R")
        for job in jobs:
            await refused.poller.poll_job(job)
        await drawn(pilot)
        assert [cell_text(refused, job, "state") for job in jobs] == ["! JobSuccess"] * 2
        assert cell_text(refused, jobs[0], "error").endswith("connect")
        await pilot.press("q")
    # reopened on a working endpoint: the old errors are asked about again, and go
    third = sim_app(clock, simulator, watchlist, start_engine=True)
    async with third.run_test(size=SIZE) as pilot:
        records = third.poller.records
        await until(pilot, lambda: len(records) == 2 and not any(r.failing for r in records.values()),
                    "the errors of the earlier run to clear")
        await drawn(pilot)
        assert [cell_text(third, job, "state") for job in jobs] == ["✔ JobSuccess"] * 2
        assert [cell_text(third, job, "error") for job in jobs] == ["", ""]
        assert third.view.counts().get("error", 0) == 0 and third.view.counts()["success"] == 2
        assert "!" not in status_text(third)


async def test_refresh_selected_while_paused_polls_that_job_now(clock, simulator, watchlist):
    jobs = [simulator.create_job(fate="JobSuccess", init_seconds=0, run_seconds=10**6) for _ in range(2)]
    app = sim_app(clock, simulator, watchlist, start_engine=True)
    async with app.run_test(size=SIZE) as pilot:
        app.add_jobs(jobs)
        records = [app.poller.records[job] for job in jobs]
        await until(pilot, lambda: all(r.poll_count for r in records), "the first polls")
        await pilot.press("p")
        await drawn(pilot)
        counts = [r.poll_count for r in records]
        app.table.select_job(jobs[1])
        await pilot.press("r")
        assert any("(paused: only this one)" in t for t in toasts(app))
        await until(pilot, lambda: records[1].poll_count > counts[1], "the paused refresh")
        assert records[0].poll_count == counts[0] and app.poller.paused
