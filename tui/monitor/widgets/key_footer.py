"""The footer: as many of the screen's keys as fit the width, the most useful first."""

from __future__ import annotations

from rich.cells import cell_len
from textual import events
from textual.app import ComposeResult
from textual.widget import Widget
from textual.widgets import Footer


def fitting(widths: list[tuple[str, int]], rank: dict[str, int], budget: int) -> set[str]:
    """The actions whose keys fit in `budget` cells, taken in `rank` order (actions not ranked,
    such as the focused widget's own keys, first: they are what the user is doing now)."""
    order = sorted(range(len(widths)), key=lambda n: (rank.get(widths[n][0], -1), n))
    chosen: set[str] = set()
    used = 0
    for n in order:
        action, width = widths[n]
        if used + width <= budget:
            chosen.add(action)
            used += width
    return chosen


def _key_width(key: Widget) -> int:
    # a FooterKey, not compact: " k " then "description "
    return cell_len(getattr(key, "key_display", "")) + cell_len(getattr(key, "description", "")) + 3


class KeyFooter(Footer):
    """Textual's footer (it follows the focus and the screen's bindings), showing only the keys
    that fit, chosen by `rank` (bound action -> place, lower first), in their binding order."""

    def __init__(self, rank: dict[str, int], **kwargs) -> None:
        super().__init__(**kwargs)
        self.rank = rank
        self._composed_width: int | None = None  # the width the keys were last chosen for

    def compose(self) -> ComposeResult:
        widgets = list(super().compose())
        if not widgets:  # the screen's bindings are not ready yet
            return
        keys = [w for w in widgets if hasattr(w, "key_display") and not w.has_class("-command-palette")]
        fixed = sum(_key_width(w) for w in widgets if w.has_class("-command-palette"))
        self._composed_width = self.size.width
        shown = fitting([(getattr(w, "action", ""), _key_width(w)) for w in keys], self.rank,
                        max(0, self.size.width - fixed))
        for widget in widgets:
            if widget not in keys or getattr(widget, "action", "") in shown:
                yield widget

    @property
    def shown_actions(self) -> list[str]:
        """The actions whose keys the footer shows, left to right."""
        return [getattr(w, "action", "") for w in self.children
                if hasattr(w, "key_display") and not w.has_class("-command-palette")]

    def on_resize(self, event: events.Resize) -> None:
        if self._composed_width is not None and event.size.width != self._composed_width:
            self.call_after_refresh(self.recompose)
