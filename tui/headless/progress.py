"""`check --wait`'s progress: the tally of outcomes and times (`WaitTally`), the live line it draws
on a terminal's stderr (`LiveLine`), and the summary at the end (one line, or one `--json` object).

The tally is fed by `check_jobs` from the engine's events and knows nothing of terminals; the live
line only writes what the tally says, in place, a few times a second at most.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TextIO

from tui.api.clock import Clock
from tui.api.models import JOB_FAILED, JOB_MODERATION_FAILED, JOB_SUCCESS
from tui.core.events import StateChanged
from tui.core.formatting import byte_size, duration
from tui.core.jobstate import JobRecord

if TYPE_CHECKING:
    from tui.core.downloads import DownloadTotals

SUCCEEDED, FAILED, MODERATION, UNQUERYABLE, UNFINISHED = (
    "succeeded", "failed", "moderation failed", "unqueryable", "unfinished")
OUTCOMES = (SUCCEEDED, FAILED, MODERATION, UNQUERYABLE, UNFINISHED)
_BY_CODE = {JOB_SUCCESS: SUCCEEDED, JOB_FAILED: FAILED, JOB_MODERATION_FAILED: MODERATION}
# The summary's --json fields for the counts, in the order of OUTCOMES.
SUMMARY_COUNT_FIELDS = ("Succeeded", "Failed", "ModerationFailed", "Unqueryable", "Unfinished")

ERASE_LINE = "\r\x1b[2K"  # back to the line's start, and erase it
REDRAW_INTERVAL = 0.25  # at most 4 redraws a second: a slow SSH link is not flooded


def outcome(record: JobRecord, settled: bool) -> str:
    """What a job came to: its finished state, unqueryable (an error, and `settled`: nothing more
    will change it), or unfinished."""
    finished = _BY_CODE.get(record.status_code or "")
    if finished is not None:
        return finished
    return UNQUERYABLE if settled and record.last_error is not None else UNFINISHED


def percentile(values: Sequence[float], p: int) -> float | None:
    """The nearest-rank percentile: the smallest value with at least `p` % of them at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-p * len(ordered) // 100))  # ceil(p/100 * n), in integers
    return ordered[rank - 1]


def _seconds(value: float) -> str:
    return f"{value:.1f}s" if value < 60 else duration(value)


class WaitTally:
    """The jobs of one `check --wait` by outcome, and the time each job that finished during the
    wait took: from its first answer in this run to the answer that showed it finished."""

    def __init__(self, job_ids: Iterable[str], *, clock: Clock) -> None:
        self.clock = clock
        self.outcomes: dict[str, str] = dict.fromkeys(job_ids, UNFINISHED)
        self.started = clock.monotonic()
        self.ended: float | None = None
        self.first_seen: dict[str, float] = {}  # wall time of each job's first answer with a state
        self.times: list[float] = []  # time to finish, in the order the jobs finished
        self.rate: Callable[[], float] = lambda: 0.0  # requests per second lately (the client's limiter)
        self.downloads: Callable[[], DownloadTotals] | None = None  # with --download: the downloads' totals

    # -- fed by check_jobs ---------------------------------------------------------------------

    def seen(self, record: JobRecord, *, settled: bool) -> None:
        if record.job_id in self.outcomes:
            self.outcomes[record.job_id] = outcome(record, settled)

    def changed(self, event: StateChanged) -> None:
        first = self.first_seen.setdefault(event.record.job_id, event.at)
        if event.finishes:
            self.times.append(max(0.0, event.at - first))

    def finish(self, records: Iterable[JobRecord]) -> None:
        """The run is over: every job's outcome as the verdict counts it (an error left is unqueryable)."""
        for record in records:
            self.seen(record, settled=True)
        self.ended = self.clock.monotonic()

    # -- read ----------------------------------------------------------------------------------

    @property
    def total(self) -> int:
        return len(self.outcomes)

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(OUTCOMES, 0)
        for name in self.outcomes.values():
            counts[name] += 1
        return counts

    def elapsed(self) -> float:
        return (self.clock.monotonic() if self.ended is None else self.ended) - self.started

    def time_left(self) -> float | None:
        """At the pace jobs have finished during the wait so far, how long the unfinished ones
        will take (None before the first finish: nothing to go by). Jobs found already finished
        do not count towards the pace."""
        unfinished = self.counts()[UNFINISHED]
        if unfinished == 0:
            return 0.0
        if not self.times:
            return None
        return unfinished * self.elapsed() / len(self.times)

    def live_text(self) -> str:
        """The live line: done/total, by outcome, request rate, elapsed, the estimate of what remains."""
        counts = self.counts()
        done = self.total - counts[UNFINISHED]
        outcomes = ", ".join(f"{counts[name]} {name}" for name in OUTCOMES[:-1] if counts[name])
        left = self.time_left()
        parts = [f"{done}/{self.total} done" + (f" ({outcomes})" if outcomes else ""),
                 f"{self.rate():.1f} req/s", f"{duration(self.elapsed())} elapsed",
                 "time left unknown" if left is None else f"about {duration(left)} left"]
        if self.downloads is not None:
            parts.append(download_text(self.downloads()))
        return "; ".join(parts)

    def summary_text(self) -> str:
        counts = self.counts()
        text = f"{self.total} job(s): " + ", ".join(f"{counts[name]} {name}" for name in OUTCOMES)
        text += f"; {len(self.times)} finished during the wait"
        if self.times:
            p50, p95 = percentile(self.times, 50), percentile(self.times, 95)
            assert p50 is not None and p95 is not None
            text += f", time to finish p50 {_seconds(p50)}, p95 {_seconds(p95)}"
        return text + f"; {_seconds(self.elapsed())} elapsed"

    def summary_object(self) -> dict[str, Any]:
        """The summary as `check --wait --json` ends with it (seconds as numbers, to the millisecond)."""
        counts = self.counts()
        p50, p95 = percentile(self.times, 50), percentile(self.times, 95)
        return {
            "Event": "Summary",
            "Jobs": self.total,
            **{field: counts[name] for field, name in zip(SUMMARY_COUNT_FIELDS, OUTCOMES, strict=True)},
            "FinishedDuringWait": len(self.times),
            "TimeToFinishP50": None if p50 is None else round(p50, 3),
            "TimeToFinishP95": None if p95 is None else round(p95, 3),
            "Elapsed": round(self.elapsed(), 3),
        }


