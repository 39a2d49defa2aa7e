"""The overview's numbers: drawn from recorded history, kept up to date from engine events, bounded."""

from __future__ import annotations

import pytest
from simkit import SIM_CREDENTIALS, make_client, make_sim

from tui.api.clock import FakeClock
from tui.core.engine import Poller
from tui.core.events import JobAdded, JobRemoved, JobsAdded, JobUpdated, StateChanged
from tui.core.jobdb import Activity, JobDatabase, ObservationWriter
from tui.core.jobstate import JobRecord, LastError, Transition
from tui.core.overview import (
    HORIZON_SECONDS,
    MINUTES,
    WINDOW_SECONDS,
    Overview,
    Spread,
    client_counts,
    error_kind,
    percentile,
)

NOW = 1_764_000_030.0  # 16:00:30 UTC


def job(n: int) -> str:
    return f"{n:032x}"


def finished(n: int, seen: float, at: float, code: str = "JobSuccess") -> JobRecord:
    record = JobRecord(job_id=job(n), added_at=seen, status_code=code)
    record.history = [Transition(seen, None, "JobInit"), Transition(seen + 1, "JobInit", "JobRunning"),
                      Transition(at, "JobRunning", code)]
    return record


def running(n: int, seen: float, label: str = "") -> JobRecord:
    record = JobRecord(job_id=job(n), label=label, added_at=seen, status_code="JobRunning")
    record.history = [Transition(seen, None, "JobRunning")]
    return record


def watched(records: list[JobRecord], clock: FakeClock | None = None) -> tuple[Poller, Overview]:
    clock = clock or FakeClock(NOW)
    poller = Poller(None, clock=clock)
    overview = Overview(clock, lambda: client_counts(poller.client))
    poller.subscribe(overview.apply)
    poller.add_many(records)
    return poller, overview


def test_percentiles_are_nearest_rank():
    values = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0]
    assert percentile(values, 0.5) == 50.0  # ceil(0.5 * 10) = 5th
    assert percentile(values, 0.95) == 100.0  # ceil(9.5) = 10th
    assert percentile([7.0], 0.95) == 7.0
    assert Spread.of([30.0, 10.0, 20.0]) == Spread(3, 20.0, 30.0, 30.0)
    assert Spread.of([]) == Spread(0, None, None, None)


@pytest.mark.parametrize(("code", "kind"), [
    ("FailedOperation.InnerError", "InnerError"), ("InternalError", "InnerError"),
    ("RequestLimitExceeded", "RequestLimitExceeded"), ("RequestLimitExceeded.UinLimitExceeded", "RequestLimitExceeded"),
    ("Transport.timeout", "transport"), ("Transport.http_status", "transport"),
    ("AuthFailure.SignatureFailure", "auth"), ("UnauthorizedOperation", "auth"),
    ("FailedOperation.TaskNotExist", "other"),
])
def test_error_codes_fall_into_the_overview_s_columns(code, kind):
    assert error_kind(code) == kind


def test_finishes_are_counted_per_minute_by_outcome_from_the_recorded_history():
    records = [finished(1, NOW - 400, NOW - 125), finished(2, NOW - 300, NOW - 100, "JobFailed"),
               finished(3, NOW - 300, NOW - 20, "JobModerationFailed"), finished(4, NOW - 200, NOW - 10)]
    _poller, overview = watched(records)
    numbers = overview.numbers(5)
    # minutes 15:56 .. 16:00; the finishes fell at 15:58:25, 15:58:50, 16:00:10, 16:00:20
    assert [m.finished for m in numbers.minutes] == [{}, {}, {"success": 1, "failed": 1}, {},
                                                     {"moderation": 1, "success": 1}]
    assert numbers.first_minute == NOW - 30 - 4 * 60


def test_a_job_first_seen_finished_adds_no_time_to_finish():
    record = JobRecord(job_id=job(1), added_at=NOW - 50, status_code="JobSuccess")
    record.history = [Transition(NOW - 50, None, "JobSuccess")]
    _poller, overview = watched([record])
    numbers = overview.numbers()
    assert numbers.recent.count == 0 and numbers.baseline.count == 0
    assert sum(m.finished.get("success", 0) for m in numbers.minutes) == 0
    assert numbers.states["success"] == 1


def test_time_to_finish_now_is_set_against_the_hour_before():
    recent = [(NOW - 500, 400.0), (NOW - 300, 600.0), (NOW - 100, 500.0)]
    earlier = [(NOW - 3000, 100.0), (NOW - 2500, 140.0), (NOW - 2000, 120.0), (NOW - 1500, 160.0)]
    too_old = [(NOW - WINDOW_SECONDS - 10, 9999.0)]
    records = [finished(n, at - took, at) for n, (at, took) in enumerate(recent + earlier + too_old)]
    _poller, overview = watched(records)
    numbers = overview.numbers()
    # by hand: recent sorted 400, 500, 600 -> p50 = 2nd (ceil 1.5), p95 = 3rd; earlier 100..160 -> p50 = 2nd = 120
    assert numbers.recent == Spread(3, 500.0, 600.0, 600.0)
    assert numbers.baseline == Spread(4, 120.0, 160.0, 160.0)


