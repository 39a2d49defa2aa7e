"""Helpers for the shell-command tests: the simulator's handle, the CLI as a subprocess, real-time waits."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tui.simulator.service import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, Simulator

REPO = Path(__file__).resolve().parents[2]
CLI_TIMEOUT = 30.0  # no single command in these tests should come near it


@dataclass
class Sim:
    simulator: Simulator
    url: str

    def job(self, fate: str | None = None, *, running: bool = False, **kwargs) -> str:
        """A job already finished with `fate`, or (running=True) one that stays JobRunning for the test."""
        if running:
            return self.simulator.create_job(init_seconds=0.0, run_seconds=3600.0, **kwargs)
        kwargs.setdefault("init_seconds", 0.0)
        kwargs.setdefault("run_seconds", 0.0)
        return self.simulator.create_job(fate=fate, **kwargs)

    def describes(self) -> int:
        return self.simulator.stats.actions["DescribeVideoStylizationJob"]


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    def lines(self) -> list[str]:
        return self.stdout.splitlines()


class Cli:
    """Run `python -m tui ARGS` with the simulator's made-up credentials in the environment."""

    def _env(self, credentials: bool, env: Mapping[str, str] | None) -> dict[str, str]:
        full_env = dict(os.environ)
        full_env["PYTHONPATH"] = str(REPO) + os.pathsep + full_env.get("PYTHONPATH", "")
        full_env.pop("NO_COLOR", None)
        full_env["COLUMNS"] = "200"
        if credentials:
            full_env["TENCENTCLOUD_SECRET_ID"] = DEFAULT_SECRET_ID
            full_env["TENCENTCLOUD_SECRET_KEY"] = DEFAULT_SECRET_KEY
        full_env.update(env or {})
        return full_env

    def __call__(self, *args: str, stdin: str | None = None, credentials: bool = True,
                 env: Mapping[str, str] | None = None, timeout: float = CLI_TIMEOUT) -> Run:
        done = subprocess.run(
            [sys.executable, "-m", "tui", *args], input=stdin, capture_output=True, text=True,
            env=self._env(credentials, env), cwd=REPO, timeout=timeout,
            stdin=None if stdin is not None else subprocess.DEVNULL,
        )
        return Run(done.returncode, done.stdout, done.stderr)

    def start(self, *args: str, credentials: bool = True, env: Mapping[str, str] | None = None,
              **popen) -> subprocess.Popen:
        """The same, running in the background (the caller waits for it, with a timeout)."""
        popen.setdefault("stdout", subprocess.PIPE)
        popen.setdefault("stderr", subprocess.PIPE)
        return subprocess.Popen([sys.executable, "-m", "tui", *args], stdin=subprocess.DEVNULL, text=True,
                                env=self._env(credentials, env), cwd=REPO, **popen)

    @staticmethod
    def finish(process: subprocess.Popen, timeout: float = CLI_TIMEOUT) -> Run:
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
            raise AssertionError(f"the command did not finish in {timeout} s; stderr: {err}") from None
        return Run(process.returncode, out, err)


def drain_pty(master: int) -> bytes:
    """Everything a pseudo-terminal's other side writes until it closes; the master is closed then."""
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the other side closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    return b"".join(chunks)


def wait_for(condition, timeout: float = 10.0, what: str = "the condition") -> None:
    """Poll `condition` in real time (the CLI under test is another process)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


class InProcessCli(Cli):
    """The same commands through the same parser and `run`, in this process: for tests about the
    file and the output rather than the process (a subprocess costs a Python start-up each)."""

    def __call__(self, *args: str, stdin: str | None = None, credentials: bool = True,
                 env: Mapping[str, str] | None = None, timeout: float = CLI_TIMEOUT) -> Run:
        from tui.cli import build_parser
        from tui.headless import commands

        out, err = io.StringIO(), io.StringIO()
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
                parsed = build_parser().parse_args(list(args))
        except SystemExit as exc:  # argparse's own usage errors
            return Run(int(exc.code or 0), out.getvalue(), err.getvalue())
        code = commands.run(parsed, stdin=io.StringIO(stdin or ""), stdout=out, stderr=err,
                            env=self._env(credentials, env))
        return Run(int(code), out.getvalue(), err.getvalue())
