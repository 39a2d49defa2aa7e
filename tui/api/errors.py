"""The three ways a request can fail, each carrying what troubleshooting needs."""

from __future__ import annotations

# Error codes the engine treats specially; the hint for every code lives in tui.core.hints.
RATE_LIMIT_PREFIX = "RequestLimitExceeded"
TASK_NOT_EXIST = "FailedOperation.TaskNotExist"

RETRYABLE_API_CODES = frozenset(
    {
        "InternalError",
        "FailedOperation.InnerError",
        "ResourceInsufficient",
        "ServiceUnavailable",
    }
)

BODY_EXCERPT_CHARS = 200
FIRST_BYTES = 64  # of an answer that is not JSON (it may not be text at all)


def excerpt(body: bytes | str, limit: int = BODY_EXCERPT_CHARS) -> str:
    """A short, printable excerpt of a response body for an error message."""
    if isinstance(body, bytes):
        text = body[: limit * 4].decode("utf-8", errors="replace")
    else:
        text = body
    text = " ".join(text.split())
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def first_bytes(body: bytes, limit: int = FIRST_BYTES) -> str:
    """The first bytes of a body as inert text, one for one: printable characters as they are,
    every other character or byte (controls, bidi marks, bytes that are not UTF-8) escaped as
    Python writes it (\\n, \\x1f, \\u202e). What an answer that is not JSON starts with says what
    sent it (an HTML page, a gzip stream, a proxy's banner)."""
    text = body[:limit].decode("utf-8", errors="backslashreplace")
    text = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)
    return text + ("…" if len(body) > limit else "")


def with_what_was_said(message: str, content_type: str = "", body_excerpt: str = "") -> str:
    """A transport error's sentence with what the server said after it: `the endpoint answered
    HTTP 502 Bad Gateway (text/html): <!DOCTYPE html> …`."""
    if content_type:
        message += f" ({content_type})"
    if body_excerpt:
        message += f": {body_excerpt}"
    return message


def http_status_text(http_status: int, reason: str = "") -> str:
    """`HTTP 502 Bad Gateway`: the status and its reason phrase, as people read them."""
    return f"HTTP {http_status} {reason}".rstrip()


class VclmError(Exception):
    """Base of every error this package raises on purpose."""

    kind = "error"

    @property
    def code(self) -> str:
        return self.kind

    @property
    def retryable(self) -> bool:
        return False


class ConfigError(VclmError):
    """The program cannot even build a request: no credentials, bad endpoint, bad rate."""

    kind = "ConfigError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ApiError(VclmError):
    """The service answered with {"Response": {"Error": ...}}."""

    kind = "ApiError"

    def __init__(self, code: str, message: str, request_id: str | None, http_status: int = 200) -> None:
        super().__init__(f"{code}: {message}" + (f" (RequestId {request_id})" if request_id else ""))
        self._code = code
        self.message = message
        self.request_id = request_id
        self.http_status = http_status

    @property
    def code(self) -> str:
        return self._code

    @property
    def rate_limited(self) -> bool:
        return self._code.startswith(RATE_LIMIT_PREFIX)

    @property
    def retryable(self) -> bool:
        return self.rate_limited or self._code in RETRYABLE_API_CODES

    def __repr__(self) -> str:
        return f"ApiError(code={self._code!r}, message={self.message!r}, request_id={self.request_id!r})"


class TransportError(VclmError):
    """The answer did not come from the service proper: network, gateway or garbage."""

    # kinds: timeout, connect, reset, http_status, not_json, no_response, too_large, encoding,
    # wrong_job (an answer about another job), bad_field (a field of the wrong JSON type), protocol.
    # What the server said travels beside the sentence, so every view can show it (and --json
    # give it as fields): the status, its reason phrase, the Content-Type and an inert excerpt.
    def __init__(
        self,
        kind: str,
        message: str,
        *,
        http_status: int | None = None,
        body_excerpt: str = "",
        reason: str = "",
        content_type: str = "",
    ) -> None:
        super().__init__(with_what_was_said(message, content_type, body_excerpt))
        self.kind = kind
        self.message = message
        self.http_status = http_status
        self.body_excerpt = body_excerpt
        self.reason = reason
        self.content_type = content_type
        self.request_id = None

    @property
    def code(self) -> str:
        return f"Transport.{self.kind}"

    @property
    def retryable(self) -> bool:
        return True

    def __repr__(self) -> str:
        return (
            f"TransportError(kind={self.kind!r}, message={self.message!r}, "
            f"http_status={self.http_status!r}, reason={self.reason!r}, content_type={self.content_type!r}, "
            f"body_excerpt={self.body_excerpt!r})"
        )
