"""RedisTeam when its server goes away: unreachable, killed, restarted empty, flushed, slow.

No crash and no exception out of the Team's methods; a fallback to a local share of the quota
(target ÷ max(2, members last seen), ÷ 4 while none were ever seen) that says why; a rejoin by
itself; and never more than 20 starts in any second through the changes over.
"""

from __future__ import annotations

import asyncio

import pytest
from teamkit import CEILING, RATE, SPAN, busiest, drive, members
from valkeykit import free_port

from tui.api.clock import FakeClock
from tui.api.ratelimit import DEFAULT_TARGET_RATE
from tui.core.team import SharedAnswer
from tui.core.team_redis import REJOIN_GRACE, RedisTeam

pytestmark = pytest.mark.anyio


async def local_starts(team: RedisTeam, clock: FakeClock, seconds: float) -> list[float]:
    """Drive the gate on the fake clock for `seconds`, as the limiter would; the starts' times."""
    starts: list[float] = []
    end = clock.monotonic() + seconds
    while clock.monotonic() < end:
        wait = await team.gate.try_start(SPAN, CEILING, RATE)
        if wait > 0:
            clock.advance(wait)
        else:
            starts.append(clock.monotonic())
    return starts


async def test_a_server_unreachable_at_start_is_a_fallback_at_a_quarter_of_the_quota():
    # (no member count seen yet: others may be starting too)
    clock = FakeClock()
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    team = RedisTeam(url, "0123456789abcdef", clock=clock)
    await team.start(lambda: None)
    try:
        status = team.status()
        assert status.mode == "fallback"
        assert f"redis://:***@127.0.0.1:{url.rsplit(':', 1)[1]}" in status.problem and "hunter2" not in status.problem
        assert status.share == pytest.approx(DEFAULT_TARGET_RATE / 4)  # (before the limiter asks: its default rate)
        began = clock.monotonic()
        starts = await local_starts(team, clock, 20.0)
        assert starts[0] >= began + SPAN  # nothing in the first window: starts granted by the server may be in it
        assert busiest(starts) <= CEILING // 4
        assert len(starts) >= 18 * RATE / 4  # and the share is used
        # claims are granted locally; nothing raises
        assert (await team.claim("vclm-job-1", 2.0)).granted
        await team.publish(SharedAnswer("vclm-job-1", {"JobId": "vclm-job-1"}, clock.time()))
        await team.release("vclm-job-1")
        assert team.drain() == []
    finally:
        await team.close()


