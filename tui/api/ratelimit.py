"""The one limiter every request of the process passes: a sliding-window cap plus AIMD pacing.

Requests are paced evenly at the current rate (so arrivals at the server are not bunched), on
a grid: a wake-up that comes a little late does not push every later slot back, so the rate
on the wire is the rate asked for. No more than `ceiling` may start in any sliding `window`
seconds whatever the rate, and that window is widened by the spread of the round-trip times
lately seen: the quota is counted where requests arrive, and network jitter can bunch at the
server requests that left evenly; `ceiling` per `window + spread` at the sender keeps
`ceiling` per `window` at the server. The widening is never less than MIN_WINDOW_MARGIN, which
covers the varying delay between the limiter's go-ahead and the request's arrival (on loopback
the round trips' spread is next to nothing, but that delay is not), and a request answered
later than that allows takes its place in the window as much later (observe_round_trip).

On a `RequestLimitExceeded*` answer the rate is halved, then recovers by `recovery` req/s for
each second without another, up to just under the rate that drew the answer (the knee); it
holds there a while, then climbs on to the target. Several monitors sharing one account thus
settle under the quota together without talking to each other, and probe for more room
(which costs a refusal and a halving) only once per hold. A refusal that comes before the
knee is even reached says the knee was far too high, and the next one is set lower. The hold
is in proportion to the knee: a refusal at a high rate is the quota itself, shared; one
after a storm had already driven the rate down to nothing says little, and the climb back
is soon resumed.
"""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass
from typing import Protocol

from tui.api.clock import SYSTEM_CLOCK, Clock
from tui.api.errors import ConfigError
from tui.api.models import QUOTA_PER_SECOND

# The pace: 96 % of the quota. What keeps the server from seeing 21 in a second is the window
# below (20 per 1 s + margin at the sender, a late round trip moving its start later), not the
# pace; the pace spreads the starts evenly and sits just under what that window allows with
# steady round trips (20 per 1.04 s: 19.23 req/s), so the window seldom holds a start back. (At
# 19.0, the default until 2026-11-28, the rate measured at the server was 95.0 % less whatever a
# late start cost, so a team or a busy process fell just short of the 95 % the benchmarks ask.)
DEFAULT_TARGET_RATE = 19.2
MIN_RATE = 0.5
KNEE = 0.95  # after a cut, climb back quickly to this share of the rate that drew it
KNEE_AGAIN = 0.85  # ...or this share, when the refusal came before the last knee was even reached
HOLD_SECONDS = 90.0  # ...and hold there up to this long (scaled by knee / target) before probing on
LATENCY_SAMPLES = 200  # round trips the jitter allowance is judged on (about 10 s at full rate)
MAX_JITTER_ALLOWANCE = 0.5  # seconds; beyond that, stalls rather than jitter: not worth pacing for
# Until enough round trips are seen, assume this much jitter: at the default pace it costs the
# first second a little (20 per 1.05 s: 19.05 req/s) and keeps it from bunching at the server.
PRIOR_JITTER_ALLOWANCE = 0.05
MIN_LATENCY_SAMPLES = 20
# The window's margin never goes below this, however steady the round trips: a request reaches
# the server a little after the limiter lets it through (the event loop runs the task that signs
# and sends it, the server's loop takes it in), and that delay varies by milliseconds, by tens of
# them when a loop is busy. On loopback the measured spread is a fraction of a millisecond, and
# the 1st and 21st requests of a second could arrive less than 1 s apart after a stall (about one
# in a thousand requests drew RequestLimitExceeded, with no margin). Longer delays are seen in the
# round trip and handled one request at a time (observe_round_trip). At the default 19.2 req/s,
# 21 starts span 1.042 s, so this margin costs nothing; at 20 req/s it holds 19.23.
MIN_WINDOW_MARGIN = 0.04
RECENT_SPAN = 60.0  # seconds of starts kept for measured_rate (its span must not be longer)


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


class QuotaGate(Protocol):
    """The account's request window, counted over every process of a team (`tui.core.team`):
    asked by the limiter each time its own pacing and window let a request go."""

    async def try_start(self, span: float, ceiling: int, rate: float) -> float:
        """Record a start now if the team's window allows one (fewer than `ceiling` starts in the
        last `span` seconds, and at least 1/`rate` s since the team's last start): returns 0.0.
        Otherwise records nothing and returns how many seconds to wait before asking again.

        A gate may also have `moved(at, later)` (plain, never raising): the start it recorded for
        a go-ahead given at `at` may have reached the server `later` seconds after the window's
        margin allows, and is counted that much later (see `observe_round_trip`)."""
        ...


