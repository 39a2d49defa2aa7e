"""The configuration file: a strict TOML table; unknown keys and wrong types are errors."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from tui.api.credentials import check_region
from tui.api.endpoint import resolve_endpoint
from tui.api.errors import ConfigError
from tui.api.ratelimit import DEFAULT_TARGET_RATE, validate_rate
from tui.core import paths

ALL_COLUMNS = ("job", "label", "state", "message", "in_state", "changed", "polled", "error")


@dataclass
class Config:
    region: str | None = None
    endpoint: str | None = None
    regional_endpoint: bool = False
    profile: str | None = None
    rate: float = DEFAULT_TARGET_RATE
    min_interval: float = 2.0  # seconds between two polls of the same unfinished job, at least
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    not_found_grace: float = 60.0  # check --wait: seconds an unknown id (TaskNotExist) is asked again
    theme: str = "vclm-dark"
    bell: bool = False
    columns: list[str] = field(default_factory=lambda: list(ALL_COLUMNS))
    watchlist: str | None = None
    history_days: float = 30.0  # jobs no longer watched keep their states and history this long
    export_dir: str | None = None  # where the monitor's `e` saves the screen (None: the current directory)
    shared: str | None = None  # team mode through this Redis/Valkey URL (None: the processes of this machine)
    solo: bool = False  # team mode off: this process counts the quota alone
    path: Path | None = None  # where it was read from (not a key of the file)


_TYPES: dict[str, tuple[type, ...]] = {
    "region": (str,),
    "endpoint": (str,),
    "regional_endpoint": (bool,),
    "profile": (str,),
    "rate": (int, float),
    "min_interval": (int, float),
    "connect_timeout": (int, float),
    "read_timeout": (int, float),
    "not_found_grace": (int, float),
    "theme": (str,),
    "bell": (bool,),
    "columns": (list,),
    "watchlist": (str,),
    "history_days": (int, float),
    "export_dir": (str,),
    "shared": (str,),
    "solo": (bool,),
}


def parse_config(data: dict[str, Any], source: str = "config") -> Config:
    config = Config()
    for key, value in data.items():
        expected = _TYPES.get(key)
        if expected is None:
            known = ", ".join(sorted(_TYPES))
            raise ConfigError(f"{source}: unknown key {key!r} (known keys: {known})")
        if isinstance(value, bool) and bool not in expected:
            raise ConfigError(f"{source}: {key} must be {expected[0].__name__}, not a boolean")
        if not isinstance(value, expected):
            raise ConfigError(f"{source}: {key} must be {expected[0].__name__}, not {type(value).__name__}")
        setattr(config, key, value)
    try:
        config.rate = validate_rate(config.rate)
    except ConfigError as exc:  # say which file holds the bad rate
        raise ConfigError(f"{source}: {exc}") from None
    try:  # refused when read, with the file named, rather than when the first request goes out
        if config.region:
            check_region(config.region, "config")
        if config.endpoint:
            resolve_endpoint(config.endpoint)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    if not config.not_found_grace >= 0 or not _finite(config.not_found_grace):
        raise ConfigError(f"{source}: not_found_grace must be a finite number of seconds, 0 or more")
    if not config.history_days >= 0 or not _finite(config.history_days):
        raise ConfigError(f"{source}: history_days must be a finite number of days, 0 or more")
    for key in ("min_interval", "connect_timeout", "read_timeout"):
        if not getattr(config, key) > 0:
            raise ConfigError(f"{source}: {key} must be above 0")
        if not _finite(getattr(config, key)):  # inf, or an integer past any float: no clock can add it
            raise ConfigError(f"{source}: {key} must be a finite number of seconds")
    if config.shared is not None:
        from tui.core.team import check_shared_url

        try:
            check_shared_url(config.shared)
        except ConfigError as exc:
            raise ConfigError(f"{source}: shared: {exc}") from None
    bad = [c for c in config.columns if c not in ALL_COLUMNS]
    if bad or not all(isinstance(c, str) for c in config.columns):
        raise ConfigError(f"{source}: unknown column(s) {bad!r}; columns are {', '.join(ALL_COLUMNS)}")
    if "job" not in config.columns:
        config.columns.insert(0, "job")
    return config


def _finite(value: float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def load_config(path: Path, *, required: bool = False) -> Config:
    """Read the config file; a missing optional file gives the defaults."""
    try:
        raw = paths.read_regular_file(path)  # a FIFO or a device is refused, not read forever
    except FileNotFoundError:
        if required:
            raise ConfigError(f"config file {path} does not exist") from None
        return Config()
    except paths.NotAFile as exc:
        raise ConfigError(f"config file {path} is {exc.kind}, not a file: give the path of a TOML file") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    import tomllib  # (here: with no config file, nothing is parsed)

    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # tomllib: ValueError for a huge integer
        raise ConfigError(f"config file {path} is not valid TOML: {str(exc)[:200] or type(exc).__name__}") from None
    config = parse_config(data, source=str(path))
    config.path = path
    return config


def config_keys() -> list[str]:
    return [f.name for f in fields(Config) if f.name != "path"]
