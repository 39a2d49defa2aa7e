"""Which failures are worth another attempt, and how long to wait before it."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from tui.api.errors import ApiError, TransportError, VclmError


def is_retryable(error: BaseException) -> bool:
    """Transport errors, service-side errors and throttling: yes. Auth, bad ids, bad params: no."""
    if isinstance(error, TransportError):
        return True
    if isinstance(error, ApiError):
        return error.retryable
    return False


@dataclass(frozen=True)
class Backoff:
    """Doubling delays from `start` to `cap`: the one backoff of the project (the client's
    retries jitter under it; the engine waits it out per job and during outages)."""

    start: float
    cap: float

    def delay(self, streak: int) -> float:
        """The delay after `streak` failures in a row (1 for the first)."""
        return min(self.cap, self.start * (2 ** max(0, streak - 1)))


@dataclass
class RetryPolicy:
    """Exponential backoff with full jitter: attempt n waits uniform(0, min(cap, base * 2**n))."""

    attempts: int = 4  # total tries, the first included
    base: float = 0.5
    cap: float = 30.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, retry_number: int) -> float:
        """Seconds to wait before retry number `retry_number` (0 for the first retry)."""
        return self.rng.uniform(0.0, Backoff(self.base, self.cap).delay(retry_number + 1))

    def should_retry(self, error: VclmError, attempt: int) -> bool:
        """`attempt` counts the tries made so far, the failed one included."""
        return attempt < self.attempts and is_retryable(error)
