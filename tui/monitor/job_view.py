"""The monitor's view model: which jobs the table shows, in what order, in which display state.

Pure Python (no Textual): it takes the engine's events, keeps every job's display state and
the counts per state up to date incrementally, and on `update()` says what a draw must bring
to screen. The App owns one and draws what it reports; tests drive it without a screen.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from tui.api.models import TERMINAL_STATUS_CODES
from tui.core.events import EngineEvent, JobAdded, JobRemoved, JobsAdded, JobUpdated, RateChanged, StateChanged
from tui.core.formatting import inert
from tui.core.jobstate import JobRecord
from tui.core.states import CODE_KEYS, SORT_MODES, display_state, sort_key, stale_after
from tui.monitor.keys import key_for

FLASH_SECONDS = 2.0  # how long a transition highlights its row
# The display states of an unfinished job that a missed refresh turns stale (display_state)
_MAY_GO_STALE = frozenset({"init", "running", "pending", "unknown"})


@dataclass(frozen=True)
class ViewUpdate:
    """What one draw brings to screen."""

    order: list[str]  # the ids the table shows, in order (the same list object while nothing moved)
    dirty: set[str] | None  # rows to re-render; None: all of them
    states: Mapping[str, str]  # job id -> display state, for every watched job
    flashing: frozenset[str]  # rows highlighted for a recent transition
    stale_after: float  # seconds without a refresh before an unfinished job shows stale
    times: bool = False  # time moved (a tick): every row's times may read differently, the rest only for `dirty`


class JobView:
    """Filter, sort, visible order, display states and counts of the watched jobs.

    `records` is the engine's live mapping (read, never written); `rate()` is the request rate
    the limiter aims for, which sets how long a job may go unrefreshed before it is stale.
    """

    def __init__(self, records: Mapping[str, JobRecord], *, min_interval: float, rate: Callable[[], float]) -> None:
        self.records = records
        self.min_interval = min_interval
        self.rate = rate
        # what the user chose to see
        self.filter_text = ""
        self.sort_mode = SORT_MODES[0]
        self.hide_finished = False
        # what changed since the last update, and what the last one computed
        self._dirty: set[str] = set()
        self._all_dirty = False  # many jobs came at once: the next update is a full one
        self.states: dict[str, str] = {}  # job id -> display state
        self.state_counts: Counter[str] = Counter()  # display state -> jobs in it
        self._active: set[str] = set()  # ids of the unfinished jobs (they set the stale threshold)
        self._stale_due = float("inf")  # wall time after which some shown state may turn stale
        self.threshold: float | None = None  # seconds without a refresh before a row is stale
        self._order: list[str] | None = None
        self._order_key: tuple | None = None
        self._membership_version = 0  # bumped when a job is added or removed
        self._added_order: dict[str, int] = {}
        self._order_seq = itertools.count()
        self._flash_until: dict[str, float] = {}

    # -- engine events ---------------------------------------------------------------------

    def apply(self, event: EngineEvent, monotonic_now: float) -> bool:
        """Note what an engine event changed (cheap: the work waits for `update()`).

        True if it must be drawn soon; False for routine news (a poll that found a job as it
        was, a new measured rate), which can wait for the next tick: it changes only a time or a
        count on screen, never a state, an error or the rows shown.
        """
        if isinstance(event, JobUpdated):
            record = event.record
            job_id = record.job_id
            self._dirty.add(job_id)
            # drawn promptly: an error, one that cleared, a stale job refreshed, a first answer, a new URL
            answered = "pending" if record.status_code is None else CODE_KEYS.get(record.status_code, "unknown")
            new_url = record.url_received_at is not None and record.url_received_at == record.last_polled
            return record.failing or new_url or self.states.get(job_id) != answered
        if isinstance(event, RateChanged):
            return False
        if isinstance(event, JobAdded):
            self._membership_version += 1
            self._added_order.setdefault(event.record.job_id, next(self._order_seq))
            self._dirty.add(event.record.job_id)
        elif isinstance(event, JobsAdded):
            self._membership_version += 1
            ids = [record.job_id for record in event.records]
            added = self._added_order
            # (100,000 at once at a big watchlist's start: bulk operations, in C)
            added.update(zip([job_id for job_id in ids if job_id not in added], self._order_seq))
            if 2 * len(ids) >= len(self.records):  # most of the watchlist (its load): no set of them,
                self._all_dirty = True  # the next update is a full one
            else:
                self._dirty.update(ids)
        elif isinstance(event, JobRemoved):
            job_id = event.record.job_id
            self._membership_version += 1
            old = self.states.pop(job_id, None)
            if old is not None:
                self.state_counts[old] -= 1
            self._active.discard(job_id)
            self._added_order.pop(job_id, None)
            self._flash_until.pop(job_id, None)
        elif isinstance(event, StateChanged):
            self._dirty.add(event.record.job_id)
            self._flash_until[event.record.job_id] = monotonic_now + FLASH_SECONDS
        return True

    def touch(self, job_id: str) -> None:
        """Re-render this row at the next update (its label changed, say)."""
        self._dirty.add(job_id)

    def expire_flashes(self, monotonic_now: float) -> None:
        for job_id, until in list(self._flash_until.items()):
            if until <= monotonic_now:
                del self._flash_until[job_id]
                self._dirty.add(job_id)

    # -- what the user chose ---------------------------------------------------------------

    def set_filter(self, text: str) -> None:
        self.filter_text = text

    def set_sort(self, mode: str) -> bool:
        if mode not in SORT_MODES:
            return False
        self.sort_mode = mode
        return True

    def next_sort_mode(self) -> str:
        return SORT_MODES[(SORT_MODES.index(self.sort_mode) + 1) % len(SORT_MODES)]

    # -- derived -----------------------------------------------------------------------------

    def stale_threshold(self, active: int | None = None) -> float:
        if active is None:
            active = sum(1 for r in self.records.values() if not r.terminal)
        return stale_after(self.min_interval, active, self.rate())

    def empty_note(self, shown: int) -> str:
        """What an empty table says instead of nothing ('' while it shows a row)."""
        if shown:
            return ""
        if not self.records:
            return f"No jobs yet — press {key_for('add_jobs')} to add, or `vclm-watch add ID`"
        if self.filter_text.strip():
            return f"No job matches '{inert(self.filter_text.strip(), 40)}' — {key_for('clear_filter')} clears the filter"
        if self.hide_finished:
            return f"Every job has finished and is hidden — {key_for('hide_finished')} shows them"
        return ""

    def counts(self) -> dict[str, int]:
        """Jobs per display state, as of the last update (states with none left out)."""
        return {state: n for state, n in self.state_counts.items() if n}

    def matches_filter(self, record: JobRecord, state: str) -> bool:
        words = self.filter_text.lower().split()
        if not words:
            return True
        haystack = " ".join([record.job_id, record.label.lower(), state, (record.status_code or "pending").lower(),
                             record.last_error.code.lower() if record.last_error else ""])
        return all(word in haystack for word in words)

    def display_states(self, now: float, threshold: float | None = None) -> dict[str, str]:
        """The display state of every watched job as of `now`, computed afresh."""
        threshold = self.stale_threshold() if threshold is None else threshold
        return {job_id: display_state(record, now, threshold) for job_id, record in self.records.items()}

    def visible_order(self, now: float, states: Mapping[str, str] | None = None) -> list[str]:
        """The ids the table shows, in display order."""
        if states is None:
            states = self.display_states(now)
        filtering = bool(self.filter_text.split())
        if self.sort_mode == "added" and not filtering and not self.hide_finished:
            return list(self.records)  # (every job, in the order they were added: no row to look at)
        rows: list[tuple[str, JobRecord, str]] = []
        for job_id, record in self.records.items():
            if self.hide_finished and record.terminal:
                continue
            state = states.get(job_id) or display_state(record, now, self.threshold)
            if not filtering or self.matches_filter(record, state):
                rows.append((job_id, record, state))
        if self.sort_mode != "added":  # (the records are kept in the order they were added: no sort needed)
            rows.sort(key=sort_key(self.sort_mode, lambda job_id: self._added_order.get(job_id, 0)))
        return [job_id for job_id, _, _ in rows]

    # -- the update a draw shows -----------------------------------------------------------

    def update(self, now: float, monotonic_now: float, *, full: bool = False, tick: bool = False) -> ViewUpdate:
        """Bring states, counts and order up to date.

        A full update recomputes every state; a tick (time moves every row) only when the stale
        threshold moved or some row's time to go stale has come; otherwise only the rows the
        engine touched, so a burst or a quiet tick costs its own size, not the watchlist's.
        """
        dirty, self._dirty = self._dirty, set()
        if self._all_dirty:
            self._all_dirty, full, tick = False, True, False
        every_row = full and not tick  # every row may have changed (not only its times)
        if self.threshold is None or (full and not tick):
            states_changed = self._all_states(now)
            every_row = True
        else:
            states_changed = False
            for job_id in dirty:
                record = self.records.get(job_id)
                if record is not None:
                    states_changed |= self._note_state(job_id, record, now, self.threshold)
            if tick and (now >= self._stale_due or self.stale_threshold(len(self._active)) != self.threshold):
                states_changed |= self._all_states(now)
                every_row = True
        assert self.threshold is not None
        key = (self.sort_mode, self.filter_text, self.hide_finished, self._membership_version)
        data_ordered = self.sort_mode in ("state", "last change") or self.hide_finished or self.filter_text.strip()
        if self._order is None or key != self._order_key or (
                data_ordered and (states_changed or dirty or (full and not tick))):
            order = self.visible_order(now, self.states)
            if order != self._order:
                self._order = order
            self._order_key = key
        assert self._order is not None
        flashing = frozenset(j for j, until in self._flash_until.items() if until > monotonic_now)
        return ViewUpdate(order=self._order, dirty=None if every_row else dirty, states=self.states,
                          flashing=flashing, stale_after=self.threshold, times=tick)

    def _note_state(self, job_id: str, record: JobRecord, now: float, threshold: float) -> bool:
        """Bring one job's display state (and the counts) up to date; True if it changed."""
        state = display_state(record, now, threshold)
        if record.terminal:
            self._active.discard(job_id)
        else:
            self._active.add(job_id)
            if state not in ("stale", "error") and record.last_polled is not None:
                self._stale_due = min(self._stale_due, record.last_polled + threshold)
        old = self.states.get(job_id)
        if old == state:
            return False
        if old is not None:
            self.state_counts[old] -= 1
        self.state_counts[state] += 1
        self.states[job_id] = state
        return True

    def _all_states(self, now: float) -> bool:
        """Every job's display state afresh; True if any changed."""
        records = self.records
        active = [record for record in records.values() if record.status_code not in TERMINAL_STATUS_CODES]
        self._active = {record.job_id for record in active}
        self.threshold = threshold = self.stale_threshold(len(active))
        states = {job_id: display_state(record, now, threshold) for job_id, record in records.items()}
        changed = states != self.states
        self.states = states
        self.state_counts = Counter(states.values())
        # (the unfinished jobs neither stale nor failing: found by state, not by reading 100,000 records)
        due = [polled for job_id, state in states.items()
               if state in _MAY_GO_STALE and (polled := records[job_id].last_polled) is not None]
        self._stale_due = min(due) + threshold if due else float("inf")
        return changed
