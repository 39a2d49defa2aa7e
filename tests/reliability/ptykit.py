"""The CLI on a real pseudo-terminal: start it, read what it draws, type into it, signal it.

Every wait has a deadline and ends as soon as its marker arrives: no test sleeps for time.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ROWS, COLS = 30, 120
STARTUP_DEADLINE = 30.0  # a Textual start-up on a loaded 2-core machine, with margin

# Textual draws text between cursor moves and style changes; markers are matched on the text alone.
_ESCAPES = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>]")


def cli_env(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENCENTCLOUD_")}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), XDG_DATA_HOME=str(home / ".local" / "share"),
               TERM="xterm-256color", COLUMNS=str(COLS), LINES=str(ROWS))
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("NO_COLOR", None)
    env.pop("TEXTUAL", None)
    env.update(extra or {})
    return env


def default_sigint() -> None:
    """For `preexec_fn`: SIGINT back to its default in the child. A shell that runs the suite in the
    background starts it with SIGINT ignored, and a child keeps an ignored signal ignored (as
    POSIX says, and as vclm-watch respects): a test that sends SIGINT must undo that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class PtyRun:
    """`python -m tui ARGS` with a pseudo-terminal as stdin, stdout and stderr."""

    def __init__(self, *args: str, env: Mapping[str, str]) -> None:
        self.master, self.slave = os.openpty()
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
        self.cooked = termios.tcgetattr(self.slave)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tui", *args], stdin=self.slave, stdout=self.slave, stderr=self.slave,
            env=dict(env), cwd=REPO, start_new_session=True, close_fds=True, preexec_fn=default_sigint,
        )
        self.output = bytearray()

    # -- reading -------------------------------------------------------------------------------

    def _pump(self, timeout: float) -> None:
        ready, _, _ = select.select([self.master], [], [], max(0.0, timeout))
        if ready:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # EIO: nothing left to read
                return
            self.output += chunk

    def text(self) -> str:
        return _ESCAPES.sub(b"", bytes(self.output)).decode("utf-8", "replace")

    def wait_for_text(self, marker: str, timeout: float = 10.0, start: int = 0) -> None:
        deadline = time.monotonic() + timeout
        while marker not in _ESCAPES.sub(b"", bytes(self.output[start:])).decode("utf-8", "replace"):
            if self.process.poll() is not None:
                self._pump(0.05)
                if marker in self.text():
                    return
                raise AssertionError(f"exited ({self.process.returncode}) before showing {marker!r}:\n{self.text()[-2000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{marker!r} not shown within {timeout} s:\n{self.text()[-2000:]}")
            self._pump(deadline - time.monotonic())

    # -- acting --------------------------------------------------------------------------------

    def type(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait_exit(self, timeout: float = 10.0) -> int:
        """The exit status (negative: killed by that signal), reading all it wrote meanwhile."""
        deadline = time.monotonic() + timeout
        while self.process.poll() is None:
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"still running {timeout} s later:\n{self.text()[-2000:]}")
            self._pump(0.05)
        while True:  # drain what is left
            ready, _, _ = select.select([self.master], [], [], 0)
            if not ready:
                break
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                break
            if not chunk:
                break
            self.output += chunk
        return self.process.returncode

    def terminal_attrs(self) -> list:
        return termios.tcgetattr(self.slave)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(5)

    def close(self) -> None:
        self.kill()
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass
