"""The help screen: every key of the monitor, the dialogs, and what each state symbol means."""

from __future__ import annotations

from collections.abc import Iterable

from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tui.core.states import STATE_NAMES, STATE_ORDER
from tui.monitor.keys import table_help_rows
from tui.monitor.widgets.state_style import StatePalette

DIALOG_KEYS = (
    ("enter", "add / save / import (in a dialog)"),
    ("tab, shift+tab", "next / previous field"),
    ("escape", "close a dialog; in the filter: clear it"),
    ("tab", "focus the detail pane (then arrows scroll it)"),
    ("ctrl+p", "command palette: every action, and themes"),
    ("ctrl+q", "quit from anywhere"),
)


def render_help(keys: Iterable[tuple[str, str]], palette: StatePalette) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style=Style(bold=True), no_wrap=False, max_width=16)
    table.add_column()
    table.add_row(Text("Monitor keys", style=Style(bold=True, underline=True)), "")
    for key, description in keys:
        table.add_row(Text(key), Text(description))
    table.add_row("", "")
    table.add_row(Text("In the table", style=Style(bold=True, underline=True)), "")
    for key, description in table_help_rows():
        table.add_row(Text(key), Text(description))
    table.add_row("", "")
    table.add_row(Text("Everywhere", style=Style(bold=True, underline=True)), "")
    for key, description in DIALOG_KEYS:
        table.add_row(Text(key), Text(description))
    table.add_row("", "")
    table.add_row(Text("States", style=Style(bold=True, underline=True)), "")
    for state in STATE_ORDER:
        table.add_row(Text(palette.symbol(state), style=palette.style(state)), Text(STATE_NAMES[state]))
    return table


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
        background: $background 60%;
    }
    HelpScreen > VerticalScroll {
        width: 90%;
        max-width: 80;
        height: 90%;
        border: round $primary;
        background: $surface;
        padding: 0 1;
    }
    """
    BINDINGS = [
        Binding("escape,q,question_mark", "close", "Close", id="help.close"),
    ]

    def __init__(self, keys: list[tuple[str, str]], palette: StatePalette) -> None:
        super().__init__()
        self.keys = keys
        self.palette = palette

    def compose(self) -> ComposeResult:
        with VerticalScroll() as scroll:
            scroll.border_title = "vclm-watch help"
            scroll.border_subtitle = "esc closes"
            yield Static(render_help(self.keys, self.palette), id="help-body")

    def action_close(self) -> None:
        self.dismiss(None)
