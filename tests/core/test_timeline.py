"""A job's timeline bar: the states in order, the time in each, and the cells each gets."""

from __future__ import annotations

import pytest

from tui.core.jobstate import Transition
from tui.core.timeline import bar_seconds, cell_widths, stretches, total_seconds

NOW = 1_764_000_000.0


def history(*steps: tuple[float, str]) -> list[Transition]:
    """(seconds before NOW, code) in order; each transition from the code before it."""
    out: list[Transition] = []
    for ago, code in steps:
        out.append(Transition(NOW - ago, out[-1].to_code if out else None, code))
    return out


def test_each_state_lasts_until_the_next_and_the_current_one_until_now():
    parts = stretches(history((600, "JobInit"), (540, "JobRunning"), (240, "JobInit"), (180, "JobRunning")), NOW)
    assert [(p.code, p.state, p.seconds, p.current) for p in parts] == [
        ("JobInit", "init", 60, False), ("JobRunning", "running", 300, False),
        ("JobInit", "init", 60, False), ("JobRunning", "running", 180, True)]
    assert total_seconds(parts) == 600


def test_a_finished_state_has_no_duration_and_the_total_ends_where_the_job_finished():
    parts = stretches(history((600, "JobInit"), (500, "JobRunning"), (200, "JobFailed")), NOW)
    assert [(p.state, p.seconds) for p in parts] == [("init", 100), ("running", 300), ("failed", None)]
    assert total_seconds(parts) == 400


def test_a_repeated_code_is_one_state_an_unknown_code_is_unknown_and_a_clock_gone_back_is_no_time():
    parts = stretches(history((300, "JobQueued"), (200, "JobQueued"), (100, "JobRunning")), NOW + 0)
    assert [(p.code, p.state, p.seconds) for p in parts] == [("JobQueued", "unknown", 200), ("JobRunning", "running", 100)]
    assert stretches([Transition(NOW + 50, None, "JobRunning")], NOW)[0].seconds == 0
    assert stretches([], NOW) == []


@pytest.mark.parametrize(("seconds", "width", "widths"), [
    ([60, 300, 60, 180], 60, [6, 30, 6, 18]),  # in proportion, to the cell
    ([10, 20], 33, [11, 22]),
    ([1, 1, 1], 10, [4, 3, 3]),  # remainders tie: the earlier stretch takes the spare cell
    ([1, 10_000], 10, [1, 9]),  # a short state still shows: one cell
    ([100, 300, None], 41, [10, 30, 1]),  # the finished state: one cell, its marker
    ([0, 0], 8, [1, 7]),  # no time yet: the current state takes the bar
    ([5, 5, 5, 5], 2, [0, 0, 1, 1]),  # fewer cells than states: the latest show
    ([5], 0, [0]),
    ([None], 5, [1]),
])
def test_cell_widths(seconds, width, widths):
    assert cell_widths(seconds, width) == widths
    if any(s is not None for s in seconds) and width >= len(seconds):
        assert sum(widths) == width


def test_the_bar_times_change_every_few_seconds_not_every_second_and_stay_true_to_a_cell():
    steps = history((1200, "JobInit"), (1080, "JobRunning"))
    keys = [bar_seconds(stretches(steps, NOW + t)) for t in range(16)]
    assert 1 < len(set(keys)) <= 3  # 16 s of a 20-minute job: a step of 8 s
    for t in range(16):
        exact = [p.seconds for p in stretches(steps, NOW + t)]
        drawn = cell_widths(keys[t], 200)
        true = cell_widths(exact, 200)
        assert all(abs(a - b) <= 1 for a, b in zip(drawn, true)), (t, drawn, true)
