"""Partial screen updates that send the terminal what changed, not the line up to it.

Textual (8.2.8) writes a partial update as, for each changed span of a line, every widget
piece ("chop") the span touches, cropped at the span's end but always from the piece's left
edge: one changed cell at column 60 of the job table re-sent columns 0-60 of its line. With
a screen of running jobs whose "Polled" time moves every second, that was most of the bytes
the monitor wrote (8 KB/s at 80x24). Here the piece is cut from the first of its segments
that the span touches (a segment boundary never splits a wide character, so the terminal
sees exactly what a whole-piece write would have left on screen).

`install()` replaces `ChopsUpdate.render_segments` only on the Textual release it was
written against (`TESTED_TEXTUAL`); on any other it changes nothing.
"""

from __future__ import annotations

import textual
from rich.console import Console
from textual._compositor import ChopsUpdate
from textual.strip import Strip

TESTED_TEXTUAL = "8.2.8"
_ORIGINAL = ChopsUpdate.render_segments


def from_segment_at(strip: Strip, x1: int) -> tuple[int, Strip]:
    """The strip cut from the start of the segment that holds cell `x1`: (that start, the rest)."""
    start = 0
    for segment in strip:
        width = segment.cell_length
        if start + width > x1:
            break
        start += width
    return start, strip.crop(start)


def render_segments(self: ChopsUpdate, console: Console) -> str:
    """As Textual's own, but each piece starts at the segment where its changed span does."""
    sequences: list[str] = []
    append = sequences.append
    move_to = _move_to
    chops, chop_ends = self.chops, self.chop_ends
    last_y = self.spans[-1][0]
    for y, x1, x2 in self.spans:
        for end, (x, strip) in zip(chop_ends[y], chops[y].items()):
            if strip is None or x > x2 or end <= x1:
                continue
            if x2 > x >= x1 and end <= x2:
                append(move_to(x, y))
                append(strip.render(console))
                continue
            strip = strip.crop(0, min(end, x2) - x)
            if x < x1:
                skipped, strip = from_segment_at(strip, x1 - x)
                x += skipped
            append(move_to(x, y))
            append(strip.render(console))
        if y != last_y:
            append("\n")
    return "".join(sequences)


def _move_to(x: int, y: int) -> str:
    return f"\x1b[{y + 1};{x + 1}H"


def install() -> bool:
    """Use `render_segments` for partial updates (idempotent); False on an untested Textual."""
    if textual.__version__ != TESTED_TEXTUAL:
        return False
    ChopsUpdate.render_segments = render_segments  # type: ignore[method-assign]
    return True

