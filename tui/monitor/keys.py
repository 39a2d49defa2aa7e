"""Every key of the main screen, once: the bindings, the footer, the help screen and the
command palette are all built from this table."""

from __future__ import annotations

from typing import NamedTuple


class Key(NamedTuple):
    keys: str  # Textual key names, comma-separated
    action: str  # the App action the key runs
    footer: str  # the footer's word for it
    help: str  # what the help screen and the palette say it does
    in_footer: bool  # no longer read: FOOTER_ORDER says which keys the footer shows, and in which order of need
    binding_id: str
    command: str = ""  # its name in the command palette ("" when the palette has no entry)
    on_screen: bool = False  # the main screen runs it (it works on the screen's widgets), not the App


KEYS: tuple[Key, ...] = (
    Key("a", "add_jobs", "Add", "add job ids: one, many, or pasted log text", True, "monitor.add", "Add jobs", on_screen=True),
    Key("d,delete", "remove_job", "Remove", "remove the selected job (u undoes)", True, "monitor.remove",
        "Remove selected job"),
    Key("u", "undo", "Undo", "undo the last removal", False, "monitor.undo", "Undo remove"),
    Key("l", "label_job", "Label", "label the selected job", False, "monitor.label", "Label selected job", on_screen=True),
    Key("i", "import_file", "Import", "import job ids from a file", False, "monitor.import", "Import ids from a file", on_screen=True),
    Key("slash", "filter", "Filter", "filter by id, label or state", True, "monitor.filter", "Filter", on_screen=True),
    Key("escape", "clear_filter", "Clear filter", "clear the filter", False, "monitor.clear_filter", "Clear filter", on_screen=True),
    Key("s", "cycle_sort", "Sort", "sort: added → state → age → last change", False, "monitor.sort"),
    Key("h", "hide_finished", "Hide done", "hide or show finished jobs", False, "monitor.hide_finished",
        "Hide or show finished jobs"),
    Key("p", "toggle_pause", "Pause", "pause or resume polling", True, "monitor.pause", "Pause or resume polling"),
    Key("r", "refresh_selected", "Refresh", "refresh the selected job now (a finished one gets a fresh URL)", True,
        "monitor.refresh", "Refresh selected job"),
    Key("R", "refresh_all", "Refresh all", "refresh every unfinished, failing or stale job now", False,
        "monitor.refresh_all", "Refresh all jobs"),
    Key("enter", "toggle_detail", "Details", "show or hide the detail pane (it follows the cursor)", True,
        "monitor.detail", "Toggle detail pane"),
    Key("y", "copy('job_id')", "Copy id", "copy the JobId to the clipboard", False, "monitor.copy_job_id", "Copy JobId", on_screen=True),
    Key("Y", "copy('request_id')", "Copy RequestId", "copy the last RequestId", False, "monitor.copy_request_id",
        "Copy RequestId", on_screen=True),
    Key("c", "copy('url')", "Copy URL", "copy the result video URL", False, "monitor.copy_url", "Copy result URL", on_screen=True),
    Key("D", "download('selected')", "Download", "download the selected finished job's video", False,
        "monitor.download", "Download selected job", on_screen=True),
    Key("x", "copy('reproduce')", "Copy tccli", "copy the tccli line that reproduces the query", False,
        "monitor.copy_reproduce", "Copy tccli command", on_screen=True),
    Key("o", "overview", "Overview", "overview: rates, finishes, errors, time to finish",
        False, "monitor.overview", "Overview", on_screen=True),
    Key("t", "change_theme", "Theme", "choose a theme", False, "monitor.theme"),
    Key("e", "export_screen", "Export", "save the screen as SVG and text files", False,
        "monitor.export", "Save the screen as SVG and text"),
    Key("question_mark", "help", "Help", "this help", True, "monitor.help", "Help"),
    Key("q", "quit", "Quit", "save the watchlist and quit", True, "monitor.quit"),
)

# Palette entries with no key of their own: (name, help, the main screen's action).
PALETTE_ONLY: tuple[tuple[str, str, str], ...] = (
    ("Download all finished jobs not yet saved", "save every finished job's video that is not saved yet",
     "download('all')"),
    ("Download finished jobs matching the filter", "save the videos of the finished jobs the filter shows",
     "download('filtered')"),
)

# The footer shows as many keys as fit the width, the most useful first (binding ids); every key
# is also in the help (?) and the command palette (ctrl+p).
FOOTER_ORDER = (
    "monitor.help", "monitor.quit", "monitor.add", "monitor.filter", "monitor.sort", "monitor.remove", "monitor.undo",
    "monitor.label", "monitor.hide_finished", "monitor.copy_job_id", "monitor.refresh", "monitor.pause",
    "monitor.detail", "monitor.refresh_all", "monitor.copy_url", "monitor.copy_reproduce", "monitor.copy_request_id",
    "monitor.import", "monitor.download", "monitor.theme",
)

KEY_NAMES = {"slash": "/", "question_mark": "?", "delete": "del", "escape": "esc"}


def shown_keys(key: Key) -> str:
    """The keys as a person reads them: '/', 'd, del'."""
    return ", ".join(KEY_NAMES.get(k, k) for k in key.keys.split(","))


def key_for(action: str) -> str:
    """The first key that runs `action`, as shown ('' when none does)."""
    for key in KEYS:
        if key.action == action:
            return KEY_NAMES.get(key.keys.split(",")[0], key.keys.split(",")[0])
    return ""


def help_rows() -> list[tuple[str, str]]:
    return [(shown_keys(key), key.help) for key in KEYS]


def bound_action(key: Key) -> str:
    """The action as the main screen binds it: its own, or the App's."""
    return key.action if key.on_screen else f"app.{key.action}"


def footer_rank() -> dict[str, int]:
    """Bound action -> its place in FOOTER_ORDER (0 shows first)."""
    actions = {key.binding_id: bound_action(key) for key in KEYS}
    return {actions[binding_id]: n for n, binding_id in enumerate(FOOTER_ORDER) if binding_id in actions}


# Moving through the job table: its bindings, and the help screen's "In the table" rows, come
# from here. vi/less keys sit beside the arrows.
TABLE_KEYS: tuple[Key, ...] = (
    Key("down,j", "cursor_down", "Down", "next job", False, "jobs.down"),
    Key("up,k", "cursor_up", "Up", "previous job", False, "jobs.up"),
    Key("home,g", "scroll_top", "First job", "first job", False, "jobs.first"),
    Key("end,G", "scroll_bottom", "Last job", "last job", False, "jobs.last"),
    Key("pageup", "page_up", "Page up", "a screen up", False, "jobs.page_up"),
    Key("pagedown", "page_down", "Page down", "a screen down", False, "jobs.page_down"),
)


_ARROWS = {"down": "↓", "up": "↑", "pageup": "pgup", "pagedown": "pgdn"}


def table_help_rows() -> list[tuple[str, str]]:
    return [(", ".join(_ARROWS.get(k, k) for k in key.keys.split(",")), key.help) for key in TABLE_KEYS]
