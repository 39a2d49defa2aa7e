"""Helpers for the shared team's tests: members on a real server, a limiter-like driver, window counts."""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import time

from tui.api.clock import SYSTEM_CLOCK, Clock
from tui.api.ratelimit import DEFAULT_TARGET_RATE, PRIOR_JITTER_ALLOWANCE
from tui.core.team_redis import RedisTeam

# what a limiter asks with before round trips are seen: its window widened by the prior jitter
# allowance, at the default rate
SPAN, CEILING, RATE = 1.0 + PRIOR_JITTER_ALLOWANCE, 20, DEFAULT_TARGET_RATE


@contextlib.asynccontextmanager
async def members(url: str, count: int = 2, *, account: str = "0123456789abcdef", clock: Clock = SYSTEM_CLOCK, **kwargs):
    """`count` members of one account's team, joined and each knowing of the others. The first to
    join a server finds no epoch and keeps to its local share for a grace period (see team_redis):
    here none unless asked for, so that the tests of a team in its steady state see that state."""
    kwargs.setdefault("grace", 0.0)
    teams = [RedisTeam(url, account, clock=clock, member=f"m{i}", **kwargs) for i in range(count)]
    woken = [asyncio.Event() for _ in teams]
    try:
        for team, event in zip(teams, woken):
            await team.start(event.set)
        for team in teams:
            await team.check_now()  # every member has heard every other's heartbeat
        yield teams, woken
    finally:
        for team in teams:
            await team.close()


async def drive(team: RedisTeam, stop: asyncio.Event, starts: list[float], *, span=SPAN, ceiling=CEILING, rate=RATE) -> None:
    """Ask the gate as the limiter does (wait what it says, ask again) until `stop`; note each start."""
    while not stop.is_set():
        wait = await team.gate.try_start(span, ceiling, rate)
        if wait <= 0:
            starts.append(time.monotonic())
        else:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), min(wait, 0.25))


def busiest(starts: list[float], window: float = 1.0) -> int:
    """The most starts in any sliding `window` (half-open)."""
    times = sorted(starts)
    return max((bisect.bisect_left(times, t + window) - i for i, t in enumerate(times)), default=0)
