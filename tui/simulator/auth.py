"""How the simulated service reads a request and checks its signature: TC3, or v1 for older clients.

`read_request` decides which signature a request carries (v1: no Authorization header, every field
in a form body or the query string); `authenticate` checks it in the service's order of checks and
names the SecretId, or raises `Refusal` with the service's error code.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from tui.api.models import SERVICE
from tui.api.signing import SIGNED_HEADERS, parse_authorization, signature, utc_date, verify_v1

MAX_CLOCK_SKEW_SECONDS = 300
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
SIGNATURE_FAILURE_MESSAGE = (
    "The provided credentials could not be validated. Please check your signature is correct."
)


FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
MAX_FORM_FIELDS = 1000


@dataclass(slots=True)
class Request:
    """One request as the service reads it: TC3 (headers and a JSON body) or signature v1 (every
    field in a form body or the query string, no Authorization header)."""

    method: str
    path: str  # without the query string
    headers: dict[str, str]
    body: bytes
    form: dict[str, str] | None = None  # v1: the fields, decoded; None: TC3
    form_error: str | None = None  # why the v1 fields could not be read

    @property
    def v1(self) -> bool:
        return self.form is not None

    def _value(self, field_name: str, header: str) -> str:
        if self.form is not None:
            return self.form.get(field_name, "")
        return self.headers.get(header, "")

    def name_of(self, field_name: str) -> str:
        """What the request calls a common parameter: `Version` in v1, `X-TC-Version` in TC3."""
        return field_name if self.form is not None else f"X-TC-{field_name}"

    @property
    def action(self) -> str:
        return self._value("Action", "x-tc-action")

    @property
    def version(self) -> str:
        return self._value("Version", "x-tc-version")

    @property
    def region(self) -> str:
        return self._value("Region", "x-tc-region")

    @property
    def language(self) -> str:
        return self._value("Language", "x-tc-language")

    def claimed_secret_id(self) -> str | None:
        """The SecretId the request says it comes from (before any check), for the arrival counts."""
        if self.form is not None:
            return self.form.get("SecretId") or None
        parsed = parse_authorization(self.headers.get("authorization", ""))
        return parsed.secret_id if parsed is not None else None


def read_request(method: str, target: str, headers: dict[str, str], body: bytes) -> Request:
    """Split the target and, for a request without an Authorization header that is a GET with a
    query string or a form-encoded POST, decode its signature v1 fields."""
    method = method.upper()
    path, _, query = target.partition("?")
    request = Request(method=method, path=path, headers=headers, body=body)
    if "authorization" in headers:
        return request
    raw: bytes | None = None
    if method == "GET" and query:
        raw = query.encode("latin-1", errors="replace")
    elif method == "POST" and headers.get("content-type", "").split(";")[0].strip().lower() == FORM_CONTENT_TYPE:
        raw = body
    if raw is None:
        return request
    request.form = {}
    try:
        pairs = parse_qsl(raw.decode("ascii"), keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS,
                          encoding="utf-8", errors="strict")
    except (UnicodeDecodeError, ValueError):
        request.form_error = "The parameters are not a valid form: URL-encoded UTF-8 name=value pairs expected."
        return request
    for name, value in pairs:
        if name in request.form:
            request.form_error = f"The parameter `{name[:40]}` is given more than once."
            return request
        request.form[name] = value
    return request


@dataclass(frozen=True, slots=True)
class Account:
    """One SecretId's key; with `tokens` it is temporary and every request must carry one of them."""

    secret_key: str = field(repr=False)
    tokens: frozenset[str] = field(default=frozenset(), repr=False)

    @property
    def temporary(self) -> bool:
        return bool(self.tokens)


