"""Looking at the watchlist: filter, sort, hide finished, detail pane, copy, themes, help; the cursor never jumps."""

from __future__ import annotations

import pytest
from tuikit import IDS, cell_text, ready, sample_records, toasts, until, view_app, visible_ids

from tui.api.endpoint import resolve_endpoint
from tui.core.settings import default_settings
from tui.monitor.launch import create_app
from tui.monitor.screens.help import HelpScreen
from tui.monitor.themes import shipped_themes_dir
from tui.monitor.widgets.detail_pane import DetailPane
from tui.monitor.widgets.status_bar import StatusBar

pytestmark = pytest.mark.anyio
SIZE = (120, 30)
TERMINAL = {IDS["success"], IDS["failed"], IDS["moderation"]}


async def test_filter_narrows_to_matching_id_label_or_state_and_escape_clears(clock):
    app = view_app(clock)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        everything = visible_ids(app)
        await pilot.press("slash", *"fail")  # failed, rejected by moderation, and the failing query
        assert set(visible_ids(app)) == {IDS["failed"], IDS["moderation"], IDS["error"]}
        assert app.screen.query_one(StatusBar).info.filter_text == "fail"
        await pilot.press("enter")  # keeps the filter, back to the table
        assert app.focused is app.table and len(visible_ids(app)) == 3
        await pilot.press("escape")
        assert visible_ids(app) == everything
        app.set_filter("lantern")
        assert visible_ids(app) == [IDS["init"]]
        app.set_filter(IDS["stale"][:6])
        assert visible_ids(app) == [IDS["stale"]]
        app.set_filter("stale running")  # every word must match
        assert visible_ids(app) == [IDS["stale"]]


async def test_filter_keeps_the_cursor_on_the_selected_job(clock):
    app = view_app(clock)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        app.table.select_job(IDS["moderation"])
        app.set_filter("moderation")
        assert app.selected_job_id == IDS["moderation"]
        app.set_filter("")
        assert app.selected_job_id == IDS["moderation"]


async def test_sort_cycles_through_state_age_and_last_change(clock):
    app = view_app(clock)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        added = visible_ids(app)
        app.table.select_job(IDS["success"])
        await pilot.press("s")
        assert app.view.sort_mode == "state"
        by_state = visible_ids(app)
        assert by_state[:4] == [IDS["error"], IDS["failed"], IDS["moderation"], IDS["unknown"]]
        assert by_state[-1] == IDS["success"]
        assert app.selected_job_id == IDS["success"]  # the cursor follows its job
        await pilot.press("s")
        assert app.view.sort_mode == "age"
        await pilot.press("s")
        assert app.view.sort_mode == "last change"
        assert visible_ids(app)[0] == IDS["markup"]  # changed 10 s ago: the most recent
        await pilot.press("s")
        assert app.view.sort_mode == "added" and visible_ids(app) == added


async def test_hide_finished_hides_terminal_jobs_and_shows_them_again(clock):
    app = view_app(clock)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("h")
        assert not TERMINAL & set(visible_ids(app))
        assert len(visible_ids(app)) == 7
        assert "finished hidden" in str(app.screen.query_one(StatusBar).render())
        await pilot.press("h")
        assert TERMINAL <= set(visible_ids(app))


async def test_detail_pane_toggles_and_follows_the_cursor(clock):
    app = view_app(clock)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        pane = app.screen.query_one(DetailPane)
        assert not pane.display or not pane.has_class("-shown")
        await pilot.press("enter")
        assert pane.has_class("-shown") and pane.job_id == IDS["running"]
        await pilot.press("down")
        await pilot.pause()
        assert pane.job_id == IDS["init"]
        body = pane.text
        assert IDS["init"] in body and "tccli vclm DescribeVideoStylizationJob --region ap-guangzhou" in body
        await pilot.press("enter")
        assert not pane.has_class("-shown")


