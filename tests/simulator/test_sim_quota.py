"""At most `quota` requests per SecretId in any sliding window, counted when they arrive."""

from __future__ import annotations

import pytest

from tui.api.credentials import Credentials
from tui.api.errors import ApiError
from tui.api.models import DESCRIBE_ACTION
from tui.simulator.faults import Faults
from tui.simulator.service import DEFAULT_SECRET_ID, SimStats, Simulator

pytestmark = pytest.mark.anyio


async def burst(client, job: str, n: int) -> list[str]:
    """n unthrottled requests at the current instant; 'ok' or the error code of each."""
    outcomes = []
    for _ in range(n):
        try:
            await client.send_once(DESCRIBE_ACTION, {"JobId": job})
            outcomes.append("ok")
        except ApiError as error:
            outcomes.append(error.code)
    return outcomes


async def test_twenty_requests_in_a_second_pass_and_the_21st_is_refused(sim, make_client):
    async with make_client() as client:
        outcomes = await burst(client, sim.create_job(), 21)
    assert outcomes == ["ok"] * 20 + ["RequestLimitExceeded"]


async def test_the_refusal_has_the_documented_shape(sim, raw_call):
    job = sim.create_job()
    for _ in range(20):
        await raw_call({"JobId": job})
    response = await raw_call({"JobId": job})
    assert response["Error"] == {"Code": "RequestLimitExceeded",
                                 "Message": "Request frequency exceeds the limit of this action."}


@pytest.mark.parametrize(("wait", "passes"), [(0.999, False), (1.0, True)])
async def test_the_window_slides_one_second_after_the_oldest_arrival(sim, clock, make_client, wait, passes):
    job = sim.create_job()
    async with make_client() as client:
        await burst(client, job, 20)
        clock.advance(wait)
        outcome = await burst(client, job, 1)
    assert outcome == (["ok"] if passes else ["RequestLimitExceeded"])


async def test_refused_requests_do_not_use_up_the_quota(sim, clock, make_client):
    job = sim.create_job()
    async with make_client() as client:
        first = await burst(client, job, 30)
        clock.advance(1.0)
        second = await burst(client, job, 20)
    assert first.count("ok") == 20
    assert second == ["ok"] * 20


async def test_quota_and_window_are_configurable(clock, make_client):
    sim = Simulator(seed=1, clock=clock, quota=5, quota_window=2.0)
    job = sim.create_job()
    async with make_client(simulator=sim) as client:
        first = await burst(client, job, 6)
        clock.advance(1.5)
        still = await burst(client, job, 1)
        clock.advance(0.5)
        again = await burst(client, job, 1)
    assert first == ["ok"] * 5 + ["RequestLimitExceeded"]
    assert (still, again) == (["RequestLimitExceeded"], ["ok"])


async def test_each_secret_id_has_its_own_quota(sim, make_client):
    sim.add_account("AKIDsecondaccount", "second-key")
    job = sim.create_job()
    async with make_client() as first, make_client(credentials=Credentials("AKIDsecondaccount", "second-key")) as second:
        exhausted = await burst(first, job, 21)
        other = await burst(second, job, 20)
    assert exhausted[-1] == "RequestLimitExceeded"
    assert other == ["ok"] * 20


async def test_stats_count_arrivals_refusals_and_actions(sim, clock, make_client):
    job = sim.create_job()
    async with make_client() as client:
        await burst(client, job, 23)
    stats = sim.stats
    assert (stats.requests, stats.rate_limited, stats.quota_rejections) == (23, 3, 3)
    assert stats.actions[DESCRIBE_ACTION] == 23
    assert stats.arrivals[DEFAULT_SECRET_ID] == [clock.monotonic()] * 23
    assert stats.errors["RequestLimitExceeded"] == 3


async def test_arrivals_are_counted_after_the_network_delay(clock, make_client):
    sim = Simulator(seed=1, clock=clock, faults=Faults(latency=0.5))
    sent_at = clock.monotonic()
    async with make_client(simulator=sim) as client:
        await client.describe_job(sim.create_job())
    assert sim.stats.arrivals[DEFAULT_SECRET_ID] == [sent_at + 0.5]


def test_jitter_spreads_network_delays_within_its_bounds(clock):
    faults = Faults(latency=0.05, jitter=0.02)
    sim = Simulator(seed=9, clock=clock, faults=faults)
    delays = [faults.network_delay(sim._network_rng) for _ in range(500)]
    assert all(0.05 <= d <= 0.07 for d in delays)
    assert max(delays) - min(delays) > 0.018


@pytest.mark.parametrize(
    ("times", "window", "expected"),
    [
        ([], 1.0, 0),
        ([0.0, 0.5, 0.99, 1.0, 1.5], 1.0, 3),  # (0.0, 1.0] holds 0.5, 0.99, 1.0
        ([0.0, 1.0, 2.0, 3.0], 1.0, 1),
        ([0.0, 0.0, 0.0], 1.0, 3),
        ([0.0, 0.4, 0.8, 1.2], 0.5, 2),
    ],
)
def test_max_in_window_counts_the_busiest_sliding_window(times, window, expected):
    stats = SimStats(arrivals={"AKIDa": times, "AKIDb": [0.0]})
    assert stats.max_in_window(window, "AKIDa") == expected
    assert stats.max_in_window(window) == max(expected, 1)  # the busiest SecretId


async def test_the_project_limiter_keeps_under_the_quota(sim, make_client):
    jobs = [sim.create_job() for _ in range(5)]
    async with make_client() as client:
        for _ in range(20):
            for job in jobs:
                await client.describe_job(job)
    assert sim.stats.requests == 100
    assert sim.stats.rate_limited == 0
    assert sim.stats.max_in_window(1.0) <= 20
