"""The add dialog: one id, many, or free text pasted from logs; ids are extracted and checked."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Input, Static, TextArea

from tui.core.formatting import inert
from tui.core.jobids import extract_job_ids

# A token that was probably meant as an id though the extractor saw none in it: a long
# run of letters and digits (e.g. a 32-character id with a typo'd 'g' in it).
_TYPO_ID = re.compile(r"^(?=.*\d)[0-9A-Za-z]{16,64}$")
SHOWN_BAD = 3


@dataclass
class ParsedIds:
    new: list[str] = field(default_factory=list)  # to add, in order
    already: list[str] = field(default_factory=list)  # watched already: skipped
    repeated: list[str] = field(default_factory=list)  # given more than once
    malformed: list[str] = field(default_factory=list)
    error: str | None = None  # when set, nothing is added without a second, explicit confirm

    @property
    def note(self) -> str:
        """What was skipped, for the confirmation toast."""
        parts = []
        if self.already:
            parts.append(f"skipped {len(self.already)} already watched")
        if self.repeated:
            parts.append(f"{len(self.repeated)} repeated in the text")
        return "; ".join(parts)


def parse_ids(text: str, watched: set[str] | frozenset[str] = frozenset()) -> ParsedIds:
    """Find job ids in what the user typed, pasted or imported, and say what is wrong with it."""
    result = ParsedIds()
    if not text.strip():
        result.error = "Type or paste at least one job id (32 hex characters)."
        return result
    strict = extract_job_ids(text, strict=True)
    if strict.malformed:
        loose = extract_job_ids(text)
        ids, repeated = loose.ids, loose.duplicates
        malformed = list(loose.malformed)
        for token in strict.malformed:
            cleaned = token.strip("\"'()[]{}<>,.;:=")
            if _TYPO_ID.match(cleaned) and cleaned.lower() not in ids and cleaned not in malformed \
                    and not any(cleaned.lower() in i for i in ids):
                malformed.append(cleaned)
    else:
        ids, repeated, malformed = strict.ids, strict.duplicates, []
    result.repeated = list(dict.fromkeys(repeated))
    result.malformed = malformed
    for job_id in ids:
        (result.already if job_id in watched else result.new).append(job_id)
    if malformed:
        shown = ", ".join(f"{inert(m, 40)!r} ({len(m)} characters)" for m in malformed[:SHOWN_BAD])
        more = f" and {len(malformed) - SHOWN_BAD} more" if len(malformed) > SHOWN_BAD else ""
        message = f"Not valid job ids (32 hex characters expected): {shown}{more}."
        if result.new:
            message += f" Fix them, or press enter again to add the {len(result.new)} valid id(s) only."
        else:
            message += " Nothing was added."
        result.error = message
    elif not ids:
        result.error = "No job id found in the text (a job id is 32 hex characters). Nothing was added."
    elif not result.new:
        result.error = f"{'That id is' if len(ids) == 1 else f'All {len(ids)} ids are'} already watched. Nothing to add."
    return result


@dataclass
class AddRequest:
    ids: list[str]
    label: str
    note: str


class IdsArea(TextArea):
    """A text area where enter submits (pasted text keeps its line breaks)."""

    class Submitted(Message):
        pass

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            event.prevent_default()
            event.stop()
            self.post_message(self.Submitted())
            return
        await super()._on_key(event)


class AddJobsScreen(ModalScreen[AddRequest | None]):
    DEFAULT_CSS = """
    AddJobsScreen {
        align: center middle;
        background: $background 60%;
    }
    AddJobsScreen > #dialog {
        width: 90%;
        max-width: 96;
        height: auto;
        max-height: 90%;
        border: round $primary;
        background: $surface;
        padding: 0 1;
    }
    AddJobsScreen #add-ids {
        height: 7;
    }
    AddJobsScreen #add-error {
        color: $error;
        text-style: bold;
        height: auto;
        display: none;
    }
    AddJobsScreen #add-error.-shown {
        display: block;
    }
    AddJobsScreen .hint {
        color: $foreground-muted;
    }
    """
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="add.cancel"),
        Binding("ctrl+s", "submit", "Add", id="add.submit"),
    ]

    def __init__(self, watched: set[str], *, cursor_blink: bool = True) -> None:
        super().__init__()
        self.watched = set(watched)
        self.cursor_blink = cursor_blink
        self._confirm_text: str | None = None  # text whose malformed tokens the user has seen

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog") as dialog:
            dialog.border_title = "Add jobs"
            yield Static("Paste one job id, many, or lines from a log: the ids are found in the text.", classes="hint")
            area = IdsArea(id="add-ids", soft_wrap=True, show_line_numbers=False)
            area.cursor_blink = self.cursor_blink
            yield area
            yield Static("", id="add-error")
            label = Input(placeholder="label for the new jobs (optional)", id="add-label", max_length=200)
            label.cursor_blink = self.cursor_blink
            yield label
            yield Static("enter add · tab next field · esc cancel", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#add-ids", IdsArea).focus()

    def on_ids_area_submitted(self, _message: IdsArea.Submitted) -> None:
        self.action_submit()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_submit()

    def on_text_area_changed(self, _event: TextArea.Changed) -> None:
        self._confirm_text = None

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_submit(self) -> None:
        text = self.query_one("#add-ids", IdsArea).text
        parsed = parse_ids(text, self.watched)
        error = self.query_one("#add-error", Static)
        if parsed.error and not (parsed.malformed and parsed.new and self._confirm_text == text):
            error.update(Text(parsed.error))
            error.add_class("-shown")
            self._confirm_text = text if parsed.malformed and parsed.new else None
            return
        label = inert(self.query_one("#add-label", Input).value, 200).strip()
        note = parsed.note
        if parsed.malformed:
            note = "; ".join(filter(None, [note, f"ignored {len(parsed.malformed)} malformed"]))
        self.dismiss(AddRequest(parsed.new, label, note))