def grid_slot(due: float | None, at: float, rate: float) -> float:
    """The point of a pacing grid at `rate` that the next start is paced from, after one at `at`
    that was due at `due`: the slot it was due in when it is less than two intervals late (a late
    wake-up does not slow the rate: the stall is made up, two starts back to back at most), else
    its own time (a longer stall is not made up)."""
    return due if due is not None and 0 <= at - due < 2.0 / rate else at


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
        hold: float = HOLD_SECONDS,
        clock: Clock = SYSTEM_CLOCK,
        min_margin: float = MIN_WINDOW_MARGIN,
        gate: QuotaGate | None = None,
    ) -> None:
        self.gate = gate  # team mode: the window every process on the account counts in
        self.target = validate_rate(target)
        self.min_margin = min_margin
        self.ceiling = ceiling
        self.window = window
        self.recovery = recovery
        self.hold = hold
        self.clock = clock
        self._starts: deque[float] = deque()
        self._last_slot: float | None = None  # the pacing grid point of the latest start
        self._cut_rate: float | None = None  # rate right after the last cut
        self._cut_at: float = 0.0
        self._knee: float = 0.0  # where the climb after the last cut pauses
        self._latencies: deque[float] = deque(maxlen=LATENCY_SAMPLES)
        self._recent: deque[float] = deque()  # recent starts, for measured_rate
        self._allowance: float | None = None  # None: to be worked out again from _latencies
        import asyncio  # (here: the config's rate is checked by commands that never connect, without asyncio)

        self._lock = asyncio.Lock()
        self.cuts = 0

    # -- pure logic on explicit times (what the tests drive) -------------------------------

    def rate_at(self, now: float) -> float:
        if self._cut_rate is None:
            return self.target
        since = now - self._cut_at
        rate = self._cut_rate + since * self.recovery
        if rate >= self._knee and self.recovery > 0:
            climbed = (self._knee - self._cut_rate) / self.recovery
            hold = self.hold * self._knee / self.target
            rate = self._knee + max(0.0, since - climbed - hold) * self.recovery
        if rate >= self.target:
            self._cut_rate = None
            return self.target
        return rate

    def snapshot(self, now: float | None = None) -> RateSnapshot:
        now = self.clock.monotonic() if now is None else now
        rate = self.rate_at(now)
        return RateSnapshot(rate=rate, target=self.target, cut_back=self._cut_rate is not None)

    def observe_latency(self, seconds: float) -> None:
        """One round trip that reached the server: what the jitter allowance is judged on."""
        self._latencies.append(seconds)
        self._allowance = None

    def observe_round_trip(self, at: float, seconds: float, *, granted: bool = False) -> None:
        """A request was answered `seconds` after `at` (monotonic): the time `acquire()` gave it
        (`granted`), or, when that is not known, when it was sent.

        Besides feeding the jitter allowance: a round trip longer than the quickest lately seen
        says this request may have reached the server that much later than usual (it waited to
        leave, or stalled on the way or at the server's door); beyond what the window's margin
        covers, its place in the window moves that much later, and the 21st request after it
        waits a full window after its possible arrival. A stall now and then, which the allowance
        leaves out, cannot bunch 21 arrivals into one second. Given the grant, the request's own place is moved; given only the
        send time, the latest start at or before it (its own, or one let through just after it).
        """
        # the margin already covers this much; only what is beyond it moves the place
        late = seconds - min(self._latencies, default=seconds) - self.window_margin()
        self.observe_latency(seconds)
        if late <= 0:
            return
        starts = sorted(self._starts)
        if granted:
            index = bisect.bisect_left(starts, at)
            if index == len(starts) or starts[index] != at:
                return  # already out of the window (or moved by an answer before)
        else:
            index = bisect.bisect_right(starts, at) - 1
            if index < 0:
                return
        del starts[index]
        bisect.insort(starts, at + late)
        self._starts = deque(starts)
        moved = getattr(self.gate, "moved", None)
        if granted and moved is not None:  # the team's window learns it too (the gate's own start at `at`)
            moved(at, late)

    def jitter_allowance(self) -> float:
        """How much wider than `window` the sender's window is: the spread of recent round trips.

        The extreme 2.5 % at each end is left out: a slow answer now and then is the event
        loop or the machine, not the network, and must not slow the next few hundred requests.
        """
        if self._allowance is None:
            samples = sorted(self._latencies)
            if len(samples) < MIN_LATENCY_SAMPLES:
                spread = max(PRIOR_JITTER_ALLOWANCE, samples[-1] - samples[0] if samples else 0.0)
            else:
                trim = len(samples) // 40
                spread = samples[-1 - trim] - samples[trim]
            self._allowance = min(MAX_JITTER_ALLOWANCE, max(0.0, spread))
        return self._allowance

    def window_margin(self) -> float:
        """How much wider than `window` the sender's window is: the round trips' spread, or the
        send-side allowance (MIN_WINDOW_MARGIN) if that is more."""
        return max(self.min_margin, self.jitter_allowance())

    def earliest_start(self, now: float) -> float:
        """When the next request may start, given every start recorded so far."""
        return max(now, self._due(now))

    def _due(self, now: float) -> float:
        """The slot the next request is due in (in the past if it is late)."""
        span = self.window + self.window_margin()
        while self._starts and min(self._starts) <= now - span:
            self._starts.remove(min(self._starts))
        at = float("-inf")
        if self._last_slot is not None:
            at = self._last_slot + 1.0 / self.rate_at(now)
        if len(self._starts) >= self.ceiling:
            # the ceiling-th most recent start must have left the (widened) window first
            # (sorted: a late round trip may have moved a start past later ones)
            at = max(at, sorted(self._starts)[-self.ceiling] + span)
        return at

    def measured_rate(self, now: float | None = None, span: float = 5.0) -> float:
        """Requests actually started per second over the last `span` seconds, retries included."""
        now = self.clock.monotonic() if now is None else now
        while self._recent and self._recent[0] <= now - span:
            self._recent.popleft()
        return len(self._recent) / span

    def record_start(self, at: float, slot: float | None = None) -> None:
        """A request starts at `at`; `slot`: the time it was due, if it was let through late."""
        self._starts.append(at)
        self._recent.append(at)
        while self._recent[0] <= at - RECENT_SPAN:  # kept bounded even if nobody reads the rate
            self._recent.popleft()
        # Pace from the slot it was due in, so a late wake-up does not slow the rate; a stall of
        # up to one interval is made up (two starts back to back at most), a longer one is not.
        # The window above still bounds every sliding span, whatever the pacing does.
        self._last_slot = grid_slot(slot, at, self.rate_at(at))
        while len(self._starts) > self.ceiling:
            self._starts.remove(min(self._starts))

    def on_rate_limited(self, now: float | None = None) -> bool:
        """Halve the rate; answers that were in flight together count as one signal."""
        now = self.clock.monotonic() if now is None else now
        if self._cut_rate is not None and now - self._cut_at < self.window:
            return False
        rate = self.rate_at(now)
        share = KNEE_AGAIN if self._cut_rate is not None and rate < self._knee else KNEE
        self._cut_rate = max(MIN_RATE, rate / 2)
        self._knee = max(self._cut_rate, min(self.target, rate * share))
        self._cut_at = now
        self.cuts += 1
        return True

    def set_target(self, target: float) -> None:
        self.target = validate_rate(target)

    # -- the async face -------------------------------------------------------------------

    async def acquire(self) -> float:
        """Wait for a slot; returns the (monotonic) time the request may start.

        With a `gate`, a start this limiter allows is asked of the team's window too (same
        span, ceiling and pace), and waits as long as the gate says before asking again."""
        async with self._lock:  # FIFO: waiters are served in arrival order
            while True:
                now = self.clock.monotonic()
                due = self._due(now)
                if due <= now:
                    if self.gate is not None:
                        wait = await self.gate.try_start(self.window + self.window_margin(), self.ceiling,
                                                         self.rate_at(now))
                        if wait > 0:
                            await self.clock.sleep(wait)
                            continue
                        now = self.clock.monotonic()  # (the gate's answer may take a moment)
                    self.record_start(now, slot=due)
                    return now
                await self.clock.sleep(due - now)
