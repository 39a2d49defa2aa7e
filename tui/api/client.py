"""The VCLM client: one long-lived httpx transport (a pool of kept-alive connections), every attempt
signed and throttled.

Requests go straight to the transport (httpx's public transport API), not through an
`httpx.AsyncClient`: the client's layers (URL and header merging, the auth and redirect flows, a
cookie jar fed every answer) are of no use to a signed POST to one endpoint, and cost about a
quarter of each request's CPU (tests/bench). What the client would add is done here: the default
headers, the timeouts, and the proxy from the environment (`environment_proxy`)."""

from __future__ import annotations

import asyncio
import json
import sys
import urllib.request
from collections import Counter
from typing import Any

import httpx

from tui.api.clock import SYSTEM_CLOCK, Clock
from tui.api.credentials import Credentials
from tui.api.decoding import ACCEPT_ENCODING, BodyDecodeError, BodyTooLarge, BoundedBody, content_encodings
from tui.api.endpoint import Endpoint, resolve_endpoint
from tui.api.errors import ApiError, TransportError, VclmError, excerpt, first_bytes, http_status_text
from tui.api.models import (
    API_VERSION,
    DESCRIBE_ACTION,
    SUBMIT_ACTION,
    JobStatus,
    SubmittedJob,
)
from tui.api.ratelimit import RateLimiter
from tui.api.retry import RetryPolicy
from tui.api.signing import signed_headers

MAX_RESPONSE_BYTES = 1 << 20  # an answer is a few hundred bytes; anything past this is garbage

try:
    import sniffio  # type: ignore[import-not-found, unused-ignore]  # noqa: F401
except ImportError:
    # httpcore runs `import sniffio` on every request to tell trio from asyncio; anyio no longer
    # installs it, and without it each attempt searches sys.path again: about 0.5 ms of CPU per
    # request, a third of the client's cost (tests/bench). Recording the absence makes the failed
    # import instant; the answer (asyncio) is the same.
    sys.modules.setdefault("sniffio", None)  # type: ignore[arg-type]


def environment_proxy(url: str) -> str | None:
    """The proxy the environment names for `url` (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, in either case,
    unless NO_PROXY covers the host), as httpx's client would pick it; None: connect directly."""
    target = httpx.URL(url)
    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get(target.scheme) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass_environment(target.host, proxies):  # type: ignore[attr-defined]
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


def parse_response(body: bytes, http_status: int, *, content_type: str = "", reason: str = "") -> dict[str, Any]:
    """The `Response` object of a service answer, or the right typed error.

    A non-200 status, a non-JSON body or a body without `Response` did not come from the
    service proper: transport errors, carrying what the server said (the status and its
    `reason` phrase, the `content_type`, an excerpt or the first bytes of the body).
    `{"Response": {"Error": ...}}` is an ApiError.
    """
    def fault(kind: str, message: str, body_excerpt: str) -> TransportError:
        return TransportError(kind, message, body_excerpt=body_excerpt, **_said(http_status, reason, content_type))

    if http_status != 200:
        raise fault("http_status", "the endpoint answered "
                    + http_status_text(http_status, reason or status_reason(http_status)), excerpt(body))
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise fault("not_json", "the answer is not JSON", first_bytes(body)) from None
    response = data.get("Response") if isinstance(data, dict) else None
    if not isinstance(response, dict):
        raise fault("no_response", "the answer has no Response object", excerpt(body))
    error = response.get("Error")
    if error is not None:
        request_id = response.get("RequestId")
        request_id = request_id if isinstance(request_id, str) else None
        if isinstance(error, dict):
            code, message = error.get("Code"), error.get("Message")
            return_code = code if isinstance(code, str) and code else "UnknownError"
            return_message = message if isinstance(message, str) else ""
        else:
            return_code, return_message = "UnknownError", excerpt(json.dumps(error, ensure_ascii=False))
        raise ApiError(return_code, return_message, request_id, http_status)
    return response


