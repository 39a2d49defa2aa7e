"""The overview screen (key `o`): is something wrong right now, and since when.

Draws `tui.core.overview.Overview`'s numbers: request rate against the quota, requests and
finishes and errors per minute as sparklines (each with its numbers beside it, so nothing
depends on colour), time to finish now against the hour before, counts by state, and the
oldest unfinished job. Each section is a `DiffStatic`: once a second at most the numbers are
read again, and only the sections (and, within them, the cells) that changed are repainted.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from rich.console import Group
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.events import Resize
from textual.geometry import Region
from textual.screen import Screen

from tui.core.formatting import duration, inert
from tui.core.overview import MINUTES, Minute, Overview, OverviewNumbers, Spread
from tui.core.states import STATE_NAMES
from tui.monitor.widgets.diff_static import DiffStatic
from tui.monitor.widgets.state_style import StatePalette

log = logging.getLogger(__name__)

QUOTA = 20  # requests per second the API allows an account
HEAD, NAME = 11, 13  # columns of the section name and the series name, before a sparkline
LABEL = HEAD + NAME
NUMBERS = 26  # columns after it: " 1234/min  peak  1234 16:42"
WIDE_NUMBERS = 27  # and, where they fit: "  from 16:40  total 123456"
SPARKS = "▁▂▃▄▅▆▇█"
BOLD = Style(bold=True)
DIM = Style(dim=True)
SLOWER = 1.5  # recent p50 this many times the hour before's: said in words
STATE_ROWS = ("running", "init", "pending", "success", "failed", "moderation", "unknown", "error")

# series: (title, key, palette state whose colour it takes)
REQUEST_SERIES = (("sent", "sent", "running"), ("accepted", "accepted", "success"),
                  ("refused", "refused", "unknown"), ("cut-backs", "cut_backs", "moderation"))
FINISH_SERIES = (("success", "success", "success"), ("failed", "failed", "failed"),
                 ("moderation", "moderation", "moderation"))
ERROR_SERIES = (("InnerError", "InnerError", "error"), ("RequestLimit", "RequestLimitExceeded", "unknown"),
                ("transport", "transport", "failed"), ("auth", "auth", "moderation"), ("other", "other", "stale"))


def hhmm(at: float) -> str:
    return time.strftime("%H:%M", time.localtime(at))


def sparkline(values: Sequence[int], style: Style) -> Text:
    """One cell a value: a quiet minute is a dim floor, any other at least one step above it."""
    text = Text()
    top = max(values, default=0)
    for value in values:
        if value <= 0 or top <= 0:
            text.append(SPARKS[0], DIM)
        else:
            text.append(SPARKS[max(1, round(value / top * (len(SPARKS) - 1)))], style)
    return text


def bar(value: float, top: float, width: int, style: Style) -> Text:
    """A horizontal bar of `width` cells, in eighths, filled to value/top; the rest shaded."""
    eighths = 0 if top <= 0 else max(0, min(width * 8, round(value / top * width * 8)))
    full, part = divmod(eighths, 8)
    text = Text()
    text.append("▕", DIM)
    text.append("█" * full + (" ▏▎▍▌▋▊▉"[part] if part else ""), style)
    text.append("░" * (width - full - (1 if part else 0)), DIM)
    text.append("▏", DIM)
    return text


def head(title: str) -> Text:
    """A line's first column: the section's name (bold), or blank under it."""
    text = Text()
    text.append(f"{title:<{HEAD}}", BOLD)
    return text


def series_line(title: str, name: str, values: list[int], first_minute: float, style: Style,
                wide: bool = False) -> Text:
    """'Head  name  ▁▂█▁  now/min  peak N HH:MM': this minute so far, and the first minute with the most;
    `wide` adds when the run of busy minutes around that peak began, and the total."""
    line = head(title)
    line.append(f"{name:<{NAME}}", style)
    line.append_text(sparkline(values, style))
    peak = max(values, default=0)
    last = values[-1] if values else 0
    line.append(f" {last:>5}/min", style if last else DIM)
    if peak:
        at = values.index(peak)
        line.append(f"  peak {peak:>5} {hhmm(first_minute + 60 * at)}")
        if wide:
            start = at
            while start > 0 and values[start - 1] > 0:
                start -= 1
            line.append(f"  from {hhmm(first_minute + 60 * start)}  total {sum(values):>6}", DIM)
    else:
        line.append("  none", DIM)
    return line


def minute_values(minutes: Sequence[Minute], key: str, group: str = "") -> list[int]:
    if group:
        return [getattr(m, group).get(key, 0) for m in minutes]
    return [getattr(m, key) for m in minutes]


class OverviewScreen(Screen[None]):
    """The overview of the watchlist and its requests (`o` or `escape` closes it)."""

    DEFAULT_CSS = """
    OverviewScreen {
        background: $background;
        padding: 0 1;
    }
    OverviewScreen #ov-title {
        background: $panel;
        color: $foreground;
        text-style: bold;
        padding: 0 1;
        margin: 0 -1;
    }
    OverviewScreen .ov-section {
        margin-top: 0;
    }
    OverviewScreen.-tall .ov-section {
        margin-top: 1;
    }
    """

    BINDINGS = [Binding("o,escape", "close", "Close", id="overview.close")]

    SECTIONS = ("ov-rate", "ov-requests", "ov-finishes", "ov-errors", "ov-durations", "ov-states", "ov-oldest")

    def __init__(self, overview: Overview, palette: Callable[[], StatePalette], poller: Any,
                 *, ticking: bool = True) -> None:
        super().__init__()
        self.overview = overview
        self._palette = palette
        self.poller = poller  # read for its rate (the engine's, never the API)
        self.ticking = ticking
        self._seen: tuple[Any, ...] | None = None  # what the last draw was drawn from
        self.drawn: Counter[str] = Counter()  # section id -> times repainted (tests: only what changed is)

    def compose(self) -> ComposeResult:
        yield DiffStatic(id="ov-title")
        yield DiffStatic(id="ov-axis")
        for name in self.SECTIONS:
            yield DiffStatic(id=name, classes="ov-section")

    def on_mount(self) -> None:
        self.refresh_numbers()
        if self.ticking:
            self.set_interval(1.0, self.refresh_numbers)

    def on_resize(self, _event: Resize) -> None:
        self.set_class(self.size.height >= 34, "-tall")
        self._seen = None
        self.refresh_numbers()

    def action_close(self) -> None:
        self.dismiss(None)

    def refresh(self, *regions: Region, repaint: bool = True, layout: bool = False,
                recompose: bool = False) -> OverviewScreen:
        # Textual repaints the whole top screen wherever a screen beneath it changed (it might show
        # through); this one is opaque, and the table beneath changes every second: without this,
        # the whole overview went to the terminal every second (40 KB/s at 160x45).
        if regions and not (layout or recompose):
            return self
        super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)
        return self

    # -- drawing -------------------------------------------------------------------------------

    def spark_width(self) -> int:
        return max(10, min(MINUTES, (self.size.width or 80) - 2 - LABEL - NUMBERS))

    def refresh_numbers(self) -> None:
        """Read the numbers and repaint the sections that changed (what the 1-second timer runs)."""
        try:
            self._refresh()
        except Exception:  # noqa: BLE001 - nothing escapes a timer: the screen keeps what it showed
            log.exception("drawing the overview failed")

    def _refresh(self) -> None:
        palette = self._palette()
        width = self.spark_width()
        snapshot = self.poller.rate_snapshot()
        rate = (round(self.poller.measured_rate(), 1), snapshot.rate if snapshot else None,
                snapshot.target if snapshot else None, bool(snapshot and snapshot.cut_back))
        now = self.overview.clock.time()
        seen = (self.overview.version, int(now // 60), rate, id(palette), width, self.size.width)
        if seen == self._seen:
            return
        self._seen = seen
        numbers = self.overview.numbers(width)
        sections = {
            "ov-title": self._title(numbers),
            "ov-axis": self._axis(numbers, width),
            "ov-rate": self._rate(rate, palette),
            "ov-requests": self._series("Requests", REQUEST_SERIES, numbers, palette),
            "ov-finishes": self._series("Finished", FINISH_SERIES, numbers, palette, group="finished"),
            "ov-errors": self._series("Errors", ERROR_SERIES, numbers, palette, group="errors"),
            "ov-durations": self._durations(numbers, palette),
            "ov-states": self._states(numbers, palette),
            "ov-oldest": self._oldest(numbers, palette),
        }
        for name, content in sections.items():
            widget = self.query_one(f"#{name}", DiffStatic)
            if _same(widget.content, content):
                continue
            widget.update(content)
            self.drawn[name] += 1

    def _title(self, numbers: OverviewNumbers) -> Text:
        text = Text()
        text.append("vclm-watch overview", BOLD)
        text.append(f"  ·  {numbers.total} job{'s' if numbers.total != 1 else ''}  ·  "
                    f"{time.strftime('%Y-%m-%d %H:%M %Z', time.localtime(numbers.now))}")
        text.append("   o/esc close", DIM)
        return text

    def _axis(self, numbers: OverviewNumbers, width: int) -> Text:
        start, end = hhmm(numbers.first_minute), hhmm(numbers.now)
        text = Text()
        text.append(" " * LABEL + start + " " * max(1, width - len(start) - len(end)) + end, DIM)
        text.append(f"  per minute, the last {width} min" if self.size.width >= 110 else " (this minute so far)", DIM)
        return text

    def _rate(self, rate: tuple[float, float | None, float | None, bool], palette: StatePalette) -> Text:
        measured, pace, target, cut_back = rate
        style = palette.style("unknown" if cut_back else "running")
        wide = self.size.width >= 100
        line = head("Rate")
        line.append(f"{measured:>4.1f}/s ", style)
        line.append_text(bar(measured, QUOTA, 20 if wide else 12, style))
        line.append(f" of {QUOTA}/s quota")
        if pace is not None and target is not None:
            line.append(f" · pace {pace:.1f}/s, target {target:g}/s" if wide else f" · pace {pace:.1f}/s")
        line.append(" · cut back" if cut_back else " · not cut back", palette.style("unknown") if cut_back else DIM)
        return line

    def _series(self, head: str, series: tuple[tuple[str, str, str], ...], numbers: OverviewNumbers,
                palette: StatePalette, group: str = "") -> Group:
        lines = []
        wide = (self.size.width or 80) - 2 >= LABEL + len(numbers.minutes) + NUMBERS + WIDE_NUMBERS
        for n, (name, key, state) in enumerate(series):
            values = minute_values(numbers.minutes, key, group)
            if key == "other" and not any(values):
                continue  # shown only when there is something to show
            lines.append(series_line(head if n == 0 else "", name, values, numbers.first_minute, palette.style(state),
                                     wide))
        return Group(*lines)

    def _durations(self, numbers: OverviewNumbers, palette: StatePalette) -> Group:
        recent, baseline = numbers.recent, numbers.baseline
        top = max(recent.max or 0, baseline.max or 0)
        slower = bool(recent.p50 and baseline.p50 and recent.p50 >= SLOWER * baseline.p50)
        lines = []
        for n, (name, spread, state) in enumerate((("last 10 min", recent, "failed" if slower else "running"),
                                                   ("hour before", baseline, "stale"))):
            line = head("To finish" if n == 0 else "")
            line.append(f"{name:<{NAME}}", palette.style(state))
            line.append_text(_spread_text(spread))
            if self.size.width >= 100 and spread.count:
                line.append("  ")
                line.append_text(bar(spread.p95 or 0, top, 20, palette.style(state)))
                line.append(" p95", DIM)
            lines.append(line)
        if slower and recent.p50 and baseline.p50:
            lines[0].append(f"  ▲ {recent.p50 / baseline.p50:.1f}× slower", palette.style("failed") + BOLD)
        return Group(*lines)

    def _states(self, numbers: OverviewNumbers, palette: StatePalette) -> Text | Group:
        if self.has_class("-tall"):
            top = max(numbers.states.values(), default=0)
            lines = []
            for n, key in enumerate(STATE_ROWS):
                count = numbers.states.get(key, 0)
                line = head("States" if n == 0 else "")
                line.append(f"{palette.symbol(key)} {STATE_NAMES[key]:<24}", palette.style(key))
                line.append(f"{count:>6}  ")
                line.append_text(bar(count, top, 30, palette.style(key)))
                lines.append(line)
            return Group(*lines)
        shown = [key for key in STATE_ROWS if numbers.states.get(key, 0)]
        named = sum(len(f"{key} {numbers.states[key]}") + 4 for key in shown) <= (self.size.width or 80) - 2 - HEAD
        line = head("States")
        for key in shown:  # by name where they fit, else by symbol alone (the help screen says which is which)
            count = numbers.states[key]
            line.append(f"{palette.symbol(key)} {key} {count}" if named else f"{palette.symbol(key)} {count}",
                        palette.style(key))
            line.append("  ")
        if not numbers.total:
            line.append("no jobs", DIM)
        line.rstrip()
        return line

    def _oldest(self, numbers: OverviewNumbers, palette: StatePalette) -> Text:
        line = head("Oldest")
        oldest = numbers.oldest
        if oldest is None:
            line.append("nothing unfinished", DIM)
            return line
        line.append(f"waiting {duration(oldest.waiting, coarse=True)}", palette.style("running") + BOLD)
        line.append(f" since {hhmm(oldest.since)}  ")
        line.append(oldest.job_id)  # outside text: a Text, never markup
        if oldest.label:
            line.append(f"  {inert(oldest.label, 40)}", DIM)
        line.truncate(max(20, (self.size.width or 80) - 2), overflow="ellipsis")
        return line


def _spread_text(spread: Spread) -> Text:
    if not spread.count:
        return Text("no job finished", DIM)
    return Text(f"p50 {duration(spread.p50):>6} p95 {duration(spread.p95):>6} max {duration(spread.max):>6}"
                f" n={spread.count}")


def _same(old: object, new: object) -> bool:
    """Two section contents that would draw alike (Text or a Group of Texts)."""
    if isinstance(old, Group) and isinstance(new, Group):
        a, b = old.renderables, new.renderables
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(old, Text) and isinstance(new, Text):
        return old.plain == new.plain and old.spans == new.spans and old.style == new.style
    return False
