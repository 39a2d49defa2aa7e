"""A watchlist lock held by another process never freezes anything: the monitor (on a real
pseudo-terminal) shows "Waiting for another vclm-watch", keeps drawing, saves once the lock is
released and quits on `q` while it is still held; `add` and `remove` wait a bounded time, say
so, and give up with exit 2 having written nothing."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from ptykit import REPO, STARTUP_DEADLINE, PtyRun, cli_env

from tui.core import watchlist as watchlist_module
from tui.core.jobstate import JobRecord
from tui.core.watchlist import WatchlistStore

KEPT = "a" * 32
REMOVED = "b" * 32
NEW = "c" * 32

# A process holding the lock as a slow `vclm-watch add` would, or one stopped (SIGSTOP) while
# holding it; it lets go when a line arrives on its stdin.
HOLDER = textwrap.dedent("""
    import fcntl, os, signal, sys
    fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    print("locked", flush=True)
    if sys.argv[2] == "stopped":
        os.kill(os.getpid(), signal.SIGSTOP)
    sys.stdin.readline()
""")
HOLDERS = ["slow writer", "stopped writer"]


class Holder:
    def __init__(self, lock_path: Path, kind: str) -> None:
        self.kind = kind
        self.process = subprocess.Popen([sys.executable, "-c", HOLDER, str(lock_path), kind.split()[0]],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == "locked"  # the child exits at once if it cannot lock
        if kind == "stopped writer":
            _wait_until(lambda: _process_state(self.process.pid) == "T", 10, "the writer to stop")

    def release(self) -> None:
        if self.process.poll() is not None:
            return
        if self.kind == "stopped writer":
            os.kill(self.process.pid, signal.SIGCONT)
        self.process.communicate("go\n", timeout=10)


def _process_state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as handle:
        return handle.read().rsplit(")", 1)[1].split()[0]


def _wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def watchlist(tmp_path) -> Path:
    path = tmp_path / "watchlist.toml"
    WatchlistStore(path).update(lambda _: [JobRecord(job_id=REMOVED, label="removed", added_at=1.0),
                                           JobRecord(job_id=KEPT, label="kept", added_at=2.0)])
    return path


@pytest.fixture
def holders():
    started: list[Holder] = []

    def start(lock_path: Path, kind: str) -> Holder:
        started.append(Holder(lock_path, kind))
        return started[-1]

    yield start
    for holder in started:
        if holder.process.poll() is None:
            os.kill(holder.process.pid, signal.SIGKILL)
            holder.process.wait(5)


@pytest.fixture
def monitor(watchlist, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    run = PtyRun("--watchlist", str(watchlist), env=cli_env(home))
    run.wait_for_text("credentials: none found", STARTUP_DEADLINE)
    yield run
    run.close()


def _ids(path: Path) -> list[str]:
    return [record.job_id for record in WatchlistStore(path).peek()]


# -- the monitor ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", HOLDERS)
def test_the_monitor_waits_for_a_held_lock_without_freezing_and_saves_once_released(monitor, watchlist, holders, kind):
    holder = holders(watchlist.with_name(watchlist.name + ".lock"), kind)
    mark = len(monitor.output)
    monitor.type("d")  # a change to save: the save (at the next tick) meets the held lock
    monitor.wait_for_text("Waiting for another vclm-watch", 10, start=mark)

    mark = len(monitor.output)
    monitor.type("?")  # the UI still answers keys while the lock is held
    monitor.wait_for_text("undo the last removal", 10, start=mark)
    monitor.type("\x1b")
    assert _ids(watchlist) == [REMOVED, KEPT]  # nothing written while the lock is held

    holder.release()
    _wait_until(lambda: _ids(watchlist) == [KEPT], 10, "the save retried once the lock was released")
    monitor.type("q")
    assert monitor.wait_exit(10) == 0


@pytest.mark.parametrize("kind", HOLDERS)
def test_the_monitor_quits_on_q_while_another_process_holds_the_lock(monitor, watchlist, holders, kind):
    holders(watchlist.with_name(watchlist.name + ".lock"), kind)
    mark = len(monitor.output)
    monitor.type("d")
    monitor.wait_for_text("Waiting for another vclm-watch", 10, start=mark)
    monitor.type("q")
    assert monitor.wait_exit(10) == 0  # after a short grace for the last save, not forever
    assert b"\x1b[?1049l" in monitor.output
    assert _ids(watchlist) == [REMOVED, KEPT]


def test_a_held_lock_starts_the_monitor_with_the_file_read_as_it_is(watchlist, holders, tmp_path):
    holders(watchlist.with_name(watchlist.name + ".lock"), "slow writer")
    home = tmp_path / "home"
    home.mkdir()
    run = PtyRun("--watchlist", str(watchlist), env=cli_env(home))
    try:
        run.wait_for_text("credentials: none found", STARTUP_DEADLINE)
        run.wait_for_text(KEPT[:8], 10)  # both rows, read from the file
        run.wait_for_text(REMOVED[:8], 10)
        run.type("q")
        assert run.wait_exit(10) == 0
    finally:
        run.close()


def test_the_store_only_tries_the_lock_when_told_not_to_wait(watchlist, holders):
    holders(watchlist.with_name(watchlist.name + ".lock"), "slow writer")
    before = watchlist.read_bytes()
    store = WatchlistStore(watchlist)
    for attempt in (lambda: store.save([JobRecord(job_id=NEW)], wait=0),
                    lambda: store.update(lambda records: [], wait=0)):
        with pytest.raises(watchlist_module.WatchlistBusy, match="another vclm-watch holds the lock"):
            attempt()
    assert watchlist.read_bytes() == before


# -- the shell commands ----------------------------------------------------------------------------

LOCK_WAIT = 0.3  # seconds, through VCLM_WATCH_LOCK_TIMEOUT
CLI_DEADLINE = 20.0  # a Python start-up on a loaded machine, with margin


@pytest.mark.parametrize("kind", HOLDERS)
@pytest.mark.parametrize("command", [["add", NEW], ["remove", KEPT]], ids=["add", "remove"])
def test_shell_commands_give_up_on_a_held_lock_with_exit_2_writing_nothing(watchlist, holders, tmp_path, kind, command):
    holder = holders(watchlist.with_name(watchlist.name + ".lock"), kind)
    before = watchlist.read_bytes()
    env = cli_env(tmp_path, {"VCLM_WATCH_LOCK_TIMEOUT": str(LOCK_WAIT)})
    done = subprocess.run([sys.executable, "-m", "tui", *command, "--watchlist", str(watchlist)], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=CLI_DEADLINE, stdin=subprocess.DEVNULL)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert "waiting for another vclm-watch" in lines[0]
    assert "did not release it within 0.3 s" in lines[-1] and "nothing was changed" in lines[-1]
    assert done.stdout == ""
    assert watchlist.read_bytes() == before
    holder.release()


def test_shell_commands_carry_on_once_the_lock_is_released_in_time(watchlist, holders, tmp_path):
    holder = holders(watchlist.with_name(watchlist.name + ".lock"), "slow writer")
    env = cli_env(tmp_path, {"VCLM_WATCH_LOCK_TIMEOUT": "20"})
    process = subprocess.Popen([sys.executable, "-m", "tui", "add", NEW, "--watchlist", str(watchlist)], env=env,
                               cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               stdin=subprocess.DEVNULL)
    try:
        assert process.stderr is not None
        ready, _, _ = select.select([process.stderr], [], [], CLI_DEADLINE)  # bounded: never a blind readline
        assert ready, "nothing said on stderr while waiting for the lock"
        assert "waiting for another vclm-watch" in process.stderr.readline()  # said while it waits
        holder.release()
        out, _ = process.communicate(timeout=CLI_DEADLINE)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
    assert process.returncode == 0
    assert out.startswith(f"added {NEW}")
    assert _ids(watchlist) == [REMOVED, KEPT, NEW]


@pytest.mark.parametrize("value", ["soon", "-1", "nan"])
def test_a_bad_lock_timeout_is_a_usage_error(watchlist, tmp_path, value):
    env = cli_env(tmp_path, {"VCLM_WATCH_LOCK_TIMEOUT": value})
    done = subprocess.run([sys.executable, "-m", "tui", "add", NEW, "--watchlist", str(watchlist)], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=CLI_DEADLINE, stdin=subprocess.DEVNULL)
    assert done.returncode == 2
    assert "VCLM_WATCH_LOCK_TIMEOUT" in done.stderr
