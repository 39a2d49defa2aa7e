"""The polling engine: order, per-job backoff, terminal jobs, refresh-now, events, outages."""

from __future__ import annotations

import asyncio

import pytest
from simkit import SIM_CREDENTIALS, make_client, make_sim

from tui.api.clock import FakeClock
from tui.api.credentials import Credentials
from tui.api.retry import Backoff
from tui.core.engine import Poller
from tui.core.events import HealthChanged, JobUpdated, PollFailed, StateChanged
from tui.core.jobstate import JobRecord, LastError

pytestmark = pytest.mark.anyio


def make_poller(sim, clock, **kwargs):
    client = make_client(sim, clock, credentials=kwargs.pop("credentials", SIM_CREDENTIALS))
    return Poller(client, clock=clock, **kwargs), client


async def test_new_jobs_go_before_jobs_already_polled():
    clock = FakeClock()
    sim = make_sim(clock)
    old, new = sim.create_job(), sim.create_job()
    poller, client = make_poller(sim, clock, min_interval=0.0)
    async with client:
        poller.add(old)
        await poller.poll_job(old)
        clock.advance(10)
        poller.add(new)
        assert poller.next_due(clock.monotonic())[0] == new


async def test_the_job_polled_longest_ago_goes_next():
    clock = FakeClock()
    sim = make_sim(clock)
    jobs = [sim.create_job(init_seconds=100) for _ in range(3)]
    poller, client = make_poller(sim, clock, min_interval=1.0)
    async with client:
        for job in jobs:
            poller.add(job)
        for job in reversed(jobs):
            await poller.poll_job(job)
            clock.advance(0.1)
        clock.advance(5)
        assert poller.next_due(clock.monotonic())[0] == jobs[-1]


async def test_unfinished_job_is_not_due_before_min_interval():
    clock = FakeClock()
    sim = make_sim(clock)
    job = sim.create_job(init_seconds=100)
    poller, client = make_poller(sim, clock, min_interval=2.0)
    async with client:
        poller.add(job)
        await poller.poll_job(job)
        assert poller.next_due(clock.monotonic()) == (None, pytest.approx(clock.monotonic() + 2.0))


async def test_terminal_jobs_are_not_polled_again():
    clock = FakeClock()
    sim = make_sim(clock)
    job = sim.create_job(fate="JobFailed", init_seconds=0, run_seconds=0)
    clock.advance(1)
    poller, client = make_poller(sim, clock)
    async with client:
        record = poller.add(job)
        await poller.poll_job(job)
    assert record.status_code == "JobFailed"
    assert poller.next_due(clock.monotonic() + 3600) == (None, None)
    assert record.next_poll_at is None


async def test_unknown_job_backs_off_from_thirty_seconds_doubling_to_ten_minutes():
    clock = FakeClock()
    sim = make_sim(clock)
    missing = sim.phantom_job_id()
    other = sim.create_job(init_seconds=1000)
    poller, client = make_poller(sim, clock, min_interval=1.0)
    delays = []
    async with client:
        poller.add(missing)
        poller.add(other)
        for _ in range(7):
            await poller.poll_job(missing)
            _, due = poller.next_due(clock.monotonic())
            entry_due = poller._queue.entries[missing][1]
            delays.append(round(entry_due - clock.monotonic()))
        record = poller.records[missing]
        # the failing job does not hold up the others
        assert poller.next_due(clock.monotonic())[0] == other
    assert delays == [30, 60, 120, 240, 480, 600, 600]
    assert record.last_error.code == "FailedOperation.TaskNotExist"


async def test_refresh_now_jumps_the_queue_even_for_a_finished_job():
    clock = FakeClock()
    sim = make_sim(clock)
    done = sim.create_job(fate="JobSuccess", init_seconds=0, run_seconds=0)
    clock.advance(1)
    waiting = sim.create_job(init_seconds=1000)
    poller, client = make_poller(sim, clock, min_interval=0.0)
    async with client:
        poller.add(done)
        poller.add(waiting)
        await poller.poll_job(done)
        await poller.poll_job(waiting)
        clock.advance(1)
        assert poller.next_due(clock.monotonic())[0] == waiting
        poller.refresh(done)
        assert poller.next_due(clock.monotonic())[0] == done


