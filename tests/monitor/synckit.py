"""A WatchlistSync over a real engine (no client) and a real file, recording what it reports."""

from __future__ import annotations

from tui.api.clock import FakeClock
from tui.core.engine import Poller
from tui.core.watchlist import WatchlistStore
from tui.monitor.watchlist_sync import WatchlistSync


class Harness:
    def __init__(self, path, store: WatchlistStore | None = None) -> None:
        self.clock = FakeClock()
        self.poller = Poller(None, clock=self.clock)
        self.problems: dict[str, tuple[str, str]] = {}
        self.notices: list[tuple[str, str]] = []
        self.touched: list[str] = []
        self.store = store if store is not None else WatchlistStore(path)
        self.sync = WatchlistSync(self.store, self.poller, problem=self.problem, notice=self.notice,
                                  touched=self.touched.append)
        self.poller.subscribe(self.sync.note)

    def problem(self, slot: str, title: str | None, detail: str = "") -> None:
        if title is None:
            self.problems.pop(slot, None)
        else:
            self.problems[slot] = (title, detail)

    def notice(self, message: str, *, title: str = "", severity: str = "information", timeout=None) -> None:
        self.notices.append((title, message))
