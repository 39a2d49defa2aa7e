"""Pollers on the simulator, teamed through RedisTeam on a real Valkey server.

These run in real time, a few seconds each: the leases, the answers' freshness and the window are
all judged on the server's clock, which no fake clock moves.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from simkit import SIM_CREDENTIALS, make_client, make_sim
from teamkit import busiest, members

from tui.api.clock import SYSTEM_CLOCK
from tui.api.credentials import Credentials
from tui.api.ratelimit import RateLimiter
from tui.core.engine import Poller
from tui.core.team import account_key
from tui.simulator.auth import Account
from tui.simulator.transport import SimulatorTransport

pytestmark = pytest.mark.anyio

ACCOUNT = account_key("http://127.0.0.1:9", SIM_CREDENTIALS.secret_id)
MIN_INTERVAL = 1.0


class AskLog(httpx.AsyncBaseTransport):
    """The simulator transport, noting which job each Describe request was about."""

    def __init__(self, sim) -> None:
        self.inner = SimulatorTransport(sim)
        self.asks: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content or b"{}")
        if "JobId" in body:
            self.asks.append(body["JobId"])
        return await self.inner.handle_async_request(request)


def watching(clients, teams, jobs: list[str]) -> list[Poller]:
    """A poller per member, each client with its team, every one watching all of `jobs`."""
    pollers = [Poller(c, clock=SYSTEM_CLOCK, min_interval=MIN_INTERVAL, team=t) for c, t in zip(clients, teams)]
    for poller in pollers:
        for job in jobs:
            poller.add(job)
    return pollers


async def run_for(pollers: list[Poller], seconds: float) -> float:
    start = SYSTEM_CLOCK.monotonic()
    await asyncio.gather(*(poller.run(deadline=start + seconds) for poller in pollers))
    return SYSTEM_CLOCK.monotonic() - start


async def test_two_pollers_on_one_server_poll_each_job_once_per_min_interval_and_both_show_it(valkey):
    sim = make_sim(SYSTEM_CLOCK)
    jobs = [sim.create_job(init_seconds=0.0, run_seconds=3600.0) for _ in range(6)]
    log = AskLog(sim)
    async with members(valkey.url, account=ACCOUNT) as (teams, _):
        clients = [make_client(sim, SYSTEM_CLOCK, transport=log) for _ in teams]
        pollers = watching(clients, teams, jobs)
        async with clients[0], clients[1]:
            run = await run_for(pollers, 3.5)
    for job in jobs:
        assert 1 <= log.asks.count(job) <= run / MIN_INTERVAL + 1, (job, log.asks.count(job), run)
    assert all(poller.records[job].status_code == "JobRunning" for poller in pollers for job in jobs)
    shared = {p.records[j].shared_from for p in pollers for j in jobs} - {None}
    assert shared and shared <= {"m0", "m1"}
    assert sim.stats.max_in_window(1.0) <= 20


async def test_pollers_keep_polling_every_job_through_a_server_that_dies_and_comes_back(valkey):
    sim = make_sim(SYSTEM_CLOCK)
    jobs = [sim.create_job(init_seconds=0.0, run_seconds=3600.0) for _ in range(4)]
    async with members(valkey.url, account=ACCOUNT) as (teams, _):
        clients = [make_client(sim, SYSTEM_CLOCK) for _ in teams]
        pollers = watching(clients, teams, jobs)
        async with clients[0], clients[1]:
            await run_for(pollers, 1.5)
            valkey.kill()
            killed_at = SYSTEM_CLOCK.time()
            await run_for(pollers, 2.5)
            modes_down = [team.status().mode for team in teams]
            polled_while_down = [max(p.records[j].last_polled or 0 for p in pollers) > killed_at + 1.0 for j in jobs]
            valkey.start()
            await run_for(pollers, 1.5)
    assert modes_down == ["fallback", "fallback"]
    assert all(polled_while_down)  # no job stopped updating
    assert [team.status().mode for team in teams] == ["shared", "shared"]
    assert sim.stats.max_in_window(1.0) <= 20


async def test_no_secret_key_token_or_password_reaches_the_server(valkey_with_password):
    """Members with made-up temporary credentials poll through a password-protected server; every
    key, every value (of every type) and every published message is searched for the secrets."""
    secret_id, secret_key, token = "AKIDteamScanSecretId0001", "teamScanSecretKey-Zq8xW2", "teamScanSessionToken-Lm4Rt7"
    password = valkey_with_password.password
    credentials = Credentials(secret_id, secret_key, token=token, source="test")
    sim = make_sim(SYSTEM_CLOCK, accounts={secret_id: Account(secret_key, tokens=frozenset({token}))})
    jobs = [sim.create_job(init_seconds=0.0, run_seconds=3600.0) for _ in range(3)]
    seen: list[str] = []
    with valkey_with_password.client() as admin:
        listener = admin.pubsub()
        listener.psubscribe("*")
        account = account_key("http://127.0.0.1:9", secret_id)
        async with members(valkey_with_password.url, account=account) as (teams, _):
            clients = [make_client(sim, SYSTEM_CLOCK, credentials=credentials) for _ in teams]
            pollers = watching(clients, teams, jobs)
            async with clients[0], clients[1]:
                await run_for(pollers, 2.5)
            assert all(poller.records[job].status_code == "JobRunning" for poller in pollers for job in jobs)
            # what is on the server while they are members: every key and what it holds
            for key in admin.scan_iter("*"):
                seen.append(key)
                kind = admin.type(key)
                if kind == "string":
                    seen.append(admin.get(key))
                elif kind == "zset":
                    seen.extend(f"{m} {s}" for m, s in admin.zrange(key, 0, -1, withscores=True))
                elif kind == "hash":
                    seen.extend(f"{f} {v}" for f, v in admin.hgetall(key).items())
                elif kind in ("list", "set", "stream"):
                    seen.append(
                        repr(admin.lrange(key, 0, -1) if kind == "list" else admin.smembers(key) if kind == "set" else admin.xrange(key))
                    )
                else:
                    pytest.fail(f"a key of an unexpected type: {key} ({kind})")
        while (message := listener.get_message(timeout=0.2)) is not None:
            seen.append(f"{message['channel']} {message['data']}")
        listener.close()
    text = "\n".join(seen)
    assert any(job in text for job in jobs)  # (the server does hold the answers, and they were published)
    assert sum(1 for line in seen if line.startswith("vclm:") and '"response"' in line) >= 1
    for secret in (secret_key, token, password, secret_id):
        assert secret not in text


async def test_two_limiters_asking_one_servers_window_keep_one_quota(valkey):
    async with members(valkey.url, account=ACCOUNT) as (teams, _):
        limiters = [RateLimiter(19.0, clock=SYSTEM_CLOCK, gate=team.gate) for team in teams]
        stop = SYSTEM_CLOCK.monotonic() + 3.0
        counts = [0, 0]

        async def take(index: int) -> None:
            while SYSTEM_CLOCK.monotonic() < stop:
                await limiters[index].acquire()
                counts[index] += 1

        await asyncio.gather(take(0), take(1))
        at_server = sorted(s for team in teams for s in team.server_starts)
    assert counts[0] > 5 and counts[1] > 5
    assert len(at_server) == sum(counts)
    assert busiest(at_server, window=1_000_000) <= 20
    assert (at_server[-1] - at_server[0]) / 1e6 >= (len(at_server) - 1) / 19.0 - 0.01  # one pace for the two
