"""The overview's numbers: finishes and request outcomes per minute, time to finish, counts by state.

Drawn from the jobs' recorded history (`JobRecord.history`, read from the job database at start)
and kept up to date from engine events, as running aggregates: an event costs O(1) (a bisect for
a late duration), and `numbers()` walks only the last hour's buckets and samples, never the
watchlist. Request outcomes come from the client's per-attempt counters (retries included),
read when a poll ends (`RequestCounts`), so a refusal that a retry then got past still counts;
they are also handed to `recorder` (the job database's writer: its `activity` table) and read
back at start (`restore_requests`), so a restart keeps the last hour's. Everything in memory is
bounded (`MINUTES` buckets, the last `WINDOW_SECONDS` of samples and of finished ids), trimmed
as events arrive, whether or not anyone reads the numbers.
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from tui.api.clock import Clock
from tui.api.models import is_terminal
from tui.core.events import EngineEvent, JobAdded, JobRemoved, JobsAdded, JobUpdated, StateChanged
from tui.core.jobdb import Activity
from tui.core.jobstate import JobRecord
from tui.core.states import CODE_KEYS

MINUTES = 60  # per-minute buckets kept (the longest sparkline)
RECENT_SECONDS = 600.0  # "now": jobs that finished in the last 10 minutes...
BASELINE_SECONDS = 3600.0  # ...against those that finished in the hour before
WINDOW_SECONDS = RECENT_SECONDS + BASELINE_SECONDS
HORIZON_SECONDS = max(WINDOW_SECONDS, MINUTES * 60.0)  # a finish older than this counts nowhere

OUTCOMES = ("success", "failed", "moderation")
COUNTED_STATES = ("running", "init", "pending", "success", "failed", "moderation", "unknown", "error")

_INNER = frozenset({"FailedOperation.InnerError", "InternalError", "InternalError.InternalError"})
_AUTH = ("AuthFailure", "UnauthorizedOperation")


def error_kind(code: str) -> str:
    """The overview's column for an error code."""
    if code.startswith("RequestLimitExceeded"):
        return "RequestLimitExceeded"
    if code in _INNER:
        return "InnerError"
    if code.startswith("Transport."):
        return "transport"
    if code.startswith(_AUTH):
        return "auth"
    return "other"


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of sorted values: the smallest value with at least q of them at or below it."""
    if not ordered:
        raise ValueError("no values")
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@dataclass(frozen=True, slots=True)
class Spread:
    """Time from first seen to finished over some jobs (seconds; None when there are none)."""

    count: int
    p50: float | None
    p95: float | None
    max: float | None

    @classmethod
    def of(cls, values: Iterable[float]) -> Spread:
        ordered = sorted(values)
        if not ordered:
            return cls(0, None, None, None)
        return cls(len(ordered), percentile(ordered, 0.50), percentile(ordered, 0.95), ordered[-1])


@dataclass(slots=True)
class Minute:
    """What happened in one wall-clock minute."""

    sent: int = 0
    accepted: int = 0
    refused: int = 0
    cut_backs: int = 0
    errors: dict[str, int] = field(default_factory=dict)  # error kind -> failed attempts
    finished: dict[str, int] = field(default_factory=dict)  # outcome -> jobs that finished


@dataclass(frozen=True, slots=True)
class RequestCounts:
    """The client's running totals since it was built (every attempt, retries included)."""

    sent: int
    answered: int
    errors: Mapping[str, int]  # error code -> failed attempts
    cut_backs: int


@dataclass(frozen=True, slots=True)
class Oldest:
    job_id: str
    label: str
    since: float  # first seen
    waiting: float  # seconds, up to now


@dataclass(frozen=True, slots=True)
class OverviewNumbers:
    """One reading of the overview, at `now`: what the screen draws."""

    now: float
    minutes: tuple[Minute, ...]  # oldest first; the last is the current minute
    first_minute: float  # wall time the first bucket starts
    recent: Spread
    baseline: Spread
    states: Mapping[str, int]
    total: int
    oldest: Oldest | None


