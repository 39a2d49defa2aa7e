"""The status bar: jobs per state, request rate against the quota, modes, endpoint and credentials."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rich.style import Style
from rich.text import Text

from tui.api.models import QUOTA_PER_SECOND
from tui.core.formatting import byte_size, inert
from tui.core.states import STATE_ORDER
from tui.core.team import TeamStatus
from tui.monitor.widgets.diff_static import DiffStatic
from tui.monitor.widgets.state_style import StatePalette

if TYPE_CHECKING:
    from tui.core.downloads import DownloadTotals

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
    downloads: DownloadTotals | None = None
    team: TeamStatus | None = None  # team mode: who shares the quota (None or solo: nothing shown)


@dataclass
class Part:
    """A piece of a status line; when the line is too wide, parts give way by `rank` (lowest
    first): each takes its next shorter form, the last form may be empty (dropped)."""

    forms: list[Text]
    rank: int = 99  # 99: never gives way


def _text(*pieces: tuple[str, Style | str] | str) -> Text:
    text = Text()
    for piece in pieces:
        text.append(*piece) if isinstance(piece, tuple) else text.append(piece)
    return text


def _cut(text: Text, width: int) -> Text:
    cut = text.copy()
    cut.truncate(width, overflow="ellipsis")
    return cut


def fit_line(parts: list[Part], width: int | None) -> Text:
    """The parts on one line, shortened by rank until the line fits `width` cells."""
    chosen = [0] * len(parts)
    if width is not None:
        def total() -> int:
            return sum(part.forms[chosen[n]].cell_len for n, part in enumerate(parts))

        for n in sorted(range(len(parts)), key=lambda n: parts[n].rank):
            if total() <= width or parts[n].rank == 99:
                break
            while chosen[n] < len(parts[n].forms) - 1 and total() > width:
                chosen[n] += 1
    line = Text(no_wrap=True, overflow="ellipsis", end="")
    for n, part in enumerate(parts):
        line.append_text(part.forms[chosen[n]])
    if width is not None and line.cell_len > width:
        line.truncate(width, overflow="ellipsis")
    return line


def _activity(info: StatusInfo, palette: StatePalette) -> list[Part]:
    """Line 1: jobs per state, the rate (with its cut back and the pause), the sort and the view."""
    counts = Text()
    if info.total == 0:
        counts.append("no jobs", DIM)
    for key in STATE_ORDER:
        count = info.counts.get(key, 0)
        if count:
            counts.append(f"{palette.symbol(key)}{count} ", palette.style(key))
    parts = [Part([counts])]
    if info.shown != info.total:
        parts.append(Part([_text((f"({info.shown}/{info.total} shown)", DIM)), _text((f"({info.shown})", DIM))], 5))
    if not info.polling:
        parts.append(Part([_text(SEP, ("not polling", Style(bold=True) + palette.style("error")))]))
    else:
        parts.append(Part([_text(SEP, f"{info.measured_rate:.1f}/{QUOTA_PER_SECOND} req/s")]))
        if info.cut_back:
            style = Style(bold=True) + palette.style("unknown")
            parts.append(Part([_text((f" ▼cut to {info.pace:.1f}", style)), _text((f" ▼{info.pace:.1f}", style))], 7))
        if info.paused:
            parts.append(Part([_text((" ⏸ PAUSED", Style(bold=True, reverse=True)))]))
        parts.extend(_team(info.team, palette))
    parts.extend(_downloads(info.downloads, palette))
    parts.append(Part([_text(SEP, f"sort:{info.sort}")]))
    if info.hide_finished:
        parts.append(Part([_text(" · finished hidden"), _text(" · hiding done"), _text()], 3))
    if info.filter_text:
        shown = inert(info.filter_text, 30)
        forms = [_text(" · filter:", (shown, Style(bold=True)))]
        forms += [_text(" · filter:", (_cut(Text(shown), n).plain, Style(bold=True))) for n in (12, 6) if len(shown) > n]
        parts.append(Part(forms + [_text()], 4))  # the filter bar shows it too
    return parts


def _downloads(totals: DownloadTotals | None, palette: StatePalette) -> list[Part]:
    """While downloads run: `│ ⇣ 2 · 14.3 MB/s · 61 %` (running, rate, share of the bytes known),
    shortened to `│ ⇣2 61%` on a narrow line; nothing once they are done."""
    if totals is None or not (totals.active or totals.queued):
        return []
    style = palette.style("running")
    percent = f"{min(100, totals.received * 100 // totals.total)} %" if totals.total else ""
    rate = f" · {byte_size(int(totals.rate))}/s"
    tail = f" · {percent}" if percent else ""
    queued = (f" (+{totals.queued} queued)", DIM) if totals.queued else ""
    forms = [_text(SEP, (f"⇣ {totals.active}", style), queued, rate, tail),
             _text(SEP, (f"⇣ {totals.active}", style), rate, tail),
             _text(SEP, (f"⇣ {totals.active}", style), tail),
             _text(SEP, (f"⇣{totals.active}", style), f" {percent.replace(' ', '')}" if percent else "")]
    return [Part(forms, 6)]


def _team(team: TeamStatus | None, palette: StatePalette) -> list[Part]:
    """The quota's sharing, after this process's rate: `local ×2 · 19.2/20 req/s all` (the
    processes lately seen, and their combined rate); nothing when alone or solo; in fallback,
    the share this process keeps to (the banner says why)."""
    if team is None or team.mode == "solo":
        return []
    if team.mode == "fallback":
        share = f" {team.share:.1f} req/s" if team.share is not None else ""
        style = Style(bold=True) + palette.style("unknown")
        return [Part([_text(" · ", (f"alone{share} (team unreachable)", style)), _text(" · ", ("alone", style))], 6)]
    if team.members <= 1:
        return []
    combined = f" · {team.combined_rate:.1f}/{QUOTA_PER_SECOND} req/s all" if team.combined_rate is not None else ""
    return [Part([_text(" · ", (f"{team.mode} ×{team.members}", Style(bold=True)), combined),
                  _text(" · ", (f"{team.mode} ×{team.members}", Style(bold=True)))], 6)]


def _whereabouts(info: StatusInfo) -> list[Part]:
    """Line 2: region, endpoint and credentials; the credentials' source goes first, then the
    endpoint is cut, then the word 'credentials'; the region and the key's ends stay."""
    endpoint = inert(info.endpoint, 80)
    credentials = inert(info.credentials, 120)
    key, _sep, _source = credentials.partition(" from ")
    return [
        Part([_text((inert(info.region, 40), Style(bold=True)))]),
        Part([_text(" @ ", endpoint)] + [_text(" @ ", _cut(Text(endpoint), n).plain) for n in (32, 20, 12)
                                         if len(endpoint) > n], 2),
        Part([_text(SEP, ("credentials: ", DIM))] + [_text(SEP, ("key ", DIM))], 3),
        Part([Text(credentials)] + ([Text(key)] if key != credentials else []), 1),
    ]


def render_status(info: StatusInfo, palette: StatePalette, width: int | None = None) -> Text:
    """Both status lines, each fitted to `width` cells (None: as long as they come)."""
    line = fit_line(_activity(info, palette), width)
    line.append("\n")
    line.append_text(fit_line(_whereabouts(info), width))
    return line


class StatusBar(DiffStatic):
    """Two lines; a new text repaints only what changed in it (the rate, a count)."""

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
        self._palette: StatePalette | None = None
        self.info = StatusInfo()

    def show(self, info: StatusInfo, palette: StatePalette) -> None:
        width = self.content_size.width or None  # None until laid out; on_resize draws again
        text = render_status(info, palette, width)
        key = (text.plain, tuple(text.spans))
        self.info, self._palette = info, palette
        if key != self._last:
            self._last = key
            self.update(text, layout=False)  # its size is fixed: only the changed cells repaint

    def on_resize(self) -> None:
        if self._palette is not None:
            self.show(self.info, self._palette)