def test_samples_leave_the_window_as_time_passes():
    clock = FakeClock(NOW)
    _poller, overview = watched([finished(1, NOW - 200, NOW - 100)], clock)
    assert overview.numbers().recent.count == 1
    clock.advance(600)
    numbers = overview.numbers()
    assert (numbers.recent.count, numbers.baseline.count) == (0, 1)
    clock.advance(WINDOW_SECONDS)
    assert overview.numbers().baseline.count == 0
    assert overview.held()[1] == 0  # dropped, not only skipped


def test_state_counts_follow_the_events():
    poller, overview = watched([running(1, NOW - 100), running(2, NOW - 50)])
    assert overview.numbers().states["running"] == 2
    record = poller.records[job(1)]
    record.last_error = LastError("FailedOperation.InnerError", "x", None, NOW)
    poller.set_label(job(1), "relabelled")  # any JobUpdated carries the record again
    states = overview.numbers().states
    assert (states["running"], states["error"]) == (1, 1)
    poller.remove(job(2))
    numbers = overview.numbers()
    assert (numbers.states["running"], numbers.states["error"], numbers.total) == (0, 1, 1)


def test_the_oldest_unfinished_job_and_how_long_it_has_waited():
    clock = FakeClock(NOW)
    poller, overview = watched([running(1, NOW - 100, "young"), running(2, NOW - 900, "old"),
                                finished(3, NOW - 5000, NOW - 10)], clock)
    oldest = overview.numbers().oldest
    assert oldest is not None and (oldest.job_id, oldest.label, oldest.waiting) == (job(2), "old", 900.0)
    poller.remove(job(2))
    clock.advance(5)
    oldest = overview.numbers().oldest
    assert oldest is not None and (oldest.job_id, oldest.waiting) == (job(1), 105.0)
    poller.remove(job(1))
    assert overview.numbers().oldest is None


def test_request_outcomes_are_kept_per_minute_and_bounded():
    clock = FakeClock(NOW)
    overview = Overview(clock)
    overview.record_requests(NOW, sent=10, accepted=6, errors={"RequestLimitExceeded": 3, "Transport.timeout": 1},
                             cut_backs=1)
    minute = overview.numbers(1).minutes[-1]
    assert (minute.sent, minute.accepted, minute.refused, minute.cut_backs) == (10, 6, 3, 1)
    assert minute.errors == {"RequestLimitExceeded": 3, "transport": 1}
    for _ in range(3 * MINUTES):
        clock.advance(60)
        overview.record_requests(clock.time(), sent=1)
    assert overview.held()[0] <= MINUTES + 8
    assert all(m.sent == 1 for m in overview.numbers().minutes)
    overview.record_requests(clock.time() - MINUTES * 60, sent=5)  # older than what is kept: dropped
    assert sum(m.sent for m in overview.numbers().minutes) == MINUTES


@pytest.mark.anyio
async def test_every_attempt_is_counted_from_the_engine_refusals_and_inner_errors_included():
    clock = FakeClock(NOW)
    sim = make_sim(clock)
    job_id = sim.create_job(fate="JobSuccess", init_seconds=1000)
    client = make_client(sim, clock, credentials=SIM_CREDENTIALS)
    poller = Poller(client, clock=clock)
    overview = Overview(clock, lambda: client_counts(client))
    poller.subscribe(overview.apply)
    async with client:
        poller.add(job_id)
        sim.faults.fail_next("rate_limit", 2)
        await poller.poll_job(job_id)  # refused twice, answered the third time
        sim.faults.fail_next("inner_error", 4)
        await poller.poll_job(job_id)  # four InnerErrors: the poll fails
    minutes = overview.numbers(5).minutes
    assert sum(m.sent for m in minutes) == 7
    assert sum(m.accepted for m in minutes) == 1
    assert sum(m.refused for m in minutes) == 2
    assert sum(m.errors.get("InnerError", 0) for m in minutes) == 4
    assert sum(m.cut_backs for m in minutes) == client.limiter.cuts >= 1


def _replay(overview: Overview, clock: FakeClock) -> None:
    """Half an hour of request outcomes, different every minute, one poll's worth at a time."""
    for minute in range(30):
        for poll in range(minute % 4 + 1):
            errors = {"RequestLimitExceeded": 1} if minute % 5 == 0 else {}
            if minute in (7, 8):
                errors["FailedOperation.InnerError"] = minute
            overview.record_requests(clock.time(), sent=3 + poll, accepted=3 + poll - sum(errors.values()) % 3,
                                     errors=errors, cut_backs=minute % 3 == 0)
            clock.advance(60 / (minute % 4 + 1))