def status_reason(http_status: int) -> str:
    """The standard reason phrase of an HTTP status ("Bad Gateway"), "" for one not in the RFCs."""
    return httpx.codes.get_reason_phrase(http_status)


def _said(http_status: int, reason: str, content_type: str) -> dict[str, Any]:
    """A TransportError's keywords for what the server said: the status, its reason phrase (the
    standard one when the server's is not known) and the Content-Type (cut short, inert)."""
    return {"http_status": http_status, "reason": reason or status_reason(http_status),
            "content_type": excerpt(content_type, 80) if content_type else ""}


def _text(response: dict[str, Any], key: str) -> str:
    """A text field as sent; a value of another JSON type as its JSON text (never Python's repr)."""
    value = response.get(key)
    if value is None:
        return ""
    return value if isinstance(value, str) else _json_text(value)


def _json_text(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


_JSON_TYPES = ((bool, "a boolean"), (int, "a number"), (float, "a number"), (list, "a list"), (dict, "an object"))


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    return next((name for kind, name in _JSON_TYPES if isinstance(value, kind)), type(value).__name__)


def job_status_from_response(response: dict[str, Any], latency: float = 0.0, asked_id: str = "") -> JobStatus:
    """The state an answer gives, if it is one: a StatusCode that is a non-empty string, about
    the job asked (`asked_id`, when given; ids compare case-insensitively, as they are folded).
    Anything else is a TransportError that quotes what was sent, so it is never taken as a state."""
    if "StatusCode" not in response:
        raise TransportError("no_response", "the answer has no StatusCode",
                             body_excerpt=excerpt(_json_text(response)))
    status_code = response["StatusCode"]
    if not isinstance(status_code, str):
        raise TransportError("bad_field", f"StatusCode is {_json_type(status_code)}, not a string: "
                                          f"{excerpt(_json_text(status_code), 120)}")
    if not status_code:
        raise TransportError("no_response", "the answer's StatusCode is empty",
                             body_excerpt=excerpt(_json_text(response)))
    answered_id = response.get("JobId")
    if asked_id and (not isinstance(answered_id, str) or answered_id.lower() != asked_id.lower()):
        about = ("does not say which job it is about" if answered_id is None or answered_id == ""
                 else f"is about job {excerpt(_text(response, 'JobId'), 80)}")
        raise TransportError("wrong_job", f"the answer {about}; the job asked is {asked_id}")
    return JobStatus(
        job_id=_text(response, "JobId") or asked_id,
        status_code=status_code,
        status_msg=_text(response, "StatusMsg"),
        result_video_url=_text(response, "ResultVideoUrl"),
        request_id=_text(response, "RequestId"),
        latency=latency,
        raw=response,
    )


class VclmClient:
    """Async client for the two VCLM actions. Use as `async with VclmClient(...) as client`."""

    def __init__(
        self,
        credentials: Credentials,
        region: str,
        endpoint: Endpoint | str | None = None,
        *,
        limiter: RateLimiter | None = None,
        retry: RetryPolicy | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 10.0,
        attempt_deadline: float | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock = SYSTEM_CLOCK,
        language: str | None = None,
        max_connections: int = 64,
    ) -> None:
        self.credentials = credentials
        self.region = region
        self.endpoint = endpoint if isinstance(endpoint, Endpoint) else resolve_endpoint(endpoint, region)
        self.clock = clock
        self.limiter = limiter or RateLimiter(clock=clock)
        self.retry = retry or RetryPolicy()
        self.language = language
        self.requests_sent = 0
        self.requests_answered = 0  # attempts answered with a usable Response (the overview's "accepted")
        self.failed_attempts: Counter[str] = Counter()  # error code -> attempts that failed with it
        # one attempt, connect to the answer's last byte (see send_once)
        self.attempt_deadline = attempt_deadline if attempt_deadline is not None else connect_timeout + read_timeout
        self._timeouts = {"connect": connect_timeout, "read": read_timeout, "write": read_timeout, "pool": None}
        self._headers = {"Accept": "*/*", "Accept-Encoding": ACCEPT_ENCODING, "Connection": "keep-alive",
                         "User-Agent": "vclm-watch"}
        if transport is None:
            limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
            transport = httpx.AsyncHTTPTransport(limits=limits, proxy=environment_proxy(self.endpoint.url))
        self._transport = transport

    def __repr__(self) -> str:
        return f"VclmClient(endpoint={str(self.endpoint)!r}, region={self.region!r}, credentials={self.credentials!r})"

    async def __aenter__(self) -> VclmClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._transport.aclose()

    # -- one attempt ------------------------------------------------------------------------

    async def send_once(self, action: str, params: dict[str, Any], *,
                        granted_at: float | None = None) -> tuple[dict[str, Any], float]:
        """Sign and send one request (no throttling, no retry); (Response, latency seconds).

        `granted_at`: when the limiter let it through, if it did (see `RateLimiter.observe_round_trip`)."""
        body = json.dumps(params).encode("utf-8")  # the SDK's own serialisation
        creds = self.credentials
        headers = signed_headers(
            secret_id=creds.secret_id, secret_key=creds.secret_key, token=creds.token,
            action=action, region=self.region, host=self.endpoint.host, body=body,
            timestamp=int(self.clock.time()), version=API_VERSION, language=self.language,
        )
        started = self.clock.monotonic()
        self.requests_sent += 1
        progress = _Progress()
        try:
            # The whole attempt, connect to last byte, has one deadline: httpx's timeouts bound
            # each read, so a server trickling a byte at a time would never trip them.
            async with asyncio.timeout(self.attempt_deadline):
                status, raw, content_type, reason = await self._exchange(body, headers, progress)
        except TimeoutError:
            raise TransportError("timeout", f"no complete answer within {self.attempt_deadline:g} s "
                                            f"from {self.endpoint} ({progress.where()})") from None
        except httpx.TimeoutException as exc:
            raise TransportError("timeout", self._timed_out(exc, progress)) from None
        except httpx.ConnectError as exc:
            raise TransportError("connect", f"cannot connect to {self.endpoint}: {_reason(exc)}") from None
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            raise TransportError("reset", f"connection to {self.endpoint} dropped: {_reason(exc)}") from None
        except httpx.HTTPError as exc:
            raise TransportError("protocol", f"{type(exc).__name__} talking to {self.endpoint}: {_reason(exc)}") from None
        latency = self.clock.monotonic() - started
        # a late answer may mean a late arrival: the limiter moves this request's place in its window
        if granted_at is not None:
            self.limiter.observe_round_trip(granted_at, self.clock.monotonic() - granted_at, granted=True)
        else:
            self.limiter.observe_round_trip(started, latency)
        return parse_response(raw, status, content_type=content_type, reason=reason), latency

    def _timed_out(self, exc: httpx.TimeoutException, progress: _Progress) -> str:
        """Which phase of the attempt timed out, and after how long (httpx's timeout for it)."""
        if isinstance(exc, httpx.ConnectTimeout):
            return f"connect timed out after {self._timeouts['connect']:g} s: {self.endpoint} did not accept a connection"
        if isinstance(exc, httpx.ReadTimeout):
            return f"read timed out after {self._timeouts['read']:g} s: nothing more came from {self.endpoint} ({progress.where()})"
        if isinstance(exc, httpx.WriteTimeout):
            return f"write timed out after {self._timeouts['write']:g} s sending the request to {self.endpoint}"
        return f"{type(exc).__name__} talking to {self.endpoint}"

    async def _exchange(self, body: bytes, headers: dict[str, str],
                        progress: _Progress) -> tuple[int, bytes, str, str]:
        """Post and read the whole answer, decoded under MAX_RESPONSE_BYTES: (HTTP status, body,
        Content-Type, reason phrase). `progress` says how far it got (for a timeout's message)."""
        request = httpx.Request("POST", self.endpoint.url, content=body, headers={**self._headers, **headers},
                                extensions={"timeout": self._timeouts})
        resp = await self._transport.handle_async_request(request)
        resp.request = request
        progress.answered = True
        try:
            status = resp.status_code
            content_type = resp.headers.get("content-type", "")
            reason = "" if status == 200 else _reason_phrase(resp)
            try:
                if resp.is_stream_consumed:  # an in-process transport's answer, already whole (and decoded)
                    decoded = BoundedBody([], MAX_RESPONSE_BYTES)
                    decoded.feed(resp.content)
                else:
                    decoded = BoundedBody(content_encodings(resp.headers.get_list("content-encoding")), MAX_RESPONSE_BYTES)
                    async for chunk in resp.aiter_raw():  # raw: httpx would inflate each chunk unbounded
                        progress.body_bytes += len(chunk)
                        decoded.feed(chunk)
                return status, decoded.body(), content_type, reason
            except BodyTooLarge:
                raise TransportError("too_large", f"the answer is over {MAX_RESPONSE_BYTES} bytes (as sent or decoded)",
                                     **_said(status, reason, content_type)) from None
            except BodyDecodeError as exc:
                raise TransportError("encoding", str(exc), **_said(status, reason, content_type)) from None
        finally:
            await resp.aclose()  # the connection goes back to the pool (or is dropped, mid-answer)

    # -- with throttle and retries ----------------------------------------------------------

    async def call(self, action: str, params: dict[str, Any], *,
                   admitted: bool | float = False) -> tuple[dict[str, Any], float]:
        """One logical call: every attempt passes the limiter; retryable failures are retried.

        `admitted`: the caller already waited on `self.limiter` for the first attempt (the engine
        does, so that it picks the job to ask about once a slot is free, not before); a float is
        the time `acquire()` returned, which lets the limiter place a late request exactly.
        """
        attempt = 0
        while True:
            granted: float | None = None
            if not (admitted and attempt == 0):
                granted = await self.limiter.acquire()
            elif not isinstance(admitted, bool):
                granted = float(admitted)
            attempt += 1
            try:
                answer = await self.send_once(action, params, granted_at=granted)
                self.requests_answered += 1
                return answer
            except VclmError as error:
                self.failed_attempts[error.code] += 1
                if isinstance(error, ApiError) and error.rate_limited:
                    self.limiter.on_rate_limited()
                if not self.retry.should_retry(error, attempt):
                    raise
                await self.clock.sleep(self.retry.delay(attempt - 1))

    async def describe_job(self, job_id: str, *, admitted: bool | float = False) -> JobStatus:
        response, latency = await self.call(DESCRIBE_ACTION, {"JobId": job_id}, admitted=admitted)
        return job_status_from_response(response, latency, job_id)

    async def submit_job(self, style_id: str, video_url: str, style_strength: str | None = "medium") -> SubmittedJob:
        params: dict[str, Any] = {"StyleId": style_id, "VideoUrl": video_url}
        if style_strength is not None:
            params["StyleStrength"] = style_strength
        response, _ = await self.call(SUBMIT_ACTION, params)
        return SubmittedJob(job_id=_text(response, "JobId"), request_id=_text(response, "RequestId"))


class _Progress:
    """How far one attempt got: whether the answer's status line and headers came, and how many
    bytes of its body (as sent) since."""

    __slots__ = ("answered", "body_bytes")

    def __init__(self) -> None:
        self.answered = False
        self.body_bytes = 0

    def where(self) -> str:
        if not self.answered:
            return "no status line and headers yet"
        return f"the status line and headers came, then {self.body_bytes} bytes of the body"


def _reason_phrase(resp: httpx.Response) -> str:
    """The standard phrase of the answer's status; for a status the RFCs do not name, the
    server's own (inert, cut short)."""
    standard = status_reason(resp.status_code)
    if standard:
        return standard
    sent = resp.extensions.get("reason_phrase", b"")
    return excerpt(sent.decode("latin-1") if isinstance(sent, bytes) else str(sent), 60)


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return excerpt(text, 160)