async def test_refresh_all_skips_finished_jobs_but_takes_failing_ones():
    clock = FakeClock()
    sim = make_sim(clock)
    done = sim.create_job(fate="JobSuccess", init_seconds=0, run_seconds=0)
    clock.advance(1)
    running = sim.create_job(init_seconds=1000)
    poller, client = make_poller(sim, clock, min_interval=60.0)
    async with client:
        poller.add(done)
        poller.add(running)
        await poller.poll_job(done)
        await poller.poll_job(running)
        assert poller.refresh() == 1
        assert poller.next_due(clock.monotonic())[0] == running
        sim.faults.fail_next("internal_error", 10)
        await poller.poll_job(done)  # finished, but its last query failed
        assert poller.records[done].terminal and poller.records[done].failing
        assert poller.refresh() == 2


async def test_transitions_are_recorded_and_published():
    clock = FakeClock()
    sim = make_sim(clock)
    job = sim.create_job(fate="JobSuccess", init_seconds=2, run_seconds=10)
    poller, client = make_poller(sim, clock)
    events = []
    poller.subscribe(events.append)
    async with client:
        record = poller.add(job)
        for advance in (0, 5, 10):
            clock.advance(advance)
            await poller.poll_job(job)
    codes = [(t.from_code, t.to_code) for t in record.history]
    assert codes == [(None, "JobInit"), ("JobInit", "JobRunning"), ("JobRunning", "JobSuccess")]
    changes = [(e.from_code, e.to_code) for e in events if isinstance(e, StateChanged)]
    assert changes == codes
    assert record.poll_count == 3
    assert record.result_video_url and record.url_received_at == pytest.approx(clock.time())
    assert record.last_request_id and record.last_latency is not None


async def test_an_error_keeps_the_last_known_state():
    clock = FakeClock()
    sim = make_sim(clock)
    job = sim.create_job(init_seconds=1000)
    poller, client = make_poller(sim, clock)
    events = []
    poller.subscribe(events.append)
    async with client:
        record = poller.add(job)
        await poller.poll_job(job)
        sim.faults.fail_next("internal_error", 10)
        await poller.poll_job(job)
    assert record.status_code == "JobInit"
    assert record.failing and record.last_error.code == "InternalError"
    assert record.last_error.request_id
    assert any(isinstance(e, PollFailed) for e in events)


async def test_revoked_credentials_raise_a_global_problem_and_hold_polling():
    clock = FakeClock()
    sim = make_sim(clock)
    job = sim.create_job(init_seconds=1000)
    bad = Credentials("AKIDnobody", "nope", source="test")
    poller, client = make_poller(sim, clock, credentials=bad)
    events = []
    poller.subscribe(events.append)
    async with client:
        poller.add(job)
        await poller.poll_job(job)
    health = [e for e in events if isinstance(e, HealthChanged)]
    assert health and health[-1].problem == "auth"
    assert "SecretIdNotFound" in health[-1].detail
    assert poller._hold_until > clock.monotonic()


async def test_run_until_follows_jobs_to_their_ends_under_the_rate():
    clock = FakeClock()
    sim = make_sim(clock, quota=20)
    fates = ["JobSuccess", "JobFailed", "JobModerationFailed", "JobSuccess"]
    jobs = [sim.create_job(fate=f, init_seconds=2, run_seconds=5) for f in fates]
    poller, client = make_poller(sim, clock, min_interval=1.0)
    async with client:
        for job in jobs:
            poller.add(job)
        finished = await poller.run_until(lambda: all(r.terminal for r in poller.records.values()), timeout=120)
    assert finished
    assert [poller.records[j].status_code for j in jobs] == fates
    assert sim.stats.rate_limited == 0
    assert sim.stats.max_in_window(1.0) <= 20


async def test_paused_engine_sends_nothing():
    clock = FakeClock()
    sim = make_sim(clock)
    poller, client = make_poller(sim, clock)
    async with client:
        poller.add(sim.create_job())
        poller.pause()
        finished = await poller.run_until(lambda: sim.stats.requests > 0, timeout=30)
    assert not finished
    assert sim.stats.requests == 0


