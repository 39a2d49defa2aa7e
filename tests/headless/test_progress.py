"""`check --wait`'s progress: the live line on a terminal's stderr (only there, and never with
--json), the summary at the end (a line on stderr, or the last --json object), and its numbers."""

from __future__ import annotations

import asyncio
import fcntl
import io
import json
import logging
import os
import random
import re
import struct
import subprocess
import sys
import termios
import threading

import pytest
from clikit import CLI_TIMEOUT, REPO, drain_pty, wait_for

from tui.api.client import VclmClient
from tui.api.clock import FakeClock
from tui.api.credentials import Credentials
from tui.api.models import JOB_FAILED, JOB_INIT, JOB_MODERATION_FAILED, JOB_RUNNING, JOB_SUCCESS
from tui.api.ratelimit import RateLimiter
from tui.api.retry import RetryPolicy
from tui.core.events import StateChanged
from tui.core.jobstate import JobRecord, LastError
from tui.headless.check import check_jobs
from tui.headless.progress import ERASE_LINE, LiveLine, WaitTally, live_line_wanted, percentile
from tui.simulator.service import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, Simulator
from tui.simulator.transport import SimulatorTransport

SGR = re.compile(r"\x1b\[[0-9;]*m")
REAL_SECONDS = 20.0  # a hang guard only: the fake clock makes every wait instant
SUMMARY_KEYS = ["Event", "Jobs", "Succeeded", "Failed", "ModerationFailed", "Unqueryable", "Unfinished",
                "FinishedDuringWait", "TimeToFinishP50", "TimeToFinishP95", "Elapsed"]


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


# -- the arithmetic ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("values", "p", "expected"), [
    ([], 50, None),
    ([7.0], 50, 7.0),
    ([7.0], 95, 7.0),
    ([4.0, 1.0, 3.0, 2.0], 50, 2.0),  # rank ceil(0.5 * 4) = 2
    ([float(v) for v in range(1, 21)], 95, 19.0),  # rank 19 of 20, exactly (no float rounding up to 20)
    ([float(v) for v in range(1, 21)], 50, 10.0),
    ([float(v) for v in range(1, 11)], 95, 10.0),  # rank ceil(9.5) = 10
])
def test_percentiles_are_nearest_rank(values, p, expected):
    assert percentile(values, p) == expected


def _answer(tally: WaitTally, record: JobRecord, code: str, at: float, *, settled: bool = False) -> None:
    """What check_jobs hands the tally for an answer that moved `record` to `code`."""
    before = record.status_code
    record.status_code = code
    tally.seen(record, settled=settled)
    tally.changed(StateChanged(record, before, code, at))


def _four_jobs(clock: FakeClock) -> tuple[WaitTally, list[JobRecord]]:
    """Four jobs seen at the start: one already finished, three running that finish after 10, 30
    and 20 s (one JobFailed); a fifth never answered, refused for good."""
    records = [JobRecord(job_id=f"{n:032x}") for n in range(5)]
    tally = WaitTally([r.job_id for r in records], clock=clock)
    start = clock.time()
    _answer(tally, records[0], JOB_SUCCESS, start)
    for record in records[1:4]:
        _answer(tally, record, JOB_INIT, start)
    records[4].last_error = LastError("FailedOperation.TaskNotExist", "no such job", None, start)
    tally.seen(records[4], settled=True)
    clock.advance(5)
    _answer(tally, records[1], JOB_RUNNING, start + 5)
    for seconds, record, fate in ((10, records[1], JOB_SUCCESS), (20, records[3], JOB_FAILED),
                                  (30, records[2], JOB_SUCCESS)):
        clock.advance(start + seconds - clock.time())
        _answer(tally, record, fate, start + seconds)
    return tally, records


