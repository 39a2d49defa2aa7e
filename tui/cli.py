"""The `vclm-watch` command line: the monitor by default, and its subcommands."""

from __future__ import annotations

import argparse
import gc
import re
import sys
import typing
from collections.abc import Callable, Sequence

from tui import __version__
from tui.core.options import add_common_options, add_team_options

if typing.TYPE_CHECKING:
    from tui.core.watchlist import WatchlistStore

# The parser is built from the commands' options alone, and a subcommand's only when it is used:
# what a command runs on (asyncio, httpx, rich, the simulator, Textual) is imported once it is
# chosen, so `add` and `--version` start fast.

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
    """argparse, plus the nearest choice for a mistyped one: `vclm-watch chek` suggests `check`.

    A subcommand's parser gets its options (`fill`) only when it is used, to parse or for its
    help: running one command does not build (nor import) the options of the five others."""

    def __init__(self, *args: typing.Any, fill: Callable[[argparse.ArgumentParser], None] | None = None,
                 **kwargs: typing.Any) -> None:
        super().__init__(*args, **kwargs)
        self._fill = fill

    def filled(self) -> Parser:
        fill, self._fill = self._fill, None
        if fill is not None:
            fill(self)
        return self

    def parse_known_args(self, args: typing.Any = None, namespace: typing.Any = None) -> typing.Any:
        return super(Parser, self.filled()).parse_known_args(args, namespace)

    def format_usage(self) -> str:
        return super(Parser, self.filled()).format_usage()

    def format_help(self) -> str:
        return super(Parser, self.filled()).format_help()

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


def _options(command: str) -> Callable[[argparse.ArgumentParser], None]:
    """What fills the parser of `command`: its own options, then the common ones."""
    def fill(parser: argparse.ArgumentParser) -> None:
        if command == "simulate":
            from tui.simulator import options

            options.add_arguments(parser)
            return
        from tui.headless import arguments

        own = {"check": arguments.add_check_arguments, "add": arguments.add_add_arguments,
               "remove": arguments.add_remove_arguments, "ls": arguments.add_ls_arguments,
               "submit": arguments.add_submit_arguments}[command]
        own(parser)
        add_common_options(parser, subcommand=True)
    return fill


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
    parser.add_argument("--export-dir", metavar="DIR",
                        help="where e saves the screen as SVG and text (default: config export_dir, else here)")
    add_common_options(parser)
    add_team_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("simulate", help="serve the embedded VCLM simulator over HTTP on loopback", fill=_options("simulate"))
    sub.add_parser("check", help="query jobs once (or --wait) and exit with their verdict",
                   epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter, fill=_options("check"))
    sub.add_parser("add", help="add job ids to the watchlist", fill=_options("add"))
    sub.add_parser("remove", help="remove job ids from the watchlist", fill=_options("remove"))
    sub.add_parser("ls", help="list the saved watchlist with last known states (no network)", fill=_options("ls"))
    sub.add_parser("submit", help="submit a video for stylization and print its JobId (--add watches it)",
                   fill=_options("submit"))
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
