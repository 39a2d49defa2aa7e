"""How the shell commands print jobs: a table on a terminal, plain text when piped, JSON Lines on request.

Rows are built from `JobRecord`s, the engine's own record of each job, so `check` and `ls`
show the same facts the TUI does. JSON objects use the API's own field names.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from rich.cells import cell_len
from rich.console import Console
from rich.text import Text

from tui.api.models import JOB_FAILED, JOB_INIT, JOB_MODERATION_FAILED, JOB_RUNNING, JOB_SUCCESS
from tui.core.events import StateChanged
from tui.core.formatting import inert
from tui.core.jobstate import JobRecord, LastError

COLOR_CHOICES = ("auto", "always", "never")

# symbol, colour: the symbol carries the state where colour cannot (NO_COLOR, colour blindness).
STATE_LOOK: dict[str, tuple[str, str]] = {
    JOB_INIT: ("○", "cyan"),
    JOB_RUNNING: ("◐", "yellow"),
    JOB_SUCCESS: ("✓", "green"),
    JOB_FAILED: ("✗", "red"),
    JOB_MODERATION_FAILED: ("⊘", "red"),
}
UNKNOWN_LOOK = ("?", "magenta")  # a StatusCode not in the API's table, shown as-is
PENDING_LOOK = ("·", "dim")  # never answered
ERROR_STYLE = "bold red"
EMPTY = "-"


# -- values -----------------------------------------------------------------------------------

def iso_utc(at: float | None) -> str | None:
    """ISO 8601 in UTC to the millisecond, e.g. 2025-11-25T19:07:05.123Z."""
    if at is None:
        return None
    stamp = datetime.fromtimestamp(at, tz=UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def printable(text: object, limit: int = 0) -> str:
    """Outside text made safe for a terminal: no control characters or escape sequences."""
    return inert(text, limit, placeholder="?")


def error_object(error: LastError | None) -> dict[str, Any] | None:
    if error is None:
        return None
    return {"Code": error.code, "Message": error.message, "RequestId": error.request_id}


def error_text(error: LastError | None) -> str:
    if error is None:
        return ""
    return f"{error.code}: {error.message}" if error.message else error.code


def check_row(record: JobRecord) -> dict[str, Any]:
    """One job as `check --json` prints it: the API's fields, then Error and PolledAt."""
    answered = record.status_code is not None
    return {
        "JobId": record.job_id,
        "StatusCode": record.status_code,
        "StatusMsg": record.status_msg if answered else None,
        "ResultVideoUrl": record.result_video_url if answered else None,
        "RequestId": record.last_request_id,
        "Error": error_object(record.last_error),
        "PolledAt": iso_utc(record.last_polled),
    }


def ls_row(record: JobRecord) -> dict[str, Any]:
    """One saved job as `ls --json` prints it: last known state, no network."""
    answered = record.status_code is not None
    return {
        "JobId": record.job_id,
        "Label": record.label,
        "StatusCode": record.status_code,
        "StatusMsg": record.status_msg if answered else None,
        "ResultVideoUrl": record.result_video_url if answered else None,
        "RequestId": record.last_request_id,
        "Error": error_object(record.last_error),
        "AddedAt": iso_utc(record.added_at or None),
        "LastPolled": iso_utc(record.last_polled),
    }


def transition_row(event: StateChanged) -> dict[str, Any]:
    """A state change as `check --wait --json` prints it as it happens (told apart by "Event")."""
    record = event.record
    return {
        "Event": "StateChanged",
        "JobId": record.job_id,
        "FromStatusCode": event.from_code,
        "StatusCode": event.to_code,
        "StatusMsg": record.status_msg,
        "RequestId": record.last_request_id,
        "At": iso_utc(event.at),
    }


def status_look(record: JobRecord) -> tuple[str, str, str]:
    """(symbol, code as shown, style) of a job's last known state."""
    code = record.status_code
    if code is None:
        if record.last_error is not None:
            return "!", "", ERROR_STYLE  # never answered: the Error column says why
        symbol, style = PENDING_LOOK
        return symbol, "pending", style
    symbol, style = STATE_LOOK.get(code, UNKNOWN_LOOK)
    return symbol, printable(code, 60), style


_TERMINAL_UNSAFE = re.compile("[\u0080-\u009f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")

# -- columns ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Cell:
    text: str
    style: str = ""
    symbol: str = ""  # shown before the text in a terminal table only


@dataclass(frozen=True)
class Column:
    header: str
    cell: Callable[[JobRecord], Cell]


def _status_cell(record: JobRecord) -> Cell:
    symbol, code, style = status_look(record)
    return Cell(code, style, symbol)


def _error_cell(record: JobRecord) -> Cell:
    return Cell(printable(error_text(record.last_error), 300), ERROR_STYLE)


def _polled_cell(record: JobRecord) -> Cell:
    return Cell(iso_utc(record.last_polled) or "", "dim")


