"""The main screen: banner, table, detail pane, filter line, status bar, footer; every key, and the
actions that work on its own widgets (the filter, the dialogs, copying the selected job)."""

from __future__ import annotations

import gc
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Vertical
from textual.screen import Screen
from textual.widgets import Static

from tui.core.config import ALL_COLUMNS
from tui.core.formatting import inert
from tui.monitor.keys import FOOTER_ORDER, KEY_NAMES, KEYS, bound_action, footer_rank
from tui.monitor.screens.add_jobs import AddJobsScreen, AddRequest
from tui.monitor.screens.import_file import ImportFileScreen
from tui.monitor.screens.label import LabelScreen
from tui.monitor.screens.overview import OverviewScreen
from tui.monitor.widgets.detail_pane import DetailPane, reproduce_line
from tui.monitor.widgets.filter_bar import FilterBar
from tui.monitor.widgets.job_table import JobTable
from tui.monitor.widgets.key_footer import KeyFooter
from tui.monitor.widgets.problem_banner import ProblemBanner
from tui.monitor.widgets.status_bar import StatusBar


def _freeze_startup() -> None:
    gc.freeze()
    gc.enable()


class MonitorScreen(Screen):
    # '/' is a priority binding: it moves the focus before the keys typed right after it
    # are dispatched (a normal binding runs too late, and they would be taken as commands).
    BINDINGS = [
        Binding(key.keys, bound_action(key), key.footer, show=key.binding_id in FOOTER_ORDER,
                id=key.binding_id, tooltip=key.help,
                key_display=KEY_NAMES.get(key.keys.split(",")[0]), priority=key.keys == "slash")
        for key in KEYS
    ]

    def __init__(self, columns: list[str] | None = None, *, detail_visible: bool = False) -> None:
        super().__init__()
        self.columns = list(columns or ALL_COLUMNS)
        self.detail_visible = detail_visible
        self.empty_note = ""  # what the table says while it has no row

    def compose(self) -> ComposeResult:
        yield ProblemBanner(id="banner")
        with Container(id="main"):
            with Vertical(id="jobs-pane"):
                yield JobTable(self.columns, id="jobs")
                yield Static(id="empty-note")
            yield DetailPane(id="detail", classes="-shown" if self.detail_visible else "")
        yield FilterBar(id="filter")
        yield StatusBar(id="status")
        yield KeyFooter(footer_rank())

    def on_mount(self) -> None:
        self.query_one(JobTable).focus()
        refresh_view = getattr(self.app, "refresh_view", None)
        if refresh_view is not None:  # the app may have loaded jobs before this screen existed
            refresh_view()
            # an empty table is never laid out with rows, which is what draws the first time:
            # draw once more after this first refresh, so that its note shows at once
            self.call_after_refresh(lambda: refresh_view() if not self.query_one(JobTable).row_count else None)
        # What startup built (the jobs, the widgets, Textual's and our modules) lives as long as the
        # monitor: moved out of the collector's reach, a full collection no longer walks it, and
        # the collections that land in a frame (a 10,000-job watchlist) get cheaper. (`vclm-watch`
        # starts with the collector off: it is turned on here, once that is done.)
        self.call_after_refresh(_freeze_startup)

    def show_empty_note(self, note: str) -> None:
        """Say why the table is empty (no jobs, no match) under its header; '' hides it."""
        if note == self.empty_note:
            return
        self.empty_note = note
        widget = self.query_one("#empty-note", Static)
        widget.update(Text(note))  # the filter text is the user's: never markup
        widget.display = bool(note)
        self.query_one(JobTable).set_class(bool(note), "-empty")

    @property
    def monitor_app(self) -> Any:
        """The App (a VclmWatchApp; not imported here, which would make a cycle)."""
        return self.app

    # -- the filter ----------------------------------------------------------------------------

    def action_filter(self) -> None:
        bar = self.query_one(FilterBar)
        if bar.has_focus:  # '/' typed into the filter itself
            bar.insert_text_at_cursor("/")
            return
        bar.display = True  # inline style: applies at once, unlike a class
        self.add_class("-filtering")  # toasts move up over the filter line
        bar.cursor_blink = self.monitor_app.setup.cursor_blink
        # at once, not via call_later: keys typed right after '/' must land in the filter
        self.set_focus(bar)

    def action_clear_filter(self) -> None:
        bar = self.query_one(FilterBar)
        bar.value = ""
        bar.display = False
        self.remove_class("-filtering")
        self.monitor_app.filter_jobs("")
        self.action_focus_table()

    def show_filter(self, text: str) -> None:
        bar = self.query_one(FilterBar)
        bar.display = True
        self.add_class("-filtering")
        bar.value = text

    def action_focus_table(self) -> None:
        self.query_one(JobTable).focus()

    def on_input_changed(self, event: FilterBar.Changed) -> None:
        if isinstance(event.input, FilterBar):
            self.monitor_app.filter_jobs(event.value)

    def on_input_submitted(self, event: FilterBar.Submitted) -> None:
        if isinstance(event.input, FilterBar):
            self.action_focus_table()

    def on_job_table_selected(self, _event: JobTable.Selected) -> None:
        self.monitor_app.action_toggle_detail()

    # -- dialogs -------------------------------------------------------------------------------

    def action_add_jobs(self) -> None:
        app = self.monitor_app
        app.push_screen(AddJobsScreen(set(app.poller.records), cursor_blink=app.setup.cursor_blink), self._add_requested)

    def action_import_file(self) -> None:
        app = self.monitor_app
        app.push_screen(ImportFileScreen(set(app.poller.records), cursor_blink=app.setup.cursor_blink),
                        self._add_requested)

    def _add_requested(self, request: AddRequest | None) -> None:
        if request is None:
            return
        added = self.monitor_app.add_jobs(request.ids, request.label)
        message = f"Added {added} job{'s' if added != 1 else ''}."
        if request.note:
            message += f" ({request.note})"
        self.app.notify(message, title="Watchlist", markup=False)
        if added:
            self.query_one(JobTable).select_job(request.ids[0])

    def action_label_job(self) -> None:
        app = self.monitor_app
        record = app.need_selection()
        if record is None:
            return

        def done(label: str | None) -> None:
            if label is not None:
                app.set_label(record.job_id, label)

        app.push_screen(LabelScreen(record.job_id, record.label, cursor_blink=app.setup.cursor_blink), done)

    # -- the overview ------------------------------------------------------------------------

    def action_overview(self) -> None:
        app = self.monitor_app
        if app.setup.overview is not None:
            app.push_screen(OverviewScreen(app.setup.overview, lambda: app.palette, app.poller,
                                           ticking=app.setup.ticking))

    # -- downloads ---------------------------------------------------------------------------

    def action_download(self, which: str) -> None:
        """`D` (which='selected') and the palette's 'all' and 'filtered': the download controller
        queues them (tui.monitor.downloads); the screen only picks the jobs."""
        app = self.monitor_app
        if which == "selected":
            record = app.need_selection()
            if record is not None:
                app.downloads.download(record)
            return
        records = app.poller.records
        if which == "filtered":
            ids = app.view.visible_order(app.clock.time())
            app.downloads.download_many([records[i] for i in ids if i in records], "matching the filter")
        else:
            app.downloads.download_many(list(records.values()))

    # -- copying -------------------------------------------------------------------------------

    def action_copy(self, what: str) -> None:
        app = self.monitor_app
        record = app.need_selection()
        if record is None:
            return
        if what == "job_id":
            text, name = record.job_id, "JobId"
        elif what == "request_id":
            text = (record.last_error.request_id if record.last_error and record.last_error.request_id
                    else record.last_request_id) or ""
            name = "RequestId"
        elif what == "url":
            text, name = record.result_video_url, "result URL"
            problem = record.url_problem
            if problem is not None:
                app.notify(f"Not copied: the result URL is suspect ({problem}); see the detail pane.",
                           severity="error", markup=False)
                return
        else:
            text, name = reproduce_line(record.job_id, app.settings.region, app.setup.endpoint_host()), "tccli command"
        if not text:
            app.notify(f"This job has no {name} yet.", severity="warning")
            return
        app.copy_to_clipboard(text)
        app.notify(Text(inert(text, 70)).plain, title=f"Copied {name}", timeout=3, markup=False)