def test_the_tally_counts_outcomes_and_times_each_job_from_its_first_answer_to_its_finish():
    clock = FakeClock()
    tally, _ = _four_jobs(clock)
    assert tally.times == [10.0, 20.0, 30.0], "the already finished job took no measured time"
    assert tally.summary_object() == {
        "Event": "Summary", "Jobs": 5, "Succeeded": 3, "Failed": 1, "ModerationFailed": 0, "Unqueryable": 1,
        "Unfinished": 0, "FinishedDuringWait": 3, "TimeToFinishP50": 20.0, "TimeToFinishP95": 30.0,
        "Elapsed": 30.0,
    }
    assert list(tally.summary_object()) == SUMMARY_KEYS
    assert tally.summary_text() == ("5 job(s): 3 succeeded, 1 failed, 0 moderation failed, 1 unqueryable, "
                                    "0 unfinished; 3 finished during the wait, time to finish p50 20.0s, "
                                    "p95 30.0s; 30.0s elapsed")


def test_the_live_line_says_done_of_total_by_outcome_rate_elapsed_and_what_remains():
    clock = FakeClock()
    records = [JobRecord(job_id=f"{n:032x}") for n in range(4)]
    tally = WaitTally([r.job_id for r in records], clock=clock)
    tally.rate = lambda: 18.94
    start = clock.time()
    for record in records:
        _answer(tally, record, JOB_RUNNING, start)
    assert tally.live_text() == "0/4 done; 18.9 req/s; 0s elapsed; time left unknown"
    clock.advance(40)
    _answer(tally, records[0], JOB_MODERATION_FAILED, clock.time())
    # one finish in 40 s: the three left, at that pace, take 120 s more
    assert tally.live_text() == "1/4 done (1 moderation failed); 18.9 req/s; 40s elapsed; about 2m00s left"
    clock.advance(20)
    _answer(tally, records[1], JOB_SUCCESS, clock.time())
    assert tally.live_text() == ("2/4 done (1 succeeded, 1 moderation failed); 18.9 req/s; 1m00s elapsed; "
                                 "about 1m00s left")


def test_jobs_found_already_finished_do_not_speed_up_the_estimate():
    clock = FakeClock()
    records = [JobRecord(job_id=f"{n:032x}") for n in range(3)]
    tally = WaitTally([r.job_id for r in records], clock=clock)
    _answer(tally, records[0], JOB_SUCCESS, clock.time())
    _answer(tally, records[1], JOB_RUNNING, clock.time())
    _answer(tally, records[2], JOB_RUNNING, clock.time())
    clock.advance(10)
    assert tally.time_left() is None
    _answer(tally, records[1], JOB_SUCCESS, clock.time())
    assert tally.time_left() == 10.0


# -- the live line on a (fake) terminal ---------------------------------------------------------------

def test_the_live_line_is_redrawn_in_place_at_most_once_per_interval_and_only_when_it_changed():
    clock = FakeClock()
    texts = iter(f"{n}/100 done" for n in range(100))
    current = ["0/100 done"]
    stream = _Tty()
    line = LiveLine(stream, lambda: current[0], clock=clock, width=lambda: 80, interval=0.25)
    line.refresh()
    assert stream.getvalue() == ERASE_LINE + "0/100 done"
    for _ in range(50):  # a burst of answers within one interval: nothing more is written
        current[0] = next(texts)
        line.refresh()
    assert line.draws == 1
    clock.advance(0.25)
    line.refresh()
    assert line.draws == 2 and stream.getvalue().endswith(ERASE_LINE + current[0])
    clock.advance(10)
    written = len(stream.getvalue())
    line.refresh()  # the same text: nothing to redraw
    assert len(stream.getvalue()) == written


def test_clearing_erases_the_line_once_and_the_next_refresh_draws_it_again():
    clock = FakeClock()
    stream = _Tty()
    line = LiveLine(stream, lambda: "3/9 done", clock=clock, width=lambda: 80)
    line.clear()
    assert stream.getvalue() == "", "nothing shown, nothing to erase"
    line.refresh()
    line.clear()
    line.clear()
    assert stream.getvalue() == ERASE_LINE + "3/9 done" + ERASE_LINE
    clock.advance(1)
    line.refresh()
    assert stream.getvalue().endswith(ERASE_LINE + "3/9 done")