class LiveLine:
    """One line on a terminal, redrawn in place (carriage return, erase line) when its text
    changes, at most once every `interval` seconds; cut to the terminal's width so it never wraps.
    `clear()` before anything else is written to the terminal; the next `refresh()` draws it again.
    What may be written from another thread (a log record from the job database's writer) goes
    through `above()`, which erases the line, lets it be written, and draws the line again below."""

    def __init__(self, stream: TextIO, render: Callable[[], str], *, clock: Clock,
                 width: Callable[[], int], interval: float = REDRAW_INTERVAL) -> None:
        self.stream = stream
        self.render = render
        self.clock = clock
        self.width = width
        self.interval = interval
        self.shown = ""  # what the terminal shows now
        self._drawn_at: float | None = None
        self.draws = 0
        self.broken = False
        self._lock = threading.RLock()  # the event loop redraws while another thread may log

    def refresh(self) -> None:
        with self._lock:
            self._refresh(at_once=False)

    def _refresh(self, *, at_once: bool) -> None:
        now = self.clock.monotonic()
        if not at_once and self._drawn_at is not None and now - self._drawn_at < self.interval:
            return
        width = self.width()
        # (ASCII: one cell a character; the last column is left free, where some terminals wrap)
        text = self.render()[: (width if width > 1 else 80) - 1]
        if text == self.shown or self.broken:
            return
        self._write(ERASE_LINE + text)
        self.shown = text
        self._drawn_at = now
        self.draws += 1

    def clear(self) -> None:
        with self._lock:
            if self.shown:
                self._write(ERASE_LINE)
                self.shown = ""

    @contextmanager
    def above(self) -> Iterator[None]:
        """Write something else (whole lines) to the terminal in the block: it starts on a clean
        line, and the live line, if it was showing, is drawn again under it at once (once per
        block: no more often than the lines written above it)."""
        with self._lock:
            was_shown = bool(self.shown)
            self.clear()
            try:
                yield
            finally:
                if was_shown:
                    self._refresh(at_once=True)

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # the terminal went away: progress is not worth failing the run
            self.broken = True

    async def run(self) -> None:
        """Redraw every `interval` until cancelled (the elapsed time moves without any event)."""
        while True:
            self.refresh()
            await self.clock.sleep(self.interval)


def download_text(totals: DownloadTotals) -> str:
    """The downloads in the live line: saved, running, failed, bytes of those in hand, rate."""
    text = f"downloads {totals.done} saved, {totals.active} running"
    if totals.queued:
        text += f", {totals.queued} queued"
    if totals.failed:
        text += f", {totals.failed} failed"
    if totals.active or totals.queued:
        text += f", {byte_size(totals.received)}" + (f" of {byte_size(totals.total)}" if totals.total else "")
        text += f" at {byte_size(int(totals.rate))}/s"
    return text


def live_line_wanted(stderr: TextIO, stdout: TextIO, env: Mapping[str, str], *, json_lines: bool) -> bool:
    """A live line only when someone watches both streams on a terminal that can erase a line, and
    never with --json: with the results going to a file or a pipe, the run is a script's, not a
    person's, and stderr's line would only be noise in its log."""
    if json_lines or env.get("TERM") == "dumb":
        return False
    return _isatty(stderr) and _isatty(stdout)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
