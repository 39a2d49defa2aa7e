"""Hostile text on its way to a screen: ids, labels and whatever a server answers (escape sequences,
Rich markup, bidi overrides, very long strings) are shown inert and cut short, never obeyed."""

from __future__ import annotations

import asyncio
import io
import json
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from relkit import GatewayFront
from rich.console import Console
from rich.text import Text

from tui.core.formatting import inert
from tui.core.jobstate import JobRecord
from tui.core.watchlist import WatchlistStore
from tui.headless.output import printable
from tui.simulator.service import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, Simulator

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
UNSAFE_CATEGORIES = ("Cc", "Cf", "Cs", "Co")  # controls, formats (bidi overrides), surrogates, private use

ESCAPES = ["\x1b[31m", "\x1b[2J", "\x1b]0;pwned\x07", "\x1b]8;;https://evil.example\x1b\\", "\x9b31m", "\x07", "\x08"]
BIDI = ["\u202e", "\u2066", "\u200f"]
MARKUP = ["[red]", "[/red]", "[link=https://evil.example]", "[bold blink]"]
hostile_text = st.lists(st.sampled_from(ESCAPES + BIDI + MARKUP) | st.text(max_size=20), max_size=20).map("".join)


def unsafe(text: str) -> list[str]:
    return [ch for ch in text if unicodedata.category(ch) in UNSAFE_CATEGORIES]


# -- the two sanitisers: the monitor's and the shell commands' --------------------------------------

@PROPERTY
@given(text=hostile_text | st.text(), limit=st.integers(2, 300))  # inert(x, 1) gives 2 characters: see the report
def test_inert_text_has_no_control_or_bidi_characters_and_respects_the_limit(text: str, limit: int) -> None:
    shown = inert(text, limit)
    assert unsafe(shown) == []
    assert len(shown) <= limit


@PROPERTY
@given(text=hostile_text | st.text(), limit=st.integers(1, 300))
def test_printable_text_has_no_control_or_bidi_characters_and_respects_the_limit(text: str, limit: int) -> None:
    shown = printable(text, limit)
    assert unsafe(shown) == []
    assert len(shown) <= limit


@PROPERTY
@given(text=hostile_text)
def test_inert_text_in_a_rich_text_is_shown_as_written_never_as_markup(text: str) -> None:
    console = Console(file=io.StringIO(), width=400, color_system=None, force_terminal=False, soft_wrap=True)
    with console.capture() as captured:
        console.print(Text(inert(text, 0)))
    rendered = captured.get()
    assert "\x1b" not in rendered
    for tag in MARKUP:
        if tag in text:
            assert tag in rendered


# -- the shell commands against a server answering hostile text --------------------------------------

JOB = "0123456789abcdef0123456789abcdef"
HOSTILE_ANSWER = {"Response": {
    "JobId": JOB,
    "StatusCode": "[red]JobRunning\x1b[2J",
    "StatusMsg": "\u202e" + "处理中" * 2000 + "\x1b]0;pwned\x07",
    "ResultVideoUrl": "",
    "RequestId": "[link=file:///etc/passwd]support[/link]\x1b[5m",
}}


def _check(argv: list[str], tmp_path: Path) -> tuple[int, str, str]:
    from tui.cli import build_parser
    from tui.headless import commands

    front = GatewayFront(Simulator())
    front.mode, front.fixed_body = "fixed", json.dumps(HOSTILE_ANSWER).encode()
    asyncio.run(front.start())
    try:
        args = build_parser().parse_args([*argv, "--endpoint", front.url, JOB])
        out, err = io.StringIO(), io.StringIO()
        env = {"HOME": str(tmp_path), "TENCENTCLOUD_SECRET_ID": DEFAULT_SECRET_ID,
               "TENCENTCLOUD_SECRET_KEY": DEFAULT_SECRET_KEY}
        code = commands.run(args, stdout=out, stderr=err, env=env)
    finally:
        asyncio.run(front.stop())
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("options", [["check"], ["check", "--color", "always"]], ids=["plain", "terminal colours"])
def test_check_shows_a_hostile_answer_inert_and_cut_short(tmp_path: Path, options: list[str]) -> None:
    code, out, err = _check(options, tmp_path)
    assert code == 4, err  # still running
    for sequence in ("\x1b[2J", "\x1b]0;", "\x07", "\x1b[5m", "\u202e"):
        assert sequence not in out
    assert "[red]JobRunning" in out  # markup shown as written
    assert max(len(line) for line in out.splitlines()) < 1000


def test_check_json_keeps_a_hostile_answer_as_data_with_escapes_escaped(tmp_path: Path) -> None:
    code, out, err = _check(["check", "--json"], tmp_path)
    assert code == 4, err
    assert "\x1b" not in out and "\x07" not in out
    row = json.loads(out)
    assert row["StatusCode"] == HOSTILE_ANSWER["Response"]["StatusCode"]
    assert row["RequestId"] == HOSTILE_ANSWER["Response"]["RequestId"]


def test_check_json_escapes_bidi_overrides_too(tmp_path: Path) -> None:
    code, out, err = _check(["check", "--json"], tmp_path)
    assert unsafe(out.rstrip("\n")) == []


def test_ls_shows_a_hostile_label_inert_and_cut_short(tmp_path: Path) -> None:
    from tui.cli import build_parser
    from tui.headless import commands

    path = tmp_path / "watchlist.toml"
    label = "[red]mine[/red]\x1b[2J\u202e" + "x" * 500
    WatchlistStore(path).save([JobRecord(job_id=JOB, label=label)])
    out, err = io.StringIO(), io.StringIO()
    code = commands.run(build_parser().parse_args(["ls", "--watchlist", str(path)]), stdout=out, stderr=err,
                        env={"HOME": str(tmp_path)})
    assert code == 0, err.getvalue()
    shown = out.getvalue()
    assert "\x1b" not in shown and "\u202e" not in shown
    assert "[red]mine[/red]" in shown
    assert "x" * 100 not in shown


def test_a_long_label_from_a_hand_edited_watchlist_is_kept_whole_and_cut_on_screen_only(tmp_path: Path) -> None:
    path = tmp_path / "watchlist.toml"
    path.write_text(f'version = 1\n[[jobs]]\nid = "{JOB}"\nlabel = "{"y" * 5000}"\n', encoding="utf-8")
    (record,) = WatchlistStore(path).load()
    assert record.label == "y" * 5000  # storage never cuts (issue 14: round trips)
    out, err = io.StringIO(), io.StringIO()
    from tui.cli import build_parser
    from tui.headless import commands

    code = commands.run(build_parser().parse_args(["ls", "--watchlist", str(path)]), stdout=out, stderr=err,
                        env={"HOME": str(tmp_path)})
    assert code == 0, err.getvalue()
    assert "y" * 100 not in out.getvalue() and "…" in out.getvalue()
