"""The limiter: a hard sliding-window bound, even pacing, and AIMD after throttling."""

from __future__ import annotations

import asyncio

import pytest

from tui.api.clock import FakeClock
from tui.api.errors import ConfigError
from tui.api.ratelimit import DEFAULT_TARGET_RATE, MIN_WINDOW_MARGIN, PRIOR_JITTER_ALLOWANCE, RateLimiter, validate_rate


def max_in_any_window(starts: list[float], window: float = 1.0) -> int:
    best, lo = 0, 0
    for hi, t in enumerate(starts):
        while t - starts[lo] >= window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


async def acquire_many(limiter: RateLimiter, n: int, concurrency: int = 8) -> list[float]:
    starts: list[float] = []

    async def worker(count: int) -> None:
        for _ in range(count):
            starts.append(await limiter.acquire())

    per = [n // concurrency + (1 if i < n % concurrency else 0) for i in range(concurrency)]
    await asyncio.gather(*(worker(c) for c in per))
    return sorted(starts)


@pytest.mark.anyio
async def test_never_more_than_twenty_in_any_sliding_second_at_full_rate():
    clock = FakeClock()
    limiter = RateLimiter(20, clock=clock)
    starts = await acquire_many(limiter, 400)
    assert len(starts) == 400
    assert max_in_any_window(starts) <= 20


@pytest.mark.anyio
async def test_default_target_paces_evenly_at_96_percent_of_the_quota_once_round_trips_are_steady():
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    for _ in range(20):
        limiter.observe_latency(0.05)  # steady round trips: the window's margin is MIN_WINDOW_MARGIN
    starts = await acquire_many(limiter, 193)
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert DEFAULT_TARGET_RATE == 19.2
    assert min(gaps) == pytest.approx(max(gaps)) == pytest.approx(1 / 19.2)  # the window never holds a start back
    assert starts[-1] - starts[0] == pytest.approx(10.0)
    assert max_in_any_window(starts, 1.0 + MIN_WINDOW_MARGIN - 1e-9) <= 20


@pytest.mark.anyio
async def test_before_any_round_trip_the_default_pace_keeps_to_20_in_a_window_widened_by_the_prior_jitter():
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    starts = await acquire_many(limiter, 100)
    assert max_in_any_window(starts, 1.0 + PRIOR_JITTER_ALLOWANCE - 1e-9) <= 20  # (the 21st goes as the 1st leaves)
    assert min(b - a for a, b in zip(starts, starts[1:])) == pytest.approx(1 / 19.2)


@pytest.mark.anyio
async def test_lower_rate_is_respected():
    clock = FakeClock()
    limiter = RateLimiter(5, clock=clock)
    starts = await acquire_many(limiter, 26)
    assert starts[-1] - starts[0] == pytest.approx(5.0)
    assert max_in_any_window(starts) <= 5


def test_window_bound_holds_even_if_the_pace_were_faster():
    limiter = RateLimiter(20, ceiling=3, clock=FakeClock())
    for t in (0.0, 0.05, 0.1):
        assert limiter.earliest_start(t) <= t
        limiter.record_start(t)
    # the fourth must wait until the first leaves the one-second window (widened for jitter)
    assert limiter.earliest_start(0.15) == pytest.approx(1.0 + limiter.jitter_allowance())
    assert limiter.earliest_start(0.15) >= 1.0


def test_rate_limited_answer_halves_the_rate():
    limiter = RateLimiter(19, clock=FakeClock())
    assert limiter.on_rate_limited(now=100.0)
    assert limiter.rate_at(100.0) == pytest.approx(9.5)
    assert limiter.snapshot(100.0).cut_back


def test_answers_in_flight_together_halve_only_once():
    limiter = RateLimiter(19, clock=FakeClock())
    assert limiter.on_rate_limited(now=100.0)
    assert not limiter.on_rate_limited(now=100.2)
    assert limiter.rate_at(100.2) == pytest.approx(9.5 + 0.2)


def test_rate_recovers_by_one_per_quiet_second_up_to_target():
    limiter = RateLimiter(19, clock=FakeClock())
    limiter.on_rate_limited(now=100.0)
    assert limiter.rate_at(103.0) == pytest.approx(12.5)
    assert limiter.rate_at(200.0) == pytest.approx(19.0)
    assert not limiter.snapshot(200.0).cut_back


def test_repeated_throttling_keeps_halving_down_to_a_floor():
    limiter = RateLimiter(19, clock=FakeClock())
    now = 100.0
    for _ in range(12):
        limiter.on_rate_limited(now=now)
        now += 1.01
    assert 0.5 <= limiter.rate_at(now - 1.01) < 2.0


@pytest.mark.anyio
async def test_pace_after_a_cut_is_slower():
    clock = FakeClock()
    limiter = RateLimiter(19, clock=clock)
    await limiter.acquire()
    limiter.on_rate_limited()
    first = await limiter.acquire()
    second = await limiter.acquire()
    assert second - first == pytest.approx(1 / 9.5, rel=0.1)


@pytest.mark.parametrize("bad", [21, 20.5, 0, -1, "fast", float("nan")])
def test_rate_out_of_range_is_a_config_error(bad):
    with pytest.raises(ConfigError) as info:
        validate_rate(bad)
    assert "rate" in str(info.value)


def test_rate_of_twenty_is_allowed():
    assert validate_rate("20") == 20.0


class CountingGate:
    """A team's window as the limiter sees it: asked before each start, may say how long to wait."""

    def __init__(self, clock: FakeClock, waits: list[float]) -> None:
        self.clock, self.waits, self.asked = clock, waits, []

    async def try_start(self, span: float, ceiling: int, rate: float) -> float:
        self.asked.append((self.clock.monotonic(), span, ceiling, rate))
        return self.waits.pop(0) if self.waits else 0.0


@pytest.mark.anyio
async def test_a_gate_is_asked_when_the_limiter_allows_a_start_and_its_wait_is_kept():
    clock = FakeClock()
    gate = CountingGate(clock, [0.3, 0.2])
    limiter = RateLimiter(19.0, clock=clock, gate=gate)
    start = clock.monotonic()
    first = await limiter.acquire()
    assert first == pytest.approx(start + 0.5)  # waited what the gate said, twice, then started
    assert [round(at - start, 6) for at, *_ in gate.asked] == [0.0, 0.3, 0.5]
    _, span, ceiling, rate = gate.asked[0]
    assert (span, ceiling, rate) == (pytest.approx(1.0 + limiter.window_margin()), 20, 19.0)
    second = await limiter.acquire()
    assert second - first == pytest.approx(1 / 19)  # the limiter's own pace still holds
    assert len(gate.asked) == 4


@pytest.mark.anyio
async def test_a_late_round_trip_moves_the_start_in_the_gate_s_window_too():
    clock = FakeClock()
    gate = CountingGate(clock, [])
    gate.moves = []
    gate.moved = lambda at, later: gate.moves.append((at, later))
    limiter = RateLimiter(19.0, clock=clock, gate=gate)
    for _ in range(30):  # quick, steady round trips: the margin is the minimum
        limiter.observe_round_trip(await limiter.acquire(), 0.010, granted=True)
    assert gate.moves == []
    late_one = await limiter.acquire()
    limiter.observe_round_trip(late_one, 0.310, granted=True)  # 300 ms slower than the quickest
    assert gate.moves == [(late_one, pytest.approx(0.300 - MIN_WINDOW_MARGIN))]  # (beyond what the margin covered)


@pytest.mark.anyio
async def test_a_start_a_late_round_trip_put_off_does_not_move_the_pacing_grid_later():
    # A round trip 10 ms slower than the margin allows moves its start 10 ms later in the window,
    # so the 20th start after it waits past its slot; the ones after that are back on the grid.
    # (Were the grid moved to the put-off start, each such delay would be lost for good: at the
    # default pace only 1.7 ms of the window are spare.)
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    for _ in range(199):
        limiter.observe_latency(0.05)  # steady round trips: the margin is MIN_WINDOW_MARGIN (one slow one is trimmed)
    first = await limiter.acquire()
    starts = [first, await limiter.acquire()]
    limiter.observe_round_trip(starts[1], 0.05 + MIN_WINDOW_MARGIN + 0.010, granted=True)
    for _ in range(21):
        starts.append(await limiter.acquire())
    rate = DEFAULT_TARGET_RATE
    assert starts[21] == pytest.approx(starts[1] + 0.010 + 1.0 + MIN_WINDOW_MARGIN)  # put off
    assert starts[22] == pytest.approx(first + 22 / rate)  # and the next is on the grid again
