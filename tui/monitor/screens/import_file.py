"""The import dialog: read job ids from a file (a list, a log, JSON: ids are found in the text)."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from tui.core.formatting import inert
from tui.monitor.screens.add_jobs import AddRequest, parse_ids

MAX_IMPORT_BYTES = 10 * 1024 * 1024


def read_ids_file(path_text: str) -> tuple[str | None, str | None]:
    """(file text, None) or (None, why it cannot be read)."""
    if not path_text.strip():
        return None, "Type the path of a file."
    path = Path(path_text.strip()).expanduser()
    try:
        size = path.stat().st_size
        if not path.is_file():
            return None, f"{inert(str(path), 120)} is not a file."
        if size > MAX_IMPORT_BYTES:
            return None, f"{inert(str(path), 120)} is over {MAX_IMPORT_BYTES // (1024 * 1024)} MB; split it first."
        return path.read_bytes().decode("utf-8", errors="replace"), None
    except FileNotFoundError:
        return None, f"No such file: {inert(str(path), 120)}"
    except OSError as exc:
        return None, f"Cannot read {inert(str(path), 120)}: {exc.strerror or exc}"


class ImportFileScreen(ModalScreen[AddRequest | None]):
    DEFAULT_CSS = """
    ImportFileScreen {
        align: center middle;
        background: $background 60%;
    }
    ImportFileScreen > #dialog {
        width: 90%;
        max-width: 96;
        height: auto;
        border: round $primary;
        background: $surface;
        padding: 0 1;
    }
    ImportFileScreen #import-error {
        color: $error;
        text-style: bold;
        display: none;
    }
    ImportFileScreen #import-error.-shown {
        display: block;
    }
    ImportFileScreen .hint {
        color: $foreground-muted;
    }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="import.cancel")]

    def __init__(self, watched: set[str], *, cursor_blink: bool = True) -> None:
        super().__init__()
        self.watched = set(watched)
        self.cursor_blink = cursor_blink
        self._confirm: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog") as dialog:
            dialog.border_title = "Import job ids from a file"
            field = Input(placeholder="path, e.g. ~/jobs.txt", id="import-path")
            field.cursor_blink = self.cursor_blink
            yield field
            yield Static("", id="import-error")
            yield Static("Any text works: a list, a log, JSON. enter import · esc cancel", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#import-path", Input).focus()

    def on_input_changed(self, _event: Input.Changed) -> None:
        self._confirm = None

    def _fail(self, message: str) -> None:
        error = self.query_one("#import-error", Static)
        error.update(Text(message))
        error.add_class("-shown")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text, problem = read_ids_file(event.value)
        if problem is not None or text is None:
            self._fail(problem or "cannot read the file")
            return
        parsed = parse_ids(text, self.watched)
        if parsed.error and not (parsed.malformed and parsed.new and self._confirm == event.value):
            self._confirm = event.value if parsed.malformed and parsed.new else None
            self._fail(parsed.error)
            return
        note = parsed.note
        if parsed.malformed:
            note = "; ".join(filter(None, [note, f"ignored {len(parsed.malformed)} malformed"]))
        self.dismiss(AddRequest(parsed.new, "", note))

    def action_cancel(self) -> None:
        self.dismiss(None)
