"""The words of the monitor's toasts and banners about jobs and the service, and which toasts
stay on screen (pure: no Textual)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tui.api.models import FAILED_STATUS_CODES
from tui.core.events import HealthChanged
from tui.core.formatting import inert, short_id
from tui.core.hints import hint_for
from tui.core.jobstate import JobRecord
from tui.core.states import CODE_KEYS
from tui.core.team import TeamStatus


def finished_notice(finished: list[tuple[JobRecord, str]], symbol) -> tuple[str, str, str]:
    """(title, message, severity) of one toast for jobs that finished together.

    `symbol(state)` gives the theme's symbol of a display state.
    """
    if len(finished) == 1:
        record, code = finished[0]
        name = inert(record.label, 40) or short_id(record.job_id)
        return ("Job finished", f"{symbol(CODE_KEYS.get(code, 'unknown'))} {name}: {code}",
                "warning" if code in FAILED_STATUS_CODES else "information")
    counts: dict[str, int] = {}
    for _record, code in finished:
        counts[code] = counts.get(code, 0) + 1
    parts = ", ".join(f"{n} {symbol(CODE_KEYS.get(c, 'unknown'))} {c}" for c, n in sorted(counts.items()))
    failed = any(c in FAILED_STATUS_CODES for c in counts)
    return "Jobs finished", f"{len(finished)} jobs finished: {parts}", "warning" if failed else "information"


def team_banner(status: TeamStatus | None) -> tuple[str | None, str]:
    """(title, detail) of the banner while this process cannot reach its team (fallback): why,
    and the share of the quota it keeps to meanwhile; (None, "") otherwise (no banner)."""
    if status is None or status.mode != "fallback":
        return None, ""
    share = f"{status.share:.1f} req/s" if status.share is not None else "a share of the quota"
    return ("Team mode: polling alone",
            f"{status.problem or 'the team cannot be reached'}; keeping to {share} until it rejoins (by itself)")


def health_banner(event: HealthChanged) -> tuple[str, str]:
    """(title, detail) of the banner for a problem that affects every job: what failed (the
    engine's words, without what the server sent: that is in the detail pane) and the hint, in
    two lines at 80 columns, so an outage leaves the table its rows. (That polling is held to one
    probe meanwhile goes without saying here: the README says it, and a toast says it cleared.)"""
    code = event.error.code if event.error is not None else ""
    titles = {"auth": "Authentication problem", "network": "Network problem", "config": "Cannot poll"}
    detail = inert(event.detail, 300)
    if code:
        detail += f" — {hint_for(code)}"
    return titles.get(event.problem or "", "Problem"), detail + "."


def quit_hint(active_bindings: Mapping[str, Any]) -> str:
    """What ctrl+c says (it copies in a text field and does not quit): the key that quits."""
    keys = [key for key, active in active_bindings.items() if active.binding.action in ("quit", "app.quit")]
    return f"Press {keys[0]} to quit." if keys else "Press ctrl+q to quit."


SEVERITY_RANK = {"information": 0, "warning": 1, "error": 2}


@dataclass
class Toast:
    message: str
    title: str
    severity: str
    timeout: float
    markup: bool
    kind: str  # a new toast replaces a live one of its kind ("" for untitled status lines)
    shown_at: float = 0.0

    def left(self, now: float) -> float:
        return self.shown_at + self.timeout - now


@dataclass
class ToastShelf:
    """Which toasts are on screen, so a burst never buries the screen: a new toast replaces the
    live one of its kind (unless that one is more severe), and at most `limit` show at once,
    the oldest of the least severe giving way first.

    Toasts reach the screen in one go per burst (`show` schedules one `flush`), after every
    toast of the burst was counted: Textual posts each toast as a message, so clearing the
    screen's toasts in between would miss those still on their way.
    """

    limit: int = 2
    clock: Callable[[], float] = time.monotonic  # toasts expire in real time
    live: list[Toast] = field(default_factory=list)
    fresh: list[Toast] = field(default_factory=list)  # counted, not posted yet
    gave_way: bool = False  # one that was posted gave way: clear the screen's toasts and post the live ones
    scheduled: bool = False

    def add(self, toast: Toast) -> None:
        now = self.clock()
        toast.shown_at = now
        live = [t for t in self.live if t.left(now) > 0]
        rank = SEVERITY_RANK.get
        kept = [t for t in live if t.kind != toast.kind or rank(t.severity, 0) > rank(toast.severity, 0)]
        while len(kept) >= self.limit:
            kept.remove(min(kept, key=lambda t: (rank(t.severity, 0), t.shown_at)))
        self.gave_way = self.gave_way or any(t not in kept and t not in self.fresh for t in live)
        self.fresh = [t for t in self.fresh if t in kept] + [toast]
        self.live = kept + [toast]

    def take(self) -> tuple[list[Toast], bool]:
        """(the toasts to post now, whether to clear the screen's toasts first)."""
        shown, clear_first = (list(self.live), True) if self.gave_way else (self.fresh, False)
        self.fresh, self.gave_way = [], False
        now = self.clock()
        return [t for t in shown if t.left(now) > 0], clear_first

    def show(self, toast: Toast, *, post: Callable[..., object], clear: Callable[[], object],
             later: Callable[..., object]) -> None:
        """Count `toast`, and have `later` (App.call_later) put the burst on screen through `post`
        (App.notify's arguments) after `clear` when one gave way."""
        self.add(toast)
        if not self.scheduled:
            self.scheduled = True
            if later(self.flush, post, clear) is False:  # the app is closing: nothing will flush
                self.scheduled = False

    def flush(self, post: Callable[..., object], clear: Callable[[], object]) -> None:
        self.scheduled = False
        now = self.clock()
        shown, clear_first = self.take()
        if clear_first:
            clear()
        for item in shown:
            post(item.message, title=item.title, severity=item.severity, timeout=item.left(now), markup=item.markup)