async def test_members_that_start_while_the_server_is_down_keep_to_a_quarter_each_until_a_count_is_known(valkey):
    # none of the three has ever seen how many they are: each keeps to 19.2 / 4 (not 19.2 / 2, which
    # three would take to 28.8 together); as soon as a count is known, the share follows it
    clock = FakeClock()
    valkey.kill()
    teams = [RedisTeam(valkey.url, "0123456789abcdef", clock=clock, member=f"m{i}") for i in range(3)]
    try:
        for team in teams:
            await team.start(lambda: None)
            assert team.status().mode == "fallback" and team.status().share == pytest.approx(RATE / 4)
        starts: list[float] = []
        end = clock.monotonic() + 20.0
        while clock.monotonic() < end:  # the three asking side by side, as their limiters would
            waits = [await team.gate.try_start(SPAN, CEILING, RATE) for team in teams]
            starts += [clock.monotonic() for wait in waits if wait <= 0]
            if all(wait > 0 for wait in waits):
                clock.advance(min(waits))
        assert busiest(starts) <= 3 * (CEILING // 4) <= CEILING
        assert len(starts) >= 18 * 3 * RATE / 4  # and the shares are used
        valkey.start()
        for _ in range(2):  # (the first back finds itself alone until the next round)
            for team in teams:
                await team.check_now()
        assert [(team.status().mode, team.status().share) for team in teams] == [("shared", pytest.approx(RATE / 3))] * 3
        valkey.kill()
        for team in teams:
            await team.check_now()  # the count last seen holds through the next fallback
        assert [(team.status().mode, team.status().share) for team in teams] == [("fallback", pytest.approx(RATE / 3))] * 3
    finally:
        for team in teams:
            await team.close()


async def test_the_share_is_divided_by_the_members_last_seen(valkey):
    clock = FakeClock()
    async with members(valkey.url, 4, clock=clock) as (teams, _):
        valkey.kill()
        team = teams[0]
        assert await team.gate.try_start(SPAN, CEILING, RATE) > 0
        assert team.status().mode == "fallback"
        assert team.status().share == pytest.approx(RATE / 4)
        starts = await local_starts(team, clock, 20.0)
        assert busiest(starts) <= CEILING // 4
        assert len(starts) >= 18 * RATE / 4


async def test_a_server_killed_mid_run_is_a_fallback_and_nothing_raises(valkey):
    clock = FakeClock()
    async with members(valkey.url, clock=clock) as ((a, b), _):
        assert (await a.claim("vclm-job-1", 2.0)).granted
        valkey.kill()
        assert await a.gate.try_start(SPAN, CEILING, RATE) == pytest.approx(SPAN)  # a window's quiet
        status = a.status()
        assert status.mode == "fallback" and status.share == pytest.approx(RATE / 2)
        assert valkey.url in status.problem
        assert (await b.claim("vclm-job-1", 2.0)).granted  # b finds out on its first call
        assert b.status().mode == "fallback"
        await a.publish(SharedAnswer("vclm-job-1", {"JobId": "vclm-job-1"}, clock.time()))
        await a.release("vclm-job-1")
        await a.check_now()  # the probe fails: still in fallback
        assert a.status().mode == "fallback"
        assert a.drain() == [] and b.drain() == []


async def test_after_a_restart_each_member_rejoins_by_itself_and_hears_the_others_again(valkey):
    clock = FakeClock()
    async with members(valkey.url, clock=clock, grace=REJOIN_GRACE) as ((a, b), (_, b_woken)):
        valkey.kill()
        for team in (a, b):
            await team.check_now()
            assert team.status().mode == "fallback"
        valkey.start()
        for team in (a, b, a):  # (the first back finds itself alone until the next round)
            await team.check_now()
        for team in (a, b):
            status = team.status()
            assert status.mode == "shared" and status.problem is None and status.members == 2
            assert team.in_grace() and status.share == pytest.approx(RATE / 2)
        clock.advance(REJOIN_GRACE)
        assert not a.in_grace() and a.status().share is None
        await a.claim("vclm-job-1", 30.0)
        await a.publish(SharedAnswer("vclm-job-1", {"JobId": "vclm-job-1"}, clock.time()))
        await asyncio.wait_for(b_woken.wait(), 5)
        assert [answer.job_id for answer in b.drain()] == ["vclm-job-1"]


async def test_the_background_probe_rejoins_without_being_asked(valkey):
    async with members(valkey.url, 1) as ((a,), _):
        valkey.kill()
        await a.check_now()
        assert a.status().mode == "fallback"
        valkey.start()
        for _ in range(100):  # the probe runs every PROBE_INTERVAL (0.5 s) of its own
            if a.status().mode == "shared":
                break
            await asyncio.sleep(0.05)
        assert a.status().mode == "shared"


async def rejoined_with_live_connections(team: RedisTeam) -> None:
    """After the server came back: the team rejoins at its next check, and what comes next (claims
    at once, over the pool's several connections) finds no dead connection."""
    await team.check_now()
    assert team.status().mode == "shared"
    claims = await asyncio.gather(*(team.claim(f"vclm-job-{i}", 30.0) for i in range(8)))
    assert all(claim.granted for claim in claims)
    assert team.status().mode == "shared", team.status().problem


async def test_a_rejoin_writes_the_members_recent_starts_into_the_servers_window(valkey):
    clock = FakeClock()
    async with members(valkey.url, 1, clock=clock) as ((a,), _):
        valkey.kill()
        starts = await local_starts(a, clock, 3.0)  # a window's quiet, then its share
        recent = [s for s in starts if s > clock.monotonic() - 2.0]
        valkey.start()
        await rejoined_with_live_connections(a)
        with valkey.client() as admin:
            (window,) = [key for key in admin.scan_iter("*") if key.endswith(":window")]
            assert admin.zcard(window) == len(recent) > 0


async def test_a_restart_empty_never_lets_more_than_20_through_in_a_second(valkey):
    """Three members at full pace (real time: the window is counted at the server's clock); the
    server is killed mid-run and restarted empty. Every start is noted where it was let go."""
    async with members(valkey.url, 3, grace=REJOIN_GRACE) as (teams, _):
        stop = asyncio.Event()
        starts: list[list[float]] = [[] for _ in teams]
        tasks = [asyncio.create_task(drive(team, stop, into)) for team, into in zip(teams, starts)]
        await asyncio.sleep(1.5)
        valkey.kill()
        await asyncio.sleep(1.5)
        down = [team.status().mode for team in teams]
        valkey.start()
        await asyncio.sleep(4.0)
        stop.set()
        await asyncio.gather(*tasks)
        every = sorted(s for member in starts for s in member)
        assert down == ["fallback"] * len(teams)
        assert busiest(every) <= CEILING
        assert all(len(member) > 5 for member in starts)
        assert [team.status().mode for team in teams] == ["shared"] * len(teams)
        assert not any(team.in_grace() for team in teams)


async def test_a_flushed_server_is_rejoined_on_the_next_start_with_the_recent_starts(valkey):
    clock = FakeClock()
    async with members(valkey.url, 1, clock=clock, grace=REJOIN_GRACE) as ((a,), _):
        for _ in range(3):
            assert await a.gate.try_start(SPAN, CEILING, 1e6) == 0.0
            clock.advance(0.01)
        with valkey.client() as admin:
            admin.flushall()
        assert await a.gate.try_start(SPAN, CEILING, 1e6) == 0.0  # after writing the three back
        assert a.status().mode == "shared" and a.in_grace()
        with valkey.client() as admin:
            (window,) = [key for key in admin.scan_iter("*") if key.endswith(":window")]
            assert admin.zcard(window) == 4


async def test_a_slow_server_is_a_fallback_not_a_hang(valkey):
    clock = FakeClock()
    async with members(valkey.url, clock=clock) as ((a, b), _):
        with valkey.client() as admin:
            admin.execute_command("CLIENT", "PAUSE", 3000, "ALL")  # every other client waits 3 s
        # each call gives up after the team's timeout (0.5 s): none of these waits for the server
        wait = await asyncio.wait_for(a.gate.try_start(SPAN, CEILING, RATE), 2.5)
        assert wait > 0 and a.status().mode == "fallback"
        assert (await asyncio.wait_for(b.claim("vclm-job-1", 2.0), 2.5)).granted
        assert b.status().mode == "fallback"
        assert "Timeout" in a.status().problem or "timed out" in a.status().problem.lower()
        await asyncio.wait_for(a.publish(SharedAnswer("vclm-job-1", {"JobId": "vclm-job-1"}, clock.time())), 2.5)
        with valkey.client() as admin:
            admin.execute_command("CLIENT", "UNPAUSE")
        await a.check_now()
        assert a.status().mode == "shared"


async def test_one_probe_rejoins_however_many_connections_died_with_the_server(valkey):
    async with members(valkey.url, 1) as ((a,), _):
        # claims at once: the client's pool holds several connections, all dead after the kill
        await asyncio.gather(*(a.claim(f"vclm-job-{i}", 30.0) for i in range(8)))
        valkey.kill()
        await a.check_now()
        assert a.status().mode == "fallback"
        valkey.start()
        await rejoined_with_live_connections(a)


async def test_the_first_member_back_keeps_its_share_until_the_others_are_back(valkey):
    """Back first, a member finds itself alone at the server; the three still in fallback each keep
    to a quarter of the quota, so it must too, for its grace period, not to half of it."""
    clock = FakeClock()
    async with members(valkey.url, 4, clock=clock, grace=REJOIN_GRACE) as (teams, _):
        valkey.kill()
        for team in teams:
            await team.check_now()
        valkey.start()
        first = teams[0]
        await first.check_now()
        assert first.status().mode == "shared" and first.in_grace() and first.status().members == 1
        assert first.status().share == pytest.approx(RATE / 4)
        starts = await local_starts(first, clock, REJOIN_GRACE - 0.05)
        assert busiest(starts) <= CEILING // 4