async def test_detail_pane_shows_the_hint_for_the_last_error(clock):
    app = view_app(clock)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        app.table.select_job(IDS["error"])
        await pilot.press("enter")
        body = app.screen.query_one(DetailPane).text
        assert "FailedOperation.TaskNotExist" in body
        assert "wrong region (--region)" in body
        assert "6c2f4a1e-8b3d-4c5e-9f70-000000000099" in body


@pytest.mark.parametrize(("key", "expected", "what"), [
    ("y", IDS["success"], "JobId"),
    ("Y", "6c2f4a1e-8b3d-4c5e-9f70-000000000007", "RequestId"),
    ("c", "https://vclm-result.example.invalid/a1b2c3d4/result.mp4?sign=abc123&t=1764000000", "result URL"),
    ("x", f"tccli vclm DescribeVideoStylizationJob --region ap-guangzhou --JobId {IDS['success']}", "tccli command"),
])
async def test_copy_keys_put_text_on_the_clipboard_with_a_toast(clock, key, expected, what):
    app = view_app(clock)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        app.table.select_job(IDS["success"])
        await pilot.press(key)
        assert app.clipboard == expected
        assert any(t.startswith(f"Copied {what}") for t in toasts(app))


@pytest.mark.parametrize(("endpoint", "suffix"), [
    (None, ""),
    ("https://vclm.ap-beijing.tencentcloudapi.com", " --endpoint vclm.ap-beijing.tencentcloudapi.com"),
    # tccli takes a bare host as https: the simulator's plain http must keep its scheme
    ("http://127.0.0.1:38555", " --endpoint http://127.0.0.1:38555"),
])
async def test_the_copied_tccli_line_names_the_endpoint_as_tccli_reaches_it(clock, endpoint, suffix):
    settings = default_settings()
    settings.endpoint = resolve_endpoint(endpoint)
    app = create_app(settings, clock=clock, store=None, records=sample_records(clock), theme_dirs=[shipped_themes_dir()],
                     cursor_blink=False, credentials=None)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        app.table.select_job(IDS["success"])
        await pilot.press("x")
        await pilot.press("enter")
        assert app.clipboard == f"tccli vclm DescribeVideoStylizationJob --region ap-guangzhou --JobId {IDS['success']}{suffix}"
        assert app.clipboard in app.screen.query_one(DetailPane).text


async def test_copy_request_id_prefers_the_failed_query_s_request_id(clock):
    app = view_app(clock)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        app.table.select_job(IDS["error"])
        await pilot.press("Y")
        assert app.clipboard == "6c2f4a1e-8b3d-4c5e-9f70-000000000099"


async def test_copy_without_a_url_warns_and_copies_nothing(clock):
    app = view_app(clock)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        app.table.select_job(IDS["running"])
        await pilot.press("c")
        assert app.clipboard == ""
        assert any("no result URL" in t for t in toasts(app))


async def test_theme_switch_from_the_command_palette_recolours_the_states(clock):
    app = view_app(clock)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        dark_style = app.table.get_cell(IDS["running"], "state").spans[0].style
        await pilot.press("ctrl+p", *"vclm-light")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert app.theme == "vclm-light"
        light_style = app.table.get_cell(IDS["running"], "state").spans[0].style
        assert light_style != dark_style
        assert cell_text(app, IDS["running"], "state") == "● JobRunning"


async def test_theme_key_opens_the_theme_picker(clock):
    app = view_app(clock)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("t", *"okabe")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert app.theme == "vclm-okabe-ito"


async def test_palette_offers_the_monitor_actions(clock):
    app = view_app(clock)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("ctrl+p", *"hide finished")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert app.view.hide_finished


