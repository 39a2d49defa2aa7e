"""The filter line: narrows the table as you type (over id, label and state)."""

from __future__ import annotations

from textual.binding import Binding
from textual.widgets import Input


class FilterBar(Input):
    DEFAULT_CSS = """
    FilterBar {
        height: 1;
        border: none;
        padding: 0 1;
        background: $panel;
    }
    FilterBar:focus {
        border: none;
        background: $panel-lighten-1;
    }
    """
    BINDINGS = [
        Binding("escape", "app.clear_filter", "Clear filter", id="filter.clear"),
        Binding("down", "app.focus_table", "To the table", show=False, id="filter.to_table"),
    ]

    def __init__(self, **kwargs) -> None:
        super().__init__(placeholder="filter: words in the id, label or state (enter keeps, esc clears)", **kwargs)
        self.display = False
