"""The watchlist file from the monitor: saved, read back stale, merged with other writers, never clobbered."""

from __future__ import annotations

import pytest
from tuikit import cell_text, ready, sim_app, toasts, visible_ids

from tui.core.jobstate import JobRecord
from tui.core.watchlist import WatchlistStore, dumps
from tui.monitor.watchlist_sync import SYNC_EVERY_TICKS, UNPARSABLE

pytestmark = pytest.mark.anyio
SIZE = (120, 30)


async def test_round_trip_keeps_ids_labels_states_and_history_and_marks_them_stale(clock, simulator, watchlist):
    running = simulator.create_job(fate="JobSuccess", init_seconds=0, run_seconds=600)
    done = simulator.create_job(fate="JobSuccess", init_seconds=0, run_seconds=0)
    first = sim_app(clock, simulator, watchlist)
    async with first.run_test(size=SIZE) as pilot:
        first.add_jobs([running, done])
        first.poller.set_label(running, "long render")
        await first.poller.poll_job(running)
        await first.poller.poll_job(done)
        await pilot.pause()
        request_id = first.poller.records[running].last_request_id
    # quitting saved it
    saved = {r.job_id: r for r in WatchlistStore(watchlist).load()}
    assert saved[running].label == "long render" and saved[running].status_code == "JobRunning"
    assert saved[running].last_request_id == request_id
    assert [t.to_code for t in saved[done].history] == ["JobSuccess"]

    second = sim_app(clock, simulator, watchlist)
    async with second.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert visible_ids(second) == [running, done]
        assert cell_text(second, running, "state") == "~ JobRunning"  # last known, stale until refreshed
        assert cell_text(second, running, "label") == "long render"
        assert cell_text(second, done, "state") == "✔ JobSuccess"  # a final state does not go stale
        await second.poller.poll_job(running)
        second.refresh_view()
        assert cell_text(second, running, "state") == "● JobRunning"


async def test_a_file_with_a_syntax_error_opens_read_only_with_a_banner_and_is_picked_up_once_fixed(
        clock, simulator, watchlist):
    job, added = simulator.create_job(), simulator.create_job()
    broken = f'version = 1\n[[jobs]]\nid = "{job}"\nlabel = "unclosed\n'
    watchlist.parent.mkdir(parents=True)
    watchlist.write_text(broken)
    app = sim_app(clock, simulator, watchlist)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert app.poller.records == {}
        title, detail = app.problems["watchlist"]
        assert title == UNPARSABLE and f"{watchlist}, line 4" in detail and "Fix the file" in detail
        app.add_jobs([added])
        for _ in range(2 * SYNC_EVERY_TICKS):
            app.tick_now()
        app.save_now(force=True)
        assert app.problems["watchlist"] == (title, detail), "the banner stays until the file is fixed"
        assert watchlist.read_text() == broken, "never written while it does not parse"
        assert list(watchlist.parent.glob("*.corrupt-*")) == []
        watchlist.write_text(broken.replace('"unclosed\n', '"fixed"\n'))
        for _ in range(SYNC_EVERY_TICKS):
            app.tick_now()
        await pilot.pause()
        assert "watchlist" not in app.problems
        assert sorted(visible_ids(app)) == sorted([job, added])
        assert cell_text(app, job, "label") == "fixed"
    assert sorted(r.job_id for r in WatchlistStore(watchlist).load()) == sorted([job, added])


async def test_a_file_from_a_newer_version_is_refused_and_left_untouched(clock, simulator, watchlist):
    watchlist.parent.mkdir(parents=True)
    text = 'version = 99\n[[jobs]]\nid = "0123456789abcdef0123456789abcdef"\nfuture = "yes"\n'
    watchlist.write_text(text)
    app = sim_app(clock, simulator, watchlist)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert app.problems["watchlist"][0] == "Watchlist not loaded, not saved"
        assert "newer vclm-watch" in app.problems["watchlist"][1]
        app.add_jobs([simulator.create_job()])
        app.save_now(force=True)
    assert watchlist.read_text() == text


