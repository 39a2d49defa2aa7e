"""The detail pane: everything known about the job under the cursor, and how to reproduce it."""

from __future__ import annotations

import json
from dataclasses import dataclass

from rich.console import Group
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll

from tui.api.models import FAILED_STATUS_CODES, JOB_SUCCESS
from tui.core.formatting import duration, inert, relative, timestamp
from tui.core.hints import hint_for
from tui.core.jobstate import JobRecord
from tui.core.states import STATE_NAMES
from tui.core.timeline import Stretch, bar_seconds, cell_widths, stretches, total_seconds
from tui.monitor.widgets.diff_static import DiffStatic
from tui.monitor.widgets.state_style import StatePalette

RAW_JSON_CHARS = 4000
LABEL_WIDTH = 10
BAR_TEXT_WIDTH = 40  # the timeline bar's width in the pane's plain text (on screen: the pane's width)
DIM = Style(dim=True)
BOLD = Style(bold=True)


def reproduce_line(job_id: str, region: str, endpoint: str | None = None) -> str:
    """The same query with Tencent's own CLI (its 3.0.12xx releases know the action).

    `endpoint`: the endpoint URL, when not the default. tccli's --endpoint takes a bare host as
    https, and reaches plain http (the simulator) only when given the scheme.
    """
    line = f"tccli vclm DescribeVideoStylizationJob --region {region} --JobId {job_id}"
    if endpoint:
        line += f" --endpoint {endpoint.removeprefix('https://')}"
    return line


@dataclass
class DetailContext:
    now: float
    palette: StatePalette
    state: str  # the selected job's display state (decided by the view model)
    region: str
    endpoint_host: str | None  # the endpoint URL, only when not the default
    paused: bool
    polling: bool  # False when the engine cannot poll (no credentials)


class Row(Text):
    """One line of the pane: a name column, then the value; a value too long for the pane wraps
    under itself (a hanging indent), not back to column 1. As Text, `plain` is the whole line."""

    def __init__(self, head: Text, body: Text, indent: int) -> None:
        super().__init__(no_wrap=False, overflow="fold")
        self.append_text(head)
        self.append_text(body)
        self.head, self.body, self.indent = head, body, indent

    def __rich_console__(self, console, options):
        # Laid out by hand (as a two-column grid would, cells padded to their widths): a
        # rich Table per line made the pane's render cost a millisecond a line.
        indent = min(self.indent, max(0, options.max_width - 1))
        body_width = max(1, options.max_width - indent)
        head = self.head.copy()
        head.truncate(indent, pad=True)
        blank = Text(" " * indent)
        lines = self.body.wrap(console, body_width, overflow="fold") or [Text()]
        for n, line in enumerate(lines):
            yield from _segments(head if n == 0 else blank, console)
            line.rstrip_end(body_width)
            yield from _segments(line, console)
            if line.cell_len < body_width:
                yield Segment(" " * (body_width - line.cell_len))
            yield Segment.line()


def _segments(text: Text, console):
    """A one-line Text's segments, its own style under its spans (as printing it would give)."""
    segments = text.render(console, end="")
    return Segment.apply_style(segments, console.get_style(text.style)) if text.style else segments


def _row(name: str, *parts: tuple[str, Style | str] | Text) -> Row:
    body = Text(no_wrap=False, overflow="fold")
    for part in parts:
        if isinstance(part, Text):
            body.append_text(part)
        else:
            body.append(inert(part[0], 2000), part[1])
    return Row(Text(f"{name:<{LABEL_WIDTH}}", style=BOLD), body, LABEL_WIDTH)


def _indented(body: Text, indent: int = 2) -> Row:
    """A line of a section (timeline, reproduce line, raw answer) whose wrapped part keeps its indent."""
    return Row(Text(" " * indent), body, indent)


class TimelineBar(Text):
    """The timeline as a bar across the pane: each state the job was in, its symbol then blocks in its
    colour, as many cells as its share of the time (`tui.core.timeline`); laid out at the width it is
    drawn at. As Text, `plain` is the bar at BAR_TEXT_WIDTH cells; `layout_key` is all it is drawn
    from (the pane keeps its rendered line while that is unchanged)."""

    def __init__(self, parts: list[Stretch], palette: StatePalette, indent: int = 2) -> None:
        super().__init__(no_wrap=True, overflow="crop")
        self.seconds = bar_seconds(parts)
        self.looks = tuple((palette.symbol(part.state), palette.style(part.state)) for part in parts)
        self.indent = indent
        self.layout_key = (self.seconds, self.looks)
        self.append_text(self.bar(BAR_TEXT_WIDTH))

    def bar(self, width: int) -> Text:
        text = Text()
        for (symbol, style), cells in zip(self.looks, cell_widths(self.seconds, width)):
            if cells:
                text.append(symbol + "█" * (cells - 1), style)
        return text

    def __rich_console__(self, console, options):
        indent = min(self.indent, max(0, options.max_width - 1))
        yield Segment(" " * indent)
        yield from _segments(self.bar(max(1, options.max_width - indent)), console)
        yield Segment.line()


