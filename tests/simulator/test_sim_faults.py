"""Each fault, by trigger and by probability, reaches the project client as the real thing would."""

from __future__ import annotations

import httpx
import pytest
from simtools import VIDEO_URL

from tui.api.clock import FakeClock
from tui.api.errors import ApiError, TransportError
from tui.api.models import DESCRIBE_ACTION
from tui.simulator.faults import FAULT_KINDS, Faults
from tui.simulator.service import Simulator
from tui.simulator.transport import SimulatorTransport

pytestmark = pytest.mark.anyio

# fault kind -> what the project client raises (exception type, its code)
FAULT_OUTCOMES = {
    "http_502": (TransportError, "Transport.http_status"),
    "drop": (TransportError, "Transport.reset"),
    "stall": (TransportError, "Transport.timeout"),
    "malformed_json": (TransportError, "Transport.not_json"),
    "inner_error": (ApiError, "FailedOperation.InnerError"),
    "internal_error": (ApiError, "InternalError"),
    "rate_limit": (ApiError, "RequestLimitExceeded"),
}
PROBABILITY_OF = {
    "http_502": "p_http_502", "drop": "p_drop", "stall": "p_stall", "malformed_json": "p_malformed_json",
    "inner_error": "p_inner_error", "internal_error": "p_internal_error", "rate_limit": "p_rate_limit",
    "unknown_status": "p_unknown_status",
}


async def outcome(client, job: str) -> str:
    try:
        return (await client.describe_job(job)).status_code
    except (ApiError, TransportError) as error:
        return error.code


@pytest.mark.parametrize(("kind", "expected"), FAULT_OUTCOMES.items(), ids=list(FAULT_OUTCOMES))
async def test_a_triggered_fault_reaches_the_client(sim, make_client, kind, expected):
    sim.faults.fail_next(kind)
    async with make_client(read_timeout=10.0) as client:
        with pytest.raises(expected[0]) as caught:
            await client.describe_job(sim.create_job())
    assert caught.value.code == expected[1]
    assert sim.stats.faults[kind] == 1


@pytest.mark.parametrize(("kind", "expected"), FAULT_OUTCOMES.items(), ids=list(FAULT_OUTCOMES))
async def test_a_certain_fault_hits_every_request(clock, make_client, kind, expected):
    sim = Simulator(seed=1, clock=clock, faults=Faults(**{PROBABILITY_OF[kind]: 1.0}))
    job = sim.create_job()
    async with make_client(simulator=sim) as client:
        codes = {await outcome(client, job) for _ in range(5)}
    assert codes == {expected[1]}


async def test_an_unknown_status_code_is_answered_as_is(sim, make_client):
    sim.faults.fail_next("unknown_status")
    async with make_client() as client:
        status = await client.describe_job(sim.create_job())
    assert (status.status_code, status.known, status.terminal) == ("JobQueued", False, False)


async def test_an_unknown_status_waits_for_a_describe_that_succeeds(sim, make_client):
    sim.faults.fail_next("unknown_status")
    async with make_client() as client:
        await client.submit_job("2d_anime", VIDEO_URL)
        with pytest.raises(ApiError):
            await client.describe_job(sim.phantom_job_id())
        assert sim.faults.pending("unknown_status") == 1
        status = await client.describe_job(sim.create_job())
    assert status.status_code == "JobQueued"


async def test_the_502_body_is_an_html_page(sim, make_client):
    sim.faults.fail_next("http_502")
    async with make_client() as client:
        with pytest.raises(TransportError) as caught:
            await client.describe_job(sim.create_job())
    assert caught.value.http_status == 502
    assert "<title>502 Bad Gateway</title>" in caught.value.body_excerpt


@pytest.mark.parametrize("n", [1, 3])
async def test_fail_next_hits_exactly_the_next_n_requests(sim, make_client, n):
    sim.faults.fail_next("internal_error", n)
    job = sim.create_job(init_seconds=100)
    async with make_client() as client:
        codes = [await outcome(client, job) for _ in range(n + 2)]
    assert codes == ["InternalError"] * n + ["JobInit"] * 2


async def test_client_retries_pass_through_transient_faults(sim, make_client):
    sim.faults.fail_next("inner_error", 1)
    sim.faults.fail_next("drop", 1)
    sim.faults.fail_next("http_502", 1)
    async with make_client(attempts=4) as client:
        status = await client.describe_job(sim.create_job(init_seconds=100))
    assert status.status_code == "JobInit"
    assert sim.stats.requests == 4


async def test_latency_before_and_after_delays_the_answer(clock, make_client):
    sim = Simulator(seed=1, clock=clock, faults=Faults(latency=0.25, latency_after=0.1))
    async with make_client(simulator=sim) as client:
        status = await client.describe_job(sim.create_job())
    assert status.latency == pytest.approx(0.35)