async def test_a_broken_subscriber_does_not_stop_polling():
    clock = FakeClock()
    sim = make_sim(clock)
    job = sim.create_job()
    poller, client = make_poller(sim, clock)

    def broken(event):
        raise RuntimeError("view bug")

    poller.subscribe(broken)
    seen = []
    poller.subscribe(seen.append)
    async with client:
        poller.add(job)
        await poller.poll_job(job)
    assert any(isinstance(e, JobUpdated) for e in seen)


def test_backoff_doubles_to_its_cap():
    backoff = Backoff(2.0, 10.0)
    assert [backoff.delay(n) for n in range(1, 6)] == [2.0, 4.0, 8.0, 10.0, 10.0]


async def test_a_job_removed_and_added_back_while_its_poll_is_out_is_polled_again():
    clock = FakeClock()
    sim = make_sim(clock)
    sim.faults.latency = 1.0  # the poll stays out across a turn of the loop
    job = sim.create_job(init_seconds=1000)
    poller, client = make_poller(sim, clock, min_interval=1.0)
    async with client:
        poller.add(job)
        earlier = asyncio.create_task(poller.poll_job(job))
        await asyncio.sleep(0)
        assert job in poller._in_flight
        poller.remove(job)
        record = poller.add(job)
        assert poller.next_due(clock.monotonic())[0] is None  # never two polls of one job at once
        await earlier
        assert record.poll_count == 0  # the earlier answer was for the removed record
        assert poller.next_due(clock.monotonic())[0] == job


async def test_an_answer_about_a_job_clears_an_auth_problem():
    clock = FakeClock()
    sim = make_sim(clock)
    job = sim.create_job(init_seconds=1000)
    poller, client = make_poller(sim, clock)
    events = []
    poller.subscribe(events.append)
    async with client:
        poller.add(job)
        sim.revoke_account(SIM_CREDENTIALS.secret_id)
        await poller.poll_job(job)
        assert poller.problem == "auth"
        sim.add_account(SIM_CREDENTIALS.secret_id, SIM_CREDENTIALS.secret_key)
        missing = sim.phantom_job_id()
        poller.add(missing)
        await poller.poll_job(missing)  # FailedOperation.TaskNotExist: the credentials work again
    assert poller.problem is None
    assert [e.problem for e in events if isinstance(e, HealthChanged)] == ["auth", None]


async def test_a_finished_job_whose_refresh_failed_is_retried_with_backoff_until_an_answer_clears_it():
    clock = FakeClock()
    sim = make_sim(clock)
    job = sim.create_job(fate="JobSuccess", init_seconds=0, run_seconds=0)
    clock.advance(1)
    poller, client = make_poller(sim, clock, error_backoff=Backoff(2.0, 120.0))
    async with client:
        record = poller.add(job)
        await poller.poll_job(job)
        sim.faults.fail_next("drop", 8)  # two refreshes' worth: 4 tries each
        poller.refresh(job)
        await poller.poll_job(job)
        assert record.failing and record.last_error.code == "Transport.reset"
        assert poller.next_due(clock.monotonic() + 2.0)[0] == job  # retried, after a backoff
        # no timeout: on a FakeClock the deadline's sleep would jump the clock past the retries
        await poller.run_until(lambda: not record.failing or record.poll_count >= 10)
    assert not record.failing and record.poll_count == 4 and record.status_code == "JobSuccess"
    assert poller.next_due(clock.monotonic() + 3600) == (None, None)  # and then left alone


