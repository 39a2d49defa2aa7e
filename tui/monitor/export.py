"""Saving what the screen shows (the table, the overview, any screen on top) as an SVG and a plain-text
file, for pasting into an incident channel: the files' names, the text drawn from the SVG, the key."""

from __future__ import annotations

import html
import re
import time
from pathlib import Path

from rich.cells import cell_len
from textual.app import App
from textual.binding import Binding

from tui.api.clock import Clock
from tui.monitor.keys import KEYS
from tui.monitor.setup import MonitorSetup

PREFIX = "vclm-watch-"
_KEY = next(key for key in KEYS if key.action == "export_screen")

# Rich's SVG export (what Textual's screenshot is): one <text> per run of same-styled cells, at x =
# column × the cell width, clipped to its line. The cell width is Rich's: 0.61 of a 20 px font.
_CELL_WIDTH = 20 * 0.61
_TEXT = re.compile(r'<text [^>]*?x="([0-9.]+)"[^>]*?clip-path="url\(#[^)]*?-line-([0-9]+)\)">([^<]*)</text>')


def svg_text(svg: str, width: int, height: int) -> str:
    """The characters of a Rich SVG export of a `width`×`height` screen, as lines of text (trailing
    blanks dropped); the SVG escapes text from outside, so nothing in it is taken as markup."""
    grid = [[" "] * width for _ in range(height)]
    for x, line, content in _TEXT.findall(svg):
        y = int(line)
        if y >= height:
            continue
        column = round(float(x) / _CELL_WIDTH)
        for char in html.unescape(content).replace("\xa0", " "):
            cells = cell_len(char)
            if 0 <= column < width:
                grid[y][column] = char
                for extra in range(1, cells):  # the cell a wide character also covers
                    if column + extra < width:
                        grid[y][column + extra] = ""
            column += cells
    return "\n".join("".join(row).rstrip() for row in grid).rstrip("\n") + "\n"


def _create(path: Path, content: str) -> None:
    """Create `path` with `content`: FileExistsError if it is there already (a file that appeared
    meanwhile is kept), and on any failure once created (a full disk midway) it is removed again."""
    file = open(path, "x", encoding="utf-8")  # closed inside the try below: closing can fail too
    try:
        with file:
            file.write(content)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def write_export(directory: Path, at: float, svg: str, text: str) -> tuple[Path, Path]:
    """Write `vclm-watch-YYYYmmdd-HHMMSS.svg` and `.txt` (local time of `at`) in `directory`, never
    over a file already there (a `-2`, `-3`... suffix instead). Raises OSError, having left no file
    of its own behind, not even a partly written one."""
    stem = PREFIX + time.strftime("%Y%m%d-%H%M%S", time.localtime(at))
    for n in range(1, 10_000):
        name = stem if n == 1 else f"{stem}-{n}"
        svg_path, text_path = directory / f"{name}.svg", directory / f"{name}.txt"
        if text_path.exists():
            continue
        try:
            _create(svg_path, svg)
        except FileExistsError:
            continue
        try:
            _create(text_path, text)
        except FileExistsError:
            svg_path.unlink(missing_ok=True)
            continue
        except BaseException:
            svg_path.unlink(missing_ok=True)
            raise
        return svg_path, text_path
    raise FileExistsError(f"{stem}: too many exports of this second")


class ExportingApp(App[int]):
    """An App whose key `e` (on every screen) saves what the screen shows (`export_screen`); the
    monitor's App builds on it. It needs the App's `setup` (its `export_dir`) and `clock`."""

    BINDINGS = [Binding(_KEY.keys, _KEY.action, _KEY.footer, show=False, id="app.export")]

    setup: MonitorSetup
    clock: Clock

    def action_export_screen(self) -> None:
        directory = self.setup.export_dir or Path.cwd()
        width, height = self.size
        svg = self.export_screenshot()
        try:
            svg_path, text_path = write_export(directory, self.clock.time(), svg, svg_text(svg, width, height))
        except OSError as exc:  # a read-only or missing directory: said, never a crash
            reason = exc.strerror or str(exc)
            self.notify(f"{directory}: {reason}", title="Screen not saved", severity="error", markup=False)
            return
        self.notify(f"{svg_path} (and {text_path.name})", title="Screen saved", markup=False)