def client_counts(client: object | None) -> RequestCounts | None:
    """The running totals of a `VclmClient` (attempts sent, answered, failed by code) and of its
    limiter's cut-backs; None without a client (nothing is sent)."""
    if client is None:
        return None
    limiter = getattr(client, "limiter", None)
    return RequestCounts(sent=getattr(client, "requests_sent", 0), answered=getattr(client, "requests_answered", 0),
                         errors=dict(getattr(client, "failed_attempts", {})), cut_backs=getattr(limiter, "cuts", 0))


def first_seen(record: JobRecord) -> float | None:
    """When the job was first seen: its first recorded answer (when the watchlist got it, if that
    part of its history was cut)."""
    history = record.history
    if history and history[0].from_code is None:
        return history[0].at
    return record.added_at or (history[0].at if history else None)


def finish(record: JobRecord) -> tuple[float, str, float] | None:
    """(when, outcome, seconds since first seen) of the job's finish, if it was seen unfinished
    and then finished (a job first seen finished tells nothing of how long it took)."""
    seen = first_seen(record)
    for transition in record.history:
        if is_terminal(transition.to_code) and transition.from_code is not None \
                and not is_terminal(transition.from_code):
            if seen is None:
                return None
            return transition.at, CODE_KEYS[transition.to_code], max(0.0, transition.at - seen)
    return None


def state_key(record: JobRecord) -> str:
    """The state a job is counted under: its last answer, or "error" while its query fails."""
    if record.failing:
        return "error"
    if record.status_code is None:
        return "pending"
    return CODE_KEYS.get(record.status_code, "unknown")


