"""The limiter's pacing grid, jitter allowance and knee-and-hold recovery (what the benchmarks led to)."""

from __future__ import annotations

import pytest

from tui.api.clock import FakeClock
from tui.api.ratelimit import RateLimiter


def test_a_late_wake_up_does_not_slow_the_pace():
    limiter = RateLimiter(19, clock=FakeClock())
    limiter.record_start(0.0, slot=0.0)
    due = limiter.earliest_start(0.0)
    limiter.record_start(due + 0.004, slot=due)  # woke 4 ms late
    assert limiter.earliest_start(0.0) == pytest.approx(2 / 19)  # the next slot stays on the grid


def test_a_stall_longer_than_two_intervals_is_not_made_up():
    limiter = RateLimiter(19, clock=FakeClock())
    limiter.record_start(0.0, slot=0.0)
    limiter.record_start(0.5, slot=1 / 19)  # the loop was blocked for half a second
    assert limiter.earliest_start(0.5) == pytest.approx(0.5 + 1 / 19)


def test_round_trip_spread_widens_the_window():
    limiter = RateLimiter(20, clock=FakeClock())
    for i in range(200):
        limiter.observe_latency(0.2 + 0.2 * (i % 100) / 99)  # 200 to 400 ms
    assert limiter.jitter_allowance() == pytest.approx(0.2, abs=0.02)
    for i in range(20):
        limiter.record_start(i * 0.05, slot=i * 0.05)
    # the 21st start waits until the 1st is more than 1 s + spread behind it
    assert limiter.earliest_start(1.0) == pytest.approx(limiter.jitter_allowance() + 1.0)


def test_one_slow_answer_does_not_widen_the_window():
    limiter = RateLimiter(19, clock=FakeClock())
    for _ in range(199):
        limiter.observe_latency(0.05)
    limiter.observe_latency(3.0)
    assert limiter.jitter_allowance() == pytest.approx(0.0)


def test_after_a_cut_the_rate_holds_just_under_the_rate_refused_then_climbs_to_target():
    limiter = RateLimiter(19, clock=FakeClock())
    limiter.on_rate_limited(now=100.0)  # refused at 19: halved to 9.5, knee 18.05
    assert limiter.rate_at(105.0) == pytest.approx(14.5)
    knee_at = 100.0 + (18.05 - 9.5)
    hold = 90.0 * 18.05 / 19
    assert limiter.rate_at(knee_at + hold - 1) == pytest.approx(18.05)
    assert limiter.rate_at(knee_at + hold + 0.5) == pytest.approx(18.55)
    assert limiter.rate_at(knee_at + hold + 1.0) == pytest.approx(19.0)


def test_a_refusal_before_the_knee_sets_a_lower_knee():
    limiter = RateLimiter(19, clock=FakeClock())
    limiter.on_rate_limited(now=100.0)  # 9.5, knee 18.05
    limiter.on_rate_limited(now=102.0)  # refused again at 11.5, still climbing
    assert limiter.rate_at(102.0) == pytest.approx(5.75)
    assert limiter.rate_at(110.0) == pytest.approx(11.5 * 0.85)  # held at the new knee


def test_a_storm_that_drove_the_rate_to_the_floor_is_soon_left():
    limiter = RateLimiter(19, clock=FakeClock())
    now = 100.0
    for _ in range(10):
        limiter.on_rate_limited(now=now)
        now += 1.01
    assert limiter.rate_at(now + 40.0) == pytest.approx(19.0)


def test_before_any_round_trip_is_seen_a_small_jitter_is_assumed():
    from tui.api.ratelimit import PRIOR_JITTER_ALLOWANCE

    limiter = RateLimiter(19, clock=FakeClock())
    assert limiter.jitter_allowance() == pytest.approx(PRIOR_JITTER_ALLOWANCE)
    for _ in range(200):
        limiter.observe_latency(0.3)  # a long but perfectly steady path
    assert limiter.jitter_allowance() == pytest.approx(0.0)


def test_the_assumed_jitter_costs_nothing_at_the_default_pace():
    import asyncio

    async def starts() -> list[float]:
        limiter = RateLimiter(19, clock=FakeClock())
        return [await limiter.acquire() for _ in range(191)]

    times = asyncio.run(starts())
    assert times[-1] - times[0] == pytest.approx(10.0)
