"""The client against the project's simulator: answers, headers, each failure kind, retries."""

from __future__ import annotations

import socket

import pytest
from simkit import SIM_CREDENTIALS, RecordingTransport, make_client, make_sim

from tui.api.client import VclmClient
from tui.api.clock import FakeClock
from tui.api.credentials import Credentials
from tui.api.errors import ApiError, TransportError
from tui.api.ratelimit import RateLimiter
from tui.api.retry import RetryPolicy
from tui.api.signing import parse_authorization

pytestmark = pytest.mark.anyio


async def test_describe_returns_every_field_and_latency():
    clock = FakeClock()
    sim = make_sim(clock)
    sim.faults.latency = 0.2
    job = sim.create_job(fate="JobSuccess", init_seconds=1, run_seconds=2)
    async with make_client(sim, clock) as client:
        status = await client.describe_job(job)
    assert status.job_id == job
    assert status.status_code == "JobInit"
    assert status.status_msg == "初始化中"
    assert status.result_video_url == ""
    assert len(status.request_id) == 36
    assert status.latency == pytest.approx(0.2)


async def test_success_carries_the_result_url():
    clock = FakeClock()
    sim = make_sim(clock)
    job = sim.create_job(fate="JobSuccess", init_seconds=1, run_seconds=2)
    clock.advance(5)
    async with make_client(sim, clock) as client:
        status = await client.describe_job(job)
    assert status.status_code == "JobSuccess"
    assert status.result_video_url.startswith("https://")


async def test_headers_sent_are_signed_for_the_endpoint_host():
    clock = FakeClock()
    sim = make_sim(clock)
    job = sim.create_job()
    transport = RecordingTransport(sim)
    creds = Credentials(SIM_CREDENTIALS.secret_id, SIM_CREDENTIALS.secret_key, source="test")
    async with make_client(sim, clock, credentials=creds, transport=transport) as client:
        await client.describe_job(job)
    request = transport.requests[0]
    assert request.method == "POST"
    assert request.headers["host"] == "127.0.0.1:9"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-tc-action"] == "DescribeVideoStylizationJob"
    assert request.headers["x-tc-version"] == "2024-05-23"
    assert request.headers["x-tc-region"] == "ap-guangzhou"
    assert request.headers["x-tc-timestamp"] == str(int(clock.time()))
    assert "x-tc-token" not in request.headers
    assert parse_authorization(request.headers["authorization"]).secret_id == creds.secret_id
    assert request.content == f'{{"JobId": "{job}"}}'.encode()


async def test_token_is_sent_with_temporary_credentials():
    clock = FakeClock()
    sim = make_sim(clock)
    sim.add_account("AKIDtemporary", "temp-key", tokens=["sts-token-1"])
    job = sim.create_job()
    transport = RecordingTransport(sim)
    creds = Credentials("AKIDtemporary", "temp-key", "sts-token-1", source="test")
    async with make_client(sim, clock, credentials=creds, transport=transport) as client:
        status = await client.describe_job(job)
    assert status.status_code == "JobInit"
    assert transport.requests[0].headers["x-tc-token"] == "sts-token-1"


async def test_api_error_carries_code_message_and_request_id():
    clock = FakeClock()
    sim = make_sim(clock)
    async with make_client(sim, clock) as client:
        with pytest.raises(ApiError) as info:
            await client.describe_job("0" * 32)
    error = info.value
    assert error.code == "FailedOperation.TaskNotExist"
    assert error.message
    assert len(error.request_id) == 36


async def test_wrong_key_is_a_signature_failure_not_retried():
    clock = FakeClock()
    sim = make_sim(clock)
    creds = Credentials(SIM_CREDENTIALS.secret_id, "wrong-key", source="test")
    async with make_client(sim, clock, credentials=creds) as client:
        with pytest.raises(ApiError) as info:
            await client.describe_job(sim.create_job())
    assert info.value.code == "AuthFailure.SignatureFailure"
    assert sim.stats.requests == 1
    assert "wrong-key" not in str(info.value) and "wrong-key" not in repr(info.value)


