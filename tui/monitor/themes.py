"""Theme files: TOML data validated into a textual Theme plus the per-state symbols.

A theme sets Textual's colours and, for every display state, a colour (a theme variable
such as `$state-running`, usable in TCSS), a symbol, so states stay distinguishable
without colour, and an ANSI colour (one of the 16, distinct across states) for 16-colour
terminals, where the other colours are rounded to the nearest of the 16 and would merge.
Shipped themes come from the package (`tui/bundled_themes` in a wheel) or the repository's
`themes/` (a source checkout); user themes from the config directory.
A broken file is reported and skipped, never fatal.
"""

from __future__ import annotations

import importlib.resources
import tomllib
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.cells import cell_len
from textual.color import Color, ColorParseError
from textual.theme import Theme

from tui.core.states import DEFAULT_SYMBOLS, OPTIONAL_STATE_KEYS, STATE_KEYS
from tui.monitor.colours import ANSI_NAMES, backdrop_ansi, derive_ansi

DEFAULT_THEME = "vclm-dark"
SHIPPED_THEMES = ("vclm-dark", "vclm-light", "vclm-high-contrast", "vclm-okabe-ito")

COLOR_KEYS = ("primary", "secondary", "accent", "warning", "error", "success",
              "foreground", "background", "surface", "panel", "boost")
REQUIRED_COLOR_KEYS = ("primary",)

class ThemeError(ValueError):
    """A theme file cannot be used; the message names the file and the problem."""


@dataclass
class LoadedTheme:
    theme: Theme
    symbols: dict[str, str]
    source: str  # where it came from, for messages
    ansi: dict[str, str] = field(default_factory=dict)  # state -> one of the 16 ANSI colours, distinct

    @property
    def name(self) -> str:
        return self.theme.name


