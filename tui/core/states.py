"""A job's display state: the one place that decides which state a row shows, when an
unfinished job counts as stale, the order of the sort modes, and each state's default symbol."""

from __future__ import annotations

from collections.abc import Callable

from tui.api.models import (
    JOB_FAILED,
    JOB_INIT,
    JOB_MODERATION_FAILED,
    JOB_RUNNING,
    JOB_SUCCESS,
    TERMINAL_STATUS_CODES,
)
from tui.core.jobstate import JobRecord

# StatusCode -> display state (theme variables are "state-<state>").
CODE_KEYS = {
    JOB_INIT: "init",
    JOB_RUNNING: "running",
    JOB_SUCCESS: "success",
    JOB_FAILED: "failed",
    JOB_MODERATION_FAILED: "moderation",
}

# The display states every theme must colour, and the one it may.
STATE_KEYS = ("init", "running", "success", "failed", "moderation", "unknown", "error", "stale")
OPTIONAL_STATE_KEYS = ("pending",)

# Symbols carry the state where colour cannot (NO_COLOR, colour blindness); themes may change them.
DEFAULT_SYMBOLS: dict[str, str] = {
    "init": "◌", "running": "●", "success": "✔", "failed": "✘", "moderation": "⊘",
    "unknown": "?", "error": "!", "stale": "~", "pending": "…",
}

# Display states in the order of the "state" sort: what needs attention first.
STATE_ORDER = ("error", "failed", "moderation", "unknown", "stale", "running", "init", "pending", "success")
STATE_NAMES = {
    "init": "initialising", "running": "running", "success": "succeeded", "failed": "failed",
    "moderation": "rejected by moderation", "unknown": "unknown status", "error": "query failing",
    "stale": "stale", "pending": "not answered yet",
}

SORT_MODES = ("added", "state", "age", "last change")
_STATE_RANK = {state: n for n, state in enumerate(STATE_ORDER)}


def display_state(record: JobRecord, now: float, stale_after: float | None) -> str:
    """The one state a row shows: an error beats staleness, which beats the last known state.

    A finished job does not go stale: its state is final, so only unfinished ones do.
    """
    # (attributes rather than the record's properties: the monitor asks this of every job at once)
    if record.last_error is not None:
        return "error"
    code = record.status_code
    if code not in TERMINAL_STATUS_CODES:
        if record.stale:
            return "stale"
        polled = record.last_polled
        if stale_after is not None and polled is not None and now - polled > stale_after:
            return "stale"
    if code is None:
        return "pending"
    return CODE_KEYS.get(code, "unknown")


def stale_after(min_interval: float, active_jobs: int, rate: float) -> float:
    """How long an unfinished job may go unrefreshed before it is shown stale."""
    return max(3 * min_interval, 3 * active_jobs / max(rate, 0.1))


def sort_key(mode: str, added: Callable[[str], int]) -> Callable[[tuple[str, JobRecord, str]], tuple]:
    """The key that orders (job id, record, display state) rows for a sort mode; ties keep the
    order the jobs were added in (`added(job_id)`)."""
    if mode == "state":
        return lambda row: (_STATE_RANK.get(row[2], 99), added(row[0]))
    if mode == "age":
        return lambda row: (row[1].added_at or 0.0, added(row[0]))
    if mode == "last change":
        return lambda row: (-(row[1].last_change or 0.0), added(row[0]))
    return lambda row: (added(row[0]),)
