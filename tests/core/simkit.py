"""Building blocks for core tests: the project's simulator in-process, on a fake clock."""

from __future__ import annotations

import random

import httpx

from tui.api.client import VclmClient
from tui.api.clock import FakeClock
from tui.api.credentials import Credentials
from tui.api.ratelimit import RateLimiter
from tui.api.retry import RetryPolicy
from tui.simulator.faults import Faults
from tui.simulator.service import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, Simulator
from tui.simulator.transport import SimulatorTransport

SIM_CREDENTIALS = Credentials(DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, source="test")


class RecordingTransport(httpx.AsyncBaseTransport):
    """The simulator transport, keeping a copy of every request that went through it."""

    def __init__(self, simulator: Simulator) -> None:
        self.inner = SimulatorTransport(simulator)
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return await self.inner.handle_async_request(request)


def make_sim(clock: FakeClock, seed: int = 1, **kwargs) -> Simulator:
    kwargs.setdefault("faults", Faults())
    return Simulator(seed=seed, clock=clock, **kwargs)


def make_client(sim: Simulator, clock: FakeClock, *, credentials: Credentials = SIM_CREDENTIALS,
                attempts: int = 4, rate: float = 19.0, transport: httpx.AsyncBaseTransport | None = None,
                read_timeout: float = 10.0) -> VclmClient:
    return VclmClient(
        credentials, "ap-guangzhou", "http://127.0.0.1:9",
        limiter=RateLimiter(rate, clock=clock),
        retry=RetryPolicy(attempts=attempts, rng=random.Random(3)),
        transport=transport or SimulatorTransport(sim), clock=clock, read_timeout=read_timeout,
    )
