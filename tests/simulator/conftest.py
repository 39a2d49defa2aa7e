"""Fixtures of the simulator's tests: a fake clock, a seeded simulator, the project client on it."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from simtools import HOST, REGION, SIM_CREDENTIALS

from tui.api.client import VclmClient
from tui.api.clock import Clock, FakeClock
from tui.api.credentials import Credentials
from tui.api.models import API_VERSION, DESCRIBE_ACTION
from tui.api.ratelimit import RateLimiter
from tui.api.retry import RetryPolicy
from tui.api.signing import signed_headers
from tui.simulator.service import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, Simulator
from tui.simulator.transport import SimulatorTransport


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim(clock: FakeClock) -> Simulator:
    return Simulator(seed=1, clock=clock)


@pytest.fixture
def make_client(sim: Simulator, clock: FakeClock) -> Callable[..., VclmClient]:
    """The project client on the simulator in-process (over the wire when given an endpoint).

    One attempt per call unless told, so each test sees each answer.
    """

    def make(
        *,
        simulator: Simulator | None = None,
        credentials: Credentials = SIM_CREDENTIALS,
        client_clock: Clock | None = None,
        attempts: int = 1,
        read_timeout: float = 10.0,
        region: str = REGION,
        endpoint: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> VclmClient:
        used_clock = client_clock or clock
        return VclmClient(
            credentials, region, endpoint,
            limiter=RateLimiter(19.0, clock=used_clock),
            retry=RetryPolicy(attempts=attempts, rng=random.Random(7)),
            transport=transport or (None if endpoint else SimulatorTransport(simulator or sim)),
            clock=used_clock, read_timeout=read_timeout,
        )

    return make


@pytest.fixture
def raw_call(sim: Simulator, clock: FakeClock) -> Callable[..., Any]:
    """Send a hand-signed request straight to `Simulator.handle`, then spoil what the test asks.

    Returns the parsed `Response` object. For what the project client cannot be made to send.
    """

    async def call(
        params: dict[str, Any] | None = None,
        *,
        action: str = DESCRIBE_ACTION,
        version: str = API_VERSION,
        secret_id: str = DEFAULT_SECRET_ID,
        secret_key: str = DEFAULT_SECRET_KEY,
        token: str | None = None,
        timestamp: int | None = None,
        body: bytes | None = None,
        sent_body: bytes | None = None,
        headers: dict[str, str | None] | None = None,
        language: str | None = None,
    ) -> dict[str, Any]:
        signed_body = body if body is not None else json.dumps(params or {}).encode()
        all_headers: dict[str, str | None] = dict(signed_headers(
            secret_id=secret_id, secret_key=secret_key, token=token, action=action, region=REGION,
            host=HOST, body=signed_body, timestamp=int(clock.time()) if timestamp is None else timestamp,
            version=version, language=language,
        ))
        all_headers.update(headers or {})
        sent = [(k, v) for k, v in all_headers.items() if v is not None]
        answer = await sim.handle("POST", "/", sent, signed_body if sent_body is None else sent_body)
        assert answer.status == 200
        return json.loads(answer.body)["Response"]

    return call
