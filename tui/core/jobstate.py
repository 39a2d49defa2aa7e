"""What is known about one watched job: last answer, last error, history, poll statistics.

Shared by the engine (which updates it), the views (which show it) and the watchlist file
(which keeps it between runs). Plain data, no behaviour beyond derived properties.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from tui.api.errors import TransportError, VclmError, http_status_text, with_what_was_said
from tui.api.models import KNOWN_STATUS_CODES, RESULT_URL_VALIDITY_SECONDS, JobStatus, is_terminal
from tui.api.urls import result_url_problem

MAX_HISTORY = 50  # transitions kept per job, in memory and on disk: a job that flaps for days must not grow

# Display states beyond the API's status codes.
STATE_PENDING = "pending"  # never answered yet
STATE_UNKNOWN = "unknown"  # the API answered a StatusCode not in the table


class Transition(NamedTuple):
    # (a tuple: `Transition._make(row)` builds one from a database row in one C call, where a
    # frozen dataclass sets each field through object.__setattr__; a big watchlist loads 200,000)
    at: float  # wall time the change was observed
    from_code: str | None
    to_code: str


@dataclass(frozen=True, slots=True)
class LastError:
    code: str
    message: str
    request_id: str | None
    at: float
    # What the server said, when the answer did not come from the service proper (a gateway's
    # page, a body that is not JSON): its HTTP status and reason phrase, Content-Type, and an
    # excerpt of the body (inert: controls and bidi marks replaced or escaped).
    http_status: int | None = None
    reason: str = ""
    content_type: str = ""
    excerpt: str = ""

    @property
    def http_line(self) -> str:
        """`HTTP 502 Bad Gateway`, or "" when no HTTP status came with the error."""
        return "" if self.http_status is None else http_status_text(self.http_status, self.reason)

    @property
    def detail(self) -> str:
        """The message with what the server said after it: `the endpoint answered HTTP 502 Bad
        Gateway (text/html): <!DOCTYPE html> …` (the status is in the message where it matters)."""
        return with_what_was_said(self.message, self.content_type, self.excerpt)


def last_error_of(error: VclmError, at: float) -> LastError:
    """What is kept of a failed query: the error's code, message and RequestId, and for a
    transport error what the server said."""
    message = getattr(error, "message", None)
    message = str(error) if message is None else message
    request_id = getattr(error, "request_id", None)
    if isinstance(error, TransportError):
        return LastError(error.code, message, request_id, at, error.http_status, error.reason,
                         error.content_type, error.body_excerpt)
    return LastError(error.code, message, request_id, at)


@dataclass(slots=True)  # (a 100,000-job watchlist holds 100,000 of these: no __dict__ each)
class JobRecord:
    job_id: str
    label: str = ""
    added_at: float = 0.0
    status_code: str | None = None
    status_msg: str = ""
    result_video_url: str = ""
    url_received_at: float | None = None
    state_since: float | None = None
    last_change: float | None = None
    history: list[Transition] = field(default_factory=list)
    last_request_id: str | None = None
    last_error: LastError | None = None
    poll_count: int = 0
    last_polled: float | None = None  # wall time of the last answer (when its request was sent) or failure
    last_latency: float | None = None
    next_poll_at: float | None = None  # wall time; None when not scheduled
    last_response: dict[str, Any] | None = None
    stale: bool = False  # loaded from disk and not refreshed yet in this run
    saved_path: str = ""  # the result downloaded (downloads.py): where, its SHA-256 and size
    saved_sha256: str = ""
    saved_bytes: int = 0
    shared_from: str | None = None  # team mode: the member whose answer this is (None: fetched here)

    @property
    def terminal(self) -> bool:
        return is_terminal(self.status_code)

    @property
    def failing(self) -> bool:
        """The most recent query failed (the last known state is kept beside the error)."""
        return self.last_error is not None

    @property
    def known_state(self) -> str:
        if self.status_code is None:
            return STATE_PENDING
        return self.status_code if self.status_code in KNOWN_STATUS_CODES else STATE_UNKNOWN

    @property
    def url_problem(self) -> str | None:
        """Why the result URL is suspect (not to be offered as a link), or None (fine, or none)."""
        return result_url_problem(self.result_video_url) if self.result_video_url else None

    def url_seconds_left(self, now: float) -> float | None:
        if not self.result_video_url or self.url_received_at is None:
            return None
        return self.url_received_at + RESULT_URL_VALIDITY_SECONDS - now


def apply_answer(record: JobRecord, status: JobStatus, at: float) -> bool:
    """Record a successful answer on the job, as of `at` (wall time its request was sent): its state, message,
    URL, RequestId and latency; the last error is cleared. True when the answer changes the state
    (a transition is added to the history). The poll count, and who fetched it (`shared_from`),
    are the caller's."""
    previous = record.status_code
    record.last_polled = at
    record.last_latency = status.latency
    record.last_request_id = status.request_id or record.last_request_id
    record.last_response = dict(status.raw)
    record.last_error = None
    record.stale = False
    record.status_msg = status.status_msg
    if status.result_video_url and status.result_video_url != record.result_video_url:
        record.url_received_at = at
    record.result_video_url = status.result_video_url
    if status.status_code == previous:
        return False
    record.status_code = status.status_code
    record.state_since = at
    record.last_change = at
    record.history.append(Transition(at, previous, status.status_code))
    del record.history[:-MAX_HISTORY]
    return True
