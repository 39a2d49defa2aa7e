"""Where files live, by the XDG conventions (overridable by environment for tests)."""

from __future__ import annotations

import os
from pathlib import Path

APP_DIR = "vclm-watch"


def _base(env_var: str, default: str) -> Path:
    value = os.environ.get(env_var)
    if value and os.path.isabs(value):
        return Path(value)
    return Path.home() / default


def config_dir() -> Path:
    return _base("XDG_CONFIG_HOME", ".config") / APP_DIR


def data_dir() -> Path:
    return _base("XDG_DATA_HOME", ".local/share") / APP_DIR


def config_path() -> Path:
    return config_dir() / "config.toml"


def watchlist_path() -> Path:
    return data_dir() / "watchlist.toml"


def demo_watchlist_path() -> Path:
    """The demo's own watchlist: never the user's."""
    return data_dir() / "demo" / "watchlist.toml"


def user_themes_dir() -> Path:
    return config_dir() / "themes"


def state_path() -> Path:
    """What the monitor remembers between runs (the theme picked with `t`): never the config file."""
    return data_dir() / "state.toml"
