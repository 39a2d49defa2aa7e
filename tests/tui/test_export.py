"""`e` saves what the screen shows as an SVG and a text file: named by the time, never over a file,
in the configured directory; a directory that cannot take them is a toast, not a crash."""

from __future__ import annotations

import errno
import os
import time

import pytest
from rich.console import Console
from rich.text import Text
from textual.screen import Screen
from textual.widgets import Static
from tuikit import IDS, ready, toasts, view_app

from tui.core.config import Config, parse_config
from tui.core.settings import default_settings
from tui.monitor import export
from tui.monitor.export import svg_text
from tui.monitor.launch import create_app

pytestmark = pytest.mark.anyio


def stem(clock) -> str:
    return "vclm-watch-" + time.strftime("%Y%m%d-%H%M%S", time.localtime(clock.time()))


async def test_e_saves_the_table_as_svg_and_text_with_its_rows_and_a_toast_names_the_file(clock, tmp_path):
    app = view_app(clock)
    app.setup.export_dir = tmp_path
    async with app.run_test(size=(120, 30)) as pilot:
        await ready(pilot)
        await pilot.press("e")
        await pilot.pause()
        svg, text = tmp_path / f"{stem(clock)}.svg", tmp_path / f"{stem(clock)}.txt"
        assert sorted(p.name for p in tmp_path.iterdir()) == [svg.name, text.name]
        assert svg.read_text(encoding="utf-8").startswith("<svg")
        lines = [line.strip() for line in text.read_text(encoding="utf-8").splitlines()]
        assert len(lines) <= 30 and all(len(line) <= 120 for line in lines)
        assert lines[0].split()[:3] == ["Job", "Label", "State"]
        assert any(line.startswith(f"{IDS['running'][:8]}  anime opening") and "● JobRunning" in line for line in lines)
        assert any(line.startswith(IDS["success"][:8]) and "✔ JobSuccess" in line for line in lines)
        assert lines[-1].startswith("a Add  d Remove")  # the whole screen: the footer too
        assert any("[red]not red[/red]" in line for line in lines)  # a label from outside, as it shows
        assert toasts(app)[-1] == f"Screen saved: {svg} (and {text.name})"
        assert app.is_running


async def test_a_second_export_in_the_same_second_gets_a_suffix_and_leaves_the_first_alone(clock, tmp_path):
    (tmp_path / f"{stem(clock)}.txt").write_text("someone's notes")
    app = view_app(clock)
    app.setup.export_dir = tmp_path
    async with app.run_test(size=(100, 24)) as pilot:
        await ready(pilot)
        await pilot.press("e")
        await pilot.press("e")
        await pilot.pause()
    assert (tmp_path / f"{stem(clock)}.txt").read_text() == "someone's notes"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"{stem(clock)}.txt", f"{stem(clock)}-2.svg", f"{stem(clock)}-2.txt", f"{stem(clock)}-3.svg", f"{stem(clock)}-3.txt"])


class OnTop(Screen):
    """A screen pushed over the table, as the overview is."""

    def compose(self):
        yield Static(Text("the overview [b]5 finished[/b]"))


async def test_e_saves_the_screen_on_top_too(clock, tmp_path):
    app = view_app(clock)
    app.setup.export_dir = tmp_path
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await app.push_screen(OnTop())
        await pilot.pause()
        await pilot.press("e")
        await pilot.pause()
        text = (tmp_path / f"{stem(clock)}.txt").read_text(encoding="utf-8")
        assert text.splitlines()[0] == "the overview [b]5 finished[/b]" and "anime opening" not in text


@pytest.mark.parametrize("where", ["a file", "missing", "read-only"])
async def test_a_directory_that_cannot_take_the_files_gives_an_error_toast_not_a_crash(clock, tmp_path, where):
    if where == "a file":
        directory = tmp_path / "notes.txt"
        directory.write_text("")
    elif where == "missing":
        directory = tmp_path / "gone"
    else:
        if os.geteuid() == 0:
            pytest.skip("root writes into a read-only directory")
        directory = tmp_path / "ro"
        directory.mkdir(mode=0o500)
    app = view_app(clock)
    app.setup.export_dir = directory
    async with app.run_test(size=(100, 24)) as pilot:
        await ready(pilot)
        await pilot.press("e")
        await pilot.pause()
        severity, title, message = app.notices[-1]
        assert (severity, title) == ("error", "Screen not saved") and message.startswith(f"{directory}: ")
        assert app.is_running
    assert [p.name for p in tmp_path.iterdir()] in (["notes.txt"], [], ["ro"])


def test_the_export_directory_comes_from_the_config_file(tmp_path):
    config = parse_config({"export_dir": "~/incident"})
    app = create_app(default_settings(tmp_path / "w.toml", config=config), store=None)
    assert app.setup.export_dir == (tmp_path / "x").home() / "incident"
    assert create_app(default_settings(tmp_path / "w.toml", config=Config()), store=None).setup.export_dir is None


def test_the_text_is_the_svg_s_characters_in_their_cells():
    console = Console(width=30, height=4, record=True, file=open(os.devnull, "w"), force_terminal=True,  # noqa: SIM115
                      color_system="truecolor")
    lines = ["[red]not markup[/red] <&>", "  漢字 wide  ✔ x", "", "end  "]
    for line in lines:
        console.print(line, markup=False, style="bold" if line.startswith("end") else None, highlight=True)
    assert svg_text(console.export_svg(), 30, 4) == "\n".join(line.rstrip() for line in lines) + "\n"


async def test_the_palette_s_save_the_screen_command_saves_it(clock, tmp_path):
    from tui.monitor.commands import monitor_commands

    app = view_app(clock)
    app.setup.export_dir = tmp_path
    async with app.run_test(size=(100, 24)) as pilot:
        await ready(pilot)
        [run] = [callback for name, _help, callback in monitor_commands(app) if name == "Save the screen as SVG and text"]
        await run()
        await pilot.pause()
        assert (tmp_path / f"{stem(clock)}.txt").is_file() and (tmp_path / f"{stem(clock)}.svg").is_file()


class _DiskFullMidway:
    """A file the disk fills up under: half of what is written lands, then ENOSPC."""

    def __init__(self, file) -> None:
        self.file = file

    def write(self, content: str) -> int:
        self.file.write(content[: len(content) // 2])
        self.file.flush()
        raise OSError(errno.ENOSPC, "No space left on device")

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.file.close()


@pytest.mark.parametrize("failing", [".svg", ".txt"])
async def test_a_disk_full_midway_leaves_no_partial_file_and_gives_an_error_toast(clock, tmp_path, monkeypatch, failing):
    real_open = open

    def open_(path, *args, **kwargs):
        file = real_open(path, *args, **kwargs)
        return _DiskFullMidway(file) if str(path).endswith(failing) else file

    monkeypatch.setattr(export, "open", open_, raising=False)
    app = view_app(clock)
    app.setup.export_dir = tmp_path
    async with app.run_test(size=(100, 24)) as pilot:
        await ready(pilot)
        await pilot.press("e")
        await pilot.pause()
        severity, title, message = app.notices[-1]
        assert (severity, title) == ("error", "Screen not saved")
        assert message == f"{tmp_path}: No space left on device"
        assert app.is_running
    assert list(tmp_path.iterdir()) == [], "neither the partial file nor its finished partner is left"
