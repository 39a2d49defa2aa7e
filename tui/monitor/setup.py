"""What the monitor runs on: settings, engine, clock, watchlist store, client, theme."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from tui.api.client import VclmClient
from tui.api.clock import SYSTEM_CLOCK, Clock
from tui.core.engine import Poller
from tui.core.jobstate import JobRecord
from tui.core.overview import Overview
from tui.core.settings import Settings
from tui.core.watchlist import WatchlistStore
from tui.monitor.themes import DEFAULT_THEME

log = logging.getLogger(__name__)


@dataclass
class MonitorSetup:
    """Everything the monitor runs on; `tui.monitor.launch.create_app` fills it in."""

    settings: Settings
    poller: Poller
    clock: Clock = SYSTEM_CLOCK
    store: WatchlistStore | None = None
    client: VclmClient | None = None  # closed on exit
    can_poll: bool = True
    start_engine: bool = True
    ticking: bool = True  # the 1-second tick runs on its own (tests that call tick_now() may stop it)
    credentials_note: str = ""
    startup_problem: str | None = None
    startup_warnings: list[str] = field(default_factory=list)  # toasts at start (credentials readable by others)
    endpoint_label: str | None = None
    theme: str = DEFAULT_THEME
    theme_dirs: list[Path | None] = field(default_factory=list)
    bell: bool = False
    cursor_blink: bool = True
    initial_records: list[JobRecord] = field(default_factory=list)
    export_dir: Path | None = None  # where `e` saves the screen (None: the current directory)
    overview: Overview | None = None  # the overview screen's numbers, fed by the engine from the start

    async def close(self) -> None:
        """Leave the team and close the HTTP client (never raises: the exit goes on)."""
        if self.poller.team is not None:
            await self.poller.team.close()
        if self.client is not None:
            try:
                await self.client.aclose()
            except Exception:  # noqa: BLE001 - closing must not fail the exit
                log.exception("closing the HTTP client failed")