class Overview:
    """Running aggregates over the watched jobs and the requests sent for them.

    Subscribe `apply` to the engine before any job is added; `counts` is read when a poll ends
    (`client_counts` of the engine's client). `record_requests` adds request outcomes directly (what the
    counters add up to; tests replay a recorded history through it); each minute's share is handed
    to `recorder` when one is set (the job database's writer), and `restore_requests` adds what
    was recorded before a restart. `version` changes whenever anything that `numbers()` reports
    did, apart from the passing of time.
    """

    def __init__(self, clock: Clock, counts: Callable[[], RequestCounts | None] | None = None) -> None:
        self.clock = clock
        self._counts = counts
        self._last_counts: RequestCounts | None = None
        self.recorder: Callable[[Activity], None] | None = None
        self._minutes: dict[int, Minute] = {}
        self._durations: list[tuple[float, float]] = []  # (finished at, seconds), by finish time
        self._finished: dict[str, float] = {}  # jobs whose finish is counted (each once) -> when they finished
        self._finished_heap: list[tuple[float, str]] = []  # (finished at, job): the oldest leave `_finished` first
        self._state: dict[str, str] = {}
        self._states: dict[str, int] = dict.fromkeys(COUNTED_STATES, 0)
        # Jobs added at once (a watchlist loaded at start), counted when next needed: by the next
        # other event or reading, not on the way to the monitor's first frame.
        self._loaded: list[Iterable[JobRecord]] = []
        self._labels: dict[str, str] = {}
        self._unfinished: dict[str, float] = {}  # job -> first seen
        self._oldest_heap: list[tuple[float, str]] = []  # lazy: entries no longer in _unfinished are skipped
        self.version = 0

    # -- feeding -------------------------------------------------------------------------------

    @property
    def states(self) -> dict[str, int]:
        """Jobs per state (COUNTED_STATES), as of the last event."""
        self._catch_up()
        return self._states

    def _catch_up(self) -> None:
        while self._loaded:
            self._add_many(self._loaded.pop(0))

    def apply(self, event: EngineEvent) -> None:
        if isinstance(event, JobsAdded):
            self._loaded.append(event.records)
            self.version += 1
            return
        self._catch_up()
        if isinstance(event, JobUpdated):
            self._track(event.record)
            self._sample_counts()
        elif isinstance(event, StateChanged):
            self._note_finish(event.record)
        elif isinstance(event, JobAdded):
            self._add(event.record)
        elif isinstance(event, JobRemoved):
            self._forget(event.record.job_id)

    def _add(self, record: JobRecord) -> None:
        self._track(record)
        self._note_finish(record)

    def _add_many(self, records: Iterable[JobRecord]) -> None:
        """What `_add` does for each, in one pass (a watchlist of 100,000 loaded at start): the
        oldest-job heap built once, and a finish looked for only in a job that changed state
        recently enough for its finish to count (`finish` reads the whole history)."""
        state, states, labels, unfinished = self._state, self._states, self._labels, self._unfinished
        now = self.clock.time()
        recent = now - HORIZON_SECONDS
        waiting: list[tuple[float, str]] = []
        finished: list[JobRecord] = []
        for record in records:
            job_id = record.job_id
            key = state_key(record)
            old = state.get(job_id)
            if old != key:
                if old is not None:
                    states[old] -= 1
                states[key] = states.get(key, 0) + 1
                state[job_id] = key
            if record.label or job_id in labels:
                labels[job_id] = record.label
            if record.terminal:
                unfinished.pop(job_id, None)
                if record.last_change is None or record.last_change > recent:
                    finished.append(record)
            elif job_id not in unfinished:
                since = first_seen(record)
                unfinished[job_id] = since = now if since is None else since
                waiting.append((since, job_id))
        self.version += 1
        if waiting:
            self._oldest_heap.extend(waiting)
            heapq.heapify(self._oldest_heap)
        self._trim_oldest()
        for record in finished:
            self._note_finish(record)

    def _track(self, record: JobRecord) -> None:
        job_id = record.job_id
        key = state_key(record)
        old = self._state.get(job_id)
        if old != key:
            if old is not None:
                self._states[old] -= 1
            self._states[key] = self._states.get(key, 0) + 1
            self._state[job_id] = key
            self.version += 1
        if record.label != self._labels.get(job_id, ""):
            self._labels[job_id] = record.label
            self.version += 1
        if record.terminal:
            if self._unfinished.pop(job_id, None) is not None:
                self._trim_oldest()
                self.version += 1
        elif job_id not in self._unfinished:
            since = first_seen(record)
            since = self.clock.time() if since is None else since
            self._unfinished[job_id] = since
            heapq.heappush(self._oldest_heap, (since, job_id))
            self.version += 1

    def _forget(self, job_id: str) -> None:
        key = self._state.pop(job_id, None)
        if key is not None:
            self._states[key] -= 1
        self._labels.pop(job_id, None)
        if self._unfinished.pop(job_id, None) is not None:
            self._trim_oldest()
        self.version += 1

    def _note_finish(self, record: JobRecord) -> None:
        if record.job_id in self._finished:
            return
        done = finish(record)
        if done is None:
            return
        at, outcome, seconds = done
        now = self.clock.time()
        self._trim(now)
        if at <= now - HORIZON_SECONDS:
            return  # counted nowhere any more: not remembered either
        self._finished[record.job_id] = at
        heapq.heappush(self._finished_heap, (at, record.job_id))
        minute = self._minute(at)
        if minute is not None:
            minute.finished[outcome] = minute.finished.get(outcome, 0) + 1
        if at > now - WINDOW_SECONDS:
            bisect.insort(self._durations, (at, seconds))
        self.version += 1

    def _trim(self, now: float) -> None:
        """Drop the samples and finished ids that no reading can count any more."""
        cut = bisect.bisect_right(self._durations, (now - WINDOW_SECONDS, math.inf))
        if cut:
            del self._durations[:cut]
        heap, horizon = self._finished_heap, now - HORIZON_SECONDS
        while heap and heap[0][0] <= horizon:
            at, job_id = heapq.heappop(heap)
            if self._finished.get(job_id) == at:
                del self._finished[job_id]

    def _trim_oldest(self) -> None:
        """Rebuild the oldest-job heap once it holds mostly jobs no longer waiting (it is lazy)."""
        if len(self._oldest_heap) > 2 * len(self._unfinished) + 64:
            self._oldest_heap = [(since, job_id) for job_id, since in self._unfinished.items()]
            heapq.heapify(self._oldest_heap)

    def _sample_counts(self) -> None:
        if self._counts is None:
            return
        counts = self._counts()
        if counts is None:
            return
        last, self._last_counts = self._last_counts, counts
        if last is None:  # the first reading: what came before the overview is not in its minutes
            last = RequestCounts(0, 0, {}, 0)
        if counts == last:
            return
        errors = {code: n - last.errors.get(code, 0) for code, n in counts.errors.items()
                  if n != last.errors.get(code, 0)}
        self.record_requests(self.clock.time(), sent=counts.sent - last.sent,
                             accepted=counts.answered - last.answered, errors=errors,
                             cut_backs=counts.cut_backs - last.cut_backs)

    def record_requests(self, at: float, *, sent: int = 0, accepted: int = 0, errors: Mapping[str, int] | None = None,
                        cut_backs: int = 0) -> None:
        """Add request outcomes at wall time `at`: attempts sent, answered, failed by error code
        (refusals are the `RequestLimitExceeded` ones), and the limiter's cut-backs."""
        kinds: dict[str, int] = {}
        for code, n in (errors or {}).items():
            kind = error_kind(code)
            kinds[kind] = kinds.get(kind, 0) + n
        activity = Activity(int(at // 60) * 60, sent, accepted, kinds.get("RequestLimitExceeded", 0), cut_backs, kinds)
        if self._add_activity(activity) and self.recorder is not None:
            self.recorder(activity)

    def restore_requests(self, recorded: Iterable[Activity]) -> None:
        """Add request outcomes recorded before (the job database's, read at start): not handed
        to `recorder` again."""
        for activity in recorded:
            self._add_activity(activity)

    def _add_activity(self, activity: Activity) -> bool:
        minute = self._minute(activity.minute)
        if minute is None:
            return False
        minute.sent += activity.sent
        minute.accepted += activity.accepted
        minute.refused += activity.refused
        minute.cut_backs += activity.cut_backs
        for kind, n in activity.errors.items():
            minute.errors[kind] = minute.errors.get(kind, 0) + n
        self.version += 1
        return True

    def _minute(self, at: float) -> Minute | None:
        index = int(at // 60)
        newest = int(self.clock.time() // 60)
        if index <= newest - MINUTES:
            return None  # older than the buckets kept
        minute = self._minutes.get(index)
        if minute is None:
            minute = self._minutes[index] = Minute()
            if len(self._minutes) > MINUTES + 8:
                for old in [i for i in self._minutes if i <= newest - MINUTES]:
                    del self._minutes[old]
        return minute

    # -- reading -------------------------------------------------------------------------------

    def numbers(self, minutes: int = MINUTES) -> OverviewNumbers:
        """The overview now: the last `minutes` minutes (at most MINUTES), ending with this one."""
        self._catch_up()
        now = self.clock.time()
        minutes = max(1, min(MINUTES, minutes))
        newest = int(now // 60)
        empty = Minute()
        series = tuple(self._minutes.get(i, empty) for i in range(newest - minutes + 1, newest + 1))
        self._trim(now)
        split = bisect.bisect_right(self._durations, (now - RECENT_SECONDS, math.inf))
        baseline = Spread.of(seconds for at, seconds in self._durations[:split])
        recent = Spread.of(seconds for at, seconds in self._durations[split:] if at <= now)
        return OverviewNumbers(now=now, minutes=series, first_minute=(newest - minutes + 1) * 60.0, recent=recent,
                               baseline=baseline, states=dict(self.states), total=len(self._state),
                               oldest=self.oldest(now))

    def held(self) -> tuple[int, int, int, int]:
        """(minute buckets, time-to-finish samples, finished ids, oldest-job heap entries) held in
        memory: bounded by the last hour's finishes and the jobs waiting, however long it runs."""
        self._catch_up()
        return len(self._minutes), len(self._durations), len(self._finished_heap), len(self._oldest_heap)

    def oldest(self, now: float | None = None) -> Oldest | None:
        """The unfinished job seen first, and how long it has waited."""
        self._catch_up()
        now = self.clock.time() if now is None else now
        heap = self._oldest_heap
        while heap and self._unfinished.get(heap[0][1]) != heap[0][0]:
            heapq.heappop(heap)
        self._trim_oldest()
        heap = self._oldest_heap
        if not heap:
            return None
        since, job_id = heap[0]
        return Oldest(job_id, self._labels.get(job_id, ""), since, max(0.0, now - since))