async def test_help_lists_every_key(clock):
    from tui.monitor.keys import table_help_rows
    from tui.monitor.screens.monitor import KEYS

    app = view_app(clock)
    async with app.run_test(size=(100, 60)) as pilot:
        await ready(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = "\n".join(str(line) for line in app.screen.query_one("#help-body").render_lines(
            app.screen.query_one("#help-body").region.reset_offset))
        for key in KEYS:
            assert key.help[:25] in text
        for keys, description in table_help_rows():
            assert f"{keys}" in text and description in text
        assert "↓, j" in text and "home, g" in text and "end, G" in text
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


def test_every_binding_has_an_id():
    from tui.monitor.app import VclmWatchApp
    from tui.monitor.screens.add_jobs import AddJobsScreen
    from tui.monitor.screens.help import HelpScreen
    from tui.monitor.screens.import_file import ImportFileScreen
    from tui.monitor.screens.label import LabelScreen
    from tui.monitor.screens.monitor import MonitorScreen
    from tui.monitor.widgets.filter_bar import FilterBar
    from tui.monitor.widgets.job_table import JobTable

    for owner in (VclmWatchApp, MonitorScreen, JobTable, FilterBar, AddJobsScreen, LabelScreen, ImportFileScreen,
                  HelpScreen):
        for binding in owner.BINDINGS:
            assert binding.id, (owner, binding)


async def test_markup_and_escape_sequences_in_labels_are_inert(clock):
    app = view_app(clock)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        cell = app.table.get_cell(IDS["markup"], "label")
        assert cell.plain.startswith("[red]not red[/red]")
        assert "\x1b" not in cell.plain
        assert not cell.spans  # no style came from the label's text


async def test_works_in_80x24_without_a_mouse(clock):
    app = view_app(clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        assert [key for key, _ in app.table.layout_plan][:3] == ["job", "label", "state"]
        assert sum(width + 2 for _, width in app.table.layout_plan) <= 79
        await pilot.press("down", "down", "enter")
        await pilot.pause()
        await pilot.press("tab")
        assert isinstance(app.focused, DetailPane)  # tab reaches the pane to scroll it
        await pilot.press("shift+tab")
        assert app.focused is app.table


async def test_rows_are_rendered_when_scrolled_into_view(clock):
    from tui.core.jobstate import JobRecord

    now = clock.time()
    records = [JobRecord(job_id=f"{n:032x}", label=f"job {n}", added_at=now, status_code="JobRunning",
                         status_msg="处理中", state_since=now - 5, last_polled=now) for n in range(300)]
    app = view_app(clock, records)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        table = app.table
        assert table.row_count == 300
        assert table.rendered_rows() < 40  # only what is on screen was rendered
        assert not table.is_rendered(records[-1].job_id)
        await pilot.press("end")
        await pilot.pause()
        assert cell_text(app, records[-1].job_id, "state") == "● JobRunning"
        assert cell_text(app, records[-1].job_id, "label") == "job 299"


async def test_ctrl_c_says_in_plain_words_which_key_quits(clock):
    app = view_app(clock)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("ctrl+c")
        await pilot.pause()
        assert app.is_running
        # the toast is plain text (ours never parse markup), so it must hold no markup either
        assert toasts(app)[-1] == "Do you want to quit?: Press q to quit."


async def test_j_k_g_and_G_move_through_the_jobs_like_the_arrows_home_and_end(clock):
    app = view_app(clock)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        order = visible_ids(app)
        assert app.selected_job_id == order[0]
        await pilot.press("j", "j")
        assert app.selected_job_id == order[2]
        await pilot.press("k")
        assert app.selected_job_id == order[1]
        await pilot.press("G")
        assert app.selected_job_id == order[-1]
        await pilot.press("g")
        assert app.selected_job_id == order[0]
        await pilot.press("down", "end", "up", "home")
        assert app.selected_job_id == order[0]


@pytest.mark.parametrize(("size", "shown"), [((80, 24), 8), ((200, 50), 32)])
async def test_the_job_id_is_shown_whole_on_a_wide_terminal(clock, size, shown):
    app = view_app(clock)
    async with app.run_test(size=size) as pilot:
        await ready(pilot)
        assert app.detail_visible == (size[0] >= 140)  # at 200 columns beside the detail pane
        assert cell_text(app, IDS["running"], "job") == IDS["running"][:shown]


def empty_note(app) -> str:
    note = app.screen.query_one("#empty-note")
    return str(note.render()) if note.display else ""


async def test_an_empty_watchlist_says_how_to_add_a_job(clock):
    app = view_app(clock, records=[])
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: empty_note(app), "the empty table's note")
        assert empty_note(app) == "No jobs yet — press a to add, or `vclm-watch add ID`"
        app.add_jobs([IDS["running"]])
        await pilot.pause()
        assert empty_note(app) == "" and visible_ids(app) == [IDS["running"]]


async def test_a_filter_that_matches_nothing_says_so_and_how_to_clear_it(clock):
    app = view_app(clock)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert empty_note(app) == ""
        await pilot.press("slash", *"[b]xyz")
        assert visible_ids(app) == []
        assert empty_note(app) == "No job matches '[b]xyz' — esc clears the filter"  # shown as typed
        await pilot.press("escape")
        assert empty_note(app) == "" and len(visible_ids(app)) == 10


async def test_the_theme_picked_with_t_is_used_at_the_next_start_unless_one_is_given(clock):
    from tui.core import paths
    from tui.core.config import Config
    from tui.core.settings import default_settings
    from tui.monitor.launch import create_app
    from tui.monitor.themes import shipped_themes_dir

    first = view_app(clock)
    async with first.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("t", *"okabe")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert first.theme == "vclm-okabe-ito"
    assert not paths.config_path().exists()  # remembered apart: the user's config is never written
    assert view_app(clock).theme == "vclm-okabe-ito"
    # the config file's theme is a default: the choice made since beats it
    configured = default_settings(config=Config(theme="vclm-high-contrast"))
    app = create_app(configured, clock=clock, store=None, theme_dirs=[shipped_themes_dir()])
    assert app.theme == "vclm-okabe-ito"
    # an explicit --theme beats both, and is not remembered unless picked
    assert view_app(clock, theme="vclm-light").theme == "vclm-light"
    assert view_app(clock).theme == "vclm-okabe-ito"


@pytest.mark.parametrize(("key", "result"), [
    ("failed", "none: the job failed, so it has no result video"),
    ("moderation", "none: the job failed, so it has no result video"),
    ("running", "no result URL yet (it comes with JobSuccess)"),
])
async def test_detail_pane_says_a_failed_job_will_have_no_result_url(clock, key, result):
    app = view_app(clock)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        app.table.select_job(IDS[key])
        await pilot.press("enter")
        body = app.screen.query_one(DetailPane).text
        assert f"Result    {result}" in body.splitlines()


def test_long_detail_lines_wrap_under_their_value_not_to_column_1(clock):
    import io

    from rich.console import Console

    from tui.core.jobstate import LastError
    from tui.monitor.themes import load_themes, shipped_themes_dir
    from tui.monitor.widgets.detail_pane import LABEL_WIDTH, DetailContext, render_detail
    from tui.monitor.widgets.state_style import StatePalette

    theme = load_themes([shipped_themes_dir()]).themes["vclm-dark"]
    palette = StatePalette.from_variables(dict(theme.theme.variables), theme.symbols)
    record = next(r for r in sample_records(clock) if r.job_id == IDS["error"])
    record.last_error = LastError("InternalError", "word " * 30, None, clock.time())
    ctx = DetailContext(now=clock.time(), palette=palette, state="error", region="ap-guangzhou",
                        endpoint_host=None, paused=False, polling=True)
    out = io.StringIO()
    Console(file=out, width=40, color_system=None).print(render_detail(record, ctx))
    lines = out.getvalue().splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith("Message"))
    wrapped = lines[start + 1:start + 4]
    assert all(line.startswith(" " * LABEL_WIDTH + "word") for line in wrapped), wrapped
    reproduce = lines[lines.index("Reproduce") + 1:lines.index("Reproduce") + 3]
    assert reproduce[0].startswith("  tccli vclm") and reproduce[1].startswith("  ") and reproduce[1].strip()