async def test_jitter_adds_a_varying_delay(clock, make_client):
    sim = Simulator(seed=1, clock=clock, faults=Faults(latency=0.1, jitter=0.5))
    job = sim.create_job()
    async with make_client(simulator=sim) as client:
        latencies = [(await client.describe_job(job)).latency for _ in range(10)]
    assert all(0.1 <= latency <= 0.6 for latency in latencies)
    assert len({round(latency, 9) for latency in latencies}) == 10


async def test_a_stall_shorter_than_the_timeout_only_delays_the_answer(clock, make_client):
    sim = Simulator(seed=1, clock=clock, faults=Faults(stall_seconds=2.0))
    sim.faults.fail_next("stall")
    async with make_client(simulator=sim, read_timeout=10.0) as client:
        status = await client.describe_job(sim.create_job())
    assert status.latency == pytest.approx(2.0)


async def test_a_stall_in_process_times_out_after_the_clients_read_timeout(sim, clock):
    sim.faults.fail_next("stall")
    started = clock.monotonic()
    async with httpx.AsyncClient(transport=SimulatorTransport(sim), timeout=httpx.Timeout(3.0)) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.post("http://127.0.0.1/", content=b"{}")
    assert clock.monotonic() - started == pytest.approx(3.0)


async def test_a_dropped_connection_in_process_is_a_remote_protocol_error(sim):
    sim.faults.fail_next("drop")
    async with httpx.AsyncClient(transport=SimulatorTransport(sim)) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.post("http://127.0.0.1/", content=b"{}")


async def test_rate_limit_storms_make_the_client_slow_down(sim, make_client):
    sim.faults.fail_next("rate_limit", 1)
    async with make_client(attempts=3) as client:
        await client.describe_job(sim.create_job())
        cuts = client.limiter.cuts
    assert cuts == 1
    assert sim.stats.rate_limited == 1 and sim.stats.quota_rejections == 0


async def test_seeded_faults_repeat_exactly(make_client):
    async def run(seed):
        clock = FakeClock()
        sim = Simulator(seed=seed, clock=clock, faults=Faults(p_inner_error=0.2, p_http_502=0.1, p_malformed_json=0.1))
        job = sim.create_job(init_seconds=1000)
        async with make_client(simulator=sim, client_clock=clock) as client:
            return [await outcome(client, job) for _ in range(60)]

    first, again = await run(21), await run(21)
    assert first == again
    assert 5 <= first.count("FailedOperation.InnerError") <= 25
    assert first.count("JobInit") >= 20


def test_turning_a_fault_on_does_not_change_job_ids(clock):
    plain = Simulator(seed=8, clock=clock)
    faulty = Simulator(seed=8, clock=clock, faults=Faults(p_drop=0.5, latency=0.1, jitter=0.2))
    assert [plain.create_job() for _ in range(5)] == [faulty.create_job() for _ in range(5)]


async def test_gateway_faults_strike_before_authentication(sim, raw_call):
    sim.faults.fail_next("http_502")
    answer = await sim.handle("POST", "/", {"Authorization": "garbage"}, b"{}")
    assert (answer.status, answer.fault) == (502, "http_502")


async def test_service_faults_strike_only_authenticated_requests(sim, raw_call):
    sim.faults.fail_next("inner_error")
    refused = await raw_call({"JobId": sim.create_job()}, secret_key="wrong")
    assert refused["Error"]["Code"] == "AuthFailure.SignatureFailure"
    assert sim.faults.pending("inner_error") == 1


@pytest.mark.parametrize(
    "kwargs",
    [{"p_drop": 1.5}, {"p_inner_error": -0.1}, {"latency": -1.0}, {"p_http_502": 0.6, "p_drop": 0.6},
     {"p_stall": 0.5, "p_malformed_json": 0.3, "p_unknown_status": 0.3}],
)
def test_impossible_fault_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        Faults(**kwargs)


def test_fail_next_refuses_an_unknown_fault():
    with pytest.raises(ValueError):
        Faults().fail_next("meteor_strike")


def test_every_fault_kind_has_a_probability_field():
    assert set(PROBABILITY_OF) == set(FAULT_KINDS)
    assert all(hasattr(Faults(), name) for name in PROBABILITY_OF.values())


def test_clear_forgets_triggers_and_probabilities():
    faults = Faults(p_drop=0.3, latency=0.2)
    faults.fail_next("stall", 2)
    faults.clear()
    assert (faults.pending(), faults.p_drop, faults.latency) == (0, 0.0, 0.0)


async def test_unsigned_garbage_is_still_counted_by_the_stats(sim):
    await sim.handle("POST", "/", {"X-TC-Action": DESCRIBE_ACTION}, b"")
    assert sim.stats.requests == 1
    assert sim.stats.errors["AuthFailure.InvalidAuthorization"] == 1
