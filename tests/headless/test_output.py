"""How results look: colours on a terminal only, NO_COLOR, plain text when piped, outside text made inert."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from datetime import UTC, datetime

import pytest
from clikit import CLI_TIMEOUT, REPO, drain_pty
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.cells import cell_len

from tui.api.models import JOB_FAILED, JOB_RUNNING, JOB_SUCCESS
from tui.core.jobstate import JobRecord, LastError
from tui.headless.check import Verdict, job_verdict, overall_verdict
from tui.headless.output import CHECK_COLUMNS, LS_COLUMNS, Printer, check_row, iso_utc, wants_colour
from tui.simulator.service import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY

COLOUR = re.compile(r"\x1b\[[0-9;]*(3[0-7]|9[0-7]|38;)[0-9;]*m")  # an SGR sequence that sets a foreground colour


def _on_a_terminal(args: list[str], env_extra: dict[str, str], columns: int = 200) -> tuple[int, str]:
    """Run the CLI with stdout and stderr on a pseudo-terminal `columns` wide (200 unless told)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = dict(os.environ, PYTHONPATH=str(REPO), TENCENTCLOUD_SECRET_ID=DEFAULT_SECRET_ID,
               TENCENTCLOUD_SECRET_KEY=DEFAULT_SECRET_KEY, TERM="xterm-256color")
    env.pop("NO_COLOR", None)
    env.pop("COLUMNS", None)
    env.update(env_extra)
    process = subprocess.Popen([sys.executable, "-m", "tui", *args], stdin=subprocess.DEVNULL, stdout=slave,
                               stderr=slave, env=env, cwd=REPO)
    os.close(slave)
    written = drain_pty(master)
    code = process.wait(timeout=CLI_TIMEOUT)
    return code, written.decode("utf-8", errors="replace")


def test_a_terminal_gets_a_coloured_table_with_symbols(sim):
    code, out = _on_a_terminal(["check", "--endpoint", sim.url, sim.job(JOB_SUCCESS), sim.job(JOB_FAILED)], {})
    assert code == 1
    assert COLOUR.search(out)
    assert "✔ JobSuccess" in out and "✘ JobFailed" in out


@pytest.mark.parametrize("extra", [{"NO_COLOR": "1"}, {"TERM": "dumb"}], ids=["NO_COLOR", "TERM=dumb"])
def test_no_colour_on_a_terminal_under_no_color(sim, extra):
    code, out = _on_a_terminal(["check", "--endpoint", sim.url, sim.job(JOB_SUCCESS)], extra)
    assert code == 0
    assert "\x1b[" not in out
    assert "✔ JobSuccess" in out, "the symbol still tells the state without colour"


def test_color_never_on_a_terminal(sim):
    code, out = _on_a_terminal(["check", "--color", "never", "--endpoint", sim.url, sim.job(JOB_SUCCESS)], {})
    assert code == 0 and "\x1b[" not in out


def test_color_always_colours_even_when_piped(sim, cli):
    result = cli("check", "--color", "always", "--endpoint", sim.url, sim.job(JOB_SUCCESS))
    assert result.code == 0
    assert COLOUR.search(result.stdout)


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_a_check_table_on_an_80_column_terminal_wraps_no_row(sim):
    done = sim.job(JOB_SUCCESS)  # its result URL alone is over 100 characters
    code, out = _on_a_terminal(["check", "--endpoint", sim.url, done, sim.job(JOB_FAILED), sim.job(running=True)],
                               {}, columns=80)
    assert code == 1
    lines = [ANSI.sub("", line) for line in out.replace("\r", "").splitlines() if line.strip()]
    assert len(lines) == 4, out  # a header and one line per job
    assert all(cell_len(line) <= 80 for line in lines), lines
    assert done in out and "✔ JobSuccess" in out and "…" in out


# -- the printer in-process -----------------------------------------------------------------------

class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("tty", "color", "env", "expected"), [
    (True, "auto", {}, (True, True)),
    (True, "auto", {"NO_COLOR": "1"}, (True, False)),
    (True, "auto", {"NO_COLOR": ""}, (True, True)),  # NO_COLOR counts only when non-empty
    (True, "never", {}, (True, False)),
    (False, "auto", {}, (False, False)),
    (False, "always", {"NO_COLOR": "1"}, (True, True)),  # an explicit option beats the environment
])
def test_when_to_draw_a_table_and_when_to_colour(tty, color, env, expected):
    stream = _Tty() if tty else io.StringIO()
    assert wants_colour(stream, color, env) == expected


