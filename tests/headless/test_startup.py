"""What the quick commands import: `add`, `remove`, `ls --json` and `--version` start without the
machinery of the commands that connect or draw (asyncio, httpx, ssl, rich, Textual, the simulator),
whose import alone took longer than all the work of `add` on a 100,000-job watchlist (issue 13).

Each command runs in a fresh interpreter (`import tui.cli`, then `main(argv)`), which reports the
modules it ended with: counted, not timed, so the test holds on a slow or busy machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from clikit import CLI_TIMEOUT, REPO

from tui.core.watchlist import WatchlistStore

JOB_A = "a" * 32
JOB_B = "b" * 32

# What only `check`, `submit`, `simulate` and the monitor need.
UNWANTED = ("asyncio", "rich", "httpx", "ssl", "textual", "tui.simulator", "tui.monitor", "tui.core.engine",
            "tui.headless.check", "tui.headless.submit",
            "tomllib", "tomli_w")  # a watchlist vclm-watch wrote is spliced, not parsed; no config file here

REPORT = """
import contextlib, io, json, sys
import tui.cli
with contextlib.redirect_stdout(io.StringIO()) as out:
    try:
        code = tui.cli.main(sys.argv[1:])
    except SystemExit as exit:
        code = exit.code
print(json.dumps({"code": code, "stdout": out.getvalue(), "modules": sorted(sys.modules)}))
"""


def run_reporting(*argv: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run([sys.executable, "-c", REPORT, *argv], capture_output=True, text=True, env=env,
                          cwd=REPO, stdin=subprocess.DEVNULL, timeout=CLI_TIMEOUT)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def loaded(modules: list[str]) -> list[str]:
    """The unwanted modules among those loaded."""
    return [name for name in modules if any(name == u or name.startswith(u + ".") for u in UNWANTED)]


@pytest.fixture
def watchlist(tmp_path):
    """A watchlist as vclm-watch writes it (its job database beside it): `add` splices it."""
    path = tmp_path / "watchlist.toml"
    WatchlistStore(path).add_remove([(JOB_A, "first", 1_764_000_000.0)], ())
    return path


@pytest.mark.parametrize("argv, code, stdout", [
    (["add", JOB_B, "--label", "clip"], 0, f"added {JOB_B}  (clip)\n"),
    (["add", JOB_A], 0, f"skipped {JOB_A}  (already in the watchlist)\n"),
    (["remove", JOB_A], 0, f"removed {JOB_A}\n"),
    (["remove", JOB_B], 1, ""),
    (["ls", "--json"], 0, None),
], ids=["add", "add-duplicate", "remove", "remove-missing", "ls-json"])
def test_watchlist_commands_import_no_network_terminal_or_simulator_code(watchlist, argv, code, stdout):
    report = run_reporting(*argv, "--watchlist", str(watchlist))
    assert report["code"] == code
    if stdout is not None:
        assert report["stdout"] == stdout
    else:
        assert json.loads(report["stdout"])["JobId"] == JOB_A
    assert loaded(report["modules"]) == []


def test_add_to_a_new_watchlist_imports_none_of_them_either(tmp_path):
    path = tmp_path / "new" / "watchlist.toml"
    report = run_reporting("add", JOB_B, "--watchlist", str(path))
    assert (report["code"], report["stdout"]) == (0, f"added {JOB_B}\n")
    assert JOB_B in path.read_text(encoding="utf-8")
    assert loaded(report["modules"]) == []


def test_version_imports_only_the_parser():
    report = run_reporting("--version")
    assert report["code"] == 0 and report["stdout"].startswith("vclm-watch ")
    assert loaded(report["modules"]) == []
    # nor what `add` itself runs on (the watchlist store, its database, the settings), nor the
    # subcommands' options: a subcommand's parser is filled only when it is used
    assert not {"sqlite3", "tui.core.watchlist", "tui.core.settings", "tui.api.credentials",
                "tui.headless.arguments", "tui.simulator.options"} & set(report["modules"])
