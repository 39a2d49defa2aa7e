"""`python -m tui.simulator`: the `simulate` subcommand on its own, until and beside the main CLI."""

import argparse

from tui.simulator.command import run
from tui.simulator.options import add_arguments


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tui.simulator",
        description="Serve a simulated VCLM API on a loopback port (the `vclm-watch simulate` command).",
    )
    add_arguments(parser)
    return run(parser.parse_args())


if __name__ == "__main__":
    raise SystemExit(main())
