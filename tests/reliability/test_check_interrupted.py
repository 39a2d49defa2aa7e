"""`check -` over thousands of ids, cut short by SIGINT or SIGTERM: every answer already fetched
is printed (with --json, each line as it arrives and each line whole), the exit status is
130 / 143 and stderr has one line saying so; `check --wait` on a terminal leaves no live
progress line behind. Against the loopback simulator."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from ptykit import REPO, PtyRun, cli_env, default_sigint

from tui.headless.progress import ERASE_LINE
from tui.simulator.server import run_in_thread
from tui.simulator.service import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, Lifecycle, Simulator

IDS = 3000
ARRIVED_BEFORE_SIGNAL = 15  # answers to see before the signal is sent
DEADLINE = 30.0  # seconds for any one wait below
MAX_IN_FLIGHT = 32  # the engine's cap: answers served but not yet received when the signal lands
SERVED_BEFORE_SIGNAL = MAX_IN_FLIGHT + 30  # so that at least 30 answers had arrived
DESCRIBE = "DescribeVideoStylizationJob"
NEWLINE = b"\n"


@pytest.fixture
def served() -> Iterator[tuple[Simulator, str, list[str]]]:
    simulator = Simulator(seed=3, lifecycle=Lifecycle(p_failed=0.0, p_moderation_failed=0.0))
    ids = [simulator.create_job(fate="JobSuccess", init_seconds=0.0, run_seconds=0.0) for _ in range(IDS)]
    with run_in_thread(simulator) as server:
        yield simulator, server.base_url, ids


def _start(url: str, *options: str, home) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENCENTCLOUD_")}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), XDG_DATA_HOME=str(home / ".local/share"),
               TENCENTCLOUD_SECRET_ID=DEFAULT_SECRET_ID, TENCENTCLOUD_SECRET_KEY=DEFAULT_SECRET_KEY,
               PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, "-m", "tui", "check", "--endpoint", url, *options, "-"], cwd=REPO, env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=default_sigint)


def _feed(process: subprocess.Popen[bytes], ids: list[str]) -> None:
    assert process.stdin is not None
    process.stdin.write("\n".join(ids).encode())
    process.stdin.close()
    process.stdin = None  # all given: communicate() has nothing more to send


def _read_until(stream, count: int, got: bytearray) -> None:
    """Read from a pipe until it holds `count` lines, for DEADLINE seconds at most."""
    deadline = time.monotonic() + DEADLINE
    while got.count(NEWLINE) < count:
        left = deadline - time.monotonic()
        assert left > 0, f"only {got.count(NEWLINE)} lines within {DEADLINE} s"
        ready, _, _ = select.select([stream], [], [], left)
        if ready:
            chunk = os.read(stream.fileno(), 65536)
            assert chunk, "the output ended early"
            got += chunk


def _finish(process: subprocess.Popen[bytes], got: bytearray) -> tuple[int, bytes, bytes]:
    try:
        out, err = process.communicate(timeout=DEADLINE)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise AssertionError("check did not stop after the signal") from None
    return process.returncode, bytes(got) + out, err


def _served(simulator: Simulator) -> int:
    return simulator.stats.actions[DESCRIBE]


@pytest.mark.parametrize(("signum", "status", "word"), [(signal.SIGINT, 130, "interrupted"),
                                                        (signal.SIGTERM, 143, "terminated")], ids=["SIGINT", "SIGTERM"])
def test_json_lines_already_fetched_survive_a_signal(served, tmp_path, signum, status, word):
    simulator, url, ids = served
    process = _start(url, "--json", home=tmp_path)
    _feed(process, ids)
    got = bytearray()
    _read_until(process.stdout, ARRIVED_BEFORE_SIGNAL, got)  # lines arrive while the run goes on
    process.send_signal(signum)
    code, out, err = _finish(process, got)

    assert code == status
    assert out.endswith(b"\n")
    rows = [json.loads(line) for line in out.decode().splitlines()]  # every line a whole object
    assert [row["JobId"] for row in rows] == ids[:len(rows)]  # in the order given, none twice
    assert all(row["StatusCode"] == "JobSuccess" for row in rows)
    served_now = _served(simulator)
    assert served_now - MAX_IN_FLIGHT <= len(rows) <= served_now < IDS
    lines = err.decode().splitlines()
    assert len(lines) == 1 and word in lines[0] and f"{len(rows)} of {IDS}" in lines[0]


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_the_plain_table_of_what_was_fetched_is_printed_on_a_signal(served, tmp_path, signum, status):
    simulator, url, ids = served
    process = _start(url, home=tmp_path)
    _feed(process, ids)
    deadline = time.monotonic() + DEADLINE
    while _served(simulator) < SERVED_BEFORE_SIGNAL:  # nothing is printed before the end: watch the server
        assert time.monotonic() < deadline, "no answers served"
        time.sleep(0.01)
    process.send_signal(signum)
    code, out, err = _finish(process, bytearray())

    assert code == status
    header, *rows = out.decode().splitlines()
    assert header.split()[:2] == ["JobId", "StatusCode"]
    assert [row.split()[0] for row in rows] == ids[:len(rows)]
    served_now = _served(simulator)
    assert SERVED_BEFORE_SIGNAL - MAX_IN_FLIGHT <= len(rows) <= served_now
    assert len(err.decode().splitlines()) == 1


@pytest.mark.parametrize(("signum", "status", "word"), [(signal.SIGINT, 130, "interrupted"),
                                                        (signal.SIGTERM, 143, "terminated")], ids=["SIGINT", "SIGTERM"])
def test_a_signal_during_wait_on_a_terminal_erases_the_live_line_before_its_note(tmp_path, signum, status, word):
    simulator = Simulator(seed=3)
    ids = [simulator.create_job(fate="JobSuccess", init_seconds=0.0, run_seconds=3600.0) for _ in range(3)]
    with run_in_thread(simulator) as server:
        run = PtyRun("check", "--endpoint", server.base_url, "--wait", *ids,
                     env=cli_env(tmp_path, {"TENCENTCLOUD_SECRET_ID": DEFAULT_SECRET_ID,
                                            "TENCENTCLOUD_SECRET_KEY": DEFAULT_SECRET_KEY}))
        try:
            for job_id in ids:  # each one's change line: pending -> JobRunning
                run.wait_for_text(job_id, DEADLINE)
            mark = len(run.output)
            run.wait_for_text("0/3 done; ", DEADLINE, start=mark)  # the live line drawn again below them
            run.signal(signum)
            code = run.wait_exit(DEADLINE)
        finally:
            run.close()
    assert code == status, run.text()[-1000:]
    raw = bytes(run.output).decode("utf-8", "replace")
    note = f"vclm-watch check: {word}: "
    assert raw.count(note) == 1
    before, after = raw.rsplit(note, 1)
    assert before.endswith(ERASE_LINE), "the live line is erased, and the note starts the line"
    assert after.count("\n") == 1 and after.endswith("\r\n") and ERASE_LINE not in after, \
        "one line, and nothing drawn after it"
