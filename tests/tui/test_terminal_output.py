"""What the monitor sends to the terminal when little changes: the changed text, not the lines
around it (bytes over SSH, and the CPU that encodes them)."""

from __future__ import annotations

import pytest
from rich.console import Console
from rich.segment import Segment
from textual._compositor import ChopsUpdate
from textual.drivers.headless_driver import HeadlessDriver
from textual.strip import Strip
from tuikit import ready, view_app

from tui.core.jobstate import JobRecord
from tui.monitor.launch import create_app
from tui.monitor.partial_update import from_segment_at

pytestmark = pytest.mark.anyio


class CapturingTerminal(HeadlessDriver):
    """A terminal that keeps what it is sent: the App encodes every frame as for a real one."""

    written: list[str] = []

    @property
    def is_headless(self) -> bool:
        return False

    def write(self, data: str) -> None:
        CapturingTerminal.written.append(data)

    def flush(self) -> None:
        pass


def running_records(clock, n: int = 12) -> list[JobRecord]:
    now = clock.time()
    return [JobRecord(job_id=f"{k:032x}", label=f"label-{k:02d}", added_at=now, status_code="JobRunning",
                      status_msg="处理中", state_since=now - 5, last_change=now - 5, last_polled=now - 1)
            for k in range(n)]


async def run_captured(app, size, script) -> None:
    app.driver_class = CapturingTerminal
    CapturingTerminal.written = []
    failure: list[BaseException] = []

    async def drive(pilot) -> None:
        try:
            await script(pilot)
        except BaseException as exc:  # noqa: BLE001 - re-raised once the app has stopped
            failure.append(exc)
        finally:
            app.exit(0)

    await app.run_async(size=size, auto_pilot=drive)
    if failure:
        raise failure[0]


async def test_a_tick_that_moves_only_the_polled_times_sends_those_cells_alone(clock):
    records = running_records(clock)
    app = view_app(clock, records)

    async def script(pilot) -> None:
        await ready(pilot)
        await pilot.pause()
        CapturingTerminal.written.clear()
        clock.advance(1)  # every "Polled" goes from 1s ago to 2s ago; nothing else on the rows moves
        app.tick_now()
        await pilot.pause()
        await pilot.pause()
        sent = "".join(CapturingTerminal.written)
        assert sent.count("2s ago") == len(records)
        for record in records:  # the rest of each row stays as it was on the terminal
            assert record.label not in sent
            assert record.job_id[:8] not in sent
        assert "JobRunning" not in sent

    await run_captured(app, (100, 24), script)


def test_a_partial_update_starts_at_the_segment_where_the_change_does():
    strip = Strip([Segment("first cell "), Segment("second cell "), Segment("changed   ")])
    update = ChopsUpdate([{0: strip}], [(0, 23, 33)], [[strip.cell_length]])
    console = Console(width=40, color_system="truecolor", force_terminal=True)
    create_app()  # building the monitor is what installs the cut
    sent = update.render_segments(console)
    assert sent.startswith("\x1b[1;24H")  # row 1, column 24: where "changed" begins
    assert "changed" in sent and "first" not in sent and "second" not in sent


def test_the_cut_never_splits_a_wide_character():
    strip = Strip([Segment("处理中 "), Segment("ok")])
    assert from_segment_at(strip, 3) == (0, strip)  # cell 3 is inside the first segment
    start, rest = from_segment_at(strip, 7)
    assert start == 7 and rest.text == "ok"


async def test_a_new_status_text_sends_only_what_changed_in_it(clock):
    from dataclasses import replace

    from tui.monitor.widgets.status_bar import StatusBar

    app = view_app(clock, running_records(clock))

    async def script(pilot) -> None:
        await ready(pilot)
        await pilot.pause()
        bar = app.screen.query_one(StatusBar)
        CapturingTerminal.written.clear()
        bar.show(replace(bar.info, sort="state"), app.palette)  # as pressing s does, less the rest
        await pilot.pause()
        sent = "".join(CapturingTerminal.written)
        assert "sort:state" in sent
        assert "ap-guangzhou" not in sent and "credentials" not in sent  # the second line did not move
        assert "●12" not in sent  # nor the counts before the change on the first

    await run_captured(app, (100, 24), script)


async def test_a_tick_sends_the_detail_panes_changed_times_not_the_pane(clock):
    records = running_records(clock, 5)
    app = view_app(clock, records)

    async def script(pilot) -> None:
        await ready(pilot)
        await pilot.pause()
        assert app.detail_visible
        CapturingTerminal.written.clear()
        clock.advance(1)
        app.tick_now()
        await pilot.pause()
        await pilot.pause()
        sent = "".join(CapturingTerminal.written)
        assert "(6s)" in sent  # "Since" moved from 5s to 6s...
        assert "Reproduce" not in sent and "tccli" not in sent  # ...the rest of the pane stayed
        assert records[0].job_id not in sent

    await run_captured(app, (160, 45), script)


async def test_what_startup_built_is_frozen_out_of_the_collectors_reach(clock):
    import gc

    gc.unfreeze()  # (an earlier monitor in this process froze its own)
    app = view_app(clock, running_records(clock))
    try:
        async with app.run_test(size=(100, 24)) as pilot:
            await ready(pilot)
            await pilot.pause()
            assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


async def test_the_collector_that_vclm_watch_turns_off_for_startup_is_on_again_after_the_first_frame(clock):
    import gc

    app = view_app(clock, running_records(clock))
    gc.disable()  # as tui/cli.py does before the monitor starts
    try:
        async with app.run_test(size=(100, 24)) as pilot:
            await ready(pilot)
            await pilot.pause()
            assert gc.isenabled()
    finally:
        gc.enable()
        gc.unfreeze()
