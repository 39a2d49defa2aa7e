"""TC3-HMAC-SHA256 request signing (Tencent Cloud API 3.0), shared by client and simulator."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from tui.api.models import API_VERSION, SERVICE

ALGORITHM = "TC3-HMAC-SHA256"
SIGNED_HEADERS = "content-type;host"
CONTENT_TYPE = "application/json"
DEFAULT_LANGUAGE = "zh-CN"  # what the official SDK sends when none is chosen


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def utc_date(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d")


def canonical_request(host: str, body: bytes, content_type: str = CONTENT_TYPE) -> str:
    payload_hash = hashlib.sha256(body).hexdigest()
    canonical_headers = f"content-type:{content_type.strip().lower()}\nhost:{host.strip().lower()}\n"
    return "\n".join(["POST", "/", "", canonical_headers, SIGNED_HEADERS, payload_hash])


def signature(
    secret_key: str,
    host: str,
    body: bytes,
    timestamp: int,
    service: str = SERVICE,
    content_type: str = CONTENT_TYPE,
) -> str:
    date = utc_date(timestamp)
    scope = f"{date}/{service}/tc3_request"
    string_to_sign = "\n".join(
        [
            ALGORITHM,
            str(timestamp),
            scope,
            hashlib.sha256(canonical_request(host, body, content_type).encode("utf-8")).hexdigest(),
        ]
    )
    k_date = _hmac(("TC3" + secret_key).encode("utf-8"), date)
    k_service = _hmac(k_date, service)
    k_signing = _hmac(k_service, "tc3_request")
    return hmac.new(k_signing, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def authorization(
    secret_id: str,
    secret_key: str,
    host: str,
    body: bytes,
    timestamp: int,
    service: str = SERVICE,
) -> str:
    sig = signature(secret_key, host, body, timestamp, service)
    scope = f"{utc_date(timestamp)}/{service}/tc3_request"
    return f"{ALGORITHM} Credential={secret_id}/{scope}, SignedHeaders={SIGNED_HEADERS}, Signature={sig}"


def signed_headers(
    *,
    secret_id: str,
    secret_key: str,
    token: str | None,
    action: str,
    region: str | None,
    host: str,
    body: bytes,
    timestamp: int,
    version: str = API_VERSION,
    language: str | None = None,
) -> dict[str, str]:
    """Every header of a signed request, in the order the official SDK sends them."""
    headers = {
        "Content-Type": CONTENT_TYPE,
        "Host": host,
        "X-TC-Action": action,
        "X-TC-Timestamp": str(timestamp),
        "X-TC-Version": version,
    }
    if region:
        headers["X-TC-Region"] = region
    if token:
        headers["X-TC-Token"] = token
    headers["X-TC-Language"] = language or DEFAULT_LANGUAGE
    headers["Authorization"] = authorization(secret_id, secret_key, host, body, timestamp)
    return headers


_AUTH_RE = re.compile(
    r"^TC3-HMAC-SHA256 Credential=(?P<secret_id>[^/\s,]+)/(?P<date>\d{4}-\d{2}-\d{2})/(?P<service>[^/\s,]+)/tc3_request,"
    r"\s*SignedHeaders=(?P<signed_headers>[a-z0-9;\-]+),\s*Signature=(?P<signature>[0-9a-f]{64})$"
)


@dataclass(frozen=True, slots=True)
class ParsedAuthorization:
    secret_id: str
    date: str
    service: str
    signed_headers: str
    signature: str


def parse_authorization(value: str) -> ParsedAuthorization | None:
    """Split an Authorization header as a server would; None when it is malformed."""
    match = _AUTH_RE.match(value.strip())
    if not match:
        return None
    return ParsedAuthorization(**match.groupdict())
