"""From options, environment and config file to a ready client and engine (shared by all commands)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tui.api.clock import SYSTEM_CLOCK, Clock
from tui.api.credentials import Credentials, resolve_credentials, resolve_region, validate_profile
from tui.api.endpoint import Endpoint, resolve_endpoint
from tui.api.errors import ConfigError
from tui.api.ratelimit import RateLimiter, validate_rate
from tui.core import paths
from tui.core.config import Config, load_config
from tui.core.team import Team, check_shared_url, shown_url

if TYPE_CHECKING:  # imported where used: `add`, `remove` and `ls` never connect, and start faster without them
    import httpx

    from tui.api.client import VclmClient
    from tui.core.engine import Poller


@dataclass
class Settings:
    config: Config
    region: str
    region_source: str
    endpoint: Endpoint
    rate: float
    watchlist_path: Path
    profile: str | None
    shared: str | None = None  # team mode through this Redis/Valkey URL
    solo: bool = False  # team mode off


def load_settings(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> Settings:
    """Everything but the credentials (which may legitimately be missing in the TUI)."""
    env = os.environ if env is None else env
    config_path = getattr(args, "config", None)
    config = load_config(config_path or paths.config_path(), required=config_path is not None)
    profile = validate_profile(getattr(args, "profile", None) or config.profile)  # a name, never a path
    region, region_source = resolve_region(option=getattr(args, "region", None), profile=profile,
                                           config_region=config.region, env=env)
    endpoint = resolve_endpoint(getattr(args, "endpoint", None) or config.endpoint, region,
                                regional=config.regional_endpoint)
    rate_option = getattr(args, "rate", None)
    rate = validate_rate(rate_option) if rate_option is not None else config.rate
    watchlist = getattr(args, "watchlist", None) or (Path(config.watchlist).expanduser() if config.watchlist else paths.watchlist_path())
    shared, solo = getattr(args, "shared", None), bool(getattr(args, "solo", False))  # an option beats the config
    if shared is None and not solo:
        shared, solo = config.shared, config.solo
    if shared is not None:
        check_shared_url(shared)
    return Settings(config=config, region=region, region_source=region_source, endpoint=endpoint,
                    rate=rate, watchlist_path=Path(watchlist), profile=profile, shared=None if solo else shared, solo=solo)


def default_settings(watchlist_path: Path | None = None, config: Config | None = None,
                     region: str = "ap-guangzhou") -> Settings:
    """Settings from defaults alone (no options, environment or config file)."""
    config = config or Config()
    return Settings(config=config, region=region, region_source="default",
                    endpoint=resolve_endpoint(config.endpoint, region), rate=config.rate,
                    watchlist_path=watchlist_path or paths.watchlist_path(), profile=None)


def load_credentials(settings: Settings, env: Mapping[str, str] | None = None) -> Credentials:
    return resolve_credentials(profile=settings.profile, env=os.environ if env is None else env)


def build_client(
    settings: Settings,
    credentials: Credentials,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Clock = SYSTEM_CLOCK,
    read_timeout: float | None = None,
) -> VclmClient:
    from tui.api.client import VclmClient

    limiter = RateLimiter(settings.rate, clock=clock)
    return VclmClient(
        credentials, settings.region, settings.endpoint, limiter=limiter, transport=transport, clock=clock,
        connect_timeout=settings.config.connect_timeout,
        read_timeout=read_timeout or settings.config.read_timeout,
    )


def build_poller(settings: Settings, client: VclmClient, *, clock: Clock = SYSTEM_CLOCK, team: Team | None = None) -> Poller:
    from tui.core.engine import Poller

    return Poller(client, clock=clock, min_interval=settings.config.min_interval, team=team)


def build_team(settings: Settings, credentials: Credentials, *, clock: Clock = SYSTEM_CLOCK,
               endpoint_url: str | None = None) -> Team:
    """Who this process shares the account's quota and answers with: nobody (`--solo`), the
    processes pointed at one Redis/Valkey server (`--shared URL`), or by default every vclm-watch
    of this user on this machine (a SQLite file in the data directory). Everything shared is keyed
    by the account (`account_key`: endpoint and SecretId, hashed); `endpoint_url` stands in for the
    settings' endpoint when requests go elsewhere (the demo's in-process simulator)."""
    from tui.core.team import SoloTeam, account_key

    if settings.solo:
        return SoloTeam()
    account = account_key(endpoint_url or settings.endpoint.url, credentials.secret_id)
    if settings.shared is not None:
        import importlib

        try:  # (by name: the Redis side is its own module, and imports redis only when used)
            team_redis = importlib.import_module("tui.core.team_redis")
        except ModuleNotFoundError as exc:
            if exc.name not in ("tui.core.team_redis", "redis"):
                raise
            raise ConfigError(f"--shared {shown_url(settings.shared)}: this vclm-watch cannot share through Redis "
                              f"({exc.name} is missing); use --solo, or leave both out to share on this machine") from None
        team: Team = team_redis.RedisTeam(settings.shared, account, clock=clock)
        return team
    from tui.core.team_local import FILE_NAME, LocalTeam

    return LocalTeam(paths.data_dir() / FILE_NAME, account, clock=clock)
