"""The polling engine: which job to ask about next, and what the answers mean.

Driven the same way by the TUI and by `check --wait`; it knows nothing about screens.
Policy: jobs never polled and jobs asked to refresh go first; then the non-terminal job
that is due and was polled longest ago. Terminal jobs are not polled again on their own,
except to retry a query that failed (a finished job's error is retried, with backoff, until
an answer clears it; one read from disk with an error is asked again once at start). While
paused nothing is polled but the jobs explicitly refreshed one by one.
A job whose query failed backs off on its own; a failure that hits every job (bad
credentials, network down) holds the whole engine to one probe request at a time.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import Callable
from typing import Protocol

from tui.api.clock import SYSTEM_CLOCK, Clock
from tui.api.errors import TASK_NOT_EXIST, ApiError, ConfigError, TransportError, VclmError, http_status_text
from tui.api.models import TERMINAL_STATUS_CODES, JobStatus, is_terminal
from tui.api.ratelimit import RateLimiter, RateSnapshot
from tui.api.retry import Backoff
from tui.core.events import (
    EngineEvent,
    HealthChanged,
    JobAdded,
    JobRemoved,
    JobsAdded,
    JobUpdated,
    PollFailed,
    RateChanged,
    StateChanged,
)
from tui.core.jobstate import JobRecord, apply_answer, last_error_of
from tui.core.team import SharedAnswer, Team
from tui.core.teamwork import TeamLink, is_news

log = logging.getLogger(__name__)

URGENT, ROUTINE = 0, 1

# Error codes that say the account or its credentials are wrong: every job would fail alike.
GLOBAL_API_CODES_PREFIXES = ("AuthFailure", "UnauthorizedOperation", "ResourceUnavailable.NotExist", "UnsupportedRegion")


class DescribeClient(Protocol):
    """What the engine needs of the API client: its limiter (which the engine waits on before
    it picks the job to ask about) and one query, told whether that wait already admitted it."""

    limiter: RateLimiter

    async def describe_job(self, job_id: str, *, admitted: bool | float = False) -> JobStatus: ...


def _is_global(error: VclmError) -> str | None:
    if isinstance(error, ConfigError):
        return "config"
    if isinstance(error, ApiError) and error.code.startswith(GLOBAL_API_CODES_PREFIXES):
        return "auth"
    if isinstance(error, TransportError):
        return "network"
    return None


def problem_detail(error: VclmError) -> str:
    """What a problem that hits every job is said to be: the error's message, with the HTTP status
    line of an answer that came from something else than the service (a gateway's 502) and the
    code of the service's refusal. Never what changes from one failure to the next of the same
    outage (the excerpt of a gateway's page, which may carry its own request id; a RequestId):
    the same outage reads the same, and is announced once. The rest stays on the job's record."""
    if isinstance(error, TransportError):
        if error.http_status is None:
            return error.message
        status = http_status_text(error.http_status, error.reason)
        return error.message if status in error.message else f"{error.message} ({status})"
    if isinstance(error, ApiError):
        return f"{error.code}: {error.message}"
    return str(error)


async def poll_for_url(poller: Poller, job_id: str) -> str | None:
    """Poll this job now (through the client and its limiter, recorded like any poll) for a new
    ResultVideoUrl: None when the service no longer has one for it (or the job is not watched);
    the query's error (a VclmError) when it failed for another reason than the job being gone."""
    record = poller.records.get(job_id)
    if record is None:
        return None
    failed: list[VclmError] = []

    def note(event: EngineEvent) -> None:
        if isinstance(event, PollFailed) and event.record is record:
            failed.append(event.error)

    unsubscribe = poller.subscribe(note)
    try:
        await poller.poll_job(job_id)
    finally:
        unsubscribe()
    if failed and failed[-1].code != TASK_NOT_EXIST:
        raise failed[-1]
    return None if failed else (record.result_video_url or None)


Entry = tuple[int, float, int, str]  # (class, due (monotonic), sequence, job id): the heap's order


class DueQueue:
    """The jobs waiting to be polled: urgent before routine, then by due time, then first queued.

    A heap with lazy deletion: `entries` holds each job's one valid entry; a job queued again
    leaves its old entry in the heap, skipped when it comes up. A job queued while its poll is
    out (`in_flight`, the Poller's set) is held aside when it comes up, and queued again when
    that poll ends (`requeue`)."""

    def __init__(self, in_flight: set[str]) -> None:
        self.entries: dict[str, Entry] = {}
        self._heap: list[Entry] = []
        self._deferred: dict[str, Entry] = {}  # due while an earlier poll was out
        self._seq = itertools.count()
        self._in_flight = in_flight

    def __contains__(self, job_id: str) -> bool:
        return job_id in self.entries

    def push(self, job_id: str, cls: int, due: float) -> None:
        self.entries[job_id] = entry = (cls, due, next(self._seq), job_id)
        heapq.heappush(self._heap, entry)

    def push_many(self, job_ids: list[str], cls: int, due: float) -> None:
        seq = self._seq
        new = [(cls, due, next(seq), job_id) for job_id in job_ids]
        self.entries.update(zip(job_ids, new, strict=True))
        if len(new) < 64:  # a few: pushed; many (100,000 at a big watchlist's start): one heapify beats a push each
            for entry in new:
                heapq.heappush(self._heap, entry)
        else:
            self._heap.extend(new)
            heapq.heapify(self._heap)

    def peek(self) -> Entry | None:
        """The first entry whose job is not being polled (None: nothing queued)."""
        while self._heap:
            top = self._heap[0]
            valid = self.entries.get(top[3]) is top
            if valid and top[3] not in self._in_flight:
                return top
            heapq.heappop(self._heap)
            if valid:
                # asked for again while an earlier poll of it is out (removed and added back,
                # say): kept aside, and queued again when that poll ends
                self._deferred[top[3]] = top
        return None

    def take(self, job_id: str) -> None:
        """The job's poll begins: out of the queue."""
        entry = self.entries.pop(job_id, None)
        if entry is not None and self._heap and self._heap[0] is entry:
            heapq.heappop(self._heap)

    def ready(self, job_id: str, now: float) -> bool:
        """The job is queued, due by `now`, and not being polled."""
        entry = self.entries.get(job_id)
        return entry is not None and entry[1] <= now and job_id not in self._in_flight

    def discard(self, job_id: str, *, deferred: bool = False) -> None:
        self.entries.pop(job_id, None)
        if deferred:
            self._deferred.pop(job_id, None)

    def requeue(self, job_id: str) -> None:
        """The job's poll ended: an entry held aside meanwhile is queued again."""
        deferred = self._deferred.pop(job_id, None)
        if deferred is not None and self.entries.get(job_id) is deferred:
            heapq.heappush(self._heap, deferred)


class Poller:
    """The watched jobs (`records`) and the loop that polls them through one client.

    Views subscribe to its events and call `add`, `remove`, `refresh`, `pause`; `run()` polls
    until stopped. Without a client (no credentials) it still holds the watchlist, never polls,
    and reports a rate of zero. The client's limiter is reached only through this class.
    """

    def __init__(self, client: DescribeClient | None, *, clock: Clock = SYSTEM_CLOCK, min_interval: float = 2.0,
                 max_in_flight: int = 32, not_found_backoff: Backoff = Backoff(30.0, 600.0),
                 error_backoff: Backoff = Backoff(2.0, 120.0), probe_backoff: Backoff = Backoff(2.0, 60.0),
                 network_failures_for_outage: int = 3, team: Team | None = None, lease: float | None = None) -> None:
        self.client = client
        # team mode: a job is claimed before it is polled (for `lease` s); the limiter asks the team's window
        self.team = None if team is None else TeamLink(team, lease or min_interval, clock, client.limiter if client else None)
        self.clock = clock
        self.min_interval = min_interval
        self.max_in_flight = max_in_flight
        self.not_found_backoff = not_found_backoff
        self.error_backoff = error_backoff
        self.probe_backoff = probe_backoff
        self.network_failures_for_outage = network_failures_for_outage

        self.records: dict[str, JobRecord] = {}
        self._subscribers: list[Callable[[EngineEvent], None]] = []
        self._forced: list[str] = []  # jobs refreshed one by one while paused: polled anyway
        self._error_streak: dict[str, int] = {}
        self._in_flight: set[str] = set()
        self._queue = DueQueue(self._in_flight)
        self._tasks: dict[asyncio.Task, str] = {}  # polls dispatched by run(), to the job each asks about
        self._wakeup = asyncio.Event()
        self._slots: asyncio.Semaphore | None = None
        self._stopping = False
        self.paused = False

        self.problem: str | None = None
        self.problem_detail = ""
        self._global_streak = 0
        self._network_streak = 0
        self._hold_until = 0.0
        self._probe: str | None = None  # the job whose poll is the one probe out while everything fails
        self._last_rate: tuple[float, bool] | None = None

    # -- subscribers -------------------------------------------------------------------------

    def subscribe(self, callback: Callable[[EngineEvent], None]) -> Callable[[], None]:
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback) if callback in self._subscribers else None

    def _publish(self, event: EngineEvent) -> None:
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:  # a broken view must not stop polling
                log.exception("event subscriber failed on %s", type(event).__name__)

    # -- the watchlist -----------------------------------------------------------------------

    def add(self, job_id: str, label: str = "", *, record: JobRecord | None = None,
            from_file: bool = False) -> JobRecord:
        """Watch a job. A given record is taken as it is (one read from disk comes marked stale);
        `from_file` says the watchlist file already has it."""
        if job_id in self.records:
            return self.records[job_id]
        record = record or JobRecord(job_id=job_id, label=label, added_at=self.clock.time())
        self._watch([record], JobAdded(record, from_file))
        return record

    def add_many(self, records: list[JobRecord], *, from_file: bool = False) -> list[JobRecord]:
        """Watch many jobs given as records (those already watched are skipped), with one
        `JobsAdded` event: loading 100,000 jobs costs a loop, not 100,000 events."""
        ids = dict.fromkeys([record.job_id for record in records])
        if len(ids) == len(records) and self.records.keys().isdisjoint(ids):
            added = list(records)  # (a watchlist's load: all new, each once; checked in C)
        else:  # each id's first record (its key is popped: a second one finds none) if not watched yet
            added = [r for r in records if ids.pop(r.job_id, r) is None and r.job_id not in self.records]
        if added:
            self._watch(added, JobsAdded(tuple(added), from_file))
        return added

    def _watch(self, records: list[JobRecord], event: EngineEvent) -> None:
        queued = []
        watched, wall = self.records, self.clock.time()
        for record in records:  # (100,000 at a big watchlist's start: no property or call per job)
            watched[job_id := record.job_id] = record
            # a finished job whose last query failed (in an earlier run, perhaps) is asked
            # again: the error must not outlive an answer the service would give now
            if record.status_code not in TERMINAL_STATUS_CODES or record.last_error is not None:
                queued.append(job_id)
                record.next_poll_at = wall
        self._queue.push_many(queued, URGENT, self.clock.monotonic())
        self._publish(event)
        self._wake()

    def remove(self, job_id: str, *, from_file: bool = False) -> JobRecord | None:
        record = self.records.pop(job_id, None)
        self._queue.discard(job_id, deferred=True)
        self._error_streak.pop(job_id, None)
        if job_id in self._forced:
            self._forced.remove(job_id)
        if record is not None:
            self._publish(JobRemoved(record, from_file))
        return record

    def set_label(self, job_id: str, label: str) -> None:
        record = self.records.get(job_id)
        if record is not None and record.label != label:
            record.label = label
            self._publish(JobUpdated(record))

    # -- scheduling --------------------------------------------------------------------------

    def _schedule(self, job_id: str, cls: int, due: float) -> None:
        self._queue.push(job_id, cls, due)
        record = self.records.get(job_id)
        if record is not None:
            record.next_poll_at = self.clock.time() + max(0.0, due - self.clock.monotonic())

    def next_due(self, now: float) -> tuple[str | None, float | None]:
        """(job to poll now or None, monotonic time something becomes due or None)."""
        top = self._queue.peek()
        if top is None:
            return None, None
        if top[1] <= now:
            return top[3], top[1]
        return None, top[1]

    def refresh(self, job_id: str | None = None) -> int:
        """Poll now: one job (even a finished one, for a fresh URL; even while paused) or every
        unfinished, failing or stale one (those wait for resume while paused)."""
        now = self.clock.monotonic()
        if job_id is not None:
            targets = [job_id] if job_id in self.records else []
        else:
            targets = [j for j, r in self.records.items() if not r.terminal or r.failing or r.stale]
        count = 0
        for target in targets:
            if target not in self._in_flight:
                self._schedule(target, URGENT, now)
                count += 1
                if job_id is not None and self.paused and target not in self._forced:
                    self._forced.append(target)
        self._hold_until = 0.0  # the user asked: try now, even during an outage
        self._wake()
        return count

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused = False
        self._forced.clear()  # still queued first: nothing is lost
        self._wake()

    def _wake(self) -> None:
        self._wakeup.set()

    # -- results -----------------------------------------------------------------------------

    def _on_status(self, record: JobRecord, status: JobStatus, asked_at: float) -> None:
        record.poll_count, record.shared_from = record.poll_count + 1, None  # (fetched here)
        self._on_answer(record, status, asked_at, self.clock.monotonic() + self.min_interval, ours=True)

    def _on_shared(self, record: JobRecord, answer: SharedAnswer, status: JobStatus, not_before: float = 0.0) -> None:
        """An answer another member of the team fetched: recorded as of when it came (not a poll of
        ours), and the job due again `min_interval` after it (not before `not_before`, wall time)."""
        record.shared_from = answer.by or "another process"
        wall, now = self.clock.time(), self.clock.monotonic()
        due = now + max(0.0, max(not_before, answer.polled_at + self.min_interval) - wall)
        self._on_answer(record, status, answer.polled_at, due, ours=False)

    def _on_answer(self, record: JobRecord, status: JobStatus, at: float, due: float, *, ours: bool) -> None:
        previous = record.status_code
        changed = apply_answer(record, status, at)
        self._error_streak.pop(record.job_id, None)
        if is_terminal(status.status_code):
            record.next_poll_at = None
            self._queue.discard(record.job_id)
        else:
            self._schedule(record.job_id, ROUTINE, due)
        if ours:  # (another member's answer says nothing of this process's connection)
            self._clear_problem()
        self._publish(JobUpdated(record))
        if changed:
            self._publish(StateChanged(record, previous, status.status_code, at))

    def _on_error(self, record: JobRecord, error: VclmError) -> None:
        now = self.clock.time()
        record.poll_count += 1
        record.last_polled = now
        record.last_error = last_error_of(error, now)
        request_id = getattr(error, "request_id", None)
        if request_id:
            record.last_request_id = request_id
        streak = self._error_streak.get(record.job_id, 0) + 1
        self._error_streak[record.job_id] = streak
        backoff = self.not_found_backoff if error.code == TASK_NOT_EXIST else self.error_backoff
        self._schedule(record.job_id, ROUTINE, self.clock.monotonic() + backoff.delay(streak))
        self._note_global(error)
        self._publish(JobUpdated(record))
        self._publish(PollFailed(record, error))

    def _note_global(self, error: VclmError) -> None:
        kind = _is_global(error)
        if kind == "network":
            self._network_streak += 1
            if self._network_streak < self.network_failures_for_outage:
                return
        elif kind is None:
            # the service answered, and not about the credentials: it is reachable and they work
            self._network_streak = 0
            if isinstance(error, ApiError) and self.problem is not None:
                self._clear_problem()
            return
        self._global_streak += 1
        if self._probe is None:  # while a probe is out, its verdict sets the next hold, not a late failure
            self._hold_until = self.clock.monotonic() + self.probe_backoff.delay(self._global_streak)
        detail = problem_detail(error)
        if self.problem != kind or self.problem_detail != detail:
            self.problem, self.problem_detail = kind, detail
            self._publish(HealthChanged(kind, detail, error))

    def _clear_problem(self) -> None:
        self._network_streak = 0
        self._global_streak = 0
        self._hold_until = 0.0
        if self.problem is not None:
            self.problem, self.problem_detail = None, ""
            self._publish(HealthChanged(None))

    # -- rate ----------------------------------------------------------------------------------

    def measured_rate(self) -> float:
        """Requests per second on the wire lately, retries included (counted by the limiter)."""
        return self.client.limiter.measured_rate() if self.client is not None else 0.0

    def rate_snapshot(self) -> RateSnapshot | None:
        """The limiter's pace and cut-back state (None without a client)."""
        return self.client.limiter.snapshot() if self.client is not None else None

    def target_rate(self) -> float | None:
        """The request rate the limiter aims for (None without a client)."""
        return self.client.limiter.target if self.client is not None else None

    def _publish_rate(self) -> None:
        if self.client is None:
            return
        snapshot = self.client.limiter.snapshot()
        measured = self.measured_rate()
        key = (round(measured, 1), snapshot.cut_back)
        if key != self._last_rate:
            self._last_rate = key
            self._publish(RateChanged(snapshot, measured))

    # -- running -------------------------------------------------------------------------------

    async def poll_job(self, job_id: str, *, admitted: bool | float = False) -> None:
        """Ask about one job now and record the answer (never raises)."""
        record = self.records.get(job_id)
        if record is None:
            return
        self._in_flight.add(job_id)
        self._queue.take(job_id)
        try:
            if self.client is None:
                raise ConfigError("no credentials: nothing can be polled")
            status = await self.client.describe_job(job_id, admitted=admitted)
        except VclmError as error:
            if self.records.get(job_id) is record:
                self._on_error(record, error)
        except Exception as error:  # noqa: BLE001 - nothing may escape a poll
            log.exception("unexpected failure polling %s", job_id)
            if self.records.get(job_id) is record:
                self._on_error(record, TransportError("protocol", f"unexpected {type(error).__name__}"))
        else:
            asked_at = self.clock.time() - max(0.0, status.latency)  # what it says was so when it was asked, not when it came
            if self.records.get(job_id) is record:
                self._on_status(record, status, asked_at)
            if self.team is not None:
                await self.team.fetched(status, asked_at)
        finally:
            self._in_flight.discard(job_id)
            self._queue.requeue(job_id)
            self._publish_rate()
            self._wake()

    async def _idle(self, seconds: float | None) -> None:
        """Wait until woken (a job added, a poll done, refresh) or `seconds` pass."""
        self._wakeup.clear()
        waiter: asyncio.Future[object] = asyncio.ensure_future(self._wakeup.wait())
        tasks = {waiter}
        if seconds is not None:
            tasks.add(asyncio.ensure_future(self.clock.sleep(seconds)))
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()

    async def run(self, *, until: Callable[[], bool] | None = None, deadline: float | None = None) -> None:
        """Poll until stop(), until `until()` holds, or until the monotonic `deadline`. Safe to cancel."""
        if self.client is None:
            raise ConfigError("no credentials: nothing can be polled")
        client = self.client
        self._stopping = False
        self._slots = asyncio.Semaphore(self.max_in_flight)
        if self.team is not None:  # (its listener calls back as answers come: shown then, even while every slot is out)
            await self.team.start(self._take_shared)

        def remaining(seconds: float | None) -> float | None:
            if deadline is None:
                return seconds
            left = max(0.0, deadline - self.clock.monotonic())
            return left if seconds is None else min(seconds, left)

        try:
            while not self._stopping:
                now = self.clock.monotonic()
                if (until is not None and until()) or (deadline is not None and now >= deadline):
                    break
                self._take_shared()
                if self.paused:
                    forced = self._next_forced()
                    if forced is None:
                        await self._idle(remaining(None))
                        continue
                    # refreshed by hand while paused: polled now, still through the limiter
                    await self._slots.acquire()
                    granted = await client.limiter.acquire()
                    if self._stopping or forced not in self._queue or forced in self._in_flight:
                        self._slots.release()
                        continue
                    self._dispatch(forced, granted)
                    continue
                if self._hold_until > now:
                    # an infinite hold waits for the probe's verdict, which wakes us; no clock can sleep forever
                    held = self._hold_until - now
                    await self._idle(remaining(None if held == float("inf") else held))
                    continue
                job_id, due = self.next_due(now)
                if job_id is None:
                    await self._idle(remaining(None if due is None else due - now))
                    continue
                if self.team is not None and not await self._claimed(self.team, job_id):
                    continue  # another member has it: its answer was taken, or will be
                await self._slots.acquire()
                granted = await client.limiter.acquire()
                if self.team is None:
                    job_id, _ = self.next_due(self.clock.monotonic())  # the best job now, not before the wait
                elif not self._queue.ready(job_id, self.clock.monotonic()) or self.paused or self._stopping:
                    await self.team.release(job_id)  # claimed, not used: removed, polled by hand, answered meanwhile, or stopping
                    job_id = None
                if job_id is None or self.paused or self._stopping:
                    self._slots.release()
                    continue
                self._dispatch(job_id, granted)
        finally:
            pending = dict(self._tasks)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
            for task, job_id in pending.items():
                if task.cancelled():
                    # cut short by the stop (perhaps before it began): asked first when polling resumes
                    self._in_flight.discard(job_id)
                    if job_id in self.records and job_id not in self._queue:
                        self._schedule(job_id, URGENT, self.clock.monotonic())
            if self._probe is not None:  # a probe cancelled before it began
                self._probe = None
                if self._hold_until == float("inf"):
                    self._hold_until = 0.0

    async def _claimed(self, team: TeamLink, job_id: str) -> bool:
        """Team mode: whether this process polls `job_id` now. If another member has it, its answer
        is taken (when it is news: `is_news`) and the job waits for that member's lease to end."""
        claim = await team.claim(job_id)
        record = self.records.get(job_id)
        if claim.granted or record is None or job_id in self._in_flight:
            return claim.granted
        taken = team.taken(claim)
        if taken is not None and is_news(record, *taken):
            self._on_shared(record, *taken, not_before=claim.retry_at or 0.0)
        else:  # asked again when the lease ends (the answer it waits for comes through drain() sooner)
            entry, wait = self._queue.entries.get(job_id), (claim.retry_at or 0.0) - self.clock.time()
            self._schedule(job_id, entry[0] if entry else ROUTINE, self.clock.monotonic() + max(0.0, wait))
        return False

    def _take_shared(self) -> None:
        """The answers other members fetched since the last look, for the watched jobs they are news for; then wake the loop."""
        for answer, status in self.team.answers() if self.team is not None else ():
            record = self.records.get(answer.job_id)
            if record is not None and answer.job_id not in self._in_flight and is_news(record, answer, status):
                self._on_shared(record, answer, status)
        self._wake()

    def _next_forced(self) -> str | None:
        """The next job refreshed by hand while paused that is still waiting to be polled."""
        while self._forced:
            job_id = self._forced[0]
            if job_id in self._queue and job_id not in self._in_flight:
                return job_id
            self._forced.pop(0)
        return None

    def _dispatch(self, job_id: str, granted: float) -> None:
        """Start polling `job_id` (the caller holds a slot and the limiter admitted the request)."""
        if job_id in self._forced:
            self._forced.remove(job_id)
        if self.problem is not None:
            # one probe at a time while everything fails; the next waits for its verdict
            self._hold_until = float("inf")
            self._probe = job_id
        self._in_flight.add(job_id)
        self._queue.take(job_id)
        task = asyncio.create_task(self._run_one(job_id, granted))
        self._tasks[task] = job_id
        task.add_done_callback(lambda done: self._tasks.pop(done, None))

    async def _run_one(self, job_id: str, granted: float) -> None:
        try:
            await self.poll_job(job_id, admitted=granted)  # the limiter's go-ahead, and when it came
        finally:
            if self._probe == job_id:
                self._probe = None
                if self._hold_until == float("inf"):
                    self._hold_until = 0.0 if self.problem is None else (
                        self.clock.monotonic() + self.probe_backoff.delay(self._global_streak))
            if self._slots is not None:
                self._slots.release()

    fresh_url = poll_for_url  # (a function above: this class is at its size limit)
    def stop(self) -> None:
        self._stopping = True
        self._wake()

    async def run_until(self, done: Callable[[], bool], timeout: float | None = None) -> bool:
        """Run until `done()` holds (checked after every event) or `timeout` seconds pass."""

        def check(_event: EngineEvent) -> None:
            if done():
                self._wake()

        unsubscribe = self.subscribe(check)
        deadline = None if timeout is None else self.clock.monotonic() + timeout
        try:
            await self.run(until=done, deadline=deadline)
        finally:
            unsubscribe()
        return done()
