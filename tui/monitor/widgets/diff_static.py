"""A Static that, given new content, repaints only the part of each line that changed.

Textual repaints the whole of a widget whose content is updated, and the terminal is sent
every line of it: the status bar's request rate moving by 0.1, or the detail pane's "last
polled 1s ago", re-sent two lines or a whole pane. `DiffStatic.update` renders the content to
lines once, compares them with the lines on screen, and marks dirty only the changed stretch
of each changed line (the whole widget when its size or line count changed). Content that is a
`Group` of lines (the detail pane's) is rendered a line at a time, and a line whose text and
styles are the same as in the last render keeps its rendered strips: a second's "3s ago" → "4s
ago" renders that line alone.
"""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.text import Text
from textual.geometry import Region
from textual.strip import Strip
from textual.visual import Visual, visualize
from textual.widget import Widget

PARTIAL_UPDATES = 256  # after this many partial repaints one whole one (Textual's dirty-region set stays small)


def line_key(renderable: object) -> tuple[Any, ...] | None:
    """What a line of a Group renders from, when that is all in the line: its Text (its class and
    any layout attributes it adds, such as the detail pane's hanging indent, or a `layout_key` saying
    what else it is drawn from, such as the timeline bar's times). None: not cacheable."""
    if not isinstance(renderable, Text):
        return None
    head = getattr(renderable, "head", None)
    return (type(renderable), renderable.plain, tuple(renderable.spans), renderable.style, renderable.end,
            renderable.justify, renderable.overflow, renderable.no_wrap, getattr(renderable, "indent", None),
            head.plain if isinstance(head, Text) else None, getattr(renderable, "layout_key", None))


def changed_span(old: Strip, new: Strip) -> tuple[int, int] | None:
    """The cells [start, end) where two rendered lines differ (None: they are the same)."""
    if old == new:
        return None
    a_segments, b_segments = list(old), list(new)
    start = n = 0
    for a, b in zip(a_segments, b_segments):
        if a != b:
            break
        start += a.cell_length
        n += 1
    tail = 0
    for a, b in zip(reversed(a_segments[n:]), reversed(b_segments[n:])):
        if a != b:
            break
        tail += a.cell_length
    width = max(old.cell_length, new.cell_length)
    return start, max(start + 1, width - tail)


class DiffStatic(Widget):
    """Shows one renderable (text from outside as `rich.text.Text`: a str is shown as it is, never
    parsed as markup); `update()` repaints only what changed on screen (see the module)."""

    DEFAULT_CSS = """
    DiffStatic {
        height: auto;
    }
    """

    def __init__(self, content: RenderableType = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self._content: RenderableType = Text(content) if isinstance(content, str) else content
        self._strips: list[Strip] | None = None
        self._width = 0  # the width `_strips` were rendered at
        self._partial = 0  # partial repaints since the last whole one
        self._lines: dict[tuple[Any, ...], list[Strip]] = {}  # a Group's lines as last rendered (line_key -> strips)
        self._lines_for: tuple[int, object] | None = None  # the (width, style) they were rendered at
        self.lines_rendered = 0  # for tests and benchmarks: lines of a Group rendered (not taken from `_lines`)

    @property
    def content(self) -> RenderableType:
        return self._content

    def render(self) -> RenderableType:
        return self._content

    def refresh(self, *regions: Region, **kwargs) -> DiffStatic:
        if not regions:  # a whole repaint (a new theme, say): render afresh
            self._strips, self._lines = None, {}
        return super().refresh(*regions, **kwargs)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if self._strips is None or self._width != width:
            self._strips, self._width = self._render_strips(width), width
        if y < len(self._strips):
            return self._strips[y]
        return Strip.blank(width, self.visual_style.rich_style)

    def update(self, content: RenderableType = "", *, layout: bool = False) -> None:
        """Show `content`, repainting only the cells that changed; the screen is laid out again only
        when the number of lines changed (or `layout` asks for it)."""
        self._content = Text(content) if isinstance(content, str) else content
        width = self.size.width
        old = self._strips if self._width == width else None
        self._partial += 1
        if layout or not self.is_mounted or not width or old is None or self._partial > PARTIAL_UPDATES:
            self._partial = 0
            self.refresh(layout=True)
            return
        new = self._render_strips(width)
        if len(new) != len(old):
            self.refresh(layout=True)
            return
        self._strips = new
        regions = []
        for y, (before, after) in enumerate(zip(old, new)):
            span = changed_span(before, after)
            if span is not None:
                regions.append(Region(span[0], y, span[1] - span[0], 1))
        if regions:
            self.refresh(*regions)

    def _render_strips(self, width: int) -> list[Strip]:
        """The content's lines as Textual draws them (the way `Static` does)."""
        if width <= 0:
            return []
        content = self._content
        if isinstance(content, Group) and self.text_selection is None:
            return self._render_group(content, width)
        self._lines = {}
        return Visual.to_strips(self, visualize(self, content, markup=False), width, None, self.visual_style)

    def _render_group(self, group: Group, width: int) -> list[Strip]:
        """A Group's lines, each rendered as the Group would render it, or kept from the last time."""
        style = self.visual_style
        cached = self._lines if self._lines_for == (width, style) else {}
        kept: dict[tuple[Any, ...], list[Strip]] = {}
        strips: list[Strip] = []
        for renderable in group.renderables:
            key = line_key(renderable)
            lines = cached.get(key) if key is not None else None
            if lines is None:
                lines = Visual.to_strips(self, visualize(self, Group(renderable), markup=False), width, None, style)
                self.lines_rendered += 1
            if key is not None:
                kept[key] = lines
            strips.extend(lines)
        self._lines, self._lines_for = kept, (width, style)
        return strips
