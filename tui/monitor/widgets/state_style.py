"""How a display state looks in the theme in force: its symbol and its colour (the theme's
truecolour, its ANSI colour on a 16-colour terminal, none on a terminal without colour)."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.style import Style
from rich.text import Text
from textual.color import Color, ColorParseError
from textual.theme import Theme

from tui.core.formatting import inert
from tui.core.jobstate import JobRecord
from tui.core.states import DEFAULT_SYMBOLS
from tui.monitor.colours import ansi_color, backdrop_ansi, derive_ansi
from tui.monitor.themes import LoadedTheme, fallback_state_colors


@dataclass
class StatePalette:
    """Symbols and colours of the theme in force."""

    symbols: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_SYMBOLS))
    styles: dict[str, Style] = field(default_factory=dict)

    @classmethod
    def for_theme(cls, theme: Theme, loaded: LoadedTheme | None, depth: str = "truecolor") -> StatePalette:
        """The palette of a Textual theme (one of ours when `loaded` is given) drawn in `depth` colours."""
        variables = {**fallback_state_colors(theme), **theme.to_color_system().generate(), **theme.variables}
        return cls.from_variables(variables, loaded.symbols if loaded else None, loaded.ansi if loaded else None,
                                  depth, theme.dark)

    @classmethod
    def from_variables(cls, variables: dict[str, str], symbols: dict[str, str] | None,
                       ansi: dict[str, str] | None = None, depth: str = "truecolor", dark: bool = True) -> StatePalette:
        """The palette of a theme's variables (`state-<key>` colours); with `depth` "16" the
        states take their ANSI colours (`ansi`, derived where missing), with "none" no colour."""
        symbols = {**DEFAULT_SYMBOLS, **(symbols or {})}
        if depth == "none":
            return cls(symbols=symbols)
        if depth == "16":
            state_colors = {key: variables.get(f"state-{key}", "") for key in DEFAULT_SYMBOLS}
            fallback = derive_ansi(state_colors, ansi or {}, backdrop_ansi(variables, dark))
            return cls(symbols=symbols, styles={key: Style(color=ansi_color(name)) for key, name in fallback.items()})
        background = _parse(variables.get("background", ""))
        styles: dict[str, Style] = {}
        for key in DEFAULT_SYMBOLS:
            color = _parse(variables.get(f"state-{key}", ""))
            if color is None:
                styles[key] = Style()
                continue
            if color.a < 1 and background is not None:
                color = background + color
            styles[key] = Style(color=color.rich_color)
        return cls(symbols=symbols, styles=styles)

    def symbol(self, key: str) -> str:
        return self.symbols.get(key, "?")

    def style(self, key: str) -> Style:
        return self.styles.get(key, Style())

    def state_text(self, record: JobRecord, key: str, width: int | None = None) -> Text:
        """Symbol and StatusCode (the last known one under an error or staleness mark)."""
        code = inert(record.status_code, 80) if record.status_code else ("no answer" if key == "error" else "pending")
        text = Text()
        text.append(f"{self.symbol(key)} ", self.style(key))
        text.append(code, self.style(key) + (Style(bold=True) if key in ("error", "failed", "moderation") else Style()))
        if width is not None:
            text.truncate(width, overflow="ellipsis")
        return text


def _parse(value: str) -> Color | None:
    if not value:
        return None
    try:
        return Color.parse(value)
    except ColorParseError:
        return None
