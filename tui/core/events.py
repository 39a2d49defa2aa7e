"""What the engine tells its subscribers. Views render these; they never call the API.

Subscribe with `Poller.subscribe(callback)`; the callback receives one of the events below,
synchronously, on the engine's event loop. It must not block; an exception in it is caught
and logged, never allowed to stop polling.
"""

from __future__ import annotations

from dataclasses import dataclass

from tui.api.errors import VclmError
from tui.api.models import is_terminal
from tui.api.ratelimit import RateSnapshot
from tui.core.jobstate import JobRecord


@dataclass(frozen=True, slots=True)
class JobAdded:
    record: JobRecord
    from_file: bool = False  # read from the watchlist file: nothing to write back


@dataclass(frozen=True, slots=True)
class JobsAdded:
    """Many jobs at once (a watchlist loaded, another process's additions): one event, not one each."""

    records: tuple[JobRecord, ...]
    from_file: bool = False


@dataclass(frozen=True, slots=True)
class JobRemoved:
    record: JobRecord
    from_file: bool = False  # another process removed it from the file: nothing to write back


@dataclass(frozen=True, slots=True)
class JobUpdated:
    """Anything about the job changed: a poll answered, failed, or the label changed."""

    record: JobRecord


@dataclass(frozen=True, slots=True)
class StateChanged:
    record: JobRecord
    from_code: str | None
    to_code: str
    at: float

    @property
    def finishes(self) -> bool:
        """The job went from an unfinished state to a finished one (not first seen finished)."""
        return is_terminal(self.to_code) and self.from_code is not None and not is_terminal(self.from_code)


@dataclass(frozen=True, slots=True)
class PollFailed:
    record: JobRecord
    error: VclmError


@dataclass(frozen=True, slots=True)
class RateChanged:
    snapshot: RateSnapshot
    measured: float  # requests per second actually sent, over the last few seconds


@dataclass(frozen=True, slots=True)
class HealthChanged:
    """A problem that affects every job (None when it clears)."""

    problem: str | None  # "auth", "network", "config", or None
    detail: str = ""
    error: VclmError | None = None


EngineEvent = JobAdded | JobsAdded | JobRemoved | JobUpdated | StateChanged | PollFailed | RateChanged | HealthChanged
