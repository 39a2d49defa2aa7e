"""The monitor's view model on its own: no Textual, no screen, records and events built by hand."""

from __future__ import annotations

import pytest

from tui.api.clock import FakeClock
from tui.core.events import JobAdded, JobRemoved, JobsAdded, JobUpdated, StateChanged
from tui.core.jobstate import JobRecord, LastError
from tui.monitor.job_view import FLASH_SECONDS, JobView

START = 1_764_000_000.0


def ids(n: int) -> list[str]:
    return [f"{k:032x}" for k in range(n)]


class World:
    """A view over a dict of records, fed the events the engine would publish."""

    def __init__(self, rate: float = 19.0, min_interval: float = 2.0) -> None:
        self.clock = FakeClock(start=START)
        self.records: dict[str, JobRecord] = {}
        self.view = JobView(self.records, min_interval=min_interval, rate=lambda: rate)

    def add(self, job_id: str, **fields) -> JobRecord:
        record = JobRecord(job_id=job_id, added_at=self.clock.time(), **fields)
        self.records[job_id] = record
        self.view.apply(JobAdded(record), self.clock.monotonic())
        return record

    def remove(self, job_id: str) -> None:
        self.view.apply(JobRemoved(self.records.pop(job_id)), self.clock.monotonic())

    def answer(self, record: JobRecord, code: str) -> None:
        previous, record.status_code = record.status_code, code
        record.last_polled = self.clock.time()
        record.last_change = self.clock.time()
        self.view.apply(JobUpdated(record), self.clock.monotonic())
        if previous != code:
            self.view.apply(StateChanged(record, previous, code, self.clock.time()), self.clock.monotonic())

    def update(self, **kwargs):
        return self.view.update(self.clock.time(), self.clock.monotonic(), **kwargs)


def test_jobs_show_in_the_order_they_were_added():
    world = World()
    for job_id in reversed(ids(3)):
        world.add(job_id)
    assert world.update(full=True).order == list(reversed(ids(3)))


def test_a_job_removed_and_added_again_comes_last_in_the_added_order():
    world = World()
    a, b, c = ids(3)
    for job_id in (a, b, c):
        world.add(job_id)
    world.remove(a)
    world.add(a)
    world.view.set_sort("state")
    world.update(full=True)
    world.view.set_sort("added")
    assert world.update(full=True).order == [b, c, a]


def test_the_state_sort_puts_what_needs_attention_first():
    world = World()
    a, b, c = (world.add(job_id) for job_id in ids(3))
    world.answer(a, "JobSuccess")
    world.answer(b, "JobRunning")
    world.answer(c, "JobFailed")
    assert world.view.set_sort("state")
    assert world.update(full=True).order == [c.job_id, b.job_id, a.job_id]


def test_an_unknown_sort_mode_is_refused_and_changes_nothing():
    world = World()
    assert not world.view.set_sort("colour")
    assert world.view.sort_mode == "added"


def test_sort_modes_cycle_back_to_the_first():
    view = World().view
    seen = [view.sort_mode]
    for _ in range(4):
        view.set_sort(view.next_sort_mode())
        seen.append(view.sort_mode)
    assert seen == ["added", "state", "age", "last change", "added"]


def test_every_filter_word_must_match_id_label_state_or_error_code():
    world = World()
    a, b = (world.add(job_id) for job_id in ids(2))
    a.label = "nightly render"
    b.last_error = LastError("InternalError", "boom", None, START)
    world.view.set_filter("nightly")
    assert world.update(full=True).order == [a.job_id]
    world.view.set_filter("error internalerror")
    assert world.update(full=True).order == [b.job_id]
    world.view.set_filter("nightly internalerror")
    assert world.update(full=True).order == []


def test_hiding_finished_jobs_drops_them_until_shown_again():
    world = World()
    a, b = (world.add(job_id) for job_id in ids(2))
    world.answer(a, "JobSuccess")
    world.view.hide_finished = True
    assert world.update(full=True).order == [b.job_id]
    world.view.hide_finished = False
    assert world.update(full=True).order == [a.job_id, b.job_id]


def test_counts_follow_answers_without_recounting_from_scratch():
    world = World()
    a, b = (world.add(job_id) for job_id in ids(2))
    world.update(full=True)
    assert world.view.counts() == {"pending": 2}
    world.answer(a, "JobRunning")
    world.update()
    assert world.view.counts() == {"pending": 1, "running": 1}
    world.remove(b.job_id)
    world.update()
    assert world.view.counts() == {"running": 1}


def test_an_update_re_renders_only_the_rows_events_touched():
    world = World()
    a, b = (world.add(job_id) for job_id in ids(2))
    world.update(full=True)
    world.answer(a, "JobRunning")
    assert world.update().dirty == {a.job_id}
    assert world.update().dirty == set()
    world.view.touch(b.job_id)
    assert world.update().dirty == {b.job_id}
    assert world.update(full=True).dirty is None


def test_jobs_added_at_once_are_drawn_by_a_full_update_when_they_are_most_of_the_watchlist():
    world = World()
    first = [JobRecord(job_id=job_id, status_code="JobRunning") for job_id in ids(4)]
    world.records.update((r.job_id, r) for r in first)
    world.view.apply(JobsAdded(tuple(first)), world.clock.monotonic())  # a watchlist loaded
    update = world.update()
    assert update.dirty is None and update.order == ids(4) and world.view.counts() == {"running": 4}
    more = [JobRecord(job_id=job_id) for job_id in ids(6)[4:]]
    world.records.update((r.job_id, r) for r in more)
    world.view.apply(JobsAdded(tuple(more)), world.clock.monotonic())  # a few added to it
    update = world.update()
    assert update.dirty == set(ids(6)[4:]) and update.order == ids(6)
    assert world.view.counts() == {"running": 4, "pending": 2}


def test_the_order_list_is_kept_while_nothing_moved():
    world = World()
    for job_id in ids(3):
        world.add(job_id)
    first = world.update(full=True).order
    assert world.update(tick=True).order is first  # the table skips its reorder on the same list


@pytest.mark.parametrize(("active", "rate", "expected"), [(1, 19.0, 6.0), (190, 19.0, 30.0), (190, 10.0, 57.0)])
def test_the_stale_threshold_grows_with_the_jobs_that_share_the_rate(active, rate, expected):
    world = World(rate=rate)
    for job_id in ids(active):
        world.add(job_id)
    assert world.view.stale_threshold() == pytest.approx(expected)


def test_a_running_job_turns_stale_on_the_tick_after_its_threshold_passes():
    world = World()
    record = world.add(ids(1)[0])
    world.answer(record, "JobRunning")
    assert world.update(full=True).states[record.job_id] == "running"
    world.clock.advance(world.view.stale_threshold() + 1)
    assert world.update(tick=True).states[record.job_id] == "stale"
    assert world.view.counts() == {"stale": 1}


def test_a_finished_job_never_turns_stale():
    world = World()
    record = world.add(ids(1)[0])
    world.answer(record, "JobSuccess")
    world.update(full=True)
    world.clock.advance(10_000)
    assert world.update(tick=True).states[record.job_id] == "success"


def test_a_transition_flashes_its_row_for_a_while():
    world = World()
    record = world.add(ids(1)[0])
    world.answer(record, "JobRunning")
    assert world.update().flashing == {record.job_id}
    world.clock.advance(FLASH_SECONDS + 0.1)
    world.view.expire_flashes(world.clock.monotonic())
    update = world.update()
    assert update.flashing == frozenset()
    assert record.job_id in update.dirty  # redrawn without the highlight
