"""The main screen: banner, table, detail pane, filter line, status bar, footer; and every key."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container
from textual.screen import Screen
from textual.widgets import Footer

from tui.core.config import ALL_COLUMNS
from tui.monitor.widgets.detail_pane import DetailPane
from tui.monitor.widgets.filter_bar import FilterBar
from tui.monitor.widgets.job_table import JobTable
from tui.monitor.widgets.problem_banner import ProblemBanner
from tui.monitor.widgets.status_bar import StatusBar

# (keys, action on the app, footer text, help text, in the footer?, binding id)
KEYS: tuple[tuple[str, str, str, str, bool, str], ...] = (
    ("a", "add_jobs", "Add", "add job ids: one, many, or pasted log text", True, "monitor.add"),
    ("d,delete", "remove_job", "Remove", "remove the selected job (u undoes)", True, "monitor.remove"),
    ("u", "undo", "Undo", "undo the last removal", False, "monitor.undo"),
    ("l", "label_job", "Label", "label the selected job", False, "monitor.label"),
    ("i", "import_file", "Import", "import job ids from a file", False, "monitor.import"),
    ("slash", "filter", "Filter", "filter by id, label or state", True, "monitor.filter"),
    ("escape", "clear_filter", "Clear filter", "clear the filter", False, "monitor.clear_filter"),
    ("s", "cycle_sort", "Sort", "sort: added → state → age → last change", False, "monitor.sort"),
    ("h", "hide_finished", "Hide done", "hide or show finished jobs", False, "monitor.hide_finished"),
    ("p", "toggle_pause", "Pause", "pause or resume polling", True, "monitor.pause"),
    ("r", "refresh_selected", "Refresh", "refresh the selected job now (a finished one gets a fresh URL)", True, "monitor.refresh"),
    ("R", "refresh_all", "Refresh all", "refresh every unfinished, failing or stale job now", False, "monitor.refresh_all"),
    ("enter", "toggle_detail", "Details", "show or hide the detail pane (it follows the cursor)", True, "monitor.detail"),
    ("y", "copy('job_id')", "Copy id", "copy the JobId to the clipboard", False, "monitor.copy_job_id"),
    ("Y", "copy('request_id')", "Copy RequestId", "copy the last RequestId", False, "monitor.copy_request_id"),
    ("c", "copy('url')", "Copy URL", "copy the result video URL", False, "monitor.copy_url"),
    ("x", "copy('reproduce')", "Copy tccli", "copy the tccli line that reproduces the query", False, "monitor.copy_reproduce"),
    ("t", "pick_theme", "Theme", "choose a theme", False, "monitor.theme"),
    ("question_mark", "help", "Help", "this help", True, "monitor.help"),
    ("q", "quit", "Quit", "save the watchlist and quit", True, "monitor.quit"),
)

KEY_NAMES = {"slash": "/", "question_mark": "?", "delete": "del", "escape": "esc"}


def help_rows() -> list[tuple[str, str]]:
    rows = []
    for keys, _action, _short, long, _show, _id in KEYS:
        shown = ", ".join(KEY_NAMES.get(k, k) for k in keys.split(","))
        rows.append((shown, long))
    return rows


class MonitorScreen(Screen):
    # '/' is a priority binding: it moves the focus before the keys typed right after it
    # are dispatched (a normal binding runs too late, and they would be taken as commands).
    BINDINGS = [
        Binding(keys, f"app.{action}", short, show=show, id=binding_id, tooltip=long,
                key_display=KEY_NAMES.get(keys.split(",")[0]), priority=keys == "slash")
        for keys, action, short, long, show, binding_id in KEYS
    ]

    def __init__(self, columns: list[str] | None = None, *, detail_visible: bool = False) -> None:
        super().__init__()
        self.columns = list(columns or ALL_COLUMNS)
        self.detail_visible = detail_visible

    def compose(self) -> ComposeResult:
        yield ProblemBanner(id="banner")
        with Container(id="main"):
            yield JobTable(self.columns, id="jobs")
            yield DetailPane(id="detail", classes="-shown" if self.detail_visible else "")
        yield FilterBar(id="filter")
        yield StatusBar(id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(JobTable).focus()
        refresh_view = getattr(self.app, "refresh_view", None)
        if refresh_view is not None:  # the app may have loaded jobs before this screen existed
            refresh_view()
