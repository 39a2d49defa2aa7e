"""The words of the monitor's toasts and banners about jobs and the service (pure: no Textual)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tui.api.models import FAILED_STATUS_CODES
from tui.core.events import HealthChanged
from tui.core.formatting import inert, short_id
from tui.core.hints import hint_for
from tui.core.jobstate import JobRecord
from tui.core.states import CODE_KEYS


def finished_notice(finished: list[tuple[JobRecord, str]], symbol) -> tuple[str, str, str]:
    """(title, message, severity) of one toast for jobs that finished together.

    `symbol(state)` gives the theme's symbol of a display state.
    """
    if len(finished) == 1:
        record, code = finished[0]
        name = inert(record.label, 40) or short_id(record.job_id)
        return ("Job finished", f"{symbol(CODE_KEYS.get(code, 'unknown'))} {name}: {code}",
                "warning" if code in FAILED_STATUS_CODES else "information")
    counts: dict[str, int] = {}
    for _record, code in finished:
        counts[code] = counts.get(code, 0) + 1
    parts = ", ".join(f"{n} {symbol(CODE_KEYS.get(c, 'unknown'))} {c}" for c, n in sorted(counts.items()))
    failed = any(c in FAILED_STATUS_CODES for c in counts)
    return "Jobs finished", f"{len(finished)} jobs finished: {parts}", "warning" if failed else "information"


def health_banner(event: HealthChanged) -> tuple[str, str]:
    """(title, detail) of the banner for a problem that affects every job."""
    code = event.error.code if event.error is not None else ""
    titles = {"auth": "Authentication problem", "network": "Network problem", "config": "Cannot poll"}
    detail = inert(event.detail, 300)
    if code:
        detail += f" — {hint_for(code)}"
    detail += ". Polling is held to one probe at a time until it clears."
    return titles.get(event.problem or "", "Problem"), detail


def quit_hint(active_bindings: Mapping[str, Any]) -> str:
    """What ctrl+c says (it copies in a text field and does not quit): the key that quits."""
    keys = [key for key, active in active_bindings.items() if active.binding.action in ("quit", "app.quit")]
    return f"Press {keys[0]} to quit." if keys else "Press ctrl+q to quit."
