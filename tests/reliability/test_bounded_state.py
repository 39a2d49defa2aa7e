"""Days, not minutes: what the engine and the limiter keep per job and per request stays bounded
however long they run (fake clocks: an hour of polling takes a moment)."""

from __future__ import annotations

import tracemalloc

import pytest
from simkit import SIM_CREDENTIALS, make_client, make_sim

from tui.api.clock import FakeClock
from tui.api.ratelimit import RateLimiter
from tui.core.engine import Poller
from tui.core.jobstate import MAX_HISTORY

pytestmark = pytest.mark.anyio


async def test_a_job_whose_state_flaps_for_days_keeps_a_bounded_timeline_ending_with_the_latest():
    clock = FakeClock()
    sim = make_sim(clock)
    job = sim.create_job(init_seconds=0, run_seconds=1e9)
    client = make_client(sim, clock, credentials=SIM_CREDENTIALS)
    poller = Poller(client, clock=clock, min_interval=0.0)
    async with client:
        poller.add(job)
        for n in range(8 * MAX_HISTORY):
            sim.set_fate(job, init_seconds=1e9 if n % 2 else 0)  # JobRunning, JobInit, JobRunning, ...
            clock.advance(30)
            await poller.poll_job(job)
        record = poller.records[job]
    assert record.poll_count == 8 * MAX_HISTORY
    assert len(record.history) == MAX_HISTORY
    assert record.history[-1].to_code == record.status_code == "JobInit"
    assert record.history[-1].at == record.last_change
    assert [t.at for t in record.history] == sorted(t.at for t in record.history)


async def test_a_job_polled_thousands_of_times_without_a_change_keeps_one_transition_and_one_answer():
    clock = FakeClock()
    sim = make_sim(clock)
    job = sim.create_job(init_seconds=0, run_seconds=1e9)
    client = make_client(sim, clock, credentials=SIM_CREDENTIALS)
    poller = Poller(client, clock=clock, min_interval=0.0)
    async with client:
        poller.add(job)
        for _ in range(500):
            clock.advance(16)
            await poller.poll_job(job)
        record = poller.records[job]
    assert [t.to_code for t in record.history] == ["JobRunning"]
    assert set(record.last_response) == {"JobId", "StatusCode", "StatusMsg", "ResultVideoUrl", "RequestId"}


def test_the_limiters_record_of_starts_stays_bounded_when_nobody_reads_the_rate():
    clock = FakeClock()
    limiter = RateLimiter(19, clock=clock)

    def run(starts: int) -> None:
        for _ in range(starts):
            clock.advance(1 / 19)
            limiter.record_start(clock.monotonic())

    tracemalloc.start()
    try:
        run(19 * 120)  # two minutes to fill what it keeps
        before = tracemalloc.get_traced_memory()[0]
        run(19 * 3600)  # an hour more, at the full rate, as `check -` over 70,000 ids would
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 16_000, f"{grown} bytes kept for an hour of starts"
    assert limiter.measured_rate() == pytest.approx(19, abs=0.5)  # and the rate still reads right
