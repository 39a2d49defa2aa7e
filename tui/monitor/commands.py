"""The command palette: every monitor action (from the key table), the sort modes and the themes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Any, Protocol

from textual.command import DiscoveryHit, Hit, Hits, Provider

from tui.core.states import SORT_MODES
from tui.monitor.keys import KEYS, PALETTE_ONLY, key_for, shown_keys


class PaletteHost(Protocol):
    """What the palette needs of the App (so that it never imports the App)."""

    vclm_themes: dict[str, Any]

    monitor: Any  # the main screen, which runs the actions that work on its widgets

    def run_action(self, action: str, default_namespace: Any = None) -> Any: ...

    def set_sort(self, mode: str) -> None: ...

    def set_theme(self, name: str) -> None: ...


def monitor_commands(app: PaletteHost) -> Iterator[tuple[str, str, Callable[[], object]]]:
    """(name, help, callback) for every action the keys offer, then sort modes and themes."""
    for key in KEYS:
        if key.command:
            target = app.monitor if key.on_screen else None
            yield key.command, f"{key.help} ({shown_keys(key)})", partial(app.run_action, key.action, target)
    for name, help_text, action in PALETTE_ONLY:
        yield name, help_text, partial(app.run_action, action, app.monitor)
    sort_key = key_for("cycle_sort")
    for mode in SORT_MODES:
        yield f"Sort by {mode}", f"order of the table ({sort_key} cycles)", partial(app.set_sort, mode)
    for name in sorted(app.vclm_themes):
        yield f"Theme: {name}", "switch theme", partial(app.set_theme, name)


class MonitorCommands(Provider):
    def _commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        app = self.app
        if not hasattr(app, "vclm_themes"):
            return []
        return list(monitor_commands(app))  # type: ignore[arg-type]

    async def discover(self) -> Hits:
        for name, help_text, callback in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, callback in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
