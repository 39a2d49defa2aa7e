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


@dataclass
class RetryPolicy:
    """Exponential backoff with full jitter: attempt n waits uniform(0, min(cap, base * 2**n))."""

    attempts: int = 4  # total tries, the first included
    base: float = 0.5
    cap: float = 30.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, retry_number: int) -> float:
        """Seconds to wait before retry number `retry_number` (0 for the first retry)."""
        ceiling = min(self.cap, self.base * (2**retry_number))
        return self.rng.uniform(0.0, ceiling)

    def should_retry(self, error: VclmError, attempt: int) -> bool:
        """`attempt` counts the tries made so far, the failed one included."""
        return attempt < self.attempts and is_retryable(error)
