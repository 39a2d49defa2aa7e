"""Building and starting the monitor: from settings and credentials (or the demo simulator) to a
running App."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import httpx

from tui.api.client import VclmClient
from tui.api.clock import SYSTEM_CLOCK, Clock
from tui.api.credentials import Credentials
from tui.api.errors import ConfigError, VclmError
from tui.core import paths
from tui.core.engine import Poller
from tui.core.jobstate import JobRecord
from tui.core.overview import Overview, client_counts
from tui.core.preferences import remembered_theme
from tui.core.settings import (
    Settings,
    build_client,
    build_poller,
    build_team,
    default_settings,
    load_credentials,
    load_settings,
)
from tui.core.team import Team
from tui.core.watchlist import WatchlistStore
from tui.monitor import partial_update
from tui.monitor.app import VclmWatchApp
from tui.monitor.setup import MonitorSetup
from tui.monitor.themes import DEFAULT_THEME, shipped_themes_dir

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
    ticking: bool = True,
    cursor_blink: bool = True,
    endpoint_label: str | None = None,
    bell: bool | None = None,
    export_dir: Path | None = None,
    team: Team | None = None,
) -> VclmWatchApp:
    """Build the monitor. With neither credentials, client nor poller it shows but never polls.

    `store` defaults to the settings' watchlist file; pass None for no persistence (tests).
    `records` are shown as given (not marked stale): views can be tested without an engine run.
    `team`: who the engine shares the quota and answers with (`settings.build_team`; None: nobody).
    """
    settings = settings or default_settings()
    can_poll = True
    if poller is None:
        if client is None and credentials is not None:
            client = build_client(settings, credentials, transport=transport, clock=clock)
        if client is None:
            can_poll = False
            poller = Poller(None, clock=clock, min_interval=settings.config.min_interval)
        else:
            poller = build_poller(settings, client, clock=clock, team=team)
    if credentials is not None:
        note = credentials.describe()
    elif client is not None:
        note = client.credentials.describe()
    elif can_poll:
        note = "given by the caller"
    else:
        note = "none found"
    overview = Overview(clock, lambda: client_counts(poller.client))
    setup = MonitorSetup(
        settings=settings, poller=poller, clock=clock,
        store=WatchlistStore(settings.watchlist_path) if store is _DEFAULT else store,  # type: ignore[arg-type]
        client=client, can_poll=can_poll, start_engine=start_engine and can_poll, ticking=ticking,
        credentials_note=note, startup_problem=startup_problem, endpoint_label=endpoint_label,
        startup_warnings=list(credentials.warnings) if credentials is not None else [],
        theme=theme or remembered_theme() or settings.config.theme or DEFAULT_THEME,  # see tui.core.preferences
        theme_dirs=theme_dirs if theme_dirs is not None else [shipped_themes_dir(), paths.user_themes_dir()],
        bell=settings.config.bell if bell is None else bell,
        cursor_blink=cursor_blink, initial_records=list(records),
        export_dir=export_dir or (Path(settings.config.export_dir).expanduser() if settings.config.export_dir else None),
        overview=overview,
    )
    poller.subscribe(overview.apply)  # before any job is added: it counts every one
    partial_update.install()  # a changed cell goes to the terminal alone, not with the line before it
    return VclmWatchApp(setup)


async def build_demo_app(settings: Settings, theme: str | None = None) -> VclmWatchApp:
    """The monitor on the in-process simulator with the demo jobs, on a watchlist of its own."""
    from tui.simulator.demo import seed_demo
    from tui.simulator.service import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, Simulator
    from tui.simulator.transport import SimulatorTransport

    simulator = Simulator(seed=2024)
    pairs = await seed_demo(simulator)
    path = paths.demo_watchlist_path()
    path.unlink(missing_ok=True)  # recreated at each demo start
    store = WatchlistStore(path)
    now = SYSTEM_CLOCK.time()
    store.update(lambda _old: [JobRecord(job_id=job_id, label=label, added_at=now) for job_id, label in pairs])
    credentials = Credentials(DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, source="the demo (made-up simulator credentials)")
    settings = replace(settings, watchlist_path=path)
    # the demo's simulator is this process's own: its team is keyed by an endpoint of its own
    team = build_team(settings, credentials, endpoint_url=f"demo://{os.getpid()}/")
    return create_app(settings, credentials=credentials, transport=SimulatorTransport(simulator), store=store,
                      theme=theme, endpoint_label="in-process simulator (demo)", team=team)


def run_monitor(args: argparse.Namespace, store: WatchlistStore | None = None) -> int:
    """The monitor as `vclm-watch` starts it; `store`: the watchlist's, if already preloading."""
    try:
        settings = load_settings(args)
    except (ConfigError, VclmError) as exc:
        print(f"vclm-watch: {exc}", file=sys.stderr)
        return 2
    theme = getattr(args, "theme", None)
    if getattr(args, "export_dir", None):  # the option beats the config file's export_dir
        settings.config.export_dir = args.export_dir
    try:
        if getattr(args, "demo", False):
            app = asyncio.run(build_demo_app(settings, theme))
        else:
            try:
                credentials: Credentials | None = load_credentials(settings)
                problem = None
            except ConfigError as exc:
                credentials, problem = None, str(exc)
            team = build_team(settings, credentials) if credentials is not None else None
            app = create_app(settings, credentials=credentials, startup_problem=problem, theme=theme, team=team,
                             **({"store": store} if store is not None and store.given_path == settings.watchlist_path else {}))
    except ConfigError as exc:  # (--shared that cannot be used)
        print(f"vclm-watch: {exc}", file=sys.stderr)
        return 2
    return run_app(app)


# Signals that end the monitor as `q` does: the watchlist saved, the terminal given back as it was.
EXIT_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def run_app(app: VclmWatchApp) -> int:
    """Run the monitor until it quits; SIGTERM and SIGHUP quit it as `q` does (exit 128+signal)."""

    def on_signal(signum: int, _frame: object) -> None:
        try:
            loop = asyncio.get_running_loop()  # the App's: Python runs handlers in the main thread
        except RuntimeError:  # not started yet, or already stopped: nothing to save or restore
            raise SystemExit(128 + signum) from None
        # handled on the App's own message loop (its context), as a key press would be
        loop.call_soon_threadsafe(app.call_later, _quit_on_signal, app, signum)

    previous = {signum: signal.signal(signum, on_signal) for signum in EXIT_SIGNALS}
    try:
        app.run()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return app.return_code or 0


async def _quit_on_signal(app: VclmWatchApp, signum: int) -> None:
    # The same path as `q`: stop polling, save what is unsaved, then let Textual restore the
    # terminal (main screen, cursor, mouse off, cooked mode) as it does on any exit.
    try:
        await app.shutdown()
    finally:
        app.exit(return_code=128 + signum)
