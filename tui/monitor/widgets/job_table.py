"""The watchlist table: a line-API widget that draws only the rows on screen, from a list of ids."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tui.core.config import ALL_COLUMNS
from tui.core.formatting import duration, inert, relative, short_id
from tui.core.jobstate import JobRecord, LastError
from tui.monitor.keys import TABLE_KEYS
from tui.monitor.widgets.state_style import StatePalette

# key -> (title, minimum width, preferred width)
COLUMN_SPECS: dict[str, tuple[str, int, int]] = {
    "job": ("Job", 8, 8),
    "label": ("Label", 8, 28),
    "state": ("State", 14, 21),
    "message": ("Message", 8, 10),
    "in_state": ("In state", 8, 8),
    "changed": ("Changed", 10, 10),
    "polled": ("Polled", 10, 10),
    "error": ("Last error", 13, 30),
}
# Dropped first when the table is too narrow for every column (all are in the detail pane).
DROP_ORDER = ("message", "changed", "in_state", "error", "polled", "label")
CELL_PADDING = 1
ID_WIDTH = 32  # a whole JobId: the job column widens up to it with the terminal
ID_STEP = 8  # ...in steps of at least this many characters
# These columns go when keeping them would leave the label narrower than this.
GIVE_WAY_TO_LABEL = (("message", 20), ("changed", 20), ("in_state", 14))
FLASH = Style(reverse=True)
ROW_CACHE = 512  # rows whose rendered cells and line are kept: a screen of a tall terminal, and some


def plan_columns(wanted: Iterable[str], available: int) -> list[tuple[str, int]]:
    """Which of the wanted columns fit in `available` cells, and how wide each is.

    Columns are dropped in DROP_ORDER until the rest fit at their minimum widths; the
    least useful ones also go when keeping them would leave the label cramped (the detail
    pane shows them all). Spare room goes to the state, a readable label and error, then the
    job id (up to the whole id; the message gives way when that lets it show whole), then
    the rest.
    """
    wanted_set = set(wanted)
    columns = [key for key in ALL_COLUMNS if key in wanted_set]
    cost = lambda keys: sum(COLUMN_SPECS[k][1] + 2 * CELL_PADDING for k in keys)  # noqa: E731
    for key in DROP_ORDER:
        if cost(columns) <= available:
            break
        if key in columns:
            columns.remove(key)
    for key, label_needs in GIVE_WAY_TO_LABEL:
        roomy = available - cost(columns) + COLUMN_SPECS["label"][1] + COLUMN_SPECS["state"][1]
        if "label" in columns and key in columns and roomy < label_needs + COLUMN_SPECS["state"][2]:
            columns.remove(key)
    widths = {key: COLUMN_SPECS[key][1] for key in columns}
    spare = max(0, available - cost(columns))
    for key, target in (("state", 0), ("label", 20), ("error", 18), ("job", ID_WIDTH), ("label", 0), ("error", 0),
                        ("message", 0), ("label", 0)):
        if key == "job" and "job" in widths:
            room = ID_WIDTH - widths["job"]
            if spare < room and "message" in widths and spare + widths["message"] + 2 * CELL_PADDING >= room:
                # the whole id is worth more than the message's few cells (the detail pane has it)
                spare += widths.pop("message") + 2 * CELL_PADDING
                columns.remove("message")
            if spare < ID_STEP:
                continue  # a couple more characters of the id tell nothing: the label takes them
        if key not in widths or spare <= 0:
            continue
        room = (target or COLUMN_SPECS[key][2]) - widths[key]
        grow = spare if key == "label" and room <= 0 else min(spare, max(0, room))
        widths[key] += grow
        spare -= grow
    if spare > 0 and columns:
        widths[columns[-1]] += spare
    return [(key, widths[key]) for key in columns]


class IdText(Text):
    """The job cell: shows the short id, remembers the full one (the sort key)."""

    def __init__(self, job_id: str, width: int) -> None:
        super().__init__(short_id(job_id, width), no_wrap=True, end="")
        self.job_id = job_id


@dataclass
class RowContext:
    """What rendering a row needs besides the record; built once per refresh."""

    now: float
    palette: StatePalette
    states: Mapping[str, str]  # job id -> display state (decided by the view model)
    flashing: frozenset[str] = field(default_factory=frozenset)


SUSPECT_MARK = "⚠"  # beside the state of a job whose result URL is suspect (see the detail pane)
SHARED_MARK = "⇄"  # after the Polled time of an answer another vclm-watch of the team fetched


def _cut(text: str, width: int, style: Style | str = "") -> Text:
    cell = Text(no_wrap=True, end="")
    cell.append(inert(text, 500), style)
    cell.truncate(width, overflow="ellipsis")
    return cell


TIME_COLUMNS = frozenset({"in_state", "changed", "polled"})  # the cells that change as time passes


def short_error(err: LastError | None, width: int) -> str:
    """The error cell's text: for an error status from the server, what it said (`HTTP 502 Bad
    Gateway`, or `HTTP 502` where that does not fit); else the code, its most specific part
    when the whole does not fit."""
    if err is None:
        return ""
    if err.http_status is not None and err.http_status != 200:
        line = err.http_line
        return line if len(line) <= width else f"HTTP {err.http_status}"
    code = err.code
    if len(code) > width and "." in code:  # the most specific part says the most
        code = "…" + code.rsplit(".", 1)[1]
    return code


def render_cells(record: JobRecord, layout: Iterable[tuple[str, int]], ctx: RowContext) -> dict[str, Text]:
    state = ctx.states.get(record.job_id, "pending")
    cells: dict[str, Text] = {}
    for key, width in layout:
        if key == "job":
            cell: Text = IdText(record.job_id, width)
        elif key == "label":
            cell = _cut(record.label, width)
        elif key == "state":
            if record.url_problem is None:
                cell = ctx.palette.state_text(record, state, width)
            else:  # a suspect result URL: marked where it cannot be cut off
                cell = ctx.palette.state_text(record, state, max(1, width - 2))
                cell.append(" " + SUSPECT_MARK, ctx.palette.style("error"))
        elif key == "message":
            cell = _cut(record.status_msg, width)
        elif key == "in_state":
            cell = _cut(duration(ctx.now - record.state_since, coarse=True) if record.state_since else "—", width)
        elif key == "changed":
            cell = _cut(relative(record.last_change, ctx.now, coarse=True) if record.last_change else "—", width)
        elif key == "polled":
            cell = _cut(relative(record.last_polled, ctx.now, coarse=True) + (" " + SHARED_MARK if record.shared_from else ""),
                        width)
        elif key == "error":
            cell = _cut(short_error(record.last_error, width), width, ctx.palette.style("error"))
        else:
            cell = Text()
        if record.job_id in ctx.flashing:
            cell.stylize(FLASH)
        cells[key] = cell
    return cells


_COLUMN_META = [Style.from_meta({"column": n}) for n in range(len(COLUMN_SPECS))]


class _RowRender:
    """One row's rendered cells (and its line and each cell's piece of it, once drawn), as of the
    table's `generation`."""

    __slots__ = ("cells", "generation", "times", "fresh", "line_key", "line", "pieces")

    def __init__(self, cells: dict[str, Text], generation: int, times: int) -> None:
        self.cells = cells
        self.generation = generation
        self.times = times  # the table's `times` its time cells were rendered at
        self.fresh = True  # False once the row is reported dirty
        self.line_key: tuple | None = None
        self.line: Strip | None = None
        self.pieces: dict[str, list[Segment]] = {}  # column -> its segments in the line (for line_key)


class JobMessage(Message):
    """Something the table says about one job (`job_id`)."""

    def __init__(self, table: JobTable, job_id: str) -> None:
        super().__init__()
        self.table = table
        self.job_id = job_id

    @property
    def control(self) -> JobTable:
        return self.table


class JobTable(ScrollView, can_focus=True):
    """One row per job, in the order given to `show()`; a header row stays put above them.

    The rows are a list of job ids, nothing more: a row's cells are rendered (`render_cells`)
    only when it is on screen, and kept (up to ROW_CACHE rows) until the view model says the
    row changed (`dirty`) or every row may have (a tick: `dirty=None`). A changed row on
    screen repaints only the cells whose text changed, so the terminal is sent those alone.
    Built on Textual's public line API (`render_line`), as toolong's log view is.
    """

    ALLOW_SELECT = False

    COMPONENT_CLASSES = {"job-table--header", "job-table--cursor"}

    DEFAULT_CSS = """
    JobTable {
        background: $surface;
        color: $foreground;
        height: 1fr;
        overflow-x: hidden;
        overflow-y: auto;
        scrollbar-size-vertical: 1;
        & > .job-table--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        &:ansi > .job-table--header {
            background: ansi_bright_blue;
            color: ansi_default;
        }
        & > .job-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        &:focus {
            background-tint: $foreground 5%;
            & > .job-table--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
            & > .job-table--header {
                background-tint: $foreground 5%;
            }
        }
    }
    """

    BINDINGS = [  # rows, not columns, are what one moves through here
        *(Binding(key.keys, key.action, key.footer, show=False, id=key.binding_id) for key in TABLE_KEYS),
        Binding("enter", "select_cursor", "Details", show=False, id="jobs.select"),
    ]

    class Highlighted(JobMessage):
        """The cursor moved to another job."""

    class Selected(JobMessage):
        """Enter (or a click on the cursor's row) chose the job under the cursor."""

    def __init__(self, columns: Iterable[str] = ALL_COLUMNS, **kwargs) -> None:
        super().__init__(**kwargs)
        self.wanted_columns = list(columns)
        self.layout_plan: list[tuple[str, int]] = []
        self._edges: list[int] = []  # where each planned column starts, padding included
        self._rows: list[str] = []  # the ids shown, in order: all a row costs until it is drawn
        self._cursor = 0
        self._reveal_cursor = False  # scroll the cursor into view once the table has a size
        self._order: list[str] = []
        self._applied: list[str] | None = None  # the order list last brought to screen
        self._applied_records: Mapping[str, JobRecord] | None = None  # ...and the records it was for
        self._records: Mapping[str, JobRecord] = {}
        self._ctx: RowContext | None = None
        self.generation = 0  # bumped when every row may have changed (dirty=None, a new layout)
        self.times = 0  # bumped when time moved: every row's time cells may have changed (a tick)
        self._rendered: LRUCache[str, _RowRender] = LRUCache(ROW_CACHE)
        self._frame: tuple[Style, Style, Style] | None = None  # base, header, cursor styles of the frame drawn
        self._header: tuple[tuple, Strip] | None = None
        self.cell_updates = 0  # for tests and benchmarks: cells whose text changed when (re)rendered
        self.cells_rendered = 0  # for tests and benchmarks: cells rendered, changed or not

    # -- what the app calls --------------------------------------------------------------

    @property
    def row_count(self) -> int:
        return len(self._rows)

    @property
    def row_ids(self) -> list[str]:
        """The ids shown, top to bottom (the table's own list: do not change it)."""
        return self._rows

    @property
    def cursor_row(self) -> int:
        return self._cursor

    @property
    def selected_job_id(self) -> str | None:
        return self._rows[self._cursor] if self._rows else None

    def select_job(self, job_id: str) -> bool:
        try:
            index = self._rows.index(job_id)
        except ValueError:
            return False
        self.move_cursor(index)
        return True

    def move_cursor(self, row: int, *, scroll: bool = True) -> None:
        """Put the cursor on row `row` (clamped), telling the app (`Highlighted`) if the job changed."""
        if not self._rows:
            self._cursor = 0
            return
        before, selected = self._cursor, self.selected_job_id
        self._cursor = min(max(0, row), len(self._rows) - 1)
        if self._cursor != before:
            self._refresh_row(before)
            self._refresh_row(self._cursor)
        if scroll:
            self.scroll_to_cursor()
        job_id = self.selected_job_id
        if job_id is not None and job_id != selected:
            self.post_message(self.Highlighted(self, job_id))

    def scroll_to_cursor(self) -> None:
        """Scroll just enough for the cursor's row to show below the header."""
        shown = self.size.height - 1
        if shown <= 0:
            self._reveal_cursor = True
            return
        self._reveal_cursor = False
        top = int(self.scroll_y)
        if self._cursor < top:
            self.scroll_to(y=self._cursor, animate=False)
        elif self._cursor >= top + shown:
            self.scroll_to(y=self._cursor - shown + 1, animate=False)

    def show(self, order: list[str], records: Mapping[str, JobRecord], ctx: RowContext,
             dirty: Iterable[str] | None = None, *, times: bool = False) -> None:
        """Show the jobs of `order`, in that order; re-render the `dirty` ones (None: all), and
        with `times` (time moved: a tick) the time cells of every row."""
        self._order, self._records, self._ctx = order, records, ctx
        if times:
            self.times += 1
        if dirty is None:
            self.generation += 1
        else:
            if isinstance(dirty, (set, frozenset)) and len(dirty) > len(self._rendered):
                dirty = [job_id for job_id in self._rendered.keys() if job_id in dirty]  # (100,000 new jobs)
            for job_id in dirty:
                entry = self._rendered.get(job_id)
                if entry is not None:
                    entry.fresh = False
        if not self.layout_plan:
            return  # not laid out yet: on_resize shows everything
        self._apply()

    def set_columns(self, columns: Iterable[str]) -> None:
        self.wanted_columns = list(columns)
        self._relayout(force=True)

    def get_cell(self, job_id: str, column: str) -> Text:
        """The cell as the table draws it now (rendered for the asking if the row is not on screen)."""
        entry = self._rendered.get(job_id)
        if entry is not None and self._valid(entry):
            return entry.cells[column]
        record = self._records.get(job_id)
        if record is None or self._ctx is None or job_id not in self._rows:
            raise KeyError(f"no row for job {job_id!r}")
        return render_cells(record, self.layout_plan, self._ctx)[column]

    def is_rendered(self, job_id: str) -> bool:
        """Whether the row's cells are rendered and up to date (rows are rendered when on screen)."""
        entry = self._rendered.get(job_id)
        return entry is not None and self._valid(entry)

    @property
    def cached_rows(self) -> int:
        """How many rows' rendered cells are kept (at most ROW_CACHE, whatever the watchlist's size)."""
        return len(self._rendered)

    def rendered_rows(self) -> int:
        """How many shown rows have up-to-date cells (the rest are rendered when scrolled to)."""
        shown = set(self._rows)
        return sum(1 for job_id in shown if self.is_rendered(job_id))

    # -- keys and mouse ------------------------------------------------------------------

    def action_cursor_down(self) -> None:
        self.move_cursor(self._cursor + 1)

    def action_cursor_up(self) -> None:
        self.move_cursor(self._cursor - 1)

    def action_scroll_top(self) -> None:
        self.move_cursor(0)

    def action_scroll_bottom(self) -> None:
        self.move_cursor(len(self._rows) - 1)

    def action_page_down(self) -> None:
        page = max(1, self.size.height - 1)
        self.scroll_to(y=self.scroll_y + page, animate=False)
        self.move_cursor(self._cursor + page)

    def action_page_up(self) -> None:
        page = max(1, self.size.height - 1)
        self.scroll_to(y=self.scroll_y - page, animate=False)
        self.move_cursor(self._cursor - page)

    def action_select_cursor(self) -> None:
        job_id = self.selected_job_id
        if job_id is not None:
            self.post_message(self.Selected(self, job_id))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or offset.y < 1:
            return  # the header, or not on a row
        row = offset.y - 1 + int(self.scroll_y)
        if row >= len(self._rows):
            return
        event.stop()
        if row == self._cursor:
            self.action_select_cursor()  # as in a list: a click on the chosen row opens it
        else:
            self.move_cursor(row)

    # -- drawing -------------------------------------------------------------------------

    def render_lines(self, crop: Region) -> list[Strip]:
        # the styles every line needs, worked out once per frame (each is a walk up the DOM)
        self._frame = (self.rich_style, self.get_component_rich_style("job-table--header"),
                       self.get_component_rich_style("job-table--cursor"))
        try:
            return super().render_lines(crop)
        finally:
            self._frame = None

    def render_line(self, y: int) -> Strip:
        base, header, cursor = self._frame or (self.rich_style, self.get_component_rich_style("job-table--header"),
                                               self.get_component_rich_style("job-table--cursor"))
        width = self.size.width
        if y == 0:
            return self._header_line(width, base + header)
        index = y - 1 + int(self.scroll_y)
        if index >= len(self._rows) or not self.layout_plan:
            return Strip.blank(width, base)
        job_id = self._rows[index]
        entry = self._row(job_id)
        if entry is None:
            return Strip.blank(width, base)
        at_cursor = index == self._cursor
        key = (at_cursor, width, base, cursor if at_cursor else None)
        if entry.line_key != key:
            entry.line, entry.line_key, entry.pieces = None, key, {}
        if entry.line is None:  # (only the cells that changed are drawn again: the rest keep their pieces)
            entry.line = self._line(entry.cells, width, base, cursor if at_cursor else None, entry.pieces)
        return entry.line

    def _header_line(self, width: int, style: Style) -> Strip:
        key = (tuple(self.layout_plan), width, style)
        if self._header is None or self._header[0] != key:
            titles = {column: Text(COLUMN_SPECS[column][0], no_wrap=True, end="") for column, _ in self.layout_plan}
            self._header = (key, self._line(titles, width, style, None, {}))
        return self._header[1]

    def _line(self, cells: Mapping[str, Text], width: int, base: Style, cursor: Style | None,
              pieces: dict[str, list[Segment]]) -> Strip:
        """A row's line: each cell padded to its column on its own segments (a changed cell is
        then written alone), then the rest of the width in the row's style. `pieces` keeps each
        cell's segments, drawn in these styles, for the next time."""
        console = self.app.console
        style = base if cursor is None else base + cursor
        # on the cursor's row its colour wins over the cells' own (as DataTable draws it)
        post = None if cursor is None or cursor.color is None else Style(color=cursor.color)
        segments: list[Segment] = []
        used = 0
        for n, (column, column_width) in enumerate(self.layout_plan):
            full = column_width + 2 * CELL_PADDING
            used += full
            piece = pieces.get(column)
            if piece is not None:
                segments.extend(piece)
                continue
            cell = cells.get(column) or Text()
            padded = Text(" " * CELL_PADDING, no_wrap=True, end="")
            padded.append_text(cell)
            if cell.cell_len > column_width:
                padded.truncate(CELL_PADDING + column_width, overflow="ellipsis")
            padded.append(" " * (full - padded.cell_len))
            # each cell's segments carry its column (as DataTable's do): they stay apart from the
            # next cell's wherever lines are merged by style (screenshots place text by them)
            piece = pieces[column] = list(Segment.apply_style(padded.render(console), style + _COLUMN_META[n], post))
            segments.extend(piece)
        if width > used:
            segments.append(Segment(" " * (width - used), style))
        return Strip(segments, max(width, used)).crop(0, width)

    def _valid(self, entry: _RowRender) -> bool:
        return entry.fresh and entry.generation == self.generation and entry.times == self.times

    def _row(self, job_id: str) -> _RowRender | None:
        """The row's rendered cells, rendering them if they are out of date."""
        return self._render_row(job_id)[0]

    def _render_row(self, job_id: str) -> tuple[_RowRender | None, dict[str, Text] | None]:
        """The row's rendered cells, and the cells they replace (None: they were up to date; {}: none)."""
        entry = self._rendered.get(job_id)
        if entry is not None and self._valid(entry):
            return entry, None
        record, ctx = self._records.get(job_id), self._ctx
        if record is None or ctx is None:
            return None, None
        if entry is not None and entry.fresh and entry.generation == self.generation:
            # only time moved since the row was rendered: its time cells alone are rendered again
            timed = [(column, width) for column, width in self.layout_plan if column in TIME_COLUMNS]
            cells = {**entry.cells, **render_cells(record, timed, ctx)}
            self.cells_rendered += len(timed)
        else:
            cells = render_cells(record, self.layout_plan, ctx)
            self.cells_rendered += len(cells)
        if entry is None:
            self.cell_updates += len(cells)
            entry = _RowRender(cells, self.generation, self.times)
            self._rendered[job_id] = entry
            return entry, {}
        old = entry.cells
        changed = [column for column, cell in cells.items() if old.get(column) != cell]
        self.cell_updates += len(changed)
        entry.generation, entry.times, entry.fresh = self.generation, self.times, True
        if not changed:
            return entry, old
        # (an unchanged row keeps its line, a changed one the pieces of its other cells)
        entry.cells, entry.line = cells, None
        for column in changed:
            entry.pieces.pop(column, None)
        return entry, old

    def _refresh_row(self, index: int) -> None:
        y = index + 1 - int(self.scroll_y)
        if 1 <= y < self.size.height:
            self.refresh(Region(0, y, self.size.width, 1))

    # -- bringing the rows up to date ----------------------------------------------------

    def on_resize(self) -> None:
        if not self._relayout():
            self._apply()  # rows may have come into view
        if self._reveal_cursor:
            self.scroll_to_cursor()

    def _relayout(self, force: bool = False) -> bool:
        """Plan the columns for the width; True if they changed (and the rows were shown anew)."""
        available = self.outer_size.width - 1  # the vertical scrollbar, shown or not
        if available <= 0:
            return False
        plan = plan_columns(self.wanted_columns, available)
        if plan == self.layout_plan and not force:
            return False
        self.layout_plan = plan
        self._edges, x = [], 0
        for _, width in plan:
            self._edges.append(x)
            x += width + 2 * CELL_PADDING
        self.generation += 1
        self._rendered.clear()
        self._applied = None
        self._apply()
        self.refresh()
        return True

    def _apply(self) -> None:
        if self._ctx is None:
            return
        top, shown = int(self.scroll_y), max(0, self.size.height - 1)
        if self._order is not self._applied or self._records is not self._applied_records:
            # a new order (the app keeps its list while nothing moved): repaint the lines whose job changed
            self._applied, self._applied_records = self._order, self._records
            records = self._records
            selected, before = self.selected_job_id, self._rows[top: top + shown]
            cursor_before = self._cursor
            self._rows = rows = [job_id for job_id in self._order if job_id in records]
            table_width = self._edges[-1] + self.layout_plan[-1][1] + 2 * CELL_PADDING if self.layout_plan else 0
            size = Size(table_width, len(rows) + 1)
            if size != self.virtual_size:
                self.virtual_size = size
            if rows:
                try:
                    index = rows.index(selected) if selected is not None else 0
                except ValueError:  # the selected row left: stay where the cursor was, on its neighbour
                    index = min(cursor_before, len(rows) - 1)
                self._cursor = index
            else:
                self._cursor = 0
            top = int(self.scroll_y)
            after = rows[top: top + shown]
            for n in range(max(len(before), len(after))):
                if n >= len(before) or n >= len(after) or before[n] != after[n]:
                    self._refresh_row(top + n)
            if self._cursor != cursor_before:
                self._refresh_row(cursor_before)
                self._refresh_row(self._cursor)
            if rows and self.selected_job_id != selected:
                self.post_message(self.Highlighted(self, rows[self._cursor]))
        self._render_viewport(top, shown)

    def _render_viewport(self, top: int, shown: int) -> None:
        """Bring the out-of-date rows on screen up to date, repainting only the cells that changed."""
        for index in range(top, min(top + shown, len(self._rows))):
            entry, old = self._render_row(self._rows[index])
            if entry is None or old is None or old is entry.cells:
                continue  # up to date, or unchanged
            y = index + 1 - top
            if not old:
                self.refresh(Region(0, y, self.size.width, 1))
                continue
            for (column, width), x in zip(self.layout_plan, self._edges):
                if old.get(column) != entry.cells[column]:
                    self.refresh(Region(x, y, width + 2 * CELL_PADDING, 1))
