"""The `check`, `add`, `remove` and `ls` commands (their options: `arguments.py`): ids from the shell, exit statuses.

Results go to stdout, everything else (errors, warnings, notes) to stderr as one line each,
never a traceback. Usage and configuration errors exit 2 before anything is queried or written.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

from tui.api.errors import ConfigError
from tui.core.jobids import extract_job_ids
from tui.core.options import DEFAULT_LOCK_WAIT, LOCK_TIMEOUT_ENV
from tui.core.settings import load_settings
from tui.core.watchlist import WatchlistError, WatchlistStore, listing
from tui.headless.verdict import Verdict

if TYPE_CHECKING:
    from tui.headless.check import CheckResult

# `check` (asyncio, the engine) and the printer (rich) are imported where they are used: `add`
# and `remove` start without them, and `ls --json` without rich.

PROG = "vclm-watch"
STDIN_TOKEN = "-"
MAX_LABEL = 200  # what the watchlist file keeps
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141


class UsageError(Exception):
    """A mistake on the command line: exit 2, nothing done."""


# -- ids from the shell --------------------------------------------------------------------------

@dataclass
class GivenIds:
    ids: list[str] = field(default_factory=list)  # canonical, first-seen order, unique
    warnings: list[str] = field(default_factory=list)
    near_misses: list[str] = field(default_factory=list)  # hex runs of the wrong length on stdin, skipped


def _quoted_list(items: list[str], limit: int = 5) -> str:
    shown = ", ".join(repr(item) for item in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def gather_ids(tokens: list[str], stdin: TextIO | None) -> GivenIds:
    """Ids from the arguments (strict: every token must be an id) and, for '-', from stdin (free text)."""
    given = GivenIds()
    strict = extract_job_ids(" ".join(t for t in tokens if t != STDIN_TOKEN), strict=True)
    if strict.malformed:
        noun = "id" if len(strict.malformed) == 1 else "ids"
        raise UsageError(f"malformed job {noun} {_quoted_list(strict.malformed)}: a job id is 32 hex characters")
    given.ids = list(strict.ids)
    if STDIN_TOKEN in tokens:
        text = _read_all(stdin)
        found = extract_job_ids(text)
        if found.malformed:
            given.near_misses = list(found.malformed)
            given.warnings.append(f"skipped {len(found.malformed)} near-miss id(s) on standard input "
                                  f"(not 32 hex characters): {_quoted_list(found.malformed)}")
        if not found.ids:
            raise UsageError("no job ids found on standard input")
        seen = set(given.ids)
        given.ids += [job_id for job_id in found.ids if job_id not in seen]
    if not given.ids:
        raise UsageError("no job ids given: pass them as arguments, or '-' to read them from standard input")
    return given


def _read_all(stdin: TextIO | None) -> str:
    if stdin is None:
        return ""
    buffer = getattr(stdin, "buffer", None)
    try:
        if buffer is not None:
            return buffer.read().decode("utf-8", errors="replace")
        return stdin.read()
    except OSError as exc:
        raise UsageError(f"cannot read standard input: {exc.strerror or exc}") from None


# -- running ------------------------------------------------------------------------------------

@dataclass
class Streams:
    stdin: TextIO | None
    stdout: TextIO
    stderr: TextIO
    env: Mapping[str, str]
    command: str
    log: StderrLog | None = None  # where log records go (run() installs it)

    def note(self, kind: str, message: str) -> None:
        self.stderr.write(f"{PROG} {self.command}: {kind}: {message}\n" if kind else f"{PROG} {self.command}: {message}\n")
        self.stderr.flush()


class _OneLineFormatter(logging.Formatter):
    """Log records as one line on stderr: the exception's type and message, not its traceback."""

    def format(self, record: logging.LogRecord) -> str:
        text = f"{PROG}: {record.levelname.lower()}: {record.getMessage()}"
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            text += f" ({type(error).__name__}: {error})"
        return text