@pytest.mark.parametrize(("width", "room"), [(40, 39), (0, 79)], ids=["40-columns", "width-unknown"])
def test_the_live_line_never_wraps(width, room):
    stream = _Tty()
    LiveLine(stream, lambda: "x" * 300, clock=FakeClock(), width=lambda: width).refresh()
    assert stream.getvalue() == ERASE_LINE + "x" * room


@pytest.mark.parametrize(("stderr_tty", "stdout_tty", "json_lines", "env", "wanted"), [
    (True, True, False, {}, True),
    (False, True, False, {}, False),
    (True, False, False, {}, False),  # the results go to a file or a pipe: a script's run
    (True, True, True, {}, False),
    (True, True, False, {"TERM": "dumb"}, False),  # cannot erase a line
])
def test_when_a_live_line_is_drawn(stderr_tty, stdout_tty, json_lines, env, wanted):
    stderr, stdout = (_Tty() if tty else io.StringIO() for tty in (stderr_tty, stdout_tty))
    assert live_line_wanted(stderr, stdout, env, json_lines=json_lines) is wanted


def test_whatever_is_written_above_the_live_line_starts_on_a_clean_line_and_the_line_comes_back_under_it():
    clock = FakeClock()
    stream = _Tty()
    line = LiveLine(stream, lambda: "3/9 done", clock=clock, width=lambda: 80)
    with line.above():
        stream.write("nothing shown yet\n")
    assert stream.getvalue() == "nothing shown yet\n", "no line to erase, none to draw again"
    line.refresh()
    with line.above():  # drawn again at once, within the redraw interval: it was showing
        stream.write("a warning\n")
    assert stream.getvalue().endswith("3/9 done" + ERASE_LINE + "a warning\n" + ERASE_LINE + "3/9 done")
    line.clear()
    written = len(stream.getvalue())
    with line.above():  # erased for good at the end of the run: not brought back by a late warning
        stream.write("late\n")
    assert stream.getvalue()[written:] == "late\n"


# -- the numbers of a real wait, against the simulator on a fake clock --------------------------------

def test_the_summary_of_a_wait_is_drawn_from_the_jobs_own_times():
    clock = FakeClock()
    sim = Simulator(seed=7, clock=clock)
    runs = {10.0: JOB_SUCCESS, 15.0: JOB_MODERATION_FAILED, 20.0: JOB_SUCCESS, 25.0: JOB_FAILED,
            30.0: JOB_SUCCESS, 40.0: JOB_SUCCESS}
    # (a moderation failure ends JobInit, the others end JobRunning)
    by_run = {seconds: sim.create_job(fate=fate, init_seconds=seconds if fate == JOB_MODERATION_FAILED else 0.0,
                                      run_seconds=0.0 if fate == JOB_MODERATION_FAILED else seconds)
              for seconds, fate in runs.items()}
    done = sim.create_job(fate=JOB_SUCCESS, init_seconds=0.0, run_seconds=0.0)
    ids = [done, *by_run.values(), sim.phantom_job_id()]
    client = VclmClient(Credentials(DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, source="test"), "ap-guangzhou",
                        "http://127.0.0.1:9", limiter=RateLimiter(19.0, clock=clock),
                        retry=RetryPolicy(attempts=4, rng=random.Random(3)), transport=SimulatorTransport(sim),
                        clock=clock)
    tally = WaitTally(ids, clock=clock)
    started = clock.time()

    async def go():
        async with client:
            return await asyncio.wait_for(check_jobs(client, ids, clock=clock, wait=True, min_interval=2.0,
                                                     not_found_grace=0.0, tally=tally), REAL_SECONDS)

    result = asyncio.run(go())
    records = {r.job_id: r for r in result.records}

    def took(job_id: str) -> float:  # the job's own history: first answer to the answer that finished it
        history = records[job_id].history
        return history[-1].at - history[0].at

    times = [took(job_id) for _, job_id in sorted(by_run.items())]
    assert times == sorted(times), "the longer a job ran, the longer it took"
    for seconds, job_id in by_run.items():  # never seen finished before it was (first seen at the start)
        assert took(job_id) >= seconds - 1.0, (seconds, took(job_id))
    summary = tally.summary_object()
    assert summary == {
        "Event": "Summary", "Jobs": 8, "Succeeded": 5, "Failed": 1, "ModerationFailed": 1, "Unqueryable": 1,
        "Unfinished": 0, "FinishedDuringWait": 6,
        # nearest rank of 6: p50 the 3rd shortest (the 20 s job), p95 the 6th (the 40 s one)
        "TimeToFinishP50": round(took(by_run[20.0]), 3), "TimeToFinishP95": round(took(by_run[40.0]), 3),
        "Elapsed": summary["Elapsed"],
    }
    assert sorted(tally.times) == sorted(took(job_id) for job_id in by_run.values())
    last = records[by_run[40.0]].history[-1].at
    assert summary["Elapsed"] == round(last - started, 3), "the wait ends with the last job's finish"