@dataclass
class ThemeLoad:
    themes: dict[str, LoadedTheme] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def _check_color(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ThemeError(f"{where} must be a colour string, not {type(value).__name__}")
    try:
        Color.parse(value)
    except ColorParseError:
        raise ThemeError(f"{where}: {value[:40]!r} is not a colour") from None
    return value


def _check_symbol(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise ThemeError(f"{where} must be a non-empty string")
    if any(unicodedata.category(ch).startswith("C") for ch in value) or cell_len(value) != 1:
        raise ThemeError(f"{where}: {value[:10]!r} must be one printable character one cell wide")
    return value


def _check_ansi(value: Any, where: str) -> str:
    if value not in ANSI_NAMES:
        raise ThemeError(f"{where}: {str(value)[:40]!r} is not one of the 16 ANSI colours ({', '.join(ANSI_NAMES)})")
    return value


def parse_theme(data: dict[str, Any], source: str) -> LoadedTheme:
    """Validate one theme's TOML table; ThemeError says exactly what is wrong."""
    known = {"name", "dark", "colors", "states", "variables", "description"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ThemeError(f"{source}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 60:
        raise ThemeError(f"{source}: 'name' must be a short non-empty string")
    dark = data.get("dark", True)
    if not isinstance(dark, bool):
        raise ThemeError(f"{source}: 'dark' must be true or false")
    colors = data.get("colors")
    if not isinstance(colors, dict):
        raise ThemeError(f"{source}: a [colors] table is required")
    bad = sorted(set(colors) - set(COLOR_KEYS))
    if bad:
        raise ThemeError(f"{source}: unknown colour(s) {', '.join(bad)} (known: {', '.join(COLOR_KEYS)})")
    for key in REQUIRED_COLOR_KEYS:
        if key not in colors:
            raise ThemeError(f"{source}: colors.{key} is required")
    checked = {key: _check_color(value, f"{source}: colors.{key}") for key, value in colors.items()}

    states = data.get("states")
    if not isinstance(states, dict):
        raise ThemeError(f"{source}: a [states] table is required")
    bad = sorted(set(states) - set(STATE_KEYS) - set(OPTIONAL_STATE_KEYS))
    if bad:
        raise ThemeError(f"{source}: unknown state(s) {', '.join(bad)} (known: {', '.join(STATE_KEYS + OPTIONAL_STATE_KEYS)})")
    variables: dict[str, str] = {}
    symbols: dict[str, str] = dict(DEFAULT_SYMBOLS)
    ansi: dict[str, str] = {}
    for key in STATE_KEYS + OPTIONAL_STATE_KEYS:
        entry = states.get(key)
        if entry is None:
            if key in STATE_KEYS:
                raise ThemeError(f"{source}: states.{key} is required (a table with color and symbol)")
            continue
        if not isinstance(entry, dict) or set(entry) - {"color", "symbol", "ansi"}:
            raise ThemeError(f"{source}: states.{key} must be a table with only 'color', 'symbol' and 'ansi'")
        if "color" not in entry or "symbol" not in entry:
            raise ThemeError(f"{source}: states.{key} needs both 'color' and 'symbol'")
        variables[f"state-{key}"] = _check_color(entry["color"], f"{source}: states.{key}.color")
        symbols[key] = _check_symbol(entry["symbol"], f"{source}: states.{key}.symbol")
        if "ansi" in entry:
            ansi[key] = _check_ansi(entry["ansi"], f"{source}: states.{key}.ansi")
    seen: dict[str, str] = {}
    for key in STATE_KEYS:
        if symbols[key] in seen:
            raise ThemeError(f"{source}: states.{key} and states.{seen[symbols[key]]} share the symbol "
                             f"{symbols[key]!r}; states must stay distinguishable without colour")
        seen[symbols[key]] = key
    by_colour: dict[str, str] = {}
    for key, colour in ansi.items():
        if colour in by_colour:
            raise ThemeError(f"{source}: states.{key} and states.{by_colour[colour]} share the ANSI colour {colour!r}; "
                             "on a 16-colour terminal they would look alike")
        by_colour[colour] = key

    extra = data.get("variables", {})
    if not isinstance(extra, dict):
        raise ThemeError(f"{source}: [variables] must be a table of strings")
    for key, value in extra.items():
        if not isinstance(value, str) or key.startswith("state-"):
            raise ThemeError(f"{source}: variables.{key} must be a string and not a state colour")
        variables[key] = value

    theme = Theme(name=name.strip(), dark=dark, variables=variables, **checked)
    state_colors = {key: variables[f"state-{key}"] for key in STATE_KEYS + OPTIONAL_STATE_KEYS
                    if f"state-{key}" in variables}
    backdrop = backdrop_ansi(theme.to_color_system().generate(), dark)
    return LoadedTheme(theme=theme, symbols=symbols, source=source, ansi=derive_ansi(state_colors, ansi, backdrop))


def load_theme_file(path: Path) -> LoadedTheme:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ThemeError(f"theme {path}: cannot read ({exc.strerror or exc})") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # TOMLDecodeError, bad UTF-8, or tomllib choking on a huge value
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:120]
        raise ThemeError(f"theme {path}: not valid TOML ({first})") from None
    return parse_theme(data, f"theme {path}")


def shipped_themes_dir() -> Path | None:
    """The themes shipped with the program: in the wheel, else next to the package."""
    try:
        bundled = importlib.resources.files("tui") / "bundled_themes"
        if bundled.is_dir():
            return Path(str(bundled))
    except (ModuleNotFoundError, OSError, TypeError):
        pass
    checkout = Path(__file__).resolve().parents[2] / "themes"
    return checkout if checkout.is_dir() else None


def load_themes(directories: list[Path | None]) -> ThemeLoad:
    """Every `*.toml` theme in `directories`, later directories overriding earlier ones."""
    result = ThemeLoad()
    for directory in directories:
        if directory is None or not directory.is_dir():
            continue
        try:
            files = sorted(directory.glob("*.toml"))
        except OSError as exc:
            result.problems.append(f"themes in {directory}: cannot list ({exc})")
            continue
        for path in files:
            try:
                loaded = load_theme_file(path)
            except ThemeError as exc:
                result.problems.append(str(exc))
                continue
            result.themes[loaded.name] = loaded
    return result


def fallback_state_colors(theme: Theme) -> dict[str, str]:
    """State colours for a theme that does not define them (Textual's own), from its palette."""
    system = theme.to_color_system().generate()
    pick = lambda *names: next((system[n] for n in names if system.get(n)), system.get("foreground", ""))  # noqa: E731
    return {
        "state-init": pick("secondary", "primary"),
        "state-running": pick("primary"),
        "state-success": pick("success"),
        "state-failed": pick("error"),
        "state-moderation": pick("accent", "warning"),
        "state-unknown": pick("warning"),
        "state-error": pick("error"),
        "state-stale": pick("foreground-muted", "text-muted", "foreground"),
        "state-pending": pick("foreground-muted", "text-muted", "foreground"),
    }


def pick_theme(wanted: str, available: set[str], problems: list[str]) -> str:
    """`wanted` if it is available, else the default (the problem is appended to `problems`)."""
    if wanted in available:
        return wanted
    fallback = DEFAULT_THEME if DEFAULT_THEME in available else "textual-dark"
    problems.append(f"theme {wanted!r} is not available; using {fallback}")
    return fallback


def register_themes(app: Any, dirs: list[Path | None]) -> tuple[dict[str, LoadedTheme], list[str]]:
    """Load the theme files of `dirs` and register them with the App: (themes by name, problems)."""
    loaded = load_themes(list(dirs))
    for item in loaded.themes.values():
        app.register_theme(item.theme)
    return loaded.themes, list(loaded.problems)
