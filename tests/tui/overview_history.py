"""A recorded hour for the overview: jobs finishing at their usual pace then slowing down, a spike
of InnerError, a throttling episode; built from the clock, no randomness (snapshots never drift)."""

from __future__ import annotations

from dataclasses import dataclass, field

from tui.api.clock import FakeClock
from tui.core.jobstate import JobRecord, LastError, Transition
from tui.core.overview import Overview

INNER = "FailedOperation.InnerError"
LIMIT = "RequestLimitExceeded"
TIMEOUT = "Transport.timeout"

# minutes ago -> failed attempts by code (everything else sent was answered)
INNER_SPIKE = {25: 6, 24: 48, 23: 95, 22: 30}
THROTTLING = {15: (1140, 40, 1), 14: (900, 150, 3), 13: (700, 90, 2), 12: (820, 20, 1)}  # sent, refused, cut-backs
TIMEOUTS = {40: 3}
SENT = 1140  # a minute at 19 req/s


@dataclass
class History:
    records: list[JobRecord]
    baseline: list[float] = field(default_factory=list)  # seconds first seen -> finished, 10-70 min ago
    recent: list[float] = field(default_factory=list)  # ...in the last 10 min
    finishes: dict[int, dict[str, int]] = field(default_factory=dict)  # minutes ago -> outcome -> jobs
    oldest_id: str = ""
    oldest_waiting: float = 0.0


def job_id(n: int) -> str:
    return f"{n:08x}" + "c0de" * 6


def _finished(n: int, now: float, at: float, took: float, code: str, label: str = "") -> JobRecord:
    seen = at - took
    record = JobRecord(job_id=job_id(n), label=label, added_at=seen - 5, status_code=code, state_since=at,
                       last_change=at, last_polled=at, poll_count=int(took // 2))
    record.history = [Transition(seen, None, "JobInit"), Transition(seen + 30, "JobInit", "JobRunning"),
                      Transition(at, "JobRunning", code)]
    return record


def _unfinished(n: int, now: float, seen: float, code: str, label: str = "") -> JobRecord:
    record = JobRecord(job_id=job_id(n), label=label, added_at=seen - 5, status_code=code, state_since=seen,
                       last_change=seen, last_polled=now - 1, poll_count=int((now - seen) // 2), next_poll_at=now + 1)
    record.history = [Transition(seen, None, code)]
    return record


def recorded_history(clock: FakeClock) -> History:
    now = clock.time()
    history = History(records=[])
    outcome_code = {"success": "JobSuccess", "failed": "JobFailed", "moderation": "JobModerationFailed"}

    def finished(n: int, at: float, took: float, outcome: str, into: list[float]) -> None:
        history.records.append(_finished(n, now, at, took, outcome_code[outcome], f"clip {n}"))
        into.append(took)
        ago = int(now // 60) - int(at // 60)
        history.finishes.setdefault(ago, {}).setdefault(outcome, 0)
        history.finishes[ago][outcome] += 1

    n = 1
    for i in range(36):  # the usual pace: 2-4 minutes each
        outcome = "failed" if i % 9 == 4 else "moderation" if i % 17 == 8 else "success"
        finished(n, now - 4190 + i * 100, 120 + (i * 37) % 120, outcome, history.baseline)
        n += 1
    for j in range(12):  # the slow-down: 7-14 minutes each
        finished(n, now - 590 + j * 45, 420 + j * 40, "failed" if j % 5 == 3 else "success", history.recent)
        n += 1
    for k in range(14):
        history.records.append(_unfinished(n, now, now - 300 - k * 60, "JobRunning", f"render {k}"))
        n += 1
    for k in range(4):
        history.records.append(_unfinished(n, now, now - 20 - k * 15, "JobInit"))
        n += 1
    for k in range(3):  # caught by the InnerError spike, still failing
        record = _unfinished(n, now, now - 1500 - k * 30, "JobRunning", "[red]not red[/red]" if k == 0 else "")
        record.last_error = LastError(INNER, "Internal error.", f"req-{k}", now - 5)
        history.records.append(record)
        n += 1
    oldest = _unfinished(n, now, now - 47 * 60 - 13, "JobRunning", "the long one")
    history.records.append(oldest)
    history.oldest_id, history.oldest_waiting = oldest.job_id, 47 * 60 + 13
    return history


def replay_requests(overview: Overview, clock: FakeClock) -> None:
    """The hour's request outcomes, minute by minute (what the client's counters would have added up to)."""
    now = clock.time()
    minute = int(now // 60) * 60.0
    for ago in range(59, -1, -1):
        at = minute - ago * 60 + 1
        sent = SENT if ago else int(now - minute) * 19  # the minute under way: so far
        errors: dict[str, int] = {}
        cut_backs = 0
        if ago in THROTTLING:
            sent, refused, cut_backs = THROTTLING[ago]
            errors[LIMIT] = refused
        if ago in INNER_SPIKE:
            errors[INNER] = INNER_SPIKE[ago]
        if ago in TIMEOUTS:
            errors[TIMEOUT] = TIMEOUTS[ago]
        overview.record_requests(at, sent=sent, accepted=sent - sum(errors.values()), errors=errors,
                                 cut_backs=cut_backs)
