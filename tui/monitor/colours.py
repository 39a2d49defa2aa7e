"""How many colours the terminal shows, and how the monitor keeps states apart with 16 or none.

A 16-colour terminal gets every truecolor downgraded to the nearest of its 16 colours, which
merges states whose theme colours are near one another (two pastel shades both become grey).
So every theme also names, per state, one of the 16 ANSI colours (distinct across states);
on such a terminal the states are drawn in exactly those. A terminal that shows no colour
(`TERM=dumb`, the `vt` family, `NO_COLOR`) gets none: the states' symbols tell them apart.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache

from rich.color import Color as RichColor
from rich.color import ColorSystem, ColorTriplet
from rich.segment import Segment
from rich.style import Style
from textual.color import Color
from textual.filter import LineFilter, NoColor

ANSI_NAMES = ("black", "red", "green", "yellow", "blue", "magenta", "cyan", "white",
              "bright_black", "bright_red", "bright_green", "bright_yellow", "bright_blue", "bright_magenta",
              "bright_cyan", "bright_white")
# The palette Rich matches against when it downgrades a colour for a 16-colour terminal: a
# colour given as one of these reaches the terminal as exactly that ANSI colour (a test checks).
ANSI_TRIPLETS = ((0, 0, 0), (170, 0, 0), (0, 170, 0), (170, 85, 0), (0, 0, 170), (170, 0, 170), (0, 170, 170),
                 (170, 170, 170), (85, 85, 85), (255, 85, 85), (85, 255, 85), (255, 255, 85), (85, 85, 255),
                 (255, 85, 255), (85, 255, 255), (255, 255, 255))

DEPTHS = ("none", "16", "256", "truecolor")
# Terminals that show no colour even though Rich would send them the 16: dumb ones and DEC's vt.
_NO_COLOUR_TERM = re.compile(r"^(dumb|unknown|vt\d+.*)$")


def colour_depth(console_system: str | None, environ: Mapping[str, str]) -> str:
    """How many colours to draw with: 'none', '16', '256' or 'truecolor'.

    `console_system` is what Rich detected for the App's console (`App.console.color_system`:
    "standard" is 16 colours); `TEXTUAL_COLOR_SYSTEM` set by hand wins over `TERM`.
    """
    if "NO_COLOR" in environ:
        return "none"
    forced = environ.get("TEXTUAL_COLOR_SYSTEM", "auto")
    if forced in ("standard", "windows"):
        return "16"
    if forced not in ("", "auto"):
        return {"256": "256", "truecolor": "truecolor"}.get(forced, "none")
    if _NO_COLOUR_TERM.match(environ.get("TERM", "").strip().lower()) or console_system is None:
        return "none"
    return {"standard": "16", "windows": "16", "256": "256"}.get(console_system, "truecolor")


def ansi_color(name: str) -> RichColor:
    """The ANSI colour `name` as a colour that reaches a 16-colour terminal unchanged."""
    return RichColor.from_triplet(ColorTriplet(*ANSI_TRIPLETS[ANSI_NAMES.index(name)]))


def _distance(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    # "redmean": a cheap distance close to how far apart people see two colours
    mean = (a[0] + b[0]) / 2
    dr, dg, db = a[0] - b[0], a[1] - b[1], a[2] - b[2]
    return (2 + mean / 256) * dr * dr + 4 * dg * dg + (2 + (255 - mean) / 256) * db * db


def nearest_ansi(value: str) -> str | None:
    """The ANSI colour a 16-colour terminal shows for `value` (None if it is not a colour)."""
    try:
        rgb = Color.parse(value).rgb
    except Exception:  # noqa: BLE001 - ColorParseError, or not a string
        return None
    return ANSI_NAMES[RichColor.from_rgb(*rgb).downgrade(ColorSystem.STANDARD).number or 0]


def backdrop_ansi(variables: Mapping[str, str], dark: bool) -> set[str]:
    """The ANSI colours states are drawn on (background, surface, panel: the status bar's) on a
    16-colour terminal: a state in one of them would vanish there."""
    found = {nearest_ansi(variables.get(key, "")) for key in ("background", "surface", "panel")}
    return {name for name in found if name} or ({"black"} if dark else {"bright_white"})


def derive_ansi(state_colors: Mapping[str, str], given: Mapping[str, str], avoid: set[str]) -> dict[str, str]:
    """ANSI colours for every state in `state_colors`: those `given`, the rest the nearest ANSI
    colour no other state has and not one in `avoid` (the backdrop's)."""
    result = dict(given)
    taken = set(given.values()) | avoid
    for key, value in state_colors.items():
        if key in result:
            continue
        try:
            rgb = Color.parse(value).rgb
        except Exception:  # noqa: BLE001 - an unparsable colour gets any free ANSI colour
            rgb = (128, 128, 128)
        free = [name for name in ANSI_NAMES if name not in taken] or list(ANSI_NAMES)
        best = min(free, key=lambda name: _distance(rgb, ANSI_TRIPLETS[ANSI_NAMES.index(name)]))
        result[key] = best
        taken.add(best)
    return result


@lru_cache(1024)
def _to_sixteen(color: RichColor) -> RichColor:
    if color.triplet is None:
        return color
    return RichColor.from_triplet(ColorTriplet(*ANSI_TRIPLETS[color.downgrade(ColorSystem.STANDARD).number or 0]))


@lru_cache(1024)
def _sixteen_style(style: Style) -> Style:
    color, bgcolor = style.color, style.bgcolor
    if color is None and bgcolor is None:
        return style
    return style + Style.from_color(_to_sixteen(color) if color else None, _to_sixteen(bgcolor) if bgcolor else None)


class SixteenColours(LineFilter):
    """Draw every colour as the ANSI colour a 16-colour terminal will show for it: what the
    terminal does anyway, done here so that screenshots show what the user sees."""

    def apply(self, segments: list[Segment], background: Color) -> list[Segment]:
        return [Segment(text, None if style is None else _sixteen_style(style), control)
                for text, style, control in segments]


@lru_cache(4)
def depth_filters(depth: str) -> tuple[LineFilter, ...]:
    """The line filters that draw the screen in `depth` colours (none for 256 and truecolor)."""
    if depth == "none":
        return (NoColor(),)
    if depth == "16":
        return (SixteenColours(),)
    return ()
