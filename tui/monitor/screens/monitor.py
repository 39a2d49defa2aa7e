"""The main screen: banner, table, detail pane, filter line, status bar, footer; and every key."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container
from textual.screen import Screen
from textual.widgets import Footer

from tui.core.config import ALL_COLUMNS
from tui.monitor.keys import KEY_NAMES, KEYS
from tui.monitor.widgets.detail_pane import DetailPane
from tui.monitor.widgets.filter_bar import FilterBar
from tui.monitor.widgets.job_table import JobTable
from tui.monitor.widgets.problem_banner import ProblemBanner
from tui.monitor.widgets.status_bar import StatusBar

class MonitorScreen(Screen):
    # '/' is a priority binding: it moves the focus before the keys typed right after it
    # are dispatched (a normal binding runs too late, and they would be taken as commands).
    BINDINGS = [
        Binding(key.keys, f"app.{key.action}", key.footer, show=key.in_footer, id=key.binding_id, tooltip=key.help,
                key_display=KEY_NAMES.get(key.keys.split(",")[0]), priority=key.keys == "slash")
        for key in KEYS
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