def _hostile_record() -> JobRecord:
    return JobRecord(job_id="f" * 32, status_code="\x1b[2JJobOdd", status_msg="清\x1b]0;pwned\x07屏",
                     last_error=LastError("X", "line one\nline two\x1b[31m", None, 0.0))


@pytest.mark.parametrize("tty", [False, True], ids=["piped", "terminal"])
def test_outside_text_cannot_send_escape_sequences(tty):
    stream = _Tty() if tty else io.StringIO()
    Printer(stream, color="never", env={"COLUMNS": "200"}).table(CHECK_COLUMNS, [_hostile_record()])
    out = stream.getvalue()
    assert "\x1b" not in out and "\x07" not in out
    assert "line one line two" in out


def test_json_keeps_outside_text_as_given_but_escaped():
    stream = io.StringIO()
    Printer(stream, env={}).json_line(check_row(_hostile_record()))
    assert "\x1b" not in stream.getvalue() and "\\u001b" in stream.getvalue()


# -- verdicts -------------------------------------------------------------------------------------

def _record(code: str | None = None, error: bool = False) -> JobRecord:
    return JobRecord(job_id="0" * 32, status_code=code,
                     last_error=LastError("FailedOperation.TaskNotExist", "", None, 0.0) if error else None)


@pytest.mark.parametrize(("record", "expected"), [
    (_record(JOB_SUCCESS), Verdict.SUCCESS),
    (_record(JOB_FAILED), Verdict.FAILED),
    (_record("JobModerationFailed"), Verdict.FAILED),
    (_record(JOB_RUNNING), Verdict.PENDING),
    (_record("JobQueued"), Verdict.PENDING),  # an unknown StatusCode is not finished
    (_record(None), Verdict.PENDING),
    (_record(None, error=True), Verdict.UNQUERYABLE),
    (_record(JOB_RUNNING, error=True), Verdict.UNQUERYABLE),  # the last query failed
])
def test_verdict_of_one_job(record, expected):
    assert job_verdict(record) == expected


@pytest.mark.parametrize(("codes", "expected"), [
    ([], 0),
    ([JOB_SUCCESS, JOB_SUCCESS], 0),
    ([JOB_SUCCESS, JOB_RUNNING], 4),
    ([JOB_RUNNING, "error"], 3),
    (["error", JOB_FAILED, JOB_RUNNING], 1),
])
def test_the_worst_verdict_wins(codes, expected):
    records = [_record(None, error=True) if code == "error" else _record(code) for code in codes]
    assert overall_verdict(records) == expected


# -- fitting a terminal's width -------------------------------------------------------------------

LONG_URL = "https://media.example.invalid/results/" + "b" * 120 + ".mp4"
REQUEST_ID = "6f1c2a4e-0b7d-4c1e-9a3b-2d4e5f607182"


def _long_records() -> list[JobRecord]:
    return [
        JobRecord(job_id="a" * 32, status_code=JOB_SUCCESS, status_msg="处理完成", result_video_url=LONG_URL,
                  last_request_id=REQUEST_ID, label="a label long enough to be cut somewhere on a narrow screen"),
        JobRecord(job_id="b" * 32, status_code="JobModerationFailed", status_msg="审核失败",
                  last_request_id=REQUEST_ID,
                  last_error=LastError("FailedOperation.InnerError", "internal error, " * 10, REQUEST_ID, 0.0)),
        JobRecord(job_id="c" * 32),
    ]


@pytest.mark.parametrize("columns", [CHECK_COLUMNS, LS_COLUMNS], ids=["check", "ls"])
@pytest.mark.parametrize("width", [80, 100, 60])
def test_on_a_terminal_no_row_is_wider_than_the_terminal_and_ids_stay_whole(columns, width):
    stream = _Tty()
    Printer(stream, color="never", env={"COLUMNS": str(width)}).table(columns, _long_records())
    lines = stream.getvalue().splitlines()
    assert len(lines) == 4
    assert all(cell_len(line) <= width for line in lines), lines
    for job_id in ("a" * 32, "b" * 32, "c" * 32):
        assert any(line.startswith(job_id) for line in lines)
    if width >= 80:
        assert "⊘ JobModerationFailed" in lines[2] and "…" in lines[1]
    assert REQUEST_ID not in stream.getvalue(), "RequestId is for --wide"


