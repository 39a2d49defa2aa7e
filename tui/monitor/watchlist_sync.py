"""Keeps the monitor's watchlist and its stores in step: load at start, save what changed,
and pick up what other processes (`vclm-watch add`, another monitor) wrote.

Two stores, two paces: the watchlist file (ids and labels) is rewritten at the next tick after
a person changes membership, never because a poll came back; what polls observe goes to the
job database through a writer thread (`ObservationWriter`), so the UI loop never waits on it.
So do the overview's request outcomes per minute; the last hour of them is read back at load.

No Textual and no App: it works on the engine and the store, and reports through callbacks,
so it is tested without a screen.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from tui.core.engine import Poller
from tui.core.events import EngineEvent, JobAdded, JobRemoved, JobsAdded, JobUpdated, StateChanged
from tui.core.formatting import inert
from tui.core.jobdb import DEFAULT_KEEP_DAYS, JobDatabaseError, ObservationWriter
from tui.core.jobstate import JobRecord
from tui.core.overview import MINUTES, Overview
from tui.core.watchlist import (
    SyncResult,
    WatchlistBusy,
    WatchlistError,
    WatchlistStore,
    WatchlistTooNew,
    WatchlistUnparsable,
)

log = logging.getLogger(__name__)

SYNC_EVERY_TICKS = 2  # pick up other processes' watchlist changes every ~2 s
SLOT = "watchlist"  # the banner slot this controller reports in
DB_SLOT = "database"  # ...and the one for the job database
NOT_SAVED = "Watchlist not saved"
STATES_NOT_SAVED = "Job states not saved"
UNPARSABLE = "Watchlist has an error: read-only until it is fixed"
WAITING = "Waiting for another vclm-watch"
# On the event loop the file lock is only ever tried (wait 0), never waited for: a busy lock
# is retried at the next tick, and at exit for at most EXIT_LOCK_WAIT seconds (the loop runs on).
LOOP_LOCK_WAIT = 0.0
EXIT_LOCK_WAIT = 2.0


class ProblemSink(Protocol):
    def __call__(self, slot: str, title: str | None, detail: str = "") -> None: ...


class NoticeSink(Protocol):
    def __call__(self, message: str, *, title: str = "", severity: str = "information",
                 timeout: float | None = None) -> None: ...


class WatchlistSync:
    """Load, save and sync one watchlist store for one engine.

    `problem(slot, title, detail)` sets or clears (title None) a banner; `notice(...)` shows a
    toast; `touched(job_id)` says a row must be redrawn (its label came from the file).
    `overview`, if given, gets the request outcomes recorded in the last hour at load, and hands
    its new ones to the writer thread.
    """

    def __init__(self, store: WatchlistStore | None, poller: Poller, *, problem: ProblemSink,
                 notice: NoticeSink, touched: Callable[[str], None], history_days: float = DEFAULT_KEEP_DAYS,
                 overview: Overview | None = None) -> None:
        self.store = store
        self.overview = overview
        self.history_days = history_days
        self.poller = poller
        self._problem = problem
        self._notice = notice
        self._touched = touched
        self._membership_unsaved = False  # ids or labels changed: save at the next tick
        self._current_problem: str | None = None
        self._db_problem: str | None = None
        self.saves = 0  # how many times the file was saved (for tests and benchmarks)
        self.writer: ObservationWriter | None = None  # started by load(), once the database is known to open

    @property
    def unsaved(self) -> bool:
        return self._membership_unsaved or (self.writer is not None and self.writer.pending > 0)

    def note(self, event: EngineEvent) -> None:
        """Mark what an engine event leaves unsaved (changes that came from the file are not):
        membership for the file, observations for the database writer."""
        if isinstance(event, (JobAdded, JobsAdded, JobRemoved)):
            if not event.from_file:
                self._membership_unsaved = True
        elif isinstance(event, (StateChanged, JobUpdated)) and self.writer is not None:
            self.writer.put(event.record)

    def record_changed(self, record: JobRecord) -> None:
        """Something not polled changed in a job's record (its video saved): to the job database."""
        if self.writer is not None:
            self.writer.put(record)

    def mark_changed(self) -> None:
        """Something the user chose (a label) changed: save at the next tick."""
        self._membership_unsaved = True

    def _set_problem(self, title: str | None, detail: str = "") -> None:
        self._current_problem = title
        self._problem(SLOT, title, detail)

    @property
    def waiting_for_fix(self) -> bool:
        """The file does not parse: nothing is written, and it is read again once it changes."""
        return self.store is not None and self.store.broken is not None

    def _report_unparsable(self, exc: WatchlistUnparsable) -> None:
        log.error("%s", exc)
        self._set_problem(UNPARSABLE, inert(
            f"{exc.location}: {exc.reason}. Fix the file (or delete it to start empty): it is picked up "
            "within seconds once it parses. Until then nothing is written to it: jobs added here are "
            "saved once it parses, not if you quit first.", 600))

    # -- load ----------------------------------------------------------------------------------

    def load(self) -> None:
        """Read the file and watch its jobs; a file that cannot be used is reported, never fatal."""
        if self.store is None:
            return
        try:
            records = self.store.load(wait=LOOP_LOCK_WAIT)
        except WatchlistUnparsable as exc:
            self._report_unparsable(exc)
            return
        except WatchlistTooNew as exc:
            log.error("%s", exc)
            self._set_problem("Watchlist not loaded, not saved", str(exc))
            return
        except WatchlistError as exc:
            log.error("%s", exc)
            self.store.read_only = True  # what could not be read must not be overwritten
            self._set_problem("Watchlist not loaded, not saved", str(exc))
            return
        self.poller.add_many(records, from_file=True)
        self._start_writer()  # (after: its first act forgets old jobs that are not in the list)
        if self.store.needs_migration:  # a format-1 file: its states move to the database now
            self.save(force=True)
            if self.store.migrated_to is not None:
                self._notice(f"The watchlist now keeps ids and labels only; states live in {self.store.db_path.name}. "
                             f"The old file is kept as {self.store.migrated_to.name}.", title="Watchlist upgraded")

    def _start_writer(self) -> None:
        assert self.store is not None
        if self.store.db_problem is not None:
            self._set_db_problem(self.store.db_problem)  # (the writer tries again, and clears it once it can)
        # (the engine's live ids, looked up by the writer's thread: no copy of 100,000 of them; a job
        # added meanwhile is kept, one removed meanwhile is no longer watched)
        # (on the engine's clock: what it writes is dated as the engine dates what it saw)
        self.writer = ObservationWriter(self.store.db_path, prune=(self.poller.records.keys(), self.history_days),
                                        clock=self.poller.clock.time)
        if self.overview is not None:
            self._restore_activity(self.overview)
            self.overview.recorder = self.writer.put_activity

    def _restore_activity(self, overview: Overview) -> None:
        """The last hour's request outcomes, as recorded by this monitor's earlier runs (a few
        dozen rows, read once at start)."""
        assert self.store is not None
        try:
            db = self.store.database(create=False)
            if db is not None:
                overview.restore_requests(db.activity(since=overview.clock.time() - MINUTES * 60))
        except (JobDatabaseError, WatchlistError) as exc:  # (the charts start empty; states are reported apart)
            log.warning("request outcomes recorded before were not read: %s", exc)

    def _set_db_problem(self, detail: str | None) -> None:
        if detail == self._db_problem:
            return
        self._db_problem = detail
        if detail is None:
            self._problem(DB_SLOT, None)
        else:
            log.error("job database: %s", detail)
            self._problem(DB_SLOT, STATES_NOT_SAVED, inert(f"{detail} — states are kept in memory and written once "
                                                           "the database can be written again", 400))

    # -- save and sync ---------------------------------------------------------------------------

    def tick(self, ticks: int) -> None:
        """Called once a second: sync every SYNC_EVERY_TICKS, save what is due."""
        if ticks % SYNC_EVERY_TICKS == 0:
            self.sync()
        if self._membership_unsaved:
            self.save()
        if self.writer is not None:
            error = self.writer.error
            self._set_db_problem(str(error) if error is not None else None)

    def save(self, force: bool = False) -> None:
        """Write the watchlist file (merged with other processes' changes) if ids or labels
        changed; a file whose ids and labels are as on disk is not rewritten."""
        if self.store is None or self.store.read_only or self.waiting_for_fix:
            return  # (what is unsaved stays marked: it is saved once the file parses again)
        if not (force or self._membership_unsaved):
            return
        membership = self._membership_unsaved
        self._membership_unsaved = False
        try:
            result = self.store.save(list(self.poller.records.values()), wait=LOOP_LOCK_WAIT, observations=False)
        except WatchlistBusy as exc:
            self._membership_unsaved = self._membership_unsaved or membership or force
            self._waiting(exc)
            return
        except (WatchlistError, OSError) as exc:
            # keep what was unsaved marked as such: the next tick tries again
            self._membership_unsaved = self._membership_unsaved or membership or force
            log.error("saving the watchlist failed: %s", exc)
            self._set_problem(NOT_SAVED, inert(exc, 300))
            return
        self.saves += 1
        if self._current_problem in (NOT_SAVED, WAITING):
            self._set_problem(None)
        self._apply(result)

    async def save_at_exit(self, grace: float = EXIT_LOCK_WAIT) -> None:
        """The last save: a lock held by another process is retried for `grace` seconds without
        stopping the loop (the screen keeps drawing), then given up with the reason logged."""
        self.save(force=True)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while self._current_problem == WAITING and loop.time() < deadline:
            await asyncio.sleep(0.05)
            self.save(force=True)
        if self._current_problem == WAITING:
            log.error("the watchlist was not saved at exit: another vclm-watch held its lock for %g s", grace)
        if self.writer is not None:
            # the states polled since the last batch: the writer thread finishes them, the loop waits off-thread
            done = await asyncio.to_thread(self.writer.close, grace)
            if not done:
                log.error("job states polled in the last moments were not saved: %s", self.writer.error)
            elif self.store is not None and not self.unsaved:
                # everything is written: the next start reads it back in one piece (off the loop too)
                await asyncio.to_thread(self.store.save_snapshot, list(self.poller.records.values()))

    def flush_states(self, timeout: float | None = None) -> bool:
        """Write the states polled so far to the database now (tests and benchmarks; blocks)."""
        return self.writer.flush(timeout) if self.writer is not None else True

    def _waiting(self, exc: WatchlistBusy) -> None:
        log.warning("%s", exc)
        if self._current_problem != WAITING:
            self._set_problem(WAITING, f"{inert(exc, 300)} — what changed here is kept and saved once it is released")

    def sync(self) -> None:
        """Pick up ids other processes (`vclm-watch add`) added, removed or relabelled."""
        if self.store is None or self.store.read_only:
            return
        try:
            result = self.store.sync(list(self.poller.records.values()), wait=LOOP_LOCK_WAIT)
        except WatchlistBusy as exc:
            self._waiting(exc)
            return
        except WatchlistUnparsable as exc:
            self._report_unparsable(exc)
            return
        except WatchlistTooNew as exc:
            # another, newer vclm-watch rewrote it: this one must not write it any more, and says so
            log.error("%s", exc)
            self._set_problem(NOT_SAVED, inert(exc, 300))
            return
        except (WatchlistError, OSError) as exc:
            log.error("syncing the watchlist failed: %s", exc)
            return
        if self._current_problem == UNPARSABLE and not self.waiting_for_fix:  # (unchanged: still broken)
            self._set_problem(None)
            self._notice("The watchlist file parses again: it is read and saved as usual.",
                         title="Watchlist fixed")
        if self._current_problem == WAITING and not self.unsaved:
            self._set_problem(None)
        self._apply(result)

    def _apply(self, result: SyncResult) -> None:
        if not (result.added or result.removed or result.relabelled):
            return
        self.poller.add_many(result.added, from_file=True)
        for job_id in result.removed:
            self.poller.remove(job_id, from_file=True)
        for record in result.relabelled:
            self._touched(record.job_id)
        parts = [f"{n} {what}" for n, what in ((len(result.added), "added"), (len(result.removed), "removed"),
                                               (len(result.relabelled), "relabelled")) if n]
        self._notice("From another vclm-watch: " + ", ".join(parts) + ".", title="Watchlist updated")
