"""The monitor: an App built by `create_app` from settings, an engine, a clock and a watchlist store.

Flow: the engine publishes events (synchronously, on this loop); `_on_engine_event` only
notes what changed; a short timer coalesces a burst into one `_redraw`, which brings the
widgets up to date inside `batch_update()` touching only changed cells. A 1-second tick
redraws relative times, expires row highlights, picks up other processes' watchlist changes
and saves (debounced). Widgets never call the API; actions call the engine.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
from collections import Counter, deque
import logging
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable

import httpx
from rich.text import Text
from textual.app import App
from textual.binding import Binding
from textual.widgets import DataTable

from tui.core import paths
from tui.api.client import VclmClient, resolve_endpoint
from tui.api.errors import ConfigError, VclmError
from tui.api.models import DEFAULT_HOST, FAILED_STATUS_CODES, JobStatus, is_terminal
from tui.api.clock import SYSTEM_CLOCK, Clock
from tui.monitor.commands import MonitorCommands
from tui.core.config import Config
from tui.api.credentials import Credentials
from tui.core.engine import Poller
from tui.core.events import (
    EngineEvent,
    HealthChanged,
    JobAdded,
    JobRemoved,
    JobUpdated,
    RateChanged,
    StateChanged,
)
from tui.core.formatting import inert, short_id
from tui.core.hints import hint_for
from tui.core.jobstate import JobRecord
from tui.api.ratelimit import RateLimiter
from tui.core.settings import Settings, build_client, build_poller, load_credentials, load_settings
from tui.monitor.screens.add_jobs import AddJobsScreen, AddRequest
from tui.monitor.screens.help import HelpScreen
from tui.monitor.screens.import_file import ImportFileScreen
from tui.monitor.screens.label import LabelScreen
from tui.monitor.screens.monitor import MonitorScreen, help_rows
from tui.monitor.themes import DEFAULT_THEME, LoadedTheme, fallback_state_colors, load_themes, shipped_themes_dir
from tui.core.watchlist import SyncResult, WatchlistCorrupt, WatchlistError, WatchlistStore, WatchlistTooNew
from tui.monitor.widgets.detail_pane import DetailContext, DetailPane, reproduce_line
from tui.monitor.widgets.filter_bar import FilterBar
from tui.monitor.widgets.job_table import JobTable, RowContext
from tui.monitor.widgets.problem_banner import ProblemBanner
from tui.monitor.widgets.state_style import CODE_KEYS, STATE_ORDER, StatePalette, display_state, stale_after
from tui.monitor.widgets.status_bar import StatusBar, StatusInfo

log = logging.getLogger(__name__)

SORT_MODES = ("added", "state", "age", "last change")
FLUSH_DELAY = 0.1  # seconds: engine events within this window are drawn together
FLASH_SECONDS = 2.0  # how long a transition highlights its row
FINISHED_BURST_SECONDS = 1.0  # terminal transitions within this window make one toast
SYNC_EVERY_TICKS = 2  # pick up other processes' watchlist changes every ~2 s
POLL_SAVE_EVERY_TICKS = 10  # poll results alone are saved at most every ~10 s
WIDE = 140  # from this width the detail pane sits beside the table


class NoClient:
    """Stands in for the API client when there are no credentials: the engine is never started."""

    def __init__(self, clock: Clock, rate: float, reason: str) -> None:
        self.limiter = RateLimiter(rate, clock=clock)
        self.reason = reason

    async def describe_job(self, job_id: str, *, slot_taken: bool = False) -> JobStatus:
        raise ConfigError(self.reason)


@dataclass
class MonitorSetup:
    """Everything the monitor runs on; `create_app` fills it in."""

    settings: Settings
    poller: Poller
    clock: Clock = SYSTEM_CLOCK
    store: WatchlistStore | None = None
    client: VclmClient | None = None  # closed on exit
    can_poll: bool = True
    start_engine: bool = True
    credentials_note: str = ""
    startup_problem: str | None = None
    endpoint_label: str | None = None
    theme: str = DEFAULT_THEME
    theme_dirs: list[Path | None] = field(default_factory=list)
    bell: bool = False
    cursor_blink: bool = True
    initial_records: list[JobRecord] = field(default_factory=list)


def default_settings(watchlist_path: Path | None = None, config: Config | None = None,
                     region: str = "ap-guangzhou") -> Settings:
    config = config or Config()
    return Settings(config=config, region=region, region_source="default",
                    endpoint=resolve_endpoint(config.endpoint, region), rate=config.rate,
                    watchlist_path=watchlist_path or paths.watchlist_path(), profile=None)


_DEFAULT = object()


def create_app(
    settings: Settings | None = None,
    *,
    credentials: Credentials | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    client: VclmClient | None = None,
    poller: Poller | None = None,
    clock: Clock = SYSTEM_CLOCK,
    store: WatchlistStore | None | object = _DEFAULT,
    records: Iterable[JobRecord] = (),
    theme: str | None = None,
    theme_dirs: list[Path | None] | None = None,
    startup_problem: str | None = None,
    start_engine: bool = True,
    cursor_blink: bool = True,
    endpoint_label: str | None = None,
    bell: bool | None = None,
) -> "VclmWatchApp":
    """Build the monitor. With neither credentials, client nor poller it shows but never polls.

    `store` defaults to the settings' watchlist file; pass None for no persistence (tests).
    `records` are shown as given (not marked stale): views can be tested without an engine run.
    """
    settings = settings or default_settings()
    can_poll = True
    note = ""
    if poller is None:
        if client is None and credentials is not None:
            client = build_client(settings, credentials, transport=transport, clock=clock)
        if client is None:
            can_poll = False
            reason = startup_problem or "no credentials"
            poller = Poller(NoClient(clock, settings.rate, reason), clock=clock,  # type: ignore[arg-type]
                            min_interval=settings.config.min_interval)
        else:
            poller = build_poller(settings, client, clock=clock)
    if credentials is not None:
        note = credentials.describe()
    elif client is not None:
        note = client.credentials.describe()
    elif can_poll:
        note = "given by the caller"
    else:
        note = "none found"
    if store is _DEFAULT:
        store = WatchlistStore(settings.watchlist_path)
    setup = MonitorSetup(
        settings=settings, poller=poller, clock=clock, store=store,  # type: ignore[arg-type]
        client=client, can_poll=can_poll, start_engine=start_engine and can_poll,
        credentials_note=note, startup_problem=startup_problem, endpoint_label=endpoint_label,
        theme=theme or settings.config.theme or DEFAULT_THEME,
        theme_dirs=theme_dirs if theme_dirs is not None else [shipped_themes_dir(), paths.user_themes_dir()],
        bell=settings.config.bell if bell is None else bell,
        cursor_blink=cursor_blink, initial_records=list(records),
    )
    return VclmWatchApp(setup)


class VclmWatchApp(App[int]):
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
        # what the user chose to see
        self.filter_text = ""
        self.sort_mode = SORT_MODES[0]
        self.hide_finished = False
        self.detail_visible = False
        # what changed since the last flush, and what the last one computed
        self._dirty: set[str] = set()
        self._states: dict[str, str] = {}  # job id -> display state
        # kept up to date with _states, so that a tick need not go over every job
        self._state_counts: Counter[str] = Counter()  # display state -> jobs in it
        self._active: set[str] = set()  # ids of the unfinished jobs (they set the stale threshold)
        self._stale_due = float("inf")  # wall time after which some shown state may turn stale
        self._threshold: float | None = None  # seconds without a refresh before a row is stale
        self._order: list[str] | None = None  # the table's rows, in order
        self._order_key: tuple | None = None
        self._membership = 0  # bumped when a job is added or removed
        self._flush_timer = None
        self._flash_until: dict[str, float] = {}
        self._finished: list[tuple[JobRecord, str]] = []
        self._finished_timer = None
        self._added_order: dict[str, int] = {}
        self._order_seq = itertools.count()
        self._undo: list[list[tuple[JobRecord, bool]]] = []
        self._ticks = 0
        self._save_structural = False
        self._save_polls = False
        self._loading = False
        self._unsubscribe = None
        self._engine_worker = None
        self._closed = False
        self.problems: dict[str, tuple[str, str]] = {}  # banner slot -> (title, detail)
        self.saves = 0  # for tests: how many times the watchlist was written
        self.notices: deque[tuple[str, str, str]] = deque(maxlen=100)  # (severity, title, message) of toasts
        # themes
        loaded = load_themes(list(setup.theme_dirs))
        self.theme_problems: list[str] = list(loaded.problems)
        self.vclm_themes: dict[str, LoadedTheme] = loaded.themes
        for item in loaded.themes.values():
            self.register_theme(item.theme)
        wanted = setup.theme
        if wanted not in self.available_themes:
            fallback = DEFAULT_THEME if DEFAULT_THEME in self.available_themes else "textual-dark"
            self.theme_problems.append(f"theme {wanted!r} is not available; using {fallback}")
            wanted = fallback
        self.theme = wanted
        self.palette = self._palette_for_theme()

    def notify(self, message, *, title: str = "", severity="information", timeout: float | None = None,
               markup: bool = False) -> None:
        """A toast; also kept in `notices`, for the log and for tests.

        Never markup by default: toasts quote ids, labels, paths and messages from outside.
        """
        self.notices.append((str(severity), title, str(message)))
        log.info("notice [%s] %s: %s", severity, title, message)
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    # -- theme --------------------------------------------------------------------------------

    def get_theme_variable_defaults(self) -> dict[str, str]:
        # Themes that are not ours (Textual's) get state colours from their own palette.
        return fallback_state_colors(self.current_theme)

    def _palette_for_theme(self) -> StatePalette:
        theme = self.current_theme
        variables = {**fallback_state_colors(theme), **theme.to_color_system().generate(), **theme.variables}
        loaded = self.vclm_themes.get(theme.name)
        return StatePalette.from_variables(variables, loaded.symbols if loaded else None)

    def _on_theme_changed(self, _theme: object) -> None:
        self.palette = self._palette_for_theme()
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
        self._loading = True
        try:
            for record in self.setup.initial_records:
                stale = record.stale
                self.poller.add(record.job_id, record=record)
                record.stale = stale
            self._load_watchlist()
        finally:
            self._loading = False
        for problem in self.theme_problems:
            log.warning("%s", problem)
            self.notify(problem, title="Theme problem", severity="error", timeout=12)
        if self.setup.startup_problem:
            self.set_problem(
                "credentials", "Not polling",
                f"{self.setup.startup_problem} — set TENCENTCLOUD_SECRET_ID/_KEY or run `tccli configure`, "
                "then restart")
        self.set_interval(1.0, self._tick)
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
        self._save(force=True)
        if self.setup.client is not None:
            try:
                await self.setup.client.aclose()
            except Exception:  # noqa: BLE001 - closing must not fail the exit
                log.exception("closing the HTTP client failed")

    async def action_quit(self) -> None:
        await self.shutdown()
        self.exit(0)

    # -- widgets -------------------------------------------------------------------------------

    @property
    def monitor(self) -> MonitorScreen | None:
        for screen in self.screen_stack:
            if isinstance(screen, MonitorScreen):
                return screen
        return None

    def _widget(self, kind):
        screen = self.monitor
        if screen is None or not screen.is_mounted:
            return None
        try:
            return screen.query_one(kind)
        except Exception:  # noqa: BLE001 - not composed yet
            return None

    @property
    def table(self) -> JobTable:
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
        """Called synchronously by the engine: note what changed, draw it soon."""
        if isinstance(event, JobAdded):
            self._membership += 1
            self._added_order.setdefault(event.record.job_id, next(self._order_seq))
            self._dirty.add(event.record.job_id)
            self._note_save(structural=True)
        elif isinstance(event, JobRemoved):
            self._membership += 1
            self._forget_state(event.record.job_id)
            self._added_order.pop(event.record.job_id, None)
            self._flash_until.pop(event.record.job_id, None)
            self._note_save(structural=True)
        elif isinstance(event, JobUpdated):
            self._dirty.add(event.record.job_id)
            self._note_save(structural=False)
        elif isinstance(event, StateChanged):
            self._dirty.add(event.record.job_id)
            self._flash_until[event.record.job_id] = self.clock.monotonic() + FLASH_SECONDS
            self._note_save(structural=True)
            if is_terminal(event.to_code) and event.from_code is not None and not is_terminal(event.from_code):
                self._finished.append((event.record, event.to_code))
                if self._finished_timer is None:
                    self._finished_timer = self.set_timer(FINISHED_BURST_SECONDS, self._announce_finished)
        elif isinstance(event, RateChanged):
            pass  # the status bar reads the rate when it is drawn (the flush below)
        elif isinstance(event, HealthChanged):
            self._on_health(event)
        self._request_flush()

    def _on_health(self, event: HealthChanged) -> None:
        if event.problem is None:
            if self.problems.get("engine"):
                self.notify("The service answers again.", title="Connection restored")
            self.set_problem("engine", None)
            return
        error = event.error
        code = error.code if error is not None else ""
        titles = {"auth": "Authentication problem", "network": "Network problem", "config": "Cannot poll"}
        detail = inert(event.detail, 300)
        if code:
            detail += f" — {hint_for(code)}"
        detail += ". Polling is held to one probe at a time until it clears."
        self.set_problem("engine", titles.get(event.problem, "Problem"), detail)

    def _request_flush(self) -> None:
        if self._flush_timer is None and self.is_running and not self._closed:
            self._flush_timer = self.set_timer(FLUSH_DELAY, self._timed_flush)

    def _timed_flush(self) -> None:
        self._flush_timer = None
        self._redraw()

    def _announce_finished(self) -> None:
        self._finished_timer = None
        finished, self._finished = self._finished, []
        if not finished:
            return
        try:
            palette = self.palette
            if len(finished) == 1:
                record, code = finished[0]
                key = CODE_KEYS.get(code, "unknown")
                name = inert(record.label, 40) or short_id(record.job_id)
                self.notify(f"{palette.symbol(key)} {name}: {code}", title="Job finished",
                            severity="warning" if code in FAILED_STATUS_CODES else "information", markup=False)
            else:
                counts: dict[str, int] = {}
                for _record, code in finished:
                    counts[code] = counts.get(code, 0) + 1
                parts = ", ".join(f"{n} {palette.symbol(CODE_KEYS.get(c, 'unknown'))} {c}" for c, n in sorted(counts.items()))
                failed = any(c in FAILED_STATUS_CODES for c in counts)
                self.notify(f"{len(finished)} jobs finished: {parts}", title="Jobs finished",
                            severity="warning" if failed else "information", markup=False)
            if self.setup.bell:
                self.bell()
        except Exception as exc:  # noqa: BLE001 - nothing escapes a timer
            log.exception("announcing finished jobs failed")
            self._report("notification", exc)

    # -- drawing --------------------------------------------------------------------------------

    def stale_threshold(self, active: int | None = None) -> float:
        if active is None:
            active = sum(1 for r in self.poller.records.values() if not r.terminal)
        limiter = getattr(self.poller.client, "limiter", None)
        rate = limiter.target if limiter is not None else self.settings.rate
        return stale_after(self.poller.min_interval, active, rate)

    def _matches_filter(self, record: JobRecord, state: str) -> bool:
        words = self.filter_text.lower().split()
        if not words:
            return True
        haystack = " ".join([record.job_id, record.label.lower(), state, (record.status_code or "pending").lower(),
                             record.last_error.code.lower() if record.last_error else ""])
        return all(word in haystack for word in words)

    def visible_order(self, now: float | None = None, threshold: float | None = None,
                      states: dict[str, str] | None = None) -> list[str]:
        """The ids the table shows, in display order."""
        if states is None:
            states = self.display_states(now, threshold)
        rows: list[tuple[str, JobRecord, str]] = []
        filtering = bool(self.filter_text.split())
        for job_id, record in self.poller.records.items():
            if self.hide_finished and record.terminal:
                continue
            state = states.get(job_id) or display_state(record, self.clock.time(), self._threshold)
            if not filtering or self._matches_filter(record, state):
                rows.append((job_id, record, state))
        added = lambda item: self._added_order.get(item[0], 0)  # noqa: E731
        if self.sort_mode == "state":
            rank = {s: n for n, s in enumerate(STATE_ORDER)}
            rows.sort(key=lambda item: (rank.get(item[2], 99), added(item)))
        elif self.sort_mode == "age":
            rows.sort(key=lambda item: (item[1].added_at or 0.0, added(item)))
        elif self.sort_mode == "last change":
            rows.sort(key=lambda item: (-(item[1].last_change or 0.0), added(item)))
        else:
            rows.sort(key=added)
        return [job_id for job_id, _, _ in rows]

    def display_states(self, now: float | None = None, threshold: float | None = None) -> dict[str, str]:
        """The display state of every watched job, as of `now`."""
        now = self.clock.time() if now is None else now
        threshold = self.stale_threshold() if threshold is None else threshold
        return {job_id: display_state(record, now, threshold) for job_id, record in self.poller.records.items()}

    def refresh_view(self) -> None:
        """Draw everything now (what the timers do; tests call it to skip the wait)."""
        self._redraw(full=True)

    def _redraw(self, full: bool = False, tick: bool = False) -> None:
        try:
            self._draw(full, tick)
        except Exception as exc:  # noqa: BLE001 - nothing escapes a timer
            log.exception("drawing failed")
            self._report("drawing", exc)

    def _forget_state(self, job_id: str) -> None:
        old = self._states.pop(job_id, None)
        if old is not None:
            self._state_counts[old] -= 1
        self._active.discard(job_id)

    def _note_state(self, job_id: str, record: JobRecord, now: float, threshold: float) -> bool:
        """Bring one job's display state (and the counts) up to date; True if it changed."""
        state = display_state(record, now, threshold)
        if record.terminal:
            self._active.discard(job_id)
        else:
            self._active.add(job_id)
            if state not in ("stale", "error") and record.last_polled is not None:
                self._stale_due = min(self._stale_due, record.last_polled + threshold)
        old = self._states.get(job_id)
        if old == state:
            return False
        if old is not None:
            self._state_counts[old] -= 1
        self._state_counts[state] += 1
        self._states[job_id] = state
        return True

    def _all_states(self, now: float) -> bool:
        """Every job's display state afresh; True if any changed."""
        records = self.poller.records
        self._active = {job_id for job_id, record in records.items() if not record.terminal}
        self._threshold = threshold = self.stale_threshold(len(self._active))
        states = {job_id: display_state(record, now, threshold) for job_id, record in records.items()}
        changed = states != self._states
        self._states = states
        self._state_counts = Counter(states.values())
        due = [records[job_id].last_polled for job_id in self._active
               if states[job_id] not in ("stale", "error") and records[job_id].last_polled is not None]
        self._stale_due = min(due) + threshold if due else float("inf")
        return changed

    def _draw(self, full: bool, tick: bool = False) -> None:
        table = self.table
        if table is None:
            return
        now = self.clock.time()
        mono = self.clock.monotonic()
        dirty, self._dirty = self._dirty, set()
        records = self.poller.records
        # Display states: all of them on a full draw; on a tick (time moves every row) only when
        # the stale threshold moved or some row's time to go stale has come; else only the rows
        # the engine touched, so a burst or a quiet tick costs its own size, not the watchlist's.
        if self._threshold is None or (full and not tick):
            states_changed = self._all_states(now)
        else:
            states_changed = False
            for job_id in dirty:
                record = records.get(job_id)
                if record is not None:
                    states_changed |= self._note_state(job_id, record, now, self._threshold)
            if tick and (now >= self._stale_due or self.stale_threshold(len(self._active)) != self._threshold):
                states_changed |= self._all_states(now)
        threshold = self._threshold
        key = (self.sort_mode, self.filter_text, self.hide_finished, self._membership)
        data_ordered = self.sort_mode in ("state", "last change") or self.hide_finished or self.filter_text.strip()
        if self._order is None or key != self._order_key or (data_ordered and (states_changed or dirty or (full and not tick))):
            order = self.visible_order(states=self._states)
            if order != self._order:
                self._order = order
            self._order_key = key
        flashing = frozenset(j for j, until in self._flash_until.items() if until > mono)
        ctx = RowContext(now=now, palette=self.palette, stale_after=threshold, flashing=flashing)
        with self.batch_update():
            banner = self._widget(ProblemBanner)
            if banner is not None:
                banner.show(self.problems)
            table.show(self._order, records, ctx, None if full else dirty)
            self._draw_detail(now, threshold)
            self._draw_status(len(self._order))

    def _draw_detail(self, now: float, threshold: float) -> None:
        pane = self._widget(DetailPane)
        if pane is None:
            return
        pane.set_class(self.detail_visible, "-shown")
        if not self.detail_visible:
            return
        host = self.settings.endpoint.host
        ctx = DetailContext(now=now, palette=self.palette, stale_after=threshold, region=self.settings.region,
                            endpoint_host=None if host == DEFAULT_HOST or self.setup.endpoint_label else host,
                            paused=self.poller.paused, polling=self.setup.can_poll)
        pane.show(self.selected_record, ctx)

    def _draw_status(self, shown: int) -> None:
        bar = self._widget(StatusBar)
        if bar is None:
            return
        counts = {state: n for state, n in self._state_counts.items() if n}
        limiter = getattr(self.poller.client, "limiter", None)
        snapshot = limiter.snapshot() if limiter is not None else None
        info = StatusInfo(
            counts=counts, shown=shown, total=len(self.poller.records),
            measured_rate=self.poller.measured_rate() if self.setup.can_poll else 0.0,
            pace=snapshot.rate if snapshot else 0.0, cut_back=bool(snapshot and snapshot.cut_back),
            paused=self.poller.paused, polling=self.setup.can_poll, sort=self.sort_mode,
            filter_text=self.filter_text, hide_finished=self.hide_finished,
            region=self.settings.region,
            endpoint=self.setup.endpoint_label or self.settings.endpoint.host,
            credentials=self.setup.credentials_note,
        )
        bar.show(info, self.palette)

    def _tick(self) -> None:
        try:
            self._ticks += 1
            mono = self.clock.monotonic()
            for job_id, until in list(self._flash_until.items()):
                if until <= mono:
                    del self._flash_until[job_id]
                    self._dirty.add(job_id)
            if self._ticks % SYNC_EVERY_TICKS == 0:
                self.sync_watchlist()
            if self._save_structural or (self._save_polls and self._ticks % POLL_SAVE_EVERY_TICKS == 0):
                self._save()
            self._redraw(full=True, tick=True)
        except Exception as exc:  # noqa: BLE001 - nothing escapes a timer
            log.exception("tick failed")
            self._report("refresh", exc)

    def _report(self, what: str, exc: BaseException) -> None:
        try:
            self.notify(f"{what} failed: {type(exc).__name__}: {inert(exc, 200)}", title="Internal error",
                        severity="error", markup=False)
        except Exception:  # noqa: BLE001
            pass

    def on_data_table_row_highlighted(self, _event: DataTable.RowHighlighted) -> None:
        if self.detail_visible:
            self._redraw()

    def on_data_table_row_selected(self, _event: DataTable.RowSelected) -> None:
        self.action_toggle_detail()

    def on_input_changed(self, event: FilterBar.Changed) -> None:
        if isinstance(event.input, FilterBar):
            self.filter_text = event.value
            self._redraw(full=True)

    def on_input_submitted(self, event: FilterBar.Submitted) -> None:
        if isinstance(event.input, FilterBar):
            self.action_focus_table()

    # -- persistence ----------------------------------------------------------------------------

    def _note_save(self, structural: bool) -> None:
        if self._loading:
            return
        if structural:
            self._save_structural = True
        else:
            self._save_polls = True

    def _load_watchlist(self) -> None:
        if self.store is None:
            return
        try:
            records = self.store.load()
        except WatchlistCorrupt as exc:
            log.error("%s", exc)
            where = str(exc.moved_to) if exc.moved_to else "its place (it could not be moved)"
            self.set_problem("watchlist", "Watchlist unreadable", str(exc))
            self.notify(f"The watchlist could not be read and was moved to {where}. Starting empty.",
                        title="Watchlist moved aside", severity="error", timeout=20, markup=False)
            return
        except WatchlistTooNew as exc:
            log.error("%s", exc)
            self.set_problem("watchlist", "Watchlist not loaded, not saved", str(exc))
            return
        except WatchlistError as exc:
            log.error("%s", exc)
            self.store.read_only = True  # what could not be read must not be overwritten
            self.set_problem("watchlist", "Watchlist not loaded, not saved", str(exc))
            return
        for record in records:
            self.poller.add(record.job_id, record=record)

    def _save(self, force: bool = False) -> None:
        """Write the watchlist (merged with other processes' changes) if anything changed."""
        if self.store is None or self.store.read_only:
            return
        if not (force or self._save_structural or self._save_polls):
            return
        structural, polls = self._save_structural, self._save_polls
        self._save_structural = self._save_polls = False
        try:
            result = self.store.save(list(self.poller.records.values()))
        except (WatchlistError, OSError) as exc:
            # keep what was unsaved marked as such: the next tick tries again
            self._save_structural = self._save_structural or structural or force
            self._save_polls = self._save_polls or polls
            log.error("saving the watchlist failed: %s", exc)
            self.set_problem("watchlist", "Watchlist not saved", inert(exc, 300))
            return
        self.saves += 1
        if self.problems.get("watchlist", ("",))[0] == "Watchlist not saved":
            self.set_problem("watchlist", None)
        self._apply_sync(result)

    def sync_watchlist(self) -> None:
        """Pick up ids other processes (`vclm-watch add`) added, removed or relabelled."""
        if self.store is None or self.store.read_only:
            return
        try:
            result = self.store.sync(list(self.poller.records.values()))
        except WatchlistCorrupt as exc:
            log.error("%s", exc)
            self.notify(f"The watchlist file was damaged by another program and moved to {exc.moved_to}; "
                        "this monitor's list will be written back.", title="Watchlist moved aside",
                        severity="error", timeout=20, markup=False)
            self._save_structural = True
            return
        except WatchlistTooNew as exc:
            # another, newer vclm-watch rewrote it: this one must not write it any more, and says so
            log.error("%s", exc)
            self.set_problem("watchlist", "Watchlist not saved", inert(exc, 300))
            return
        except (WatchlistError, OSError) as exc:
            log.error("syncing the watchlist failed: %s", exc)
            return
        self._apply_sync(result)

    def _apply_sync(self, result: SyncResult) -> None:
        if not (result.added or result.removed or result.relabelled):
            return
        self._loading = True  # these came from the file: no need to write them back
        try:
            for record in result.added:
                self.poller.add(record.job_id, record=record)
            for job_id in result.removed:
                self.poller.remove(job_id)
        finally:
            self._loading = False
        for record in result.relabelled:
            self._dirty.add(record.job_id)
        parts = [f"{n} {what}" for n, what in ((len(result.added), "added"), (len(result.removed), "removed"),
                                               (len(result.relabelled), "relabelled")) if n]
        self.notify("From another vclm-watch: " + ", ".join(parts) + ".", title="Watchlist updated")
        self._request_flush()

    # -- actions --------------------------------------------------------------------------------

    def _need_selection(self) -> JobRecord | None:
        record = self.selected_record
        if record is None:
            self.notify("No job selected.", severity="warning")
        return record

    def _need_polling(self) -> bool:
        if not self.setup.can_poll:
            self.notify("Not polling: no credentials (see the banner).", severity="warning")
            return False
        return True

    def action_add_jobs(self) -> None:
        self.push_screen(AddJobsScreen(set(self.poller.records), cursor_blink=self.setup.cursor_blink),
                         self._add_requested)

    def action_import_file(self) -> None:
        self.push_screen(ImportFileScreen(set(self.poller.records), cursor_blink=self.setup.cursor_blink),
                         self._add_requested)

    def _add_requested(self, request: AddRequest | None) -> None:
        if request is None:
            return
        added = self.add_jobs(request.ids, request.label)
        message = f"Added {added} job{'s' if added != 1 else ''}."
        if request.note:
            message += f" ({request.note})"
        self.notify(message, title="Watchlist", markup=False)
        if added and self.table is not None:
            self.table.select_job(request.ids[0])

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
        record = self._need_selection()
        if record is None:
            return
        stale = record.stale
        self.poller.remove(record.job_id)
        self._undo.append([(record, stale)])
        self._redraw()
        name = inert(record.label, 40) or short_id(record.job_id)
        self.notify(f"Removed {name}. Press u to undo.", title="Watchlist", markup=False)

    def action_undo(self) -> None:
        if not self._undo:
            self.notify("Nothing to undo.", severity="warning")
            return
        restored = self._undo.pop()
        for record, stale in restored:
            if record.job_id not in self.poller.records:
                self.poller.add(record.job_id, record=record)
                record.stale = stale
        self._redraw()
        if restored and self.table is not None:
            self.table.select_job(restored[0][0].job_id)
        self.notify(f"Restored {len(restored)} job{'s' if len(restored) != 1 else ''}.", title="Watchlist")

    def action_label_job(self) -> None:
        record = self._need_selection()
        if record is None:
            return

        def done(label: str | None) -> None:
            if label is not None and record.job_id in self.poller.records:
                self.poller.set_label(record.job_id, label)
                self._note_save(structural=True)
                self._redraw()

        self.push_screen(LabelScreen(record.job_id, record.label, cursor_blink=self.setup.cursor_blink), done)

    def action_filter(self) -> None:
        bar = self._widget(FilterBar)
        if bar is None:
            return
        if bar.has_focus:  # '/' typed into the filter itself
            bar.insert_text_at_cursor("/")
            return
        bar.display = True  # inline style: applies at once, unlike a class
        bar.cursor_blink = self.setup.cursor_blink
        # at once, not via call_later: keys typed right after '/' must land in the filter
        bar.screen.set_focus(bar)

    def action_clear_filter(self) -> None:
        bar = self._widget(FilterBar)
        if bar is not None:
            bar.value = ""
            bar.display = False
        self.filter_text = ""
        self._redraw(full=True)
        self.action_focus_table()

    def set_filter(self, text: str) -> None:
        bar = self._widget(FilterBar)
        if bar is not None:
            bar.display = True
            bar.value = text
        self.filter_text = text
        self._redraw(full=True)

    def action_focus_table(self) -> None:
        if self.table is not None:
            self.table.focus()

    def action_cycle_sort(self) -> None:
        self.set_sort(SORT_MODES[(SORT_MODES.index(self.sort_mode) + 1) % len(SORT_MODES)])

    def set_sort(self, mode: str) -> None:
        if mode not in SORT_MODES:
            return
        self.sort_mode = mode
        self._redraw(full=True)
        self.notify(f"Sorted by {mode}.", timeout=2)

    def action_hide_finished(self) -> None:
        self.hide_finished = not self.hide_finished
        self._redraw(full=True)
        self.notify("Finished jobs hidden." if self.hide_finished else "Finished jobs shown.", timeout=2)

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
        record = self._need_selection()
        if record is None or not self._need_polling():
            return
        self.poller.refresh(record.job_id)
        name = inert(record.label, 40) or short_id(record.job_id)
        self.notify(f"Refreshing {name}" + (" (paused: only this one)" if self.poller.paused else "") + ".",
                    timeout=2, markup=False)

    def action_refresh_all(self) -> None:
        if not self._need_polling():
            return
        count = self.poller.refresh()
        self.notify(f"Refreshing {count} job{'s' if count != 1 else ''}.", timeout=2)

    def action_toggle_detail(self) -> None:
        self.detail_visible = not self.detail_visible
        self._redraw()

    def action_copy(self, what: str) -> None:
        record = self._need_selection()
        if record is None:
            return
        if what == "job_id":
            text, name = record.job_id, "JobId"
        elif what == "request_id":
            text = (record.last_error.request_id if record.last_error and record.last_error.request_id
                    else record.last_request_id) or ""
            name = "RequestId"
        elif what == "url":
            text, name = record.result_video_url, "result URL"
        else:
            host = self.settings.endpoint.host
            text = reproduce_line(record.job_id, self.settings.region,
                                  None if host == DEFAULT_HOST or self.setup.endpoint_label else host)
            name = "tccli command"
        if not text:
            self.notify(f"This job has no {name} yet.", severity="warning")
            return
        self.copy_to_clipboard(text)
        self.notify(Text(inert(text, 70)).plain, title=f"Copied {name}", timeout=3, markup=False)

    def action_pick_theme(self) -> None:
        self.search_themes()

    def action_help(self) -> None:
        self.push_screen(HelpScreen(help_rows(), self.palette))


