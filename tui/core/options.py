"""What every command takes from its command line and environment, as argparse options: the
parser is built (and `--version` answered) without importing what the commands run on."""

from __future__ import annotations

import argparse
from pathlib import Path

from tui.core import paths

LOCK_TIMEOUT_ENV = "VCLM_WATCH_LOCK_TIMEOUT"
DEFAULT_LOCK_WAIT = 10.0  # seconds a shell command waits for another vclm-watch's lock on the watchlist


def add_team_options(parser: argparse.ArgumentParser) -> None:
    """--shared and --solo: who this process shares the account's quota and answers with (the
    monitor and `check`). Neither: every vclm-watch of this user on this machine (team mode)."""
    group = parser.add_argument_group("team mode (one quota and one poll per job for every vclm-watch on the account)")
    team = group.add_mutually_exclusive_group()
    # (not given: the config's; SUPPRESS, so that `vclm-watch --solo check` keeps what came before the command)
    team.add_argument("--shared", metavar="URL", default=argparse.SUPPRESS,
                      help="share through a Redis or Valkey server with every process pointed at it, on any machine "
                           "(redis://[:PASSWORD@]HOST[:PORT][/DB], rediss:// for TLS; default: config `shared`)")
    team.add_argument("--solo", action="store_true", default=argparse.SUPPRESS,
                      help="share nothing: this process counts the quota alone (default: config `solo`, false)")


def add_common_options(parser: argparse.ArgumentParser, *, subcommand: bool = False) -> None:
    """The options every command takes.

    With `subcommand=True` (a subcommand's parser) an option not given after the command
    leaves alone what was given before it: `vclm-watch --endpoint URL check ID` keeps the URL.
    """
    group = parser.add_argument_group("connection and files")
    if subcommand:
        group.argument_default = argparse.SUPPRESS
    group.add_argument("--region", help="region of the jobs (default: TENCENTCLOUD_REGION, tccli profile, config, ap-guangzhou)")
    group.add_argument("--endpoint", help="API URL override, e.g. http://127.0.0.1:8080 for the simulator")
    group.add_argument("--profile", help="tccli profile for credentials and region (default: default)")
    group.add_argument("--rate", type=str, help="requests per second to aim for, at most 20 (default 19.2)")
    group.add_argument("--config", type=Path, help=f"config file (default: {paths.config_path()})")
    group.add_argument("--watchlist", type=Path, help=f"watchlist file (default: {paths.watchlist_path()})")
    group.add_argument("--timeout", type=float, help="read timeout of one request in seconds (for `check --wait`: the overall deadline)")
