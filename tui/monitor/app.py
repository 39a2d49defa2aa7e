"""The monitor App: lifecycle, the engine worker, timers, theme, toasts and the key actions.

Flow: the engine publishes events (synchronously, on this loop); the App hands each to the
view model (`JobView`: what the table shows) and the watchlist controller (`WatchlistSync`:
what is unsaved), then a short timer coalesces a burst into one draw, which brings the
widgets up to date inside `batch_update()` touching only changed cells. A 1-second tick
redraws relative times, expires row highlights, and lets the controller sync and save.
Widgets never call the API; actions call the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections import deque
from collections.abc import Iterable
from typing import TypeVar

from textual.app import App
from textual.binding import Binding
from textual.widget import Widget

from tui.api.models import DEFAULT_HOST
from tui.core.events import EngineEvent, HealthChanged, StateChanged
from tui.core.formatting import inert, short_id
from tui.core.jobstate import JobRecord
from tui.core.preferences import remember_theme
from tui.monitor.colours import colour_depth, depth_filters
from tui.monitor.commands import MonitorCommands
from tui.monitor.export import ExportingApp
from tui.monitor.job_view import JobView
from tui.monitor.keys import help_rows
from tui.monitor.notices import Toast, ToastShelf, finished_notice, health_banner, quit_hint, team_banner
from tui.monitor.screens.help import HelpScreen
from tui.monitor.screens.monitor import MonitorScreen
from tui.monitor.setup import MonitorSetup
from tui.monitor.themes import fallback_state_colors, pick_theme, register_themes
from tui.monitor.watchlist_sync import WatchlistSync
from tui.monitor.widgets.detail_pane import DetailContext, DetailPane
from tui.monitor.widgets.job_table import JobTable, RowContext
from tui.monitor.widgets.problem_banner import ProblemBanner
from tui.monitor.widgets.state_style import StatePalette
from tui.monitor.widgets.status_bar import StatusBar, StatusInfo

log = logging.getLogger(__name__)

FLUSH_DELAY = 0.1  # seconds: engine events within this window are drawn together
FINISHED_BURST_SECONDS = 1.0  # terminal transitions within this window make one toast
WIDE = 140  # from this width the detail pane sits beside the table

W = TypeVar("W", bound=Widget)


class VclmWatchApp(ExportingApp):
    """The monitor over one engine (`poller`), one view model (`view`) and one watchlist
    controller (`watchlist`); built by `tui.monitor.launch.create_app`.

    Public hooks for tests and benchmarks: `refresh_view()` draws everything now,
    `tick_now()` runs the 1-second tick, `save_now()` writes the watchlist, `settled` says no
    coalescing timer is pending.
    """

    TITLE = "vclm-watch"
    CSS_PATH = "app.tcss"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (WIDE, "-wide")]
    COMMANDS = App.COMMANDS | {MonitorCommands}
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True, id="app.quit"),
        Binding("ctrl+p", "command_palette", "Palette", show=False, id="app.palette"),
    ]

    def __init__(self, setup: MonitorSetup) -> None:
        super().__init__()
        self.setup = setup
        self.poller = setup.poller
        self.clock = setup.clock
        self.store = setup.store
        self.settings = setup.settings
        self.view = JobView(self.poller.records, min_interval=self.poller.min_interval,
                            rate=lambda: self.poller.target_rate() or self.settings.rate)
        self.watchlist = WatchlistSync(setup.store, self.poller, problem=self.set_problem, notice=self.notify, overview=setup.overview,
                                       touched=self._touched, history_days=self.settings.config.history_days)
        self.detail_visible = False
        self._flush_timer: object | None = None
        self._finished: list[tuple[JobRecord, str]] = []
        self._finished_timer: object | None = None
        self._undo: list[list[JobRecord]] = []
        self._ticks = 0
        self._unsubscribe = None
        self._engine_worker = None
        self._closed = False
        self.problems: dict[str, tuple[str, str]] = {}  # banner slot -> (title, detail)
        self.notices: deque[tuple[str, str, str]] = deque(maxlen=100)  # (severity, title, message) of toasts
        self.toasts = ToastShelf()
        self.colour_depth = colour_depth(self.console.color_system, os.environ)  # 'none', '16', '256', 'truecolor'
        self.no_color = self.no_color or self.colour_depth == "none"  # Textual's :nocolor styles apply
        self.vclm_themes, self.theme_problems = register_themes(self, setup.theme_dirs)
        self.theme = pick_theme(setup.theme, set(self.available_themes), self.theme_problems)
        self.palette = self.palette_for_theme()

    def notify(self, message, *, title: str = "", severity="information", timeout: float | None = None,
               markup: bool = False, kind: str = "") -> None:
        """A toast, kept in `notices` too; it replaces a live one of its `kind` (default: title), at
        most two show (`ToastShelf`). No markup by default: toasts quote text from outside."""
        self.notices.append((str(severity), title, str(message)))
        log.info("notice [%s] %s: %s", severity, title, message)
        toast = Toast(str(message), title, str(severity), timeout or self.NOTIFICATION_TIMEOUT, markup, kind or title)
        self.toasts.show(toast, post=super().notify, clear=self.clear_notifications, later=self.call_later)

    # -- theme --------------------------------------------------------------------------------

    def get_theme_variable_defaults(self) -> dict[str, str]:
        # Themes that are not ours (Textual's) get state colours from their own palette.
        return fallback_state_colors(self.current_theme)

    def palette_for_theme(self) -> StatePalette:
        return StatePalette.for_theme(self.current_theme, self.vclm_themes.get(self.current_theme.name), self.colour_depth)

    def get_line_filters(self):  # with 16 colours or none, draw every colour as the terminal will show it
        return [*super().get_line_filters(), *depth_filters(self.colour_depth)]

    def _on_theme_changed(self, _theme: object) -> None:
        remember_theme(self.theme)  # picked now: the next start uses it (tui.core.preferences)
        self.palette = self.palette_for_theme()
        self._redraw(full=True)

    def set_theme(self, name: str) -> None:
        if name not in self.available_themes:
            self.notify(f"No theme named {name!r}", severity="error")
            return
        self.theme = name

    # -- life cycle ---------------------------------------------------------------------------

    def get_default_screen(self) -> MonitorScreen:
        # decided before the first layout, so a wide terminal does not lay the table out twice
        self.detail_visible = self.size.width >= WIDE
        screen = MonitorScreen(self.settings.config.columns, detail_visible=self.detail_visible)
        # ...and so are the breakpoint classes, which Textual only sets on the screen's first
        # Resize, after a first layout: the table was laid out (10,000 rows added) twice.
        screen.set_class(self.detail_visible, "-wide")
        screen.set_class(not self.detail_visible, "-narrow")
        return screen

    def on_mount(self) -> None:
        self.theme_changed_signal.subscribe(self, self._on_theme_changed)
        self._unsubscribe = self.poller.subscribe(self._on_engine_event)
        for record in self.setup.initial_records:
            self.poller.add(record.job_id, record=record, from_file=True)
        self.watchlist.load()
        for title, problem in [("Theme problem", p) for p in self.theme_problems] + \
                [("Credentials exposed", w) for w in self.setup.startup_warnings]:
            log.warning("%s", problem)
            self.notify(problem, title=title, severity="error", timeout=12)
        if self.setup.startup_problem:
            self.set_problem(
                "credentials", "Not polling",
                f"{self.setup.startup_problem} — set TENCENTCLOUD_SECRET_ID/_KEY or run `tccli configure`, "
                "then restart")
        self.set_interval(1.0, self.tick_now, pause=not self.setup.ticking)  # tests may tick by hand
        self._redraw(full=True)
        if self.setup.start_engine:
            self._engine_worker = self.run_worker(self._run_engine(), name="engine", group="engine",
                                                  exit_on_error=False)

    async def _run_engine(self) -> None:
        try:
            await self.poller.run()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - shown, never fatal
            log.exception("the polling engine stopped")
            self.set_problem("engine", "Polling stopped", f"{type(exc).__name__}: {exc}")

    async def on_unmount(self) -> None:
        await self.shutdown()

    async def shutdown(self) -> None:
        """Stop polling, save, close the HTTP client (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self.poller.stop()
        if self._engine_worker is not None:
            self._engine_worker.cancel()
        if self._unsubscribe is not None:
            self._unsubscribe()
        await self.watchlist.save_at_exit()  # a lock held elsewhere is retried briefly, never waited on
        await self.setup.close()  # the team left, the HTTP client closed

    async def action_quit(self) -> None:
        await self.shutdown()
        self.exit(0)

    def action_help_quit(self) -> None:  # ctrl+c: Textual's own toast is markup, and ours are plain
        self.notify(quit_hint(self.active_bindings), title="Do you want to quit?")

    # -- widgets -------------------------------------------------------------------------------

    @property
    def monitor(self) -> MonitorScreen | None:
        for screen in self.screen_stack:
            if isinstance(screen, MonitorScreen):
                return screen
        return None

    def _widget(self, kind: type[W]) -> W | None:
        screen = self.monitor
        if screen is None or not screen.is_mounted:
            return None
        try:
            return screen.query_one(kind)
        except Exception:  # noqa: BLE001 - not composed yet
            return None

    @property
    def table(self) -> JobTable | None:
        return self._widget(JobTable)

    def set_problem(self, slot: str, title: str | None, detail: str = "") -> None:
        """A problem that affects every job, shown in the banner (title None clears the slot)."""
        if title is None:
            if self.problems.pop(slot, None) is None:
                return
        else:
            self.problems[slot] = (title, detail)
        self._request_flush()

    @property
    def selected_job_id(self) -> str | None:
        table = self.table
        return table.selected_job_id if table is not None else None

    @property
    def selected_record(self) -> JobRecord | None:
        job_id = self.selected_job_id
        return self.poller.records.get(job_id) if job_id else None

    # -- engine events -------------------------------------------------------------------------

    def _on_engine_event(self, event: EngineEvent) -> None:
        """Called synchronously by the engine: note what changed, draw it soon (routine news: at the tick)."""
        urgent = self.view.apply(event, self.clock.monotonic())
        self.watchlist.note(event)
        if isinstance(event, StateChanged) and event.finishes:
            self._finished.append((event.record, event.to_code))
            if self._finished_timer is None:
                self._finished_timer = self.set_timer(FINISHED_BURST_SECONDS, self._announce_finished)
        elif isinstance(event, HealthChanged):
            self._on_health(event)
        if urgent:
            self._request_flush()

    def _touched(self, job_id: str) -> None:
        self.view.touch(job_id)
        self._request_flush()

    def _on_health(self, event: HealthChanged) -> None:
        if event.problem is None:
            if self.problems.get("engine"):
                self.notify("The service answers again.", title="Connection restored")
            self.set_problem("engine", None)
            return
        self.set_problem("engine", *health_banner(event))

    def _request_flush(self) -> None:
        if self._flush_timer is None and self.is_running and not self._closed:
            self._flush_timer = self.set_timer(FLUSH_DELAY, self._timed_flush)

    def _timed_flush(self) -> None:
        self._flush_timer = None
        self._redraw()

    @property
    def settled(self) -> bool:
        """No burst of engine events is waiting to be drawn or announced."""
        return self._flush_timer is None and self._finished_timer is None

    def _announce_finished(self) -> None:
        self._finished_timer = None
        finished, self._finished = self._finished, []
        if not finished:
            return
        try:
            title, message, severity = finished_notice(finished, self.palette.symbol)
            self.notify(message, title=title, severity=severity, kind="finished")  # type: ignore[arg-type]
            if self.setup.bell:
                self.bell()
        except Exception as exc:  # noqa: BLE001 - nothing escapes a timer
            log.exception("announcing finished jobs failed")
            self._report("notification", exc)

    # -- drawing --------------------------------------------------------------------------------

    def refresh_view(self) -> None:
        """Draw everything now (what the timers do; tests call it to skip the wait)."""
        self._redraw(full=True)

    def draw_changes(self) -> None:
        """Draw what changed since the last draw now (what the flush timer runs after a burst)."""
        self._redraw()

    def _redraw(self, full: bool = False, tick: bool = False) -> None:
        try:
            self._draw(full, tick)
        except Exception as exc:  # noqa: BLE001 - nothing escapes a timer
            log.exception("drawing failed")
            self._report("drawing", exc)

    def _draw(self, full: bool, tick: bool = False) -> None:
        table = self.table
        if table is None:
            return
        now = self.clock.time()
        update = self.view.update(now, self.clock.monotonic(), full=full, tick=tick)
        ctx = RowContext(now=now, palette=self.palette, states=update.states, flashing=update.flashing)
        with self.batch_update():
            banner = self._widget(ProblemBanner)
            if banner is not None:
                banner.show(self.problems)
            table.show(update.order, self.poller.records, ctx, update.dirty, times=update.times)
            self.monitor.show_empty_note(self.view.empty_note(len(update.order)))  # the table's screen
            self._draw_detail(now, update.states)
            self._draw_status(len(update.order))

    def endpoint_host(self) -> str | None:
        """The endpoint URL to name in a reproduce line: only one that is not the default."""
        endpoint = self.settings.endpoint
        return None if endpoint.host == DEFAULT_HOST or self.setup.endpoint_label else str(endpoint)

    def _draw_detail(self, now: float, states) -> None:
        pane = self._widget(DetailPane)
        if pane is None:
            return
        pane.set_class(self.detail_visible, "-shown")
        if not self.detail_visible:
            return
        record = self.selected_record
        ctx = DetailContext(now=now, palette=self.palette, state=states.get(record.job_id, "pending") if record else "",
                            region=self.settings.region, endpoint_host=self.endpoint_host(),
                            paused=self.poller.paused, polling=self.setup.can_poll)
        pane.show(record, ctx)

    def _draw_status(self, shown: int) -> None:
        bar = self._widget(StatusBar)
        if bar is None:
            return
        snapshot = self.poller.rate_snapshot()
        view = self.view
        info = StatusInfo(
            counts=view.counts(), shown=shown, total=len(self.poller.records),
            measured_rate=self.poller.measured_rate() if self.setup.can_poll else 0.0,
            pace=snapshot.rate if snapshot else 0.0, cut_back=bool(snapshot and snapshot.cut_back),
            paused=self.poller.paused, polling=self.setup.can_poll, sort=view.sort_mode,
            filter_text=view.filter_text, hide_finished=view.hide_finished,
            region=self.settings.region, team=self.poller.team.status() if self.poller.team else None,
            endpoint=self.setup.endpoint_label or self.settings.endpoint.host,
            credentials=self.setup.credentials_note,
        )
        bar.show(info, self.palette)

    def tick_now(self) -> None:
        """The once-a-second tick: expire highlights, sync and save the watchlist, redraw times."""
        try:
            self._ticks += 1
            self.view.expire_flashes(self.clock.monotonic())
            self.watchlist.tick(self._ticks)
            self.set_problem("team", *team_banner(self.poller.team.status() if self.poller.team else None))
            self._redraw(full=True, tick=True)
        except Exception as exc:  # noqa: BLE001 - nothing escapes a timer
            log.exception("tick failed")
            self._report("refresh", exc)

    def save_now(self, force: bool = False) -> None:
        """Write the watchlist now if anything is unsaved (or `force`), and the states polled so far."""
        self.watchlist.save(force=force)
        self.watchlist.flush_states(5.0)

    def _report(self, what: str, exc: BaseException) -> None:
        with contextlib.suppress(Exception):  # reporting must not fail in turn
            self.notify(f"{what} failed: {type(exc).__name__}: {inert(exc, 200)}", title="Internal error",
                        severity="error")

    def on_job_table_highlighted(self, _event: JobTable.Highlighted) -> None:
        if self.detail_visible:
            self._redraw()

    # -- actions --------------------------------------------------------------------------------

    def filter_jobs(self, text: str) -> None:
        """Show only the jobs matching `text` (what typing in the filter bar does)."""
        self.view.set_filter(text)
        self._redraw(full=True)

    def set_filter(self, text: str) -> None:
        """Filter as if `text` had been typed into the filter bar."""
        if self.monitor is not None and self.monitor.is_mounted:
            self.monitor.show_filter(text)
        self.filter_jobs(text)

    def set_label(self, job_id: str, label: str) -> None:
        if job_id in self.poller.records:
            self.poller.set_label(job_id, label)
            self.watchlist.mark_changed()
            self._redraw()

    def need_selection(self) -> JobRecord | None:
        record = self.selected_record
        if record is None:
            self.notify("No job selected.", severity="warning")
        return record

    def _need_polling(self) -> bool:
        if not self.setup.can_poll:
            self.notify("Not polling: no credentials (see the banner).", severity="warning")
            return False
        return True

    def add_jobs(self, ids: Iterable[str], label: str = "") -> int:
        """Watch these ids (those already watched are left alone); how many were new."""
        added = 0
        now = self.clock.time()
        for job_id in ids:
            if job_id in self.poller.records:
                continue
            self.poller.add(job_id, record=JobRecord(job_id=job_id, label=label, added_at=now))
            added += 1
        self._redraw()
        return added

    def action_remove_job(self) -> None:
        record = self.need_selection()
        if record is None:
            return
        self.poller.remove(record.job_id)
        self._undo.append([record])
        self._redraw()
        name = inert(record.label, 40) or short_id(record.job_id)
        self.notify(f"Removed {name}. Press u to undo.", title="Watchlist")

    def action_undo(self) -> None:
        if not self._undo:
            self.notify("Nothing to undo.", severity="warning")
            return
        restored = self._undo.pop()
        for record in restored:
            self.poller.add(record.job_id, record=record)
        self._redraw()
        if restored and self.table is not None:
            self.table.select_job(restored[0].job_id)
        self.notify(f"Restored {len(restored)} job{'s' if len(restored) != 1 else ''}.", title="Watchlist")

    def action_cycle_sort(self) -> None:
        self.set_sort(self.view.next_sort_mode())

    def set_sort(self, mode: str) -> None:
        if self.view.set_sort(mode):
            self._redraw(full=True)
            self.notify(f"Sorted by {mode}.", timeout=2)

    def action_hide_finished(self) -> None:
        self.view.hide_finished = not self.view.hide_finished
        self._redraw(full=True)
        self.notify("Finished jobs hidden." if self.view.hide_finished else "Finished jobs shown.", timeout=2)

    def action_toggle_pause(self) -> None:
        if not self._need_polling():
            return
        if self.poller.paused:
            self.poller.resume()
            self.notify("Polling resumed.", timeout=2)
        else:
            self.poller.pause()
            self.notify("Polling paused: p resumes.", timeout=3)
        self._redraw(full=True)

    def action_refresh_selected(self) -> None:
        record = self.need_selection()
        if record is None or not self._need_polling():
            return
        self.poller.refresh(record.job_id)
        name = inert(record.label, 40) or short_id(record.job_id)
        self.notify(f"Refreshing {name}" + (" (paused: only this one)" if self.poller.paused else "") + ".",
                    timeout=2)

    def action_refresh_all(self) -> None:
        if not self._need_polling():
            return
        count = self.poller.refresh()
        self.notify(f"Refreshing {count} job{'s' if count != 1 else ''}.", timeout=2)

    def action_toggle_detail(self) -> None:
        self.detail_visible = not self.detail_visible
        self._redraw()

    def action_pick_theme(self) -> None:
        self.search_themes()

    def action_help(self) -> None:
        self.push_screen(HelpScreen(help_rows(), self.palette))
