"""The command palette: every monitor action, the sort modes and the themes, by name."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Callable, Iterator

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from tui.monitor.app import VclmWatchApp


def monitor_commands(app: "VclmWatchApp") -> Iterator[tuple[str, str, Callable[[], object]]]:
    """(name, help, callback) for every action the keys offer."""
    yield "Add jobs", "paste one id, many, or log text (a)", app.action_add_jobs
    yield "Import ids from a file", "read job ids from a file (i)", app.action_import_file
    yield "Remove selected job", "u undoes (d)", app.action_remove_job
    yield "Undo remove", "bring back the last removed job (u)", app.action_undo
    yield "Label selected job", "name the job (l)", app.action_label_job
    yield "Filter", "by id, label or state (/)", app.action_filter
    yield "Clear filter", "show every job again (esc)", app.action_clear_filter
    from tui.monitor.app import SORT_MODES

    for mode in SORT_MODES:
        yield f"Sort by {mode}", "order of the table (s cycles)", partial(app.set_sort, mode)
    yield ("Show finished jobs" if app.hide_finished else "Hide finished jobs"), "(h)", app.action_hide_finished
    yield ("Resume polling" if app.poller.paused else "Pause polling"), "(p)", app.action_toggle_pause
    yield "Refresh selected job", "poll it now (r)", app.action_refresh_selected
    yield "Refresh all jobs", "poll every unfinished job now (R)", app.action_refresh_all
    yield "Toggle detail pane", "(enter)", app.action_toggle_detail
    yield "Copy JobId", "of the selected job (y)", partial(app.action_copy, "job_id")
    yield "Copy RequestId", "the last one of the selected job (Y)", partial(app.action_copy, "request_id")
    yield "Copy result URL", "of the selected job (c)", partial(app.action_copy, "url")
    yield "Copy tccli command", "that reproduces the query (x)", partial(app.action_copy, "reproduce")
    for name in sorted(app.vclm_themes):
        yield f"Theme: {name}", "switch theme", partial(app.set_theme, name)
    yield "Help", "every key (?)", app.action_help


class MonitorCommands(Provider):
    def _commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        app = self.app
        if not hasattr(app, "poller"):
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
