"""The one limiter every request of the process passes: a sliding-window cap plus AIMD pacing.

Requests are paced evenly at the current rate (so arrivals at the server are not bunched),
and no more than `ceiling` may start in any sliding `window` seconds whatever the rate. On a
`RequestLimitExceeded*` answer the rate is halved, then recovers by `recovery` req/s for each
second without another, up to the target: several monitors sharing one account settle under
the quota together without talking to each other.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass

from tui.api.errors import ConfigError
from tui.api.models import QUOTA_PER_SECOND
from tui.clock import SYSTEM_CLOCK, Clock

DEFAULT_TARGET_RATE = 19.0
MIN_RATE = 0.5


def validate_rate(rate: float) -> float:
    try:
        value = float(rate)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an integer past any float (TOML allows one)
        raise ConfigError(f"rate must be a number of requests per second, not {rate!r:.40}") from None
    if not value > 0 or value != value:
        raise ConfigError(f"rate must be above 0 requests per second, not {rate!r}")
    if value > QUOTA_PER_SECOND:
        raise ConfigError(
            f"rate {value:g} req/s is over the API quota of {QUOTA_PER_SECOND} req/s "
            f"for DescribeVideoStylizationJob; use {QUOTA_PER_SECOND} or less"
        )
    return value


@dataclass(frozen=True, slots=True)
class RateSnapshot:
    rate: float  # the pace in force now
    target: float
    cut_back: bool  # True while recovering from a RequestLimitExceeded


class RateLimiter:
    def __init__(
        self,
        target: float = DEFAULT_TARGET_RATE,
        *,
        ceiling: int = QUOTA_PER_SECOND,
        window: float = 1.0,
        recovery: float = 1.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.target = validate_rate(target)
        self.ceiling = ceiling
        self.window = window
        self.recovery = recovery
        self.clock = clock
        self._starts: deque[float] = deque()
        self._last_start: float | None = None
        self._cut_rate: float | None = None  # rate right after the last cut
        self._cut_at: float = 0.0
        self._lock = asyncio.Lock()
        self.cuts = 0

    # -- pure logic on explicit times (what the tests drive) -------------------------------

    def rate_at(self, now: float) -> float:
        if self._cut_rate is None:
            return self.target
        rate = self._cut_rate + (now - self._cut_at) * self.recovery
        if rate >= self.target:
            self._cut_rate = None
            return self.target
        return rate

    def snapshot(self, now: float | None = None) -> RateSnapshot:
        now = self.clock.monotonic() if now is None else now
        rate = self.rate_at(now)
        return RateSnapshot(rate=rate, target=self.target, cut_back=self._cut_rate is not None)

    def earliest_start(self, now: float) -> float:
        """When the next request may start, given every start recorded so far."""
        while self._starts and self._starts[0] <= now - self.window:
            self._starts.popleft()
        at = now
        if self._last_start is not None:
            at = max(at, self._last_start + 1.0 / self.rate_at(now))
        if len(self._starts) >= self.ceiling:
            # the ceiling-th most recent start must have left the window first
            at = max(at, self._starts[-self.ceiling] + self.window)
        return at

    def record_start(self, at: float) -> None:
        self._starts.append(at)
        self._last_start = at
        while len(self._starts) > self.ceiling:
            self._starts.popleft()

    def on_rate_limited(self, now: float | None = None) -> bool:
        """Halve the rate; answers that were in flight together count as one signal."""
        now = self.clock.monotonic() if now is None else now
        if self._cut_rate is not None and now - self._cut_at < self.window:
            return False
        self._cut_rate = max(MIN_RATE, self.rate_at(now) / 2)
        self._cut_at = now
        self.cuts += 1
        return True

    def set_target(self, target: float) -> None:
        self.target = validate_rate(target)

    # -- the async face -------------------------------------------------------------------

    async def acquire(self) -> float:
        """Wait for a slot; returns the (monotonic) time the request may start."""
        async with self._lock:  # FIFO: waiters are served in arrival order
            while True:
                now = self.clock.monotonic()
                at = self.earliest_start(now)
                if at <= now:
                    self.record_start(now)
                    return now
                await self.clock.sleep(at - now)