def test_a_wait_cut_by_its_timeout_counts_the_unfinished_jobs():
    clock = FakeClock()
    sim = Simulator(seed=7, clock=clock)
    ids = [sim.create_job(fate=JOB_SUCCESS, init_seconds=0.0, run_seconds=5.0),
           sim.create_job(fate=JOB_SUCCESS, init_seconds=0.0, run_seconds=3600.0)]
    client = VclmClient(Credentials(DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, source="test"), "ap-guangzhou",
                        "http://127.0.0.1:9", limiter=RateLimiter(19.0, clock=clock),
                        retry=RetryPolicy(attempts=4, rng=random.Random(3)), transport=SimulatorTransport(sim),
                        clock=clock)
    tally = WaitTally(ids, clock=clock)

    async def go():
        async with client:
            return await asyncio.wait_for(check_jobs(client, ids, clock=clock, wait=True, timeout=60.0,
                                                     tally=tally), REAL_SECONDS)

    assert asyncio.run(go()).timed_out
    summary = tally.summary_object()
    assert (summary["Succeeded"], summary["Unfinished"], summary["FinishedDuringWait"]) == (1, 1, 1)
    assert summary["TimeToFinishP50"] == summary["TimeToFinishP95"] == round(tally.times[0], 3)
    assert summary["Elapsed"] == pytest.approx(60.0, abs=2.5)


# -- the command: on a pseudo-terminal, to a file, with --json -----------------------------------------

@pytest.fixture
def fast_polling(isolated_home):
    path = isolated_home / "fast.toml"
    path.write_text("min_interval = 0.1\n")
    return ["--config", str(path)]


def _wait_jobs(sim) -> list[str]:
    """One job already finished, and four held in JobInit until each has been asked about once,
    then running for 0.5 to 1.5 s of real time (the loopback simulator's clock) before they
    finish: however long the CLI takes to start, it sees every one of them unfinished first."""
    simulator = sim.simulator
    done = simulator.create_job(fate=JOB_SUCCESS, init_seconds=0.0, run_seconds=0.0)
    plan = {simulator.create_job(fate=fate, init_seconds=3600.0, run_seconds=3600.0): seconds
            for fate, seconds in ((JOB_SUCCESS, 0.5), (JOB_SUCCESS, 1.0), (JOB_FAILED, 1.0), (JOB_SUCCESS, 1.5))}

    def release() -> None:
        wait_for(lambda: sim.describes() >= 1 + len(plan), timeout=CLI_TIMEOUT, what="every job asked about")
        for job_id, seconds in plan.items():
            elapsed = simulator.sim_now() - simulator.jobs[job_id].created_at
            simulator.set_fate(job_id, init_seconds=elapsed, run_seconds=seconds)

    threading.Thread(target=release, daemon=True).start()
    return [done, *plan]


