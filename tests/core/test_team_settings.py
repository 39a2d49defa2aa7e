"""Which team a process joins: --solo, --shared URL, or by default this machine's (options beat the config)."""

from __future__ import annotations

import argparse
import sys

import pytest

from tui.api.clock import FakeClock
from tui.api.credentials import Credentials
from tui.api.errors import ConfigError
from tui.core import paths
from tui.core.settings import build_team, load_settings
from tui.core.team import SoloTeam, account_key, shown_url
from tui.core.team_local import LocalTeam

CREDENTIALS = Credentials("AKIDteamsettings00000000000000000000", "not-a-real-key", source="test")
URL = "redis://:hunter2@cache.internal:6379/0"


def settings_for(tmp_path, config: str = "", **options):
    path = tmp_path / "config.toml"
    path.write_text(config)
    return load_settings(argparse.Namespace(config=path, **options), env={})


def test_by_default_every_process_of_the_machine_shares_through_the_data_directory(tmp_path):
    settings = settings_for(tmp_path)
    team = build_team(settings, CREDENTIALS, clock=FakeClock())
    assert isinstance(team, LocalTeam)
    assert team.path == paths.data_dir() / "team-v2.sqlite3"  # (one file per schema version)
    assert team.account == account_key(settings.endpoint.url, CREDENTIALS.secret_id)


@pytest.mark.parametrize(("config", "options"), [("solo = true\n", {}), ("", {"solo": True}),
                                                 (f'shared = "{URL}"\n', {"solo": True})])
def test_solo_shares_nothing_and_the_option_beats_the_config(tmp_path, config, options):
    settings = settings_for(tmp_path, config, **options)
    assert settings.solo and settings.shared is None
    assert isinstance(build_team(settings, CREDENTIALS), SoloTeam)


def test_shared_from_the_option_beats_solo_in_the_config(tmp_path):
    settings = settings_for(tmp_path, "solo = true\n", shared=URL)
    assert (settings.solo, settings.shared) == (False, URL)


def test_shared_without_the_redis_side_is_a_config_error_with_the_password_masked(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tui.core.team_redis", None)  # (as if that module were missing)
    settings = settings_for(tmp_path, f'shared = "{URL}"\n')
    with pytest.raises(ConfigError) as raised:
        build_team(settings, CREDENTIALS)
    assert "redis://***@cache.internal:6379/0" in str(raised.value) and "hunter2" not in str(raised.value)


@pytest.mark.parametrize(("url", "shown"), [
    ("redis://:hunter2@host:6379/1", "redis://***@host:6379/1"),
    ("rediss://alice:hunter2@host/0", "rediss://***@host/0"),
    ("redis://host:6379/0?password=hunter2&db=1", "redis://host:6379/0?password=***&db=1"),
    ("redis://host", "redis://host"),
])
def test_a_shared_url_is_shown_without_its_password(url, shown):
    assert shown_url(url) == shown


def test_a_shared_url_that_is_not_redis_in_the_config_is_refused_when_read(tmp_path):
    with pytest.raises(ConfigError, match=r"shared: .*\*\*\*@host.* is not a Redis or Valkey URL") as raised:
        settings_for(tmp_path, 'shared = "https://bob:hunter2@host/"\n')
    assert "hunter2" not in str(raised.value)
