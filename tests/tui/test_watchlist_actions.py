"""Managing the watchlist from the monitor: add (typed, pasted, invalid, duplicate), remove, undo, label, import."""

from __future__ import annotations

import pytest
from textual import events
from tuikit import IDS, cell_text, ready, sim_app, toasts, view_app, visible_ids

from tui.core.watchlist import WatchlistStore
from tui.monitor.screens.add_jobs import AddJobsScreen
from tui.monitor.screens.import_file import ImportFileScreen
from tui.monitor.screens.label import LabelScreen

pytestmark = pytest.mark.anyio
SIZE = (120, 30)


async def test_add_a_single_typed_id(clock, simulator, watchlist):
    job = simulator.create_job(fate="JobSuccess")
    app = sim_app(clock, simulator, watchlist)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("a")
        await pilot.press(*job.upper(), "enter")  # upper case is folded
        await pilot.pause()
        assert not isinstance(app.screen, AddJobsScreen)
        assert visible_ids(app) == [job]
        assert app.selected_job_id == job
        assert any("Added 1 job" in t for t in toasts(app))
    assert [r.job_id for r in WatchlistStore(watchlist).load()] == [job]


async def test_add_ids_found_in_pasted_log_text(clock, simulator, watchlist):
    first, second = simulator.create_job(), simulator.create_job()
    log_text = (
        f"2025-11-24 10:00:01 INFO submitted JobId={first} RequestId=6c2f4a1e-8b3d-4c5e-9f70-000000000001\n"
        f'{{"Response": {{"JobId": "{second}", "RequestId": "6c2f4a1e-8b3d-4c5e-9f70-000000000002"}}}}\n'
        f"retrying {first}\n"
    )
    app = sim_app(clock, simulator, watchlist)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("a")
        pilot.app.post_message(events.Paste(log_text))
        await pilot.pause()
        await pilot.press("tab", *"from logs", "enter")
        await pilot.pause()
        assert visible_ids(app) == [first, second]
        assert {app.poller.records[j].label for j in (first, second)} == {"from logs"}
        assert any("1 repeated in the text" in t for t in toasts(app)), toasts(app)


async def test_a_malformed_id_is_refused_inline_and_nothing_is_added(clock, simulator, watchlist):
    app = sim_app(clock, simulator, watchlist)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("a")
        pilot.app.post_message(events.Paste("3f2a9c0d1e4b5a6978c8d7e6f5a4b3c"))  # 31 characters
        await pilot.press("enter")
        assert isinstance(app.screen, AddJobsScreen)
        error = app.screen.query_one("#add-error")
        assert error.has_class("-shown")
        assert "31 characters" in str(error.render())
        assert app.poller.records == {}
        await pilot.press("enter")  # enter again: still nothing valid to add
        assert app.poller.records == {}
        await pilot.press("escape")
        assert not isinstance(app.screen, AddJobsScreen)
        assert app.poller.records == {}


async def test_with_valid_and_malformed_ids_nothing_is_added_until_confirmed(clock, simulator, watchlist):
    good = simulator.create_job()
    app = sim_app(clock, simulator, watchlist)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("a")
        pilot.app.post_message(events.Paste(f"{good}\n{good[:-2]}zz\n"))
        await pilot.pause()
        await pilot.press("enter")
        assert isinstance(app.screen, AddJobsScreen) and app.poller.records == {}
        await pilot.press("enter")  # the error said: enter again adds the valid ones only
        await pilot.pause()
        assert visible_ids(app) == [good]
        assert any("ignored 1 malformed" in t for t in toasts(app))


async def test_ids_already_watched_are_skipped_with_a_note(clock):
    app = view_app(clock)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        before = visible_ids(app)
        await pilot.press("a")
        pilot.app.post_message(events.Paste(f"{IDS['running']} 00000000000000000000000000000001"))
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert visible_ids(app) == before + ["00000000000000000000000000000001"]
        assert any("skipped 1 already watched" in t for t in toasts(app))


async def test_remove_then_undo_restores_the_job_with_its_label_and_state(clock):
    app = view_app(clock)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        app.table.select_job(IDS["failed"])
        await pilot.press("d")
        assert IDS["failed"] not in visible_ids(app)
        assert IDS["failed"] not in app.poller.records
        assert app.selected_job_id == IDS["moderation"]  # the cursor stays in place, on the neighbour
        await pilot.press("u")
        await pilot.pause()
        assert IDS["failed"] in visible_ids(app)
        assert app.poller.records[IDS["failed"]].label == "ink-wash short"
        assert cell_text(app, IDS["failed"], "state") == "✘ JobFailed"
        assert app.selected_job_id == IDS["failed"]


async def test_remove_is_saved_and_undo_saves_it_back(clock, simulator, watchlist):
    job = simulator.create_job()
    app = sim_app(clock, simulator, watchlist)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        app.add_jobs([job], "keep me")
        await pilot.pause()
        await pilot.press("d")
        app.save_now()
        assert WatchlistStore(watchlist).load() == []
        await pilot.press("u")
        app.save_now()
        assert [(r.job_id, r.label) for r in WatchlistStore(watchlist).load()] == [(job, "keep me")]


async def test_label_a_job(clock):
    app = view_app(clock)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        app.table.select_job(IDS["pending"])
        await pilot.press("l")
        assert isinstance(app.screen, LabelScreen)
        app.screen.query_one("#label-input").value = "[bold]render v2[/bold]"
        await pilot.press("enter")
        await pilot.pause()
        assert app.poller.records[IDS["pending"]].label == "[bold]render v2[/bold]"
        assert cell_text(app, IDS["pending"], "label").startswith("[bold]render v2")  # shown, not obeyed


async def test_label_dialog_escape_keeps_the_label(clock):
    app = view_app(clock)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        app.table.select_job(IDS["running"])
        await pilot.press("l", "x", "escape")
        assert app.poller.records[IDS["running"]].label == "anime opening"


async def test_import_ids_from_a_file(clock, simulator, watchlist, tmp_path):
    ids = [simulator.create_job() for _ in range(3)]
    source = tmp_path / "jobs.log"
    source.write_text("\n".join(f"job {i} -> {job_id}" for i, job_id in enumerate(ids)))
    app = sim_app(clock, simulator, watchlist)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("i")
        assert isinstance(app.screen, ImportFileScreen)
        app.screen.query_one("#import-path").value = str(source)
        await pilot.press("enter")
        await pilot.pause()
        assert visible_ids(app) == ids


async def test_import_of_a_missing_file_says_so_inline(clock, simulator, watchlist, tmp_path):
    app = sim_app(clock, simulator, watchlist)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("i")
        app.screen.query_one("#import-path").value = str(tmp_path / "nope.txt")
        await pilot.press("enter")
        assert isinstance(app.screen, ImportFileScreen)
        assert "No such file" in str(app.screen.query_one("#import-error").render())
        assert app.poller.records == {}