class StderrLog(logging.StreamHandler):
    """The commands' log records on stderr. `around` wraps each write: `check --wait` sets it to
    its live line's `above()` for the run, so a warning (from the engine, or the job database's
    writer thread) starts on a clean line and the live line is drawn again under it."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self.around: Callable[[], AbstractContextManager[object]] = contextlib.nullcontext

    def emit(self, record: logging.LogRecord) -> None:
        with self.around():
            super().emit(record)


def _log_to(stderr: TextIO) -> StderrLog:
    handler = StderrLog(stderr)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(_OneLineFormatter())
    logging.getLogger("tui").addHandler(handler)  # also keeps Python's last-resort traceback printer away
    return handler


def run(
    args: argparse.Namespace,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    env: Mapping[str, str] | None = None,
) -> int:
    """Run one headless command; the exit status."""
    streams = Streams(
        stdin=sys.stdin if stdin is None else stdin,
        stdout=sys.stdout if stdout is None else stdout,
        stderr=sys.stderr if stderr is None else stderr,
        env=os.environ if env is None else env,
        command=args.command,
    )
    handler = streams.log = _log_to(streams.stderr)
    try:
        if args.command == "check":
            return _check(args, streams)
        if args.command == "add":
            return _add(args, streams)
        if args.command == "remove":
            return _remove(args, streams)
        if args.command == "ls":
            return _ls(args, streams)
        raise UsageError(f"unknown command {args.command!r}")
    except (UsageError, ConfigError, WatchlistError) as exc:
        streams.note("error", str(exc))
        return Verdict.USAGE
    except KeyboardInterrupt:
        streams.note("", "interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, and keep Python from complaining at exit.
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except OSError as exc:  # a file that cannot be read or written (permissions, disk full)
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        streams.note("error", f"{exc.strerror or exc}{where}")
        return Verdict.USAGE
    finally:
        logging.getLogger("tui").removeHandler(handler)


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


# -- check --------------------------------------------------------------------------------------

def _check(args: argparse.Namespace, streams: Streams) -> int:
    import asyncio
    import signal

    from tui.api.clock import SYSTEM_CLOCK
    from tui.core.jobdb import ObservationWriter, database_path
    from tui.core.settings import build_client, build_team, load_credentials
    from tui.headless.check import check_jobs, error_hints
    from tui.headless.output import CheckRows, Printer, terminal_width, transition_row
    from tui.headless.progress import LiveLine, WaitTally, live_line_wanted

    given = gather_ids(args.ids, streams.stdin)  # before anything else: a bad id queries nothing
    for warning in given.warnings:
        streams.note("warning", warning)
    if args.timeout is not None and not args.timeout > 0:
        raise UsageError(f"--timeout must be a number of seconds above 0, not {args.timeout:g}")
    if args.not_found_grace is not None and not 0 <= args.not_found_grace < float("inf"):
        raise UsageError(f"--not-found-grace must be a number of seconds, 0 or more, not {args.not_found_grace:g}")
    settings = load_settings(args, streams.env)
    grace = settings.config.not_found_grace if args.not_found_grace is None else args.not_found_grace
    credentials = load_credentials(settings, streams.env)
    for warning in credentials.warnings:  # a secret readable by others: said, as ssh and tccli do
        streams.note("warning", warning)
    team = build_team(settings, credentials)  # (--solo, --shared URL, or this machine's vclm-watch processes)
    printer = Printer(streams.stdout, color=args.color, env=streams.env, wide=args.wide)
    rows = CheckRows(printer, given.ids, json_lines=args.json)
    # Every answer goes to the job database too (from a thread), so a monitor on this watchlist
    # shows it without asking again.
    states = ObservationWriter(database_path(settings.watchlist_path))
    broken: list[BaseException] = []
    stopped_by: list[int] = []  # the signal (SIGTERM) that cut the run short

    def guarded(write) -> None:
        if broken:
            return
        try:
            write()
        except OSError as exc:  # raised again once the engine has stopped
            broken.append(exc)

    # --wait: the jobs by outcome, and on a terminal's stderr one live line saying so (progress.py).
    tally = WaitTally(given.ids, clock=SYSTEM_CLOCK) if args.wait else None
    live = None
    if tally is not None and live_line_wanted(streams.stderr, streams.stdout, streams.env, json_lines=args.json):
        live = LiveLine(streams.stderr, tally.live_text, clock=SYSTEM_CLOCK,
                        width=lambda: terminal_width(streams.stderr, streams.env))

    if live is not None and streams.log is not None:
        streams.log.around = live.above  # a warning in the run starts on a clean line

    def on_transition(event) -> None:
        if live is not None:
            live.clear()  # the change line takes its place; the next tick draws it again below
        guarded(lambda: printer.json_line(transition_row(event)) if args.json else printer.transition(event))

    async def query() -> CheckResult:
        # SIGTERM ends the run as Ctrl+C does: what was fetched is printed, nothing is lost.
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None

        def terminate() -> None:
            stopped_by.append(signal.SIGTERM)
            task.cancel()

        loop.add_signal_handler(signal.SIGTERM, terminate)
        ticker = None
        try:
            # --timeout is the --wait deadline then, not how long one request may take.
            client = build_client(settings, credentials, read_timeout=None if args.wait else args.timeout)
            if tally is not None:
                tally.rate = client.limiter.measured_rate
            if live is not None:
                ticker = asyncio.create_task(live.run())
            async with client:
                return await check_jobs(
                    client, given.ids, wait=args.wait, timeout=args.timeout if args.wait else None,
                    min_interval=settings.config.min_interval, on_transition=on_transition if args.wait else None,
                    on_answer=lambda record: guarded(lambda: rows.answered(record)), not_found_grace=grace,
                    on_update=states.put, tally=tally, team=team,
                )
        finally:
            await team.close()  # (never raises) its leases go at once, not when they run out
            if ticker is not None:
                ticker.cancel()
            loop.remove_signal_handler(signal.SIGTERM)

    try:
        try:
            result = asyncio.run(query())
        finally:
            if live is not None:
                live.clear()  # the terminal's line is left clean, whatever ended the run
                if streams.log is not None:
                    streams.log.around = contextlib.nullcontext
            if not states.close(2.0):
                streams.note("warning", f"the answers were not recorded in the job database: {states.error}")
    except (KeyboardInterrupt, asyncio.CancelledError):
        guarded(rows.flush_answered)
        if broken:
            raise broken[0] from None
        signum = stopped_by[0] if stopped_by else signal.SIGINT
        what = "terminated" if stopped_by else "interrupted"
        streams.note("", f"{what}: {rows.printed} of {len(given.ids)} job(s) printed, the rest not asked yet")
        return EXIT_INTERRUPTED if signum == signal.SIGINT else 128 + signum
    if broken:
        raise broken[0]
    rows.finish(result.records)
    if tally is not None:  # (--wait) how it went, in one line, or as the last JSON object
        if args.json:
            printer.json_line(tally.summary_object())
        else:
            streams.note("summary", tally.summary_text())
    if result.aborted_by is not None:
        streams.note("error", f"stopped early, every job would fail alike: {result.aborted_by}")
    for code, hint in error_hints(result):
        streams.note("hint", f"{code}: {hint}")
    if result.aborted_by is None and result.timed_out:
        unfinished = sum(1 for r in result.records if not r.terminal and r.job_id not in result.permanent)
        streams.note("", f"--timeout {args.timeout:g} s ran out with {unfinished} job(s) unfinished")
    if given.near_misses:
        # As a malformed id in the arguments would: a script must not read "all done" from a
        # run that left one of its ids unchecked.
        streams.note("error", f"{len(given.near_misses)} near-miss id(s) from standard input were not checked "
                              f"(exit status {int(Verdict.USAGE)}): {_quoted_list(given.near_misses)}")
        return int(Verdict.USAGE)
    return int(result.verdict)


# -- the watchlist commands ------------------------------------------------------------------------

def _refuse_near_misses(given: GivenIds) -> None:
    """A near-miss id on stdin stops a watchlist change, as a malformed argument does: exit 2 and
    nothing written, so a script never takes a partial import for a whole one."""
    if given.near_misses:
        raise UsageError(f"{len(given.near_misses)} near-miss id(s) on standard input (not 32 hex characters): "
                         f"{_quoted_list(given.near_misses)}; nothing was written")


def _store(path, streams: Streams) -> WatchlistStore:
    """The watchlist for a command that writes it: another process's lock is waited for, saying
    so, for a bounded time (VCLM_WATCH_LOCK_TIMEOUT seconds), never forever."""
    raw = streams.env.get(LOCK_TIMEOUT_ENV, "")
    try:
        wait = float(raw) if raw.strip() else DEFAULT_LOCK_WAIT
    except ValueError:
        wait = -1.0
    if not 0 <= wait < 1e6:  # also refuses nan
        raise UsageError(f"{LOCK_TIMEOUT_ENV} must be a number of seconds from 0, not {raw[:40]!r}")

    def waiting(seconds: float) -> None:
        streams.note("", f"waiting for another vclm-watch to release the watchlist {path} "
                         f"(giving up in {seconds:.0f} s)")

    return WatchlistStore(path, lock_wait=wait, on_wait=waiting)



def _add(args: argparse.Namespace, streams: Streams) -> int:
    given = gather_ids(args.ids, streams.stdin)
    _refuse_near_misses(given)
    label = " ".join((args.label or "").split())
    if len(label) > MAX_LABEL or any(not ch.isprintable() for ch in label):
        raise UsageError(f"a label is at most {MAX_LABEL} printable characters")
    settings = load_settings(args, streams.env)
    store = _store(settings.watchlist_path, streams)
    now = time.time()
    # a file that does not parse: WatchlistUnparsable, exit 2, nothing written
    added, skipped, _ = store.add_remove([(job_id, label, now) for job_id in given.ids], ())
    for job_id in added:
        streams.stdout.write(f"added {job_id}" + (f"  ({label})" if label else "") + "\n")
    for job_id in skipped:
        streams.stdout.write(f"skipped {job_id}  (already in the watchlist)\n")
    streams.stdout.flush()
    return 0


def _remove(args: argparse.Namespace, streams: Streams) -> int:
    given = gather_ids(args.ids, streams.stdin)
    _refuse_near_misses(given)
    settings = load_settings(args, streams.env)
    store = _store(settings.watchlist_path, streams)
    # a file that does not parse: WatchlistUnparsable, exit 2, nothing written
    _, _, removed = store.add_remove([], given.ids)
    gone = set(removed)
    for job_id in given.ids:
        if job_id in gone:
            streams.stdout.write(f"removed {job_id}\n")
    streams.stdout.flush()
    missing = [job_id for job_id in given.ids if job_id not in gone]
    if missing:
        streams.note("warning", f"not in the watchlist {settings.watchlist_path}: {', '.join(missing)}")
    return 0 if removed else 1


def _ls(args: argparse.Namespace, streams: Streams) -> int:
    from tui.headless.output import LS_COLUMNS, Printer

    settings = load_settings(args, streams.env)
    store = WatchlistStore(settings.watchlist_path)
    printer = Printer(streams.stdout, color=args.color, env=streams.env, wide=args.wide)
    if args.json:
        printer.ls_json(listing(store))
        return 0
    records = store.peek()
    if records:
        printer.table(LS_COLUMNS, records)
    else:
        streams.note("", f"the watchlist {settings.watchlist_path} is empty")
    return 0
