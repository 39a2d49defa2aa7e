"""The monitor's downloads: what `D` and the palette ask for, `auto_download` on JobSuccess, and the
states the detail pane, the status bar and the table draw.

No Textual and no App: it owns the `DownloadManager` (run as one of the App's workers, closed at
quit, which leaves resumable `.part` files), listens to the engine's events, and reports through
callbacks: `touched(job_id)` asks for a row and the panes to be redrawn (a phase change, at once),
`changed()` for the panes alone (a download's progress, at most every REDRAW_SECONDS), `notice(...)`
shows a toast. It never holds the App; widgets only read `state()` and `totals()`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import httpx

from tui.api.clock import SYSTEM_CLOCK, Clock
from tui.api.models import JOB_SUCCESS
from tui.core.downloads import DownloadManager, DownloadState, DownloadTotals
from tui.core.engine import Poller
from tui.core.events import EngineEvent, JobsAdded, StateChanged
from tui.core.formatting import inert, short_id
from tui.core.jobstate import JobRecord

log = logging.getLogger(__name__)

REDRAW_SECONDS = 0.25  # a running download's progress is drawn at most 4 times a second
TITLE = "Downloads"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def saved_on_disk(record: JobRecord) -> bool:
    """The record says its video was saved, and that file is still there with its size."""
    if not record.saved_path:
        return False
    try:
        size = Path(record.saved_path).stat().st_size
    except OSError:
        return False
    return size == record.saved_bytes


def why_not(record: JobRecord) -> str | None:
    """Why this job cannot be downloaded now (None: it can)."""
    if record.status_code != JOB_SUCCESS:
        return "it has not succeeded" if not record.terminal else "it did not succeed, so it has no video"
    if not record.result_video_url:
        return "it has no result URL yet (r asks again)"
    if record.url_problem is not None:
        return f"its result URL is suspect ({record.url_problem})"
    return None


class DownloadController:
    """Downloads of one monitor: the manager, the states it reported, auto_download.

    `directory` is where files go; `chosen` says it was configured (else it is the default, the
    current directory, and the first notice names it). `auto`: save each job that reaches
    JobSuccess (only with a chosen directory).
    """

    def __init__(self, poller: Poller, directory: Path, *, chosen: bool, auto: bool = False, concurrency: int = 3,
                 clock: Clock = SYSTEM_CLOCK, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.poller = poller
        self.records: Mapping[str, JobRecord] = poller.records
        self.directory = directory
        self.chosen = chosen
        self.auto = auto and chosen
        self.auto_ignored = auto and not chosen  # said once the App is up
        self.clock = clock
        self.manager = DownloadManager(directory, fresh_url=poller.fresh_url, concurrency=concurrency, clock=clock,
                                       transport=transport, on_saved=self._saved, recorded=self._recorded)
        self._states: dict[str, DownloadState] = {}
        self._touched: Callable[[str], None] = lambda _job_id: None
        self._changed: Callable[[], None] = lambda: None
        self._kept: Callable[[JobRecord], None] = lambda _record: None
        self._notice: Callable[..., None] = lambda *_a, **_k: None
        self._last_wake = float("-inf")
        self._unsubscribe: list[Callable[[], None]] = []
        self._told_where = False
        self.closed = False

    def attach(self, *, touched: Callable[[str], None], changed: Callable[[], None], notice: Callable[..., None],
               kept: Callable[[JobRecord], None] | None = None) -> None:
        """Start listening (the App calls this once mounted): to the manager, and to the engine for
        auto_download. `touched(job_id)`: that row and the panes need drawing; `changed()`: the panes
        only; `kept(record)`: a record now says where its video was saved (for the job database)."""
        self._touched, self._changed, self._notice = touched, changed, notice
        self._kept = kept or self._kept
        self._unsubscribe.append(self.manager.subscribe(self.on_state))
        if self.auto_ignored:
            notice("auto_download is on but no download_dir is set: nothing is saved automatically "
                   "(D still saves to the current directory).", title=TITLE, severity="warning")
        if self.auto:
            self._unsubscribe.append(self.poller.subscribe(self._on_event))
            self._catch_up(self.records.values())

    async def run(self) -> None:
        """The manager's loop (the App runs it as a worker; pausing polls does not stop it)."""
        try:
            await self.manager.run()
        except Exception as exc:  # noqa: BLE001 - shown, never fatal
            log.exception("the downloader stopped")
            self._notice(f"{type(exc).__name__}: {inert(exc, 200)}", title="Downloads stopped", severity="error")

    async def close(self) -> None:
        """Stop downloading; what was received stays in `.part` files, resumed next time."""
        if self.closed:
            return
        self.closed = True
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        try:
            await self.manager.close()
        except Exception:  # noqa: BLE001 - closing must not fail the exit
            log.exception("closing the downloader failed")

    # -- what the widgets read ----------------------------------------------------------------

    def state(self, job_id: str) -> DownloadState | None:
        return self._states.get(job_id)

    def totals(self) -> DownloadTotals:
        """What the status bar sums up, from the states reported (bytes and rate of the running ones)."""
        states = self._states.values()
        running = [s for s in states if s.phase == "running"]
        known = all(s.total is not None for s in running)
        return DownloadTotals(
            active=len(running), queued=sum(s.phase == "queued" for s in states),
            done=sum(s.phase == "done" for s in states), failed=sum(s.phase in ("failed", "gone") for s in states),
            received=sum(s.received for s in running), total=sum(s.total or 0 for s in running) if known else None,
            rate=sum(s.rate for s in running))

    # -- asking for downloads -----------------------------------------------------------------

    def _request(self, record: JobRecord) -> bool:
        accepted = self.manager.request(record.job_id, record.result_video_url)
        if accepted:
            self._touched(record.job_id)
        return accepted

    def _where(self) -> str:
        where = str(self.directory)
        if not self.chosen and not self._told_where:
            self._told_where = True
            return f"{where} (the current directory; set download_dir in the config to choose)"
        return where

    def download(self, record: JobRecord) -> None:
        """`D`: save this job's video (a notice says where, or why not)."""
        name = inert(record.label, 40) or short_id(record.job_id)
        reason = why_not(record)
        if reason is not None:
            self._notice(f"{name}: not downloaded: {reason}.", title=TITLE, severity="warning")
        elif saved_on_disk(record):
            self._notice(f"{name} is saved already: {inert(record.saved_path, 300)}", title=TITLE)
        elif self._request(record):
            self._notice(f"Saving {name} to {self._where()}", title=TITLE)
        else:
            self._notice(f"{name} is being downloaded already.", title=TITLE)

    def download_many(self, records: Iterable[JobRecord], scope: str = "") -> int:
        """The palette's downloads: each succeeded job of `records` not saved yet (`scope` says which,
        e.g. "matching the filter"); how many were queued."""
        queued = saved = busy = 0
        for record in records:
            if why_not(record) is not None:
                continue
            if saved_on_disk(record):
                saved += 1
            elif self._request(record):
                queued += 1
            else:
                busy += 1
        notes = ([f"{saved} saved already"] if saved else []) + ([f"{busy} under way"] if busy else [])
        note = f" ({', '.join(notes)})" if notes else ""
        scope = f" {scope}" if scope else ""
        if queued:
            self._notice(f"Saving {_plural(queued, 'video')} to {self._where()}{note}.", title=TITLE)
        else:
            self._notice(f"No finished job{scope} left to download{note}.", title=TITLE,
                         severity="information" if notes else "warning")
        return queued

    # -- auto_download ------------------------------------------------------------------------

    def _catch_up(self, records: Iterable[JobRecord]) -> None:
        # Jobs that succeeded while the monitor was closed: saved if their URL is still valid (an
        # expired one would cost a request to learn the service may no longer have the video).
        now = self.clock.time()
        for record in list(records):
            left = record.url_seconds_left(now)
            if why_not(record) is None and not saved_on_disk(record) and (left is None or left > 0):
                self._request(record)

    def _on_event(self, event: EngineEvent) -> None:
        try:
            if isinstance(event, StateChanged) and event.to_code == JOB_SUCCESS:
                record = event.record
                if why_not(record) is None and not saved_on_disk(record):
                    self._request(record)
            elif isinstance(event, JobsAdded):
                self._catch_up(event.records)
        except Exception:  # noqa: BLE001 - never into the engine
            log.exception("auto_download failed")

    # -- what the manager reports -------------------------------------------------------------

    def on_state(self, state: DownloadState) -> None:
        """A download's news, from the manager (on the App's loop): kept for the widgets, drawn soon."""
        before = self._states.get(state.job_id)
        self._states[state.job_id] = state
        now = self.clock.monotonic()
        if before is None or before.phase != state.phase:  # the row's mark may change
            self._last_wake = now
            self._touched(state.job_id)
        elif now - self._last_wake >= REDRAW_SECONDS:  # progress: the detail pane and status bar only
            self._last_wake = now
            self._changed()
        if state.phase in ("failed", "gone") and (before is None or before.phase != state.phase):
            record = self.records.get(state.job_id)
            name = (inert(record.label, 40) if record else "") or short_id(state.job_id)
            reason = "the service no longer has this result" if state.phase == "gone" else inert(state.error, 200)
            self._notice(f"{name}: {reason}", title="Download failed", severity="error", kind="download-failed")

    def _saved(self, job_id: str, path: str, size: int, sha256: str) -> None:
        record = self.records.get(job_id)
        if record is None:
            return
        record.saved_path, record.saved_bytes, record.saved_sha256 = path, size, sha256
        self._kept(record)
        self._touched(job_id)

    def _recorded(self, job_id: str) -> tuple[str, int, str] | None:
        # what an earlier run saved: the manager checks the file still has that checksum
        record = self.records.get(job_id)
        return (record.saved_path, record.saved_bytes, record.saved_sha256) if record and record.saved_path else None