def test_wide_shows_every_column_and_cuts_nothing():
    stream = _Tty()
    Printer(stream, color="never", env={"COLUMNS": "80"}).table(CHECK_COLUMNS, _long_records(), wide=True)
    out = stream.getvalue()
    assert LONG_URL in out and REQUEST_ID in out and "internal error, " * 9 in out
    assert out.splitlines()[0].split() == ["JobId", "StatusCode", "StatusMsg", "RequestId", "Error", "ResultVideoUrl"]


def test_piped_output_is_never_cut():
    stream = io.StringIO()
    Printer(stream, env={"COLUMNS": "80"}).table(CHECK_COLUMNS, _long_records())
    out = stream.getvalue()
    assert LONG_URL in out and REQUEST_ID in out and "internal error, " * 9 in out


def test_the_table_uses_the_monitors_state_symbols():
    from tui.core.states import DEFAULT_SYMBOLS

    stream = _Tty()
    Printer(stream, color="never", env={"COLUMNS": "200"}).table(CHECK_COLUMNS, _long_records())
    lines = stream.getvalue().splitlines()
    assert f"{DEFAULT_SYMBOLS['success']} JobSuccess" in lines[1]
    assert f"{DEFAULT_SYMBOLS['moderation']} JobModerationFailed" in lines[2]
    assert f"{DEFAULT_SYMBOLS['pending']} not polled yet" in lines[3]


@pytest.mark.parametrize(("before", "after"), [(None, "JobInit"), ("JobRunning", "JobModerationFailed")])
def test_a_state_change_on_an_80_column_terminal_fits_one_line(before, after):
    from tui.core.events import StateChanged

    record = JobRecord(job_id="d" * 32, status_code=after, status_msg="审核失败: " + "a long reason " * 8)
    stream = _Tty()
    printer = Printer(stream, color="never", env={"COLUMNS": "80"})
    printer.transition(StateChanged(record, before, after, 1_764_000_000.0))
    (line,) = stream.getvalue().splitlines()
    assert cell_len(line) <= 80 and line.startswith("16:00:00Z  " + "d" * 32)
    assert after in line
    if before is None:  # room left for the message: cut to fit (else it is left to the table)
        assert "审核失败" in line and line.endswith("…")
    wide = _Tty()
    Printer(wide, color="never", env={"COLUMNS": "80"}, wide=True).transition(
        StateChanged(record, before, after, 1_764_000_000.0))
    assert "2025-11-24T16:00:00.000Z" in wide.getvalue() and "a long reason " * 7 in wide.getvalue()


@settings(max_examples=2000, deadline=None)
@given(st.floats(min_value=0, max_value=4_102_444_800)
       | st.integers(0, 4_102_444_800 * 10**6).map(lambda us: us / 1e6)
       | st.integers(0, 4_102_444_800 * 1000).map(lambda ms: ms / 1000))
def test_iso_utc_writes_what_datetime_writes_to_the_millisecond(at):
    expected = datetime.fromtimestamp(at, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert iso_utc(at) == expected


def test_check_json_error_has_the_server_fields_always_null_or_empty_for_an_api_error() -> None:
    from tui.headless.output import error_text

    record = JobRecord(job_id="a" * 32, last_error=LastError("InternalError", "oops", "req-1", 7.25))
    assert check_row(record)["Error"] == {"Code": "InternalError", "Message": "oops", "RequestId": "req-1",
                                          "HttpStatus": None, "ContentType": "", "Excerpt": ""}
    assert error_text(record.last_error) == "InternalError: oops"
    record.last_error = LastError("Transport.http_status", "the endpoint answered HTTP 503 Service Unavailable",
                                  None, 7.25, 503, "Service Unavailable", "text/plain", "try later")
    assert check_row(record)["Error"]["HttpStatus"] == 503
    assert error_text(record.last_error) == ("Transport.http_status: the endpoint answered HTTP 503 Service "
                                             "Unavailable (text/plain): try later")