async def test_skewed_clock_is_signature_expire():
    clock = FakeClock(skew=-600)
    sim = make_sim(FakeClock())
    async with make_client(sim, clock) as client:
        with pytest.raises(ApiError) as info:
            await client.describe_job(sim.create_job())
    assert info.value.code == "AuthFailure.SignatureExpire"


@pytest.mark.parametrize("fault, kind", [
    ("http_502", "http_status"),
    ("drop", "reset"),
    ("malformed_json", "not_json"),
    ("stall", "timeout"),
])
async def test_transport_faults_become_typed_transport_errors(fault, kind):
    clock = FakeClock()
    sim = make_sim(clock)
    job = sim.create_job()
    sim.faults.fail_next(fault, 10)
    async with make_client(sim, clock, attempts=1, read_timeout=2.0) as client:
        with pytest.raises(TransportError) as info:
            await client.describe_job(job)
    assert info.value.kind == kind
    if fault == "http_502":
        assert info.value.http_status == 502
        assert "Bad Gateway" in info.value.body_excerpt


async def test_connection_refused_is_a_transport_error():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound but not listening: connections are refused
        client = VclmClient(SIM_CREDENTIALS, "ap-guangzhou", f"http://127.0.0.1:{port}",
                            retry=RetryPolicy(attempts=1), connect_timeout=2.0)
        async with client:
            with pytest.raises(TransportError) as info:
                await client.describe_job("a" * 32)
    assert info.value.kind == "connect"


async def test_inner_errors_are_retried_until_success_with_backoff():
    clock = FakeClock()
    sim = make_sim(clock)
    job = sim.create_job(inner_errors=2)
    async with make_client(sim, clock) as client:
        status = await client.describe_job(job)
    assert status.status_code == "JobInit"
    assert sim.stats.requests == 3
    backoffs = [s for s in clock.sleeps if s > 0.06]  # not the limiter's 1/19 s pacing
    assert len(backoffs) <= 2


async def test_retries_give_up_after_the_bounded_attempts():
    clock = FakeClock()
    sim = make_sim(clock)
    job = sim.create_job()
    sim.faults.fail_next("internal_error", 10)
    async with make_client(sim, clock, attempts=3) as client:
        with pytest.raises(ApiError) as info:
            await client.describe_job(job)
    assert info.value.code == "InternalError"
    assert sim.stats.requests == 3


async def test_rate_limit_answer_halves_the_limiter_and_is_retried():
    clock = FakeClock()
    sim = make_sim(clock)
    job = sim.create_job()
    sim.faults.fail_next("rate_limit", 1)
    async with make_client(sim, clock) as client:
        status = await client.describe_job(job)
        assert client.limiter.cuts == 1
        assert client.limiter.snapshot().cut_back
    assert status.status_code == "JobInit"


async def test_every_attempt_passes_the_limiter():
    clock = FakeClock()
    sim = make_sim(clock, quota=20)
    job = sim.create_job()
    async with make_client(sim, clock, rate=20) as client:
        for _ in range(100):
            await client.describe_job(job)
    assert sim.stats.rate_limited == 0
    assert sim.stats.max_in_window(1.0) <= 20


async def test_submit_returns_a_job_id():
    clock = FakeClock()
    sim = make_sim(clock)
    async with make_client(sim, clock) as client:
        submitted = await client.submit_job("pixel_art", "https://media.example.invalid/in.mp4", "high")
    assert len(submitted.job_id) == 32
    assert submitted.job_id in sim.jobs


async def test_client_repr_has_no_secret():
    client = VclmClient(Credentials("AKIDx", "the-secret", "the-token"), "ap-guangzhou",
                        limiter=RateLimiter(clock=FakeClock()))
    try:
        assert "the-secret" not in repr(client) and "the-token" not in repr(client)
    finally:
        await client.aclose()


async def test_the_measured_rate_counts_every_attempt_retries_included():
    clock = FakeClock()
    sim = make_sim(clock)
    job = sim.create_job(inner_errors=2)
    async with make_client(sim, clock) as client:
        await client.describe_job(job)
        assert sim.stats.requests == 3
        assert client.limiter.measured_rate(span=60.0) == pytest.approx(3 / 60.0)
