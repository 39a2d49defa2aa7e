"""Keeping results from the monitor: `D`, the palette's downloads, auto_download, what the detail pane,
the status bar and the table show, and quitting mid-download (the in-process simulator serves the files)."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest
from rich.text import Text
from tuikit import IDS, START, cell_text, drawn, ready, sample_records, sim_app, toasts, until, view_app

from tui.api.clock import FakeClock
from tui.core.downloads import DownloadState, DownloadTotals
from tui.core.formatting import byte_size
from tui.core.watchlist import WatchlistStore
from tui.monitor.commands import monitor_commands
from tui.monitor.downloads import REDRAW_SECONDS
from tui.monitor.keys import KEYS, PALETTE_ONLY
from tui.monitor.widgets.detail_pane import DetailPane, download_lines, progress_bar
from tui.monitor.widgets.job_table import SAVED_MARK
from tui.monitor.widgets.state_style import StatePalette
from tui.monitor.widgets.status_bar import StatusInfo, render_status
from tui.simulator.service import Simulator

pytestmark = pytest.mark.anyio
SIZE = (120, 30)
RESULTS = "http://127.0.0.1/results/"


@pytest.fixture
def files_sim(clock) -> Simulator:
    return Simulator(seed=7, clock=clock, result_base=RESULTS)


@pytest.fixture
def downloads(tmp_path):
    return tmp_path / "videos"


def sha256_of(sim: Simulator, job_id: str) -> str:
    digest = hashlib.sha256()
    for chunk in sim.results.content(job_id):
        digest.update(chunk)
    return digest.hexdigest()


async def succeeded(app, sim: Simulator, pilot, label: str = "teaser") -> str:
    job = sim.create_job(fate="JobSuccess", init_seconds=0, run_seconds=0)
    app.add_jobs([job], label)
    await app.poller.poll_job(job)
    await drawn(pilot)
    app.table.select_job(job)
    return job


def detail_text(app) -> str:
    return app.screen.query_one(DetailPane).text


# -- the pure parts ------------------------------------------------------------------------------

@pytest.mark.parametrize(("n", "text"), [(0, "0 B"), (999, "999 B"), (1000, "1.00 kB"), (14_300_000, "14.3 MB"),
                                         (1_200_000_000, "1.20 GB"), (None, "?")])
def test_sizes_read_as_a_person_reads_them(n, text):
    assert byte_size(n) == text


def test_the_progress_bar_fills_by_twentieths_and_says_the_percentage():
    assert progress_bar(0, 100, "").plain == "░" * 20 + "   0 %"
    assert progress_bar(61, 100, "").plain == "█" * 12 + "░" * 8 + "  61 %"
    assert progress_bar(100, 100, "").plain == "█" * 20 + " 100 %"
    assert progress_bar(5, None, "").plain == "░" * 20  # no size known: no percentage made up


def test_the_detail_pane_s_download_lines_in_every_phase(clock):
    record = sample_records(clock)[2]  # the succeeded job
    p = StatePalette()
    plain = lambda lines: "\n".join(line.plain for line in lines)  # noqa: E731
    assert "not yet: D downloads the video" in plain(download_lines(record, None, p))
    running = DownloadState(record.job_id, "running", received=6_000_000, total=10_000_000, rate=2_000_000.0)
    text = plain(download_lines(record, running, p))
    assert "█" * 12 + "░" * 8 + "  60 %" in text and "6.00 MB of 10.0 MB · 2.00 MB/s" in text
    assert f"{running.eta:.0f}s left" in text or "2s left" in text
    assert "queued" in plain(download_lines(record, DownloadState(record.job_id, "queued"), p))
    failed = DownloadState(record.job_id, "failed", error="[red]disk full[/red]")
    assert "failed: [red]disk full[/red] · D tries again" in plain(download_lines(record, failed, p))
    gone = plain(download_lines(record, DownloadState(record.job_id, "gone"), p))
    assert "the service no longer has this result" in gone
    done = DownloadState(record.job_id, "done", received=1234, total=1234, path="/v/[b]x.mp4", sha256="ab" * 32)
    lines = download_lines(record, done, p)
    assert all(isinstance(line, Text) for line in lines)
    assert "✔ /v/[b]x.mp4  (1.23 kB)" in plain(lines) and "ab" * 32 in plain(lines)


def test_a_failed_job_has_no_download_line(clock):
    assert download_lines(sample_records(clock)[3], None, StatePalette()) == []


def test_the_status_bar_sums_up_running_downloads_and_fits_80_columns():
    totals = DownloadTotals(active=2, queued=1, done=0, failed=0, received=61, total=100, rate=14_300_000.0)
    info = StatusInfo(counts={"running": 3, "success": 2}, shown=5, total=5, measured_rate=3.2,
                      region="ap-guangzhou", endpoint="vclm.tencentcloudapi.com", credentials="AKID…0000 from env",
                      downloads=totals)
    wide = render_status(info, StatePalette(), 160).plain
    assert "⇣ 2 (+1 queued) · 14.3 MB/s · 61 %" in wide
    at_80 = render_status(info, StatePalette(), 78).plain.splitlines()[0]  # 80 columns less the bar's padding
    assert len(at_80) <= 78 and "⇣ 2 (+1 queued) · 14.3 MB/s · 61 %" in at_80
    info.paused, info.hide_finished, info.filter_text = True, True, "anime"
    crowded = render_status(info, StatePalette(), 50).plain.splitlines()[0]
    assert len(crowded) <= 50 and "⇣2 61%" in crowded
    idle = DownloadTotals(active=0, queued=0, done=3, failed=0, received=0, total=0, rate=0.0)
    assert "⇣" not in render_status(StatusInfo(downloads=idle), StatePalette(), 160).plain


def test_D_and_the_palette_s_downloads_are_in_the_key_table():
    key = next(k for k in KEYS if k.binding_id == "monitor.download")
    assert key.keys == "D" and key.command and key.on_screen
    assert [name for name, _help, _action in PALETTE_ONLY] == [
        "Download all finished jobs not yet saved", "Download finished jobs matching the filter"]


# -- the monitor ----------------------------------------------------------------------------------

async def test_D_saves_the_selected_finished_job_with_the_right_checksum(clock, files_sim, watchlist, downloads):
    app = sim_app(clock, files_sim, watchlist, download_dir=downloads)
    async with app.run_test(size=(160, 45)) as pilot:
        job = await succeeded(app, files_sim, pilot)
        await pilot.press("D")
        await until(pilot, lambda: app.poller.records[job].saved_path, "the download")
        await drawn(pilot)
        saved = downloads / f"{job}.mp4"
        assert app.poller.records[job].saved_path == str(saved)
        assert hashlib.sha256(saved.read_bytes()).hexdigest() == sha256_of(files_sim, job)
        assert app.poller.records[job].saved_sha256 == sha256_of(files_sim, job)
        assert str(saved) in detail_text(app) and sha256_of(files_sim, job) in detail_text(app)
        assert cell_text(app, job, "state").endswith(" " + SAVED_MARK)
        assert any(f"Saving teaser to {downloads}" in t for t in toasts(app))
        assert not list(downloads.glob("*.part"))


async def test_D_on_an_unfinished_job_says_why_and_downloads_nothing(clock, files_sim, watchlist, downloads):
    app = sim_app(clock, files_sim, watchlist, download_dir=downloads)
    async with app.run_test(size=SIZE) as pilot:
        job = files_sim.create_job(fate="JobSuccess", init_seconds=0, run_seconds=600)
        app.add_jobs([job], "slow")
        await app.poller.poll_job(job)
        await drawn(pilot)
        app.table.select_job(job)
        await pilot.press("D")
        await pilot.pause()
        assert any("slow: not downloaded: it has not succeeded" in t for t in toasts(app))
        assert app.downloads.state(job) is None and not downloads.exists()


async def test_without_download_dir_D_saves_in_the_current_directory_and_says_so(clock, files_sim, watchlist, tmp_path,
                                                                                   monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = sim_app(clock, files_sim, watchlist)
    async with app.run_test(size=SIZE) as pilot:
        job = await succeeded(app, files_sim, pilot)
        await pilot.press("D")
        await until(pilot, lambda: app.poller.records[job].saved_path, "the download")
        assert (tmp_path / f"{job}.mp4").is_file()
        assert any(f"Saving teaser to {tmp_path} (the current directory; set download_dir" in t for t in toasts(app))


async def test_the_palette_downloads_every_finished_job_not_saved_yet(clock, files_sim, watchlist, downloads):
    app = sim_app(clock, files_sim, watchlist, download_dir=downloads)
    async with app.run_test(size=SIZE) as pilot:
        done = [files_sim.create_job(fate="JobSuccess", init_seconds=0, run_seconds=0) for _ in range(3)]
        failed = files_sim.create_job(fate="JobFailed", init_seconds=0, run_seconds=0)
        running = files_sim.create_job(fate="JobSuccess", init_seconds=0, run_seconds=600)
        app.add_jobs([*done, failed, running])
        for job in [*done, failed, running]:
            await app.poller.poll_job(job)
        await drawn(pilot)
        [run] = [cb for name, _h, cb in monitor_commands(app) if name == "Download all finished jobs not yet saved"]
        await run()
        await until(pilot, lambda: all(app.poller.records[j].saved_path for j in done), "the downloads")
        assert sorted(p.name for p in downloads.iterdir()) == sorted(f"{j}.mp4" for j in done)
        assert any("Saving 3 videos to" in t for t in toasts(app))
        await run()  # again: nothing left
        await pilot.pause()
        assert any("No finished job left to download (3 saved already)." in t for t in toasts(app))


async def test_the_palette_downloads_the_finished_jobs_matching_the_filter(clock, files_sim, watchlist, downloads):
    app = sim_app(clock, files_sim, watchlist, download_dir=downloads)
    async with app.run_test(size=SIZE) as pilot:
        keep = files_sim.create_job(fate="JobSuccess", init_seconds=0, run_seconds=0)
        other = files_sim.create_job(fate="JobSuccess", init_seconds=0, run_seconds=0)
        app.add_jobs([keep], "keep me")
        app.add_jobs([other], "other")
        for job in (keep, other):
            await app.poller.poll_job(job)
        app.set_filter("keep")
        await drawn(pilot)
        [run] = [cb for name, _h, cb in monitor_commands(app) if name == "Download finished jobs matching the filter"]
        await run()
        await until(pilot, lambda: app.poller.records[keep].saved_path, "the download")
        await pilot.pause()
        assert [p.name for p in downloads.iterdir()] == [f"{keep}.mp4"]
        assert app.downloads.state(other) is None


async def test_auto_download_saves_a_job_as_it_reaches_JobSuccess(clock, files_sim, watchlist, downloads):
    app = sim_app(clock, files_sim, watchlist, download_dir=downloads, auto_download=True)
    async with app.run_test(size=SIZE) as pilot:
        job = files_sim.create_job(fate="JobSuccess", init_seconds=0, run_seconds=10)
        app.add_jobs([job], "auto")
        await app.poller.poll_job(job)
        await drawn(pilot)
        assert app.downloads.state(job) is None  # running: nothing to save yet
        clock.advance(11)
        await app.poller.poll_job(job)
        await until(pilot, lambda: app.poller.records[job].saved_path, "the automatic download")
        assert hashlib.sha256((downloads / f"{job}.mp4").read_bytes()).hexdigest() == sha256_of(files_sim, job)


async def test_auto_download_without_download_dir_saves_nothing_and_says_so(clock, files_sim, watchlist, tmp_path,
                                                                            monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = sim_app(clock, files_sim, watchlist, auto_download=True)
    async with app.run_test(size=SIZE) as pilot:
        await succeeded(app, files_sim, pilot)
        await pilot.pause()
        assert any("auto_download is on but no download_dir is set" in t for t in toasts(app))
        assert not list(tmp_path.glob("*.mp4*"))


async def test_progress_is_drawn_at_most_every_quarter_second_and_at_each_phase_change(clock, watchlist, downloads):
    app = view_app(clock)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(pilot)
        job = IDS["success"]
        app.table.select_job(job)
        rows: list[str] = []
        panes: list[str] = []
        app.downloads.attach(touched=rows.append, changed=lambda: panes.append("drawn"), notice=lambda *a, **k: None)
        for n in range(10):  # ten chunks within the same quarter second: the row once (queued→running), no more
            app.downloads.on_state(DownloadState(job, "running", received=n * 1000, total=10_000, rate=1e6))
        assert (rows, panes) == ([job], [])
        clock.advance(REDRAW_SECONDS)
        app.downloads.on_state(DownloadState(job, "running", received=9_000, total=10_000, rate=1e6))
        app.downloads.on_state(DownloadState(job, "running", received=9_500, total=10_000, rate=1e6))
        assert (rows, panes) == ([job], ["drawn"])  # a quarter second on: the panes, once
        app.downloads.on_state(DownloadState(job, "done", received=10_000, total=10_000, path="/x.mp4", sha256="0" * 64))
        assert rows == [job, job]  # a phase change: at once, with its row


class HeldClock(FakeClock):
    """A fake clock whose sleepers, once `hold_after` more sleeps have run, wait until released:
    a trickled result file stops mid-body, deterministically, until the test lets it go on."""

    def __init__(self, start: float) -> None:
        super().__init__(start)
        self.left: int | None = None
        self.waiting = 0
        self.released = asyncio.Event()

    def hold_after(self, sleeps: int) -> None:
        self.left = sleeps

    async def sleep(self, seconds: float) -> None:
        await super().sleep(seconds)
        if self.left is not None and self.left <= 0:
            self.waiting += 1
            await self.released.wait()
        elif self.left is not None:
            self.left -= 1


async def test_quitting_mid_download_leaves_a_part_and_the_next_start_completes_it(watchlist, downloads):
    clock = HeldClock(START)
    sim = Simulator(seed=7, clock=clock, result_base=RESULTS)
    job = sim.create_job(fate="JobSuccess", init_seconds=0, run_seconds=0)
    sim.results.set_size(job, 1_000_000)
    sim.results.faults.trickle(job, 65536)  # sent a block per (fake) second: the clock holds it after 4
    app = sim_app(clock, sim, watchlist, download_dir=downloads)
    async with app.run_test(size=SIZE) as pilot:
        app.add_jobs([job], "long")
        await app.poller.poll_job(job)
        await drawn(pilot)
        app.table.select_job(job)
        clock.hold_after(4)
        await pilot.press("D")
        await until(pilot, lambda: clock.waiting > 0, "the download to get going")
        await pilot.press("q")  # asks nothing
    assert app.return_code == 0
    [part] = list(downloads.glob("*.part"))
    part_size = part.stat().st_size
    assert 0 < part_size < 1_000_000 and not (downloads / f"{job}.mp4").exists()

    clock.left = None
    sim.results.faults.trickle(job, None)
    again = sim_app(clock, sim, watchlist, download_dir=downloads)
    async with again.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: job in again.poller.records, "the watchlist to load")
        await drawn(pilot)
        again.table.select_job(job)
        await pilot.press("D")
        await until(pilot, lambda: again.poller.records[job].saved_path, "the resumed download")
    assert hashlib.sha256((downloads / f"{job}.mp4").read_bytes()).hexdigest() == sha256_of(sim, job)
    resumed = [entry for entry in sim.results.log if entry.range]
    assert [(e.range, e.status) for e in resumed] == [(f"bytes={part_size}-", 206)]
    assert not list(downloads.glob("*.part"))


async def test_a_paused_monitor_keeps_downloading(clock, files_sim, watchlist, downloads):
    app = sim_app(clock, files_sim, watchlist, download_dir=downloads)
    async with app.run_test(size=SIZE) as pilot:
        job = await succeeded(app, files_sim, pilot)
        await pilot.press("p")
        assert app.poller.paused
        await pilot.press("D")
        await until(pilot, lambda: app.poller.records[job].saved_path, "the download while paused")


async def test_the_demo_serves_its_results_and_saves_them_under_its_data_dir(isolated_home, tmp_path, monkeypatch):
    import tui.monitor.launch
    from tui.core import paths
    from tui.core.settings import default_settings

    monkeypatch.chdir(tmp_path)
    app = await tui.monitor.launch.build_demo_app(default_settings())
    assert app.downloads.directory == paths.demo_watchlist_path().parent / "downloads"
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        done = next(r.job_id for r in app.poller.records.values() if r.label == "anime trailer (already done)")
        await until(pilot, lambda: app.poller.records[done].result_video_url, "the demo's first answer")
        app.table.select_job(done)
        await pilot.press("D")
        await until(pilot, lambda: (app.downloads.state(done) or DownloadState(done, "queued")).received > 0,
                    "the demo's download to start")
        await pilot.press("q")
    assert list(app.downloads.directory.glob(f"{done}*")) and not list(tmp_path.iterdir())  # never the cwd


async def test_a_saved_file_is_recorded_in_the_job_database_at_once_and_marked_after_a_restart(clock, files_sim, watchlist, downloads):
    app = sim_app(clock, files_sim, watchlist, download_dir=downloads)
    async with app.run_test(size=SIZE) as pilot:
        job = await succeeded(app, files_sim, pilot)
        await pilot.press("D")
        await until(pilot, lambda: app.poller.records[job].saved_path, "the download")
        app.save_now()  # what the writer thread has by now: in the job database, even if killed here
        [stored] = [r for r in WatchlistStore(watchlist).load() if r.job_id == job]
        assert stored.saved_path == app.poller.records[job].saved_path
        await pilot.press("q")
    again = sim_app(clock, files_sim, watchlist, download_dir=downloads)
    async with again.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: job in again.poller.records, "the watchlist to load")
        await drawn(pilot)
        record = again.poller.records[job]
        assert (record.saved_path, record.saved_sha256) == (str(downloads / f"{job}.mp4"), sha256_of(files_sim, job))
        assert cell_text(again, job, "state").endswith(" " + SAVED_MARK)


async def test_an_expired_url_is_refreshed_once_through_the_engine_and_the_download_completes(clock, files_sim, watchlist,
                                                                                               downloads):
    app = sim_app(clock, files_sim, watchlist, download_dir=downloads)
    async with app.run_test(size=SIZE) as pilot:
        job = await succeeded(app, files_sim, pilot)
        old_url = app.poller.records[job].result_video_url
        clock.advance(25 * 3600)  # the URL's 24 hours are over
        polls = app.poller.records[job].poll_count
        await pilot.press("D")
        await until(pilot, lambda: app.poller.records[job].saved_path, "the download")
        record = app.poller.records[job]
        assert record.result_video_url != old_url and record.poll_count == polls + 1  # one fresh DescribeVideoStylizationJob
        assert hashlib.sha256(Path(record.saved_path).read_bytes()).hexdigest() == sha256_of(files_sim, job)


async def test_a_result_the_service_no_longer_has_is_said_and_the_job_keeps_its_state(clock, files_sim, watchlist,
                                                                                      downloads):
    app = sim_app(clock, files_sim, watchlist, download_dir=downloads)
    async with app.run_test(size=(160, 45)) as pilot:
        job = await succeeded(app, files_sim, pilot, "lost")
        clock.advance(25 * 3600)
        del files_sim.jobs[job]  # the service has forgotten the job: no fresh URL to be had
        await pilot.press("D")
        await until(pilot, lambda: (app.downloads.state(job) or DownloadState(job, "queued")).phase == "gone", "gone")
        await drawn(pilot)
        assert "the service no longer has this result" in detail_text(app)
        assert app.poller.records[job].status_code == "JobSuccess"
        assert cell_text(app, job, "state").endswith("JobSuccess")  # (marked as failing to be queried, as the poll was)
        assert any("Download failed: lost: the service no longer has this result" in t for t in toasts(app))
        assert not list(downloads.glob("*.mp4"))


@pytest.mark.parametrize("hours_later", [1, 25])
async def test_auto_download_at_start_saves_finished_jobs_whose_url_is_still_valid(clock, files_sim, watchlist, downloads,
                                                                                    hours_later):
    app = sim_app(clock, files_sim, watchlist, download_dir=downloads)
    async with app.run_test(size=SIZE) as pilot:
        job = await succeeded(app, files_sim, pilot)  # finished, not downloaded
        await pilot.press("q")
    clock.advance(hours_later * 3600)
    again = sim_app(clock, files_sim, watchlist, download_dir=downloads, auto_download=True)
    async with again.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: job in again.poller.records, "the watchlist to load")
        if hours_later < 24:
            await until(pilot, lambda: again.poller.records[job].saved_path, "the download at start")
        else:  # its URL expired: not worth a query to learn whether the video is still there
            await drawn(pilot)
            assert again.downloads.state(job) is None and again.poller.records[job].poll_count == 1
