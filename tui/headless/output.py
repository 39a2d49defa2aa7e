"""How the shell commands print jobs: a table on a terminal, plain text when piped, JSON Lines on request.

Rows are built from `JobRecord`s, the engine's own record of each job, so `check` and `ls`
show the same facts the TUI does. JSON objects use the API's own field names.
"""

from __future__ import annotations

import codecs
import json
import math
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring, encode_basestring_ascii
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO

from tui.core.formatting import inert
from tui.core.jobstate import JobRecord, LastError
from tui.core.states import CODE_KEYS, DEFAULT_SYMBOLS

if TYPE_CHECKING:
    from rich.console import Console

    from tui.core.events import StateChanged
    from tui.core.jobdb import Listed

# Rich is imported where a table or a change line is drawn: JSON Lines (`ls --json`) go without it.

# The monitor's symbols (tui.core.states), with a colour each for terminals; the symbol carries
# the state where colour cannot (NO_COLOR, colour blindness).
STATE_COLOURS: dict[str, str] = {
    "init": "cyan", "running": "yellow", "success": "green", "failed": "red", "moderation": "red",
    "unknown": "magenta", "pending": "dim",
}
NOT_POLLED = "not polled yet"  # no answer and no error: never asked (JSON keeps null)
ERROR_STYLE = "bold red"
EMPTY = "-"


# -- values -----------------------------------------------------------------------------------

def _second_and_micro(at: float) -> tuple[float, int]:
    """The whole second and the microseconds of an instant, as `datetime` rounds them (half to even)."""
    frac, whole = math.modf(at)
    micro = round(frac * 1e6)
    if micro >= 1_000_000:
        return whole + 1, micro - 1_000_000
    if micro < 0:
        return whole - 1, micro + 1_000_000
    return whole, micro


def iso_utc(at: float | None) -> str | None:
    """ISO 8601 in UTC to the millisecond, e.g. 2025-11-25T19:07:05.123Z (as `datetime` would
    write it, microseconds rounded half to even then cut to milliseconds, without making one:
    `ls --json` of 100,000 jobs writes 200,000 of these)."""
    if at is None:
        return None
    whole, micro = _second_and_micro(at)
    t = time.gmtime(whole)
    return (f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
            f".{micro // 1000:03d}Z")


def printable(text: object, limit: int = 0) -> str:
    """Outside text made safe for a terminal: no control characters or escape sequences."""
    return inert(text, limit, placeholder="?")


def error_object(error: LastError | None) -> dict[str, Any] | None:
    """The error as `check --json` gives it: the API's Code, Message, RequestId, then what the
    server said when the answer did not come from the service proper (null or "" otherwise):
    its HTTP status, Content-Type and an excerpt of the body (the first bytes of one not JSON)."""
    if error is None:
        return None
    return {"Code": error.code, "Message": error.message, "RequestId": error.request_id,
            "HttpStatus": error.http_status, "ContentType": error.content_type, "Excerpt": error.excerpt}


def error_text(error: LastError | None) -> str:
    if error is None:
        return ""
    detail = error.detail
    return f"{error.code}: {detail}" if detail else error.code


def check_row(record: JobRecord, now: float | None = None) -> dict[str, Any]:
    """One job as `check --json` prints it: the API's fields, then Error and PolledAt; Source
    (`fetched` by this process, or `shared`: taken from another vclm-watch of the team) and
    AgeSeconds (how old the answer is at `now`, wall time), both null before any answer."""
    answered = record.status_code is not None
    age = None if record.last_polled is None else round(max(0.0, (time.time() if now is None else now) - record.last_polled), 3)
    return {
        "JobId": record.job_id,
        "StatusCode": record.status_code,
        "StatusMsg": record.status_msg if answered else None,
        "ResultVideoUrl": record.result_video_url if answered else None,
        "RequestId": record.last_request_id,
        "Error": error_object(record.last_error),
        "PolledAt": iso_utc(record.last_polled),
        "Source": None if record.last_polled is None else "shared" if record.shared_from else "fetched",
        "AgeSeconds": age,
    }


