"""What fits an 80-column terminal: the footer's keys by usefulness, a status bar that fits,
and toasts that neither pile up nor hide the status bar."""

from __future__ import annotations

import pytest
from rich.cells import cell_len
from textual.geometry import Region
from textual.widgets import Footer
from tuikit import ready, view_app

from tui.monitor.notices import Toast, ToastShelf
from tui.monitor.widgets.state_style import StatePalette
from tui.monitor.widgets.status_bar import StatusBar, StatusInfo, render_status

DEMO_CREDENTIALS = "AKID…0000 from the demo (made-up simulator credentials)"


# -- the footer -----------------------------------------------------------------------------------

def _footer_keys(app) -> list[tuple[str, Region]]:
    """(key as shown, where) of every key the footer shows, the palette's last."""
    footer = app.screen.query_one(Footer)
    return [(key.key_display, key.region) for key in footer.children if hasattr(key, "key_display")]


@pytest.mark.anyio
@pytest.mark.parametrize(("width", "wanted"), [
    (80, {"?", "q", "a", "/", "s", "d", "u"}),
    (160, {"?", "q", "a", "/", "s", "d", "u", "l", "h", "y", "r", "p"}),
])
async def test_the_footer_shows_the_most_useful_keys_that_fit(clock, width, wanted):
    app = view_app(clock)
    async with app.run_test(size=(width, 24)) as pilot:
        await ready(pilot)
        keys = _footer_keys(app)
    shown = {key for key, _region in keys}
    assert wanted <= shown, f"missing {wanted - shown}"
    regions = [region for _key, region in keys]
    assert all(region.right <= width for region in regions)
    assert all(not a.overlaps(b) for n, a in enumerate(regions) for b in regions[n + 1:]), regions