def _timeline_bar(record: JobRecord, ctx: DetailContext) -> list[Text]:
    """The bar of the time spent in each state, and under it the same in words (it reads without colour)."""
    parts = stretches(record.history, ctx.now)
    if not parts:
        return []
    p = ctx.palette
    words = Text()
    for n, part in enumerate(parts):
        if n:
            words.append(" · ", DIM)
        words.append(f"{p.symbol(part.state)} ", p.style(part.state))
        words.append(inert(part.code, 40), p.style(part.state))
        if part.seconds is None and len(parts) == 1:  # finished already when first seen
            words.append(" when first seen", DIM)
        elif part.seconds is None:
            words.append(f" after {duration(total_seconds(parts))}")
        else:
            words.append(f" {duration(part.seconds)}" + (" so far" if part.current else ""))
    if parts[-1].seconds is not None and len(parts) > 1:
        words.append(f" · {duration(total_seconds(parts))} in all", DIM)
    return [TimelineBar(parts, p), _indented(words)]


def _heading(title: str) -> Text:
    return Text(f"\n{title}", style=BOLD)


def _no_result(record: JobRecord) -> str:
    """Why there is no result URL: a failed job never gets one; others may yet."""
    if record.status_code in FAILED_STATUS_CODES:
        return "none: the job failed, so it has no result video"
    if record.status_code == JOB_SUCCESS:
        return "none in the last answer; r asks again"
    return "no result URL yet (it comes with JobSuccess)"


