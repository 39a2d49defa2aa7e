"""The monitor's pure parts: hints, time formatting, themes, id parsing, column planning, display states."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from tuikit import IDS, cell_text, ready, sample_records, view_app

from tui.core.config import ALL_COLUMNS
from tui.core.formatting import duration, inert, relative
from tui.core.hints import DEFAULT_HINT, hint_for
from tui.core.jobstate import LastError
from tui.core.states import display_state
from tui.monitor.screens.add_jobs import parse_ids
from tui.monitor.themes import (
    DEFAULT_SYMBOLS,
    SHIPPED_THEMES,
    STATE_KEYS,
    ThemeError,
    load_themes,
    parse_theme,
    shipped_themes_dir,
)
from tui.monitor.widgets.job_table import plan_columns

ID = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(("code", "words"), [
    ("AuthFailure.SignatureExpire", "clock"),
    ("AuthFailure.SecretIdNotFound", "SecretId"),
    ("AuthFailure.SignatureFailure", "SecretKey is wrong"),
    ("AuthFailure.SomethingNew", "authentication failed"),
    ("FailedOperation.TaskNotExist", "wrong region (--region)"),
    ("RequestLimitExceeded", "quota"),
    ("RequestLimitExceeded.UinLimitExceeded", "quota"),
    ("ResourceUnavailable.NotExist", "not activated"),
    ("UnauthorizedOperation", "CAM"),
    ("Transport.timeout", "network"),
    ("Transport.connect", "proxy"),
    ("Transport.brand_new", "network problem"),
    ("InvalidParameterValue.ParameterValueError", "parameter value"),
])
def test_hint_for_error_codes(code, words):
    assert words in hint_for(code)


@pytest.mark.parametrize("code", [None, "", "Totally.Unknown"])
def test_unknown_codes_get_the_default_hint(code):
    assert hint_for(code) == DEFAULT_HINT


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s"), (42.9, "42s"), (185, "3m05s"), (7620, "2h07m"), (4 * 86400 + 3 * 3600, "4d03h"), (None, "—"),
])
def test_duration(seconds, text):
    assert duration(seconds) == text


@pytest.mark.parametrize(("seconds", "text"), [
    (42.9, "42s"), (59, "59s"), (60, "1m"), (185, "3m"), (239, "3m"), (7620, "2h07m"), (None, "—"),
])
def test_a_coarse_duration_counts_whole_minutes_past_the_first(seconds, text):
    assert duration(seconds, coarse=True) == text
    if seconds is not None:
        assert relative(1000.0 - seconds, 1000.0, coarse=True) == (f"{text} ago" if seconds >= 1 else "now")


@pytest.mark.anyio
async def test_the_table_s_times_change_once_a_minute_after_the_first(clock):
    """A row's "in state" and "changed" cells are not rewritten by every tick once a minute has
    passed: a screen of long-running jobs repaints the "polled" cell, not three cells a row."""
    app = view_app(clock)
    async with app.run_test(size=(130, 30)) as pilot:
        await ready(pilot)
        job = IDS["running"]
        before = (cell_text(app, job, "in_state"), cell_text(app, job, "changed"))
        assert before == ("2m", "2m ago")
        clock.advance(20)
        app.tick_now()
        await pilot.pause()
        assert (cell_text(app, job, "in_state"), cell_text(app, job, "changed")) == before


@pytest.mark.parametrize(("then", "text"), [(997, "3s ago"), (1000, "now"), (1004, "in 4s"), (None, "never")])
def test_relative_time_comes_from_the_given_now(then, text):
    assert relative(then, 1000.0) == text


def test_inert_text_shows_control_characters_and_cuts_long_strings():
    assert inert("a\x1b[31mb\x07c\nd") == "a�[31mb�c d"
    assert inert("x" * 50, 10) == "x" * 9 + "…"


@pytest.mark.parametrize("name", SHIPPED_THEMES)
def test_shipped_themes_load_with_every_state_and_distinct_symbols(name):
    loaded = load_themes([shipped_themes_dir()])
    assert not loaded.problems
    theme = loaded.themes[name]
    assert {f"state-{k}" for k in STATE_KEYS} <= set(theme.theme.variables)
    symbols = [theme.symbols[k] for k in STATE_KEYS]
    assert len(set(symbols)) == len(symbols)


def test_okabe_ito_theme_uses_only_the_okabe_ito_palette():
    palette = {"#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000", "#999999"}
    data = tomllib.loads((shipped_themes_dir() / "vclm-okabe-ito.toml").read_text())
    assert {entry["color"].upper() for entry in data["states"].values()} <= palette


def test_shipped_themes_are_found_in_a_wheel_layout(tmp_path, monkeypatch):
    import importlib.resources

    bundled = tmp_path / "tui" / "bundled_themes"
    bundled.mkdir(parents=True)
    (bundled / "only.toml").write_text((shipped_themes_dir() / "vclm-dark.toml").read_text())
    monkeypatch.setattr(importlib.resources, "files", lambda package: tmp_path / package)
    assert shipped_themes_dir() == bundled


def _theme(**overrides):
    data = tomllib.loads((shipped_themes_dir() / "vclm-dark.toml").read_text())
    data.update(overrides)
    return data


@pytest.mark.parametrize(("change", "message"), [
    ({"name": ""}, "'name'"),
    ({"colours": {}}, "unknown key(s) colours"),
    ({"colors": {"primary": "not-a-colour"}}, "is not a colour"),
    ({"colors": {"primary": "#123456", "shiny": "#123456"}}, "unknown colour(s) shiny"),
    ({"states": {k: {"color": "#ffffff", "symbol": "x"} for k in STATE_KEYS}}, "share the symbol"),
    ({"states": {"running": {"color": "#ffffff", "symbol": "●"}}}, "states.init is required"),
    ({"states": {**{k: {"color": "#ffffff", "symbol": DEFAULT_SYMBOLS[k]} for k in STATE_KEYS},
                 "init": {"color": "#ffffff", "symbol": "ab"}}}, "one printable character"),
    ({"dark": "yes"}, "'dark' must be true or false"),
])
def test_a_broken_theme_is_refused_with_a_clear_message(change, message):
    with pytest.raises(ThemeError, match=None) as info:
        parse_theme(_theme(**change), "theme t.toml")
    assert message in str(info.value) and "t.toml" in str(info.value)


async def _run(app):
    async with app.run_test(size=(100, 24)) as pilot:
        await ready(pilot)
        return app.theme


@pytest.mark.anyio
async def test_a_broken_user_theme_is_reported_and_the_default_is_used(clock, tmp_path):
    from tui.core.settings import default_settings
    from tui.monitor.launch import create_app

    user = tmp_path / "themes"
    user.mkdir()
    (user / "mine.toml").write_text('name = "mine"\n[colors]\nprimary = "#zzz"\n')
    app = create_app(default_settings(), clock=clock, store=None, records=sample_records(clock), theme="mine",
                     theme_dirs=[shipped_themes_dir(), user], cursor_blink=False)
    assert await _run(app) == "vclm-dark"
    messages = [m for _s, title, m in app.notices if title == "Theme problem"]
    assert any("mine.toml" in m and "is not a colour" in m for m in messages)
    assert any("'mine' is not available" in m for m in messages)


@pytest.mark.anyio
async def test_a_user_theme_can_override_symbols(clock, tmp_path):
    from tui.core.settings import default_settings
    from tui.monitor.launch import create_app

    user = tmp_path / "themes"
    user.mkdir()
    text = (shipped_themes_dir() / "vclm-dark.toml").read_text()
    (user / "ascii.toml").write_text(text.replace('name = "vclm-dark"', 'name = "ascii"').replace("●", "R"))
    app = create_app(default_settings(), clock=clock, store=None, records=sample_records(clock), theme="ascii",
                     theme_dirs=[shipped_themes_dir(), user], cursor_blink=False)
    async with app.run_test(size=(100, 24)) as pilot:
        await ready(pilot)
        assert app.table.get_cell(IDS["running"], "state").plain == "R JobRunning"


def test_textual_builtin_themes_still_get_state_colours(clock):
    app = view_app(clock, theme="nord")
    palette = app.palette_for_theme()
    assert all(palette.style(k).color is not None for k in STATE_KEYS)


@pytest.mark.parametrize(("text", "new", "error_has"), [
    (ID, [ID], None),
    (ID.upper(), [ID], None),
    (f"{ID}, {ID[::-1]}", [ID, ID[::-1]], None),
    (f"JobId={ID} RequestId=6c2f4a1e-8b3d-4c5e-9f70-000000000001", [ID], None),
    ("", [], "at least one job id"),
    ("hello world", [], "No job id found"),
    (ID[:-1], [], "31 characters"),
    (ID + "0", [], "33 characters"),
    (f"{ID[:-1]}g", [], "Not valid job ids"),
    (f"{ID} {ID[:-4]}", [ID], "press enter again"),
    ("a" * 64, [], "No job id found"),  # a hash, not an id
])
def test_parse_ids(text, new, error_has):
    parsed = parse_ids(text)
    assert parsed.new == new
    if error_has is None:
        assert parsed.error is None
    else:
        assert error_has in parsed.error


def test_parse_ids_skips_watched_ones_and_notes_repeats():
    parsed = parse_ids(f"{ID} {ID} {ID[::-1]}", watched={ID[::-1]})
    assert parsed.new == [ID] and parsed.already == [ID[::-1]]
    assert parsed.note == "skipped 1 already watched; 1 repeated in the text"
    assert "already watched" in parse_ids(ID, watched={ID}).error


@pytest.mark.parametrize("width", [40, 60, 79, 99, 119, 139, 200])
def test_columns_fit_the_width_and_keep_the_job_and_state(width):
    plan = plan_columns(ALL_COLUMNS, width)
    keys = [key for key, _ in plan]
    assert keys[0] == "job" and "state" in keys
    assert sum(w + 2 for _, w in plan) <= max(width, 35)


@pytest.mark.parametrize(("width", "id_chars"), [(59, 8), (79, 8), (99, 8), (119, 8), (129, 18), (137, 32), (199, 32)])
def test_the_job_column_widens_with_the_terminal_up_to_the_whole_id(width, id_chars):
    plan = dict(plan_columns(ALL_COLUMNS, width))
    assert plan["job"] == id_chars
    assert plan["label"] >= 17 if width >= 79 else True  # the label is not starved for it


def test_columns_follow_the_configured_list():
    assert [key for key, _ in plan_columns(["job", "state", "error"], 120)] == ["job", "state", "error"]


def test_display_state_precedence(clock):
    records = {r.job_id: r for r in sample_records(clock)}
    now = clock.time()
    running = records[IDS["running"]]
    assert display_state(running, now, 6.0) == "running"
    assert display_state(running, now + 60, 6.0) == "stale"
    running.last_error = LastError("Transport.timeout", "slow", None, now)
    assert display_state(running, now + 60, 6.0) == "error"  # an error beats staleness
    assert display_state(records[IDS["success"]], now + 10**6, 6.0) == "success"  # final states do not go stale
    assert display_state(records[IDS["unknown"]], now, 6.0) == "unknown"
    assert display_state(records[IDS["pending"]], now, 6.0) == "pending"


def test_no_hex_colours_outside_the_theme_files():
    import re

    root = Path(__file__).resolve().parents[2] / "tui"
    mine = [path for path in root.rglob("*") if path.suffix in (".py", ".tcss")]
    assert len(mine) > 40 and root / "monitor" / "app.tcss" in mine
    for path in mine:
        assert not re.search(r"#[0-9a-fA-F]{6}\b", path.read_text()), path