def test_request_outcomes_recorded_in_the_job_database_come_back_after_a_restart(tmp_path):
    path = tmp_path / "watchlist.db"
    clock = FakeClock(NOW)
    before = Overview(clock)
    writer = ObservationWriter(path, clock=clock.time, interval=3600.0)
    before.recorder = writer.put_activity
    _replay(before, clock)
    assert writer.close(timeout=10)
    expected = before.numbers().minutes
    assert sum(m.sent for m in expected) > 0 and any(m.errors.get("InnerError") for m in expected)

    after = Overview(clock)  # a new monitor, from the same database
    with JobDatabase(path) as db:
        after.restore_requests(db.activity(since=clock.time() - MINUTES * 60))
    assert after.numbers().minutes == expected


def test_outcomes_restored_are_not_recorded_again():
    recorded: list[Activity] = []
    overview = Overview(FakeClock(NOW))
    overview.recorder = recorded.append
    overview.restore_requests([Activity(int(NOW // 60) * 60, sent=4, accepted=4)])
    assert recorded == [] and overview.numbers(1).minutes[-1].sent == 4
    overview.record_requests(NOW, sent=1, errors={"AuthFailure.SignatureFailure": 1})
    assert recorded == [Activity(int(NOW // 60) * 60, sent=1, errors={"auth": 1})]


def test_memory_stays_bounded_over_days_without_the_overview_being_read():
    # Jobs come and go for a week (each seen running, finished, then removed): what the overview
    # holds is what its last hour needs, though `numbers()` is never called.
    clock = FakeClock(NOW)
    overview = Overview(clock)
    sizes = []
    for n in range(7 * 24 * 60):  # one a minute, each waiting 5 minutes
        record = running(n, clock.time())
        overview.apply(JobAdded(record))
        clock.advance(60)
        done = job(n - 5)
        if n >= 5:
            old = JobRecord(job_id=done, added_at=clock.time() - 300, status_code="JobSuccess")
            old.history = [Transition(clock.time() - 300, None, "JobRunning"),
                           Transition(clock.time(), "JobRunning", "JobSuccess")]
            overview.apply(StateChanged(old, "JobRunning", "JobSuccess", clock.time()))
            overview.apply(JobUpdated(old))
            overview.apply(JobRemoved(old))
        overview.record_requests(clock.time(), sent=1)
        if n % 1440 == 1439:
            sizes.append(overview.held())
    window = int(HORIZON_SECONDS // 60) + 1  # finishes (one a minute) that can still be counted
    for minutes, samples, finished_ids, heap in sizes:
        assert minutes <= MINUTES + 8
        assert samples <= window and finished_ids <= window
        assert heap <= 2 * 6 + 64  # 5-6 jobs waiting at any time
    numbers = overview.numbers()
    assert numbers.recent.count == 10 and numbers.recent.p50 == 300.0


def _every_kind(now: float) -> list[JobRecord]:
    """Jobs of every kind a loaded watchlist holds: running, labelled, pending, failing, finished in
    the window, in the hour before, and long ago, and one first seen finished."""
    records = [running(1, now - 300, "a label"), running(2, now - 4000), JobRecord(job_id=job(3), added_at=now - 5)]
    failing = running(4, now - 100)
    failing.last_error = LastError("FailedOperation.InnerError", "boom", None, now - 10)
    records.append(failing)
    for n, (seen, at, code) in enumerate([(now - 900, now - 120, "JobSuccess"), (now - 5000, now - 2000, "JobFailed"),
                                          (now - 90_000, now - 86_000, "JobSuccess"),
                                          (now - 700, now - 600, "JobModerationFailed")], start=5):
        record = finished(n, seen, at, code)
        record.last_change = at
        records.append(record)
    first_seen_done = JobRecord(job_id=job(9), added_at=now - 50, status_code="JobSuccess", last_change=now - 50)
    first_seen_done.history = [Transition(now - 50, None, "JobSuccess")]
    records.append(first_seen_done)
    return records


def test_a_watchlist_loaded_at_once_counts_as_its_jobs_added_one_by_one():
    clock = FakeClock(NOW)
    one_by_one, at_once = Overview(clock), Overview(clock)
    records = _every_kind(NOW)
    for record in records:
        one_by_one.apply(JobAdded(record))
    at_once.apply(JobsAdded(tuple(records)))
    assert at_once.states == one_by_one.states
    assert at_once.numbers() == one_by_one.numbers()
    assert at_once.oldest() == one_by_one.oldest()
    assert at_once.held() == one_by_one.held()


def test_a_watchlist_loaded_at_once_is_counted_when_next_needed_not_on_the_way_to_the_first_frame(monkeypatch):
    import tui.core.overview as overview_module

    calls = []
    real = overview_module.state_key
    monkeypatch.setattr(overview_module, "state_key", lambda record: calls.append(record.job_id) or real(record))
    overview = Overview(FakeClock(NOW))
    records = _every_kind(NOW)
    overview.apply(JobsAdded(tuple(records)))
    assert calls == []  # the monitor's start goes on to its first frame meanwhile
    overview.apply(JobUpdated(records[0]))  # the next event counts them first, in order
    assert calls[:len(records)] == [record.job_id for record in records]
    assert sum(overview.states.values()) == len(records)