@pytest.mark.anyio
async def test_the_footer_shows_more_keys_when_the_terminal_widens(clock):
    app = view_app(clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        narrow = {key for key, _region in _footer_keys(app)}
        await pilot.resize_terminal(160, 24)
        for _ in range(5):
            await pilot.pause()
        wide = {key for key, _region in _footer_keys(app)}
        await pilot.resize_terminal(80, 24)
        for _ in range(5):
            await pilot.pause()
        again = {key for key, _region in _footer_keys(app)}
    assert narrow < wide and {"h", "y", "r", "p"} <= wide - narrow
    assert again == narrow


# -- the status bar ------------------------------------------------------------------------------

def _info(**changes) -> StatusInfo:
    info = StatusInfo(counts={"error": 1, "moderation": 1, "running": 8, "init": 1, "success": 1}, shown=12, total=12,
                      measured_rate=6.6, sort="added", region="ap-guangzhou", endpoint="in-process simulator (demo)",
                      credentials=DEMO_CREDENTIALS)
    for name, value in changes.items():
        setattr(info, name, value)
    return info


@pytest.mark.parametrize("changes", [
    {},
    {"paused": True, "cut_back": True, "pace": 4.5, "sort": "last change", "hide_finished": True,
     "filter_text": "running and many more words", "shown": 3},
    {"endpoint": "vclm.ap-guangzhou.tencentcloudapi.example.invalid:8443", "region": "ap-guangzhou"},
])
def test_the_status_lines_fit_78_cells_and_keep_the_rate_the_sort_and_the_key(changes):
    info = _info(**changes)
    first, second = render_status(info, StatePalette(), 78).plain.split("\n")
    assert cell_len(first) <= 78 and cell_len(second) <= 78
    assert "6.6/20 req/s" in first and f"sort:{info.sort}" in first
    assert "ap-guangzhou" in second and "AKID…0000" in second


def test_the_status_lines_stay_whole_when_there_is_room():
    first, second = render_status(_info(), StatePalette(), 200).plain.split("\n")
    assert second.endswith(DEMO_CREDENTIALS) and "in-process simulator (demo)" in second


@pytest.mark.anyio
async def test_the_status_bar_fits_an_80_column_terminal(clock):
    app = view_app(clock)
    app.setup.credentials_note = DEMO_CREDENTIALS
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        app.refresh_view()
        await pilot.pause()
        bar = app.screen.query_one(StatusBar)
        lines = ["".join(segment.text for segment in strip).strip()
                 for strip in bar.render_lines(Region(0, 0, bar.size.width, 2))]
    assert "not polling" in lines[0] and "sort:added" in lines[0]  # view_app has no client
    assert lines[1].endswith("credentials: AKID…0000"), lines[1]


# -- toasts ---------------------------------------------------------------------------------------

class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _toast(message: str, kind: str = "", severity: str = "information", timeout: float = 5.0) -> Toast:
    return Toast(message, "", severity, timeout, False, kind)


def test_a_new_toast_replaces_the_one_of_its_kind():
    shelf = ToastShelf(clock=_Clock())
    for mode in ("added", "state", "age"):
        shelf.add(_toast(f"Sorted by {mode}."))
    assert [t.message for t in shelf.live] == ["Sorted by age."]


def test_at_most_two_toasts_show_and_an_error_outlasts_information():
    shelf = ToastShelf(clock=_Clock())
    shelf.add(_toast("theme broken", "Theme problem", "error"))
    shelf.add(_toast("Copied JobId", "Copied JobId"))
    shelf.add(_toast("Removed x", "Watchlist"))
    assert [t.message for t in shelf.live] == ["theme broken", "Removed x"]


def test_a_less_severe_toast_of_the_same_kind_does_not_hide_a_failure():
    shelf = ToastShelf(clock=_Clock())
    shelf.add(_toast("✘ a: JobFailed", "finished", "warning"))
    shelf.add(_toast("✔ b: JobSuccess", "finished"))
    assert [t.message for t in shelf.live] == ["✘ a: JobFailed", "✔ b: JobSuccess"]


def test_expired_toasts_make_room_and_need_no_clearing():
    clock = _Clock()
    shelf = ToastShelf(clock=clock)
    shelf.add(_toast("one", "a", timeout=2))
    assert shelf.take() == ([shelf.live[0]], False)
    clock.now += 3
    shelf.add(_toast("two", "a"))
    shown, clear_first = shelf.take()
    assert [t.message for t in shown] == ["two"] and not clear_first


def _toast_regions(app) -> list[tuple[str, Region]]:
    return [(str(toast.render()), toast.region) for toast in app.screen.query("Toast")]


@pytest.mark.anyio
async def test_a_burst_of_toasts_shows_as_at_most_two_above_the_status_bar(clock):
    app = view_app(clock)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await ready(pilot)
        # long timeouts: toasts expire in real time, and a loaded machine may be slow
        app.notify("✘ ink-wash short: JobFailed", title="Job finished", severity="warning", timeout=60)
        for mode in ("added", "state", "age", "last change"):  # in one go, as keys typed ahead arrive
            app.notify(f"Sorted by {mode}.", timeout=60)
        app.notify("Finished jobs hidden.", timeout=60)
        for _ in range(5):
            await pilot.pause()
        shown = _toast_regions(app)
        bar = app.screen.query_one(StatusBar).region
        footer = app.screen.query_one(Footer).region
    texts = [text for text, _region in shown]
    assert len(shown) == 2, texts
    assert any("JobFailed" in text for text in texts) and any("Finished jobs hidden." in text for text in texts)
    assert all(not region.overlaps(bar) and not region.overlaps(footer) for _text, region in shown)


@pytest.mark.anyio
async def test_toasts_leave_a_dialog_s_hint_line_in_view(clock):
    app = view_app(clock)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await ready(pilot)
        await pilot.press("a")
        app.notify("✘ ink-wash short (fails while processing): JobFailed", title="Job finished", severity="warning",
                   timeout=60)
        app.notify("Sorted by age.", timeout=60)
        for _ in range(5):
            await pilot.pause()
        hints = [hint.region for hint in app.screen.query(".hint")]
        shown = _toast_regions(app)
    assert len(shown) == 2 and hints
    assert all(not region.overlaps(hint) for _text, region in shown for hint in hints)


def test_a_burst_is_posted_once_after_every_toast_of_it_was_counted():
    shelf, posted, calls = ToastShelf(clock=_Clock()), [], []

    def clear() -> None:
        posted.clear()

    def post(message, **_kw) -> None:
        posted.append(message)

    def later(callback, *args) -> bool:
        calls.append((callback, args))
        return True

    shelf.show(_toast("✘ a: JobFailed", "finished", "warning"), post=post, clear=clear, later=later)
    callback, args = calls.pop()
    callback(*args)
    for mode in ("state", "age", "added"):
        shelf.show(_toast(f"Sorted by {mode}."), post=post, clear=clear, later=later)
    assert len(calls) == 1  # one flush for the burst
    callback, args = calls.pop()
    callback(*args)
    assert posted == ["✘ a: JobFailed", "Sorted by added."]
    shelf.show(_toast("Sorted by state."), post=post, clear=clear, later=later)
    callback, args = calls.pop()
    callback(*args)
    assert posted == ["✘ a: JobFailed", "Sorted by state."]  # cleared, and the live ones posted again