async def test_a_finished_job_read_with_an_error_from_an_earlier_run_is_polled_again_once():
    clock = FakeClock()
    sim = make_sim(clock)
    job = sim.create_job(fate="JobSuccess", init_seconds=0, run_seconds=0)
    quiet = sim.create_job(fate="JobFailed", init_seconds=0, run_seconds=0)
    clock.advance(1)
    earlier = LastError("Transport.connect", "connection refused", None, clock.time() - 600)
    failing = JobRecord(job_id=job, status_code="JobSuccess", last_error=earlier, stale=True)
    finished = JobRecord(job_id=quiet, status_code="JobFailed", stale=True)
    poller, client = make_poller(sim, clock)
    async with client:
        poller.add(job, record=failing, from_file=True)
        poller.add(quiet, record=finished, from_file=True)
        assert poller.next_due(clock.monotonic()) == (job, clock.monotonic())
        cleared = await poller.run_until(lambda: not failing.failing, timeout=60)
    assert cleared and failing.status_code == "JobSuccess" and not failing.stale
    assert failing.poll_count == 1 and finished.poll_count == 0  # a finished job without an error is left alone
    assert poller.next_due(clock.monotonic() + 3600) == (None, None)


async def test_refreshing_one_job_while_paused_polls_it_now_and_only_it():
    clock = FakeClock()
    sim = make_sim(clock)
    jobs = [sim.create_job(init_seconds=1000) for _ in range(3)]
    poller, client = make_poller(sim, clock, min_interval=0.0)
    async with client:
        records = [poller.add(job) for job in jobs]
        poller.pause()
        poller.refresh(jobs[1])
        polled = await poller.run_until(lambda: records[1].poll_count > 0, timeout=30)
        assert polled and sim.stats.requests == 1
        assert [r.poll_count for r in records] == [0, 1, 0]  # the others wait for resume
        poller.resume()
        resumed = await poller.run_until(lambda: all(r.poll_count for r in records), timeout=30)
    assert resumed


def test_add_many_watches_each_new_job_once_with_one_event_and_polls_them():
    clock = FakeClock()
    poller = Poller(None, clock=clock)
    events: list = []
    poller.subscribe(events.append)
    poller.add("a" * 32)
    records = [JobRecord(job_id=c * 32) for c in "abc"] + [JobRecord(job_id="b" * 32)]
    added = poller.add_many(records, from_file=True)
    assert [r.job_id for r in added] == ["b" * 32, "c" * 32] and added[0] is records[1]  # (the first of each id)
    assert list(poller.records) == ["a" * 32, "b" * 32, "c" * 32]
    assert [type(e).__name__ for e in events] == ["JobAdded", "JobsAdded"]
    assert events[1].from_file and events[1].records == tuple(added)
    assert poller.add_many([JobRecord(job_id="c" * 32)]) == [] and len(events) == 2
    assert all(r.next_poll_at is not None for r in added)  # scheduled, as `add` schedules


async def test_a_gateway_outage_is_announced_once_though_every_502_page_differs():
    clock = FakeClock()
    sim = make_sim(clock)
    job = sim.create_job(init_seconds=1000)
    poller, client = make_poller(sim, clock, network_failures_for_outage=2)
    events = []
    poller.subscribe(events.append)
    async with client:
        poller.add(job)
        sim.faults.fail_next("http_502", 1000)  # every attempt, retries included
        for _ in range(5):
            await poller.poll_job(job)
            clock.advance(60)
    pages = {e.error.body_excerpt for e in events if isinstance(e, PollFailed)}
    assert len(pages) == 5, "each failure's page carries its own request id"
    health = [e for e in events if isinstance(e, HealthChanged)]
    assert [e.problem for e in health] == ["network"], "one outage, one announcement"
    assert health[0].detail == "the endpoint answered HTTP 502 Bad Gateway"
    assert poller.problem_detail == health[0].detail


async def test_an_auth_problem_is_announced_once_though_every_refusal_has_its_own_request_id():
    clock = FakeClock()
    sim = make_sim(clock)
    job = sim.create_job(init_seconds=1000)
    poller, client = make_poller(sim, clock)
    events = []
    poller.subscribe(events.append)
    async with client:
        poller.add(job)
        sim.revoke_account(SIM_CREDENTIALS.secret_id)
        for _ in range(3):
            await poller.poll_job(job)
            clock.advance(60)
    assert len({e.error.request_id for e in events if isinstance(e, PollFailed)}) == 3
    health = [e for e in events if isinstance(e, HealthChanged)]
    assert [e.problem for e in health] == ["auth"]
    assert health[0].detail.startswith("AuthFailure.SecretIdNotFound: ") and "RequestId" not in health[0].detail
