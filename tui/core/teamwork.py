"""The engine's side of team mode: a claim before each poll, the answer published after it, and
the answers other members fetched, read back as job states. No scheduling here (the Poller's)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from tui.api.clock import Clock
from tui.api.errors import VclmError
from tui.api.models import JobStatus, is_terminal
from tui.api.ratelimit import QuotaGate, RateLimiter
from tui.core.jobstate import JobRecord
from tui.core.team import Claim, SharedAnswer, Team, TeamStatus

log = logging.getLogger(__name__)


class TeamLink:
    """One Poller's link to its team. `lease`: how long a claimed job is this process's
    (the config's min_interval, also for a `check` that asks each job once). The `limiter`
    given (the Poller's client's) asks the team's quota gate from then on."""

    def __init__(self, team: Team, lease: float, clock: Clock, limiter: RateLimiter | None = None) -> None:
        self.team = team
        if limiter is not None and team.gate is not None:
            limiter.gate = GuardedGate(team.gate)
        self.lease = lease
        self.clock = clock
        self._started = False

    async def close(self) -> None:
        """Leave the team (its leases go at once). Never raises."""
        try:
            await self.team.close()
        except Exception:  # noqa: BLE001 - leaving must not fail an exit
            log.exception("leaving the team")

    async def start(self, wake: Callable[[], None]) -> None:
        """Join the team. `wake` takes the answers waiting (`answers()`): the team's listener calls it
        as they come, in the loop's thread; whatever it raises is logged, never the listener's end."""
        if not self._started:
            self._started = True

            def woken() -> None:
                try:
                    wake()
                except Exception:  # noqa: BLE001
                    log.exception("taking the team's answers")

            try:
                await self.team.start(woken)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a team that cannot start must not stop polling
                log.exception("joining the team")

    async def claim(self, job_id: str) -> Claim:
        try:
            return await self.team.claim(job_id, self.lease)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - a team that fails must not stop polling: the job is polled
            log.exception("team claim of %s", job_id)
            return Claim(True)

    async def release(self, job_id: str) -> None:
        try:
            await self.team.release(job_id)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001
            log.exception("team release of %s", job_id)

    async def fetched(self, status: JobStatus, asked_at: float) -> None:
        """An answer this process fetched: for the others, stamped `asked_at`, the time its request
        was sent (the engine's: now less the round trip of the attempt that brought it, as the
        client measured it). Not when it arrived: a poll slower than its lease may end after
        another member's newer answer, and must not pass for the newer one."""
        answer = SharedAnswer(status.job_id, dict(status.raw), asked_at, status.latency, self.team.member)
        try:
            await self.team.publish(answer)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - publish never raises by contract; a broken one costs nothing here
            log.exception("team publish of %s", status.job_id)

    def answers(self) -> list[tuple[SharedAnswer, JobStatus]]:
        """Answers other members published since the last call, each with the state it gives."""
        try:
            drained = self.team.drain()
        except Exception:  # noqa: BLE001
            log.exception("team drain")
            return []
        return [(answer, status) for answer in drained if (status := status_of(answer)) is not None]

    def taken(self, claim: Claim) -> tuple[SharedAnswer, JobStatus] | None:
        """The answer a refused claim came with, and the state it gives (None: none, or none usable)."""
        status = status_of(claim.answer) if claim.answer is not None else None
        return None if status is None or claim.answer is None else (claim.answer, status)

    def status(self) -> TeamStatus:
        try:
            return self.team.status()
        except Exception as exc:  # noqa: BLE001 - shown, never fatal
            log.exception("team status")
            return TeamStatus("fallback", problem=f"the team's status cannot be read: {type(exc).__name__}")


class GuardedGate:
    """A team's quota gate as the limiter asks it: a gate that fails (it should fall back by
    itself) lets the request go on the limiter's own pacing instead of stopping the engine."""

    def __init__(self, gate: QuotaGate) -> None:
        self.gate = gate
        self._moved = getattr(gate, "moved", None)

    async def try_start(self, span: float, ceiling: int, rate: float) -> float:
        try:
            return await self.gate.try_start(span, ceiling, rate)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001
            log.exception("the team's quota gate")
            return 0.0

    def moved(self, at: float, later: float) -> None:
        if self._moved is not None:
            try:
                self._moved(at, later)
            except Exception:  # noqa: BLE001
                log.exception("the team's quota gate (moved)")


def is_news(record: JobRecord, answer: SharedAnswer, status: JobStatus) -> bool:
    """Whether another member's answer may replace what the record holds: asked after the answer
    the record has (every answer is stamped with the time its request was sent, `last_polled`),
    and never taking a finished job back to an unfinished state (a service's job does not go
    back: such an answer is an old one, from a member whose clock runs ahead)."""
    if answer.polled_at <= (record.last_polled or 0.0):
        return False
    return not (record.terminal and not is_terminal(status.status_code))


def status_of(answer: SharedAnswer) -> JobStatus | None:
    """The state an answer from another member gives (checked as the client checks its own;
    None when it gives none)."""
    from tui.api.client import job_status_from_response  # (here: `ls` and `add` import the engine, not httpx)

    try:
        return job_status_from_response(answer.response, answer.latency, answer.job_id)
    except VclmError:
        return None
