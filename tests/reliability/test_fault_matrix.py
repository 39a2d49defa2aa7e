"""The fault matrix: each fault the service or the network can throw at the monitor, run through the
polling engine, with what the user sees while it lasts and what is kept, and recovery once it clears.

Every row runs one scenario: three jobs are watched (two unfinished, one finished) and polled to a
known state; the fault is switched on and the engine runs on; the fault is switched off and the
engine runs on again, with nobody touching it. Rows on the in-process simulator run on a fake clock
(minutes of backoff pass instantly); rows that need a real socket run on loopback with the real
clock and short timeouts. The scenario is run once per row and its outcome shared by the tests.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import logging
import random
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from relkit import SIM_CREDENTIALS, GatewayFront, SimulatorFront, SkewedClock, in_process

from tui.api.client import VclmClient
from tui.api.clock import SYSTEM_CLOCK, FakeClock
from tui.api.ratelimit import RateLimiter, RateSnapshot
from tui.api.retry import Backoff, RetryPolicy
from tui.core.engine import Poller
from tui.core.events import EngineEvent, HealthChanged, PollFailed, RateChanged
from tui.core.hints import hint_for
from tui.core.jobstate import STATE_UNKNOWN, JobRecord
from tui.core.watchlist import WatchlistStore
from tui.simulator.faults import Faults
from tui.simulator.service import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, Simulator

FAKE_SECONDS = 3600.0  # how much simulated time a phase may take before it counts as stuck
REAL_SECONDS = 8.0  # how much real time a phase may take (loopback rows)
SETTLE_SECONDS = 60.0  # fake seconds the engine runs on after recovery (in-process rows)
FAULT_REQUESTS = 8  # requests the engine makes into the fault before we look
PROBES = 3  # polls made under the banner before we look


# -- the rigs: the engine in front of the simulator, in-process or over loopback -------------------

class ProbeWatch:
    """The client as the engine sees it, noting how many polls started under the banner are in flight."""

    def __init__(self, client: VclmClient) -> None:
        self.client = client
        self.limiter = client.limiter
        self.poller: Poller | None = None
        self.in_flight = 0
        self.starts: list[int] = []  # for each poll started under the banner: such polls in flight

    async def describe_job(self, job_id: str, *, admitted: bool = False):
        under_banner = self.poller.problem is not None
        if under_banner:
            self.in_flight += 1
            self.starts.append(self.in_flight)
        try:
            return await self.client.describe_job(job_id, admitted=admitted)
        finally:
            if under_banner:
                self.in_flight -= 1


class Rig:
    """The engine, its client, the simulator and (for loopback rows) the server between them."""

    def __init__(self, front: str) -> None:
        self.front_kind = front
        self.fake = front == "in-process"
        self.clock = FakeClock() if self.fake else SYSTEM_CLOCK
        self.client_clock = SkewedClock(self.clock)
        self.sim = Simulator(seed=7, clock=self.clock, faults=Faults(stall_seconds=30.0 if self.fake else 0.6))
        self.front: SimulatorFront | GatewayFront | None = None
        if front == "loopback":
            self.front = SimulatorFront(self.sim)
        elif front == "gateway":
            self.front = GatewayFront(self.sim)
        self.events: list[EngineEvent] = []
        self.poller: Poller | None = None
        self.client: VclmClient | None = None
        self.watch: ProbeWatch | None = None
        self._task: asyncio.Task | None = None

    async def __aenter__(self) -> Rig:
        if self.fake:
            transport = in_process(self.sim)
            endpoint, retry = "http://127.0.0.1:9", RetryPolicy(attempts=4, rng=random.Random(3))
            timeouts = {"read_timeout": 10.0}
            poller_options = {"min_interval": 2.0}
        else:
            await self.front.start()
            transport, endpoint = None, self.front.url
            retry = RetryPolicy(attempts=2, base=0.01, cap=0.02, rng=random.Random(3))
            timeouts = {"read_timeout": 0.3, "connect_timeout": 0.5}
            quick = Backoff(0.05, 0.2)
            poller_options = {"min_interval": 0.05, "error_backoff": quick, "probe_backoff": quick}
        self.client = VclmClient(
            SIM_CREDENTIALS, "ap-guangzhou", endpoint, limiter=RateLimiter(19.0, clock=self.clock),
            retry=retry, transport=transport, clock=self.client_clock, **timeouts,
        )
        self.watch = ProbeWatch(self.client)
        self.poller = self.watch.poller = Poller(self.watch, clock=self.clock, **poller_options)
        self.poller.subscribe(self.events.append)
        self._task = asyncio.create_task(self.poller.run())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.poller.stop()
        await asyncio.wait_for(self._task, REAL_SECONDS)
        await self.client.aclose()
        if self.front is not None:
            await self.front.stop()

    @property
    def engine_crashed(self) -> BaseException | None:
        return self._task.exception() if self._task.done() else None

    async def until(self, condition: Callable[[], bool]) -> bool:
        """Let the engine run on its own until `condition` holds (True) or the phase limit passes."""
        start = self.clock.monotonic()
        limit = FAKE_SECONDS if self.fake else REAL_SECONDS
        reached = asyncio.Event()

        def check(_event: EngineEvent | None = None) -> None:
            if condition() or self.clock.monotonic() - start > limit or self._task.done():
                reached.set()

        unsubscribe = self.poller.subscribe(check)
        check()
        try:
            await asyncio.wait_for(reached.wait(), REAL_SECONDS)
        except TimeoutError:
            pass
        finally:
            unsubscribe()
        return condition()


# -- the table -----------------------------------------------------------------------------------

Action = Callable[[Rig], Awaitable[None] | None]


def set_faults(**values: float) -> Action:
    def act(rig: Rig) -> None:
        for name, value in values.items():
            setattr(rig.sim.faults, name, value)
    return act


def clear_faults(rig: Rig) -> None:
    rig.sim.faults.clear()


def set_mode(mode: str | None) -> Action:
    def act(rig: Rig) -> None:
        rig.front.mode = mode
    return act


def skew_client_clock(seconds: float) -> Action:
    def act(rig: Rig) -> None:
        rig.client_clock.skew = seconds
    return act


def revoke(rig: Rig) -> None:
    rig.sim.revoke_account(DEFAULT_SECRET_ID)


def reinstate(rig: Rig) -> None:
    rig.sim.add_account(DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY)


async def endpoint_down(rig: Rig) -> None:
    await rig.front.stop()


async def endpoint_up(rig: Rig) -> None:
    await rig.front.start()


@dataclass(frozen=True)
class Fault:
    name: str
    front: str  # "in-process" (fake clock), "loopback" (the project's server), "gateway" (stdlib server)
    inject: Action
    clear: Action
    code: str | None  # what a job polled during the fault shows as its last error (None: no error)
    problem: str | None  # the every-job banner raised ("network", "auth") or None
    known_before: bool = True  # False: the fault is there from the start, before any answer

    def __str__(self) -> str:
        return self.name


FAULTS = [
    Fault("latency spike", "in-process", set_faults(latency=4.0), clear_faults, None, None),
    Fault("timeout", "in-process", set_faults(p_stall=1.0), clear_faults, "Transport.timeout", "network"),
    Fault("timeout on a real socket", "loopback", set_faults(p_stall=1.0), clear_faults, "Transport.timeout", "network"),
    Fault("connection reset", "in-process", set_faults(p_drop=1.0), clear_faults, "Transport.reset", "network"),
    Fault("connection reset on a real socket", "loopback", set_faults(p_drop=1.0), clear_faults,
          "Transport.reset", "network"),
    Fault("connection refused from the start", "loopback", endpoint_down, endpoint_up, "Transport.connect", "network",
          known_before=False),
    Fault("endpoint disappears and comes back", "loopback", endpoint_down, endpoint_up, "Transport.connect", "network"),
    Fault("HTTP 502 with an HTML body", "in-process", set_faults(p_http_502=1.0), clear_faults,
          "Transport.http_status", "network"),
    Fault("malformed JSON", "in-process", set_faults(p_malformed_json=1.0), clear_faults, "Transport.not_json", "network"),
    Fault("a body without Response", "gateway", set_mode("no_response"), set_mode(None),
          "Transport.no_response", "network"),
    Fault("an oversized answer", "gateway", set_mode("too_large"), set_mode(None), "Transport.too_large", "network"),
    Fault("an unknown StatusCode", "in-process", set_faults(p_unknown_status=1.0), clear_faults, None, None),
    Fault("InnerError burst shorter than the retries", "in-process",
          lambda rig: rig.sim.faults.fail_next("inner_error", 3), clear_faults, None, None),
    Fault("InnerError burst", "in-process", set_faults(p_inner_error=1.0), clear_faults,
          "FailedOperation.InnerError", None),
    Fault("InternalError burst", "in-process", set_faults(p_internal_error=1.0), clear_faults, "InternalError", None),
    Fault("RequestLimitExceeded storm", "in-process", set_faults(p_rate_limit=1.0), clear_faults,
          "RequestLimitExceeded", None),
    Fault("clock skewed by 10 minutes", "in-process", skew_client_clock(600.0), skew_client_clock(0.0),
          "AuthFailure.SignatureExpire", "auth"),
    Fault("credentials revoked mid-run", "in-process", revoke, reinstate, "AuthFailure.SecretIdNotFound", "auth"),
]
BY_NAME = {fault.name: fault for fault in FAULTS}
FAILING = [f for f in FAULTS if f.code is not None]
HARMLESS = [f for f in FAULTS if f.code is None]
EVERY_JOB = [f for f in FAULTS if f.problem is not None]
ONE_JOB = [f for f in FAULTS if f.code is not None and f.problem is None]


# -- one run of the scenario ---------------------------------------------------------------------

@dataclass
class Outcome:
    good: dict[str, JobRecord]  # every record once polled before the fault (empty if known_before=False)
    during: dict[str, JobRecord]  # every record after the engine ran into the fault
    after: dict[str, JobRecord]  # every record after the fault cleared and the engine ran on
    active: list[str]  # the unfinished jobs
    finished: str  # the finished job
    fault_seen: bool  # the engine reached the fault phase's goal (code and banner as expected)
    recovered: bool  # every unfinished job answered again, cleanly, after the fault cleared
    problem_during: str | None
    problem_after: str | None
    events_during: list[EngineEvent]
    events_after: list[EngineEvent]
    clear_time: float
    reloaded: list[JobRecord]  # the watchlist saved during the fault, read back by a new store
    log_errors: list[logging.LogRecord]
    crashed: BaseException | None
    probes: list[int] = field(default_factory=list)  # per poll started under the banner: such polls in flight
    latency_after: dict[str, float | None] = field(default_factory=dict)
    settled_rate: RateSnapshot | None = None  # the limiter a minute after recovery (in-process rows)


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _snapshot(poller: Poller) -> dict[str, JobRecord]:
    return {job_id: copy.deepcopy(record) for job_id, record in poller.records.items()}


async def _scenario(fault: Fault, workdir: Path) -> Outcome:
    handler = _Collect()
    logging.getLogger("tui").addHandler(handler)
    try:
        async with Rig(fault.front) as rig:
            sim, poller = rig.sim, rig.poller
            active = [sim.create_job(init_seconds=1e7), sim.create_job(init_seconds=0, run_seconds=1e7)]
            finished = sim.create_job(fate="JobSuccess", init_seconds=0, run_seconds=0)
            records = lambda ids: [poller.records[job_id] for job_id in ids]  # noqa: E731

            good: dict[str, JobRecord] = {}
            if not fault.known_before:
                await _act(fault.inject, rig)
            for job_id in (*active, finished):
                poller.add(job_id, label=f"label of {job_id[:6]}")
            if fault.known_before:
                assert await rig.until(lambda: all(r.poll_count and not r.failing for r in poller.records.values()))
                good = _snapshot(poller)
                await _act(fault.inject, rig)

            mark = rig.client.requests_sent
            first_event = len(rig.events)

            def fault_goal() -> bool:
                if rig.client.requests_sent - mark < FAULT_REQUESTS:
                    return False
                if fault.problem is not None and (poller.problem != fault.problem or len(rig.watch.starts) < PROBES):
                    return False  # see the banner up, and the engine probe a few times under it
                if fault.code is not None:
                    return any(r.last_error is not None and r.last_error.code == fault.code for r in records(active))
                return True

            fault_seen = await rig.until(fault_goal)
            during = _snapshot(poller)
            problem_during = poller.problem
            events_during = rig.events[first_event:]
            probes = list(rig.watch.starts)
            store_path = workdir / "watchlist.toml"
            WatchlistStore(store_path).save([during[job_id] for job_id in during])
            reloaded = WatchlistStore(store_path).load()

            await _act(fault.clear, rig)
            clear_time = rig.clock.time()
            after_event = len(rig.events)
            recovered = await rig.until(lambda: poller.problem is None and all(
                r.last_polled is not None and r.last_polled > clear_time and not r.failing for r in records(active))
                and poller.records[finished].status_code is not None)  # asked once, if it never was
            after = _snapshot(poller)
            settled_rate = None
            if rig.fake:
                settle_from = rig.clock.monotonic()
                await rig.until(lambda: rig.clock.monotonic() - settle_from >= SETTLE_SECONDS)
                settled_rate = rig.client.limiter.snapshot()
            outcome = Outcome(
                good=good, during=during, after=after, active=active, finished=finished, fault_seen=fault_seen,
                recovered=recovered, problem_during=problem_during, problem_after=poller.problem,
                events_during=events_during, events_after=rig.events[after_event:], clear_time=clear_time,
                reloaded=reloaded, log_errors=[], crashed=None, probes=probes,
                latency_after={job_id: after[job_id].last_latency for job_id in active}, settled_rate=settled_rate,
            )
        outcome.crashed = rig.engine_crashed
    finally:
        logging.getLogger("tui").removeHandler(handler)
    outcome.log_errors = handler.records
    return outcome


async def _act(action: Action, rig: Rig) -> None:
    result = action(rig)
    if asyncio.iscoroutine(result):
        await result


@functools.cache
def outcome_of(name: str) -> Outcome:
    with tempfile.TemporaryDirectory() as workdir:
        return asyncio.run(_scenario(BY_NAME[name], Path(workdir)))


def each(faults: list[Fault]):
    return pytest.mark.parametrize("fault", faults, ids=str)


# -- every row: no crash, no lost job, the last known state kept and marked, recovery ------------

@each(FAULTS)
def test_the_engine_neither_crashes_nor_logs_an_unexpected_error(fault: Fault) -> None:
    outcome = outcome_of(fault.name)
    assert outcome.crashed is None
    assert [r.getMessage() for r in outcome.log_errors] == []


@each(FAULTS)
def test_the_engine_reaches_the_fault_as_described(fault: Fault) -> None:
    assert outcome_of(fault.name).fault_seen


@each(FAULTS)
def test_no_job_is_lost_during_the_fault_or_after(fault: Fault) -> None:
    outcome = outcome_of(fault.name)
    watched = {*outcome.active, outcome.finished}
    assert set(outcome.during) == watched
    assert set(outcome.after) == watched
    assert {r.job_id for r in outcome.reloaded} == watched


@each([f for f in FAILING if f.known_before])
def test_a_failing_job_keeps_its_last_known_state(fault: Fault) -> None:
    outcome = outcome_of(fault.name)
    for job_id in outcome.active:
        assert outcome.during[job_id].status_code == outcome.good[job_id].status_code
        assert outcome.during[job_id].status_msg == outcome.good[job_id].status_msg


@each(FAILING)
def test_a_job_polled_during_the_fault_is_marked_failing_with_the_fault_code(fault: Fault) -> None:
    outcome = outcome_of(fault.name)
    polled = [outcome.during[j] for j in outcome.active if outcome.during[j].failing]
    assert polled, "no job was marked failing"
    assert {r.last_error.code for r in polled} == {fault.code}


@each(HARMLESS)
def test_a_fault_the_engine_absorbs_marks_nothing_failing(fault: Fault) -> None:
    outcome = outcome_of(fault.name)
    assert not any(outcome.during[j].failing for j in outcome.active)
    assert not [e for e in outcome.events_during if isinstance(e, PollFailed)]


@each(FAULTS)
def test_the_finished_job_is_left_as_it_was(fault: Fault) -> None:
    outcome = outcome_of(fault.name)
    done = outcome.after[outcome.finished]
    assert done.status_code == "JobSuccess"
    assert done.result_video_url
    assert not done.failing


@each(FAILING)
def test_the_watchlist_saved_during_the_fault_keeps_the_state_and_the_error(fault: Fault) -> None:
    outcome = outcome_of(fault.name)
    reloaded = {r.job_id: r for r in outcome.reloaded}
    for job_id, record in outcome.during.items():
        assert reloaded[job_id].status_code == record.status_code
        assert reloaded[job_id].label == record.label
        assert (reloaded[job_id].last_error and reloaded[job_id].last_error.code) == \
               (record.last_error and record.last_error.code)


@each(EVERY_JOB)
def test_a_fault_hitting_every_job_raises_the_banner(fault: Fault) -> None:
    outcome = outcome_of(fault.name)
    assert outcome.problem_during == fault.problem
    raised = [e for e in outcome.events_during if isinstance(e, HealthChanged) and e.problem is not None]
    assert raised and raised[-1].problem == fault.problem
    assert fault.code.split(".")[-1] in raised[-1].detail or fault.code.startswith("Transport.")


@each(ONE_JOB + HARMLESS)
def test_a_fault_the_service_answers_per_job_raises_no_banner(fault: Fault) -> None:
    outcome = outcome_of(fault.name)
    assert outcome.problem_during is None
    assert not [e for e in outcome.events_during if isinstance(e, HealthChanged)]


@each(FAULTS)
def test_polling_resumes_by_itself_when_the_fault_clears(fault: Fault) -> None:
    outcome = outcome_of(fault.name)
    assert outcome.recovered
    for job_id in outcome.active:
        record = outcome.after[job_id]
        assert record.last_error is None
        assert record.status_code in ("JobInit", "JobRunning")
        assert record.last_polled > outcome.clear_time


@each(EVERY_JOB)
def test_the_banner_clears_by_itself_when_the_fault_clears(fault: Fault) -> None:
    outcome = outcome_of(fault.name)
    assert outcome.problem_after is None
    cleared = [e for e in outcome.events_after if isinstance(e, HealthChanged)]
    assert cleared and cleared[-1].problem is None


# -- what particular rows show -------------------------------------------------------------------

@each(EVERY_JOB)
def test_while_every_job_fails_the_engine_polls_one_probe_at_a_time(fault: Fault) -> None:
    probes = outcome_of(fault.name).probes
    assert len(probes) >= 2, "the engine stopped probing under the banner"
    assert max(probes) == 1


def test_a_latency_spike_is_measured_and_is_not_an_error() -> None:
    outcome = outcome_of("latency spike")
    for job_id in outcome.active:
        assert outcome.during[job_id].last_latency >= 4.0
        assert outcome.latency_after[job_id] < 4.0


def test_an_unknown_status_code_is_shown_as_is() -> None:
    outcome = outcome_of("an unknown StatusCode")
    for job_id in outcome.active:
        record = outcome.during[job_id]
        assert record.status_code == "JobQueued"
        assert record.status_msg == "排队中"
        assert record.known_state == STATE_UNKNOWN
        assert not record.terminal


def test_a_rate_limit_storm_cuts_the_rate_and_the_rate_recovers() -> None:
    outcome = outcome_of("RequestLimitExceeded storm")
    rates = [e.snapshot for e in outcome.events_during if isinstance(e, RateChanged)]
    assert any(s.cut_back and s.rate < s.target for s in rates)
    assert outcome.settled_rate is not None and not outcome.settled_rate.cut_back
    assert outcome.settled_rate.rate == outcome.settled_rate.target


def test_signature_expire_from_a_skewed_clock_names_the_code_and_the_hint_says_to_check_the_clock() -> None:
    outcome = outcome_of("clock skewed by 10 minutes")
    raised = [e for e in outcome.events_during if isinstance(e, HealthChanged) and e.problem == "auth"]
    assert raised[-1].error.code == "AuthFailure.SignatureExpire"
    assert "clock" in hint_for(raised[-1].error.code).lower()


def test_revoked_credentials_name_the_code_in_the_banner() -> None:
    outcome = outcome_of("credentials revoked mid-run")
    raised = [e for e in outcome.events_during if isinstance(e, HealthChanged) and e.problem == "auth"]
    assert "AuthFailure.SecretIdNotFound" in raised[-1].detail


def test_a_502_from_a_gateway_names_its_status_in_the_banner_and_leaves_its_page_to_the_row() -> None:
    outcome = outcome_of("HTTP 502 with an HTML body")
    raised = [e for e in outcome.events_during if isinstance(e, HealthChanged) and e.problem == "network"]
    assert len(raised) == 1, "one outage, announced once"
    assert raised[0].detail == "the endpoint answered HTTP 502 Bad Gateway"
    for job_id in outcome.active:
        assert "<title>502 Bad Gateway</title>" in outcome.during[job_id].last_error.excerpt


def test_connection_refused_from_the_start_leaves_jobs_pending_until_the_endpoint_answers() -> None:
    outcome = outcome_of("connection refused from the start")
    for job_id in outcome.active:
        assert outcome.during[job_id].status_code is None
        assert outcome.after[job_id].status_code in ("JobInit", "JobRunning")


# -- the engine stopped in the middle of a poll ---------------------------------------------------

async def _stop_mid_poll_then_run_again() -> tuple[set[str], list[int]]:
    clock = FakeClock()
    sim = Simulator(seed=7, clock=clock, faults=Faults(latency=1.0))  # every poll takes a second
    client = VclmClient(SIM_CREDENTIALS, "ap-guangzhou", "http://127.0.0.1:9", limiter=RateLimiter(19.0, clock=clock),
                        transport=in_process(sim), clock=clock)
    poller = Poller(client, clock=clock)
    async with client:
        for _ in range(3):
            poller.add(sim.create_job(init_seconds=1e7))
        await poller.run_until(lambda: client.requests_sent >= 1)  # stops with polls in flight or about to be
        stuck = set(poller._in_flight)
        await poller.run_until(lambda: all(r.poll_count for r in poller.records.values()), timeout=60)
    return stuck, [r.poll_count for r in poller.records.values()]


def test_a_poll_cut_short_by_stopping_the_engine_is_asked_again_when_it_runs_again() -> None:
    stuck, poll_counts = asyncio.run(_stop_mid_poll_then_run_again())
    assert stuck == set()
    assert all(count >= 1 for count in poll_counts)


# -- what `vclm-watch check` answers under each fault ---------------------------------------------

EXIT_FAULTS = [f for f in FAULTS if f.front == "in-process"]


async def _check_under(fault: Fault, *, wait: bool):
    from types import SimpleNamespace

    from tui.headless.check import check_jobs

    clock = FakeClock()
    client_clock = SkewedClock(clock)
    sim = Simulator(seed=7, clock=clock, faults=Faults())
    running = sim.create_job(fate="JobSuccess", init_seconds=0, run_seconds=600)
    done = sim.create_job(fate="JobSuccess", init_seconds=0, run_seconds=0)
    client = VclmClient(SIM_CREDENTIALS, "ap-guangzhou", "http://127.0.0.1:9", limiter=RateLimiter(19.0, clock=clock),
                        retry=RetryPolicy(attempts=4, rng=random.Random(3)), transport=in_process(sim),
                        clock=client_clock)
    rig = SimpleNamespace(sim=sim, client_clock=client_clock)
    await _act(fault.inject, rig)
    if wait:  # the fault clears by itself a minute into the wait
        clock_start = clock.monotonic()
        original_sleep = clock.sleep

        async def sleep(seconds: float) -> None:
            await original_sleep(seconds)
            if clock.monotonic() - clock_start > 60:
                await _act(fault.clear, rig)

        clock.sleep = sleep  # type: ignore[method-assign]
    async with client:
        # No deadline on the fake clock: the engine would sleep to it at once while a request is out.
        return await asyncio.wait_for(check_jobs(client, [running, done], wait=wait, clock=clock), REAL_SECONDS)


@each(EXIT_FAULTS)
def test_check_exits_3_when_the_fault_left_a_job_unqueryable_else_4_for_one_still_running(fault: Fault) -> None:
    from tui.headless.check import Verdict

    result = asyncio.run(_check_under(fault, wait=False))
    assert result.verdict == (Verdict.UNQUERYABLE if fault.code else Verdict.PENDING)


@each([f for f in EXIT_FAULTS if f.problem != "auth"])
def test_check_wait_rides_out_a_fault_that_clears_and_exits_0(fault: Fault) -> None:
    from tui.headless.check import Verdict

    result = asyncio.run(_check_under(fault, wait=True))
    assert result.verdict == Verdict.SUCCESS
    assert [r.status_code for r in result.records] == ["JobSuccess", "JobSuccess"]


@each([f for f in EXIT_FAULTS if f.problem == "auth"])
def test_check_wait_stops_at_once_on_refused_credentials_and_exits_3(fault: Fault) -> None:
    from tui.headless.check import Verdict

    result = asyncio.run(_check_under(fault, wait=True))
    assert result.verdict == Verdict.UNQUERYABLE
    assert result.aborted_by is not None and result.aborted_by.code == fault.code
