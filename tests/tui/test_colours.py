"""Colour on terminals with fewer colours: 16 (each state keeps a colour of its own) and none."""

from __future__ import annotations

import re
import tomllib

import pytest
from rich.color import Color as RichColor
from rich.color import ColorSystem
from tuikit import IDS, ready, view_app

from tui.core.states import DEFAULT_SYMBOLS, STATE_KEYS
from tui.monitor.colours import ANSI_NAMES, ANSI_TRIPLETS, colour_depth, nearest_ansi
from tui.monitor.themes import SHIPPED_THEMES, ThemeError, load_themes, parse_theme, shipped_themes_dir


def _raw_theme(name: str) -> dict:
    return tomllib.loads((shipped_themes_dir() / f"{name}.toml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", SHIPPED_THEMES)
def test_every_shipped_theme_names_a_distinct_ansi_colour_for_every_state(name):
    states = _raw_theme(name)["states"]
    ansi = {key: entry.get("ansi") for key, entry in states.items()}
    assert set(STATE_KEYS) <= set(ansi) and all(value in ANSI_NAMES for value in ansi.values()), ansi
    assert len(set(ansi.values())) == len(ansi), f"{name}: states share an ANSI colour: {ansi}"


@pytest.mark.parametrize("name", SHIPPED_THEMES)
def test_no_state_vanishes_into_the_background_or_the_status_bar_on_16_colours(name):
    loaded = load_themes([shipped_themes_dir()]).themes[name]
    variables = loaded.theme.to_color_system().generate()
    backdrop = {nearest_ansi(variables[key]) for key in ("background", "surface", "panel")}
    assert not backdrop & set(loaded.ansi.values()), (backdrop, loaded.ansi)


def test_the_ansi_colours_reach_a_16_colour_terminal_unchanged():
    # Rich downgrades a truecolour to the nearest of its 16: ours must be exactly those
    for number, triplet in enumerate(ANSI_TRIPLETS):
        assert RichColor.from_rgb(*triplet).downgrade(ColorSystem.STANDARD).number == number


@pytest.mark.parametrize(("console", "env", "depth"), [
    ("truecolor", {"TERM": "xterm-256color", "COLORTERM": "truecolor"}, "truecolor"),
    ("256", {"TERM": "xterm-256color"}, "256"),
    ("standard", {"TERM": "xterm"}, "16"),
    ("standard", {"TERM": "screen"}, "16"),
    ("standard", {"TERM": "vt100"}, "none"),
    ("standard", {"TERM": "vt220"}, "none"),
    (None, {"TERM": "dumb"}, "none"),
    ("truecolor", {"TERM": "xterm-256color", "NO_COLOR": "1"}, "none"),
    ("truecolor", {"TERM": "xterm-256color", "TEXTUAL_COLOR_SYSTEM": "standard"}, "16"),
])
def test_the_colour_depth_follows_the_terminal(console, env, depth):
    assert colour_depth(console, env) == depth


@pytest.mark.parametrize(("ansi", "message"), [
    ({"init": "orange"}, "states.init.ansi: 'orange' is not one of the 16 ANSI colours"),
    ({"init": "red", "running": "red"}, "states.running and states.init share the ANSI colour 'red'"),
])
def test_a_theme_with_a_bad_ansi_colour_is_refused(ansi, message):
    data = _raw_theme("vclm-light")  # its states use red only for 'failed'
    data["states"] = {k: {**v, "ansi": ansi.get(k, v["ansi"])} for k, v in data["states"].items() if k != "failed"}
    data["states"]["failed"] = {"color": "#C62828", "symbol": "✘"}
    with pytest.raises(ThemeError) as info:
        parse_theme(data, "theme t.toml")
    assert message in str(info.value)


def test_a_theme_without_ansi_colours_gets_distinct_ones_derived():
    data = _raw_theme("vclm-dark")
    data["states"] = {k: {"color": v["color"], "symbol": v["symbol"]} for k, v in data["states"].items()}
    loaded = parse_theme(data, "theme t.toml")
    assert set(loaded.ansi) == set(DEFAULT_SYMBOLS) and len(set(loaded.ansi.values())) == len(loaded.ansi)
    assert not {"black", "bright_black"} & set(loaded.ansi.values())  # the background and the status bar's


def _state_colour(app, job_id: str) -> int | None:
    text = app.table.get_cell(job_id, "state")
    colours = {span.style.color for span in text.spans if span.style.color is not None}
    assert len(colours) <= 1
    if not colours:
        return None
    return colours.pop().downgrade(ColorSystem.STANDARD).number  # what a 16-colour terminal is sent


@pytest.mark.anyio
@pytest.mark.parametrize("theme", SHIPPED_THEMES)
async def test_on_a_16_colour_terminal_each_state_shows_its_own_ansi_colour(clock, monkeypatch, theme):
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.delenv("COLORTERM")
    app = view_app(clock, theme=theme)
    ansi = load_themes([shipped_themes_dir()]).themes[theme].ansi
    async with app.run_test(size=(120, 24)) as pilot:
        await ready(pilot)
        assert app.colour_depth == "16"
        shown = {key: _state_colour(app, IDS[key]) for key in DEFAULT_SYMBOLS}
    assert shown == {key: ANSI_NAMES.index(ansi[key]) for key in DEFAULT_SYMBOLS}
    assert len(set(shown.values())) == len(shown)


@pytest.mark.anyio
async def test_on_a_16_colour_terminal_the_screenshot_shows_only_the_16_colours(clock, monkeypatch):
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.delenv("COLORTERM")
    app = view_app(clock)
    async with app.run_test(size=(120, 24)) as pilot:
        await ready(pilot)
        svg = app.export_screenshot()
    palette = {"#{:02x}{:02x}{:02x}".format(*triplet) for triplet in ANSI_TRIPLETS}
    fills = set(re.findall(r"fill: (#[0-9a-f]{6})", svg)) - {"#c5c8c6"}  # the SVG's own default foreground
    assert fills <= palette, fills - palette


@pytest.mark.anyio
@pytest.mark.parametrize("term", ["vt100", "dumb"])
async def test_a_terminal_without_colour_gets_none_and_keeps_the_symbols(clock, monkeypatch, term):
    monkeypatch.setenv("TERM", term)
    monkeypatch.delenv("COLORTERM")
    app = view_app(clock)
    async with app.run_test(size=(120, 24)) as pilot:
        await ready(pilot)
        assert app.colour_depth == "none"
        assert all(_state_colour(app, IDS[key]) is None for key in DEFAULT_SYMBOLS)
        assert app.table.get_cell(IDS["failed"], "state").plain.startswith(DEFAULT_SYMBOLS["failed"])
        svg = app.export_screenshot()
    # drawn in the terminal's own two colours only: the theme's colours are all filtered out
    fills = set(re.findall(r"fill: (#[0-9a-f]{6})", svg))
    assert len(fills) <= 2, fills