def _run_on_terminal(args: list[str], *, stdout_to_terminal: bool = True, columns: int = 80) -> tuple[int, str, str]:
    """The CLI with stderr (and stdout, unless told) on a pseudo-terminal; (status, terminal, stdout if piped)."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = dict(os.environ, TENCENTCLOUD_SECRET_ID=DEFAULT_SECRET_ID, TENCENTCLOUD_SECRET_KEY=DEFAULT_SECRET_KEY,
               TERM="xterm-256color", PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("COLUMNS", None)
    env.pop("NO_COLOR", None)
    process = subprocess.Popen([sys.executable, "-m", "tui", *args], stdin=subprocess.DEVNULL,
                               stdout=slave if stdout_to_terminal else subprocess.PIPE, stderr=slave,
                               env=env, cwd=REPO, text=True)
    os.close(slave)
    written = drain_pty(master)
    piped = process.stdout.read() if process.stdout is not None else ""
    code = process.wait(timeout=CLI_TIMEOUT)
    return code, written.decode("utf-8", errors="replace"), piped


def test_on_a_terminal_the_live_line_is_drawn_in_place_and_ends_in_the_summary(sim, fast_polling):
    ids = _wait_jobs(sim)
    code, terminal, _ = _run_on_terminal(["check", "--endpoint", sim.url, "--wait", "--timeout", "20",
                                          *fast_polling, *ids])
    assert code == 1
    drawn = [part.split("\r\n")[0] for part in terminal.split(ERASE_LINE)[1:] if re.match(r"\d+/5 done", part)]
    assert drawn[0].startswith("0/5 done; "), terminal
    assert any(re.match(r"[1-4]/5 done \(\d succeeded", text) for text in drawn), drawn
    assert all(len(text) < 80 for text in drawn), "the live line never wraps"
    assert all("req/s" in text and "elapsed" in text for text in drawn), drawn
    lines = terminal.split("\r\n")
    summary = [line for line in lines if "summary:" in line]
    assert len(summary) == 1 and summary[0].startswith(
        "vclm-watch check: summary: 5 job(s): 4 succeeded, 1 failed, 0 moderation failed, 0 unqueryable, "
        "0 unfinished; 4 finished during the wait, time to finish p50 "), summary
    assert ERASE_LINE not in summary[0], "the live line is gone before the summary is written"
    # every change line starts on a clean line: the live line is erased first, never left in front of it
    changes = [SGR.sub("", line.split(ERASE_LINE)[-1]) for line in lines if " → " in line]
    assert len(changes) >= 9, "first answers of five jobs, then at least four changes"
    assert all(re.match(r"\d\d:\d\d:\d\dZ  [0-9a-f]{32}  ", change) for change in changes), changes
    header = [line for line in lines if "JobId" in line]  # and the table at the end too
    assert len(header) == 1 and SGR.sub("", header[0].split(ERASE_LINE)[-1]).startswith("JobId"), header


def test_when_the_timeout_runs_out_the_live_line_is_erased_before_the_table(sim, fast_polling):
    code, terminal, _ = _run_on_terminal(["check", "--endpoint", sim.url, "--wait", "--timeout", "2",
                                          *fast_polling, sim.job(running=True)])
    assert code == 4
    changed, table = terminal.split("JobId", 1)
    last_change, below = changed.rsplit("\r\n", 2)[-2:]
    assert "JobRunning" in last_change
    assert below.startswith(ERASE_LINE + "0/1 done; "), "drawn again below the change line"
    assert "done" not in below.split(ERASE_LINE)[-1], "and erased before the table"
    assert "done; " not in table


def test_with_stdout_to_a_file_no_live_line_even_with_stderr_on_a_terminal(sim, fast_polling):
    code, terminal, piped = _run_on_terminal(["check", "--endpoint", sim.url, "--wait", "--timeout", "20",
                                              *fast_polling, *_wait_jobs(sim)], stdout_to_terminal=False)
    assert code == 1
    assert ERASE_LINE not in terminal and "done;" not in terminal
    assert terminal.split("\r\n")[-2].startswith("vclm-watch check: summary: 5 job(s): 4 succeeded, 1 failed"), terminal
    assert "\x1b" not in piped and "done;" not in piped, "nothing of the live line in the results"


def test_a_warning_logged_during_the_wait_starts_on_a_clean_line(sim, fast_polling):
    from tui.cli import build_parser
    from tui.headless import commands

    simulator = sim.simulator
    job_id = simulator.create_job(fate=JOB_SUCCESS, init_seconds=3600.0, run_seconds=3600.0)  # held in JobInit
    stdout, stderr = _Tty(), _Tty()
    env = dict(os.environ, TENCENTCLOUD_SECRET_ID=DEFAULT_SECRET_ID, TENCENTCLOUD_SECRET_KEY=DEFAULT_SECRET_KEY,
               TERM="xterm-256color", COLUMNS="120")

    def line_showing() -> bool:  # the job's first answer printed, and the live line drawn again under it
        return ("JobInit" in stdout.getvalue()
                and stderr.getvalue().rsplit(ERASE_LINE, 1)[-1].startswith("0/1 done;"))

    def warn_then_release() -> None:
        wait_for(line_showing, timeout=CLI_TIMEOUT, what="the live line under the first answer")
        # nothing changes while the job is held: the warning is logged (as the job database's writer
        # thread would) with the live line on the terminal
        logging.getLogger("tui.core.jobdb").warning("old jobs were not pruned from the job database: disk full")
        elapsed = simulator.sim_now() - simulator.jobs[job_id].created_at
        simulator.set_fate(job_id, init_seconds=elapsed, run_seconds=0.0)

    releaser = threading.Thread(target=warn_then_release, daemon=True)
    releaser.start()
    args = build_parser().parse_args(["check", "--endpoint", sim.url, "--wait", "--timeout", "20",
                                      *fast_polling, job_id])
    code = commands.run(args, stdin=io.StringIO(""), stdout=stdout, stderr=stderr, env=env)
    releaser.join(timeout=CLI_TIMEOUT)
    assert code == 0
    terminal = stderr.getvalue()
    before, warning = terminal.split("vclm-watch: warning: ", 1)
    assert before.endswith(ERASE_LINE), "the live line is erased before the warning is written"
    warning, after = warning.split("\n", 1)
    assert warning == "old jobs were not pruned from the job database: disk full"
    assert after.startswith(ERASE_LINE + "0/1 done;"), "and drawn again under it"


def test_with_stderr_to_a_file_no_live_line_only_the_summary(sim, cli, fast_polling):
    result = cli("check", "--endpoint", sim.url, "--wait", "--timeout", "20", *fast_polling, *_wait_jobs(sim))
    assert result.code == 1
    assert "\r" not in result.stderr and "\x1b" not in result.stderr
    assert result.stderr.splitlines()[-1].startswith(
        "vclm-watch check: summary: 5 job(s): 4 succeeded, 1 failed, 0 moderation failed, 0 unqueryable, "
        "0 unfinished; 4 finished during the wait, time to finish p50 ")


def test_with_json_no_live_line_and_the_last_object_is_the_summary(sim, fast_polling):
    ids = _wait_jobs(sim)
    code, terminal, _ = _run_on_terminal(["check", "--endpoint", sim.url, "--wait", "--json", "--timeout", "20",
                                          *fast_polling, *ids])
    assert code == 1
    assert ERASE_LINE not in terminal and "done;" not in terminal
    objects = [json.loads(line) for line in terminal.split("\r\n") if line]
    summary = objects[-1]
    assert list(summary) == SUMMARY_KEYS
    assert summary["Event"] == "Summary" and [o.get("Event") for o in objects].count("Summary") == 1
    assert (summary["Jobs"], summary["Succeeded"], summary["Failed"], summary["FinishedDuringWait"]) == (5, 4, 1, 4)
    assert summary["TimeToFinishP50"] <= summary["TimeToFinishP95"] <= summary["Elapsed"]
    # each time is at least the job's run: p50 the 2nd shortest of 0.5, 1.0, 1.0, 1.5 s, p95 the longest
    assert summary["TimeToFinishP50"] >= 1.0 and summary["TimeToFinishP95"] >= 1.5
