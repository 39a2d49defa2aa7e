"""The `vclm-watch` command line: the monitor by default, and its subcommands."""

from __future__ import annotations

import argparse
import gc
import re
import sys
import typing
from collections.abc import Sequence

from tui import __version__
from tui.core.options import add_common_options
from tui.headless import arguments as headless
from tui.simulator import options as simulate_options

if typing.TYPE_CHECKING:
    from tui.core.watchlist import WatchlistStore

# The parser is built from the commands' options alone: what a command runs on (asyncio, httpx,
# rich, the simulator, Textual) is imported once it is chosen, so `add` and `--version` start fast.

EXIT_CODES_HELP = """\
exit status of `check`:
  0  every job is JobSuccess
  1  at least one job is JobFailed or JobModerationFailed
  2  usage or configuration error: malformed id, no credentials, rate over 20, bad option
     (a near-miss id read with '-' is skipped and reported, the others checked, and the status is 2)
  3  at least one job could not be queried (API or transport error after retries), none failed
  4  at least one job still pending at exit (no --wait, or the timeout ran out), none failed or unqueryable
"""


_INVALID_CHOICE = re.compile(r"^argument (?P<arg>[^:]+): invalid choice: (?P<value>'.*?') \(choose from (?P<choices>.*)\)$")


class Parser(argparse.ArgumentParser):
    """argparse, plus the nearest choice for a mistyped one: `vclm-watch chek` suggests `check`."""

    def error(self, message: str) -> typing.NoReturn:
        found = _INVALID_CHOICE.match(message)
        if found:
            import ast
            import difflib

            try:
                value = ast.literal_eval(found["value"])
                choices = [str(c) for c in ast.literal_eval(f"[{found['choices']}]")]
            except (ValueError, SyntaxError):
                value, choices = None, []
            near = difflib.get_close_matches(str(value), choices, n=1) if value is not None else []
            if found["arg"] == "COMMAND":
                message = f"unknown command {value!r}" + (f"; did you mean {near[0]!r}?" if near else "") \
                    + f" (commands: {', '.join(choices)})"
            elif near:
                message += f"; did you mean {near[0]!r}?"
        super().error(message)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="vclm-watch",
        description="Watch Tencent Cloud VCLM video-stylization jobs. With no command, opens the monitor.",
        epilog="Try it with no account: vclm-watch --demo",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"vclm-watch {__version__}")
    parser.add_argument("--demo", action="store_true", help="run on the embedded simulator with demo jobs (no account needed)")
    parser.add_argument("--theme", help="theme name (shipped: vclm-dark, vclm-light, vclm-high-contrast, vclm-okabe-ito)")
    add_common_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    simulate = sub.add_parser("simulate", help="serve the embedded VCLM simulator over HTTP on loopback")
    simulate_options.add_arguments(simulate)

    check = sub.add_parser("check", help="query jobs once (or --wait) and exit with their verdict",
                           epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    headless.add_check_arguments(check)
    add_common_options(check, subcommand=True)
    add = sub.add_parser("add", help="add job ids to the watchlist")
    headless.add_add_arguments(add)
    add_common_options(add, subcommand=True)
    remove = sub.add_parser("remove", help="remove job ids from the watchlist")
    headless.add_remove_arguments(remove)
    add_common_options(remove, subcommand=True)
    ls = sub.add_parser("ls", help="list the saved watchlist with last known states (no network)")
    headless.add_ls_arguments(ls)
    add_common_options(ls, subcommand=True)
    submit = sub.add_parser("submit", help="submit a video for stylization and print its JobId (--add watches it)")
    headless.add_submit_arguments(submit)
    add_common_options(submit, subcommand=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "simulate":
        from tui.simulator import command as simulate_command

        return simulate_command.run(args)
    if args.command == "submit":
        from tui.headless import submit as submit_command

        return submit_command.run(args)
    if args.command in ("check", "add", "remove", "ls"):
        from tui.headless import commands

        return commands.run(args)
    # What startup builds lives as long as the monitor (100,000 jobs: that many records): the
    # collector would walk it again and again while it grows. It is off until the first frame,
    # which freezes what was built and turns it back on (screens/monitor.py).
    gc.disable()
    store = _preload(args)  # read the watchlist while the UI's modules load (100,000 jobs: a second)
    from tui.monitor.launch import run_monitor

    return run_monitor(args, store=store)


def _preload(args: argparse.Namespace) -> WatchlistStore | None:
    """The monitor's watchlist store, already reading in a thread; None for the demo, or when
    the settings are wrong (run_monitor then says why)."""
    if getattr(args, "demo", False):
        return None
    try:
        from tui.core.settings import load_settings
        from tui.core.watchlist import WatchlistStore

        return WatchlistStore(load_settings(args).watchlist_path).preload()
    except Exception:  # (reported by run_monitor, which reads the settings again)
        return None


if __name__ == "__main__":
    sys.exit(main())
