"""The status bar: jobs per state, request rate against the quota, modes, endpoint and credentials."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.style import Style
from rich.text import Text
from textual.widgets import Static

from tui.api.models import QUOTA_PER_SECOND
from tui.core.formatting import inert
from tui.core.states import STATE_ORDER
from tui.monitor.widgets.state_style import StatePalette

DIM = Style(dim=True)
SEP = (" │ ", DIM)


@dataclass
class StatusInfo:
    counts: dict[str, int] = field(default_factory=dict)
    shown: int = 0
    total: int = 0
    measured_rate: float = 0.0
    pace: float = 0.0
    cut_back: bool = False
    paused: bool = False
    polling: bool = True
    sort: str = "added"
    filter_text: str = ""
    hide_finished: bool = False
    region: str = ""
    endpoint: str = ""
    credentials: str = ""


def render_status(info: StatusInfo, palette: StatePalette) -> Text:
    line = Text(no_wrap=True, overflow="ellipsis", end="")
    if info.total == 0:
        line.append("no jobs", DIM)
    for key in STATE_ORDER:
        count = info.counts.get(key, 0)
        if count:
            line.append(f"{palette.symbol(key)}{count} ", palette.style(key))
    if info.shown != info.total:
        line.append(f"({info.shown}/{info.total} shown)", DIM)
    line.append(*SEP)
    if not info.polling:
        line.append("not polling", Style(bold=True) + palette.style("error"))
    else:
        line.append(f"{info.measured_rate:.1f}/{QUOTA_PER_SECOND} req/s")
        if info.cut_back:
            line.append(f" ▼cut to {info.pace:.1f}", Style(bold=True) + palette.style("unknown"))
        if info.paused:
            line.append(" ⏸ PAUSED", Style(bold=True, reverse=True))
    line.append(*SEP)
    line.append(f"sort:{info.sort}")
    if info.hide_finished:
        line.append(" · finished hidden")
    if info.filter_text:
        line.append(" · filter:")
        line.append(inert(info.filter_text, 30), Style(bold=True))
    line.append("\n")
    where = Text(no_wrap=True, overflow="ellipsis", end="")
    where.append(inert(info.region, 40), Style(bold=True))
    where.append(" @ ")
    where.append(inert(info.endpoint, 80))
    where.append(*SEP)
    where.append("credentials: ", DIM)
    where.append(inert(info.credentials, 120))
    line.append_text(where)
    return line


class StatusBar(Static):
    DEFAULT_CSS = """
    StatusBar {
        height: 2;
        background: $panel;
        color: $foreground;
        padding: 0 1;
    }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__("", **kwargs)
        self._last: tuple | None = None
        self.info = StatusInfo()

    def show(self, info: StatusInfo, palette: StatePalette) -> None:
        text = render_status(info, palette)
        key = (text.plain, tuple(text.spans))
        self.info = info
        if key != self._last:
            self._last = key
            self.update(text, layout=False)  # its size is fixed: a new text never moves anything