# -- the command line entry --------------------------------------------------------------------


async def build_demo_app(settings: Settings, theme: str | None = None) -> VclmWatchApp:
    """The monitor on the in-process simulator with the demo jobs, on a watchlist of its own."""
    from tui.simulator.service import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, Simulator
    from tui.simulator.transport import SimulatorTransport
    from tui.simulator.demo import seed_demo

    simulator = Simulator(seed=2024)
    pairs = await seed_demo(simulator)
    path = paths.demo_watchlist_path()
    path.unlink(missing_ok=True)  # recreated at each demo start
    store = WatchlistStore(path)
    now = SYSTEM_CLOCK.time()
    store.update(lambda _old: [JobRecord(job_id=job_id, label=label, added_at=now) for job_id, label in pairs])
    credentials = Credentials(DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, source="the demo (made-up simulator credentials)")
    settings = replace(settings, watchlist_path=path)
    return create_app(settings, credentials=credentials, transport=SimulatorTransport(simulator), store=store,
                      theme=theme, endpoint_label="in-process simulator (demo)")


def run_monitor(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args)
    except (ConfigError, VclmError) as exc:
        print(f"vclm-watch: {exc}", file=sys.stderr)
        return 2
    theme = getattr(args, "theme", None)
    if getattr(args, "demo", False):
        app = asyncio.run(build_demo_app(settings, theme))
    else:
        try:
            credentials: Credentials | None = load_credentials(settings)
            problem = None
        except ConfigError as exc:
            credentials, problem = None, str(exc)
        app = create_app(settings, credentials=credentials, startup_problem=problem, theme=theme)
    app.run()
    return app.return_code or 0
