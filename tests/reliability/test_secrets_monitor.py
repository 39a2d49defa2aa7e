"""Secrets in the monitor: the SecretKey and token appear nowhere on screen (table, detail pane,
banner, status bar, toasts) nor in anything copied, whatever the jobs and errors shown."""

from __future__ import annotations

import pytest

from tui.api.clock import FakeClock
from tui.api.credentials import Credentials
from tui.core.settings import default_settings
from tui.core.watchlist import WatchlistStore
from tui.monitor.launch import create_app
from tui.monitor.themes import shipped_themes_dir
from tui.simulator.service import Account, Simulator
from tui.simulator.transport import SimulatorTransport

pytestmark = pytest.mark.anyio

SECRET_ID = "AKIDreliability0000000000000000000"
SECRET_KEY = "SeCrEtKeY-must-never-show-7f3a9c1e5b"
TOKEN = "SeSsIoNtOkEn-must-never-show-4d2e8a6c0b"
COPIES = ("job_id", "request_id", "url", "reproduce")


def assert_no_secret(text: str) -> None:
    for secret in (SECRET_KEY, TOKEN):
        assert secret not in text
        assert secret[4:20] not in text


async def test_nothing_on_screen_or_copied_shows_the_key_or_token(tmp_path, monkeypatch) -> None:
    clock = FakeClock()
    sim = Simulator(seed=5, clock=clock, accounts={SECRET_ID: Account(SECRET_KEY, frozenset({TOKEN}))})
    done = sim.create_job(fate="JobSuccess", init_seconds=0, run_seconds=0)
    running = sim.create_job(init_seconds=1e6)
    missing = sim.phantom_job_id()
    jobs = [done, running, missing]
    app = create_app(default_settings(tmp_path / "watchlist.toml"), clock=clock,
                     credentials=Credentials(SECRET_ID, SECRET_KEY, TOKEN, source="the test"),
                     transport=SimulatorTransport(sim), store=WatchlistStore(tmp_path / "watchlist.toml"),
                     start_engine=False, cursor_blink=False, theme_dirs=[shipped_themes_dir()])
    copied: list[str] = []
    monkeypatch.setattr(app, "copy_to_clipboard", copied.append)
    shown: list[str] = []
    async with app.run_test(size=(180, 40)) as pilot:
        app.add_jobs(jobs, "mine")
        for job in jobs:
            await app.poller.poll_job(job)
        sim.revoke_account(SECRET_ID)  # every job now fails alike: the banner
        await app.poller.poll_job(running)
        await pilot.pause()
        app.refresh_view()
        for job in jobs:
            app.table.select_job(job)
            await pilot.pause()
            if not app.detail_visible:
                app.action_toggle_detail()
            await pilot.pause()
            shown.append(app.export_screenshot())
            for what in COPIES:
                app.monitor.action_copy(what)
        app.action_help()
        await pilot.pause()
        shown.append(app.export_screenshot())
    assert app.problems, "the banner never went up: the test would prove less than it says"
    assert len(copied) >= len(jobs) * 2
    for text in shown + copied + [repr(app.problems)] + [" ".join(n) for n in app.notices]:
        assert_no_secret(text)