CHECK_COLUMNS: tuple[Column, ...] = (
    Column("JobId", lambda r: Cell(r.job_id)),
    Column("StatusCode", _status_cell),
    Column("StatusMsg", lambda r: Cell(printable(r.status_msg, 200))),
    Column("RequestId", lambda r: Cell(printable(r.last_request_id or "", 80), "dim")),
    Column("Error", _error_cell),
    Column("ResultVideoUrl", lambda r: Cell(printable(r.result_video_url), "blue")),
)

LS_COLUMNS: tuple[Column, ...] = (
    Column("JobId", lambda r: Cell(r.job_id)),
    Column("Label", lambda r: Cell(printable(r.label, 80), "bold")),
    Column("StatusCode", _status_cell),
    Column("StatusMsg", lambda r: Cell(printable(r.status_msg, 200))),
    Column("LastPolled", _polled_cell),
    Column("Error", _error_cell),
    Column("ResultVideoUrl", lambda r: Cell(printable(r.result_video_url), "blue")),
)


# -- the printer ------------------------------------------------------------------------------

def wants_colour(stream: TextIO, color: str = "auto", env: Mapping[str, str] | None = None) -> tuple[bool, bool]:
    """(terminal layout, colour). Colour only on a terminal, never under NO_COLOR or TERM=dumb,
    unless --color always; --color never turns it off everywhere."""
    env = os.environ if env is None else env
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    if color == "always":
        return True, True
    if color == "never":
        return tty, False
    return tty, tty and not env.get("NO_COLOR") and env.get("TERM") != "dumb"


class Printer:
    """Writes results to one stream (stdout), in the form the stream and the options call for."""

    def __init__(self, stream: TextIO, *, color: str = "auto", env: Mapping[str, str] | None = None) -> None:
        self.stream = stream
        self.terminal, self.colour = wants_colour(stream, color, env)
        encoding = (getattr(stream, "encoding", None) or "utf-8").lower().replace("-", "")
        self.unicode = encoding in ("utf8", "utf16", "utf32", "gb18030")
        if not self.unicode and hasattr(stream, "reconfigure"):
            try:
                stream.reconfigure(errors="replace")
            except (ValueError, OSError):
                pass
        self._console: Console | None = None

    @property
    def console(self) -> Console:
        if self._console is None:
            self._console = Console(
                file=self.stream, force_terminal=self.terminal, no_color=not self.colour,
                color_system="standard" if self.colour else None,
                highlight=False, markup=False, emoji=False, soft_wrap=False,
            )
        return self._console

    def json_line(self, obj: Mapping[str, Any]) -> None:
        text = json.dumps(obj, ensure_ascii=not self.unicode)
        # json escapes C0 controls only; C1 controls and bidi/format characters from outside
        # text would still steer a terminal, so they are written as \uXXXX escapes too.
        self.stream.write(_TERMINAL_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n")
        self.stream.flush()

    def table(self, columns: Sequence[Column], records: Sequence[JobRecord]) -> None:
        """One line per job under a header, columns aligned, nothing cut: long values (URLs) run
        on and the terminal wraps them, so an id or a URL is never truncated or folded."""
        header = [Cell(column.header, "bold") for column in columns]
        rows = [[column.cell(record) for column in columns] for record in records]
        if self.terminal:
            grid = [header] + [[Cell(f"{c.symbol} {c.text}".rstrip() if c.symbol else c.text, c.style)
                                for c in row] for row in rows]
        else:  # plain: fit for grep, awk (an empty cell is "-") and files
            grid = [header] + [[Cell(c.text or EMPTY) for c in row] for row in rows]
        widths = [max(cell_len(line[i].text) for line in grid) for i in range(len(columns))]
        for line in grid:
            if self.terminal:
                text = Text()
                for i, cell in enumerate(line):
                    text.append(cell.text, style=cell.style or None)
                    text.append(" " * (widths[i] - cell_len(cell.text) + 2))
                text.rstrip()
                self.console.print(text, soft_wrap=True)
            else:
                padded = [cell.text + " " * (widths[i] - cell_len(cell.text)) for i, cell in enumerate(line)]
                self.stream.write("  ".join(padded).rstrip() + "\n")
        self.stream.flush()

    def transition(self, event: StateChanged) -> None:
        """One line for one state change, as it happens."""
        record = event.record
        at = iso_utc(event.at) or ""
        before = printable(event.from_code, 60) if event.from_code else "pending"
        after = printable(event.to_code, 60)
        message = printable(record.status_msg, 200)
        if self.terminal:
            symbol, _, style = status_look(record)
            text = Text.assemble((at, "dim"), "  ", record.job_id, "  ", (before, "dim"), " → ",
                                 (f"{symbol} {after}", style), "  ", message)
            self.console.print(text, soft_wrap=True)
        else:
            self.stream.write(f"{at}  {record.job_id}  {before} -> {after}  {message}".rstrip() + "\n")
        self.stream.flush()
