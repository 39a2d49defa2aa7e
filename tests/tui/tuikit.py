"""Watchlist records in every display state, built directly (views are tested without an engine run)."""

from __future__ import annotations

from pathlib import Path

from tui.api.clock import FakeClock
from tui.api.credentials import Credentials
from tui.core.jobstate import JobRecord, LastError, Transition
from tui.core.settings import default_settings
from tui.core.watchlist import WatchlistStore
from tui.monitor.app import VclmWatchApp
from tui.monitor.launch import create_app
from tui.monitor.themes import shipped_themes_dir

START = 1_764_000_000.0  # 2025-11-24 16:00:00 UTC

IDS = {
    "running": "3f2a9c0d1e4b5a6978c8d7e6f5a4b3c2",
    "init": "0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e",
    "success": "a1b2c3d4e5f60718293a4b5c6d7e8f90",
    "failed": "f0e1d2c3b4a5968778695a4b3c2d1e0f",
    "moderation": "5d4c3b2a1908f7e6d5c4b3a291807f6e",
    "unknown": "9e8d7c6b5a4938271605f4e3d2c1b0a9",
    "error": "c0ffee00c0ffee00c0ffee00c0ffee00",
    "stale": "7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d",
    "pending": "1234567890abcdef1234567890abcdef",
    "markup": "deadbeefdeadbeefdeadbeefdeadbeef",
}


def rid(n: int) -> str:
    return f"6c2f4a1e-8b3d-4c5e-9f70-{n:012d}"


def raw(job_id: str, code: str, msg: str, url: str, request_id: str) -> dict:
    return {"JobId": job_id, "StatusCode": code, "StatusMsg": msg, "ResultVideoUrl": url, "RequestId": request_id}


def sample_records(clock: FakeClock) -> list[JobRecord]:
    now = clock.time()

    def rec(key: str, label: str, code: str | None, msg: str = "", *, since: float = 60, polled: float | None = 1,
            **extra) -> JobRecord:
        job_id = IDS[key]
        record = JobRecord(job_id=job_id, label=label, added_at=now - 900, status_code=code, status_msg=msg)
        if code is not None:
            record.state_since = now - since
            record.last_change = now - since
            record.history = [Transition(now - 600, None, "JobInit")]
            if code != "JobInit":
                record.history.append(Transition(now - since, "JobInit", code))
            record.last_request_id = rid(len(key))
            record.last_response = raw(job_id, code, msg, extra.get("result_video_url", ""), record.last_request_id)
            record.poll_count = 42
            record.last_latency = 0.084
        record.last_polled = None if polled is None else now - polled
        record.next_poll_at = now + 2
        for name, value in extra.items():
            setattr(record, name, value)
        return record

    url = "https://vclm-result.example.invalid/a1b2c3d4/result.mp4?sign=abc123&t=1764000000"
    return [
        rec("running", "anime opening", "JobRunning", "处理中", since=125),
        rec("init", "lantern festival", "JobInit", "初始化中", since=20, polled=2),
        rec("success", "cartoon teaser", "JobSuccess", "处理完成", since=300,
            result_video_url=url, url_received_at=now - 3600, next_poll_at=None),
        rec("failed", "ink-wash short", "JobFailed", "处理失败", since=45, next_poll_at=None),
        rec("moderation", "beach clip", "JobModerationFailed", "审核失败", since=700, next_poll_at=None),
        rec("unknown", "queued somewhere", "JobQueued", "排队中", since=30),
        rec("error", "typo'd id", None, polled=3, poll_count=3,
            last_error=LastError("FailedOperation.TaskNotExist", "The task does not exist.", rid(99), now - 3)),
        rec("stale", "old render", "JobRunning", "处理中", since=900, polled=600),
        rec("pending", "just added", None, polled=None),
        rec("markup", "[red]not red[/red] \x1b[31mESC", "JobRunning", "处理中", since=10, polled=1),
    ]


# -- building apps -----------------------------------------------------------------------------

def view_app(clock: FakeClock, records: list[JobRecord] | None = None, *, theme: str | None = None,
             problem: str | None = None, watchlist: Path | None = None) -> VclmWatchApp:
    """The monitor on pre-filled records: no client, no engine run, no file (view tests)."""
    records = sample_records(clock) if records is None else records
    return create_app(default_settings(watchlist), clock=clock, store=None, records=records, theme=theme,
                      theme_dirs=[shipped_themes_dir()], cursor_blink=False, startup_problem=problem,
                      credentials=None)


def sim_app(clock: FakeClock, simulator, watchlist: Path, *, start_engine: bool = False,
            theme_dirs: list[Path | None] | None = None, bell: bool = False, ticking: bool = True,
            team=None) -> VclmWatchApp:
    """The monitor on the in-process simulator and a watchlist file (behaviour tests)."""
    from tui.simulator.service import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY
    from tui.simulator.transport import SimulatorTransport

    credentials = Credentials(DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, source="the test")
    return create_app(default_settings(watchlist), clock=clock, credentials=credentials,
                      transport=SimulatorTransport(simulator), store=WatchlistStore(watchlist),
                      start_engine=start_engine, cursor_blink=False, ticking=ticking,
                      theme_dirs=theme_dirs if theme_dirs is not None else [shipped_themes_dir()], bell=bell, team=team)


def visible_ids(app: VclmWatchApp) -> list[str]:
    return list(app.table.row_ids)


def cell_text(app: VclmWatchApp, job_id: str, column: str) -> str:
    return app.table.get_cell(job_id, column).plain


def toasts(app: VclmWatchApp) -> list[str]:
    return [f"{title}: {message}" for _severity, title, message in app.notices]


async def ready(pilot) -> None:
    """Wait until the table is laid out and shows every visible job (slow machines need more than one pause)."""
    app = pilot.app
    for _ in range(200):
        await pilot.pause()
        table = app.table
        if table is not None and table.layout_plan and table.row_count == len(app.view.visible_order(app.clock.time())):
            await pilot.pause()
            return
    raise AssertionError("the job table never filled")


async def until(pilot, condition, what: str = "the condition", *, pauses: int = 500) -> None:
    """Let the app run (in short real pauses) until `condition()` holds; fail after ~10 s.

    Waiting for the thing itself, not for a fixed time, keeps these tests stable on a loaded
    machine; nothing is asserted about how long it took.
    """
    for _ in range(pauses):
        if condition():
            await pilot.pause()
            return
        await pilot.pause(0.02)
    raise AssertionError(f"{what} never happened")


async def drawn(pilot) -> None:
    """Wait until the monitor has drawn what the engine told it (its coalescing timers ran)."""
    app = pilot.app
    await pilot.pause()
    await until(pilot, lambda: app.settled,
                "drawing the engine's news")
