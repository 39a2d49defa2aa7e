"""The label dialog: name a job in words (an empty label clears it)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from tui.core.formatting import inert, short_id


class LabelScreen(ModalScreen[str | None]):
    DEFAULT_CSS = """
    LabelScreen {
        align: center middle;
        background: $background 60%;
    }
    LabelScreen > #dialog {
        width: 90%;
        max-width: 72;
        height: auto;
        border: round $primary;
        background: $surface;
        padding: 0 1;
    }
    LabelScreen .hint {
        color: $foreground-muted;
    }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="label.cancel")]

    def __init__(self, job_id: str, label: str, *, cursor_blink: bool = True) -> None:
        super().__init__()
        self.job_id = job_id
        self.label = label
        self.cursor_blink = cursor_blink

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog") as dialog:
            dialog.border_title = f"Label job {short_id(self.job_id)}"
            field = Input(value=self.label, placeholder="a few words to recognise the job", id="label-input",
                          max_length=200)
            field.cursor_blink = self.cursor_blink
            yield field
            yield Static("enter save · empty clears · esc cancel", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#label-input", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(inert(event.value, 200).strip())

    def action_cancel(self) -> None:
        self.dismiss(None)
