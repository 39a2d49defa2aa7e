"""Injected time: the real clock for the program, a fake one that tests advance by hand."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def time(self) -> float:
        """Wall-clock seconds since the epoch (what is shown and signed)."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (what schedules and throttles)."""

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        import asyncio  # (here: a command that never waits, such as `add`, starts without asyncio)

        await asyncio.sleep(max(0.0, seconds))


class FakeClock:
    """A clock that moves only when told to, or when something sleeps on it.

    `sleep` advances time to the sleeper's deadline at once, so code that waits on
    the clock runs at full speed in tests while seeing the durations it asked for.
    """

    def __init__(self, start: float = 1_764_000_000.0, *, skew: float = 0.0) -> None:
        self._now = start
        self._mono = 1000.0
        self.skew = skew  # added to time() only: a machine whose wall clock is off
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self._now + self.skew

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time does not go back")
        self._now += seconds
        self._mono += seconds

    async def sleep(self, seconds: float) -> None:
        import asyncio

        seconds = max(0.0, seconds)
        self.sleeps.append(seconds)
        self.advance(seconds)
        await asyncio.sleep(0)


SYSTEM_CLOCK = SystemClock()
