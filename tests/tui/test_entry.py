"""Starting the monitor from the command line: bad config, no credentials, the demo."""

from __future__ import annotations

import asyncio

import pytest
from tuikit import ready

import tui.monitor.app
import tui.monitor.launch
from tui.cli import build_parser


@pytest.fixture
def started(monkeypatch):
    """Capture the app `run_monitor` builds instead of running it in the terminal."""
    apps = []
    monkeypatch.setattr(tui.monitor.app.VclmWatchApp, "run", lambda self: apps.append(self))
    yield apps
    for app in apps:  # never run, so never shut down: close their HTTP clients here
        if app.setup.client is not None:
            asyncio.run(app.setup.client.aclose())


def test_a_bad_config_file_stops_with_status_2_and_names_the_file(tmp_path, capsys, started):
    config = tmp_path / "config.toml"
    config.write_text('colour = "red"\n')
    assert tui.monitor.launch.run_monitor(build_parser().parse_args(["--config", str(config)])) == 2
    error = capsys.readouterr().err
    assert str(config) in error and "unknown key 'colour'" in error
    assert started == []


@pytest.mark.parametrize(("options", "expected"), [
    (["--region", "bad region!"], "bad region 'bad region!' (from --region)"),
    (["--endpoint", "127.0.0.1:38555"], "did you mean 'http://127.0.0.1:38555'?"),
])
def test_a_malformed_region_or_endpoint_stops_the_monitor_at_once_with_status_2(capsys, started, options, expected):
    assert tui.monitor.launch.run_monitor(build_parser().parse_args(options)) == 2
    assert expected in capsys.readouterr().err
    assert started == []


def test_without_credentials_the_monitor_still_opens_but_does_not_poll(started):
    assert tui.monitor.launch.run_monitor(build_parser().parse_args([])) == 0
    (app,) = started
    assert not app.setup.can_poll and not app.setup.start_engine
    assert "no Tencent Cloud credentials found; tried:" in app.setup.startup_problem
    assert app.setup.credentials_note == "none found"


def test_credentials_from_the_environment_are_named_never_shown(monkeypatch, started):
    monkeypatch.setenv("TENCENTCLOUD_SECRET_ID", "AKIDenvironment000000000000000001234")
    monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", "not-to-be-shown-anywhere")
    tui.monitor.launch.run_monitor(build_parser().parse_args(["--theme", "vclm-light", "--region", "ap-singapore"]))
    (app,) = started
    assert app.setup.credentials_note == "AKID…1234 from environment"
    assert app.setup.theme == "vclm-light" and app.settings.region == "ap-singapore"


def test_demo_flag_builds_the_demo(started):
    tui.monitor.launch.run_monitor(build_parser().parse_args(["--demo"]))
    (app,) = started
    assert app.setup.endpoint_label == "in-process simulator (demo)" and app.setup.can_poll
    assert len(app.store.load()) == 12


@pytest.mark.anyio
async def test_monitor_keys_do_nothing_while_a_dialog_is_open(clock):
    from tuikit import view_app

    app = view_app(clock)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        count = len(app.poller.records)
        await pilot.press("a", "tab")  # focus the label field ...
        await pilot.press("d", "p", "q")  # ... these are letters of a label, not commands
        assert len(app.poller.records) == count and not app.poller.paused and app.is_running
        assert app.screen.query_one("#add-label").value == "dpq"
