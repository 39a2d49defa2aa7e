"""How a job's state is shown: which display state a record is in, its symbol and its colour."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.style import Style
from rich.text import Text
from textual.color import Color, ColorParseError

from tui.api.models import JOB_FAILED, JOB_INIT, JOB_MODERATION_FAILED, JOB_RUNNING, JOB_SUCCESS
from tui.core.formatting import inert
from tui.core.jobstate import JobRecord
from tui.monitor.themes import DEFAULT_SYMBOLS

CODE_KEYS = {
    JOB_INIT: "init",
    JOB_RUNNING: "running",
    JOB_SUCCESS: "success",
    JOB_FAILED: "failed",
    JOB_MODERATION_FAILED: "moderation",
}

# Display states in the order of the "state" sort: what needs attention first.
STATE_ORDER = ("error", "failed", "moderation", "unknown", "stale", "running", "init", "pending", "success")
STATE_NAMES = {
    "init": "initialising", "running": "running", "success": "succeeded", "failed": "failed",
    "moderation": "rejected by moderation", "unknown": "unknown status", "error": "query failing",
    "stale": "stale", "pending": "not answered yet",
}


def display_state(record: JobRecord, now: float, stale_after: float | None) -> str:
    """The one state a row shows: an error beats staleness, which beats the last known state.

    A finished job does not go stale: its state is final, so only unfinished ones do.
    """
    if record.failing:
        return "error"
    if not record.terminal:
        if record.stale:
            return "stale"
        if stale_after is not None and record.last_polled is not None and now - record.last_polled > stale_after:
            return "stale"
    if record.status_code is None:
        return "pending"
    return CODE_KEYS.get(record.status_code, "unknown")


def stale_after(min_interval: float, active_jobs: int, rate: float) -> float:
    """How long an unfinished job may go unrefreshed before it is shown stale."""
    return max(3 * min_interval, 3 * active_jobs / max(rate, 0.1))


@dataclass
class StatePalette:
    """Symbols and colours of the theme in force."""

    symbols: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_SYMBOLS))
    styles: dict[str, Style] = field(default_factory=dict)

    @classmethod
    def from_variables(cls, variables: dict[str, str], symbols: dict[str, str] | None) -> "StatePalette":
        background = _parse(variables.get("background", ""))
        styles: dict[str, Style] = {}
        for key in DEFAULT_SYMBOLS:
            color = _parse(variables.get(f"state-{key}", ""))
            if color is None:
                styles[key] = Style()
                continue
            if color.a < 1 and background is not None:
                color = background + color
            styles[key] = Style(color=color.rich_color)
        return cls(symbols={**DEFAULT_SYMBOLS, **(symbols or {})}, styles=styles)

    def symbol(self, key: str) -> str:
        return self.symbols.get(key, "?")

    def style(self, key: str) -> Style:
        return self.styles.get(key, Style())

    def state_text(self, record: JobRecord, key: str, width: int | None = None) -> Text:
        """Symbol and StatusCode (the last known one under an error or staleness mark)."""
        code = inert(record.status_code, 80) if record.status_code else ("no answer" if key == "error" else "pending")
        text = Text()
        text.append(f"{self.symbol(key)} ", self.style(key))
        text.append(code, self.style(key) + (Style(bold=True) if key in ("error", "failed", "moderation") else Style()))
        if width is not None:
            text.truncate(width, overflow="ellipsis")
        return text


def _parse(value: str) -> Color | None:
    if not value:
        return None
    try:
        return Color.parse(value)
    except ColorParseError:
        return None
