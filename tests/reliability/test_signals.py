"""SIGTERM and SIGHUP end the monitor as `q` does: what was unsaved is saved and the terminal is
given back as it was (main screen, cursor shown, mouse off, cooked mode). Run on a real
pseudo-terminal, the monitor as a subprocess."""

from __future__ import annotations

import signal
import termios

import pytest
from ptykit import STARTUP_DEADLINE, PtyRun, cli_env

from tui.core.jobstate import JobRecord
from tui.core.watchlist import WatchlistStore

KEPT = "a" * 32
REMOVED = "b" * 32

# What leaves the terminal as it was: the main screen, the cursor, no mouse reports.
RESTORE_SEQUENCES = {
    "main screen": b"\x1b[?1049l",
    "cursor shown": b"\x1b[?25h",
    "mouse tracking off": b"\x1b[?1000l",
    "mouse any-event tracking off": b"\x1b[?1003l",
    "SGR mouse mode off": b"\x1b[?1006l",
}


@pytest.fixture
def monitor(tmp_path):
    watchlist = tmp_path / "watchlist.toml"
    WatchlistStore(watchlist).update(lambda _: [JobRecord(job_id=REMOVED, label="removed", added_at=1.0),
                                                 JobRecord(job_id=KEPT, label="kept", added_at=2.0)])
    home = tmp_path / "home"
    home.mkdir()
    run = PtyRun("--watchlist", str(watchlist), env=cli_env(home))
    yield run, watchlist
    run.close()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_saves_and_gives_the_terminal_back(monitor, signum):
    run, watchlist = monitor
    run.wait_for_text("credentials: none found", STARTUP_DEADLINE)
    mark = len(run.output)
    run.type("d")  # the cursor starts on the first row: the job added first
    run.wait_for_text("Removed removed. Press u to undo", 10, start=mark)

    run.signal(signum)
    status = run.wait_exit(10)

    assert status == 128 + signum, run.text()[-1000:]
    assert [r.job_id for r in WatchlistStore(watchlist).load()] == [KEPT]
    tail = bytes(run.output[mark:])
    missing = [what for what, seq in RESTORE_SEQUENCES.items() if seq not in tail]
    assert not missing, f"not restored: {missing}"
    lflag = run.terminal_attrs()[3]
    assert lflag & termios.ICANON and lflag & termios.ECHO, "the terminal is left in raw mode"
