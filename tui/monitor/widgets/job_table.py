"""The watchlist table: one row per job, updated in place cell by cell (never rebuilt on refresh)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Region
from textual.strip import Strip
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, ColumnKey, RowDoesNotExist, RowKey

from tui.core.config import ALL_COLUMNS
from tui.core.formatting import duration, inert, relative, short_id
from tui.core.jobstate import JobRecord
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
CELL_CACHE = 1024  # rendered cells kept (keyed on each cell's last write): a screen of a tall terminal
SCREEN_CACHE = 256  # entries kept in each of DataTable's per-update caches: a frame of a tall terminal


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


class IdPlaceholder(str):
    """The job cell of a row not rendered yet: the short id as a plain string, and the full id."""

    job_id: str

    def __new__(cls, job_id: str, width: int) -> IdPlaceholder:
        cell = super().__new__(cls, short_id(job_id, width))
        cell.job_id = job_id
        return cell


@dataclass
class RowContext:
    """What rendering a row needs besides the record; built once per refresh."""

    now: float
    palette: StatePalette
    states: Mapping[str, str]  # job id -> display state (decided by the view model)
    flashing: frozenset[str] = field(default_factory=frozenset)


SUSPECT_MARK = "⚠"  # beside the state of a job whose result URL is suspect (see the detail pane)


def _cut(text: str, width: int, style: Style | str = "") -> Text:
    cell = Text(no_wrap=True, end="")
    cell.append(inert(text, 500), style)
    cell.truncate(width, overflow="ellipsis")
    return cell


def render_cells(record: JobRecord, layout: list[tuple[str, int]], ctx: RowContext) -> dict[str, Text]:
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
            cell = _cut(relative(record.last_polled, ctx.now, coarse=True), width)
        elif key == "error":
            err = record.last_error
            code = err.code if err else ""
            if len(code) > width and "." in code:  # the most specific part says the most
                code = "…" + code.rsplit(".", 1)[1]
            cell = _cut(code, width, ctx.palette.style("error"))
        else:
            cell = Text()
        if record.job_id in ctx.flashing:
            cell.stylize(FLASH)
        cells[key] = cell
    return cells


class JobTable(DataTable):
    """Rows keyed by job id. `show()` brings it to a given order, touching only what changed.

    Cells are rendered lazily: a row whose data changed is marked, and only the marked rows
    in (or scrolling into) the viewport are rendered and written, so a tick or a burst costs
    the size of the screen, not of the watchlist. Rows enter with placeholder cells (the id
    only) and are filled when first seen.
    """

    DEFAULT_CSS = """
    JobTable {
        height: 1fr;
        scrollbar-size-vertical: 1;
    }
    """

    BINDINGS = [  # rows, not columns, are what one moves through here; page keys are DataTable's
        Binding(key.keys, key.action, key.footer, show=False, id=key.binding_id) for key in TABLE_KEYS if key.action
    ]

    REBUILD_OVER = 200  # removing more rows than this at once rebuilds (remove_row is O(rows))

    # This class overrides DataTable internals (_render_cell, _y_offsets, ordered_rows and the
    # caches below) for speed at 10,000 rows; they are checked against the exact Textual pinned
    # in pyproject.toml (TESTED_TEXTUAL, guarded by tests/tui/test_robustness.py).
    TESTED_TEXTUAL = "8.2.8"

    def __init__(self, columns: Iterable[str] = ALL_COLUMNS, **kwargs) -> None:
        # DataTable keys its row-order and line-offset caches on `_update_count`, which every
        # update_cell bumps: each tick then rebuilt two lists of 10,000 entries. Those lists only
        # change with the rows themselves (add, remove, sort, clear, heights), so they are cached
        # here on the count of the bumps that did not come from update_cell. (Set before
        # DataTable.__init__, whose watchers already read them.)
        self._content_bumps = 0
        self._dimension_updates = 0
        self._rows_cache: tuple[tuple, list] | None = None
        self._offsets_cache: tuple[tuple, list] | None = None
        self._edges: tuple[tuple, list[int]] | None = None
        # Its cell renders are keyed on `_update_count` too: one changed cell re-rendered every
        # cell on screen. Here a cell's render is keyed on the last write to that cell instead.
        self._cell_versions: dict[tuple[str, str], int] = {}
        self._row_versions: dict[str, int] = {}  # the last write to any cell of the row
        self._cell_cache: LRUCache[tuple, object] = LRUCache(CELL_CACHE)
        self._render_style: Style | None = None  # this widget's rich_style, while a render runs
        super().__init__(cursor_type="row", cell_padding=CELL_PADDING, zebra_stripes=False, **kwargs)
        # DataTable's own caches are keyed on `_update_count` too, so each tick's cell writes
        # leave every entry in them dead; at their sizes (1,000 rows and lines, 10,000 cells of
        # rendered segments) a monitor left running carried megabytes of them. A screenful is
        # all a frame can reuse (cells are reused through the cache above).
        self._cell_render_cache = LRUCache(SCREEN_CACHE)
        self._row_render_cache = LRUCache(SCREEN_CACHE)
        self._row_renderable_cache = LRUCache(SCREEN_CACHE)
        self._line_cache = LRUCache(SCREEN_CACHE)
        self.wanted_columns = list(columns)
        self.layout_plan: list[tuple[str, int]] = []
        self._cells: dict[str, dict[str, Text | str]] = {}  # what each shown row's cells hold now
        self._shown: list[str] = []  # the rows, in the order the table shows them
        self._unrendered: set[str] = set()  # shown rows whose cells may be out of date
        self._order: list[str] = []
        self._applied: list[str] | None = None  # the order list last brought to screen
        self._applied_records: Mapping[str, JobRecord] | None = None  # ...and the records it was for
        self._records: Mapping[str, JobRecord] = {}
        self._ctx: RowContext | None = None
        self.cell_updates = 0  # for tests and benchmarks: cells written since mount

    # -- what the app calls --------------------------------------------------------------

    @property
    def selected_job_id(self) -> str | None:
        if not self.row_count:
            return None
        try:
            row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        except Exception:  # noqa: BLE001 - no valid cursor
            return None
        return row_key.value

    def select_job(self, job_id: str) -> bool:
        try:
            index = self.get_row_index(job_id)
        except RowDoesNotExist:
            return False
        self.move_cursor(row=index)
        return True

    def show(self, order: list[str], records: Mapping[str, JobRecord], ctx: RowContext,
             dirty: Iterable[str] | None = None) -> None:
        """Show the jobs of `order`, in that order; re-render the `dirty` ones (None: all)."""
        self._order, self._records, self._ctx = order, records, ctx
        if not self.layout_plan:
            return  # not laid out yet: on_resize shows everything
        self._apply(None if dirty is None else set(dirty))

    def set_columns(self, columns: Iterable[str]) -> None:
        self.wanted_columns = list(columns)
        self._relayout(force=True)

    # -- DataTable caches that survive cell updates ---------------------------------------

    def update_cell(self, row_key, column_key, value, *, update_width: bool = False) -> None:
        row, column = getattr(row_key, "value", row_key), getattr(column_key, "value", column_key)
        if update_width:
            before = self._update_count
            super().update_cell(row_key, column_key, value, update_width=update_width)
            self._content_bumps += self._update_count - before
        else:
            # As DataTable.update_cell, but it repaints the one cell, not the whole table (a tick
            # that moves one cell in each of 40 rows re-rendered all 40 lines for each of them), nor
            # its whole row: the terminal is sent that cell's few characters, not a line of them.
            try:
                self._data[RowKey(row)][ColumnKey(column)] = value
                index = self._row_locations.get(RowKey(row))
            except KeyError:
                raise CellDoesNotExist(f"No cell exists for row_key={row!r}, column_key={column!r}.") from None
            self._update_count += 1
            self._content_bumps += 1
            if index is not None:
                self.refresh_cell(index, column)
        self._cell_versions[(row, column)] = self._update_count
        self._row_versions[row] = self._update_count

    def refresh_cell(self, row_index: int, column: str) -> None:
        """Repaint one cell (if on screen). As DataTable.refresh_coordinate, without its sums over
        every row above (all rows here are one line high)."""
        x = 0
        for key, spec in self.columns.items():
            width = spec.get_render_width(self)
            if key.value == column:
                break
            x += width
        else:
            return
        region = Region(x, row_index + (self.header_height if self.show_header else 0), width, 1)
        if self.window_region.overlaps(region):
            self.refresh(region.translate(-self.scroll_offset))

    def _render_line(self, y: int, x1: int, x2: int, base_style) -> Strip:
        # DataTable keys its line cache on _update_count, which every cell write bumps: a line is
        # keyed here on the version of its own row instead (and on the table's structure), so an
        # unchanged row's line is reused whatever else changed.
        try:
            row_key, _ = self._get_offsets(y)
        except LookupError:
            return super()._render_line(y, x1, x2, base_style)
        count, bumps = self._update_count, self._content_bumps
        keyed = hash((self._structure_key(), self._row_versions.get(row_key.value, 0)))
        # (the content bumps move with it, so that _structure_key() and the caches it keys stay put)
        self._update_count, self._content_bumps = keyed, bumps + keyed - count
        try:
            strip = super()._render_line(y, x1, x2, base_style)
        finally:
            self._update_count, self._content_bumps = count, bumps
        return self._cut_at_cells(strip, x1)

    def _cut_at_cells(self, strip: Strip, x1: int) -> Strip:
        # DataTable merges a line into as few segments as its styles allow, and Textual writes a
        # partial update whole segments at a time: one cell's change sent the line from its first
        # column. Cut at the cells' edges, a changed cell goes out alone.
        length = strip.cell_length
        cuts = [edge - x1 for edge in self._column_edges() if 0 < edge - x1 < length]
        if not cuts:
            return strip
        cuts.append(length)  # (one new Strip: Strip.divide would build one per cell, each with its caches)
        return Strip([segment for part in Segment.divide(list(strip), cuts) for segment in part], length)

    def _column_edges(self) -> list[int]:
        """Where each column ends, in cells from the table's left edge."""
        key = (self._structure_key(), tuple(self.columns))
        if self._edges is None or self._edges[0] != key:
            edges, x = [], 0
            for column in self.columns.values():
                x += column.get_render_width(self)
                edges.append(x)
            self._edges = (key, edges)
        return self._edges[1]

    def _update_dimensions(self, new_rows) -> None:
        self._dimension_updates += 1  # row heights may change
        if any(column.auto_width for column in self.columns.values()):
            super()._update_dimensions(new_rows)
        else:
            # Every column has a set width and every row is one line with no label: there is
            # nothing to measure (DataTable would parse and measure all 10,000 rows' cells).
            super()._update_dimensions(())

    def _clear_caches(self) -> None:
        super()._clear_caches()
        self._rows_cache = self._offsets_cache = None
        self._cell_cache.clear()
        self._cell_versions.clear()
        self._row_versions.clear()

    def _render_cell(self, row_index: int, column_index: int, base_style, width: int,
                     cursor: bool = False, hover: bool = False):
        if row_index < 0 or column_index < 0:  # the header and row labels: as DataTable does
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        row = self._row_locations.get_key(row_index).value
        column = self._column_locations.get_key(column_index).value
        key = (row, column, row_index, column_index, base_style, width, cursor, hover, self._show_hover_cursor,
               self._pseudo_class_state, self._structure_key(), self._cell_versions.get((row, column), 0))
        lines = self._cell_cache.get(key)
        if lines is None:
            lines = super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
            self._cell_cache[key] = lines
        return lines

    # DataTable asks for its own rich_style once per line drawn, and each time it is worked out
    # afresh from every ancestor's styles: a fifth of a frame. Within one render it cannot change.
    @property
    def rich_style(self) -> Style:
        return self._render_style if self._render_style is not None else super().rich_style

    def render_lines(self, crop):
        self._render_style = None
        self._render_style = self.rich_style
        try:
            return super().render_lines(crop)
        finally:
            self._render_style = None

    def _structure_key(self) -> tuple:
        return (self.row_count, self._update_count - self._content_bumps, self._dimension_updates, id(self.rows))

    @property
    def ordered_rows(self) -> list:
        key = self._structure_key()
        cached = self._rows_cache
        if cached is None or cached[0] != key:
            locations, rows = self._row_locations, self.rows
            cached = self._rows_cache = (key, [rows[locations.get_key(i)] for i in range(len(rows))])
        return cached[1]

    @property
    def _y_offsets(self) -> list:
        key = self._structure_key()
        cached = self._offsets_cache
        if cached is None or cached[0] != key:
            offsets = []
            for row in self.ordered_rows:
                offsets += [(row.key, y) for y in range(row.height)]
            cached = self._offsets_cache = (key, offsets)
        return cached[1]

    # -- internals ------------------------------------------------------------------------

    def on_resize(self) -> None:
        self._relayout()
        self._render_viewport()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self._render_viewport()

    def _relayout(self, force: bool = False) -> None:
        available = self.outer_size.width - 1  # the vertical scrollbar, shown or not
        if available <= 0:
            return
        plan = plan_columns(self.wanted_columns, available)
        if plan == self.layout_plan and not force:
            return
        selected = self.selected_job_id
        scroll_y = self.scroll_y
        self.layout_plan = plan
        self.clear(columns=True)
        self._cells.clear()
        self._shown = []
        self._applied = None
        for key, width in plan:
            self.add_column(Text(COLUMN_SPECS[key][0], no_wrap=True), width=width, key=key)
        if self._ctx is not None:
            self._apply(None)
        if selected is not None:
            self.select_job(selected)
        self.scroll_to(y=scroll_y, animate=False, immediate=True)

    def _placeholder(self, job_id: str) -> dict[str, Text | str]:
        # Plain strings: DataTable measures every cell of a new row, and a str costs nothing to
        # measure (a Text does). Hex ids hold no markup.
        widths = dict(self.layout_plan)
        return {key: IdPlaceholder(job_id, widths[key]) if key == "job" else "" for key, _ in self.layout_plan}

    def _apply(self, dirty: set[str] | None) -> None:
        if self._order is self._applied and self._records is self._applied_records:
            # the same order as last time (the app keeps its list when nothing moved): only redraw
            if dirty is None:
                self._unrendered = set(self._shown)
            else:
                self._unrendered |= dirty & self._cells.keys()
            self._render_viewport()
            return
        self._applied_records = self._records
        self._applied = self._order
        wanted = [job_id for job_id in self._order if job_id in self._records]
        wanted_set = set(wanted)
        selected = self.selected_job_id
        selected_index = self.cursor_row
        leaving = [job_id for job_id in self._shown if job_id not in wanted_set]
        if len(leaving) > self.REBUILD_OVER:
            self.clear()
            self._cells.clear()
            self._shown = []
        elif leaving:
            for job_id in leaving:
                self.remove_row(job_id)
                del self._cells[job_id]
            gone = set(leaving)
            self._shown = [job_id for job_id in self._shown if job_id not in gone]
        self._unrendered &= wanted_set
        self._unrendered |= wanted_set if dirty is None else (dirty & wanted_set)
        for job_id in wanted:
            if job_id not in self._cells:
                cells = self._placeholder(job_id)
                self._cells[job_id] = cells
                self.add_row(*(cells[key] for key, _ in self.layout_plan), key=job_id)
                self._shown.append(job_id)
                self._unrendered.add(job_id)
        if self._shown != wanted:
            position = {job_id: n for n, job_id in enumerate(wanted)}
            self.sort("job", key=lambda cell: position.get(getattr(cell, "job_id", ""), len(position)))
            self._shown = wanted
        if self.row_count:
            if selected in wanted_set:
                index = self.get_row_index(selected)
            else:  # the selected row left: stay where the cursor was, on its neighbour
                index = min(max(0, selected_index), self.row_count - 1)
            if index != self.cursor_row:
                self.move_cursor(row=index, scroll=False)
        self._render_viewport()

    def _render_viewport(self) -> None:
        """Render the out-of-date rows that are on screen (with a row of margin each way)."""
        ctx = self._ctx
        if ctx is None or not self._unrendered or not self.layout_plan:
            return
        top = int(self.scroll_y)
        for job_id in self._shown[max(0, top - 1): top + self.size.height + 1]:
            if job_id not in self._unrendered:
                continue
            self._unrendered.discard(job_id)
            record = self._records.get(job_id)
            if record is None:
                continue
            cached = self._cells[job_id]
            for key, cell in render_cells(record, self.layout_plan, ctx).items():
                if cached.get(key) != cell:
                    cached[key] = cell
                    self.update_cell(job_id, key, cell)
                    self.cell_updates += 1

    def rendered_rows(self) -> int:
        """How many shown rows have up-to-date cells (the rest are filled when scrolled to)."""
        return len(self._shown) - len(self._unrendered)