async def test_ids_added_from_a_shell_show_up_within_a_few_seconds(clock, simulator, watchlist):
    app = sim_app(clock, simulator, watchlist)
    outside = simulator.create_job()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        # what `vclm-watch add` does: read, change, write under the lock
        WatchlistStore(watchlist).update(lambda records: records + [JobRecord(job_id=outside, label="from a shell")])
        for _ in range(SYNC_EVERY_TICKS):  # the monitor's 1 s tick syncs every SYNC_EVERY_TICKS ticks
            app.tick_now()
        await pilot.pause()
        assert visible_ids(app) == [outside]
        assert app.poller.records[outside].label == "from a shell"
        assert any("1 added" in t for t in toasts(app))


async def test_removals_and_relabels_from_another_process_are_applied(clock, simulator, watchlist):
    keep, drop = simulator.create_job(), simulator.create_job()
    app = sim_app(clock, simulator, watchlist)
    async with app.run_test(size=SIZE) as pilot:
        app.add_jobs([keep, drop])
        app.save_now()

        def change(records):
            for record in records:
                record.label = "renamed" if record.job_id == keep else record.label
            return [r for r in records if r.job_id != drop]

        WatchlistStore(watchlist).update(change)
        app.watchlist.sync()
        await pilot.pause()
        assert visible_ids(app) == [keep]
        assert cell_text(app, keep, "label") == "renamed"


async def test_saves_are_debounced_and_always_done_on_exit(clock, simulator, watchlist):
    app = sim_app(clock, simulator, watchlist)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        for _ in range(20):
            app.add_jobs([simulator.create_job()])
        assert app.watchlist.saves == 0  # nothing written synchronously per change
        app.tick_now()
        assert app.watchlist.saves == 1  # one write for the burst
        app.poller.set_label(next(iter(app.poller.records)), "last-second change")
    assert len(WatchlistStore(watchlist).load()) == 20
    assert any(r.label == "last-second change" for r in WatchlistStore(watchlist).load())


async def test_the_demo_watchlist_is_apart_from_the_users(isolated_home, monkeypatch):
    import tui.core.settings
    import tui.monitor.launch
    from tui.core import paths

    user = WatchlistStore(paths.watchlist_path())
    user.update(lambda _r: [JobRecord(job_id="ab" * 16, label="mine")])
    before = paths.watchlist_path().read_text()
    paths.demo_watchlist_path().parent.mkdir(parents=True, exist_ok=True)
    paths.demo_watchlist_path().write_text(dumps([JobRecord(job_id="cd" * 16, label="old demo")]))

    app = await tui.monitor.launch.build_demo_app(tui.core.settings.default_settings())
    assert app.store.path == paths.demo_watchlist_path()
    demo = WatchlistStore(paths.demo_watchlist_path()).load()
    assert len(demo) == 12 and "cd" * 16 not in {r.job_id for r in demo}  # recreated
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert len(visible_ids(app)) == 12
        await pilot.press("q")
    assert paths.watchlist_path().read_text() == before


async def test_a_failed_save_is_shown_keeps_the_list_and_is_retried_without_another_change(
        clock, simulator, watchlist, monkeypatch):
    import errno
    import os

    app = sim_app(clock, simulator, watchlist)
    real_replace = os.replace
    disk = {"full": True}

    def replace(src, dst, *args, **kwargs):
        if disk["full"] and str(dst) == str(watchlist):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    job = simulator.create_job()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        app.add_jobs([job])
        app.tick_now()
        assert "watchlist" in app.problems  # the banner says it was not saved
        assert job in app.poller.records
        disk["full"] = False
        app.tick_now()  # the next tick saves, with no new change to prompt it
        assert [r.job_id for r in WatchlistStore(watchlist).load()] == [job]
        assert "watchlist" not in app.problems