def ls_row(listed: Listed) -> dict[str, Any]:
    """One saved job as `ls --json` prints it: last known state, no network."""
    (job_id, label, added_at, status, message, url, request_id, code, text, error_request, polled,
     http_status, content_type, excerpt) = listed
    answered = status is not None
    return {
        "JobId": job_id,
        "Label": label,
        "StatusCode": status,
        "StatusMsg": message if answered else None,
        "ResultVideoUrl": url if answered else None,
        "RequestId": request_id,
        "Error": None if code is None else error_object(LastError(code, text or "", error_request, 0.0, http_status, "",
                                                                  content_type or "", excerpt or "")),
        "AddedAt": iso_utc(added_at or None),
        "LastPolled": iso_utc(polled),
    }


def _json_int(value: int | None) -> str:
    """An int or None as JSON; TypeError for anything else (the caller falls back to the encoder)."""
    if value is None:
        return "null"
    if type(value) is not int:
        raise TypeError(value)
    return str(value)


def ls_json_lines(listing: Iterable[Listed], *, ensure_ascii: bool) -> Iterator[str]:
    """`ls --json`'s lines, each exactly `JSONEncoder(ensure_ascii=...).encode(ls_row(listed))`,
    made without a dict per job: with the encoder's own string quoting (json.encoder), the
    constant parts written once, and each second's date and time formatted once (100,000 jobs
    polled at 19 a second share their seconds). A row holding values the database never gives
    (other than str, float and None) goes through `ls_row`: the encoder's own answer, or error."""
    quote = encode_basestring_ascii if ensure_ascii else encode_basestring
    encode = json.JSONEncoder(ensure_ascii=ensure_ascii).encode
    seconds: dict[float, str] = {}  # whole second -> its "YYYY-MM-DDTHH:MM:SS" (as iso_utc writes it)
    gmtime = time.gmtime

    def iso(at: float) -> str:  # iso_utc, step for step, with its seconds cached
        whole, micro = _second_and_micro(at)
        second = seconds.get(whole)
        if second is None:
            if len(seconds) >= 4096:
                seconds.clear()
            # (%-formatting: twice as fast as an f-string's format specs, for 100,000 distinct seconds)
            second = seconds[whole] = '"%04d-%02d-%02dT%02d:%02d:%02d' % gmtime(whole)[:6]  # noqa: UP031
        return second + _MILLIS[micro // 1000]

    for listed in listing:
        try:
            (job_id, label, added_at, status, message, url, request_id, code, text, error_request, polled,
             http_status, content_type, excerpt) = listed
            if status is None:
                state = '"StatusCode": null, "StatusMsg": null, "ResultVideoUrl": null'
            else:
                state = (f'"StatusCode": {quote(status)}, '
                         f'"StatusMsg": {"null" if message is None else quote(message)}, '
                         f'"ResultVideoUrl": {"null" if url is None else quote(url)}')
            error = "null" if code is None else (
                f'{{"Code": {quote(code)}, "Message": {quote(text or "")}, '
                f'"RequestId": {"null" if error_request is None else quote(error_request)}, '
                f'"HttpStatus": {_json_int(http_status)}, "ContentType": {quote(content_type or "")}, '
                f'"Excerpt": {quote(excerpt or "")}}}')
            line = (f'{{"JobId": {quote(job_id)}, "Label": {quote(label)}, {state}, '
                    f'"RequestId": {"null" if request_id is None else quote(request_id)}, "Error": {error}, '
                    f'"AddedAt": {iso(added_at) if added_at else "null"}, '
                    f'"LastPolled": {"null" if polled is None else iso(polled)}}}')
        except (TypeError, ValueError, OverflowError, OSError):
            line = encode(ls_row(listed))  # (the encoder's own answer, or its own error)
        yield line


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
            return DEFAULT_SYMBOLS["error"], "", ERROR_STYLE  # never answered: the Error column says why
        return DEFAULT_SYMBOLS["pending"], NOT_POLLED, STATE_COLOURS["pending"]
    key = CODE_KEYS.get(code, "unknown")  # a StatusCode not in the API's table is shown as-is
    return DEFAULT_SYMBOLS[key], printable(code, 60), STATE_COLOURS[key]


_MILLIS = tuple(f'.{milli:03d}Z"' for milli in range(1000))  # (iso_utc's ending, closing a JSON string)

_TERMINAL_UNSAFE = re.compile("[\u0080-\u009f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")
# The same characters in UTF-8, and the bytes that are never part of one.
_TERMINAL_UNSAFE_UTF8 = re.compile(b"\xc2[\x80-\x9f]|\xd8\x9c|\xe2\x80[\x8b-\x8f\xaa-\xae]|\xe2\x81[\xa0-\xa9]|\xef\xbb\xbf")
_ASCII_BYTES = bytes(range(128))


def _unicode_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def terminal_safe(text: str) -> tuple[str, bytes | None]:
    """JSON text with the characters that would still steer a terminal (C1 controls, bidi and
    format characters: json escapes C0 controls only) written as \\uXXXX escapes; and, when it
    was made on the way, its UTF-8 encoding (else None)."""
    if text.isascii():  # (what those characters never are; O(1) for a str)
        return text, None
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:  # (a lone surrogate: the stream says what it makes of it)
        return _TERMINAL_UNSAFE.sub(_unicode_escape, text), None
    # A regex over every character of 300 kB costs more than encoding them: only the non-ASCII
    # bytes are searched (whole UTF-8 sequences, side by side once the ASCII bytes are deleted).
    if _TERMINAL_UNSAFE_UTF8.search(data.translate(None, _ASCII_BYTES)):
        return _TERMINAL_UNSAFE.sub(_unicode_escape, text), None
    return text, data


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
    whole: bool = False  # never cut on screen (ids, states): what a reader copies or scans for
    wide_only: bool = False  # on a terminal only with --wide (always when piped)


def _status_cell(record: JobRecord) -> Cell:
    symbol, code, style = status_look(record)
    return Cell(code, style, symbol)


def _error_cell(record: JobRecord) -> Cell:
    return Cell(printable(error_text(record.last_error), 600), ERROR_STYLE)


def _polled_cell(record: JobRecord) -> Cell:
    return Cell(iso_utc(record.last_polled) or "", "dim")


CHECK_COLUMNS: tuple[Column, ...] = (
    Column("JobId", lambda r: Cell(r.job_id), whole=True),
    Column("StatusCode", _status_cell, whole=True),
    Column("StatusMsg", lambda r: Cell(printable(r.status_msg, 200))),
    Column("RequestId", lambda r: Cell(printable(r.last_request_id or "", 80), "dim"), wide_only=True),
    Column("Error", _error_cell),
    Column("ResultVideoUrl", lambda r: Cell(printable(r.result_video_url), "blue")),
)

LS_COLUMNS: tuple[Column, ...] = (
    Column("JobId", lambda r: Cell(r.job_id), whole=True),
    Column("Label", lambda r: Cell(printable(r.label, 80), "bold")),
    Column("StatusCode", _status_cell, whole=True),
    Column("StatusMsg", lambda r: Cell(printable(r.status_msg, 200))),
    Column("LastPolled", _polled_cell, wide_only=True),
    Column("Error", _error_cell),
    Column("ResultVideoUrl", lambda r: Cell(printable(r.result_video_url), "blue")),
)

GAP = 2  # spaces between two columns
MIN_CUT = 6  # a cut column keeps at least this many cells (its last one the marker)


def fit_widths(widths: Sequence[int], whole: Sequence[bool], available: int) -> list[int | None]:
    """Column widths that fit `available` cells. Cuttable columns share what the whole ones leave:
    each is cut to at most one common width (short ones stay whole), never under MIN_CUT; if even
    that does not fit, cuttable columns are dropped (None) from the right. Columns marked whole
    keep their width: a terminal too narrow even for them wraps the line."""
    shown = list(range(len(widths)))
    while True:
        cuttable = [i for i in shown if not whole[i]]
        fixed = sum(widths[i] for i in shown if whole[i]) + GAP * (len(shown) - 1)
        cap = max((widths[i] for i in cuttable), default=0)
        while cap > MIN_CUT and fixed + sum(min(widths[i], cap) for i in cuttable) > available:
            cap -= 1
        if fixed + sum(min(widths[i], cap) for i in cuttable) <= available or not cuttable:
            return [min(w, cap) if i in shown and not whole[i] else (w if i in shown else None)
                    for i, w in enumerate(widths)]
        shown.remove(cuttable[-1])


def terminal_width(stream: TextIO, env: Mapping[str, str]) -> int:
    """COLUMNS when set (as shells and tests do), else the terminal's own width, else 80."""
    columns = env.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, ValueError, OSError):
        return 80


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

    def __init__(self, stream: TextIO, *, color: str = "auto", env: Mapping[str, str] | None = None,
                 wide: bool = False) -> None:
        self.stream = stream
        self.wide = wide  # on a terminal: every column, nothing cut
        self.terminal, self.colour = wants_colour(stream, color, env)
        encoding = (getattr(stream, "encoding", None) or "utf-8").lower().replace("-", "")
        self.unicode = encoding in ("utf8", "utf16", "utf32", "gb18030")
        if not self.unicode and hasattr(stream, "reconfigure"):
            try:
                stream.reconfigure(errors="replace")
            except (ValueError, OSError):
                pass
        self.width = terminal_width(stream, os.environ if env is None else env)
        self._console: Console | None = None
        self._encoder: json.JSONEncoder | None = None
        self._buffer: BinaryIO | None = None
        self._buffer_known = False

    @property
    def console(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(
                file=self.stream, force_terminal=self.terminal, no_color=not self.colour,
                color_system="standard" if self.colour else None,
                highlight=False, markup=False, emoji=False, soft_wrap=False,
            )
        return self._console

    def json_line(self, obj: Mapping[str, Any]) -> None:
        """One object, written and flushed at once (a script reading the pipe sees it now)."""
        self.stream.write(self._json_text(obj))
        self.stream.flush()

    def json_lines(self, objs: Iterable[Mapping[str, Any]], chunk: int = 1000) -> None:
        """Many objects, written and flushed every `chunk` lines rather than after each."""
        if self._encoder is None:
            self._encoder = json.JSONEncoder(ensure_ascii=not self.unicode)
        self.json_texts(map(self._encoder.encode, objs), chunk)

    def ls_json(self, listing: Iterable[Listed], chunk: int = 1000) -> None:
        """`ls --json`: one line per job (see `ls_json_lines`), written as `json_lines` would."""
        self.json_texts(ls_json_lines(listing, ensure_ascii=not self.unicode), chunk)

    def json_texts(self, texts: Iterable[str], chunk: int = 1000) -> None:
        """Lines of JSON text, written and flushed every `chunk` lines rather than after each
        (`ls` of 100,000 jobs), made safe for a terminal as `json_line` makes them."""
        lines: list[str] = []
        for text in texts:
            lines.append(text)
            if len(lines) >= chunk:
                self._write_safe(lines)
                lines.clear()
        if lines:
            self._write_safe(lines)

    def _write_safe(self, lines: list[str]) -> None:
        text, data = terminal_safe("\n".join(lines) + "\n")
        binary = self._binary() if data is not None else None
        if binary is None:
            self.stream.write(text)
            self.stream.flush()
        else:
            binary.write(data)
            binary.flush()

    def _binary(self) -> BinaryIO | None:
        """Standard output's byte buffer, when writing UTF-8 there is what writing the text would
        do: the stream the interpreter made (which translates no newline but on Windows), UTF-8
        (and the text encoded without error, so its error handler has nothing to do). The text is
        then encoded once, not twice."""
        if not self._buffer_known:
            self._buffer_known = True
            buffer = getattr(self.stream, "buffer", None)
            try:
                utf8 = codecs.lookup(getattr(self.stream, "encoding", None) or "").name == "utf-8"
            except LookupError:
                utf8 = False
            if self.stream is sys.__stdout__ and buffer is not None and utf8 and os.linesep == "\n":
                self.stream.flush()  # (anything written as text before goes first)
                self._buffer = buffer
        return self._buffer

    def _json_text(self, obj: Mapping[str, Any]) -> str:
        if self._encoder is None:
            self._encoder = json.JSONEncoder(ensure_ascii=not self.unicode)
        text = self._encoder.encode(obj)
        # json escapes C0 controls only; C1 controls and bidi/format characters from outside
        # text would still steer a terminal, so they are written as \uXXXX escapes too.
        return _TERMINAL_UNSAFE.sub(_unicode_escape, text) + "\n"

    def table(self, columns: Sequence[Column], records: Sequence[JobRecord], *, wide: bool | None = None) -> None:
        """One line per job under a header, columns aligned. Piped (for grep, awk and files) and
        with --wide nothing is cut. On a terminal the table fits its width: the wide-only columns
        are left out and long values (messages, URLs) are cut with a marker, never ids or states."""
        from rich.cells import cell_len

        wide = self.wide if wide is None else wide
        if self.terminal and not wide:
            columns = [column for column in columns if not column.wide_only]
        header = [Cell(column.header, "bold") for column in columns]
        rows = [[column.cell(record) for column in columns] for record in records]
        if self.terminal:
            grid = [header] + [[Cell(f"{c.symbol} {c.text}".rstrip() if c.symbol else c.text, c.style)
                                for c in row] for row in rows]
        else:  # plain: fit for grep, awk (an empty cell is "-") and files
            grid = [header] + [[Cell(c.text or EMPTY) for c in row] for row in rows]
        widths: list[int | None] = [max(cell_len(line[i].text) for line in grid) for i in range(len(columns))]
        if self.terminal and not wide:
            widths = fit_widths([w or 0 for w in widths], [c.whole for c in columns], self.width)
        shown = [(i, w) for i, w in enumerate(widths) if w is not None]
        if self.terminal:
            from rich.text import Text
        for line in grid:
            if self.terminal:
                text = Text()
                for i, width in shown:
                    cell = Text(line[i].text, style=line[i].style or "")
                    if cell.cell_len > width:
                        cell.truncate(width, overflow="ellipsis")
                    text.append_text(cell)
                    text.append(" " * (width - cell.cell_len + GAP))
                text.rstrip()
                self.console.print(text, soft_wrap=True)
            else:
                padded = [line[i].text + " " * (width - cell_len(line[i].text)) for i, width in shown]
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
            from rich.text import Text

            symbol, _, style = status_look(record)
            if not self.wide:  # the time of day (UTC) is enough on screen, and the message is cut to fit
                at = at[11:19] + "Z" if len(at) > 19 else at
            text = Text.assemble((at, "dim"), "  ", record.job_id, "  ", (before, "dim"), " → ",
                                 (f"{symbol} {after}", style))
            if message:
                room = self.width - text.cell_len - GAP
                if self.wide or room >= MIN_CUT:
                    cut = Text(message)
                    if not self.wide and cut.cell_len > room:
                        cut.truncate(room, overflow="ellipsis")
                    text.append("  ")
                    text.append_text(cut)
            self.console.print(text, soft_wrap=True)
        else:
            self.stream.write(f"{at}  {record.job_id}  {before} -> {after}  {message}".rstrip() + "\n")
        self.stream.flush()


class CheckRows:
    """`check`'s rows, written as soon as they can be: with --json one line per job the moment
    its answer arrives (in the order the ids were given, so a line waits only for the jobs
    before it); a table once every row is known. An interrupted run prints what was fetched."""

    def __init__(self, printer: Printer, ids: list[str], *, json_lines: bool) -> None:
        self.printer = printer
        self.json_lines = json_lines
        self.order = ids
        self.ready: dict[str, JobRecord] = {}  # answered, not printed yet
        self.next = 0  # index in `order` of the first id not printed
        self.printed = 0
        self.done: set[str] = set()

    def answered(self, record: JobRecord) -> None:
        self.ready[record.job_id] = record
        if not self.json_lines:
            return
        while self.next < len(self.order) and self.order[self.next] in self.ready:
            self._line(self.ready.pop(self.order[self.next]))
            self.next += 1

    def _line(self, record: JobRecord) -> None:
        if record.job_id in self.done:
            return
        self.done.add(record.job_id)
        self.printer.json_line(check_row(record))
        self.printed += 1

    def flush_answered(self) -> None:
        """After an interrupt: every answer fetched and not printed yet, then nothing more."""
        held = [self.ready[job_id] for job_id in self.order if job_id in self.ready]
        self.ready.clear()
        if self.json_lines:
            for record in held:
                self._line(record)
        elif held:
            self.printer.table(CHECK_COLUMNS, held)
            self.printed += len(held)

    def finish(self, records: list[JobRecord]) -> None:
        if self.json_lines:
            for record in records:
                self._line(record)
        else:
            self.printer.table(CHECK_COLUMNS, records)
            self.printed = len(records)