class Refusal(Exception):
    """An error answer of the service proper."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code)
        self.code = code
        self.message = message


def _authenticate_tc3(accounts: Mapping[str, Account], headers: dict[str, str], body: bytes, server_time: int) -> str:
    parsed = parse_authorization(headers.get("authorization", ""))
    if parsed is None:
        raise Refusal(
            "AuthFailure.InvalidAuthorization",
            "The Authorization header is malformed; expected `TC3-HMAC-SHA256 Credential=<SecretId>/"
            "<date>/<service>/tc3_request, SignedHeaders=content-type;host, Signature=<hex>`.",
        )
    account = _account(accounts, parsed.secret_id)
    timestamp = _check_timestamp(headers.get("x-tc-timestamp", ""), "X-TC-Timestamp", server_time)
    payload = body
    if headers.get("x-tc-content-sha256") == UNSIGNED_PAYLOAD:
        payload = UNSIGNED_PAYLOAD.encode("ascii")
    # The signer rebuilds only what the official SDK signs: content-type;host for vclm.
    valid = parsed.service == SERVICE and parsed.signed_headers == SIGNED_HEADERS
    if valid:
        try:
            valid = parsed.date == utc_date(timestamp)
            expected = signature(account.secret_key, headers.get("host", ""), payload, timestamp,
                                 content_type=headers.get("content-type", ""))
        except (OverflowError, OSError, ValueError):  # a timestamp no date can hold
            valid, expected = False, ""
        valid = valid and hmac.compare_digest(expected, parsed.signature)
    if not valid:
        raise Refusal("AuthFailure.SignatureFailure", SIGNATURE_FAILURE_MESSAGE)
    _check_token(account, headers.get("x-tc-token", ""))
    return parsed.secret_id


def _authenticate_v1(accounts: Mapping[str, Account], request: Request, form: dict[str, str], server_time: int) -> str:
    """Signature v1: every parameter in the form (POST) or the query string (GET), signed with
    HMAC-SHA256 or HMAC-SHA1 over METHOD + Host + path + the sorted raw parameters.

    The same window of 5 minutes as TC3. A Nonce is required; a repeated one is not refused
    (the API's documentation asks for a random one, and says nothing of refusing replays).
    """
    if request.form_error is not None:
        raise Refusal("InvalidParameter", request.form_error)
    secret_id = form.get("SecretId", "")
    if not secret_id:
        raise Refusal("MissingParameter", "The request is missing a required parameter `SecretId`.")
    account = _account(accounts, secret_id)
    _check_timestamp(form.get("Timestamp", ""), "Timestamp", server_time)
    nonce = form.get("Nonce", "")
    if not nonce:
        raise Refusal("MissingParameter", "The request is missing a required parameter `Nonce`.")
    if not nonce.isascii() or not nonce.isdigit():
        raise Refusal("InvalidParameter", "Nonce must be a positive integer.")
    if not form.get("Signature"):
        raise Refusal("MissingParameter", "The request is missing a required parameter `Signature`.")
    if not verify_v1(form, account.secret_key, method=request.method, host=request.headers.get("host", ""),
                     path=request.path):
        raise Refusal("AuthFailure.SignatureFailure", SIGNATURE_FAILURE_MESSAGE)
    _check_token(account, form.get("Token", ""))
    return secret_id


def _account(accounts: Mapping[str, Account], secret_id: str) -> Account:
    account = accounts.get(secret_id)
    if account is None:
        raise Refusal("AuthFailure.SecretIdNotFound",
                      "The SecretId is not found, please ensure that your SecretId is correct.")
    return account


def _check_timestamp(raw_timestamp: str, name: str, server_time: int) -> int:
    if not raw_timestamp:
        raise Refusal("MissingParameter", f"The request is missing a required parameter `{name}`.")
    try:
        timestamp = int(raw_timestamp)
    except ValueError:
        raise Refusal("InvalidParameter", f"{name} must be a Unix time in seconds.") from None
    if abs(server_time - timestamp) > MAX_CLOCK_SKEW_SECONDS:
        raise Refusal(
            "AuthFailure.SignatureExpire",
            f"Signature expired. Timestamp: {timestamp}; server time: {server_time}. "
            f"They must be within {MAX_CLOCK_SKEW_SECONDS} seconds of each other.",
        )
    return timestamp


def _check_token(account: Account, token: str) -> None:
    if account.temporary and token not in account.tokens:
        raise Refusal("AuthFailure.TokenFailure", "The token is invalid or has expired.")


def authenticate(request: Request, accounts: Mapping[str, Account], server_time: int) -> str:
    """The SecretId a request is signed by, or the service's refusal."""
    if request.form is not None:
        return _authenticate_v1(accounts, request, request.form, server_time)
    return _authenticate_tc3(accounts, request.headers, request.body, server_time)