def render_detail(record: JobRecord, ctx: DetailContext) -> Group:
    p = ctx.palette
    now = ctx.now
    state = ctx.state
    lines: list[Text] = [
        _row("JobId", (record.job_id, "")),
        _row("Label", (record.label or "—", "" if record.label else DIM)),
    ]
    status = Text()
    status.append(f"{p.symbol(state)} ", p.style(state))
    status.append(inert(record.status_code or "no answer yet", 80), p.style(state) + BOLD)
    if record.status_msg:
        status.append("  ")
        status.append(inert(record.status_msg, 200))
    status.append(f"  ({STATE_NAMES.get(state, state)})", DIM)
    lines.append(_row("Status", status))
    if record.state_since is not None:
        lines.append(_row("Since", (f"{timestamp(record.state_since)} ({duration(now - record.state_since)})", "")))
    if record.stale and not record.terminal:
        lines.append(_row("", ("from the saved watchlist; not refreshed yet in this run", p.style("stale"))))
    elif record.stale:
        lines.append(_row("", ("from the saved watchlist (a finished job is not polled again; r refreshes it)", DIM)))

    # the result
    problem = record.url_problem
    if problem is not None:
        lines.append(_row("Result", (f"⚠ suspect URL, {problem}: shown as sent, not offered for copying", p.style("error") + BOLD)))
        lines.append(_row("", (record.result_video_url, "")))
    elif record.result_video_url:
        left = record.url_seconds_left(now)
        if left is None:
            validity = Text("validity unknown", style=DIM)
        elif left > 0:
            validity = Text(f"valid for {duration(left)} more (of 24h)", style=p.style("success"))
        else:
            validity = Text(f"expired {duration(-left)} ago; r fetches a fresh one", style=p.style("failed"))
        lines.append(_row("Result", validity))
        lines.append(_row("", (record.result_video_url, "underline")))
    else:
        lines.append(_row("Result", (_no_result(record), DIM)))
    lines.append(_row("RequestId", (record.last_request_id or "—", "" if record.last_request_id else DIM)))

    # the last error
    err = record.last_error
    if err is not None:
        lines.append(_heading("Last error"))
        lines.append(_row("Code", (err.code, p.style("error") + BOLD)))
        lines.append(_row("Message", (err.message or "—", "")))
        # what the server said, when the answer did not come from the service proper
        if err.http_status is not None:
            lines.append(_row("Answered", (err.http_line, BOLD), (f" · {err.content_type}" if err.content_type else "", DIM)))
        elif err.content_type:
            lines.append(_row("Type", (err.content_type, "")))
        if err.excerpt:
            lines.append(_row("Body", (err.excerpt, "")))
        lines.append(_row("RequestId", (err.request_id or "none (the request did not reach the service)", "" if err.request_id else DIM)))
        lines.append(_row("At", (f"{timestamp(err.at)} ({relative(err.at, now)})", "")))
        lines.append(_row("Hint", (hint_for(err.code), p.style("unknown"))))

    # polling
    lines.append(_heading("Polling"))
    latency = f"{record.last_latency * 1000:.0f} ms" if record.last_latency is not None else "—"
    lines.append(_row("Polls", (f"{record.poll_count} · last latency {latency} · last polled {relative(record.last_polled, now)}", "")))
    if record.shared_from:  # team mode: the answer shown is another process's, not a request of ours
        lines.append(_row("Answer", (f"⇄ from another vclm-watch on this account (member {inert(record.shared_from, 16)}), "
                                     "not asked by this one", "")))
    if not ctx.polling:
        due = "not polling (see the banner)"
    elif ctx.paused:
        due = "paused (p resumes)"
    elif record.next_poll_at is None:
        due = "not scheduled (finished; r refreshes)" if record.terminal else "not scheduled"
    elif record.next_poll_at <= now:
        due = "due now"
    else:
        due = f"in {duration(record.next_poll_at - now)}"
    lines.append(_row("Next poll", (due, "")))
    lines.append(_row("Added", (f"{timestamp(record.added_at)} ({relative(record.added_at, now)})" if record.added_at else "—", "")))

    # timeline
    lines.append(_heading("Timeline"))
    if not record.history:
        lines.append(Text("  no transitions seen yet", style=DIM))
    lines.extend(_timeline_bar(record, ctx))
    for index, transition in enumerate(record.history):
        following = record.history[index + 1].at if index + 1 < len(record.history) else None
        held = duration((following if following is not None else now) - transition.at)
        line = Text(f"{timestamp(transition.at)}  ")
        if transition.from_code:
            line.append(inert(transition.from_code, 40), DIM)
            line.append(" → ", DIM)
        line.append(inert(transition.to_code, 40), BOLD)
        line.append(f"  {held}" + ("" if following is not None else " so far"), DIM)
        lines.append(_indented(line))

    # reproduce and raw
    lines.append(_heading("Reproduce"))
    lines.append(_indented(Text(reproduce_line(record.job_id, ctx.region, ctx.endpoint_host))))
    lines.append(_heading("Raw last response"))
    if record.last_response is None:
        lines.append(Text("  none in this run", style=DIM))
    else:
        raw = json.dumps(record.last_response, indent=2, ensure_ascii=False, default=str)
        if len(raw) > RAW_JSON_CHARS:
            raw = raw[:RAW_JSON_CHARS] + "\n…"
        for raw_line in raw.splitlines():
            stripped = raw_line.lstrip(" ")  # JSON's own indent, kept on its wrapped lines too
            lines.append(_indented(Text(inert(stripped, 400)), 2 + len(raw_line) - len(stripped)))
    return Group(*lines)


class DetailPane(VerticalScroll):
    """A scrollable pane; `show(record, ctx)` redraws it (only when what it shows changed)."""

    DEFAULT_CSS = """
    DetailPane {
        border-top: solid $panel-lighten-2;
        background: $surface;
        padding: 0 1;
        scrollbar-size-vertical: 1;
    }
    DetailPane:focus {
        border-top: solid $primary;
    }
    DetailPane > #detail-body {
        width: 1fr;
    }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.job_id: str | None = None
        self._last: object = None
        self.text = ""  # what the pane shows, as plain text

    def compose(self) -> ComposeResult:
        yield DiffStatic(Text("No job selected. Press a to add job ids.", style=DIM), id="detail-body")

    def show(self, record: JobRecord | None, ctx: DetailContext) -> None:
        body = self.query_one("#detail-body", DiffStatic)
        if record is None:
            if self.job_id is not None or self._last is None:
                self.job_id, self._last, self.text = None, "empty", ""
                body.update(Text("No job selected. Press a to add job ids.", style=DIM))
            return
        group = render_detail(record, ctx)
        key = (record.job_id, tuple((str(r), getattr(r, "layout_key", None)) for r in group.renderables),
               tuple(tuple(t.spans) for t in group.renderables if isinstance(t, Text)))
        if key == self._last:
            return
        if record.job_id != self.job_id:
            self.scroll_home(animate=False)
        self.job_id, self._last = record.job_id, key
        self.text = "\n".join(t.plain for t in group.renderables if isinstance(t, Text))
        # Only the changed cells repaint; the screen is laid out again only if the pane's number of
        # lines changed (a line that wraps the same way takes as many rows whatever it says).
        body.update(group)
